// SPDX-License-Identifier: GPL-2.0-or-later
/* Logging to stderr with a timestamp; the daemon runs under systemd or a test harness that keeps stderr.
 *
 * Each line is formatted into one buffer and leaves in one write(2): the control thread, the handshake
 * threads and the auth threads log at once, and a line made of several stdio calls on unbuffered stderr
 * could be cut in two by another thread's. A write of at most PIPE_BUF bytes to a pipe (the journal's, a
 * harness's) is atomic, so lines stay whole there too. Control characters become '?': a line is one line
 * whatever a message quotes. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cvpn/log.h"

static const char *log_progname = "cvpn";
static int log_verbose;

void log_init(const char *progname, int verbose)
{
	log_progname = progname;
	log_verbose = verbose;
}

/* Appends printf output at *len, never past cap - 1; false once something did not fit. */
static bool line_vappend(char *line, size_t cap, size_t *len, const char *fmt, va_list ap)
{
	int n = vsnprintf(line + *len, cap - *len, fmt, ap);

	if (n < 0)
		return false;
	if ((size_t)n >= cap - *len) {
		*len = cap - 1;
		return false;
	}
	*len += (size_t)n;
	return true;
}

static bool line_append(char *line, size_t cap, size_t *len, const char *fmt, ...)
{
	va_list ap;
	bool fits;

	va_start(ap, fmt);
	fits = line_vappend(line, cap, len, fmt, ap);
	va_end(ap);
	return fits;
}

static void write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return; /* nowhere left to say it */
		buf += n;
		len -= (size_t)n;
	}
}

static void log_emit(const char *level, const char *fmt, va_list ap, const char *suffix)
{
	static const char cut[] = "...";
	char line[LOG_LINE_MAX + 2]; /* the text, the newline, room for vsnprintf's NUL */
	char stamp[32];
	struct timespec ts;
	struct tm tm;
	size_t len = 0, body;
	bool whole;
	int saved = errno;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
	line_append(line, LOG_LINE_MAX + 1, &len, "%s %s[%s] ", stamp, log_progname, level);
	body = len;
	whole = line_vappend(line, LOG_LINE_MAX + 1, &len, fmt, ap);
	if (whole && suffix)
		whole = line_append(line, LOG_LINE_MAX + 1, &len, ": %s", suffix);
	if (!whole && len >= body + sizeof(cut) - 1)
		memcpy(line + len - (sizeof(cut) - 1), cut, sizeof(cut) - 1);
	for (size_t i = body; i < len; i++) {
		unsigned char ch = (unsigned char)line[i];

		if (ch < 0x20 || ch == 0x7f)
			line[i] = '?';
	}
	line[len++] = '\n';
	write_all(STDERR_FILENO, line, len);
	errno = saved;
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
