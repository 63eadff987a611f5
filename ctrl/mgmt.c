// SPDX-License-Identifier: GPL-2.0-or-later
/* The control socket: accepts cvpnctl connections, checks who is calling, reads one JSON request per line
 * (parsed and validated by mgmt_request.c) and answers each with one JSON line. The commands read the
 * server's tables directly: the control thread owns them (the workers' counters come through
 * datapath_pull_all and dp_worker_get_stats). */
#define _GNU_SOURCE /* SO_PEERCRED, struct ucred, accept4, open_memstream */
#include <errno.h>
#include <grp.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cvpn/connlog.h"
#include "cvpn/enforce.h"
#include "cvpn/log.h"
#include "cvpn/metrics.h"
#include "cvpn/mgmt.h"
#include "cvpn/mgmt_request.h"
#include "cvpn/policy.h"
#include "cvpn/pool.h"
#include "cvpn/server.h"
#include "cvpn/session.h"
#include "cvpn/track.h"
#include "cvpn/datapath.h"
#include "cvpn/handshake.h"
#include "cvpn/tuntx.h"
#include "cvpn/udptx.h"

struct mgmt_client {
	bool is_listener;            /* first: epoll data points at a client or at the mgmt itself */
	int fd;
	char rx[MGMT_REQUEST_MAX];
	size_t rx_len;
	char *tx;
	size_t tx_len, tx_off;
	bool close_after_tx;
	uint64_t last_ms;
	struct mgmt_client *next;
};

struct mgmt {
	bool is_listener;            /* always true: tells it apart from a client in epoll data */
	int epfd, lfd;
	char *path;
	gid_t gid;
	bool has_group;
	struct server *srv;
	struct mgmt_client *clients;
	unsigned n_clients;
};

/* ---- the commands ---- */

static struct json_object *reply_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static struct json_object *reply_error(const char *fmt, ...)
{
	struct json_object *o = json_object_new_object();
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	json_object_object_add(o, "ok", json_object_new_boolean(false));
	json_object_object_add(o, "error", json_object_new_string(msg));
	return o;
}

static struct json_object *reply_ok(void)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(true));
	return o;
}

static void add_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

static void add_u64(struct json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_uint64(v));
}

struct totals {
	uint64_t handshaking, active, terminating, refusing;
	uint64_t bytes_in, bytes_out, pkts_in, pkts_out, spoofed;
};

static void sum_sessions(const struct server *srv, struct totals *t)
{
	memset(t, 0, sizeof(*t));
	t->bytes_in = srv->ended_bytes_in;
	t->bytes_out = srv->ended_bytes_out;
	t->pkts_in = srv->ended_pkts_in;
	t->pkts_out = srv->ended_pkts_out;
	t->spoofed = srv->stat_spoofed;
	{
		struct dp_worker_stats ws;

		datapath_stats(srv, &ws);
		t->spoofed += ws.spoofed;
	}
	for (uint32_t i = 0; i < srv->table_size; i++) {
		const struct session *s = srv->by_peer_id[i];

		if (!s)
			continue;
		if (s->state == SESSION_HANDSHAKE)
			t->handshaking++;
		else if (s->state == SESSION_CONNECTED)
			t->active++;
		else if (s->established_time)
			t->terminating++;
		else
			t->refusing++;
		t->bytes_in += s->bytes_in;
		t->bytes_out += s->bytes_out;
		t->pkts_in += s->pkts_in;
		t->pkts_out += s->pkts_out;
	}
}

/* "data-workers": what each worker did: whether the load spreads, and how much the control thread had to
 * take back (upcalls: sessions it keeps, goodbyes). */
static void add_workers(struct json_object *o, const struct server *srv)
{
	struct json_object *arr = json_object_new_array();

	for (unsigned i = 0; i < srv->n_workers; i++) {
		struct json_object *w = json_object_new_object();
		struct dp_worker_stats st;

		if (!srv->workers[i])
			continue;
		dp_worker_get_stats(srv->workers[i], &st);
		add_u64(w, "decrypted-packets", st.rx_packets);
		add_u64(w, "encrypted-packets", st.tx_packets);
		add_u64(w, "upcalls", st.upcalls);
		add_u64(w, "upcall-drops", st.upcall_drops);
		add_u64(w, "tun-writes", st.tun.writes);
		add_u64(w, "udp-sends", st.udp.syscalls);
		add_u64(w, "udp-received", st.udp_rx_datagrams);
		add_u64(w, "udp-gro-buffers", st.udp_rx_coalesced);
		json_object_object_add(w, "udp-gro", json_object_new_boolean(st.udp_gro));
		json_object_array_add(arr, w);
	}
	json_object_object_add(o, "data-workers", arr);
	arr = json_object_new_array();
	for (unsigned i = 0; srv->handshakes && i < hs_pool_threads(srv->handshakes); i++) {
		struct json_object *h = json_object_new_object();

		add_u64(h, "handshake-steps", hs_pool_steps(srv->handshakes, i));
		json_object_array_add(arr, h);
	}
	json_object_object_add(o, "handshake-threads", arr);
}

