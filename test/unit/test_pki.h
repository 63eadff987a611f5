/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_TEST_PKI_H
#define CVPN_TEST_PKI_H

/* A throw-away PKI made with libcrypto for tests that run real TLS handshakes in memory: P-256 keys and
 * certificates with the extensions OpenVPN expects (CA: keyCertSign; leaves: digitalSignature and an EKU).
 * Header-only; include after <check.h> and libcrypto's headers are allowed (before any wolfSSL header). */

#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* The set most tests want, in a fresh directory /tmp/cvpn-test-NAME.XXXXXX: a CA, a server certificate
 * ("gateway", serverAuth) and a client one ("alice", clientAuth), with their keys as files. The CA and the
 * client's key and certificate stay in memory for certificates a test adds; pki_set_file names such a file
 * in the directory, and pki_set_free removes it with the rest. */
#define PKI_PATH_MAX 96
#define PKI_EXTRA_MAX 4

struct pki_set {
	char dir[64];
	char ca[PKI_PATH_MAX], srv_crt[PKI_PATH_MAX], srv_key[PKI_PATH_MAX], cli_crt[PKI_PATH_MAX],
		cli_key[PKI_PATH_MAX];
	EVP_PKEY *ca_pkey, *cli_pkey;
	X509 *ca_x509, *cli_x509;
	char extra[PKI_EXTRA_MAX][PKI_PATH_MAX];
	unsigned n_extra;
};

static inline void pki_set_path(const struct pki_set *s, const char *file, char out[PKI_PATH_MAX])
{
	char dir[sizeof(s->dir)];

	/* through a copy: out lies in *s too, and gcc cannot tell it from dir (-Wrestrict) */
	memcpy(dir, s->dir, sizeof(dir));
	ck_assert_int_lt(snprintf(out, PKI_PATH_MAX, "%s/%s", dir, file), PKI_PATH_MAX);
}

/* A path for one more file in the set's directory, removed by pki_set_free. */
static inline const char *pki_set_file(struct pki_set *s, const char *file)
{
	ck_assert_uint_lt(s->n_extra, PKI_EXTRA_MAX);
	pki_set_path(s, file, s->extra[s->n_extra]);
	return s->extra[s->n_extra++];
}

static inline void pki_set_make(struct pki_set *s, const char *name)
{
	EVP_PKEY *srv_key;

	memset(s, 0, sizeof(*s));
	snprintf(s->dir, sizeof(s->dir), "/tmp/cvpn-test-%s.XXXXXX", name);
	ck_assert_ptr_nonnull(mkdtemp(s->dir));
	pki_set_path(s, "ca.crt", s->ca);
	pki_set_path(s, "server.crt", s->srv_crt);
	pki_set_path(s, "server.key", s->srv_key);
	pki_set_path(s, "client.crt", s->cli_crt);
	pki_set_path(s, "client.key", s->cli_key);
	s->ca_pkey = pki_key(NULL); /* signs in memory: no file */
	srv_key = pki_key(s->srv_key);
	s->cli_pkey = pki_key(s->cli_key);
	s->ca_x509 = pki_cert(s->ca, "Test CA", s->ca_pkey, NULL, s->ca_pkey, NULL, 1, false);
	X509_free(pki_cert(s->srv_crt, "gateway", srv_key, s->ca_x509, s->ca_pkey, "serverAuth", 2, false));
	s->cli_x509 = pki_cert(s->cli_crt, "alice", s->cli_pkey, s->ca_x509, s->ca_pkey, "clientAuth", 3, false);
	EVP_PKEY_free(srv_key);
}

static inline void pki_set_free(struct pki_set *s)
{
	const char *files[] = { s->ca, s->srv_crt, s->srv_key, s->cli_crt, s->cli_key };

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		unlink(files[i]);
	for (unsigned i = 0; i < s->n_extra; i++)
		unlink(s->extra[i]);
	rmdir(s->dir);
	X509_free(s->ca_x509);
	X509_free(s->cli_x509);
	EVP_PKEY_free(s->ca_pkey);
	EVP_PKEY_free(s->cli_pkey);
	s->ca_x509 = s->cli_x509 = NULL;
	s->ca_pkey = s->cli_pkey = NULL;
}

#endif
