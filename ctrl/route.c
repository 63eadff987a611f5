// SPDX-License-Identifier: GPL-2.0-or-later
/* Links, addresses, the forwarding sysctl and our routing tables and rules over rtnetlink, with libnl-route-3. libnl's calls wait for the
 * kernel's ack (auto-ack is on by default), so every request here is answered before we return. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>
#include <netlink/route/rule.h>
#include <netlink/socket.h>
#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <stdlib.h>

#include "cvpn/policy.h"
#include "cvpn/route.h"

#define ROUTE_IP_FORWARD "/proc/sys/net/ipv4/ip_forward"
#define ROUTE_STATE_DIR "/run/cvpn"

/* libnl turns the kernel's errno into an NLE_* code (nl_syserr2nlerr, many-to-one); this is the way back,
 * to the most likely errno of each class. */
static int route_err(int nle)
{
	switch (nle < 0 ? -nle : nle) {
	case NLE_SUCCESS:           return 0;
	case NLE_INTR:              return -EINTR;
	case NLE_BAD_SOCK:          return -EBADF;
	case NLE_AGAIN:             return -EAGAIN;
	case NLE_NOMEM:             return -ENOMEM;
	case NLE_EXIST:             return -EEXIST;
	case NLE_INVAL:
	case NLE_MISSING_ATTR:
	case NLE_AF_MISMATCH:
	case NLE_OBJ_MISMATCH:
	case NLE_PARSE_ERR:         return -EINVAL;
	case NLE_RANGE:
	case NLE_ATTRSIZE:          return -ERANGE;
	case NLE_MSGSIZE:
	case NLE_MSG_OVERFLOW:
	case NLE_MSG_TRUNC:         return -EMSGSIZE;
	case NLE_OPNOTSUPP:
	case NLE_SRCRT_NOSUPPORT:
	case NLE_MSGTYPE_NOSUPPORT: return -EOPNOTSUPP;
	case NLE_AF_NOSUPPORT:      return -EAFNOSUPPORT;
	case NLE_OBJ_NOTFOUND:
	case NLE_NOATTR:
	case NLE_NOCACHE:
	case NLE_PKTLOC_FILE:       return -ENOENT;
	case NLE_SEQ_MISMATCH:
	case NLE_MSG_TOOSHORT:      return -EPROTO;
	case NLE_NOADDR:            return -EADDRNOTAVAIL;
	case NLE_BUSY:              return -EBUSY;
	case NLE_PROTO_MISMATCH:    return -EPROTONOSUPPORT;
	case NLE_NOACCESS:          return -EACCES;
	case NLE_PERM:
	case NLE_IMMUTABLE:         return -EPERM;
	case NLE_NODEV:             return -ENODEV;
	case NLE_DUMP_INTR:         return -EINTR;
	default:                    return -EIO;
	}
}

static bool route_valid_ifname(const char *name)
{
	size_t len;

	if (!name)
		return false;
	len = strnlen(name, IF_NAMESIZE);
	return len > 0 && len < IF_NAMESIZE;
}

static int route_open(struct nl_sock **out)
{
	struct nl_sock *sk = nl_socket_alloc();
	int err;

	if (!sk)
		return -ENOMEM;
	err = nl_connect(sk, NETLINK_ROUTE);
	if (err < 0) {
		nl_socket_free(sk);
		return route_err(err);
	}
	*out = sk;
	return 0;
}

/* A missing interface is ENODEV whichever way libnl folded the kernel's answer. */
static int route_get_link(struct nl_sock *sk, const char *ifname, struct rtnl_link **link)
{
	int err = rtnl_link_get_kernel(sk, 0, ifname, link);

	if (err == -NLE_OBJ_NOTFOUND || err == -NLE_NODEV)
		return -ENODEV;
	return route_err(err);
}

