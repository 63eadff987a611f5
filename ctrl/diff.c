// SPDX-License-Identifier: GPL-2.0-or-later
/* Unified line diff over a longest common subsequence, found with Hirschberg's divide and conquer: two rows
 * of LCS lengths (forward over the top half, backward over the bottom half) pick where the bottom-right
 * path crosses the middle line, then each half recurses. Memory stays linear in the line count, time is
 * the product of the line counts that differ; both are bounded before any work starts. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cvpn/diff.h"

struct line {
	const char *p;
	size_t len;                  /* with its '\n', when it has one */
	uint32_t hash;
};

enum { OP_EQ, OP_DEL, OP_INS };

struct lcs {
	const struct line *a, *b;
	uint32_t *fwd, *bwd;         /* rows of LCS lengths, (lines of b) + 1 each */
	uint8_t *ops;
	size_t n_ops;
};

static uint32_t fnv1a(const char *p, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)p[i]) * 16777619u;
	return h;
}

static int split(const char *t, size_t n, struct line **out, size_t *count)
{
	size_t k = 0, cap = 0;
	struct line *v = NULL;

	for (size_t i = 0; i < n;) {
		const char *nl = memchr(t + i, '\n', n - i);
		size_t len = nl ? (size_t)(nl - (t + i)) + 1 : n - i;

		if (k == cap) {
			struct line *nv;

			cap = cap ? cap * 2 : 256;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				free(v);
				return -ENOMEM;
			}
			v = nv;
		}
		v[k++] = (struct line){ t + i, len, fnv1a(t + i, len) };
		i += len;
	}
	*out = v;
	*count = k;
	return 0;
}

static bool same(const struct line *x, const struct line *y)
{
	return x->hash == y->hash && x->len == y->len && !memcmp(x->p, y->p, x->len);
}

static void emit(struct lcs *c, uint8_t op, size_t n)
{
	memset(c->ops + c->n_ops, op, n);
	c->n_ops += n;
}

/* fwd[j] = LCS(a[a0..a1), b[b0..b0+j)) for j = 0..b1-b0 */
static void rows_forward(struct lcs *c, size_t a0, size_t a1, size_t b0, size_t b1)
{
	size_t m = b1 - b0;
	uint32_t *L = c->fwd;

	memset(L, 0, (m + 1) * sizeof(*L));
	for (size_t i = a0; i < a1; i++) {
		uint32_t diag = 0;

		for (size_t j = 1; j <= m; j++) {
			uint32_t up = L[j];

			L[j] = same(&c->a[i], &c->b[b0 + j - 1]) ? diag + 1 : (up > L[j - 1] ? up : L[j - 1]);
			diag = up;
		}
	}
}

/* bwd[j] = LCS(a[a0..a1), b[b0+j..b1)) for j = 0..b1-b0 */
static void rows_backward(struct lcs *c, size_t a0, size_t a1, size_t b0, size_t b1)
{
	size_t m = b1 - b0;
	uint32_t *R = c->bwd;

	memset(R, 0, (m + 1) * sizeof(*R));
	for (size_t i = a1; i-- > a0;) {
		uint32_t diag = 0;

		for (size_t j = m; j-- > 0;) {
			uint32_t down = R[j];

			R[j] = same(&c->a[i], &c->b[b0 + j]) ? diag + 1 : (down > R[j + 1] ? down : R[j + 1]);
			diag = down;
		}
	}
}

static void hirschberg(struct lcs *c, size_t a0, size_t a1, size_t b0, size_t b1)
{
	size_t mid, best_k = 0;
	uint32_t best = 0;

	if (a0 == a1) {
		emit(c, OP_INS, b1 - b0);
		return;
	}
	if (b0 == b1) {
		emit(c, OP_DEL, a1 - a0);
		return;
	}
	if (a1 - a0 == 1) {
		for (size_t j = b0; j < b1; j++)
			if (same(&c->a[a0], &c->b[j])) {
				emit(c, OP_INS, j - b0);
				emit(c, OP_EQ, 1);
				emit(c, OP_INS, b1 - j - 1);
				return;
			}
		emit(c, OP_DEL, 1);
		emit(c, OP_INS, b1 - b0);
		return;
	}
	mid = a0 + (a1 - a0) / 2;
	rows_forward(c, a0, mid, b0, b1);
	rows_backward(c, mid, a1, b0, b1);
	for (size_t k = 0; k <= b1 - b0; k++)
		if (k == 0 || c->fwd[k] + c->bwd[k] > best) {
			best = c->fwd[k] + c->bwd[k];
			best_k = k;
		}
	hirschberg(c, a0, mid, b0, b0 + best_k);
	hirschberg(c, mid, a1, b0 + best_k, b1);
}

