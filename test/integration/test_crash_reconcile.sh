#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Crash and restart, policy side (issue 3): after `kill -9` of cvpnd, traffic from the client CIDR is not
# forwarded - not the stock client's (its tunnel is gone) nor packets carrying a client address that arrive
# another way; a restarted cvpnd reconciles: its own leftovers (table inet cvpn with the dead run's session
# elements, ip rules at 5100+, routes of protocol 0xc5 in tables 51000+, including those of an association that
# no longer exists) are removed and rebuilt, while an unrelated nft table (even one named cvpn in another
# family), ip rules next to its priority range and routes that are not its own (even in a table number of its
# range) stay untouched - across the restart and a clean stop.
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"
# shellcheck source=test/lib/policy.sh
. "$(dirname "$0")/../lib/policy.sh"

NS_SPOOF="${PFX}spoof"

pol_topo
sw_attach "$NS_GW" "$ASSOC_IF" br-a "$ASSOC_IP/24"
pol_host "$NS_RES" eth0 br-a "$RES_IP/24"
pol_client alice
# a host on the outside network that sends with an address of the client CIDR
ns_create "$NS_SPOOF"
veth_pair "$NS_SPOOF" veth0 "$NS_GW" c-spoof
ip -n "$NS_GW" link set c-spoof master outside
ip -n "$NS_SPOOF" addr add 203.0.113.99/24 dev veth0
ip -n "$NS_SPOOF" addr add 100.64.3.200/32 dev veth0
ip -n "$NS_SPOOF" route add "$ASSOC_NET" via "$GW_OUT_IP" src 100.64.3.200
pki_make "$TMPD/pki"

# the resource host counts every echo request it receives
n_exec "$NS_RES" nft -f - <<-EOF
table inet probe {
	chain in {
		type filter hook input priority 0; policy accept;
		icmp type echo-request counter comment "echo requests"
	}
}
EOF
echo_requests() {
	n_exec "$NS_RES" nft list table inet probe | sed -nE 's/.*counter packets ([0-9]+) .*/\1/p'
}

pol_config "$POL_RUN_CONFIG" <<-EOF
associations:
  - { name: subnet-a, interface: $ASSOC_IF, subnet: $ASSOC_NET }
authorization-rules:
  - { destination: $ASSOC_NET, all-users: true }
EOF

# What cvpnd does not own, made before it starts.
n_exec "$NS_GW" nft -f - <<-EOF
table inet unrelated {
	set keep {
		type ipv4_addr
		elements = { 192.0.2.7 }
	}
	chain other_forward {
		type filter hook forward priority 10; policy accept;
		ip daddr @keep counter
	}
}
table ip cvpn {
	chain c {
		counter comment "not cvpnd's: another family"
	}
}
EOF
ip -n "$NS_GW" rule add priority 5099 fwmark 0x1234 lookup 51010
ip -n "$NS_GW" rule add priority 5400 from 198.51.100.0/24 lookup main
ip -n "$NS_GW" route add 198.51.100.0/24 via "$RES_IP" table 51010 proto static
ip -n "$NS_GW" route add 198.51.100.0/24 via "$RES_IP"
unrelated_state() {
	{
		n_exec "$NS_GW" nft list table inet unrelated | sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter/'
		n_exec "$NS_GW" nft list table ip cvpn | sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter/'
		ip -n "$NS_GW" rule show | grep -E '^(5099|5400):'
		ip -n "$NS_GW" route show table 51010
		ip -n "$NS_GW" route show 198.51.100.0/24
	} 2>&1
}
unrelated_state >"$TMPD/unrelated.before"

server_start "$POL_RUN_CONFIG"
pol_connect alice
NA=${POL_NS[alice]} A=${POL_ADDR[alice]}
ping_ok "$NA" "$RES_IP" "before the crash alice reaches the resource host"
r0=$(echo_requests)
n_exec "$NS_SPOOF" ping -q -c 3 -i 0.2 -W 1 "$RES_IP" >/dev/null 2>&1 || true
r1=$(echo_requests)
soft_assert_eq "$(( r1 - r0 ))" 0 "while cvpnd runs, packets with a client-CIDR source from the outside network are not forwarded (echo requests at the resource host)"

