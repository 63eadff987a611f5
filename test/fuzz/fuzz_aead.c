// SPDX-License-Identifier: GPL-2.0-or-later
/* libFuzzer harness for dataplane/aead.c and dataplane/replay.c. The input is a program over a fixed key
 * (one per cipher, set up once) with the clock advancing:
 *   seal     - a "client" key (the same key block with its halves swapped) seals a payload from the input;
 *   open     - the server opens one of those packets as sealed: plaintext must come back byte for byte, and
 *              only once (replay);
 *   tamper   - the server opens one of them with one byte changed or cut short: must fail;
 *   raw      - the server opens arbitrary bytes: must fail unless they are exactly a packet sealed here;
 *   replay   - replay_check/replay_update on a separate window, against a model of §6.2.
 * Whenever aead_open fails, its output buffer must hold no plaintext: every byte is still the fill pattern or
 * zero. */

#include <errno.h>
#include <string.h>

#include "cvpn/aead.h"

#include "fuzz.h"

#define MAX_SEALED 32
#define MAX_PT 1600
#define FILL 0xee

struct sealed {
	uint8_t pkt[MAX_PT + AEAD_OVERHEAD];
	size_t len;
	uint8_t pt[MAX_PT];
	size_t pt_len;
	uint32_t pid;
	bool opened;
};

static struct aead_key srv[3], cli[3];
static struct sealed sealed[MAX_SEALED];
static uint8_t outbuf[4096];

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const enum cvpn_cipher ciphers[3] = { CVPN_CIPHER_AES_256_GCM, CVPN_CIPHER_AES_128_GCM,
						     CVPN_CIPHER_CHACHA20_POLY1305 };
	uint8_t block[256], swapped[256];

	for (int i = 0; i < 256; i++)
		block[i] = (uint8_t)(i * 7 + 3);
	/* The client encrypts with what the server decrypts with (§5.1): swap the two 128-byte halves. */
	memcpy(swapped, block + 128, 128);
	memcpy(swapped + 128, block, 128);
	for (int i = 0; i < 3; i++) {
		FUZZ_ASSERT(aead_key_init(&srv[i], ciphers[i], 0, block) == 0);
		FUZZ_ASSERT(aead_key_init(&cli[i], ciphers[i], 0, swapped) == 0);
	}
	return 0;
}

static void assert_no_plaintext(size_t n)
{
	for (size_t i = 0; i < n; i++)
		FUZZ_ASSERT(outbuf[i] == FILL || outbuf[i] == 0);
}

static ssize_t open_copy(struct aead_key *k, const uint8_t *pkt, size_t len, size_t cap, uint64_t now)
{
	/* A heap copy of the exact length so ASan catches any read past it. */
	uint8_t *copy = malloc(len ? len : 1);
	ssize_t ret;

	FUZZ_ASSERT(copy);
	memcpy(copy, pkt, len);
	memset(outbuf, FILL, sizeof(outbuf));
	ret = aead_open(k, copy, len, outbuf, cap, now);
	free(copy);
	if (ret < 0) {
		FUZZ_ASSERT(ret == -EBADMSG || ret == -EALREADY || ret == -ENOSPC);
		assert_no_plaintext(sizeof(outbuf));
	} else {
		FUZZ_ASSERT((size_t)ret <= cap && len >= AEAD_V2_HEADER - 3 + AEAD_TAG_LEN);
	}
	return ret;
}

struct replay_model {
	struct replay_window rw;
	uint32_t seen[4096];
	size_t n_seen;
	uint32_t highest;
	uint64_t highest_time;
};

static bool model_seen(const struct replay_model *m, uint32_t id)
{
	for (size_t i = 0; i < m->n_seen; i++)
		if (m->seen[i] == id)
			return true;
	return false;
}

