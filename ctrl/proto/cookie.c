// SPDX-License-Identifier: GPL-2.0-or-later
/* Stateless HMAC session-id cookie (openvpn-protocol.md §2.3).
 *
 * MAC input: u32 BE slot || address (4 or 16 bytes) || port (2, BE) || client session id (8). The two address
 * families give inputs of different lengths, so an IPv4 and an IPv6 source can never share a cookie. */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "cvpn/cookie.h"

#define COOKIE_LEN 8
#define COOKIE_SID_LEN 8
#define COOKIE_SLOTS_BACK 2
#define COOKIE_MAX_INPUT (4 + 16 + 2 + COOKIE_SID_LEN)

int cookie_key_init(struct cookie_key *ck, unsigned handshake_window)
{
	size_t got = 0;
	ssize_t n;

	while (got < sizeof(ck->key)) {
		n = getrandom(ck->key + got, sizeof(ck->key) - got, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			explicit_bzero(ck->key, sizeof(ck->key));
			return -errno;
		}
		got += (size_t)n;
	}
	ck->slot_seconds = (handshake_window + 1) / 2;
	/* A zero window would otherwise divide by zero in every cookie_make. */
	if (ck->slot_seconds == 0)
		ck->slot_seconds = 1;
	return 0;
}

/* Returns false when the source is not IPv4/IPv6 or the MAC failed: no cookie exists for it then. */
static bool cookie_compute(const struct cookie_key *ck, const struct sockaddr *src, const uint8_t client_sid[8],
			   uint32_t slot, uint8_t cookie[COOKIE_LEN])
{
	uint8_t in[COOKIE_MAX_INPUT], md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	size_t n = 0;
	bool ok = false;

	in[n++] = slot >> 24;
	in[n++] = slot >> 16;
	in[n++] = slot >> 8;
	in[n++] = slot;
	if (src->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)src;

		memcpy(in + n, &sin->sin_addr, 4), n += 4;
		memcpy(in + n, &sin->sin_port, 2), n += 2; /* already big-endian */
	} else if (src->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)src;

		memcpy(in + n, &sin6->sin6_addr, 16), n += 16;
		memcpy(in + n, &sin6->sin6_port, 2), n += 2;
	} else {
		goto out;
	}
	memcpy(in + n, client_sid, COOKIE_SID_LEN), n += COOKIE_SID_LEN;
	if (!HMAC(EVP_sha256(), ck->key, sizeof(ck->key), in, n, md, &md_len) || md_len < COOKIE_LEN)
		goto out;
	memcpy(cookie, md, COOKIE_LEN);
	ok = true;
out:
	OPENSSL_cleanse(md, sizeof(md));
	return ok;
}

void cookie_make(const struct cookie_key *ck, const struct sockaddr *src, const uint8_t client_sid[8],
		 uint64_t now_sec, uint8_t cookie[8])
{
	uint32_t slot = (uint32_t)(now_sec / ck->slot_seconds);

	/* No cookie exists for this source: hand out filler that cookie_verify, failing the same way, never
	 * accepts. */
	if (!cookie_compute(ck, src, client_sid, slot, cookie))
		memset(cookie, 0, COOKIE_LEN);
}

bool cookie_verify(const struct cookie_key *ck, const struct sockaddr *src, const uint8_t client_sid[8],
		   uint64_t now_sec, const uint8_t cookie[8])
{
	uint32_t slot = (uint32_t)(now_sec / ck->slot_seconds);
	uint8_t want[COOKIE_LEN];
	bool match = false;
	int off;

	/* All three slots are always computed, so the time taken does not tell which one matched. */
	for (off = 0; off <= COOKIE_SLOTS_BACK; off++) {
		if (!cookie_compute(ck, src, client_sid, slot - (uint32_t)off, want))
			break;
		match |= CRYPTO_memcmp(want, cookie, COOKIE_LEN) == 0;
	}
	explicit_bzero(want, sizeof(want));
	return match;
}
