#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Split tunnel over UDP: a stock openvpn client with the exported file gets an address from the client CIDR,
# the pushed route and DNS server, and reaches the resource host, which sees the association address.
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"

CV_TRANSPORT=udp
topo_basic
pki_make "$TMPD/pki"
write_endpoint_config "$TMPD/endpoint.yaml"
server_start "$TMPD/endpoint.yaml"
export_client "$TMPD/endpoint.yaml"
assert_log "$TMPD/client.ovpn" '^proto udp' "exported file says proto udp"
assert_log "$TMPD/client.ovpn" '^explicit-exit-notify' "exported file has explicit-exit-notify (udp)"

client_start alice "$NS_CLI" alice
client_wait_up alice
check_split_tunnel "$NS_CLI" alice 100.64.0.0/22
check_data_path "$NS_CLI" alice

client_stop alice
server_stop
summary
