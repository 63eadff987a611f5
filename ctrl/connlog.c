// SPDX-License-Identifier: GPL-2.0-or-later
/* The connection log: records built with json-c from a struct conn_info, appended one per line. */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cvpn/config.h"
#include "cvpn/connlog.h"

struct connlog {
	char *path;
	int fd;
	bool cut_line;   /* the file ends in half a record that could not be taken back */
};

void connlog_format_id(uint64_t n, char out[CONN_ID_LEN])
{
	snprintf(out, CONN_ID_LEN, "cvpn-conn-%016llx", (unsigned long long)n);
}

void connlog_format_time(time_t t, char out[20])
{
	struct tm tm;

	if (t == 0 || !gmtime_r(&t, &tm) || strftime(out, 20, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(out, 20, "NA");
}

const char *connlog_status_name(enum conn_status st)
{
	switch (st) {
	case CONN_STATUS_ATTEMPTING: return "attempting";
	case CONN_STATUS_FAILED: return "failed";
	case CONN_STATUS_ACTIVE: return "active";
	case CONN_STATUS_TERMINATING: return "terminating";
	case CONN_STATUS_TERMINATED: return "terminated";
	}
	return "unknown";
}

const char *connlog_kind_name(enum connlog_kind kind)
{
	switch (kind) {
	case CONNLOG_ATTEMPT: return "connection-attempt";
	case CONNLOG_UPDATE: return "connection-update";
	case CONNLOG_RESET: return "connection-reset";
	}
	return "unknown";
}

/* json-c returns an error only when out of memory; one flag collects them all. */
static void put(struct json_object *o, const char *key, struct json_object *v, bool *ok)
{
	if (!v || json_object_object_add(o, key, v) < 0) {
		json_object_put(v);
		*ok = false;
	}
}

static void put_str(struct json_object *o, const char *key, const char *s, bool *ok)
{
	/* the cloud writes "NA" for a field without a value; consumers of its logs expect that */
	put(o, key, json_object_new_string(s && *s ? s : "NA"), ok);
}

static void put_u64(struct json_object *o, const char *key, uint64_t v, bool *ok)
{
	put(o, key, json_object_new_uint64(v), ok);
}

static void put_time(struct json_object *o, const char *key, time_t t, bool *ok)
{
	char buf[20];

	connlog_format_time(t, buf);
	put_str(o, key, buf, ok);
}

static uint64_t duration(const struct conn_info *ci)
{
	time_t from = ci->established_time ? ci->established_time : ci->start_time;
	time_t to = ci->end_time ? ci->end_time : ci->last_update_time;

	return to > from ? (uint64_t)(to - from) : 0;
}

/* The fields every record and every `connections` entry share. */
static bool put_common(struct json_object *o, const struct conn_info *ci)
{
	char ip[16] = "";
	bool ok = true;

	if (ci->client_ip)
		config_format_ipv4(ci->client_ip, ip);
	put_str(o, "connection-id", ci->id, &ok);
	put_str(o, "endpoint-id", ci->endpoint_id, &ok);
	put_str(o, "transport-protocol", ci->transport, &ok);
	put_time(o, "connection-start-time", ci->start_time, &ok);
	put_time(o, "connection-established-time", ci->established_time, &ok);
	put_time(o, "connection-last-update-time", ci->last_update_time, &ok);
	put_str(o, "client-ip", ip, &ok);
	put_str(o, "common-name", ci->common_name, &ok);
	put_str(o, "username", ci->username, &ok);
	put_str(o, "device-type", ci->device_type, &ok);
	put_str(o, "client-openvpn-version", ci->client_version, &ok);
	put_str(o, "device-ip", ci->device_ip, &ok);
	put_u64(o, "port", ci->port, &ok);
	put_u64(o, "ingress-bytes", ci->ingress_bytes, &ok);
	put_u64(o, "egress-bytes", ci->egress_bytes, &ok);
	put_u64(o, "ingress-packets", ci->ingress_packets, &ok);
	put_u64(o, "egress-packets", ci->egress_packets, &ok);
	put_time(o, "connection-end-time", ci->end_time, &ok);
	put_u64(o, "connection-duration-seconds", duration(ci), &ok);
	/* no connect handler yet: nothing reports posture */
	put(o, "posture-compliance-statuses", json_object_new_array(), &ok);
	return ok;
}

struct json_object *connlog_record(const struct conn_info *ci, enum connlog_kind kind)
{
	struct json_object *o = json_object_new_object();
	const char *attempt = "NA", *failure = NULL, *end_reason = NULL;
	bool ok = true;

	if (!o)
		return NULL;
	if (kind == CONNLOG_ATTEMPT) {
		attempt = ci->status == CONN_STATUS_FAILED ? "failed" : "successful";
		if (ci->status == CONN_STATUS_FAILED)
			failure = ci->reason;
	} else if (kind == CONNLOG_RESET) {
		end_reason = ci->reason;
	}
	put_str(o, "connection-log-type", connlog_kind_name(kind), &ok);
	put_str(o, "connection-attempt-status", attempt, &ok);
	put_str(o, "connection-attempt-failure-reason", failure, &ok);
	put_str(o, "connection-end-reason", end_reason, &ok);
	if (!ok || !put_common(o, ci)) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

struct json_object *connlog_connection(const struct conn_info *ci)
{
	struct json_object *o = json_object_new_object();
	bool ok = true;

	if (!o)
		return NULL;
	put_str(o, "status", connlog_status_name(ci->status), &ok);
	put_str(o, "status-reason", ci->reason, &ok);
	{
		/* from the directory and identity-groups; a certificate alone gives none */
		struct json_object *g = json_object_new_array();

		for (const char *p = ci->groups, *nl; g && (nl = strchr(p, '\n')); p = nl + 1)
			json_object_array_add(g, json_object_new_string_len(p, (int)(nl - p)));
		put(o, "groups", g, &ok);
	}
	if (!ok || !put_common(o, ci)) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* ---- the file ---- */

/* A file, a character device (/dev/null) or a FIFO a log shipper reads. O_NONBLOCK: a FIFO nobody reads
 * would otherwise block open() (and the event loop, at start or at SIGUSR1): it fails with ENXIO instead; and
 * a full FIFO loses a record rather than stopping the daemon. */
static int open_log(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0640);
	struct stat st;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))) {
		close(fd);
		return -EINVAL;
	}
	return fd;
}

