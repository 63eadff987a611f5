/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_DCO_GUARD_H
#define CVPN_DCO_GUARD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/* What stands between the network and the kernel's data channel. The module looks a P_DATA_V2 packet's
 * peer up by the peer-id in its clear header and, before decrypting anything, moves the peer to the
 * packet's source address ("float"): anyone who guesses a peer-id could send a session's traffic to
 * themselves, and one client could do it to another's session. cvpnd does not float in userspace either,
 * so `table inet cvpn_dco` drops every P_DATA_V2 packet to the gateway's port whose source address, port
 * and peer-id are not those of a live session, before the module sees it (nft-templates/cvpn-dco.nft).
 *
 * Every call returns 0 or -errno and logs nothing. */

#define DCO_GUARD_TABLE "cvpn_dco"

/* Installs the table for the endpoint's UDP socket bound to listen (its address and port: a wildcard
 * address guards every local address, "::" IPv4 too as the socket is dual-stack), empty (every data packet
 * dropped), replacing one left by a previous run. */
int dco_guard_install(const struct sockaddr *listen, socklen_t listen_len);
/* Admits (add) or stops admitting data packets from remote (an IPv4, IPv6 or IPv4-mapped address) with
 * peer_id. Adding an element that is there already is no error, nor is deleting one that is not. An
 * element that could not be deleted is remembered and deleted again before anything else; while one for
 * peer_id remains, adding another for peer_id fails (-EBUSY): the old remote could float the new peer. */
int dco_guard_peer(const struct sockaddr *remote, socklen_t remote_len, uint32_t peer_id, bool add);
/* Removes the table; 0 also when there was none. */
int dco_guard_remove(void);

#endif
