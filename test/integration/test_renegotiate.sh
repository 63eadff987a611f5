#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Key renegotiation while traffic flows, started by the client (--reneg-sec 5) and by the server
# (renegotiate-after: 5s), and by the server after 100 packets (renegotiate-after-packets): the data channel
# moves to key-id 1, then 2, losing at most a couple of packets.
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"

# Pings every 0.5 s for COUNT packets from the client; at most 2 may be lost.
ping_through() { # LABEL COUNT
	local out rx
	out=$(n_exec "$NS_CLI" ping -c "$2" -i 0.5 -W 2 "$RES_IP" 2>&1) || true
	rx=$(sed -n 's/.* \([0-9]\+\) received.*/\1/p' <<<"$out")
	[ -n "$rx" ] || fail "$1: no ping statistics: $out"
	[ "$rx" -ge $(( $2 - 2 )) ] || fail "$1: only $rx of $2 pings answered across renegotiations"
	ok "$1: $rx of $2 pings answered across renegotiations"
}

topo_basic
pki_make "$TMPD/pki"

# --- client-initiated
write_endpoint_config "$TMPD/endpoint.yaml"
server_start "$TMPD/endpoint.yaml"
export_client "$TMPD/endpoint.yaml"
client_start alice "$NS_CLI" alice --reneg-sec 5
client_wait_up alice
ping_through "client --reneg-sec 5" 32
expect_log "$SERVER_LOG" "renegotiated key-id 1( |\$)" 2 "server: renegotiated key-id 1 (client-initiated)"
expect_log "$SERVER_LOG" "renegotiated key-id 2( |\$)" 3 "server: renegotiated key-id 2 (client-initiated)"
assert_log "$(client_log alice)" "TLS: soft reset" "client started the renegotiation"
client_stop alice
server_stop

# --- server-initiated
CV_RENEG=5s
write_endpoint_config "$TMPD/endpoint-reneg.yaml"
server_start "$TMPD/endpoint-reneg.yaml"
export_client "$TMPD/endpoint-reneg.yaml"
client_start alice2 "$NS_CLI" alice
client_wait_up alice2
ping_through "server renegotiate-after 5s" 24
expect_log "$SERVER_LOG" "renegotiated key-id 1( |\$)" 2 "server: renegotiated key-id 1 (server-initiated)"
expect_log "$SERVER_LOG" "renegotiated key-id 2( |\$)" 3 "server: renegotiated key-id 2 (server-initiated)"
assert_no_log "$(client_log alice2)" "TLS: soft reset" "the client did not start it (reneg-sec 0 in the file)"
assert_cmd "still connected: ping after the renegotiations" n_exec "$NS_CLI" ping -q -c 2 -i 0.2 -W 2 -w 6 "$RES_IP"
client_stop alice2
server_stop

# --- after a number of packets (renegotiate-after-packets: 100; the same path renegotiates every session
# before its packet-ids run out): 300 pings at 20/s, each reply one packet to the client. With the kernel's
# data channel cvpnd reads the counters every 10 s, so the run lasts 15 s.
CV_RENEG=""
CV_RENEG_PKTS=100
write_endpoint_config "$TMPD/endpoint-pkts.yaml"
server_start "$TMPD/endpoint-pkts.yaml"
export_client "$TMPD/endpoint-pkts.yaml"
client_start alice3 "$NS_CLI" alice
client_wait_up alice3
out=$(n_exec "$NS_CLI" ping -c 300 -i 0.05 -W 2 "$RES_IP" 2>&1) || true
rx=$(sed -n 's/.* \([0-9]\+\) received.*/\1/p' <<<"$out")
[ -n "$rx" ] && [ "$rx" -ge 296 ] || fail "only ${rx:-no} of 300 pings answered across packet-count renegotiations"
ok "$rx of 300 pings answered across packet-count renegotiations"
expect_log "$SERVER_LOG" "alice: [0-9]+ packets sent on key-id 0: renegotiating" 5 \
	"server: renegotiates key-id 0 after its 100 packets"
expect_log "$SERVER_LOG" "renegotiated key-id 1( |\$)" 5 "server: renegotiated key-id 1 (packet count)"
assert_no_log "$(client_log alice3)" "TLS: soft reset" "the client did not start it"
client_stop alice3
server_stop
summary
