/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_AUTH_H
#define CVPN_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Logins that need more than the certificate: the directory (LDAP), TOTP, the client connect handler. They
 * run on a pool of worker threads; verdicts come back to the event loop through an eventfd and reach the
 * session through session_login_done(), after the failed-login backoff delay of its username and address.
 * Nothing here blocks the loop: a slow directory or handler holds one worker, not the gateway. */

struct config;
struct server;
struct session;
struct tls_ctx;

#define AUTH_WORKERS 16

struct auth;

/* Creates the completion eventfd on srv's loop; the workers start with the first login. 0 or -errno. */
int auth_new(struct server *srv, struct auth **out);
/* Stops the workers (running connect handlers are killed) and frees what is left. */
void auth_free(struct auth *a);

/* Does a new session under cfg wait for a verdict (directory or connect handler)? */
bool auth_async(const struct config *cfg);
/* Starts the login of s, which stays in its handshake until session_login_done(). username and password
 * are what key-method-2 carried (copied; the copies are wiped when done); peer_info for the handler.
 * Returns 0, or -1 with a reason safe to show (no username, malformed MFA answer ...): refuse at once. */
int auth_start(struct auth *a, struct session *s, const char *username, const char *password,
	       const char *peer_info, char *reason, size_t reason_len, uint64_t now_ms);
/* The session ends: its login, if any, is dropped (a running handler is killed). */
void auth_cancel(struct session *s);
/* From the session's tick: delivers a verdict whose backoff delay has run out. */
void auth_tick(struct session *s, uint64_t now_ms);

/* The server's TLS context for cfg: certificate, key, the client CA when certificates are checked, and the
 * CRL (PEM or DER; an expired one is logged and makes every certificate login fail). -1 with err. */
int auth_tls_ctx(const struct config *cfg, struct tls_ctx **out, char *err, size_t errlen);

#endif
