// SPDX-License-Identifier: GPL-2.0-or-later
/* dataplane/udp_local.c against the kernel, in a private network namespace (each test forks): a gateway
 * socket on the wildcard address of a host with two addresses learns which one each datagram came to, and
 * its answer leaves from that one, for IPv4, IPv6 and IPv4 on a dual-stack socket. */
#define _GNU_SOURCE /* unshare() */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check_run.h"
#include "cvpn/udp_local.h"
#include "test_util.h"

#define GW_PORT 4100
#define CLIENT_PORT 4101

static void two_addresses(void)
{
	netns_enter();
	netns_lo_up();
	ck_assert_int_eq(system("ip addr add 198.18.0.1/32 dev lo && ip addr add 198.18.0.2/32 dev lo && "
				"ip addr add 2001:db8::1/128 dev lo nodad && ip addr add 2001:db8::2/128 dev lo nodad"),
			 0);
}

static int bound(int family, const char *addr, uint16_t port)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t sl;
	int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK, 0), zero = 0;

	ck_assert_int_ge(fd, 0);
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		ck_assert_int_eq(inet_pton(AF_INET, addr, &s4->sin_addr), 1);
		sl = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		ck_assert_int_eq(inet_pton(AF_INET6, addr, &s6->sin6_addr), 1);
		sl = sizeof(*s6);
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)); /* dual-stack, as cvpnd's "::" */
	}
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&ss, sl), 0);
	return fd;
}

static struct sockaddr_storage to_addr(int family, const char *addr, uint16_t port, socklen_t *len)
{
	struct sockaddr_storage ss = { 0 };

	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		inet_pton(AF_INET, addr, &s4->sin_addr);
		*len = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		inet_pton(AF_INET6, addr, &s6->sin6_addr);
		*len = sizeof(*s6);
	}
	return ss;
}

/* The gateway (gw_family, wildcard) receives the client's datagram sent to gw_addr and answers with
 * udp_local_sendto from what it learnt; the client must see the answer come from gw_addr (seen_as: how the
 * client's socket names it). */
static void round_trip(int gw_family, int client_family, const char *client_addr, const char *gw_addr,
		       const char *seen_as)
{
	int gw = bound(gw_family, gw_family == AF_INET ? "0.0.0.0" : "::", GW_PORT);
	int cl = bound(client_family, client_addr, CLIENT_PORT);
	struct sockaddr_storage dst, from, back;
	socklen_t dl, bl = sizeof(back);
	union {
		char buf[UDP_LOCAL_CMSG_SPACE + 64];
		struct cmsghdr align;
	} ctl;
	char data[16] = "hello", host[INET6_ADDRSTRLEN];
	struct iovec iov = { data, sizeof(data) };
	struct msghdr h = { .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
	struct udp_local l;
	ssize_t n;

	ck_assert_int_eq(udp_local_enable(gw, gw_family), 0);
	dst = to_addr(client_family, gw_addr, GW_PORT, &dl);
	ck_assert_int_eq(sendto(cl, "hello", 5, 0, (struct sockaddr *)&dst, dl), 5);
	usleep(10000);
	ck_assert_int_eq(recvmsg(gw, &h, MSG_DONTWAIT), 5);
	udp_local_from_msg(&h, &l);
	ck_assert_int_eq(l.family, gw_family);
	if (l.family == AF_INET)
		inet_ntop(AF_INET, &l.addr.v4, host, sizeof(host));
	else
		inet_ntop(AF_INET6, &l.addr.v6, host, sizeof(host));
	ck_assert_str_eq(host, seen_as);
	/* the answer */
	ck_assert_int_eq(udp_local_sendto(gw, "back", 4, (struct sockaddr *)&from, h.msg_namelen, &l), 4);
	usleep(10000);
	n = recvfrom(cl, data, sizeof(data), MSG_DONTWAIT, (struct sockaddr *)&back, &bl);
	ck_assert_int_eq(n, 4);
	if (back.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&back)->sin_addr, host, sizeof(host));
	else
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&back)->sin6_addr, host, sizeof(host));
	ck_assert_str_eq(host, gw_addr);
	close(gw);
	close(cl);
}

START_TEST(ipv4_answers_from_the_address_asked)
{
	two_addresses();
	/* each of the two: the route alone would pick 198.18.0.1 for both */
	round_trip(AF_INET, AF_INET, "198.18.0.1", "198.18.0.2", "198.18.0.2");
	round_trip(AF_INET, AF_INET, "198.18.0.2", "198.18.0.1", "198.18.0.1");
}
END_TEST

START_TEST(ipv6_answers_from_the_address_asked)
{
	two_addresses();
	round_trip(AF_INET6, AF_INET6, "2001:db8::1", "2001:db8::2", "2001:db8::2");
	round_trip(AF_INET6, AF_INET6, "2001:db8::2", "2001:db8::1", "2001:db8::1");
}
END_TEST

START_TEST(ipv4_on_a_dual_stack_socket)
{
	two_addresses();
	round_trip(AF_INET6, AF_INET, "198.18.0.1", "198.18.0.2", "::ffff:198.18.0.2");
}
END_TEST

START_TEST(without_a_local_address_the_kernel_picks)
{
	struct udp_local none = { 0 }, a = { .family = AF_INET }, b = { .family = AF_INET };
	union {
		char buf[UDP_LOCAL_CMSG_SPACE];
		struct cmsghdr align;
	} ctl;
	struct msghdr h = { 0 };
	struct udp_local got;

	ck_assert_uint_eq(udp_local_put_cmsg(&none, &ctl.align), 0);
	/* no control buffer at all, or one with no pktinfo: unknown */
	udp_local_from_msg(&h, &got);
	ck_assert_int_eq(got.family, 0);
	inet_pton(AF_INET, "198.18.0.1", &a.addr.v4);
	inet_pton(AF_INET, "198.18.0.2", &b.addr.v4);
	ck_assert(!udp_local_equal(&a, &b));
	ck_assert(!udp_local_equal(&a, &none));
	b.addr.v4 = a.addr.v4;
	ck_assert(udp_local_equal(&a, &b));
	ck_assert(udp_local_equal(&none, &none));
	/* what put writes, from_msg reads back */
	memset(&ctl, 0, sizeof(ctl));
	h.msg_control = ctl.buf;
	h.msg_controllen = udp_local_put_cmsg(&a, &ctl.align);
	ck_assert_uint_gt(h.msg_controllen, 0);
	udp_local_from_msg(&h, &got);
	ck_assert_int_eq(got.family, AF_INET);
	/* on the way out the address is in ipi_spec_dst; on the way in the kernel fills ipi_addr: a cmsg of ours
	 * read back has ipi_addr 0 */
	ck_assert_uint_eq(got.addr.v4.s_addr, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("udp_local");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, ipv4_answers_from_the_address_asked);
	tcase_add_test(tc, ipv6_answers_from_the_address_asked);
	tcase_add_test(tc, ipv4_on_a_dual_stack_socket);
	tcase_add_test(tc, without_a_local_address_the_kernel_picks);
	suite_add_tcase(s, tc);
	return check_run(s);
}
