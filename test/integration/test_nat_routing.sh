#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# SNAT and the association subnet's route table on real traffic (semantics.md §2.4-2.5). The subnet
# 198.18.1.0/24 holds the gateway's association address .1, a resource host .10, a router .254 to an
# "on-premises" network 198.18.2.0/24 two hops away, and a NAT router .253 to "the internet" 192.0.2.0/24.
# The gateway's own main table knows neither remote network: only the association's route table (rt-a) can
# take client traffic there. The on-premises host has no route to the client CIDR, the internet host no route
# to anything but its own network: replies only work through SNAT (and the NAT router's own masquerade).
# Then: a route table without a route for the internet keeps it unreachable even once the gateway's main table
# has one, and reverse-path filtering with src_valid_mark=1 (as wg-quick leaves a host) still lets clients
# through such a closed table, and replies back (cvpnd warns when without src_valid_mark it cannot); the tun
# set down and up gets its routes back; and a reload while the association's link is down is applied.
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"
# shellcheck source=test/lib/policy.sh
. "$(dirname "$0")/../lib/policy.sh"

NS_RTR="${PFX}rtr" NS_OP="${PFX}onprem" NS_NAT="${PFX}natrtr" NS_INET="${PFX}inet"
OP_IP=198.18.2.10 INET_IP=192.0.2.10 NAT_OUT=192.0.2.1

pol_topo
sw_attach "$NS_GW" "$ASSOC_IF" br-a "$ASSOC_IP/24"
pol_host "$NS_RES" eth0 br-a "$RES_IP/24"
# on-premises: router 198.18.1.254 <-> 198.18.2.1, host 198.18.2.10 (default via the router)
pol_host "$NS_RTR" eth0 br-a 198.18.1.254/24
pol_host "$NS_RTR" eth1 br-op 198.18.2.1/24
n_exec "$NS_RTR" sysctl -qw net.ipv4.ip_forward=1
pol_host "$NS_OP" eth0 br-op "$OP_IP/24"
ip -n "$NS_OP" route add default via 198.18.2.1
# internet: NAT router 198.18.1.253 <-> 192.0.2.1 masquerading the subnet; host 192.0.2.10, no default route
pol_host "$NS_NAT" eth0 br-a 198.18.1.253/24
pol_host "$NS_NAT" eth1 br-inet "$NAT_OUT/24"
n_exec "$NS_NAT" sysctl -qw net.ipv4.ip_forward=1
n_exec "$NS_NAT" nft -f - <<-EOF
table ip natrtr {
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "eth1" ip saddr 198.18.1.0/24 masquerade
	}
}
EOF
pol_host "$NS_INET" eth0 br-inet "$INET_IP/24"
n_exec "$NS_RES" ping -q -c 1 -W 2 198.18.1.254 >/dev/null || fail "topology: subnet broken"

pol_client alice
pki_make "$TMPD/pki"

natrt_config() { # FILE with-route-table(yes|no|onprem: rt-b, the on-premises route only)
	{
		echo "associations:"
		if [ "$2" = yes ]; then
			echo "  - { name: subnet-a, interface: $ASSOC_IF, subnet: $ASSOC_NET, route-table: rt-a }"
		elif [ "$2" = onprem ]; then
			echo "  - { name: subnet-a, interface: $ASSOC_IF, subnet: $ASSOC_NET, route-table: rt-b }"
		else
			echo "  - { name: subnet-a, interface: $ASSOC_IF, subnet: $ASSOC_NET }"
		fi
		cat <<-EOF
		routes:
		  - { destination: 0.0.0.0/0, target: subnet-a }
		authorization-rules:
		  - { destination: 0.0.0.0/0, all-users: true }
		route-tables:
		  - name: rt-a
		    routes:
		      - { destination: 198.18.2.0/24, via: 198.18.1.254 }
		      - { destination: 0.0.0.0/0, via: 198.18.1.253 }
		  - name: rt-b
		    routes:
		      - { destination: 198.18.2.0/24, via: 198.18.1.254 }
		EOF
	} | pol_config "$1"
}

