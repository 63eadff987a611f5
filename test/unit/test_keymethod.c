// SPDX-License-Identifier: GPL-2.0-or-later
/* Key-method-2 parsing against hand-assembled messages in the exact 2.6 layout, and the server reply. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cvpn/keymethod.h"

#include "check_run.h"

/* Assembles a client message field by field, as openvpn-protocol.md §4.3 lays it out. */
static size_t put_str(uint8_t *p, const char *s, int mode)
{
	size_t l;

	if (mode == 0) { /* absent: u16 0 */
		p[0] = p[1] = 0;
		return 2;
	}
	l = strlen(s) + 1;
	p[0] = (uint8_t)(l >> 8);
	p[1] = (uint8_t)l;
	memcpy(p + 2, s, l);
	return 2 + l;
}

static size_t client_msg(uint8_t *buf, const char *opts, const char *user, const char *pass, const char *pi)
{
	size_t n = 0;

	memset(buf, 0, 5);
	buf[4] = 2;
	n = 5;
	for (int i = 0; i < 48; i++)
		buf[n++] = (uint8_t)(0xa0 + i % 16);
	for (int i = 0; i < 32; i++)
		buf[n++] = (uint8_t)i;
	for (int i = 0; i < 32; i++)
		buf[n++] = (uint8_t)(0x80 | i);
	n += put_str(buf + n, opts, 1);
	n += put_str(buf + n, user, user != NULL);
	n += put_str(buf + n, pass, pass != NULL);
	n += put_str(buf + n, pi, pi != NULL);
	return n;
}

START_TEST(parse_full)
{
	uint8_t buf[4096];
	struct km2_client km;
	size_t n = client_msg(buf, "V4,dev-type tun", "alice", "s3cret",
			      "IV_VER=2.6.14\nIV_PLAT=linux\nIV_PROTO=990\nIV_CIPHERS=AES-256-GCM:AES-128-GCM\n");

	ck_assert_int_eq(km2_parse_client(buf, n, &km), 0);
	ck_assert_uint_eq(km.pre_master[0], 0xa0);
	ck_assert_uint_eq(km.pre_master[47], 0xaf);
	ck_assert_uint_eq(km.random1[31], 31);
	ck_assert_uint_eq(km.random2[0], 0x80);
	ck_assert_str_eq(km.options, "V4,dev-type tun");
	ck_assert_str_eq(km.username, "alice");
	ck_assert_str_eq(km.password, "s3cret");
	ck_assert_uint_eq(peerinfo_iv_proto(km.peer_info), 990);
	{
		char v[64];

		ck_assert_int_eq(peerinfo_get(km.peer_info, "IV_CIPHERS", v, sizeof(v)), 0);
		ck_assert_str_eq(v, "AES-256-GCM:AES-128-GCM");
		ck_assert_int_eq(peerinfo_get(km.peer_info, "IV_VER", v, sizeof(v)), 0);
		ck_assert_str_eq(v, "2.6.14");
		ck_assert_int_eq(peerinfo_get(km.peer_info, "IV_NOPE", v, sizeof(v)), -ENOENT);
		/* a key that is a prefix of another must not match it */
		ck_assert_int_eq(peerinfo_get(km.peer_info, "IV_PRO", v, sizeof(v)), -ENOENT);
		/* what the client puts in a value reaches logs and JSON: printable ASCII, the rest '?' */
		ck_assert_int_eq(peerinfo_get("IV_PLAT=li\tnux\xff\xfe\r\nIV_VER=2.6", "IV_PLAT", v, sizeof(v)), 0);
		ck_assert_str_eq(v, "li?nux???");
		ck_assert_int_eq(peerinfo_get("IV_PLAT=linux", "IV_PLAT", v, 4), 0);
		ck_assert_str_eq(v, "lin");
	}
	km2_client_wipe(&km);
	ck_assert_uint_eq(km.password[0], 0);
}
END_TEST

START_TEST(parse_absent_fields)
{
	uint8_t buf[4096];
	struct km2_client km;
	size_t n = client_msg(buf, "V4", NULL, NULL, NULL);

	ck_assert_int_eq(km2_parse_client(buf, n, &km), 0);
	ck_assert_str_eq(km.username, "");
	ck_assert_str_eq(km.password, "");
	ck_assert_str_eq(km.peer_info, "");
	ck_assert_uint_eq(peerinfo_iv_proto(km.peer_info), 0);
}
END_TEST

