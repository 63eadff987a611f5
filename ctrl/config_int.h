/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_CTRL_CONFIG_INT_H
#define CVPN_CTRL_CONFIG_INT_H

/* Shared by config.c (YAML -> struct config) and config_validate.c (cross-checks). Not a public interface:
 * the YAML document stays loaded while validating so every error can still point at its text. */
#include <limits.h>
#include <stdbool.h>
#include <yaml.h>

#include "cvpn/config.h"

/* cidr4.len of a CIDR that was missing or did not parse: the error is already reported, cross-checks skip it. */
#define CFG_CIDR_BAD 0xff
#define CFG_CIDR_STRLEN 20	/* "255.255.255.255/255" */

enum cfg_section {
	CFG_SEC_ENDPOINT,
	CFG_SEC_ASSOC,
	CFG_SEC_ROUTES,
	CFG_SEC_AUTHZ,
	CFG_SEC_SG,
	CFG_SEC_ACL,
	CFG_SEC_RT,
	CFG_SEC_IDENT,
	CFG_SEC_N
};

struct cfg_ctx {
	const char *path;		/* as given, for messages */
	FILE *errs;
	unsigned n_errors;
	yaml_document_t doc;
	yaml_node_t *root;
	yaml_node_t *sec[CFG_SEC_N];	/* value of each top-level key, NULL when absent */
	yaml_node_t *sec_key[CFG_SEC_N];/* the key itself, for "missing ..." messages */
	char *dir;			/* directory of the file: relative paths are resolved against it */
	struct config *cfg;
	size_t n_file_routes;		/* routes written in the file; the automatic ones follow */
	bool max_connections_given;
};

#define CFG_MAX_NAME 64		/* names other entries refer to */
#define CFG_MAX_TEXT 255	/* descriptions, group names */
#define CFG_MAX_BANNER 1400	/* characters, as the cloud service allows */
#define CFG_MAX_DURATION ((unsigned)INT_MAX)
#define CFG_MAX_KEYS 32		/* most keys one mapping may have */

enum text_kind {
	TEXT_NAME,	/* identifiers other entries refer to: [A-Za-z0-9._-] */
	TEXT_HOST,	/* DNS names and addresses, written into client files */
	TEXT_LINE,	/* descriptions, group names: printable, one line */
	TEXT_BANNER,	/* free text, may span lines */
};

/* config.c */
int cfg_node_line(const yaml_node_t *n);
yaml_node_t *cfg_node_at(struct cfg_ctx *ctx, int idx);
bool cfg_is_null(const yaml_node_t *n);
size_t cfg_seq_len(const yaml_node_t *seq);
bool cfg_walk_map(struct cfg_ctx *ctx, yaml_node_t *map, const char *what, const char *const *keys, size_t n,
		  yaml_node_t **vals);
void *cfg_calloc(struct cfg_ctx *ctx, size_t n, size_t size);
char *cfg_strdup(struct cfg_ctx *ctx, const char *s);
int cfg_parse_ipv4(const char *s, uint32_t *out);
int cfg_parse_cidr_loose(const char *s, uint32_t *addr, unsigned *len);

/* config_value.c */
const char *cfg_scalar(struct cfg_ctx *ctx, yaml_node_t *n, const char *what);
char *cfg_get_text(struct cfg_ctx *ctx, yaml_node_t *n, const char *what, enum text_kind kind, size_t max);
char *cfg_get_name(struct cfg_ctx *ctx, yaml_node_t *n, const char *what);
char *cfg_get_description(struct cfg_ctx *ctx, yaml_node_t *n);
bool cfg_get_bool(struct cfg_ctx *ctx, yaml_node_t *n, const char *what, bool *out);
bool cfg_get_uint(struct cfg_ctx *ctx, yaml_node_t *n, const char *what, unsigned long long min,
		  unsigned long long max, unsigned long long *out);
bool cfg_get_duration(struct cfg_ctx *ctx, yaml_node_t *n, const char *what, unsigned min, unsigned *out);
void cfg_get_cidr(struct cfg_ctx *ctx, yaml_node_t *n, const char *what, struct cidr4 *out);
bool cfg_get_ipv4(struct cfg_ctx *ctx, yaml_node_t *n, const char *what, uint32_t *out);
char *cfg_get_path(struct cfg_ctx *ctx, yaml_node_t *n, const char *what);
bool cfg_get_proto(struct cfg_ctx *ctx, yaml_node_t *n, int *out);
void cfg_get_ports(struct cfg_ctx *ctx, yaml_node_t *n, int proto, bool proto_ok, uint16_t *from, uint16_t *to);
/* Checks the node is a list and allocates exactly one zeroed element per item; returns the count. */
size_t cfg_alloc_list(struct cfg_ctx *ctx, yaml_node_t *n, const char *what, size_t elem, void **out);

/* config_parse.c */
void cfg_set_defaults(struct config *cfg);
void cfg_parse_root(struct cfg_ctx *ctx);

void cfg_error(struct cfg_ctx *ctx, const yaml_node_t *node, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void cfg_warning(struct cfg_ctx *ctx, const yaml_node_t *node, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

yaml_node_t *cfg_map_value(struct cfg_ctx *ctx, yaml_node_t *map, const char *key);
yaml_node_t *cfg_seq_item(struct cfg_ctx *ctx, yaml_node_t *seq, size_t i);
/* Value of `key` in element i of a section list; falls back to the element, then the section. */
yaml_node_t *cfg_elem_node(struct cfg_ctx *ctx, enum cfg_section sec, size_t i, const char *key);

uint32_t cfg_mask(unsigned len);
bool cfg_cidr_ok(struct cidr4 c);
bool cfg_overlap(struct cidr4 a, struct cidr4 b);
void cfg_format_cidr(struct cidr4 c, char buf[CFG_CIDR_STRLEN]);

/* config_auth.c: endpoint.authentication */
void cfg_auth_defaults(struct config_auth *a);
void cfg_parse_auth(struct cfg_ctx *ctx, yaml_node_t *n);
void cfg_auth_free(struct config_auth *a);

/* Cross-checks, file checks, defaults that depend on other fields, automatic association routes. */
void cfg_validate(struct cfg_ctx *ctx);

#endif
