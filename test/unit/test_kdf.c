// SPDX-License-Identifier: GPL-2.0-or-later
/* Unit tests for ctrl/proto/kdf.c: the TLS 1.0/1.1 PRF and OpenVPN's key-method-2 key block (§5.3).
 *
 * Known answers come from published sources, not from our own output:
 *  - "PRF Testvector" (secret 48 x 0xab, seed 64 x 0xcd, 104 bytes), posted to the IETF TLS list
 *    (imc.org ietf-tls mail-archive msg01589) and used e.g. by as3crypto's TLSPRFTest;
 *  - the NIST CAVS TLS 1.0/1.1 KDF vectors (master secret and key expansion) as carried in OpenSSL's
 *    test/recipes/30-test_evp_data/evpkdf_tls11_prf.txt.
 * An independent P_hash written here with HMAC() cross-checks odd secret lengths, where the two halves overlap. */

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "cvpn/kdf.h"

#include "check_run.h"
#include "test_util.h"

START_TEST(test_prf_testvector)
{
	static const char expect_hex[] =
		"d3d4d1e349b5d515044666d51de32bab258cb521b6b053463e354832fd976754"
		"443bcf9a296519bc289abcbc1187e4ebd31e602353776c408aafb74cbc85eff6"
		"9255f9788faa184cbb957a9819d84a5d7eb006eb459d3ae8de9810454b8b2d8f"
		"1afbc655a8c9a013";
	uint8_t secret[48], seed[14 + 64], expect[104], out[104];

	memset(secret, 0xab, sizeof(secret));
	memcpy(seed, "PRF Testvector", 14);
	memset(seed + 14, 0xcd, 64);
	ck_assert_uint_eq(unhex(expect_hex, expect, sizeof(expect)), 104);
	ck_assert_int_eq(kdf_tls1_prf(secret, sizeof(secret), seed, sizeof(seed), out, sizeof(out)), 0);
	ck_assert_mem_eq(out, expect, sizeof(expect));
	/* A shorter output is a prefix of the longer one (P_hash is a stream). */
	memset(out, 0, sizeof(out));
	ck_assert_int_eq(kdf_tls1_prf(secret, sizeof(secret), seed, sizeof(seed), out, 33), 0);
	ck_assert_mem_eq(out, expect, 33);
	ck_assert_uint_eq(out[33], 0);
}
END_TEST

START_TEST(test_nist_master_and_expansion)
{
	uint8_t secret[48], seed[128], expect[104], out[104];
	size_t n, m, e;

	/* master secret = PRF(pre_master, "master secret" || client_random || server_random) */
	ck_assert_uint_eq(unhex("bded7fa5c1699c010be23dd06ada3a48349f21e5f86263d512c0c5cc379f0e78"
				"0ec55d9844b2f1db02a96453513568d0", secret, sizeof(secret)), 48);
	memcpy(seed, "master secret", 13);
	n = 13;
	n += unhex("e5acaf549cd25c22d964c0d930fa4b5261d2507fad84c33715b7b9a864020693", seed + n, 32);
	n += unhex("135e4d557fdf3aa6406d82975d5c606a9734c9334b42136e96990fbd5358cdb2", seed + n, 32);
	e = unhex("2f6962dfbc744c4b2138bb6b3d33054c5ecc14f24851d9896395a44ab3964efc"
		  "2090c5bf51a0891209f46c1e1e998f62", expect, sizeof(expect));
	ck_assert_uint_eq(e, 48);
	ck_assert_int_eq(kdf_tls1_prf(secret, 48, seed, n, out, 48), 0);
	ck_assert_mem_eq(out, expect, 48);

	/* key block = PRF(master, "key expansion" || server_random || client_random) */
	m = unhex("2f6962dfbc744c4b2138bb6b3d33054c5ecc14f24851d9896395a44ab3964efc"
		  "2090c5bf51a0891209f46c1e1e998f62", secret, sizeof(secret));
	ck_assert_uint_eq(m, 48);
	memcpy(seed, "key expansion", 13);
	n = 13;
	n += unhex("67267e650eb32444119d222a368c191af3082888dc35afe8368e638c828874be", seed + n, 32);
	n += unhex("d58a7b1cd4fedaa232159df652ce188f9d997e061b9bf48e83b62990440931f6", seed + n, 32);
	e = unhex("3088825988e77fce68d19f756e18e43eb7fe672433504feaf99b3c503d9091b1"
		  "64f166db301d70c9fc0870b4a94563907bee1a61fb786cb717576890bcc51cb9"
		  "ead97e01d0a2fea99c953377b195205ff07b369589178796edc963fd80fdbe51"
		  "8a2fc1c35c18ae8d", expect, sizeof(expect));
	ck_assert_uint_eq(e, 104);
	ck_assert_int_eq(kdf_tls1_prf(secret, m, seed, n, out, e), 0);
	ck_assert_mem_eq(out, expect, e);
}
END_TEST

