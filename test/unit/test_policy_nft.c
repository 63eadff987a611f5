// SPDX-License-Identifier: GPL-2.0-or-later
/* The compiled policy in the real kernel (ctrl/policy_nft.c, nft_delete_table of ctrl/nft.c, the routing
 * tables of ctrl/route.c): each test in a fresh network namespace (netns_enter in a checked fixture), so
 * nothing touches the host. Needs root; the nft and ip CLIs only read back what the library installed, or
 * load the rendered text for comparison. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>

#include "cvpn/config.h"
#include "cvpn/nft.h"
#include "cvpn/policy.h"
#include "cvpn/route.h"
#include "cvpn/tun.h"

#include "check_run.h"
#include "test_util.h"

static char tmpdir[PATH_MAX];

/* ---- fixture ---- */

static void write_tmp(const char *rel, const char *s, mode_t mode)
{
	tmpdir_write(tmpdir, rel, s, mode);
}

static void setup(void)
{
	netns_enter();
	/* with CK_FORK=no the tests share one process: the netfilter socket it keeps is the last namespace's */
	nft_socket_close();
	tmpdir_make(tmpdir, sizeof(tmpdir), "policy-nft");
	tmpdir_pki(tmpdir, "pki");
}

static void teardown(void)
{
	tmpdir_remove(tmpdir);
}

/* ---- helpers ---- */

static char *listing(void)
{
	int st;
	char *out = run("nft list table inet cvpn 2>&1", &st);

	ck_assert_msg(st == 0, "nft list table inet cvpn failed (%d): %s", st, out);
	return out;
}

static bool table_exists(void)
{
	int st;
	char *out = run("nft list tables", &st);
	bool found = strstr(out, "table inet cvpn") != NULL;

	free(out);
	return found;
}

/* nft's listing the way policy_render_nft writes it: no counter values, elements on one line each. */
static char *normalize(const char *s)
{
	/* splitting an element list turns 2 bytes into 10: room for that on every byte */
	char *out = malloc(strlen(s) * 5 + 1), *o = out;

	ck_assert_ptr_nonnull(out);
	while (*s) {
		if (!strncmp(s, "counter packets ", 16)) {
			/* "counter packets N bytes N" -> "counter" */
			const char *b = strstr(s, " bytes ");

			ck_assert_ptr_nonnull(b);
			memcpy(o, "counter", 7);
			o += 7;
			s = b + 7;
			while (*s >= '0' && *s <= '9')
				s++;
			continue;
		}
		if (!strncmp(s, ", ", 2) && o > out && strstr(s, "\n") > s) {
			/* nft joins short element lists on one line: split them as we write them */
			const char *line = o;

			*o = '\0'; /* the line so far, as a string */
			while (line > out && line[-1] != '\n')
				line--;
			if (strstr(line, "elements = {") || !strncmp(line, "\t\t\t     ", 8)) {
				memcpy(o, ",\n\t\t\t     ", 10);
				o += 10;
				s += 2;
				continue;
			}
		}
		*o++ = *s++;
	}
	*o = '\0';
	return out;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* Packet counter of the first listed rule whose line contains a; -1 if none. */
static long rule_packets(const char *l, const char *a)
{
	const char *line = l;

	while (line && *line) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		char *s = strndup(line, len), *pk;
		long v = -1;

		ck_assert_ptr_nonnull(s);
		if (strstr(s, a) && (pk = strstr(s, "counter packets ")))
			v = strtol(pk + 16, NULL, 10);
		free(s);
		if (v >= 0)
			return v;
		line = end ? end + 1 : NULL;
	}
	return -1;
}

static long wait_packets(const char *a, long want)
{
	long v = -1;

	for (int i = 0; i < 100; i++) {
		char *l = listing();

		v = rule_packets(l, a);
		free(l);
		if (v == want)
			break;
		usleep(20000);
	}
	return v;
}

struct fx {
	struct config *cfg;
	struct policy *p;
	uint32_t snat[8];
};

#define HEAD "endpoint:\n  server-certificate: pki/server.crt\n  server-key: pki/server.key\n" \
	     "  client-ca: pki/ca.crt\n  client-cidr: 100.64.0.0/22\n"

static struct fx compile_yaml(const char *yaml, const char *tun)
{
	char path[PATH_MAX + 16];
	struct fx f = { 0 };
	struct policy_env env;

	write_tmp("endpoint.yaml", yaml, 0644);
	snprintf(path, sizeof(path), "%s/endpoint.yaml", tmpdir);
	ck_assert_int_eq(config_load(path, stderr, &f.cfg), 0);
	ck_assert_uint_le(f.cfg->n_associations, 8);
	for (size_t i = 0; i < f.cfg->n_associations; i++)
		f.snat[i] = f.cfg->associations[i].subnet.addr + 1;
	env = (struct policy_env){ tun, f.snat, f.cfg->n_associations, false };
	ck_assert_int_eq(policy_compile(f.cfg, &env, &f.p, stderr), 0);
	return f;
}

static struct fx compile_golden(const char *name)
{
	char path[PATH_MAX];
	FILE *in;
	char *yaml;
	struct fx f;

	snprintf(path, sizeof(path), "test/unit/golden/%s.yaml", name);
	in = fopen(path, "r");
	ck_assert_msg(in != NULL, "%s (run from the repository root)", path);
	yaml = slurp(in);
	fclose(in);
	f = compile_yaml(yaml, "cvpn-tun0");
	free(yaml);
	return f;
}

