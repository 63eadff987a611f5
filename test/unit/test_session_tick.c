// SPDX-License-Identifier: GPL-2.0-or-later
/* session_tick's keepalive arithmetic (ctrl/session.c). The tick reads the clock once and then walks every
 * session; a data worker stamps a session's last packet with its own clock meanwhile, so a busy session's
 * last-packet times can be a little later than the tick's now. That must read as "just now", not (an
 * unsigned now - then wrapping) as years of silence: the session used to be ended for "no packet from the
 * client" and, when its keepalive was due, pinged in a loop. */
#include <check.h>
#include <stdlib.h>

#include "cvpn/config.h"
#include "cvpn/server.h"
#include "cvpn/session.h"

#include "check_run.h"

START_TEST(worker_stamp_after_the_tick_read_its_clock)
{
	struct config cfg = { 0 };
	struct server srv = { 0 };
	struct session *s = calloc(1, sizeof(*s));
	const uint64_t now = 50000;

	ck_assert_ptr_nonnull(s);
	cfg.keepalive_interval = 10;
	cfg.keepalive_timeout = 60;
	srv.cfg = &cfg;
	s->srv = &srv;
	s->state = SESSION_CONNECTED;
	s->pushed = true;
	s->created_ms = 1000;
	for (uint64_t ahead = 1; ahead <= 5; ahead++) {
		s->last_rx_ms = now + ahead;
		s->last_tx_ms = now + ahead;
		session_tick(s, now); /* the old code ended (freed) the session here, or tried to ping it */
		ck_assert_int_eq(s->state, SESSION_CONNECTED);
		ck_assert_uint_eq(s->last_tx_ms, now + ahead); /* no keepalive sent: nothing is due */
	}
	free(s);
}
END_TEST

int main(void)
{
	Suite *su = suite_create("session_tick");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, worker_stamp_after_the_tick_read_its_clock);
	suite_add_tcase(su, tc);
	return check_run(su);
}