/* RFC 2246 §5 P_hash, written out independently: A(0) = seed, A(i) = HMAC(A(i-1)), output blocks
 * HMAC(A(i) || seed) for i = 1, 2, ... */
static void ref_p_hash(const EVP_MD *md, const uint8_t *sec, size_t sec_len, const uint8_t *seed, size_t seed_len,
		       uint8_t *out, size_t out_len)
{
	uint8_t a[EVP_MAX_MD_SIZE], buf[EVP_MAX_MD_SIZE + 256], blk[EVP_MAX_MD_SIZE];
	unsigned a_len, blk_len;
	size_t done = 0, take;

	ck_assert_int_le(seed_len, 256);
	ck_assert_ptr_nonnull(HMAC(md, sec, (int)sec_len, seed, seed_len, a, &a_len));
	while (done < out_len) {
		memcpy(buf, a, a_len);
		memcpy(buf + a_len, seed, seed_len);
		ck_assert_ptr_nonnull(HMAC(md, sec, (int)sec_len, buf, a_len + seed_len, blk, &blk_len));
		take = out_len - done < blk_len ? out_len - done : blk_len;
		memcpy(out + done, blk, take);
		done += take;
		ck_assert_ptr_nonnull(HMAC(md, sec, (int)sec_len, a, a_len, blk, &blk_len));
		memcpy(a, blk, blk_len);
		a_len = blk_len;
	}
}

static void ref_prf(const uint8_t *sec, size_t sec_len, const uint8_t *seed, size_t seed_len, uint8_t *out,
		    size_t out_len)
{
	size_t half = (sec_len + 1) / 2; /* the halves share the middle byte when the length is odd */
	uint8_t tmp[512];
	size_t i;

	ck_assert_int_le(out_len, sizeof(tmp));
	ref_p_hash(EVP_md5(), sec, half, seed, seed_len, out, out_len);
	ref_p_hash(EVP_sha1(), sec + sec_len - half, half, seed, seed_len, tmp, out_len);
	for (i = 0; i < out_len; i++)
		out[i] ^= tmp[i];
}

START_TEST(test_reference_cross_check)
{
	uint8_t secret[64], seed[100], got[300], want[300];
	size_t sl, ol, i;

	for (i = 0; i < sizeof(secret); i++)
		secret[i] = (uint8_t)(i * 37 + 11);
	for (i = 0; i < sizeof(seed); i++)
		seed[i] = (uint8_t)(i * 91 + 3);
	/* First make sure the reference itself reproduces the published vector. */
	{
		uint8_t s48[48], sd[78];

		memset(s48, 0xab, sizeof(s48));
		memcpy(sd, "PRF Testvector", 14);
		memset(sd + 14, 0xcd, 64);
		ref_prf(s48, 48, sd, sizeof(sd), want, 8);
		ck_assert_uint_eq(want[0], 0xd3);
		ck_assert_uint_eq(want[7], 0x15);
	}
	for (sl = 1; sl <= 49; sl += 3) {
		for (ol = 1; ol <= 300; ol += 37) {
			ref_prf(secret, sl, seed, sizeof(seed), want, ol);
			ck_assert_int_eq(kdf_tls1_prf(secret, sl, seed, sizeof(seed), got, ol), 0);
			ck_assert_msg(memcmp(got, want, ol) == 0, "secret_len %zu out_len %zu", sl, ol);
		}
	}
}
END_TEST

