// SPDX-License-Identifier: GPL-2.0-or-later
/* The compiled policy into the kernel: `table inet cvpn` replaced in one nftables batch (table, sets, maps,
 * every element, chains, rules), and the per-session map elements in small batches of their own. The
 * expressions mirror what nft generates for the text policy_render_nft writes, so `nft list` of either is
 * the same (test_policy_nft checks it). */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_tuple_common.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netlink.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/udata.h>

#include "cvpn/nft.h"
#include "cvpn/policy.h"
#include "nft_int.h"

/* nft's datatype ids (datatype.h): the set declarations carry them so `nft list` prints the elements as
 * addresses and marks; a concatenation is (first << 6) | second. */
#define DT_IPADDR 7
#define DT_MARK   19
#define DT_MARK_IPADDR ((DT_MARK << 6) | DT_IPADDR)

#define SET_ID_ASSOC   1
#define SET_ID_PROFILE 2
#define SET_ID_AUTHZ   3
#define SET_ID_ROUTES  4
#define SET_ID_GRANT   16   /* + N for set grant_N */

/* Elements per NEWSETELEM message: a concatenated interval element is ~60 bytes on the wire, so 512 stay
 * well inside NFT_MSG_ROOM. */
#define ELEMS_PER_MSG 512

/* Chain priorities as nft names them. */
#define PRIO_MANGLE (-150)
#define PRIO_FILTER 0
#define PRIO_SRCNAT 100

static const char *const map_name[] = { "sess_assoc", "sess_profile" };

enum set_kind { SET_SESSION_MAP, SET_CONCAT_INTERVALS, SET_VERDICT_INTERVALS, SET_MARKS };

static struct nftnl_set *set_new(const char *name, uint32_t id)
{
	struct nftnl_set *s = nftnl_set_alloc();

	if (!s)
		return NULL;
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
	if (nftnl_set_set_str(s, NFTNL_SET_TABLE, NFT_TABLE_NAME) < 0 ||
	    nftnl_set_set_str(s, NFTNL_SET_NAME, name) < 0) {
		nftnl_set_free(s);
		return NULL;
	}
	if (id)
		nftnl_set_set_u32(s, NFTNL_SET_ID, id);
	return s;
}

/* The declaration of one of our sets, with the userdata nft writes for it (byte orders), so nft lists it
 * as it lists its own. */
static struct nftnl_set *set_decl(const char *name, uint32_t id, enum set_kind kind)
{
	struct nftnl_set *s = set_new(name, id);
	struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);
	bool ok = false;

	if (!s || !ud)
		goto out;
	if (kind == SET_VERDICT_INTERVALS) {
		/* address intervals to verdicts: the kernel's rbtree, one element per span and span end */
		nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_MAP | NFT_SET_INTERVAL);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, DT_IPADDR);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, 4);
		nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, NFT_DATA_VERDICT);
		nftnl_set_set_u32(s, NFTNL_SET_DATA_LEN, 0);
		if (!nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER, 2))
			goto out;
	} else if (kind == SET_MARKS) {
		/* profile ids: a hash set of host-order marks */
		nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, DT_MARK);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, 4);
		if (!nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER, 1))
			goto out;
	} else if (kind == SET_SESSION_MAP) {
		nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_MAP);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, DT_IPADDR);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, 4);
		nftnl_set_set_u32(s, NFTNL_SET_DATA_TYPE, DT_MARK);
		nftnl_set_set_u32(s, NFTNL_SET_DATA_LEN, 4);
		/* key: network order (2), data: host order (1), data is no interval */
		if (!nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER, 2) ||
		    !nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_DATABYTEORDER, 1) ||
		    !nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_DATA_INTERVAL, 0))
			goto out;
	} else {
		uint8_t fields[2] = { 4, 4 };

		/* mark . ipv4_addr intervals: the kernel's pipapo set */
		nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_INTERVAL | NFT_SET_CONCAT);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, DT_MARK_IPADDR);
		nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, 8);
		if (nftnl_set_set_data(s, NFTNL_SET_DESC_CONCAT, fields, sizeof(fields)) < 0)
			goto out;
		if (!nftnl_udata_put_u32(ud, NFTNL_UDATA_SET_KEYBYTEORDER, 0))
			goto out;
	}
	if (nftnl_set_set_data(s, NFTNL_SET_USERDATA, nftnl_udata_buf_data(ud), nftnl_udata_buf_len(ud)) < 0)
		goto out;
	ok = true;
