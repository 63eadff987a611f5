// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for the operations keys of the endpoint config: control-socket, connection-log and
 * disconnect-on-session-timeout (defaults, both spellings, relative paths, errors with file:line). */
#define _GNU_SOURCE
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cvpn/config.h"

#include "check_run.h"
#include "test_util.h"

static char dir[64];

static void setup(void)
{
	tmpdir_make(dir, sizeof(dir), "cfgops");
	tmpdir_pki(dir, NULL);
}

static void teardown(void)
{
	tmpdir_remove(dir);
}

/* Loads the minimal config with extra endpoint lines; *errs gets config_load's report. */
static int load(const char *extra, struct config **cfg, char **errs)
{
	char *text = NULL;
	struct loaded l;

	ck_assert_int_ge(asprintf(&text,
				  "endpoint:\n"
				  "  server-certificate: server.crt\n"
				  "  server-key: server.key\n"
				  "  client-ca: ca.crt\n"
				  "  client-cidr: 100.64.0.0/22\n"
				  "  remote: vpn.example.com\n"
				  "%s"
				  "associations:\n"
				  "  - name: a\n"
				  "    interface: eth1\n"
				  "    subnet: 198.18.1.0/24\n",
				  extra),
			 0);
	l = load_in(dir, "e.yaml", text);
	free(text);
	*cfg = l.cfg;
	*errs = l.errs;
	return l.ret;
}

static void assert_under_dir(const char *got, const char *rel)
{
	char want[PATH_MAX];

	snprintf(want, sizeof(want), "%s/%s", dir, rel);
	ck_assert_ptr_nonnull(got);
	ck_assert_str_eq(got, want);
}

START_TEST(test_defaults)
{
	struct config *cfg;
	char *errs;

	ck_assert_int_eq(load("", &cfg, &errs), 0);
	ck_assert_ptr_null(cfg->control_socket);
	ck_assert_ptr_null(cfg->control_socket_group);
	ck_assert_ptr_null(cfg->connection_log);
	ck_assert_uint_eq(cfg->connection_log_update, 300);
	ck_assert(cfg->disconnect_on_session_timeout);
	ck_assert_str_eq(CONFIG_DEFAULT_CONTROL_SOCKET, "/run/cvpn/cvpnd.sock");
	config_free(cfg);
	free(errs);
}
END_TEST

START_TEST(test_scalar_forms)
{
	struct config *cfg;
	char *errs;

	ck_assert_int_eq(load("  control-socket: run/ctl.sock\n"
			      "  connection-log: /var/log/cvpn/connections.log\n"
			      "  disconnect-on-session-timeout: false\n"
			      "  session-timeout: 5s\n",
			      &cfg, &errs),
			 0);
	assert_under_dir(cfg->control_socket, "run/ctl.sock");
	ck_assert_str_eq(cfg->connection_log, "/var/log/cvpn/connections.log");
	ck_assert(!cfg->disconnect_on_session_timeout);
	ck_assert_uint_eq(cfg->session_timeout, 5);
	config_free(cfg);
	free(errs);
}
END_TEST

START_TEST(test_mapping_forms)
{
	struct config *cfg;
	char *errs;

	ck_assert_int_eq(load("  control-socket: { path: /run/cvpn/x.sock, group: cvpn-ops }\n"
			      "  connection-log: { path: logs/c.log, update-interval: 1m30s }\n",
			      &cfg, &errs),
			 0);
	ck_assert_str_eq(cfg->control_socket, "/run/cvpn/x.sock");
	ck_assert_str_eq(cfg->control_socket_group, "cvpn-ops");
	assert_under_dir(cfg->connection_log, "logs/c.log");
	ck_assert_uint_eq(cfg->connection_log_update, 90);
	config_free(cfg);
	free(errs);
}
END_TEST

START_TEST(test_errors)
{
	struct config *cfg;
	char *errs, want[PATH_MAX];

	ck_assert_int_eq(load("  control-socket: { path: /run/x.sock, mode: 0666 }\n"
			      "  connection-log: { update-interval: 1m }\n"
			      "  disconnect-on-session-timeout: sometimes\n",
			      &cfg, &errs),
			 -1);
	ck_assert_ptr_null(cfg);
	/* every error, each at its line (the endpoint lines above start at line 7) */
	snprintf(want, sizeof(want), "%s/e.yaml:7:", dir);
	ck_assert_msg(strstr(errs, want) && strstr(errs, "unknown key 'mode' in control-socket"), "%s", errs);
	snprintf(want, sizeof(want), "%s/e.yaml:8:", dir);
	ck_assert_msg(strstr(errs, want) && strstr(errs, "connection-log: missing required key 'path'"), "%s", errs);
	snprintf(want, sizeof(want), "%s/e.yaml:9:", dir);
	ck_assert_msg(strstr(errs, want) && strstr(errs, "disconnect-on-session-timeout"), "%s", errs);
	free(errs);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("config_ops");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_scalar_forms);
	tcase_add_test(tc, test_mapping_forms);
	tcase_add_test(tc, test_errors);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(suite());
}
