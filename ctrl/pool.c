// SPDX-License-Identifier: GPL-2.0-or-later
/* Client-CIDR address allocator: O(1) alloc and release, FIFO reuse, double-free detection.
 *
 * The free list is FIFO: conceptually every usable address in ascending order, with released addresses
 * appended at the tail. The never-used part of that list is simply the range [fresh, last], so only released
 * addresses need links. The link array and the bitmap are calloc'd: for a /8 that is 64 MiB of address space,
 * but the kernel maps zero pages lazily and only pages that a release touches get real memory. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "cvpn/pool.h"

#define POOL_NONE UINT32_MAX
#define POOL_MIN_PREFIX 8
#define POOL_MAX_PREFIX 30
#define POOL_FIRST 2 /* index 0 is the network, 1 the gateway */

struct pool {
	uint32_t network; /* host order */
	uint32_t mask;
	uint32_t n;       /* addresses in the CIDR, network and broadcast included */
	uint32_t fresh;   /* next never-handed-out index; > last when the range is used up */
	uint32_t head, tail; /* released indices waiting for reuse, oldest first; POOL_NONE when empty */
	uint32_t *next;   /* next[i]: index after i on the released list */
	uint64_t *used;   /* bit i set: index i is allocated */
	uint32_t in_use;
};

static uint32_t pool_last(const struct pool *p)
{
	return p->n - 2; /* n - 1 is the broadcast address */
}

static bool pool_used(const struct pool *p, uint32_t i)
{
	return (p->used[i / 64] >> (i % 64)) & 1;
}

static void pool_set_used(struct pool *p, uint32_t i, bool on)
{
	if (on)
		p->used[i / 64] |= (uint64_t)1 << (i % 64);
	else
		p->used[i / 64] &= ~((uint64_t)1 << (i % 64));
}

struct pool *pool_new(struct cidr4 cidr)
{
	struct pool *p = NULL;

	if (cidr.len < POOL_MIN_PREFIX || cidr.len > POOL_MAX_PREFIX) {
		errno = EINVAL;
		goto out;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		goto out;
	p->mask = UINT32_MAX << (32 - cidr.len);
	p->network = cidr.addr & p->mask;
	p->n = (uint32_t)1 << (32 - cidr.len);
	p->fresh = POOL_FIRST;
	p->head = p->tail = POOL_NONE;
	p->next = calloc(p->n, sizeof(*p->next));
	p->used = calloc((p->n + 63) / 64, sizeof(*p->used));
	if (!p->next || !p->used) {
		pool_free(p);
		p = NULL;
		errno = ENOMEM;
	}
out:
	return p;
}

void pool_free(struct pool *p)
{
	if (!p)
		return;
	free(p->next);
	free(p->used);
	free(p);
}

uint32_t pool_gateway_address(const struct pool *p)
{
	return p->network + 1;
}

int pool_alloc(struct pool *p, uint32_t *addr)
{
	uint32_t i;

	/* Never-used addresses come first: they sit ahead of every released one in the FIFO. */
	if (p->fresh <= pool_last(p)) {
		i = p->fresh++;
	} else if (p->head != POOL_NONE) {
		i = p->head;
		p->head = p->next[i];
		if (p->head == POOL_NONE)
			p->tail = POOL_NONE;
	} else {
		return -ENOSPC;
	}
	pool_set_used(p, i, true);
	p->in_use++;
	*addr = p->network + i;
	return 0;
}

int pool_release(struct pool *p, uint32_t addr)
{
	long idx = pool_index(p, addr);
	uint32_t i;

	if (idx < POOL_FIRST || (uint32_t)idx > pool_last(p))
		return -EINVAL;
	i = (uint32_t)idx;
	if (!pool_used(p, i))
		return -EINVAL;
	pool_set_used(p, i, false);
	p->in_use--;
	p->next[i] = POOL_NONE;
	if (p->tail == POOL_NONE)
		p->head = i;
	else
		p->next[p->tail] = i;
	p->tail = i;
	return 0;
}

long pool_index(const struct pool *p, uint32_t addr)
{
	if ((addr & p->mask) != p->network)
		return -1;
	return (long)(addr - p->network);
}

uint32_t pool_size(const struct pool *p)
{
	return p->n - 3;
}

uint32_t pool_in_use(const struct pool *p)
{
	return p->in_use;
}
