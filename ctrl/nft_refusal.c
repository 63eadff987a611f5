// SPDX-License-Identifier: GPL-2.0-or-later
/* Which message of a batch the kernel refused, in an operator's words. A refused batch of 3,000 messages
 * answers with one errno, "No such file or directory" say; the operator needs to know that it was the rule
 * "security group web: tcp 443" and, when the kernel points at it, its fourth expression, "fib" (a module
 * this kernel lacks). The batch is still in memory: find the message by its sequence number and read it
 * back. Every message was built here, but each length is checked all the same. */
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <stdio.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <libnftnl/udata.h>

#include "nft_int.h"

#define ATTR_SLOTS 32 /* above every NFTA_{TABLE,CHAIN,RULE,SET,SET_ELEM_LIST}_ attribute we read */

struct attrs {
	const struct nlattr *tb[ATTR_SLOTS];
};

static int keep_attr(const struct nlattr *a, void *data)
{
	struct attrs *at = data;
	uint16_t type = mnl_attr_get_type(a);

	if (type < ATTR_SLOTS)
		at->tb[type] = a;
	return MNL_CB_OK;
}

/* The NUL-terminated string attribute of this type, or "?" */
static const char *str_attr(const struct attrs *at, uint16_t type)
{
	const struct nlattr *a = at->tb[type];

	if (!a || mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0)
		return "?";
	return mnl_attr_get_str(a);
}

static const char *family_name(uint8_t family)
{
	switch (family) {
	case NFPROTO_INET: return "inet";
	case NFPROTO_IPV4: return "ip";
	case NFPROTO_IPV6: return "ip6";
	case NFPROTO_BRIDGE: return "bridge";
	case NFPROTO_NETDEV: return "netdev";
	case NFPROTO_ARP: return "arp";
	default: return "?";
	}
}

/* The comment of a rule's userdata (NFTNL_UDATA_RULE_COMMENT TLV: type byte, length byte, value), or NULL */
static const char *rule_comment(const struct attrs *at, char *out, size_t cap)
{
	const struct nlattr *a = at->tb[NFTA_RULE_USERDATA];
	const uint8_t *p, *end;

	if (!a)
		return NULL;
	p = mnl_attr_get_payload(a);
	end = p + mnl_attr_get_payload_len(a);
	while (end - p >= 2 && end - p - 2 >= p[1]) {
		if (p[0] == NFTNL_UDATA_RULE_COMMENT && p[1] > 0) {
			size_t n = strnlen((const char *)p + 2, p[1]);

			snprintf(out, cap, "%.*s", (int)n, (const char *)p + 2);
			return out;
		}
		p += 2 + p[1];
	}
	return NULL;
}

/* ", its expression I of N (\"name\")" when bad_attr (an offset from nlh) lies inside one of the rule's
 * expressions; else "". */
