/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_DIRECTORY_H
#define CVPN_DIRECTORY_H

#include <stddef.h>

#include "cvpn/config.h"

/* Username/password logins against an LDAP or Active Directory server (OpenLDAP's libldap). directory_login
 * blocks for up to a few times the directory timeout: it runs on the authentication workers (auth.c), never
 * on the event loop. */

#define DIR_USERNAME_MAX 64
#define DIR_GROUPS_MAX 256   /* groups of one user, nested ones included */

struct dir_result {
	char *dn;                /* the user's entry, as the directory spells its DN */
	char *name;              /* the user's name: the entry's username-attribute, not the typed spelling */
	char **groups;           /* names as group-name says (cn or dn) */
	size_t n_groups;
	char *totp_secret;       /* value of the TOTP attribute when asked for; secret */
	long pw_expires_s;       /* the password policy's warning: seconds until the password expires, or -1 */
	int pw_grace_left;       /* logins left after it expired (grace logins), or -1 */
};

/* Checks username and password; on success fills res (dir_result_clear() frees it). Returns 0, -EACCES
 * (wrong password, unknown or ambiguous user: the client is told only "invalid username or password"),
 * -EINVAL (a username we do not send to a directory), -EPROTO (the password was right but the entry has no
 * usable username-attribute), -EKEYEXPIRED (the password was right, but the directory's password policy
 * says it has expired or must be changed first), or -EIO (directory unreachable or failing). detail
 * says what happened, for the log; it never contains the password. */
int directory_login(const struct config_directory *d, const char *username, const char *password,
		    const char *totp_attribute, struct dir_result *res, char *detail, size_t detail_len);
void dir_result_clear(struct dir_result *res);
/* libldap's process-wide initialisation, once, before the first worker runs (it is not thread-safe). */
void directory_global_init(void);

/* Pure helpers, exposed for the unit tests. Each returns the length written or -ENOSPC. */
/* RFC 4514 escaping of an attribute value inside a DN. */
int directory_escape_dn(const char *in, char *out, size_t cap);
/* RFC 4515 escaping of an assertion value inside a filter. */
int directory_escape_filter(const char *in, char *out, size_t cap);
/* tmpl with every %u replaced by value and %% by %. */
int directory_expand(const char *tmpl, const char *value, char *out, size_t cap);
/* The name of the group whose DN is dn: the value of its first RDN (cn) or the DN itself. 0 or -EINVAL. */
int directory_group_name(const char *dn, enum config_group_name how, char *out, size_t cap);
/* A username we accept: 1..DIR_USERNAME_MAX bytes of valid UTF-8, no control characters, no space at either
 * end nor two in a row (spellings the directory would take for the same name). */
int directory_username_ok(const char *username);

#endif
