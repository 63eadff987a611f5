#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Split tunnel over UDP: a stock openvpn client with the exported file gets an address from the client CIDR,
# the pushed route and DNS server, and reaches the resource host, which sees the association address; the
# gateway host itself does not answer it.
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"

CV_TRANSPORT=udp
topo_basic
pki_make "$TMPD/pki"
# the second DNS server is the gateway's own association address, which no client reaches: said at start
CV_DNS="198.18.1.53, $ASSOC_IP" write_endpoint_config "$TMPD/endpoint.yaml"
server_start "$TMPD/endpoint.yaml"
assert_log "$SERVER_LOG" "dns-servers: $(re_quote "$ASSOC_IP") is association subnet-a's own address, the gateway host's" \
	"a DNS server at the gateway's association address is warned about"
export_client "$TMPD/endpoint.yaml"
assert_log "$TMPD/client.ovpn" '^proto udp' "exported file says proto udp"
assert_log "$TMPD/client.ovpn" '^explicit-exit-notify' "exported file has explicit-exit-notify (udp)"

client_start alice "$NS_CLI" alice
client_wait_up alice
check_split_tunnel "$NS_CLI" alice 100.64.0.0/22
check_data_path "$NS_CLI" alice
# The gateway host is not a network behind it: its address in the associated subnet (which the subnet's route
# covers) and the tun's answer nothing. The kernel used to deliver such packets locally, past authorization,
# security groups and ACLs, so any client reached the host's own services.
for ip in "$ASSOC_IP" 100.64.0.1; do
	if n_exec "$NS_CLI" ping -q -c 2 -i 0.2 -W 1 -w 3 "$ip" >/dev/null 2>&1; then
		fail "the gateway host answers a client at $ip"
	fi
	ok "the gateway host does not answer a client at $ip"
done
assert_match "$(n_exec "$NS_GW" nft list chain inet cvpn input)" 'counter packets [1-9][0-9]* bytes [0-9]+ drop' \
	"dropped by the input chain"

client_stop alice
server_stop
summary
