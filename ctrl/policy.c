// SPDX-License-Identifier: GPL-2.0-or-later
/* The policy compiler: a validated config becomes the chains, sets and routing tables of
 * nft-templates/cvpn-policy.nft. Pure: no I/O but the error stream. The authorization rules (longest prefix
 * across all rules, semantics.md §2) become disjoint address spans, each with the grant of its longest
 * prefix (a class); the kernel looks the destination up in those spans, then the session's profile up in
 * the class's set. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cvpn/policy.h"

#define MASK(len) ((len) ? ~0u << (32 - (len)) : 0u)
#define LAST(c)   ((c).addr | ~MASK((c).len))

static void perr(FILE *errs, const struct config *cfg, int line, const char *fmt, ...)
{
	va_list ap;

	if (!errs)
		return;
	fprintf(errs, "%s:%d: ", cfg->path ? cfg->path : "config", line);
	va_start(ap, fmt);
	vfprintf(errs, fmt, ap);
	va_end(ap);
	fputc('\n', errs);
}

static void *grow(void *ptr, size_t *cap, size_t need, size_t size)
{
	size_t ncap = *cap ? *cap : 8;
	void *n;

	if (need <= *cap)
		return ptr;
	while (ncap < need)
		ncap *= 2;
	n = realloc(ptr, ncap * size);
	if (n)
		*cap = ncap;
	return n;
}

/* ---- interval sets ---- */

static int iset_push(struct policy_iset *s, uint32_t lo, uint32_t hi)
{
	struct policy_interval *iv;

	/* merge with the previous interval when they overlap or touch: callers push in ascending order of lo */
	if (s->n && (s->iv[s->n - 1].hi == UINT32_MAX || s->iv[s->n - 1].hi + 1 >= lo)) {
		if (hi > s->iv[s->n - 1].hi)
			s->iv[s->n - 1].hi = hi;
		return 0;
	}
	iv = grow(s->iv, &s->cap, s->n + 1, sizeof(*iv));
	if (!iv)
		return -ENOMEM;
	s->iv = iv;
	s->iv[s->n].lo = lo;
	s->iv[s->n].hi = hi;
	s->n++;
	return 0;
}

/* ---- names ---- */

/* nft identifiers and the chain names we derive: [A-Za-z0-9_-], everything else becomes '_'. */
static void chain_name(char out[POLICY_NAME_MAX], const char *prefix, const char *name)
{
	size_t n;

	snprintf(out, POLICY_NAME_MAX, "%s%s", prefix, name);
	n = strlen(out); /* a cut name ends at the buffer's end: the loop must not reach its NUL */
	for (size_t i = strlen(prefix); i < n; i++) {
		char c = out[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
		      c == '_'))
			out[i] = '_';
	}
}

/* Comments end up inside nft's double quotes and its 128-byte limit: no quote, no control character,
 * cut on a UTF-8 character boundary. */
