// SPDX-License-Identifier: GPL-2.0-or-later
/* A data worker (worker.h): its thread, its session tables, and the two rings to the control thread. */
#define _GNU_SOURCE /* recvmmsg */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "cvpn/aead.h"
#include "cvpn/offload.h"
#include "cvpn/packet.h"
#include "cvpn/ring.h"
#include "cvpn/worker.h"

#define CMD_SLOTS 4096
#define UPCALL_SLOTS 512
/* The control thread is woken at the end of each batch, and also as soon as this many upcalls wait: a batch
 * can now pass up more than the ring holds (one UDP GRO buffer is up to 64 datagrams, one tun super-packet
 * up to 64 segments), and the ring must not fill while the control thread sleeps. */
#define UPCALL_WAKE_EARLY (UPCALL_SLOTS / 8)
#define UDP_BATCH 32
/* datagrams handled per readable event before the worker looks at its commands again (a new key waits no
 * longer behind a stream of GRO buffers than behind 8 rounds of single datagrams) */
#define UDP_EVENT_DATAGRAMS (8 * UDP_BATCH)
#define UDP_BUF 4096
/* a UDP GRO buffer: the kernel coalesces at most 64 KiB of one flow; a smaller buffer would truncate it and
 * lose the datagrams at its end */
#define UDP_GRO_BUF 65536
#ifndef UDP_GRO
#define UDP_GRO 104 /* linux/udp.h */
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#define TUN_BATCH 64
#define PLAIN_MAX 65536

enum { EV_CMD, EV_UDP, EV_TUN };

struct dp_worker {
	struct dp_worker_config cfg;
	struct ring cmds;                 /* control -> worker */
	struct ring upcalls;              /* worker -> control */
	int cmd_efd, upcall_efd, epoll_fd;
	unsigned upcalls_unwoken;         /* upcalls committed since the control thread was last woken */
	pthread_t thread;
	bool running;
	bool stop;
	struct dp_peer **by_peer_id;      /* [n_peer_ids] */
	struct dp_peer **by_vaddr;        /* [n_vaddrs] */
	struct tuntx *tuntx;
	struct udptx *udptx;
	/* the counters as the worker keeps them, and as it last published them */
	struct { uint64_t rx, tx, upcalls, upcall_drops, replays, bad, unrouted, spoofed; } n;
	struct { _Atomic uint64_t rx, tx, upcalls, upcall_drops, replays, bad, unrouted, spoofed; } pub;
	struct { _Atomic uint64_t packets, writes, merged, errors, datagrams, syscalls, gso_sends, udp_errors; } pub_io;
	_Atomic bool pub_gso;
	uint64_t rx_datagrams, rx_coalesced;
	_Atomic uint64_t pub_rx_datagrams, pub_rx_coalesced;
	bool gro;                         /* UDP_GRO accepted by the socket */
	struct udp_local rx_local;        /* where the datagram being handled came to: its upcall carries it */
	/* buffers: one thread, so one of each */
	uint8_t plain[PLAIN_MAX];
	uint8_t sealed[PLAIN_MAX + AEAD_OVERHEAD];
	uint8_t seg[OFFLOAD_IP_MAX];
	uint8_t tunbuf[OFFLOAD_READ_MAX];
	uint8_t *rxbufs;                  /* UDP_BATCH slots of rx_slot bytes */
	size_t rx_slot;
};

static inline void add_relaxed(_Atomic uint64_t *v, uint64_t d)
{
	/* one writer: a load and a store, no locked instruction */
	atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + d, memory_order_relaxed);
}

bool dp_same_remote(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET) {
		const struct sockaddr_in *x = (const struct sockaddr_in *)a, *y = (const struct sockaddr_in *)b;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->sa_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a, *y = (const struct sockaddr_in6 *)b;

		return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
	}
	return false;
}

/* ---- the peer tables ---- */

