// SPDX-License-Identifier: GPL-2.0-or-later
/* dataplane/steer.c and tun_open_queues against the kernel, each test in a private network namespace (Check
 * forks for each) so nothing leaves. UDP: a reuseport group of a control socket and worker sockets on one
 * port; P_DATA_V2 datagrams must reach worker (peer-id mod N), everything else the control socket. TUN: a
 * two-queue device; a packet to client address a must be read from queue (a mod 2). */
#define _GNU_SOURCE /* unshare() */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check_run.h"
#include "cvpn/offload.h"
#include "cvpn/packet.h"
#include "cvpn/steer.h"
#include "cvpn/tun.h"
#include "test_util.h"

#include <linux/if_tun.h> /* after test_util.h: glibc's net headers first */

#define STEER_ADDR "198.18.0.1"
#define STEER_PORT 4100
#define MAX_SOCKS 4

/* ---- UDP ---- */

/* One datagram the test sends, and the socket of the group it must arrive on. */
struct dgram {
	uint8_t buf[64];
	size_t len;
	int want; /* index in the group: 0 control, 1.. workers */
};

static int reuseport_bound(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(STEER_PORT) };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), one = 1;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)), 0);
	inet_pton(AF_INET, STEER_ADDR, &sa.sin_addr);
	ck_assert_msg(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind: %s", strerror(errno));
	return fd;
}

/* lo up with 198.18.0.1 in a namespace of our own, and n sockets of one reuseport group, bound in order */
static void udp_setup(int *socks, int n)
{
	netns_enter();
	netns_lo_up();
	ck_assert_int_eq(system("ip addr add " STEER_ADDR "/32 dev lo"), 0);
	for (int i = 0; i < n; i++)
		socks[i] = reuseport_bound();
}

/* A P_DATA_V2 header (opcode 9, key id, 24-bit big-endian peer-id) and a tail that tells datagrams apart. */
static struct dgram data_v2(uint32_t peer_id, uint8_t key_id, uint8_t tag, unsigned n_workers)
{
	struct dgram d = { .len = 4 + 20, .want = 1 + (int)(peer_id % n_workers) };

	d.buf[0] = (uint8_t)(P_DATA_V2 << 3 | key_id);
	d.buf[1] = (uint8_t)(peer_id >> 16);
	d.buf[2] = (uint8_t)(peer_id >> 8);
	d.buf[3] = (uint8_t)peer_id;
	for (size_t k = 4; k < d.len; k++)
		d.buf[k] = (uint8_t)(tag * 17 + k);
	return d;
}

/* Anything that is not a whole P_DATA_V2 header: first byte b, len bytes, for the control socket. */
static struct dgram other(uint8_t first, size_t len, uint8_t tag)
{
	struct dgram d = { .len = len, .want = 0 };

	ck_assert_uint_le(len, sizeof(d.buf));
	for (size_t k = 0; k < len; k++)
		d.buf[k] = (uint8_t)(tag * 17 + k);
	if (len)
		d.buf[0] = first;
	return d;
}

static void send_all(const struct dgram *d, size_t n)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(STEER_PORT) };
	int tx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(tx, 0);
	inet_pton(AF_INET, STEER_ADDR, &to.sin_addr);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(sendto(tx, d[i].buf, d[i].len, 0, (struct sockaddr *)&to, sizeof(to)) == (ssize_t)d[i].len,
			      "sendto %zu: %s", i, strerror(errno));
	close(tx);
}

/* Socket i of the group must hold exactly the datagrams of d that want it, in the order sent, and nothing
 * else. Loopback delivers within sendto; the short poll only guards against a slow softirq. */
