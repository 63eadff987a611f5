// SPDX-License-Identifier: GPL-2.0-or-later
/* The load generator's client session: the client half of openvpn-protocol.md §2.1, built from the same
 * packet, reliability, TLS, key-method and data-channel code as the gateway, doing what a 2.6 client does. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cvpn/config.h"
#include "cvpn/kdf.h"
#include "cvpn/keymethod.h"
#include "cvpn/packet.h"
#include "cvpn/tls.h"

#include "client.h"

#define TLS_READ_MAX 2048         /* a 2.6 peer's plaintext buffer */
#define PUSH_REQUEST_EVERY_MS 5000 /* as 2.6 repeats it */
#define TCP_RX_CAP (65535 + 2)
#define TCP_TX_DATA_LIMIT 65536   /* over this, data packets are dropped (control never is) */
#define TCP_TX_MAX (1024 * 1024)
#define DATA_BUF 2048


const char *lgc_fail_name(enum lgc_fail f)
{
	switch (f) {
	case LGC_FAIL_NONE:
		return "none";
	case LGC_FAIL_TIMEOUT:
		return "timeout";
	case LGC_FAIL_AUTH:
		return "auth_failed";
	case LGC_FAIL_TLS:
		return "tls_error";
	case LGC_FAIL_PROTO:
		return "protocol_error";
	case LGC_FAIL_NET:
		return "network_error";
	case LGC_FAIL_MAX:
		break;
	}
	return "?";
}

static void release(struct lg_client *c)
{
	if (c->fd >= 0)
		close(c->fd); /* also leaves the epoll set */
	c->fd = -1;
	tls_conn_free(c->tls);
	c->tls = NULL;
	reliable_free(&c->rel);
	aead_key_clear(&c->data);
	free(c->rx);
	free(c->tx);
	c->rx = c->tx = NULL;
	c->rx_len = c->tx_len = c->tx_cap = 0;
	explicit_bzero(c->pre_master, sizeof(c->pre_master));
	/* the reliability windows are the bulk of a session (~22 KiB): nothing more will be sent */
	memset(&c->rel, 0, sizeof(c->rel));
}

void lgc_fail(struct lg_client *c, enum lgc_fail why, const char *msg)
{
	if (c->state == LGC_FAILED || c->state == LGC_CLOSED)
		return;
	c->state = LGC_FAILED;
	c->fail = why;
	snprintf(c->fail_msg, sizeof(c->fail_msg), "%s", msg);
	release(c);
}

/* ---- output ---- */

static void set_want_out(struct lg_client *c, bool on)
{
	struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c };

	if (c->want_out == on || c->fd < 0)
		return;
	c->want_out = on;
	epoll_ctl(c->sh->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void tcp_push(struct lg_client *c)
{
	while (c->tx_len > 0 && !c->connecting) {
		ssize_t n = send(c->fd, c->tx, c->tx_len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			lgc_fail(c, LGC_FAIL_NET, strerror(errno));
			return;
		}
		memmove(c->tx, c->tx + n, c->tx_len - (size_t)n);
		c->tx_len -= (size_t)n;
	}
	set_want_out(c, c->connecting || c->tx_len > 0);
}

/* One OpenVPN packet to the server. Returns 0, or -errno when it was dropped. */
static int transmit(struct lg_client *c, const uint8_t *pkt, size_t len, bool is_data)
{
	if (c->fd < 0)
		return -EBADF;
	if (!c->sh->tcp) {
		/* a full socket buffer or an ICMP error from an earlier packet: a lost packet, as on any UDP path */
		if (send(c->fd, pkt, len, 0) < 0)
			return -errno;
		return 0;
	}
	if (len > 65535)
		return -EMSGSIZE;
	if (is_data && c->tx_len > TCP_TX_DATA_LIMIT)
		return -ENOBUFS;
	if (c->tx_len + len + 2 > c->tx_cap) {
		size_t ncap = c->tx_cap ? c->tx_cap : 4096;
		uint8_t *n;

		while (ncap < c->tx_len + len + 2)
			ncap *= 2;
		if (ncap > TCP_TX_MAX) {
			lgc_fail(c, LGC_FAIL_NET, "TCP send buffer overflow");
			return -ENOBUFS;
		}
		n = realloc(c->tx, ncap);
		if (!n)
			return -ENOMEM;
		c->tx = n;
		c->tx_cap = ncap;
	}
	c->tx[c->tx_len++] = (uint8_t)(len >> 8);
	c->tx[c->tx_len++] = (uint8_t)len;
	memcpy(c->tx + c->tx_len, pkt, len);
	c->tx_len += len;
	tcp_push(c);
	return 0;
}

static bool has_ack(const struct ctl_packet *p, uint32_t mid)
{
	for (uint8_t i = 0; i < p->n_acks; i++)
		if (p->acks[i] == mid)
			return true;
	return false;
}

/* Most recent first, no duplicates. */
static void remember_acks(struct lg_client *c, const uint32_t *acks, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t j, k = c->n_recent_acks;

		for (j = 0; j < c->n_recent_acks; j++)
			if (c->recent_acks[j] == acks[i])
				k = j;
		if (k == LGC_RECENT_ACKS)
			k--;
		memmove(c->recent_acks + 1, c->recent_acks, k * sizeof(c->recent_acks[0]));
		c->recent_acks[0] = acks[i];
		if (k == c->n_recent_acks)
			c->n_recent_acks++;
	}
}

