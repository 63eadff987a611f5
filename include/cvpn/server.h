/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_SERVER_H
#define CVPN_SERVER_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>

#include "cvpn/config.h"
#include "cvpn/cookie.h"
#include "cvpn/udp_local.h"

/* The daemon's control thread: listeners, the session tables, the tun's queues, the kernel objects it owns,
 * and the data workers and handshake threads it starts. */

struct auth;
struct mgmt;
struct policy;
struct pool;
struct session;
struct tls_ctx;
struct track;

#define CVPN_VERSION "0.1.0"

#define SERVER_ADDR_HASH 4096
/* Sessions still in their handshake beyond max_connections: room to tell a client why it is refused. */
#define SERVER_HANDSHAKE_SLACK 256
#define SERVER_HALFOPEN_SLOTS 4096
#define SERVER_HALFOPEN_PER_SOURCE 32  /* a NAT of many users still fits; one attacker address does not fill us */
#define SERVER_HALFOPEN_MAX 1024
#define SERVER_TCP_FIRST_PACKET_MS 10000 /* a client's hard reset follows its connect at once */

struct udptx;
struct tuntx;
struct dco;
struct dp_worker;
struct hs_pool;

struct server {
	struct config *cfg;
	struct tls_ctx *tls;
	struct pool *pool;
	struct cookie_key cookie;
	int udp_fd, tcp_listen_fd, tun_fd, epoll_fd, signal_fd, timer_fd;
	char tun_ifname[IF_NAMESIZE];
	bool forwarding_was_on;
	bool forwarding_set;               /* forwarding_was_on is to be restored */
	bool nft_installed;
	/* the compiled policy the kernel runs (ctrl/enforce.c) and the associations' live state */
	struct policy *policy;
	uint32_t *assoc_snat;              /* [n_associations] SNAT address, host order */
	uint32_t *assoc_sessions;          /* [n_associations] sessions placed on it */
	bool *assoc_up;                    /* [n_associations] link up and running */
	bool links_unsure;                 /* a link state could not be read: the next tick reads them again */
	bool tun_up;                       /* the tun is up: its routes in the associations' tables are there */
	/* addresses of ended sessions, back to the pool once the kernel forgot their connections (enforce.h) */
	uint32_t *addr_quarantine;
	size_t n_addr_quarantine, addr_quarantine_cap;
	size_t n_assoc;
	int rtnl_fd;                       /* link events, for association failover */
	struct session **by_peer_id;       /* [table_size] */
	uint32_t table_size;               /* max_connections + SERVER_HANDSHAKE_SLACK */
	struct session **by_vaddr;         /* [client CIDR size], indexed by pool_index() */
	struct session *by_remote[SERVER_ADDR_HASH];
	uint32_t n_sessions;               /* in the table, handshaking ones included */
	uint32_t n_connected;              /* authenticated: what max_connections limits */
	/* sessions still in their handshake, by hashed source address: a bound on half-open sessions
	 * per source and in all, recounted every tick */
	uint16_t *halfopen_by_src;         /* [SERVER_HALFOPEN_SLOTS] */
	uint32_t n_halfopen;
	/* TCP connections that have not sent their first packet (no session yet), newest first: closed after
	 * SERVER_TCP_FIRST_PACKET_MS, at most SERVER_HALFOPEN_MAX in all and SERVER_HALFOPEN_PER_SOURCE per
	 * source; refusals count in stat_refused_halfopen */
	struct tcp_conn *tcp_waiting;
	uint32_t n_tcp_waiting;
	uint16_t *tcp_waiting_by_src;      /* [SERVER_HALFOPEN_SLOTS] */
	bool accept_paused;                /* out of descriptors: the TCP listener rests until the next tick */
	uint64_t accept_failed_logged_ms;
	uint64_t stat_refused_halfopen, refused_logged_ms, refused_since_log;
	uint64_t next_session_id;
	/* stateless reset replies: a token bucket bounds how much we answer unknown sources */
	double reset_tokens;
	uint64_t reset_tokens_ms;
	uint64_t stat_spoofed, stat_bad_packets, stat_replays, stat_unrouted;
	/* operations (cvpnctl status / metrics) */
	struct track *track;               /* connection log and recent history */
	struct mgmt *mgmt;                 /* control socket */
	struct auth *auth;                 /* logins waiting for the directory or the connect handler */
	time_t started_at;
	uint64_t cfg_version;              /* 1 at start, +1 per applied reload */
	char cfg_sha256[65];               /* of the file the running config was loaded from */
	uint64_t stat_attempts, stat_auth_failures, stat_refused_limit;
	uint64_t stat_handler_timeouts, stat_handler_denials; /* connect handler (later issue): stay 0 */
	uint64_t ended_bytes_in, ended_bytes_out, ended_pkts_in, ended_pkts_out; /* of ended sessions */
	/* data packets to UDP clients while the tun is drained: queued and sent together (UDP GSO) */
	struct udptx *udptx;
	bool tx_batching;
	/* the tun: vnet header and offloads (super-packets both ways), and the coalescing writer of what the
	 * control thread itself decrypts (sessions it keeps) */
	bool tun_offload;
	struct tuntx *tuntx;
	/* data-channel: kernel (dco.h): the kernel's interface does every session's data instead of the tun
	 * and the workers (then n_workers is 0 and tun_fd -1) */
	struct dco *dco;
	uint64_t dco_pulled_ms;            /* the kernel's counters last read (server.c on_tick) */
	/* the data workers (datapath.h): worker i reads tun queue i and, for UDP, its own socket of the port */
	unsigned n_workers;
	int tun_fds[CONFIG_MAX_DATA_WORKERS];  /* tun_fd is tun_fds[0] */
	int worker_udp_fds[CONFIG_MAX_DATA_WORKERS];
	struct dp_worker *workers[CONFIG_MAX_DATA_WORKERS];
	uint32_t dp_peer_ids;                  /* peer-ids the workers' tables hold (table_size at start) */
	_Atomic uint8_t *peer_id_live;         /* [dp_peer_ids]: which of them a session holds (worker.h) */
	_Atomic uint32_t peer_id_limit;        /* table_size, for the workers */
	/* the handshake threads (handshake.h), or NULL: handshakes run here */
	struct hs_pool *handshakes;
	volatile bool stop;
};

