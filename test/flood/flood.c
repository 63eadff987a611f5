// SPDX-License-Identifier: GPL-2.0-or-later
/* cvpn flood tool for the hostile-input tests (test/integration/test_flood_*.sh, test_replay.sh). Sends, at
 * a bounded rate and for a bounded count and time:
 *   reset    hard resets (P_CONTROL_HARD_RESET_CLIENT_V2) from random spoofed sources
 *   garbage  random bytes of random length from random spoofed sources
 *   control  valid-looking packets for sessions that do not exist (P_CONTROL_V1 / P_ACK_V1 echoing a made-up
 *            cookie, soft resets, P_DATA_V1, P_DATA_V2 with random peer-ids) from random spoofed sources
 *   hello    N real half-open sessions from one local address: hard reset, the cookie echoed with a TLS
 *            ClientHello, and nothing after (the gateway holds them until its handshake window ends)
 *   replay   the OpenVPN packets a client sent, read from a pcap file (tcpdump -w), sent again unchanged from
 *            their original source address and port, or from --from ADDR[:PORT] (a "roaming" client)
 *   tcp-reset  over TCP: a framed hard reset, then the connection aborted (RST) before the gateway answers
 *   tcp-idle   over TCP: connections that never send a whole packet, watched for the gateway closing them
 * Spoofed packets go out through a raw socket (IP_HDRINCL), so this runs as root in the test's client
 * namespace; sources are drawn from --src-from..--src-to and must stay inside the test ranges. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cvpn/packet.h"
#include "cvpn/reliable.h"
#include "cvpn/tls.h"

#define MAX_PKT 1500
#define HELLO_MAX 4096

struct opts {
	const char *mode, *dst, *src_from, *src_to, *bind_addr, *ca, *cert, *key, *pcap, *from;
	unsigned port;
	unsigned long count;
	double pps, seconds;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: plenty for packet contents and sources, and no syscall per packet */
static uint64_t rng_state;

static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

static void rnd_fill(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd();
}

/* Paces the sender: sleeps until packet i is due at pps. */
static void pace(uint64_t t0, unsigned long i, double pps)
{
	uint64_t due, now;

	if (pps <= 0)
		return;
	due = t0 + (uint64_t)((double)i * 1e9 / pps);
	now = now_ns();
	if (due > now + 200000) { /* sleep in steps of at least 0.2 ms; finer is not worth the syscalls */
		struct timespec ts = { (time_t)((due - now) / 1000000000ull), (long)((due - now) % 1000000000ull) };

		nanosleep(&ts, NULL);
	}
}

/* ---- spoofed packets through a raw socket ---- */

static int raw_send(int fd, uint32_t src, uint16_t sport, uint32_t dst, uint16_t dport, const uint8_t *payload,
		    size_t len)
{
	uint8_t pkt[MAX_PKT];
	struct iphdr *ip = (struct iphdr *)pkt;
	struct udphdr *udp = (struct udphdr *)(pkt + sizeof(*ip));
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_addr.s_addr = dst };

	if (len > sizeof(pkt) - sizeof(*ip) - sizeof(*udp))
		return -EMSGSIZE;
	memset(pkt, 0, sizeof(*ip) + sizeof(*udp));
	ip->version = 4;
	ip->ihl = 5;
	ip->ttl = 64;
	ip->protocol = IPPROTO_UDP;
	ip->saddr = src;
	ip->daddr = dst;
	ip->tot_len = htons((uint16_t)(sizeof(*ip) + sizeof(*udp) + len)); /* the kernel fills id and checksum */
	udp->source = sport;
	udp->dest = dport;
	udp->len = htons((uint16_t)(sizeof(*udp) + len));
	udp->check = 0; /* "no checksum", valid over IPv4 */
	memcpy(pkt + sizeof(*ip) + sizeof(*udp), payload, len);
	if (sendto(fd, pkt, sizeof(*ip) + sizeof(*udp) + len, 0, (struct sockaddr *)&to, sizeof(to)) < 0)
		return -errno;
	return 0;
}

