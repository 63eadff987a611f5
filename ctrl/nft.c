// SPDX-License-Identifier: GPL-2.0-or-later
/* nftables over netlink: libnftnl builds the objects, libmnl carries them to the kernel in one batch.
 * Here: the batch, the socket and the expression helpers; ctrl/policy_nft.c builds the ruleset with them. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>
#include <libnftnl/udata.h>

#include "cvpn/netlink_ack.h"
#include "cvpn/nft.h"
#include "nft_int.h"

struct nft_acks {
	uint32_t first_seq, last_seq;
	int err;             /* first error the kernel reported, as -errno */
	uint32_t err_seq;    /* the message it refused */
	uint32_t bad_attr;   /* the attribute it blamed, as an offset into that message; UINT32_MAX: none */
	char kernel_msg[NETLINK_ACK_MSG_MAX]; /* its own words, if any */
};

/* The control thread's last refusal, for nft_refusal(): the batches all run there. */
static char refusal[384 + NETLINK_ACK_MSG_MAX + 32];

/* ---- expressions: each helper appends to r and returns false only when out of memory ---- */

static bool nft_expr_add(struct nftnl_rule *r, struct nftnl_expr *e, bool ok)
{
	if (!ok) {
		nftnl_expr_free(e);
		return false;
	}
	nftnl_rule_add_expr(r, e);
	return true;
}

bool nft_meta(struct nftnl_rule *r, uint32_t key)
{
	struct nftnl_expr *e = nftnl_expr_alloc("meta");

	if (!e)
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
	return nft_expr_add(r, e, true);
}

bool nft_cmp(struct nftnl_rule *r, uint32_t op, const void *data, uint32_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("cmp");

	if (!e)
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
	return nft_expr_add(r, e, nftnl_expr_set_data(e, NFTNL_EXPR_CMP_DATA, data, len) == 0);
}

bool nft_bitwise(struct nftnl_rule *r, const void *mask, const void *xor, uint32_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("bitwise");

	if (!e)
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
	return nft_expr_add(r, e, nftnl_expr_set_data(e, NFTNL_EXPR_BITWISE_MASK, mask, len) == 0 &&
				  nftnl_expr_set_data(e, NFTNL_EXPR_BITWISE_XOR, xor, len) == 0);
}

/* iifname/oifname "name": exact match on the whole IFNAMSIZ buffer, as nft does. It matches by name, so
 * the rule holds before the interface exists and after it is recreated. */
bool nft_ifname(struct nftnl_rule *r, uint32_t key, const char *name)
{
	char buf[IFNAMSIZ] = { 0 };

	memcpy(buf, name, strnlen(name, IFNAMSIZ - 1));
	return nft_meta(r, key) && nft_cmp(r, NFT_CMP_EQ, buf, sizeof(buf));
}

bool nft_payload(struct nftnl_rule *r, uint32_t base, uint32_t offset, uint32_t len, uint32_t dreg)
{
	struct nftnl_expr *e = nftnl_expr_alloc("payload");

	if (!e)
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
	return nft_expr_add(r, e, true);
}

/* In an inet table a network-header offset only means "IPv4" after a meta nfproto check; nft adds the same
 * dependency and hides it again when listing. */
bool nft_nfproto_ipv4(struct nftnl_rule *r)
{
	uint8_t proto = NFPROTO_IPV4;

	return nft_meta(r, NFT_META_NFPROTO) && nft_cmp(r, NFT_CMP_EQ, &proto, sizeof(proto));
}

/* ip saddr|daddr [!=] net/len (offset 12: struct iphdr saddr, 16: daddr) */
bool nft_ip_addr(struct nftnl_rule *r, uint32_t offset, uint32_t op, const struct cidr4 *c)
{
	uint32_t mask = htonl(c->len ? ~0u << (32 - c->len) : 0);
	uint32_t net = htonl(c->addr) & mask, zero = 0;

	if (!nft_nfproto_ipv4(r) || !nft_payload(r, NFT_PAYLOAD_NETWORK_HEADER, offset, 4, NFT_REG_1))
		return false;
	if (c->len < 32 && !nft_bitwise(r, &mask, &zero, 4))
		return false;
	return nft_cmp(r, op, &net, 4);
}

