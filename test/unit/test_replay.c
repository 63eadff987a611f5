// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for dataplane/replay.c: the data-channel replay window (openvpn-protocol.md §6.2). */

#include <check.h>
#include <stdlib.h>

#include "cvpn/aead.h"

#include "check_run.h"

/* check + update, as aead_open does after the tag verified. */
static bool take(struct replay_window *rw, uint32_t id, uint64_t now)
{
	if (!replay_check(rw, id, now))
		return false;
	replay_update(rw, id, now);
	return true;
}

START_TEST(test_in_order)
{
	struct replay_window rw;
	uint32_t id;

	replay_init(&rw);
	for (id = 1; id <= 1000; id++) {
		ck_assert_msg(take(&rw, id, 100), "id %u", id);
		ck_assert_uint_eq(rw.highest, id);
	}
	for (id = 1; id <= 1000; id++)
		ck_assert_msg(!replay_check(&rw, id, 100), "replayed id %u accepted", id);
	ck_assert(take(&rw, 1001, 100));
}
END_TEST

START_TEST(test_zero_rejected)
{
	struct replay_window rw;

	replay_init(&rw);
	ck_assert(!replay_check(&rw, 0, 0));
	ck_assert(take(&rw, 5, 0));
	ck_assert(!replay_check(&rw, 0, 0));
	/* An update with 0 (a caller bug) must not disturb the window. */
	replay_update(&rw, 0, 0);
	ck_assert_uint_eq(rw.highest, 5);
	ck_assert(replay_check(&rw, 4, 0));
}
END_TEST

START_TEST(test_reorder_within_window)
{
	struct replay_window rw;
	uint32_t id;

	replay_init(&rw);
	ck_assert(take(&rw, 300, 10));
	/* Everything up to REPLAY_WINDOW_BITS-1 behind the highest is still acceptable, once. */
	for (id = 299; id > 300 - REPLAY_WINDOW_BITS; id--)
		ck_assert_msg(take(&rw, id, 10), "id %u", id);
	for (id = 300; id > 300 - REPLAY_WINDOW_BITS; id--)
		ck_assert_msg(!replay_check(&rw, id, 10), "duplicate id %u accepted", id);
	ck_assert_uint_eq(rw.highest, 300);
	/* 300 - 256 = 44 lies just outside the window. */
	ck_assert(!replay_check(&rw, 300 - REPLAY_WINDOW_BITS, 10));
}
END_TEST

START_TEST(test_interleaved)
{
	struct replay_window rw;
	static const uint32_t seq[] = { 2, 1, 5, 3, 4, 10, 7, 9, 8, 6 };
	size_t i;

	replay_init(&rw);
	for (i = 0; i < sizeof(seq) / sizeof(seq[0]); i++)
		ck_assert_msg(take(&rw, seq[i], 0), "id %u", seq[i]);
	for (i = 0; i < sizeof(seq) / sizeof(seq[0]); i++)
		ck_assert_msg(!replay_check(&rw, seq[i], 0), "dup %u", seq[i]);
	ck_assert(replay_check(&rw, 11, 0));
}
END_TEST

START_TEST(test_gaps_stay_open)
{
	struct replay_window rw;

	replay_init(&rw);
	ck_assert(take(&rw, 1, 0));
	ck_assert(take(&rw, 3, 0));
	ck_assert(take(&rw, 70, 0)); /* shift across a word boundary */
	ck_assert(take(&rw, 140, 0));
	ck_assert(!replay_check(&rw, 1, 0));
	ck_assert(!replay_check(&rw, 3, 0));
	ck_assert(!replay_check(&rw, 70, 0));
	ck_assert(replay_check(&rw, 2, 0));
	ck_assert(replay_check(&rw, 69, 0));
	ck_assert(replay_check(&rw, 71, 0));
	ck_assert(replay_check(&rw, 139, 0));
	ck_assert(take(&rw, 2, 0));
	ck_assert(!replay_check(&rw, 2, 0));
}
END_TEST

