// SPDX-License-Identifier: GPL-2.0-or-later
/* Key-method-2: the first application message each way on a fresh TLS session. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cvpn/keymethod.h"

struct reader {
	const uint8_t *p;
	size_t left;
};

static int rd_bytes(struct reader *r, void *out, size_t n)
{
	if (r->left < n)
		return -EINVAL;
	memcpy(out, r->p, n);
	r->p += n;
	r->left -= n;
	return 0;
}

/* u16 length, then the string with its NUL. L = 0 means absent; both absent and "\0" read as "". */
static int rd_string(struct reader *r, char *out, size_t cap)
{
	uint8_t lenb[2];
	size_t len;

	out[0] = '\0';
	if (r->left == 0)
		return 0; /* trailing fields may be missing entirely in old clients */
	if (rd_bytes(r, lenb, 2) < 0)
		return -EINVAL;
	len = (size_t)lenb[0] << 8 | lenb[1];
	if (len == 0)
		return 0;
	if (len > cap || len > r->left)
		return -EINVAL;
	if (r->p[len - 1] != '\0' || memchr(r->p, '\0', len - 1))
		return -EINVAL;
	memcpy(out, r->p, len);
	r->p += len;
	r->left -= len;
	return 0;
}

int km2_parse_client(const uint8_t *buf, size_t len, struct km2_client *out)
{
	struct reader r = { buf, len };
	uint8_t zero[4], method;

	memset(out, 0, sizeof(*out));
	if (rd_bytes(&r, zero, 4) < 0 || memcmp(zero, "\0\0\0\0", 4) != 0)
		goto bad;
	if (rd_bytes(&r, &method, 1) < 0 || (method & 0x0f) != 2)
		goto bad;
	if (rd_bytes(&r, out->pre_master, 48) < 0 || rd_bytes(&r, out->random1, 32) < 0 ||
	    rd_bytes(&r, out->random2, 32) < 0)
		goto bad;
	if (r.left < 2) /* the options string is mandatory */
		goto bad;
	if (rd_string(&r, out->options, sizeof(out->options)) < 0 ||
	    rd_string(&r, out->username, sizeof(out->username)) < 0 ||
	    rd_string(&r, out->password, sizeof(out->password)) < 0 ||
	    rd_string(&r, out->peer_info, sizeof(out->peer_info)) < 0)
		goto bad;
	return 0;
bad:
	km2_client_wipe(out);
	return -EINVAL;
}

void km2_client_wipe(struct km2_client *km)
{
	explicit_bzero(km, sizeof(*km));
}

static int wr(uint8_t *out, size_t cap, size_t *pos, const void *data, size_t n)
{
	if (cap - *pos < n)
		return -ENOSPC;
	memcpy(out + *pos, data, n);
	*pos += n;
	return 0;
}

ssize_t km2_build_server(const uint8_t random1[32], const uint8_t random2[32], const char *options,
			 uint8_t *out, size_t cap)
{
	static const uint8_t head[5] = { 0, 0, 0, 0, 2 };
	static const uint8_t empty[6] = { 0 }; /* username, password, peer-info: u16 0 each */
	size_t olen = strlen(options) + 1, pos = 0;
	uint8_t lenb[2] = { (uint8_t)(olen >> 8), (uint8_t)olen };

	if (olen > KM2_OPTIONS_MAX)
		return -EINVAL;
	if (wr(out, cap, &pos, head, 5) || wr(out, cap, &pos, random1, 32) || wr(out, cap, &pos, random2, 32) ||
	    wr(out, cap, &pos, lenb, 2) || wr(out, cap, &pos, options, olen) || wr(out, cap, &pos, empty, 6))
		return -ENOSPC;
	return (ssize_t)pos;
}

/* u16 length and the string with its NUL; the empty string is written as a bare u16 0. */
static int wr_string(uint8_t *out, size_t cap, size_t *pos, const char *s, size_t max)
{
	size_t l = strnlen(s, max);
	uint8_t lenb[2];

	if (l == max)
		return -EINVAL; /* no NUL within the limit */
	if (l == 0)
		return wr(out, cap, pos, "\0\0", 2);
	l++;
	lenb[0] = (uint8_t)(l >> 8);
	lenb[1] = (uint8_t)l;
	if (wr(out, cap, pos, lenb, 2) || wr(out, cap, pos, s, l))
		return -ENOSPC;
	return 0;
}