static void fx_free(struct fx *f)
{
	policy_free(f->p);
	config_free(f->cfg);
}

static char *render(const struct policy *p, const struct policy_session *s, size_t n)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *o = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(policy_render_nft(p, s, n, o), 0);
	fclose(o);
	return buf;
}

/* ---- tests ---- */

/* What the library installs is what policy_render_nft writes: the listing, normalized, is the rendered
 * text; and `nft -f` of that text lists byte for byte as the library's table. None of the interfaces the
 * rules name exists: rules match by name, so the table goes in all the same. */
START_TEST(test_apply_matches_render)
{
	static const char *const names[] = { "basic", "full", "worked" };

	ck_assert_uint_eq(if_nametoindex("cvpn-tun0"), 0);
	ck_assert_uint_eq(if_nametoindex("cvpn-a"), 0);
	for (size_t k = 0; k < 3; k++) {
		struct fx f = compile_golden(names[k]);
		const char *eng[] = { "eng" }, *two[] = { "ops", "eng" };
		struct policy_session s[3] = {
			{ IP4(100, 64, 0, 9), POLICY_PROFILE_ALL, policy_assoc_mark(0) },
			{ IP4(100, 64, 0, 2), policy_profile(f.p, eng, 1, NULL), policy_assoc_mark(0) },
			{ IP4(100, 64, 1, 3), policy_profile(f.p, two, 2, NULL),
			  policy_assoc_mark(f.cfg->n_associations - 1) },
		};
		char *text = render(f.p, s, 3), *lib, *norm, *ref, cmd[PATH_MAX + 32];
		int st;

		ck_assert_int_eq(policy_nft_apply(f.p, s, 3, false), 0);
		lib = listing();
		norm = normalize(lib);
		if (strcmp(norm, text))   /* Check's messages are short: the texts go to stderr */
			fprintf(stderr, "%s: listing\n%s\nrendered\n%s", names[k], norm, text);
		ck_assert_msg(!strcmp(norm, text), "%s: normalized listing differs from the rendering", names[k]);
		ck_assert_int_eq(count(lib, "counter packets 0 bytes 0"), count(text, "counter"));

		ck_assert_int_eq(nft_delete_table(), 0);
		write_tmp("rendered.nft", text, 0644);
		snprintf(cmd, sizeof(cmd), "nft -f %s/rendered.nft 2>&1", tmpdir);
		free(run(cmd, &st));
		ck_assert_int_eq(st, 0);
		ref = listing();
		if (strcmp(lib, ref))
			fprintf(stderr, "%s: library\n%s\nnft -f\n%s", names[k], lib, ref);
		ck_assert_msg(!strcmp(lib, ref), "%s: the library's table lists unlike nft -f's", names[k]);
		free(ref);
		free(norm);
		free(lib);
		free(text);
		ck_assert_int_eq(nft_delete_table(), 0);
		fx_free(&f);
	}
}
END_TEST

START_TEST(test_sessions_and_profiles)
{
	struct fx f = compile_golden("full");
	const char *ops[] = { "ops" };
	bool is_new;
	uint32_t id;
	char *l;

	ck_assert_int_eq(policy_nft_apply(f.p, NULL, 0, false), 0);
	ck_assert_int_eq(policy_nft_session_add(IP4(100, 64, 0, 7), POLICY_PROFILE_ALL, policy_assoc_mark(1)), 0);
	ck_assert_int_eq(policy_nft_session_add(IP4(100, 64, 0, 8), POLICY_PROFILE_ALL, policy_assoc_mark(0)), 0);
	l = listing();
	ck_assert_ptr_nonnull(strstr(l, "100.64.0.7 : 0x00c50002"));
	ck_assert_ptr_nonnull(strstr(l, "100.64.0.8 : 0x00c50001"));
	ck_assert_int_eq(count(l, "100.64.0.7 : "), 2);
	free(l);

	/* an address handed out again with other values replaces its elements */
	ck_assert_int_eq(policy_nft_session_add(IP4(100, 64, 0, 7), 1, policy_assoc_mark(0)), 0);
	l = listing();
	ck_assert_ptr_nonnull(strstr(l, "100.64.0.7 : 0x00c50001"));
	ck_assert_ptr_null(strstr(l, "100.64.0.7 : 0x00c50002"));
	free(l);

	ck_assert_int_eq(policy_nft_session_del(IP4(100, 64, 0, 7)), 0);
	l = listing();
	ck_assert_ptr_null(strstr(l, "100.64.0.7"));
	ck_assert_ptr_nonnull(strstr(l, "100.64.0.8 : 0x00c50001"));
	free(l);
	ck_assert_int_eq(policy_nft_session_del(IP4(100, 64, 0, 7)), -ENOENT);
	ck_assert_int_eq(policy_nft_session_add(0, 1, 1), -EINVAL);

	/* a profile first seen after the apply: it goes into the sets of the classes that grant it */
	id = policy_profile(f.p, ops, 1, &is_new);
	ck_assert(is_new);
	ck_assert_uint_eq(id, 2);
	l = listing();
	ck_assert_ptr_null(strstr(l, "0x00000002"));
	free(l);
	ck_assert_int_eq(policy_nft_profile_add(f.p, id), 0);
	ck_assert_int_eq(policy_nft_session_add(IP4(100, 64, 0, 9), id, policy_assoc_mark(0)), 0);
	l = listing();
	{
		size_t in_sets = 0;

		/* ops has rules of its own (198.18.2.128/25 and 0.0.0.0/0): every class naming ops, and only
		 * those, now hold profile 2; the spans did not change */
		for (size_t k = 0; k < f.p->n_classes; k++) {
			const struct policy_authz_class *c = &f.p->classes[k];
			char want[256];
			bool grants = !c->all_users && policy_class_grants(c, policy_profile_get(f.p, id));

			if (c->all_users)
				continue;
			snprintf(want, sizeof(want), "set %s {\n\t\ttype mark\n\t\telements = { 0x00000002 }", c->name);
			ck_assert_msg((strstr(l, want) != NULL) == grants, "class %s: profile 2 %s", c->name,
				      grants ? "missing" : "present but not granted");
			in_sets += grants;
		}
		ck_assert_uint_ge(in_sets, 1);
	}
	free(l);
	ck_assert_int_eq(policy_nft_profile_add(f.p, 99), -EINVAL);
	fx_free(&f);
}
END_TEST

