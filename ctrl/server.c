// SPDX-License-Identifier: GPL-2.0-or-later
/* The control thread's event loop: UDP and TCP listeners, timers, signals and the data workers' and
 * handshake threads' eventfds on one epoll; the session tables (by peer-id, by client address, by public
 * address); the tun's queues and the kernel objects the daemon owns. */
#define _GNU_SOURCE /* accept4, recvmmsg */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cvpn/auth.h"
#include "cvpn/connlog.h"
#include "cvpn/datapath.h"
#include "cvpn/dco.h"
#include "cvpn/dco_guard.h"
#include "cvpn/enforce.h"
#include "cvpn/handshake.h"
#include "cvpn/log.h"
#include "cvpn/mgmt.h"
#include "cvpn/nft.h"
#include "cvpn/packet.h"
#include "cvpn/offload.h"
#include "cvpn/pool.h"
#include "cvpn/route.h"
#include "cvpn/server.h"
#include "cvpn/session.h"
#include "cvpn/steer.h"
#include "cvpn/tls.h"
#include "cvpn/track.h"
#include "cvpn/tuntx.h"
#include "cvpn/udptx.h"
#include "cvpn/tun.h"
#include "cvpn/worker.h"

#define TICK_MS 100
#define DCO_PULL_MS 10000 /* data-channel: kernel: how often the peers' counters are read without cvpnctl */
#define UDP_BATCH 32
#define UDP_BUF 4096
#define TUN_BATCH 64
#define UDP_SOCKET_BUFFER (8 << 20)
#define TCP_FRAME_MAX 4096            /* largest packet a client legitimately sends over TCP */
#define TCP_TX_MAX (1024 * 1024)      /* beyond this a slow reader loses packets, not our memory */
#define RESET_RATE_PER_S 20000.0      /* stateless reset replies to unknown sources, all together */
#define RESET_BURST 20000.0
#define RESET_SRC_SLOTS 4096          /* and per source address (hashed: fixed memory, no per-source state) */
#define RESET_SRC_RATE 5.0
#define RESET_SRC_BURST 10.0

enum ev_kind { EV_UDP = 1, EV_LISTEN, EV_TUN, EV_SIGNAL, EV_TIMER, EV_TCP, EV_MGMT, EV_LINK, EV_WATCH };

struct ev {
	enum ev_kind kind;
};

struct tcp_conn {
	struct ev ev;                /* first: epoll hands back a pointer to it */
	int fd;
	bool dead;
	bool broken;                 /* a write failed: nothing more is sent; closed after the current event */
	struct server *srv;
	struct session *s;
	struct sockaddr_storage remote;
	socklen_t remote_len;
	uint8_t rx[2 + TCP_FRAME_MAX];
	size_t rx_len;
	uint8_t *tx;
	size_t tx_len, tx_cap;
	struct tcp_conn *next_dead;
	struct tcp_conn *next_broken;
	/* in srv->tcp_waiting until its first packet makes a session */
	bool waiting;
	struct tcp_conn *wait_prev, *wait_next;
	uint64_t accepted_ms;
	unsigned src_slot;
};

static struct ev ev_udp = { EV_UDP }, ev_listen = { EV_LISTEN }, ev_tun = { EV_TUN }, ev_signal = { EV_SIGNAL },
		 ev_timer = { EV_TIMER }, ev_mgmt = { EV_MGMT }, ev_link = { EV_LINK };
static struct tcp_conn *dead_conns;
/* Connections whose write failed. Not closed on the spot: closing ends the session, and the session code
 * that was sending is still on the stack (ks_flush, session_tick...). The event loop closes them after the
 * event it was handling. */
static struct tcp_conn *broken_conns;

uint64_t server_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- session tables ---- */

