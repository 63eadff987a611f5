#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Failover between associations on real traffic (semantics.md §3): two gateway interfaces in two subnets,
# each with a router to the same resource network 198.18.2.0/24 and the same client-VPN routes. A session is
# placed on one; when that interface goes down its traffic (a ping every 0.1 s that never stops) continues
# through the other within 2 s, with the other association's SNAT address; when the link comes back the
# session returns ("traffic moved"). Also: `cvpnctl check` warns when associations have different routes.
#
#   gw cvpn-a 198.18.1.1 --br-a-- 198.18.1.254 rtr-a 198.18.2.1 --br-r-- 198.18.2.10 host
#   gw cvpn-b 198.18.3.1 --br-b-- 198.18.3.254 rtr-b 198.18.2.2 --br-r--/
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"
# shellcheck source=test/lib/policy.sh
. "$(dirname "$0")/../lib/policy.sh"

NS_RA="${PFX}rtra" NS_RB="${PFX}rtrb" NS_HOST="${PFX}host"
HOST_IP=198.18.2.10
declare -A IFN=([subnet-a]=cvpn-a [subnet-b]=cvpn-b) SNAT=([subnet-a]=198.18.1.1 [subnet-b]=198.18.3.1)
declare -A MARK=([0x00c50001]=subnet-a [0x00c50002]=subnet-b)

pol_topo
sw_attach "$NS_GW" cvpn-a br-a 198.18.1.1/24
sw_attach "$NS_GW" cvpn-b br-b 198.18.3.1/24
pol_host "$NS_RA" eth0 br-a 198.18.1.254/24
pol_host "$NS_RA" eth1 br-r 198.18.2.1/24
pol_host "$NS_RB" eth0 br-b 198.18.3.254/24
pol_host "$NS_RB" eth1 br-r 198.18.2.2/24
n_exec "$NS_RA" sysctl -qw net.ipv4.ip_forward=1
n_exec "$NS_RB" sysctl -qw net.ipv4.ip_forward=1
pol_host "$NS_HOST" eth0 br-r "$HOST_IP/24"
ip -n "$NS_HOST" route add 198.18.1.0/24 via 198.18.2.1
ip -n "$NS_HOST" route add 198.18.3.0/24 via 198.18.2.2
pol_client alice
pki_make "$TMPD/pki"

fo_config() { # FILE [extra route line]
	pol_config "$1" <<-EOF
	associations:
	  - { name: subnet-a, interface: cvpn-a, subnet: 198.18.1.0/24, route-table: rt-a }
	  - { name: subnet-b, interface: cvpn-b, subnet: 198.18.3.0/24, route-table: rt-b }
	routes:
	  - { destination: 198.18.2.0/24, target: subnet-a, description: "resources via a" }
	  - { destination: 198.18.2.0/24, target: subnet-b, description: "resources via b" }
	  - { destination: 198.18.3.0/24, target: subnet-a }
	  - { destination: 198.18.1.0/24, target: subnet-b }
	  ${2:-}
	authorization-rules:
	  - { destination: 198.18.0.0/15, all-users: true }
	route-tables:
	  - name: rt-a
	    routes: [ { destination: 198.18.2.0/24, via: 198.18.1.254 } ]
	  - name: rt-b
	    routes: [ { destination: 198.18.2.0/24, via: 198.18.3.254 } ]
	EOF
}

# the route-set check: identical sets pass quietly, a route through one association only is warned about
fo_config "$TMPD/uneven.yaml" "- { destination: 198.18.64.0/24, target: subnet-a }"
out=$("$CVPNCTL" check "$TMPD/uneven.yaml" 2>&1) || fail "uneven routes refused: $out"
assert_match "$out" "warning" "cvpnctl check warns when a route goes through some associations only ($(echo "$out" | grep -m1 warning))"
fo_config "$POL_RUN_CONFIG"
out=$("$CVPNCTL" check "$POL_RUN_CONFIG" 2>&1) || fail "config refused: $out"
assert_eq "$(echo "$out" | grep -c warning || true)" 0 "no warning when both associations have the same routes"

server_start "$POL_RUN_CONFIG"
pol_connect alice
NS=${POL_NS[alice]} A=${POL_ADDR[alice]}

mark=$(assoc_mark_of "$A")
HOME_A=${MARK[$mark]:-}
[ -n "$HOME_A" ] || fail "alice's address $A has no association mark in sess_assoc (got '$mark')"
ok "the session is placed on one association: $HOME_A (mark $mark)"
if [ "$HOME_A" = subnet-a ]; then OTHER=subnet-b; else OTHER=subnet-a; fi

