#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Two clients at once get different addresses and both reach the resource. Then, with a client CIDR that has
# room for one client only, the second is refused with AUTH_FAILED; once the first disconnects (SIGTERM, so
# explicit-exit-notify), its address is free again for a new client.
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"

topo_basic
topo_second_client
pki_make "$TMPD/pki"

# --- part 1: two at once
write_endpoint_config "$TMPD/endpoint.yaml"
server_start "$TMPD/endpoint.yaml"
export_client "$TMPD/endpoint.yaml"
client_start alice "$NS_CLI" alice
client_start bob "$NS_CLI2" bob
client_wait_up alice
client_wait_up bob
client_address "$NS_CLI" alice 100.64.0.0/22
addr_alice=$CLIENT_ADDR
client_address "$NS_CLI2" bob 100.64.0.0/22
addr_bob=$CLIENT_ADDR
assert_ne "$addr_alice" "$addr_bob" "alice and bob have different addresses"
assert_cmd "alice pings $RES_IP" n_exec "$NS_CLI" ping -q -c 3 -i 0.2 -W 2 -w 6 "$RES_IP"
assert_cmd "bob pings $RES_IP" n_exec "$NS_CLI2" ping -q -c 3 -i 0.2 -W 2 -w 6 "$RES_IP"
check_data_path "$NS_CLI2" bob
client_stop alice
client_stop bob
server_stop

# --- part 2: a /30 leaves exactly one client address (network, server, client, broadcast)
CV_CLIENT_CIDR=100.64.0.0/30
write_endpoint_config "$TMPD/endpoint30.yaml"
server_start "$TMPD/endpoint30.yaml"
export_client "$TMPD/endpoint30.yaml"
client_start alice2 "$NS_CLI" alice
client_wait_up alice2
client_address "$NS_CLI" alice 100.64.0.0/30
addr_alice=$CLIENT_ADDR

client_start bob2 "$NS_CLI2" bob
expect_log "$(client_log bob2)" "AUTH_FAILED" 10 "second client refused with AUTH_FAILED"
expect_log "$SERVER_LOG" "refused bob from [^ ]+: " 3 "server logged the refusal of bob"
assert_no_log "$(client_log bob2)" "Initialization Sequence Completed" "second client did not complete"
assert_eq "$(client_tun "$NS_CLI2")" "" "second client has no tunnel address"
bg_wait_exit bob2 5 || client_stop bob2
assert_cmd "first client unaffected: alice still pings" n_exec "$NS_CLI" ping -q -c 2 -i 0.2 -W 2 -w 6 "$RES_IP"

mark=$(log_mark "$SERVER_LOG")
client_stop alice2
wait_for_log_since "$SERVER_LOG" "$mark" "session .*ended" 8 ||
	fail "server did not end alice's session within 8 s of her explicit-exit-notify"
ok "server ended alice's session after explicit-exit-notify"

client_start bob3 "$NS_CLI2" bob
client_wait_up bob3
client_address "$NS_CLI2" bob 100.64.0.0/30
assert_eq "$CLIENT_ADDR" "$addr_alice" "the freed address went to the new client"
assert_cmd "new client pings $RES_IP" n_exec "$NS_CLI2" ping -q -c 2 -i 0.2 -W 2 -w 6 "$RES_IP"
client_stop bob3
server_stop
summary
