// SPDX-License-Identifier: GPL-2.0-or-later
/* One client's life: control channel (reliability + TLS), key-method-2, authentication, address, push,
 * data channel, keepalive, renegotiation with a lame-duck key, and the end. See openvpn-protocol.md §9.4. */
#define _GNU_SOURCE /* asprintf */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "cvpn/auth.h"
#include "cvpn/cert.h"
#include "cvpn/ctrlmsg.h"
#include "cvpn/enforce.h"
#include "cvpn/kdf.h"
#include "cvpn/keymethod.h"
#include "cvpn/datapath.h"
#include "cvpn/handshake.h"
#include "cvpn/log.h"
#include "cvpn/pool.h"
#include "cvpn/push.h"
#include "cvpn/server.h"
#include "cvpn/session.h"
#include "cvpn/tls.h"
#include "cvpn/track.h"

#define TLS_READ_MAX 2048      /* a 2.6 peer's plaintext buffer; a key-method-2 message fits */
#define CLOSE_GRACE_MS 5000    /* time for AUTH_FAILED to be ACKed, as 2.6 does */
#define TERMINATE_GRACE_MS 2000 /* time for HALT/RESTART to be ACKed; the address is already gone */
#define DATA_BUF 65536
/* Each renegotiation a client starts (a soft reset, or a TLS KeyUpdate that needs one) costs the gateway a
 * full handshake, so an authenticated client could keep a core busy by asking in a loop. A client may start
 * CLIENT_RENEG_BURST at once, then one per CLIENT_RENEG_INTERVAL_MS; a soft reset beyond that is dropped
 * unacknowledged, so the client sends it again (its reliability layer backs off: 2, 4, 8 s...) and gets it
 * once allowed, well inside its 60 s hand-window. A stock client asks once an hour (reneg-sec 3600). */
#define CLIENT_RENEG_INTERVAL_MS 10000
#define CLIENT_RENEG_BURST 4

#define ping_magic packet_ping_magic

/* Return value of the internal steps: the session was ended and freed; the caller must not touch it. */
#define SESSION_GONE (-1)

/* The earliest time the client may start a renegotiation, from now_ms: a generic cell rate algorithm over
 * s->client_reneg_tat_ms (0 at first: the whole allowance). */
static uint64_t client_reneg_earliest(const struct session *s, uint64_t now_ms)
{
	const uint64_t tolerance = (uint64_t)(CLIENT_RENEG_BURST - 1) * CLIENT_RENEG_INTERVAL_MS;

	return s->client_reneg_tat_ms > now_ms + tolerance ? s->client_reneg_tat_ms - tolerance : now_ms;
}

/* Counts a client-started renegotiation that starts at at_ms. */
static void client_reneg_charge(struct session *s, uint64_t at_ms)
{
	if (s->client_reneg_tat_ms < at_ms)
		s->client_reneg_tat_ms = at_ms;
	s->client_reneg_tat_ms += CLIENT_RENEG_INTERVAL_MS;
}

static void client_reneg_log_deferral(struct session *s, const char *what, uint64_t at_ms, uint64_t now_ms)
{
	if (s->client_reneg_logged_ms == at_ms)
		return; /* the same deferral: a retransmitted soft reset */
	s->client_reneg_logged_ms = at_ms;
	log_info("session %llu %s: %s deferred %llu ms: a client may start %d renegotiations at once, then one "
		 "every %d s", (unsigned long long)s->id, s->cn, what, (unsigned long long)(at_ms - now_ms),
		 CLIENT_RENEG_BURST, CLIENT_RENEG_INTERVAL_MS / 1000);
}

static int ks_start(struct session *s, struct key_state *ks, uint8_t key_id, uint32_t send_mid, uint32_t recv_mid,
		    uint64_t now_ms)
{
	const struct config *cfg = s->srv->cfg;

	memset(ks, 0, sizeof(*ks));
	ks->key_id = key_id;
	reliable_init(&ks->rel, send_mid, recv_mid, 2000);
	ks->tls = tls_conn_new(s->srv->tls);
	if (!ks->tls)
		return -ENOMEM;
	ks->state = KS_TLS;
	ks->started_ms = now_ms;
	ks->deadline_ms = now_ms + (uint64_t)cfg->handshake_window * 1000;
	return 0;
}

static void ks_free(struct session *s, struct key_state *ks)
{
	if (ks->state != KS_NONE && ks->keys_ready)
		datapath_key_del(s, ks->key_id); /* a worker holds the key itself */
	if (ks->hs) {
		struct hs_job *j = ks->hs;

		if (hs_pool_cancel(s->srv->handshakes, j)) { /* still queued: it never runs */
			tls_conn_free(j->tls);
			free(j);
		} else {
			j->orphan = true; /* a handshake thread has the connection: freed when its step is back */
		}
	}
	reliable_free(&ks->rel);
	tls_conn_free(ks->tls);
	aead_key_clear(&ks->data);
	datapath_forget_block(ks);
	memset(ks, 0, sizeof(*ks));
}

static struct key_state *ks_find(struct session *s, uint8_t key_id)
{
	for (int i = 0; i < 2; i++)
		if (s->ks[i].state != KS_NONE && s->ks[i].key_id == key_id)
			return &s->ks[i];
	return NULL;
}

static struct session *session_alloc(struct server *srv, enum session_transport t, const struct sockaddr *remote,
				     socklen_t len, uint64_t now_ms)
{
	struct session *s = calloc(1, sizeof(*s));
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (!s)
		return NULL;
	s->srv = srv;
	s->transport = t;
	s->assoc_home = s->assoc_cur = -1;
	s->tcp_fd = -1;
	if (len > sizeof(s->remote))
		len = sizeof(s->remote);
	memcpy(&s->remote, remote, len);
	s->remote_len = len;
	if (remote->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)remote;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
	} else if (remote->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)remote;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
	}
	snprintf(s->remote_str, sizeof(s->remote_str), "%s:%u", host, port);
	s->created_ms = s->last_rx_ms = s->last_tx_ms = now_ms;
	s->start_time = time(NULL);
	s->state = SESSION_HANDSHAKE;
	strcpy(s->cn, "-");
	if (server_register_session(srv, s) < 0) { /* it logs, rate-limited */
		free(s);
		return NULL;
	}
	return s;
}

