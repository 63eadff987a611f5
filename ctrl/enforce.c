// SPDX-License-Identifier: GPL-2.0-or-later
/* The policy in force: compiled from the running config, installed in the kernel, with each live session
 * in it as two map elements. A failure to install a session fails its login: nothing is admitted that the
 * kernel was not told about, and the kernel admits nothing it was not told about. */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cvpn/config.h"
#include "cvpn/conntrack.h"
#include "cvpn/enforce.h"
#include "cvpn/log.h"
#include "cvpn/nft.h"
#include "cvpn/policy.h"
#include "cvpn/pool.h"
#include "cvpn/route.h"
#include "cvpn/rpfilter.h"
#include "cvpn/server.h"
#include "cvpn/session.h"

static int read_assoc_state(const struct config *cfg, uint32_t *snat, bool *up, FILE *errs)
{
	int err;

	for (size_t i = 0; i < cfg->n_associations; i++) {
		const struct config_association *a = &cfg->associations[i];

		err = route_iface_ipv4(a->ifname, &snat[i]);
		if (err < 0) {
			if (errs)
				fprintf(errs, "%s:%d: association %s: interface %s has no usable IPv4 address: %s\n",
					cfg->path, a->line, a->name, a->ifname, strerror(-err));
			else
				log_warnx("association %s: interface %s has no usable IPv4 address: %s", a->name,
					  a->ifname, strerror(-err));
			return -1;
		}
		if (route_iface_running(a->ifname, &up[i]) < 0)
			up[i] = false;
		/* the config check cannot know this one (config_validate.c warns about the client CIDR) */
		for (size_t k = 0; k < cfg->n_dns_servers; k++)
			if (cfg->dns_servers[k] == snat[i]) {
				char ip[16];

				config_format_ipv4(snat[i], ip);
				if (errs)
					fprintf(errs, "%s: warning: dns-servers: %s is association %s's own address, the "
						"gateway host's: clients cannot reach it\n", cfg->path, ip, a->name);
				else
					log_warnx("dns-servers: %s is association %s's own address, the gateway host's: "
						  "clients cannot reach it", ip, a->name);
			}
	}
	return 0;
}

/* Replies from a network that only an association's route table reaches come back in through its link. The
 * reverse-path filter checks them with their association mark only when src_valid_mark is on (they pass);
 * without it, as the host routes, and drops them unless the host's main table routes that network out of
 * the same link (strict) or at all (loose). Said at start (the log) and at every reload (errs: the reload's
 * warnings, which the caller logs and cvpnctl shows), once per association. */
static void warn_reverse_path(const struct policy *p, const char *path, FILE *errs)
{
	for (size_t i = 0; i < p->n_rtables && i < p->n_assocs; i++) {
		const struct policy_rtable *t = &p->rtables[i];
		const struct policy_rt_entry *first = NULL;
		struct rpf_conf conf;
		size_t n_dropped = 0;
		uint32_t *probes;
		bool *passes;
		char net[16], key[IF_NAMESIZE], msg[512];

		if (rpf_read_conf(t->ifname, &conf) < 0 || conf.rp_filter == 0 || conf.src_valid_mark)
			continue;
		probes = calloc(t->n_entries ? t->n_entries : 1, sizeof(*probes));
		passes = calloc(t->n_entries ? t->n_entries : 1, sizeof(*passes));
		/* one address of each network: the first host of its upper half (128.0.0.1 for a default
		 * route, far from 0.0.0.0/8, which the kernel treats apart) */
		for (size_t e = 0; probes && e < t->n_entries; e++) {
			const struct cidr4 *d = &t->entries[e].dst;

			probes[e] = d->len >= 31 ? d->addr | (d->len == 31) : d->addr | (1u << (31 - d->len)) | 1;
		}
		if (probes && passes && rpf_unmarked_passes(&conf, t->ifname, probes, t->n_entries, passes) == 0)
			for (size_t e = 0; e < t->n_entries; e++) {
				const struct policy_rt_entry *re = &t->entries[e];

				/* next-hop networks only: the subnet is the link's own, the client CIDR the tun's */
				if (!re->via || re->to_tun || passes[e])
					continue;
				if (!first)
					first = re;
				n_dropped++;
			}
		free(probes);
		free(passes);
		if (!first)
			continue;
		config_format_ipv4(first->dst.addr, net);
		/* sysctl's key spells a dot of the name as a slash (eth0.100: net.ipv4.conf.eth0/100) */
		snprintf(key, sizeof(key), "%s", t->ifname);
		for (char *c = key; *c; c++)
			if (*c == '.')
				*c = '/';
		snprintf(msg, sizeof(msg), "association %s: the reverse-path filter (rp_filter=%d on %s, "
			 "src_valid_mark off) drops replies from %s/%u%s: the host's own routing does not route it %s; "
			 "set net.ipv4.conf.%s.src_valid_mark=1 (the check then uses the association's table)",
			 p->assocs[i].cfg->name, conf.rp_filter, t->ifname, net, (unsigned)first->dst.len,
			 n_dropped > 1 ? " and others of its route table" : "",
			 conf.rp_filter == 1 ? "out of that link" : "at all", key);
		if (errs)
			fprintf(errs, "%s: warning: %s\n", path, msg);
		else
			log_warnx("%s", msg);
	}
}

