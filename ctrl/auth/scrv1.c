// SPDX-License-Identifier: GPL-2.0-or-later
/* The static-challenge password field. The client builds it (openvpn misc.c: "SCRV1:%s:%s" of two
 * openvpn_base64_encode()d strings, standard alphabet with padding); anything else is refused, so a crafted
 * field cannot smuggle a NUL or a third part into the password or the MFA code. */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "cvpn/scrv1.h"

#define SCRV1_PREFIX "SCRV1:"

static int b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

ssize_t scrv1_base64_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
	size_t n = 0;

	if (len % 4 != 0)
		return -EINVAL;
	for (size_t i = 0; i < len; i += 4) {
		int v[4], pad = 0;
		uint32_t w;

		for (int j = 0; j < 4; j++) {
			if (in[i + j] == '=') {
				/* padding only in the last quantum, only at its end, at most two */
				if (i + 4 != len || j < 2)
					return -EINVAL;
				pad++;
				v[j] = 0;
				continue;
			}
			if (pad)
				return -EINVAL;
			v[j] = b64_value(in[i + j]);
			if (v[j] < 0)
				return -EINVAL;
		}
		w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
		/* canonical encoding only: the bits the padding hides must be zero */
		if ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff)))
			return -EINVAL;
		if (n + (size_t)(3 - pad) > cap)
			return -ENOSPC;
		out[n++] = (uint8_t)(w >> 16);
		if (pad < 2)
			out[n++] = (uint8_t)(w >> 8);
		if (pad < 1)
			out[n++] = (uint8_t)w;
	}
	return (ssize_t)n;
}

/* Decodes in[0..len) into a NUL-terminated string of at most cap bytes with its terminator. */
static int decode_text(const char *in, size_t len, char *out, size_t cap)
{
	ssize_t n;

	if (cap == 0)
		return -EINVAL;
	n = scrv1_base64_decode(in, len, (uint8_t *)out, cap - 1);
	if (n < 0 || memchr(out, '\0', (size_t)n))
		return -EINVAL;
	out[n] = '\0';
	return 0;
}

int scrv1_parse(const char *field, char *password, size_t pw_cap, char *response, size_t resp_cap)
{
	const char *p, *colon;

	if (strncmp(field, SCRV1_PREFIX, strlen(SCRV1_PREFIX)) != 0)
		return 0;
	p = field + strlen(SCRV1_PREFIX);
	colon = strchr(p, ':');
	/* exactly two parts: base64 has no ':' of its own */
	if (!colon || strchr(colon + 1, ':'))
		goto bad;
	if (decode_text(p, (size_t)(colon - p), password, pw_cap) < 0 ||
	    decode_text(colon + 1, strlen(colon + 1), response, resp_cap) < 0)
		goto bad;
	return 1;
bad:
	if (pw_cap)
		explicit_bzero(password, pw_cap);
	if (resp_cap)
		explicit_bzero(response, resp_cap);
	return -EINVAL;
}