int route_tun_configure(const char *ifname, uint32_t addr, uint8_t prefix_len, unsigned mtu)
{
	struct rtnl_link *link = NULL, *change = NULL;
	struct rtnl_addr *ra = NULL;
	struct nl_addr *local = NULL;
	struct nl_sock *sk = NULL;
	uint32_t be = htonl(addr);
	int ret;

	/* 68: the smallest MTU IPv4 allows (RFC 791), also the kernel's floor for a tun. */
	if (!route_valid_ifname(ifname) || prefix_len > 32 || mtu < 68 || mtu > 65535)
		return -EINVAL;
	ret = route_open(&sk);
	if (ret < 0)
		return ret;
	ret = route_get_link(sk, ifname, &link);
	if (ret < 0)
		goto out;

	ret = -ENOMEM;
	ra = rtnl_addr_alloc();
	local = nl_addr_build(AF_INET, &be, sizeof(be));
	if (!ra || !local)
		goto out;
	nl_addr_set_prefixlen(local, prefix_len);
	rtnl_addr_set_ifindex(ra, rtnl_link_get_ifindex(link));
	rtnl_addr_set_family(ra, AF_INET);
	ret = route_err(rtnl_addr_set_local(ra, local));
	if (ret < 0)
		goto out;
	rtnl_addr_set_prefixlen(ra, prefix_len);
	ret = route_err(rtnl_addr_add(sk, ra, 0));
	if (ret == -EEXIST)     /* configured by an earlier run: that is the state we want */
		ret = 0;
	if (ret < 0)
		goto out;

	ret = -ENOMEM;
	change = rtnl_link_alloc();
	if (!change)
		goto out;
	rtnl_link_set_mtu(change, mtu);
	rtnl_link_set_flags(change, IFF_UP);
	ret = route_err(rtnl_link_change(sk, link, change, 0));
out:
	rtnl_link_put(change);
	rtnl_link_put(link);
	rtnl_addr_put(ra);
	nl_addr_put(local);
	nl_socket_free(sk);
	return ret;
}

int route_iface_running(const char *ifname, bool *running)
{
	struct rtnl_link *link = NULL;
	struct nl_sock *sk = NULL;
	unsigned flags;
	int ret;

	if (!route_valid_ifname(ifname) || !running)
		return -EINVAL;
	ret = route_open(&sk);
	if (ret < 0)
		return ret;
	ret = route_get_link(sk, ifname, &link);
	if (ret == 0) {
		/* administratively up and with carrier: a veth whose peer is down has no IFF_RUNNING */
		flags = rtnl_link_get_flags(link);
		*running = (flags & IFF_UP) && (flags & IFF_RUNNING);
	}
	rtnl_link_put(link);
	nl_socket_free(sk);
	return ret;
}

int route_link_monitor_open(void)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

int route_link_monitor_drain(int fd)
{
	char buf[8192];
	int n = 0;

	/* the content does not matter: the caller re-reads the state of the links it cares about */
	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		n++;
	return n;
}

int route_iface_ipv4(const char *ifname, uint32_t *addr)
{
	struct rtnl_link *link = NULL;
	struct nl_cache *cache = NULL;
	struct nl_sock *sk = NULL;
	struct nl_object *obj;
	int ifindex, ret;

	if (!route_valid_ifname(ifname) || !addr)
		return -EINVAL;
	ret = route_open(&sk);
	if (ret < 0)
		return ret;
	ret = route_get_link(sk, ifname, &link);
	if (ret < 0)
		goto out;
	ifindex = rtnl_link_get_ifindex(link);
	ret = route_err(rtnl_addr_alloc_cache(sk, &cache));
	if (ret < 0)
		goto out;
	/* The cache keeps the dump's order, and the kernel dumps an interface's primary address first. */
	ret = -EADDRNOTAVAIL;
	for (obj = nl_cache_get_first(cache); obj; obj = nl_cache_get_next(obj)) {
		struct rtnl_addr *ra = (struct rtnl_addr *)obj;
		struct nl_addr *local = rtnl_addr_get_local(ra);
		uint32_t be;

		if (rtnl_addr_get_ifindex(ra) != ifindex || rtnl_addr_get_family(ra) != AF_INET ||
		    !local || nl_addr_get_len(local) != sizeof(be))
			continue;
		memcpy(&be, nl_addr_get_binary_addr(local), sizeof(be));
		*addr = ntohl(be);
		ret = 0;
		break;
	}
out:
	nl_cache_free(cache);
	rtnl_link_put(link);
	nl_socket_free(sk);
	return ret;
}

static int route_read_forward(bool *on)
{
	char c = 0;
	ssize_t n;
	int fd;

	fd = open(ROUTE_IP_FORWARD, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, &c, 1);
	if (n < 0)
		n = -errno;
	close(fd);
	if (n < 0)
		return (int)n;
	if (n != 1 || (c != '0' && c != '1'))
		return -EIO;
	*on = c == '1';
	return 0;
}

static int route_write_forward(bool on)
{
	ssize_t n;
	int fd, ret = 0;

	fd = open(ROUTE_IP_FORWARD, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, on ? "1\n" : "0\n", 2);
	if (n < 0)
		ret = -errno;
	else if (n != 2)
		ret = -EIO;
	/* procfs applies the value on write; close() has nothing left to report but check it anyway. */
	if (close(fd) < 0 && ret == 0)
		ret = -errno;
	return ret;
}

