/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_EXPORT_H
#define CVPN_EXPORT_H

#include <stdio.h>

struct config;

/* Writes the OpenVPN client configuration file for this endpoint (semantics.md §1): the options a stock
 * client needs, the server certificate's CN for verify-x509-name, and the server's CA chain (cfg->server_ca)
 * inline as <ca>. Returns 0 or -errno: -EDESTADDRREQ when there is no usable remote (wildcard listen address
 * and no `remote`), -EBADMSG when the server certificate or CA file holds no PEM certificate, -ENODATA when
 * the server certificate has no CN, -ENOENT / -EACCES / -EFBIG reading them, -EIO when writing fails. */
int export_client_config(const struct config *cfg, FILE *out);

/* Appends the PEM file at path inline as <tag>...</tag> (tag: "cert" or "key"), for a client file that carries
 * its own credentials. The copy read into memory is wiped. Returns 0 or -errno (-EBADMSG: not PEM). */
int export_inline_file(FILE *out, const char *tag, const char *path);

#endif
