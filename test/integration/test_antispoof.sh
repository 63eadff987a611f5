#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Anti-spoofing: packets a client sends through its tunnel from any address but its own are dropped by the
# gateway and counted; its own traffic keeps flowing.
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"

topo_basic
pki_make "$TMPD/pki"
write_endpoint_config "$TMPD/endpoint.yaml"
server_start "$TMPD/endpoint.yaml"
export_client "$TMPD/endpoint.yaml"
client_start alice "$NS_CLI" alice
client_wait_up alice
client_address "$NS_CLI" alice 100.64.0.0/22

# Another client's address (inside the CIDR) and one outside it, both put on the client's own tun.
n_exec "$NS_CLI" ip addr add 100.64.0.77/32 dev "$CLIENT_DEV"
n_exec "$NS_CLI" ip addr add 192.0.2.66/32 dev "$CLIENT_DEV"
for src in 100.64.0.77 192.0.2.66; do
	if n_exec "$NS_CLI" ping -q -c 3 -i 0.2 -W 1 -I "$src" "$RES_IP" >/dev/null 2>&1; then
		fail "ping from spoofed source $src got a reply"
	fi
	ok "ping from spoofed source $src gets no reply"
done
assert_cmd "ping from the client's own address still works" n_exec "$NS_CLI" ping -q -c 2 -i 0.2 -W 2 "$RES_IP"

client_stop alice
expect_log "$SERVER_LOG" "session [^ ]+ alice .*ended: .*spoofed 6\)" 8 \
	"gateway dropped and counted exactly the 6 spoofed packets"
server_stop
summary
