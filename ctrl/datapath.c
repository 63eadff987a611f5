// SPDX-License-Identifier: GPL-2.0-or-later
/* The control thread's side of the data workers (datapath.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cvpn/aead.h"
#include "cvpn/datapath.h"
#include "cvpn/dco.h"
#include "cvpn/dco_guard.h"
#include "cvpn/log.h"
#include "cvpn/netlink_ack.h"
#include "cvpn/nft.h"
#include "cvpn/pool.h"
#include "cvpn/server.h"
#include "cvpn/session.h"
#include "cvpn/steer.h"

/* ---- the kernel's data channel (srv->dco) ----
 * The session is handed to the kernel as a peer instead of to a worker: s->dp then holds only the counters
 * (the kernel's, read back in datapath_pull_all), and s->dco_slot_key tells which key id sits in which of
 * the kernel's two slots. The kernel sends with its primary slot. */

/* At the hand-over: what the control thread counted so far, to which the data path's own counts are added. */
static void count_from_here(struct session *s)
{
	s->dp_base_bytes_in = s->bytes_in;
	s->dp_base_bytes_out = s->bytes_out;
	s->dp_base_pkts_in = s->pkts_in;
	s->dp_base_pkts_out = s->pkts_out;
	s->dp_base_spoofed = s->spoofed_drops;
}

/* A refused operation on the session's peer or keys; kernel_msg is the module's reason (dco_kernel_message
 * right after the refusal) or "" when the failure was not the kernel's. */
static void dco_warn(const struct session *s, const char *what, int err, const char *kernel_msg)
{
	log_warnx("session %llu %s: kernel data channel: %s: %s%s%s%s", (unsigned long long)s->id, s->cn, what,
		  strerror(-err), kernel_msg[0] ? " (the kernel says: " : "", kernel_msg, kernel_msg[0] ? ")" : "");
}

int datapath_keep_block(struct session *s, struct key_state *ks, const uint8_t block[256])
{
	if (!s->srv->dco)
		return 0;
	datapath_forget_block(ks);
	ks->dco_block = malloc(256);
	if (!ks->dco_block)
		return -ENOMEM;
	memcpy(ks->dco_block, block, 256);
	return 0;
}

void datapath_forget_block(struct key_state *ks)
{
	if (!ks->dco_block)
		return;
	explicit_bzero(ks->dco_block, 256);
	free(ks->dco_block);
	ks->dco_block = NULL;
}

/* ks's key into a free slot (the secondary when both are taken: the primary is what data leaves with);
 * the block is wiped either way, and the userspace copy of the key too, which nothing here uses now. */
static int dco_install_key(struct session *s, struct key_state *ks)
{
	struct dco *d = s->srv->dco;
	enum dco_slot slot = DCO_SLOT_PRIMARY;
	int err = 0;

	if (!ks->dco_block)
		return -ENOKEY;
	if (s->dco_slot_key[DCO_SLOT_PRIMARY] >= 0) {
		slot = DCO_SLOT_SECONDARY;
		if (s->dco_slot_key[slot] >= 0 && (err = dco_del_key(d, s->peer_id, slot)) == 0)
			s->dco_slot_key[slot] = -1;
	}
	if (err == 0)
		err = dco_new_key(d, s->peer_id, slot, ks->key_id, s->cipher, ks->dco_block);
	datapath_forget_block(ks);
	aead_key_clear(&ks->data);
	if (err == 0)
		s->dco_slot_key[slot] = (int8_t)ks->key_id;
	return err;
}

static int dco_slot_of(const struct session *s, uint8_t key_id)
{
	for (int i = 0; i < 2; i++)
		if (s->dco_slot_key[i] == (int8_t)key_id)
			return i;
	return -1;
}

/* The guard stops admitting the session's data packets. An element it cannot delete it keeps trying, and
 * it refuses that peer-id to a new session meanwhile (dco_guard_peer). */
static void dco_guard_forget(struct session *s)
{
	int err = dco_guard_peer((const struct sockaddr *)&s->remote, s->remote_len, s->peer_id, false);

	if (err < 0)
		log_warnx("session %llu %s: kernel data channel: cannot remove its guard element: %s%s",
			  (unsigned long long)s->id, s->cn, strerror(-err), nft_refusal());
}

