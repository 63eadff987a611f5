// SPDX-License-Identifier: GPL-2.0-or-later
/* cvpn load generator: N OpenVPN 2.6 client sessions from one process and one epoll loop, each on its own
 * socket, against cvpnd or a stock OpenVPN 2.6 server. Phases: connect (bounded by --rate and
 * --concurrency), hold (idle; the gateway's RSS is sampled at its end), traffic (ICMP echo requests inside
 * every tunnel), then an orderly exit. Every run ends by itself at --timeout. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cvpn/tls.h"

#include "client.h"

#define PEER_INFO "IV_VER=2.6.14\nIV_PLAT=linux\nIV_PROTO=990\nIV_CIPHERS=AES-256-GCM:AES-128-GCM:CHACHA20-POLY1305\n" \
		  "IV_MTU=1600\n"
#define TICK_MS 10
#define TRAFFIC_GRACE_MS 1000 /* replies still in flight when sending stops */
#define MAX_FAIL_SAMPLES 5

struct opts {
	const char *remote, *ca, *cert, *key, *ping;
	uint32_t src_base, src_count;   /* --source-range: session i binds to src_base + i % src_count */
	unsigned port;
	bool tcp, json;
	enum lgc_key_update key_update;
	uint32_t n;
	double rate;          /* session starts per second, 0 = unlimited */
	uint32_t concurrency; /* handshakes in flight, 0 = unlimited */
	double traffic_s, hold_s, timeout_s, hs_timeout_s;
	double pps;           /* echo requests per second per session */
	unsigned size;        /* bytes per IP packet */
	long gw_pid;
};

enum phase { PH_CONNECT, PH_HOLD, PH_TRAFFIC, PH_GRACE, PH_DONE };

struct run {
	struct opts o;
	struct lgc_shared sh;
	struct sockaddr_in remote;
	struct in_addr ping_addr;
	struct lg_client *clients;
	uint32_t started, established, failed;
	uint64_t fails[LGC_FAIL_MAX];
	char fail_samples[MAX_FAIL_SAMPLES][200];
	unsigned n_fail_samples;
	uint32_t *lat_ms;     /* handshake latency of each established session */
	uint64_t t0, t_last_up, t_connect_end, t_phase, t_traffic_start, t_traffic_end;
	long rss_before, rss_after;
	double gw_cpu_t0, gw_cpu_connect;  /* gateway CPU seconds at the start and at the end of the connect phase */
	double own_cpu_connect;            /* ours during the connect phase */
	uint64_t echo_replies;
	bool deadline_hit;
	enum phase phase;
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: loadgen --remote ADDR --port N [--proto udp|tcp] --ca F --cert F --key F -n SESSIONS\n"
		"               [--rate R] [--concurrency C] [--hs-timeout S] [--hold S]\n"
		"               [--traffic S --ping ADDR [--pps P] [--size BYTES]] [--gateway-pid PID]\n"
		"               [--timeout S] [--source-range A.B.C.D/N] [--key-update[=up|early]] [--json]\n"
		"  --rate R          session starts per second (default: unlimited)\n"
		"  --concurrency C   handshakes in flight at most (default 50; 0 = unlimited)\n"
		"  --hs-timeout S    a session not up after S seconds is a timeout failure (default 60)\n"
		"  --hold S          keep the sessions idle for S seconds after connecting (default 0)\n"
		"  --traffic S       then send ICMP echo requests inside every tunnel for S seconds to --ping ADDR,\n"
		"                    --pps P per session (default 10), --size BYTES per IP packet (default 84)\n"
		"  --gateway-pid PID report the gateway's VmRSS before connecting and after the hold, per session\n"
		"  --timeout S       the whole run ends after S seconds at the latest (default 120)\n"
		"  --source-range A.B.C.D/N  spread sessions over N local source addresses from A.B.C.D (the\n"
		"                    gateway limits handshakes and cookie replies per source address)\n"
		"  --key-update[=up|early]  each session sends a TLS 1.3 KeyUpdate on its control channel: once up\n"
		"                    (the gateway answers with a renegotiation, which we do not follow), or early:\n"
		"                    on the gateway's key-method-2 reply, before PUSH_REQUEST (it may still be checking)\n"
		"  --json            one JSON object on stdout instead of the table\n");
}

