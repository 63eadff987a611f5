// SPDX-License-Identifier: GPL-2.0-or-later
/* Batched UDP sends with UDP GSO (see udptx.h). */
#define _GNU_SOURCE /* sendmmsg */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cvpn/udptx.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

/* A GSO message's payload stays under the 64 KiB an IP datagram can carry. */
#define GSO_BYTES_MAX 60000

struct udptx_dgram {
	size_t off, len;
	struct sockaddr_storage to;
	socklen_t to_len;
	struct udp_local local;
};

struct udptx {
	int fd;
	struct udptx_stats st;
	size_t n, used;
	struct udptx_dgram d[UDPTX_MAX_DATAGRAMS];
	uint8_t buf[UDPTX_MAX_DATAGRAMS * UDPTX_MAX_LEN];
	/* flush scratch: one message per run */
	struct mmsghdr msgs[UDPTX_MAX_DATAGRAMS];
	struct iovec iov[UDPTX_MAX_DATAGRAMS];
	size_t first[UDPTX_MAX_DATAGRAMS], count[UDPTX_MAX_DATAGRAMS];
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t)) + UDP_LOCAL_CMSG_SPACE];
		struct cmsghdr align;
	} cmsg[UDPTX_MAX_DATAGRAMS];
};

struct udptx *udptx_new(int fd, bool use_gso)
{
	struct udptx *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->fd = fd;
	t->st.gso = use_gso;
	return t;
}

void udptx_free(struct udptx *t)
{
	free(t);
}

static bool same_peer(const struct udptx_dgram *a, const struct udptx_dgram *b)
{
	return a->to_len == b->to_len && !memcmp(&a->to, &b->to, a->to_len) && udp_local_equal(&a->local, &b->local);
}

/* Messages for datagrams [from, n): runs of one peer and one size (GSO), or one datagram each. */
static size_t build(struct udptx *t, size_t from)
{
	size_t m = 0;

	for (size_t i = from; i < t->n; m++) {
		size_t start = i, seg = t->d[i].len, total = seg;
		struct msghdr *h = &t->msgs[m].msg_hdr;

		for (i++; t->st.gso && i < t->n && i - start < UDPTX_GSO_MAX && t->d[i - 1].len == seg &&
			  t->d[i].len <= seg && total + t->d[i].len <= GSO_BYTES_MAX && same_peer(&t->d[i], &t->d[start]);
		     i++)
			total += t->d[i].len;
		memset(h, 0, sizeof(*h));
		t->iov[m].iov_base = t->buf + t->d[start].off;   /* queued back to back: one run is contiguous */
		t->iov[m].iov_len = total;
		h->msg_iov = &t->iov[m];
		h->msg_iovlen = 1;
		h->msg_name = &t->d[start].to;
		h->msg_namelen = t->d[start].to_len;
		t->first[m] = start;
		t->count[m] = i - start;
		/* the source address first (when known), then the segment size of a GSO run */
		memset(&t->cmsg[m], 0, sizeof(t->cmsg[m]));
		h->msg_control = t->cmsg[m].buf;
		h->msg_controllen = udp_local_put_cmsg(&t->d[start].local, &t->cmsg[m].align);
		if (t->count[m] > 1) {
			struct cmsghdr *c = (struct cmsghdr *)(t->cmsg[m].buf + h->msg_controllen);
			uint16_t gso = (uint16_t)seg;

			c->cmsg_level = SOL_UDP;
			c->cmsg_type = UDP_SEGMENT;
			c->cmsg_len = CMSG_LEN(sizeof(gso));
			memcpy(CMSG_DATA(c), &gso, sizeof(gso));
			h->msg_controllen += CMSG_SPACE(sizeof(gso));
		}
		if (h->msg_controllen == 0)
			h->msg_control = NULL;
	}
	return m;
}

size_t udptx_flush(struct udptx *t)
{
	size_t m, done = 0, sent = 0;

	if (!t || t->n == 0)
		return 0;
	m = build(t, 0);
	while (done < m) {
		int r = sendmmsg(t->fd, t->msgs + done, (unsigned)(m - done), MSG_DONTWAIT);

		t->st.syscalls++;
		if (r > 0) {
			for (size_t k = done; k < done + (size_t)r; k++) {
				sent += t->count[k];
				t->st.gso_sends += t->count[k] > 1;
			}
			done += (size_t)r;
			continue;
		}
		/* msgs[done] was refused */
		if (t->count[done] > 1 && (errno == EINVAL || errno == EIO || errno == EOPNOTSUPP ||
					   errno == ENOPROTOOPT)) {
			/* no UDP GSO here (old kernel, or a device path that refuses it): without it from now on */
			size_t from = t->first[done];

			t->st.gso = false;
			m = build(t, from);
			done = 0;
			continue;
		}
		t->st.errors += t->count[done];
		done++;
	}
	t->st.datagrams += sent;
	t->n = 0;
	t->used = 0;
	return sent;
}

int udptx_queue(struct udptx *t, const struct sockaddr *to, socklen_t to_len, const struct udp_local *local,
		const uint8_t *buf, size_t len)
{
	struct udptx_dgram *d;

	if (!t || !to || !buf || to_len == 0 || to_len > sizeof(d->to))
		return -EINVAL;
	if (len == 0 || len > UDPTX_MAX_LEN)
		return -EMSGSIZE;
	if (t->n == UDPTX_MAX_DATAGRAMS)
		udptx_flush(t);
	d = &t->d[t->n++];
	d->off = t->used;
	d->len = len;
	memcpy(&d->to, to, to_len);
	d->to_len = to_len;
	if (local)
		d->local = *local;
	else
		memset(&d->local, 0, sizeof(d->local));
	memcpy(t->buf + t->used, buf, len);
	t->used += len;
	return 0;
}

size_t udptx_pending(const struct udptx *t)
{
	return t ? t->n : 0;
}

void udptx_get_stats(const struct udptx *t, struct udptx_stats *st)
{
	*st = t->st;
}
