#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A gateway with two addresses on its outside interface, listening on the wildcard address (the default):
# each client is answered from the address it sent to. The routing table alone would answer both from the
# primary one, and a stock client rejects that ("Incoming packet rejected from ..., expected peer address").
# Alice connects to the second address, bob to the first, at the same time; each reaches the network behind
# the gateway. Once on 0.0.0.0, once on "::" (IPv4 clients on a dual-stack socket).
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"

SECOND_IP=203.0.113.5

topo_basic
topo_second_client
pki_make "$TMPD/pki"
ip -n "$NS_GW" addr add "$SECOND_IP/24" dev outside

for listen in 0.0.0.0 '"::"'; do
	tag=$([ "$listen" = 0.0.0.0 ] && echo v4 || echo dual)
	CV_LISTEN=$listen write_endpoint_config "$TMPD/endpoint-$tag.yaml"
	sed -i "s/^  remote: .*/  remote: $SECOND_IP/" "$TMPD/endpoint-$tag.yaml"
	server_start "$TMPD/endpoint-$tag.yaml"
	export_client "$TMPD/endpoint-$tag.yaml"
	assert_log "$TMPD/client.ovpn" "^remote $SECOND_IP 1194" "$tag: the client file names the second address"
	client_start "alice-$tag" "$NS_CLI" alice
	client_wait_up "alice-$tag"
	# bob's file names the first (the file is read when the client starts)
	sed -i "s/^remote $SECOND_IP /remote $GW_OUT_IP /" "$TMPD/client.ovpn"
	client_start "bob-$tag" "$NS_CLI2" bob
	client_wait_up "bob-$tag"
	assert_no_log "$(client_log "alice-$tag")" "Incoming packet rejected" "$tag: alice heard only from $SECOND_IP"
	assert_no_log "$(client_log "bob-$tag")" "Incoming packet rejected" "$tag: bob heard only from $GW_OUT_IP"
	check_data_path "$NS_CLI" "alice-$tag"
	check_data_path "$NS_CLI2" "bob-$tag"
	# a bulk transfer: the data workers' batched sends (UDP GSO runs) leave from the session's address too
	assert_cmd "$tag: alice's 200 pings of 1,300 bytes all answered" n_exec "$NS_CLI" \
		ping -q -c 200 -i 0.005 -s 1300 -W 2 -w 10 "$RES_IP"
	client_stop "alice-$tag"
	client_stop "bob-$tag"
	server_stop
done
summary
