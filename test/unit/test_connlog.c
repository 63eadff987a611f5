// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for ctrl/connlog.c: the connection-log records (built with json-c, read back with json-c and
 * compared field by field), the id and time formats, and the file side (append, reopen after a move). */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <sys/resource.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cvpn/connlog.h"

#include "check_run.h"

/* 2020-03-26 20:37:15 UTC, the cloud documentation's example time */
#define T0 ((time_t)1585255035)

static void sample(struct conn_info *ci)
{
	memset(ci, 0, sizeof(*ci));
	connlog_format_id(0x2a, ci->id);
	snprintf(ci->endpoint_id, sizeof(ci->endpoint_id), "cvpn-endpoint-unit");
	snprintf(ci->transport, sizeof(ci->transport), "udp");
	snprintf(ci->common_name, sizeof(ci->common_name), "alice \"the\" user");
	snprintf(ci->device_type, sizeof(ci->device_type), "linux");
	snprintf(ci->client_version, sizeof(ci->client_version), "2.6.14");
	ci->client_ip = 0x64400002; /* 100.64.0.2 */
	snprintf(ci->device_ip, sizeof(ci->device_ip), "203.0.113.2");
	ci->port = 50096;
	ci->ingress_bytes = 5000000000ull; /* beyond 32 bits */
	ci->egress_bytes = 1234;
	ci->ingress_packets = 7;
	ci->egress_packets = 8;
	ci->start_time = T0;
	ci->established_time = T0 + 1;
	ci->last_update_time = T0 + 61;
	ci->status = CONN_STATUS_ACTIVE;
}

/* Serialises and parses back, as a consumer of the log file would. */
static struct json_object *roundtrip(const struct conn_info *ci, enum connlog_kind kind)
{
	struct json_object *rec = connlog_record(ci, kind), *back;

	ck_assert_ptr_nonnull(rec);
	back = json_tokener_parse(json_object_to_json_string_ext(rec, JSON_C_TO_STRING_PLAIN));
	json_object_put(rec);
	ck_assert_ptr_nonnull(back);
	return back;
}

static const char *str(struct json_object *o, const char *k)
{
	struct json_object *v;

	ck_assert_msg(json_object_object_get_ex(o, k, &v), "missing field %s", k);
	ck_assert_msg(json_object_is_type(v, json_type_string), "%s is not a string", k);
	return json_object_get_string(v);
}

static uint64_t num(struct json_object *o, const char *k)
{
	struct json_object *v;

	ck_assert_msg(json_object_object_get_ex(o, k, &v), "missing field %s", k);
	ck_assert_msg(json_object_is_type(v, json_type_int), "%s is not an integer", k);
	return json_object_get_uint64(v);
}

START_TEST(test_id_and_time)
{
	char id[CONN_ID_LEN], t[20];

	connlog_format_id(1, id);
	ck_assert_str_eq(id, "cvpn-conn-0000000000000001");
	connlog_format_id(UINT64_MAX, id);
	ck_assert_str_eq(id, "cvpn-conn-ffffffffffffffff");
	connlog_format_time(T0, t);
	ck_assert_str_eq(t, "2020-03-26 20:37:15");
	connlog_format_time(0, t);
	ck_assert_str_eq(t, "NA");
}
END_TEST

START_TEST(test_attempt_successful)
{
	static const char *const fields[] = {
		"connection-log-type", "connection-attempt-status", "connection-attempt-failure-reason",
		"connection-end-reason", "connection-id", "endpoint-id", "transport-protocol",
		"connection-start-time", "connection-established-time", "connection-last-update-time", "client-ip",
		"common-name", "username", "device-type", "client-openvpn-version", "device-ip", "port",
		"ingress-bytes", "egress-bytes", "ingress-packets", "egress-packets", "connection-end-time",
		"connection-duration-seconds", "posture-compliance-statuses",
	};
	struct conn_info ci;
	struct json_object *o, *v;

	sample(&ci);
	o = roundtrip(&ci, CONNLOG_ATTEMPT);
	ck_assert_int_eq(json_object_object_length(o), sizeof(fields) / sizeof(fields[0]));
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		ck_assert_msg(json_object_object_get_ex(o, fields[i], NULL), "missing %s", fields[i]);
	ck_assert_str_eq(str(o, "connection-log-type"), "connection-attempt");
	ck_assert_str_eq(str(o, "connection-attempt-status"), "successful");
	ck_assert_str_eq(str(o, "connection-attempt-failure-reason"), "NA");
	ck_assert_str_eq(str(o, "connection-id"), "cvpn-conn-000000000000002a");
	ck_assert_str_eq(str(o, "endpoint-id"), "cvpn-endpoint-unit");
	ck_assert_str_eq(str(o, "transport-protocol"), "udp");
	ck_assert_str_eq(str(o, "connection-start-time"), "2020-03-26 20:37:15");
	ck_assert_str_eq(str(o, "connection-established-time"), "2020-03-26 20:37:16");
	ck_assert_str_eq(str(o, "connection-last-update-time"), "2020-03-26 20:38:16");
	ck_assert_str_eq(str(o, "client-ip"), "100.64.0.2");
	/* quotes survive: the library escapes, nothing is pasted together by hand */
	ck_assert_str_eq(str(o, "common-name"), "alice \"the\" user");
	ck_assert_str_eq(str(o, "username"), "NA");
	ck_assert_str_eq(str(o, "device-type"), "linux");
	ck_assert_str_eq(str(o, "device-ip"), "203.0.113.2");
	ck_assert_uint_eq(num(o, "port"), 50096);
	ck_assert_uint_eq(num(o, "ingress-bytes"), 5000000000ull);
	ck_assert_uint_eq(num(o, "egress-bytes"), 1234);
	ck_assert_uint_eq(num(o, "ingress-packets"), 7);
	ck_assert_uint_eq(num(o, "egress-packets"), 8);
	ck_assert_str_eq(str(o, "connection-end-time"), "NA");
	ck_assert_uint_eq(num(o, "connection-duration-seconds"), 60);
	ck_assert(json_object_object_get_ex(o, "posture-compliance-statuses", &v));
	ck_assert(json_object_is_type(v, json_type_array));
	ck_assert_int_eq(json_object_array_length(v), 0);
	json_object_put(o);
}
END_TEST

