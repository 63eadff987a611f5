// SPDX-License-Identifier: GPL-2.0-or-later
/* libFuzzer harness for ctrl/proto/ctrlmsg.c: the plaintext of one TLS record a client sends after
 * key-method 2. The input is that record, in a heap buffer of exactly its length (no NUL after it), walked
 * with ctrlmsg_next. Checks per message: the offset strictly increases and stays within len; the text lies
 * inside [old offset, new offset), is not empty, holds no NUL and does not end in CR or LF; what was skipped
 * before it is only NUL/CR/LF (empty messages), what follows it up to the new offset is CR/LF and at most
 * one NUL, at the end; the kind is PUSH_REQUEST / EXIT exactly when the text is that word. At the end the
 * offset is len. And the messages, in order, are those of the loop session.c had before ctrlmsg existed
 * (strlen over a NUL-terminated copy, CR/LF stripped, empty ones skipped, strcmp for the kind). */

#include <stdbool.h>
#include <string.h>

#include "cvpn/ctrlmsg.h"

#include "fuzz.h"

static bool only(const uint8_t *p, size_t n, const char *set)
{
	for (size_t i = 0; i < n; i++)
		if (!memchr(set, p[i], strlen(set) + 1)) /* + 1: the set's NUL is a member too */
			return false;
	return true;
}

/* The pre-ctrlmsg loop of session.c, on a copy with a spare NUL: the reference. */
struct ref_msg {
	const char *text;
	size_t len;
	enum ctrlmsg_kind kind;
};

static size_t reference(char *copy, size_t n, struct ref_msg *out)
{
	size_t k = 0;

	copy[n] = '\0';
	for (char *msg = copy; msg < copy + n; msg += strlen(msg) + 1) {
		size_t l = strlen(msg);

		while (l > 0 && (msg[l - 1] == '\n' || msg[l - 1] == '\r'))
			msg[--l] = '\0';
		if (!l)
			continue;
		out[k].text = msg;
		out[k].len = l;
		out[k].kind = !strcmp(msg, "PUSH_REQUEST") ? CTRLMSG_PUSH_REQUEST
			      : !strcmp(msg, "EXIT")       ? CTRLMSG_EXIT
							   : CTRLMSG_OTHER;
		k++;
	}
	return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ref_msg *ref = malloc((size / 2 + 1) * sizeof(*ref));
	char *copy = malloc(size + 1);
	size_t off = 0, prev, n_ref, k = 0;
	struct ctrlmsg m;

	FUZZ_ASSERT(ref && copy);
	memcpy(copy, data, size);
	n_ref = reference(copy, size, ref);

	for (;;) {
		const uint8_t *t;

		prev = off;
		memset(&m, 0x5a, sizeof(m));
		if (ctrlmsg_next(data, size, &off, &m) != 1)
			break;
		t = (const uint8_t *)m.text;
		FUZZ_ASSERT(off > prev && off <= size);
		FUZZ_ASSERT(t >= data + prev && m.len > 0 && t + m.len <= data + off);
		FUZZ_ASSERT(t == data || t[-1] == '\0');
		FUZZ_ASSERT(!memchr(t, '\0', m.len));
		FUZZ_ASSERT(t[m.len - 1] != '\r' && t[m.len - 1] != '\n');
		FUZZ_ASSERT(only(data + prev, (size_t)(t - (data + prev)), "\r\n"));
		/* the tail: CR/LF, then the message's NUL unless the record ended first */
		{
			const uint8_t *tail = t + m.len, *end = data + off;

			if (end > tail && end[-1] == '\0')
				end--;
			FUZZ_ASSERT(only(tail, (size_t)(end - tail), "\r\n") && !memchr(tail, '\0', (size_t)(end - tail)));
			FUZZ_ASSERT(off == size || data[off - 1] == '\0');
		}
		switch (m.kind) {
		case CTRLMSG_PUSH_REQUEST: FUZZ_ASSERT(m.len == 12 && !memcmp(t, "PUSH_REQUEST", 12)); break;
		case CTRLMSG_EXIT: FUZZ_ASSERT(m.len == 4 && !memcmp(t, "EXIT", 4)); break;
		case CTRLMSG_OTHER:
			FUZZ_ASSERT(!(m.len == 12 && !memcmp(t, "PUSH_REQUEST", 12)) &&
				    !(m.len == 4 && !memcmp(t, "EXIT", 4)));
			break;
		default: FUZZ_ASSERT(0);
		}
		/* same message as the old loop, at the same place */
		FUZZ_ASSERT(k < n_ref);
		FUZZ_ASSERT(ref[k].text - copy == m.text - (const char *)data && ref[k].len == m.len &&
			    ref[k].kind == m.kind);
		k++;
	}
	FUZZ_ASSERT(off == size && k == n_ref);
	FUZZ_ASSERT(only(data + prev, size - prev, "\r\n"));
	/* an offset past the end is the end, and is pulled back to it */
	off = size + 1 + (size & 7);
	FUZZ_ASSERT(ctrlmsg_next(data, size, &off, &m) == 0 && off == size);
	free(copy);
	free(ref);
	return 0;
}
