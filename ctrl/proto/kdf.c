// SPDX-License-Identifier: GPL-2.0-or-later
/* Legacy data-channel key derivation (openvpn-protocol.md §5.3): the TLS 1.0/1.1 PRF via OpenSSL 3's
 * "TLS1-PRF" EVP_KDF. With digest "MD5-SHA1" it splits the secret and XORs P_MD5 and P_SHA1 as RFC 2246 §5
 * says; it has no label argument of its own, and OpenVPN's label is part of the seed anyway. */
#include <errno.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "cvpn/kdf.h"

#define KDF_LABEL_LEN 21
#define KDF_MASTER_LEN 48
#define KDF_BLOCK_LEN 256

static const char label_master[KDF_LABEL_LEN + 1] = "OpenVPN master secret";
static const char label_expand[KDF_LABEL_LEN + 1] = "OpenVPN key expansion";

int kdf_tls1_prf(const uint8_t *secret, size_t secret_len, const uint8_t *seed, size_t seed_len,
		 uint8_t *out, size_t out_len)
{
	OSSL_PARAM params[4];
	EVP_KDF_CTX *kctx = NULL;
	EVP_KDF *kdf = NULL;
	char digest[] = "MD5-SHA1";
	int ret = -EINVAL;

	/* OpenSSL refuses an empty seed or output; an empty secret is a caller bug. Say so as -EINVAL. */
	if (!secret || !seed || !out || secret_len == 0 || seed_len == 0 || out_len == 0)
		goto out;
	ret = -ENOSYS;
	kdf = EVP_KDF_fetch(NULL, "TLS1-PRF", NULL);
	if (!kdf)
		goto out;
	ret = -ENOMEM;
	kctx = EVP_KDF_CTX_new(kdf);
	if (!kctx)
		goto out;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, (void *)secret, secret_len);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, (void *)seed, seed_len);
	params[3] = OSSL_PARAM_construct_end();
	ret = -EIO;
	if (EVP_KDF_derive(kctx, out, out_len, params) != 1)
		goto out;
	ret = 0;
out:
	/* The context holds a copy of the secret; EVP_KDF_CTX_free cleanses it. */
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return ret;
}

int kdf_openvpn_prf(const uint8_t pre_master[48], const uint8_t c_random1[32], const uint8_t c_random2[32],
		    const uint8_t s_random1[32], const uint8_t s_random2[32], const uint8_t c_sid[8],
		    const uint8_t s_sid[8], uint8_t block[256])
{
	uint8_t master[KDF_MASTER_LEN];
	uint8_t seed[KDF_LABEL_LEN + 32 + 32 + 8 + 8];
	size_t n;
	int ret;

	n = 0;
	memcpy(seed + n, label_master, KDF_LABEL_LEN), n += KDF_LABEL_LEN;
	memcpy(seed + n, c_random1, 32), n += 32;
	memcpy(seed + n, s_random1, 32), n += 32;
	ret = kdf_tls1_prf(pre_master, 48, seed, n, master, sizeof(master));
	if (ret)
		goto out;

	n = 0;
	memcpy(seed + n, label_expand, KDF_LABEL_LEN), n += KDF_LABEL_LEN;
	memcpy(seed + n, c_random2, 32), n += 32;
	memcpy(seed + n, s_random2, 32), n += 32;
	memcpy(seed + n, c_sid, 8), n += 8;
	memcpy(seed + n, s_sid, 8), n += 8;
	ret = kdf_tls1_prf(master, sizeof(master), seed, n, block, KDF_BLOCK_LEN);
out:
	if (ret)
		explicit_bzero(block, KDF_BLOCK_LEN);
	explicit_bzero(master, sizeof(master));
	explicit_bzero(seed, sizeof(seed));
	return ret;
}
