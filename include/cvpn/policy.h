/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_POLICY_H
#define CVPN_POLICY_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cvpn/config.h"

/* The endpoint's policy (semantics.md §2-§3) compiled from a parsed config into the objects of
 * `table inet cvpn` and the per-association routing tables. policy_compile, policy_profile, policy_explain
 * and policy_render_nft are pure (no I/O but the FILE they are handed); policy_nft_* (ctrl/policy_nft.c)
 * put the result into the kernel and route_apply_assoc_tables (ctrl/route.c) the routing tables.
 *
 * Marks. A packet from a client gets the mark of its session's association (routing: `ip rule fwmark`,
 * and the route check), or POLICY_MARK_LOCAL when it goes to a `local` route (client to client). Its
 * conntrack mark gets the session's profile: the id of its distinct set of groups, 1 being "no group that
 * any rule names" (all-users rules only).
 *
 * Authorization in the kernel is two lookups: the destination in the interval verdict map `authz` gives the
 * grant of its longest rule prefix (a chain per distinct grant, a "class"), and that chain asks whether the
 * session's profile is in the class's set of profiles. Elements: one per address span plus one per (class,
 * profile) pair, never one per (profile, span): a new group combination costs a few set elements. */

#define POLICY_MARK_BASE   0x00c50000u  /* association i: POLICY_MARK_BASE + 1 + i (0 is "no session") */
#define POLICY_MARK_LOCAL  0x00c5ffffu  /* route target `local`: the main table, out of the tun */
#define POLICY_TABLE_BASE  51000u       /* association i: routing table POLICY_TABLE_BASE + i */
#define POLICY_RULE_PRIO   5100u        /* association i: ip rule priority POLICY_RULE_PRIO + i */
#define POLICY_MAX_ASSOC   256u         /* tables 51000..51255, priorities 5100..5355 */
#define POLICY_RTPROT      0xc5         /* rtm_protocol of every route we install */
#define POLICY_PROFILE_ALL 1u           /* the profile of a session none of whose groups a rule names */
#define POLICY_NAME_MAX    96           /* chain names: prefix + sanitized config name + NUL */
#define POLICY_COMMENT_MAX 128          /* nft refuses longer comments */

static inline uint32_t policy_assoc_mark(size_t assoc_index)
{
	return POLICY_MARK_BASE + 1 + (uint32_t)assoc_index;
}

/* What the compiler cannot know from the file: the tun's name and each association's SNAT address (the
 * daemon reads it from the interface, route_iface_ipv4). snat_addr[i] belongs to cfg->associations[i]. */
struct policy_env {
	const char *tun_ifname;
	const uint32_t *snat_addr;   /* host order, n_assoc of them */
	size_t n_assoc;
	/* IPv4 forwarding was off before cvpnd turned it on: the forward chain then drops everything that is
	 * not clients' traffic, so a crash that leaves forwarding on opens nothing (the table outlives us) */
	bool forward_clients_only;
};

/* One live session as the kernel sees it: sess_assoc[addr] = mark, sess_profile[addr] = profile. */
struct policy_session {
	uint32_t addr;               /* client address, host order */
	uint32_t profile;            /* policy_profile() */
	uint32_t mark;               /* policy_assoc_mark(index of the session's association) */
};

/* ---- the compiled ruleset: chains of structured rules ---- */

enum policy_match_type {
	POLICY_M_IIF,                /* iifname "ifname" */
	POLICY_M_OIF,                /* oifname "ifname" */
	POLICY_M_SADDR,              /* ip saddr [!=] cidr */
	POLICY_M_DADDR,              /* ip daddr [!=] cidr */
	POLICY_M_L4PROTO,            /* meta l4proto proto (folded into "tcp dport" when a port follows) */
	POLICY_M_DPORT,              /* th dport lo-hi; always after an L4PROTO match */
	POLICY_M_MARK,               /* meta mark value */
	POLICY_M_CT_ESTREL,          /* ct state established,related */
	POLICY_M_CT_REPLY,           /* ct direction reply */
	POLICY_M_CT_ORIG_SADDR,      /* ct original ip saddr cidr */
	POLICY_M_MARK_DADDR_IN,      /* meta mark . ip daddr [!=] @set */
	POLICY_M_CTMARK_IN,          /* ct mark @set */
};

