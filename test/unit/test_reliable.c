// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for ctrl/proto/reliable.c: focused tests of the window, timers, ACK handling and receive
 * window, plus a two-peer simulation over a lossy, duplicating, reordering in-memory link driven by a
 * seeded PRNG and a virtual clock. */

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cvpn/packet.h"
#include "cvpn/reliable.h"

#include "check_run.h"

static struct reliable *rel_new(uint32_t send_mid, uint32_t recv_mid, uint32_t timeout)
{
	struct reliable *r = malloc(sizeof(*r));

	ck_assert_ptr_nonnull(r);
	reliable_init(r, send_mid, recv_mid, timeout);
	return r;
}

static void rel_free(struct reliable *r)
{
	reliable_free(r);
	free(r);
}

static void queue_n(struct reliable *r, int n, uint32_t first_expected)
{
	for (int i = 0; i < n; i++) {
		uint8_t b = (uint8_t)i;
		uint32_t mid = 0xffff;

		ck_assert_int_eq(reliable_queue(r, P_CONTROL_V1, &b, 1, &mid), 0);
		ck_assert_uint_eq(mid, first_expected + (uint32_t)i);
	}
}

/* Sends everything due at now; returns how many. */
static int send_due(struct reliable *r, uint64_t now)
{
	int n = 0;

	while (reliable_next_due(r, now))
		n++;
	return n;
}

/* ---------------------------------------------------------------- send side */

START_TEST(test_window_full)
{
	struct reliable *r = rel_new(0, 0, 2000);
	uint8_t big[RELIABLE_MAX_PAYLOAD + 1] = { 0 };
	uint32_t mid;

	ck_assert(reliable_can_queue(r));
	queue_n(r, RELIABLE_SEND_WINDOW, 0);
	ck_assert(!reliable_can_queue(r));
	ck_assert_int_eq(reliable_queue(r, P_CONTROL_V1, big, 1, NULL), -ENOBUFS);

	/* Acking everything but the lowest frees slots, yet id 6 - lowest 0 = 6 is outside the window. */
	for (uint32_t m = 1; m < RELIABLE_SEND_WINDOW; m++)
		reliable_on_ack(r, m);
	ck_assert(!reliable_can_queue(r));
	ck_assert_int_eq(reliable_queue(r, P_CONTROL_V1, big, 1, NULL), -ENOBUFS);

	reliable_on_ack(r, 0);
	ck_assert(reliable_can_queue(r));
	ck_assert_int_eq(reliable_queue(r, P_CONTROL_V1, big, 0, &mid), 0);
	ck_assert_uint_eq(mid, 6);

	/* Acking 6 again opens a full window: 7..12. */
	reliable_on_ack(r, 6);
	queue_n(r, RELIABLE_SEND_WINDOW, 7);
	ck_assert_int_eq(reliable_queue(r, P_CONTROL_V1, big, 1, NULL), -ENOBUFS);

	ck_assert_int_eq(reliable_queue(r, P_CONTROL_V1, big, sizeof(big), NULL), -EMSGSIZE);
	rel_free(r);
}
END_TEST

START_TEST(test_queue_contents)
{
	struct reliable *r = rel_new(5, 0, 2000);
	uint8_t data[RELIABLE_MAX_PAYLOAD];
	struct reliable_msg *m;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i ^ 0x5a);
	ck_assert_int_eq(reliable_queue(r, P_CONTROL_SOFT_RESET_V1, data, sizeof(data), NULL), 0);
	m = reliable_next_due(r, 0);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(m->mid, 5);
	ck_assert_uint_eq(m->opcode, P_CONTROL_SOFT_RESET_V1);
	ck_assert_uint_eq(m->len, sizeof(data));
	ck_assert_mem_eq(m->data, data, sizeof(data));
	rel_free(r);
}
END_TEST

START_TEST(test_retransmit_intervals)
{
	static const uint64_t want[] = { 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000 };
	struct reliable *r = rel_new(0, 0, 2000);
	uint64_t now = 1000, prev;
	struct reliable_msg *m;

	queue_n(r, 1, 0);
	/* A queued message is due at once, whatever the clock says. */
	ck_assert_uint_eq(reliable_next_deadline(r), 0);
	m = reliable_next_due(r, now);
	ck_assert_ptr_nonnull(m);
	ck_assert_ptr_null(reliable_next_due(r, now));
	prev = now;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		uint64_t dl = reliable_next_deadline(r);

		ck_assert_msg(dl - prev == want[i], "interval %zu: %llu", i, (unsigned long long)(dl - prev));
		ck_assert_ptr_null(reliable_next_due(r, dl - 1));
		m = reliable_next_due(r, dl);
		ck_assert_ptr_nonnull(m);
		ck_assert_uint_eq(m->mid, 0);
		ck_assert_ptr_null(reliable_next_due(r, dl));
		prev = dl;
	}
	rel_free(r);
}
END_TEST

