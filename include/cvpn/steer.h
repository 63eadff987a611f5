/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_STEER_H
#define CVPN_STEER_H

/* Kernel-side steering that gives each data worker its own sessions' packets, so no packet crosses threads:
 * a session belongs to worker (peer-id mod N), and its client address is chosen with the same remainder.
 *
 * UDP: the control socket and the N workers' sockets share the port (SO_REUSEPORT, bound in that order);
 * a classic BPF program picks the socket by the datagram's first bytes: P_DATA_V2 goes to worker
 * (peer-id mod N), everything else (control packets, P_DATA_V1, runts) to the control socket.
 * TUN: an eBPF program picks the queue of a packet to a client: (destination IPv4 address mod N). */

/* Attaches the UDP program to the reuseport group fd is in. The group's socket i must be: 0 the control
 * socket, 1..n_workers the workers'. 0 or -errno. */
int steer_udp_attach(int fd, unsigned n_workers);

/* Loads the TUN program and attaches it to the device of tun_fd (one of its queues), whose queue i must be
 * worker i's. Needs CAP_BPF or CAP_SYS_ADMIN. 0 or -errno. */
int steer_tun_attach(int tun_fd, unsigned n_queues);

#endif
