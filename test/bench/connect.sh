#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Connect benchmark: the load generator opens N sessions (certificate auth, full key exchange, data keys)
# against the stock OpenVPN 2.6 server and then cvpnd, same topology and client CIDR (/21), and reports
# sessions/s, time to N, failures, the gateway's resident memory per idle session and the CPU per session of
# the gateway and of the load generator. Meanwhile a stock
# client already connected pings the resource host every 50 ms through the same gateway: the storm's cost
# to live traffic (loss, worst round trip). Then cvpnd again with its handshakes on the control thread
# (handshake-threads: 0), for what the handshake threads bring. Merges connect.{cvpnd,openvpn}.* into
# bench-results.json.
# Bounded by the load generator's --timeout and ping's -w.
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"

N=${BENCH_SESSIONS:-2000}
CONC=${BENCH_CONCURRENCY:-50}
RESULTS=${BENCH_RESULTS:-$(cd "$(dirname "$0")/../.." && pwd)/bench-results.json}
LOADGEN="$CVPN_BUILD/loadgen"
[ -x "$LOADGEN" ] || fail "no $LOADGEN (make loadgen)"

# A live session's pings during the storm: loss % and worst RTT (ms) into $TMPD/NAME.ping.json.
storm_ping_start() { # NAME
	client_start "live-$1" "$NS_CLI" alice
	client_wait_up "live-$1"
	bg_start "ping-$1" n_exec "$NS_CLI" ping -n -i 0.05 -c 200 -w 30 "$RES_IP"
}
storm_ping_end() { # NAME
	bg_wait_exit "ping-$1" 35 || bg_stop "ping-$1" INT || true
	client_stop "live-$1"
	awk '/packet loss/ { for (i = 1; i <= NF; i++) if ($i ~ /%$/) { sub("%", "", $i); loss = $i } }
	     /^rtt|^round-trip/ { split($4, v, "/"); max = v[3]; avg = v[2] }
	     END { printf "{\"ping_loss_pct\": %s, \"ping_rtt_avg_ms\": %s, \"ping_rtt_max_ms\": %s}\n",
	           loss == "" ? "null" : loss, avg == "" ? "null" : avg, max == "" ? "null" : max }' \
		"$TMPD/ping-$1.out" >"$TMPD/$1.ping.json"
	log "$1: live session during the storm: $(cat "$TMPD/$1.ping.json")"
}

# "2 data workers, 2 handshake threads (steps 2103 1989)" from the running cvpnd's status
ctl_status_threads() {
	"$CVPNCTL" --socket "$CTL_SOCK" status --json | jq -r '"\(.["data-workers"] | length) data workers, \(.["handshake-threads"] | length) handshake threads (steps \([.["handshake-threads"][]["handshake-steps"]] | map(tostring) | join(" ")))"'
}

run_loadgen() { # NAME GATEWAY-PID
	n_exec "$NS_CLI" timeout 150 "$LOADGEN" --remote "$GW_OUT_IP" --port 1194 --source-range "$LG_SOURCES" --ca "$PKI/ca.crt" \
		--cert "$PKI/alice.crt" --key "$PKI/alice.key" -n "$N" --concurrency "$CONC" --hold 2 \
		--timeout 120 --gateway-pid "$2" --json >"$TMPD/$1.json" 2>"$TMPD/$1.log" ||
		fail "loadgen against $1 failed: $(tail -n 3 "$TMPD/$1.log")"
	jq -c '{established: .sessions_established, failed: .sessions_failed, sessions_per_s, seconds_to_n, rss_kib_per_session}' "$TMPD/$1.json" |
		sed "s/^/[$1] /"
}

topo_basic
LG_SOURCES=$(client_add_sources "$NS_CLI" 127)
pki_make "$TMPD/pki"
CV_CLIENT_CIDR=100.64.0.0/21
write_endpoint_config "$TMPD/endpoint.yaml"
# N load-generator sessions plus the live one (the default limit is 2,000)
sed -i "s|^  client-cidr: .*|&\n  max-connections: $((N + 40))|" "$TMPD/endpoint.yaml"
export_client "$TMPD/endpoint.yaml"

start_stock_openvpn_server udp --server 100.64.0.0 255.255.248.0 --max-clients 2100 --duplicate-cn \
	--connect-freq-initial 100000 10
