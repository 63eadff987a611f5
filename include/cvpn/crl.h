/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_CRL_H
#define CVPN_CRL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* A certificate revocation list file, PEM or DER, read with libcrypto into what the TLS layer loads. */

struct crl_info {
	uint8_t *der;            /* the CRL in DER, owned: crl_info_clear() */
	size_t der_len;
	time_t next_update;      /* 0 when the CRL has none */
	size_t n_revoked;
};

/* Returns 0, or -1 with a reason in err (unreadable file, neither PEM nor DER CRL). */
int crl_load(const char *path, struct crl_info *out, char *err, size_t errlen);
void crl_info_clear(struct crl_info *ci);

#endif
