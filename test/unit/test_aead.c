// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for dataplane/aead.c: the OpenVPN 2.6 AEAD data channel (openvpn-protocol.md §5.1, §6.1, §6.2).
 *
 * The direction slicing of the key block is pinned without trusting aead_seal: the test carries its own
 * one-shot EVP encryptor/decryptor, first checked against published known answers (McGrew-Viega GCM test
 * cases 15/16, RFC 8439 §2.8.2), then used to play the client's side of the wire. */

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "cvpn/aead.h"

#include "check_run.h"
#include "test_util.h"

static const enum cvpn_cipher ciphers[] = {
	CVPN_CIPHER_AES_128_GCM,
	CVPN_CIPHER_AES_256_GCM,
	CVPN_CIPHER_CHACHA20_POLY1305,
};
#define N_CIPHERS (sizeof(ciphers) / sizeof(ciphers[0]))

static const size_t sizes[] = { 0, 1, 1400, 9000 };
#define N_SIZES (sizeof(sizes) / sizeof(sizes[0]))

#define MAXPKT (9000 + AEAD_OVERHEAD)

static const EVP_CIPHER *evp_of(enum cvpn_cipher c, size_t *key_len)
{
	switch (c) {
	case CVPN_CIPHER_AES_128_GCM:
		*key_len = 16;
		return EVP_aes_128_gcm();
	case CVPN_CIPHER_AES_256_GCM:
		*key_len = 32;
		return EVP_aes_256_gcm();
	case CVPN_CIPHER_CHACHA20_POLY1305:
		*key_len = 32;
		return EVP_chacha20_poly1305();
	default:
		ck_abort_msg("no such cipher");
	}
	return NULL;
}

/* Independent one-shot AEAD with a fresh context per call (unlike aead.c, which keys once). */
static void ref_seal(const EVP_CIPHER *evp, const uint8_t *key, const uint8_t iv[12], const uint8_t *aad,
		     size_t aad_len, const uint8_t *pt, size_t len, uint8_t *ct, uint8_t tag[16])
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int outl;

	ck_assert_ptr_nonnull(ctx);
	ck_assert_int_eq(EVP_EncryptInit_ex(ctx, evp, NULL, NULL, NULL), 1);
	ck_assert_int_eq(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL), 1);
	ck_assert_int_eq(EVP_EncryptInit_ex(ctx, NULL, NULL, key, iv), 1);
	if (aad_len)
		ck_assert_int_eq(EVP_EncryptUpdate(ctx, NULL, &outl, aad, (int)aad_len), 1);
	if (len) {
		ck_assert_int_eq(EVP_EncryptUpdate(ctx, ct, &outl, pt, (int)len), 1);
		ck_assert_int_eq(outl, (int)len);
	}
	ck_assert_int_eq(EVP_EncryptFinal_ex(ctx, ct + len, &outl), 1);
	ck_assert_int_eq(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, tag), 1);
	EVP_CIPHER_CTX_free(ctx);
}

static bool ref_open(const EVP_CIPHER *evp, const uint8_t *key, const uint8_t iv[12], const uint8_t *aad,
		     size_t aad_len, const uint8_t *ct, size_t len, const uint8_t tag[16], uint8_t *pt)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	uint8_t t[16];
	int outl, ok;

	memcpy(t, tag, 16);
	ck_assert_ptr_nonnull(ctx);
	ck_assert_int_eq(EVP_DecryptInit_ex(ctx, evp, NULL, NULL, NULL), 1);
	ck_assert_int_eq(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL), 1);
	ck_assert_int_eq(EVP_DecryptInit_ex(ctx, NULL, NULL, key, iv), 1);
	ck_assert_int_eq(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, t), 1);
	if (aad_len)
		ck_assert_int_eq(EVP_DecryptUpdate(ctx, NULL, &outl, aad, (int)aad_len), 1);
	if (len)
		ck_assert_int_eq(EVP_DecryptUpdate(ctx, pt, &outl, ct, (int)len), 1);
	ok = EVP_DecryptFinal_ex(ctx, pt + len, &outl);
	EVP_CIPHER_CTX_free(ctx);
	return ok == 1;
}

