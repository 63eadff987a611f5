// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for dataplane/ring.c: what ring_init refuses, the empty and full edges, FIFO order and slot
 * contents across many wrap-arounds (of the slot array and of the 32-bit counters), and two threads pushing
 * two million items through an 8-slot ring. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "check_run.h"
#include "cvpn/ring.h"

/* ---- items: a sequence number and bytes derived from it, so a torn or stale slot shows ---- */

static uint8_t pat(uint64_t seq, size_t k)
{
	return (uint8_t)(seq * 131 + k * 29 + (seq >> 8) + 1);
}

static void fill(uint8_t *slot, uint64_t seq, size_t len)
{
	memcpy(slot, &seq, sizeof(seq));
	for (size_t k = sizeof(seq); k < len; k++)
		slot[k] = pat(seq, k);
}

/* The first byte of slot that is not what fill(seq, len) wrote, or len when it is intact. */
static size_t check_item(const uint8_t *slot, uint64_t seq, size_t len)
{
	uint64_t got;

	memcpy(&got, slot, sizeof(got));
	if (got != seq)
		return 0;
	for (size_t k = sizeof(seq); k < len; k++)
		if (slot[k] != pat(seq, k))
			return k;
	return len;
}

/* ---- ring_init ---- */

START_TEST(test_init_refusals)
{
	static const uint32_t bad_n[] = { 0, 1, 3, 6, 12, 100, 65535, 65537, 131072, 0x80000000u, 0xffffffffu };
	struct ring r;

	for (size_t i = 0; i < sizeof(bad_n) / sizeof(bad_n[0]); i++) {
		ck_assert_msg(ring_init(&r, bad_n[i], 64) == -EINVAL, "n_slots %u accepted", bad_n[i]);
		ring_destroy(&r); /* harmless after a refusal */
	}
	ck_assert_int_eq(ring_init(&r, 8, 0), -EINVAL);
	ring_destroy(&r);

	/* the edges of what is allowed */
	ck_assert_int_eq(ring_init(&r, 2, 1), 0);
	ck_assert_ptr_nonnull(ring_reserve(&r));
	ring_destroy(&r);
	ck_assert_int_eq(ring_init(&r, 65536, 16), 0);
	ck_assert_ptr_nonnull(ring_reserve(&r));
	ring_destroy(&r);
}
END_TEST

/* slot_size is rounded up to 16: every slot holds at least what was asked, slots do not overlap */
START_TEST(test_slot_size)
{
	static const size_t sizes[] = { 1, 15, 16, 17, 40, 48, 100 };
	struct ring r;

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *prev = NULL;

		ck_assert_int_eq(ring_init(&r, 4, sizes[i]), 0);
		ck_assert_uint_ge(r.slot_size, sizes[i]);
		ck_assert_uint_eq(r.slot_size % 16, 0);
		ck_assert_uint_lt(r.slot_size, sizes[i] + 16);
		for (int k = 0; k < 4; k++) {
			uint8_t *s = ring_reserve(&r);

			ck_assert_ptr_nonnull(s);
			ck_assert_uint_eq((uintptr_t)s % 16, 0);
			if (prev)
				ck_assert_uint_ge((size_t)(s - prev), sizes[i]);
			fill(s, (uint64_t)k, r.slot_size);
			prev = s;
			ring_commit(&r);
		}
		for (int k = 0; k < 4; k++) {
			uint8_t *s = ring_peek(&r);

			ck_assert_ptr_nonnull(s);
			ck_assert_uint_eq(check_item(s, (uint64_t)k, r.slot_size), r.slot_size);
			ring_release(&r);
		}
		ring_destroy(&r);
	}
}
END_TEST

/* ---- edges ---- */

START_TEST(test_empty)
{
	struct ring r;
	void *s;

	ck_assert_int_eq(ring_init(&r, 8, 32), 0);
	ck_assert_ptr_null(ring_peek(&r));
	ck_assert_ptr_null(ring_peek(&r));
	/* a reserved slot is not published until committed; reserving again gives the same slot */
	s = ring_reserve(&r);
	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_null(ring_peek(&r));
	ck_assert_ptr_eq(ring_reserve(&r), s);
	fill(s, 7, 32);
	ring_commit(&r);
	ck_assert_ptr_eq(ring_peek(&r), s);
	ck_assert_ptr_eq(ring_peek(&r), s); /* peeking again does not consume */
	ck_assert_uint_eq(check_item(s, 7, 32), 32);
	ring_release(&r);
	ck_assert_ptr_null(ring_peek(&r));
	ring_destroy(&r);
}
END_TEST

