/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_TUN_H
#define CVPN_TUN_H

#include <net/if.h>

/* Opens (creating if needed) a non-blocking layer-3 TUN device without packet info headers.
 * ifname in: the wanted name (may be a pattern like "cvpn%d"); out: the name the kernel gave.
 * Returns the fd or -errno. */
int tun_open(char ifname[IF_NAMESIZE]);

#endif
