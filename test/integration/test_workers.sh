#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The data workers and the handshake threads. With data-workers 2 and handshake-threads 2: twenty
# load-generator sessions with traffic in every tunnel are spread over both workers (each decrypts and
# encrypts packets; the kernel steers by peer-id and client address, so next to nothing is passed up to the
# control thread); both handshake threads ran handshake steps; a stock client's ping goes through; sessions
# ended by the client (OCC_EXIT, seen by a worker) end at once. That daemon runs with only the systemd
# unit's capabilities (NET_ADMIN, NET_BIND_SERVICE, BPF), which must be enough to load the tun's steering
# program. Then the same with one worker and the handshakes on the control thread. Then a reload that raises
# max-connections past the workers' tables: the sessions beyond them stay on the control thread and still
# carry their traffic. make integration runs the
# whole suite with the first setting and its data-path tests again with the second.
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"
# shellcheck source=test/lib/ops.sh
. "$(dirname "$0")/../lib/ops.sh"

LOADGEN="$CVPN_BUILD/loadgen"
[ -x "$LOADGEN" ] || fail "no $LOADGEN (make loadgen)"
N=20

topo_basic
ipv6_off "$NS_CLI"
LG_SOURCES=$(client_add_sources "$NS_CLI" 31)
pki_make "$TMPD/pki"

run_with_workers() { # N_WORKERS N_HANDSHAKE_THREADS
	local w=$1 h=$2 st decrypted encrypted upcalls sent replies steps
	CV_WORKERS=$w CV_HS_THREADS=$h write_endpoint_config "$TMPD/endpoint-$w.yaml"
	server_start "$TMPD/endpoint-$w.yaml"
	export_client "$TMPD/endpoint-$w.yaml"
	expect_log "$SERVER_LOG" "$w data worker" 5 "cvpnd started $w data worker(s)"
	n_exec "$NS_CLI" timeout 60 "$LOADGEN" --remote "$GW_OUT_IP" --port 1194 --source-range "$LG_SOURCES" \
		--ca "$PKI/ca.crt" --cert "$PKI/alice.crt" --key "$PKI/alice.key" -n "$N" --timeout 40 \
		--hold 1 --traffic 3 --pps 10 --ping "$RES_IP" >"$TMPD/lg-$w.report" 2>"$TMPD/lg-$w.log" || true
	sed 's/^/    /' "$TMPD/lg-$w.report"
	assert_match "$(cat "$TMPD/lg-$w.report")" "sessions established +$N" "$w worker(s): $N sessions established"
	sent=$(awk '/traffic/ { for (i = 1; i <= NF; i++) if ($i == "sent") print $(i + 1) }' "$TMPD/lg-$w.report")
	replies=$(awk '/traffic/ { print $NF }' "$TMPD/lg-$w.report")
	[ "${replies:-0}" -ge $((${sent:-1} * 9 / 10)) ] || fail "$w worker(s): only ${replies:-0} of ${sent:-?} echo requests answered"
	ok "$w worker(s): $replies of $sent echo requests answered through the workers"
	# the load generator ended every session with OCC_EXIT, which only the worker decrypting it sees
	expect_log "$SERVER_LOG" "ended: client disconnected" 5 "$w worker(s): sessions ended by their clients"
	assert_eq "$(grep -c 'ended: client disconnected' "$SERVER_LOG")" "$N" "$w worker(s): all $N goodbyes reached the control thread"

	client_start alice "$NS_CLI" alice
	client_wait_up alice 15
	n_exec "$NS_CLI" ping -q -c 3 -W 2 "$RES_IP" >/dev/null || fail "$w worker(s): stock client cannot ping $RES_IP"
	ok "$w worker(s): the stock client pings through"
	st=$(ctl_json status)
	assert_eq "$(jq '.["data-workers"] | length' <<<"$st")" "$w" "status lists $w data worker(s)"
	for i in $(seq 0 $((w - 1))); do
		decrypted=$(jq ".[\"data-workers\"][$i][\"decrypted-packets\"]" <<<"$st")
		encrypted=$(jq ".[\"data-workers\"][$i][\"encrypted-packets\"]" <<<"$st")
		[ "$decrypted" -gt 20 ] || fail "worker $i of $w decrypted only $decrypted packets"
		[ "$encrypted" -gt 20 ] || fail "worker $i of $w encrypted only $encrypted packets"
		ok "worker $i of $w: $decrypted packets decrypted, $encrypted encrypted"
	done
	assert_eq "$(jq '.["handshake-threads"] | length' <<<"$st")" "$h" "status lists $h handshake thread(s)"
	for i in $(seq 0 $((h - 1))); do
		steps=$(jq ".[\"handshake-threads\"][$i][\"handshake-steps\"]" <<<"$st")
		# each handshake takes two steps at least (client hello; the client's certificate and finished)
		[ "$steps" -gt 0 ] || fail "handshake thread $i of $h ran no step"
		ok "handshake thread $i of $h: $steps steps"
	done
	# passed up: the goodbyes, and the odd packet of a session in the instant before its hand-over
	upcalls=$(jq '[.["data-workers"][].upcalls] | add' <<<"$st")
	[ "$upcalls" -le $((N * 4)) ] || fail "$w worker(s): $upcalls upcalls: the steering does not match the ownership"
	ok "$w worker(s): $upcalls upcalls to the control thread"
	client_stop alice
	server_stop
}

