#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Client certificates that must be refused: issued by another CA, expired, without the clientAuth extended
# key usage. Each attempt must fail and be logged with its cause; afterwards, with a client CIDR that holds a
# single client address, a good client still gets it (no refused attempt left an address allocated).
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"

topo_basic
pki_make "$TMPD/pki"
CV_CLIENT_CIDR=100.64.0.0/30
write_endpoint_config "$TMPD/endpoint.yaml"
server_start "$TMPD/endpoint.yaml"
export_client "$TMPD/endpoint.yaml"

# cert name | what the server's reason must mention (extended regex, case-insensitive)
cases=(
	"mallory-otherca|unknown ca|unable to get (local )?issuer|not signed by|untrusted|issuer"
	"carol-expired|expired"
	"dave-noclientauth|clientauth|extended key usage|eku|purpose"
)
for c in "${cases[@]}"; do
	cert=${c%%|*}
	reason=${c#*|}
	mark=$(log_mark "$SERVER_LOG")
	client_start "$cert" "$NS_CLI" "$cert"
	wait_for_log_since "$SERVER_LOG" "$mark" "refused [^ ]+ from [^ ]+: " 8 ||
		fail "$cert: no 'refused' line in the server log within 8 s"
	ok "$cert: server logged a refusal"
	line=$(tail -n "+$((mark + 1))" "$SERVER_LOG" | grep -E -m1 "refused [^ ]+ from [^ ]+: ")
	grep -Eiq -- "$reason" <<<"$line" || fail "$cert: refusal does not name the cause (/$reason/): $line"
	ok "$cert: refusal names the cause: ${line#*refused }"
	# Give the client time to (wrongly) finish; it must not.
	if wait_for_log "$(client_log "$cert")" "Initialization Sequence Completed" 2; then
		fail "$cert: client completed the connection"
	fi
	ok "$cert: client did not complete"
	assert_eq "$(client_tun "$NS_CLI")" "" "$cert: client has no tunnel address"
	client_stop "$cert"
	bg_alive cvpnd || fail "cvpnd died"
done

client_start alice "$NS_CLI" alice
client_wait_up alice
client_address "$NS_CLI" alice 100.64.0.0/30
assert_cmd "alice pings $RES_IP" n_exec "$NS_CLI" ping -q -c 2 -i 0.2 -W 2 -w 6 "$RES_IP"
client_stop alice
server_stop
summary
