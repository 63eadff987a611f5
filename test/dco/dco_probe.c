// SPDX-License-Identifier: GPL-2.0-or-later
/* Asks the kernel's OpenVPN module for what it must refuse, through ctrl/dco.c, and prints each answer:
 *   OP ERRNO-NAME KERNEL-MESSAGE
 * kernel_dco.sh runs it inside a test namespace of the virtual machines: the errno is each dialect's, and the
 * message is what cvpnd's log shows after the errno (Linux's ovpn gives one; ovpn-dco-v2 gives none).
 * Makes its own interface (dcoprobeN) and removes it. Exit 1 if the interface cannot be made.
 *   dco_probe del-peer IFNAME PEER-ID: removes one peer of cvpnd's interface behind its back. */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cvpn/dco.h"

#define MISSING_PEER 4000 /* no peer has it: the interface is new */

static void show(const struct dco *d, const char *op, int err)
{
	printf("%s %s '%s'\n", op, err == 0 ? "OK" : err == -ENOENT ? "ENOENT" : strerror(-err), dco_kernel_message(d));
}

/* del-peer IFNAME PEER-ID: removes a peer of another process's interface, as any program with
 * CAP_NET_ADMIN could */
static int del_peer(const char *ifname, const char *peer)
{
	struct dco *d;
	int err = dco_attach(&d, ifname);

	if (err < 0) {
		fprintf(stderr, "dco_probe: %s: %s\n", ifname, strerror(-err));
		return 1;
	}
	err = dco_del_peer(d, (uint32_t)strtoul(peer, NULL, 10));
	show(d, "del-peer", err);
	dco_close(d);
	return err < 0;
}

int main(int argc, char **argv)
{
	uint8_t block[256] = { 0 };
	char ifname[IF_NAMESIZE];
	struct dco *d;
	int err;

	if (argc == 4 && !strcmp(argv[1], "del-peer"))
		return del_peer(argv[2], argv[3]);
	if (argc != 1) {
		fprintf(stderr, "usage: dco_probe [del-peer IFNAME PEER-ID]\n");
		return 2;
	}
	err = dco_open(&d, "dcoprobe", ifname);

	if (err < 0) {
		fprintf(stderr, "dco_probe: cannot make the interface: %s\n", strerror(-err));
		return 1;
	}
	printf("module %s\n", dco_module(d));
	show(d, "new-key", dco_new_key(d, MISSING_PEER, DCO_SLOT_PRIMARY, 1, CVPN_CIPHER_AES_256_GCM, block));
	show(d, "swap-keys", dco_swap_keys(d, MISSING_PEER));
	show(d, "set-keepalive", dco_set_keepalive(d, MISSING_PEER, 10, 120));
	dco_close(d);
	return 0;
}
