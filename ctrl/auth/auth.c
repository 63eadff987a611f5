// SPDX-License-Identifier: GPL-2.0-or-later
/* Logins that wait: a job per login, a pool of worker threads that run the directory lookup, the TOTP check
 * and the connect handler, and an eventfd that tells the event loop a verdict is back. A job belongs to the
 * loop except while it is queued or running (between auth_start and the completion callback); the worker
 * touches only its inputs and outputs, never the session, so a session that ends meanwhile just orphans its
 * job. The loop alone keeps the backoff counters and the used TOTP steps: no locks around them. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "cvpn/auth.h"
#include "cvpn/backoff.h"
#include "cvpn/config.h"
#include "cvpn/connlog.h"
#include "cvpn/crl.h"
#include "cvpn/directory.h"
#include "cvpn/handler.h"
#include "cvpn/keymethod.h"
#include "cvpn/log.h"
#include "cvpn/scrv1.h"
#include "cvpn/server.h"
#include "cvpn/session.h"
#include "cvpn/tls.h"
#include "cvpn/totp.h"

#define AUTH_ADDR_SHARE 4           /* an address may be a NAT for several users: it gets 4x the failures */
#define AUTH_BACKOFF_KEYS 65536
#define TOTP_USED_BUCKETS 1024
#define TOTP_FILE_LINE 512
#define AUTH_STOP_WAIT_S 2          /* at exit, how long running lookups may hold the daemon up */

enum job_result {
	JOB_OK,
	JOB_CREDENTIALS,        /* wrong password, unknown user, wrong or reused MFA code: counts for backoff */
	JOB_UNAVAILABLE,        /* the directory did not answer or failed */
	JOB_HANDLER_TIMEOUT,
	JOB_HANDLER_DENIED,
	JOB_HANDLER_FAILED,     /* crashed or answered garbage */
	JOB_ERROR,
};

enum job_state {
	JOB_IN_FLIGHT,          /* queued or on a worker */
	JOB_ANSWERED,           /* back from the worker, settled, held until not_before_ms */
};

struct auth_job {
	struct auth_job *next;       /* in the work queue or the done list (under mu) */
	/* the event loop's */
	struct auth *auth;
	struct session *s;           /* NULL once the session ended */
	enum job_state state;
	bool pending_counted;        /* backoff_begin counted it for the username: job_settle ends that */
	uint64_t started_ms, not_before_ms;
	char user_key[DIR_USERNAME_MAX + 3], addr_key[INET6_ADDRSTRLEN + 3];
	/* set by the loop, read by the worker */
	atomic_bool cancelled;
	/* inputs: copies, since a reload may free the config while a worker runs */
	char username[DIR_USERNAME_MAX + 1];
	char password[KM2_USERPASS_MAX];  /* secret */
	char code[KM2_USERPASS_MAX];      /* secret: the MFA answer */
	struct config_directory *dir;
	enum config_totp_source totp;
	char *totp_attribute, *totp_file, *handler_path;
	unsigned handler_timeout;
	char conn_id[CONN_ID_LEN], endpoint_id[72], cn[CERT_CN_MAX + 1], platform[16], platform_version[32],
		public_ip[INET6_ADDRSTRLEN], client_version[32];
	/* outputs: the worker's until the job is back */
	bool ran;                          /* false: cancelled before a worker got to it */
	enum job_result result;
	char name[DIR_USERNAME_MAX + 1];   /* the directory's name for the user ("" without a directory) */
	char *dn;                          /* the user's entry: one key for every spelling of the name */
	char pw_note[64];                  /* the password policy's warning (expiry, grace logins), for the log */
	char reason[HANDLER_MSG_MAX + 1];  /* for the client */
	char detail[384];                  /* for the log */
	char **groups;
	size_t n_groups;
	bool totp_checked;
	uint64_t totp_step;
	char posture[HANDLER_POSTURE_MAX * HANDLER_POSTURE_LEN];
};

struct totp_used {
	struct totp_used *next;
	uint64_t step;
	char key[];
};