/* ct state established,related: the state is a host-order bitmask, so "any of" is (state & bits) != 0. */
bool nft_ct_est_rel(struct nftnl_rule *r)
{
	return nft_ct_state(r, NF_CT_STATE_BIT(IP_CT_ESTABLISHED) | NF_CT_STATE_BIT(IP_CT_RELATED));
}

bool nft_ct_state(struct nftnl_rule *r, uint32_t bits)
{
	uint32_t zero = 0;
	struct nftnl_expr *e = nftnl_expr_alloc("ct");

	if (!e)
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_STATE);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
	return nft_expr_add(r, e, true) && nft_bitwise(r, &bits, &zero, 4) &&
	       nft_cmp(r, NFT_CMP_NEQ, &zero, 4);
}

bool nft_counter(struct nftnl_rule *r)
{
	struct nftnl_expr *e = nftnl_expr_alloc("counter");

	return e && nft_expr_add(r, e, true);
}

bool nft_verdict(struct nftnl_rule *r, int verdict)
{
	struct nftnl_expr *e = nftnl_expr_alloc("immediate");

	if (!e)
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)verdict);
	return nft_expr_add(r, e, true);
}

bool nft_verdict_chain(struct nftnl_rule *r, int verdict, const char *chain)
{
	struct nftnl_expr *e = nftnl_expr_alloc("immediate");

	if (!e)
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)verdict);
	return nft_expr_add(r, e, nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain) == 0);
}

/* meta KEY set with reg 1 */
bool nft_meta_set(struct nftnl_rule *r, uint32_t key)
{
	struct nftnl_expr *e = nftnl_expr_alloc("meta");

	if (!e)
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_SREG, NFT_REG_1);
	return nft_expr_add(r, e, true);
}

/* snat ip to addr: the address goes through a register; family IPv4 because the table is inet. */
bool nft_snat(struct nftnl_rule *r, uint32_t addr)
{
	uint32_t be = htonl(addr);
	struct nftnl_expr *e = nftnl_expr_alloc("immediate");

	if (!e)
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_1);
	if (!nft_expr_add(r, e, nftnl_expr_set_data(e, NFTNL_EXPR_IMM_DATA, &be, sizeof(be)) == 0))
		return false;
	e = nftnl_expr_alloc("nat");
	if (!e)
		return false;
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_TYPE, NFT_NAT_SNAT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FAMILY, NFPROTO_IPV4);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MIN, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_REG_ADDR_MAX, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_NAT_FLAGS, NF_NAT_RANGE_MAP_IPS);
	return nft_expr_add(r, e, true);
}

/* ---- batch ---- */

int nft_batch_init(struct nft_batch *nb)
{
	memset(nb, 0, sizeof(*nb));
	nb->cap = 4 * NFT_MSG_ROOM;
	nb->buf = malloc(nb->cap);
	if (!nb->buf)
		return -ENOMEM;
	nb->first_seq = nb->seq = (uint32_t)time(NULL);
	nb->table = NFT_TABLE_NAME;
	return 0;
}

void nft_batch_free(struct nft_batch *nb)
{
	free(nb->buf);
	nb->buf = NULL;
}

void *nft_batch_cur(struct nft_batch *nb)
{
	if (nb->cap - nb->len < NFT_MSG_ROOM) {
		size_t ncap = nb->cap * 2;
		char *n = realloc(nb->buf, ncap);

		if (!n) {
			nb->failed = true;
			return NULL;
		}
		nb->buf = n;
		nb->cap = ncap;
	}
	/* builders write without bounds: give them zeroed room so padding bytes are defined */
	memset(nb->buf + nb->len, 0, NFT_MSG_ROOM);
	return nb->buf + nb->len;
}