static struct dp_peer **vaddr_slot(struct dp_worker *w, uint32_t vaddr)
{
	uint32_t i = vaddr - w->cfg.vaddr_base;

	return i < w->cfg.n_vaddrs ? &w->by_vaddr[i] : NULL;
}

static void key_free(struct aead_key *k)
{
	if (!k)
		return;
	aead_key_clear(k);
	free(k);
}

static void peer_free(struct dp_peer *p)
{
	for (int i = 0; i < 8; i++)
		key_free(p->keys[i]);
	free(p);
}

static void peer_unlink(struct dp_worker *w, uint32_t peer_id)
{
	struct dp_peer *p, **v;

	if (peer_id >= w->cfg.n_peer_ids || !(p = w->by_peer_id[peer_id]))
		return;
	w->by_peer_id[peer_id] = NULL;
	v = vaddr_slot(w, p->vaddr);
	if (v && *v == p)
		*v = NULL;
	peer_free(p);
}

static struct dp_peer *peer_get(struct dp_worker *w, uint32_t peer_id)
{
	return peer_id < w->cfg.n_peer_ids ? w->by_peer_id[peer_id] : NULL;
}

/* ---- upcalls ---- */

static struct dp_upcall *upcall_reserve(struct dp_worker *w, enum dp_upcall_kind kind)
{
	struct dp_upcall *u = ring_reserve(&w->upcalls);

	if (!u) {
		w->n.upcall_drops++;
		return NULL;
	}
	u->kind = kind;
	u->len = 0;
	u->from_len = 0;
	return u;
}

static void upcall_wake(struct dp_worker *w)
{
	uint64_t one = 1;

	w->upcalls_unwoken = 0;
	if (write(w->upcall_efd, &one, sizeof(one)) < 0) {
		/* the counter cannot overflow in practice; the control thread still finds the upcalls */
	}
}

static void upcall_commit(struct dp_worker *w)
{
	ring_commit(&w->upcalls);
	w->n.upcalls++;
	if (++w->upcalls_unwoken >= UPCALL_WAKE_EARLY)
		upcall_wake(w);
}

static void upcall_packet(struct dp_worker *w, enum dp_upcall_kind kind, const uint8_t *buf, size_t len,
			  const struct sockaddr *from, socklen_t from_len)
{
	struct dp_upcall *u;

	if (len > DP_UPCALL_MAX || from_len > sizeof(u->from)) {
		w->n.upcall_drops++;
		return;
	}
	if (!(u = upcall_reserve(w, kind)))
		return;
	memcpy(u->data, buf, len);
	u->len = (uint32_t)len;
	if (from) {
		memcpy(&u->from, from, from_len);
		u->from_len = from_len;
		u->local = w->rx_local;
	}
	upcall_commit(w);
}

/* ---- data ---- */

static void seal_send(struct dp_worker *w, struct dp_peer *p, const uint8_t *payload, size_t len, uint64_t now_ms)
{
	struct aead_key *k = p->tx_key >= 0 ? p->keys[p->tx_key] : NULL;
	ssize_t n;

	if (!k || !w->udptx) /* no socket: a TCP endpoint's worker, which is handed no session */
		return;
	n = aead_seal(k, p->peer_id, payload, len, w->sealed, sizeof(w->sealed));
	if (n < 0)
		return;
	atomic_store_explicit(&p->last_tx_ms, now_ms, memory_order_relaxed);
	if (udptx_queue(w->udptx, (const struct sockaddr *)&p->remote, p->remote_len, &p->local, w->sealed,
			(size_t)n) < 0)
		return;
	w->n.tx++;
}

static void send_ip(struct dp_worker *w, struct dp_peer *p, const uint8_t *ip, size_t len, uint64_t now_ms)
{
	if (p->tx_key < 0)
		return;
	add_relaxed(&p->bytes_out, len);
	add_relaxed(&p->pkts_out, 1);
	seal_send(w, p, ip, len, now_ms);
}

