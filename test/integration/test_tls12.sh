#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# TLS 1.2 on the control channel (a client capped at 1.2), with both data-key derivations: TLS-EKM works
# over 1.2 as well as 1.3, and so does the PRF method.
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
	client_start "alice-$ekm" "$NS_CLI" alice --tls-version-max 1.2
	client_wait_up "alice-$ekm"
	assert_log "$(client_log "alice-$ekm")" "Control Channel: TLSv1\.2" "tls-ekm $ekm: client negotiated TLS 1.2"
	want=$([ "$ekm" = true ] && echo tls-ekm || echo prf)
	expect_log "$SERVER_LOG" "established .*key-derivation $want .*TLSv1\.2" 3 \
		"tls-ekm $ekm: gateway used $want over TLS 1.2"
	assert_cmd "tls-ekm $ekm: ping through the tunnel" n_exec "$NS_CLI" ping -q -c 2 -i 0.2 -W 2 "$RES_IP"
	client_stop "alice-$ekm"
	server_stop
done
summary
