#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Authorization rules on real traffic (semantics.md §2.1): default deny, longest-prefix match across the rules
# of all groups, a shorter rule of the user's own group is no fallback, 0.0.0.0/0 covers only destinations no
# other rule names; then every row of the worked-example table, one reload per row, four stock clients:
# alice (eng), bob (dev), carol (mgr), dave (sales: a group no rule names).
#
# The doc's networks map to:  172.16.0.0/24 -> 198.18.16.0/24 (hosts .10 and .200, the latter in the /25
# 172.16.0.128/25 -> 198.18.16.128/25), 10.0.0.0/16 -> 198.19.0.0/16 (hosts 198.19.0.10 and 198.19.2.119),
# 192.168.0.0/24 -> 198.18.192.0/24 (host .10), "the internet" -> 192.0.2.10. All live on the resource host
# behind the gateway; the client-VPN route table sends 0.0.0.0/0 to the association, so only authorization
# decides. Clients run full tunnel: every probe enters the tunnel.
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"
# shellcheck source=test/lib/policy.sh
. "$(dirname "$0")/../lib/policy.sh"

ENG=198.18.16.10 ENG_HI=198.18.16.200 DEV=198.19.0.10 HOST119=198.19.2.119 MGR=198.18.192.10 INET=192.0.2.10

pol_topo
sw_attach "$NS_GW" "$ASSOC_IF" br-a "$ASSOC_IP/24"
pol_host "$NS_RES" eth0 br-a "$RES_IP/24"
for a in $ENG $ENG_HI $DEV $HOST119 $MGR $INET; do
	ip -n "$NS_RES" addr add "$a/32" dev lo
done
for net in 198.18.16.0/24 198.19.0.0/16 198.18.192.0/24 192.0.2.0/24; do
	ip -n "$NS_GW" route add "$net" via "$RES_IP"
done
for c in alice bob carol dave; do pol_client "$c"; done
pki_make "$TMPD/pki"
pki_clients carol dave

# Writes the config with the authorization rules given as arguments ("GROUP CIDR", GROUP "all" = all users).
authz_config() { # FILE RULE...
	local f=$1 r
	shift
	{
		cat <<-EOF
		associations:
		  - { name: subnet-a, interface: $ASSOC_IF, subnet: $ASSOC_NET }
		routes:
		  - { destination: 0.0.0.0/0, target: subnet-a, description: everything via subnet-a }
		identity-groups:
		  - { identity: alice, groups: [eng] }
		  - { identity: bob, groups: [dev] }
		  - { identity: carol, groups: [mgr] }
		  - { identity: dave, groups: [sales] }
		authorization-rules:
		EOF
		for r in "$@"; do
			if [ "${r%% *}" = all ]; then
				echo "  - { destination: ${r#* }, all-users: true, description: \"all users ${r#* }\" }"
			else
				echo "  - { destination: ${r#* }, group: ${r%% *}, description: \"${r%% *} ${r#* }\" }"
			fi
		done
	} | pol_config "$f"
}

authz_drops() { nft_rule_packets '^authorization: no rule grants'; }

# Row 1: each group reaches only its CIDR; no internet.
ROW1=("eng 198.18.16.0/24" "dev 198.19.0.0/16" "mgr 198.18.192.0/24")
authz_config "$POL_RUN_CONFIG" "${ROW1[@]}"
server_start "$POL_RUN_CONFIG"
pol_connect alice bob carol dave

log "row 1: eng->172.16.0.0/24, dev->10.0.0.0/16, mgr->192.168.0.0/24"
d0=$(authz_drops)
ping_expect_all <<-EOF
alice $ENG ok row 1: eng reaches its 172.16.0.0/24
alice $ENG_HI ok row 1: eng reaches all of its 172.16.0.0/24
alice $DEV denied row 1: eng does not reach dev's 10.0.0.0/16
alice $MGR denied row 1: eng does not reach mgr's 192.168.0.0/24
alice $INET denied row 1: default deny: no rule names the internet
bob $DEV ok row 1: dev reaches its 10.0.0.0/16
bob $HOST119 ok row 1: dev reaches 10.0.2.119 (inside its 10.0.0.0/16)
bob $ENG denied row 1: dev does not reach eng's 172.16.0.0/24
bob $INET denied row 1: dev has no internet
carol $MGR ok row 1: mgr reaches its 192.168.0.0/24
carol $ENG denied row 1: mgr does not reach eng's 172.16.0.0/24
carol $HOST119 denied row 1: mgr does not reach dev's 10.0.0.0/16
carol $INET denied row 1: mgr has no internet
dave $ENG denied row 1: default deny: a group no rule names reaches nothing (172.16.0.0/24)
dave $MGR denied row 1: default deny (192.168.0.0/24)
dave $INET denied row 1: default deny (internet)
EOF
d1=$(authz_drops)
[ "$d1" -gt "$d0" ] || fail "row 1: the authorization drop rule counted nothing ($d0 -> $d1)"
ok "row 1: the denied probes died at the authorization rule (its counter went $d0 -> $d1)"

