// SPDX-License-Identifier: GPL-2.0-or-later
/* libFuzzer harness for dataplane/worker.c, driven on its own thread (never dp_worker_start) through
 * dp_worker_apply / _on_datagram / _on_tun / _end_batch and the upcall ring. Two workers are set up once:
 * one with no UDP socket (udp_fd -1, a TCP endpoint's: seal_send stops before sealing) and one whose "UDP"
 * socket is an AF_UNIX datagram socket, which refuses every IPv4/IPv6 destination with EINVAL: the sealing,
 * udptx queueing and sendmmsg paths all run and nothing leaves the host. Their tun is the write end of a
 * non-blocking pipe the harness empties after every step (/dev/null cannot be: epoll refuses it, so
 * dp_worker_new would fail). Both have the vnet header on, 16 peer ids and 64 addresses from 100.64.0.0.
 *
 * The first input byte picks the worker; the rest is a program: add / delete peers (ids 0..19, so some are
 * out of range; addresses in or just outside the range; remotes from six fixed 192.0.2.x / 2001:db8::
 * addresses), add keys (freshly allocated, either key block, any cipher, command key ids up to 11, the key's
 * own key id maybe not the slot's), set / delete the tx key, ping, datagrams sealed by client-role keys
 * (IPv4 from the right or a wrong source, ping, OCC exit, IPv6, random bytes) fed from the peer's remote or
 * another address, sealed datagrams fed again (replay, reordering), raw datagrams, tun reads (raw, or an IPv4
 * packet behind a vnet header taken from the input), end of batch, draining the upcalls, and the clock.
 *
 * A model follows every step (whether bytes authenticate under a key it asks of aead.c with keys of its own)
 * and, whenever the worker publishes (end of batch), its counters must lie in the model's bounds: exact where
 * the outcome is certain, a range where the replay window's answer depends on history the model does not keep
 * (a packet-id below the highest one accepted). So rx_packets only grows for
 * a sealed IPv4 packet from the peer's own address and every counter (the peers' too) only for what was fed;
 * all counters only grow; every unknown-peer datagram and unrouted tun packet is an upcall or an upcall drop,
 * and the upcalls come out in order, each one expected, with its bytes and address. At the end of each input
 * every peer is deleted (the worker frees peers and keys: LeakSanitizer checks) and the upcalls drained. */

#define _GNU_SOURCE /* F_SETPIPE_SZ */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cvpn/aead.h"
#include "cvpn/offload.h"
#include "cvpn/packet.h"
#include "cvpn/worker.h"

#include "fuzz.h"

#define N_IDS 16           /* the workers' n_peer_ids */
#define N_MODEL_IDS 20     /* ids the program uses */
#define VBASE 0x64400000u  /* 100.64.0.0 */
#define N_VADDRS 64
#define N_ADDRS 6
#define MAX_STEPS 256
#define MAX_SEALED 64
#define MAX_PT 2200
#define MAX_TUN 8192
#define MAX_EXPECT 65536
#define AEAD_MAX_PT 65536

/* ---- fixed state ---- */

static struct dp_worker *workers[2];
static int tun_rd = -1;
static uint8_t blocks[2][256];
static struct aead_key clients[2][3];           /* [block][cipher - 1] */
static struct aead_key oracles[2][3];           /* server role, only to tell whether bytes authenticate */
static uint8_t oracle_pt[AEAD_MAX_PT];
static struct sockaddr *addrs[N_ADDRS];          /* heap copies of exactly their length */
static socklen_t addr_lens[N_ADDRS];
static struct dp_worker_stats last[2];           /* as last published, for "never goes down" */

static const enum cvpn_cipher ciphers[3] = { CVPN_CIPHER_AES_256_GCM, CVPN_CIPHER_AES_128_GCM,
					     CVPN_CIPHER_CHACHA20_POLY1305 };

/* ---- the model ---- */

struct range {
	uint64_t lo, hi;
};

struct mkey {
	bool on;
	uint8_t block, cipher, kid;    /* cipher: index into ciphers; kid: the key's own key id */
	uint32_t gen;                  /* this instance (a fresh replay window) */
	uint32_t max_pid;              /* highest packet-id it authenticated: the replay window's "highest" */
};

