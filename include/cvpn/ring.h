/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_RING_H
#define CVPN_RING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* A single-producer single-consumer queue of fixed-size slots between two threads: the control thread and a
 * data worker hand each other commands and packets through it without a lock. The producer fills a slot in
 * place (ring_reserve, then ring_commit publishes it); the consumer reads it in place (ring_peek, then
 * ring_release gives it back). No allocation after ring_new. Waking the other side is the caller's job (an
 * eventfd written after a commit). */

struct ring {
	_Alignas(64) _Atomic uint32_t head;   /* next slot the producer fills; written by the producer only */
	_Alignas(64) _Atomic uint32_t tail;   /* next slot the consumer reads; written by the consumer only */
	_Alignas(64) uint32_t mask;
	size_t slot_size;
	uint8_t *slots;
};

/* n_slots: a power of two, 2..65536; slot_size: bytes per slot, rounded up to 16. 0 or -EINVAL/-ENOMEM. */
int ring_init(struct ring *r, uint32_t n_slots, size_t slot_size);
void ring_destroy(struct ring *r);

/* Producer: the next free slot (slot_size bytes), or NULL when the ring is full. */
void *ring_reserve(struct ring *r);
/* Producer: publishes the slot ring_reserve returned. */
void ring_commit(struct ring *r);

/* Consumer: the oldest published slot, or NULL when there is none. */
void *ring_peek(struct ring *r);
/* Consumer: the slot ring_peek returned may be reused. */
void ring_release(struct ring *r);

#endif
