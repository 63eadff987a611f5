// SPDX-License-Identifier: GPL-2.0-or-later
/* dataplane/worker.c against real sockets: in a private network namespace (each test forks) the worker owns a
 * UDP socket on 198.18.0.1:4000 and, for its tun, one end of an AF_UNIX datagram socketpair (a plain tun:
 * every tun write is one datagram at the other end). A "client" socket on 198.18.0.1:4001 with the client
 * side of the session keys seals what it sends the worker and opens what the worker sends it. Driven step by
 * step (dp_worker_on_datagram / on_tun / end_batch) and, once, through the worker's own thread. */
#define _GNU_SOURCE /* unshare() */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check_run.h"
#include "cvpn/aead.h"
#include "cvpn/config.h"
#include "cvpn/packet.h"
#include "cvpn/worker.h"
#include "test_util.h"

#define SRV_PORT 4000
#define CLI_PORT 4001
#define PEER_ID 5
#define SESSION_ID 77
#define VADDR IP4(100, 64, 0, 10)
#define DST IP4(198, 18, 1, 1)
#define NOW 1000000u /* ms: any fixed monotonic time */
#define CIPHER CVPN_CIPHER_AES_256_GCM

static struct dp_worker *w;
static int udp_fd, cli_fd, tun_w, tun_t; /* tun_w: the worker's tun; tun_t: the test's end of it */
static struct sockaddr_in cli_addr, srv_addr;
static struct dp_peer *peer;
static struct aead_key ck[8];            /* the client's keys, by key id (zeroed: none) */
static uint8_t block0[256], block1[256];

/* which peer-ids a session holds, as the control thread tells a worker (NULL in setup: pass every one up) */
static _Atomic uint8_t live_ids[16];
static const _Atomic uint8_t *setup_live;
static _Atomic uint32_t id_limit;
static const _Atomic uint32_t *setup_limit;
static bool setup_gro; /* the worker asks for UDP GRO */

/* lo up with 198.18.0.1 in a namespace of our own, the sockets, and a worker that is not started */
static void setup(void)
{
	struct dp_worker_config c = {
		.index = 0, .tun_vnet = false, .udp_gso = false, .n_peer_ids = 16,
		.vaddr_base = IP4(100, 64, 0, 0), .n_vaddrs = 256, .peer_id_live = setup_live,
		.peer_id_limit = setup_limit, .udp_gro = setup_gro,
	};
	int sv[2], big = 4 << 20;

	netns_enter();
	netns_lo_up();
	ck_assert_int_eq(system("ip addr add 198.18.0.1/32 dev lo"), 0);
	udp_fd = udp_bound(SRV_PORT);
	cli_fd = udp_bound(CLI_PORT);
	cli_addr = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(CLI_PORT) };
	srv_addr = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(SRV_PORT) };
	inet_pton(AF_INET, "198.18.0.1", &cli_addr.sin_addr);
	inet_pton(AF_INET, "198.18.0.1", &srv_addr.sin_addr);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	tun_w = sv[0];
	tun_t = sv[1];
	/* a tun queue is non-blocking: the worker reads it until EAGAIN */
	ck_assert_int_eq(fcntl(tun_w, F_SETFL, O_NONBLOCK), 0);
	for (int i = 0; i < 2; i++) {
		setsockopt(sv[i], SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big));
		setsockopt(sv[i], SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	}
	c.udp_fd = udp_fd;
	c.tun_fd = tun_w;
	w = dp_worker_new(&c);
	ck_assert_ptr_nonnull(w);
	for (int i = 0; i < 256; i++) {
		block0[i] = (uint8_t)(i * 7 + 3);
		block1[i] = (uint8_t)(i * 11 + 101);
	}
	memset(ck, 0, sizeof(ck));
	peer = NULL;
}

static void teardown(void)
{
	dp_worker_free(w);
	w = NULL;
	for (int i = 0; i < 8; i++)
		aead_key_clear(&ck[i]);
	close(udp_fd);
	close(cli_fd);
	close(tun_w);
	close(tun_t);
}

/* ---- commands: either applied in place (worker not started) or posted ---- */

static void cmd(const struct dp_cmd *c, bool post)
{
	if (post)
		dp_worker_post(w, c);
	else
		dp_worker_apply(w, c);
}

static struct dp_peer *new_peer(uint32_t peer_id, uint32_t vaddr)
{
	struct dp_peer *p = calloc(1, sizeof(*p));

	ck_assert_ptr_nonnull(p);
	p->session_id = SESSION_ID;
	p->peer_id = peer_id;
	p->vaddr = vaddr;
	memcpy(&p->remote, &cli_addr, sizeof(cli_addr));
	p->remote_len = sizeof(cli_addr);
	p->tx_key = -1;
	return p;
}

static void add_peer(bool post)
{
	peer = new_peer(PEER_ID, VADDR);
	cmd(&(struct dp_cmd){ .kind = DP_PEER_ADD, .peer = peer }, post);
}

/* The server side of key_id to the worker (it owns it then); the client side here, in ck[key_id]. */
static void add_key(uint32_t peer_id, uint8_t key_id, const uint8_t *block, bool post)
{
	struct aead_key *k = malloc(sizeof(*k));

	ck_assert_ptr_nonnull(k);
	ck_assert_int_eq(aead_key_init_role(k, CIPHER, key_id, block, true), 0);
	cmd(&(struct dp_cmd){ .kind = DP_KEY_ADD, .peer_id = peer_id, .key_id = key_id, .key = k }, post);
	aead_key_clear(&ck[key_id]);
	ck_assert_int_eq(aead_key_init_role(&ck[key_id], CIPHER, key_id, block, false), 0);
}

static void key_tx(uint8_t key_id, bool post)
{
	cmd(&(struct dp_cmd){ .kind = DP_KEY_TX, .peer_id = PEER_ID, .key_id = key_id }, post);
}