static void send_ctl(struct lg_client *c, uint8_t opcode, const struct reliable_msg *m, size_t max_acks)
{
	uint8_t buf[RELIABLE_MAX_PAYLOAD + 128];
	struct ctl_packet p;
	ssize_t n;

	memset(&p, 0, sizeof(p));
	p.opcode = opcode;
	memcpy(p.sid, c->own_sid, 8);
	if (c->have_peer) {
		p.n_acks = (uint8_t)reliable_take_acks(&c->rel, p.acks, max_acks);
		remember_acks(c, p.acks, p.n_acks);
		/* as 2.6, fill the room with recently sent ACKs: a stateless server learns of our session only from
		 * a packet that ACKs its reset, and a retransmitted ClientHello must still carry that ACK */
		if (opcode != P_ACK_V1)
			for (uint8_t i = 0; i < c->n_recent_acks && p.n_acks < max_acks; i++)
				if (!has_ack(&p, c->recent_acks[i]))
					p.acks[p.n_acks++] = c->recent_acks[i];
		memcpy(p.peer_sid, c->peer_sid, 8);
	}
	if (m) {
		p.mid = m->mid;
		p.payload = m->data;
		p.payload_len = m->len;
	}
	n = packet_build_control(&p, buf, sizeof(buf));
	if (n > 0)
		transmit(c, buf, (size_t)n, false);
}

/* TLS output into the send window as it allows, then what is due, then ACKs that rode on nothing. */
static void flush(struct lg_client *c, uint64_t now_ms)
{
	uint8_t chunk[RELIABLE_MAX_PAYLOAD];
	struct reliable_msg *m;

	while (c->fd >= 0 && c->tls && tls_conn_out_pending(c->tls) > 0 && reliable_can_queue(&c->rel)) {
		size_t n = tls_conn_take_out(c->tls, chunk, sizeof(chunk));

		reliable_queue(&c->rel, P_CONTROL_V1, chunk, n, NULL);
	}
	while (c->fd >= 0 && (m = reliable_next_due(&c->rel, now_ms)))
		send_ctl(c, m->opcode, m, PACKET_MAX_PIGGYBACK_ACKS);
	while (c->fd >= 0 && c->have_peer && reliable_has_acks(&c->rel))
		send_ctl(c, P_ACK_V1, NULL, PACKET_MAX_ACKS);
}

static int send_text(struct lg_client *c, const char *msg)
{
	/* with its NUL, one message per TLS record (openvpn-protocol.md §4.2) */
	if (tls_conn_write(c->tls, (const uint8_t *)msg, strlen(msg) + 1) < 0) {
		lgc_fail(c, LGC_FAIL_TLS, tls_conn_error(c->tls));
		return -1;
	}
	return 0;
}

