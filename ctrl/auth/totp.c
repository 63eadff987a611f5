// SPDX-License-Identifier: GPL-2.0-or-later
/* RFC 4226 / RFC 6238 with libcrypto's HMAC-SHA-1. */
#include <ctype.h>
#include <errno.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "cvpn/totp.h"

ssize_t totp_base32_decode(const char *in, uint8_t *out, size_t cap)
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t n = 0;

	for (const char *p = in; *p; p++) {
		int c = toupper((unsigned char)*p), v;

		if (c == '=' || c == ' ' || c == '-')
			continue; /* padding and the grouping apps print */
		if (c >= 'A' && c <= 'Z')
			v = c - 'A';
		else if (c >= '2' && c <= '7')
			v = c - '2' + 26;
		else
			return -EINVAL;
		acc = (acc << 5) | (uint32_t)v;
		bits += 5;
		if (bits >= 8) {
			if (n >= cap)
				return -ENOSPC;
			out[n++] = (uint8_t)(acc >> (bits - 8));
			bits -= 8;
		}
	}
	return n ? (ssize_t)n : -EINVAL;
}

uint32_t totp_hotp(const uint8_t *key, size_t key_len, uint64_t counter, unsigned digits)
{
	uint8_t msg[8], mac[EVP_MAX_MD_SIZE];
	unsigned mac_len = 0, off;
	uint32_t bin, mod = 1;

	for (int i = 7; i >= 0; i--) {
		msg[i] = (uint8_t)counter;
		counter >>= 8;
	}
	if (!HMAC(EVP_sha1(), key, (int)key_len, msg, sizeof(msg), mac, &mac_len) || mac_len < 20)
		return UINT32_MAX; /* never a valid code: verify compares against digits only */
	/* dynamic truncation, RFC 4226 §5.3 */
	off = mac[mac_len - 1] & 0x0f;
	bin = (uint32_t)(mac[off] & 0x7f) << 24 | (uint32_t)mac[off + 1] << 16 | (uint32_t)mac[off + 2] << 8 |
	      (uint32_t)mac[off + 3];
	explicit_bzero(mac, sizeof(mac));
	if (digits < 1 || digits > 9)
		digits = TOTP_DIGITS;
	while (digits--)
		mod *= 10;
	return bin % mod;
}

uint32_t totp_code(const uint8_t *key, size_t key_len, time_t t, unsigned digits)
{
	return totp_hotp(key, key_len, (uint64_t)t / TOTP_STEP, digits);
}

int totp_verify(const uint8_t *key, size_t key_len, const char *code, time_t now, uint64_t *step)
{
	uint64_t cur = (uint64_t)now / TOTP_STEP;
	uint32_t given = 0;
	int found = -1;

	if (strlen(code) != TOTP_DIGITS)
		return -EACCES;
	for (int i = 0; i < TOTP_DIGITS; i++) {
		if (!isdigit((unsigned char)code[i]))
			return -EACCES;
		given = given * 10 + (uint32_t)(code[i] - '0');
	}
	/* every candidate is computed and compared, whichever matches */
	for (int d = -1; d <= 1; d++) {
		uint64_t s = cur + (uint64_t)(int64_t)d;
		uint32_t diff = totp_hotp(key, key_len, s, TOTP_DIGITS) ^ given;

		if (diff == 0 && found < 0)
			found = d + 1;
	}
	if (found < 0)
		return -EACCES;
	*step = cur + (uint64_t)(int64_t)(found - 1);
	return 0;
}
