// SPDX-License-Identifier: GPL-2.0-or-later
/* cert_check_client(): identity (CN) and clientAuth EKU checks on certificates built here with libcrypto, plus
 * hostile DER (garbage, every truncation) that must be refused without reading out of bounds under ASan. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cvpn/cert.h"

#include "check_run.h"

/* What the certificate under test carries: cn == NULL means no CN entry at all; cn_len lets a CN hold an
 * embedded NUL; eku == NULL means no extendedKeyUsage extension. */
struct spec {
	const char *cn;
	size_t cn_len;
	const char *eku;
};

static EVP_PKEY *key;

static void key_setup(void)
{
	key = EVP_EC_gen("P-256");
	ck_assert_ptr_nonnull(key);
}

static void key_teardown(void)
{
	EVP_PKEY_free(key);
	key = NULL;
}

/* Builds a self-signed v3 certificate for sp and returns its DER in a buffer of exactly *len bytes (malloc'd,
 * so ASan sees any read past the end). */
static uint8_t *make_der(const struct spec *sp, size_t *len)
{
	X509 *x = X509_new();
	X509_NAME *name;
	X509_EXTENSION *ext;
	unsigned char *tmp = NULL;
	uint8_t *der;
	int n;

	ck_assert_ptr_nonnull(x);
	ck_assert_int_eq(X509_set_version(x, X509_VERSION_3), 1);
	ck_assert_int_eq(ASN1_INTEGER_set(X509_get_serialNumber(x), 4242), 1);
	ck_assert_ptr_nonnull(X509_gmtime_adj(X509_getm_notBefore(x), -3600));
	ck_assert_ptr_nonnull(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
	ck_assert_int_eq(X509_set_pubkey(x, key), 1);

	name = X509_get_subject_name(x);
	ck_assert_int_eq(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"cvpn test", -1,
						    -1, 0), 1);
	/* A plain string type, not MBSTRING_*: the latter enforces the 64-character upper bound for CN, and the
	 * checks under test must cope with certificates that other tools did not hold to it. */
	if (sp->cn)
		ck_assert_int_eq(X509_NAME_add_entry_by_NID(name, NID_commonName, V_ASN1_UTF8STRING,
							    (const unsigned char *)sp->cn, (int)sp->cn_len, -1, 0),
				 1);
	ck_assert_int_eq(X509_set_issuer_name(x, name), 1);

	if (sp->eku) {
		ext = X509V3_EXT_conf_nid(NULL, NULL, NID_ext_key_usage, sp->eku);
		ck_assert_ptr_nonnull(ext);
		ck_assert_int_eq(X509_add_ext(x, ext, -1), 1);
		X509_EXTENSION_free(ext);
	}
	ck_assert_int_gt(X509_sign(x, key, EVP_sha256()), 0);

	n = i2d_X509(x, &tmp);
	ck_assert_int_gt(n, 0);
	der = malloc((size_t)n);
	ck_assert_ptr_nonnull(der);
	memcpy(der, tmp, (size_t)n);
	OPENSSL_free(tmp);
	X509_free(x);
	*len = (size_t)n;
	return der;
}

/* Runs the check on a certificate for sp; on failure asserts a reason was given and cn was cleared. */
static int check(const struct spec *sp, char cn[CERT_CN_MAX + 1], char *reason, size_t reason_len)
{
	size_t len;
	uint8_t *der = make_der(sp, &len);
	int ret;

	memset(cn, 'x', CERT_CN_MAX + 1);
	memset(reason, 0, reason_len);
	ret = cert_check_client(der, len, cn, reason, reason_len);
	free(der);
	ck_assert(ret == 0 || ret == -1);
	if (ret < 0) {
		ck_assert_str_eq(cn, "");
		ck_assert_uint_gt(strlen(reason), 0);
	}
	return ret;
}

#define SPEC(c, e) ((struct spec){ .cn = (c), .cn_len = strlen(c), .eku = (e) })

START_TEST(test_accept_client_auth)
{
	char cn[CERT_CN_MAX + 1], reason[256];
	struct spec sp = SPEC("alice.example", "clientAuth");

	ck_assert_int_eq(check(&sp, cn, reason, sizeof(reason)), 0);
	ck_assert_str_eq(cn, "alice.example");

	/* clientAuth among other purposes is enough. */
	sp = SPEC("bob-01_ops@example.org", "serverAuth,clientAuth,emailProtection");
	ck_assert_int_eq(check(&sp, cn, reason, sizeof(reason)), 0);
	ck_assert_str_eq(cn, "bob-01_ops@example.org");
}
END_TEST

START_TEST(test_cn_64_accepted)
{
	char want[CERT_CN_MAX + 1], cn[CERT_CN_MAX + 1], reason[256];
	struct spec sp;

	memset(want, 'a', CERT_CN_MAX);
	want[CERT_CN_MAX] = '\0';
	want[0] = 'Z';
	want[CERT_CN_MAX - 1] = '9';
	sp = SPEC(want, "clientAuth");
	ck_assert_int_eq(check(&sp, cn, reason, sizeof(reason)), 0);
	ck_assert_str_eq(cn, want);
}
END_TEST

START_TEST(test_eku_server_only)
{
	char cn[CERT_CN_MAX + 1], reason[256];
	struct spec sp = SPEC("carol", "serverAuth");

	ck_assert_int_eq(check(&sp, cn, reason, sizeof(reason)), -1);
	ck_assert_ptr_nonnull(strstr(reason, "clientAuth"));

	sp = SPEC("carol", "codeSigning,emailProtection");
	ck_assert_int_eq(check(&sp, cn, reason, sizeof(reason)), -1);
	ck_assert_ptr_nonnull(strstr(reason, "clientAuth"));
}
END_TEST

