#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Network ACLs on real traffic (semantics.md §2.6): numbered rules evaluated lowest first whatever their order
# in the file, first match wins, implicit final deny; outbound and inbound both stateless - without an inbound
# allow for the ephemeral ports the return traffic of an allowed TCP connection dies, with it the connection
# works, and removing an outbound allow cuts an established connection at its next packet; no ACL evaluation
# between the association address and a host of the same subnet.
# Topology: subnet 198.18.1.0/24 (gateway .1, resource host .10, router .254) and, behind the router, the
# on-premises network 198.18.2.0/24 (host .10), reached through the association's route table.
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"
# shellcheck source=test/lib/policy.sh
. "$(dirname "$0")/../lib/policy.sh"

NS_RTR="${PFX}rtr" NS_OP="${PFX}onprem"
OP_IP=198.18.2.10

pol_topo
sw_attach "$NS_GW" "$ASSOC_IF" br-a "$ASSOC_IP/24"
pol_host "$NS_RES" eth0 br-a "$RES_IP/24"
pol_host "$NS_RTR" eth0 br-a 198.18.1.254/24
pol_host "$NS_RTR" eth1 br-op 198.18.2.1/24
n_exec "$NS_RTR" sysctl -qw net.ipv4.ip_forward=1
pol_host "$NS_OP" eth0 br-op "$OP_IP/24"
ip -n "$NS_OP" route add default via 198.18.2.1
pol_client alice
pki_make "$TMPD/pki"
for p in 8080 8081 8082; do pol_listen "$NS_OP" "$OP_IP" "$p"; done
pol_listen "$NS_RES" "$RES_IP" 8080

# FILE INBOUND-EPHEMERAL(yes|no) OUTBOUND-8090(yes|no)
acl_config() {
	{
		cat <<-EOF
		associations:
		  - { name: subnet-a, interface: $ASSOC_IF, subnet: $ASSOC_NET, network-acl: acl-a, route-table: rt-a }
		routes:
		  - { destination: 198.18.2.0/24, target: subnet-a }
		authorization-rules:
		  - { destination: 198.18.0.0/15, all-users: true }
		route-tables:
		  - name: rt-a
		    routes: [ { destination: 198.18.2.0/24, via: 198.18.1.254 } ]
		network-acls:
		  - name: acl-a
		    outbound:
		      - { rule: 200, action: deny, protocol: tcp, ports: 8080, cidr: $OP_IP/32 }
		      - { rule: 100, action: allow, protocol: tcp, ports: 8080, cidr: 198.18.2.0/24 }
		      - { rule: 120, action: allow, protocol: tcp, ports: 8081, cidr: 198.18.2.0/24 }
		      - { rule: 110, action: deny, protocol: tcp, ports: 8081-8081, cidr: 0.0.0.0/0 }
		      - { rule: 300, action: allow, protocol: icmp, cidr: 0.0.0.0/0 }
		EOF
		[ "$3" = no ] || echo "      - { rule: 130, action: allow, protocol: tcp, ports: 8090, cidr: 198.18.2.0/24 }"
		cat <<-EOF
		    inbound:
		      - { rule: 100, action: allow, protocol: icmp, cidr: 0.0.0.0/0 }
		EOF
		[ "$2" = no ] || echo "      - { rule: 110, action: allow, protocol: tcp, ports: 1024-65535, cidr: 198.18.2.0/24 }"
	} | pol_config "$1"
}

acl_config "$POL_RUN_CONFIG" yes yes
cp "$POL_RUN_CONFIG" "$TMPD/full.yaml"
server_start "$POL_RUN_CONFIG"
pol_connect alice
NS=${POL_NS[alice]}

log "ACL with the inbound ephemeral-port rule"
tcp_ok "$NS" "$OP_IP" 8080 "numbered order: rule 100 (allow 8080) decides before rule 200 (deny), though written after it"
tcp_denied "$NS" "$OP_IP" 8081 "first match: rule 110 (deny 8081) wins over the later rule 120 (allow 8081)"
tcp_denied "$NS" "$OP_IP" 8082 "implicit deny: no rule names tcp 8082"
ping_ok "$NS" "$OP_IP" "icmp out (rule 300) and back (inbound rule 100)"
tcp_ok "$NS" "$RES_IP" 8080 "same subnet: no ACL evaluation (no outbound rule names $RES_IP, yet it passes)"
assert_match "$(nft_rule_packets '^ACL acl-a outbound rule 110 deny')" '^[1-9]' "the 8081 SYNs counted on outbound rule 110"
assert_match "$(nft_rule_packets '^ACL acl-a outbound implicit deny')" '^[1-9]' "the 8082 SYNs counted on the outbound implicit deny"

# outbound is stateless too: an established connection dies at its next packet when its allow goes away
: >"$TMPD/stream.recv"
( exec ip netns exec "$NS_OP" nc -n -l "$OP_IP" 8090 >"$TMPD/stream.recv" ) 2>/dev/null &
CVPN_PIDS[stream-rx]=$!
sleep 0.2
# shellcheck disable=SC2016 # $i and $(seq) expand in the inner shell
bg_start stream-tx n_exec "$NS" bash -c 'for i in $(seq 1 80); do echo line-$i; sleep 0.1; done | nc -n -w 1 '"$OP_IP"' 8090'
sleep 1.5
before=$(wc -l <"$TMPD/stream.recv")
[ "$before" -ge 5 ] || fail "the established stream to 8090 did not get going ($before lines)"
ok "an established TCP stream to 8090 flows ($before lines)"
acl_config "$TMPD/no8090.yaml" yes no
reload_ok "$TMPD/no8090.yaml" "outbound rule 130 (8090) removed"
sleep 0.3
c1=$(wc -l <"$TMPD/stream.recv")
sleep 1.5
c2=$(wc -l <"$TMPD/stream.recv")
assert_eq "$c2" "$c1" "stateless outbound: the established stream stops at once (no conntrack exemption)"
bg_stop stream-tx || true
bg_stop stream-rx || true

log "ACL without the inbound ephemeral-port rule"
acl_config "$TMPD/noeph.yaml" no yes
reload_ok "$TMPD/noeph.yaml" "inbound rule 110 (tcp 1024-65535) removed"
in0=$(nft_rule_packets '^ACL acl-a inbound implicit deny')
out0=$(nft_rule_packets '^ACL acl-a outbound rule 100 allow')
tcp_denied "$NS" "$OP_IP" 8080 "stateless inbound: the SYN goes out but the SYN-ACK to the ephemeral port dies"
in1=$(nft_rule_packets '^ACL acl-a inbound implicit deny')
out1=$(nft_rule_packets '^ACL acl-a outbound rule 100 allow')
[ "$out1" -gt "$out0" ] || fail "the SYN was not counted on outbound rule 100 ($out0 -> $out1)"
ok "the SYN left through outbound rule 100 ($out0 -> $out1)"
[ "$in1" -gt "$in0" ] || fail "the SYN-ACK was not counted on the inbound implicit deny ($in0 -> $in1)"
ok "the SYN-ACK died on the inbound implicit deny ($in0 -> $in1)"
ping_ok "$NS" "$OP_IP" "icmp still passes both ways (its inbound rule is there)"
tcp_ok "$NS" "$RES_IP" 8080 "same subnet: the missing inbound rule does not matter (no ACL evaluation)"

reload_ok "$TMPD/full.yaml" "inbound rule 110 back"
tcp_ok "$NS" "$OP_IP" 8080 "with the inbound ephemeral-port rule the same connection works again"

client_stop alice
server_stop
summary
