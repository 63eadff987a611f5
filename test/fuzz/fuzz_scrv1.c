// SPDX-License-Identifier: GPL-2.0-or-later
/* libFuzzer harness for ctrl/auth/scrv1.c: the static-challenge password field a client sends inside
 * key-method-2 (at most 255 bytes and a NUL there). Checks: a result is 0 (plain, buffers untouched), 1 (both
 * parts NUL-terminated inside their buffers, without an embedded NUL, and re-encoding them gives the input
 * back: the decoding is canonical) or -EINVAL (both buffers wiped); scrv1_base64_decode never writes past cap
 * (heap buffers of exactly cap bytes). */

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "cvpn/scrv1.h"

#include "fuzz.h"

#define FIELD_MAX 256

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t encode(const uint8_t *in, size_t len, char *out)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i += 3) {
		uint32_t w = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0) |
			     (i + 2 < len ? in[i + 2] : 0);

		out[n++] = b64[(w >> 18) & 63];
		out[n++] = b64[(w >> 12) & 63];
		out[n++] = i + 1 < len ? b64[(w >> 6) & 63] : '=';
		out[n++] = i + 2 < len ? b64[w & 63] : '=';
	}
	out[n] = '\0';
	return n;
}

static bool all_zero(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char field[FIELD_MAX], *pw, *code, again[FIELD_MAX * 2 + 16];
	size_t pw_cap, code_cap, n;
	int r;

	if (size < 2)
		return 0;
	/* the first two bytes pick the buffer sizes, so short buffers get exercised too */
	pw_cap = 1 + data[0] % 200;
	code_cap = 1 + data[1] % 40;
	data += 2;
	size -= 2;
	n = size < FIELD_MAX - 1 ? size : FIELD_MAX - 1;
	memcpy(field, data, n);
	field[n] = '\0';
	pw = malloc(pw_cap);
	code = malloc(code_cap);
	FUZZ_ASSERT(pw && code);
	memset(pw, 0x55, pw_cap);
	memset(code, 0x55, code_cap);

	r = scrv1_parse(field, pw, pw_cap, code, code_cap);
	FUZZ_ASSERT(r == 0 || r == 1 || r == -EINVAL);
	if (r == 0) {
		FUZZ_ASSERT(strncmp(field, "SCRV1:", 6) != 0);
		FUZZ_ASSERT((uint8_t)pw[0] == 0x55 && (uint8_t)code[0] == 0x55);
	} else if (r == 1) {
		size_t pl = strnlen(pw, pw_cap), cl = strnlen(code, code_cap), k;

		FUZZ_ASSERT(pl < pw_cap && cl < code_cap);
		k = (size_t)snprintf(again, sizeof(again), "SCRV1:");
		k += encode((const uint8_t *)pw, pl, again + k);
		again[k++] = ':';
		encode((const uint8_t *)code, cl, again + k);
		FUZZ_ASSERT(strcmp(again, field) == 0);
	} else {
		FUZZ_ASSERT(all_zero(pw, pw_cap) && all_zero(code, code_cap));
	}

	/* the decoder alone, on the raw input, into a buffer of exactly cap bytes */
	{
		size_t cap = pw_cap;
		uint8_t *out = malloc(cap);
		ssize_t d;

		FUZZ_ASSERT(out);
		d = scrv1_base64_decode((const char *)data, size, out, cap);
		FUZZ_ASSERT(d == -EINVAL || d == -ENOSPC || (d >= 0 && (size_t)d <= cap && (size_t)d <= size / 4 * 3));
		free(out);
	}
	free(pw);
	free(code);
	return 0;
}