static unsigned remote_hash(const struct sockaddr *sa)
{
	const uint8_t *p;
	size_t n;
	uint32_t h = 2166136261u;

	if (sa->sa_family == AF_INET) {
		p = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
		n = 4;
	} else {
		p = (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
		n = 16;
	}
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	h = (h ^ ((const struct sockaddr_in *)sa)->sin_port) * 16777619u; /* same offset in in and in6 */
	return h % SERVER_ADDR_HASH;
}


static struct session *lookup_remote(struct server *srv, const struct sockaddr *sa)
{
	for (struct session *s = srv->by_remote[remote_hash(sa)]; s; s = s->hash_next)
		if (dp_same_remote((const struct sockaddr *)&s->remote, sa))
			return s;
	return NULL;
}

static unsigned src_slot(const struct sockaddr *sa)
{
	const uint8_t *p = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
	size_t n = 4;
	uint32_t h = 2166136261u;

	if (sa->sa_family == AF_INET6) {
		p = (const uint8_t *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
		n = 8; /* the /64: one host's share */
	}
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h % SERVER_HALFOPEN_SLOTS;
}

/* Refusals can come as fast as an attacker sends: say how many once a second, not each one. */
static void note_refusal(struct server *srv, const struct session *s, const char *why)
{
	uint64_t now = server_now_ms();

	srv->refused_since_log++;
	if (now - srv->refused_logged_ms < 1000)
		return;
	log_warnx("refused - from %s: %s (%llu such refusals in the last %llu ms)", s->remote_str, why,
		  (unsigned long long)srv->refused_since_log, (unsigned long long)(now - srv->refused_logged_ms));
	srv->refused_logged_ms = now;
	srv->refused_since_log = 0;
}

static void recount_halfopen(struct server *srv)
{
	memset(srv->halfopen_by_src, 0, SERVER_HALFOPEN_SLOTS * sizeof(*srv->halfopen_by_src));
	srv->n_halfopen = 0;
	for (uint32_t i = 0; i < srv->table_size; i++) {
		const struct session *s = srv->by_peer_id[i];

		if (s && s->state == SESSION_HANDSHAKE) {
			srv->halfopen_by_src[src_slot((const struct sockaddr *)&s->remote)]++;
			srv->n_halfopen++;
		}
	}
}

int server_register_session(struct server *srv, struct session *s)
{
	uint32_t max = srv->table_size;
	unsigned slot = src_slot((const struct sockaddr *)&s->remote);
	static uint32_t hint;

	if (srv->halfopen_by_src[slot] >= SERVER_HALFOPEN_PER_SOURCE) {
		srv->stat_refused_halfopen++;
		note_refusal(srv, s, "too many handshakes in progress from this address");
		return -EBUSY;
	}
	if (srv->n_halfopen >= SERVER_HALFOPEN_MAX || srv->n_sessions >= max) {
		srv->stat_refused_halfopen++;
		note_refusal(srv, s, "too many handshakes in progress");
		return -ENOSPC;
	}
	srv->halfopen_by_src[slot]++;
	srv->n_halfopen++;
	for (uint32_t i = 0; i < max; i++) {
		uint32_t id = (hint + i) % max;

		if (!srv->by_peer_id[id]) {
			srv->by_peer_id[id] = s;
			datapath_peer_id_live(srv, id, true);
			s->peer_id = id;
			hint = id + 1;
			break;
		}
	}
	s->id = ++srv->next_session_id;
	srv->n_sessions++;
	if (s->transport == SESSION_UDP) {
		unsigned h = remote_hash((const struct sockaddr *)&s->remote);

		s->hash_next = srv->by_remote[h];
		srv->by_remote[h] = s;
	}
	return 0;
}

static void waiting_add(struct server *srv, struct tcp_conn *c, uint64_t now)
{
	c->waiting = true;
	c->accepted_ms = now;
	c->wait_prev = NULL;
	c->wait_next = srv->tcp_waiting;
	if (srv->tcp_waiting)
		srv->tcp_waiting->wait_prev = c;
	srv->tcp_waiting = c;
	srv->n_tcp_waiting++;
	srv->tcp_waiting_by_src[c->src_slot]++;
}

static void waiting_remove(struct server *srv, struct tcp_conn *c)
{
	if (!c->waiting)
		return;
	c->waiting = false;
	if (c->wait_prev)
		c->wait_prev->wait_next = c->wait_next;
	else
		srv->tcp_waiting = c->wait_next;
	if (c->wait_next)
		c->wait_next->wait_prev = c->wait_prev;
	c->wait_prev = c->wait_next = NULL;
	srv->n_tcp_waiting--;
	srv->tcp_waiting_by_src[c->src_slot]--;
}

static void conn_close(struct server *srv, struct tcp_conn *c)
{
	if (c->dead)
		return;
	c->dead = true;
	waiting_remove(srv, c);
	epoll_ctl(srv->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	if (c->s) {
		struct session *s = c->s;

		c->s = NULL;
		s->conn = NULL;
		session_end(s, "TCP connection closed");
	}
	/* freed after the current batch of events, which may still point at it */
	c->next_dead = dead_conns;
	dead_conns = c;
}

void server_unregister_session(struct server *srv, struct session *s)
{
	if (srv->by_peer_id[s->peer_id] == s) {
		srv->by_peer_id[s->peer_id] = NULL;
		datapath_peer_id_live(srv, s->peer_id, false);
	}
	srv->n_sessions--;
	if (s->state == SESSION_CONNECTED)
		srv->n_connected--;
	if (s->transport == SESSION_UDP) {
		struct session **pp = &srv->by_remote[remote_hash((const struct sockaddr *)&s->remote)];

		for (; *pp; pp = &(*pp)->hash_next)
			if (*pp == s) {
				*pp = s->hash_next;
				break;
			}
	} else if (s->conn) {
		struct tcp_conn *c = s->conn;

		s->conn = NULL;
		c->s = NULL;
		conn_close(srv, c);
	}
}

void server_set_vaddr(struct server *srv, struct session *s, uint32_t vaddr)
{
	long idx = pool_index(srv->pool, vaddr ? vaddr : s->vaddr);

	if (idx < 0)
		return;
	srv->by_vaddr[idx] = vaddr ? s : NULL;
}

/* ---- output ---- */

static int tcp_send(struct server *srv, struct tcp_conn *c, const uint8_t *buf, size_t len)
{
	uint8_t hdr[2] = { (uint8_t)(len >> 8), (uint8_t)len };
	struct iovec iov[2] = { { hdr, 2 }, { (void *)buf, len } };
	size_t total = len + 2, done = 0;

	if (c->dead || c->broken)
		return -EPIPE;
	if (len > 0xffff)
		return -EINVAL;
	if (c->tx_len == 0) {
		ssize_t n = writev(c->fd, iov, 2);

		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			c->broken = true;
			c->next_broken = broken_conns;
			broken_conns = c;
			return -EPIPE;
		}
		done = n > 0 ? (size_t)n : 0;
		if (done == total)
			return 0;
	}
	if (c->tx_len + total - done > TCP_TX_MAX)
		return -ENOBUFS; /* a whole frame or nothing: the stream must stay in sync */
	if (c->tx_len + total - done > c->tx_cap) {
		size_t ncap = c->tx_cap ? c->tx_cap : 16384;
		uint8_t *n;

		while (ncap < c->tx_len + total - done)
			ncap *= 2;
		n = realloc(c->tx, ncap);
		if (!n)
			return -ENOMEM;
		c->tx = n;
		c->tx_cap = ncap;
	}
	for (size_t i = done; i < total; i++)
		c->tx[c->tx_len++] = i < 2 ? hdr[i] : buf[i - 2];
	{
		struct epoll_event ee = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };

		epoll_ctl(srv->epoll_fd, EPOLL_CTL_MOD, c->fd, &ee);
	}
	return 0;
}

static void tcp_flush(struct server *srv, struct tcp_conn *c)
{
	ssize_t n;

	while (c->tx_len > 0) {
		n = write(c->fd, c->tx, c->tx_len);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			conn_close(srv, c);
			return;
		}
		memmove(c->tx, c->tx + n, c->tx_len - (size_t)n);
		c->tx_len -= (size_t)n;
	}
	struct epoll_event ee = { .events = EPOLLIN, .data.ptr = c };

	epoll_ctl(srv->epoll_fd, EPOLL_CTL_MOD, c->fd, &ee);
}

int server_send_packet(struct server *srv, struct session *s, const uint8_t *buf, size_t len)
{
	if (s->transport == SESSION_TCP)
		return s->conn ? tcp_send(srv, s->conn, buf, len) : -ENOTCONN;
	if (srv->tx_batching && srv->udptx &&
	    udptx_queue(srv->udptx, (const struct sockaddr *)&s->remote, s->remote_len, &s->local, buf, len) == 0)
		return 0;
	if (udp_local_sendto(srv->udp_fd, buf, len, (const struct sockaddr *)&s->remote, s->remote_len, &s->local) < 0)
		return -errno;
	return 0;
}

int server_write_tun(struct server *srv, const uint8_t *ip, size_t len)
{
	return tuntx_write(srv->tuntx, ip, len);
}

/* ---- input ---- */

static bool src_token(const struct sockaddr *from, uint64_t now_ms)
{
	static struct { double tokens; uint64_t ms; } slots[RESET_SRC_SLOTS];
	const uint8_t *p = (const uint8_t *)&((const struct sockaddr_in *)from)->sin_addr;
	size_t n = 4;
	uint32_t h = 2166136261u;

	if (from->sa_family == AF_INET6) {
		p = (const uint8_t *)&((const struct sockaddr_in6 *)from)->sin6_addr;
		n = 8; /* the /64 */
	}
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	h %= RESET_SRC_SLOTS;
	if (slots[h].ms == 0)
		slots[h].tokens = RESET_SRC_BURST;
	slots[h].tokens += (double)(now_ms - slots[h].ms) * RESET_SRC_RATE / 1000.0;
	slots[h].ms = now_ms;
	if (slots[h].tokens > RESET_SRC_BURST)
		slots[h].tokens = RESET_SRC_BURST;
	if (slots[h].tokens < 1.0)
		return false;
	slots[h].tokens -= 1.0;
	return true;
}

static bool reset_token(struct server *srv, uint64_t now_ms)
{
	srv->reset_tokens += (double)(now_ms - srv->reset_tokens_ms) * RESET_RATE_PER_S / 1000.0;
	srv->reset_tokens_ms = now_ms;
	if (srv->reset_tokens > RESET_BURST)
		srv->reset_tokens = RESET_BURST;
	if (srv->reset_tokens < 1.0)
		return false;
	srv->reset_tokens -= 1.0;
	return true;
}

