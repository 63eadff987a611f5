# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
#
# A real OpenLDAP slapd for the directory-authentication tests, on top of netns.sh and pki.sh. Everything lives
# in $TMPD/ldap (config, database, TLS files): nothing under /etc or /var is read but the stock schema files,
# nothing is written there. slapd listens on loopback inside the gateway namespace (ldap://127.0.0.1:$LDAP_PORT,
# StartTLS with a certificate from the test CA) and on ldapi:// in the run directory, and is stopped by pid.
#
#   ldap_start            configure, start, and load the people and groups below
#   ldap_passwd USER PW   change a password (as the admin)
#   totp_code [OFFSET]    the TOTP code of $TOTP_SECRET now + OFFSET seconds (oathtool, independent of cvpn)
#
# The directory (base $LDAP_BASE):
#   uid=alice    eng            password $PW_ALICE, TOTP secret $TOTP_SECRET, mail alice@cvpn.test
#   uid=bob      finance        password $PW_BOB
#   uid=carol    (no group)     password $PW_CAROL
#   uid=sloane   eng            password $PW_SLOANE (the slow-directory tests delay her binds)
#   uid=lee, eve, ezra (no group), each under a password policy (ppolicy overlay; nobody else has one):
#                lee: locked after 3 failed binds, must change a password an admin set ($PW_LEE);
#                eve: expires in a day, warned from the start ($PW_EVE); ezra: expired after 1 s ($PW_EZRA)
#   cn=eng, cn=finance: groupOfNames; cn=all-staff has both groups as members (nested)
#   cn=cvpn-svc,ou=services: the service account cvpnd searches with (password in $LDAP_SVC_PW_FILE)
# memberOf is kept by slapd's memberof overlay, as Active Directory keeps it.

command -v slapd >/dev/null || { echo "these tests need slapd: apt-get install slapd ldap-utils" >&2; exit 1; }
command -v oathtool >/dev/null || { echo "these tests need oathtool: apt-get install oathtool" >&2; exit 1; }

LDAP_DIR="$TMPD/ldap"
LDAP_PORT=3389
LDAP_BASE="dc=cvpn,dc=test"
LDAP_ADMIN="cn=admin,$LDAP_BASE"
LDAP_ADMIN_PW="admin-$RANDOM$RANDOM"
LDAP_URI="ldap://127.0.0.1:$LDAP_PORT"
LDAP_SVC_DN="cn=cvpn-svc,ou=services,$LDAP_BASE"
LDAP_SVC_PW_FILE="$LDAP_DIR/svc.pw"
PW_ALICE="alice-pw-$RANDOM$RANDOM"
PW_BOB="bob-pw-$RANDOM$RANDOM"
PW_CAROL="carol-pw-$RANDOM$RANDOM"
PW_SLOANE="sloane-pw-$RANDOM$RANDOM"
PW_LEE="lee-pw-$RANDOM$RANDOM"
PW_EVE="eve-pw-$RANDOM$RANDOM"
PW_EZRA="ezra-pw-$RANDOM$RANDOM"
# 20 random bytes in base32, as an authenticator app would be given them
TOTP_SECRET=$(head -c 20 /dev/urandom | base32 | tr -d '=\n')

# ldapi:// takes the socket path URL-encoded
ldap_ldapi() { printf 'ldapi://%s' "$(printf '%s' "$LDAP_DIR/ldapi" | sed 's|/|%2F|g')"; }

ldap_admin() { # ldapadd|ldapmodify|ldapsearch args...
	local cmd=$1
	shift
	n_exec "$NS_GW" "$cmd" -x -H "$(ldap_ldapi)" -D "$LDAP_ADMIN" -w "$LDAP_ADMIN_PW" "$@"
}