out:
	nftnl_udata_buf_free(ud);
	if (!ok && s) {
		nftnl_set_free(s);
		s = NULL;
	}
	return s;
}

static int batch_set(struct nft_batch *nb, struct nftnl_set *s)
{
	struct nlmsghdr *nlh;
	void *cur = nft_batch_cur(nb);
	int ret = -ENOMEM;

	if (s && cur) {
		nlh = nftnl_nlmsg_build_hdr(cur, NFT_MSG_NEWSET, NFPROTO_INET, NLM_F_CREATE | NLM_F_ACK,
					    nb->seq++);
		nftnl_set_nlmsg_build_payload(nlh, s);
		ret = nft_batch_next(nb);
	}
	if (s)
		nftnl_set_free(s);
	return ret;
}

/* Sends the elements collected in s (NEWSETELEM or DELSETELEM) and empties it. */
static int batch_elems(struct nft_batch *nb, struct nftnl_set **s, uint16_t type)
{
	struct nftnl_set *fresh;
	struct nlmsghdr *nlh;
	void *cur = nft_batch_cur(nb);
	int ret;

	if (!cur)
		return -ENOMEM;
	nlh = nftnl_nlmsg_build_hdr(cur, type, NFPROTO_INET,
				    (type == NFT_MSG_NEWSETELEM ? NLM_F_CREATE : 0) | NLM_F_ACK, nb->seq++);
	nftnl_set_elems_nlmsg_build_payload(nlh, *s);
	ret = nft_batch_next(nb);
	fresh = set_new(nftnl_set_get_str(*s, NFTNL_SET_NAME),
			nftnl_set_is_set(*s, NFTNL_SET_ID) ? nftnl_set_get_u32(*s, NFTNL_SET_ID) : 0);
	nftnl_set_free(*s);
	*s = fresh;
	return ret < 0 ? ret : fresh ? 0 : -ENOMEM;
}

/* One element into s, flushing s into the batch every ELEMS_PER_MSG. */
static int elem_add(struct nft_batch *nb, struct nftnl_set **s, size_t *count, const void *key,
		    const void *key_end, uint32_t klen, const uint32_t *data)
{
	struct nftnl_set_elem *e = nftnl_set_elem_alloc();

	if (!e)
		return -ENOMEM;
	if (nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, klen) < 0 ||
	    (key_end && nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY_END, key_end, klen) < 0) ||
	    (data && nftnl_set_elem_set(e, NFTNL_SET_ELEM_DATA, data, sizeof(*data)) < 0)) {
		nftnl_set_elem_free(e);
		return -ENOMEM;
	}
	nftnl_set_elem_add(*s, e);
	if (++*count % ELEMS_PER_MSG == 0)
		return batch_elems(nb, s, NFT_MSG_NEWSETELEM);
	return 0;
}

static int batch_iset(struct nft_batch *nb, struct nftnl_set **s, size_t *count, const struct policy_iset *is)
{
	int ret = 0;

	for (size_t i = 0; ret == 0 && i < is->n; i++) {
		/* the mark half of the key is in network order: the rule byteorder-converts meta/ct mark */
		uint32_t lo[2] = { htonl(is->key), htonl(is->iv[i].lo) };
		uint32_t hi[2] = { htonl(is->key), htonl(is->iv[i].hi) };

		ret = elem_add(nb, s, count, lo, hi, sizeof(lo), NULL);
	}
	return ret;
}