/* ---- packets ---- */

static size_t ip_len(uint32_t n)
{
	return 40 + (n % 37) * 29;
}

/* IPv4 packet number n from src to dst: a 20-byte header, then n and a pattern of it */
static size_t make_ip(uint8_t *b, uint32_t src, uint32_t dst, uint32_t n)
{
	size_t len = ip_len(n);
	uint32_t s = htonl(src), d = htonl(dst);

	memset(b, 0, 20);
	b[0] = 0x45;
	b[2] = (uint8_t)(len >> 8);
	b[3] = (uint8_t)len;
	b[8] = 64;
	b[9] = 253; /* experimental protocol: nobody parses the payload */
	memcpy(b + 12, &s, 4);
	memcpy(b + 16, &d, 4);
	memcpy(b + 20, &n, 4);
	for (size_t k = 24; k < len; k++)
		b[k] = (uint8_t)(n * 13 + k);
	return len;
}

/* The client seals plaintext with its key key_id; returns the datagram's length. */
static size_t seal(uint8_t key_id, uint32_t peer_id, const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
	ssize_t n = aead_seal(&ck[key_id], peer_id, in, len, out, cap);

	ck_assert_int_gt(n, 0);
	return (size_t)n;
}

/* IP packet n from the client, sealed with key_id */
static size_t sealed_ip(uint8_t key_id, uint32_t n, uint8_t *out, size_t cap)
{
	uint8_t ip[2048];
	size_t len = make_ip(ip, VADDR, DST, n);

	return seal(key_id, PEER_ID, ip, len, out, cap);
}

static void feed_from(const uint8_t *buf, size_t len, const struct sockaddr_in *from, uint64_t now)
{
	dp_worker_on_datagram(w, buf, len, (const struct sockaddr *)from, sizeof(*from), now);
}

static void feed(const uint8_t *buf, size_t len)
{
	feed_from(buf, len, &cli_addr, NOW);
}

/* a peer counter (a plain function: assertion messages then name it, not the macro's expansion) */
static uint64_t ld(_Atomic uint64_t *v)
{
	return atomic_load(v);
}

static struct dp_worker_stats stats(void)
{
	struct dp_worker_stats st;

	dp_worker_get_stats(w, &st);
	return st;
}

/* The tun end holds exactly packets want[0..n) from the client, in order. Returns their bytes. */
static uint64_t expect_tun(const uint32_t *want, size_t n)
{
	uint8_t buf[4096], ref[2048];
	uint64_t bytes = 0;

	for (size_t i = 0; i < n; i++) {
		ssize_t r = recv(tun_t, buf, sizeof(buf), MSG_DONTWAIT);
		size_t len = make_ip(ref, VADDR, DST, want[i]);
		uint32_t got;

		ck_assert_msg(r >= 0, "tun packet %zu of %zu missing: %s", i, n, strerror(errno));
		memcpy(&got, buf + 20, 4);
		ck_assert_msg(got == want[i], "tun packet %zu: number %u, want %u", i, got, want[i]);
		ck_assert_uint_eq((size_t)r, len);
		ck_assert_msg(!memcmp(buf, ref, len), "tun packet %u: bytes differ", got);
		bytes += len;
	}
	ck_assert_msg(recv(tun_t, buf, sizeof(buf), MSG_DONTWAIT) < 0, "more on the tun than expected");
	return bytes;
}

static void expect_tun_empty(void)
{
	expect_tun(NULL, 0);
}

/* A datagram the worker sent the client, opened with the client's key of its key id; returns the length of
 * the plaintext in out, -1 when nothing waits. */
static ssize_t client_recv(uint8_t *out, size_t cap, uint8_t *key_id)
{
	uint8_t buf[4096];
	ssize_t r = recv(cli_fd, buf, sizeof(buf), MSG_DONTWAIT);
	uint32_t pid;
	ssize_t n;

	if (r < 0)
		return -1;
	ck_assert_int_ge(r, AEAD_OVERHEAD);
	ck_assert_int_eq(packet_opcode(buf[0]), P_DATA_V2);
	ck_assert_int_eq(packet_data_peer_id(buf, (size_t)r, &pid), 0);
	ck_assert_uint_eq(pid, PEER_ID);
	*key_id = packet_key_id(buf[0]);
	ck_assert_msg(ck[*key_id].enc, "datagram with key id %u the client has no key for", *key_id);
	n = aead_open(&ck[*key_id], buf, (size_t)r, out, cap, NOW / 1000);
	ck_assert_msg(n >= 0, "the client cannot open the worker's datagram: %zd", n);
	return n;
}

static void expect_client_empty(void)
{
	uint8_t buf[4096];

	ck_assert_msg(recv(cli_fd, buf, sizeof(buf), MSG_DONTWAIT) < 0, "the client got a datagram");
}

/* ---- 1. upload ---- */

START_TEST(test_upload)
{
	uint32_t want[20];
	uint8_t d[4096];
	uint64_t bytes;
	struct dp_worker_stats st;

	setup();
	add_peer(false);
	add_key(PEER_ID, 0, block0, false);
	for (uint32_t i = 0; i < 20; i++) {
		want[i] = i + 1;
		feed(d, sealed_ip(0, i + 1, d, sizeof(d)));
	}
	dp_worker_end_batch(w);
	bytes = expect_tun(want, 20);
	st = stats();
	ck_assert_uint_eq(st.rx_packets, 20);
	ck_assert_uint_eq(st.bad_packets, 0);
	ck_assert_uint_eq(st.replays, 0);
	ck_assert_uint_eq(st.spoofed, 0);
	ck_assert_uint_eq(st.upcalls, 0);
	ck_assert_uint_eq(st.tun.packets, 20);
	ck_assert_uint_eq(ld(&peer->pkts_in), 20);
	ck_assert_uint_eq(ld(&peer->bytes_in), bytes);
	ck_assert_uint_eq(ld(&peer->last_rx_ms), NOW);
	ck_assert_uint_eq(ld(&peer->pkts_out), 0);
	ck_assert_ptr_null(dp_worker_upcall_peek(w));
	teardown();
}
END_TEST

