/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_TRACK_H
#define CVPN_TRACK_H

#include <stddef.h>
#include <stdint.h>

#include "cvpn/connlog.h"

/* What operators see of connections: the connection log records at each step of a session's life, and the
 * connections that ended in the last hour (for `cvpnctl connections`). Sessions call the hooks; the server
 * owns one struct track. */

struct server;
struct session;

#define TRACK_HISTORY_SECONDS 3600
#define TRACK_HISTORY_MAX 8192     /* beyond this many ended connections in an hour, the oldest are dropped */

struct track;

/* Opens the connection log when path is not NULL. Returns 0 or -errno (the log could not be opened). */
int track_new(const char *connlog_path, struct track **out);
void track_free(struct track *t);
/* SIGUSR1: reopen the log file. 0 or -errno. */
int track_reopen_log(struct track *t);
/* Reload: switch to another log path (NULL = off). 0 or -errno; on error the old log stays. */
int track_set_log(struct track *t, const char *path);

/* Snapshot of a live session. */
void track_info(const struct session *s, struct conn_info *ci);

/* The session's attempt is decided: successful (it is CONNECTED) or failed (reason). Logged once. */
void track_attempt(struct session *s, const char *failure);
/* The session ends (before it is freed): reset record, history, totals. */
void track_end(struct session *s, const char *why);
/* Periodic: update records for connections last logged update_seconds ago; drops old history. */
void track_tick(struct server *srv, uint64_t now_ms);

/* Ended connections, oldest first; *n set to their count. Borrowed until the next track_* call. */
const struct conn_info *track_history(struct track *t, size_t i);
size_t track_history_len(struct track *t);

#endif
