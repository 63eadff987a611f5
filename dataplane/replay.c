// SPDX-License-Identifier: GPL-2.0-or-later
/* Data-channel replay window (openvpn-protocol.md §6.2), REPLAY_WINDOW_BITS wide.
 *
 * Bit i of the window stands for id (highest - i); bit 0 is the highest id itself. 2.6 keeps a receive time
 * per slot and expires a slot and everything older once that time is REPLAY_BACKTRACK_SEC old; we keep only the
 * time the highest id advanced and refuse every older id once that is more than REPLAY_BACKTRACK_SEC ago. That
 * is 2.6's bound for the newest slot, one timestamp instead of 256.
 */
#include <string.h>

#include "cvpn/aead.h"

#define REPLAY_WORDS (REPLAY_WINDOW_BITS / 64)

_Static_assert(REPLAY_WINDOW_BITS % 64 == 0, "replay window is kept in whole 64-bit words");

void replay_init(struct replay_window *rw)
{
	memset(rw, 0, sizeof(*rw));
}

static bool replay_bit(const struct replay_window *rw, uint32_t diff)
{
	return (rw->bits[diff / 64] >> (diff % 64)) & 1;
}

bool replay_check(const struct replay_window *rw, uint32_t id, uint64_t now_sec)
{
	uint32_t diff;

	if (id == 0)
		return false;
	if (id > rw->highest)
		return true;
	diff = rw->highest - id;
	if (diff >= REPLAY_WINDOW_BITS)
		return false;
	/* "time backtrack": a late packet from before the last advance is only believed for a short while. */
	if (now_sec > rw->highest_time && now_sec - rw->highest_time > REPLAY_BACKTRACK_SEC)
		return false;
	return !replay_bit(rw, diff);
}

/* Moves every bit `shift` positions towards older ids (higher index); bits pushed past the end drop out. */
static void replay_shift(struct replay_window *rw, uint32_t shift)
{
	uint32_t words = shift / 64, bits = shift % 64;
	int i;

	if (shift >= REPLAY_WINDOW_BITS) {
		memset(rw->bits, 0, sizeof(rw->bits));
		return;
	}
	for (i = REPLAY_WORDS - 1; i >= 0; i--) {
		uint64_t v = 0;
		int src = i - (int)words;

		if (src >= 0) {
			v = rw->bits[src] << bits;
			/* A zero shift would be undefined for the carry from the next-lower word. */
			if (bits && src > 0)
				v |= rw->bits[src - 1] >> (64 - bits);
		}
		rw->bits[i] = v;
	}
}

void replay_update(struct replay_window *rw, uint32_t id, uint64_t now_sec)
{
	uint32_t diff;

	if (id == 0)
		return;
	if (id > rw->highest) {
		replay_shift(rw, id - rw->highest);
		rw->bits[0] |= 1;
		rw->highest = id;
		rw->highest_time = now_sec;
		return;
	}
	diff = rw->highest - id;
	if (diff < REPLAY_WINDOW_BITS)
		rw->bits[diff / 64] |= (uint64_t)1 << (diff % 64);
}