# --- kill -9 ---
kill -KILL "$(bg_pid cvpnd)"
bg_wait_exit cvpnd 5 || fail "cvpnd survived kill -9"
ok "cvpnd killed with SIGKILL"
n_exec "$NS_GW" nft list table inet cvpn >/dev/null 2>&1 && log "after kill -9: table inet cvpn is still there (leftover)"
r0=$(echo_requests)
n_exec "$NA" ping -q -c 3 -i 0.2 -W 1 "$RES_IP" >/dev/null 2>&1 || true
r1=$(echo_requests)
assert_eq "$(( r1 - r0 ))" 0 "after kill -9 nothing of alice's client traffic reaches the resource host"
n_exec "$NS_SPOOF" ping -q -c 3 -i 0.2 -W 1 "$RES_IP" >/dev/null 2>&1 || true
r2=$(echo_requests)
soft_assert_eq "$(( r2 - r1 ))" 0 "after kill -9 packets with a client-CIDR source from the outside network are not forwarded"

# Leftovers of an earlier, bigger configuration of cvpnd's own: a second association's table and rule.
ip -n "$NS_GW" route add 198.18.99.0/24 via "$RES_IP" table 51003 proto 0xc5
ip -n "$NS_GW" rule add priority 5103 fwmark 0xc50004 lookup 51003
stale=$(n_exec "$NS_GW" nft list map inet cvpn sess_assoc 2>/dev/null | grep -c "$(re_quote "$A")" || true)
log "leftover session elements for $A in sess_assoc: $stale"

# --- restart ---
client_stop alice
server_start "$POL_RUN_CONFIG"
assert_eq "$(n_exec "$NS_GW" nft list map inet cvpn sess_assoc | grep -c "$(re_quote "$A")" || true)" 0 \
	"restarted: no session element of the dead run is left in sess_assoc"
assert_eq "$(ip -n "$NS_GW" route show table 51003)" "" "restarted: the leftover routing table 51003 (proto 0xc5) is gone"
assert_eq "$(ip -n "$NS_GW" rule show | grep -cE '^5103:' || true)" 0 "restarted: the leftover ip rule 5103 is gone"
assert_eq "$(ip -n "$NS_GW" rule show | grep -cE '^5100:' || true)" 1 "restarted: exactly one ip rule at 5100 (rebuilt, not duplicated)"
assert_match "$(ip -n "$NS_GW" rule show | grep -E '^5100:')" "fwmark 0xc50001 lookup 51000" "restarted: rule 5100 selects table 51000"
assert_eq "$(ip -n "$NS_GW" route show table 51000 | grep -v ' dev cvpn-tun[0-9]* ')" \
	"$ASSOC_NET dev $ASSOC_IF proto 197 scope link src $ASSOC_IP " "restarted: table 51000 holds the subnet route once"
assert_eq "$(ip -n "$NS_GW" route show table 51000 | grep -c ' dev cvpn-tun[0-9]* ' || true)" 1 \
	"restarted: and the client CIDR's route into the tun once"
assert_eq "$(n_exec "$NS_GW" nft list tables | grep -c '^table inet cvpn$')" 1 "restarted: one table inet cvpn"
unrelated_state >"$TMPD/unrelated.after"
cmp -s "$TMPD/unrelated.before" "$TMPD/unrelated.after" ||
	fail "the restart touched what is not cvpnd's: $(diff "$TMPD/unrelated.before" "$TMPD/unrelated.after" | head -8)"
ok "unrelated nft tables (inet unrelated, ip cvpn), ip rules 5099/5400 and routes (table 51010 proto static, main) untouched"

pol_connect alice
ping_ok "$NA" "$RES_IP" "after the restart alice reconnects and reaches the resource host"

client_stop alice
server_stop
unrelated_state >"$TMPD/unrelated.stop"
cmp -s "$TMPD/unrelated.before" "$TMPD/unrelated.stop" ||
	fail "the clean stop touched what is not cvpnd's: $(diff "$TMPD/unrelated.before" "$TMPD/unrelated.stop" | head -8)"
ok "a clean stop leaves the unrelated objects alone too"
assert_eq "$(ip -n "$NS_GW" rule show | grep -cE '^51[0-9][0-9]:' || true)" 0 "a clean stop removes cvpnd's ip rules"
pol_summary
