// SPDX-License-Identifier: GPL-2.0-or-later
/* dataplane/tuntx.c: what reaches the tun. The "tun" is one end of an AF_UNIX datagram socketpair (a write is
 * one datagram, as on a tun); the test reads the other end. Checks the merge of one flow's segments behind a
 * GSO vnet header, every other packet behind a zeroed one, the flush forced by a full batch, batching switched
 * off, a plain tun, refused writes counted, and lengths refused. The details of the super-packet itself are
 * test_offload's. */
#include <check.h>
#include <errno.h>
#include <linux/virtio_net.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cvpn/offload.h"
#include "cvpn/tuntx.h"

#include "check_run.h"
#include "test_packets.h"

#define SEG 1000
#define TCP_ACK 0x10

static int tun_w, tun_t; /* tuntx's end, the test's end */

static void pair_open(void)
{
	int sv[2], big = 4 << 20;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
	for (int i = 0; i < 2; i++) {
		setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
		setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	}
	tun_w = sv[0];
	tun_t = sv[1];
}

static void pair_close(void)
{
	close(tun_w);
	if (tun_t >= 0)
		close(tun_t);
}

/* The next datagram on the test's end, or -1 when there is none. */
static ssize_t next_out(uint8_t *buf, size_t cap)
{
	ssize_t n = recv(tun_t, buf, cap, MSG_DONTWAIT);

	return n < 0 && errno == EAGAIN ? -1 : n;
}

static unsigned pending(void)
{
	uint8_t buf[OFFLOAD_READ_MAX];
	unsigned n = 0;

	while (next_out(buf, sizeof(buf)) >= 0)
		n++;
	return n;
}

static size_t tcp_seg(uint8_t *out, const struct flow *f, unsigned i)
{
	uint8_t pl[SEG];

	fill(pl, sizeof(pl), i);
	return build_tcp(out, f, 1000000 + i * SEG, (uint16_t)(100 + i), TCP_ACK, pl, sizeof(pl));
}

static size_t udp_pkt(uint8_t *out, const struct flow *f, unsigned i)
{
	uint8_t pl[200];

	fill(pl, sizeof(pl), 7000 + i);
	return build_udp(out, f, (uint16_t)(500 + i), pl, sizeof(pl));
}

static void check_stats(const struct tuntx *t, uint64_t packets, uint64_t writes, uint64_t merged,
			uint64_t errors)
{
	struct tuntx_stats st;

	tuntx_get_stats(t, &st);
	ck_assert_uint_eq(st.packets, packets);
	ck_assert_uint_eq(st.writes, writes);
	ck_assert_uint_eq(st.merged, merged);
	ck_assert_uint_eq(st.errors, errors);
}

