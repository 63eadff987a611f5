// SPDX-License-Identifier: GPL-2.0-or-later
/* Control-channel text messages: split a TLS record's plaintext at its NULs and tell PUSH_REQUEST and EXIT
 * from the rest. The plaintext comes from a client that passed TLS but is still hostile: nothing here
 * assumes a terminating NUL or a length that fits anything. */
#include <string.h>

#include "cvpn/ctrlmsg.h"

static enum ctrlmsg_kind classify(const char *text, size_t len)
{
	/* whole-message matches: "PUSH_REQUESTX" or "EXIT now" are other messages, as strcmp saw them */
	if (len == 12 && !memcmp(text, "PUSH_REQUEST", 12))
		return CTRLMSG_PUSH_REQUEST;
	if (len == 4 && !memcmp(text, "EXIT", 4))
		return CTRLMSG_EXIT;
	return CTRLMSG_OTHER;
}

int ctrlmsg_next(const uint8_t *buf, size_t len, size_t *off, struct ctrlmsg *out)
{
	while (*off < len) {
		const uint8_t *start = buf + *off, *nul = memchr(start, '\0', len - *off);
		size_t l = nul ? (size_t)(nul - start) : len - *off;

		/* past the message and its NUL; a last message without one ends at len */
		*off += nul ? l + 1 : l;
		/* some clients (and people testing with a line-oriented tool) end messages with CR/LF */
		while (l > 0 && (start[l - 1] == '\n' || start[l - 1] == '\r'))
			l--;
		if (!l)
			continue;
		out->text = (const char *)start;
		out->len = l;
		out->kind = classify(out->text, l);
		return 1;
	}
	if (*off > len)
		*off = len;
	return 0;
}