ldap_start() {
	local conf="$LDAP_DIR/slapd.conf" svc_pw i
	mkdir -p "$LDAP_DIR/db"
	chmod 700 "$LDAP_DIR"
	# slapd's own certificate for StartTLS, from the test CA: cvpnd checks it against $PKI/ca.crt
	# with a subjectAltName for the address cvpnd connects to (libldap checks it)
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
		-keyout "$PKI/ldap-server.key" -out "$LDAP_DIR/ldap.csr" 2>/dev/null
	chmod 600 "$PKI/ldap-server.key"
	printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$LDAP_DIR/ldap.ext"
	openssl x509 -req -in "$LDAP_DIR/ldap.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial \
		-days 2 -sha256 -extfile "$LDAP_DIR/ldap.ext" -out "$PKI/ldap-server.crt" 2>/dev/null
	cat >"$conf" <<-EOF
	include /etc/ldap/schema/core.schema
	include /etc/ldap/schema/cosine.schema
	include /etc/ldap/schema/inetorgperson.schema
	# the TOTP secret: an attribute of our own, under the documentation enterprise number (RFC 5612)
	attributetype ( 1.3.6.1.4.1.32473.1.1.1 NAME 'cvpnTotpSecret' EQUALITY caseExactMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )
	objectclass ( 1.3.6.1.4.1.32473.1.2.1 NAME 'cvpnMfaUser' SUP top AUXILIARY MAY cvpnTotpSecret )
	modulepath /usr/lib/ldap
	moduleload back_mdb
	moduleload memberof
	moduleload ppolicy
	pidfile $LDAP_DIR/slapd.pid
	argsfile $LDAP_DIR/slapd.args
	TLSCACertificateFile $PKI/ca.crt
	TLSCertificateFile $PKI/ldap-server.crt
	TLSCertificateKeyFile $PKI/ldap-server.key
	database mdb
	maxsize 67108864
	suffix "$LDAP_BASE"
	rootdn "$LDAP_ADMIN"
	rootpw $LDAP_ADMIN_PW
	directory $LDAP_DIR/db
	overlay memberof
	memberof-refint TRUE
	# password policies (draft-behera): only entries naming one in pwdPolicySubentry have one (no default);
	# a bind to a locked account answers the policy control with accountLocked
	overlay ppolicy
	ppolicy_use_lockout
	# the TOTP secret: the service account and its owner only; passwords: bind only
	access to attrs=cvpnTotpSecret by dn.exact="$LDAP_SVC_DN" read by self read by * none
	access to attrs=userPassword by anonymous auth by self write by * none
	access to * by * read
	EOF
	bg_start slapd n_exec "$NS_GW" slapd -f "$conf" -h "$LDAP_URI/ $(ldap_ldapi)" -d 0
	for ((i = 0; i < 50; i++)); do
		[ -S "$LDAP_DIR/ldapi" ] && ldap_admin ldapsearch -b "" -s base >/dev/null 2>&1 && break
		bg_alive slapd || fail "slapd exited during start-up: $(tail -n 5 "$TMPD/slapd.out")"
		sleep 0.1
	done
	[ "$i" -lt 50 ] || fail "slapd did not answer within 5 s"
	svc_pw="svc-$RANDOM$RANDOM"
	printf '%s\n' "$svc_pw" >"$LDAP_SVC_PW_FILE"
	chmod 600 "$LDAP_SVC_PW_FILE"
	ldap_admin ldapadd >"$LDAP_DIR/add.log" 2>&1 <<-EOF || fail "ldapadd failed: $(tail -n 3 "$LDAP_DIR/add.log")"
	dn: $LDAP_BASE
	objectClass: dcObject
	objectClass: organization
	o: cvpn test
	dc: cvpn

	dn: ou=people,$LDAP_BASE
	objectClass: organizationalUnit
	ou: people

	dn: ou=groups,$LDAP_BASE
	objectClass: organizationalUnit
	ou: groups

	dn: ou=services,$LDAP_BASE
	objectClass: organizationalUnit
	ou: services

	dn: $LDAP_SVC_DN
	objectClass: person
	cn: cvpn-svc
	sn: service
	userPassword: $svc_pw

	dn: uid=alice,ou=people,$LDAP_BASE
	objectClass: inetOrgPerson
	objectClass: cvpnMfaUser
	uid: alice
	cn: Alice
	sn: Engineer
	mail: alice@cvpn.test
	userPassword: $PW_ALICE
	cvpnTotpSecret: $TOTP_SECRET

	dn: uid=bob,ou=people,$LDAP_BASE
	objectClass: inetOrgPerson
	uid: bob
	cn: Bob
	sn: Finance
	userPassword: $PW_BOB

	dn: uid=carol,ou=people,$LDAP_BASE
	objectClass: inetOrgPerson
	uid: carol
	cn: Carol
	sn: Nogroup
	userPassword: $PW_CAROL

	dn: uid=sloane,ou=people,$LDAP_BASE
	objectClass: inetOrgPerson
	uid: sloane
	cn: Sloane
	sn: Slow
	userPassword: $PW_SLOANE

	dn: ou=policies,$LDAP_BASE
	objectClass: organizationalUnit
	ou: policies

	dn: cn=lockout,ou=policies,$LDAP_BASE
	objectClass: organizationalRole
	objectClass: pwdPolicy
	cn: lockout
	pwdAttribute: userPassword
	pwdLockout: TRUE
	pwdMaxFailure: 3
	pwdMustChange: TRUE

	dn: cn=expiring,ou=policies,$LDAP_BASE
	objectClass: organizationalRole
	objectClass: pwdPolicy
	cn: expiring
	pwdAttribute: userPassword
	pwdMaxAge: 86400
	pwdExpireWarning: 172800

	dn: cn=expired,ou=policies,$LDAP_BASE
	objectClass: organizationalRole
	objectClass: pwdPolicy
	cn: expired
	pwdAttribute: userPassword
	pwdMaxAge: 1

	dn: uid=lee,ou=people,$LDAP_BASE
	objectClass: inetOrgPerson
	uid: lee
	cn: Lee
	sn: Lockout
	userPassword: $PW_LEE
	pwdPolicySubentry: cn=lockout,ou=policies,$LDAP_BASE

	dn: uid=eve,ou=people,$LDAP_BASE
	objectClass: inetOrgPerson
	uid: eve
	cn: Eve
	sn: Expiring
	userPassword: $PW_EVE
	pwdPolicySubentry: cn=expiring,ou=policies,$LDAP_BASE

	dn: uid=ezra,ou=people,$LDAP_BASE
	objectClass: inetOrgPerson
	uid: ezra
	cn: Ezra
	sn: Expired
	userPassword: $PW_EZRA
	pwdPolicySubentry: cn=expired,ou=policies,$LDAP_BASE

	dn: cn=eng,ou=groups,$LDAP_BASE
	objectClass: groupOfNames
	cn: eng
	member: uid=alice,ou=people,$LDAP_BASE
	member: uid=sloane,ou=people,$LDAP_BASE

	dn: cn=finance,ou=groups,$LDAP_BASE
	objectClass: groupOfNames
	cn: finance
	member: uid=bob,ou=people,$LDAP_BASE

	dn: cn=all-staff,ou=groups,$LDAP_BASE
	objectClass: groupOfNames
	cn: all-staff
	member: cn=eng,ou=groups,$LDAP_BASE
	member: cn=finance,ou=groups,$LDAP_BASE
	EOF
	# the overlay did its job: alice's entry carries memberOf eng (what cvpnd reads)
	ldap_admin ldapsearch -LLL -b "uid=alice,ou=people,$LDAP_BASE" -s base memberOf 2>/dev/null |
		grep -qi "^memberOf: cn=eng,ou=groups,$LDAP_BASE" || fail "ldap: memberOf not maintained by slapd"
	ok "slapd started with users alice, bob, carol, sloane, lee, eve, ezra and groups eng, finance, all-staff"
}

