#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# cvpnctl against a running gateway with stock clients connected: status, connections (fields checked against
# what the clients themselves see: tunnel address, public port, their tun's packet and byte counters),
# metrics, terminate by username (two sessions of one user, both go, a third client stays) and by
# connection-id, the login banner, and errors (stderr, non-zero exit). Every --json output is parsed with jq.
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"
# shellcheck source=test/lib/ops.sh
. "$(dirname "$0")/../lib/ops.sh"

topo_basic
topo_second_client
topo_third_client
ipv6_off "$NS_CLI" "$NS_CLI2" "$NS_CLI3"
pki_make "$TMPD/pki"
BANNER="Authorized use only - banner $RANDOM"
ops_config "$TMPD/endpoint.yaml" "id: cvpn-endpoint-ctltest" "banner: \"$BANNER\""
server_start "$TMPD/endpoint.yaml"
export_client "$TMPD/endpoint.yaml"

# --- status before anyone connects
st=$(ctl_json status)
assert_eq "$(jq -r .endpoint.id <<<"$st")" cvpn-endpoint-ctltest "status: endpoint id"
assert_eq "$(jq -r '.endpoint.transport + " " + .endpoint["listen-address"] + " " + (.endpoint.port|tostring)' <<<"$st")" \
	"udp $GW_OUT_IP 1194" "status: endpoint transport, address and port"
assert_eq "$(jq -r .config.version <<<"$st")" 1 "status: config version 1 at start"
assert_eq "$(jq -r .config.sha256 <<<"$st")" "$(sha256sum "$TMPD/endpoint.yaml" | cut -d' ' -f1)" \
	"status: config sha256 is the file's"
assert_eq "$(jq -r .sessions.active <<<"$st")" 0 "status: no active session yet"
human=$(ctl status)
assert_match "$human" "^endpoint: +cvpn-endpoint-ctltest, udp $(re_quote "$GW_OUT_IP") port 1194" "status: human form"
[ -S "$CTL_SOCK" ] || fail "no control socket at $CTL_SOCK"
assert_eq "$(stat -c %a "$CTL_SOCK")" 660 "control socket mode 0660"

# --- three clients: alice twice (same certificate, two machines) and bob
client_start alice1 "$NS_CLI" alice
client_start alice2 "$NS_CLI2" alice
client_start bob "$NS_CLI3" bob
client_wait_up alice1
client_wait_up alice2
client_wait_up bob
expect_log "$(client_log alice1)" "$(re_quote "$BANNER")" 3 "banner shown in the stock client's log"
assert_cmd "alice1 pings $RES_IP" n_exec "$NS_CLI" ping -q -c 5 -i 0.2 -W 2 -w 6 "$RES_IP"
assert_cmd "bob pings $RES_IP" n_exec "$NS_CLI3" ping -q -c 2 -i 0.2 -W 2 -w 6 "$RES_IP"
sleep 0.5 # let the last replies land before comparing counters