# One TCP exchange from the client's SPORT to DST:8080; checks what the far end saw as the source.
tcp_src_seen() { # LABEL LISTEN-NS DST SPORT EXPECTED-SRC-ERE WHAT
	local label=$1 got
	tcp_listen "$label" "$2" "$3" 8080 "hi-$label"
	got=$(echo "from-alice" | n_exec "$NS" timeout 5 nc -n -N -w 3 -p "$4" "$3" 8080 2>/dev/null) || true
	bg_wait_exit "$label" 3 || bg_stop "$label" || true
	[ "$got" = "hi-$label" ] || fail "$6: no TCP reply from $3 (got '$got')"
	assert_log "$TMPD/$label.out" "Connection received on $5" "$6"
}

natrt_config "$POL_RUN_CONFIG" yes
server_start "$POL_RUN_CONFIG"
pol_connect alice
NS=${POL_NS[alice]}

assert_match "$(ip -n "$NS_GW" rule show)" "fwmark 0xc50001 lookup 51000" "ip rule: the association's mark selects table 51000"
assert_match "$(ip -n "$NS_GW" route show table 51000)" "198\.18\.2\.0/24 via 198\.18\.1\.254 dev $ASSOC_IF" \
	"table 51000 holds rt-a's on-premises route"
assert_match "$(ip -n "$NS_GW" route show table 51000)" "100\.64\.0\.0/22 dev cvpn-tun[0-9]+ " \
	"table 51000 routes the client CIDR into the tun (for reverse-path checks)"
tcp_src_seen snat "$NS_RES" "$RES_IP" 41234 "$(re_quote "$ASSOC_IP") 41234( |\$)" \
	"SNAT: the resource host sees the association address $ASSOC_IP and the client's source port 41234"
ping_ok "$NS" "$OP_IP" "route table: the on-premises host two hops away answers a ping"
tcp_src_seen onprem "$NS_OP" "$OP_IP" 41235 "$(re_quote "$ASSOC_IP") 41235( |\$)" \
	"route table: TCP to the on-premises host through the router; it sees $ASSOC_IP"
ping_ok "$NS" "$INET_IP" "route table: the internet host answers through the NAT router"
tcp_src_seen inet "$NS_INET" "$INET_IP" 41236 "$(re_quote "$NAT_OUT") [0-9]+" \
	"route table: TCP to the internet host; it sees the NAT router's $NAT_OUT"
ping_denied "$NS_GW" "$OP_IP" "the gateway's own (unmarked) traffic does not use the association's table"

natrt_config "$TMPD/nort.yaml" no
reload_ok "$TMPD/nort.yaml" "association without a route table"
assert_eq "$(ip -n "$NS_GW" route show table 51000 | grep -c via || true)" 0 \
	"table 51000 has no next-hop route once rt-a is gone"
ping_denied "$NS" "$OP_IP" "without rt-a the on-premises network is unreachable (the main table has no route)"
ping_denied "$NS" "$INET_IP" "without rt-a the internet is unreachable"
ping_ok "$NS" "$RES_IP" "without rt-a the subnet itself still answers"

natrt_config "$TMPD/rt.yaml" yes
reload_ok "$TMPD/rt.yaml" "route table back"
ping_ok "$NS" "$OP_IP" "with rt-a back, live session: the on-premises host answers again"
ping_ok "$NS" "$INET_IP" "with rt-a back, live session: the internet host answers again"

# The tun set down and up by hand: the kernel takes the client CIDR's route out of table 51000 with it and
# puts back only the main table's. cvpnd puts its own back: the replies, which carry the association's mark,
# would otherwise follow rt-a's default route to the NAT router.
TUN=$(ip -n "$NS_GW" -o link show | grep -Eo 'cvpn-tun[0-9]+' | head -1)
ip -n "$NS_GW" link set "$TUN" down
expect_log "$SERVER_LOG" "$TUN is down: no client traffic passes" 5 "tun set down: cvpnd says so"
reload_ok "$TMPD/rt.yaml" "reload while the tun is down"
ip -n "$NS_GW" link set "$TUN" up
expect_log "$SERVER_LOG" "$TUN is up again" 5 "tun set up again: cvpnd says so"
assert_match "$(ip -n "$NS_GW" route show table 51000)" "100\.64\.0\.0/22 dev $TUN " \
	"tun up again: table 51000 routes the client CIDR into it again"