struct policy_match {
	enum policy_match_type type;
	bool neg;
	struct cidr4 cidr;
	int proto;
	uint16_t port_lo, port_hi;
	uint32_t value;
	char ifname[IF_NAMESIZE];
	const char *set;             /* "routes", or a class's set name (owned by the policy) */
};

enum policy_stmt_type {
	POLICY_S_NONE,
	POLICY_S_MARK_FROM_MAP,      /* meta mark set ip saddr map @map */
	POLICY_S_CTMARK_FROM_MAP,    /* ct mark set ip saddr map @map */
	POLICY_S_MARK_FROM_MAP_ORIG, /* meta mark set ct original ip saddr map @map */
	POLICY_S_MARK_SET,           /* meta mark set value */
	POLICY_S_SNAT,               /* snat ip to value (after the counter) */
};

enum policy_verdict_type {
	POLICY_V_NONE, POLICY_V_ACCEPT, POLICY_V_DROP, POLICY_V_RETURN, POLICY_V_JUMP, POLICY_V_GOTO,
	POLICY_V_DADDR_VMAP,         /* ip daddr vmap @map (the rule's map) */
};

#define POLICY_MAX_MATCH 8

struct policy_rule {
	struct policy_match m[POLICY_MAX_MATCH];
	size_t n_match;
	enum policy_stmt_type stmt;
	uint32_t stmt_value;
	const char *map;             /* static name for the *_FROM_MAP statements and POLICY_V_DADDR_VMAP */
	bool counter;
	enum policy_verdict_type verdict;
	char target[POLICY_NAME_MAX];   /* chain for JUMP / GOTO */
	char comment[POLICY_COMMENT_MAX];
};

enum policy_hook {
	POLICY_HOOK_NONE,
	POLICY_HOOK_PREROUTING,
	POLICY_HOOK_INPUT,
	POLICY_HOOK_FORWARD,
	POLICY_HOOK_POSTROUTING
};

struct policy_chain {
	char name[POLICY_NAME_MAX];
	enum policy_hook hook;       /* NONE: a regular chain */
	struct policy_rule *rules;
	size_t n_rules, cap;
};

/* ---- the compiled sets ---- */

struct policy_interval {
	uint32_t lo, hi;             /* inclusive, host order */
};

/* Disjoint, sorted, merged intervals under one key (a profile id or an association mark). */
struct policy_iset {
	uint32_t key;
	struct policy_interval *iv;
	size_t n, cap;
};

/* A distinct prefix named by authorization rules, and what it grants. */
struct policy_authz_prefix {
	struct cidr4 cidr;
	bool all_users;
	uint32_t *groups;            /* sorted group ids (index into policy->groups) */
	size_t n_groups;
	size_t *rules;               /* indexes into cfg->authz_rules with exactly this prefix */
	size_t n_rules;
	size_t cls;                  /* index into policy->classes */
};

/* The address space split at every rule prefix boundary: each piece has one longest covering prefix. */
struct policy_authz_piece {
	uint32_t lo, hi;
	long winner;                 /* index into policy->prefixes, -1 when no rule covers it */
};

/* A distinct grant (all users, or a set of groups): its chain and its set of profiles share the name. */
struct policy_authz_class {
	bool all_users;              /* every session: the chain has no set */
	const uint32_t *groups;      /* sorted group ids, borrowed from one of its prefixes */
	size_t n_groups;
	char name[POLICY_NAME_MAX];  /* "grant_all", "grant_1", ... */
};

/* Consecutive pieces with the same class, merged: the elements of the `authz` verdict map. */
struct policy_authz_span {
	uint32_t lo, hi;
	size_t cls;
};

