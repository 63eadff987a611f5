/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_TEST_UTIL_H
#define CVPN_TEST_UTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Decodes a hex string into out (at most cap bytes, asserting it fits); returns the number of bytes. */
static inline size_t unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;
	unsigned v;

	while (s[0] && s[1]) {
		ck_assert_int_lt(n, cap);
		ck_assert_int_eq(sscanf(s, "%2x", &v), 1);
		out[n++] = (uint8_t)v;
		s += 2;
	}
	return n;
}

#endif
