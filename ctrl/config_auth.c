// SPDX-License-Identifier: GPL-2.0-or-later
/* endpoint.authentication: how users log in (certificate, directory account, both), MFA, the client connect
 * handler and the failed-login backoff. Parsed and checked here, so config_parse.c stays about the rest. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_int.h"

#define DIR_DEFAULT_TIMEOUT 10
#define HANDLER_DEFAULT_TIMEOUT 30
#define BACKOFF_DEFAULT_INITIAL 1
#define BACKOFF_DEFAULT_MAX 30

void cfg_auth_defaults(struct config_auth *a)
{
	a->certificate = true;
	a->handler_timeout = HANDLER_DEFAULT_TIMEOUT;
	a->backoff_base_ms = BACKOFF_DEFAULT_INITIAL * 1000;
	a->backoff_max_ms = BACKOFF_DEFAULT_MAX * 1000;
}

void config_directory_free(struct config_directory *d)
{
	if (!d)
		return;
	free(d->uri);
	free(d->base_dn);
	free(d->bind_dn_template);
	free(d->search_filter);
	free(d->service_bind_dn);
	free(d->service_password_file);
	free(d->ca);
	free(d->group_attribute);
	free(d->username_attribute);
	free(d);
}

void cfg_auth_free(struct config_auth *a)
{
	config_directory_free(a->directory);
	free(a->totp_attribute);
	free(a->totp_file);
	free(a->handler_path);
	memset(a, 0, sizeof(*a));
}

/* what: key for messages; secret: refuse group/other access (passwords, TOTP secrets); exec: must be
 * executable (the connect handler). */
static void check_path(struct cfg_ctx *ctx, yaml_node_t *n, const char *what, const char *path, bool secret,
		       bool exec)
{
	struct stat st;

	if (!path)
		return;
	if (stat(path, &st) < 0) {
		cfg_error(ctx, n, "%s: %s: %s", what, path, strerror(errno));
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		cfg_error(ctx, n, "%s: %s is not a regular file", what, path);
		return;
	}
	if (access(path, exec ? X_OK : R_OK) < 0) {
		cfg_error(ctx, n, "%s: %s is not %s: %s", what, path, exec ? "executable" : "readable",
			  strerror(errno));
		return;
	}
	if (secret && (st.st_mode & (S_IRGRP | S_IROTH | S_IWGRP | S_IWOTH)))
		cfg_error(ctx, n, "%s: %s is accessible by group/other (mode %04o); make it private with chmod 600",
			  what, path, (unsigned)(st.st_mode & 07777));
	/* the handler runs as root with the users' identities on stdin: nobody else may replace it */
	if (exec && (st.st_mode & (S_IWGRP | S_IWOTH)))
		cfg_error(ctx, n, "%s: %s is writable by group/other (mode %04o)", what, path,
			  (unsigned)(st.st_mode & 07777));
}

int config_matched_attribute(const char *how, char *out, size_t cap)
{
	size_t found = 0;

	for (const char *p = how; (p = strchr(p, '%')); p += 2) {
		const char *end = p - 1, *start;

		/* "%%" is a literal '%' (so "%%u" is not the placeholder); check_placeholder refuses the rest */
		if (p[1] == '\0')
			break;
		if (p[1] != 'u')
			continue;
		/* an equality match of the whole value: not "uid=%u*" nor "mail=%u@example.org" */
		if (p == how || *end != '=' || !strchr("),+", p[2]))
			return -EINVAL;
		for (start = end; start > how && (isalnum((unsigned char)start[-1]) || start[-1] == '-'); start--)
			;
		/* an attribute description starts with a letter, and "~=", ">=", "<=" or ":=" are other matches */
		if (start == end || !isalpha((unsigned char)*start))
			return -EINVAL;
		if (start > how && !strchr("(,+", start[-1]))
			return -EINVAL;
		if (found) {
			if (found != (size_t)(end - start) || strncasecmp(out, start, found))
				return -EINVAL;
			continue;
		}
		if ((size_t)(end - start) >= cap)
			return -ENOSPC;
		found = (size_t)(end - start);
		memcpy(out, start, found);
		out[found] = '\0';
	}
	return found ? 0 : -EINVAL;
}

/* A template or filter must contain %u (the username) and no other % directive. */
static void check_placeholder(struct cfg_ctx *ctx, yaml_node_t *n, const char *what, const char *s)
{
	bool has_u = false;

	if (!s)
		return;
	for (const char *p = s; *p; p++) {
		if (*p != '%')
			continue;
		if (p[1] == 'u') {
			has_u = true;
			p++;
		} else if (p[1] == '%') {
			p++;
		} else {
			cfg_error(ctx, n, "%s: only %%u (the username) and %%%% may follow '%%'", what);
			return;
		}
	}
	if (!has_u)
		cfg_error(ctx, n, "%s: must contain %%u, where the username goes", what);
}

