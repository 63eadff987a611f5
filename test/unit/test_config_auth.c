// SPDX-License-Identifier: GPL-2.0-or-later
/* endpoint.authentication (ctrl/config_auth.c): what a valid section becomes, and the mistakes an operator
 * makes, each reported at its line (marked "#!" in the YAML; the line number is computed, never typed). */
#define _GNU_SOURCE
#include <check.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cvpn/config.h"

#include "check_run.h"
#include "test_util.h"

static char tmpdir[64];

static void setup(void)
{
	tmpdir_make(tmpdir, sizeof(tmpdir), "cfgauth");
	tmpdir_pki(tmpdir, NULL);
	tmpdir_write(tmpdir, "svc.pw", "secret\n", 0600);
	tmpdir_write(tmpdir, "svc-open.pw", "secret\n", 0644);
	tmpdir_write(tmpdir, "totp", "alice:GEZDGNBVGY3TQOJQ\n", 0600);
	tmpdir_write(tmpdir, "handler", "#!/bin/sh\n", 0700);
	tmpdir_write(tmpdir, "handler-noexec", "#!/bin/sh\n", 0600);
}

static void teardown(void)
{
	tmpdir_remove(tmpdir);
}

/* The endpoint section with `auth` appended (already indented by two spaces), plus one association. */
static struct loaded load(const char *endpoint_extra, const char *auth)
{
	struct loaded l;
	char *text = NULL;

	ck_assert_int_ge(asprintf(&text,
				  "endpoint:\n"
				  "  server-certificate: server.crt\n"
				  "  server-key: server.key\n"
				  "%s"
				  "  client-cidr: 100.64.0.0/22\n"
				  "%s"
				  "associations:\n"
				  "  - { name: a, interface: eth1, subnet: 198.18.1.0/24 }\n",
				  endpoint_extra, auth), 0);
	l = load_in(tmpdir, "endpoint.yaml", text);
	l.text = text;
	return l;
}

/* An error at the line marked "#!<mark>" that mentions needle. */
static void expect_error(const struct loaded *l, const char *mark, const char *needle)
{
	char m[32], prefix[PATH_MAX + 16];
	const char *at;
	int line = 1;

	snprintf(m, sizeof(m), "#!%s", mark);
	at = strstr(l->text, m);
	ck_assert_msg(at, "marker %s missing", m);
	for (const char *p = l->text; p < at; p++)
		line += *p == '\n';
	snprintf(prefix, sizeof(prefix), "%s:%d:", l->path, line);
	ck_assert_int_eq(l->ret, -1);
	for (const char *p = l->errs; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p)) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		char buf[1024];

		if (n >= sizeof(buf))
			continue;
		memcpy(buf, p, n);
		buf[n] = '\0';
		if (!strncmp(buf, prefix, strlen(prefix)) && strstr(buf, needle))
			return;
	}
	ck_abort_msg("no error '%s' at line %d; errors:\n%s", needle, line, l->errs);
}

START_TEST(default_is_certificate_only)
{
	struct loaded l = load("  client-ca: ca.crt\n", "");

	ck_assert_msg(l.ret == 0, "%s", l.errs);
	ck_assert(l.cfg->auth.certificate);
	ck_assert_ptr_null(l.cfg->auth.directory);
	ck_assert_int_eq(l.cfg->auth.totp, CONFIG_TOTP_OFF);
	ck_assert_ptr_null(l.cfg->auth.handler_path);
	ck_assert_uint_eq(l.cfg->auth.handler_timeout, 30);
	ck_assert_uint_eq(l.cfg->auth.backoff_base_ms, 1000);
	ck_assert_uint_eq(l.cfg->auth.backoff_max_ms, 30000);
	loaded_free(&l);
}
END_TEST

START_TEST(directory_search_mfa_handler)
{
	struct loaded l = load("  server-ca: ca.crt\n",
			       "  authentication:\n"
			       "    certificate: false\n"
			       "    directory:\n"
			       "      uri: ldap://198.18.1.5 ldaps://198.18.1.6\n"
			       "      base-dn: dc=corp,dc=example\n"
			       "      search-filter: (&(objectClass=user)(sAMAccountName=%u))\n"
			       "      service-bind-dn: cn=svc,dc=corp,dc=example\n"
			       "      service-password-file: svc.pw\n"
			       "      ca: ca.crt\n"
			       "      group-name: dn\n"
			       "      nested-groups: true\n"
			       "      timeout: 5s\n"
			       "    mfa: { totp: { secrets: { file: totp } } }\n"
			       "    connect-handler: { path: handler, timeout: 2m }\n"
			       "    failed-login-backoff: { initial: 2s, max: 20s }\n");
	const struct config_directory *d;

	ck_assert_msg(l.ret == 0, "%s", l.errs);
	ck_assert(!l.cfg->auth.certificate);
	d = l.cfg->auth.directory;
	ck_assert_ptr_nonnull(d);
	ck_assert_str_eq(d->uri, "ldap://198.18.1.5 ldaps://198.18.1.6");
	ck_assert_str_eq(d->search_filter, "(&(objectClass=user)(sAMAccountName=%u))");
	ck_assert_ptr_null(d->bind_dn_template);
	ck_assert_str_eq(d->group_attribute, "memberOf");
	ck_assert_str_eq(d->username_attribute, "sAMAccountName"); /* what %u is compared with */
	ck_assert_int_eq(d->group_name, CONFIG_GROUP_NAME_DN);
	ck_assert(d->nested_groups);
	ck_assert(!d->starttls);
	ck_assert_uint_eq(d->timeout, 5);
	ck_assert_ptr_nonnull(strstr(d->service_password_file, "/svc.pw")); /* relative to the file */
	ck_assert_int_eq(l.cfg->auth.totp, CONFIG_TOTP_FILE);
	ck_assert_uint_eq(l.cfg->auth.handler_timeout, 120);
	ck_assert_uint_eq(l.cfg->auth.backoff_base_ms, 2000);
	ck_assert_uint_eq(l.cfg->auth.backoff_max_ms, 20000);
	ck_assert_ptr_null(l.cfg->client_ca);
	loaded_free(&l);
}
END_TEST

