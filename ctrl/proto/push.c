// SPDX-License-Identifier: GPL-2.0-or-later
/* Builds PUSH_REPLY: the options the client needs for its tunnel. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cvpn/push.h"

#define OPT_MAX 256 /* 2.6's OPTION_LINE_SIZE */

struct push_out {
	char (*msgs)[PUSH_MSG_MAX];
	size_t max, n;
	size_t len; /* of msgs[n] */
};

static void fmt_mask(uint8_t len, char buf[16])
{
	config_format_ipv4(len ? 0xffffffffu << (32 - len) : 0, buf);
}

/* Room kept in every message for ",push-continuation 2" and the NUL. */
#define CONT_RESERVE (sizeof(",push-continuation 2"))

static int add_opt(struct push_out *po, const char *opt)
{
	size_t olen = strlen(opt);

	if (po->len + 1 + olen + CONT_RESERVE > PUSH_MSG_MAX) {
		if (po->n + 1 >= po->max)
			return -E2BIG;
		memcpy(po->msgs[po->n] + po->len, ",push-continuation 2", CONT_RESERVE);
		po->n++;
		po->len = (size_t)snprintf(po->msgs[po->n], PUSH_MSG_MAX, "PUSH_REPLY");
	}
	po->msgs[po->n][po->len++] = ',';
	memcpy(po->msgs[po->n] + po->len, opt, olen + 1);
	po->len += olen;
	return 0;
}

int push_build_reply(const struct push_params *pp, char msgs[][PUSH_MSG_MAX], size_t max)
{
	const struct config *cfg = pp->cfg;
	struct push_out po = { msgs, max, 0, 0 };
	char opt[OPT_MAX], a[16], m[16];
	int err;

	if (max == 0)
		return -E2BIG;
	po.len = (size_t)snprintf(msgs[0], PUSH_MSG_MAX, "PUSH_REPLY");

#define ADD(...)                                              \
	do {                                                  \
		snprintf(opt, sizeof(opt), __VA_ARGS__);       \
		if ((err = add_opt(&po, opt)) < 0)            \
			return err;                           \
	} while (0)

	config_format_ipv4(pp->gateway_addr, a);
	ADD("route-gateway %s", a);
	ADD("topology subnet");
	ADD("ping %u", cfg->keepalive_interval);
	ADD("ping-restart %u", cfg->keepalive_timeout);
	if (cfg->split_tunnel) {
		for (size_t i = 0; i < cfg->n_routes; i++) {
			const struct config_route *r = &cfg->routes[i];

			config_format_ipv4(r->dst.addr, a);
			fmt_mask(r->dst.len, m);
			ADD("route %s %s", a, m);
		}
	} else {
		ADD("redirect-gateway def1 bypass-dhcp");
	}
	for (size_t i = 0; i < cfg->n_dns_servers; i++) {
		config_format_ipv4(cfg->dns_servers[i], a);
		ADD("dhcp-option DNS %s", a);
	}
	for (size_t i = 0; i < cfg->n_search_domains; i++)
		ADD("dhcp-option DOMAIN %s", cfg->search_domains[i]);
	config_format_ipv4(pp->client_addr, a);
	fmt_mask(pp->prefix_len, m);
	ADD("ifconfig %s %s", a, m);
	if (pp->peer_id_on)
		ADD("peer-id %u", pp->peer_id);
	ADD("cipher %s", config_cipher_name(pp->cipher));
	if (pp->protocol_flags)
		ADD("protocol-flags cc-exit%s", pp->tls_ekm ? " tls-ekm" : "");
	else if (pp->tls_ekm)
		ADD("key-derivation tls-ekm");
#undef ADD
	if (po.n > 0) {
		if (po.len + CONT_RESERVE > PUSH_MSG_MAX)
			return -E2BIG;
		memcpy(msgs[po.n] + po.len, ",push-continuation 1", CONT_RESERVE);
	}
	return (int)po.n + 1;
}