START_TEST(test_retransmit_late_caller)
{
	struct reliable *r = rel_new(0, 0, 3000);

	/* The timer is re-armed from when the caller actually sent, not from the old deadline. */
	queue_n(r, 1, 0);
	ck_assert_int_eq(send_due(r, 0), 1);
	ck_assert_uint_eq(reliable_next_deadline(r), 3000);
	ck_assert_int_eq(send_due(r, 10000), 1);
	ck_assert_uint_eq(reliable_next_deadline(r), 16000);
	rel_free(r);
}
END_TEST

START_TEST(test_fast_retransmit)
{
	struct reliable *r = rel_new(0, 0, 2000);
	struct reliable_msg *m;

	queue_n(r, 5, 0);
	ck_assert_int_eq(send_due(r, 0), 5);
	reliable_on_ack(r, 2);
	reliable_on_ack(r, 3);
	ck_assert_int_eq(send_due(r, 100), 0);
	ck_assert_uint_eq(reliable_next_deadline(r), 2000);
	reliable_on_ack(r, 4);
	/* Three ACKs for later ids: 0 and 1 are due now, lowest first; 2..4 are gone. */
	ck_assert_uint_eq(reliable_next_deadline(r), 0);
	m = reliable_next_due(r, 100);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(m->mid, 0);
	m = reliable_next_due(r, 100);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(m->mid, 1);
	ck_assert_ptr_null(reliable_next_due(r, 100));
	/* The fast retransmit counts as a transmission: backoff continued (4 s interval). */
	ck_assert_uint_eq(reliable_next_deadline(r), 4100);
	rel_free(r);
}
END_TEST

START_TEST(test_fast_retransmit_counter_resets_on_send)
{
	struct reliable *r = rel_new(0, 0, 2000);

	queue_n(r, 6, 0);
	ck_assert_int_eq(send_due(r, 0), 6);
	reliable_on_ack(r, 1);
	reliable_on_ack(r, 2);
	/* Timer retransmission of 0 at 2000 resets its hint counter. */
	ck_assert_int_eq(send_due(r, 2000), 4);
	reliable_on_ack(r, 3);
	reliable_on_ack(r, 4);
	ck_assert_uint_eq(reliable_next_deadline(r), 6000);
	reliable_on_ack(r, 5);
	ck_assert_uint_eq(reliable_next_deadline(r), 0);
	rel_free(r);
}
END_TEST

START_TEST(test_duplicate_and_unknown_acks)
{
	struct reliable *r = rel_new(0, 0, 2000);

	queue_n(r, 4, 0);
	ck_assert_int_eq(send_due(r, 0), 4);
	/* The peer repeats recent ACKs: three copies of one ACK are one hint, not three. */
	reliable_on_ack(r, 3);
	reliable_on_ack(r, 3);
	reliable_on_ack(r, 3);
	reliable_on_ack(r, 1000);
	reliable_on_ack(r, 0xffffffffu);
	ck_assert_uint_eq(reliable_next_deadline(r), 2000);
	ck_assert_int_eq(send_due(r, 1999), 0);
	ck_assert_int_eq(send_due(r, 2000), 3);
	ck_assert(!reliable_all_acked(r));
	reliable_on_ack(r, 0);
	reliable_on_ack(r, 1);
	reliable_on_ack(r, 2);
	ck_assert(reliable_all_acked(r));
	reliable_on_ack(r, 2);
	ck_assert(reliable_all_acked(r));
	rel_free(r);
}
END_TEST

START_TEST(test_skip_send)
{
	struct reliable *r = rel_new(0, 1, 2000);

	/* Stateless cookie path: the reset (mid 0) was sent without state. */
	reliable_skip_send(r, 1);
	ck_assert(reliable_all_acked(r));
	ck_assert_uint_eq(reliable_next_deadline(r), UINT64_MAX);
	queue_n(r, RELIABLE_SEND_WINDOW, 1);
	ck_assert_int_eq(reliable_queue(r, P_CONTROL_V1, NULL, 0, NULL), -ENOBUFS);
	reliable_on_ack(r, 1);
	queue_n(r, 1, 7);
	rel_free(r);
}
END_TEST