struct session *session_new_udp(struct server *srv, const struct sockaddr *remote, socklen_t len,
				const struct udp_local *local, const uint8_t own_sid[8], const uint8_t peer_sid[8],
				uint64_t now_ms)
{
	struct session *s = session_alloc(srv, SESSION_UDP, remote, len, now_ms);

	if (!s)
		return NULL;
	s->local = *local;
	memcpy(s->own_sid, own_sid, 8);
	memcpy(s->peer_sid, peer_sid, 8);
	/* both resets (message 0 each way) happened statelessly */
	if (ks_start(s, &s->ks[0], 0, 1, 1, now_ms) < 0) {
		session_end(s, "out of memory");
		return NULL;
	}
	log_debug("session %llu from %s: cookie verified", (unsigned long long)s->id, s->remote_str);
	return s;
}

struct session *session_new_tcp(struct server *srv, int fd, const struct sockaddr *remote, socklen_t len,
				const struct ctl_packet *reset, uint64_t now_ms)
{
	struct session *s = session_alloc(srv, SESSION_TCP, remote, len, now_ms);

	if (!s)
		return NULL;
	s->tcp_fd = fd;
	if (getrandom(s->own_sid, 8, 0) != 8 || ks_start(s, &s->ks[0], 0, 0, 0, now_ms) < 0) {
		session_end(s, "cannot initialise");
		return NULL;
	}
	memcpy(s->peer_sid, reset->sid, 8);
	/* over TCP there is no cookie: the connection itself proves the address (openvpn-protocol.md §1.1) */
	reliable_on_message(&s->ks[0].rel, reset->opcode, reset->mid, reset->payload, reset->payload_len);
	reliable_pop(&s->ks[0].rel);
	reliable_queue(&s->ks[0].rel, P_CONTROL_HARD_RESET_SERVER_V2, NULL, 0, NULL);
	return s;
}

void session_end(struct session *s, const char *why)
{
	struct server *srv = s->srv;
	char a[16] = "-";

	datapath_release(s); /* first: the counters below are the worker's until now */
	if (s->close_why[0])
		why = s->close_why; /* decided when it started closing; what happened since is detail */
	if (s->vaddr || s->last_vaddr)
		config_format_ipv4(s->vaddr ? s->vaddr : s->last_vaddr, a);
	auth_cancel(s); /* a login still waiting for its verdict is dropped */
	track_end(s, why);
	log_info("session %llu %s from %s ended: %s (address %s, in %llu bytes/%llu packets, out %llu bytes/%llu "
		 "packets, spoofed %llu)",
		 (unsigned long long)s->id, s->cn, s->remote_str, why, a, (unsigned long long)s->bytes_in,
		 (unsigned long long)s->pkts_in, (unsigned long long)s->bytes_out, (unsigned long long)s->pkts_out,
		 (unsigned long long)s->spoofed_drops);
	enforce_session_del(srv, s);
	if (s->vaddr) {
		server_set_vaddr(srv, s, 0);
		enforce_address_free(srv, s->vaddr);
		s->vaddr = 0;
	}
	ks_free(s, &s->ks[0]);
	ks_free(s, &s->ks[1]);
	for (size_t i = 0; i < s->n_dir_groups; i++)
		free(s->dir_groups[i]);
	free(s->dir_groups);
	server_unregister_session(srv, s);
	free(s);
}

/* ---- control channel output ---- */

static void send_ctl(struct session *s, struct key_state *ks, uint8_t opcode, const struct reliable_msg *m,
		     size_t max_acks)
{
	uint8_t buf[RELIABLE_MAX_PAYLOAD + 128];
	struct ctl_packet p;
	ssize_t n;

	memset(&p, 0, sizeof(p));
	p.opcode = opcode;
	p.key_id = ks->key_id;
	memcpy(p.sid, s->own_sid, 8);
	p.n_acks = (uint8_t)reliable_take_acks(&ks->rel, p.acks, max_acks);
	memcpy(p.peer_sid, s->peer_sid, 8);
	if (m) {
		p.mid = m->mid;
		p.payload = m->data;
		p.payload_len = m->len;
	}
	n = packet_build_control(&p, buf, sizeof(buf));
	if (n < 0) {
		log_warnx("session %llu: cannot build control packet: %s", (unsigned long long)s->id,
			  strerror((int)-n));
		return;
	}
	server_send_packet(s->srv, s, buf, (size_t)n);
}

/* Moves TLS ciphertext into the reliability layer as the send window allows, then sends what is due and
 * the ACKs that did not ride on a control packet. */
static void ks_flush(struct session *s, struct key_state *ks, uint64_t now_ms)
{
	uint8_t chunk[RELIABLE_MAX_PAYLOAD];
	struct reliable_msg *m;

	if (ks->state == KS_NONE)
		return;
	while (ks->tls && tls_conn_out_pending(ks->tls) > 0 && reliable_can_queue(&ks->rel)) {
		size_t n = tls_conn_take_out(ks->tls, chunk, sizeof(chunk));

		reliable_queue(&ks->rel, P_CONTROL_V1, chunk, n, NULL);
	}
	while ((m = reliable_next_due(&ks->rel, now_ms)))
		send_ctl(s, ks, m->opcode, m, PACKET_MAX_PIGGYBACK_ACKS);
	while (reliable_has_acks(&ks->rel))
		send_ctl(s, ks, P_ACK_V1, NULL, PACKET_MAX_ACKS);
}

static int tls_send_text(struct session *s, struct key_state *ks, const char *msg)
{
	/* text messages travel with their NUL, one per TLS record (openvpn-protocol.md §4.2) */
	if (tls_conn_write(ks->tls, (const uint8_t *)msg, strlen(msg) + 1) < 0) {
		log_warnx("session %llu: TLS write failed: %s", (unsigned long long)s->id, tls_conn_error(ks->tls));
		return -1;
	}
	return 0;
}

