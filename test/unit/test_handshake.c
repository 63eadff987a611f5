// SPDX-License-Identifier: GPL-2.0-or-later
/* handshake.c: server handshake steps run on the pool's threads while the client side runs here, over memory,
 * with a throw-away PKI (test_pki.h). A step takes the server connection away and the eventfd brings it back
 * with tls_conn_handshake's result; every wait is bounded so a lost step fails the test instead of hanging. */
#include <check.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "test_pki.h"

#include "check_run.h"
#include "cvpn/handshake.h"
#include "cvpn/tls.h"

#define WAIT_MS 5000     /* one step is a millisecond or so; this is only a bound */
#define MAX_ROUNDS 10    /* a handshake takes 2 or 3 server steps */
#define SENTINEL_RESULT 12345
#define SENTINEL_THREAD 999u


static struct pki_set pki;
static const char *path_rogue_crt, *path_rogue_key; /* a client certificate from another CA */

static void pki_setup(void)
{
	EVP_PKEY *rogue_ca_key, *rogue_key;
	X509 *rogue_ca;

	pki_set_make(&pki, "handshake");
	path_rogue_crt = pki_set_file(&pki, "rogue.crt");
	path_rogue_key = pki_set_file(&pki, "rogue.key");
	rogue_ca_key = pki_key(NULL);
	rogue_key = pki_key(path_rogue_key);
	/* same subject as the real CA (nothing trusts it): only the signature tells them apart */
	rogue_ca = pki_cert(pki_set_file(&pki, "rogue-ca.crt"), "Test CA", rogue_ca_key, NULL, rogue_ca_key, NULL, 1,
			    false);
	X509_free(pki_cert(path_rogue_crt, "mallory", rogue_key, rogue_ca, rogue_ca_key, "clientAuth", 4, false));
	X509_free(rogue_ca);
	EVP_PKEY_free(rogue_ca_key);
	EVP_PKEY_free(rogue_key);
}

static void pki_teardown(void)
{
	pki_set_free(&pki);
}

struct ctxs {
	struct tls_ctx *srv, *cli;
};