static uint32_t grant_set_id(const char *name)
{
	unsigned long n = strtoul(name + strlen("grant_"), NULL, 10);

	return SET_ID_GRANT + (uint32_t)n;
}

/* Profile ids into the sets of the classes that grant them: all profiles, or only profile `only`. */
static int batch_grants(struct nft_batch *nb, const struct policy *p, uint32_t only, bool with_ids)
{
	struct nftnl_set *s = NULL;
	size_t count;
	int ret = 0;

	for (size_t k = 0; ret == 0 && k < p->n_classes; k++) {
		const struct policy_authz_class *c = &p->classes[k];

		if (c->all_users)
			continue;
		s = set_new(c->name, with_ids ? grant_set_id(c->name) : 0);
		if (!s)
			return -ENOMEM;
		count = 0;
		for (size_t i = 0; ret == 0 && i < p->n_profiles; i++) {
			uint32_t id = p->profiles[i].id;

			if ((only && id != only) || !policy_class_grants(c, &p->profiles[i]))
				continue;
			ret = elem_add(nb, &s, &count, &id, NULL, sizeof(id), NULL);
		}
		if (ret == 0 && count % ELEMS_PER_MSG)
			ret = batch_elems(nb, &s, NFT_MSG_NEWSETELEM);
		nftnl_set_free(s);
		s = NULL;
	}
	return ret;
}

/* One element of the authz verdict map: a span's start with its class's chain, or a span's end. */
static int span_elem(struct nft_batch *nb, struct nftnl_set **s, size_t *count, uint32_t addr, const char *chain)
{
	struct nftnl_set_elem *e = nftnl_set_elem_alloc();
	uint32_t key = htonl(addr);

	if (!e)
		return -ENOMEM;
	if (nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, &key, sizeof(key)) < 0 ||
	    (chain && nftnl_set_elem_set_str(e, NFTNL_SET_ELEM_CHAIN, chain) < 0)) {
		nftnl_set_elem_free(e);
		return -ENOMEM;
	}
	if (chain)
		nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_VERDICT, (uint32_t)NFT_JUMP);
	else
		nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_FLAGS, NFT_SET_ELEM_INTERVAL_END);
	nftnl_set_elem_add(*s, e);
	if (++*count % ELEMS_PER_MSG == 0)
		return batch_elems(nb, s, NFT_MSG_NEWSETELEM);
	return 0;
}

/* The spans, as nft sends an interval map: each start and, unless it reaches the last address, its end
 * (the kernel's rbtree keeps an end and the next span's start on the same key apart by the end flag). */
static int batch_spans(struct nft_batch *nb, const struct policy *p)
{
	struct nftnl_set *s = set_new("authz", SET_ID_AUTHZ);
	size_t count = 0;
	int ret = 0;

	if (!s)
		return -ENOMEM;
	for (size_t i = 0; ret == 0 && i < p->n_spans; i++) {
		const struct policy_authz_span *sp = &p->spans[i];

		ret = span_elem(nb, &s, &count, sp->lo, p->classes[sp->cls].name);
		if (ret == 0 && sp->hi != UINT32_MAX)
			ret = span_elem(nb, &s, &count, sp->hi + 1, NULL);
	}
	if (ret == 0 && count % ELEMS_PER_MSG)
		ret = batch_elems(nb, &s, NFT_MSG_NEWSETELEM);
	nftnl_set_free(s);
	return ret;
}