/* Answers a client's hard reset without keeping any state: our session id is the cookie. */
static void send_stateless_reset(struct server *srv, const struct ctl_packet *pkt, const struct sockaddr *from,
				 socklen_t fromlen, const struct udp_local *local, uint64_t now_ms)
{
	struct ctl_packet r;
	uint8_t buf[64];
	ssize_t n;

	if (!src_token(from, now_ms) || !reset_token(srv, now_ms))
		return;
	memset(&r, 0, sizeof(r));
	r.opcode = P_CONTROL_HARD_RESET_SERVER_V2;
	cookie_make(&srv->cookie, from, pkt->sid, now_ms / 1000, r.sid);
	r.n_acks = 1;
	r.acks[0] = 0;
	memcpy(r.peer_sid, pkt->sid, 8);
	r.mid = 0;
	n = packet_build_control(&r, buf, sizeof(buf));
	if (n > 0)
		udp_local_sendto(srv->udp_fd, buf, (size_t)n, from, fromlen, local);
}

static bool cookie_packet_ok(const struct server *srv, const struct ctl_packet *pkt, const struct sockaddr *from,
			     uint64_t now_ms)
{
	if ((pkt->opcode != P_CONTROL_V1 && pkt->opcode != P_ACK_V1) || pkt->key_id != 0 || pkt->n_acks == 0)
		return false;
	for (int i = 0; i < pkt->n_acks; i++)
		if (pkt->acks[i] > 1)
			return false;
	if (pkt->has_mid && pkt->mid > 1)
		return false;
	return cookie_verify(&srv->cookie, from, pkt->sid, now_ms / 1000, pkt->peer_sid);
}

static void on_udp_packet(struct server *srv, const uint8_t *buf, size_t len, const struct sockaddr *from,
			  socklen_t fromlen, const struct udp_local *local, uint64_t now_ms)
{
	struct ctl_packet pkt;
	struct session *s;
	uint8_t op;

	if (len < 1)
		return;
	op = packet_opcode(buf[0]);
	if (op == P_DATA_V2) {
		uint32_t peer_id;

		if (packet_data_peer_id(buf, len, &peer_id) < 0 || peer_id >= srv->table_size)
			return;
		s = srv->by_peer_id[peer_id];
		/* no floating yet: the peer-id must come from the session's own address */
		if (s && s->transport == SESSION_UDP && dp_same_remote((const struct sockaddr *)&s->remote, from))
			session_on_data(s, buf, len, now_ms);
		return;
	}
	if (op == P_DATA_V1) {
		s = lookup_remote(srv, from);
		if (s)
			session_on_data(s, buf, len, now_ms);
		return;
	}
	if (packet_parse_control(buf, len, &pkt) < 0) {
		srv->stat_bad_packets++;
		return;
	}
	s = lookup_remote(srv, from);
	if (s && memcmp(pkt.sid, s->peer_sid, 8) == 0) {
		session_on_control(s, &pkt, now_ms);
		return;
	}
	/* an unknown source, or a known one starting over with a new session id */
	if (pkt.opcode == P_CONTROL_HARD_RESET_CLIENT_V2 && pkt.key_id == 0 && pkt.mid == 0) {
		send_stateless_reset(srv, &pkt, from, fromlen, local, now_ms);
		return;
	}
	if (!cookie_packet_ok(srv, &pkt, from, now_ms))
		return;
	if (s)
		session_end(s, "client reconnected");
	s = session_new_udp(srv, from, fromlen, local, pkt.peer_sid, pkt.sid, now_ms);
	if (s)
		session_on_control(s, &pkt, now_ms);
}

static void on_udp_readable(struct server *srv)
{
	static uint8_t bufs[UDP_BATCH][UDP_BUF];
	struct sockaddr_storage from[UDP_BATCH];
	struct mmsghdr msgs[UDP_BATCH];
	struct iovec iov[UDP_BATCH];
	union {
		char buf[UDP_LOCAL_CMSG_SPACE];
		struct cmsghdr align;
	} ctl[UDP_BATCH];
	int n;

	/* what the datagrams decrypt to goes into the tun together, TCP segments coalesced */
	tuntx_batch(srv->tuntx, true);
	for (int round = 0; round < 8; round++) {
		for (int i = 0; i < UDP_BATCH; i++) {
			iov[i].iov_base = bufs[i];
			iov[i].iov_len = UDP_BUF;
			memset(&msgs[i], 0, sizeof(msgs[i]));
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
			msgs[i].msg_hdr.msg_name = &from[i];
			msgs[i].msg_hdr.msg_namelen = sizeof(from[i]);
			msgs[i].msg_hdr.msg_control = ctl[i].buf; /* where it came to, on a wildcard address */
			msgs[i].msg_hdr.msg_controllen = sizeof(ctl[i].buf);
		}
		n = recvmmsg(srv->udp_fd, msgs, UDP_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			break;
		uint64_t now = server_now_ms();

		for (int i = 0; i < n; i++) {
			struct udp_local local;

			if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC)
				continue;
			udp_local_from_msg(&msgs[i].msg_hdr, &local);
			on_udp_packet(srv, bufs[i], msgs[i].msg_len, (struct sockaddr *)&from[i],
				      msgs[i].msg_hdr.msg_namelen, &local, now);
		}
		tuntx_flush(srv->tuntx);
		if (n < UDP_BATCH)
			break;
	}
	tuntx_batch(srv->tuntx, false);
}

static void on_tcp_frame(struct server *srv, struct tcp_conn *c, const uint8_t *buf, size_t len, uint64_t now)
{
	struct ctl_packet pkt;
	uint8_t op;

	if (len < 1)
		return;
	op = packet_opcode(buf[0]);
	if (!c->s) {
		/* the first packet on a connection must be the client's hard reset */
		if (packet_parse_control(buf, len, &pkt) < 0 || pkt.opcode != P_CONTROL_HARD_RESET_CLIENT_V2 ||
		    pkt.key_id != 0 || pkt.mid != 0) {
			conn_close(srv, c);
			return;
		}
		c->s = session_new_tcp(srv, c->fd, (struct sockaddr *)&c->remote, c->remote_len, &pkt, now);
		if (!c->s) {
			conn_close(srv, c);
			return;
		}
		waiting_remove(srv, c); /* the session's handshake window bounds it from now */
		c->s->conn = c;
		session_tick(c->s, now);
		return;
	}
	if (packet_is_data(op)) {
		session_on_data(c->s, buf, len, now);
		return;
	}
	if (packet_parse_control(buf, len, &pkt) < 0 || memcmp(pkt.sid, c->s->peer_sid, 8) != 0) {
		srv->stat_bad_packets++;
		return;
	}
	session_on_control(c->s, &pkt, now);
}

