/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_PUSH_H
#define CVPN_PUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cvpn/config.h"

/* PUSH_REPLY (openvpn-protocol.md §7.1): one or more messages of at most PUSH_MSG_MAX bytes with their NUL;
 * when the options do not fit in one, every part but the last ends with push-continuation 2. Pure. */

#define PUSH_MSG_MAX 1024
#define PUSH_MAX_MSGS 16

struct push_params {
	const struct config *cfg;  /* split tunnel, routes, DNS, search domains, keepalive */
	uint32_t client_addr;      /* host order */
	uint32_t gateway_addr;     /* the server's tun address, route-gateway */
	uint8_t prefix_len;        /* of the client CIDR */
	bool peer_id_on;
	uint32_t peer_id;
	enum cvpn_cipher cipher;
	bool tls_ekm;              /* announce TLS-EKM key derivation */
	bool protocol_flags;       /* client understands protocol-flags (IV_PROTO bit 7) */
};

/* Fills msgs[0..n) with NUL-terminated messages; returns n, or -E2BIG when it would need more than max. */
int push_build_reply(const struct push_params *pp, char msgs[][PUSH_MSG_MAX], size_t max);

#endif
