// SPDX-License-Identifier: GPL-2.0-or-later
/* cvpnctl: the operator's command line. Subcommands come from one table, as in wireguard-tools' wg. check and
 * export-client-config work on a config file; status, connections, terminate, reload and metrics talk to a
 * running cvpnd over its control socket (one JSON request line, one JSON reply line); check compares a file
 * with the running policy when a cvpnd answers. Every command takes --json. Exit status: 0 ok, 1 the
 * operation failed, 2 usage error (explain: 0 pass, 1 drop, 2 no answer); errors go to stderr. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cvpn/config.h"
#include "cvpn/ctlclient.h"
#include "cvpn/diff.h"
#include "cvpn/export.h"
#include "cvpn/metrics.h"

#define EXIT_USAGE 2

struct subcommand {
	const char *name;
	int (*main)(int argc, char *argv[]);
	const char *args;
	const char *help;
};

static int check_main(int argc, char *argv[]);
static int explain_main(int argc, char *argv[]);
static int export_main(int argc, char *argv[]);
static int status_main(int argc, char *argv[]);
static int connections_main(int argc, char *argv[]);
static int terminate_main(int argc, char *argv[]);
static int reload_main(int argc, char *argv[]);
static int metrics_main(int argc, char *argv[]);
static int help_main(int argc, char *argv[]);

static const struct subcommand subcommands[] = {
	{ "status", status_main, "[--json]",
	  "endpoint, version of the applied config, sessions by state, traffic totals" },
	{ "connections", connections_main, "[--json]",
	  "active connections and those that ended in the last 60 minutes" },
	{ "terminate", terminate_main, "--connection-id ID | --username NAME [--json]",
	  "disconnect a client now (it is told so and exits); by username: every session of that user" },
	{ "reload", reload_main, "[--json]",
	  "re-read the config file cvpnd runs with and apply it, or say why not (like SIGHUP)" },
	{ "metrics", metrics_main, "[--json]", "counters and gauges in the Prometheus text format" },
	{ "explain", explain_main, "--user NAME | --group G --to ADDR[:PORT/PROTO] [--json]",
	  "why a packet from that identity would pass or die, stage by stage (exit 0 pass, 1 drop)" },
	{ "check", check_main, "FILE [--json]",
	  "validate a configuration file; with cvpnd running, show what a reload would change in the kernel" },
	{ "export-client-config", export_main,
	  "-c FILE [--cert F --key F] [--auth-user-pass] [--static-challenge TEXT] [-o OUT] [--json]",
	  "write the OpenVPN client configuration file for the endpoint" },
	{ "help", help_main, "", "show this help" },
};

static const char *prog = "cvpnctl";
static const char *socket_path;   /* --socket, else $CVPN_SOCKET, else the default */
static bool json_out;

static void usage(FILE *f)
{
	fprintf(f, "Usage: %s [--socket PATH] <command> [arguments]\n\nCommands:\n", prog);
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(f, "  %s%s%s\n      %s\n", subcommands[i].name, *subcommands[i].args ? " " : "",
			subcommands[i].args, subcommands[i].help);
	fprintf(f, "\nOptions:\n"
		   "  -s, --socket PATH   cvpnd's control socket (default: $CVPN_SOCKET, else %s;\n"
		   "                      set by control-socket: in the endpoint config)\n"
		   "  --json              (every command) print the result as JSON; errors as JSON on stderr\n"
		   "\nThe control socket is open to root and to the group named by control-socket.group.\n"
		   "Exit status: 0 success, 1 failure, 2 usage error; explain: 0 pass, 1 drop, 2 no answer.\n",
		CONFIG_DEFAULT_CONTROL_SOCKET);
}

static int help_main(int argc, char *argv[])
{
	usage(stdout);
	return 0;
}

static void print_json(FILE *f, struct json_object *o)
{
	fprintf(f, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
						  JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* Reports an error: plain text, or with --json an {"ok": false, "error": ...} object, on stderr. */
static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (json_out) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "ok", json_object_new_boolean(false));
		json_object_object_add(o, "error", json_object_new_string(msg));
		print_json(stderr, o);
		json_object_put(o);
	} else {
		fprintf(stderr, "%s: %s\n", prog, msg);
	}
	return 1;
}

