/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_UDPTX_H
#define CVPN_UDPTX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "cvpn/udp_local.h"

/* Outgoing data-channel datagrams of one event-loop pass, sent together: consecutive datagrams to one peer
 * with one size (the last of a run may be shorter) leave as one UDP GSO send (UDP_SEGMENT: the kernel cuts
 * it, one trip through the stack for up to UDPTX_GSO_MAX datagrams), and all runs go in one sendmmsg().
 * Kernels without UDP GSO: the first refused GSO send turns it off and every datagram goes on its own
 * (still one sendmmsg). Order is kept: datagrams leave in the order they were queued. One owner, no
 * locks; the datagrams are copied, so callers reuse their buffers at once. */

#define UDPTX_MAX_DATAGRAMS 128
#define UDPTX_MAX_LEN       2048      /* a data packet: MTU + OpenVPN overhead, with room */
#define UDPTX_GSO_MAX       64        /* datagrams per GSO send: the kernel's UDP_MAX_SEGMENTS */

struct udptx;

struct udptx_stats {
	uint64_t datagrams;           /* queued and handed to the kernel */
	uint64_t syscalls;            /* sendmmsg() calls */
	uint64_t gso_sends;           /* messages that carried more than one datagram */
	uint64_t errors;              /* datagrams the kernel refused (dropped, as UDP would) */
	bool gso;                     /* UDP GSO in use */
};

/* fd: a non-blocking UDP socket. use_gso: try UDP GSO (false: one datagram per message). NULL: no memory. */
struct udptx *udptx_new(int fd, bool use_gso);
void udptx_free(struct udptx *t);
/* Copies one datagram into the batch, flushing first when the batch is full; it leaves from local (NULL or
 * unknown: the address the kernel picks). 0, -EMSGSIZE (too long: not queued) or -EINVAL. */
int udptx_queue(struct udptx *t, const struct sockaddr *to, socklen_t to_len, const struct udp_local *local,
		const uint8_t *buf, size_t len);
/* Sends what is queued. Returns the number of datagrams the kernel took; a datagram it refuses is dropped
 * and counted, as a lost UDP datagram would be (EAGAIN included: the socket buffer is full). */
size_t udptx_flush(struct udptx *t);
size_t udptx_pending(const struct udptx *t);
void udptx_get_stats(const struct udptx *t, struct udptx_stats *st);

#endif