# Checks who the host sees as source of a fresh TCP connection: the SNAT address of the association in use.
src_seen() { # LABEL EXPECTED WHAT
	local got
	tcp_listen "$1" "$NS_HOST" "$HOST_IP" 8080 "hi"
	echo hello | n_exec "$NS" timeout 5 nc -n -N -w 3 "$HOST_IP" 8080 >/dev/null 2>&1 || true
	bg_wait_exit "$1" 3 || bg_stop "$1" || true
	got=$(sed -nE 's/.*Connection received on ([0-9.]+) .*/\1/p' "$TMPD/$1.out")
	assert_eq "$got" "$2" "$3"
}
ping_ok "$NS" "$HOST_IP" "the resource host answers through $HOME_A"
src_seen src-home "${SNAT[$HOME_A]}" "before the failover the host sees $HOME_A's address"

# a ping every 0.1 s, 140 of them (a count, not -w: with a deadline ping stops at the first ICMP error);
# the link goes down after ~3 s and comes back 5 s later
bg_start ping n_exec "$NS" ping -n -D -O -i 0.1 -c 140 "$HOST_IP"
sleep 3
m=$(log_mark "$SERVER_LOG")
ip -n "$NS_GW" link set "${IFN[$HOME_A]}" down
t_down=$(date +%s%N)
wait_for_log_since "$SERVER_LOG" "$m" "traffic moved from association $HOME_A to $OTHER" 2 ||
	fail "no 'traffic moved' to $OTHER within 2 s of ${IFN[$HOME_A]} going down"
ok "link down: cvpnd logged traffic moved from $HOME_A to $OTHER"
assert_eq "$(assoc_mark_of "$A")" "$(for k in "${!MARK[@]}"; do [ "${MARK[$k]}" = "$OTHER" ] && echo "$k"; done)" \
	"the session's mark is now $OTHER's"
sleep 1
src_seen src-other "${SNAT[$OTHER]}" "a new connection during the failover leaves by $OTHER (the host sees its address)"
while [ $(( $(date +%s%N) - t_down )) -lt 5000000000 ]; do sleep 0.1; done
m=$(log_mark "$SERVER_LOG")
ip -n "$NS_GW" link set "${IFN[$HOME_A]}" up
t_up=$(date +%s%N)
wait_for_log_since "$SERVER_LOG" "$m" "traffic moved from association $OTHER to $HOME_A" 3 ||
	fail "no 'traffic moved' back to $HOME_A within 3 s of its link coming back"
ok "link up: cvpnd logged traffic moved back to $HOME_A"
assert_eq "$(assoc_mark_of "$A")" "$mark" "the session's mark is $HOME_A's again"
bg_wait_exit ping 20 || fail "the continuous ping did not end"
t_end=$(date +%s%N)
ip -n "$NS_GW" route show table 51000 >"$TMPD/table51000.after"

# The continuous ping: for each event, how long until the next reply; and the longest silence overall.
sed -nE 's/^\[([0-9.]+)\] [0-9]+ bytes from .*/\1/p' "$TMPD/ping.out" >"$TMPD/replies"
read -r nrep gap_down gap_up gap_max < <(awk -v d="$t_down" -v u="$t_up" -v e="$t_end" '
	function next_after(t,   i) { for (i = 1; i <= n; i++) if (r[i] > t) return r[i] - t; return e - t }
	{ r[++n] = $1 * 1e9 }
	END {
		max = 0
		for (i = 2; i <= n; i++) if (r[i] - r[i - 1] > max) max = r[i] - r[i - 1]
		if (n && e - r[n] > max) max = e - r[n]
		printf "%d %d %d %d\n", n, next_after(d) / 1e6, next_after(u) / 1e6, max / 1e6
	}' "$TMPD/replies")
log "continuous ping: $nrep replies of 140; first reply $gap_down ms after link down, $gap_up ms after link up; longest silence $gap_max ms"
[ "$gap_down" -le 2000 ] || fail "link down: no reply for $gap_down ms: traffic did not continue through $OTHER within 2 s"
ok "link down: the continuous ping got its next reply $gap_down ms later (<= 2 s)"
[ "$gap_up" -le 2000 ] || fail "link up: no reply for $gap_up ms after $HOME_A came back (table 51000 then: '$(tr '\n' ';' <"$TMPD/table51000.after")')"
ok "link up: the continuous ping got its next reply $gap_up ms later (<= 2 s)"
[ "$gap_max" -le 2100 ] || fail "the continuous ping had a silence of $gap_max ms"
ok "the continuous ping never went silent for more than 2 s ($gap_max ms)"
src_seen src-back "${SNAT[$HOME_A]}" "after the link returns the host sees $HOME_A's address again"

client_stop alice
server_stop
summary