/* ---- talking to cvpnd ---- */

/* Sends req (consumed) and returns the reply object, or NULL after reporting why. */
static struct json_object *call(struct json_object *req)
{
	struct json_object *reply = NULL;
	char why[512];

	if (ctlclient_call(ctlclient_socket(socket_path, NULL), req, &reply, why, sizeof(why)) < 0)
		fail("%s", why);
	json_object_put(req);
	return reply;
}

static const char *get_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !v)
		return "-";
	return json_object_get_string(v);
}

static uint64_t get_u64(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? json_object_get_uint64(v) : 0;
}

static struct json_object *get_obj(struct json_object *o, const char *key)
{
	struct json_object *v = NULL;

	json_object_object_get_ex(o, key, &v);
	return v;
}

/* A reply with ok:false becomes the error (and its "errors" lines); 0 when ok. */
static int reply_failed(struct json_object *reply)
{
	struct json_object *ok = get_obj(reply, "ok"), *errs = get_obj(reply, "errors");

	if (ok && json_object_get_boolean(ok))
		return 0;
	if (json_out) {
		print_json(stderr, reply);
		return 1;
	}
	fprintf(stderr, "%s: %s\n", prog, get_str(reply, "error"));
	for (size_t i = 0; errs && i < json_object_array_length(errs); i++)
		fprintf(stderr, "  %s\n", json_object_get_string(json_object_array_get_idx(errs, i)));
	return 1;
}

/* Parses the options every socket command shares, plus any in extra (terminated by a zero entry); returns
 * the option character for extras one at a time through *c, 0 when done, -1 on a usage error. */
static const struct option common_opts[] = {
	{ "json", no_argument, NULL, 'j' },
	{ "socket", required_argument, NULL, 's' },
	{ "help", no_argument, NULL, 'h' },
	{ 0 },
};

static int simple_args(int argc, char *argv[], const char *usage_line)
{
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "s:h", common_opts, NULL)) != -1) {
		switch (c) {
		case 'j': json_out = true; break;
		case 's': socket_path = optarg; break;
		case 'h':
			printf("Usage: %s %s\n", prog, usage_line);
			return 0;
		default:
			fprintf(stderr, "Usage: %s %s\n", prog, usage_line);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "Usage: %s %s\n", prog, usage_line);
		return EXIT_USAGE;
	}
	return -1; /* go on */
}

static struct json_object *request(const char *command)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "command", json_object_new_string(command));
	return o;
}

/* ---- status ---- */

/* Each data worker's share of the packets, and each handshake thread's of the handshake steps. */
static void print_workers(struct json_object *arr, struct json_object *hs)
{
	size_t n = arr && json_object_is_type(arr, json_type_array) ? json_object_array_length(arr) : 0;
	size_t nh = hs && json_object_is_type(hs, json_type_array) ? json_object_array_length(hs) : 0;

	printf("threads:   %zu handshake thread%s%s", nh, nh == 1 ? "" : "s", nh ? ", steps:" : " (control thread)");
	for (size_t i = 0; i < nh; i++)
		printf(" %llu", (unsigned long long)get_u64(json_object_array_get_idx(hs, i), "handshake-steps"));
	printf("\n");
	if (n == 0)
		return;
	printf("           %zu data worker%s, packets decrypted / encrypted / passed up:", n, n == 1 ? "" : "s");
	for (size_t i = 0; i < n; i++) {
		struct json_object *w = json_object_array_get_idx(arr, i);

		printf("%s %llu / %llu / %llu", i ? ";" : "", (unsigned long long)get_u64(w, "decrypted-packets"),
		       (unsigned long long)get_u64(w, "encrypted-packets"), (unsigned long long)get_u64(w, "upcalls"));
	}
	printf("\n");
}

