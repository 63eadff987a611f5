// SPDX-License-Identifier: GPL-2.0-or-later
/* Logging (ctrl/log.c): every line whole under concurrent writers, long messages cut with a marker, control
 * characters neutralised, the errno suffix, debug lines only when verbose, errno preserved. stderr goes to
 * a temporary file for the duration of each test. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cvpn/log.h"

#include "check_run.h"

#define THREADS 4
#define LINES_PER_THREAD 300
#define PAYLOAD 400

struct capture {
	FILE *file;
	int saved_stderr;
};

static void capture_start(struct capture *c)
{
	c->file = tmpfile();
	ck_assert_ptr_nonnull(c->file);
	c->saved_stderr = dup(STDERR_FILENO);
	ck_assert_int_ge(c->saved_stderr, 0);
	ck_assert_int_eq(dup2(fileno(c->file), STDERR_FILENO), STDERR_FILENO);
}

/* Everything logged since capture_start, NUL-terminated; the caller frees it. */
static char *capture_end(struct capture *c, size_t *len)
{
	char *buf;
	long size;

	ck_assert_int_eq(dup2(c->saved_stderr, STDERR_FILENO), STDERR_FILENO);
	close(c->saved_stderr);
	ck_assert_int_eq(fseek(c->file, 0, SEEK_END), 0);
	size = ftell(c->file);
	ck_assert_int_ge(size, 0);
	rewind(c->file);
	buf = malloc((size_t)size + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)size, c->file), (size_t)size);
	buf[size] = '\0';
	fclose(c->file);
	*len = (size_t)size;
	return buf;
}

static void *log_lines(void *arg)
{
	int id = (int)(long)arg;
	char payload[PAYLOAD + 1];

	memset(payload, 'a' + id, PAYLOAD);
	payload[PAYLOAD] = '\0';
	for (int i = 0; i < LINES_PER_THREAD; i++)
		log_info("thread %d line %d %s end", id, i, payload);
	return NULL;
}

START_TEST(concurrent_lines_stay_whole)
{
	struct capture c;
	pthread_t t[THREADS];
	int next[THREADS] = { 0 };
	size_t len, lines = 0;
	char *out, *line, *save = NULL;

	log_init("test-log", 0);
	capture_start(&c);
	for (long i = 0; i < THREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, log_lines, (void *)i), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	out = capture_end(&c, &len);
	ck_assert_int_eq(out[len - 1], '\n');
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		const char *body = strstr(line, " test-log[info] thread ");
		int id, n, used = 0;

		ck_assert_msg(body, "line without its prefix: %.80s", line);
		ck_assert_int_eq(sscanf(body, " test-log[info] thread %d line %d %n", &id, &n, &used), 2);
		ck_assert(id >= 0 && id < THREADS);
		/* each thread's lines in its order, each with its own payload intact */
		ck_assert_int_eq(n, next[id]);
		next[id]++;
		ck_assert_uint_eq(strlen(body + used), PAYLOAD + strlen(" end"));
		for (int k = 0; k < PAYLOAD; k++)
			ck_assert_int_eq(body[used + k], 'a' + id);
		ck_assert_str_eq(body + used + PAYLOAD, " end");
		lines++;
	}
	ck_assert_uint_eq(lines, THREADS * LINES_PER_THREAD);
	free(out);
}
END_TEST

START_TEST(long_message_is_cut_with_a_marker)
{
	struct capture c;
	size_t len;
	char *big = malloc(3 * LOG_LINE_MAX), *out;

	ck_assert_ptr_nonnull(big);
	memset(big, 'x', 3 * LOG_LINE_MAX - 1);
	big[3 * LOG_LINE_MAX - 1] = '\0';
	log_init("test-log", 0);
	capture_start(&c);
	log_warnx("%s", big);
	log_info("short");
	out = capture_end(&c, &len);
	/* the long one: exactly LOG_LINE_MAX characters, "..." last, then its newline */
	char *nl = strchr(out, '\n');
	ck_assert_ptr_nonnull(nl);
	ck_assert_uint_eq((size_t)(nl - out), LOG_LINE_MAX);
	ck_assert_int_eq(memcmp(nl - 3, "...", 3), 0);
	ck_assert_int_eq(nl[-4], 'x');
	ck_assert_ptr_nonnull(strstr(out, "test-log[warn] xxx"));
	/* and the next line is its own */
	ck_assert_ptr_nonnull(strstr(nl + 1, "test-log[info] short\n"));
	ck_assert_uint_eq(strlen(nl + 1) + (size_t)(nl + 1 - out), len);
	free(out);
	free(big);
}
END_TEST

START_TEST(control_characters_become_question_marks)
{
	struct capture c;
	size_t len;
	char *out;

	log_init("test-log", 0);
	capture_start(&c);
	log_warnx("user %s from %s", "eve\n2026-01-01 00:00:00 cvpnd[info] forged", "a\033[2Jb\x7f");
	out = capture_end(&c, &len);
	ck_assert_ptr_nonnull(strstr(out, "user eve?2026-01-01 00:00:00 cvpnd[info] forged from a?[2Jb?\n"));
	ck_assert_ptr_eq(strchr(out, '\n'), out + len - 1);
	free(out);
}
END_TEST

START_TEST(errno_suffix_debug_and_errno_kept)
{
	struct capture c;
	size_t len;
	char *out;

	log_init("test-log", 0);
	capture_start(&c);
	errno = ENOENT;
	log_warn("open %s", "/nonexistent");
	ck_assert_int_eq(errno, ENOENT);
	log_debug("hidden %d", 1);
	log_init("test-log", 1);
	log_debug("shown %d", 2);
	out = capture_end(&c, &len);
	ck_assert_ptr_nonnull(strstr(out, "test-log[warn] open /nonexistent: No such file or directory\n"));
	ck_assert_ptr_null(strstr(out, "hidden"));
	ck_assert_ptr_nonnull(strstr(out, "test-log[debug] shown 2\n"));
	free(out);
}
END_TEST

static Suite *log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, concurrent_lines_stay_whole);
	tcase_add_test(tc, long_message_is_cut_with_a_marker);
	tcase_add_test(tc, control_characters_become_question_marks);
	tcase_add_test(tc, errno_suffix_debug_and_errno_kept);
	suite_add_tcase(s, tc);
	return s;
}

int main(void) { return check_run(log_suite()); }