/* ---- 2. reordering inside a batch, and a replay ---- */

START_TEST(test_reorder_replay)
{
	static const uint32_t order[12] = { 3, 1, 2, 6, 4, 5, 9, 7, 8, 12, 10, 11 };
	uint8_t d[13][4096];
	size_t len[13];
	struct dp_worker_stats st;

	setup();
	add_peer(false);
	add_key(PEER_ID, 0, block0, false);
	for (uint32_t i = 1; i <= 12; i++)
		len[i] = sealed_ip(0, i, d[i], sizeof(d[i])); /* packet-ids 1..12 */
	for (int i = 0; i < 12; i++)
		feed(d[order[i]], len[order[i]]);
	dp_worker_end_batch(w);
	expect_tun(order, 12);
	st = stats();
	ck_assert_uint_eq(st.rx_packets, 12);
	ck_assert_uint_eq(st.replays, 0);

	/* one of them again, and the highest one again: replays, nothing delivered */
	feed(d[4], len[4]);
	feed(d[12], len[12]);
	dp_worker_end_batch(w);
	expect_tun_empty();
	st = stats();
	ck_assert_uint_eq(st.replays, 2);
	ck_assert_uint_eq(st.rx_packets, 12);
	ck_assert_uint_eq(st.bad_packets, 0);
	ck_assert_uint_eq(ld(&peer->pkts_in), 12);
	teardown();
}
END_TEST

/* ---- 3. a peer deleted mid-batch ---- */

START_TEST(test_peer_gone_mid_batch)
{
	uint32_t want[3] = { 1, 2, 3 };
	uint8_t d[7][4096];
	size_t len[7];
	const struct dp_upcall *u;
	struct dp_worker_stats st;

	setup();
	add_peer(false);
	add_key(PEER_ID, 0, block0, false);
	for (uint32_t i = 1; i <= 6; i++)
		len[i] = sealed_ip(0, i, d[i], sizeof(d[i]));
	for (int i = 1; i <= 3; i++)
		feed(d[i], len[i]);
	dp_worker_apply(w, &(struct dp_cmd){ .kind = DP_PEER_DEL, .peer_id = PEER_ID });
	peer = NULL; /* freed by the worker */
	for (int i = 4; i <= 6; i++)
		feed(d[i], len[i]);
	dp_worker_end_batch(w);
	expect_tun(want, 3);
	for (int i = 4; i <= 6; i++) {
		u = dp_worker_upcall_peek(w);
		ck_assert_ptr_nonnull(u);
		ck_assert_int_eq(u->kind, DP_UP_DATAGRAM);
		ck_assert_uint_eq(u->from_len, sizeof(cli_addr));
		ck_assert_msg(dp_same_remote((const struct sockaddr *)&u->from, (const struct sockaddr *)&cli_addr),
			      "upcall %d: from is not the client", i);
		ck_assert_uint_eq(u->len, len[i]);
		ck_assert_msg(!memcmp(u->data, d[i], len[i]), "upcall %d: not the datagram", i);
		dp_worker_upcall_release(w);
	}
	ck_assert_ptr_null(dp_worker_upcall_peek(w));
	st = stats();
	ck_assert_uint_eq(st.rx_packets, 3);
	ck_assert_uint_eq(st.upcalls, 3);
	ck_assert_uint_eq(st.upcall_drops, 0);
	/* deleting it again, or a peer never added, is harmless */
	dp_worker_apply(w, &(struct dp_cmd){ .kind = DP_PEER_DEL, .peer_id = PEER_ID });
	dp_worker_apply(w, &(struct dp_cmd){ .kind = DP_PEER_DEL, .peer_id = 1000 });
	teardown();
}
END_TEST

/* ---- 4. spoofing, a foreign address, a key id without a key ---- */

START_TEST(test_spoof_and_strangers)
{
	struct sockaddr_in other_port, other_addr;
	uint8_t ip[2048], d[4096];
	uint32_t want[1] = { 40 };
	size_t n;
	struct dp_worker_stats st;

	setup();
	other_port = cli_addr;
	other_port.sin_port = htons(4002);
	other_addr = cli_addr;
	inet_pton(AF_INET, "198.18.0.2", &other_addr.sin_addr);
	add_peer(false);
	add_key(PEER_ID, 0, block0, false);

	/* an inner source that is not the session's address */
	n = make_ip(ip, IP4(100, 64, 0, 11), DST, 7);
	feed(d, seal(0, PEER_ID, ip, n, d, sizeof(d)));
	dp_worker_end_batch(w);
	expect_tun_empty();
	st = stats();
	ck_assert_uint_eq(st.spoofed, 1);
	ck_assert_uint_eq(st.rx_packets, 0);
	ck_assert_uint_eq(ld(&peer->spoofed), 1);
	ck_assert_uint_eq(ld(&peer->pkts_in), 0);

	/* valid packets, but from another port and another address than the peer's */
	n = sealed_ip(0, 8, d, sizeof(d));
	feed_from(d, n, &other_port, NOW);
	n = sealed_ip(0, 9, d, sizeof(d));
	feed_from(d, n, &other_addr, NOW);
	dp_worker_end_batch(w);
	expect_tun_empty();
	st = stats();
	ck_assert_uint_eq(st.bad_packets, 2);
	ck_assert_uint_eq(st.rx_packets, 0);
	ck_assert_ptr_null(dp_worker_upcall_peek(w));

	/* a key id the worker has no key for */
	ck_assert_int_eq(aead_key_init_role(&ck[3], CIPHER, 3, block0, false), 0);
	n = sealed_ip(3, 10, d, sizeof(d));
	feed(d, n);
	dp_worker_end_batch(w);
	expect_tun_empty();
	st = stats();
	ck_assert_uint_eq(st.bad_packets, 3);

	/* a tampered packet */
	n = sealed_ip(0, 11, d, sizeof(d));
	d[n - 1] ^= 1;
	feed(d, n);
	dp_worker_end_batch(w);
	st = stats();
	ck_assert_uint_eq(st.bad_packets, 4);
	ck_assert_uint_eq(st.spoofed, 1);

	/* and the session still works */
	feed(d, sealed_ip(0, 40, d, sizeof(d)));
	dp_worker_end_batch(w);
	expect_tun(want, 1);
	ck_assert_uint_eq(stats().rx_packets, 1);
	teardown();
}
END_TEST