static void open_data(struct dp_worker *w, struct dp_peer *p, const uint8_t *pkt, size_t len, uint64_t now_ms)
{
	struct aead_key *k = p->keys[packet_key_id(pkt[0])];
	const uint8_t *ip = w->plain;
	uint32_t src;
	ssize_t n;

	if (!k) {
		w->n.bad++;
		return;
	}
	n = aead_open(k, pkt, len, w->plain, sizeof(w->plain), now_ms / 1000);
	if (n < 0) {
		if (n == -EALREADY)
			w->n.replays++;
		else
			w->n.bad++;
		return;
	}
	atomic_store_explicit(&p->last_rx_ms, now_ms, memory_order_relaxed);
	if (packet_is_ping(ip, (size_t)n))
		return;
	if (packet_is_occ_exit(ip, (size_t)n)) {
		struct dp_upcall *u = upcall_reserve(w, DP_UP_EXIT);

		if (u) {
			u->peer_id = p->peer_id;
			u->session_id = p->session_id;
			upcall_commit(w);
		} else {
			/* lost, the client would wait out the keepalive timeout with its address held */
			atomic_store_explicit(&p->exit_seen, true, memory_order_relaxed);
		}
		return;
	}
	/* IPv6 is not routed yet; a client's tun sends router solicitations, which are not spoofing */
	if (n < 20 || (ip[0] >> 4) != 4) {
		w->n.unrouted++;
		return;
	}
	/* anti-spoofing: an IPv4 packet from the session's own address, nothing else */
	memcpy(&src, ip + 12, 4);
	if (ntohl(src) != p->vaddr) {
		add_relaxed(&p->spoofed, 1);
		w->n.spoofed++;
		return;
	}
	add_relaxed(&p->bytes_in, (uint64_t)n);
	add_relaxed(&p->pkts_in, 1);
	if (tuntx_write(w->tuntx, ip, (size_t)n) == 0)
		w->n.rx++;
}

/* True when no session can hold peer_id: beyond the control thread's table, or a free slot of it. */
static bool held_by_nobody(const struct dp_worker *w, uint32_t peer_id)
{
	if (w->cfg.peer_id_limit && peer_id >= atomic_load_explicit(w->cfg.peer_id_limit, memory_order_relaxed))
		return true;
	return w->cfg.peer_id_live && peer_id < w->cfg.n_peer_ids &&
	       !atomic_load_explicit(&w->cfg.peer_id_live[peer_id], memory_order_relaxed);
}

void dp_worker_on_datagram(struct dp_worker *w, const uint8_t *buf, size_t len, const struct sockaddr *from,
			   socklen_t from_len, uint64_t now_ms)
{
	struct dp_peer *p = NULL;
	uint32_t peer_id = 0;
	bool data_v2;

	if (len < 1)
		return;
	data_v2 = packet_opcode(buf[0]) == P_DATA_V2;
	if (data_v2 && packet_data_peer_id(buf, len, &peer_id) < 0) {
		w->n.bad++; /* too short to name a peer: nobody's, and the control thread would drop it too */
		return;
	}
	if (data_v2)
		p = peer_get(w, peer_id);
	if (!p) {
		/* a peer-id no session holds: dropped here, so a flood of them never crowds the upcall ring */
		if (data_v2 && held_by_nobody(w, peer_id)) {
			w->n.bad++;
			return;
		}
		/* a session the control thread keeps: it decides */
		upcall_packet(w, DP_UP_DATAGRAM, buf, len, from, from_len);
		return;
	}
	/* no floating: the peer-id must come from the session's own address */
	if (!dp_same_remote((const struct sockaddr *)&p->remote, from)) {
		w->n.bad++;
		return;
	}
	open_data(w, p, buf, len, now_ms);
}