static void ctxs_open(struct ctxs *c, const char *cli_crt, const char *cli_key)
{
	char err[256];

	ck_assert_msg(tls_ctx_new(pki.srv_crt, pki.srv_key, pki.ca, &c->srv, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(tls_client_ctx_new(pki.ca, cli_crt, cli_key, &c->cli, err, sizeof(err)) == 0, "%s", err);
}

static void ctxs_close(struct ctxs *c)
{
	tls_ctx_free(c->srv);
	tls_ctx_free(c->cli);
}

/* Moves every pending ciphertext byte from one end to the other in control-packet-sized pieces. */
static void move(struct tls_conn *from, struct tls_conn *to)
{
	uint8_t chunk[1200];
	size_t n;

	while ((n = tls_conn_take_out(from, chunk, sizeof(chunk))) > 0)
		ck_assert_int_eq(tls_conn_feed(to, chunk, n), 0);
	ck_assert_uint_eq(tls_conn_out_pending(from), 0);
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* A step for tls, with out fields the pool must overwrite. */
static struct hs_job *submit(struct hs_pool *p, struct tls_conn *tls)
{
	struct hs_job *j = calloc(1, sizeof(*j));

	ck_assert_ptr_nonnull(j);
	j->tls = tls;
	j->result = SENTINEL_RESULT;
	j->thread = SENTINEL_THREAD;
	hs_pool_submit(p, j);
	return j;
}

/* A new client's ClientHello fed to a new server connection, whose first step goes to the pool: real work
 * (key share, signature). *cli gets the client. */
static struct hs_job *submit_client_hello(struct hs_pool *p, const struct ctxs *c, struct tls_conn **cli)
{
	struct tls_conn *srv = tls_conn_new(c->srv);

	*cli = tls_conn_new(c->cli);
	ck_assert_ptr_nonnull(srv);
	ck_assert_ptr_nonnull(*cli);
	ck_assert_int_eq(tls_conn_handshake(*cli), 0);
	move(*cli, srv);
	return submit(p, srv);
}

/* Waits (at most WAIT_MS) until the eventfd says steps are done and returns them; a wake-up with an empty list
 * (a step counted after an earlier take already got it) just waits again. */
static struct hs_job *wait_done(struct hs_pool *p)
{
	struct pollfd pfd = { .fd = hs_pool_fd(p), .events = POLLIN };
	struct timespec t0;
	struct hs_job *list;
	long left;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while ((left = WAIT_MS - ms_since(&t0)) > 0) {
		int r = poll(&pfd, 1, (int)left);

		ck_assert_int_ge(r, 0);
		if (r == 0)
			break;
		if ((list = hs_pool_take_done(p)))
			return list;
	}
	ck_abort_msg("no step done within %d ms", WAIT_MS);
	return NULL;
}

/* Both ends agree: the same exporter output, and a record each way. */
static void check_agree(struct tls_conn *srv, struct tls_conn *cli)
{
	uint8_t ks[256], kc[256], zero[256] = { 0 }, buf[256];
	static const char ping[] = "PUSH_REQUEST", pong[] = "PUSH_REPLY,route-gateway 100.64.0.1";

	ck_assert(tls_conn_established(srv));
	ck_assert(tls_conn_established(cli));
	ck_assert_ptr_null(tls_conn_peer_error(srv));
	ck_assert_int_eq(tls_conn_export_datakeys(srv, ks), 0);
	ck_assert_int_eq(tls_conn_export_datakeys(cli, kc), 0);
	ck_assert_mem_eq(ks, kc, sizeof(ks));
	ck_assert(memcmp(ks, zero, sizeof(ks)) != 0);

	ck_assert_int_eq(tls_conn_write(cli, (const uint8_t *)ping, sizeof(ping)), 0);
	move(cli, srv);
	ck_assert_int_eq(tls_conn_read(srv, buf, sizeof(buf)), (ssize_t)sizeof(ping));
	ck_assert_mem_eq(buf, ping, sizeof(ping));
	ck_assert_int_eq(tls_conn_write(srv, (const uint8_t *)pong, sizeof(pong)), 0);
	move(srv, cli);
	ck_assert_int_eq(tls_conn_read(cli, buf, sizeof(buf)), (ssize_t)sizeof(pong));
	ck_assert_mem_eq(buf, pong, sizeof(pong));
}

static uint64_t steps_total(const struct hs_pool *p)
{
	uint64_t sum = 0;

	for (unsigned t = 0; t < hs_pool_threads(p); t++)
		sum += hs_pool_steps(p, t);
	return sum;
}

START_TEST(test_one_handshake)
{
	struct ctxs c;
	struct hs_pool *p = hs_pool_new(2);
	struct tls_conn *srv, *cli;
	int rc = 0, rs = 0;
	unsigned submitted = 0;

	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(hs_pool_threads(p), 2);
	ck_assert_ptr_null(hs_pool_take_done(p)); /* nothing yet */
	ctxs_open(&c, pki.cli_crt, pki.cli_key);
	srv = tls_conn_new(c.srv);
	cli = tls_conn_new(c.cli);
	ck_assert_ptr_nonnull(srv);
	ck_assert_ptr_nonnull(cli);
	for (int round = 0; round < MAX_ROUNDS && (rs != 1 || rc != 1); round++) {
		struct hs_job *j, *done;

		rc = tls_conn_handshake(cli);
		ck_assert_msg(rc >= 0, "client: %s", tls_conn_error(cli));
		move(cli, srv);
		if (rs == 1)
			continue; /* the server finished first (TLS 1.2): only the client had work left */
		j = submit(p, srv);
		srv = NULL; /* the pool's until it comes back */
		submitted++;
		done = wait_done(p);
		ck_assert_ptr_eq(done, j); /* the only step in flight */
		ck_assert_ptr_null(done->next);
		ck_assert_msg(j->result == 0 || j->result == 1, "server step: %d", j->result);
		ck_assert_uint_lt(j->thread, 2);
		ck_assert(!j->orphan);
		ck_assert_ptr_null(j->s);
		ck_assert_ptr_null(j->ks);
		rs = j->result;
		srv = j->tls;
		ck_assert_ptr_nonnull(srv);
		free(j);
		ck_assert_int_eq(tls_conn_established(srv), rs == 1);
		move(srv, cli);
	}
	ck_assert_int_eq(rs, 1);
	ck_assert_int_eq(rc, 1);
	ck_assert_uint_ge(submitted, 2); /* a full handshake needs the client's answer to the server's flight */
	ck_assert_uint_eq(steps_total(p), submitted);
	ck_assert_ptr_null(hs_pool_take_done(p));
	check_agree(srv, cli);
	tls_conn_free(srv);
	tls_conn_free(cli);
	ctxs_close(&c);
	hs_pool_free(p);
}
END_TEST

#define MANY 20

START_TEST(test_many_interleaved)
{
	struct ctxs c;
	struct hs_pool *p = hs_pool_new(2);
	struct tls_conn *srv[MANY], *cli[MANY];
	struct hs_job *inflight[MANY];
	int rs[MANY], rc[MANY], steps[MANY];
	unsigned submitted = 0, finished = 0, busy = 0;
	uint8_t k0[256], k1[256];
	struct timespec t0;

	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(hs_pool_threads(p), 2);
	ctxs_open(&c, pki.cli_crt, pki.cli_key);
	/* every first step before any is collected */
	for (int i = 0; i < MANY; i++) {
		srv[i] = tls_conn_new(c.srv);
		cli[i] = tls_conn_new(c.cli);
		ck_assert_ptr_nonnull(srv[i]);
		ck_assert_ptr_nonnull(cli[i]);
		rc[i] = tls_conn_handshake(cli[i]);
		ck_assert_int_eq(rc[i], 0);
		move(cli[i], srv[i]);
		rs[i] = 0;
		steps[i] = 1;
		inflight[i] = submit(p, srv[i]);
		srv[i] = NULL;
		submitted++;
		busy++;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (finished < MANY) {
		struct hs_job *list;

		ck_assert_msg(ms_since(&t0) < 6 * WAIT_MS, "only %u of %d done", finished, MANY);
		list = wait_done(p);
		while (list) {
			struct hs_job *j = list;
			int i;

			list = j->next;
			for (i = 0; i < MANY && inflight[i] != j; i++)
				;
			ck_assert_msg(i < MANY, "a job that was not in flight came back");
			inflight[i] = NULL;
			busy--;
			ck_assert_msg(j->result == 0 || j->result == 1, "pair %d step %d: %d", i, steps[i],
				      j->result);
			ck_assert_uint_lt(j->thread, 2);
			rs[i] = j->result;
			srv[i] = j->tls;
			free(j);
			ck_assert_ptr_nonnull(srv[i]);
			/* the client answers whatever the server said */
			move(srv[i], cli[i]);
			rc[i] = tls_conn_handshake(cli[i]);
			ck_assert_msg(rc[i] >= 0, "client %d: %s", i, tls_conn_error(cli[i]));
			move(cli[i], srv[i]);
			if (rs[i] == 1) {
				ck_assert_int_eq(rc[i], 1);
				finished++;
				continue;
			}
			ck_assert_int_lt(steps[i], MAX_ROUNDS);
			steps[i]++;
			inflight[i] = submit(p, srv[i]);
			srv[i] = NULL;
			submitted++;
			busy++;
		}
	}
	ck_assert_uint_eq(busy, 0);
	ck_assert_ptr_null(hs_pool_take_done(p));
	ck_assert_uint_ge(submitted, 2 * MANY);
	ck_assert_uint_eq(steps_total(p), submitted);
	ck_assert_uint_eq(hs_pool_steps(p, 2), 0); /* no such thread */
	for (int i = 0; i < MANY; i++)
		check_agree(srv[i], cli[i]);
	/* and they are twenty different sessions, not one twice */
	ck_assert_int_eq(tls_conn_export_datakeys(srv[0], k0), 0);
	ck_assert_int_eq(tls_conn_export_datakeys(srv[1], k1), 0);
	ck_assert(memcmp(k0, k1, sizeof(k0)) != 0);
	for (int i = 0; i < MANY; i++) {
		tls_conn_free(srv[i]);
		tls_conn_free(cli[i]);
	}
	ctxs_close(&c);
	hs_pool_free(p);
}
END_TEST

/* A session that ends while its step still waits in the queue takes the step back (hs_pool_cancel): it never
 * runs. Forty real first steps (a ClientHello each: a key share and a signature, about a millisecond) on one
 * thread; the last twenty are cancelled at once. Every job comes back exactly once, done or cancelled, the
 * thread ran only the ones not cancelled, and a job that is done or was never queued cannot be cancelled. */
START_TEST(test_cancel_queued)
{
	enum { N = 40 };
	struct ctxs c;
	struct hs_pool *p = hs_pool_new(1);
	struct tls_conn *cli[N];
	struct hs_job *jobs[N], *list, *first_done = NULL, stray = { 0 };
	bool cancelled[N] = { false }, seen[N] = { false };
	unsigned n_cancelled = 0, n_done = 0;

	ck_assert_ptr_nonnull(p);
	ctxs_open(&c, pki.cli_crt, pki.cli_key);
	for (int i = 0; i < N; i++)
		jobs[i] = submit_client_hello(p, &c, &cli[i]);
	for (int i = N - 1; i >= N / 2; i--)
		if (hs_pool_cancel(p, jobs[i])) {
			cancelled[i] = true;
			n_cancelled++;
			tls_conn_free(jobs[i]->tls);
		}
	ck_assert_uint_ge(n_cancelled, 1);
	while (n_done + n_cancelled < N) {
		for (list = wait_done(p); list;) {
			struct hs_job *next = list->next;
			int i = 0;

			while (i < N && jobs[i] != list)
				i++;
			ck_assert_int_lt(i, N);
			ck_assert_msg(!cancelled[i], "job %d ran after it was cancelled", i);
			ck_assert_msg(!seen[i], "job %d came back twice", i);
			seen[i] = true;
			ck_assert_int_eq(list->result, 0); /* the server's flight is out: it waits for the client */
			n_done++;
			if (!first_done)
				first_done = list;
			list = next;
		}
	}
	ck_assert_uint_eq(n_done + n_cancelled, N);
	ck_assert_uint_eq(steps_total(p), n_done);
	ck_assert(!hs_pool_cancel(p, first_done)); /* done: no longer the pool's to give back */
	ck_assert(!hs_pool_cancel(p, &stray));      /* never queued */
	ck_assert_ptr_null(hs_pool_take_done(p));
	for (int i = 0; i < N; i++) {
		if (!cancelled[i])
			tls_conn_free(jobs[i]->tls);
		free(jobs[i]);
		tls_conn_free(cli[i]);
	}
	ctxs_close(&c);
	hs_pool_free(p);
}
END_TEST

START_TEST(test_garbage_fails)
{
	struct ctxs c;
	struct hs_pool *p = hs_pool_new(1);
	struct tls_conn *srv;
	struct hs_job *j, *done;
	uint8_t junk[300];

	ck_assert_ptr_nonnull(p);
	ctxs_open(&c, pki.cli_crt, pki.cli_key);
	srv = tls_conn_new(c.srv);
	ck_assert_ptr_nonnull(srv);
	/* a handshake record header announcing a ClientHello, then nonsense */
	memset(junk, 0xa5, sizeof(junk));
	junk[0] = 0x16;
	junk[1] = 0x03;
	junk[2] = 0x01;
	junk[3] = 0x01;
	junk[4] = 0x27; /* 295 bytes follow */
	ck_assert_int_eq(tls_conn_feed(srv, junk, sizeof(junk)), 0);
	j = submit(p, srv);
	done = wait_done(p);
	ck_assert_ptr_eq(done, j);
	ck_assert_ptr_null(done->next);
	ck_assert_int_lt(j->result, 0);
	ck_assert_uint_eq(j->thread, 0);
	ck_assert_ptr_eq(j->tls, srv);
	ck_assert_ptr_nonnull(tls_conn_error(srv));
	ck_assert(!tls_conn_established(srv));
	ck_assert_uint_eq(hs_pool_steps(p, 0), 1);
	free(j);
	tls_conn_free(srv);
	ctxs_close(&c);
	hs_pool_free(p);
}
END_TEST

/* A client certificate from a CA the server does not trust. tls.h records chain errors rather than failing the
 * handshake (so the session can say AUTH_FAILED): the step done on the pool finishes and the connection it gives
 * back carries the peer error the session must refuse on. */
START_TEST(test_foreign_client_cert_refused)
{
	struct ctxs c;
	struct hs_pool *p = hs_pool_new(2);
	struct tls_conn *srv, *cli;
	int rc = 0, rs = 0;

	ck_assert_ptr_nonnull(p);
	ctxs_open(&c, path_rogue_crt, path_rogue_key);
	srv = tls_conn_new(c.srv);
	cli = tls_conn_new(c.cli);
	ck_assert_ptr_nonnull(srv);
	ck_assert_ptr_nonnull(cli);
	for (int round = 0; round < MAX_ROUNDS && rs == 0; round++) {
		struct hs_job *j;

		rc = tls_conn_handshake(cli);
		ck_assert_msg(rc >= 0, "client: %s", tls_conn_error(cli));
		move(cli, srv);
		j = submit(p, srv);
		ck_assert_ptr_eq(wait_done(p), j);
		ck_assert_int_ne(j->result, SENTINEL_RESULT);
		rs = j->result;
		srv = j->tls;
		free(j);
		move(srv, cli);
	}
	ck_assert_int_eq(rs, 1);
	ck_assert_ptr_nonnull(tls_conn_peer_error(srv));
	tls_conn_free(srv);
	tls_conn_free(cli);
	ctxs_close(&c);
	hs_pool_free(p);
}
END_TEST

/* The pool is freed with steps queued, running and done, some of them orphaned: it must free every job and
 * connection (LeakSanitizer checks at exit) and touch nothing after. */
START_TEST(test_orphans_and_shutdown)
{
	enum { IDLE = 6, BUSY = 6 };
	struct ctxs c;
	struct hs_pool *p = hs_pool_new(2);
	struct tls_conn *cli[BUSY];
	struct hs_job *idle[IDLE], *busy[BUSY];

	ck_assert_ptr_nonnull(p);
	ctxs_open(&c, pki.cli_crt, pki.cli_key);
	/* connections with nothing to do: the step returns 0 at once */
	for (int i = 0; i < IDLE; i++) {
		struct tls_conn *srv = tls_conn_new(c.srv);

		ck_assert_ptr_nonnull(srv);
		idle[i] = submit(p, srv);
	}
	/* and some with a ClientHello: real work (signing, key exchange) when the pool is freed */
	for (int i = 0; i < BUSY; i++)
		busy[i] = submit_client_hello(p, &c, &cli[i]);
	/* sessions that ended mid-step, as the control thread marks them */
	for (int i = 0; i < IDLE; i += 2)
		idle[i]->orphan = true;
	for (int i = 1; i < BUSY; i += 2)
		busy[i]->orphan = true;
	hs_pool_free(p);
	for (int i = 0; i < BUSY; i++)
		tls_conn_free(cli[i]);
	ctxs_close(&c);
}
END_TEST

/* Same, but the steps are all done (the eventfd says so) and never collected. */
START_TEST(test_free_with_uncollected_done)
{
	struct ctxs c;
	struct hs_pool *p = hs_pool_new(3);
	struct pollfd pfd;

	ck_assert_ptr_nonnull(p);
	ctxs_open(&c, pki.cli_crt, pki.cli_key);
	for (int i = 0; i < 5; i++) {
		struct tls_conn *srv = tls_conn_new(c.srv);
		struct hs_job *j;

		ck_assert_ptr_nonnull(srv);
		j = submit(p, srv);
		if (i % 2)
			j->orphan = true;
	}
	/* wait until every step ran; the jobs stay in the done list */
	for (int i = 0; i < WAIT_MS / 10 && steps_total(p) < 5; i++)
		usleep(10000);
	ck_assert_uint_eq(steps_total(p), 5);
	pfd = (struct pollfd){ .fd = hs_pool_fd(p), .events = POLLIN };
	ck_assert_int_eq(poll(&pfd, 1, WAIT_MS), 1);
	hs_pool_free(p);
	ctxs_close(&c);
}
END_TEST

START_TEST(test_new_and_free)
{
	struct hs_pool *p;
	struct pollfd pfd;

	ck_assert_ptr_null(hs_pool_new(0));
	ck_assert_ptr_null(hs_pool_new(17));
	hs_pool_free(NULL);

	p = hs_pool_new(1);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(hs_pool_threads(p), 1);
	hs_pool_free(p);

	p = hs_pool_new(16);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(hs_pool_threads(p), 16);
	ck_assert_int_ge(hs_pool_fd(p), 0);
	for (unsigned t = 0; t < 17; t++)
		ck_assert_uint_eq(hs_pool_steps(p, t), 0);
	/* nothing done: the eventfd is quiet and the list empty */
	pfd = (struct pollfd){ .fd = hs_pool_fd(p), .events = POLLIN };
	ck_assert_int_eq(poll(&pfd, 1, 0), 0);
	ck_assert_ptr_null(hs_pool_take_done(p));
	hs_pool_free(p);
}
END_TEST

static Suite *handshake_suite(void)
{
	Suite *s = suite_create("handshake");
	TCase *tc = tcase_create("core");

	tcase_add_unchecked_fixture(tc, pki_setup, pki_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_one_handshake);
	tcase_add_test(tc, test_many_interleaved);
	tcase_add_test(tc, test_garbage_fails);
	tcase_add_test(tc, test_cancel_queued);
	tcase_add_test(tc, test_foreign_client_cert_refused);
	tcase_add_test(tc, test_orphans_and_shutdown);
	tcase_add_test(tc, test_free_with_uncollected_done);
	tcase_add_test(tc, test_new_and_free);
	suite_add_tcase(s, tc);
	return s;
}

int main(void) { return check_run(handshake_suite()); }
