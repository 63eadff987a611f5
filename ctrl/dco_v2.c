// SPDX-License-Identifier: GPL-2.0-or-later
/* The ovpn-dco-v2 dialect (dco_int.h): the numbers follow the module's UAPI, include/uapi/linux/ovpn_dco.h
 * in openvpn-dco-dkms. Each command has a nest of its own, and the peer's remote is a whole sockaddr. */
#include <arpa/inet.h>
#include <netinet/in.h>

#include "dco_int.h"

enum { CMD_NEW_PEER = 1, CMD_SET_PEER, CMD_DEL_PEER, CMD_NEW_KEY, CMD_SWAP_KEYS, CMD_DEL_KEY, CMD_GET_PEER };
enum { A_NEW_PEER = 2, A_SET_PEER, A_DEL_PEER, A_NEW_KEY, A_SWAP_KEYS, A_DEL_KEY, A_GET_PEER };
enum { NP_PEER_ID = 1, NP_SOCKADDR_REMOTE, NP_SOCKET, NP_IPV4, NP_IPV6, NP_LOCAL_IP };
enum { SP_PEER_ID = 1, SP_KEEPALIVE_INTERVAL, SP_KEEPALIVE_TIMEOUT };
enum { DP_REASON = 1, DP_PEER_ID };
enum { NK_PEER_ID = 1, NK_KEY_SLOT, NK_KEY_ID, NK_CIPHER_ALG, NK_ENCRYPT_KEY, NK_DECRYPT_KEY };
enum { DK_PEER_ID = 1, DK_KEY_SLOT }; /* A_DEL_KEY; A_SWAP_KEYS and A_GET_PEER hold the peer id alone, as 1 */
enum { GR_PEER_ID = 1, GR_VPN_RX_BYTES = 9, GR_VPN_TX_BYTES, GR_VPN_RX_PACKETS, GR_VPN_TX_PACKETS };

static void v2_put(struct nlmsghdr *nlh, enum dco_op op, const struct dco_request *r)
{
	static const uint16_t nest_of[DCO_OP_COUNT] = {
		[DCO_OP_NEW_PEER] = A_NEW_PEER, [DCO_OP_SET_KEEPALIVE] = A_SET_PEER, [DCO_OP_NEW_KEY] = A_NEW_KEY,
		[DCO_OP_SWAP_KEYS] = A_SWAP_KEYS, [DCO_OP_DEL_KEY] = A_DEL_KEY,     [DCO_OP_DEL_PEER] = A_DEL_PEER,
		[DCO_OP_GET_PEER] = A_GET_PEER,
	};
	struct nlattr *nest = mnl_attr_nest_start(nlh, nest_of[op]);

	switch (op) {
	case DCO_OP_NEW_PEER:
		mnl_attr_put_u32(nlh, NP_PEER_ID, r->peer_id);
		mnl_attr_put(nlh, NP_SOCKADDR_REMOTE,
			     r->remote->sa_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6),
			     r->remote);
		mnl_attr_put_u32(nlh, NP_SOCKET, (uint32_t)r->sock_fd);
		mnl_attr_put_u32(nlh, NP_IPV4, htonl(r->vaddr));
		/* 4 or 16 bytes; the module takes an IPv4-mapped one beside an IPv4-mapped remote */
		if (r->local->family == AF_INET)
			mnl_attr_put(nlh, NP_LOCAL_IP, sizeof(r->local->addr.v4), &r->local->addr.v4);
		else if (r->local->family == AF_INET6)
			mnl_attr_put(nlh, NP_LOCAL_IP, sizeof(r->local->addr.v6), &r->local->addr.v6);
		break;
	case DCO_OP_SET_KEEPALIVE:
		mnl_attr_put_u32(nlh, SP_PEER_ID, r->peer_id);
		mnl_attr_put_u32(nlh, SP_KEEPALIVE_INTERVAL, r->keepalive_interval);
		mnl_attr_put_u32(nlh, SP_KEEPALIVE_TIMEOUT, r->keepalive_timeout);
		break;
	case DCO_OP_NEW_KEY:
		mnl_attr_put_u32(nlh, NK_PEER_ID, r->peer_id);
		mnl_attr_put_u8(nlh, NK_KEY_SLOT, (uint8_t)r->slot);
		mnl_attr_put_u8(nlh, NK_KEY_ID, r->key_id);
		mnl_attr_put_u16(nlh, NK_CIPHER_ALG, (uint16_t)r->alg);
		dco_put_key_dir(nlh, NK_ENCRYPT_KEY, r->encrypt_key, r->key_len, r->encrypt_nonce_tail);
		dco_put_key_dir(nlh, NK_DECRYPT_KEY, r->decrypt_key, r->key_len, r->decrypt_nonce_tail);
		break;
	case DCO_OP_DEL_KEY:
		mnl_attr_put_u32(nlh, DK_PEER_ID, r->peer_id);
		mnl_attr_put_u8(nlh, DK_KEY_SLOT, (uint8_t)r->slot);
		break;
	case DCO_OP_DEL_PEER:
		mnl_attr_put_u32(nlh, DP_PEER_ID, r->peer_id);
		break;
	case DCO_OP_SWAP_KEYS:
	case DCO_OP_GET_PEER:
	case DCO_OP_COUNT:
		mnl_attr_put_u32(nlh, 1, r->peer_id);
		break;
	}
	mnl_attr_nest_end(nlh, nest);
}

const struct dco_dialect dco_dialect_v2 = {
	.module = "ovpn-dco-v2",
	.family = "ovpn-dco-v2",
	.link_kind = "ovpn-dco",
	.version = 0,
	.cmd = {
		[DCO_OP_NEW_PEER] = CMD_NEW_PEER, [DCO_OP_SET_KEEPALIVE] = CMD_SET_PEER, [DCO_OP_NEW_KEY] = CMD_NEW_KEY,
		[DCO_OP_SWAP_KEYS] = CMD_SWAP_KEYS, [DCO_OP_DEL_KEY] = CMD_DEL_KEY, [DCO_OP_DEL_PEER] = CMD_DEL_PEER,
		[DCO_OP_GET_PEER] = CMD_GET_PEER,
	},
	.put = v2_put,
	.peer_nest = A_GET_PEER,
	.peer_id = GR_PEER_ID,
	.vpn_rx_bytes = GR_VPN_RX_BYTES,
	.vpn_tx_bytes = GR_VPN_TX_BYTES,
	.vpn_rx_packets = GR_VPN_RX_PACKETS,
	.vpn_tx_packets = GR_VPN_TX_PACKETS,
	.gone_cmd = CMD_DEL_PEER,
	.gone_nest = A_DEL_PEER,
	.gone_peer_id = DP_PEER_ID,
	.gone_reason = DP_REASON,
};