struct mpeer {
	bool on;
	struct dp_peer *p;             /* the worker's now; valid while on */
	uint32_t vaddr;
	uint8_t remote;
	int tx;
	struct mkey keys[8];
	struct range pkts_in, bytes_in, spoofed;
	uint64_t pkts_out, bytes_out;
};

struct sealed {
	uint8_t pkt[MAX_PT + AEAD_OVERHEAD];
	size_t len;
	uint32_t acc_gen;              /* key instance that certainly accepted it, 0: none */
};

struct expect {
	enum dp_upcall_kind kind;
	bool maybe;                    /* may not happen at all (an accept the model is not sure of) */
	uint32_t len, peer_id;
	uint64_t session_id, hash;
};

struct model {
	struct mpeer peers[N_MODEL_IDS];
	int vslot[N_VADDRS];           /* peer id the worker's address table points at, -1: none */
	struct range rx, tx, bad, replays, unrouted, spoofed;
	bool udp;                      /* the worker has a socket */
	uint32_t gen;
	uint64_t session;
	struct dp_worker_stats base;   /* published counters when the input started */
	struct dp_worker_stats at_drain;
	size_t n_exp;
};

static struct model m;
static struct sealed sealed[MAX_SEALED], scratch;
static size_t n_sealed;
static struct expect expect[MAX_EXPECT];
static uint8_t segbuf[OFFLOAD_IP_MAX];
static uint8_t drainbuf[65536];

static void add(struct range *r, bool certain, uint64_t n)
{
	r->hi += n;
	if (certain)
		r->lo += n;
}