struct policy_profile {
	uint32_t id;                 /* 1.. */
	uint32_t *groups;            /* sorted group ids: only groups some rule names */
	size_t n_groups;
};

struct policy_rt_entry {
	struct cidr4 dst;
	uint32_t via;                /* 0: on-link */
	uint32_t src;                /* preferred source, 0 for none */
	bool to_tun;                 /* on-link through the tun (the client CIDR), not the association's link */
};

/* Association i's routing table and the ip rule that selects it. */
struct policy_rtable {
	uint32_t table, mark, priority;
	/* the subnet has a route table: a destination it does not route is unreachable (a default route of
	 * type unreachable, last), not looked up in the host's main table */
	bool closed;
	char ifname[IF_NAMESIZE];
	struct policy_rt_entry *entries;   /* [0] is the subnet's on-link route with src = SNAT address, the last
					    * the client CIDR through the tun */
	size_t n_entries;
};

struct policy_assoc {
	const struct config_association *cfg;
	uint32_t mark;
	uint32_t snat_addr;
	char chain_sg[POLICY_NAME_MAX];      /* "" when the association has no security group */
	char chain_acl_out[POLICY_NAME_MAX]; /* "" when it has no network ACL */
	char chain_acl_in[POLICY_NAME_MAX];
	const struct config_network_acl *acl;
	const struct config_acl_rule **acl_out, **acl_in;   /* sorted by rule number */
	size_t n_acl_out, n_acl_in;
};

struct policy {
	const struct config *cfg;    /* borrowed: must outlive the policy */
	char tun_ifname[IF_NAMESIZE];
	bool forward_clients_only;   /* policy_env's */
	struct policy_assoc *assocs;
	size_t n_assocs;

	struct policy_chain *chains;
	size_t n_chains;

	char **groups;               /* sorted names of the groups authorization rules name */
	size_t n_groups;
	struct policy_authz_prefix *prefixes;
	size_t n_prefixes;
	struct policy_authz_piece *pieces;
	size_t n_pieces;
	struct policy_authz_class *classes;
	size_t n_classes;
	struct policy_authz_span *spans;
	size_t n_spans;
	struct policy_profile *profiles;
	size_t n_profiles, cap_profiles;

	struct policy_iset *routes;  /* one per association mark with routes, then POLICY_MARK_LOCAL */
	size_t n_routes;
	struct cidr4 *local_dsts;    /* destinations of `local` routes */
	size_t n_local_dsts;

	struct policy_rtable *rtables;
	size_t n_rtables;
};

/* Compiles cfg (already validated by config_load) for env. On success *out owns a new policy that borrows
 * cfg. Returns 0, -EINVAL (the reason written to errs as "file:line: message"; errs may be NULL) or
 * -ENOMEM. Profile POLICY_PROFILE_ALL always exists. */
int policy_compile(const struct config *cfg, const struct policy_env *env, struct policy **out, FILE *errs);
void policy_free(struct policy *p);

/* The profile of a session with these groups (order and duplicates do not matter, names no rule uses are
 * ignored). Registers a new profile when the set is new (*is_new, may be NULL; policy_nft_profile_add then
 * puts it into the kernel). Returns the id, 0 when out of memory. */
uint32_t policy_profile(struct policy *p, const char *const *groups, size_t n, bool *is_new);
/* Takes back the profile policy_profile just registered (the last one) when the kernel refused it: else
 * every later session with those groups would get an id that no grant set holds, and be denied. */
void policy_profile_forget(struct policy *p, uint32_t id);
const struct policy_profile *policy_profile_get(const struct policy *p, uint32_t id);
/* Whether class c grants profile pr: it is an all-users class or they share a group (c's set holds pr). */
bool policy_class_grants(const struct policy_authz_class *c, const struct policy_profile *pr);
/* What the compiled kernel objects decide for (profile, destination): the span holding dst, then its
 * class's set. For tests that check the objects against policy_explain. */
