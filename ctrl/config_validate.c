// SPDX-License-Identifier: GPL-2.0-or-later
/* Checks that need more than one value: references between sections, overlaps with the client CIDR, files
 * on disk, limits that depend on the CIDR; then the defaults that depend on other keys and the automatic
 * route of each association. Runs even when parsing found errors, skipping whatever is missing, so one run
 * reports everything. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_int.h"

static yaml_node_t *ep_node(struct cfg_ctx *ctx, const char *key)
{
	yaml_node_t *n = cfg_map_value(ctx, ctx->sec[CFG_SEC_ENDPOINT], key);

	return n ? n : ctx->sec_key[CFG_SEC_ENDPOINT];
}

static bool same_cidr(struct cidr4 a, struct cidr4 b)
{
	return a.len == b.len && a.addr == b.addr;
}

static bool str_eq(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

static char *dup_or_null(struct cfg_ctx *ctx, const char *s)
{
	char *p = s ? strdup(s) : NULL;

	if (s && !p)
		cfg_error(ctx, NULL, "out of memory");
	return p;
}

static void fill_defaults(struct cfg_ctx *ctx)
{
	struct config *cfg = ctx->cfg;

	if (!cfg->endpoint_id)
		cfg->endpoint_id = dup_or_null(ctx, "cvpn-endpoint");
	if (!cfg->listen_address)
		cfg->listen_address = dup_or_null(ctx, "0.0.0.0");
	if (!cfg->remote_name)
		cfg->remote_name = dup_or_null(ctx, cfg->listen_address);
	/* the CA that signed our certificate is usually the one that signs the clients' */
	if (!cfg->server_ca)
		cfg->server_ca = dup_or_null(ctx, cfg->client_ca);
}

static void check_file(struct cfg_ctx *ctx, const char *key, const char *path, bool secret)
{
	yaml_node_t *n = ep_node(ctx, key);
	struct stat st;

	if (!path)
		return;
	if (stat(path, &st) < 0) {
		cfg_error(ctx, n, "%s: %s: %s", key, path, strerror(errno));
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		cfg_error(ctx, n, "%s: %s is not a regular file", key, path);
		return;
	}
	if (access(path, R_OK) < 0) {
		cfg_error(ctx, n, "%s: %s is not readable: %s", key, path, strerror(errno));
		return;
	}
	if (secret && (st.st_mode & (S_IRGRP | S_IROTH)))
		cfg_error(ctx, n, "%s: %s is readable by group/other (mode %04o); make it private with chmod 600",
			  key, path, (unsigned)(st.st_mode & 07777));
}

static void check_files(struct cfg_ctx *ctx)
{
	struct config *cfg = ctx->cfg;

	check_file(ctx, "server-certificate", cfg->server_cert, false);
	check_file(ctx, "server-key", cfg->server_key, true);
	check_file(ctx, "client-ca", cfg->client_ca, false);
	if (cfg_map_value(ctx, ctx->sec[CFG_SEC_ENDPOINT], "server-ca"))
		check_file(ctx, "server-ca", cfg->server_ca, false);
	check_file(ctx, "crl", cfg->crl, false);
}

static void check_client_cidr(struct cfg_ctx *ctx)
{
	struct config *cfg = ctx->cfg;
	char buf[CFG_CIDR_STRLEN];
	uint32_t pool;

	if (!cfg_cidr_ok(cfg->client_cidr))
		return;
	cfg_format_cidr(cfg->client_cidr, buf);
	if (cfg->client_cidr.len < 8 || cfg->client_cidr.len > 30) {
		cfg_error(ctx, ep_node(ctx, "client-cidr"), "client-cidr: %s must be between /8 and /30", buf);
		return;
	}
	/* the network, the gateway's own tunnel address and the broadcast address are never handed out */
	pool = (1u << (32 - cfg->client_cidr.len)) - 3;
	if (!ctx->max_connections_given) {
		if (cfg->max_connections > pool)
			cfg->max_connections = pool;
		return;
	}
	if (cfg->max_connections > pool)
		cfg_error(ctx, ep_node(ctx, "max-connections"),
			  "max-connections: %u is more than the %u client addresses %s provides", cfg->max_connections,
			  pool, buf);
	else if ((uint64_t)pool < 2 * (uint64_t)cfg->max_connections)
		cfg_warning(ctx, ep_node(ctx, "client-cidr"),
			    "client-cidr: %s gives %u addresses; twice max-connections (%u) is advised, as addresses "
			    "are reused only after a connection ends", buf, pool, cfg->max_connections);
}

/* A DNS server in the client CIDR is the gateway's own tunnel address or a client's: clients reach neither
 * (the input chain keeps them off the gateway host; client-to-client needs a local route, and a client's
 * address changes). The endpoint still works: a warning. (One of the associations' own addresses is the
 * same case, checked at start and reload: the config does not know them.) */