static void add_config_version(struct json_object *o, const struct server *srv)
{
	struct json_object *c = json_object_new_object();

	add_u64(c, "version", srv->cfg_version);
	add_str(c, "sha256", srv->cfg_sha256);
	add_str(c, "path", srv->cfg->path);
	json_object_object_add(o, "config", c);
}

static struct json_object *cmd_status(struct mgmt *m, const struct mgmt_request *req)
{
	const struct server *srv = m->srv;
	const struct config *cfg = srv->cfg;
	struct json_object *o = reply_ok(), *ep = json_object_new_object(), *ss = json_object_new_object(),
			   *tot = json_object_new_object();
	char cidr[24], a[16], started[20];
	struct totals t;

	config_format_ipv4(cfg->client_cidr.addr, a);
	snprintf(cidr, sizeof(cidr), "%s/%u", a, cfg->client_cidr.len);
	connlog_format_time(srv->started_at, started);
	add_str(ep, "id", cfg->endpoint_id);
	add_str(ep, "transport", cfg->transport == CONFIG_TRANSPORT_TCP ? "tcp" : "udp");
	add_str(ep, "listen-address", cfg->listen_address);
	add_u64(ep, "port", cfg->port);
	add_str(ep, "remote", cfg->remote_name);
	add_str(ep, "client-cidr", cidr);
	add_str(ep, "tun", srv->tun_ifname);
	add_u64(ep, "max-connections", cfg->max_connections);
	add_u64(ep, "session-timeout-seconds", cfg->session_timeout);
	json_object_object_add(ep, "disconnect-on-session-timeout",
			       json_object_new_boolean(cfg->disconnect_on_session_timeout));
	add_str(ep, "connection-log", cfg->connection_log);
	json_object_object_add(o, "endpoint", ep);
	add_str(o, "daemon-version", CVPN_VERSION);
	add_str(o, "started", started);
	add_u64(o, "uptime-seconds", (uint64_t)(time(NULL) - srv->started_at));
	add_config_version(o, srv);

	sum_sessions(srv, &t);
	add_u64(ss, "handshaking", t.handshaking);
	add_u64(ss, "active", t.active);
	add_u64(ss, "terminating", t.terminating);
	add_u64(ss, "refusing", t.refusing);
	add_u64(ss, "ended-last-hour", track_history_len(srv->track));
	json_object_object_add(o, "sessions", ss);
	add_u64(tot, "connection-attempts", srv->stat_attempts);
	add_u64(tot, "authentication-failures", srv->stat_auth_failures);
	add_u64(tot, "refused-max-connections", srv->stat_refused_limit);
	add_u64(tot, "ingress-bytes", t.bytes_in);
	add_u64(tot, "egress-bytes", t.bytes_out);
	add_u64(tot, "ingress-packets", t.pkts_in);
	add_u64(tot, "egress-packets", t.pkts_out);
	/* from the pool itself: the addresses of ended and terminating sessions wait for their connections to
	 * be forgotten (at most a tick) before they are free */
	add_u64(tot, "free-addresses", pool_size(srv->pool) - pool_in_use(srv->pool));
	json_object_object_add(o, "totals", tot);
	add_workers(o, srv);
	return o;
}

static struct json_object *cmd_connections(struct mgmt *m, const struct mgmt_request *req)
{
	struct server *srv = m->srv;
	struct json_object *o = reply_ok(), *arr = json_object_new_array(), *c;
	struct conn_info ci;
	char where[32];

