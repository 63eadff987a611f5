// SPDX-License-Identifier: GPL-2.0-or-later
/* Endpoint config file: YAML -> struct config. libyaml's document API gives every node its line and column,
 * so each problem is reported as file:line:col. Parsing never stops at the first problem: a broken element
 * is still stored (with CFG_CIDR_BAD / NULL fields) so the cross-checks in config_validate.c can run on the
 * rest, and the whole struct is freed at the end if anything was wrong.
 * This file: loading, node access, reporting, the public helpers. config_value.c: scalar values.
 * config_parse.c: the sections. config_validate.c: cross-checks. */
#define _GNU_SOURCE /* asprintf */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_int.h"

/* ---- reporting ---- */

/* errs may be NULL: the caller only wants to know whether the file is valid. */
static void __attribute__((format(printf, 2, 3))) cfg_print(struct cfg_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	if (!ctx->errs)
		return;
	va_start(ap, fmt);
	vfprintf(ctx->errs, fmt, ap);
	va_end(ap);
}

static void cfg_report(struct cfg_ctx *ctx, const yaml_node_t *node, const char *kind, const char *fmt,
		       va_list ap)
{
	size_t line = 1, col = 1;
	char msg[1024];

	if (node) {
		line = node->start_mark.line + 1;
		col = node->start_mark.column + 1;
	}
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* messages quote values from the file: keep each one on its own line, free of terminal escapes */
	for (char *p = msg; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	cfg_print(ctx, "%s:%zu:%zu: %s%s\n", ctx->path, line, col, kind, msg);
}

void cfg_error(struct cfg_ctx *ctx, const yaml_node_t *node, const char *fmt, ...)
{
	va_list ap;

	ctx->n_errors++;
	va_start(ap, fmt);
	cfg_report(ctx, node, "", fmt, ap);
	va_end(ap);
}

void cfg_warning(struct cfg_ctx *ctx, const yaml_node_t *node, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cfg_report(ctx, node, "warning: ", fmt, ap);
	va_end(ap);
}

int cfg_node_line(const yaml_node_t *n)
{
	return n ? (int)n->start_mark.line + 1 : 0;
}

/* ---- small helpers shared with config_validate.c ---- */

uint32_t cfg_mask(unsigned len)
{
	return len == 0 ? 0 : len >= 32 ? 0xffffffffu : ~0u << (32 - len);
}

bool cfg_cidr_ok(struct cidr4 c)
{
	return c.len <= 32;
}

bool cfg_overlap(struct cidr4 a, struct cidr4 b)
{
	unsigned len = a.len < b.len ? a.len : b.len;

	return ((a.addr ^ b.addr) & cfg_mask(len)) == 0;
}

void cfg_format_cidr(struct cidr4 c, char buf[CFG_CIDR_STRLEN])
{
	char ip[16];

	config_format_ipv4(c.addr, ip);
	snprintf(buf, CFG_CIDR_STRLEN, "%s/%u", ip, c.len);
}

void config_format_ipv4(uint32_t addr, char buf[16])
{
	snprintf(buf, 16, "%u.%u.%u.%u", addr >> 24, (addr >> 16) & 0xff, (addr >> 8) & 0xff, addr & 0xff);
}

int cfg_parse_ipv4(const char *s, uint32_t *out)
{
	struct in_addr in;

	/* inet_pton, unlike inet_aton, refuses "10.1" and octal/hex forms. */
	if (inet_pton(AF_INET, s, &in) != 1)
		return -EINVAL;
	*out = ntohl(in.s_addr);
	return 0;
}

/* Address and prefix length without requiring the host bits to be clear, so callers can say what the
 * network address would have been. */
int cfg_parse_cidr_loose(const char *s, uint32_t *addr, unsigned *len)
{
	const char *slash = strchr(s, '/');
	char ip[INET_ADDRSTRLEN];
	size_t iplen = slash ? (size_t)(slash - s) : strlen(s);

	if (iplen == 0 || iplen >= sizeof(ip))
		return -EINVAL;
	memcpy(ip, s, iplen);
	ip[iplen] = '\0';
	if (cfg_parse_ipv4(ip, addr) < 0)
		return -EINVAL;
	if (!slash) {
		*len = 32;
		return 0;
	}
	slash++;
	if (!isdigit((unsigned char)slash[0]) || (slash[1] && !isdigit((unsigned char)slash[1])) ||
	    (slash[1] && slash[2]))
		return -EINVAL;
	*len = (unsigned)atoi(slash);
	return *len <= 32 ? 0 : -EINVAL;
}

int config_parse_cidr4(const char *s, struct cidr4 *out)
{
	uint32_t addr;
	unsigned len;

	if (!s || cfg_parse_cidr_loose(s, &addr, &len) < 0 || (addr & ~cfg_mask(len)))
		return -EINVAL;
	out->addr = addr;
	out->len = (uint8_t)len;
	return 0;
}

static const char *const cipher_names[] = {
	[CVPN_CIPHER_AES_256_GCM] = "AES-256-GCM",
	[CVPN_CIPHER_AES_128_GCM] = "AES-128-GCM",
	[CVPN_CIPHER_CHACHA20_POLY1305] = "CHACHA20-POLY1305",
};

const char *config_cipher_name(enum cvpn_cipher c)
{
	if ((size_t)c >= sizeof(cipher_names) / sizeof(cipher_names[0]))
		return NULL;
	return cipher_names[c];
}

enum cvpn_cipher config_cipher_from_name(const char *s)
{
	for (size_t i = 1; s && i < sizeof(cipher_names) / sizeof(cipher_names[0]); i++)
		if (!strcasecmp(s, cipher_names[i]))
			return (enum cvpn_cipher)i;
	return CVPN_CIPHER_NONE;
}

/* ---- YAML node access ---- */

yaml_node_t *cfg_node_at(struct cfg_ctx *ctx, int idx)
{
	return yaml_document_get_node(&ctx->doc, idx);
}

bool cfg_is_null(const yaml_node_t *n)
{
	const char *v;

	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	v = (const char *)n->data.scalar.value;
	return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL");
}

yaml_node_t *cfg_map_value(struct cfg_ctx *ctx, yaml_node_t *map, const char *key)
{
	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = cfg_node_at(ctx, p->key), *v = cfg_node_at(ctx, p->value);

		if (k && v && k->type == YAML_SCALAR_NODE && !strcmp((const char *)k->data.scalar.value, key))
			return cfg_is_null(v) ? NULL : v;
	}
	return NULL;
}

