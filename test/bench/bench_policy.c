// SPDX-License-Identifier: GPL-2.0-or-later
/* Policy benchmark, in a private network namespace (unshare: nothing to clean up, nothing shared):
 * compile + apply of a large policy (1,000 authorization rules, 500 routes, 100 security-group rules,
 * 200 ACL entries, 2,000 sessions) in one transaction, and the median time to add and remove one
 * session's elements with 100 and with 10,000 sessions installed. Prints a table and one JSON object
 * (policy.apply_ms, policy.compile_ms, policy.session_update_us_100, policy.session_update_us_10000). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cvpn/config.h"
#include "cvpn/nft.h"
#include "cvpn/policy.h"

#define N_AUTHZ 1000
#define N_ROUTES 500
#define N_SG_RULES 100
#define N_ACL 200
#define N_SESSIONS 2000
#define N_GROUPS 20
#define UPDATE_SAMPLES 201

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void sh(const char *cmd)
{
	if (system(cmd) != 0) {
		fprintf(stderr, "bench_policy: failed: %s\n", cmd);
		exit(1);
	}
}

/* Writes the big endpoint config (and the throwaway files it names) into dir. */
static void write_config(const char *dir, const char *ifname, char *path, size_t len)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "cd %s && touch ca.crt server.crt server.key && chmod 600 server.key", dir);
	sh(p);
	snprintf(path, len, "%s/endpoint.yaml", dir);
	f = fopen(path, "w");
	if (!f)
		exit(1);
	fprintf(f, "endpoint:\n  listen: { address: 203.0.113.1, port: 1194, transport: udp }\n"
		   "  server-certificate: server.crt\n  server-key: server.key\n  client-ca: ca.crt\n"
		   "  client-cidr: 100.64.0.0/16\n  max-connections: 20000\nassociations:\n"
		   "  - { name: a, interface: %s, subnet: 198.18.0.0/24, security-groups: [sg1, sg2],"
		   " network-acl: acl1 }\nroutes:\n", ifname);
	/* 500 routes into 198.19.0.0/16 (/24s) */
	for (int i = 0; i < N_ROUTES; i++)
		fprintf(f, "  - { destination: 198.19.%d.%d/%d, target: a }\n", i / 2, (i % 2) * 128, 25);
	fprintf(f, "authorization-rules:\n");
	/* 1,000 rules: nested prefixes across the routed space, spread over 20 groups and all-users */
	for (int i = 0; i < N_AUTHZ; i++) {
		int third = i % 250, plen = 24 + (i / 250) * 2; /* /24, /26, /28, /30 */

		if (i % 10 == 0)
			fprintf(f, "  - { destination: 198.19.%d.0/%d, all-users: true }\n", third, plen);
		else
			fprintf(f, "  - { destination: 198.19.%d.0/%d, group: g%d }\n", third, plen, i % N_GROUPS);
	}
	fprintf(f, "security-groups:\n  - name: sg1\n    egress:\n");
	for (int i = 0; i < N_SG_RULES / 2; i++)
		fprintf(f, "      - { protocol: tcp, ports: %d, destination: 198.19.%d.0/24 }\n", 1000 + i, i);
	fprintf(f, "  - name: sg2\n    egress:\n");
	for (int i = 0; i < N_SG_RULES / 2; i++)
		fprintf(f, "      - { protocol: udp, ports: %d-%d, destination: 198.19.%d.0/24 }\n", 2000 + i,
			2100 + i, i);
	fprintf(f, "network-acls:\n  - name: acl1\n    outbound:\n");
	for (int i = 0; i < N_ACL / 2; i++)
		fprintf(f, "      - { rule: %d, action: %s, protocol: tcp, ports: %d, cidr: 198.19.%d.0/24 }\n",
			(i + 1) * 10, i % 7 ? "allow" : "deny", 3000 + i, i);
	fprintf(f, "    inbound:\n");
	for (int i = 0; i < N_ACL / 2; i++)
		fprintf(f, "      - { rule: %d, action: allow, protocol: tcp, ports: 1024-65535, cidr: 198.19.%d.0/24 }\n",
			(i + 1) * 10, i);
	fclose(f);
}

/* Median of add+remove of one extra session's elements, with `installed` sessions already there. */
static double median_update_us(struct policy *p, uint32_t installed)
{
	double t[UPDATE_SAMPLES];

	for (uint32_t i = 0; i < installed; i++)
		if (policy_nft_session_add(0x64400000u + 2 + i, 1 + i % 3, policy_assoc_mark(0)) < 0)
			exit(1);
	for (int i = 0; i < UPDATE_SAMPLES; i++) {
		uint32_t addr = 0x6440ff00u + (uint32_t)(i % 200);
		double t0 = now_us();

		if (policy_nft_session_add(addr, 1, policy_assoc_mark(0)) < 0 || policy_nft_session_del(addr) < 0)
			exit(1);
		t[i] = (now_us() - t0) / 2; /* one update = one add or one remove */
	}
	for (uint32_t i = 0; i < installed; i++)
		policy_nft_session_del(0x64400000u + 2 + i);
	(void)p;
	qsort(t, UPDATE_SAMPLES, sizeof(t[0]), cmp_double);
	return t[UPDATE_SAMPLES / 2];
}

