#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Directory authentication against a real slapd (StartTLS, a service account that searches, memberOf groups):
# stock clients log in with a username and password and no certificate. alice (eng) reaches the eng network
# and not finance's, bob (finance) the reverse, carol (no group) only what all users may reach; a wrong
# password is refused with a reason and logged with who/where/why but never the password; repeated failures
# slow the next verdict down (backoff), per username and per source address; nested groups with nested-groups: true; the bind-DN template mode.
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"
# shellcheck source=test/lib/ops.sh
. "$(dirname "$0")/../lib/ops.sh"
# shellcheck source=test/lib/ldap.sh
. "$(dirname "$0")/../lib/ldap.sh"

topo_basic
topo_second_client
topo_third_client
ipv6_off "$NS_CLI" "$NS_CLI2" "$NS_CLI3"
res_addresses
pki_make "$TMPD/pki"
ldap_start
ldap_config "$TMPD/endpoint.yaml"
assert_match "$("$CVPND" --check -c "$TMPD/endpoint.yaml" 2>&1)" "configuration OK" "directory config validates"
server_start "$TMPD/endpoint.yaml"
export_user_client "$TMPD/endpoint.yaml"
assert_no_log "$TMPD/client.ovpn" "^<cert>|^<key>" "client file carries no certificate"
assert_log "$TMPD/client.ovpn" "^auth-user-pass$" "client file asks for a username and password"

# --- three users, three sets of groups
user_client_start alice "$NS_CLI" alice "$PW_ALICE"
user_client_start bob "$NS_CLI2" bob "$PW_BOB"
user_client_start carol "$NS_CLI3" carol "$PW_CAROL"
client_wait_up alice
client_wait_up bob
client_wait_up carol
expect_log "$SERVER_LOG" "login of alice from $(re_quote "$CLI_IP"):[0-9]+ accepted .*directory groups eng( |,|$)" 3 \
	"alice: logged in with her directory group eng"
expect_log "$SERVER_LOG" "login of bob from .* accepted .*directory groups finance( |,|$)" 3 \
	"bob: logged in with his directory group finance"
expect_log "$SERVER_LOG" "login of carol from .* accepted .*directory groups \(none\)" 3 "carol: logged in, no group"
assert_eq "$(reachable "$NS_CLI")" "eng - all" "alice reaches eng and all-users, not finance"
assert_eq "$(reachable "$NS_CLI2")" "- finance all" "bob reaches finance and all-users, not eng"
assert_eq "$(reachable "$NS_CLI3")" "- - all" "carol reaches only the all-users destination"

conns=$(ctl_json connections)
assert_eq "$(jq -r '[.connections[] | select(.status == "active") | .username] | sort | join(",")' <<<"$conns")" \
	"alice,bob,carol" "connections: the three usernames"
assert_eq "$(jq -r '[.connections[] | select(.status == "active") | .["common-name"]] | unique | join(",")' <<<"$conns")" \
	"NA" "connections: no certificate, no common name"
assert_eq "$(jq -r '[.connections[] | select(.status == "active") | "\(.username):\(.groups | join("+"))"] | sort | join(",")' \
	<<<"$conns")" "alice:eng,bob:finance,carol:" "connections: each user's directory groups"
a=$(connlog_select "$CONNLOG" '.["connection-log-type"] == "connection-attempt" and .username == "alice"')
assert_eq "$(jq -r '.["connection-attempt-status"]' <<<"$a")" successful "connection log: alice's attempt, by username"
# the policy's own explanation agrees with what the pings saw
rc=0
ctl explain --user alice --to "$RES_FIN" >"$TMPD/explain.out" 2>&1 || rc=$?
assert_eq "$rc" 1 "explain: alice's packets to finance are dropped"
rc=0
ctl explain --user alice --to "$RES_ENG" >"$TMPD/explain.out" 2>&1 || rc=$?
assert_eq "$rc" 0 "explain: alice's packets to eng pass"
client_stop bob
# terminate by the directory username (there is no certificate CN to match)
ctl terminate --username carol >"$TMPD/terminate.out" 2>&1 || fail "terminate --username carol: $(cat "$TMPD/terminate.out")"
expect_log "$(client_log carol)" "Halt command was pushed|HALT" 5 "terminate --username carol: the client was told to halt"
bg_stop carol >/dev/null 2>&1 || true

