// SPDX-License-Identifier: GPL-2.0-or-later
/* The pure part of the directory client (ctrl/auth/directory.c): what a username becomes inside a DN and a
 * filter (an injection there would log anyone in as someone else), and group names from group DNs. The LDAP
 * exchange itself is tested against a real slapd in test/integration/test_ldap_auth.sh. */
#include <check.h>
#include <errno.h>
#include <string.h>

#include "cvpn/directory.h"

#include "check_run.h"

START_TEST(escape_dn)
{
	char out[128];

	ck_assert_int_eq(directory_escape_dn("alice", out, sizeof(out)), 5);
	ck_assert_str_eq(out, "alice");
	directory_escape_dn("a,ou=admins", out, sizeof(out));
	ck_assert_str_eq(out, "a\\,ou\\=admins");
	directory_escape_dn("x+y\"z\\w<v>u;", out, sizeof(out));
	ck_assert_str_eq(out, "x\\+y\\\"z\\\\w\\<v\\>u\\;");
	directory_escape_dn(" #lead", out, sizeof(out));
	ck_assert_str_eq(out, "\\ #lead");
	directory_escape_dn("#x", out, sizeof(out));
	ck_assert_str_eq(out, "\\#x");
	directory_escape_dn("trail ", out, sizeof(out));
	ck_assert_str_eq(out, "trail\\ ");
	directory_escape_dn("a\tb", out, sizeof(out));
	ck_assert_str_eq(out, "a\\09b");
	ck_assert_int_eq(directory_escape_dn("a,b", out, 4), -ENOSPC);
}
END_TEST

START_TEST(escape_filter)
{
	char out[128];

	directory_escape_filter("alice", out, sizeof(out));
	ck_assert_str_eq(out, "alice");
	/* the classic: "*)(uid=*" would match every entry */
	directory_escape_filter("*)(uid=*", out, sizeof(out));
	ck_assert_str_eq(out, "\\2a\\29\\28uid=\\2a");
	directory_escape_filter("a\\b", out, sizeof(out));
	ck_assert_str_eq(out, "a\\5cb");
	ck_assert_int_eq(directory_escape_filter("****", out, 12), -ENOSPC);
}
END_TEST

START_TEST(expand)
{
	char out[64];

	ck_assert_int_gt(directory_expand("uid=%u,ou=people,dc=example,dc=org", "bob", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "uid=bob,ou=people,dc=example,dc=org");
	directory_expand("(|(uid=%u)(mail=%u@x))", "b", out, sizeof(out));
	ck_assert_str_eq(out, "(|(uid=b)(mail=b@x))");
	directory_expand("100%% %u", "x", out, sizeof(out));
	ck_assert_str_eq(out, "100% x");
	ck_assert_int_eq(directory_expand("uid=%u,dc=example,dc=org", "a-very-long-user-name-indeed-yes", out, 40),
			 -ENOSPC);
}
END_TEST

START_TEST(group_names)
{
	char out[64];

	ck_assert_int_eq(directory_group_name("cn=eng,ou=groups,dc=example,dc=org", CONFIG_GROUP_NAME_CN, out,
					      sizeof(out)), 0);
	ck_assert_str_eq(out, "eng");
	/* escaped characters come back unescaped */
	ck_assert_int_eq(directory_group_name("cn=R\\2cD team,ou=groups,dc=example,dc=org", CONFIG_GROUP_NAME_CN,
					      out, sizeof(out)), 0);
	ck_assert_str_eq(out, "R,D team");
	ck_assert_int_eq(directory_group_name("CN=Finance,OU=Groups,DC=corp", CONFIG_GROUP_NAME_CN, out,
					      sizeof(out)), 0);
	ck_assert_str_eq(out, "Finance");
	ck_assert_int_eq(directory_group_name("cn=eng,dc=org", CONFIG_GROUP_NAME_DN, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "cn=eng,dc=org");
	ck_assert_int_eq(directory_group_name("not a dn", CONFIG_GROUP_NAME_CN, out, sizeof(out)), -EINVAL);
	ck_assert_int_eq(directory_group_name("", CONFIG_GROUP_NAME_CN, out, sizeof(out)), -EINVAL);
}
END_TEST

START_TEST(usernames)
{
	char longname[DIR_USERNAME_MAX + 2];

	ck_assert_int_eq(directory_username_ok("alice"), 0);
	ck_assert_int_eq(directory_username_ok("alice@example.org"), 0);
	ck_assert_int_eq(directory_username_ok(""), -EINVAL);
	ck_assert_int_eq(directory_username_ok("al\nice"), -EINVAL);
	/* other spellings of one directory name (spaces the directory ignores) are refused */
	ck_assert_int_eq(directory_username_ok("alice "), -EINVAL);
	ck_assert_int_eq(directory_username_ok(" alice"), -EINVAL);
	ck_assert_int_eq(directory_username_ok("alice  smith"), -EINVAL);
	ck_assert_int_eq(directory_username_ok("alice smith"), 0);
	/* valid UTF-8 only: it goes into JSON (connection log, handler input) */
	ck_assert_int_eq(directory_username_ok("j\xc3\xbcrgen"), 0);         /* jürgen */
	ck_assert_int_eq(directory_username_ok("\xe5\xb1\xb1\xe7\x94\xb0"), 0); /* a CJK name */
	ck_assert_int_eq(directory_username_ok("\xf0\x9f\x98\x80"), 0);        /* U+1F600 */
	ck_assert_int_eq(directory_username_ok("\xff"), -EINVAL);
	ck_assert_int_eq(directory_username_ok("j\xc3rgen"), -EINVAL);          /* cut sequence */
	ck_assert_int_eq(directory_username_ok("\xc0\xaf"), -EINVAL);           /* overlong '/' */
	ck_assert_int_eq(directory_username_ok("\xed\xa0\x80"), -EINVAL);      /* a surrogate */
	ck_assert_int_eq(directory_username_ok("\xf4\x90\x80\x80"), -EINVAL); /* past U+10FFFF */
	ck_assert_int_eq(directory_username_ok("a\x7f"), -EINVAL);
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	ck_assert_int_eq(directory_username_ok(longname), -EINVAL);
	longname[DIR_USERNAME_MAX] = '\0';
	ck_assert_int_eq(directory_username_ok(longname), 0);
}
END_TEST

START_TEST(unreachable_directory)
{
	/* nothing listens on port 9 of loopback: a quick, clean -EIO, never a crash or a hang */
	struct config_directory d = {
		.uri = "ldap://127.0.0.1:9", .bind_dn_template = "uid=%u,dc=example,dc=org",
		.group_attribute = "memberOf", .timeout = 2,
	};
	struct dir_result res;
	char detail[256];

	ck_assert_int_eq(directory_login(&d, "alice", "pw", NULL, &res, detail, sizeof(detail)), -EIO);
	ck_assert_ptr_null(res.groups);
	/* an empty password never reaches the directory (it would be an unauthenticated bind) */
	ck_assert_int_eq(directory_login(&d, "alice", "", NULL, &res, detail, sizeof(detail)), -EACCES);
	ck_assert_int_eq(directory_login(&d, "", "pw", NULL, &res, detail, sizeof(detail)), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("directory");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, escape_dn);
	tcase_add_test(tc, escape_filter);
	tcase_add_test(tc, expand);
	tcase_add_test(tc, group_names);
	tcase_add_test(tc, usernames);
	tcase_add_test(tc, unreachable_directory);
	suite_add_tcase(s, tc);
	return check_run(s);
}