yaml_node_t *cfg_seq_item(struct cfg_ctx *ctx, yaml_node_t *seq, size_t i)
{
	if (!seq || seq->type != YAML_SEQUENCE_NODE)
		return NULL;
	if (i >= (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start))
		return NULL;
	return cfg_node_at(ctx, seq->data.sequence.items.start[i]);
}

yaml_node_t *cfg_elem_node(struct cfg_ctx *ctx, enum cfg_section sec, size_t i, const char *key)
{
	yaml_node_t *elem = cfg_seq_item(ctx, ctx->sec[sec], i), *v;

	if (!elem)
		return ctx->sec[sec];
	v = key ? cfg_map_value(ctx, elem, key) : NULL;
	return v ? v : elem;
}

size_t cfg_seq_len(const yaml_node_t *seq)
{
	return (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
}

static unsigned edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned row[CFG_MAX_NAME + 1];

	if (la > CFG_MAX_NAME || lb > CFG_MAX_NAME)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		row[j] = (unsigned)j;
	for (size_t i = 1; i <= la; i++) {
		unsigned diag = row[0], tmp;

		row[0] = (unsigned)i;
		for (size_t j = 1; j <= lb; j++) {
			tmp = row[j];
			row[j] = diag + (a[i - 1] != b[j - 1]);
			if (row[j - 1] + 1 < row[j])
				row[j] = row[j - 1] + 1;
			if (tmp + 1 < row[j])
				row[j] = tmp + 1;
			diag = tmp;
		}
	}
	return row[lb];
}

/* Checks that `map` is a mapping whose keys are all in keys[0..n) and none repeats; vals[i] gets the value
 * of keys[i] (NULL when absent or null). A typo is an error, not a silently ignored key. */
