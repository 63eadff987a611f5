/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_HANDLER_H
#define CVPN_HANDLER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

/* The client connect handler (semantics.md §1): an operator's executable run after authentication and before
 * the session gets an address, JSON on stdin, JSON on stdout. It fails closed. handler_run blocks until the
 * handler answers or its time is up: it runs on the authentication workers (auth.c). */

#define HANDLER_MSG_MAX 255        /* error-msg-on-denied-connection, characters shown to the user */
#define HANDLER_POSTURE_MAX 10     /* posture-compliance-statuses */
#define HANDLER_POSTURE_LEN 64
#define HANDLER_OUTPUT_MAX 65536   /* more than this on stdout is a malformed answer */

struct handler_input {
	const char *connection_id, *endpoint_id, *common_name, *username, *platform, *platform_version,
		*public_ip, *client_version;
	const char *const *groups;
	size_t n_groups;
};

struct handler_output {
	bool allow;
	char message[HANDLER_MSG_MAX + 1];    /* "" when none; printable, safe to send in AUTH_FAILED */
	char posture[HANDLER_POSTURE_MAX][HANDLER_POSTURE_LEN];
	size_t n_posture;
};

/* The JSON the handler reads (a NUL-terminated string to free()), or NULL when out of memory. Empty
 * fields are written as "" (groups as []), as the cloud's handlers expect every key. */
char *handler_input_json(const struct handler_input *in);

/* Parses the handler's answer. 0, or -EINVAL with a reason in why: not one JSON object, `allow` missing or
 * not a boolean, a message over HANDLER_MSG_MAX characters, more than HANDLER_POSTURE_MAX statuses or one
 * that is not a string. Control characters in the message become spaces. */
int handler_parse_output(const char *buf, size_t len, struct handler_output *out, char *why, size_t why_len);

/* Runs path with input on stdin, stdout read into the answer, stderr inherited (the daemon's log). Returns
 * 0 with out filled, -ETIMEDOUT (killed after timeout_s or when *abort became true), -ECHILD (exited
 * non-zero or by a signal), -EINVAL (malformed answer) or another -errno (could not run it); why says
 * more, for the log. */
int handler_run(const char *path, const char *input, unsigned timeout_s, const atomic_bool *abort,
		struct handler_output *out, char *why, size_t why_len);

#endif
