// SPDX-License-Identifier: GPL-2.0-or-later
/* The kernel's OpenVPN data channel over generic netlink (dco.h): the talking, the interface, and the
 * choice of dialect (dco_int.h): the upstream ovpn module where the kernel has it, else ovpn-dco-v2. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/genetlink.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include "cvpn/netlink_ack.h"
#include "dco_int.h"

#define DCO_GROUP_PEERS "peers"
/* IFLA_INFO_DATA of both link kinds: the mode, multi-peer */
enum { IFLA_DCO_MODE = 1 };
enum { MODE_MULTI_PEER = 1 };

/* Preferred first: the upstream module is the one a current kernel carries and its float waits for an
 * authenticated packet; ovpn-dco-v2 is what Debian 12 has. */
static const struct dco_dialect *const dialects[] = { &dco_dialect_ovpn, &dco_dialect_v2 };
#define N_DIALECTS (sizeof(dialects) / sizeof(dialects[0]))

struct dco {
	const struct dco_dialect *dialect;
	struct mnl_socket *nl;     /* requests */
	struct mnl_socket *events; /* the "peers" multicast group */
	uint16_t family;
	uint32_t seq;
	int ifindex;
	char ifname[IF_NAMESIZE];
	char kernel_msg[NETLINK_ACK_MSG_MAX]; /* the kernel's reason for the last refused operation, or "" */
	bool attached;             /* dco_attach: the interface is someone else's, dco_close leaves it */
};

struct talk_ctx {
	mnl_cb_t cb;
	void *arg;
	char *msg; /* NETLINK_ACK_MSG_MAX bytes, or NULL */
};

static int talk_data(const struct nlmsghdr *nlh, void *data)
{
	const struct talk_ctx *t = data;

	return t->cb ? t->cb(nlh, t->arg) : MNL_CB_OK;
}

/* libmnl's own handling of an ack (0: stop; an error: errno), and the kernel's text with a refusal */
static int talk_ack(const struct nlmsghdr *nlh, void *data)
{
	const struct talk_ctx *t = data;
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e))) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	if (e->error == 0)
		return MNL_CB_STOP;
	if (t->msg)
		netlink_ack_message(nlh, t->msg, NETLINK_ACK_MSG_MAX);
	errno = e->error < 0 ? -e->error : e->error;
	return MNL_CB_ERROR;
}

/* One request, its answer through cb (may be NULL), and the kernel's ack: 0 or -errno; with a refusal the
 * kernel's reason, when it gave one, goes to msg (NETLINK_ACK_MSG_MAX bytes; may be NULL). */
static int talk(struct mnl_socket *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *arg, char *msg)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	/* up to NLMSG_ERROR only: NLMSG_DONE, which ends a dump, keeps libmnl's handler */
	mnl_cb_t ctl[NLMSG_ERROR + 1] = { [NLMSG_ERROR] = talk_ack };
	struct talk_ctx t = { .cb = cb, .arg = arg, .msg = msg };
	uint32_t portid = mnl_socket_get_portid(nl);
	uint32_t seq = nlh->nlmsg_seq;
	ssize_t n;
	int ret;

	if (msg)
		msg[0] = '\0';
	nlh->nlmsg_flags |= NLM_F_ACK;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	do {
		n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0)
			return -errno;
		ret = mnl_cb_run2(buf, (size_t)n, seq, portid, talk_data, &t, ctl, NLMSG_ERROR + 1);
	} while (ret == MNL_CB_OK);
	ret = ret < 0 ? -errno : 0;
	explicit_bzero(buf, sizeof(buf)); /* an error reply may echo a request, and a request may hold keys */
	return ret;
}

static struct mnl_socket *open_nl(int bus)
{
	struct mnl_socket *nl = mnl_socket_open2(bus, SOCK_CLOEXEC);

	if (!nl)
		return NULL;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		int err = errno;

		mnl_socket_close(nl);
		errno = err;
		return NULL;
	}
	return nl;
}

struct family_answer {
	uint16_t id;
	uint32_t peers_group; /* 0: none */
};

