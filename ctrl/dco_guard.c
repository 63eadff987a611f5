// SPDX-License-Identifier: GPL-2.0-or-later
/* `table inet cvpn_dco`: only a live session's (source address, source port, peer-id) gets P_DATA_V2
 * packets to the kernel's data channel (cvpn/dco_guard.h says why). Two sets, IPv4 and IPv6, keyed by
 * the concatenation the rule loads from each packet; one rule per family drops what is not in them. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <stdio.h> /* libnftnl/expr.h uses FILE */
#include <string.h>

#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/udata.h>

#include "cvpn/dco_guard.h"
#include "cvpn/nft.h"
#include "nft_int.h"

/* nftables' datatype ids (its src/datatype.h), concatenated 6 bits apiece as nft itself declares a
 * concatenated key: address . inet_service . integer (the peer-id, raw from the packet). */
#define DT_INTEGER 4
#define DT_IPADDR 7
#define DT_IP6ADDR 8
#define DT_INET_SERVICE 13
#define DT_CONCAT3(a, b, c) (((a) << 12) | ((b) << 6) | (c))
/* nft's own numbering in that userdata (its src/expression.h, proto.h): expression kinds, protocol
 * descriptions and their header fields */
#define NFT_EXPR_PAYLOAD 7
#define NFT_EXPR_CONCAT 13
#define NFT_DESC_UDP 6
#define NFT_DESC_IP 12
#define NFT_DESC_IP6 13
#define NFT_IPHDR_SADDR 11
#define NFT_IP6HDR_SADDR 8
#define NFT_UDPHDR_SPORT 1
#define NFT_BASE_TRANSPORT 3

/* The first byte of an OpenVPN packet: opcode in the high 5 bits, key-id in the low 3. */
#define OVPN_OP_MASK 0xf8
#define OVPN_OP_DATA_V2 (9 << 3)

/* Each field of a concatenation takes whole 32-bit registers, zero-padded: address, port, peer-id. */
#define KEY4_LEN (4 + 4 + 4)
#define KEY6_LEN (16 + 4 + 4)

enum { SET_ID_PEERS4 = 1, SET_ID_PEERS6 = 2 };

static const char *const set_name[2] = { "peers4", "peers6" };

/* Field `index` of the key as nft describes it in a set's "typeof": a header field (desc, field), or raw
 * bits (desc 0, then base, offset and length in bits). */
static bool put_typeof_field(struct nftnl_udata_buf *ud, uint8_t index, uint32_t desc, uint32_t field,
			     uint32_t raw_offset, uint32_t raw_len)
{
	struct nftnl_udata *f = nftnl_udata_nest_start(ud, index), *d;
	bool ok;

	if (!f || !nftnl_udata_put_u32(ud, 0, NFT_EXPR_PAYLOAD) || !(d = nftnl_udata_nest_start(ud, 1)))
		return false;
	ok = nftnl_udata_put_u32(ud, 0, desc) && nftnl_udata_put_u32(ud, 1, field);
	if (ok && raw_len)
		ok = nftnl_udata_put_u32(ud, 2, NFT_BASE_TRANSPORT) && nftnl_udata_put_u32(ud, 3, raw_offset) &&
		     nftnl_udata_put_u32(ud, 4, raw_len);
	nftnl_udata_nest_end(ud, d);
	nftnl_udata_nest_end(ud, f);
	return ok;
}

/* The userdata nft writes for `typeof ip saddr . udp sport . @th,72,24` (ip6 saddr for peers6), so nft
 * lists the set, and its elements' peer-ids, as it lists its own. */
static bool put_typeof(struct nftnl_udata_buf *ud, int v6)
{
	struct nftnl_udata *t, *d;
	bool ok;

	if (!nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER, 0) ||
	    !(t = nftnl_udata_nest_start(ud, NFTNL_UDATA_SET_KEY_TYPEOF)) || !nftnl_udata_put_u32(ud, 0, NFT_EXPR_CONCAT) ||
	    !(d = nftnl_udata_nest_start(ud, 1)))
		return false;
	ok = put_typeof_field(ud, 0, v6 ? NFT_DESC_IP6 : NFT_DESC_IP, v6 ? NFT_IP6HDR_SADDR : NFT_IPHDR_SADDR, 0, 0) &&
	     put_typeof_field(ud, 1, NFT_DESC_UDP, NFT_UDPHDR_SPORT, 0, 0) && put_typeof_field(ud, 2, 0, 0, 72, 24);
	nftnl_udata_nest_end(ud, d);
	nftnl_udata_nest_end(ud, t);
	return ok;
}

