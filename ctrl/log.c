// SPDX-License-Identifier: GPL-2.0-or-later
/* Logging to stderr with a timestamp; the daemon runs under systemd or a test harness that keeps stderr. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cvpn/log.h"

static const char *log_progname = "cvpn";
static int log_verbose;

void log_init(const char *progname, int verbose)
{
	log_progname = progname;
	log_verbose = verbose;
}

static void log_emit(const char *level, const char *fmt, va_list ap, const char *suffix)
{
	char stamp[32];
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
	fprintf(stderr, "%s %s[%s] ", stamp, log_progname, level);
	vfprintf(stderr, fmt, ap);
	if (suffix)
		fprintf(stderr, ": %s", suffix);
	fputc('\n', stderr);
}

#define LOG_BODY(level, suffix)                 \
	do {                                    \
		va_list ap;                     \
		va_start(ap, fmt);              \
		log_emit(level, fmt, ap, suffix); \
		va_end(ap);                     \
	} while (0)

void log_info(const char *fmt, ...) { LOG_BODY("info", NULL); }
void log_warnx(const char *fmt, ...) { LOG_BODY("warn", NULL); }

void log_debug(const char *fmt, ...)
{
	if (log_verbose)
		LOG_BODY("debug", NULL);
}

void log_warn(const char *fmt, ...)
{
	const char *err = strerror(errno);

	LOG_BODY("warn", err);
}

void fatal(const char *fmt, ...)
{
	const char *err = strerror(errno);

	LOG_BODY("fatal", err);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	LOG_BODY("fatal", NULL);
	exit(1);
}
