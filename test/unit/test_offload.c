// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for dataplane/offload.c: cutting GSO super-packets read from an IFF_VNET_HDR tun, and merging a
 * batch of TCP segments for writing to it. Packets are built here, and checksums checked, with helpers of our
 * own that share nothing with the module: a byte-wise big-endian one's complement sum. */

#include <check.h>
#include <errno.h>
#include <linux/virtio_net.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cvpn/offload.h"

#include "check_run.h"
#include "test_packets.h"

#define GSO_UDP_L4 5

static void vnet(uint8_t *out, uint8_t flags, uint8_t gso, uint16_t hdr_len, uint16_t gso_size, uint16_t start,
		 uint16_t off)
{
	struct virtio_net_hdr h = {
		.flags = flags, .gso_type = gso, .hdr_len = hdr_len, .gso_size = gso_size,
		.csum_start = start, .csum_offset = off,
	};

	memcpy(out, &h, sizeof(h));
}

/* A super-packet as the kernel hands it: vnet header, then headers and the whole payload, the L4 checksum
 * field holding the pseudo-header sum only. Returns the length with the vnet header. */
static size_t build_gso_tcp(uint8_t *buf, const struct flow *f, uint32_t seq, uint16_t id, uint8_t flags,
			    const uint8_t *pl, size_t plen, uint16_t mss, uint16_t hdr_len)
{
	uint8_t *ip = buf + 10;
	size_t len = build_tcp(ip, f, seq, id, flags, pl, plen), ihl = f->v == 4 ? 20 : 40;

	wr16(ip + ihl + 16, ref_fold(ref_pseudo(ip, 6, len - ihl)));
	vnet(buf, VIRTIO_NET_HDR_F_NEEDS_CSUM,
	     (uint8_t)(f->v == 4 ? VIRTIO_NET_HDR_GSO_TCPV4 : VIRTIO_NET_HDR_GSO_TCPV6), hdr_len, mss,
	     (uint16_t)ihl, 16);
	return 10 + len;
}

static uint8_t payload[70000];
static uint8_t gbuf[10 + 70000];
static uint8_t seg[70000];
static uint8_t want[70000];

/* Segments buf and compares every segment with the one built independently for the same payload chunk. */
static void check_tcp_segmentation(const struct flow *f, size_t plen, uint16_t mss, uint8_t flags, uint16_t hdr_len)
{
	struct offload_seg s;
	size_t len, nseg = (plen + mss - 1) / mss, thl = 20 + f->optlen;
	uint32_t seq0 = 0xfffff000; /* wraps inside the packet */
	ssize_t n;
	unsigned i;

	fill(payload, plen, (uint32_t)plen);
	len = build_gso_tcp(gbuf, f, seq0, 0xfff0, flags, payload, plen, mss, hdr_len);
	ck_assert_int_eq(offload_seg_init(&s, gbuf, len), 0);
	ck_assert_uint_eq(s.nsegs, nseg);
	ck_assert_uint_eq(s.seg_max, (f->v == 4 ? 20 : 40) + thl + (plen < mss ? plen : mss));
	for (i = 0; i < nseg; i++) {
		size_t off = (size_t)i * mss, chunk = plen - off < mss ? plen - off : mss;
		uint8_t fl = flags;
		size_t wl;

		if (i > 0)
			fl &= (uint8_t)~0x80;
		if (i + 1 < nseg)
			fl &= (uint8_t)~0x09;
		wl = build_tcp(want, f, seq0 + (uint32_t)off, (uint16_t)(0xfff0 + i), fl, payload + off, chunk);
		n = offload_seg_next(&s, seg, s.seg_max);
		ck_assert_int_eq(n, (ssize_t)wl);
		ck_assert_msg(memcmp(seg, want, wl) == 0, "segment %u differs", i);
		ck_assert(ref_verify(seg, (size_t)n));
	}
	ck_assert_int_eq(offload_seg_next(&s, seg, sizeof(seg)), 0);
}

/* ---- segmentation ---------------------------------------------------------------------------------------- */

START_TEST(test_seg_tcp4_64k)
{
	struct flow f;

	flow_init(&f, 4, 1);
	/* 20 + 32 header bytes + 65483 = 65535: 45 segments of 1448 and one of 323 */
	check_tcp_segmentation(&f, 65535 - 52, 1448, 0x80 | 0x10 | 0x08 | 0x01, 52);
	/* hdr_len as skb_headlen() on the forwarding path: the whole first segment */
	check_tcp_segmentation(&f, 65535 - 52, 1448, 0x10 | 0x08, 52 + 1448);
	/* an exact multiple, no options, non-DF */
	f.optlen = 0;
	f.df = false;
	check_tcp_segmentation(&f, 1460 * 44, 1460, 0x10, 40);
}
END_TEST

