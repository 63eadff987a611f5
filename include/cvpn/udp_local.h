/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_UDP_LOCAL_H
#define CVPN_UDP_LOCAL_H

/* The gateway's own address a client's datagram arrived at, and replies sent from it. A socket bound to a
 * wildcard address (0.0.0.0 or ::, the default listen address) on a host with more than one address would
 * otherwise answer from whichever address the routing picks: a client that sent to the second address
 * hears from the first, and a stock client drops that ("Incoming packet rejected from ..., expected peer
 * address"). So the kernel is asked for each datagram's destination (IP_PKTINFO / IPV6_RECVPKTINFO), a
 * session keeps the one its first datagram came to, and everything sent to it carries that address as its
 * source (the same cmsg, on the way out). One cmsg each way; a socket bound to one address does none of it. */

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct udp_local {
	sa_family_t family;         /* AF_INET or AF_INET6 (a v4-mapped address on a dual-stack socket); 0: unknown */
	unsigned ifindex;           /* where it arrived: kept for an IPv6 link-local address, which needs it */
	union {
		struct in_addr v4;
		struct in6_addr v6;
	} addr;
};

/* Room for what udp_local_put_cmsg writes and udp_local_from_msg reads (the larger, in6_pktinfo). */
#define UDP_LOCAL_CMSG_SPACE CMSG_SPACE(sizeof(struct in6_pktinfo))

/* Asks the kernel for each datagram's destination on fd, a UDP socket of family AF_INET or AF_INET6 (for
 * an AF_INET6 socket IPv4 datagrams come as v4-mapped addresses). 0 or -errno. */
int udp_local_enable(int fd, int family);
/* The destination of a datagram received with h (its control buffer, as recvmsg left it); family 0 when h
 * holds none. */
void udp_local_from_msg(const struct msghdr *h, struct udp_local *out);
/* Writes the cmsg that sends from l at c, which must have UDP_LOCAL_CMSG_SPACE bytes; the bytes written
 * (CMSG_SPACE of it), or 0 when l is unknown (family 0): the kernel picks the source then. */
size_t udp_local_put_cmsg(const struct udp_local *l, struct cmsghdr *c);
bool udp_local_equal(const struct udp_local *a, const struct udp_local *b);
/* sendto() from l (none: a plain sendto). Returns what sendmsg returns. */
ssize_t udp_local_sendto(int fd, const void *buf, size_t len, const struct sockaddr *to, socklen_t to_len,
			 const struct udp_local *l);

#endif
