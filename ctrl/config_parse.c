// SPDX-License-Identifier: GPL-2.0-or-later
/* The sections of the endpoint config: one function per kind of mapping, each with its table of allowed keys. */
#include <arpa/inet.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_int.h"

/* ---- sections ---- */

static void require(struct cfg_ctx *ctx, yaml_node_t *where, yaml_node_t *val, const char *key, const char *what)
{
	if (!val)
		cfg_error(ctx, where, "%s: missing required key '%s'", what, key);
}

enum { L_ADDRESS, L_PORT, L_TRANSPORT, L_N };
static const char *const listen_keys[L_N] = { "address", "port", "transport" };

static void parse_listen(struct cfg_ctx *ctx, yaml_node_t *n)
{
	struct config *cfg = ctx->cfg;
	yaml_node_t *v[L_N];
	unsigned long long port;
	const char *s;

	if (!cfg_walk_map(ctx, n, "listen", listen_keys, L_N, v))
		return;
	if (v[L_ADDRESS] && (s = cfg_scalar(ctx, v[L_ADDRESS], "listen address"))) {
		unsigned char buf[16];

		if (inet_pton(AF_INET, s, buf) != 1 && inet_pton(AF_INET6, s, buf) != 1)
			cfg_error(ctx, v[L_ADDRESS], "listen address: '%.64s' is not a literal IPv4 or IPv6 address", s);
		else
			cfg->listen_address = cfg_strdup(ctx, s);
	}
	if (v[L_PORT] && cfg_get_uint(ctx, v[L_PORT], "listen port", 1, 65535, &port))
		cfg->port = (uint16_t)port;
	if (v[L_TRANSPORT] && (s = cfg_scalar(ctx, v[L_TRANSPORT], "transport"))) {
		if (!strcasecmp(s, "udp"))
			cfg->transport = CONFIG_TRANSPORT_UDP;
		else if (!strcasecmp(s, "tcp"))
			cfg->transport = CONFIG_TRANSPORT_TCP;
		else
			cfg_error(ctx, v[L_TRANSPORT], "transport: expected udp or tcp, not '%.64s'", s);
	}
}

enum { K_INTERVAL, K_TIMEOUT, K_N };
static const char *const keepalive_keys[K_N] = { "interval", "timeout" };

static void parse_keepalive(struct cfg_ctx *ctx, yaml_node_t *n)
{
	struct config *cfg = ctx->cfg;
	yaml_node_t *v[K_N];
	bool ok = true;

	if (!cfg_walk_map(ctx, n, "keepalive", keepalive_keys, K_N, v))
		return;
	if (v[K_INTERVAL])
		ok &= cfg_get_duration(ctx, v[K_INTERVAL], "keepalive interval", 1, &cfg->keepalive_interval);
	if (v[K_TIMEOUT])
		ok &= cfg_get_duration(ctx, v[K_TIMEOUT], "keepalive timeout", 1, &cfg->keepalive_timeout);
	/* the client restarts after `timeout` without a ping: it must allow for at least one lost ping */
	if (ok && cfg->keepalive_timeout <= cfg->keepalive_interval)
		cfg_error(ctx, v[K_TIMEOUT] ? v[K_TIMEOUT] : n,
			  "keepalive: timeout (%us) must be longer than interval (%us)", cfg->keepalive_timeout,
			  cfg->keepalive_interval);
}

static void parse_ciphers(struct cfg_ctx *ctx, yaml_node_t *n)
{
	struct config *cfg = ctx->cfg;
	enum cvpn_cipher list[4] = { CVPN_CIPHER_NONE };
	size_t count = 0;
	bool ok = true;

	if (n->type != YAML_SEQUENCE_NODE) {
		cfg_error(ctx, n, "data-ciphers: expected a list");
		return;
	}
	for (size_t i = 0; i < cfg_seq_len(n); i++) {
		yaml_node_t *item = cfg_seq_item(ctx, n, i);
		const char *s = cfg_scalar(ctx, item, "data-ciphers");
		enum cvpn_cipher c;
		bool dup = false;

		if (!s) {
			ok = false;
			continue;
		}
		c = config_cipher_from_name(s);
		if (c == CVPN_CIPHER_NONE) {
			cfg_error(ctx, item, "data-ciphers: unknown cipher '%.64s' (known: AES-256-GCM, AES-128-GCM, "
				  "CHACHA20-POLY1305)", s);
			ok = false;
			continue;
		}
		for (size_t j = 0; j < count; j++)
			dup |= list[j] == c;
		if (dup) {
			cfg_error(ctx, item, "data-ciphers: %s listed twice", config_cipher_name(c));
			ok = false;
			continue;
		}
		list[count++] = c; /* at most 3 distinct known ciphers, so list[3] stays NONE */
	}
	if (ok && count == 0)
		cfg_error(ctx, n, "data-ciphers: the list must not be empty");
	else if (ok)
		memcpy(cfg->data_ciphers, list, sizeof(list));
}

