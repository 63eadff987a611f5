#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Certificate revocation: a CRL (PEM, then DER) refuses a revoked certificate with a clear reason while others
# connect; an expired CRL refuses every certificate login and says so in the log; a reload re-reads the CRL;
# a CRL of 20,000 entries does not slow handshakes measurably (load generator, one handshake at a time,
# 4 per second to stay under the per-source limit of stateless replies; median and 99th percentile with
# and without it).
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"
# shellcheck source=test/lib/ops.sh
. "$(dirname "$0")/../lib/ops.sh"
# shellcheck source=test/lib/crl.sh
. "$(dirname "$0")/../lib/crl.sh"

LOADGEN="$CVPN_BUILD/loadgen"
[ -x "$LOADGEN" ] || fail "no $LOADGEN (make loadgen)"
N=${CRL_BENCH_SESSIONS:-40}

topo_basic
ipv6_off "$NS_CLI"
pki_make "$TMPD/pki"
pki_leaf "$PKI" ca eve eve clientAuth
crl_setup
crl_revoke eve
crl_gen "$TMPD/crl.pem"
ops_config "$TMPD/endpoint.yaml" "crl: $TMPD/crl.pem"
server_start "$TMPD/endpoint.yaml"
export_client "$TMPD/endpoint.yaml"
expect_log "$SERVER_LOG" "CRL $(re_quote "$TMPD")/crl.pem: 1 revoked certificates, next update" 1 "CRL loaded (1 entry)"

# Waits for a refusal in the server log after MARK; prints the reason.
refusal_after() { # MARK
	wait_for_log_since "$SERVER_LOG" "$1" "refused [^ ]+ from [^ ]+: " 8 || fail "no refusal logged within 8 s"
	tail -n "+$(($1 + 1))" "$SERVER_LOG" | grep -E -m1 "refused [^ ]+ from [^ ]+: " | sed 's/.*: refused/refused/'
}

# --- PEM CRL: eve is revoked, alice is not
mark=$(log_mark "$SERVER_LOG")
client_start eve "$NS_CLI" eve
assert_match "$(refusal_after "$mark")" "refused eve from .*certificate is revoked" "PEM CRL: eve refused as revoked"
expect_log "$(client_log eve)" "AUTH_FAILED,certificate is revoked" 5 "eve's client was told why"
client_stop eve
client_start alice "$NS_CLI" alice
client_wait_up alice
client_stop alice

# --- the same CRL in DER, re-read on reload
openssl crl -in "$TMPD/crl.pem" -outform DER -out "$TMPD/crl.der"
sed -i "s|crl: $TMPD/crl.pem|crl: $TMPD/crl.der|" "$TMPD/endpoint.yaml"
assert_cmd "reload with the DER CRL" ctl reload
mark=$(log_mark "$SERVER_LOG")
client_start eve "$NS_CLI" eve
assert_match "$(refusal_after "$mark")" "certificate is revoked" "DER CRL: eve refused as revoked"
client_stop eve

# --- bob revoked later: the new CRL applies after a reload, not before
crl_revoke bob
crl_gen "$TMPD/crl.pem"
sed -i "s|crl: $TMPD/crl.der|crl: $TMPD/crl.pem|" "$TMPD/endpoint.yaml"
assert_cmd "reload with bob revoked" ctl reload
mark=$(log_mark "$SERVER_LOG")
client_start bob "$NS_CLI" bob
assert_match "$(refusal_after "$mark")" "refused bob from .*certificate is revoked" "reload re-read the CRL: bob refused"
client_stop bob

# --- an expired CRL: nobody gets in, and the log says why
crl_gen "$TMPD/crl.pem" "$(date -u -d '3 days ago' +%y%m%d%H%M%SZ)" "$(date -u -d '1 day ago' +%y%m%d%H%M%SZ)"
assert_cmd "reload with an expired CRL" ctl reload
expect_log "$SERVER_LOG" "CRL $(re_quote "$TMPD")/crl.pem expired at .*every certificate login is refused" 2 \
	"expired CRL: the log says every certificate login is refused"
mark=$(log_mark "$SERVER_LOG")
client_start alice "$NS_CLI" alice
assert_match "$(refusal_after "$mark")" "refused alice from .*certificate revocation list expired at" \
	"expired CRL: alice (not revoked) refused"
expect_log "$(client_log alice)" "AUTH_FAILED,the endpoint's certificate revocation list expired" 5 \
	"expired CRL: the client was told why"
client_stop alice
m=$(ctl metrics)
assert_match "$(awk '$1 == "cvpn_crl_days_to_expiry" { print $2 }' <<<"$m")" "^-" "metrics: CRL days to expiry negative"

# --- 20,000 entries: handshakes as fast as with none
crl_gen "$TMPD/crl.pem"
assert_cmd "reload with a current CRL" ctl reload
client_start alice "$NS_CLI" alice
client_wait_up alice
client_stop alice

bench() { # NAME
	n_exec "$NS_CLI" timeout 60 "$LOADGEN" --remote "$GW_OUT_IP" --port 1194 --ca "$PKI/ca.crt" \
		--cert "$PKI/alice.crt" --key "$PKI/alice.key" -n "$N" --concurrency 1 --rate 4 --timeout 50 \
		>"$TMPD/$1.report" 2>"$TMPD/$1-loadgen.log" || true
	awk '/handshake latency/ { print $4, $7 }' "$TMPD/$1.report"
}
sed -i "/^  crl: /d" "$TMPD/endpoint.yaml"
assert_cmd "reload without a CRL" ctl reload
read -r p50_none p99_none <<<"$(bench none)"
crl_fill 20000
crl_gen "$TMPD/crl-big.pem"
ls -l "$TMPD/crl-big.pem" >/dev/null
ops_config "$TMPD/endpoint.yaml" "crl: $TMPD/crl-big.pem"
assert_cmd "reload with a 20,002-entry CRL" ctl reload
expect_log "$SERVER_LOG" "crl-big.pem: 20002 revoked certificates" 2 "big CRL loaded: 20,002 entries"
read -r p50_big p99_big <<<"$(bench big)"
[ -n "$p50_none" ] && [ -n "$p50_big" ] || fail "load generator gave no latency figures"
log "handshake latency over $N sequential handshakes: no CRL p50 $p50_none ms p99 $p99_none ms; 20,002-entry CRL p50 $p50_big ms p99 $p99_big ms"
# measurably slower = more than 20% plus 3 ms of scheduling noise on the median
[ "$p50_big" -le $(( p50_none * 12 / 10 + 3 )) ] ||
	fail "20,002-entry CRL: median handshake $p50_big ms vs $p50_none ms without"
ok "20,002-entry CRL: median handshake $p50_big ms vs $p50_none ms without a CRL"
mark=$(log_mark "$SERVER_LOG")
client_start bob "$NS_CLI" bob
assert_match "$(refusal_after "$mark")" "certificate is revoked" "big CRL: bob still refused"
client_stop bob

server_stop
summary
