#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The load generator against both gateways: 20 sessions (certificate auth, full key exchange, data channel)
# from one process in the client namespace, then a short traffic phase of ICMP echo requests inside every
# tunnel to the resource host. Against cvpnd: all established, every session logged, pings answered, the
# gateway's RSS read; clients that send a TLS KeyUpdate once up make it renegotiate, and ones that send it
# while a connect handler still holds them come up as usual. Then the same against the stock OpenVPN 2.6
# server.
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

# Runs the load generator in the client namespace; its report goes to $TMPD/NAME.report.
loadgen() { # NAME [options...]
	local name=$1
	shift
	n_exec "$NS_CLI" timeout 60 "$LOADGEN" --remote "$GW_OUT_IP" --port 1194 --source-range "$LG_SOURCES" --ca "$PKI/ca.crt" \
		--cert "$PKI/alice.crt" --key "$PKI/alice.key" -n "$N" --timeout 40 "$@" \
		>"$TMPD/$name.report" 2>"$TMPD/$name-loadgen.log" || true
	sed 's/^/    /' "$TMPD/$name.report"
}

# Value of a line of the report: `field NAME "sessions established"` prints the first number after it.
field() { # NAME LABEL
	awk -v l="$2" 'index($0, l) { sub(".*" l " *", ""); print $1 + 0; exit }' "$TMPD/$1.report"
}

check_report() { # NAME WHAT
	local name=$1 what=$2 sent replies
	assert_eq "$(field "$name" "sessions established")" "$N" "$what: $N sessions established"
	assert_match "$(cat "$TMPD/$name.report")" "failures +0 " "$what: no failures"
	assert_match "$(cat "$TMPD/$name.report")" "time to $N sessions +[0-9.]+ s" "$what: time to $N reported"
	sent=$(awk '/traffic/ { for (i = 1; i <= NF; i++) if ($i == "sent") print $(i + 1) }' "$TMPD/$name.report")
	replies=$(awk '/traffic/ { print $NF }' "$TMPD/$name.report")
	# 3 s at 5 echo requests per second per session, plus the one sent at the start
	[ "${sent:-0}" -ge $((N * 15)) ] || fail "$what: only ${sent:-0} echo requests sent"
	ok "$what: $sent echo requests sent inside the tunnels"
	# UDP may lose a few; most must come back, or the data channel is broken
	[ "${replies:-0}" -ge $((sent * 9 / 10)) ] || fail "$what: only ${replies:-0} of $sent echo requests answered"
	ok "$what: $replies of $sent answered"
}

topo_basic
LG_SOURCES=$(client_add_sources "$NS_CLI" 127)
pki_make "$TMPD/pki"

# --- cvpnd ---
write_endpoint_config "$TMPD/endpoint.yaml"
server_start "$TMPD/endpoint.yaml"
loadgen cvpnd --traffic 3 --pps 5 --ping "$RES_IP" --gateway-pid "$(bg_pid cvpnd)"
check_report cvpnd "cvpnd"
assert_match "$(cat "$TMPD/cvpnd.report")" "gateway RSS +before [0-9]+ KiB, after [0-9]+ KiB" \
	"cvpnd: gateway RSS read before and after"
assert_eq "$(grep -cE 'session [^ ]+ alice from .*established address 100\.64\.' "$SERVER_LOG")" "$N" \
	"cvpnd logged $N sessions established"
# loadgen ends each session with OCC_EXIT: the gateway frees them at once
expect_log "$SERVER_LOG" "ended: client disconnected" 5 "cvpnd saw the sessions end"
# failures are counted by reason: a certificate from another CA gets AUTH_FAILED from cvpnd
N=3 loadgen refused --cert "$PKI/mallory-otherca.crt" --key "$PKI/mallory-otherca.key"
assert_eq "$(field refused "sessions established")" 0 "mallory: no session established"
assert_match "$(cat "$TMPD/refused.report")" "failures +3 \(timeout 0, auth_failed 3," "mallory: 3 failures, all AUTH_FAILED"
# clients that rekey their control channel (TLS 1.3 KeyUpdate) once up, after the gateway's control channel
# left wolfSSL: the gateway cannot follow the new keys, so it renegotiates (a new TLS session on the next
# key-id) instead of ending the session, and the data keeps flowing on the current key meanwhile
N=3 loadgen keyupdate --key-update --traffic 3 --pps 5 --ping "$RES_IP"
N=3 check_report keyupdate "3 clients sending KeyUpdate"
assert_eq "$(grep -c 'alice: client sent a TLS KeyUpdate; renegotiating' "$SERVER_LOG")" 3 \
	"cvpnd saw the 3 KeyUpdates"
assert_eq "$(grep -c 'alice: renegotiation of key-id 1 started by server' "$SERVER_LOG")" 3 \
	"cvpnd renegotiated each of the 3 sessions"
assert_no_log "$SERVER_LOG" 'TLS read failed' "no session ended on a TLS error"
server_stop

# a KeyUpdate before PUSH_REQUEST (on the gateway's key-method-2 reply), while a connect handler (1 s) still
# holds the session: the control channel stays in wolfSSL until PUSH_REPLY is out, so wolfSSL follows the update
# itself; the sessions come up as usual, nothing is renegotiated
printf '#!/bin/sh\ncat >/dev/null\nsleep 1\necho %s\n' "'{\"allow\": true}'" >"$TMPD/slow-handler"
chmod 700 "$TMPD/slow-handler"
ops_config "$TMPD/endpoint-handler.yaml" "authentication:" "  connect-handler: { path: $TMPD/slow-handler, timeout: 5s }"
server_start "$TMPD/endpoint-handler.yaml"
N=3 loadgen early --key-update=early --traffic 3 --pps 5 --ping "$RES_IP"
N=3 check_report early "3 clients sending KeyUpdate before they are admitted"
assert_eq "$(grep -cE 'session [^ ]+ alice from .*established address 100\.64\.' "$SERVER_LOG")" 3 \
	"cvpnd admitted the 3 sessions after the handler"
assert_no_log "$SERVER_LOG" 'KeyUpdate; renegotiating' "no renegotiation: wolfSSL followed the early updates"
assert_no_log "$SERVER_LOG" 'TLS read failed' "no session ended on a TLS error"
server_stop

# --- the stock OpenVPN 2.6 server ---
# duplicate-cn: every session presents alice's certificate; without it each new one would evict the last.
start_stock_openvpn_server udp --duplicate-cn
loadgen openvpn --traffic 3 --pps 5 --ping "$RES_IP" --gateway-pid "$(bg_pid openvpn-server)"
check_report openvpn "stock openvpn"
assert_eq "$(grep -c 'alice/.*MULTI_sva: pool returned IPv4=100\.64\.' "$TMPD/openvpn-server.log")" "$N" \
	"stock openvpn assigned $N addresses"
bg_stop openvpn-server || true
summary
