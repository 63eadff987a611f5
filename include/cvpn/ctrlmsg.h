/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_CTRLMSG_H
#define CVPN_CTRLMSG_H

#include <stddef.h>
#include <stdint.h>

/* The text messages a client sends on the control channel once key-method 2 is done (openvpn-protocol.md
 * §4.2): each ends with a NUL, and one TLS record may carry several. Pure: splits and classifies, never
 * writes, never reads past len, and does not need a NUL at buf[len]. */

enum ctrlmsg_kind {
	CTRLMSG_OTHER = 0,           /* anything else: ignored by the server */
	CTRLMSG_PUSH_REQUEST,        /* exactly "PUSH_REQUEST" */
	CTRLMSG_EXIT,                /* exactly "EXIT" */
};

struct ctrlmsg {
	enum ctrlmsg_kind kind;
	const char *text;            /* into buf; NOT NUL-terminated: len bytes, no NUL among them */
	size_t len;                  /* > 0, trailing CR and LF already stripped */
};

/* The next message of buf[0, len) from *off on: a run of bytes up to a NUL or to len (the last one may lack
 * its NUL), trailing CRs and LFs stripped; messages that are empty then are skipped. Returns 1 with *out
 * filled and *off advanced past the message and its NUL, or 0 at the end (*off == len). Start with *off = 0;
 * an *off past len is taken as the end. */
int ctrlmsg_next(const uint8_t *buf, size_t len, size_t *off, struct ctrlmsg *out);

#endif
