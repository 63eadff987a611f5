// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for the endpoint config (ctrl/config*.c) and the client-file export (ctrl/export.c).
 *
 * Each test writes YAML into its own mkdtemp directory with throwaway PKI files beside it. Expected error
 * lines are never typed in: the YAML marks the offending line with a "#!" comment and the test computes its
 * number from the text, then requires a message "file:<that line>:<col>: ...<expected words>...". */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cvpn/config.h"
#include "cvpn/export.h"

#include "check_run.h"
#include "test_util.h"

static char tmpdir[64]; /* short: paths built from it must fit PATH_MAX */
static char realdir[PATH_MAX];

/* ---- fixture ---- */

static void setup(void)
{
	tmpdir_make(tmpdir, sizeof(tmpdir), "config");
	ck_assert_ptr_nonnull(realpath(tmpdir, realdir));
	/* content does not matter to config_load, only existence and modes */
	tmpdir_pki(tmpdir, "pki");
	tmpdir_write(tmpdir, "pki/server-ca.crt", "server ca\n", 0644);
	tmpdir_write(tmpdir, "pki/crl.pem", "crl\n", 0644);
}

static void teardown(void)
{
	tmpdir_remove(tmpdir);
}

/* ---- helpers ---- */

static struct loaded load_text(const char *name, const char *text)
{
	return load_in(tmpdir, name, text);
}

/* 1-based number of the line of text that contains marker. */
static int line_of(const char *text, const char *marker)
{
	const char *at = strstr(text, marker);
	int line = 1;

	ck_assert_msg(at != NULL, "marker '%s' not in the test's YAML", marker);
	for (const char *p = text; p < at; p++)
		line += *p == '\n';
	return line;
}

/* Does errs hold a line "<path>:<line>:<col>: ...needle..."? */
static bool has_error(const char *errs, const char *path, int line, const char *needle)
{
	char prefix[PATH_MAX + 32], buf[1024];
	size_t plen;

	plen = (size_t)snprintf(prefix, sizeof(prefix), "%s:%d:", path, line);
	for (const char *p = errs; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);

		if (n < sizeof(buf)) {
			memcpy(buf, p, n);
			buf[n] = '\0';
			if (!strncmp(buf, prefix, plen) && strstr(buf, needle))
				return true;
		}
		p = nl ? nl + 1 : p + n;
	}
	return false;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; s && *s; s++)
		n += *s == '\n';
	return n;
}

/* Relative paths in the file resolve to absolute paths under the file's (real) directory. */
static void assert_path(const char *got, const char *rel)
{
	char *want;

	ck_assert_int_ge(asprintf(&want, "%s/%s", realdir, rel), 0);
	ck_assert_str_eq(got, want);
	free(want);
}

#define PKI "  server-certificate: pki/server.crt\n  server-key: pki/server.key\n  client-ca: pki/ca.crt\n"
#define EP "endpoint:\n" PKI "  client-cidr: 100.64.0.0/22\n"
#define ASSOC "associations:\n  - { name: subnet-a, interface: eth-a, subnet: 198.18.1.0/24 }\n"

/* ---- a full file ---- */

static const char full_yaml[] =
	"endpoint:\n"
	"  id: cvpn-endpoint-test\n"
	"  listen: { address: 198.51.100.7, port: 1194, transport: tcp }\n"
	"  remote: vpn.example.com\n"
	"  server-certificate: pki/server.crt\n"
	"  server-key: pki/server.key\n"
	"  client-ca: pki/ca.crt\n"
	"  server-ca: pki/server-ca.crt\n"
	"  crl: pki/crl.pem\n"
	"  tls-ekm: false\n"
	"  client-cidr: 100.64.0.0/20\n"
	"  split-tunnel: true\n"
	"  dns-servers: [198.18.0.53, 198.18.0.54]\n"
	"  search-domains: [corp.example, example.net]\n"
	"  data-ciphers: [CHACHA20-POLY1305, aes-128-gcm]\n"
	"  keepalive: { interval: 15s, timeout: 2m }\n"
	"  renegotiate-after: 0\n"
	"  handshake-window: 30s\n"
	"  transition-window: 10m\n"
	"  session-timeout: 8h\n"
	"  max-connections: 500\n"
	"  banner: \"Authorized use only\"\n"
	"associations:\n"
	"  - name: subnet-a #A\n"
	"    interface: eth-a\n"
	"    subnet: 198.18.1.0/24\n"
	"    security-groups: [sg-web, sg-dns]\n"
	"    network-acl: acl-a\n"
	"    route-table: rt-a\n"
	"  - name: subnet-b #B\n"
	"    interface: eth-b\n"
	"    subnet: 198.18.3.0/24\n"
	"routes:\n"
	"  - { destination: 198.18.2.0/24, target: subnet-a, description: \"on-prem\" } #R0\n"
	"  - { destination: 198.18.2.0/24, target: subnet-b, description: \"on-prem\" }\n"
	"  - { destination: 0.0.0.0/0, target: subnet-a }\n"
	"  - { destination: 0.0.0.0/0, target: subnet-b }\n"
	"  - { destination: 100.64.0.0/20, target: local, description: \"client to client\" }\n"
	"authorization-rules:\n"
	"  - { destination: 198.18.1.0/24, group: eng, description: \"eng subnet\" } #Z0\n"
	"  - { destination: 0.0.0.0/0, all-users: true }\n"
	"security-groups:\n"
	"  - name: sg-web #G0\n"
	"    egress:\n"
	"      - { protocol: tcp, ports: 443, destination: 198.18.0.0/15, description: \"https\" } #S0\n"
	"      - { protocol: udp, ports: 1024-2048, destination: 198.18.2.0/24 }\n"
	"  - name: sg-dns\n"
	"    egress:\n"
	"      - { protocol: icmp, destination: 0.0.0.0/0 }\n"
	"      - { protocol: 47, destination: 198.18.2.0/24 }\n"
	"network-acls:\n"
	"  - name: acl-a #N0\n"
	"    outbound: [ { rule: 100, action: allow, protocol: all, cidr: 0.0.0.0/0 } ]\n"
	"    inbound:\n"
	"      - { rule: 100, action: allow, protocol: tcp, ports: 1024-65535, cidr: 0.0.0.0/0 } #I0\n"
	"      - { rule: 200, action: deny, protocol: udp, cidr: 198.18.2.0/24 }\n"
	"route-tables:\n"
	"  - name: rt-a #T0\n"
	"    routes: [ { destination: 0.0.0.0/0, via: 198.18.1.254 }, { destination: 198.18.2.0/24 } ]\n";

static void assert_cidr(struct cidr4 c, const char *want)
{
	struct cidr4 w;

	ck_assert_int_eq(config_parse_cidr4(want, &w), 0);
	ck_assert_uint_eq(c.addr, w.addr);
	ck_assert_uint_eq(c.len, w.len);
}

static uint32_t ip(const char *s)
{
	struct cidr4 c;

	ck_assert_int_eq(config_parse_cidr4(s, &c), 0);
	return c.addr;
}

