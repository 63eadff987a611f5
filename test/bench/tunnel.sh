#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Tunnel benchmark: the stock OpenVPN 2.6 server and then cvpnd as the gateway, each with the same stock
# openvpn client, topology and iperf3 traffic (TCP upload, TCP download, UDP). Prints throughput, the
# gateway process's CPU-seconds per GB (from /proc/PID/stat), and cvpnd/OpenVPN ratios; merges the figures
# into bench-results.json as tunnel.{cvpnd,openvpn}.*. Bounded: each iperf3 run lasts BENCH_SECONDS.
#
# BENCH_DATA_CHANNEL=kernel (`make bench-dco`, inside test/dco/vm.sh's machine, whose kernel has ovpn-dco):
# both gateways keep their data channel in the kernel (cvpnd with data-channel: kernel, OpenVPN with its
# default DCO), the client stays on its userspace data path, and the figures go to tunnel_kernel.*. A
# gateway's own process then does almost none of the work: its CPU is its process's plus the kernel worker
# threads' (kworker: the module encrypts and decrypts on a workqueue), the same for both; forwarding done in
# softirq context is charged to whichever process the CPU was running, and is missing from both.
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"

SECS=${BENCH_SECONDS:-8}
UDP_RATE=${BENCH_UDP_RATE:-2G}
RESULTS=${BENCH_RESULTS:-$(cd "$(dirname "$0")/../.." && pwd)/bench-results.json}
TICKS=$(getconf CLK_TCK)
KERNEL_DC=0
[ "${BENCH_DATA_CHANNEL:-userspace}" = kernel ] && KERNEL_DC=1

cpu_ticks() { # PID -> utime+stime in clock ticks
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}

kworker_ticks() { # every kernel worker thread's CPU
	local f sum=0 t
	for f in /proc/[0-9]*/stat; do
		t=$(awk '$2 ~ /^\(kworker/ { print $14 + $15 }' "$f" 2>/dev/null) || continue
		sum=$((sum + ${t:-0}))
	done
	echo "$sum"
}

# iperf3 from the client namespace to the resource host; prints "bytes seconds" as the receiver counted them.
run_iperf() { # MODE(up|down|udp)
	local args=(-c "$RES_IP" -t "$SECS" -J) out
	case $1 in
	down) args+=(-R) ;;
	udp) args+=(-u -b "$UDP_RATE" -l 1300) ;;
	esac
	out=$(n_exec "$NS_CLI" timeout $((SECS + 15)) iperf3 "${args[@]}") || fail "iperf3 $1 failed"
	if [ "$1" = udp ]; then
		jq -r '.end.sum | "\(.bytes * (1 - .lost_percent / 100) | floor) \(.seconds) \(.lost_percent)"' <<<"$out"
	else
		jq -r '.end.sum_received | "\(.bytes) \(.seconds) 0"' <<<"$out"
	fi
}

declare -A R
measure() { # GATEWAY-NAME PID
	local gw=$1 pid=$2 mode t0 t1 k0=0 k1=0 bytes secs loss gw_s
	for mode in up down udp; do
		t0=$(cpu_ticks "$pid")
		[ "$KERNEL_DC" = 1 ] && k0=$(kworker_ticks)
		read -r bytes secs loss < <(run_iperf "$mode")
		t1=$(cpu_ticks "$pid")
		[ "$KERNEL_DC" = 1 ] && k1=$(kworker_ticks)
		gw_s=$(awk -v c=$((t1 - t0 + k1 - k0)) -v t="$TICKS" 'BEGIN { printf "%.3f", c / t }')
		R[$gw.$mode.gbps]=$(awk -v b="$bytes" -v s="$secs" 'BEGIN { printf "%.3f", b * 8 / s / 1e9 }')
		R[$gw.$mode.cpu]=$(awk -v g="$gw_s" -v b="$bytes" 'BEGIN { printf "%.2f", g / (b / 1e9) }')
		R[$gw.$mode.loss]=$loss
		log "$gw $mode: ${R[$gw.$mode.gbps]} Gbit/s, ${R[$gw.$mode.cpu]} CPU-s/GB (loss $loss %)"
	done
}

