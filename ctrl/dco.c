// SPDX-License-Identifier: GPL-2.0-or-later
/* The kernel's OpenVPN data channel over generic netlink (dco.h). The message layout follows the ovpn-dco-v2
 * module's UAPI (include/uapi/linux/ovpn_dco.h in openvpn-dco-dkms); the numbers below are that interface. */
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

#include "cvpn/dco.h"

#define DCO_FAMILY "ovpn-dco-v2"
#define DCO_GROUP_PEERS "peers"
#define DCO_LINK_KIND "ovpn-dco"

/* commands */
enum { CMD_NEW_PEER = 1, CMD_SET_PEER, CMD_DEL_PEER, CMD_NEW_KEY, CMD_SWAP_KEYS, CMD_DEL_KEY, CMD_GET_PEER };
/* top-level attributes */
enum { A_IFINDEX = 1, A_NEW_PEER, A_SET_PEER, A_DEL_PEER, A_NEW_KEY, A_SWAP_KEYS, A_DEL_KEY, A_GET_PEER };
/* inside A_NEW_PEER */
enum { NP_PEER_ID = 1, NP_SOCKADDR_REMOTE, NP_SOCKET, NP_IPV4 };
/* inside A_SET_PEER */
enum { SP_PEER_ID = 1, SP_KEEPALIVE_INTERVAL, SP_KEEPALIVE_TIMEOUT };
/* inside A_DEL_PEER */
enum { DP_REASON = 1, DP_PEER_ID };
/* inside A_NEW_KEY */
enum { NK_PEER_ID = 1, NK_KEY_SLOT, NK_KEY_ID, NK_CIPHER_ALG, NK_ENCRYPT_KEY, NK_DECRYPT_KEY };
/* inside NK_ENCRYPT_KEY / NK_DECRYPT_KEY */
enum { KD_CIPHER_KEY = 1, KD_NONCE_TAIL };
/* inside A_DEL_KEY, A_SWAP_KEYS (peer id first), A_GET_PEER */
enum { DK_PEER_ID = 1, DK_KEY_SLOT };
enum { SK_PEER_ID = 1 };
enum { GP_PEER_ID = 1 };
/* inside the A_GET_PEER answer */
enum {
	GR_PEER_ID = 1, GR_SOCKADDR_REMOTE, GR_IPV4, GR_IPV6, GR_LOCAL_IP, GR_LOCAL_PORT, GR_KEEPALIVE_INTERVAL,
	GR_KEEPALIVE_TIMEOUT, GR_VPN_RX_BYTES, GR_VPN_TX_BYTES, GR_VPN_RX_PACKETS, GR_VPN_TX_PACKETS,
};
enum { ALG_AES_GCM = 1, ALG_CHACHA20_POLY1305 = 2 };
enum { IFLA_DCO_MODE = 1 };
enum { MODE_MULTI_PEER = 1 };

#define NONCE_TAIL_LEN 8

struct dco {
	struct mnl_socket *nl;     /* requests */
	struct mnl_socket *events; /* the "peers" multicast group */
	uint16_t family;
	uint32_t seq;
	int ifindex;
	char ifname[IF_NAMESIZE];
};

/* One request, its answer through cb (may be NULL), and the kernel's ack: 0 or -errno. */
static int talk(struct mnl_socket *nl, struct nlmsghdr *nlh, mnl_cb_t cb, void *arg)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	uint32_t portid = mnl_socket_get_portid(nl);
	uint32_t seq = nlh->nlmsg_seq;
	ssize_t n;
	int ret;

	nlh->nlmsg_flags |= NLM_F_ACK;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	do {
		n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0)
			return -errno;
		ret = mnl_cb_run(buf, (size_t)n, seq, portid, cb, arg);
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
static int resolve_family(struct mnl_socket *nl, struct family_answer *fa)
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
	mnl_attr_put_strz(nlh, CTRL_ATTR_FAMILY_NAME, DCO_FAMILY);
	memset(fa, 0, sizeof(*fa));
	ret = talk(nl, nlh, on_family, fa);
	if (ret == -ENOENT)
		return -ENOTSUP;
	if (ret == 0 && !fa->id)
		return -EPROTO;
	return ret;
}