static void expect_socket(int fd, int idx, const struct dgram *d, size_t n)
{
	uint8_t buf[256];
	ssize_t r;

	for (size_t i = 0; i < n; i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if (d[i].want != idx)
			continue;
		poll(&p, 1, 500);
		r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		ck_assert_msg(r >= 0, "socket %d: datagram %zu (len %zu, first byte 0x%02x) missing: %s", idx, i,
			      d[i].len, d[i].len ? d[i].buf[0] : 0, strerror(errno));
		ck_assert_msg((size_t)r == d[i].len && !memcmp(buf, d[i].buf, d[i].len),
			      "socket %d: datagram %zu expected, got %zd bytes starting 0x%02x", idx, i, r,
			      r > 0 ? buf[0] : 0);
	}
	r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	ck_assert_msg(r < 0 && errno == EAGAIN, "socket %d: a datagram too many (%zd bytes, first byte 0x%02x)", idx,
		      r, r > 0 ? buf[0] : 0);
}

/* V2 for peer-ids 0..9 and the largest, then control, V1 and runts, then V2 again. */
static size_t make_mix(struct dgram *d, unsigned n_workers)
{
	size_t n = 0;

	for (uint32_t id = 0; id < 10; id++)
		d[n++] = data_v2(id, (uint8_t)(id % 8), (uint8_t)id, n_workers);
	d[n++] = data_v2(0xffffff, 7, 10, n_workers);
	d[n++] = other(P_CONTROL_V1 << 3, 30, 11);
	d[n++] = other(P_DATA_V1 << 3 | 1, 40, 12);
	d[n++] = other(P_DATA_V2 << 3, 1, 13);   /* opcode only */
	d[n++] = other(P_DATA_V2 << 3, 3, 14);   /* peer-id cut short */
	d[n++] = other(0, 0, 15);                /* empty */
	/* V2 again after the runts: the program keeps no state */
	d[n++] = data_v2(5, 2, 16, n_workers);
	d[n++] = data_v2(0x123456, 0, 17, n_workers);
	/* the peer-id's top byte counts: these differ mod 3 from their low 16 bits */
	d[n++] = data_v2(0x010000, 1, 18, n_workers);
	d[n++] = data_v2(0x020000, 1, 19, n_workers);
	/* a bare 4-byte header is a whole one */
	d[n] = data_v2(7, 3, 20, n_workers);
	d[n++].len = 4;
	return n;
}

static void run_udp(unsigned n_workers)
{
	int socks[MAX_SOCKS];
	struct dgram d[32];
	size_t n;
	int per[MAX_SOCKS] = { 0 };

	ck_assert_uint_lt(n_workers, MAX_SOCKS);
	udp_setup(socks, (int)n_workers + 1);
	ck_assert_int_eq(steer_udp_attach(socks[0], n_workers), 0);
	n = make_mix(d, n_workers);
	for (size_t i = 0; i < n; i++)
		per[d[i].want]++;
	for (unsigned i = 0; i <= n_workers; i++) /* the mix reaches every socket: a test that can fail */
		ck_assert_int_gt(per[i], 0);
	send_all(d, n);
	for (unsigned i = 0; i <= n_workers; i++)
		expect_socket(socks[i], (int)i, d, n);
	for (unsigned i = 0; i <= n_workers; i++)
		close(socks[i]);
}

START_TEST(test_udp_two_workers)
{
	run_udp(2);
}
END_TEST

START_TEST(test_udp_one_worker)
{
	run_udp(1);
}
END_TEST

START_TEST(test_udp_three_workers)
{
	run_udp(3);
}
END_TEST

START_TEST(test_udp_zero_workers)
{
	int fd;

	udp_setup(&fd, 1);
	ck_assert_int_eq(steer_udp_attach(fd, 0), -EINVAL);
	close(fd);
}
END_TEST

/* ---- TUN ---- */

#define TUN_PORT 5000