START_TEST(test_seg_tcp6_64k)
{
	struct flow f;

	flow_init(&f, 6, 1);
	/* an odd MSS: odd-length segments exercise the padded last byte of the checksum */
	check_tcp_segmentation(&f, 65535 - 32, 1427, 0x80 | 0x10 | 0x08 | 0x01, 72);
	check_tcp_segmentation(&f, 3000, 1220, 0x10, 72);
}
END_TEST

START_TEST(test_seg_single_in_place)
{
	struct flow f;
	struct offload_seg s;
	size_t len, wl;

	/* a GSO packet that fits one segment is finished where it lies, flags untouched */
	flow_init(&f, 4, 1);
	fill(payload, 1000, 7);
	len = build_gso_tcp(gbuf, &f, 1000, 5, 0x80 | 0x18 | 0x01, payload, 1000, 1448, 52);
	wl = build_tcp(want, &f, 1000, 5, 0x80 | 0x18 | 0x01, payload, 1000);
	ck_assert_int_eq(offload_seg_init(&s, gbuf, len), 0);
	ck_assert_uint_eq(s.nsegs, 1);
	ck_assert_ptr_eq(s.pkt, gbuf + 10);
	ck_assert_uint_eq(s.len, wl);
	ck_assert_mem_eq(s.pkt, want, wl);
	ck_assert_int_eq(offload_seg_next(&s, seg, wl - 1), -ENOSPC);
	ck_assert_int_eq(offload_seg_next(&s, seg, wl), (ssize_t)wl);
	ck_assert_mem_eq(seg, want, wl);
	ck_assert_int_eq(offload_seg_next(&s, seg, sizeof(seg)), 0);
}
END_TEST

static void check_udp_segmentation(int v, size_t plen, uint16_t mss)
{
	struct flow f;
	struct offload_seg s;
	size_t len, ihl = v == 4 ? 20 : 40, nseg = (plen + mss - 1) / mss;
	unsigned i;

	flow_init(&f, v, 3);
	f.df = false;
	fill(payload, plen, 99);
	len = build_udp(gbuf + 10, &f, 77, payload, plen);
	wr16(gbuf + 10 + ihl + 6, ref_fold(ref_pseudo(gbuf + 10, 17, len - ihl)));
	vnet(gbuf, VIRTIO_NET_HDR_F_NEEDS_CSUM, GSO_UDP_L4, (uint16_t)(ihl + 8), mss, (uint16_t)ihl, 6);
	ck_assert_int_eq(offload_seg_init(&s, gbuf, 10 + len), 0);
	ck_assert_uint_eq(s.nsegs, nseg);
	for (i = 0; i < nseg; i++) {
		size_t off = (size_t)i * mss, chunk = plen - off < mss ? plen - off : mss;
		size_t wl = build_udp(want, &f, (uint16_t)(77 + i), payload + off, chunk);

		ck_assert_int_eq(offload_seg_next(&s, seg, sizeof(seg)), (ssize_t)wl);
		ck_assert_msg(memcmp(seg, want, wl) == 0, "segment %u differs", i);
		ck_assert(ref_verify(seg, wl));
	}
	ck_assert_int_eq(offload_seg_next(&s, seg, sizeof(seg)), 0);
}

START_TEST(test_seg_udp)
{
	check_udp_segmentation(4, 14000, 1400);
	check_udp_segmentation(4, 10001, 1333);
	check_udp_segmentation(6, 60000, 1280);
}
END_TEST

