// SPDX-License-Identifier: GPL-2.0-or-later
/* The compiled policy in nft syntax: what golden files compare and what `nft -f` loads. ctrl/policy_nft.c
 * builds the same objects as netlink messages; test_policy_nft checks that both listings are identical. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cvpn/policy.h"

static void fmt_addr(uint32_t a, char buf[16])
{
	snprintf(buf, 16, "%u.%u.%u.%u", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
}

static void put_cidr(FILE *f, struct cidr4 c)
{
	char a[16];

	fmt_addr(c.addr, a);
	if (c.len == 32)
		fputs(a, f);
	else
		fprintf(f, "%s/%u", a, c.len);
}

/* An interval as nft writes it: a prefix when it is one, else first-last. */
static void put_interval(FILE *f, uint32_t lo, uint32_t hi)
{
	char a[16], b[16];

	for (unsigned len = 0; len <= 32; len++) {
		uint32_t host = len == 0 ? UINT32_MAX : len == 32 ? 0 : ~(~0u << (32 - len));

		if ((lo & host) == 0 && hi == (lo | host)) {
			put_cidr(f, (struct cidr4){ lo, (uint8_t)len });
			return;
		}
	}
	fmt_addr(lo, a);
	fmt_addr(hi, b);
	fprintf(f, "%s-%s", a, b);
}

/* The names nft prints (from Debian's /etc/protocols) for the protocols an operator is likely to write;
 * the rest stay numbers, which nft accepts as well. */
static const char *proto_name(int proto)
{
	switch (proto) {
	case 1: return "icmp";
	case 2: return "igmp";
	case 4: return "ipencap";
	case 6: return "tcp";
	case 17: return "udp";
	case 33: return "dccp";
	case 41: return "ipv6";
	case 47: return "gre";
	case 50: return "esp";
	case 51: return "ah";
	case 58: return "ipv6-icmp";
	case 132: return "sctp";
	case 136: return "udplite";
	default: return NULL;
	}
}

/* protocols whose header nft knows, so "sctp dport 5000" implies "meta l4proto sctp" */
static bool proto_has_dport(int proto)
{
	return proto == 6 || proto == 17 || proto == 33 || proto == 132 || proto == 136;
}

static void put_ports(FILE *f, const struct policy_match *m)
{
	const char *pn = proto_has_dport(m->proto) ? proto_name(m->proto) : "th";

	if (m->port_lo == m->port_hi)
		fprintf(f, "%s dport %u", pn, m->port_lo);
	else
		fprintf(f, "%s dport %u-%u", pn, m->port_lo, m->port_hi);
}

static void put_match(FILE *f, const struct policy_rule *r, size_t i)
{
	const struct policy_match *m = &r->m[i];
	const char *neg = m->neg ? "!= " : "";

	switch (m->type) {
	case POLICY_M_IIF:
		fprintf(f, "iifname \"%s\" ", m->ifname);
		break;
	case POLICY_M_OIF:
		fprintf(f, "oifname \"%s\" ", m->ifname);
		break;
	case POLICY_M_SADDR:
	case POLICY_M_DADDR:
		fprintf(f, "ip %s %s", m->type == POLICY_M_SADDR ? "saddr" : "daddr", neg);
		put_cidr(f, m->cidr);
		fputc(' ', f);
		break;
	case POLICY_M_L4PROTO:
		/* "tcp dport" implies the protocol, as nft writes it */
		if (i + 1 < r->n_match && r->m[i + 1].type == POLICY_M_DPORT && proto_has_dport(m->proto))
			break;
		if (proto_name(m->proto))
			fprintf(f, "meta l4proto %s ", proto_name(m->proto));
		else
			fprintf(f, "meta l4proto %d ", m->proto);
		break;
	case POLICY_M_DPORT:
		put_ports(f, m);
		fputc(' ', f);
		break;
	case POLICY_M_MARK:
		fprintf(f, "meta mark 0x%08x ", m->value);
		break;
	case POLICY_M_CT_ESTREL:
		fputs("ct state established,related ", f);
		break;
	case POLICY_M_CT_REPLY:
		fputs("ct direction reply ", f);
		break;
	case POLICY_M_CT_ORIG_SADDR:
		fputs("ct original ip saddr ", f);
		put_cidr(f, m->cidr);
		fputc(' ', f);
		break;
	case POLICY_M_MARK_DADDR_IN:
		fprintf(f, "meta mark . ip daddr %s@%s ", neg, m->set);
		break;
	case POLICY_M_CTMARK_IN:
		fprintf(f, "ct mark %s@%s ", neg, m->set);
		break;
	}
}