ldap_passwd() { # USER PW
	ldap_admin ldapmodify >/dev/null <<-EOF
	dn: uid=$1,ou=people,$LDAP_BASE
	changetype: modify
	replace: userPassword
	userPassword: $2
	EOF
}

totp_code() { # [OFFSET seconds]
	oathtool --totp -b -N "@$(( $(date +%s) + ${1:-0} ))" "$TOTP_SECRET"
}

# The `authentication:` lines for write_endpoint_config's endpoint section (ops_config takes them as extra
# lines, two spaces deeper). Knobs: CV_AUTH_CERT (false), CV_DIR_MODE (search|template), CV_DIR_FILTER (the
# search filter), CV_USER_ATTR (username-attribute), CV_TOTP (empty|attr),
# CV_HANDLER (path), CV_HANDLER_TIMEOUT, CV_NESTED (false), CV_LDAP_URI ($LDAP_URI), CV_STARTTLS (true).
auth_lines() {
	local uri=${CV_LDAP_URI:-$LDAP_URI}
	AUTH_LINES=("authentication:"
		"  certificate: ${CV_AUTH_CERT:-false}"
		"  directory:"
		"    uri: $uri"
		"    base-dn: $LDAP_BASE"
		"    starttls: ${CV_STARTTLS:-true}"
		"    ca: $PKI/ca.crt"
		"    group-attribute: memberOf"
		"    group-name: cn"
		"    nested-groups: ${CV_NESTED:-false}"
		"    timeout: 10s")
	if [ "${CV_DIR_MODE:-search}" = template ]; then
		AUTH_LINES+=("    bind-dn-template: uid=%u,ou=people,$LDAP_BASE")
	else
		AUTH_LINES+=("    search-filter: ${CV_DIR_FILTER:-(&(objectClass=inetOrgPerson)(uid=%u))}"
			"    service-bind-dn: $LDAP_SVC_DN"
			"    service-password-file: $LDAP_SVC_PW_FILE")
	fi
	[ -n "${CV_USER_ATTR:-}" ] && AUTH_LINES+=("    username-attribute: $CV_USER_ATTR")
	[ "${CV_TOTP:-}" = attr ] &&
		AUTH_LINES+=("  mfa: { totp: { secrets: { directory-attribute: cvpnTotpSecret } } }")
	[ -n "${CV_HANDLER:-}" ] &&
		AUTH_LINES+=("  connect-handler: { path: $CV_HANDLER, timeout: ${CV_HANDLER_TIMEOUT:-30s} }")
	AUTH_LINES+=("  failed-login-backoff: { initial: ${CV_BACKOFF_INITIAL:-1s}, max: ${CV_BACKOFF_MAX:-4s} }")
}

