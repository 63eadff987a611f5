// SPDX-License-Identifier: GPL-2.0-or-later
/* tls_accel.c: wolfSSL's P-256 signing and key generation done by libcrypto must be interchangeable with
 * wolfSSL's own, and what the device declines (verify, ECDH) must still work on its keys.
 * Every operation goes through wolfSSL's real dispatch: an ecc_key made with the device's id is handled by
 * the device, one made with INVALID_DEVID by wolfSSL itself; the device's counters prove which ran. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* libcrypto first: wolfSSL's options.h defines OPENSSL_NO_EC */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/x509_vfy.h>

#include "test_pki.h"

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/settings.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/sha256.h>
#include <wolfssl/wolfcrypt/sha512.h>
#include <wolfssl/wolfcrypt/wc_port.h>

#include "check_run.h"
#include "cvpn/tls.h"
#include "cvpn/tls_accel.h"

static WC_RNG rng;
static int devid;

static void setup(void)
{
	ck_assert_int_eq(wolfCrypt_Init(), 0);
	ck_assert_int_eq(wc_InitRng(&rng), 0);
	devid = tls_accel_devid();
	ck_assert_int_ne(devid, TLS_ACCEL_NO_DEVICE);
}

static void teardown(void) { wc_FreeRng(&rng); }

/* A fresh P-256 key made by wolfSSL itself, and a copy of it (private and public) bound to dev. */
static void key_pair(ecc_key *plain, ecc_key *copy, int dev)
{
	uint8_t d[32], q[65];
	word32 dl = sizeof(d), ql = sizeof(q);

	ck_assert_int_eq(wc_ecc_init_ex(plain, NULL, INVALID_DEVID), 0);
	ck_assert_int_eq(wc_ecc_make_key_ex(&rng, 32, plain, ECC_SECP256R1), 0);
	ck_assert_int_eq(wc_ecc_export_private_only(plain, d, &dl), 0);
	ck_assert_int_eq(wc_ecc_export_x963(plain, q, &ql), 0);
	ck_assert_int_eq(wc_ecc_init_ex(copy, NULL, dev), 0);
	ck_assert_int_eq(wc_ecc_import_private_key_ex(d, dl, q, ql, copy, ECC_SECP256R1), 0);
	ck_assert_int_eq(copy->devId, dev);
}

/* The public half only, bound to dev. */
static void public_copy(ecc_key *from, ecc_key *to, int dev)
{
	uint8_t q[65];
	word32 ql = sizeof(q);

	ck_assert_int_eq(wc_ecc_export_x963(from, q, &ql), 0);
	ck_assert_int_eq(wc_ecc_init_ex(to, NULL, dev), 0);
	ck_assert_int_eq(wc_ecc_import_x963_ex(q, ql, to, ECC_SECP256R1), 0);
}

static int verify(const uint8_t *sig, word32 siglen, const uint8_t *hash, word32 hashlen, ecc_key *key, int *res)
{
	*res = -1;
	return wc_ecc_verify_hash(sig, siglen, hash, hashlen, res, key);
}

