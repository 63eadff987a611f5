/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_DIFF_H
#define CVPN_DIFF_H

#include <stddef.h>
#include <stdio.h>

/* A line diff in the unified format (`diff -u`), for `cvpnctl check`: the ruleset that runs against the one
 * a file would give. Pure: no I/O but the FILE it is handed. The edit script is a longest common
 * subsequence of lines (Hirschberg: memory linear in the number of lines); common leading and trailing
 * lines are taken off first, and when what is left would cost more than DIFF_MAX_CELLS comparisons the
 * middle is shown as removed and added whole (still a correct diff, only not a minimal one). */

#define DIFF_MAX_CELLS (64u << 20)   /* ~0.1 s; a policy of a few thousand lines stays far below */

struct diff_stats {
	size_t added, removed;       /* '+' and '-' lines written */
	size_t hunks;
};

/* Compares texts a and b line by line (a last line without '\n' differs from the same line with one) and
 * writes `--- a_label`, `+++ b_label` and hunks with `context` lines around each change to out; nothing
 * when they are equal. st may be NULL. 0, -EINVAL, -ENOMEM or -EIO. */
int diff_unified(const char *a, size_t a_len, const char *b, size_t b_len, const char *a_label,
		 const char *b_label, unsigned context, FILE *out, struct diff_stats *st);

#endif
