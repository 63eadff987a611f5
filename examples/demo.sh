#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# `make demo`: a whole cvpn endpoint in network namespaces in under a minute. Builds the topology of the
# integration tests (client <-> gateway <-> resource subnet), a throw-away PKI, an endpoint config of the
# examples/endpoint.yaml shape, starts cvpnd, exports the client file with cvpnctl, connects the stock
# OpenVPN client with it and shows what happened. Everything is removed at the end (also on Ctrl-C).
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../test/lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../test/lib/pki.sh"

heading() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
indent() { sed 's/^/   /'; }

[ "$(id -u)" = 0 ] || { echo "the demo needs root (network namespaces)" >&2; exit 1; }

heading "Topology"
topo_basic
cat <<-EOT | indent
	client   $NS_CLI  veth0 $CLI_IP/24, default via $GW_OUT_IP
	gateway  $NS_GW   outside $GW_OUT_IP/24 (VPN listener), $ASSOC_IF $ASSOC_IP/24 (association)
	resource $NS_RES  eth0 $RES_IP/24, no route back to the client CIDR: only SNAT makes replies work
EOT

heading "Test PKI (openssl, EC P-256)"
pki_make "$TMPD/pki"
for c in ca server alice; do
	printf '%-8s %s\n' "$c" "$(openssl x509 -in "$PKI/$c.crt" -noout -subject -enddate | tr '\n' ' ')"
done | indent

heading "Endpoint configuration: examples/endpoint.yaml (its pki/ paths resolve next to the copy)"
# The demo runs the shipped example unchanged; only its directory moves, so pki/ is the one made above.
cp "$(dirname "$0")/endpoint.yaml" "$TMPD/endpoint.yaml"
grep -v '^ *#' "$TMPD/endpoint.yaml" | grep -v '^$' | indent

heading "cvpnd --check"
n_exec "$NS_GW" "$CVPND" --check -c "$TMPD/endpoint.yaml" 2>&1 | indent

heading "Starting cvpnd in $NS_GW"
server_start "$TMPD/endpoint.yaml"
grep -m1 ready "$SERVER_LOG" | indent

heading "Client configuration exported by cvpnctl (CA block elided)"
export_client "$TMPD/endpoint.yaml" >/dev/null
sed '/^<ca>/,/^<\/ca>/c\<ca> ... </ca>' "$TMPD/client.ovpn" | indent

heading "Stock OpenVPN client: openvpn --config client.ovpn --cert alice.crt --key alice.key"
client_start alice "$NS_CLI" alice
client_wait_up alice 15
grep -E 'PUSH: Received|Data Channel: cipher|Initialization Sequence Completed' "$(client_log alice)" | cut -c21- | indent

heading "Client tunnel address and routes"
n_exec "$NS_CLI" ip -4 -br addr show | indent
n_exec "$NS_CLI" ip -4 route show | indent

heading "ping $RES_IP from the client"
n_exec "$NS_CLI" ping -c 3 -i 0.3 -W 2 "$RES_IP" | indent

heading "TCP exchange with the resource host"
tcp_listen demo "$NS_RES" "$RES_IP" 8080 "hello alice, this is the resource host"
reply=$(tcp_send "$NS_CLI" "$RES_IP" 8080 "hello resource, this is alice") || true
bg_wait_exit demo 3 || bg_stop demo || true
echo "client sent:        hello resource, this is alice" | indent
echo "client got back:    $reply" | indent
echo "resource received:  $(cat "$TMPD/demo.recv")" | indent
echo "resource saw peer:  $(sed -n 's/^Connection received on //p' "$TMPD/demo.out")" | indent
[ "$reply" = "hello alice, this is the resource host" ] || fail "TCP exchange failed"

heading "nft list table inet cvpn (gateway)"
n_exec "$NS_GW" nft list table inet cvpn | indent

heading "cvpnd log (last lines)"
tail -n 15 "$SERVER_LOG" | indent

heading "Teardown"
client_stop alice
server_stop
echo "namespaces and $TMPD removed on exit" | indent
