/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_KEYMETHOD_H
#define CVPN_KEYMETHOD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Key-method-2 messages (openvpn-protocol.md §4.3, §4.4) and the client's peer-info (§4.6). Pure. */

#define KM2_OPTIONS_MAX 512   /* including the NUL; 2.6 fails the handshake past it */
#define KM2_USERPASS_MAX 256
#define KM2_PEER_INFO_MAX 2048

#define IV_PROTO_DATA_V2 (1u << 1)
#define IV_PROTO_REQUEST_PUSH (1u << 2)
#define IV_PROTO_TLS_KEY_EXPORT (1u << 3)
#define IV_PROTO_AUTH_PENDING_KW (1u << 4)
#define IV_PROTO_CC_EXIT_NOTIFY (1u << 7)

struct km2_client {
	uint8_t pre_master[48];
	uint8_t random1[32];
	uint8_t random2[32];
	char options[KM2_OPTIONS_MAX];
	char username[KM2_USERPASS_MAX];
	char password[KM2_USERPASS_MAX]; /* secret: km2_client_wipe() when done */
	char peer_info[KM2_PEER_INFO_MAX];
};

/* Parses the client's message. Returns 0 or -EINVAL (bad marker, method, truncation, a string without its
 * NUL or with an embedded one, or one over its limit). */
int km2_parse_client(const uint8_t *buf, size_t len, struct km2_client *out);
void km2_client_wipe(struct km2_client *km);

/* Builds the server's reply: zero, method 2, random1, random2, options, and empty username, password and
 * peer-info. Returns the length or -ENOSPC / -EINVAL. */
ssize_t km2_build_server(const uint8_t random1[32], const uint8_t random2[32], const char *options,
			 uint8_t *out, size_t cap);

/* The client side (used by the load generator). */

/* The server's message: no pre-master; empty username, password and peer-info. */
struct km2_server {
	uint8_t random1[32];
	uint8_t random2[32];
	char options[KM2_OPTIONS_MAX];
};

/* Builds the client's message from km: zero, method 2, pre_master, random1, random2, options, then
 * username, password and peer-info, each empty one as a bare u16 0 (as 2.6 writes them). Returns the length
 * or -ENOSPC / -EINVAL (a string over its limit). */
ssize_t km2_build_client(const struct km2_client *km, uint8_t *out, size_t cap);
/* Parses the server's reply. Returns 0 or -EINVAL (bad marker, method, truncation, a malformed or missing
 * options string, a malformed trailing string). */
int km2_parse_server(const uint8_t *buf, size_t len, struct km2_server *out);

/* Looks up KEY in a "\n"-separated KEY=value list; copies the value (cut to val_len - 1 bytes), every byte
 * outside printable ASCII replaced by '?'. Returns 0 or -ENOENT. */
int peerinfo_get(const char *peer_info, const char *key, char *val, size_t val_len);
/* IV_PROTO as a number (0 when absent or malformed). */
uint32_t peerinfo_iv_proto(const char *peer_info);

#endif
