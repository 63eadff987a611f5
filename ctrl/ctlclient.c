// SPDX-License-Identifier: GPL-2.0-or-later
/* The client end of the control socket, and `check`'s comparison of a config file with what the daemon
 * runs. The file is compiled here, with the same compiler and for the same host as the daemon would on
 * reload, so the diff shows exactly the lines a reload would change in table inet cvpn. */
#define _GNU_SOURCE /* open_memstream */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cvpn/config.h"
#include "cvpn/ctlclient.h"
#include "cvpn/diff.h"
#include "cvpn/policy.h"
#include "cvpn/route.h"

const char *ctlclient_socket(const char *path, const struct config *cfg)
{
	if (path && *path)
		return path;
	path = getenv("CVPN_SOCKET");
	if (path && *path)
		return path;
	if (cfg && cfg->control_socket)
		return cfg->control_socket;
	return CONFIG_DEFAULT_CONTROL_SOCKET;
}

bool ctlclient_no_daemon(int err)
{
	return err == -ENOENT || err == -ECONNREFUSED;
}

static int say(char *why, size_t why_len, int err, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int say(char *why, size_t why_len, int err, const char *fmt, ...)
{
	va_list ap;

	if (why && why_len) {
		va_start(ap, fmt);
		vsnprintf(why, why_len, fmt, ap);
		va_end(ap);
	}
	return err;
}

int ctlclient_call(const char *path, struct json_object *req, struct json_object **reply, char *why,
		   size_t why_len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { CTLCLIENT_TIMEOUT_S, 0 };
	const char *js = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	char *buf = NULL, *line = NULL;
	size_t len = 0, cap = 0;
	int fd = -1, ret;

	*reply = NULL;
	if (!js || asprintf(&line, "%s\n", js) < 0) {
		line = NULL;
		ret = say(why, why_len, -ENOMEM, "out of memory");
		goto out;
	}
	if (strlen(path) >= sizeof(sa.sun_path)) {
		ret = say(why, why_len, -ENAMETOOLONG, "%s: socket path too long", path);
		goto out;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		say(why, why_len, ret, "cannot reach cvpnd at %s: %s%s", path, strerror(-ret),
		    ctlclient_no_daemon(ret) ? " (is cvpnd running? --socket or $CVPN_SOCKET select another socket)" : "");
		goto out;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (send(fd, line, strlen(line), MSG_NOSIGNAL) != (ssize_t)strlen(line)) {
		ret = say(why, why_len, -errno, "sending to cvpnd: %s", strerror(errno));
		goto out;
	}
	for (;;) {
		ssize_t n;

		if (len + 4096 + 1 > cap) {
			char *nb;

			cap = cap ? cap * 2 : 65536;
			if (cap > CTLCLIENT_REPLY_MAX || !(nb = realloc(buf, cap))) {
				ret = say(why, why_len, -EMSGSIZE, "reply from cvpnd too large");
				goto out;
			}
			buf = nb;
		}
		n = recv(fd, buf + len, cap - len - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = say(why, why_len, n < 0 ? -errno : -ECONNRESET,
				  "cvpnd closed the connection without a complete reply%s%s", n < 0 ? ": " : "",
				  n < 0 ? strerror(errno) : "");
			goto out;
		}
		len += (size_t)n;
		/* the reply is one line: its newline ends it */
		if (memchr(buf + len - n, '\n', (size_t)n))
			break;
	}
	buf[len] = '\0';
	*reply = json_tokener_parse(buf);
	if (!*reply || !json_object_is_type(*reply, json_type_object)) {
		json_object_put(*reply);
		*reply = NULL;
		ret = say(why, why_len, -EPROTO, "cvpnd sent a reply that is not a JSON object");
		goto out;
	}
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	free(line);
	free(buf);
	return ret;
}

static const char *get_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* The daemon registers a profile per distinct group set as sessions arrive, and each adds elements to the
 * authz set: register the same sets in the same order, so an unchanged file gives the same ruleset. */
static int replay_profiles(struct policy *p, struct json_object *profiles, const struct config *cfg, FILE *errs)
{
	size_t n = profiles ? json_object_array_length(profiles) : 0;

	for (size_t i = 0; i < n; i++) {
		struct json_object *g = json_object_array_get_idx(profiles, i);
		size_t k = json_object_is_type(g, json_type_array) ? json_object_array_length(g) : 0;
		const char **names = calloc(k + 1, sizeof(*names));
		uint32_t id;

		if (!names)
			return -ENOMEM;
		for (size_t j = 0; j < k; j++)
			names[j] = json_object_get_string(json_object_array_get_idx(g, j));
		id = policy_profile(p, names, k, NULL);
		free(names);
		if (!id) {
			fprintf(errs, "%s: out of memory\n", cfg->path);
			return -ENOMEM;
		}
	}
	return 0;
}

int ctlclient_ruleset_diff(const char *path, const struct config *cfg, FILE *out, struct diff_stats *st,
			   FILE *errs)
{
	struct json_object *req = json_object_new_object(), *reply = NULL, *v, *profiles = NULL;
	uint32_t *snat = calloc(cfg->n_associations + 1, sizeof(*snat));
	struct policy *p = NULL;
	const char *running, *tun;
	char why[512], label[64], *mine = NULL;
	size_t mine_len = 0;
	FILE *ms = NULL;
	int ret = -ENOMEM;

	if (!req || !snat) {
		fprintf(errs, "out of memory\n");
		goto out;
	}
	json_object_object_add(req, "command", json_object_new_string("ruleset"));
	ret = ctlclient_call(path, req, &reply, why, sizeof(why));
	if (ret < 0) {
		if (!ctlclient_no_daemon(ret))
			fprintf(errs, "%s\n", why);
		goto out;
	}
	ret = -EPROTO;
	if (!json_object_object_get_ex(reply, "ok", &v) || !json_object_get_boolean(v)) {
		fprintf(errs, "cvpnd: %s\n", get_str(reply, "error") ? get_str(reply, "error") : "request refused");
		goto out;
	}
	running = get_str(reply, "ruleset");
	tun = get_str(reply, "tun");
	json_object_object_get_ex(reply, "profiles", &profiles);
	if (!running || !tun || (profiles && !json_object_is_type(profiles, json_type_array))) {
		fprintf(errs, "cvpnd sent no ruleset\n");
		goto out;
	}
	for (size_t i = 0; i < cfg->n_associations; i++) {
		const struct config_association *a = &cfg->associations[i];

		ret = route_iface_ipv4(a->ifname, &snat[i]);
		if (ret < 0) {
			/* cvpnd would refuse the reload for the same reason */
			fprintf(errs, "%s:%d: association %s: interface %s has no usable IPv4 address on this host: %s "
				      "(run check on the gateway, in cvpnd's network namespace)\n",
				cfg->path, a->line, a->name, a->ifname, strerror(-ret));
			goto out;
		}
	}
	{
		/* the daemon guards forwarding when it was off before it started; compile the same way */
		struct policy_env env = { tun, snat, cfg->n_associations,
					  strstr(running, "forwarding was off before cvpnd") != NULL };

		ret = policy_compile(cfg, &env, &p, errs);
		if (ret < 0)
			goto out;
	}
	if ((ret = replay_profiles(p, profiles, cfg, errs)) < 0)
		goto out;
	ms = open_memstream(&mine, &mine_len);
	if (!ms) {
		ret = -ENOMEM;
		goto out;
	}
	ret = policy_render_nft(p, NULL, 0, ms);
	if (fclose(ms) != 0 && ret == 0)
		ret = -EIO;
	ms = NULL;
	if (ret < 0) {
		fprintf(errs, "%s: cannot render the ruleset: %s\n", cfg->path, strerror(-ret));
		goto out;
	}
	json_object_object_get_ex(reply, "config", &v);
	json_object_object_get_ex(v, "version", &v);
	snprintf(label, sizeof(label), "running (config version %llu)", (unsigned long long)json_object_get_uint64(v));
	ret = diff_unified(running, strlen(running), mine, mine_len, label, cfg->path, 3, out, st);
	if (ret < 0)
		fprintf(errs, "%s: cannot write the diff: %s\n", cfg->path, strerror(-ret));
out:
	policy_free(p);
	free(mine);
	free(snat);
	json_object_put(req);
	json_object_put(reply);
	return ret;
}

int ctlclient_check_print(const char *path, const struct config *cfg, FILE *out, FILE *errs)
{
	struct diff_stats st;
	char *buf = NULL;
	size_t len = 0;
	FILE *ms = open_memstream(&buf, &len);
	int ret;

	if (!ms)
		return -ENOMEM;
	ret = ctlclient_ruleset_diff(path, cfg, ms, &st, errs);
	if (fclose(ms) != 0 && ret == 0)
		ret = -EIO;
	if (ctlclient_no_daemon(ret)) {
		fprintf(errs, "no cvpnd answers at %s: the file was validated only, not compared with a running "
			      "policy\n", path);
		ret = 0;
	} else if (ret == -EACCES) {
		/* not root and not in the socket's group: validating is still allowed, comparing is not */
		fputs("the file was validated only, not compared with the running policy\n", errs);
		ret = 0;
	} else if (ret == 0 && st.hunks == 0) {
		fputs("no change to the kernel policy\n", out);
	} else if (ret == 0) {
		fprintf(out, "a reload would change table inet cvpn: %zu line%s removed, %zu added\n", st.removed,
			st.removed == 1 ? "" : "s", st.added);
		fwrite(buf, 1, len, out);
	}
	free(buf);
	return ret;
}