START_TEST(test_full_file)
{
	struct loaded l = load_text("endpoint.yaml", full_yaml);
	const struct config *c = l.cfg;

	ck_assert_msg(l.ret == 0, "errors: %s", l.errs);
	ck_assert_str_eq(l.errs, ""); /* every route reaches both associations: not even a warning */
	ck_assert_str_eq(c->path, l.path);
	ck_assert_str_eq(c->endpoint_id, "cvpn-endpoint-test");
	ck_assert_str_eq(c->listen_address, "198.51.100.7");
	ck_assert_uint_eq(c->port, 1194);
	ck_assert_int_eq(c->transport, CONFIG_TRANSPORT_TCP);
	ck_assert_str_eq(c->remote_name, "vpn.example.com");
	/* relative paths resolve against the file's directory */
	assert_path(c->server_cert, "pki/server.crt");
	assert_path(c->server_key, "pki/server.key");
	assert_path(c->client_ca, "pki/ca.crt");
	assert_path(c->server_ca, "pki/server-ca.crt");
	assert_path(c->crl, "pki/crl.pem");
	ck_assert(!c->offer_tls_ekm);
	assert_cidr(c->client_cidr, "100.64.0.0/20");
	ck_assert(c->split_tunnel);
	ck_assert_uint_eq(c->n_dns_servers, 2);
	ck_assert_uint_eq(c->dns_servers[0], ip("198.18.0.53"));
	ck_assert_uint_eq(c->dns_servers[1], ip("198.18.0.54"));
	ck_assert_uint_eq(c->n_search_domains, 2);
	ck_assert_str_eq(c->search_domains[0], "corp.example");
	ck_assert_str_eq(c->search_domains[1], "example.net");
	ck_assert_int_eq(c->data_ciphers[0], CVPN_CIPHER_CHACHA20_POLY1305);
	ck_assert_int_eq(c->data_ciphers[1], CVPN_CIPHER_AES_128_GCM);
	ck_assert_int_eq(c->data_ciphers[2], CVPN_CIPHER_NONE);
	ck_assert_uint_eq(c->keepalive_interval, 15);
	ck_assert_uint_eq(c->keepalive_timeout, 120);
	ck_assert_uint_eq(c->reneg_seconds, 0);
	ck_assert_uint_eq(c->handshake_window, 30);
	ck_assert_uint_eq(c->transition_window, 600);
	ck_assert_uint_eq(c->session_timeout, 8 * 3600);
	ck_assert_uint_eq(c->max_connections, 500);
	ck_assert_str_eq(c->banner, "Authorized use only");

	ck_assert_uint_eq(c->n_associations, 2);
	ck_assert_str_eq(c->associations[0].name, "subnet-a");
	ck_assert_str_eq(c->associations[0].ifname, "eth-a");
	assert_cidr(c->associations[0].subnet, "198.18.1.0/24");
	ck_assert_uint_eq(c->associations[0].n_security_groups, 2);
	ck_assert_str_eq(c->associations[0].security_groups[0], "sg-web");
	ck_assert_str_eq(c->associations[0].security_groups[1], "sg-dns");
	ck_assert_str_eq(c->associations[0].network_acl, "acl-a");
	ck_assert_str_eq(c->associations[0].subnet_route_table, "rt-a");
	ck_assert_int_eq(c->associations[0].line, line_of(full_yaml, "#A"));
	ck_assert_str_eq(c->associations[1].name, "subnet-b");
	ck_assert_str_eq(c->associations[1].ifname, "eth-b");
	ck_assert_uint_eq(c->associations[1].n_security_groups, 0);
	ck_assert_ptr_null(c->associations[1].security_groups);
	ck_assert_ptr_null(c->associations[1].network_acl);
	ck_assert_ptr_null(c->associations[1].subnet_route_table);
	ck_assert_int_eq(c->associations[1].line, line_of(full_yaml, "#B"));

	/* 5 written + the two associations' own subnets */
	ck_assert_uint_eq(c->n_routes, 7);
	assert_cidr(c->routes[0].dst, "198.18.2.0/24");
	ck_assert_str_eq(c->routes[0].target, "subnet-a");
	ck_assert_str_eq(c->routes[0].description, "on-prem");
	ck_assert_int_eq(c->routes[0].line, line_of(full_yaml, "#R0"));
	ck_assert_str_eq(c->routes[1].target, "subnet-b");
	assert_cidr(c->routes[2].dst, "0.0.0.0/0");
	ck_assert_str_eq(c->routes[2].description, "");
	assert_cidr(c->routes[4].dst, "100.64.0.0/20");
	ck_assert_str_eq(c->routes[4].target, "local");
	ck_assert_str_eq(c->routes[4].description, "client to client");
	assert_cidr(c->routes[5].dst, "198.18.1.0/24");
	ck_assert_str_eq(c->routes[5].target, "subnet-a");
	assert_cidr(c->routes[6].dst, "198.18.3.0/24");
	ck_assert_str_eq(c->routes[6].target, "subnet-b");

	ck_assert_uint_eq(c->n_authz_rules, 2);
	assert_cidr(c->authz_rules[0].dst, "198.18.1.0/24");
	ck_assert_str_eq(c->authz_rules[0].group, "eng");
	ck_assert(!c->authz_rules[0].all_users);
	ck_assert_str_eq(c->authz_rules[0].description, "eng subnet");
	ck_assert_int_eq(c->authz_rules[0].line, line_of(full_yaml, "#Z0"));
	assert_cidr(c->authz_rules[1].dst, "0.0.0.0/0");
	ck_assert_ptr_null(c->authz_rules[1].group);
	ck_assert(c->authz_rules[1].all_users);

	ck_assert_uint_eq(c->n_security_groups, 2);
	ck_assert_str_eq(c->security_groups[0].name, "sg-web");
	ck_assert_int_eq(c->security_groups[0].line, line_of(full_yaml, "#G0"));
	ck_assert_uint_eq(c->security_groups[0].n_egress, 2);
	ck_assert_int_eq(c->security_groups[0].egress[0].proto, CONFIG_PROTO_TCP);
	ck_assert_uint_eq(c->security_groups[0].egress[0].port_from, 443);
	ck_assert_uint_eq(c->security_groups[0].egress[0].port_to, 443);
	assert_cidr(c->security_groups[0].egress[0].dst, "198.18.0.0/15");
	ck_assert_str_eq(c->security_groups[0].egress[0].description, "https");
	ck_assert_int_eq(c->security_groups[0].egress[0].line, line_of(full_yaml, "#S0"));
	ck_assert_int_eq(c->security_groups[0].egress[1].proto, CONFIG_PROTO_UDP);
	ck_assert_uint_eq(c->security_groups[0].egress[1].port_from, 1024);
	ck_assert_uint_eq(c->security_groups[0].egress[1].port_to, 2048);
	ck_assert_int_eq(c->security_groups[1].egress[0].proto, CONFIG_PROTO_ICMP);
	ck_assert_uint_eq(c->security_groups[1].egress[0].port_from, 0);
	ck_assert_uint_eq(c->security_groups[1].egress[0].port_to, 65535);
	ck_assert_int_eq(c->security_groups[1].egress[1].proto, 47);

	ck_assert_uint_eq(c->n_network_acls, 1);
	ck_assert_str_eq(c->network_acls[0].name, "acl-a");
	ck_assert_int_eq(c->network_acls[0].line, line_of(full_yaml, "#N0"));
	ck_assert_uint_eq(c->network_acls[0].n_outbound, 1);
	ck_assert_uint_eq(c->network_acls[0].outbound[0].number, 100);
	ck_assert(c->network_acls[0].outbound[0].allow);
	ck_assert_int_eq(c->network_acls[0].outbound[0].proto, CONFIG_PROTO_ALL);
	ck_assert_uint_eq(c->network_acls[0].n_inbound, 2);
	ck_assert_int_eq(c->network_acls[0].inbound[0].line, line_of(full_yaml, "#I0"));
	ck_assert_int_eq(c->network_acls[0].inbound[0].proto, CONFIG_PROTO_TCP);
	ck_assert_uint_eq(c->network_acls[0].inbound[0].port_from, 1024);
	ck_assert_uint_eq(c->network_acls[0].inbound[0].port_to, 65535);
	ck_assert_uint_eq(c->network_acls[0].inbound[1].number, 200);
	ck_assert(!c->network_acls[0].inbound[1].allow);
	assert_cidr(c->network_acls[0].inbound[1].cidr, "198.18.2.0/24");

	ck_assert_uint_eq(c->n_route_tables, 1);
	ck_assert_str_eq(c->route_tables[0].name, "rt-a");
	ck_assert_int_eq(c->route_tables[0].line, line_of(full_yaml, "#T0"));
	ck_assert_uint_eq(c->route_tables[0].n_entries, 2);
	assert_cidr(c->route_tables[0].entries[0].dst, "0.0.0.0/0");
	ck_assert_uint_eq(c->route_tables[0].entries[0].via, ip("198.18.1.254"));
	assert_cidr(c->route_tables[0].entries[1].dst, "198.18.2.0/24");
	ck_assert_uint_eq(c->route_tables[0].entries[1].via, 0);
	loaded_free(&l);
}
END_TEST

