// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for ctrl/proto/packet.c: control packet build/parse round trips, known wire bytes from
 * openvpn-protocol.md §1.5/§2.2, truncation and malformed input, data packet peer-id. Buffers handed to the
 * parser are heap copies of the exact length, so ASan catches any read past len. */

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cvpn/packet.h"

#include "check_run.h"

static const uint8_t ctl_opcodes[] = {
	P_CONTROL_SOFT_RESET_V1,	P_CONTROL_V1,	     P_ACK_V1,		P_CONTROL_HARD_RESET_CLIENT_V2,
	P_CONTROL_HARD_RESET_SERVER_V2, P_CONTROL_HARD_RESET_CLIENT_V3, P_CONTROL_WKC_V1,
};

static uint8_t *dup_exact(const uint8_t *src, size_t len)
{
	/* malloc(0) may return NULL; keep one byte allocated but still pass len 0. */
	uint8_t *p = malloc(len ? len : 1);

	ck_assert_ptr_nonnull(p);
	if (len)
		memcpy(p, src, len);
	return p;
}

static int parse_exact(const uint8_t *src, size_t len, struct ctl_packet *out)
{
	uint8_t *copy = dup_exact(src, len);
	int ret = packet_parse_control(copy, len, out);

	/* Parsed payload points into copy; callers of this helper only look at payload_len. */
	free(copy);
	return ret;
}

static size_t expected_len(uint8_t op, uint8_t n_acks, size_t payload_len)
{
	return 1 + 8 + 1 + 4u * n_acks + (n_acks ? 8 : 0) + (op == P_ACK_V1 ? 0 : 4) + payload_len;
}

static void fill_packet(struct ctl_packet *p, uint8_t op, uint8_t key_id, uint8_t n_acks, const uint8_t *payload,
			size_t payload_len)
{
	memset(p, 0, sizeof(*p));
	p->opcode = op;
	p->key_id = key_id;
	for (int i = 0; i < PACKET_SID_LEN; i++) {
		p->sid[i] = (uint8_t)(0xa0 + i);
		p->peer_sid[i] = (uint8_t)(0x50 + 3 * i);
	}
	p->n_acks = n_acks;
	for (int i = 0; i < n_acks && i < PACKET_MAX_ACKS; i++)
		p->acks[i] = 0x01020304u * (uint32_t)(i + 1) + (uint32_t)i;
	p->mid = 0xdeadbe00u + op;
	p->payload = payload;
	p->payload_len = payload_len;
}

START_TEST(test_round_trip)
{
	static const uint8_t n_acks_list[] = { 0, 1, 4, 8 };
	static const size_t plen_list[] = { 0, 1, 1200 };
	uint8_t payload[1200];
	uint8_t buf[1400];
	int checked = 0;

	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7 + 3);

	for (size_t o = 0; o < sizeof(ctl_opcodes); o++) {
		for (size_t a = 0; a < sizeof(n_acks_list); a++) {
			for (size_t l = 0; l < sizeof(plen_list) / sizeof(plen_list[0]); l++) {
				uint8_t op = ctl_opcodes[o], na = n_acks_list[a];
				size_t plen = plen_list[l];
				uint8_t key_id = (uint8_t)((o + a + l) & 7);
				struct ctl_packet in, out;
				ssize_t n;
				uint8_t *copy;

				fill_packet(&in, op, key_id, na, payload, plen);
				n = packet_build_control(&in, buf, sizeof(buf));
				if (op == P_ACK_V1 && (na == 0 || plen > 0)) {
					/* An ACK needs ACKs and carries nothing else. */
					ck_assert_int_eq(n, -EINVAL);
					continue;
				}
				ck_assert_int_eq(n, (ssize_t)expected_len(op, na, plen));
				ck_assert_uint_eq(buf[0], (unsigned)(op << 3 | key_id));
				ck_assert_uint_eq(buf[9], na);

				copy = dup_exact(buf, (size_t)n);
				memset(&out, 0x5a, sizeof(out));
				ck_assert_int_eq(packet_parse_control(copy, (size_t)n, &out), 0);
				ck_assert_uint_eq(out.opcode, op);
				ck_assert_uint_eq(out.key_id, key_id);
				ck_assert_mem_eq(out.sid, in.sid, PACKET_SID_LEN);
				ck_assert_uint_eq(out.n_acks, na);
				for (int k = 0; k < na; k++)
					ck_assert_uint_eq(out.acks[k], in.acks[k]);
				if (na)
					ck_assert_mem_eq(out.peer_sid, in.peer_sid, PACKET_SID_LEN);
				ck_assert(out.has_mid == (op != P_ACK_V1));
				if (out.has_mid)
					ck_assert_uint_eq(out.mid, in.mid);
				ck_assert_uint_eq(out.payload_len, plen);
				ck_assert_ptr_eq(out.payload, copy + (size_t)n - plen);
				if (plen)
					ck_assert_mem_eq(out.payload, payload, plen);
				free(copy);

				/* Every capacity below the exact length is refused without writing past cap. */
				for (size_t cap = 0; cap < (size_t)n; cap += (cap < 40 ? 1 : 97)) {
					uint8_t *small = malloc(cap ? cap : 1);

					ck_assert_ptr_nonnull(small);
					ck_assert_int_eq(packet_build_control(&in, small, cap), -ENOSPC);
					free(small);
				}
				checked++;
			}
		}
	}
	/* 7 opcodes x 4 ACK counts x 3 sizes, minus the 9 invalid P_ACK_V1 combinations. */
	ck_assert_int_eq(checked, 7 * 4 * 3 - 9);
}
END_TEST