ping_ok "$NS" "$OP_IP" "tun down and up: the on-premises host answers again"
# down and up at once, before cvpnd reads the link's state: any link event puts the tables back
printf "link set %s down\nlink set %s up\n" "$TUN" "$TUN" | ip -n "$NS_GW" -batch -
for _ in $(seq 50); do
	ip -n "$NS_GW" route show table 51000 | grep -q "dev $TUN " && break
	sleep 0.1
done
assert_match "$(ip -n "$NS_GW" route show table 51000)" "100\.64\.0\.0/22 dev $TUN " \
	"tun down and up at once: table 51000 routes the client CIDR into it again"
ping_ok "$NS" "$OP_IP" "tun down and up at once: the on-premises host answers again"

# A route table that does not route a destination does not route it, whatever the gateway's own main table
# knows: a miss in table 51000 used to fall through to main (the next ip rule).
ip -n "$NS_GW" route add 192.0.2.0/24 via 198.18.1.253
natrt_config "$TMPD/onprem.yaml" onprem
reload_ok "$TMPD/onprem.yaml" "route table rt-b: the on-premises route only"
assert_match "$(ip -n "$NS_GW" route show table 51000)" "unreachable default .*metric 4294967295" \
	"table 51000 ends in an unreachable default route"
ping_ok "$NS" "$OP_IP" "rt-b: the on-premises host answers"
ping_denied "$NS" "$INET_IP" "rt-b has no route to the internet: not taken from the gateway's main table"
# With src_valid_mark=1 the reverse-path check of a client's packet looks its source up with the packet's
# mark, in table 51000: a closed table without a route back to the clients dropped every client packet.
n_exec "$NS_GW" sysctl -qw net.ipv4.conf.all.src_valid_mark=1 net.ipv4.conf.all.rp_filter=1
ping_ok "$NS" "$RES_IP" "rt-b, strict reverse-path filter with src_valid_mark=1: the subnet answers"
# The replies carry the association's mark too: their source, a network that only the association's table
# reaches (the main table has no route to it at all), was looked up in the main table and dropped.
ping_ok "$NS" "$OP_IP" "rt-b, strict reverse-path filter with src_valid_mark=1: the on-premises host answers"
tcp_src_seen rpf "$NS_OP" "$OP_IP" 41237 "$(re_quote "$ASSOC_IP") 41237( |\$)" \
	"rt-b, strict reverse-path filter with src_valid_mark=1: TCP to the on-premises host"
n_exec "$NS_GW" sysctl -qw net.ipv4.conf.all.rp_filter=2
ping_ok "$NS" "$RES_IP" "rt-b, loose reverse-path filter with src_valid_mark=1: the subnet answers"
ping_ok "$NS" "$OP_IP" "rt-b, loose reverse-path filter with src_valid_mark=1: the on-premises host answers"
# Without src_valid_mark the check looks a reply's source up as the host routes (no mark): the on-premises
# network, unknown to the main table, fails it; cvpnd says so at every start and reload.
n_exec "$NS_GW" sysctl -qw net.ipv4.conf.all.src_valid_mark=0 net.ipv4.conf.all.rp_filter=1
reload_ok "$TMPD/onprem.yaml" "rt-b, strict reverse-path filter without src_valid_mark"
expect_log "$SERVER_LOG" "association subnet-a: the reverse-path filter \(rp_filter=1 on $ASSOC_IF, src_valid_mark off\) drops replies from 198\.18\.2\.0/24: .*net\.ipv4\.conf\.$ASSOC_IF\.src_valid_mark=1" \
	5 "rt-b, strict rp_filter without src_valid_mark: the reload warns that the on-premises replies are dropped"
