/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_CERT_H
#define CVPN_CERT_H

#include <stddef.h>
#include <stdint.h>

/* Checks on a client certificate beyond its chain (which TLS verified): it must carry a usable CN, which
 * becomes the connection's identity, and the clientAuth extended key usage. Returns 0 and fills cn, or -1 and
 * fills reason (safe to show to the client). */
#define CERT_CN_MAX 64

int cert_check_client(const uint8_t *der, size_t len, char cn[CERT_CN_MAX + 1], char *reason, size_t reason_len);

#endif