/* ---- authentication and key exchange ---- */

/* A connected session stops being one: no data either way from now, and its connection slot, its address
 * and everything routed to it go now, not when the client gets round to ACKing. The address, for the log,
 * into a. */
static void release_connection(struct session *s, char a[16])
{
	struct server *srv = s->srv;

	datapath_release(s);
	/* its data packets are nobody's now: the workers drop them instead of passing each one up to be
	 * dropped here (a client still sending at full rate would fill their upcall rings) */
	datapath_peer_id_live(srv, s->peer_id, false);
	srv->n_connected--;
	s->state = SESSION_CLOSING;
	enforce_session_del(srv, s);
	if (s->vaddr) {
		config_format_ipv4(s->vaddr, a);
		server_set_vaddr(srv, s, 0);
		enforce_address_free(srv, s->vaddr);
		s->last_vaddr = s->vaddr;
		s->vaddr = 0;
	}
}

static void refuse(struct session *s, struct key_state *ks, const char *reason, uint64_t now_ms)
{
	char msg[300], a[16] = "-";

	log_warnx("refused %s from %s: %s", s->username[0] ? s->username : s->cn, s->remote_str, reason);
	snprintf(s->close_why, sizeof(s->close_why), "%s", reason);
	track_attempt(s, reason);
	if (s->state == SESSION_CONNECTED) {
		/* refused at a renegotiation (revoked since, CRL expired, identity changed) */
		release_connection(s, a);
		log_info("session %llu %s from %s: %s; address %s released", (unsigned long long)s->id, s->cn,
			 s->remote_str, reason, a);
	}
	snprintf(msg, sizeof(msg), "AUTH_FAILED,%s", reason);
	tls_send_text(s, ks, msg);
	ks->state = KS_FAILED;
	s->state = SESSION_CLOSING;
	s->close_at_ms = now_ms + CLOSE_GRACE_MS;
}

static enum cvpn_cipher choose_cipher(const struct config *cfg, const char *peer_info)
{
	char list[256];

	if (peerinfo_get(peer_info, "IV_CIPHERS", list, sizeof(list)) < 0) {
		/* pre-2.5 clients: IV_NCP=2 means both GCM ciphers are acceptable */
		char ncp[8];

		if (peerinfo_get(peer_info, "IV_NCP", ncp, sizeof(ncp)) == 0 && atoi(ncp) >= 2)
			snprintf(list, sizeof(list), "AES-256-GCM:AES-128-GCM");
		else
			return CVPN_CIPHER_NONE;
	}
	for (size_t i = 0; i < sizeof(cfg->data_ciphers) / sizeof(cfg->data_ciphers[0]); i++) {
		enum cvpn_cipher c = cfg->data_ciphers[i];
		char *save = NULL, copy[256];

		if (c == CVPN_CIPHER_NONE)
			break;
		snprintf(copy, sizeof(copy), "%s", list);
		for (char *tok = strtok_r(copy, ":", &save); tok; tok = strtok_r(NULL, ":", &save))
			if (config_cipher_from_name(tok) == c)
				return c;
	}
	return CVPN_CIPHER_NONE;
}

static int derive_keys(struct session *s, struct key_state *ks, const struct km2_client *km,
		       const uint8_t s_random1[32], const uint8_t s_random2[32])
{
	uint8_t block[256];
	int ret;

	if (s->use_ekm)
		ret = tls_conn_export_datakeys(ks->tls, block);
	else
		ret = kdf_openvpn_prf(km->pre_master, km->random1, km->random2, s_random1, s_random2, s->peer_sid,
				      s->own_sid, block);
	if (ret == 0)
		ret = aead_key_init(&ks->data, s->cipher, ks->key_id, block);
	if (ret == 0)
		ret = datapath_keep_block(s, ks, block);
	explicit_bzero(block, sizeof(block));
	if (ret == 0) {
		ks->keys_ready = true;
		datapath_key_added(s, ks); /* a renegotiation of a session a worker has */
	}
	return ret;
}

static const char *occ_options(const struct session *s, char *buf, size_t len)
{
	/* informational only for 2.6 clients (mismatches are warnings); keep it plausible */
	snprintf(buf, len,
		 "V4,dev-type tun,link-mtu 1550,tun-mtu 1500,proto %s,cipher %s,auth [null-digest],keysize %d,"
		 "key-method 2,tls-server",
		 s->transport == SESSION_TCP ? "TCPv4_SERVER" : "UDPv4",
		 config_cipher_name(s->cipher ? s->cipher : CVPN_CIPHER_AES_256_GCM),
		 s->cipher == CVPN_CIPHER_AES_128_GCM ? 128 : 256);
	return buf;
}

static int send_push_reply(struct session *s, struct key_state *ks)
{
	char msgs[PUSH_MAX_MSGS][PUSH_MSG_MAX];
	struct push_params pp = {
		.cfg = s->srv->cfg,
		.client_addr = s->vaddr,
		.gateway_addr = pool_gateway_address(s->srv->pool),
		.prefix_len = s->srv->cfg->client_cidr.len,
		.peer_id_on = s->peer_id_on,
		.peer_id = s->peer_id,
		.cipher = s->cipher,
		.tls_ekm = s->use_ekm,
		.protocol_flags = (s->iv_proto & IV_PROTO_CC_EXIT_NOTIFY) != 0,
	};
	int n = push_build_reply(&pp, msgs, PUSH_MAX_MSGS);

	if (n < 0) {
		log_warnx("session %llu: PUSH_REPLY does not fit (%s)", (unsigned long long)s->id, strerror(-n));
		return -1;
	}
	for (int i = 0; i < n; i++)
		if (tls_send_text(s, ks, msgs[i]) < 0)
			return -1;
	s->pushed = true;
	datapath_adopt(s); /* its data goes to a worker from now, when one can take it */
	/* up: from here a client's KeyUpdate can be met with a renegotiation, so the control channel may leave
	 * wolfSSL (tls.h) */
	tls_conn_detach(ks->tls);
	/* The login banner as an INFO control message, after the push so it cannot delay the connection. A
	 * stock 2.6 client logs it ("Info command was pushed by server ('...')") and hands it to its
	 * management interface as >INFOMSG:, which is how GUIs get to display it. */
	if (s->srv->cfg->banner) {
		char *info = NULL;

		if (asprintf(&info, "INFO,%s", s->srv->cfg->banner) >= 0) {
			tls_send_text(s, ks, info);
			free(info);
		}
	}
	return 0;
}