static void tun_setup_dev(const char *name)
{
	char cmd[128];
	FILE *f;

	/* no IPv6 on the device: its router solicitations and MLD reports would land on some queue too */
	snprintf(cmd, sizeof(cmd), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", name);
	f = fopen(cmd, "w");
	if (f) {
		fputs("1", f);
		fclose(f);
	}
	snprintf(cmd, sizeof(cmd), "ip link set dev %s up && ip addr add 100.64.0.1/24 dev %s", name, name);
	ck_assert_msg(system(cmd) == 0, "%s", cmd);
}

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)rd16(p) << 16 | rd16(p + 2);
}

START_TEST(test_tun_steering)
{
	char name[IF_NAMESIZE] = "cvt%d";
	int fds[2], tx, seen[10] = { 0 }, seen_q[10];
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(TUN_PORT) };
	int n_v4 = 0;

	netns_enter();
	netns_lo_up();
	ck_assert_msg(tun_open_queues(name, NULL, fds, 2) == 0, "tun_open_queues: %s", strerror(errno));
	ck_assert_msg(strncmp(name, "cvt", 3) == 0 && name[3] >= '0' && name[3] <= '9', "name %s", name);
	tun_setup_dev(name);
	ck_assert_int_eq(steer_tun_attach(fds[0], 2), 0);

	tx = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(tx, 0);
	for (uint32_t a = 2; a <= 9; a++) {
		uint8_t payload[16];

		memset(payload, (int)a, sizeof(payload));
		to.sin_addr.s_addr = htonl(IP4(100, 64, 0, a));
		ck_assert_msg(sendto(tx, payload, sizeof(payload), 0, (struct sockaddr *)&to, sizeof(to)) ==
				      (ssize_t)sizeof(payload), "sendto 100.64.0.%u: %s", a, strerror(errno));
	}

	/* read both queues until they stay quiet for 200 ms (or all 8 arrived and a last look found nothing) */
	for (;;) {
		struct pollfd p[2] = { { .fd = fds[0], .events = POLLIN }, { .fd = fds[1], .events = POLLIN } };
		int r = poll(p, 2, n_v4 == 8 ? 50 : 200);

		ck_assert_int_ge(r, 0);
		if (r == 0)
			break;
		for (int q = 0; q < 2; q++) {
			uint8_t pkt[2048];
			ssize_t len;
			uint32_t dst, a;

			if (!(p[q].revents & POLLIN))
				continue;
			len = read(fds[q], pkt, sizeof(pkt));
			if (len < 0 && errno == EAGAIN)
				continue;
			ck_assert_msg(len > 0, "read queue %d: %s", q, strerror(errno));
			if ((pkt[0] >> 4) != 4)
				continue; /* IPv6 the device may still send before the sysctl took: not ours */
			ck_assert_int_ge(len, 20 + 8 + 16);
			ck_assert_uint_eq(pkt[0], 0x45);          /* plain IPv4: no vnet header in front */
			ck_assert_uint_eq(rd16(pkt + 2), len);
			ck_assert_uint_eq(pkt[9], IPPROTO_UDP);
			dst = rd32(pkt + 16);
			ck_assert_msg((dst & 0xffffff00) == IP4(100, 64, 0, 0), "packet to %08x", dst);
			a = dst & 0xff;
			ck_assert_msg(a >= 2 && a <= 9, "packet to 100.64.0.%u", a);
			ck_assert_uint_eq(rd16(pkt + 20 + 2), TUN_PORT);
			ck_assert_uint_eq(pkt[20 + 8], a);
			ck_assert_msg(seen[a] == 0, "100.64.0.%u: twice (queues %d and %d)", a, seen_q[a], q);
			seen[a]++;
			seen_q[a] = q;
			n_v4++;
			ck_assert_msg((uint32_t)q == dst % 2, "100.64.0.%u read from queue %d, want %u", a, q, dst % 2);
		}
	}
	for (uint32_t a = 2; a <= 9; a++)
		ck_assert_msg(seen[a] == 1, "100.64.0.%u never arrived", a);
	ck_assert_int_eq(n_v4, 8);
	close(tx);
	close(fds[0]);
	close(fds[1]);
	ck_assert_uint_eq(if_nametoindex(name), 0); /* the device went with its last queue */
}
END_TEST

