// SPDX-License-Identifier: GPL-2.0-or-later
/* libFuzzer harness for ctrl/mgmt_request.c: the control-socket request line a local user in the socket's
 * group sends. Two runs per input:
 *  1. the raw bytes as one line (heap buffer of exactly that length, no NUL after it);
 *  2. a request object built from the input (command picked from the real ones and a few wrong ones; each
 *     argument absent, null, a string of input bytes, a number or a boolean), serialised by json-c and
 *     parsed; the outcome is checked against a model of what each command takes.
 * Always: 0 or -EINVAL; failure → a non-empty, NUL-terminated error and every other field zero; success →
 * a known command, every string NUL-terminated inside its field, without the fields the command does not
 * take, the combination rules hold (one of id/username, one of user/group, a port exactly with tcp/udp/...),
 * "to" parses to to_addr, the values equal what a lenient json-c parse of the same line gives, and the
 * request rebuilt as cvpnctl would send it parses back to the same struct. LeakSanitizer checks json-c
 * objects are released. */

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <arpa/inet.h>
#include <json-c/json.h>

#include "cvpn/mgmt.h"
#include "cvpn/mgmt_request.h"

#include "fuzz.h"

static bool str_in(const char *s, size_t cap)
{
	return strnlen(s, cap) < cap;
}

static bool has_port(int proto)
{
	return proto == 6 || proto == 17 || proto == 33 || proto == 132 || proto == 136;
}

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* The string under key in a leniently parsed object, or NULL. */
static const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static void check_names_eq(struct json_object *o, const char *key, const char *field)
{
	const char *v = jstr(o, key);

	if (*field)
		FUZZ_ASSERT(v && !strcmp(v, field));
}

/* The request as cvpnctl would send it: only the keys the command takes. */
static struct json_object *rebuild(const struct mgmt_request *r)
{
	struct json_object *o = json_object_new_object();
	static const char *const keys[] = { "connection-id", "username", "user", "group" };
	const char *vals[] = { r->connection_id, r->username, r->user, r->group };

	json_object_object_add(o, "command", json_object_new_string(mgmt_request_command_name(r->command)));
	for (size_t i = 0; i < 4; i++)
		if (*vals[i])
			json_object_object_add(o, keys[i], json_object_new_string(vals[i]));
	if (r->command == MGMT_CMD_EXPLAIN) {
		json_object_object_add(o, "to", json_object_new_string(r->to));
		json_object_object_add(o, "proto", json_object_new_string(r->proto_name));
		if (r->port >= 0)
			json_object_object_add(o, "port", json_object_new_int(r->port));
	}
	return o;
}