START_TEST(test_defaults)
{
	static const char yaml[] = EP ASSOC;
	struct loaded l = load_text("min.yaml", yaml);
	const struct config *c = l.cfg;

	ck_assert_msg(l.ret == 0, "errors: %s", l.errs);
	ck_assert_str_eq(c->endpoint_id, "cvpn-endpoint");
	ck_assert_str_eq(c->listen_address, "0.0.0.0");
	ck_assert_uint_eq(c->port, 443);
	ck_assert_int_eq(c->transport, CONFIG_TRANSPORT_UDP);
	ck_assert_str_eq(c->remote_name, "0.0.0.0");
	ck_assert_str_eq(c->server_ca, c->client_ca);
	ck_assert_ptr_ne(c->server_ca, c->client_ca); /* owned copies */
	ck_assert_ptr_null(c->crl);
	ck_assert_ptr_null(c->banner);
	ck_assert(c->offer_tls_ekm);
	ck_assert(!c->split_tunnel);
	ck_assert_uint_eq(c->n_dns_servers, 0);
	ck_assert_uint_eq(c->n_search_domains, 0);
	ck_assert_int_eq(c->data_ciphers[0], CVPN_CIPHER_AES_256_GCM);
	ck_assert_int_eq(c->data_ciphers[1], CVPN_CIPHER_AES_128_GCM);
	ck_assert_int_eq(c->data_ciphers[2], CVPN_CIPHER_CHACHA20_POLY1305);
	ck_assert_int_eq(c->data_ciphers[3], CVPN_CIPHER_NONE);
	ck_assert_uint_eq(c->keepalive_interval, 10);
	ck_assert_uint_eq(c->keepalive_timeout, 60);
	ck_assert_uint_eq(c->reneg_seconds, 3600);
	ck_assert_uint_eq(c->handshake_window, 60);
	ck_assert_uint_eq(c->transition_window, 3600);
	ck_assert_uint_eq(c->session_timeout, 86400);
	/* a /22 has 1024 - 3 assignable addresses (network, gateway, broadcast): the default 2000 can't fit */
	ck_assert_uint_eq(c->max_connections, 1021);
	ck_assert_uint_eq(c->n_routes, 1);
	ck_assert_uint_eq(c->n_authz_rules, 0);
	loaded_free(&l);
}
END_TEST

START_TEST(test_default_max_connections)
{
	static const char yaml[] = "endpoint:\n" PKI "  client-cidr: 100.64.0.0/16\n" ASSOC;
	struct loaded l = load_text("big.yaml", yaml);

	ck_assert_msg(l.ret == 0, "errors: %s", l.errs);
	ck_assert_uint_eq(l.cfg->max_connections, 2000);
	loaded_free(&l);
}
END_TEST

/* ---- one error each ---- */

struct err_case {
	const char *yaml;	/* the line the error must point at carries "#!"; none = line 1 */
	const char *expect;
};

