/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_LOG_H
#define CVPN_LOG_H

/* OpenBSD-style logging: *_warn appends strerror(errno), *_warnx does not. Never pass secrets.
 * One line per call, written whole (one write of at most LOG_LINE_MAX + 1 bytes, under PIPE_BUF): a longer
 * message is cut and ends in "...", control characters in it become '?'. errno is left as it was. */
#define LOG_LINE_MAX 2047
void log_init(const char *progname, int verbose);
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