/* After the push: the kernel takes the session's data. A client the kernel cannot serve is told to reconnect
 * (its packets would go nowhere). */
static void dco_adopt(struct session *s)
{
	struct server *srv = s->srv;
	const struct config *cfg = srv->cfg;
	struct key_state *first = NULL, *second = NULL;
	struct dp_peer *p;
	const char *kernel_msg = ""; /* the module's reason, when it is the kernel that refused */
	char kernel_why[NETLINK_ACK_MSG_MAX];
	int err;

	if (s->dp || s->transport != SESSION_UDP || !s->peer_id_on || !s->pushed || s->state != SESSION_CONNECTED ||
	    !s->vaddr)
		return;
	p = calloc(1, sizeof(*p));
	if (!p) {
		err = -ENOMEM;
		goto refuse;
	}
	s->dco_slot_key[0] = s->dco_slot_key[1] = -1;
	/* first the guard's element: without it every data packet of the client is dropped before the module
	 * sees it (cvpn/dco_guard.h) */
	err = dco_guard_peer((const struct sockaddr *)&s->remote, s->remote_len, s->peer_id, true);
	if (err < 0) {
		if (err == -EBUSY)
			log_warnx("session %llu: an ended session's guard element for peer-id %u could not be removed; "
				  "the client reconnects", (unsigned long long)s->id, s->peer_id);
		else
			log_warnx("session %llu: kernel data channel: cannot add its guard element: %s%s",
				  (unsigned long long)s->id, strerror(-err), nft_refusal());
		free(p);
		goto refuse;
	}
	err = dco_new_peer(srv->dco, s->peer_id, srv->udp_fd, (const struct sockaddr *)&s->remote, s->remote_len,
			   &s->local, s->vaddr);
	/* the refusal's own words, before the stale peer's removal below asks the kernel again */
	snprintf(kernel_why, sizeof(kernel_why), "%s", dco_kernel_message(srv->dco));
	if (err == -EEXIST && dco_del_peer(srv->dco, s->peer_id) == 0) {
		/* an earlier session's peer the kernel would not give up then: its session is gone */
		log_warnx("session %llu: removed a stale kernel peer with its peer-id %u", (unsigned long long)s->id,
			  s->peer_id);
		err = dco_new_peer(srv->dco, s->peer_id, srv->udp_fd, (const struct sockaddr *)&s->remote,
				   s->remote_len, &s->local, s->vaddr);
		snprintf(kernel_why, sizeof(kernel_why), "%s", dco_kernel_message(srv->dco));
	}
	if (err < 0) {
		kernel_msg = kernel_why;
		free(p);
		dco_guard_forget(s);
		goto refuse;
	}
	/* the server's half of ping/ping-restart: the kernel pings when idle and ends the peer after twice the
	 * pushed timeout without a packet, as session_tick does for the userspace data path */
	err = dco_set_keepalive(srv->dco, s->peer_id, cfg->keepalive_interval, cfg->keepalive_timeout * 2);
	/* what session.c's send_key would pick goes first, into the primary slot: the active key, else the
	 * lame duck; a first key whose reply is not yet acknowledged goes there too (the client has derived it
	 * once it has the reply: it is what the kernel is to send with), and the other ready key after it */
	if (s->ks[0].keys_ready && (s->ks[0].state == KS_ACTIVE || !s->ks[1].keys_ready)) {
		first = &s->ks[0];
		second = s->ks[1].keys_ready ? &s->ks[1] : NULL;
	} else if (s->ks[1].keys_ready) {
		first = &s->ks[1];
		second = s->ks[0].keys_ready ? &s->ks[0] : NULL;
	}
	if (err == 0 && first)
		err = dco_install_key(s, first);
	if (err == 0 && second)
		err = dco_install_key(s, second);
	if (err < 0) {
		/* copied before the peer's removal asks the kernel again (the buffer is the module's last word) */
		snprintf(kernel_why, sizeof(kernel_why), "%s", err == -ENOKEY ? "" : dco_kernel_message(srv->dco));
		kernel_msg = kernel_why;
		dco_del_peer(srv->dco, s->peer_id);
		free(p);
		dco_guard_forget(s);
		goto refuse;
	}
	count_from_here(s);
	s->dp = p;
	return;
refuse:
	dco_warn(s, "cannot add the peer", err, kernel_msg);
	session_terminate(s, "the kernel data channel refused the session", "RESTART,internal error",
			  server_now_ms());
}

