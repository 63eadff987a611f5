#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A session refused at a renegotiation (its certificate revoked by a CRL reload after it connected) gives back
# its connection slot, its address and its data path at once. With max-connections 1, another client connects
# right after; the refused client's tunnel stops carrying traffic at the refusal. (A refused renegotiation
# used to keep its slot counted for ever: after max-connections of them nobody could connect until a restart.)
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"
# shellcheck source=test/lib/ops.sh
. "$(dirname "$0")/../lib/ops.sh"
# shellcheck source=test/lib/crl.sh
. "$(dirname "$0")/../lib/crl.sh"

topo_basic
pki_make "$TMPD/pki"
crl_setup
crl_gen "$TMPD/crl.pem"
CV_RENEG=4s ops_config "$TMPD/endpoint.yaml" "crl: $TMPD/crl.pem" "max-connections: 1"
server_start "$TMPD/endpoint.yaml"
export_client "$TMPD/endpoint.yaml"

client_start alice "$NS_CLI" alice
client_wait_up alice
assert_cmd "alice's tunnel carries traffic" n_exec "$NS_CLI" ping -q -c 2 -i 0.2 -W 2 -w 6 "$RES_IP"
assert_eq "$(ctl_json status | jq '.sessions.active')" 1 "one active session"

crl_revoke alice
crl_gen "$TMPD/crl.pem"
mark=$(log_mark "$SERVER_LOG")
assert_cmd "reload with alice revoked" ctl reload
wait_for_log_since "$SERVER_LOG" "$mark" "refused alice from [^ ]+: certificate is revoked" 12 ||
	fail "alice's renegotiation was not refused within 12 s"
ok "alice refused at her next renegotiation: certificate is revoked"
expect_log "$SERVER_LOG" "session [0-9]+ alice from [^ ]+: certificate is revoked.*; address 100\.64\.0\.2 released" 2 \
	"her address is released at the refusal"
assert_eq "$(ctl_json status | jq '.sessions.active')" 0 "no active session left"
if n_exec "$NS_CLI" ping -q -c 2 -i 0.2 -W 1 -w 3 "$RES_IP" >/dev/null 2>&1; then
	fail "alice's tunnel still carries traffic after the refusal"
fi
ok "alice's tunnel carries nothing any more"
client_stop alice

client_start bob "$NS_CLI" bob
client_wait_up bob
ok "bob connects: the slot of max-connections 1 came back"
client_stop bob

server_stop
summary
