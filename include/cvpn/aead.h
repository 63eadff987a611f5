/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_AEAD_H
#define CVPN_AEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cvpn/config.h"

/* OpenVPN 2.6 AEAD data channel (openvpn-protocol.md §5.1, §6.1, §6.2) on OpenSSL's libcrypto, which uses
 * AES-NI: Debian's wolfSSL build has none and is ~20x slower here.
 *
 * P_DATA_V2 on the wire: [0x48|key_id][peer-id 24 bit][packet-id 32][tag 16][ciphertext]
 * AAD = first 8 bytes; IV = packet-id(4) || implicit_iv(8). */

#define AEAD_V2_HEADER 8      /* opcode/key-id, peer-id, packet-id */
#define AEAD_TAG_LEN 16
#define AEAD_OVERHEAD (AEAD_V2_HEADER + AEAD_TAG_LEN)
#define REPLAY_WINDOW_BITS 256 /* wider than 2.6's 64: tolerates more reordering under load */
#define REPLAY_BACKTRACK_SEC 15

/* Sliding replay window over 32-bit packet-ids. Id 0 is always invalid. */
struct replay_window {
	uint32_t highest;                          /* highest id accepted so far, 0 = none */
	uint64_t bits[REPLAY_WINDOW_BITS / 64];    /* bit i set = id (highest - i) seen */
	uint64_t highest_time;                     /* monotonic seconds when highest advanced */
};

void replay_init(struct replay_window *rw);
/* True when id would be accepted now (not updating). */
bool replay_check(const struct replay_window *rw, uint32_t id, uint64_t now_sec);
/* Marks id seen; call only after the packet authenticated and replay_check said yes. */
void replay_update(struct replay_window *rw, uint32_t id, uint64_t now_sec);

struct aead_dir; /* opaque: one EVP context per direction */

/* One data-channel key (one key_id) of one session, as the server uses it. */
struct aead_key {
	enum cvpn_cipher cipher;
	uint8_t key_id;               /* 0..7 */
	struct aead_dir *enc;         /* server -> client (client -> server in the client role) */
	struct aead_dir *dec;         /* client -> server (server -> client in the client role) */
	uint32_t send_packet_id;      /* last id sent; next is +1; never wraps for one key */
	struct replay_window replay;
};

/* Sets up both directions from the 256-byte key block (§5.1): as server, decrypt with bytes 0..63/64..71,
 * encrypt with 128..191/192..199. Returns 0 or -errno; on error the key is left cleared. */
int aead_key_init(struct aead_key *k, enum cvpn_cipher cipher, uint8_t key_id, const uint8_t block[256]);
/* The same for either role: server as above; client (the load generator) the reverse, encrypting with
 * bytes 0../64.. and decrypting with 128../192... */
int aead_key_init_role(struct aead_key *k, enum cvpn_cipher cipher, uint8_t key_id, const uint8_t block[256],
		       bool server);
/* Wipes and frees; safe on a zeroed or already cleared key. */
void aead_key_clear(struct aead_key *k);

/* Builds a whole P_DATA_V2 packet around plaintext `in` into `out` (needs len + AEAD_OVERHEAD bytes).
 * Returns the packet length, or -ENOSPC / -EOVERFLOW (packet-id space exhausted) / -EIO. */
ssize_t aead_seal(struct aead_key *k, uint32_t peer_id, const uint8_t *in, size_t len, uint8_t *out,
		  size_t out_cap);

/* Opens a P_DATA_V2 (or P_DATA_V1) packet whose key_id matches k. Authenticates first, then applies the
 * replay window (and updates it). Writes the plaintext into out; returns its length, or -EBADMSG (tag,
 * truncated), -EALREADY (replay), -ENOSPC. */
ssize_t aead_open(struct aead_key *k, const uint8_t *pkt, size_t len, uint8_t *out, size_t out_cap,
		  uint64_t now_sec);

#endif