START_TEST(test_sign_accel_verify_wolfssl_and_back)
{
	ecc_key plain, accel, pub_plain, pub_accel;
	struct tls_accel_stats s0, s1;
	uint8_t hash[WC_SHA384_DIGEST_SIZE], sig[ECC_MAX_SIG_SIZE];
	word32 siglen;
	int res;

	key_pair(&plain, &accel, devid);
	public_copy(&plain, &pub_plain, INVALID_DEVID);
	public_copy(&plain, &pub_accel, devid);
	ck_assert_int_eq(wc_Sha256Hash((const byte *)"P_CONTROL", 9, hash), 0);

	/* libcrypto signs, wolfSSL verifies */
	tls_accel_get_stats(&s0);
	siglen = sizeof(sig);
	ck_assert_int_eq(wc_ecc_sign_hash(hash, WC_SHA256_DIGEST_SIZE, sig, &siglen, &rng, &accel), 0);
	tls_accel_get_stats(&s1);
	ck_assert_uint_eq(s1.sign, s0.sign + 1);
	ck_assert_int_eq(verify(sig, siglen, hash, WC_SHA256_DIGEST_SIZE, &pub_plain, &res), 0);
	ck_assert_int_eq(res, 1);
	tls_accel_get_stats(&s0);

	/* wolfSSL signs, and a key on the device verifies (wolfSSL's verify: the device declines it) */
	siglen = sizeof(sig);
	ck_assert_int_eq(wc_ecc_sign_hash(hash, WC_SHA256_DIGEST_SIZE, sig, &siglen, &rng, &plain), 0);
	ck_assert_int_eq(verify(sig, siglen, hash, WC_SHA256_DIGEST_SIZE, &pub_accel, &res), 0);
	ck_assert_int_eq(res, 1);
	/* and with the private key's own public half (type ECC_PRIVATEKEY) */
	ck_assert_int_eq(verify(sig, siglen, hash, WC_SHA256_DIGEST_SIZE, &accel, &res), 0);
	ck_assert_int_eq(res, 1);
	tls_accel_get_stats(&s1);
	ck_assert_uint_eq(s1.sign, s0.sign);

	/* a hash longer than the curve (SHA-384 with a P-256 key, allowed in TLS 1.2): both sides must cut it
	 * the same way */
	ck_assert_int_eq(wc_Sha384Hash((const byte *)"P_CONTROL", 9, hash), 0);
	siglen = sizeof(sig);
	ck_assert_int_eq(wc_ecc_sign_hash(hash, sizeof(hash), sig, &siglen, &rng, &accel), 0);
	ck_assert_int_eq(verify(sig, siglen, hash, sizeof(hash), &pub_plain, &res), 0);
	ck_assert_int_eq(res, 1);
	siglen = sizeof(sig);
	ck_assert_int_eq(wc_ecc_sign_hash(hash, sizeof(hash), sig, &siglen, &rng, &plain), 0);
	ck_assert_int_eq(verify(sig, siglen, hash, sizeof(hash), &pub_accel, &res), 0);
	ck_assert_int_eq(res, 1);

	/* an output buffer too small is an error, not a truncated signature */
	siglen = 16;
	ck_assert_int_eq(wc_ecc_sign_hash(hash, WC_SHA256_DIGEST_SIZE, sig, &siglen, &rng, &accel), BUFFER_E);

	wc_ecc_free(&plain);
	wc_ecc_free(&accel);
	wc_ecc_free(&pub_plain);
	wc_ecc_free(&pub_accel);
}
END_TEST

START_TEST(test_wrong_signature_is_not_verified)
{
	ecc_key plain, accel, pub_accel, other, other_accel;
	uint8_t hash[WC_SHA256_DIGEST_SIZE], sig[ECC_MAX_SIG_SIZE], bad[ECC_MAX_SIG_SIZE + 1];
	word32 siglen = sizeof(sig);
	int res;

	key_pair(&plain, &accel, devid);
	public_copy(&plain, &pub_accel, devid);
	key_pair(&other, &other_accel, devid);
	ck_assert_int_eq(wc_Sha256Hash((const byte *)"hello", 5, hash), 0);
	ck_assert_int_eq(wc_ecc_sign_hash(hash, sizeof(hash), sig, &siglen, &rng, &plain), 0);
	ck_assert_int_eq(verify(sig, siglen, hash, sizeof(hash), &pub_accel, &res), 0);
	ck_assert_int_eq(res, 1);

	/* the last byte belongs to s: the DER stays well-formed, the signature is wrong */
	memcpy(bad, sig, siglen);
	bad[siglen - 1] ^= 0x01;
	ck_assert_int_eq(verify(bad, siglen, hash, sizeof(hash), &pub_accel, &res), 0);
	ck_assert_int_eq(res, 0);
	/* wolfSSL's own verdict on the same bytes is the same */
	ck_assert_int_eq(verify(bad, siglen, hash, sizeof(hash), &plain, &res), 0);
	ck_assert_int_eq(res, 0);

	/* another hash */
	hash[0] ^= 0x80;
	ck_assert_int_eq(verify(sig, siglen, hash, sizeof(hash), &pub_accel, &res), 0);
	ck_assert_int_eq(res, 0);
	hash[0] ^= 0x80;

	/* another key */
	ck_assert_int_eq(verify(sig, siglen, hash, sizeof(hash), &other_accel, &res), 0);
	ck_assert_int_eq(res, 0);

	/* not DER at all, truncated, or with a byte after it: an error or a "no", never a pass */
	memset(bad, 0x30, sizeof(bad));
	res = 1;
	ck_assert(verify(bad, siglen, hash, sizeof(hash), &pub_accel, &res) != 0 || res == 0);
	res = 1;
	ck_assert(verify(sig, siglen - 1, hash, sizeof(hash), &pub_accel, &res) != 0 || res == 0);
	memcpy(bad, sig, siglen);
	bad[siglen] = 0;
	res = 1;
	ck_assert(verify(bad, siglen + 1, hash, sizeof(hash), &pub_accel, &res) != 0 || res == 0);

	/* the untouched signature still verifies after all that */
	ck_assert_int_eq(verify(sig, siglen, hash, sizeof(hash), &pub_accel, &res), 0);
	ck_assert_int_eq(res, 1);

	wc_ecc_free(&plain);
	wc_ecc_free(&accel);
	wc_ecc_free(&pub_accel);
	wc_ecc_free(&other);
	wc_ecc_free(&other_accel);
}
END_TEST