enum {
	E_ID, E_LISTEN, E_REMOTE, E_CERT, E_KEY, E_CLIENT_CA, E_SERVER_CA, E_CRL, E_EKM, E_CIDR, E_SPLIT, E_DNS,
	E_SEARCH, E_CIPHERS, E_KEEPALIVE, E_RENEG, E_RENEG_PKTS, E_HANDSHAKE, E_TRANSITION, E_SESSION, E_MAXCONN,
	E_BANNER, E_DISC_TIMEOUT, E_CTL_SOCKET, E_CONNLOG, E_AUTH, E_WORKERS, E_HS_THREADS, E_DATA_CHANNEL, E_N
};
static const char *const endpoint_keys[E_N] = {
	[E_ID] = "id", [E_LISTEN] = "listen", [E_REMOTE] = "remote", [E_CERT] = "server-certificate",
	[E_KEY] = "server-key", [E_CLIENT_CA] = "client-ca", [E_SERVER_CA] = "server-ca", [E_CRL] = "crl",
	[E_EKM] = "tls-ekm", [E_CIDR] = "client-cidr", [E_SPLIT] = "split-tunnel", [E_DNS] = "dns-servers",
	[E_SEARCH] = "search-domains", [E_CIPHERS] = "data-ciphers", [E_KEEPALIVE] = "keepalive",
	[E_RENEG] = "renegotiate-after", [E_RENEG_PKTS] = "renegotiate-after-packets",
	[E_HANDSHAKE] = "handshake-window", [E_TRANSITION] = "transition-window",
	[E_SESSION] = "session-timeout", [E_MAXCONN] = "max-connections", [E_BANNER] = "banner",
	[E_DISC_TIMEOUT] = "disconnect-on-session-timeout", [E_CTL_SOCKET] = "control-socket",
	[E_CONNLOG] = "connection-log", [E_AUTH] = "authentication", [E_WORKERS] = "data-workers",
	[E_HS_THREADS] = "handshake-threads", [E_DATA_CHANNEL] = "data-channel",
};

enum { CS_PATH, CS_GROUP, CS_N };
static const char *const ctl_socket_keys[CS_N] = { "path", "group" };

/* control-socket: PATH, or { path: PATH, group: NAME } */
static void parse_control_socket(struct cfg_ctx *ctx, yaml_node_t *n)
{
	struct config *cfg = ctx->cfg;
	yaml_node_t *v[CS_N];

	if (n->type == YAML_SCALAR_NODE) {
		cfg->control_socket = cfg_get_path(ctx, n, "control-socket");
		return;
	}
	if (!cfg_walk_map(ctx, n, "control-socket", ctl_socket_keys, CS_N, v))
		return;
	if (v[CS_PATH])
		cfg->control_socket = cfg_get_path(ctx, v[CS_PATH], "control-socket path");
	if (v[CS_GROUP])
		cfg->control_socket_group = cfg_get_name(ctx, v[CS_GROUP], "control-socket group");
}

enum { CL_PATH, CL_UPDATE, CL_N };
static const char *const connlog_keys[CL_N] = { "path", "update-interval" };

/* connection-log: PATH, or { path: PATH, update-interval: DURATION } */
static void parse_connection_log(struct cfg_ctx *ctx, yaml_node_t *n, yaml_node_t *key)
{
	struct config *cfg = ctx->cfg;
	yaml_node_t *v[CL_N];

	if (n->type == YAML_SCALAR_NODE) {
		cfg->connection_log = cfg_get_path(ctx, n, "connection-log");
		return;
	}
	if (!cfg_walk_map(ctx, n, "connection-log", connlog_keys, CL_N, v))
		return;
	require(ctx, key, v[CL_PATH], "path", "connection-log");
	if (v[CL_PATH])
		cfg->connection_log = cfg_get_path(ctx, v[CL_PATH], "connection-log path");
	if (v[CL_UPDATE])
		cfg_get_duration(ctx, v[CL_UPDATE], "connection-log update-interval", 1, &cfg->connection_log_update);
}

