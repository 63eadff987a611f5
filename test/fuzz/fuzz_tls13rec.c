// SPDX-License-Identifier: GPL-2.0-or-later
/* libFuzzer harness for ctrl/proto/tls13rec.c, the record layer a control channel uses once it left wolfSSL.
 * The first byte picks the suite; the rest is a program over two ends that share one direction's key:
 *   seal    - the sender seals content from the input as an alert, handshake or application-data record;
 *   open    - the receiver opens the oldest record not yet opened: content and type come back byte for byte;
 *   tamper  - the receiver opens that record with one byte changed: must fail, with the sequence number and
 *             the output buffer's contents (no plaintext) untouched;
 *   early   - the receiver opens the second-oldest first: the sequence number does not match, must fail;
 *   raw     - the receiver opens bytes from the input: must fail unless they are exactly the next record. */
#include <errno.h>
#include <string.h>

#include "cvpn/tls13rec.h"

#include "fuzz.h"

#define QUEUE 8
#define MAX_CONTENT 2048
#define FILL 0xee

struct sealed {
	uint8_t rec[TLS13_SEALED_LEN(MAX_CONTENT)];
	size_t len;
	uint8_t content[MAX_CONTENT];
	size_t content_len;
	uint8_t type;
};

static struct sealed queue[QUEUE];
static uint8_t out[TLS13_MAX_CIPHERTEXT];

static void assert_no_plaintext(size_t n)
{
	for (size_t i = 0; i < n; i++)
		FUZZ_ASSERT(out[i] == FILL || out[i] == 0);
}

/* Opens rec expecting failure: rx.seq and the output stay as they were. */
static void open_must_fail(struct tls13_rec *rx, const uint8_t *rec, size_t len)
{
	uint64_t seq = rx->rx.seq;
	uint8_t type = 0;

	/* tls13_open writes at most len bytes (the record's ciphertext): only those need the pattern */
	memset(out, FILL, len);
	FUZZ_ASSERT(tls13_open(rx, rec, len, out, sizeof(out), &type) < 0);
	FUZZ_ASSERT(rx->rx.seq == seq);
	assert_no_plaintext(len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t types[3] = { TLS13_CT_ALERT, TLS13_CT_HANDSHAKE, TLS13_CT_APPLICATION_DATA };
	struct fuzz_in in = { data, size };
	struct tls13_rec tx, rx;
	size_t head = 0, tail = 0, got;
	uint8_t type;

	memset(&tx, 0, sizeof(tx));
	tx.aead = (enum tls13_aead)(fuzz_u8(&in) % 3);
	for (size_t i = 0; i < sizeof(tx.tx.key); i++)
		tx.tx.key[i] = (uint8_t)(i * 13 + 5);
	for (size_t i = 0; i < sizeof(tx.tx.iv); i++)
		tx.tx.iv[i] = (uint8_t)(i * 29 + 1);
	tx.tx.seq = fuzz_u8(&in) == 0xff ? 0xfffffffffffffff0ULL : 0;
	rx = tx;
	rx.rx = tx.tx;
	while (in.left > 0) {
		uint8_t op = fuzz_u8(&in);
		struct sealed *q = &queue[head % QUEUE];

		switch (op % 5) {
		case 0: { /* seal */
			struct sealed *s = &queue[tail % QUEUE];
			const uint8_t *p = fuzz_bytes(&in, fuzz_u16(&in) % (MAX_CONTENT + 1), &got);
			ssize_t n;

			if (tail - head == QUEUE)
				break;
			memcpy(s->content, p, got);
			s->content_len = got;
			s->type = types[(op >> 3) % 3];
			n = tls13_seal(&tx, s->type, s->content, got, s->rec, sizeof(s->rec));
			if (n == -EOVERFLOW) {
				FUZZ_ASSERT(tx.tx.seq == UINT64_MAX);
				break;
			}
			FUZZ_ASSERT(n == (ssize_t)TLS13_SEALED_LEN(got));
			FUZZ_ASSERT(tls13_record_len(s->rec, (size_t)n) == n);
			s->len = (size_t)n;
			tail++;
			break;
		}
		case 1: { /* open in order */
			ssize_t n;

			if (head == tail)
				break;
			n = tls13_open(&rx, q->rec, q->len, out, sizeof(out), &type);
			FUZZ_ASSERT(n == (ssize_t)q->content_len);
			FUZZ_ASSERT(type == q->type);
			FUZZ_ASSERT(memcmp(out, q->content, q->content_len) == 0);
			head++;
			break;
		}
		case 2: { /* tamper */
			uint16_t pos = fuzz_u16(&in);
			uint8_t x = fuzz_u8(&in);
			size_t cut = op >> 7 ? 1 : 0;

			if (head == tail)
				break;
			pos = (uint16_t)(pos % q->len);
			if (x == 0)
				x = 1;
			q->rec[pos] ^= x;
			open_must_fail(&rx, q->rec, q->len - cut);
			q->rec[pos] ^= x;
			if (cut)
				open_must_fail(&rx, q->rec, q->len - cut);
			break;
		}
		case 3: /* the second-oldest before the oldest */
			if (tail - head >= 2)
				open_must_fail(&rx, queue[(head + 1) % QUEUE].rec, queue[(head + 1) % QUEUE].len);
			break;
		case 4: { /* raw bytes */
			const uint8_t *p = fuzz_bytes(&in, fuzz_u16(&in) % (TLS13_MAX_CIPHERTEXT + 64), &got);
			ssize_t want = tls13_record_len(p, got);
			uint64_t seq = rx.rx.seq;
			ssize_t n;

			FUZZ_ASSERT(want <= (ssize_t)(TLS13_HEADER_LEN + TLS13_MAX_CIPHERTEXT));
			memset(out, FILL, got < sizeof(out) ? got : sizeof(out));
			n = tls13_open(&rx, p, got, out, sizeof(out), &type);
			if (n >= 0) {
				/* only the real next record authenticates */
				FUZZ_ASSERT(head != tail && got == q->len && memcmp(p, q->rec, got) == 0);
				head++;
			} else {
				FUZZ_ASSERT(rx.rx.seq == seq);
				assert_no_plaintext(got < sizeof(out) ? got : sizeof(out));
			}
			break;
		}
		}
	}
	return 0;
}
