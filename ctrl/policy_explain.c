// SPDX-License-Identifier: GPL-2.0-or-later
/* "Why was this dropped": a packet walked through the compiled policy in the kernel's order — the same
 * pieces, intervals and sorted ACLs the ruleset is built from — with the deciding rule of every stage. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cvpn/policy.h"

#define LAST(c) ((c).addr | ((c).len ? ~(~0u << (32 - (c).len)) : ~0u))

static bool in_cidr(struct cidr4 c, uint32_t a)
{
	return a >= c.addr && a <= LAST(c);
}

static void fmt_cidr(struct cidr4 c, char buf[20])
{
	char a[16];

	config_format_ipv4(c.addr, a);
	snprintf(buf, 20, "%s/%u", a, c.len);
}

static void step(struct policy_verdict *v, const char *fmt, ...)
{
	va_list ap;

	if (v->n_steps == POLICY_MAX_STEPS)
		return;
	va_start(ap, fmt);
	vsnprintf(v->steps[v->n_steps++], sizeof(v->steps[0]), fmt, ap);
	va_end(ap);
}

static const char *proto_str(int proto, char buf[8])
{
	switch (proto) {
	case CONFIG_PROTO_ALL: return "all";
	case CONFIG_PROTO_ICMP: return "icmp";
	case CONFIG_PROTO_TCP: return "tcp";
	case CONFIG_PROTO_UDP: return "udp";
	default:
		snprintf(buf, 8, "%d", proto & 0xff);
		return buf;
	}
}

static bool has_ports(uint16_t lo, uint16_t hi)
{
	return !(lo == 0 && hi == 65535);
}

static bool proto_matches(int rule, int pkt)
{
	return rule == CONFIG_PROTO_ALL || rule == pkt;
}

static bool user_has_group(const char *const *groups, size_t n, const char *g)
{
	for (size_t i = 0; g && i < n; i++)
		if (groups[i] && !strcmp(groups[i], g))
			return true;
	return false;
}

static void explain_authz(const struct policy *p, const char *const *groups, size_t n_groups, uint32_t dst,
			  struct policy_verdict *v)
{
	const struct config *cfg = p->cfg;
	size_t lo = 0, hi = p->n_pieces;
	const struct policy_authz_prefix *pp;
	char pfx[20], who[200] = "";
	size_t wl = 0;

	/* the piece containing dst: pieces are sorted and cover the whole address space */
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->pieces[mid].lo <= dst)
			lo = mid;
		else
			hi = mid;
	}
	if (p->n_pieces == 0 || p->pieces[lo].winner < 0) {
		step(v, "authorization: no rule covers this destination (default deny)");
		return;
	}
	pp = &p->prefixes[p->pieces[lo].winner];
	v->authz_covered = true;
	v->authz_prefix = pp->cidr;
	fmt_cidr(pp->cidr, pfx);
	for (size_t i = 0; i < pp->n_rules; i++) {
		const struct config_authz_rule *z = &cfg->authz_rules[pp->rules[i]];

		if (z->all_users || user_has_group(groups, n_groups, z->group)) {
			v->authz_rule = (long)pp->rules[i];
			step(v, "authorization: allowed by the rule %s -> %s%s%s (line %d), the longest prefix "
			     "containing the destination", pfx, z->all_users ? "all users" : z->group,
			     z->description && *z->description ? ": " : "",
			     z->description ? z->description : "", z->line);
			return;
		}
		if (wl < sizeof(who))
			wl += (size_t)snprintf(who + wl, sizeof(who) - wl, "%s%s (line %d)", i ? ", " : "",
					       z->all_users ? "all users" : z->group, z->line);
	}
	step(v, "authorization: denied: the longest prefix containing the destination is %s, granted only to "
	     "%s; a shorter rule of the session's own groups is no fallback", pfx, who);
}

