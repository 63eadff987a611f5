#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# data-channel: kernel, on a kernel with an OpenVPN data channel module (Linux's ovpn, or ovpn-dco-v2):
# `make dco-test` runs it inside test/dco/vm.sh's machines, one of each (the name keeps it out of the host
# suite, whose kernel has no module).
# The interface is the kernel's, a stock client (its own data path in userspace) passes ping and TCP through
# the association, cvpnctl reads the kernel's counters, which match the client's; the mode cannot change on
# reload; table inet cvpn_dco admits data only from the session's address, port and peer-id; a second cvpnd
# leaves the running one's interface alone; a cvpnd killed with SIGKILL leaves its interface (ovpn-dco-v2
# still forwarding its sessions; ovpn drops them with the socket), and the next start removes it, as
# `cvpnd --after-exit` (the unit's ExecStopPost) does at once; a clean stop removes the interface and the
# guard; a gateway on "::" takes IPv4 clients (IPv4-mapped remotes) into the kernel; a peer removed by another
# program ends its session; a refusal carries the module's reason where it gives one (dco_probe).
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"
# shellcheck source=test/lib/ops.sh
. "$(dirname "$0")/../lib/ops.sh"

CV_DATA_CHANNEL=kernel
topo_basic
ipv6_off "$NS_CLI"
pki_make "$TMPD/pki"
ops_config "$TMPD/endpoint.yaml"
server_start "$TMPD/endpoint.yaml"
export_client "$TMPD/endpoint.yaml"
# the interface's kind: ovpn (upstream) where the kernel has it, else ovpn-dco (ovpn-dco-v2)
kind=$(n_exec "$NS_GW" ip -d link show cvpn-tun0 | awk '$1 == "ovpn" || $1 == "ovpn-dco" { print $1; exit }')
[ -n "$kind" ] || fail "cvpn-tun0 is not the kernel's OpenVPN interface: $(n_exec "$NS_GW" ip -d link show cvpn-tun0)"
ok "cvpn-tun0 is the kernel's OpenVPN interface ($kind)"
module=$kind
[ "$kind" = ovpn ] || module=ovpn-dco-v2
assert_log "$SERVER_LOG" "data channel in the kernel \($module\) on cvpn-tun0" "cvpnd says the kernel has the data"

client_start alice "$NS_CLI" alice --disable-dco
client_wait_up alice
check_data_path "$NS_CLI" alice
n_exec "$NS_CLI" ping -q -c 20 -i 0.05 -s 1200 -W 2 "$RES_IP" >/dev/null || fail "alice: 20 pings of 1,200 bytes"
sleep 0.5 # the last replies land before the counters are compared
e=$(ctl_json connections | jq -c '.connections[] | select(.["common-name"] == "alice")')
assert_eq "$(jq -r '.["data-path"]' <<<"$e")" kernel "connections: alice's data path is the kernel"
assert_eq "$(jq -r '.["ingress-bytes"]' <<<"$e")" "$(tun_stat "$NS_CLI" tx_bytes)" \
	"ingress bytes (the kernel's count) = alice's tun tx"
assert_eq "$(jq -r '.["egress-bytes"]' <<<"$e")" "$(tun_stat "$NS_CLI" rx_bytes)" \
	"egress bytes (the kernel's count) = alice's tun rx"
assert_eq "$(jq -r '.["ingress-packets"]' <<<"$e")" "$(tun_stat "$NS_CLI" tx_packets)" \
	"ingress packets = alice's tun tx"

# The guard admits data packets from alice's address, port and peer-id only (test_replay.sh shows the
# drops): one element, hers.
guard=$(n_exec "$NS_GW" nft list set inet cvpn_dco peers4)
assert_match "$guard" "elements = \{ $CLI_IP \. [0-9]+ \. (0x)?[0-9a-f]+ \}" "table inet cvpn_dco admits alice's address, port and peer-id"

# A reload cannot switch the data path under live sessions.
sed -i 's/^  data-channel: kernel$/  data-channel: userspace/' "$TMPD/endpoint.yaml"
grep -q "data-channel: userspace" "$TMPD/endpoint.yaml" || fail "test bug: data-channel line not found"
rc=0
ctl reload >"$TMPD/reload.out" 2>&1 || rc=$?
assert_ne "$rc" 0 "cvpnctl reload refuses a change of data-channel"
assert_log "$TMPD/reload.out" "data-channel cannot change on reload" "and says why"
assert_cmd "alice's traffic still passes after the refused reload" \
	n_exec "$NS_CLI" ping -q -c 2 -i 0.2 -W 2 "$RES_IP"
sed -i 's/^  data-channel: userspace$/  data-channel: kernel/' "$TMPD/endpoint.yaml"

