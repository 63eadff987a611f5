// SPDX-License-Identifier: GPL-2.0-or-later
/* libFuzzer harness for ctrl/proto/keymethod.c: km2_parse_client on the whole input (the plaintext a client
 * sends first inside TLS), then peerinfo_get / peerinfo_iv_proto on the peer-info it carried and on the raw
 * input as a string. Checks: every parsed string is NUL-terminated inside its field, a failed parse leaves the
 * struct wiped, re-encoding the parsed fields parses to the same struct, and peerinfo_get never writes more
 * than val_len bytes (the value buffer is a heap block of exactly val_len, so ASan sees an overrun). */

#include <errno.h>
#include <string.h>

#include "cvpn/keymethod.h"

#include "fuzz.h"

static const char *const keys[] = { "IV_PROTO", "IV_CIPHERS", "IV_VER", "IV_PLAT", "IV_NCP", "IV_", "" };

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

static size_t put_string(uint8_t *out, const char *s)
{
	size_t l = strlen(s) + 1;

	out[0] = (uint8_t)(l >> 8);
	out[1] = (uint8_t)l;
	memcpy(out + 2, s, l);
	return 2 + l;
}

/* Same wire layout as the client builds (openvpn-protocol.md §4.3), every string with its NUL. */
static size_t encode(const struct km2_client *km, uint8_t *out)
{
	size_t n = 0;

	memset(out, 0, 4);
	out[4] = 2;
	n = 5;
	memcpy(out + n, km->pre_master, 48);
	n += 48;
	memcpy(out + n, km->random1, 32);
	n += 32;
	memcpy(out + n, km->random2, 32);
	n += 32;
	n += put_string(out + n, km->options);
	n += put_string(out + n, km->username);
	n += put_string(out + n, km->password);
	n += put_string(out + n, km->peer_info);
	return n;
}

static void lookups(const char *pi, const char *extra_key, size_t val_len)
{
	for (size_t i = 0; i <= sizeof(keys) / sizeof(keys[0]); i++) {
		const char *key = i < sizeof(keys) / sizeof(keys[0]) ? keys[i] : extra_key;
		char *val = malloc(val_len);
		int ret;

		FUZZ_ASSERT(val);
		ret = peerinfo_get(pi, key, val, val_len);
		FUZZ_ASSERT(ret == 0 || ret == -ENOENT);
		if (ret == 0) {
			FUZZ_ASSERT(memchr(val, '\0', val_len));
			/* the value is a substring of a line: no newline inside */
			FUZZ_ASSERT(!strchr(val, '\n'));
		}
		free(val);
	}
	(void)peerinfo_iv_proto(pi);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct km2_client km, again;
	static uint8_t wire[5 + 48 + 32 + 32 + 2 * 4 + KM2_OPTIONS_MAX + 2 * KM2_USERPASS_MAX + KM2_PEER_INFO_MAX];
	char *str, extra_key[16];
	size_t val_len, n;
	int ret;

	ret = km2_parse_client(data, size, &km);
	if (ret < 0) {
		FUZZ_ASSERT(ret == -EINVAL);
		FUZZ_ASSERT(all_zero(&km, sizeof(km)));
	} else {
		FUZZ_ASSERT(ret == 0);
		FUZZ_ASSERT(memchr(km.options, '\0', sizeof(km.options)));
		FUZZ_ASSERT(memchr(km.username, '\0', sizeof(km.username)));
		FUZZ_ASSERT(memchr(km.password, '\0', sizeof(km.password)));
		FUZZ_ASSERT(memchr(km.peer_info, '\0', sizeof(km.peer_info)));
		n = encode(&km, wire);
		FUZZ_ASSERT(km2_parse_client(wire, n, &again) == 0);
		FUZZ_ASSERT(memcmp(&km, &again, sizeof(km)) == 0);
		/* any truncation of a complete message that cuts into the options string must fail */
		FUZZ_ASSERT(km2_parse_client(wire, 5 + 48 + 32 + 32 + 1, &again) == -EINVAL);
	}

	/* Lookups: on the parsed peer-info, and on the input itself as a string. The last input byte picks the
	 * value buffer size (1..64), the first bytes a free-form key. */
	val_len = size ? data[size - 1] % 64 + 1 : 1;
	memset(extra_key, 0, sizeof(extra_key));
	memcpy(extra_key, data, size < sizeof(extra_key) - 1 ? size : sizeof(extra_key) - 1);
	if (ret == 0)
		lookups(km.peer_info, extra_key, val_len);
	str = malloc(size + 1);
	FUZZ_ASSERT(str);
	memcpy(str, data, size);
	str[size] = '\0';
	lookups(str, extra_key, val_len);
	free(str);
	km2_client_wipe(&km);
	return 0;
}