static struct nftnl_set *set_new(int v6, bool with_decl)
{
	struct nftnl_set *s = nftnl_set_alloc();
	struct nftnl_udata_buf *ud = NULL;
	bool ok = false;

	if (!s)
		return NULL;
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
	if (nftnl_set_set_str(s, NFTNL_SET_TABLE, DCO_GUARD_TABLE) < 0 ||
	    nftnl_set_set_str(s, NFTNL_SET_NAME, set_name[v6]) < 0)
		goto out;
	if (with_decl) {
		nftnl_set_set_u32(s, NFTNL_SET_ID, v6 ? SET_ID_PEERS6 : SET_ID_PEERS4);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE,
				  DT_CONCAT3(v6 ? DT_IP6ADDR : DT_IPADDR, DT_INET_SERVICE, DT_INTEGER));
		nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, v6 ? KEY6_LEN : KEY4_LEN);
		ud = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);
		if (!ud || !put_typeof(ud, v6) ||
		    nftnl_set_set_data(s, NFTNL_SET_USERDATA, nftnl_udata_buf_data(ud), nftnl_udata_buf_len(ud)) < 0)
			goto out;
	}
	ok = true;
out:
	nftnl_udata_buf_free(ud);
	if (!ok) {
		nftnl_set_free(s);
		s = NULL;
	}
	return s;
}

/* NEWSET, or NEWSETELEM / DELSETELEM of the elements s holds; frees s. */
static int batch_set_msg(struct nft_batch *nb, struct nftnl_set *s, uint16_t type)
{
	void *cur = nft_batch_cur(nb);
	struct nlmsghdr *nlh;

	if (!s || !cur) {
		if (s)
			nftnl_set_free(s);
		return -ENOMEM;
	}
	nlh = nftnl_nlmsg_build_hdr(cur, type, NFPROTO_INET, (type == NFT_MSG_DELSETELEM ? 0 : NLM_F_CREATE) | NLM_F_ACK,
				    nb->seq++);
	if (type == NFT_MSG_NEWSET)
		nftnl_set_nlmsg_build_payload(nlh, s);
	else
		nftnl_set_elems_nlmsg_build_payload(nlh, s);
	nftnl_set_free(s);
	return nft_batch_next(nb);
}

static bool lookup_not_in(struct nftnl_rule *r, int v6)
{
	struct nftnl_expr *e = nftnl_expr_alloc("lookup");

	if (!e)
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG32_00);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, v6 ? SET_ID_PEERS6 : SET_ID_PEERS4);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
	if (nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set_name[v6]) < 0) {
		nftnl_expr_free(e);
		return false;
	}
	nftnl_rule_add_expr(r, e);
	return true;
}

/* What the endpoint's socket receives: which families, and on which address (NULL: any). */
struct guard_scope {
	bool v4, v6;
	const uint8_t *daddr4, *daddr6;
	uint16_t port;       /* network order */
};

static int scope_of(const struct sockaddr *listen, socklen_t len, struct guard_scope *sc)
{
	static const uint8_t any4[4];

	memset(sc, 0, sizeof(*sc));
	if (listen->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)listen;

		sc->v4 = true;
		sc->daddr4 = memcmp(&in->sin_addr, any4, 4) ? (const uint8_t *)&in->sin_addr : NULL;
		sc->port = in->sin_port;
	} else if (listen->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)listen;

		sc->port = in6->sin6_port;
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			sc->v4 = true;
			sc->daddr4 = in6->sin6_addr.s6_addr + 12;
		} else if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr)) {
			sc->v4 = sc->v6 = true; /* cvpnd leaves IPV6_V6ONLY off: "::" takes IPv4 too */
		} else {
			sc->v6 = true;
			sc->daddr6 = in6->sin6_addr.s6_addr;
		}
	} else {
		return -EAFNOSUPPORT;
	}
	return 0;
}

/* meta nfproto F  [ip daddr A]  udp dport PORT  @th,64,8 & 0xf8 == 0x48
 * SADDR . udp sport . @th,72,24 != @peersF  counter drop.
 * The key's fields go to consecutive 32-bit registers, as nft lays out a concatenation. */