START_TEST(test_seg_none)
{
	struct flow f;
	struct offload_seg s;
	size_t len, wl;
	uint32_t sum;

	/* NEEDS_CSUM on a plain TCP packet: the checksum is completed in place */
	flow_init(&f, 4, 1);
	fill(payload, 333, 1);
	wl = build_tcp(want, &f, 5, 6, 0x18, payload, 333);
	memcpy(gbuf + 10, want, wl);
	wr16(gbuf + 10 + 20 + 16, ref_fold(ref_pseudo(want, 6, wl - 20)));
	vnet(gbuf, VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, 20, 16);
	ck_assert_int_eq(offload_seg_init(&s, gbuf, 10 + wl), 0);
	ck_assert_uint_eq(s.nsegs, 1);
	ck_assert_mem_eq(gbuf + 10, want, wl);
	ck_assert_int_eq(offload_seg_next(&s, seg, sizeof(seg)), (ssize_t)wl);
	ck_assert_mem_eq(seg, want, wl);

	/* a UDP packet whose checksum comes out 0 must carry 0xffff: pick the last payload word for it */
	flow_init(&f, 6, 2);
	fill(payload, 100, 2);
	payload[98] = payload[99] = 0;
	wl = build_udp(want, &f, 0, payload, 100);
	wr16(want + 46, 0);
	sum = ref_fold(ref_pseudo(want, 17, wl - 40) + ref_sum(0, want + 40, wl - 40));
	wr16(payload + 98, (uint16_t)(0xffff - sum));
	wl = build_udp(want, &f, 0, payload, 100);
	ck_assert_uint_eq(rd16(want + 46), 0xffff);
	memcpy(gbuf + 10, want, wl);
	wr16(gbuf + 10 + 46, ref_fold(ref_pseudo(want, 17, wl - 40)));
	vnet(gbuf, VIRTIO_NET_HDR_F_NEEDS_CSUM, 0, 0, 0, 40, 6);
	ck_assert_int_eq(offload_seg_init(&s, gbuf, 10 + wl), 0);
	ck_assert_mem_eq(gbuf + 10, want, wl);
	ck_assert(ref_verify(gbuf + 10, wl));

	/* no flags: bytes untouched, even ones that are not a valid packet */
	memset(gbuf, 0, 10);
	memset(gbuf + 10, 0xab, 7);
	ck_assert_int_eq(offload_seg_init(&s, gbuf, 17), 0);
	ck_assert_uint_eq(s.nsegs, 1);
	ck_assert_int_eq(offload_seg_next(&s, seg, sizeof(seg)), 7);
	ck_assert_mem_eq(seg, gbuf + 10, 7);
	ck_assert_int_eq(offload_seg_next(&s, seg, sizeof(seg)), 0);
	len = 0;
	ck_assert_int_eq(offload_seg_init(&s, gbuf, len), -EINVAL);
	ck_assert_int_eq(offload_seg_init(&s, gbuf, 10), -EINVAL);
}
END_TEST

START_TEST(test_seg_enospc)
{
	struct flow f;
	struct offload_seg s;
	size_t len;

	flow_init(&f, 4, 1);
	fill(payload, 5000, 3);
	len = build_gso_tcp(gbuf, &f, 1, 1, 0x10, payload, 5000, 1448, 52);
	ck_assert_int_eq(offload_seg_init(&s, gbuf, len), 0);
	ck_assert_uint_eq(s.nsegs, 4);
	ck_assert_int_eq(offload_seg_next(&s, seg, s.seg_max - 1), -ENOSPC);
	ck_assert_int_eq(offload_seg_next(&s, seg, s.seg_max), (ssize_t)s.seg_max);
	/* the first segment came out once: the refusal did not consume it */
	ck_assert_uint_eq(rd32(seg + 24), 1);
	ck_assert_int_eq(offload_seg_next(&s, seg, s.seg_max), (ssize_t)s.seg_max);
	ck_assert_uint_eq(rd32(seg + 24), 1 + 1448);
}
END_TEST

/* A well-formed TCPv4 GSO packet (pkt at buf+10) that each case below breaks in one place. */
static size_t good_gso(uint8_t *buf)
{
	struct flow f;

	flow_init(&f, 4, 1);
	fill(payload, 4000, 4);
	return build_gso_tcp(buf, &f, 1, 1, 0x10, payload, 4000, 1448, 52);
}

static void hdr_set(uint8_t *buf, size_t field, uint16_t v)
{
	struct virtio_net_hdr h;

	memcpy(&h, buf, sizeof(h));
	switch (field) {
	case 0: h.flags = (uint8_t)v; break;
	case 1: h.gso_type = (uint8_t)v; break;
	case 2: h.hdr_len = v; break;
	case 3: h.gso_size = v; break;
	case 4: h.csum_start = v; break;
	default: h.csum_offset = v; break;
	}
	memcpy(buf, &h, sizeof(h));
}

