// SPDX-License-Identifier: GPL-2.0-or-later
/* The client connect handler (ctrl/auth/handler.c): the JSON it gets, the answers it may give, and real
 * child processes that allow, deny, hang, crash, print garbage or read their input and echo a field. */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cvpn/handler.h"

#include "check_run.h"

static char tmpdir[64];

static void setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/cvpn-test-handler-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void teardown(void)
{
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *script(const char *name, const char *body)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "#!/bin/sh\n%s\n", body);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(path, 0700), 0);
	return path;
}

static const char *const groups[] = { "eng", "all-staff" };
static const struct handler_input input = {
	.connection_id = "cvpn-conn-0000000000000001", .endpoint_id = "cvpn-endpoint-test", .common_name = "",
	.username = "alice", .platform = "linux", .platform_version = "6.1", .public_ip = "203.0.113.2",
	.client_version = "2.6.14", .groups = groups, .n_groups = 2,
};

START_TEST(input_json)
{
	char *s = handler_input_json(&input);
	struct json_object *o, *v;

	ck_assert_ptr_nonnull(s);
	o = json_tokener_parse(s);
	ck_assert_ptr_nonnull(o);
	ck_assert(json_object_object_get_ex(o, "username", &v));
	ck_assert_str_eq(json_object_get_string(v), "alice");
	ck_assert(json_object_object_get_ex(o, "common-name", &v));
	ck_assert_str_eq(json_object_get_string(v), "");
	ck_assert(json_object_object_get_ex(o, "public-ip", &v));
	ck_assert_str_eq(json_object_get_string(v), "203.0.113.2");
	ck_assert(json_object_object_get_ex(o, "groups", &v));
	ck_assert_int_eq(json_object_array_length(v), 2);
	ck_assert_str_eq(json_object_get_string(json_object_array_get_idx(v, 1)), "all-staff");
	ck_assert(json_object_object_get_ex(o, "schema-version", &v));
	ck_assert(json_object_object_get_ex(o, "client-openvpn-version", &v));
	ck_assert(json_object_object_get_ex(o, "platform-version", &v));
	ck_assert(json_object_object_get_ex(o, "connection-id", &v));
	ck_assert(json_object_object_get_ex(o, "endpoint-id", &v));
	json_object_put(o);
	free(s);
}
END_TEST

static int parse(const char *text, struct handler_output *out)
{
	char why[128];

	return handler_parse_output(text, strlen(text), out, why, sizeof(why));
}

START_TEST(parse_answers)
{
	struct handler_output out;
	char big[400];

	ck_assert_int_eq(parse("{\"allow\": true}", &out), 0);
	ck_assert(out.allow);
	ck_assert_int_eq(parse("{\"allow\": false, \"error-msg-on-denied-connection\": \"device not\\ncompliant\", "
			       "\"posture-compliance-statuses\": [\"av-missing\", \"disk-unencrypted\"]}\n", &out), 0);
	ck_assert(!out.allow);
	ck_assert_str_eq(out.message, "device not compliant"); /* one printable line */
	ck_assert_uint_eq(out.n_posture, 2);
	ck_assert_str_eq(out.posture[1], "disk-unencrypted");
	/* fail closed: anything else is malformed */
	ck_assert_int_eq(parse("", &out), -EINVAL);
	ck_assert_int_eq(parse("garbage", &out), -EINVAL);
	ck_assert_int_eq(parse("{\"allow\": \"true\"}", &out), -EINVAL);
	ck_assert_int_eq(parse("{\"allow\": 1}", &out), -EINVAL);
	ck_assert_int_eq(parse("{}", &out), -EINVAL);
	ck_assert_int_eq(parse("[true]", &out), -EINVAL);
	ck_assert_int_eq(parse("{\"allow\": true} {\"allow\": false}", &out), -EINVAL);
	ck_assert_int_eq(parse("{\"allow\": true", &out), -EINVAL);
	ck_assert_int_eq(parse("{\"allow\": true, \"posture-compliance-statuses\": [1]}", &out), -EINVAL);
	ck_assert_int_eq(parse("{\"allow\": true, \"posture-compliance-statuses\": "
			       "[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\",\"k\"]}", &out), -EINVAL);
	snprintf(big, sizeof(big), "{\"allow\": false, \"error-msg-on-denied-connection\": \"%0300d\"}", 0);
	ck_assert_int_eq(parse(big, &out), -EINVAL);
	ck_assert(!out.allow);
}
END_TEST