assert_log "$TMPD/reload.log" "warning: association subnet-a: the reverse-path filter .* drops replies from 198\.18\.2\.0/24" \
	"rt-b, strict rp_filter without src_valid_mark: cvpnctl reload shows the warning too"
ping_denied "$NS" "$OP_IP" "rt-b, strict rp_filter without src_valid_mark: the on-premises host's replies are dropped, as warned"
# A route table's default route is judged by the host's own default route: no warning when it leaves through
# the association's link, a warning when the host has none.
rpf_warnings() { grep -c "reverse-path filter" "$SERVER_LOG" || true; }
rpf_warning_since() { # COUNT: waits for a reverse-path warning after the first COUNT, prints it
	for _ in $(seq 50); do
		[ "$(rpf_warnings)" -gt "$1" ] && break
		sleep 0.1
	done
	grep "reverse-path filter" "$SERVER_LOG" | tail -n +"$(($1 + 1))" | tail -n 1
}
gw_default=$(ip -n "$NS_GW" route show default)
ip -n "$NS_GW" route replace default via 198.18.1.253 dev "$ASSOC_IF"
n_warn=$(rpf_warnings)
reload_ok "$TMPD/rt.yaml" "rt-a, the host's own default route out of $ASSOC_IF"
sleep 0.5
assert_eq "$(rpf_warnings)" "$n_warn" "rt-a, host default route out of $ASSOC_IF: no warning (the host routes all of rt-a out of it)"
ip -n "$NS_GW" route del default
n_warn=$(rpf_warnings)
reload_ok "$TMPD/rt.yaml" "rt-a, no default route on the host"
assert_match "$(rpf_warning_since "$n_warn")" "drops replies from 198\.18\.2\.0/24 and others of its route table" \
	"rt-a, no default route on the host: rt-a's default route is warned about too"
[ -z "$gw_default" ] || ip -n "$NS_GW" route replace $gw_default
n_exec "$NS_GW" sysctl -qw "net.ipv4.conf.$ASSOC_IF.src_valid_mark=1"
n_warn=$(rpf_warnings)
reload_ok "$TMPD/onprem.yaml" "rt-b again, src_valid_mark=1 on $ASSOC_IF as the warning advises"
ping_ok "$NS" "$OP_IP" "rt-b, src_valid_mark=1 on $ASSOC_IF: the on-premises host answers"
sleep 0.5
assert_eq "$(rpf_warnings)" "$n_warn" "rt-b, src_valid_mark=1 on $ASSOC_IF: the reload did not warn"
n_exec "$NS_GW" sysctl -qw "net.ipv4.conf.$ASSOC_IF.src_valid_mark=0"
n_exec "$NS_GW" sysctl -qw net.ipv4.conf.all.src_valid_mark=0 net.ipv4.conf.all.rp_filter=0
natrt_config "$TMPD/nort2.yaml" no
reload_ok "$TMPD/nort2.yaml" "association without a route table, again"
assert_no_log <(ip -n "$NS_GW" route show table 51000) "unreachable" "no unreachable route without a route table"
ping_ok "$NS" "$INET_IP" "without a route table the gateway's own routing applies (its main table knows the internet now)"

# A link set down while no session needs it: a reload is applied (the kernel takes no route through a down
# link, ENETDOWN, which used to fail every reload and any start); its routes come back with the link.
client_stop alice
ip -n "$NS_GW" link set "$ASSOC_IF" down
reload_ok "$TMPD/rt.yaml" "reload while the association's link is down"
ip -n "$NS_GW" link set "$ASSOC_IF" up
expect_log "$SERVER_LOG" "association subnet-a: link $ASSOC_IF is up" 5 "the link is back"
pol_connect alice
NS=${POL_NS[alice]}
ping_ok "$NS" "$OP_IP" "link up again: rt-a's routes are back, the on-premises host answers"

client_stop alice
server_stop
summary