/* ---- 5. OCC exit and ping ---- */

START_TEST(test_occ_exit_and_ping)
{
	uint8_t msg[PACKET_MAGIC_LEN + 1], d[4096];
	const struct dp_upcall *u;
	uint64_t ev;
	struct dp_worker_stats st;

	setup();
	add_peer(false);
	add_key(PEER_ID, 0, block0, false);
	memcpy(msg, packet_occ_magic, PACKET_MAGIC_LEN);
	msg[PACKET_MAGIC_LEN] = PACKET_OCC_EXIT;
	feed(d, seal(0, PEER_ID, msg, sizeof(msg), d, sizeof(d)));
	dp_worker_end_batch(w);
	expect_tun_empty();
	u = dp_worker_upcall_peek(w);
	ck_assert_ptr_nonnull(u);
	ck_assert_int_eq(u->kind, DP_UP_EXIT);
	ck_assert_uint_eq(u->peer_id, PEER_ID);
	ck_assert_uint_eq(u->session_id, SESSION_ID);
	dp_worker_upcall_release(w);
	ck_assert_ptr_null(dp_worker_upcall_peek(w));
	/* the control thread was woken */
	ck_assert_int_eq(read(dp_worker_upcall_fd(w), &ev, sizeof(ev)), sizeof(ev));
	ck_assert_uint_ge(ev, 1);
	st = stats();
	ck_assert_uint_eq(st.upcalls, 1);
	ck_assert_uint_eq(st.rx_packets, 0);
	ck_assert_uint_eq(ld(&peer->last_rx_ms), NOW);

	/* a ping, later: only the peer's receive time moves */
	feed_from(d, seal(0, PEER_ID, packet_ping_magic, PACKET_MAGIC_LEN, d, sizeof(d)), &cli_addr, NOW + 5000);
	dp_worker_end_batch(w);
	expect_tun_empty();
	ck_assert_ptr_null(dp_worker_upcall_peek(w));
	ck_assert_int_lt(read(dp_worker_upcall_fd(w), &ev, sizeof(ev)), 0); /* no wake-up for nothing */
	st = stats();
	ck_assert_uint_eq(st.upcalls, 1);
	ck_assert_uint_eq(st.rx_packets, 0);
	ck_assert_uint_eq(st.bad_packets, 0);
	ck_assert_uint_eq(st.unrouted, 0);
	ck_assert_uint_eq(ld(&peer->last_rx_ms), NOW + 5000);
	ck_assert_uint_eq(ld(&peer->pkts_in), 0);
	teardown();
}
END_TEST

/* ---- 6. download ---- */

START_TEST(test_download)
{
	uint8_t ip[2048], out[4096], key_id;
	const struct dp_upcall *u;
	size_t n;
	ssize_t r;
	struct dp_worker_stats st;

	setup();
	add_peer(false);
	add_key(PEER_ID, 0, block0, false);

	/* no transmit key yet: nothing leaves */
	n = make_ip(ip, DST, VADDR, 1);
	dp_worker_on_tun(w, ip, n, NOW);
	dp_worker_apply(w, &(struct dp_cmd){ .kind = DP_PING, .peer_id = PEER_ID });
	dp_worker_end_batch(w);
	expect_client_empty();
	ck_assert_uint_eq(stats().tx_packets, 0);
	ck_assert_uint_eq(ld(&peer->pkts_out), 0);

	key_tx(0, false);
	n = make_ip(ip, DST, VADDR, 2);
	dp_worker_on_tun(w, ip, n, NOW);
	dp_worker_end_batch(w);
	r = client_recv(out, sizeof(out), &key_id);
	ck_assert_int_eq(r, (ssize_t)n);
	ck_assert_uint_eq(key_id, 0);
	make_ip(ip, DST, VADDR, 2);
	ck_assert_msg(!memcmp(out, ip, n), "the client opened other bytes");
	expect_client_empty();
	st = stats();
	ck_assert_uint_eq(st.tx_packets, 1);
	ck_assert_uint_eq(st.udp.datagrams, 1);
	ck_assert_uint_eq(ld(&peer->bytes_out), n);
	ck_assert_uint_eq(ld(&peer->pkts_out), 1);
	ck_assert_uint_eq(ld(&peer->last_tx_ms), NOW);

	/* an address of the pool with no session here: the control thread's */
	n = make_ip(ip, DST, IP4(100, 64, 0, 11), 3);
	dp_worker_on_tun(w, ip, n, NOW);
	dp_worker_end_batch(w);
	expect_client_empty();
	u = dp_worker_upcall_peek(w);
	ck_assert_ptr_nonnull(u);
	ck_assert_int_eq(u->kind, DP_UP_IP);
	ck_assert_uint_eq(u->len, n);
	ck_assert_msg(!memcmp(u->data, ip, n), "DP_UP_IP carries other bytes");
	dp_worker_upcall_release(w);
	ck_assert_ptr_null(dp_worker_upcall_peek(w));
	ck_assert_uint_eq(stats().tx_packets, 1);

	/* a keepalive */
	dp_worker_apply(w, &(struct dp_cmd){ .kind = DP_PING, .peer_id = PEER_ID });
	dp_worker_end_batch(w);
	r = client_recv(out, sizeof(out), &key_id);
	ck_assert_int_eq(r, PACKET_MAGIC_LEN);
	ck_assert_msg(packet_is_ping(out, (size_t)r), "DP_PING sent no ping");
	expect_client_empty();
	ck_assert_uint_eq(stats().tx_packets, 2);
	ck_assert_uint_eq(ld(&peer->pkts_out), 1); /* a ping is no data */
	teardown();
}
END_TEST

