// SPDX-License-Identifier: GPL-2.0-or-later
/* P-256 for wolfSSL through libcrypto, as a wolfCrypt crypto-callback device (see tls_accel.h).
 *
 * Only wolfcrypt headers here, never wolfssl/ssl.h or the wolfssl/openssl headers: wolfSSL's
 * OpenSSL-compatibility names would clash with libcrypto's. tls.c, which has ssl.h, attaches the device to
 * its contexts.
 *
 * The EC_KEY API is deprecated in OpenSSL 3 but it is the short path to nistz256: the EVP one imports each
 * key through the provider layer, which doubled the cost of a signature when we measured (39 vs 20 us).
 * A callback that answers CRYPTOCB_UNAVAILABLE makes wolfSSL do the operation itself, so anything unusual
 * (another curve, a key without the half we need) goes back to it unchanged. */
#define OPENSSL_SUPPRESS_DEPRECATED

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* libcrypto first: wolfSSL's options.h defines OPENSSL_NO_EC, which would hide all of ec.h */
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/settings.h>
#include <wolfssl/wolfcrypt/types.h>
#include <wolfssl/wolfcrypt/wc_port.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/cryptocb.h>
#include <wolfssl/wolfcrypt/error-crypt.h>

#include "cvpn/tls_accel.h"

#if !defined(WOLF_CRYPTO_CB) || !defined(HAVE_ECC)
#error "tls_accel needs wolfSSL built with crypto callbacks (WOLF_CRYPTO_CB) and ECC"
#endif

#define ACCEL_DEVID 0x43565041 /* "CVPA": any value but INVALID_DEVID; wolfCrypt keeps a small table */
#define P256_LEN 32
#define P256_POINT_LEN (1 + 2 * P256_LEN) /* uncompressed: 04 || X || Y */

static pthread_once_t accel_once = PTHREAD_ONCE_INIT;
static int accel_devid = TLS_ACCEL_NO_DEVICE;
/* Read-only once made: each EC_KEY gets its own copy (EC_KEY_set_group duplicates), which is cheaper than
 * building the curve from its name every time. */
static EC_GROUP *p256;
static unsigned long n_sign, n_keygen;

static void count(unsigned long *n) { __atomic_fetch_add(n, 1, __ATOMIC_RELAXED); }

static bool is_p256(const ecc_key *key) { return key && key->dp && key->dp->id == ECC_SECP256R1; }
static bool has_private(const ecc_key *key)
{
	return key->type == ECC_PRIVATEKEY || key->type == ECC_PRIVATEKEY_ONLY;
}

/* An EC_KEY on P-256 holding the private scalar of a wolfSSL key. */
static int ec_key_private(ecc_key *key, EC_KEY **out)
{
	uint8_t d[P256_LEN];
	word32 len = sizeof(d);
	BIGNUM *bn = NULL;
	EC_KEY *ek = NULL;
	int ret;

	ret = wc_ecc_export_private_only(key, d, &len);
	if (ret != 0)
		goto out;
	ret = WC_HW_E;
	if (len != P256_LEN)
		goto out;
	ek = EC_KEY_new();
	bn = BN_bin2bn(d, P256_LEN, NULL);
	if (!ek || !bn || EC_KEY_set_group(ek, p256) != 1 || EC_KEY_set_private_key(ek, bn) != 1)
		goto out;
	*out = ek;
	ek = NULL;
	ret = 0;
out:
	explicit_bzero(d, sizeof(d));
	BN_clear_free(bn);
	EC_KEY_free(ek);
	return ret;
}

