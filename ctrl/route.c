// SPDX-License-Identifier: GPL-2.0-or-later
/* Links, addresses and the forwarding sysctl over rtnetlink, with libnl-route-3. libnl's calls wait for the
 * kernel's ack (auto-ack is on by default), so every request here is answered before we return. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <string.h>
#include <unistd.h>

#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/socket.h>

#include "cvpn/route.h"

#define ROUTE_IP_FORWARD "/proc/sys/net/ipv4/ip_forward"

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

int route_enable_forwarding(bool *was_on)
{
	bool on;
	int ret;

	if (!was_on)
		return -EINVAL;
	ret = route_read_forward(&on);
	if (ret < 0)
		return ret;
	*was_on = on;
	/* Writing ip_forward also resets every interface's forwarding flag; skip it when already on. */
	return on ? 0 : route_write_forward(true);
}

int route_restore_forwarding(bool was_on)
{
	bool on;
	int ret;

	ret = route_read_forward(&on);
	if (ret < 0)
		return ret;
	return on == was_on ? 0 : route_write_forward(was_on);
}