# the unit's capability set, as setpriv leaves it to a root process: nothing else
CVPND_FULL=$CVPND
cat >"$TMPD/cvpnd-unit-caps" <<EOF2
#!/bin/sh
exec setpriv --bounding-set=-all,+net_admin,+net_bind_service,+bpf --inh-caps=-all "$CVPND_FULL" "\$@"
EOF2
chmod +x "$TMPD/cvpnd-unit-caps"
CVPND="$TMPD/cvpnd-unit-caps"
run_with_workers 2 2
assert_no_log "$SERVER_LOG" "cannot steer" "the unit's capabilities load the steering program"
CVPND=$CVPND_FULL
run_with_workers 1 0

# A reload that raises max-connections grows the session table but not the workers' tables (sized at
# start): sessions whose peer-ids lie beyond them must stay on the control thread and still carry traffic.
# max-connections 10 gives a table of 266 peer-ids; 300 sessions after the reload use peer-ids past it.
CV_WORKERS=2 CV_HS_THREADS=2 ops_config "$TMPD/endpoint-grow.yaml" "max-connections: 10"
server_start "$TMPD/endpoint-grow.yaml"
sed -i 's/^  max-connections: 10$/  max-connections: 400/' "$TMPD/endpoint-grow.yaml"
ctl reload >"$TMPD/reload.out" 2>&1 || fail "reload raising max-connections refused: $(cat "$TMPD/reload.out")"
ok "reload raised max-connections from 10 to 400"
n_exec "$NS_CLI" timeout 90 "$LOADGEN" --remote "$GW_OUT_IP" --port 1194 --source-range "$LG_SOURCES" \
	--ca "$PKI/ca.crt" --cert "$PKI/alice.crt" --key "$PKI/alice.key" -n 300 --timeout 60 \
	--traffic 3 --pps 2 --ping "$RES_IP" >"$TMPD/lg-grow.report" 2>"$TMPD/lg-grow.log" || true
sed 's/^/    /' "$TMPD/lg-grow.report"
assert_match "$(cat "$TMPD/lg-grow.report")" "sessions established +300" "300 sessions established after the reload"
sent=$(awk '/traffic/ { for (i = 1; i <= NF; i++) if ($i == "sent") print $(i + 1) }' "$TMPD/lg-grow.report")
replies=$(awk '/traffic/ { print $NF }' "$TMPD/lg-grow.report")
[ "${replies:-0}" -ge $((${sent:-1} * 97 / 100)) ] ||
	fail "after the reload only ${replies:-0} of ${sent:-?} echo requests were answered"
ok "after the reload $replies of $sent echo requests answered (sessions past the workers' tables included)"
m=$(ctl_json metrics)
ingress=$(jq .metrics.ingress_packets_total <<<"$m")
by_workers=$(jq .metrics.worker_packets_decrypted_total <<<"$m")
[ "$by_workers" -lt "$ingress" ] || fail "the workers decrypted all $ingress packets: no session stayed on the control thread"
[ "$by_workers" -gt 0 ] || fail "the workers decrypted nothing"
ok "of $ingress packets in, the workers decrypted $by_workers and the control thread the rest"
server_stop
summary
