#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# TOTP MFA with the secret in a directory attribute (readable only by cvpnd's service account): the exported
# client file carries static-challenge, the stock client sends SCRV1:<base64 password>:<base64 code>, codes are
# computed by oathtool (an independent RFC 6238 implementation). A right code connects, a wrong code or a
# wrong password with a right code is refused, a code used once is refused the second time, a code of the
# next 30-s step is accepted (±1 step), a user without a secret and a client without the challenge are
# refused with their reasons. The directory finds users by uid or by mail: a code used under one spelling
# is refused under the other, and the session is the directory's user (uid) whichever was typed.
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"
# shellcheck source=test/lib/ops.sh
. "$(dirname "$0")/../lib/ops.sh"
# shellcheck source=test/lib/ldap.sh
. "$(dirname "$0")/../lib/ldap.sh"

# The stock client with a static challenge: the username and password come from the file, the MFA code is
# typed at the prompt, which 2.6 shows on its terminal. script(1) gives it one (a pty) and types the code
# into it from a file, as a user would. NAME is the openvpn process itself (script's child), NAME-pty script.
mfa_client_start() { # NAME NS USER PASSWORD CODE
	local name=$1 ns=$2 pass i pid=""
	pass=$(userpass_file "$1" "$3" "$4")
	printf '%s\n' "$5" >"$TMPD/$name.code"
	: >"$TMPD/$name.log"
	[ "$BASH_SUBSHELL" = 0 ] || { echo "mfa_client_start: subshell" >&2; exit 1; }
	( exec ip netns exec "$ns" script -qfec "exec openvpn --config $TMPD/client.ovpn --auth-user-pass $pass \
		--log $TMPD/$name.log --verb 3" /dev/null ) <"$TMPD/$name.code" >"$TMPD/$name.out" 2>&1 &
	CVPN_PIDS[$name-pty]=$!
	for ((i = 0; i < 50; i++)); do
		pid=$(ps -o pid= --ppid "${CVPN_PIDS[$name-pty]}" | tr -d ' ') || true
		[ -n "$pid" ] && break
		sleep 0.05
	done
	[ -n "$pid" ] || fail "$name: openvpn did not start under script"
	CVPN_PIDS[$name]=$pid
}

# SIGTERM to openvpn (an explicit exit, as client_stop does), then script ends with it.
mfa_client_stop() { # NAME
	kill -TERM "${CVPN_PIDS[$1]}" 2>/dev/null || true
	unset "CVPN_PIDS[$1]"
	bg_wait_exit "$1-pty" 5 || fail "client $1 did not exit on SIGTERM"
}

topo_basic
ipv6_off "$NS_CLI"
res_addresses
pki_make "$TMPD/pki"
ldap_start
# a connect handler that records the username it is given, and allows
HANDLER="$TMPD/connect-handler"
printf '#!/bin/sh\njq -r .username >>"%s"\necho %s\n' "$TMPD/handler-usernames" "'{\"allow\": true}'" >"$HANDLER"
chmod 700 "$HANDLER"
CV_TOTP=attr CV_DIR_FILTER='(&(objectClass=inetOrgPerson)(|(uid=%u)(mail=%u)))' CV_USER_ATTR=uid \
	CV_HANDLER="$HANDLER" ldap_config "$TMPD/endpoint.yaml"
server_start "$TMPD/endpoint.yaml"
export_user_client "$TMPD/endpoint.yaml"
assert_log "$TMPD/client.ovpn" '^static-challenge "Enter MFA code " 1$' "client file carries the static challenge"

# --- right code, typed with her mail address
code=$(totp_code)
mfa_client_start alice "$NS_CLI" alice@cvpn.test "$PW_ALICE" "$code"
client_wait_up alice
expect_log "$SERVER_LOG" "login of alice@cvpn.test from .* accepted .*directory user alice,.*MFA code accepted" 3 \
	"right code: alice logged in with MFA, as the directory's user alice"
assert_eq "$(reachable "$NS_CLI")" "eng - all" "alice (eng) reaches her networks"
assert_no_log "$SERVER_LOG" "$code" "the code is not in the daemon's log"
assert_eq "$(ctl_json connections | jq -r '[.connections[] | select(.status == "active") | .username] | join(",")')" \
	alice "connections: the directory's name, not the spelling typed"
assert_eq "$(cat "$TMPD/handler-usernames")" alice "the connect handler was given the directory's name"
# terminate by that name, as directories compare names (without regard to case)
ctl terminate --username ALICE >"$TMPD/terminate.out" 2>&1 || fail "terminate --username ALICE: $(cat "$TMPD/terminate.out")"
expect_log "$(client_log alice)" "Halt command was pushed|HALT" 5 "terminate --username ALICE ended alice@cvpn.test's session"
mfa_client_stop alice

# --- the same code again, within its window, under her other spelling
mfa_client_start alice2 "$NS_CLI" alice "$PW_ALICE" "$code"
client_wait_refused alice2
assert_match "$REFUSAL" "AUTH_FAILED,this MFA code was already used" "reused code under another spelling: refused"
expect_log "$SERVER_LOG" "login of alice from .* failed .*already used.*replayed" 2 "reused code: logged"

# --- wrong code (the one of five minutes from now), right password
mfa_client_start alice3 "$NS_CLI" alice "$PW_ALICE" "$(totp_code 300)"
client_wait_refused alice3
assert_match "$REFUSAL" "AUTH_FAILED,invalid username, password or MFA code" "wrong code: refused"
expect_log "$SERVER_LOG" "login of alice from .* failed .*wrong TOTP code" 2 "wrong code: the log says which"

# --- right code (unused), wrong password
mfa_client_start alice4 "$NS_CLI" alice "wrong-$RANDOM" "$(totp_code 30)"
client_wait_refused alice4
# the same answer as a wrong code: a different one would tell a password guesser the password was right
assert_match "$REFUSAL" "AUTH_FAILED,invalid username, password or MFA code" "wrong password with a fresh code: the same answer"

# --- the next step's code is within the ±1 step window, and later than the one used: accepted
mfa_client_start alice5 "$NS_CLI" alice "$PW_ALICE" "$(totp_code 30)"
client_wait_up alice5 20
ok "next step's code accepted after the used one"
mfa_client_stop alice5

# --- bob has no TOTP secret
mfa_client_start bob "$NS_CLI" bob "$PW_BOB" 123456
client_wait_refused bob
assert_match "$REFUSAL" "AUTH_FAILED,invalid username, password or MFA code" "user without a secret: refused, the same answer"
expect_log "$SERVER_LOG" "login of bob from .* failed .*no TOTP secret" 2 "user without a secret: the log says why"

# --- a client file without the challenge (an old one: export adds it whenever TOTP is on): no code sent
"$CVPNCTL" export-client-config -c "$TMPD/endpoint.yaml" -o "$TMPD/client.ovpn" >/dev/null
sed -i '/^static-challenge /d' "$TMPD/client.ovpn"
user_client_start alice6 "$NS_CLI" alice "$PW_ALICE"
client_wait_refused alice6
assert_match "$REFUSAL" "AUTH_FAILED,this endpoint requires an MFA code" "no challenge answer: refused"

server_stop
summary
