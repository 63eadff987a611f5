#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The batched data plane with a stock client: 24 MiB of random bytes each way through the tunnel over TCP
# (upload: the client's segments coalesced into super-packets written to the tun; download: the kernel's
# super-packets read from the tun, cut, encrypted and sent as UDP GSO runs) arrive byte for byte (sha256),
# the receiving kernels having checked every TCP checksum we built; the gateway's metrics show the batching
# happened; a ping still gets through.
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"
# shellcheck source=test/lib/ops.sh
. "$(dirname "$0")/../lib/ops.sh"

CV_TRANSPORT=udp
topo_basic
pki_make "$TMPD/pki"
write_endpoint_config "$TMPD/endpoint.yaml"
server_start "$TMPD/endpoint.yaml"
export_client "$TMPD/endpoint.yaml"
client_start alice "$NS_CLI" alice
client_wait_up alice

head -c $((24 << 20)) /dev/urandom >"$TMPD/payload"
want=$(sha256sum <"$TMPD/payload" | cut -d' ' -f1)

# upload: client -> resource host
( exec ip netns exec "$NS_RES" nc -n -l "$RES_IP" 9100 >"$TMPD/up.recv" ) 2>"$TMPD/up.rx" &
CVPN_PIDS[up-rx]=$!
sleep 0.3
timeout 60 ip netns exec "$NS_CLI" nc -n -N -w 10 "$RES_IP" 9100 <"$TMPD/payload" ||
	fail "upload: the sender failed"
bg_wait_exit up-rx 10 || fail "upload: the receiver did not see the end"
assert_eq "$(sha256sum <"$TMPD/up.recv" | cut -d' ' -f1)" "$want" "upload: 24 MiB arrived byte for byte"

# download: resource host -> client
( exec ip netns exec "$NS_RES" nc -n -N -l "$RES_IP" 9101 <"$TMPD/payload" ) 2>"$TMPD/down.tx" &
CVPN_PIDS[down-tx]=$!
sleep 0.3
timeout 60 ip netns exec "$NS_CLI" nc -n -d -w 10 "$RES_IP" 9101 >"$TMPD/down.recv" ||
	fail "download: the receiver failed"
bg_wait_exit down-tx 10 || fail "download: the sender did not finish"
assert_eq "$(sha256sum <"$TMPD/down.recv" | cut -d' ' -f1)" "$want" "download: 24 MiB arrived byte for byte"

m=$(ctl_json metrics)
coalesced=$(jq -r '.metrics.tun_packets_coalesced_total' <<<"$m")
writes=$(jq -r '.metrics.tun_writes_total' <<<"$m")
written=$(jq -r '.metrics.tun_packets_written_total' <<<"$m")
gso=$(jq -r '.metrics.udp_gso_sends_total' <<<"$m")
dgrams=$(jq -r '.metrics.udp_batched_datagrams_total' <<<"$m")
sends=$(jq -r '.metrics.udp_batched_sends_total' <<<"$m")
[ "$coalesced" -gt 0 ] || fail "upload: no packet was coalesced ($m)"
[ "$writes" -lt "$written" ] || fail "upload: $writes tun writes for $written packets: no batching"
ok "upload: $written packets went into the tun in $writes writes ($coalesced inside super-packets)"
[ "$gso" -gt 0 ] || fail "download: no UDP GSO send ($m)"
[ "$sends" -lt "$dgrams" ] || fail "download: $sends sends for $dgrams datagrams: no batching"
ok "download: $dgrams datagrams left in $sends sendmmsg calls ($gso GSO runs)"
assert_match "$(ctl metrics)" "^cvpn_udp_gso_sends_total [1-9][0-9]*$" "metrics: the GSO counter in Prometheus text"
n_exec "$NS_CLI" ping -n -c 2 -W 2 "$RES_IP" >/dev/null || fail "a ping no longer gets through"
ok "a ping still gets through"

client_stop alice
server_stop
summary