/* The client-VPN route a session on association a (or a local route) uses for dst: longest prefix. */
static void explain_route(const struct policy *p, size_t a, uint32_t dst, struct policy_verdict *v)
{
	const struct config *cfg = p->cfg;
	const char *target = p->assocs[a].cfg->name;
	long best = -1;
	char d[20];

	for (size_t i = 0; i < p->n_local_dsts; i++)
		if (in_cidr(p->local_dsts[i], dst)) {
			v->local = true;
			target = "local";
		}
	for (size_t i = 0; i < cfg->n_routes; i++) {
		const struct config_route *r = &cfg->routes[i];

		if (strcmp(r->target, target) || !in_cidr(r->dst, dst))
			continue;
		/* association routes never carry client addresses (policy.c cuts the client CIDR out) */
		if (!v->local && in_cidr(cfg->client_cidr, dst))
			continue;
		if (best < 0 || r->dst.len > cfg->routes[best].dst.len)
			best = (long)i;
	}
	if (best < 0) {
		step(v, "route: no client-VPN route to this destination through %s%s: dropped",
		     v->local ? "" : "association ", target);
		return;
	}
	v->route = best;
	v->assoc = v->local ? -1 : (long)a;
	fmt_cidr(cfg->routes[best].dst, d);
	if (v->local)
		step(v, "route: %s -> local (line %d): client-to-client through the tun", d,
		     cfg->routes[best].line);
	else
		step(v, "route: %s -> association %s (line %d%s%s), out of interface %s", d, target,
		     cfg->routes[best].line, cfg->routes[best].description ? ", " : "",
		     cfg->routes[best].description ? cfg->routes[best].description : "",
		     p->assocs[a].cfg->ifname);
}

static const struct config_security_group *find_sg(const struct config *cfg, const char *name, long *idx)
{
	for (size_t i = 0; i < cfg->n_security_groups; i++)
		if (!strcmp(cfg->security_groups[i].name, name)) {
			*idx = (long)i;
			return &cfg->security_groups[i];
		}
	return NULL;
}

static void explain_sg(const struct policy *p, const struct policy_assoc *pa, uint32_t dst, int proto,
		       uint16_t port, struct policy_verdict *v)
{
	const struct config_association *a = pa->cfg;
	char pb[8], d[20];

	if (a->n_security_groups == 0) {
		v->sg = POLICY_SG_NONE;
		step(v, "security groups: none on association %s: egress open", a->name);
		return;
	}
	for (size_t g = 0; g < a->n_security_groups; g++) {
		long gi = -1;
		const struct config_security_group *sg = find_sg(p->cfg, a->security_groups[g], &gi);

		for (size_t k = 0; sg && k < sg->n_egress; k++) {
			const struct config_sg_rule *r = &sg->egress[k];

			if (!in_cidr(r->dst, dst) || !proto_matches(r->proto, proto))
				continue;
			if (has_ports(r->port_from, r->port_to) && (port < r->port_from || port > r->port_to))
				continue;
			v->sg = POLICY_SG_ALLOW;
			v->sg_group = gi;
			v->sg_rule = (long)k;
			fmt_cidr(r->dst, d);
			step(v, "security group %s: allowed by egress rule %s ports %u-%u to %s (line %d%s%s); "
			     "replies pass by connection tracking", sg->name, proto_str(r->proto, pb),
			     r->port_from, r->port_to, d, r->line, r->description ? ", " : "",
			     r->description ? r->description : "");
			return;
		}
	}
	v->sg = POLICY_SG_DENY;
	step(v, "security groups of association %s: no egress rule allows %s to this destination and port",
	     a->name, proto_str(proto, pb));
}

static bool acl_rule_matches(const struct config_acl_rule *r, uint32_t addr, int proto)
{
	return in_cidr(r->cidr, addr) && proto_matches(r->proto, proto);
}

static void acl_set(struct policy_acl_verdict *av, const struct config_acl_rule *r)
{
	av->result = POLICY_ACL_RULE;
	av->allow = r->allow;
	av->rule = r->number;
	av->line = r->line;
}

static void explain_acl_out(const struct policy_assoc *pa, uint32_t dst, int proto, uint16_t port,
			    struct policy_verdict *v)
{
	struct policy_acl_verdict *av = &v->acl_out;