START_TEST(test_attempt_failed)
{
	struct conn_info ci;
	struct json_object *o;

	sample(&ci);
	ci.status = CONN_STATUS_FAILED;
	ci.client_ip = 0;
	ci.established_time = 0;
	ci.common_name[0] = '\0';
	snprintf(ci.reason, sizeof(ci.reason), "certificate has expired");
	o = roundtrip(&ci, CONNLOG_ATTEMPT);
	ck_assert_str_eq(str(o, "connection-attempt-status"), "failed");
	ck_assert_str_eq(str(o, "connection-attempt-failure-reason"), "certificate has expired");
	ck_assert_str_eq(str(o, "client-ip"), "NA");
	ck_assert_str_eq(str(o, "common-name"), "NA");
	ck_assert_str_eq(str(o, "connection-established-time"), "NA");
	ck_assert_str_eq(str(o, "connection-end-reason"), "NA");
	/* never established: the duration runs from the attempt's start */
	ck_assert_uint_eq(num(o, "connection-duration-seconds"), 61);
	json_object_put(o);
}
END_TEST

START_TEST(test_reset_and_update)
{
	struct conn_info ci;
	struct json_object *o;

	sample(&ci);
	ci.status = CONN_STATUS_TERMINATED;
	ci.end_time = T0 + 3601;
	snprintf(ci.reason, sizeof(ci.reason), "terminated by the administrator");
	o = roundtrip(&ci, CONNLOG_RESET);
	ck_assert_str_eq(str(o, "connection-log-type"), "connection-reset");
	ck_assert_str_eq(str(o, "connection-attempt-status"), "NA");
	ck_assert_str_eq(str(o, "connection-attempt-failure-reason"), "NA");
	ck_assert_str_eq(str(o, "connection-end-reason"), "terminated by the administrator");
	ck_assert_str_eq(str(o, "connection-end-time"), "2020-03-26 21:37:16");
	ck_assert_uint_eq(num(o, "connection-duration-seconds"), 3600);
	json_object_put(o);

	sample(&ci);
	o = roundtrip(&ci, CONNLOG_UPDATE);
	ck_assert_str_eq(str(o, "connection-log-type"), "connection-update");
	ck_assert_str_eq(str(o, "connection-end-reason"), "NA");
	json_object_put(o);
}
END_TEST

START_TEST(test_connection_entry)
{
	struct conn_info ci;
	struct json_object *o, *v;

	sample(&ci);
	ci.status = CONN_STATUS_TERMINATING;
	o = connlog_connection(&ci);
	ck_assert_ptr_nonnull(o);
	ck_assert_str_eq(str(o, "status"), "terminating");
	ck_assert(json_object_object_get_ex(o, "groups", &v) && json_object_is_type(v, json_type_array));
	ck_assert_str_eq(str(o, "connection-id"), "cvpn-conn-000000000000002a");
	ck_assert(!json_object_object_get_ex(o, "connection-log-type", NULL));
	json_object_put(o);
}
END_TEST

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n;

	ck_assert_ptr_nonnull(f);
	n = getdelim(&buf, &cap, '\0', f);
	fclose(f);
	if (n < 0) {
		free(buf);
		return strdup("");
	}
	return buf;
}