int connlog_open(const char *path, struct connlog **out)
{
	struct connlog *cl = calloc(1, sizeof(*cl));
	int fd;

	if (!cl || !(cl->path = strdup(path))) {
		free(cl);
		return -ENOMEM;
	}
	fd = open_log(path);
	if (fd < 0) {
		free(cl->path);
		free(cl);
		return fd;
	}
	cl->fd = fd;
	*out = cl;
	return 0;
}

int connlog_reopen(struct connlog *cl)
{
	int fd;

	if (!cl)
		return 0;
	fd = open_log(cl->path);
	if (fd < 0)
		return fd;
	close(cl->fd);
	cl->fd = fd;
	return 0;
}

int connlog_write(struct connlog *cl, struct json_object *rec)
{
	const char *s;
	char *line;
	size_t len;
	ssize_t n;
	int ret = 0;

	if (!cl)
		return 0;
	if (!rec)
		return -ENOMEM;
	s = json_object_to_json_string_ext(rec, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (!s)
		return -ENOMEM;
	len = strlen(s);
	line = malloc(len + 1);
	if (!line)
		return -ENOMEM;
	memcpy(line, s, len);
	line[len] = '\n';
	if (cl->cut_line && write(cl->fd, "\n", 1) == 1)
		cl->cut_line = false;
	/* one write per record: with O_APPEND the line lands whole even if something else appends */
	n = write(cl->fd, line, len + 1);
	if (n < 0) {
		ret = -errno;
	} else if ((size_t)n != len + 1) {
		/* disk full or a size limit: half a record, no newline. The next record would be glued to it
		 * and lost too; the half goes (the file ends where it did before this write) */
		struct stat st;

		ret = -ENOSPC;
		if (fstat(cl->fd, &st) < 0 || st.st_size < n || ftruncate(cl->fd, st.st_size - n) < 0)
			cl->cut_line = true; /* could not take it back: the next record starts a line of its own */
	}
	free(line);
	return ret;
}

void connlog_close(struct connlog *cl)
{
	if (!cl)
		return;
	close(cl->fd);
	free(cl->path);
	free(cl);
}
