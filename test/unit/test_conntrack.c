// SPDX-License-Identifier: GPL-2.0-or-later
/* ct_flush_source in a fresh network namespace: flows from two sources are tracked, and only the named
 * source's flows are deleted. Needs root (unshare); skipped otherwise. */
#define _GNU_SOURCE /* unshare() */
#include <arpa/inet.h>
#include <check.h>
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

/* One UDP flow per source port, from src to DST:9 (nothing listens: the entry exists all the same). */
static void udp_flows(uint32_t src, int n)
{
	for (int i = 0; i < n; i++) {
		struct sockaddr_in from = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(src) };
		struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(9), .sin_addr.s_addr = htonl(DST) };
		int fd = socket(AF_INET, SOCK_DGRAM, 0);

		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(bind(fd, (struct sockaddr *)&from, sizeof(from)), 0);
		ck_assert_int_eq(sendto(fd, "x", 1, 0, (struct sockaddr *)&to, sizeof(to)), 1);
		close(fd);
	}
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
	suite_add_tcase(s, tc);
	return check_run(s);
}