ssize_t km2_build_client(const struct km2_client *km, uint8_t *out, size_t cap)
{
	static const uint8_t head[5] = { 0, 0, 0, 0, 2 };
	size_t pos = 0;
	int ret;

	if (wr(out, cap, &pos, head, 5) || wr(out, cap, &pos, km->pre_master, 48) ||
	    wr(out, cap, &pos, km->random1, 32) || wr(out, cap, &pos, km->random2, 32))
		return -ENOSPC;
	/* the options string is mandatory, so even an empty one goes out with its NUL */
	if (km->options[0] == '\0') {
		if (wr(out, cap, &pos, "\0\1\0", 3))
			return -ENOSPC;
	} else if ((ret = wr_string(out, cap, &pos, km->options, sizeof(km->options))) < 0) {
		return ret;
	}
	if ((ret = wr_string(out, cap, &pos, km->username, sizeof(km->username))) < 0 ||
	    (ret = wr_string(out, cap, &pos, km->password, sizeof(km->password))) < 0 ||
	    (ret = wr_string(out, cap, &pos, km->peer_info, sizeof(km->peer_info))) < 0)
		return ret;
	return (ssize_t)pos;
}

int km2_parse_server(const uint8_t *buf, size_t len, struct km2_server *out)
{
	struct reader r = { buf, len };
	uint8_t zero[4], method;
	char scratch[KM2_PEER_INFO_MAX];

	memset(out, 0, sizeof(*out));
	if (rd_bytes(&r, zero, 4) < 0 || memcmp(zero, "\0\0\0\0", 4) != 0)
		goto bad;
	if (rd_bytes(&r, &method, 1) < 0 || (method & 0x0f) != 2)
		goto bad;
	/* a server sends no pre-master: the randoms follow the method byte directly */
	if (rd_bytes(&r, out->random1, 32) < 0 || rd_bytes(&r, out->random2, 32) < 0)
		goto bad;
	if (r.left < 2 || rd_string(&r, out->options, sizeof(out->options)) < 0)
		goto bad;
	/* username, password, peer-info: empty from a 2.6 server, but well-formed if present */
	for (int i = 0; i < 3; i++)
		if (rd_string(&r, scratch, sizeof(scratch)) < 0)
			goto bad;
	explicit_bzero(scratch, sizeof(scratch));
	return 0;
bad:
	explicit_bzero(out, sizeof(*out));
	return -EINVAL;
}

int peerinfo_get(const char *pi, const char *key, char *val, size_t val_len)
{
	size_t klen = strlen(key);
	const char *line = pi;

	if (val_len == 0)
		return -ENOSPC;

	while (line && *line) {
		const char *end = strchr(line, '\n');
		size_t llen = end ? (size_t)(end - line) : strlen(line);

		if (llen > klen && strncmp(line, key, klen) == 0 && line[klen] == '=') {
			size_t vlen = llen - klen - 1;

			if (vlen >= val_len)
				vlen = val_len - 1;
			memcpy(val, line + klen + 1, vlen);
			val[vlen] = '\0';
			/* values are versions, platform and cipher names: printable ASCII. Anything else the
			 * client put there would reach logs, the connection log (JSON: valid UTF-8 only) and the
			 * connect handler; it becomes '?' */
			for (size_t i = 0; i < vlen; i++)
				if ((unsigned char)val[i] < 0x20 || (unsigned char)val[i] > 0x7e)
					val[i] = '?';
			return 0;
		}
		line = end ? end + 1 : NULL;
	}
	return -ENOENT;
}

uint32_t peerinfo_iv_proto(const char *pi)
{
	char v[16], *end;
	unsigned long n;

	if (peerinfo_get(pi, "IV_PROTO", v, sizeof(v)) < 0)
		return 0;
	n = strtoul(v, &end, 10);
	if (end == v || *end != '\0' || n > UINT32_MAX)
		return 0;
	return (uint32_t)n;
}
