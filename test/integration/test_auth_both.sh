#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Certificate plus directory, each required: a good certificate with the right password connects; a good
# certificate with a wrong password, a certificate from another CA with the right password, a revoked
# certificate with the right password, and no certificate at all are each refused with their own reason.
# Also: LDAP over StartTLS checks the directory's certificate (a wrong CA makes the directory "unavailable").
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"
# shellcheck source=test/lib/ops.sh
. "$(dirname "$0")/../lib/ops.sh"
# shellcheck source=test/lib/ldap.sh
. "$(dirname "$0")/../lib/ldap.sh"
# shellcheck source=test/lib/crl.sh
. "$(dirname "$0")/../lib/crl.sh"

topo_basic
ipv6_off "$NS_CLI"
res_addresses
pki_make "$TMPD/pki"
pki_leaf "$PKI" ca eve eve clientAuth
crl_setup
crl_revoke eve
crl_gen "$TMPD/crl.pem"
ldap_start
CV_AUTH_CERT=true ldap_config "$TMPD/endpoint.yaml" "crl: $TMPD/crl.pem"
server_start "$TMPD/endpoint.yaml"
export_user_client "$TMPD/endpoint.yaml"

# both halves: certificate CERT and directory user USER with password PW
both_start() { # NAME CERT USER PW
	client_start "$1" "$NS_CLI" "$2" --auth-user-pass "$(userpass_file "$1" "$3" "$4")"
}

both_start ok alice alice "$PW_ALICE"
client_wait_up ok
expect_log "$SERVER_LOG" "session [0-9]+ alice from .* established address .* user alice" 2 \
	"certificate alice + password of alice: connected, identified by both"
assert_eq "$(reachable "$NS_CLI")" "eng - all" "the directory's groups apply (eng)"
conns=$(ctl_json connections)
assert_eq "$(jq -r '.connections[] | select(.status == "active") | .["common-name"] + "/" + .username' <<<"$conns")" \
	"alice/alice" "connections: common name and username"
client_stop ok

both_start badpw alice alice "wrong-$RANDOM"
client_wait_refused badpw
assert_match "$REFUSAL" "AUTH_FAILED,invalid username or password" "good certificate, wrong password: refused"

mark=$(log_mark "$SERVER_LOG")
both_start otherca mallory-otherca alice "$PW_ALICE"
client_wait_refused otherca
assert_match "$REFUSAL" "AUTH_FAILED,not signed by the endpoint's client CA" "certificate of another CA, right password: refused"
if tail -n "+$((mark + 1))" "$SERVER_LOG" | grep -q "login of alice"; then
	fail "a refused certificate still went to the directory"
fi
ok "a refused certificate never reaches the directory"

both_start revoked eve alice "$PW_ALICE"
client_wait_refused revoked
assert_match "$REFUSAL" "AUTH_FAILED,certificate is revoked" "revoked certificate, right password: refused"

user_client_start nocert "$NS_CLI" alice "$PW_ALICE"
if wait_for_log "$(client_log nocert)" "Initialization Sequence Completed" 5; then
	fail "a client without a certificate connected to an endpoint that requires one"
fi
ok "no certificate, right password: not connected"
bg_stop nocert || true

# StartTLS verifies the directory: with the wrong CA it is unavailable, and that is not the user's fault
sed -i "s|    ca: $PKI/ca.crt|    ca: $PKI/other-ca.crt|" "$TMPD/endpoint.yaml"
assert_cmd "reload with the wrong CA for the directory" ctl reload
both_start tlsbad alice alice "$PW_ALICE"
client_wait_refused tlsbad
assert_match "$REFUSAL" "AUTH_FAILED,the directory is unavailable" "directory certificate not trusted: refused as unavailable"
expect_log "$SERVER_LOG" "login of alice .* failed .*StartTLS" 2 "the log names the StartTLS failure"

server_stop
summary
