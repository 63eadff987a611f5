/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_COOKIE_H
#define CVPN_COOKIE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* Stateless HMAC session-id cookie (openvpn-protocol.md §2.3): the server's session id for an unknown UDP
 * source is HMAC-SHA256(key, u32 slot || source address || port || client sid)[0..8), with 30 s slots; a
 * packet that echoes a cookie of the current or the two previous slots proves the client receives our
 * packets, and only then is any per-client state created. */

#define COOKIE_KEY_LEN 32

struct cookie_key {
	uint8_t key[COOKIE_KEY_LEN];
	uint32_t slot_seconds; /* (hand_window + 1) / 2 */
};

/* Fills the key from the system RNG. Returns 0 or -errno. */
int cookie_key_init(struct cookie_key *ck, unsigned handshake_window);
/* Computes the cookie for the slot that contains now_sec. */
void cookie_make(const struct cookie_key *ck, const struct sockaddr *src, const uint8_t client_sid[8],
		 uint64_t now_sec, uint8_t cookie[8]);
/* Constant-time check against the slots now, now-1, now-2. */
bool cookie_verify(const struct cookie_key *ck, const struct sockaddr *src, const uint8_t client_sid[8],
		   uint64_t now_sec, const uint8_t cookie[8]);

#endif