START_TEST(test_dry_run_and_rejects)
{
	struct fx f = compile_golden("full"), g = compile_golden("basic");
	struct policy_session bad = { IP4(100, 64, 0, 2), 42, policy_assoc_mark(0) };
	char *before, *after;

	ck_assert_int_eq(policy_nft_apply(f.p, NULL, 0, true), 0);
	ck_assert(!table_exists());
	ck_assert_int_eq(policy_nft_apply(f.p, NULL, 0, false), 0);
	before = listing();
	ck_assert_int_eq(policy_nft_apply(g.p, NULL, 0, true), 0);
	/* refused before the kernel: a session with a profile that does not exist */
	ck_assert_int_eq(policy_nft_apply(g.p, &bad, 1, false), -EINVAL);
	after = listing();
	ck_assert_str_eq(before, after);
	free(after);

	/* refused by the kernel, in the middle of the batch: two sessions with one address and different
	 * marks. All or nothing: the installed table is untouched. */
	{
		struct policy_session two[2] = {
			{ IP4(100, 64, 0, 2), 1, policy_assoc_mark(0) },
			{ IP4(100, 64, 0, 2), 1, policy_assoc_mark(1) },
		};
		int ret = policy_nft_apply(g.p, two, 2, false);

		ck_assert_msg(ret < 0, "duplicate session accepted");
		after = listing();
		ck_assert_str_eq(before, after);
		free(after);
	}
	free(before);
	fx_free(&g);
	fx_free(&f);
}
END_TEST

/* Replaced, not appended: the same policy again lists exactly as before, and another policy leaves nothing
 * of the first, its sessions' elements included. */
START_TEST(test_replace)
{
	struct fx f = compile_golden("full"), g = compile_golden("basic");
	struct policy_session s = { IP4(100, 64, 0, 9), POLICY_PROFILE_ALL, policy_assoc_mark(1) };
	char *first, *again, *norm, *text;

	ck_assert_int_eq(policy_nft_apply(f.p, &s, 1, false), 0);
	first = listing();
	ck_assert_ptr_nonnull(strstr(first, "100.64.0.9 : 0x00c50002"));
	ck_assert_int_eq(policy_nft_apply(f.p, &s, 1, false), 0);
	again = listing();
	ck_assert_msg(!strcmp(first, again), "the second apply changed the table:\n%s", again);
	free(again);

	ck_assert_int_eq(policy_nft_apply(g.p, NULL, 0, false), 0);
	again = listing();
	norm = normalize(again);
	text = render(g.p, NULL, 0);
	if (strcmp(norm, text))
		fprintf(stderr, "listing\n%s\nrendered\n%s", norm, text);
	ck_assert_msg(!strcmp(norm, text), "the table is not exactly the second policy");
	ck_assert_ptr_null(strstr(again, "100.64.0.9"));
	free(text);
	free(norm);
	free(again);
	free(first);
	fx_free(&g);
	fx_free(&f);
}
END_TEST

/* Refused before the kernel sees anything, for a real and for a dry run: no policy, sessions missing, a
 * session without an association mark (a session with an unknown profile: test_dry_run_and_rejects). */
START_TEST(test_apply_invalid)
{
	struct fx f = compile_golden("basic");
	struct policy_session nomark = { IP4(100, 64, 0, 2), POLICY_PROFILE_ALL, 0 };
	char *before, *after;

	for (int pass = 0; pass < 2; pass++) {
		for (int dry = 0; dry < 2; dry++) {
			ck_assert_int_eq(policy_nft_apply(NULL, NULL, 0, dry), -EINVAL);
			ck_assert_int_eq(policy_nft_apply(f.p, NULL, 1, dry), -EINVAL);
			ck_assert_int_eq(policy_nft_apply(f.p, &nomark, 1, dry), -EINVAL);
		}
		if (pass == 1)
			break;
		ck_assert(!table_exists());
		/* and over an installed table, which stays as it was */
		ck_assert_int_eq(policy_nft_apply(f.p, NULL, 0, false), 0);
		before = listing();
	}
	after = listing();
	ck_assert_str_eq(before, after);
	free(after);
	free(before);
	fx_free(&f);
}
END_TEST

/* nft_delete_table: 0 whether or not the table is there, and gone after. */
START_TEST(test_delete)
{
	struct fx f = compile_golden("basic");

	ck_assert(!table_exists());
	ck_assert_int_eq(nft_delete_table(), 0);
	ck_assert_int_eq(policy_nft_apply(f.p, NULL, 0, false), 0);
	ck_assert(table_exists());
	ck_assert_int_eq(nft_delete_table(), 0);
	ck_assert(!table_exists());
	ck_assert_int_eq(nft_delete_table(), 0);
	fx_free(&f);
}
END_TEST