static int status_main(int argc, char *argv[])
{
	struct json_object *r, *ep, *cfg, *ss, *tot;
	int ret = simple_args(argc, argv, "status [--json] [--socket PATH]");

	if (ret >= 0)
		return ret;
	if (!(r = call(request("status"))))
		return 1;
	if ((ret = reply_failed(r)) == 0) {
		if (json_out) {
			print_json(stdout, r);
		} else {
			ep = get_obj(r, "endpoint");
			cfg = get_obj(r, "config");
			ss = get_obj(r, "sessions");
			tot = get_obj(r, "totals");
			printf("endpoint:  %s, %s %s port %llu (clients use %s), client CIDR %s, tun %s\n",
			       get_str(ep, "id"), get_str(ep, "transport"), get_str(ep, "listen-address"),
			       (unsigned long long)get_u64(ep, "port"), get_str(ep, "remote"),
			       get_str(ep, "client-cidr"), get_str(ep, "tun"));
			printf("config:    version %llu, sha256 %s\n           %s\n",
			       (unsigned long long)get_u64(cfg, "version"), get_str(cfg, "sha256"), get_str(cfg, "path"));
			printf("daemon:    cvpnd %s, started %s UTC (%llu s ago)\n", get_str(r, "daemon-version"),
			       get_str(r, "started"), (unsigned long long)get_u64(r, "uptime-seconds"));
			printf("sessions:  %llu active (max %llu), %llu handshaking, %llu terminating, %llu being "
			       "refused; %llu ended in the last hour\n",
			       (unsigned long long)get_u64(ss, "active"), (unsigned long long)get_u64(ep, "max-connections"),
			       (unsigned long long)get_u64(ss, "handshaking"),
			       (unsigned long long)get_u64(ss, "terminating"), (unsigned long long)get_u64(ss, "refusing"),
			       (unsigned long long)get_u64(ss, "ended-last-hour"));
			printf("totals:    ingress %llu bytes / %llu packets, egress %llu bytes / %llu packets\n"
			       "           %llu attempts, %llu authentication failures, %llu refused at max-connections\n",
			       (unsigned long long)get_u64(tot, "ingress-bytes"),
			       (unsigned long long)get_u64(tot, "ingress-packets"),
			       (unsigned long long)get_u64(tot, "egress-bytes"),
			       (unsigned long long)get_u64(tot, "egress-packets"),
			       (unsigned long long)get_u64(tot, "connection-attempts"),
			       (unsigned long long)get_u64(tot, "authentication-failures"),
			       (unsigned long long)get_u64(tot, "refused-max-connections"));
			print_workers(get_obj(r, "data-workers"), get_obj(r, "handshake-threads"));
		}
	}
	json_object_put(r);
	return ret;
}

/* ---- connections ---- */

static int connections_main(int argc, char *argv[])
{
	struct json_object *r, *arr;
	int ret = simple_args(argc, argv, "connections [--json] [--socket PATH]");

	if (ret >= 0)
		return ret;
	if (!(r = call(request("connections"))))
		return 1;
	if ((ret = reply_failed(r)) == 0) {
		arr = get_obj(r, "connections");
		if (json_out) {
			print_json(stdout, r);
		} else {
			printf("%-27s %-11s %-20s %-15s %-21s %-19s %12s %12s %9s %9s  %s\n", "CONNECTION-ID", "STATUS",
			       "COMMON-NAME", "CLIENT-IP", "PUBLIC-ADDRESS", "ESTABLISHED (UTC)", "IN-BYTES",
			       "OUT-BYTES", "IN-PKTS", "OUT-PKTS", "DATA-PATH");
			for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
				struct json_object *c = json_object_array_get_idx(arr, i);
				char pub[72];

				snprintf(pub, sizeof(pub), "%s:%llu", get_str(c, "device-ip"),
					 (unsigned long long)get_u64(c, "port"));
				printf("%-27s %-11s %-20s %-15s %-21s %-19s %12llu %12llu %9llu %9llu  %s\n",
				       get_str(c, "connection-id"), get_str(c, "status"), get_str(c, "common-name"),
				       get_str(c, "client-ip"), pub, get_str(c, "connection-established-time"),
				       (unsigned long long)get_u64(c, "ingress-bytes"),
				       (unsigned long long)get_u64(c, "egress-bytes"),
				       (unsigned long long)get_u64(c, "ingress-packets"),
				       (unsigned long long)get_u64(c, "egress-packets"),
				       get_str(c, "data-path"));
			}
		}
	}
	json_object_put(r);
	return ret;
}

