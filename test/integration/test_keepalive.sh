#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Keepalive both ways: with ping 1 s / ping-restart 3 s pushed, an idle client is kept alive only by the
# gateway's pings (else it would restart after 3 s), and a client that goes silent is ended by the gateway
# after twice the timeout, its address freed.
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"

CV_KEEPALIVE="{ interval: 1s, timeout: 3s }"
topo_basic
pki_make "$TMPD/pki"
write_endpoint_config "$TMPD/endpoint.yaml"
server_start "$TMPD/endpoint.yaml"
export_client "$TMPD/endpoint.yaml"

client_start alice "$NS_CLI" alice
client_wait_up alice
assert_log "$(client_log alice)" "PUSH_REPLY.*,ping 1,ping-restart 3," "ping 1 and ping-restart 3 pushed"

sleep 7 # idle: no user traffic at all, more than twice the client's ping-restart
assert_no_log "$(client_log alice)" "Inactivity timeout" "idle client not restarted: the gateway's pings arrive"
assert_cmd "tunnel still carries traffic after the idle period" \
	n_exec "$NS_CLI" ping -q -c 2 -i 0.2 -W 2 "$RES_IP"

# Freeze the client: it neither pings nor answers. The gateway must end it after 2 x 3 s.
mark=$(log_mark "$SERVER_LOG")
kill -STOP "$(bg_pid alice)"
if wait_for_log_since "$SERVER_LOG" "$mark" "session [^ ]+ alice .*ended: no packet from the client" 10; then
	ok "silent client ended by the gateway within 10 s"
else
	kill -CONT "$(bg_pid alice)"
	fail "gateway did not end the silent session"
fi
assert_log "$SERVER_LOG" "ended: no packet from the client.*address 100\.64\.0\.2" "its address 100.64.0.2 released"
kill -CONT "$(bg_pid alice)"
bg_stop alice >/dev/null 2>&1 || true
server_stop
summary
