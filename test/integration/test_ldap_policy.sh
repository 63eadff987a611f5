#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The directory's password policy (OpenLDAP's ppolicy overlay, draft-behera), which cvpnd asks for on every
# user bind: an account the directory locked after failed binds, a password that has expired, and one that an
# administrator set and the user must change first are all refused, and the log says which (the client hears
# only "invalid username or password": telling it more would confirm a guessed password); a password about to
# expire is let in, and the log says when it expires. Both ways of finding the user: the service account's
# search, then the bind-DN template. Lockout itself is the directory's policy: cvpnd's backoff only slows
# guesses.
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
ipv6_off "$NS_CLI"
res_addresses
pki_make "$TMPD/pki"
ldap_start
ldap_config "$TMPD/endpoint.yaml"
server_start "$TMPD/endpoint.yaml"
export_user_client "$TMPD/endpoint.yaml"

# A bind as USER with PASSWORD straight to slapd, as any LDAP client could: 0 when it succeeds.
user_bind() { # USER PASSWORD
	n_exec "$NS_GW" ldapwhoami -x -H "$(ldap_ldapi)" -D "uid=$1,ou=people,$LDAP_BASE" -w "$2" >/dev/null 2>&1
}

# --- eve's password expires in a day: she is let in, and the log says when it expires
user_client_start eve "$NS_CLI" eve "$PW_EVE"
client_wait_up eve
expect_log "$SERVER_LOG" "login of eve from .* accepted .*, password expires in [0-9]+ s" 3 \
	"eve: logged in; the log gives the policy's expiry warning"
assert_eq "$(reachable "$NS_CLI")" "- - all" "eve (no group): reaches the all-users destination only"
client_stop eve

# --- ezra's password expired a second after it was set (slapd counts whole seconds: 2 s are sure)
sleep 2
user_client_start ezra "$NS_CLI" ezra "$PW_EZRA"
client_wait_refused ezra
assert_match "$REFUSAL" "invalid username or password" "ezra, expired: the client hears only the usual refusal"
expect_log "$SERVER_LOG" "login of ezra from .* failed .*the password has expired \(the directory's password policy\)" 3 \
	"ezra, expired: the log says the directory's policy expired the password"

# --- lee's password was set by an administrator: the policy wants it changed first
ldap_passwd lee "$PW_LEE-new"
user_bind lee "$PW_LEE-new" || fail "lee: slapd refused the new password itself"
user_client_start lee "$NS_CLI" lee "$PW_LEE-new"
client_wait_refused lee 20
assert_match "$REFUSAL" "invalid username or password" "lee, password reset by an admin: refused (it let him in before)"
expect_log "$SERVER_LOG" "login of lee from .* failed .*the password was reset and must be changed first" 3 \
	"lee, password reset: the log says the directory wants it changed (the bind itself succeeded)"

# --- three failed binds lock lee out (pwdMaxFailure 3): then even the right password is refused
for i in 1 2 3; do
	user_bind lee "wrong-$i" && fail "lee: a wrong password was accepted by slapd"
done
user_client_start lee2 "$NS_CLI" lee "$PW_LEE-new"
client_wait_refused lee2 20
assert_match "$REFUSAL" "invalid username or password" "lee, locked: the client hears only the usual refusal"
expect_log "$SERVER_LOG" "login of lee from .* failed .*the directory's password policy has locked the account" 3 \
	"lee, locked: the log says the directory locked the account"

# --- the same with the bind-DN template (bind as the user first, then read the entry with the user's rights)
CV_DIR_MODE=template ldap_config "$TMPD/template.yaml"
cp "$TMPD/template.yaml" "$TMPD/endpoint.yaml"
ctl reload >"$TMPD/reload.log" 2>&1 || fail "reload to the bind-DN template: $(cat "$TMPD/reload.log")"
ok "reloaded: the bind-DN template"
user_client_start eve2 "$NS_CLI" eve "$PW_EVE"
client_wait_up eve2
expect_log "$SERVER_LOG" "login of eve from .* accepted .*, password expires in [0-9]+ s" 3 \
	"template: eve logged in; the log gives the expiry warning"
client_stop eve2
n=$(grep -c "login of ezra from .* failed" "$SERVER_LOG")
user_client_start ezra3 "$NS_CLI" ezra "$PW_EZRA"
client_wait_refused ezra3 20
assert_eq "$(grep "login of ezra from .* failed" "$SERVER_LOG" | tail -n +"$((n + 1))" | grep -c "the password has expired")" 1 \
	"template: ezra, expired, refused and logged as expired"
n=$(grep -c "login of lee from .* failed" "$SERVER_LOG")
user_client_start lee3 "$NS_CLI" lee "$PW_LEE-new"
client_wait_refused lee3 20
assert_eq "$(grep "login of lee from .* failed" "$SERVER_LOG" | tail -n +"$((n + 1))" | grep -c "has locked the account")" 1 \
	"template: lee, locked, refused and logged as locked"
assert_no_log "$SERVER_LOG" "$PW_LEE|$PW_EZRA|$PW_EVE" "no password in the log"

server_stop
summary