static int family_group(const struct nlattr *groups, struct family_answer *fa)
{
	const struct nlattr *g, *a;

	mnl_attr_for_each_nested(g, groups) {
		const char *name = NULL;
		uint32_t id = 0;

		mnl_attr_for_each_nested(a, g) {
			if (mnl_attr_get_type(a) == CTRL_ATTR_MCAST_GRP_NAME &&
			    mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
				name = mnl_attr_get_str(a);
			else if (mnl_attr_get_type(a) == CTRL_ATTR_MCAST_GRP_ID &&
				 mnl_attr_validate(a, MNL_TYPE_U32) == 0)
				id = mnl_attr_get_u32(a);
		}
		if (name && !strcmp(name, DCO_GROUP_PEERS))
			fa->peers_group = id;
	}
	return 0;
}

static int on_family(const struct nlmsghdr *nlh, void *arg)
{
	struct family_answer *fa = arg;
	const struct nlattr *a;

	mnl_attr_for_each(a, nlh, sizeof(struct genlmsghdr)) {
		if (mnl_attr_get_type(a) == CTRL_ATTR_FAMILY_ID && mnl_attr_validate(a, MNL_TYPE_U16) == 0)
			fa->id = mnl_attr_get_u16(a);
		else if (mnl_attr_get_type(a) == CTRL_ATTR_MCAST_GROUPS)
			family_group(a, fa);
	}
	return MNL_CB_OK;
}

/* The family's id and group; the kernel loads the module on this question when it can. */
static int resolve_family(struct mnl_socket *nl, const char *family, struct family_answer *fa)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *g;
	int ret;

	nlh->nlmsg_type = GENL_ID_CTRL;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = (uint32_t)time(NULL);
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = CTRL_CMD_GETFAMILY;
	g->version = 1;
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, family);
	memset(fa, 0, sizeof(*fa));
	ret = talk(nl, nlh, on_family, fa, NULL);
	if (ret == -ENOENT)
		return -ENOTSUP;
	if (ret == 0 && !fa->id)
		return -EPROTO;
	return ret;
}

/* rtnetlink: a new multi-peer interface named name. */
static int link_add(struct mnl_socket *rt, const char *name, const char *kind)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifi;
	struct nlattr *info, *data;

	nlh->nlmsg_type = RTM_NEWLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL;
	nlh->nlmsg_seq = (uint32_t)time(NULL);
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, kind);
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	mnl_attr_put_u8(nlh, IFLA_DCO_MODE, MODE_MULTI_PEER);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, info);
	return talk(rt, nlh, NULL, NULL, NULL);
}

/* By index, or by name when ifindex is 0. */
static int link_del(struct mnl_socket *rt, int ifindex, const char *name)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifi;

	nlh->nlmsg_type = RTM_DELLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = (uint32_t)time(NULL);
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	if (!ifindex)
		mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	return talk(rt, nlh, NULL, NULL, NULL);
}

struct stale_scan {
	const char *prefix;
	size_t prefix_len;
	int found[64];
	int n;
};

static bool is_dco_kind(const char *kind)
{
	for (size_t i = 0; i < N_DIALECTS; i++)
		if (!strcmp(kind, dialects[i]->link_kind))
			return true;
	return false;
}

static int on_link(const struct nlmsghdr *nlh, void *arg)
{
	struct stale_scan *sc = arg;
	const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a, *i;
	const char *name = NULL;
	bool ours = false;

	if (nlh->nlmsg_type != RTM_NEWLINK || nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
		return MNL_CB_OK;
	mnl_attr_for_each(a, nlh, sizeof(*ifi)) {
		if (mnl_attr_get_type(a) == IFLA_IFNAME && mnl_attr_validate(a, MNL_TYPE_NUL_STRING) == 0)
			name = mnl_attr_get_str(a);
		else if (mnl_attr_get_type(a) == IFLA_LINKINFO)
			mnl_attr_for_each_nested(i, a)
				if (mnl_attr_get_type(i) == IFLA_INFO_KIND &&
				    mnl_attr_validate(i, MNL_TYPE_NUL_STRING) == 0 &&
				    is_dco_kind(mnl_attr_get_str(i)))
					ours = true;
	}
	if (ours && name && !strncmp(name, sc->prefix, sc->prefix_len) &&
	    sc->n < (int)(sizeof(sc->found) / sizeof(sc->found[0])))
		sc->found[sc->n++] = ifi->ifi_index;
	return MNL_CB_OK;
}

int dco_remove_stale(const char *prefix)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct stale_scan sc = { .prefix = prefix, .prefix_len = strlen(prefix) };
	struct mnl_socket *rt = open_nl(NETLINK_ROUTE);
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ifinfomsg *ifi;
	int ret, removed = 0;

	if (!rt)
		return -errno;
	nlh->nlmsg_type = RTM_GETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = (uint32_t)time(NULL);
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ret = talk(rt, nlh, on_link, &sc, NULL);
	for (int i = 0; ret == 0 && i < sc.n; i++)
		if ((ret = link_del(rt, sc.found[i], NULL)) == 0)
			removed++;
	mnl_socket_close(rt);
	return ret < 0 ? ret : removed;
}

