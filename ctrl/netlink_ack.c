// SPDX-License-Identifier: GPL-2.0-or-later
/* Extended acks (linux/netlink.h): an NLMSG_ERROR whose flags hold NLM_F_ACK_TLVS has attributes after
 * struct nlmsgerr, and, unless NLM_F_CAPPED, after the echoed request's payload too. */
#include <string.h>

#include <libmnl/libmnl.h>

#include "cvpn/netlink_ack.h"

/* The ack's attribute of this type, or NULL when nlh is not an error ack with attributes, is malformed, or
 * has none of that type. */
static const struct nlattr *ack_attr(const struct nlmsghdr *nlh, uint16_t type)
{
	const struct nlmsgerr *e;
	const struct nlattr *a;
	size_t payload, offset;

	if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(*e) || nlh->nlmsg_type != NLMSG_ERROR ||
	    !(nlh->nlmsg_flags & NLM_F_ACK_TLVS) || nlh->nlmsg_len != MNL_ALIGN(nlh->nlmsg_len))
		return NULL; /* unaligned: libmnl's attribute walk would look up to 3 bytes past the end */
	e = mnl_nlmsg_get_payload(nlh);
	payload = mnl_nlmsg_get_payload_len(nlh);
	offset = sizeof(*e);
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) {
		if (e->msg.nlmsg_len < NLMSG_HDRLEN || e->msg.nlmsg_len - NLMSG_HDRLEN > payload - offset)
			return NULL; /* an echo longer than the ack holds */
		offset += e->msg.nlmsg_len - NLMSG_HDRLEN;
	}
	if (MNL_ALIGN(offset) > payload)
		return NULL;
	mnl_attr_for_each(a, nlh, offset)
		if (mnl_attr_get_type(a) == type)
			return a;
	return NULL;
}

size_t netlink_ack_message(const struct nlmsghdr *nlh, char *out, size_t cap)
{
	const struct nlattr *a;
	size_t len, n;

	if (cap == 0)
		return 0;
	out[0] = '\0';
	a = ack_attr(nlh, NLMSGERR_ATTR_MSG);
	if (!a || mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0)
		return 0;
	len = strnlen(mnl_attr_get_str(a), mnl_attr_get_payload_len(a));
	for (n = 0; n < len && n + 1 < cap; n++) {
		char c = mnl_attr_get_str(a)[n];

		out[n] = c >= 0x20 && c < 0x7f ? c : '?';
	}
	out[n] = '\0';
	return n;
}

bool netlink_ack_bad_attr(const struct nlmsghdr *nlh, uint32_t *offset)
{
	const struct nlattr *a = ack_attr(nlh, NLMSGERR_ATTR_OFFS);

	if (!a || mnl_attr_validate(a, MNL_TYPE_U32) < 0)
		return false;
	*offset = mnl_attr_get_u32(a);
	return true;
}