	for (uint32_t i = 0; i < srv->table_size; i++) {
		const struct session *s = srv->by_peer_id[i];

		/* handshakes and refusals are attempts, not connections: the log has them */
		if (!s || !s->established_time)
			continue;
		track_info(s, &ci);
		c = connlog_connection(&ci);
		/* which thread carries its packets: a data worker (datapath.h), or this one (TCP, a client without
		 * peer-id, a session that found no slot of its worker) */
		if (s->dp && srv->dco)
			snprintf(where, sizeof(where), "kernel");
		else if (s->dp)
			snprintf(where, sizeof(where), "worker-%u", s->dp_worker);
		else
			snprintf(where, sizeof(where), "control-thread");
		json_object_object_add(c, "data-path", json_object_new_string(where));
		json_object_array_add(arr, c);
	}
	for (size_t i = 0; i < track_history_len(srv->track); i++)
		json_object_array_add(arr, connlog_connection(track_history(srv->track, i)));
	json_object_object_add(o, "connections", arr);
	return o;
}

static struct json_object *cmd_terminate(struct mgmt *m, const struct mgmt_request *req)
{
	struct server *srv = m->srv;
	const char *id = req->connection_id[0] ? req->connection_id : NULL, *user = req->username;
	struct json_object *o, *done;
	uint64_t now = server_now_ms();
	char cid[CONN_ID_LEN];

	done = json_object_new_array();
	for (uint32_t i = 0; i < srv->table_size; i++) {
		struct session *s = srv->by_peer_id[i];

		if (!s || s->state != SESSION_CONNECTED)
			continue;
		connlog_format_id(s->id, cid);
		if (id ? strcmp(cid, id) != 0 : !session_user_is(s, user))
			continue;
		if (session_terminate(s, "terminated by the administrator", "HALT,terminated by the administrator",
				      now) == 0)
			json_object_array_add(done, json_object_new_string(cid));
	}
	if (json_object_array_length(done) == 0) {
		json_object_put(done);
		return id ? reply_error("no active connection with connection-id %s", id)
			  : reply_error("no active connection of user %s", user);
	}
	o = reply_ok();
	json_object_object_add(o, "terminated", done);
	return o;
}

static struct json_object *cmd_reload(struct mgmt *m, const struct mgmt_request *req)
{
	struct json_object *o, *errs;
	char *buf = NULL, *save = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int r;

	if (!f)
		return reply_error("out of memory");
	r = server_reload(m->srv, f);
	fclose(f);
	if (r == 0) {
		o = reply_ok();
		add_config_version(o, m->srv);
	} else {
		o = reply_error("configuration not reloaded; the running configuration (version %llu) stays",
				(unsigned long long)m->srv->cfg_version);
	}
	/* a refusal's reasons, or an accepted file's warnings: for whoever reloaded, and the log's */
	errs = json_object_new_array();
	for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_object_array_add(errs, json_object_new_string(line));
		if (r == 0)
			log_warnx("reload: %s", line);
	}
	if (r != 0 || json_object_array_length(errs) > 0)
		json_object_object_add(o, r == 0 ? "warnings" : "errors", errs);
	else
		json_object_put(errs);
	free(buf);
	return o;
}

static struct json_object *cmd_metrics(struct mgmt *m, const struct mgmt_request *req)
{
	const struct server *srv = m->srv;
	struct json_object *o = reply_ok(), *mm = json_object_new_object();
	struct totals t;
	double days;

