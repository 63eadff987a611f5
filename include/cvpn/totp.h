/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_TOTP_H
#define CVPN_TOTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* Time-based one-time passwords as authenticator apps make them: RFC 6238 over HMAC-SHA-1 (RFC 4226),
 * 30-second steps, 6 digits, one step of clock skew either way. Pure (libcrypto for the HMAC). */

#define TOTP_STEP 30
#define TOTP_DIGITS 6
#define TOTP_KEY_MAX 128  /* bytes of secret; apps use 10-20 */

/* Base32 (RFC 4648, case-insensitive, '=' padding and spaces ignored) as secrets are shared in otpauth://
 * URIs. Returns the key length or -EINVAL / -ENOSPC. */
ssize_t totp_base32_decode(const char *in, uint8_t *out, size_t cap);

/* The HOTP value for counter, reduced to digits (1..9) decimal digits. */
uint32_t totp_hotp(const uint8_t *key, size_t key_len, uint64_t counter, unsigned digits);
/* The TOTP code for unix time t (its step is t / TOTP_STEP). */
uint32_t totp_code(const uint8_t *key, size_t key_len, time_t t, unsigned digits);

/* Checks a user's code (exactly TOTP_DIGITS digits) for the steps around now. Returns 0 and the step that
 * matched in *step (the caller refuses a step it already accepted: RFC 6238 §5.2), or -EACCES. The
 * comparison does not depend on where the codes differ. */
int totp_verify(const uint8_t *key, size_t key_len, const char *code, time_t now, uint64_t *step);

#endif