static const struct err_case err_cases[] = {
	/* required keys */
	{ "endpoint: #!\n  server-key: pki/server.key\n  client-ca: pki/ca.crt\n  client-cidr: 100.64.0.0/22\n" ASSOC,
	  "missing required key 'server-certificate'" },
	{ "endpoint: #!\n  server-certificate: pki/server.crt\n  client-ca: pki/ca.crt\n  client-cidr: 100.64.0.0/22\n"
	  ASSOC, "missing required key 'server-key'" },
	{ "endpoint: #!\n  server-certificate: pki/server.crt\n  server-key: pki/server.key\n"
	  "  client-cidr: 100.64.0.0/22\n" ASSOC, "missing required key 'client-ca'" },
	{ "endpoint: #!\n" PKI ASSOC, "missing required key 'client-cidr'" },
	{ "endpoint: #!\n" PKI "  client-cidr: 100.64.0.0/22\n", "at least one association" },
	{ EP "associations: [] #!\n", "at least one association" },
	{ "associations: #!\n  - { name: subnet-a, interface: eth-a, subnet: 198.18.1.0/24 }\n",
	  "missing the 'endpoint' section" },
	/* files */
	{ "endpoint:\n  server-certificate: pki/nope.crt #!\n  server-key: pki/server.key\n  client-ca: pki/ca.crt\n"
	  "  client-cidr: 100.64.0.0/22\n" ASSOC, "No such file" },
	{ "endpoint:\n  server-certificate: pki/server.crt\n  server-key: pki/server.key\n  client-ca: pki/nope.crt #!\n"
	  "  client-cidr: 100.64.0.0/22\n" ASSOC, "No such file" },
	{ EP "  server-ca: pki/nope.crt #!\n" ASSOC, "No such file" },
	{ EP "  crl: pki/nope.pem #!\n" ASSOC, "No such file" },
	{ EP "  crl: pki #!\n" ASSOC, "not a regular file" },
	/* client CIDR */
	{ "endpoint:\n" PKI "  client-cidr: 100.64.0.0/31 #!\n" ASSOC, "between /8 and /30" },
	{ "endpoint:\n" PKI "  client-cidr: 100.0.0.0/7 #!\n" ASSOC, "between /8 and /30" },
	{ "endpoint:\n" PKI "  client-cidr: 100.64.0.1/22 #!\n" ASSOC, "the network address is 100.64.0.0/22" },
	{ "endpoint:\n" PKI "  client-cidr: 100.64.0/22 #!\n" ASSOC, "not an IPv4 CIDR" },
	{ "endpoint:\n" PKI "  client-cidr: 100.64.0.0/33 #!\n" ASSOC, "not an IPv4 CIDR" },
	{ "endpoint:\n" PKI "  client-cidr: 198.18.0.0/22\n" "associations:\n"
	  "  - { name: subnet-a, interface: eth-a, subnet: 198.18.1.0/24 } #!\n", "overlaps client-cidr" },
	{ EP ASSOC "routes:\n  - { destination: 100.64.1.0/24, target: subnet-a } #!\n", "overlaps client-cidr" },
	{ EP ASSOC "routes:\n  - { destination: 100.0.0.0/8, target: subnet-a } #!\n", "overlaps client-cidr" },
	{ EP ASSOC "route-tables:\n  - name: rt\n    routes:\n      - { destination: 100.64.0.0/16 } #!\n",
	  "overlaps client-cidr" },
	/* routes */
	{ EP ASSOC "routes:\n  - { destination: 198.18.2.0/24, target: subnet-z } #!\n",
	  "neither an association nor 'local'" },
	{ EP ASSOC "routes:\n  - { destination: 198.18.9.0/24, target: local } #!\n", "must lie inside client-cidr" },
	{ EP ASSOC "routes:\n  - { destination: 198.18.2.0/24, target: subnet-a }\n"
	  "  - { destination: 198.18.2.0/24, target: subnet-a } #!\n", "duplicate of line" },
	{ EP ASSOC "routes:\n  - { destination: 198.18.2.0/24 } #!\n", "missing required key 'target'" },
	/* references and limits */
	{ EP "associations:\n  - name: subnet-a\n    interface: eth-a\n    subnet: 198.18.1.0/24\n"
	  "    security-groups: [sg-missing] #!\n", "security group 'sg-missing' is not defined" },
	{ EP "associations:\n  - name: subnet-a\n    interface: eth-a\n    subnet: 198.18.1.0/24\n"
	  "    network-acl: acl-missing #!\n", "network ACL 'acl-missing' is not defined" },
	{ EP "associations:\n  - name: subnet-a\n    interface: eth-a\n    subnet: 198.18.1.0/24\n"
	  "    route-table: rt-missing #!\n", "route table 'rt-missing' is not defined" },
	{ EP "associations:\n  - name: subnet-a\n    interface: eth-a\n    subnet: 198.18.1.0/24\n"
	  "    security-groups: [a, b, c, d, e, f] #!\n"
	  "security-groups: [ {name: a}, {name: b}, {name: c}, {name: d}, {name: e}, {name: f} ]\n",
	  "at most 5" },
	{ EP "associations:\n  - name: subnet-a\n    interface: eth-a\n    subnet: 198.18.1.0/24\n"
	  "    security-groups: [a, a] #!\nsecurity-groups: [ {name: a} ]\n", "listed twice" },
	/* interface names the kernel would never give an interface */
	{ EP "associations:\n  - { name: subnet-a, interface: 0123456789abcdef, subnet: 198.18.1.0/24 } #!\n",
	  "interface: longer than 15 characters" },
	{ EP "associations:\n  - { name: subnet-a, interface: eth/0, subnet: 198.18.1.0/24 } #!\n",
	  "contains characters not allowed" },
	{ EP "associations:\n  - { name: subnet-a, interface: .., subnet: 198.18.1.0/24 } #!\n",
	  "is not a valid interface name" },
	{ EP "associations:\n  - { name: subnet-a, interface: '', subnet: 198.18.1.0/24 } #!\n",
	  "interface: must not be empty" },
	/* duplicate names */
	{ EP ASSOC "  - { name: subnet-a, interface: eth-b, subnet: 198.18.3.0/24 } #!\n",
	  "duplicate association name 'subnet-a'" },
	{ EP ASSOC "  - { name: subnet-b, interface: eth-a, subnet: 198.18.3.0/24 } #!\n",
	  "interface eth-a is already used" },
	{ EP ASSOC "security-groups:\n  - name: sg\n  - name: sg #!\n", "duplicate security group name 'sg'" },
	{ EP ASSOC "network-acls:\n  - name: acl\n  - name: acl #!\n", "duplicate network ACL name 'acl'" },
	{ EP ASSOC "route-tables:\n  - name: rt\n  - name: rt #!\n", "duplicate route table name 'rt'" },
	/* network ACLs */
	{ EP ASSOC "network-acls:\n  - name: acl\n    inbound:\n"
	  "      - { rule: 100, action: allow, protocol: all, cidr: 0.0.0.0/0 }\n"
	  "      - { rule: 100, action: deny, protocol: all, cidr: 0.0.0.0/0 } #!\n", "rule number 100 already used" },
	{ EP ASSOC "network-acls:\n  - name: acl\n    inbound:\n"
	  "      - { rule: 100, action: permit, protocol: all, cidr: 0.0.0.0/0 } #!\n", "expected allow or deny" },
	{ EP ASSOC "network-acls:\n  - name: acl\n    inbound:\n"
	  "      - { rule: 0, action: allow, protocol: all, cidr: 0.0.0.0/0 } #!\n", "rule: expected a whole number" },
	/* ports and protocols */
	{ EP ASSOC "security-groups:\n  - name: sg\n    egress:\n"
	  "      - { protocol: tcp, ports: 443-80, destination: 0.0.0.0/0 } #!\n", "starts after it ends" },
	{ EP ASSOC "security-groups:\n  - name: sg\n    egress:\n"
	  "      - { protocol: tcp, ports: 70000, destination: 0.0.0.0/0 } #!\n", "expected a port" },
	{ EP ASSOC "security-groups:\n  - name: sg\n    egress:\n"
	  "      - { protocol: udp, ports: 80-, destination: 0.0.0.0/0 } #!\n", "expected a port" },
	{ EP ASSOC "security-groups:\n  - name: sg\n    egress:\n"
	  "      - { protocol: icmp, ports: 80, destination: 0.0.0.0/0 } #!\n", "has no ports" },
	{ EP ASSOC "security-groups:\n  - name: sg\n    egress:\n"
	  "      - { protocol: gre, destination: 0.0.0.0/0 } #!\n", "protocol: expected" },
	{ EP ASSOC "security-groups:\n  - name: sg\n    egress:\n"
	  "      - { protocol: tcp, destination: 198.18.0.1/15 } #!\n", "the network address is 198.18.0.0/15" },
	/* host bits */
	{ EP "associations:\n  - name: subnet-a\n    interface: eth-a\n    subnet: 198.18.1.1/24 #!\n",
	  "the network address is 198.18.1.0/24" },
	/* endpoint values */
	{ EP "  data-ciphers: [AES-256-GCM, BF-CBC] #!\n" ASSOC, "unknown cipher 'BF-CBC'" },
	{ EP "  data-ciphers: [] #!\n" ASSOC, "must not be empty" },
	{ EP "  max-connections: 0 #!\n" ASSOC, "max-connections" },
	/* 2^(32-22) - network - gateway - broadcast */
	{ EP "  max-connections: 1022 #!\n" ASSOC, "more than the 1021 client addresses" },
	{ EP "  sever-key: pki/server.key #!\n" ASSOC, "unknown key 'sever-key' in endpoint (did you mean" },
	{ EP "  client-cidr: 100.64.4.0/22 #!\n" ASSOC, "duplicate key 'client-cidr'" },
	{ EP "associations:\n  - name: subnet-a\n    interface: eth-a\n    subnet: 198.18.1.0/24\n"
	  "    subnett: x #!\n", "unknown key 'subnett' in association (did you mean 'subnet'?)" },
	{ EP "  session-timeout: 10x #!\n" ASSOC, "session-timeout" },
	{ EP "  keepalive: { interval: 60s, timeout: 30s } #!\n" ASSOC, "must be longer than interval" },
	/* Linux's ovpn module refuses keepalive times over a day; the gateway doubles the timeout */
	{ EP "  keepalive: { interval: 10s, timeout: 12h1s }\n  data-channel: kernel #!\n" ASSOC,
	  "keepalive timeout up to 12h" },
	{ EP "  listen: { port: 70000 } #!\n" ASSOC, "listen port" },
	{ EP "  listen: { transport: sctp } #!\n" ASSOC, "expected udp or tcp" },
	{ EP "  listen: { address: vpn.example.com } #!\n" ASSOC, "not a literal IPv4 or IPv6 address" },
	{ EP "  dns-servers: [198.18.0.300] #!\n" ASSOC, "not an IPv4 address" },
	{ EP "  search-domains: [\"corp example\"] #!\n" ASSOC, "characters not allowed" },
	/* a newline would inject an option into exported client files; nor may it split the error message */
	{ EP "  remote: \"vpn.example.com\\nremote evil\" #!\n" ASSOC, "'vpn.example.com?remote evil' contains "
	  "characters not allowed" },
	{ EP "  tls-ekm: maybe #!\n" ASSOC, "expected true or false" },
	{ EP "  split-tunnel: [true] #!\n" ASSOC, "not a list" },
	/* authorization rules */
	{ EP ASSOC "authorization-rules:\n  - { destination: 198.18.1.0/24 } #!\n", "needs a group or all-users" },
	{ EP ASSOC "authorization-rules:\n  - { destination: 198.18.1.0/24, group: eng, all-users: true } #!\n",
	  "not both" },
	{ EP ASSOC "authorization-rules:\n  - { destination: 198.18.1.0/24, group: eng }\n"
	  "  - { destination: 198.18.1.0/24, group: eng } #!\n", "duplicate of line" },
	/* YAML itself */
	{ "endpoint:\n\tid: x #!\n", "YAML syntax error" },
	{ EP ASSOC "--- #!\nendpoint: {}\n", "only one YAML document" },
	{ "", "the file is empty" },
};

