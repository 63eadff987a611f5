/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_NFT_H
#define CVPN_NFT_H

/* nftables over netlink (libnftnl + libmnl). Everything cvpn installs lives in `table inet cvpn`; a whole
 * ruleset goes in one batch, so the kernel applies all of it or none (policy_nft_apply, cvpn/policy.h).
 * Functions return 0 or -errno and never print; nft_strerror-style detail goes to the caller through the
 * errno value. */

#define NFT_TABLE_NAME "cvpn"

/* Removes `table inet cvpn`; 0 also when it did not exist. */
int nft_delete_table(void);
/* Removes `table inet NAME`; 0 also when it did not exist. */
int nft_delete_named_table(const char *name);
/* After a call above (or a policy_nft_ one) that the kernel refused: which of the batch's messages it
 * refused and why, as a suffix for the caller's error line, e.g. ` (while adding rule "sg web: tcp 443" to
 * chain sg_1 of table inet cvpn, its expression 4 of 6 ("fib"); the kernel says: ...)`; "" after a failure
 * that was not the kernel's refusal. Read it only right after the failed call. The control thread's: the
 * batches all run there. */
const char *nft_refusal(void);
/* Closes the netlink socket the batches share (it is reopened on demand). */
void nft_socket_close(void);

#endif