/* ---- terminate ---- */

static int terminate_main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "connection-id", required_argument, NULL, 'i' },
		{ "username", required_argument, NULL, 'u' },
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *use = "terminate --connection-id ID | --username NAME [--json] [--socket PATH]";
	const char *id = NULL, *user = NULL;
	struct json_object *req, *r, *done;
	int c, ret;

	optind = 1;
	while ((c = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
		switch (c) {
		case 'i': id = optarg; break;
		case 'u': user = optarg; break;
		case 'j': json_out = true; break;
		case 's': socket_path = optarg; break;
		case 'h':
			printf("Usage: %s %s\n\nThe client is told \"HALT,terminated by the administrator\" and exits; its\n"
			       "address is released at once. Without directory authentication the username is the\n"
			       "certificate's common name.\n", prog, use);
			return 0;
		default:
			goto usage;
		}
	}
	if (optind != argc || !id == !user)
		goto usage;
	req = request("terminate");
	json_object_object_add(req, id ? "connection-id" : "username", json_object_new_string(id ? id : user));
	if (!(r = call(req)))
		return 1;
	if ((ret = reply_failed(r)) == 0) {
		done = get_obj(r, "terminated");
		if (json_out)
			print_json(stdout, r);
		else
			for (size_t i = 0; done && i < json_object_array_length(done); i++)
				printf("terminated %s\n", json_object_get_string(json_object_array_get_idx(done, i)));
	}
	json_object_put(r);
	return ret;
usage:
	fprintf(stderr, "Usage: %s %s\n", prog, use);
	return EXIT_USAGE;
}

/* ---- reload ---- */

static int reload_main(int argc, char *argv[])
{
	struct json_object *r, *cfg, *warnings;
	int ret = simple_args(argc, argv, "reload [--json] [--socket PATH]");

	if (ret >= 0)
		return ret;
	if (!(r = call(request("reload"))))
		return 1;
	if ((ret = reply_failed(r)) == 0) {
		cfg = get_obj(r, "config");
		if (json_out)
			print_json(stdout, r);
		else
			printf("configuration reloaded: version %llu, sha256 %s\n",
			       (unsigned long long)get_u64(cfg, "version"), get_str(cfg, "sha256"));
		if (!json_out && json_object_object_get_ex(r, "warnings", &warnings) &&
		    json_object_is_type(warnings, json_type_array))
			for (size_t i = 0; i < json_object_array_length(warnings); i++)
				fprintf(stderr, "%s\n", json_object_get_string(json_object_array_get_idx(warnings, i)));
	}
	json_object_put(r);
	return ret;
}

/* ---- metrics ---- */

static int metrics_main(int argc, char *argv[])
{
	struct json_object *r;
	int ret = simple_args(argc, argv, "metrics [--json] [--socket PATH]");

	if (ret >= 0)
		return ret;
	if (!(r = call(request("metrics"))))
		return 1;
	if ((ret = reply_failed(r)) == 0) {
		if (json_out)
			print_json(stdout, r);
		else if (metrics_write_prometheus(get_obj(r, "metrics"), stdout) < 0)
			ret = fail("cvpnd sent malformed metrics");
	}
	json_object_put(r);
	return ret;
}

/* ---- explain ---- */

