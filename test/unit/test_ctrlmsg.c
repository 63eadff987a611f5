// SPDX-License-Identifier: GPL-2.0-or-later
/* Control-channel text messages (ctrl/proto/ctrlmsg.c): splitting a record at its NULs, CR/LF endings,
 * empty messages, a last message without its NUL, and the exact-word classification. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "cvpn/ctrlmsg.h"

#include "check_run.h"

struct want {
	enum ctrlmsg_kind kind;
	const char *text;
};

/* Walks rec[0, len) from a heap copy of exactly len bytes (ASan sees any read past it) and compares. */
static void walk(const char *rec, size_t len, const struct want *w, size_t n)
{
	uint8_t *buf = malloc(len ? len : 1);
	struct ctrlmsg m;
	size_t off = 0, prev, k = 0;

	ck_assert_ptr_nonnull(buf);
	memcpy(buf, rec, len);
	for (;;) {
		prev = off;
		if (!ctrlmsg_next(buf, len, &off, &m))
			break;
		ck_assert_uint_lt(k, n);
		ck_assert_uint_gt(off, prev);
		ck_assert_uint_le(off, len);
		ck_assert_int_eq(m.kind, w[k].kind);
		ck_assert_uint_eq(m.len, strlen(w[k].text));
		ck_assert_mem_eq(m.text, w[k].text, m.len);
		k++;
	}
	ck_assert_uint_eq(k, n);
	ck_assert_uint_eq(off, len);
	free(buf);
}

#define WALK(rec, ...)                                                                       \
	do {                                                                                 \
		static const struct want w_[] = { __VA_ARGS__ };                             \
		walk(rec, sizeof(rec) - 1, w_, sizeof(w_) / sizeof(w_[0]));                  \
	} while (0)

START_TEST(single)
{
	WALK("PUSH_REQUEST\0", { CTRLMSG_PUSH_REQUEST, "PUSH_REQUEST" });
	WALK("EXIT\0", { CTRLMSG_EXIT, "EXIT" });
	WALK("AUTH_FAILED\0", { CTRLMSG_OTHER, "AUTH_FAILED" });
	/* the last message of a record may come without its NUL */
	WALK("PUSH_REQUEST", { CTRLMSG_PUSH_REQUEST, "PUSH_REQUEST" });
	WALK("EXIT", { CTRLMSG_EXIT, "EXIT" });
}
END_TEST

START_TEST(several)
{
	WALK("PUSH_REQUEST\0EXIT\0", { CTRLMSG_PUSH_REQUEST, "PUSH_REQUEST" }, { CTRLMSG_EXIT, "EXIT" });
	WALK("INFO,hello\0PUSH_REQUEST\0EXIT", { CTRLMSG_OTHER, "INFO,hello" },
	     { CTRLMSG_PUSH_REQUEST, "PUSH_REQUEST" }, { CTRLMSG_EXIT, "EXIT" });
}
END_TEST

START_TEST(crlf_and_empty)
{
	WALK("PUSH_REQUEST\r\n\0", { CTRLMSG_PUSH_REQUEST, "PUSH_REQUEST" });
	WALK("EXIT\n\r\n", { CTRLMSG_EXIT, "EXIT" });
	/* only trailing CR/LF go: inside and in front they are part of the text */
	WALK("EX\rIT\0\nEXIT\0", { CTRLMSG_OTHER, "EX\rIT" }, { CTRLMSG_OTHER, "\nEXIT" });
	/* messages that are empty, or only CR/LF, are skipped */
	WALK("\0\0\r\n\0EXIT\0\0", { CTRLMSG_EXIT, "EXIT" });
}
END_TEST

START_TEST(whole_words)
{
	WALK("PUSH_REQUESTX\0EXIT now\0 EXIT\0exit\0PUSH_REQUES\0",
	     { CTRLMSG_OTHER, "PUSH_REQUESTX" }, { CTRLMSG_OTHER, "EXIT now" }, { CTRLMSG_OTHER, " EXIT" },
	     { CTRLMSG_OTHER, "exit" }, { CTRLMSG_OTHER, "PUSH_REQUES" });
}
END_TEST

START_TEST(nothing)
{
	uint8_t b[4] = { '\r', '\n', 0, '\n' };
	struct ctrlmsg m;
	size_t off = 0;

	ck_assert_int_eq(ctrlmsg_next(b, 0, &off, &m), 0);
	ck_assert_uint_eq(off, 0);
	ck_assert_int_eq(ctrlmsg_next(b, sizeof(b), &off, &m), 0);
	ck_assert_uint_eq(off, sizeof(b));
	/* an offset past the end is the end */
	off = 99;
	ck_assert_int_eq(ctrlmsg_next(b, sizeof(b), &off, &m), 0);
	ck_assert_uint_eq(off, sizeof(b));
}
END_TEST

START_TEST(resume)
{
	/* the caller may write into the byte after a message (session.c ends it there): later ones are unaffected */
	uint8_t b[] = "EXIT\r\nPUSH_REQUEST\0EXIT";
	struct ctrlmsg m;
	size_t off = 0;

	ck_assert_int_eq(ctrlmsg_next(b, sizeof(b) - 1, &off, &m), 1);
	ck_assert_int_eq(m.kind, CTRLMSG_OTHER); /* "EXIT\r\nPUSH_REQUEST": CR/LF inside */
	b[(size_t)((const uint8_t *)m.text - b) + m.len] = '\0';
	ck_assert_str_eq(m.text, "EXIT\r\nPUSH_REQUEST");
	ck_assert_int_eq(ctrlmsg_next(b, sizeof(b) - 1, &off, &m), 1);
	ck_assert_int_eq(m.kind, CTRLMSG_EXIT);
	ck_assert_uint_eq(off, sizeof(b) - 1);
	ck_assert_int_eq(ctrlmsg_next(b, sizeof(b) - 1, &off, &m), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ctrlmsg");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, single);
	tcase_add_test(tc, several);
	tcase_add_test(tc, crlf_and_empty);
	tcase_add_test(tc, whole_words);
	tcase_add_test(tc, nothing);
	tcase_add_test(tc, resume);
	suite_add_tcase(s, tc);
	return check_run(s);
}
