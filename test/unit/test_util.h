/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_TEST_UTIL_H
#define CVPN_TEST_UTIL_H

/* Helpers the unit tests share. Everything is static inline: a test includes what it uses and the rest
 * costs nothing. Failures are Check assertions, so they end the test that called the helper. */

#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define IP4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))

/* Decodes a hex string into out (at most cap bytes, asserting it fits); returns the number of bytes. */
static inline size_t unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = 0;
	unsigned v;

	while (s[0] && s[1]) {
		ck_assert_int_lt(n, cap);
		ck_assert_int_eq(sscanf(s, "%2x", &v), 1);
		out[n++] = (uint8_t)v;
		s += 2;
	}
	return n;
}

/* The rest needs GNU extensions (unshare, nftw, popen): a test gets it by defining _GNU_SOURCE before its
 * first #include, as the namespace and config tests do. It includes <arpa/inet.h>: a test that also
 * includes <linux/...> headers includes <arpa/inet.h> before them (glibc's definitions must come first). */
#ifdef _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <net/if.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <netlink/addr.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>

/* ---- files and commands ---- */

/* Everything f still has, NUL-terminated (caller frees). */
static inline char *slurp(FILE *f)
{
	size_t len = 0, cap = 4096, n;
	char *buf = malloc(cap);

	ck_assert_ptr_nonnull(buf);
	while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (cap - len < 2) {
			cap *= 2;
			buf = realloc(buf, cap);
			ck_assert_ptr_nonnull(buf);
		}
	}
	buf[len] = '\0';
	return buf;
}

/* Runs a shell command; returns its stdout (caller frees) and, if status, its exit status (-1: killed). */
static inline char *run(const char *cmd, int *status)
{
	FILE *p = popen(cmd, "r");
	char *out;
	int st;

	ck_assert_msg(p != NULL, "popen %s", cmd);
	out = slurp(p);
	st = pclose(p);
	if (status)
		*status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return out;
}