static int batch_set_elements(struct nft_batch *nb, const struct policy *p, const struct policy_session *ss,
			      size_t n)
{
	struct nftnl_set *s = NULL;
	size_t count = 0;
	int ret = -ENOMEM;

	for (int m = 0; m < 2; m++) {
		s = set_new(map_name[m], m ? SET_ID_PROFILE : SET_ID_ASSOC);
		if (!s)
			goto out;
		count = 0;
		for (size_t i = 0; i < n; i++) {
			uint32_t key = htonl(ss[i].addr), data = m ? ss[i].profile : ss[i].mark;

			if ((ret = elem_add(nb, &s, &count, &key, NULL, sizeof(key), &data)) < 0)
				goto out;
		}
		if (count % ELEMS_PER_MSG && (ret = batch_elems(nb, &s, NFT_MSG_NEWSETELEM)) < 0)
			goto out;
		nftnl_set_free(s);
		s = NULL;
	}
	s = set_new("routes", SET_ID_ROUTES);
	if (!s) {
		ret = -ENOMEM;
		goto out;
	}
	count = 0;
	for (size_t i = 0; i < p->n_routes; i++)
		if ((ret = batch_iset(nb, &s, &count, &p->routes[i])) < 0)
			goto out;
	if (count % ELEMS_PER_MSG && (ret = batch_elems(nb, &s, NFT_MSG_NEWSETELEM)) < 0)
		goto out;
	ret = batch_grants(nb, p, 0, true);
out:
	if (s)
		nftnl_set_free(s);
	return ret;
}

/* ---- rules ---- */

static bool x_lookup(struct nftnl_rule *r, const char *set, uint32_t set_id, bool inv, bool map)
{
	struct nftnl_expr *e = nftnl_expr_alloc("lookup");

	if (!e)
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
	if (map)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, NFT_REG_1);
	if (set_id)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, set_id);
	if (inv)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
	if (nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set) < 0) {
		nftnl_expr_free(e);
		return false;
	}
	nftnl_rule_add_expr(r, e);
	return true;
}

/* reg 1 looked up in a verdict map: the element's verdict is the rule's */
static bool x_lookup_verdict(struct nftnl_rule *r, const char *set, uint32_t set_id)
{
	struct nftnl_expr *e = nftnl_expr_alloc("lookup");

	if (!e)
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, set_id);
	if (nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, set) < 0) {
		nftnl_expr_free(e);
		return false;
	}
	nftnl_rule_add_expr(r, e);
	return true;
}

static bool x_ct(struct nftnl_rule *r, uint32_t key, int dir, bool set)
{
	struct nftnl_expr *e = nftnl_expr_alloc("ct");

	if (!e)
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
	nftnl_expr_set_u32(e, set ? NFTNL_EXPR_CT_SREG : NFTNL_EXPR_CT_DREG, NFT_REG_1);
	if (dir >= 0)
		nftnl_expr_set_u8(e, NFTNL_EXPR_CT_DIR, (uint8_t)dir);
	nftnl_rule_add_expr(r, e);
	return true;
}

static bool x_hton_reg1(struct nftnl_rule *r)
{
	struct nftnl_expr *e = nftnl_expr_alloc("byteorder");

	if (!e)
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_OP, NFT_BYTEORDER_HTON);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_LEN, 4);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BYTEORDER_SIZE, 4);
	nftnl_rule_add_expr(r, e);
	return true;
}

static bool x_imm_u32(struct nftnl_rule *r, uint32_t v)
{
	struct nftnl_expr *e = nftnl_expr_alloc("immediate");

	if (!e)
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_1);
	if (nftnl_expr_set_data(e, NFTNL_EXPR_IMM_DATA, &v, sizeof(v)) < 0) {
		nftnl_expr_free(e);
		return false;
	}
	nftnl_rule_add_expr(r, e);
	return true;
}

static uint32_t set_id_of(const char *name)
{
	if (!strncmp(name, "grant_", 6))
		return grant_set_id(name);
	if (!strcmp(name, "authz"))
		return SET_ID_AUTHZ;
	if (!strcmp(name, "routes"))
		return SET_ID_ROUTES;
	if (!strcmp(name, "sess_assoc"))
		return SET_ID_ASSOC;
	return SET_ID_PROFILE;
}