START_TEST(test_tun_steer_zero)
{
	char name[IF_NAMESIZE] = "cvt%d";
	int fds[2];

	netns_enter();
	ck_assert_int_eq(tun_open_queues(name, NULL, fds, 2), 0);
	ck_assert_int_eq(steer_tun_attach(fds[0], 0), -EINVAL);
	close(fds[0]);
	close(fds[1]);
}
END_TEST

START_TEST(test_tun_queues_refused)
{
	char name[IF_NAMESIZE] = "cvt%d";
	int fds[TUN_MAX_QUEUES + 1] = { -1 };
	bool off = true;

	netns_enter();
	errno = 0;
	ck_assert_int_eq(tun_open_queues(name, NULL, fds, 0), -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_int_eq(tun_open_queues(name, &off, fds, 0), -1);
	ck_assert_int_eq(errno, EINVAL);
	errno = 0;
	ck_assert_int_eq(tun_open_queues(name, NULL, fds, TUN_MAX_QUEUES + 1), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_uint_eq(if_nametoindex("cvt0"), 0); /* nothing was created */
}
END_TEST

START_TEST(test_tun_queues_offload)
{
	char name[IF_NAMESIZE] = "cvt%d";
	int fds[3];
	bool off = true;

	netns_enter();
	ck_assert_msg(tun_open_queues(name, &off, fds, 3) == 0, "tun_open_queues: %s", strerror(errno));
	for (int i = 0; i < 3; i++) {
		struct ifreq ifr;
		int hdr = -1;

		ck_assert_int_ge(fcntl(fds[i], F_GETFD), 0);
		ck_assert_int_ne(fcntl(fds[i], F_GETFL) & O_NONBLOCK, 0);
		for (int k = 0; k < i; k++)
			ck_assert_int_ne(fds[i], fds[k]);
		/* every fd a queue of the one device, each with the vnet header exactly when *offload says so */
		memset(&ifr, 0, sizeof(ifr));
		ck_assert_int_eq(ioctl(fds[i], TUNGETIFF, &ifr), 0);
		ck_assert_str_eq(ifr.ifr_name, name);
		ck_assert_int_ne(ifr.ifr_flags & IFF_MULTI_QUEUE, 0);
		ck_assert_int_ne(ifr.ifr_flags & IFF_NO_PI, 0);
		ck_assert_int_eq(!!(ifr.ifr_flags & IFF_VNET_HDR), off);
		if (off) {
			ck_assert_int_eq(ioctl(fds[i], TUNGETVNETHDRSZ, &hdr), 0);
			ck_assert_int_eq(hdr, OFFLOAD_VNET_HDR_LEN);
		}
	}
	printf("test_steer: offload %s on a 3-queue tun\n", off ? "granted" : "refused");
	ck_assert_uint_ne(if_nametoindex(name), 0);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	ck_assert_uint_eq(if_nametoindex(name), 0);
}
END_TEST

int main(void)
{
	Suite *s;
	TCase *u, *t;

	if (geteuid() != 0) {
		fprintf(stderr, "test_steer: SKIPPED: needs root (network namespaces, tun, bpf)\n");
		return 0;
	}
	s = suite_create("steer");
	u = tcase_create("udp");
	t = tcase_create("tun");
	tcase_add_test(u, test_udp_two_workers);
	tcase_add_test(u, test_udp_one_worker);
	tcase_add_test(u, test_udp_three_workers);
	tcase_add_test(u, test_udp_zero_workers);
	suite_add_tcase(s, u);
	tcase_add_test(t, test_tun_steering);
	tcase_add_test(t, test_tun_steer_zero);
	tcase_add_test(t, test_tun_queues_refused);
	tcase_add_test(t, test_tun_queues_offload);
	suite_add_tcase(s, t);
	return check_run(s);
}