static int compile(struct server *srv, const struct config *cfg, const uint32_t *snat, struct policy **out,
		   FILE *errs)
{
	struct policy_env env = { srv->tun_ifname, snat, cfg->n_associations, !srv->forwarding_was_on };
	int err = policy_compile(cfg, &env, out, errs);

	if (err < 0 && !errs)
		log_warnx("cannot compile the policy: %s", strerror(-err));
	return err < 0 ? -1 : 0;
}

int enforce_init(struct server *srv)
{
	const struct config *cfg = srv->cfg;
	char a[16];
	int err;

	srv->n_assoc = cfg->n_associations;
	srv->assoc_snat = calloc(srv->n_assoc + 1, sizeof(*srv->assoc_snat));
	srv->assoc_sessions = calloc(srv->n_assoc + 1, sizeof(*srv->assoc_sessions));
	srv->assoc_up = calloc(srv->n_assoc + 1, sizeof(*srv->assoc_up));
	if (!srv->assoc_snat || !srv->assoc_sessions || !srv->assoc_up) {
		log_warnx("out of memory");
		return -1;
	}
	if (read_assoc_state(cfg, srv->assoc_snat, srv->assoc_up, NULL) < 0 ||
	    compile(srv, cfg, srv->assoc_snat, &srv->policy, NULL) < 0)
		return -1;
	for (size_t i = 0; i < srv->n_assoc; i++) {
		config_format_ipv4(srv->assoc_snat[i], a);
		log_info("association %s on %s (%s), SNAT to %s", cfg->associations[i].name,
			 cfg->associations[i].ifname, srv->assoc_up[i] ? "up" : "down", a);
	}
	/* leftovers of a run that died without cleaning up go first; then ours, whole */
	err = route_reconcile();
	if (err < 0)
		log_warnx("cannot remove leftover routes and rules: %s", strerror(-err));
	err = route_apply_assoc_tables(srv->policy);
	if (err < 0) {
		log_warnx("cannot install the associations' routing tables: %s", strerror(-err));
		return -1;
	}
	err = policy_nft_apply(srv->policy, NULL, 0, false);
	if (err < 0) {
		log_warnx("cannot install table inet %s: %s%s", NFT_TABLE_NAME, strerror(-err), nft_refusal());
		return -1;
	}
	warn_reverse_path(srv->policy, cfg->path, NULL);
	srv->nft_installed = true;
	/* the connections a killed run's clients had: the next holder of each address must not inherit them */
	err = ct_flush_source_net(cfg->client_cidr.addr, cfg->client_cidr.len);
	if (err > 0)
		log_info("forgot %d connection tracking entries of an earlier run's clients", err);
	else if (err < 0)
		log_warnx("cannot remove an earlier run's clients' connection tracking entries: %s", strerror(-err));
	return 0;
}