static bool build_match(struct nftnl_rule *r, const struct policy_match *m)
{
	uint32_t op = m->neg ? NFT_CMP_NEQ : NFT_CMP_EQ;
	uint8_t u8;

	switch (m->type) {
	case POLICY_M_IIF:
		return nft_ifname(r, NFT_META_IIFNAME, m->ifname);
	case POLICY_M_OIF:
		return nft_ifname(r, NFT_META_OIFNAME, m->ifname);
	case POLICY_M_SADDR:
		return nft_ip_addr(r, 12, op, &m->cidr);
	case POLICY_M_DADDR:
		return nft_ip_addr(r, 16, op, &m->cidr);
	case POLICY_M_L4PROTO:
		u8 = (uint8_t)m->proto;
		return nft_meta(r, NFT_META_L4PROTO) && nft_cmp(r, NFT_CMP_EQ, &u8, 1);
	case POLICY_M_DPORT: {
		uint16_t lo = htons(m->port_lo), hi = htons(m->port_hi);

		if (!nft_payload(r, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG_1))
			return false;
		if (lo == hi)
			return nft_cmp(r, NFT_CMP_EQ, &lo, 2);
		/* network order compares as bytes: gte/lte on big-endian data is what nft emits */
		return nft_cmp(r, NFT_CMP_GTE, &lo, 2) && nft_cmp(r, NFT_CMP_LTE, &hi, 2);
	}
	case POLICY_M_MARK:
		return nft_meta(r, NFT_META_MARK) && nft_cmp(r, NFT_CMP_EQ, &m->value, 4);
	case POLICY_M_CT_ESTREL:
		return nft_ct_est_rel(r);
	case POLICY_M_CT_REPLY:
		u8 = IP_CT_DIR_REPLY;
		return x_ct(r, NFT_CT_DIRECTION, -1, false) && nft_cmp(r, NFT_CMP_EQ, &u8, 1);
	case POLICY_M_CT_ORIG_SADDR: {
		uint32_t mask = htonl(m->cidr.len ? ~0u << (32 - m->cidr.len) : 0);
		uint32_t net = htonl(m->cidr.addr) & mask, zero = 0;

		if (!x_ct(r, NFT_CT_SRC_IP, IP_CT_DIR_ORIGINAL, false))
			return false;
		if (m->cidr.len < 32 && !nft_bitwise(r, &mask, &zero, 4))
			return false;
		return nft_cmp(r, NFT_CMP_EQ, &net, 4);
	}
	case POLICY_M_MARK_DADDR_IN:
		/* mark . daddr: the mark, converted to network order as the set stores it, in reg 1; the
		 * address in the next 32-bit register (NFT_REG32_01) */
		return nft_nfproto_ipv4(r) && nft_meta(r, NFT_META_MARK) && x_hton_reg1(r) &&
		       nft_payload(r, NFT_PAYLOAD_NETWORK_HEADER, 16, 4, NFT_REG32_01) &&
		       x_lookup(r, m->set, set_id_of(m->set), m->neg, false);
	case POLICY_M_CTMARK_IN:
		return x_ct(r, NFT_CT_MARK, -1, false) && x_lookup(r, m->set, set_id_of(m->set), m->neg, false);
	}
	return false;
}