bool dco_available(void)
{
	struct mnl_socket *nl = open_nl(NETLINK_GENERIC);
	struct family_answer fa;
	bool yes;

	if (!nl)
		return false;
	yes = resolve_family(nl, &fa) == 0;
	mnl_socket_close(nl);
	return yes;
}

/* rtnetlink: a new multi-peer interface named name. */
static int link_add(struct mnl_socket *rt, const char *name)
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
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, DCO_LINK_KIND);
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	mnl_attr_put_u8(nlh, IFLA_DCO_MODE, MODE_MULTI_PEER);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, info);
	return talk(rt, nlh, NULL, NULL);
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
	return talk(rt, nlh, NULL, NULL);
}

struct stale_scan {
	const char *prefix;
	size_t prefix_len;
	int found[64];
	int n;
};

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
				    !strcmp(mnl_attr_get_str(i), DCO_LINK_KIND))
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
	ret = talk(rt, nlh, on_link, &sc);
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
	}
	/* the link first: creating it loads the module where resolving the family might not */
	for (unsigned i = 0; i < 256; i++) {
		if (snprintf(d->ifname, sizeof(d->ifname), "%s%u", prefix, i) >= (int)sizeof(d->ifname)) {
			ret = -ENAMETOOLONG;
			goto fail;
		}
		ret = link_add(rt, d->ifname);
		if (ret != -EEXIST)
			break;
	}
	if (ret == -EOPNOTSUPP || ret == -ENOENT)
		ret = -ENOTSUP; /* no such link kind here */
	if (ret < 0)
		goto fail;
	d->ifindex = (int)if_nametoindex(d->ifname);
	if (!d->ifindex) {
		ret = -errno;
		goto fail_link;
	}
	if ((ret = resolve_family(d->nl, &fa)) < 0)
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

void dco_close(struct dco *d)
{
	if (!d)
		return;
	if (d->ifindex) {
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

int dco_ifindex(const struct dco *d)
{
	return d->ifindex;
}

int dco_event_fd(const struct dco *d)
{
	return mnl_socket_get_fd(d->events);
}

/* A request of this family: header, command, the interface. */
static struct nlmsghdr *request(struct dco *d, char *buf, uint8_t cmd)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct genlmsghdr *g;

	nlh->nlmsg_type = d->family;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = ++d->seq;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->cmd = cmd;
	g->version = 0;
	mnl_attr_put_u32(nlh, A_IFINDEX, (uint32_t)d->ifindex);
	return nlh;
}

int dco_new_peer(struct dco *d, uint32_t peer_id, int sock_fd, const struct sockaddr *remote, socklen_t remote_len,
		 uint32_t vaddr)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = request(d, buf, CMD_NEW_PEER);
	struct nlattr *nest;

	if (sock_fd < 0 || (remote->sa_family == AF_INET && remote_len != sizeof(struct sockaddr_in)) ||
	    (remote->sa_family == AF_INET6 && remote_len != sizeof(struct sockaddr_in6)) ||
	    (remote->sa_family != AF_INET && remote->sa_family != AF_INET6))
		return -EINVAL;
	nest = mnl_attr_nest_start(nlh, A_NEW_PEER);
	mnl_attr_put_u32(nlh, NP_PEER_ID, peer_id);
	mnl_attr_put(nlh, NP_SOCKADDR_REMOTE, remote_len, remote);
	mnl_attr_put_u32(nlh, NP_SOCKET, (uint32_t)sock_fd);
	mnl_attr_put_u32(nlh, NP_IPV4, htonl(vaddr));
	mnl_attr_nest_end(nlh, nest);
	return talk(d->nl, nlh, NULL, NULL);
}