START_TEST(test_no_eku)
{
	char cn[CERT_CN_MAX + 1], reason[256];
	struct spec sp = SPEC("dave", NULL);

	ck_assert_int_eq(check(&sp, cn, reason, sizeof(reason)), -1);
}
END_TEST

START_TEST(test_no_cn)
{
	char cn[CERT_CN_MAX + 1], reason[256];
	struct spec sp = { .cn = NULL, .eku = "clientAuth" };

	ck_assert_int_eq(check(&sp, cn, reason, sizeof(reason)), -1);
	/* An empty CN is no CN either. */
	sp = SPEC("", "clientAuth");
	ck_assert_int_eq(check(&sp, cn, reason, sizeof(reason)), -1);
}
END_TEST

START_TEST(test_bad_cn_chars)
{
	static const char *const bad[] = {
		"eve\n",  "ev\te", "\x01" "eve", "eve\r\nX-Injected: 1", "eve\x7f", "eve,admin",
		",",      "e\"ve", "eve\\",
	};
	char cn[CERT_CN_MAX + 1], reason[256];
	struct spec sp;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sp = SPEC(bad[i], "clientAuth");
		ck_assert_msg(check(&sp, cn, reason, sizeof(reason)) == -1, "CN #%zu accepted", i);
	}
	/* An embedded NUL must not let "eve" through as a prefix of the real name. */
	sp = (struct spec){ .cn = "eve\0admin", .cn_len = 9, .eku = "clientAuth" };
	ck_assert_int_eq(check(&sp, cn, reason, sizeof(reason)), -1);
}
END_TEST

START_TEST(test_cn_too_long)
{
	char longcn[CERT_CN_MAX + 64], cn[CERT_CN_MAX + 1], reason[256];
	struct spec sp;

	/* 65 characters, and a much longer one: neither may be accepted, in particular not cut to 64 (two
	 * different certificates would then share one identity). */
	for (size_t n = CERT_CN_MAX + 1; n < sizeof(longcn); n += 40) {
		memset(longcn, 'b', n);
		longcn[n] = '\0';
		sp = SPEC(longcn, "clientAuth");
		ck_assert_msg(check(&sp, cn, reason, sizeof(reason)) == -1, "CN of %zu chars accepted", n);
	}
}
END_TEST

START_TEST(test_garbage_der)
{
	static const uint8_t junk[] = { 0x30, 0x82, 0xff, 0xff, 0x30, 0x03, 0x02, 0x01, 0x00, 0xde, 0xad };
	char cn[CERT_CN_MAX + 1], reason[256];
	uint8_t *buf;

	for (size_t len = 0; len <= sizeof(junk); len++) {
		/* Exactly len bytes on the heap (at least one so malloc returns a real pointer). */
		buf = malloc(len ? len : 1);
		ck_assert_ptr_nonnull(buf);
		memcpy(buf, junk, len);
		memset(reason, 0, sizeof(reason));
		ck_assert_int_eq(cert_check_client(buf, len, cn, reason, sizeof(reason)), -1);
		ck_assert_str_eq(cn, "");
		ck_assert_uint_gt(strlen(reason), 0);
		free(buf);
	}

	/* Plain text is not DER. */
	buf = (uint8_t *)strdup("-----BEGIN CERTIFICATE-----");
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(cert_check_client(buf, strlen((char *)buf), cn, reason, sizeof(reason)), -1);
	free(buf);
}
END_TEST

START_TEST(test_truncated_der)
{
	char cn[CERT_CN_MAX + 1], reason[256];
	struct spec sp = SPEC("frank", "clientAuth");
	size_t len;
	uint8_t *der = make_der(&sp, &len), *cut;

	/* The whole certificate passes, so each refusal below is down to the truncation. */
	ck_assert_int_eq(cert_check_client(der, len, cn, reason, sizeof(reason)), 0);
	ck_assert_str_eq(cn, "frank");
	for (size_t n = 0; n < len; n++) {
		cut = malloc(n ? n : 1);
		ck_assert_ptr_nonnull(cut);
		memcpy(cut, der, n);
		ck_assert_msg(cert_check_client(cut, n, cn, reason, sizeof(reason)) == -1, "accepted %zu of %zu bytes",
			      n, len);
		ck_assert_str_eq(cn, "");
		free(cut);
	}
	free(der);
}
END_TEST

START_TEST(test_small_reason_buffer)
{
	char cn[CERT_CN_MAX + 1], reason[16 + 8];
	struct spec sp = SPEC("grace", "serverAuth");
	size_t len;
	uint8_t *der = make_der(&sp, &len);

	/* The reason is cut to the size given and stays terminated; the bytes after it are untouched. */
	memset(reason, '#', sizeof(reason));
	ck_assert_int_eq(cert_check_client(der, len, cn, reason, 16), -1);
	ck_assert_uint_eq(strlen(reason), 15);
	for (size_t i = 16; i < sizeof(reason); i++)
		ck_assert_int_eq(reason[i], '#');
	free(der);
}
END_TEST

static Suite *cert_suite(void)
{
	Suite *s = suite_create("cert");
	TCase *tc = tcase_create("client");

	tcase_add_checked_fixture(tc, key_setup, key_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_accept_client_auth);
	tcase_add_test(tc, test_cn_64_accepted);
	tcase_add_test(tc, test_eku_server_only);
	tcase_add_test(tc, test_no_eku);
	tcase_add_test(tc, test_no_cn);
	tcase_add_test(tc, test_bad_cn_chars);
	tcase_add_test(tc, test_cn_too_long);
	tcase_add_test(tc, test_garbage_der);
	tcase_add_test(tc, test_truncated_der);
	tcase_add_test(tc, test_small_reason_buffer);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(cert_suite());
}
