#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Data-channel key derivation: with tls-ekm true the 2.6 client and cvpnd use the TLS exporter (RFC 5705),
# with tls-ekm false the server must not offer it and both fall back to the OpenVPN TLS-PRF. Either way the
# keys must agree, which a ping in both directions proves.
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"

topo_basic
pki_make "$TMPD/pki"

for ekm in true false; do
	CV_TLS_EKM=$ekm
	write_endpoint_config "$TMPD/endpoint-$ekm.yaml"
	server_start "$TMPD/endpoint-$ekm.yaml"
	export_client "$TMPD/endpoint-$ekm.yaml"
	name="alice-ekm-$ekm"
	client_start "$name" "$NS_CLI" alice
	client_wait_up "$name"
	f=$(client_log "$name")
	assert_log "$f" "Protocol options:" "tls-ekm $ekm: client printed its protocol options"
	if [ "$ekm" = true ]; then
		expect_log "$SERVER_LOG" "session [^ ]+ alice .*established .*key-derivation tls-ekm" 3 \
			"tls-ekm true: server used tls-ekm"
		assert_log "$f" "Protocol options:.*tls-ekm" "tls-ekm true: client uses tls-ekm"
	else
		expect_log "$SERVER_LOG" "session [^ ]+ alice .*established .*key-derivation prf" 3 \
			"tls-ekm false: server used the TLS-PRF"
		assert_no_log "$f" "Protocol options:.*tls-ekm" "tls-ekm false: client does not use tls-ekm"
	fi
	client_address "$NS_CLI" alice 100.64.0.0/22
	assert_cmd "tls-ekm $ekm: client pings the resource host" \
		n_exec "$NS_CLI" ping -q -c 3 -i 0.2 -W 2 -w 6 "$RES_IP"
	# The other direction: the gateway reaches the client's tunnel address through cvpnd's tun. From the
	# association address, so that the client's reply can only come back through the tunnel too.
	assert_cmd "tls-ekm $ekm: gateway pings the client's tunnel address" \
		n_exec "$NS_GW" ping -q -c 3 -i 0.2 -W 2 -w 6 -I "$ASSOC_IP" "$CLIENT_ADDR"
	client_stop "$name"
	server_stop
done
summary
