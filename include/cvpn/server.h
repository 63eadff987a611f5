/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_SERVER_H
#define CVPN_SERVER_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "cvpn/config.h"
#include "cvpn/cookie.h"

/* The daemon's one control thread: listeners, the session tables, the tun, and the kernel objects it owns. */

struct pool;
struct session;
struct tls_ctx;

#define SERVER_ADDR_HASH 4096
/* Sessions still in their handshake beyond max_connections: room to tell a client why it is refused. */
#define SERVER_HANDSHAKE_SLACK 256

struct server {
	struct config *cfg;
	struct tls_ctx *tls;
	struct pool *pool;
	struct cookie_key cookie;
	int udp_fd, tcp_listen_fd, tun_fd, epoll_fd, signal_fd, timer_fd;
	char tun_ifname[IF_NAMESIZE];
	bool forwarding_was_on;
	bool nft_installed;
	struct session **by_peer_id;       /* [table_size] */
	uint32_t table_size;               /* max_connections + SERVER_HANDSHAKE_SLACK */
	struct session **by_vaddr;         /* [client CIDR size], indexed by pool_index() */
	struct session *by_remote[SERVER_ADDR_HASH];
	uint32_t n_sessions;               /* in the table, handshaking ones included */
	uint32_t n_connected;              /* authenticated: what max_connections limits */
	uint64_t next_session_id;
	/* stateless reset replies: a token bucket bounds how much we answer unknown sources */
	double reset_tokens;
	uint64_t reset_tokens_ms;
	uint64_t stat_spoofed, stat_bad_packets, stat_replays, stat_unrouted;
	volatile bool stop;
};

int server_init(struct server *srv, struct config *cfg);
int server_run(struct server *srv);
void server_cleanup(struct server *srv);

/* Used by sessions. */
int server_send_packet(struct server *srv, struct session *s, const uint8_t *buf, size_t len);
int server_register_session(struct server *srv, struct session *s);
void server_unregister_session(struct server *srv, struct session *s);
void server_set_vaddr(struct server *srv, struct session *s, uint32_t vaddr);
int server_write_tun(struct server *srv, const uint8_t *ip, size_t len);
uint64_t server_now_ms(void);

#endif
