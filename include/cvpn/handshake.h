/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_HANDSHAKE_H
#define CVPN_HANDSHAKE_H

#include <stdbool.h>
#include <stdint.h>

/* Handshake threads: the steps of TLS handshakes (wolfSSL_accept on the input a client sent: the signing,
 * key exchange and certificate verification that make up most of a connection's cost) run on a pool of
 * threads, so a connect storm uses every core and the control thread stays free for timers, policy and the
 * control channel. A step takes the TLS connection away from its session while it runs; the control thread
 * gets it back with the step's result through an eventfd. Only the control thread submits and collects. */

struct tls_conn;
struct session;
struct key_state;

struct hs_job {
	/* in: the connection (the thread's alone while the step runs), and whose it is */
	struct tls_conn *tls;
	struct session *s;
	struct key_state *ks;
	/* out: tls_conn_handshake's result, and the thread that ran it */
	int result;
	unsigned thread;
	/* the session ended while the step ran: the collector frees the connection instead */
	bool orphan;
	struct hs_job *next;
};

struct hs_pool;

/* threads: 1..16. NULL: no memory or no thread. */
struct hs_pool *hs_pool_new(unsigned threads);
/* Stops the threads once their current steps end, and frees every job left, done or not, with its
 * connection: call it after every session has ended. */
void hs_pool_free(struct hs_pool *p);
unsigned hs_pool_threads(const struct hs_pool *p);
/* Queues a step; the job belongs to the pool until hs_pool_take_done returns it. */
void hs_pool_submit(struct hs_pool *p, struct hs_job *job);
/* Takes back a step no thread has started (its session ended while it waited): true, and the job is the
 * caller's again; false when a thread runs it or has run it, and hs_pool_take_done will return it. Without
 * this, the steps of sessions that a client opens and drops faster than the threads work would all still
 * run, each holding a TLS connection until then. */
bool hs_pool_cancel(struct hs_pool *p, struct hs_job *job);
/* Readable (an eventfd) when steps are done. */
int hs_pool_fd(const struct hs_pool *p);
/* The steps done so far, oldest first, as a list through next (NULL: none). Clears the eventfd. */
struct hs_job *hs_pool_take_done(struct hs_pool *p);
/* Steps each thread ran (any thread may ask). */
uint64_t hs_pool_steps(const struct hs_pool *p, unsigned thread);

#endif