struct auth {
	struct server *srv;
	int efd;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct auth_job *q_head, *q_tail;  /* waiting for a worker */
	struct auth_job *done;             /* back from a worker, not yet seen by the loop */
	pthread_t threads[AUTH_WORKERS];
	size_t n_threads;
	size_t n_alive;                    /* workers not yet returned (under mu) */
	pthread_cond_t gone;               /* a worker returned */
	bool stop;
	struct backoff *fails;
	struct totp_used *used[TOTP_USED_BUCKETS];
	size_t n_used;
};

/* ---- jobs ---- */

static char *dup_or_null(const char *s, bool *ok)
{
	char *p = s ? strdup(s) : NULL;

	if (s && !p)
		*ok = false;
	return p;
}

static struct config_directory *dir_copy(const struct config_directory *src)
{
	struct config_directory *d = calloc(1, sizeof(*d));
	bool ok = d != NULL;

	if (!d)
		return NULL;
	*d = *src;
	d->uri = dup_or_null(src->uri, &ok);
	d->base_dn = dup_or_null(src->base_dn, &ok);
	d->bind_dn_template = dup_or_null(src->bind_dn_template, &ok);
	d->search_filter = dup_or_null(src->search_filter, &ok);
	d->service_bind_dn = dup_or_null(src->service_bind_dn, &ok);
	d->service_password_file = dup_or_null(src->service_password_file, &ok);
	d->ca = dup_or_null(src->ca, &ok);
	d->group_attribute = dup_or_null(src->group_attribute, &ok);
	d->username_attribute = dup_or_null(src->username_attribute, &ok);
	if (!ok) {
		config_directory_free(d);
		return NULL;
	}
	return d;
}

static void free_groups(char **g, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(g[i]);
	free(g);
}

static void job_free(struct auth_job *j)
{
	if (!j)
		return;
	explicit_bzero(j->password, sizeof(j->password));
	explicit_bzero(j->code, sizeof(j->code));
	config_directory_free(j->dir);
	free(j->totp_attribute);
	free(j->totp_file);
	free(j->handler_path);
	free(j->dn);
	free_groups(j->groups, j->n_groups);
	free(j);
}

/* ---- the worker side ---- */

/* The secret of user in a "username:BASE32" file (comments with '#'). */
static char *totp_file_secret(const char *path, const char *user, char *detail, size_t dlen)
{
	FILE *f = fopen(path, "re");
	char line[TOTP_FILE_LINE], *ret = NULL, iobuf[4096];

	if (!f) {
		snprintf(detail, dlen, "TOTP secrets %s: %s", path, strerror(errno));
		return NULL;
	}
	/* stdio's buffer holds every user's secret: ours, so it can be wiped (stdio's own is freed as it is) */
	setvbuf(f, iobuf, _IOFBF, sizeof(iobuf));
	while (!ret && fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');

		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '#' || !colon)
			continue;
		*colon = '\0';
		if (!strcasecmp(line, user))
			ret = strdup(colon + 1);
	}
	explicit_bzero(line, sizeof(line));
	fclose(f);
	explicit_bzero(iobuf, sizeof(iobuf));
	return ret;
}

static void fail(struct auth_job *j, enum job_result r, const char *reason)
{
	j->result = r;
	snprintf(j->reason, sizeof(j->reason), "%s", reason);
}

/* What the client is told about wrong credentials. With MFA on, one answer whatever was wrong (the password,
 * the code, or a user without a secret): a different one for a wrong code would tell a password guesser that
 * the password was right. The log has the detail. */
static const char *bad_credentials(const struct auth_job *j)
{
	return j->totp != CONFIG_TOTP_OFF ? "invalid username, password or MFA code" : "invalid username or password";
}