static void on_ip(struct dp_worker *w, const uint8_t *ip, size_t len, uint64_t now_ms)
{
	struct dp_peer **slot, *p = NULL;
	uint32_t dst;

	if (len >= 20 && (ip[0] >> 4) == 4) {
		memcpy(&dst, ip + 16, 4);
		slot = vaddr_slot(w, ntohl(dst));
		p = slot ? *slot : NULL;
	}
	if (p)
		send_ip(w, p, ip, len, now_ms);
	else
		upcall_packet(w, DP_UP_IP, ip, len, NULL, 0);
}

void dp_worker_on_tun(struct dp_worker *w, uint8_t *buf, size_t len, uint64_t now_ms)
{
	struct offload_seg os;
	ssize_t n;

	if (!w->cfg.tun_vnet) {
		on_ip(w, buf, len, now_ms);
		return;
	}
	if (offload_seg_init(&os, buf, len) < 0) {
		w->n.bad++;
		return;
	}
	if (os.nsegs == 1) {
		on_ip(w, os.pkt, os.len, now_ms);
		return;
	}
	while ((n = offload_seg_next(&os, w->seg, sizeof(w->seg))) > 0)
		on_ip(w, w->seg, (size_t)n, now_ms);
}

/* ---- commands ---- */

void dp_worker_apply(struct dp_worker *w, const struct dp_cmd *c)
{
	struct dp_peer *p;
	struct dp_peer **v;

	switch (c->kind) {
	case DP_PEER_ADD:
		p = c->peer;
		if (!p)
			return;
		if (p->peer_id >= w->cfg.n_peer_ids) {
			peer_free(p);
			return;
		}
		peer_unlink(w, p->peer_id);
		p->tx_key = -1 < p->tx_key && p->tx_key < 8 && p->keys[p->tx_key] ? p->tx_key : -1;
		w->by_peer_id[p->peer_id] = p;
		if ((v = vaddr_slot(w, p->vaddr)))
			*v = p;
		return;
	case DP_PEER_DEL:
		peer_unlink(w, c->peer_id);
		return;
	case DP_KEY_ADD:
		p = peer_get(w, c->peer_id);
		if (!p || c->key_id >= 8) {
			key_free(c->key); /* the session ended while its key was on the way */
			return;
		}
		key_free(p->keys[c->key_id]);
		p->keys[c->key_id] = c->key;
		return;
	case DP_KEY_TX:
		if ((p = peer_get(w, c->peer_id)) && c->key_id < 8)
			p->tx_key = p->keys[c->key_id] ? c->key_id : -1;
		return;
	case DP_KEY_DEL:
		if ((p = peer_get(w, c->peer_id)) && c->key_id < 8) {
			key_free(p->keys[c->key_id]);
			p->keys[c->key_id] = NULL;
			if (p->tx_key == c->key_id)
				p->tx_key = -1;
		}
		return;
	case DP_PING:
		if ((p = peer_get(w, c->peer_id))) {
			struct timespec ts;

			clock_gettime(CLOCK_MONOTONIC, &ts);
			seal_send(w, p, packet_ping_magic, PACKET_MAGIC_LEN,
				  (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
		}
		return;
	case DP_STOP:
		w->stop = true;
		return;
	}
}

static void drain_commands(struct dp_worker *w)
{
	const struct dp_cmd *c;

	while ((c = ring_peek(&w->cmds))) {
		struct dp_cmd copy = *c;

		ring_release(&w->cmds);
		dp_worker_apply(w, &copy);
	}
}

/* ---- the thread ---- */

static void publish(struct dp_worker *w)
{
	struct tuntx_stats ts;
	struct udptx_stats us;

#define PUB(f) atomic_store_explicit(&w->pub.f, w->n.f, memory_order_relaxed)
	PUB(rx); PUB(tx); PUB(upcalls); PUB(upcall_drops); PUB(replays); PUB(bad); PUB(unrouted); PUB(spoofed);
#undef PUB
	tuntx_get_stats(w->tuntx, &ts);
	atomic_store_explicit(&w->pub_io.packets, ts.packets, memory_order_relaxed);
	atomic_store_explicit(&w->pub_io.writes, ts.writes, memory_order_relaxed);
	atomic_store_explicit(&w->pub_io.merged, ts.merged, memory_order_relaxed);
	atomic_store_explicit(&w->pub_io.errors, ts.errors, memory_order_relaxed);
	if (w->udptx) {
		udptx_get_stats(w->udptx, &us);
		atomic_store_explicit(&w->pub_io.datagrams, us.datagrams, memory_order_relaxed);
		atomic_store_explicit(&w->pub_io.syscalls, us.syscalls, memory_order_relaxed);
		atomic_store_explicit(&w->pub_io.gso_sends, us.gso_sends, memory_order_relaxed);
		atomic_store_explicit(&w->pub_io.udp_errors, us.errors, memory_order_relaxed);
		atomic_store_explicit(&w->pub_gso, us.gso, memory_order_relaxed);
		atomic_store_explicit(&w->pub_rx_datagrams, w->rx_datagrams, memory_order_relaxed);
		atomic_store_explicit(&w->pub_rx_coalesced, w->rx_coalesced, memory_order_relaxed);
	}
}

void dp_worker_end_batch(struct dp_worker *w)
{
	tuntx_flush(w->tuntx);
	if (w->udptx)
		udptx_flush(w->udptx);
	if (w->upcalls_unwoken)
		upcall_wake(w);
	publish(w);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The datagram size of a buffer the kernel coalesced (UDP GRO), or 0 for a single datagram. */
static size_t gro_segment_size(struct msghdr *mh)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		int v;

		if (c->cmsg_level != SOL_UDP || c->cmsg_type != UDP_GRO || c->cmsg_len < CMSG_LEN(sizeof(v)))
			continue;
		memcpy(&v, CMSG_DATA(c), sizeof(v));
		return v > 0 ? (size_t)v : 0;
	}
	return 0;
}

static void on_udp_readable(struct dp_worker *w)
{
	struct sockaddr_storage from[UDP_BATCH];
	struct mmsghdr msgs[UDP_BATCH];
	struct iovec iov[UDP_BATCH];
	union {
		char buf[CMSG_SPACE(sizeof(int)) + UDP_LOCAL_CMSG_SPACE]; /* UDP_GRO's size, and where it came to */
		struct cmsghdr align;
	} ctl[UDP_BATCH];
	unsigned handled = 0;

	while (handled < UDP_EVENT_DATAGRAMS) {
		int n;

		for (int i = 0; i < UDP_BATCH; i++) {
			iov[i] = (struct iovec){ w->rxbufs + (size_t)i * w->rx_slot, w->rx_slot };
			memset(&msgs[i], 0, sizeof(msgs[i]));
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
			msgs[i].msg_hdr.msg_name = &from[i];
			msgs[i].msg_hdr.msg_namelen = sizeof(from[i]);
			msgs[i].msg_hdr.msg_control = ctl[i].buf;
			msgs[i].msg_hdr.msg_controllen = sizeof(ctl[i].buf);
		}
		n = recvmmsg(w->cfg.udp_fd, msgs, UDP_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			break;
		uint64_t now = now_ms();

		for (int i = 0; i < n; i++) {
			const uint8_t *buf = iov[i].iov_base;
			size_t len = msgs[i].msg_len, seg = w->gro ? gro_segment_size(&msgs[i].msg_hdr) : 0;

			if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
				w->n.bad++; /* larger than a slot: larger than any packet of the protocol */
				handled++;
				continue;
			}
			if (seg == 0 || seg >= len)
				seg = len;
			else
				w->rx_coalesced++;
			udp_local_from_msg(&msgs[i].msg_hdr, &w->rx_local);
			/* a coalesced buffer: datagrams of seg bytes from one sender, the last one maybe shorter */
			for (size_t off = 0; off < len; off += seg) {
				w->rx_datagrams++;
				handled++;
				dp_worker_on_datagram(w, buf + off, len - off < seg ? len - off : seg,
						      (struct sockaddr *)&from[i], msgs[i].msg_hdr.msg_namelen, now);
			}
		}
		dp_worker_end_batch(w);
		if (n < UDP_BATCH)
			break;
	}
}

static void on_tun_readable(struct dp_worker *w)
{
	uint64_t now = now_ms();

	for (int i = 0; i < TUN_BATCH; i++) {
		ssize_t n = read(w->cfg.tun_fd, w->tunbuf, sizeof(w->tunbuf));

		if (n <= 0)
			break;
		dp_worker_on_tun(w, w->tunbuf, (size_t)n, now);
	}
	dp_worker_end_batch(w);
}

static void *worker_main(void *arg)
{
	struct dp_worker *w = arg;
	struct epoll_event ev[4];
	sigset_t all;

	/* signals are the control thread's (its signalfd) */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	while (!w->stop) {
		int n = epoll_wait(w->epoll_fd, ev, 4, -1);

		if (n < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n && !w->stop; i++) {
			switch (ev[i].data.u32) {
			case EV_CMD: {
				uint64_t v;

				if (read(w->cmd_efd, &v, sizeof(v)) < 0) {
					/* EAGAIN: another pass already took the count */
				}
				drain_commands(w);
				dp_worker_end_batch(w); /* a keepalive ping of an idle session leaves now */
				break;
			}
			case EV_UDP:
				drain_commands(w); /* keys first: a new key's packets may be in this batch */
				on_udp_readable(w);
				break;
			case EV_TUN:
				drain_commands(w);
				on_tun_readable(w);
				break;
			}
		}
	}
	return NULL;
}

static int watch(struct dp_worker *w, int fd, uint32_t tag)
{
	struct epoll_event ee = { .events = EPOLLIN, .data.u32 = tag };

	return epoll_ctl(w->epoll_fd, EPOLL_CTL_ADD, fd, &ee);
}

struct dp_worker *dp_worker_new(const struct dp_worker_config *c)
{
	struct dp_worker *w;

	if (c->n_peer_ids == 0 || c->tun_fd < 0)
		return NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->cfg = *c;
	w->cmd_efd = w->upcall_efd = w->epoll_fd = -1;
	if (ring_init(&w->cmds, CMD_SLOTS, sizeof(struct dp_cmd)) < 0 ||
	    ring_init(&w->upcalls, UPCALL_SLOTS, sizeof(struct dp_upcall)) < 0)
		goto fail;
	w->by_peer_id = calloc(c->n_peer_ids, sizeof(*w->by_peer_id));
	w->by_vaddr = calloc(c->n_vaddrs ? c->n_vaddrs : 1, sizeof(*w->by_vaddr));
	w->tuntx = tuntx_new(c->tun_fd, c->tun_vnet);
	if (!w->by_peer_id || !w->by_vaddr || !w->tuntx)
		goto fail;
	tuntx_batch(w->tuntx, true);
	if (c->udp_fd >= 0 && !(w->udptx = udptx_new(c->udp_fd, c->udp_gso)))
		goto fail;
	/* UDP GRO: the kernel may hand over a flow's datagrams as one buffer (fewer reads); without it (an old
	 * kernel) one datagram per buffer, as before */
	if (c->udp_fd >= 0 && c->udp_gro) {
		int one = 1;

		w->gro = setsockopt(c->udp_fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) == 0;
	}
	w->rx_slot = w->gro ? UDP_GRO_BUF : UDP_BUF;
	if (c->udp_fd >= 0 && !(w->rxbufs = malloc(UDP_BATCH * w->rx_slot)))
		goto fail;
	w->cmd_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	w->upcall_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	w->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (w->cmd_efd < 0 || w->upcall_efd < 0 || w->epoll_fd < 0 || watch(w, w->cmd_efd, EV_CMD) < 0 ||
	    watch(w, c->tun_fd, EV_TUN) < 0 || (c->udp_fd >= 0 && watch(w, c->udp_fd, EV_UDP) < 0))
		goto fail;
	return w;
fail:
	dp_worker_free(w);
	return NULL;
}

int dp_worker_start(struct dp_worker *w)
{
	int err = pthread_create(&w->thread, NULL, worker_main, w);

	if (err)
		return -err;
	w->running = true;
	return 0;
}

void dp_worker_free(struct dp_worker *w)
{
	if (!w)
		return;
	if (w->running) {
		struct dp_cmd stop = { .kind = DP_STOP };

		dp_worker_post(w, &stop);
		pthread_join(w->thread, NULL);
	}
	if (w->cmds.slots)
		drain_commands(w); /* what was still on its way: keys and peers to free */
	if (w->by_peer_id)
		for (uint32_t i = 0; i < w->cfg.n_peer_ids; i++)
			peer_unlink(w, i);
	free(w->by_peer_id);
	free(w->by_vaddr);
	free(w->rxbufs);
	tuntx_free(w->tuntx);
	udptx_free(w->udptx);
	ring_destroy(&w->cmds);
	ring_destroy(&w->upcalls);
	if (w->cmd_efd >= 0)
		close(w->cmd_efd);
	if (w->upcall_efd >= 0)
		close(w->upcall_efd);
	if (w->epoll_fd >= 0)
		close(w->epoll_fd);
	free(w);
}

void dp_worker_post(struct dp_worker *w, const struct dp_cmd *c)
{
	uint64_t one = 1;
	struct dp_cmd *slot;

	while (!(slot = ring_reserve(&w->cmds))) {
		struct timespec pause = { 0, 50 * 1000 };

		if (!w->running) { /* nobody drains it: apply in place (a worker that never started) */
			drain_commands(w);
			continue;
		}
		if (write(w->cmd_efd, &one, sizeof(one)) < 0) {
			/* already signalled */
		}
		nanosleep(&pause, NULL);
	}
	*slot = *c;
	ring_commit(&w->cmds);
	if (w->running && write(w->cmd_efd, &one, sizeof(one)) < 0) {
		/* the count is already non-zero: the worker will look */
	}
}

int dp_worker_upcall_fd(const struct dp_worker *w)
{
	return w->upcall_efd;
}

const struct dp_upcall *dp_worker_upcall_peek(struct dp_worker *w)
{
	return ring_peek(&w->upcalls);
}

void dp_worker_upcall_release(struct dp_worker *w)
{
	ring_release(&w->upcalls);
}

void dp_worker_get_stats(const struct dp_worker *w, struct dp_worker_stats *st)
{
	struct dp_worker *m = (struct dp_worker *)w; /* atomic loads take a non-const pointer */

	memset(st, 0, sizeof(*st));
#define GET(f) atomic_load_explicit(&m->pub.f, memory_order_relaxed)
	st->rx_packets = GET(rx);
	st->tx_packets = GET(tx);
	st->upcalls = GET(upcalls);
	st->upcall_drops = GET(upcall_drops);
	st->replays = GET(replays);
	st->bad_packets = GET(bad);
	st->unrouted = GET(unrouted);
	st->spoofed = GET(spoofed);
#undef GET
#define GET(f) atomic_load_explicit(&m->pub_io.f, memory_order_relaxed)
	st->tun.packets = GET(packets);
	st->tun.writes = GET(writes);
	st->tun.merged = GET(merged);
	st->tun.errors = GET(errors);
	st->udp.datagrams = GET(datagrams);
	st->udp.syscalls = GET(syscalls);
	st->udp.gso_sends = GET(gso_sends);
	st->udp.errors = GET(udp_errors);
#undef GET
	st->udp.gso = atomic_load_explicit(&m->pub_gso, memory_order_relaxed);
	st->udp_rx_datagrams = atomic_load_explicit(&m->pub_rx_datagrams, memory_order_relaxed);
	st->udp_rx_coalesced = atomic_load_explicit(&m->pub_rx_coalesced, memory_order_relaxed);
	st->udp_gro = m->gro;
}
