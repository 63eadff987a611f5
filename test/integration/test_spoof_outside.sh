#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Client addresses arrive only through the tunnel. A host on the gateway's outside link sends to the resource
# host from an address of the client CIDR (100.64.0.200, on its own interface, not through any tunnel): the
# gateway must not forward it, and above all must not source-NAT it to the association address, which would
# make the resource host answer traffic that no authenticated client sent. A packet from the same host with
# its own outside address is the host's routing business and only measured here.
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"
# shellcheck source=test/lib/flood.sh
. "$(dirname "$0")/../lib/flood.sh"

SPOOF=100.64.0.200

topo_basic
pki_make "$TMPD/pki"
write_endpoint_config "$TMPD/endpoint.yaml"
server_start "$TMPD/endpoint.yaml"
export_client "$TMPD/endpoint.yaml"
client_start alice "$NS_CLI" alice
client_wait_up alice
client_address "$NS_CLI" alice 100.64.0.0/22
n_exec "$NS_CLI" ip addr add "$SPOOF/32" dev veth0
# past alice's tunnel: the resource host directly via the gateway's outside address
n_exec "$NS_CLI" ip route add "$RES_IP/32" via "$GW_OUT_IP" dev veth0 src "$SPOOF"

before=$(res_echos)
bg_start capture n_exec "$NS_RES" tcpdump -n -l -i eth0 icmp
wait_for_log "$TMPD/capture.out" "listening on" 5 || fail "tcpdump did not start"
n_exec "$NS_CLI" ping -q -c 3 -i 0.2 -W 1 -I "$SPOOF" "$RES_IP" >/dev/null 2>&1 || true
sleep 0.5
bg_stop capture || true
got=$(( $(res_echos) - before ))
log "resource host received $got of 3 echo requests sent from the outside with source $SPOOF"
assert_no_log "$TMPD/capture.out" "IP $(re_quote "$ASSOC_IP") > $(re_quote "$RES_IP"): ICMP echo request" \
	"no outside packet from a client address was source-NATed to the association address"
assert_eq "$got" 0 "no outside packet from a client address reached the resource subnet"
n_exec "$NS_CLI" ip route del "$RES_IP/32"
assert_cmd "alice, through her tunnel, still reaches $RES_IP" n_exec "$NS_CLI" ping -q -c 2 -i 0.2 -W 2 "$RES_IP"
client_stop alice
server_stop
summary