/* The certificate half of authentication: the chain (verified by TLS, errors recorded), the CRL's
 * freshness, then identity and usage. */
static void check_certificate(struct session *s, struct key_state *ks, bool initial, char *reason, size_t len)
{
	const char *peer_err = tls_conn_peer_error(ks->tls);
	char cn[CERT_CN_MAX + 1], why[160] = "no client certificate";
	bool have = false, usable = false;
	const uint8_t *der;
	size_t der_len;
	time_t next;

	if (tls_conn_peer_cert(ks->tls, &der, &der_len) == 0) {
		have = true;
		usable = cert_check_client(der, der_len, cn, why, sizeof(why)) == 0;
	}
	/* an expired CRL cannot say who is revoked: nobody passes (as the cloud service does) */
	if (tls_ctx_crl_expired(s->srv->tls, time(NULL), &next)) {
		struct tm tm;
		char when[32] = "?";

		if (gmtime_r(&next, &tm))
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
		snprintf(reason, len, "the endpoint's certificate revocation list expired at %s", when);
	} else if (peer_err) {
		snprintf(reason, len, "%s", peer_err);
	} else if (!have || !usable) {
		snprintf(reason, len, "%s", why);
	} else if (!initial && strcmp(s->cn, cn) != 0) {
		snprintf(reason, len, "certificate identity changed on renegotiation");
	}
	/* a refused certificate's CN still names it in the log and the connection record */
	if (initial && usable)
		snprintf(s->cn, sizeof(s->cn), "%s", cn);
}

/* An authenticated session gets its address and its policy, and goes live. */
static void admit(struct session *s, struct key_state *ks, uint64_t now_ms)
{
	const struct config *cfg = s->srv->cfg;
	char reason[160] = "", a[16];
	uint32_t addr;

	if (s->srv->n_connected >= cfg->max_connections) {
		snprintf(reason, sizeof(reason), "the endpoint has reached its maximum of %u connections",
			 cfg->max_connections);
		s->srv->stat_refused_limit++;
	} else if (pool_alloc(s->srv->pool, &addr) < 0) {
		snprintf(reason, sizeof(reason), "no free address in the client CIDR");
	} else {
		s->vaddr = addr;
		server_set_vaddr(s->srv, s, addr);
		datapath_align_peer_id(s->srv, s);
		/* the kernel learns of the session before the client learns its address: nothing it sends can
		 * arrive ahead of its policy */
		enforce_session_add(s->srv, s, reason, sizeof(reason));
	}
	if (reason[0]) {
		refuse(s, ks, reason, now_ms);
		return;
	}
	ks->keys_ready = true;
	s->state = SESSION_CONNECTED;
	s->srv->n_connected++;
	s->established_time = time(NULL);
	track_attempt(s, NULL);
	s->reneg_at_ms = cfg->reneg_seconds ? now_ms + (uint64_t)cfg->reneg_seconds * 1000 : 0;
	s->pkts_out_at_reneg = s->pkts_out;
	config_format_ipv4(s->vaddr, a);
	log_info("session %llu %s from %s established address %s cipher %s key-derivation %s peer-id %u "
		 "client %s/%s %s%s%s",
		 (unsigned long long)s->id, s->cn, s->remote_str, a, config_cipher_name(s->cipher),
		 s->use_ekm ? "tls-ekm" : "prf", s->peer_id, s->iv_ver, s->iv_plat, tls_conn_version(ks->tls),
		 s->username[0] ? " user " : "", s->username);
	/* IV_PROTO_REQUEST_PUSH: the client accepts a reply before it asks */
	if (s->iv_proto & IV_PROTO_REQUEST_PUSH)
		send_push_reply(s, ks);
}

