#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Security groups on real traffic (semantics.md §2.3): egress filtering by protocol, port and destination;
# stateful (the reply to an allowed connection passes with no inbound rule, while a connection opened from the
# subnet towards a client dies); several groups add up; at most 5 per association; no group = open egress.
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"
# shellcheck source=test/lib/policy.sh
. "$(dirname "$0")/../lib/policy.sh"

RES2=198.18.1.11

pol_topo
sw_attach "$NS_GW" "$ASSOC_IF" br-a "$ASSOC_IP/24"
pol_host "$NS_RES" eth0 br-a "$RES_IP/24"
ip -n "$NS_RES" addr add "$RES2/24" dev eth0
# the resource host may send to the client CIDR through the gateway: only the gateway's policy stops it
ip -n "$NS_RES" route add 100.64.0.0/22 via "$ASSOC_IP"
pol_client alice
pki_make "$TMPD/pki"
for p in 8080 8081; do pol_listen "$NS_RES" 0.0.0.0 "$p"; done
for p in 5353 8080; do pol_listen_udp "$NS_RES" 0.0.0.0 "$p"; done

sg_config() { # FILE "SG-LIST" (names for the association; the groups are always defined)
	pol_config "$1" <<-EOF
	associations:
	  - { name: subnet-a, interface: $ASSOC_IF, subnet: $ASSOC_NET, security-groups: [$2] }
	authorization-rules:
	  - { destination: 198.18.0.0/15, all-users: true }
	security-groups:
	  - name: sg-web
	    egress:
	      - { protocol: tcp, ports: 8080, destination: $RES_IP/32, description: "web on res only" }
	      - { protocol: udp, ports: 5353, destination: $RES_IP, description: "mdns-ish on res" }
	  - name: sg-icmp
	    egress:
	      - { protocol: icmp, destination: 198.18.1.0/24, description: "ping the subnet" }
	  - name: sg-2
	    egress: [ { protocol: tcp, ports: 1, destination: 198.18.1.2 } ]
	  - name: sg-3
	    egress: [ { protocol: tcp, ports: 2, destination: 198.18.1.2 } ]
	  - name: sg-4
	    egress: [ { protocol: tcp, ports: 3, destination: 198.18.1.2 } ]
	  - name: sg-5
	    egress: [ { protocol: tcp, ports: 4, destination: 198.18.1.2 } ]
	EOF
}

sg_config "$POL_RUN_CONFIG" sg-web
server_start "$POL_RUN_CONFIG"
pol_connect alice
NS=${POL_NS[alice]} A=${POL_ADDR[alice]}

log "security group sg-web: tcp 8080 and udp 5353 to $RES_IP only"
tcp_ok "$NS" "$RES_IP" 8080 "sg-web: tcp 8080 to $RES_IP passes, and its replies come back with no inbound rule"
udp_ok "$NS" "$RES_IP" 5353 "sg-web: udp 5353 to $RES_IP passes, and the reply datagram comes back (stateful)"
tcp_denied "$NS" "$RES_IP" 8081 "sg-web: tcp 8081 is dropped (port)"
tcp_denied "$NS" "$RES2" 8080 "sg-web: tcp 8080 to $RES2 is dropped (destination)"
udp_denied "$NS" "$RES_IP" 8080 "sg-web: udp 8080 is dropped although tcp 8080 passes (protocol)"
ping_denied "$NS" "$RES_IP" "sg-web: icmp is dropped (protocol)"
sgd=$(nft_rule_packets '^no security group rule allows this')
[ "$sgd" -gt 0 ] || fail "the security group's drop rule counted nothing"
ok "the denied probes died in the security group chain ($sgd packets)"

# stateful: a connection opened from the subnet towards the client is no reply and dies
pol_listen "$NS" "$A" 9000
ping_denied "$NS_RES" "$A" "stateful: a ping from the subnet to the client's address (no connection of the client) dies"
tcp_denied "$NS_RES" "$A" 9000 "stateful: a TCP connection from the subnet to the client dies"
tcd=$(nft_rule_packets '^nothing else reaches clients')
[ "$tcd" -gt 0 ] || fail "the gateway's 'nothing else reaches clients' rule counted nothing"
ok "the unsolicited packets died at the gateway ($tcd packets)"

sg_config "$TMPD/two.yaml" "sg-web, sg-icmp"
reload_ok "$TMPD/two.yaml" "sg-web + sg-icmp"
ping_ok "$NS" "$RES_IP" "two groups add up: icmp to $RES_IP now passes (sg-icmp)"
ping_ok "$NS" "$RES2" "two groups add up: icmp to $RES2 passes (sg-icmp)"
tcp_ok "$NS" "$RES_IP" 8080 "two groups add up: tcp 8080 still passes (sg-web)"
tcp_denied "$NS" "$RES2" 8080 "two groups add up: tcp 8080 to $RES2 still dropped (no group allows it)"

sg_config "$TMPD/six.yaml" "sg-web, sg-icmp, sg-2, sg-3, sg-4, sg-5"
if out=$("$CVPNCTL" check "$TMPD/six.yaml" 2>&1); then fail "six security groups on one association were accepted: $out"; fi
assert_match "$out" "six\.yaml:[0-9]+" "six security groups on one association are refused with file:line ($out)"
cp "$TMPD/six.yaml" "$POL_RUN_CONFIG"
if ctl reload >"$TMPD/reload6.log" 2>&1; then fail "reload accepted six security groups"; fi
ok "reload with six security groups is refused"
ping_ok "$NS" "$RES_IP" "after the refused reload the running groups still apply (icmp passes)"
tcp_denied "$NS" "$RES_IP" 8081 "after the refused reload tcp 8081 is still dropped"

sg_config "$TMPD/five.yaml" "sg-web, sg-icmp, sg-2, sg-3, sg-4"
reload_ok "$TMPD/five.yaml" "five security groups are accepted"

sg_config "$TMPD/none.yaml" ""
reload_ok "$TMPD/none.yaml" "no security group"
tcp_ok "$NS" "$RES_IP" 8081 "no security group: open egress (tcp 8081)"
tcp_ok "$NS" "$RES2" 8080 "no security group: open egress (tcp 8080 to $RES2)"
udp_ok "$NS" "$RES_IP" 8080 "no security group: open egress (udp 8080)"
ping_ok "$NS" "$RES2" "no security group: open egress (icmp)"
tcp_denied "$NS_RES" "$A" 9000 "no security group: still nothing opened from the subnet reaches the client"

client_stop alice
server_stop
summary