START_TEST(test_seg_malformed)
{
	static uint8_t b[10 + 8000];
	struct offload_seg s;
	size_t len, l;

	len = good_gso(b);
	ck_assert_int_eq(offload_seg_init(&s, b, len), 0);
#define BAD(stmt)                                                                                          \
	do {                                                                                               \
		len = good_gso(b);                                                                         \
		stmt;                                                                                      \
		ck_assert_int_eq(offload_seg_init(&s, b, len), -EINVAL);                                   \
		ck_assert_int_eq(offload_seg_next(&s, seg, sizeof(seg)), 0);                               \
	} while (0)
	BAD(hdr_set(b, 3, 0));                          /* gso_size 0 */
	BAD(hdr_set(b, 2, (uint16_t)(len - 10 + 1)));   /* hdr_len beyond the packet */
	BAD(hdr_set(b, 4, 24));                         /* csum_start not the IP header length */
	BAD(hdr_set(b, 5, 6));                          /* csum_offset not TCP's */
	BAD(hdr_set(b, 1, VIRTIO_NET_HDR_GSO_TCPV6));   /* IPv4 packet, TCPv6 type */
	BAD(hdr_set(b, 1, VIRTIO_NET_HDR_GSO_UDP));     /* UFO: not negotiated */
	BAD(hdr_set(b, 1, 0x80));                       /* ECN without GSO */
	BAD(hdr_set(b, 1, 0x7f));
	BAD(b[10 + 9] = 17);                            /* TCP GSO type, UDP packet */
	BAD(hdr_set(b, 1, GSO_UDP_L4));                 /* UDP GSO type, TCP packet */
	BAD(b[10] = 0x44);                              /* IHL 4 */
	BAD(b[10] = 0x4f);                              /* IHL 60: csum_start no longer at the TCP header */
	BAD(b[10] = 0x65);                              /* version 6 with a TCPv4 type */
	BAD(wr16(b + 12, (uint32_t)(len - 10 - 1)));    /* IP total length short */
	BAD(wr16(b + 12, (uint32_t)(len - 10 + 1)));    /* IP total length long */
	BAD(wr16(b + 16, 0x2000));                      /* a fragment */
	BAD(b[10 + 32] = 0x40);                         /* TCP data offset 4 */
	BAD((b[10] = 0x4f, b[10 + 60 + 12] = 0xf0, wr16(b + 12, 119), len = 10 + 119)); /* TCP header past the end */
	BAD(len = 9);
	/* every truncation is refused: the IP length no longer matches */
	len = good_gso(b);
	for (l = 10; l < len; l++)
		ck_assert_msg(offload_seg_init(&s, b, l) == -EINVAL, "length %zu", l);
	/* GSO_NONE with NEEDS_CSUM pointing outside */
	memset(b, 0, 10);
	b[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	hdr_set(b, 4, 100);
	hdr_set(b, 5, 16);
	ck_assert_int_eq(offload_seg_init(&s, b, 10 + 117), -EINVAL);
	ck_assert_int_eq(offload_seg_init(&s, b, 10 + 118), 0);
	hdr_set(b, 5, 15);
	ck_assert_int_eq(offload_seg_init(&s, b, 10 + 1000), -EINVAL); /* odd offset */
	hdr_set(b, 4, 0xffff);
	hdr_set(b, 5, 0xfffe);
	ck_assert_int_eq(offload_seg_init(&s, b, 10 + 1000), -EINVAL);
#undef BAD
}
END_TEST

START_TEST(test_seg_tcp6_malformed)
{
	struct flow f;
	struct offload_seg s;
	size_t len;

	flow_init(&f, 6, 1);
	fill(payload, 3000, 5);
	len = build_gso_tcp(gbuf, &f, 1, 0, 0x10, payload, 3000, 1400, 72);
	ck_assert_int_eq(offload_seg_init(&s, gbuf, len), 0);
	gbuf[10 + 6] = 0; /* hop-by-hop header: not walked */
	ck_assert_int_eq(offload_seg_init(&s, gbuf, len), -EINVAL);
	gbuf[10 + 6] = 6;
	wr16(gbuf + 14, 3000 + 32 + 1);
	ck_assert_int_eq(offload_seg_init(&s, gbuf, len), -EINVAL);
	wr16(gbuf + 14, 3000 + 32);
	hdr_set(gbuf, 1, VIRTIO_NET_HDR_GSO_TCPV4);
	ck_assert_int_eq(offload_seg_init(&s, gbuf, len), -EINVAL);
	hdr_set(gbuf, 1, VIRTIO_NET_HDR_GSO_TCPV6 | VIRTIO_NET_HDR_GSO_ECN);
	ck_assert_int_eq(offload_seg_init(&s, gbuf, len), 0);
}
END_TEST

/* ---- coalescing ------------------------------------------------------------------------------------------ */

#define MAXP 64

struct input {
	unsigned n;
	uint8_t pkt[MAXP][1600];
	size_t len[MAXP];
};

/* What a batch gave back: the outputs' merge counts and, re-segmented, the packets in output order. */
struct result {
	unsigned nout, nseg;
	unsigned merged[MAXP];
	uint8_t seg[MAXP][1600];
	size_t seglen[MAXP];
};

static uint8_t obuf[10 + 65535];
static struct input in;
static struct result res;

static void add_tcp(const struct flow *f, uint32_t seq, uint16_t id, uint8_t flags, size_t plen)
{
	uint8_t pl[1500];

	ck_assert_uint_lt(in.n, MAXP);
	fill(pl, plen, seq ^ id);
	in.len[in.n] = build_tcp(in.pkt[in.n], f, seq, id, flags, pl, plen);
	in.n++;
}

/* Adds every input, drains, checks each output's vnet header and checksums, and cuts merged ones again. */
static void run_batch(void)
{
	struct offload_batch *b = offload_batch_new();
	struct virtio_net_hdr h;
	unsigned i, nm;
	ssize_t n;

	ck_assert_ptr_nonnull(b);
	memset(&res, 0, sizeof(res));
	for (i = 0; i < in.n; i++)
		ck_assert_int_eq(offload_batch_add(b, in.pkt[i], in.len[i]), 0);
	while ((n = offload_batch_next(b, obuf, sizeof(obuf), &nm)) > 0) {
		ck_assert_int_ge(n, 10);
		memcpy(&h, obuf, sizeof(h));
		res.merged[res.nout++] = nm;
		if (nm == 1) {
			static const uint8_t zero[10];

			ck_assert_mem_eq(obuf, zero, 10);
			ck_assert_uint_lt(res.nseg, MAXP);
			memcpy(res.seg[res.nseg], obuf + 10, (size_t)n - 10);
			res.seglen[res.nseg++] = (size_t)n - 10;
		} else {
			const uint8_t *ip = obuf + 10;
			struct offload_seg s;
			unsigned thl = (ip[32] >> 4) * 4u;
			ssize_t sl;

			ck_assert_uint_eq(h.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
			ck_assert_uint_eq(h.gso_type, VIRTIO_NET_HDR_GSO_TCPV4);
			ck_assert_uint_eq(h.hdr_len, 20 + thl);
			ck_assert_uint_eq(h.csum_start, 20);
			ck_assert_uint_eq(h.csum_offset, 16);
			ck_assert_uint_le((size_t)n - 10, 65535);
			ck_assert_uint_eq(rd16(ip + 2), (size_t)n - 10);
			ck_assert_uint_eq(ref_fold(ref_sum(0, ip, 20)), 0xffff);
			/* the kernel finishes the checksum from the pseudo-header sum in the field */
			ck_assert_uint_eq(rd16(ip + 36), ref_fold(ref_pseudo(ip, 6, (size_t)n - 30)));
			ck_assert_uint_gt((size_t)n - 10 - 20 - thl, (size_t)h.gso_size * (nm - 1));
			ck_assert_uint_le((size_t)n - 10 - 20 - thl, (size_t)h.gso_size * nm);
			ck_assert_int_eq(offload_seg_init(&s, obuf, (size_t)n), 0);
			ck_assert_uint_eq(s.nsegs, nm);
			for (unsigned j = 0; j < nm; j++) {
				ck_assert_uint_lt(res.nseg, MAXP);
				sl = offload_seg_next(&s, res.seg[res.nseg], sizeof(res.seg[0]));
				ck_assert_int_gt(sl, 0);
				ck_assert(ref_verify(res.seg[res.nseg], (size_t)sl));
				res.seglen[res.nseg++] = (size_t)sl;
			}
		}
	}
	ck_assert_int_eq(n, 0);
	/* drained: the batch is empty again and takes packets */
	ck_assert_int_eq(offload_batch_next(b, obuf, sizeof(obuf), &nm), 0);
	ck_assert_int_eq(offload_batch_add(b, in.pkt[0], in.len[0]), 0);
	offload_batch_free(b);
}

/* The outputs re-segmented are exactly the inputs in this order, byte for byte, with these merge counts. */
static void expect(const unsigned *order, const unsigned *merged, unsigned nout)
{
	unsigned i;

	ck_assert_uint_eq(res.nout, nout);
	for (i = 0; i < nout; i++)
		ck_assert_msg(res.merged[i] == merged[i], "output %u merged %u, want %u", i, res.merged[i], merged[i]);
	ck_assert_uint_eq(res.nseg, in.n);
	for (i = 0; i < in.n; i++) {
		ck_assert_msg(res.seglen[i] == in.len[order[i]], "packet %u length", i);
		ck_assert_msg(memcmp(res.seg[i], in.pkt[order[i]], res.seglen[i]) == 0,
			      "packet %u is not input %u", i, order[i]);
	}
}

static const unsigned seq_order[MAXP] = {
	0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
	22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43,
	44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63,
};

START_TEST(test_coalesce_roundtrip)
{
	struct flow f;
	unsigned i;

	flow_init(&f, 4, 1);
	memset(&in, 0, sizeof(in));
	/* 20 segments of 1448, the last 700 bytes with PSH; DF with incrementing IDs as Linux sends */
	for (i = 0; i < 20; i++)
		add_tcp(&f, 1000 + i * 1448, (uint16_t)(0xfff5 + i), i == 19 ? 0x18 : 0x10, i == 19 ? 700 : 1448);
	run_batch();
	expect(seq_order, (unsigned[]){ 20 }, 1);
	/* the merged packet carried PSH (checked through the last re-cut segment above) and gso_size 1448 */
	ck_assert_uint_eq(res.seg[19][33] & 0x08, 0x08);
	ck_assert_uint_eq(res.seg[18][33] & 0x08, 0);

	/* without DF the IDs must count up */
	flow_init(&f, 4, 2);
	f.df = false;
	f.optlen = 0;
	memset(&in, 0, sizeof(in));
	for (i = 0; i < 5; i++)
		add_tcp(&f, 7 + i * 1000, (uint16_t)(300 + i), 0x10, 1000);
	run_batch();
	expect(seq_order, (unsigned[]){ 5 }, 1);
}
END_TEST

START_TEST(test_coalesce_64k_limit)
{
	struct flow f;
	unsigned i;

	flow_init(&f, 4, 1);
	f.optlen = 0;
	memset(&in, 0, sizeof(in));
	/* 40 + 44 * 1460 = 64280 fits; a 45th would make 65740 */
	for (i = 0; i < 50; i++)
		add_tcp(&f, i * 1460, (uint16_t)i, 0x10, 1460);
	run_batch();
	expect(seq_order, (unsigned[]){ 44, 6 }, 2);
}
END_TEST

START_TEST(test_coalesce_reordered)
{
	struct flow f;
	static const unsigned seqs[] = { 0, 1, 3, 2, 4, 5 };
	unsigned i;

	flow_init(&f, 4, 1);
	memset(&in, 0, sizeof(in));
	for (i = 0; i < 6; i++)
		add_tcp(&f, seqs[i] * 1000, (uint16_t)seqs[i], 0x10, 1000);
	run_batch();
	/* arrival order kept, no merge across the hole: [0 1] [3] [2] [4 5] */
	expect(seq_order, (unsigned[]){ 2, 1, 1, 2 }, 4);

	/* a retransmission (same seq again) is not merged either */
	memset(&in, 0, sizeof(in));
	add_tcp(&f, 0, 0, 0x10, 1000);
	add_tcp(&f, 1000, 1, 0x10, 1000);
	add_tcp(&f, 1000, 2, 0x10, 1000);
	run_batch();
	expect(seq_order, (unsigned[]){ 2, 1 }, 2);
}
END_TEST

START_TEST(test_coalesce_interleaved)
{
	struct flow a, b;
	unsigned i;

	flow_init(&a, 4, 1);
	flow_init(&b, 4, 2);
	memset(&in, 0, sizeof(in));
	for (i = 0; i < 4; i++) {
		add_tcp(&a, 5000 + i * 1448, (uint16_t)i, 0x10, 1448);
		add_tcp(&b, 9000 + i * 1448, (uint16_t)(100 + i), 0x10, 1448);
	}
	run_batch();
	expect((unsigned[]){ 0, 2, 4, 6, 1, 3, 5, 7 }, (unsigned[]){ 4, 4 }, 2);
}
END_TEST

START_TEST(test_coalesce_psh_middle)
{
	struct flow f;

	flow_init(&f, 4, 1);
	memset(&in, 0, sizeof(in));
	add_tcp(&f, 0, 0, 0x10, 1000);
	add_tcp(&f, 1000, 1, 0x18, 1000);
	add_tcp(&f, 2000, 2, 0x10, 1000);
	add_tcp(&f, 3000, 3, 0x10, 1000);
	run_batch();
	expect(seq_order, (unsigned[]){ 2, 2 }, 2);
	/* PSH on the first: alone */
	memset(&in, 0, sizeof(in));
	add_tcp(&f, 0, 0, 0x18, 1000);
	add_tcp(&f, 1000, 1, 0x10, 1000);
	run_batch();
	expect(seq_order, (unsigned[]){ 1, 1 }, 2);
}
END_TEST

START_TEST(test_coalesce_header_differences)
{
	struct flow f, g;

	flow_init(&f, 4, 1);
	/* a different ack ends the run */
	memset(&in, 0, sizeof(in));
	add_tcp(&f, 0, 0, 0x10, 1000);
	add_tcp(&f, 1000, 1, 0x10, 1000);
	g = f;
	g.ack++;
	add_tcp(&g, 2000, 2, 0x10, 1000);
	add_tcp(&g, 3000, 3, 0x10, 1000);
	run_batch();
	expect(seq_order, (unsigned[]){ 2, 2 }, 2);
	/* different timestamp option */
	memset(&in, 0, sizeof(in));
	add_tcp(&f, 0, 0, 0x10, 1000);
	g = f;
	g.opts[7]++;
	add_tcp(&g, 1000, 1, 0x10, 1000);
	add_tcp(&g, 2000, 2, 0x10, 1000);
	run_batch();
	expect(seq_order, (unsigned[]){ 1, 2 }, 2);
	/* window, TTL, TOS, DF each */
	memset(&in, 0, sizeof(in));
	add_tcp(&f, 0, 0, 0x10, 1000);
	g = f;
	g.win++;
	add_tcp(&g, 1000, 1, 0x10, 1000);
	g = f;
	g.ttl--;
	add_tcp(&g, 2000, 2, 0x10, 1000);
	g = f;
	g.tos = 2;
	add_tcp(&g, 3000, 3, 0x10, 1000);
	g = f;
	g.df = false;
	add_tcp(&g, 4000, 4, 0x10, 1000);
	run_batch();
	expect(seq_order, (unsigned[]){ 1, 1, 1, 1, 1 }, 5);
	/* without DF, IDs not counting up */
	memset(&in, 0, sizeof(in));
	g = f;
	g.df = false;
	add_tcp(&g, 0, 10, 0x10, 1000);
	add_tcp(&g, 1000, 12, 0x10, 1000);
	add_tcp(&g, 2000, 13, 0x10, 1000);
	run_batch();
	expect(seq_order, (unsigned[]){ 1, 2 }, 2);
	/* ECE (same on all) merges; SYN, FIN, RST, URG, CWR never do */
	memset(&in, 0, sizeof(in));
	add_tcp(&f, 0, 0, 0x50, 1000);
	add_tcp(&f, 1000, 1, 0x50, 1000);
	add_tcp(&f, 2000, 2, 0x11, 1000);
	add_tcp(&f, 3000, 3, 0x14, 1000);
	add_tcp(&f, 4000, 4, 0x30, 1000);
	add_tcp(&f, 5000, 5, 0x90, 1000);
	add_tcp(&f, 6000, 6, 0x10, 1000);
	add_tcp(&f, 7000, 7, 0x50, 1000); /* ECE where the first had none */
	run_batch();
	expect(seq_order, (unsigned[]){ 2, 1, 1, 1, 1, 1, 1 }, 7);
}
END_TEST

START_TEST(test_coalesce_sizes)
{
	struct flow f;

	flow_init(&f, 4, 1);
	/* a bigger second one does not fit the first's gso_size; a smaller one ends the run */
	memset(&in, 0, sizeof(in));
	add_tcp(&f, 0, 0, 0x10, 1000);
	add_tcp(&f, 1000, 1, 0x10, 1200);
	add_tcp(&f, 2200, 2, 0x10, 1200);
	add_tcp(&f, 3400, 3, 0x10, 500);
	add_tcp(&f, 3900, 4, 0x10, 500);
	run_batch();
	expect(seq_order, (unsigned[]){ 1, 3, 1 }, 3);
	/* pure ACKs are never merged */
	memset(&in, 0, sizeof(in));
	add_tcp(&f, 0, 0, 0x10, 0);
	add_tcp(&f, 0, 1, 0x10, 0);
	run_batch();
	expect(seq_order, (unsigned[]){ 1, 1 }, 2);
}
END_TEST

START_TEST(test_coalesce_other_packets)
{
	struct flow f, u, v6;
	uint8_t pl[200];

	flow_init(&f, 4, 1);
	flow_init(&u, 4, 9);
	flow_init(&v6, 6, 1);
	memset(&in, 0, sizeof(in));
	fill(pl, sizeof(pl), 1);
	add_tcp(&f, 0, 0, 0x10, 1000);
	in.len[in.n] = build_udp(in.pkt[in.n], &u, 1, pl, sizeof(pl));
	in.n++;
	add_tcp(&v6, 0, 0, 0x10, 1000); /* IPv6 passes through */
	add_tcp(&v6, 1000, 0, 0x10, 1000);
	add_tcp(&f, 1000, 1, 0x10, 1000);
	memcpy(in.pkt[in.n], (uint8_t[]){ 0x45, 0, 0, 3 }, 4); /* garbage */
	in.len[in.n++] = 4;
	add_tcp(&f, 2000, 2, 0x10, 1000);
	run_batch();
	/* the UDP packet in between does not stop the flow: [f0 f1 f2] [udp] [v6] [v6] [garbage] */
	expect((unsigned[]){ 0, 4, 6, 1, 2, 3, 5 }, (unsigned[]){ 3, 1, 1, 1, 1 }, 5);
}
END_TEST

START_TEST(test_coalesce_bad_checksum)
{
	struct flow f;

	flow_init(&f, 4, 1);
	/* a corrupt TCP checksum in the middle: passed on as it is */
	memset(&in, 0, sizeof(in));
	add_tcp(&f, 0, 0, 0x10, 1000);
	add_tcp(&f, 1000, 1, 0x10, 1000);
	add_tcp(&f, 2000, 2, 0x10, 1000);
	in.pkt[1][100] ^= 0x40;
	run_batch();
	expect(seq_order, (unsigned[]){ 1, 1, 1 }, 3);
	/* and it holds its flow's place: the next segment in sequence must not jump ahead of it into the first */
	memset(&in, 0, sizeof(in));
	add_tcp(&f, 0, 0, 0x10, 1000);
	add_tcp(&f, 5000, 1, 0x10, 1000);
	add_tcp(&f, 1000, 2, 0x10, 1000);
	in.pkt[1][100] ^= 0x40;
	run_batch();
	expect(seq_order, (unsigned[]){ 1, 1, 1 }, 3);
	/* a corrupt IP header checksum: the same */
	memset(&in, 0, sizeof(in));
	add_tcp(&f, 0, 0, 0x10, 1000);
	add_tcp(&f, 1000, 1, 0x10, 1000);
	add_tcp(&f, 2000, 2, 0x10, 1000);
	add_tcp(&f, 3000, 3, 0x10, 1000);
	in.pkt[2][10] ^= 1;
	run_batch();
	ck_assert_uint_eq(res.nout, 3);
	ck_assert_uint_eq(res.merged[0], 2);
	ck_assert_mem_eq(res.seg[2], in.pkt[2], in.len[2]);
	/* IP options (4 NOPs): not merged, but still holding the flow's place */
	memset(&in, 0, sizeof(in));
	add_tcp(&f, 0, 0, 0x10, 1000);
	add_tcp(&f, 5000, 1, 0x10, 1000);
	add_tcp(&f, 1000, 2, 0x10, 1000);
	{
		uint8_t *p = in.pkt[1];

		memmove(p + 24, p + 20, in.len[1] - 20);
		memset(p + 20, 1, 4);
		in.len[1] += 4;
		p[0] = 0x46;
		wr16(p + 2, (uint32_t)in.len[1]);
		wr16(p + 10, 0);
		wr16(p + 10, (uint16_t)~ref_fold(ref_sum(0, p, 24)));
		ck_assert(ref_verify(p, in.len[1]));
	}
	run_batch();
	expect(seq_order, (unsigned[]){ 1, 1, 1 }, 3);
	/* the same with a valid header merges [0 2] and leaves 5000 alone */
	memset(&in, 0, sizeof(in));
	add_tcp(&f, 0, 0, 0x10, 1000);
	add_tcp(&f, 1000, 1, 0x10, 1000);
	add_tcp(&f, 5000, 2, 0x10, 1000);
	run_batch();
	expect(seq_order, (unsigned[]){ 2, 1 }, 2);
}
END_TEST

START_TEST(test_batch_limits)
{
	struct offload_batch *b = offload_batch_new();
	struct flow f;
	unsigned i, nm;
	ssize_t n;

	flow_init(&f, 4, 1);
	memset(&in, 0, sizeof(in));
	for (i = 0; i < MAXP; i++)
		add_tcp(&f, i * 1000, (uint16_t)i, 0x10, 1000);
	for (i = 0; i < OFFLOAD_BATCH_MAX; i++)
		ck_assert_int_eq(offload_batch_add(b, in.pkt[i], in.len[i]), 0);
	ck_assert_int_eq(offload_batch_add(b, in.pkt[0], in.len[0]), -ENOSPC);
	ck_assert_int_eq(offload_batch_add(b, in.pkt[0], 0), -EINVAL);
	ck_assert_int_eq(offload_batch_add(b, in.pkt[0], 65536), -EINVAL);
	/* all 64 in one output of 52 + 64000 bytes; too small a buffer consumes nothing */
	ck_assert_int_eq(offload_batch_next(b, obuf, 10 + 52 + 64000 - 1, &nm), -ENOSPC);
	n = offload_batch_next(b, obuf, 10 + 52 + 64000, &nm);
	ck_assert_int_eq(n, 10 + 52 + 64000);
	ck_assert_uint_eq(nm, 64);
	ck_assert_int_eq(offload_batch_add(b, in.pkt[0], in.len[0]), -EBUSY);
	offload_batch_reset(b);
	ck_assert_int_eq(offload_batch_next(b, obuf, sizeof(obuf), &nm), 0);
	ck_assert_int_eq(offload_batch_add(b, in.pkt[0], in.len[0]), 0);
	n = offload_batch_next(b, obuf, 10 + in.len[0], &nm);
	ck_assert_int_eq(n, 10 + (ssize_t)in.len[0]);
	ck_assert_uint_eq(nm, 1);
	offload_batch_free(b);
	offload_batch_free(NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("offload");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_seg_tcp4_64k);
	tcase_add_test(tc, test_seg_tcp6_64k);
	tcase_add_test(tc, test_seg_single_in_place);
	tcase_add_test(tc, test_seg_udp);
	tcase_add_test(tc, test_seg_none);
	tcase_add_test(tc, test_seg_enospc);
	tcase_add_test(tc, test_seg_malformed);
	tcase_add_test(tc, test_seg_tcp6_malformed);
	tcase_add_test(tc, test_coalesce_roundtrip);
	tcase_add_test(tc, test_coalesce_64k_limit);
	tcase_add_test(tc, test_coalesce_reordered);
	tcase_add_test(tc, test_coalesce_interleaved);
	tcase_add_test(tc, test_coalesce_psh_middle);
	tcase_add_test(tc, test_coalesce_header_differences);
	tcase_add_test(tc, test_coalesce_sizes);
	tcase_add_test(tc, test_coalesce_other_packets);
	tcase_add_test(tc, test_coalesce_bad_checksum);
	tcase_add_test(tc, test_batch_limits);
	suite_add_tcase(s, tc);
	return check_run(s);
}
