// SPDX-License-Identifier: GPL-2.0-or-later
/* The client connect handler: posix_spawn with pipes, poll with a deadline, json-c both ways. The child
 * gets a new process group (so a timeout kills whatever it started too), the default signal mask and
 * dispositions (the daemon blocks its signals for signalfd and ignores SIGPIPE), no other descriptor of ours,
 * and a fixed environment. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cvpn/handler.h"

#define POLL_SLICE_MS 100 /* how often a running handler looks at *abort */

static void put_str(struct json_object *o, const char *key, const char *val, bool *ok)
{
	struct json_object *v = json_object_new_string(val ? val : "");

	if (!v || json_object_object_add(o, key, v) < 0) {
		json_object_put(v);
		*ok = false;
	}
}

char *handler_input_json(const struct handler_input *in)
{
	struct json_object *o = json_object_new_object(), *groups = json_object_new_array();
	bool ok = o && groups;
	char *ret = NULL;

	if (!ok)
		goto out;
	put_str(o, "connection-id", in->connection_id, &ok);
	put_str(o, "endpoint-id", in->endpoint_id, &ok);
	put_str(o, "common-name", in->common_name, &ok);
	put_str(o, "username", in->username, &ok);
	put_str(o, "platform", in->platform, &ok);
	put_str(o, "platform-version", in->platform_version, &ok);
	put_str(o, "public-ip", in->public_ip, &ok);
	put_str(o, "client-openvpn-version", in->client_version, &ok);
	for (size_t i = 0; ok && i < in->n_groups; i++) {
		struct json_object *g = json_object_new_string(in->groups[i]);

		if (!g || json_object_array_add(groups, g) < 0) {
			json_object_put(g);
			ok = false;
		}
	}
	if (ok && json_object_object_add(o, "groups", groups) == 0)
		groups = NULL;
	else
		ok = false;
	put_str(o, "schema-version", "v3", &ok);
	if (ok) {
		const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);

		ret = s ? strdup(s) : NULL;
	}
out:
	json_object_put(groups);
	json_object_put(o);
	return ret;
}

static size_t utf8_chars(const char *s)
{
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		n += (*p & 0xc0) != 0x80;
	return n;
}

int handler_parse_output(const char *buf, size_t len, struct handler_output *out, char *why, size_t why_len)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o = NULL, *v;
	enum json_tokener_error jerr;
	int ret = -EINVAL;

	memset(out, 0, sizeof(*out));
	if (!tok) {
		snprintf(why, why_len, "out of memory");
		return -ENOMEM;
	}
	if (len > HANDLER_OUTPUT_MAX || len > INT32_MAX) {
		snprintf(why, why_len, "answer longer than %d bytes", HANDLER_OUTPUT_MAX);
		goto out;
	}
	o = json_tokener_parse_ex(tok, buf, (int)len);
	jerr = json_tokener_get_error(tok);
	if (!o || jerr != json_tokener_success) {
		snprintf(why, why_len, "answer is not JSON (%s)", json_tokener_error_desc(jerr));
		goto out;
	}
	/* one object and nothing but whitespace after it */
	for (size_t i = json_tokener_get_parse_end(tok); i < len; i++)
		if (buf[i] != ' ' && buf[i] != '\n' && buf[i] != '\r' && buf[i] != '\t') {
			snprintf(why, why_len, "text after the JSON answer");
			goto out;
		}
	if (!json_object_is_type(o, json_type_object)) {
		snprintf(why, why_len, "answer is not a JSON object");
		goto out;
	}
	if (!json_object_object_get_ex(o, "allow", &v) || !json_object_is_type(v, json_type_boolean)) {
		snprintf(why, why_len, "'allow' missing or not true/false");
		goto out;
	}
	out->allow = json_object_get_boolean(v);
	if (json_object_object_get_ex(o, "error-msg-on-denied-connection", &v) && !json_object_is_type(v, json_type_null)) {
		const char *s;

		if (!json_object_is_type(v, json_type_string)) {
			snprintf(why, why_len, "'error-msg-on-denied-connection' is not a string");
			goto out;
		}
		s = json_object_get_string(v);
		if (utf8_chars(s) > HANDLER_MSG_MAX || strlen(s) > HANDLER_MSG_MAX) {
			snprintf(why, why_len, "'error-msg-on-denied-connection' longer than %d characters",
				 HANDLER_MSG_MAX);
			goto out;
		}
		snprintf(out->message, sizeof(out->message), "%s", s);
		/* it goes into a control message and a log line: one printable line */
		for (char *p = out->message; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = ' ';
	}
	if (json_object_object_get_ex(o, "posture-compliance-statuses", &v) && !json_object_is_type(v, json_type_null)) {
		size_t n;

		if (!json_object_is_type(v, json_type_array)) {
			snprintf(why, why_len, "'posture-compliance-statuses' is not a list");
			goto out;
		}
		n = json_object_array_length(v);
		if (n > HANDLER_POSTURE_MAX) {
			snprintf(why, why_len, "more than %d posture-compliance-statuses", HANDLER_POSTURE_MAX);
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			struct json_object *e = json_object_array_get_idx(v, i);
			const char *s;

			if (!json_object_is_type(e, json_type_string) ||
			    strlen(s = json_object_get_string(e)) >= HANDLER_POSTURE_LEN) {
				snprintf(why, why_len, "posture-compliance-statuses[%zu] is not a string of at most %d "
					 "bytes", i, HANDLER_POSTURE_LEN - 1);
				goto out;
			}
			snprintf(out->posture[i], HANDLER_POSTURE_LEN, "%s", s);
			for (char *p = out->posture[i]; *p; p++)
				if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == ',')
					*p = ' ';
		}
		out->n_posture = n;
	}
	ret = 0;
