// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for the policy compiler (ctrl/policy.c), its nft rendering and policy_explain: pure, no root.
 * Configs are real YAML through config_load, written into a temporary directory with throwaway PKI files.
 * Golden files: test/unit/golden/NAME.yaml -> NAME.nft (run from the repository root; GOLDEN_UPDATE=1
 * rewrites the .nft files). */
#define _XOPEN_SOURCE 700  /* nftw */
#define _DEFAULT_SOURCE
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cvpn/config.h"
#include "cvpn/policy.h"

#include "check_run.h"

#define IP4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))
#define GOLDEN_DIR "test/unit/golden"

static char tmpdir[PATH_MAX];

/* ---- fixture ---- */

static void write_file(const char *rel, const char *text, mode_t mode)
{
	char path[PATH_MAX + 64];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(path, mode), 0);
}

static void setup(void)
{
	char pki[PATH_MAX + 8];

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/cvpn-test-policy-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(pki, sizeof(pki), "%s/pki", tmpdir);
	ck_assert_int_eq(mkdir(pki, 0700), 0);
	/* config_load checks only that these exist and the key's mode */
	write_file("pki/server.crt", "cert\n", 0644);
	write_file("pki/server.key", "key\n", 0600);
	write_file("pki/ca.crt", "ca\n", 0644);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void teardown(void)
{
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- helpers ---- */

struct fx {
	struct config *cfg;
	struct policy *p;
	uint32_t snat[8];
};

#define HEAD "endpoint:\n  server-certificate: pki/server.crt\n  server-key: pki/server.key\n" \
	     "  client-ca: pki/ca.crt\n  client-cidr: 100.64.0.0/22\n"
#define ASSOC_A "associations:\n  - { name: subnet-a, interface: cvpn-a, subnet: 198.18.1.0/24 }\n"
#define ROUTE_ALL "routes:\n  - { destination: 0.0.0.0/0, target: subnet-a }\n"

static struct config *load(const char *yaml)
{
	char path[PATH_MAX + 16], *errs = NULL;
	size_t len = 0;
	struct config *cfg = NULL;
	FILE *ef = open_memstream(&errs, &len);
	int ret;

	ck_assert_ptr_nonnull(ef);
	write_file("endpoint.yaml", yaml, 0644);
	snprintf(path, sizeof(path), "%s/endpoint.yaml", tmpdir);
	ret = config_load(path, ef, &cfg);
	fclose(ef);
	ck_assert_msg(ret == 0, "config_load: %s\n%s", errs, yaml);
	free(errs);
	return cfg;
}

static struct fx compile(const char *yaml)
{
	struct fx f = { .cfg = load(yaml) };
	struct policy_env env = { "cvpn-tun0", f.snat, f.cfg->n_associations, false };
	int ret;

	ck_assert_uint_le(f.cfg->n_associations, 8);
	for (size_t i = 0; i < f.cfg->n_associations; i++)
		f.snat[i] = f.cfg->associations[i].subnet.addr + 1;   /* first host of its subnet */
	ret = policy_compile(f.cfg, &env, &f.p, stderr);
	ck_assert_int_eq(ret, 0);
	return f;
}

static void fx_free(struct fx *f)
{
	policy_free(f->p);
	config_free(f->cfg);
}

/* authz rules in YAML from "group CIDR" pairs ("*" = all users) */
static char *authz_yaml(const char *const *rules, size_t n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(f);
	fputs(HEAD ASSOC_A ROUTE_ALL "authorization-rules:\n", f);
	for (size_t i = 0; i < n; i++) {
		char g[32], c[32];

		ck_assert_int_eq(sscanf(rules[i], "%31s %31s", g, c), 2);
		if (!strcmp(g, "*"))
			fprintf(f, "  - { destination: %s, all-users: true }\n", c);
		else
			fprintf(f, "  - { destination: %s, group: %s }\n", c, g);
	}
	fclose(f);
	return buf;
}

static struct fx compile_rules(const char *const *rules, size_t n)
{
	char *y = authz_yaml(rules, n);
	struct fx f = compile(y);

	free(y);
	return f;
}

/* Does a session with the one group g (NULL: none) get to dst? Asked through policy_explain, and checked
 * against the compiled kernel objects (the destination's span, its class's set of profiles) so both views
 * agree. */
static bool reaches(struct fx *f, const char *g, uint32_t dst)
{
	const char *groups[1] = { g };
	struct policy_verdict v;
	uint32_t id = policy_profile(f->p, groups, g ? 1 : 0, NULL);

	ck_assert_int_eq(policy_explain(f->p, groups, g ? 1 : 0, policy_assoc_mark(0), dst, 6, 443, &v), 0);
	ck_assert_ptr_nonnull(policy_profile_get(f->p, id));
	ck_assert_msg(policy_authz_compiled(f->p, id, dst) == (v.authz_rule >= 0),
		      "explain and the compiled objects disagree for %s", g);
	return v.authz_rule >= 0;
}

/* Test addresses standing in for the doc's: eng 172.16.0.0/24 -> 203.0.113.0/24, dev 10.0.0.0/16 ->
 * 198.18.0.0/16, mgr 192.168.0.0/24 -> 198.19.0.0/24, host 10.0.2.119 -> 198.18.2.119, "internet" ->
 * 192.0.2.10. */
#define E_NET   "203.0.113.0/24"
#define E_ADDR  IP4(203, 0, 113, 5)
#define E_HIGH  IP4(203, 0, 113, 200)
#define D_NET   "198.18.0.0/16"
#define D_ADDR  IP4(198, 18, 7, 7)
#define D_HOST  IP4(198, 18, 2, 119)
#define M_NET   "198.19.0.0/24"
#define M_ADDR  IP4(198, 19, 0, 5)
#define NET_ADDR IP4(192, 0, 2, 10)

/* ---- semantics.md §2 worked examples, one row each ---- */

START_TEST(test_worked_row1)
{
	static const char *const r[] = { "eng " E_NET, "dev " D_NET, "mgr " M_NET };
	struct fx f = compile_rules(r, 3);

	ck_assert(reaches(&f, "eng", E_ADDR));
	ck_assert(!reaches(&f, "eng", D_ADDR));
	ck_assert(!reaches(&f, "eng", M_ADDR));
	ck_assert(reaches(&f, "dev", D_ADDR));
	ck_assert(!reaches(&f, "dev", E_ADDR));
	ck_assert(reaches(&f, "mgr", M_ADDR));
	ck_assert(!reaches(&f, "mgr", D_ADDR));
	/* no internet for anyone, default deny for a user without groups */
	ck_assert(!reaches(&f, "eng", NET_ADDR));
	ck_assert(!reaches(&f, "dev", NET_ADDR));
	ck_assert(!reaches(&f, "mgr", NET_ADDR));
	ck_assert(!reaches(&f, NULL, E_ADDR));
	fx_free(&f);
}
END_TEST

START_TEST(test_worked_row2)
{
	static const char *const r[] = { "eng " E_NET, "dev " D_NET, "mgr 0.0.0.0/0" };
	struct fx f = compile_rules(r, 3);

	ck_assert(reaches(&f, "mgr", NET_ADDR));
	ck_assert(reaches(&f, "mgr", M_ADDR));     /* no rule names it any more: 0/0 covers it */
	ck_assert(!reaches(&f, "mgr", E_ADDR));
	ck_assert(!reaches(&f, "mgr", D_ADDR));
	ck_assert(!reaches(&f, "eng", NET_ADDR));
	ck_assert(reaches(&f, "eng", E_ADDR));
	fx_free(&f);
}
END_TEST

START_TEST(test_worked_row3)
{
	static const char *const r[] = { "eng " E_NET, "dev " D_NET, "mgr 0.0.0.0/0", "mgr 198.18.2.119/32" };
	struct fx f = compile_rules(r, 4);
	struct policy_verdict v;
	const char *dev[] = { "dev" };

	ck_assert(!reaches(&f, "dev", D_HOST));
	ck_assert(reaches(&f, "dev", D_HOST + 1));
	ck_assert(reaches(&f, "dev", D_HOST - 1));
	ck_assert(reaches(&f, "mgr", D_HOST));
	ck_assert(!reaches(&f, "mgr", D_ADDR));    /* only that host of dev's /16 */
	ck_assert(reaches(&f, "mgr", NET_ADDR));
	/* the explanation names the winning /32 */
	ck_assert_int_eq(policy_explain(f.p, dev, 1, policy_assoc_mark(0), D_HOST, 6, 22, &v), 0);
	ck_assert(!v.pass);
	ck_assert_int_eq(v.drop_stage, POLICY_STAGE_AUTHZ);
	ck_assert(v.authz_covered);
	ck_assert_uint_eq(v.authz_prefix.addr, D_HOST);
	ck_assert_uint_eq(v.authz_prefix.len, 32);
	ck_assert_ptr_nonnull(strstr(v.steps[0], "198.18.2.119/32"));
	ck_assert_ptr_nonnull(strstr(v.steps[0], "no fallback"));
	fx_free(&f);
}
END_TEST

START_TEST(test_worked_row4)
{
	static const char *const r[] = { "eng " E_NET, "dev " D_NET, "mgr 0.0.0.0/0", "mgr 198.18.2.119/32",
					 "eng 203.0.113.128/25" };
	struct fx f = compile_rules(r, 5);

	ck_assert(reaches(&f, "eng", E_ADDR));
	ck_assert(reaches(&f, "eng", E_HIGH));
	ck_assert(!reaches(&f, "mgr", E_HIGH));
	ck_assert(!reaches(&f, "dev", E_HIGH));
	fx_free(&f);
}
END_TEST

START_TEST(test_worked_row5)
{
	static const char *const r[] = { "eng " E_NET, "dev " D_NET, "mgr 0.0.0.0/0", "mgr 198.18.2.119/32",
					 "eng 203.0.113.128/25", "eng 0.0.0.0/0" };
	struct fx f = compile_rules(r, 6);

	ck_assert(reaches(&f, "eng", M_ADDR));
	ck_assert(reaches(&f, "mgr", M_ADDR));
	ck_assert(reaches(&f, "eng", NET_ADDR));
	ck_assert(!reaches(&f, "eng", D_ADDR));     /* dev's CIDR is named: 0/0 does not cover it */
	ck_assert(!reaches(&f, "dev", M_ADDR));
	fx_free(&f);
}
END_TEST

START_TEST(test_worked_row6)
{
	static const char *const r[] = { "eng " E_NET, "dev " D_NET, "mgr 0.0.0.0/0", "mgr 198.18.2.119/32",
					 "eng 203.0.113.128/25", "eng 0.0.0.0/0", "* 0.0.0.0/0" };
	struct fx f = compile_rules(r, 7);

	ck_assert(reaches(&f, "other", NET_ADDR));
	ck_assert(reaches(&f, NULL, NET_ADDR));
	ck_assert(reaches(&f, "dev", NET_ADDR));
	ck_assert(!reaches(&f, "other", E_ADDR));
	ck_assert(!reaches(&f, "other", D_ADDR));
	ck_assert(!reaches(&f, "other", D_HOST));
	ck_assert(!reaches(&f, NULL, E_HIGH));
	ck_assert(reaches(&f, "dev", D_ADDR));
	fx_free(&f);
}
END_TEST

/* ---- the compiled intervals ---- */

#define MAX_IVS 64

/* The destinations a profile reaches in the compiled objects: the spans whose class grants it, merged. */
static size_t profile_ivs(const struct policy *p, uint32_t id, uint32_t out[MAX_IVS][2])
{
	const struct policy_profile *pr = policy_profile_get(p, id);
	size_t n = 0;

	ck_assert_ptr_nonnull(pr);
	for (size_t i = 0; i < p->n_spans; i++) {
		const struct policy_authz_span *sp = &p->spans[i];

		if (i)
			ck_assert_msg(p->spans[i - 1].hi < sp->lo, "spans overlap or are unsorted");
		if (i && p->spans[i - 1].cls == sp->cls)
			ck_assert_msg(p->spans[i - 1].hi + 1 < sp->lo, "touching spans of one class not merged");
		if (!policy_class_grants(&p->classes[sp->cls], pr))
			continue;
		if (n && out[n - 1][1] != UINT32_MAX && out[n - 1][1] + 1 == sp->lo) {
			out[n - 1][1] = sp->hi;
			continue;
		}
		ck_assert_uint_lt(n, MAX_IVS);
		out[n][0] = sp->lo;
		out[n][1] = sp->hi;
		n++;
	}
	return n;
}

static void assert_ivs(const struct policy *p, uint32_t id, const uint32_t (*want)[2], size_t n)
{
	uint32_t got[MAX_IVS][2];
	size_t k = profile_ivs(p, id, got);

	ck_assert_msg(k == n, "%zu intervals, want %zu", k, n);
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_eq(got[i][0], want[i][0]);
		ck_assert_uint_eq(got[i][1], want[i][1]);
	}
}

START_TEST(test_lpm_nested_adjacent)
{
	static const char *const r[] = { "* 198.18.0.0/16", "eng 198.18.2.0/24", "* 198.18.2.128/25",
					 "* 198.18.3.0/24", "* 203.0.113.7/32" };
	static const uint32_t all[][2] = {
		{ IP4(198, 18, 0, 0), IP4(198, 18, 1, 255) },
		/* 2.128/25, then 3.0/24 and the rest of the /16: adjacent, merged */
		{ IP4(198, 18, 2, 128), IP4(198, 18, 255, 255) },
		{ IP4(203, 0, 113, 7), IP4(203, 0, 113, 7) },
	};
	static const uint32_t eng[][2] = {
		{ IP4(198, 18, 0, 0), IP4(198, 18, 255, 255) },
		{ IP4(203, 0, 113, 7), IP4(203, 0, 113, 7) },
	};
	struct fx f = compile_rules(r, 5);
	const char *g[] = { "eng" };
	uint32_t id = policy_profile(f.p, g, 1, NULL);

	assert_ivs(f.p, POLICY_PROFILE_ALL, all, 3);
	assert_ivs(f.p, id, eng, 2);
	fx_free(&f);
}
END_TEST

START_TEST(test_lpm_default_and_edges)
{
	static const char *const r[] = { "* 0.0.0.0/0", "eng 198.18.0.0/15", "eng 255.255.255.255/32",
					 "eng 0.0.0.0/32" };
	static const uint32_t all[][2] = {
		{ IP4(0, 0, 0, 1), IP4(198, 17, 255, 255) },
		{ IP4(198, 20, 0, 0), IP4(255, 255, 255, 254) },
	};
	static const uint32_t eng[][2] = { { 0, UINT32_MAX } };
	struct fx f = compile_rules(r, 4);
	const char *g[] = { "eng" };
	uint32_t id = policy_profile(f.p, g, 1, NULL);

	assert_ivs(f.p, POLICY_PROFILE_ALL, all, 2);
	assert_ivs(f.p, id, eng, 1);
	/* no rule at all: nothing for anyone */
	fx_free(&f);
	f = compile_rules(NULL, 0);
	ck_assert_uint_eq(f.p->n_spans, 0);
	ck_assert(!reaches(&f, "eng", NET_ADDR));
	fx_free(&f);
}
END_TEST

/* Straight from semantics.md §2, with no cleverness: the reference the compiled intervals must match. */
static bool oracle(const struct config *cfg, const char *const *groups, size_t ng, uint32_t dst)
{
	int best = -1;
	bool allow = false;

	for (size_t i = 0; i < cfg->n_authz_rules; i++) {
		struct cidr4 c = cfg->authz_rules[i].dst;
		uint32_t mask = c.len ? ~0u << (32 - c.len) : 0;

		if ((dst & mask) == c.addr && c.len > best)
			best = c.len;
	}
	for (size_t i = 0; best >= 0 && i < cfg->n_authz_rules; i++) {
		const struct config_authz_rule *z = &cfg->authz_rules[i];
		uint32_t mask = z->dst.len ? ~0u << (32 - z->dst.len) : 0;

		if ((dst & mask) != z->dst.addr || z->dst.len != best)
			continue;
		if (z->all_users)
			allow = true;
		for (size_t g = 0; g < ng; g++)
			allow |= z->group && !strcmp(z->group, groups[g]);
	}
	return allow;
}

START_TEST(test_lpm_random)
{
	static const char *const names[] = { "eng", "dev", "mgr", "*" };
	static const uint8_t lens[] = { 0, 8, 12, 15, 16, 20, 23, 24, 25, 28, 31, 32 };
	const char *sets[][2] = { { NULL, NULL }, { "eng", NULL }, { "dev", "mgr" }, { "eng", "dev" } };
	const size_t nsets[] = { 0, 1, 2, 2 };
	char buf[64][48];
	const char *rules[64];
	unsigned seed = 12345;

	for (int round = 0; round < 20; round++) {
		size_t n = 1 + (size_t)(rand_r(&seed) % 40);
		struct fx f;
		size_t k = 0;

		for (size_t i = 0; i < n; i++) {
			/* addresses clustered in 198.18.0.0/15 so prefixes nest and touch often */
			uint8_t len = lens[rand_r(&seed) % sizeof(lens)];
			uint32_t a = IP4(198, 18, 0, 0) | ((uint32_t)rand_r(&seed) & 0x1ffff);
			uint32_t mask = len ? ~0u << (32 - len) : 0;
			bool dup = false;

			a &= mask;
			snprintf(buf[k], sizeof(buf[k]), "%s %u.%u.%u.%u/%u", names[rand_r(&seed) % 4], a >> 24,
				 (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff, len);
			for (size_t j = 0; j < k; j++)
				dup |= !strcmp(buf[j], buf[k]);
			if (!dup) {
				rules[k] = buf[k];
				k++;
			}
		}
		f = compile_rules(rules, k);
		for (size_t s = 0; s < 4; s++) {
			uint32_t id = policy_profile(f.p, sets[s], nsets[s], NULL);

			ck_assert_ptr_nonnull(policy_profile_get(f.p, id));
			/* spans disjoint, sorted, and merged where one class continues */
			for (size_t i = 0; i + 1 < f.p->n_spans; i++) {
				ck_assert_uint_lt(f.p->spans[i].hi, f.p->spans[i + 1].lo);
				ck_assert(f.p->spans[i].cls != f.p->spans[i + 1].cls ||
					  f.p->spans[i].hi + 1 < f.p->spans[i + 1].lo);
			}
			for (int t = 0; t < 3000; t++) {
				uint32_t dst = t < 2 ? (t ? UINT32_MAX : 0) :
					       IP4(198, 18, 0, 0) | ((uint32_t)rand_r(&seed) & 0x1ffff);

				/* probe both sides of span edges too */
				if (t % 3 == 0 && f.p->n_spans) {
					const struct policy_authz_span *sp = &f.p->spans[(size_t)t % f.p->n_spans];

					dst = t % 2 ? sp->lo - 1 : sp->hi + 1;
				}
				ck_assert_msg(policy_authz_compiled(f.p, id, dst) ==
						      oracle(f.cfg, sets[s], nsets[s], dst),
					      "round %d set %zu dst %08x", round, s, dst);
			}
		}
		fx_free(&f);
	}
}
END_TEST

START_TEST(test_profile_registry)
{
	static const char *const r[] = { "eng " E_NET, "dev " D_NET, "mgr " M_NET };
	struct fx f = compile_rules(r, 3);
	const char *a[] = { "eng", "dev" }, *b[] = { "dev", "eng", "dev", "sales" }, *c[] = { "sales" },
		   *d[] = { "mgr" };
	bool is_new = false;
	uint32_t ida, idb;

	ck_assert_uint_eq(f.p->n_profiles, 1);
	ck_assert_uint_eq(policy_profile(f.p, NULL, 0, &is_new), POLICY_PROFILE_ALL);
	ck_assert(!is_new);
	/* a group no rule names changes nothing */
	ck_assert_uint_eq(policy_profile(f.p, c, 1, &is_new), POLICY_PROFILE_ALL);
	ck_assert(!is_new);
	ida = policy_profile(f.p, a, 2, &is_new);
	ck_assert(is_new);
	ck_assert_uint_eq(ida, 2);
	/* order, duplicates and unknown names do not make a new profile */
	idb = policy_profile(f.p, b, 4, &is_new);
	ck_assert(!is_new);
	ck_assert_uint_eq(idb, ida);
	ck_assert_uint_eq(policy_profile(f.p, d, 1, &is_new), 3);
	ck_assert(is_new);
	ck_assert_uint_eq(f.p->n_profiles, 3);
	/* the kernel refused it: forgotten, and the next session with those groups registers it again (as
	 * new, so that it is installed); only the profile just registered can be taken back */
	policy_profile_forget(f.p, ida);
	policy_profile_forget(f.p, POLICY_PROFILE_ALL);
	ck_assert_uint_eq(f.p->n_profiles, 3);
	policy_profile_forget(f.p, 3);
	ck_assert_uint_eq(f.p->n_profiles, 2);
	ck_assert_uint_eq(policy_profile(f.p, d, 1, &is_new), 3);
	ck_assert(is_new);
	ck_assert_uint_eq(f.p->n_profiles, 3);
	/* what the new profile reaches in the compiled objects: eng's and dev's CIDRs, in address order */
	{
		uint32_t got[MAX_IVS][2];

		ck_assert_uint_eq(profile_ivs(f.p, ida, got), 2);
		ck_assert_uint_eq(got[0][0], IP4(198, 18, 0, 0));
		ck_assert_uint_eq(got[1][0], IP4(203, 0, 113, 0));
	}
	/* three groups, three classes; a profile is in the sets of exactly the classes of its groups */
	ck_assert_uint_eq(f.p->n_classes, 3);
	for (size_t k = 0; k < f.p->n_classes; k++) {
		const struct policy_authz_class *cl = &f.p->classes[k];
		const char *gname = f.p->groups[cl->groups[0]];

		ck_assert(!cl->all_users);
		ck_assert_uint_eq(cl->n_groups, 1);
		ck_assert(policy_class_grants(cl, policy_profile_get(f.p, ida)) == (strcmp(gname, "mgr") != 0));
		ck_assert(policy_class_grants(cl, policy_profile_get(f.p, 3)) == !strcmp(gname, "mgr"));
		ck_assert(!policy_class_grants(cl, policy_profile_get(f.p, POLICY_PROFILE_ALL)));
	}
	ck_assert_ptr_null(policy_profile_get(f.p, 0));
	ck_assert_ptr_null(policy_profile_get(f.p, 4));
	fx_free(&f);
}
END_TEST

/* ---- routes, security groups, ACLs ---- */

static const char two_assoc_yaml[] = HEAD
	"associations:\n"
	"  - { name: subnet-a, interface: cvpn-a, subnet: 198.18.1.0/24, security-groups: [sg-web, sg-dns],\n"
	"      network-acl: acl-a, route-table: rt-a }\n"
	"  - { name: subnet-b, interface: cvpn-b, subnet: 198.18.3.0/24 }\n"
	"routes:\n"
	"  - { destination: 198.18.2.0/24, target: subnet-a }\n"
	"  - { destination: 198.18.2.0/24, target: subnet-b }\n"
	"  - { destination: 0.0.0.0/0, target: subnet-a }\n"
	"  - { destination: 100.64.0.0/23, target: local }\n"
	"authorization-rules:\n"
	"  - { destination: 0.0.0.0/0, all-users: true }\n"
	"security-groups:\n"
	"  - name: sg-web\n"
	"    egress:\n"
	"      - { protocol: tcp, ports: 443, destination: 198.18.0.0/15 }\n"
	"      - { protocol: tcp, ports: 8000-8999, destination: 198.18.2.0/24 }\n"
	"  - name: sg-dns\n"
	"    egress:\n"
	"      - { protocol: udp, ports: 53, destination: 198.18.2.53 }\n"
	"      - { protocol: icmp, destination: 0.0.0.0/0 }\n"
	"network-acls:\n"
	"  - name: acl-a\n"
	"    outbound:\n"
	"      - { rule: 200, action: allow, protocol: all, cidr: 0.0.0.0/0 }\n"
	"      - { rule: 100, action: deny, protocol: tcp, ports: 8080, cidr: 198.18.2.0/24 }\n"
	"    inbound:\n"
	"      - { rule: 100, action: allow, protocol: tcp, ports: 1024-65535, cidr: 198.18.2.0/24 }\n"
	"      - { rule: 50, action: deny, protocol: udp, ports: 40000-40100, cidr: 0.0.0.0/0 }\n"
	"      - { rule: 110, action: allow, protocol: udp, ports: 1024-65535, cidr: 0.0.0.0/0 }\n"
	"      - { rule: 120, action: allow, protocol: icmp, cidr: 198.18.2.0/24 }\n"
	"      - { rule: 130, action: allow, protocol: tcp, ports: 40000-50000, cidr: 198.19.0.0/16 }\n"
	"route-tables:\n"
	"  - name: rt-a\n"
	"    routes:\n"
	"      - { destination: 198.18.2.0/24, via: 198.18.1.254 }\n"
	"      - { destination: 198.18.1.0/24 }\n"
	"      - { destination: 0.0.0.0/0, via: 198.18.1.253 }\n";

START_TEST(test_routes_per_association)
{
	struct fx f = compile(two_assoc_yaml);
	const struct policy *p = f.p;
	uint32_t ma = policy_assoc_mark(0), mb = policy_assoc_mark(1);

	ck_assert_uint_eq(ma, 0x00c50001);
	ck_assert_uint_eq(mb, 0x00c50002);
	ck_assert_uint_eq(p->n_routes, 3);
	/* subnet-a: 0/0 with the client CIDR cut out (its own subnet and 198.18.2.0/24 fall inside) */
	ck_assert_uint_eq(p->routes[0].key, ma);
	ck_assert_uint_eq(p->routes[0].n, 2);
	ck_assert_uint_eq(p->routes[0].iv[0].lo, 0);
	ck_assert_uint_eq(p->routes[0].iv[0].hi, IP4(100, 63, 255, 255));
	ck_assert_uint_eq(p->routes[0].iv[1].lo, IP4(100, 64, 4, 0));
	ck_assert_uint_eq(p->routes[0].iv[1].hi, UINT32_MAX);
	/* subnet-b: its automatic subnet route and 198.18.2.0/24: adjacent, merged */
	ck_assert_uint_eq(p->routes[1].key, mb);
	ck_assert_uint_eq(p->routes[1].n, 1);
	ck_assert_uint_eq(p->routes[1].iv[0].lo, IP4(198, 18, 2, 0));
	ck_assert_uint_eq(p->routes[1].iv[0].hi, IP4(198, 18, 3, 255));
	ck_assert_uint_eq(p->routes[2].key, POLICY_MARK_LOCAL);
	ck_assert_uint_eq(p->routes[2].iv[0].lo, IP4(100, 64, 0, 0));
	ck_assert_uint_eq(p->routes[2].iv[0].hi, IP4(100, 64, 1, 255));

	/* routing tables: the subnet on-link first with the SNAT source; the table's own copy of the subnet
	 * is not repeated; the client CIDR through the tun last, in every table (reverse-path checks) */
	ck_assert_uint_eq(p->n_rtables, 2);
	ck_assert_uint_eq(p->rtables[0].table, 51000);
	ck_assert_uint_eq(p->rtables[0].priority, 5100);
	ck_assert_uint_eq(p->rtables[0].mark, ma);
	ck_assert_str_eq(p->rtables[0].ifname, "cvpn-a");
	ck_assert_uint_eq(p->rtables[0].n_entries, 4);
	ck_assert_uint_eq(p->rtables[0].entries[0].dst.addr, IP4(198, 18, 1, 0));
	ck_assert_uint_eq(p->rtables[0].entries[0].src, IP4(198, 18, 1, 1));
	ck_assert_uint_eq(p->rtables[0].entries[0].via, 0);
	ck_assert_uint_eq(p->rtables[0].entries[1].via, IP4(198, 18, 1, 254));
	ck_assert_uint_eq(p->rtables[0].entries[2].dst.len, 0);
	for (size_t i = 0; i < 3; i++)
		ck_assert(!p->rtables[0].entries[i].to_tun);
	ck_assert(p->rtables[0].entries[3].to_tun);
	ck_assert_uint_eq(p->rtables[0].entries[3].dst.addr, f.cfg->client_cidr.addr);
	ck_assert_uint_eq(p->rtables[0].entries[3].dst.len, f.cfg->client_cidr.len);
	ck_assert_uint_eq(p->rtables[1].table, 51001);
	ck_assert_uint_eq(p->rtables[1].n_entries, 2);
	ck_assert(p->rtables[1].entries[1].to_tun);
	fx_free(&f);
}
END_TEST

static struct policy_verdict explain(struct fx *f, size_t assoc, uint32_t dst, int proto, uint16_t port)
{
	struct policy_verdict v;

	ck_assert_int_eq(policy_explain(f->p, NULL, 0, policy_assoc_mark(assoc), dst, proto, port, &v), 0);
	return v;
}

START_TEST(test_explain_routes)
{
	struct fx f = compile(two_assoc_yaml);
	struct policy_verdict v;

	/* subnet-b has no route to the internet */
	v = explain(&f, 1, NET_ADDR, 6, 443);
	ck_assert(!v.pass);
	ck_assert_int_eq(v.drop_stage, POLICY_STAGE_ROUTE);
	ck_assert_int_eq(v.route, -1);
	v = explain(&f, 1, IP4(198, 18, 2, 9), 6, 443);
	ck_assert(v.pass);
	ck_assert_int_eq(v.assoc, 1);
	ck_assert_int_eq(v.sg, POLICY_SG_NONE);
	ck_assert_int_eq(v.acl_out.result, POLICY_ACL_NONE);
	ck_assert_uint_eq(v.snat_addr, IP4(198, 18, 3, 1));
	/* client addresses: through the local route only, and not from 0/0 */
	v = explain(&f, 0, IP4(100, 64, 1, 9), 6, 22);
	ck_assert(v.pass);
	ck_assert(v.local);
	ck_assert_int_eq(v.snat_addr, 0);
	v = explain(&f, 0, IP4(100, 64, 2, 9), 6, 22);
	ck_assert(!v.pass);
	ck_assert_int_eq(v.drop_stage, POLICY_STAGE_ROUTE);
	/* a bad mark */
	ck_assert_int_eq(policy_explain(f.p, NULL, 0, policy_assoc_mark(2), NET_ADDR, 6, 1, &v), -EINVAL);
	ck_assert_int_eq(policy_explain(f.p, NULL, 0, 0, NET_ADDR, 6, 1, &v), -EINVAL);
	fx_free(&f);
}
END_TEST

START_TEST(test_explain_sg)
{
	struct fx f = compile(two_assoc_yaml);
	struct policy_verdict v;

	v = explain(&f, 0, IP4(198, 19, 0, 1), 6, 443);    /* sg-web rule 0 */
	ck_assert_int_eq(v.sg, POLICY_SG_ALLOW);
	ck_assert_int_eq(v.sg_group, 0);
	ck_assert_int_eq(v.sg_rule, 0);
	v = explain(&f, 0, IP4(198, 18, 2, 9), 6, 8500);   /* sg-web rule 1 */
	ck_assert_int_eq(v.sg, POLICY_SG_ALLOW);
	ck_assert_int_eq(v.sg_rule, 1);
	v = explain(&f, 0, IP4(198, 19, 0, 1), 6, 8500);   /* port fits, destination does not */
	ck_assert_int_eq(v.sg, POLICY_SG_DENY);
	ck_assert(!v.pass);
	ck_assert_int_eq(v.drop_stage, POLICY_STAGE_SG);
	v = explain(&f, 0, IP4(198, 18, 2, 53), 17, 53);   /* second group */
	ck_assert_int_eq(v.sg, POLICY_SG_ALLOW);
	ck_assert_int_eq(v.sg_group, 1);
	ck_assert_int_eq(v.sg_rule, 0);
	v = explain(&f, 0, NET_ADDR, 1, 0);                 /* icmp anywhere */
	ck_assert_int_eq(v.sg, POLICY_SG_ALLOW);
	ck_assert_int_eq(v.sg_rule, 1);
	v = explain(&f, 0, NET_ADDR, 17, 53);               /* dns elsewhere: denied */
	ck_assert_int_eq(v.sg, POLICY_SG_DENY);
	fx_free(&f);
}
END_TEST

START_TEST(test_explain_acl)
{
	struct fx f = compile(two_assoc_yaml);
	struct policy_verdict v;

	/* outbound: rule 100 (written second) is evaluated before 200 */
	v = explain(&f, 0, IP4(198, 18, 2, 9), 6, 8080);
	ck_assert_int_eq(v.sg, POLICY_SG_ALLOW);
	ck_assert_int_eq(v.acl_out.result, POLICY_ACL_RULE);
	ck_assert_uint_eq(v.acl_out.rule, 100);
	ck_assert(!v.acl_out.allow);
	ck_assert_int_eq(v.drop_stage, POLICY_STAGE_ACL_OUT);
	v = explain(&f, 0, IP4(198, 18, 2, 9), 6, 8081);
	ck_assert_uint_eq(v.acl_out.rule, 200);
	ck_assert(v.acl_out.allow);
	/* inbound: the replies from 198.18.2.0/24 on tcp are allowed by rule 100 */
	ck_assert_int_eq(v.acl_in.result, POLICY_ACL_RULE);
	ck_assert_uint_eq(v.acl_in.rule, 100);
	ck_assert(v.pass);
	/* tcp to 198.19.0.80: the only inbound tcp rule for it (130) covers 40000-50000, not the whole
	 * ephemeral range: the classic missing inbound rule */
	v = explain(&f, 0, IP4(198, 19, 0, 80), 6, 443);
	ck_assert_int_eq(v.sg, POLICY_SG_ALLOW);
	ck_assert_int_eq(v.acl_out.result, POLICY_ACL_RULE);
	ck_assert_int_eq(v.acl_in.result, POLICY_ACL_IMPLICIT_DENY);
	ck_assert(!v.pass);
	ck_assert_int_eq(v.drop_stage, POLICY_STAGE_ACL_IN);
	ck_assert_ptr_nonnull(strstr(v.steps[v.n_steps - 1], "32768-60999"));
	/* udp: a deny of part of the ephemeral range, numbered before the allow, decides */
	v = explain(&f, 0, IP4(198, 18, 2, 53), 17, 53);
	ck_assert_int_eq(v.acl_in.result, POLICY_ACL_RULE);
	ck_assert_uint_eq(v.acl_in.rule, 50);
	ck_assert(!v.acl_in.allow);
	/* icmp from the internet: no inbound rule */
	v = explain(&f, 0, NET_ADDR, 1, 0);
	ck_assert_int_eq(v.acl_in.result, POLICY_ACL_IMPLICIT_DENY);
	v = explain(&f, 0, IP4(198, 18, 2, 1), 1, 0);
	ck_assert_int_eq(v.acl_in.result, POLICY_ACL_RULE);
	ck_assert_uint_eq(v.acl_in.rule, 120);
	ck_assert(v.pass);
	/* within the association's own subnet the ACL is not evaluated either way */
	v = explain(&f, 0, IP4(198, 18, 1, 77), 6, 443);
	ck_assert_int_eq(v.acl_out.result, POLICY_ACL_SKIPPED);
	ck_assert_int_eq(v.acl_in.result, POLICY_ACL_SKIPPED);
	ck_assert(v.pass);
	fx_free(&f);
}
END_TEST

START_TEST(test_verdict_print)
{
	struct fx f = compile(two_assoc_yaml);
	struct policy_verdict v = explain(&f, 0, IP4(198, 19, 0, 80), 6, 443);
	char *buf = NULL;
	size_t len = 0;
	FILE *o = open_memstream(&buf, &len);

	ck_assert_int_eq(policy_verdict_print(&v, o, false), 0);
	fflush(o);
	ck_assert_ptr_nonnull(strstr(buf, "verdict: drop (network-acl-inbound)"));
	ck_assert_ptr_nonnull(strstr(buf, "1. authorization: allowed"));
	ck_assert_ptr_nonnull(strstr(buf, "source NAT: to 198.18.1.1"));
	fclose(o);
	free(buf);
	buf = NULL;
	o = open_memstream(&buf, &len);
	ck_assert_int_eq(policy_verdict_print(&v, o, true), 0);
	fclose(o);
	ck_assert_ptr_nonnull(strstr(buf, "\"verdict\":\"drop\""));
	ck_assert_ptr_nonnull(strstr(buf, "\"dropped-at\":\"network-acl-inbound\""));
	ck_assert_ptr_nonnull(strstr(buf, "\"snat\":\"198.18.1.1\""));
	free(buf);
	fx_free(&f);
}
END_TEST

START_TEST(test_chains_structure)
{
	struct fx f = compile(two_assoc_yaml);
	const struct policy *p = f.p;
	const struct policy_chain *sg = NULL, *out = NULL;

	for (size_t i = 0; i < p->n_chains; i++) {
		if (!strcmp(p->chains[i].name, "sg_subnet-a"))
			sg = &p->chains[i];
		if (!strcmp(p->chains[i].name, "acl_out_subnet-a"))
			out = &p->chains[i];
		/* every rule counts and says why */
		for (size_t k = 0; k < p->chains[i].n_rules; k++) {
			ck_assert(p->chains[i].rules[k].counter);
			ck_assert_uint_gt(strlen(p->chains[i].rules[k].comment), 0);
		}
	}
	ck_assert_ptr_nonnull(sg);
	ck_assert_ptr_nonnull(out);
	/* stateful first, 4 rules of two groups in order, then the drop */
	ck_assert_uint_eq(sg->n_rules, 6);
	ck_assert_int_eq(sg->rules[0].m[0].type, POLICY_M_CT_ESTREL);
	ck_assert_str_eq(sg->rules[3].comment, "sg sg-dns: egress rule");
	ck_assert_int_eq(sg->rules[5].verdict, POLICY_V_DROP);
	ck_assert_str_eq(out->rules[0].comment, "ACL acl-a outbound rule 100 deny");
	ck_assert_str_eq(out->rules[1].comment, "ACL acl-a outbound rule 200 allow");
	ck_assert_str_eq(out->rules[2].comment, "ACL acl-a outbound implicit deny (*)");
	fx_free(&f);
}
END_TEST

/* Association names that sanitize to the same chain name, one of them the suffixed form of another's: every
 * association still gets chains of its own (they were merged: "b.c" got "b_c_2"'s). */
START_TEST(test_chain_names_unique)
{
	static const char yaml[] = HEAD
		"associations:\n"
		"  - { name: b_c_2, interface: cvpn-a, subnet: 198.18.1.0/24, security-groups: [sg-open], network-acl: acl-1 }\n"
		"  - { name: b_c, interface: cvpn-b, subnet: 198.18.3.0/24, security-groups: [sg-open], network-acl: acl-1 }\n"
		"  - { name: b.c, interface: cvpn-c, subnet: 198.18.5.0/24, security-groups: [sg-strict], network-acl: acl-1 }\n"
		"routes:\n"
		"  - { destination: 0.0.0.0/0, target: b_c_2 }\n"
		"  - { destination: 0.0.0.0/0, target: b_c }\n"
		"  - { destination: 0.0.0.0/0, target: b.c }\n"
		"authorization-rules:\n"
		"  - { destination: 0.0.0.0/0, all-users: true }\n"
		"security-groups:\n"
		"  - name: sg-open\n"
		"    egress:\n"
		"      - { protocol: all, destination: 0.0.0.0/0 }\n"
		"  - name: sg-strict\n"
		"    egress:\n"
		"      - { protocol: tcp, ports: 443, destination: 198.18.0.0/15 }\n"
		"network-acls:\n"
		"  - name: acl-1\n"
		"    outbound:\n"
		"      - { rule: 100, action: allow, protocol: all, cidr: 0.0.0.0/0 }\n"
		"    inbound:\n"
		"      - { rule: 100, action: allow, protocol: all, cidr: 0.0.0.0/0 }\n";
	struct fx f = compile(yaml);
	const struct policy *p = f.p;

	ck_assert_uint_eq(p->n_assocs, 3);
	for (size_t i = 0; i < p->n_chains; i++)
		for (size_t k = i + 1; k < p->n_chains; k++)
			ck_assert_msg(strcmp(p->chains[i].name, p->chains[k].name) != 0, "two chains named %s",
				      p->chains[i].name);
	ck_assert_str_eq(p->assocs[0].chain_sg, "sg_b_c_2");
	ck_assert_str_eq(p->assocs[1].chain_sg, "sg_b_c");
	ck_assert_str_ne(p->assocs[2].chain_sg, "sg_b_c");
	ck_assert_str_ne(p->assocs[2].chain_sg, "sg_b_c_2");
	ck_assert_str_ne(p->assocs[2].chain_acl_out, p->assocs[0].chain_acl_out);
	fx_free(&f);
}
END_TEST

START_TEST(test_compile_errors)
{
	struct config *cfg = load(two_assoc_yaml);
	uint32_t snat[2] = { IP4(198, 18, 1, 1), IP4(198, 18, 3, 1) };
	struct policy_env env = { "cvpn-tun0", snat, 1, false };
	struct policy *p = (struct policy *)1;
	char *errs = NULL;
	size_t len = 0;
	FILE *ef = open_memstream(&errs, &len);

	ck_assert_int_eq(policy_compile(cfg, &env, &p, ef), -EINVAL);
	ck_assert_ptr_null(p);
	env.n_assoc = 2;
	snat[1] = 0;
	ck_assert_int_eq(policy_compile(cfg, &env, &p, ef), -EINVAL);
	snat[1] = IP4(198, 18, 3, 1);
	env.tun_ifname = "cvpn-a";   /* an association's interface is not the tun */
	ck_assert_int_eq(policy_compile(cfg, &env, &p, ef), -EINVAL);
	env.tun_ifname = "0123456789abcdef";
	ck_assert_int_eq(policy_compile(cfg, &env, &p, ef), -EINVAL);
	fclose(ef);
	ck_assert_ptr_nonnull(strstr(errs, "2 associations"));
	ck_assert_ptr_nonnull(strstr(errs, "no SNAT address"));
	ck_assert_ptr_nonnull(strstr(errs, "is the tun"));
	free(errs);
	env.tun_ifname = "cvpn-tun0";
	ck_assert_int_eq(policy_compile(cfg, &env, &p, NULL), 0);
	policy_free(p);
	policy_free(NULL);
	config_free(cfg);
}
END_TEST

/* ---- golden files ---- */

static char *slurp_path(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (!f)
		return NULL;
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	ck_assert_int_ge(n, 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void golden(const char *name)
{
	char ypath[PATH_MAX], npath[PATH_MAX], *yaml, *want, *got = NULL;
	size_t len = 0;
	const char *eng[] = { "eng" }, *two[] = { "ops", "eng", "sales" };
	struct policy_session s[3];
	struct fx f;
	FILE *o;

	snprintf(ypath, sizeof(ypath), GOLDEN_DIR "/%s.yaml", name);
	snprintf(npath, sizeof(npath), GOLDEN_DIR "/%s.nft", name);
	yaml = slurp_path(ypath);
	ck_assert_msg(yaml != NULL, "%s (run from the repository root)", ypath);
	f = compile(yaml);
	/* three sessions: no group, eng, two groups; the last on the second association when there is one */
	s[0] = (struct policy_session){ IP4(100, 64, 0, 9), policy_profile(f.p, NULL, 0, NULL), policy_assoc_mark(0) };
	s[1] = (struct policy_session){ IP4(100, 64, 0, 2), policy_profile(f.p, eng, 1, NULL), policy_assoc_mark(0) };
	s[2] = (struct policy_session){ IP4(100, 64, 1, 3), policy_profile(f.p, two, 3, NULL),
					 policy_assoc_mark(f.cfg->n_associations - 1) };
	o = open_memstream(&got, &len);
	ck_assert_int_eq(policy_render_nft(f.p, s, 3, o), 0);
	fclose(o);
	if (getenv("GOLDEN_UPDATE")) {
		o = fopen(npath, "w");
		ck_assert_ptr_nonnull(o);
		fputs(got, o);
		ck_assert_int_eq(fclose(o), 0);
	}
	want = slurp_path(npath);
	ck_assert_msg(want != NULL, "%s missing: run with GOLDEN_UPDATE=1", npath);
	if (strcmp(want, got))   /* Check's messages are short: the rendering goes to stderr */
		fprintf(stderr, "%s differs from the rendering:\n%s", npath, got);
	ck_assert_msg(!strcmp(want, got), "%s differs from the rendering (GOLDEN_UPDATE=1 rewrites it)", npath);
	free(want);
	free(got);
	free(yaml);
	fx_free(&f);
}

START_TEST(test_golden_basic) { golden("basic"); }
END_TEST
START_TEST(test_golden_full) { golden("full"); }
END_TEST
START_TEST(test_golden_worked) { golden("worked"); }
END_TEST

static Suite *policy_suite(void)
{
	Suite *s = suite_create("policy");
	TCase *w = tcase_create("worked-examples"), *l = tcase_create("lpm"), *e = tcase_create("explain"),
	      *g = tcase_create("golden");

	tcase_add_checked_fixture(w, setup, teardown);
	tcase_add_checked_fixture(l, setup, teardown);
	tcase_add_checked_fixture(e, setup, teardown);
	tcase_add_checked_fixture(g, setup, teardown);
	tcase_set_timeout(l, 60);
	tcase_add_test(w, test_worked_row1);
	tcase_add_test(w, test_worked_row2);
	tcase_add_test(w, test_worked_row3);
	tcase_add_test(w, test_worked_row4);
	tcase_add_test(w, test_worked_row5);
	tcase_add_test(w, test_worked_row6);
	tcase_add_test(l, test_lpm_nested_adjacent);
	tcase_add_test(l, test_lpm_default_and_edges);
	tcase_add_test(l, test_lpm_random);
	tcase_add_test(l, test_profile_registry);
	tcase_add_test(e, test_routes_per_association);
	tcase_add_test(e, test_explain_routes);
	tcase_add_test(e, test_explain_sg);
	tcase_add_test(e, test_explain_acl);
	tcase_add_test(e, test_verdict_print);
	tcase_add_test(e, test_chains_structure);
	tcase_add_test(e, test_chain_names_unique);
	tcase_add_test(e, test_compile_errors);
	tcase_add_test(g, test_golden_basic);
	tcase_add_test(g, test_golden_full);
	tcase_add_test(g, test_golden_worked);
	suite_add_tcase(s, w);
	suite_add_tcase(s, l);
	suite_add_tcase(s, e);
	suite_add_tcase(s, g);
	return s;
}

int main(void)
{
	return check_run(policy_suite());
}