static void shared(ecc_key *priv, ecc_key *pub, uint8_t out[32])
{
	word32 len = 32;

#ifdef ECC_TIMING_RESISTANT
	/* wolfSSL's shared secret blinds with an RNG (the TLS layer sets one on its keys) */
	ck_assert_int_eq(wc_ecc_set_rng(priv, &rng), 0);
#endif
	ck_assert_int_eq(wc_ecc_shared_secret(priv, pub, out, &len), 0);
	ck_assert_uint_eq(len, 32);
}

START_TEST(test_ecdh_matches_wolfssl)
{
	ecc_key a, a_accel, b, b_accel, a_pub, b_pub;
	struct tls_accel_stats s0, s1;
	uint8_t want[32], got_a[32], got_b[32], zero[32] = { 0 };

	key_pair(&a, &a_accel, devid);
	key_pair(&b, &b_accel, devid);
	public_copy(&a, &a_pub, INVALID_DEVID);
	public_copy(&b, &b_pub, INVALID_DEVID);
#ifdef ECC_TIMING_RESISTANT
	/* wolfSSL's own shared secret wants an RNG for its blinding */
	ck_assert_int_eq(wc_ecc_set_rng(&a, &rng), 0);
#endif
	tls_accel_get_stats(&s0);
	shared(&a, &b_pub, want);
	ck_assert(memcmp(want, zero, sizeof(want)) != 0);

	/* keys on the device: it declines ECDH, wolfSSL does it, nothing changes */
	shared(&a_accel, &b_pub, got_a);
	shared(&b_accel, &a_pub, got_b);
	tls_accel_get_stats(&s1);
	ck_assert_uint_eq(s1.sign + s1.keygen, s0.sign + s0.keygen);
	ck_assert_mem_eq(got_a, want, sizeof(want));
	ck_assert_mem_eq(got_b, want, sizeof(want));

	wc_ecc_free(&a);
	wc_ecc_free(&a_accel);
	wc_ecc_free(&b);
	wc_ecc_free(&b_accel);
	wc_ecc_free(&a_pub);
	wc_ecc_free(&b_pub);
}
END_TEST

START_TEST(test_keygen_gives_a_key_wolfssl_accepts)
{
	ecc_key k, plain, peer, peer_accel, k_pub, peer_pub;
	struct tls_accel_stats s0, s1;
	uint8_t d[32], q[65], hash[WC_SHA256_DIGEST_SIZE], sig[ECC_MAX_SIG_SIZE], s_accel[32], s_plain[32];
	word32 dl = sizeof(d), ql = sizeof(q), siglen = sizeof(sig);
	int res;

	tls_accel_get_stats(&s0);
	ck_assert_int_eq(wc_ecc_init_ex(&k, NULL, devid), 0);
	ck_assert_int_eq(wc_ecc_make_key_ex(&rng, 32, &k, ECC_SECP256R1), 0);
	tls_accel_get_stats(&s1);
	ck_assert_uint_eq(s1.keygen, s0.keygen + 1);
	ck_assert_int_eq(k.type, ECC_PRIVATEKEY);
	ck_assert_int_eq(k.dp->id, ECC_SECP256R1);
	ck_assert_int_eq(wc_ecc_check_key(&k), 0);

	/* a wolfSSL-only copy of it signs, and shares the same secret with a peer as the device does */
	ck_assert_int_eq(wc_ecc_export_private_only(&k, d, &dl), 0);
	ck_assert_int_eq(wc_ecc_export_x963(&k, q, &ql), 0);
	ck_assert_int_eq(wc_ecc_init_ex(&plain, NULL, INVALID_DEVID), 0);
	ck_assert_int_eq(wc_ecc_import_private_key_ex(d, dl, q, ql, &plain, ECC_SECP256R1), 0);
	ck_assert_int_eq(wc_ecc_check_key(&plain), 0);
	ck_assert_int_eq(wc_Sha256Hash((const byte *)"keygen", 6, hash), 0);
	ck_assert_int_eq(wc_ecc_sign_hash(hash, sizeof(hash), sig, &siglen, &rng, &plain), 0);
	public_copy(&k, &k_pub, INVALID_DEVID);
	ck_assert_int_eq(verify(sig, siglen, hash, sizeof(hash), &k_pub, &res), 0);
	ck_assert_int_eq(res, 1);

	key_pair(&peer, &peer_accel, devid);
	public_copy(&peer, &peer_pub, INVALID_DEVID);
#ifdef ECC_TIMING_RESISTANT
	ck_assert_int_eq(wc_ecc_set_rng(&peer, &rng), 0);
#endif
	shared(&k, &peer_pub, s_accel);
	shared(&peer, &k_pub, s_plain);
	ck_assert_mem_eq(s_accel, s_plain, sizeof(s_plain));

	/* two keys are not the same key */
	{
		ecc_key k2;
		uint8_t q2[65];
		word32 q2l = sizeof(q2);

		ck_assert_int_eq(wc_ecc_init_ex(&k2, NULL, devid), 0);
		ck_assert_int_eq(wc_ecc_make_key_ex(&rng, 32, &k2, ECC_SECP256R1), 0);
		ck_assert_int_eq(wc_ecc_export_x963(&k2, q2, &q2l), 0);
		ck_assert(memcmp(q, q2, sizeof(q)) != 0);
		wc_ecc_free(&k2);
	}

	wc_ecc_free(&k);
	wc_ecc_free(&plain);
	wc_ecc_free(&peer);
	wc_ecc_free(&peer_accel);
	wc_ecc_free(&k_pub);
	wc_ecc_free(&peer_pub);
}
END_TEST

