// SPDX-License-Identifier: GPL-2.0-or-later
/* Control-socket requests (ctrl/mgmt_request.c): every request cvpnctl sends, parsed with its arguments, and
 * the refusals with the reply texts the daemon sends for them. */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "cvpn/config.h"
#include "cvpn/mgmt.h"
#include "cvpn/mgmt_request.h"

#include "check_run.h"

static struct mgmt_request req;

static int parse(const char *s)
{
	return mgmt_request_parse(s, strlen(s), &req);
}

/* Refused with exactly this error, and nothing else left in the request. */
static void refused(const char *line, size_t len, const char *error)
{
	static const struct mgmt_request zero;

	memset(&req, 0x5a, sizeof(req));
	ck_assert_int_eq(mgmt_request_parse(line, len, &req), -EINVAL);
	ck_assert_str_eq(req.error, error);
	ck_assert_int_eq(req.command, MGMT_CMD_NONE);
	ck_assert_mem_eq(&req, &zero, offsetof(struct mgmt_request, error));
}

static void refused_str(const char *line, const char *error)
{
	refused(line, strlen(line), error);
}

START_TEST(commands_without_arguments)
{
	static const struct {
		const char *line;
		enum mgmt_command cmd;
	} t[] = {
		{ "{\"command\":\"status\"}", MGMT_CMD_STATUS },
		{ "{\"command\":\"connections\"}", MGMT_CMD_CONNECTIONS },
		{ "{\"command\":\"reload\"}", MGMT_CMD_RELOAD },
		{ "{\"command\":\"metrics\"}", MGMT_CMD_METRICS },
		{ "{\"command\":\"ruleset\"}", MGMT_CMD_RULESET },
		/* whitespace around, a CR from a line-oriented tool, keys the command does not take */
		{ " { \"command\" : \"metrics\" }\r", MGMT_CMD_METRICS },
		{ "{\"command\":\"status\",\"username\":\"alice\",\"port\":\"x\"}", MGMT_CMD_STATUS },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ck_assert_int_eq(parse(t[i].line), 0);
		ck_assert_int_eq(req.command, t[i].cmd);
		ck_assert_str_eq(req.error, "");
		ck_assert_str_eq(req.username, "");
		ck_assert_str_eq(req.to, "");
	}
	ck_assert_str_eq(mgmt_request_command_name(MGMT_CMD_RULESET), "ruleset");
	ck_assert_ptr_null(mgmt_request_command_name(MGMT_CMD_NONE));
	ck_assert_ptr_null(mgmt_request_command_name((enum mgmt_command)99));
}
END_TEST

START_TEST(terminate)
{
	ck_assert_int_eq(parse("{\"command\":\"terminate\",\"connection-id\":\"cvpn-conn-0123456789abcdef\"}"), 0);
	ck_assert_int_eq(req.command, MGMT_CMD_TERMINATE);
	ck_assert_str_eq(req.connection_id, "cvpn-conn-0123456789abcdef");
	ck_assert_str_eq(req.username, "");

	ck_assert_int_eq(parse("{\"command\":\"terminate\",\"username\":\"alice\"}"), 0);
	ck_assert_str_eq(req.username, "alice");
	ck_assert_str_eq(req.connection_id, "");
	/* null is "not given", as json-c's clients write an unset optional */
	ck_assert_int_eq(parse("{\"command\":\"terminate\",\"username\":\"b\\u00f6b\",\"connection-id\":null}"), 0);
	ck_assert_str_eq(req.username, "b\xc3\xb6" "b");

	refused_str("{\"command\":\"terminate\"}", "terminate needs exactly one of connection-id and username");
	refused_str("{\"command\":\"terminate\",\"connection-id\":\"x\",\"username\":\"alice\"}",
		    "terminate needs exactly one of connection-id and username");
	refused_str("{\"command\":\"terminate\",\"username\":5}", "username must be a string");
	refused_str("{\"command\":\"terminate\",\"connection-id\":[\"x\"]}", "connection-id must be a string");
	refused_str("{\"command\":\"terminate\",\"username\":\"\"}", "username must be 1-255 bytes without a NUL");
	/* "ali\0ce" would compare equal to "ali" in strcmp */
	refused_str("{\"command\":\"terminate\",\"username\":\"ali\\u0000ce\"}",
		    "username must be 1-255 bytes without a NUL");
}
END_TEST