static ssize_t make_reset(uint8_t *buf, size_t cap)
{
	struct ctl_packet p;

	memset(&p, 0, sizeof(p));
	p.opcode = P_CONTROL_HARD_RESET_CLIENT_V2;
	rnd_fill(p.sid, 8);
	p.mid = 0;
	return packet_build_control(&p, buf, cap);
}

/* A packet for a session that does not exist, each kind in turn. */
static ssize_t make_unknown(unsigned long i, uint8_t *buf, size_t cap)
{
	static const uint8_t ops[] = { P_CONTROL_V1, P_ACK_V1, P_CONTROL_SOFT_RESET_V1, P_DATA_V2, P_DATA_V1 };
	uint8_t op = ops[i % sizeof(ops)];
	struct ctl_packet p;
	size_t n;

	if (op == P_DATA_V2 || op == P_DATA_V1) {
		/* opcode/key-id, (peer-id,) packet id, AEAD tag, some ciphertext: the shape of a real one */
		n = 60 + rnd() % 200;
		if (n > cap)
			return -ENOSPC;
		rnd_fill(buf, n);
		buf[0] = (uint8_t)(op << 3 | (rnd() & 7));
		if (op == P_DATA_V2 && i % 2) /* half of them with a small peer-id: one a live session may hold */
			buf[1] = buf[2] = 0, buf[3] = (uint8_t)(rnd() % 8);
		return (ssize_t)n;
	}
	memset(&p, 0, sizeof(p));
	p.opcode = op;
	p.key_id = op == P_CONTROL_SOFT_RESET_V1 ? 1 : 0;
	rnd_fill(p.sid, 8);
	p.n_acks = 1;
	p.acks[0] = 0; /* what the echo of a server reset looks like; the cookie is made up */
	rnd_fill(p.peer_sid, 8);
	p.mid = 1;
	if (op != P_ACK_V1) {
		static uint8_t junk[256];

		rnd_fill(junk, sizeof(junk));
		junk[0] = 0x16; /* a TLS handshake record, as far as a glance goes */
		p.payload = junk;
		p.payload_len = 40 + rnd() % 200;
	}
	return packet_build_control(&p, buf, cap);
}

