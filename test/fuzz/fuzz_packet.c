// SPDX-License-Identifier: GPL-2.0-or-later
/* libFuzzer harness for ctrl/proto/packet.c. Each input is used three ways:
 *   1. as one UDP datagram: packet_parse_control and packet_data_peer_id on the whole input;
 *   2. as a TCP byte stream: cut into 2-byte-length-prefixed frames exactly as ctrl/server.c's
 *      on_tcp_readable does, and every frame parsed as in on_tcp_frame;
 *   3. every successful parse is rebuilt with packet_build_control and must give back the same bytes
 *      (build → parse → compare both ways, the libnftnl round-trip pattern).
 * The framing walk is replicated below rather than shared: factoring it out of server.c would mean changing
 * server.c, which this harness must not touch. Keep tcp_walk() in step with on_tcp_readable. */

#include <errno.h>
#include <string.h>

#include "cvpn/packet.h"

#include "fuzz.h"

#define TCP_FRAME_MAX 4096 /* ctrl/server.c */

static void check_roundtrip(const uint8_t *buf, size_t len, const struct ctl_packet *p)
{
	static uint8_t out[2 + 65536];
	struct ctl_packet q = *p, r;
	size_t want = len;
	ssize_t n;

	FUZZ_ASSERT(p->n_acks <= PACKET_MAX_ACKS);
	FUZZ_ASSERT(p->key_id <= 7);
	FUZZ_ASSERT(p->has_mid == (p->opcode != P_ACK_V1));
	FUZZ_ASSERT(p->payload >= buf && p->payload + p->payload_len == buf + len);
	if (len > sizeof(out)) /* only with -max_len above 64 KiB; no datagram or frame is that long */
		return;
	/* A P_ACK_V1 is ACKs only: the builder refuses a payload, the parser hands trailing bytes over. */
	if (p->opcode == P_ACK_V1) {
		want -= p->payload_len;
		q.payload_len = 0;
	}
	n = packet_build_control(&q, out, sizeof(out));
	FUZZ_ASSERT(n >= 0 && (size_t)n == want);
	FUZZ_ASSERT(memcmp(out, buf, want) == 0);
	/* One byte too little room must be refused, never overrun. */
	FUZZ_ASSERT(packet_build_control(&q, out, want - 1) == -ENOSPC);

	FUZZ_ASSERT(packet_parse_control(out, (size_t)n, &r) == 0);
	FUZZ_ASSERT(r.opcode == q.opcode && r.key_id == q.key_id && r.n_acks == q.n_acks);
	FUZZ_ASSERT(memcmp(r.sid, q.sid, PACKET_SID_LEN) == 0);
	FUZZ_ASSERT(memcmp(r.acks, q.acks, sizeof(r.acks[0]) * r.n_acks) == 0);
	if (r.n_acks)
		FUZZ_ASSERT(memcmp(r.peer_sid, q.peer_sid, PACKET_SID_LEN) == 0);
	FUZZ_ASSERT(r.has_mid == q.has_mid && (!r.has_mid || r.mid == q.mid));
	FUZZ_ASSERT(r.payload_len == q.payload_len);
	FUZZ_ASSERT(r.payload_len == 0 || memcmp(r.payload, q.payload, r.payload_len) == 0);
}

/* One packet, as ctrl/server.c sees a datagram or a TCP frame. */
static void one_packet(const uint8_t *buf, size_t len)
{
	struct ctl_packet p;
	uint32_t peer_id = 0;
	uint8_t op;
	int ret;

	ret = packet_data_peer_id(buf, len, &peer_id);
	if (ret == 0)
		FUZZ_ASSERT(peer_id <= PACKET_PEER_ID_UNDEF);
	else
		FUZZ_ASSERT(ret == -EINVAL);

	ret = packet_parse_control(buf, len, &p);
	if (len == 0)
		FUZZ_ASSERT(ret == -EINVAL);
	if (ret < 0) {
		FUZZ_ASSERT(ret == -EINVAL);
		return;
	}
	op = packet_opcode(buf[0]);
	FUZZ_ASSERT(p.opcode == op && p.key_id == packet_key_id(buf[0]));
	FUZZ_ASSERT(!packet_is_data(op) && op >= P_CONTROL_SOFT_RESET_V1 && op <= P_CONTROL_WKC_V1);
	check_roundtrip(buf, len, &p);
}

/* ctrl/server.c on_tcp_readable: the stream arrives in reads of arbitrary size into a buffer of
 * 2 + TCP_FRAME_MAX bytes; complete frames are consumed, the rest moves to the front. Read sizes come from
 * the first byte of the input so the fuzzer also explores frames split across reads. */
static void tcp_walk(const uint8_t *data, size_t size)
{
	static uint8_t rx[2 + TCP_FRAME_MAX];
	size_t rx_len = 0, pos = 0, chunk;
	uint8_t *frame;

	if (size < 1)
		return;
	chunk = (size_t)data[0] % 64 * 67 + 1; /* 1 .. 4222 bytes per read() */
	pos = 1;
	while (pos < size) {
		size_t n = size - pos, off = 0;

		if (n > chunk)
			n = chunk;
		if (n > sizeof(rx) - rx_len)
			n = sizeof(rx) - rx_len;
		/* server.c's read() into a full buffer returns 0 bytes only when the buffer is full, which the
		 * frame limit below rules out; make that an invariant here. */
		FUZZ_ASSERT(n > 0);
		memcpy(rx + rx_len, data + pos, n);
		pos += n;
		rx_len += n;

		while (rx_len - off >= 2) {
			size_t flen = (size_t)rx[off] << 8 | rx[off + 1];

			if (flen > TCP_FRAME_MAX)
				return; /* server closes the connection */
			if (rx_len - off - 2 < flen)
				break;
			/* A heap copy of exactly flen bytes, so ASan sees any read past the frame. */
			frame = malloc(flen ? flen : 1);
			FUZZ_ASSERT(frame);
			memcpy(frame, rx + off + 2, flen);
			if (flen >= 1)
				one_packet(frame, flen);
			free(frame);
			off += 2 + flen;
		}
		memmove(rx, rx + off, rx_len - off);
		rx_len -= off;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	one_packet(data, size);
	tcp_walk(data, size);
	/* The stream seeds start with a length prefix; walking from byte 0 too lets a datagram seed be a stream
	 * and a stream seed keep its first frame whatever the read-size byte is. */
	if (size > 0) {
		uint8_t *shifted = malloc(size + 1);

		FUZZ_ASSERT(shifted);
		shifted[0] = 0x3f; /* reads of 4222 bytes: the whole buffer at once */
		memcpy(shifted + 1, data, size);
		tcp_walk(shifted, size + 1);
		free(shifted);
	}
	return 0;
}