START_TEST(test_errors)
{
	const struct err_case *tc = &err_cases[_i];
	int line = strstr(tc->yaml, "#!") ? line_of(tc->yaml, "#!") : 1;
	struct loaded l = load_text("bad.yaml", tc->yaml);

	ck_assert_msg(l.ret == -1, "case %d loaded", _i);
	ck_assert_ptr_null(l.cfg);
	ck_assert_msg(has_error(l.errs, l.path, line, tc->expect), "case %d: want '%s' on line %d, got:\n%s", _i,
		      tc->expect, line, l.errs);
	loaded_free(&l);
}
END_TEST

START_TEST(test_key_mode)
{
	static const char yaml[] = "endpoint:\n  server-certificate: pki/server.crt\n"
				   "  server-key: pki/server.key #!\n  client-ca: pki/ca.crt\n"
				   "  client-cidr: 100.64.0.0/22\n" ASSOC;
	struct loaded l;
	char key[PATH_MAX];

	snprintf(key, sizeof(key), "%s/pki/server.key", tmpdir);
	ck_assert_int_eq(chmod(key, 0640), 0);
	l = load_text("key.yaml", yaml);
	ck_assert_int_eq(l.ret, -1);
	ck_assert_msg(has_error(l.errs, l.path, line_of(yaml, "#!"), "readable by group/other"), "%s", l.errs);
	loaded_free(&l);

	ck_assert_int_eq(chmod(key, 0604), 0);
	l = load_text("key.yaml", yaml);
	ck_assert_int_eq(l.ret, -1);
	ck_assert_msg(has_error(l.errs, l.path, line_of(yaml, "#!"), "readable by group/other"), "%s", l.errs);
	loaded_free(&l);

	ck_assert_int_eq(chmod(key, 0600), 0);
	l = load_text("key.yaml", yaml);
	ck_assert_msg(l.ret == 0, "%s", l.errs);
	loaded_free(&l);
}
END_TEST

START_TEST(test_many_errors)
{
	static const char yaml[] =
		"endpoint:\n" PKI
		"  client-cidr: 100.64.0.0/22\n"
		"  listen: { port: 0 } #1\n"
		"  data-ciphers: [DES] #2\n"
		"associations:\n"
		"  - { name: subnet-a, interface: eth-a, subnet: 198.18.1.0/24, network-acl: nope } #3\n"
		"routes:\n"
		"  - { destination: 198.18.2.0/24, target: nowhere } #4\n";
	struct loaded l = load_text("many.yaml", yaml);

	ck_assert_int_eq(l.ret, -1);
	ck_assert_ptr_null(l.cfg);
	ck_assert_msg(has_error(l.errs, l.path, line_of(yaml, "#1"), "listen port"), "%s", l.errs);
	ck_assert_msg(has_error(l.errs, l.path, line_of(yaml, "#2"), "unknown cipher 'DES'"), "%s", l.errs);
	ck_assert_msg(has_error(l.errs, l.path, line_of(yaml, "#3"), "network ACL 'nope'"), "%s", l.errs);
	ck_assert_msg(has_error(l.errs, l.path, line_of(yaml, "#4"), "target 'nowhere'"), "%s", l.errs);
	ck_assert_uint_eq(count_lines(l.errs), 4);
	loaded_free(&l);
}
END_TEST

START_TEST(test_association_routes)
{
	static const char yaml[] =
		EP
		"associations:\n"
		"  - { name: subnet-a, interface: eth-a, subnet: 198.18.1.0/24 }\n"
		"  - { name: subnet-b, interface: eth-b, subnet: 198.18.3.0/24 } #B\n"
		"routes:\n"
		"  - { destination: 198.18.1.0/24, target: subnet-a, description: mine }\n"
		"  - { destination: 198.18.1.0/24, target: subnet-b }\n"
		"  - { destination: 198.18.3.0/24, target: subnet-a }\n";
	struct loaded l = load_text("assoc.yaml", yaml);
	const struct config *c = l.cfg;

	ck_assert_msg(l.ret == 0, "%s", l.errs);
	/* subnet-a's own route is written already (kept, with its description); subnet-b's is added */
	ck_assert_uint_eq(c->n_routes, 4);
	ck_assert_str_eq(c->routes[0].description, "mine");
	assert_cidr(c->routes[3].dst, "198.18.3.0/24");
	ck_assert_str_eq(c->routes[3].target, "subnet-b");
	ck_assert_str_eq(c->routes[3].description, "associate");
	ck_assert_int_eq(c->routes[3].line, line_of(yaml, "#B"));
	for (size_t i = 0; i < 3; i++)
		ck_assert_str_ne(c->routes[i].description, "associate");
	loaded_free(&l);
}
END_TEST

START_TEST(test_route_coverage_warning)
{
	static const char yaml[] =
		EP
		"associations:\n"
		"  - { name: subnet-a, interface: eth-a, subnet: 198.18.1.0/24 }\n"
		"  - { name: subnet-b, interface: eth-b, subnet: 198.18.3.0/24 }\n"
		"routes:\n"
		"  - { destination: 198.18.2.0/24, target: subnet-a } #!\n";
	struct loaded l = load_text("cover.yaml", yaml);

	/* a warning is not a refusal */
	ck_assert_msg(l.ret == 0, "%s", l.errs);
	ck_assert_msg(has_error(l.errs, l.path, line_of(yaml, "#!"), "warning: route 198.18.2.0/24: not routed "
		      "through association 'subnet-b'"), "%s", l.errs);
	ck_assert_uint_eq(count_lines(l.errs), 1);
	loaded_free(&l);
}
END_TEST