START_TEST(test_build_mid_ignored_has_mid)
{
	struct ctl_packet p;
	uint8_t buf[64];

	/* has_mid is implied by the opcode, whatever the caller put there. */
	fill_packet(&p, P_CONTROL_V1, 0, 0, NULL, 0);
	p.has_mid = false;
	ck_assert_int_eq(packet_build_control(&p, buf, sizeof(buf)), 14);
	fill_packet(&p, P_ACK_V1, 0, 1, NULL, 0);
	p.has_mid = true;
	ck_assert_int_eq(packet_build_control(&p, buf, sizeof(buf)), 22);
}
END_TEST

START_TEST(test_build_invalid)
{
	struct ctl_packet p;
	uint8_t buf[128];

	fill_packet(&p, P_CONTROL_V1, 0, 9, NULL, 0);
	ck_assert_int_eq(packet_build_control(&p, buf, sizeof(buf)), -EINVAL);
	fill_packet(&p, P_CONTROL_V1, 8, 0, NULL, 0);
	ck_assert_int_eq(packet_build_control(&p, buf, sizeof(buf)), -EINVAL);
	fill_packet(&p, P_CONTROL_V1, 0, 0, NULL, 5);
	ck_assert_int_eq(packet_build_control(&p, buf, sizeof(buf)), -EINVAL);
	for (unsigned op = 0; op < 32; op++) {
		bool ctl = op >= 3 && op <= 11 && op != P_DATA_V1 && op != P_DATA_V2;

		fill_packet(&p, (uint8_t)op, 0, 1, NULL, 0);
		if (ctl)
			ck_assert_int_gt(packet_build_control(&p, buf, sizeof(buf)), 0);
		else
			ck_assert_int_eq(packet_build_control(&p, buf, sizeof(buf)), -EINVAL);
	}
}
END_TEST

/* §2.2: the stateless server reset, no wrapping. */
START_TEST(test_stateless_server_reset_bytes)
{
	static const uint8_t ss[8] = { 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88 };
	static const uint8_t sc[8] = { 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8 };
	static const uint8_t want[26] = {
		0x40,					/* opcode 8, key_id 0 */
		0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, /* Ss */
		0x01,					/* one ACK */
		0x00, 0x00, 0x00, 0x00,			/* ACK of mid 0 */
		0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, /* Sc */
		0x00, 0x00, 0x00, 0x00,			/* mid 0 */
	};
	struct ctl_packet p, q;
	uint8_t buf[64];
	ssize_t n;

	memset(&p, 0, sizeof(p));
	p.opcode = P_CONTROL_HARD_RESET_SERVER_V2;
	memcpy(p.sid, ss, 8);
	p.n_acks = 1;
	p.acks[0] = 0;
	memcpy(p.peer_sid, sc, 8);
	p.mid = 0;
	n = packet_build_control(&p, buf, sizeof(buf));
	ck_assert_int_eq(n, 26);
	ck_assert_mem_eq(buf, want, 26);

	/* And the same bytes parse back to it. */
	ck_assert_int_eq(parse_exact(want, sizeof(want), &q), 0);
	ck_assert_uint_eq(q.opcode, P_CONTROL_HARD_RESET_SERVER_V2);
	ck_assert_uint_eq(q.key_id, 0);
	ck_assert_mem_eq(q.sid, ss, 8);
	ck_assert_uint_eq(q.n_acks, 1);
	ck_assert_uint_eq(q.acks[0], 0);
	ck_assert_mem_eq(q.peer_sid, sc, 8);
	ck_assert(q.has_mid);
	ck_assert_uint_eq(q.mid, 0);
	ck_assert_uint_eq(q.payload_len, 0);
}
END_TEST

