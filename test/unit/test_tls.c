// SPDX-License-Identifier: GPL-2.0-or-later
/* tls.c: a server and a client connection over memory, with a throw-away PKI made here with libcrypto.
 * Above all tls_conn_trim: after it the record layer must keep working both ways (PUSH_REPLY, AUTH_FAILED,
 * EXIT and RESTART travel over it), while the exporter secrets and the peer certificate are gone. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "test_pki.h"

#include "cvpn/tls.h"

static struct pki_set pki;
static uint8_t cli_der[4096];
static size_t cli_der_len;

static void pki_setup(void)
{
	unsigned char *p = cli_der;
	int n;

	pki_set_make(&pki, "tls");
	n = i2d_X509(pki.cli_x509, NULL);
	ck_assert(n > 0 && (size_t)n <= sizeof(cli_der));
	ck_assert_int_eq(i2d_X509(pki.cli_x509, &p), n);
	cli_der_len = (size_t)n;
}

static void pki_teardown(void)
{
	pki_set_free(&pki);
}

struct pair {
	struct tls_ctx *sctx, *cctx;
	struct tls_conn *srv, *cli;
};

/* Moves every pending ciphertext byte from one end to the other in control-packet-sized pieces. */
static void move(struct tls_conn *from, struct tls_conn *to)
{
	uint8_t chunk[1200];
	size_t n;

	while ((n = tls_conn_take_out(from, chunk, sizeof(chunk))) > 0)
		ck_assert_int_eq(tls_conn_feed(to, chunk, n), 0);
	ck_assert_uint_eq(tls_conn_out_pending(from), 0);
}