START_TEST(test_full)
{
	struct ring r;
	uint8_t *slot[4], *s;

	ck_assert_int_eq(ring_init(&r, 4, 32), 0);
	for (int i = 0; i < 4; i++) {
		slot[i] = ring_reserve(&r);
		ck_assert_msg(slot[i] != NULL, "reserve %d of 4 refused", i);
		for (int k = 0; k < i; k++)
			ck_assert_ptr_ne(slot[i], slot[k]);
		fill(slot[i], (uint64_t)i, 32);
		ring_commit(&r);
	}
	ck_assert_ptr_null(ring_reserve(&r));
	ck_assert_ptr_null(ring_reserve(&r)); /* a refused reserve changes nothing */

	/* one out, one more in: it takes the slot just given back */
	s = ring_peek(&r);
	ck_assert_ptr_eq(s, slot[0]);
	ck_assert_uint_eq(check_item(s, 0, 32), 32);
	ring_release(&r);
	s = ring_reserve(&r);
	ck_assert_ptr_eq(s, slot[0]);
	fill(s, 4, 32);
	ring_commit(&r);
	ck_assert_ptr_null(ring_reserve(&r));

	for (uint64_t i = 1; i <= 4; i++) {
		s = ring_peek(&r);
		ck_assert_ptr_nonnull(s);
		ck_assert_uint_eq(check_item(s, i, 32), 32);
		ring_release(&r);
	}
	ck_assert_ptr_null(ring_peek(&r));
	ring_destroy(&r);
}
END_TEST

/* ---- FIFO across wrap-around, one thread ---- */

/* Rounds of "push up to a, pop up to b" with a and b varying, so the fill level and the positions of head and
 * tail in the slot array take every value; every slot filled whole. Failures by ck_abort_msg only: each passing
 * ck_assert is a mark the forked child sends its parent, and millions of them cost seconds. */
static uint64_t rounds(struct ring *r, uint32_t n_slots, size_t len, int n_rounds)
{
	uint64_t in = 0, out = 0;

	for (int round = 0; round < n_rounds; round++) {
		unsigned a = (unsigned)(round * 7 + 3) % (n_slots + 2), b = (unsigned)(round * 5 + 1) % (n_slots + 3);
		uint8_t *s;

		for (unsigned k = 0; k < a; k++) {
			s = ring_reserve(r);
			if (in - out == n_slots) {
				if (s)
					ck_abort_msg("round %d: reserve on a full ring", round);
				break;
			}
			if (!s)
				ck_abort_msg("round %d: reserve refused with %u of %u used", round, (unsigned)(in - out),
					     n_slots);
			fill(s, in++, len);
			ring_commit(r);
		}
		for (unsigned k = 0; k < b; k++) {
			s = ring_peek(r);
			if (in == out) {
				if (s)
					ck_abort_msg("round %d: peek on an empty ring", round);
				break;
			}
			if (!s)
				ck_abort_msg("round %d: peek empty with %u queued", round, (unsigned)(in - out));
			if (check_item(s, out, len) != len)
				ck_abort_msg("round %d: item %llu wrong or out of order", round, (unsigned long long)out);
			out++;
			ring_release(r);
		}
	}
	while (out < in) {
		uint8_t *s = ring_peek(r);

		if (!s || check_item(s, out, len) != len)
			ck_abort_msg("drain: item %llu missing or wrong", (unsigned long long)out);
		out++;
		ring_release(r);
	}
	ck_assert_ptr_null(ring_peek(r));
	ck_assert_uint_gt(in, 10 * n_slots); /* it did wrap, many times */
	return in;
}

START_TEST(test_fifo_wrap)
{
	static const uint32_t ns[] = { 2, 4, 8, 64 };
	struct ring r;

	for (size_t i = 0; i < sizeof(ns) / sizeof(ns[0]); i++) {
		ck_assert_int_eq(ring_init(&r, ns[i], 48), 0);
		rounds(&r, ns[i], r.slot_size, 20000);
		ring_destroy(&r);
	}
}
END_TEST

/* head and tail count forever and wrap at 2^32: started just below, the same rounds cross it. (Reaching in
 * to the counters, which the header shows, spares four billion operations.) */