static void on_tcp_readable(struct server *srv, struct tcp_conn *c)
{
	ssize_t n;
	size_t off;

	while (!c->dead) {
		n = read(c->fd, c->rx + c->rx_len, sizeof(c->rx) - c->rx_len);
		if (n == 0) {
			conn_close(srv, c);
			return;
		}
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				conn_close(srv, c);
			return;
		}
		c->rx_len += (size_t)n;
		off = 0;
		uint64_t now = server_now_ms();

		while (!c->dead && c->rx_len - off >= 2) {
			size_t flen = (size_t)c->rx[off] << 8 | c->rx[off + 1];

			if (flen > TCP_FRAME_MAX) {
				log_warnx("TCP client sent a %zu-byte frame; closing", flen);
				conn_close(srv, c);
				return;
			}
			if (c->rx_len - off - 2 < flen)
				break;
			on_tcp_frame(srv, c, c->rx + off + 2, flen, now);
			off += 2 + flen;
		}
		if (c->dead)
			return;
		memmove(c->rx, c->rx + off, c->rx_len - off);
		c->rx_len -= off;
	}
}

/* Out of descriptors (or kernel memory): the pending connection stays in the backlog and the listener stays
 * readable, so epoll would report it again at once, forever. The listener rests until the next tick instead
 * (the waiting connections that time out meanwhile give descriptors back). */
static void pause_accept(struct server *srv, int err)
{
	struct epoll_event ee = { .events = 0, .data.ptr = &ev_listen };
	uint64_t now = server_now_ms();

	if (epoll_ctl(srv->epoll_fd, EPOLL_CTL_MOD, srv->tcp_listen_fd, &ee) == 0)
		srv->accept_paused = true;
	if (now - srv->accept_failed_logged_ms >= 10000 || !srv->accept_failed_logged_ms) {
		srv->accept_failed_logged_ms = now;
		log_warnx("cannot accept TCP connections: %s; trying again every %d ms", strerror(err), TICK_MS);
	}
}

static void resume_accept(struct server *srv)
{
	struct epoll_event ee = { .events = EPOLLIN, .data.ptr = &ev_listen };

	if (srv->accept_paused && epoll_ctl(srv->epoll_fd, EPOLL_CTL_MOD, srv->tcp_listen_fd, &ee) == 0)
		srv->accept_paused = false;
}

/* Connections that sent no whole packet in SERVER_TCP_FIRST_PACKET_MS are closed: they hold a descriptor
 * and 4 KiB each, and nothing else would ever end them. */
static void expire_waiting(struct server *srv, uint64_t now)
{
	struct tcp_conn *c = srv->tcp_waiting, *next;

	for (; c; c = next) {
		next = c->wait_next;
		if (now - c->accepted_ms >= SERVER_TCP_FIRST_PACKET_MS) {
			srv->stat_refused_halfopen++;
			conn_close(srv, c);
		}
	}
}

static void on_accept(struct server *srv)
{
	for (;;) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(srv->tcp_listen_fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct tcp_conn *c;
		unsigned slot;
		int one = 1;

		if (fd < 0) {
			int err = errno;

			if (err == ECONNABORTED || err == EINTR)
				continue;
			if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM)
				pause_accept(srv, err);
			return; /* EAGAIN: all taken */
		}
		slot = src_slot((const struct sockaddr *)&ss);
		if (srv->n_tcp_waiting >= SERVER_HALFOPEN_MAX ||
		    srv->tcp_waiting_by_src[slot] >= SERVER_HALFOPEN_PER_SOURCE) {
			srv->stat_refused_halfopen++;
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->ev.kind = EV_TCP;
		c->fd = fd;
		c->srv = srv;
		memcpy(&c->remote, &ss, sl);
		c->remote_len = sl;
		c->src_slot = slot;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct epoll_event ee = { .events = EPOLLIN, .data.ptr = c };

		if (epoll_ctl(srv->epoll_fd, EPOLL_CTL_ADD, fd, &ee) < 0) {
			close(fd);
			free(c);
			continue;
		}
		waiting_add(srv, c, server_now_ms());
	}
}

/* The session an IPv4 packet from the tun is for, or NULL. */
static struct session *session_for(struct server *srv, const uint8_t *ip, size_t len)
{
	uint32_t dst;
	long idx;

	if (len < 20 || (ip[0] >> 4) != 4)
		return NULL;
	memcpy(&dst, ip + 16, 4);
	idx = pool_index(srv->pool, ntohl(dst));
	return idx >= 0 ? srv->by_vaddr[idx] : NULL;
}

/* A packet a worker read from the tun and had no session for: one this thread keeps (TCP, no peer-id), or
 * none. The workers cut super-packets, so this is one wire packet. */
void server_on_tun_packet(struct server *srv, const uint8_t *ip, size_t len)
{
	struct session *s = session_for(srv, ip, len);

	if (s)
		session_send_ip(s, ip, len, server_now_ms());
}

/* TCP endpoints: the control thread reads the tun itself (it has every session, so there are no workers).
 * A read with the vnet header: a super-packet is cut into wire-size packets, all for one client. */
static void tun_offload_in(struct server *srv, uint8_t *buf, size_t n, uint64_t now)
{
	static uint8_t seg[OFFLOAD_IP_MAX];
	struct offload_seg os;
	struct session *s;
	ssize_t len;

	if (offload_seg_init(&os, buf, n) < 0) {
		srv->stat_bad_packets++;
		return;
	}
	s = session_for(srv, os.pkt, os.len);
	if (!s)
		return;
	if (os.nsegs == 1) {
		session_send_ip(s, os.pkt, os.len, now);
		return;
	}
	while ((len = offload_seg_next(&os, seg, sizeof(seg))) > 0)
		session_send_ip(s, seg, (size_t)len, now);
}

static void on_tun_readable(struct server *srv)
{
	static uint8_t buf[OFFLOAD_READ_MAX];
	uint64_t now = server_now_ms();

	for (int i = 0; i < TUN_BATCH; i++) {
		ssize_t n = read(srv->tun_fd, buf, sizeof(buf));
		struct session *s;

		if (n <= 0)
			break;
		if (srv->tun_offload) {
			tun_offload_in(srv, buf, (size_t)n, now);
			continue;
		}
		s = session_for(srv, buf, (size_t)n);
		if (s)
			session_send_ip(s, buf, (size_t)n, now);
	}
}

void server_on_datagram(struct server *srv, const uint8_t *buf, size_t len, const struct sockaddr *from,
			socklen_t from_len, const struct udp_local *local)
{
	on_udp_packet(srv, buf, len, from, from_len, local, server_now_ms());
}

void server_output_batch(struct server *srv, bool on)
{
	if (on) {
		tuntx_batch(srv->tuntx, true);
		srv->tx_batching = true;
		return;
	}
	tuntx_flush(srv->tuntx);
	tuntx_batch(srv->tuntx, false);
	srv->tx_batching = false;
	if (srv->udptx)
		udptx_flush(srv->udptx);
}

