/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_CONNTRACK_H
#define CVPN_CONNTRACK_H

#include <stdint.h>

/* Deletes every IPv4 conntrack entry whose original source is addr (host order), so that a session moved
 * to another association gets new NAT bindings on its next packets instead of keeping the failed
 * association's source address. Returns the number of entries deleted or -errno. */
int ct_flush_source(uint32_t addr);

#endif