/* `bench_policy --load IFNAME ADDR`: no private namespace; installs the big policy (with its sessions) in
 * the current one on the existing interface IFNAME (whose address is ADDR) and leaves it there, for the
 * forwarding benchmark to measure traffic through it. */
int main(int argc, char **argv)
{
	bool load_only = argc == 4 && !strcmp(argv[1], "--load");
	const char *ifname = load_only ? argv[2] : "bench-a";
	char dir[] = "/tmp/cvpn-bench-policy.XXXXXX", path[600], *groups[2], gbuf[2][8];
	struct policy_session *ss = calloc(N_SESSIONS, sizeof(*ss));
	struct config *cfg = NULL;
	struct policy *p = NULL;
	uint32_t snat = 0xc6120001u;
	struct policy_env env = { "bench-tun", &snat, 1, false };
	double t0, compile_ms, apply_ms, u100, u10000;
	size_t n_profiles;

	if (load_only) {
		struct cidr4 a;

		if (config_parse_cidr4(argv[3], &a) < 0 || a.len != 32) {
			fprintf(stderr, "usage: bench_policy [--load IFNAME ADDR]\n");
			return 2;
		}
		snat = a.addr;
	} else {
		if (unshare(CLONE_NEWNET) < 0) {
			perror("unshare (needs root)");
			return 1;
		}
		sh("ip link set lo up && ip link add bench-a type veth peer name bench-b && ip link set bench-a up "
		   "&& ip addr add 198.18.0.1/24 dev bench-a");
	}
	if (!mkdtemp(dir))
		return 1;
	write_config(dir, ifname, path, sizeof(path));
	if (config_load(path, stderr, &cfg) < 0)
		return 1;
	t0 = now_us();
	if (policy_compile(cfg, &env, &p, stderr) < 0)
		return 1;
	/* sessions in groups of one or two of 20: the profiles a directory of 20 groups would give */
	for (int i = 0; i < N_SESSIONS; i++) {
		snprintf(gbuf[0], sizeof(gbuf[0]), "g%d", i % N_GROUPS);
		snprintf(gbuf[1], sizeof(gbuf[1]), "g%d", (i / N_GROUPS) % N_GROUPS);
		groups[0] = gbuf[0];
		groups[1] = gbuf[1];
		ss[i] = (struct policy_session){ 0x64400002u + (uint32_t)i,
						 policy_profile(p, (const char *const *)groups, i % 3 ? 1 : 2, NULL),
						 policy_assoc_mark(0) };
	}
	compile_ms = (now_us() - t0) / 1000;
	n_profiles = p->n_profiles;
	t0 = now_us();
	if (policy_nft_apply(p, ss, N_SESSIONS, false) < 0) {
		fprintf(stderr, "bench_policy: apply failed\n");
		return 1;
	}
	apply_ms = (now_us() - t0) / 1000;
	if (load_only) {
		printf("loaded: %zu profiles, apply %.1f ms\n", n_profiles, apply_ms);
		goto done;
	}
	policy_nft_apply(p, NULL, 0, false);
	u100 = median_update_us(p, 100);
	u10000 = median_update_us(p, 10000);

	printf("policy: %d authz rules, %d routes, %d SG rules, %d ACL entries, %d sessions, %zu profiles\n", N_AUTHZ,
	       N_ROUTES, N_SG_RULES, N_ACL, N_SESSIONS, n_profiles);
	printf("  compile (incl. profiles)   %8.1f ms\n", compile_ms);
	printf("  apply (one transaction)    %8.1f ms\n", apply_ms);
	printf("  session update, 100        %8.1f us (median of %d)\n", u100, UPDATE_SAMPLES);
	printf("  session update, 10,000     %8.1f us (median of %d)\n", u10000, UPDATE_SAMPLES);
	printf("{\"compile_ms\": %.2f, \"apply_ms\": %.2f, \"session_update_us_100\": %.1f, "
	       "\"session_update_us_10000\": %.1f, \"profiles\": %zu}\n",
	       compile_ms, apply_ms, u100, u10000, n_profiles);
	nft_delete_table();
done:
	policy_free(p);
	config_free(cfg);
	free(ss);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	sh(path);
	return 0;
}
