// SPDX-License-Identifier: GPL-2.0-or-later
/* A datagram's local address in and out (see udp_local.h). */
#define _GNU_SOURCE /* struct in6_pktinfo */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "cvpn/udp_local.h"

int udp_local_enable(int fd, int family)
{
	int one = 1;

	if (family == AF_INET6)
		return setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one)) < 0 ? -errno : 0;
	return setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one)) < 0 ? -errno : 0;
}

void udp_local_from_msg(const struct msghdr *h, struct udp_local *out)
{
	memset(out, 0, sizeof(*out));
	if (!h->msg_control)
		return;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR((struct msghdr *)h, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO &&
		    c->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
			struct in_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			out->family = AF_INET;
			out->ifindex = (unsigned)pi.ipi_ifindex;
			out->addr.v4 = pi.ipi_addr; /* the header's destination (ipi_spec_dst is the route's) */
			return;
		}
		if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO &&
		    c->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo))) {
			struct in6_pktinfo pi;

			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			out->family = AF_INET6;
			out->ifindex = pi.ipi6_ifindex;
			out->addr.v6 = pi.ipi6_addr;
			return;
		}
	}
}

size_t udp_local_put_cmsg(const struct udp_local *l, struct cmsghdr *c)
{
	if (l->family == AF_INET) {
		/* the source only: ifindex 0 leaves the way out to the routing table */
		struct in_pktinfo pi = { .ipi_spec_dst = l->addr.v4 };

		c->cmsg_level = IPPROTO_IP;
		c->cmsg_type = IP_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
		return CMSG_SPACE(sizeof(pi));
	}
	if (l->family == AF_INET6) {
		struct in6_pktinfo pi = { .ipi6_addr = l->addr.v6 };

		/* a link-local source means nothing without its link; any other goes where the route says */
		if (IN6_IS_ADDR_LINKLOCAL(&l->addr.v6))
			pi.ipi6_ifindex = l->ifindex;
		c->cmsg_level = IPPROTO_IPV6;
		c->cmsg_type = IPV6_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
		return CMSG_SPACE(sizeof(pi));
	}
	return 0;
}

bool udp_local_equal(const struct udp_local *a, const struct udp_local *b)
{
	if (a->family != b->family)
		return false;
	if (a->family == AF_INET)
		return a->addr.v4.s_addr == b->addr.v4.s_addr;
	if (a->family == AF_INET6)
		return !memcmp(&a->addr.v6, &b->addr.v6, sizeof(a->addr.v6)) && a->ifindex == b->ifindex;
	return true;
}

ssize_t udp_local_sendto(int fd, const void *buf, size_t len, const struct sockaddr *to, socklen_t to_len,
			 const struct udp_local *l)
{
	union {
		char buf[UDP_LOCAL_CMSG_SPACE];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr h = { .msg_name = (void *)to, .msg_namelen = to_len, .msg_iov = &iov, .msg_iovlen = 1 };

	memset(&ctl, 0, sizeof(ctl));
	h.msg_control = ctl.buf;
	h.msg_controllen = l ? udp_local_put_cmsg(l, &ctl.align) : 0;
	if (h.msg_controllen == 0)
		h.msg_control = NULL;
	return sendmsg(fd, &h, 0);
}
