// SPDX-License-Identifier: GPL-2.0-or-later
/* libFuzzer harness for ctrl/proto/reliable.c: the input is a program of operations (queue, ACK, incoming
 * message, pop, next_due with an advancing clock, take_acks, retransmit_all, skip_send) run against one
 * struct reliable and a small model of what the header promises. After every step the harness checks:
 *   - delivery is in order, each id exactly once, with the bytes that arrived for it;
 *   - reliable_on_message's return matches the window rules (old → 1, beyond 12 → -ENOSPC, ...);
 *   - the send window never holds more than 6 messages nor spans more than 6 ids, the receive window only
 *     ids in [next, next + 12), the ACK queue at most 32 entries, each of an id we were sent;
 *   - next_due only returns outstanding messages that are due, re-arms them into the future, and the
 *     retransmit interval stays within [initial, 60 s].
 * Message ids start anywhere (taken from the input) so the 2^32 wrap is exercised. */

#include <errno.h>
#include <string.h>

#include "cvpn/reliable.h"

#include "fuzz.h"

#define MAX_TIMEOUT_MS 60000u

/* FNV-1a, to remember what was sent for an id without keeping the bytes. */
static uint32_t hash(uint8_t opcode, const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u ^ opcode;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h ^ (uint32_t)n;
}

struct model {
	/* receive side: what arrived for each id in the window, in a ring indexed by slot() */
	bool have[RELIABLE_RECV_WINDOW];
	uint32_t have_hash[RELIABLE_RECV_WINDOW];
	uint32_t recv_base;          /* mirrors r->next_recv_mid */
	uint32_t first_recv;         /* ids before this were never sent to us */
	uint64_t delivered;          /* count, to bound ids seen as "old" */
	uint32_t next_send;          /* mirrors r->next_send_mid */
	uint64_t now;
};

/* Relative to the first id, so that the ring stays consistent across the 2^32 wrap (2^32 % 12 != 0). */
static uint32_t slot(const struct model *m, uint32_t mid)
{
	return (mid - m->first_recv) % RELIABLE_RECV_WINDOW;
}

static const struct reliable_msg *find_send(const struct reliable *r, uint32_t mid)
{
	for (int i = 0; i < RELIABLE_SEND_WINDOW; i++)
		if (r->send[i].used && r->send[i].mid == mid)
			return &r->send[i];
	return NULL;
}