static bool build_rule(struct nftnl_rule *r, int v6, const struct guard_scope *sc)
{
	uint8_t nfproto = v6 ? NFPROTO_IPV6 : NFPROTO_IPV4, udp = IPPROTO_UDP;
	uint8_t opmask = OVPN_OP_MASK, opzero = 0, data_v2 = OVPN_OP_DATA_V2;
	const uint8_t *daddr = v6 ? sc->daddr6 : sc->daddr4;
	uint32_t addr_regs = v6 ? 4 : 1;

	if (!nft_meta(r, NFT_META_NFPROTO) || !nft_cmp(r, NFT_CMP_EQ, &nfproto, 1))
		return false;
	if (daddr && (!nft_payload(r, NFT_PAYLOAD_NETWORK_HEADER, v6 ? 24 : 16, v6 ? 16 : 4, NFT_REG_1) ||
		      !nft_cmp(r, NFT_CMP_EQ, daddr, v6 ? 16 : 4)))
		return false;
	return nft_meta(r, NFT_META_L4PROTO) && nft_cmp(r, NFT_CMP_EQ, &udp, 1) &&
	       nft_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG_1) && nft_cmp(r, NFT_CMP_EQ, &sc->port, 2) &&
	       nft_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 8, 1, NFT_REG_1) &&
	       nft_bitwise(r, &opmask, &opzero, 1) && nft_cmp(r, NFT_CMP_EQ, &data_v2, 1) &&
	       nft_payload(r, NFT_PAYLOAD_NETWORK_HEADER, v6 ? 8 : 12, v6 ? 16 : 4, NFT_REG32_00) &&
	       nft_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 2, NFT_REG32_00 + addr_regs) &&
	       nft_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 9, 3, NFT_REG32_00 + addr_regs + 1) &&
	       lookup_not_in(r, v6) && nft_counter(r) && nft_verdict(r, NF_DROP);
}

/* A rule with a ct expression makes the kernel track connections in this namespace for the table's
 * families, and with that reassemble IPv6 fragments before the input hook (IPv4's are reassembled before
 * it anyway). Without it the rules below would see a first fragment without the OpenVPN header and a
 * second without the UDP header, and match neither. */
static bool build_defrag_rule(struct nftnl_rule *r)
{
	return nft_ct_state(r, NF_CT_STATE_UNTRACKED_BIT) && nft_counter(r);
}

/* Elements whose deletion failed (the kernel out of memory): each still admits its remote's packets with
 * its peer-id, harmless until that peer-id is a new session's. Retried before every other change; beyond
 * STALE_MAX of them a failure is only the caller's to log. A new install or the table's removal clears
 * them. */
#define STALE_MAX 64

static struct stale_elem {
	uint8_t key[KEY6_LEN];
	uint8_t klen;
	int v6;
	uint32_t peer_id;
} stale[STALE_MAX];
static size_t n_stale;

int dco_guard_install(const struct sockaddr *listen, socklen_t listen_len)
{
	static const char *const comment[2] = {
		"kernel data channel: IPv4 data packets only from a live session's address, port and peer-id",
		"kernel data channel: IPv6 data packets only from a live session's address, port and peer-id",
	};
	struct guard_scope sc;
	struct nftnl_rule *r;
	struct nft_batch nb;
	int ret;

	ret = scope_of(listen, listen_len, &sc);
	if (ret < 0)
		return ret;
	ret = nft_batch_init(&nb);
	if (ret < 0)
		return ret;
	nb.table = DCO_GUARD_TABLE;
	/* one left by a crashed run goes, with its elements, in the same transaction */
	if ((ret = nft_batch_begin_end(&nb, true)) < 0 || (ret = nft_batch_table_fresh(&nb)) < 0 ||
	    (ret = batch_set_msg(&nb, set_new(0, true), NFT_MSG_NEWSET)) < 0 ||
	    (ret = batch_set_msg(&nb, set_new(1, true), NFT_MSG_NEWSET)) < 0 ||
	    (ret = nft_batch_chain(&nb, "input", "filter", NF_INET_LOCAL_IN, 0 /* filter */)) < 0)
		goto out;
	r = nft_rule_new_in(DCO_GUARD_TABLE, "input",
			    "connection tracking on, so IPv6 fragments are reassembled before the rules below");
	if ((ret = nft_batch_rule(&nb, r, r && build_defrag_rule(r))) < 0)
		goto out;
	for (int v6 = 0; v6 < 2; v6++) {
		if (!(v6 ? sc.v6 : sc.v4))
			continue;
		r = nft_rule_new_in(DCO_GUARD_TABLE, "input", comment[v6]);
		if ((ret = nft_batch_rule(&nb, r, r && build_rule(r, v6, &sc))) < 0)
			goto out;
	}
	if ((ret = nft_batch_begin_end(&nb, false)) < 0)
		goto out;
	ret = nft_batch_talk(&nb);
	if (ret == 0)
		n_stale = 0; /* the elements went with the old table */
out:
	nft_batch_free(&nb);
	return ret;
}

