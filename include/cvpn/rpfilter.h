/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_RPFILTER_H
#define CVPN_RPFILTER_H

#include <stdbool.h>
#include <stdint.h>

/* Whether the kernel's reverse-path filter lets the replies from a network back in through an association's
 * interface. Reads sysctls of this network namespace and asks its routing; returns 0 or -errno, never prints. */

struct rpf_conf {
	int rp_filter;               /* as applied to the interface: the larger of conf/all and conf/IF (0, 1, 2) */
	bool src_valid_mark;         /* conf/all or conf/IF: the check looks the source up with the packet's mark */
};

int rpf_read_conf(const char *ifname, struct rpf_conf *out);

/* For each of n addresses (host order): whether an unmarked packet from it arriving on ifname passes the
 * check conf describes, the source looked up as the host's own routing would (its main table): strict (1)
 * wants the route out of ifname, loose (2) any route. passes[i] is true when conf has no check or the kernel
 * gave no answer for that address. One netlink socket for all of them. */
int rpf_unmarked_passes(const struct rpf_conf *conf, const char *ifname, const uint32_t *addrs, size_t n,
			bool *passes);

#endif
