#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Crash safety: cvpnd is killed with SIGKILL 50 times at random points of a client's connect, of a reload
# (SIGHUP with a changed file) and of a terminate (cvpnctl terminate), in turn. After each kill: the tun is
# gone (no client traffic can enter), and the kernel forwards nothing the host did not forward before cvpnd
# ever ran (the gateway here starts with IPv4 forwarding off: a probe from the outside to the resource host
# must not get through). Each restart must reconcile to the state of a fresh start: `nft list table inet
# cvpn` (counters stripped), `ip rule` and the routes of protocol 197 compared with the first start.
# Bounded: 50 kills or 100 s. CRASH_KILLS=N runs another count.
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"
# shellcheck source=test/lib/flood.sh
. "$(dirname "$0")/../lib/flood.sh"

KILLS=${CRASH_KILLS:-50}
DEADLINE_S=100

# The kernel state cvpnd owns, comparable between runs (counters and set element expiry stripped).
kernel_state() {
	n_exec "$NS_GW" nft list table inet cvpn 2>&1 |
		sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter/; s/ expires [0-9a-z]+//'
	echo "-- ip rule"
	n_exec "$NS_GW" ip rule
	echo "-- routes proto 197"
	n_exec "$NS_GW" ip route show table all | grep -w 'proto 197' || true
}

# A packet from the outside (not through the tunnel: bound to veth0, whatever a still running client routed
# into its tun) to the resource host: does the gateway forward it?
probe_forwarded() {
	local before
	before=$(res_echos)
	n_exec "$NS_CLI" ping -q -c 1 -W 0.3 -I veth0 "$RES_IP" >/dev/null 2>&1 || true
	[ "$(res_echos)" != "$before" ]
}

rand_ms() { echo "scale=3; $((RANDOM % $1)) / 1000" | bc; }

topo_basic
pki_make "$TMPD/pki"
n_exec "$NS_GW" sysctl -qw net.ipv4.ip_forward=0
probe_forwarded && fail "baseline: with forwarding off the gateway forwards outside -> resource"
ok "baseline: the gateway (forwarding off, no cvpnd) does not forward outside -> resource"

write_endpoint_config "$TMPD/a.yaml"
# B: what a reload changes (a narrower extra authorization rule, a banner, another keepalive)
write_endpoint_config "$TMPD/b.yaml"
cat >>"$TMPD/b.yaml" <<EOF
  - destination: 198.18.1.128/25
    all-users: true
    description: reloaded
EOF
sed -i 's/^  dns-servers:.*/&\n  banner: "reloaded"\n  keepalive: { interval: 5s, timeout: 30s }/' "$TMPD/b.yaml"
"$CVPND" --check -c "$TMPD/b.yaml" >/dev/null || fail "config B is not valid: $("$CVPND" --check -c "$TMPD/b.yaml" 2>&1)"
cp "$TMPD/a.yaml" "$TMPD/endpoint.yaml"
server_start "$TMPD/endpoint.yaml"
export_client "$TMPD/endpoint.yaml"
kernel_state >"$TMPD/state.ref"
grep -q 'table inet cvpn' "$TMPD/state.ref" || fail "no table inet cvpn after a fresh start"
ok "reference state of a fresh start recorded ($(wc -l <"$TMPD/state.ref") lines)"
server_stop

tun_left=0
forwarded=0
unreconciled=0
kills=0
start=$(date +%s)
for ((i = 0; i < KILLS; i++)); do
	[ $(( $(date +%s) - start )) -lt "$DEADLINE_S" ] || break
	cp "$TMPD/a.yaml" "$TMPD/endpoint.yaml"
	server_start "$TMPD/endpoint.yaml" >/dev/null
	if [ "$i" -gt 0 ] && ! kernel_state | diff -u "$TMPD/state.ref" - >"$TMPD/diff.$i"; then
		unreconciled=$((unreconciled + 1))
		log "restart after kill $i: state differs from a fresh start:"
		sed 's/^/    /' "$TMPD/diff.$i"
	fi
	case $((i % 3)) in
	0) # during a client's connect
		what=connect
		client_start "cli$i" "$NS_CLI" alice
		sleep "$(rand_ms 1500)"
		;;
	1) # during a reload that changes the ruleset
		what=reload
		cp "$TMPD/b.yaml" "$TMPD/endpoint.yaml"
		kill -HUP "$(bg_pid cvpnd)"
		sleep "$(rand_ms 300)"
		;;
	2) # during a terminate
		what=terminate
		client_start "cli$i" "$NS_CLI" alice
		wait_for_log "$(client_log "cli$i")" 'Initialization Sequence Completed' 10 ||
			fail "kill $i: client did not connect"
		( "$CVPNCTL" --socket "$CTL_SOCK" terminate --username alice >/dev/null 2>&1 & )
		sleep "$(rand_ms 200)"
		;;
	esac
	bg_stop cvpnd KILL || true
	kills=$((kills + 1))
	if n_exec "$NS_GW" ip -o link show | grep -q 'cvpn-tun'; then
		tun_left=$((tun_left + 1))
		log "kill $i ($what): a cvpn tun is still there"
	fi
	if probe_forwarded; then
		forwarded=$((forwarded + 1))
		[ "$forwarded" -le 3 ] && log "kill $i ($what): outside -> resource forwarded (ip_forward=$(n_exec "$NS_GW" sysctl -n net.ipv4.ip_forward))"
	fi
	[ -n "$(bg_pid "cli$i")" ] && { bg_stop "cli$i" || true; }
done
log "$kills kills in $(( $(date +%s) - start )) s: tun left $tun_left, outside traffic forwarded after $forwarded, restarts not reconciled $unreconciled"
[ "$kills" -ge "$KILLS" ] || fail "only $kills of $KILLS kills within $DEADLINE_S s"
ok "$kills SIGKILLs (connect, reload, terminate in turn)"
assert_eq "$tun_left" 0 "no tun survived a kill: no client traffic can enter"
assert_eq "$unreconciled" 0 "every restart reconciled to the state of a fresh start"

# the last kill's leftovers, then a clean start and stop
cp "$TMPD/a.yaml" "$TMPD/endpoint.yaml"
server_start "$TMPD/endpoint.yaml"
kernel_state | diff -u "$TMPD/state.ref" - >"$TMPD/diff.last" || fail "last restart: $(cat "$TMPD/diff.last")"
ok "restart after the last kill reconciled"
client_start final "$NS_CLI" alice
client_wait_up final
assert_cmd "a client works after all that" n_exec "$NS_CLI" ping -q -c 2 -i 0.2 -W 2 -w 4 "$RES_IP"
client_stop final
server_stop
assert_eq "$forwarded" 0 "after no kill did the kernel forward outside -> resource (forwarding was off)"
assert_eq "$(n_exec "$NS_GW" sysctl -n net.ipv4.ip_forward)" 0 \
	"after the last clean stop IPv4 forwarding is off again, as before cvpnd ran"
summary
