#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Each data-channel cipher the server offers, forced from the client with --data-ciphers: the negotiated
# cipher shows in both logs and traffic flows.
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"

topo_basic
pki_make "$TMPD/pki"
write_endpoint_config "$TMPD/endpoint.yaml"
server_start "$TMPD/endpoint.yaml"
export_client "$TMPD/endpoint.yaml"

for cipher in AES-256-GCM AES-128-GCM CHACHA20-POLY1305; do
	name="alice-${cipher,,}"
	client_start "$name" "$NS_CLI" alice --data-ciphers "$cipher"
	client_wait_up "$name"
	assert_log "$(client_log "$name")" "Data Channel: cipher '$cipher'" "$cipher: client negotiated $cipher"
	assert_log "$(client_log "$name")" "PUSH_REPLY.*cipher $cipher" "$cipher: server pushed cipher $cipher"
	expect_log "$SERVER_LOG" "session [^ ]+ alice .*established .*cipher $cipher( |\$)" 3 \
		"$cipher: server logged cipher $cipher"
	assert_cmd "$cipher: ping $RES_IP" n_exec "$NS_CLI" ping -q -c 3 -i 0.2 -W 2 -w 6 "$RES_IP"
	assert_cmd "$cipher: 1200-byte pings" n_exec "$NS_CLI" ping -q -c 2 -i 0.2 -s 1200 -W 2 -w 6 "$RES_IP"
	client_stop "$name"
done

server_stop
summary