/* ADDR, or ADDR:PORT/PROTO with PROTO tcp, udp or a protocol number. 0, or -1 for a usage error. */
static int parse_target(const char *arg, struct json_object *req)
{
	char addr[64], *colon, *slash, *end;
	struct in_addr ia;
	unsigned long port;

	if (strlen(arg) >= sizeof(addr))
		return -1;
	strcpy(addr, arg);
	colon = strchr(addr, ':');
	if (colon)
		*colon = '\0';
	if (inet_pton(AF_INET, addr, &ia) != 1)
		return -1;
	json_object_object_add(req, "to", json_object_new_string(addr));
	if (!colon) {
		/* no port and no protocol: a packet every protocol rule would see, as ICMP does */
		json_object_object_add(req, "proto", json_object_new_string("icmp"));
		return 0;
	}
	slash = strchr(colon + 1, '/');
	if (!slash || slash == colon + 1 || !slash[1])
		return -1;
	*slash = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (*end || errno || port > 65535)
		return -1;
	json_object_object_add(req, "port", json_object_new_int((int)port));
	json_object_object_add(req, "proto", json_object_new_string(slash + 1));
	return 0;
}

static void print_explained(struct json_object *r)
{
	struct json_object *id = get_obj(r, "identity"), *groups = get_obj(id, "groups"), *dst = get_obj(r, "destination"),
			   *text = get_obj(r, "text"), *port = get_obj(dst, "port");
	size_t n = groups ? json_object_array_length(groups) : 0;

	if (get_obj(id, "group")) {
		printf("group %s", get_str(id, "group"));
	} else {
		printf("user %s (groups: ", get_str(id, "user"));
		for (size_t i = 0; i < n; i++)
			printf("%s%s", i ? ", " : "", json_object_get_string(json_object_array_get_idx(groups, i)));
		printf("%s, from %s)", n ? "" : "none", get_str(id, "groups-from"));
	}
	printf(" -> %s %s", get_str(dst, "address"), get_str(dst, "protocol"));
	if (port)
		printf(" port %s", json_object_get_string(port));
	printf("\n");
	for (size_t i = 0; text && i < json_object_array_length(text); i++)
		printf("  %s\n", json_object_get_string(json_object_array_get_idx(text, i)));
}

