// SPDX-License-Identifier: GPL-2.0-or-later
/* Control-socket requests: one JSON line in, a typed and validated struct mgmt_request out. Everything a
 * command needs from the request is checked here, before the daemon's tables are touched, so mgmt.c only
 * executes and the fuzzer can reach every refusal without a server. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <json-c/json.h>

#include "cvpn/config.h"
#include "cvpn/mgmt.h"
#include "cvpn/mgmt_request.h"

static const char *const command_names[] = {
	[MGMT_CMD_STATUS] = "status",   [MGMT_CMD_CONNECTIONS] = "connections", [MGMT_CMD_TERMINATE] = "terminate",
	[MGMT_CMD_RELOAD] = "reload",   [MGMT_CMD_METRICS] = "metrics",         [MGMT_CMD_EXPLAIN] = "explain",
	[MGMT_CMD_RULESET] = "ruleset",
};
#define N_COMMANDS (sizeof(command_names) / sizeof(command_names[0]))

const char *mgmt_request_command_name(enum mgmt_command cmd)
{
	return cmd > MGMT_CMD_NONE && (size_t)cmd < N_COMMANDS ? command_names[cmd] : NULL;
}

static int fail(struct mgmt_request *req, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct mgmt_request *req, const char *fmt, ...)
{
	char msg[MGMT_REQUEST_ERROR_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* a half-filled request must not be mistaken for a valid one */
	memset(req, 0, sizeof(*req));
	memcpy(req->error, msg, sizeof(msg));
	return -EINVAL;
}