static int join_group(struct mnl_socket *nl, uint32_t group)
{
	int g = (int)group;

	return mnl_socket_setsockopt(nl, NETLINK_ADD_MEMBERSHIP, &g, sizeof(g)) < 0 ? -errno : 0;
}

int dco_open(struct dco **out, const char *prefix, char ifname[IF_NAMESIZE])
{
	struct dco *d = calloc(1, sizeof(*d));
	struct family_answer fa;
	struct mnl_socket *rt = NULL;
	int ret = -ENOMEM;

	*out = NULL;
	if (!d)
		return -ENOMEM;
	d->nl = open_nl(NETLINK_GENERIC);
	d->events = open_nl(NETLINK_GENERIC);
	rt = open_nl(NETLINK_ROUTE);
	if (!d->nl || !d->events || !rt) {
		ret = -errno;
		goto fail;
	}
	/* the kernel's error replies carry only the header, not the request: a failed key request is not
	 * echoed back with its keys */
	{
		int one = 1;

		if (mnl_socket_setsockopt(d->nl, NETLINK_CAP_ACK, &one, sizeof(one)) < 0) {
			ret = -errno;
			goto fail;
		}
		/* and they say why, where the kernel has words for it (optional: older kernels have none) */
		mnl_socket_setsockopt(d->nl, NETLINK_EXT_ACK, &one, sizeof(one));
	}
	/* Each module loads on a different question: ovpn when its family is resolved (it has no alias for
	 * its link kind), ovpn-dco-v2 when its link is created. So ask both, the family first; the answer that
	 * counts is asked again once the link is there. */
	ret = -ENOTSUP;
	for (size_t k = 0; k < N_DIALECTS && ret == -ENOTSUP; k++) {
		d->dialect = dialects[k];
		resolve_family(d->nl, d->dialect->family, &fa);
		for (unsigned i = 0; i < 256; i++) {
			if (snprintf(d->ifname, sizeof(d->ifname), "%s%u", prefix, i) >= (int)sizeof(d->ifname)) {
				ret = -ENAMETOOLONG;
				goto fail;
			}
			ret = link_add(rt, d->ifname, d->dialect->link_kind);
			if (ret != -EEXIST)
				break;
		}
		if (ret == -EOPNOTSUPP || ret == -ENOENT)
			ret = -ENOTSUP; /* no such link kind here */
	}
	if (ret < 0)
		goto fail;
	d->ifindex = (int)if_nametoindex(d->ifname);
	if (!d->ifindex) {
		ret = -errno;
		goto fail_link;
	}
	if ((ret = resolve_family(d->nl, d->dialect->family, &fa)) < 0)
		goto fail_link;
	d->family = fa.id;
	if (!fa.peers_group || (ret = join_group(d->events, fa.peers_group)) < 0) {
		ret = ret < 0 ? ret : -EPROTO;
		goto fail_link;
	}
	mnl_socket_close(rt);
	memcpy(ifname, d->ifname, IF_NAMESIZE);
	*out = d;
	return 0;
fail_link:
	link_del(rt, 0, d->ifname);
fail:
	if (rt)
		mnl_socket_close(rt);
	dco_close(d);
	return ret;
}