static int explain_main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "group", required_argument, NULL, 'g' },
		{ "to", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *use = "explain --user NAME | --group G --to ADDR[:PORT/PROTO] [--json] [--socket PATH]";
	const char *user = NULL, *group = NULL, *to = NULL;
	struct json_object *req, *r, *pass;
	int c, ret;

	optind = 1;
	while ((c = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
		switch (c) {
		case 'u': user = optarg; break;
		case 'g': group = optarg; break;
		case 't': to = optarg; break;
		case 'j': json_out = true; break;
		case 's': socket_path = optarg; break;
		case 'h':
			printf("Usage: %s %s\n\n"
			       "Walks a packet from that identity through the policy cvpnd enforces, in the kernel's order:\n"
			       "the authorization rule that decides (longest prefix), the client-VPN route and association,\n"
			       "the security group rule, source NAT, and the network ACL rules out and back (replies to\n"
			       "Linux's ephemeral ports). --user takes the groups of the user's live session, else those\n"
			       "of identity-groups; --group explains for a member of exactly that group.\n\n"
			       "  --to ADDR            any protocol: answered as for ICMP (no port)\n"
			       "  --to ADDR:PORT/PROTO PROTO tcp, udp or a protocol number, e.g. 198.18.1.10:443/tcp\n\n"
			       "Exit status (as test(1)): 0 the packet would pass, 1 it would be dropped (both print why),\n"
			       "2 no answer: usage error, unknown user, cvpnd not reachable.\n", prog, use);
			return 0;
		default:
			goto usage;
		}
	}
	if (optind != argc || !user == !group || !to)
		goto usage;
	req = request("explain");
	json_object_object_add(req, user ? "user" : "group", json_object_new_string(user ? user : group));
	if (parse_target(to, req) < 0) {
		json_object_put(req);
		fprintf(stderr, "%s: --to %s: expected ADDR or ADDR:PORT/PROTO (e.g. 198.18.1.10:443/tcp)\n", prog, to);
		goto usage;
	}
	if (!(r = call(req)))
		return EXIT_USAGE;
	/* 1 means "dropped" here: every error is 2, so a script never takes one for the other */
	if (reply_failed(r)) {
		json_object_put(r);
		return EXIT_USAGE;
	}
	pass = get_obj(r, "pass");
	ret = pass && json_object_get_boolean(pass) ? 0 : 1;
	if (json_out)
		print_json(stdout, r);
	else
		print_explained(r);
	json_object_put(r);
	return ret;
usage:
	fprintf(stderr, "Usage: %s %s\n", prog, use);
	return EXIT_USAGE;
}

/* ---- check ---- */

/* Splits config_load's report into errors and warnings. */
static void add_lines(struct json_object *errors, struct json_object *warnings, char *buf)
{
	char *save = NULL;

	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		json_object_array_add(strstr(line, ": warning: ") ? warnings : errors, json_object_new_string(line));
}

/* check --json: the comparison with the running policy as an object. */
static struct json_object *running_json(const char *path, const struct config *cfg, bool *failed)
{
	struct json_object *o = json_object_new_object();
	struct diff_stats st;
	char *dbuf = NULL, *ebuf = NULL;
	size_t dlen = 0, elen = 0;
	FILE *dms = open_memstream(&dbuf, &dlen), *ems = open_memstream(&ebuf, &elen);
	int r = -ENOMEM;

	if (dms && ems)
		r = ctlclient_ruleset_diff(path, cfg, dms, &st, ems);
	if (dms)
		fclose(dms);
	if (ems)
		fclose(ems);
	json_object_object_add(o, "socket", json_object_new_string(path));
	json_object_object_add(o, "daemon", json_object_new_boolean(!ctlclient_no_daemon(r)));
	if (r == 0) {
		json_object_object_add(o, "changed", json_object_new_boolean(st.hunks > 0));
		json_object_object_add(o, "removed", json_object_new_uint64(st.removed));
		json_object_object_add(o, "added", json_object_new_uint64(st.added));
		json_object_object_add(o, "diff", json_object_new_string_len(dbuf ? dbuf : "", (int)dlen));
	} else if (!ctlclient_no_daemon(r)) {
		struct json_object *errs = json_object_new_array();
		char *save = NULL;

		for (char *line = ebuf ? strtok_r(ebuf, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save))
			json_object_array_add(errs, json_object_new_string(line));
		json_object_object_add(o, "errors", errs);
		/* a socket closed to this user leaves the file valid, only not compared */
		*failed = r != -EACCES;
	}
	free(dbuf);
	free(ebuf);
	return o;
}

static int check_main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *use = "check FILE [--json] [--socket PATH]";
	struct config *cfg = NULL;
	bool failed = false;
	char *buf = NULL;
	size_t len = 0;
	FILE *ms;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j': json_out = true; break;
		case 's': socket_path = optarg; break;
		case 'h':
			printf("Usage: %s %s\n\n"
			       "Validates FILE (errors as file:line:col) and prints \"configuration OK\". Then, when a cvpnd\n"
			       "answers on the control socket (--socket, else $CVPN_SOCKET, else FILE's control-socket),\n"
			       "compiles FILE as a reload would on this host (run it on the gateway) and prints the\n"
			       "unified diff from the ruleset in force (table inet cvpn, without session elements) to\n"
			       "FILE's, or \"no change to the kernel policy\". Nothing is applied. Exit status: 0 valid,\n"
			       "1 invalid or not comparable (e.g. an association's interface has no address), 2 usage.\n",
			       prog, use);
			return 0;
		default:
			fprintf(stderr, "Usage: %s %s\n", prog, use);
			return EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "Usage: %s %s\n", prog, use);
		return EXIT_USAGE;
	}
	if (!json_out) {
		if (config_load(argv[optind], stderr, &cfg) < 0)
			return 1;
		printf("configuration OK\n");
		fflush(stdout);
		r = ctlclient_check_print(ctlclient_socket(socket_path, cfg), cfg, stdout, stderr);
		config_free(cfg);
		return r < 0 ? 1 : 0;
	}
	ms = open_memstream(&buf, &len);
	if (!ms)
		return fail("%s", strerror(errno));
	r = config_load(argv[optind], ms, &cfg);
	fclose(ms);
	{
		struct json_object *o = json_object_new_object(), *e = json_object_new_array(),
				   *w = json_object_new_array();

		add_lines(e, w, buf);
		json_object_object_add(o, "file", json_object_new_string(argv[optind]));
		json_object_object_add(o, "errors", e);
		json_object_object_add(o, "warnings", w);
		if (r == 0)
			json_object_object_add(o, "running", running_json(ctlclient_socket(socket_path, cfg), cfg, &failed));
		json_object_object_add(o, "ok", json_object_new_boolean(r == 0 && !failed));
		print_json(r == 0 && !failed ? stdout : stderr, o);
		json_object_put(o);
	}
	free(buf);
	config_free(cfg);
	return r == 0 && !failed ? 0 : 1;
}

