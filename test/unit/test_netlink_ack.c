// SPDX-License-Identifier: GPL-2.0-or-later
/* netlink_ack.c: the kernel's text in an extended ack, from acks built here the way the kernel lays them
 * out (netlink_ack in net/netlink/af_netlink.c): struct nlmsgerr, the request echoed unless capped, then
 * attributes. Every buffer is on the heap at its exact length, so AddressSanitizer sees any read past it. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>

#include "cvpn/netlink_ack.h"

#include "check_run.h"

#define REQ_PAYLOAD 24 /* the echoed request's payload, when not capped */

/* An error ack for a request with REQ_PAYLOAD bytes of payload: echoed unless capped, then, when msg is not
 * NULL, an NLMSGERR_ATTR_OFFS and the NLMSGERR_ATTR_MSG (so the message is not the first attribute). The
 * caller frees the result; *len is its exact size. */
static struct nlmsghdr *make_ack(bool capped, const char *msg, size_t *len)
{
	char tmp[1024];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(tmp), *copy;
	struct nlmsgerr *e;

	memset(tmp, 0, sizeof(tmp));
	nlh = mnl_nlmsg_put_header(tmp);
	nlh->nlmsg_type = NLMSG_ERROR;
	nlh->nlmsg_flags = (uint16_t)((capped ? NLM_F_CAPPED : 0) | (msg ? NLM_F_ACK_TLVS : 0));
	e = mnl_nlmsg_put_extra_header(nlh, sizeof(*e) + (capped ? 0 : REQ_PAYLOAD));
	e->error = -22;
	e->msg.nlmsg_len = NLMSG_HDRLEN + (capped ? 0 : REQ_PAYLOAD);
	e->msg.nlmsg_type = 0x1234;
	if (msg) {
		mnl_attr_put_u32(nlh, NLMSGERR_ATTR_OFFS, 20);
		mnl_attr_put_strz(nlh, NLMSGERR_ATTR_MSG, msg);
	}
	*len = nlh->nlmsg_len;
	copy = malloc(*len);
	ck_assert_ptr_nonnull(copy);
	memcpy(copy, tmp, *len);
	return copy;
}

START_TEST(message_from_capped_and_echoing_acks)
{
	char out[NETLINK_ACK_MSG_MAX];
	size_t len;

	for (int capped = 0; capped < 2; capped++) {
		struct nlmsghdr *nlh = make_ack(capped, "missing attribute: OVPN_A_PEER_ID", &len);

		ck_assert_uint_eq(netlink_ack_message(nlh, out, sizeof(out)), strlen("missing attribute: OVPN_A_PEER_ID"));
		ck_assert_str_eq(out, "missing attribute: OVPN_A_PEER_ID");
		free(nlh);
	}
}
END_TEST