void enforce_cleanup(struct server *srv)
{
	int err;

	if (srv->nft_installed) {
		err = nft_delete_table();
		if (err < 0)
			log_warnx("cannot remove table inet %s: %s%s", NFT_TABLE_NAME, strerror(-err), nft_refusal());
		err = route_reconcile();
		if (err < 0)
			log_warnx("cannot remove the associations' routing tables: %s", strerror(-err));
		srv->nft_installed = false;
	}
	nft_socket_close();
	policy_free(srv->policy);
	srv->policy = NULL;
	free(srv->assoc_snat);
	free(srv->assoc_sessions);
	free(srv->assoc_up);
	srv->assoc_snat = srv->assoc_sessions = NULL;
	srv->assoc_up = NULL;
}

/* The least loaded association whose link is up; its home when that is up. -1 when none is. */
static long place(const struct server *srv, long home)
{
	long best = -1;

	if (home >= 0 && (size_t)home < srv->n_assoc && srv->assoc_up[home])
		return home;
	for (size_t i = 0; i < srv->n_assoc; i++)
		if (srv->assoc_up[i] && (best < 0 || srv->assoc_sessions[i] < srv->assoc_sessions[best]))
			best = (long)i;
	return best;
}

static void free_groups(struct session *s)
{
	for (size_t i = 0; i < s->n_groups; i++)
		free(s->groups[i]);
	free(s->groups);
	s->groups = NULL;
	s->n_groups = 0;
}

static int add_group(struct session *s, const char *g)
{
	for (size_t i = 0; i < s->n_groups; i++)
		if (!strcmp(s->groups[i], g))
			return 0;
	s->groups[s->n_groups] = strdup(g);
	if (!s->groups[s->n_groups])
		return -ENOMEM;
	s->n_groups++;
	return 0;
}

/* The groups of an identity: the directory's (kept on the session from its login, so a reload re-profiles
 * it without asking the directory again) plus those identity-groups gives the username, or the
 * certificate's CN without a directory login. */
static int load_groups(const struct config *cfg, struct session *s)
{
	const struct config_identity *id = config_find_identity(cfg, s->username[0] ? s->username : s->cn);
	size_t n = s->n_dir_groups + (id ? id->n_groups : 0);

	free_groups(s);
	if (n == 0)
		return 0;
	s->groups = calloc(n, sizeof(*s->groups));
	if (!s->groups)
		return -ENOMEM;
	for (size_t i = 0; i < s->n_dir_groups; i++)
		if (add_group(s, s->dir_groups[i]) < 0)
			goto oom;
	for (size_t i = 0; id && i < id->n_groups; i++)
		if (add_group(s, id->groups[i]) < 0)
			goto oom;
	return 0;
oom:
	free_groups(s);
	return -ENOMEM;
}

static uint32_t profile_of(struct policy *p, const struct session *s, bool install)
{
	bool is_new = false;
	uint32_t id = policy_profile(p, (const char *const *)s->groups, s->n_groups, &is_new);

	if (id && is_new && install && policy_nft_profile_add(p, id) < 0) {
		policy_profile_forget(p, id); /* the next session with these groups tries again */
		return 0;
	}
	return id;
}

int enforce_session_add(struct server *srv, struct session *s, char *reason, size_t reason_len)
{
	long assoc;
	int err;

	if (load_groups(srv->cfg, s) < 0) {
		snprintf(reason, reason_len, "internal error");
		return -1;
	}
	s->profile = profile_of(srv->policy, s, true);
	if (!s->profile) {
		snprintf(reason, reason_len, "internal error");
		return -1;
	}
	assoc = place(srv, -1);
	if (assoc < 0) {
		snprintf(reason, reason_len, "no association of the endpoint is available");
		return -1;
	}
	err = policy_nft_session_add(s->vaddr, s->profile, policy_assoc_mark((size_t)assoc));
	if (err < 0) {
		log_warnx("session %llu: cannot install its policy elements: %s%s", (unsigned long long)s->id,
			  strerror(-err), nft_refusal());
		snprintf(reason, reason_len, "internal error");
		return -1;
	}
	s->assoc_home = s->assoc_cur = assoc;
	srv->assoc_sessions[assoc]++;
	s->enforced = true;
	return 0;
}

