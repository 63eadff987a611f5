#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Writes the hand-built seeds (kept for reference; the output is committed):
  keymethod/  key-method-2 client messages as a stock openvpn 2.6.14 client sends them (openvpn-protocol.md
              §4.3). They travel inside TLS, so they cannot be captured: the options string is the client's
              "Local Options String" (its log at verb 7) and the peer-info the "peer info:" lines a stock
              server logs at verb 4, both printed by capture-seeds.sh.
  reliable/   operation programs for fuzz_reliable (encoding: see the switch in fuzz_reliable.c)
  aead/       operation programs for fuzz_aead that seal, open, tamper and run the replay window
  worker/     operation programs for fuzz_worker: data in and out, spoofing, OCC exit, ping, replay and
              reordering, rekeying, out-of-range ids, shared addresses, unknown peers, GSO super-packets
  tls13rec/   operation programs for fuzz_tls13rec: seal, open, tamper, out of order, raw records
  config/     examples/*.yaml and the endpoint config the integration tests write (test/lib/netns.sh)
Run from anywhere: test/fuzz/make-seeds.py"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, '..', '..'))
CORPUS = os.path.join(HERE, 'corpus')


def write(sub, name, blob):
    os.makedirs(os.path.join(CORPUS, sub), exist_ok=True)
    with open(os.path.join(CORPUS, sub, name), 'wb') as f:
        f.write(blob)


# --- key-method-2 ------------------------------------------------------------------------------------------
OPTIONS_UDP = ('V4,dev-type tun,link-mtu 1549,tun-mtu 1500,proto UDPv4,cipher AES-256-GCM,'
               'auth [null-digest],keysize 256,key-method 2,tls-client')
OPTIONS_TCP = OPTIONS_UDP.replace('proto UDPv4', 'proto TCPv4_CLIENT').replace('link-mtu 1549', 'link-mtu 1551')
PEER_INFO = ('IV_VER=2.6.14\nIV_PLAT=linux\nIV_TCPNL=1\nIV_MTU=1600\nIV_NCP=2\n'
             'IV_CIPHERS=AES-256-GCM:AES-128-GCM:CHACHA20-POLY1305\nIV_PROTO=990\n'
             'IV_LZO_STUB=1\nIV_COMP_STUB=1\nIV_COMP_STUBv2=1\n')


def km2_string(s):
    if s is None:                      # absent: u16 0 and no bytes (2.6's write_empty_string)
        return b'\0\0'
    b = s.encode() + b'\0'
    return struct.pack('>H', len(b)) + b


def km2(options, user=None, password=None, peer_info=None):
    return (b'\0\0\0\0' + b'\x02' + bytes(range(48)) + bytes(range(100, 132)) + bytes(range(200, 232)) +
            km2_string(options) + km2_string(user) + km2_string(password) + km2_string(peer_info))


write('keymethod', 'km2-udp-2.6.14', km2(OPTIONS_UDP, peer_info=PEER_INFO))
write('keymethod', 'km2-tcp-2.6.14', km2(OPTIONS_TCP, peer_info=PEER_INFO))
write('keymethod', 'km2-userpass', km2(OPTIONS_UDP, 'alice', 'correct horse', PEER_INFO))
write('keymethod', 'km2-static-challenge', km2(OPTIONS_UDP, 'alice', 'SCRV1:cGFzcw==:MTIzNDU2', PEER_INFO))
write('keymethod', 'km2-no-peerinfo', km2(OPTIONS_UDP)[:-2])     # old clients stop after the password
write('keymethod', 'km2-iv-proto-478', km2(OPTIONS_UDP, peer_info=PEER_INFO.replace('990', '478')))
write('keymethod', 'peerinfo-only', PEER_INFO.encode())


# --- reliable programs -------------------------------------------------------------------------------------
def rel_header(send=0, recv=0, timeout_ms=2000):
    return struct.pack('>IIH', send, recv, timeout_ms // 4)


def queue(payload, opcode=4):
    return bytes([opcode << 4 | 0]) + struct.pack('>H', len(payload)) + payload


def ack_recent(back=0):            # ACK of next_send - 1 - back
    return bytes([1, back & 7])


def ack_id(mid):
    return bytes([1, 0x80]) + struct.pack('>I', mid)


def msg_rel(off, payload, opcode=4):  # message id next_recv + off (-16 .. 47)
    return bytes([opcode << 4 | 2, (off + 16) & 0x3f]) + struct.pack('>H', len(payload)) + payload


def msg_id(mid, payload):
    return bytes([2 | 0x40, 0x80]) + struct.pack('>I', mid) + struct.pack('>H', len(payload)) + payload


POP = bytes([3])


def tick(ms):
    return bytes([4]) + struct.pack('>H', ms) if ms < 65536 else bytes([0x84]) + struct.pack('>H', ms // 64)


def take(n):
    return bytes([5, n])


RETRANSMIT_ALL = bytes([6])


def skip(n):
    return bytes([7, n])


hello = b'\x16\x03\x01' + bytes(60)
write('reliable', 'handshake', rel_header() + skip(1) + msg_rel(0, hello) + POP + take(8) + queue(bytes(200)) +
      queue(bytes(1200)) + tick(0) + ack_recent(1) + tick(2000) + ack_recent(0) + msg_rel(1, b'x' * 100) +
      POP + take(4))
write('reliable', 'out-of-order', rel_header() + msg_rel(2, b'c') + msg_rel(1, b'b') + POP + msg_rel(0, b'a') +
      POP + msg_rel(0, b'dup') + msg_rel(-1, b'old') + msg_rel(12, b'far') + msg_rel(11, b'edge') + take(32))
write('reliable', 'full-window', rel_header(timeout_ms=500) + b''.join(queue(bytes([i]) * 10) for i in range(7)) +
      ack_recent(1) + ack_recent(2) + ack_recent(3) + tick(0) + tick(500) + tick(1000) + RETRANSMIT_ALL + tick(0) +
      ack_recent(5) + queue(b'next') + tick(65535 * 64) + tick(65535 * 64))
write('reliable', 'wrap', rel_header(0xfffffffc, 0xfffffffa) + b''.join(queue(b'w' * 5) for _ in range(6)) +
      b''.join(msg_rel(i, bytes([i])) for i in range(11, -1, -1)) + POP + take(40) +
      ack_id(0xfffffffc) + ack_id(0xffffffff) + ack_id(0) + ack_id(1) + tick(4000))
write('reliable', 'ack-flood', rel_header(100, 0) + b''.join(msg_rel(0, b'') + POP for _ in range(40)) + take(32))


# --- aead programs -----------------------------------------------------------------------------------------
def seal(pt, peer_id=0, dt=0):
    return bytes([dt << 5 | 0]) + struct.pack('>H', len(pt)) + pt + struct.pack('>H', peer_id)


def open_(i, dt=0):
    return bytes([dt << 5 | 1, i])


def tamper(i, pos, x):
    return bytes([2, i]) + struct.pack('>H', pos) + bytes([x])


def replay(off, update=True, dt=0):   # id = highest + off*4 - 320 (off 0..127)
    return bytes([dt << 5 | 4, (0x40 if update else 0) | off, 0])


def replay_id(mid, update=True):
    return bytes([4, 0x80 | (0x40 if update else 0)]) + struct.pack('>I', mid)


ip = bytes.fromhex('450000541234400040010000') + bytes([100, 64, 0, 2, 198, 18, 1, 10]) + bytes(64)
for hdr, name in ((0, 'aes256'), (1, 'aes128'), (2, 'chacha')):
    write('aead', 'prog-' + name, bytes([hdr]) + seal(ip, 7) + seal(b'', 7) + seal(ip[:20], 1) + open_(0) +
          open_(0) + open_(2) + open_(1) + tamper(0, 0, 0x08) + tamper(1, 20, 0x01) + tamper(2, 10, 0) +
          open_(1, 7) + seal(b'late', 1, 7) + open_(3, 7))
write('aead', 'prog-keyid5', bytes([5 << 2]) + seal(ip) + open_(0) + tamper(0, 0, 1))
write('aead', 'replay-window', bytes([0]) + replay_id(1) + replay_id(300) + replay(80) + replay(79, False) +
      replay(16) + replay(15) + replay(127) + replay(100, True, 7) + replay(90, True, 7) + replay(90, True, 7) +
      replay_id(0) + replay_id(0xffffffff) + replay_id(0xfffffff0))


# --- worker programs (encoding: see the switch in fuzz_worker.c) -------------------------------------------
def w_peer(pid, vaddr_off, remote=0, txb=2):       # vaddr = 100.64.0.0 + vaddr_off (-4 .. 67)
    return bytes([0, pid, vaddr_off + 4, remote, txb])


def w_del(pid):
    return bytes([1, pid])


def w_key(pid, kid, block=0, cipher=0, own=None):  # own: the key's own key id when not kid
    kb = block | cipher << 1 | (0x80 | own << 3 if own is not None else 0)
    return bytes([2, pid, kid, kb])


def w_tx(pid, kid):
    return bytes([3, pid, kid])


def w_kdel(pid, kid):
    return bytes([4, pid, kid])


def w_ping(pid):
    return bytes([5, pid])


def w_seal(pid, kid, kind, body, frm=0, hold=False, block=0, cipher=0, peer_key=True):
    """kind 0 IPv4 from the peer (body: proto, payload), 1 from src (body: src, proto, payload), 2 ping,
    3 OCC exit, 4 OCC other, 5 raw, 6 IPv6; frm < 192: from the peer's remote, else address frm % 6."""
    kb = (0x80 if peer_key else 0) | kid << 3 | block | cipher << 1
    out = bytes([6, pid, kb, kind | (0x80 if hold else 0)])
    if kind in (0, 1):
        proto, payload = body[0], body[1]
        out += struct.pack('>HB', len(payload), proto)
        if kind == 1:
            out += struct.pack('>I', body[2])
        out += struct.pack('>H', 0x0102) + payload        # to 198.18.1.2
    elif kind in (2, 3, 4):             # body: up to 3 bytes after the message (kind 4: (its byte, them))
        if kind == 4:
            out += bytes([body[0]])
            body = body[1]
        out += bytes([len(body)]) + body
    elif kind == 5:
        out += struct.pack('>H', len(body)) + body
    else:
        out += struct.pack('>H', len(body)) + bytes([0]) * 39 + body
    return out + bytes([frm])


def w_refeed(i, frm=0):
    return bytes([7, i, frm])


def w_raw(data, frm=200, hdr_kid=None, hdr_pid=0):
    if hdr_kid is None:
        return bytes([8, 0]) + struct.pack('>H', len(data)) + data + bytes([frm])
    return bytes([8, 1 | hdr_kid << 1]) + struct.pack('>H', len(data) + 4) + bytes([hdr_pid]) + data + bytes([frm])


def w_tun_ip(dst_off, payload, proto=6, vnet=None):    # an IPv4 packet to 100.64.0.0 + dst_off (-4 .. 67)
    mode = 1 | (2 if vnet is not None else 0) | {6: 0, 17: 1, 1: 2}.get(proto, 3) << 2
    return (bytes([9, mode]) + (vnet or b'') + struct.pack('>HH', len(payload), 0x0001) + bytes([dst_off + 4]) +
            payload)


def w_tun_raw(read):                                   # vnet header + packet, as read from the tun
    return bytes([9, 0]) + struct.pack('>H', len(read)) + read


W_END, W_DRAIN = bytes([10]), bytes([11])


def w_clock(ms):
    return bytes([12]) + struct.pack('>H', ms // 8)


def gso_read(name, dst, gso_size=None):
    """fuzz_offload's super-packet seed (mode byte dropped) sent to dst, maybe with another segment size."""
    with open(os.path.join(CORPUS, 'offload', name), 'rb') as f:
        b = bytearray(f.read()[1:])
    b[10 + 16:10 + 20] = bytes(dst)
    if gso_size is not None:
        b[4:6] = struct.pack('<H', gso_size)
    return bytes(b)


tcp = bytes(range(200))
ping_magic = bytes.fromhex('2a187bf3641eb4cb07ed2d0a981fc748')
write('worker', 'rx-tx', bytes([1]) + w_peer(3, 5) + w_key(3, 0) + w_tx(3, 0) +
      w_seal(3, 0, 0, (6, tcp)) + w_seal(3, 0, 0, (17, tcp[:60])) + W_END + w_tun_ip(5, tcp) + w_ping(3) +
      w_refeed(0) + w_seal(3, 0, 0, (6, tcp), frm=200 + 1) + w_raw(b'\x48\x00\x00\x09' + bytes(40)) + W_END +
      w_kdel(3, 0) + w_tun_ip(5, tcp) + w_key(3, 0) + w_tun_ip(5, tcp) + W_END + W_DRAIN)
write('worker', 'spoof-exit-ping', bytes([0]) + w_peer(1, 9, remote=4) + w_key(1, 2, 1, 2) +
      w_seal(1, 2, 1, (6, tcp[:40], 0x64400007)) + w_seal(1, 2, 2, b'') + w_seal(1, 2, 2, b'x') +
      w_seal(1, 2, 6, bytes(20)) + w_seal(1, 2, 4, (5, b'')) + w_seal(1, 2, 5, b'abc') + w_seal(1, 2, 3, b'') +
      W_DRAIN + w_tun_ip(9, tcp) + w_tun_ip(10, tcp) + W_END + W_DRAIN)
write('worker', 'reorder-replay', bytes([1]) + w_peer(7, 20, remote=1) + w_key(7, 5, 0, 1) + w_tx(7, 5) +
      b''.join(w_seal(7, 5, 0, (6, bytes([i]) * 30), hold=True) for i in range(6)) +
      w_refeed(3) + w_refeed(1) + w_refeed(3) + w_refeed(0) + w_refeed(5) + w_refeed(2) + w_clock(20000) +
      w_refeed(4) + w_refeed(4) + W_END + w_refeed(5, frm=200 + 2) + W_END + W_DRAIN)
write('worker', 'rekey', bytes([1]) + w_peer(2, 0) + w_key(2, 0) + w_tx(2, 0) + w_seal(2, 0, 0, (6, tcp)) +
      w_key(2, 1, 1, 0) + w_tx(2, 1) + w_seal(2, 1, 0, (6, tcp)) + w_seal(2, 0, 0, (6, tcp)) + w_kdel(2, 0) +
      w_seal(2, 0, 0, (6, tcp), peer_key=False) + w_key(2, 8) + w_tx(2, 9) + w_kdel(2, 10) +
      w_key(2, 3, 0, 0, own=4) + w_seal(2, 3, 0, (6, tcp)) + w_key(17, 0) + w_peer(17, 1) + w_ping(17) +
      w_peer(2, 0) + w_seal(2, 1, 0, (6, tcp)) + w_tun_ip(0, tcp) + W_END + W_DRAIN)
write('worker', 'shared-vaddr', bytes([1]) + w_peer(4, 12) + w_peer(5, 12, remote=2) + w_key(4, 0) + w_tx(4, 0) +
      w_key(5, 0) + w_tx(5, 0) + w_tun_ip(12, tcp) + w_del(5) + w_tun_ip(12, tcp) + w_peer(6, -1) +
      w_peer(8, 64) + w_tun_ip(-1, tcp) + w_tun_ip(64, tcp) + w_peer(4, 13) + w_tun_ip(12, tcp) + W_END +
      W_DRAIN)
write('worker', 'unknown-peers', bytes([0]) + w_raw(b'\x38' + bytes(30)) + w_raw(b'\x20' + bytes(40)) +
      w_raw(b'\x48\x00') + w_raw(b'\x4a\x00\x00\x0f' + bytes(30)) + w_raw(bytes(30), hdr_kid=0, hdr_pid=18) +
      w_raw(b'') + w_raw(bytes(2100)) + w_tun_raw(bytes(10) + bytes.fromhex('6000000000083a40') + bytes(40)) +
      w_tun_raw(b'\x01\x01' + bytes(30)) + W_DRAIN)
# super-packets: to a peer with a tx key (every segment sealed), and to nobody with small segments, which
# overflows the upcall ring (upcall drops)
write('worker', 'gso-tun', bytes([1]) + w_peer(0, 5) + w_key(0, 0) + w_tx(0, 0) +
      w_tun_raw(gso_read('seg-tcp4-gso', [100, 64, 0, 5])) + w_tun_raw(gso_read('seg-udp4-gso', [100, 64, 0, 5])) +
      W_END + w_tun_raw(gso_read('seg-tcp4-gso', [100, 64, 0, 40], gso_size=6)) + W_END + W_DRAIN)


# --- config ------------------------------------------------------------------------------------------------
for f in sorted(os.listdir(os.path.join(ROOT, 'examples'))):
    if f.endswith('.yaml'):
        with open(os.path.join(ROOT, 'examples', f), 'rb') as src:
            write('config', f, src.read())
# test/lib/netns.sh write_endpoint_config with its defaults, and over TCP with every optional knob set
TEST_CFG = """endpoint:
  listen:
    address: 203.0.113.1
    port: 1194
    transport: %s
  remote: 203.0.113.1
  server-certificate: /nonexistent/pki/server.crt
  server-key: /nonexistent/pki/server.key
  client-ca: /nonexistent/pki/ca.crt
  tls-ekm: %s
  client-cidr: 100.64.0.0/22
  split-tunnel: %s
  dns-servers: [198.18.1.53]
  data-ciphers: [%s]
%s
associations:
  - name: subnet-a
    interface: cvpn-a
    subnet: 198.18.1.0/24

routes:
  - destination: 198.18.1.0/24
    target: subnet-a
    description: resource subnet

authorization-rules:
  - destination: 198.18.1.0/24
    all-users: true
"""
write('config', 'test-endpoint-udp.yaml',
      (TEST_CFG % ('udp', 'true', 'true', 'AES-256-GCM, AES-128-GCM, CHACHA20-POLY1305', '')).encode())
write('config', 'test-endpoint-tcp.yaml',
      (TEST_CFG % ('tcp', 'false', 'false', 'CHACHA20-POLY1305',
                   '  renegotiate-after: 5s\n  keepalive: 2s\n')).encode())


# --- tls13rec programs -------------------------------------------------------------------------------------
def rseal(content, kind=2):            # kind 0 alert, 1 handshake, 2 application data
    return bytes([kind << 3 | 0]) + struct.pack('>H', len(content)) + content


R_OPEN, R_EARLY = bytes([1]), bytes([3])


def rtamper(pos, x, cut=False):
    return bytes([0x80 | 2 if cut else 2]) + struct.pack('>H', pos) + bytes([x])


def rraw(blob):
    return bytes([4]) + struct.pack('>H', len(blob)) + blob


for suite, name in ((0, 'aes128'), (1, 'aes256'), (2, 'chacha')):
    write('tls13rec', 'prog-' + name, bytes([suite, 0]) + rseal(b'PUSH_REQUEST\0') + rseal(b'\x01\x00', 0) +
          rseal(bytes([24, 0, 0, 1, 1]), 1) + R_EARLY + rtamper(0, 1) + rtamper(30, 0x80, True) + R_OPEN +
          R_OPEN + rraw(bytes([23, 3, 3, 0, 20]) + bytes(20)) + R_OPEN + rseal(b'x' * 1500) + R_OPEN)
write('tls13rec', 'seq-end', bytes([0, 0xff]) + rseal(b'EXIT\0') * 20 + R_OPEN * 20)
print('seeds written to', CORPUS)