static int run(const char *path, unsigned timeout, struct handler_output *out, char *why)
{
	static atomic_bool no_abort;

	return handler_run(path, "{\"username\":\"alice\"}", timeout, &no_abort, out, why, 256);
}

START_TEST(run_allow_deny)
{
	struct handler_output out;
	char why[256];

	ck_assert_int_eq(run(script("allow", "cat >/dev/null; echo '{\"allow\": true}'"), 5, &out, why), 0);
	ck_assert(out.allow);
	/* the handler sees its input: it denies with the username it read */
	ck_assert_int_eq(run(script("deny", "u=$(sed 's/.*\"username\":\"\\([^\"]*\\)\".*/\\1/');"
				    "printf '{\"allow\": false, \"error-msg-on-denied-connection\": \"no access for %s\"}' \"$u\""),
			     5, &out, why), 0);
	ck_assert(!out.allow);
	ck_assert_str_eq(out.message, "no access for alice");
}
END_TEST

START_TEST(run_failures)
{
	struct handler_output out;
	struct timespec t0, t1;
	char why[256];

	ck_assert_int_eq(run(script("garbage", "echo 'this is not json'"), 5, &out, why), -EINVAL);
	ck_assert_int_eq(run(script("crash", "echo '{\"allow\": true}'; kill -SEGV $$"), 5, &out, why), -ECHILD);
	ck_assert_ptr_nonnull(strstr(why, "signal"));
	ck_assert_int_eq(run(script("exit1", "echo '{\"allow\": true}'; exit 1"), 5, &out, why), -ECHILD);
	ck_assert_int_eq(run(script("silent", "exit 0"), 5, &out, why), -EINVAL);
	ck_assert_int_eq(run("/nonexistent/handler", 5, &out, why), -ENOENT);
	/* a hanging handler (and the child it started) is killed at the deadline */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(run(script("hang", "sleep 30 & sleep 30"), 1, &out, why), -ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_int_lt(t1.tv_sec - t0.tv_sec, 3);
	/* the same for one that closes stdout but does not exit */
	ck_assert_int_eq(run(script("noexit", "echo '{\"allow\": true}'; exec >&-; sleep 30"), 1, &out, why),
			 -ETIMEDOUT);
	ck_assert(!out.allow);
}
END_TEST

/* A handler that answers without reading a large input: our writes fail with EPIPE, and that must not be a
 * SIGPIPE (this test process has the default disposition: it would die). */
START_TEST(run_unread_input)
{
	static atomic_bool no_abort;
	struct handler_output out;
	size_t n = 4 << 20;
	char *big = malloc(n + 1), why[256];

	ck_assert_ptr_nonnull(big);
	memset(big, ' ', n);
	big[n] = '\0';
	ck_assert_int_eq(handler_run(script("noread", "echo '{\"allow\": true}'"), big, 5, &no_abort, &out, why,
				     sizeof(why)), 0);
	ck_assert(out.allow);
	free(big);
}
END_TEST

START_TEST(run_abort)
{
	struct handler_output out;
	atomic_bool abort_now;
	char why[256];

	atomic_init(&abort_now, true);
	ck_assert_int_eq(handler_run(script("slow", "sleep 30"), "{}", 30, &abort_now, &out, why, sizeof(why)),
			 -ETIMEDOUT);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("handler");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, input_json);
	tcase_add_test(tc, parse_answers);
	tcase_add_test(tc, run_allow_deny);
	tcase_add_test(tc, run_failures);
	tcase_add_test(tc, run_unread_input);
	tcase_add_test(tc, run_abort);
	suite_add_tcase(s, tc);
	return check_run(s);
}