static void release_to_pool(struct server *srv, uint32_t vaddr)
{
	char a[16];

	if (pool_release(srv->pool, vaddr) < 0) {
		config_format_ipv4(vaddr, a);
		log_warnx("address %s was not allocated", a);
	}
}

void enforce_address_free(struct server *srv, uint32_t vaddr)
{
	if (srv->stop)
		goto now;
	if (srv->n_addr_quarantine == srv->addr_quarantine_cap) {
		size_t cap = srv->addr_quarantine_cap ? 2 * srv->addr_quarantine_cap : 64;
		uint32_t *q = realloc(srv->addr_quarantine, cap * sizeof(*q));

		if (!q) {
			ct_flush_addresses(&vaddr, 1); /* no room to wait: the pass for this one alone */
			goto now;
		}
		srv->addr_quarantine = q;
		srv->addr_quarantine_cap = cap;
	}
	srv->addr_quarantine[srv->n_addr_quarantine++] = vaddr;
	return;
now:
	release_to_pool(srv, vaddr);
}

void enforce_tick(struct server *srv)
{
	int n;

	if (!srv->n_addr_quarantine)
		return;
	/* a pass deletes at most CT_MAX_FLUSH entries (a mass disconnect can leave more): again until done */
	for (int pass = 0; pass < 16; pass++) {
		n = ct_flush_addresses(srv->addr_quarantine, srv->n_addr_quarantine);
		if (n < CT_MAX_FLUSH)
			break;
	}
	if (n < 0)
		log_warnx("cannot remove ended sessions' connection tracking entries: %s", strerror(-n));
	for (size_t i = 0; i < srv->n_addr_quarantine; i++)
		release_to_pool(srv, srv->addr_quarantine[i]);
	srv->n_addr_quarantine = 0;
}

void enforce_session_del(struct server *srv, struct session *s)
{
	int err;

	if (s->enforced) {
		/* the kernel stops its traffic first; only then is its address free for someone else */
		err = policy_nft_session_del(s->vaddr);
		if (err < 0)
			log_warnx("session %llu: cannot remove its policy elements: %s%s", (unsigned long long)s->id,
				  strerror(-err), nft_refusal());

		if (s->assoc_cur >= 0 && (size_t)s->assoc_cur < srv->n_assoc)
			srv->assoc_sessions[s->assoc_cur]--;
		s->enforced = false;
	}
	free_groups(s);
}

/* Calls fn for every session whose elements are in the kernel. */
#define FOR_EACH_ENFORCED(srv, s)                                                          \
	for (uint32_t i_ = 0; i_ < (srv)->table_size; i_++)                                 \
		if (((s) = (srv)->by_peer_id[i_]) && (s)->enforced)

