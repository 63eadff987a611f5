// SPDX-License-Identifier: GPL-2.0-or-later
/* Client certificate identity checks with OpenSSL's libcrypto on the DER that TLS handed us. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cvpn/cert.h"

/* A CN ends up in logs, JSON and nft comments: allow only a conservative character set. */
static int cn_is_sane(const char *cn)
{
	if (!*cn)
		return 0;
	for (const char *p = cn; *p; p++) {
		unsigned char ch = (unsigned char)*p;

		if (ch < 0x20 || ch > 0x7e || ch == '"' || ch == '\\' || ch == ',')
			return 0;
	}
	return 1;
}

int cert_check_client(const uint8_t *der, size_t len, char cn[CERT_CN_MAX + 1], char *reason, size_t reason_len)
{
	const unsigned char *p = der;
	X509 *x = NULL;
	uint32_t xku;
	int n, ret = -1;

	if (len > LONG_MAX || !(x = d2i_X509(NULL, &p, (long)len))) {
		snprintf(reason, reason_len, "client certificate cannot be parsed");
		goto out;
	}
	/* Ask for the length first: given a buffer, X509_NAME_get_text_by_NID() silently cuts the CN to fit and
	 * returns the cut length, which would let two long CNs map to one identity. */
	n = X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, NULL, 0);
	if (n <= 0) {
		snprintf(reason, reason_len, "client certificate has no common name");
		goto out;
	}
	if (n > CERT_CN_MAX ||
	    X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, CERT_CN_MAX + 1) != n ||
	    (size_t)n != strlen(cn) || !cn_is_sane(cn)) {
		snprintf(reason, reason_len, "client certificate common name is too long or has unusable characters");
		goto out;
	}
	/* X509_get_extended_key_usage() returns UINT32_MAX when the extension is absent; we require it present
	 * and listing clientAuth, as a cloud client-VPN endpoint does. */
	if (!(X509_get_extension_flags(x) & EXFLAG_XKUSAGE)) {
		snprintf(reason, reason_len, "client certificate has no extended key usage (clientAuth required)");
		goto out;
	}
	xku = X509_get_extended_key_usage(x);
	if (!(xku & XKU_SSL_CLIENT)) {
		snprintf(reason, reason_len, "client certificate lacks the clientAuth extended key usage");
		goto out;
	}
	ret = 0;
out:
	if (ret < 0)
		cn[0] = '\0';
	X509_free(x);
	return ret;
}