static const char *export_strerror(int err)
{
	switch (err) {
	case -EDESTADDRREQ:
		return "no address for clients: set endpoint.remote (the listen address is a wildcard)";
	case -EBADMSG:
		return "a certificate or key file holds no usable PEM data";
	case -ENODATA:
		return "the server certificate has no common name (CN) for verify-x509-name";
	case -ENAMETOOLONG:
		return "the server certificate's common name is too long";
	default:
		return strerror(-err);
	}
}

/* Writes via a temporary file and rename, so OUT is either the old file or the complete new one; 0600
 * because the file may carry a private key. */
static int write_file(const char *path, const char *buf, size_t len)
{
	char *tmp = NULL;
	FILE *f = NULL;
	int fd = -1, ret = -1;

	if (asprintf(&tmp, "%s.XXXXXX", path) < 0) {
		tmp = NULL;
		goto out;
	}
	fd = mkstemp(tmp);
	if (fd < 0)
		goto out;
	f = fdopen(fd, "w");
	if (!f)
		goto out;
	fd = -1;
	if (fwrite(buf, 1, len, f) != len || fflush(f) != 0 || fsync(fileno(f)) < 0)
		goto out;
	if (fclose(f) != 0) {
		f = NULL;
		goto out;
	}
	f = NULL;
	if (rename(tmp, path) < 0)
		goto out;
	ret = 0;
out:
	if (ret < 0)
		fprintf(stderr, "%s: cannot write %s: %s\n", prog, path, strerror(errno));
	if (f)
		fclose(f);
	if (fd >= 0)
		close(fd);
	if (ret < 0 && tmp)
		unlink(tmp);
	free(tmp);
	return ret;
}

