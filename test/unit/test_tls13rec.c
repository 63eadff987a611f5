// SPDX-License-Identifier: GPL-2.0-or-later
/* tls13rec.c: TLS 1.3 record protection against the RFC 8448 §3 trace (TLS_AES_128_GCM_SHA256), and what
 * a protected record may and may not look like. Interop with wolfSSL for all three suites is in test_tls. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "cvpn/tls13rec.h"

#include "check_run.h"
#include "test_util.h"

/* RFC 8448 §3, "Simple 1-RTT Handshake": application traffic keys and the records sent under them */
static const char client_key[] = "17422dda596ed5d9acd890e3c63f5051";
static const char client_iv[] = "5b78923dee08579033e523d9";
static const char server_key[] = "9f02283b6c9c07efc26bb9f2ac92e356";
static const char server_iv[] = "cf782b88dd83549aadf1e984";
static const char payload[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
			      "202122232425262728292a2b2c2d2e2f3031";
/* the client's first record under its application key (sequence 0) */
static const char client_record[] = "1703030043a23f7054b62c94d0affafe8228ba55cbefacea42f914aa66bcab3f2b9819a8a5b4"
				    "6b395bd54a9a20441e2b62974e1f5a6292a2977014bd1e3deae63aeebb21694915e4";
/* the server's second (sequence 1; its NewSessionTicket went first) */
static const char server_record[] = "17030300432e937e11ef4ac740e538ad36005fc4a46932fc3225d05f82aa1b36e30efaf97d90"
				    "e6dffc602dcb501a59a8fcc49c4bf2e5f0a21c0047c2abf332540dd032e167c2955d";
/* the server's NewSessionTicket (sequence 0): a handshake message inside an application-data record */
static const char nst_record[] =
	"17030300de3a6b8f90414a97d6959c3487680de5134a2b240e6cffac116e95d41d6af8f6b580dcf3d11d63c758db289a015940"
	"252f55713e061dc13e078891a38efbcf5753ad8ef170ad3c7353d16d9da773b9ca7f2b9fa1b6c0d4a3d03f75e09c30ba1e6297"
	"2ac46f75f7b981be63439b2999ce13064615139891d5e4c5b406f16e3fc181a77ca475840025db2f0a77f81b5ab05b94c01346"
	"755f69232c86519d86cbeeac87aac347d143f9605d64f650db4d023e70e952ca49fe5137121c74bc2697687e248746d6df3530"
	"05f3bce18696129c8153556b3b6c6779b37bf15985684f";

/* The server's end of the trace: it reads the client's records and writes its own. */
static void server_end(struct tls13_rec *r)
{
	memset(r, 0, sizeof(*r));
	r->aead = TLS13_AES_128_GCM_SHA256;
	ck_assert_uint_eq(unhex(client_key, r->rx.key, sizeof(r->rx.key)), 16);
	ck_assert_uint_eq(unhex(client_iv, r->rx.iv, sizeof(r->rx.iv)), 12);
	ck_assert_uint_eq(unhex(server_key, r->tx.key, sizeof(r->tx.key)), 16);
	ck_assert_uint_eq(unhex(server_iv, r->tx.iv, sizeof(r->tx.iv)), 12);
}

START_TEST(test_rfc8448_open)
{
	struct tls13_rec r;
	uint8_t rec[512], want[64], out[512], type = 0;
	size_t len, wlen = unhex(payload, want, sizeof(want));
	ssize_t n;

	server_end(&r);
	len = unhex(client_record, rec, sizeof(rec));
	ck_assert_int_eq(tls13_record_len(rec, len), (ssize_t)len);
	n = tls13_open(&r, rec, len, out, sizeof(out), &type);
	ck_assert_int_eq(n, (ssize_t)wlen);
	ck_assert_uint_eq(type, TLS13_CT_APPLICATION_DATA);
	ck_assert_mem_eq(out, want, wlen);
	ck_assert_uint_eq(r.rx.seq, 1);
	/* the same record again is under the wrong sequence number now: refused, and nothing moves */
	ck_assert_int_eq(tls13_open(&r, rec, len, out, sizeof(out), &type), -EBADMSG);
	ck_assert_uint_eq(r.rx.seq, 1);

	/* the client's end reads the server's NewSessionTicket (a handshake message) and its data record */
	memset(&r, 0, sizeof(r));
	r.aead = TLS13_AES_128_GCM_SHA256;
	unhex(server_key, r.rx.key, sizeof(r.rx.key));
	unhex(server_iv, r.rx.iv, sizeof(r.rx.iv));
	len = unhex(nst_record, rec, sizeof(rec));
	n = tls13_open(&r, rec, len, out, sizeof(out), &type);
	ck_assert_int_eq(n, 205);
	ck_assert_uint_eq(type, TLS13_CT_HANDSHAKE);
	ck_assert_uint_eq(out[0], 4); /* new_session_ticket */
	ck_assert_uint_eq((unsigned)out[1] << 16 | (unsigned)out[2] << 8 | out[3], 201);
	len = unhex(server_record, rec, sizeof(rec));
	n = tls13_open(&r, rec, len, out, sizeof(out), &type);
	ck_assert_int_eq(n, (ssize_t)wlen);
	ck_assert_mem_eq(out, want, wlen);
}
END_TEST

START_TEST(test_rfc8448_seal)
{
	struct tls13_rec r;
	uint8_t in[64], want[512], out[512];
	size_t len = unhex(payload, in, sizeof(in)), wlen = unhex(server_record, want, sizeof(want));

	server_end(&r);
	r.tx.seq = 1;
	ck_assert_int_eq(tls13_seal(&r, TLS13_CT_APPLICATION_DATA, in, len, out, sizeof(out)), (ssize_t)wlen);
	ck_assert_mem_eq(out, want, wlen);
	ck_assert_uint_eq(r.tx.seq, 2);
	/* too small an output buffer: nothing sealed, the sequence number stays */
	ck_assert_int_eq(tls13_seal(&r, TLS13_CT_APPLICATION_DATA, in, len, out, TLS13_SEALED_LEN(len) - 1),
			 -ENOSPC);
	ck_assert_uint_eq(r.tx.seq, 2);
}
END_TEST

/* Sealing with one end's tx and opening with the other's rx, for each suite and a range of lengths. */
START_TEST(test_round_trip_all_suites)
{
	static uint8_t in[TLS13_MAX_PLAINTEXT + 1], rec[TLS13_SEALED_LEN(TLS13_MAX_PLAINTEXT + 1)],
		out[TLS13_MAX_CIPHERTEXT];
	static const size_t lens[] = { 0, 1, 15, 16, 17, 1000, TLS13_MAX_PLAINTEXT };
	struct tls13_rec a, b;
	uint8_t type = 0;
	ssize_t n, m;

	memset(&a, 0, sizeof(a));
	a.aead = (enum tls13_aead)_i;
	for (size_t i = 0; i < sizeof(a.tx.key); i++)
		a.tx.key[i] = (uint8_t)(i * 3 + 1);
	for (size_t i = 0; i < sizeof(a.tx.iv); i++)
		a.tx.iv[i] = (uint8_t)(0xa0 + i);
	a.tx.seq = 0xfffffffeULL; /* past 32 bits: the whole 64-bit number goes into the nonce */
	memset(&b, 0, sizeof(b));
	b.aead = a.aead;
	b.rx = a.tx;
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i ^ (i >> 8));
	for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		n = tls13_seal(&a, TLS13_CT_APPLICATION_DATA, in, lens[k], rec, sizeof(rec));
		ck_assert_int_eq(n, (ssize_t)TLS13_SEALED_LEN(lens[k]));
		ck_assert_int_eq(tls13_record_len(rec, (size_t)n), n);
		m = tls13_open(&b, rec, (size_t)n, out, sizeof(out), &type);
		ck_assert_int_eq(m, (ssize_t)lens[k]);
		ck_assert_uint_eq(type, TLS13_CT_APPLICATION_DATA);
		ck_assert_mem_eq(out, in, lens[k]);
	}
	ck_assert_uint_eq(b.rx.seq, a.tx.seq);
	ck_assert_int_eq(tls13_seal(&a, TLS13_CT_APPLICATION_DATA, in, TLS13_MAX_PLAINTEXT + 1, rec, sizeof(rec)),
			 -EMSGSIZE);
	/* one flipped bit anywhere (header, body, tag): refused, and the sequence number does not move */
	n = tls13_seal(&a, TLS13_CT_ALERT, (const uint8_t *)"\x01\x00", 2, rec, sizeof(rec));
	for (ssize_t pos = 0; pos < n; pos += 5) {
		rec[pos] ^= 0x10;
		ck_assert_int_lt(tls13_open(&b, rec, (size_t)n, out, sizeof(out), &type), 0);
		rec[pos] ^= 0x10;
	}
	ck_assert_int_eq(tls13_open(&b, rec, (size_t)n, out, sizeof(out), &type), 2);
	ck_assert_uint_eq(type, TLS13_CT_ALERT);
	/* the last sequence number is never used: the connection must end instead */
	a.tx.seq = UINT64_MAX;
	ck_assert_int_eq(tls13_seal(&a, TLS13_CT_APPLICATION_DATA, in, 1, rec, sizeof(rec)), -EOVERFLOW);
}
END_TEST