/* Creates `table inet cvpn` owned by a netlink socket of its own (NFT_TABLE_F_OWNER), which it returns:
 * while that socket is open the kernel refuses every change to the table from anyone else. */
static struct mnl_socket *owned_table(void)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct mnl_nlmsg_batch *batch = mnl_nlmsg_batch_start(buf, sizeof(buf));
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;
	uint32_t seq = 1;
	ssize_t n;

	ck_assert_ptr_nonnull(batch);
	ck_assert_ptr_nonnull(nl);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID), 0);
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, NFT_TABLE_NAME);
	nftnl_table_set_u32(t, NFTNL_TABLE_FLAGS, NFT_TABLE_F_OWNER);
	nftnl_batch_begin(mnl_nlmsg_batch_current(batch), seq++);
	mnl_nlmsg_batch_next(batch);
	nlh = nftnl_nlmsg_build_hdr(mnl_nlmsg_batch_current(batch), NFT_MSG_NEWTABLE, NFPROTO_INET,
				    NLM_F_CREATE | NLM_F_ACK, seq++);
	nftnl_table_nlmsg_build_payload(nlh, t);
	mnl_nlmsg_batch_next(batch);
	nftnl_batch_end(mnl_nlmsg_batch_current(batch), seq++);
	mnl_nlmsg_batch_next(batch);
	ck_assert_int_ge(mnl_socket_sendto(nl, mnl_nlmsg_batch_head(batch), mnl_nlmsg_batch_size(batch)), 0);
	n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	ck_assert_int_gt(n, 0);
	ck_assert_int_ge(mnl_cb_run(buf, (size_t)n, 0, mnl_socket_get_portid(nl), NULL, NULL), 0);
	mnl_nlmsg_batch_stop(batch);
	nftnl_table_free(t);
	return nl;
}

/* The kernel's refusal comes back as its errno, for a real and for a dry run and for the delete, and
 * changes nothing. */
START_TEST(test_kernel_error)
{
	struct mnl_socket *owner = owned_table();
	struct fx f = compile_golden("basic");
	char *before, *after;

	before = listing();
	ck_assert_ptr_nonnull(strstr(before, "flags owner"));
	ck_assert_int_eq(policy_nft_apply(f.p, NULL, 0, false), -EPERM);
	/* the error line can say which of the batch's messages the kernel refused */
	ck_assert_msg(strstr(nft_refusal(), " (while ") == nft_refusal() && strstr(nft_refusal(), "table inet cvpn"),
		      "refusal: '%s'", nft_refusal());
	ck_assert_int_eq(policy_nft_apply(f.p, NULL, 0, true), -EPERM);
	ck_assert_int_eq(nft_delete_table(), -EPERM);
	after = listing();
	ck_assert_str_eq(before, after);
	free(before);
	free(after);

	/* the owner gone, the kernel drops its table and ours goes in */
	mnl_socket_close(owner);
	ck_assert(!table_exists());
	ck_assert_int_eq(policy_nft_apply(f.p, NULL, 0, false), 0);
	after = listing();
	ck_assert_ptr_null(strstr(after, "owner"));
	free(after);
	fx_free(&f);
}
END_TEST

/* n associations cvpn-e0.. on 198.18.0.0/24, 198.18.1.0/24, ..., the whole /15 authorized for everyone. */
static struct config *many_assoc_config(unsigned n, uint32_t *snat)
{
	char *yaml = NULL, path[PATH_MAX + 16];
	size_t len = 0;
	FILE *y = open_memstream(&yaml, &len);
	struct config *cfg = NULL;

	ck_assert_ptr_nonnull(y);
	fputs(HEAD "associations:\n", y);
	for (unsigned i = 0; i < n; i++) {
		fprintf(y, "  - { name: a%u, interface: cvpn-e%u, subnet: 198.%u.%u.0/24 }\n", i, i, 18 + i / 256,
			i % 256);
		snat[i] = IP4(198, 18 + i / 256, i % 256, 1);
	}
	fputs("authorization-rules:\n  - { destination: 198.18.0.0/15, all-users: true }\n", y);
	fclose(y);
	write_tmp("many.yaml", yaml, 0644);
	free(yaml);
	snprintf(path, sizeof(path), "%s/many.yaml", tmpdir);
	ck_assert_int_eq(config_load(path, stderr, &cfg), 0);
	return cfg;
}

/* As many associations as a policy takes (POLICY_MAX_ASSOC: a routing table and a mark each) go into the
 * kernel in one batch, each with its SNAT rule; one more is refused by the compiler. */