START_TEST(name_bounds)
{
	char line[600], name[300];

	memset(name, 'a', 255);
	name[255] = '\0';
	snprintf(line, sizeof(line), "{\"command\":\"terminate\",\"username\":\"%s\"}", name);
	ck_assert_int_eq(parse(line), 0);
	ck_assert_uint_eq(strlen(req.username), 255);
	name[255] = 'a';
	name[256] = '\0';
	snprintf(line, sizeof(line), "{\"command\":\"terminate\",\"username\":\"%s\"}", name);
	refused_str(line, "username must be 1-255 bytes without a NUL");
	snprintf(line, sizeof(line), "{\"command\":\"explain\",\"group\":\"%s\",\"to\":\"192.0.2.1\"}", name);
	refused_str(line, "group must be 1-255 bytes without a NUL");
}
END_TEST

START_TEST(explain)
{
	/* --to ADDR: cvpnctl sends proto icmp and no port */
	ck_assert_int_eq(parse("{\"command\":\"explain\",\"user\":\"alice\",\"to\":\"198.51.100.10\",\"proto\":\"icmp\"}"), 0);
	ck_assert_int_eq(req.command, MGMT_CMD_EXPLAIN);
	ck_assert_str_eq(req.user, "alice");
	ck_assert_str_eq(req.group, "");
	ck_assert_str_eq(req.to, "198.51.100.10");
	ck_assert_uint_eq(req.to_addr, 0xc633640a);
	ck_assert_int_eq(req.proto, CONFIG_PROTO_ICMP);
	ck_assert_str_eq(req.proto_name, "icmp");
	ck_assert_int_eq(req.port, -1);

	/* --to ADDR:PORT/PROTO */
	ck_assert_int_eq(parse("{\"command\":\"explain\",\"group\":\"eng\",\"to\":\"198.18.1.10\",\"port\":443,\"proto\":\"tcp\"}"), 0);
	ck_assert_str_eq(req.group, "eng");
	ck_assert_str_eq(req.user, "");
	ck_assert_uint_eq(req.to_addr, 0xc612010a);
	ck_assert_int_eq(req.proto, CONFIG_PROTO_TCP);
	ck_assert_int_eq(req.port, 443);
	ck_assert_int_eq(parse("{\"command\":\"explain\",\"user\":\"bob\",\"to\":\"203.0.113.7\",\"port\":0,\"proto\":\"udp\"}"), 0);
	ck_assert_int_eq(req.proto, CONFIG_PROTO_UDP);
	ck_assert_int_eq(req.port, 0);
	/* protocol numbers: SCTP has ports, GRE has none; "006" is TCP by number */
	ck_assert_int_eq(parse("{\"command\":\"explain\",\"user\":\"bob\",\"to\":\"192.0.2.1\",\"port\":65535,\"proto\":\"132\"}"), 0);
	ck_assert_int_eq(req.proto, 132);
	ck_assert_str_eq(req.proto_name, "132");
	ck_assert_int_eq(req.port, 65535);
	ck_assert_int_eq(parse("{\"command\":\"explain\",\"user\":\"bob\",\"to\":\"192.0.2.1\",\"proto\":\"47\"}"), 0);
	ck_assert_int_eq(req.proto, 47);
	ck_assert_int_eq(req.port, -1);
	ck_assert_int_eq(parse("{\"command\":\"explain\",\"user\":\"bob\",\"to\":\"192.0.2.1\",\"port\":22,\"proto\":\"006\"}"), 0);
	ck_assert_int_eq(req.proto, 6);
	ck_assert_str_eq(req.proto_name, "tcp");
	/* no proto at all: as icmp */
	ck_assert_int_eq(parse("{\"command\":\"explain\",\"user\":\"bob\",\"to\":\"192.0.2.1\",\"port\":null}"), 0);
	ck_assert_int_eq(req.proto, CONFIG_PROTO_ICMP);
}
END_TEST