/* The element's key as the rule loads it from a packet of remote with peer_id; its length, or 0 for an
 * address family the rule does not know. *v6 says which set. */
static size_t peer_key(const struct sockaddr *remote, socklen_t len, uint32_t peer_id, uint8_t key[KEY6_LEN],
		       int *v6)
{
	const uint8_t *addr;
	uint16_t port;
	size_t alen;

	memset(key, 0, KEY6_LEN);
	if (remote->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)remote;

		addr = (const uint8_t *)&in->sin_addr;
		alen = 4;
		port = in->sin_port;
	} else if (remote->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)remote;

		addr = in6->sin6_addr.s6_addr;
		alen = 16;
		port = in6->sin6_port;
		/* an IPv4 client of a dual-stack socket: its packets are IPv4 to netfilter */
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			addr += 12;
			alen = 4;
		}
	} else {
		return 0;
	}
	*v6 = alen == 16;
	memcpy(key, addr, alen);
	memcpy(key + alen, &port, 2);
	key[alen + 4] = (uint8_t)(peer_id >> 16);
	key[alen + 5] = (uint8_t)(peer_id >> 8);
	key[alen + 6] = (uint8_t)peer_id;
	return alen + 8;
}

/* One NEWSETELEM or DELSETELEM transaction for a key. */
static int elem_talk(const uint8_t *key, size_t klen, int v6, bool add)
{
	struct nftnl_set_elem *e = NULL;
	struct nftnl_set *s = NULL;
	struct nft_batch nb;
	int ret;

	ret = nft_batch_init(&nb);
	if (ret < 0)
		return ret;
	nb.table = DCO_GUARD_TABLE;
	ret = -ENOMEM;
	if (!(s = set_new(v6, false)) || !(e = nftnl_set_elem_alloc()) ||
	    nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, (uint32_t)klen) < 0)
		goto out;
	nftnl_set_elem_add(s, e);
	e = NULL;   /* owned by s */
	if ((ret = nft_batch_begin_end(&nb, true)) < 0)
		goto out;
	ret = batch_set_msg(&nb, s, add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM);
	s = NULL;   /* freed by batch_set_msg */
	if (ret < 0 || (ret = nft_batch_begin_end(&nb, false)) < 0)
		goto out;
	ret = nft_batch_talk(&nb);
	if (!add && ret == -ENOENT)
		ret = 0;
out:
	if (e)
		nftnl_set_elem_free(e);
	if (s)
		nftnl_set_free(s);
	nft_batch_free(&nb);
	return ret;
}

static void retry_stale(void)
{
	size_t kept = 0;

	for (size_t i = 0; i < n_stale; i++)
		if (elem_talk(stale[i].key, stale[i].klen, stale[i].v6, false) < 0)
			stale[kept++] = stale[i];
	n_stale = kept;
}

int dco_guard_peer(const struct sockaddr *remote, socklen_t remote_len, uint32_t peer_id, bool add)
{
	uint8_t key[KEY6_LEN];
	int v6 = 0, ret;
	size_t klen = peer_key(remote, remote_len, peer_id, key, &v6);

	if (!klen)
		return -EAFNOSUPPORT;
	retry_stale();
	if (add) {
		for (size_t i = 0; i < n_stale; i++)
			if (stale[i].peer_id == peer_id)
				return -EBUSY;
		return elem_talk(key, klen, v6, true);
	}
	ret = elem_talk(key, klen, v6, false);
	if (ret < 0)
		ret = elem_talk(key, klen, v6, false); /* once more: a transient failure */
	if (ret < 0 && n_stale < STALE_MAX) {
		memcpy(stale[n_stale].key, key, klen);
		stale[n_stale].klen = (uint8_t)klen;
		stale[n_stale].v6 = v6;
		stale[n_stale].peer_id = peer_id;
		n_stale++;
	}
	return ret;
}

int dco_guard_remove(void)
{
	int ret = nft_delete_named_table(DCO_GUARD_TABLE);

	if (ret == 0)
		n_stale = 0;
	return ret;
}