# A second cvpnd started by mistake must not remove the running one's interface (it looks like a crash's).
rc=0
n_exec "$NS_GW" timeout 10 "$CVPND" -c "$TMPD/endpoint.yaml" >"$TMPD/second.out" 2>&1 || rc=$?
assert_ne "$rc" 0 "a second cvpnd on the same endpoint refuses to start"
assert_log "$TMPD/second.out" "another cvpnd answers on .*: its kernel data channel interface is not touched" \
	"and says why"
assert_cmd "the running one's client still passes traffic" n_exec "$NS_CLI" ping -q -c 2 -i 0.2 -W 2 "$RES_IP"

# A crash leaves the kernel's interface and its peers (unlike a tun, which goes with its last fd).
kill -KILL "$(bg_pid cvpnd)"
bg_wait_exit cvpnd 5 || true
n_exec "$NS_GW" ip link show cvpn-tun0 >/dev/null 2>&1 ||
	fail "test premise: the interface went with the killed cvpnd"
ok "after SIGKILL the kernel's interface is still there"
# what the kernel does with the killed cvpnd's sessions differs: ovpn-dco-v2 keeps forwarding them; ovpn lets
# go of the UDP socket, and drops its peers, when the socket closes with the process
crashed_sessions_forward() {
	if [ "$kind" = ovpn-dco ]; then
		assert_cmd "$1: and alice's traffic still passes, for a session nobody controls now (ovpn-dco-v2)" \
			n_exec "$NS_CLI" ping -q -c 2 -i 0.2 -W 2 "$RES_IP"
	elif n_exec "$NS_CLI" ping -q -c 2 -i 0.2 -W 1 "$RES_IP" >/dev/null 2>&1; then
		fail "$1: alice's session forwards after its cvpnd died: ovpn should have dropped its peers with the socket"
	else
		ok "$1: alice's session forwards nothing: ovpn dropped its peers with the killed cvpnd's socket"
	fi
}
crashed_sessions_forward "after SIGKILL"
server_start "$TMPD/endpoint.yaml"
assert_log "$SERVER_LOG" "removed 1 kernel data channel interface left by an earlier cvpnd" \
	"the next start removes what the killed one left"
assert_match "$(n_exec "$NS_GW" ip -d link show cvpn-tun0)" "$kind " "and makes its own"
if n_exec "$NS_CLI" ping -q -c 2 -i 0.2 -W 1 "$RES_IP" >/dev/null 2>&1; then
	fail "alice's old session still forwards after the restart"
fi
ok "alice's session from before the crash forwards nothing now"
client_stop alice
assert_no_log <(n_exec "$NS_GW" nft list set inet cvpn_dco peers4) "elements" "the new start's guard admits nobody yet"
client_start alice "$NS_CLI" alice --disable-dco
client_wait_up alice
assert_log <(n_exec "$NS_GW" nft list set inet cvpn_dco peers4) "elements = \{ $CLI_IP \." "alice connects again: her element"
client_stop alice
sleep 0.5 # the client's EXIT ends the session
assert_no_log <(n_exec "$NS_GW" nft list set inet cvpn_dco peers4) "elements" "and it goes when her session ends"

# Under systemd, ExecStopPost runs `cvpnd --after-exit` as soon as cvpnd exited, however it did.
client_start alice "$NS_CLI" alice --disable-dco
client_wait_up alice
n_exec "$NS_GW" "$CVPND" --after-exit -c "$TMPD/endpoint.yaml" >"$TMPD/after-live.out" 2>&1 ||
	fail "cvpnd --after-exit with a live cvpnd: $(cat "$TMPD/after-live.out")"
assert_log "$TMPD/after-live.out" "a cvpnd answers on the control socket: nothing to clean up after" \
	"--after-exit leaves a running cvpnd alone"
assert_cmd "whose client still passes traffic" n_exec "$NS_CLI" ping -q -c 2 -i 0.2 -W 2 "$RES_IP"
kill -KILL "$(bg_pid cvpnd)"
bg_wait_exit cvpnd 5 || true
crashed_sessions_forward "killed again"
n_exec "$NS_GW" "$CVPND" --after-exit -c "$TMPD/endpoint.yaml" >"$TMPD/after.out" 2>&1 ||
	fail "cvpnd --after-exit: $(cat "$TMPD/after.out")"
assert_log "$TMPD/after.out" "removed 1 kernel data channel interface left forwarding by a cvpnd that did not stop cleanly" \
	"cvpnd --after-exit removes the killed one's interface"
if n_exec "$NS_GW" ip link show cvpn-tun0 >/dev/null 2>&1; then
	fail "cvpn-tun0 still there after --after-exit"