bool cfg_walk_map(struct cfg_ctx *ctx, yaml_node_t *map, const char *what, const char *const *keys, size_t n,
		     yaml_node_t **vals)
{
	const yaml_node_t *seen[CFG_MAX_KEYS] = { 0 };

	if (n > CFG_MAX_KEYS)
		abort(); /* a key table outgrew seen[]: a bug, not bad input */
	memset(vals, 0, n * sizeof(*vals));
	if (map->type != YAML_MAPPING_NODE) {
		cfg_error(ctx, map, "%s: expected a mapping of key: value", what);
		return false;
	}
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = cfg_node_at(ctx, p->key), *v = cfg_node_at(ctx, p->value);
		const char *ks, *hint = NULL;
		size_t i;

		if (!k || !v)
			continue;
		if (k->type != YAML_SCALAR_NODE) {
			cfg_error(ctx, k, "%s: a key must be a plain word", what);
			continue;
		}
		ks = (const char *)k->data.scalar.value;
		for (i = 0; i < n && strcmp(keys[i], ks); i++)
			if (!hint && edit_distance(keys[i], ks) <= 2)
				hint = keys[i];
		if (i == n) {
			if (hint)
				cfg_error(ctx, k, "unknown key '%.64s' in %s (did you mean '%s'?)", ks, what, hint);
			else
				cfg_error(ctx, k, "unknown key '%.64s' in %s", ks, what);
			continue;
		}
		if (seen[i]) {
			cfg_error(ctx, k, "duplicate key '%s' in %s (first on line %d)", ks, what, cfg_node_line(seen[i]));
			continue;
		}
		seen[i] = k;
		vals[i] = cfg_is_null(v) ? NULL : v;
	}
	return true;
}

void *cfg_calloc(struct cfg_ctx *ctx, size_t n, size_t size)
{
	void *p;

	if (n == 0)
		return NULL;
	p = calloc(n, size);
	if (!p)
		cfg_error(ctx, NULL, "out of memory");
	return p;
}

char *cfg_strdup(struct cfg_ctx *ctx, const char *s)
{
	char *p = strdup(s);

	if (!p)
		cfg_error(ctx, NULL, "out of memory");
	return p;
}

static char *config_dir(const char *path)
{
	char *copy = strdup(path), *dir = NULL;

	if (!copy)
		return NULL;
	/* absolute, so the daemon finds its certificates whatever its working directory on reload */
	dir = realpath(dirname(copy), NULL);
	if (!dir) {
		free(copy);
		copy = strdup(path);
		dir = copy ? strdup(dirname(copy)) : NULL;
	}
	free(copy);
	return dir;
}

/* Loads the single document of the file; reports a syntax error with libyaml's position. */
static int load_yaml(struct cfg_ctx *ctx, FILE *f)
{
	yaml_parser_t parser;
	yaml_document_t extra;
	int ret = -1;

	if (!yaml_parser_initialize(&parser)) {
		cfg_print(ctx, "%s:1:1: out of memory\n", ctx->path);
		return -1;
	}
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &ctx->doc))
		goto syntax;
	ctx->root = yaml_document_get_root_node(&ctx->doc);
	if (!yaml_parser_load(&parser, &extra)) {
		yaml_document_delete(&ctx->doc);
		goto syntax;
	}
	if (yaml_document_get_root_node(&extra)) {
		cfg_print(ctx, "%s:%zu:%zu: only one YAML document is allowed\n", ctx->path,
			extra.start_mark.line + 1, extra.start_mark.column + 1);
		ctx->n_errors++;
	}
	yaml_document_delete(&extra);
	ret = 0;
	goto out;
syntax:
	if (parser.error == YAML_READER_ERROR)
		cfg_print(ctx, "%s:1:1: %s at byte %zu\n", ctx->path, parser.problem ? parser.problem : "bad input",
			parser.problem_offset);
	else
		cfg_print(ctx, "%s:%zu:%zu: YAML syntax error: %s%s%s\n", ctx->path,
			parser.problem_mark.line + 1, parser.problem_mark.column + 1,
			parser.problem ? parser.problem : "unknown problem", parser.context ? " " : "",
			parser.context ? parser.context : "");
	ctx->n_errors++;
