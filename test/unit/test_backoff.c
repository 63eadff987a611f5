// SPDX-License-Identifier: GPL-2.0-or-later
/* Failed-login counters (ctrl/auth/backoff.c): counting, forgetting, the bound on keys, the delay curve. */
#include <check.h>
#include <stdio.h>

#include "cvpn/backoff.h"

#include "check_run.h"

START_TEST(count_and_clear)
{
	struct backoff *b = backoff_new(100);

	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(backoff_failures(b, "u:alice", 1000), 0);
	backoff_fail(b, "u:alice", 1000);
	backoff_fail(b, "u:alice", 2000);
	backoff_fail(b, "a:203.0.113.2", 2000);
	ck_assert_uint_eq(backoff_failures(b, "u:alice", 2000), 2);
	ck_assert_uint_eq(backoff_failures(b, "a:203.0.113.2", 2000), 1);
	ck_assert_uint_eq(backoff_failures(b, "u:bob", 2000), 0);
	ck_assert_uint_eq(backoff_size(b), 2);
	backoff_clear(b, "u:alice");
	ck_assert_uint_eq(backoff_failures(b, "u:alice", 2000), 0);
	ck_assert_uint_eq(backoff_size(b), 1);
	backoff_free(b);
}
END_TEST

/* Logins in progress count until they end: three started together see 1, 2 and 3 failures (so their delays
 * grow) though none has failed yet; ending them takes them back unless they failed, and neither starting
 * nor ending makes an old failure recent again. */
START_TEST(logins_in_progress)
{
	struct backoff *b = backoff_new(100);

	backoff_fail(b, "u:dave", 1000);
	for (unsigned i = 1; i <= 3; i++) {
		ck_assert_uint_eq(backoff_failures(b, "u:dave", 2000), i);
		backoff_begin(b, "u:dave", 2000);
	}
	ck_assert_uint_eq(backoff_failures(b, "u:dave", 2000), 4);
	backoff_end(b, "u:dave", true, 3000);   /* a wrong password */
	backoff_end(b, "u:dave", false, 3000);  /* the directory was down */
	ck_assert_uint_eq(backoff_failures(b, "u:dave", 3000), 3);
	/* a success clears the failures, not the login still in progress */
	backoff_clear(b, "u:dave");
	ck_assert_uint_eq(backoff_failures(b, "u:dave", 3000), 1);
	/* in progress: never forgotten */
	ck_assert_uint_eq(backoff_failures(b, "u:dave", 3000 + 2 * BACKOFF_FORGET_MS), 1);
	backoff_end(b, "u:dave", false, 3000 + 2 * BACKOFF_FORGET_MS);
	ck_assert_uint_eq(backoff_failures(b, "u:dave", 3000 + 2 * BACKOFF_FORGET_MS), 0);
	ck_assert_uint_eq(backoff_size(b), 0);

	/* logins that keep coming and going do not keep an old failure alive */
	backoff_fail(b, "u:erin", 0);
	for (uint64_t t = 60000; t < BACKOFF_FORGET_MS; t += 60000) {
		backoff_begin(b, "u:erin", t);
		backoff_end(b, "u:erin", false, t);
		ck_assert_uint_eq(backoff_failures(b, "u:erin", t), 1);
	}
	ck_assert_uint_eq(backoff_failures(b, "u:erin", BACKOFF_FORGET_MS), 0);
	ck_assert_uint_eq(backoff_size(b), 0);
	/* ending a login of a key never seen does nothing */
	backoff_end(b, "u:frank", false, 1000);
	ck_assert_uint_eq(backoff_size(b), 0);
	backoff_free(b);

	/* a full table makes room with a counter that has no login in progress, though it is older */
	b = backoff_new(2);
	ck_assert(backoff_begin(b, "u:gina", 1000));
	backoff_fail(b, "u:hal", 2000);
	backoff_fail(b, "u:ivy", 3000);
	ck_assert_uint_eq(backoff_size(b), 2);
	ck_assert_uint_eq(backoff_failures(b, "u:gina", 3000), 1);
	ck_assert_uint_eq(backoff_failures(b, "u:hal", 3000), 0);
	backoff_free(b);
}
END_TEST

START_TEST(forget_after_quiet_period)
{
	struct backoff *b = backoff_new(100);

	backoff_fail(b, "u:carol", 0);
	backoff_fail(b, "u:carol", 60000);
	/* counted from the last failure */
	ck_assert_uint_eq(backoff_failures(b, "u:carol", 60000 + BACKOFF_FORGET_MS - 1), 2);
	ck_assert_uint_eq(backoff_failures(b, "u:carol", 60000 + BACKOFF_FORGET_MS), 0);
	ck_assert_uint_eq(backoff_size(b), 0);
	backoff_free(b);
}
END_TEST

START_TEST(bounded_keys)
{
	struct backoff *b = backoff_new(10);
	char key[32];

	for (int i = 0; i < 50; i++) {
		snprintf(key, sizeof(key), "u:user%d", i);
		backoff_fail(b, key, 1000 + (uint64_t)i);
	}
	ck_assert_uint_eq(backoff_size(b), 10);
	/* a full table makes room: the counter touched longest ago goes, the latest keys count */
	ck_assert_uint_eq(backoff_failures(b, "u:user49", 1100), 1);
	ck_assert_uint_eq(backoff_failures(b, "u:user40", 1100), 1);
	ck_assert_uint_eq(backoff_failures(b, "u:user39", 1100), 0);
	/* so a user attacked after a flood of one-off names is counted (new keys used to be left out) */
	backoff_fail(b, "u:alice", 1200);
	backoff_fail(b, "u:alice", 1201);
	ck_assert_uint_eq(backoff_failures(b, "u:alice", 1201), 2);
	ck_assert_uint_eq(backoff_size(b), 10);
	/* a full table still counts its existing keys */
	backoff_fail(b, "u:user49", 1202);
	ck_assert_uint_eq(backoff_failures(b, "u:user49", 1202), 2);
	/* once the old ones are forgotten there is room again */
	backoff_fail(b, "u:new", 1000 + BACKOFF_FORGET_MS + 5000);
	ck_assert_uint_eq(backoff_failures(b, "u:new", 1000 + BACKOFF_FORGET_MS + 5000), 1);
	backoff_free(b);
}
END_TEST

START_TEST(delay_curve)
{
	ck_assert_uint_eq(backoff_delay_ms(0, 1000, 30000), 0);
	ck_assert_uint_eq(backoff_delay_ms(1, 1000, 30000), 1000);
	ck_assert_uint_eq(backoff_delay_ms(2, 1000, 30000), 2000);
	ck_assert_uint_eq(backoff_delay_ms(3, 1000, 30000), 4000);
	ck_assert_uint_eq(backoff_delay_ms(5, 1000, 30000), 16000);
	ck_assert_uint_eq(backoff_delay_ms(6, 1000, 30000), 30000);
	ck_assert_uint_eq(backoff_delay_ms(64, 1000, 30000), 30000);
	ck_assert_uint_eq(backoff_delay_ms(3, 0, 30000), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("backoff");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, count_and_clear);
	tcase_add_test(tc, logins_in_progress);
	tcase_add_test(tc, forget_after_quiet_period);
	tcase_add_test(tc, bounded_keys);
	tcase_add_test(tc, delay_curve);
	suite_add_tcase(s, tc);
	return check_run(s);
}