START_TEST(test_max_associations)
{
	uint32_t snat[POLICY_MAX_ASSOC + 1];
	struct config *cfg = many_assoc_config(POLICY_MAX_ASSOC + 1, snat);
	struct policy_env env = { "cvpn-tun0", snat, POLICY_MAX_ASSOC + 1, false };
	struct policy *p = NULL;
	struct policy_session s;
	char *l;

	ck_assert_int_eq(policy_compile(cfg, &env, &p, NULL), -EINVAL);
	ck_assert_ptr_null(p);
	config_free(cfg);

	cfg = many_assoc_config(POLICY_MAX_ASSOC, snat);
	env.n_assoc = POLICY_MAX_ASSOC;
	ck_assert_int_eq(policy_compile(cfg, &env, &p, stderr), 0);
	s = (struct policy_session){ IP4(100, 64, 0, 2), POLICY_PROFILE_ALL,
				     policy_assoc_mark(POLICY_MAX_ASSOC - 1) };
	ck_assert_int_eq(policy_nft_apply(p, &s, 1, false), 0);
	l = listing();
	ck_assert_int_eq(count(l, "snat ip to "), POLICY_MAX_ASSOC);
	ck_assert_msg(strstr(l, "oifname \"cvpn-e255\" ip saddr 100.64.0.0/22 counter packets 0 bytes 0 "
			     "snat ip to 198.18.255.1"), "%s", l);
	ck_assert_ptr_nonnull(strstr(l, "100.64.0.2 : 0x00c50100"));
	free(l);
	policy_free(p);
	config_free(cfg);
}
END_TEST

/* ---- routing tables ---- */

static const char routes_yaml[] = HEAD
	"associations:\n"
	"  - { name: subnet-a, interface: cvpn-a, subnet: 198.18.1.0/24, route-table: rt-a }\n"
	"  - { name: subnet-b, interface: cvpn-b, subnet: 198.18.3.0/24 }\n"
	"routes:\n"
	"  - { destination: 198.18.2.0/24, target: subnet-a }\n"
	"  - { destination: 198.18.2.0/24, target: subnet-b }\n"
	"authorization-rules:\n"
	"  - { destination: 198.18.0.0/15, all-users: true }\n"
	"route-tables:\n"
	"  - name: rt-a\n"
	"    routes:\n"
	"      - { destination: 198.18.2.0/24, via: 198.18.1.254 }\n"
	"      - { destination: 203.0.113.0/24 }\n"
	"      - { destination: 0.0.0.0/0, via: 198.18.1.253 }\n";

START_TEST(test_route_tables)
{
	struct fx f, g;
	char *out;
	int st;

	make_link("cvpn-a", IP4(198, 18, 1, 1), 24);
	make_link("cvpn-b", IP4(198, 18, 3, 1), 24);
	make_link("cvpn-tun0", IP4(100, 64, 0, 1), 22);   /* stands in for the tun */
	/* things that are not ours: a rule next to our range, a route of another protocol in our table, one
	 * of our protocol in a table outside our range */
	free(run("ip rule add priority 5099 fwmark 0x1 lookup 100; ip rule add priority 5356 fwmark 0x2 lookup 101;"
		 "ip route add 192.0.2.0/24 dev cvpn-a table 51000 proto static;"
		 "ip route add 192.0.2.0/24 dev cvpn-a table 52000 proto 197", &st));
	ck_assert_int_eq(st, 0);

	f = compile_yaml(routes_yaml, "cvpn-tun0");
	ck_assert_int_eq(route_apply_assoc_tables(f.p), 0);
	out = run("ip -4 route show table 51000", &st);
	ck_assert_msg(strstr(out, "198.18.1.0/24 dev cvpn-a proto 197 scope link src 198.18.1.1"), "%s", out);
	ck_assert_msg(strstr(out, "198.18.2.0/24 via 198.18.1.254 dev cvpn-a proto 197"), "%s", out);
	ck_assert_msg(strstr(out, "203.0.113.0/24 dev cvpn-a proto 197 scope link"), "%s", out);
	ck_assert_msg(strstr(out, "default via 198.18.1.253 dev cvpn-a proto 197"), "%s", out);
	/* the way back to the clients, for reverse-path checks that use the mark (src_valid_mark) */
	ck_assert_msg(strstr(out, "100.64.0.0/22 dev cvpn-tun0 proto 197 scope link"), "%s", out);
	free(out);
	out = run("ip -4 route show table 51001", &st);
	ck_assert_msg(strstr(out, "198.18.3.0/24 dev cvpn-b proto 197 scope link src 198.18.3.1"), "%s", out);
	ck_assert_msg(strstr(out, "100.64.0.0/22 dev cvpn-tun0 proto 197 scope link"), "%s", out);
	ck_assert_int_eq(count(out, "\n"), 2);
	free(out);
	out = run("ip -4 rule show", &st);
	ck_assert_msg(strstr(out, "5100:\tfrom all fwmark 0xc50001 lookup 51000"), "%s", out);
	ck_assert_msg(strstr(out, "5101:\tfrom all fwmark 0xc50002 lookup 51001"), "%s", out);
	free(out);

	/* idempotent: a second apply changes nothing and duplicates nothing */
	ck_assert_int_eq(route_apply_assoc_tables(f.p), 0);
	out = run("ip -4 rule show", &st);
	ck_assert_int_eq(count(out, "fwmark 0xc50001"), 1);
	free(out);

	/* the routing decision a marked packet gets */
	out = run("ip -4 route get 198.18.2.7 mark 0xc50001", &st);
	ck_assert_msg(strstr(out, "via 198.18.1.254 dev cvpn-a table 51000"), "%s", out);
	free(out);

	/* a smaller policy: subnet-b's table and rule go, and rt-a's entries no longer in it */
	g = compile_golden("basic");
	ck_assert_int_eq(route_apply_assoc_tables(g.p), 0);
	out = run("ip -4 route show table 51000 proto 197", &st);
	ck_assert_msg(strstr(out, "198.18.1.0/24 dev cvpn-a"), "%s", out);
	ck_assert_msg(strstr(out, "100.64.0.0/22 dev cvpn-tun0"), "%s", out);
	ck_assert_int_eq(count(out, "\n"), 2);
	free(out);
	out = run("ip -4 route show table 51001", &st);
	ck_assert_str_eq(out, "");
	free(out);
	out = run("ip -4 rule show", &st);
	ck_assert_ptr_null(strstr(out, "0xc50002"));
	free(out);

	/* reconcile removes the rest of ours and only ours */
	ck_assert_int_eq(route_reconcile(), 0);
	out = run("ip -4 rule show", &st);
	ck_assert_ptr_null(strstr(out, "0xc5"));
	ck_assert_msg(strstr(out, "5099:\tfrom all fwmark 0x1 lookup 100"), "%s", out);
	ck_assert_msg(strstr(out, "5356:\tfrom all fwmark 0x2 lookup 101"), "%s", out);
	free(out);
	out = run("ip -4 route show table 51000", &st);
	ck_assert_msg(!strcmp(out, "192.0.2.0/24 dev cvpn-a proto static scope link \n"), "[%s]", out);
	free(out);
	out = run("ip -4 route show table 52000", &st);
	ck_assert_msg(strstr(out, "192.0.2.0/24 dev cvpn-a proto 197"), "%s", out);
	free(out);
	ck_assert_int_eq(route_reconcile(), 0);

	/* an association whose interface is missing: the others still go in */
	fx_free(&g);
	fx_free(&f);
}
END_TEST

