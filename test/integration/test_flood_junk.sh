#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Floods that are not resets, each 100,000 packets at 20,000/s from random spoofed sources: garbage (random
# bytes, random length) and valid-looking packets for sessions that do not exist (P_CONTROL_V1 and P_ACK_V1
# echoing a made-up cookie, soft resets, P_DATA_V1, P_DATA_V2 with random peer-ids, some of them the peer-id
# of the live session). During each: the connected client keeps working, a new stock client connects within
# 5 s; after each: no session was created and the gateway's RSS has not grown.
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"
# shellcheck source=test/lib/flood.sh
. "$(dirname "$0")/../lib/flood.sh"

COUNT=100000
PPS=20000
RSS_SLACK_KIB=1024

topo_basic
topo_second_client
spoof_route
pki_make "$TMPD/pki"
write_endpoint_config "$TMPD/endpoint.yaml"
server_start "$TMPD/endpoint.yaml"
export_client "$TMPD/endpoint.yaml"
client_start alice "$NS_CLI" alice
client_wait_up alice
client_address "$NS_CLI" alice 100.64.0.0/22
# warm-up of everything a flood and a second session touch once
client_start warm "$NS_CLI2" bob
client_wait_up warm
client_stop warm
warm_handshake_threads
n_exec "$NS_CLI" "$FLOOD" --mode garbage --dst "$GW_OUT_IP" --port 1194 --src-from "$SPOOF_FROM" \
	--src-to "$SPOOF_TO" --count 5000 --pps "$PPS" --seconds 5 >/dev/null
n_exec "$NS_CLI" "$FLOOD" --mode control --dst "$GW_OUT_IP" --port 1194 --src-from "$SPOOF_FROM" \
	--src-to "$SPOOF_TO" --count 5000 --pps "$PPS" --seconds 5 >/dev/null
sleep 1

for mode in garbage control; do
	ingress_before=$(metric ingress_packets_total)
	rss_before=$(gw_rss)
	in_before=$(gw_udp_stat InDatagrams)
	upcalls_before=$(metric worker_upcalls_total)
	flood_spoofed "flood-$mode" "$mode" "$COUNT" "$PPS"
	sleep 1
	assert_cmd "$mode flood: alice still pings $RES_IP" n_exec "$NS_CLI" ping -q -c 3 -i 0.2 -W 2 -w 4 "$RES_IP"
	client_start "bob-$mode" "$NS_CLI2" bob
	client_wait_up "bob-$mode" 5
	bg_alive "flood-$mode" || fail "$mode flood was over before bob connected: nothing proven"
	ok "$mode flood: bob connected within 5 s while it went on"
	client_stop "bob-$mode"
	bg_wait_exit "flood-$mode" 30 || fail "flood tool did not finish"
	assert_match "$(cat "$TMPD/flood-$mode.out")" "sent $COUNT packets" "$mode flood: $COUNT packets sent"
	received=$(( $(gw_udp_stat InDatagrams) - in_before ))
	[ "$received" -ge $((COUNT * 9 / 10)) ] || fail "$mode flood: the gateway's socket got only $received"
	ok "$mode flood: the gateway's UDP socket received $received packets"
	# the data workers drop data packets whose peer-id no session holds; only those that might be a session's
	# on the control thread (bob's, while he connected) go up to it
	upcalls=$(( $(metric worker_upcalls_total) - upcalls_before ))
	log "$mode flood: the data workers passed $upcalls packets up to the control thread"
	[ "$upcalls" -le $((COUNT / 100)) ] || fail "$mode flood: $upcalls upcalls (more than 1 % of the flood)"
	ok "$mode flood: $upcalls upcalls, at most 1 % of the flood"
	sleep 1
	assert_eq "$(metric handshaking_sessions)" 0 "$mode flood: no handshaking session left"
	assert_eq "$(metric active_connections)" 1 "$mode flood: one connection (alice)"
	# alice's 3 pings (and nothing from the flood, not even packets with her peer-id) reached the tun
	assert_eq "$(( $(metric ingress_packets_total) - ingress_before ))" 3 \
		"$mode flood: exactly alice's 3 echo requests entered the tun"
	rss_after=$(gw_rss)
	log "$mode flood: gateway RSS before $rss_before KiB, after $rss_after KiB ($((rss_after - rss_before)) KiB)"
	[ $((rss_after - rss_before)) -le "$RSS_SLACK_KIB" ] ||
		fail "$mode flood: gateway RSS grew by $((rss_after - rss_before)) KiB ($rss_before -> $rss_after)"
	ok "$mode flood: gateway RSS grew by at most $RSS_SLACK_KIB KiB ($rss_before -> $rss_after KiB)"
done
assert_cmd "alice still pings after the floods" n_exec "$NS_CLI" ping -q -c 2 -i 0.2 -W 2 -w 4 "$RES_IP"
client_stop alice
server_stop
summary