START_TEST(test_counter_wrap)
{
	const uint32_t start = UINT32_MAX - 20;
	struct ring r;
	uint64_t n;

	ck_assert_int_eq(ring_init(&r, 8, 48), 0);
	atomic_store(&r.head, start);
	atomic_store(&r.tail, start);
	ck_assert_ptr_null(ring_peek(&r));
	ck_assert_ptr_nonnull(ring_reserve(&r));
	n = rounds(&r, 8, 48, 2000);
	ck_assert_uint_eq(atomic_load(&r.head), (uint32_t)(start + n));
	ck_assert_uint_lt(atomic_load(&r.head), start); /* it crossed */
	ring_destroy(&r);
}
END_TEST

/* ---- two threads ---- */

#define SPSC_ITEMS 2000000u
#define SPSC_LEN 48
#define SPSC_SECONDS 20 /* far above what it takes even under ASan; only a stuck ring gets there */

struct spsc {
	struct ring r;
	_Atomic bool stop;  /* either side gave up: the other stops too */
	struct timespec deadline;
	/* the consumer's verdict */
	uint64_t received;
	uint64_t bad_seq;   /* first item wrong */
	size_t bad_at;      /* and where */
	bool bad, timed_out_prod, timed_out_cons;
};

static bool past(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > deadline->tv_sec || (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec);
}

static void *producer(void *arg)
{
	struct spsc *t = arg;
	unsigned spins = 0;

	for (uint64_t seq = 0; seq < SPSC_ITEMS;) {
		uint8_t *s = ring_reserve(&t->r);

		if (!s) {
			if (atomic_load_explicit(&t->stop, memory_order_relaxed))
				return NULL;
			if (++spins % 1024 == 0 && past(&t->deadline)) {
				t->timed_out_prod = true;
				atomic_store(&t->stop, true);
				return NULL;
			}
			sched_yield();
			continue;
		}
		fill(s, seq++, SPSC_LEN);
		ring_commit(&t->r);
	}
	return NULL;
}

static void *consumer(void *arg)
{
	struct spsc *t = arg;
	unsigned spins = 0;

	while (t->received < SPSC_ITEMS) {
		const uint8_t *s = ring_peek(&t->r);
		size_t at;

		if (!s) {
			if (atomic_load_explicit(&t->stop, memory_order_relaxed))
				return NULL;
			if (++spins % 1024 == 0 && past(&t->deadline)) {
				t->timed_out_cons = true;
				atomic_store(&t->stop, true);
				return NULL;
			}
			sched_yield();
			continue;
		}
		at = check_item(s, t->received, SPSC_LEN);
		if (at != SPSC_LEN) {
			t->bad = true;
			t->bad_seq = t->received;
			t->bad_at = at;
			atomic_store(&t->stop, true);
			return NULL;
		}
		t->received++;
		ring_release(&t->r);
	}
	/* anything more would be a duplicate or an invention */
	if (ring_peek(&t->r))
		t->bad = true, t->bad_seq = t->received, t->bad_at = 0;
	return NULL;
}

START_TEST(test_two_threads)
{
	static struct spsc t; /* static: the ring's counters are 64-byte aligned */
	pthread_t p, c;

	memset(&t, 0, sizeof(t));
	ck_assert_int_eq(ring_init(&t.r, 8, SPSC_LEN), 0);
	clock_gettime(CLOCK_MONOTONIC, &t.deadline);
	t.deadline.tv_sec += SPSC_SECONDS;
	ck_assert_int_eq(pthread_create(&c, NULL, consumer, &t), 0);
	ck_assert_int_eq(pthread_create(&p, NULL, producer, &t), 0);
	ck_assert_int_eq(pthread_join(p, NULL), 0);
	ck_assert_int_eq(pthread_join(c, NULL), 0);
	ck_assert_msg(!t.bad, "item %llu arrived wrong (first bad byte %zu; byte 0 = wrong or extra sequence number)",
		      (unsigned long long)t.bad_seq, t.bad_at);
	ck_assert_msg(!t.timed_out_prod && !t.timed_out_cons, "stuck after %llu items (%s waiting)",
		      (unsigned long long)t.received, t.timed_out_prod ? "producer" : "consumer");
	ck_assert_uint_eq(t.received, SPSC_ITEMS);
	ring_destroy(&t.r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ring");
	TCase *tc = tcase_create("ring");

	tcase_add_test(tc, test_init_refusals);
	tcase_add_test(tc, test_slot_size);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_full);
	tcase_add_test(tc, test_fifo_wrap);
	tcase_add_test(tc, test_counter_wrap);
	tcase_add_test(tc, test_two_threads);
	tcase_set_timeout(tc, SPSC_SECONDS + 10);
	suite_add_tcase(s, tc);
	return check_run(s);
}