static void parse_endpoint(struct cfg_ctx *ctx, yaml_node_t *n, yaml_node_t *key)
{
	struct config *cfg = ctx->cfg;
	yaml_node_t *v[E_N];
	unsigned long long u;
	const char *str;
	size_t count;
	void *arr;

	if (!cfg_walk_map(ctx, n, "endpoint", endpoint_keys, E_N, v))
		return;
	if (v[E_ID])
		cfg->endpoint_id = cfg_get_name(ctx, v[E_ID], "id");
	if (v[E_LISTEN])
		parse_listen(ctx, v[E_LISTEN]);
	if (v[E_REMOTE])
		cfg->remote_name = cfg_get_text(ctx, v[E_REMOTE], "remote", TEXT_HOST, 253);

	require(ctx, key, v[E_CERT], "server-certificate", "endpoint");
	require(ctx, key, v[E_KEY], "server-key", "endpoint");
	if (v[E_AUTH])
		cfg_parse_auth(ctx, v[E_AUTH]);
	/* without certificate authentication no client CA is needed, but clients still need ours */
	if (cfg->auth.certificate)
		require(ctx, key, v[E_CLIENT_CA], "client-ca", "endpoint");
	else if (!v[E_CLIENT_CA] && !v[E_SERVER_CA])
		cfg_error(ctx, key, "endpoint: missing 'server-ca' (the CA chain clients verify this server with)");
	if (v[E_CRL] && !cfg->auth.certificate)
		cfg_error(ctx, v[E_CRL], "crl: certificate authentication is off, so there is nothing to revoke");
	require(ctx, key, v[E_CIDR], "client-cidr", "endpoint");
	if (v[E_CERT])
		cfg->server_cert = cfg_get_path(ctx, v[E_CERT], "server-certificate");
	if (v[E_KEY])
		cfg->server_key = cfg_get_path(ctx, v[E_KEY], "server-key");
	if (v[E_CLIENT_CA])
		cfg->client_ca = cfg_get_path(ctx, v[E_CLIENT_CA], "client-ca");
	if (v[E_SERVER_CA])
		cfg->server_ca = cfg_get_path(ctx, v[E_SERVER_CA], "server-ca");
	if (v[E_CRL])
		cfg->crl = cfg_get_path(ctx, v[E_CRL], "crl");
	if (v[E_EKM])
		cfg_get_bool(ctx, v[E_EKM], "tls-ekm", &cfg->offer_tls_ekm);
	if (v[E_CIDR])
		cfg_get_cidr(ctx, v[E_CIDR], "client-cidr", &cfg->client_cidr);
	if (v[E_SPLIT])
		cfg_get_bool(ctx, v[E_SPLIT], "split-tunnel", &cfg->split_tunnel);

	count = cfg_alloc_list(ctx, v[E_DNS], "dns-servers", sizeof(uint32_t), &arr);
	cfg->dns_servers = arr;
	cfg->n_dns_servers = count;
	for (size_t i = 0; i < count; i++)
		cfg_get_ipv4(ctx, cfg_seq_item(ctx, v[E_DNS], i), "dns-servers", &cfg->dns_servers[i]);

	count = cfg_alloc_list(ctx, v[E_SEARCH], "search-domains", sizeof(char *), &arr);
	cfg->search_domains = arr;
	cfg->n_search_domains = count;
	for (size_t i = 0; i < count; i++)
		cfg->search_domains[i] =
			cfg_get_text(ctx, cfg_seq_item(ctx, v[E_SEARCH], i), "search-domains", TEXT_HOST, 253);

	if (v[E_CIPHERS])
		parse_ciphers(ctx, v[E_CIPHERS]);
	if (v[E_KEEPALIVE])
		parse_keepalive(ctx, v[E_KEEPALIVE]);
	if (v[E_RENEG])
		cfg_get_duration(ctx, v[E_RENEG], "renegotiate-after", 0, &cfg->reneg_seconds);
	if (v[E_RENEG_PKTS])
		cfg_get_uint(ctx, v[E_RENEG_PKTS], "renegotiate-after-packets", 0, CONFIG_RENEG_PACKETS_MAX,
			     &cfg->reneg_packets);
	if (v[E_HANDSHAKE])
		cfg_get_duration(ctx, v[E_HANDSHAKE], "handshake-window", 1, &cfg->handshake_window);
	if (v[E_TRANSITION])
		cfg_get_duration(ctx, v[E_TRANSITION], "transition-window", 1, &cfg->transition_window);
	if (v[E_SESSION])
		cfg_get_duration(ctx, v[E_SESSION], "session-timeout", 1, &cfg->session_timeout);
	if (v[E_MAXCONN]) {
		ctx->max_connections_given = true;
		if (cfg_get_uint(ctx, v[E_MAXCONN], "max-connections", 1, UINT_MAX, &u))
			cfg->max_connections = (unsigned)u;
	}
	if (v[E_WORKERS] && cfg_get_uint(ctx, v[E_WORKERS], "data-workers", 0, CONFIG_MAX_DATA_WORKERS, &u))
		cfg->data_workers = (unsigned)u;
	if (v[E_HS_THREADS] &&
	    cfg_get_uint(ctx, v[E_HS_THREADS], "handshake-threads", 0, CONFIG_MAX_DATA_WORKERS, &u))
		cfg->handshake_threads = (int)u;
	if (v[E_DATA_CHANNEL] && (str = cfg_scalar(ctx, v[E_DATA_CHANNEL], "data-channel"))) {
		if (!strcmp(str, "userspace"))
			cfg->data_channel_kernel = false;
		else if (!strcmp(str, "kernel"))
			cfg->data_channel_kernel = true;
		else
			cfg_error(ctx, v[E_DATA_CHANNEL], "data-channel: expected userspace or kernel, not '%.64s'", str);
		if (cfg->data_channel_kernel && cfg->transport == CONFIG_TRANSPORT_TCP)
			cfg_error(ctx, v[E_DATA_CHANNEL], "data-channel: kernel needs transport udp");
		/* Linux's ovpn module takes keepalive times up to a day, and the gateway gives it twice the
		 * timeout (datapath.c, as session_tick waits in userspace): beyond, it would refuse every peer.
		 * The interval is shorter than the timeout, so it is within too. */
		if (cfg->data_channel_kernel && 2ull * cfg->keepalive_timeout > CONFIG_KERNEL_MAX_KEEPALIVE)
			cfg_error(ctx, v[E_DATA_CHANNEL],
				  "data-channel: kernel takes a keepalive timeout up to 12h (Linux's ovpn module takes a "
				  "day at most, and the gateway waits twice the timeout)");
	}
	if (v[E_DISC_TIMEOUT])
		cfg_get_bool(ctx, v[E_DISC_TIMEOUT], "disconnect-on-session-timeout", &cfg->disconnect_on_session_timeout);
	if (v[E_CTL_SOCKET])
		parse_control_socket(ctx, v[E_CTL_SOCKET]);
	if (v[E_CONNLOG])
		parse_connection_log(ctx, v[E_CONNLOG], v[E_CONNLOG]);
	if (v[E_BANNER]) {
		cfg->banner = cfg_get_text(ctx, v[E_BANNER], "banner", TEXT_BANNER, CFG_MAX_BANNER);
		if (cfg->banner) {
			size_t chars = 0;

			/* characters, not bytes: count everything but UTF-8 continuation bytes */
			for (const unsigned char *p = (const unsigned char *)cfg->banner; *p; p++)
				chars += (*p & 0xc0) != 0x80;
			if (chars > CFG_MAX_BANNER)
				cfg_error(ctx, v[E_BANNER], "banner: %zu characters, at most %d allowed", chars,
					  CFG_MAX_BANNER);
		}
	}
}

