#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# An address handed to the next client carries nothing of the last one's connections. With a client CIDR of
# one address (/30), alice opens a UDP flow to the resource host, which keeps answering it; alice leaves and
# bob gets her address. The resource host's answers must not reach bob: alice's connection tracking entries
# (the NAT binding and the established state that lets replies through to_client and the security groups) go
# with her session. Before, they stayed, and bob received alice's traffic.
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"

CV_CLIENT_CIDR=100.64.0.0/30
topo_basic
pki_make "$TMPD/pki"
write_endpoint_config "$TMPD/endpoint.yaml"
server_start "$TMPD/endpoint.yaml"
export_client "$TMPD/endpoint.yaml"

client_start alice "$NS_CLI" alice
client_wait_up alice
printf 'hello from alice\n' | n_exec "$NS_CLI" timeout 3 nc -n -u -w 1 -p 5555 -s 100.64.0.2 "$RES_IP" 7777 || true
# the resource host answers alice's flow (from port 7777 to the association address's port 5555, the reply
# direction of her NAT binding) five times a second, for at most 25 s; one nc per datagram, so an ICMP "port
# unreachable" (once the binding is gone the gateway host itself gets them) does not end the stream
bg_start answers n_exec "$NS_RES" bash -c \
	"for i in \$(seq 1 125); do echo answer-\$i | nc -n -u -q 0 -p 7777 $ASSOC_IP 5555; sleep 0.2; done"
bg_start alice-listen n_exec "$NS_CLI" timeout 4 nc -n -u -l -s 100.64.0.2 -p 5555
sleep 3
assert_log "$TMPD/alice-listen.out" "^answer-" "alice receives the resource host's answers"
bg_stop alice-listen >/dev/null 2>&1 || true
client_stop alice

client_start bob "$NS_CLI" bob
client_wait_up bob
assert_log "$SERVER_LOG" "session [0-9]+ bob from .* established address 100\.64\.0\.2 " "bob got alice's address"
bg_start bob-listen n_exec "$NS_CLI" timeout 4 nc -n -u -l -s 100.64.0.2 -p 5555
sleep 4
bg_alive answers || fail "the resource host stopped answering: nothing proven"
assert_no_log "$TMPD/bob-listen.out" "answer-" "bob receives nothing of alice's flow"
bg_stop answers >/dev/null 2>&1 || true
client_stop bob

server_stop
summary