static void kat(const EVP_CIPHER *evp, const char *key_hex, const char *iv_hex, const char *aad_hex,
		const uint8_t *pt, size_t pt_len, const char *ct_hex, const char *tag_hex)
{
	uint8_t key[32], iv[12], aad[64], ct[128], tag[16], got[128], gtag[16], back[128];
	size_t aad_len, ct_len;

	unhex(key_hex, key, sizeof(key));
	ck_assert_uint_eq(unhex(iv_hex, iv, sizeof(iv)), 12);
	aad_len = unhex(aad_hex, aad, sizeof(aad));
	ct_len = unhex(ct_hex, ct, sizeof(ct));
	ck_assert_uint_eq(unhex(tag_hex, tag, sizeof(tag)), 16);
	ck_assert_uint_eq(ct_len, pt_len);
	ref_seal(evp, key, iv, aad, aad_len, pt, pt_len, got, gtag);
	ck_assert_mem_eq(got, ct, ct_len);
	ck_assert_mem_eq(gtag, tag, 16);
	ck_assert(ref_open(evp, key, iv, aad, aad_len, ct, ct_len, tag, back));
	ck_assert_mem_eq(back, pt, pt_len);
	tag[5] ^= 1;
	ck_assert(!ref_open(evp, key, iv, aad, aad_len, ct, ct_len, tag, back));
}

START_TEST(test_kat_gcm)
{
	static const char p64[] = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
				  "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255";
	uint8_t pt[64];

	ck_assert_uint_eq(unhex(p64, pt, sizeof(pt)), 64);
	/* McGrew-Viega test case 15: AES-256, 96-bit IV, no AAD */
	kat(EVP_aes_256_gcm(), "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
	    "cafebabefacedbaddecaf888", "", pt, 64,
	    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
	    "b094dac5d93471bdec1a502270e3cc6c");
	/* test case 16: the same with 20 bytes of AAD and a 60-byte plaintext */
	kat(EVP_aes_256_gcm(), "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
	    "cafebabefacedbaddecaf888", "feedfacedeadbeeffeedfacedeadbeefabaddad2", pt, 60,
	    "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	    "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
	    "76fc6ece0f4e1768cddf8853bb2d551b");
}
END_TEST

START_TEST(test_kat_chacha)
{
	static const char msg[] = "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for "
				  "the future, sunscreen would be it.";

	ck_assert_uint_eq(strlen(msg), 114);
	/* RFC 8439 §2.8.2 */
	kat(EVP_chacha20_poly1305(), "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
	    "070000004041424344454647", "50515253c0c1c2c3c4c5c6c7", (const uint8_t *)msg, 114,
	    "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
	    "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
	    "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
	    "3ff4def08e4b7a9de576d26586cec64b6116",
	    "1ae10b594f09e26a7e902ecbd0600691");
}
END_TEST

/* Every byte distinct, so a wrong offset into the block can never pass by accident. */
static void make_block(uint8_t block[256], uint8_t salt)
{
	int i;

	for (i = 0; i < 256; i++)
		block[i] = (uint8_t)(i * 13 + salt);
}

/* The client's view of the same block: its encrypt half is the server's decrypt half and vice versa. */
static void mirror_block(const uint8_t block[256], uint8_t out[256])
{
	memcpy(out, block + 128, 128);
	memcpy(out + 128, block, 128);
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)((i * 31 + seed) ^ (i >> 8));
}

static uint8_t pkt[MAXPKT], pt[9000], back[9000];