START_TEST(parse_rejects)
{
	uint8_t buf[4096], bad[4096];
	struct km2_client km;
	size_t n = client_msg(buf, "V4,dev-type tun", "u", "p", "IV_PROTO=2\n");

	/* every truncation that cuts into a mandatory field or a string fails cleanly */
	for (size_t cut = 0; cut < 5 + 48 + 64 + 2 + 16; cut++) {
		uint8_t *copy = malloc(cut ? cut : 1);

		memcpy(copy, buf, cut);
		ck_assert_int_eq(km2_parse_client(copy, cut, &km), -EINVAL);
		free(copy);
	}
	memcpy(bad, buf, n);
	bad[0] = 1; /* the literal zero */
	ck_assert_int_eq(km2_parse_client(bad, n, &km), -EINVAL);
	memcpy(bad, buf, n);
	bad[4] = 1; /* key method 1 */
	ck_assert_int_eq(km2_parse_client(bad, n, &km), -EINVAL);
	memcpy(bad, buf, n);
	bad[5 + 48 + 64 + 2 + 3] = '\0'; /* NUL inside the options string */
	ck_assert_int_eq(km2_parse_client(bad, n, &km), -EINVAL);
	/* a string length beyond the message */
	memcpy(bad, buf, n);
	bad[5 + 48 + 64] = 0x7f;
	ck_assert_int_eq(km2_parse_client(bad, n, &km), -EINVAL);
}
END_TEST

START_TEST(parse_options_limit)
{
	uint8_t buf[4096];
	struct km2_client km;
	char opts[KM2_OPTIONS_MAX + 1];

	memset(opts, 'x', sizeof(opts) - 1);
	opts[sizeof(opts) - 1] = '\0'; /* 512 chars + NUL = 513 bytes: one too many */
	ck_assert_int_eq(km2_parse_client(buf, client_msg(buf, opts, NULL, NULL, NULL), &km), -EINVAL);
	opts[KM2_OPTIONS_MAX - 1] = '\0'; /* 511 + NUL fits exactly */
	ck_assert_int_eq(km2_parse_client(buf, client_msg(buf, opts, NULL, NULL, NULL), &km), 0);
}
END_TEST

START_TEST(build_server)
{
	uint8_t r1[32], r2[32], out[1024];
	const char *opts = "V4,dev-type tun,tls-server";
	ssize_t n;

	memset(r1, 0x11, 32);
	memset(r2, 0x22, 32);
	n = km2_build_server(r1, r2, opts, out, sizeof(out));
	ck_assert_int_eq(n, 5 + 64 + 2 + (ssize_t)strlen(opts) + 1 + 6);
	ck_assert_mem_eq(out, "\0\0\0\0\2", 5);
	ck_assert_mem_eq(out + 5, r1, 32);          /* no pre-master from a server */
	ck_assert_mem_eq(out + 37, r2, 32);
	ck_assert_uint_eq(out[69] << 8 | out[70], strlen(opts) + 1);
	ck_assert_str_eq((char *)out + 71, opts);
	ck_assert_mem_eq(out + n - 6, "\0\0\0\0\0\0", 6); /* empty username, password, peer-info */
	ck_assert_int_eq(km2_build_server(r1, r2, opts, out, 40), -ENOSPC);
}
END_TEST

static void client_fields(struct km2_client *km)
{
	memset(km, 0, sizeof(*km));
	for (int i = 0; i < 48; i++)
		km->pre_master[i] = (uint8_t)(0x30 + i);
	for (int i = 0; i < 32; i++) {
		km->random1[i] = (uint8_t)(0x90 + i);
		km->random2[i] = (uint8_t)(0xd0 + i);
	}
	snprintf(km->options, sizeof(km->options), "V4,dev-type tun,proto UDPv4,key-method 2,tls-client");
	snprintf(km->peer_info, sizeof(km->peer_info),
		 "IV_VER=2.6.14\nIV_PLAT=linux\nIV_PROTO=990\nIV_CIPHERS=AES-256-GCM:AES-128-GCM:CHACHA20-POLY1305\n"
		 "IV_MTU=1600\n");
}

START_TEST(client_round_trip)
{
	struct km2_client km, back;
	uint8_t out[4096];
	size_t olen, plen;
	ssize_t n;

	client_fields(&km);
	n = km2_build_client(&km, out, sizeof(out));
	olen = strlen(km.options) + 1;
	plen = strlen(km.peer_info) + 1;
	/* header, pre-master and randoms, options, bare u16 0 for username and password, peer-info */
	ck_assert_int_eq(n, (ssize_t)(5 + 48 + 64 + 2 + olen + 2 + 2 + 2 + plen));
	ck_assert_mem_eq(out, "\0\0\0\0\2", 5);
	ck_assert_mem_eq(out + 5, km.pre_master, 48);
	ck_assert_uint_eq(out[117] << 8 | out[118], olen);
	ck_assert_mem_eq(out + 119 + olen, "\0\0\0\0", 4);
	ck_assert_int_eq(km2_parse_client(out, (size_t)n, &back), 0);
	ck_assert_mem_eq(back.pre_master, km.pre_master, 48);
	ck_assert_mem_eq(back.random1, km.random1, 32);
	ck_assert_mem_eq(back.random2, km.random2, 32);
	ck_assert_str_eq(back.options, km.options);
	ck_assert_str_eq(back.username, "");
	ck_assert_str_eq(back.password, "");
	ck_assert_str_eq(back.peer_info, km.peer_info);
	ck_assert_uint_eq(peerinfo_iv_proto(back.peer_info), 990);

	/* with credentials they come back too */
	snprintf(km.username, sizeof(km.username), "alice");
	snprintf(km.password, sizeof(km.password), "pw");
	n = km2_build_client(&km, out, sizeof(out));
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(km2_parse_client(out, (size_t)n, &back), 0);
	ck_assert_str_eq(back.username, "alice");
	ck_assert_str_eq(back.password, "pw");
	ck_assert_str_eq(back.peer_info, km.peer_info);

	/* every buffer too small by any amount is refused, never overrun */
	for (size_t cap = 0; cap < (size_t)n; cap++)
		ck_assert_int_eq(km2_build_client(&km, out, cap), -ENOSPC);
	/* a string that fills its field with no room for the NUL */
	memset(km.options, 'x', sizeof(km.options));
	ck_assert_int_eq(km2_build_client(&km, out, sizeof(out)), -EINVAL);
	km2_client_wipe(&back);
}
END_TEST

