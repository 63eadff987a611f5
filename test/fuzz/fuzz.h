/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_FUZZ_H
#define CVPN_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Shared by the libFuzzer harnesses: an assertion that survives -DNDEBUG and tells libFuzzer it found
 * something (abort → "deadly signal", input saved as crash-*), and a reader that decodes operations from the
 * input and yields zeros once it runs dry, so every input is a valid program. */

#define FUZZ_ASSERT(cond)                                                                              \
	do {                                                                                           \
		if (!(cond)) {                                                                         \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);  \
			abort();                                                                       \
		}                                                                                      \
	} while (0)

struct fuzz_in {
	const uint8_t *p;
	size_t left;
};

static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
	uint8_t v = 0;

	if (in->left) {
		v = *in->p++;
		in->left--;
	}
	return v;
}

static inline uint16_t fuzz_u16(struct fuzz_in *in)
{
	uint8_t hi = fuzz_u8(in); /* two statements: the order of operands in one expression is unspecified */

	return (uint16_t)(hi << 8 | fuzz_u8(in));
}

static inline uint32_t fuzz_u32(struct fuzz_in *in)
{
	uint16_t hi = fuzz_u16(in);

	return (uint32_t)hi << 16 | fuzz_u16(in);
}

/* Borrows up to n bytes of the input; *got says how many there were. */
static inline const uint8_t *fuzz_bytes(struct fuzz_in *in, size_t n, size_t *got)
{
	const uint8_t *p = in->p;

	if (n > in->left)
		n = in->left;
	in->p += n;
	in->left -= n;
	*got = n;
	return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
