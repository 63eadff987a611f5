// SPDX-License-Identifier: GPL-2.0-or-later
/* table inet cvpn_dco in a fresh network namespace, with real packets over lo: a P_DATA_V2 packet to the
 * gateway's port reaches its socket only from a listed (address, port, peer-id), whatever its key-id;
 * control packets, other ports and other local addresses than the bound one pass; IPv6 and IPv4-mapped
 * remotes; a second install starts empty.
 * Needs root (unshare); skipped otherwise. */
#define _GNU_SOURCE /* unshare() */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check_run.h"
#include "cvpn/dco_guard.h"
#include "test_util.h"

#define GW_PORT 1194
#define OP_DATA_V2 0x48
#define OP_CONTROL_V1 0x20

struct endpoint {
	struct sockaddr_storage ss;
	socklen_t len;
};

static struct endpoint ep(const char *addr, uint16_t port)
{
	struct endpoint e = { 0 };
	struct sockaddr_in *in = (struct sockaddr_in *)&e.ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&e.ss;

	if (inet_pton(AF_INET, addr, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		e.len = sizeof(*in);
	} else {
		ck_assert_int_eq(inet_pton(AF_INET6, addr, &in6->sin6_addr), 1);
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		e.len = sizeof(*in6);
	}
	return e;
}

static int bound_socket(const struct endpoint *e)
{
	int fd = socket(e->ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0), one = 1;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	ck_assert_msg(bind(fd, (const struct sockaddr *)&e->ss, e->len) == 0, "bind: %s", strerror(errno));
	return fd;
}

/* Sends one OpenVPN-shaped packet (first byte op, then the peer-id) from `from` to `to`; whether the
 * receiving socket got it within 200 ms. */
static bool delivered(int rx, const struct endpoint *from, const struct endpoint *to, uint8_t op, uint32_t peer_id)
{
	uint8_t pkt[32] = { op, (uint8_t)(peer_id >> 16), (uint8_t)(peer_id >> 8), (uint8_t)peer_id, 0xaa };
	struct pollfd pfd = { .fd = rx, .events = POLLIN };
	uint8_t buf[64];
	int tx = bound_socket(from);
	bool got = false;

	ck_assert_int_eq(sendto(tx, pkt, sizeof(pkt), 0, (const struct sockaddr *)&to->ss, to->len), (int)sizeof(pkt));
	close(tx);
	while (poll(&pfd, 1, 200) == 1) {
		ssize_t n = recv(rx, buf, sizeof(buf), MSG_DONTWAIT);

		if (n == (ssize_t)sizeof(pkt) && !memcmp(buf, pkt, sizeof(pkt)))
			got = true;
		if (got)
			break;
	}
	return got;
}

static int install(const char *listen_addr)
{
	struct endpoint l = ep(listen_addr, GW_PORT);

	return dco_guard_install((const struct sockaddr *)&l.ss, l.len);
}

static void setup(void)
{
	netns_enter();
	netns_lo_up();
	/* lo carries them all: nothing leaves the namespace */
	ck_assert_int_eq(system("ip addr add 198.18.0.1/32 dev lo && ip addr add 198.18.0.5/32 dev lo && "
				"ip addr add 198.18.0.9/32 dev lo && ip -6 addr add 2001:db8::1/64 dev lo nodad && "
				"ip -6 addr add 2001:db8::5/64 dev lo nodad"), 0);
}

START_TEST(ipv4_only_listed_remotes)
{
	struct endpoint gw = ep("198.18.0.1", GW_PORT), alice = ep("198.18.0.5", 40001), other_port = ep("198.18.0.5", 40002),
			other_host = ep("198.18.0.9", 40001);
	int rx;

	ck_assert_int_eq(install("0.0.0.0"), 0);
	rx = bound_socket(&gw);
	ck_assert_msg(!delivered(rx, &alice, &gw, OP_DATA_V2, 7), "data reached the socket with no session listed");
	ck_assert_msg(delivered(rx, &alice, &gw, OP_CONTROL_V1, 7), "a control packet was dropped");

	ck_assert_int_eq(dco_guard_peer((struct sockaddr *)&alice.ss, alice.len, 7, true), 0);
	ck_assert_int_eq(dco_guard_peer((struct sockaddr *)&alice.ss, alice.len, 7, true), 0); /* again: no error */
	ck_assert_msg(delivered(rx, &alice, &gw, OP_DATA_V2, 7), "the listed session's data was dropped");
	ck_assert_msg(delivered(rx, &alice, &gw, OP_DATA_V2 | 1, 7), "key-id 1 was dropped");
	ck_assert_msg(delivered(rx, &alice, &gw, OP_DATA_V2 | 7, 7), "key-id 7 was dropped");
	ck_assert_msg(!delivered(rx, &alice, &gw, OP_DATA_V2, 8), "another peer-id from the listed address passed");
	ck_assert_msg(!delivered(rx, &other_port, &gw, OP_DATA_V2, 7), "the peer-id from another port passed");
	ck_assert_msg(!delivered(rx, &other_host, &gw, OP_DATA_V2, 7), "the peer-id from another address passed");
	ck_assert_msg(!delivered(rx, &alice, &gw, OP_DATA_V2, 7 | 0x10000), "a peer-id differing in its high byte passed");

	ck_assert_int_eq(dco_guard_peer((struct sockaddr *)&alice.ss, alice.len, 7, false), 0);
	ck_assert_int_eq(dco_guard_peer((struct sockaddr *)&alice.ss, alice.len, 7, false), 0); /* gone: no error */
	ck_assert_msg(!delivered(rx, &alice, &gw, OP_DATA_V2, 7), "data passed after its session's element went");
	close(rx);
}
END_TEST

START_TEST(other_ports_untouched)
{
	struct endpoint other = ep("198.18.0.1", GW_PORT + 1), alice = ep("198.18.0.5", 40001);
	int rx;

	ck_assert_int_eq(install("0.0.0.0"), 0);
	rx = bound_socket(&other);
	ck_assert_msg(delivered(rx, &alice, &other, OP_DATA_V2, 7), "a packet to another port was dropped");
	close(rx);
}
END_TEST

START_TEST(ipv6_and_mapped)
{
	struct endpoint gw6 = ep("2001:db8::1", GW_PORT), alice6 = ep("2001:db8::5", 40003);
	struct endpoint mapped = ep("::ffff:198.18.0.5", 40004), alice4 = ep("198.18.0.5", 40004), gw4 = ep("198.18.0.1", GW_PORT);
	int rx6, rx4;

	ck_assert_int_eq(install("::"), 0); /* dual-stack: both families guarded */
	rx6 = bound_socket(&gw6);
	ck_assert_msg(!delivered(rx6, &alice6, &gw6, OP_DATA_V2, 3), "IPv6 data passed with no session listed");
	ck_assert_int_eq(dco_guard_peer((struct sockaddr *)&alice6.ss, alice6.len, 3, true), 0);
	ck_assert_msg(delivered(rx6, &alice6, &gw6, OP_DATA_V2, 3), "the listed IPv6 session's data was dropped");
	ck_assert_msg(!delivered(rx6, &alice6, &gw6, OP_DATA_V2, 4), "another peer-id over IPv6 passed");
	close(rx6);

	/* a dual-stack socket sees an IPv4 client as ::ffff:a.b.c.d; netfilter sees IPv4 */
	rx4 = bound_socket(&gw4);
	ck_assert_int_eq(dco_guard_peer((struct sockaddr *)&mapped.ss, mapped.len, 5, true), 0);
	ck_assert_msg(delivered(rx4, &alice4, &gw4, OP_DATA_V2, 5), "the v4-mapped session's IPv4 data was dropped");
	close(rx4);
}
END_TEST

/* A gateway bound to one address guards that address only: the same port on another local address, and
 * IPv6 (the socket has none), belong to someone else. */
START_TEST(bound_address_only)
{
	struct endpoint gw = ep("198.18.0.1", GW_PORT), elsewhere = ep("198.18.0.9", GW_PORT),
			alice = ep("198.18.0.5", 40001), gw6 = ep("2001:db8::1", GW_PORT), alice6 = ep("2001:db8::5", 40003);
	int rx, rx_else, rx6;

	ck_assert_int_eq(install("198.18.0.1"), 0);
	rx = bound_socket(&gw);
	rx_else = bound_socket(&elsewhere);
	rx6 = bound_socket(&gw6);
	ck_assert_msg(!delivered(rx, &alice, &gw, OP_DATA_V2, 7), "data to the bound address passed unlisted");
	ck_assert_msg(delivered(rx_else, &alice, &elsewhere, OP_DATA_V2, 7), "data to another local address was dropped");
	ck_assert_msg(delivered(rx6, &alice6, &gw6, OP_DATA_V2, 7), "IPv6 data was dropped for an IPv4 gateway");
	close(rx);
	close(rx_else);
	close(rx6);
}
END_TEST

static uint16_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* One IPv6 fragment of a UDP datagram, built by hand: the header, a fragment header at offset `off` (in
 * bytes), and data. */
static void send_fragment(int raw, const struct endpoint *from, const struct endpoint *to, uint32_t id, size_t off,
			  bool more, const uint8_t *data, size_t len)
{
	uint8_t pkt[128] = { 0x60 };
	uint16_t plen = (uint16_t)(8 + len), fo = (uint16_t)(off | (more ? 1 : 0));

	ck_assert_uint_le(48 + len, sizeof(pkt));
	pkt[4] = (uint8_t)(plen >> 8);
	pkt[5] = (uint8_t)plen;
	pkt[6] = 44; /* fragment header */
	pkt[7] = 64;
	memcpy(pkt + 8, &((const struct sockaddr_in6 *)&from->ss)->sin6_addr, 16);
	memcpy(pkt + 24, &((const struct sockaddr_in6 *)&to->ss)->sin6_addr, 16);
	pkt[40] = IPPROTO_UDP;
	pkt[42] = (uint8_t)(fo >> 8);
	pkt[43] = (uint8_t)fo;
	memcpy(pkt + 44, &(uint32_t){ htonl(id) }, 4);
	memcpy(pkt + 48, data, len);
	ck_assert_int_eq(sendto(raw, pkt, 48 + len, 0, (const struct sockaddr *)&to->ss, to->len), (int)(48 + len));
}

/* A data packet whose first fragment holds the UDP header alone, the OpenVPN header coming in the second:
 * the rules can judge it only once it is reassembled, before the input hook. */
START_TEST(ipv6_fragments_reassembled_first)
{
	struct endpoint gw6 = ep("2001:db8::1", GW_PORT), mallory = ep("2001:db8::5", 40005);
	uint8_t payload[32] = { OP_DATA_V2, 0, 0, 7, 0xaa }, udp[8], pseudo[40] = { 0 };
	struct pollfd pfd;
	uint16_t sum;
	int rx, raw;

	ck_assert_int_eq(install("::"), 0);
	rx = bound_socket(&gw6);
	raw = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW); /* we write the IPv6 header */
	ck_assert_int_ge(raw, 0);
	((struct sockaddr_in6 *)&gw6.ss)->sin6_port = 0;
	memcpy(udp, &((struct sockaddr_in6 *)&mallory.ss)->sin6_port, 2);
	udp[2] = GW_PORT >> 8;
	udp[3] = GW_PORT & 0xff;
	udp[4] = 0;
	udp[5] = 8 + sizeof(payload);
	udp[6] = udp[7] = 0;
	memcpy(pseudo, &((struct sockaddr_in6 *)&mallory.ss)->sin6_addr, 16);
	memcpy(pseudo + 16, &((struct sockaddr_in6 *)&gw6.ss)->sin6_addr, 16);
	pseudo[35] = 8 + sizeof(payload);
	pseudo[39] = IPPROTO_UDP;
	sum = ~csum_add(csum_add(csum_add(0, pseudo, sizeof(pseudo)), udp, sizeof(udp)), payload, sizeof(payload));
	udp[6] = (uint8_t)(sum >> 8);
	udp[7] = (uint8_t)sum;
	send_fragment(raw, &mallory, &gw6, 0xc0ffee, 0, true, udp, sizeof(udp));
	send_fragment(raw, &mallory, &gw6, 0xc0ffee, 8, false, payload, sizeof(payload));
	pfd = (struct pollfd){ .fd = rx, .events = POLLIN };
	ck_assert_msg(poll(&pfd, 1, 300) == 0, "a fragmented data packet from an unlisted remote reached the socket");