START_TEST(test_all_acked_and_deadline)
{
	struct reliable *r = rel_new(0, 0, 2000);

	ck_assert(reliable_all_acked(r));
	ck_assert_uint_eq(reliable_next_deadline(r), UINT64_MAX);
	ck_assert_ptr_null(reliable_next_due(r, 123456));

	queue_n(r, 1, 0);
	ck_assert(!reliable_all_acked(r));
	ck_assert_uint_eq(reliable_next_deadline(r), 0);
	ck_assert_int_eq(send_due(r, 1000), 1);
	ck_assert_uint_eq(reliable_next_deadline(r), 3000);

	queue_n(r, 1, 1);
	ck_assert_uint_eq(reliable_next_deadline(r), 0);
	ck_assert_int_eq(send_due(r, 1500), 1);
	ck_assert_uint_eq(reliable_next_deadline(r), 3000); /* min of 3000 and 3500 */
	reliable_on_ack(r, 0);
	ck_assert_uint_eq(reliable_next_deadline(r), 3500);
	ck_assert(!reliable_all_acked(r));
	reliable_on_ack(r, 1);
	ck_assert(reliable_all_acked(r));
	ck_assert_uint_eq(reliable_next_deadline(r), UINT64_MAX);
	rel_free(r);
}
END_TEST

START_TEST(test_retransmit_all)
{
	struct reliable *r = rel_new(0, 0, 2000);

	queue_n(r, 3, 0);
	ck_assert_int_eq(send_due(r, 0), 3);
	ck_assert_int_eq(send_due(r, 2000), 3); /* next interval 4 s */
	ck_assert_int_eq(send_due(r, 2500), 0);
	reliable_retransmit_all(r);
	ck_assert_uint_eq(reliable_next_deadline(r), 0);
	ck_assert_int_eq(send_due(r, 2500), 3);
	ck_assert_int_eq(send_due(r, 2500), 0);
	ck_assert_uint_eq(reliable_next_deadline(r), 4500);
	rel_free(r);
}
END_TEST

START_TEST(test_send_wrap)
{
	struct reliable *r = rel_new(0xfffffffdu, 0, 2000);
	struct reliable_msg *m;

	queue_n(r, RELIABLE_SEND_WINDOW, 0xfffffffdu); /* ...fd fe ff 00 01 02 */
	ck_assert_int_eq(reliable_queue(r, P_CONTROL_V1, NULL, 0, NULL), -ENOBUFS);
	m = reliable_next_due(r, 0);
	ck_assert_uint_eq(m->mid, 0xfffffffdu);
	ck_assert_int_eq(send_due(r, 0), 5);
	/* ACKs for ids after the wrap are "higher" than 0xfffffffd. */
	reliable_on_ack(r, 0);
	reliable_on_ack(r, 1);
	reliable_on_ack(r, 2);
	m = reliable_next_due(r, 10);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(m->mid, 0xfffffffdu);
	reliable_on_ack(r, 0xfffffffdu);
	ck_assert(reliable_can_queue(r));
	queue_n(r, 1, 3);
	rel_free(r);
}
END_TEST

/* ------------------------------------------------------------- receive side */

static void take_all(struct reliable *r, uint32_t *out, size_t *n)
{
	*n = reliable_take_acks(r, out, 64);
	ck_assert_uint_eq(reliable_take_acks(r, out + *n, 64), 0);
	ck_assert(!reliable_has_acks(r));
}

START_TEST(test_recv_window_edge)
{
	struct reliable *r = rel_new(0, 0, 2000);
	uint8_t b = 0x42;
	uint32_t acks[64];
	size_t n;
	const struct reliable_msg *m;

	ck_assert_int_eq(reliable_on_message(r, P_CONTROL_V1, 11, &b, 1), 0);
	ck_assert_int_eq(reliable_on_message(r, P_CONTROL_V1, 12, &b, 1), -ENOSPC);
	ck_assert_int_eq(reliable_on_message(r, P_CONTROL_V1, 1000, &b, 1), -ENOSPC);
	ck_assert_int_eq(reliable_on_message(r, P_CONTROL_V1, 0x7fffffffu, &b, 1), -ENOSPC);
	take_all(r, acks, &n);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(acks[0], 11);
	ck_assert_ptr_null(reliable_pop(r));

	for (uint32_t i = 0; i < 11; i++) {
		b = (uint8_t)i;
		ck_assert_int_eq(reliable_on_message(r, P_CONTROL_V1, 10 - i, &b, 1), 0);
	}
	for (uint32_t i = 0; i < 12; i++) {
		m = reliable_pop(r);
		ck_assert_ptr_nonnull(m);
		ck_assert_uint_eq(m->mid, i);
		ck_assert_uint_eq(m->len, 1);
		ck_assert_uint_eq(m->data[0], i == 11 ? 0x42 : 10 - i);
	}
	ck_assert_ptr_null(reliable_pop(r));
	/* The window moved with delivery. */
	ck_assert_int_eq(reliable_on_message(r, P_CONTROL_V1, 23, &b, 1), 0);
	ck_assert_int_eq(reliable_on_message(r, P_CONTROL_V1, 24, &b, 1), -ENOSPC);
	rel_free(r);
}
END_TEST