/* ---- 7. key rollover ---- */

START_TEST(test_key_rollover)
{
	uint8_t ip[2048], out[4096], d[4096], key_id;
	uint32_t want[2] = { 20, 21 };
	size_t n;
	struct dp_worker_stats st;

	setup();
	add_peer(false);
	add_key(PEER_ID, 0, block0, false);
	key_tx(0, false);
	add_key(PEER_ID, 1, block1, false);
	key_tx(1, false);

	n = make_ip(ip, DST, VADDR, 5);
	dp_worker_on_tun(w, ip, n, NOW);
	dp_worker_end_batch(w);
	ck_assert_int_eq(client_recv(out, sizeof(out), &key_id), (ssize_t)n);
	ck_assert_uint_eq(key_id, 1);
	ck_assert_msg(!memcmp(out, ip, n), "bytes differ");

	/* both keys decrypt while both exist */
	feed(d, sealed_ip(0, 20, d, sizeof(d)));
	feed(d, sealed_ip(1, 21, d, sizeof(d)));
	dp_worker_end_batch(w);
	expect_tun(want, 2);
	ck_assert_uint_eq(stats().rx_packets, 2);

	/* the old key retires */
	dp_worker_apply(w, &(struct dp_cmd){ .kind = DP_KEY_DEL, .peer_id = PEER_ID, .key_id = 0 });
	feed(d, sealed_ip(0, 22, d, sizeof(d)));
	dp_worker_end_batch(w);
	expect_tun_empty();
	st = stats();
	ck_assert_uint_eq(st.bad_packets, 1);
	ck_assert_uint_eq(st.rx_packets, 2);
	/* key 1 still sends */
	dp_worker_on_tun(w, ip, n, NOW);
	dp_worker_end_batch(w);
	ck_assert_int_eq(client_recv(out, sizeof(out), &key_id), (ssize_t)n);
	ck_assert_uint_eq(key_id, 1);

	/* deleting the transmit key stops sending; a DP_KEY_TX to a key it does not have does not restart it */
	ck_assert_uint_eq(ld(&peer->pkts_out), 2);
	dp_worker_apply(w, &(struct dp_cmd){ .kind = DP_KEY_DEL, .peer_id = PEER_ID, .key_id = 1 });
	dp_worker_on_tun(w, ip, n, NOW);
	dp_worker_end_batch(w);
	expect_client_empty();
	ck_assert_uint_eq(ld(&peer->pkts_out), 2); /* what does not leave is not counted */
	key_tx(0, false);
	dp_worker_on_tun(w, ip, n, NOW);
	dp_worker_end_batch(w);
	expect_client_empty();
	ck_assert_uint_eq(stats().tx_packets, 2);
	teardown();
}
END_TEST

/* ---- 8. ownership: keys for nobody, and everything a freed worker held (LSan reports any leak) ---- */

START_TEST(test_ownership)
{
	struct dp_peer *p2;
	uint8_t d[4096];
	uint32_t want[1] = { 3 };

	setup();
	/* keys for a peer id with no peer, out of range, and a key id out of range: freed */
	add_key(9, 0, block0, false);
	add_key(1000, 0, block0, false);
	{
		struct aead_key *k = malloc(sizeof(*k));

		ck_assert_ptr_nonnull(k);
		ck_assert_int_eq(aead_key_init_role(k, CIPHER, 0, block0, true), 0);
		add_peer(false);
		dp_worker_apply(w, &(struct dp_cmd){ .kind = DP_KEY_ADD, .peer_id = PEER_ID, .key_id = 8, .key = k });
	}
	/* a peer id out of range: the peer is freed */
	dp_worker_apply(w, &(struct dp_cmd){ .kind = DP_PEER_ADD, .peer = new_peer(16, IP4(100, 64, 0, 20)) });
	/* a key replacing one of the same id: the old one is freed */
	add_key(PEER_ID, 0, block1, false);
	add_key(PEER_ID, 0, block0, false);
	add_key(PEER_ID, 1, block1, false);
	key_tx(1, false);
	feed(d, sealed_ip(0, 3, d, sizeof(d)));
	dp_worker_end_batch(w);
	expect_tun(want, 1);
	/* a peer re-added under the same id replaces the first (freed with its keys) */
	p2 = new_peer(7, IP4(100, 64, 0, 30));
	dp_worker_apply(w, &(struct dp_cmd){ .kind = DP_PEER_ADD, .peer = p2 });
	add_key(7, 2, block0, false);
	dp_worker_apply(w, &(struct dp_cmd){ .kind = DP_PEER_ADD, .peer = new_peer(7, IP4(100, 64, 0, 30)) });
	add_key(7, 3, block1, false);
	/* commands still queued when the worker is freed: a peer and its key */
	dp_worker_post(w, &(struct dp_cmd){ .kind = DP_PEER_ADD, .peer = new_peer(8, IP4(100, 64, 0, 40)) });
	{
		struct aead_key *k = malloc(sizeof(*k));

		ck_assert_ptr_nonnull(k);
		ck_assert_int_eq(aead_key_init_role(k, CIPHER, 0, block0, true), 0);
		dp_worker_post(w, &(struct dp_cmd){ .kind = DP_KEY_ADD, .peer_id = 8, .key_id = 0, .key = k });
	}
	teardown();
}
END_TEST

