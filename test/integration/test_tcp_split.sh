#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Split tunnel over TCP: the same checks as test_udp_split.sh with transport tcp.
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"

CV_TRANSPORT=tcp
CV_PORT=443
topo_basic
pki_make "$TMPD/pki"
write_endpoint_config "$TMPD/endpoint.yaml"
server_start "$TMPD/endpoint.yaml"
export_client "$TMPD/endpoint.yaml"
assert_log "$TMPD/client.ovpn" '^proto tcp' "exported file says proto tcp"
assert_log "$TMPD/client.ovpn" '^remote [^ ]+ 443' "exported file names port 443"
assert_no_log "$TMPD/client.ovpn" '^explicit-exit-notify' "no explicit-exit-notify over tcp"

client_start alice "$NS_CLI" alice
client_wait_up alice
assert_cmd "client's TCP connection to the gateway's port 443 is up" \
	sh -c "ip netns exec '$NS_CLI' ss -Htn state established dst $GW_OUT_IP:443 | grep -q ."
check_split_tunnel "$NS_CLI" alice 100.64.0.0/22
check_data_path "$NS_CLI" alice
# a TCP endpoint has no data workers: the control thread carries every packet
assert_eq "$("$CVPNCTL" --socket "$CTL_SOCK" connections --json | jq -r '.connections[0]["data-path"]')" \
	control-thread "connections: data path on the control thread"

client_stop alice
server_stop
summary