static void check_invariants(const struct reliable *r, const struct model *m)
{
	unsigned used = 0;

	FUZZ_ASSERT(r->next_recv_mid == m->recv_base);
	FUZZ_ASSERT(r->next_send_mid == m->next_send);
	FUZZ_ASSERT(r->n_acks <= RELIABLE_ACK_QUEUE);
	for (int i = 0; i < RELIABLE_SEND_WINDOW; i++) {
		const struct reliable_msg *s = &r->send[i];

		if (!s->used)
			continue;
		used++;
		/* outstanding ids lie in the 6 ids before next_send_mid */
		FUZZ_ASSERT(r->next_send_mid - s->mid - 1 < RELIABLE_SEND_WINDOW);
		FUZZ_ASSERT(s->len <= RELIABLE_MAX_PAYLOAD);
		FUZZ_ASSERT(s->timeout_ms >= r->initial_timeout_ms && s->timeout_ms <= MAX_TIMEOUT_MS);
		for (int j = i + 1; j < RELIABLE_SEND_WINDOW; j++)
			FUZZ_ASSERT(!r->send[j].used || r->send[j].mid != s->mid);
	}
	FUZZ_ASSERT(used <= RELIABLE_SEND_WINDOW);
	FUZZ_ASSERT(reliable_all_acked(r) == (used == 0));
	if (used == 0)
		FUZZ_ASSERT(reliable_next_deadline(r) == UINT64_MAX);

	for (int i = 0; i < RELIABLE_RECV_WINDOW; i++) {
		const struct reliable_msg *s = &r->recv[i];
		uint32_t off;

		if (!s->used)
			continue;
		off = s->mid - r->next_recv_mid;
		FUZZ_ASSERT(off < RELIABLE_RECV_WINDOW);
		FUZZ_ASSERT(m->have[slot(m, s->mid)]);
		for (int j = i + 1; j < RELIABLE_RECV_WINDOW; j++)
			FUZZ_ASSERT(!r->recv[j].used || r->recv[j].mid != s->mid);
	}
	for (unsigned i = 0; i < r->n_acks; i++) {
		/* we only ever ACK ids the peer sent: from first_recv up to the window's end */
		FUZZ_ASSERT(r->acks[i] - m->first_recv < (uint32_t)(r->next_recv_mid - m->first_recv) +
								 RELIABLE_RECV_WINDOW);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct reliable r;
	static uint8_t buf[RELIABLE_MAX_PAYLOAD + 64];
	struct fuzz_in in = { data, size };
	struct model m;
	uint32_t first_send, first_recv, timeout, out_acks[RELIABLE_ACK_QUEUE + 4];
	unsigned steps = 0;

	memset(&m, 0, sizeof(m));
	first_send = fuzz_u32(&in);
	first_recv = fuzz_u32(&in);
	timeout = fuzz_u16(&in) * 4u; /* 0 (default) .. 262 s (capped) */
	reliable_init(&r, first_send, first_recv, timeout);
	FUZZ_ASSERT(r.initial_timeout_ms > 0 && r.initial_timeout_ms <= MAX_TIMEOUT_MS);
	m.recv_base = m.first_recv = first_recv;
	m.next_send = first_send;
	check_invariants(&r, &m);

	while (in.left && steps++ < 4096) {
		uint8_t op = fuzz_u8(&in);

		switch (op % 8) {
		case 0: { /* queue */
			size_t len = fuzz_u16(&in) % (RELIABLE_MAX_PAYLOAD + 8), got;
			const uint8_t *p = fuzz_bytes(&in, len, &got);
			bool could = reliable_can_queue(&r);
			uint32_t mid = 0;
			int ret;

			memcpy(buf, p, got);
			memset(buf + got, 0xa5, len - got);
			ret = reliable_queue(&r, op >> 4, buf, len, &mid);
			if (len > RELIABLE_MAX_PAYLOAD) {
				FUZZ_ASSERT(ret == -EMSGSIZE);
				break;
			}
			if (!could) {
				FUZZ_ASSERT(ret == -ENOBUFS);
				break;
			}
			FUZZ_ASSERT(ret == 0 && mid == m.next_send);
			m.next_send++;
			const struct reliable_msg *s = find_send(&r, mid);

			FUZZ_ASSERT(s && s->len == len && (len == 0 || memcmp(s->data, buf, len) == 0) && s->next_tx_ms == 0);
			break;
		}
		case 1: { /* ACK: of an outstanding id, or of any id at all */
			uint8_t how = fuzz_u8(&in);
			uint32_t mid = how & 0x80 ? fuzz_u32(&in) : m.next_send - 1 - how % 8;

			reliable_on_ack(&r, mid);
			FUZZ_ASSERT(!find_send(&r, mid));
			break;
		}
		case 2: { /* incoming message, near the window or anywhere */
			uint8_t how = fuzz_u8(&in);
			uint32_t mid = how & 0x80 ? fuzz_u32(&in) : m.recv_base + (uint32_t)((int32_t)(how & 0x3f) - 16);
			size_t len = fuzz_u16(&in) % (RELIABLE_MAX_PAYLOAD + 8), got;
			const uint8_t *p = fuzz_bytes(&in, len, &got);
			uint32_t off = mid - m.recv_base;
			uint8_t n_acks = r.n_acks;
			int ret;

			/* an id "before" next_recv_mid is old only if the peer could have sent it */
			if ((int32_t)(mid - m.recv_base) < 0 && m.recv_base - mid > m.delivered)
				break;
			memcpy(buf, p, got);
			memset(buf + got, 0x5a, len - got);
			ret = reliable_on_message(&r, op >> 4, mid, buf, len);
			if (len > RELIABLE_MAX_PAYLOAD) {
				FUZZ_ASSERT(ret == -EMSGSIZE && r.n_acks == n_acks);
			} else if ((int32_t)(mid - m.recv_base) < 0) {
				FUZZ_ASSERT(ret == 1);
				FUZZ_ASSERT(r.n_acks && r.acks[r.n_acks - 1] == mid);
			} else if (off >= RELIABLE_RECV_WINDOW) {
				FUZZ_ASSERT(ret == -ENOSPC && r.n_acks == n_acks);
			} else if (m.have[slot(&m, mid)]) {
				FUZZ_ASSERT(ret == 1);
				FUZZ_ASSERT(r.n_acks && r.acks[r.n_acks - 1] == mid);
			} else {
				FUZZ_ASSERT(ret == 0);
				FUZZ_ASSERT(r.n_acks && r.acks[r.n_acks - 1] == mid);
				m.have[slot(&m, mid)] = true;
				m.have_hash[slot(&m, mid)] = hash(op >> 4, buf, len);
			}
			break;
		}
		case 3: { /* pop everything that is in order */
			const struct reliable_msg *s;

			while ((s = reliable_pop(&r))) {
				uint32_t sl = slot(&m, m.recv_base);

				/* in order, exactly once, with its own bytes */
				FUZZ_ASSERT(m.have[sl] && s->mid == m.recv_base);
				FUZZ_ASSERT(hash(s->opcode, s->data, s->len) == m.have_hash[sl]);
				m.have[sl] = false;
				m.recv_base++;
				m.delivered++;
			}
			FUZZ_ASSERT(!m.have[slot(&m, m.recv_base)]);
			break;
		}
		case 4: { /* the clock advances, then everything due goes out */
			struct reliable_msg *s;
			unsigned n = 0;

			m.now += (uint64_t)fuzz_u16(&in) * (op & 0x80 ? 64 : 1);
			while ((s = reliable_next_due(&r, m.now))) {
				FUZZ_ASSERT(s->used && s->next_tx_ms > m.now);
				FUZZ_ASSERT(s->timeout_ms <= MAX_TIMEOUT_MS);
				FUZZ_ASSERT(++n <= RELIABLE_SEND_WINDOW);
			}
			FUZZ_ASSERT(reliable_next_deadline(&r) > m.now);
			break;
		}
		case 5: { /* ACKs leave oldest first */
			size_t max = fuzz_u8(&in) % (RELIABLE_ACK_QUEUE + 4);
			uint8_t before = r.n_acks;
			uint32_t expect[RELIABLE_ACK_QUEUE];
			size_t n;

			memcpy(expect, r.acks, sizeof(expect));
			n = reliable_take_acks(&r, out_acks, max);
			FUZZ_ASSERT(n == (before < max ? before : max) && r.n_acks == before - n);
			FUZZ_ASSERT(memcmp(out_acks, expect, n * sizeof(expect[0])) == 0);
			break;
		}
		case 6:
			reliable_retransmit_all(&r);
			FUZZ_ASSERT(reliable_all_acked(&r) ? reliable_next_deadline(&r) == UINT64_MAX
							   : reliable_next_deadline(&r) == 0);
			break;
		case 7: /* the cookie path skips our own reset; only legal before anything was queued */
			if (reliable_all_acked(&r)) {
				uint32_t c = fuzz_u8(&in) % 4;

				reliable_skip_send(&r, c);
				m.next_send += c;
			}
			break;
		}
		check_invariants(&r, &m);
	}
	reliable_free(&r);
	return 0;
}
