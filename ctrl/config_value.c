// SPDX-License-Identifier: GPL-2.0-or-later
/* Scalar values of the endpoint config: each getter checks the node, reports what is wrong with it at its
 * position, and leaves the destination untouched (or CFG_CIDR_BAD) on error. */
#define _GNU_SOURCE /* asprintf */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_int.h"
/* ---- scalar values ---- */

const char *cfg_scalar(struct cfg_ctx *ctx, yaml_node_t *n, const char *what)
{
	if (n->type != YAML_SCALAR_NODE) {
		cfg_error(ctx, n, "%s: expected a single value, not a %s", what,
			  n->type == YAML_SEQUENCE_NODE ? "list" : "mapping");
		return NULL;
	}
	if (strlen((const char *)n->data.scalar.value) != n->data.scalar.length) {
		cfg_error(ctx, n, "%s: contains a NUL byte", what);
		return NULL;
	}
	return (const char *)n->data.scalar.value;
}

/* Values end up in pushed options, client files, nft comments and JSON logs: refuse what could break out. */
static bool text_ok(const char *s, enum text_kind kind)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (kind) {
		case TEXT_NAME:
			if (!isalnum(*p) && *p != '.' && *p != '_' && *p != '-')
				return false;
			break;
		case TEXT_HOST:
			if (!isalnum(*p) && *p != '.' && *p != '_' && *p != '-' && *p != ':')
				return false;
			break;
		case TEXT_LINE:
			if (*p < 0x20 || *p == 0x7f)
				return false;
			break;
		case TEXT_BANNER:
			if ((*p < 0x20 && *p != '\n' && *p != '\t') || *p == 0x7f)
				return false;
			break;
		}
	}
	return true;
}

char *cfg_get_text(struct cfg_ctx *ctx, yaml_node_t *n, const char *what, enum text_kind kind, size_t max)
{
	const char *s = cfg_scalar(ctx, n, what);
	size_t len;

	if (!s)
		return NULL;
	len = strlen(s);
	if (kind != TEXT_LINE && kind != TEXT_BANNER && len == 0) {
		cfg_error(ctx, n, "%s: must not be empty", what);
		return NULL;
	}
	if (kind != TEXT_BANNER && len > max) {
		cfg_error(ctx, n, "%s: longer than %zu characters", what, max);
		return NULL;
	}
	if (!text_ok(s, kind)) {
		cfg_error(ctx, n, "%s: '%.64s' contains characters not allowed here%s", what, s,
			  kind == TEXT_NAME ? " (use letters, digits, '.', '_', '-')" : "");
		return NULL;
	}
	return cfg_strdup(ctx, s);
}

char *cfg_get_name(struct cfg_ctx *ctx, yaml_node_t *n, const char *what)
{
	return cfg_get_text(ctx, n, what, TEXT_NAME, CFG_MAX_NAME);
}

char *cfg_get_description(struct cfg_ctx *ctx, yaml_node_t *n)
{
	return n ? cfg_get_text(ctx, n, "description", TEXT_LINE, CFG_MAX_TEXT) : cfg_strdup(ctx, "");
}

bool cfg_get_bool(struct cfg_ctx *ctx, yaml_node_t *n, const char *what, bool *out)
{
	static const char *const yes[] = { "true", "True", "TRUE", "yes", "on" };
	static const char *const no[] = { "false", "False", "FALSE", "no", "off" };
	const char *s = cfg_scalar(ctx, n, what);

	if (!s)
		return false;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!strcmp(s, yes[i]))
			return *out = true, true;
		if (!strcmp(s, no[i]))
			return *out = false, true;
	}
	cfg_error(ctx, n, "%s: expected true or false, not '%.64s'", what, s);
	return false;
}

static bool parse_ulong(const char *s, unsigned long long max, unsigned long long *out)
{
	unsigned long long v = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s))
			return false;
		v = v * 10 + (unsigned)(*s - '0');
		if (v > max)
			return false;
	}
	*out = v;
	return true;
}

