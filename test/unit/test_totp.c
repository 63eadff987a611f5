// SPDX-License-Identifier: GPL-2.0-or-later
/* TOTP (ctrl/auth/totp.c) against the published vectors: RFC 4226 appendix D (HOTP, 6 digits) and RFC 6238
 * appendix B (TOTP SHA-1, 8 digits, secret "12345678901234567890"); base32 as authenticator apps share
 * secrets; the ±1 step window and its edges. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cvpn/totp.h"

#include "check_run.h"

static const uint8_t rfc_key[] = "12345678901234567890";
#define RFC_KEY_LEN 20

START_TEST(hotp_rfc4226)
{
	static const uint32_t expect[10] = { 755224, 287082, 359152, 969429, 338314,
					     254676, 287922, 162583, 399871, 520489 };

	for (uint64_t c = 0; c < 10; c++)
		ck_assert_uint_eq(totp_hotp(rfc_key, RFC_KEY_LEN, c, 6), expect[c]);
}
END_TEST

START_TEST(totp_rfc6238_sha1)
{
	static const struct { time_t t; uint32_t code; } v[] = {
		{ 59, 94287082 }, { 1111111109, 7081804 }, { 1111111111, 14050471 },
		{ 1234567890, 89005924 }, { 2000000000, 69279037 }, { 20000000000, 65353130 },
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		ck_assert_uint_eq(totp_code(rfc_key, RFC_KEY_LEN, v[i].t, 8), v[i].code);
	/* 6 digits, as apps show them, are the low digits of the same value */
	ck_assert_uint_eq(totp_code(rfc_key, RFC_KEY_LEN, 59, 6), 287082);
}
END_TEST

START_TEST(base32)
{
	uint8_t out[64];
	/* "12345678901234567890" in base32, as an otpauth:// URI carries it */
	const char *b32 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

	ck_assert_int_eq(totp_base32_decode(b32, out, sizeof(out)), RFC_KEY_LEN);
	ck_assert_mem_eq(out, rfc_key, RFC_KEY_LEN);
	/* lower case, spaces and padding as some apps print them */
	ck_assert_int_eq(totp_base32_decode("gezd gnbv gy3t qojq gezd gnbv gy3t qojq", out, sizeof(out)), RFC_KEY_LEN);
	ck_assert_mem_eq(out, rfc_key, RFC_KEY_LEN);
	ck_assert_int_eq(totp_base32_decode("MZXW6===", out, sizeof(out)), 3);
	ck_assert_mem_eq(out, "foo", 3);
	ck_assert_int_eq(totp_base32_decode("GEZ1", out, sizeof(out)), -EINVAL); /* '1' is not base32 */
	ck_assert_int_eq(totp_base32_decode("", out, sizeof(out)), -EINVAL);
	ck_assert_int_eq(totp_base32_decode(b32, out, 4), -ENOSPC);
}
END_TEST

static void code_str(time_t t, char buf[16])
{
	snprintf(buf, 16, "%06u", totp_code(rfc_key, RFC_KEY_LEN, t, 6));
}

START_TEST(verify_window)
{
	time_t now = 1111111111; /* step 37037037, 1 s into it */
	uint64_t step = 0;
	char c[16];

	code_str(now, c);
	ck_assert_int_eq(totp_verify(rfc_key, RFC_KEY_LEN, c, now, &step), 0);
	ck_assert_uint_eq(step, (uint64_t)now / 30);
	/* one step of skew either way */
	code_str(now - 30, c);
	ck_assert_int_eq(totp_verify(rfc_key, RFC_KEY_LEN, c, now, &step), 0);
	ck_assert_uint_eq(step, (uint64_t)now / 30 - 1);
	code_str(now + 30, c);
	ck_assert_int_eq(totp_verify(rfc_key, RFC_KEY_LEN, c, now, &step), 0);
	ck_assert_uint_eq(step, (uint64_t)now / 30 + 1);
	/* two steps is too far */
	/* (none of these codes equals one inside the window for this key and time: checked by the vectors) */
	code_str(now - 60, c);
	ck_assert_int_eq(totp_verify(rfc_key, RFC_KEY_LEN, c, now, &step), -EACCES);
	code_str(now + 60, c);
	ck_assert_int_eq(totp_verify(rfc_key, RFC_KEY_LEN, c, now, &step), -EACCES);
}
END_TEST

START_TEST(verify_rejects_malformed)
{
	time_t now = 59;
	uint64_t step;

	ck_assert_int_eq(totp_verify(rfc_key, RFC_KEY_LEN, "287082", now, &step), 0);
	ck_assert_int_eq(totp_verify(rfc_key, RFC_KEY_LEN, "287083", now, &step), -EACCES);
	ck_assert_int_eq(totp_verify(rfc_key, RFC_KEY_LEN, "94287082", now, &step), -EACCES); /* 8 digits */
	ck_assert_int_eq(totp_verify(rfc_key, RFC_KEY_LEN, "28708", now, &step), -EACCES);
	ck_assert_int_eq(totp_verify(rfc_key, RFC_KEY_LEN, "28708a", now, &step), -EACCES);
	ck_assert_int_eq(totp_verify(rfc_key, RFC_KEY_LEN, " 287082", now, &step), -EACCES);
	ck_assert_int_eq(totp_verify(rfc_key, RFC_KEY_LEN, "", now, &step), -EACCES);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("totp");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, hotp_rfc4226);
	tcase_add_test(tc, totp_rfc6238_sha1);
	tcase_add_test(tc, base32);
	tcase_add_test(tc, verify_window);
	tcase_add_test(tc, verify_rejects_malformed);
	suite_add_tcase(s, tc);
	return check_run(s);
}
