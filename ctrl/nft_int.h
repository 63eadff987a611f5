/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_NFT_INT_H
#define CVPN_NFT_INT_H

/* Inside the nftables layer only (ctrl/nft.c, ctrl/policy_nft.c): the batch and the expression helpers. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libnftnl/rule.h>

#include "cvpn/config.h"

/* A batch of netlink messages in one growing buffer, sent with one sendmsg() so the kernel sees one
 * transaction. Each message is built in place, so before every message the buffer keeps at least
 * NFT_MSG_ROOM bytes free: libnftnl's builders do not bound their writes. */
#define NFT_MSG_ROOM (64 * 1024)

struct nft_batch {
	char *buf;
	size_t len, cap;
	uint32_t first_seq;
	uint32_t seq;        /* next sequence number to use */
	const char *table;   /* the inet table its table, chain and rule messages name: NFT_TABLE_NAME */
	bool failed;         /* a message did not fit (a bug) or memory ran out */
};

int nft_batch_init(struct nft_batch *nb);
void nft_batch_free(struct nft_batch *nb);
/* Where the next message goes: NFT_MSG_ROOM bytes of room; NULL when out of memory. */
void *nft_batch_cur(struct nft_batch *nb);
/* Takes the message just built at nft_batch_cur() into the batch. 0 or -EMSGSIZE / -ENOMEM. */
int nft_batch_next(struct nft_batch *nb);
int nft_batch_begin_end(struct nft_batch *nb, bool begin);
/* NEWTABLE / DELTABLE of the batch's table (`inet cvpn` unless nb->table says otherwise). */
int nft_batch_table(struct nft_batch *nb, uint16_t type, uint16_t flags);
/* The batch's table, empty: one that existed goes with everything in it, in the same transaction. */
int nft_batch_table_fresh(struct nft_batch *nb);
/* A chain; hook < 0 for a regular chain (type ignored). */
int nft_batch_chain(struct nft_batch *nb, const char *name, const char *type, int hook, int prio);
struct nftnl_rule *nft_rule_new(const char *chain, const char *comment);
/* The same in another inet table. */
struct nftnl_rule *nft_rule_new_in(const char *table, const char *chain, const char *comment);
/* Appends rule r (built == false: a helper ran out of memory) and frees it. */
int nft_batch_rule(struct nft_batch *nb, struct nftnl_rule *r, bool built);
/* Sends the batch and reads every ack: 0 or the first -errno the kernel reported (described for
 * nft_refusal()). */
int nft_batch_talk(struct nft_batch *nb);
/* Describes the message numbered seq in batch[0..len) into out, e.g. `adding rule "x" to chain fwd of table
 * inet cvpn, its expression 2 of 5 ("fib")` when bad_attr, an offset into that message (UINT32_MAX for
 * none), falls inside that expression; false, out = "", when the batch holds no such message. */
bool nft_describe_refused(const void *batch, size_t len, uint32_t seq, uint32_t bad_attr, char *out, size_t cap);

/* Expression helpers: each appends to r, false only when out of memory. Registers: NFT_REG_1 unless
 * given. */
bool nft_meta(struct nftnl_rule *r, uint32_t key);
bool nft_meta_set(struct nftnl_rule *r, uint32_t key);
bool nft_cmp(struct nftnl_rule *r, uint32_t op, const void *data, uint32_t len);
bool nft_bitwise(struct nftnl_rule *r, const void *mask, const void *xor, uint32_t len);
bool nft_payload(struct nftnl_rule *r, uint32_t base, uint32_t offset, uint32_t len, uint32_t dreg);
bool nft_ifname(struct nftnl_rule *r, uint32_t key, const char *name);
bool nft_nfproto_ipv4(struct nftnl_rule *r);
/* ip saddr/daddr (offset 12 / 16) op cidr, with the nfproto dependency an inet table needs */
bool nft_ip_addr(struct nftnl_rule *r, uint32_t offset, uint32_t op, const struct cidr4 *c);
bool nft_ct_est_rel(struct nftnl_rule *r);
/* ct state: any of bits (NF_CT_STATE_BIT(...), NF_CT_STATE_UNTRACKED_BIT) */
bool nft_ct_state(struct nftnl_rule *r, uint32_t bits);
bool nft_counter(struct nftnl_rule *r);
bool nft_verdict(struct nftnl_rule *r, int verdict);
bool nft_verdict_chain(struct nftnl_rule *r, int verdict, const char *chain);
bool nft_snat(struct nftnl_rule *r, uint32_t addr);

#endif