static void on_tick(struct server *srv)
{
	uint64_t expirations, now = server_now_ms();

	if (read(srv->timer_fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		log_warn("timerfd");
	/* the kernel's counters (one dump for every peer), for the ticks' packet-count renegotiation: the
	 * margin below the packet-id's end is 268M packets, 26 s even at 10M packets a second */
	if (srv->dco && now - srv->dco_pulled_ms >= DCO_PULL_MS) {
		srv->dco_pulled_ms = now;
		datapath_pull_all(srv);
	}
	for (uint32_t i = 0; i < srv->table_size; i++)
		if (srv->by_peer_id[i])
			session_tick(srv->by_peer_id[i], now);
	recount_halfopen(srv);
	expire_waiting(srv, now);
	resume_accept(srv);
	enforce_tick(srv);
	if (srv->links_unsure)
		enforce_check_links(srv);
	track_tick(srv, now);
	if (srv->mgmt)
		mgmt_tick(srv->mgmt, now);
}

/* SIGHUP: the same as `cvpnctl reload`, with the reasons in the daemon's log. */
static void reload_on_signal(struct server *srv)
{
	char *buf = NULL, *save = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f) {
		log_warn("SIGHUP");
		return;
	}
	if (server_reload(srv, f) < 0) {
		fclose(f);
		log_warnx("SIGHUP: configuration not reloaded; the running configuration (version %llu) stays",
			  (unsigned long long)srv->cfg_version);
		for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
			log_warnx("  %s", line);
	} else {
		fclose(f);
		for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
			log_warnx("SIGHUP: %s", line);
	}
	free(buf);
}

static void on_signal(struct server *srv)
{
	struct signalfd_siginfo si;

	while (read(srv->signal_fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			log_info("signal %u: stopping", si.ssi_signo);
			srv->stop = true;
			break;
		case SIGHUP:
			reload_on_signal(srv);
			break;
		case SIGUSR1: {
			int err = track_reopen_log(srv->track);

			if (err < 0)
				log_warnx("SIGUSR1: cannot reopen the connection log %s: %s", srv->cfg->connection_log,
					  strerror(-err));
			else if (srv->cfg->connection_log)
				log_info("SIGUSR1: connection log reopened");
			else
				log_info("SIGUSR1: no connection log to reopen");
			break;
		}
		}
	}
}

/* ---- setup and teardown ---- */

static int parse_listen(const struct config *cfg, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, cfg->listen_address, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(cfg->port);
		*len = sizeof(*in);
		return 0;
	}
	if (inet_pton(AF_INET6, cfg->listen_address, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(cfg->port);
		*len = sizeof(*in6);
		return 0;
	}
	return -EINVAL;
}

/* 0.0.0.0 or :: */
static bool wildcard_address(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ((const struct sockaddr_in *)sa)->sin_addr.s_addr == htonl(INADDR_ANY);
	return sa->sa_family == AF_INET6 && IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)sa)->sin6_addr);
}