	sum_sessions(srv, &t);
	add_u64(mm, "active_connections", t.active);
	add_u64(mm, "handshaking_sessions", t.handshaking);
	add_u64(mm, "max_connections", srv->cfg->max_connections);
	add_u64(mm, "connection_attempts_total", srv->stat_attempts);
	add_u64(mm, "authentication_failures_total", srv->stat_auth_failures);
	add_u64(mm, "connections_refused_limit_total", srv->stat_refused_limit);
	if (srv->cfg->crl && metrics_crl_days(srv->cfg->crl, &days) == 0)
		json_object_object_add(mm, "crl_days_to_expiry", json_object_new_double(days));
	add_u64(mm, "ingress_bytes_total", t.bytes_in);
	add_u64(mm, "egress_bytes_total", t.bytes_out);
	add_u64(mm, "ingress_packets_total", t.pkts_in);
	add_u64(mm, "egress_packets_total", t.pkts_out);
	add_u64(mm, "spoofed_packets_total", t.spoofed);
	add_u64(mm, "connect_handler_timeouts_total", srv->stat_handler_timeouts);
	add_u64(mm, "connect_handler_denials_total", srv->stat_handler_denials);
	add_u64(mm, "config_version", srv->cfg_version);
	add_u64(mm, "start_time_seconds", (uint64_t)srv->started_at);
	/* the data plane's batching: how much of it the kernel took in bulk, the workers' and the control
	 * thread's own (sessions it keeps) together */
	{
		struct dp_worker_stats ws;
		struct tuntx_stats ts = { 0 };
		struct udptx_stats us = { 0 };

		datapath_stats(srv, &ws);
		if (srv->tuntx)
			tuntx_get_stats(srv->tuntx, &ts);
		if (srv->udptx)
			udptx_get_stats(srv->udptx, &us);
		add_u64(mm, "tun_packets_written_total", ts.packets + ws.tun.packets);
		add_u64(mm, "tun_writes_total", ts.writes + ws.tun.writes);
		add_u64(mm, "tun_packets_coalesced_total", ts.merged + ws.tun.merged);
		add_u64(mm, "udp_batched_datagrams_total", us.datagrams + ws.udp.datagrams);
		add_u64(mm, "udp_batched_sends_total", us.syscalls + ws.udp.syscalls);
		add_u64(mm, "udp_gso_sends_total", us.gso_sends + ws.udp.gso_sends);
		add_u64(mm, "udp_gro_buffers_total", ws.udp_rx_coalesced);
		add_u64(mm, "data_workers", srv->n_workers);
		add_u64(mm, "worker_packets_decrypted_total", ws.rx_packets);
		add_u64(mm, "worker_packets_encrypted_total", ws.tx_packets);
		add_u64(mm, "worker_upcalls_total", ws.upcalls);
		add_u64(mm, "worker_upcall_drops_total", ws.upcall_drops);
		add_u64(mm, "replayed_packets_total", srv->stat_replays + ws.replays);
		add_u64(mm, "bad_packets_total", srv->stat_bad_packets + ws.bad_packets);
	}
	json_object_object_add(o, "metrics", mm);
	return o;
}

/* ---- policy: explain a verdict, show the ruleset ---- */

static const char *stage_str(enum policy_stage s)
{
	switch (s) {
	case POLICY_STAGE_AUTHZ: return "authorization";
	case POLICY_STAGE_ROUTE: return "route";
	case POLICY_STAGE_SG: return "security-group";
	case POLICY_STAGE_ACL_OUT: return "network-acl-outbound";
	case POLICY_STAGE_ACL_IN: return "network-acl-inbound";
	default: return "none";
	}
}

static struct json_object *cidr_json(struct cidr4 c)
{
	char a[16], buf[24];

	config_format_ipv4(c.addr, a);
	snprintf(buf, sizeof(buf), "%s/%u", a, c.len);
	return json_object_new_string(buf);
}

static struct json_object *strings_json(char *const *v, size_t n)
{
	struct json_object *arr = json_object_new_array();

	for (size_t i = 0; i < n; i++)
		json_object_array_add(arr, json_object_new_string(v[i]));
	return arr;
}

static struct json_object *acl_json(const struct policy_acl_verdict *av)
{
	static const char *const result[] = {
		[POLICY_ACL_NONE] = "none", [POLICY_ACL_SKIPPED] = "not-evaluated", [POLICY_ACL_RULE] = "rule",
		[POLICY_ACL_IMPLICIT_DENY] = "implicit-deny", [POLICY_ACL_NOT_REACHED] = "not-reached",
	};
	struct json_object *o = json_object_new_object();

	add_str(o, "result", av->result <= POLICY_ACL_NOT_REACHED ? result[av->result] : "?");
	if (av->result == POLICY_ACL_RULE) {
		add_u64(o, "rule", av->rule);
		add_str(o, "action", av->allow ? "allow" : "deny");
		add_u64(o, "line", (uint64_t)av->line);
	}
	return o;
}

