// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for ctrl/nft.c and ctrl/route.c against the real kernel. Each test first moves into a new,
 * empty network namespace (unshare in a checked fixture, which Check runs inside the forked child), so
 * nothing touches the host and everything disappears with the process. Needs root; the nft CLI is used
 * only here, to read back what the library installed. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  /* unshare() */
#endif
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <netlink/addr.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>

#include "cvpn/nft.h"
#include "cvpn/route.h"
#include "cvpn/tun.h"

#include "check_run.h"

#define IP4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (uint32_t)(d))
#define TEMPLATE "nft-templates/cvpn.nft"

/* ---- helpers ---- */

static void setup_netns(void)
{
	ck_assert_msg(unshare(CLONE_NEWNET) == 0, "unshare(CLONE_NEWNET): %s", strerror(errno));
}

static char *slurp(FILE *f)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	size_t n;

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

/* Runs a shell command, returns its stdout (caller frees) and its exit status. */
static char *run(const char *cmd, int *status)
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

static char *nft_listing(void)
{
	int st;
	char *out = run("nft list table inet cvpn 2>&1", &st);

	ck_assert_msg(st == 0, "nft list table inet cvpn failed (%d): %s", st, out);
	return out;
}

static bool table_exists(void)
{
	int st;
	char *out = run("nft list tables", &st);
	bool found = strstr(out, "table inet cvpn") != NULL;

	ck_assert_int_eq(st, 0);
	free(out);
	return found;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* Packet counter of the first listed rule whose line contains both a and b (b may be NULL); -1 if none. */
static long rule_packets(const char *listing, const char *a, const char *b)
{
	const char *line = listing;

	while (line && *line) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		char *l = strndup(line, len);
		char *pk;
		long v = -1;

		ck_assert_ptr_nonnull(l);
		if (strstr(l, a) && (!b || strstr(l, b)) && (pk = strstr(l, "counter packets ")))
			v = strtol(pk + strlen("counter packets "), NULL, 10);
		free(l);
		if (v >= 0)
			return v;
		line = end ? end + 1 : NULL;
	}
	return -1;
}

static struct nl_sock *nl_open(void)
{
	struct nl_sock *sk = nl_socket_alloc();

	ck_assert_ptr_nonnull(sk);
	ck_assert_int_eq(nl_connect(sk, NETLINK_ROUTE), 0);
	return sk;
}

static void add_addr(struct nl_sock *sk, int ifindex, uint32_t addr, uint8_t len)
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

static void link_up(struct nl_sock *sk, const char *name)
{
	struct rtnl_link *link = NULL, *change = rtnl_link_alloc();

	ck_assert_ptr_nonnull(change);
	ck_assert_int_eq(rtnl_link_get_kernel(sk, 0, name, &link), 0);
	rtnl_link_set_flags(change, IFF_UP);
	ck_assert_int_eq(rtnl_link_change(sk, link, change, 0), 0);
	rtnl_link_put(change);
	rtnl_link_put(link);
}

/* An up interface named name with addr/len: a dummy, or where the kernel has no dummy driver
 * (CONFIG_DUMMY=n, as on some CI kernels) a veth whose peer is name-p. */
static void make_link(const char *name, uint32_t addr, uint8_t len)
{
	struct nl_sock *sk = nl_open();
	struct rtnl_link *link = rtnl_link_alloc();
	int err;

	ck_assert_ptr_nonnull(link);
	rtnl_link_set_name(link, name);
	ck_assert_int_eq(rtnl_link_set_type(link, "dummy"), 0);
	err = rtnl_link_add(sk, link, NLM_F_CREATE | NLM_F_EXCL);
	if (err == -NLE_OPNOTSUPP) {
		char peer[IF_NAMESIZE];

		snprintf(peer, sizeof(peer), "%s-p", name);
		err = rtnl_link_veth_add(sk, name, peer, getpid());
		if (err == 0)
			link_up(sk, peer);
	}
	ck_assert_msg(err == 0, "creating %s: %s", name, nl_geterror(err));
	rtnl_link_put(link);
	add_addr(sk, (int)if_nametoindex(name), addr, len);
	link_up(sk, name);
	nl_socket_free(sk);
}