/* Padding (§5.4): zeros after the real type are stripped; a record of nothing but zeros has no type. */
START_TEST(test_padding)
{
	struct tls13_rec a, b;
	uint8_t rec[128], out[128], type = 0;
	ssize_t n;

	memset(&a, 0, sizeof(a));
	a.aead = TLS13_CHACHA20_POLY1305_SHA256;
	memset(a.tx.key, 0x42, sizeof(a.tx.key));
	b = a;
	b.rx = a.tx;
	/* sealing content "hi" 0x17 0 0 0 with type 0 makes the inner plaintext "hi", type 23, four zeros */
	n = tls13_seal(&a, 0, (const uint8_t *)"hi\x17\0\0\0", 6, rec, sizeof(rec));
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(tls13_open(&b, rec, (size_t)n, out, sizeof(out), &type), 2);
	ck_assert_uint_eq(type, TLS13_CT_APPLICATION_DATA);
	ck_assert_mem_eq(out, "hi", 2);
	n = tls13_seal(&a, 0, (const uint8_t *)"\0\0\0", 3, rec, sizeof(rec));
	ck_assert_int_eq(tls13_open(&b, rec, (size_t)n, out, sizeof(out), &type), -EBADMSG);
	ck_assert_uint_eq(b.rx.seq, 1); /* refused: the sequence number stays */
}
END_TEST

