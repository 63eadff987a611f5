// SPDX-License-Identifier: GPL-2.0-or-later
/* libFuzzer harness for dataplane/offload.c. The first input byte picks the mode:
 *   bit 0 clear: the rest is one tun read (virtio_net_hdr + packet) for offload_seg_init/next. Refused
 *     input must be -EINVAL; accepted input yields exactly nsegs segments into heap buffers of exactly seg_max
 *     bytes, each a packet whose lengths and checksums verify, whose payloads put together are the input's,
 *     and whose headers are the input's but for the fields segmentation rewrites. A GSO_NONE packet changes
 *     at most its checksum field, and a completed checksum verifies with the pseudo-header sum it replaced.
 *   bit 0 set: the rest is packets as [u16 length][bytes], added to one coalescing batch (each in a heap
 *     buffer of its exact size). Bit 1 fixes each packet's IPv4 total length, bit 2 its IPv4 header and TCP
 *     checksums, so the fuzzer reaches merging without solving checksums. Every output is either an added
 *     packet unchanged behind a zeroed vnet header or a GSO_TCPV4 packet that offload_seg cuts back into
 *     nmerged segments with verifying checksums, each equal to an added packet (IP ID and checksum fields
 *     aside); every added packet comes out exactly once, and each TCP flow in arrival order.
 * Checksums here are computed byte by byte, independently of the module's. */

#include <errno.h>
#include <linux/virtio_net.h>
#include <stdbool.h>
#include <string.h>

#include "cvpn/offload.h"

#include "fuzz.h"

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void wr16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint32_t sum_be(uint32_t s, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i += 2)
		s += (uint32_t)p[i] << 8 | (i + 1 < n ? p[i + 1] : 0);
	return s;
}

static uint16_t fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static uint32_t pseudo(const uint8_t *ip, unsigned ipv, uint8_t proto, size_t l4len)
{
	if (ipv == 4)
		return sum_be(0, ip + 12, 8) + proto + (uint32_t)l4len;
	return sum_be(0, ip + 8, 32) + proto + (uint32_t)l4len;
}

/* Header length of a segment the module produced (its layout was checked when the input was accepted). */
static size_t seg_hdrs(const uint8_t *p, uint8_t proto)
{
	size_t l4off = p[0] >> 4 == 4 ? (size_t)(p[0] & 15) * 4 : 40;

	return l4off + (proto == 6 ? (size_t)(p[l4off + 12] >> 4) * 4 : 8);
}

/* A wire packet from segmentation: lengths and checksums right. */
static void verify_packet(const uint8_t *p, size_t len, uint8_t proto)
{
	size_t l4off;
	unsigned ipv = p[0] >> 4;

	FUZZ_ASSERT(len >= 20);
	if (ipv == 4) {
		l4off = (size_t)(p[0] & 15) * 4;
		FUZZ_ASSERT(l4off >= 20 && l4off <= len && rd16(p + 2) == len && p[9] == proto);
		FUZZ_ASSERT(fold(sum_be(0, p, l4off)) == 0xffff);
	} else {
		FUZZ_ASSERT(ipv == 6 && len >= 40 && rd16(p + 4) + 40u == len && p[6] == proto);
		l4off = 40;
	}
	FUZZ_ASSERT(len >= seg_hdrs(p, proto));
	if (proto == 17)
		FUZZ_ASSERT(rd16(p + l4off + 4) == len - l4off && rd16(p + l4off + 6) != 0);
	FUZZ_ASSERT(fold(pseudo(p, ipv, proto, len - l4off) + sum_be(0, p + l4off, len - l4off)) == 0xffff);
}

