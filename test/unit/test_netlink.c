// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for ctrl/route.c and the tun against the real kernel. Each test first moves into a new, empty
 * network namespace (netns_enter in a checked fixture, which Check runs inside the forked child), so
 * nothing touches the host and everything disappears with the process. Needs root. The nftables side is
 * test_policy_nft's. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  /* unshare() */
#endif
#include <check.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cvpn/route.h"
#include "cvpn/tun.h"

#include "check_run.h"
#include "test_util.h"

/* ---- helpers ---- */

static int open_tun(char name[IF_NAMESIZE], const char *want)
{
	int fd;

	memset(name, 0, IF_NAMESIZE);
	snprintf(name, IF_NAMESIZE, "%s", want);
	fd = tun_open(name, NULL);
	ck_assert_msg(fd >= 0, "tun_open: %s", strerror(-fd));
	return fd;
}

static char read_forward(void)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_forward", "r");
	int c;

	ck_assert_ptr_nonnull(f);
	c = fgetc(f);
	fclose(f);
	return (char)c;
}

/* ---- route ---- */

START_TEST(test_iface_ipv4)
{
	uint32_t a = 0;
	struct nl_sock *sk;

	make_link("cvpn-a", IP4(198, 18, 1, 1), 24);
	ck_assert_int_eq(route_iface_ipv4("cvpn-a", &a), 0);
	ck_assert_uint_eq(a, IP4(198, 18, 1, 1));

	/* A secondary address in the same subnet does not displace the primary one. */
	sk = nl_open();
	add_addr(sk, (int)if_nametoindex("cvpn-a"), IP4(198, 18, 1, 7), 24);
	nl_socket_free(sk);
	a = 0;
	ck_assert_int_eq(route_iface_ipv4("cvpn-a", &a), 0);
	ck_assert_uint_eq(a, IP4(198, 18, 1, 1));

	ck_assert_int_eq(route_iface_ipv4("cvpn-missing", &a), -ENODEV);
	/* lo of a new namespace is down and has no address at all */
	ck_assert_int_eq(route_iface_ipv4("lo", &a), -EADDRNOTAVAIL);
	ck_assert_int_eq(route_iface_ipv4("0123456789abcdef", &a), -EINVAL);
	ck_assert_int_eq(route_iface_ipv4("", &a), -EINVAL);
}
END_TEST

START_TEST(test_tun_configure)
{
	char name[IF_NAMESIZE];
	struct ifreq ifr;
	uint32_t a = 0;
	int fd = open_tun(name, "cvpn-tun%d"), s;

	ck_assert_str_eq(name, "cvpn-tun0");
	ck_assert_int_eq(route_tun_configure(name, IP4(100, 64, 0, 1), 22, 1400), 0);
	ck_assert_int_eq(route_iface_ipv4(name, &a), 0);
	ck_assert_uint_eq(a, IP4(100, 64, 0, 1));

	/* MTU and flags read back through ioctl, a path independent of libnl */
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(s, 0);
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, name);
	ck_assert_int_eq(ioctl(s, SIOCGIFMTU, &ifr), 0);
	ck_assert_int_eq(ifr.ifr_mtu, 1400);
	ck_assert_int_eq(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	ck_assert(ifr.ifr_flags & IFF_UP);

	/* Idempotent, and a second run may change the MTU. */
	ck_assert_int_eq(route_tun_configure(name, IP4(100, 64, 0, 1), 22, 1300), 0);
	ck_assert_int_eq(ioctl(s, SIOCGIFMTU, &ifr), 0);
	ck_assert_int_eq(ifr.ifr_mtu, 1300);
	ck_assert_int_eq(route_iface_ipv4(name, &a), 0);
	ck_assert_uint_eq(a, IP4(100, 64, 0, 1));
	/* the kernel made the connected route for the client CIDR */
	{
		int st;
		char *out = run("ip -4 route show dev cvpn-tun0", &st);

		ck_assert_int_eq(st, 0);
		ck_assert_msg(strstr(out, "100.64.0.0/22") != NULL, "routes: %s", out);
		free(out);
	}

	ck_assert_int_eq(route_tun_configure("cvpn-missing", IP4(100, 64, 0, 1), 22, 1400), -ENODEV);
	ck_assert_int_eq(route_tun_configure(name, IP4(100, 64, 0, 1), 33, 1400), -EINVAL);
	ck_assert_int_eq(route_tun_configure(name, IP4(100, 64, 0, 1), 22, 0), -EINVAL);
	ck_assert_int_eq(route_tun_configure("0123456789abcdef", IP4(100, 64, 0, 1), 22, 1400), -EINVAL);
	close(s);
	close(fd);
}
END_TEST

START_TEST(test_forwarding)
{
	bool was = true;

	write_path("/proc/sys/net/ipv4/ip_forward", "0\n", 0);
	ck_assert_int_eq(route_enable_forwarding(&was), 0);
	ck_assert(!was);
	ck_assert_int_eq(read_forward(), '1');
	/* enabling again without a restore is a restart after a crash: the original value is the one
	 * recorded before the crash, not the "on" the crash left behind */
	was = true;
	ck_assert_int_eq(route_enable_forwarding(&was), 0);
	ck_assert(!was);
	ck_assert_int_eq(read_forward(), '1');
	ck_assert_int_eq(route_restore_forwarding(false), 0);
	ck_assert_int_eq(read_forward(), '0');
	/* the record is gone with the clean stop: the next start reads the live value again */
	write_path("/proc/sys/net/ipv4/ip_forward", "1\n", 0);
	ck_assert_int_eq(route_enable_forwarding(&was), 0);
	ck_assert(was);
	ck_assert_int_eq(route_restore_forwarding(true), 0);
	ck_assert_int_eq(read_forward(), '1');
	ck_assert_int_eq(route_restore_forwarding(false), 0);
	ck_assert_int_eq(read_forward(), '0');
}
END_TEST

static Suite *netlink_suite(void)
{
	Suite *s = suite_create("netlink");
	TCase *r = tcase_create("route");

	/* A checked fixture runs in the child Check forks for each test, so each test gets its own
	 * namespace. With CK_FORK=no it runs in the single process: still a fresh namespace per test. */
	tcase_add_checked_fixture(r, netns_enter, NULL);
	tcase_set_timeout(r, 20);
	tcase_add_test(r, test_iface_ipv4);
	tcase_add_test(r, test_tun_configure);
	tcase_add_test(r, test_forwarding);
	suite_add_tcase(s, r);
	return s;
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "test_netlink: SKIPPED: needs root (network namespaces)\n");
		return 0;
	}
	return check_run(netlink_suite());
}