START_TEST(test_file_append_and_reopen)
{
	char dir[] = "/tmp/cvpn-connlog-XXXXXX", path[64], moved[64], *a, *b;
	struct connlog *cl;
	struct conn_info ci;
	struct json_object *rec;
	struct stat st;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/conn.log", dir);
	snprintf(moved, sizeof(moved), "%s/conn.log.1", dir);
	ck_assert_int_eq(connlog_write(NULL, NULL), 0); /* logging off */
	ck_assert_int_eq(connlog_open(path, &cl), 0);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777 & ~0640, 0);
	sample(&ci);
	rec = connlog_record(&ci, CONNLOG_ATTEMPT);
	ck_assert_int_eq(connlog_write(cl, rec), 0);
	ck_assert_int_eq(rename(path, moved), 0);
	ck_assert_int_eq(connlog_write(cl, rec), 0); /* still the old file until reopened */
	ck_assert_int_eq(connlog_reopen(cl), 0);
	ck_assert_int_eq(connlog_write(cl, rec), 0);
	connlog_close(cl);
	a = slurp(moved);
	b = slurp(path);
	/* two whole lines in the rotated file, one in the new one, each the record exactly */
	{
		const char *line = json_object_to_json_string_ext(rec, JSON_C_TO_STRING_PLAIN |
								   JSON_C_TO_STRING_NOSLASHESCAPE);
		char *two = NULL, *one = NULL;

		ck_assert_int_ge(asprintf(&two, "%s\n%s\n", line, line), 0);
		ck_assert_int_ge(asprintf(&one, "%s\n", line), 0);
		ck_assert_str_eq(a, two);
		ck_assert_str_eq(b, one);
		free(two);
		free(one);
	}
	json_object_put(rec);
	free(a);
	free(b);
	unlink(path);
	unlink(moved);
	rmdir(dir);
}
END_TEST

/* The disk fills up (a file size limit stands in for it): a record that does not fit is refused and leaves
 * nothing behind, so once there is room again the next record is a whole line of its own (half a record
 * used to stay, and the next one was glued to it: two records lost, and a line no JSON reader takes). */
START_TEST(test_file_full)
{
	char dir[] = "/tmp/cvpn-connlog-XXXXXX", path[64], *text, *line, *save = NULL;
	struct connlog *cl;
	struct conn_info ci;
	struct json_object *rec;
	struct rlimit lim;
	size_t reclen;
	int lines = 0, whole = 0, err = 0;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/conn.log", dir);
	ck_assert_int_eq(connlog_open(path, &cl), 0);
	sample(&ci);
	rec = connlog_record(&ci, CONNLOG_ATTEMPT);
	reclen = strlen(json_object_to_json_string_ext(rec, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	signal(SIGXFSZ, SIG_IGN); /* the write fails with EFBIG instead (this test runs in a child of its own) */
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &lim), 0);
	lim.rlim_cur = (rlim_t)(2 * (reclen + 1) + reclen / 2); /* two records and half of a third */
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	ck_assert_int_eq(connlog_write(cl, rec), 0);
	ck_assert_int_eq(connlog_write(cl, rec), 0);
	err = connlog_write(cl, rec);
	ck_assert_int_lt(err, 0);
	ck_assert_int_lt(connlog_write(cl, rec), 0); /* full: nothing written at all */
	lim.rlim_cur = lim.rlim_max;
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	ck_assert_int_eq(connlog_write(cl, rec), 0);
	connlog_close(cl);
	text = slurp(path);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct json_object *o = json_tokener_parse(line);

		lines++;
		whole += o != NULL;
		json_object_put(o);
	}
	ck_assert_int_eq(lines, 3);
	ck_assert_int_eq(whole, 3);
	json_object_put(rec);
	free(text);
	unlink(path);
	rmdir(dir);
}
END_TEST

/* A FIFO nobody reads at the log's path is refused at once (it used to block open(), and with it the event
 * loop, at start or at SIGUSR1, until someone read it); one a log shipper reads is taken, as is /dev/null; a
 * directory is not a log. */
START_TEST(test_not_a_regular_file)
{
	char dir[] = "/tmp/cvpn-connlog-XXXXXX", path[64];
	struct connlog *cl = NULL;
	int reader;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/conn.log", dir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ck_assert_int_eq(connlog_open(path, &cl), -ENXIO);
	ck_assert_ptr_null(cl);
	reader = open(path, O_RDONLY | O_NONBLOCK);
	ck_assert_int_ge(reader, 0);
	ck_assert_int_eq(connlog_open(path, &cl), 0);
	connlog_close(cl);
	cl = NULL;
	close(reader);
	unlink(path);
	ck_assert_int_eq(connlog_open("/dev/null", &cl), 0);
	connlog_close(cl);
	cl = NULL;
	ck_assert_int_eq(mkdir(path, 0700), 0);
	ck_assert_int_lt(connlog_open(path, &cl), 0);
	ck_assert_ptr_null(cl);
	rmdir(path);
	rmdir(dir);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("connlog");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_id_and_time);
	tcase_add_test(tc, test_attempt_successful);
	tcase_add_test(tc, test_attempt_failed);
	tcase_add_test(tc, test_reset_and_update);
	tcase_add_test(tc, test_connection_entry);
	tcase_add_test(tc, test_file_append_and_reopen);
	tcase_add_test(tc, test_file_full);
	tcase_add_test(tc, test_not_a_regular_file);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(suite());
}