START_TEST(test_recv_duplicate)
{
	struct reliable *r = rel_new(0, 7, 2000);
	uint8_t a[3] = { 1, 2, 3 }, z[5] = { 9, 9, 9, 9, 9 };
	uint32_t acks[64];
	size_t n;
	const struct reliable_msg *m;

	ck_assert_int_eq(reliable_on_message(r, P_CONTROL_V1, 8, a, 3), 0);
	/* Buffered but not yet delivered: duplicate, ACKed again, contents not replaced. */
	ck_assert_int_eq(reliable_on_message(r, P_CONTROL_V1, 8, z, 5), 1);
	take_all(r, acks, &n);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(acks[0], 8);
	ck_assert_uint_eq(acks[1], 8);

	ck_assert_int_eq(reliable_on_message(r, P_CONTROL_SOFT_RESET_V1, 7, NULL, 0), 0);
	m = reliable_pop(r);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(m->mid, 7);
	ck_assert_uint_eq(m->opcode, P_CONTROL_SOFT_RESET_V1);
	ck_assert_uint_eq(m->len, 0);
	m = reliable_pop(r);
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(m->mid, 8);
	ck_assert_uint_eq(m->len, 3);
	ck_assert_mem_eq(m->data, a, 3);
	ck_assert_ptr_null(reliable_pop(r));

	/* Already delivered: duplicate again, ACKed, never delivered twice. */
	ck_assert_int_eq(reliable_on_message(r, P_CONTROL_V1, 7, a, 3), 1);
	ck_assert_int_eq(reliable_on_message(r, P_CONTROL_V1, 8, a, 3), 1);
	ck_assert_int_eq(reliable_on_message(r, P_CONTROL_V1, 0, a, 3), 1);
	ck_assert_ptr_null(reliable_pop(r));
	take_all(r, acks, &n);
	ck_assert_uint_eq(n, 4); /* 7 (first arrival), then 7, 8, 0 */
	ck_assert_uint_eq(acks[0], 7);
	ck_assert_uint_eq(acks[1], 7);
	ck_assert_uint_eq(acks[2], 8);
	ck_assert_uint_eq(acks[3], 0);
	rel_free(r);
}
END_TEST

START_TEST(test_recv_too_big)
{
	struct reliable *r = rel_new(0, 0, 2000);
	uint8_t big[RELIABLE_MAX_PAYLOAD + 1];

	memset(big, 0x33, sizeof(big));
	ck_assert_int_eq(reliable_on_message(r, P_CONTROL_V1, 0, big, sizeof(big)), -EMSGSIZE);
	ck_assert(!reliable_has_acks(r));
	ck_assert_ptr_null(reliable_pop(r));
	ck_assert_int_eq(reliable_on_message(r, P_CONTROL_V1, 0, big, RELIABLE_MAX_PAYLOAD), 0);
	ck_assert_uint_eq(reliable_pop(r)->len, RELIABLE_MAX_PAYLOAD);
	rel_free(r);
}
END_TEST

START_TEST(test_ack_queue)
{
	struct reliable *r = rel_new(0, 0, 2000);
	uint32_t acks[64];
	size_t n;

	/* Oldest first, partial takes keep the rest. */
	for (uint32_t i = 0; i < 5; i++) {
		ck_assert_int_eq(reliable_on_message(r, P_CONTROL_V1, i, NULL, 0), 0);
		ck_assert_ptr_nonnull(reliable_pop(r));
	}
	ck_assert_uint_eq(reliable_take_acks(r, acks, 2), 2);
	ck_assert_uint_eq(acks[0], 0);
	ck_assert_uint_eq(acks[1], 1);
	ck_assert_uint_eq(reliable_take_acks(r, acks, 0), 0);
	take_all(r, acks, &n);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(acks[0], 2);
	ck_assert_uint_eq(acks[2], 4);

	/* Overflow drops the oldest. */
	for (uint32_t i = 5; i < 5 + RELIABLE_ACK_QUEUE + 8; i++) {
		ck_assert_int_eq(reliable_on_message(r, P_CONTROL_V1, i, NULL, 0), 0);
		ck_assert_ptr_nonnull(reliable_pop(r));
	}
	take_all(r, acks, &n);
	ck_assert_uint_eq(n, RELIABLE_ACK_QUEUE);
	for (size_t i = 0; i < n; i++)
		ck_assert_uint_eq(acks[i], 5 + 8 + i);
	rel_free(r);
}
END_TEST