START_TEST(test_round_trip)
{
	uint8_t block[256], mblock[256];
	struct aead_key srv, cli;
	size_t ci, si;
	ssize_t n, m;

	for (ci = 0; ci < N_CIPHERS; ci++) {
		make_block(block, (uint8_t)ci);
		mirror_block(block, mblock);
		ck_assert_int_eq(aead_key_init(&srv, ciphers[ci], 2, block), 0);
		ck_assert_int_eq(aead_key_init(&cli, ciphers[ci], 2, mblock), 0);
		for (si = 0; si < N_SIZES; si++) {
			size_t len = sizes[si];

			fill(pt, len, (unsigned)(ci * 7 + si));
			/* server -> client */
			n = aead_seal(&srv, 0x123456, pt, len, pkt, sizeof(pkt));
			ck_assert_int_eq(n, (ssize_t)(len + AEAD_OVERHEAD));
			if (len >= 16)
				ck_assert(memcmp(pkt + AEAD_OVERHEAD, pt, 16) != 0);
			m = aead_open(&cli, pkt, (size_t)n, back, sizeof(back), 100);
			ck_assert_int_eq(m, (ssize_t)len);
			ck_assert(len == 0 || memcmp(back, pt, len) == 0);
			/* the server cannot open its own packet: directions have different keys */
			ck_assert_int_eq(aead_open(&srv, pkt, (size_t)n, back, sizeof(back), 100), -EBADMSG);
			/* client -> server */
			n = aead_seal(&cli, 7, pt, len, pkt, sizeof(pkt));
			ck_assert_int_eq(n, (ssize_t)(len + AEAD_OVERHEAD));
			m = aead_open(&srv, pkt, (size_t)n, back, sizeof(back), 100);
			ck_assert_int_eq(m, (ssize_t)len);
			ck_assert(len == 0 || memcmp(back, pt, len) == 0);
		}
		aead_key_clear(&srv);
		aead_key_clear(&cli);
	}
}
END_TEST

START_TEST(test_wire_header)
{
	uint8_t block[256];
	struct aead_key k;
	uint32_t i;
	ssize_t n;

	make_block(block, 9);
	for (uint8_t kid = 0; kid < 8; kid++) {
		ck_assert_int_eq(aead_key_init(&k, CVPN_CIPHER_AES_256_GCM, kid, block), 0);
		for (i = 1; i <= 3; i++) {
			n = aead_seal(&k, 0xABCDEF, (const uint8_t *)"ping", 4, pkt, sizeof(pkt));
			ck_assert_int_eq(n, 4 + 24);
			ck_assert_uint_eq(pkt[0], 0x48 | kid);
			ck_assert_uint_eq(pkt[1], 0xAB);
			ck_assert_uint_eq(pkt[2], 0xCD);
			ck_assert_uint_eq(pkt[3], 0xEF);
			ck_assert_uint_eq(pkt[4], 0);
			ck_assert_uint_eq(pkt[5], 0);
			ck_assert_uint_eq(pkt[6], 0);
			ck_assert_uint_eq(pkt[7], i);
			ck_assert_uint_eq(k.send_packet_id, i);
		}
		aead_key_clear(&k);
	}
	ck_assert_int_eq(aead_key_init(&k, CVPN_CIPHER_CHACHA20_POLY1305, 1, block), 0);
	ck_assert_int_eq(aead_seal(&k, 0, pt, 0, pkt, sizeof(pkt)), 24);
	ck_assert_uint_eq(pkt[0], 0x49);
	ck_assert_uint_eq(pkt[1] | pkt[2] | pkt[3], 0);
	/* peer-id is 24 bits */
	ck_assert_int_eq(aead_seal(&k, 0x1000000, pt, 1, pkt, sizeof(pkt)), -EINVAL);
	aead_key_clear(&k);
}
END_TEST

/* Plays the client with the test's own EVP code: encrypt with block[0..]/[64..72) (§5.1, client->server). */
static size_t client_packet_v2(enum cvpn_cipher c, const uint8_t block[256], uint8_t kid, uint32_t peer_id,
			       uint32_t pid, const uint8_t *in, size_t len, uint8_t *out)
{
	size_t key_len;
	const EVP_CIPHER *evp = evp_of(c, &key_len);
	uint8_t iv[12];

	out[0] = (uint8_t)(0x48 | kid);
	out[1] = (uint8_t)(peer_id >> 16);
	out[2] = (uint8_t)(peer_id >> 8);
	out[3] = (uint8_t)peer_id;
	out[4] = (uint8_t)(pid >> 24);
	out[5] = (uint8_t)(pid >> 16);
	out[6] = (uint8_t)(pid >> 8);
	out[7] = (uint8_t)pid;
	memcpy(iv, out + 4, 4);
	memcpy(iv + 4, block + 64, 8);
	ref_seal(evp, block, iv, out, 8, in, len, out + 24, out + 8);
	return len + 24;
}

