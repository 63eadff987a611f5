// SPDX-License-Identifier: GPL-2.0-or-later
/* LDAP logins with libldap's synchronous calls, one connection per login, on a worker thread. Each call is
 * bounded: LDAP_OPT_NETWORK_TIMEOUT for the connect, LDAP_OPT_TIMEOUT and the search time limit for every
 * operation, so a dead directory costs a worker at most a few timeouts, never the event loop. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <ldap.h>

#include "cvpn/directory.h"

#define DN_MAX 1024
#define FILTER_MAX 1024
#define SERVICE_PW_MAX 512

/* Length of the UTF-8 sequence at p (1-4), 0 when it is not one: overlong forms, surrogates and code points
 * past U+10FFFF are not. */
static size_t utf8_len(const unsigned char *p)
{
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		return (p[1] & 0xc0) == 0x80 ? 2 : 0;
	if (p[0] >= 0xe0 && p[0] <= 0xef) {
		if ((p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 || (p[0] == 0xe0 && p[1] < 0xa0) ||
		    (p[0] == 0xed && p[1] >= 0xa0))
			return 0;
		return 3;
	}
	if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		if ((p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80 ||
		    (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90))
			return 0;
		return 4;
	}
	return 0;
}

int directory_username_ok(const char *u)
{
	size_t n = strlen(u);

	if (n == 0 || n > DIR_USERNAME_MAX)
		return -EINVAL;
	/* The directory ignores spaces at either end and runs of them when it compares ("alice " finds
	 * alice): such a spelling would be a second name for one user, with its own failed-login count and
	 * its own record of used MFA codes. */
	if (u[0] == ' ' || u[n - 1] == ' ' || strstr(u, "  "))
		return -EINVAL;
	for (const unsigned char *p = (const unsigned char *)u; *p;) {
		size_t len = utf8_len(p);

		if (len == 0 || *p < 0x20 || *p == 0x7f) /* the log, the JSON connection log, the handler */
			return -EINVAL;
		p += len;
	}
	return 0;
}

static int put(char *out, size_t cap, size_t *n, const char *s, size_t len)
{
	if (*n + len >= cap)
		return -ENOSPC;
	memcpy(out + *n, s, len);
	*n += len;
	out[*n] = '\0';
	return 0;
}

int directory_escape_dn(const char *in, char *out, size_t cap)
{
	size_t n = 0, len = strlen(in);

	if (cap == 0)
		return -ENOSPC;
	out[0] = '\0';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		char esc[4];
		int r;

		if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\%02x", c);
			r = put(out, cap, &n, esc, 3);
		} else if (strchr(",+\"\\<>;=", c) || (i == 0 && (c == ' ' || c == '#')) ||
			   (i == len - 1 && c == ' ')) {
			esc[0] = '\\';
			esc[1] = (char)c;
			r = put(out, cap, &n, esc, 2);
		} else {
			r = put(out, cap, &n, (const char *)&in[i], 1);
		}
		if (r < 0)
			return r;
	}
	return (int)n;
}

int directory_escape_filter(const char *in, char *out, size_t cap)
{
	size_t n = 0;

	if (cap == 0)
		return -ENOSPC;
	out[0] = '\0';
	for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
		char esc[4];
		int r;

		if (*p == '*' || *p == '(' || *p == ')' || *p == '\\' || *p < 0x20 || *p == 0x7f) {
			snprintf(esc, sizeof(esc), "\\%02x", *p);
			r = put(out, cap, &n, esc, 3);
		} else {
			r = put(out, cap, &n, (const char *)p, 1);
		}
		if (r < 0)
			return r;
	}
	return (int)n;
}