# Row 2: as above but mgr->0/0 instead.
ROW2=("eng 198.18.16.0/24" "dev 198.19.0.0/16" "mgr 0.0.0.0/0")
authz_config "$TMPD/row2.yaml" "${ROW2[@]}"
reload_ok "$TMPD/row2.yaml" "row 2"
ping_expect_all <<-EOF
carol $INET ok row 2: 0.0.0.0/0 lets mgr reach the internet
carol $MGR ok row 2: mgr reaches 192.168.0.0/24 (no rule names it, 0.0.0.0/0 covers it)
carol $ENG denied row 2: 0.0.0.0/0 does not cover 172.16.0.0/24 (eng's rule names it)
carol $DEV denied row 2: 0.0.0.0/0 does not cover 10.0.0.0/16 (dev's rule names it)
carol $HOST119 denied row 2: 0.0.0.0/0 does not cover 10.0.2.119 either
alice $INET denied row 2: eng still has no internet
alice $MGR denied row 2: eng does not reach 192.168.0.0/24
bob $MGR denied row 2: dev does not reach 192.168.0.0/24
bob $DEV ok row 2: dev still reaches 10.0.0.0/16
alice $ENG ok row 2: eng still reaches 172.16.0.0/24
EOF

# Row 3: + mgr->10.0.2.119/32.
ROW3=("${ROW2[@]}" "mgr 198.19.2.119/32")
authz_config "$TMPD/row3.yaml" "${ROW3[@]}"
reload_ok "$TMPD/row3.yaml" "row 3"
ping_expect_all <<-EOF
bob $HOST119 denied row 3: longest prefix across all groups: dev loses 10.0.2.119 (mgr's /32 is longer)
bob $DEV ok row 3: dev keeps the rest of 10.0.0.0/16
carol $HOST119 ok row 3: mgr reaches 10.0.2.119
carol $DEV denied row 3: mgr does not reach the rest of 10.0.0.0/16
carol $INET ok row 3: mgr keeps the internet
alice $HOST119 denied row 3: eng does not reach 10.0.2.119
EOF

# Row 4: + eng->172.16.0.128/25.
ROW4=("${ROW3[@]}" "eng 198.18.16.128/25")
authz_config "$TMPD/row4.yaml" "${ROW4[@]}"
reload_ok "$TMPD/row4.yaml" "row 4"
ping_expect_all <<-EOF
alice $ENG ok row 4: eng keeps 172.16.0.0/24 outside the /25 (both prefixes are its own)
alice $ENG_HI ok row 4: eng reaches 172.16.0.128/25
carol $ENG_HI denied row 4: mgr's 0.0.0.0/0 does not cover 172.16.0.128/25
bob $ENG_HI denied row 4: dev does not reach 172.16.0.128/25
EOF

# Row 5: + eng->0/0.
ROW5=("${ROW4[@]}" "eng 0.0.0.0/0")
authz_config "$TMPD/row5.yaml" "${ROW5[@]}"
reload_ok "$TMPD/row5.yaml" "row 5"
ping_expect_all <<-EOF
alice $MGR ok row 5: eng reaches 192.168.0.0/24 (no rule names it)
carol $MGR ok row 5: mgr reaches 192.168.0.0/24 too
alice $INET ok row 5: eng reaches the internet
alice $DEV denied row 5: a shorter rule of eng's own (0.0.0.0/0) is no fallback for dev's 10.0.0.0/16
alice $HOST119 denied row 5: nor for mgr's 10.0.2.119/32
bob $MGR denied row 5: dev does not reach 192.168.0.0/24
bob $INET denied row 5: dev has no internet
dave $MGR denied row 5: a group no rule names reaches nothing
EOF

# Row 6: + all-users->0/0.
ROW6=("${ROW5[@]}" "all 0.0.0.0/0")
authz_config "$TMPD/row6.yaml" "${ROW6[@]}"
reload_ok "$TMPD/row6.yaml" "row 6"
ping_expect_all <<-EOF
dave $INET ok row 6: any other group reaches the internet
bob $INET ok row 6: dev reaches the internet
dave $MGR ok row 6: 192.168.0.0/24 is named by no rule: all users reach it
dave $ENG denied row 6: all-users 0.0.0.0/0 does not cover eng's 172.16.0.0/24
dave $DEV denied row 6: nor dev's 10.0.0.0/16
dave $HOST119 denied row 6: nor mgr's 10.0.2.119/32
bob $ENG denied row 6: dev does not reach 172.16.0.0/24
bob $HOST119 denied row 6: dev still loses 10.0.2.119
bob $DEV ok row 6: dev keeps 10.0.0.0/16
EOF

# Back to no rule at all: default deny for everyone, on the sessions that were just passing.
authz_config "$TMPD/none.yaml"
reload_ok "$TMPD/none.yaml" "no rules"
ping_expect_all <<-EOF
alice $ENG denied no rules: default deny (eng, 172.16.0.0/24)
carol $INET denied no rules: default deny (mgr, internet)
dave $INET denied no rules: default deny (all users, internet)
EOF

for c in alice bob carol dave; do client_stop "$c"; done
server_stop
summary