static int open_tun(char name[IF_NAMESIZE], const char *want)
{
	int fd;

	memset(name, 0, IF_NAMESIZE);
	snprintf(name, IF_NAMESIZE, "%s", want);
	fd = tun_open(name, NULL);
	ck_assert_msg(fd >= 0, "tun_open: %s", strerror(-fd));
	return fd;
}

static void write_file(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");

	ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
	ck_assert_int_eq(fputs(s, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
}

static char read_forward(void)
{
	FILE *f = fopen("/proc/sys/net/ipv4/ip_forward", "r");
	int c;

	ck_assert_ptr_nonnull(f);
	c = fgetc(f);
	fclose(f);
	return (char)c;
}

static void base_init(struct nft_base *b, const char *tun)
{
	memset(b, 0, sizeof(*b));
	snprintf(b->tun_ifname, IF_NAMESIZE, "%s", tun);
	b->client_cidr.addr = IP4(100, 64, 0, 0);
	b->client_cidr.len = 22;
}

static void base_add_assoc(struct nft_base *b, const char *ifname, uint32_t snat)
{
	ck_assert_uint_lt(b->n_assoc, NFT_MAX_ASSOC);
	snprintf(b->assoc[b->n_assoc].ifname, IF_NAMESIZE, "%s", ifname);
	b->assoc[b->n_assoc].snat_addr = snat;
	b->n_assoc++;
}

static char *str_replace_all(const char *s, const char *from, const char *to)
{
	size_t n = (size_t)count(s, from), fl = strlen(from), tl = strlen(to);
	char *out = malloc(strlen(s) + n * tl + 1), *o = out;
	const char *p;

	ck_assert_ptr_nonnull(out);
	while ((p = strstr(s, from))) {
		memcpy(o, s, (size_t)(p - s));
		o += p - s;
		memcpy(o, to, tl);
		o += tl;
		s = p + fl;
	}
	strcpy(o, s);
	return out;
}

/* The template with its placeholders filled in for b, written to a temporary file (caller unlinks). */
static void render_template(const struct nft_base *b, const char *cidr, char path[32])
{
	FILE *in = fopen(TEMPLATE, "r"), *out;
	char line[512];
	int fd;

	ck_assert_msg(in != NULL, "%s (run from the repository root): %s", TEMPLATE, strerror(errno));
	strcpy(path, "/tmp/cvpn-nft-XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	out = fdopen(fd, "w");
	ck_assert_ptr_nonnull(out);
	while (fgets(line, sizeof(line), in)) {
		size_t reps = strstr(line, "ASSOC_IF") ? b->n_assoc : 1;

		if (line[0] == '#')
			continue;
		for (size_t i = 0; i < reps; i++) {
			char *l1 = str_replace_all(line, "TUN", b->tun_ifname);
			char *l2 = str_replace_all(l1, "CLIENT_CIDR", cidr);
			char *l3 = l2;

			if (strstr(line, "ASSOC_IF")) {
				char a[INET_ADDRSTRLEN];
				uint32_t be = htonl(b->assoc[i].snat_addr);
				char *l4;

				inet_ntop(AF_INET, &be, a, sizeof(a));
				l4 = str_replace_all(l2, "ASSOC_IF", b->assoc[i].ifname);
				l3 = str_replace_all(l4, "ASSOC_ADDR", a);
				free(l4);
			}
			fputs(l3, out);
			if (l3 != l2)
				free(l3);
			free(l2);
			free(l1);
		}
	}
	fclose(in);
	ck_assert_int_eq(fclose(out), 0);
}

static uint16_t ip_csum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)b[i] << 8 | b[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Writes one IPv4/UDP packet into the tun, as if a client had sent it. */
static void inject(int fd, uint32_t src, uint32_t dst)
{
	uint8_t pkt[20 + 8 + 4] = { 0x45, 0, 0, sizeof(pkt), 0x12, 0x34, 0, 0, 64, 17 };
	uint32_t s = htonl(src), d = htonl(dst);
	uint16_t c;

	memcpy(pkt + 12, &s, 4);
	memcpy(pkt + 16, &d, 4);
	c = htons(ip_csum(pkt, 20));
	memcpy(pkt + 10, &c, 2);
	pkt[20] = 0x9c; pkt[21] = 0x40;  /* sport 40000 */
	pkt[22] = 0x9c; pkt[23] = 0x41;  /* dport 40001 */
	pkt[24] = 0; pkt[25] = 12;       /* length; checksum 0 = none */
	memcpy(pkt + 28, "cvpn", 4);
	ck_assert_int_eq(write(fd, pkt, sizeof(pkt)), (ssize_t)sizeof(pkt));
}

/* Polls the listing until the rule matching a/b has counted want packets (the tun hands packets to the
 * stack from its write path, but give softirq processing a moment). Returns the last value seen. */
static long wait_packets(const char *a, const char *b, long want)
{
	long v = -1;

	for (int i = 0; i < 100; i++) {
		char *l = nft_listing();

		v = rule_packets(l, a, b);
		free(l);
		if (v == want)
			break;
		usleep(20000);
	}
	return v;
}

/* ---- route ---- */

START_TEST(test_iface_ipv4)
{
	uint32_t a = 0;
	struct nl_sock *sk;

	make_link("cvpn-a", IP4(198, 18, 1, 1), 24);
	ck_assert_int_eq(route_iface_ipv4("cvpn-a", &a), 0);
	ck_assert_uint_eq(a, IP4(198, 18, 1, 1));

	/* A secondary address in the same subnet does not displace the primary one. */
	sk = nl_open();
	add_addr(sk, (int)if_nametoindex("cvpn-a"), IP4(198, 18, 1, 7), 24);
	nl_socket_free(sk);
	a = 0;
	ck_assert_int_eq(route_iface_ipv4("cvpn-a", &a), 0);
	ck_assert_uint_eq(a, IP4(198, 18, 1, 1));

	ck_assert_int_eq(route_iface_ipv4("cvpn-missing", &a), -ENODEV);
	/* lo of a new namespace is down and has no address at all */
	ck_assert_int_eq(route_iface_ipv4("lo", &a), -EADDRNOTAVAIL);
	ck_assert_int_eq(route_iface_ipv4("0123456789abcdef", &a), -EINVAL);
	ck_assert_int_eq(route_iface_ipv4("", &a), -EINVAL);
}
END_TEST

START_TEST(test_tun_configure)
{
	char name[IF_NAMESIZE];
	struct ifreq ifr;
	uint32_t a = 0;
	int fd = open_tun(name, "cvpn-tun%d"), s;

	ck_assert_str_eq(name, "cvpn-tun0");
	ck_assert_int_eq(route_tun_configure(name, IP4(100, 64, 0, 1), 22, 1400), 0);
	ck_assert_int_eq(route_iface_ipv4(name, &a), 0);
	ck_assert_uint_eq(a, IP4(100, 64, 0, 1));

	/* MTU and flags read back through ioctl, a path independent of libnl */
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(s, 0);
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, name);
	ck_assert_int_eq(ioctl(s, SIOCGIFMTU, &ifr), 0);
	ck_assert_int_eq(ifr.ifr_mtu, 1400);
	ck_assert_int_eq(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	ck_assert(ifr.ifr_flags & IFF_UP);

	/* Idempotent, and a second run may change the MTU. */
	ck_assert_int_eq(route_tun_configure(name, IP4(100, 64, 0, 1), 22, 1300), 0);
	ck_assert_int_eq(ioctl(s, SIOCGIFMTU, &ifr), 0);
	ck_assert_int_eq(ifr.ifr_mtu, 1300);
	ck_assert_int_eq(route_iface_ipv4(name, &a), 0);
	ck_assert_uint_eq(a, IP4(100, 64, 0, 1));
	/* the kernel made the connected route for the client CIDR */
	{
		int st;
		char *out = run("ip -4 route show dev cvpn-tun0", &st);

		ck_assert_int_eq(st, 0);
		ck_assert_msg(strstr(out, "100.64.0.0/22") != NULL, "routes: %s", out);
		free(out);
	}

	ck_assert_int_eq(route_tun_configure("cvpn-missing", IP4(100, 64, 0, 1), 22, 1400), -ENODEV);
	ck_assert_int_eq(route_tun_configure(name, IP4(100, 64, 0, 1), 33, 1400), -EINVAL);
	ck_assert_int_eq(route_tun_configure(name, IP4(100, 64, 0, 1), 22, 0), -EINVAL);
	ck_assert_int_eq(route_tun_configure("0123456789abcdef", IP4(100, 64, 0, 1), 22, 1400), -EINVAL);
	close(s);
	close(fd);
}
END_TEST

START_TEST(test_forwarding)
{
	bool was = true;

	write_file("/proc/sys/net/ipv4/ip_forward", "0\n");
	ck_assert_int_eq(route_enable_forwarding(&was), 0);
	ck_assert(!was);
	ck_assert_int_eq(read_forward(), '1');
	/* enabling again without a restore is a restart after a crash: the original value is the one
	 * recorded before the crash, not the "on" the crash left behind */
	was = true;
	ck_assert_int_eq(route_enable_forwarding(&was), 0);
	ck_assert(!was);
	ck_assert_int_eq(read_forward(), '1');
	ck_assert_int_eq(route_restore_forwarding(false), 0);
	ck_assert_int_eq(read_forward(), '0');
	/* the record is gone with the clean stop: the next start reads the live value again */
	write_file("/proc/sys/net/ipv4/ip_forward", "1\n");
	ck_assert_int_eq(route_enable_forwarding(&was), 0);
	ck_assert(was);
	ck_assert_int_eq(route_restore_forwarding(true), 0);
	ck_assert_int_eq(read_forward(), '1');
	ck_assert_int_eq(route_restore_forwarding(false), 0);
	ck_assert_int_eq(read_forward(), '0');
}
END_TEST

/* ---- nft ---- */

/* What the library installs is what the template says, rule for rule: load both and compare nft's
 * listing of each. */
START_TEST(test_nft_matches_template)
{
	char name[IF_NAMESIZE], tmpl[32], cmd[64];
	struct nft_base b;
	char *lib, *ref;
	int fd = open_tun(name, "cvpn-tun0"), st;

	make_link("cvpn-a", IP4(198, 18, 1, 1), 24);
	make_link("cvpn-b", IP4(198, 18, 2, 1), 24);
	base_init(&b, name);
	base_add_assoc(&b, "cvpn-a", IP4(198, 18, 1, 1));
	base_add_assoc(&b, "cvpn-b", IP4(198, 18, 2, 1));

	ck_assert_int_eq(nft_apply_base(&b, false), 0);
	lib = nft_listing();
	ck_assert_msg(strstr(lib, "type filter hook forward priority filter; policy accept;"), "%s", lib);
	ck_assert_msg(strstr(lib, "type nat hook postrouting priority srcnat; policy accept;"), "%s", lib);
	ck_assert_msg(strstr(lib, "iifname \"cvpn-tun0\" ip saddr != 100.64.0.0/22 counter packets 0 bytes 0 "
			     "drop comment \"anti-spoofing: a client sends only from its own address\""), "%s", lib);
	ck_assert_msg(strstr(lib, "oifname \"cvpn-a\" ip saddr 100.64.0.0/22 counter packets 0 bytes 0 "
			     "snat ip to 198.18.1.1 comment \"SNAT to the association address\""), "%s", lib);
	ck_assert_msg(strstr(lib, "oifname \"cvpn-b\" ip saddr 100.64.0.0/22 counter packets 0 bytes 0 "
			     "snat ip to 198.18.2.1"), "%s", lib);
	ck_assert_msg(strstr(lib, "oifname \"cvpn-tun0\" ct state established,related counter packets 0 "
			     "bytes 0 accept comment \"replies\""), "%s", lib);
	ck_assert_int_eq(count(lib, "counter packets 0 bytes 0"), 4 + 2 + 2);
	ck_assert_int_eq(count(lib, "comment \""), 4 + 2 + 2);

	ck_assert_int_eq(nft_delete_table(), 0);
	ck_assert(!table_exists());
	render_template(&b, "100.64.0.0/22", tmpl);
	snprintf(cmd, sizeof(cmd), "nft -f %s 2>&1", tmpl);
	ref = run(cmd, &st);
	unlink(tmpl);
	ck_assert_msg(st == 0, "nft -f template: %s", ref);
	free(ref);
	ref = nft_listing();
	ck_assert_msg(!strcmp(lib, ref), "library:\n%s\ntemplate:\n%s", lib, ref);
	free(ref);
	free(lib);
	close(fd);
}
END_TEST

START_TEST(test_nft_replace)
{
	struct nft_base b;
	char *first, *again, *changed;

	base_init(&b, "cvpn-tun0");
	base_add_assoc(&b, "cvpn-a", IP4(198, 18, 1, 1));
	ck_assert_int_eq(nft_apply_base(&b, false), 0);
	first = nft_listing();
	ck_assert_int_eq(nft_apply_base(&b, false), 0);
	again = nft_listing();
	/* replaced, not appended: same rules, once */
	ck_assert_str_eq(first, again);
	ck_assert_int_eq(count(again, "counter packets"), 4 + 1 + 1);

	b.assoc[0].snat_addr = IP4(198, 18, 1, 9);
	base_add_assoc(&b, "cvpn-b", IP4(198, 18, 2, 1));
	ck_assert_int_eq(nft_apply_base(&b, false), 0);
	changed = nft_listing();
	ck_assert_ptr_null(strstr(changed, "198.18.1.1"));
	ck_assert_ptr_nonnull(strstr(changed, "snat ip to 198.18.1.9"));
	ck_assert_ptr_nonnull(strstr(changed, "snat ip to 198.18.2.1"));
	ck_assert_int_eq(count(changed, "counter packets"), 4 + 2 + 2);
	ck_assert_int_eq(count(changed, "table inet cvpn"), 1);
	free(first);
	free(again);
	free(changed);
}
END_TEST

START_TEST(test_nft_dry_run)
{
	struct nft_base b;
	char *before, *after;

	base_init(&b, "cvpn-tun0");
	base_add_assoc(&b, "cvpn-a", IP4(198, 18, 1, 1));
	ck_assert_int_eq(nft_apply_base(&b, true), 0);
	ck_assert(!table_exists());

	/* a dry run over an installed table leaves it as it was */
	ck_assert_int_eq(nft_apply_base(&b, false), 0);
	before = nft_listing();
	b.assoc[0].snat_addr = IP4(198, 18, 1, 9);
	ck_assert_int_eq(nft_apply_base(&b, true), 0);
	after = nft_listing();
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
}
END_TEST

/* Rules match interfaces by name: a base whose interfaces do not exist (yet) installs fine. */
START_TEST(test_nft_absent_interfaces)
{
	struct nft_base b;
	char *l;

	base_init(&b, "cvpn-nosuch");
	base_add_assoc(&b, "cvpn-nosuch-a", IP4(198, 18, 1, 1));
	ck_assert_int_eq(if_nametoindex("cvpn-nosuch"), 0);
	ck_assert_int_eq(nft_apply_base(&b, false), 0);
	l = nft_listing();
	ck_assert_ptr_nonnull(strstr(l, "iifname \"cvpn-nosuch\" oifname \"cvpn-nosuch-a\" counter"));
	free(l);

	/* no associations at all: clients reach nothing, still a valid ruleset */
	b.n_assoc = 0;
	ck_assert_int_eq(nft_apply_base(&b, false), 0);
	l = nft_listing();
	ck_assert_int_eq(count(l, "counter packets"), 4);
	ck_assert_ptr_null(strstr(l, "snat"));
	free(l);
}
END_TEST

START_TEST(test_nft_invalid)
{
	struct nft_base b, good;
	char *before, *after;

	base_init(&good, "cvpn-tun0");
	base_add_assoc(&good, "cvpn-a", IP4(198, 18, 1, 1));

	/* 16 characters: no room for the NUL, not a Linux interface name */
	b = good;
	memset(b.tun_ifname, 'x', IF_NAMESIZE);
	ck_assert_int_eq(nft_apply_base(&b, false), -EINVAL);
	ck_assert_int_eq(nft_apply_base(&b, true), -EINVAL);
	ck_assert(!table_exists());

	ck_assert_int_eq(nft_apply_base(&good, false), 0);
	before = nft_listing();

	b = good;
	memset(b.assoc[0].ifname, 'y', IF_NAMESIZE);
	ck_assert_int_eq(nft_apply_base(&b, false), -EINVAL);
	b = good;
	b.tun_ifname[0] = '\0';
	ck_assert_int_eq(nft_apply_base(&b, false), -EINVAL);
	b = good;
	strcpy(b.tun_ifname, "cvpn/0");
	ck_assert_int_eq(nft_apply_base(&b, false), -EINVAL);
	b = good;
	strcpy(b.assoc[0].ifname, "cvpn-tun0");
	ck_assert_int_eq(nft_apply_base(&b, false), -EINVAL);
	b = good;
	b.client_cidr.len = 33;
	ck_assert_int_eq(nft_apply_base(&b, false), -EINVAL);
	b = good;
	b.client_cidr.len = 0;
	ck_assert_int_eq(nft_apply_base(&b, false), -EINVAL);
	b = good;
	b.n_assoc = NFT_MAX_ASSOC + 1;
	ck_assert_int_eq(nft_apply_base(&b, false), -EINVAL);
	b = good;
	b.assoc[0].snat_addr = 0;
	ck_assert_int_eq(nft_apply_base(&b, false), -EINVAL);
	ck_assert_int_eq(nft_apply_base(NULL, false), -EINVAL);

	/* refused values never reach the kernel: the installed table is untouched */
	after = nft_listing();
	ck_assert_str_eq(before, after);
	free(before);
	free(after);
}
END_TEST

START_TEST(test_nft_max_assoc)
{
	struct nft_base b;
	char name[IF_NAMESIZE];
	char *l;

	base_init(&b, "cvpn-tun0");
	for (unsigned i = 0; i < NFT_MAX_ASSOC; i++) {
		snprintf(name, sizeof(name), "cvpn-e%u", i);
		base_add_assoc(&b, name, IP4(198, 18, i, 1));
	}
	ck_assert_int_eq(nft_apply_base(&b, false), 0);
	l = nft_listing();
	ck_assert_int_eq(count(l, "counter packets"), 4 + 2 * NFT_MAX_ASSOC);
	ck_assert_ptr_nonnull(strstr(l, "oifname \"cvpn-e15\" ip saddr 100.64.0.0/22 counter packets 0 bytes 0 "
				     "snat ip to 198.18.15.1"));
	free(l);
}
END_TEST

START_TEST(test_nft_delete)
{
	struct nft_base b;

	ck_assert_int_eq(nft_delete_table(), 0);   /* absent: still fine */
	base_init(&b, "cvpn-tun0");
	ck_assert_int_eq(nft_apply_base(&b, false), 0);
	ck_assert(table_exists());
	ck_assert_int_eq(nft_delete_table(), 0);
	ck_assert(!table_exists());
	ck_assert_int_eq(nft_delete_table(), 0);
}
END_TEST

/* Creates `table inet cvpn` owned by a netlink socket of its own (NFT_TABLE_F_OWNER), which it returns:
 * while that socket is open the kernel refuses every change to the table from anyone else. */
static struct mnl_socket *owned_table(void)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct mnl_nlmsg_batch *batch = mnl_nlmsg_batch_start(buf, sizeof(buf));
	struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;
	uint32_t seq = 1;
	ssize_t n;

	ck_assert_ptr_nonnull(batch);
	ck_assert_ptr_nonnull(nl);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID), 0);
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, NFT_TABLE_NAME);
	nftnl_table_set_u32(t, NFTNL_TABLE_FLAGS, NFT_TABLE_F_OWNER);
	nftnl_batch_begin(mnl_nlmsg_batch_current(batch), seq++);
	mnl_nlmsg_batch_next(batch);
	nlh = nftnl_nlmsg_build_hdr(mnl_nlmsg_batch_current(batch), NFT_MSG_NEWTABLE, NFPROTO_INET,
				    NLM_F_CREATE | NLM_F_ACK, seq++);
	nftnl_table_nlmsg_build_payload(nlh, t);
	mnl_nlmsg_batch_next(batch);
	nftnl_batch_end(mnl_nlmsg_batch_current(batch), seq++);
	mnl_nlmsg_batch_next(batch);
	ck_assert_int_ge(mnl_socket_sendto(nl, mnl_nlmsg_batch_head(batch), mnl_nlmsg_batch_size(batch)), 0);
	n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
	ck_assert_int_gt(n, 0);
	ck_assert_int_ge(mnl_cb_run(buf, (size_t)n, 0, mnl_socket_get_portid(nl), NULL, NULL), 0);
	mnl_nlmsg_batch_stop(batch);
	nftnl_table_free(t);
	return nl;
}

