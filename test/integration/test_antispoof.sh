#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Anti-spoofing: packets a client sends through its tunnel from any address but its own are dropped by the
# gateway and counted; its own traffic keeps flowing. With two clients: alice sending from bob's address
# (live, assigned to bob) has every such packet dropped and counted against her, and bob is not disturbed.
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"

topo_basic
topo_second_client
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
addr_alice=$CLIENT_ADDR
dev_alice=$CLIENT_DEV

# --- two clients: alice uses bob's address
client_start bob "$NS_CLI2" bob
client_wait_up bob
client_address "$NS_CLI2" bob 100.64.0.0/22
addr_bob=$CLIENT_ADDR
assert_ne "$addr_bob" "$addr_alice" "bob has an address of his own"
n_exec "$NS_CLI" ip addr add "$addr_bob/32" dev "$dev_alice"
if n_exec "$NS_CLI" ping -q -c 4 -i 0.2 -W 1 -I "$addr_bob" "$RES_IP" >/dev/null 2>&1; then
	fail "alice's ping from bob's address $addr_bob got a reply"
fi
ok "alice's ping from bob's address $addr_bob gets no reply"
assert_cmd "bob is not disturbed: he pings $RES_IP" n_exec "$NS_CLI2" ping -q -c 2 -i 0.2 -W 2 "$RES_IP"
CTL() { "$CVPNCTL" --socket "$CTL_SOCK" "$@"; }
if [ "${CV_DATA_CHANNEL:-}" = kernel ]; then
	# the kernel's data channel drops them itself (its reverse-path check) and has no counter to read back
	log "data-channel: kernel: spoofed packets dropped as above; the kernel does not count them for us"
	client_stop alice
	client_stop bob
else
	assert_eq "$(CTL metrics | awk '$1 == "cvpn_spoofed_packets_total" { print $2 }')" 10 \
		"cvpn_spoofed_packets_total counts the 6 + 4 spoofed packets"
	client_stop alice
	expect_log "$SERVER_LOG" "session [^ ]+ alice .*ended: .*spoofed 10\)" 8 \
		"gateway dropped and counted exactly alice's 10 spoofed packets, against alice"
	client_stop bob
	expect_log "$SERVER_LOG" "session [^ ]+ bob .*ended: .*spoofed 0\)" 8 "nothing counted against bob"
fi
server_stop
summary
