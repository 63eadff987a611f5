/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_OFFLOAD_H
#define CVPN_OFFLOAD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Packet offload for a TUN device opened with IFF_VNET_HDR (TUNSETOFFLOAD TUN_F_CSUM|TUN_F_TSO4|TUN_F_TSO6,
 * optionally TUN_F_USO4|TUN_F_USO6; TUNSETVNETHDRSZ OFFLOAD_VNET_HDR_LEN). Every read and write of the device
 * then starts with a struct virtio_net_hdr in host byte order (the tun default on little-endian hosts).
 * Pure code: no I/O, no allocation per packet, all buffers belong to the caller.
 *
 * Read side (tun -> clients), segmentation:
 *	struct offload_seg s;
 *	n = read(tun, buf, sizeof(buf));
 *	if (offload_seg_init(&s, buf, n) < 0) drop;
 *	while ((len = offload_seg_next(&s, seg, sizeof(seg))) > 0) encrypt and send seg[0..len)
 * A single packet (s.nsegs == 1) is already final in place at s.pkt/s.len and need not be copied.
 *
 * Write side (clients -> tun), coalescing of the IPv4 packets decrypted in one receive batch:
 *	offload_batch_add(b, pkt, len) for each, in arrival order (pointers kept: buffers must live until
 *	drained); then while ((len = offload_batch_next(b, out, sizeof(out), NULL)) > 0) write(tun, out, len). */

#define OFFLOAD_VNET_HDR_LEN 10  /* sizeof(struct virtio_net_hdr), asserted in offload.c */
#define OFFLOAD_IP_MAX 65535     /* the largest IP packet either way (IPv6: 40 + 65535 on the read side) */
/* A tun read buffer that holds any super-packet: vnet header + IPv6 header + 64 KiB payload. */
#define OFFLOAD_READ_MAX (OFFLOAD_VNET_HDR_LEN + 40 + OFFLOAD_IP_MAX)
#define OFFLOAD_BATCH_MAX 64     /* packets per coalescing batch */

/* One packet read from the tun, being cut into wire packets. The caller reads the first four fields; the
 * rest is private. */
struct offload_seg {
	const uint8_t *pkt;      /* the IP packet after the vnet header */
	size_t len;
	unsigned nsegs;          /* segments offload_seg_next yields in all (>= 1) */
	size_t seg_max;          /* bytes of the longest one: an out buffer this big always suffices */
	/* private */
	unsigned index;          /* next segment */
	uint8_t kind;
	uint8_t ipv;             /* 4 or 6 */
	uint8_t l4proto;
	size_t l4off;            /* IP header length */
	size_t hdrs;             /* IP + TCP/UDP header bytes repeated in each segment */
	size_t mss;              /* payload bytes per segment (gso_size) */
};

/* Parses and checks buf = virtio_net_hdr + packet (len bytes, as read() returned). GSO_TCPV4, GSO_TCPV6 and
 * GSO_UDP_L4 super-packets are segmented; GSO_NONE packets yield themselves, their checksum completed when
 * NEEDS_CSUM is set (an odd csum_offset is refused). Writes into buf only for a single packet (checksum
 * completed in place). Returns 0, or -EINVAL for anything malformed (nothing is read outside buf[0..len)).
 * IPv6 extension headers before TCP/UDP in a GSO packet are refused, not walked. */
int offload_seg_init(struct offload_seg *s, uint8_t *buf, size_t len);

/* Writes the next wire packet into out: IP lengths, IPv4 ID (+1 per segment) and header checksum, TCP
 * sequence number and flags (CWR on the first segment only, FIN and PSH on the last only), full TCP/UDP
 * checksum. Returns its length, 0 when all were given, or -ENOSPC (cap too small; nothing consumed). */
ssize_t offload_seg_next(struct offload_seg *s, uint8_t *out, size_t cap);

/* The coalescing batch. TCP segments of one IPv4 flow are merged when they arrive in sequence with the same
 * ack, window, options, TOS, TTL and DF, no IP options, no SYN/FIN/RST/URG/CWR (PSH ends a merge), IP IDs
 * incrementing (or anything with DF), all of the first segment's payload size but the last (may be smaller),
 * at most OFFLOAD_IP_MAX bytes in all, and valid IPv4 header and TCP checksums (a packet failing them is passed
 * on unmerged for the kernel to drop). Output keeps every flow's arrival order; out-of-order segments are not
 * merged. */
struct offload_batch;

struct offload_batch *offload_batch_new(void);
void offload_batch_free(struct offload_batch *b);
/* Forgets every packet added and not yet given out. */
void offload_batch_reset(struct offload_batch *b);

/* Adds one IP packet (any kind; only IPv4 TCP is merged). Returns 0, -ENOSPC (OFFLOAD_BATCH_MAX already
 * added: drain first), -EBUSY (draining has started) or -EINVAL (len 0 or above OFFLOAD_IP_MAX). */
int offload_batch_add(struct offload_batch *b, const uint8_t *pkt, size_t len);

/* Writes the next packet to hand the tun into out: a virtio_net_hdr, then the IP packet. A merged packet has
 * GSO_TCPV4, gso_size = the first segment's payload, NEEDS_CSUM at csum_start = IP header length, csum_offset
 * 16, hdr_len = IP + TCP header length, and the pseudo-header sum in the TCP checksum field; any other packet
 * is the added bytes unchanged behind a zeroed header. Returns the bytes written (header included), 0 when
 * drained (the batch is then empty and takes new packets), or -ENOSPC (cap too small; nothing consumed;
 * OFFLOAD_VNET_HDR_LEN + OFFLOAD_IP_MAX always suffices). *nmerged (may be NULL) gets how many added packets
 * the output holds. */
ssize_t offload_batch_next(struct offload_batch *b, uint8_t *out, size_t cap, unsigned *nmerged);

#endif
