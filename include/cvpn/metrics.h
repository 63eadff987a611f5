/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_METRICS_H
#define CVPN_METRICS_H

#include <stdio.h>

/* Metrics in the Prometheus text exposition format. The daemon answers `metrics` with a JSON object of
 * numbers (the names below, without the cvpn_ prefix); metrics_write_prometheus turns it into the text
 * format with HELP and TYPE lines, so cvpnctl can print either. Pure. */

struct json_object;

/* Writes every known metric present in m. Returns 0, or -EINVAL when m is not an object or a value is not a
 * number. */
int metrics_write_prometheus(struct json_object *m, FILE *out);
/* Days until the CRL at path must be replaced (its nextUpdate; negative once expired). 0 or -errno:
 * -EBADMSG when it holds no PEM CRL, -ENODATA when it has no nextUpdate. */
int metrics_crl_days(const char *path, double *days);

#endif