int server_udp_socket(const struct sockaddr *sa, socklen_t sl, bool reuseport)
{
	/* every client's datagrams share these sockets: the default ~200 KiB overflows under a burst of a few
	 * hundred clients long before the loop is busy. FORCE (CAP_NET_ADMIN) passes rmem_max. */
	int fd = socket(sa->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
	int bytes = UDP_SOCKET_BUFFER;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof(bytes)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
	/* on a wildcard address each session answers from the address it came to (cvpn/udp_local.h) */
	if ((wildcard_address(sa) && udp_local_enable(fd, sa->sa_family) < 0) ||
	    (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) || bind(fd, sa, sl) < 0) {
		int err = errno;

		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

/* The port is free: the sockets of the workers share it by SO_REUSEPORT, which would as well let a second
 * daemon join the group silently. A plain bind first finds one that is already there. */
static int udp_port_free(const struct sockaddr *sa, socklen_t sl)
{
	int fd = socket(sa->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0), err;

	if (fd < 0)
		return -1;
	err = bind(fd, sa, sl);
	close(fd);
	return err;
}

static int open_listener(struct server *srv)
{
	const struct config *cfg = srv->cfg;
	struct sockaddr_storage ss;
	socklen_t sl;
	int one = 1, fd;
	bool tcp = cfg->transport == CONFIG_TRANSPORT_TCP;

	if (parse_listen(cfg, &ss, &sl) < 0) {
		log_warnx("listen address %s is not an IP address", cfg->listen_address);
		return -1;
	}
	if (!tcp) {
		if (udp_port_free((struct sockaddr *)&ss, sl) < 0 ||
		    (fd = server_udp_socket((struct sockaddr *)&ss, sl, true)) < 0) {
			log_warn("cannot listen on %s port %u", cfg->listen_address, cfg->port);
			return -1;
		}
		srv->udp_fd = fd;
		srv->udptx = udptx_new(fd, true);
		if (!srv->udptx) {
			log_warnx("out of memory");
			return -1;
		}
		return 0;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_warn("socket");
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 1024) < 0) {
		log_warn("cannot listen on %s port %u", cfg->listen_address, cfg->port);
		close(fd);
		return -1;
	}
	srv->tcp_listen_fd = fd;
	return 0;
}

static int epoll_add(struct server *srv, int fd, struct ev *ev)
{
	struct epoll_event ee = { .events = EPOLLIN, .data.ptr = ev };

	return epoll_ctl(srv->epoll_fd, EPOLL_CTL_ADD, fd, &ee);
}

/* An fd of another module (the authentication workers' completion eventfd): fn runs when it is readable. */
struct ev_watch {
	struct ev ev;                /* first: epoll hands back a pointer to it */
	void (*fn)(void *arg);
	void *arg;
	struct ev_watch *next;
};
static struct ev_watch *watches;

int server_watch_fd(struct server *srv, int fd, void (*fn)(void *arg), void *arg)
{
	struct ev_watch *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	w->ev.kind = EV_WATCH;
	w->fn = fn;
	w->arg = arg;
	if (epoll_add(srv, fd, &w->ev) < 0) {
		int err = -errno;

		free(w);
		return err;
	}
	w->next = watches;
	watches = w;
	return 0;
}

static int install_kernel_objects(struct server *srv)
{
	const struct config *cfg = srv->cfg;
	int err;

	err = route_tun_configure(srv->tun_ifname, pool_gateway_address(srv->pool), cfg->client_cidr.len, 1500);
	if (err < 0) {
		log_warnx("cannot configure %s: %s", srv->tun_ifname, strerror(-err));
		return -1;
	}
	srv->tun_up = true;
	err = route_enable_forwarding(&srv->forwarding_was_on);
	if (err < 0) {
		log_warnx("cannot enable IPv4 forwarding: %s", strerror(-err));
		return -1;
	}
	srv->forwarding_set = true;
	/* link events before the first read of the links' state, so no change can slip between the two */
	srv->rtnl_fd = route_link_monitor_open();
	if (srv->rtnl_fd < 0) {
		log_warnx("cannot watch link events: %s", strerror(-srv->rtnl_fd));
		return -1;
	}
	return enforce_init(srv);
}

/* "Version of the applied config": the hash says which file content it was, whoever edited it since. */
static int file_sha256(const char *path, char hex[65])
{
	unsigned char md[EVP_MAX_MD_SIZE], buf[8192];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	FILE *f = fopen(path, "re");
	size_t n;
	int ret = -EIO;

	if (!f || !ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
		goto out;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		if (!EVP_DigestUpdate(ctx, buf, n))
			goto out;
	if (ferror(f) || !EVP_DigestFinal_ex(ctx, md, &mdlen))
		goto out;
	for (unsigned int i = 0; i < mdlen && i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	ret = 0;
out:
	if (f)
		fclose(f);
	EVP_MD_CTX_free(ctx);
	return ret;
}

static int open_operations(struct server *srv)
{
	const struct config *cfg = srv->cfg;
	const char *sock = cfg->control_socket ? cfg->control_socket : CONFIG_DEFAULT_CONTROL_SOCKET;
	int err;

	srv->started_at = time(NULL);
	srv->cfg_version = 1;
	if (file_sha256(cfg->path, srv->cfg_sha256) < 0)
		snprintf(srv->cfg_sha256, sizeof(srv->cfg_sha256), "unknown");
	err = track_new(cfg->connection_log, &srv->track);
	if (err < 0) {
		log_warnx("cannot open the connection log %s: %s", cfg->connection_log, strerror(-err));
		return -1;
	}
	err = mgmt_open(sock, cfg->control_socket_group, srv, &srv->mgmt);
	if (err < 0) {
		log_warnx("cannot create the control socket %s: %s%s", sock, strerror(-err),
			  err == -EPERM ? " (its directory must belong to root and not be writable by others)" :
			  err == -EADDRINUSE ? " (another cvpnd answers on it)" : "");
		return -1;
	}
	return 0;
}

static unsigned online_cpus(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (cpus < 1)
		return 1;
	return cpus > CONFIG_MAX_DATA_WORKERS ? CONFIG_MAX_DATA_WORKERS : (unsigned)cpus;
}

/* The workers there will be: data-workers, or one per online CPU. */
static unsigned worker_count(const struct config *cfg)
{
	return cfg->data_workers ? cfg->data_workers : online_cpus();
}

static void on_handshake_steps(void *arg)
{
	struct server *srv = arg;
	struct hs_job *j = hs_pool_take_done(srv->handshakes), *next;
	uint64_t now = server_now_ms();

	for (; j; j = next) {
		next = j->next;
		session_on_handshake_step(j, now);
	}
}

/* The handshake threads: handshake-threads, or one per online CPU; none when 0. */
static int start_handshake_threads(struct server *srv)
{
	int n = srv->cfg->handshake_threads;
	unsigned threads = n < 0 ? online_cpus() : (unsigned)n;

	if (threads == 0) {
		log_info("TLS handshakes on the control thread");
		return 0;
	}
	srv->handshakes = hs_pool_new(threads);
	if (!srv->handshakes || server_watch_fd(srv, hs_pool_fd(srv->handshakes), on_handshake_steps, srv) < 0) {
		log_warn("handshake threads");
		return -1;
	}
	log_info("%u handshake thread%s", threads, threads == 1 ? "" : "s");
	return 0;
}

/* Where a running cvpnd with this config answers: no control-socket in the config means the default. */
static const char *control_socket_of(const struct config *cfg)
{
	return cfg->control_socket ? cfg->control_socket : CONFIG_DEFAULT_CONTROL_SOCKET;
}

/* data-channel: kernel: the kernel's OpenVPN interface instead of the tun, and no data workers. One that a
 * crashed cvpnd left goes first: its peers would otherwise go on forwarding for sessions nobody controls. */
static int open_dco(struct server *srv)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int err;

	if (mgmt_socket_live(control_socket_of(srv->cfg))) {
		log_warnx("another cvpnd answers on %s: its kernel data channel interface is not touched",
			  control_socket_of(srv->cfg));
		return -1;
	}
	err = dco_remove_stale(DCO_IFNAME_PREFIX);
	if (err > 0)
		log_warnx("removed %d kernel data channel interface%s left by an earlier cvpnd", err, err == 1 ? "" : "s");
	else if (err < 0)
		log_warnx("cannot look for kernel data channel interfaces left by an earlier cvpnd: %s", strerror(-err));
	err = dco_open(&srv->dco, DCO_IFNAME_PREFIX, srv->tun_ifname);
	if (err == -ENOTSUP) {
		log_warnx("data-channel: kernel, but this kernel has no OpenVPN data channel module (ovpn, in Linux "
			  "6.16 and later, or ovpn-dco-v2: Debian 12's openvpn-dco-dkms); use data-channel: userspace");
		return -1;
	}
	if (err < 0) {
		log_warnx("cannot create the kernel data channel interface: %s", strerror(-err));
		return -1;
	}
	/* the module floats a peer to any source of a packet with its peer-id, before decrypting it: the guard
	 * admits data only from live sessions' remotes (cvpn/dco_guard.h). No guard, no kernel data channel. */
	if (parse_listen(srv->cfg, &ss, &sl) < 0)
		err = -EINVAL;
	else
		err = dco_guard_install((const struct sockaddr *)&ss, sl);
	if (err < 0) {
		log_warnx("cannot install table inet %s (the kernel data channel's guard): %s%s", DCO_GUARD_TABLE,
			  strerror(-err), nft_refusal());
		dco_close(srv->dco);
		srv->dco = NULL;
		return -1;
	}
	srv->n_workers = 0;
	srv->tun_fd = -1;
	srv->tun_offload = false;
	return 0;
}

int server_after_exit(const char *control_socket)
{
	int n, err;

	if (mgmt_socket_live(control_socket ? control_socket : CONFIG_DEFAULT_CONTROL_SOCKET))
		return -EBUSY;
	/* the interfaces first: the guard goes only once nothing it guards forwards */
	n = dco_remove_stale(DCO_IFNAME_PREFIX);
	if (n < 0)
		return n;
	/* else it would go on dropping data packets to the port for whatever OpenVPN server runs there next */
	err = dco_guard_remove();
	return err < 0 ? err : n;
}

/* The tun, one queue per worker, steered by client address; without the steering program (no BPF here)
 * one worker does it all, as a flow hash would otherwise hand a session's packets to the wrong one. */
static int open_tun(struct server *srv)
{
	bool tcp = srv->cfg->transport == CONFIG_TRANSPORT_TCP;
	unsigned n = tcp ? 1 : worker_count(srv->cfg);
	int err;

	if (srv->cfg->data_channel_kernel)
		return open_dco(srv);
	/* a guard a crashed kernel-mode run left would drop every data packet to this port */
	if (!mgmt_socket_live(control_socket_of(srv->cfg)) && (err = dco_guard_remove()) < 0)
		log_warnx("cannot remove table inet %s: %s%s", DCO_GUARD_TABLE, strerror(-err), nft_refusal());
	snprintf(srv->tun_ifname, sizeof(srv->tun_ifname), "cvpn-tun%%d");
	srv->tun_offload = true;
	if (tun_open_queues(srv->tun_ifname, &srv->tun_offload, srv->tun_fds, n) < 0) {
		log_warn("cannot open a tun device with %u queue%s", n, n == 1 ? "" : "s");
		return -1;
	}
	/* a TCP endpoint's sessions all stay with the control thread, which reads the tun itself */
	srv->n_workers = tcp ? 0 : n;
	srv->tun_fd = srv->tun_fds[0];
	if (n > 1 && (err = steer_tun_attach(srv->tun_fd, n)) < 0) {
		log_warnx("cannot steer the tun's queues (%s): one data worker instead of %u", strerror(-err), n);
		while (srv->n_workers > 1) {
			close(srv->tun_fds[--srv->n_workers]);
			srv->tun_fds[srv->n_workers] = -1;
		}
	}
	return 0;
}

int server_init(struct server *srv, struct config *cfg)
{
	char err[256];
	sigset_t mask;
	struct itimerspec its = { { 0, TICK_MS * 1000000 }, { 0, TICK_MS * 1000000 } };
	uint32_t n_addrs;

	memset(srv, 0, sizeof(*srv));
	srv->cfg = cfg;
	srv->udp_fd = srv->tcp_listen_fd = srv->tun_fd = srv->epoll_fd = srv->signal_fd = srv->timer_fd = -1;
	srv->rtnl_fd = -1;
	for (unsigned i = 0; i < CONFIG_MAX_DATA_WORKERS; i++)
		srv->tun_fds[i] = srv->worker_udp_fds[i] = -1;
	srv->reset_tokens = RESET_BURST;
	srv->reset_tokens_ms = server_now_ms();

	srv->pool = pool_new(cfg->client_cidr);
	if (!srv->pool) {
		log_warn("client CIDR");
		return -1;
	}
	n_addrs = 1u << (32 - cfg->client_cidr.len);
	srv->by_vaddr = calloc(n_addrs, sizeof(*srv->by_vaddr));
	srv->table_size = cfg->max_connections + SERVER_HANDSHAKE_SLACK;
	srv->by_peer_id = calloc(srv->table_size, sizeof(*srv->by_peer_id));
	srv->halfopen_by_src = calloc(SERVER_HALFOPEN_SLOTS, sizeof(*srv->halfopen_by_src));
	srv->tcp_waiting_by_src = calloc(SERVER_HALFOPEN_SLOTS, sizeof(*srv->tcp_waiting_by_src));
	if (!srv->by_vaddr || !srv->by_peer_id || !srv->halfopen_by_src || !srv->tcp_waiting_by_src) {
		log_warnx("out of memory");
		return -1;
	}
	if (auth_tls_ctx(cfg, &srv->tls, err, sizeof(err)) < 0) {
		log_warnx("TLS: %s", err);
		return -1;
	}
	if (cookie_key_init(&srv->cookie, cfg->handshake_window) < 0) {
		log_warn("cookie key");
		return -1;
	}
	if (open_tun(srv) < 0)
		return -1;
	srv->tuntx = tuntx_new(srv->tun_fd, srv->tun_offload);
	if (!srv->tuntx) {
		log_warnx("out of memory");
		return -1;
	}
	if (!srv->tun_offload && !srv->dco)
		log_info("tun %s without offloads: one packet per read and write", srv->tun_ifname);
	if (install_kernel_objects(srv) < 0)
		return -1;
	if (open_listener(srv) < 0)
		return -1;
	if (open_operations(srv) < 0)
		return -1;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	srv->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	srv->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	srv->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (srv->signal_fd < 0 || srv->timer_fd < 0 || srv->epoll_fd < 0 ||
	    timerfd_settime(srv->timer_fd, 0, &its, NULL) < 0) {
		log_warn("event loop setup");
		return -1;
	}
	if (epoll_add(srv, srv->signal_fd, &ev_signal) < 0 ||
	    epoll_add(srv, srv->timer_fd, &ev_timer) < 0 || epoll_add(srv, srv->rtnl_fd, &ev_link) < 0 ||
	    (srv->udp_fd >= 0 && epoll_add(srv, srv->udp_fd, &ev_udp) < 0) ||
	    (srv->tcp_listen_fd >= 0 && epoll_add(srv, srv->tcp_listen_fd, &ev_listen) < 0) ||
	    (srv->n_workers == 0 && srv->tun_fd >= 0 && epoll_add(srv, srv->tun_fd, &ev_tun) < 0) ||
	    epoll_add(srv, mgmt_fd(srv->mgmt), &ev_mgmt) < 0) {
		log_warn("epoll");
		return -1;
	}
	if (auth_new(srv, &srv->auth) < 0) {
		log_warn("authentication workers");
		return -1;
	}
	/* after the signal mask: the worker threads inherit it */
	if (datapath_start(srv) < 0 || start_handshake_threads(srv) < 0)
		return -1;
	{
		char gw[16];

		config_format_ipv4(pool_gateway_address(srv->pool), gw);
		log_info("ready: endpoint %s listening on %s %s port %u, tun %s %s/%u, %u client addresses",
			 cfg->endpoint_id, cfg->transport == CONFIG_TRANSPORT_TCP ? "tcp" : "udp", cfg->listen_address,
			 cfg->port, srv->tun_ifname, gw, cfg->client_cidr.len, pool_size(srv->pool));
	}
	return 0;
}

static void close_broken_conns(struct server *srv)
{
	while (broken_conns) {
		struct tcp_conn *c = broken_conns;

		broken_conns = c->next_broken;
		conn_close(srv, c); /* nothing if something else closed it meanwhile */
	}
}

static void free_dead_conns(void)
{
	while (dead_conns) {
		struct tcp_conn *c = dead_conns;

		dead_conns = c->next_dead;
		free(c->tx);
		free(c);
	}
}

int server_run(struct server *srv)
{
	struct epoll_event events[64];

	while (!srv->stop) {
		int n = epoll_wait(srv->epoll_fd, events, 64, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_warn("epoll_wait");
			return -1;
		}
		for (int i = 0; i < n; i++) {
			struct ev *ev = events[i].data.ptr;

			switch (ev->kind) {
			case EV_UDP:
				on_udp_readable(srv);
				break;
			case EV_LISTEN:
				on_accept(srv);
				break;
			case EV_TUN:
				on_tun_readable(srv);
				break;
			case EV_LINK:
				enforce_on_link_events(srv);
				break;
			case EV_TIMER:
				on_tick(srv);
				break;
			case EV_SIGNAL:
				on_signal(srv);
				break;
			case EV_MGMT:
				datapath_pull_all(srv); /* what the workers counted, for status and metrics */
				mgmt_dispatch(srv->mgmt, server_now_ms());
				break;
			case EV_WATCH: {
				struct ev_watch *w = (struct ev_watch *)ev;

				w->fn(w->arg);
				break;
			}
			case EV_TCP: {
				struct tcp_conn *c = (struct tcp_conn *)ev;

				if (!c->dead && (events[i].events & EPOLLOUT))
					tcp_flush(srv, c);
				if (!c->dead && (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
					on_tcp_readable(srv, c);
				break;
			}
			}
			close_broken_conns(srv);
		}
		free_dead_conns();
	}
	return 0;
}

void server_cleanup(struct server *srv)
{
	if (srv->by_peer_id)
		for (uint32_t i = 0; i < srv->table_size; i++)
			if (srv->by_peer_id[i])
				session_end(srv->by_peer_id[i], "gateway stopping");
	close_broken_conns(srv);
	while (srv->tcp_waiting)
		conn_close(srv, srv->tcp_waiting);
	free_dead_conns();
	datapath_stop(srv); /* after the sessions: their last commands (peers gone) are drained */
	hs_pool_free(srv->handshakes); /* after the sessions too: their steps still out are orphans now */
	srv->handshakes = NULL;
	auth_free(srv->auth); /* after the sessions: their logins in progress were cancelled */
	srv->auth = NULL;
	while (watches) {
		struct ev_watch *w = watches;

		watches = w->next;
		free(w);
	}
	mgmt_close(srv->mgmt);
	srv->mgmt = NULL;
	track_free(srv->track); /* after the sessions: their end records are written */
	srv->track = NULL;
	enforce_cleanup(srv);
	if (srv->forwarding_set)
		route_restore_forwarding(srv->forwarding_was_on);
	if (srv->rtnl_fd >= 0)
		close(srv->rtnl_fd);
	/* the tun is not persistent: closing its last fd deletes it with its address and routes */
	int fds[] = { srv->udp_fd, srv->tcp_listen_fd, srv->epoll_fd, srv->signal_fd, srv->timer_fd };

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	for (unsigned i = 0; i < CONFIG_MAX_DATA_WORKERS; i++)
		if (srv->tun_fds[i] >= 0)
			close(srv->tun_fds[i]);
	srv->tun_fd = -1;
	if (srv->dco) {
		dco_close(srv->dco); /* the kernel's interface is: it goes with its peers */
		srv->dco = NULL;
		/* after the peers: no moment without it while they forward */
		int err = dco_guard_remove();

		if (err < 0)
			log_warnx("cannot remove table inet %s: %s%s", DCO_GUARD_TABLE, strerror(-err), nft_refusal());
	}
	udptx_free(srv->udptx);
	srv->udptx = NULL;
	tuntx_free(srv->tuntx);
	srv->tuntx = NULL;
	tls_ctx_free(srv->tls);
	pool_free(srv->pool);
	free(srv->by_vaddr);
	free(srv->by_peer_id);
	free(srv->halfopen_by_src);
	free(srv->tcp_waiting_by_src);
	free(srv->addr_quarantine);
	config_free(srv->cfg);
	srv->cfg = NULL;
}

/* ---- reload ---- */

static bool same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

/* Settings the running gateway is built on. Changing them would mean new sockets, a new tun or new client
 * files: refuse, and say which, rather than apply half of it. */
static int check_immutable(const struct config *old, const struct config *new, FILE *errs)
{
	int bad = 0;

	if (old->client_cidr.addr != new->client_cidr.addr || old->client_cidr.len != new->client_cidr.len) {
		fprintf(errs, "%s: client-cidr cannot change on reload (sessions hold addresses from it); restart "
			      "cvpnd to apply it\n", new->path);
		bad = -1;
	}
	if (old->transport != new->transport) {
		fprintf(errs, "%s: listen transport cannot change on reload; restart cvpnd and re-export the client "
			      "configuration\n", new->path);
		bad = -1;
	}
	if (old->port != new->port) {
		fprintf(errs, "%s: listen port cannot change on reload (%u -> %u); restart cvpnd to apply it\n",
			new->path, old->port, new->port);
		bad = -1;
	}
	if (!same_str(old->listen_address, new->listen_address)) {
		fprintf(errs, "%s: listen address cannot change on reload (%s -> %s); restart cvpnd to apply it\n",
			new->path, old->listen_address, new->listen_address);
		bad = -1;
	}
	if (old->data_channel_kernel != new->data_channel_kernel) {
		fprintf(errs, "%s: data-channel cannot change on reload; restart cvpnd to apply it\n", new->path);
		bad = -1;
	}
	if (old->data_workers != new->data_workers || old->handshake_threads != new->handshake_threads) {
		fprintf(errs, "%s: data-workers and handshake-threads cannot change on reload; restart cvpnd to "
			      "apply them\n", new->path);
		bad = -1;
	}
	if (!same_str(old->control_socket, new->control_socket) ||
	    !same_str(old->control_socket_group, new->control_socket_group)) {
		fprintf(errs, "%s: control-socket cannot change on reload; restart cvpnd to apply it\n", new->path);
		bad = -1;
	}
	return bad;
}

int server_reload(struct server *srv, FILE *errs)
{
	struct config *ncfg = NULL;
	struct tls_ctx *ntls = NULL;
	char tlserr[256], hash[65];
	bool log_changed;
	int err, ret = -1;

	if (file_sha256(srv->cfg->path, hash) < 0)
		snprintf(hash, sizeof(hash), "unknown");
	if (config_load(srv->cfg->path, errs, &ncfg) < 0) {
		fprintf(errs, "%s: configuration has errors, not reloading\n", srv->cfg->path);
		goto out;
	}
	if (check_immutable(srv->cfg, ncfg, errs) < 0)
		goto out;
	/* certificates and keys are read again: a renewed server certificate applies to new handshakes
	 * (wolfSSL keeps the old context alive for the sessions still using it) */
	if (auth_tls_ctx(ncfg, &ntls, tlserr, sizeof(tlserr)) < 0) {
		fprintf(errs, "%s: TLS: %s\n", ncfg->path, tlserr);
		goto out;
	}
	if (ncfg->max_connections + SERVER_HANDSHAKE_SLACK > srv->table_size) {
		uint32_t n = ncfg->max_connections + SERVER_HANDSHAKE_SLACK;
		struct session **t = realloc(srv->by_peer_id, n * sizeof(*t));

		if (!t) {
			fprintf(errs, "%s: out of memory for max-connections %u\n", ncfg->path, ncfg->max_connections);
			goto out;
		}
		memset(t + srv->table_size, 0, (n - srv->table_size) * sizeof(*t));
		srv->by_peer_id = t;
		srv->table_size = n;
		/* before any session can take one of the new peer-ids: the workers pass those up from now */
		atomic_store_explicit(&srv->peer_id_limit, n, memory_order_relaxed);
	}
	log_changed = !same_str(srv->cfg->connection_log, ncfg->connection_log);
	if (log_changed && ncfg->connection_log) {
		/* a trial open, so a bad path fails the reload before the kernel is touched */
		struct connlog *probe = NULL;

		err = connlog_open(ncfg->connection_log, &probe);
		connlog_close(probe);
		if (err < 0) {
			fprintf(errs, "%s: cannot open the connection log %s: %s\n", ncfg->path,
				ncfg->connection_log, strerror(-err));
			goto out;
		}
	}
	/* Kernel state last: everything that can fail without side effects has been done. The new policy
	 * replaces the running one in one batch, every live session's elements included. */
	if (enforce_reload(srv, ncfg, errs) < 0)
		goto out;
	if (log_changed && (err = track_set_log(srv->track, ncfg->connection_log)) < 0)
		log_warnx("reload: cannot switch the connection log to %s: %s; keeping the old one",
			  ncfg->connection_log, strerror(-err));
	/* Swap. Push options, keepalive, timeouts, banner, max-connections and ciphers apply to new sessions
	 * (session timeout also to the running ones: a lower value ends older sessions at the next tick). */
	tls_ctx_free(srv->tls);
	srv->tls = ntls;
	ntls = NULL;
	config_free(srv->cfg);
	srv->cfg = ncfg;
	ncfg = NULL;
	srv->cfg_version++;
	memcpy(srv->cfg_sha256, hash, sizeof(hash));
	log_info("configuration reloaded: version %llu, sha256 %s", (unsigned long long)srv->cfg_version,
		 srv->cfg_sha256);
	ret = 0;
out:
	tls_ctx_free(ntls);
	config_free(ncfg);
	return ret;
}