topo_basic
pki_make "$TMPD/pki"
bg_start iperf3-server n_exec "$NS_RES" iperf3 -s -B "$RES_IP"
sleep 0.3

# 1. the stock OpenVPN 2.6 server, the peer we compare against
[ "$KERNEL_DC" = 1 ] && CV_DATA_CHANNEL=kernel # cvpnd's, for step 2 (the file is written once)
write_endpoint_config "$TMPD/endpoint.yaml"
export_client "$TMPD/endpoint.yaml"
start_stock_openvpn_server udp
client_start c-openvpn "$NS_CLI" alice
client_wait_up c-openvpn
if [ "$KERNEL_DC" = 1 ]; then
	grep -q "DCO device" "$TMPD/openvpn-server.log" || fail "the stock server did not take the kernel data channel"
	ok "the stock server runs its data channel in the kernel (DCO)"
fi
measure openvpn "$(bg_pid openvpn-server)"
client_stop c-openvpn
bg_stop openvpn-server >/dev/null 2>&1 || true
n_exec "$NS_GW" nft delete table ip cvpnstock

# 2. cvpnd, same client file, same traffic
server_start "$TMPD/endpoint.yaml"
client_start c-cvpnd "$NS_CLI" alice
client_wait_up c-cvpnd
measure cvpnd "$(bg_pid cvpnd)"
client_stop c-cvpnd
server_stop

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
printf '\n%-16s %12s %12s %12s %14s %14s\n' "tunnel ($SECS s)" "cvpnd Gb/s" "OpenVPN Gb/s" "ratio" \
	"cvpnd CPU-s/GB" "OpenVPN CPU-s/GB"
for mode in up down udp; do
	printf '%-16s %12s %12s %12s %14s %14s\n' "$mode" "${R[cvpnd.$mode.gbps]}" "${R[openvpn.$mode.gbps]}" \
		"$(ratio "${R[cvpnd.$mode.gbps]}" "${R[openvpn.$mode.gbps]}")" "${R[cvpnd.$mode.cpu]}" \
		"${R[openvpn.$mode.cpu]}"
done
printf 'machine: %s, %s cores, kernel %s\n' "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" \
	"$(nproc)" "$(uname -r)"

# Merge into bench-results.json (other benchmarks write other top-level keys).
[ -s "$RESULTS" ] || echo '{}' >"$RESULTS"
tmp=$(mktemp)
jq --argjson t "$(
	for gw in cvpnd openvpn; do
		# CPU per GB of the two TCP directions together, as the issue's target states it
		cpu_tcp=$(awk -v a="${R[$gw.up.cpu]}" -v b="${R[$gw.down.cpu]}" 'BEGIN { printf "%.2f", (a + b) / 2 }')
		jq -n --arg gw "$gw" --argjson cpu "$cpu_tcp" --argjson up "${R[$gw.up.gbps]}" \
			--argjson down "${R[$gw.down.gbps]}" --argjson udp "${R[$gw.udp.gbps]}" \
			--argjson cu "${R[$gw.up.cpu]}" --argjson cd "${R[$gw.down.cpu]}" --argjson cudp "${R[$gw.udp.cpu]}" \
			'{($gw): {cpu_s_per_gb: $cpu, gbps_up: $up, gbps_down: $down, gbps_udp: $udp,
			  cpu_s_per_gb_up: $cu, cpu_s_per_gb_down: $cd, cpu_s_per_gb_udp: $cudp}}'
	done | jq -s 'add'
)" --arg key "$([ "$KERNEL_DC" = 1 ] && echo tunnel_kernel || echo tunnel)" '.[$key] = $t' "$RESULTS" >"$tmp" &&
	mv "$tmp" "$RESULTS"
log "figures merged into $RESULTS"
summary