out:
	if (ret < 0)
		memset(out, 0, sizeof(*out));
	json_object_put(o);
	json_tokener_free(tok);
	return ret;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int spawn(const char *path, int in_fd, int out_fd, pid_t *pid)
{
	static char *const envp[] = { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
				      "LANG=C.UTF-8", NULL };
	char *const argv[] = { (char *)path, NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, dfl;
	int err;

	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	posix_spawn_file_actions_adddup2(&fa, in_fd, STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
	posix_spawn_file_actions_addchdir_np(&fa, "/");
	posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
	err = posix_spawn(pid, path, &fa, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	return -err;
}

int handler_run(const char *path, const char *input, unsigned timeout_s, const atomic_bool *abort,
		struct handler_output *out, char *why, size_t why_len)
{
	int to_child[2] = { -1, -1 }, from_child[2] = { -1, -1 }, status = 0, ret;
	size_t in_len = strlen(input), in_off = 0, got = 0;
	uint64_t deadline = mono_ms() + (uint64_t)timeout_s * 1000;
	char *buf = NULL;
	pid_t pid = -1;
	bool eof = false;

	memset(out, 0, sizeof(*out));
	why[0] = '\0';
	buf = malloc(HANDLER_OUTPUT_MAX + 1);
	/* stdin is a socket so that writing to a handler that quit early is EPIPE (MSG_NOSIGNAL), never a
	 * SIGPIPE that would take the daemon down */
	if (!buf || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, to_child) < 0 ||
	    pipe2(from_child, O_CLOEXEC) < 0) {
		ret = -errno ? -errno : -ENOMEM;
		snprintf(why, why_len, "cannot set up pipes: %s", strerror(-ret));
		goto out;
	}
	ret = spawn(path, to_child[0], from_child[1], &pid);
	if (ret < 0) {
		pid = -1;
		snprintf(why, why_len, "cannot run %s: %s", path, strerror(-ret));
		goto out;
	}
	close(to_child[0]);
	close(from_child[1]);
	to_child[0] = from_child[1] = -1;
	fcntl(to_child[1], F_SETFL, O_NONBLOCK);
	fcntl(from_child[0], F_SETFL, O_NONBLOCK);
	if (in_len == 0) {
		close(to_child[1]);
		to_child[1] = -1;
	}
	while (!eof) {
		struct pollfd pfd[2] = { { .fd = from_child[0], .events = POLLIN },
					 { .fd = to_child[1], .events = POLLOUT } };
		uint64_t now = mono_ms();
		int wait, n;

		if (now >= deadline || atomic_load(abort)) {
			ret = -ETIMEDOUT;
			snprintf(why, why_len, now >= deadline ? "no answer within %us" : "stopped (%us limit)",
				 timeout_s);
			goto out;
		}
		wait = (int)(deadline - now < POLL_SLICE_MS ? deadline - now : POLL_SLICE_MS);
		n = poll(pfd, to_child[1] >= 0 ? 2 : 1, wait);
		if (n < 0 && errno != EINTR) {
			ret = -errno;
			snprintf(why, why_len, "poll: %s", strerror(errno));
			goto out;
		}
		if (n <= 0)
			continue;
		if (to_child[1] >= 0 && (pfd[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t w = send(to_child[1], input + in_off, in_len - in_off, MSG_NOSIGNAL | MSG_DONTWAIT);

			/* a handler that does not read its input is its business: EPIPE just ends the input */
			if (w > 0)
				in_off += (size_t)w;
			if ((w < 0 && errno != EAGAIN) || in_off == in_len) {
				close(to_child[1]);
				to_child[1] = -1;
			}
		}
		if (pfd[0].revents & (POLLIN | POLLERR | POLLHUP)) {
			ssize_t r = read(from_child[0], buf + got, HANDLER_OUTPUT_MAX + 1 - got);

			if (r == 0) {
				eof = true;
			} else if (r > 0) {
				got += (size_t)r;
				if (got > HANDLER_OUTPUT_MAX) {
					ret = -EINVAL;
					snprintf(why, why_len, "answer longer than %d bytes", HANDLER_OUTPUT_MAX);
					goto out;
				}
			} else if (errno != EAGAIN && errno != EINTR) {
				ret = -errno;
				snprintf(why, why_len, "read: %s", strerror(errno));
				goto out;
			}
		}
	}
	/* stdout closed: the process is ending; give it what is left of its time to exit */
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			break;
		if (w < 0) {
			ret = -errno;
			snprintf(why, why_len, "waitpid: %s", strerror(errno));
			goto out;
		}
		if (mono_ms() >= deadline || atomic_load(abort)) {
			ret = -ETIMEDOUT;
			snprintf(why, why_len, "did not exit within %us", timeout_s);
			goto out;
		}
		usleep(10000);
	}
	pid = -1;
	if (WIFSIGNALED(status)) {
		ret = -ECHILD;
		snprintf(why, why_len, "killed by signal %d", WTERMSIG(status));
		goto out;
	}
	if (WEXITSTATUS(status) != 0) {
		ret = -ECHILD;
		snprintf(why, why_len, "exited with status %d", WEXITSTATUS(status));
		goto out;
	}
	ret = handler_parse_output(buf, got, out, why, why_len);
out:
	if (pid > 0) {
		/* the whole process group: whatever the handler started goes with it */
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	for (int i = 0; i < 2; i++) {
		if (to_child[i] >= 0)
			close(to_child[i]);
		if (from_child[i] >= 0)
			close(from_child[i]);
	}
	free(buf);
	return ret;
}
