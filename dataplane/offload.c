// SPDX-License-Identifier: GPL-2.0-or-later
/* Packet offload for the IFF_VNET_HDR tun (see cvpn/offload.h): cutting the kernel's GSO super-packets into
 * wire packets, and merging a receive batch's TCP segments into super-packets the kernel cuts again.
 * Same job as wireguard-go's tun/offload_linux.go, written from the kernel's rules:
 *  - the kernel's hdr_len is skb_headlen(), which on the forwarding path can cover the whole first segment:
 *    it is only checked to lie inside the packet; header lengths come from the headers themselves;
 *  - with NEEDS_CSUM the checksum field holds the folded pseudo-header sum, not its complement
 *    (__tcp_v4_send_check: th->check = ~tcp_v4_check(...));
 *  - tun's vnet header is host-endian unless TUNSETVNETBE/LE say otherwise, and we never set them.
 * Checksums are summed in host order (RFC 1071 §2(B): the one's complement sum does not depend on byte order)
 * and so kept in memory order: a sum is stored with memcpy, and numbers joining it go in through htons. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <linux/virtio_net.h>
#include <stdlib.h>
#include <string.h>

#include "cvpn/offload.h"

#ifndef VIRTIO_NET_HDR_GSO_UDP_L4
#define VIRTIO_NET_HDR_GSO_UDP_L4 5 /* Linux 4.18+; Debian 12's uapi headers predate it in virtio_net.h */
#endif

_Static_assert(sizeof(struct virtio_net_hdr) == OFFLOAD_VNET_HDR_LEN, "virtio_net_hdr is 10 bytes");

#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_URG 0x20
#define TCP_CWR 0x80
#define IP4_DF 0x4000
#define IP4_MF_OFF 0x3fff /* more-fragments + fragment offset: non-zero means a fragment */

