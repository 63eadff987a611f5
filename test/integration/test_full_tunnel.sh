#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Split tunnel off: the client is told redirect-gateway def1, so 0.0.0.0/1 and 128.0.0.0/1 go through the tun
# while the server itself stays reachable over the local network, and traffic to the resource still flows.
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"

CV_SPLIT=false
topo_basic
pki_make "$TMPD/pki"
write_endpoint_config "$TMPD/endpoint.yaml"
server_start "$TMPD/endpoint.yaml"
export_client "$TMPD/endpoint.yaml"

client_start alice "$NS_CLI" alice
client_wait_up alice
client_address "$NS_CLI" alice 100.64.0.0/22
assert_log "$(client_log alice)" "PUSH_REPLY.*redirect-gateway def1" "redirect-gateway def1 pushed"
for half in 0.0.0.0/1 128.0.0.0/1; do
	assert_match "$(n_exec "$NS_CLI" ip -4 route show "$half")" "dev $CLIENT_DEV( |\$)" "$half goes through $CLIENT_DEV"
done
assert_match "$(n_exec "$NS_CLI" ip -4 route get "$RES_IP")" "dev $CLIENT_DEV( |\$)" \
	"the resource host is reached through the tunnel"
assert_match "$(n_exec "$NS_CLI" ip -4 route get "$GW_OUT_IP")" "dev veth0( |\$)" \
	"the VPN server itself is still reached over the local network"
check_data_path "$NS_CLI" alice

client_stop alice
assert_eq "$(n_exec "$NS_CLI" ip -4 route show 0.0.0.0/1)" "" "client removed its 0.0.0.0/1 route on exit"
server_stop
summary