/* A DNS server the clients cannot reach: the gateway's own tunnel address. */
START_TEST(test_dns_server_in_client_cidr)
{
	static const char yaml[] =
		"endpoint:\n  server-certificate: pki/server.crt\n  server-key: pki/server.key\n"
		"  client-ca: pki/ca.crt\n  client-cidr: 100.64.0.0/22\n"
		"  dns-servers: [198.18.0.53, 100.64.0.1] #!\n"
		"associations:\n"
		"  - { name: subnet-a, interface: eth-a, subnet: 198.18.1.0/24 }\n";
	struct loaded l = load_text("dns.yaml", yaml);

	ck_assert_msg(l.ret == 0, "%s", l.errs);
	ck_assert_msg(has_error(l.errs, l.path, line_of(yaml, "#!"), "warning: dns-servers: 100.64.0.1 is in "
		      "client-cidr 100.64.0.0/22"), "%s", l.errs);
	ck_assert_uint_eq(count_lines(l.errs), 1);
	loaded_free(&l);
}
END_TEST

/* ---- durations ---- */

static const struct {
	const char *text;
	long seconds; /* -1: invalid */
} durations[] = {
	{ "45", 45 }, { "\"90\"", 90 }, { "30s", 30 }, { "10m", 600 }, { "24h", 86400 }, { "2d", 172800 },
	{ "1h30m", 5400 }, { "1m1s", 61 }, { "1h30", -1 }, { "10x", -1 }, { "-5", -1 }, { "s", -1 },
	{ "\"\"", -1 }, { "1.5h", -1 }, { "99999999999", -1 }, { "0", -1 /* session-timeout must be >= 1s */ },
};

START_TEST(test_durations)
{
	char yaml[512];
	struct loaded l;

	snprintf(yaml, sizeof(yaml), EP "  session-timeout: %s #!\n" ASSOC, durations[_i].text);
	l = load_text("dur.yaml", yaml);
	if (durations[_i].seconds < 0) {
		ck_assert_msg(l.ret == -1, "'%s' accepted", durations[_i].text);
		ck_assert_msg(has_error(l.errs, l.path, line_of(yaml, "#!"), "session-timeout"), "%s", l.errs);
	} else {
		ck_assert_msg(l.ret == 0, "'%s': %s", durations[_i].text, l.errs);
		ck_assert_uint_eq(l.cfg->session_timeout, (unsigned)durations[_i].seconds);
	}
	loaded_free(&l);
}
END_TEST

/* the longest keepalive timeout the kernel's ovpn module takes, doubled: a day */
START_TEST(test_kernel_keepalive_limit)
{
	struct loaded l = load_text("k.yaml", EP "  keepalive: { interval: 11h, timeout: 12h }\n  data-channel: kernel\n" ASSOC);

	ck_assert_msg(l.ret == 0, "%s", l.errs);
	ck_assert(l.cfg->data_channel_kernel);
	ck_assert_uint_eq(l.cfg->keepalive_timeout, 43200);
	loaded_free(&l);
	/* the userspace data path has no such limit */
	l = load_text("u.yaml", EP "  keepalive: { interval: 24h1s, timeout: 2d }\n" ASSOC);
	ck_assert_msg(l.ret == 0, "%s", l.errs);
	loaded_free(&l);
}
END_TEST

START_TEST(test_renegotiate_zero)
{
	struct loaded l = load_text("r.yaml", EP "  renegotiate-after: 0s\n  handshake-window: 1\n" ASSOC);

	ck_assert_msg(l.ret == 0, "%s", l.errs);
	ck_assert_uint_eq(l.cfg->reneg_seconds, 0);
	ck_assert_uint_eq(l.cfg->handshake_window, 1);
	loaded_free(&l);
}
END_TEST

START_TEST(test_renegotiate_after_packets)
{
	struct loaded l = load_text("p.yaml", EP ASSOC);

	ck_assert_msg(l.ret == 0, "%s", l.errs);
	ck_assert_uint_eq(l.cfg->reneg_packets, 0); /* default: only before the packet-ids run out */
	loaded_free(&l);
	l = load_text("p.yaml", EP "  renegotiate-after-packets: 200\n" ASSOC);
	ck_assert_msg(l.ret == 0, "%s", l.errs);
	ck_assert_uint_eq(l.cfg->reneg_packets, 200);
	loaded_free(&l);
	l = load_text("p.yaml", EP "  renegotiate-after-packets: 4026531840\n" ASSOC);
	ck_assert_msg(l.ret == 0, "%s", l.errs);
	ck_assert_uint_eq(l.cfg->reneg_packets, CONFIG_RENEG_PACKETS_MAX);
	loaded_free(&l);
	/* past the packet-ids' margin, negative, not a number: errors naming the key */
	static const char *const bad[] = { "4026531841", "-1", "lots" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char yaml[1024];

		snprintf(yaml, sizeof(yaml), EP "  renegotiate-after-packets: %s\n" ASSOC, bad[i]);
		l = load_text("p.yaml", yaml);
		ck_assert_msg(l.ret == -1, "'%s' accepted", bad[i]);
		ck_assert_msg(strstr(l.errs, "renegotiate-after-packets"), "%s", l.errs);
		loaded_free(&l);
	}
}
END_TEST

/* ---- banner ---- */

START_TEST(test_banner)
{
	char *yaml = malloc(2 * 1401 + 512), *p;
	struct loaded l;

	ck_assert_ptr_nonnull(yaml);
	/* 1400 two-byte characters: 2800 bytes, but within the limit, which counts characters */
	p = yaml + sprintf(yaml, "%s", EP "  banner: \"");
	for (int i = 0; i < 1400; i++)
		p += sprintf(p, "\xc3\xa9");
	sprintf(p, "\"\n" ASSOC);
	l = load_text("banner.yaml", yaml);
	ck_assert_msg(l.ret == 0, "%s", l.errs);
	ck_assert_uint_eq(strlen(l.cfg->banner), 2800);
	loaded_free(&l);

	p = yaml + sprintf(yaml, "%s", EP "  banner: \"");
	for (int i = 0; i < 1401; i++)
		*p++ = 'x';
	sprintf(p, "\" #!\n" ASSOC);
	l = load_text("banner.yaml", yaml);
	ck_assert_int_eq(l.ret, -1);
	ck_assert_msg(has_error(l.errs, l.path, line_of(yaml, "#!"), "1401 characters"), "%s", l.errs);
	loaded_free(&l);
	free(yaml);
}
END_TEST

START_TEST(test_absolute_paths_and_missing_file)
{
	char yaml[1024];
	struct loaded l;
	struct config *cfg = (struct config *)1;
	char *errs = NULL;
	size_t len;
	FILE *f;

	snprintf(yaml, sizeof(yaml), "endpoint:\n  server-certificate: %s/pki/server.crt\n"
		 "  server-key: pki/server.key\n  client-ca: pki/ca.crt\n  client-cidr: 100.64.0.0/22\n" ASSOC,
		 tmpdir);
	l = load_text("abs.yaml", yaml);
	ck_assert_msg(l.ret == 0, "%s", l.errs);
	ck_assert_str_eq(strrchr(l.cfg->server_cert, '/'), "/server.crt");
	ck_assert_int_eq(strncmp(l.cfg->server_cert, tmpdir, strlen(tmpdir)), 0);
	loaded_free(&l);

	f = open_memstream(&errs, &len);
	ck_assert_int_eq(config_load("/nonexistent/cvpn.yaml", f, &cfg), -1);
	fclose(f);
	ck_assert_ptr_null(cfg);
	ck_assert_ptr_nonnull(strstr(errs, "/nonexistent/cvpn.yaml:1:1: cannot open"));
	free(errs);
	config_free(NULL);

	/* nowhere to report to: still refused, still nothing leaked */
	tmpdir_write(tmpdir, "quiet.yaml", EP "  bogus: 1\n" ASSOC, 0644);
	snprintf(yaml, sizeof(yaml), "%s/quiet.yaml", tmpdir);
	ck_assert_int_eq(config_load(yaml, NULL, &cfg), -1);
	ck_assert_ptr_null(cfg);
}
END_TEST