/* Writes text to path (a file, or a /proc or /sys knob) and, unless mode is 0, sets its mode. */
static inline void write_path(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	ck_assert_int_eq(fputs(text, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
	if (mode)
		ck_assert_int_eq(chmod(path, mode), 0);
}

/* ---- a private temporary directory, for the files a config names ---- */

/* Makes /tmp/cvpn-test-<tag>-XXXXXX into dir (cap bytes: keep it short, paths are built from it). */
static inline void tmpdir_make(char *dir, size_t cap, const char *tag)
{
	ck_assert_int_lt(snprintf(dir, cap, "/tmp/cvpn-test-%s-XXXXXX", tag), (int)cap);
	ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp %s: %s", dir, strerror(errno));
}

/* Writes dir/rel (see write_path). */
static inline void tmpdir_write(const char *dir, const char *rel, const char *text, mode_t mode)
{
	char path[4096];

	ck_assert_int_lt(snprintf(path, sizeof(path), "%s/%s", dir, rel), (int)sizeof(path));
	write_path(path, text, mode);
}

/* The content of dir/rel (caller frees). */
static inline char *tmpdir_read(const char *dir, const char *rel)
{
	char path[4096], *buf;
	FILE *f;

	ck_assert_int_lt(snprintf(path, sizeof(path), "%s/%s", dir, rel), (int)sizeof(path));
	f = fopen(path, "r");
	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	buf = slurp(f);
	fclose(f);
	return buf;
}

/* The three files every config names: server.crt, server.key (0600) and ca.crt, in dir/sub (made 0700) or,
 * with sub NULL, in dir itself. config_load checks only that they exist and their modes: placeholder text. */
static inline void tmpdir_pki(const char *dir, const char *sub)
{
	static const struct { const char *name, *text; mode_t mode; } files[] = {
		{ "server.crt", "server cert\n", 0644 },
		{ "server.key", "server key\n", 0600 },
		{ "ca.crt", "client ca\n", 0644 },
	};
	char path[4096];

	if (sub) {
		ck_assert_int_lt(snprintf(path, sizeof(path), "%s/%s", dir, sub), (int)sizeof(path));
		ck_assert_int_eq(mkdir(path, 0700), 0);
	}
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		ck_assert_int_lt(snprintf(path, sizeof(path), "%s/%s", sub ? sub : ".", files[i].name),
				 (int)sizeof(path));
		tmpdir_write(dir, path, files[i].text, files[i].mode);
	}
}

static inline int tmpdir_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

/* Removes dir and everything below it, without following links out of it. */
static inline void tmpdir_remove(const char *dir)
{
	nftw(dir, tmpdir_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- configs in the temporary directory: for tests that include cvpn/config.h before this ---- */
#ifdef CVPN_CONFIG_H
#include <limits.h>

/* What config_load made of one file: its return, the config (NULL when refused), its report. */
struct loaded {
	int ret;
	struct config *cfg;
	char *errs;
	char path[PATH_MAX];
	char *text;          /* the file's text where the test keeps it; loaded_free frees it */
};

/* Writes text to dir/name (0644) and loads it, config_load's report captured in errs. */
static inline struct loaded load_in(const char *dir, const char *name, const char *text)
{
	struct loaded l = { 0 };
	size_t len;
	FILE *errs;

	tmpdir_write(dir, name, text, 0644);
	ck_assert_int_lt(snprintf(l.path, sizeof(l.path), "%s/%s", dir, name), (int)sizeof(l.path));
	errs = open_memstream(&l.errs, &len);
	ck_assert_ptr_nonnull(errs);
	l.ret = config_load(l.path, errs, &l.cfg);
	fclose(errs);
	return l;
}

static inline void loaded_free(struct loaded *l)
{
	config_free(l->cfg);
	free(l->errs);
	free(l->text);
}
#endif

/* ---- a private network namespace (needs root) ---- */

/* Moves the process into a new, empty network namespace. As a checked fixture it runs in the child Check
 * forks for each test, so every test gets its own namespace and nothing touches the host. */
static inline void netns_enter(void)
{
	ck_assert_msg(unshare(CLONE_NEWNET) == 0, "unshare(CLONE_NEWNET): %s", strerror(errno));
}

/* lo of a new namespace is down: bring it up (ioctl, no CLI needed). */
static inline void netns_lo_up(void)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	ck_assert_int_eq(ioctl(fd, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	ck_assert_int_eq(ioctl(fd, SIOCSIFFLAGS, &ifr), 0);
	close(fd);
}

static inline struct nl_sock *nl_open(void)
{
	struct nl_sock *sk = nl_socket_alloc();

	ck_assert_ptr_nonnull(sk);
	ck_assert_int_eq(nl_connect(sk, NETLINK_ROUTE), 0);
	return sk;
}

/* addr/len (host order) on the interface ifindex. */
static inline void add_addr(struct nl_sock *sk, int ifindex, uint32_t addr, uint8_t len)
{
	struct rtnl_addr *ra = rtnl_addr_alloc();
	uint32_t be = htonl(addr);
	struct nl_addr *local = nl_addr_build(AF_INET, &be, 4);
	int err;

	ck_assert_ptr_nonnull(ra);
	ck_assert_ptr_nonnull(local);
	nl_addr_set_prefixlen(local, len);
	rtnl_addr_set_ifindex(ra, ifindex);
	rtnl_addr_set_family(ra, AF_INET);
	ck_assert_int_eq(rtnl_addr_set_local(ra, local), 0);
	rtnl_addr_set_prefixlen(ra, len);
	err = rtnl_addr_add(sk, ra, 0);
	ck_assert_msg(err == 0, "rtnl_addr_add: %s", nl_geterror(err));
	nl_addr_put(local);
	rtnl_addr_put(ra);
}

static inline void link_up(struct nl_sock *sk, const char *name)
{
	struct rtnl_link *link = NULL, *change = rtnl_link_alloc();

	ck_assert_ptr_nonnull(change);
	ck_assert_int_eq(rtnl_link_get_kernel(sk, 0, name, &link), 0);
	rtnl_link_set_flags(change, IFF_UP);
	ck_assert_int_eq(rtnl_link_change(sk, link, change, 0), 0);
	rtnl_link_put(change);
	rtnl_link_put(link);
}

/* An up interface name with addr/len: a veth whose peer name-p is up too. A veth, not a dummy, because
 * test kernels may have no dummy driver (CONFIG_DUMMY=n); one kind everywhere keeps the tests alike. */
static inline void make_link(const char *name, uint32_t addr, uint8_t len)
{
	struct nl_sock *sk = nl_open();
	char peer[IF_NAMESIZE];
	int err;

	ck_assert_int_lt(snprintf(peer, sizeof(peer), "%s-p", name), (int)sizeof(peer));
	err = rtnl_link_veth_add(sk, name, peer, getpid());
	ck_assert_msg(err == 0, "creating %s: %s", name, nl_geterror(err));
	link_up(sk, peer);
	add_addr(sk, (int)if_nametoindex(name), addr, len);
	link_up(sk, name);
	nl_socket_free(sk);
}

/* A non-blocking UDP socket bound to 198.18.0.1:port (on lo in the test's own namespace), with a large
 * receive buffer so a burst is not lost before the test reads it. */
static inline int udp_bound(uint16_t port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0), big = 4 << 20;

	ck_assert_int_ge(fd, 0);
	inet_pton(AF_INET, "198.18.0.1", &sa.sin_addr);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

#endif /* _GNU_SOURCE */

#endif
