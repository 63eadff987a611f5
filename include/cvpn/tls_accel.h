/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_TLS_ACCEL_H
#define CVPN_TLS_ACCEL_H

/* wolfSSL's P-256 ECDSA signing and key generation done by libcrypto. Debian's wolfSSL has no SP assembly;
 * measured here, a signature costs 69 us in wolfSSL and 21 in OpenSSL's nistz256 code, a key 57 and 13.5.
 * Verification (73 vs 62 us) and ECDH (49 vs 48) gain too little to move the certificate signature check
 * out of wolfSSL, so they stay there. It is a wolfCrypt crypto-callback device: a WOLFSSL_CTX
 * (wolfSSL_CTX_SetDevId) or an ecc_key (wc_ecc_init_ex) given its id hands those operations to it, and
 * everything else (other curves, X25519, RSA, hashes, ciphers, key checks) stays with wolfSSL.
 *
 * CVPN_TLS_ACCEL=0 in the environment turns it off (read once, at the first call): benchmarks compare both. */

#define TLS_ACCEL_NO_DEVICE (-2) /* wolfSSL's INVALID_DEVID: "no device", wolfSSL does everything */

/* Registers the device on the first call (thread-safe) and returns its id, or TLS_ACCEL_NO_DEVICE when
 * turned off or when wolfCrypt refused the registration. */
int tls_accel_devid(void);

/* Operations the device has done so far, all threads together (tests, benchmark sanity checks). */
struct tls_accel_stats {
	unsigned long sign, keygen;
};
void tls_accel_get_stats(struct tls_accel_stats *out);

#endif