/* ---- 9. the worker's own thread ---- */

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Waits (at most until deadline) for fd to be readable. */
static bool wait_readable(int fd, uint64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint64_t now = mono_ms();

	if (now >= deadline)
		return false;
	return poll(&pfd, 1, (int)(deadline - now)) == 1;
}

START_TEST(test_thread)
{
	enum { UP = 200, DOWN = 50 };
	uint8_t buf[4096], ref[2048], d[4096], key_id;
	uint64_t deadline;
	uint32_t got_n = 0;
	struct dp_worker_stats st;

	setup();
	ck_assert_int_eq(dp_worker_start(w), 0);
	/* the peer is the worker's from the post on: keep no pointer to it */
	cmd(&(struct dp_cmd){ .kind = DP_PEER_ADD, .peer = new_peer(PEER_ID, VADDR) }, true);
	add_key(PEER_ID, 0, block0, true);
	key_tx(0, true);

	for (uint32_t i = 0; i < UP; i++) {
		size_t n = sealed_ip(0, i, d, sizeof(d));

		ck_assert_int_eq(sendto(cli_fd, d, n, 0, (struct sockaddr *)&srv_addr, sizeof(srv_addr)), (ssize_t)n);
	}
	deadline = mono_ms() + 5000;
	while (got_n < UP) {
		ssize_t r;
		size_t len;
		uint32_t num;

		ck_assert_msg(wait_readable(tun_t, deadline), "only %u of %u packets reached the tun", got_n, UP);
		while (got_n < UP && (r = recv(tun_t, buf, sizeof(buf), MSG_DONTWAIT)) >= 0) {
			len = make_ip(ref, VADDR, DST, got_n);
			memcpy(&num, buf + 20, 4);
			ck_assert_msg(num == got_n, "tun packet %u: number %u", got_n, num);
			ck_assert_uint_eq((size_t)r, len);
			ck_assert_msg(!memcmp(buf, ref, len), "tun packet %u: bytes differ", got_n);
			got_n++;
		}
	}

	/* download: IP packets into the worker's tun, out to the client */
	for (uint32_t i = 0; i < DOWN; i++) {
		size_t n = make_ip(ref, DST, VADDR, 1000 + i);

		ck_assert_int_eq(send(tun_t, ref, n, 0), (ssize_t)n);
	}
	deadline = mono_ms() + 5000;
	got_n = 0;
	while (got_n < DOWN) {
		ssize_t r;
		size_t len;

		ck_assert_msg(wait_readable(cli_fd, deadline), "only %u of %u datagrams reached the client", got_n,
			      DOWN);
		while (got_n < DOWN && (r = client_recv(buf, sizeof(buf), &key_id)) >= 0) {
			len = make_ip(ref, DST, VADDR, 1000 + got_n);
			ck_assert_uint_eq(key_id, 0);
			ck_assert_uint_eq((size_t)r, len);
			ck_assert_msg(!memcmp(buf, ref, len), "datagram %u: bytes differ", got_n);
			got_n++;
		}
	}
	/* the counters are published after the batch's writes: give the worker its last pass */
	deadline = mono_ms() + 2000;
	do {
		st = stats();
	} while ((st.rx_packets < UP || st.tx_packets < DOWN) && mono_ms() < deadline && !usleep(1000));
	ck_assert_uint_eq(st.rx_packets, UP);
	ck_assert_uint_eq(st.tx_packets, DOWN);
	ck_assert_uint_eq(st.bad_packets, 0);
	ck_assert_uint_eq(st.upcalls, 0);
	teardown(); /* joins the thread */
}
END_TEST

/* UDP GRO: a buffer in which the kernel coalesced one client's datagrams (here a UDP GSO send over loopback,
 * which the kernel hands whole to a socket that asked for GRO) is cut at the segment size, the last
 * datagram shorter; each is decrypted in order, and the worker counts one coalesced buffer. */