START_TEST(test_other_curves_stay_with_wolfssl)
{
	ecc_key k, pub;
	struct tls_accel_stats s0, s1;
	uint8_t hash[WC_SHA384_DIGEST_SIZE], sig[ECC_MAX_SIG_SIZE], q[97];
	word32 siglen = sizeof(sig), ql = sizeof(q);
	int res;

	tls_accel_get_stats(&s0);
	ck_assert_int_eq(wc_ecc_init_ex(&k, NULL, devid), 0);
	ck_assert_int_eq(wc_ecc_make_key_ex(&rng, 48, &k, ECC_SECP384R1), 0);
	ck_assert_int_eq(wc_ecc_check_key(&k), 0);
	ck_assert_int_eq(wc_Sha384Hash((const byte *)"p384", 4, hash), 0);
	ck_assert_int_eq(wc_ecc_sign_hash(hash, sizeof(hash), sig, &siglen, &rng, &k), 0);
	ck_assert_int_eq(wc_ecc_export_x963(&k, q, &ql), 0);
	ck_assert_int_eq(wc_ecc_init_ex(&pub, NULL, devid), 0);
	ck_assert_int_eq(wc_ecc_import_x963_ex(q, ql, &pub, ECC_SECP384R1), 0);
	ck_assert_int_eq(verify(sig, siglen, hash, sizeof(hash), &pub, &res), 0);
	ck_assert_int_eq(res, 1);
	tls_accel_get_stats(&s1);
	ck_assert_mem_eq(&s0, &s1, sizeof(s0)); /* none of it went through the device */
	wc_ecc_free(&k);
	wc_ecc_free(&pub);
}
END_TEST

