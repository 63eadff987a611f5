/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_DCO_H
#define CVPN_DCO_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "cvpn/udp_local.h"

#include "cvpn/config.h"

/* The kernel's OpenVPN data channel ("data channel offload") over generic netlink, as Linux's own ovpn module
 * (6.16 and later) or Debian 12's out-of-tree openvpn-dco-dkms (ovpn-dco-v2) offers it, whichever the kernel
 * has (ovpn first). cvpnd keeps the control channel; the kernel decrypts,
 * checks the inner source against the peer's address, and forwards, and encrypts what it routes to a
 * peer's address, all without a copy to userspace. This file only speaks netlink: one interface in
 * multi-peer mode, and its peers (a session each) with their keys.
 *
 * Every call returns 0 or -errno; nothing here logs: the caller knows which session to name. */

struct dco;

#define DCO_IFNAME_PREFIX "cvpn-tun"

/* The kernel's two key slots per peer: it sends with the primary and receives with either (by key-id). */
enum dco_slot { DCO_SLOT_PRIMARY = 0, DCO_SLOT_SECONDARY = 1 };

/* Why the kernel removed a peer (its notification). */
enum dco_del_reason {
	DCO_DEL_TEARDOWN = 0,
	DCO_DEL_USERSPACE = 1,
	DCO_DEL_EXPIRED = 2,     /* nothing received within the keepalive timeout */
	DCO_DEL_TRANSPORT_ERROR = 3,
	DCO_DEL_TRANSPORT_DISCONNECT = 4,
};

struct dco_peer_stats {
	uint64_t rx_bytes, tx_bytes;     /* inner (IP) bytes, as the userspace data path counts them */
	uint32_t rx_packets, tx_packets;
};


/* Creates the interface: the first free name of prefix and a number ("cvpn-tun0"), written to ifname.
 * -ENOTSUP when the kernel has no such module. */
int dco_open(struct dco **out, const char *prefix, char ifname[IF_NAMESIZE]);
/* Peers and keys of an existing interface (of another process: tests, diagnostics); no notifications, and
 * dco_close leaves the interface. 0, or -ENOTSUP without a module, -ENODEV without the interface. */
int dco_attach(struct dco **out, const char *ifname);
/* Deletes the interface (its peers with it; not one of dco_attach's) and frees. */
void dco_close(struct dco *d);
/* Deletes every interface of either kind whose name starts with prefix in this network namespace: what a
 * cvpnd that crashed left (its peers still forward until then). Returns how many, or -errno. */
int dco_remove_stale(const char *prefix);

int dco_ifindex(const struct dco *d);
/* The kernel's words for why it refused the last operation on peers and keys ("" when it gave none):
 * for the log, next to the errno. */
const char *dco_kernel_message(const struct dco *d);
/* Which module the interface belongs to: "ovpn" or "ovpn-dco-v2". */
const char *dco_module(const struct dco *d);
/* The socket the kernel's peer notifications (a peer expired) arrive on; read them with dco_read_events. */
int dco_event_fd(const struct dco *d);

/* A peer on UDP socket sock_fd (the kernel takes over its P_DATA_V2 datagrams) at remote, with inner
 * address vaddr (host order); what the kernel sends it leaves from local (NULL or unknown: the address the
 * kernel's routing picks), the address the client sends to (cvpn/udp_local.h). */
int dco_new_peer(struct dco *d, uint32_t peer_id, int sock_fd, const struct sockaddr *remote, socklen_t remote_len,
		 const struct udp_local *local, uint32_t vaddr);
/* The kernel sends a keepalive ping after interval_s without sending, and removes the peer (notifying)
 * after timeout_s without receiving. */
int dco_set_keepalive(struct dco *d, uint32_t peer_id, uint32_t interval_s, uint32_t timeout_s);
/* A key into a slot, from the 256-byte key block (openvpn-protocol.md §5.1) in the server role. */
int dco_new_key(struct dco *d, uint32_t peer_id, enum dco_slot slot, uint8_t key_id, enum cvpn_cipher cipher,
		const uint8_t block[256]);
int dco_swap_keys(struct dco *d, uint32_t peer_id);
int dco_del_key(struct dco *d, uint32_t peer_id, enum dco_slot slot);
int dco_del_peer(struct dco *d, uint32_t peer_id);
int dco_get_peer(struct dco *d, uint32_t peer_id, struct dco_peer_stats *st);
/* Every peer's counters in one dump: cb once per peer. */
int dco_dump_peers(struct dco *d, void (*cb)(void *arg, uint32_t peer_id, const struct dco_peer_stats *st),
		   void *arg);

/* Reads what is waiting on dco_event_fd: cb once per peer the kernel removed. Returns the count or -errno;
 * *lost is set when the socket overflowed and notifications were lost (then ask dco_get_peer). */
int dco_read_events(struct dco *d, void (*cb)(void *arg, uint32_t peer_id, enum dco_del_reason reason), void *arg,
		    bool *lost);

#endif
