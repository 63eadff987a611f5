/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_SCRV1_H
#define CVPN_SCRV1_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* OpenVPN's static-challenge encoding of the password field (`static-challenge "..." 1` in the client file):
 * "SCRV1:<base64 password>:<base64 response>". Pure. */

/* Strict RFC 4648 base64 (standard alphabet, padding required, no whitespace). Returns the decoded length or
 * -EINVAL (bad character, bad padding, non-zero trailing bits) / -ENOSPC (out too small). */
ssize_t scrv1_base64_decode(const char *in, size_t len, uint8_t *out, size_t cap);

/* Splits field. Returns 1 when it is SCRV1-encoded: password and response hold the decoded text, each
 * NUL-terminated (secrets: the caller wipes them); 0 when field does not start with "SCRV1:" (a plain
 * password: nothing written); -EINVAL when it starts with "SCRV1:" but is malformed, or a decoded part
 * contains a NUL or does not fit its buffer with its terminator (both buffers wiped then). */
int scrv1_parse(const char *field, char *password, size_t pw_cap, char *response, size_t resp_cap);

#endif
