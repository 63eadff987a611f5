#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The cvpnctl commands that work on files: check (text and --json, good and bad files) and every variant of
# export-client-config (UDP, TCP, certificate inline, auth-user-pass, static challenge, --json, -o), each
# file then parsed by the stock openvpn (a client config it rejects fails before any network I/O).
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"
# shellcheck source=test/lib/ops.sh
. "$(dirname "$0")/../lib/ops.sh"

pki_make "$TMPD/pki"
write_endpoint_config "$TMPD/udp.yaml"
CV_TRANSPORT=tcp write_endpoint_config "$TMPD/tcp.yaml"
{ cat "$TMPD/udp.yaml"; echo "bogus-section: 1"; } | sed 's/^  split-tunnel: true$/  split-tunnel: maybe/' >"$TMPD/bad.yaml"

# --- check
assert_eq "$("$CVPNCTL" check "$TMPD/udp.yaml")" "configuration OK" "check: good file"
j=$("$CVPNCTL" check "$TMPD/udp.yaml" --json)
assert_eq "$(jq -r '.ok, (.errors | length)' <<<"$j" | tr '\n' ' ')" "true 0 " "check --json: ok, no errors"
rc=0
"$CVPNCTL" check "$TMPD/bad.yaml" >"$TMPD/out" 2>"$TMPD/err" || rc=$?
assert_eq "$rc" 1 "check: bad file exits 1"
assert_eq "$(cat "$TMPD/out")" "" "check: nothing on stdout for a bad file"
assert_match "$(cat "$TMPD/err")" "bad\.yaml:[0-9]+:[0-9]+: .*split-tunnel" "check: error points at split-tunnel"
rc=0
"$CVPNCTL" check "$TMPD/bad.yaml" --json >"$TMPD/out" 2>"$TMPD/err" || rc=$?
assert_eq "$rc" 1 "check --json: bad file exits 1"
assert_eq "$(jq -r .ok "$TMPD/err")" false "check --json: ok false on stderr"
assert_eq "$(jq '.errors | length' "$TMPD/err")" 2 "check --json: both errors reported"
assert_match "$(jq -r '.errors[]' "$TMPD/err")" "unknown key 'bogus-section'" "check --json: the unknown section"

# openvpn parses a client file completely before it opens any socket; --verb 0 and a bogus option after it
# make it stop right there. "Options error" in its output means our file was rejected.
openvpn_parses() { # FILE
	local out
	out=$(timeout 5 openvpn --config "$1" --cert "$PKI/alice.crt" --key "$PKI/alice.key" --auth-user-pass \
		"$TMPD/creds" --cvpn-test-stop 2>&1) || true
	grep -q "Unrecognized option or missing or extra parameter(s) in \[CMD-LINE\]:1: cvpn-test-stop" <<<"$out"
}
printf 'user\npass\n' >"$TMPD/creds"
chmod 600 "$TMPD/creds"

# --- export: UDP, certificate
"$CVPNCTL" export-client-config -c "$TMPD/udp.yaml" >"$TMPD/udp.ovpn"
assert_log "$TMPD/udp.ovpn" "^proto udp$" "export udp: proto udp"
assert_log "$TMPD/udp.ovpn" "^remote $(re_quote "$GW_OUT_IP") 1194$" "export udp: remote"
assert_log "$TMPD/udp.ovpn" "^explicit-exit-notify 1$" "export udp: explicit-exit-notify"
assert_no_log "$TMPD/udp.ovpn" "auth-user-pass|static-challenge" "export udp: no auth-user-pass by default"
openvpn_parses "$TMPD/udp.ovpn" || fail "openvpn rejects the UDP client file"
ok "openvpn parses the UDP client file"

# --- TCP
"$CVPNCTL" export-client-config -c "$TMPD/tcp.yaml" -o "$TMPD/tcp.ovpn"
assert_log "$TMPD/tcp.ovpn" "^proto tcp-client$" "export tcp: proto tcp-client"
assert_no_log "$TMPD/tcp.ovpn" "explicit-exit-notify" "export tcp: no explicit-exit-notify"
assert_eq "$(stat -c %a "$TMPD/tcp.ovpn")" 600 "export -o: file mode 0600"
openvpn_parses "$TMPD/tcp.ovpn" || fail "openvpn rejects the TCP client file"
ok "openvpn parses the TCP client file"

