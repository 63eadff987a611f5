// SPDX-License-Identifier: GPL-2.0-or-later
/* Control-channel reliability layer for one key state (openvpn-protocol.md §1.6). Pure: no I/O, no clock.
 *
 * Message ids are compared with serial-number arithmetic relative to the next id of the same direction, so
 * the code stays correct if a fuzzer or a peer starts near UINT32_MAX. The windows are tiny (6 and 12), so
 * slots are found by linear search rather than by id modulo window (which would break at the 2^32 wrap). */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cvpn/reliable.h"

#define RELIABLE_MAX_TIMEOUT_MS 60000u
#define RELIABLE_DEFAULT_TIMEOUT_MS 2000u /* --tls-timeout default */
#define RELIABLE_FAST_RETRANSMIT 3        /* N_ACK_RETRANSMIT in 2.6 */

/* a is before b in id order. */
static bool mid_before(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}

void reliable_init(struct reliable *r, uint32_t first_send_mid, uint32_t first_recv_mid,
		   uint32_t initial_timeout_ms)
{
	memset(r, 0, sizeof(*r));
	r->next_send_mid = first_send_mid;
	r->next_recv_mid = first_recv_mid;
	/* A zero timeout would make every message due again at once, forever. */
	if (initial_timeout_ms == 0)
		initial_timeout_ms = RELIABLE_DEFAULT_TIMEOUT_MS;
	if (initial_timeout_ms > RELIABLE_MAX_TIMEOUT_MS)
		initial_timeout_ms = RELIABLE_MAX_TIMEOUT_MS;
	r->initial_timeout_ms = initial_timeout_ms;
}

/* Distance from the lowest unacknowledged id to next_send_mid (0 when nothing is outstanding). */
static uint32_t send_span(const struct reliable *r)
{
	uint32_t span = 0;

	for (int i = 0; i < RELIABLE_SEND_WINDOW; i++) {
		const struct reliable_msg *m = &r->send[i];

		if (m->used && r->next_send_mid - m->mid > span)
			span = r->next_send_mid - m->mid;
	}
	return span;
}

bool reliable_can_queue(const struct reliable *r)
{
	/* Free slots alone are not enough: with id 0 outstanding and 1..5 acked, five slots are free but
	 * id 6 must wait (2.6 creates an id only while id - lowest_unacked < 6). */
	return send_span(r) < RELIABLE_SEND_WINDOW;
}

static void msg_clear(struct reliable_msg *m)
{
	free(m->data);
	m->data = NULL;
	m->used = false;
}

/* A private copy of a payload; NULL for an empty one (which is not an error). */
static int dup_payload(const uint8_t *data, size_t len, uint8_t **out)
{
	*out = NULL;
	if (len == 0)
		return 0;
	*out = malloc(len);
	if (!*out)
		return -ENOMEM;
	memcpy(*out, data, len);
	return 0;
}

void reliable_free(struct reliable *r)
{
	for (int i = 0; i < RELIABLE_SEND_WINDOW; i++)
		msg_clear(&r->send[i]);
	for (int i = 0; i < RELIABLE_RECV_WINDOW; i++)
		msg_clear(&r->recv[i]);
	r->popped = 0;
}

/* The buffer of the message popped last is kept for the caller until the next call into the layer. */
static void release_popped(struct reliable *r)
{
	if (r->popped > 0) {
		msg_clear(&r->recv[r->popped - 1]);
		r->popped = 0;
	}
}

int reliable_queue(struct reliable *r, uint8_t opcode, const uint8_t *data, size_t len, uint32_t *mid)
{
	uint8_t *copy;
	struct reliable_msg *m = NULL;

	if (len > RELIABLE_MAX_PAYLOAD)
		return -EMSGSIZE;
	if (len > 0 && !data)
		return -EINVAL;
	if (!reliable_can_queue(r))
		return -ENOBUFS;
	for (int i = 0; i < RELIABLE_SEND_WINDOW; i++) {
		if (!r->send[i].used) {
			m = &r->send[i];
			break;
		}
	}
	/* span < 6 implies at most 5 outstanding ids, so a slot is free. */
	if (!m)
		return -ENOBUFS;

	if (dup_payload(data, len, &copy) < 0)
		return -ENOMEM;
	m->used = true;
	m->opcode = opcode;
	m->mid = r->next_send_mid++;
	m->len = (uint16_t)len;
	m->data = copy;
	m->next_tx_ms = 0;
	m->timeout_ms = r->initial_timeout_ms;
	m->higher_acks = 0;
	if (mid)
		*mid = m->mid;
	return 0;
}

void reliable_skip_send(struct reliable *r, uint32_t count)
{
	r->next_send_mid += count;
}

void reliable_on_ack(struct reliable *r, uint32_t mid)
{
	struct reliable_msg *acked = NULL;

	for (int i = 0; i < RELIABLE_SEND_WINDOW; i++) {
		if (r->send[i].used && r->send[i].mid == mid) {
			acked = &r->send[i];
			break;
		}
	}
	/* 2.6 repeats recent ACKs, so duplicates are normal; counting them toward fast retransmit (as 2.6
	 * itself does) would resend messages that were never lost. */
	if (!acked)
		return;
	msg_clear(acked);

	for (int i = 0; i < RELIABLE_SEND_WINDOW; i++) {
		struct reliable_msg *m = &r->send[i];

		if (!m->used || !mid_before(m->mid, mid))
			continue;
		if (++m->higher_acks >= RELIABLE_FAST_RETRANSMIT) {
			m->next_tx_ms = 0;
			m->higher_acks = 0;
		}
	}
}

