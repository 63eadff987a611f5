// SPDX-License-Identifier: GPL-2.0-or-later
/* Extended acks (linux/netlink.h): an NLMSG_ERROR whose flags hold NLM_F_ACK_TLVS has attributes after
 * struct nlmsgerr, and, unless NLM_F_CAPPED, after the echoed request's payload too. */
#include <string.h>

#include <libmnl/libmnl.h>

#include "cvpn/netlink_ack.h"

size_t netlink_ack_message(const struct nlmsghdr *nlh, char *out, size_t cap)
{
	const struct nlmsgerr *e;
	const struct nlattr *a;
	size_t payload, offset, n = 0;

	if (cap == 0)
		return 0;
	out[0] = '\0';
	if (nlh->nlmsg_len < NLMSG_HDRLEN + sizeof(*e) || nlh->nlmsg_type != NLMSG_ERROR ||
	    !(nlh->nlmsg_flags & NLM_F_ACK_TLVS) || nlh->nlmsg_len != MNL_ALIGN(nlh->nlmsg_len))
		return 0; /* unaligned: libmnl's attribute walk would look up to 3 bytes past the end */
	e = mnl_nlmsg_get_payload(nlh);
	payload = mnl_nlmsg_get_payload_len(nlh);
	offset = sizeof(*e);
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) {
		if (e->msg.nlmsg_len < NLMSG_HDRLEN || e->msg.nlmsg_len - NLMSG_HDRLEN > payload - offset)
			return 0; /* an echo longer than the ack holds */
		offset += e->msg.nlmsg_len - NLMSG_HDRLEN;
	}
	if (MNL_ALIGN(offset) > payload)
		return 0;
	mnl_attr_for_each(a, nlh, offset) {
		if (mnl_attr_get_type(a) != NLMSGERR_ATTR_MSG || mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0)
			continue;
		const char *text = mnl_attr_get_str(a);
		size_t len = strnlen(text, mnl_attr_get_payload_len(a));

		for (n = 0; n < len && n + 1 < cap; n++)
			out[n] = text[n] >= 0x20 && text[n] < 0x7f ? text[n] : '?';
		out[n] = '\0';
		break;
	}
	return n;
}
