/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_DCO_INT_H
#define CVPN_DCO_INT_H

/* The two netlink dialects of the kernel's OpenVPN data channel, for ctrl/dco.c: the out-of-tree ovpn-dco-v2
 * module (Debian 12's openvpn-dco-dkms) and the upstream ovpn module (Linux 6.16 and later). They do the
 * same things with different command and attribute numbers and nesting; a dialect encodes the requests and
 * names the attributes of the answers, dco.c does the talking. */

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>

#include "cvpn/dco.h"

enum dco_op {
	DCO_OP_NEW_PEER,
	DCO_OP_SET_KEEPALIVE,
	DCO_OP_NEW_KEY,
	DCO_OP_SWAP_KEYS,
	DCO_OP_DEL_KEY,
	DCO_OP_DEL_PEER,
	DCO_OP_GET_PEER,
	DCO_OP_COUNT
};

/* Cipher numbers, the same in both dialects. */
enum { DCO_ALG_AES_GCM = 1, DCO_ALG_CHACHA20_POLY1305 = 2 };
#define DCO_NONCE_TAIL_LEN 8

/* What one request carries; each operation reads its own fields. */
struct dco_request {
	uint32_t peer_id;
	/* DCO_OP_NEW_PEER */
	int sock_fd;
	const struct sockaddr *remote; /* AF_INET or AF_INET6, length checked by the caller */
	const struct udp_local *local; /* of the remote's family, or unknown (family 0) */
	uint32_t vaddr;                /* host order */
	/* DCO_OP_SET_KEEPALIVE */
	uint32_t keepalive_interval, keepalive_timeout;
	/* DCO_OP_NEW_KEY, DCO_OP_DEL_KEY */
	enum dco_slot slot;
	uint8_t key_id;
	uint32_t alg;
	size_t key_len;
	const uint8_t *encrypt_key, *encrypt_nonce_tail, *decrypt_key, *decrypt_nonce_tail;
};

struct dco_dialect {
	const char *module;    /* for the operator: which module this is */
	const char *family;    /* generic netlink family */
	const char *link_kind; /* rtnetlink kind of the interface */
	uint8_t version;       /* genetlink header version */
	uint8_t cmd[DCO_OP_COUNT];
	/* Appends op's attributes (the interface index is already there). */
	void (*put)(struct nlmsghdr *nlh, enum dco_op op, const struct dco_request *r);
	/* A peer's counters, in the nest peer_nest of a DCO_OP_GET_PEER answer. */
	uint16_t peer_nest, peer_id, vpn_rx_bytes, vpn_tx_bytes, vpn_rx_packets, vpn_tx_packets;
	/* The "peer removed" notification: its command, nest, and the peer id and reason inside. */
	uint8_t gone_cmd;
	uint16_t gone_nest, gone_peer_id, gone_reason;
};

/* Top-level attribute 1 is the interface index in both. */
#define DCO_A_IFINDEX 1

/* One direction's key, a nest of type: the cipher key (attribute 1) and the nonce tail (2), in both. */
void dco_put_key_dir(struct nlmsghdr *nlh, uint16_t type, const uint8_t *key, size_t key_len,
		     const uint8_t *nonce_tail);

extern const struct dco_dialect dco_dialect_v2;
extern const struct dco_dialect dco_dialect_ovpn;

#endif
