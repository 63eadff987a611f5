#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Hostile TCP clients against a TCP endpoint:
# 1. 200 connections that send a hard reset and abort (RST) before the gateway answers: its answer fails on a
#    reset socket, and the session must end after the code that was sending has returned (it used to be
#    freed under that code: a use-after-free, a double free and a dead daemon). A stock client connects after.
# 2. 40 connections from one address that never send a whole packet: 32 are held (the per-source bound on
#    connections without a session), the others closed at once, and every one is closed within the 10 s a
#    connection gets to send its first packet.
# 3. The gateway out of file descriptors (prlimit): the listener rests between ticks instead of spinning on a
#    backlog it cannot accept (cvpnd's CPU over 3 s stays under 0.5 s; a busy loop is 3 s); a link event
#    meanwhile does not take the association for down because its state cannot be read; and once
#    descriptors come back a stock client connects.
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"
# shellcheck source=test/lib/flood.sh
. "$(dirname "$0")/../lib/flood.sh"

CV_TRANSPORT=tcp
CV_PORT=443
topo_basic
pki_make "$TMPD/pki"
write_endpoint_config "$TMPD/endpoint.yaml"
server_start "$TMPD/endpoint.yaml"
export_client "$TMPD/endpoint.yaml"
GW_PID=$(bg_pid cvpnd)

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$GW_PID/stat"; }

# --- 1. a hard reset, then an RST
out=$(n_exec "$NS_CLI" timeout 60 "$FLOOD" --mode tcp-reset --dst "$GW_OUT_IP" --port "$CV_PORT" --count 200 \
	--pps 100 --seconds 30) || fail "flood tcp-reset failed"
log "$out"
sent=$(sed -n 's/.*: \([0-9]*\) connections reset.*/\1/p' <<<"$out")
[ "${sent:-0}" -ge 150 ] || fail "only ${sent:-0} of 200 aborted connections were made"
sleep 1
bg_alive cvpnd || fail "cvpnd died after $sent connections aborted under its answer"
ok "cvpnd alive after $sent connections aborted under its answer"
client_start alice "$NS_CLI" alice
client_wait_up alice
ok "a stock client connects after them"
client_stop alice

# --- 2. connections that never send a whole packet
out=$(n_exec "$NS_CLI" timeout 40 "$FLOOD" --mode tcp-idle --dst "$GW_OUT_IP" --port "$CV_PORT" --count 40 \
	--seconds 15) || fail "flood tcp-idle failed"
log "$out"
read -r opened closed last <<<"$(sed -n 's/.*: \([0-9]*\) opened.*, \([0-9]*\) closed by the gateway, the last after \([0-9.]*\) s/\1 \2 \3/p' <<<"$out")"
[ "${opened:-0}" -eq 40 ] || fail "only ${opened:-0} of 40 idle connections opened"
[ "$closed" -eq "$opened" ] || fail "the gateway closed only $closed of $opened silent connections in 15 s"
awk -v t="$last" 'BEGIN { exit !(t >= 9 && t <= 12) }' ||
	fail "the last silent connection went after $last s, not after the 10 s they get"
ok "all $opened silent connections closed, the last after $last s (32 held, the rest refused at once)"

# --- 3. out of file descriptors
fds=$(find "/proc/$GW_PID/fd" -mindepth 1 | wc -l)
limit=$((fds + 4))
read -r soft hard <<<"$(prlimit --pid "$GW_PID" --nofile --output SOFT,HARD --noheadings)"
prlimit --pid "$GW_PID" --nofile="$limit:$hard" # the soft limit only: raising a hard one back needs more than root here
bg_start idle-fds n_exec "$NS_CLI" timeout 30 "$FLOOD" --mode tcp-idle --dst "$GW_OUT_IP" --port "$CV_PORT" \
	--count 12 --seconds 8
sleep 1
t0=$(cpu_ticks)
sleep 3
t1=$(cpu_ticks)
spent=$(awk -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }')
awk -v s="$spent" 'BEGIN { exit !(s < 0.5) }' ||
	fail "out of descriptors (limit $limit) with connections waiting: cvpnd used $spent CPU-s in 3 s"
ok "out of descriptors (limit $limit) with connections waiting: cvpnd used $spent CPU-s in 3 s"
expect_log "$SERVER_LOG" "cannot accept TCP connections: Too many open files" 1 "the log says why it cannot accept"
# a link event meanwhile: cvpnd cannot open a netlink socket to read the association's link, which must not
# read as "down" (it did: every new client was then refused for want of an association)
ip -n "$NS_GW" link add cvpn-probe0 type veth peer name cvpn-probe1
expect_log "$SERVER_LOG" "cannot read the state of link .*asking again" 3 \
	"a link state it cannot read is said so, not taken for down"
assert_no_log "$SERVER_LOG" "link [^ ]+ is down" "no association taken for down"
prlimit --pid "$GW_PID" --nofile="$soft:$hard"
bg_wait_exit idle-fds 40 || fail "flood tcp-idle did not end"
bg_alive cvpnd || fail "cvpnd died"
client_start bob "$NS_CLI" bob
client_wait_up bob
ok "descriptors back: a stock client connects"
client_stop bob

server_stop
summary