out:
	yaml_parser_delete(&parser);
	return ret;
}

int config_load(const char *path, FILE *errs, struct config **out)
{
	struct cfg_ctx ctx = { .path = path, .errs = errs };
	struct config *cfg = NULL;
	bool have_doc = false;
	FILE *f = NULL;
	int ret = -1;

	*out = NULL;
	f = fopen(path, "re");
	if (!f) {
		cfg_print(&ctx, "%s:1:1: cannot open: %s\n", path, strerror(errno));
		goto out;
	}
	cfg = calloc(1, sizeof(*cfg));
	ctx.dir = config_dir(path);
	if (!cfg || !ctx.dir || !(cfg->path = strdup(path))) {
		cfg_print(&ctx, "%s:1:1: out of memory\n", path);
		goto out;
	}
	ctx.cfg = cfg;
	cfg_set_defaults(cfg);
	if (load_yaml(&ctx, f) < 0)
		goto out;
	have_doc = true;
	cfg_parse_root(&ctx);
	cfg_validate(&ctx);
	if (ctx.n_errors)
		goto out;
	*out = cfg;
	cfg = NULL;
	ret = 0;
out:
	if (have_doc)
		yaml_document_delete(&ctx.doc);
	if (f)
		fclose(f);
	free(ctx.dir);
	config_free(cfg);
	return ret;
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	free(cfg->path);
	free(cfg->endpoint_id);
	free(cfg->listen_address);
	free(cfg->remote_name);
	free(cfg->server_cert);
	free(cfg->server_key);
	free(cfg->client_ca);
	free(cfg->server_ca);
	free(cfg->crl);
	cfg_auth_free(&cfg->auth);
	free(cfg->dns_servers);
	for (size_t i = 0; i < cfg->n_search_domains; i++)
		free(cfg->search_domains[i]);
	free(cfg->search_domains);
	free(cfg->banner);
	free(cfg->control_socket);
	free(cfg->control_socket_group);
	free(cfg->connection_log);
	for (size_t i = 0; i < cfg->n_associations; i++) {
		struct config_association *a = &cfg->associations[i];

		free(a->name);
		for (size_t j = 0; j < a->n_security_groups; j++)
			free(a->security_groups[j]);
		free(a->security_groups);
		free(a->network_acl);
		free(a->subnet_route_table);
	}
	free(cfg->associations);
	for (size_t i = 0; i < cfg->n_routes; i++) {
		free(cfg->routes[i].target);
		free(cfg->routes[i].description);
	}
	free(cfg->routes);
	for (size_t i = 0; i < cfg->n_authz_rules; i++) {
		free(cfg->authz_rules[i].group);
		free(cfg->authz_rules[i].description);
	}
	free(cfg->authz_rules);
	for (size_t i = 0; i < cfg->n_security_groups; i++) {
		struct config_security_group *g = &cfg->security_groups[i];

		free(g->name);
		for (size_t j = 0; j < g->n_egress; j++)
			free(g->egress[j].description);
		free(g->egress);
	}
	free(cfg->security_groups);
	for (size_t i = 0; i < cfg->n_network_acls; i++) {
		free(cfg->network_acls[i].name);
		free(cfg->network_acls[i].outbound);
		free(cfg->network_acls[i].inbound);
	}
	free(cfg->network_acls);
	for (size_t i = 0; i < cfg->n_identities; i++) {
		free(cfg->identities[i].name);
		for (size_t j = 0; j < cfg->identities[i].n_groups; j++)
			free(cfg->identities[i].groups[j]);
		free(cfg->identities[i].groups);
	}
	free(cfg->identities);
	for (size_t i = 0; i < cfg->n_route_tables; i++) {
		free(cfg->route_tables[i].name);
		free(cfg->route_tables[i].entries);
	}
	free(cfg->route_tables);
	free(cfg);
}

const struct config_identity *config_find_identity(const struct config *cfg, const char *name)
{
	for (size_t i = 0; name && i < cfg->n_identities; i++)
		if (cfg->identities[i].name && !strcmp(cfg->identities[i].name, name))
			return &cfg->identities[i];
	return NULL;
}