/* The kernel's refusal comes back as its errno, for a real and for a dry run, and changes nothing. */
START_TEST(test_nft_kernel_error)
{
	struct mnl_socket *owner = owned_table();
	struct nft_base b;
	char *before, *after;

	before = nft_listing();
	ck_assert_ptr_nonnull(strstr(before, "flags owner"));
	base_init(&b, "cvpn-tun0");
	base_add_assoc(&b, "cvpn-a", IP4(198, 18, 1, 1));
	ck_assert_int_eq(nft_apply_base(&b, false), -EPERM);
	ck_assert_int_eq(nft_apply_base(&b, true), -EPERM);
	ck_assert_int_eq(nft_delete_table(), -EPERM);
	after = nft_listing();
	ck_assert_str_eq(before, after);
	free(before);
	free(after);

	/* the owner gone, the kernel drops its table and ours goes in */
	mnl_socket_close(owner);
	ck_assert(!table_exists());
	ck_assert_int_eq(nft_apply_base(&b, false), 0);
	after = nft_listing();
	ck_assert_ptr_null(strstr(after, "owner"));
	free(after);
}
END_TEST

/* The rules do what their comments say, on real packets written into the tun: a spoofed source is
 * dropped, a client packet to an association is accepted and SNATed, one to any other interface hits the
 * default deny. */
