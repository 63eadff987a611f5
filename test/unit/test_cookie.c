// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for ctrl/proto/cookie.c: the stateless HMAC session-id cookie (openvpn-protocol.md §2.3). */

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "cvpn/cookie.h"

#include "check_run.h"

static const uint8_t sid_a[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
static const uint8_t sid_b[8] = { 1, 2, 3, 4, 5, 6, 7, 9 };

static struct sockaddr_in v4(const char *ip, uint16_t port)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	ck_assert_int_eq(inet_pton(AF_INET, ip, &sin.sin_addr), 1);
	return sin;
}

static struct sockaddr_in6 v6(const char *ip, uint16_t port)
{
	struct sockaddr_in6 sin6;

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(port);
	ck_assert_int_eq(inet_pton(AF_INET6, ip, &sin6.sin6_addr), 1);
	return sin6;
}

#define SA(x) ((const struct sockaddr *)&(x))

/* A fixed, known key so the cookie can be recomputed here from the documented input layout. */
static struct cookie_key fixed_key(void)
{
	struct cookie_key ck;
	int i;

	for (i = 0; i < COOKIE_KEY_LEN; i++)
		ck.key[i] = (uint8_t)(0xa0 + i);
	ck.slot_seconds = 30;
	return ck;
}

START_TEST(test_key_init)
{
	struct cookie_key a, b;

	ck_assert_int_eq(cookie_key_init(&a, 60), 0);
	ck_assert_uint_eq(a.slot_seconds, 30);
	ck_assert_int_eq(cookie_key_init(&b, 61), 0);
	ck_assert_uint_eq(b.slot_seconds, 31);
	/* two draws from the RNG are not the same 32 bytes */
	ck_assert(memcmp(a.key, b.key, COOKIE_KEY_LEN) != 0);
	ck_assert_int_eq(cookie_key_init(&b, 0), 0);
	ck_assert_uint_ge(b.slot_seconds, 1);
}
END_TEST

START_TEST(test_layout_ipv4)
{
	struct cookie_key ck = fixed_key();
	struct sockaddr_in src = v4("198.51.100.7", 51820);
	const uint64_t now = 1700000000;
	const uint32_t slot = (uint32_t)(now / 30);
	uint8_t in[4 + 4 + 2 + 8], md[EVP_MAX_MD_SIZE], cookie[8];
	unsigned md_len;

	/* u32 BE slot || address || port BE || client sid */
	in[0] = (uint8_t)(slot >> 24);
	in[1] = (uint8_t)(slot >> 16);
	in[2] = (uint8_t)(slot >> 8);
	in[3] = (uint8_t)slot;
	in[4] = 198, in[5] = 51, in[6] = 100, in[7] = 7;
	in[8] = 51820 >> 8, in[9] = 51820 & 0xff;
	memcpy(in + 10, sid_a, 8);
	ck_assert_ptr_nonnull(HMAC(EVP_sha256(), ck.key, COOKIE_KEY_LEN, in, sizeof(in), md, &md_len));
	cookie_make(&ck, SA(src), sid_a, now, cookie);
	ck_assert_mem_eq(cookie, md, 8);
}
END_TEST

START_TEST(test_layout_ipv6)
{
	struct cookie_key ck = fixed_key();
	struct sockaddr_in6 src = v6("2001:db8::42", 1194);
	const uint64_t now = 1700000000;
	const uint32_t slot = (uint32_t)(now / 30);
	uint8_t in[4 + 16 + 2 + 8], md[EVP_MAX_MD_SIZE], cookie[8];
	unsigned md_len;

	in[0] = (uint8_t)(slot >> 24);
	in[1] = (uint8_t)(slot >> 16);
	in[2] = (uint8_t)(slot >> 8);
	in[3] = (uint8_t)slot;
	memset(in + 4, 0, 16);
	in[4] = 0x20, in[5] = 0x01, in[6] = 0x0d, in[7] = 0xb8, in[19] = 0x42;
	in[20] = 1194 >> 8, in[21] = 1194 & 0xff;
	memcpy(in + 22, sid_a, 8);
	ck_assert_ptr_nonnull(HMAC(EVP_sha256(), ck.key, COOKIE_KEY_LEN, in, sizeof(in), md, &md_len));
	cookie_make(&ck, SA(src), sid_a, now, cookie);
	ck_assert_mem_eq(cookie, md, 8);
}
END_TEST