int dco_attach(struct dco **out, const char *ifname)
{
	struct dco *d = calloc(1, sizeof(*d));
	struct family_answer fa;
	int one = 1, ret = -ENOTSUP;

	*out = NULL;
	if (!d)
		return -ENOMEM;
	d->attached = true;
	d->nl = open_nl(NETLINK_GENERIC);
	if (!d->nl || mnl_socket_setsockopt(d->nl, NETLINK_CAP_ACK, &one, sizeof(one)) < 0) {
		ret = -errno;
		goto fail;
	}
	mnl_socket_setsockopt(d->nl, NETLINK_EXT_ACK, &one, sizeof(one));
	/* the family that resolves, in dco_open's order (a kernel with both modules loaded would be asked in
	 * ovpn's words, whatever the interface's kind: good enough for the tests this serves) */
	for (size_t k = 0; k < N_DIALECTS && ret < 0; k++)
		if ((ret = resolve_family(d->nl, dialects[k]->family, &fa)) == 0) {
			d->dialect = dialects[k];
			d->family = fa.id;
		}
	if (ret < 0)
		goto fail;
	d->ifindex = (int)if_nametoindex(ifname);
	if (!d->ifindex) {
		ret = -errno;
		goto fail;
	}
	snprintf(d->ifname, sizeof(d->ifname), "%s", ifname);
	*out = d;
	return 0;
fail:
	dco_close(d);
	return ret;
}

void dco_close(struct dco *d)
{
	if (!d)
		return;
	if (d->ifindex && !d->attached) {
		struct mnl_socket *rt = open_nl(NETLINK_ROUTE);

		if (rt) {
			link_del(rt, d->ifindex, NULL);
			mnl_socket_close(rt);
		}
	}
	if (d->nl)
		mnl_socket_close(d->nl);
	if (d->events)
		mnl_socket_close(d->events);
	free(d);
}

const char *dco_kernel_message(const struct dco *d)
{
	return d->kernel_msg;
}

int dco_ifindex(const struct dco *d)
{
	return d->ifindex;
}

const char *dco_module(const struct dco *d)
{
	return d->dialect->module;
}

int dco_event_fd(const struct dco *d)
{
	return mnl_socket_get_fd(d->events);
}

void dco_put_key_dir(struct nlmsghdr *nlh, uint16_t type, const uint8_t *key, size_t key_len,
		     const uint8_t *nonce_tail)
{
	struct nlattr *nest = mnl_attr_nest_start(nlh, type);

	mnl_attr_put(nlh, 1, key_len, key);
	mnl_attr_put(nlh, 2, DCO_NONCE_TAIL_LEN, nonce_tail);
	mnl_attr_nest_end(nlh, nest);
}

/* One operation: header, command, the interface, the dialect's attributes; the answer through cb. */
static int dco_do(struct dco *d, enum dco_op op, const struct dco_request *r, mnl_cb_t cb, void *arg)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *g;
	int ret;

	nlh->nlmsg_type = d->family;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = ++d->seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = d->dialect->cmd[op];
	g->version = d->dialect->version;
	mnl_attr_put_u32(nlh, DCO_A_IFINDEX, (uint32_t)d->ifindex);
	if (r)
		d->dialect->put(nlh, op, r);
	else
		nlh->nlmsg_flags |= NLM_F_DUMP; /* DCO_OP_GET_PEER of every peer */
	ret = talk(d->nl, nlh, cb, arg, d->kernel_msg);
	if (op == DCO_OP_NEW_KEY)
		explicit_bzero(buf, sizeof(buf));
	return ret;
}

int dco_new_peer(struct dco *d, uint32_t peer_id, int sock_fd, const struct sockaddr *remote, socklen_t remote_len,
		 const struct udp_local *local, uint32_t vaddr)
{
	struct dco_request r = { .peer_id = peer_id, .sock_fd = sock_fd, .remote = remote, .vaddr = vaddr };
	static const struct udp_local unknown;

	r.local = local ? local : &unknown;
	/* a local address of the other family than the remote's would be refused: leave it to the routing */
	if (r.local->family && (r.local->family == AF_INET) != (remote->sa_family == AF_INET))
		r.local = &unknown;

	d->kernel_msg[0] = '\0'; /* a refusal of ours below is not the kernel's */
	if (sock_fd < 0 || (remote->sa_family == AF_INET && remote_len != sizeof(struct sockaddr_in)) ||
	    (remote->sa_family == AF_INET6 && remote_len != sizeof(struct sockaddr_in6)) ||
	    (remote->sa_family != AF_INET && remote->sa_family != AF_INET6))
		return -EINVAL;
	return dco_do(d, DCO_OP_NEW_PEER, &r, NULL, NULL);
}

