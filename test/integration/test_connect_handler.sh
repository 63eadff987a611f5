#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The client connect handler on a certificate endpoint: it gets the connection's fields as JSON on stdin
# (checked here field by field), and its answer decides: allow (posture statuses logged), deny with a
# message the user sees in AUTH_FAILED, and fail-closed cases: a timeout, garbage output, a crash. The
# handler decides by the common name it is given, so each case is a certificate.
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"
# shellcheck source=test/lib/ops.sh
. "$(dirname "$0")/../lib/ops.sh"

topo_basic
ipv6_off "$NS_CLI"
pki_make "$TMPD/pki"
for n in hang garbage crash; do pki_leaf "$PKI" ca "$n" "$n" clientAuth; done

HANDLER="$TMPD/connect-handler"
cat >"$HANDLER" <<EOF
#!/bin/sh
# test handler: records its input, answers by common name
in=\$(cat)
cn=\$(printf '%s' "\$in" | jq -r '.["common-name"]')
printf '%s\n' "\$in" >"$TMPD/handler-input-\$cn.json"
case "\$cn" in
alice) echo '{"allow": true, "posture-compliance-statuses": ["disk-encrypted", "av-current"]}' ;;
bob) echo '{"allow": false, "error-msg-on-denied-connection": "Your device is not compliant: update it and retry."}' ;;
hang) sleep 30 ;;
garbage) echo 'allow everyone, trust me' ;;
crash) kill -SEGV \$\$ ;;
esac
EOF
chmod 700 "$HANDLER"
ops_config "$TMPD/endpoint.yaml" "authentication:" "  connect-handler: { path: $HANDLER, timeout: 3s }"
server_start "$TMPD/endpoint.yaml"
export_client "$TMPD/endpoint.yaml"

# --- allow: the session comes up; the handler saw the connection's fields
client_start alice "$NS_CLI" alice
client_wait_up alice
in="$TMPD/handler-input-alice.json"
[ -s "$in" ] || fail "the handler recorded no input for alice"
assert_match "$(jq -r '.["connection-id"]' "$in")" '^cvpn-conn-[0-9a-f]{16}$' "input: connection-id"
assert_eq "$(jq -r '.["common-name"] + " " + .username + " " + .["public-ip"]' "$in")" "alice  $CLI_IP" \
	"input: common-name, username (none), public-ip"
assert_eq "$(jq -r '.platform + " " + .["client-openvpn-version"]' "$in")" "linux 2.6.14" "input: platform and client version"
assert_eq "$(jq -r '.["endpoint-id"] + " " + (.groups | length | tostring) + " " + .["schema-version"]' "$in")" \
	"cvpn-endpoint 0 v3" "input: endpoint-id, groups, schema-version"
assert_eq "$(jq -r 'has("platform-version")' "$in")" true "input: platform-version present"
cid=$(jq -r '.["connection-id"]' "$in")
assert_eq "$(ctl_json connections | jq -r '.connections[] | select(.status == "active") | .["connection-id"]')" "$cid" \
	"the handler's connection-id is the connection's"
expect_log "$SERVER_LOG" "login of alice from .* accepted .*connect handler allowed, posture disk-encrypted,av-current" 2 \
	"posture statuses logged"
assert_cmd "alice pings $RES_IP" n_exec "$NS_CLI" ping -q -c 2 -i 0.2 -W 2 -w 6 "$RES_IP"
client_stop alice

# --- deny with a message: the user sees it
client_start bob "$NS_CLI" bob
wait_for_log "$(client_log bob)" "AUTH_FAILED" 10 || fail "bob got no AUTH_FAILED"
assert_log "$(client_log bob)" "AUTH_FAILED,Your device is not compliant: update it and retry\." \
	"deny: the handler's message reached the user"
expect_log "$SERVER_LOG" "refused bob from .*: Your device is not compliant" 2 "deny: logged"
client_stop bob

# --- fail closed: a handler that hangs, prints garbage or crashes
for c in "hang|could not be checked in time|no answer within 3s" \
	 "garbage|could not be checked|answer is not JSON" \
	 "crash|could not be checked|killed by signal 11"; do
	IFS='|' read -r cert msg why <<<"$c"
	t0=$(date +%s)
	client_start "$cert" "$NS_CLI" "$cert"
	wait_for_log "$(client_log "$cert")" "AUTH_FAILED|Initialization Sequence Completed" 15 || fail "$cert: no verdict"
	assert_log "$(client_log "$cert")" "AUTH_FAILED,the connection $msg" "$cert: refused ($msg)"
	expect_log "$SERVER_LOG" "login of $cert from .* failed .*connect handler: $why" 2 "$cert: the log says why ($why)"
	client_stop "$cert"
	[ "$cert" != hang ] || [ $(( $(date +%s) - t0 )) -ge 3 ] || fail "hang: refused before its timeout"
done
m=$(ctl metrics)
assert_eq "$(awk '$1 == "cvpn_connect_handler_timeouts_total" { print $2 }' <<<"$m")" 1 "metrics: 1 handler timeout"
assert_eq "$(awk '$1 == "cvpn_connect_handler_denials_total" { print $2 }' <<<"$m")" 3 \
	"metrics: 3 handler denials (deny, garbage, crash)"
if ps -eo args | grep -q "^sleep 30$"; then
	fail "the hanging handler's child outlived its timeout"
fi
ok "the hanging handler and its child were killed"

server_stop
summary