START_TEST(server_round_trip)
{
	uint8_t r1[32], r2[32], out[1024];
	const char *opts = "V4,dev-type tun,link-mtu 1550,tun-mtu 1500,proto UDPv4,cipher AES-256-GCM,tls-server";
	struct km2_server ks;
	ssize_t n;

	for (int i = 0; i < 32; i++) {
		r1[i] = (uint8_t)(i * 3);
		r2[i] = (uint8_t)(0xff - i);
	}
	n = km2_build_server(r1, r2, opts, out, sizeof(out));
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(km2_parse_server(out, (size_t)n, &ks), 0);
	ck_assert_mem_eq(ks.random1, r1, 32);
	ck_assert_mem_eq(ks.random2, r2, 32);
	ck_assert_str_eq(ks.options, opts);
	/* trailing strings may be missing entirely, as in old servers */
	ck_assert_int_eq(km2_parse_server(out, (size_t)n - 6, &ks), 0);
	ck_assert_str_eq(ks.options, opts);
}
END_TEST

START_TEST(server_parse_rejects)
{
	uint8_t r1[32] = { 1 }, r2[32] = { 2 }, out[1024], bad[1024];
	const char *opts = "V4,tls-server";
	struct km2_server ks;
	ssize_t n = km2_build_server(r1, r2, opts, out, sizeof(out));
	size_t mandatory = 5 + 64 + 2 + strlen(opts) + 1;

	ck_assert_int_gt(n, 0);
	for (size_t cut = 0; cut < mandatory; cut++)
		ck_assert_int_eq(km2_parse_server(out, cut, &ks), -EINVAL);
	ck_assert_int_eq(km2_parse_server(out, mandatory, &ks), 0);
	memcpy(bad, out, (size_t)n);
	bad[3] = 1; /* the literal zero */
	ck_assert_int_eq(km2_parse_server(bad, (size_t)n, &ks), -EINVAL);
	memcpy(bad, out, (size_t)n);
	bad[4] = 1; /* key method 1 */
	ck_assert_int_eq(km2_parse_server(bad, (size_t)n, &ks), -EINVAL);
	memcpy(bad, out, (size_t)n);
	bad[71 + 2] = '\0'; /* NUL inside the options string */
	ck_assert_int_eq(km2_parse_server(bad, (size_t)n, &ks), -EINVAL);
	memcpy(bad, out, (size_t)n);
	bad[mandatory + 1] = 9; /* username length beyond the message */
	ck_assert_int_eq(km2_parse_server(bad, (size_t)n, &ks), -EINVAL);
	/* a client's message is not a server's: its pre-master shifts everything by 48 bytes */
	{
		struct km2_client km;
		uint8_t cbuf[4096];
		ssize_t cn;

		client_fields(&km);
		cn = km2_build_client(&km, cbuf, sizeof(cbuf));
		ck_assert_int_eq(km2_parse_server(cbuf, (size_t)cn, &ks), -EINVAL);
	}
	/* options over the 512-byte limit */
	{
		uint8_t big[2048];
		size_t pos = 5 + 64;

		memset(big, 0, sizeof(big));
		big[4] = 2;
		big[pos++] = (KM2_OPTIONS_MAX + 1) >> 8;
		big[pos++] = (KM2_OPTIONS_MAX + 1) & 0xff;
		memset(big + pos, 'o', KM2_OPTIONS_MAX);
		pos += KM2_OPTIONS_MAX + 1;
		ck_assert_int_eq(km2_parse_server(big, pos, &ks), -EINVAL);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("keymethod");
	TCase *tc = tcase_create("km2");

	tcase_add_test(tc, parse_full);
	tcase_add_test(tc, parse_absent_fields);
	tcase_add_test(tc, parse_rejects);
	tcase_add_test(tc, parse_options_limit);
	tcase_add_test(tc, build_server);
	tcase_add_test(tc, client_round_trip);
	tcase_add_test(tc, server_round_trip);
	tcase_add_test(tc, server_parse_rejects);
	suite_add_tcase(s, tc);
	return check_run(s);
}