static int parse_ip(const char *s, uint32_t *out)
{
	struct in_addr a;

	if (!s || inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*out = a.s_addr;
	return 0;
}

static int run_spoofed(const struct opts *o)
{
	uint32_t dst, lo, hi, span;
	uint8_t buf[MAX_PKT];
	unsigned long sent = 0, errors = 0;
	uint64_t t0, deadline;
	int fd, ret = 1;

	if (parse_ip(o->dst, &dst) < 0 || parse_ip(o->src_from, &lo) < 0 || parse_ip(o->src_to, &hi) < 0 ||
	    ntohl(hi) < ntohl(lo)) {
		fprintf(stderr, "flood: --dst, --src-from and --src-to must be IPv4 addresses, from <= to\n");
		return 2;
	}
	span = ntohl(hi) - ntohl(lo) + 1;
	fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	if (fd < 0) {
		perror("flood: raw socket (root needed)");
		return 1;
	}
	t0 = now_ns();
	deadline = t0 + (uint64_t)(o->seconds * 1e9);
	for (unsigned long i = 0; i < o->count; i++) {
		uint32_t src = htonl(ntohl(lo) + (uint32_t)(rnd() % span));
		uint16_t sport = htons((uint16_t)(1024 + rnd() % 64512));
		ssize_t n;

		if ((i & 63) == 0 && now_ns() > deadline)
			break;
		pace(t0, i, o->pps);
		if (!strcmp(o->mode, "reset"))
			n = make_reset(buf, sizeof(buf));
		else if (!strcmp(o->mode, "garbage")) {
			n = 1 + (ssize_t)(rnd() % 1400);
			rnd_fill(buf, (size_t)n);
		} else
			n = make_unknown(i, buf, sizeof(buf));
		if (n <= 0)
			goto out;
		if (raw_send(fd, src, sport, dst, htons((uint16_t)o->port), buf, (size_t)n) < 0)
			errors++; /* ENOBUFS under load: a lost packet, counted */
		else
			sent++;
	}
	printf("flood %s: sent %lu packets (%lu send errors) in %.2f s\n", o->mode, sent, errors,
	       (double)(now_ns() - t0) / 1e9);
	ret = sent > 0 ? 0 : 1;
out:
	close(fd);
	return ret;
}

/* ---- half-open sessions: real cookie exchange, a ClientHello, then silence ---- */

enum half_state { H_RESET, H_HELLO, H_CONFIRMED };

struct half {
	int fd;
	uint8_t sid[8], peer_sid[8];
	enum half_state state;
};

static int send_ctl(int fd, struct ctl_packet *p)
{
	uint8_t buf[MAX_PKT];
	ssize_t n = packet_build_control(p, buf, sizeof(buf));

	if (n < 0)
		return (int)n;
	return send(fd, buf, (size_t)n, 0) < 0 ? -errno : 0;
}

static void send_reset(struct half *h)
{
	struct ctl_packet p;

	memset(&p, 0, sizeof(p));
	p.opcode = P_CONTROL_HARD_RESET_CLIENT_V2;
	memcpy(p.sid, h->sid, 8);
	send_ctl(h->fd, &p);
}

/* The cookie echoed (ACK of the server's reset, message 0) with the ClientHello as message 1. */
static void send_hello(struct half *h, const uint8_t *hello, size_t hello_len)
{
	struct ctl_packet p;

	memset(&p, 0, sizeof(p));
	p.opcode = P_CONTROL_V1;
	memcpy(p.sid, h->sid, 8);
	p.n_acks = 1;
	p.acks[0] = 0;
	memcpy(p.peer_sid, h->peer_sid, 8);
	p.mid = 1;
	p.payload = hello;
	p.payload_len = hello_len;
	send_ctl(h->fd, &p);
}

static int run_hello(const struct opts *o)
{
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons((uint16_t)o->port) };
	struct sockaddr_in local = { .sin_family = AF_INET };
	struct tls_ctx *ctx = NULL;
	struct half *h = NULL;
	uint8_t hello[HELLO_MAX];
	size_t hello_len = 0;
	unsigned long n = o->count, answered = 0, hellos = 0, opened = 0, confirmed = 0;
	uint64_t t0, deadline;
	char err[256];
	int ret = 1;

	if (parse_ip(o->dst, &dst.sin_addr.s_addr) < 0 || parse_ip(o->bind_addr, &local.sin_addr.s_addr) < 0 ||
	    !o->ca || !o->cert || !o->key) {
		fprintf(stderr, "flood hello: needs --dst, --bind, --ca, --cert, --key\n");
		return 2;
	}
	if (tls_client_ctx_new(o->ca, o->cert, o->key, &ctx, err, sizeof(err)) < 0) {
		fprintf(stderr, "flood hello: TLS: %s\n", err);
		return 1;
	}
	/* one ClientHello serves all sessions: the gateway cannot tell, and it never gets further */
	{
		struct tls_conn *c = tls_conn_new(ctx);

		if (!c || tls_conn_handshake(c) < 0) {
			fprintf(stderr, "flood hello: cannot make a ClientHello\n");
			tls_conn_free(c);
			goto out;
		}
		hello_len = tls_conn_take_out(c, hello, sizeof(hello));
		tls_conn_free(c);
		if (hello_len == 0 || hello_len > RELIABLE_MAX_PAYLOAD) {
			fprintf(stderr, "flood hello: ClientHello of %zu bytes does not fit one packet\n", hello_len);
			goto out;
		}
	}
	h = calloc(n, sizeof(*h));
	if (!h)
		goto out;
	t0 = now_ns();
	deadline = t0 + (uint64_t)(o->seconds * 1e9);
	for (unsigned long i = 0; i < n; i++) {
		h[i].fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (h[i].fd < 0 || bind(h[i].fd, (struct sockaddr *)&local, sizeof(local)) < 0 ||
		    connect(h[i].fd, (struct sockaddr *)&dst, sizeof(dst)) < 0) {
			fprintf(stderr, "flood hello: socket %lu: %s\n", i, strerror(errno));
			break;
		}
		opened++;
		rnd_fill(h[i].sid, 8);
		send_reset(&h[i]);
		pace(t0, i, o->pps);
	}
	/* Collect the cookies and answer each with the ClientHello; a session counts once the gateway answers
	 * that (its ServerHello or an ACK). The gateway answers resets at a bounded rate and takes a while per
	 * ClientHello, so what went unanswered is sent again every second until the deadline. */
	{
		uint64_t next_resend = now_ns() + 1000000000ull;

		while (confirmed < opened && now_ns() < deadline) {
			bool any = false;

			for (unsigned long i = 0; i < opened; i++) {
				uint8_t buf[MAX_PKT];
				struct ctl_packet r;
				ssize_t len;

				if (h[i].state == H_CONFIRMED)
					continue;
				len = recv(h[i].fd, buf, sizeof(buf), 0);
				if (len <= 0 || packet_parse_control(buf, (size_t)len, &r) < 0)
					continue;
				any = true;
				if (r.opcode == P_CONTROL_HARD_RESET_SERVER_V2 && h[i].state == H_RESET) {
					answered++;
					memcpy(h[i].peer_sid, r.sid, 8);
					h[i].state = H_HELLO;
					send_hello(&h[i], hello, hello_len);
					hellos++;
				} else if ((r.opcode == P_CONTROL_V1 || r.opcode == P_ACK_V1) && h[i].state == H_HELLO) {
					h[i].state = H_CONFIRMED;
					confirmed++;
				}
			}
			if (now_ns() >= next_resend) {
				for (unsigned long i = 0; i < opened; i++) {
					if (h[i].state == H_RESET)
						send_reset(&h[i]);
					else if (h[i].state == H_HELLO)
						send_hello(&h[i], hello, hello_len);
				}
				next_resend = now_ns() + 1000000000ull;
			}
			if (!any)
				poll(NULL, 0, 2);
		}
	}
	printf("flood hello: %lu sockets, %lu cookies received, %lu ClientHellos sent, %lu answered (half-open "
	       "sessions) in %.2f s\n", opened, answered, hellos, confirmed, (double)(now_ns() - t0) / 1e9);
	fflush(stdout);
	ret = confirmed > 0 ? 0 : 1;
out:
	if (h)
		for (unsigned long i = 0; i < n; i++)
			if (h[i].fd > 0)
				close(h[i].fd);
	free(h);
	tls_ctx_free(ctx);
	return ret;
}

