/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_MGMT_REQUEST_H
#define CVPN_MGMT_REQUEST_H

#include <stddef.h>
#include <stdint.h>

/* One control-socket request line (mgmt.h), parsed and validated into a typed request before anything runs.
 * Pure: json-c only, no server state. The line comes from a local user in the socket's group: hostile. */

#define MGMT_REQUEST_NAME_MAX 256  /* user, group, username, connection-id: at most 255 bytes and the NUL */
#define MGMT_REQUEST_ERROR_MAX 192

enum mgmt_command {
	MGMT_CMD_NONE = 0,           /* only in a failed parse */
	MGMT_CMD_STATUS,
	MGMT_CMD_CONNECTIONS,
	MGMT_CMD_TERMINATE,
	MGMT_CMD_RELOAD,
	MGMT_CMD_METRICS,
	MGMT_CMD_EXPLAIN,
	MGMT_CMD_RULESET,
};

/* Strings are "" when not given; a given one is never empty and never holds a NUL. Keys a command does not
 * take are ignored; so is a key whose value is null. */
struct mgmt_request {
	enum mgmt_command command;
	/* terminate: exactly one of the two */
	char connection_id[MGMT_REQUEST_NAME_MAX];
	char username[MGMT_REQUEST_NAME_MAX];
	/* explain: exactly one of user and group, to, proto, port */
	char user[MGMT_REQUEST_NAME_MAX];
	char group[MGMT_REQUEST_NAME_MAX];
	char to[16];                 /* the address as sent (dotted quad, so it fits) */
	uint32_t to_addr;            /* host byte order */
	int proto;                   /* 0-255; CONFIG_PROTO_ICMP when not given */
	char proto_name[8];          /* "icmp", "tcp", "udp" or the number */
	int port;                    /* 0-65535, given exactly when the protocol has ports; else -1 */
	/* why a parse failed, for the reply's "error"; "" on success */
	char error[MGMT_REQUEST_ERROR_MAX];
};

/* Parses one request: a JSON object (strict JSON, valid UTF-8, nothing but whitespace after it) of len
 * bytes at line; line need not be NUL-terminated and a NUL byte in it is refused. Returns 0, or -EINVAL
 * with req->error saying why (the text the daemon replies with) and every other field cleared. The request
 * holds no pointers: nothing to free. */
int mgmt_request_parse(const char *line, size_t len, struct mgmt_request *req);

/* The command's name on the wire, or NULL for one out of range. */
const char *mgmt_request_command_name(enum mgmt_command cmd);

#endif