int nft_batch_next(struct nft_batch *nb)
{
	struct nlmsghdr *nlh = (struct nlmsghdr *)(nb->buf + nb->len);

	if (nlh->nlmsg_len > NFT_MSG_ROOM) {
		nb->failed = true;
		return -EMSGSIZE;
	}
	nb->len += NLMSG_ALIGN(nlh->nlmsg_len);
	return 0;
}

int nft_batch_begin_end(struct nft_batch *nb, bool begin)
{
	void *cur = nft_batch_cur(nb);
	struct nlmsghdr *nlh;

	if (!cur)
		return -ENOMEM;
	nlh = begin ? nftnl_batch_begin(cur, nb->seq++) : nftnl_batch_end(cur, nb->seq++);
	nlh->nlmsg_flags |= NLM_F_ACK;
	return nft_batch_next(nb);
}

int nft_batch_table(struct nft_batch *nb, uint16_t type, uint16_t flags)
{
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;
	void *cur = nft_batch_cur(nb);

	if (!t || !cur) {
		nftnl_table_free(t);
		return -ENOMEM;
	}
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	if (nftnl_table_set_str(t, NFTNL_TABLE_NAME, nb->table) < 0) {
		nftnl_table_free(t);
		return -ENOMEM;
	}
	/* No NFTNL_TABLE_FLAGS: never NFT_TABLE_F_OWNER, the policy must outlive this socket (fail closed). */
	nlh = nftnl_nlmsg_build_hdr(cur, type, NFPROTO_INET, flags | NLM_F_ACK, nb->seq++);
	nftnl_table_nlmsg_build_payload(nlh, t);
	nftnl_table_free(t);
	return nft_batch_next(nb);
}

/* Add, delete, add: the first add makes the delete succeed whether or not the table existed, so the batch
 * replaces the table (and everything in it) atomically. */
int nft_batch_table_fresh(struct nft_batch *nb)
{
	int ret;

	if ((ret = nft_batch_table(nb, NFT_MSG_NEWTABLE, NLM_F_CREATE)) < 0 ||
	    (ret = nft_batch_table(nb, NFT_MSG_DELTABLE, 0)) < 0)
		return ret;
	return nft_batch_table(nb, NFT_MSG_NEWTABLE, NLM_F_CREATE);
}

int nft_batch_chain(struct nft_batch *nb, const char *name, const char *type, int hook, int prio)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nlmsghdr *nlh;
	void *cur = nft_batch_cur(nb);
	int ret = -ENOMEM;

	if (!c || !cur)
		goto out;
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
	if (nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, nb->table) < 0 ||
	    nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name) < 0)
		goto out;
	if (hook >= 0) {
		if (nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, type) < 0)
			goto out;
		nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, (uint32_t)hook);
		nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, prio);
		nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	}
	nlh = nftnl_nlmsg_build_hdr(cur, NFT_MSG_NEWCHAIN, NFPROTO_INET, NLM_F_CREATE | NLM_F_ACK, nb->seq++);
	nftnl_chain_nlmsg_build_payload(nlh, c);
	ret = nft_batch_next(nb);
out:
	if (c)
		nftnl_chain_free(c);
	return ret;
}

/* A new rule in chain with its comment in nftables' userdata TLV, so `nft list` shows it. */
struct nftnl_rule *nft_rule_new(const char *chain, const char *comment)
{
	return nft_rule_new_in(NFT_TABLE_NAME, chain, comment);
}

struct nftnl_rule *nft_rule_new_in(const char *table, const char *chain, const char *comment)
{
	struct nftnl_udata_buf *ud = nftnl_udata_buf_alloc(NFT_USERDATA_MAXLEN);
	struct nftnl_rule *r = nftnl_rule_alloc();
	bool ok = false;

