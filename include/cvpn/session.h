/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_SESSION_H
#define CVPN_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "cvpn/aead.h"
#include "cvpn/cert.h"
#include "cvpn/config.h"
#include "cvpn/connlog.h"
#include "cvpn/packet.h"
#include "cvpn/reliable.h"
#include "cvpn/udp_local.h"

/* One client connection: its control channel (one key state per TLS session: the current one and the
 * previous one kept as lame duck after a renegotiation), its identity, address and data-channel keys. The
 * session does no I/O itself: it hands outgoing packets to its server through server_send_packet(). */

struct auth_job;
struct server;
struct tls_conn;
struct tcp_conn;
struct dp_peer;
struct hs_job;

enum ks_state {
	KS_NONE = 0,
	KS_TLS,        /* resets exchanged, TLS handshake running */
	KS_SENT_KEY,   /* our key-method-2 reply is out; waiting for every control packet to be ACKed */
	KS_ACTIVE,     /* keys in use for sending */
	KS_FAILED,     /* refused or broken; kept only to deliver AUTH_FAILED */
};

struct key_state {
	enum ks_state state;
	uint8_t key_id;
	struct reliable rel;
	struct tls_conn *tls;
	bool km2_done;          /* client's key-method-2 read and answered */
	bool keys_ready;        /* data keys installed: packets with this key_id are accepted */
	struct aead_key data;
	uint8_t *dco_block;     /* the kernel data channel's key material until the kernel has it (dco.h) */
	uint64_t started_ms;
	uint64_t deadline_ms;   /* handshake window */
	uint64_t expire_ms;     /* lame duck: key deleted then */
	struct hs_job *hs;      /* a handshake thread runs a step of tls (then NULL here) */
	bool fed;               /* TLS input since the last handshake step */
};

enum session_transport { SESSION_UDP, SESSION_TCP };

#define SESSION_USERNAME_MAX 64

enum session_state {
	SESSION_HANDSHAKE,   /* first key being negotiated */
	SESSION_CONNECTED,   /* authenticated, address assigned */
	SESSION_CLOSING,     /* refused, terminated or timed out: only delivering the last messages */
};

struct session {
	struct server *srv;
	uint64_t id;                       /* connection id, unique per daemon run */
	uint32_t peer_id;                  /* index in the server's table, pushed to the client */
	enum session_transport transport;
	struct sockaddr_storage remote;    /* client's public address */
	socklen_t remote_len;
	struct udp_local local;            /* UDP: our address its first datagram came to; what we send leaves from it */
	int tcp_fd;                        /* TCP only; owned by conn */
	struct tcp_conn *conn;             /* TCP only: framing buffers, owned by the server */
	uint8_t own_sid[PACKET_SID_LEN];
	uint8_t peer_sid[PACKET_SID_LEN];
	enum session_state state;
	struct key_state ks[2];            /* [0] current, [1] lame duck */
	char cn[CERT_CN_MAX + 1];
	char username[SESSION_USERNAME_MAX + 1]; /* the directory's name for the user (its username-attribute)
						  * once logged in, the typed one until then; "" without */
	char login_name[SESSION_USERNAME_MAX + 1]; /* as typed: a renegotiation must send the same */
	char **dir_groups;                 /* the directory's groups (enforce.c adds identity-groups to them) */
	size_t n_dir_groups;
	struct auth_job *login;            /* login waiting for its verdict (ctrl/auth/auth.c), or NULL */
	char remote_str[64];               /* "addr:port" for logs */
	uint32_t vaddr;                    /* host order, 0 until assigned */
	enum cvpn_cipher cipher;
	bool use_ekm;
	bool peer_id_on;
	bool pushed;
	uint32_t iv_proto;
	char iv_ver[32];
	char iv_plat[16];
	uint64_t created_ms, last_rx_ms, last_tx_ms, close_at_ms, reneg_at_ms;
	/* renegotiations the client starts (session.c: client_reneg_*): when its allowance would be whole
	 * again, and the deferral last logged (one line per deferral, not one per retransmitted soft reset) */
	uint64_t client_reneg_tat_ms, client_reneg_logged_ms;
	uint64_t pkts_out_at_reneg;        /* pkts_out when the last renegotiation started (or the session did) */
	/* policy (ctrl/enforce.c): the session's groups, its profile and its association */
	char **groups;
	size_t n_groups;
	uint32_t profile;
	long assoc_home;                   /* association it was placed on, index into cfg->associations */
	long assoc_cur;                    /* where its traffic goes now (another one while home is down) */
	bool enforced;                     /* its elements are in the kernel */
	uint64_t bytes_in, bytes_out, pkts_in, pkts_out, spoofed_drops;
	/* for operators (track.h): wall-clock times, the connection log's state, why a CLOSING session ends */
	time_t start_time, established_time;
	uint64_t next_update_ms;           /* next connection-update record */
	bool attempt_logged;
	uint32_t last_vaddr;               /* the address it had, after a terminate released it */
	char close_why[CONN_REASON_MAX];
	struct session *hash_next;         /* server's remote-address hash chain */
	/* handed to a data worker (datapath.h): its part, and the counters from before the hand-over */
	struct dp_peer *dp;
	unsigned dp_worker;
	int8_t dco_slot_key[2];            /* kernel data channel: key id in its primary, secondary slot; -1 */
	uint64_t dp_base_bytes_in, dp_base_bytes_out, dp_base_pkts_in, dp_base_pkts_out, dp_base_spoofed;
};