# --- a wrong password: refused with a reason, logged with who/where/why, never the password
WRONG="wrong-$RANDOM$RANDOM"
mark=$(log_mark "$SERVER_LOG")
user_client_start bob "$NS_CLI2" bob "$WRONG"
client_wait_refused bob
assert_match "$REFUSAL" "AUTH_FAILED,invalid username or password" "wrong password: client told why"
wait_for_log_since "$SERVER_LOG" "$mark" "login of bob from $(re_quote "$CLI2_IP"):[0-9]+ failed .*invalid username or password \(bind: Invalid credentials" 3 ||
	fail "wrong password: no log line with who, where and why"
ok "wrong password: server logged user, address and cause"
assert_no_log "$SERVER_LOG" "$WRONG" "wrong password: not in the daemon's log"
assert_no_log "$CONNLOG" "$WRONG" "wrong password: not in the connection log"
assert_no_log "$SERVER_LOG" "$PW_ALICE|$PW_BOB|$PW_CAROL" "no password of anyone in the daemon's log"
f=$(connlog_select "$CONNLOG" '.["connection-attempt-status"] == "failed" and .username == "bob"')
assert_match "$(jq -r '.["connection-attempt-failure-reason"]' <<<"$f")" "invalid username or password" \
	"connection log: failed attempt of bob with its reason"
# unknown users get the same answer (no user enumeration)
user_client_start nobody "$NS_CLI2" nosuchuser "whatever-$RANDOM"
client_wait_refused nobody
assert_match "$REFUSAL" "AUTH_FAILED,invalid username or password" "unknown user: the same answer"
# a filter injection is a username like any other
user_client_start inject "$NS_CLI2" '*)(uid=*' "$PW_ALICE"
client_wait_refused inject
assert_match "$REFUSAL" "AUTH_FAILED,invalid username or password" "filter injection in the username: refused"

# carol logs in from NS with her password and must wait: the logged delay (MS, with the log's counts
# WHY) and the time she really took, at least MS. WHAT names the check.
carol_delayed() { # NS MS WHY WHAT
	local mark t0 t
	mark=$(log_mark "$SERVER_LOG")
	t0=$(date +%s%N)
	user_client_start carol "$1" carol "$PW_CAROL"
	client_wait_up carol 20
	t=$(( ($(date +%s%N) - t0) / 1000000 ))
	wait_for_log_since "$SERVER_LOG" "$mark" "login of carol from .* answered in $2 ms at the earliest \($3" 1 ||
		fail "$4: no $2 ms delay logged"
	[ "$t" -ge "$2" ] || fail "$4: carol's login took $t ms, less than the $2 ms delay"
	ok "$4: carol's verdict came after $t ms (>= $2)"
	client_stop carol
}
# carol logs in from NS with her password and is not delayed.
carol_not_delayed() { # NS WHAT
	local mark
	mark=$(log_mark "$SERVER_LOG")
	user_client_start carol "$1" carol "$PW_CAROL"
	client_wait_up carol
	if tail -n "+$((mark + 1))" "$SERVER_LOG" | grep -q "login of carol .*at the earliest"; then
		fail "$2: carol was delayed"
	fi
	ok "$2"
	client_stop carol
}

# --- backoff: after failures the verdict for that user waits (1 s, 2 s, 4 s cap in this config)
user_client_start carol "$NS_CLI3" carol "bad-$RANDOM"
client_wait_refused carol
user_client_start carol "$NS_CLI3" carol "bad-$RANDOM"
client_wait_refused carol
carol_delayed "$NS_CLI3" 2000 "2 recent failed logins of the user" "backoff: after 2 failures"
carol_not_delayed "$NS_CLI3" "backoff: a successful login cleared carol's failures"

# --- backoff per source address: many usernames failing from one address slow down every login from it
# (failures of an address count a quarter as much as a user's, so a shared NAT address is not locked out by
# one user's typos). NS_CLI2 already failed three logins (bob, nosuchuser, the injection); five more under
# fresh usernames make 8: the next verdict from that address waits backoff(8 / 4) = 2 s, even for a user
# with no failure of its own; the same user from another address is not slowed.
for i in 1 2 3 4 5; do
	user_client_start "spray$i" "$NS_CLI2" "spray-user-$i" "bad-$RANDOM"
	client_wait_refused "spray$i" 20
	assert_match "$REFUSAL" "AUTH_FAILED,invalid username or password" "address backoff: spray-user-$i refused"