	if (!pa->acl) {
		av->result = POLICY_ACL_NONE;
		av->allow = true;
		step(v, "network ACL outbound: none on association %s: allowed", pa->cfg->name);
		return;
	}
	if (in_cidr(pa->cfg->subnet, dst)) {
		av->result = POLICY_ACL_SKIPPED;
		av->allow = true;
		step(v, "network ACL %s outbound: not evaluated, the destination is inside the subnet",
		     pa->acl->name);
		return;
	}
	for (size_t i = 0; i < pa->n_acl_out; i++) {
		const struct config_acl_rule *r = pa->acl_out[i];

		if (!acl_rule_matches(r, dst, proto))
			continue;
		if (has_ports(r->port_from, r->port_to) && (port < r->port_from || port > r->port_to))
			continue;
		acl_set(av, r);
		step(v, "network ACL %s outbound: rule %u %s (line %d), the first that matches", pa->acl->name,
		     r->number, r->allow ? "allows" : "denies", r->line);
		return;
	}
	av->result = POLICY_ACL_IMPLICIT_DENY;
	step(v, "network ACL %s outbound: no rule matches: implicit deny (*)", pa->acl->name);
}

/* The reply comes back from dst to an ephemeral port of the SNAT address. The client's port is unknown
 * here, so count on the whole of Linux's default range: a rule allows only when it covers all of it,
 * and a deny that covers part of it kills part of the replies. */
static void explain_acl_in(const struct policy_assoc *pa, uint32_t dst, int proto, struct policy_verdict *v)
{
	struct policy_acl_verdict *av = &v->acl_in;
	bool ports = proto == CONFIG_PROTO_TCP || proto == CONFIG_PROTO_UDP || proto == 33 || proto == 132 ||
		     proto == 136;

	if (!pa->acl) {
		av->result = POLICY_ACL_NONE;
		av->allow = true;
		step(v, "network ACL inbound (replies): none on association %s: allowed", pa->cfg->name);
		return;
	}
	if (in_cidr(pa->cfg->subnet, dst)) {
		av->result = POLICY_ACL_SKIPPED;
		av->allow = true;
		step(v, "network ACL %s inbound (replies): not evaluated, the source is inside the subnet",
		     pa->acl->name);
		return;
	}
	for (size_t i = 0; i < pa->n_acl_in; i++) {
		const struct config_acl_rule *r = pa->acl_in[i];
		bool full, part;

		if (!acl_rule_matches(r, dst, proto))
			continue;
		full = !ports || !has_ports(r->port_from, r->port_to) ||
		       (r->port_from <= POLICY_EPHEMERAL_LO && r->port_to >= POLICY_EPHEMERAL_HI);
		part = !full && r->port_from <= POLICY_EPHEMERAL_HI && r->port_to >= POLICY_EPHEMERAL_LO;
		if (full || (part && !r->allow)) {
			acl_set(av, r);
			step(v, "network ACL %s inbound (replies to ephemeral ports %d-%d, Linux's default): rule %u "
			     "%s%s (line %d)", pa->acl->name, POLICY_EPHEMERAL_LO, POLICY_EPHEMERAL_HI, r->number,
			     r->allow ? "allows" : "denies", full ? "" : " part of that range", r->line);
			return;
		}
	}
	av->result = POLICY_ACL_IMPLICIT_DENY;
	step(v, "network ACL %s inbound: no rule allows the replies (to ephemeral ports %d-%d, Linux's default): "
	     "implicit deny (*)", pa->acl->name, POLICY_EPHEMERAL_LO, POLICY_EPHEMERAL_HI);
}

static void fail(struct policy_verdict *v, enum policy_stage s)
{
	if (v->pass) {
		v->pass = false;
		v->drop_stage = s;
	}
}