static void handle_km2(struct session *s, struct key_state *ks, struct km2_client *km, uint64_t now_ms)
{
	const struct config *cfg = s->srv->cfg;
	bool initial = s->state == SESSION_HANDSHAKE;
	uint8_t s_random1[32], s_random2[32], reply[1024];
	char reason[256] = "", opts[KM2_OPTIONS_MAX];
	ssize_t n;

	ks->km2_done = true;
	if (initial) {
		s->iv_proto = peerinfo_iv_proto(km->peer_info);
		if (peerinfo_get(km->peer_info, "IV_VER", s->iv_ver, sizeof(s->iv_ver)) < 0)
			strcpy(s->iv_ver, "unknown");
		if (peerinfo_get(km->peer_info, "IV_PLAT", s->iv_plat, sizeof(s->iv_plat)) < 0)
			strcpy(s->iv_plat, "unknown");
		s->cipher = choose_cipher(cfg, km->peer_info);
		s->use_ekm = cfg->offer_tls_ekm && (s->iv_proto & IV_PROTO_TLS_KEY_EXPORT);
		s->peer_id_on = (s->iv_proto & IV_PROTO_DATA_V2) != 0;
	}

	if (cfg->auth.certificate)
		check_certificate(s, ks, initial, reason, sizeof(reason));
	/* a renegotiation keeps the user it was authenticated as (the password is not asked again: 2.6
	 * clients may no longer have it) */
	if (!reason[0] && !initial && s->login_name[0] && strcmp(s->login_name, km->username) != 0)
		snprintf(reason, sizeof(reason), "user identity changed on renegotiation");
	if (reason[0])
		s->srv->stat_auth_failures++;
	if (!reason[0] && initial && s->srv->dco && !s->peer_id_on)
		snprintf(reason, sizeof(reason),
			 "the client cannot use a peer-id (OpenVPN 2.3 or older), which the kernel data channel needs");
	if (!reason[0] && initial && s->cipher == CVPN_CIPHER_NONE)
		snprintf(reason, sizeof(reason), "no common data cipher (the endpoint offers %s)",
			 config_cipher_name(cfg->data_ciphers[0]));

	/* the reply goes out even to a refused client: it reads key-method-2 before any text message */
	if (getrandom(s_random1, 32, 0) != 32 || getrandom(s_random2, 32, 0) != 32) {
		snprintf(reason, sizeof(reason), "internal error");
		memset(s_random1, 0, 32);
		memset(s_random2, 0, 32);
	}
	n = km2_build_server(s_random1, s_random2, occ_options(s, opts, sizeof(opts)), reply, sizeof(reply));
	if (n < 0 || tls_conn_write(ks->tls, reply, (size_t)n) < 0) {
		refuse(s, ks, "internal error", now_ms);
		return;
	}
	if (reason[0]) {
		refuse(s, ks, reason, now_ms);
		return;
	}
	if (derive_keys(s, ks, km, s_random1, s_random2) < 0) {
		refuse(s, ks, "key derivation failed", now_ms);
		return;
	}
	explicit_bzero(s_random1, 32);
	explicit_bzero(s_random2, 32);
	ks->state = KS_SENT_KEY;
	if (!initial)
		return;
	/* the keys wait for the verdict: nothing is accepted from the client until it is admitted */
	ks->keys_ready = false;
	if (auth_async(cfg)) {
		/* the directory and the connect handler answer later (session_login_done); the client meanwhile
		 * repeats PUSH_REQUEST, which a session in its handshake ignores */
		if (auth_start(s->srv->auth, s, km->username, km->password, km->peer_info, reason, sizeof(reason),
			       now_ms) < 0) {
			s->srv->stat_auth_failures++;
			refuse(s, ks, reason, now_ms);
		}
		return;
	}
	admit(s, ks, now_ms);
}

void session_login_done(struct session *s, const char *reason, char **groups, size_t n_groups, uint64_t now_ms)
{
	struct key_state *ks = &s->ks[0];

	for (size_t i = 0; i < s->n_dir_groups; i++)
		free(s->dir_groups[i]);
	free(s->dir_groups);
	s->dir_groups = groups;
	s->n_dir_groups = n_groups;
	if (s->state != SESSION_HANDSHAKE || !ks->tls)
		return;
	if (reason)
		refuse(s, ks, reason, now_ms);
	else
		admit(s, ks, now_ms);
	ks_flush(s, ks, now_ms); /* the verdict came from a worker, not with a packet: send it now */
}

static int handle_text(struct session *s, struct key_state *ks, const char *msg, uint64_t now_ms)
{
	if (strcmp(msg, "PUSH_REQUEST") == 0) {
		if (s->state == SESSION_CONNECTED && !s->pushed)
			send_push_reply(s, ks);
		return 0;
	}
	if (strcmp(msg, "EXIT") == 0) {
		ks_flush(s, ks, now_ms); /* ACK it, or the client retransmits into the void */
		session_end(s, "client disconnected");
		return SESSION_GONE;
	}
	log_debug("session %llu: ignoring control message '%.40s'", (unsigned long long)s->id, msg);
	return 0;
}

/* Runs the TLS handshake and reads what it delivers. */
/* What a handshake step's result r means for the key state: 1 established (read on), 0 not yet or failed
 * but kept (a renegotiation's AUTH_FAILED path), SESSION_GONE. */
static int ks_after_step(struct session *s, struct key_state *ks, int r, uint64_t now_ms)
{
	if (r >= 0)
		return r > 0;
	log_warnx("refused %s from %s: TLS handshake failed: %s", s->cn, s->remote_str, tls_conn_error(ks->tls));
	s->srv->stat_auth_failures++;
	if (s->state == SESSION_HANDSHAKE) {
		snprintf(s->close_why, sizeof(s->close_why), "TLS handshake failed: %s", tls_conn_error(ks->tls));
		track_attempt(s, s->close_why);
	}
	if (s->state == SESSION_HANDSHAKE || ks == &s->ks[0]) {
		ks_flush(s, ks, now_ms); /* the alert, so the client stops at once */
		session_end(s, "TLS handshake failed");
		return SESSION_GONE;
	}
	ks->state = KS_FAILED;
	return 0;
}

/* A handshake step for a handshake thread: the connection goes with it until session_on_handshake_step.
 * -ENOMEM: no job, nothing changed. */
static int ks_submit_step(struct session *s, struct key_state *ks)
{
	struct hs_job *j = calloc(1, sizeof(*j));

	if (!j)
		return -ENOMEM;
	j->tls = ks->tls;
	j->s = s;
	j->ks = ks;
	ks->tls = NULL;
	ks->hs = j;
	ks->fed = false;
	hs_pool_submit(s->srv->handshakes, j);
	return 0;
}

static int ks_read(struct session *s, struct key_state *ks, uint64_t now_ms);

/* Moves the key state on after control packets: the handshake (here, or on a handshake thread), then
 * whatever the established TLS session carries. */
static int ks_drive(struct session *s, struct key_state *ks, uint64_t now_ms)
{
	int r;

	if (ks->state == KS_TLS) {
		if (ks->hs)
			return 0; /* a step runs on a handshake thread; its end drives on */
		if (s->srv->handshakes) {
			if (!ks->fed) /* without new input a step would only ask for more */
				return 0;
			if (ks_submit_step(s, ks) == 0)
				return 0;
			/* no memory for the job: the step runs here rather than never (the client's messages are
			 * ACKed already, nothing would bring them again) */
		}
		ks->fed = false;
		r = ks_after_step(s, ks, tls_conn_handshake(ks->tls), now_ms);
		if (r != 1)
			return r;
	}
	return ks_read(s, ks, now_ms);
}

