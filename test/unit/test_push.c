// SPDX-License-Identifier: GPL-2.0-or-later
/* PUSH_REPLY contents for split and full tunnel, option order, flags, and continuation splitting. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cvpn/push.h"

#include "check_run.h"

static struct config cfg;
static struct config_route routes[200];
static uint32_t dns[2];

static void setup(void)
{
	memset(&cfg, 0, sizeof(cfg));
	cfg.keepalive_interval = 10;
	cfg.keepalive_timeout = 60;
	cfg.split_tunnel = true;
	routes[0].dst = (struct cidr4){ 0xc6120100u, 24 }; /* 198.18.1.0/24 */
	routes[1].dst = (struct cidr4){ 0xc6130000u, 16 }; /* 198.19.0.0/16 */
	cfg.routes = routes;
	cfg.n_routes = 2;
	dns[0] = 0xc6120135u; /* 198.18.1.53 */
	cfg.dns_servers = dns;
	cfg.n_dns_servers = 1;
}

static struct push_params params(void)
{
	struct push_params pp = {
		.cfg = &cfg,
		.client_addr = 0x64400002u, /* 100.64.0.2 */
		.gateway_addr = 0x64400001u,
		.prefix_len = 22,
		.peer_id_on = true,
		.peer_id = 7,
		.cipher = CVPN_CIPHER_AES_256_GCM,
		.tls_ekm = true,
		.protocol_flags = true,
	};
	return pp;
}

START_TEST(split_tunnel)
{
	char msgs[4][PUSH_MSG_MAX];
	struct push_params pp = params();

	ck_assert_int_eq(push_build_reply(&pp, msgs, 4), 1);
	ck_assert_str_eq(msgs[0], "PUSH_REPLY,route-gateway 100.64.0.1,topology subnet,ping 10,ping-restart 60,"
				  "route 198.18.1.0 255.255.255.0,route 198.19.0.0 255.255.0.0,"
				  "dhcp-option DNS 198.18.1.53,ifconfig 100.64.0.2 255.255.252.0,peer-id 7,"
				  "cipher AES-256-GCM,protocol-flags cc-exit tls-ekm");
}
END_TEST

START_TEST(full_tunnel_and_flags)
{
	char msgs[4][PUSH_MSG_MAX];
	struct push_params pp = params();

	cfg.split_tunnel = false;
	pp.tls_ekm = false;
	pp.peer_id_on = false;
	pp.cipher = CVPN_CIPHER_CHACHA20_POLY1305;
	ck_assert_int_eq(push_build_reply(&pp, msgs, 4), 1);
	ck_assert_ptr_nonnull(strstr(msgs[0], ",redirect-gateway def1 bypass-dhcp,"));
	ck_assert_ptr_null(strstr(msgs[0], ",route "));
	ck_assert_ptr_null(strstr(msgs[0], "peer-id"));
	ck_assert_ptr_null(strstr(msgs[0], "tls-ekm"));
	ck_assert_ptr_nonnull(strstr(msgs[0], ",cipher CHACHA20-POLY1305,protocol-flags cc-exit"));
	/* a client without protocol-flags support gets the older key-derivation option */
	pp.tls_ekm = true;
	pp.protocol_flags = false;
	ck_assert_int_eq(push_build_reply(&pp, msgs, 4), 1);
	ck_assert_ptr_nonnull(strstr(msgs[0], ",key-derivation tls-ekm"));
	ck_assert_ptr_null(strstr(msgs[0], "protocol-flags"));
}
END_TEST

START_TEST(continuation)
{
	char msgs[8][PUSH_MSG_MAX];
	struct push_params pp = params();
	int n, routes_seen = 0;

	for (int i = 0; i < 120; i++)
		routes[i].dst = (struct cidr4){ 0xc6120000u + ((uint32_t)i << 8), 24 };
	cfg.n_routes = 120;
	n = push_build_reply(&pp, msgs, 8);
	ck_assert_int_gt(n, 1);
	for (int i = 0; i < n; i++) {
		size_t len = strlen(msgs[i]);
		const char *tail = i == n - 1 ? ",push-continuation 1" : ",push-continuation 2";

		ck_assert_uint_lt(len, PUSH_MSG_MAX); /* with its NUL, at most 1024 bytes */
		ck_assert_int_eq(strncmp(msgs[i], "PUSH_REPLY,", 11), 0);
		ck_assert_str_eq(msgs[i] + len - strlen(tail), tail);
		for (const char *p = msgs[i]; (p = strstr(p, ",route 198.18.")); p++)
			routes_seen++;
	}
	ck_assert_int_eq(routes_seen, 120); /* none lost at a split, none repeated */
	ck_assert_int_eq(push_build_reply(&pp, msgs, 1), -E2BIG);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("push");
	TCase *tc = tcase_create("reply");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, split_tunnel);
	tcase_add_test(tc, full_tunnel_and_flags);
	tcase_add_test(tc, continuation);
	suite_add_tcase(s, tc);
	return check_run(s);
}