/* The value ip_forward had before cvpnd, kept where a restart after a crash finds it: a crash leaves
 * forwarding on, and the next run must not take "on" for the original. One file per network namespace,
 * so gateways in several namespaces do not share one. */
static int route_state_path(char *buf, size_t len)
{
	uint64_t cookie = 0;
	socklen_t sl = sizeof(cookie);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err = 0;

	/* the namespace's cookie, unlike its inode number, is never given to another namespace */
	if (fd < 0)
		return -errno;
	if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &sl) < 0)
		err = -errno;
	close(fd);
	if (err < 0)
		return err;
	if (mkdir(ROUTE_STATE_DIR, 0750) < 0 && errno != EEXIST)
		return -errno;
	snprintf(buf, len, "%s/ip_forward-before.%llu", ROUTE_STATE_DIR, (unsigned long long)cookie);
	return 0;
}

int route_enable_forwarding(bool *was_on)
{
	char path[128], c;
	bool on;
	int ret, fd;

	if (!was_on)
		return -EINVAL;
	ret = route_read_forward(&on);
	if (ret < 0)
		return ret;
	*was_on = on;
	if (route_state_path(path, sizeof(path)) == 0) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			/* an earlier run died before restoring: its record is the original value */
			if (read(fd, &c, 1) == 1 && (c == '0' || c == '1'))
				*was_on = c == '1';
			close(fd);
		} else {
			fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
			if (fd >= 0) {
				if (write(fd, on ? "1\n" : "0\n", 2) != 2)
					ret = -EIO;
				close(fd);
			}
		}
	}
	if (ret < 0)
		return ret;
	/* Writing ip_forward also resets every interface's forwarding flag; skip it when already on. */
	return on ? 0 : route_write_forward(true);
}

int route_restore_forwarding(bool was_on)
{
	char path[128];
	bool on;
	int ret;

	ret = route_read_forward(&on);
	if (ret < 0)
		return ret;
	ret = on == was_on ? 0 : route_write_forward(was_on);
	if (ret == 0 && route_state_path(path, sizeof(path)) == 0)
		unlink(path);
	return ret;
}

/* ---- per-association routing tables and rules ---- */

static bool route_ours_table(uint32_t table)
{
	return table >= POLICY_TABLE_BASE && table < POLICY_TABLE_BASE + POLICY_MAX_ASSOC;
}

static bool route_ours_prio(uint32_t prio)
{
	return prio >= POLICY_RULE_PRIO && prio < POLICY_RULE_PRIO + POLICY_MAX_ASSOC;
}

static struct nl_addr *route_addr(uint32_t addr, uint8_t len)
{
	uint32_t be = htonl(addr);
	struct nl_addr *a = nl_addr_build(AF_INET, &be, sizeof(be));

	if (a)
		nl_addr_set_prefixlen(a, len);
	return a;
}