static int send_data(struct lg_client *c, const uint8_t *plain, size_t len, uint64_t now_ms)
{
	uint8_t buf[DATA_BUF + AEAD_OVERHEAD];
	ssize_t n;

	if (c->state != LGC_UP)
		return -ENOTCONN;
	n = aead_seal(&c->data, c->peer_id_on ? c->peer_id : PACKET_PEER_ID_UNDEF, plain, len, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	c->last_tx_ms = now_ms;
	return transmit(c, buf, (size_t)n, true);
}

/* ---- start ---- */

int lgc_start(struct lg_client *c, const struct lgc_shared *sh, uint32_t idx, int fd, bool connecting,
	      uint64_t now_ms)
{
	memset(c, 0, sizeof(*c));
	c->sh = sh;
	c->idx = idx;
	c->fd = fd;
	c->connecting = connecting;
	if (getrandom(c->own_sid, 8, 0) != 8 || getrandom(c->pre_master, 48, 0) != 48 ||
	    getrandom(c->c_random1, 32, 0) != 32 || getrandom(c->c_random2, 32, 0) != 32)
		return -EIO;
	/* all zero means "undefined" (§1.3) */
	if (!memcmp(c->own_sid, "\0\0\0\0\0\0\0\0", 8))
		c->own_sid[0] = 1;
	reliable_init(&c->rel, 0, 0, 2000);
	if (sh->tcp) {
		c->rx = malloc(TCP_RX_CAP);
		if (!c->rx)
			return -ENOMEM;
	}
	reliable_queue(&c->rel, P_CONTROL_HARD_RESET_CLIENT_V2, NULL, 0, NULL);
	c->state = LGC_RESET;
	c->start_ms = c->last_tx_ms = now_ms;
	flush(c, now_ms);
	if (sh->tcp)
		tcp_push(c);
	return 0;
}

/* ---- key exchange and push ---- */

static int send_km2(struct lg_client *c)
{
	struct km2_client km;
	uint8_t buf[4096];
	ssize_t n;
	int ret = -1;

	memset(&km, 0, sizeof(km));
	memcpy(km.pre_master, c->pre_master, 48);
	memcpy(km.random1, c->c_random1, 32);
	memcpy(km.random2, c->c_random2, 32);
	snprintf(km.options, sizeof(km.options), "%s", c->sh->options);
	snprintf(km.peer_info, sizeof(km.peer_info), "%s", c->sh->peer_info);
	n = km2_build_client(&km, buf, sizeof(buf));
	if (n < 0) {
		lgc_fail(c, LGC_FAIL_PROTO, "cannot build key-method-2");
		goto out;
	}
	if (tls_conn_write(c->tls, buf, (size_t)n) < 0) {
		lgc_fail(c, LGC_FAIL_TLS, tls_conn_error(c->tls));
		goto out;
	}
	ret = 0;
out:
	km2_client_wipe(&km);
	explicit_bzero(buf, sizeof(buf));
	return ret;
}

/* "cipher X" in the server's OCC options string: what a client adopts when nothing is pushed (§4.5). */
static enum cvpn_cipher occ_cipher(const char *options)
{
	const char *p = strstr(options, ",cipher ");
	char name[64];
	size_t n;

	if (!p)
		return CVPN_CIPHER_NONE;
	p += strlen(",cipher ");
	n = strcspn(p, ",");
	if (n >= sizeof(name))
		return CVPN_CIPHER_NONE;
	memcpy(name, p, n);
	name[n] = '\0';
	return config_cipher_from_name(name);
}

static void send_key_update(struct lg_client *c, uint64_t now_ms)
{
	if (tls_conn_key_update(c->tls) < 0) {
		lgc_fail(c, LGC_FAIL_TLS, "cannot send a TLS KeyUpdate (not TLS 1.3?)");
		return;
	}
	flush(c, now_ms);
}

static void on_km2(struct lg_client *c, const uint8_t *buf, size_t len, uint64_t now_ms)
{
	struct km2_server ks;

	if (km2_parse_server(buf, len, &ks) < 0) {
		lgc_fail(c, LGC_FAIL_PROTO, "malformed key-method-2 reply");
		return;
	}
	memcpy(c->s_random1, ks.random1, 32);
	memcpy(c->s_random2, ks.random2, 32);
	c->occ_cipher = occ_cipher(ks.options);
	explicit_bzero(&ks, sizeof(ks));
	c->state = LGC_PUSH;
	c->push_req_ms = now_ms;
	/* early: while the gateway may still be checking us (a connect handler, a directory) */
	if (c->sh->key_update == LGC_KEY_UPDATE_EARLY) {
		send_key_update(c, now_ms);
		if (c->state == LGC_FAILED)
			return;
	}
	send_text(c, "PUSH_REQUEST");
}

static uint8_t mask_len(uint32_t mask)
{
	uint8_t n = 0;

	while (n < 32 && (mask & (0x80000000u >> n)))
		n++;
	return n;
}

/* One pushed option; sets *more for push-continuation 2. */
static void push_option(struct lg_client *c, char *opt, bool *more)
{
	char *save = NULL, *word = strtok_r(opt, " ", &save), *a1, *a2;

	if (!word)
		return;
	a1 = strtok_r(NULL, " ", &save);
	if (strcmp(word, "ifconfig") == 0) {
		struct in_addr addr, mask;

		a2 = strtok_r(NULL, " ", &save);
		if (a1 && a2 && inet_pton(AF_INET, a1, &addr) == 1 && inet_pton(AF_INET, a2, &mask) == 1) {
			c->vaddr = ntohl(addr.s_addr);
			c->prefix_len = mask_len(ntohl(mask.s_addr));
		}
	} else if (strcmp(word, "peer-id") == 0 && a1) {
		c->peer_id = (uint32_t)strtoul(a1, NULL, 10);
		c->peer_id_on = c->peer_id < PACKET_PEER_ID_UNDEF;
	} else if (strcmp(word, "cipher") == 0 && a1) {
		c->cipher = config_cipher_from_name(a1);
	} else if (strcmp(word, "ping") == 0 && a1) {
		c->ping_s = (unsigned)strtoul(a1, NULL, 10);
	} else if (strcmp(word, "key-derivation") == 0 && a1 && strcmp(a1, "tls-ekm") == 0) {
		c->ekm = true;
	} else if (strcmp(word, "protocol-flags") == 0) {
		for (; a1; a1 = strtok_r(NULL, " ", &save))
			if (strcmp(a1, "tls-ekm") == 0)
				c->ekm = true;
	} else if (strcmp(word, "push-continuation") == 0 && a1) {
		*more = strcmp(a1, "2") == 0;
	}
}

static void install_keys(struct lg_client *c, uint64_t now_ms)
{
	uint8_t block[256];
	enum cvpn_cipher cipher = c->cipher ? c->cipher : c->occ_cipher;
	int ret;

	if (cipher == CVPN_CIPHER_NONE) {
		lgc_fail(c, LGC_FAIL_PROTO, "no usable data cipher pushed or offered");
		return;
	}
	if (c->vaddr == 0) {
		lgc_fail(c, LGC_FAIL_PROTO, "PUSH_REPLY without ifconfig");
		return;
	}
	/* §5: EKM if the server said so, else the PRF over both key-method-2 messages and both session ids */
	if (c->ekm)
		ret = tls_conn_export_datakeys(c->tls, block);
	else
		ret = kdf_openvpn_prf(c->pre_master, c->c_random1, c->c_random2, c->s_random1, c->s_random2,
				      c->own_sid, c->peer_sid, block);
	if (ret == 0)
		ret = aead_key_init_role(&c->data, cipher, 0, block, false);
	explicit_bzero(block, sizeof(block));
	explicit_bzero(c->pre_master, sizeof(c->pre_master));
	if (ret < 0) {
		lgc_fail(c, LGC_FAIL_PROTO, "data-channel key setup failed");
		return;
	}
	c->cipher = cipher;
	c->state = LGC_UP;
	c->up_ms = now_ms;
	if (c->sh->key_update == LGC_KEY_UPDATE_UP)
		send_key_update(c, now_ms);
}

static void on_push_reply(struct lg_client *c, char *msg, uint64_t now_ms)
{
	char *save = NULL;
	bool more = false;

	if (c->state != LGC_PUSH)
		return; /* an answer to a repeated PUSH_REQUEST */
	strtok_r(msg, ",", &save); /* "PUSH_REPLY" */
	for (char *opt = strtok_r(NULL, ",", &save); opt; opt = strtok_r(NULL, ",", &save))
		push_option(c, opt, &more);
	if (!more)
		install_keys(c, now_ms);
}

static bool has_prefix(const char *s, const char *p)
{
	size_t n = strlen(p);

	return strncmp(s, p, n) == 0 && (s[n] == '\0' || s[n] == ',');
}

static void on_text(struct lg_client *c, char *msg, uint64_t now_ms)
{
	if (has_prefix(msg, "PUSH_REPLY"))
		on_push_reply(c, msg, now_ms);
	else if (has_prefix(msg, "AUTH_FAILED"))
		lgc_fail(c, LGC_FAIL_AUTH, msg);
	else if (has_prefix(msg, "RESTART") || has_prefix(msg, "HALT"))
		lgc_fail(c, LGC_FAIL_PROTO, msg);
	/* INFO, AUTH_PENDING and the like: nothing a load generator acts on */
}

/* Runs the TLS handshake and reads what it delivers. */
static void drive(struct lg_client *c, uint64_t now_ms)
{
	uint8_t buf[TLS_READ_MAX + 1];
	ssize_t n;

	if (c->state == LGC_TLS) {
		int r = tls_conn_handshake(c->tls);

		if (r < 0) {
			flush(c, now_ms); /* the alert */
			lgc_fail(c, LGC_FAIL_TLS, tls_conn_error(c->tls));
			return;
		}
		if (r == 0)
			return;
		/* key-method-2 is the first application message, one record by itself (§4.2) */
		if (send_km2(c) < 0)
			return;
		c->state = LGC_KM2;
	}
	while (c->state >= LGC_KM2 && c->state <= LGC_UP) {
		n = tls_conn_read(c->tls, buf, TLS_READ_MAX);
		if (n == 0)
			return;
		if (n < 0) {
			lgc_fail(c, LGC_FAIL_TLS, tls_conn_error(c->tls));
			return;
		}
		if (c->state == LGC_KM2) {
			on_km2(c, buf, (size_t)n, now_ms);
			continue;
		}
		/* text messages: NUL-terminated, possibly several in one record */
		buf[n] = '\0';
		for (char *msg = (char *)buf; msg < (char *)buf + n && c->state <= LGC_UP; msg += strlen(msg) + 1) {
			size_t l = strlen(msg);

			while (l > 0 && (msg[l - 1] == '\n' || msg[l - 1] == '\r'))
				msg[--l] = '\0';
			if (l)
				on_text(c, msg, now_ms);
		}
	}
}

/* ---- input ---- */

static void on_control(struct lg_client *c, const uint8_t *buf, size_t len, uint64_t now_ms)
{
	const struct reliable_msg *m;
	struct ctl_packet p;

	if (packet_parse_control(buf, len, &p) < 0 || p.key_id != 0)
		return; /* key-id != 0: a renegotiation, beyond the length of a load-generator run */
	if (p.n_acks > 0 && memcmp(p.peer_sid, c->own_sid, 8) != 0)
		return;
	if (!c->have_peer) {
		/* the server's reset tells us its session id (the cookie, from a stateless server) */
		if (p.opcode != P_CONTROL_HARD_RESET_SERVER_V2)
			return;
		memcpy(c->peer_sid, p.sid, 8);
		c->have_peer = true;
	} else if (memcmp(p.sid, c->peer_sid, 8) != 0) {
		return;
	}
	for (int i = 0; i < p.n_acks; i++)
		reliable_on_ack(&c->rel, p.acks[i]);
	if (p.opcode != P_ACK_V1) {
		reliable_on_message(&c->rel, p.opcode, p.mid, p.payload, p.payload_len);
		while (c->fd >= 0 && (m = reliable_pop(&c->rel))) {
			if (m->opcode == P_CONTROL_HARD_RESET_SERVER_V2 && c->state == LGC_RESET) {
				c->tls = tls_conn_new(c->sh->tls);
				if (!c->tls) {
					lgc_fail(c, LGC_FAIL_PROTO, "out of memory");
					return;
				}
				c->state = LGC_TLS;
			} else if (m->opcode == P_CONTROL_V1 && c->tls && tls_conn_feed(c->tls, m->data, m->len) < 0) {
				lgc_fail(c, LGC_FAIL_PROTO, "control channel overflow");
				return;
			}
		}
	}
	if (c->fd < 0)
		return;
	drive(c, now_ms);
	if (c->fd >= 0)
		flush(c, now_ms);
}

static void on_data(struct lg_client *c, const uint8_t *pkt, size_t len, uint64_t now_ms)
{
	uint8_t buf[65536];
	ssize_t n;

	if (c->state != LGC_UP)
		return; /* before PUSH_REPLY a 2.6 client has no keys either (§5.4) */
	n = aead_open(&c->data, pkt, len, buf, sizeof(buf), now_ms / 1000);
	if (n <= 0)
		return;
	if (packet_is_ping(buf, (size_t)n))
		return;
	c->rx_pkts++;
	c->rx_bytes += (uint64_t)n;
	if (c->sh->on_ip)
		c->sh->on_ip(c, buf, (size_t)n, now_ms);
}

static void on_packet(struct lg_client *c, const uint8_t *buf, size_t len, uint64_t now_ms)
{
	if (len < 1)
		return;
	if (packet_is_data(packet_opcode(buf[0])))
		on_data(c, buf, len, now_ms);
	else
		on_control(c, buf, len, now_ms);
}

static void udp_readable(struct lg_client *c, uint64_t now_ms)
{
	uint8_t buf[65536];

	for (int i = 0; i < 64 && c->fd >= 0; i++) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n < 0)
			return; /* EAGAIN, or ECONNREFUSED from an earlier send: retransmission copes */
		on_packet(c, buf, (size_t)n, now_ms);
	}
}

