// SPDX-License-Identifier: GPL-2.0-or-later
/* ctrl/nft_refusal.c and nft_refusal(): which message of a batch the kernel refused, in words. Read back
 * from batches built with ctrl/nft.c's own builders, then once against the real kernel in a new network
 * namespace (needs root). */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_run.h"
#include "test_util.h" /* first: its <netinet/in.h> must come before the kernel's <linux/in.h> */

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>

#include "cvpn/nft.h"
#include "../../ctrl/nft_int.h"

/* begin, table, chain "fwd", a rule "allow web" (meta, cmp, immediate) in it, end; *rule_seq its number */
static void build(struct nft_batch *nb, uint32_t *rule_seq, uint32_t bad_meta_key)
{
	struct nftnl_rule *r;
	uint32_t v = 6;

	ck_assert_int_eq(nft_batch_init(nb), 0);
	ck_assert_int_eq(nft_batch_begin_end(nb, true), 0);
	ck_assert_int_eq(nft_batch_table(nb, NFT_MSG_NEWTABLE, NLM_F_CREATE), 0);
	ck_assert_int_eq(nft_batch_chain(nb, "fwd", "filter", NF_INET_FORWARD, 0), 0);
	r = nft_rule_new("fwd", "allow web");
	ck_assert_ptr_nonnull(r);
	*rule_seq = nb->seq;
	ck_assert_int_eq(nft_batch_rule(nb, r, nft_meta(r, bad_meta_key ? bad_meta_key : NFT_META_L4PROTO) &&
					       nft_cmp(r, NFT_CMP_EQ, &v, 1) && nft_verdict(r, NF_ACCEPT)),
			 0);
	ck_assert_int_eq(nft_batch_begin_end(nb, false), 0);
}

/* The offset, from the start of message seq, of something inside the rule's expression idx (1-based). */
static uint32_t offset_in_expression(const struct nft_batch *nb, uint32_t seq, unsigned idx)
{
	const struct nlmsghdr *nlh = (const void *)nb->buf;
	int rem = (int)nb->len;

	for (; mnl_nlmsg_ok(nlh, rem); nlh = mnl_nlmsg_next(nlh, &rem)) {
		const struct nlattr *a, *e;
		unsigned i = 0;

		if (nlh->nlmsg_seq != seq)
			continue;
		mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
			if (mnl_attr_get_type(a) != NFTA_RULE_EXPRESSIONS)
				continue;
			mnl_attr_for_each_nested(e, a)
				if (++i == idx)
					return (uint32_t)((const char *)e - (const char *)nlh) + 4;
		}
	}
	ck_abort_msg("no expression %u in message %u", idx, seq);
	return 0;
}

START_TEST(each_message_described)
{
	struct nft_batch nb;
	uint32_t rs;
	char out[384];

	build(&nb, &rs, 0);
	ck_assert(nft_describe_refused(nb.buf, nb.len, rs - 2, UINT32_MAX, out, sizeof(out)));
	ck_assert_str_eq(out, "adding table inet cvpn");
	ck_assert(nft_describe_refused(nb.buf, nb.len, rs - 1, UINT32_MAX, out, sizeof(out)));
	ck_assert_str_eq(out, "adding chain fwd to table inet cvpn");
	ck_assert(nft_describe_refused(nb.buf, nb.len, rs, UINT32_MAX, out, sizeof(out)));
	ck_assert_str_eq(out, "adding rule \"allow web\" to chain fwd of table inet cvpn");
	/* the kernel points into the second expression */
	ck_assert(nft_describe_refused(nb.buf, nb.len, rs, offset_in_expression(&nb, rs, 2), out, sizeof(out)));
	ck_assert_str_eq(out, "adding rule \"allow web\" to chain fwd of table inet cvpn, its expression 2 of 3 (\"cmp\")");
	/* the batch's own begin: not an nftables message */
	ck_assert(nft_describe_refused(nb.buf, nb.len, rs - 3, UINT32_MAX, out, sizeof(out)));
	ck_assert_str_eq(out, "a message of type 0x10");
	/* a number the batch does not hold */
	strcpy(out, "stale");
	ck_assert(!nft_describe_refused(nb.buf, nb.len, rs + 7, UINT32_MAX, out, sizeof(out)));
	ck_assert_str_eq(out, "");
	/* a small buffer is cut, not overrun */
	ck_assert(nft_describe_refused(nb.buf, nb.len, rs, UINT32_MAX, out, 12));
	ck_assert_str_eq(out, "adding rule");
	nft_batch_free(&nb);
}
END_TEST

/* Every shorter batch, each on the heap at its exact length: ASan sees any read past the end. */
START_TEST(truncated_batches_read_nothing_past_their_end)
{
	struct nft_batch nb;
	uint32_t rs;
	char out[384];

	build(&nb, &rs, 0);
	for (size_t cut = 0; cut <= nb.len; cut++) {
		char *copy = malloc(cut ? cut : 1);

		ck_assert_ptr_nonnull(copy);
		memcpy(copy, nb.buf, cut);
		nft_describe_refused(copy, cut, rs, offset_in_expression(&nb, rs, 3), out, sizeof(out));
		ck_assert_uint_lt(strlen(out), sizeof(out));
		free(copy);
	}
	nft_batch_free(&nb);
}
END_TEST

/* The real kernel refuses a meta expression with a key it does not know: the error line can say which rule
 * and which of its expressions, and nothing of the batch stays. */
START_TEST(kernel_refusal_named)
{
	struct nft_batch nb;
	uint32_t rs;

	netns_enter();
	nft_socket_close();
	build(&nb, &rs, 0xfff0);
	ck_assert_int_eq(nft_batch_talk(&nb), -ERANGE); /* over the key attribute's policy maximum */
	ck_assert_msg(strstr(nft_refusal(), " (while adding rule \"allow web\" to chain fwd of table inet cvpn, its "
					    "expression 1 of 3 (\"meta\")") == nft_refusal(),
		      "refusal: '%s'", nft_refusal());
	nft_batch_free(&nb);
	ck_assert_int_eq(nft_delete_table(), 0); /* it never went in: nothing to delete */

	/* the good batch goes in and leaves no refusal behind */
	build(&nb, &rs, 0);
	ck_assert_int_eq(nft_batch_talk(&nb), 0);
	ck_assert_str_eq(nft_refusal(), "");
	nft_batch_free(&nb);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("nft_refusal");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, each_message_described);
	tcase_add_test(tc, truncated_batches_read_nothing_past_their_end);
	tcase_add_test(tc, kernel_refusal_named);
	suite_add_tcase(su, tc);
	return check_run(su);
}