int directory_expand(const char *tmpl, const char *value, char *out, size_t cap)
{
	size_t n = 0;

	if (cap == 0)
		return -ENOSPC;
	out[0] = '\0';
	for (const char *p = tmpl; *p; p++) {
		int r;

		if (p[0] == '%' && p[1] == 'u') {
			r = put(out, cap, &n, value, strlen(value));
			p++;
		} else if (p[0] == '%' && p[1] == '%') {
			r = put(out, cap, &n, "%", 1);
			p++;
		} else {
			r = put(out, cap, &n, p, 1);
		}
		if (r < 0)
			return r;
	}
	return (int)n;
}

int directory_group_name(const char *dn, enum config_group_name how, char *out, size_t cap)
{
	LDAPDN ldn = NULL;
	int ret = -EINVAL;

	if (how == CONFIG_GROUP_NAME_DN) {
		if (strlen(dn) >= cap)
			return -EINVAL;
		strcpy(out, dn);
		return 0;
	}
	if (ldap_str2dn(dn, &ldn, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS || !ldn || !ldn[0] || !ldn[0][0])
		goto out;
	{
		const struct berval *v = &ldn[0][0]->la_value;

		if (v->bv_len == 0 || v->bv_len >= cap || memchr(v->bv_val, '\0', v->bv_len))
			goto out;
		memcpy(out, v->bv_val, v->bv_len);
		out[v->bv_len] = '\0';
	}
	ret = 0;
out:
	if (ldn)
		ldap_dnfree(ldn);
	return ret;
}

/* Nothing read yet: no policy warning either. */
static void dir_result_empty(struct dir_result *res)
{
	memset(res, 0, sizeof(*res));
	res->pw_expires_s = -1;
	res->pw_grace_left = -1;
}

void dir_result_clear(struct dir_result *res)
{
	free(res->dn);
	free(res->name);
	for (size_t i = 0; i < res->n_groups; i++)
		free(res->groups[i]);
	free(res->groups);
	if (res->totp_secret) {
		explicit_bzero(res->totp_secret, strlen(res->totp_secret));
		free(res->totp_secret);
	}
	dir_result_empty(res);
}

/* ---- talking to the directory ---- */

void directory_global_init(void)
{
	int version = LDAP_VERSION3;

	/* the first option call runs ldap_int_initialize(), which reads ldap.conf and sets globals */
	ldap_set_option(NULL, LDAP_OPT_PROTOCOL_VERSION, &version);
}

struct dir_ctx {
	const struct config_directory *d;
	LDAP *ld;
	char *detail;
	size_t detail_len;
	char **dns;              /* group DNs found so far (nested lookups extend it) */
	size_t n_dns;
};

static int map_error(struct dir_ctx *c, int rc, const char *what)
{
	char *diag = NULL;

	if (c->ld)
		ldap_get_option(c->ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
	snprintf(c->detail, c->detail_len, "%s: %s%s%s", what, ldap_err2string(rc), diag && *diag ? ": " : "",
		 diag && *diag ? diag : "");
	ldap_memfree(diag);
	switch (rc) {
	case LDAP_INVALID_CREDENTIALS:
	case LDAP_INAPPROPRIATE_AUTH:
	case LDAP_NO_SUCH_OBJECT:
		return -EACCES;
	default:
		return -EIO;
	}
}

/* What the directory's password policy (draft-behera-ldap-password-policy: OpenLDAP's ppolicy overlay,
 * 389-ds and others) said about a user's bind, when it answered the request control. */
static int bind_policy(struct dir_ctx *c, LDAPControl **ctrls, int rc, const char *what, struct dir_result *res)
{
	LDAPControl *pp = ldap_control_find(LDAP_CONTROL_PASSWORDPOLICYRESPONSE, ctrls, NULL);
	LDAPPasswordPolicyError err = PP_noError;
	ber_int_t expire = -1, grace = -1;

	/* no answer (no policy, or a server without the control), or one we cannot read: the result code alone */
	if (!pp || ldap_parse_passwordpolicy_control(c->ld, pp, &expire, &grace, &err) != LDAP_SUCCESS)
		return rc == LDAP_SUCCESS ? 0 : map_error(c, rc, what);
	switch (err) {
	case PP_accountLocked:
		/* answered for any password: a failed login like the others, counted as one */
		snprintf(c->detail, c->detail_len, "%s: the directory's password policy has locked the account", what);
		return -EACCES;
	case PP_passwordExpired:
		snprintf(c->detail, c->detail_len, "%s: the password has expired (the directory's password policy)",
			 what);
		return -EKEYEXPIRED;
	case PP_changeAfterReset:
		/* the bind succeeded, but the directory lets such a user do nothing but change the password */
		snprintf(c->detail, c->detail_len, "%s: the password was reset and must be changed first (the "
			 "directory's password policy)", what);
		return -EKEYEXPIRED;
	default:
		break;
	}
	if (rc != LDAP_SUCCESS)
		return map_error(c, rc, what);
	res->pw_expires_s = expire;
	res->pw_grace_left = grace;
	return 0;
}

/* A simple bind. res: the user's bind, which asks for the password policy's verdict (a control servers
 * without a policy ignore); NULL for the service account's. */
static int bind_simple(struct dir_ctx *c, const char *dn, const char *password, const char *what,
		       struct dir_result *res)
{
	struct berval cred = { .bv_val = (char *)password, .bv_len = strlen(password) };
	struct timeval tv = { .tv_sec = c->d->timeout };
	LDAPControl *req = NULL, *sctrls[2] = { NULL, NULL }, **rctrls = NULL;
	LDAPMessage *msg = NULL;
	int rc, msgid, err;

	/* an empty password is an unauthenticated bind (RFC 4513 §5.1.2), which succeeds for any DN */
	if (cred.bv_len == 0) {
		snprintf(c->detail, c->detail_len, "%s: empty password", what);
		return -EACCES;
	}
	if (res && ldap_create_passwordpolicy_control(c->ld, &req) == LDAP_SUCCESS)
		sctrls[0] = req;
	rc = ldap_sasl_bind(c->ld, dn, LDAP_SASL_SIMPLE, &cred, sctrls, NULL, &msgid);
	ldap_control_free(req);
	if (rc != LDAP_SUCCESS)
		return map_error(c, rc, what);
	rc = ldap_result(c->ld, msgid, LDAP_MSG_ALL, &tv, &msg);
	if (rc <= 0) {
		ldap_msgfree(msg);
		err = LDAP_TIMEOUT;
		if (rc < 0 && (ldap_get_option(c->ld, LDAP_OPT_RESULT_CODE, &err) != LDAP_OPT_SUCCESS ||
			       err == LDAP_SUCCESS))
			err = LDAP_SERVER_DOWN;
		return map_error(c, err, what);
	}
	err = ldap_parse_result(c->ld, msg, &rc, NULL, NULL, NULL, &rctrls, 1);
	if (err != LDAP_SUCCESS) {
		ldap_controls_free(rctrls);
		return map_error(c, err, what);
	}
	err = res ? bind_policy(c, rctrls, rc, what, res) : rc == LDAP_SUCCESS ? 0 : map_error(c, rc, what);
	ldap_controls_free(rctrls);
	return err;
}

static int open_conn(struct dir_ctx *c)
{
	const struct config_directory *d = c->d;
	struct timeval tv = { .tv_sec = d->timeout };
	int version = LDAP_VERSION3, demand = LDAP_OPT_X_TLS_DEMAND, zero = 0, rc;

	rc = ldap_initialize(&c->ld, d->uri);
	if (rc != LDAP_SUCCESS)
		return map_error(c, rc, "initialize");
	if (ldap_set_option(c->ld, LDAP_OPT_PROTOCOL_VERSION, &version) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(c->ld, LDAP_OPT_NETWORK_TIMEOUT, &tv) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(c->ld, LDAP_OPT_TIMEOUT, &tv) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(c->ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(c->ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand) != LDAP_OPT_SUCCESS) {
		snprintf(c->detail, c->detail_len, "cannot set LDAP options");
		return -EIO;
	}
	if (d->ca && ldap_set_option(c->ld, LDAP_OPT_X_TLS_CACERTFILE, d->ca) != LDAP_OPT_SUCCESS) {
		snprintf(c->detail, c->detail_len, "cannot use CA %s", d->ca);
		return -EIO;
	}
	/* a TLS context of this handle's own, so its CA and checks apply (not the process-wide defaults) */
	if (ldap_set_option(c->ld, LDAP_OPT_X_TLS_NEWCTX, &zero) != LDAP_OPT_SUCCESS) {
		snprintf(c->detail, c->detail_len, "cannot create the LDAP TLS context");
		return -EIO;
	}
	if (d->starttls) {
		rc = ldap_start_tls_s(c->ld, NULL, NULL);
		if (rc != LDAP_SUCCESS)
			return map_error(c, rc, "StartTLS");
	}
	return 0;
}

static int read_service_password(struct dir_ctx *c, char *pw, size_t cap)
{
	FILE *f = fopen(c->d->service_password_file, "re");
	char iobuf[1024];
	size_t n;

	if (!f) {
		snprintf(c->detail, c->detail_len, "%s: %s", c->d->service_password_file, strerror(errno));
		return -EIO;
	}
	setvbuf(f, iobuf, _IOFBF, sizeof(iobuf)); /* a buffer of ours, wiped below: it holds the password */
	if (!fgets(pw, (int)cap, f))
		pw[0] = '\0';
	fclose(f);
	explicit_bzero(iobuf, sizeof(iobuf));
	n = strcspn(pw, "\r\n");
	pw[n] = '\0';
	return 0;
}

static int add_dn(struct dir_ctx *c, const struct berval *v)
{
	char **n;

	if (c->n_dns >= DIR_GROUPS_MAX || v->bv_len == 0 || memchr(v->bv_val, '\0', v->bv_len))
		return 0;
	for (size_t i = 0; i < c->n_dns; i++)
		if (strlen(c->dns[i]) == v->bv_len && !strncasecmp(c->dns[i], v->bv_val, v->bv_len))
			return 0;
	n = realloc(c->dns, (c->n_dns + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	c->dns = n;
	c->dns[c->n_dns] = strndup(v->bv_val, v->bv_len);
	if (!c->dns[c->n_dns])
		return -ENOMEM;
	c->n_dns++;
	return 0;
}

/* Reads the group attribute (and the TOTP one) of the single entry a search found. */
static int read_entry(struct dir_ctx *c, LDAPMessage *e, const char *totp_attribute, struct dir_result *res)
{
	struct berval **vals;
	int ret = 0;

	vals = ldap_get_values_len(c->ld, e, c->d->group_attribute);
	for (size_t i = 0; vals && vals[i] && ret == 0; i++)
		ret = add_dn(c, vals[i]);
	ldap_value_free_len(vals);
	if (ret == 0 && totp_attribute) {
		vals = ldap_get_values_len(c->ld, e, totp_attribute);
		if (vals && vals[0] && vals[0]->bv_len && !memchr(vals[0]->bv_val, '\0', vals[0]->bv_len)) {
			res->totp_secret = strndup(vals[0]->bv_val, vals[0]->bv_len);
			if (!res->totp_secret)
				ret = -ENOMEM;
		}
		ldap_value_free_len(vals);
	}
	return ret;
}

/* One entry for base (scope base) or for filter under base (subtree): exactly one, else -EACCES. */
static int search_one(struct dir_ctx *c, const char *base, int scope, const char *filter, char **attrs,
		      LDAPMessage **msg, LDAPMessage **entry, const char *what)
{
	struct timeval tv = { .tv_sec = c->d->timeout };
	int rc, count;

	*msg = NULL;
	rc = ldap_search_ext_s(c->ld, base, scope, filter, attrs, 0, NULL, NULL, &tv, 2, msg);
	if (rc == LDAP_SIZELIMIT_EXCEEDED) {
		snprintf(c->detail, c->detail_len, "%s: more than one entry matches", what);
		return -EACCES;
	}
	if (rc != LDAP_SUCCESS)
		return map_error(c, rc, what);
	count = ldap_count_entries(c->ld, *msg);
	if (count != 1) {
		snprintf(c->detail, c->detail_len, "%s: %s", what, count == 0 ? "no such user" :
			 "more than one entry matches");
		return -EACCES;
	}
	*entry = ldap_first_entry(c->ld, *msg);
	return 0;
}

/* Nested groups: the group attribute of each group found, breadth first, each group once. */
static void expand_nested(struct dir_ctx *c)
{
	char *attrs[] = { c->d->group_attribute, NULL };

	for (size_t i = 0; i < c->n_dns && c->n_dns < DIR_GROUPS_MAX; i++) {
		LDAPMessage *msg = NULL, *e;
		char *dn = c->dns[i]; /* add_dn may move c->dns, not the strings */

		if (search_one(c, dn, LDAP_SCOPE_BASE, "(objectClass=*)", attrs, &msg, &e, "nested group") == 0)
			read_entry(c, e, NULL, NULL);
		ldap_msgfree(msg);
	}
	c->detail[0] = '\0'; /* an unreadable group is not a failed login */
}

/* The user's name as the directory spells it: the value of username_attribute that is the typed name (in the
 * directory's case), else its first value. -EPROTO when there is none we can use. */
static int read_name(struct dir_ctx *c, LDAPMessage *e, const char *typed, struct dir_result *res)
{
	const char *attr = c->d->username_attribute;
	struct berval **vals;
	const struct berval *pick = NULL;
	int ret = 0;

	if (!attr) {
		res->name = strdup(typed);
		return res->name ? 0 : -ENOMEM;
	}
	vals = ldap_get_values_len(c->ld, e, attr);
	for (size_t i = 0; vals && vals[i]; i++) {
		if (!pick)
			pick = vals[i];
		if (vals[i]->bv_len == strlen(typed) && !strncasecmp(vals[i]->bv_val, typed, vals[i]->bv_len)) {
			pick = vals[i];
			break;
		}
	}
	if (!pick || pick->bv_len > DIR_USERNAME_MAX || memchr(pick->bv_val, '\0', pick->bv_len)) {
		snprintf(c->detail, c->detail_len, "the user's entry has no usable %s (the username-attribute)", attr);
		ret = -EPROTO;
	} else if (!(res->name = strndup(pick->bv_val, pick->bv_len))) {
		ret = -ENOMEM;
	} else if (directory_username_ok(res->name) < 0) {
		snprintf(c->detail, c->detail_len, "the user's %s (the username-attribute) is not a name we accept",
			 attr);
		ret = -EPROTO;
	}
	ldap_value_free_len(vals);
	return ret;
}

/* The entry's DN as the directory gives it (the same whichever spelling found it). */
static int read_dn(struct dir_ctx *c, LDAPMessage *e, struct dir_result *res)
{
	char *found = ldap_get_dn(c->ld, e);

	if (!found) {
		snprintf(c->detail, c->detail_len, "the user's entry has no DN");
		return -EIO;
	}
	res->dn = strdup(found);
	ldap_memfree(found);
	return res->dn ? 0 : -ENOMEM;
}

int directory_login(const struct config_directory *d, const char *username, const char *password,
		    const char *totp_attribute, struct dir_result *res, char *detail, size_t detail_len)
{
	struct dir_ctx c = { .d = d, .detail = detail, .detail_len = detail_len };
	char esc[3 * DIR_USERNAME_MAX + 1], dn[DN_MAX], filter[FILTER_MAX], pw[SERVICE_PW_MAX];
	char *attrs[4];
	size_t n_attrs = 0;
	LDAPMessage *msg = NULL, *e;
	int ret;

	attrs[n_attrs++] = d->group_attribute;
	if (d->username_attribute)
		attrs[n_attrs++] = d->username_attribute;
	if (totp_attribute)
		attrs[n_attrs++] = (char *)totp_attribute;
	attrs[n_attrs] = NULL;
	dir_result_empty(res);
	detail[0] = '\0';
	if (directory_username_ok(username) < 0) {
		snprintf(detail, detail_len, "username is empty, too long or has control characters");
		return -EINVAL;
	}
	if (!password[0]) {
		snprintf(detail, detail_len, "empty password");
		return -EACCES;
	}
	ret = open_conn(&c);
	if (ret < 0)
		goto out;
	if (d->bind_dn_template) {
		if (directory_escape_dn(username, esc, sizeof(esc)) < 0 ||
		    directory_expand(d->bind_dn_template, esc, dn, sizeof(dn)) < 0) {
			snprintf(detail, detail_len, "bind DN too long");
			ret = -EINVAL;
			goto out;
		}
		ret = bind_simple(&c, dn, password, "bind", res);
		if (ret == 0)
			ret = search_one(&c, dn, LDAP_SCOPE_BASE, "(objectClass=*)", attrs, &msg, &e,
					 "reading the user");
		if (ret == 0)
			ret = read_dn(&c, e, res);
		if (ret == 0)
			ret = read_entry(&c, e, totp_attribute, res);
	} else {
		if (d->service_bind_dn) {
			ret = read_service_password(&c, pw, sizeof(pw));
			if (ret == 0) {
				ret = bind_simple(&c, d->service_bind_dn, pw, "service bind", NULL);
				if (ret == -EACCES)
					ret = -EIO; /* our account, not the user's fault: do not count it against them */
			}
			explicit_bzero(pw, sizeof(pw));
			if (ret < 0)
				goto out;
		}
		if (directory_escape_filter(username, esc, sizeof(esc)) < 0 ||
		    directory_expand(d->search_filter, esc, filter, sizeof(filter)) < 0) {
			snprintf(detail, detail_len, "search filter too long");
			ret = -EINVAL;
			goto out;
		}
		ret = search_one(&c, d->base_dn, LDAP_SCOPE_SUBTREE, filter, attrs, &msg, &e, "search");
		if (ret == 0)
			ret = read_dn(&c, e, res);
		/* the attributes as the service account read them: the user may not see their own secret */
		if (ret == 0)
			ret = read_entry(&c, e, totp_attribute, res);
		if (ret == 0)
			ret = bind_simple(&c, res->dn, password, "bind", res);
	}
	/* after the bind: a refusal for a missing name must not tell a guesser that the user exists */
	if (ret == 0)
		ret = read_name(&c, e, username, res);
	if (ret < 0)
		goto out;
	if (d->nested_groups)
		expand_nested(&c);
	res->groups = calloc(c.n_dns ? c.n_dns : 1, sizeof(*res->groups));
	if (!res->groups) {
		ret = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < c.n_dns; i++) {
		char name[DN_MAX];

		if (directory_group_name(c.dns[i], d->group_name, name, sizeof(name)) < 0)
			continue;
		res->groups[res->n_groups] = strdup(name);
		if (!res->groups[res->n_groups]) {
			ret = -ENOMEM;
			goto out;
		}
		res->n_groups++;
	}
	ret = 0;
out:
	ldap_msgfree(msg);
	if (c.ld)
		ldap_unbind_ext_s(c.ld, NULL, NULL);
	for (size_t i = 0; i < c.n_dns; i++)
		free(c.dns[i]);
	free(c.dns);
	if (ret < 0)
		dir_result_clear(res);
	if (ret == -ENOMEM) {
		snprintf(detail, detail_len, "out of memory");
		ret = -EIO;
	}
	return ret;
}