static void check(const char *line, size_t len, int r, const struct mgmt_request *req)
{
	FUZZ_ASSERT(r == 0 || r == -EINVAL);
	FUZZ_ASSERT(str_in(req->error, sizeof(req->error)));
	if (r < 0) {
		FUZZ_ASSERT(req->error[0]);
		FUZZ_ASSERT(req->command == MGMT_CMD_NONE);
		FUZZ_ASSERT(all_zero(req, offsetof(struct mgmt_request, error)));
		return;
	}
	FUZZ_ASSERT(!req->error[0]);
	FUZZ_ASSERT(mgmt_request_command_name(req->command));
	FUZZ_ASSERT(len < MGMT_REQUEST_MAX && !memchr(line, '\0', len));
	FUZZ_ASSERT(str_in(req->connection_id, sizeof(req->connection_id)) &&
		    str_in(req->username, sizeof(req->username)) && str_in(req->user, sizeof(req->user)) &&
		    str_in(req->group, sizeof(req->group)) && str_in(req->to, sizeof(req->to)) &&
		    str_in(req->proto_name, sizeof(req->proto_name)));
	if (req->command == MGMT_CMD_TERMINATE)
		FUZZ_ASSERT(!req->connection_id[0] != !req->username[0]);
	else
		FUZZ_ASSERT(!req->connection_id[0] && !req->username[0]);
	if (req->command == MGMT_CMD_EXPLAIN) {
		struct in_addr ia;
		char pn[8];

		FUZZ_ASSERT(!req->user[0] != !req->group[0]);
		FUZZ_ASSERT(inet_pton(AF_INET, req->to, &ia) == 1 && ntohl(ia.s_addr) == req->to_addr);
		FUZZ_ASSERT(req->proto >= 0 && req->proto <= 255);
		snprintf(pn, sizeof(pn), "%d", req->proto);
		FUZZ_ASSERT(!strcmp(req->proto_name, req->proto == 1 ? "icmp" : req->proto == 6 ? "tcp" :
						      req->proto == 17 ? "udp" : pn));
		FUZZ_ASSERT(req->port >= -1 && req->port <= 65535);
		FUZZ_ASSERT((req->port >= 0) == has_port(req->proto));
	} else {
		FUZZ_ASSERT(!req->user[0] && !req->group[0] && !req->to[0] && !req->proto_name[0]);
	}

	/* differential: json-c's own lenient parser of the same text sees the same command and strings */
	{
		char *copy = malloc(len + 1);
		struct json_object *o;

		FUZZ_ASSERT(copy);
		memcpy(copy, line, len);
		copy[len] = '\0';
		o = json_tokener_parse(copy);
		free(copy);
		FUZZ_ASSERT(o && json_object_is_type(o, json_type_object));
		FUZZ_ASSERT(!strcmp(jstr(o, "command"), mgmt_request_command_name(req->command)));
		check_names_eq(o, "connection-id", req->connection_id);
		check_names_eq(o, "username", req->username);
		check_names_eq(o, "user", req->user);
		check_names_eq(o, "group", req->group);
		check_names_eq(o, "to", req->to);
		json_object_put(o);
	}

	/* round trip through what cvpnctl sends */
	{
		struct json_object *o = rebuild(req);
		const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
		struct mgmt_request again;

		FUZZ_ASSERT(mgmt_request_parse(s, strlen(s), &again) == 0);
		FUZZ_ASSERT(!memcmp(&again, req, sizeof(again)));
		json_object_put(o);
	}
}

/* The structural UTF-8 check json-c's JSON_TOKENER_VALIDATE_UTF8 makes (a lead byte, then its count of
 * continuation bytes; overlong forms pass), so the model knows which built lines the parser must refuse. */
static bool utf8_ok(const char *s, size_t len)
{
	unsigned more = 0;

	for (size_t i = 0; i < len; i++) {
		uint8_t c = (uint8_t)s[i];

		if (more) {
			if ((c & 0xc0) != 0x80)
				return false;
			more--;
		} else if (c >= 0x80) {
			if ((c & 0xe0) == 0xc0)
				more = 1;
			else if ((c & 0xf0) == 0xe0)
				more = 2;
			else if ((c & 0xf8) == 0xf0)
				more = 3;
			else
				return false;
		}
	}
	return more == 0;
}

static const char *const commands[] = {
	"status", "connections", "terminate", "reload", "metrics", "explain", "ruleset",
	"Status", "", "explain\u00e9", NULL, /* NULL: no "command" key */
};
static const char *const keys[] = { "connection-id", "username", "user", "group", "to", "proto", "port" };

/* One argument from the input: absent, null, a string, an integer, a double or a boolean. Returns 's' with the
 * string in str, 'n' for a non-string, 0 for absent or null. */
static int add_arg(struct json_object *o, const char *key, struct fuzz_in *in, char *str, size_t *slen)
{
	uint8_t sel = fuzz_u8(in);
	const uint8_t *b;
	size_t got;

	switch (sel % 8) {
	case 0: return 0;
	case 1: json_object_object_add(o, key, NULL); return 0;
	case 2: json_object_object_add(o, key, json_object_new_int64((int64_t)(int32_t)fuzz_u32(in))); return 'n';
	case 3: json_object_object_add(o, key, json_object_new_int(fuzz_u16(in))); return 'n';
	case 4: json_object_object_add(o, key, json_object_new_boolean(sel & 8)); return 'n';
	case 5: json_object_object_add(o, key, json_object_new_double(fuzz_u16(in) / 2.0)); return 'n';
	default:
		/* sel's top bits pick the length: up to 300, past MGMT_REQUEST_NAME_MAX */
		b = fuzz_bytes(in, (size_t)(sel >> 3) * 10, &got);
		memcpy(str, b, got);
		str[got] = '\0';
		*slen = got;
		json_object_object_add(o, key, json_object_new_string_len((const char *)b, (int)got));
		return 's';
	}
}