START_TEST(test_thread_udp_gro)
{
	enum { K = 20 };
	static uint8_t train[65536];
	uint8_t buf[4096], ref[2048], d[4096];
	union {
		char b[CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov;
	struct msghdr mh = { 0 };
	struct cmsghdr *cm;
	size_t off = 0, seg = 0, n;
	uint32_t got_n = 0, num;
	uint64_t deadline;
	struct dp_worker_stats st;

	setup_gro = true;
	setup();
	ck_assert_int_eq(dp_worker_start(w), 0);
	cmd(&(struct dp_cmd){ .kind = DP_PEER_ADD, .peer = new_peer(PEER_ID, VADDR) }, true);
	add_key(PEER_ID, 0, block0, true);
	/* K datagrams of one length (packet numbers 37 apart have equal lengths), then a shorter one */
	for (uint32_t i = 0; i <= K; i++) {
		n = sealed_ip(0, i < K ? 5 + 37 * i : 4 + 37 * i, d, sizeof(d));
		if (i == 0)
			seg = n;
		ck_assert(i < K ? n == seg : n < seg);
		ck_assert_uint_le(off + n, sizeof(train));
		memcpy(train + off, d, n);
		off += n;
	}
	iov = (struct iovec){ train, off };
	mh.msg_name = &srv_addr;
	mh.msg_namelen = sizeof(srv_addr);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.b;
	mh.msg_controllen = sizeof(ctl.b);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_UDP;
	cm->cmsg_type = 103; /* UDP_SEGMENT */
	cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
	*(uint16_t *)(void *)CMSG_DATA(cm) = (uint16_t)seg;
	ck_assert_int_eq(sendmsg(cli_fd, &mh, 0), (ssize_t)off);

	deadline = mono_ms() + 5000;
	while (got_n <= K) {
		ssize_t r;
		uint32_t want = got_n < K ? 5 + 37 * got_n : 4 + 37 * got_n;

		ck_assert_msg(wait_readable(tun_t, deadline), "only %u of %u packets reached the tun", got_n, K + 1);
		while (got_n <= K && (r = recv(tun_t, buf, sizeof(buf), MSG_DONTWAIT)) >= 0) {
			n = make_ip(ref, VADDR, DST, want);
			memcpy(&num, buf + 20, 4);
			ck_assert_msg(num == want, "tun packet %u: number %u, want %u", got_n, num, want);
			ck_assert_uint_eq((size_t)r, n);
			ck_assert(!memcmp(buf, ref, n));
			got_n++;
			want = got_n < K ? 5 + 37 * got_n : 4 + 37 * got_n;
		}
	}
	deadline = mono_ms() + 2000;
	do {
		st = stats();
	} while (st.rx_packets < K + 1 && mono_ms() < deadline && !usleep(1000));
	ck_assert(st.udp_gro);
	ck_assert_uint_eq(st.rx_packets, K + 1);
	ck_assert_uint_eq(st.udp_rx_datagrams, K + 1);
	ck_assert_uint_eq(st.udp_rx_coalesced, 1);
	ck_assert_uint_eq(st.bad_packets, 0);
	setup_gro = false;
	teardown();
}
END_TEST

/* A keepalive ping to an idle session leaves at once: nothing else wakes the worker to flush it (this was
 * a bug: the ping waited in the send batch until the client's next packet). */
START_TEST(test_thread_idle_ping)
{
	uint8_t buf[4096], key_id;
	ssize_t r;

	setup();
	ck_assert_int_eq(dp_worker_start(w), 0);
	cmd(&(struct dp_cmd){ .kind = DP_PEER_ADD, .peer = new_peer(PEER_ID, VADDR) }, true);
	add_key(PEER_ID, 0, block0, true);
	key_tx(0, true);
	cmd(&(struct dp_cmd){ .kind = DP_PING, .peer_id = PEER_ID }, true);
	ck_assert_msg(wait_readable(cli_fd, mono_ms() + 2000), "the ping did not leave the idle worker");
	r = client_recv(buf, sizeof(buf), &key_id);
	ck_assert_int_eq(r, PACKET_MAGIC_LEN);
	ck_assert(packet_is_ping(buf, (size_t)r));
	teardown();
}
END_TEST

/* ---- 10. the upcall ring full ---- */

/* A goodbye (OCC_EXIT) that finds the upcall ring full is not lost: the peer carries it for the control
 * thread (datapath_exit_seen), which would otherwise keep the session and its address until the keepalive
 * timeout. */
START_TEST(test_exit_with_ring_full)
{
	uint8_t ip[2048], msg[PACKET_MAGIC_LEN + 1], d[4096];
	struct dp_worker_stats st;

	setup();
	add_peer(false);
	add_key(PEER_ID, 0, block0, false);
	for (uint32_t i = 0; i < 512; i++) { /* the ring full: peer-id 9, in range, no peer */
		size_t n = make_ip(ip, VADDR, DST, i);

		feed(d, seal(0, 9, ip, n, d, sizeof(d)));
	}
	ck_assert(!atomic_load(&peer->exit_seen));
	memcpy(msg, packet_occ_magic, PACKET_MAGIC_LEN);
	msg[PACKET_MAGIC_LEN] = PACKET_OCC_EXIT;
	feed(d, seal(0, PEER_ID, msg, sizeof(msg), d, sizeof(d)));
	dp_worker_end_batch(w);
	st = stats();
	ck_assert_uint_eq(st.upcalls, 512);
	ck_assert_uint_eq(st.upcall_drops, 1);
	ck_assert(atomic_load(&peer->exit_seen));
	teardown();
}
END_TEST

START_TEST(test_upcall_ring_full)
{
	enum { N = 600, SLOTS = 512 };
	uint8_t ip[2048], d[4096];
	const struct dp_upcall *u;
	uint32_t seen = 0, pid;
	struct dp_worker_stats st;

	setup();
	ck_assert_int_eq(aead_key_init_role(&ck[0], CIPHER, 0, block0, false), 0);
	for (uint32_t i = 0; i < N; i++) {
		size_t n = make_ip(ip, VADDR, DST, i);

		/* peer id 9: in range, no peer */
		feed(d, seal(0, 9, ip, n, d, sizeof(d)));
	}
	dp_worker_end_batch(w);
	st = stats();
	ck_assert_uint_eq(st.upcalls, SLOTS);
	ck_assert_uint_eq(st.upcall_drops, N - SLOTS);
	while ((u = dp_worker_upcall_peek(w))) {
		/* the oldest first: the ones that found room are the first SLOTS datagrams */
		ck_assert_int_eq(u->kind, DP_UP_DATAGRAM);
		ck_assert_int_eq(packet_data_peer_id(u->data, u->len, &pid), 0);
		ck_assert_uint_eq(pid, 9);
		ck_assert_uint_eq(u->len, ip_len(seen) + AEAD_OVERHEAD);
		dp_worker_upcall_release(w);
		seen++;
		ck_assert_uint_le(seen, SLOTS);
	}
	ck_assert_uint_eq(seen, SLOTS);
	teardown();
}
END_TEST

/* With the control thread's list of held peer-ids and its table size: a datagram for a peer-id nobody holds
 * or can hold is dropped in the worker (counted as bad) instead of passed up; one that a session on the
 * control thread holds, or beyond the worker's table but within the control thread's (a reload raised
 * max-connections), still goes up; the worker's own peers are unaffected. */
START_TEST(test_unknown_peer_ids_dropped)
{
	uint8_t ip[2048], d[4096];
	uint32_t want[1] = { 3 }, pid;
	const struct dp_upcall *u;
	struct dp_worker_stats st;
	size_t n;

	memset(live_ids, 0, sizeof(live_ids));
	setup_live = live_ids;
	atomic_store(&id_limit, 64); /* a reload raised the control thread's table from 16 to 64 */
	setup_limit = &id_limit;
	setup();
	atomic_store(&live_ids[PEER_ID], 1);
	atomic_store(&live_ids[9], 1);
	add_peer(false);
	add_key(PEER_ID, 0, block0, false);
	for (uint32_t i = 0; i < 100; i++) {
		n = make_ip(ip, VADDR, DST, i);
		feed(d, seal(0, 7, ip, n, d, sizeof(d))); /* held by nobody */
	}
	n = make_ip(ip, VADDR, DST, 1);
	feed(d, seal(0, 9, ip, n, d, sizeof(d)));   /* a session the control thread keeps */
	feed(d, seal(0, 40, ip, n, d, sizeof(d)));  /* beyond the worker's table, within the control thread's */
	feed(d, seal(0, 64, ip, n, d, sizeof(d)));  /* beyond both */
	feed(d, seal(0, 0xffffff, ip, n, d, sizeof(d)));
	feed(d, sealed_ip(0, 3, d, sizeof(d)));      /* the worker's own peer */
	dp_worker_end_batch(w);
	expect_tun(want, 1);
	st = stats();
	ck_assert_uint_eq(st.bad_packets, 102);
	ck_assert_uint_eq(st.upcalls, 2);
	ck_assert_uint_eq(st.upcall_drops, 0);
	ck_assert_uint_eq(st.rx_packets, 1);
	for (uint32_t expect_pid = 9; (u = dp_worker_upcall_peek(w)); expect_pid = 40) {
		ck_assert_int_eq(packet_data_peer_id(u->data, u->len, &pid), 0);
		ck_assert_uint_eq(pid, expect_pid);
		dp_worker_upcall_release(w);
	}
	/* the session of peer-id 7 arrives: its datagrams go up from now */
	atomic_store(&live_ids[7], 1);
	feed(d, seal(0, 7, ip, n, d, sizeof(d)));
	dp_worker_end_batch(w);
	ck_assert_uint_eq(stats().upcalls, 3);
	ck_assert_uint_eq(stats().bad_packets, 102);
	setup_live = NULL;
	setup_limit = NULL;
	teardown();
}
END_TEST

/* A batch can pass up more than the ring holds (one UDP GRO buffer is up to 64 datagrams, one tun
 * super-packet up to 64 segments), so the control thread is woken while the ring fills, not only when the
 * batch ends. Here the test plays the control thread: it drains the ring whenever the worker has woken it.
 * All 600 datagrams of one batch reach it; with a wake-up only at the end of the batch, 88 were dropped. */
START_TEST(test_upcalls_wake_during_a_batch)
{
	enum { N = 600 };
	uint8_t ip[2048], d[4096];
	struct pollfd pfd;
	uint32_t drained = 0, wakes = 0, pid;
	const struct dp_upcall *u;
	struct dp_worker_stats st;
	uint64_t v;
	size_t n;

	memset(live_ids, 0, sizeof(live_ids));
	setup_live = live_ids;
	setup();
	atomic_store(&live_ids[9], 1); /* a session the control thread keeps */
	ck_assert_int_eq(aead_key_init_role(&ck[0], CIPHER, 0, block0, false), 0);
	pfd = (struct pollfd){ .fd = dp_worker_upcall_fd(w), .events = POLLIN };
	for (uint32_t i = 0; i < N; i++) {
		n = make_ip(ip, VADDR, DST, i);
		feed(d, seal(0, 9, ip, n, d, sizeof(d)));
		if (poll(&pfd, 1, 0) != 1)
			continue;
		ck_assert_int_eq(read(pfd.fd, &v, sizeof(v)), sizeof(v));
		wakes++;
		while ((u = dp_worker_upcall_peek(w))) {
			ck_assert_int_eq(packet_data_peer_id(u->data, u->len, &pid), 0);
			ck_assert_uint_eq(pid, 9);
			dp_worker_upcall_release(w);
			drained++;
		}
	}
	dp_worker_end_batch(w);
	while (dp_worker_upcall_peek(w)) {
		dp_worker_upcall_release(w);
		drained++;
	}
	st = stats();
	ck_assert_uint_eq(st.upcall_drops, 0);
	ck_assert_uint_eq(st.upcalls, N);
	ck_assert_uint_eq(drained, N);
	ck_assert_uint_ge(wakes, 2);

	/* a P_DATA_V2 too short to carry a peer-id is nobody's: dropped here, not passed up */
	feed((const uint8_t[]){ P_DATA_V2 << 3, 0, 9 }, 3);
	dp_worker_end_batch(w);
	st = stats();
	ck_assert_uint_eq(st.upcalls, N);
	ck_assert_uint_eq(st.bad_packets, 1);
	ck_assert_ptr_null(dp_worker_upcall_peek(w));
	setup_live = NULL;
	teardown();
}
END_TEST

int main(void)
{
	Suite *s;
	TCase *tc;

	if (geteuid() != 0) {
		fprintf(stderr, "test_worker: SKIPPED: needs root (network namespaces)\n");
		return 0;
	}
	s = suite_create("worker");
	tc = tcase_create("worker");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_upload);
	tcase_add_test(tc, test_reorder_replay);
	tcase_add_test(tc, test_peer_gone_mid_batch);
	tcase_add_test(tc, test_spoof_and_strangers);
	tcase_add_test(tc, test_occ_exit_and_ping);
	tcase_add_test(tc, test_exit_with_ring_full);
	tcase_add_test(tc, test_download);
	tcase_add_test(tc, test_key_rollover);
	tcase_add_test(tc, test_ownership);
	tcase_add_test(tc, test_thread);
	tcase_add_test(tc, test_thread_idle_ping);
	tcase_add_test(tc, test_upcall_ring_full);
	tcase_add_test(tc, test_unknown_peer_ids_dropped);
	tcase_add_test(tc, test_thread_udp_gro);
	tcase_add_test(tc, test_upcalls_wake_during_a_batch);
	suite_add_tcase(s, tc);
	return check_run(s);
}
