// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for ctrl/diff.c: known answers (as GNU diff -u prints them), and on random texts that the
 * diff is minimal (its '-' count is lines(a) - LCS, computed here by the textbook table) and that applying
 * it to a gives b exactly. Large inputs: a few thousand lines, and the fallback past DIFF_MAX_CELLS. */
#define _GNU_SOURCE /* open_memstream */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cvpn/diff.h"

#include "check_run.h"

/* Runs diff_unified on two C strings; returns the output (caller frees). */
static char *run(const char *a, const char *b, unsigned ctx, struct diff_stats *st, int *rc)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(f);
	*rc = diff_unified(a, strlen(a), b, strlen(b), "running", "file.yaml", ctx, f, st);
	fclose(f);
	return buf;
}

START_TEST(test_equal_prints_nothing)
{
	struct diff_stats st = { 1, 1, 1 };
	int rc;
	char *out = run("table inet cvpn {\n\tchain x {\n\t}\n}\n", "table inet cvpn {\n\tchain x {\n\t}\n}\n", 3, &st,
			&rc);

	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(out, "");
	ck_assert_uint_eq(st.added + st.removed + st.hunks, 0);
	free(out);
	out = run("", "", 3, &st, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(out, "");
	free(out);
}
END_TEST

/* The expected texts are what GNU diffutils 3.8 prints for the same files (-U1 and -u). */
START_TEST(test_known_two_hunks)
{
	struct diff_stats st;
	int rc;
	char *out = run("a\nb\nc\nd\ne\nf\ng\n", "a\nb\nC\nd\ne\nf\n", 1, &st, &rc);

	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(out, "--- running\n+++ file.yaml\n"
			      "@@ -2,3 +2,3 @@\n b\n-c\n+C\n d\n"
			      "@@ -6,2 +6 @@\n f\n-g\n");
	ck_assert_uint_eq(st.hunks, 2);
	ck_assert_uint_eq(st.added, 1);
	ck_assert_uint_eq(st.removed, 2);
	free(out);
}
END_TEST

START_TEST(test_known_close_changes_share_a_hunk)
{
	int rc;
	/* two changes 2 lines apart with context 1: the contexts touch, so one hunk */
	char *out = run("1\n2\n3\n4\n5\n6\n7\n8\n", "1\nX\n3\n4\nY\n6\n7\n8\n", 1, NULL, &rc);

	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(out, "--- running\n+++ file.yaml\n"
			      "@@ -1,6 +1,6 @@\n 1\n-2\n+X\n 3\n 4\n-5\n+Y\n 6\n");
	free(out);
}
END_TEST

START_TEST(test_known_empty_and_newline)
{
	int rc;
	char *out = run("", "x\n", 3, NULL, &rc);

	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(out, "--- running\n+++ file.yaml\n@@ -0,0 +1 @@\n+x\n");
	free(out);
	out = run("x\ny", "x\ny\n", 3, NULL, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(out, "--- running\n+++ file.yaml\n@@ -1,2 +1,2 @@\n x\n-y\n\\ No newline at end of file\n+y\n");
	free(out);
	out = run("a\nb\n", "", 0, NULL, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(out, "--- running\n+++ file.yaml\n@@ -1,2 +0,0 @@\n-a\n-b\n");
	free(out);
}
END_TEST

START_TEST(test_bad_arguments)
{
	FILE *f = fopen("/dev/null", "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(diff_unified(NULL, 3, "x", 1, "a", "b", 3, f, NULL), -EINVAL);
	ck_assert_int_eq(diff_unified("x", 1, "x", 1, NULL, "b", 3, f, NULL), -EINVAL);
	ck_assert_int_eq(diff_unified("x", 1, "x", 1, "a", "b", 3, NULL, NULL), -EINVAL);
	fclose(f);
}
END_TEST

/* ---- property checks ---- */

struct lines {
	char **v;
	size_t n;
};

/* Splits text into lines that keep their '\n'. */
static struct lines split_lines(const char *t)
{
	struct lines l = { NULL, 0 };
	size_t n = strlen(t);

	for (size_t i = 0; i < n;) {
		const char *nl = memchr(t + i, '\n', n - i);
		size_t len = nl ? (size_t)(nl - (t + i)) + 1 : n - i;

		l.v = realloc(l.v, (l.n + 1) * sizeof(*l.v));
		ck_assert_ptr_nonnull(l.v);
		l.v[l.n++] = strndup(t + i, len);
		i += len;
	}
	return l;
}

static void free_lines(struct lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

static size_t lcs_table(const struct lines *a, const struct lines *b)
{
	size_t *t = calloc((a->n + 1) * (b->n + 1), sizeof(*t)), r;

	ck_assert_ptr_nonnull(t);
	for (size_t i = 1; i <= a->n; i++)
		for (size_t j = 1; j <= b->n; j++) {
			size_t *c = &t[i * (b->n + 1) + j];

			if (!strcmp(a->v[i - 1], b->v[j - 1]))
				*c = t[(i - 1) * (b->n + 1) + j - 1] + 1;
			else
				*c = t[(i - 1) * (b->n + 1) + j] > t[i * (b->n + 1) + j - 1] ?
					     t[(i - 1) * (b->n + 1) + j] : t[i * (b->n + 1) + j - 1];
		}
	r = t[a->n * (b->n + 1) + b->n];
	free(t);
	return r;
}

/* Applies the unified diff to a, checking every context and '-' line against a and every hunk header
 * against its body; returns the result. */
static char *apply(const char *a_text, const char *patch)
{
	struct lines a = split_lines(a_text), p = split_lines(patch);
	char *out = NULL;
	size_t olen = 0, ai = 0, k = 0;
	FILE *f = open_memstream(&out, &olen);

	ck_assert_ptr_nonnull(f);
	if (p.n) {
		ck_assert_msg(!strncmp(p.v[0], "--- ", 4) && !strncmp(p.v[1], "+++ ", 4), "no header: %s", patch);
		k = 2;
	}
	while (k < p.n) {
		unsigned long os, ol = 1, ns, nl = 1, seen_o = 0, seen_n = 0;
		char *e;

		ck_assert_msg(!strncmp(p.v[k], "@@ -", 4), "expected a hunk header, got %s", p.v[k]);
		os = strtoul(p.v[k] + 4, &e, 10);
		if (*e == ',')
			ol = strtoul(e + 1, &e, 10);
		ck_assert(!strncmp(e, " +", 2));
		ns = strtoul(e + 2, &e, 10);
		if (*e == ',')
			nl = strtoul(e + 1, &e, 10);
		ck_assert_str_eq(e, " @@\n");
		(void)ns;
		/* copy up to the hunk: an empty range names the line before it */
		for (size_t upto = ol ? os - 1 : os; ai < upto; ai++)
			fputs(a.v[ai], f);
		for (k++; k < p.n && p.v[k][0] != '@'; k++) {
			char c = p.v[k][0], *s = strdup(p.v[k] + 1);

			/* "\ No newline at end of file" after a line: that line has no '\n' */
			if (k + 1 < p.n && p.v[k + 1][0] == '\\') {
				s[strlen(s) - 1] = '\0';
				k++;
			}
			switch (c) {
			case ' ':
			case '-':
				ck_assert_msg(ai < a.n && !strcmp(a.v[ai], s), "context/removed line does not match a");
				if (c == ' ') {
					fputs(s, f);
					seen_n++;
				}
				ai++;
				seen_o++;
				break;
			case '+':
				fputs(s, f);
				seen_n++;
				break;
			default:
				ck_abort_msg("bad line in the diff: %s", p.v[k]);
			}
			free(s);
		}
		ck_assert_uint_eq(seen_o, ol);
		ck_assert_uint_eq(seen_n, nl);
	}
	for (; ai < a.n; ai++)
		fputs(a.v[ai], f);
	fclose(f);
	free_lines(&a);
	free_lines(&p);
	return out;
}

static char *random_text(unsigned *seed, size_t max_lines, unsigned alphabet)
{
	size_t n = (size_t)rand_r(seed) % (max_lines + 1);
	char *t = calloc(n * 4 + 1, 1), *w = t;

	ck_assert_ptr_nonnull(t);
	for (size_t i = 0; i < n; i++) {
		*w++ = (char)('a' + rand_r(seed) % alphabet);
		*w++ = '\n';
	}
	/* now and then a last line without its newline */
	if (n && rand_r(seed) % 5 == 0)
		*--w = '\0';
	return t;
}

START_TEST(test_random_minimal_and_applies)
{
	unsigned seed = 12345;

	for (int iter = 0; iter < 3000; iter++) {
		char *a = random_text(&seed, 30, 4), *b = random_text(&seed, 30, 4), *out, *back;
		struct lines la = split_lines(a), lb = split_lines(b);
		size_t lcs = lcs_table(&la, &lb);
		struct diff_stats st;
		int rc;

		out = run(a, b, (unsigned)iter % 4, &st, &rc);
		ck_assert_int_eq(rc, 0);
		ck_assert_msg(st.removed == la.n - lcs && st.added == lb.n - lcs,
			      "not minimal: -%zu +%zu, LCS %zu of %zu/%zu lines", st.removed, st.added, lcs, la.n, lb.n);
		back = apply(a, out);
		ck_assert_str_eq(back, b);
		ck_assert_uint_eq(st.hunks == 0, !strcmp(a, b));
		free(back);
		free(out);
		free_lines(&la);
		free_lines(&lb);
		free(a);
		free(b);
	}
}
END_TEST

/* A ruleset-sized text: 4000 lines, three edits far apart -> three hunks with exactly those lines. */
START_TEST(test_large_sparse_edits)
{
	size_t n = 4000;
	char *a = malloc(n * 40), *b = malloc(n * 40 + 100), *wa = a, *wb = b, *out, *back;
	struct diff_stats st;
	int rc;

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	for (size_t i = 0; i < n; i++) {
		wa += sprintf(wa, "\t\tip daddr 198.18.%zu.%zu counter accept\n", i / 256, i % 256);
		if (i == 100 || i == 3900)
			continue; /* removed */
		if (i == 2000)
			wb += sprintf(wb, "\t\tip daddr 198.19.0.1 counter drop\n"); /* added before */
		wb += sprintf(wb, "\t\tip daddr 198.18.%zu.%zu counter accept\n", i / 256, i % 256);
	}
	out = run(a, b, 3, &st, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(st.hunks, 3);
	ck_assert_uint_eq(st.removed, 2);
	ck_assert_uint_eq(st.added, 1);
	ck_assert_ptr_nonnull(strstr(out, "@@ -98,7 +98,6 @@\n"));
	ck_assert_ptr_nonnull(strstr(out, "\n-\t\tip daddr 198.18.0.100 counter accept\n"));
	ck_assert_ptr_nonnull(strstr(out, "\n+\t\tip daddr 198.19.0.1 counter drop\n"));
	back = apply(a, out);
	ck_assert_str_eq(back, b);
	free(back);
	free(out);
	free(a);
	free(b);
}
END_TEST

/* Past DIFF_MAX_CELLS the middle is replaced whole: still a correct diff, in bounded time. */
START_TEST(test_fallback_over_the_bound)
{
	size_t n = 9000; /* 9000 * 9000 > DIFF_MAX_CELLS */
	char *a = malloc(n * 16), *b = malloc(n * 16), *wa = a, *wb = b, *out, *back;
	struct diff_stats st;
	int rc;

	ck_assert((double)n * (double)n > DIFF_MAX_CELLS);
	for (size_t i = 0; i < n; i++) {
		wa += sprintf(wa, "a%zu\n", i);
		wb += sprintf(wb, "b%zu\n", i);
	}
	out = run(a, b, 3, &st, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(st.removed, n);
	ck_assert_uint_eq(st.added, n);
	ck_assert_uint_eq(st.hunks, 1);
	back = apply(a, out);
	ck_assert_str_eq(back, b);
	free(back);
	free(out);
	free(a);
	free(b);
}
END_TEST

static Suite *diff_suite(void)
{
	Suite *s = suite_create("diff");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_equal_prints_nothing);
	tcase_add_test(tc, test_known_two_hunks);
	tcase_add_test(tc, test_known_close_changes_share_a_hunk);
	tcase_add_test(tc, test_known_empty_and_newline);
	tcase_add_test(tc, test_bad_arguments);
	tcase_add_test(tc, test_random_minimal_and_applies);
	tcase_add_test(tc, test_large_sparse_edits);
	tcase_add_test(tc, test_fallback_over_the_bound);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(diff_suite());
}