static int export_main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "output", required_argument, NULL, 'o' },
		{ "cert", required_argument, NULL, 'C' },
		{ "key", required_argument, NULL, 'K' },
		{ "auth-user-pass", no_argument, NULL, 'A' },
		{ "static-challenge", required_argument, NULL, 'S' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *file = NULL, *output = NULL, *cert = NULL, *key = NULL, *challenge = NULL;
	bool user_pass = false;
	struct config *cfg = NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *ms;
	int c, r, ret = 1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': file = optarg; break;
		case 'o': output = optarg; break;
		case 'C': cert = optarg; break;
		case 'K': key = optarg; break;
		case 'A': user_pass = true; break;
		case 'S': challenge = optarg; user_pass = true; break;
		case 'j': json_out = true; break;
		case 'h':
			printf("Usage: %s export-client-config -c FILE [--cert F --key F] [--auth-user-pass]\n"
			       "           [--static-challenge TEXT] [-o OUT] [--json]\n\n"
			       "  --cert, --key         inline the user's certificate and key (certificate authentication)\n"
			       "  --auth-user-pass      the client asks for a username and password (automatic when\n"
			       "                        the endpoint has directory logins; MFA adds the static challenge)\n"
			       "  --static-challenge T  also asks for an MFA code with prompt T, echoed (implies\n"
			       "                        --auth-user-pass); sent as SCRV1:<base64 pw>:<base64 code>\n"
			       "  -o OUT                write to OUT (mode 0600, atomically) instead of stdout\n"
			       "  --json                {\"ok\": true, \"client-config\": TEXT} (or \"output\": OUT)\n",
			       prog);
			return 0;
		default:
			goto usage;
		}
	}
	if (!file || optind != argc || !cert != !key)
		goto usage;
	if (challenge && (strchr(challenge, '\n') || strlen(challenge) > 200)) {
		fprintf(stderr, "%s: --static-challenge: one line of at most 200 characters\n", prog);
		return EXIT_USAGE;
	}
	if (config_load(file, stderr, &cfg) < 0)
		return 1;
	/* the endpoint's login methods decide what the client must ask its user for; the flags add to it */
	if (cfg->auth.directory)
		user_pass = true;
	if (!challenge && cfg->auth.totp != CONFIG_TOTP_OFF)
		challenge = "Enter MFA code ";
	if (challenge)
		user_pass = true;
	ms = open_memstream(&buf, &len);
	if (!ms) {
		fprintf(stderr, "%s: %s\n", prog, strerror(errno));
		goto out;
	}
	r = export_client_config(cfg, ms);
	if (r < 0)
		fprintf(stderr, "%s: %s: %s\n", prog, file, export_strerror(r));
	if (r == 0 && cert && (r = export_inline_file(ms, "cert", cert)) < 0)
		fprintf(stderr, "%s: %s: %s\n", prog, cert, export_strerror(r));
	if (r == 0 && key && (r = export_inline_file(ms, "key", key)) < 0)
		fprintf(stderr, "%s: %s: %s\n", prog, key, export_strerror(r));
	if (r == 0 && user_pass)
		fputs("auth-user-pass\n", ms);
	if (r == 0 && challenge) {
		/* a quoted OpenVPN parameter: backslash escapes inside double quotes; the 1 echoes the code */
		fputs("static-challenge \"", ms);
		for (const char *p = challenge; *p; p++) {
			if (*p == '"' || *p == '\\')
				fputc('\\', ms);
			fputc(*p, ms);
		}
		fputs("\" 1\n", ms);
	}
	if (fclose(ms) != 0 && r == 0) {
		fprintf(stderr, "%s: %s\n", prog, strerror(errno));
		r = -EIO;
	}
	if (r < 0)
		goto out;
	if (output) {
		if (write_file(output, buf, len) < 0)
			goto out;
		if (json_out) {
			struct json_object *o = json_object_new_object();

			json_object_object_add(o, "ok", json_object_new_boolean(true));
			json_object_object_add(o, "output", json_object_new_string(output));
			print_json(stdout, o);
			json_object_put(o);
		}
	} else if (json_out) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "ok", json_object_new_boolean(true));
		json_object_object_add(o, "client-config", json_object_new_string_len(buf, (int)len));
		print_json(stdout, o);
		json_object_put(o);
	} else if (fwrite(buf, 1, len, stdout) != len || fflush(stdout) != 0) {
		fprintf(stderr, "%s: writing to stdout: %s\n", prog, strerror(errno));
		goto out;
	}
	ret = 0;
out:
	if (buf) {
		explicit_bzero(buf, len); /* may hold the client's private key */
		free(buf);
	}
	config_free(cfg);
	return ret;
usage:
	fprintf(stderr, "Usage: %s export-client-config -c FILE [--cert F --key F] [--auth-user-pass] "
			"[--static-challenge TEXT] [-o OUT] [--json]\n", prog);
	return EXIT_USAGE;
}

int main(int argc, char *argv[])
{
	/* global options before the command */
	while (argc >= 2 && (!strcmp(argv[1], "--socket") || !strcmp(argv[1], "-s"))) {
		if (argc < 3) {
			usage(stderr);
			return EXIT_USAGE;
		}
		socket_path = argv[2];
		argc -= 2;
		argv += 2;
	}
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return help_main(argc - 1, argv + 1);
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (!strcmp(argv[1], subcommands[i].name))
			return subcommands[i].main(argc - 1, argv + 1);
	fprintf(stderr, "%s: unknown command '%s'\n\n", prog, argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