	if (!r || !ud)
		goto out;
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
	if (nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table) < 0 ||
	    nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain) < 0)
		goto out;
	if (!nftnl_udata_put_strz(ud, NFTNL_UDATA_RULE_COMMENT, comment))
		goto out;
	if (nftnl_rule_set_data(r, NFTNL_RULE_USERDATA, nftnl_udata_buf_data(ud), nftnl_udata_buf_len(ud)) < 0)
		goto out;
	ok = true;
out:
	nftnl_udata_buf_free(ud);
	if (!ok && r) {
		nftnl_rule_free(r);
		r = NULL;
	}
	return r;
}

/* Appends rule r (built == false means a helper ran out of memory) and frees it. */
int nft_batch_rule(struct nft_batch *nb, struct nftnl_rule *r, bool built)
{
	struct nlmsghdr *nlh;
	void *cur;
	int ret = -ENOMEM;

	if (!r)
		return -ENOMEM;
	if (!built || !(cur = nft_batch_cur(nb)))
		goto out;
	nlh = nftnl_nlmsg_build_hdr(cur, NFT_MSG_NEWRULE, NFPROTO_INET,
				    NLM_F_CREATE | NLM_F_APPEND | NLM_F_ACK, nb->seq++);
	nftnl_rule_nlmsg_build_payload(nlh, r);
	ret = nft_batch_next(nb);
out:
	nftnl_rule_free(r);
	return ret;
}

/* Every acknowledgement (NLMSG_ERROR, error 0 for success); keeps the first failure of this batch. The
 * kernel delivers a batch's acks in message order, so "first" is the earliest failing message. */
static int nft_ack_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nft_acks *a = data;
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e))) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	/* Not one of ours (unsigned arithmetic copes with wrap-around). */
	if (nlh->nlmsg_seq - a->first_seq > a->last_seq - a->first_seq)
		return MNL_CB_OK;
	if (e->error < 0 && a->err == 0) {
		a->err = e->error;
		a->err_seq = nlh->nlmsg_seq;
		netlink_ack_message(nlh, a->kernel_msg, sizeof(a->kernel_msg));
		if (!netlink_ack_bad_attr(nlh, &a->bad_attr))
			a->bad_attr = UINT32_MAX;
	}
	return MNL_CB_OK;
}

/* Sends the batch and reads every answer. nfnetlink handles a batch synchronously inside sendmsg(), so all
 * acks are queued on our socket when it returns: drain without blocking until the queue is empty. */
/* One socket for the life of the process: closing a netfilter netlink socket waits for an RCU grace
 * period (8-15 ms measured here), which per session would make every connect and disconnect that slow.
 * It is dropped after any error (its queue may hold stale acks) and after a fork (it belongs to the
 * parent, and maybe to another network namespace). */
static struct mnl_socket *nft_sock;
static pid_t nft_sock_pid;

static void nft_sock_drop(void)
{
	if (nft_sock && nft_sock_pid == getpid())
		mnl_socket_close(nft_sock);
	nft_sock = NULL;
}

static struct mnl_socket *nft_sock_get(void)
{
	int one = 1;

	if (nft_sock && nft_sock_pid == getpid())
		return nft_sock;
	nft_sock = NULL;
	nft_sock = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!nft_sock)
		return NULL;
	if (mnl_socket_bind(nft_sock, 0, MNL_SOCKET_AUTOPID) < 0) {
		int err = errno;

		mnl_socket_close(nft_sock);
		nft_sock = NULL;
		errno = err;
		return NULL;
	}
	/* Optional on old kernels: extended acks carry the kernel's reason, capped acks keep each one small
	 * (without it every ack echoes the whole request, and a large batch could overflow the receive queue). */
	mnl_socket_setsockopt(nft_sock, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(nft_sock, NETLINK_CAP_ACK, &one, sizeof(one));
	nft_sock_pid = getpid();
	return nft_sock;
}

