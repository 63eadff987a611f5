/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_DATAPATH_H
#define CVPN_DATAPATH_H

#include <stdint.h>

#include "cvpn/worker.h"

/* The control thread's side of the data path: the data workers (worker.h), or the kernel's data channel
 * (dco.h) when the endpoint says data-channel: kernel. For the workers: it starts them with their sockets and tun queues,
 * hands a UDP session to its worker once the session is pushed (its keys move there; the control thread
 * keeps none of them), tells the worker of every key change after that, takes back what the workers pass up,
 * and reads their counters. A session the workers cannot take (TCP, a client without peer-id) stays with the
 * control thread, which then does its data as well. */

struct server;
struct session;
struct key_state;

/* Starts srv->n_workers workers on srv->tun_fds and, for UDP, one reuseport socket each beside srv->udp_fd.
 * 0 or -1 (logged). */
int datapath_start(struct server *srv);
/* Stops and frees the workers and closes their sockets; the tun queues stay srv's. */
void datapath_stop(struct server *srv);

/* At address assignment: moves the session to a peer-id with the same remainder modulo the worker count as
 * its address, so the UDP and the tun steering pick the same worker. */
void datapath_align_peer_id(struct server *srv, struct session *s);
/* Tells the workers that a session now holds (live) or no longer holds peer_id: they drop datagrams for
 * peer-ids nobody holds instead of passing them up. No-op without workers. */
void datapath_peer_id_live(struct server *srv, uint32_t peer_id, bool live);
/* After the push: hands the session's data path to its worker when it can take it. */
void datapath_adopt(struct session *s);
/* A handed-over session's key changes: a new key (moved out of ks), the key data leaves with, a key gone. */
void datapath_key_added(struct session *s, struct key_state *ks);
void datapath_key_tx(struct session *s, uint8_t key_id);
void datapath_key_del(struct session *s, uint8_t key_id);
/* A keepalive ping from the worker. */
void datapath_ping(struct session *s);
/* The worker's counters and last-packet times into the session (s->bytes_in, s->last_rx_ms, ...). */
void datapath_pull(struct session *s);
/* The client said goodbye while its worker's upcall ring was full (the goodbye came this way instead). */
bool datapath_exit_seen(const struct session *s);
/* Every session's: before anything reads them. */
void datapath_pull_all(struct server *srv);
/* The session stops taking data: a last pull, and the worker frees its part. */
void datapath_release(struct session *s);
/* Kernel data channel (srv->dco): derive_keys keeps the key block for the kernel (0, or -ENOMEM), until the
 * kernel has it or the key state goes. No-op in userspace mode. */
int datapath_keep_block(struct session *s, struct key_state *ks, const uint8_t block[256]);
void datapath_forget_block(struct key_state *ks);
/* Whether the data path keeps the session's keepalive (the kernel pings and times it out itself). */
bool datapath_keeps_alive(const struct session *s);
/* Every worker's counters added up. */
void datapath_stats(const struct server *srv, struct dp_worker_stats *sum);

#endif