int enforce_reload(struct server *srv, const struct config *ncfg, FILE *errs)
{
	size_t n_assoc = ncfg->n_associations, n = 0;
	uint32_t *snat = calloc(n_assoc + 1, sizeof(*snat)), *count = calloc(n_assoc + 1, sizeof(*count));
	bool *up = calloc(n_assoc + 1, sizeof(*up));
	struct policy_session *ps = calloc(srv->table_size + 1, sizeof(*ps));
	long *placed = calloc(srv->table_size + 1, sizeof(*placed));
	long *homes = calloc(srv->table_size + 1, sizeof(*homes));
	uint32_t *profiles = calloc(srv->table_size + 1, sizeof(*profiles));
	struct policy *np = NULL;
	struct session *s;
	int err, ret = -1;

	if (!snat || !count || !up || !ps || !placed || !homes || !profiles) {
		fprintf(errs, "%s: out of memory\n", ncfg->path);
		goto out;
	}
	if (read_assoc_state(ncfg, snat, up, errs) < 0 || compile(srv, ncfg, snat, &np, errs) < 0)
		goto out;
	/* every live session again: its groups may have changed, and so may the associations; it keeps
	 * its association when that still exists under the same name */
	FOR_EACH_ENFORCED(srv, s) {
		const char *home = s->assoc_home >= 0 ? srv->cfg->associations[s->assoc_home].name : NULL;
		long h = -1, a;
		struct session tmp = *s;

		for (size_t j = 0; home && j < n_assoc; j++)
			if (!strcmp(ncfg->associations[j].name, home))
				h = (long)j;
		tmp.groups = NULL;
		tmp.n_groups = 0;
		if (load_groups(ncfg, &tmp) < 0) {
			fprintf(errs, "%s: out of memory\n", ncfg->path);
			goto out;
		}
		profiles[i_] = profile_of(np, &tmp, false);
		free_groups(&tmp);
		a = h >= 0 && up[h] ? h : -1;
		for (size_t j = 0; a < 0 && j < n_assoc; j++)
			if (up[j] && (a < 0 || count[j] < count[a]))
				a = (long)j;
		if (!profiles[i_] || a < 0) {
			fprintf(errs, "%s: %s\n", ncfg->path, profiles[i_] ? "no association is up for the live sessions" :
									"out of memory");
			goto out;
		}
		placed[i_] = a;
		homes[i_] = h >= 0 ? h : a;
		count[a]++;
		ps[n++] = (struct policy_session){ s->vaddr, profiles[i_], policy_assoc_mark((size_t)a) };
	}
	/* a dry run first: the routing tables change only for a ruleset the kernel accepts */
	err = policy_nft_apply(np, ps, n, true);
	if (err == 0)
		err = route_apply_assoc_tables(np);
	if (err == 0)
		err = policy_nft_apply(np, ps, n, false);
	if (err < 0) {
		fprintf(errs, "%s: the kernel refused the new policy: %s%s; the running one stays\n", ncfg->path,
			strerror(-err), nft_refusal());
		/* the routing tables may already be the new ones: put the running policy's back */
		if (route_apply_assoc_tables(srv->policy) < 0)
			log_warnx("reload: could not restore the associations' routing tables");
		goto out;
	}
	FOR_EACH_ENFORCED(srv, s) {
		load_groups(ncfg, s);
		s->profile = profiles[i_];
		s->assoc_home = homes[i_];
		s->assoc_cur = placed[i_];
	}
	policy_free(srv->policy);
	srv->policy = np;
	np = NULL;
	warn_reverse_path(srv->policy, ncfg->path, errs);
	free(srv->assoc_snat);
	free(srv->assoc_sessions);
	free(srv->assoc_up);
	srv->assoc_snat = snat;
	srv->assoc_sessions = count;
	srv->assoc_up = up;
	srv->n_assoc = n_assoc;
	snat = count = NULL;
	up = NULL;
	ret = 0;
out:
	policy_free(np);
	free(snat);
	free(count);
	free(up);
	free(ps);
	free(placed);
	free(homes);
	free(profiles);
	return ret;
}

static void move_session(struct server *srv, struct session *s, long to, const char *why)
{
	const struct config *cfg = srv->cfg;
	int err = policy_nft_session_add(s->vaddr, s->profile, policy_assoc_mark((size_t)to));

	if (err < 0) {
		log_warnx("session %llu: cannot move it to association %s: %s%s", (unsigned long long)s->id,
			  cfg->associations[to].name, strerror(-err), nft_refusal());
		return;
	}
	/* its flows keep the old association's SNAT address in their NAT bindings: forget them, so the next
	 * packet of each is NATed anew to the association it leaves by */
	err = ct_flush_source(s->vaddr);
	if (err < 0)
		log_warnx("session %llu: cannot flush its connection tracking entries: %s", (unsigned long long)s->id,
			  strerror(-err));
	log_info("session %llu %s: traffic moved from association %s to %s (%s)", (unsigned long long)s->id, s->cn,
		 cfg->associations[s->assoc_cur].name, cfg->associations[to].name, why);
	srv->assoc_sessions[s->assoc_cur]--;
	srv->assoc_sessions[to]++;
	s->assoc_cur = to;
}

/* reinstall: the tables go back in any case. A link set down takes its routes with it, from table 51000+i
 * too, and the kernel puts back only the main table's when it is up again; set down and up between two
 * reads of its state, it looks unchanged. Installing is idempotent (replace), so after any link event
 * the tables are simply installed again. */