START_TEST(test_bad_args)
{
	uint8_t s[4] = { 1, 2, 3, 4 }, out[8];

	ck_assert_int_eq(kdf_tls1_prf(s, sizeof(s), s, sizeof(s), out, 0), -EINVAL);
	ck_assert_int_eq(kdf_tls1_prf(s, sizeof(s), s, 0, out, sizeof(out)), -EINVAL);
	ck_assert_int_eq(kdf_tls1_prf(s, 0, s, sizeof(s), out, sizeof(out)), -EINVAL);
}
END_TEST

static void fill(uint8_t *p, size_t n, uint8_t start)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(start + i * 7);
}

START_TEST(test_openvpn_prf_composition)
{
	uint8_t pre[48], cr1[32], cr2[32], sr1[32], sr2[32], csid[8], ssid[8];
	uint8_t block[256], master[48], want[256], seed[21 + 32 + 32 + 8 + 8];
	size_t n;

	fill(pre, sizeof(pre), 0x10);
	fill(cr1, sizeof(cr1), 0x20);
	fill(cr2, sizeof(cr2), 0x30);
	fill(sr1, sizeof(sr1), 0x40);
	fill(sr2, sizeof(sr2), 0x50);
	fill(csid, sizeof(csid), 0x60);
	fill(ssid, sizeof(ssid), 0x70);
	ck_assert_int_eq(kdf_openvpn_prf(pre, cr1, cr2, sr1, sr2, csid, ssid, block), 0);

	/* §5.3 spelled out: labels are 21 bytes without NUL; client parts before server parts. */
	n = 0;
	memcpy(seed + n, "OpenVPN master secret", 21), n += 21;
	memcpy(seed + n, cr1, 32), n += 32;
	memcpy(seed + n, sr1, 32), n += 32;
	ck_assert_int_eq(kdf_tls1_prf(pre, 48, seed, n, master, 48), 0);
	n = 0;
	memcpy(seed + n, "OpenVPN key expansion", 21), n += 21;
	memcpy(seed + n, cr2, 32), n += 32;
	memcpy(seed + n, sr2, 32), n += 32;
	memcpy(seed + n, csid, 8), n += 8;
	memcpy(seed + n, ssid, 8), n += 8;
	ck_assert_uint_eq(n, sizeof(seed));
	ck_assert_int_eq(kdf_tls1_prf(master, 48, seed, n, want, 256), 0);
	ck_assert_mem_eq(block, want, 256);

	/* Every input matters: swapping the session ids changes the block. */
	ck_assert_int_eq(kdf_openvpn_prf(pre, cr1, cr2, sr1, sr2, ssid, csid, want), 0);
	ck_assert(memcmp(block, want, 256) != 0);
	/* and so does swapping the first and second client randoms */
	ck_assert_int_eq(kdf_openvpn_prf(pre, cr2, cr1, sr1, sr2, csid, ssid, want), 0);
	ck_assert(memcmp(block, want, 256) != 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("kdf");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_prf_testvector);
	tcase_add_test(tc, test_nist_master_and_expansion);
	tcase_add_test(tc, test_reference_cross_check);
	tcase_add_test(tc, test_bad_args);
	tcase_add_test(tc, test_openvpn_prf_composition);
	suite_add_tcase(s, tc);
	return check_run(s);
}
