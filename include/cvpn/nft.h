/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_NFT_H
#define CVPN_NFT_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cvpn/config.h"

/* nftables over netlink (libnftnl + libmnl). Everything cvpn installs lives in `table inet cvpn`; a whole
 * ruleset goes in one batch, so the kernel applies all of it or none. Functions return 0 or -errno and never
 * print; nft_strerror-style detail goes to the caller through the errno value. */

#define NFT_TABLE_NAME "cvpn"
#define NFT_MAX_ASSOC 16

struct nft_assoc {
	char ifname[IF_NAMESIZE];
	uint32_t snat_addr;      /* host order: the association interface's own address */
};

/* The minimal ruleset of the core issue; the policy issue grows this into the compiled policy. */
struct nft_base {
	char tun_ifname[IF_NAMESIZE];
	struct cidr4 client_cidr;
	struct nft_assoc assoc[NFT_MAX_ASSOC];
	size_t n_assoc;
};

/* Replaces `table inet cvpn` atomically with the ruleset for b (delete-if-present and create in the same
 * batch). With dry_run the batch is sent without its END message: the kernel validates it and discards it.
 * Returns 0 or -errno (the first error the kernel reported). */
int nft_apply_base(const struct nft_base *b, bool dry_run);
/* Removes `table inet cvpn`; 0 also when it did not exist. */
int nft_delete_table(void);
/* Closes the netlink socket the batches share (it is reopened on demand). */
void nft_socket_close(void);

#endif