START_TEST(test_recv_wrap)
{
	struct reliable *r = rel_new(0, 0xfffffffeu, 2000);
	const struct reliable_msg *m;
	uint32_t acks[64];
	size_t n;

	ck_assert_int_eq(reliable_on_message(r, P_CONTROL_V1, 1, NULL, 0), 0);
	ck_assert_int_eq(reliable_on_message(r, P_CONTROL_V1, 0, NULL, 0), 0);
	ck_assert_int_eq(reliable_on_message(r, P_CONTROL_V1, 9, NULL, 0), 0);
	ck_assert_int_eq(reliable_on_message(r, P_CONTROL_V1, 10, NULL, 0), -ENOSPC);
	ck_assert_int_eq(reliable_on_message(r, P_CONTROL_V1, 0xfffffffdu, NULL, 0), 1);
	ck_assert_int_eq(reliable_on_message(r, P_CONTROL_V1, 0xffffffffu, NULL, 0), 0);
	ck_assert_ptr_null(reliable_pop(r));
	ck_assert_int_eq(reliable_on_message(r, P_CONTROL_V1, 0xfffffffeu, NULL, 0), 0);
	static const uint32_t order[] = { 0xfffffffeu, 0xffffffffu, 0, 1 };
	for (size_t i = 0; i < 4; i++) {
		m = reliable_pop(r);
		ck_assert_ptr_nonnull(m);
		ck_assert_uint_eq(m->mid, order[i]);
	}
	ck_assert_ptr_null(reliable_pop(r));
	take_all(r, acks, &n);
	ck_assert_uint_eq(n, 6);
	rel_free(r);
}
END_TEST

/* --------------------------------------------------------------- simulation */