static int ks_read(struct session *s, struct key_state *ks, uint64_t now_ms)
{
	uint8_t buf[TLS_READ_MAX + 1];
	ssize_t n;

	if (ks->state == KS_NONE || !ks->tls || !tls_conn_established(ks->tls))
		return 0;
	for (;;) {
		n = tls_conn_read(ks->tls, buf, TLS_READ_MAX);
		if (n == 0)
			return 0;
		if (n == TLS_CONN_REKEY) {
			/* the client rekeyed a control channel that left wolfSSL (tls.h): a new TLS session on the
			 * next key-id replaces it; data keeps flowing on the current key meanwhile */
			log_info("session %llu %s: client sent a TLS KeyUpdate; renegotiating", (unsigned long long)s->id,
				 s->cn);
			if (ks == &s->ks[0]) { /* one per TLS session: the connection reads nothing after it */
				uint64_t at = client_reneg_earliest(s, now_ms);

				client_reneg_charge(s, at);
				if (at > now_ms)
					client_reneg_log_deferral(s, "renegotiation for its KeyUpdate", at, now_ms);
				s->reneg_at_ms = at; /* session_tick starts it once this key state is active */
			}
			return 0;
		}
		if (n < 0) {
			log_warnx("session %llu: TLS read failed: %s", (unsigned long long)s->id,
				  tls_conn_error(ks->tls));
			session_end(s, "TLS error");
			return SESSION_GONE;
		}
		if (!ks->km2_done) {
			struct km2_client km;

			int bad = km2_parse_client(buf, (size_t)n, &km) < 0;

			explicit_bzero(buf, (size_t)n); /* the pre-master secret and the password, in plain */
			if (bad) {
				log_warnx("refused %s from %s: malformed key-method-2 message", s->cn, s->remote_str);
				session_end(s, "protocol error");
				return SESSION_GONE;
			}
			handle_km2(s, ks, &km, now_ms);
			km2_client_wipe(&km);
			/* keys derived and certificate checked: the handshake's leftovers can go (kept: the record
			 * layer, for PUSH_REPLY, AUTH_FAILED, EXIT, RESTART on this key state) */
			tls_conn_trim(ks->tls);
			/* a renegotiation of a session that is up: nothing is waiting for admission */
			if (s->state == SESSION_CONNECTED && s->pushed)
				tls_conn_detach(ks->tls);
			continue;
		}
		/* text messages: NUL-separated, possibly several in one record (ctrlmsg.c splits them) */
		struct ctrlmsg cm;

		for (size_t off = 0; ctrlmsg_next(buf, (size_t)n, &off, &cm) > 0;) {
			/* handle_text takes a string: end it where its NUL, a stripped CR/LF or buf[n] (the
			 * spare byte) was; off is already past that byte, so the next message is unaffected */
			buf[(size_t)((const uint8_t *)cm.text - buf) + cm.len] = '\0';
			if (handle_text(s, ks, cm.text, now_ms) == SESSION_GONE)
				return SESSION_GONE;
		}
	}
}

/* ---- renegotiation ---- */

static int start_renegotiation(struct session *s, uint8_t key_id, bool by_client, uint64_t now_ms)
{
	const struct config *cfg = s->srv->cfg;

	ks_free(s, &s->ks[1]);
	s->ks[1] = s->ks[0];
	/* the old key decrypts for the transition window, and encrypts until the new one is active */
	s->ks[1].expire_ms = now_ms + (uint64_t)cfg->transition_window * 1000;
	memset(&s->ks[0], 0, sizeof(s->ks[0]));
	if (ks_start(s, &s->ks[0], key_id, 0, 0, now_ms) < 0) {
		session_end(s, "out of memory");
		return SESSION_GONE;
	}
	reliable_queue(&s->ks[0].rel, P_CONTROL_SOFT_RESET_V1, NULL, 0, NULL);
	s->reneg_at_ms = cfg->reneg_seconds ? now_ms + (uint64_t)cfg->reneg_seconds * 1000 : 0;
	s->pkts_out_at_reneg = s->pkts_out; /* what the old key still sends until the new one is up counts too */
	log_info("session %llu %s: renegotiation of key-id %u started by %s", (unsigned long long)s->id, s->cn,
		 key_id, by_client ? "client" : "server");
	return 0;
}

static uint8_t next_key_id(uint8_t key_id)
{
	return (uint8_t)(key_id % 7 + 1); /* 1..7, never 0 again */
}

static void ks_tick(struct session *s, struct key_state *ks, uint64_t now_ms);

/* Control messages in order into TLS; none while a handshake thread has the connection (they wait in the
 * reliability layer's window, already ACKed). */
static int ks_feed(struct session *s, struct key_state *ks)
{
	const struct reliable_msg *m;

	while (!ks->hs && (m = reliable_pop(&ks->rel))) {
		if (m->opcode != P_CONTROL_V1 || ks->state == KS_FAILED || !ks->tls)
			continue; /* resets carry nothing for TLS */
		if (tls_conn_feed(ks->tls, m->data, m->len) < 0) {
			session_end(s, "control channel overflow");
			return SESSION_GONE;
		}
		ks->fed = true;
	}
	return 0;
}

/* ---- entry points ---- */

void session_on_handshake_step(struct hs_job *j, uint64_t now_ms)
{
	struct session *s = j->s;
	struct key_state *ks = j->ks;
	int r = j->result;

	if (j->orphan) {
		tls_conn_free(j->tls);
		free(j);
		return;
	}
	ks->tls = j->tls;
	ks->hs = NULL;
	free(j);
	if (ks->state != KS_TLS)
		return; /* a renegotiation that timed out meanwhile: KS_FAILED stays failed */
	r = ks_after_step(s, ks, r, now_ms);
	if (r == SESSION_GONE || (r == 1 && ks_read(s, ks, now_ms) == SESSION_GONE))
		return;
	/* what the client sent meanwhile */
	if (ks_feed(s, ks) == SESSION_GONE || ks_drive(s, ks, now_ms) == SESSION_GONE)
		return;
	ks_tick(s, ks, now_ms);
}