/* ---- small public helpers ---- */

START_TEST(test_helpers)
{
	struct cidr4 c = { 7, 7 };
	char buf[16];

	ck_assert_int_eq(config_parse_cidr4("198.18.1.0/24", &c), 0);
	ck_assert_uint_eq(c.addr, (198u << 24) | (18u << 16) | (1u << 8));
	ck_assert_uint_eq(c.len, 24);
	ck_assert_int_eq(config_parse_cidr4("203.0.113.9", &c), 0);
	ck_assert_uint_eq(c.len, 32);
	ck_assert_int_eq(config_parse_cidr4("0.0.0.0/0", &c), 0);
	ck_assert_uint_eq(c.addr, 0);
	ck_assert_uint_eq(c.len, 0);
	ck_assert_int_eq(config_parse_cidr4("198.18.1.1/24", &c), -EINVAL); /* host bits */
	ck_assert_int_eq(config_parse_cidr4("198.18.1.0/", &c), -EINVAL);
	ck_assert_int_eq(config_parse_cidr4("198.18.1.0/33", &c), -EINVAL);
	ck_assert_int_eq(config_parse_cidr4("198.18.1.0/024", &c), -EINVAL);
	ck_assert_int_eq(config_parse_cidr4("198.18.1/24", &c), -EINVAL);
	ck_assert_int_eq(config_parse_cidr4("", &c), -EINVAL);
	ck_assert_int_eq(config_parse_cidr4("2001:db8::/32", &c), -EINVAL);

	config_format_ipv4((203u << 24) | 113u << 8 | 255u, buf);
	ck_assert_str_eq(buf, "203.0.113.255");
	config_format_ipv4(0xffffffffu, buf);
	ck_assert_str_eq(buf, "255.255.255.255");

	ck_assert_str_eq(config_cipher_name(CVPN_CIPHER_AES_256_GCM), "AES-256-GCM");
	ck_assert_str_eq(config_cipher_name(CVPN_CIPHER_AES_128_GCM), "AES-128-GCM");
	ck_assert_str_eq(config_cipher_name(CVPN_CIPHER_CHACHA20_POLY1305), "CHACHA20-POLY1305");
	ck_assert_ptr_null(config_cipher_name(CVPN_CIPHER_NONE));
	ck_assert_ptr_null(config_cipher_name((enum cvpn_cipher)42));
	ck_assert_int_eq(config_cipher_from_name("aes-256-gcm"), CVPN_CIPHER_AES_256_GCM);
	ck_assert_int_eq(config_cipher_from_name("ChaCha20-Poly1305"), CVPN_CIPHER_CHACHA20_POLY1305);
	ck_assert_int_eq(config_cipher_from_name("BF-CBC"), CVPN_CIPHER_NONE);
	ck_assert_int_eq(config_cipher_from_name(NULL), CVPN_CIPHER_NONE);
}
END_TEST

/* ---- export ---- */

/* A real self-signed certificate (and its key) with the given CN, so export has something to read. */
static void make_cert(const char *rel, const char *key_rel, const char *cn)
{
	char path[PATH_MAX];
	EVP_PKEY *pkey = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name;
	FILE *f;

	ck_assert_ptr_nonnull(pkey);
	ck_assert_ptr_nonnull(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, pkey);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"cvpn test", -1, -1, 0);
	if (cn)
		X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, name);
	ck_assert_int_gt(X509_sign(x, pkey, EVP_sha256()), 0);
	snprintf(path, sizeof(path), "%s/%s", tmpdir, rel);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(PEM_write_X509(f, x), 1);
	fclose(f);
	if (key_rel) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, key_rel);
		f = fopen(path, "w");
		ck_assert_ptr_nonnull(f);
		ck_assert_int_eq(PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL), 1);
		fclose(f);
		ck_assert_int_eq(chmod(path, 0600), 0);
	}
	X509_free(x);
	EVP_PKEY_free(pkey);
}

static char *export_to_string(const struct config *cfg, int *ret)
{
	char *out = NULL;
	size_t len;
	FILE *f = open_memstream(&out, &len);

	ck_assert_ptr_nonnull(f);
	*ret = export_client_config(cfg, f);
	fclose(f);
	return out;
}

START_TEST(test_export_udp)
{
	static const char yaml[] =
		"endpoint:\n  listen: { address: 0.0.0.0, port: 1194, transport: udp }\n"
		"  remote: vpn.example.com\n" PKI "  client-cidr: 100.64.0.0/22\n" ASSOC;
	struct loaded l;
	char *out, *ca, *want;
	int ret;

	make_cert("pki/server.crt", "pki/server.key", "server.vpn.example.com");
	make_cert("pki/ca.crt", NULL, "cvpn test CA");
	l = load_text("exp.yaml", yaml);
	ck_assert_msg(l.ret == 0, "%s", l.errs);
	out = export_to_string(l.cfg, &ret);
	ck_assert_int_eq(ret, 0);
	ca = tmpdir_read(tmpdir, "pki/ca.crt");
	ck_assert_int_ge(asprintf(&want,
				  "client\n"
				  "dev tun\n"
				  "proto udp\n"
				  "remote vpn.example.com 1194\n"
				  "resolv-retry infinite\n"
				  "nobind\n"
				  "remote-cert-tls server\n"
				  "verify-x509-name server.vpn.example.com name\n"
				  "data-ciphers AES-256-GCM:AES-128-GCM:CHACHA20-POLY1305\n"
				  "cipher AES-256-GCM\n"
				  "reneg-sec 0\n"
				  "verb 3\n"
				  "explicit-exit-notify 1\n"
				  "<ca>\n%s</ca>\n", ca), 0);
	ck_assert_str_eq(out, want);
	free(want);
	free(out);
	free(ca);
	loaded_free(&l);
}
END_TEST