static void blamed_expression(const struct nlmsghdr *nlh, const struct attrs *at, uint32_t bad_attr, char *out,
			      size_t cap)
{
	const struct nlattr *list = at->tb[NFTA_RULE_EXPRESSIONS], *elem;
	unsigned idx = 0, blamed = 0, total = 0;
	const char *name = "?";

	out[0] = '\0';
	if (!list || mnl_attr_validate(list, MNL_TYPE_NESTED) < 0)
		return;
	mnl_attr_for_each_nested(elem, list) {
		size_t off = (size_t)((const char *)elem - (const char *)nlh);

		idx++;
		if (bad_attr >= off && bad_attr < off + elem->nla_len) {
			const struct nlattr *a;

			blamed = idx;
			mnl_attr_for_each_nested(a, elem)
				if (mnl_attr_get_type(a) == NFTA_EXPR_NAME &&
				    mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
					name = mnl_attr_get_str(a);
		}
	}
	total = idx;
	if (blamed)
		snprintf(out, cap, ", its expression %u of %u (\"%s\")", blamed, total, name);
}

/* What one message does, e.g. `adding rule "x" to chain fwd of table inet cvpn, its expression 2 of 5 ("fib")` */
static void describe_message(const struct nlmsghdr *nlh, uint32_t bad_attr, char *out, size_t cap)
{
	const struct nfgenmsg *g = mnl_nlmsg_get_payload(nlh);
	struct attrs at = { 0 };
	char comment[NFT_USERDATA_MAXLEN], expr[96];
	const char *fam, *c;
	uint16_t type = nlh->nlmsg_type & 0xff;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*g) ||
	    mnl_attr_parse(nlh, sizeof(*g), keep_attr, &at) < 0 || (nlh->nlmsg_type >> 8) != NFNL_SUBSYS_NFTABLES) {
		snprintf(out, cap, "a message of type %#x", nlh->nlmsg_type);
		return;
	}
	fam = family_name(g->nfgen_family);
	switch (type) {
	case NFT_MSG_NEWTABLE:
	case NFT_MSG_DELTABLE:
		snprintf(out, cap, "%s table %s %s", type == NFT_MSG_NEWTABLE ? "adding" : "removing", fam,
			 str_attr(&at, NFTA_TABLE_NAME));
		break;
	case NFT_MSG_NEWCHAIN:
	case NFT_MSG_DELCHAIN:
		snprintf(out, cap, "%s chain %s %s table %s %s", type == NFT_MSG_NEWCHAIN ? "adding" : "removing",
			 str_attr(&at, NFTA_CHAIN_NAME), type == NFT_MSG_NEWCHAIN ? "to" : "from", fam,
			 str_attr(&at, NFTA_CHAIN_TABLE));
		break;
	case NFT_MSG_NEWRULE:
	case NFT_MSG_DELRULE:
		c = rule_comment(&at, comment, sizeof(comment));
		blamed_expression(nlh, &at, bad_attr, expr, sizeof(expr));
		snprintf(out, cap, "%s rule%s%s%s %s chain %s of table %s %s%s",
			 type == NFT_MSG_NEWRULE ? "adding" : "removing", c ? " \"" : "", c ? c : "", c ? "\"" : "",
			 type == NFT_MSG_NEWRULE ? "to" : "from", str_attr(&at, NFTA_RULE_CHAIN), fam,
			 str_attr(&at, NFTA_RULE_TABLE), expr);
		break;
	case NFT_MSG_NEWSET:
	case NFT_MSG_DELSET:
		snprintf(out, cap, "%s set %s %s table %s %s", type == NFT_MSG_NEWSET ? "adding" : "removing",
			 str_attr(&at, NFTA_SET_NAME), type == NFT_MSG_NEWSET ? "to" : "from", fam,
			 str_attr(&at, NFTA_SET_TABLE));
		break;
	case NFT_MSG_NEWSETELEM:
	case NFT_MSG_DELSETELEM:
		snprintf(out, cap, "%s set %s of table %s %s",
			 type == NFT_MSG_NEWSETELEM ? "adding elements to" : "removing elements from",
			 str_attr(&at, NFTA_SET_ELEM_LIST_SET), fam, str_attr(&at, NFTA_SET_ELEM_LIST_TABLE));
		break;
	default:
		snprintf(out, cap, "an nftables message of type %u", type);
		break;
	}
}

bool nft_describe_refused(const void *batch, size_t len, uint32_t seq, uint32_t bad_attr, char *out, size_t cap)
{
	const struct nlmsghdr *nlh = batch;
	int rem = len > INT32_MAX ? INT32_MAX : (int)len;

	if (cap)
		out[0] = '\0';
	if (cap == 0)
		return false;
	for (; mnl_nlmsg_ok(nlh, rem); nlh = mnl_nlmsg_next(nlh, &rem))
		if (nlh->nlmsg_seq == seq) {
			describe_message(nlh, bad_attr, out, cap);
			return true;
		}
	return false;
}
