/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_TEST_PKI_H
#define CVPN_TEST_PKI_H

/* A throw-away PKI made with libcrypto for tests that run real TLS handshakes in memory: P-256 keys and
 * certificates with the extensions OpenVPN expects (CA: keyCertSign; leaves: digitalSignature and an EKU).
 * Header-only; include after <check.h> and libcrypto's headers are allowed (before any wolfSSL header). */

#include <check.h>
#include <stdbool.h>
#include <stdio.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* A P-256 key, written as PEM to path unless path is NULL. */
static inline EVP_PKEY *pki_key(const char *path)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	FILE *f;

	ck_assert_ptr_nonnull(k);
	if (!path)
		return k;
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	return k;
}

static inline void pki_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *e;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	ck_assert_ptr_nonnull(e);
	ck_assert_int_eq(X509_add_ext(x, e, -1), 1);
	X509_EXTENSION_free(e);
}

/* A certificate for key, valid from an hour ago for a day, written as PEM to path; issuer NULL makes a
 * self-signed CA. corrupt: flip the last byte of the signature (still DER: it is s's), so the issuer's
 * signature no longer verifies. Returns the certificate as signed (owned by the caller). */
static inline X509 *pki_cert(const char *path, const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
			     const char *eku, long serial, bool corrupt)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	FILE *f;

	ck_assert_ptr_nonnull(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	X509_NAME_free(name);
	X509_set_pubkey(x, key);
	if (!issuer) {
		pki_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
		pki_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
	} else {
		pki_ext(x, issuer, NID_basic_constraints, "CA:FALSE");
		pki_ext(x, issuer, NID_key_usage, "critical,digitalSignature,keyAgreement");
		pki_ext(x, issuer, NID_ext_key_usage, eku);
	}
	ck_assert_int_gt(X509_sign(x, issuer_key, EVP_sha256()), 0);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	if (corrupt) {
		unsigned char *der = NULL;
		const unsigned char *p;
		int n = i2d_X509(x, &der);
		X509 *y;

		ck_assert_int_gt(n, 0);
		der[n - 1] ^= 0x01;
		p = der;
		y = d2i_X509(NULL, &p, n);
		ck_assert_ptr_nonnull(y);
		ck_assert_int_eq(PEM_write_X509(f, y), 1);
		X509_free(y);
		OPENSSL_free(der);
	} else {
		ck_assert_int_eq(PEM_write_X509(f, x), 1);
	}
	fclose(f);
	return x;
}

#endif