int dco_set_keepalive(struct dco *d, uint32_t peer_id, uint32_t interval_s, uint32_t timeout_s)
{
	struct dco_request r = { .peer_id = peer_id, .keepalive_interval = interval_s, .keepalive_timeout = timeout_s };

	return dco_do(d, DCO_OP_SET_KEEPALIVE, &r, NULL, NULL);
}

int dco_new_key(struct dco *d, uint32_t peer_id, enum dco_slot slot, uint8_t key_id, enum cvpn_cipher cipher,
		const uint8_t block[256])
{
	/* as the server: send with the block's third quarter (key, then the HMAC part whose first 8 bytes are
	 * the implicit IV), receive with the first */
	struct dco_request r = {
		.peer_id = peer_id, .slot = slot, .key_id = key_id & 7,
		.encrypt_key = block + 128, .encrypt_nonce_tail = block + 192,
		.decrypt_key = block, .decrypt_nonce_tail = block + 64,
	};

	d->kernel_msg[0] = '\0'; /* a refusal of ours below is not the kernel's */
	switch (cipher) {
	case CVPN_CIPHER_AES_256_GCM:
		r.alg = DCO_ALG_AES_GCM;
		r.key_len = 32;
		break;
	case CVPN_CIPHER_AES_128_GCM:
		r.alg = DCO_ALG_AES_GCM;
		r.key_len = 16;
		break;
	case CVPN_CIPHER_CHACHA20_POLY1305:
		r.alg = DCO_ALG_CHACHA20_POLY1305;
		r.key_len = 32;
		break;
	default:
		return -EINVAL;
	}
	return dco_do(d, DCO_OP_NEW_KEY, &r, NULL, NULL);
}

int dco_swap_keys(struct dco *d, uint32_t peer_id)
{
	struct dco_request r = { .peer_id = peer_id };

	return dco_do(d, DCO_OP_SWAP_KEYS, &r, NULL, NULL);
}

int dco_del_key(struct dco *d, uint32_t peer_id, enum dco_slot slot)
{
	struct dco_request r = { .peer_id = peer_id, .slot = slot };

	return dco_do(d, DCO_OP_DEL_KEY, &r, NULL, NULL);
}

int dco_del_peer(struct dco *d, uint32_t peer_id)
{
	struct dco_request r = { .peer_id = peer_id };

	return dco_do(d, DCO_OP_DEL_PEER, &r, NULL, NULL);
}

static uint64_t attr_uint(const struct nlattr *a)
{
	switch (mnl_attr_get_payload_len(a)) {
	case 8:
		return mnl_attr_get_u64(a);
	case 4:
		return mnl_attr_get_u32(a);
	default:
		return 0;
	}
}

/* The counters of one peer in a DCO_OP_GET_PEER answer. */
static uint32_t parse_peer(const struct dco_dialect *dl, const struct nlattr *nest, struct dco_peer_stats *st)
{
	const struct nlattr *i;
	uint32_t peer_id = UINT32_MAX;

	memset(st, 0, sizeof(*st));
	mnl_attr_for_each_nested(i, nest) {
		uint16_t type = mnl_attr_get_type(i);

		if (type == dl->peer_id && mnl_attr_validate(i, MNL_TYPE_U32) == 0)
			peer_id = mnl_attr_get_u32(i);
		else if (type == dl->vpn_rx_bytes)
			st->rx_bytes = attr_uint(i);
		else if (type == dl->vpn_tx_bytes)
			st->tx_bytes = attr_uint(i);
		else if (type == dl->vpn_rx_packets)
			st->rx_packets = (uint32_t)attr_uint(i);
		else if (type == dl->vpn_tx_packets)
			st->tx_packets = (uint32_t)attr_uint(i);
	}
	return peer_id;
}

struct peer_sink {
	const struct dco_dialect *dialect;
	void (*cb)(void *arg, uint32_t peer_id, const struct dco_peer_stats *st);
	void *arg;
	struct dco_peer_stats *one; /* dco_get_peer's answer */
};