START_TEST(test_route_missing_interface)
{
	struct fx f;
	char *out;
	int st;

	make_link("cvpn-a", IP4(198, 18, 1, 1), 24);
	f = compile_yaml(routes_yaml, "cvpn-tun0");
	ck_assert_int_eq(route_apply_assoc_tables(f.p), -ENODEV);
	out = run("ip -4 route show table 51000", &st);
	ck_assert_msg(strstr(out, "198.18.1.0/24 dev cvpn-a"), "%s", out);
	free(out);
	out = run("ip -4 rule show", &st);
	ck_assert_msg(strstr(out, "fwmark 0xc50002 lookup 51001"), "%s", out);
	free(out);
	fx_free(&f);
}
END_TEST

/* ---- real packets ---- */

static uint16_t ip_csum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)b[i] << 8 | b[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* One IPv4/UDP packet into the tun, as if a client had sent it. */
static void inject(int fd, uint32_t src, uint32_t dst, uint16_t dport)
{
	uint8_t pkt[20 + 8 + 4] = { 0x45, 0, 0, sizeof(pkt), 0x12, 0x34, 0, 0, 64, 17 };
	uint32_t s = htonl(src), d = htonl(dst);
	uint16_t c, sp = htons(40000), dp = htons(dport);

	memcpy(pkt + 12, &s, 4);
	memcpy(pkt + 16, &d, 4);
	c = htons(ip_csum(pkt, 20));
	memcpy(pkt + 10, &c, 2);
	memcpy(pkt + 20, &sp, 2);
	memcpy(pkt + 22, &dp, 2);
	pkt[24] = 0; pkt[25] = 12;
	memcpy(pkt + 28, "cvpn", 4);
	ck_assert_int_eq(write(fd, pkt, sizeof(pkt)), (ssize_t)sizeof(pkt));
}

static const char traffic_yaml[] = HEAD
	"associations:\n"
	"  - { name: subnet-a, interface: cvpn-a, subnet: 198.18.1.0/24, security-groups: [sg-a],\n"
	"      route-table: rt-a }\n"
	"routes:\n"
	"  - { destination: 198.18.2.0/24, target: subnet-a }\n"
	"authorization-rules:\n"
	"  - { destination: 198.18.1.0/24, all-users: true }\n"
	"  - { destination: 198.18.2.0/24, group: eng }\n"
	"  - { destination: 192.0.2.0/24, all-users: true }\n"
	"security-groups:\n"
	"  - name: sg-a\n"
	"    egress:\n"
	"      - { protocol: udp, ports: 5000-5999, destination: 198.18.0.0/15, description: \"app\" }\n"
	"route-tables:\n"
	"  - name: rt-a\n"
	"    routes:\n"
	"      - { destination: 198.18.2.0/24, via: 198.18.1.254 }\n";

/* Sends one packet and checks the rule named by `where` counted it, and that policy_explain says the
 * same about it. */
static void expect(int fd, struct fx *f, const char *group, uint32_t src, uint32_t dst, uint16_t port,
		   const char *where, long n, int explain_pass)
{
	const char *g[1] = { group };
	struct policy_verdict v;

	inject(fd, src, dst, port);
	ck_assert_msg(wait_packets(where, n) == n, "%08x -> %08x:%u: rule '%s' did not count %ld", src, dst, port,
		      where, n);
	if (explain_pass < 0)
		return;
	ck_assert_int_eq(policy_explain(f->p, g, group ? 1 : 0, policy_assoc_mark(0), dst, 17, port, &v), 0);
	ck_assert_msg(v.pass == (explain_pass == 1), "explain disagrees with the kernel for %08x:%u", dst, port);
}

START_TEST(test_traffic)
{
	char name[IF_NAMESIZE] = "cvpn-tun0";
	const char *eng[] = { "eng" };
	struct fx f;
	bool was;
	uint32_t eng_id;
	int fd = tun_open(name, NULL);

	ck_assert_int_ge(fd, 0);
	/* rp_filter would drop spoofed packets before our rules; the test is about our rules */
	write_path("/proc/sys/net/ipv4/conf/all/rp_filter", "0\n", 0);
	write_path("/proc/sys/net/ipv4/conf/default/rp_filter", "0\n", 0);
	ck_assert_int_eq(route_enable_forwarding(&was), 0);
	ck_assert_int_eq(route_tun_configure(name, IP4(100, 64, 0, 1), 22, 1400), 0);
	make_link("cvpn-a", IP4(198, 18, 1, 1), 24);
	make_link("cvpn-x", IP4(192, 0, 2, 1), 24);

	f = compile_yaml(traffic_yaml, name);
	eng_id = policy_profile(f.p, eng, 1, NULL);
	{
		struct policy_session s[] = {
			{ IP4(100, 64, 0, 2), POLICY_PROFILE_ALL, policy_assoc_mark(0) },
			{ IP4(100, 64, 0, 3), eng_id, policy_assoc_mark(0) },
		};

		ck_assert_int_eq(policy_nft_apply(f.p, s, 2, false), 0);
	}
	ck_assert_int_eq(route_apply_assoc_tables(f.p), 0);

	/* not a session's address */
	expect(fd, &f, NULL, IP4(100, 64, 0, 9), IP4(198, 18, 1, 2), 5000, "anti-spoofing", 1, -1);
	/* authorized, in the subnet, allowed by the security group: out, SNATed */
	expect(fd, &f, NULL, IP4(100, 64, 0, 2), IP4(198, 18, 1, 2), 5000, "out through association", 1, 1);
	ck_assert_int_eq(wait_packets("snat ip to 198.18.1.1", 1), 1);
	ck_assert_int_eq(wait_packets("sg sg-a: app", 1), 1);
	/* the security group has no rule for this port */
	expect(fd, &f, NULL, IP4(100, 64, 0, 2), IP4(198, 18, 1, 2), 6000, "no security group rule", 1, 0);
	/* 198.18.2.0/24 is eng's: no-group session dropped by authorization, eng's passes through the
	 * association's routing table */
	expect(fd, &f, NULL, IP4(100, 64, 0, 2), IP4(198, 18, 2, 5), 5000, "authorization: no rule", 1, 0);
	expect(fd, &f, "eng", IP4(100, 64, 0, 3), IP4(198, 18, 2, 5), 5000, "out through association", 2, 1);
	ck_assert_int_eq(wait_packets("snat ip to 198.18.1.1", 2), 2);
	/* authorized, but no client-VPN route (the main table would send it out of cvpn-x) */
	expect(fd, &f, NULL, IP4(100, 64, 0, 2), IP4(192, 0, 2, 9), 5000, "no client-VPN route", 1, 0);
	/* the session ends: its address is spoofing from now on */
	ck_assert_int_eq(policy_nft_session_del(IP4(100, 64, 0, 3)), 0);
	expect(fd, &f, "eng", IP4(100, 64, 0, 3), IP4(198, 18, 2, 5), 5000, "anti-spoofing", 2, -1);
	ck_assert_int_eq(wait_packets("out through association", 2), 2);
	close(fd);
	fx_free(&f);
}
END_TEST

/* ---- scale: one transaction for a big policy ---- */

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Authorization elements in the kernel: the verdict map's spans, and each class's profiles. */
static size_t authz_elements(const struct policy *p)
{
	size_t n = p->n_spans;

	for (size_t k = 0; k < p->n_classes; k++)
		for (size_t i = 0; i < p->n_profiles; i++)
			n += !p->classes[k].all_users && policy_class_grants(&p->classes[k], &p->profiles[i]);
	return n;
}

START_TEST(test_big_policy)
{
	char *yaml = NULL, *l;
	size_t len = 0;
	FILE *y = open_memstream(&yaml, &len);
	struct fx f = { 0 };
	struct policy_session *s = calloc(2000, sizeof(*s));
	char path[PATH_MAX + 16];
	struct policy_env env;
	double t0, t1, t2;
	size_t n_authz = 0;

	ck_assert_ptr_nonnull(s);
	fputs(HEAD "associations:\n", y);
	fputs("  - { name: a0, interface: cvpn-e0, subnet: 198.19.0.0/24, security-groups: [s0, s1, s2, s3, s4],"
	      " network-acl: n0 }\n", y);
	fputs("  - { name: a1, interface: cvpn-e1, subnet: 198.19.1.0/24, network-acl: n0 }\n", y);
	/* 500 routes: 250 destinations through each association (4 are the automatic subnet routes) */
	fputs("routes:\n", y);
	for (int i = 0; i < 248; i++)
		for (int a = 0; a < 2; a++)
			fprintf(y, "  - { destination: 198.18.%d.0/24, target: a%d, description: \"r%d\" }\n", i, a, i);
	fprintf(y, "  - { destination: 198.19.0.0/24, target: a1 }\n  - { destination: 198.19.1.0/24, target: a0 }\n");
	/* 1,000 authorization rules over 20 groups, nested: /26s inside /22s inside the /15 */
	fputs("authorization-rules:\n", y);
	for (int i = 0; i < 1000; i++) {
		uint32_t a = IP4(198, 18, 0, 0) + (uint32_t)i * 128;

		if (i % 10 == 0)
			fprintf(y, "  - { destination: %u.%u.%u.0/22, group: g%d }\n", a >> 24, (a >> 16) & 255,
				(a >> 8) & 252, (i / 10) % 20);
		else
			fprintf(y, "  - { destination: %u.%u.%u.%u/26, group: g%d, description: \"rule %d\" }\n",
				a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255, i % 20, i);
	}
	/* 100 security-group rules in 5 groups, 200 ACL entries */
	fputs("security-groups:\n", y);
	for (int g = 0; g < 5; g++) {
		fprintf(y, "  - name: s%d\n    egress:\n", g);
		for (int k = 0; k < 20; k++)
			fprintf(y, "      - { protocol: tcp, ports: %d, destination: 198.18.%d.0/24 }\n",
				1000 + g * 20 + k, k);
	}
	fputs("network-acls:\n  - name: n0\n    outbound:\n", y);
	for (int k = 0; k < 100; k++)
		fprintf(y, "      - { rule: %d, action: %s, protocol: udp, ports: %d, cidr: 198.18.%d.0/24 }\n",
			100 + k, k % 7 ? "allow" : "deny", 2000 + k, k);
	fputs("    inbound:\n", y);
	for (int k = 0; k < 100; k++)
		fprintf(y, "      - { rule: %d, action: allow, protocol: tcp, ports: 1024-65535, cidr: 198.18.%d.0/24 }\n",
			100 + k, k);
	fclose(y);
	write_tmp("big.yaml", yaml, 0644);
	snprintf(path, sizeof(path), "%s/big.yaml", tmpdir);
	ck_assert_int_eq(config_load(path, NULL, &f.cfg), 0);
	ck_assert_uint_eq(f.cfg->n_routes, 500);
	ck_assert_uint_eq(f.cfg->n_authz_rules, 1000);

	t0 = now_ms();
	f.snat[0] = IP4(198, 19, 0, 1);
	f.snat[1] = IP4(198, 19, 1, 1);
	env = (struct policy_env){ "cvpn-tun0", f.snat, 2, false };
	ck_assert_int_eq(policy_compile(f.cfg, &env, &f.p, stderr), 0);
	for (int i = 0; i < 2000; i++) {
		char g1[8], g2[8];
		const char *gs[2] = { g1, g2 };

		snprintf(g1, sizeof(g1), "g%d", i % 20);
		snprintf(g2, sizeof(g2), "g%d", (i / 20) % 20);
		s[i] = (struct policy_session){ IP4(100, 64, 0, 2) + (uint32_t)i,
						 policy_profile(f.p, gs, (size_t)(i % 3 ? 2 : 1), NULL),
						 policy_assoc_mark((size_t)i % 2) };
	}
	t1 = now_ms();
	ck_assert_int_eq(policy_nft_apply(f.p, s, 2000, false), 0);
	t2 = now_ms();
	n_authz = authz_elements(f.p);
	fprintf(stderr, "test_big_policy: 1000 authz rules, 500 routes, 100 SG rules, 200 ACL entries, 2000 "
		"sessions (%zu profiles, %zu authz elements): compile %.1f ms, apply (one batch) %.1f ms, "
		"total %.1f ms\n", f.p->n_profiles, n_authz, t1 - t0, t2 - t1, t2 - t0);
	/* the same config, sessions with one group each (a fresh compile: 21 profiles), as a reload */
	{
		struct policy *q = NULL;

		t0 = now_ms();
		ck_assert_int_eq(policy_compile(f.cfg, &env, &q, stderr), 0);
		for (int i = 0; i < 2000; i++) {
			char g1[8];
			const char *gs[1] = { g1 };

			snprintf(g1, sizeof(g1), "g%d", i % 20);
			s[i].profile = policy_profile(q, gs, 1, NULL);
		}
		ck_assert_int_eq(policy_nft_apply(q, s, 2000, false), 0);
		t1 = now_ms();
		n_authz = authz_elements(q);
		fprintf(stderr, "test_big_policy: the same, one group per session (%zu profiles, %zu authz elements): "
			"compile + apply %.1f ms\n", q->n_profiles, n_authz, t1 - t0);
		policy_free(q);
	}
	l = listing();
	ck_assert_int_eq(count(l, " : 0x00c5000"), 2000);
	ck_assert_int_eq(count(l, "comment \"sg s"), 100);
	ck_assert_int_eq(count(l, "comment \"ACL n0 "), 2 * (200 + 2));
	free(l);
	free(s);
	free(yaml);
	fx_free(&f);
}
END_TEST

static Suite *policy_nft_suite(void)
{
	Suite *s = suite_create("policy_nft");
	TCase *n = tcase_create("nft"), *r = tcase_create("route"), *t = tcase_create("traffic");

	tcase_add_checked_fixture(n, setup, teardown);
	tcase_add_checked_fixture(r, setup, teardown);
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(n, 120);
	tcase_set_timeout(r, 30);
	tcase_set_timeout(t, 60);
	tcase_add_test(n, test_apply_matches_render);
	tcase_add_test(n, test_sessions_and_profiles);
	tcase_add_test(n, test_dry_run_and_rejects);
	tcase_add_test(n, test_replace);
	tcase_add_test(n, test_apply_invalid);
	tcase_add_test(n, test_delete);
	tcase_add_test(n, test_kernel_error);
	tcase_add_test(n, test_max_associations);
	tcase_add_test(n, test_big_policy);
	tcase_add_test(r, test_route_tables);
	tcase_add_test(r, test_route_missing_interface);
	tcase_add_test(t, test_traffic);
	suite_add_tcase(s, n);
	suite_add_tcase(s, r);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "test_policy_nft: SKIPPED: needs root (network namespaces, nftables)\n");
		return 0;
	}
	return check_run(policy_nft_suite());
}