enum { A_NAME, A_IF, A_SUBNET, A_SGS, A_ACL, A_RT, A_N };
static const char *const assoc_keys[A_N] = { "name", "interface", "subnet", "security-groups", "network-acl",
					     "route-table" };

static void parse_association(struct cfg_ctx *ctx, yaml_node_t *n, struct config_association *a)
{
	yaml_node_t *v[A_N];
	size_t count;
	void *arr;
	char *ifname;

	a->line = cfg_node_line(n);
	a->subnet.len = CFG_CIDR_BAD;
	if (!cfg_walk_map(ctx, n, "association", assoc_keys, A_N, v))
		return;
	require(ctx, n, v[A_NAME], "name", "association");
	require(ctx, n, v[A_IF], "interface", "association");
	require(ctx, n, v[A_SUBNET], "subnet", "association");
	if (v[A_NAME])
		a->name = cfg_get_name(ctx, v[A_NAME], "association name");
	if (v[A_NAME] && a->name && !strcmp(a->name, "local")) {
		cfg_error(ctx, v[A_NAME], "association name: 'local' is reserved for client-to-client routes");
	}
	if (v[A_IF]) {
		ifname = cfg_get_text(ctx, v[A_IF], "interface", TEXT_NAME, IF_NAMESIZE - 1);
		if (ifname && (!strcmp(ifname, ".") || !strcmp(ifname, "..")))
			cfg_error(ctx, v[A_IF], "interface: '%s' is not a valid interface name", ifname);
		else if (ifname)
			memcpy(a->ifname, ifname, strlen(ifname) + 1);
		free(ifname);
	}
	if (v[A_SUBNET])
		cfg_get_cidr(ctx, v[A_SUBNET], "subnet", &a->subnet);
	count = cfg_alloc_list(ctx, v[A_SGS], "security-groups", sizeof(char *), &arr);
	a->security_groups = arr;
	a->n_security_groups = count;
	if (count > 5)
		cfg_error(ctx, v[A_SGS], "security-groups: at most 5 per association, %zu given", count);
	for (size_t i = 0; i < count; i++)
		a->security_groups[i] = cfg_get_name(ctx, cfg_seq_item(ctx, v[A_SGS], i), "security group name");
	if (v[A_ACL])
		a->network_acl = cfg_get_name(ctx, v[A_ACL], "network-acl");
	if (v[A_RT])
		a->subnet_route_table = cfg_get_name(ctx, v[A_RT], "route-table");
}