enum {
	D_URI, D_BASE, D_TEMPLATE, D_FILTER, D_SVC_DN, D_SVC_PW, D_STARTTLS, D_CA, D_GATTR, D_GNAME, D_NESTED,
	D_TIMEOUT, D_UATTR, D_N
};
static const char *const dir_keys[D_N] = {
	[D_URI] = "uri", [D_BASE] = "base-dn", [D_TEMPLATE] = "bind-dn-template", [D_FILTER] = "search-filter",
	[D_SVC_DN] = "service-bind-dn", [D_SVC_PW] = "service-password-file", [D_STARTTLS] = "starttls",
	[D_CA] = "ca", [D_GATTR] = "group-attribute", [D_GNAME] = "group-name", [D_NESTED] = "nested-groups",
	[D_TIMEOUT] = "timeout", [D_UATTR] = "username-attribute",
};

/* An ldap:// URI in the list whose host is not this machine's loopback. */
static bool plain_remote_ldap(const char *uris)
{
	static const char *const local[] = { "ldap://127.", "ldap://localhost", "ldap://[::1]" };

	for (const char *u = uris; (u = strcasestr(u, "ldap://")); u += 7) {
		bool loopback = false;

		for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++) {
			size_t n = strlen(local[i]);

			/* "localhost" must end the host: localhost.example.com is another machine */
			if (!strncasecmp(u, local[i], n) && (i != 1 || u[n] == '\0' || u[n] == ':' || u[n] == '/' ||
							     u[n] == ' '))
				loopback = true;
		}
		if (!loopback)
			return true;
	}
	return false;
}

