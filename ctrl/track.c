// SPDX-License-Identifier: GPL-2.0-or-later
/* Connection records for operators: log lines at attempt, update and end; the last hour of ended ones. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "cvpn/log.h"
#include "cvpn/server.h"
#include "cvpn/session.h"
#include "cvpn/track.h"

struct track {
	struct connlog *log;
	struct conn_info *hist;    /* ring of TRACK_HISTORY_MAX */
	size_t head, len;
	bool log_failed;           /* a write failed: warn once, not once per record */
};

int track_new(const char *connlog_path, struct track **out)
{
	struct track *t = calloc(1, sizeof(*t));
	int err;

	if (!t)
		return -ENOMEM;
	t->hist = calloc(TRACK_HISTORY_MAX, sizeof(*t->hist));
	if (!t->hist) {
		free(t);
		return -ENOMEM;
	}
	if (connlog_path && (err = connlog_open(connlog_path, &t->log)) < 0) {
		track_free(t);
		return err;
	}
	*out = t;
	return 0;
}

void track_free(struct track *t)
{
	if (!t)
		return;
	connlog_close(t->log);
	free(t->hist);
	free(t);
}

int track_reopen_log(struct track *t)
{
	t->log_failed = false;
	return connlog_reopen(t->log);
}

int track_set_log(struct track *t, const char *path)
{
	struct connlog *n = NULL;
	int err;

	if (path && (err = connlog_open(path, &n)) < 0)
		return err;
	connlog_close(t->log);
	t->log = n;
	t->log_failed = false;
	return 0;
}

void track_info(const struct session *s, struct conn_info *ci)
{
	const struct server *srv = s->srv;
	const char *colon;

	memset(ci, 0, sizeof(*ci));
	connlog_format_id(s->id, ci->id);
	snprintf(ci->endpoint_id, sizeof(ci->endpoint_id), "%s", srv->cfg->endpoint_id ? srv->cfg->endpoint_id : "");
	snprintf(ci->transport, sizeof(ci->transport), "%s", s->transport == SESSION_TCP ? "tcp" : "udp");
	if (strcmp(s->cn, "-") != 0)
		snprintf(ci->common_name, sizeof(ci->common_name), "%s", s->cn);
	snprintf(ci->username, sizeof(ci->username), "%s", s->username);
	for (size_t i = 0, off = 0; i < s->n_groups; i++) {
		size_t l = strlen(s->groups[i]);

		if (off + l + 2 > sizeof(ci->groups))
			break; /* a listing, not the policy: what does not fit is left out */
		memcpy(ci->groups + off, s->groups[i], l);
		off += l;
		ci->groups[off++] = '\n';
		ci->groups[off] = '\0';
	}
	if (s->iv_plat[0] && strcmp(s->iv_plat, "unknown") != 0)
		snprintf(ci->device_type, sizeof(ci->device_type), "%s", s->iv_plat);
	if (s->iv_ver[0] && strcmp(s->iv_ver, "unknown") != 0)
		snprintf(ci->client_version, sizeof(ci->client_version), "%s", s->iv_ver);
	ci->client_ip = s->vaddr ? s->vaddr : s->last_vaddr;
	/* remote_str is "addr:port"; the address may be IPv6, so split at the last colon */
	colon = strrchr(s->remote_str, ':');
	if (colon) {
		snprintf(ci->device_ip, sizeof(ci->device_ip), "%.*s", (int)(colon - s->remote_str), s->remote_str);
		ci->port = (uint16_t)atoi(colon + 1);
	}
	ci->ingress_bytes = s->bytes_in;
	ci->egress_bytes = s->bytes_out;
	ci->ingress_packets = s->pkts_in;
	ci->egress_packets = s->pkts_out;
	ci->start_time = s->start_time;
	ci->established_time = s->established_time;
	ci->last_update_time = time(NULL);
	if (s->state == SESSION_CONNECTED)
		ci->status = CONN_STATUS_ACTIVE;
	else if (s->state == SESSION_CLOSING)
		ci->status = s->established_time ? CONN_STATUS_TERMINATING : CONN_STATUS_FAILED;
	else
		ci->status = CONN_STATUS_ATTEMPTING;
	snprintf(ci->reason, sizeof(ci->reason), "%s", s->close_why);
}

static void write_record(struct track *t, const struct conn_info *ci, enum connlog_kind kind)
{
	struct json_object *rec;
	int err;

	if (!t->log)
		return;
	rec = connlog_record(ci, kind);
	err = connlog_write(t->log, rec);
	json_object_put(rec);
	if (err < 0 && !t->log_failed) {
		log_warnx("connection log: cannot write a record: %s", strerror(-err));
		t->log_failed = true;
	} else if (err == 0) {
		t->log_failed = false;
	}
}

void track_attempt(struct session *s, const char *failure)
{
	struct conn_info ci;

	if (s->attempt_logged)
		return;
	s->attempt_logged = true;
	s->srv->stat_attempts++;
	track_info(s, &ci);
	if (failure) {
		ci.status = CONN_STATUS_FAILED;
		snprintf(ci.reason, sizeof(ci.reason), "%s", failure);
	} else {
		ci.status = CONN_STATUS_ACTIVE;
		ci.reason[0] = '\0';
	}
	write_record(s->srv->track, &ci, CONNLOG_ATTEMPT);
}

void track_end(struct session *s, const char *why)
{
	struct server *srv = s->srv;
	struct track *t = srv->track;
	struct conn_info ci;

	if (!s->established_time) {
		/* never got to an address: what ended it is why the attempt failed */
		track_attempt(s, s->close_why[0] ? s->close_why : why);
		return;
	}
	srv->ended_bytes_in += s->bytes_in;
	srv->ended_bytes_out += s->bytes_out;
	srv->ended_pkts_in += s->pkts_in;
	srv->ended_pkts_out += s->pkts_out;
	track_info(s, &ci);
	ci.status = CONN_STATUS_TERMINATED;
	ci.end_time = ci.last_update_time;
	snprintf(ci.reason, sizeof(ci.reason), "%s", s->close_why[0] ? s->close_why : why);
	write_record(t, &ci, CONNLOG_RESET);
	t->hist[(t->head + t->len) % TRACK_HISTORY_MAX] = ci;
	if (t->len < TRACK_HISTORY_MAX)
		t->len++;
	else
		t->head = (t->head + 1) % TRACK_HISTORY_MAX;
}

void track_tick(struct server *srv, uint64_t now_ms)
{
	struct track *t = srv->track;
	uint64_t every = (uint64_t)srv->cfg->connection_log_update * 1000;
	time_t now = time(NULL);

	while (t->len > 0 && now - t->hist[t->head].end_time > TRACK_HISTORY_SECONDS) {
		t->head = (t->head + 1) % TRACK_HISTORY_MAX;
		t->len--;
	}
	if (!t->log || !every)
		return;
	for (uint32_t i = 0; i < srv->table_size; i++) {
		struct session *s = srv->by_peer_id[i];
		struct conn_info ci;

		if (!s || s->state != SESSION_CONNECTED)
			continue;
		if (!s->next_update_ms) {
			s->next_update_ms = now_ms + every;
			continue;
		}
		if (now_ms < s->next_update_ms)
			continue;
		s->next_update_ms = now_ms + every;
		track_info(s, &ci);
		write_record(t, &ci, CONNLOG_UPDATE);
	}
}

const struct conn_info *track_history(struct track *t, size_t i)
{
	return i < t->len ? &t->hist[(t->head + i) % TRACK_HISTORY_MAX] : NULL;
}

size_t track_history_len(struct track *t)
{
	return t->len;
}
