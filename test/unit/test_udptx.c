// SPDX-License-Identifier: GPL-2.0-or-later
/* dataplane/udptx.c against the kernel: in a private network namespace (each test forks), two receivers on
 * lo; batches of datagrams of mixed peers and sizes must arrive complete, intact and in order, with UDP GSO
 * and without; a full batch flushes itself; a peer that is gone mid-batch costs only its own datagrams. */
#define _GNU_SOURCE /* unshare() */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check_run.h"
#include "cvpn/udptx.h"
#include "test_util.h"

#define PORT_A 4001
#define PORT_B 4002

static struct sockaddr_in peer_a, peer_b;
static int rx_a, rx_b, tx;

/* lo up with 198.18.0.1 in a namespace of our own, and the sockets */
static void setup(void)
{
	netns_enter();
	netns_lo_up();
	ck_assert_int_eq(system("ip addr add 198.18.0.1/32 dev lo"), 0);
	rx_a = udp_bound(PORT_A);
	rx_b = udp_bound(PORT_B);
	tx = udp_bound(4000);
	peer_a = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(PORT_A) };
	peer_b = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(PORT_B) };
	inet_pton(AF_INET, "198.18.0.1", &peer_a.sin_addr);
	inet_pton(AF_INET, "198.18.0.1", &peer_b.sin_addr);
}

/* datagram i: its number in the first 4 bytes, then a pattern of it */
static size_t make(uint8_t *buf, uint32_t i, size_t len)
{
	memcpy(buf, &i, 4);
	for (size_t k = 4; k < len; k++)
		buf[k] = (uint8_t)(i * 7 + k);
	return len;
}

/* Reads what fd has and checks it is exactly want[0..n) (numbers and lengths), in order. */
static void expect(int fd, const uint32_t *want, const size_t *want_len, size_t n)
{
	uint8_t buf[4096], ref[4096];

	for (size_t i = 0; i < n; i++) {
		ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		uint32_t got;

		ck_assert_msg(r >= 0, "datagram %zu of %zu missing: %s", i, n, strerror(errno));
		memcpy(&got, buf, 4);
		ck_assert_msg(got == want[i], "datagram %zu: number %u, want %u (order)", i, got, want[i]);
		ck_assert_uint_eq((size_t)r, want_len[i]);
		make(ref, got, want_len[i]);
		ck_assert_msg(!memcmp(buf, ref, want_len[i]), "datagram %u: bytes differ", got);
	}
	ck_assert_int_lt(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), 0);
}

/* A batch of runs: 40 full to A, one short to A, 10 full to B, 5 full to A, then singles alternating. */
static void run_mixed(bool gso)
{
	struct udptx *t;
	struct udptx_stats st;
	uint32_t wa[128], wb[128];
	size_t la[128], lb[128], na = 0, nb = 0;
	uint8_t buf[2048];
	uint32_t i = 0;

	setup();
	t = udptx_new(tx, gso);
	ck_assert_ptr_nonnull(t);
#define Q(peer, len)                                                                                      \
	do {                                                                                              \
		size_t l_ = make(buf, i, (len));                                                          \
		ck_assert_int_eq(udptx_queue(t, (struct sockaddr *)&(peer), sizeof(peer), NULL, buf, l_), 0);   \
		if (&(peer) == &peer_a) {                                                                 \
			wa[na] = i;                                                                       \
			la[na++] = l_;                                                                    \
		} else {                                                                                  \
			wb[nb] = i;                                                                       \
			lb[nb++] = l_;                                                                    \
		}                                                                                         \
		i++;                                                                                      \
	} while (0)
	for (int k = 0; k < 40; k++)
		Q(peer_a, 1400);
	Q(peer_a, 300);
	for (int k = 0; k < 10; k++)
		Q(peer_b, 1400);
	for (int k = 0; k < 5; k++)
		Q(peer_a, 1400);
	for (int k = 0; k < 20; k++) {
		if (k % 2)
			Q(peer_b, 100 + (size_t)k);
		else
			Q(peer_a, 1400 - (size_t)k);
	}
#undef Q
	ck_assert_uint_eq(udptx_pending(t), i);
	ck_assert_uint_eq(udptx_flush(t), i);
	ck_assert_uint_eq(udptx_pending(t), 0);
	expect(rx_a, wa, la, na);
	expect(rx_b, wb, lb, nb);
	udptx_get_stats(t, &st);
	ck_assert_uint_eq(st.datagrams, i);
	ck_assert_uint_eq(st.errors, 0);
	ck_assert_uint_eq(st.syscalls, 1);
	if (gso) {
		/* the 41 to A (40 full and the short one) are one send, the 10 to B another, the 5 a third */
		ck_assert_msg(st.gso, "UDP GSO refused by this kernel");
		ck_assert_uint_eq(st.gso_sends, 3);
	} else {
		ck_assert_uint_eq(st.gso_sends, 0);
	}
	udptx_free(t);
}

START_TEST(test_mixed_gso)
{
	run_mixed(true);
}
END_TEST

START_TEST(test_mixed_plain)
{
	run_mixed(false);
}
END_TEST