static bool build_rule(struct nftnl_rule *r, const struct policy_rule *pr)
{
	for (size_t i = 0; i < pr->n_match; i++)
		if (!build_match(r, &pr->m[i]))
			return false;
	switch (pr->stmt) {
	case POLICY_S_MARK_FROM_MAP:
	case POLICY_S_CTMARK_FROM_MAP:
		if (!nft_nfproto_ipv4(r) || !nft_payload(r, NFT_PAYLOAD_NETWORK_HEADER, 12, 4, NFT_REG_1) ||
		    !x_lookup(r, pr->map, set_id_of(pr->map), false, true))
			return false;
		if (!(pr->stmt == POLICY_S_MARK_FROM_MAP ? nft_meta_set(r, NFT_META_MARK)
							  : x_ct(r, NFT_CT_MARK, -1, true)))
			return false;
		break;
	case POLICY_S_MARK_FROM_MAP_ORIG:
		if (!x_ct(r, NFT_CT_SRC_IP, IP_CT_DIR_ORIGINAL, false) ||
		    !x_lookup(r, pr->map, set_id_of(pr->map), false, true) || !nft_meta_set(r, NFT_META_MARK))
			return false;
		break;
	case POLICY_S_MARK_SET:
		if (!x_imm_u32(r, pr->stmt_value) || !nft_meta_set(r, NFT_META_MARK))
			return false;
		break;
	default:
		break;
	}
	if (pr->counter && !nft_counter(r))
		return false;
	if (pr->stmt == POLICY_S_SNAT && !nft_snat(r, pr->stmt_value))
		return false;
	switch (pr->verdict) {
	case POLICY_V_ACCEPT: return nft_verdict(r, NF_ACCEPT);
	case POLICY_V_DROP:   return nft_verdict(r, NF_DROP);
	case POLICY_V_RETURN: return nft_verdict(r, NFT_RETURN);
	case POLICY_V_JUMP:   return nft_verdict_chain(r, NFT_JUMP, pr->target);
	case POLICY_V_GOTO:   return nft_verdict_chain(r, NFT_GOTO, pr->target);
	case POLICY_V_DADDR_VMAP:
		return nft_nfproto_ipv4(r) && nft_payload(r, NFT_PAYLOAD_NETWORK_HEADER, 16, 4, NFT_REG_1) &&
		       x_lookup_verdict(r, pr->map, set_id_of(pr->map));
	default:              return true;
	}
}

static int build_policy(struct nft_batch *nb, const struct policy *p, const struct policy_session *s, size_t n)
{
	int ret;

	if ((ret = nft_batch_table_fresh(nb)) < 0)
		return ret;
	if ((ret = batch_set(nb, set_decl(map_name[0], SET_ID_ASSOC, SET_SESSION_MAP))) < 0 ||
	    (ret = batch_set(nb, set_decl(map_name[1], SET_ID_PROFILE, SET_SESSION_MAP))) < 0 ||
	    (ret = batch_set(nb, set_decl("authz", SET_ID_AUTHZ, SET_VERDICT_INTERVALS))) < 0 ||
	    (ret = batch_set(nb, set_decl("routes", SET_ID_ROUTES, SET_CONCAT_INTERVALS))) < 0)
		return ret;
	for (size_t k = 0; k < p->n_classes; k++)
		if (!p->classes[k].all_users &&
		    (ret = batch_set(nb, set_decl(p->classes[k].name, grant_set_id(p->classes[k].name),
						  SET_MARKS))) < 0)
			return ret;
	if ((ret = batch_set_elements(nb, p, s, n)) < 0)
		return ret;
	/* every chain first: rules jump to chains declared after them */
	for (size_t c = 0; c < p->n_chains; c++) {
		const struct policy_chain *ch = &p->chains[c];

		switch (ch->hook) {
		case POLICY_HOOK_PREROUTING:
			ret = nft_batch_chain(nb, ch->name, "filter", NF_INET_PRE_ROUTING, PRIO_MANGLE);
			break;
		case POLICY_HOOK_INPUT:
			ret = nft_batch_chain(nb, ch->name, "filter", NF_INET_LOCAL_IN, PRIO_FILTER);
			break;
		case POLICY_HOOK_FORWARD:
			ret = nft_batch_chain(nb, ch->name, "filter", NF_INET_FORWARD, PRIO_FILTER);
			break;
		case POLICY_HOOK_POSTROUTING:
			ret = nft_batch_chain(nb, ch->name, "nat", NF_INET_POST_ROUTING, PRIO_SRCNAT);
			break;
		default:
			ret = nft_batch_chain(nb, ch->name, NULL, -1, 0);
			break;
		}
		if (ret < 0)
			return ret;
	}
	/* the verdict map's elements name chains: after the chains */
	if ((ret = batch_spans(nb, p)) < 0)
		return ret;
	for (size_t c = 0; c < p->n_chains; c++)
		for (size_t i = 0; i < p->chains[c].n_rules; i++) {
			const struct policy_rule *pr = &p->chains[c].rules[i];
			struct nftnl_rule *r = nft_rule_new(p->chains[c].name, pr->comment);

			if ((ret = nft_batch_rule(nb, r, r && build_rule(r, pr))) < 0)
				return ret;
		}
	return 0;
}