static void dco_counters(struct session *s, const struct dco_peer_stats *st)
{
	s->bytes_in = s->dp_base_bytes_in + st->rx_bytes;
	s->bytes_out = s->dp_base_bytes_out + st->tx_bytes;
	s->pkts_in = s->dp_base_pkts_in + st->rx_packets;
	s->pkts_out = s->dp_base_pkts_out + st->tx_packets;
}

static void on_dumped_peer(void *arg, uint32_t peer_id, const struct dco_peer_stats *st)
{
	struct server *srv = arg;
	struct session *s = peer_id < srv->table_size ? srv->by_peer_id[peer_id] : NULL;

	if (s && s->dp)
		dco_counters(s, st);
}

/* A session whose peer the kernel no longer has (checked here: a notification of our own removal, s->dp
 * gone by then, or of a peer-id a new session holds again by now, its peer there, changes nothing). A client
 * that is still there but whose packets now go nowhere is told to reconnect (its control channel is ours):
 * it comes back at once, to a new session, instead of after its own keepalive timeout. */
static void peer_gone(struct server *srv, uint32_t peer_id, const char *why, bool client_may_be_there)
{
	struct session *s = peer_id < srv->table_size ? srv->by_peer_id[peer_id] : NULL;
	struct dco_peer_stats st;
	int err;

	if (!s || !s->dp)
		return;
	err = dco_get_peer(srv->dco, peer_id, &st);
	if (err != -ENOENT && err != -ENODEV) /* ENODEV: the interface itself is gone */
		return;
	free(s->dp); /* the kernel has nothing left to delete, nor counters to read */
	s->dp = NULL;
	dco_guard_forget(s);
	if (!client_may_be_there || session_terminate(s, why, "RESTART,data channel lost", server_now_ms()) < 0)
		session_end(s, why);
}

/* The kernel removed a peer: it heard nothing within the keepalive timeout, its socket failed, or another
 * program deleted it. */
static void on_peer_removed(void *arg, uint32_t peer_id, enum dco_del_reason reason)
{
	switch (reason) {
	case DCO_DEL_EXPIRED:
		peer_gone(arg, peer_id, "no packet from the client within twice the keepalive timeout", false);
		break;
	case DCO_DEL_USERSPACE:
		peer_gone(arg, peer_id, "another program removed its peer from the kernel data channel", true);
		break;
	default:
		peer_gone(arg, peer_id, "the kernel data channel lost the client's transport", true);
		break;
	}
}

static void on_dco_events(void *arg)
{
	struct server *srv = arg;
	bool lost = false;
	int n = dco_read_events(srv->dco, on_peer_removed, srv, &lost);

	if (n < 0)
		log_warnx("kernel data channel notifications: %s", strerror(-n));
	if (!lost)
		return;
	/* notifications overflowed: ask after every session's peer */
	log_warnx("kernel data channel notifications were lost; checking every peer");
	for (uint32_t id = 0; id < srv->table_size; id++) {
		struct session *s = srv->by_peer_id[id];

		if (s && s->dp) /* why it went is lost with its notification; a client still there reconnects */
			peer_gone(srv, id, "the kernel data channel removed its peer (its notification was lost)", true);
	}
}

static void dco_release(struct session *s)
{
	struct dco_peer_stats st;
	int err;

	if (dco_get_peer(s->srv->dco, s->peer_id, &st) == 0)
		dco_counters(s, &st);
	err = dco_del_peer(s->srv->dco, s->peer_id);
	if (err < 0 && err != -ENOENT)
		err = dco_del_peer(s->srv->dco, s->peer_id); /* once more: a transient failure (ENOMEM) */
	if (err < 0 && err != -ENOENT)
		/* its address leaves the policy's session set all the same, so what the kernel still decrypts for
		 * it is dropped there; a new session with its peer-id replaces it (dco_adopt) */
		dco_warn(s, "cannot remove the peer", err, dco_kernel_message(s->srv->dco));
	dco_guard_forget(s);
	free(s->dp);
	s->dp = NULL;
}