START_TEST(test_parse_ack_v1_bytes)
{
	static const uint8_t pkt[] = {
		0x2b,						/* P_ACK_V1, key_id 3 */
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* own sid */
		0x03,						/* three ACKs */
		0x00, 0x00, 0x00, 0x07,
		0x00, 0x00, 0x01, 0x00,
		0xfe, 0xdc, 0xba, 0x98,
		0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, /* peer sid */
	};
	static const uint8_t sid[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	static const uint8_t psid[8] = { 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8 };
	struct ctl_packet q;

	ck_assert_int_eq(parse_exact(pkt, sizeof(pkt), &q), 0);
	ck_assert_uint_eq(q.opcode, P_ACK_V1);
	ck_assert_uint_eq(q.key_id, 3);
	ck_assert_mem_eq(q.sid, sid, 8);
	ck_assert_uint_eq(q.n_acks, 3);
	ck_assert_uint_eq(q.acks[0], 7);
	ck_assert_uint_eq(q.acks[1], 256);
	ck_assert_uint_eq(q.acks[2], 0xfedcba98u);
	ck_assert_mem_eq(q.peer_sid, psid, 8);
	ck_assert(!q.has_mid);
	ck_assert_uint_eq(q.payload_len, 0);

	/* P_ACK_V1 claiming zero ACKs is invalid even though it is otherwise well-formed. */
	{
		uint8_t zero[10];

		memcpy(zero, pkt, 10);
		zero[9] = 0;
		ck_assert_int_eq(parse_exact(zero, sizeof(zero), &q), -EINVAL);
	}
}
END_TEST

/* Checks every prefix of a valid packet whose header is hdr_len bytes: shorter prefixes fail, longer ones
 * parse with the rest as payload (payload = rest, so a cut inside the payload is not detectable). */
static void check_truncations(const struct ctl_packet *in, size_t hdr_len)
{
	uint8_t buf[1400];
	ssize_t n = packet_build_control(in, buf, sizeof(buf));

	ck_assert_int_gt(n, 0);
	for (size_t k = 0; k < (size_t)n; k++) {
		struct ctl_packet q;
		int ret = parse_exact(buf, k, &q);

		if (k < hdr_len)
			ck_assert_msg(ret == -EINVAL, "op %u len %zu/%zd: got %d", in->opcode, k, n, ret);
		else
			ck_assert_msg(ret == 0 && q.payload_len == k - hdr_len, "op %u len %zu/%zd", in->opcode,
				      k, n);
	}
}

START_TEST(test_truncations)
{
	static const uint8_t n_acks_list[] = { 0, 1, 4, 8 };
	uint8_t payload[40];
	struct ctl_packet p;

	memset(payload, 0xee, sizeof(payload));
	for (size_t o = 0; o < sizeof(ctl_opcodes); o++) {
		for (size_t a = 0; a < sizeof(n_acks_list); a++) {
			uint8_t op = ctl_opcodes[o], na = n_acks_list[a];

			if (op == P_ACK_V1 && na == 0)
				continue;
			/* Header-only packets: every proper prefix must fail. */
			fill_packet(&p, op, 1, na, NULL, 0);
			check_truncations(&p, expected_len(op, na, 0));
			if (op == P_ACK_V1)
				continue;
			fill_packet(&p, op, 1, na, payload, sizeof(payload));
			check_truncations(&p, expected_len(op, na, 0));
		}
	}
}
END_TEST

START_TEST(test_too_many_acks)
{
	uint8_t buf[1 + 8 + 1 + 4 * 255 + 8 + 4];
	struct ctl_packet q;

	memset(buf, 0, sizeof(buf));
	buf[0] = P_CONTROL_V1 << 3;
	/* 8 ACKs with all bytes present parses; 9 or more never does, however long the buffer. */
	buf[9] = 8;
	ck_assert_int_eq(parse_exact(buf, 1 + 8 + 1 + 32 + 8 + 4, &q), 0);
	ck_assert_uint_eq(q.n_acks, 8);
	buf[9] = 9;
	ck_assert_int_eq(parse_exact(buf, 1 + 8 + 1 + 36 + 8 + 4, &q), -EINVAL);
	ck_assert_int_eq(parse_exact(buf, sizeof(buf), &q), -EINVAL);
	buf[9] = 255;
	ck_assert_int_eq(parse_exact(buf, sizeof(buf), &q), -EINVAL);
	buf[0] = P_ACK_V1 << 3;
	buf[9] = 9;
	ck_assert_int_eq(parse_exact(buf, 1 + 8 + 1 + 36 + 8, &q), -EINVAL);
}
END_TEST

START_TEST(test_bad_opcodes)
{
	uint8_t buf[64];
	struct ctl_packet q;

	/* A buffer that would be a valid control packet (1 ACK, mid, payload) for any control opcode. */
	memset(buf, 0x11, sizeof(buf));
	buf[9] = 1;
	for (unsigned op = 0; op < 32; op++) {
		bool ok = op >= 3 && op <= 11 && op != P_DATA_V1 && op != P_DATA_V2;

		for (unsigned kid = 0; kid < 8; kid += 7) {
			buf[0] = (uint8_t)(op << 3 | kid);
			if (ok)
				ck_assert_int_eq(parse_exact(buf, sizeof(buf), &q), 0);
			else
				ck_assert_msg(parse_exact(buf, sizeof(buf), &q) == -EINVAL, "opcode %u accepted", op);
		}
	}
	ck_assert_int_eq(packet_parse_control(NULL, 0, &q), -EINVAL);
}
END_TEST

START_TEST(test_data_peer_id)
{
	static const uint8_t v2[] = { 0x48, 0x12, 0x34, 0x56, 0, 0, 0, 1 };
	static const uint8_t v2_kid[] = { 0x4d, 0x00, 0x00, 0x07 };
	static const uint8_t v2_undef[] = { 0x48, 0xff, 0xff, 0xff };
	static const uint8_t v1[] = { 0x31, 0, 0, 0, 1 };
	static const uint8_t ctl[] = { 0x20, 1, 2, 3, 4, 5 };
	uint32_t id = 0;

	ck_assert_int_eq(packet_data_peer_id(v2, sizeof(v2), &id), 0);
	ck_assert_uint_eq(id, 0x123456);
	ck_assert_int_eq(packet_data_peer_id(v2_kid, sizeof(v2_kid), &id), 0);
	ck_assert_uint_eq(id, 7);
	ck_assert_int_eq(packet_data_peer_id(v2_undef, sizeof(v2_undef), &id), 0);
	ck_assert_uint_eq(id, PACKET_PEER_ID_UNDEF);
	id = 0;
	ck_assert_int_eq(packet_data_peer_id(v1, 1, &id), 0);
	ck_assert_uint_eq(id, PACKET_PEER_ID_UNDEF);
	for (size_t k = 0; k < 4; k++) {
		uint8_t *c = dup_exact(v2, k);

		ck_assert_int_eq(packet_data_peer_id(c, k, &id), -EINVAL);
		free(c);
	}
	ck_assert_int_eq(packet_data_peer_id(ctl, sizeof(ctl), &id), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("packet");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_build_mid_ignored_has_mid);
	tcase_add_test(tc, test_build_invalid);
	tcase_add_test(tc, test_stateless_server_reset_bytes);
	tcase_add_test(tc, test_parse_ack_v1_bytes);
	tcase_add_test(tc, test_truncations);
	tcase_add_test(tc, test_too_many_acks);
	tcase_add_test(tc, test_bad_opcodes);
	tcase_add_test(tc, test_data_peer_id);
	suite_add_tcase(s, tc);
	return check_run(s);
}