enum { R_DST, R_TARGET, R_DESC, R_N };
static const char *const route_keys[R_N] = { "destination", "target", "description" };

static void parse_route(struct cfg_ctx *ctx, yaml_node_t *n, struct config_route *r)
{
	yaml_node_t *v[R_N];

	r->line = cfg_node_line(n);
	r->dst.len = CFG_CIDR_BAD;
	if (!cfg_walk_map(ctx, n, "route", route_keys, R_N, v))
		return;
	require(ctx, n, v[R_DST], "destination", "route");
	require(ctx, n, v[R_TARGET], "target", "route");
	if (v[R_DST])
		cfg_get_cidr(ctx, v[R_DST], "destination", &r->dst);
	if (v[R_TARGET])
		r->target = cfg_get_name(ctx, v[R_TARGET], "target");
	r->description = cfg_get_description(ctx, v[R_DESC]);
}

enum { Z_DST, Z_GROUP, Z_ALL, Z_DESC, Z_N };
static const char *const authz_keys[Z_N] = { "destination", "group", "all-users", "description" };

static void parse_authz(struct cfg_ctx *ctx, yaml_node_t *n, struct config_authz_rule *z)
{
	yaml_node_t *v[Z_N];

	z->line = cfg_node_line(n);
	z->dst.len = CFG_CIDR_BAD;
	if (!cfg_walk_map(ctx, n, "authorization rule", authz_keys, Z_N, v))
		return;
	require(ctx, n, v[Z_DST], "destination", "authorization rule");
	if (v[Z_DST])
		cfg_get_cidr(ctx, v[Z_DST], "destination", &z->dst);
	if (v[Z_ALL] && !cfg_get_bool(ctx, v[Z_ALL], "all-users", &z->all_users))
		z->all_users = true; /* already reported; don't add a "neither" error on top */
	if (v[Z_GROUP])
		z->group = cfg_get_text(ctx, v[Z_GROUP], "group", TEXT_LINE, CFG_MAX_TEXT);
	if (v[Z_GROUP] && z->all_users)
		cfg_error(ctx, v[Z_GROUP], "authorization rule: give either a group or all-users: true, not both");
	else if (!v[Z_GROUP] && !z->all_users)
		cfg_error(ctx, n, "authorization rule: needs a group or all-users: true");
	else if (z->group && !*z->group)
		cfg_error(ctx, v[Z_GROUP], "group: must not be empty");
	z->description = cfg_get_description(ctx, v[Z_DESC]);
}

enum { SR_PROTO, SR_PORTS, SR_DST, SR_DESC, SR_N };
static const char *const sg_rule_keys[SR_N] = { "protocol", "ports", "destination", "description" };

static void parse_sg_rule(struct cfg_ctx *ctx, yaml_node_t *n, struct config_sg_rule *r)
{
	yaml_node_t *v[SR_N];
	bool proto_ok = false;

	r->line = cfg_node_line(n);
	r->dst.len = CFG_CIDR_BAD;
	r->proto = CONFIG_PROTO_ALL;
	r->port_to = 65535;
	if (!cfg_walk_map(ctx, n, "security group rule", sg_rule_keys, SR_N, v))
		return;
	require(ctx, n, v[SR_PROTO], "protocol", "security group rule");
	require(ctx, n, v[SR_DST], "destination", "security group rule");
	if (v[SR_PROTO])
		proto_ok = cfg_get_proto(ctx, v[SR_PROTO], &r->proto);
	cfg_get_ports(ctx, v[SR_PORTS], r->proto, proto_ok, &r->port_from, &r->port_to);
	if (v[SR_DST])
		cfg_get_cidr(ctx, v[SR_DST], "destination", &r->dst);
	r->description = cfg_get_description(ctx, v[SR_DESC]);
}