static uint64_t rng_next(uint64_t *s)
{
	/* splitmix64 */
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint32_t rng_below(uint64_t *s, uint32_t n)
{
	return (uint32_t)(rng_next(s) % n);
}

struct link_params {
	unsigned loss_pct, dup_pct;
	unsigned delay_min_ms, delay_max_ms;
};

struct sim_pkt {
	uint64_t at;
	uint32_t seq; /* link send order, to count reordering */
	bool is_ack;
	uint8_t opcode;
	uint32_t mid;
	uint16_t len;
	uint8_t n_acks;
	uint32_t acks[PACKET_MAX_ACKS];
	uint8_t data[RELIABLE_MAX_PAYLOAD];
};

#define LINK_CAP 512

struct link {
	struct link_params p;
	struct sim_pkt *q;
	size_t n;
	unsigned sent, lost, dups, reordered;
	uint32_t next_seq, max_seq_rx;
};

static void link_send(struct link *l, uint64_t *rng, uint64_t now, const struct sim_pkt *pkt)
{
	unsigned copies = 1;
	uint32_t seq = ++l->next_seq;

	if (rng_below(rng, 100) < l->p.loss_pct) {
		l->lost++;
		return;
	}
	if (rng_below(rng, 100) < l->p.dup_pct) {
		copies = 2 + rng_below(rng, 2);
		l->dups += copies - 1;
	}
	for (unsigned c = 0; c < copies; c++) {
		struct sim_pkt *slot;
		uint64_t at = now + l->p.delay_min_ms +
			      rng_below(rng, l->p.delay_max_ms - l->p.delay_min_ms + 1);

		ck_assert_uint_lt(l->n, LINK_CAP);
		slot = &l->q[l->n++];
		*slot = *pkt;
		slot->at = at;
		slot->seq = seq;
		l->sent++;
	}
}

/* Removes one packet that has arrived by now into out; false when none. */
static bool link_recv(struct link *l, uint64_t now, struct sim_pkt *out)
{
	for (size_t i = 0; i < l->n; i++) {
		if (l->q[i].at > now)
			continue;
		*out = l->q[i];
		l->q[i] = l->q[--l->n];
		/* Overtaken by a packet sent after it: counted so each scenario proves it reordered. */
		if (out->seq < l->max_seq_rx)
			l->reordered++;
		else
			l->max_seq_rx = out->seq;
		return true;
	}
	return false;
}

#define SIM_MSGS 200
#define SIM_FIRST_MID 1000u
/* Without loss no message should ever wait for a timer: even fully serialised, each message costs at most
 * one round trip (both maximum delays). */
#define SIM_LOSSLESS_BOUND_MS(ab_max, ba_max) ((uint64_t)SIM_MSGS * ((ab_max) + (ba_max)))
/* With loss, the doubling timer dominates; the 60 s cap keeps the tail finite. */
#define SIM_LOSSY_BOUND_MS (40 * 60 * 1000ull)

static uint64_t link_next_arrival(const struct link *l)
{
	uint64_t t = UINT64_MAX;

	for (size_t i = 0; i < l->n; i++)
		if (l->q[i].at < t)
			t = l->q[i].at;
	return t;
}

static uint8_t msg_byte(unsigned idx, unsigned j)
{
	return (uint8_t)(idx * 131u + j * 7u + (j >> 8) + 1u);
}

struct sim_result {
	uint64_t end_ms;
	unsigned rounds;
	unsigned dup_rx, ab_lost, ba_lost, ab_reordered, ab_dups;
};

static struct sim_result simulate(uint64_t seed, struct link_params ab_p, struct link_params ba_p)
{
	struct reliable *a = rel_new(SIM_FIRST_MID, 0, 2000);
	struct reliable *b = rel_new(0, SIM_FIRST_MID, 2000);
	struct link ab = { .p = ab_p }, ba = { .p = ba_p };
	uint16_t sizes[SIM_MSGS];
	struct sim_pkt *pkt = malloc(sizeof(*pkt));
	struct sim_result res = { 0 };
	unsigned queued = 0, delivered = 0;
	uint64_t rng = seed, now = 0;
	uint8_t data[RELIABLE_MAX_PAYLOAD];

	ab.q = calloc(LINK_CAP, sizeof(*ab.q));
	ba.q = calloc(LINK_CAP, sizeof(*ba.q));
	ck_assert(pkt && ab.q && ba.q);
	for (unsigned i = 0; i < SIM_MSGS; i++)
		sizes[i] = (uint16_t)rng_below(&rng, RELIABLE_MAX_PAYLOAD + 1);

	/* Event-driven virtual clock: each round handles everything due at now, then jumps to the next event
	 * (a link arrival or the sender's reliable_next_deadline), so a wrong deadline shows up as a stall. */
	while (delivered < SIM_MSGS || !reliable_all_acked(a) || ab.n || ba.n) {
		struct reliable_msg *m;
		const struct reliable_msg *d;
		uint32_t acks[PACKET_MAX_ACKS];
		size_t n;
		uint64_t next;

		ck_assert_msg(now < 3 * 3600 * 1000, "seed %llu: not done after 3 h (%u delivered)",
			      (unsigned long long)seed, delivered);

		while (queued < SIM_MSGS && reliable_can_queue(a)) {
			uint32_t mid;

			for (unsigned j = 0; j < sizes[queued]; j++)
				data[j] = msg_byte(queued, j);
			ck_assert_int_eq(reliable_queue(a, (uint8_t)(P_CONTROL_SOFT_RESET_V1 + queued % 2), data,
							sizes[queued], &mid), 0);
			ck_assert_uint_eq(mid, SIM_FIRST_MID + queued);
			queued++;
		}
		/* The loop above stopped on a full window, so queueing must be refused right now. */
		if (queued < SIM_MSGS)
			ck_assert_int_eq(reliable_queue(a, P_CONTROL_V1, NULL, 0, NULL), -ENOBUFS);

		while ((m = reliable_next_due(a, now))) {
			memset(pkt, 0, sizeof(*pkt));
			pkt->opcode = m->opcode;
			pkt->mid = m->mid;
			pkt->len = m->len;
			memcpy(pkt->data, m->data, m->len);
			link_send(&ab, &rng, now, pkt);
		}

		while (link_recv(&ab, now, pkt)) {
			int ret = reliable_on_message(b, pkt->opcode, pkt->mid, pkt->data, pkt->len);

			/* Send window 6 < receive window 12: nothing may ever fall outside. */
			ck_assert_msg(ret == 0 || ret == 1, "mid %u: %d", pkt->mid, ret);
			if (ret == 1)
				res.dup_rx++;
			while ((d = reliable_pop(b))) {
				unsigned idx = delivered;

				ck_assert_uint_eq(d->mid, SIM_FIRST_MID + idx);
				ck_assert_uint_eq(d->opcode, P_CONTROL_SOFT_RESET_V1 + idx % 2);
				ck_assert_uint_eq(d->len, sizes[idx]);
				for (unsigned j = 0; j < d->len; j++)
					data[j] = msg_byte(idx, j);
				ck_assert_msg(memcmp(d->data, data, d->len) == 0, "message %u corrupted", idx);
				delivered++;
			}
		}

		while ((n = reliable_take_acks(b, acks, PACKET_MAX_ACKS)) > 0) {
			memset(pkt, 0, sizeof(*pkt));
			pkt->is_ack = true;
			pkt->n_acks = (uint8_t)n;
			memcpy(pkt->acks, acks, n * sizeof(acks[0]));
			link_send(&ba, &rng, now, pkt);
		}

		while (link_recv(&ba, now, pkt)) {
			ck_assert(pkt->is_ack);
			for (uint8_t i = 0; i < pkt->n_acks; i++)
				reliable_on_ack(a, pkt->acks[i]);
		}

		/* More may have become queueable or due (fast retransmit) after the ACKs. */
		if ((queued < SIM_MSGS && reliable_can_queue(a)) || reliable_next_deadline(a) <= now)
			continue;
		next = reliable_next_deadline(a);
		if (link_next_arrival(&ab) < next)
			next = link_next_arrival(&ab);
		if (link_next_arrival(&ba) < next)
			next = link_next_arrival(&ba);
		if (next == UINT64_MAX)
			break; /* nothing in flight, nothing outstanding: the loop condition decides */
		ck_assert_uint_gt(next, now);
		now = next;
		res.rounds++;
	}

	ck_assert_uint_eq(delivered, SIM_MSGS);
	ck_assert_ptr_null(reliable_pop(b));
	ck_assert_uint_eq(b->next_recv_mid, SIM_FIRST_MID + delivered);
	res.end_ms = now;
	res.ab_lost = ab.lost;
	res.ba_lost = ba.lost;
	res.ab_reordered = ab.reordered;
	res.ab_dups = ab.dups;
	free(ab.q);
	free(ba.q);
	free(pkt);
	rel_free(a);
	rel_free(b);
	return res;
}

#define SIM_SEEDS 8

struct scenario {
	const char *name;
	struct link_params ab, ba;
	uint64_t bound_ms; /* virtual time within which every seed must finish */
};

static void run_scenario(const struct scenario *sc, struct sim_result *worst)
{
	memset(worst, 0, sizeof(*worst));
	for (uint64_t seed = 1; seed <= SIM_SEEDS; seed++) {
		struct sim_result r = simulate(seed * 0x1234567ull, sc->ab, sc->ba);

		ck_assert_msg(r.end_ms <= sc->bound_ms, "%s seed %llu: took %llu ms (bound %llu)", sc->name,
			      (unsigned long long)seed, (unsigned long long)r.end_ms,
			      (unsigned long long)sc->bound_ms);
		if (getenv("SIM_VERBOSE"))
			fprintf(stderr, "%s seed %llu: %llu ms, %u rounds, dup_rx %u lost %u/%u reordered %u dups %u\n",
				sc->name, (unsigned long long)seed, (unsigned long long)r.end_ms, r.rounds, r.dup_rx,
				r.ab_lost, r.ba_lost, r.ab_reordered, r.ab_dups);
		if (r.end_ms > worst->end_ms)
			worst->end_ms = r.end_ms;
		worst->dup_rx += r.dup_rx;
		worst->ab_lost += r.ab_lost;
		worst->ba_lost += r.ba_lost;
		worst->ab_reordered += r.ab_reordered;
		worst->ab_dups += r.ab_dups;
	}
}

START_TEST(test_sim_loss)
{
	const struct scenario sc = {
		"loss30", { 30, 0, 20, 60 }, { 30, 0, 20, 60 }, SIM_LOSSY_BOUND_MS,
	};
	struct sim_result w;

	run_scenario(&sc, &w);
	/* The link really lost packets in both directions and the receiver really saw retransmissions. */
	ck_assert_uint_gt(w.ab_lost, 100);
	ck_assert_uint_gt(w.ba_lost, 100);
}
END_TEST

START_TEST(test_sim_duplication)
{
	const struct scenario sc = {
		"dup", { 0, 30, 20, 40 }, { 0, 30, 20, 40 }, SIM_LOSSLESS_BOUND_MS(40, 40),
	};
	struct sim_result w;

	run_scenario(&sc, &w);
	ck_assert_uint_gt(w.ab_dups, 100);
	ck_assert_uint_gt(w.dup_rx, 100);
}
END_TEST

START_TEST(test_sim_reordering)
{
	const struct scenario sc = {
		"reorder", { 0, 0, 0, 500 }, { 0, 0, 0, 500 }, SIM_LOSSLESS_BOUND_MS(500, 500),
	};
	struct sim_result w;

	run_scenario(&sc, &w);
	ck_assert_uint_gt(w.ab_reordered, 100);
	ck_assert_uint_eq(w.ab_lost + w.ba_lost, 0);
}
END_TEST

START_TEST(test_sim_ack_loss)
{
	const struct scenario sc = {
		"ackloss", { 0, 0, 20, 60 }, { 50, 0, 20, 60 }, SIM_LOSSY_BOUND_MS,
	};
	struct sim_result w;

	run_scenario(&sc, &w);
	ck_assert_uint_eq(w.ab_lost, 0);
	ck_assert_uint_gt(w.ba_lost, 100);
	/* Lost ACKs lead to retransmissions the receiver must ACK again without redelivering. */
	ck_assert_uint_gt(w.dup_rx, 10);
}
END_TEST

START_TEST(test_sim_everything)
{
	const struct scenario sc = {
		"mixed", { 20, 10, 0, 300 }, { 20, 10, 0, 300 }, SIM_LOSSY_BOUND_MS,
	};
	struct sim_result w;

	run_scenario(&sc, &w);
	ck_assert_uint_gt(w.ab_lost, 50);
	ck_assert_uint_gt(w.ab_reordered, 50);
	ck_assert_uint_gt(w.dup_rx, 50);
}
END_TEST

/* A session copies its key state by value on renegotiation (the old one becomes the lame duck) and starts
 * a new one in the original place: the copy must own its buffers, the new one none of them (ASan checks). */
START_TEST(copied_state_owns_its_buffers)
{
	struct reliable *a = rel_new(0, 0, 2000), *b = malloc(sizeof(*b));
	uint8_t payload[3] = { 1, 2, 3 };
	const struct reliable_msg *m;

	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(reliable_on_message(a, P_CONTROL_V1, 0, payload, 3), 0);
	ck_assert_int_eq(reliable_on_message(a, P_CONTROL_V1, 1, payload, 2), 0);
	ck_assert_int_eq(reliable_queue(a, P_CONTROL_V1, payload, 3, NULL), 0);
	m = reliable_pop(a);
	ck_assert_ptr_nonnull(m);
	*b = *a;                      /* the lame duck takes everything */
	reliable_init(a, 0, 0, 2000); /* the new key state starts empty */
	m = reliable_pop(b);          /* frees the parked message 0 of b, not of a */
	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(m->len, 2);
	ck_assert_mem_eq(m->data, payload, 2);
	ck_assert_ptr_null(reliable_pop(a));
	rel_free(a);
	rel_free(b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("reliable");
	TCase *tc = tcase_create("core");
	TCase *sim = tcase_create("simulation");

	tcase_add_test(tc, test_window_full);
	tcase_add_test(tc, test_queue_contents);
	tcase_add_test(tc, test_retransmit_intervals);
	tcase_add_test(tc, test_retransmit_late_caller);
	tcase_add_test(tc, test_fast_retransmit);
	tcase_add_test(tc, test_fast_retransmit_counter_resets_on_send);
	tcase_add_test(tc, test_duplicate_and_unknown_acks);
	tcase_add_test(tc, test_skip_send);
	tcase_add_test(tc, test_all_acked_and_deadline);
	tcase_add_test(tc, test_retransmit_all);
	tcase_add_test(tc, test_send_wrap);
	tcase_add_test(tc, test_recv_window_edge);
	tcase_add_test(tc, test_recv_duplicate);
	tcase_add_test(tc, test_recv_too_big);
	tcase_add_test(tc, test_ack_queue);
	tcase_add_test(tc, test_recv_wrap);
	tcase_add_test(tc, copied_state_owns_its_buffers);
	suite_add_tcase(s, tc);

	tcase_set_timeout(sim, 60);
	tcase_add_test(sim, test_sim_loss);
	tcase_add_test(sim, test_sim_duplication);
	tcase_add_test(sim, test_sim_reordering);
	tcase_add_test(sim, test_sim_ack_loss);
	tcase_add_test(sim, test_sim_everything);
	suite_add_tcase(s, sim);

	return check_run(s);
}