static size_t client_packet_v1(enum cvpn_cipher c, const uint8_t block[256], uint8_t kid, uint32_t pid,
			       const uint8_t *in, size_t len, uint8_t *out)
{
	size_t key_len;
	const EVP_CIPHER *evp = evp_of(c, &key_len);
	uint8_t iv[12];

	out[0] = (uint8_t)(0x30 | kid);
	out[1] = (uint8_t)(pid >> 24);
	out[2] = (uint8_t)(pid >> 16);
	out[3] = (uint8_t)(pid >> 8);
	out[4] = (uint8_t)pid;
	memcpy(iv, out + 1, 4);
	memcpy(iv + 4, block + 64, 8);
	/* V1: AAD is the packet-id alone */
	ref_seal(evp, block, iv, out + 1, 4, in, len, out + 21, out + 5);
	return len + 21;
}

START_TEST(test_client_slicing_opens)
{
	uint8_t block[256];
	struct aead_key k;
	size_t ci, si, n;

	for (ci = 0; ci < N_CIPHERS; ci++) {
		make_block(block, (uint8_t)(0x40 + ci));
		ck_assert_int_eq(aead_key_init(&k, ciphers[ci], 3, block), 0);
		for (si = 0; si < N_SIZES; si++) {
			size_t len = sizes[si];

			fill(pt, len, (unsigned)si);
			n = client_packet_v2(ciphers[ci], block, 3, 0x000102, (uint32_t)(si + 1), pt, len, pkt);
			memset(back, 0, len);
			ck_assert_int_eq(aead_open(&k, pkt, n, back, sizeof(back), 5), (ssize_t)len);
			ck_assert(len == 0 || memcmp(back, pt, len) == 0);
		}
		/* P_DATA_V1 from the same client, continuing the packet-id sequence */
		fill(pt, 100, 77);
		n = client_packet_v1(ciphers[ci], block, 3, 50, pt, 100, pkt);
		ck_assert_int_eq(aead_open(&k, pkt, n, back, sizeof(back), 5), 100);
		ck_assert_mem_eq(back, pt, 100);
		ck_assert_int_eq(aead_open(&k, pkt, n, back, sizeof(back), 5), -EALREADY);
		/* a V1 packet is too short below 21 bytes */
		ck_assert_int_eq(aead_open(&k, pkt, 20, back, sizeof(back), 5), -EBADMSG);
		/* a packet made with the server's own encrypt half must not open */
		{
			uint8_t mblock[256];

			mirror_block(block, mblock);
			n = client_packet_v2(ciphers[ci], mblock, 3, 0, 60, pt, 10, pkt);
			ck_assert_int_eq(aead_open(&k, pkt, n, back, sizeof(back), 5), -EBADMSG);
		}
		aead_key_clear(&k);
	}
}
END_TEST

START_TEST(test_server_slicing_decrypts)
{
	uint8_t block[256], iv[12];
	struct aead_key k;
	size_t ci, si, key_len;
	ssize_t n;

	for (ci = 0; ci < N_CIPHERS; ci++) {
		const EVP_CIPHER *evp = evp_of(ciphers[ci], &key_len);

		make_block(block, (uint8_t)(0x80 + ci));
		ck_assert_int_eq(aead_key_init(&k, ciphers[ci], 0, block), 0);
		for (si = 0; si < N_SIZES; si++) {
			size_t len = sizes[si];

			fill(pt, len, (unsigned)(si + 3));
			n = aead_seal(&k, 42, pt, len, pkt, sizeof(pkt));
			ck_assert_int_eq(n, (ssize_t)(len + 24));
			/* decrypt as the client would: block[128..] key, block[192..200) implicit IV */
			memcpy(iv, pkt + 4, 4);
			memcpy(iv + 4, block + 192, 8);
			memset(back, 0, len);
			ck_assert(ref_open(evp, block + 128, iv, pkt, 8, pkt + 24, len, pkt + 8, back));
			ck_assert(len == 0 || memcmp(back, pt, len) == 0);
			/* and not with the other half */
			memcpy(iv + 4, block + 64, 8);
			ck_assert(!ref_open(evp, block, iv, pkt, 8, pkt + 24, len, pkt + 8, back));
		}
		aead_key_clear(&k);
	}
}
END_TEST