conns=$(ctl_json connections)
assert_eq "$(jq '[.connections[] | select(.status == "active")] | length' <<<"$conns")" 3 "connections: 3 active"
for c in "alice1 $NS_CLI alice $CLI_IP" "alice2 $NS_CLI2 alice $CLI2_IP" "bob $NS_CLI3 bob $CLI3_IP"; do
	read -r name ns cn pub <<<"$c"
	tun=$(client_tun "$ns")
	addr=${tun%%/*}
	e=$(jq -c --arg a "$addr" '.connections[] | select(.["client-ip"] == $a)' <<<"$conns")
	[ -n "$e" ] || fail "$name: no connection with client-ip $addr"
	assert_match "$(jq -r '.["connection-id"]' <<<"$e")" '^cvpn-conn-[0-9a-f]{16}$' "$name: connection-id format"
	assert_eq "$(jq -r '.["common-name"]' <<<"$e")" "$cn" "$name: common-name"
	assert_eq "$(jq -r '.["device-ip"]' <<<"$e")" "$pub" "$name: public address"
	assert_eq "$(jq -r .port <<<"$e")" "$(client_udp_port "$ns")" "$name: public port is the client's UDP port"
	assert_eq "$(jq -r '.groups | length' <<<"$e")" 0 "$name: no groups (certificate authentication)"
	assert_match "$(jq -r '.["connection-established-time"]' <<<"$e")" '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}$' \
		"$name: established time"
	# what the data plane counted is what the client's tun sent and received
	assert_eq "$(jq -r '.["ingress-packets"]' <<<"$e")" "$(tun_stat "$ns" tx_packets)" "$name: ingress packets = client tun tx"
	assert_eq "$(jq -r '.["ingress-bytes"]' <<<"$e")" "$(tun_stat "$ns" tx_bytes)" "$name: ingress bytes = client tun tx"
	assert_eq "$(jq -r '.["egress-packets"]' <<<"$e")" "$(tun_stat "$ns" rx_packets)" "$name: egress packets = client tun rx"
	assert_eq "$(jq -r '.["egress-bytes"]' <<<"$e")" "$(tun_stat "$ns" rx_bytes)" "$name: egress bytes = client tun rx"
	# its data path is on the worker whose tun queue gets its address: (address mod workers), steer.c; with
	# one or two workers the last octet's remainder is the address's
	n_workers=$(ctl_json status | jq '.["data-workers"] | length')
	if [ "${CV_DATA_CHANNEL:-}" = kernel ]; then
		assert_eq "$(jq -r '.["data-path"]' <<<"$e")" kernel "$name: data path in the kernel"
	elif [ "$n_workers" -gt 0 ]; then
		assert_eq "$(jq -r '.["data-path"]' <<<"$e")" "worker-$(( ${addr##*.} % n_workers ))" \
			"$name: data path on the worker of its address (${addr##*.} mod $n_workers)"
	else
		assert_eq "$(jq -r '.["data-path"]' <<<"$e")" control-thread "$name: data path on the control thread"
	fi
done
alice1_pkts=$(jq -r --arg a "$(client_tun "$NS_CLI" | cut -d/ -f1)" \
	'.connections[] | select(.["client-ip"] == $a) | .["ingress-packets"]' <<<"$conns")
[ "$alice1_pkts" -ge 5 ] || fail "alice1: $alice1_pkts ingress packets for 5 pings"
ok "alice1: her 5 pings were counted"
assert_match "$(ctl connections)" "cvpn-conn-[0-9a-f]{16} +active +alice " "connections: human form"

# A total read after $conns equals the sum over it. The kernel's data channel (data-channel: kernel) counts the
# clients' keepalive pings too (16 bytes each, on their own schedule), so there a later total may exceed the
# sum by a few of them.
assert_total() { # ACTUAL SUM PING-SIZE WHAT
	local extra=$(($1 - $2))
	if [ "${CV_DATA_CHANNEL:-}" = kernel ] && [ "$extra" -ge 0 ] && [ "$extra" -le $((6 * $3)) ] &&
		[ $((extra % $3)) = 0 ]; then
		ok "$4 (+$extra: keepalive pings the kernel counted since)"
	else
		assert_eq "$1" "$2" "$4"
	fi
}
st=$(ctl_json status)
assert_eq "$(jq -r .sessions.active <<<"$st")" 3 "status: 3 active sessions"
total_in=$(jq '[.connections[] | .["ingress-bytes"]] | add' <<<"$conns")
assert_total "$(jq -r '.totals["ingress-bytes"]' <<<"$st")" "$total_in" 16 "status: ingress total = sum over connections"
# the /22 client CIDR: 1021 addresses for clients, 3 held
assert_eq "$(jq -r '.totals["free-addresses"]' <<<"$st")" 1018 "status: free addresses = pool size - addresses held"

# --- metrics, text and JSON
m=$(ctl metrics)
assert_match "$m" '^# TYPE cvpn_active_connections gauge$' "metrics: TYPE line"
assert_eq "$(awk '$1 == "cvpn_active_connections" { print $2 }' <<<"$m")" 3 "metrics: active connections 3"
assert_total "$(awk '$1 == "cvpn_ingress_packets_total" { print $2 }' <<<"$m")" \
	"$(jq '[.connections[] | .["ingress-packets"]] | add' <<<"$conns")" 1 "metrics: ingress packets = sum"
assert_eq "$(awk '$1 == "cvpn_authentication_failures_total" { print $2 }' <<<"$m")" 0 "metrics: no auth failure yet"
assert_eq "$(ctl_json metrics | jq .metrics.active_connections)" 3 "metrics --json: active connections"

# --- terminate by username: both of alice's sessions, not bob's
alice_ids=$(jq -r '[.connections[] | select(.["common-name"] == "alice") | .["connection-id"]] | sort | join(" ")' <<<"$conns")
alice_ips=$(jq -r '[.connections[] | select(.["common-name"] == "alice") | .["client-ip"]] | join(" ")' <<<"$conns")
bob_ip=$(jq -r '[.connections[] | select(.["common-name"] == "bob") | .["client-ip"]] | join(" ")' <<<"$conns")
mark=$(log_mark "$SERVER_LOG")
t=$(ctl_json terminate --username alice)
assert_eq "$(jq -r '.terminated | sort | join(" ")' <<<"$t")" "$alice_ids" "terminate --username alice: her two sessions"
bg_wait_exit alice1 5 || fail "alice1's client did not exit after terminate"
bg_wait_exit alice2 5 || fail "alice2's client did not exit after terminate"
ok "both of alice's clients exited"
assert_log "$(client_log alice1)" "Halt command was pushed by server \('terminated by the administrator'\)" "alice1's client was told why"
assert_log "$(client_log alice2)" "Halt command was pushed by server \('terminated by the administrator'\)" "alice2's client was told why"
wait_for_log_since "$SERVER_LOG" "$mark" "alice .*terminated by the administrator; address 100\.64\." 2 ||
	fail "server did not log the release of alice's address"
ok "server released alice's addresses at once"
# their kernel elements went with them: the session map holds bob's address and none of alice's
elements=$(n_exec "$NS_GW" nft list map inet cvpn sess_assoc)
for a in $alice_ips; do
	if grep -Eq "(^|[^0-9])$(re_quote "$a")( |,|$)" <<<"$elements"; then
		fail "terminate: $a is still in the kernel's session map"
	fi
	ok "terminate: $a gone from the kernel's session map"
done
assert_match "$elements" "(^|[^0-9])$(re_quote "$bob_ip") " "terminate: bob's $bob_ip still in the session map"
conns=$(ctl_json connections)
assert_eq "$(jq -r '[.connections[] | select(.["common-name"] == "alice") | .status] | unique | join(",")' <<<"$conns")" \
	terminated "connections: alice's sessions listed as terminated"
assert_eq "$(jq -r '[.connections[] | select(.status == "active") | .["common-name"]] | join(",")' <<<"$conns")" \
	bob "connections: bob still active"
assert_cmd "bob still pings" n_exec "$NS_CLI3" ping -q -c 2 -i 0.2 -W 2 -w 6 "$RES_IP"

# --- terminate by connection-id
bob_id=$(jq -r '.connections[] | select(.status == "active") | .["connection-id"]' <<<"$conns")
assert_eq "$(ctl terminate --connection-id "$bob_id")" "terminated $bob_id" "terminate --connection-id (human form)"
bg_wait_exit bob 5 || fail "bob's client did not exit after terminate"
ok "bob's client exited"
assert_eq "$(ctl_json status | jq .sessions.active)" 0 "status: nobody active"
assert_eq "$(ctl_json status | jq '.sessions["ended-last-hour"]')" 3 "status: 3 ended in the last hour"

# --- errors: stderr and a non-zero exit, nothing on stdout
rc=0
out=$(ctl terminate --connection-id "$bob_id" 2>"$TMPD/err") || rc=$?
assert_eq "$rc" 1 "terminate of an ended connection: exit 1"
assert_eq "$out" "" "terminate error: nothing on stdout"
assert_match "$(cat "$TMPD/err")" "no active connection with connection-id $bob_id" "terminate error on stderr"
rc=0
ctl terminate --username nobody --json >"$TMPD/out" 2>"$TMPD/err" || rc=$?
assert_eq "$rc" 1 "terminate --json error: exit 1"
assert_eq "$(jq -r .ok "$TMPD/err"),$(jq -r .error "$TMPD/err")" "false,no active connection of user nobody" \
	"terminate --json error: JSON on stderr"
rc=0
"$CVPNCTL" --socket "$TMPD/nothing.sock" status >/dev/null 2>"$TMPD/err" || rc=$?
assert_eq "$rc" 1 "status without a daemon: exit 1"
assert_match "$(cat "$TMPD/err")" "cannot reach cvpnd" "status without a daemon: says so"
rc=0
ctl terminate >/dev/null 2>&1 || rc=$?
assert_eq "$rc" 2 "terminate without a target: usage error"

server_stop
[ ! -e "$CTL_SOCK" ] || fail "control socket left behind"
ok "control socket removed on stop"
summary
