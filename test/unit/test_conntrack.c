// SPDX-License-Identifier: GPL-2.0-or-later
/* ct_flush_source, ct_flush_destination and ct_flush_source_net in a fresh network namespace: flows between
 * local addresses are tracked, and only the named ones are deleted. Needs root (unshare); skipped otherwise. */
#define _GNU_SOURCE /* unshare() */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check_run.h"
#include "cvpn/conntrack.h"
#include "test_util.h"

#define SRC_A 0x64400005u /* 100.64.0.5 */
#define SRC_B 0x64400007u /* 100.64.0.7 */
#define DST 0x64400006u   /* 100.64.0.6 */

static void sh(const char *cmd)
{
	ck_assert_msg(system(cmd) == 0, "failed: %s", cmd);
}

static void setup_netns(void)
{
	netns_enter();
	netns_lo_up();
	sh("ip addr add 100.64.0.5/32 dev lo && ip addr add 100.64.0.6/32 dev lo && ip addr add 100.64.0.7/32 dev lo");
	/* conntrack runs in a namespace only once something there asks for it */
	sh("nft 'add table inet t; add chain inet t out { type filter hook output priority 0; }; "
	   "add rule inet t out ct state new counter'");
}

/* One UDP flow per source port, from src to dst:9 (nothing listens: the entry exists all the same). */
static void udp_flows_to(uint32_t src, uint32_t dst, int n)
{
	for (int i = 0; i < n; i++) {
		struct sockaddr_in from = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(src) };
		struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(9), .sin_addr.s_addr = htonl(dst) };
		int fd = socket(AF_INET, SOCK_DGRAM, 0);

		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(bind(fd, (struct sockaddr *)&from, sizeof(from)), 0);
		ck_assert_int_eq(sendto(fd, "x", 1, 0, (struct sockaddr *)&to, sizeof(to)), 1);
		close(fd);
	}
}

static void udp_flows(uint32_t src, int n)
{
	udp_flows_to(src, DST, n);
}

START_TEST(flush_only_that_source)
{
	udp_flows(SRC_A, 3);
	udp_flows(SRC_B, 2);
	ck_assert_int_eq(ct_flush_source(0x64400063u), 0); /* an address with no flows */
	ck_assert_int_eq(ct_flush_source(SRC_A), 3);
	ck_assert_int_eq(ct_flush_source(SRC_A), 0);       /* gone */
	ck_assert_int_eq(ct_flush_source(SRC_B), 2);       /* untouched until asked */
}
END_TEST

/* A client's address handed to someone else must not carry flows towards it either: those other clients
 * opened to it. */
START_TEST(flush_by_destination)
{
	udp_flows_to(SRC_A, DST, 2);
	udp_flows_to(SRC_B, DST, 1);
	udp_flows_to(SRC_B, SRC_A, 3);
	ck_assert_int_eq(ct_flush_destination(SRC_A), 3);
	ck_assert_int_eq(ct_flush_destination(SRC_A), 0);
	ck_assert_int_eq(ct_flush_destination(DST), 3);   /* A's 2 and B's 1 */
	ck_assert_int_eq(ct_flush_source(SRC_A), 0);      /* A's went with them */
}
END_TEST

/* The sessions that ended since the last tick, in one pass: either end of a flow may be one of them. */
START_TEST(flush_a_set_of_addresses)
{
	const uint32_t ended[] = { DST, SRC_A }; /* unsorted on purpose */

	udp_flows_to(SRC_A, DST, 2);                       /* both ends ended */
	udp_flows_to(SRC_B, SRC_A, 1);                     /* to an ended one */
	udp_flows_to(SRC_B, 0x7f000001u, 3);               /* neither */
	ck_assert_int_eq(ct_flush_addresses(ended, 2), 3);
	ck_assert_int_eq(ct_flush_addresses(ended, 2), 0);
	ck_assert_int_eq(ct_flush_addresses(ended, 0), 0);
	ck_assert_int_eq(ct_flush_source(SRC_B), 3);
}
END_TEST

/* At start, a killed instance's clients' flows go: every source in the client CIDR, nothing outside it. */
START_TEST(flush_a_source_network)
{
	udp_flows(SRC_A, 2);
	udp_flows(SRC_B, 2);
	udp_flows_to(DST, SRC_A, 1);                        /* 100.64.0.6 is in the /29 too */
	udp_flows(0x7f000001u, 1);                          /* 127.0.0.1: outside */
	ck_assert_int_eq(ct_flush_source_net(0x64400000u, 29), 5);
	ck_assert_int_eq(ct_flush_source_net(0x64400000u, 29), 0);
	ck_assert_int_eq(ct_flush_source(0x7f000001u), 1);
	ck_assert_int_eq(ct_flush_source_net(0, 33), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("conntrack");
	TCase *tc = tcase_create("flush");

	if (geteuid() != 0) {
		printf("test_conntrack: SKIPPED (needs root for unshare)\n");
		return EXIT_SUCCESS;
	}
	tcase_add_checked_fixture(tc, setup_netns, NULL);
	tcase_add_test(tc, flush_only_that_source);
	tcase_add_test(tc, flush_by_destination);
	tcase_add_test(tc, flush_a_source_network);
	tcase_add_test(tc, flush_a_set_of_addresses);
	suite_add_tcase(s, tc);
	return check_run(s);
}