static void warn_dns_servers(struct cfg_ctx *ctx)
{
	struct config *cfg = ctx->cfg;
	uint32_t mask;

	if (!cfg_cidr_ok(cfg->client_cidr) || cfg->client_cidr.len < 8 || cfg->client_cidr.len > 30)
		return;
	mask = ~0u << (32 - cfg->client_cidr.len);
	for (size_t i = 0; i < cfg->n_dns_servers; i++) {
		char a[16], c[CFG_CIDR_STRLEN];

		if ((cfg->dns_servers[i] & mask) != cfg->client_cidr.addr)
			continue;
		config_format_ipv4(cfg->dns_servers[i], a);
		cfg_format_cidr(cfg->client_cidr, c);
		cfg_warning(ctx, ep_node(ctx, "dns-servers"), "dns-servers: %s is in client-cidr %s (the gateway's "
			    "tunnel address or a client's): clients cannot reach it", a, c);
	}
}

/* Duplicate names within one section. */
static void check_unique(struct cfg_ctx *ctx, enum cfg_section sec, const char *what, size_t n,
			 const char *(*name_of)(const struct config *, size_t), int (*line_of)(const struct config *,
											   size_t))
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < i; j++)
			if (str_eq(name_of(ctx->cfg, i), name_of(ctx->cfg, j))) {
				cfg_error(ctx, cfg_elem_node(ctx, sec, i, "name"), "duplicate %s name '%s' (first on line %d)",
					  what, name_of(ctx->cfg, i), line_of(ctx->cfg, j));
				break;
			}
}

#define ACCESSORS(tag, arr)                                                                                \
	static const char *tag##_name(const struct config *c, size_t i) { return c->arr[i].name; }          \
	static int tag##_line(const struct config *c, size_t i) { return c->arr[i].line; }
ACCESSORS(assoc, associations)
ACCESSORS(sg, security_groups)
ACCESSORS(acl, network_acls)
ACCESSORS(rt, route_tables)
ACCESSORS(ident, identities)

static const struct config_association *find_assoc(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_associations; i++)
		if (str_eq(cfg->associations[i].name, name))
			return &cfg->associations[i];
	return NULL;
}

static void check_associations(struct cfg_ctx *ctx)
{
	struct config *cfg = ctx->cfg;

	if (cfg->n_associations == 0 && !(ctx->sec[CFG_SEC_ASSOC] &&
					  ctx->sec[CFG_SEC_ASSOC]->type != YAML_SEQUENCE_NODE))
		cfg_error(ctx, ctx->sec_key[CFG_SEC_ASSOC] ? ctx->sec_key[CFG_SEC_ASSOC] : ctx->root,
			  "at least one association is required");
	for (size_t i = 0; i < cfg->n_associations; i++) {
		struct config_association *a = &cfg->associations[i];
		yaml_node_t *elem = cfg_seq_item(ctx, ctx->sec[CFG_SEC_ASSOC], i);
		yaml_node_t *sgs = cfg_map_value(ctx, elem, "security-groups");
		const char *an = a->name ? a->name : "?";

		for (size_t j = 0; j < i; j++)
			if (a->ifname[0] && !strcmp(a->ifname, cfg->associations[j].ifname))
				cfg_error(ctx, cfg_elem_node(ctx, CFG_SEC_ASSOC, i, "interface"),
					  "association '%s': interface %s is already used by association '%s' (line %d)",
					  an, a->ifname, cfg->associations[j].name ? cfg->associations[j].name : "?",
					  cfg->associations[j].line);
		for (size_t k = 0; k < a->n_security_groups; k++) {
			const char *sg = a->security_groups[k];
			bool found = false;

			if (!sg)
				continue;
			for (size_t j = 0; j < cfg->n_security_groups; j++)
				found |= str_eq(cfg->security_groups[j].name, sg);
			if (!found)
				cfg_error(ctx, cfg_seq_item(ctx, sgs, k),
					  "association '%s': security group '%s' is not defined", an, sg);
			for (size_t j = 0; j < k; j++)
				if (str_eq(a->security_groups[j], sg)) {
					cfg_error(ctx, cfg_seq_item(ctx, sgs, k),
						  "association '%s': security group '%s' listed twice", an, sg);
					break;
				}
		}
		if (a->network_acl) {
			bool found = false;

			for (size_t j = 0; j < cfg->n_network_acls; j++)
				found |= str_eq(cfg->network_acls[j].name, a->network_acl);
			if (!found)
				cfg_error(ctx, cfg_elem_node(ctx, CFG_SEC_ASSOC, i, "network-acl"),
					  "association '%s': network ACL '%s' is not defined", an, a->network_acl);
		}
		if (a->subnet_route_table) {
			bool found = false;

			for (size_t j = 0; j < cfg->n_route_tables; j++)
				found |= str_eq(cfg->route_tables[j].name, a->subnet_route_table);
			if (!found)
				cfg_error(ctx, cfg_elem_node(ctx, CFG_SEC_ASSOC, i, "route-table"),
					  "association '%s': route table '%s' is not defined", an,
					  a->subnet_route_table);
		}
	}
}