START_TEST(test_inputs_matter)
{
	struct cookie_key ck, ck2;
	struct sockaddr_in a = v4("203.0.113.5", 40000), a_port = v4("203.0.113.5", 40001),
			   a_addr = v4("203.0.113.6", 40000);
	struct sockaddr_in6 b = v6("2001:db8::5", 40000), b_addr = v6("2001:db8::6", 40000);
	uint8_t c1[8], c2[8];
	const uint64_t now = 1000000;

	ck_assert_int_eq(cookie_key_init(&ck, 60), 0);
	ck_assert_int_eq(cookie_key_init(&ck2, 60), 0);

	cookie_make(&ck, SA(a), sid_a, now, c1);
	cookie_make(&ck, SA(a), sid_a, now, c2);
	ck_assert_mem_eq(c1, c2, 8);
	/* same slot, different second: same cookie */
	cookie_make(&ck, SA(a), sid_a, now - now % 30 + 29, c2);
	ck_assert_mem_eq(c1, c2, 8);

	cookie_make(&ck, SA(a_port), sid_a, now, c2);
	ck_assert(memcmp(c1, c2, 8) != 0);
	ck_assert(!cookie_verify(&ck, SA(a_port), sid_a, now, c1));
	cookie_make(&ck, SA(a_addr), sid_a, now, c2);
	ck_assert(memcmp(c1, c2, 8) != 0);
	ck_assert(!cookie_verify(&ck, SA(a_addr), sid_a, now, c1));
	cookie_make(&ck, SA(a), sid_b, now, c2);
	ck_assert(memcmp(c1, c2, 8) != 0);
	ck_assert(!cookie_verify(&ck, SA(a), sid_b, now, c1));
	cookie_make(&ck2, SA(a), sid_a, now, c2);
	ck_assert(memcmp(c1, c2, 8) != 0);
	ck_assert(!cookie_verify(&ck2, SA(a), sid_a, now, c1));
	ck_assert(cookie_verify(&ck, SA(a), sid_a, now, c1));

	cookie_make(&ck, SA(b), sid_a, now, c1);
	ck_assert(cookie_verify(&ck, SA(b), sid_a, now, c1));
	cookie_make(&ck, SA(b_addr), sid_a, now, c2);
	ck_assert(memcmp(c1, c2, 8) != 0);
	ck_assert(!cookie_verify(&ck, SA(b_addr), sid_a, now, c1));
	ck_assert(!cookie_verify(&ck, SA(a), sid_a, now, c1));
}
END_TEST

START_TEST(test_slots)
{
	struct cookie_key ck;
	struct sockaddr_in a = v4("198.18.3.4", 1194);
	const uint64_t start = 30 * 50000; /* first second of a slot */
	uint8_t c[8];

	ck_assert_int_eq(cookie_key_init(&ck, 60), 0);
	cookie_make(&ck, SA(a), sid_a, start + 10, c);
	ck_assert(cookie_verify(&ck, SA(a), sid_a, start, c));
	ck_assert(cookie_verify(&ck, SA(a), sid_a, start + 29, c));
	ck_assert(cookie_verify(&ck, SA(a), sid_a, start + 30, c));      /* previous slot */
	ck_assert(cookie_verify(&ck, SA(a), sid_a, start + 89, c));      /* two slots back */
	ck_assert(!cookie_verify(&ck, SA(a), sid_a, start + 90, c));     /* three slots back */
	ck_assert(!cookie_verify(&ck, SA(a), sid_a, start + 1000, c));
	ck_assert(!cookie_verify(&ck, SA(a), sid_a, start - 1, c));      /* a cookie from the future */
	ck_assert(!cookie_verify(&ck, SA(a), sid_a, start - 30, c));
}
END_TEST

START_TEST(test_bit_flips)
{
	struct cookie_key ck;
	struct sockaddr_in6 a = v6("2001:db8:1::9", 443);
	uint8_t c[8], bad[8];
	int bit;

	ck_assert_int_eq(cookie_key_init(&ck, 60), 0);
	cookie_make(&ck, SA(a), sid_b, 123456, c);
	ck_assert(cookie_verify(&ck, SA(a), sid_b, 123456, c));
	for (bit = 0; bit < 64; bit++) {
		memcpy(bad, c, 8);
		bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		ck_assert_msg(!cookie_verify(&ck, SA(a), sid_b, 123456, bad), "bit %d", bit);
	}
}
END_TEST

START_TEST(test_unknown_family)
{
	struct cookie_key ck = fixed_key();
	struct sockaddr_storage ss;
	uint8_t c[8];

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	cookie_make(&ck, (const struct sockaddr *)&ss, sid_a, 1000, c);
	ck_assert(!cookie_verify(&ck, (const struct sockaddr *)&ss, sid_a, 1000, c));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cookie");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_key_init);
	tcase_add_test(tc, test_layout_ipv4);
	tcase_add_test(tc, test_layout_ipv6);
	tcase_add_test(tc, test_inputs_matter);
	tcase_add_test(tc, test_slots);
	tcase_add_test(tc, test_bit_flips);
	tcase_add_test(tc, test_unknown_family);
	suite_add_tcase(s, tc);
	return check_run(s);
}