static uint64_t hash(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

#define HASH0 0xcbf29ce484222325ull

static void expect_add(enum dp_upcall_kind kind, bool maybe, const uint8_t *data, size_t len, int from,
		       uint32_t peer_id, uint64_t session_id)
{
	struct expect *e = &expect[m.n_exp++];

	e->kind = kind;
	e->maybe = maybe;
	e->len = (uint32_t)len;
	e->peer_id = peer_id;
	e->session_id = session_id;
	e->hash = hash(HASH0, data, len);
	if (from >= 0)
		e->hash = hash(e->hash, addrs[from], addr_lens[from]);
}

static bool in_range(uint64_t v, uint64_t base, struct range r)
{
	return v >= base && v - base >= r.lo && v - base <= r.hi;
}

static void drain_tun(void)
{
	while (read(tun_rd, drainbuf, sizeof(drainbuf)) > 0)
		;
}

/* End of a batch: the worker publishes; every counter against the last publication and the model. */
static void end_batch(struct dp_worker *w, int wi)
{
	struct dp_worker_stats s, *b = &m.base, *l = &last[wi];

	dp_worker_end_batch(w);
	drain_tun();
	dp_worker_get_stats(w, &s);
	FUZZ_ASSERT(s.rx_packets >= l->rx_packets && s.tx_packets >= l->tx_packets && s.upcalls >= l->upcalls &&
		    s.upcall_drops >= l->upcall_drops && s.replays >= l->replays &&
		    s.bad_packets >= l->bad_packets && s.unrouted >= l->unrouted && s.spoofed >= l->spoofed);
	FUZZ_ASSERT(s.tun.packets >= l->tun.packets && s.tun.writes >= l->tun.writes &&
		    s.tun.merged >= l->tun.merged && s.tun.errors >= l->tun.errors);
	FUZZ_ASSERT(s.udp.datagrams >= l->udp.datagrams && s.udp.syscalls >= l->udp.syscalls &&
		    s.udp.gso_sends >= l->udp.gso_sends && s.udp.errors >= l->udp.errors);
	*l = s;
	FUZZ_ASSERT(in_range(s.rx_packets, b->rx_packets, m.rx));
	FUZZ_ASSERT(in_range(s.tx_packets, b->tx_packets, m.tx));
	FUZZ_ASSERT(in_range(s.bad_packets, b->bad_packets, m.bad));
	FUZZ_ASSERT(in_range(s.replays, b->replays, m.replays));
	FUZZ_ASSERT(in_range(s.unrouted, b->unrouted, m.unrouted));
	FUZZ_ASSERT(in_range(s.spoofed, b->spoofed, m.spoofed));
	/* every decrypted packet counted went to the tun writer; every sealed one was flushed to the socket */
	FUZZ_ASSERT(s.tun.packets >= s.rx_packets);
	FUZZ_ASSERT(s.udp.datagrams + s.udp.errors == s.tx_packets);
	for (int i = 0; i < N_MODEL_IDS; i++) {
		struct mpeer *mp = &m.peers[i];
		struct dp_peer *p = mp->p;

		if (!mp->on)
			continue;
		FUZZ_ASSERT(in_range(atomic_load(&p->pkts_in), 0, mp->pkts_in));
		FUZZ_ASSERT(in_range(atomic_load(&p->bytes_in), 0, mp->bytes_in));
		FUZZ_ASSERT(in_range(atomic_load(&p->spoofed), 0, mp->spoofed));
		FUZZ_ASSERT(atomic_load(&p->pkts_out) == mp->pkts_out && atomic_load(&p->bytes_out) == mp->bytes_out);
	}
}

static bool upcall_matches(const struct expect *e, const struct dp_upcall *u)
{
	uint64_t h;

	if (e->kind != u->kind || e->len != u->len)
		return false;
	if (u->kind == DP_UP_EXIT)
		return e->peer_id == u->peer_id && e->session_id == u->session_id;
	h = hash(HASH0, u->data, u->len);
	if (u->kind == DP_UP_DATAGRAM)
		h = hash(h, &u->from, u->from_len);
	return h == e->hash;
}

/* Every upcall is the next expected one or a later one; what was skipped was dropped (ring full, too long)
 * or, for an uncertain one, never happened. */
static void drain_upcalls(struct dp_worker *w, int wi)
{
	const struct dp_upcall *u;
	size_t j = 0, got = 0, certain = 0, maybe = 0;
	uint64_t drops;

	end_batch(w, wi);
	while ((u = dp_worker_upcall_peek(w))) {
		FUZZ_ASSERT(u->kind == DP_UP_DATAGRAM || u->kind == DP_UP_IP || u->kind == DP_UP_EXIT);
		FUZZ_ASSERT(u->len <= DP_UPCALL_MAX && u->from_len <= sizeof(u->from));
		FUZZ_ASSERT(u->kind == DP_UP_DATAGRAM ? u->from_len > 0 : u->from_len == 0);
		while (j < m.n_exp && !upcall_matches(&expect[j], u))
			j++;
		FUZZ_ASSERT(j < m.n_exp);
		j++;
		got++;
		dp_worker_upcall_release(w);
	}
	for (size_t i = 0; i < m.n_exp; i++) {
		if (expect[i].maybe)
			maybe++;
		else
			certain++;
	}
	FUZZ_ASSERT(last[wi].upcalls - m.at_drain.upcalls == got);
	drops = last[wi].upcall_drops - m.at_drain.upcall_drops;
	FUZZ_ASSERT(got + drops >= certain && got + drops <= certain + maybe);
	m.at_drain = last[wi];
	m.n_exp = 0;
}

/* ---- steps ---- */

static uint32_t pick_id(struct fuzz_in *in)
{
	return fuzz_u8(in) % N_MODEL_IDS;
}

static void peer_unlink_model(uint32_t id)
{
	struct mpeer *mp = &m.peers[id];
	uint32_t i = mp->vaddr - VBASE;

	if (!mp->on)
		return;
	if (i < N_VADDRS && m.vslot[i] == (int)id)
		m.vslot[i] = -1;
	memset(mp, 0, sizeof(*mp));
}

static void step_peer_add(struct dp_worker *w, struct fuzz_in *in)
{
	uint32_t id = pick_id(in), vaddr = VBASE + fuzz_u8(in) % (N_VADDRS + 8) - 4;
	uint8_t r = fuzz_u8(in), txb = fuzz_u8(in);
	struct dp_cmd c = { .kind = DP_PEER_ADD };
	struct dp_peer *p;
	struct mpeer *mp;

	if (r == 0xff) { /* no peer at all */
		dp_worker_apply(w, &c);
		return;
	}
	p = calloc(1, sizeof(*p));
	FUZZ_ASSERT(p);
	p->session_id = ++m.session;
	p->peer_id = id;
	p->vaddr = vaddr;
	r %= N_ADDRS;
	memcpy(&p->remote, addrs[r], addr_lens[r]);
	p->remote_len = addr_lens[r];
	p->tx_key = (int)(txb % 12) - 2; /* the control thread leaves it; no key yet, so it must end up -1 */
	c.peer = p;
	dp_worker_apply(w, &c);
	if (id >= N_IDS)
		return;
	peer_unlink_model(id);
	mp = &m.peers[id];
	mp->on = true;
	mp->p = p;
	mp->vaddr = vaddr;
	mp->remote = r;
	mp->tx = -1;
	if (vaddr - VBASE < N_VADDRS)
		m.vslot[vaddr - VBASE] = (int)id;
}

static void step_key_add(struct dp_worker *w, struct fuzz_in *in)
{
	uint32_t id = pick_id(in);
	uint8_t kid = fuzz_u8(in) % 12, kb = fuzz_u8(in);
	uint8_t block = kb & 1, ci = (uint8_t)((kb >> 1) % 3), own = kb & 0x80 ? (kb >> 3) & 7 : kid & 7;
	struct dp_cmd c = { .kind = DP_KEY_ADD, .peer_id = id, .key_id = kid };
	struct mpeer *mp = &m.peers[id];

	c.key = malloc(sizeof(*c.key));
	FUZZ_ASSERT(c.key);
	FUZZ_ASSERT(aead_key_init_role(c.key, ciphers[ci], own, blocks[block], true) == 0);
	dp_worker_apply(w, &c); /* the worker owns the key now, or has freed it */
	if (!mp->on || kid >= 8)
		return;
	mp->keys[kid] = (struct mkey){ .on = true, .block = block, .cipher = ci, .kid = own, .gen = ++m.gen };
}

static void step_key_tx_del(struct dp_worker *w, struct fuzz_in *in, bool del)
{
	uint32_t id = pick_id(in);
	uint8_t kid = fuzz_u8(in) % 12;
	struct dp_cmd c = { .kind = del ? DP_KEY_DEL : DP_KEY_TX, .peer_id = id, .key_id = kid };
	struct mpeer *mp = &m.peers[id];

	dp_worker_apply(w, &c);
	if (!mp->on || kid >= 8)
		return;
	if (!del) {
		mp->tx = mp->keys[kid].on ? kid : -1;
		return;
	}
	mp->keys[kid].on = false;
	if (mp->tx == kid)
		mp->tx = -1;
}

/* seal_send: counted when there is a tx key and a socket, and the datagram fits udptx. */
static void model_send(struct mpeer *mp, size_t len)
{
	if (mp->tx < 0 || !m.udp)
		return;
	if (len + AEAD_OVERHEAD <= 2048)
		add(&m.tx, true, 1);
}

static void step_ping(struct dp_worker *w, struct fuzz_in *in)
{
	uint32_t id = pick_id(in);
	struct dp_cmd c = { .kind = DP_PING, .peer_id = id };

	dp_worker_apply(w, &c);
	if (m.peers[id].on)
		model_send(&m.peers[id], PACKET_MAGIC_LEN);
}

/* What the worker does with an authenticated plaintext. */
static void model_plain(struct mpeer *mp, uint32_t id, const uint8_t *pt, size_t n, bool certain)
{
	uint32_t src;

	if (n == PACKET_MAGIC_LEN && memcmp(pt, packet_ping_magic, PACKET_MAGIC_LEN) == 0)
		return;
	if (n > PACKET_MAGIC_LEN && memcmp(pt, packet_occ_magic, PACKET_MAGIC_LEN) == 0 &&
	    pt[PACKET_MAGIC_LEN] == PACKET_OCC_EXIT) {
		expect_add(DP_UP_EXIT, !certain, NULL, 0, -1, id, mp->p->session_id);
		return;
	}
	if (n < 20 || pt[0] >> 4 != 4) {
		add(&m.unrouted, certain, 1);
		return;
	}
	memcpy(&src, pt + 12, 4);
	if (ntohl(src) != mp->vaddr) {
		add(&m.spoofed, certain, 1);
		add(&mp->spoofed, certain, 1);
		return;
	}
	add(&mp->pkts_in, certain, 1);
	add(&mp->bytes_in, certain, n);
	if (n <= 2048) /* TUNTX_PKT_MAX */
		add(&m.rx, certain, 1);
}

/* Whether pkt authenticates under k (its key block, cipher and own key id): aead.c on a key of its own with
 * a fresh replay window (fuzz_aead checks aead.c itself). The fuzzer does learn sealed bytes (memcmp hooks),
 * so raw datagrams cannot simply be assumed not to open. Returns the plaintext length or -1. */
static ssize_t oracle_open(const struct mkey *k, const uint8_t *pkt, size_t len)
{
	struct aead_key *o = &oracles[k->block][k->cipher];
	ssize_t n;

	o->key_id = k->kid;
	replay_init(&o->replay);
	n = aead_open(o, pkt, len, oracle_pt, sizeof(oracle_pt), 0);
	FUZZ_ASSERT(n >= 0 || n == -EBADMSG || n == -EALREADY);
	FUZZ_ASSERT(n != -EALREADY || (len >= 8 && !pkt[4] && !pkt[5] && !pkt[6] && !pkt[7]));
	return n == -EALREADY ? 0 : n < 0 ? -1 : n; /* a replay in a fresh window: packet-id 0 */
}

/* One datagram into the worker and the model. e: the sealed packet it is (NULL: not one of ours). */
static void feed(struct dp_worker *w, const uint8_t *pkt, size_t len, int from, struct sealed *e, uint64_t now)
{
	uint8_t *copy = malloc(len ? len : 1); /* exactly its length: ASan sees any read past it */
	struct mpeer *mp = NULL;
	uint32_t id = 0, pid;
	struct mkey *k;
	ssize_t n;

	FUZZ_ASSERT(copy);
	memcpy(copy, pkt, len);
	dp_worker_on_datagram(w, copy, len, addrs[from], addr_lens[from], now);
	free(copy);
	if (len < 1)
		return;
	if (pkt[0] >> 3 == P_DATA_V2 && len < 4) { /* too short to name a peer: dropped, not passed up */
		add(&m.bad, true, 1);
		return;
	}
	if (pkt[0] >> 3 == P_DATA_V2) {
		id = (uint32_t)pkt[1] << 16 | (uint32_t)pkt[2] << 8 | pkt[3];
		if (id < N_MODEL_IDS && m.peers[id].on)
			mp = &m.peers[id];
	}
	if (!mp) {
		expect_add(DP_UP_DATAGRAM, false, pkt, len, from, 0, 0);
		return;
	}
	k = &mp->keys[pkt[0] & 7];
	if (from != mp->remote || !k->on || (n = oracle_open(k, pkt, len)) < 0) {
		add(&m.bad, true, 1);
		return;
	}
	pid = (uint32_t)pkt[4] << 24 | (uint32_t)pkt[5] << 16 | (uint32_t)pkt[6] << 8 | pkt[7];
	if (pid == 0 || (e && e->acc_gen == k->gen)) { /* never valid; seen */
		add(&m.replays, true, 1);
	} else if (pid > k->max_pid) { /* above the window: always taken */
		k->max_pid = pid;
		if (e)
			e->acc_gen = k->gen;
		model_plain(mp, id, oracle_pt, (size_t)n, true);
	} else { /* in or below the window, maybe seen, maybe too late: the window decides */
		add(&m.replays, false, 1);
		model_plain(mp, id, oracle_pt, (size_t)n, false);
	}
}

static int pick_from(struct fuzz_in *in, uint32_t id)
{
	uint8_t b = fuzz_u8(in);

	if (b < 192 && id < N_MODEL_IDS && m.peers[id].on)
		return m.peers[id].remote;
	return b % N_ADDRS;
}

static void step_seal(struct dp_worker *w, struct fuzz_in *in, uint64_t now)
{
	static uint8_t pt[MAX_PT];
	uint8_t ib = fuzz_u8(in), kb = fuzz_u8(in), kind = fuzz_u8(in);
	bool hold = kind & 0x80; /* sealed now, fed later (step_refeed) or never: reordering, loss */
	uint32_t id = ib < 200 ? ib % N_MODEL_IDS : (uint32_t)fuzz_u8(in) << 16 | fuzz_u16(in);
	uint8_t block = kb & 1, ci = (uint8_t)((kb >> 1) % 3), kid = (kb >> 3) & 7;
	size_t len = 0, got, hdr = 0;
	const uint8_t *p;
	struct aead_key *c;
	struct sealed *e;
	uint32_t a;
	ssize_t n;
	int from;

	if (kb & 0x80 && id < N_MODEL_IDS && m.peers[id].keys[kid].on) { /* a key the peer has */
		block = m.peers[id].keys[kid].block;
		ci = m.peers[id].keys[kid].cipher;
	}
	kind = (kind & 0x7f) % 7;
	switch (kind) {
	case 0: /* IPv4 from the peer's address */
	case 1: /* IPv4 from anywhere */
		len = 20 + fuzz_u16(in) % (MAX_PT - 20);
		memset(pt, 0, 20);
		pt[0] = 0x45;
		pt[2] = (uint8_t)(len >> 8);
		pt[3] = (uint8_t)len;
		pt[8] = 64;
		pt[9] = fuzz_u8(in);
		if (kind == 0)
			a = htonl(id < N_MODEL_IDS && m.peers[id].on ? m.peers[id].vaddr : VBASE + fuzz_u8(in) % 64);
		else
			a = htonl(fuzz_u32(in));
		memcpy(pt + 12, &a, 4);
		a = htonl(0xc6120000u | fuzz_u16(in)); /* 198.18.x.x */
		memcpy(pt + 16, &a, 4);
		hdr = 20;
		break;
	case 2: /* keepalive ping, maybe with a byte too many */
	case 3: /* OCC exit, maybe with bytes after it */
	case 4: /* OCC, another message */
		memcpy(pt, kind == 2 ? packet_ping_magic : packet_occ_magic, PACKET_MAGIC_LEN);
		hdr = PACKET_MAGIC_LEN;
		if (kind != 2)
			pt[hdr++] = kind == 3 ? PACKET_OCC_EXIT : fuzz_u8(in);
		len = hdr + fuzz_u8(in) % 4;
		break;
	case 5: /* anything */
		len = fuzz_u16(in) % MAX_PT;
		break;
	case 6: /* IPv6: not routed */
		len = 40 + fuzz_u16(in) % 200;
		memset(pt, 0, 40);
		pt[0] = 0x60;
		hdr = 1;
		break;
	}
	p = fuzz_bytes(in, len - hdr, &got);
	memcpy(pt + hdr, p, got);
	memset(pt + hdr + got, 0x5a, len - hdr - got);
	from = pick_from(in, id);
	c = &clients[block][ci];
	c->key_id = kid;
	e = n_sealed < MAX_SEALED ? &sealed[n_sealed++] : &scratch; /* full: fed once, never again */
	n = aead_seal(c, id, pt, len, e->pkt, sizeof(e->pkt));
	FUZZ_ASSERT(n == (ssize_t)(len + AEAD_OVERHEAD));
	e->len = (size_t)n;
	e->acc_gen = 0;
	if (!hold)
		feed(w, e->pkt, e->len, from, e, now);
}

/* A sealed packet again: a replay, or a late one (reordering). */
static void step_refeed(struct dp_worker *w, struct fuzz_in *in, uint64_t now)
{
	struct sealed *e;

	if (!n_sealed)
		return;
	e = &sealed[fuzz_u8(in) % n_sealed];
	feed(w, e->pkt, e->len, pick_from(in, (uint32_t)e->pkt[1] << 16 | (uint32_t)e->pkt[2] << 8 | e->pkt[3]), e,
	     now);
}

static void step_raw(struct dp_worker *w, struct fuzz_in *in, uint64_t now)
{
	static uint8_t pkt[MAX_PT + AEAD_OVERHEAD];
	uint8_t f = fuzz_u8(in);
	size_t len = fuzz_u16(in) % sizeof(pkt), hdr = 0, got;
	struct sealed *e = NULL;
	const uint8_t *p;

	if (f & 1 && len >= 4) { /* a data header for a peer, so the bytes reach the key */
		pkt[0] = (uint8_t)(P_DATA_V2 << 3 | ((f >> 1) & 7));
		pkt[1] = pkt[2] = 0;
		pkt[3] = fuzz_u8(in) % N_MODEL_IDS;
		hdr = 4;
	}
	p = fuzz_bytes(in, len - hdr, &got);
	memcpy(pkt + hdr, p, got);
	len = hdr + got;
	/* bytes that are a packet sealed here share its replay record */
	for (size_t i = 0; i < n_sealed && !e; i++)
		if (sealed[i].len == len && memcmp(sealed[i].pkt, pkt, len) == 0)
			e = &sealed[i];
	feed(w, pkt, len, pick_from(in, pkt[0] >> 3 == P_DATA_V2 && len >= 4 ? pkt[3] : N_MODEL_IDS), e, now);
}

/* What on_ip does with one packet from the tun. */
static void model_ip(const uint8_t *ip, size_t len)
{
	struct mpeer *mp = NULL;
	uint32_t dst, i;

	if (len >= 20 && ip[0] >> 4 == 4) {
		memcpy(&dst, ip + 16, 4);
		i = ntohl(dst) - VBASE;
		if (i < N_VADDRS && m.vslot[i] >= 0)
			mp = &m.peers[m.vslot[i]];
	}
	if (!mp) {
		expect_add(DP_UP_IP, false, ip, len, -1, 0, 0);
		return;
	}
	if (mp->tx < 0)
		return;
	mp->pkts_out++;
	mp->bytes_out += len;
	model_send(mp, len);
}

static void step_tun(struct dp_worker *w, struct fuzz_in *in, uint64_t now)
{
	static uint8_t buf[MAX_TUN], mine[MAX_TUN];
	uint8_t mode = fuzz_u8(in);
	size_t len, got, hdr = 0;
	struct offload_seg os;
	const uint8_t *p;
	uint8_t *copy;
	ssize_t n;

	if (mode & 1) { /* an IPv4 packet towards an address in (or near) the pool, behind some vnet header */
		static const uint8_t protos[4] = { 6, 17, 1, 0 };
		uint32_t a;

		memset(buf, 0, OFFLOAD_VNET_HDR_LEN + 20);
		if (mode & 2) {
			p = fuzz_bytes(in, OFFLOAD_VNET_HDR_LEN, &got);
			memcpy(buf, p, got);
		}
		hdr = OFFLOAD_VNET_HDR_LEN;
		len = hdr + 20 + fuzz_u16(in) % (MAX_TUN - hdr - 20);
		buf[hdr] = 0x45;
		buf[hdr + 2] = (uint8_t)((len - hdr) >> 8);
		buf[hdr + 3] = (uint8_t)(len - hdr);
		buf[hdr + 6] = 0x40;
		buf[hdr + 8] = 64;
		buf[hdr + 9] = protos[(mode >> 2) & 3];
		a = htonl(0xc6120000u | fuzz_u16(in));
		memcpy(buf + hdr + 12, &a, 4);
		a = htonl(VBASE + fuzz_u8(in) % (N_VADDRS + 8) - 4);
		memcpy(buf + hdr + 16, &a, 4);
		hdr += 20;
	} else {
		len = fuzz_u16(in) % MAX_TUN;
	}
	p = fuzz_bytes(in, len - hdr, &got);
	memcpy(buf + hdr, p, got);
	len = hdr + got;

	/* The model first, on its own copy: segmentation is offload.c's (fuzz_offload checks it). */
	memcpy(mine, buf, len);
	if (offload_seg_init(&os, mine, len) < 0) {
		add(&m.bad, true, 1);
	} else {
		if (m.n_exp + os.nsegs > MAX_EXPECT)
			return; /* more than the model keeps: not fed */
		if (os.nsegs == 1) {
			model_ip(os.pkt, os.len);
		} else {
			while ((n = offload_seg_next(&os, segbuf, sizeof(segbuf))) > 0)
				model_ip(segbuf, (size_t)n);
			FUZZ_ASSERT(n == 0);
		}
	}
	copy = malloc(len ? len : 1);
	FUZZ_ASSERT(copy);
	memcpy(copy, buf, len);
	dp_worker_on_tun(w, copy, len, now);
	free(copy);
}

/* ---- set-up ---- */

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct dp_worker_config cfg = { .tun_vnet = true, .n_peer_ids = N_IDS, .vaddr_base = VBASE,
					.n_vaddrs = N_VADDRS };
	int pfd[2], udp;

	(void)argc;
	(void)argv;
	for (int i = 0; i < 256; i++) {
		blocks[0][i] = (uint8_t)(i * 7 + 3);
		blocks[1][i] = (uint8_t)(i * 13 + 101);
	}
	for (int b = 0; b < 2; b++)
		for (int c = 0; c < 3; c++) {
			FUZZ_ASSERT(aead_key_init_role(&clients[b][c], ciphers[c], 0, blocks[b], false) == 0);
			FUZZ_ASSERT(aead_key_init_role(&oracles[b][c], ciphers[c], 0, blocks[b], true) == 0);
		}
	for (int i = 0; i < N_ADDRS; i++) {
		if (i < 4) { /* two hosts, the first on two ports */
			struct sockaddr_in *s = calloc(1, sizeof(*s));

			FUZZ_ASSERT(s);
			s->sin_family = AF_INET;
			s->sin_addr.s_addr = htonl(0xc0000200u | (i < 2 ? 10 : 11 + (unsigned)i)); /* 192.0.2.x */
			s->sin_port = htons(i == 1 ? 1195 : 1194);
			addrs[i] = (struct sockaddr *)s;
			addr_lens[i] = sizeof(*s);
		} else {
			struct sockaddr_in6 *s = calloc(1, sizeof(*s));

			FUZZ_ASSERT(s);
			s->sin6_family = AF_INET6;
			s->sin6_addr.s6_addr[0] = 0x20;
			s->sin6_addr.s6_addr[1] = 0x01;
			s->sin6_addr.s6_addr[2] = 0x0d;
			s->sin6_addr.s6_addr[3] = 0xb8;
			s->sin6_addr.s6_addr[15] = (uint8_t)i;
			s->sin6_port = htons(1194);
			addrs[i] = (struct sockaddr *)s;
			addr_lens[i] = sizeof(*s);
		}
	}
	/* The tun: a pipe we empty after every step, so writes never block or fail. */
	FUZZ_ASSERT(pipe2(pfd, O_NONBLOCK | O_CLOEXEC) == 0);
	(void)fcntl(pfd[1], F_SETPIPE_SZ, 1 << 20);
	tun_rd = pfd[0];
	cfg.tun_fd = pfd[1];
	cfg.udp_fd = -1;
	cfg.index = 0;
	workers[0] = dp_worker_new(&cfg);
	/* "UDP" that refuses every IP destination (EINVAL): sendmmsg runs, nothing leaves the host */
	udp = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	FUZZ_ASSERT(udp >= 0);
	cfg.udp_fd = udp;
	cfg.index = 1;
	workers[1] = dp_worker_new(&cfg);
	FUZZ_ASSERT(workers[0] && workers[1]);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	int wi = fuzz_u8(&in) & 1;
	struct dp_worker *w = workers[wi];
	uint64_t now = 1000000;
	unsigned steps = 0;

	memset(&m, 0, sizeof(m));
	for (int i = 0; i < N_VADDRS; i++)
		m.vslot[i] = -1;
	m.udp = wi == 1;
	n_sealed = 0;
	/* Client keys live across inputs; their packet-ids restart (every server key is new per input). */
	for (int b = 0; b < 2; b++)
		for (int c = 0; c < 3; c++)
			clients[b][c].send_packet_id = 0;
	dp_worker_end_batch(w);
	dp_worker_get_stats(w, &m.base);
	m.at_drain = m.base;

	/* a step adds at most one expected upcall (a tun read checks its own) */
	while (in.left && steps++ < MAX_STEPS && m.n_exp < MAX_EXPECT) {
		switch (fuzz_u8(&in) % 13) {
		case 0:
			step_peer_add(w, &in);
			break;
		case 1: {
			uint32_t id = pick_id(&in);
			struct dp_cmd c = { .kind = DP_PEER_DEL, .peer_id = id };

			dp_worker_apply(w, &c);
			peer_unlink_model(id);
			break;
		}
		case 2:
			step_key_add(w, &in);
			break;
		case 3:
			step_key_tx_del(w, &in, false);
			break;
		case 4:
			step_key_tx_del(w, &in, true);
			break;
		case 5:
			step_ping(w, &in);
			break;
		case 6:
			step_seal(w, &in, now);
			break;
		case 7:
			step_refeed(w, &in, now);
			break;
		case 8:
			step_raw(w, &in, now);
			break;
		case 9:
			step_tun(w, &in, now);
			break;
		case 10:
			end_batch(w, wi);
			break;
		case 11:
			drain_upcalls(w, wi);
			break;
		case 12: /* the clock: up to ~9 minutes, past the replay window's 15 s backtrack */
			now += (uint64_t)fuzz_u16(&in) * 8;
			break;
		}
		drain_tun();
	}
	drain_upcalls(w, wi);
	/* Nothing may outlive the input: the worker frees every peer and key (LeakSanitizer watches). */
	for (uint32_t id = 0; id < N_MODEL_IDS; id++) {
		struct dp_cmd c = { .kind = DP_PEER_DEL, .peer_id = id };

		dp_worker_apply(w, &c);
		peer_unlink_model(id);
	}
	drain_upcalls(w, wi);
	return 0;
}