storm_ping_start openvpn
run_loadgen openvpn "$(bg_pid openvpn-server)"
storm_ping_end openvpn
bg_stop openvpn-server >/dev/null 2>&1 || true
n_exec "$NS_GW" nft delete table ip cvpnstock

server_start "$TMPD/endpoint.yaml"
storm_ping_start cvpnd
run_loadgen cvpnd "$(bg_pid cvpnd)"
storm_ping_end cvpnd
threads=$(ctl_status_threads)
server_stop

# the same storm with every handshake on the control thread (handshake-threads: 0): what the threads bring
CV_HS_THREADS=0 write_endpoint_config "$TMPD/endpoint-hs0.yaml"
sed -i "s|^  client-cidr: .*|&\n  max-connections: $((N + 40))|" "$TMPD/endpoint-hs0.yaml"
server_start "$TMPD/endpoint-hs0.yaml"
run_loadgen cvpnd-hs0 "$(bg_pid cvpnd)"
server_stop

printf '\n%-26s %12s %12s %8s\n' "connect (N=$N, $CONC in flight)" cvpnd OpenVPN ratio
for gw in cvpnd openvpn; do
	# CPU per established session while connecting, of the gateway (all its threads) and of the load
	# generator, which shares this machine's cores with it: where the rate's ceiling comes from
	jq -s '.[0] + .[1] | . + {
	  gateway_cpu_ms_per_session: (if .gateway_cpu_s_connect and .sessions_established > 0
	    then (.gateway_cpu_s_connect * 1e6 / .sessions_established | round / 1000) else null end),
	  loadgen_cpu_ms_per_session: (if .loadgen_cpu_s_connect and .sessions_established > 0
	    then (.loadgen_cpu_s_connect * 1e6 / .sessions_established | round / 1000) else null end) }' \
		"$TMPD/$gw.json" "$TMPD/$gw.ping.json" >"$TMPD/$gw.all.json"
done
for k in sessions_per_s seconds_to_n rss_kib_per_session sessions_failed ping_loss_pct ping_rtt_avg_ms \
	ping_rtt_max_ms gateway_cpu_ms_per_session loadgen_cpu_ms_per_session; do
	a=$(jq ".$k // \"n/a\"" "$TMPD/cvpnd.all.json")
	b=$(jq ".$k // \"n/a\"" "$TMPD/openvpn.all.json")
	printf '%-26s %12s %12s %8s\n' "$k" "$a" "$b" \
		"$(awk -v a="$a" -v b="$b" 'BEGIN { if (b + 0 > 0) printf "%.2f", a / b; else print "n/a" }')"
done

hs0=$(jq '.sessions_per_s' "$TMPD/cvpnd-hs0.json")
printf '%-26s %12s %12s %8s\n' "sessions_per_s, handshakes on the control thread" "$hs0" "" \
	"$(awk -v a="$(jq .sessions_per_s "$TMPD/cvpnd.all.json")" -v b="$hs0" 'BEGIN { if (b + 0 > 0) printf "%.2f", a / b }')"
log "cvpnd ran $threads"

[ -s "$RESULTS" ] || echo '{}' >"$RESULTS"
tmp=$(mktemp)
jq --slurpfile c "$TMPD/cvpnd.all.json" --slurpfile o "$TMPD/openvpn.all.json" --argjson hs0 "$hs0" \
	'.connect = { cvpnd: ($c[0] | {sessions_per_s, seconds_to_2000: .seconds_to_n, rss_kib_per_session,
	  established: .sessions_established, failed: .sessions_failed, ping_loss_pct, ping_rtt_avg_ms,
	  ping_rtt_max_ms, gateway_cpu_ms_per_session, loadgen_cpu_ms_per_session}),
	  openvpn: ($o[0] | {sessions_per_s, seconds_to_2000: .seconds_to_n,
	  rss_kib_per_session, established: .sessions_established, failed: .sessions_failed, ping_loss_pct,
	  ping_rtt_avg_ms, ping_rtt_max_ms, gateway_cpu_ms_per_session, loadgen_cpu_ms_per_session}), cvpnd_control_thread_handshakes: { sessions_per_s: $hs0 } }' \
	"$RESULTS" >"$tmp" && mv "$tmp" "$RESULTS"
log "figures merged into $RESULTS"
summary
