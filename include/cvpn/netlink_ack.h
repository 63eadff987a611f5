/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The kernel's reason in a netlink error ack (extended acks, NETLINK_EXT_ACK): "missing attribute" or
 * "cannot set keepalive" says more to an operator than the errno alone. */
#ifndef CVPN_NETLINK_ACK_H
#define CVPN_NETLINK_ACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <linux/netlink.h>

#define NETLINK_ACK_MSG_MAX 160 /* room for a kernel message, with its NUL */

/* Copies the text of nlh's NLMSGERR_ATTR_MSG into out (cap bytes, NUL-terminated; what is not printable
 * ASCII becomes '?', and a longer text is cut) and returns its length, or 0 with out = "" when nlh is not
 * an error ack, carries no message, or is malformed. Reads nothing beyond nlh->nlmsg_len, which must not
 * exceed what the caller received. */
size_t netlink_ack_message(const struct nlmsghdr *nlh, char *out, size_t cap);
/* The offset of the request's attribute the kernel blamed (NLMSGERR_ATTR_OFFS: bytes from the start of the
 * request's nlmsghdr) in *offset; false when nlh names none or is malformed, as above. */
bool netlink_ack_bad_attr(const struct nlmsghdr *nlh, uint32_t *offset);

#endif