enum { SG_NAME, SG_EGRESS, SG_N };
static const char *const sg_keys[SG_N] = { "name", "egress" };

static void parse_sg(struct cfg_ctx *ctx, yaml_node_t *n, struct config_security_group *g)
{
	yaml_node_t *v[SG_N];
	void *arr;

	g->line = cfg_node_line(n);
	if (!cfg_walk_map(ctx, n, "security group", sg_keys, SG_N, v))
		return;
	require(ctx, n, v[SG_NAME], "name", "security group");
	if (v[SG_NAME])
		g->name = cfg_get_name(ctx, v[SG_NAME], "security group name");
	g->n_egress = cfg_alloc_list(ctx, v[SG_EGRESS], "egress", sizeof(*g->egress), &arr);
	g->egress = arr;
	for (size_t i = 0; i < g->n_egress; i++)
		parse_sg_rule(ctx, cfg_seq_item(ctx, v[SG_EGRESS], i), &g->egress[i]);
}

enum { AR_RULE, AR_ACTION, AR_PROTO, AR_PORTS, AR_CIDR, AR_N };
static const char *const acl_rule_keys[AR_N] = { "rule", "action", "protocol", "ports", "cidr" };

static void parse_acl_rule(struct cfg_ctx *ctx, yaml_node_t *n, struct config_acl_rule *r)
{
	yaml_node_t *v[AR_N];
	unsigned long long num;
	bool proto_ok = false;
	const char *s;

	r->line = cfg_node_line(n);
	r->cidr.len = CFG_CIDR_BAD;
	r->proto = CONFIG_PROTO_ALL;
	r->port_to = 65535;
	if (!cfg_walk_map(ctx, n, "network ACL rule", acl_rule_keys, AR_N, v))
		return;
	require(ctx, n, v[AR_RULE], "rule", "network ACL rule");
	require(ctx, n, v[AR_ACTION], "action", "network ACL rule");
	require(ctx, n, v[AR_PROTO], "protocol", "network ACL rule");
	require(ctx, n, v[AR_CIDR], "cidr", "network ACL rule");
	if (v[AR_RULE] && cfg_get_uint(ctx, v[AR_RULE], "rule", 1, 32766, &num))
		r->number = (uint32_t)num;
	if (v[AR_ACTION] && (s = cfg_scalar(ctx, v[AR_ACTION], "action"))) {
		if (!strcasecmp(s, "allow"))
			r->allow = true;
		else if (strcasecmp(s, "deny"))
			cfg_error(ctx, v[AR_ACTION], "action: expected allow or deny, not '%.64s'", s);
	}
	if (v[AR_PROTO])
		proto_ok = cfg_get_proto(ctx, v[AR_PROTO], &r->proto);
	cfg_get_ports(ctx, v[AR_PORTS], r->proto, proto_ok, &r->port_from, &r->port_to);
	if (v[AR_CIDR])
		cfg_get_cidr(ctx, v[AR_CIDR], "cidr", &r->cidr);
}

static size_t parse_acl_dir(struct cfg_ctx *ctx, yaml_node_t *n, const char *acl, const char *dir,
			    struct config_acl_rule **out)
{
	void *arr;
	size_t count = cfg_alloc_list(ctx, n, dir, sizeof(**out), &arr);
	struct config_acl_rule *rules = arr;

	for (size_t i = 0; i < count; i++) {
		yaml_node_t *item = cfg_seq_item(ctx, n, i);

		parse_acl_rule(ctx, item, &rules[i]);
		for (size_t j = 0; rules[i].number && j < i; j++)
			if (rules[j].number == rules[i].number)
				cfg_error(ctx, cfg_map_value(ctx, item, "rule"),
					  "network ACL %s: %s rule number %u already used on line %d",
					  acl ? acl : "?", dir, rules[i].number, rules[j].line);
	}
	*out = rules;
	return count;
}

enum { ACL_NAME, ACL_OUT, ACL_IN, ACL_N };
static const char *const acl_keys[ACL_N] = { "name", "outbound", "inbound" };

static void parse_acl(struct cfg_ctx *ctx, yaml_node_t *n, struct config_network_acl *a)
{
	yaml_node_t *v[ACL_N];

	a->line = cfg_node_line(n);
	if (!cfg_walk_map(ctx, n, "network ACL", acl_keys, ACL_N, v))
		return;
	require(ctx, n, v[ACL_NAME], "name", "network ACL");
	if (v[ACL_NAME])
		a->name = cfg_get_name(ctx, v[ACL_NAME], "network ACL name");
	a->n_outbound = parse_acl_dir(ctx, v[ACL_OUT], a->name, "outbound", &a->outbound);
	a->n_inbound = parse_acl_dir(ctx, v[ACL_IN], a->name, "inbound", &a->inbound);
}

