// SPDX-License-Identifier: GPL-2.0-or-later
/* CRL files: libcrypto reads both encodings and the nextUpdate date; wolfSSL then gets DER. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cvpn/crl.h"

static X509_CRL *read_any(const char *path)
{
	X509_CRL *crl = NULL;
	BIO *bio = BIO_new_file(path, "rb");

	if (!bio)
		return NULL;
	crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
	if (!crl && BIO_reset(bio) == 0)
		crl = d2i_X509_CRL_bio(bio, NULL);
	BIO_free(bio);
	return crl;
}

int crl_load(const char *path, struct crl_info *out, char *err, size_t errlen)
{
	X509_CRL *crl;
	const ASN1_TIME *next;
	STACK_OF(X509_REVOKED) *revoked;
	unsigned char *der = NULL;
	struct tm tm;
	int len, ret = -1;

	memset(out, 0, sizeof(*out));
	crl = read_any(path);
	if (!crl) {
		FILE *f = fopen(path, "rb");

		if (!f)
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
		else
			snprintf(err, errlen, "%s: not a CRL in PEM or DER", path);
		if (f)
			fclose(f);
		return -1;
	}
	len = i2d_X509_CRL(crl, &der);
	if (len <= 0) {
		snprintf(err, errlen, "%s: cannot encode the CRL", path);
		goto out;
	}
	next = X509_CRL_get0_nextUpdate(crl);
	if (next) {
		if (ASN1_TIME_to_tm(next, &tm) != 1) {
			snprintf(err, errlen, "%s: unreadable nextUpdate", path);
			goto out;
		}
		out->next_update = timegm(&tm);
	}
	revoked = X509_CRL_get_REVOKED(crl);
	out->n_revoked = revoked ? (size_t)sk_X509_REVOKED_num(revoked) : 0;
	out->der = malloc((size_t)len);
	if (!out->der) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	memcpy(out->der, der, (size_t)len);
	out->der_len = (size_t)len;
	ret = 0;
out:
	OPENSSL_free(der);
	X509_CRL_free(crl);
	return ret;
}

void crl_info_clear(struct crl_info *ci)
{
	free(ci->der);
	memset(ci, 0, sizeof(*ci));
}