static void fuzz_segment(const uint8_t *data, size_t size)
{
	uint8_t *buf = malloc(size ? size : 1), *out = NULL;
	struct virtio_net_hdr h;
	struct offload_seg s;
	size_t plen, hdrs = 0, pos = 0;
	uint8_t proto;
	unsigned i;
	int ret;

	FUZZ_ASSERT(buf);
	memcpy(buf, data, size);
	ret = offload_seg_init(&s, buf, size);
	if (ret < 0) {
		FUZZ_ASSERT(ret == -EINVAL);
		FUZZ_ASSERT(offload_seg_next(&s, NULL, 0) == 0);
		FUZZ_ASSERT(memcmp(buf, data, size) == 0);
		goto out;
	}
	memcpy(&h, data, sizeof(h));
	plen = size - OFFLOAD_VNET_HDR_LEN;
	FUZZ_ASSERT(s.pkt == buf + OFFLOAD_VNET_HDR_LEN && s.len == plen);
	FUZZ_ASSERT(s.nsegs >= 1 && s.seg_max >= 1 && s.seg_max <= plen);
	if (h.gso_type == VIRTIO_NET_HDR_GSO_NONE) {
		const uint8_t *old = data + OFFLOAD_VNET_HDR_LEN;
		const uint8_t *now = s.pkt;

		FUZZ_ASSERT(s.nsegs == 1 && s.seg_max == plen);
		if (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
			size_t at = (size_t)h.csum_start + h.csum_offset;

			FUZZ_ASSERT(at + 2 <= plen);
			FUZZ_ASSERT(memcmp(now, old, at) == 0 && memcmp(now + at + 2, old + at + 2, plen - at - 2) == 0);
			FUZZ_ASSERT(fold(sum_be(rd16(old + at), now + h.csum_start, plen - h.csum_start)) == 0xffff);
		} else {
			FUZZ_ASSERT(memcmp(now, old, plen) == 0);
		}
	} else {
		FUZZ_ASSERT(!(h.gso_type & VIRTIO_NET_HDR_GSO_ECN) || (h.gso_type & 0x7f) != 5);
	}
	proto = (h.gso_type & 0x7f) == 5 ? 17 : 6;
	if (h.gso_type != VIRTIO_NET_HDR_GSO_NONE) {
		hdrs = seg_hdrs(data + OFFLOAD_VNET_HDR_LEN, proto);
		FUZZ_ASSERT(hdrs <= plen);
		if (s.nsegs == 1)
			verify_packet(s.pkt, s.len, proto);
	}
	out = malloc(s.seg_max);
	FUZZ_ASSERT(out);
	for (i = 0; i < s.nsegs; i++) {
		ssize_t n;

		FUZZ_ASSERT(offload_seg_next(&s, out, 0) == -ENOSPC);
		n = offload_seg_next(&s, out, s.seg_max);
		FUZZ_ASSERT(n > 0 && (size_t)n <= s.seg_max);
		if (h.gso_type == VIRTIO_NET_HDR_GSO_NONE) {
			FUZZ_ASSERT((size_t)n == plen && memcmp(out, s.pkt, plen) == 0);
			continue;
		}
		verify_packet(out, (size_t)n, proto);
		FUZZ_ASSERT(seg_hdrs(out, proto) == hdrs);
		/* Payloads in order make up the input's; every segment but the last is full. */
		FUZZ_ASSERT((size_t)n - hdrs <= plen - hdrs - pos);
		FUZZ_ASSERT(memcmp(out + hdrs, data + OFFLOAD_VNET_HDR_LEN + hdrs + pos, (size_t)n - hdrs) == 0);
		FUZZ_ASSERT(i + 1 == s.nsegs || (size_t)n - hdrs == h.gso_size);
		pos += (size_t)n - hdrs;
		/* Addresses and ports are the input's. */
		if (out[0] >> 4 == 4)
			FUZZ_ASSERT(memcmp(out + 12, data + OFFLOAD_VNET_HDR_LEN + 12, 8) == 0);
		else
			FUZZ_ASSERT(memcmp(out + 8, data + OFFLOAD_VNET_HDR_LEN + 8, 32) == 0);
	}
	if (h.gso_type != VIRTIO_NET_HDR_GSO_NONE)
		FUZZ_ASSERT(pos == plen - hdrs);
	FUZZ_ASSERT(offload_seg_next(&s, out, s.seg_max) == 0);
out:
	free(out);
	free(buf);
}

/* ---- coalescing ------------------------------------------------------------------------------------------ */

#define MAX_IN (OFFLOAD_BATCH_MAX + 4)

struct added {
	uint8_t *p;
	size_t len;
	bool matched;
	bool keyed;
	uint8_t key[12];
};

/* The flow key offload.c orders by: IPv4 TCP, not a non-first fragment, ports present. */
static bool flow_key(const uint8_t *p, size_t len, uint8_t key[12])
{
	size_t ihl;

	if (len < 20 || p[0] >> 4 != 4 || p[9] != 6 || (rd16(p + 6) & 0x1fff))
		return false;
	ihl = (size_t)(p[0] & 15) * 4;
	if (ihl < 20 || len < ihl + 4)
		return false;
	memcpy(key, p + 12, 8);
	memcpy(key + 8, p + ihl, 4);
	return true;
}

static void fix_packet(uint8_t *p, size_t len, uint8_t how)
{
	size_t ihl;

	if (len < 20 || p[0] >> 4 != 4)
		return;
	ihl = (size_t)(p[0] & 15) * 4;
	if (ihl < 20 || ihl > len)
		return;
	if (how & 2)
		wr16(p + 2, (uint32_t)len);
	if (!(how & 4))
		return;
	wr16(p + 10, 0);
	wr16(p + 10, (uint16_t)~fold(sum_be(0, p, ihl)));
	if (p[9] == 6 && len - ihl >= 20) {
		wr16(p + ihl + 16, 0);
		wr16(p + ihl + 16, (uint16_t)~fold(pseudo(p, 4, 6, len - ihl) + sum_be(0, p + ihl, len - ihl)));
	}
}

/* Equal but for the fields re-segmentation recomputes: IP ID (when DF), IP and TCP checksums. */
static bool same_segment(const uint8_t *seg, const uint8_t *in, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if ((i == 4 || i == 5) && (in[6] & 0x40))
			continue;
		if (i == 10 || i == 11 || i == 36 || i == 37)
			continue;
		if (seg[i] != in[i])
			return false;
	}
	return true;
}

/* Finds the earliest unmatched added packet equal to p, marks it, and checks no earlier packet of its flow
 * is still waiting. */