START_TEST(template_and_attribute)
{
	struct loaded l = load("  client-ca: ca.crt\n",
			       "  authentication:\n"
			       "    directory:\n"
			       "      uri: ldap://127.0.0.1\n"
			       "      bind-dn-template: uid=%u,ou=people,dc=example,dc=org\n"
			       "      starttls: true\n"
			       "    mfa: { totp: { secrets: { directory-attribute: cvpnTotpSecret } } }\n"
			       "    connect-handler: handler\n");

	ck_assert_msg(l.ret == 0, "%s", l.errs);
	ck_assert(l.cfg->auth.certificate); /* both */
	ck_assert(l.cfg->auth.directory->starttls);
	ck_assert_str_eq(l.cfg->auth.directory->username_attribute, "uid");
	ck_assert_int_eq(l.cfg->auth.totp, CONFIG_TOTP_ATTRIBUTE);
	ck_assert_str_eq(l.cfg->auth.totp_attribute, "cvpnTotpSecret");
	ck_assert_ptr_nonnull(strstr(l.cfg->auth.handler_path, "/handler"));
	loaded_free(&l);
}
END_TEST

/* ldap:// to another host without starttls would carry users' passwords in clear: said, not refused (a
 * directory on a trusted segment is the operator's call); loopback, ldaps://, ldapi:// and starttls are not. */
START_TEST(cleartext_directory_warned)
{
	static const char *const quiet[] = { "ldap://127.0.0.1", "ldaps://dc1.corp.example", "ldapi:///",
					      "ldap://localhost:389" };
	struct loaded l = load("  client-ca: ca.crt\n",
			       "  authentication:\n"
			       "    directory:\n"
			       "      uri: ldap://127.0.0.1 ldap://dc2.corp.example\n"
			       "      bind-dn-template: uid=%u,ou=people,dc=example,dc=org\n");

	ck_assert_msg(l.ret == 0, "%s", l.errs);
	ck_assert_ptr_nonnull(strstr(l.errs, "warning: directory uri: ldap:// to another host without starttls"));
	loaded_free(&l);
	l = load("  client-ca: ca.crt\n", "  authentication:\n    directory:\n      uri: ldap://localhost.example.com\n"
					    "      bind-dn-template: uid=%u,ou=people,dc=example,dc=org\n");
	ck_assert_msg(l.ret == 0, "%s", l.errs);
	ck_assert_ptr_nonnull(strstr(l.errs, "in clear")); /* another machine, whatever its name starts with */
	loaded_free(&l);
	for (size_t i = 0; i < sizeof(quiet) / sizeof(quiet[0]); i++) {
		char *auth = NULL;

		ck_assert_int_ge(asprintf(&auth, "  authentication:\n    directory:\n      uri: %s\n"
					  "      bind-dn-template: uid=%%u,ou=people,dc=example,dc=org\n", quiet[i]), 0);
		l = load("  client-ca: ca.crt\n", auth);
		ck_assert_msg(l.ret == 0, "%s", l.errs);
		ck_assert_msg(!l.errs || !strstr(l.errs, "in clear"), "%s: %s", quiet[i], l.errs);
		loaded_free(&l);
		free(auth);
	}
	l = load("  client-ca: ca.crt\n", "  authentication:\n    directory:\n      uri: ldap://dc1.corp.example\n"
					    "      bind-dn-template: uid=%u,ou=people,dc=example,dc=org\n"
					    "      starttls: true\n");
	ck_assert_msg(l.ret == 0, "%s", l.errs);
	ck_assert_msg(!l.errs || !strstr(l.errs, "in clear"), "%s", l.errs);
	loaded_free(&l);
}
END_TEST