/* ---- replay from a pcap file ---- */

static uint16_t rd16(const uint8_t *p, bool swap)
{
	return swap ? (uint16_t)(p[0] << 8 | p[1]) : (uint16_t)(p[1] << 8 | p[0]);
}

static uint32_t rd32(const uint8_t *p, bool swap)
{
	return swap ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3] :
		      (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* Classic pcap (what tcpdump -w writes), Ethernet or Linux cooked (SLL) link type, IPv4/UDP only. */
static int run_replay(const struct opts *o)
{
	uint8_t gh[24], rh[16], frame[65536];
	uint32_t linktype, from_addr = 0, dst;
	uint16_t from_port = 0;
	unsigned long sent = 0, skipped = 0, data = 0, ctl = 0;
	bool swap;
	FILE *f;
	int fd, ret = 1;

	if (!o->pcap || parse_ip(o->dst, &dst) < 0) {
		fprintf(stderr, "flood replay: needs --pcap FILE and --dst ADDR\n");
		return 2;
	}
	if (o->from) {
		char a[64], *colon;

		snprintf(a, sizeof(a), "%s", o->from);
		colon = strchr(a, ':');
		if (colon) {
			*colon = '\0';
			from_port = htons((uint16_t)atoi(colon + 1));
		}
		if (parse_ip(a, &from_addr) < 0) {
			fprintf(stderr, "flood replay: bad --from %s\n", o->from);
			return 2;
		}
	}
	f = fopen(o->pcap, "rb");
	if (!f) {
		perror(o->pcap);
		return 1;
	}
	fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
	if (fd < 0) {
		perror("flood: raw socket (root needed)");
		fclose(f);
		return 1;
	}
	if (fread(gh, 1, sizeof(gh), f) != sizeof(gh))
		goto bad;
	if (gh[0] == 0xd4 && gh[1] == 0xc3 && gh[2] == 0xb2 && gh[3] == 0xa1)
		swap = false;
	else if (gh[0] == 0xa1 && gh[1] == 0xb2 && gh[2] == 0xc3 && gh[3] == 0xd4)
		swap = true;
	else
		goto bad;
	linktype = rd32(gh + 20, swap);
	if (linktype != 1 && linktype != 113)
		goto bad;
	while (fread(rh, 1, sizeof(rh), f) == sizeof(rh)) {
		uint32_t caplen = rd32(rh + 8, swap), l2 = linktype == 1 ? 14 : 16, ihl;
		const uint8_t *ip, *udp;
		uint16_t ethertype;

		if (caplen > sizeof(frame) || fread(frame, 1, caplen, f) != caplen)
			goto bad;
		/* each length is checked before the bytes it covers are read */
		if (caplen < l2 + 20 + 8) {
			skipped++;
			continue;
		}
		ethertype = rd16(frame + l2 - 2, true);
		ip = frame + l2;
		ihl = (uint32_t)(ip[0] & 15) * 4;
		if (ethertype != 0x0800 || (ip[0] >> 4) != 4 || ihl < 20 || ip[9] != IPPROTO_UDP ||
		    caplen < l2 + ihl + 8) {
			skipped++;
			continue;
		}
		udp = ip + ihl;
		{
			uint32_t ulen = rd16(udp + 4, true), src, dst_ip;
			uint16_t sport;

			if (ulen < 8 || caplen < l2 + ihl + ulen) {
				skipped++;
				continue;
			}
			memcpy(&src, ip + 12, 4);
			memcpy(&dst_ip, ip + 16, 4);
			memcpy(&sport, udp, 2);
			if (dst_ip != dst) {
				skipped++;
				continue;
			}
			if (ulen > 8 && packet_is_data(packet_opcode(udp[8])))
				data++;
			else
				ctl++;
			if (raw_send(fd, from_addr ? from_addr : src, from_port ? from_port : sport, dst_ip,
				     *(const uint16_t *)(const void *)(udp + 2), udp + 8, ulen - 8) == 0)
				sent++;
		}
		if (o->pps > 0)
			usleep((useconds_t)(1e6 / o->pps));
	}
	printf("flood replay: sent %lu packets (%lu data, %lu control), skipped %lu\n", sent, data, ctl, skipped);
	ret = sent > 0 ? 0 : 1;
	goto out;
bad:
	fprintf(stderr, "flood replay: %s is not a pcap file of Ethernet/IPv4 frames\n", o->pcap);
out:
	close(fd);
	fclose(f);
	return ret;
}

/* ---- TCP: a reset that vanishes, and connections that never speak ---- */

static int tcp_connect_from(const struct sockaddr_in *local, const struct sockaddr_in *dst)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if ((local->sin_addr.s_addr && bind(fd, (const struct sockaddr *)local, sizeof(*local)) < 0) ||
	    connect(fd, (const struct sockaddr *)dst, sizeof(*dst)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* tcp-reset: connect, send one framed hard reset, and abort the connection (SO_LINGER 0: an RST) before the
 * gateway answers; its answer then meets a reset socket. */
static int run_tcp_reset(const struct opts *o, const struct sockaddr_in *local, const struct sockaddr_in *dst)
{
	uint64_t t0 = now_ns(), deadline = t0 + (uint64_t)(o->seconds * 1e9);
	unsigned long sent = 0, errors = 0;

	for (unsigned long i = 0; i < o->count && now_ns() < deadline; i++) {
		uint8_t frame[2 + MAX_PKT];
		struct linger lg = { 1, 0 };
		ssize_t n = make_reset(frame + 2, sizeof(frame) - 2);
		int fd;

		pace(t0, i, o->pps);
		if (n < 0)
			return 1;
		frame[0] = (uint8_t)(n >> 8);
		frame[1] = (uint8_t)n;
		fd = tcp_connect_from(local, dst);
		if (fd < 0 || write(fd, frame, (size_t)n + 2) != n + 2) {
			errors++;
		} else {
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
			sent++;
		}
		if (fd >= 0)
			close(fd);
	}
	printf("flood tcp-reset: %lu connections reset after their hard reset (%lu errors) in %.2f s\n", sent,
	       errors, (double)(now_ns() - t0) / 1e9);
	return 0;
}

/* tcp-idle: open --count connections that never send a whole packet (every other one sends one byte of a
 * length prefix), then watch them for --seconds; prints how many the gateway closed and when the last one
 * went. */
static int run_tcp_idle(const struct opts *o, const struct sockaddr_in *local, const struct sockaddr_in *dst)
{
	struct pollfd *p = calloc(o->count ? o->count : 1, sizeof(*p));
	uint64_t t0, deadline, last_close = 0;
	unsigned long opened = 0, closed = 0, failed = 0;

	if (!p)
		return 1;
	for (unsigned long i = 0; i < o->count; i++) {
		int fd = tcp_connect_from(local, dst);

		if (fd < 0) {
			failed++;
			continue;
		}
		if (i % 2 && write(fd, "\0", 1) != 1) {
			close(fd);
			failed++;
			continue;
		}
		p[opened++] = (struct pollfd){ .fd = fd, .events = POLLIN };
	}
	t0 = now_ns();
	deadline = t0 + (uint64_t)(o->seconds * 1e9);
	while (closed < opened && now_ns() < deadline) {
		int left = (int)((deadline - now_ns()) / 1000000) + 1;

		if (poll(p, opened, left) <= 0)
			continue;
		for (unsigned long i = 0; i < opened; i++) {
			uint8_t b[64];

			if (p[i].fd < 0 || !p[i].revents)
				continue;
			if (read(p[i].fd, b, sizeof(b)) > 0)
				continue; /* the gateway does not talk first; nothing to do with it */
			close(p[i].fd);
			p[i].fd = -1;
			closed++;
			last_close = now_ns();
		}
	}
	printf("flood tcp-idle: %lu opened (%lu failed), %lu closed by the gateway, the last after %.1f s\n", opened,
	       failed, closed, last_close ? (double)(last_close - t0) / 1e9 : 0.0);
	for (unsigned long i = 0; i < opened; i++)
		if (p[i].fd >= 0)
			close(p[i].fd);
	free(p);
	return 0;
}

static int run_tcp(const struct opts *o)
{
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons((uint16_t)o->port) };
	struct sockaddr_in local = { .sin_family = AF_INET };

	if (parse_ip(o->dst, &dst.sin_addr.s_addr) < 0 ||
	    (o->bind_addr && parse_ip(o->bind_addr, &local.sin_addr.s_addr) < 0)) {
		fprintf(stderr, "flood %s: needs --dst (and --bind, if given, an IPv4 address)\n", o->mode);
		return 2;
	}
	return !strcmp(o->mode, "tcp-reset") ? run_tcp_reset(o, &local, &dst) : run_tcp_idle(o, &local, &dst);
}

static void usage(FILE *to)
{
	fprintf(to,
		"usage: flood --mode reset|garbage|control --dst ADDR --port N --src-from ADDR --src-to ADDR\n"
		"             [--count N] [--pps R] [--seconds S]\n"
		"       flood --mode hello --dst ADDR --port N --bind ADDR --ca F --cert F --key F [--count N]\n"
		"             [--pps R] [--seconds S]\n"
		"       flood --mode replay --dst ADDR --pcap FILE [--from ADDR[:PORT]] [--pps R]\n"
		"       flood --mode tcp-reset|tcp-idle --dst ADDR --port N [--bind ADDR] [--count N] [--pps R]\n"
		"             [--seconds S]\n"
		"  reset    hard resets from random spoofed sources in --src-from..--src-to, random ports\n"
		"  garbage  random bytes (1..1400) from random spoofed sources\n"
		"  control  control, ACK, soft-reset and data packets for sessions that do not exist\n"
		"  hello    --count half-open sessions from --bind: cookie echoed with a ClientHello, then silence\n"
		"  replay   re-send the UDP packets to --dst found in a pcap, from their source or --from\n"
		"  tcp-reset  TCP connections that send a hard reset and abort at once (RST)\n"
		"  tcp-idle   --count TCP connections that never send a whole packet, watched for --seconds\n"
		"  --count N (default 1000) and --seconds S (default 30) bound every run; --pps 0 = as fast as possible\n");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "mode", required_argument, NULL, 'm' },     { "dst", required_argument, NULL, 'd' },
		{ "port", required_argument, NULL, 'p' },     { "src-from", required_argument, NULL, 'f' },
		{ "src-to", required_argument, NULL, 't' },   { "count", required_argument, NULL, 'n' },
		{ "pps", required_argument, NULL, 'r' },      { "seconds", required_argument, NULL, 's' },
		{ "bind", required_argument, NULL, 'b' },     { "ca", required_argument, NULL, 'C' },
		{ "cert", required_argument, NULL, 'c' },     { "key", required_argument, NULL, 'k' },
		{ "pcap", required_argument, NULL, 'P' },     { "from", required_argument, NULL, 'F' },
		{ "help", no_argument, NULL, 'h' },           { NULL, 0, NULL, 0 },
	};
	struct opts o = { .port = 1194, .count = 1000, .seconds = 30 };
	int c;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'm': o.mode = optarg; break;
		case 'd': o.dst = optarg; break;
		case 'p': o.port = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'f': o.src_from = optarg; break;
		case 't': o.src_to = optarg; break;
		case 'n': o.count = strtoul(optarg, NULL, 10); break;
		case 'r': o.pps = strtod(optarg, NULL); break;
		case 's': o.seconds = strtod(optarg, NULL); break;
		case 'b': o.bind_addr = optarg; break;
		case 'C': o.ca = optarg; break;
		case 'c': o.cert = optarg; break;
		case 'k': o.key = optarg; break;
		case 'P': o.pcap = optarg; break;
		case 'F': o.from = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!o.mode || o.port == 0 || o.port > 65535 || o.seconds <= 0) {
		usage(stderr);
		return 2;
	}
	if (getrandom(&rng_state, sizeof(rng_state), 0) != sizeof(rng_state) || rng_state == 0)
		rng_state = (uint64_t)now_ns() | 1;
	if (!strcmp(o.mode, "reset") || !strcmp(o.mode, "garbage") || !strcmp(o.mode, "control"))
		return run_spoofed(&o);
	if (!strcmp(o.mode, "hello"))
		return run_hello(&o);
	if (!strcmp(o.mode, "replay"))
		return run_replay(&o);
	if (!strcmp(o.mode, "tcp-reset") || !strcmp(o.mode, "tcp-idle"))
		return run_tcp(&o);
	usage(stderr);
	return 2;
}