static void check_totp(struct auth_job *j, char *secret)
{
	uint8_t key[TOTP_KEY_MAX];
	ssize_t klen;

	if (!secret) {
		if (!j->detail[0])
			snprintf(j->detail, sizeof(j->detail), "no TOTP secret for this user");
		fail(j, JOB_CREDENTIALS, bad_credentials(j));
		return;
	}
	klen = totp_base32_decode(secret, key, sizeof(key));
	if (klen < 0) {
		snprintf(j->detail, sizeof(j->detail), "the user's TOTP secret is not base32");
		fail(j, JOB_ERROR, bad_credentials(j)); /* the detail is for the log: only a right password gets here */
		return;
	}
	if (totp_verify(key, (size_t)klen, j->code, time(NULL), &j->totp_step) < 0) {
		snprintf(j->detail, sizeof(j->detail), "wrong TOTP code");
		fail(j, JOB_CREDENTIALS, bad_credentials(j));
	} else {
		j->totp_checked = true;
	}
	explicit_bzero(key, sizeof(key));
}

static void run_handler(struct auth_job *j)
{
	struct handler_input in = {
		.connection_id = j->conn_id, .endpoint_id = j->endpoint_id, .common_name = j->cn,
		.username = j->name[0] ? j->name : j->username, .platform = j->platform,
		.platform_version = j->platform_version, .public_ip = j->public_ip, .client_version = j->client_version,
		.groups = (const char *const *)j->groups, .n_groups = j->n_groups,
	};
	struct handler_output out;
	char *json = handler_input_json(&in), why[256];
	int r;

	if (!json) {
		fail(j, JOB_ERROR, "internal error");
		return;
	}
	r = handler_run(j->handler_path, json, j->handler_timeout, &j->cancelled, &out, why, sizeof(why));
	free(json);
	if (r == -ETIMEDOUT) {
		snprintf(j->detail, sizeof(j->detail), "connect handler: %s", why);
		fail(j, JOB_HANDLER_TIMEOUT, "the connection could not be checked in time");
		return;
	}
	if (r < 0) {
		snprintf(j->detail, sizeof(j->detail), "connect handler: %s", why);
		fail(j, JOB_HANDLER_FAILED, "the connection could not be checked");
		return;
	}
	for (size_t i = 0; i < out.n_posture; i++) {
		size_t l = strlen(j->posture);

		snprintf(j->posture + l, sizeof(j->posture) - l, "%s%s", i ? "," : "", out.posture[i]);
	}
	if (!out.allow) {
		snprintf(j->detail, sizeof(j->detail), "connect handler denied the connection%s%s",
			 out.message[0] ? ": " : "", out.message);
		fail(j, JOB_HANDLER_DENIED, out.message[0] ? out.message : "connection denied by the connect handler");
	}
}

static void job_run(struct auth_job *j)
{
	struct dir_result res = { 0 };
	char *secret = NULL;

	j->result = JOB_OK;
	if (j->dir) {
		int r = directory_login(j->dir, j->username, j->password,
					j->totp == CONFIG_TOTP_ATTRIBUTE ? j->totp_attribute : NULL, &res, j->detail,
					sizeof(j->detail));

		explicit_bzero(j->password, sizeof(j->password));
		if (r == -EIO) {
			fail(j, JOB_UNAVAILABLE, "the directory is unavailable; try again later");
			goto out;
		}
		if (r == -EPROTO) { /* only after a right password */
			fail(j, JOB_ERROR, "your directory entry has no username this endpoint can use");
			goto out;
		}
		/* Only after a right password, but the client is told no more than for a wrong one (the log
		 * says why): telling would confirm a guessed password, and an expired or administrator-set one
		 * may still be changed (self-service pages ask for nothing else) or let in elsewhere. */
		if (r == -EKEYEXPIRED) {
			fail(j, JOB_CREDENTIALS, bad_credentials(j));
			goto out;
		}
		if (r < 0) {
			fail(j, JOB_CREDENTIALS, bad_credentials(j));
			goto out;
		}
		snprintf(j->name, sizeof(j->name), "%s", res.name);
		if (res.pw_grace_left >= 0)
			snprintf(j->pw_note, sizeof(j->pw_note), ", password expired: %d grace logins left",
				 res.pw_grace_left);
		else if (res.pw_expires_s >= 0)
			snprintf(j->pw_note, sizeof(j->pw_note), ", password expires in %ld s", res.pw_expires_s);
		j->dn = res.dn;
		res.dn = NULL;
		j->groups = res.groups;
		j->n_groups = res.n_groups;
		res.groups = NULL;
		res.n_groups = 0;
	}
	if (j->totp == CONFIG_TOTP_ATTRIBUTE)
		check_totp(j, res.totp_secret);
	else if (j->totp == CONFIG_TOTP_FILE) {
		secret = totp_file_secret(j->totp_file, j->name, j->detail, sizeof(j->detail));
		check_totp(j, secret);
	}
	if (j->result != JOB_OK)
		goto out;
	/* the session ended: not a success (it would clear the user's failures and use up the TOTP code) */
	if (atomic_load(&j->cancelled)) {
		fail(j, JOB_ERROR, "cancelled");
		goto out;
	}
	if (j->handler_path)
		run_handler(j);
out:
	if (secret) {
		explicit_bzero(secret, strlen(secret));
		free(secret);
	}
	dir_result_clear(&res);
	explicit_bzero(j->password, sizeof(j->password));
	explicit_bzero(j->code, sizeof(j->code));
}

