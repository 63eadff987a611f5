/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_CTLCLIENT_H
#define CVPN_CTLCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* The client end of cvpnd's control socket (mgmt.h), shared by cvpnctl and `cvpnd --check`: one JSON request
 * line out, one JSON reply line back. And what `check` adds to validation: the ruleset a config file would
 * give, compiled here as the daemon would compile it, against the one the daemon runs. */

struct config;
struct diff_stats;
struct json_object;

#define CTLCLIENT_REPLY_MAX (64u << 20)   /* a reply listing every connection of a busy hour fits many times */
#define CTLCLIENT_TIMEOUT_S 10

/* The socket to talk to: path when given, else $CVPN_SOCKET, else cfg's control-socket (cfg may be NULL),
 * else CONFIG_DEFAULT_CONTROL_SOCKET. */
const char *ctlclient_socket(const char *path, const struct config *cfg);

/* Sends req (borrowed) to the daemon at path; on success *reply owns the reply object. Else -errno with a
 * sentence in why: -ENOENT or -ECONNREFUSED when no daemon listens there (ctlclient_no_daemon), -EMSGSIZE
 * for a reply over CTLCLIENT_REPLY_MAX, -EPROTO for one that is not a JSON object, -ECONNRESET when the
 * daemon closed before a whole reply, others from the socket calls. */
int ctlclient_call(const char *path, struct json_object *req, struct json_object **reply, char *why,
		   size_t why_len);
bool ctlclient_no_daemon(int err);

/* Asks the daemon at path for its ruleset (`ruleset`), compiles cfg for this host (each association's SNAT
 * address from its interface, the daemon's tun name, the daemon's session profiles replayed in order) and
 * writes the unified diff from the running ruleset to cfg's to out: nothing when they are equal (st->hunks
 * == 0). Returns 0; -ENOENT / -ECONNREFUSED when no daemon answers (nothing written); any other -errno
 * after writing the reason to errs ("file:line: ..." when it is the file's). */
int ctlclient_ruleset_diff(const char *path, const struct config *cfg, FILE *out, struct diff_stats *st,
			   FILE *errs);
/* `check`'s report after a file validated, for people: the diff under a one-line summary, or "no change
 * to the kernel policy", to out; to errs that no daemon answers or that the socket is closed to the caller
 * (-EACCES) — 0 all the same: the file is valid — or why the comparison failed (-errno). */
int ctlclient_check_print(const char *path, const struct config *cfg, FILE *out, FILE *errs);

#endif
