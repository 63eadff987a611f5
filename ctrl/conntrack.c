// SPDX-License-Identifier: GPL-2.0-or-later
/* Conntrack over ctnetlink (libmnl): dump, pick one client's flows, delete them by their original tuple. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include "cvpn/conntrack.h"

#define CT_MAX_FLUSH 4096 /* one client's flows; more are left to time out */

struct tuple {
	uint16_t len;
	uint8_t data[256];
};

struct dump_ctx {
	uint32_t addr_be;
	struct tuple *tuples;
	size_t n;
};

static int nested_attr(const struct nlattr *nest, uint16_t type, const struct nlattr **out)
{
	const struct nlattr *a;

	mnl_attr_for_each_nested(a, nest)
		if (mnl_attr_get_type(a) == type) {
			*out = a;
			return 0;
		}
	return -1;
}

static int on_entry(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *d = data;
	const struct nlattr *a, *orig = NULL, *ip, *src;

	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg))
		if (mnl_attr_get_type(a) == CTA_TUPLE_ORIG)
			orig = a;
	if (!orig || nested_attr(orig, CTA_TUPLE_IP, &ip) < 0 || nested_attr(ip, CTA_IP_V4_SRC, &src) < 0 ||
	    mnl_attr_get_payload_len(src) != 4)
		return MNL_CB_OK;
	if (memcmp(mnl_attr_get_payload(src), &d->addr_be, 4) != 0 || d->n >= CT_MAX_FLUSH ||
	    orig->nla_len > sizeof(d->tuples[0].data))
		return MNL_CB_OK;
	d->tuples[d->n].len = orig->nla_len;
	memcpy(d->tuples[d->n].data, orig, orig->nla_len);
	d->n++;
	return MNL_CB_OK;
}

static struct nlmsghdr *ct_msg(char *buf, uint8_t type, uint16_t flags, uint32_t seq)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfg;

	nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | type;
	nlh->nlmsg_flags = NLM_F_REQUEST | flags;
	nlh->nlmsg_seq = seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = AF_INET;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;
	return nlh;
}

int ct_flush_source(uint32_t addr)
{
	char *buf = malloc(MNL_SOCKET_BUFFER_SIZE);
	struct dump_ctx d = { htonl(addr), calloc(CT_MAX_FLUSH, sizeof(struct tuple)), 0 };
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	uint32_t seq = (uint32_t)time(NULL), portid;
	int ret = -ENOMEM, deleted = 0;
	ssize_t n;

	if (!buf || !d.tuples || !nl) {
		ret = nl ? -ENOMEM : -errno;
		goto out;
	}
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		goto out;
	}
	portid = mnl_socket_get_portid(nl);
	ct_msg(buf, IPCTNL_MSG_CT_GET, NLM_F_DUMP, seq);
	if (mnl_socket_sendto(nl, buf, ((struct nlmsghdr *)buf)->nlmsg_len) < 0) {
		ret = -errno;
		goto out;
	}
	while ((n = mnl_socket_recvfrom(nl, buf, MNL_SOCKET_BUFFER_SIZE)) > 0) {
		int r = mnl_cb_run(buf, (size_t)n, seq, portid, on_entry, &d);

		if (r == MNL_CB_STOP)
			break;
		if (r < 0) {
			ret = -errno;
			goto out;
		}
	}
	/* deletes one by one, each acknowledged; an entry that timed out meanwhile is ENOENT, and fine */
	for (size_t i = 0; i < d.n; i++) {
		struct nlmsghdr *nlh = ct_msg(buf, IPCTNL_MSG_CT_DELETE, NLM_F_ACK, ++seq);
		void *dst = mnl_nlmsg_put_extra_header(nlh, MNL_ALIGN(d.tuples[i].len));

		memcpy(dst, d.tuples[i].data, d.tuples[i].len);
		if (mnl_socket_sendto(nl, buf, nlh->nlmsg_len) < 0) {
			ret = -errno;
			goto out;
		}
		n = mnl_socket_recvfrom(nl, buf, MNL_SOCKET_BUFFER_SIZE);
		if (n < 0) {
			ret = -errno;
			goto out;
		}
		if (mnl_cb_run(buf, (size_t)n, seq, portid, NULL, NULL) >= 0)
			deleted++;
		else if (errno != ENOENT) {
			ret = -errno;
			goto out;
		}
	}
	ret = deleted;
out:
	if (nl)
		mnl_socket_close(nl);
	free(d.tuples);
	free(buf);
	return ret;
}
