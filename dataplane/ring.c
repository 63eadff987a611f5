// SPDX-License-Identifier: GPL-2.0-or-later
/* The lock-free single-producer single-consumer slot ring (ring.h). head and tail count slots forever (they
 * wrap at 2^32, which the unsigned difference tolerates); each is written by one side only, published with
 * release and read with acquire, so a slot's bytes are visible before its index is. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cvpn/ring.h"

int ring_init(struct ring *r, uint32_t n_slots, size_t slot_size)
{
	memset(r, 0, sizeof(*r));
	if (n_slots < 2 || n_slots > 65536 || (n_slots & (n_slots - 1)) || slot_size == 0 || slot_size > (1u << 20))
		return -EINVAL;
	slot_size = (slot_size + 15) & ~(size_t)15;
	r->slots = aligned_alloc(64, ((size_t)n_slots * slot_size + 63) & ~(size_t)63);
	if (!r->slots)
		return -ENOMEM;
	r->mask = n_slots - 1;
	r->slot_size = slot_size;
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	return 0;
}

void ring_destroy(struct ring *r)
{
	free(r->slots);
	r->slots = NULL;
}

void *ring_reserve(struct ring *r)
{
	uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint32_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);

	if (head - tail > r->mask)
		return NULL;
	return r->slots + (size_t)(head & r->mask) * r->slot_size;
}

void ring_commit(struct ring *r)
{
	uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);

	atomic_store_explicit(&r->head, head + 1, memory_order_release);
}

void *ring_peek(struct ring *r)
{
	uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint32_t head = atomic_load_explicit(&r->head, memory_order_acquire);

	if (head == tail)
		return NULL;
	return r->slots + (size_t)(tail & r->mask) * r->slot_size;
}

void ring_release(struct ring *r)
{
	uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);

	atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
}