START_TEST(test_window_edge)
{
	struct replay_window rw;

	replay_init(&rw);
	ck_assert(take(&rw, 1000, 0));
	ck_assert(replay_check(&rw, 1000 - (REPLAY_WINDOW_BITS - 1), 0));
	ck_assert(!replay_check(&rw, 1000 - REPLAY_WINDOW_BITS, 0));
	ck_assert(!replay_check(&rw, 1, 0));
	/* The oldest slot really is tracked: seen once, refused after. */
	ck_assert(take(&rw, 1000 - (REPLAY_WINDOW_BITS - 1), 0));
	ck_assert(!replay_check(&rw, 1000 - (REPLAY_WINDOW_BITS - 1), 0));
	/* Advancing by one pushes that slot out of the window. */
	ck_assert(take(&rw, 1001, 0));
	ck_assert(!replay_check(&rw, 1001 - REPLAY_WINDOW_BITS, 0));
	ck_assert(replay_check(&rw, 1001 - (REPLAY_WINDOW_BITS - 1), 0));
}
END_TEST

START_TEST(test_shift_keeps_bits)
{
	struct replay_window rw;
	uint32_t id, step;

	/* Seen ids must stay seen across shifts of every size below the window width. */
	for (step = 1; step < REPLAY_WINDOW_BITS; step += 7) {
		replay_init(&rw);
		ck_assert(take(&rw, 10, 0));
		ck_assert(take(&rw, 12, 0));
		ck_assert(take(&rw, 12 + step, 0));
		for (id = 12 + step; id + REPLAY_WINDOW_BITS > 12 + step && id > 0; id--) {
			bool seen = id == 10 || id == 12 || id == 12 + step;

			ck_assert_msg(replay_check(&rw, id, 0) == !seen, "step %u id %u", step, id);
		}
	}
}
END_TEST

START_TEST(test_big_jumps)
{
	struct replay_window rw;

	replay_init(&rw);
	ck_assert(take(&rw, 1, 0));
	ck_assert(take(&rw, 1000000, 0));
	ck_assert(!replay_check(&rw, 1, 0));
	ck_assert(!replay_check(&rw, 1000000, 0));
	ck_assert(replay_check(&rw, 999999, 0));
	/* A jump exactly the window width clears every old bit. */
	ck_assert(take(&rw, 1000000 + REPLAY_WINDOW_BITS, 0));
	ck_assert(!replay_check(&rw, 1000000, 0));
	ck_assert(replay_check(&rw, 1000001, 0));
	ck_assert(take(&rw, 0xFFFFFFFEu, 0));
	ck_assert(take(&rw, 0xFFFFFFFFu, 0));
	ck_assert(!replay_check(&rw, 0xFFFFFFFFu, 0));
	ck_assert(!replay_check(&rw, 0xFFFFFFFEu, 0));
	ck_assert(replay_check(&rw, 0xFFFFFFFDu, 0));
}
END_TEST

START_TEST(test_time_backtrack)
{
	struct replay_window rw;

	replay_init(&rw);
	ck_assert(take(&rw, 1, 1000));
	ck_assert(take(&rw, 5, 1000));
	/* Within REPLAY_BACKTRACK_SEC of the last advance, late ids still count. */
	ck_assert(replay_check(&rw, 3, 1000 + REPLAY_BACKTRACK_SEC));
	ck_assert(take(&rw, 2, 1000 + REPLAY_BACKTRACK_SEC));
	/* One second later the older, unseen ids are refused, */
	ck_assert(!replay_check(&rw, 3, 1000 + REPLAY_BACKTRACK_SEC + 1));
	ck_assert(!replay_check(&rw, 4, 1000 + REPLAY_BACKTRACK_SEC + 100));
	/* but new ids are fine, and advancing restarts the clock for the ones behind. */
	ck_assert(take(&rw, 6, 1000 + REPLAY_BACKTRACK_SEC + 1));
	ck_assert(replay_check(&rw, 4, 1000 + REPLAY_BACKTRACK_SEC + 2));
	/* An older id that does not advance highest does not restart the clock. */
	ck_assert(take(&rw, 4, 1000 + 2 * REPLAY_BACKTRACK_SEC));
	ck_assert(!replay_check(&rw, 3, 1000 + 2 * REPLAY_BACKTRACK_SEC + 2));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("replay");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_in_order);
	tcase_add_test(tc, test_zero_rejected);
	tcase_add_test(tc, test_reorder_within_window);
	tcase_add_test(tc, test_interleaved);
	tcase_add_test(tc, test_gaps_stay_open);
	tcase_add_test(tc, test_window_edge);
	tcase_add_test(tc, test_shift_keeps_bits);
	tcase_add_test(tc, test_big_jumps);
	tcase_add_test(tc, test_time_backtrack);
	suite_add_tcase(s, tc);
	return check_run(s);
}