START_TEST(explain_refused)
{
	refused_str("{\"command\":\"explain\",\"to\":\"192.0.2.1\"}", "explain needs exactly one of user and group");
	refused_str("{\"command\":\"explain\",\"user\":\"a\",\"group\":\"g\",\"to\":\"192.0.2.1\"}",
		    "explain needs exactly one of user and group");
	refused_str("{\"command\":\"explain\",\"user\":\"a\"}", "explain needs \"to\": an IPv4 address");
	refused_str("{\"command\":\"explain\",\"user\":\"a\",\"to\":\"192.0.2.256\"}", "explain needs \"to\": an IPv4 address");
	refused_str("{\"command\":\"explain\",\"user\":\"a\",\"to\":\"2001:db8::1\"}", "explain needs \"to\": an IPv4 address");
	refused_str("{\"command\":\"explain\",\"user\":\"a\",\"to\":\"192.0.2.1:80/tcp\"}",
		    "explain needs \"to\": an IPv4 address");
	refused_str("{\"command\":\"explain\",\"user\":\"a\",\"to\":3221225985}", "explain needs \"to\": an IPv4 address");
	/* json-c would hand "192.0.2.1\0junk" to inet_pton as "192.0.2.1" */
	refused_str("{\"command\":\"explain\",\"user\":\"a\",\"to\":\"192.0.2.1\\u0000junk\"}",
		    "explain needs \"to\": an IPv4 address");
	refused_str("{\"command\":\"explain\",\"user\":\"a\",\"to\":\"192.0.2.1\",\"port\":80,\"proto\":\"sctp\"}",
		    "protocol must be tcp, udp, icmp or a number 0-255");
	refused_str("{\"command\":\"explain\",\"user\":\"a\",\"to\":\"192.0.2.1\",\"port\":80,\"proto\":\"+6\"}",
		    "protocol must be tcp, udp, icmp or a number 0-255");
	refused_str("{\"command\":\"explain\",\"user\":\"a\",\"to\":\"192.0.2.1\",\"proto\":\"256\"}",
		    "protocol must be tcp, udp, icmp or a number 0-255");
	refused_str("{\"command\":\"explain\",\"user\":\"a\",\"to\":\"192.0.2.1\",\"proto\":\"\"}",
		    "protocol must be tcp, udp, icmp or a number 0-255");
	refused_str("{\"command\":\"explain\",\"user\":\"a\",\"to\":\"192.0.2.1\",\"proto\":6}",
		    "protocol must be tcp, udp, icmp or a number 0-255");
	refused_str("{\"command\":\"explain\",\"user\":\"a\",\"to\":\"192.0.2.1\",\"port\":65536,\"proto\":\"tcp\"}",
		    "port must be a number 0-65535");
	refused_str("{\"command\":\"explain\",\"user\":\"a\",\"to\":\"192.0.2.1\",\"port\":-1,\"proto\":\"tcp\"}",
		    "port must be a number 0-65535");
	refused_str("{\"command\":\"explain\",\"user\":\"a\",\"to\":\"192.0.2.1\",\"port\":\"80\",\"proto\":\"tcp\"}",
		    "port must be a number 0-65535");
	refused_str("{\"command\":\"explain\",\"user\":\"a\",\"to\":\"192.0.2.1\",\"port\":80.5,\"proto\":\"tcp\"}",
		    "port must be a number 0-65535");
	refused_str("{\"command\":\"explain\",\"user\":\"a\",\"to\":\"192.0.2.1\",\"port\":18446744073709551615,\"proto\":\"tcp\"}",
		    "port must be a number 0-65535");
	refused_str("{\"command\":\"explain\",\"user\":\"a\",\"to\":\"192.0.2.1\",\"proto\":\"udp\"}",
		    "udp needs a destination port");
	refused_str("{\"command\":\"explain\",\"user\":\"a\",\"to\":\"192.0.2.1\",\"proto\":\"33\"}",
		    "33 needs a destination port");
	refused_str("{\"command\":\"explain\",\"user\":\"a\",\"to\":\"192.0.2.1\",\"port\":1,\"proto\":\"icmp\"}",
		    "protocol icmp has no ports");
	refused_str("{\"command\":\"explain\",\"user\":\"a\",\"to\":\"192.0.2.1\",\"port\":1}", "protocol icmp has no ports");
}
END_TEST