static void *worker_main(void *arg)
{
	struct auth *a = arg;
	uint64_t one = 1;

	for (;;) {
		struct auth_job *j;

		pthread_mutex_lock(&a->mu);
		while (!a->q_head && !a->stop)
			pthread_cond_wait(&a->cv, &a->mu);
		if (a->stop) {
			a->n_alive--;
			pthread_cond_signal(&a->gone);
			pthread_mutex_unlock(&a->mu);
			return NULL;
		}
		j = a->q_head;
		a->q_head = j->next;
		if (!a->q_head)
			a->q_tail = NULL;
		pthread_mutex_unlock(&a->mu);

		if (!atomic_load(&j->cancelled)) {
			j->ran = true;
			job_run(j);
		}
		pthread_mutex_lock(&a->mu);
		j->next = a->done;
		a->done = j;
		pthread_mutex_unlock(&a->mu);
		if (write(a->efd, &one, sizeof(one)) < 0) {
			/* the counter cannot overflow in practice; the loop drains the list on the next wakeup */
		}
	}
}

static int start_workers(struct auth *a)
{
	sigset_t all, old;
	int err = 0;

	if (a->n_threads)
		return 0;
	directory_global_init();
	/* signals belong to the loop's signalfd: the workers block them all */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (size_t i = 0; i < AUTH_WORKERS; i++) {
		pthread_mutex_lock(&a->mu);
		a->n_alive++;
		pthread_mutex_unlock(&a->mu);
		err = pthread_create(&a->threads[a->n_threads], NULL, worker_main, a);
		if (err) {
			pthread_mutex_lock(&a->mu);
			a->n_alive--;
			pthread_mutex_unlock(&a->mu);
			break;
		}
		a->n_threads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return a->n_threads ? 0 : -err;
}

/* ---- the event loop side ---- */

/* A used TOTP step per user: RFC 6238 §5.2, a code is accepted once. */
static unsigned used_hash(const char *key)
{
	unsigned h = 5381;

	for (const unsigned char *p = (const unsigned char *)key; *p; p++)
		h = h * 33 + *p;
	return h % TOTP_USED_BUCKETS;
}

/* True when step (or a later one) was already accepted for key; otherwise records it. */
static bool totp_step_used(struct auth *a, const char *key, uint64_t step)
{
	uint64_t now_step = (uint64_t)time(NULL) / TOTP_STEP;
	struct totp_used **pp = &a->used[used_hash(key)], *e;

	while ((e = *pp)) {
		if (!strcmp(e->key, key)) {
			if (step <= e->step)
				return true;
			e->step = step;
			return false;
		}
		/* steps more than one behind can no longer verify: forget them on the way */
		if (e->step + 2 < now_step) {
			*pp = e->next;
			free(e);
			a->n_used--;
			continue;
		}
		pp = &e->next;
	}
	e = calloc(1, sizeof(*e) + strlen(key) + 1);
	if (!e)
		return true; /* fail closed */
	strcpy(e->key, key);
	e->step = step;
	e->next = a->used[used_hash(key)];
	a->used[used_hash(key)] = e;
	a->n_used++;
	return false;
}

static void lower_key(char *out, size_t cap, const char *prefix, const char *s)
{
	snprintf(out, cap, "%s%s", prefix, s);
	for (char *p = out; *p; p++)
		*p = (char)tolower((unsigned char)*p);
}

static void enqueue(struct auth *a, struct auth_job *j)
{
	pthread_mutex_lock(&a->mu);
	if (a->q_tail)
		a->q_tail->next = j;
	else
		a->q_head = j;
	a->q_tail = j;
	pthread_cond_signal(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

static bool per_user(const struct auth_job *j)
{
	return j->user_key[2] != '\0';
}

/* The login's check starts: its delay comes from the failures of the username and the address, and it counts
 * as a failure of the username until its verdict (job_settle), so logins of one user started together (from
 * any number of addresses) are answered in turn, 1, 2, 4 ... times the base delay, instead of all after the
 * delay of the failures before them. (Holding each one's check until the verdict of the one before was tried:
 * a client that keeps a few wrong logins going then locks the user out, past the 60 s handshake window.) */
static void job_begin(struct auth *a, struct auth_job *j, uint64_t now_ms)
{
	const struct config_auth *ca = &a->srv->cfg->auth;
	struct session *s = j->s;
	unsigned uf = 0, af;
	uint64_t delay, addr_delay;

	if (per_user(j))
		uf = backoff_failures(a->fails, j->user_key, now_ms);
	af = backoff_failures(a->fails, j->addr_key, now_ms);
	delay = backoff_delay_ms(uf, ca->backoff_base_ms, ca->backoff_max_ms);
	addr_delay = backoff_delay_ms(af / AUTH_ADDR_SHARE, ca->backoff_base_ms, ca->backoff_max_ms);
	if (addr_delay > delay)
		delay = addr_delay;
	j->pending_counted = per_user(j) && backoff_begin(a->fails, j->user_key, now_ms);
	j->not_before_ms = now_ms + delay;
	if (delay)
		log_info("session %llu: login of %s from %s answered in %llu ms at the earliest (%u recent failed "
			 "logins of the user, %u from the address)", (unsigned long long)s->id,
			 j->username[0] ? j->username : s->cn, s->remote_str, (unsigned long long)delay, uf, af);
	/* Checked at once, answered at not_before_ms. (Holding the check back as well was tried: it adds the
	 * check's own time to the delay, past the client's 60 s handshake window with a slow directory or
	 * handler.) */
	j->state = JOB_IN_FLIGHT;
	enqueue(a, j);
}

/* The counting, once the result is known: wrong credentials are a failure of the username and the address; a
 * success clears the username's failures; anything else (the directory down, the handler, a login cancelled
 * before it was checked) only ends the login in progress. Also for logins whose session ended meanwhile:
 * the directory answered them. */
static void job_settle(struct auth *a, struct auth_job *j, uint64_t now_ms)
{
	char *id_key;
	bool failed;

	/* a session that ended before its verdict was not logged in: not a success (which would clear the
	 * user's failures and use up the TOTP code) */
	if (!j->s && j->result == JOB_OK)
		fail(j, JOB_ERROR, "cancelled");
	if (j->ran && j->result == JOB_OK && j->totp_checked) {
		/* per entry, not per spelling: with a filter like (|(uid=%u)(mail=%u)) a code is still used once */
		if (j->dn && asprintf(&id_key, "d:%s", j->dn) >= 0) {
			for (char *p = id_key; *p; p++)
				*p = (char)tolower((unsigned char)*p);
		} else {
			id_key = NULL;
		}
		if (!id_key || totp_step_used(a, id_key, j->totp_step)) {
			snprintf(j->detail, sizeof(j->detail), id_key ? "TOTP code of step %llu replayed" :
				 "out of memory checking the TOTP step", (unsigned long long)j->totp_step);
			fail(j, id_key ? JOB_CREDENTIALS : JOB_ERROR, id_key ?
			     "this MFA code was already used; wait for the next one" : "internal error");
		}
		free(id_key);
	}
	failed = j->ran && j->result == JOB_CREDENTIALS;
	if (j->pending_counted)
		backoff_end(a->fails, j->user_key, failed, now_ms);
	else if (failed && per_user(j))
		backoff_fail(a->fails, j->user_key, now_ms);
	j->pending_counted = false;
	if (per_user(j) && j->ran && j->result == JOB_OK)
		backoff_clear(a->fails, j->user_key);
	if (failed)
		backoff_fail(a->fails, j->addr_key, now_ms);
}

static void job_finish(struct auth *a, struct auth_job *j, uint64_t now_ms)
{
	struct server *srv = a->srv;
	const char *who = j->username[0] ? j->username : j->cn;
	struct session *s = j->s;

	switch (j->result) {
	case JOB_OK:
		break;
	case JOB_HANDLER_TIMEOUT:
		srv->stat_handler_timeouts++;
		break;
	case JOB_HANDLER_DENIED:
	case JOB_HANDLER_FAILED:
		srv->stat_handler_denials++;
		break;
	default:
		srv->stat_auth_failures++;
		break;
	}
	if (j->result == JOB_OK) {
		char groups[512] = "";

		for (size_t i = 0; i < j->n_groups; i++) {
			size_t l = strlen(groups);

			snprintf(groups + l, sizeof(groups) - l, "%s%s", i ? "," : "", j->groups[i]);
		}
		log_info("session %llu: login of %s from %s accepted after %llu ms%s%s%s%s%s%s%s%s%s",
			 (unsigned long long)s->id, who, s->remote_str, (unsigned long long)(now_ms - j->started_ms),
			 j->name[0] && strcmp(j->name, j->username) ? ", directory user " : "",
			 j->name[0] && strcmp(j->name, j->username) ? j->name : "",
			 j->dir ? ", directory groups " : "", j->dir ? (groups[0] ? groups : "(none)") : "", j->pw_note,
			 j->totp_checked ? ", MFA code accepted" : "", j->handler_path ? ", connect handler allowed" : "",
			 j->posture[0] ? ", posture " : "", j->posture);
	} else {
		log_warnx("session %llu: login of %s from %s failed after %llu ms: %s (%s)%s%s",
			  (unsigned long long)s->id, who, s->remote_str, (unsigned long long)(now_ms - j->started_ms),
			  j->reason, j->detail[0] ? j->detail : "no detail", j->posture[0] ? "; posture " : "",
			  j->posture);
	}
}

static void deliver(struct auth_job *j, uint64_t now_ms)
{
	struct session *s = j->s;
	char **groups = j->groups;
	size_t n = j->n_groups;

	s->login = NULL;
	j->groups = NULL;
	j->n_groups = 0;
	/* from here on the session is the directory's user, whichever spelling was typed */
	if (j->result == JOB_OK && j->name[0])
		snprintf(s->username, sizeof(s->username), "%s", j->name);
	session_login_done(s, j->result == JOB_OK ? NULL : j->reason, groups, n, now_ms);
	job_free(j);
}

static void on_ready(void *arg)
{
	struct auth *a = arg;
	struct auth_job *list, *rev = NULL;
	uint64_t v, now = server_now_ms();

	if (read(a->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("authentication eventfd");
	pthread_mutex_lock(&a->mu);
	list = a->done;
	a->done = NULL;
	pthread_mutex_unlock(&a->mu);
	/* oldest first */
	while (list) {
		struct auth_job *j = list;

		list = j->next;
		j->next = rev;
		rev = j;
	}
	while (rev) {
		struct auth_job *j = rev;

		rev = j->next;
		j->next = NULL;
		job_settle(a, j, now);
		j->state = JOB_ANSWERED;
		if (!j->s) {
			job_free(j);
			continue;
		}
		job_finish(a, j, now);
		if (now >= j->not_before_ms)
			deliver(j, now);
	}
}

int auth_new(struct server *srv, struct auth **out)
{
	struct auth *a = calloc(1, sizeof(*a));
	int err;

	if (!a)
		return -ENOMEM;
	a->srv = srv;
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	pthread_cond_init(&a->gone, NULL);
	a->fails = backoff_new(AUTH_BACKOFF_KEYS);
	a->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!a->fails || a->efd < 0) {
		err = a->fails ? -errno : -ENOMEM;
		goto fail;
	}
	err = server_watch_fd(srv, a->efd, on_ready, a);
	if (err < 0)
		goto fail;
	*out = a;
	return 0;
fail:
	auth_free(a);
	return err;
}

void auth_free(struct auth *a)
{
	struct timespec until;
	size_t alive;

	if (!a)
		return;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += AUTH_STOP_WAIT_S;
	pthread_mutex_lock(&a->mu);
	a->stop = true;
	for (struct auth_job *j = a->q_head; j; j = j->next)
		atomic_store(&j->cancelled, true);
	pthread_cond_broadcast(&a->cv);
	/* a running handler sees `cancelled` (set by auth_cancel when its session ended) within 100 ms; a
	 * directory call only at its timeout: the daemon does not wait for that to stop */
	while (a->n_alive > 0 && pthread_cond_timedwait(&a->gone, &a->mu, &until) == 0)
		;
	alive = a->n_alive;
	pthread_mutex_unlock(&a->mu);
	if (alive) {
		log_warnx("stopping with %zu directory lookups still running; not waiting for them", alive);
		return; /* the workers still use a: it lives until the process exits */
	}
	for (size_t i = 0; i < a->n_threads; i++)
		pthread_join(a->threads[i], NULL);
	while (a->q_head) {
		struct auth_job *j = a->q_head;

		a->q_head = j->next;
		job_free(j);
	}
	while (a->done) {
		struct auth_job *j = a->done;

		a->done = j->next;
		job_free(j);
	}
	for (size_t i = 0; i < TOTP_USED_BUCKETS; i++)
		while (a->used[i]) {
			struct totp_used *e = a->used[i];

			a->used[i] = e->next;
			free(e);
		}
	backoff_free(a->fails);
	if (a->efd >= 0)
		close(a->efd);
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->cv);
	pthread_cond_destroy(&a->gone);
	free(a);
}

bool auth_async(const struct config *cfg)
{
	return cfg->auth.directory || cfg->auth.handler_path;
}

int auth_start(struct auth *a, struct session *s, const char *username, const char *password,
	       const char *peer_info, char *reason, size_t reason_len, uint64_t now_ms)
{
	const struct config *cfg = s->srv->cfg;
	const struct config_auth *ca = &cfg->auth;
	struct auth_job *j = NULL;
	const char *colon;
	bool ok = true;
	int r;

	if (ca->directory) {
		if (!username[0] || !password[0]) {
			snprintf(reason, reason_len, "username and password required");
			return -1;
		}
		if (directory_username_ok(username) < 0) {
			snprintf(reason, reason_len, "invalid username");
			return -1;
		}
		snprintf(s->username, sizeof(s->username), "%s", username);
		snprintf(s->login_name, sizeof(s->login_name), "%s", username);
	}
	j = calloc(1, sizeof(*j));
	if (!j || start_workers(a) < 0)
		goto oom;
	j->auth = a;
	atomic_init(&j->cancelled, false);
	if (ca->directory) {
		snprintf(j->username, sizeof(j->username), "%s", username);
		if (ca->totp != CONFIG_TOTP_OFF) {
			r = scrv1_parse(password, j->password, sizeof(j->password), j->code, sizeof(j->code));
			if (r <= 0) {
				snprintf(reason, reason_len, r == 0 ? "this endpoint requires an MFA code: use a client "
					 "configuration with static-challenge" : "malformed MFA answer");
				job_free(j);
				return -1;
			}
		} else {
			snprintf(j->password, sizeof(j->password), "%s", password);
		}
		j->dir = dir_copy(ca->directory);
		ok &= j->dir != NULL;
	}
	j->totp = ca->totp;
	j->totp_attribute = dup_or_null(ca->totp_attribute, &ok);
	j->totp_file = dup_or_null(ca->totp_file, &ok);
	j->handler_path = dup_or_null(ca->handler_path, &ok);
	j->handler_timeout = ca->handler_timeout;
	if (!ok)
		goto oom;
	connlog_format_id(s->id, j->conn_id);
	snprintf(j->endpoint_id, sizeof(j->endpoint_id), "%s", cfg->endpoint_id ? cfg->endpoint_id : "");
	snprintf(j->cn, sizeof(j->cn), "%s", strcmp(s->cn, "-") ? s->cn : "");
	snprintf(j->platform, sizeof(j->platform), "%s", s->iv_plat);
	if (peerinfo_get(peer_info, "IV_PLAT_VER", j->platform_version, sizeof(j->platform_version)) < 0)
		j->platform_version[0] = '\0';
	snprintf(j->client_version, sizeof(j->client_version), "%s", s->iv_ver);
	colon = strrchr(s->remote_str, ':');
	snprintf(j->public_ip, sizeof(j->public_ip), "%.*s", colon ? (int)(colon - s->remote_str) : 63,
		 s->remote_str);

	/* backoff: the verdict waits after recent failures of this username or (4x as many) this address;
	 * successes wait too, or the delay would tell a guesser the answer */
	lower_key(j->user_key, sizeof(j->user_key), "u:", j->username);
	lower_key(j->addr_key, sizeof(j->addr_key), "a:", j->public_ip);
	j->started_ms = now_ms;
	j->s = s;
	s->login = j;
	job_begin(a, j, now_ms);
	return 0;
oom:
	job_free(j);
	snprintf(reason, reason_len, "internal error");
	return -1;
}

void auth_cancel(struct session *s)
{
	struct auth_job *j = s->login;

	if (!j)
		return;
	s->login = NULL;
	j->s = NULL;
	atomic_store(&j->cancelled, true);
	/* on a worker's queue or in its hands: on_ready settles and frees it */
	if (j->state == JOB_IN_FLIGHT)
		return;
	job_free(j);
}

void auth_tick(struct session *s, uint64_t now_ms)
{
	struct auth_job *j = s->login;

	if (j && j->state == JOB_ANSWERED && now_ms >= j->not_before_ms)
		deliver(j, now_ms);
}

int auth_tls_ctx(const struct config *cfg, struct tls_ctx **out, char *err, size_t errlen)
{
	struct tls_ctx *t = NULL;
	struct crl_info ci;
	char when[32], e2[192];
	struct tm tm;
	bool expired;

	if (tls_ctx_new(cfg->server_cert, cfg->server_key, cfg->auth.certificate ? cfg->client_ca : NULL, &t, err,
			errlen) < 0)
		return -1;
	if (!cfg->crl || !cfg->auth.certificate) {
		*out = t;
		return 0;
	}
	if (crl_load(cfg->crl, &ci, err, errlen) < 0)
		goto fail;
	expired = ci.next_update && time(NULL) >= ci.next_update;
	if (tls_ctx_set_crl(t, expired ? NULL : ci.der, ci.der_len, ci.next_update, e2, sizeof(e2)) < 0) {
		snprintf(err, errlen, "CRL %s: %s", cfg->crl, e2);
		crl_info_clear(&ci);
		goto fail;
	}
	if (ci.next_update && gmtime_r(&ci.next_update, &tm))
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
	else
		snprintf(when, sizeof(when), "never");
	if (expired)
		log_warnx("CRL %s expired at %s (its nextUpdate): every certificate login is refused until a current "
			  "CRL is installed and cvpnd reloaded", cfg->crl, when);
	else
		log_info("CRL %s: %zu revoked certificates, next update %s", cfg->crl, ci.n_revoked, when);
	crl_info_clear(&ci);
	*out = t;
	return 0;
fail:
	tls_ctx_free(t);
	return -1;
}
