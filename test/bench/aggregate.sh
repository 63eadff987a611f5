#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Aggregate benchmark: the load generator opens 100 sessions against the stock OpenVPN 2.6 server and then
# cvpnd (same topology, same offered load) and sends ICMP echo requests of 1,400 bytes inside every tunnel
# for SECS seconds; the figure is what comes back through the gateway (echo replies decrypted by the load
# generator, Mbit/s), with the gateway's CPU-seconds over the whole run. Merges
# aggregate.{cvpnd,openvpn}.* into bench-results.json. Bounded by the load generator's --timeout.
# The default offered load (300 packets/s per session, 336 Mbit/s each way) is what the one-threaded load
# generator sustains on a 2-core machine that also runs both gateways' peers; above it the generator, not
# the gateway, decides what comes back (BENCH_AGG_PPS to try).
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"

N=${BENCH_AGG_SESSIONS:-100}
SECS=${BENCH_SECONDS:-6}
PPS=${BENCH_AGG_PPS:-300}
SIZE=1400
RESULTS=${BENCH_RESULTS:-$(cd "$(dirname "$0")/../.." && pwd)/bench-results.json}
LOADGEN="$CVPN_BUILD/loadgen"
[ -x "$LOADGEN" ] || fail "no $LOADGEN (make loadgen)"

cpu_ticks() { # PID -> utime+stime in clock ticks
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}

run_loadgen() { # NAME GATEWAY-PID
	local t0 t1
	t0=$(cpu_ticks "$2")
	n_exec "$NS_CLI" timeout 150 "$LOADGEN" --remote "$GW_OUT_IP" --port 1194 --source-range "$LG_SOURCES" \
		--ca "$PKI/ca.crt" --cert "$PKI/alice.crt" --key "$PKI/alice.key" -n "$N" --traffic "$SECS" \
		--ping "$RES_IP" --pps "$PPS" --size "$SIZE" --timeout 120 --json >"$TMPD/$1.json" 2>"$TMPD/$1.log" ||
		fail "loadgen against $1 failed: $(tail -n 3 "$TMPD/$1.log")"
	t1=$(cpu_ticks "$2")
	jq --argjson cpu "$(awk -v a="$t0" -v b="$t1" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (b - a) / hz }')" \
		'{established: .sessions_established, mbps_received: .traffic.mbps_received, mbps_sent: .traffic.mbps_sent,
		  packets_sent: .traffic.packets_sent, echo_replies: .traffic.echo_replies, gateway_cpu_s: $cpu}' \
		"$TMPD/$1.json" >"$TMPD/$1.fig"
	log "$1: $(jq -c . "$TMPD/$1.fig")"
}

topo_basic
LG_SOURCES=$(client_add_sources "$NS_CLI" 127)
pki_make "$TMPD/pki"
CV_CLIENT_CIDR=100.64.0.0/21
write_endpoint_config "$TMPD/endpoint.yaml"

start_stock_openvpn_server udp --server 100.64.0.0 255.255.248.0 --max-clients 2100 --duplicate-cn \
	--connect-freq-initial 100000 10
run_loadgen openvpn "$(bg_pid openvpn-server)"
bg_stop openvpn-server >/dev/null 2>&1 || true
n_exec "$NS_GW" nft delete table ip cvpnstock

server_start "$TMPD/endpoint.yaml"
run_loadgen cvpnd "$(bg_pid cvpnd)"
server_stop

printf '\n%-34s %12s %12s %8s\n' "aggregate ($N sessions, $SECS s)" cvpnd OpenVPN ratio
for k in mbps_received mbps_sent echo_replies gateway_cpu_s; do
	a=$(jq ".$k // \"n/a\"" "$TMPD/cvpnd.fig")
	b=$(jq ".$k // \"n/a\"" "$TMPD/openvpn.fig")
	printf '%-34s %12s %12s %8s\n' "$k" "$a" "$b" \
		"$(awk -v a="$a" -v b="$b" 'BEGIN { if (b + 0 > 0) printf "%.2f", a / b; else print "n/a" }')"
done
echo "offered: $N sessions x $PPS pps x $SIZE bytes each way; the load generator is one thread for both gateways"

[ -s "$RESULTS" ] || echo '{}' >"$RESULTS"
tmp=$(mktemp)
jq --slurpfile c "$TMPD/cvpnd.fig" --slurpfile o "$TMPD/openvpn.fig" \
	'.aggregate = { sessions: '"$N"', cvpnd: $c[0], openvpn: $o[0] }' "$RESULTS" >"$tmp" && mv "$tmp" "$RESULTS"
log "figures merged into $RESULTS"
summary