static void dco_key_tx(struct session *s, uint8_t key_id)
{
	int slot = dco_slot_of(s, key_id), err;

	if (slot != DCO_SLOT_SECONDARY)
		return; /* in the primary already, or not in the kernel (then nothing to send with) */
	if ((err = dco_swap_keys(s->srv->dco, s->peer_id)) < 0) {
		dco_warn(s, "cannot switch keys", err, dco_kernel_message(s->srv->dco));
		return;
	}
	s->dco_slot_key[DCO_SLOT_SECONDARY] = s->dco_slot_key[DCO_SLOT_PRIMARY];
	s->dco_slot_key[DCO_SLOT_PRIMARY] = (int8_t)key_id;
}

static void dco_key_del(struct session *s, uint8_t key_id)
{
	int slot = dco_slot_of(s, key_id), err;

	if (slot < 0)
		return;
	if ((err = dco_del_key(s->srv->dco, s->peer_id, (enum dco_slot)slot)) < 0)
		dco_warn(s, "cannot remove a key", err, dco_kernel_message(s->srv->dco));
	s->dco_slot_key[slot] = -1;
}

bool datapath_keeps_alive(const struct session *s)
{
	return s->dp && s->srv->dco;
}

static void post(struct session *s, enum dp_cmd_kind kind, uint8_t key_id)
{
	struct dp_cmd c = { .kind = kind, .peer_id = s->peer_id, .key_id = key_id };

	dp_worker_post(s->srv->workers[s->dp_worker], &c);
}

#define UPCALLS_PER_PASS 256

/* what on_upcalls is called with: one per worker */
static struct upcall_source {
	struct server *srv;
	struct dp_worker *w;
} sources[CONFIG_MAX_DATA_WORKERS];

/* Everything a worker passes up: packets of the sessions this thread keeps, and goodbyes. */
static void on_upcalls(void *arg)
{
	struct upcall_source *src = arg;
	struct server *srv = src->srv;
	struct dp_worker *w = src->w;
	const struct dp_upcall *u;
	uint64_t count;

	if (read(dp_worker_upcall_fd(w), &count, sizeof(count)) < 0) {
		/* EAGAIN: a previous pass took them */
	}
	server_output_batch(srv, true);
	for (unsigned n = 0; (u = dp_worker_upcall_peek(w)); n++) {
		if (n == UPCALLS_PER_PASS) {
			/* a worker can pass up faster than this thread decrypts (a flood at a session it keeps):
			 * back to the loop, and here again after the timers, handshakes and the other fds */
			uint64_t one = 1;

			if (write(dp_worker_upcall_fd(w), &one, sizeof(one)) < 0) {
				/* the count is non-zero already */
			}
			break;
		}
		switch (u->kind) {
		case DP_UP_DATAGRAM:
			server_on_datagram(srv, u->data, u->len, (const struct sockaddr *)&u->from, u->from_len,
					   &u->local);
			break;
		case DP_UP_IP:
			server_on_tun_packet(srv, u->data, u->len);
			break;
		case DP_UP_EXIT: {
			struct session *s = u->peer_id < srv->table_size ? srv->by_peer_id[u->peer_id] : NULL;

			if (s && s->id == u->session_id && s->dp)
				session_end(s, "client disconnected");
			break;
		}
		}
		dp_worker_upcall_release(w);
	}
	server_output_batch(srv, false);
}

static int open_worker_socket(struct server *srv, const struct sockaddr *sa, socklen_t sl)
{
	int fd = server_udp_socket(sa, sl, true);

	if (fd < 0)
		log_warn("data worker socket");
	return fd;
}

