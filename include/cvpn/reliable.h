/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_RELIABLE_H
#define CVPN_RELIABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The control channel's reliability layer for one key state (openvpn-protocol.md §1.6): a send window of
 * 6 messages, a receive window of 12, ACKs, retransmission on a timer that starts at 2 s and doubles
 * (capped at 60 s so a long-lost peer costs nothing), fast retransmit after 3 ACKs for later ids, strictly
 * in-order delivery. Pure: no I/O and no clock; the caller passes now in milliseconds. */

#define RELIABLE_SEND_WINDOW 6
#define RELIABLE_RECV_WINDOW 12
#define RELIABLE_MAX_PAYLOAD 1200  /* keeps a control packet within 1250 bytes at IP level */
#define RELIABLE_ACK_QUEUE 32

/* Ordered widest first: 32 bytes instead of 40, times 18 slots, times two key states per session. */
struct reliable_msg {
	uint8_t *data;        /* owned, allocated only while the message is in flight (NULL when len is 0):
			       * an idle session's windows cost their headers, not 18 x 1200 bytes */
	uint64_t next_tx_ms;  /* send side only: when it is due (0 = now) */
	uint32_t mid;
	uint32_t timeout_ms;  /* send side only: current retransmit interval */
	uint16_t len;
	bool used;
	uint8_t opcode;
	uint8_t higher_acks;  /* send side only: ACKs seen for later ids since last sent (fast retransmit) */
};

struct reliable {
	uint32_t next_send_mid;       /* id the next queued message gets */
	uint32_t next_recv_mid;       /* next id to deliver in order */
	uint32_t initial_timeout_ms;
	struct reliable_msg send[RELIABLE_SEND_WINDOW];
	struct reliable_msg recv[RELIABLE_RECV_WINDOW];
	int8_t popped;                /* recv slot reliable_pop returned last (+1; 0 = none): its buffer lives
				       * until the next call. An index, not a pointer: key states are copied. */
	uint32_t acks[RELIABLE_ACK_QUEUE]; /* ids we still have to acknowledge, oldest first */
	uint8_t n_acks;
};

void reliable_init(struct reliable *r, uint32_t first_send_mid, uint32_t first_recv_mid,
		   uint32_t initial_timeout_ms);

/* Frees every buffer the layer holds; the struct itself belongs to the caller. Safe after reliable_init
 * and repeatedly. */
void reliable_free(struct reliable *r);

/* True when a new message may be queued (fewer than RELIABLE_SEND_WINDOW unacknowledged and the new id
 * within the window of the lowest unacknowledged one). */
bool reliable_can_queue(const struct reliable *r);
/* Queues a message for sending now; assigns the next message id (returned through *mid if not NULL).
 * Returns 0, -ENOBUFS when the window is full, -EMSGSIZE when len > RELIABLE_MAX_PAYLOAD, -ENOMEM. */
int reliable_queue(struct reliable *r, uint8_t opcode, const uint8_t *data, size_t len, uint32_t *mid);
/* Marks our own message as already sent and acknowledged, used by the stateless cookie path where the
 * server's reset (mid 0) was sent without state: simply advances next_send_mid. */
void reliable_skip_send(struct reliable *r, uint32_t count);

/* Handles one ACK from the peer: frees the message and counts fast-retransmit hints. */
void reliable_on_ack(struct reliable *r, uint32_t mid);
/* Handles an incoming reliable message. Returns 0 when stored (ACK queued), 1 for a duplicate or an old
 * id (ACK queued again, not stored), -ENOSPC when beyond the receive window (dropped, not ACKed),
 * -EMSGSIZE when too large. */
int reliable_on_message(struct reliable *r, uint8_t opcode, uint32_t mid, const uint8_t *data, size_t len);
/* Pops the next in-order message; returns NULL when the next id has not arrived. The pointer is valid
 * until the next call into this reliable. */
const struct reliable_msg *reliable_pop(struct reliable *r);

/* Returns the next message due for (re)transmission at now_ms and re-arms its timer (doubling the
 * interval), or NULL. Call repeatedly until NULL. */
struct reliable_msg *reliable_next_due(struct reliable *r, uint64_t now_ms);
/* Earliest time a message becomes due, or UINT64_MAX when nothing is outstanding. */
uint64_t reliable_next_deadline(const struct reliable *r);
/* Makes every outstanding message due now (2.6 does this when the peer's first packet arrives). */
void reliable_retransmit_all(struct reliable *r);
/* True when no sent message is waiting for an ACK. */
bool reliable_all_acked(const struct reliable *r);

/* Takes up to max pending ACK ids (oldest first) into out; returns how many. */
size_t reliable_take_acks(struct reliable *r, uint32_t *out, size_t max);
static inline bool reliable_has_acks(const struct reliable *r) { return r->n_acks > 0; }

#endif
