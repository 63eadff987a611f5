#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Half-open sessions: 600 real handshakes from one address (each echoes its cookie with a TLS ClientHello and
# then falls silent). The gateway answers cookies to one address at a bounded rate, holds at most 32 sessions
# in their handshake per source address (and 1,024 in all), refuses the rest with a rate-limited log line,
# ends every half-open one when its handshake-window (8 s here) runs out, and a stock client from another
# address connects while the flood is on. Figures printed: half-open sessions at the peak, RSS before, at
# the peak and after.
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"
# shellcheck source=test/lib/ops.sh
. "$(dirname "$0")/../lib/ops.sh"
# shellcheck source=test/lib/flood.sh
. "$(dirname "$0")/../lib/flood.sh"

N=600
WINDOW=8

topo_basic
topo_second_client
pki_make "$TMPD/pki"
CV_CLIENT_CIDR=100.64.0.0/24 ops_config "$TMPD/endpoint.yaml" "handshake-window: ${WINDOW}s"
server_start "$TMPD/endpoint.yaml"
export_client "$TMPD/endpoint.yaml"
max=$(metric max_connections)
assert_eq "$max" 253 "max-connections is the /24's 253 client addresses"
PER_SOURCE=32 # SERVER_HALFOPEN_PER_SOURCE

# One round: N half-open handshakes, the table's bound checked at the peak, then the window ends them all.
half_open_round() { # ROUND
	local r=$1 now i
	n_exec "$NS_CLI" "$FLOOD" --mode hello --dst "$GW_OUT_IP" --port 1194 --bind "$CLI_IP" --count "$N" \
		--pps 500 --seconds 8 --ca "$PKI/ca.crt" --cert "$PKI/alice.crt" --key "$PKI/alice.key" \
		>"$TMPD/hello$r.out" 2>&1 || fail "flood hello failed: $(cat "$TMPD/hello$r.out")"
	sed 's/^/    /' "$TMPD/hello$r.out"
	cookies=$(sed -n 's/.* \([0-9]*\) cookies received.*/\1/p' "$TMPD/hello$r.out")
	[ -n "$cookies" ] && [ "$cookies" -ge "$PER_SOURCE" ] && [ "$cookies" -lt "$N" ] ||
		fail "round $r: $cookies of $N cookies answered to one address (want at least $PER_SOURCE, fewer than $N)"
	ok "round $r: cookie replies to one address are rate-limited ($cookies of $N)"
	# the daemon works through the ClientHellos (a key share and a signature each): let the count settle
	peak=0
	for ((i = 0; i < 40; i++)); do
		now=$(metric handshaking_sessions)
		[ "$now" -le "$peak" ] && [ "$i" -gt 2 ] && break
		[ "$now" -gt "$peak" ] && peak=$now
		sleep 0.25
	done
	rss_peak=$(gw_rss)
	[ "$peak" -le "$PER_SOURCE" ] || fail "round $r: $peak sessions in their handshake from one address"
	ok "round $r: half-open sessions from one address bounded: $peak <= $PER_SOURCE"
	[ "$peak" -ge $((PER_SOURCE * 3 / 4)) ] || fail "round $r: only $peak half-open sessions: the flood did not reach the bound"
	ok "round $r: the flood reached the per-source bound ($peak)"
	if [ "$r" = 1 ]; then
		client_start during "$NS_CLI2" bob
		wait_for_log "$(client_log during)" 'Initialization Sequence Completed' 3 ||
			fail "a stock client from another address did not connect within 3 s during the half-open flood"
		ok "a stock client from another address connected during the half-open flood"
		bg_stop during || true
	fi
	for ((i = 0; i < (WINDOW + 4) * 10; i++)); do
		[ "$(metric handshaking_sessions)" = 0 ] && break
		sleep 0.1
	done
	assert_eq "$(metric handshaking_sessions)" 0 "round $r: every half-open session ended by the handshake window"
	rss_end=$(gw_rss)
	log "round $r: gateway RSS at the peak $rss_peak KiB ($peak half-open," \
		"$(( (rss_peak - rss_base) / peak )) KiB each), after the window $rss_end KiB"
}

rss_base=$(gw_rss)
log "gateway RSS before: $rss_base KiB"
half_open_round 1
expect_log "$SERVER_LOG" "refused - from $(re_quote "$CLI_IP"):[0-9]+: too many handshakes in progress from this address" 2 \
	"sessions beyond the bound refused and logged"
assert_log "$SERVER_LOG" "ended: handshake did not finish within the handshake window" \
	"the end of a half-open session is logged"
ended=$(grep -c "ended: handshake did not finish within the handshake window" "$SERVER_LOG" || true)
failed=$(connlog_select "$CONNLOG" '.["connection-attempt-status"] == "failed"' | wc -l)
log "half-open sessions ended by the handshake window: $ended; failed connection-attempt records: $failed"
rss_round1=$rss_end
# The allocator keeps what the first round took (glibc does not trim it); a second round must reuse it, not
# add to it: what a leak per half-open session would show.
half_open_round 2
[ $((rss_end - rss_round1)) -le 4096 ] ||
	fail "RSS grew from $rss_round1 to $rss_end KiB over a second round of half-open sessions"
ok "a second round reuses the memory of the first ($rss_round1 -> $rss_end KiB)"

client_start bob "$NS_CLI2" bob
client_wait_up bob 5
check_data_path "$NS_CLI2" bob
client_stop bob
server_stop
summary