/* The deciding rule of every stage, as data: what the text lines say, for scripts. */
static void add_verdict_detail(struct json_object *o, const struct config *cfg, const struct policy_verdict *v)
{
	static const char *const sg_result[] = {
		[POLICY_SG_NONE] = "none", [POLICY_SG_ALLOW] = "allow", [POLICY_SG_DENY] = "deny",
		[POLICY_SG_NOT_REACHED] = "not-reached",
	};
	struct json_object *az = json_object_new_object(), *rt = NULL, *as = NULL, *sg = json_object_new_object(),
			   *acl = json_object_new_object();

	json_object_object_add(az, "prefix", v->authz_covered ? cidr_json(v->authz_prefix) : NULL);
	if (v->authz_rule >= 0 && (size_t)v->authz_rule < cfg->n_authz_rules) {
		const struct config_authz_rule *z = &cfg->authz_rules[v->authz_rule];
		struct json_object *r = json_object_new_object();

		json_object_object_add(r, "destination", cidr_json(z->dst));
		if (z->all_users)
			json_object_object_add(r, "all-users", json_object_new_boolean(true));
		else
			add_str(r, "group", z->group);
		add_str(r, "description", z->description);
		add_u64(r, "line", (uint64_t)z->line);
		json_object_object_add(az, "rule", r);
	} else {
		json_object_object_add(az, "rule", NULL);
	}
	json_object_object_add(o, "authorization", az);

	if (v->route >= 0 && (size_t)v->route < cfg->n_routes) {
		const struct config_route *r = &cfg->routes[v->route];

		rt = json_object_new_object();
		json_object_object_add(rt, "destination", cidr_json(r->dst));
		add_str(rt, "target", r->target);
		add_str(rt, "description", r->description);
		add_u64(rt, "line", (uint64_t)r->line);
	}
	json_object_object_add(o, "route", rt);
	if (v->assoc >= 0 && (size_t)v->assoc < cfg->n_associations) {
		as = json_object_new_object();
		add_str(as, "name", cfg->associations[v->assoc].name);
		add_str(as, "interface", cfg->associations[v->assoc].ifname);
	}
	json_object_object_add(o, "association", as);

	add_str(sg, "result", v->sg <= POLICY_SG_NOT_REACHED ? sg_result[v->sg] : "?");
	if (v->sg == POLICY_SG_ALLOW && v->sg_group >= 0 && (size_t)v->sg_group < cfg->n_security_groups) {
		const struct config_security_group *g = &cfg->security_groups[v->sg_group];

		add_str(sg, "group", g->name);
		if (v->sg_rule >= 0 && (size_t)v->sg_rule < g->n_egress)
			add_u64(sg, "line", (uint64_t)g->egress[v->sg_rule].line);
	}
	json_object_object_add(o, "security-group", sg);
	json_object_object_add(acl, "outbound", acl_json(&v->acl_out));
	json_object_object_add(acl, "inbound", acl_json(&v->acl_in));
	json_object_object_add(o, "network-acl", acl);
}

/* Which groups enforce_explain takes for a user: a live session's, else identity-groups'. */
static struct json_object *identity_json(struct server *srv, const char *user, const char *group)
{
	struct json_object *o = json_object_new_object();
	const struct config_identity *id;

	if (group) {
		add_str(o, "group", group);
		json_object_object_add(o, "groups", strings_json((char *const *)&group, 1));
		add_str(o, "groups-from", "request");
		return o;
	}
	add_str(o, "user", user);
	for (uint32_t i = 0; i < srv->table_size; i++) {
		const struct session *s = srv->by_peer_id[i];

		if (s && s->enforced && !strcmp(s->cn, user)) {
			json_object_object_add(o, "groups", strings_json(s->groups, s->n_groups));
			add_str(o, "groups-from", "live session");
			return o;
		}
	}
	id = config_find_identity(srv->cfg, user);
	json_object_object_add(o, "groups", id ? strings_json(id->groups, id->n_groups) : json_object_new_array());
	add_str(o, "groups-from", "identity-groups");
	return o;
}

static struct json_object *cmd_explain(struct mgmt *m, const struct mgmt_request *req)
{
	/* mgmt_request_parse checked the combination: one of user and group, a port exactly when it has ports */
	const char *user = req->user[0] ? req->user : NULL, *group = req->group[0] ? req->group : NULL;
	struct json_object *o = NULL, *pv, *text, *dst;
	char *buf = NULL, *save = NULL;
	struct policy_verdict v;
	size_t len = 0;
	int port = req->port, err;
	FILE *f;

	if (!m->srv->policy)
		return reply_error("no policy is in force");
	err = enforce_explain(m->srv, user, group, req->to_addr, req->proto, port < 0 ? 0 : (uint16_t)port, &v);
	if (err == -ENOENT)
		return reply_error("unknown user '%s': no live session and no identity-groups entry", user);
	if (err < 0)
		return reply_error("cannot explain: %s", strerror(-err));