static void tcp_readable(struct lg_client *c, uint64_t now_ms)
{
	for (int round = 0; round < 16 && c->fd >= 0; round++) {
		ssize_t n = recv(c->fd, c->rx + c->rx_len, TCP_RX_CAP - c->rx_len, MSG_DONTWAIT);
		size_t off = 0;

		if (n == 0) {
			lgc_fail(c, LGC_FAIL_NET, "connection closed by the server");
			return;
		}
		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				lgc_fail(c, LGC_FAIL_NET, strerror(errno));
			return;
		}
		c->rx_len += (size_t)n;
		/* complete frames: 2-byte big-endian length, then the packet (§1.1) */
		while (c->fd >= 0 && c->rx_len - off >= 2) {
			size_t flen = (size_t)c->rx[off] << 8 | c->rx[off + 1];

			if (c->rx_len - off - 2 < flen)
				break;
			on_packet(c, c->rx + off + 2, flen, now_ms);
			off += 2 + flen;
		}
		if (c->fd < 0)
			return;
		memmove(c->rx, c->rx + off, c->rx_len - off);
		c->rx_len -= off;
	}
}

void lgc_on_readable(struct lg_client *c, uint64_t now_ms)
{
	if (c->fd < 0)
		return;
	if (c->sh->tcp)
		tcp_readable(c, now_ms);
	else
		udp_readable(c, now_ms);
}