int datapath_start(struct server *srv)
{
	const struct config *cfg = srv->cfg;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	bool udp = srv->udp_fd >= 0;
	int err;

	for (unsigned i = 0; i < CONFIG_MAX_DATA_WORKERS; i++)
		srv->worker_udp_fds[i] = -1;
	atomic_store_explicit(&srv->peer_id_limit, srv->table_size, memory_order_relaxed);
	if (srv->dco) {
		if (server_watch_fd(srv, dco_event_fd(srv->dco), on_dco_events, srv) < 0) {
			log_warn("epoll");
			return -1;
		}
		log_info("data channel in the kernel (%s) on %s", dco_module(srv->dco), srv->tun_ifname);
		return 0;
	}
	if (srv->n_workers) {
		srv->peer_id_live = calloc(srv->table_size, sizeof(*srv->peer_id_live));
		if (!srv->peer_id_live) {
			log_warnx("data workers: out of memory");
			return -1;
		}
		/* sessions that exist already (none at start; kept general) */
		for (uint32_t id = 0; id < srv->table_size; id++)
			if (srv->by_peer_id[id])
				atomic_store_explicit(&srv->peer_id_live[id], 1, memory_order_relaxed);
	}
	if (udp && getsockname(srv->udp_fd, (struct sockaddr *)&ss, &sl) < 0) {
		log_warn("getsockname");
		return -1;
	}
	for (unsigned i = 0; i < srv->n_workers; i++) {
		struct dp_worker_config wc = {
			.index = i,
			.udp_fd = -1,
			.tun_fd = srv->tun_fds[i],
			.tun_vnet = srv->tun_offload,
			.udp_gso = true,
			.udp_gro = true,
			.n_peer_ids = srv->table_size,
			.peer_id_live = srv->peer_id_live,
			.peer_id_limit = &srv->peer_id_limit,
			.vaddr_base = cfg->client_cidr.addr,
			.n_vaddrs = 1u << (32 - cfg->client_cidr.len),
		};

		if (udp && (wc.udp_fd = srv->worker_udp_fds[i] = open_worker_socket(srv, (struct sockaddr *)&ss, sl)) < 0)
			return -1;
		srv->workers[i] = dp_worker_new(&wc);
		if (!srv->workers[i]) {
			log_warnx("data worker %u: out of memory", i);
			return -1;
		}
	}
	/* the sockets are all in the group now (control first, then worker 1..N: their index is the program's
	 * answer); until here the kernel spread datagrams by hash, and nothing was connected yet */
	if (udp && (err = steer_udp_attach(srv->udp_fd, srv->n_workers)) < 0) {
		log_warnx("cannot attach the UDP steering program: %s", strerror(-err));
		return -1;
	}
	for (unsigned i = 0; i < srv->n_workers; i++) {
		if ((err = dp_worker_start(srv->workers[i])) < 0) {
			log_warnx("data worker %u: %s", i, strerror(-err));
			return -1;
		}
		sources[i] = (struct upcall_source){ srv, srv->workers[i] };
		if (server_watch_fd(srv, dp_worker_upcall_fd(srv->workers[i]), on_upcalls, &sources[i]) < 0) {
			log_warn("epoll");
			return -1;
		}
	}
	srv->dp_peer_ids = srv->table_size;
	if (srv->n_workers)
		log_info("%u data worker%s", srv->n_workers, srv->n_workers == 1 ? "" : "s");
	else
		log_info("TCP endpoint: the data path stays on the control thread");
	return 0;
}

void datapath_stop(struct server *srv)
{
	for (unsigned i = 0; i < CONFIG_MAX_DATA_WORKERS; i++) {
		dp_worker_free(srv->workers[i]);
		srv->workers[i] = NULL;
		if (srv->worker_udp_fds[i] >= 0)
			close(srv->worker_udp_fds[i]);
		srv->worker_udp_fds[i] = -1;
	}
	free(srv->peer_id_live); /* after the workers, which read it */
	srv->peer_id_live = NULL;
}

void datapath_peer_id_live(struct server *srv, uint32_t peer_id, bool live)
{
	if (srv->peer_id_live && peer_id < srv->dp_peer_ids)
		atomic_store_explicit(&srv->peer_id_live[peer_id], live ? 1 : 0, memory_order_relaxed);
}