static void parse_directory(struct cfg_ctx *ctx, yaml_node_t *n, struct config_auth *a)
{
	struct config_directory *d;
	yaml_node_t *v[D_N];
	const char *s;

	d = cfg_calloc(ctx, 1, sizeof(*d));
	if (!d)
		return;
	a->directory = d;
	d->line = cfg_node_line(n);
	d->timeout = DIR_DEFAULT_TIMEOUT;
	if (!cfg_walk_map(ctx, n, "directory", dir_keys, D_N, v))
		return;
	if (!v[D_URI])
		cfg_error(ctx, n, "directory: missing required key 'uri'");
	else if ((d->uri = cfg_get_text(ctx, v[D_URI], "directory uri", TEXT_LINE, 1024))) {
		bool ok = true;
		char *copy = strdup(d->uri), *save = NULL;

		for (char *u = copy ? strtok_r(copy, " ", &save) : NULL; u; u = strtok_r(NULL, " ", &save))
			ok &= !strncasecmp(u, "ldap://", 7) || !strncasecmp(u, "ldaps://", 8) ||
			      !strncasecmp(u, "ldapi://", 8);
		free(copy);
		if (!ok || !*d->uri)
			cfg_error(ctx, v[D_URI], "directory uri: expected ldap://, ldaps:// or ldapi:// URIs, not '%.64s'",
				  d->uri);
	}
	if (v[D_BASE])
		d->base_dn = cfg_get_text(ctx, v[D_BASE], "directory base-dn", TEXT_LINE, 1024);
	if (v[D_TEMPLATE])
		d->bind_dn_template = cfg_get_text(ctx, v[D_TEMPLATE], "directory bind-dn-template", TEXT_LINE, 1024);
	if (v[D_FILTER])
		d->search_filter = cfg_get_text(ctx, v[D_FILTER], "directory search-filter", TEXT_LINE, 1024);
	if (v[D_SVC_DN])
		d->service_bind_dn = cfg_get_text(ctx, v[D_SVC_DN], "directory service-bind-dn", TEXT_LINE, 1024);
	if (v[D_SVC_PW])
		d->service_password_file = cfg_get_path(ctx, v[D_SVC_PW], "directory service-password-file");
	if (v[D_STARTTLS])
		cfg_get_bool(ctx, v[D_STARTTLS], "directory starttls", &d->starttls);
	if (v[D_CA])
		d->ca = cfg_get_path(ctx, v[D_CA], "directory ca");
	d->group_attribute = v[D_GATTR] ? cfg_get_name(ctx, v[D_GATTR], "directory group-attribute")
					: cfg_strdup(ctx, "memberOf");
	if (v[D_GNAME] && (s = cfg_scalar(ctx, v[D_GNAME], "directory group-name"))) {
		if (!strcasecmp(s, "cn"))
			d->group_name = CONFIG_GROUP_NAME_CN;
		else if (!strcasecmp(s, "dn"))
			d->group_name = CONFIG_GROUP_NAME_DN;
		else
			cfg_error(ctx, v[D_GNAME], "directory group-name: expected cn or dn, not '%.64s'", s);
	}
	if (v[D_NESTED])
		cfg_get_bool(ctx, v[D_NESTED], "directory nested-groups", &d->nested_groups);
	if (v[D_UATTR])
		d->username_attribute = cfg_get_name(ctx, v[D_UATTR], "directory username-attribute");
	if (v[D_TIMEOUT])
		cfg_get_duration(ctx, v[D_TIMEOUT], "directory timeout", 1, &d->timeout);

	/* how a username becomes an entry: exactly one way */
	if (v[D_TEMPLATE] && v[D_FILTER])
		cfg_error(ctx, v[D_FILTER], "directory: give either bind-dn-template or search-filter, not both");
	else if (!v[D_TEMPLATE] && !v[D_FILTER])
		cfg_error(ctx, n, "directory: missing 'bind-dn-template' or 'search-filter' (how a username maps to "
			  "an entry)");
	check_placeholder(ctx, v[D_TEMPLATE], "directory bind-dn-template", d->bind_dn_template);
	check_placeholder(ctx, v[D_FILTER], "directory search-filter", d->search_filter);
	/* One user, one name (the one sessions, logs and terminate --username show, and TOTP codes are
	 * counted against), whichever spelling the user typed: by default the attribute %u is compared with. */
	if (!v[D_UATTR] && (d->bind_dn_template || d->search_filter)) {
		const char *how = d->bind_dn_template ? d->bind_dn_template : d->search_filter;
		char attr[128];

		if (!strstr(how, "%u"))
			; /* check_placeholder says what is wrong */
		else if (config_matched_attribute(how, attr, sizeof(attr)) < 0)
			cfg_error(ctx, v[D_TEMPLATE] ? v[D_TEMPLATE] : v[D_FILTER], "directory: '%.64s' does not compare "
				  "%%u with a single attribute (as in uid=%%u); set username-attribute to the one that "
				  "holds the user's name", how);
		else
			d->username_attribute = cfg_strdup(ctx, attr);
	}
	if (v[D_FILTER] && !v[D_BASE])
		cfg_error(ctx, n, "directory: search-filter needs base-dn (where to search)");
	if (v[D_FILTER] && d->search_filter && d->search_filter[0] != '(')
		cfg_error(ctx, v[D_FILTER], "directory search-filter: an LDAP filter starts with '('");
	if (!!v[D_SVC_DN] != !!v[D_SVC_PW])
		cfg_error(ctx, v[D_SVC_DN] ? v[D_SVC_DN] : v[D_SVC_PW],
			  "directory: service-bind-dn and service-password-file go together");
	if (v[D_SVC_DN] && v[D_TEMPLATE])
		cfg_error(ctx, v[D_SVC_DN], "directory: a service account is only used with search-filter");
	if (d->starttls && d->uri && strcasestr(d->uri, "ldaps://"))
		cfg_error(ctx, v[D_STARTTLS], "directory: starttls with an ldaps:// URI (that is TLS already)");
	if (!d->starttls && d->uri && plain_remote_ldap(d->uri))
		cfg_warning(ctx, v[D_URI], "directory uri: ldap:// to another host without starttls sends every user's "
			    "password in clear; use ldaps://, starttls: true or ldapi://");
	check_path(ctx, v[D_SVC_PW], "directory service-password-file", d->service_password_file, true, false);
	check_path(ctx, v[D_CA], "directory ca", d->ca, false, false);
}

enum { T_SECRETS, T_N };
static const char *const totp_keys[T_N] = { "secrets" };
enum { S_ATTR, S_FILE, S_N };
static const char *const secret_keys[S_N] = { "directory-attribute", "file" };
enum { M_TOTP, M_N };
static const char *const mfa_keys[M_N] = { "totp" };

/* mfa: { totp: { secrets: { directory-attribute: NAME } | { file: PATH } } } */
static void parse_mfa(struct cfg_ctx *ctx, yaml_node_t *n, struct config_auth *a)
{
	yaml_node_t *m[M_N], *t[T_N], *s[S_N];

	if (!cfg_walk_map(ctx, n, "mfa", mfa_keys, M_N, m))
		return;
	if (!m[M_TOTP]) {
		cfg_error(ctx, n, "mfa: missing 'totp' (the only MFA method)");
		return;
	}
	if (!cfg_walk_map(ctx, m[M_TOTP], "mfa totp", totp_keys, T_N, t))
		return;
	if (!t[T_SECRETS]) {
		cfg_error(ctx, m[M_TOTP], "mfa totp: missing 'secrets' (directory-attribute or file)");
		return;
	}
	if (!cfg_walk_map(ctx, t[T_SECRETS], "mfa totp secrets", secret_keys, S_N, s))
		return;
	if (!!s[S_ATTR] == !!s[S_FILE]) {
		cfg_error(ctx, t[T_SECRETS], "mfa totp secrets: give exactly one of directory-attribute and file");
		return;
	}
	if (s[S_ATTR]) {
		a->totp = CONFIG_TOTP_ATTRIBUTE;
		a->totp_attribute = cfg_get_name(ctx, s[S_ATTR], "mfa totp secrets directory-attribute");
	} else {
		a->totp = CONFIG_TOTP_FILE;
		a->totp_file = cfg_get_path(ctx, s[S_FILE], "mfa totp secrets file");
		check_path(ctx, s[S_FILE], "mfa totp secrets file", a->totp_file, true, false);
	}
}

