// SPDX-License-Identifier: GPL-2.0-or-later
/* Writes into the tun, coalescing TCP segments of a batch (see tuntx.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "cvpn/offload.h"
#include "cvpn/tuntx.h"

struct tuntx {
	int fd;
	bool vnet, batching;
	struct offload_batch *batch;
	struct tuntx_stats st;
	size_t n;                                     /* packets in arena */
	uint8_t arena[OFFLOAD_BATCH_MAX][TUNTX_PKT_MAX];
	uint8_t out[OFFLOAD_VNET_HDR_LEN + OFFLOAD_IP_MAX];
};

struct tuntx *tuntx_new(int fd, bool vnet)
{
	struct tuntx *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->fd = fd;
	t->vnet = vnet;
	if (vnet && !(t->batch = offload_batch_new())) {
		free(t);
		return NULL;
	}
	return t;
}

void tuntx_free(struct tuntx *t)
{
	if (!t)
		return;
	offload_batch_free(t->batch);
	free(t);
}

/* One packet now: behind a zeroed vnet header when the tun expects one. */
static int write_one(struct tuntx *t, const uint8_t *ip, size_t len)
{
	static const uint8_t no_offload[OFFLOAD_VNET_HDR_LEN];
	struct iovec iov[2] = { { (void *)no_offload, sizeof(no_offload) }, { (void *)ip, len } };
	ssize_t r = t->vnet ? writev(t->fd, iov, 2) : write(t->fd, ip, len);

	if (r < 0) {
		t->st.errors++;
		return -errno;
	}
	t->st.writes++;
	return 0;
}

size_t tuntx_flush(struct tuntx *t)
{
	size_t done = 0;
	unsigned merged;
	ssize_t len;

	if (!t || t->n == 0)
		return 0;
	while ((len = offload_batch_next(t->batch, t->out, sizeof(t->out), &merged)) > 0) {
		if (write(t->fd, t->out, (size_t)len) < 0) {
			t->st.errors += merged;
			continue;
		}
		t->st.writes++;
		if (merged > 1)
			t->st.merged += merged;
		done += merged;
	}
	offload_batch_reset(t->batch);   /* after an error above: start clean either way */
	t->n = 0;
	return done;
}

void tuntx_batch(struct tuntx *t, bool on)
{
	if (t->batching && !on)
		tuntx_flush(t);
	t->batching = on;
}

int tuntx_write(struct tuntx *t, const uint8_t *ip, size_t len)
{
	int r;

	if (len == 0 || len > TUNTX_PKT_MAX)
		return -EMSGSIZE;
	t->st.packets++;
	if (!t->vnet || !t->batching)
		return write_one(t, ip, len);
	if (t->n == OFFLOAD_BATCH_MAX)
		tuntx_flush(t);
	/* the caller's buffer is reused for the next packet: the batch keeps a copy */
	memcpy(t->arena[t->n], ip, len);
	r = offload_batch_add(t->batch, t->arena[t->n], len);
	if (r < 0) {
		tuntx_flush(t); /* what is queued goes first: a flow's packets keep their order */
		return write_one(t, ip, len);
	}
	t->n++;
	return 0;
}

void tuntx_get_stats(const struct tuntx *t, struct tuntx_stats *st)
{
	*st = t->st;
}
