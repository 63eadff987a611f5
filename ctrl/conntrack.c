// SPDX-License-Identifier: GPL-2.0-or-later
/* Conntrack over ctnetlink (libmnl): dump, pick one client's flows, delete them by their original tuple. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include "cvpn/conntrack.h"

/* CTA_FILTER's flags (the kernel's CTA_FILTER_F_*, not in the uapi headers; Linux 5.8+): compare only the
 * original tuple's source, or destination, address. An older kernel ignores the filter and dumps every
 * entry; on_entry picks the same ones either way. */
#define CT_FILTER_IP_SRC (1u << 0)
#define CT_FILTER_IP_DST (1u << 1)

struct tuple {
	uint16_t len;
	uint8_t data[256];
};

struct dump_ctx {
	uint32_t addr_be, mask_be;
	uint16_t which;            /* CTA_IP_V4_SRC or CTA_IP_V4_DST */
	const uint32_t *set;       /* or: sorted addresses (host order), either end of the original tuple */
	size_t set_len;
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

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static bool in_set(const struct dump_ctx *d, const struct nlattr *ip, uint16_t type)
{
	const struct nlattr *a;
	uint32_t v;

	if (nested_attr(ip, type, &a) < 0 || mnl_attr_get_payload_len(a) != 4)
		return false;
	memcpy(&v, mnl_attr_get_payload(a), 4);
	v = ntohl(v);
	return bsearch(&v, d->set, d->set_len, sizeof(v), cmp_u32) != NULL;
}

static int on_entry(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *d = data;
	const struct nlattr *a, *orig = NULL, *ip, *addr;
	uint32_t v;

	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg))
		if (mnl_attr_get_type(a) == CTA_TUPLE_ORIG)
			orig = a;
	if (!orig || nested_attr(orig, CTA_TUPLE_IP, &ip) < 0)
		return MNL_CB_OK;
	if (d->set) {
		if ((in_set(d, ip, CTA_IP_V4_SRC) || in_set(d, ip, CTA_IP_V4_DST)) && d->n < CT_MAX_FLUSH &&
		    orig->nla_len <= sizeof(d->tuples[0].data)) {
			d->tuples[d->n].len = orig->nla_len;
			memcpy(d->tuples[d->n].data, orig, orig->nla_len);
			d->n++;
		}
		return MNL_CB_OK;
	}
	if (nested_attr(ip, d->which, &addr) < 0 ||
	    mnl_attr_get_payload_len(addr) != 4)
		return MNL_CB_OK;
	memcpy(&v, mnl_attr_get_payload(addr), 4);
	if ((v & d->mask_be) != d->addr_be || d->n >= CT_MAX_FLUSH || orig->nla_len > sizeof(d->tuples[0].data))
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

/* Deletes the entries whose original source (dst: destination) address is in addr/prefix_len; an exact
 * address is also filtered by the kernel. */
static int ct_flush(uint32_t addr, unsigned prefix_len, bool by_dst, const uint32_t *set, size_t set_len)
{
	char *buf = malloc(MNL_SOCKET_BUFFER_SIZE);
	uint32_t mask = prefix_len ? ~0u << (32 - prefix_len) : 0;
	struct dump_ctx d = { htonl(addr & mask), htonl(mask), by_dst ? CTA_IP_V4_DST : CTA_IP_V4_SRC, set, set_len,
			      calloc(CT_MAX_FLUSH, sizeof(struct tuple)), 0 };
	struct nlmsghdr *req;
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
	req = ct_msg(buf, IPCTNL_MSG_CT_GET, NLM_F_DUMP, seq);
	if (!set && prefix_len == 32) {
		struct nlattr *t = mnl_attr_nest_start(req, CTA_TUPLE_ORIG), *i = mnl_attr_nest_start(req, CTA_TUPLE_IP);
		struct nlattr *f;

		mnl_attr_put(req, d.which, 4, &d.addr_be);
		mnl_attr_nest_end(req, i);
		mnl_attr_nest_end(req, t);
		f = mnl_attr_nest_start(req, CTA_FILTER);
		mnl_attr_put_u32(req, CTA_FILTER_ORIG_FLAGS, by_dst ? CT_FILTER_IP_DST : CT_FILTER_IP_SRC);
		mnl_attr_put_u32(req, CTA_FILTER_REPLY_FLAGS, 0);
		mnl_attr_nest_end(req, f);
	}
	if (mnl_socket_sendto(nl, buf, req->nlmsg_len) < 0) {
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

int ct_flush_source(uint32_t addr) { return ct_flush(addr, 32, false, NULL, 0); }
int ct_flush_destination(uint32_t addr) { return ct_flush(addr, 32, true, NULL, 0); }
int ct_flush_source_net(uint32_t net, unsigned prefix_len)
{
	return prefix_len <= 32 ? ct_flush(net, prefix_len, false, NULL, 0) : -EINVAL;
}

int ct_flush_addresses(const uint32_t *addrs, size_t n)
{
	uint32_t *sorted;
	int ret;

	if (n == 0)
		return 0;
	sorted = malloc(n * sizeof(*sorted));
	if (!sorted)
		return -ENOMEM;
	memcpy(sorted, addrs, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), cmp_u32);
	ret = ct_flush(0, 0, false, sorted, n);
	free(sorted);
	return ret;
}