enum { RE_DST, RE_VIA, RE_N };
static const char *const rt_entry_keys[RE_N] = { "destination", "via" };
enum { RT_NAME, RT_ROUTES, RT_N };
static const char *const rt_keys[RT_N] = { "name", "routes" };

static void parse_route_table(struct cfg_ctx *ctx, yaml_node_t *n, struct config_route_table *t)
{
	yaml_node_t *v[RT_N], *ev[RE_N];
	void *arr;

	t->line = cfg_node_line(n);
	if (!cfg_walk_map(ctx, n, "route table", rt_keys, RT_N, v))
		return;
	require(ctx, n, v[RT_NAME], "name", "route table");
	if (v[RT_NAME])
		t->name = cfg_get_name(ctx, v[RT_NAME], "route table name");
	t->n_entries = cfg_alloc_list(ctx, v[RT_ROUTES], "routes", sizeof(*t->entries), &arr);
	t->entries = arr;
	for (size_t i = 0; i < t->n_entries; i++) {
		struct config_rt_entry *e = &t->entries[i];
		yaml_node_t *item = cfg_seq_item(ctx, v[RT_ROUTES], i);

		e->line = cfg_node_line(item);
		e->dst.len = CFG_CIDR_BAD;
		if (!cfg_walk_map(ctx, item, "route table entry", rt_entry_keys, RE_N, ev))
			continue;
		require(ctx, item, ev[RE_DST], "destination", "route table entry");
		if (ev[RE_DST])
			cfg_get_cidr(ctx, ev[RE_DST], "destination", &e->dst);
		if (ev[RE_VIA])
			cfg_get_ipv4(ctx, ev[RE_VIA], "via", &e->via);
		for (size_t j = 0; cfg_cidr_ok(e->dst) && j < i; j++)
			if (t->entries[j].dst.len == e->dst.len && t->entries[j].dst.addr == e->dst.addr)
				cfg_error(ctx, ev[RE_DST], "route table %s: destination already routed on line %d",
					  t->name ? t->name : "?", t->entries[j].line);
	}
}

enum { ID_NAME, ID_GROUPS, ID_N };
static const char *const ident_keys[ID_N] = { "identity", "groups" };

static void parse_identity(struct cfg_ctx *ctx, yaml_node_t *n, struct config_identity *id)
{
	yaml_node_t *v[ID_N];
	void *arr;

	id->line = cfg_node_line(n);
	if (!cfg_walk_map(ctx, n, "identity-groups entry", ident_keys, ID_N, v))
		return;
	require(ctx, n, v[ID_NAME], "identity", "identity-groups entry");
	require(ctx, n, v[ID_GROUPS], "groups", "identity-groups entry");
	if (v[ID_NAME])
		id->name = cfg_get_name(ctx, v[ID_NAME], "identity");
	id->n_groups = cfg_alloc_list(ctx, v[ID_GROUPS], "groups", sizeof(char *), &arr);
	id->groups = arr;
	for (size_t i = 0; i < id->n_groups; i++)
		id->groups[i] = cfg_get_name(ctx, cfg_seq_item(ctx, v[ID_GROUPS], i), "group name");
}

/* ---- top level ---- */

static const char *const top_keys[CFG_SEC_N] = {
	[CFG_SEC_ENDPOINT] = "endpoint", [CFG_SEC_ASSOC] = "associations", [CFG_SEC_ROUTES] = "routes",
	[CFG_SEC_AUTHZ] = "authorization-rules", [CFG_SEC_SG] = "security-groups",
	[CFG_SEC_ACL] = "network-acls", [CFG_SEC_RT] = "route-tables", [CFG_SEC_IDENT] = "identity-groups",
};

void cfg_set_defaults(struct config *cfg)
{
	static const enum cvpn_cipher ciphers[4] = { CVPN_CIPHER_AES_256_GCM, CVPN_CIPHER_AES_128_GCM,
						     CVPN_CIPHER_CHACHA20_POLY1305, CVPN_CIPHER_NONE };

	cfg->port = 443;
	cfg->transport = CONFIG_TRANSPORT_UDP;
	cfg->offer_tls_ekm = true;
	cfg->client_cidr.len = CFG_CIDR_BAD;
	memcpy(cfg->data_ciphers, ciphers, sizeof(ciphers));
	cfg->keepalive_interval = 10;
	cfg->keepalive_timeout = 60;
	cfg->reneg_seconds = 3600;
	cfg->handshake_window = 60;
	cfg->transition_window = 3600;
	cfg->session_timeout = 86400;
	cfg->max_connections = 2000;
	cfg->handshake_threads = -1;
	cfg->disconnect_on_session_timeout = true;
	cfg->connection_log_update = 300;
	cfg_auth_defaults(&cfg->auth);
}