	/* the verdict object is the policy module's; the reply adds the request and the details */
	f = open_memstream(&buf, &len);
	if (!f)
		return reply_error("out of memory");
	err = policy_verdict_print(&v, f, true);
	fclose(f);
	pv = err == 0 ? json_tokener_parse(buf) : NULL;
	free(buf);
	if (!pv || !json_object_is_type(pv, json_type_object)) {
		json_object_put(pv);
		return reply_error("cannot format the verdict");
	}
	o = reply_ok();
	json_object_object_foreach(pv, key, val)
		json_object_object_add(o, key, json_object_get(val));
	json_object_put(pv);
	json_object_object_add(o, "pass", json_object_new_boolean(v.pass));
	add_str(o, "dropped-at", v.pass ? NULL : stage_str(v.drop_stage));
	json_object_object_add(o, "identity", identity_json(m->srv, user, group));
	dst = json_object_new_object();
	add_str(dst, "address", req->to);
	add_str(dst, "protocol", req->proto_name);
	json_object_object_add(dst, "port", port < 0 ? NULL : json_object_new_int(port));
	json_object_object_add(o, "destination", dst);
	add_verdict_detail(o, m->srv->cfg, &v);

	buf = NULL;
	len = 0;
	text = json_object_new_array();
	f = open_memstream(&buf, &len);
	if (f) {
		policy_verdict_print(&v, f, false);
		fclose(f);
		for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
			json_object_array_add(text, json_object_new_string(line));
		free(buf);
	}
	json_object_object_add(o, "text", text);
	return o;
}

static struct json_object *cmd_ruleset(struct mgmt *m, const struct mgmt_request *req)
{
	const struct policy *p = m->srv->policy;
	struct json_object *o, *profiles;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;
	int err;

	if (!p)
		return reply_error("no policy is in force");
	f = open_memstream(&buf, &len);
	if (!f)
		return reply_error("out of memory");
	err = enforce_render(m->srv, f);
	if (fclose(f) != 0 && err == 0)
		err = -EIO;
	if (err < 0) {
		free(buf);
		return reply_error("cannot render the ruleset: %s", strerror(-err));
	}
	o = reply_ok();
	add_str(o, "tun", m->srv->tun_ifname);
	json_object_object_add(o, "ruleset", json_object_new_string_len(buf, (int)len));
	free(buf);
	/* the group sets of the session profiles, by id: `check` registers them again to compile alike */
	profiles = json_object_new_array();
	for (size_t i = 0; i < p->n_profiles; i++) {
		struct json_object *g = json_object_new_array();

		for (size_t k = 0; k < p->profiles[i].n_groups; k++)
			if (p->profiles[i].groups[k] < p->n_groups)
				json_object_array_add(g, json_object_new_string(p->groups[p->profiles[i].groups[k]]));
		json_object_array_add(profiles, g);
	}
	json_object_object_add(o, "profiles", profiles);
	add_config_version(o, m->srv);
	return o;
}

/* by enum mgmt_command */
static struct json_object *(*const commands[])(struct mgmt *m, const struct mgmt_request *req) = {
	[MGMT_CMD_STATUS] = cmd_status,   [MGMT_CMD_CONNECTIONS] = cmd_connections, [MGMT_CMD_TERMINATE] = cmd_terminate,
	[MGMT_CMD_RELOAD] = cmd_reload,   [MGMT_CMD_METRICS] = cmd_metrics,         [MGMT_CMD_EXPLAIN] = cmd_explain,
	[MGMT_CMD_RULESET] = cmd_ruleset,
};

static struct json_object *execute(struct mgmt *m, const char *line, size_t len)
{
	struct mgmt_request req;

	if (mgmt_request_parse(line, len, &req) < 0)
		return reply_error("%s", req.error);
	if ((size_t)req.command >= sizeof(commands) / sizeof(commands[0]) || !commands[req.command])
		return reply_error("unknown command"); /* a command parsed but not wired here: a bug, not the client's */
	return commands[req.command](m, &req);
}

/* ---- the socket ---- */