static void structured(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct json_object *o = json_object_new_object();
	char strs[7][400];
	size_t slen[7] = { 0 };
	int kind[7];
	const char *cmd = commands[fuzz_u8(&in) % (sizeof(commands) / sizeof(commands[0]))], *s;
	struct mgmt_request req;
	char *line;
	size_t len;
	bool bad_utf8 = false;
	int r;

	if (cmd)
		json_object_object_add(o, "command", json_object_new_string(cmd));
	for (size_t i = 0; i < 7; i++)
		kind[i] = add_arg(o, keys[i], &in, strs[i], &slen[i]);
	s = json_object_to_json_string_ext(o, fuzz_u8(&in) & 1 ? JSON_C_TO_STRING_PLAIN : JSON_C_TO_STRING_SPACED);
	len = strlen(s);
	line = malloc(len ? len : 1);
	FUZZ_ASSERT(line);
	memcpy(line, s, len);
	r = mgmt_request_parse(line, len, &req);
	check(line, len, r, &req);

	/* the model: a good name is a string of 1-255 bytes without a NUL */
#define GOOD(i) (kind[i] == 's' && slen[i] > 0 && slen[i] < MGMT_REQUEST_NAME_MAX && !memchr(strs[i], 0, slen[i]))
	for (size_t i = 0; i < 7; i++)
		if (kind[i] == 's' && !utf8_ok(strs[i], slen[i]))
			bad_utf8 = true;
	if (len >= MGMT_REQUEST_MAX || bad_utf8) {
		FUZZ_ASSERT(r == -EINVAL);
	} else if (!cmd) {
		FUZZ_ASSERT(r == -EINVAL && !strcmp(req.error, "the request has no command"));
	} else if (!strcmp(cmd, "terminate")) {
		bool ok = (kind[0] == 0 || GOOD(0)) && (kind[1] == 0 || GOOD(1)) && !kind[0] != !kind[1];

		FUZZ_ASSERT(ok == (r == 0));
		if (ok)
			FUZZ_ASSERT(!strcmp(kind[0] ? req.connection_id : req.username, kind[0] ? strs[0] : strs[1]));
	} else if (!strcmp(cmd, "explain")) {
		/* a failure here must be for a reason the model sees */
		bool names_ok = (kind[2] == 0 || GOOD(2)) && (kind[3] == 0 || GOOD(3)) && !kind[2] != !kind[3];

		if (!names_ok)
			FUZZ_ASSERT(r == -EINVAL);
		if (kind[4] != 's' || kind[5] == 'n' || (kind[6] == 'n' && !has_port(req.proto)))
			FUZZ_ASSERT(r == -EINVAL);
		if (r == 0) {
			FUZZ_ASSERT(!strcmp(req.to, strs[4]));
			FUZZ_ASSERT(!strcmp(kind[2] ? req.user : req.group, kind[2] ? strs[2] : strs[3]));
			/* a protocol named as such, or digits only whose value it is ("006" is 6) */
			if (kind[5] == 0)
				FUZZ_ASSERT(req.proto == 1 && !strcmp(req.proto_name, "icmp"));
			else
				FUZZ_ASSERT(!strcmp(req.proto_name, strs[5]) ||
					    (slen[5] <= 3 && strspn(strs[5], "0123456789") == slen[5] &&
					     atoi(strs[5]) == req.proto));
			FUZZ_ASSERT(kind[6] == 0 ? req.port == -1 : req.port >= 0);
		}
	} else if (!strcmp(cmd, "status") || !strcmp(cmd, "connections") || !strcmp(cmd, "reload") ||
		   !strcmp(cmd, "metrics") || !strcmp(cmd, "ruleset")) {
		/* commands without arguments ignore whatever else the object holds */
		FUZZ_ASSERT(r == 0);
	} else {
		FUZZ_ASSERT(r == -EINVAL && !strncmp(req.error, "unknown command '", 17));
	}
#undef GOOD
	free(line);
	json_object_put(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mgmt_request req;
	int r;

	/* libFuzzer's buffer is exactly size bytes on the heap: a read past len is an ASan report */
	memset(&req, 0x5a, sizeof(req));
	r = mgmt_request_parse((const char *)data, size, &req);
	check((const char *)data, size, r, &req);
	structured(data, size);
	return 0;
}