void session_on_control(struct session *s, const struct ctl_packet *pkt, uint64_t now_ms)
{
	struct key_state *ks;
	int r;

	/* first of all: a packet whose ACKs name another session is not this client's, soft reset or not */
	if (pkt->n_acks > 0 && memcmp(pkt->peer_sid, s->own_sid, 8) != 0) {
		s->srv->stat_bad_packets++;
		return;
	}
	if (pkt->opcode == P_CONTROL_SOFT_RESET_V1 && !ks_find(s, pkt->key_id)) {
		if (s->state != SESSION_CONNECTED || s->ks[0].state != KS_ACTIVE ||
		    pkt->key_id != next_key_id(s->ks[0].key_id)) {
			log_debug("session %llu: soft reset for key-id %u ignored", (unsigned long long)s->id,
				  pkt->key_id);
			return;
		}
		uint64_t at = client_reneg_earliest(s, now_ms);

		if (at > now_ms) { /* not ACKed: the client's retransmission comes back for it */
			client_reneg_log_deferral(s, "soft reset", at, now_ms);
			return;
		}
		client_reneg_charge(s, now_ms);
		if (start_renegotiation(s, pkt->key_id, true, now_ms) == SESSION_GONE)
			return;
	}
	ks = ks_find(s, pkt->key_id);
	if (!ks) {
		log_debug("session %llu: control packet for unknown key-id %u", (unsigned long long)s->id,
			  pkt->key_id);
		return;
	}
	for (int i = 0; i < pkt->n_acks; i++)
		reliable_on_ack(&ks->rel, pkt->acks[i]);
	s->last_rx_ms = now_ms;
	if (pkt->opcode != P_ACK_V1) {
		r = reliable_on_message(&ks->rel, pkt->opcode, pkt->mid, pkt->payload, pkt->payload_len);
		if (r < 0)
			log_debug("session %llu: control message %u dropped: %s", (unsigned long long)s->id, pkt->mid,
				  strerror(-r));
		if (ks_feed(s, ks) == SESSION_GONE)
			return;
	}
	if (ks_drive(s, ks, now_ms) == SESSION_GONE)
		return;
	/* not ks_flush alone: the ACKs just taken may be the last ones the key waited for, and data sent
	 * before the next timer tick would otherwise go out on the old key or not at all */
	ks_tick(s, ks, now_ms);
}

void session_on_data(struct session *s, const uint8_t *pkt, size_t len, uint64_t now_ms)
{
	static uint8_t buf[DATA_BUF]; /* one control thread: a static scratch buffer is safe */
	struct key_state *ks = ks_find(s, packet_key_id(pkt[0]));
	const uint8_t *ip = buf;
	uint32_t src;
	ssize_t n;

	if (!ks || !ks->keys_ready || s->state == SESSION_CLOSING || s->dp)
		return; /* a terminated session takes nothing more from the client, not even its OCC_EXIT; one a
			 * worker has is decrypted there (this is a straggler from before the hand-over) */
	n = aead_open(&ks->data, pkt, len, buf, sizeof(buf), now_ms / 1000);
	if (n < 0) {
		if (n == -EALREADY)
			s->srv->stat_replays++;
		else
			s->srv->stat_bad_packets++;
		return;
	}
	s->last_rx_ms = now_ms;
	if (n == sizeof(ping_magic) && memcmp(buf, ping_magic, sizeof(ping_magic)) == 0)
		return;
	if (packet_is_occ_exit(buf, (size_t)n)) {
		session_end(s, "client disconnected");
		return;
	}
	/* IPv6 is not routed yet: a client's tun sends router solicitations, which are not spoofing */
	if (n < 20 || (ip[0] >> 4) != 4 || s->vaddr == 0) {
		s->srv->stat_unrouted++;
		return;
	}
	/* anti-spoofing: an IPv4 packet from the session's own address, nothing else */
	memcpy(&src, ip + 12, 4);
	if (ntohl(src) != s->vaddr) {
		s->spoofed_drops++;
		s->srv->stat_spoofed++;
		return;
	}
	s->bytes_in += (uint64_t)n;
	s->pkts_in++;
	server_write_tun(s->srv, ip, (size_t)n);
}

static struct key_state *send_key(struct session *s, uint64_t now_ms)
{
	if (s->ks[0].state == KS_ACTIVE && s->ks[0].keys_ready)
		return &s->ks[0];
	if (s->ks[1].keys_ready && now_ms < s->ks[1].expire_ms)
		return &s->ks[1];
	return NULL;
}

static void send_data(struct session *s, const uint8_t *payload, size_t len, uint64_t now_ms)
{
	static uint8_t buf[DATA_BUF + AEAD_OVERHEAD];
	struct key_state *ks = send_key(s, now_ms);
	ssize_t n;

	if (!ks || !s->pushed)
		return;
	n = aead_seal(&ks->data, s->peer_id_on ? s->peer_id : PACKET_PEER_ID_UNDEF, payload, len, buf, sizeof(buf));
	if (n < 0)
		return;
	s->last_tx_ms = now_ms;
	server_send_packet(s->srv, s, buf, (size_t)n);
}

void session_send_ip(struct session *s, const uint8_t *ip, size_t len, uint64_t now_ms)
{
	if (s->state != SESSION_CONNECTED || s->dp)
		return;
	s->bytes_out += len;
	s->pkts_out++;
	send_data(s, ip, len, now_ms);
}

static void ks_tick(struct session *s, struct key_state *ks, uint64_t now_ms)
{
	if (ks->state == KS_SENT_KEY && reliable_all_acked(&ks->rel) && tls_conn_out_pending(ks->tls) == 0) {
		/* the client has our key-method-2 reply, so it has the keys: send with them from now on */
		ks->state = KS_ACTIVE;
		datapath_key_tx(s, ks->key_id);
		if (ks->key_id != 0)
			log_info("session %llu %s: renegotiated key-id %u", (unsigned long long)s->id, s->cn,
				 ks->key_id);
	}
	ks_flush(s, ks, now_ms);
}