static int route_add_entry(struct nl_sock *sk, const struct policy_rtable *t, int ifindex,
			   const struct policy_rt_entry *e)
{
	struct rtnl_route *r = rtnl_route_alloc();
	struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
	struct nl_addr *dst = route_addr(e->dst.addr, e->dst.len), *via = NULL, *src = NULL;
	int ret = -ENOMEM;

	if (!r || !nh || !dst)
		goto out;
	if (e->via && !(via = route_addr(e->via, 32)))
		goto out;
	if (e->src && !(src = route_addr(e->src, 32)))
		goto out;
	rtnl_route_set_family(r, AF_INET);
	rtnl_route_set_table(r, t->table);
	rtnl_route_set_protocol(r, POLICY_RTPROT);
	/* link scope for on-link destinations, as the kernel gives a connected route */
	rtnl_route_set_scope(r, e->via ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
	rtnl_route_set_type(r, RTN_UNICAST);
	if ((ret = route_err(rtnl_route_set_dst(r, dst))) < 0)
		goto out;
	if (src && (ret = route_err(rtnl_route_set_pref_src(r, src))) < 0)
		goto out;
	rtnl_route_nh_set_ifindex(nh, ifindex);
	if (via)
		rtnl_route_nh_set_gateway(nh, via);
	rtnl_route_add_nexthop(r, nh);
	nh = NULL;   /* owned by r now */
	/* replace: a table left by a previous run, or a reload that changed a next hop */
	ret = route_err(rtnl_route_add(sk, r, NLM_F_CREATE | NLM_F_REPLACE));
out:
	if (nh)
		rtnl_route_nh_free(nh);
	rtnl_route_put(r);
	nl_addr_put(dst);
	nl_addr_put(via);
	nl_addr_put(src);
	return ret;
}

/* Administratively up: a link without IFF_UP takes no routes. An error reads as up: the route's own
 * answer then says what is wrong. */
static bool link_admin_up(struct nl_sock *sk, const char *ifname)
{
	struct rtnl_link *link = NULL;
	bool up = true;

	if (route_get_link(sk, ifname, &link) == 0)
		up = (rtnl_link_get_flags(link) & IFF_UP) != 0;
	rtnl_link_put(link);
	return up;
}

/* The last route of a closed table (policy.h): what its entries do not route is unreachable. The highest
 * metric, so an entry for 0.0.0.0/0 of the route table itself comes first. */
static int route_add_unreachable(struct nl_sock *sk, const struct policy_rtable *t)
{
	struct rtnl_route *r = rtnl_route_alloc();
	struct nl_addr *dst = route_addr(0, 0);
	int ret = -ENOMEM;

	if (!r || !dst)
		goto out;
	rtnl_route_set_family(r, AF_INET);
	rtnl_route_set_table(r, t->table);
	rtnl_route_set_protocol(r, POLICY_RTPROT);
	rtnl_route_set_scope(r, RT_SCOPE_UNIVERSE);
	rtnl_route_set_type(r, RTN_UNREACHABLE);
	rtnl_route_set_priority(r, UINT32_MAX);
	if ((ret = route_err(rtnl_route_set_dst(r, dst))) < 0)
		goto out;
	ret = route_err(rtnl_route_add(sk, r, NLM_F_CREATE | NLM_F_REPLACE));
out:
	rtnl_route_put(r);
	nl_addr_put(dst);
	return ret;
}

static bool route_wanted(const struct policy *p, const bool *have_if, uint32_t table, uint32_t dst, uint8_t len,
			 uint8_t type)
{
	for (size_t i = 0; p && i < p->n_rtables; i++) {
		const struct policy_rtable *t = &p->rtables[i];

		if (t->table != table)
			continue;
		if (type == RTN_UNREACHABLE)
			return t->closed && dst == 0 && len == 0; /* needs no interface */
		if (!have_if[i])
			continue;
		for (size_t k = 0; k < t->n_entries; k++)
			if (t->entries[k].dst.addr == dst && t->entries[k].dst.len == len)
				return true;
	}
	return false;
}

static bool rule_wanted(const struct policy *p, struct rtnl_rule *r)
{
	for (size_t i = 0; p && i < p->n_rtables; i++) {
		const struct policy_rtable *t = &p->rtables[i];

		if (rtnl_rule_get_prio(r) == t->priority && rtnl_rule_get_mark(r) == t->mark &&
		    rtnl_rule_get_table(r) == t->table && rtnl_rule_get_action(r) == FR_ACT_TO_TBL)
			return true;
	}
	return false;
}

/* Deletes our routes and rules that p (NULL: none) does not want. */
static int route_sweep(struct nl_sock *sk, const struct policy *p, const bool *have_if)
{
	struct nl_cache *cache = NULL;
	struct nl_object *obj;
	int ret, first = 0;

	ret = route_err(rtnl_route_alloc_cache(sk, AF_INET, 0, &cache));
	if (ret < 0)
		return ret;
	for (obj = nl_cache_get_first(cache); obj; obj = nl_cache_get_next(obj)) {
		struct rtnl_route *r = (struct rtnl_route *)obj;
		struct nl_addr *dst = rtnl_route_get_dst(r);
		uint32_t be = 0;

		if (rtnl_route_get_protocol(r) != POLICY_RTPROT || !route_ours_table(rtnl_route_get_table(r)))
			continue;
		if (dst && nl_addr_get_len(dst) == sizeof(be))
			memcpy(&be, nl_addr_get_binary_addr(dst), sizeof(be));
		if (route_wanted(p, have_if, rtnl_route_get_table(r), ntohl(be),
				 dst ? (uint8_t)nl_addr_get_prefixlen(dst) : 0, rtnl_route_get_type(r)))
			continue;
		ret = route_err(rtnl_route_delete(sk, r, 0));
		if (ret < 0 && ret != -ENOENT && first == 0)
			first = ret;
	}
	nl_cache_free(cache);
	cache = NULL;

	ret = route_err(rtnl_rule_alloc_cache(sk, AF_INET, &cache));
	if (ret < 0)
		return first ? first : ret;
	for (obj = nl_cache_get_first(cache); obj; obj = nl_cache_get_next(obj)) {
		struct rtnl_rule *r = (struct rtnl_rule *)obj;

		if (!route_ours_prio(rtnl_rule_get_prio(r)) || rule_wanted(p, r))
			continue;
		ret = route_err(rtnl_rule_delete(sk, r, 0));
		if (ret < 0 && ret != -ENOENT && first == 0)
			first = ret;
	}
	nl_cache_free(cache);
	return first;
}

static bool rule_present(struct nl_cache *cache, const struct policy_rtable *t)
{
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_rule *r = (struct rtnl_rule *)o;

		if (rtnl_rule_get_prio(r) == t->priority && rtnl_rule_get_mark(r) == t->mark &&
		    rtnl_rule_get_table(r) == t->table && rtnl_rule_get_action(r) == FR_ACT_TO_TBL)
			return true;
	}
	return false;
}