bool cfg_get_uint(struct cfg_ctx *ctx, yaml_node_t *n, const char *what, unsigned long long min,
		     unsigned long long max, unsigned long long *out)
{
	const char *s = cfg_scalar(ctx, n, what);

	if (!s)
		return false;
	if (!parse_ulong(s, max, out) || *out < min) {
		cfg_error(ctx, n, "%s: expected a whole number from %llu to %llu, not '%.64s'", what, min, max, s);
		return false;
	}
	return true;
}

/* "90" (seconds), "30s", "10m", "24h", "2d", or sums of those like "1h30m". */
static int parse_duration(const char *s, unsigned *out)
{
	unsigned long long total = 0;
	const char *begin = s;

	if (!*s)
		return -EINVAL;
	while (*s) {
		unsigned long long v = 0, mult;
		const char *start = s;

		for (; isdigit((unsigned char)*s); s++) {
			v = v * 10 + (unsigned)(*s - '0');
			if (v > CFG_MAX_DURATION)
				return -ERANGE;
		}
		if (s == start)
			return -EINVAL;
		switch (*s) {
		case '\0':
			/* a bare number only alone: "1h30" could mean minutes */
			if (start != begin)
				return -EINVAL;
			mult = 1;
			break;
		case 's': mult = 1; s++; break;
		case 'm': mult = 60; s++; break;
		case 'h': mult = 3600; s++; break;
		case 'd': mult = 86400; s++; break;
		default: return -EINVAL;
		}
		total += v * mult;
		if (total > CFG_MAX_DURATION)
			return -ERANGE;
	}
	*out = (unsigned)total;
	return 0;
}

bool cfg_get_duration(struct cfg_ctx *ctx, yaml_node_t *n, const char *what, unsigned min, unsigned *out)
{
	const char *s = cfg_scalar(ctx, n, what);
	unsigned v = 0; /* not read when parse_duration fails; some builds cannot see that */
	int r;

	if (!s)
		return false;
	r = parse_duration(s, &v);
	if (r == -ERANGE)
		cfg_error(ctx, n, "%s: '%.64s' is too long a duration", what, s);
	else if (r < 0)
		cfg_error(ctx, n, "%s: expected seconds or a duration like 30s, 10m, 24h, not '%.64s'", what, s);
	else if (v < min)
		cfg_error(ctx, n, "%s: must be at least %us", what, min);
	else
		*out = v;
	return r == 0 && v >= min;
}

void cfg_get_cidr(struct cfg_ctx *ctx, yaml_node_t *n, const char *what, struct cidr4 *out)
{
	const char *s;
	uint32_t addr;
	unsigned len;

	out->len = CFG_CIDR_BAD;
	if (!n) {
		cfg_error(ctx, NULL, "%s: missing", what); /* callers check presence first; defensive */
		return;
	}
	s = cfg_scalar(ctx, n, what);
	if (!s)
		return;
	if (cfg_parse_cidr_loose(s, &addr, &len) < 0) {
		cfg_error(ctx, n, "%s: '%.64s' is not an IPv4 CIDR like 198.18.1.0/24", what, s);
		return;
	}
	if (addr & ~cfg_mask(len)) {
		char net[CFG_CIDR_STRLEN];

		cfg_format_cidr((struct cidr4){ addr & cfg_mask(len), (uint8_t)len }, net);
		cfg_error(ctx, n, "%s: '%s' has host bits set; the network address is %s", what, s, net);
		return;
	}
	out->addr = addr;
	out->len = (uint8_t)len;
}

bool cfg_get_ipv4(struct cfg_ctx *ctx, yaml_node_t *n, const char *what, uint32_t *out)
{
	const char *s = cfg_scalar(ctx, n, what);

	if (!s)
		return false;
	if (cfg_parse_ipv4(s, out) < 0) {
		cfg_error(ctx, n, "%s: '%.64s' is not an IPv4 address", what, s);
		return false;
	}
	return true;
}