int policy_nft_apply(const struct policy *p, const struct policy_session *s, size_t n, bool dry_run)
{
	struct nft_batch nb;
	int ret;

	if (!p || (n && !s))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!policy_profile_get(p, s[i].profile) || s[i].mark == 0)
			return -EINVAL;
	ret = nft_batch_init(&nb);
	if (ret < 0)
		return ret;
	if ((ret = nft_batch_begin_end(&nb, true)) < 0 || (ret = build_policy(&nb, p, s, n)) < 0)
		goto out;
	/* Without END the kernel checks every message and then aborts the transaction. */
	if (!dry_run && (ret = nft_batch_begin_end(&nb, false)) < 0)
		goto out;
	ret = nft_batch_talk(&nb);
out:
	nft_batch_free(&nb);
	return ret;
}

/* The two map elements of a session, added or deleted in one transaction. */
static int session_batch(uint32_t addr, uint32_t profile, uint32_t mark, bool del, bool add)
{
	struct nftnl_set *s = NULL;
	struct nft_batch nb;
	size_t count = 0;
	uint32_t key = htonl(addr);
	int ret;

	ret = nft_batch_init(&nb);
	if (ret < 0)
		return ret;
	if ((ret = nft_batch_begin_end(&nb, true)) < 0)
		goto out;
	for (int pass = 0; pass < 2; pass++) {
		if ((pass == 0 && !del) || (pass == 1 && !add))
			continue;
		for (int m = 0; m < 2; m++) {
			uint32_t data = m ? profile : mark;

			ret = -ENOMEM;
			s = set_new(map_name[m], 0);
			if (!s)
				goto out;
			if ((ret = elem_add(&nb, &s, &count, &key, NULL, sizeof(key), pass ? &data : NULL)) < 0 ||
			    (ret = batch_elems(&nb, &s, pass ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM)) < 0)
				goto out;
			nftnl_set_free(s);
			s = NULL;
		}
	}
	if ((ret = nft_batch_begin_end(&nb, false)) < 0)
		goto out;
	ret = nft_batch_talk(&nb);
out:
	if (s)
		nftnl_set_free(s);
	nft_batch_free(&nb);
	return ret;
}

int policy_nft_session_add(uint32_t addr, uint32_t profile, uint32_t mark)
{
	int ret;

	if (addr == 0 || profile == 0 || mark == 0)
		return -EINVAL;
	ret = session_batch(addr, profile, mark, false, true);
	/* an address still mapped from an earlier session (its delete failed): replace both elements */
	if (ret == -EEXIST || ret == -EBUSY)
		ret = session_batch(addr, profile, mark, true, true);
	return ret;
}

int policy_nft_session_del(uint32_t addr)
{
	if (addr == 0)
		return -EINVAL;
	return session_batch(addr, 0, 0, true, false);
}

int policy_nft_profile_add(const struct policy *p, uint32_t profile)
{
	const struct policy_profile *pr = policy_profile_get(p, profile);
	struct nft_batch nb;
	bool any = false;
	int ret;

	if (!pr)
		return -EINVAL;
	for (size_t k = 0; k < p->n_classes; k++)
		any |= !p->classes[k].all_users && policy_class_grants(&p->classes[k], pr);
	if (!any)    /* a profile no group rule grants: all-users chains need no element */
		return 0;
	ret = nft_batch_init(&nb);
	if (ret < 0)
		return ret;
	if ((ret = nft_batch_begin_end(&nb, true)) < 0 || (ret = batch_grants(&nb, p, profile, false)) < 0 ||
	    (ret = nft_batch_begin_end(&nb, false)) < 0)
		goto out;
	ret = nft_batch_talk(&nb);
out:
	nft_batch_free(&nb);
	return ret;
}