fi
if n_exec "$NS_CLI" ping -q -c 2 -i 0.2 -W 1 "$RES_IP" >/dev/null 2>&1; then
	fail "alice's session still forwards after --after-exit"
fi
ok "and alice's session forwards nothing from then on"
if n_exec "$NS_GW" nft list table inet cvpn_dco >/dev/null 2>&1; then
	fail "table inet cvpn_dco left after --after-exit: it would drop data packets for the next server on the port"
fi
ok "--after-exit removes the guard's table too"
client_stop alice
server_start "$TMPD/endpoint.yaml"

server_stop
if n_exec "$NS_GW" ip link show cvpn-tun0 >/dev/null 2>&1; then
	fail "cvpn-tun0 left behind after a clean stop"
fi
ok "a clean stop removes the kernel's interface"
if n_exec "$NS_GW" nft list table inet cvpn_dco >/dev/null 2>&1; then
	fail "table inet cvpn_dco left behind after a clean stop"
fi
ok "and the guard's table"

# A gateway on "::": one dual-stack socket, so an IPv4 client's address reaches cvpnd IPv4-mapped; each
# module takes it in its own form (ovpn-dco-v2 a sockaddr_in6, ovpn an IPv4 address), and the guard's element
# goes in peers4.
CV_LISTEN="\"::\"" ops_config "$TMPD/endpoint-dual.yaml"
server_start "$TMPD/endpoint-dual.yaml"
client_start alice "$NS_CLI" alice --disable-dco
client_wait_up alice
assert_cmd "on a gateway listening on ::, alice (IPv4) passes traffic through the kernel" \
	n_exec "$NS_CLI" ping -q -c 3 -i 0.2 -W 2 "$RES_IP"
assert_eq "$(ctl_json connections | jq -r '.connections[] | select(.["common-name"] == "alice") | .["data-path"]')" \
	kernel "and her data path is the kernel"
assert_log <(n_exec "$NS_GW" nft list set inet cvpn_dco peers4) "elements = \{ $CLI_IP \." \
	"the guard holds her IPv4 address"
# Another program (anything with CAP_NET_ADMIN) removes her peer behind cvpnd's back: her traffic would go
# nowhere from then on, so cvpnd ends the session and tells her client to reconnect, which it does at once.
peer=$(sed -n 's/.* alice from .* peer-id \([0-9]\+\) client .*/\1/p' "$SERVER_LOG" | tail -n 1)
[ -n "$peer" ] || fail "no peer-id for alice in the log"
assert_match "$(n_exec "$NS_GW" "$CVPN_BUILD/dco_probe" del-peer cvpn-tun0 "$peer")" "del-peer OK" \
	"another program removes alice's peer ($peer)"
expect_log "$SERVER_LOG" "alice.*another program removed its peer from the kernel data channel" 5 \
	"cvpnd ends her session, saying why"
expect_log "$(client_log alice)" "RESTART|SIGUSR1" 10 "her client is told to reconnect"
for _ in $(seq 1 40); do
	[ "$(grep -c "alice from .* established" "$SERVER_LOG")" -ge 2 ] && break
	sleep 0.5
done
[ "$(grep -c "alice from .* established" "$SERVER_LOG")" -ge 2 ] || fail "alice did not reconnect within 20 s"
ok "and reconnects, to a new session"
assert_cmd "her traffic passes again" n_exec "$NS_CLI" ping -q -c 3 -i 0.2 -W 2 -w 20 "$RES_IP"
# (the old session may still be listed, closing, for the 2 s its RESTART has to be acknowledged)
assert_eq "$(ctl_json connections | jq -r '[.connections[] | select(.["common-name"] == "alice")] |
	max_by(.["connection-id"]) | .["data-path"]')" kernel "through the kernel: her new session has a peer there"
client_stop alice
server_stop

# What a refusal tells the log: the errno always, and the module's own words where it has them (Linux's
# ovpn does, through extended acks; ovpn-dco-v2 gives none). Operations on a peer that does not exist.
probe=$(n_exec "$NS_GW" "$CVPN_BUILD/dco_probe") || fail "dco_probe could not run: $probe"
assert_match "$probe" "module $module" "dco_probe: the same module as cvpnd"
for op in new-key swap-keys set-keepalive; do
	if [ "$kind" = ovpn ]; then
		assert_match "$probe" "$op ENOENT 'ovpn: [^']*peer[^']*'" "$op for a missing peer: ENOENT and ovpn's reason"
	else
		assert_match "$probe" "$op ENOENT ''" "$op for a missing peer: ENOENT, no reason from ovpn-dco-v2"
	fi
done
if n_exec "$NS_GW" ip link show | grep -q dcoprobe; then
	fail "dco_probe left its interface behind"
fi
summary
