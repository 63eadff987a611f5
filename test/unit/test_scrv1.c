// SPDX-License-Identifier: GPL-2.0-or-later
/* The static-challenge password field (ctrl/auth/scrv1.c): what a 2.6 client sends, and what it never does. */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "cvpn/scrv1.h"

#include "check_run.h"

START_TEST(base64_vectors)
{
	/* RFC 4648 §10 */
	static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const enc[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
	uint8_t out[16];

	for (size_t i = 0; i < 7; i++) {
		ssize_t n = scrv1_base64_decode(enc[i], strlen(enc[i]), out, sizeof(out));

		ck_assert_int_eq(n, (ssize_t)strlen(plain[i]));
		ck_assert_mem_eq(out, plain[i], (size_t)n);
	}
	ck_assert_int_eq(scrv1_base64_decode("Zm9", 3, out, sizeof(out)), -EINVAL);     /* not a multiple of 4 */
	ck_assert_int_eq(scrv1_base64_decode("Zm=v", 4, out, sizeof(out)), -EINVAL);    /* data after padding */
	ck_assert_int_eq(scrv1_base64_decode("Z===", 4, out, sizeof(out)), -EINVAL);    /* three '=' */
	ck_assert_int_eq(scrv1_base64_decode("Zh==", 4, out, sizeof(out)), -EINVAL);    /* non-zero hidden bits */
	ck_assert_int_eq(scrv1_base64_decode("Zm9v", 4, out, 2), -ENOSPC);
	ck_assert_int_eq(scrv1_base64_decode("Zg==Zg==", 8, out, sizeof(out)), -EINVAL); /* padding inside */
	ck_assert_int_eq(scrv1_base64_decode("Zm9-", 4, out, sizeof(out)), -EINVAL);    /* url alphabet */
}
END_TEST

START_TEST(parse_client_field)
{
	char pw[64], code[16];

	/* "s3cret" and "123456", as openvpn's get_user_pass_cr() encodes them */
	ck_assert_int_eq(scrv1_parse("SCRV1:czNjcmV0:MTIzNDU2", pw, sizeof(pw), code, sizeof(code)), 1);
	ck_assert_str_eq(pw, "s3cret");
	ck_assert_str_eq(code, "123456");
	/* empty response (the user just pressed enter) */
	ck_assert_int_eq(scrv1_parse("SCRV1:czNjcmV0:", pw, sizeof(pw), code, sizeof(code)), 1);
	ck_assert_str_eq(code, "");
	/* a password with ':' in it is base64, so still two parts */
	ck_assert_int_eq(scrv1_parse("SCRV1:YTpiOmM=:MQ==", pw, sizeof(pw), code, sizeof(code)), 1);
	ck_assert_str_eq(pw, "a:b:c");
}
END_TEST

START_TEST(parse_plain_and_bad)
{
	char pw[8], code[8];

	memset(pw, 'x', sizeof(pw));
	ck_assert_int_eq(scrv1_parse("hunter2", pw, sizeof(pw), code, sizeof(code)), 0);
	ck_assert_int_eq(pw[0], 'x'); /* nothing written for a plain password */
	ck_assert_int_eq(scrv1_parse("scrv1:czNjcmV0:MTIz", pw, sizeof(pw), code, sizeof(code)), 0);
	ck_assert_int_eq(scrv1_parse("SCRV1:czNjcmV0", pw, sizeof(pw), code, sizeof(code)), -EINVAL);
	ck_assert_int_eq(scrv1_parse("SCRV1:czNjcmV0:MTIz:MTIz", pw, sizeof(pw), code, sizeof(code)), -EINVAL);
	ck_assert_int_eq(scrv1_parse("SCRV1:!!!!:MTIz", pw, sizeof(pw), code, sizeof(code)), -EINVAL);
	/* an embedded NUL ("a\0b") would cut the password short where the directory sees it */
	ck_assert_int_eq(scrv1_parse("SCRV1:YQBi:MTIz", pw, sizeof(pw), code, sizeof(code)), -EINVAL);
	/* 8 bytes do not fit 8 with the terminator; the buffers are wiped on failure */
	ck_assert_int_eq(scrv1_parse("SCRV1:MTIzNDU2Nzg=:MQ==", pw, sizeof(pw), code, sizeof(code)), -EINVAL);
	for (size_t i = 0; i < sizeof(pw); i++)
		ck_assert_int_eq(pw[i], 0);
	ck_assert_int_eq(scrv1_parse("SCRV1:MTIzNDU2Nw==:MQ==", pw, sizeof(pw), code, sizeof(code)), 1);
	ck_assert_str_eq(pw, "1234567");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("scrv1");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, base64_vectors);
	tcase_add_test(tc, parse_client_field);
	tcase_add_test(tc, parse_plain_and_bad);
	suite_add_tcase(s, tc);
	return check_run(s);
}