# Writes the auth-user-pass file NAME.pass (mode 600) for the stock client.
userpass_file() { # NAME USER PASSWORD
	printf '%s\n%s\n' "$2" "$3" >"$TMPD/$1.pass"
	chmod 600 "$TMPD/$1.pass"
	echo "$TMPD/$1.pass"
}

# The stock client with a username and password (no certificate), as a directory user runs it.
# Extra arguments are openvpn options. Its log is $TMPD/NAME.log.
user_client_start() { # NAME NS USER PASSWORD [openvpn options...]
	local name=$1 ns=$2 pass
	pass=$(userpass_file "$1" "$3" "$4")
	shift 4
	: >"$TMPD/$name.log"
	bg_start "$name" n_exec "$ns" openvpn --config "$TMPD/client.ovpn" --auth-user-pass "$pass" \
		--log "$TMPD/$name.log" --verb 3 ${CV_CLIENT_OPTS:-} "$@"
}

# Waits until client NAME is refused; fails if it connects. Sets REFUSAL to the AUTH_FAILED line.
client_wait_refused() { # NAME [TIMEOUT]
	local name=$1 t=${2:-15} f
	f=$(client_log "$name")
	wait_for_log "$f" 'AUTH_FAILED|Initialization Sequence Completed' "$t" ||
		fail "client $name got no verdict within $t s"
	grep -q 'Initialization Sequence Completed' "$f" && fail "client $name connected but should have been refused"
	REFUSAL=$(grep -m1 -o 'AUTH_FAILED.*' "$f")
	bg_stop "$name" || true
}

# The directory tests' destinations, all on the resource host behind association subnet-a: one per group and
# one for everyone. Authorization rules name the groups as the directory does (cn of the group).
RES_ENG=198.18.1.10       # = RES_IP
RES_FIN=198.18.1.20
RES_ALL=198.18.1.40

res_addresses() {
	ip -n "$NS_RES" addr add "$RES_FIN/24" dev eth0
	ip -n "$NS_RES" addr add "$RES_ALL/24" dev eth0
}

# ops_config with the authentication section (auth_lines) and these authorization rules.
ldap_config() { # FILE [extra endpoint lines...]
	local f=$1
	shift
	auth_lines
	ops_config "$f" "${AUTH_LINES[@]}" "$@"
	sed -i '/^authorization-rules:/,$d' "$f"
	cat >>"$f" <<-EOF
	authorization-rules:
	  - { destination: 198.18.1.0/28, group: eng, description: "eng network ($RES_ENG)" }
	  - { destination: 198.18.1.16/28, group: finance, description: "finance network ($RES_FIN)" }
	  - { destination: 198.18.1.32/28, all-users: true, description: "everyone ($RES_ALL)" }
	EOF
}

# Exports the client file for directory users. No flags: the endpoint's config alone must make the file ask
# for a username and password, and for an MFA code when TOTP is on. CHALLENGE overrides the prompt.
export_user_client() { # CONFIG [CHALLENGE]
	local args=()
	[ -n "${2:-}" ] && args+=(--static-challenge "$2")
	"$CVPNCTL" export-client-config -c "$1" "${args[@]}" -o "$TMPD/client.ovpn" >"$TMPD/cvpnctl.out" 2>&1 ||
		fail "cvpnctl export-client-config failed: $(tail -n 5 "$TMPD/cvpnctl.out")"
	ok "client configuration exported (auth-user-pass${2:+, static-challenge})"
}

# From NS: which of the three destinations answer a ping, as "eng finance all" with '-' for no answer.
reachable() { # NS
	local ns=$1 out="" d
	for d in "$RES_ENG:eng" "$RES_FIN:finance" "$RES_ALL:all"; do
		if n_exec "$ns" ping -q -c 1 -W 1 "${d%%:*}" >/dev/null 2>&1 ||
			n_exec "$ns" ping -q -c 1 -W 1 "${d%%:*}" >/dev/null 2>&1; then
			out+="${d#*:} "
		else
			out+="- "
		fi
	done
	echo "${out% }"
}