done
expect_log "$SERVER_LOG" "login of spray-user-5 from $(re_quote "$CLI2_IP"):[0-9]+ answered in 1000 ms at the earliest \(0 recent failed logins of the user, 7 from the address\)" 1 \
	"address backoff: the 8th failure from one address waited 1 s though its username was new"
carol_delayed "$NS_CLI2" 2000 "0 recent failed logins of the user, 8 from the address" \
	"address backoff: a correct login from the sprayed address"
carol_not_delayed "$NS_CLI3" "address backoff: the same user from another address is not slowed"

# --- nested groups and the bind-DN template: reload with both, alice gets all-staff through eng
client_stop alice
CV_NESTED=true CV_DIR_MODE=template ldap_config "$TMPD/endpoint.yaml"
sed -i 's|group: finance, description|group: all-staff, description|' "$TMPD/endpoint.yaml"
assert_cmd "reload with nested groups and a bind-DN template" ctl reload
user_client_start alice "$NS_CLI" alice "$PW_ALICE"
client_wait_up alice
expect_log "$SERVER_LOG" "login of alice from .* accepted .*directory groups (eng,all-staff|all-staff,eng)" 3 \
	"nested: alice is in eng and, through it, all-staff"
assert_eq "$(reachable "$NS_CLI")" "eng finance all" "nested: the all-staff rule lets alice reach the second network"
client_stop alice
# the directory's spelling: ALICE is the user alice (the session's username, which terminate and the connect
# handler see), and a renegotiation, where the client sends ALICE again, keeps her session
mark=$(log_mark "$SERVER_LOG")
user_client_start alice "$NS_CLI" ALICE "$PW_ALICE" --reneg-sec 3
client_wait_up alice
wait_for_log_since "$SERVER_LOG" "$mark" "login of ALICE from .* accepted .*, directory user alice," 3 ||
	fail "ALICE: not logged in as the directory's alice"
ok "ALICE logged in as the directory's user alice"
assert_eq "$(ctl_json connections | jq -r '[.connections[] | select(.status == "active") | .username] | join(",")')" \
	alice "connections: ALICE shows as alice"
wait_for_log_since "$SERVER_LOG" "$mark" "renegotiated key-id 1( |\$)" 10 || fail "ALICE: no renegotiation within 10 s"
assert_eq "$(reachable "$NS_CLI")" "eng finance all" "ALICE: still reaches her networks after a renegotiation"
assert_no_log "$SERVER_LOG" "user identity changed" "ALICE: the renegotiation was not refused"
client_stop alice
user_client_start bob "$NS_CLI2" bob "$WRONG"
client_wait_refused bob
assert_match "$REFUSAL" "AUTH_FAILED,invalid username or password" "template bind: a wrong password is refused"

# --- a login in progress counts as a failure of the user until its verdict: after one failure, three wrong
# passwords for sloane at once (from two addresses) wait 1, 2 and 4 s, not 1 s each (all answered after the
# delay of the failures before them, which let a burst of guesses through in one delay period)
user_client_start sl0 "$NS_CLI3" sloane "bad-$RANDOM"
client_wait_refused sl0
user_client_start sl1 "$NS_CLI" sloane "bad-$RANDOM"
user_client_start sl2 "$NS_CLI3" sloane "bad-$RANDOM"
user_client_start sl3 "$NS_CLI" sloane "bad-$RANDOM"
for c in sl1 sl2 sl3; do
	client_wait_refused "$c" 20
	assert_match "$REFUSAL" "AUTH_FAILED,invalid username or password" "burst: $c refused"
done
assert_log "$SERVER_LOG" "login of sloane from .* answered in 1000 ms at the earliest \(1 recent failed logins of the user" \
	"burst: the first verdict waited 1 s"
assert_log "$SERVER_LOG" "login of sloane from .* answered in 2000 ms at the earliest \(2 recent failed logins of the user" \
	"burst: the second verdict waited 2 s"
assert_log "$SERVER_LOG" "login of sloane from .* answered in 4000 ms at the earliest \(3 recent failed logins of the user" \
	"burst: the third verdict waited 4 s"
mark=$(log_mark "$SERVER_LOG")
user_client_start sloane "$NS_CLI3" sloane "$PW_SLOANE"
client_wait_up sloane 20
wait_for_log_since "$SERVER_LOG" "$mark" "login of sloane from .* answered in 4000 ms at the earliest \(4 recent failed" 1 ||
	fail "burst: sloane's own login was not delayed by the four failures"
ok "burst: all four failures counted; sloane's right password still logs her in"
client_stop sloane

server_stop
summary