START_TEST(test_nft_traffic)
{
	char name[IF_NAMESIZE];
	struct nft_base b;
	bool was;
	int fd = open_tun(name, "cvpn-tun0");

	/* rp_filter would drop the spoofed packet before forward; the test is about our rule */
	write_file("/proc/sys/net/ipv4/conf/all/rp_filter", "0\n");
	write_file("/proc/sys/net/ipv4/conf/default/rp_filter", "0\n");
	ck_assert_int_eq(route_enable_forwarding(&was), 0);
	ck_assert_int_eq(route_tun_configure(name, IP4(100, 64, 0, 1), 22, 1400), 0);
	make_link("cvpn-a", IP4(198, 18, 1, 1), 24);
	make_link("cvpn-x", IP4(192, 0, 2, 1), 24);
	base_init(&b, name);
	base_add_assoc(&b, "cvpn-a", IP4(198, 18, 1, 1));
	ck_assert_int_eq(nft_apply_base(&b, false), 0);

	inject(fd, IP4(198, 51, 100, 7), IP4(198, 18, 1, 2));
	ck_assert_int_eq(wait_packets("anti-spoofing", NULL, 1), 1);
	ck_assert_int_eq(wait_packets("iifname \"cvpn-tun0\" oifname \"cvpn-a\"", NULL, 0), 0);

	inject(fd, IP4(100, 64, 0, 2), IP4(198, 18, 1, 2));
	ck_assert_int_eq(wait_packets("iifname \"cvpn-tun0\" oifname \"cvpn-a\"", NULL, 1), 1);
	ck_assert_int_eq(wait_packets("snat ip to 198.18.1.1", NULL, 1), 1);
	ck_assert_int_eq(wait_packets("anti-spoofing", NULL, 1), 1);

	inject(fd, IP4(100, 64, 0, 2), IP4(192, 0, 2, 9));
	ck_assert_int_eq(wait_packets("default deny", NULL, 1), 1);
	ck_assert_int_eq(wait_packets("snat ip to 198.18.1.1", NULL, 1), 1);
	close(fd);
}
END_TEST