enum { SEG_SINGLE, SEG_TCP, SEG_UDP };

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* One's complement sum of p[0..len) in memory order; p must start at an even offset of the checksummed
 * region (every caller's regions do: headers are 4-byte multiples, and only the last region may be odd). */
static uint64_t csum_add(uint64_t sum, const uint8_t *p, size_t len)
{
	uint32_t w;
	uint16_t h = 0;

	while (len >= 4) {
		memcpy(&w, p, 4);
		sum += w;
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		memcpy(&h, p, 2);
		sum += h;
		p += 2;
		len -= 2;
	}
	if (len) {
		h = 0; /* the odd byte is the high-order byte of a word padded with zero, wherever it sits */
		memcpy(&h, p, 1);
		sum += h;
	}
	return sum;
}

static uint16_t csum_fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* Pseudo-header sum (RFC 793 / RFC 8200 §8.1) for an L4 length below 64 KiB. */
static uint64_t csum_pseudo(const uint8_t *ip, unsigned ipv, uint8_t proto, size_t l4len)
{
	uint64_t sum = ipv == 4 ? csum_add(0, ip + 12, 8) : csum_add(0, ip + 8, 32);

	return sum + htons(proto) + htons((uint16_t)l4len);
}

static void ip4_set_csum(uint8_t *ip, size_t ihl)
{
	uint16_t c;

	put16(ip + 10, 0);
	c = (uint16_t)~csum_fold(csum_add(0, ip, ihl));
	memcpy(ip + 10, &c, 2);
}

/* Fills in the full L4 checksum of a packet whose checksum field is at l4 + off. UDP sends a zero result as
 * 0xffff: zero means "no checksum" there (RFC 768); for TCP both are the same number and we keep 0. */
static void l4_set_csum(uint8_t *ip, unsigned ipv, uint8_t proto, size_t l4off, size_t l4len)
{
	uint8_t *l4 = ip + l4off;
	size_t off = proto == IPPROTO_TCP_ ? 16 : 6;
	uint16_t c;

	put16(l4 + off, 0);
	c = (uint16_t)~csum_fold(csum_pseudo(ip, ipv, proto, l4len) + csum_add(0, l4, l4len));
	if (c == 0 && proto == IPPROTO_UDP_)
		c = 0xffff;
	memcpy(l4 + off, &c, 2);
}

/* ---- segmentation ---------------------------------------------------------------------------------------- */

/* Checks the IP and L4 headers of a GSO packet and sets ipv, l4off, hdrs. */
static int seg_parse_headers(struct offload_seg *s, uint8_t gso)
{
	const uint8_t *p = s->pkt;
	size_t len = s->len, l4hl;

	if (len < 1)
		return -EINVAL;
	s->ipv = p[0] >> 4;
	if (gso == VIRTIO_NET_HDR_GSO_TCPV4 && s->ipv != 4)
		return -EINVAL;
	if (gso == VIRTIO_NET_HDR_GSO_TCPV6 && s->ipv != 6)
		return -EINVAL;
	s->l4proto = gso == VIRTIO_NET_HDR_GSO_UDP_L4 ? IPPROTO_UDP_ : IPPROTO_TCP_;
	if (s->ipv == 4) {
		if (len < 20)
			return -EINVAL;
		s->l4off = (size_t)(p[0] & 0x0f) * 4;
		if (s->l4off < 20 || s->l4off > len || get16(p + 2) != len)
			return -EINVAL;
		if ((get16(p + 6) & IP4_MF_OFF) || p[9] != s->l4proto)
			return -EINVAL;
	} else if (s->ipv == 6) {
		/* Extension headers are not walked: the kernel hands TSO only for plain TCP over IPv6 in practice,
		 * and a packet we cannot cut is refused rather than guessed at. */
		if (len < 40 || (size_t)get16(p + 4) + 40 != len || p[6] != s->l4proto)
			return -EINVAL;
		s->l4off = 40;
	} else {
		return -EINVAL;
	}
	if (s->l4proto == IPPROTO_TCP_) {
		if (len - s->l4off < 20)
			return -EINVAL;
		l4hl = (size_t)(p[s->l4off + 12] >> 4) * 4;
		if (l4hl < 20 || l4hl > len - s->l4off)
			return -EINVAL;
	} else {
		l4hl = 8;
		if (len - s->l4off < l4hl)
			return -EINVAL;
	}
	s->hdrs = s->l4off + l4hl;
	return 0;
}

/* Makes p[0..seg_len), a copy of the headers plus segment i's payload, a correct wire packet. */
static void seg_fix(const struct offload_seg *s, uint8_t *p, size_t seg_len, unsigned i)
{
	uint8_t *l4 = p + s->l4off;

	if (s->ipv == 4) {
		put16(p + 2, (uint32_t)seg_len);
		put16(p + 4, get16(s->pkt + 4) + i);
		ip4_set_csum(p, s->l4off);
	} else {
		put16(p + 4, (uint32_t)(seg_len - 40));
	}
	if (s->l4proto == IPPROTO_TCP_) {
		put32(l4 + 4, get32(s->pkt + s->l4off + 4) + i * (uint32_t)s->mss);
		if (i > 0)
			l4[13] &= (uint8_t)~TCP_CWR;
		if (i + 1 < s->nsegs)
			l4[13] &= (uint8_t)~(TCP_FIN | TCP_PSH);
	} else {
		put16(l4 + 4, (uint32_t)(seg_len - s->l4off));
	}
	l4_set_csum(p, s->ipv, s->l4proto, s->l4off, seg_len - s->l4off);
}

int offload_seg_init(struct offload_seg *s, uint8_t *buf, size_t len)
{
	struct virtio_net_hdr h;
	uint8_t gso, *p = buf + OFFLOAD_VNET_HDR_LEN;
	size_t payload;
	int ret = -EINVAL;

	memset(s, 0, sizeof(*s));
	if (len < OFFLOAD_VNET_HDR_LEN || len > OFFLOAD_READ_MAX)
		goto out;
	memcpy(&h, buf, sizeof(h));
	s->pkt = p;
	s->len = len - OFFLOAD_VNET_HDR_LEN;
	s->seg_max = s->len;
	if (s->len == 0)
		goto out;
	gso = h.gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;

	if (h.gso_type == VIRTIO_NET_HDR_GSO_NONE) {
		size_t start = h.csum_start, off = h.csum_offset;
		uint16_t c;

		if (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
			/* An odd offset would straddle two 16-bit words of the sum: no protocol puts one there. */
			if (start > s->len || off > s->len - start || s->len - start - off < 2 || (off & 1))
				goto out;
			/* The field already holds the pseudo-header sum: summing from csum_start takes it in. */
			c = (uint16_t)~csum_fold(csum_add(0, p + start, s->len - start));
			if (c == 0 && off == 6) /* UDP's checksum offset: zero would mean "none" (RFC 768) */
				c = 0xffff;
			memcpy(p + start + off, &c, 2);
		}
		s->nsegs = 1;
		ret = 0;
		goto out;
	}
	/* The ECN bit only qualifies TCP: alone or on UDP it is not something the kernel sends. */
	if (gso != VIRTIO_NET_HDR_GSO_TCPV4 && gso != VIRTIO_NET_HDR_GSO_TCPV6 &&
	    h.gso_type != VIRTIO_NET_HDR_GSO_UDP_L4)
		goto out;
	if (h.gso_size == 0 || h.hdr_len > s->len)
		goto out;
	ret = seg_parse_headers(s, gso);
	if (ret < 0)
		goto out;
	ret = -EINVAL;
	if ((h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
	    (h.csum_start != s->l4off || h.csum_offset != (s->l4proto == IPPROTO_TCP_ ? 16 : 6)))
		goto out;
	s->mss = h.gso_size;
	payload = s->len - s->hdrs;
	s->nsegs = payload ? (unsigned)((payload + s->mss - 1) / s->mss) : 1;
	s->seg_max = s->hdrs + (payload < s->mss ? payload : s->mss);
	s->kind = s->l4proto == IPPROTO_TCP_ ? SEG_TCP : SEG_UDP;
	if (s->nsegs == 1) {
		/* Nothing to cut: finish it where it lies so the caller need not copy. */
		seg_fix(s, p, s->len, 0);
		s->kind = SEG_SINGLE;
	}
	ret = 0;
out:
	if (ret < 0)
		s->nsegs = 0; /* offload_seg_next then yields nothing */
	return ret;
}

ssize_t offload_seg_next(struct offload_seg *s, uint8_t *out, size_t cap)
{
	size_t off, chunk;

	if (s->index >= s->nsegs)
		return 0;
	if (s->kind == SEG_SINGLE) {
		if (cap < s->len)
			return -ENOSPC;
		memcpy(out, s->pkt, s->len);
		s->index++;
		return (ssize_t)s->len;
	}
	off = s->hdrs + (size_t)s->index * s->mss;
	chunk = s->len - off < s->mss ? s->len - off : s->mss;
	if (cap < s->hdrs + chunk)
		return -ENOSPC;
	memcpy(out, s->pkt, s->hdrs);
	memcpy(out + s->hdrs, s->pkt + off, chunk);
	seg_fix(s, out, s->hdrs + chunk, s->index);
	s->index++;
	return (ssize_t)(s->hdrs + chunk);
}

/* ---- coalescing ------------------------------------------------------------------------------------------ */

#define NONE 0xffff

struct bpkt {
	const uint8_t *p;
	uint16_t len;
	uint16_t next;     /* next packet of the same output, NONE at the end */
	uint16_t payload;  /* TCP payload bytes (mergeable packets only) */
	uint8_t thl;       /* TCP header length (mergeable packets only) */
	uint32_t seq;
};

/* One output packet: a single added packet, or a run of merged segments. */
struct item {
	uint16_t first, last, count;
	uint16_t gso_size;   /* payload of the first segment */
	uint32_t next_seq;   /* sequence number a segment must carry to be appended */
	uint32_t tot;        /* IP length of the merged packet so far */
	bool keyed;          /* an IPv4 TCP packet whose addresses and ports are known */
	bool open;           /* may still take segments */
	uint8_t key[12];     /* saddr, daddr, sport, dport as on the wire */
};

struct offload_batch {
	unsigned npkts, nitems, emit;
	struct bpkt pkts[OFFLOAD_BATCH_MAX];
	struct item items[OFFLOAD_BATCH_MAX];
};

struct offload_batch *offload_batch_new(void)
{
	return calloc(1, sizeof(struct offload_batch));
}

void offload_batch_free(struct offload_batch *b)
{
	free(b);
}

void offload_batch_reset(struct offload_batch *b)
{
	b->npkts = b->nitems = b->emit = 0;
}

/* Flow key of an IPv4 TCP packet, also for ones we will not merge: they still order their flow. Non-first
 * fragments carry no ports and stay unkeyed. */
static bool batch_key(const uint8_t *p, size_t len, uint8_t key[12])
{
	size_t ihl;

	if (len < 20 || p[0] >> 4 != 4 || p[9] != IPPROTO_TCP_ || (get16(p + 6) & 0x1fff))
		return false;
	ihl = (size_t)(p[0] & 0x0f) * 4;
	if (ihl < 20 || len < ihl + 4)
		return false;
	memcpy(key, p + 12, 8);
	memcpy(key + 8, p + ihl, 4);
	return true;
}

/* Whether a keyed packet may be merged at all; fills thl, payload, seq. */
static bool batch_mergeable(struct bpkt *k)
{
	const uint8_t *p = k->p, *th = p + 20;
	size_t thl;

	/* IP options would have to match too and are rare enough to pass on; fragments are not segments. */
	if ((p[0] & 0x0f) != 5 || get16(p + 2) != k->len || (get16(p + 6) & IP4_MF_OFF) || k->len < 40)
		return false;
	thl = (size_t)(th[12] >> 4) * 4;
	if (thl < 20 || thl > (size_t)k->len - 20 || thl == (size_t)k->len - 20)
		return false; /* no payload: a pure ACK has nothing to merge */
	if (th[13] & (TCP_SYN | TCP_FIN | TCP_RST | TCP_URG | TCP_CWR))
		return false;
	/* Merging rewrites the IP header checksum and replaces the TCP one with a partial sum, so a corrupt
	 * segment would come out with valid checksums: verify both first, and let the kernel drop a bad one. */
	if (csum_fold(csum_add(0, p, 20)) != 0xffff)
		return false;
	if (csum_fold(csum_pseudo(p, 4, IPPROTO_TCP_, k->len - 20u) + csum_add(0, th, k->len - 20u)) != 0xffff)
		return false;
	k->thl = (uint8_t)thl;
	k->payload = (uint16_t)(k->len - 20 - thl);
	k->seq = get32(th + 4);
	return true;
}

static bool batch_can_append(const struct offload_batch *b, const struct item *it, const struct bpkt *k)
{
	const struct bpkt *f = &b->pkts[it->first];
	const uint8_t *fp = f->p, *kp = k->p;
	uint16_t frag = get16(kp + 6);

	if (k->seq != it->next_seq || k->payload > it->gso_size || it->tot + k->payload > OFFLOAD_IP_MAX)
		return false;
	/* TOS (ECN included), DF and TTL as the first: the kernel copies the first's header to all. */
	if (kp[1] != fp[1] || frag != get16(fp + 6) || kp[8] != fp[8])
		return false;
	/* Re-segmenting numbers IDs upwards from the first; with DF they carry no meaning (RFC 6864). */
	if (!(frag & IP4_DF) && get16(kp + 4) != (uint16_t)(get16(fp + 4) + it->count))
		return false;
	if (k->thl != f->thl)
		return false;
	/* ack, data offset, window, urgent pointer and options equal; flags equal but for PSH. */
	if (memcmp(kp + 28, fp + 28, 5) || ((kp[33] ^ fp[33]) & (uint8_t)~TCP_PSH) ||
	    memcmp(kp + 34, fp + 34, 2) || memcmp(kp + 38, fp + 38, 2) || memcmp(kp + 40, fp + 40, k->thl - 20u))
		return false;
	return true;
}

int offload_batch_add(struct offload_batch *b, const uint8_t *pkt, size_t len)
{
	struct bpkt *k;
	struct item *it = NULL;
	uint8_t key[12];
	bool keyed, mergeable = false;
	unsigned idx;
	int i;

	if (b->emit > 0)
		return -EBUSY;
	if (len == 0 || len > OFFLOAD_IP_MAX)
		return -EINVAL;
	if (b->npkts >= OFFLOAD_BATCH_MAX)
		return -ENOSPC;
	idx = b->npkts++;
	k = &b->pkts[idx];
	memset(k, 0, sizeof(*k));
	k->p = pkt;
	k->len = (uint16_t)len;
	k->next = NONE;
	keyed = batch_key(pkt, len, key);
	if (keyed) {
		mergeable = batch_mergeable(k);
		/* Only the flow's latest output may grow: anything earlier would overtake what came between. */
		for (i = (int)b->nitems - 1; i >= 0; i--) {
			if (b->items[i].keyed && memcmp(b->items[i].key, key, sizeof(key)) == 0) {
				it = &b->items[i];
				break;
			}
		}
		if (it && it->open && mergeable && batch_can_append(b, it, k)) {
			b->pkts[it->last].next = (uint16_t)idx;
			it->last = (uint16_t)idx;
			it->count++;
			it->next_seq += k->payload;
			it->tot += k->payload;
			if (k->payload < it->gso_size || (k->p[33] & TCP_PSH))
				it->open = false;
			return 0;
		}
	}
	it = &b->items[b->nitems++];
	memset(it, 0, sizeof(*it));
	it->first = it->last = (uint16_t)idx;
	it->count = 1;
	it->keyed = keyed;
	if (keyed)
		memcpy(it->key, key, sizeof(key));
	if (mergeable) {
		it->open = !(k->p[33] & TCP_PSH);
		it->gso_size = k->payload;
		it->next_seq = k->seq + k->payload;
		it->tot = k->len;
	}
	return 0;
}

ssize_t offload_batch_next(struct offload_batch *b, uint8_t *out, size_t cap, unsigned *nmerged)
{
	struct virtio_net_hdr h;
	const struct item *it;
	const struct bpkt *f, *k;
	uint8_t *ip, *th;
	size_t hdrs, pos;
	uint16_t c;

	if (nmerged)
		*nmerged = 0;
	if (b->emit >= b->nitems) {
		offload_batch_reset(b);
		return 0;
	}
	it = &b->items[b->emit];
	f = &b->pkts[it->first];
	memset(&h, 0, sizeof(h));
	if (it->count == 1) {
		if (cap < OFFLOAD_VNET_HDR_LEN + (size_t)f->len)
			return -ENOSPC;
		memcpy(out, &h, sizeof(h));
		memcpy(out + OFFLOAD_VNET_HDR_LEN, f->p, f->len);
		b->emit++;
		if (nmerged)
			*nmerged = 1;
		return OFFLOAD_VNET_HDR_LEN + (ssize_t)f->len;
	}
	if (cap < OFFLOAD_VNET_HDR_LEN + (size_t)it->tot)
		return -ENOSPC;
	hdrs = 20u + f->thl;
	h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	h.hdr_len = (uint16_t)hdrs;
	h.gso_size = it->gso_size;
	h.csum_start = 20;
	h.csum_offset = 16;
	memcpy(out, &h, sizeof(h));
	ip = out + OFFLOAD_VNET_HDR_LEN;
	th = ip + 20;
	memcpy(ip, f->p, hdrs);
	pos = hdrs;
	for (k = f; k; k = k->next == NONE ? NULL : &b->pkts[k->next]) {
		memcpy(ip + pos, k->p + hdrs, k->payload);
		pos += k->payload;
	}
	put16(ip + 2, it->tot);
	ip4_set_csum(ip, 20);
	th[13] |= b->pkts[it->last].p[33] & TCP_PSH; /* PSH can only be on the last one merged */
	c = csum_fold(csum_pseudo(ip, 4, IPPROTO_TCP_, it->tot - 20u));
	memcpy(th + 16, &c, 2);
	b->emit++;
	if (nmerged)
		*nmerged = it->count;
	return OFFLOAD_VNET_HDR_LEN + (ssize_t)it->tot;
}