static int route_add_rule(struct nl_sock *sk, const struct policy_rtable *t)
{
	struct rtnl_rule *r = rtnl_rule_alloc();
	int ret;

	if (!r)
		return -ENOMEM;
	rtnl_rule_set_family(r, AF_INET);
	rtnl_rule_set_prio(r, t->priority);
	rtnl_rule_set_mark(r, t->mark);
	rtnl_rule_set_mask(r, 0xffffffff);
	rtnl_rule_set_table(r, t->table);
	rtnl_rule_set_action(r, FR_ACT_TO_TBL);
	/* without EXCL the kernel would add a duplicate; rule_present() checked, so EXCL only guards races */
	ret = route_err(rtnl_rule_add(sk, r, NLM_F_CREATE | NLM_F_EXCL));
	rtnl_rule_put(r);
	return ret == -EEXIST ? 0 : ret;
}

int route_apply_assoc_tables(const struct policy *p)
{
	struct nl_cache *rules = NULL;
	struct nl_sock *sk = NULL;
	bool *have_if = NULL, tun_up;
	int ret, first = 0;

	if (!p)
		return -EINVAL;
	ret = route_open(&sk);
	if (ret < 0)
		return ret;
	have_if = calloc(p->n_rtables ? p->n_rtables : 1, sizeof(*have_if));
	ret = -ENOMEM;
	if (!have_if)
		goto out;
	ret = route_err(rtnl_rule_alloc_cache(sk, AF_INET, &rules));
	if (ret < 0)
		goto out;
	/* the tun set down by hand: its routes come when it is set up again (check_links in enforce.c) */
	tun_up = link_admin_up(sk, p->tun_ifname);
	for (size_t i = 0; i < p->n_rtables; i++) {
		const struct policy_rtable *t = &p->rtables[i];
		int ifindex = (int)if_nametoindex(t->ifname), tun_ifindex = (int)if_nametoindex(p->tun_ifname);

		if (t->closed) {
			ret = route_add_unreachable(sk, t);
			if (ret < 0 && first == 0)
				first = ret;
		}
		if (ifindex == 0) {
			/* its routes come when the interface does (the daemon re-applies on link events) */
			if (first == 0)
				first = -ENODEV;
		} else if (!link_admin_up(sk, t->ifname)) {
			/* the kernel refuses routes through a link that is down (ENETDOWN): they come when it is
			 * set up, as for a missing one; its sessions are elsewhere meanwhile (failover) */
		} else {
			have_if[i] = true;
			/* entries[0], the on-link subnet, goes first: next hops are checked against it */
			for (size_t k = 0; k < t->n_entries; k++) {
				const struct policy_rt_entry *e = &t->entries[k];

				if (e->to_tun && !tun_up)
					continue;
				if (e->to_tun && tun_ifindex == 0)
					ret = -ENODEV;
				else
					ret = route_add_entry(sk, t, e->to_tun ? tun_ifindex : ifindex, e);
				if (ret < 0 && first == 0)
					first = ret;
			}
		}
		if (!rule_present(rules, t)) {
			ret = route_add_rule(sk, t);
			if (ret < 0 && first == 0)
				first = ret;
		}
	}
	ret = route_sweep(sk, p, have_if);
	if (first == 0)
		first = ret;
	ret = first;
out:
	nl_cache_free(rules);
	free(have_if);
	nl_socket_free(sk);
	return ret;
}

int route_reconcile(void)
{
	struct nl_sock *sk = NULL;
	int ret;

	ret = route_open(&sk);
	if (ret < 0)
		return ret;
	ret = route_sweep(sk, NULL, NULL);
	nl_socket_free(sk);
	return ret;
}
