#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# One-off (kept for reference): captures the packets a stock openvpn 2.6 client and cvpnd exchange, over UDP
# and over TCP, and writes them as seed files for fuzz_packet (every control and data packet, and the raw TCP
# byte stream cut into chunks with their 2-byte length prefixes) and fuzz_aead (data packets, wrapped in a
# one-step "open these raw bytes" program). It also prints what the key-method-2 seeds of make-seeds.py are
# built from, which never crosses the wire in clear: the client's options string (its log at verb 7) and its
# peer-info (logged as "peer info:" by a stock openvpn server at verb 4).
# Run as root after `make`, with tcpdump installed; the seeds are committed, so nobody needs to run it again.
#   test/fuzz/capture-seeds.sh [OUTDIR]      (default test/fuzz/corpus)
set -euo pipefail
OUT=$(cd "${1:-$(dirname "$0")/corpus}" && pwd)
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"
command -v tcpdump >/dev/null || fail "tcpdump is not installed (apt-get install tcpdump)"

topo_basic
pki_make "$TMPD/pki"

# One connection per transport: handshake, a few pings through the tunnel, explicit exit on SIGTERM.
capture() { # udp|tcp
	CV_TRANSPORT=$1
	write_endpoint_config "$TMPD/endpoint-$1.yaml"
	server_start "$TMPD/endpoint-$1.yaml"
	export_client "$TMPD/endpoint-$1.yaml"
	bg_start "tcpdump-$1" n_exec "$NS_GW" tcpdump -i outside -U -n -s 0 -w "$TMPD/$1.pcap" port 1194
	sleep 1
	client_start "client-$1" "$NS_CLI" alice --verb 7
	client_wait_up "client-$1"
	n_exec "$NS_CLI" ping -q -c 3 -i 0.2 -W 2 "$RES_IP" >/dev/null || fail "no ping through the tunnel"
	client_stop "client-$1"
	sleep 1
	bg_stop "tcpdump-$1" INT || true
	server_stop
	grep -o "Local Options String.*" "$TMPD/client-$1.log" || true
}
capture udp
capture tcp

# The peer-info a stock 2.6 client sends, as a stock server logs it (same UDP client file as above).
export_client "$TMPD/endpoint-udp.yaml"
start_stock_openvpn_server udp --verb 4
client_start client-stock "$NS_CLI" alice
client_wait_up client-stock
client_stop client-stock
grep -o "peer info: .*" "$TMPD/openvpn-server.log" || true
bg_stop openvpn-server || true

python3 - "$TMPD" "$OUT" <<'PY'
import os, struct, sys

tmpd, out = sys.argv[1], sys.argv[2]
SERVER = bytes([203, 0, 113, 1])

def frames(path):
    """Yields (ip_src, proto, l4 payload, tcp seq) for every IPv4 UDP/TCP packet in an Ethernet pcap."""
    data = open(path, 'rb').read()
    off = 24
    while off + 16 <= len(data):
        incl = struct.unpack_from('<I', data, off + 8)[0]
        pkt = data[off + 16:off + 16 + incl]
        off += 16 + incl
        if len(pkt) < 34 or pkt[12:14] != b'\x08\x00':
            continue
        ip = pkt[14:]
        ihl = (ip[0] & 15) * 4
        tot = struct.unpack_from('>H', ip, 2)[0]
        l4 = ip[ihl:tot]
        if ip[9] == 17:
            yield ip[12:16], 'udp', l4[8:], 0
        elif ip[9] == 6:
            doff = (l4[12] >> 4) * 4
            yield ip[12:16], 'tcp', l4[doff:], struct.unpack_from('>I', l4, 4)[0]

def write(sub, name, blob):
    os.makedirs(os.path.join(out, sub), exist_ok=True)
    with open(os.path.join(out, sub, name), 'wb') as f:
        f.write(blob)

def keep(sub, tag, pkts, seen):
    """Every control packet; of the data packets, the first few of each opcode and direction."""
    n_data = {}
    for i, (d, p) in enumerate(pkts):
        op = p[0] >> 3
        if op in (6, 9):
            k = (d, op)
            n_data[k] = n_data.get(k, 0) + 1
            if n_data[k] > 4:
                continue
            # fuzz_aead program: AES-256-GCM key 0, then op 3 (open raw bytes) of len(p) bytes
            write('aead', '%s-%s-%03d-op%d' % (tag, d, i, op), bytes([0, 3, len(p) >> 8, len(p) & 255, 0]) + p)
        if p in seen:
            continue
        seen.add(p)
        write(sub, '%s-%s-%03d-op%d' % (tag, d, i, op), p)

seen = set()
udp = [('c2s' if s != SERVER else 's2c', p) for s, proto, p, _ in frames(tmpd + '/udp.pcap') if p]
keep('packet', 'udp', udp, seen)

# TCP: reassemble each direction in sequence order (a veth never reorders, but retransmits repeat bytes),
# then cut the stream into its 2-byte-length frames.
streams = {}
for s, proto, p, seq in frames(tmpd + '/tcp.pcap'):
    if p:
        streams.setdefault('c2s' if s != SERVER else 's2c', {}).setdefault(seq, p)
tcp = []
for d, segs in streams.items():
    stream = b''.join(segs[k] for k in sorted(segs))
    off = 0
    chunk = []
    while off + 2 <= len(stream):
        flen = struct.unpack_from('>H', stream, off)[0]
        tcp.append((d, stream[off + 2:off + 2 + flen]))
        chunk.append(stream[off:off + 2 + flen])
        off += 2 + flen
    # Framed streams for the TCP walk: the first 8 frames of each direction in one seed.
    write('packet', 'tcpstream-%s-first8' % d, b''.join(chunk[:8]))
keep('packet', 'tcp', tcp, seen)
print('seeds written to', out)
PY