void nft_socket_close(void)
{
	nft_sock_drop();
}

const char *nft_refusal(void)
{
	return refusal;
}

/* refusal = " (while adding rule ...; the kernel says: ...)" for the batch's refused message */
static void note_refusal(const struct nft_batch *nb, const struct nft_acks *a)
{
	char what[384];

	if (!nft_describe_refused(nb->buf, nb->len, a->err_seq, a->bad_attr, what, sizeof(what)))
		snprintf(what, sizeof(what), "message %u of the batch", a->err_seq - nb->first_seq);
	snprintf(refusal, sizeof(refusal), " (while %s%s%s)", what, a->kernel_msg[0] ? "; the kernel says: " : "",
		 a->kernel_msg);
}

int nft_batch_talk(struct nft_batch *nb)
{
	mnl_cb_t ctl_cb[NLMSG_MIN_TYPE] = { [NLMSG_ERROR] = nft_ack_cb };
	struct nft_acks acks = { .first_seq = nb->first_seq, .last_seq = nb->seq - 1 };
	char *rbuf = NULL;
	struct mnl_socket *nl;
	int ret, sndbuf, rcvbuf;
	unsigned int portid;
	ssize_t n;

	refusal[0] = '\0';
	nl = nft_sock_get();
	if (!nl)
		return -errno;
	portid = mnl_socket_get_portid(nl);
	/* netlink refuses a message larger than the send buffer, and the kernel queues every ack while still
	 * inside sendmsg(): size both for this batch (FORCE needs CAP_NET_ADMIN, which we have anyway). */
	sndbuf = (int)(nb->len + NFT_MSG_ROOM > INT32_MAX / 2 ? INT32_MAX / 2 : nb->len + NFT_MSG_ROOM);
	rcvbuf = (int)((nb->seq - nb->first_seq) > 1000000 ? INT32_MAX / 2 :
		       (nb->seq - nb->first_seq) * 2048 + MNL_SOCKET_BUFFER_SIZE * 16);
	if (setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)) < 0)
		setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	if (setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
		setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));

	ret = -ENOMEM;
	rbuf = malloc(MNL_SOCKET_BUFFER_SIZE);
	if (!rbuf || nb->failed)
		goto out;
	if (mnl_socket_sendto(nl, nb->buf, nb->len) < 0) {
		ret = -errno;
		goto out;
	}
	for (;;) {
		n = recv(mnl_socket_get_fd(nl), rbuf, MNL_SOCKET_BUFFER_SIZE, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) {
			ret = -errno;   /* ENOBUFS: acks were lost, the outcome is unknown */
			goto out;
		}
		if (n == 0)
			break;
		if (mnl_cb_run2(rbuf, (size_t)n, 0, portid, NULL, &acks, ctl_cb, NLMSG_MIN_TYPE) < 0) {
			ret = -errno;
			goto out;
		}
	}
	ret = acks.err;
	if (ret < 0)
		note_refusal(nb, &acks);
out:
	free(rbuf);
	/* a kernel refusal leaves the queue drained and the socket sound; anything else may not */
	if (ret < 0 && ret != acks.err)
		nft_sock_drop();
	return ret;
}

int nft_delete_table(void)
{
	return nft_delete_named_table(NFT_TABLE_NAME);
}

int nft_delete_named_table(const char *name)
{
	struct nft_batch nb;
	int ret;

	ret = nft_batch_init(&nb);
	if (ret < 0)
		return ret;
	nb.table = name;
	if ((ret = nft_batch_begin_end(&nb, true)) < 0 ||
	    (ret = nft_batch_table(&nb, NFT_MSG_DELTABLE, 0)) < 0 ||
	    (ret = nft_batch_begin_end(&nb, false)) < 0)
		goto out;
	ret = nft_batch_talk(&nb);
	if (ret == -ENOENT)
		ret = 0;
out:
	nft_batch_free(&nb);
	return ret;
}