static void comment_set(char out[POLICY_COMMENT_MAX], const char *fmt, ...)
{
	char buf[1024];
	size_t n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	for (char *c = buf; *c; c++) {
		if (*c == '"')
			*c = '\'';
		else if ((unsigned char)*c < ' ' || *c == 0x7f)
			*c = ' ';
		else if (*c == '\\')
			*c = '/';
	}
	n = strlen(buf);
	if (n >= POLICY_COMMENT_MAX) {
		n = POLICY_COMMENT_MAX - 1;
		while (n > 0 && ((unsigned char)buf[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(out, buf, n);
	out[n] = '\0';
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static long group_id(const struct policy *p, const char *name)
{
	char *const *hit = bsearch(&name, p->groups, p->n_groups, sizeof(*p->groups), cmp_str);

	return hit ? hit - p->groups : -1;
}

/* ---- chains ---- */

static long chain_add(struct policy *p, size_t *cap, const char *name, enum policy_hook hook)
{
	struct policy_chain *c = grow(p->chains, cap, p->n_chains + 1, sizeof(*c));

	if (!c)
		return -1;
	p->chains = c;
	c = &p->chains[p->n_chains];
	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->hook = hook;
	return (long)p->n_chains++;
}

/* A new rule at the end of chain ci, counter on; NULL when out of memory. */
static struct policy_rule *rule_add(struct policy *p, long ci)
{
	struct policy_chain *c = &p->chains[ci];
	struct policy_rule *r = grow(c->rules, &c->cap, c->n_rules + 1, sizeof(*r));

	if (!r)
		return NULL;
	c->rules = r;
	r = &c->rules[c->n_rules++];
	memset(r, 0, sizeof(*r));
	r->counter = true;
	return r;
}

static struct policy_match *match_add(struct policy_rule *r, enum policy_match_type t)
{
	struct policy_match *m = &r->m[r->n_match++];   /* every rule below uses at most 5 */

	m->type = t;
	return m;
}

static void m_ifname(struct policy_rule *r, enum policy_match_type t, const char *ifname)
{
	snprintf(match_add(r, t)->ifname, IF_NAMESIZE, "%s", ifname);
}

static void m_cidr(struct policy_rule *r, enum policy_match_type t, struct cidr4 c, bool neg)
{
	struct policy_match *m;

	if (c.len == 0 && !neg)    /* 0.0.0.0/0 matches every IPv4 packet: no expression needed */
		return;
	m = match_add(r, t);
	m->cidr = c;
	m->neg = neg;
}

/* protocol and port range of an SG / ACL rule; "all" and "every port" add nothing */
static void m_proto_ports(struct policy_rule *r, int proto, uint16_t lo, uint16_t hi)
{
	struct policy_match *m;

	if (proto < 0)
		return;
	match_add(r, POLICY_M_L4PROTO)->proto = proto;
	if (lo == 0 && hi == 65535)
		return;
	m = match_add(r, POLICY_M_DPORT);
	m->proto = proto;
	m->port_lo = lo;
	m->port_hi = hi;
}

static void r_verdict(struct policy_rule *r, enum policy_verdict_type v, const char *target)
{
	r->verdict = v;
	if (target)
		snprintf(r->target, sizeof(r->target), "%s", target);
}

/* ---- compile steps ---- */

static int cmp_acl(const void *a, const void *b)
{
	const struct config_acl_rule *x = *(const struct config_acl_rule *const *)a;
	const struct config_acl_rule *y = *(const struct config_acl_rule *const *)b;

	return x->number < y->number ? -1 : x->number > y->number;
}

static const struct config_network_acl *find_acl(const struct config *cfg, const char *name)
{
	for (size_t i = 0; name && i < cfg->n_network_acls; i++)
		if (!strcmp(cfg->network_acls[i].name, name))
			return &cfg->network_acls[i];
	return NULL;
}

static const struct config_security_group *find_sg(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_security_groups; i++)
		if (!strcmp(cfg->security_groups[i].name, name))
			return &cfg->security_groups[i];
	return NULL;
}

static const struct config_route_table *find_rt(const struct config *cfg, const char *name)
{
	for (size_t i = 0; name && i < cfg->n_route_tables; i++)
		if (!strcmp(cfg->route_tables[i].name, name))
			return &cfg->route_tables[i];
	return NULL;
}

static const struct config_acl_rule **sorted_acl(const struct config_acl_rule *rules, size_t n)
{
	const struct config_acl_rule **s = calloc(n ? n : 1, sizeof(*s));

	if (!s)
		return NULL;
	for (size_t i = 0; i < n; i++)
		s[i] = &rules[i];
	qsort(s, n, sizeof(*s), cmp_acl);
	return s;
}

static bool chain_name_taken(const struct policy *p, size_t upto, const char *name)
{
	for (size_t i = 0; i < upto; i++)
		if (!strcmp(p->assocs[i].chain_sg, name) || !strcmp(p->assocs[i].chain_acl_out, name) ||
		    !strcmp(p->assocs[i].chain_acl_in, name))
			return true;
	return false;
}

/* "sg_<assoc>", made unique when two names sanitize to the same string ("a.b" and "a_b"): "_<index>", then
 * "_<index>_<k>", each checked again, since a suffixed name can be another association's own ("a_b_2").
 * Two associations sharing a chain would have their rules run as one: the first one's accept would let the
 * other's traffic skip its own security groups and ACL. */
static void assoc_chain(const struct policy *p, size_t i, char out[POLICY_NAME_MAX], const char *prefix)
{
	char base[POLICY_NAME_MAX];

	chain_name(base, prefix, p->assocs[i].cfg->name);
	snprintf(out, POLICY_NAME_MAX, "%s", base);
	for (unsigned k = 0; chain_name_taken(p, i, out); k++) {
		char suffix[48];
		size_t slen, len;

		if (k == 0)
			snprintf(suffix, sizeof(suffix), "_%zu", i);
		else
			snprintf(suffix, sizeof(suffix), "_%zu_%u", i, k);
		slen = strlen(suffix);
		len = strnlen(base, POLICY_NAME_MAX - 1 - slen);
		memcpy(out, base, len);
		memcpy(out + len, suffix, slen + 1);
	}
}

static int compile_assocs(struct policy *p, const struct policy_env *env, FILE *errs)
{
	const struct config *cfg = p->cfg;

	p->assocs = calloc(cfg->n_associations ? cfg->n_associations : 1, sizeof(*p->assocs));
	if (!p->assocs)
		return -ENOMEM;
	p->n_assocs = cfg->n_associations;
	for (size_t i = 0; i < cfg->n_associations; i++) {
		const struct config_association *a = &cfg->associations[i];
		struct policy_assoc *pa = &p->assocs[i];

		pa->cfg = a;
		pa->mark = policy_assoc_mark(i);
		pa->snat_addr = env->snat_addr[i];
		if (pa->snat_addr == 0) {
			perr(errs, cfg, a->line, "association '%s': no SNAT address for interface %s", a->name,
			     a->ifname);
			return -EINVAL;
		}
		if (!strcmp(a->ifname, env->tun_ifname)) {
			perr(errs, cfg, a->line, "association '%s': interface %s is the tun", a->name, a->ifname);
			return -EINVAL;
		}
		if (a->n_security_groups)
			assoc_chain(p, i, pa->chain_sg, "sg_");
		pa->acl = find_acl(cfg, a->network_acl);
		if (a->network_acl && !pa->acl) {
			perr(errs, cfg, a->line, "association '%s': network ACL '%s' is not defined", a->name,
			     a->network_acl);
			return -EINVAL;
		}
		if (pa->acl) {
			assoc_chain(p, i, pa->chain_acl_out, "acl_out_");
			assoc_chain(p, i, pa->chain_acl_in, "acl_in_");
			pa->acl_out = sorted_acl(pa->acl->outbound, pa->acl->n_outbound);
			pa->acl_in = sorted_acl(pa->acl->inbound, pa->acl->n_inbound);
			if (!pa->acl_out || !pa->acl_in)
				return -ENOMEM;
			pa->n_acl_out = pa->acl->n_outbound;
			pa->n_acl_in = pa->acl->n_inbound;
		}
		for (size_t g = 0; g < a->n_security_groups; g++)
			if (!find_sg(cfg, a->security_groups[g])) {
				perr(errs, cfg, a->line, "association '%s': security group '%s' is not defined",
				     a->name, a->security_groups[g]);
				return -EINVAL;
			}
	}
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_cidr(const void *a, const void *b)
{
	const struct policy_authz_prefix *x = a, *y = b;

	if (x->cidr.addr != y->cidr.addr)
		return x->cidr.addr < y->cidr.addr ? -1 : 1;
	return x->cidr.len < y->cidr.len ? -1 : x->cidr.len > y->cidr.len;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Group names, distinct prefixes with what each grants, and the pieces of the address space. */
static int compile_authz(struct policy *p)
{
	const struct config *cfg = p->cfg;
	size_t n = cfg->n_authz_rules, np = 0, npts = 0;
	uint64_t *pts = NULL;
	long *stack = NULL;
	size_t sp = 0, j = 0;
	int ret = -ENOMEM;

	p->groups = calloc(n ? n : 1, sizeof(*p->groups));
	p->prefixes = calloc(n ? n : 1, sizeof(*p->prefixes));
	if (!p->groups || !p->prefixes)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (!cfg->authz_rules[i].all_users && cfg->authz_rules[i].group)
			p->groups[p->n_groups++] = cfg->authz_rules[i].group;   /* borrowed from cfg */
	qsort(p->groups, p->n_groups, sizeof(*p->groups), cmp_str);
	for (size_t i = 0; i < p->n_groups; i++)
		if (np == 0 || strcmp(p->groups[np - 1], p->groups[i]))
			p->groups[np++] = p->groups[i];
	p->n_groups = np;

	/* distinct prefixes: sort a copy of every rule's prefix, then fold equal ones */
	for (size_t i = 0; i < n; i++)
		p->prefixes[i].cidr = cfg->authz_rules[i].dst;
	qsort(p->prefixes, n, sizeof(*p->prefixes), cmp_cidr);
	np = 0;
	for (size_t i = 0; i < n; i++)
		if (np == 0 || cmp_cidr(&p->prefixes[np - 1], &p->prefixes[i]))
			p->prefixes[np++].cidr = p->prefixes[i].cidr;
	p->n_prefixes = np;
	for (size_t i = 0; i < n; i++) {
		const struct config_authz_rule *z = &cfg->authz_rules[i];
		struct policy_authz_prefix key = { .cidr = z->dst }, *pp;
		size_t *nr;

		pp = bsearch(&key, p->prefixes, p->n_prefixes, sizeof(key), cmp_cidr);
		nr = realloc(pp->rules, (pp->n_rules + 1) * sizeof(*nr));
		if (!nr)
			goto out;
		pp->rules = nr;
		pp->rules[pp->n_rules++] = i;
		if (z->all_users || !z->group) {
			pp->all_users = true;
		} else {
			uint32_t *g = realloc(pp->groups, (pp->n_groups + 1) * sizeof(*g));

			if (!g)
				goto out;
			pp->groups = g;
			pp->groups[pp->n_groups++] = (uint32_t)group_id(p, z->group);
			qsort(pp->groups, pp->n_groups, sizeof(*g), cmp_u32);
		}
	}

	/* Pieces: split at every prefix's first address and one past its last. Prefixes are laminar (nested
	 * or disjoint), so a stack sweep in (address, length) order gives each piece its longest prefix. */
	pts = calloc(2 * np + 1, sizeof(*pts));
	stack = calloc(np ? np : 1, sizeof(*stack));
	p->pieces = calloc(2 * np + 1, sizeof(*p->pieces));
	if (!pts || !stack || !p->pieces)
		goto out;
	pts[npts++] = 0;
	for (size_t i = 0; i < np; i++) {
		pts[npts++] = p->prefixes[i].cidr.addr;
		pts[npts++] = (uint64_t)LAST(p->prefixes[i].cidr) + 1;
	}
	qsort(pts, npts, sizeof(*pts), cmp_u64);
	for (size_t i = 0; i < npts; i++) {
		uint64_t x = pts[i];

		if (x > UINT32_MAX || (i > 0 && pts[i - 1] == x))
			continue;
		while (sp && LAST(p->prefixes[stack[sp - 1]].cidr) < x)
			sp--;
		while (j < np && p->prefixes[j].cidr.addr == x)
			stack[sp++] = (long)j++;
		p->pieces[p->n_pieces].lo = (uint32_t)x;
		p->pieces[p->n_pieces].winner = sp ? stack[sp - 1] : -1;
		if (p->n_pieces)
			p->pieces[p->n_pieces - 1].hi = (uint32_t)x - 1;
		p->n_pieces++;
	}
	p->pieces[p->n_pieces - 1].hi = UINT32_MAX;
	ret = 0;
out:
	free(pts);
	free(stack);
	return ret;
}

static bool prefix_grants(const struct policy_authz_prefix *pp, const uint32_t *groups, size_t n)
{
	size_t a = 0, b = 0;

	if (pp->all_users)
		return true;
	while (a < pp->n_groups && b < n) {
		if (pp->groups[a] == groups[b])
			return true;
		if (pp->groups[a] < groups[b])
			a++;
		else
			b++;
	}
	return false;
}

bool policy_class_grants(const struct policy_authz_class *c, const struct policy_profile *pr)
{
	const struct policy_authz_prefix as_prefix = { .all_users = c->all_users,
						       .groups = (uint32_t *)c->groups,
						       .n_groups = c->n_groups };

	return prefix_grants(&as_prefix, pr->groups, pr->n_groups);
}

static bool same_grant(const struct policy_authz_class *c, const struct policy_authz_prefix *pp)
{
	if (c->all_users || pp->all_users)
		return c->all_users && pp->all_users;
	return c->n_groups == pp->n_groups && !memcmp(c->groups, pp->groups, pp->n_groups * sizeof(*pp->groups));
}

/* Classes (distinct grants of the prefixes, in prefix order so names are stable for a config) and the
 * spans: consecutive pieces with one class merged. The all-users grant, if any rule has it, is one class. */
static int compile_classes(struct policy *p)
{
	size_t numbered = 0;

	p->classes = calloc(p->n_prefixes ? p->n_prefixes : 1, sizeof(*p->classes));
	p->spans = calloc(p->n_pieces ? p->n_pieces : 1, sizeof(*p->spans));
	if (!p->classes || !p->spans)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_prefixes; i++) {
		struct policy_authz_prefix *pp = &p->prefixes[i];
		size_t c = 0;

		while (c < p->n_classes && !same_grant(&p->classes[c], pp))
			c++;
		if (c == p->n_classes) {
			struct policy_authz_class *nc = &p->classes[p->n_classes++];

			nc->all_users = pp->all_users;
			nc->groups = pp->all_users ? NULL : pp->groups;
			nc->n_groups = pp->all_users ? 0 : pp->n_groups;
			if (nc->all_users)
				snprintf(nc->name, sizeof(nc->name), "grant_all");
			else
				snprintf(nc->name, sizeof(nc->name), "grant_%zu", ++numbered);
		}
		pp->cls = c;
	}
	for (size_t i = 0; i < p->n_pieces; i++) {
		const struct policy_authz_piece *pc = &p->pieces[i];
		struct policy_authz_span *last = p->n_spans ? &p->spans[p->n_spans - 1] : NULL;
		size_t c;

		if (pc->winner < 0)
			continue;
		c = p->prefixes[pc->winner].cls;
		if (last && last->cls == c && last->hi != UINT32_MAX && last->hi + 1 == pc->lo)
			last->hi = pc->hi;
		else
			p->spans[p->n_spans++] = (struct policy_authz_span){ pc->lo, pc->hi, c };
	}
	return 0;
}

bool policy_authz_compiled(const struct policy *p, uint32_t profile, uint32_t dst)
{
	const struct policy_profile *pr = policy_profile_get(p, profile);
	size_t lo = 0, hi = p ? p->n_spans : 0;

	if (!pr)
		return false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct policy_authz_span *sp = &p->spans[mid];

		if (dst < sp->lo)
			hi = mid;
		else if (dst > sp->hi)
			lo = mid + 1;
		else
			return policy_class_grants(&p->classes[sp->cls], pr);
	}
	return false;
}

struct route_iv {
	uint32_t key, lo, hi;
};

static int cmp_route_iv(const void *a, const void *b)
{
	const struct route_iv *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static long assoc_index(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_associations; i++)
		if (!strcmp(cfg->associations[i].name, name))
			return (long)i;
	return -1;
}

/* routes: association mark . destination, merged per mark. An association's routes never cover the
 * client CIDR (only 0.0.0.0/0 can overlap it): client addresses are reachable through `local` routes
 * alone (semantics.md §2). */
static int compile_routes(struct policy *p, FILE *errs)
{
	const struct config *cfg = p->cfg;
	struct cidr4 cc = cfg->client_cidr;
	struct route_iv *iv = calloc(2 * cfg->n_routes + 1, sizeof(*iv));
	size_t n = 0, cap = 0;
	int ret = -ENOMEM;

	p->local_dsts = calloc(cfg->n_routes ? cfg->n_routes : 1, sizeof(*p->local_dsts));
	if (!iv || !p->local_dsts)
		goto out;
	for (size_t i = 0; i < cfg->n_routes; i++) {
		const struct config_route *r = &cfg->routes[i];
		uint32_t lo = r->dst.addr, hi = LAST(r->dst), key;

		if (!strcmp(r->target, "local")) {
			key = POLICY_MARK_LOCAL;
			p->local_dsts[p->n_local_dsts++] = r->dst;
		} else {
			long a = assoc_index(cfg, r->target);

			if (a < 0) {
				perr(errs, cfg, r->line, "route: target '%s' is not an association", r->target);
				ret = -EINVAL;
				goto out;
			}
			key = policy_assoc_mark((size_t)a);
			if (cc.len && lo <= LAST(cc) && hi >= cc.addr) {
				/* cut the client CIDR out: up to two pieces remain */
				if (lo < cc.addr)
					iv[n++] = (struct route_iv){ key, lo, cc.addr - 1 };
				if (hi > LAST(cc))
					iv[n++] = (struct route_iv){ key, LAST(cc) + 1, hi };
				continue;
			}
		}
		iv[n++] = (struct route_iv){ key, lo, hi };
	}
	qsort(iv, n, sizeof(*iv), cmp_route_iv);
	for (size_t i = 0; i < n; i++) {
		struct policy_iset *s;

		if (!p->n_routes || p->routes[p->n_routes - 1].key != iv[i].key) {
			s = grow(p->routes, &cap, p->n_routes + 1, sizeof(*s));
			if (!s)
				goto out;
			p->routes = s;
			memset(&p->routes[p->n_routes], 0, sizeof(*s));
			p->routes[p->n_routes++].key = iv[i].key;
		}
		if (iset_push(&p->routes[p->n_routes - 1], iv[i].lo, iv[i].hi) < 0)
			goto out;
	}
	ret = 0;
out:
	free(iv);
	return ret;
}

static int compile_rtables(struct policy *p, FILE *errs)
{
	const struct config *cfg = p->cfg;

	p->rtables = calloc(p->n_assocs ? p->n_assocs : 1, sizeof(*p->rtables));
	if (!p->rtables)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_assocs; i++) {
		const struct config_association *a = p->assocs[i].cfg;
		const struct config_route_table *rt = find_rt(cfg, a->subnet_route_table);
		struct policy_rtable *t = &p->rtables[p->n_rtables++];
		size_t n = rt ? rt->n_entries : 0;

		if (a->subnet_route_table && !rt) {
			perr(errs, cfg, a->line, "association '%s': route table '%s' is not defined", a->name,
			     a->subnet_route_table);
			return -EINVAL;
		}
		t->table = POLICY_TABLE_BASE + (uint32_t)i;
		t->closed = rt != NULL;
		t->mark = p->assocs[i].mark;
		t->priority = POLICY_RULE_PRIO + (uint32_t)i;
		snprintf(t->ifname, sizeof(t->ifname), "%s", a->ifname);
		t->entries = calloc(n + 2, sizeof(*t->entries));
		if (!t->entries)
			return -ENOMEM;
		t->entries[t->n_entries++] = (struct policy_rt_entry){ a->subnet, 0, p->assocs[i].snat_addr, false };
		for (size_t e = 0; e < n; e++) {
			const struct config_rt_entry *ce = &rt->entries[e];

			/* the subnet's own route is already there, on-link with its source address */
			if (ce->dst.addr == a->subnet.addr && ce->dst.len == a->subnet.len)
				continue;
			if (ce->dst.addr == cfg->client_cidr.addr && ce->dst.len == cfg->client_cidr.len)
				continue;
			t->entries[t->n_entries++] = (struct policy_rt_entry){ ce->dst, ce->via, 0, false };
		}
		/* The clients, through the tun: with src_valid_mark=1 (wg-quick sets it) the kernel's reverse-path
		 * check (rp_filter) looks a client packet's source up with its association's mark, in this table;
		 * without this route it found the table's default route (out of the association's link) or its
		 * unreachable end and dropped every client packet. The replies to clients, marked in prerouting
		 * for the same check, are routed by it into the tun as the main table would. No client's packet
		 * for the client CIDR is routed here: the association's @routes never hold the client CIDR
		 * (compile_routes cuts it out; from_client_pre drops the packet), and the egress chain drops
		 * what leaves through the tun without the `local` mark. */
		t->entries[t->n_entries++] = (struct policy_rt_entry){ cfg->client_cidr, 0, 0, true };
	}
	return 0;
}

static int compile_chains(struct policy *p)
{
	const struct config *cfg = p->cfg;
	const char *tun = p->tun_ifname;
	struct policy_rule *r;
	struct policy_match *m;
	size_t cap = 0;
	long pre, fcp, in, fwd, fc, eg, tc, post, c;

#define RULE(ci) do { if (!(r = rule_add(p, (ci)))) return -ENOMEM; } while (0)
#define CHAIN(var, name, hook) do { if (((var) = chain_add(p, &cap, (name), (hook))) < 0) return -ENOMEM; } while (0)
	CHAIN(pre, "prerouting", POLICY_HOOK_PREROUTING);
	CHAIN(fcp, "from_client_pre", POLICY_HOOK_NONE);
	CHAIN(in, "input", POLICY_HOOK_INPUT);
	CHAIN(fwd, "forward", POLICY_HOOK_FORWARD);
	CHAIN(fc, "from_client", POLICY_HOOK_NONE);
	for (size_t k = 0; k < p->n_classes; k++)
		CHAIN(c, p->classes[k].name, POLICY_HOOK_NONE);
	CHAIN(eg, "egress", POLICY_HOOK_NONE);
	for (size_t i = 0; i < p->n_assocs; i++) {
		if (p->assocs[i].chain_sg[0])
			CHAIN(c, p->assocs[i].chain_sg, POLICY_HOOK_NONE);
		if (p->assocs[i].chain_acl_out[0]) {
			CHAIN(c, p->assocs[i].chain_acl_out, POLICY_HOOK_NONE);
			CHAIN(c, p->assocs[i].chain_acl_in, POLICY_HOOK_NONE);
		}
	}
	CHAIN(tc, "to_client", POLICY_HOOK_NONE);
	CHAIN(post, "postrouting", POLICY_HOOK_POSTROUTING);

	/* prerouting: clients' packets, and replies coming back into an association with an ACL. The ACL
	 * runs here, before de-NAT (priority mangle < dstnat), so it sees the SNAT-ed port as the subnet's
	 * ACL would. */
	RULE(pre);
	m_ifname(r, POLICY_M_IIF, tun);
	r_verdict(r, POLICY_V_JUMP, "from_client_pre");
	comment_set(r->comment, "from clients");
	/* what came back from that chain passed its checks; the rest of this chain is for other interfaces */
	RULE(pre);
	m_ifname(r, POLICY_M_IIF, tun);
	r_verdict(r, POLICY_V_ACCEPT, NULL);
	comment_set(r->comment, "clients' packets: checked in from_client_pre");
	/* A reply to a client carries its session's association mark, as the client's packets do: with
	 * src_valid_mark=1 the kernel's reverse-path check (rp_filter) then looks its source up in the
	 * association's table, which routes it back out of the link it came in on. Unmarked, it was looked up
	 * in the main table, which need not know a network only the association's route table reaches, and
	 * every reply from there was dropped. Routing is unchanged: the table sends the client CIDR into the
	 * tun as the main table does. */
	RULE(pre);
	match_add(r, POLICY_M_CT_REPLY);
	match_add(r, POLICY_M_CT_ORIG_SADDR)->cidr = cfg->client_cidr;
	r->stmt = POLICY_S_MARK_FROM_MAP_ORIG;
	r->map = "sess_assoc";
	comment_set(r->comment, "replies to clients: the session's association (for the reverse-path check)");
	for (size_t i = 0; i < p->n_assocs; i++) {
		const struct policy_assoc *a = &p->assocs[i];

		if (!a->chain_acl_in[0])
			continue;
		RULE(pre);
		m_ifname(r, POLICY_M_IIF, a->cfg->ifname);
		match_add(r, POLICY_M_CT_REPLY);
		match_add(r, POLICY_M_CT_ORIG_SADDR)->cidr = cfg->client_cidr;
		m_cidr(r, POLICY_M_SADDR, a->cfg->subnet, true);
		r_verdict(r, POLICY_V_JUMP, a->chain_acl_in);
		comment_set(r->comment, "replies into association %s: ACL %s inbound", a->cfg->name, a->acl->name);
	}
	/* a client address arriving anywhere but the tun is forged: it would otherwise be forwarded and
	 * source-NATed like a client's packet */
	RULE(pre);
	m_cidr(r, POLICY_M_SADDR, cfg->client_cidr, false);
	r_verdict(r, POLICY_V_DROP, NULL);
	comment_set(r->comment, "client addresses come only from the tun: a forged source");

	RULE(fcp);
	r->stmt = POLICY_S_MARK_FROM_MAP;
	r->map = "sess_assoc";
	comment_set(r->comment, "the session's association (routing mark); no session: no mark");
	RULE(fcp);
	match_add(r, POLICY_M_MARK)->value = 0;
	r_verdict(r, POLICY_V_DROP, NULL);
	comment_set(r->comment, "not a live session's address (anti-spoofing)");
	for (size_t i = 0; i < cfg->n_routes; i++) {
		const struct config_route *cr = &cfg->routes[i];

		if (strcmp(cr->target, "local"))
			continue;
		RULE(fcp);
		m_cidr(r, POLICY_M_DADDR, cr->dst, false);
		r->stmt = POLICY_S_MARK_SET;
		r->stmt_value = POLICY_MARK_LOCAL;
		comment_set(r->comment, "route to local (client-to-client)%s%s", cr->description ? ": " : "",
			    cr->description ? cr->description : "");
	}
	RULE(fcp);
	r->stmt = POLICY_S_CTMARK_FROM_MAP;
	r->map = "sess_profile";
	comment_set(r->comment, "the session's profile (its set of groups)");
	RULE(fcp);
	m = match_add(r, POLICY_M_MARK_DADDR_IN);
	m->neg = true;
	m->set = "routes";
	r_verdict(r, POLICY_V_DROP, NULL);
	comment_set(r->comment, "no client-VPN route for this destination");

	/* A client's packet for the gateway host itself (an association interface's address, the tun's, any
	 * of the host's when a route covers it) is delivered by the local table before any association's
	 * rule and never reaches forward: no authorization, security group or ACL would see it. Clients reach
	 * networks behind the gateway, not the gateway. */
	RULE(in);
	m_ifname(r, POLICY_M_IIF, tun);
	match_add(r, POLICY_M_CT_ESTREL);
	r_verdict(r, POLICY_V_ACCEPT, NULL);
	comment_set(r->comment, "replies to the gateway host's own connections");
	RULE(in);
	m_ifname(r, POLICY_M_IIF, tun);
	r_verdict(r, POLICY_V_DROP, NULL);
	comment_set(r->comment, "clients do not reach the gateway host itself");

	RULE(fwd);
	m_ifname(r, POLICY_M_IIF, tun);
	r_verdict(r, POLICY_V_JUMP, "from_client");
	comment_set(r->comment, "from clients");
	RULE(fwd);
	m_ifname(r, POLICY_M_OIF, tun);
	r_verdict(r, POLICY_V_JUMP, "to_client");
	comment_set(r->comment, "to clients");
	if (p->forward_clients_only) {
		RULE(fwd);
		r_verdict(r, POLICY_V_DROP, NULL);
		comment_set(r->comment, "forwarding was off before cvpnd: only clients' traffic is forwarded");
	}

	if (p->n_local_dsts) {
		/* A reply from a client can only belong to a connection another client opened: nothing else
		 * gets a connection to a client through to_client. Its opener's packets were authorized. */
		RULE(fc);
		match_add(r, POLICY_M_CT_REPLY);
		r_verdict(r, POLICY_V_ACCEPT, NULL);
		comment_set(r->comment, "replies to another client's connection (client-to-client)");
	}
	RULE(fc);
	r->map = "authz";
	r_verdict(r, POLICY_V_DADDR_VMAP, NULL);
	comment_set(r->comment, "authorization: the grant of the destination's longest rule prefix");
	RULE(fc);
	r_verdict(r, POLICY_V_DROP, NULL);
	comment_set(r->comment, "authorization: no rule grants this destination to the session's groups");
	for (size_t k = 0; k < p->n_classes; k++) {
		const struct policy_authz_class *cl = &p->classes[k];
		char names[POLICY_COMMENT_MAX] = "";
		size_t len = 0;

		RULE(fc + 1 + (long)k);
		if (cl->all_users) {
			r_verdict(r, POLICY_V_GOTO, "egress");
			comment_set(r->comment, "authorized: granted to all users");
			continue;
		}
		m = match_add(r, POLICY_M_CTMARK_IN);
		m->set = cl->name;
		r_verdict(r, POLICY_V_GOTO, "egress");
		for (size_t g = 0; g < cl->n_groups && len < sizeof(names); g++)
			len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%s", g ? ", " : "",
						p->groups[cl->groups[g]]);
		comment_set(r->comment, "authorized: the session is in group %s", names);
	}

	for (size_t i = 0; i < p->n_assocs; i++) {
		const struct policy_assoc *a = &p->assocs[i];

		if (a->chain_sg[0]) {
			RULE(eg);
			m_ifname(r, POLICY_M_OIF, a->cfg->ifname);
			r_verdict(r, POLICY_V_JUMP, a->chain_sg);
			comment_set(r->comment, "association %s: security groups", a->cfg->name);
		}
		if (a->chain_acl_out[0]) {
			RULE(eg);
			m_ifname(r, POLICY_M_OIF, a->cfg->ifname);
			m_cidr(r, POLICY_M_DADDR, a->cfg->subnet, true);
			r_verdict(r, POLICY_V_JUMP, a->chain_acl_out);
			comment_set(r->comment, "association %s: ACL %s outbound (not within the subnet)",
				    a->cfg->name, a->acl->name);
		}
		RULE(eg);
		m_ifname(r, POLICY_M_OIF, a->cfg->ifname);
		r_verdict(r, POLICY_V_ACCEPT, NULL);
		comment_set(r->comment, "out through association %s", a->cfg->name);
	}
	if (p->n_local_dsts) {
		RULE(eg);
		m_ifname(r, POLICY_M_OIF, tun);
		match_add(r, POLICY_M_MARK)->value = POLICY_MARK_LOCAL;
		r_verdict(r, POLICY_V_ACCEPT, NULL);
		comment_set(r->comment, "client-to-client (route target local)");
	}
	/* The main table may send a client's packet out of an interface that is no association (a
	 * management port): no SNAT would apply there, so it must not leave at all. */
	RULE(eg);
	r_verdict(r, POLICY_V_DROP, NULL);
	comment_set(r->comment, "routed out of no association interface");

	for (size_t i = 0, ci = (size_t)eg + 1; i < p->n_assocs; i++) {
		const struct policy_assoc *a = &p->assocs[i];
		const struct config_association *ca = a->cfg;

		if (a->chain_sg[0]) {
			RULE(ci);
			match_add(r, POLICY_M_CT_ESTREL);
			r_verdict(r, POLICY_V_RETURN, NULL);
			comment_set(r->comment, "stateful: replies and related traffic");
			for (size_t g = 0; g < ca->n_security_groups; g++) {
				const struct config_security_group *sg = find_sg(cfg, ca->security_groups[g]);

				for (size_t k = 0; k < sg->n_egress; k++) {
					const struct config_sg_rule *sr = &sg->egress[k];

					RULE(ci);
					m_cidr(r, POLICY_M_DADDR, sr->dst, false);
					m_proto_ports(r, sr->proto, sr->port_from, sr->port_to);
					r_verdict(r, POLICY_V_RETURN, NULL);
					comment_set(r->comment, "sg %s: %s", sg->name,
						    sr->description && *sr->description ? sr->description :
						    "egress rule");
				}
			}
			RULE(ci);
			r_verdict(r, POLICY_V_DROP, NULL);
			comment_set(r->comment, "no security group rule allows this");
			ci++;
		}
		if (a->chain_acl_out[0]) {
			for (int dir = 0; dir < 2; dir++, ci++) {
				const struct config_acl_rule **rules = dir ? a->acl_in : a->acl_out;
				size_t n = dir ? a->n_acl_in : a->n_acl_out;

				for (size_t k = 0; k < n; k++) {
					RULE(ci);
					m_cidr(r, dir ? POLICY_M_SADDR : POLICY_M_DADDR, rules[k]->cidr, false);
					m_proto_ports(r, rules[k]->proto, rules[k]->port_from, rules[k]->port_to);
					r_verdict(r, rules[k]->allow ? POLICY_V_RETURN : POLICY_V_DROP, NULL);
					comment_set(r->comment, "ACL %s %s rule %u %s", a->acl->name,
						    dir ? "inbound" : "outbound", rules[k]->number,
						    rules[k]->allow ? "allow" : "deny");
				}
				RULE(ci);
				r_verdict(r, POLICY_V_DROP, NULL);
				comment_set(r->comment, "ACL %s %s implicit deny (*)", a->acl->name,
					    dir ? "inbound" : "outbound");
			}
		}
	}

	RULE(tc);
	match_add(r, POLICY_M_CT_ESTREL);
	r_verdict(r, POLICY_V_ACCEPT, NULL);
	comment_set(r->comment, "replies");
	RULE(tc);
	r_verdict(r, POLICY_V_DROP, NULL);
	comment_set(r->comment, "nothing else reaches clients");

	for (size_t i = 0; i < p->n_assocs; i++) {
		RULE(post);
		m_ifname(r, POLICY_M_OIF, p->assocs[i].cfg->ifname);
		m_cidr(r, POLICY_M_SADDR, cfg->client_cidr, false);
		r->stmt = POLICY_S_SNAT;
		r->stmt_value = p->assocs[i].snat_addr;
		comment_set(r->comment, "SNAT to association %s", p->assocs[i].cfg->name);
	}
#undef RULE
#undef CHAIN
	return 0;
}

static bool valid_ifname(const char *s)
{
	size_t n = s ? strnlen(s, IF_NAMESIZE) : 0;

	if (n == 0 || n == IF_NAMESIZE)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '/' || s[i] == ':' || (unsigned char)s[i] <= ' ' || s[i] == '"' || s[i] == 0x7f)
			return false;
	return true;
}

int policy_compile(const struct config *cfg, const struct policy_env *env, struct policy **out, FILE *errs)
{
	struct policy *p;
	int ret;

	if (!cfg || !env || !out)
		return -EINVAL;
	*out = NULL;
	if (!valid_ifname(env->tun_ifname)) {
		perr(errs, cfg, 1, "tun interface name is not valid");
		return -EINVAL;
	}
	if (env->n_assoc != cfg->n_associations || (env->n_assoc && !env->snat_addr)) {
		perr(errs, cfg, 1, "%zu SNAT addresses for %zu associations", env->n_assoc, cfg->n_associations);
		return -EINVAL;
	}
	if (cfg->n_associations > POLICY_MAX_ASSOC) {
		perr(errs, cfg, cfg->associations[POLICY_MAX_ASSOC].line, "more than %u associations",
		     POLICY_MAX_ASSOC);
		return -EINVAL;
	}
	for (size_t i = 0; i < cfg->n_associations; i++)
		if (!valid_ifname(cfg->associations[i].ifname)) {
			perr(errs, cfg, cfg->associations[i].line, "association '%s': interface name is not valid",
			     cfg->associations[i].name);
			return -EINVAL;
		}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->cfg = cfg;
	snprintf(p->tun_ifname, sizeof(p->tun_ifname), "%s", env->tun_ifname);
	p->forward_clients_only = env->forward_clients_only;
	if ((ret = compile_assocs(p, env, errs)) < 0 || (ret = compile_authz(p)) < 0 || (ret = compile_classes(p)) < 0 ||
	    (ret = compile_routes(p, errs)) < 0 || (ret = compile_rtables(p, errs)) < 0 ||
	    (ret = compile_chains(p)) < 0)
		goto fail;
	if (policy_profile(p, NULL, 0, NULL) != POLICY_PROFILE_ALL) {
		ret = -ENOMEM;
		goto fail;
	}
	*out = p;
	return 0;
fail:
	policy_free(p);
	return ret;
}

static int groups_cmp(const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
	if (na != nb)
		return 1;
	return na ? memcmp(a, b, na * sizeof(*a)) : 0;
}

uint32_t policy_profile(struct policy *p, const char *const *groups, size_t n, bool *is_new)
{
	uint32_t *ids = NULL;
	size_t k = 0;
	struct policy_profile *pr;

	if (is_new)
		*is_new = false;
	if (!p)
		return 0;
	if (n) {
		ids = calloc(n, sizeof(*ids));
		if (!ids)
			return 0;
	}
	for (size_t i = 0; i < n; i++) {
		long g = groups[i] ? group_id(p, groups[i]) : -1;

		if (g >= 0)
			ids[k++] = (uint32_t)g;
	}
	if (k > 1)
		qsort(ids, k, sizeof(*ids), cmp_u32);
	{
		size_t u = 0;

		for (size_t i = 0; i < k; i++)
			if (u == 0 || ids[u - 1] != ids[i])
				ids[u++] = ids[i];
		k = u;
	}
	/* Profiles are few (distinct group sets among rule-named groups): a linear scan is enough. */
	for (size_t i = 0; i < p->n_profiles; i++)
		if (!groups_cmp(p->profiles[i].groups, p->profiles[i].n_groups, ids, k)) {
			free(ids);
			return p->profiles[i].id;
		}
	pr = grow(p->profiles, &p->cap_profiles, p->n_profiles + 1, sizeof(*pr));
	if (!pr) {
		free(ids);
		return 0;
	}
	p->profiles = pr;
	pr = &p->profiles[p->n_profiles];
	memset(pr, 0, sizeof(*pr));
	pr->id = (uint32_t)p->n_profiles + 1;
	pr->groups = ids;
	pr->n_groups = k;
	p->n_profiles++;
	if (is_new)
		*is_new = true;
	return pr->id;
}

void policy_profile_forget(struct policy *p, uint32_t id)
{
	if (!p || id == 0 || id != p->n_profiles || id == POLICY_PROFILE_ALL)
		return;
	free(p->profiles[id - 1].groups);
	p->n_profiles--;
}

const struct policy_profile *policy_profile_get(const struct policy *p, uint32_t id)
{
	if (!p || id == 0 || id > p->n_profiles)
		return NULL;
	return &p->profiles[id - 1];
}

void policy_free(struct policy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_assocs; i++) {
		free(p->assocs[i].acl_out);
		free(p->assocs[i].acl_in);
	}
	free(p->assocs);
	for (size_t i = 0; i < p->n_chains; i++)
		free(p->chains[i].rules);
	free(p->chains);
	free(p->groups);
	for (size_t i = 0; i < p->n_prefixes; i++) {
		free(p->prefixes[i].groups);
		free(p->prefixes[i].rules);
	}
	free(p->prefixes);
	free(p->pieces);
	free(p->classes);
	free(p->spans);
	for (size_t i = 0; i < p->n_profiles; i++)
		free(p->profiles[i].groups);
	free(p->profiles);
	for (size_t i = 0; i < p->n_routes; i++)
		free(p->routes[i].iv);
	free(p->routes);
	free(p->local_dsts);
	for (size_t i = 0; i < p->n_rtables; i++)
		free(p->rtables[i].entries);
	free(p->rtables);
	free(p);
}
