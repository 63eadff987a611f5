/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_MGMT_H
#define CVPN_MGMT_H

#include <stdbool.h>
#include <stdint.h>

/* cvpnd's control socket: a Unix stream socket (mode 0660, in a root-owned directory) that cvpnctl talks
 * to. One JSON request per line ({"command": "status", ...}), one JSON reply per line ({"ok": true, ...} or
 * {"ok": false, "error": "..."}). Only root and members of the socket's group are served (SO_PEERCRED and
 * SO_PEERGROUPS). Everything is non-blocking and runs on the daemon's control thread: the module has an
 * epoll set of its own whose fd the server polls. */

struct mgmt;
struct server;

#define MGMT_REQUEST_MAX 4096      /* a request longer than this closes the connection */
#define MGMT_CLIENTS_MAX 16
#define MGMT_IDLE_MS 10000         /* a client that sends nothing for this long is dropped */

/* Creates the socket at path (its directory is created 0750 if missing, and must be owned by root and not
 * writable by others); group: name or number of the group allowed besides root, NULL = root only.
 * A stale socket left by a dead daemon is replaced; a live one is an error (-EADDRINUSE). 0 or -errno. */
int mgmt_open(const char *path, const char *group, struct server *srv, struct mgmt **out);
/* Whether a daemon answers on the socket at path (a live cvpnd, not a file left by one that died). */
bool mgmt_socket_live(const char *path);
/* The fd to poll for input (an epoll fd). */
int mgmt_fd(const struct mgmt *m);
/* Serves whatever is ready. */
void mgmt_dispatch(struct mgmt *m, uint64_t now_ms);
/* Drops idle clients. */
void mgmt_tick(struct mgmt *m, uint64_t now_ms);
/* Closes every connection and removes the socket file. Accepts NULL. */
void mgmt_close(struct mgmt *m);

#endif