static int parse_double(const char *s, double min, double *out)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end != '\0' || !(v >= min) || v > 1e9)
		return -1;
	*out = v;
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	enum { O_REMOTE = 256, O_PORT, O_PROTO, O_CA, O_CERT, O_KEY, O_RATE, O_CONC, O_TRAFFIC, O_PPS, O_SIZE,
	       O_PING, O_HOLD, O_GWPID, O_JSON, O_TIMEOUT, O_HSTIMEOUT, O_SRC, O_HELP, O_KEYUPD };
	static const struct option lo[] = {
		{ "remote", 1, NULL, O_REMOTE }, { "port", 1, NULL, O_PORT },	  { "proto", 1, NULL, O_PROTO },
		{ "ca", 1, NULL, O_CA },	 { "cert", 1, NULL, O_CERT },	  { "key", 1, NULL, O_KEY },
		{ "rate", 1, NULL, O_RATE },	 { "concurrency", 1, NULL, O_CONC }, { "traffic", 1, NULL, O_TRAFFIC },
		{ "pps", 1, NULL, O_PPS },	 { "size", 1, NULL, O_SIZE },	  { "ping", 1, NULL, O_PING },
		{ "hold", 1, NULL, O_HOLD },	 { "gateway-pid", 1, NULL, O_GWPID }, { "json", 0, NULL, O_JSON },
		{ "timeout", 1, NULL, O_TIMEOUT }, { "hs-timeout", 1, NULL, O_HSTIMEOUT },
		{ "key-update", 2, NULL, O_KEYUPD },
		{ "sessions", 1, NULL, 'n' },	 { "help", 0, NULL, O_HELP },	  { "source-range", 1, NULL, O_SRC },
		{ NULL, 0, NULL, 0 },
	};
	double d;
	int c;

	memset(o, 0, sizeof(*o));
	o->concurrency = 50;
	o->timeout_s = 120;
	o->hs_timeout_s = 60;
	o->pps = 10;
	o->size = 84;
	while ((c = getopt_long(argc, argv, "n:h", lo, NULL)) != -1) {
		switch (c) {
		case O_REMOTE: o->remote = optarg; break;
		case O_CA: o->ca = optarg; break;
		case O_CERT: o->cert = optarg; break;
		case O_KEY: o->key = optarg; break;
		case O_PING: o->ping = optarg; break;
		case O_JSON: o->json = true; break;
		case O_SRC: {
			/* A.B.C.D/N: N consecutive source addresses from A.B.C.D (they must be on this host). Real
			 * clients come from many addresses, and the gateway limits handshakes per source. */
			char addr[32], *slash;
			struct in_addr in;

			snprintf(addr, sizeof(addr), "%s", optarg);
			slash = strchr(addr, '/');
			if (!slash || parse_double(slash + 1, 1, &d) < 0 || d > 65536)
				goto bad;
			*slash = '\0';
			if (inet_pton(AF_INET, addr, &in) != 1)
				goto bad;
			o->src_base = ntohl(in.s_addr);
			o->src_count = (uint32_t)d;
			break;
		}
		case O_PROTO:
			if (strcmp(optarg, "udp") && strcmp(optarg, "tcp"))
				goto bad;
			o->tcp = strcmp(optarg, "tcp") == 0;
			break;
		case O_PORT:
			if (parse_double(optarg, 1, &d) < 0 || d > 65535)
				goto bad;
			o->port = (unsigned)d;
			break;
		case 'n':
			if (parse_double(optarg, 1, &d) < 0 || d > 1000000)
				goto bad;
			o->n = (uint32_t)d;
			break;
		case O_RATE:
			if (parse_double(optarg, 0, &o->rate) < 0)
				goto bad;
			break;
		case O_CONC:
			if (parse_double(optarg, 0, &d) < 0)
				goto bad;
			o->concurrency = (uint32_t)d;
			break;
		case O_TRAFFIC:
			if (parse_double(optarg, 0, &o->traffic_s) < 0)
				goto bad;
			break;
		case O_PPS:
			if (parse_double(optarg, 0, &o->pps) < 0)
				goto bad;
			break;
		case O_SIZE:
			if (parse_double(optarg, 28, &d) < 0 || d > 1500)
				goto bad;
			o->size = (unsigned)d;
			break;
		case O_HOLD:
			if (parse_double(optarg, 0, &o->hold_s) < 0)
				goto bad;
			break;
		case O_KEYUPD:
			if (!optarg || strcmp(optarg, "up") == 0)
				o->key_update = LGC_KEY_UPDATE_UP;
			else if (strcmp(optarg, "early") == 0)
				o->key_update = LGC_KEY_UPDATE_EARLY;
			else
				goto bad;
			break;
		case O_TIMEOUT:
			if (parse_double(optarg, 1, &o->timeout_s) < 0)
				goto bad;
			break;
		case O_HSTIMEOUT:
			if (parse_double(optarg, 1, &o->hs_timeout_s) < 0)
				goto bad;
			break;
		case O_GWPID:
			if (parse_double(optarg, 1, &d) < 0)
				goto bad;
			o->gw_pid = (long)d;
			break;
		case O_HELP:
		case 'h':
			usage(stdout);
			exit(0);
		default:
			goto bad_quiet;
		}
	}
	if (optind != argc || !o->remote || !o->port || !o->ca || !o->cert || !o->key || !o->n) {
		fprintf(stderr, "loadgen: --remote, --port, --ca, --cert, --key and -n are required\n");
		goto bad_quiet;
	}
	if (o->traffic_s > 0 && !o->ping) {
		fprintf(stderr, "loadgen: --traffic needs --ping ADDR\n");
		goto bad_quiet;
	}
	return 0;
