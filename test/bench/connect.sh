#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Connect benchmark: the load generator opens N sessions (certificate auth, full key exchange, data keys)
# against the stock OpenVPN 2.6 server and then cvpnd, same topology and client CIDR (/21), and reports
# sessions/s, time to N, failures and the gateway's resident memory per idle session. Merges
# connect.{cvpnd,openvpn}.* into bench-results.json. Bounded by the load generator's --timeout.
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

start_stock_openvpn_server udp --server 100.64.0.0 255.255.248.0 --max-clients 2100 --duplicate-cn \
	--connect-freq-initial 100000 10
run_loadgen openvpn "$(bg_pid openvpn-server)"
bg_stop openvpn-server >/dev/null 2>&1 || true
n_exec "$NS_GW" nft delete table ip cvpnstock

server_start "$TMPD/endpoint.yaml"
run_loadgen cvpnd "$(bg_pid cvpnd)"
server_stop

printf '\n%-26s %12s %12s %8s\n' "connect (N=$N, $CONC in flight)" cvpnd OpenVPN ratio
for k in sessions_per_s seconds_to_n rss_kib_per_session sessions_failed; do
	a=$(jq ".$k // \"n/a\"" "$TMPD/cvpnd.json")
	b=$(jq ".$k // \"n/a\"" "$TMPD/openvpn.json")
	printf '%-26s %12s %12s %8s\n' "$k" "$a" "$b" \
		"$(awk -v a="$a" -v b="$b" 'BEGIN { if (b + 0 > 0) printf "%.2f", a / b; else print "n/a" }')"
done

[ -s "$RESULTS" ] || echo '{}' >"$RESULTS"
tmp=$(mktemp)
jq --slurpfile c "$TMPD/cvpnd.json" --slurpfile o "$TMPD/openvpn.json" \
	'.connect = { cvpnd: ($c[0] | {sessions_per_s, seconds_to_2000: .seconds_to_n, rss_kib_per_session,
	  established: .sessions_established, failed: .sessions_failed}), openvpn: ($o[0] | {sessions_per_s,
	  seconds_to_2000: .seconds_to_n, rss_kib_per_session, established: .sessions_established,
	  failed: .sessions_failed}) }' "$RESULTS" >"$tmp" && mv "$tmp" "$RESULTS"
log "figures merged into $RESULTS"
summary