static void check_links(struct server *srv, bool reinstall)
{
	const struct config *cfg = srv->cfg;
	bool changed = false, came_up = false, was_unsure = srv->links_unsure, tun_up = false, tun_back = false;
	struct session *s;
	int err;

	srv->links_unsure = false;
	/* Without the tun's route in the association tables, replies to clients (which carry their
	 * association's mark) follow the table's default route or its unreachable end. */
	err = route_iface_running(srv->tun_ifname, &tun_up);
	if (err < 0) {
		srv->links_unsure = true;
	} else if (tun_up != srv->tun_up) {
		if (!tun_up)
			log_warnx("%s is down: no client traffic passes until it is up again", srv->tun_ifname);
		srv->tun_up = tun_up;
		tun_back = tun_up;
	}
	for (size_t i = 0; i < srv->n_assoc; i++) {
		bool up = false;

		err = route_iface_running(cfg->associations[i].ifname, &up);
		if (err == -ENODEV) {
			up = false; /* deleted: as down as it gets */
		} else if (err < 0) {
			/* not an answer about the link (out of descriptors, say): its state stays as it was, and the
			 * next tick asks again */
			if (!was_unsure) /* once, not at every tick it goes on */
				log_warnx("association %s: cannot read the state of link %s: %s; asking again",
					  cfg->associations[i].name, cfg->associations[i].ifname, strerror(-err));
			srv->links_unsure = true;
			continue;
		}
		if (up != srv->assoc_up[i]) {
			log_info("association %s: link %s is %s", cfg->associations[i].name, cfg->associations[i].ifname,
				 up ? "up" : "down");
			srv->assoc_up[i] = up;
			changed = true;
			came_up |= up;
		}
	}
	/* before any session returns to a link that came back; a missing interface was said above */
	if (reinstall || came_up || tun_back) {
		err = route_apply_assoc_tables(srv->policy);
		if (err < 0 && err != -ENODEV)
			log_warnx("cannot reinstall the associations' routing tables: %s", strerror(-err));
	}
	if (tun_back)
		log_info("%s is up again: its routes in the associations' tables are back", srv->tun_ifname);
	if (!changed)
		return;
	FOR_EACH_ENFORCED(srv, s) {
		long to = place(srv, s->assoc_home);

		if (to >= 0 && to != s->assoc_cur)
			move_session(srv, s, to, to == s->assoc_home ? "its association is back" :
									"its association is down");
	}
}

void enforce_on_link_events(struct server *srv)
{
	if (route_link_monitor_drain(srv->rtnl_fd) > 0)
		check_links(srv, true);
}

void enforce_check_links(struct server *srv)
{
	check_links(srv, false);
}

int enforce_explain(struct server *srv, const char *user, const char *group, uint32_t dst, int proto,
		    uint16_t port, struct policy_verdict *v)
{
	const char *groups_buf[1];
	const char *const *groups = NULL;
	size_t n_groups = 0;
	long assoc = -1;
	struct session *s, *live = NULL;

	if (group) {
		groups_buf[0] = group;
		groups = groups_buf;
		n_groups = 1;
	} else if (user) {
		FOR_EACH_ENFORCED(srv, s)
			if (!live && (session_user_is(s, user) || !strcmp(s->cn, user)))
				live = s;
		if (live) {
			groups = (const char *const *)live->groups;
			n_groups = live->n_groups;
			assoc = live->assoc_cur;
		} else {
			const struct config_identity *id = config_find_identity(srv->cfg, user);

			if (!id)
				return -ENOENT;
			groups = (const char *const *)id->groups;
			n_groups = id->n_groups;
		}
	}
	if (assoc < 0)
		assoc = place(srv, -1);
	if (assoc < 0)
		assoc = 0; /* nothing is up: explain as if the first association were */
	return policy_explain(srv->policy, groups, n_groups, policy_assoc_mark((size_t)assoc), dst, proto, port, v);
}

int enforce_render(struct server *srv, FILE *out)
{
	return policy_render_nft(srv->policy, NULL, 0, out);
}