bad:
	fprintf(stderr, "loadgen: bad value '%s'\n", optarg);
bad_quiet:
	usage(stderr);
	return -1;
}

/* /proc/PID/status VmRSS in KiB, -1 if unreadable. */
static long read_rss_kib(long pid)
{
	char path[64], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* utime + stime of /proc/PID/stat in seconds, -1 if unreadable. */
static double read_cpu_s(long pid)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* the command name may contain spaces and parentheses: fields count from the last ')' */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double own_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

static int raise_nofile(uint32_t need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	if (rl.rlim_cur >= need)
		return 0;
	rl.rlim_cur = need;
	if (rl.rlim_max < need)
		rl.rlim_max = need; /* works as root (CAP_SYS_RESOURCE) */
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	return 0;
}

/* ---- ICMP inside the tunnel ---- */

static uint16_t inet_csum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint16_t icmp_ident(const struct lg_client *c)
{
	return (uint16_t)(c->idx + 1);
}

static void send_echo(struct run *r, struct lg_client *c, uint64_t now)
{
	uint8_t pkt[1500];
	size_t len = r->o.size;
	uint32_t src = htonl(c->vaddr);
	uint16_t seq = ++c->icmp_seq, cs;

	memset(pkt, 0, len);
	pkt[0] = 0x45;
	pkt[2] = (uint8_t)(len >> 8);
	pkt[3] = (uint8_t)len;
	pkt[4] = (uint8_t)(seq >> 8);
	pkt[5] = (uint8_t)seq;
	pkt[8] = 64;
	pkt[9] = 1; /* ICMP */
	memcpy(pkt + 12, &src, 4);
	memcpy(pkt + 16, &r->ping_addr, 4);
	cs = inet_csum(pkt, 20);
	pkt[10] = (uint8_t)(cs >> 8);
	pkt[11] = (uint8_t)cs;
	pkt[20] = 8; /* echo request */
	pkt[24] = (uint8_t)(icmp_ident(c) >> 8);
	pkt[25] = (uint8_t)icmp_ident(c);
	pkt[26] = (uint8_t)(seq >> 8);
	pkt[27] = (uint8_t)seq;
	for (size_t i = 28; i < len; i++)
		pkt[i] = (uint8_t)i;
	cs = inet_csum(pkt + 20, len - 20);
	pkt[22] = (uint8_t)(cs >> 8);
	pkt[23] = (uint8_t)cs;
	lgc_send_ip(c, pkt, len, now);
}

static void on_ip(struct lg_client *c, const uint8_t *ip, size_t len, uint64_t now_ms)
{
	struct run *r = (struct run *)((char *)c->sh - offsetof(struct run, sh));
	size_t ihl;

	(void)now_ms;
	if (len < 20 || ip[0] >> 4 != 4 || ip[9] != 1)
		return;
	ihl = (size_t)(ip[0] & 15) * 4;
	if (ihl < 20 || len < ihl + 8)
		return;
	/* an echo reply to one of this session's requests */
	if (ip[ihl] == 0 && ((uint16_t)ip[ihl + 4] << 8 | ip[ihl + 5]) == icmp_ident(c))
		r->echo_replies++;
}

/* ---- sessions ---- */

static void account(struct run *r, struct lg_client *c, uint64_t now)
{
	if (c->counted)
		return;
	if (c->state == LGC_UP) {
		c->counted = true;
		r->lat_ms[r->established++] = (uint32_t)(c->up_ms - c->start_ms);
		r->t_last_up = now;
	} else if (c->state == LGC_FAILED) {
		c->counted = true;
		r->failed++;
		r->fails[c->fail]++;
		if (r->n_fail_samples < MAX_FAIL_SAMPLES)
			snprintf(r->fail_samples[r->n_fail_samples++], sizeof(r->fail_samples[0]), "session %u: %s: %s",
				 c->idx, lgc_fail_name(c->fail), c->fail_msg);
	}
}

static void start_one(struct run *r, int epfd, uint64_t now)
{
	struct lg_client *c = &r->clients[r->started];
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
	bool connecting = false;
	int fd, err;

	r->started++;
	c->idx = r->started - 1;
	fd = socket(AF_INET, (r->o.tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = errno;
		goto fail;
	}
	if (r->o.src_count) {
		struct sockaddr_in src = { .sin_family = AF_INET,
					   .sin_addr.s_addr = htonl(r->o.src_base + c->idx % r->o.src_count) };

		if (bind(fd, (const struct sockaddr *)&src, sizeof(src)) < 0) {
			err = errno;
			goto fail;
		}
	}
	if (connect(fd, (const struct sockaddr *)&r->remote, sizeof(r->remote)) < 0) {
		if (errno != EINPROGRESS) {
			err = errno;
			goto fail;
		}
		connecting = true;
	}
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		err = errno;
		goto fail;
	}
	err = -lgc_start(c, &r->sh, r->started - 1, fd, connecting, now);
	if (err == 0) {
		account(r, c, now);
		return;
	}
fail:
	if (fd >= 0)
		close(fd);
	c->fd = -1;
	c->state = LGC_FAILED;
	c->fail = LGC_FAIL_NET;
	snprintf(c->fail_msg, sizeof(c->fail_msg), "socket: %s", strerror(err));
	account(r, c, now);
}

static uint32_t in_flight(const struct run *r)
{
	return r->started - r->established - r->failed;
}

static void start_sessions(struct run *r, int epfd, uint64_t now)
{
	while (r->started < r->o.n) {
		if (r->o.concurrency && in_flight(r) >= r->o.concurrency)
			return;
		/* --rate: the k-th session starts no earlier than k / rate seconds into the run */
		if (r->o.rate > 0 && (double)r->started * 1000.0 / r->o.rate > (double)(now - r->t0))
			return;
		start_one(r, epfd, now);
	}
}

static void send_traffic(struct run *r, uint64_t now)
{
	uint64_t due = (uint64_t)((double)(now - r->t_traffic_start) * r->o.pps / 1000.0) + 1;

	for (uint32_t i = 0; i < r->started; i++) {
		struct lg_client *c = &r->clients[i];

		while (c->state == LGC_UP && c->traffic_sent < due) {
			c->traffic_sent++;
			send_echo(r, c, now);
		}
	}
}

/* Moves through the phases; returns false when the run is over. */
static bool advance(struct run *r, int epfd, uint64_t now)
{
	switch (r->phase) {
	case PH_CONNECT:
		start_sessions(r, epfd, now);
		if (r->established + r->failed < r->o.n)
			return true;
		r->t_connect_end = now;
		r->own_cpu_connect = own_cpu_s();
		if (r->o.gw_pid)
			r->gw_cpu_connect = read_cpu_s(r->o.gw_pid);
		r->phase = PH_HOLD;
		r->t_phase = now;
		/* fall through */
	case PH_HOLD:
		if (now - r->t_phase < (uint64_t)(r->o.hold_s * 1000))
			return true;
		if (r->o.gw_pid)
			r->rss_after = read_rss_kib(r->o.gw_pid);
		if (r->o.traffic_s <= 0 || r->established == 0) {
			r->phase = PH_DONE;
			return false;
		}
		r->phase = PH_TRAFFIC;
		r->t_traffic_start = r->t_phase = now;
		/* fall through */
	case PH_TRAFFIC:
		if (now - r->t_phase < (uint64_t)(r->o.traffic_s * 1000)) {
			send_traffic(r, now);
			return true;
		}
		r->t_traffic_end = now;
		r->phase = PH_GRACE;
		r->t_phase = now;
		/* fall through */
	case PH_GRACE:
		if (now - r->t_phase < TRAFFIC_GRACE_MS)
			return true;
		r->phase = PH_DONE;
		/* fall through */
	case PH_DONE:
		break;
	}
	return false;
}

static int run_loop(struct run *r, int epfd)
{
	struct epoll_event evs[256];
	uint64_t deadline, last_tick = 0;

	r->t0 = now_ms();
	deadline = r->t0 + (uint64_t)(r->o.timeout_s * 1000);
	for (;;) {
		uint64_t now = now_ms();
		int n, wait_ms;

		if (stop_requested || now >= deadline) {
			r->deadline_hit = now >= deadline;
			if (r->phase == PH_TRAFFIC)
				r->t_traffic_end = now;
			break;
		}
		if (!advance(r, epfd, now))
			break;
		wait_ms = r->phase == PH_TRAFFIC ? 1 : TICK_MS / 2;
		n = epoll_wait(epfd, evs, (int)(sizeof(evs) / sizeof(evs[0])), wait_ms);
		if (n < 0 && errno != EINTR)
			return -errno;
		now = now_ms();
		for (int i = 0; i < n; i++) {
			struct lg_client *c = evs[i].data.ptr;

			if (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
				lgc_on_writable(c, now);
			if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				lgc_on_readable(c, now);
			account(r, c, now);
		}
		if (now - last_tick >= TICK_MS) {
			last_tick = now;
			for (uint32_t i = 0; i < r->started; i++) {
				struct lg_client *c = &r->clients[i];

				if (c->fd >= 0) {
					lgc_tick(c, now);
					account(r, c, now);
				}
			}
		}
	}
	/* whatever has not come up by the end of the run timed out */
	for (uint32_t i = 0; i < r->started; i++) {
		struct lg_client *c = &r->clients[i];

		if (lgc_in_handshake(c)) {
			lgc_fail(c, LGC_FAIL_TIMEOUT, stop_requested ? "interrupted" : "run deadline reached");
			account(r, c, now_ms());
		}
	}
	return 0;
}

/* ---- report ---- */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static uint32_t percentile(const uint32_t *sorted, uint32_t n, double p)
{
	uint32_t i;

	if (n == 0)
		return 0;
	i = (uint32_t)(p * (double)(n - 1) + 0.5);
	return sorted[i < n ? i : n - 1];
}

struct figures {
	double connect_s;    /* first start to last session up */
	double per_s;
	bool all_up;
	uint32_t p50, p99, max;
	double rss_per_session;
	double traffic_s;
	uint64_t tx_pkts, rx_pkts, tx_bytes, rx_bytes;
	double mbps_tx, mbps_rx;
};

static void compute(struct run *r, struct figures *f)
{
	memset(f, 0, sizeof(*f));
	qsort(r->lat_ms, r->established, sizeof(r->lat_ms[0]), cmp_u32);
	f->all_up = r->established == r->o.n;
	if (r->established) {
		f->connect_s = (double)(r->t_last_up - r->t0) / 1000.0;
		f->per_s = f->connect_s > 0 ? r->established / f->connect_s : 0;
		f->p50 = percentile(r->lat_ms, r->established, 0.50);
		f->p99 = percentile(r->lat_ms, r->established, 0.99);
		f->max = r->lat_ms[r->established - 1];
	}
	if (r->o.gw_pid && r->rss_before >= 0 && r->rss_after >= 0 && r->established)
		f->rss_per_session = (double)(r->rss_after - r->rss_before) / r->established;
	for (uint32_t i = 0; i < r->started; i++) {
		f->tx_pkts += r->clients[i].tx_pkts;
		f->tx_bytes += r->clients[i].tx_bytes;
		f->rx_pkts += r->clients[i].rx_pkts;
		f->rx_bytes += r->clients[i].rx_bytes;
	}
	if (r->t_traffic_end > r->t_traffic_start) {
		f->traffic_s = (double)(r->t_traffic_end - r->t_traffic_start) / 1000.0;
		f->mbps_tx = (double)f->tx_bytes * 8 / f->traffic_s / 1e6;
		f->mbps_rx = (double)f->rx_bytes * 8 / f->traffic_s / 1e6;
	}
}

static void report_text(const struct run *r, const struct figures *f)
{
	const struct opts *o = &r->o;
	char label[64];

	printf("loadgen: %s %s:%u, %u sessions requested%s\n", o->tcp ? "tcp" : "udp", o->remote, o->port, o->n,
	       r->deadline_hit ? " (run deadline reached)" : "");
	printf("  sessions established   %u\n", r->established);
	printf("  failures               %u (timeout %llu, auth_failed %llu, tls_error %llu, protocol_error %llu, "
	       "network_error %llu)\n",
	       r->failed, (unsigned long long)r->fails[LGC_FAIL_TIMEOUT], (unsigned long long)r->fails[LGC_FAIL_AUTH],
	       (unsigned long long)r->fails[LGC_FAIL_TLS], (unsigned long long)r->fails[LGC_FAIL_PROTO],
	       (unsigned long long)r->fails[LGC_FAIL_NET]);
	snprintf(label, sizeof(label), "time to %u sessions", o->n);
	if (f->all_up)
		printf("  %-22s %.3f s\n", label, f->connect_s);
	else
		printf("  %-22s not reached (last session up after %.3f s)\n", label, f->connect_s);
	printf("  sessions per second    %.1f\n", f->per_s);
	printf("  handshake latency      p50 %u ms, p99 %u ms, max %u ms\n", f->p50, f->p99, f->max);
	if (r->t_connect_end)
		printf("  CPU while connecting   loadgen %.2f s\n", r->own_cpu_connect);
	if (r->t_connect_end && o->gw_pid && r->gw_cpu_t0 >= 0 && r->gw_cpu_connect >= 0)
		printf("                         gateway %.2f s (%.2f ms per session)\n", r->gw_cpu_connect - r->gw_cpu_t0,
		       r->established ? (r->gw_cpu_connect - r->gw_cpu_t0) * 1000 / r->established : 0.0);
	if (o->gw_pid)
		printf("  gateway RSS            before %ld KiB, after %ld KiB, %.1f KiB per session\n", r->rss_before,
		       r->rss_after, f->rss_per_session);
	if (o->traffic_s > 0)
		printf("  traffic                %.1f s, sent %llu packets (%.2f Mbit/s), received %llu (%.2f Mbit/s), "
		       "echo replies %llu\n",
		       f->traffic_s, (unsigned long long)f->tx_pkts, f->mbps_tx, (unsigned long long)f->rx_pkts,
		       f->mbps_rx, (unsigned long long)r->echo_replies);
	fflush(stdout);
}

static void jadd(struct json_object *o, const char *k, struct json_object *v)
{
	json_object_object_add(o, k, v);
}

static void report_json(const struct run *r, const struct figures *f)
{
	struct json_object *o, *fl, *t;

	/* figures, not binary fractions: 3.475, not 3.4750000000000001 */
	json_c_set_serialization_double_format("%.6g", JSON_C_OPTION_GLOBAL);
	o = json_object_new_object();
	fl = json_object_new_object();

	jadd(o, "proto", json_object_new_string(r->o.tcp ? "tcp" : "udp"));
	jadd(o, "remote", json_object_new_string(r->o.remote));
	jadd(o, "port", json_object_new_int((int)r->o.port));
	jadd(o, "sessions_requested", json_object_new_int64(r->o.n));
	jadd(o, "sessions_established", json_object_new_int64(r->established));
	jadd(o, "sessions_failed", json_object_new_int64(r->failed));
	for (int i = LGC_FAIL_TIMEOUT; i < LGC_FAIL_MAX; i++)
		jadd(fl, lgc_fail_name(i), json_object_new_int64((int64_t)r->fails[i]));
	jadd(o, "failures", fl);
	jadd(o, "seconds_to_n", f->all_up ? json_object_new_double(f->connect_s) : NULL);
	jadd(o, "seconds_to_last", json_object_new_double(f->connect_s));
	jadd(o, "sessions_per_s", json_object_new_double(f->per_s));
	jadd(o, "handshake_ms_p50", json_object_new_int64(f->p50));
	jadd(o, "handshake_ms_p99", json_object_new_int64(f->p99));
	jadd(o, "handshake_ms_max", json_object_new_int64(f->max));
	if (r->t_connect_end)
		jadd(o, "loadgen_cpu_s_connect", json_object_new_double(r->own_cpu_connect));
	if (r->t_connect_end && r->o.gw_pid && r->gw_cpu_t0 >= 0 && r->gw_cpu_connect >= 0)
		jadd(o, "gateway_cpu_s_connect", json_object_new_double(r->gw_cpu_connect - r->gw_cpu_t0));
	if (r->o.gw_pid) {
		jadd(o, "gateway_pid", json_object_new_int64(r->o.gw_pid));
		jadd(o, "rss_kib_before", json_object_new_int64(r->rss_before));
		jadd(o, "rss_kib_after", json_object_new_int64(r->rss_after));
		jadd(o, "rss_kib_per_session", json_object_new_double(f->rss_per_session));
	}
	if (r->o.traffic_s > 0) {
		t = json_object_new_object();
		jadd(t, "seconds", json_object_new_double(f->traffic_s));
		jadd(t, "size", json_object_new_int((int)r->o.size));
		jadd(t, "pps_per_session", json_object_new_double(r->o.pps));
		jadd(t, "packets_sent", json_object_new_int64((int64_t)f->tx_pkts));
		jadd(t, "packets_received", json_object_new_int64((int64_t)f->rx_pkts));
		jadd(t, "echo_replies", json_object_new_int64((int64_t)r->echo_replies));
		jadd(t, "mbps_sent", json_object_new_double(f->mbps_tx));
		jadd(t, "mbps_received", json_object_new_double(f->mbps_rx));
		jadd(o, "traffic", t);
	}
	jadd(o, "deadline_hit", json_object_new_boolean(r->deadline_hit));
	printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
}

int main(int argc, char **argv)
{
	static struct run run;
	struct run *r = &run;
	struct figures fig;
	char err[256], options[256];
	int epfd = -1, ret = 2;

	if (parse_opts(argc, argv, &r->o) < 0)
		return 2;
	r->remote.sin_family = AF_INET;
	r->remote.sin_port = htons((uint16_t)r->o.port);
	if (inet_pton(AF_INET, r->o.remote, &r->remote.sin_addr) != 1) {
		fprintf(stderr, "loadgen: --remote %s: not an IPv4 address\n", r->o.remote);
		return 2;
	}
	if (r->o.ping && inet_pton(AF_INET, r->o.ping, &r->ping_addr) != 1) {
		fprintf(stderr, "loadgen: --ping %s: not an IPv4 address\n", r->o.ping);
		return 2;
	}
	if (raise_nofile(r->o.n + 64) < 0)
		fprintf(stderr, "loadgen: cannot raise the open-files limit to %u: %s\n", r->o.n + 64, strerror(errno));
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	if (tls_client_ctx_new(r->o.ca, r->o.cert, r->o.key, &r->sh.tls, err, sizeof(err)) < 0) {
		fprintf(stderr, "loadgen: %s\n", err);
		return 2;
	}
	/* what a 2.6 client with these settings puts in its OCC string (informational for the server) */
	snprintf(options, sizeof(options),
		 "V4,dev-type tun,link-mtu 1521,tun-mtu 1500,proto %s,cipher AES-256-GCM,auth [null-digest],"
		 "keysize 256,key-method 2,tls-client",
		 r->o.tcp ? "TCPv4_CLIENT" : "UDPv4");
	r->clients = calloc(r->o.n, sizeof(*r->clients));
	r->lat_ms = calloc(r->o.n, sizeof(*r->lat_ms));
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!r->clients || !r->lat_ms || epfd < 0) {
		fprintf(stderr, "loadgen: out of memory\n");
		goto out;
	}
	for (uint32_t i = 0; i < r->o.n; i++)
		r->clients[i].fd = -1;
	r->sh.epfd = epfd;
	r->sh.tcp = r->o.tcp;
	r->sh.options = options;
	r->sh.peer_info = PEER_INFO;
	r->sh.hs_timeout_ms = (uint32_t)(r->o.hs_timeout_s * 1000);
	r->sh.on_ip = on_ip;
	r->sh.key_update = r->o.key_update;
	r->rss_before = r->rss_after = -1;
	if (r->o.gw_pid) {
		r->gw_cpu_t0 = read_cpu_s(r->o.gw_pid);
		r->rss_before = read_rss_kib(r->o.gw_pid);
		if (r->rss_before < 0)
			fprintf(stderr, "loadgen: cannot read /proc/%ld/status\n", r->o.gw_pid);
	}

	if (run_loop(r, epfd) < 0) {
		fprintf(stderr, "loadgen: epoll: %s\n", strerror(errno));
		goto out;
	}
	if (r->o.gw_pid && r->rss_after < 0)
		r->rss_after = read_rss_kib(r->o.gw_pid); /* the run ended before the hold did */
	for (uint32_t i = 0; i < r->started; i++)
		lgc_close(&r->clients[i]);
	compute(r, &fig);
	for (unsigned i = 0; i < r->n_fail_samples; i++)
		fprintf(stderr, "loadgen: %s\n", r->fail_samples[i]);
	if (r->o.json)
		report_json(r, &fig);
	else
		report_text(r, &fig);
	ret = fig.all_up ? 0 : 1;
out:
	if (epfd >= 0)
		close(epfd);
	free(r->clients);
	free(r->lat_ms);
	tls_ctx_free(r->sh.tls);
	return ret;
}
