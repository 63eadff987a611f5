// SPDX-License-Identifier: GPL-2.0-or-later
/* tls.c: a server and a client connection over memory, with a throw-away PKI made here with libcrypto.
 * Above all tls_conn_trim: after it the record layer must keep working both ways (PUSH_REPLY, AUTH_FAILED,
 * EXIT and RESTART travel over it), while the exporter secrets and the peer certificate are gone. */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "check_run.h"
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

/* A handshake between a server and a client whose offer is narrowed to ciphers (NULL: the default) and,
 * with tls12, to TLS 1.2. */
static void pair_open_with(struct pair *p, const char *ciphers, bool tls12, bool small_records)
{
	char err[256];
	int rs = 0, rc = 0;

	memset(p, 0, sizeof(*p));
	ck_assert_msg(tls_ctx_new(pki.srv_crt, pki.srv_key, pki.ca, &p->sctx, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(tls_client_ctx_new(pki.ca, pki.cli_crt, pki.cli_key, &p->cctx, err, sizeof(err)) == 0, "%s",
		      err);
	ck_assert_int_eq(tls_ctx_limit(p->cctx, ciphers, tls12, small_records), 0);
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

static void pair_open(struct pair *p)
{
	pair_open_with(p, NULL, false, false);
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
	tls_conn_detach(p.srv);
	tls_conn_detach(p.cli);
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
	/* TLS 1.3: both ends left wolfSSL at their first read that found nothing more */
	ck_assert(tls_conn_detached(p.srv));
	ck_assert(tls_conn_detached(p.cli));
	ck_assert_str_eq(tls_conn_version(p.srv), "TLSv1.3");
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

/* from writes len bytes of a pattern (seed) as application data; to reads it back in pieces of at most cap
 * bytes, the ciphertext arriving in slices of slice bytes (1: byte by byte). */
static void send_bulk(struct tls_conn *from, struct tls_conn *to, size_t len, unsigned seed, size_t cap,
		      size_t slice)
{
	uint8_t *msg = malloc(len), *got = malloc(len), chunk[1200];
	size_t have = 0, n;
	ssize_t r;

	ck_assert_ptr_nonnull(msg);
	ck_assert_ptr_nonnull(got);
	for (size_t i = 0; i < len; i++)
		msg[i] = (uint8_t)(i * 7 + seed);
	ck_assert_int_eq(tls_conn_write(from, msg, len), 0);
	if (slice > sizeof(chunk))
		slice = sizeof(chunk);
	while ((n = tls_conn_take_out(from, chunk, slice)) > 0) {
		ck_assert_int_eq(tls_conn_feed(to, chunk, n), 0);
		while ((r = tls_conn_read(to, got + have, len - have < cap ? len - have : cap)) > 0)
			have += (size_t)r;
		ck_assert_msg(r == 0, "read failed: %s", tls_conn_error(to));
	}
	ck_assert_uint_eq(have, len);
	ck_assert_mem_eq(got, msg, len);
	free(msg);
	free(got);
}

/* Our record layer against wolfSSL's, both directions, for each TLS 1.3 suite a 2.6 client may pick. */
static const char *const suites[] = {
	"TLS13-AES128-GCM-SHA256", "TLS13-AES256-GCM-SHA384", "TLS13-CHACHA20-POLY1305-SHA256",
};
static const char *const suite_names[] = {
	"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256",
};

static void interop_one_side(int suite, bool server_detaches)
{
	struct pair p;
	struct tls_conn *ours, *theirs;
	char wolf_cipher[64];
	uint8_t buf[64];

	pair_open_with(&p, suites[suite], false, false);
	ours = server_detaches ? p.srv : p.cli;
	theirs = server_detaches ? p.cli : p.srv;
	snprintf(wolf_cipher, sizeof(wolf_cipher), "%s", tls_conn_cipher(ours));
	/* some records under wolfSSL first, so the sequence numbers we take over are not zero */
	send_text(p.cli, p.srv, "PUSH_REQUEST");
	send_text(p.srv, p.cli, "PUSH_REPLY,ifconfig 100.64.0.2 255.255.248.0");
	tls_conn_trim(ours);
	ck_assert_int_eq(tls_conn_read(ours, buf, sizeof(buf)), 0);
	ck_assert(!tls_conn_detached(ours)); /* trimming alone keeps wolfSSL */
	tls_conn_detach(ours);
	ck_assert(!tls_conn_detached(ours)); /* only at the next read */
	ck_assert_int_eq(tls_conn_read(ours, buf, sizeof(buf)), 0);
	ck_assert(tls_conn_detached(ours));
	ck_assert(!tls_conn_detached(theirs));
	ck_assert_str_eq(tls_conn_cipher(ours), suite_names[suite]);
	ck_assert_str_eq(wolf_cipher, suites[suite]); /* wolfSSL named it its way; the suite we took over is the same */
	for (int i = 0; i < 10; i++) {
		send_text(ours, theirs, "RESTART,server-restart");
		send_text(theirs, ours, "EXIT");
	}
	/* more than a record's worth (16 KiB) each way; read in small pieces; ciphertext in odd slices */
	send_bulk(ours, theirs, 40000, 1, 2048, 1200);
	send_bulk(theirs, ours, 40000, 2, 100, 1);
	send_bulk(theirs, ours, 3000, 3, 4096, 7);
	send_text(ours, theirs, "HALT");
	pair_close(&p);
}

START_TEST(test_detached_server_interop)
{
	interop_one_side(_i, true);
}
END_TEST

START_TEST(test_detached_client_interop)
{
	interop_one_side(_i, false);
}
END_TEST

/* Half a record inside wolfSSL: the connection stays until the record is whole and read. */
START_TEST(test_detach_waits_for_record_boundary)
{
	struct pair p;
	uint8_t ct[512], buf[256];
	size_t n;
	ssize_t r;

	pair_open(&p);
	tls_conn_trim(p.srv);
	tls_conn_detach(p.srv);
	ck_assert_int_eq(tls_conn_write(p.cli, (const uint8_t *)"EXIT", 5), 0);
	n = tls_conn_take_out(p.cli, ct, sizeof(ct));
	ck_assert_uint_gt(n, 10);
	ck_assert_int_eq(tls_conn_feed(p.srv, ct, 3), 0); /* part of the header */
	ck_assert_int_eq(tls_conn_read(p.srv, buf, sizeof(buf)), 0);
	ck_assert(!tls_conn_detached(p.srv));
	ck_assert_int_eq(tls_conn_feed(p.srv, ct + 3, n - 3 - 4), 0); /* all but the tag's last bytes */
	ck_assert_int_eq(tls_conn_read(p.srv, buf, sizeof(buf)), 0);
	ck_assert(!tls_conn_detached(p.srv));
	ck_assert_int_eq(tls_conn_feed(p.srv, ct + n - 4, 4), 0);
	r = tls_conn_read(p.srv, buf, sizeof(buf));
	ck_assert_int_eq(r, 5);
	ck_assert_str_eq((const char *)buf, "EXIT");
	ck_assert(!tls_conn_detached(p.srv));
	ck_assert_int_eq(tls_conn_read(p.srv, buf, sizeof(buf)), 0);
	ck_assert(tls_conn_detached(p.srv));
	send_text(p.cli, p.srv, "PUSH_REQUEST");
	send_text(p.srv, p.cli, "PUSH_REPLY");
	pair_close(&p);
}
END_TEST

/* Hostile or broken input on a detached connection: an error, and the connection reads nothing from it. */
START_TEST(test_detached_rejects_bad_records)
{
	static const uint8_t plaintext_alert[] = { 21, 3, 3, 0, 2, 2, 40 };
	static const uint8_t oversized[] = { 23, 3, 3, 0x41, 0x01 };
	struct pair p;
	uint8_t ct[512], buf[256];
	size_t n;

	for (int round = 0; round < 3; round++) {
		pair_open(&p);
		tls_conn_trim(p.srv);
		tls_conn_detach(p.srv);
		ck_assert_int_eq(tls_conn_read(p.srv, buf, sizeof(buf)), 0);
		ck_assert(tls_conn_detached(p.srv));
		if (round == 0) {
			/* one flipped ciphertext bit */
			ck_assert_int_eq(tls_conn_write(p.cli, (const uint8_t *)"EXIT", 5), 0);
			n = tls_conn_take_out(p.cli, ct, sizeof(ct));
			ct[7] ^= 0x01;
			ck_assert_int_eq(tls_conn_feed(p.srv, ct, n), 0);
			ck_assert_int_eq(tls_conn_read(p.srv, buf, sizeof(buf)), -1);
			ck_assert_str_eq(tls_conn_error(p.srv), "TLS record does not authenticate");
		} else if (round == 1) {
			ck_assert_int_eq(tls_conn_feed(p.srv, plaintext_alert, sizeof(plaintext_alert)), 0);
			ck_assert_int_eq(tls_conn_read(p.srv, buf, sizeof(buf)), -1);
			ck_assert_str_eq(tls_conn_error(p.srv), "malformed TLS record header");
		} else {
			ck_assert_int_eq(tls_conn_feed(p.srv, oversized, sizeof(oversized)), 0);
			ck_assert_int_eq(tls_conn_read(p.srv, buf, sizeof(buf)), -1);
		}
		pair_close(&p);
	}
}
END_TEST

/* A client that updates its keys after we left wolfSSL: the read says so, the connection takes nothing more
 * (the session renegotiates instead). Before the detach, wolfSSL follows the update itself. */
START_TEST(test_key_update)
{
	struct pair p;
	uint8_t buf[256];

	pair_open(&p);
	ck_assert_int_eq(tls_conn_key_update(p.cli), 0);
	move(p.cli, p.srv);
	send_text(p.cli, p.srv, "PUSH_REQUEST"); /* wolfSSL followed the client's new keys... */
	send_text(p.srv, p.cli, "PUSH_REPLY");   /* ...and answered with its own */
	tls_conn_trim(p.srv);
	tls_conn_detach(p.srv);
	ck_assert_int_eq(tls_conn_read(p.srv, buf, sizeof(buf)), 0);
	ck_assert(tls_conn_detached(p.srv));
	send_text(p.cli, p.srv, "PUSH_REQUEST"); /* the keys we took over are the updated ones */
	ck_assert_int_eq(tls_conn_key_update(p.cli), 0);
	move(p.cli, p.srv);
	ck_assert_int_eq(tls_conn_read(p.srv, buf, sizeof(buf)), TLS_CONN_REKEY);
	ck_assert_int_eq(tls_conn_write(p.srv, (const uint8_t *)"HALT", 5), -1);
	ck_assert_int_eq(tls_conn_write(p.cli, (const uint8_t *)"EXIT", 5), 0);
	move(p.cli, p.srv);
	ck_assert_int_eq(tls_conn_read(p.srv, buf, sizeof(buf)), 0); /* under keys we do not have: dropped */
	ck_assert_int_eq(tls_conn_key_update(p.srv), -1);
	pair_close(&p);
}
END_TEST

/* A client that negotiated 512-byte records (max_fragment_length): ours cut at 16 KiB, so wolfSSL stays. */
START_TEST(test_small_records_stay_in_wolfssl)
{
	struct pair p;
	uint8_t buf[64];

	pair_open_with(&p, NULL, false, true);
	tls_conn_trim(p.srv);
	tls_conn_detach(p.srv);
	ck_assert_int_eq(tls_conn_read(p.srv, buf, sizeof(buf)), 0);
	ck_assert(!tls_conn_detached(p.srv));
	send_bulk(p.srv, p.cli, 1500, 4, 2048, 1200); /* in three records wolfSSL cut */
	send_text(p.cli, p.srv, "PUSH_REQUEST");
	pair_close(&p);
}
END_TEST

/* TLS 1.2 has no record layer of ours: wolfSSL stays, trimmed, and keeps working. */
START_TEST(test_tls12_stays_in_wolfssl)
{
	struct pair p;
	uint8_t buf[64];

	pair_open_with(&p, NULL, true, false);
	ck_assert_str_eq(tls_conn_version(p.srv), "TLSv1.2");
	tls_conn_trim(p.srv);
	tls_conn_detach(p.srv);
	ck_assert_int_eq(tls_conn_read(p.srv, buf, sizeof(buf)), 0);
	ck_assert(!tls_conn_detached(p.srv));
	for (int i = 0; i < 3; i++) {
		send_text(p.cli, p.srv, "PUSH_REQUEST");
		send_text(p.srv, p.cli, "PUSH_REPLY,ifconfig 100.64.0.2 255.255.248.0");
	}
	ck_assert(!tls_conn_detached(p.srv));
	ck_assert_int_eq(tls_conn_key_update(p.cli), -1);
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
	tcase_add_loop_test(tc, test_detached_server_interop, 0, 3);
	tcase_add_loop_test(tc, test_detached_client_interop, 0, 3);
	tcase_add_test(tc, test_detach_waits_for_record_boundary);
	tcase_add_test(tc, test_detached_rejects_bad_records);
	tcase_add_test(tc, test_key_update);
	tcase_add_test(tc, test_tls12_stays_in_wolfssl);
	tcase_add_test(tc, test_small_records_stay_in_wolfssl);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(tls_suite());
}