/* Time from then to now, 0 when then is later: a worker stamps its packets with its own clock, which may
 * have moved past the tick's now by the time the tick reaches the session (an unsigned now - then would
 * wrap to years and end a busy session for silence). */
static uint64_t elapsed(uint64_t now_ms, uint64_t then_ms)
{
	return now_ms > then_ms ? now_ms - then_ms : 0;
}

/* Packets to the client on one key before the server renegotiates: the operator's figure, and in any case
 * before the packet-ids run out (the data channel would stall: aead.c refuses to wrap). */
static uint64_t reneg_packet_limit(const struct config *cfg)
{
	return cfg->reneg_packets && cfg->reneg_packets < CONFIG_RENEG_PACKETS_MAX ? cfg->reneg_packets
										   : CONFIG_RENEG_PACKETS_MAX;
}

void session_tick(struct session *s, uint64_t now_ms)
{
	const struct config *cfg = s->srv->cfg;
	struct key_state *cur = &s->ks[0];

	datapath_pull(s); /* the worker's last-packet times, for the timeouts below */
	if (datapath_exit_seen(s)) {
		session_end(s, "client disconnected");
		return;
	}
	for (int i = 0; i < 2; i++)
		if (s->ks[i].state != KS_NONE)
			ks_tick(s, &s->ks[i], now_ms);
	if (s->ks[1].state != KS_NONE && now_ms >= s->ks[1].expire_ms)
		ks_free(s, &s->ks[1]);

	switch (s->state) {
	case SESSION_CLOSING: {
		bool delivered = true;

		for (int i = 0; i < 2; i++)
			if (s->ks[i].state != KS_NONE && s->ks[i].tls &&
			    (!reliable_all_acked(&s->ks[i].rel) || tls_conn_out_pending(s->ks[i].tls) > 0))
				delivered = false;
		if (now_ms >= s->close_at_ms || delivered)
			session_end(s, "refused");
		return;
	}
	case SESSION_HANDSHAKE:
		if (s->login) {
			auth_tick(s, now_ms); /* a verdict held back by the failed-login backoff */
			if (s->state != SESSION_HANDSHAKE)
				return;
		}
		if (now_ms >= cur->deadline_ms)
			session_end(s, "handshake did not finish within the handshake window");
		return;
	case SESSION_CONNECTED:
		break;
	}
	if ((cur->state == KS_TLS || cur->state == KS_SENT_KEY) && now_ms >= cur->deadline_ms) {
		log_warnx("session %llu %s: renegotiation of key-id %u timed out", (unsigned long long)s->id, s->cn,
			  cur->key_id);
		cur->state = KS_FAILED;
	}
	if (!datapath_keeps_alive(s) && elapsed(now_ms, s->last_rx_ms) > (uint64_t)cfg->keepalive_timeout * 2000) {
		session_end(s, "no packet from the client within twice the keepalive timeout");
		return;
	}
	if (cfg->session_timeout && now_ms - s->created_ms >= (uint64_t)cfg->session_timeout * 1000) {
		/* disconnect-on-session-timeout off: the client is told to reconnect, and gets a new session */
		session_terminate(s, "session timeout",
				  cfg->disconnect_on_session_timeout ? "HALT,session timeout" : "RESTART,session timeout",
				  now_ms);
		return;
	}
	if (cur->state == KS_ACTIVE && s->pkts_out - s->pkts_out_at_reneg >= reneg_packet_limit(cfg)) {
		log_info("session %llu %s: %llu packets sent on key-id %u: renegotiating", (unsigned long long)s->id,
			 s->cn, (unsigned long long)(s->pkts_out - s->pkts_out_at_reneg), cur->key_id);
		s->reneg_at_ms = now_ms;
	}
	if (s->reneg_at_ms && now_ms >= s->reneg_at_ms && cur->state == KS_ACTIVE) {
		if (start_renegotiation(s, next_key_id(cur->key_id), false, now_ms) == SESSION_GONE)
			return;
		ks_flush(s, &s->ks[0], now_ms);
	}
	if (s->pushed && elapsed(now_ms, s->last_tx_ms) >= (uint64_t)cfg->keepalive_interval * 1000) {
		if (s->dp) {
			datapath_ping(s);
			s->last_tx_ms = now_ms; /* not again next tick, before the worker's time comes back */
		} else {
			send_data(s, ping_magic, sizeof(ping_magic), now_ms);
		}
	}
}

bool session_user_is(const struct session *s, const char *name)
{
	return s->username[0] ? !strcasecmp(s->username, name) : !strcmp(s->cn, name);
}

int session_terminate(struct session *s, const char *why, const char *client_msg, uint64_t now_ms)
{
	struct key_state *ks = NULL;
	char a[16] = "-";

	if (s->state != SESSION_CONNECTED)
		return -EALREADY;
	snprintf(s->close_why, sizeof(s->close_why), "%s", why);
	release_connection(s, a);
	log_info("session %llu %s from %s: %s; address %s released", (unsigned long long)s->id, s->cn,
		 s->remote_str, why, a);
	/* during a renegotiation the new TLS session may not be up yet: use whichever one is */
	for (int i = 0; i < 2 && !ks; i++)
		if ((s->ks[i].state == KS_ACTIVE || s->ks[i].state == KS_SENT_KEY) && s->ks[i].tls &&
		    tls_conn_established(s->ks[i].tls))
			ks = &s->ks[i];
	s->close_at_ms = now_ms;
	if (client_msg && ks && tls_send_text(s, ks, client_msg) == 0) {
		ks_flush(s, ks, now_ms);
		s->close_at_ms = now_ms + TERMINATE_GRACE_MS;
	}
	return 0;
}