void datapath_align_peer_id(struct server *srv, struct session *s)
{
	unsigned n = srv->n_workers;
	uint32_t want = n ? s->vaddr % n : 0;

	if (n <= 1 || s->peer_id % n == want)
		return;
	/* within the workers' tables, which a reload that raises max-connections does not grow */
	for (uint32_t id = want; id < srv->table_size && id < srv->dp_peer_ids; id += n)
		if (!srv->by_peer_id[id]) {
			srv->by_peer_id[s->peer_id] = NULL;
			datapath_peer_id_live(srv, s->peer_id, false);
			srv->by_peer_id[id] = s;
			datapath_peer_id_live(srv, id, true);
			s->peer_id = id;
			return;
		}
	/* every slot of its worker taken: the session stays with the control thread */
}

static bool adoptable(const struct session *s)
{
	const struct server *srv = s->srv;

	return srv->n_workers > 0 && !s->dp && s->transport == SESSION_UDP && s->peer_id_on && s->pushed &&
	       s->peer_id < srv->dp_peer_ids &&
	       s->state == SESSION_CONNECTED && s->vaddr && s->peer_id % srv->n_workers == s->vaddr % srv->n_workers;
}

/* The key out of ks into the heap, for the worker: ks keeps the key id and keys_ready, not the key. */
static struct aead_key *take_key(struct key_state *ks)
{
	struct aead_key *k = malloc(sizeof(*k));

	if (!k)
		return NULL;
	*k = ks->data;
	memset(&ks->data, 0, sizeof(ks->data));
	return k;
}

void datapath_adopt(struct session *s)
{
	struct server *srv = s->srv;
	struct dp_peer *p;
	struct dp_cmd c = { .kind = DP_PEER_ADD };

	if (srv->dco) {
		dco_adopt(s);
		return;
	}
	if (!adoptable(s) || !(p = calloc(1, sizeof(*p))))
		return;
	p->session_id = s->id;
	p->peer_id = s->peer_id;
	p->vaddr = s->vaddr;
	memcpy(&p->remote, &s->remote, sizeof(p->remote));
	p->remote_len = s->remote_len;
	p->local = s->local;
	p->tx_key = -1;
	for (int i = 0; i < 2; i++) {
		struct key_state *ks = &s->ks[i];

		if (ks->keys_ready && ks->data.enc && !p->keys[ks->key_id & 7]) {
			p->keys[ks->key_id & 7] = take_key(ks);
			if (!p->keys[ks->key_id & 7])
				goto nomem;
		}
	}
	/* what session.c's send_key would pick now */
	if (s->ks[0].state == KS_ACTIVE && s->ks[0].keys_ready)
		p->tx_key = s->ks[0].key_id;
	else if (s->ks[1].keys_ready)
		p->tx_key = s->ks[1].key_id;
	atomic_init(&p->last_rx_ms, s->last_rx_ms);
	atomic_init(&p->last_tx_ms, s->last_tx_ms);
	count_from_here(s);
	s->dp = p;
	s->dp_worker = s->peer_id % srv->n_workers;
	c.peer = p;
	dp_worker_post(srv->workers[s->dp_worker], &c);
	return;
nomem:
	/* keys already moved go back where they came from */
	for (int i = 0; i < 2; i++) {
		struct aead_key *k = p->keys[s->ks[i].key_id & 7];

		if (s->ks[i].keys_ready && k && !s->ks[i].data.enc) {
			s->ks[i].data = *k;
			free(k);
			p->keys[s->ks[i].key_id & 7] = NULL;
		}
	}
	free(p);
	log_warnx("session %llu: out of memory; its data stays on the control thread", (unsigned long long)s->id);
}

void datapath_key_added(struct session *s, struct key_state *ks)
{
	struct dp_cmd c = { .kind = DP_KEY_ADD, .key_id = ks->key_id };

	if (!s->dp)
		return;
	if (s->srv->dco) {
		int err = dco_install_key(s, ks);

		if (err < 0) /* the client's packets with it are dropped; the session ends by its keepalive */
			dco_warn(s, "cannot add a key", err, err == -ENOKEY ? "" : dco_kernel_message(s->srv->dco));
		return;
	}
	c.peer_id = s->peer_id;
	c.key = take_key(ks);
	if (!c.key) {
		/* the worker cannot decrypt with it: the session fails over to a reconnect via its timeouts */
		aead_key_clear(&ks->data);
		log_warnx("session %llu: out of memory for key-id %u", (unsigned long long)s->id, ks->key_id);
		return;
	}
	dp_worker_post(s->srv->workers[s->dp_worker], &c);
}