static void put_range(FILE *out, size_t start, size_t len)
{
	/* as GNU diff: an empty range names the line before it, a range of one line omits its length */
	if (len == 0)
		fprintf(out, "%zu,0", start);
	else if (len == 1)
		fprintf(out, "%zu", start + 1);
	else
		fprintf(out, "%zu,%zu", start + 1, len);
}

static void put_line(FILE *out, char mark, const struct line *l)
{
	fputc(mark, out);
	fwrite(l->p, 1, l->len, out);
	if (!l->len || l->p[l->len - 1] != '\n')
		fputs("\n\\ No newline at end of file\n", out);
}

static size_t next_change(const uint8_t *ops, size_t n, size_t from)
{
	while (from < n && ops[from] == OP_EQ)
		from++;
	return from;
}

/* Hunks: changes closer than 2 * context equal lines share one. pa[i]/pb[i]: lines of a/b before op i. */
static void write_hunks(const struct lcs *c, const struct line *a, const struct line *b, const size_t *pa,
			const size_t *pb, unsigned context, const char *a_label, const char *b_label, FILE *out,
			struct diff_stats *st)
{
	size_t n = c->n_ops, i = next_change(c->ops, n, 0), prev_end = 0;

	if (i < n)
		fprintf(out, "--- %s\n+++ %s\n", a_label, b_label);
	while (i < n) {
		size_t start = i - (i - prev_end < context ? i - prev_end : context), last = i, k, end;

		for (;;) {
			size_t j = last + 1;

			while (j < n && c->ops[j] != OP_EQ)
				j++;
			last = j - 1;
			k = next_change(c->ops, n, j);
			if (k >= n || k - j > 2 * (size_t)context)
				break;
			last = k;
		}
		end = last + 1 + (n - last - 1 < context ? n - last - 1 : context);
		fputs("@@ -", out);
		put_range(out, pa[start], pa[end] - pa[start]);
		fputs(" +", out);
		put_range(out, pb[start], pb[end] - pb[start]);
		fputs(" @@\n", out);
		for (size_t o = start; o < end; o++) {
			switch (c->ops[o]) {
			case OP_EQ: put_line(out, ' ', &a[pa[o]]); break;
			case OP_DEL: put_line(out, '-', &a[pa[o]]); st->removed++; break;
			default: put_line(out, '+', &b[pb[o]]); st->added++; break;
			}
		}
		st->hunks++;
		prev_end = end;
		i = k;
	}
}

int diff_unified(const char *a, size_t a_len, const char *b, size_t b_len, const char *a_label,
		 const char *b_label, unsigned context, FILE *out, struct diff_stats *st)
{
	struct line *la = NULL, *lb = NULL;
	size_t na = 0, nb = 0, pre = 0, suf = 0, *pa = NULL, *pb = NULL;
	struct lcs c = { 0 };
	struct diff_stats dummy;
	int ret = -EINVAL;

	if (!st)
		st = &dummy;
	memset(st, 0, sizeof(*st));
	if ((a_len && !a) || (b_len && !b) || !a_label || !b_label || !out)
		return -EINVAL;
	ret = -ENOMEM;
	if (split(a, a_len, &la, &na) < 0 || split(b, b_len, &lb, &nb) < 0)
		goto out;
	while (pre < na && pre < nb && same(&la[pre], &lb[pre]))
		pre++;
	while (suf < na - pre && suf < nb - pre && same(&la[na - 1 - suf], &lb[nb - 1 - suf]))
		suf++;
	c.a = la;
	c.b = lb;
	c.ops = malloc(na + nb + 1);
	pa = malloc((na + nb + 2) * sizeof(*pa));
	pb = malloc((na + nb + 2) * sizeof(*pb));
	if (!c.ops || !pa || !pb)
		goto out;
	emit(&c, OP_EQ, pre);
	{
		size_t ma = na - pre - suf, mb = nb - pre - suf;

		if (ma && mb && (double)ma * (double)mb > DIFF_MAX_CELLS) {
			emit(&c, OP_DEL, ma);
			emit(&c, OP_INS, mb);
		} else {
			c.fwd = malloc((mb + 1) * sizeof(*c.fwd));
			c.bwd = malloc((mb + 1) * sizeof(*c.bwd));
			if (!c.fwd || !c.bwd)
				goto out;
			hirschberg(&c, pre, na - suf, pre, nb - suf);
		}
	}
	emit(&c, OP_EQ, suf);
	pa[0] = pb[0] = 0;
	for (size_t i = 0; i < c.n_ops; i++) {
		pa[i + 1] = pa[i] + (c.ops[i] != OP_INS);
		pb[i + 1] = pb[i] + (c.ops[i] != OP_DEL);
	}
	write_hunks(&c, la, lb, pa, pb, context, a_label, b_label, out, st);
	ret = ferror(out) ? -EIO : 0;
out:
	free(la);
	free(lb);
	free(c.ops);
	free(c.fwd);
	free(c.bwd);
	free(pa);
	free(pb);
	return ret;
}