int dco_set_keepalive(struct dco *d, uint32_t peer_id, uint32_t interval_s, uint32_t timeout_s)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = request(d, buf, CMD_SET_PEER);
	struct nlattr *nest = mnl_attr_nest_start(nlh, A_SET_PEER);

	mnl_attr_put_u32(nlh, SP_PEER_ID, peer_id);
	mnl_attr_put_u32(nlh, SP_KEEPALIVE_INTERVAL, interval_s);
	mnl_attr_put_u32(nlh, SP_KEEPALIVE_TIMEOUT, timeout_s);
	mnl_attr_nest_end(nlh, nest);
	return talk(d->nl, nlh, NULL, NULL);
}

static void put_key_dir(struct nlmsghdr *nlh, uint16_t type, const uint8_t *key, size_t key_len,
			const uint8_t *nonce_tail)
{
	struct nlattr *nest = mnl_attr_nest_start(nlh, type);

	mnl_attr_put(nlh, KD_CIPHER_KEY, key_len, key);
	mnl_attr_put(nlh, KD_NONCE_TAIL, NONCE_TAIL_LEN, nonce_tail);
	mnl_attr_nest_end(nlh, nest);
}

int dco_new_key(struct dco *d, uint32_t peer_id, enum dco_slot slot, uint8_t key_id, enum cvpn_cipher cipher,
		const uint8_t block[256])
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh;
	struct nlattr *nest;
	uint16_t alg;
	size_t key_len;
	int ret;

	switch (cipher) {
	case CVPN_CIPHER_AES_256_GCM:
		alg = ALG_AES_GCM;
		key_len = 32;
		break;
	case CVPN_CIPHER_AES_128_GCM:
		alg = ALG_AES_GCM;
		key_len = 16;
		break;
	case CVPN_CIPHER_CHACHA20_POLY1305:
		alg = ALG_CHACHA20_POLY1305;
		key_len = 32;
		break;
	default:
		return -EINVAL;
	}
	nlh = request(d, buf, CMD_NEW_KEY);
	nest = mnl_attr_nest_start(nlh, A_NEW_KEY);
	mnl_attr_put_u32(nlh, NK_PEER_ID, peer_id);
	mnl_attr_put_u8(nlh, NK_KEY_SLOT, (uint8_t)slot);
	mnl_attr_put_u8(nlh, NK_KEY_ID, key_id & 7);
	mnl_attr_put_u16(nlh, NK_CIPHER_ALG, alg);
	/* as the server: send with the block's third quarter (key, then the HMAC part whose first 8 bytes are
	 * the implicit IV), receive with the first */
	put_key_dir(nlh, NK_ENCRYPT_KEY, block + 128, key_len, block + 192);
	put_key_dir(nlh, NK_DECRYPT_KEY, block, key_len, block + 64);
	mnl_attr_nest_end(nlh, nest);
	ret = talk(d->nl, nlh, NULL, NULL);
	explicit_bzero(buf, sizeof(buf));
	return ret;
}

static int peer_slot_cmd(struct dco *d, uint8_t cmd, uint16_t nest_type, uint32_t peer_id, int slot)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = request(d, buf, cmd);
	struct nlattr *nest = mnl_attr_nest_start(nlh, nest_type);

	mnl_attr_put_u32(nlh, 1, peer_id); /* PEER_ID is attribute 1 in each of these nests */
	if (slot >= 0)
		mnl_attr_put_u8(nlh, DK_KEY_SLOT, (uint8_t)slot);
	mnl_attr_nest_end(nlh, nest);
	return talk(d->nl, nlh, NULL, NULL);
}

int dco_swap_keys(struct dco *d, uint32_t peer_id)
{
	return peer_slot_cmd(d, CMD_SWAP_KEYS, A_SWAP_KEYS, peer_id, -1);
}

int dco_del_key(struct dco *d, uint32_t peer_id, enum dco_slot slot)
{
	return peer_slot_cmd(d, CMD_DEL_KEY, A_DEL_KEY, peer_id, (int)slot);
}