static void queue_ack(struct reliable *r, uint32_t mid)
{
	/* When full, drop the oldest: its message will be retransmitted and ACKed again. */
	if (r->n_acks == RELIABLE_ACK_QUEUE) {
		memmove(r->acks, r->acks + 1, (RELIABLE_ACK_QUEUE - 1) * sizeof(r->acks[0]));
		r->n_acks--;
	}
	r->acks[r->n_acks++] = mid;
}

int reliable_on_message(struct reliable *r, uint8_t opcode, uint32_t mid, const uint8_t *data, size_t len)
{
	struct reliable_msg *slot = NULL;
	uint32_t off = mid - r->next_recv_mid;

	if (len > RELIABLE_MAX_PAYLOAD)
		return -EMSGSIZE;
	if (len > 0 && !data)
		return -EINVAL;
	if (mid_before(mid, r->next_recv_mid)) {
		/* Already delivered: our ACK was lost, so ACK again. */
		queue_ack(r, mid);
		return 1;
	}
	/* Beyond the window: 2.6 drops silently and does not ACK, so the peer retransmits later. */
	if (off >= RELIABLE_RECV_WINDOW)
		return -ENOSPC;

	for (int i = 0; i < RELIABLE_RECV_WINDOW; i++) {
		struct reliable_msg *m = &r->recv[i];

		if (m->used && m->mid == mid) {
			queue_ack(r, mid);
			return 1;
		}
		if (!m->used && !slot)
			slot = m;
	}
	/* Stored ids all lie in [next, next+12) and mid is one of them not yet stored, so a slot is free. */
	if (!slot)
		return -ENOSPC;

	if (r->popped > 0 && slot == &r->recv[r->popped - 1])
		r->popped = 0;
	msg_clear(slot);
	memset(slot, 0, sizeof(*slot));
	/* not ACKed when we cannot keep it: the peer sends it again */
	if (dup_payload(data, len, &slot->data) < 0)
		return -ENOMEM;
	slot->used = true;
	slot->opcode = opcode;
	slot->mid = mid;
	slot->len = (uint16_t)len;
	queue_ack(r, mid);
	return 0;
}

const struct reliable_msg *reliable_pop(struct reliable *r)
{
	release_popped(r);
	for (int i = 0; i < RELIABLE_RECV_WINDOW; i++) {
		struct reliable_msg *m = &r->recv[i];

		if (m->used && m->mid == r->next_recv_mid) {
			/* The slot is free for reuse, but its bytes stay intact until the next call, which is
			 * what the header promises the caller. */
			m->used = false;
			r->popped = (int8_t)(i + 1);
			r->next_recv_mid++;
			return m;
		}
	}
	return NULL;
}

struct reliable_msg *reliable_next_due(struct reliable *r, uint64_t now_ms)
{
	struct reliable_msg *due = NULL;

	/* Lowest id first: the peer can only deliver in order, so the oldest message unblocks the most. */
	for (int i = 0; i < RELIABLE_SEND_WINDOW; i++) {
		struct reliable_msg *m = &r->send[i];

		if (!m->used || m->next_tx_ms > now_ms)
			continue;
		if (!due || mid_before(m->mid, due->mid))
			due = m;
	}
	if (!due)
		return NULL;

	due->next_tx_ms = now_ms + due->timeout_ms;
	/* 2.6 doubles without a cap; capping keeps a long-lost peer from pushing retries out to hours
	 * while costing only one packet a minute. */
	due->timeout_ms = due->timeout_ms >= RELIABLE_MAX_TIMEOUT_MS / 2 ? RELIABLE_MAX_TIMEOUT_MS
									  : due->timeout_ms * 2;
	due->higher_acks = 0;
	return due;
}

uint64_t reliable_next_deadline(const struct reliable *r)
{
	uint64_t t = UINT64_MAX;

	for (int i = 0; i < RELIABLE_SEND_WINDOW; i++) {
		if (r->send[i].used && r->send[i].next_tx_ms < t)
			t = r->send[i].next_tx_ms;
	}
	return t;
}

void reliable_retransmit_all(struct reliable *r)
{
	/* As 2.6's reliable_schedule_now: the peer has just shown it is reachable, so also restart the
	 * backoff from the initial timeout. */
	for (int i = 0; i < RELIABLE_SEND_WINDOW; i++) {
		struct reliable_msg *m = &r->send[i];

		if (!m->used)
			continue;
		m->next_tx_ms = 0;
		m->timeout_ms = r->initial_timeout_ms;
		m->higher_acks = 0;
	}
}

bool reliable_all_acked(const struct reliable *r)
{
	for (int i = 0; i < RELIABLE_SEND_WINDOW; i++) {
		if (r->send[i].used)
			return false;
	}
	return true;
}

size_t reliable_take_acks(struct reliable *r, uint32_t *out, size_t max)
{
	size_t n = r->n_acks < max ? r->n_acks : max;

	if (n == 0)
		return 0;
	memcpy(out, r->acks, n * sizeof(r->acks[0]));
	memmove(r->acks, r->acks + n, (r->n_acks - n) * sizeof(r->acks[0]));
	r->n_acks -= n;
	return n;
}
