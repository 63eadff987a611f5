#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Replay and roaming. Everything alice's client sends is captured on the gateway's outside link (tcpdump -w)
# from before it connects until after 5 pings to the resource host; then the whole capture is sent again,
# unchanged, from alice's address and port: every data packet is dropped (no packet reaches the tun, the
# resource host sees no duplicate echo request), every control packet is ignored (the session goes on, no new
# one, no renegotiation). Then roaming: the same capture from another address, and alice's live client made
# to send from another address (NAT rebinding): cvpnd does not float, so nothing of it is accepted either,
# and once the address is back, the session works again.
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"
# shellcheck source=test/lib/ops.sh
. "$(dirname "$0")/../lib/ops.sh"
# shellcheck source=test/lib/flood.sh
. "$(dirname "$0")/../lib/flood.sh"

ROAM_IP=203.0.113.9     # alice's client, live, from a new address
REPLAY_IP=203.0.113.10  # the capture re-sent from an address nobody holds (cvpnd's answers go nowhere)

topo_basic
ipv6_off "$NS_CLI"
pki_make "$TMPD/pki"
ops_config "$TMPD/endpoint.yaml"
server_start "$TMPD/endpoint.yaml"
export_client "$TMPD/endpoint.yaml"

bg_start tcpdump n_exec "$NS_GW" tcpdump -i c1 -n -U --immediate-mode -w "$TMPD/alice.pcap" "udp and src host $CLI_IP and dst port 1194"
wait_for_log "$TMPD/tcpdump.out" "listening on" 5 || fail "tcpdump did not start"
client_start alice "$NS_CLI" alice
client_wait_up alice
client_address "$NS_CLI" alice 100.64.0.0/22
assert_cmd "alice pings $RES_IP 5 times" n_exec "$NS_CLI" ping -q -c 5 -i 0.2 -W 2 "$RES_IP"
sleep 1
bg_stop tcpdump || true
echos=$(res_echos)
ingress=$(metric ingress_packets_total)
sessions_logged=$(grep -c "cookie verified" "$SERVER_LOG")

# --- replay from alice's own address and port
port=$(client_udp_port "$NS_CLI")
n_exec "$NS_CLI" "$FLOOD" --mode replay --dst "$GW_OUT_IP" --pcap "$TMPD/alice.pcap" --pps 200 >"$TMPD/replay.out" ||
	fail "replay failed: $(cat "$TMPD/replay.out")"
sed 's/^/    /' "$TMPD/replay.out"
read -r data ctl < <(sed -E 's/.*\(([0-9]+) data, ([0-9]+) control\).*/\1 \2/' "$TMPD/replay.out")
if [ "$data" -lt 5 ] || [ "$ctl" -lt 4 ]; then
	fail "the capture holds $data data and $ctl control packets: too few"
fi
ok "replayed $data data and $ctl control packets from $CLI_IP:$port"
sleep 1
assert_eq "$(res_echos)" "$echos" "resource host saw no duplicate echo request"
assert_eq "$(metric ingress_packets_total)" "$ingress" "no replayed packet reached the tun"
assert_eq "$(metric active_connections)" 1 "alice's session still the only one"
assert_eq "$(metric handshaking_sessions)" 0 "no handshake started by the replayed resets"
assert_eq "$(grep -c "cookie verified" "$SERVER_LOG")" "$sessions_logged" "no new session from replayed control packets"
assert_no_log "$SERVER_LOG" "renegotiation|ended|reconnected" "no renegotiation, no session ended"
assert_cmd "alice still pings after the replay" n_exec "$NS_CLI" ping -q -c 2 -i 0.2 -W 2 "$RES_IP"
echos=$(res_echos)
ingress=$(metric ingress_packets_total)

# --- the same packets from another address: no float
n_exec "$NS_CLI" "$FLOOD" --mode replay --dst "$GW_OUT_IP" --pcap "$TMPD/alice.pcap" --from "$REPLAY_IP:$port" \
	--pps 200 >"$TMPD/roam-replay.out" || fail "replay from $REPLAY_IP failed"
sleep 1
assert_eq "$(res_echos)" "$echos" "capture re-sent from $REPLAY_IP: resource host saw nothing"
assert_eq "$(metric ingress_packets_total)" "$ingress" "capture re-sent from $REPLAY_IP: nothing reached the tun"
assert_eq "$(metric handshaking_sessions)" 0 "capture re-sent from $REPLAY_IP: no session (its cookie was for $CLI_IP)"

# --- live roaming: alice's client keeps its session, but its packets now leave from ROAM_IP (fresh packet
# ids, the session's peer-id: only the source address is new)
n_exec "$NS_CLI" ip addr add "$ROAM_IP/24" dev veth0
n_exec "$NS_CLI" nft -f - <<EOF
table ip roam {
	chain out {
		type filter hook output priority mangle; policy accept;
		udp dport 1194 ip daddr $GW_OUT_IP ip saddr set $ROAM_IP counter
	}
}
EOF
if n_exec "$NS_CLI" ping -q -c 4 -i 0.3 -W 1 "$RES_IP" >/dev/null 2>&1; then
	fail "alice's pings from the new address $ROAM_IP were answered: the gateway floated the session"
fi
ok "alice's packets from the new address $ROAM_IP are not accepted (no float)"
roamed=$(n_exec "$NS_CLI" nft list table ip roam |
	awk '/counter packets/ { for (i = 1; i <= NF; i++) if ($i == "packets") print $(i + 1) }')
[ "${roamed:-0}" -ge 4 ] || fail "only ${roamed:-0} packets left from $ROAM_IP"
ok "$roamed packets of alice's session left from $ROAM_IP"
assert_eq "$(res_echos)" "$echos" "roaming: resource host saw none of them"
assert_eq "$(metric ingress_packets_total)" "$ingress" "roaming: nothing reached the tun"
assert_eq "$(grep -c "cookie verified" "$SERVER_LOG")" "$sessions_logged" "roaming: no new session"
n_exec "$NS_CLI" nft delete table ip roam
assert_cmd "back on the old address, the session works again" n_exec "$NS_CLI" ping -q -c 2 -i 0.2 -W 2 "$RES_IP"
client_stop alice
server_stop
summary