char *cfg_get_path(struct cfg_ctx *ctx, yaml_node_t *n, const char *what)
{
	const char *s = cfg_scalar(ctx, n, what);
	char *p;

	if (!s)
		return NULL;
	if (!*s) {
		cfg_error(ctx, n, "%s: empty path", what);
		return NULL;
	}
	if (s[0] == '/')
		return cfg_strdup(ctx, s);
	if (asprintf(&p, "%s/%s", ctx->dir, s) < 0) {
		cfg_error(ctx, n, "out of memory");
		return NULL;
	}
	return p;
}

/* protocol: tcp | udp | icmp | all | -1 | an IP protocol number */
bool cfg_get_proto(struct cfg_ctx *ctx, yaml_node_t *n, int *out)
{
	static const struct { const char *name; int proto; } names[] = {
		{ "all", CONFIG_PROTO_ALL }, { "-1", CONFIG_PROTO_ALL }, { "tcp", CONFIG_PROTO_TCP },
		{ "udp", CONFIG_PROTO_UDP }, { "icmp", CONFIG_PROTO_ICMP },
	};
	const char *s = cfg_scalar(ctx, n, "protocol");
	unsigned long long v;

	if (!s)
		return false;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcasecmp(s, names[i].name))
			return *out = names[i].proto, true;
	if (parse_ulong(s, 255, &v) && v >= 1) {
		*out = (int)v;
		return true;
	}
	cfg_error(ctx, n, "protocol: expected tcp, udp, icmp, all or a protocol number 1-255, not '%.64s'", s);
	return false;
}

static bool proto_has_ports(int proto)
{
	/* TCP, UDP, DCCP, SCTP, UDP-Lite: the ones whose ports nft matches with `th dport` */
	return proto == 6 || proto == 17 || proto == 33 || proto == 132 || proto == 136;
}

/* ports: N or N-M; only for protocols that have ports. Defaults to the whole range. */
void cfg_get_ports(struct cfg_ctx *ctx, yaml_node_t *n, int proto, bool proto_ok, uint16_t *from, uint16_t *to)
{
	const char *s, *dash;
	char a[8];
	unsigned long long lo, hi;

	*from = 0;
	*to = 65535;
	if (!n)
		return;
	s = cfg_scalar(ctx, n, "ports");
	if (!s)
		return;
	if (proto_ok && !proto_has_ports(proto)) {
		cfg_error(ctx, n, "ports: protocol %s has no ports (give ports only with tcp or udp)",
			  proto == CONFIG_PROTO_ALL ? "all" : proto == CONFIG_PROTO_ICMP ? "icmp" : "number given");
		return;
	}
	dash = strchr(s, '-');
	if (!dash) {
		if (!parse_ulong(s, 65535, &lo))
			goto bad;
		hi = lo;
	} else {
		if ((size_t)(dash - s) >= sizeof(a))
			goto bad;
		memcpy(a, s, (size_t)(dash - s));
		a[dash - s] = '\0';
		if (!parse_ulong(a, 65535, &lo) || !parse_ulong(dash + 1, 65535, &hi))
			goto bad;
		if (lo > hi) {
			cfg_error(ctx, n, "ports: range '%s' starts after it ends", s);
			return;
		}
	}
	*from = (uint16_t)lo;
	*to = (uint16_t)hi;
	return;
bad:
	cfg_error(ctx, n, "ports: expected a port (0-65535) or a range like 1024-65535, not '%.64s'", s);
}

/* Checks the node is a list and allocates exactly one element per item. Returns the item count. */
size_t cfg_alloc_list(struct cfg_ctx *ctx, yaml_node_t *n, const char *what, size_t elem, void **out)
{
	size_t count;

	*out = NULL;
	if (!n)
		return 0;
	if (n->type != YAML_SEQUENCE_NODE) {
		cfg_error(ctx, n, "%s: expected a list", what);
		return 0;
	}
	count = cfg_seq_len(n);
	*out = cfg_calloc(ctx, count, elem);
	return *out ? count : 0;
}
