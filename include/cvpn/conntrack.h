/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_CONNTRACK_H
#define CVPN_CONNTRACK_H

#include <stddef.h>
#include <stdint.h>

#define CT_MAX_FLUSH 4096 /* entries deleted by one call; a caller that gets this many may call again */

/* Deletes every IPv4 conntrack entry whose original source is addr (host order), so that a session moved
 * to another association gets new NAT bindings on its next packets instead of keeping the failed
 * association's source address. Returns the number of entries deleted (at most 4,096 a call) or -errno. */
int ct_flush_source(uint32_t addr);
/* The same for the original destination: flows other clients opened to addr. */
int ct_flush_destination(uint32_t addr);
/* Entries whose original source or destination is any of addrs (host order), in one pass over the table:
 * the sessions that ended since the last tick. A pass costs about the same for one address as for many (the
 * kernel walks its whole hash table: ~9 ms with 262,144 buckets on the test machine). */
int ct_flush_addresses(const uint32_t *addrs, size_t n);
/* The same for every source in net/prefix_len (at start: flows of any address of the client CIDR). */
int ct_flush_source_net(uint32_t net, unsigned prefix_len);

#endif
