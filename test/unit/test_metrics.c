// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for ctrl/metrics.c: the Prometheus text format and the CRL expiry gauge. */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cvpn/metrics.h"

#include "check_run.h"

static char *render(struct json_object *m, int *ret)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(f);
	*ret = metrics_write_prometheus(m, f);
	fclose(f);
	return buf;
}

START_TEST(test_text_format)
{
	struct json_object *m = json_object_new_object();
	char *out;
	int ret;

	json_object_object_add(m, "active_connections", json_object_new_int(3));
	json_object_object_add(m, "ingress_bytes_total", json_object_new_uint64(18446744073709551615ull));
	json_object_object_add(m, "crl_days_to_expiry", json_object_new_double(-1.5));
	json_object_object_add(m, "not_a_metric_we_know", json_object_new_int(9));
	out = render(m, &ret);
	ck_assert_int_eq(ret, 0);
	ck_assert_str_eq(out,
		"# HELP cvpn_active_connections Connections established and not ended.\n"
		"# TYPE cvpn_active_connections gauge\n"
		"cvpn_active_connections 3\n"
		"# HELP cvpn_crl_days_to_expiry Days until the configured CRL's nextUpdate (absent without a CRL).\n"
		"# TYPE cvpn_crl_days_to_expiry gauge\n"
		"cvpn_crl_days_to_expiry -1.500\n"
		"# HELP cvpn_ingress_bytes_total IP bytes received from clients through the tunnel.\n"
		"# TYPE cvpn_ingress_bytes_total counter\n"
		"cvpn_ingress_bytes_total 18446744073709551615\n");
	free(out);
	json_object_put(m);
}
END_TEST

START_TEST(test_bad_input)
{
	struct json_object *m = json_object_new_object(), *arr = json_object_new_array();
	char *out;
	int ret;

	out = render(arr, &ret);
	ck_assert_int_eq(ret, -EINVAL);
	free(out);
	json_object_object_add(m, "active_connections", json_object_new_string("3"));
	out = render(m, &ret);
	ck_assert_int_eq(ret, -EINVAL);
	free(out);
	json_object_put(m);
	json_object_put(arr);
}
END_TEST

/* A CRL signed by a throw-away key whose nextUpdate is `days` from now. */
static void write_crl(const char *path, long days)
{
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509_CRL *crl = X509_CRL_new();
	X509_NAME *name = X509_NAME_new();
	ASN1_TIME *last = ASN1_TIME_adj(NULL, time(NULL), 0, 0), *next = ASN1_TIME_adj(NULL, time(NULL), (int)days, 0);
	FILE *f;

	ck_assert_ptr_nonnull(key);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"unit CA", -1, -1, 0);
	X509_CRL_set_version(crl, 1);
	X509_CRL_set_issuer_name(crl, name);
	X509_CRL_set1_lastUpdate(crl, last);
	X509_CRL_set1_nextUpdate(crl, next);
	ck_assert_int_gt(X509_CRL_sign(crl, key, EVP_sha256()), 0);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	PEM_write_X509_CRL(f, crl);
	fclose(f);
	ASN1_TIME_free(last);
	ASN1_TIME_free(next);
	X509_NAME_free(name);
	X509_CRL_free(crl);
	EVP_PKEY_free(key);
}

START_TEST(test_crl_days)
{
	char path[] = "/tmp/cvpn-crl-XXXXXX";
	double days = 0;
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	close(fd);
	write_crl(path, 10);
	ck_assert_int_eq(metrics_crl_days(path, &days), 0);
	ck_assert(days > 9.99 && days <= 10.0);
	write_crl(path, -3);
	ck_assert_int_eq(metrics_crl_days(path, &days), 0);
	ck_assert(days < -2.99 && days >= -3.0);
	fd = open(path, O_WRONLY | O_TRUNC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "not a crl\n", 10), 10);
	close(fd);
	ck_assert_int_eq(metrics_crl_days(path, &days), -EBADMSG);
	unlink(path);
	ck_assert_int_eq(metrics_crl_days(path, &days), -ENOENT);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_text_format);
	tcase_add_test(tc, test_bad_input);
	tcase_add_test(tc, test_crl_days);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(suite());
}
