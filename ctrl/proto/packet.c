// SPDX-License-Identifier: GPL-2.0-or-later
/* OpenVPN outer packets: unwrapped control packets and the data packet header (openvpn-protocol.md §1.5,
 * §6.1). Pure code, no I/O. The parser sees hostile bytes from unauthenticated peers and is fuzzed: every
 * read is preceded by a length check against what is left. */

#include <errno.h>
#include <limits.h>
#include <string.h>

#include "cvpn/packet.h"

const uint8_t packet_ping_magic[PACKET_MAGIC_LEN] = { 0x2a, 0x18, 0x7b, 0xf3, 0x64, 0x1e, 0xb4, 0xcb,
						      0x07, 0xed, 0x2d, 0x0a, 0x98, 0x1f, 0xc7, 0x48 };
const uint8_t packet_occ_magic[PACKET_MAGIC_LEN] = { 0x28, 0x7f, 0x34, 0x6b, 0xd4, 0xef, 0x7a, 0x81,
						     0x2d, 0x56, 0xb8, 0xd3, 0xaf, 0xc5, 0x45, 0x9c };

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

/* Control opcodes 2.6 accepts (3..11). The key-method-1 hard resets (1, 2) are obsolete and 2.6 rejects
 * them, so we treat them as unknown; the data opcodes are not control packets. */
static bool is_control_opcode(uint8_t op)
{
	switch (op) {
	case P_CONTROL_SOFT_RESET_V1:
	case P_CONTROL_V1:
	case P_ACK_V1:
	case P_CONTROL_HARD_RESET_CLIENT_V2:
	case P_CONTROL_HARD_RESET_SERVER_V2:
	case P_CONTROL_HARD_RESET_CLIENT_V3:
	case P_CONTROL_WKC_V1:
		return true;
	default:
		return false;
	}
}

int packet_parse_control(const uint8_t *buf, size_t len, struct ctl_packet *out)
{
	struct ctl_packet p;
	size_t off = 0;
	int ret = -EINVAL;

	memset(&p, 0, sizeof(p));
	if (!buf || len < 1 + PACKET_SID_LEN + 1)
		goto out;
	p.opcode = packet_opcode(buf[0]);
	p.key_id = packet_key_id(buf[0]);
	if (!is_control_opcode(p.opcode))
		goto out;
	off = 1;
	memcpy(p.sid, buf + off, PACKET_SID_LEN);
	off += PACKET_SID_LEN;

	p.n_acks = buf[off++];
	if (p.n_acks > PACKET_MAX_ACKS)
		goto out;
	if (p.opcode == P_ACK_V1 && p.n_acks == 0)
		goto out;
	if (p.n_acks > 0) {
		/* off <= len holds here, so the subtraction cannot wrap. */
		if (len - off < (size_t)p.n_acks * 4 + PACKET_SID_LEN)
			goto out;
		for (uint8_t i = 0; i < p.n_acks; i++, off += 4)
			p.acks[i] = get_be32(buf + off);
		memcpy(p.peer_sid, buf + off, PACKET_SID_LEN);
		off += PACKET_SID_LEN;
	}

	if (p.opcode != P_ACK_V1) {
		if (len - off < 4)
			goto out;
		p.has_mid = true;
		p.mid = get_be32(buf + off);
		off += 4;
	}

	/* 2.6 ignores anything after the ACK block of a P_ACK_V1; we hand it over as payload and let the
	 * caller decide. */
	p.payload = buf + off;
	p.payload_len = len - off;
	*out = p;
	ret = 0;
out:
	return ret;
}

ssize_t packet_build_control(const struct ctl_packet *p, uint8_t *out, size_t cap)
{
	bool is_ack;
	size_t need, off = 0;
	ssize_t ret = -EINVAL;

	if (!p || !is_control_opcode(p->opcode) || p->key_id > 7 || p->n_acks > PACKET_MAX_ACKS)
		goto out;
	is_ack = p->opcode == P_ACK_V1;
	/* A P_ACK_V1 carries ACKs and nothing else (§1.5). */
	if (is_ack && (p->n_acks == 0 || p->payload_len > 0))
		goto out;
	if (p->payload_len > 0 && !p->payload)
		goto out;

	need = 1 + PACKET_SID_LEN + 1 + (size_t)p->n_acks * 4 + (p->n_acks ? PACKET_SID_LEN : 0) +
	       (is_ack ? 0 : 4);
	if (p->payload_len > SSIZE_MAX - need) {
		ret = -ENOSPC;
		goto out;
	}
	need += p->payload_len;
	if (!out || cap < need) {
		ret = -ENOSPC;
		goto out;
	}

	out[off++] = (uint8_t)(p->opcode << 3 | p->key_id);
	memcpy(out + off, p->sid, PACKET_SID_LEN);
	off += PACKET_SID_LEN;
	out[off++] = p->n_acks;
	if (p->n_acks > 0) {
		for (uint8_t i = 0; i < p->n_acks; i++, off += 4)
			put_be32(out + off, p->acks[i]);
		memcpy(out + off, p->peer_sid, PACKET_SID_LEN);
		off += PACKET_SID_LEN;
	}
	if (!is_ack) {
		put_be32(out + off, p->mid);
		off += 4;
	}
	if (p->payload_len > 0) {
		memcpy(out + off, p->payload, p->payload_len);
		off += p->payload_len;
	}
	ret = (ssize_t)off;
out:
	return ret;
}

int packet_data_peer_id(const uint8_t *buf, size_t len, uint32_t *peer_id)
{
	uint8_t op;

	if (!buf || len < 1)
		return -EINVAL;
	op = packet_opcode(buf[0]);
	if (op == P_DATA_V1) {
		*peer_id = PACKET_PEER_ID_UNDEF;
		return 0;
	}
	if (op != P_DATA_V2 || len < 4)
		return -EINVAL;
	*peer_id = (uint32_t)buf[1] << 16 | (uint32_t)buf[2] << 8 | buf[3];
	return 0;
}
