/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_PACKET_H
#define CVPN_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* OpenVPN outer packets, unwrapped control channel (openvpn-protocol.md §1). Pure parse/build. */

enum packet_opcode {
	P_CONTROL_HARD_RESET_CLIENT_V1 = 1,
	P_CONTROL_HARD_RESET_SERVER_V1 = 2,
	P_CONTROL_SOFT_RESET_V1 = 3,
	P_CONTROL_V1 = 4,
	P_ACK_V1 = 5,
	P_DATA_V1 = 6,
	P_CONTROL_HARD_RESET_CLIENT_V2 = 7,
	P_CONTROL_HARD_RESET_SERVER_V2 = 8,
	P_DATA_V2 = 9,
	P_CONTROL_HARD_RESET_CLIENT_V3 = 10,
	P_CONTROL_WKC_V1 = 11,
};

#define PACKET_SID_LEN 8
#define PACKET_MAX_ACKS 8          /* a receiver rejects more */
#define PACKET_MAX_PIGGYBACK_ACKS 4 /* what we put on a P_CONTROL_* */
#define PACKET_PEER_ID_UNDEF 0xFFFFFFu

static inline uint8_t packet_opcode(uint8_t byte0) { return byte0 >> 3; }
static inline uint8_t packet_key_id(uint8_t byte0) { return byte0 & 7; }
static inline bool packet_is_data(uint8_t opcode) { return opcode == P_DATA_V1 || opcode == P_DATA_V2; }

/* Data-channel payloads that are not IP: the keepalive ping, and OCC messages (an OCC_EXIT is a client's
 * goodbye). */
#define PACKET_MAGIC_LEN 16
extern const uint8_t packet_ping_magic[PACKET_MAGIC_LEN];
extern const uint8_t packet_occ_magic[PACKET_MAGIC_LEN];
#define PACKET_OCC_EXIT 6
static inline bool packet_is_ping(const uint8_t *p, size_t n)
{
	return n == PACKET_MAGIC_LEN && __builtin_memcmp(p, packet_ping_magic, PACKET_MAGIC_LEN) == 0;
}
static inline bool packet_is_occ_exit(const uint8_t *p, size_t n)
{
	return n >= PACKET_MAGIC_LEN + 1 && __builtin_memcmp(p, packet_occ_magic, PACKET_MAGIC_LEN) == 0 &&
	       p[PACKET_MAGIC_LEN] == PACKET_OCC_EXIT;
}

struct ctl_packet {
	uint8_t opcode;
	uint8_t key_id;
	uint8_t sid[PACKET_SID_LEN];      /* sender's own session id */
	uint8_t n_acks;                   /* 0..8 */
	uint32_t acks[PACKET_MAX_ACKS];
	uint8_t peer_sid[PACKET_SID_LEN]; /* valid only when n_acks > 0 */
	bool has_mid;                     /* false only for P_ACK_V1 */
	uint32_t mid;
	const uint8_t *payload;           /* borrowed from the parsed buffer */
	size_t payload_len;
};

/* Parses a control packet (any control opcode 3..11; the caller decides which it accepts).
 * Returns 0, or -EINVAL for a data opcode, an unknown opcode, more than 8 ACKs, a P_ACK_V1 without ACKs,
 * or any truncation. Never reads past len. */
int packet_parse_control(const uint8_t *buf, size_t len, struct ctl_packet *out);

/* Serializes p into out. has_mid is ignored: it is implied by the opcode (absent for P_ACK_V1).
 * Returns the length, or -EINVAL (bad field) / -ENOSPC. */
ssize_t packet_build_control(const struct ctl_packet *p, uint8_t *out, size_t cap);

/* For data packets: peer-id of a P_DATA_V2 (PACKET_PEER_ID_UNDEF for V1). Returns -EINVAL when short. */
int packet_data_peer_id(const uint8_t *buf, size_t len, uint32_t *peer_id);

#endif
