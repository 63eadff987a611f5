/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_WORKER_H
#define CVPN_WORKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "cvpn/tuntx.h"
#include "cvpn/udptx.h"

/* A data worker: one thread that owns one UDP socket and one tun queue (steer.h makes the kernel hand it
 * only its own sessions' packets) and the data path of the sessions handed to it: their keys, replay windows
 * and packet counters. It decrypts datagrams into its tun queue and encrypts what the queue gives it, in
 * batches, and never waits for the control thread: the control thread tells it of sessions and keys by
 * commands through a lock-free ring, and it hands back what is not its own (packets of sessions the control
 * thread keeps, a client's goodbye) the same way. Nothing is allocated or locked per packet. */

#define DP_MAX_WORKERS 16
#define DP_UPCALL_MAX 2048   /* bytes of packet an upcall carries: a data packet of the tunnel MTU, with room */

struct aead_key;

/* One UDP session's data path. The control thread allocates it and fills the fields up to remote_len; from
 * DP_PEER_ADD on the worker owns it and frees it at DP_PEER_DEL. The counters are the worker's to write and
 * the control thread's to read (relaxed atomics: one writer, plain loads and stores on the machine). */
struct dp_peer {
	uint64_t session_id;
	uint32_t peer_id;
	uint32_t vaddr;                       /* the client's address, host order: its only source */
	struct sockaddr_storage remote;
	socklen_t remote_len;
	struct udp_local local;               /* our address the client sends to: data leaves from it */
	/* the worker's */
	struct aead_key *keys[8];             /* by key id */
	int tx_key;                           /* key id data leaves with; -1: none */
	_Atomic uint64_t bytes_in, pkts_in, bytes_out, pkts_out, spoofed, last_rx_ms, last_tx_ms;
	/* the client's goodbye came when the upcall ring was full: the control thread finds it here instead */
	_Atomic bool exit_seen;
};

enum dp_cmd_kind {
	DP_PEER_ADD = 1,  /* peer: the worker takes it */
	DP_PEER_DEL,      /* peer_id: the worker unlinks and frees it with its keys */
	DP_KEY_ADD,       /* peer_id, key_id, key: packets with key_id decrypt with it; the worker owns it */
	DP_KEY_TX,        /* peer_id, key_id: data leaves with this key from now */
	DP_KEY_DEL,       /* peer_id, key_id */
	DP_PING,          /* peer_id: send a keepalive ping */
	DP_STOP,
};

struct dp_cmd {
	enum dp_cmd_kind kind;
	uint32_t peer_id;
	uint8_t key_id;
	struct dp_peer *peer;
	struct aead_key *key;
};

enum dp_upcall_kind {
	DP_UP_DATAGRAM = 1,  /* a datagram for no session of this worker: from, data */
	DP_UP_IP,            /* an IP packet from the tun for no session of this worker: data */
	DP_UP_EXIT,          /* the client of peer_id/session_id said goodbye (OCC_EXIT) */
};

struct dp_upcall {
	enum dp_upcall_kind kind;
	uint32_t peer_id;
	uint64_t session_id;
	struct sockaddr_storage from;
	socklen_t from_len;
	struct udp_local local;  /* DP_UP_DATAGRAM: where it came to */
	uint32_t len;
	uint8_t data[DP_UPCALL_MAX];
};

struct dp_worker_config {
	unsigned index;
	int udp_fd;          /* the worker's socket, or -1 (TCP endpoint: tun only); not closed by the worker */
	int tun_fd;          /* the worker's tun queue; not closed by the worker */
	bool tun_vnet;       /* the queue has the vnet header (tun_open_queues' offload) */
	bool udp_gso;        /* try UDP GSO when sending */
	bool udp_gro;        /* ask the kernel to hand over a flow's datagrams coalesced (UDP_GRO) */
	uint32_t n_peer_ids; /* peer ids are 0..n_peer_ids-1 */
	/* [n_peer_ids], the control thread's to write: non-zero for a peer-id some session holds. A P_DATA_V2
	 * datagram for a peer-id the worker has no peer for is passed up only when its entry is set (or the id is
	 * beyond the table); the rest is a stranger's and dropped here. NULL: every one is passed up. */
	const _Atomic uint8_t *peer_id_live;
	/* the control thread's peer-id table size (a reload may raise it past n_peer_ids): a datagram with a
	 * peer-id at or above it can belong to no session and is dropped here. NULL: no such bound. */
	const _Atomic uint32_t *peer_id_limit;
	uint32_t vaddr_base; /* client addresses, host order: vaddr_base .. vaddr_base + n_vaddrs - 1 */
	uint32_t n_vaddrs;
};

struct dp_worker_stats {
	uint64_t rx_packets;     /* datagrams decrypted into the tun */
	uint64_t tx_packets;     /* packets encrypted to clients */
	uint64_t upcalls, upcall_drops, replays, bad_packets, unrouted, spoofed;
	uint64_t udp_rx_datagrams;  /* datagrams read from the socket, coalesced ones counted one by one */
	uint64_t udp_rx_coalesced;  /* buffers the kernel coalesced (UDP GRO), each holding several datagrams */
	bool udp_gro;               /* UDP GRO in use */
	struct tuntx_stats tun;
	struct udptx_stats udp;
};

struct dp_worker;

/* A worker, not yet running. NULL: no memory (or a bad config). */
struct dp_worker *dp_worker_new(const struct dp_worker_config *c);
/* Starts its thread. 0 or -errno. */
int dp_worker_start(struct dp_worker *w);
/* Stops the thread (if it runs) and frees the worker with every peer and key it holds, the commands still
 * queued included. */
void dp_worker_free(struct dp_worker *w);

/* Control thread: queues a command and wakes the worker. Waits (briefly: the worker drains its queue
 * without ever waiting for us) while the ring is full. */
void dp_worker_post(struct dp_worker *w, const struct dp_cmd *c);
/* Control thread: readable (an eventfd) when upcalls wait; peek, handle, release them in order. */
int dp_worker_upcall_fd(const struct dp_worker *w);
const struct dp_upcall *dp_worker_upcall_peek(struct dp_worker *w);
void dp_worker_upcall_release(struct dp_worker *w);
/* Any thread: the counters as of the worker's last pass. */
void dp_worker_get_stats(const struct dp_worker *w, struct dp_worker_stats *st);

/* What the thread does, callable directly on a worker that is not running (tests): one command, one
 * received datagram, one tun read (a vnet super-packet is cut first), and the end of a batch (queued tun
 * writes and datagrams leave, upcalls are signalled). */
void dp_worker_apply(struct dp_worker *w, const struct dp_cmd *c);
void dp_worker_on_datagram(struct dp_worker *w, const uint8_t *buf, size_t len, const struct sockaddr *from,
			   socklen_t from_len, uint64_t now_ms);
void dp_worker_on_tun(struct dp_worker *w, uint8_t *buf, size_t len, uint64_t now_ms);
void dp_worker_end_batch(struct dp_worker *w);

/* The same UDP peer: family, address and port. */
bool dp_same_remote(const struct sockaddr *a, const struct sockaddr *b);

#endif