START_TEST(not_a_request)
{
	static const char *const not_object[] = {
		"", "status", "[\"status\"]", "\"status\"", "42", "null", "{", "{\"command\":\"status\"",
		"{\"command\":\"status\",}", "{\"command\":\"status\"} x", "{\"command\":\"status\"}{\"command\":\"reload\"}",
		"{\"command\":\"st\xc3" "atus\"}", /* a UTF-8 lead byte without its continuation */
	};
	char deep[400];
	size_t n = 0, open;

	for (size_t i = 0; i < sizeof(not_object) / sizeof(not_object[0]); i++)
		refused_str(not_object[i], "the request is not a JSON object");
	/* a NUL ends the text for json-c, so "status\0<anything>" must not pass as status */
	refused("{\"command\":\"status\"}\0{\"command\":\"reload\"}", 41, "the request is not a JSON object");
	/* the length is the length: a line without its NUL, cut in the middle of the object */
	refused("{\"command\":\"status\"}", 19, "the request is not a JSON object");
	ck_assert_int_eq(mgmt_request_parse("{\"command\":\"status\"}XYZ", 20, &req), 0);
	/* well-formed, but nested past json-c's depth limit (32) */
	n += (size_t)snprintf(deep, sizeof(deep), "{\"command\":\"status\",\"x\":");
	for (open = 0; open < 100; open++)
		deep[n++] = '[';
	while (open--)
		deep[n++] = ']';
	deep[n++] = '}';
	deep[n] = '\0';
	refused_str(deep, "the request is not a JSON object");
}
END_TEST

START_TEST(command_refused)
{
	char line[MGMT_REQUEST_MAX + 64];

	refused_str("{}", "the request has no command");
	refused_str("{\"command\":null}", "the request has no command");
	refused_str("{\"command\":7}", "the request has no command");
	refused_str("{\"Command\":\"status\"}", "the request has no command");
	refused_str("{\"command\":\"shutdown\"}", "unknown command 'shutdown'");
	refused_str("{\"command\":\"Status\"}", "unknown command 'Status'");
	refused_str("{\"command\":\"\"}", "unknown command ''");
	refused_str("{\"command\":\"status\\u0000\"}", "unknown command 'status'");
	/* long names are cut to 64 bytes, and before a multi-byte character rather than inside it */
	refused_str("{\"command\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
		    "unknown command 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'");
	refused_str("{\"command\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9xyz\"}",
		    "unknown command 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'");
	/* a line as long as the socket would ever pass on is refused for its length alone */
	memset(line, ' ', sizeof(line));
	memcpy(line, "{\"command\":\"status\"}", 20);
	refused(line, MGMT_REQUEST_MAX, "request longer than 4095 bytes");
	ck_assert_int_eq(mgmt_request_parse(line, MGMT_REQUEST_MAX - 1, &req), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("mgmt_request");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, commands_without_arguments);
	tcase_add_test(tc, terminate);
	tcase_add_test(tc, name_bounds);
	tcase_add_test(tc, explain);
	tcase_add_test(tc, explain_refused);
	tcase_add_test(tc, not_a_request);
	tcase_add_test(tc, command_refused);
	suite_add_tcase(s, tc);
	return check_run(s);
}