	/* the same from a listed remote arrives: the reassembly itself works */
	ck_assert_int_eq(dco_guard_peer((struct sockaddr *)&mallory.ss, mallory.len, 7, true), 0);
	send_fragment(raw, &mallory, &gw6, 0xc0ffef, 0, true, udp, sizeof(udp));
	send_fragment(raw, &mallory, &gw6, 0xc0ffef, 8, false, payload, sizeof(payload));
	ck_assert_msg(poll(&pfd, 1, 1000) == 1, "the listed remote's fragmented data packet did not arrive");
	close(raw);
	close(rx);
}
END_TEST

START_TEST(install_again_starts_empty)
{
	struct endpoint gw = ep("198.18.0.1", GW_PORT), alice = ep("198.18.0.5", 40001);
	int rx;

	ck_assert_int_eq(install("0.0.0.0"), 0);
	ck_assert_int_eq(dco_guard_peer((struct sockaddr *)&alice.ss, alice.len, 7, true), 0);
	/* what a restart after a crash does: the old elements go with the old table */
	ck_assert_int_eq(install("0.0.0.0"), 0);
	rx = bound_socket(&gw);
	ck_assert_msg(!delivered(rx, &alice, &gw, OP_DATA_V2, 7), "an element survived a new install");
	ck_assert_int_eq(dco_guard_remove(), 0);
	ck_assert_msg(delivered(rx, &alice, &gw, OP_DATA_V2, 7), "data dropped after the table was removed");
	ck_assert_int_eq(dco_guard_remove(), 0); /* none: no error */
	close(rx);
}
END_TEST