static void pair_open(struct pair *p)
{
	char err[256];
	int rs = 0, rc = 0;

	memset(p, 0, sizeof(*p));
	ck_assert_msg(tls_ctx_new(pki.srv_crt, pki.srv_key, pki.ca, &p->sctx, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(tls_client_ctx_new(pki.ca, pki.cli_crt, pki.cli_key, &p->cctx, err, sizeof(err)) == 0, "%s",
		      err);
	p->srv = tls_conn_new(p->sctx);
	p->cli = tls_conn_new(p->cctx);
	ck_assert_ptr_nonnull(p->srv);
	ck_assert_ptr_nonnull(p->cli);
	for (int i = 0; i < 20 && (rs != 1 || rc != 1); i++) {
		rc = tls_conn_handshake(p->cli);
		ck_assert_msg(rc >= 0, "client: %s", tls_conn_error(p->cli));
		move(p->cli, p->srv);
		rs = tls_conn_handshake(p->srv);
		ck_assert_msg(rs >= 0, "server: %s", tls_conn_error(p->srv));
		move(p->srv, p->cli);
	}
	ck_assert_int_eq(rs, 1);
	ck_assert_int_eq(rc, 1);
	ck_assert(tls_conn_established(p->srv));
	ck_assert_ptr_null(tls_conn_peer_error(p->srv));
}

static void pair_close(struct pair *p)
{
	tls_conn_free(p->srv);
	tls_conn_free(p->cli);
	tls_ctx_free(p->sctx);
	tls_ctx_free(p->cctx);
}

/* from writes msg as one record; to must read exactly it. */
static void send_text(struct tls_conn *from, struct tls_conn *to, const char *msg)
{
	uint8_t buf[2048];
	ssize_t n;

	ck_assert_int_eq(tls_conn_write(from, (const uint8_t *)msg, strlen(msg) + 1), 0);
	ck_assert_uint_gt(tls_conn_out_pending(from), strlen(msg));
	move(from, to);
	n = tls_conn_read(to, buf, sizeof(buf));
	ck_assert_int_eq(n, (ssize_t)strlen(msg) + 1);
	ck_assert_str_eq((const char *)buf, msg);
	ck_assert_int_eq(tls_conn_read(to, buf, sizeof(buf)), 0); /* nothing more */
}

START_TEST(test_export_and_peer_cert_before_trim)
{
	struct pair p;
	uint8_t ks[256], kc[256], zero[256] = { 0 };
	const uint8_t *der;
	size_t len;

	pair_open(&p);
	ck_assert_int_eq(tls_conn_export_datakeys(p.srv, ks), 0);
	ck_assert_int_eq(tls_conn_export_datakeys(p.cli, kc), 0);
	ck_assert_mem_eq(ks, kc, sizeof(ks));
	ck_assert(memcmp(ks, zero, sizeof(ks)) != 0);
	ck_assert_int_eq(tls_conn_peer_cert(p.srv, &der, &len), 0);
	ck_assert_uint_eq(len, cli_der_len);
	ck_assert_mem_eq(der, cli_der, len);
	pair_close(&p);
}
END_TEST

START_TEST(test_trim_keeps_the_record_layer)
{
	struct pair p;
	uint8_t k[256];
	const uint8_t *der;
	size_t len;
	char big[1500];

	pair_open(&p);
	ck_assert_int_eq(tls_conn_export_datakeys(p.srv, k), 0);
	tls_conn_trim(p.srv);
	tls_conn_trim(p.srv); /* twice is harmless */
	/* a client end (the load generator's) trims too; its session object stays whole (client cache) */
	tls_conn_trim(p.cli);
	/* what only the key exchange needed is gone */
	ck_assert_int_eq(tls_conn_export_datakeys(p.srv, k), -1);
	ck_assert_int_eq(tls_conn_peer_cert(p.srv, &der, &len), -1);
	/* the control channel's text messages still go both ways, repeatedly (the drained buffers are given
	 * back and come again) */
	for (int i = 0; i < 3; i++) {
		send_text(p.cli, p.srv, "PUSH_REQUEST");
		send_text(p.srv, p.cli, "PUSH_REPLY,route-gateway 100.64.0.1,ifconfig 100.64.0.2 255.255.248.0");
	}
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	send_text(p.srv, p.cli, big); /* more than one control packet's worth */
	send_text(p.srv, p.cli, "RESTART,session timeout");
	send_text(p.cli, p.srv, "EXIT");
	ck_assert(tls_conn_established(p.srv));
	pair_close(&p);
}
END_TEST

START_TEST(test_trim_before_handshake_is_a_noop)
{
	struct pair p;
	char err[256];
	struct tls_conn *early;
	uint8_t k[256];

	ck_assert_msg(tls_ctx_new(pki.srv_crt, pki.srv_key, pki.ca, &p.sctx, err, sizeof(err)) == 0, "%s", err);
	early = tls_conn_new(p.sctx);
	ck_assert_ptr_nonnull(early);
	tls_conn_trim(early);
	tls_conn_trim(NULL);
	ck_assert(!tls_conn_established(early));
	tls_conn_free(early);
	tls_ctx_free(p.sctx);

	/* a fresh pair from the same files still completes and exports */
	pair_open(&p);
	ck_assert_int_eq(tls_conn_export_datakeys(p.srv, k), 0);
	pair_close(&p);
}
END_TEST

START_TEST(test_feed_bound)
{
	struct pair p;
	static uint8_t junk[TLS_BUF_MAX + 1];

	pair_open(&p);
	tls_conn_trim(p.srv);
	/* the bound holds for a freshly given-back buffer too */
	ck_assert_int_eq(tls_conn_feed(p.srv, junk, TLS_BUF_MAX + 1), -ENOBUFS);
	ck_assert_int_eq(tls_conn_feed(p.srv, junk, 16), 0);
	pair_close(&p);
}
END_TEST

static Suite *tls_suite(void)
{
	Suite *s = suite_create("tls");
	TCase *tc = tcase_create("core");

	tcase_add_unchecked_fixture(tc, pki_setup, pki_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_export_and_peer_cert_before_trim);
	tcase_add_test(tc, test_trim_keeps_the_record_layer);
	tcase_add_test(tc, test_trim_before_handshake_is_a_noop);
	tcase_add_test(tc, test_feed_bound);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(tls_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