static void check_routes(struct cfg_ctx *ctx)
{
	struct config *cfg = ctx->cfg;
	char dst[CFG_CIDR_STRLEN], cc[CFG_CIDR_STRLEN];

	cfg_format_cidr(cfg->client_cidr, cc);
	for (size_t i = 0; i < ctx->n_file_routes; i++) {
		struct config_route *r = &cfg->routes[i];

		if (!r->target)
			continue;
		cfg_format_cidr(r->dst, dst);
		if (!strcmp(r->target, "local")) {
			/* client-to-client: only addresses of the client CIDR are reachable that way */
			if (cfg_cidr_ok(r->dst) && cfg_cidr_ok(cfg->client_cidr) &&
			    (r->dst.len < cfg->client_cidr.len || !cfg_overlap(r->dst, cfg->client_cidr)))
				cfg_error(ctx, cfg_elem_node(ctx, CFG_SEC_ROUTES, i, "destination"),
					  "route %s: a 'local' route must lie inside client-cidr %s", dst, cc);
		} else if (!find_assoc(cfg, r->target)) {
			cfg_error(ctx, cfg_elem_node(ctx, CFG_SEC_ROUTES, i, "target"),
				  "route %s: target '%s' is neither an association nor 'local'", dst, r->target);
		}
		for (size_t j = 0; cfg_cidr_ok(r->dst) && j < i; j++)
			if (same_cidr(cfg->routes[j].dst, r->dst) && str_eq(cfg->routes[j].target, r->target)) {
				cfg_error(ctx, cfg_elem_node(ctx, CFG_SEC_ROUTES, i, "destination"),
					  "route %s -> %s: duplicate of line %d", dst, r->target, cfg->routes[j].line);
				break;
			}
	}
}

static void check_authz(struct cfg_ctx *ctx)
{
	struct config *cfg = ctx->cfg;

	for (size_t i = 0; i < cfg->n_authz_rules; i++) {
		struct config_authz_rule *z = &cfg->authz_rules[i];
		char dst[CFG_CIDR_STRLEN];

		if (!cfg_cidr_ok(z->dst))
			continue;
		for (size_t j = 0; j < i; j++) {
			struct config_authz_rule *o = &cfg->authz_rules[j];

			if (same_cidr(o->dst, z->dst) && o->all_users == z->all_users &&
			    (z->all_users || str_eq(o->group, z->group))) {
				cfg_format_cidr(z->dst, dst);
				cfg_error(ctx, cfg_elem_node(ctx, CFG_SEC_AUTHZ, i, "destination"),
					  "authorization rule %s for %s: duplicate of line %d", dst,
					  z->all_users ? "all users" : z->group, o->line);
				break;
			}
		}
	}
}

/* Client addresses must be unambiguous: nothing behind the gateway may use them (semantics §1). */
static void check_overlaps(struct cfg_ctx *ctx)
{
	struct config *cfg = ctx->cfg;
	char cc[CFG_CIDR_STRLEN], other[CFG_CIDR_STRLEN];

	if (!cfg_cidr_ok(cfg->client_cidr))
		return;
	cfg_format_cidr(cfg->client_cidr, cc);
	for (size_t i = 0; i < cfg->n_associations; i++) {
		struct cidr4 s = cfg->associations[i].subnet;

		if (!cfg_cidr_ok(s) || !cfg_overlap(s, cfg->client_cidr))
			continue;
		cfg_format_cidr(s, other);
		cfg_error(ctx, cfg_elem_node(ctx, CFG_SEC_ASSOC, i, "subnet"),
			  "association subnet %s overlaps client-cidr %s", other, cc);
	}
	for (size_t i = 0; i < ctx->n_file_routes; i++) {
		struct config_route *r = &cfg->routes[i];

		if (!cfg_cidr_ok(r->dst) || r->dst.len == 0 || str_eq(r->target, "local") ||
		    !cfg_overlap(r->dst, cfg->client_cidr))
			continue;
		cfg_format_cidr(r->dst, other);
		cfg_error(ctx, cfg_elem_node(ctx, CFG_SEC_ROUTES, i, "destination"),
			  "route destination %s overlaps client-cidr %s", other, cc);
	}
	for (size_t i = 0; i < cfg->n_route_tables; i++) {
		struct config_route_table *t = &cfg->route_tables[i];
		yaml_node_t *routes = cfg_map_value(ctx, cfg_seq_item(ctx, ctx->sec[CFG_SEC_RT], i), "routes");

		for (size_t j = 0; j < t->n_entries; j++) {
			struct cidr4 d = t->entries[j].dst;

			if (!cfg_cidr_ok(d) || d.len == 0 || !cfg_overlap(d, cfg->client_cidr))
				continue;
			cfg_format_cidr(d, other);
			cfg_error(ctx, cfg_map_value(ctx, cfg_seq_item(ctx, routes, j), "destination"),
				  "route table %s: destination %s overlaps client-cidr %s", t->name ? t->name : "?",
				  other, cc);
		}
	}
}