static int on_peer(const struct nlmsghdr *nlh, void *arg)
{
	struct peer_sink *sink = arg;
	const struct nlattr *a;

	mnl_attr_for_each(a, nlh, sizeof(struct genlmsghdr)) {
		struct dco_peer_stats st;
		uint32_t peer_id;

		if (mnl_attr_get_type(a) != sink->dialect->peer_nest)
			continue;
		peer_id = parse_peer(sink->dialect, a, &st);
		if (sink->one)
			*sink->one = st;
		else if (peer_id != UINT32_MAX)
			sink->cb(sink->arg, peer_id, &st);
	}
	return MNL_CB_OK;
}

int dco_get_peer(struct dco *d, uint32_t peer_id, struct dco_peer_stats *st)
{
	struct dco_request r = { .peer_id = peer_id };
	struct peer_sink sink = { .dialect = d->dialect, .one = st };

	memset(st, 0, sizeof(*st));
	return dco_do(d, DCO_OP_GET_PEER, &r, on_peer, &sink);
}

int dco_dump_peers(struct dco *d, void (*cb)(void *arg, uint32_t peer_id, const struct dco_peer_stats *st),
		   void *arg)
{
	struct peer_sink sink = { .dialect = d->dialect, .cb = cb, .arg = arg };

	return dco_do(d, DCO_OP_GET_PEER, NULL, on_peer, &sink);
}

struct event_sink {
	struct dco *d;
	void (*cb)(void *arg, uint32_t peer_id, enum dco_del_reason reason);
	void *arg;
	int count;
};

/* A u8 (ovpn-dco-v2) or u32 (ovpn) reason; -1 for neither. A reason newer than ours still means the peer
 * is gone: it must end the session, so it counts as a transport error. */
static int attr_reason(const struct nlattr *a)
{
	uint32_t r;

	if (mnl_attr_get_payload_len(a) == 1)
		r = mnl_attr_get_u8(a);
	else if (mnl_attr_get_payload_len(a) == 4)
		r = mnl_attr_get_u32(a);
	else
		return -1;
	return r <= DCO_DEL_TRANSPORT_DISCONNECT ? (int)r : DCO_DEL_TRANSPORT_ERROR;
}

static int on_event(const struct nlmsghdr *nlh, void *arg)
{
	struct event_sink *sink = arg;
	const struct dco_dialect *dl = sink->d->dialect;
	const struct genlmsghdr *g = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a, *i;
	uint32_t ifindex = 0, peer_id = UINT32_MAX;
	int reason = -1;

	if (nlh->nlmsg_type != sink->d->family || nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*g)) || g->cmd != dl->gone_cmd)
		return MNL_CB_OK;
	mnl_attr_for_each(a, nlh, sizeof(*g)) {
		if (mnl_attr_get_type(a) == DCO_A_IFINDEX && mnl_attr_validate(a, MNL_TYPE_U32) == 0)
			ifindex = mnl_attr_get_u32(a);
		else if (mnl_attr_get_type(a) == dl->gone_nest)
			mnl_attr_for_each_nested(i, a) {
				if (mnl_attr_get_type(i) == dl->gone_peer_id && mnl_attr_validate(i, MNL_TYPE_U32) == 0)
					peer_id = mnl_attr_get_u32(i);
				else if (mnl_attr_get_type(i) == dl->gone_reason)
					reason = attr_reason(i);
			}
	}
	if (ifindex == (uint32_t)sink->d->ifindex && peer_id != UINT32_MAX && reason >= 0) {
		sink->cb(sink->arg, peer_id, (enum dco_del_reason)reason);
		sink->count++;
	}
	return MNL_CB_OK;
}

int dco_read_events(struct dco *d, void (*cb)(void *arg, uint32_t peer_id, enum dco_del_reason reason), void *arg,
		    bool *lost)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct event_sink sink = { d, cb, arg, 0 };

	*lost = false;
	for (;;) {
		ssize_t n = recv(mnl_socket_get_fd(d->events), buf, sizeof(buf), MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return sink.count;
			if (errno == ENOBUFS) {
				*lost = true;
				continue;
			}
			return -errno;
		}
		if (mnl_cb_run(buf, (size_t)n, 0, 0, on_event, &sink) < 0)
			return -errno;
	}
}