static void client_free(struct mgmt *m, struct mgmt_client *c)
{
	for (struct mgmt_client **pp = &m->clients; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	epoll_ctl(m->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->tx);
	free(c);
	m->n_clients--;
}

/* Writes what is pending; returns false when the client is gone. */
static bool client_flush(struct mgmt *m, struct mgmt_client *c)
{
	struct epoll_event ee = { .events = EPOLLIN, .data.ptr = c };

	while (c->tx_off < c->tx_len) {
		ssize_t n = send(c->fd, c->tx + c->tx_off, c->tx_len - c->tx_off, MSG_NOSIGNAL);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			ee.events = EPOLLOUT;
			epoll_ctl(m->epfd, EPOLL_CTL_MOD, c->fd, &ee);
			return true;
		}
		if (n < 0) {
			client_free(m, c);
			return false;
		}
		c->tx_off += (size_t)n;
	}
	free(c->tx);
	c->tx = NULL;
	c->tx_len = c->tx_off = 0;
	if (c->close_after_tx) {
		client_free(m, c);
		return false;
	}
	epoll_ctl(m->epfd, EPOLL_CTL_MOD, c->fd, &ee);
	return true;
}

static bool client_reply(struct mgmt *m, struct mgmt_client *c, struct json_object *reply)
{
	const char *s = json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t len = s ? strlen(s) : 0;

	c->tx = s ? malloc(len + 1) : NULL;
	if (!c->tx) {
		json_object_put(reply);
		client_free(m, c);
		return false;
	}
	memcpy(c->tx, s, len);
	c->tx[len] = '\n';
	c->tx_len = len + 1;
	c->tx_off = 0;
	json_object_put(reply);
	return client_flush(m, c);
}

static void client_read(struct mgmt *m, struct mgmt_client *c, uint64_t now_ms)
{
	char *nl;
	ssize_t n;

	/* one request at a time: the next is read once the reply is out */
	while (!c->tx) {
		nl = memchr(c->rx, '\n', c->rx_len);
		if (nl) {
			size_t used = (size_t)(nl - c->rx) + 1;

			if (!client_reply(m, c, execute(m, c->rx, (size_t)(nl - c->rx))))
				return;
			memmove(c->rx, c->rx + used, c->rx_len - used);
			c->rx_len -= used;
			continue;
		}
		if (c->rx_len >= sizeof(c->rx) - 1) {
			c->close_after_tx = true;
			client_reply(m, c, reply_error("request longer than %d bytes", MGMT_REQUEST_MAX - 1));
			return;
		}
		n = recv(c->fd, c->rx + c->rx_len, sizeof(c->rx) - 1 - c->rx_len, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
			client_free(m, c);
			return;
		}
		if (n < 0)
			return;
		c->rx_len += (size_t)n;
		c->last_ms = now_ms;
	}
}

/* Root, or a member of the socket's group (primary or supplementary). */
static bool peer_allowed(const struct mgmt *m, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	gid_t groups[256];

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	if (cred.uid == 0)
		return true;
	if (!m->has_group)
		return false;
	if (cred.gid == m->gid)
		return true;
	len = sizeof(groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
		return false;
	for (size_t i = 0; i < len / sizeof(groups[0]); i++)
		if (groups[i] == m->gid)
			return true;
	return false;
}

static void accept_clients(struct mgmt *m, uint64_t now_ms)
{
	for (;;) {
		int fd = accept4(m->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct epoll_event ee = { .events = EPOLLIN };
		struct mgmt_client *c;

		if (fd < 0)
			return;
		if (m->n_clients >= MGMT_CLIENTS_MAX || !(c = calloc(1, sizeof(*c)))) {
			close(fd);
			continue;
		}
		c->fd = fd;
		c->last_ms = now_ms;
		c->next = m->clients;
		m->clients = c;
		m->n_clients++;
		ee.data.ptr = c;
		if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, fd, &ee) < 0) {
			client_free(m, c);
			continue;
		}
		if (!peer_allowed(m, fd)) {
			log_warnx("control socket: refused a client that is neither root nor in the socket's group");
			c->close_after_tx = true;
			client_reply(m, c, reply_error("permission denied: root or the control socket's group only"));
		}
	}
}

void mgmt_dispatch(struct mgmt *m, uint64_t now_ms)
{
	struct epoll_event ev[16];
	int n = epoll_wait(m->epfd, ev, 16, 0);

	for (int i = 0; i < n; i++) {
		struct mgmt_client *c = ev[i].data.ptr;

		if (c->is_listener) {
			accept_clients(m, now_ms);
			continue;
		}
		/* a client freed earlier in this batch cannot be in it again: each fd appears once */
		if ((ev[i].events & EPOLLOUT) && !client_flush(m, c))
			continue;
		/* after a flush too: requests that arrived while the reply was going out wait in rx */
		client_read(m, c, now_ms);
	}
}