static Suite *netlink_suite(void)
{
	Suite *s = suite_create("netlink");
	TCase *r = tcase_create("route"), *n = tcase_create("nft");

	/* A checked fixture runs in the child Check forks for each test, so each test gets its own
	 * namespace. With CK_FORK=no it runs in the single process: still a fresh namespace per test. */
	tcase_add_checked_fixture(r, setup_netns, NULL);
	tcase_add_checked_fixture(n, setup_netns, NULL);
	tcase_set_timeout(r, 20);
	tcase_set_timeout(n, 30);
	tcase_add_test(r, test_iface_ipv4);
	tcase_add_test(r, test_tun_configure);
	tcase_add_test(r, test_forwarding);
	tcase_add_test(n, test_nft_matches_template);
	tcase_add_test(n, test_nft_replace);
	tcase_add_test(n, test_nft_dry_run);
	tcase_add_test(n, test_nft_absent_interfaces);
	tcase_add_test(n, test_nft_invalid);
	tcase_add_test(n, test_nft_max_assoc);
	tcase_add_test(n, test_nft_delete);
	tcase_add_test(n, test_nft_kernel_error);
	tcase_add_test(n, test_nft_traffic);
	suite_add_tcase(s, r);
	suite_add_tcase(s, n);
	return s;
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "test_netlink: SKIPPED: needs root (network namespaces, nftables)\n");
		return 0;
	}
	return check_run(netlink_suite());
}