START_TEST(test_tamper)
{
	uint8_t block[256], orig[64 + AEAD_OVERHEAD], bad[sizeof(orig)];
	struct aead_key k;
	size_t ci, i, n;
	int bit;

	for (ci = 0; ci < N_CIPHERS; ci++) {
		make_block(block, (uint8_t)(0xc0 + ci));
		ck_assert_int_eq(aead_key_init(&k, ciphers[ci], 5, block), 0);
		fill(pt, 64, 5);
		n = client_packet_v2(ciphers[ci], block, 5, 0x0a0b0c, 9, pt, 64, orig);
		ck_assert_uint_eq(n, sizeof(orig));
		/* Every single-bit change anywhere (header, tag, ciphertext) fails; opcode/key-id changes fail as
		 * a foreign packet before any crypto. */
		for (i = 0; i < n; i++) {
			for (bit = 0; bit < 8; bit++) {
				memcpy(bad, orig, n);
				bad[i] ^= (uint8_t)(1u << bit);
				memset(back, 0x55, 64);
				ck_assert_msg(aead_open(&k, bad, n, back, sizeof(back), 1) == -EBADMSG,
					      "byte %zu bit %d", i, bit);
				/* no unauthenticated plaintext is left behind */
				ck_assert_msg(memcmp(back, pt, 16) != 0, "plaintext leaked, byte %zu", i);
			}
		}
		/* truncated: shorter than header + tag, and a cut ciphertext */
		for (i = 0; i < AEAD_OVERHEAD; i++)
			ck_assert_int_eq(aead_open(&k, orig, i, back, sizeof(back), 1), -EBADMSG);
		ck_assert_int_eq(aead_open(&k, orig, n - 1, back, sizeof(back), 1), -EBADMSG);
		/* none of that moved the replay window: the real packet opens, exactly once */
		ck_assert_int_eq(aead_open(&k, orig, n, back, sizeof(back), 1), 64);
		ck_assert_mem_eq(back, pt, 64);
		ck_assert_int_eq(aead_open(&k, orig, n, back, sizeof(back), 1), -EALREADY);
		aead_key_clear(&k);
	}
}
END_TEST

START_TEST(test_replay_through_open)
{
	uint8_t block[256], p[5][40];
	size_t n[5];
	struct aead_key k;
	int i;

	make_block(block, 0x21);
	ck_assert_int_eq(aead_key_init(&k, CVPN_CIPHER_AES_128_GCM, 0, block), 0);
	for (i = 0; i < 5; i++)
		n[i] = client_packet_v2(CVPN_CIPHER_AES_128_GCM, block, 0, 1, (uint32_t)i + 1,
					(const uint8_t *)"0123456789abcdef", 16, p[i]);
	ck_assert_int_eq(aead_open(&k, p[0], n[0], back, sizeof(back), 10), 16);
	ck_assert_int_eq(aead_open(&k, p[0], n[0], back, sizeof(back), 10), -EALREADY);
	ck_assert_int_eq(aead_open(&k, p[3], n[3], back, sizeof(back), 10), 16);
	ck_assert_int_eq(aead_open(&k, p[2], n[2], back, sizeof(back), 11), 16);
	ck_assert_int_eq(aead_open(&k, p[2], n[2], back, sizeof(back), 11), -EALREADY);
	/* time backtrack: the late packet 2 is too late 16 s after 4 advanced the window */
	ck_assert_int_eq(aead_open(&k, p[1], n[1], back, sizeof(back), 10 + REPLAY_BACKTRACK_SEC + 1),
			 -EALREADY);
	ck_assert_int_eq(aead_open(&k, p[4], n[4], back, sizeof(back), 40), 16);
	/* packet-id 0 never opens, even when authentic */
	n[0] = client_packet_v2(CVPN_CIPHER_AES_128_GCM, block, 0, 1, 0, (const uint8_t *)"x", 1, p[0]);
	ck_assert_int_eq(aead_open(&k, p[0], n[0], back, sizeof(back), 40), -EALREADY);
	aead_key_clear(&k);
}
END_TEST