static bool has_route(const struct config *cfg, size_t n, struct cidr4 dst, const char *target)
{
	for (size_t i = 0; i < n; i++)
		if (same_cidr(cfg->routes[i].dst, dst) && str_eq(cfg->routes[i].target, target))
			return true;
	return false;
}

/* Associating a subnet adds its local route (origin "associate"), as the cloud service does. */
static void add_association_routes(struct cfg_ctx *ctx)
{
	struct config *cfg = ctx->cfg;
	size_t extra = 0, n = cfg->n_routes;
	struct config_route *routes;

	for (size_t i = 0; i < cfg->n_associations; i++) {
		struct config_association *a = &cfg->associations[i];

		extra += a->name && cfg_cidr_ok(a->subnet) && !has_route(cfg, ctx->n_file_routes, a->subnet, a->name);
	}
	if (!extra)
		return;
	routes = realloc(cfg->routes, (n + extra) * sizeof(*routes));
	if (!routes) {
		cfg_error(ctx, NULL, "out of memory");
		return;
	}
	cfg->routes = routes;
	for (size_t i = 0; i < cfg->n_associations; i++) {
		struct config_association *a = &cfg->associations[i];
		struct config_route *r = &routes[cfg->n_routes];

		if (!a->name || !cfg_cidr_ok(a->subnet) || has_route(cfg, ctx->n_file_routes, a->subnet, a->name))
			continue;
		memset(r, 0, sizeof(*r));
		r->dst = a->subnet;
		r->line = a->line;
		r->target = strdup(a->name);
		r->description = strdup("associate");
		cfg->n_routes++;
		if (!r->target || !r->description)
			cfg_error(ctx, NULL, "out of memory");
	}
}

/* A session lives on one association; a destination routed through only some of them is unreachable from
 * sessions placed on the others and has no failover. Worth a warning, not a refusal. */
static void warn_route_coverage(struct cfg_ctx *ctx)
{
	struct config *cfg = ctx->cfg;

	if (ctx->n_errors || cfg->n_associations < 2)
		return;
	for (size_t i = 0; i < ctx->n_file_routes; i++) {
		struct config_route *r = &cfg->routes[i];
		bool first = true;
		char dst[CFG_CIDR_STRLEN];

		if (str_eq(r->target, "local"))
			continue;
		for (size_t j = 0; j < i; j++)
			first &= !same_cidr(cfg->routes[j].dst, r->dst) || str_eq(cfg->routes[j].target, "local");
		if (!first)
			continue;
		cfg_format_cidr(r->dst, dst);
		for (size_t k = 0; k < cfg->n_associations; k++) {
			const char *an = cfg->associations[k].name;

			if (!has_route(cfg, cfg->n_routes, r->dst, an))
				cfg_warning(ctx, cfg_elem_node(ctx, CFG_SEC_ROUTES, i, "destination"),
					    "route %s: not routed through association '%s', so sessions placed "
					    "there cannot reach it (and cannot fail over)", dst, an);
		}
	}
}

void cfg_validate(struct cfg_ctx *ctx)
{
	struct config *cfg = ctx->cfg;

	fill_defaults(ctx);
	check_files(ctx);
	check_client_cidr(ctx);
	warn_dns_servers(ctx);
	check_unique(ctx, CFG_SEC_ASSOC, "association", cfg->n_associations, assoc_name, assoc_line);
	check_unique(ctx, CFG_SEC_SG, "security group", cfg->n_security_groups, sg_name, sg_line);
	check_unique(ctx, CFG_SEC_ACL, "network ACL", cfg->n_network_acls, acl_name, acl_line);
	check_unique(ctx, CFG_SEC_RT, "route table", cfg->n_route_tables, rt_name, rt_line);
	check_unique(ctx, CFG_SEC_IDENT, "identity", cfg->n_identities, ident_name, ident_line);
	check_associations(ctx);
	check_routes(ctx);
	check_authz(ctx);
	check_overlaps(ctx);
	add_association_routes(ctx);
	warn_route_coverage(ctx);
}
