/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_LOADGEN_CLIENT_H
#define CVPN_LOADGEN_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cvpn/aead.h"
#include "cvpn/reliable.h"

/* One OpenVPN 2.6 client session of the load generator: hard reset, TLS (client certificate), key-method-2,
 * PUSH_REQUEST/PUSH_REPLY, data channel. Owns its socket (UDP, or TCP with 2-byte framing); the caller drives
 * it from one epoll loop: lgc_on_readable / lgc_on_writable on events, lgc_tick on a timer. */

#define LGC_RECENT_ACKS 4

struct tls_ctx;
struct tls_conn;
struct lg_client;

enum lgc_state {
	LGC_IDLE,   /* not started */
	LGC_RESET,  /* our hard reset is out; waiting for the server's */
	LGC_TLS,    /* TLS handshake */
	LGC_KM2,    /* our key-method-2 is out; waiting for the server's */
	LGC_PUSH,   /* PUSH_REQUEST out; waiting for (the rest of) PUSH_REPLY */
	LGC_UP,     /* data keys installed: traffic may flow */
	LGC_FAILED, /* see fail / fail_msg; socket closed */
	LGC_CLOSED, /* ended by us */
};

enum lgc_fail {
	LGC_FAIL_NONE,
	LGC_FAIL_TIMEOUT,  /* no session within the handshake timeout (or the run's deadline) */
	LGC_FAIL_AUTH,     /* AUTH_FAILED from the server */
	LGC_FAIL_TLS,      /* TLS handshake or record error */
	LGC_FAIL_PROTO,    /* malformed or unusable answer, RESTART/HALT */
	LGC_FAIL_NET,      /* socket error, connection closed by the server */
	LGC_FAIL_MAX,
};

/* When a session sends a TLS 1.3 KeyUpdate on its control channel (--key-update). */
enum lgc_key_update {
	LGC_KEY_UPDATE_NONE,
	LGC_KEY_UPDATE_UP,     /* once up (after PUSH_REPLY) */
	LGC_KEY_UPDATE_EARLY,  /* on the gateway's key-method-2 reply, before our PUSH_REQUEST */
};

/* What all sessions share; read-only for the clients. */
struct lgc_shared {
	struct tls_ctx *tls;
	int epfd;                 /* the clients (un)register their fd for EPOLLOUT themselves (TCP) */
	bool tcp;
	const char *options;      /* our OCC options string */
	const char *peer_info;
	uint32_t hs_timeout_ms;
	enum lgc_key_update key_update; /* tls_conn_key_update, when */
	/* called with every decrypted IP packet (not keepalive pings) */
	void (*on_ip)(struct lg_client *c, const uint8_t *ip, size_t len, uint64_t now_ms);
};

struct lg_client {
	const struct lgc_shared *sh;
	uint32_t idx;
	int fd;
	enum lgc_state state;
	enum lgc_fail fail;
	char fail_msg[160];
	bool counted;               /* the caller's bookkeeping: outcome already accounted for */

	uint8_t own_sid[8], peer_sid[8];
	bool have_peer;
	struct reliable rel;
	uint32_t recent_acks[LGC_RECENT_ACKS]; /* ACKs already sent, repeated where a packet has room */
	uint8_t n_recent_acks;
	struct tls_conn *tls;
	uint8_t pre_master[48], c_random1[32], c_random2[32], s_random1[32], s_random2[32];
	enum cvpn_cipher occ_cipher; /* from the server's options string: the fallback if none is pushed */

	/* from PUSH_REPLY */
	uint32_t vaddr;             /* host order */
	uint8_t prefix_len;
	bool peer_id_on;
	uint32_t peer_id;
	enum cvpn_cipher cipher;
	bool ekm;
	unsigned ping_s;
	struct aead_key data;

	uint64_t start_ms, up_ms, last_tx_ms, push_req_ms;

	/* TCP framing */
	bool connecting;
	uint8_t *rx;                /* partial frames */
	size_t rx_len;
	uint8_t *tx;                /* frames the socket did not take yet */
	size_t tx_len, tx_cap;
	bool want_out;

	/* traffic (inner IP packets) */
	uint64_t tx_pkts, tx_bytes, rx_pkts, rx_bytes;
	uint16_t icmp_seq;
	uint64_t traffic_sent;      /* echo requests sent in the traffic phase */
};

/* Starts the session on fd (a UDP socket connected to the server, or a TCP socket whose non-blocking connect
 * is in progress when connecting is true), already registered for EPOLLIN with data.ptr = c. Returns 0 or
 * -errno (the caller closes fd then). */
int lgc_start(struct lg_client *c, const struct lgc_shared *sh, uint32_t idx, int fd, bool connecting,
	      uint64_t now_ms);
void lgc_on_readable(struct lg_client *c, uint64_t now_ms);
void lgc_on_writable(struct lg_client *c, uint64_t now_ms);
/* Retransmissions, handshake timeout, PUSH_REQUEST repeats, keepalive. */
void lgc_tick(struct lg_client *c, uint64_t now_ms);
/* Sends an IP packet through the tunnel (LGC_UP only). 0, or -errno (dropped). */
int lgc_send_ip(struct lg_client *c, const uint8_t *ip, size_t len, uint64_t now_ms);
/* Ends a session: tells the server (OCC exit over UDP; closing the connection over TCP), then frees all. */
void lgc_close(struct lg_client *c);
/* Marks a session in progress as failed with reason (closes it). */
void lgc_fail(struct lg_client *c, enum lgc_fail why, const char *msg);

const char *lgc_fail_name(enum lgc_fail f);
static inline bool lgc_in_handshake(const struct lg_client *c)
{
	return c->state >= LGC_RESET && c->state <= LGC_PUSH;
}

#endif