static void match(struct added *a, unsigned n, const uint8_t *p, size_t len, bool relaxed)
{
	unsigned i, j;

	for (i = 0; i < n; i++) {
		if (a[i].matched || a[i].len != len)
			continue;
		if (relaxed ? same_segment(p, a[i].p, len) : memcmp(p, a[i].p, len) == 0)
			break;
	}
	FUZZ_ASSERT(i < n);
	a[i].matched = true;
	if (!a[i].keyed)
		return;
	for (j = 0; j < i; j++)
		FUZZ_ASSERT(a[j].matched || !a[j].keyed || memcmp(a[j].key, a[i].key, 12) != 0);
}

static void check_merged(struct added *a, unsigned n, const uint8_t *out, size_t len, unsigned nmerged)
{
	struct virtio_net_hdr h;
	const uint8_t *ip = out + OFFLOAD_VNET_HDR_LEN;
	size_t plen = len - OFFLOAD_VNET_HDR_LEN, thl;
	struct offload_seg s;
	uint8_t *copy, *seg;
	unsigned i;

	memcpy(&h, out, sizeof(h));
	FUZZ_ASSERT(h.flags == VIRTIO_NET_HDR_F_NEEDS_CSUM && h.gso_type == VIRTIO_NET_HDR_GSO_TCPV4);
	FUZZ_ASSERT(plen >= 40 && ip[0] == 0x45 && ip[9] == 6 && rd16(ip + 2) == plen);
	thl = (size_t)(ip[32] >> 4) * 4;
	FUZZ_ASSERT(h.csum_start == 20 && h.csum_offset == 16 && h.hdr_len == 20 + thl && h.gso_size > 0);
	FUZZ_ASSERT(fold(sum_be(0, ip, 20)) == 0xffff);
	FUZZ_ASSERT(rd16(ip + 36) == fold(pseudo(ip, 4, 6, plen - 20)));
	/* Cut back with our own segmentation into buffers of exact size. */
	copy = malloc(len);
	FUZZ_ASSERT(copy);
	memcpy(copy, out, len);
	FUZZ_ASSERT(offload_seg_init(&s, copy, len) == 0);
	FUZZ_ASSERT(s.nsegs == nmerged);
	seg = malloc(s.seg_max);
	FUZZ_ASSERT(seg);
	for (i = 0; i < nmerged; i++) {
		ssize_t sl = offload_seg_next(&s, seg, s.seg_max);

		FUZZ_ASSERT(sl > 0);
		verify_packet(seg, (size_t)sl, 6);
		match(a, n, seg, (size_t)sl, true);
	}
	free(seg);
	free(copy);
}

static void fuzz_coalesce(const uint8_t *data, size_t size, uint8_t mode)
{
	struct fuzz_in in = { data, size };
	struct added a[MAX_IN];
	struct offload_batch *b = offload_batch_new();
	uint8_t *out = malloc(OFFLOAD_VNET_HDR_LEN + OFFLOAD_IP_MAX);
	unsigned n = 0, total = 0, nm, i;
	ssize_t len;

	FUZZ_ASSERT(b && out);
	while (in.left && total < MAX_IN) {
		size_t want = fuzz_u16(&in), got;
		const uint8_t *p = fuzz_bytes(&in, want, &got);
		uint8_t *copy = malloc(got ? got : 1);
		int ret;

		FUZZ_ASSERT(copy);
		memcpy(copy, p, got);
		fix_packet(copy, got, mode);
		total++;
		ret = offload_batch_add(b, copy, got);
		if (ret < 0) {
			FUZZ_ASSERT(got == 0 ? ret == -EINVAL : ret == -ENOSPC);
			FUZZ_ASSERT(ret == -EINVAL || n == OFFLOAD_BATCH_MAX);
			free(copy);
			continue;
		}
		a[n].p = copy;
		a[n].len = got;
		a[n].matched = false;
		a[n].keyed = flow_key(copy, got, a[n].key);
		n++;
	}
	while ((len = offload_batch_next(b, out, OFFLOAD_VNET_HDR_LEN + OFFLOAD_IP_MAX, &nm)) > 0) {
		FUZZ_ASSERT(len > OFFLOAD_VNET_HDR_LEN && nm >= 1 && nm <= n);
		FUZZ_ASSERT(offload_batch_add(b, out, 20) == -EBUSY);
		if (nm == 1) {
			static const uint8_t zero[OFFLOAD_VNET_HDR_LEN];

			FUZZ_ASSERT(memcmp(out, zero, sizeof(zero)) == 0);
			match(a, n, out + OFFLOAD_VNET_HDR_LEN, (size_t)len - OFFLOAD_VNET_HDR_LEN, false);
		} else {
			check_merged(a, n, out, (size_t)len, nm);
		}
	}
	FUZZ_ASSERT(len == 0);
	for (i = 0; i < n; i++) {
		FUZZ_ASSERT(a[i].matched);
		free(a[i].p);
	}
	offload_batch_free(b);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		fuzz_coalesce(data + 1, size - 1, data[0]);
	else
		fuzz_segment(data + 1, size - 1);
	return 0;
}
