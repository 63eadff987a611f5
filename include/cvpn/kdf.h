/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_KDF_H
#define CVPN_KDF_H

#include <stddef.h>
#include <stdint.h>

/* Data-channel key derivation, legacy method (openvpn-protocol.md §5.3): the TLS 1.0/1.1 PRF
 * (RFC 2246 §5: P_MD5(S1) XOR P_SHA1(S2)). The TLS-EKM method lives in the TLS glue (it needs the TLS session). */

/* RFC 2246 PRF where the label is already part of seed. Returns 0 or -errno. */
int kdf_tls1_prf(const uint8_t *secret, size_t secret_len, const uint8_t *seed, size_t seed_len,
		 uint8_t *out, size_t out_len);

/* The OpenVPN key block from the key-method-2 randoms:
 * master = PRF(pre_master, "OpenVPN master secret" || c_random1 || s_random1)
 * block  = PRF(master, "OpenVPN key expansion" || c_random2 || s_random2 || c_sid || s_sid) */
int kdf_openvpn_prf(const uint8_t pre_master[48], const uint8_t c_random1[32], const uint8_t c_random2[32],
		    const uint8_t s_random1[32], const uint8_t s_random2[32], const uint8_t c_sid[8],
		    const uint8_t s_sid[8], uint8_t block[256]);

#endif