/* More than a batch: queue flushes by itself, nothing lost or reordered. */
START_TEST(test_full_batch)
{
	enum { N = 3 * UDPTX_MAX_DATAGRAMS + 5 };
	static uint32_t w[N];
	static size_t l[N];
	uint8_t buf[2048];
	struct udptx *t;

	setup();
	t = udptx_new(tx, true);
	for (uint32_t i = 0; i < N; i++) {
		w[i] = i;
		l[i] = make(buf, i, 1200);
		ck_assert_int_eq(udptx_queue(t, (struct sockaddr *)&peer_a, sizeof(peer_a), NULL, buf, l[i]), 0);
	}
	ck_assert_uint_eq(udptx_pending(t), N % UDPTX_MAX_DATAGRAMS);
	udptx_flush(t);
	expect(rx_a, w, l, N);
	udptx_free(t);
}
END_TEST

/* A peer that disappears mid-batch (its socket closed): only its datagrams are lost. */
START_TEST(test_peer_gone)
{
	uint32_t wa[32];
	size_t la[32], na = 0;
	uint8_t buf[2048];
	struct udptx *t;

	setup();
	t = udptx_new(tx, true);
	for (uint32_t i = 0; i < 30; i++) {
		struct sockaddr_in *p = i >= 10 && i < 20 ? &peer_b : &peer_a;

		make(buf, i, 1000);
		ck_assert_int_eq(udptx_queue(t, (struct sockaddr *)p, sizeof(*p), NULL, buf, 1000), 0);
		if (p == &peer_a) {
			wa[na] = i;
			la[na++] = 1000;
		}
	}
	close(rx_b);
	udptx_flush(t);
	expect(rx_a, wa, la, na);
	udptx_free(t);
}
END_TEST

/* From a socket on the wildcard address of a host with two: each datagram leaves from the address it was
 * queued with, and a GSO run never mixes two (the kernel would send the whole run from the first). */
START_TEST(test_source_addresses)
{
	static const char *const src[] = { "198.18.0.2", "198.18.0.2", "198.18.0.2", "198.18.0.1", "198.18.0.1",
					   "198.18.0.1", "198.18.0.2", "198.18.0.2" };
	enum { N = sizeof(src) / sizeof(src[0]) };
	struct sockaddr_in any = { .sin_family = AF_INET, .sin_port = htons(4003) };
	struct udptx_stats st;
	uint8_t buf[2048];
	struct udptx *t;
	int wild;

	for (int gso = 0; gso < 2; gso++) {
		setup();
		ck_assert_int_eq(system("ip addr add 198.18.0.2/32 dev lo"), 0);
		wild = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
		ck_assert_int_ge(wild, 0);
		ck_assert_int_eq(bind(wild, (struct sockaddr *)&any, sizeof(any)), 0);
		t = udptx_new(wild, gso);
		for (uint32_t i = 0; i < N; i++) {
			struct udp_local l = { .family = AF_INET };

			inet_pton(AF_INET, src[i], &l.addr.v4);
			make(buf, i, 1000);
			ck_assert_int_eq(udptx_queue(t, (struct sockaddr *)&peer_a, sizeof(peer_a), &l, buf, 1000), 0);
		}
		ck_assert_uint_eq(udptx_flush(t), N);
		udptx_get_stats(t, &st);
		ck_assert_uint_eq(st.gso_sends, gso ? 3 : 0);
		for (uint32_t i = 0; i < N; i++) {
			struct sockaddr_in from;
			socklen_t fl = sizeof(from);
			char host[INET_ADDRSTRLEN];
			uint32_t got;

			ck_assert_int_eq(recvfrom(rx_a, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl), 1000);
			memcpy(&got, buf, 4);
			ck_assert_uint_eq(got, i);
			inet_ntop(AF_INET, &from.sin_addr, host, sizeof(host));
			ck_assert_msg(!strcmp(host, src[i]), "datagram %u (gso %d) came from %s, not %s", i, gso, host,
				      src[i]);
		}
		udptx_free(t);
		close(wild);
		close(rx_a);
		close(rx_b);
		close(tx);
	}
}
END_TEST

START_TEST(test_refusals)
{
	uint8_t big[UDPTX_MAX_LEN + 1] = { 0 };
	struct udptx *t = udptx_new(-1, true);

	ck_assert_int_eq(udptx_queue(t, (struct sockaddr *)&peer_a, sizeof(peer_a), NULL, big, sizeof(big)), -EMSGSIZE);
	ck_assert_int_eq(udptx_queue(t, (struct sockaddr *)&peer_a, sizeof(peer_a), NULL, big, 0), -EMSGSIZE);
	ck_assert_int_eq(udptx_queue(t, NULL, sizeof(peer_a), NULL, big, 10), -EINVAL);
	ck_assert_int_eq(udptx_queue(t, (struct sockaddr *)&peer_a, 0, NULL, big, 10), -EINVAL);
	ck_assert_uint_eq(udptx_pending(t), 0);
	/* a send the kernel refuses (bad fd) is counted and dropped, not kept */
	ck_assert_int_eq(udptx_queue(t, (struct sockaddr *)&peer_a, sizeof(peer_a), NULL, big, 10), 0);
	ck_assert_uint_eq(udptx_flush(t), 0);
	ck_assert_uint_eq(udptx_pending(t), 0);
	{
		struct udptx_stats st;

		udptx_get_stats(t, &st);
		ck_assert_uint_eq(st.errors, 1);
	}
	udptx_free(t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("udptx");
	TCase *tc = tcase_create("udptx");

	tcase_add_test(tc, test_mixed_gso);
	tcase_add_test(tc, test_mixed_plain);
	tcase_add_test(tc, test_full_batch);
	tcase_add_test(tc, test_peer_gone);
	tcase_add_test(tc, test_source_addresses);
	tcase_add_test(tc, test_refusals);
	suite_add_tcase(s, tc);
	return check_run(s);
}