static int accel_sign(const byte *in, word32 inlen, byte *out, word32 *outlen, ecc_key *key)
{
	EC_KEY *ek = NULL;
	ECDSA_SIG *sig = NULL;
	unsigned char *p = out;
	int ret, n;

	if (!is_p256(key) || !has_private(key) || !in || !out || !outlen || inlen > INT_MAX)
		return CRYPTOCB_UNAVAILABLE;
	ret = ec_key_private(key, &ek);
	if (ret != 0)
		goto out;
	/* OpenSSL draws the nonce itself (from its DRBG, hedged with the key and the hash), not from wolfSSL's
	 * RNG; and, like wolfSSL, uses the leftmost 256 bits of a longer hash. */
	sig = ECDSA_do_sign(in, (int)inlen, ek);
	ret = WC_HW_E;
	if (!sig)
		goto out;
	n = i2d_ECDSA_SIG(sig, NULL);
	if (n <= 0)
		goto out;
	ret = BUFFER_E;
	if ((word32)n > *outlen)
		goto out;
	ret = WC_HW_E;
	if (i2d_ECDSA_SIG(sig, &p) != n)
		goto out;
	*outlen = (word32)n;
	count(&n_sign);
	ret = 0;
out:
	ECDSA_SIG_free(sig);
	EC_KEY_free(ek);
	if (ret != 0)
		ERR_clear_error();
	return ret;
}

/* wolfSSL has set the key's curve before it calls us (key->dp); the new key goes into the ecc_key through
 * wolfSSL's import, so the ecc_key is laid out exactly as its own key generation would leave it. */
static int accel_keygen(ecc_key *key)
{
	uint8_t d[P256_LEN], q[P256_POINT_LEN];
	EC_KEY *ek = NULL;
	int ret;

	if (!is_p256(key))
		return CRYPTOCB_UNAVAILABLE;
	ret = WC_HW_E;
	ek = EC_KEY_new();
	if (!ek || EC_KEY_set_group(ek, p256) != 1 || EC_KEY_generate_key(ek) != 1)
		goto out;
	if (BN_bn2binpad(EC_KEY_get0_private_key(ek), d, P256_LEN) != P256_LEN ||
	    EC_POINT_point2oct(p256, EC_KEY_get0_public_key(ek), POINT_CONVERSION_UNCOMPRESSED, q, sizeof(q),
			       NULL) != sizeof(q))
		goto out;
	ret = wc_ecc_import_private_key_ex(d, P256_LEN, q, P256_POINT_LEN, key, ECC_SECP256R1);
	if (ret != 0)
		goto out;
	count(&n_keygen);
out:
	explicit_bzero(d, sizeof(d));
	EC_KEY_free(ek); /* clears the private scalar */
	if (ret != 0)
		ERR_clear_error();
	return ret;
}

static int accel_cb(int devid, wc_CryptoInfo *info, void *ctx)
{
	(void)devid;
	(void)ctx;
	if (!info || info->algo_type != WC_ALGO_TYPE_PK)
		return CRYPTOCB_UNAVAILABLE;
	switch (info->pk.type) {
	case WC_PK_TYPE_ECDSA_SIGN:
		return accel_sign(info->pk.eccsign.in, info->pk.eccsign.inlen, info->pk.eccsign.out,
				  info->pk.eccsign.outlen, info->pk.eccsign.key);
	/* ECDSA verify and ECDH stay wolfSSL's: libcrypto saved 11 and 1 us on them here, not worth moving
	 * the certificate signature check out of the library that parses the certificate */
	case WC_PK_TYPE_EC_KEYGEN:
		return accel_keygen(info->pk.eckg.key);
	default:
		return CRYPTOCB_UNAVAILABLE;
	}
}

static void accel_init(void)
{
	const char *env = getenv("CVPN_TLS_ACCEL");

	if (env && strcmp(env, "0") == 0)
		return;
	p256 = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
	if (!p256)
		return;
	/* before registering: wolfCrypt's first init empties the device table (it counts calls, so tls.c's
	 * later wolfSSL_Init does not) */
	if (wolfCrypt_Init() != 0 || wc_CryptoCb_RegisterDevice(ACCEL_DEVID, accel_cb, NULL) != 0) {
		EC_GROUP_free(p256);
		p256 = NULL;
		ERR_clear_error();
		return;
	}
	accel_devid = ACCEL_DEVID;
}

int tls_accel_devid(void)
{
	pthread_once(&accel_once, accel_init);
	return accel_devid;
}

void tls_accel_get_stats(struct tls_accel_stats *out)
{
	out->sign = __atomic_load_n(&n_sign, __ATOMIC_RELAXED);
	out->keygen = __atomic_load_n(&n_keygen, __ATOMIC_RELAXED);
}