# --- certificate and key inline
"$CVPNCTL" export-client-config -c "$TMPD/udp.yaml" --cert "$PKI/alice.crt" --key "$PKI/alice.key" >"$TMPD/cert.ovpn"
assert_eq "$(sed -n '/^<cert>$/,/^<\/cert>$/p' "$TMPD/cert.ovpn" | sed '1d;$d')" "$(cat "$PKI/alice.crt")" "export: <cert> inline"
assert_eq "$(sed -n '/^<key>$/,/^<\/key>$/p' "$TMPD/cert.ovpn" | sed '1d;$d')" "$(cat "$PKI/alice.key")" "export: <key> inline"

# --- auth-user-pass and static challenge
"$CVPNCTL" export-client-config -c "$TMPD/udp.yaml" --auth-user-pass >"$TMPD/up.ovpn"
assert_log "$TMPD/up.ovpn" "^auth-user-pass$" "export --auth-user-pass"
assert_no_log "$TMPD/up.ovpn" "static-challenge" "export --auth-user-pass: no challenge"
openvpn_parses "$TMPD/up.ovpn" || fail "openvpn rejects the auth-user-pass client file"
ok "openvpn parses the auth-user-pass client file"
"$CVPNCTL" export-client-config -c "$TMPD/udp.yaml" --static-challenge 'Enter MFA code ' >"$TMPD/mfa.ovpn"
assert_log "$TMPD/mfa.ovpn" "^auth-user-pass$" "export --static-challenge implies auth-user-pass"
assert_log "$TMPD/mfa.ovpn" '^static-challenge "Enter MFA code " 1$' "export --static-challenge: prompt, echo on"
openvpn_parses "$TMPD/mfa.ovpn" || fail "openvpn rejects the static-challenge client file"
ok "openvpn parses the static-challenge client file"
"$CVPNCTL" export-client-config -c "$TMPD/udp.yaml" --static-challenge 'Say "code" \ now' >"$TMPD/q.ovpn"
assert_log "$TMPD/q.ovpn" '^static-challenge "Say \\"code\\" \\\\ now" 1$' "export --static-challenge: quotes escaped"
openvpn_parses "$TMPD/q.ovpn" || fail "openvpn rejects the escaped static-challenge"
ok "openvpn parses the escaped static challenge"

# --- --json
j=$("$CVPNCTL" export-client-config -c "$TMPD/tcp.yaml" --auth-user-pass --json)
assert_eq "$(jq -r .ok <<<"$j")" true "export --json: ok"
assert_eq "$(jq -r '.["client-config"]' <<<"$j")" "$("$CVPNCTL" export-client-config -c "$TMPD/tcp.yaml" --auth-user-pass)" \
	"export --json: client-config is the file"
j=$("$CVPNCTL" export-client-config -c "$TMPD/udp.yaml" -o "$TMPD/o.ovpn" --json)
assert_eq "$(jq -r .output <<<"$j")" "$TMPD/o.ovpn" "export -o --json: names the file"
rc=0
"$CVPNCTL" export-client-config -c "$TMPD/bad.yaml" --json >/dev/null 2>"$TMPD/err" || rc=$?
assert_eq "$rc" 1 "export of a bad config: exit 1"
rc=0
"$CVPNCTL" export-client-config -c "$TMPD/udp.yaml" --cert "$PKI/alice.crt" >/dev/null 2>&1 || rc=$?
assert_eq "$rc" 2 "export --cert without --key: usage error"

# --- help texts
assert_match "$("$CVPNCTL" --help)" "terminate --connection-id ID \| --username NAME" "cvpnctl --help lists terminate"
assert_match "$("$CVPND" --help)" "SIGHUP" "cvpnd --help documents the signals"
summary
