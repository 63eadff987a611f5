/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_TUN_H
#define CVPN_TUN_H

#include <net/if.h>
#include <stdbool.h>

/* Opens (creating if needed) a non-blocking layer-3 TUN device without packet info headers.
 * ifname in: the wanted name (may be a pattern like "cvpn%d"); out: the name the kernel gave.
 * offload (may be NULL) in: ask for a vnet header and offloads (the kernel hands us TCP super-packets and
 * takes ours: offload.h), out: whether the device has them; without them every read and write is one plain
 * IP packet. Returns the fd or -errno. */
int tun_open(char ifname[IF_NAMESIZE], bool *offload);

#define TUN_MAX_QUEUES 64
/* The same with n queues (IFF_MULTI_QUEUE when n > 1): fds[0..n) get one fd each, all of one device, all
 * with the vnet header or none. Which queue the kernel hands a packet to is its choice (a flow hash) unless a
 * steering program says otherwise (steer.h). Returns 0, or -1 with errno and nothing left open. */
int tun_open_queues(char ifname[IF_NAMESIZE], bool *offload, int *fds, unsigned n);

#endif