enum { H_PATH, H_TIMEOUT, H_N };
static const char *const handler_keys[H_N] = { "path", "timeout" };

/* connect-handler: PATH, or { path: PATH, timeout: DURATION } */
static void parse_handler(struct cfg_ctx *ctx, yaml_node_t *n, struct config_auth *a)
{
	yaml_node_t *v[H_N] = { NULL };

	if (n->type == YAML_SCALAR_NODE) {
		v[H_PATH] = n;
	} else {
		if (!cfg_walk_map(ctx, n, "connect-handler", handler_keys, H_N, v))
			return;
		if (!v[H_PATH]) {
			cfg_error(ctx, n, "connect-handler: missing required key 'path'");
			return;
		}
	}
	a->handler_path = cfg_get_path(ctx, v[H_PATH], "connect-handler path");
	if (v[H_TIMEOUT])
		cfg_get_duration(ctx, v[H_TIMEOUT], "connect-handler timeout", 1, &a->handler_timeout);
	check_path(ctx, v[H_PATH], "connect-handler", a->handler_path, false, true);
}

enum { B_INITIAL, B_MAX, B_N };
static const char *const backoff_keys[B_N] = { "initial", "max" };

static void parse_backoff(struct cfg_ctx *ctx, yaml_node_t *n, struct config_auth *a)
{
	yaml_node_t *v[B_N];
	unsigned initial = a->backoff_base_ms / 1000, max = a->backoff_max_ms / 1000;

	if (!cfg_walk_map(ctx, n, "failed-login-backoff", backoff_keys, B_N, v))
		return;
	if (v[B_INITIAL])
		cfg_get_duration(ctx, v[B_INITIAL], "failed-login-backoff initial", 0, &initial);
	if (v[B_MAX])
		cfg_get_duration(ctx, v[B_MAX], "failed-login-backoff max", 0, &max);
	/* the verdict must come before the client's own handshake window (60 s in 2.6) gives up */
	if (max > 50)
		cfg_error(ctx, v[B_MAX] ? v[B_MAX] : n, "failed-login-backoff max: at most 50s (the client's "
			  "handshake window is 60s)");
	if (initial > max)
		cfg_error(ctx, n, "failed-login-backoff: initial (%us) is more than max (%us)", initial, max);
	a->backoff_base_ms = initial * 1000;
	a->backoff_max_ms = max * 1000;
}

enum { AU_CERT, AU_DIR, AU_MFA, AU_HANDLER, AU_BACKOFF, AU_N };
static const char *const auth_keys[AU_N] = {
	[AU_CERT] = "certificate", [AU_DIR] = "directory", [AU_MFA] = "mfa", [AU_HANDLER] = "connect-handler",
	[AU_BACKOFF] = "failed-login-backoff",
};

void cfg_parse_auth(struct cfg_ctx *ctx, yaml_node_t *n)
{
	struct config_auth *a = &ctx->cfg->auth;
	yaml_node_t *v[AU_N];

	if (!cfg_walk_map(ctx, n, "authentication", auth_keys, AU_N, v))
		return;
	if (v[AU_CERT])
		cfg_get_bool(ctx, v[AU_CERT], "authentication certificate", &a->certificate);
	if (v[AU_DIR])
		parse_directory(ctx, v[AU_DIR], a);
	if (v[AU_MFA])
		parse_mfa(ctx, v[AU_MFA], a);
	if (v[AU_HANDLER])
		parse_handler(ctx, v[AU_HANDLER], a);
	if (v[AU_BACKOFF])
		parse_backoff(ctx, v[AU_BACKOFF], a);
	if (!a->certificate && !v[AU_DIR])
		cfg_error(ctx, n, "authentication: certificate is off and there is no directory: nobody could log in");
	if (v[AU_MFA] && !v[AU_DIR])
		cfg_error(ctx, v[AU_MFA], "authentication mfa: needs a directory (MFA codes belong to usernames)");
}
