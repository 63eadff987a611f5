#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A client that renegotiates in a loop (--reneg-sec 1) costs the gateway a full handshake each time: cvpnd
# starts at most 4 renegotiations a client asks for at once, then one per 10 s (session.c CLIENT_RENEG_*).
# The soft resets beyond that wait, unacknowledged, until the client's retransmission is allowed: the
# session stays up and its traffic flows on the current key meanwhile.
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"

WINDOW=24 # seconds of pings (48 at 0.5 s)

topo_basic
pki_make "$TMPD/pki"
write_endpoint_config "$TMPD/endpoint.yaml"
server_start "$TMPD/endpoint.yaml"
export_client "$TMPD/endpoint.yaml"
client_start alice "$NS_CLI" alice --reneg-sec 1
client_wait_up alice
started=$(date +%s)

out=$(n_exec "$NS_CLI" ping -c $((WINDOW * 2)) -i 0.5 -W 2 "$RES_IP" 2>&1) || true
elapsed=$(( $(date +%s) - started ))
rx=$(sed -n 's/.* \([0-9]\+\) received.*/\1/p' <<<"$out")
[ -n "$rx" ] || fail "no ping statistics: $out"
[ "$rx" -ge $((WINDOW * 2 - 2)) ] || fail "only $rx of $((WINDOW * 2)) pings answered"
ok "$rx of $((WINDOW * 2)) pings answered while the client asked to renegotiate every second"

n=$(grep -c "renegotiation of key-id [0-9] started by client" "$SERVER_LOG" || true)
# the burst of 4, one per 10 s of the window, and one more for the allowance that refills during the burst;
# without the limit the client gets about one per second plus its handshake time (~20 here)
max=$(( 4 + elapsed / 10 + 1 ))
[ "$n" -le "$max" ] || fail "$n client renegotiations in ${elapsed}s (at most $max allowed)"
# the deferred ones are not lost: the client's retransmitted soft reset gets in once allowed
[ "$n" -ge 5 ] || fail "only $n client renegotiations in ${elapsed}s: the deferred soft reset never got in"
ok "$n client renegotiations in ${elapsed}s (4 at once, then one per 10 s)"
assert_log "$SERVER_LOG" "soft reset deferred [0-9]+ ms: a client may start 4 renegotiations at once, then one every 10 s" \
	"server logged the deferral"
# one line per deferred soft reset, not one per retransmission: at most one per renegotiation past the burst,
# plus the one still waiting (a slow machine may let a later one in without a wait)
deferred=$(grep -c "soft reset deferred" "$SERVER_LOG" || true)
[ "$deferred" -ge 1 ] && [ "$deferred" -le $(( n - 3 )) ] ||
	fail "$deferred deferral lines for $n renegotiations (expected 1 to $(( n - 3 )))"
ok "$deferred deferral lines: one per deferred soft reset"
assert_eq "$(grep -c " established address " "$SERVER_LOG")" 1 "one session all along: the client never reconnected"
assert_no_log "$(client_log alice)" "SIGUSR1|TLS Error" "client saw no TLS error and did not restart"
client_stop alice
server_stop
summary