void lgc_on_writable(struct lg_client *c, uint64_t now_ms)
{
	(void)now_ms;
	if (c->fd < 0 || !c->sh->tcp)
		return;
	if (c->connecting) {
		int err = 0;
		socklen_t l = sizeof(err);

		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
			err = errno;
		if (err) {
			lgc_fail(c, LGC_FAIL_NET, strerror(err));
			return;
		}
		c->connecting = false;
	}
	tcp_push(c);
}

void lgc_tick(struct lg_client *c, uint64_t now_ms)
{
	if (lgc_in_handshake(c) && now_ms - c->start_ms >= c->sh->hs_timeout_ms) {
		lgc_fail(c, LGC_FAIL_TIMEOUT, c->state == LGC_RESET ? "no answer to the hard reset"
					      : c->state == LGC_TLS ? "TLS handshake did not finish"
					      : c->state == LGC_KM2 ? "no key-method-2 reply"
								    : "no PUSH_REPLY");
		return;
	}
	if (c->fd < 0)
		return;
	if (c->state == LGC_PUSH && now_ms - c->push_req_ms >= PUSH_REQUEST_EVERY_MS) {
		c->push_req_ms = now_ms;
		if (send_text(c, "PUSH_REQUEST") < 0)
			return;
	}
	if (c->state == LGC_UP && c->ping_s && now_ms - c->last_tx_ms >= (uint64_t)c->ping_s * 1000)
		send_data(c, packet_ping_magic, PACKET_MAGIC_LEN, now_ms);
	if (c->fd >= 0 && (reliable_has_acks(&c->rel) || reliable_next_deadline(&c->rel) <= now_ms ||
			   (c->tls && tls_conn_out_pending(c->tls) > 0)))
		flush(c, now_ms);
}

int lgc_send_ip(struct lg_client *c, const uint8_t *ip, size_t len, uint64_t now_ms)
{
	int ret;

	if (len > DATA_BUF)
		return -EMSGSIZE;
	ret = send_data(c, ip, len, now_ms);
	if (ret == 0) {
		c->tx_pkts++;
		c->tx_bytes += len;
	}
	return ret;
}

void lgc_close(struct lg_client *c)
{
	if (c->state == LGC_UP && !c->sh->tcp) {
		/* 2.6 without cc-exit sends OCC_EXIT on the data channel; twice, since UDP may lose one */
		uint8_t occ_exit[PACKET_MAGIC_LEN + 1];

		memcpy(occ_exit, packet_occ_magic, PACKET_MAGIC_LEN);
		occ_exit[PACKET_MAGIC_LEN] = PACKET_OCC_EXIT;
		send_data(c, occ_exit, sizeof(occ_exit), 0);
		send_data(c, occ_exit, sizeof(occ_exit), 0);
	}
	if (c->state != LGC_FAILED)
		c->state = LGC_CLOSED;
	release(c);
}