int policy_explain(const struct policy *p, const char *const *groups, size_t n_groups,
		   uint32_t assoc_mark_of_session, uint32_t dst, int proto, uint16_t port, struct policy_verdict *v)
{
	const struct policy_assoc *pa;
	size_t a;
	char addr[16];

	if (!p || !v || (n_groups && !groups) || proto < 0 || proto > 255)
		return -EINVAL;
	if (assoc_mark_of_session <= POLICY_MARK_BASE ||
	    assoc_mark_of_session - POLICY_MARK_BASE - 1 >= p->n_assocs)
		return -EINVAL;
	a = assoc_mark_of_session - POLICY_MARK_BASE - 1;
	pa = &p->assocs[a];
	memset(v, 0, sizeof(*v));
	v->pass = true;
	v->authz_rule = v->route = v->assoc = v->sg_group = v->sg_rule = -1;
	v->sg = POLICY_SG_NOT_REACHED;
	v->acl_out.result = v->acl_in.result = POLICY_ACL_NOT_REACHED;

	explain_authz(p, groups, n_groups, dst, v);
	if (v->authz_rule < 0)
		fail(v, POLICY_STAGE_AUTHZ);
	explain_route(p, a, dst, v);
	if (v->route < 0) {
		fail(v, POLICY_STAGE_ROUTE);
		return 0;
	}
	if (v->local)
		return 0;
	explain_sg(p, pa, dst, proto, port, v);
	if (v->sg == POLICY_SG_DENY)
		fail(v, POLICY_STAGE_SG);
	v->snat_addr = pa->snat_addr;
	config_format_ipv4(pa->snat_addr, addr);
	step(v, "source NAT: to %s, the address of %s (association %s)", addr, pa->cfg->ifname, pa->cfg->name);
	explain_acl_out(pa, dst, proto, port, v);
	if (!(v->acl_out.result == POLICY_ACL_NONE || v->acl_out.result == POLICY_ACL_SKIPPED ||
	      (v->acl_out.result == POLICY_ACL_RULE && v->acl_out.allow)))
		fail(v, POLICY_STAGE_ACL_OUT);
	explain_acl_in(pa, dst, proto, v);
	if (!(v->acl_in.result == POLICY_ACL_NONE || v->acl_in.result == POLICY_ACL_SKIPPED ||
	      (v->acl_in.result == POLICY_ACL_RULE && v->acl_in.allow)))
		fail(v, POLICY_STAGE_ACL_IN);
	return 0;
}

static const char *const stage_name[] = {
	[POLICY_STAGE_NONE] = "none", [POLICY_STAGE_AUTHZ] = "authorization", [POLICY_STAGE_ROUTE] = "route",
	[POLICY_STAGE_SG] = "security-group", [POLICY_STAGE_ACL_OUT] = "network-acl-outbound",
	[POLICY_STAGE_ACL_IN] = "network-acl-inbound",
};

int policy_verdict_print(const struct policy_verdict *v, FILE *out, bool json)
{
	struct json_object *o, *steps;
	char addr[16];
	int ret = -ENOMEM;

	if (!v || !out || v->drop_stage > POLICY_STAGE_ACL_IN)
		return -EINVAL;
	if (!json) {
		for (size_t i = 0; i < v->n_steps; i++)
			fprintf(out, "%zu. %s\n", i + 1, v->steps[i]);
		if (v->pass)
			fputs("verdict: pass\n", out);
		else
			fprintf(out, "verdict: drop (%s)\n", stage_name[v->drop_stage]);
		return ferror(out) ? -EIO : 0;
	}
	o = json_object_new_object();
	steps = json_object_new_array();
	if (!o || !steps) {
		json_object_put(o);
		json_object_put(steps);
		return -ENOMEM;
	}
	for (size_t i = 0; i < v->n_steps; i++)
		if (json_object_array_add(steps, json_object_new_string(v->steps[i])) < 0)
			goto out;
	if (json_object_object_add(o, "verdict", json_object_new_string(v->pass ? "pass" : "drop")) < 0 ||
	    (!v->pass && json_object_object_add(o, "dropped-at",
						json_object_new_string(stage_name[v->drop_stage])) < 0))
		goto out;
	if (v->snat_addr) {
		config_format_ipv4(v->snat_addr, addr);
		if (json_object_object_add(o, "snat", json_object_new_string(addr)) < 0)
			goto out;
	}
	if (json_object_object_add(o, "steps", steps) < 0)
		goto out;
	steps = NULL;
	fprintf(out, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	ret = ferror(out) ? -EIO : 0;
out:
	json_object_put(steps);
	json_object_put(o);
	return ret;
}
