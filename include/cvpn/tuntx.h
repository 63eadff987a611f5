/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_TUNTX_H
#define CVPN_TUNTX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decrypted packets from clients on their way into the tun. With a vnet-header tun (tun_open's offload) the
 * packets of one receive batch are copied here and TCP segments of one flow coalesced (offload.h) into
 * GSO super-packets, so the kernel forwards one 64 KiB packet instead of forty; every other packet, and all
 * of them on a plain tun, is written as it is. One owner, no locks, no allocation per packet. */

#define TUNTX_PKT_MAX 2048    /* a decrypted data packet: the tunnel MTU with room */

struct tuntx;

struct tuntx_stats {
	uint64_t packets;         /* handed to tuntx_write */
	uint64_t writes;          /* write() calls that succeeded */
	uint64_t merged;          /* packets that went out inside a super-packet of two or more */
	uint64_t errors;          /* packets the tun refused (dropped) */
};

/* fd: the tun; vnet: it was opened with IFF_VNET_HDR (tun_open's *offload). NULL: no memory. */
struct tuntx *tuntx_new(int fd, bool vnet);
void tuntx_free(struct tuntx *t);
/* batching on: tuntx_write queues until tuntx_flush; off (the default): it writes at once. */
void tuntx_batch(struct tuntx *t, bool on);
/* One IPv4 or IPv6 packet. Returns 0 or -errno (too long: -EMSGSIZE; a refused write: its errno). */
int tuntx_write(struct tuntx *t, const uint8_t *ip, size_t len);
/* Writes what is queued; returns the packets that went out. */
size_t tuntx_flush(struct tuntx *t);
void tuntx_get_stats(const struct tuntx *t, struct tuntx_stats *st);

#endif
