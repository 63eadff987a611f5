/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_TEST_PACKETS_H
#define CVPN_TEST_PACKETS_H

/* IPv4/IPv6 TCP and UDP packets for the data-path tests (test_offload, test_tuntx), built and checked with
 * helpers of their own that share nothing with dataplane/: a byte-wise big-endian one's complement sum. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline void wr16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void wr32(uint8_t *p, uint32_t v)
{
	wr16(p, v >> 16);
	wr16(p + 2, v & 0xffff);
}

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)rd16(p) << 16 | rd16(p + 2);
}

static inline uint32_t ref_sum(uint32_t s, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i += 2)
		s += (uint32_t)p[i] << 8 | (i + 1 < n ? p[i + 1] : 0);
	return s;
}

static inline uint16_t ref_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* Pseudo-header sum of an IPv4 or IPv6 packet for an L4 length. */
static inline uint32_t ref_pseudo(const uint8_t *ip, uint8_t proto, size_t l4len)
{
	if (ip[0] >> 4 == 4)
		return ref_sum(0, ip + 12, 8) + proto + (uint32_t)l4len;
	return ref_sum(0, ip + 8, 32) + proto + (uint32_t)(l4len >> 16) + (uint32_t)(l4len & 0xffff);
}

/* True when the IPv4 header checksum (if any) and the TCP/UDP checksum verify. */
static inline bool ref_verify(const uint8_t *ip, size_t len)
{
	size_t l4off;
	uint8_t proto;

	if (ip[0] >> 4 == 4) {
		l4off = (size_t)(ip[0] & 15) * 4;
		proto = ip[9];
		if (ref_fold(ref_sum(0, ip, l4off)) != 0xffff || rd16(ip + 2) != len)
			return false;
	} else {
		l4off = 40;
		proto = ip[6];
		if (rd16(ip + 4) + 40u != len)
			return false;
	}
	if (proto == 17 && rd16(ip + l4off + 4) != len - l4off)
		return false;
	return ref_fold(ref_pseudo(ip, proto, len - l4off) + ref_sum(0, ip + l4off, len - l4off)) == 0xffff;
}

struct flow {
	int v; /* 4 or 6 */
	uint8_t src[16], dst[16];
	uint16_t sport, dport;
	uint32_t ack;
	uint16_t win;
	uint8_t opts[40];
	size_t optlen;
	uint8_t ttl, tos;
	bool df;
};

static inline void flow_init(struct flow *f, int v, uint8_t host)
{
	static const uint8_t v6a[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	static const uint8_t v6b[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 2 };

	memset(f, 0, sizeof(*f));
	f->v = v;
	if (v == 4) {
		memcpy(f->src, (uint8_t[]){ 198, 18, 0, host }, 4);
		memcpy(f->dst, (uint8_t[]){ 198, 51, 100, 7 }, 4);
	} else {
		memcpy(f->src, v6a, 16);
		memcpy(f->dst, v6b, 16);
		f->src[14] = host;
	}
	f->sport = (uint16_t)(40000 + host);
	f->dport = 443;
	f->ack = 0x11223344;
	f->win = 502;
	/* NOP NOP timestamps, as Linux sends */
	memcpy(f->opts, (uint8_t[]){ 1, 1, 8, 10, 0, 0, 0x12, 0x34, 0, 0, 0x56, 0x78 }, 12);
	f->optlen = 12;
	f->ttl = 64;
	f->df = true;
}

static inline void fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (uint8_t)(seed >> 16);
	}
}

static inline size_t ip_header(uint8_t *out, const struct flow *f, uint8_t proto, size_t l4len, uint16_t id)
{
	if (f->v == 4) {
		memset(out, 0, 20);
		out[0] = 0x45;
		out[1] = f->tos;
		wr16(out + 2, (uint32_t)(20 + l4len));
		wr16(out + 4, id);
		wr16(out + 6, f->df ? 0x4000 : 0);
		out[8] = f->ttl;
		out[9] = proto;
		memcpy(out + 12, f->src, 4);
		memcpy(out + 16, f->dst, 4);
		wr16(out + 10, (uint16_t)~ref_fold(ref_sum(0, out, 20)));
		return 20;
	}
	memset(out, 0, 40);
	out[0] = 0x60;
	wr16(out + 4, (uint32_t)l4len);
	out[6] = proto;
	out[7] = f->ttl;
	memcpy(out + 8, f->src, 16);
	memcpy(out + 24, f->dst, 16);
	return 40;
}

/* A complete TCP packet with correct checksums. */
static inline size_t build_tcp(uint8_t *out, const struct flow *f, uint32_t seq, uint16_t id, uint8_t flags,
			const uint8_t *pl, size_t plen)
{
	size_t thl = 20 + f->optlen, ihl = ip_header(out, f, 6, thl + plen, id);
	uint8_t *th = out + ihl;

	memset(th, 0, 20);
	wr16(th, f->sport);
	wr16(th + 2, f->dport);
	wr32(th + 4, seq);
	wr32(th + 8, f->ack);
	th[12] = (uint8_t)(thl / 4) << 4;
	th[13] = flags;
	wr16(th + 14, f->win);
	memcpy(th + 20, f->opts, f->optlen);
	memcpy(th + thl, pl, plen);
	wr16(th + 16, (uint16_t)~ref_fold(ref_pseudo(out, 6, thl + plen) + ref_sum(0, th, thl + plen)));
	return ihl + thl + plen;
}

static inline size_t build_udp(uint8_t *out, const struct flow *f, uint16_t id, const uint8_t *pl, size_t plen)
{
	size_t ihl = ip_header(out, f, 17, 8 + plen, id);
	uint8_t *uh = out + ihl;
	uint16_t c;

	wr16(uh, f->sport);
	wr16(uh + 2, f->dport);
	wr16(uh + 4, (uint32_t)(8 + plen));
	wr16(uh + 6, 0);
	memcpy(uh + 8, pl, plen);
	c = (uint16_t)~ref_fold(ref_pseudo(out, 17, 8 + plen) + ref_sum(0, uh, 8 + plen));
	wr16(uh + 6, c ? c : 0xffff);
	return ihl + 8 + plen;
}

#endif