/* The value under key: NULL when missing or JSON null (both mean "not given"). */
static struct json_object *field(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

/* A string argument into dst[cap]: 1 given, 0 not given, -EINVAL wrong type, empty, too long or with a NUL
 * (json allows "\u0000"; strcmp on it would see a shorter name than the one sent). */
static int get_name(struct json_object *o, const char *key, char *dst, size_t cap, struct mgmt_request *req)
{
	struct json_object *v = field(o, key);
	const char *s;
	size_t len;

	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return fail(req, "%s must be a string", key);
	s = json_object_get_string(v);
	len = (size_t)json_object_get_string_len(v);
	if (len == 0 || len >= cap || memchr(s, '\0', len))
		return fail(req, "%s must be 1-%zu bytes without a NUL", key, cap - 1);
	memcpy(dst, s, len);
	dst[len] = '\0';
	return 1;
}

/* tcp, udp, icmp or a decimal number 0-255 (digits only: no sign, no spaces); -1 for anything else. */
static int parse_proto(const char *s, size_t len)
{
	int v = 0;

	if (len == 4 && !memcmp(s, "icmp", 4))
		return CONFIG_PROTO_ICMP;
	if (len == 3 && !memcmp(s, "tcp", 3))
		return CONFIG_PROTO_TCP;
	if (len == 3 && !memcmp(s, "udp", 3))
		return CONFIG_PROTO_UDP;
	if (len == 0 || len > 3)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v <= 255 ? v : -1;
}

static void proto_name(int proto, char buf[8])
{
	switch (proto) {
	case CONFIG_PROTO_ICMP: snprintf(buf, 8, "icmp"); break;
	case CONFIG_PROTO_TCP: snprintf(buf, 8, "tcp"); break;
	case CONFIG_PROTO_UDP: snprintf(buf, 8, "udp"); break;
	default: snprintf(buf, 8, "%d", proto); break;
	}
}

/* protocols with a destination port (as config validation and the ruleset know them) */
static bool proto_has_port(int proto)
{
	return proto == 6 || proto == 17 || proto == 33 || proto == 132 || proto == 136;
}

static int parse_terminate(struct json_object *o, struct mgmt_request *req)
{
	int id, user;

	if ((id = get_name(o, "connection-id", req->connection_id, sizeof(req->connection_id), req)) < 0 ||
	    (user = get_name(o, "username", req->username, sizeof(req->username), req)) < 0)
		return -EINVAL;
	if (id == user)
		return fail(req, "terminate needs exactly one of connection-id and username");
	return 0;
}

static int parse_explain(struct json_object *o, struct mgmt_request *req)
{
	struct json_object *to = field(o, "to"), *proto = field(o, "proto"), *port = field(o, "port");
	struct in_addr ia;
	int user, group;
	int64_t p;

	if ((user = get_name(o, "user", req->user, sizeof(req->user), req)) < 0 ||
	    (group = get_name(o, "group", req->group, sizeof(req->group), req)) < 0)
		return -EINVAL;
	if (user == group)
		return fail(req, "explain needs exactly one of user and group");
	/* inet_pton takes dotted quads only: 15 bytes at most, so the text fits req->to */
	if (!to || !json_object_is_type(to, json_type_string) ||
	    (size_t)json_object_get_string_len(to) >= sizeof(req->to) ||
	    strlen(json_object_get_string(to)) != (size_t)json_object_get_string_len(to) ||
	    inet_pton(AF_INET, json_object_get_string(to), &ia) != 1)
		return fail(req, "explain needs \"to\": an IPv4 address");
	memcpy(req->to, json_object_get_string(to), (size_t)json_object_get_string_len(to) + 1);
	req->to_addr = ntohl(ia.s_addr);

	/* no protocol: a packet every protocol rule would see, as ICMP does (cvpnctl sends "icmp" then) */
	req->proto = CONFIG_PROTO_ICMP;
	if (proto && (!json_object_is_type(proto, json_type_string) ||
		      (req->proto = parse_proto(json_object_get_string(proto),
						(size_t)json_object_get_string_len(proto))) < 0))
		return fail(req, "protocol must be tcp, udp, icmp or a number 0-255");
	proto_name(req->proto, req->proto_name);

	req->port = -1;
	if (port) {
		if (!json_object_is_type(port, json_type_int) || (p = json_object_get_int64(port)) < 0 || p > 65535)
			return fail(req, "port must be a number 0-65535");
		req->port = (int)p;
	}
	if (proto_has_port(req->proto) && req->port < 0)
		return fail(req, "%s needs a destination port", req->proto_name);
	if (!proto_has_port(req->proto) && req->port >= 0)
		return fail(req, "protocol %s has no ports", req->proto_name);
	return 0;
}

int mgmt_request_parse(const char *line, size_t len, struct mgmt_request *req)
{
	struct json_tokener *tok = NULL;
	struct json_object *o = NULL, *cmd;
	const char *name;
	size_t name_len;
	int ret = -EINVAL;

	memset(req, 0, sizeof(*req));
	req->port = -1;
	if (len >= MGMT_REQUEST_MAX) {
		ret = fail(req, "request longer than %d bytes", MGMT_REQUEST_MAX - 1);
		goto out;
	}
	/* json-c stops at a NUL as at the end of the text: whatever followed it would go unchecked */
	if (memchr(line, '\0', len)) {
		ret = fail(req, "the request is not a JSON object");
		goto out;
	}
	tok = json_tokener_new();
	if (!tok) {
		ret = fail(req, "out of memory");
		goto out;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, line, (int)len);
	/* strict mode refuses trailing bytes other than whitespace; check it consumed everything regardless */
	if (!o || json_tokener_get_error(tok) != json_tokener_success || json_tokener_get_parse_end(tok) != len ||
	    !json_object_is_type(o, json_type_object)) {
		ret = fail(req, "the request is not a JSON object");
		goto out;
	}
	cmd = field(o, "command");
	if (!cmd || !json_object_is_type(cmd, json_type_string)) {
		ret = fail(req, "the request has no command");
		goto out;
	}
	name = json_object_get_string(cmd);
	name_len = (size_t)json_object_get_string_len(cmd);
	for (size_t i = 1; i < N_COMMANDS && req->command == MGMT_CMD_NONE; i++)
		if (strlen(command_names[i]) == name_len && !memcmp(name, command_names[i], name_len))
			req->command = (enum mgmt_command)i;
	if (req->command == MGMT_CMD_NONE) {
		/* at most 64 bytes of it, cut before a UTF-8 continuation byte so the reply stays valid UTF-8 */
		name_len = name_len > 64 ? 64 : name_len;
		if (name_len == 64)
			while (name_len > 0 && ((uint8_t)name[name_len] & 0xc0) == 0x80)
				name_len--;
		ret = fail(req, "unknown command '%.*s'", (int)name_len, name);
		goto out;
	}
	switch (req->command) {
	case MGMT_CMD_TERMINATE: ret = parse_terminate(o, req); break;
	case MGMT_CMD_EXPLAIN: ret = parse_explain(o, req); break;
	default: ret = 0; break;
	}
out:
	json_object_put(o);
	if (tok)
		json_tokener_free(tok);
	return ret;
}