/* The attribute %u is compared with names the user, whichever spelling found the entry. */
START_TEST(matched_attribute)
{
	static const struct {
		const char *how, *attr;
	} cases[] = {
		{ "uid=%u,ou=people,dc=example,dc=org", "uid" },
		{ "(&(objectClass=person)(uid=%u))", "uid" },
		{ "(&(objectClass=user)(sAMAccountName=%u))", "sAMAccountName" },
		{ "(|(uid=%u)(UID=%u))", "uid" },
		{ "cn=%u+ou=x,dc=example", "cn" },
		{ "(&(description=%%u)(uid=%u))", "uid" },        /* %%u is a literal */
		{ "(|(uid=%u)(description=%%%u))", NULL },        /* ... but %%%u a literal % and the placeholder */
		{ "uid=%u,dc=x%", "uid" },                        /* a stray % at the end (check_placeholder says) */
		{ "(|(uid=%u)(mail=%u))", NULL },                 /* two attributes: which names the user? */
		{ "(uid~=%u)", NULL },                            /* not an equality */
		{ "(uid>=%u)", NULL },
		{ "(uid=%u*)", NULL },                            /* a substring */
		{ "(mail=%u@example.org)", NULL },                /* part of the value */
		{ "(1.2.3=%u)", NULL },
		{ "%u", NULL },
		{ "(objectClass=person)", NULL },
	};
	char out[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = config_matched_attribute(cases[i].how, out, sizeof(out));

		if (cases[i].attr) {
			ck_assert_msg(r == 0, "%s: %d", cases[i].how, r);
			ck_assert_str_eq(out, cases[i].attr);
		} else {
			ck_assert_msg(r < 0, "%s: found %s", cases[i].how, out);
		}
	}
	/* ... and the config says so, unless username-attribute is given */
	struct loaded l = load("  client-ca: ca.crt\n",
			       "  authentication:\n"
			       "    directory:\n"
			       "      uri: ldaps://198.18.1.5\n"
			       "      base-dn: dc=example,dc=org\n"
			       "      search-filter: (|(uid=%u)(mail=%u)) #!filter\n");
	expect_error(&l, "filter", "set username-attribute");
	loaded_free(&l);
	l = load("  client-ca: ca.crt\n", "  authentication:\n"
		 "    directory:\n"
		 "      uri: ldaps://198.18.1.5\n"
		 "      base-dn: dc=example,dc=org\n"
		 "      search-filter: (|(uid=%u)(mail=%u))\n"
		 "      username-attribute: uid\n");
	ck_assert_msg(l.ret == 0, "%s", l.errs);
	ck_assert_str_eq(l.cfg->auth.directory->username_attribute, "uid");
	loaded_free(&l);
}
END_TEST

START_TEST(mistakes)
{
	struct loaded l = load("  server-ca: ca.crt\n",
			       "  authentication:\n"
			       "    certificate: false\n"
			       "    directory:\n"
			       "      uri: http://198.18.1.5 #!uri\n"
			       "      bind-dn-template: uid=%s,dc=example #!tmpl\n"
			       "      search-filter: (uid=%u) #!both\n"
			       "      service-password-file: svc-open.pw #!svcpw\n"
			       "      group-name: sAMAccountName #!gname\n"
			       "      nested-grups: true #!typo\n"
			       "    mfa: { totp: { secrets: { file: totp, directory-attribute: x } } } #!mfa\n"
			       "    connect-handler: handler-noexec #!handler\n"
			       "    failed-login-backoff: { initial: 10s, max: 2m } #!backoff\n");

	expect_error(&l, "uri", "expected ldap://");
	expect_error(&l, "tmpl", "only %u");
	expect_error(&l, "both", "either bind-dn-template or search-filter");
	expect_error(&l, "svcpw", "service-bind-dn and service-password-file go together");
	expect_error(&l, "svcpw", "accessible by group/other");
	expect_error(&l, "gname", "expected cn or dn");
	expect_error(&l, "typo", "did you mean 'nested-groups'");
	expect_error(&l, "mfa", "exactly one of directory-attribute and file");
	expect_error(&l, "handler", "not executable");
	expect_error(&l, "backoff", "at most 50s");
	loaded_free(&l);
}
END_TEST

START_TEST(nobody_could_log_in)
{
	struct loaded l = load("  client-ca: ca.crt\n  crl: ca.crt #!crl\n",
			       "  authentication:\n"
			       "    certificate: false #!auth (the mapping starts here)\n"
			       "    mfa: { totp: { secrets: { file: totp } } } #!mfa\n");

	expect_error(&l, "auth", "nobody could log in");
	expect_error(&l, "mfa", "needs a directory");
	expect_error(&l, "crl", "certificate authentication is off");
	loaded_free(&l);
	/* certificate login without a client CA */
	l = load("", "  authentication: { certificate: true } #!cert\n");
	ck_assert_int_eq(l.ret, -1);
	ck_assert_ptr_nonnull(strstr(l.errs, "missing required key 'client-ca'"));
	loaded_free(&l);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("config_auth");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, default_is_certificate_only);
	tcase_add_test(tc, directory_search_mfa_handler);
	tcase_add_test(tc, template_and_attribute);
	tcase_add_test(tc, cleartext_directory_warned);
	tcase_add_test(tc, matched_attribute);
	tcase_add_test(tc, mistakes);
	tcase_add_test(tc, nobody_could_log_in);
	suite_add_tcase(s, tc);
	return check_run(s);
}
