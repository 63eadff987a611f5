// SPDX-License-Identifier: GPL-2.0-or-later
/* The control thread's record of which peer-ids a session holds, which the data workers read to drop data
 * packets of no session (ctrl/server.c register/unregister, ctrl/datapath.c align): after any sequence of
 * sessions arriving, moving to their worker's peer-ids and leaving, a peer-id is marked held exactly when a
 * session holds it. A slip would make a worker drop a live session's data, or pass junk up. Driven by a
 * seeded random sequence against a model (the by_peer_id table itself, and the sessions' own peer_id). */
#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cvpn/datapath.h"
#include "cvpn/server.h"
#include "cvpn/session.h"

#include "check_run.h"

#define TABLE 12
#define SESSIONS 40
#define STEPS 4000

struct fixture {
	struct server srv;
	struct session *s[SESSIONS];
	bool registered[SESSIONS];
};

static void fixture_init(struct fixture *f, uint32_t table, uint32_t dp_ids, unsigned workers)
{
	memset(f, 0, sizeof(*f));
	f->srv.table_size = table;
	f->srv.by_peer_id = calloc(table, sizeof(*f->srv.by_peer_id));
	f->srv.halfopen_by_src = calloc(SERVER_HALFOPEN_SLOTS, sizeof(*f->srv.halfopen_by_src));
	f->srv.dp_peer_ids = dp_ids;
	f->srv.peer_id_live = calloc(dp_ids, sizeof(*f->srv.peer_id_live));
	f->srv.n_workers = workers;
	ck_assert(f->srv.by_peer_id && f->srv.halfopen_by_src && f->srv.peer_id_live);
	for (int i = 0; i < SESSIONS; i++) {
		struct session *s = calloc(1, sizeof(*s));
		struct sockaddr_in *sin = (struct sockaddr_in *)&s->remote;

		ck_assert_ptr_nonnull(s);
		s->srv = &f->srv;
		s->transport = SESSION_UDP;
		s->state = SESSION_HANDSHAKE;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)(40000 + i));
		sin->sin_addr.s_addr = htonl(0xcb007100u + (uint32_t)i); /* 203.0.113.i */
		s->remote_len = sizeof(*sin);
		snprintf(s->remote_str, sizeof(s->remote_str), "203.0.113.%d:%d", i, 40000 + i);
		s->vaddr = 0x64400000u + 2 + (uint32_t)i; /* 100.64.0.(2+i) */
		f->s[i] = s;
	}
}

static void fixture_free(struct fixture *f)
{
	for (int i = 0; i < SESSIONS; i++)
		free(f->s[i]);
	free(f->srv.by_peer_id);
	free(f->srv.halfopen_by_src);
	free(f->srv.peer_id_live);
}

/* The invariant, checked over the whole table after every step. */
static void check_marks(const struct fixture *f, int step)
{
	const struct server *srv = &f->srv;

	for (uint32_t id = 0; id < srv->dp_peer_ids; id++) {
		bool held = id < srv->table_size && srv->by_peer_id[id] != NULL;
		bool marked = atomic_load(&srv->peer_id_live[id]) != 0;

		ck_assert_msg(held == marked, "step %d: peer-id %u held %d but marked %d", step, id, held, marked);
	}
	for (int i = 0; i < SESSIONS; i++)
		if (f->registered[i]) {
			ck_assert_ptr_eq(srv->by_peer_id[f->s[i]->peer_id], f->s[i]);
		}
}

/* The handshake bound is recounted every tick by the server; the test does that part itself. */
static void forget_halfopen(struct server *srv)
{
	memset(srv->halfopen_by_src, 0, SERVER_HALFOPEN_SLOTS * sizeof(*srv->halfopen_by_src));
	srv->n_halfopen = 0;
}

static void run_random(struct fixture *f, unsigned seed, int steps, unsigned min_aligned)
{
	unsigned aligned = 0, registered = 0, left = 0, full = 0;

	srandom(seed);
	for (int step = 0; step < steps; step++) {
		int i = (int)(random() % SESSIONS);
		struct session *s = f->s[i];

		forget_halfopen(&f->srv);
		if (!f->registered[i]) {
			s->state = SESSION_HANDSHAKE;
			if (server_register_session(&f->srv, s) == 0) {
				f->registered[i] = true;
				registered++;
			} else {
				full++;
			}
		} else if (random() % 3 == 0) {
			/* authenticated: it moves to a peer-id of the worker that owns its address, if one is free */
			uint32_t before = s->peer_id;

			s->vaddr = 0x64400000u + 2 + (uint32_t)(random() % 200);
			datapath_align_peer_id(&f->srv, s);
			aligned += s->peer_id != before;
		} else {
			server_unregister_session(&f->srv, s);
			f->registered[i] = false;
			left++;
		}
		check_marks(f, step);
	}
	/* the sequence did exercise every path */
	ck_assert_uint_gt(registered, 100);
	ck_assert_uint_gt(left, 100);
	ck_assert_uint_ge(aligned, min_aligned);
	ck_assert_uint_gt(full, 10);
	for (int i = 0; i < SESSIONS; i++)
		if (f->registered[i]) {
			server_unregister_session(&f->srv, f->s[i]);
			f->registered[i] = false;
		}
	check_marks(f, steps);
	ck_assert_uint_eq(f->srv.n_sessions, 0);
}

START_TEST(marks_follow_sessions)
{
	struct fixture f;

	fixture_init(&f, TABLE, TABLE, 3);
	run_random(&f, 1, STEPS, 20);
	fixture_free(&f);
}
END_TEST

/* A reload raised max-connections: the table grew past what the workers were given. Sessions beyond it are
 * never marked (the workers pass them up by their limit instead) and those inside still are. */
START_TEST(marks_after_the_table_grew)
{
	struct fixture f;
	struct session **t;

	fixture_init(&f, TABLE, TABLE, 2);
	run_random(&f, 2, STEPS / 4, 5);
	t = realloc(f.srv.by_peer_id, 2 * TABLE * sizeof(*t));
	ck_assert_ptr_nonnull(t);
	memset(t + TABLE, 0, TABLE * sizeof(*t));
	f.srv.by_peer_id = t;
	f.srv.table_size = 2 * TABLE;
	run_random(&f, 3, STEPS, 1);
	fixture_free(&f);
}
END_TEST

/* With no workers there is nothing to mark, and nothing breaks. */
START_TEST(no_workers_no_marks)
{
	struct fixture f;

	fixture_init(&f, TABLE, TABLE, 0);
	free(f.srv.peer_id_live);
	f.srv.peer_id_live = NULL;
	f.srv.dp_peer_ids = 0;
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(server_register_session(&f.srv, f.s[i]), 0);
	for (int i = 0; i < 5; i++)
		server_unregister_session(&f.srv, f.s[i]);
	ck_assert_uint_eq(f.srv.n_sessions, 0);
	fixture_free(&f);
}
END_TEST

static Suite *peer_ids_suite(void)
{
	Suite *s = suite_create("peer_ids");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, marks_follow_sessions);
	tcase_add_test(tc, marks_after_the_table_grew);
	tcase_add_test(tc, no_workers_no_marks);
	suite_add_tcase(s, tc);
	return s;
}

int main(void) { return check_run(peer_ids_suite()); }