START_TEST(test_key_id_and_space)
{
	uint8_t block[256], small[10];
	struct aead_key k;
	size_t n;

	make_block(block, 0x33);
	ck_assert_int_eq(aead_key_init(&k, CVPN_CIPHER_AES_256_GCM, 1, block), 0);
	/* a packet for key_id 2 is not ours */
	n = client_packet_v2(CVPN_CIPHER_AES_256_GCM, block, 2, 0, 1, (const uint8_t *)"abc", 3, pkt);
	ck_assert_int_eq(aead_open(&k, pkt, n, back, sizeof(back), 0), -EBADMSG);
	/* a control-channel opcode is not a data packet */
	n = client_packet_v2(CVPN_CIPHER_AES_256_GCM, block, 1, 0, 1, (const uint8_t *)"abc", 3, pkt);
	pkt[0] = (uint8_t)(4 << 3 | 1);
	ck_assert_int_eq(aead_open(&k, pkt, n, back, sizeof(back), 0), -EBADMSG);
	pkt[0] = 0x49;
	/* out too small for the plaintext; nothing consumed, so it opens with enough room */
	ck_assert_int_eq(aead_open(&k, pkt, n, small, 2, 0), -ENOSPC);
	ck_assert_int_eq(aead_open(&k, pkt, n, small, 3, 0), 3);
	ck_assert_mem_eq(small, "abc", 3);
	/* seal needs len + 24 */
	ck_assert_int_eq(aead_seal(&k, 0, pt, 100, pkt, 123), -ENOSPC);
	ck_assert_int_eq(aead_seal(&k, 0, pt, 100, pkt, 124), 124);
	ck_assert_uint_eq(pkt[7], 1); /* the refused call did not burn a packet-id */
	aead_key_clear(&k);
}
END_TEST

START_TEST(test_packet_id_exhaustion)
{
	uint8_t block[256], mblock[256];
	struct aead_key k, cli;
	ssize_t n;

	make_block(block, 0x44);
	mirror_block(block, mblock);
	ck_assert_int_eq(aead_key_init(&k, CVPN_CIPHER_CHACHA20_POLY1305, 0, block), 0);
	ck_assert_int_eq(aead_key_init(&cli, CVPN_CIPHER_CHACHA20_POLY1305, 0, mblock), 0);
	k.send_packet_id = 0xFFFFFFFDu;
	n = aead_seal(&k, 1, pt, 10, pkt, sizeof(pkt));
	ck_assert_int_eq(n, 34);
	ck_assert_uint_eq(pkt[4] & pkt[5] & pkt[6], 0xFF);
	ck_assert_uint_eq(pkt[7], 0xFE);
	ck_assert_int_eq(aead_open(&cli, pkt, (size_t)n, back, sizeof(back), 0), 10);
	/* 0xFFFFFFFF is never sent, and nothing wraps to 0 or 1 */
	ck_assert_int_eq(aead_seal(&k, 1, pt, 10, pkt, sizeof(pkt)), -EOVERFLOW);
	ck_assert_int_eq(aead_seal(&k, 1, pt, 10, pkt, sizeof(pkt)), -EOVERFLOW);
	ck_assert_uint_eq(k.send_packet_id, 0xFFFFFFFEu);
	aead_key_clear(&k);
	aead_key_clear(&cli);
}
END_TEST