/* Creates a UDP session after a valid cookie: our reset counts as sent and ACKed (mid 0 both ways). */
struct session *session_new_udp(struct server *srv, const struct sockaddr *remote, socklen_t len,
				const struct udp_local *local, const uint8_t own_sid[8], const uint8_t peer_sid[8],
				uint64_t now_ms);
/* Creates a TCP session from the client's hard reset; we answer with our own reset through the
 * reliability layer. */
struct session *session_new_tcp(struct server *srv, int fd, const struct sockaddr *remote, socklen_t len,
				const struct ctl_packet *reset, uint64_t now_ms);
/* Ends the session: frees its address and keys, and unlinks it from the server. */
void session_end(struct session *s, const char *why);
/* Ends a connected session on the gateway's initiative: its address is released at once, client_msg (a
 * control message such as "HALT,terminated by the administrator" or "RESTART,session timeout"; NULL =
 * none) goes out on the control channel, and the session is freed once the client ACKed it or after a short
 * grace. Returns 0, or -EALREADY when the session is not connected (handshaking or already closing). */
int session_terminate(struct session *s, const char *why, const char *client_msg, uint64_t now_ms);
/* Whether name is the session's user: its directory username (compared as directories do, without regard
 * to case), or without a directory login its certificate's CN. */
bool session_user_is(const struct session *s, const char *name);

/* A control packet from this session's remote. */
void session_on_control(struct session *s, const struct ctl_packet *pkt, uint64_t now_ms);
/* A data packet from this session's remote (already matched by peer-id or address). */
void session_on_data(struct session *s, const uint8_t *pkt, size_t len, uint64_t now_ms);
/* An IP packet from the tun for this session's address. */
void session_send_ip(struct session *s, const uint8_t *ip, size_t len, uint64_t now_ms);
/* A handshake step back from its thread (handshake.h): the session takes its connection back and goes on;
 * an orphaned step's connection is freed. Frees j. */
void session_on_handshake_step(struct hs_job *j, uint64_t now_ms);
/* Timers: retransmission, keepalive, timeouts, renegotiation. */
void session_tick(struct session *s, uint64_t now_ms);

/* The verdict of a login that waited for the directory or the connect handler (auth.c). reason NULL: the
 * session gets its address and push; else it is refused with reason (safe to show). groups: the directory's,
 * taken over by the session. */
void session_login_done(struct session *s, const char *reason, char **groups, size_t n_groups, uint64_t now_ms);

#endif
