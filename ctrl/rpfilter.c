// SPDX-License-Identifier: GPL-2.0-or-later
/* The reverse-path filter as it applies to an association's interface. Replies to clients carry their
 * session's association mark (policy.c), so with src_valid_mark the check uses the association's table and
 * passes; without it the kernel looks the source up as the host routes, and a network that only the
 * association's route table reaches fails it. This tells which case a gateway is in, so cvpnd can say so. */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netlink/addr.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>
#include <linux/rtnetlink.h>

#include "cvpn/rpfilter.h"

#define RPF_CONF_DIR "/proc/sys/net/ipv4/conf"

/* One small integer sysctl of conf/<dev>/<name>. */
static int read_conf_int(const char *dev, const char *name, int *out)
{
	char path[128], buf[16];
	ssize_t n;
	int fd;

	if (!dev[0] || strchr(dev, '/') || !strcmp(dev, ".") || !strcmp(dev, ".."))
		return -EINVAL;
	if (snprintf(path, sizeof(path), "%s/%s/%s", RPF_CONF_DIR, dev, name) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		n = -errno;
	close(fd);
	if (n < 0)
		return (int)n;
	buf[n] = '\0';
	if (sscanf(buf, "%d", out) != 1)
		return -EIO;
	return 0;
}

int rpf_read_conf(const char *ifname, struct rpf_conf *out)
{
	int all_rp, if_rp, all_vm, if_vm, err;

	if (!ifname || strnlen(ifname, IF_NAMESIZE) >= IF_NAMESIZE || !out)
		return -EINVAL;
	if ((err = read_conf_int("all", "rp_filter", &all_rp)) < 0 ||
	    (err = read_conf_int(ifname, "rp_filter", &if_rp)) < 0 ||
	    (err = read_conf_int("all", "src_valid_mark", &all_vm)) < 0 ||
	    (err = read_conf_int(ifname, "src_valid_mark", &if_vm)) < 0)
		return err;
	out->rp_filter = all_rp > if_rp ? all_rp : if_rp;
	out->src_valid_mark = all_vm || if_vm;
	return 0;
}

/* The interface the host's routing sends addr out of; 0 when it has no route (or an unreachable one). */
static int main_route_ifindex(struct nl_sock *sk, uint32_t addr, int *ifindex)
{
	uint32_t be = htonl(addr);
	struct nl_addr *dst = nl_addr_build(AF_INET, &be, sizeof(be));
	struct rtnl_route *route = NULL;
	struct rtnl_nexthop *nh;
	int err;

	if (!dst)
		return -ENOMEM;
	nl_addr_set_prefixlen(dst, 32);
	err = rtnl_route_lookup(sk, dst, &route);
	nl_addr_put(dst);
	*ifindex = 0;
	/* libnl folds the kernel's ENETUNREACH and EHOSTUNREACH (no route, an unreachable one) into
	 * NLE_FAILURE; anything else is no answer, and the caller says nothing */
	if (err == -NLE_FAILURE)
		return 0;
	if (err < 0)
		return -EIO;
	if (rtnl_route_get_type(route) == RTN_UNICAST && rtnl_route_get_nnexthops(route) > 0) {
		nh = rtnl_route_nexthop_n(route, 0);
		*ifindex = nh ? rtnl_route_nh_get_ifindex(nh) : 0;
	}
	rtnl_route_put(route);
	return 0;
}

int rpf_unmarked_passes(const struct rpf_conf *conf, const char *ifname, const uint32_t *addrs, size_t n,
			bool *passes)
{
	struct nl_sock *sk;
	unsigned want;
	int got, err;

	if (!conf || !ifname || (n && (!addrs || !passes)))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		passes[i] = true;
	if (conf->rp_filter == 0 || n == 0)
		return 0;
	want = if_nametoindex(ifname);
	if (!want)
		return -errno;
	sk = nl_socket_alloc();
	if (!sk)
		return -ENOMEM;
	err = nl_connect(sk, NETLINK_ROUTE);
	for (size_t i = 0; err == 0 && i < n; i++) {
		/* an address the kernel gave no answer for stays "passes": nothing is said about it */
		if (main_route_ifindex(sk, addrs[i], &got) == 0)
			passes[i] = conf->rp_filter == 1 ? got == (int)want : got != 0;
	}
	nl_socket_free(sk);
	return err < 0 ? -EIO : 0;
}