int dco_del_peer(struct dco *d, uint32_t peer_id)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = request(d, buf, CMD_DEL_PEER);
	struct nlattr *nest = mnl_attr_nest_start(nlh, A_DEL_PEER);

	mnl_attr_put_u32(nlh, DP_PEER_ID, peer_id);
	mnl_attr_nest_end(nlh, nest);
	return talk(d->nl, nlh, NULL, NULL);
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

/* The counters of one peer in an A_GET_PEER answer. */
static uint32_t parse_peer(const struct nlattr *nest, struct dco_peer_stats *st)
{
	const struct nlattr *i;
	uint32_t peer_id = UINT32_MAX;

	memset(st, 0, sizeof(*st));
	mnl_attr_for_each_nested(i, nest) {
		switch (mnl_attr_get_type(i)) {
		case GR_PEER_ID:
			if (mnl_attr_validate(i, MNL_TYPE_U32) == 0)
				peer_id = mnl_attr_get_u32(i);
			break;
		case GR_VPN_RX_BYTES:
			st->rx_bytes = attr_uint(i);
			break;
		case GR_VPN_TX_BYTES:
			st->tx_bytes = attr_uint(i);
			break;
		case GR_VPN_RX_PACKETS:
			st->rx_packets = (uint32_t)attr_uint(i);
			break;
		case GR_VPN_TX_PACKETS:
			st->tx_packets = (uint32_t)attr_uint(i);
			break;
		}
	}
	return peer_id;
}

struct peer_sink {
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

		if (mnl_attr_get_type(a) != A_GET_PEER)
			continue;
		peer_id = parse_peer(a, &st);
		if (sink->one)
			*sink->one = st;
		else if (peer_id != UINT32_MAX)
			sink->cb(sink->arg, peer_id, &st);
	}
	return MNL_CB_OK;
}

int dco_get_peer(struct dco *d, uint32_t peer_id, struct dco_peer_stats *st)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = request(d, buf, CMD_GET_PEER);
	struct nlattr *nest = mnl_attr_nest_start(nlh, A_GET_PEER);
	struct peer_sink sink = { .one = st };

	mnl_attr_put_u32(nlh, GP_PEER_ID, peer_id);
	mnl_attr_nest_end(nlh, nest);
	memset(st, 0, sizeof(*st));
	return talk(d->nl, nlh, on_peer, &sink);
}

int dco_dump_peers(struct dco *d, void (*cb)(void *arg, uint32_t peer_id, const struct dco_peer_stats *st),
		   void *arg)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = request(d, buf, CMD_GET_PEER);
	struct peer_sink sink = { .cb = cb, .arg = arg };

	nlh->nlmsg_flags |= NLM_F_DUMP;
	return talk(d->nl, nlh, on_peer, &sink);
}

struct event_sink {
	struct dco *d;
	void (*cb)(void *arg, uint32_t peer_id, enum dco_del_reason reason);
	void *arg;
	int count;
};

static int on_event(const struct nlmsghdr *nlh, void *arg)
{
	struct event_sink *sink = arg;
	const struct genlmsghdr *g = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a, *i;
	uint32_t ifindex = 0, peer_id = UINT32_MAX;
	int reason = -1;

	if (nlh->nlmsg_type != sink->d->family || nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*g)) || g->cmd != CMD_DEL_PEER)
		return MNL_CB_OK;
	mnl_attr_for_each(a, nlh, sizeof(*g)) {
		if (mnl_attr_get_type(a) == A_IFINDEX && mnl_attr_validate(a, MNL_TYPE_U32) == 0)
			ifindex = mnl_attr_get_u32(a);
		else if (mnl_attr_get_type(a) == A_DEL_PEER)
			mnl_attr_for_each_nested(i, a) {
				if (mnl_attr_get_type(i) == DP_PEER_ID && mnl_attr_validate(i, MNL_TYPE_U32) == 0)
					peer_id = mnl_attr_get_u32(i);
				else if (mnl_attr_get_type(i) == DP_REASON && mnl_attr_validate(i, MNL_TYPE_U8) == 0)
					reason = mnl_attr_get_u8(i);
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