void mgmt_tick(struct mgmt *m, uint64_t now_ms)
{
	struct mgmt_client *c = m->clients, *next;

	for (; c; c = next) {
		next = c->next;
		if (now_ms - c->last_ms > MGMT_IDLE_MS)
			client_free(m, c);
	}
}

int mgmt_fd(const struct mgmt *m)
{
	return m->epfd;
}

static int resolve_group(const char *group, gid_t *gid)
{
	char buf[4096], *end;
	struct group gr, *res = NULL;
	unsigned long v;

	v = strtoul(group, &end, 10);
	if (*group && !*end) {
		*gid = (gid_t)v;
		return 0;
	}
	if (getgrnam_r(group, &gr, buf, sizeof(buf), &res) != 0 || !res)
		return -ENOENT;
	*gid = res->gr_gid;
	return 0;
}

/* The directory must be ours and closed to others, or someone else could swap the socket. */
static int prepare_dir(const char *path)
{
	char *copy = strdup(path), *dir;
	struct stat st;
	int ret = 0;

	if (!copy)
		return -ENOMEM;
	dir = dirname(copy);
	if (mkdir(dir, 0750) < 0 && errno != EEXIST)
		ret = -errno;
	else if (stat(dir, &st) < 0)
		ret = -errno;
	else if (!S_ISDIR(st.st_mode))
		ret = -ENOTDIR;
	else if (st.st_uid != geteuid() || (st.st_mode & S_IWOTH))
		ret = -EPERM;
	free(copy);
	return ret;
}

static int socket_live(const struct sockaddr_un *sa)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), ret;

	if (fd < 0)
		return -errno;
	ret = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0;
	close(fd);
	return ret;
}

bool mgmt_socket_live(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(sa.sun_path))
		return false;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	return socket_live(&sa) == 1;
}

/* A socket file left by a daemon that died is removed; one a live daemon answers on is not. */
static int clear_stale(const char *path, const struct sockaddr_un *sa)
{
	struct stat st;
	int ret;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	ret = socket_live(sa);
	if (ret < 0)
		return ret;
	if (ret == 1)
		return -EADDRINUSE;
	return unlink(path) < 0 ? -errno : 0;
}

int mgmt_open(const char *path, const char *group, struct server *srv, struct mgmt **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct epoll_event ee = { .events = EPOLLIN };
	struct mgmt *m = NULL;
	mode_t old_umask;
	int ret;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->is_listener = true;
	m->srv = srv;
	m->lfd = m->epfd = -1;
	if (!(m->path = strdup(path))) {
		ret = -ENOMEM;
		goto fail;
	}
	if (group && (ret = resolve_group(group, &m->gid)) < 0)
		goto fail;
	m->has_group = group != NULL;
	if ((ret = prepare_dir(path)) < 0 || (ret = clear_stale(path, &sa)) < 0)
		goto fail;
	m->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	m->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (m->lfd < 0 || m->epfd < 0) {
		ret = -errno;
		goto fail;
	}
	/* bind creates the file with the umask applied: make it 0660 from the start, never wider */
	old_umask = umask(0117);
	ret = bind(m->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
	umask(old_umask);
	if (ret < 0)
		goto fail;
	if ((m->has_group && chown(path, (uid_t)-1, m->gid) < 0) || chmod(path, 0660) < 0 ||
	    listen(m->lfd, 16) < 0) {
		ret = -errno;
		unlink(path);
		goto fail;
	}
	ee.data.ptr = m;
	if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, m->lfd, &ee) < 0) {
		ret = -errno;
		unlink(path);
		goto fail;
	}
	*out = m;
	return 0;
fail:
	if (m->lfd >= 0)
		close(m->lfd);
	if (m->epfd >= 0)
		close(m->epfd);
	free(m->path);
	free(m);
	return ret;
}

void mgmt_close(struct mgmt *m)
{
	if (!m)
		return;
	while (m->clients)
		client_free(m, m->clients);
	close(m->lfd);
	close(m->epfd);
	unlink(m->path);
	free(m->path);
	free(m);
}