void cfg_parse_root(struct cfg_ctx *ctx)
{
	struct config *cfg = ctx->cfg;
	yaml_node_t *root = ctx->root;
	void *arr;

	if (!root || cfg_is_null(root)) {
		cfg_error(ctx, root, "the file is empty: an 'endpoint' section is required");
		return;
	}
	if (!cfg_walk_map(ctx, root, "the top level", top_keys, CFG_SEC_N, ctx->sec))
		return;
	for (int i = 0; i < CFG_SEC_N; i++) {
		for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
			yaml_node_t *k = cfg_node_at(ctx, p->key);

			if (k && k->type == YAML_SCALAR_NODE && !strcmp((const char *)k->data.scalar.value,
									   top_keys[i]))
				ctx->sec_key[i] = k;
		}
	}
	if (!ctx->sec[CFG_SEC_ENDPOINT])
		cfg_error(ctx, ctx->sec_key[CFG_SEC_ENDPOINT] ? ctx->sec_key[CFG_SEC_ENDPOINT] : root,
			  "missing the 'endpoint' section");
	else
		parse_endpoint(ctx, ctx->sec[CFG_SEC_ENDPOINT], ctx->sec_key[CFG_SEC_ENDPOINT]);

	cfg->n_associations = cfg_alloc_list(ctx, ctx->sec[CFG_SEC_ASSOC], "associations",
					 sizeof(*cfg->associations), &arr);
	cfg->associations = arr;
	for (size_t i = 0; i < cfg->n_associations; i++)
		parse_association(ctx, cfg_seq_item(ctx, ctx->sec[CFG_SEC_ASSOC], i), &cfg->associations[i]);

	cfg->n_routes = cfg_alloc_list(ctx, ctx->sec[CFG_SEC_ROUTES], "routes", sizeof(*cfg->routes), &arr);
	cfg->routes = arr;
	ctx->n_file_routes = cfg->n_routes;
	for (size_t i = 0; i < cfg->n_routes; i++)
		parse_route(ctx, cfg_seq_item(ctx, ctx->sec[CFG_SEC_ROUTES], i), &cfg->routes[i]);

	cfg->n_authz_rules = cfg_alloc_list(ctx, ctx->sec[CFG_SEC_AUTHZ], "authorization-rules",
					sizeof(*cfg->authz_rules), &arr);
	cfg->authz_rules = arr;
	for (size_t i = 0; i < cfg->n_authz_rules; i++)
		parse_authz(ctx, cfg_seq_item(ctx, ctx->sec[CFG_SEC_AUTHZ], i), &cfg->authz_rules[i]);

	cfg->n_security_groups = cfg_alloc_list(ctx, ctx->sec[CFG_SEC_SG], "security-groups",
					    sizeof(*cfg->security_groups), &arr);
	cfg->security_groups = arr;
	for (size_t i = 0; i < cfg->n_security_groups; i++)
		parse_sg(ctx, cfg_seq_item(ctx, ctx->sec[CFG_SEC_SG], i), &cfg->security_groups[i]);

	cfg->n_network_acls = cfg_alloc_list(ctx, ctx->sec[CFG_SEC_ACL], "network-acls", sizeof(*cfg->network_acls),
					 &arr);
	cfg->network_acls = arr;
	for (size_t i = 0; i < cfg->n_network_acls; i++)
		parse_acl(ctx, cfg_seq_item(ctx, ctx->sec[CFG_SEC_ACL], i), &cfg->network_acls[i]);

	cfg->n_route_tables = cfg_alloc_list(ctx, ctx->sec[CFG_SEC_RT], "route-tables", sizeof(*cfg->route_tables),
					 &arr);
	cfg->route_tables = arr;
	for (size_t i = 0; i < cfg->n_route_tables; i++)
		parse_route_table(ctx, cfg_seq_item(ctx, ctx->sec[CFG_SEC_RT], i), &cfg->route_tables[i]);

	cfg->n_identities = cfg_alloc_list(ctx, ctx->sec[CFG_SEC_IDENT], "identity-groups",
					   sizeof(*cfg->identities), &arr);
	cfg->identities = arr;
	for (size_t i = 0; i < cfg->n_identities; i++)
		parse_identity(ctx, cfg_seq_item(ctx, ctx->sec[CFG_SEC_IDENT], i), &cfg->identities[i]);
}