/* Ten segments of one flow and a UDP datagram in one batch: one super-packet, then the datagram. */
START_TEST(merge_one_flow)
{
	struct tuntx *t;
	struct flow f, g;
	uint8_t pkt[TUNTX_PKT_MAX], udp[TUNTX_PKT_MAX], out[OFFLOAD_READ_MAX];
	struct virtio_net_hdr h;
	size_t udp_len = 0;
	ssize_t n;

	pair_open();
	t = tuntx_new(tun_w, true);
	ck_assert_ptr_nonnull(t);
	flow_init(&f, 4, 1);
	flow_init(&g, 4, 2);
	tuntx_batch(t, true);
	for (unsigned i = 0; i < 10; i++)
		ck_assert_int_eq(tuntx_write(t, pkt, tcp_seg(pkt, &f, i)), 0);
	udp_len = udp_pkt(udp, &g, 0);
	ck_assert_int_eq(tuntx_write(t, udp, udp_len), 0);
	ck_assert_int_eq(next_out(out, sizeof(out)), -1); /* all queued until the flush */
	ck_assert_uint_eq(tuntx_flush(t), 11);

	n = next_out(out, sizeof(out));
	ck_assert_int_eq(n, OFFLOAD_VNET_HDR_LEN + 20 + 20 + 12 + 10 * SEG);
	memcpy(&h, out, sizeof(h));
	ck_assert_uint_eq(h.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
	ck_assert_uint_eq(h.gso_size, SEG);
	ck_assert_uint_eq(rd32(out + OFFLOAD_VNET_HDR_LEN + 20 + 4), 1000000); /* the first segment's seq */
	n = next_out(out, sizeof(out));
	ck_assert_int_eq(n, (ssize_t)(OFFLOAD_VNET_HDR_LEN + udp_len));
	memcpy(&h, out, sizeof(h));
	ck_assert_uint_eq(h.gso_type, VIRTIO_NET_HDR_GSO_NONE);
	ck_assert_uint_eq(h.flags, 0);
	ck_assert_mem_eq(out + OFFLOAD_VNET_HDR_LEN, udp, udp_len);
	ck_assert_int_eq(next_out(out, sizeof(out)), -1);
	check_stats(t, 11, 2, 10, 0);
	ck_assert_uint_eq(tuntx_flush(t), 0); /* nothing left */
	tuntx_free(t);
	pair_close();
}
END_TEST

/* A batch holds OFFLOAD_BATCH_MAX packets: the next one first sends those. */
START_TEST(full_batch_flushes)
{
	struct tuntx *t;
	struct flow g;
	uint8_t pkt[TUNTX_PKT_MAX];

	pair_open();
	t = tuntx_new(tun_w, true);
	ck_assert_ptr_nonnull(t);
	flow_init(&g, 4, 3);
	tuntx_batch(t, true);
	for (unsigned i = 0; i < OFFLOAD_BATCH_MAX; i++)
		ck_assert_int_eq(tuntx_write(t, pkt, udp_pkt(pkt, &g, i)), 0);
	ck_assert_uint_eq(pending(), 0);
	ck_assert_int_eq(tuntx_write(t, pkt, udp_pkt(pkt, &g, OFFLOAD_BATCH_MAX)), 0);
	ck_assert_uint_eq(pending(), OFFLOAD_BATCH_MAX);
	ck_assert_uint_eq(tuntx_flush(t), 1);
	ck_assert_uint_eq(pending(), 1);
	check_stats(t, OFFLOAD_BATCH_MAX + 1, OFFLOAD_BATCH_MAX + 1, 0, 0);
	tuntx_free(t);
	pair_close();
}
END_TEST

/* Switching batching off sends what waits; from then on each packet leaves at once. */
START_TEST(batching_off_sends_at_once)
{
	struct tuntx *t;
	struct flow f;
	uint8_t pkt[TUNTX_PKT_MAX], out[OFFLOAD_READ_MAX];
	struct virtio_net_hdr h;
	size_t len;

	pair_open();
	t = tuntx_new(tun_w, true);
	ck_assert_ptr_nonnull(t);
	flow_init(&f, 4, 4);
	tuntx_batch(t, true);
	for (unsigned i = 0; i < 5; i++)
		ck_assert_int_eq(tuntx_write(t, pkt, tcp_seg(pkt, &f, i)), 0);
	ck_assert_uint_eq(pending(), 0);
	tuntx_batch(t, false);
	ck_assert_uint_eq(pending(), 1); /* the five as one */
	len = tcp_seg(pkt, &f, 5);
	ck_assert_int_eq(tuntx_write(t, pkt, len), 0);
	ck_assert_int_eq(next_out(out, sizeof(out)), (ssize_t)(OFFLOAD_VNET_HDR_LEN + len));
	memcpy(&h, out, sizeof(h));
	ck_assert_uint_eq(h.gso_type, VIRTIO_NET_HDR_GSO_NONE);
	ck_assert_mem_eq(out + OFFLOAD_VNET_HDR_LEN, pkt, len);
	check_stats(t, 6, 2, 5, 0);
	tuntx_free(t);
	pair_close();
}
END_TEST

/* A tun without vnet header: every packet as it is, at once, batching or not. */
START_TEST(plain_tun)
{
	struct tuntx *t;
	struct flow f;
	uint8_t pkt[TUNTX_PKT_MAX], out[OFFLOAD_READ_MAX];
	size_t len;

	pair_open();
	t = tuntx_new(tun_w, false);
	ck_assert_ptr_nonnull(t);
	flow_init(&f, 4, 5);
	tuntx_batch(t, true);
	for (unsigned i = 0; i < 3; i++) {
		len = tcp_seg(pkt, &f, i);
		ck_assert_int_eq(tuntx_write(t, pkt, len), 0);
		ck_assert_int_eq(next_out(out, sizeof(out)), (ssize_t)len);
		ck_assert_mem_eq(out, pkt, len);
	}
	ck_assert_uint_eq(tuntx_flush(t), 0);
	check_stats(t, 3, 3, 0, 0);
	tuntx_free(t);
	pair_close();
}
END_TEST

/* The tun refuses: every packet of a refused write counts as an error, none as written. */
START_TEST(refused_writes_counted)
{
	struct tuntx *t, *plain;
	struct flow f;
	uint8_t pkt[TUNTX_PKT_MAX];

	pair_open();
	close(tun_t);
	tun_t = -1;
	t = tuntx_new(tun_w, true);
	plain = tuntx_new(tun_w, false);
	ck_assert(t && plain);
	flow_init(&f, 4, 6);
	tuntx_batch(t, true);
	for (unsigned i = 0; i < 3; i++)
		ck_assert_int_eq(tuntx_write(t, pkt, tcp_seg(pkt, &f, i)), 0); /* queued: nothing refused yet */
	ck_assert_uint_eq(tuntx_flush(t), 0);
	check_stats(t, 3, 0, 0, 3);
	ck_assert_int_lt(tuntx_write(plain, pkt, tcp_seg(pkt, &f, 3)), 0);
	check_stats(plain, 1, 0, 0, 1);
	tuntx_free(t);
	tuntx_free(plain);
	pair_close();
}
END_TEST

START_TEST(lengths_refused)
{
	struct tuntx *t;
	static uint8_t big[TUNTX_PKT_MAX + 1];

	pair_open();
	t = tuntx_new(tun_w, true);
	ck_assert_ptr_nonnull(t);
	tuntx_batch(t, true);
	ck_assert_int_eq(tuntx_write(t, big, 0), -EMSGSIZE);
	ck_assert_int_eq(tuntx_write(t, big, sizeof(big)), -EMSGSIZE);
	ck_assert_uint_eq(tuntx_flush(t), 0);
	ck_assert_uint_eq(pending(), 0);
	check_stats(t, 0, 0, 0, 0);
	tuntx_free(t);
	pair_close();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tuntx");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, merge_one_flow);
	tcase_add_test(tc, full_batch_flushes);
	tcase_add_test(tc, batching_off_sends_at_once);
	tcase_add_test(tc, plain_tun);
	tcase_add_test(tc, refused_writes_counted);
	tcase_add_test(tc, lengths_refused);
	suite_add_tcase(s, tc);
	return check_run(s);
}
