#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The client-VPN route table on real traffic (semantics.md §2.2): a destination without a route is dropped
# even when authorized; associating a subnet adds its route automatically; a `local` route plus an
# authorization rule for the client CIDR lets client A reach client B's tunnel address, and without the rule
# (or without the route) it does not. Full tunnel: every probe enters the tunnel.
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"
# shellcheck source=test/lib/policy.sh
. "$(dirname "$0")/../lib/policy.sh"

ROUTED=198.18.16.10 UNROUTED=198.18.17.10

pol_topo
sw_attach "$NS_GW" "$ASSOC_IF" br-a "$ASSOC_IP/24"
pol_host "$NS_RES" eth0 br-a "$RES_IP/24"
for a in $ROUTED $UNROUTED; do
	ip -n "$NS_RES" addr add "$a/32" dev lo
	ip -n "$NS_GW" route add "$a/32" via "$RES_IP"
done
# the gateway itself reaches both: what drops one of them can only be the client-VPN route table
n_exec "$NS_GW" ping -q -c 1 -W 2 "$UNROUTED" >/dev/null || fail "topology: gateway cannot reach $UNROUTED"
pol_client alice
pol_client bob
pki_make "$TMPD/pki"

routes_config() { # FILE LOCAL_ROUTE(yes|no) AUTHZ-RULES-YAML...
	local f=$1 lr=$2 r
	shift 2
	{
		cat <<-EOF
		associations:
		  - { name: subnet-a, interface: $ASSOC_IF, subnet: $ASSOC_NET }
		identity-groups:
		  - { identity: alice, groups: [eng] }
		  - { identity: bob, groups: [dev] }
		routes:
		  - { destination: 198.18.16.0/24, target: subnet-a, description: "routed network" }
		EOF
		[ "$lr" = no ] || echo "  - { destination: ${CV_CLIENT_CIDR:-100.64.0.0/22}, target: local, description: \"client to client\" }"
		echo "authorization-rules:"
		for r in "$@"; do echo "  - $r"; done
	} | pol_config "$f"
}

# 1. routes: 198.18.16.0/24 only; the association's subnet is not written; everything authorized.
routes_config "$POL_RUN_CONFIG" no "{ destination: 0.0.0.0/0, all-users: true }"
server_start "$POL_RUN_CONFIG"
pol_connect alice bob
A=${POL_ADDR[alice]} B=${POL_ADDR[bob]}
log "alice $A, bob $B"

nd0=$(nft_rule_packets '^no client-VPN route')
ping_expect_all <<-EOF
alice $ROUTED ok a destination with a client-VPN route (198.18.16.0/24) passes
alice $UNROUTED denied a destination without a client-VPN route is dropped although 0.0.0.0/0 authorizes it
alice $RES_IP ok the association's automatic route: its subnet $ASSOC_NET is reachable without being written
alice $B denied client to client without a local route is dropped (0.0.0.0/0 authorizes it)
EOF
nd1=$(nft_rule_packets '^no client-VPN route')
[ "$nd1" -gt "$nd0" ] || fail "the 'no client-VPN route' drop rule counted nothing ($nd0 -> $nd1)"
ok "the unrouted probes died at the route check (its counter went $nd0 -> $nd1)"
# the automatic route shows in the running ruleset's route set (mark of subnet-a . the subnet)
assert_match "$(n_exec "$NS_GW" nft list set inet cvpn routes)" "198\.18\.1\.0/24" \
	"the automatic route of the association is in the kernel's route set"

# 2. + local route and an all-users rule for the client CIDR (0.0.0.0/0 gone).
routes_config "$TMPD/local.yaml" yes "{ destination: 100.64.0.0/22, all-users: true, description: c2c }" \
	"{ destination: 198.18.0.0/15, all-users: true }"
reload_ok "$TMPD/local.yaml" "local route + rule for the client CIDR"
ping_expect_all <<-EOF
alice $B ok client to client: local route and authorization rule: alice reaches bob's tunnel address
bob $A ok client to client: bob reaches alice's tunnel address
alice $ROUTED ok the routed network still passes
EOF

# 3. the local route without a rule that authorizes the client CIDR
routes_config "$TMPD/norule.yaml" yes "{ destination: 198.18.0.0/15, all-users: true }"
reload_ok "$TMPD/norule.yaml" "local route without a rule for the client CIDR"
ping_expect_all <<-EOF
alice $B denied client to client: a local route without an authorization rule is dropped
bob $A denied client to client without the rule, the other way
alice $ROUTED ok the routed network still passes
EOF

# 4. the rule grants the client CIDR to eng only: alice (eng) reaches bob, and bob's reply comes back as a
#    reply; bob (dev) cannot open anything towards alice.
routes_config "$TMPD/eng.yaml" yes "{ destination: 100.64.0.0/22, group: eng }" \
	"{ destination: 198.18.0.0/15, all-users: true }"
reload_ok "$TMPD/eng.yaml" "client CIDR for eng only"
ping_expect_all <<-EOF
alice $B ok client to client for eng: alice (eng) reaches bob and gets his replies
bob $A denied client to client for eng: bob (dev) does not reach alice
EOF

client_stop alice
client_stop bob
server_stop
summary