START_TEST(test_record_headers)
{
	uint8_t h[TLS13_HEADER_LEN] = { 23, 3, 3, 0, 17 };

	ck_assert_int_eq(tls13_record_len(h, 4), 0); /* header incomplete */
	ck_assert_int_eq(tls13_record_len(h, 5), 22);
	h[4] = 16; /* a tag and no type byte */
	ck_assert_int_eq(tls13_record_len(h, 5), -EBADMSG);
	h[3] = (TLS13_MAX_CIPHERTEXT >> 8);
	h[4] = (uint8_t)TLS13_MAX_CIPHERTEXT;
	ck_assert_int_eq(tls13_record_len(h, 5), TLS13_HEADER_LEN + TLS13_MAX_CIPHERTEXT);
	h[4]++;
	ck_assert_int_eq(tls13_record_len(h, 5), -EBADMSG);
	h[3] = 0;
	h[4] = 40;
	h[0] = 22; /* a plaintext handshake record after the handshake */
	ck_assert_int_eq(tls13_record_len(h, 5), -EBADMSG);
	h[0] = 23;
	h[2] = 1; /* legacy version 0x0301 */
	ck_assert_int_eq(tls13_record_len(h, 5), -EBADMSG);
	ck_assert_str_eq(tls13_suite_name(TLS13_AES_256_GCM_SHA384), "TLS_AES_256_GCM_SHA384");
	ck_assert_uint_eq(tls13_key_len(TLS13_AES_128_GCM_SHA256), 16);
	ck_assert_uint_eq(tls13_key_len(TLS13_CHACHA20_POLY1305_SHA256), 32);
}
END_TEST

static Suite *tls13rec_suite(void)
{
	Suite *s = suite_create("tls13rec");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_rfc8448_open);
	tcase_add_test(tc, test_rfc8448_seal);
	tcase_add_loop_test(tc, test_round_trip_all_suites, TLS13_AES_128_GCM_SHA256,
			    TLS13_CHACHA20_POLY1305_SHA256 + 1);
	tcase_add_test(tc, test_padding);
	tcase_add_test(tc, test_record_headers);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(tls13rec_suite());
}