/* Read once, at the first call: so in a child that has not called it yet. */
START_TEST(test_env_turns_it_off)
{
	pid_t pid = fork();
	int status;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		setenv("CVPN_TLS_ACCEL", "0", 1);
		_exit(tls_accel_devid() == TLS_ACCEL_NO_DEVICE && tls_accel_devid() == TLS_ACCEL_NO_DEVICE ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

/* --- a real handshake through tls.c, which attaches the device to both contexts --- */

static struct pki_set pki;
static const char *path_bad_crt; /* a client certificate whose signature is broken */

static void pki_setup(void)
{
	pki_set_make(&pki, "tls-accel");
	path_bad_crt = pki_set_file(&pki, "bad.crt");
	X509_free(pki_cert(path_bad_crt, "mallory", pki.cli_pkey, pki.ca_x509, pki.ca_pkey, "clientAuth", 4, true));
}

static void pki_teardown(void)
{
	pki_set_free(&pki);
}

static void move(struct tls_conn *from, struct tls_conn *to)
{
	uint8_t chunk[1200];
	size_t n;

	while ((n = tls_conn_take_out(from, chunk, sizeof(chunk))) > 0)
		ck_assert_int_eq(tls_conn_feed(to, chunk, n), 0);
}

/* Runs a handshake to its end; returns the server's connection error state through peer_error. */
static void handshake(const char *cli_crt, char *peer_error, size_t len)
{
	struct tls_ctx *sctx, *cctx;
	struct tls_conn *srv, *cli;
	uint8_t ks[256], kc[256];
	char err[256];
	int rs = 0, rc = 0;

	ck_assert_msg(tls_ctx_new(pki.srv_crt, pki.srv_key, pki.ca, &sctx, err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(tls_client_ctx_new(pki.ca, cli_crt, pki.cli_key, &cctx, err, sizeof(err)) == 0, "%s", err);
	srv = tls_conn_new(sctx);
	cli = tls_conn_new(cctx);
	ck_assert_ptr_nonnull(srv);
	ck_assert_ptr_nonnull(cli);
	for (int i = 0; i < 20 && (rs != 1 || rc != 1); i++) {
		rc = tls_conn_handshake(cli);
		ck_assert_msg(rc >= 0, "client: %s", tls_conn_error(cli));
		move(cli, srv);
		rs = tls_conn_handshake(srv);
		ck_assert_msg(rs >= 0, "server: %s", tls_conn_error(srv));
		move(srv, cli);
	}
	ck_assert_int_eq(rs, 1);
	ck_assert_int_eq(rc, 1);
	ck_assert_int_eq(tls_conn_export_datakeys(srv, ks), 0);
	ck_assert_int_eq(tls_conn_export_datakeys(cli, kc), 0);
	ck_assert_mem_eq(ks, kc, sizeof(ks));
	snprintf(peer_error, len, "%s", tls_conn_peer_error(srv) ? tls_conn_peer_error(srv) : "");
	tls_conn_free(srv);
	tls_conn_free(cli);
	tls_ctx_free(sctx);
	tls_ctx_free(cctx);
}

START_TEST(test_handshake_goes_through_the_device)
{
	struct tls_accel_stats s0, s1;
	char peer_error[160];

	ck_assert_int_ne(tls_accel_devid(), TLS_ACCEL_NO_DEVICE);
	pki_setup();
	tls_accel_get_stats(&s0);
	handshake(pki.cli_crt, peer_error, sizeof(peer_error));
	tls_accel_get_stats(&s1);
	ck_assert_str_eq(peer_error, "");
	/* each end signs its CertificateVerify on the device */
	ck_assert_uint_ge(s1.sign - s0.sign, 2);
	pki_teardown();
}
END_TEST

/* A client certificate whose CA signature is wrong is refused, with the device attached, as wolfSSL
 * refuses it without (the check stays wolfSSL's), and the reason says so. */
START_TEST(test_handshake_refuses_a_bad_certificate_signature)
{
	char peer_error[160], want[32];

	pki_setup();
	handshake(path_bad_crt, peer_error, sizeof(peer_error));
	snprintf(want, sizeof(want), "(client certificate, error %d)", X509_V_ERR_CERT_SIGNATURE_FAILURE);
	ck_assert_msg(strstr(peer_error, want) != NULL, "peer error: '%s'", peer_error);
	ck_assert_msg(strstr(peer_error, "certificate signature does not verify") != NULL, "peer error: '%s'",
		      peer_error);
	pki_teardown();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tls_accel");
	TCase *env = tcase_create("env"), *tc = tcase_create("core"), *hs = tcase_create("handshake");

	/* first, and without the fixture: the environment is read once per process, and with CK_FORK=no the
	 * other tests would have read it already */
	tcase_add_test(env, test_env_turns_it_off);
	suite_add_tcase(s, env);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_sign_accel_verify_wolfssl_and_back);
	tcase_add_test(tc, test_wrong_signature_is_not_verified);
	tcase_add_test(tc, test_ecdh_matches_wolfssl);
	tcase_add_test(tc, test_keygen_gives_a_key_wolfssl_accepts);
	tcase_add_test(tc, test_other_curves_stay_with_wolfssl);
	suite_add_tcase(s, tc);
	/* no fixture: CK_RUN_CASE=handshake CVPN_TLS_ACCEL=0 runs the refusal without the device, for comparison */
	tcase_add_test(hs, test_handshake_refuses_a_bad_certificate_signature);
	tcase_add_test(hs, test_handshake_goes_through_the_device);
	suite_add_tcase(s, hs);
	return check_run(s);
}