void datapath_key_tx(struct session *s, uint8_t key_id)
{
	if (s->dp && s->srv->dco)
		dco_key_tx(s, key_id);
	else if (s->dp)
		post(s, DP_KEY_TX, key_id);
}

void datapath_key_del(struct session *s, uint8_t key_id)
{
	if (s->dp && s->srv->dco)
		dco_key_del(s, key_id);
	else if (s->dp)
		post(s, DP_KEY_DEL, key_id);
}

void datapath_ping(struct session *s)
{
	if (s->dp && !s->srv->dco) /* the kernel pings its peers itself */
		post(s, DP_PING, 0);
}

static uint64_t load(_Atomic uint64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

void datapath_pull(struct session *s)
{
	struct dp_peer *p = s->dp;
	uint64_t rx, tx;

	if (!p || s->srv->dco)
		return; /* the kernel's counters cost a netlink request: datapath_pull_all and the release read them */
	s->bytes_in = s->dp_base_bytes_in + load(&p->bytes_in);
	s->bytes_out = s->dp_base_bytes_out + load(&p->bytes_out);
	s->pkts_in = s->dp_base_pkts_in + load(&p->pkts_in);
	s->pkts_out = s->dp_base_pkts_out + load(&p->pkts_out);
	s->spoofed_drops = s->dp_base_spoofed + load(&p->spoofed);
	rx = load(&p->last_rx_ms);
	tx = load(&p->last_tx_ms);
	if (rx > s->last_rx_ms)
		s->last_rx_ms = rx;
	if (tx > s->last_tx_ms)
		s->last_tx_ms = tx;
}

bool datapath_exit_seen(const struct session *s)
{
	return s->dp && !s->srv->dco && atomic_load_explicit(&s->dp->exit_seen, memory_order_relaxed);
}

void datapath_pull_all(struct server *srv)
{
	if (srv->dco) {
		int err = dco_dump_peers(srv->dco, on_dumped_peer, srv);

		if (err < 0)
			log_warnx("kernel data channel: cannot read the peers' counters: %s%s%s%s", strerror(-err),
				  *dco_kernel_message(srv->dco) ? " (the kernel says: " : "", dco_kernel_message(srv->dco),
				  *dco_kernel_message(srv->dco) ? ")" : "");
		return;
	}
	for (uint32_t i = 0; i < srv->table_size; i++)
		if (srv->by_peer_id[i] && srv->by_peer_id[i]->dp)
			datapath_pull(srv->by_peer_id[i]);
}

void datapath_release(struct session *s)
{
	if (!s->dp)
		return;
	if (s->srv->dco) {
		dco_release(s);
		return;
	}
	datapath_pull(s);
	post(s, DP_PEER_DEL, 0);
	s->dp = NULL; /* the worker frees it */
}

void datapath_stats(const struct server *srv, struct dp_worker_stats *sum)
{
	memset(sum, 0, sizeof(*sum));
	for (unsigned i = 0; i < srv->n_workers; i++) {
		struct dp_worker_stats st;

		if (!srv->workers[i])
			continue;
		dp_worker_get_stats(srv->workers[i], &st);
		sum->rx_packets += st.rx_packets;
		sum->tx_packets += st.tx_packets;
		sum->upcalls += st.upcalls;
		sum->upcall_drops += st.upcall_drops;
		sum->replays += st.replays;
		sum->bad_packets += st.bad_packets;
		sum->unrouted += st.unrouted;
		sum->spoofed += st.spoofed;
		sum->tun.packets += st.tun.packets;
		sum->tun.writes += st.tun.writes;
		sum->tun.merged += st.tun.merged;
		sum->tun.errors += st.tun.errors;
		sum->udp.datagrams += st.udp.datagrams;
		sum->udp.syscalls += st.udp.syscalls;
		sum->udp.gso_sends += st.udp.gso_sends;
		sum->udp.errors += st.udp.errors;
		sum->udp.gso |= st.udp.gso;
		sum->udp_rx_datagrams += st.udp_rx_datagrams;
		sum->udp_rx_coalesced += st.udp_rx_coalesced;
		sum->udp_gro |= st.udp_gro;
	}
}
