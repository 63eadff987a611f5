#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Forwarding benchmark: plain kernel forwarding through the gateway namespace (no tunnel), outside host ->
# resource host with iperf3, first with no cvpn table and then with the large benchmark policy (1,000
# authorization rules, 500 routes, 100 security-group rules, 200 ACL entries, 2,000 sessions) loaded.
# Merges policy.forward_ratio (and the policy.* figures of bench_policy) into bench-results.json.
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

SECS=${BENCH_SECONDS:-6}
RESULTS=${BENCH_RESULTS:-$(cd "$(dirname "$0")/../.." && pwd)/bench-results.json}
BENCH_POLICY="$CVPN_BUILD/bench_policy"
[ -x "$BENCH_POLICY" ] || fail "no $BENCH_POLICY (make bench builds it)"

gbps() {
	n_exec "$NS_CLI" timeout $((SECS + 15)) iperf3 -c "$RES_IP" -t "$SECS" -J |
		jq -r '.end.sum_received | .bytes * 8 / .seconds / 1e9'
}

# The policy benchmark itself (private namespace): apply time and per-session update cost.
policy_json=$("$BENCH_POLICY" | tee /dev/stderr | tail -n 1)

topo_basic
# plain routing between the outside and the resource subnet: the resource host needs a way back
ip -n "$NS_RES" route add 203.0.113.0/24 via "$ASSOC_IP"
bg_start iperf3-server n_exec "$NS_RES" iperf3 -s -B "$RES_IP"
sleep 0.3
base=$(gbps)
log "no cvpn table: $base Gbit/s"
n_exec "$NS_GW" "$BENCH_POLICY" --load "$ASSOC_IF" "$ASSOC_IP" | sed "s/^/[$TEST_NAME] /"
loaded=$(gbps)
log "with the benchmark policy loaded: $loaded Gbit/s"
n_exec "$NS_GW" nft delete table inet cvpn
ratio=$(awk -v a="$loaded" -v b="$base" 'BEGIN { printf "%.3f", a / b }')
printf '\nforwarding, no tunnel (%s s): %.2f Gbit/s without the table, %.2f with it: ratio %s\n' "$SECS" "$base" \
	"$loaded" "$ratio"

[ -s "$RESULTS" ] || echo '{}' >"$RESULTS"
tmp=$(mktemp)
jq --argjson p "$policy_json" --argjson r "$ratio" --argjson b "$base" --argjson l "$loaded" \
	'.policy = { apply_ms: $p.apply_ms, compile_ms: $p.compile_ms, profiles: $p.profiles,
	  session_update_us_100: $p.session_update_us_100, session_update_us_10000: $p.session_update_us_10000,
	  forward_ratio: $r, forward_gbps_without: $b, forward_gbps_with: $l }' "$RESULTS" >"$tmp" &&
	mv "$tmp" "$RESULTS"
log "figures merged into $RESULTS"
summary
