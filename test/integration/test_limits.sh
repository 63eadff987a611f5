#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Limits: max-connections refuses the next client with a clear message, a server log line and a failed
# connection-log record; a session timeout lowered by a reload ends the older session (HALT: the stock client
# exits); with disconnect-on-session-timeout off the client is told to reconnect (RESTART) and comes back as a
# new connection. Reloads that are invalid or change the listen port are refused and change nothing.
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"
# shellcheck source=test/lib/ops.sh
. "$(dirname "$0")/../lib/ops.sh"

topo_basic
topo_second_client
pki_make "$TMPD/pki"
CFG="$TMPD/endpoint.yaml"
ops_config "$CFG" "max-connections: 1" "session-timeout: 1h"
server_start "$CFG"
export_client "$CFG"

# --- max-connections: 1
client_start alice "$NS_CLI" alice
client_wait_up alice
mark=$(log_mark "$CONNLOG")
client_start bob "$NS_CLI2" bob
expect_log "$(client_log bob)" "AUTH_FAILED,the endpoint has reached its maximum of 1 connections" 10 \
	"second client told: maximum of 1 connections"
expect_log "$SERVER_LOG" "refused bob from [^ ]+: the endpoint has reached its maximum of 1 connections" 3 \
	"server logged the refusal"
wait_for_log_since "$CONNLOG" "$mark" '"common-name":"bob"' 3 || fail "no connection-log record for bob"
rec=$(tail -n "+$((mark + 1))" "$CONNLOG" | jq -c 'select(.["common-name"] == "bob")')
assert_eq "$(jq -r '.["connection-attempt-status"] + " / " + .["connection-attempt-failure-reason"]' <<<"$rec")" \
	"failed / the endpoint has reached its maximum of 1 connections" "connection log: failed attempt with the reason"
bg_wait_exit bob 5 || client_stop bob
assert_eq "$(ctl metrics | awk '$1 == "cvpn_connections_refused_limit_total" { print $2 }')" 1 \
	"metrics: one refusal at max-connections"
assert_eq "$(ctl_json status | jq .sessions.active)" 1 "status: still one active session"

# --- reloads that must be refused change nothing
cp "$CFG" "$TMPD/good.yaml"
sed -i 's/^  max-connections: 1$/  max-conections: 1/' "$CFG"
rc=0
ctl reload >"$TMPD/out" 2>"$TMPD/err" || rc=$?
assert_eq "$rc" 1 "reload of an invalid file: exit 1"
assert_match "$(cat "$TMPD/err")" "endpoint\.yaml:[0-9]+:[0-9]+: unknown key 'max-conections'" \
	"reload error points at file:line:col"
cp "$TMPD/good.yaml" "$CFG"
sed -i 's/^    port: 1194$/    port: 1195/' "$CFG"
rc=0
ctl reload --json >"$TMPD/out" 2>"$TMPD/err" || rc=$?
assert_eq "$rc" 1 "reload changing the port: exit 1"
assert_match "$(jq -r '.errors[]' "$TMPD/err")" "listen port cannot change on reload \(1194 -> 1195\)" \
	"reload --json names the setting that cannot change"
assert_eq "$(ctl_json status | jq .config.version)" 1 "config version still 1"
assert_cmd "alice unaffected by refused reloads" n_exec "$NS_CLI" ping -q -c 2 -i 0.2 -W 2 -w 6 "$RES_IP"

# --- lowering the session timeout on reload ends the older session; the client is told to halt
sleep 1
cp "$TMPD/good.yaml" "$CFG"
sed -i 's/^  session-timeout: 1h$/  session-timeout: 2s/' "$CFG"
r=$(ctl_json reload)
assert_eq "$(jq -r .config.version <<<"$r")" 2 "reload: config version 2"
assert_eq "$(jq -r .config.sha256 <<<"$r")" "$(sha256sum "$CFG" | cut -d' ' -f1)" "reload: sha256 of the new file"
bg_wait_exit alice 5 || fail "alice's client did not exit after the session timeout"
ok "alice's client exited"
assert_log "$(client_log alice)" "Halt command was pushed by server \('session timeout'\)" "alice was told: session timeout"
expect_log "$CONNLOG" '"connection-log-type":"connection-reset".*"connection-end-reason":"session timeout"' 3 \
	"connection log: ended by the session timeout"

# --- disconnect-on-session-timeout: false, applied with SIGHUP: the client is told to reconnect
sed -i 's/^  session-timeout: 2s$/  session-timeout: 3s\n  disconnect-on-session-timeout: false/' "$CFG"
kill -HUP "$(bg_pid cvpnd)"
expect_log "$SERVER_LOG" "configuration reloaded: version 3" 3 "SIGHUP reloads (version 3)"
client_start carol "$NS_CLI2" bob
client_wait_up carol
first=$(ctl_json connections | jq -r '.connections[] | select(.status == "active") | .["connection-id"]')
expect_log "$(client_log carol)" "Connection reset command was pushed by server \('session timeout'\)" 6 \
	"client told to reconnect at the session timeout"
wait_for_log "$(client_log carol)" "Initialization Sequence Completed(.|$)" 1
for ((i = 0; i < 50; i++)); do
	[ "$(grep -c 'Initialization Sequence Completed' "$(client_log carol)")" -ge 2 ] && break
	sleep 0.1
done
[ "$i" -lt 50 ] || fail "client did not reconnect within 5 s of the RESTART"
ok "client reconnected by itself"
bg_alive carol || fail "client exited instead of reconnecting"
second=$(ctl_json connections | jq -r '.connections[] | select(.status == "active") | .["connection-id"]')
assert_ne "$second" "$first" "the reconnection is a new connection"
# the restarting client never ACKs the RESTART: the old session waits out its short grace as "terminating"
for ((i = 0; i < 40; i++)); do
	st=$(ctl_json connections | jq -r --arg id "$first" '.connections[] | select(.["connection-id"] == $id) | .status')
	[ "$st" = terminated ] && break
	sleep 0.1
done
assert_eq "$st" terminated "the first connection is listed as terminated"
client_stop carol
server_stop
summary