bool policy_authz_compiled(const struct policy *p, uint32_t profile, uint32_t dst);

/* Writes the whole table in nft syntax (what `nft -f` loads), sessions' elements included. 0 or -EIO. */
int policy_render_nft(const struct policy *p, const struct policy_session *sessions, size_t n, FILE *out);

/* ---- why a packet passes or dies (ctrl/policy_explain.c) ---- */

#define POLICY_EPHEMERAL_LO 32768    /* Linux's default net.ipv4.ip_local_port_range */
#define POLICY_EPHEMERAL_HI 60999

enum policy_stage {
	POLICY_STAGE_NONE, POLICY_STAGE_AUTHZ, POLICY_STAGE_ROUTE, POLICY_STAGE_SG, POLICY_STAGE_ACL_OUT,
	POLICY_STAGE_ACL_IN,
};

enum policy_acl_result {
	POLICY_ACL_NONE,             /* the association has no network ACL: everything allowed */
	POLICY_ACL_SKIPPED,          /* both ends in the subnet: not evaluated */
	POLICY_ACL_RULE,             /* decided by rule acl_rule (allow or deny) */
	POLICY_ACL_IMPLICIT_DENY,
	POLICY_ACL_NOT_REACHED,      /* no association (no route, or a local route) */
};

enum policy_sg_result { POLICY_SG_NONE, POLICY_SG_ALLOW, POLICY_SG_DENY, POLICY_SG_NOT_REACHED };

struct policy_acl_verdict {
	enum policy_acl_result result;
	bool allow;
	uint32_t rule;               /* rule number, for POLICY_ACL_RULE */
	int line;
};

#define POLICY_MAX_STEPS 8

struct policy_verdict {
	bool pass;
	enum policy_stage drop_stage;     /* first stage that drops; NONE when pass */
	/* authorization: the longest rule prefix containing dst, and the rule that grants it */
	bool authz_covered;
	struct cidr4 authz_prefix;
	long authz_rule;                  /* index into cfg->authz_rules, -1 when none grants */
	/* client-VPN route */
	long route;                       /* index into cfg->routes, -1 when none */
	long assoc;                       /* index into cfg->associations, -1 none or local */
	bool local;
	/* security groups */
	enum policy_sg_result sg;
	long sg_group, sg_rule;           /* index into cfg->security_groups / its egress[] */
	struct policy_acl_verdict acl_out, acl_in;
	uint32_t snat_addr;               /* 0 when not SNATed */
	/* human-readable: one line per stage */
	char steps[POLICY_MAX_STEPS][320];
	size_t n_steps;
};

/* Evaluates a packet from a session with these groups, placed on the association with mark
 * assoc_mark_of_session, to dst (host order), proto (6, 17, 1, ...) and port (destination port; ignored
 * without ports), as the compiled kernel ruleset would. 0 or -EINVAL. */
int policy_explain(const struct policy *p, const char *const *groups, size_t n_groups,
		   uint32_t assoc_mark_of_session, uint32_t dst, int proto, uint16_t port, struct policy_verdict *v);
/* Text (one line per step, then the verdict) or one JSON object. 0 or -EIO / -ENOMEM. */
int policy_verdict_print(const struct policy_verdict *v, FILE *out, bool json);

/* ---- the kernel (ctrl/policy_nft.c): 0 or -errno, never print ---- */

/* Replaces `table inet cvpn` with p and the sessions' elements in one batch. dry_run: the kernel checks
 * the batch and discards it. */
int policy_nft_apply(const struct policy *p, const struct policy_session *s, size_t n, bool dry_run);
/* One session's two map elements, in one small batch. */
int policy_nft_session_add(uint32_t addr, uint32_t profile, uint32_t mark);
int policy_nft_session_del(uint32_t addr);
/* The authz elements of a profile registered after policy_nft_apply. */
int policy_nft_profile_add(const struct policy *p, uint32_t profile);

#endif
