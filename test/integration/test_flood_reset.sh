#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Reset flood: 100,000 hard resets from random spoofed sources (198.51.100.0/24, random ports) at 20,000
# packets/s. The gateway keeps no per-source state before its cookie is echoed: no session appears and its
# RSS does not grow; and a stock client that starts one second into the flood is connected within 5 s.
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"
# shellcheck source=test/lib/flood.sh
. "$(dirname "$0")/../lib/flood.sh"

COUNT=100000
PPS=20000
RSS_SLACK_KIB=1024   # per-source state for 100,000 sources would be megabytes

topo_basic
spoof_route
pki_make "$TMPD/pki"
write_endpoint_config "$TMPD/endpoint.yaml"
server_start "$TMPD/endpoint.yaml"
export_client "$TMPD/endpoint.yaml"

# Warm-up: one session and a short flood first, so what the daemon allocates once (a session's buffers,
# the receive batch, the allocator's arenas) is in the baseline and only growth with the flood is measured.
client_start warm "$NS_CLI" alice
client_wait_up warm
client_stop warm
expect_log "$SERVER_LOG" "session [^ ]+ alice .*ended: client disconnected" 5 "warm-up session ended"
warm_handshake_threads
n_exec "$NS_CLI" "$FLOOD" --mode reset --dst "$GW_OUT_IP" --port 1194 --src-from "$SPOOF_FROM" \
	--src-to "$SPOOF_TO" --count 10000 --pps "$PPS" --seconds 10 >/dev/null
sleep 1

rss_before=$(gw_rss)
in_before=$(gw_udp_stat InDatagrams)
flood_spoofed flood reset "$COUNT" "$PPS"
sleep 1
bg_alive flood || fail "the flood ended before the client started (sent too fast?)"
start=$(date +%s%N)
client_start alice "$NS_CLI" alice
client_wait_up alice 5
took=$(( ($(date +%s%N) - start) / 1000000 ))
bg_alive flood || fail "the flood was over before the client connected: nothing proven"
ok "stock client connected during the flood in $took ms"
client_address "$NS_CLI" alice 100.64.0.0/22
assert_cmd "alice pings $RES_IP during the flood" n_exec "$NS_CLI" ping -q -c 2 -i 0.2 -W 2 -w 4 "$RES_IP"
bg_wait_exit flood 30 || fail "flood tool did not finish"
assert_match "$(cat "$TMPD/flood.out")" "sent $COUNT packets" "flood tool sent $COUNT spoofed hard resets"
received=$(( $(gw_udp_stat InDatagrams) - in_before ))
[ "$received" -ge $((COUNT * 9 / 10)) ] || fail "the gateway's socket got only $received of $COUNT packets"
ok "the gateway's UDP socket received $received packets"

# No state for any of them: the only session is alice's.
assert_eq "$(metric handshaking_sessions)" 0 "no handshaking session from the flood"
assert_eq "$(metric active_connections)" 1 "one connection: alice"
rss_after=$(gw_rss)
log "gateway RSS before $rss_before KiB, after $rss_after KiB ($((rss_after - rss_before)) KiB) for $COUNT resets"
[ $((rss_after - rss_before)) -le "$RSS_SLACK_KIB" ] ||
	fail "gateway RSS grew by $((rss_after - rss_before)) KiB over the flood (before $rss_before, after $rss_after)"
ok "gateway RSS grew by at most $RSS_SLACK_KIB KiB ($rss_before -> $rss_after KiB)"
client_stop alice
server_stop
summary
