// SPDX-License-Identifier: GPL-2.0-or-later
/* The upstream ovpn dialect (dco_int.h), Linux 6.16 and later: the numbers follow include/uapi/linux/ovpn.h
 * (generated from Documentation/netlink/specs/ovpn.yaml). Every peer request shares one nest, OVPN_A_PEER,
 * and every key request another, OVPN_A_KEYCONF; addresses travel as raw network-order bytes, and the
 * kernel's policy wants u32 where ovpn-dco-v2 took u8 or u16. */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "dco_int.h"

enum {
	CMD_PEER_NEW = 1, CMD_PEER_SET, CMD_PEER_GET, CMD_PEER_DEL, CMD_PEER_DEL_NTF, CMD_KEY_NEW, CMD_KEY_GET,
	CMD_KEY_SWAP, CMD_KEY_SWAP_NTF, CMD_KEY_DEL,
};
enum { A_PEER = 2, A_KEYCONF };
enum {
	PEER_ID = 1, PEER_REMOTE_IPV4, PEER_REMOTE_IPV6, PEER_REMOTE_IPV6_SCOPE_ID, PEER_REMOTE_PORT, PEER_SOCKET,
	PEER_SOCKET_NETNSID, PEER_VPN_IPV4, PEER_VPN_IPV6, PEER_LOCAL_IPV4, PEER_LOCAL_IPV6, PEER_LOCAL_PORT,
	PEER_KEEPALIVE_INTERVAL, PEER_KEEPALIVE_TIMEOUT, PEER_DEL_REASON, PEER_VPN_RX_BYTES, PEER_VPN_TX_BYTES,
	PEER_VPN_RX_PACKETS, PEER_VPN_TX_PACKETS,
};
enum { KEYCONF_PEER_ID = 1, KEYCONF_SLOT, KEYCONF_KEY_ID, KEYCONF_CIPHER_ALG, KEYCONF_ENCRYPT_DIR, KEYCONF_DECRYPT_DIR };

/* The remote as the kernel wants it: an IPv4-mapped address (a dual-stack socket's IPv4 client) as IPv4. */
static void put_remote(struct nlmsghdr *nlh, const struct sockaddr *remote)
{
	if (remote->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)remote;

		mnl_attr_put(nlh, PEER_REMOTE_IPV4, sizeof(sin->sin_addr), &sin->sin_addr);
		mnl_attr_put_u16(nlh, PEER_REMOTE_PORT, sin->sin_port);
		return;
	}
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)remote;

	if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
		mnl_attr_put(nlh, PEER_REMOTE_IPV4, 4, &sin6->sin6_addr.s6_addr[12]);
	} else {
		mnl_attr_put(nlh, PEER_REMOTE_IPV6, sizeof(sin6->sin6_addr), &sin6->sin6_addr);
		if (sin6->sin6_scope_id)
			mnl_attr_put_u32(nlh, PEER_REMOTE_IPV6_SCOPE_ID, sin6->sin6_scope_id);
	}
	mnl_attr_put_u16(nlh, PEER_REMOTE_PORT, sin6->sin6_port);
}

/* The local address in the remote's terms: an IPv4-mapped one (went with an IPv4-mapped remote, which
 * put_remote sent as IPv4) as IPv4, for the kernel refuses a local IPv6 beside a remote IPv4. */
static void put_local(struct nlmsghdr *nlh, const struct udp_local *l)
{
	if (l->family == AF_INET)
		mnl_attr_put(nlh, PEER_LOCAL_IPV4, sizeof(l->addr.v4), &l->addr.v4);
	else if (l->family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&l->addr.v6))
		mnl_attr_put(nlh, PEER_LOCAL_IPV4, 4, &l->addr.v6.s6_addr[12]);
	else if (l->family == AF_INET6)
		mnl_attr_put(nlh, PEER_LOCAL_IPV6, sizeof(l->addr.v6), &l->addr.v6);
}

static void ovpn_put(struct nlmsghdr *nlh, enum dco_op op, const struct dco_request *r)
{
	bool key_op = op == DCO_OP_NEW_KEY || op == DCO_OP_SWAP_KEYS || op == DCO_OP_DEL_KEY;
	struct nlattr *nest = mnl_attr_nest_start(nlh, key_op ? A_KEYCONF : A_PEER);
	uint32_t vaddr = htonl(r->vaddr);

	mnl_attr_put_u32(nlh, key_op ? KEYCONF_PEER_ID : PEER_ID, r->peer_id);
	switch (op) {
	case DCO_OP_NEW_PEER:
		put_remote(nlh, r->remote);
		put_local(nlh, r->local);
		mnl_attr_put_u32(nlh, PEER_SOCKET, (uint32_t)r->sock_fd);
		mnl_attr_put(nlh, PEER_VPN_IPV4, sizeof(vaddr), &vaddr);
		break;
	case DCO_OP_SET_KEEPALIVE:
		mnl_attr_put_u32(nlh, PEER_KEEPALIVE_INTERVAL, r->keepalive_interval);
		mnl_attr_put_u32(nlh, PEER_KEEPALIVE_TIMEOUT, r->keepalive_timeout);
		break;
	case DCO_OP_NEW_KEY:
		mnl_attr_put_u32(nlh, KEYCONF_SLOT, (uint32_t)r->slot);
		mnl_attr_put_u32(nlh, KEYCONF_KEY_ID, r->key_id);
		mnl_attr_put_u32(nlh, KEYCONF_CIPHER_ALG, r->alg);
		dco_put_key_dir(nlh, KEYCONF_ENCRYPT_DIR, r->encrypt_key, r->key_len, r->encrypt_nonce_tail);
		dco_put_key_dir(nlh, KEYCONF_DECRYPT_DIR, r->decrypt_key, r->key_len, r->decrypt_nonce_tail);
		break;
	case DCO_OP_DEL_KEY:
		mnl_attr_put_u32(nlh, KEYCONF_SLOT, (uint32_t)r->slot);
		break;
	case DCO_OP_SWAP_KEYS:
	case DCO_OP_DEL_PEER:
	case DCO_OP_GET_PEER: /* the kernel refuses any attribute besides the id here */
	case DCO_OP_COUNT:
		break;
	}
	mnl_attr_nest_end(nlh, nest);
}

const struct dco_dialect dco_dialect_ovpn = {
	.module = "ovpn",
	.family = "ovpn",
	.link_kind = "ovpn",
	.version = 1,
	.cmd = {
		[DCO_OP_NEW_PEER] = CMD_PEER_NEW, [DCO_OP_SET_KEEPALIVE] = CMD_PEER_SET, [DCO_OP_NEW_KEY] = CMD_KEY_NEW,
		[DCO_OP_SWAP_KEYS] = CMD_KEY_SWAP, [DCO_OP_DEL_KEY] = CMD_KEY_DEL, [DCO_OP_DEL_PEER] = CMD_PEER_DEL,
		[DCO_OP_GET_PEER] = CMD_PEER_GET,
	},
	.put = ovpn_put,
	.peer_nest = A_PEER,
	.peer_id = PEER_ID,
	.vpn_rx_bytes = PEER_VPN_RX_BYTES,
	.vpn_tx_bytes = PEER_VPN_TX_BYTES,
	.vpn_rx_packets = PEER_VPN_RX_PACKETS,
	.vpn_tx_packets = PEER_VPN_TX_PACKETS,
	.gone_cmd = CMD_PEER_DEL_NTF,
	.gone_nest = A_PEER,
	.gone_peer_id = PEER_ID,
	.gone_reason = PEER_DEL_REASON,
};