START_TEST(test_init_clear)
{
	uint8_t block[256];
	struct aead_key k;

	make_block(block, 0x55);
	memset(&k, 0xAA, sizeof(k));
	ck_assert_int_eq(aead_key_init(&k, CVPN_CIPHER_NONE, 0, block), -EINVAL);
	ck_assert_ptr_null(k.enc);
	ck_assert_ptr_null(k.dec);
	ck_assert_int_eq(aead_key_init(&k, CVPN_CIPHER_AES_128_GCM, 8, block), -EINVAL);
	ck_assert_ptr_null(k.enc);
	/* a cleared key refuses to work instead of crashing */
	ck_assert_int_eq(aead_seal(&k, 0, pt, 1, pkt, sizeof(pkt)), -EINVAL);
	ck_assert_int_eq(aead_open(&k, pkt, 30, back, sizeof(back), 0), -EBADMSG);
	aead_key_clear(&k);
	aead_key_clear(&k);
	ck_assert_int_eq(aead_key_init(&k, CVPN_CIPHER_AES_128_GCM, 7, block), 0);
	ck_assert_uint_eq(k.key_id, 7);
	ck_assert_uint_eq(k.send_packet_id, 0);
	ck_assert_uint_eq(k.replay.highest, 0);
	aead_key_clear(&k);
	ck_assert_ptr_null(k.enc);
	ck_assert_ptr_null(k.dec);
	ck_assert_int_eq(k.cipher, CVPN_CIPHER_NONE);
	aead_key_clear(NULL);
}
END_TEST

/* The client role (the load generator's) on the same block the server uses: byte-identical to the reference
 * client of §5.1, and each side opens what the other seals. */
START_TEST(test_client_role)
{
	uint8_t block[256], ref[MAXPKT];
	struct aead_key srv, cli;
	size_t ci, len = 100, rn;
	ssize_t n;

	for (ci = 0; ci < N_CIPHERS; ci++) {
		make_block(block, (uint8_t)(ci + 40));
		ck_assert_int_eq(aead_key_init(&srv, ciphers[ci], 1, block), 0);
		ck_assert_int_eq(aead_key_init_role(&cli, ciphers[ci], 1, block, false), 0);
		fill(pt, len, (unsigned)ci);
		n = aead_seal(&cli, 0x42, pt, len, pkt, sizeof(pkt));
		ck_assert_int_eq(n, (ssize_t)(len + AEAD_OVERHEAD));
		rn = client_packet_v2(ciphers[ci], block, 1, 0x42, 1, pt, len, ref);
		ck_assert_uint_eq(rn, (size_t)n);
		ck_assert_mem_eq(pkt, ref, rn);
		ck_assert_int_eq(aead_open(&srv, pkt, (size_t)n, back, sizeof(back), 5), (ssize_t)len);
		ck_assert_mem_eq(back, pt, len);
		/* a client cannot open its own packet */
		ck_assert_int_eq(aead_open(&cli, pkt, (size_t)n, back, sizeof(back), 5), -EBADMSG);
		n = aead_seal(&srv, 0x42, pt, len, pkt, sizeof(pkt));
		ck_assert_int_eq(aead_open(&cli, pkt, (size_t)n, back, sizeof(back), 5), (ssize_t)len);
		ck_assert_mem_eq(back, pt, len);
		aead_key_clear(&srv);
		aead_key_clear(&cli);
	}
	/* the server role through the new entry point is the old one */
	make_block(block, 3);
	ck_assert_int_eq(aead_key_init_role(&srv, CVPN_CIPHER_AES_256_GCM, 0, block, true), 0);
	rn = client_packet_v2(CVPN_CIPHER_AES_256_GCM, block, 0, 9, 1, pt, 20, ref);
	ck_assert_int_eq(aead_open(&srv, ref, rn, back, sizeof(back), 5), 20);
	aead_key_clear(&srv);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("aead");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_kat_gcm);
	tcase_add_test(tc, test_kat_chacha);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_wire_header);
	tcase_add_test(tc, test_client_slicing_opens);
	tcase_add_test(tc, test_server_slicing_decrypts);
	tcase_add_test(tc, test_tamper);
	tcase_add_test(tc, test_replay_through_open);
	tcase_add_test(tc, test_key_id_and_space);
	tcase_add_test(tc, test_packet_id_exhaustion);
	tcase_add_test(tc, test_init_clear);
	tcase_add_test(tc, test_client_role);
	suite_add_tcase(s, tc);
	return check_run(s);
}