START_TEST(test_export_tcp_server_ca_and_inline_credentials)
{
	static const char yaml[] =
		"endpoint:\n  listen: { address: 203.0.113.1, transport: tcp }\n" PKI
		"  server-ca: pki/server-ca.crt\n  data-ciphers: [CHACHA20-POLY1305, AES-256-GCM]\n"
		"  client-cidr: 100.64.0.0/22\n" ASSOC;
	struct loaded l;
	char *out = NULL, *sca, *cert, *key, *inl, path[PATH_MAX];
	size_t len;
	FILE *f;

	make_cert("pki/server.crt", NULL, "My VPN \"gw\"");
	make_cert("pki/server-ca.crt", NULL, "server CA");
	make_cert("client.crt", "client.key", "alice");
	l = load_text("exp.yaml", yaml);
	ck_assert_msg(l.ret == 0, "%s", l.errs);

	f = open_memstream(&out, &len);
	ck_assert_int_eq(export_client_config(l.cfg, f), 0);
	snprintf(path, sizeof(path), "%s/client.crt", tmpdir);
	ck_assert_int_eq(export_inline_file(f, "cert", path), 0);
	snprintf(path, sizeof(path), "%s/client.key", tmpdir);
	ck_assert_int_eq(export_inline_file(f, "key", path), 0);
	ck_assert_int_eq(export_inline_file(f, "tls-auth", path), -EINVAL);
	fclose(f);

	ck_assert_ptr_nonnull(strstr(out, "\nproto tcp-client\n"));
	ck_assert_ptr_null(strstr(out, "explicit-exit-notify")); /* UDP only */
	ck_assert_ptr_nonnull(strstr(out, "\nremote 203.0.113.1 443\n")); /* default remote = listen address */
	ck_assert_ptr_nonnull(strstr(out, "\nverify-x509-name \"My VPN \\\"gw\\\"\" name\n"));
	ck_assert_ptr_nonnull(strstr(out, "\ndata-ciphers CHACHA20-POLY1305:AES-256-GCM\ncipher CHACHA20-POLY1305\n"));
	sca = tmpdir_read(tmpdir, "pki/server-ca.crt");
	cert = tmpdir_read(tmpdir, "client.crt");
	key = tmpdir_read(tmpdir, "client.key");
	ck_assert_int_ge(asprintf(&inl, "<ca>\n%s</ca>\n<cert>\n%s</cert>\n<key>\n%s</key>\n", sca, cert, key), 0);
	ck_assert_uint_ge(strlen(out), strlen(inl));
	ck_assert_str_eq(out + strlen(out) - strlen(inl), inl);
	free(inl);
	free(sca);
	free(cert);
	free(key);
	free(out);
	loaded_free(&l);
}
END_TEST

/* A CA file written together with its private key, and a user certificate file holding its key too: the
 * client file gets the certificates and, for <key>, the key once; never the CA's key (it used to copy the CA
 * file whole into <ca>: every user could then mint client certificates). */
START_TEST(test_export_ca_file_with_key)
{
	static const char yaml[] =
		"endpoint:\n  listen: { address: 0.0.0.0, port: 1194, transport: udp }\n"
		"  remote: vpn.example.com\n" PKI "  client-cidr: 100.64.0.0/22\n" ASSOC;
	struct loaded l;
	char *out = NULL, *cakey, *cacert, *ukey, *ucert, *both, path[PATH_MAX];
	size_t len;
	FILE *f;

	make_cert("pki/server.crt", "pki/server.key", "server.vpn.example.com");
	make_cert("ca-only.crt", "ca-only.key", "cvpn test CA");
	make_cert("user.crt", "user.key", "alice");
	cakey = tmpdir_read(tmpdir, "ca-only.key");
	cacert = tmpdir_read(tmpdir, "ca-only.crt");
	ukey = tmpdir_read(tmpdir, "user.key");
	ucert = tmpdir_read(tmpdir, "user.crt");
	ck_assert_int_ge(asprintf(&both, "%s%s", cakey, cacert), 0);
	tmpdir_write(tmpdir, "pki/ca.crt", both, 0600);
	free(both);
	ck_assert_int_ge(asprintf(&both, "%s%s", ukey, ucert), 0);
	tmpdir_write(tmpdir, "user-both.pem", both, 0600);
	free(both);
	l = load_text("exp.yaml", yaml);
	ck_assert_msg(l.ret == 0, "%s", l.errs);
	f = open_memstream(&out, &len);
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(export_client_config(l.cfg, f), 0);
	snprintf(path, sizeof(path), "%s/user-both.pem", tmpdir);
	ck_assert_int_eq(export_inline_file(f, "cert", path), 0);
	snprintf(path, sizeof(path), "%s/user.key", tmpdir);
	ck_assert_int_eq(export_inline_file(f, "key", path), 0);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(out, cacert));
	ck_assert_ptr_nonnull(strstr(out, ucert));
	ck_assert_ptr_null(strstr(out, cakey));
	/* one private key in the whole file: the user's, in <key> */
	{
		const char *k = strstr(out, "PRIVATE KEY-----");

		ck_assert_ptr_nonnull(k);
		ck_assert_ptr_nonnull(strstr(out, "<key>\n"));
		ck_assert(k > strstr(out, "<key>\n"));
		ck_assert_ptr_nonnull(strstr(out, ukey));
		ck_assert_ptr_null(strstr(strstr(out, ukey) + strlen(ukey), "PRIVATE KEY"));
	}
	free(out);
	free(cakey);
	free(cacert);
	free(ukey);
	free(ucert);
	loaded_free(&l);
}
END_TEST

START_TEST(test_export_errors)
{
	struct loaded l;
	char *out;
	int ret;

	make_cert("pki/ca.crt", NULL, "cvpn test CA");
	/* wildcard listen address and no remote: nothing a client could connect to */
	make_cert("pki/server.crt", NULL, "gw");
	l = load_text("e1.yaml", EP ASSOC);
	ck_assert_msg(l.ret == 0, "%s", l.errs);
	out = export_to_string(l.cfg, &ret);
	ck_assert_int_eq(ret, -EDESTADDRREQ);
	free(out);
	loaded_free(&l);

	/* no CN to verify */
	make_cert("pki/server.crt", NULL, NULL);
	l = load_text("e2.yaml", EP "  remote: vpn.example.com\n" ASSOC);
	ck_assert_msg(l.ret == 0, "%s", l.errs);
	out = export_to_string(l.cfg, &ret);
	ck_assert_int_eq(ret, -ENODATA);
	free(out);

	/* server certificate not PEM (the fixture's placeholder text) */
	tmpdir_write(tmpdir, "pki/server.crt", "not a certificate\n", 0644);
	out = export_to_string(l.cfg, &ret);
	ck_assert_int_eq(ret, -EBADMSG);
	free(out);

	/* CA file without a certificate */
	make_cert("pki/server.crt", NULL, "gw");
	tmpdir_write(tmpdir, "pki/ca.crt", "junk\n", 0644);
	out = export_to_string(l.cfg, &ret);
	ck_assert_int_eq(ret, -EBADMSG);
	free(out);
	loaded_free(&l);
}
END_TEST

static Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_full_file);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_default_max_connections);
	tcase_add_loop_test(tc, test_errors, 0, (int)(sizeof(err_cases) / sizeof(err_cases[0])));
	tcase_add_test(tc, test_key_mode);
	tcase_add_test(tc, test_many_errors);
	tcase_add_test(tc, test_association_routes);
	tcase_add_test(tc, test_route_coverage_warning);
	tcase_add_test(tc, test_dns_server_in_client_cidr);
	tcase_add_loop_test(tc, test_durations, 0, (int)(sizeof(durations) / sizeof(durations[0])));
	tcase_add_test(tc, test_renegotiate_zero);
	tcase_add_test(tc, test_renegotiate_after_packets);
	tcase_add_test(tc, test_kernel_keepalive_limit);
	tcase_add_test(tc, test_banner);
	tcase_add_test(tc, test_absolute_paths_and_missing_file);
	tcase_add_test(tc, test_helpers);
	suite_add_tcase(s, tc);

	tc = tcase_create("export");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_export_udp);
	tcase_add_test(tc, test_export_ca_file_with_key);
	tcase_add_test(tc, test_export_tcp_server_ca_and_inline_credentials);
	tcase_add_test(tc, test_export_errors);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(config_suite());
}