START_TEST(no_message_without_ack_tlvs)
{
	char out[NETLINK_ACK_MSG_MAX] = "stale";
	size_t len;
	struct nlmsghdr *nlh = make_ack(true, NULL, &len);

	ck_assert_uint_eq(netlink_ack_message(nlh, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "");
	free(nlh);
	/* the attributes are there but the flag is not: they are not read */
	nlh = make_ack(true, "ignored", &len);
	nlh->nlmsg_flags &= (uint16_t)~NLM_F_ACK_TLVS;
	ck_assert_uint_eq(netlink_ack_message(nlh, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "");
	free(nlh);
}
END_TEST

START_TEST(not_an_error_ack)
{
	char out[NETLINK_ACK_MSG_MAX];
	size_t len;
	struct nlmsghdr *nlh = make_ack(true, "text", &len);

	nlh->nlmsg_type = NLMSG_DONE;
	ck_assert_uint_eq(netlink_ack_message(nlh, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "");
	free(nlh);
}
END_TEST

START_TEST(long_message_cut_and_unprintable_replaced)
{
	char out[8];
	size_t len;
	struct nlmsghdr *nlh = make_ack(false, "ab\ncd\x7f" "efghijkl", &len);

	ck_assert_uint_eq(netlink_ack_message(nlh, out, sizeof(out)), 7);
	ck_assert_str_eq(out, "ab?cd?e");
	ck_assert_uint_eq(netlink_ack_message(nlh, out, 1), 0);
	ck_assert_str_eq(out, "");
	free(nlh);
}
END_TEST

START_TEST(bad_attribute_offset)
{
	uint32_t off = 7;
	size_t len;

	for (int capped = 0; capped < 2; capped++) {
		struct nlmsghdr *nlh = make_ack(capped, "text", &len);

		ck_assert(netlink_ack_bad_attr(nlh, &off));
		ck_assert_uint_eq(off, 20);
		free(nlh);
	}
	/* no attributes, or the flag that says there are none: nothing, and *offset untouched */
	{
		struct nlmsghdr *nlh = make_ack(true, NULL, &len);

		off = 7;
		ck_assert(!netlink_ack_bad_attr(nlh, &off));
		ck_assert_uint_eq(off, 7);
		free(nlh);
		nlh = make_ack(true, "text", &len);
		nlh->nlmsg_flags &= (uint16_t)~NLM_F_ACK_TLVS;
		ck_assert(!netlink_ack_bad_attr(nlh, &off));
		ck_assert_uint_eq(off, 7);
		free(nlh);
	}
}
END_TEST

START_TEST(malformed_acks_give_nothing)
{
	char out[NETLINK_ACK_MSG_MAX];
	size_t len;
	struct nlmsghdr *nlh = make_ack(false, "text", &len);

	/* an echo that claims more than the ack holds */
	((struct nlmsgerr *)mnl_nlmsg_get_payload(nlh))->msg.nlmsg_len = (uint32_t)len;
	ck_assert_uint_eq(netlink_ack_message(nlh, out, sizeof(out)), 0);
	/* an echo shorter than a header */
	((struct nlmsgerr *)mnl_nlmsg_get_payload(nlh))->msg.nlmsg_len = 3;
	ck_assert_uint_eq(netlink_ack_message(nlh, out, sizeof(out)), 0);
	free(nlh);

	/* the message attribute without its NUL: the string is cut one byte short and validation fails */
	nlh = make_ack(true, "abc", &len);
	{
		struct nlattr *a, *msg = NULL;

		mnl_attr_for_each(a, nlh, sizeof(struct nlmsgerr))
			if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG)
				msg = a;
		ck_assert_ptr_nonnull(msg);
		((char *)mnl_attr_get_payload(msg))[3] = 'd';
	}
	ck_assert_uint_eq(netlink_ack_message(nlh, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "");
	free(nlh);

	/* every length shorter than the ack (a truncated receive): no read past nlmsg_len */
	nlh = make_ack(false, "a kernel message", &len);
	for (size_t cut = 0; cut < len; cut++) {
		struct nlmsghdr *t = malloc(cut < sizeof(*t) ? sizeof(*t) : cut);

		ck_assert_ptr_nonnull(t);
		memcpy(t, nlh, cut < sizeof(*t) ? sizeof(*t) : cut);
		t->nlmsg_len = (uint32_t)cut;
		uint32_t off;

		netlink_ack_message(t, out, sizeof(out)); /* any result; ASan checks the reads */
		netlink_ack_bad_attr(t, &off);
		ck_assert_uint_lt(strlen(out), sizeof(out));
		free(t);
	}
	free(nlh);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("netlink_ack");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, message_from_capped_and_echoing_acks);
	tcase_add_test(tc, no_message_without_ack_tlvs);
	tcase_add_test(tc, not_an_error_ack);
	tcase_add_test(tc, long_message_cut_and_unprintable_replaced);
	tcase_add_test(tc, bad_attribute_offset);
	tcase_add_test(tc, malformed_acks_give_nothing);
	suite_add_tcase(su, tc);
	return check_run(su);
}