START_TEST(listing_reads_like_the_template)
{
	struct endpoint alice = ep("192.0.2.10", 40001);
	char line[512], all[4096] = "";
	FILE *f;

	ck_assert_int_eq(install("::"), 0);
	ck_assert_int_eq(dco_guard_peer((struct sockaddr *)&alice.ss, alice.len, 0x0a0b0c, true), 0);
	f = popen("nft list table inet " DCO_GUARD_TABLE " 2>&1", "r");
	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f) && strlen(all) + strlen(line) < sizeof(all))
		strcat(all, line);
	ck_assert_int_eq(pclose(f), 0);
	ck_assert_msg(strstr(all, "udp dport 1194 @th,64,8 & 0xf8 == 0x48 ip saddr . udp sport . @th,72,24 != @peers4"),
		      "listing: %s", all);
	ck_assert_msg(strstr(all, "ip6 saddr . udp sport . @th,72,24 != @peers6"), "listing: %s", all);
	ck_assert_msg(strstr(all, "192.0.2.10 . 40001 . 0xa0b0c"), "listing: %s", all);
	ck_assert_msg(strstr(all, "ct state untracked counter"), "listing: %s", all);
}
END_TEST

static Suite *guard_suite(void)
{
	Suite *s = suite_create("dco_guard");
	TCase *tc = tcase_create("packets");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, ipv4_only_listed_remotes);
	tcase_add_test(tc, other_ports_untouched);
	tcase_add_test(tc, ipv6_and_mapped);
	tcase_add_test(tc, bound_address_only);
	tcase_add_test(tc, ipv6_fragments_reassembled_first);
	tcase_add_test(tc, install_again_starts_empty);
	tcase_add_test(tc, listing_reads_like_the_template);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "test_dco_guard: SKIPPED: needs root (network namespaces)\n");
		return 0;
	}
	return check_run(guard_suite());
}
