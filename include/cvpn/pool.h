/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_POOL_H
#define CVPN_POOL_H

#include <stdint.h>

#include "cvpn/config.h"

/* Client-CIDR address allocator. O(1) allocate and free (a free list threaded through an index array);
 * an address is never handed out twice while allocated. The network address, the gateway's own tunnel
 * address (first host) and the broadcast address are never handed out. Freed addresses go to the tail of
 * the free list, so an address is reused as late as possible. */
struct pool;

/* Returns NULL (errno set) for a CIDR smaller than /30 or larger than /8... in which case nothing is allocated. */
struct pool *pool_new(struct cidr4 cidr);
void pool_free(struct pool *p);
uint32_t pool_gateway_address(const struct pool *p);  /* host order: first host, the tun address */
/* Allocates one address (host order) into *addr. Returns 0 or -ENOSPC. */
int pool_alloc(struct pool *p, uint32_t *addr);
/* Returns 0, or -EINVAL for an address that is outside the pool or not allocated (a double free). */
int pool_release(struct pool *p, uint32_t addr);
/* Index of an address inside the CIDR (addr - network), or -1 if outside. Used for O(1) lookups. */
long pool_index(const struct pool *p, uint32_t addr);
uint32_t pool_size(const struct pool *p);              /* number of addresses that can be handed out */
uint32_t pool_in_use(const struct pool *p);

#endif