static void put_rule(FILE *f, const struct policy_rule *r)
{
	char a[16];

	fputs("\t\t", f);
	for (size_t i = 0; i < r->n_match; i++)
		put_match(f, r, i);
	switch (r->stmt) {
	case POLICY_S_MARK_FROM_MAP:
		fprintf(f, "meta mark set ip saddr map @%s ", r->map);
		break;
	case POLICY_S_CTMARK_FROM_MAP:
		fprintf(f, "ct mark set ip saddr map @%s ", r->map);
		break;
	case POLICY_S_MARK_FROM_MAP_ORIG:
		fprintf(f, "meta mark set ct original ip saddr map @%s ", r->map);
		break;
	case POLICY_S_MARK_SET:
		fprintf(f, "meta mark set 0x%08x ", r->stmt_value);
		break;
	default:
		break;
	}
	if (r->counter)
		fputs("counter ", f);
	if (r->stmt == POLICY_S_SNAT) {
		fmt_addr(r->stmt_value, a);
		fprintf(f, "snat ip to %s ", a);
	}
	switch (r->verdict) {
	case POLICY_V_ACCEPT: fputs("accept ", f); break;
	case POLICY_V_DROP:   fputs("drop ", f); break;
	case POLICY_V_RETURN: fputs("return ", f); break;
	case POLICY_V_JUMP:   fprintf(f, "jump %s ", r->target); break;
	case POLICY_V_GOTO:   fprintf(f, "goto %s ", r->target); break;
	case POLICY_V_DADDR_VMAP: fprintf(f, "ip daddr vmap @%s ", r->map); break;
	default: break;
	}
	fprintf(f, "comment \"%s\"\n", r->comment);
}

static const char *const hook_line[] = {
	[POLICY_HOOK_PREROUTING] = "type filter hook prerouting priority mangle; policy accept;",
	[POLICY_HOOK_INPUT] = "type filter hook input priority filter; policy accept;",
	[POLICY_HOOK_FORWARD] = "type filter hook forward priority filter; policy accept;",
	[POLICY_HOOK_POSTROUTING] = "type nat hook postrouting priority srcnat; policy accept;",
};

static void elements_open(FILE *f, bool *first)
{
	fputs(*first ? "\t\telements = { " : ",\n\t\t\t     ", f);
	*first = false;
}

static int cmp_session(const void *a, const void *b)
{
	const struct policy_session *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static void put_isets(FILE *f, const struct policy_iset *sets, size_t n, size_t stride, bool *first)
{
	for (size_t i = 0; i < n; i++) {
		const struct policy_iset *s = (const void *)((const char *)sets + i * stride);

		for (size_t k = 0; k < s->n; k++) {
			elements_open(f, first);
			fprintf(f, "0x%08x . ", s->key);
			put_interval(f, s->iv[k].lo, s->iv[k].hi);
		}
	}
}

int policy_render_nft(const struct policy *p, const struct policy_session *sessions, size_t n, FILE *out)
{
	struct policy_session *sorted = NULL;
	bool first;
	char a[16];

	if (!p || !out || (n && !sessions))
		return -EINVAL;
	if (n) {
		/* nft lists map elements in address order; write them that way */
		sorted = malloc(n * sizeof(*sorted));
		if (!sorted)
			return -ENOMEM;
		memcpy(sorted, sessions, n * sizeof(*sorted));
		qsort(sorted, n, sizeof(*sorted), cmp_session);
	}
	fputs("table inet cvpn {\n", out);
	for (int map = 0; map < 2; map++) {
		fprintf(out, "\tmap %s {\n\t\ttype ipv4_addr : mark\n", map ? "sess_profile" : "sess_assoc");
		first = true;
		for (size_t i = 0; i < n; i++) {
			elements_open(out, &first);
			fmt_addr(sorted[i].addr, a);
			fprintf(out, "%s : 0x%08x", a, map ? sorted[i].profile : sorted[i].mark);
		}
		fputs(first ? "\t}\n\n" : " }\n\t}\n\n", out);
	}
	fputs("\tmap authz {\n\t\ttype ipv4_addr : verdict\n\t\tflags interval\n", out);
	first = true;
	for (size_t i = 0; i < p->n_spans; i++) {
		elements_open(out, &first);
		put_interval(out, p->spans[i].lo, p->spans[i].hi);
		fprintf(out, " : jump %s", p->classes[p->spans[i].cls].name);
	}
	fputs(first ? "\t}\n\n" : " }\n\t}\n\n", out);
	fputs("\tset routes {\n\t\ttype mark . ipv4_addr\n\t\tflags interval\n", out);
	first = true;
	put_isets(out, p->routes, p->n_routes, sizeof(p->routes[0]), &first);
	fputs(first ? "\t}\n" : " }\n\t}\n", out);
	for (size_t k = 0; k < p->n_classes; k++) {
		if (p->classes[k].all_users)
			continue;
		fprintf(out, "\n\tset %s {\n\t\ttype mark\n", p->classes[k].name);
		first = true;
		for (size_t i = 0; i < p->n_profiles; i++)
			if (policy_class_grants(&p->classes[k], &p->profiles[i])) {
				elements_open(out, &first);
				fprintf(out, "0x%08x", p->profiles[i].id);
			}
		fputs(first ? "\t}\n" : " }\n\t}\n", out);
	}

	for (size_t c = 0; c < p->n_chains; c++) {
		const struct policy_chain *ch = &p->chains[c];

		fprintf(out, "\n\tchain %s {\n", ch->name);
		if (ch->hook != POLICY_HOOK_NONE)
			fprintf(out, "\t\t%s\n", hook_line[ch->hook]);
		for (size_t i = 0; i < ch->n_rules; i++)
			put_rule(out, &ch->rules[i]);
		fputs("\t}\n", out);
	}
	fputs("}\n", out);
	free(sorted);
	return ferror(out) ? -EIO : 0;
}