/* server_init takes cfg; srv->cfg is the config in force (a reload replaces it), freed by server_cleanup. */
int server_init(struct server *srv, struct config *cfg);
int server_run(struct server *srv);
void server_cleanup(struct server *srv);
/* After cvpnd exited, however it did (systemd's ExecStopPost): removes the kernel data channel interfaces
 * a cvpnd that could not clean up left forwarding, unless a cvpnd answers on control_socket (NULL: the
 * default). How many it removed, or -errno. */
int server_after_exit(const char *control_socket);
/* Reloads the config file the running one came from (SIGHUP, cvpnctl reload). Applied only if it is valid
 * and changes nothing that cannot change live; otherwise the running config stays and every reason is written
 * to errs as a line. Returns 0 when applied. */
int server_reload(struct server *srv, FILE *errs);

/* Used by sessions. */
int server_send_packet(struct server *srv, struct session *s, const uint8_t *buf, size_t len);
int server_register_session(struct server *srv, struct session *s);
void server_unregister_session(struct server *srv, struct session *s);
void server_set_vaddr(struct server *srv, struct session *s, uint32_t vaddr);
int server_write_tun(struct server *srv, const uint8_t *ip, size_t len);
uint64_t server_now_ms(void);
/* Used by the data-path glue (datapath.c): what a worker passed up is handled as if this thread had read it;
 * between batch on and off, tun writes and datagrams to clients are queued and leave together. */
void server_on_datagram(struct server *srv, const uint8_t *buf, size_t len, const struct sockaddr *from,
			socklen_t from_len, const struct udp_local *local);
void server_on_tun_packet(struct server *srv, const uint8_t *ip, size_t len);
void server_output_batch(struct server *srv, bool on);
/* A non-blocking UDP socket bound to sa with the daemon's buffer sizes; reuseport: joins the port's group.
 * The fd or -1 with errno. */
int server_udp_socket(const struct sockaddr *sa, socklen_t sl, bool reuseport);
/* Watches fd on the event loop: fn(arg) runs when it is readable. 0 or -errno. */
int server_watch_fd(struct server *srv, int fd, void (*fn)(void *arg), void *arg);

#endif
