/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_CONNLOG_H
#define CVPN_CONNLOG_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "cvpn/cert.h"

/* The connection log (semantics.md §4): one JSON object a line, built with json-c. The record builders are
 * pure (a struct conn_info in, a json_object out) so tests compare them field by field; the file side only
 * appends lines and reopens the file on request (SIGUSR1, for logrotate). No record ever holds a secret: a
 * conn_info has no field that could carry one. */

struct json_object;

#define CONN_ID_LEN 32          /* "cvpn-conn-" + 16 hex + NUL fits */
#define CONN_REASON_MAX 160

enum conn_status {
	CONN_STATUS_ATTEMPTING = 0, /* handshake running: no record yet */
	CONN_STATUS_FAILED,         /* refused or broken before it was established */
	CONN_STATUS_ACTIVE,
	CONN_STATUS_TERMINATING,    /* told to go (terminate, session timeout); its last messages in flight */
	CONN_STATUS_TERMINATED,
};

enum connlog_kind {
	CONNLOG_ATTEMPT,            /* "connection-attempt": successful or failed */
	CONNLOG_UPDATE,             /* "connection-update": counters of a long-lived connection (cvpn extension) */
	CONNLOG_RESET,              /* "connection-reset": the connection ended */
};

/* A connection as operators see it: a copy, so it outlives the session (recent history, log records). */
struct conn_info {
	char id[CONN_ID_LEN];
	char endpoint_id[72];
	char transport[4];                  /* "udp" | "tcp" */
	char common_name[CERT_CN_MAX + 1];  /* "" until the certificate was read */
	char username[72];                  /* "" without directory authentication */
	char groups[512];                   /* the session's groups, each ending in '\n' (DN names hold commas) */
	char device_type[16];               /* the client's IV_PLAT, "" if unknown */
	char client_version[32];            /* IV_VER */
	uint32_t client_ip;                 /* tunnel address, host order; 0 = none */
	char device_ip[INET6_ADDRSTRLEN];   /* public address */
	uint16_t port;                      /* public port */
	uint64_t ingress_bytes, egress_bytes, ingress_packets, egress_packets; /* from / to the client */
	time_t start_time;                  /* wall clock: attempt started */
	time_t established_time;            /* 0 = never established */
	time_t last_update_time;
	time_t end_time;                    /* 0 = still running */
	enum conn_status status;
	char reason[CONN_REASON_MAX];       /* failure or end reason; "" = none */
};

/* "cvpn-conn-<16 hex>" from a per-run unique number. */
void connlog_format_id(uint64_t n, char out[CONN_ID_LEN]);
/* Cloud-style UTC timestamp "2020-03-26 20:37:15"; "NA" for 0. */
void connlog_format_time(time_t t, char out[20]);
const char *connlog_status_name(enum conn_status st);   /* "active", "terminated", ... */
const char *connlog_kind_name(enum connlog_kind kind);  /* "connection-attempt", ... */

/* The log record for ci. Returns a new object (json_object_put it) or NULL when out of memory. */
struct json_object *connlog_record(const struct conn_info *ci, enum connlog_kind kind);
/* The `cvpnctl connections` entry for ci (the record's fields plus status and groups). */
struct json_object *connlog_connection(const struct conn_info *ci);

/* The log file. connlog_open appends to path (created 0640). Returns 0 or -errno. */
struct connlog;
int connlog_open(const char *path, struct connlog **out);
/* Closes and opens the path again (after logrotate moved it). 0 or -errno; on error the old file stays. */
int connlog_reopen(struct connlog *cl);
/* Appends one record as a line. 0 or -errno. Accepts cl == NULL (logging off): 0. */
int connlog_write(struct connlog *cl, struct json_object *rec);
void connlog_close(struct connlog *cl);

#endif