static void replay_step(struct replay_model *m, struct fuzz_in *in, uint64_t now)
{
	uint8_t how = fuzz_u8(in);
	uint32_t id;
	bool ok;

	if (how & 0x80)
		id = fuzz_u32(in);
	else /* near the window's edge: -320 .. +191 around highest */
		id = m->highest + (uint32_t)((int32_t)(how & 0x7f) * 4 - 320 + (fuzz_u8(in) & 3));
	ok = replay_check(&m->rw, id, now);
	if (id == 0 || model_seen(m, id))
		FUZZ_ASSERT(!ok);
	else if (id > m->highest)
		FUZZ_ASSERT(ok);
	else if (m->highest - id >= REPLAY_WINDOW_BITS)
		FUZZ_ASSERT(!ok);
	else if (now > m->highest_time && now - m->highest_time > REPLAY_BACKTRACK_SEC)
		FUZZ_ASSERT(!ok);
	else
		FUZZ_ASSERT(ok);
	if (!ok || !(how & 0x40))
		return;
	replay_update(&m->rw, id, now);
	FUZZ_ASSERT(!replay_check(&m->rw, id, now));
	if (m->n_seen < sizeof(m->seen) / sizeof(m->seen[0]))
		m->seen[m->n_seen++] = id;
	if (id > m->highest) {
		m->highest = id;
		m->highest_time = now;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct replay_model model;
	struct fuzz_in in = { data, size };
	struct aead_key *s, *c;
	size_t n_sealed = 0;
	uint32_t max_opened = 0;
	uint64_t now = 1000;
	unsigned steps = 0;
	uint8_t hdr;

	hdr = fuzz_u8(&in);
	s = &srv[hdr % 3];
	c = &cli[hdr % 3];
	/* The keys live across inputs; only their per-session state restarts. */
	replay_init(&s->replay);
	c->send_packet_id = 0;
	s->key_id = c->key_id = (hdr >> 2) & 7;
	memset(&model, 0, sizeof(model));
	replay_init(&model.rw);

	while (in.left && steps++ < 512) {
		uint8_t op = fuzz_u8(&in);

		now += op >> 5; /* 0..7 s per step */
		switch (op % 5) {
		case 0: { /* seal */
			struct sealed *e;
			size_t len = fuzz_u16(&in) % MAX_PT, got;
			const uint8_t *p = fuzz_bytes(&in, len, &got);
			uint32_t peer_id = fuzz_u16(&in);
			ssize_t n;

			if (n_sealed == MAX_SEALED)
				break;
			e = &sealed[n_sealed];
			memcpy(e->pt, p, got);
			memset(e->pt + got, 0x42, len - got);
			e->pt_len = len;
			n = aead_seal(c, peer_id, e->pt, len, e->pkt, sizeof(e->pkt));
			FUZZ_ASSERT(n == (ssize_t)(len + AEAD_OVERHEAD));
			e->len = (size_t)n;
			e->pid = c->send_packet_id;
			e->opened = false;
			n_sealed++;
			break;
		}
		case 1: { /* open as sealed */
			struct sealed *e;
			ssize_t n;

			if (!n_sealed)
				break;
			e = &sealed[fuzz_u8(&in) % n_sealed];
			n = open_copy(s, e->pkt, e->len, sizeof(outbuf), now);
			if (n >= 0) {
				FUZZ_ASSERT(!e->opened);
				FUZZ_ASSERT((size_t)n == e->pt_len && memcmp(outbuf, e->pt, e->pt_len) == 0);
				e->opened = true;
				if (e->pid > max_opened)
					max_opened = e->pid;
			} else {
				/* a fresh id above everything opened is always accepted */
				FUZZ_ASSERT(n == -EALREADY);
				FUZZ_ASSERT(e->opened || e->pid <= max_opened);
			}
			break;
		}
		case 2: { /* tamper: flip one byte, or cut it short */
			static uint8_t pkt[MAX_PT + AEAD_OVERHEAD];
			struct sealed *e;
			size_t pos, len;
			uint8_t x;

			if (!n_sealed)
				break;
			e = &sealed[fuzz_u8(&in) % n_sealed];
			pos = fuzz_u16(&in) % e->len;
			x = fuzz_u8(&in);
			memcpy(pkt, e->pkt, e->len);
			len = e->len;
			if (x)
				pkt[pos] ^= x;
			else
				len = pos;
			FUZZ_ASSERT(open_copy(s, pkt, len, sizeof(outbuf), now) < 0);
			break;
		}
		case 3: { /* raw bytes */
			size_t len = fuzz_u16(&in) % 2048, got, cap = fuzz_u8(&in) & 1 ? fuzz_u16(&in) % 2048
										 : sizeof(outbuf);
			const uint8_t *p = fuzz_bytes(&in, len, &got);
			ssize_t n = open_copy(s, p, got, cap, now);

			if (n >= 0) {
				bool ours = false;

				for (size_t i = 0; i < n_sealed && !ours; i++) {
					struct sealed *e = &sealed[i];

					if (e->len != got || memcmp(e->pkt, p, got) != 0)
						continue;
					ours = true;
					FUZZ_ASSERT(!e->opened);
					e->opened = true;
					if (e->pid > max_opened)
						max_opened = e->pid;
				}
				FUZZ_ASSERT(ours);
			}
			break;
		}
		case 4:
			replay_step(&model, &in, now);
			break;
		}
	}
	return 0;
}
