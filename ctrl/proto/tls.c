// SPDX-License-Identifier: GPL-2.0-or-later
/* wolfSSL glue for the control channel. Only this file includes wolfSSL's TLS headers (tls_accel.c has only
 * wolfcrypt's): their OpenSSL compatibility macros would clash with libcrypto, which the data channel and
 * certificate checks use. */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfio.h>
#include <wolfssl/error-ssl.h>
#include <wolfssl/wolfcrypt/error-crypt.h>

#include "cvpn/tls.h"
#include "cvpn/tls13rec.h"
#include "cvpn/tls_accel.h"

struct tls_ctx {
	WOLFSSL_CTX *ctx;
	bool client;
	bool crl_loaded;
	time_t crl_next_update;
};

struct bytebuf {
	uint8_t *data;
	size_t len, cap, off; /* valid bytes are data[off .. len) */
};

/* Where the bytes handed to wolfSSL stand in the stream of records: the connection may leave wolfSSL only
 * between two records, never with part of one inside it. */
struct record_cursor {
	uint8_t header[TLS13_HEADER_LEN];
	uint8_t header_have;
	uint32_t body_left;
};

struct tls_conn {
	WOLFSSL *ssl;          /* NULL once detached */
	struct tls13_rec *rec; /* our record layer once detached (TLS 1.3, tls_conn_detach); NULL before */
	struct bytebuf in, out;
	struct record_cursor cursor;
	uint8_t *plain;        /* the rest of a record that a read took only part of */
	size_t plain_len, plain_off;
	bool client;
	bool established;
	bool detach_wanted;    /* tls_conn_detach asked: leave wolfSSL at the next read that finds nothing */
	bool stale;            /* the peer updated its keys after we left wolfSSL: nothing more can be read */
	char peer_error[128];
	char error[128];
	uint8_t *peer_der;
	size_t peer_der_len;
};

static const char ekm_label[] = "EXPORTER-OpenVPN-datakeys";

static int buf_append(struct bytebuf *b, const uint8_t *data, size_t len)
{
	if (len == 0)
		return 0; /* an empty control message carries no TLS bytes (and may have no buffer at all) */
	if (b->off > 0 && b->off == b->len) {
		b->off = 0;
		b->len = 0;
	}
	if (b->len - b->off + len > TLS_BUF_MAX)
		return -ENOBUFS;
	if (b->len + len > b->cap) {
		size_t live = b->len - b->off, ncap = b->cap ? b->cap : 4096;
		uint8_t *n;

		/* compact first: consumed bytes at the front are dead */
		if (b->off > 0) {
			memmove(b->data, b->data + b->off, live);
			b->len = live;
			b->off = 0;
		}
		while (ncap < live + len)
			ncap *= 2;
		if (ncap > b->cap) {
			n = realloc(b->data, ncap);
			if (!n)
				return -ENOMEM;
			b->data = n;
			b->cap = ncap;
		}
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	return 0;
}

static void buf_free(struct bytebuf *b)
{
	if (b->data) {
		explicit_bzero(b->data, b->cap);
		free(b->data);
	}
	memset(b, 0, sizeof(*b));
}

static size_t buf_take(struct bytebuf *b, uint8_t *out, size_t max)
{
	size_t n = b->len - b->off;

	if (n > max)
		n = max;
	if (n == 0)
		return 0; /* data may still be NULL: a client reads before anything arrived */
	memcpy(out, b->data + b->off, n);
	b->off += n;
	/* Drained: give the buffer back. After the handshake control messages are rare, and 2 x 4 KiB kept per
	 * idle key state would be a tenth of a session's memory. */
	if (b->off == b->len)
		buf_free(b);
	return n;
}

/* Follows the record framing of bytes as they pass to wolfSSL. */
static void cursor_advance(struct record_cursor *rc, const uint8_t *p, size_t n)
{
	while (n > 0) {
		if (rc->body_left > 0) {
			size_t k = n < rc->body_left ? n : rc->body_left;

			rc->body_left -= (uint32_t)k;
			p += k;
			n -= k;
			continue;
		}
		rc->header[rc->header_have++] = *p++;
		n--;
		if (rc->header_have == TLS13_HEADER_LEN) {
			rc->body_left = (uint32_t)rc->header[3] << 8 | rc->header[4];
			rc->header_have = 0;
		}
	}
}

static bool cursor_between_records(const struct record_cursor *rc)
{
	return rc->header_have == 0 && rc->body_left == 0;
}

static int io_recv(WOLFSSL *ssl, char *buf, int sz, void *arg)
{
	struct tls_conn *c = arg;
	size_t n;

	(void)ssl;
	if (sz <= 0)
		return 0;
	n = buf_take(&c->in, (uint8_t *)buf, (size_t)sz);
	cursor_advance(&c->cursor, (const uint8_t *)buf, n);
	return n ? (int)n : WOLFSSL_CBIO_ERR_WANT_READ;
}

static int io_send(WOLFSSL *ssl, char *buf, int sz, void *arg)
{
	struct tls_conn *c = arg;

	(void)ssl;
	if (sz <= 0)
		return 0;
	if (buf_append(&c->out, (const uint8_t *)buf, (size_t)sz) < 0)
		return WOLFSSL_CBIO_ERR_GENERAL;
	return sz;
}

/* wolfSSL hands the verify callback either an OpenSSL-style X509_V_ERR_* value or one of its own negative
 * codes; say the common ones in words an operator and a user understand. */
static const char *verify_error_text(int err)
{
	const char *s;

	switch (err) {
	case ASN_AFTER_DATE_E:
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_ERROR_IN_CERT_NOT_AFTER_FIELD: /* what wolfSSL reports for ASN_AFTER_DATE_E */
		return "certificate has expired";
	case ASN_BEFORE_DATE_E:
	case X509_V_ERR_CERT_NOT_YET_VALID:
	case X509_V_ERR_ERROR_IN_CERT_NOT_BEFORE_FIELD:
		return "certificate is not yet valid";
	case ASN_NO_SIGNER_E:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
		return "not signed by the endpoint's client CA (unable to get issuer)";
	case ASN_SIG_CONFIRM_E:
	case X509_V_ERR_CERT_SIGNATURE_FAILURE: /* what wolfSSL reports for ASN_SIG_CONFIRM_E */
		return "certificate signature does not verify";
	case EXTKEYUSAGE_E:
	case EXTKEYUSE_AUTH_E:
		return "extended key usage does not allow client authentication (clientAuth)";
	case KEYUSAGE_E:
	case KEYUSE_SIGNATURE_E:
	case KEYUSE_ENCIPHER_E:
		return "key usage does not allow client authentication";
	case CRL_CERT_REVOKED:
		return "certificate is revoked";
	}
	s = err < 0 ? wc_GetErrorString(err) : wolfSSL_X509_verify_cert_error_string(err);
	return s ? s : "verification failed";
}

/* Records the first chain error and lets the handshake finish, so the session can send AUTH_FAILED with the
 * reason; the caller refuses every connection that has one (tls_conn_peer_error). */
static int verify_cb(int preverify, WOLFSSL_X509_STORE_CTX *store)
{
	WOLFSSL *ssl = wolfSSL_X509_STORE_CTX_get_ex_data(store, wolfSSL_get_ex_data_X509_STORE_CTX_idx());
	struct tls_conn *c = ssl ? wolfSSL_get_ex_data(ssl, 0) : NULL;
	int err;

	if (preverify)
		return 1;
	if (!c)
		return 0;
	if (c->peer_error[0] == '\0') {
		err = wolfSSL_X509_STORE_CTX_get_error(store);
		snprintf(c->peer_error, sizeof(c->peer_error), "%s (%s, error %d)", verify_error_text(err),
			 wolfSSL_X509_STORE_CTX_get_error_depth(store) == 0 ? "client certificate" : "its issuer",
			 err);
	}
	return 1;
}

/* What both ends need: TLS 1.2 at least, our certificate chain with its matching key, and fast P-256. */
static int load_identity(WOLFSSL_CTX *ctx, const char *role, const char *cert, const char *key, char *err,
			 size_t errlen)
{
	int devid;

	wolfSSL_CTX_SetMinVersion(ctx, WOLFSSL_TLSV1_2);
	if (wolfSSL_CTX_use_certificate_chain_file(ctx, cert) != WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "%s: cannot load %s certificate", cert, role);
		return -1;
	}
	if (wolfSSL_CTX_use_PrivateKey_file(ctx, key, WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "%s: cannot load %s key", key, role);
		return -1;
	}
	if (wolfSSL_CTX_check_private_key(ctx) != WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "%s: key does not match certificate %s", key, cert);
		return -1;
	}
	/* P-256 through libcrypto (tls_accel.h), set after the key check: that check stays wolfSSL's own */
	devid = tls_accel_devid();
	if (devid != TLS_ACCEL_NO_DEVICE && wolfSSL_CTX_SetDevId(ctx, devid) != WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "cannot attach the P-256 accelerator to the %s context", role);
		return -1;
	}
	return 0;
}

/* A context for one end with our certificate and key loaded; NULL (err says why) on failure. */
static struct tls_ctx *ctx_open(bool client, const char *cert, const char *key, char *err, size_t errlen)
{
	struct tls_ctx *t;

	wolfSSL_Init();
	t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	t->client = client;
	t->ctx = wolfSSL_CTX_new(client ? wolfSSLv23_client_method() : wolfSSLv23_server_method());
	if (!t->ctx) {
		snprintf(err, errlen, "wolfSSL_CTX_new failed");
		tls_ctx_free(t);
		return NULL;
	}
	if (load_identity(t->ctx, client ? "client" : "server", cert, key, err, errlen) < 0) {
		tls_ctx_free(t);
		return NULL;
	}
	return t;
}

int tls_ctx_new(const char *cert, const char *key, const char *client_ca, struct tls_ctx **out, char *err,
		size_t errlen)
{
	struct tls_ctx *t = ctx_open(false, cert, key, err, errlen);

	if (!t)
		return -1;
	if (client_ca) {
		if (wolfSSL_CTX_load_verify_locations(t->ctx, client_ca, NULL) != WOLFSSL_SUCCESS) {
			snprintf(err, errlen, "%s: cannot load client CA", client_ca);
			goto fail;
		}
		wolfSSL_CTX_set_verify(t->ctx, WOLFSSL_VERIFY_PEER | WOLFSSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_cb);
	} else {
		/* directory-only endpoint: no CertificateRequest, so clients without a certificate can connect */
		wolfSSL_CTX_set_verify(t->ctx, WOLFSSL_VERIFY_NONE, NULL);
	}
	/* 2.6 clients neither use tickets nor resume; do not hand out state we would have to protect */
	wolfSSL_CTX_NoTicketTLSv12(t->ctx);
	wolfSSL_CTX_no_ticket_TLSv13(t->ctx);
	wolfSSL_CTX_set_session_cache_mode(t->ctx, WOLFSSL_SESS_CACHE_OFF);
	*out = t;
	return 0;
fail:
	tls_ctx_free(t);
	return -1;
}

int tls_client_ctx_new(const char *ca, const char *cert, const char *key, struct tls_ctx **out, char *err,
		       size_t errlen)
{
	struct tls_ctx *t = ctx_open(true, cert, key, err, errlen);

	if (!t)
		return -1;
	if (wolfSSL_CTX_load_verify_locations(t->ctx, ca, NULL) != WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "%s: cannot load CA", ca);
		goto fail;
	}
	/* the key shares of OpenSSL 3's default list, which a stock 2.6 client offers: X25519 first */
	{
		int groups[] = { WOLFSSL_ECC_X25519, WOLFSSL_ECC_SECP256R1, WOLFSSL_ECC_SECP384R1 };

		if (wolfSSL_CTX_set_groups(t->ctx, groups, (int)(sizeof(groups) / sizeof(groups[0]))) !=
		    WOLFSSL_SUCCESS) {
			snprintf(err, errlen, "cannot set the TLS key-exchange groups");
			goto fail;
		}
	}
	/* a client has no reason to finish a handshake with a server it cannot verify: no callback */
	wolfSSL_CTX_set_verify(t->ctx, WOLFSSL_VERIFY_PEER, NULL);
	wolfSSL_CTX_set_session_cache_mode(t->ctx, WOLFSSL_SESS_CACHE_OFF);
	*out = t;
	return 0;
fail:
	tls_ctx_free(t);
	return -1;
}

int tls_ctx_set_crl(struct tls_ctx *t, const uint8_t *der, size_t len, time_t next_update, char *err,
		    size_t errlen)
{
	int ret;

	t->crl_next_update = next_update;
	if (!der) {
		/* an expired CRL: wolfSSL would refuse to load it; the session refuses every certificate instead */
		t->crl_loaded = true;
		return 0;
	}
	if (len > INT32_MAX) {
		snprintf(err, errlen, "CRL too large");
		return -1;
	}
	/* leaf only: the CRL we are given is the client CA's; intermediates would need CRLs of their own */
	if (wolfSSL_CTX_EnableCRL(t->ctx, WOLFSSL_CRL_CHECK) != WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "cannot enable CRL checking");
		return -1;
	}
	ret = wolfSSL_CTX_LoadCRLBuffer(t->ctx, der, (long)len, WOLFSSL_FILETYPE_ASN1);
	if (ret != WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "%s (%d)", ret == ASN_SIG_CONFIRM_E || ret == ASN_CRL_CONFIRM_E ?
			 "its signature does not verify against the client CA" : wc_GetErrorString(ret), ret);
		return -1;
	}
	t->crl_loaded = true;
	return 0;
}

bool tls_ctx_crl_expired(const struct tls_ctx *t, time_t now, time_t *next_update)
{
	if (!t->crl_loaded || t->crl_next_update == 0)
		return false;
	*next_update = t->crl_next_update;
	return now >= t->crl_next_update;
}

void tls_ctx_free(struct tls_ctx *t)
{
	if (!t)
		return;
	if (t->ctx)
		wolfSSL_CTX_free(t->ctx);
	free(t);
}

struct tls_conn *tls_conn_new(struct tls_ctx *t)
{
	struct tls_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->ssl = wolfSSL_new(t->ctx);
	if (!c->ssl) {
		free(c);
		return NULL;
	}
	wolfSSL_SSLSetIORecv(c->ssl, io_recv);
	wolfSSL_SSLSetIOSend(c->ssl, io_send);
	wolfSSL_SetIOReadCtx(c->ssl, c);
	wolfSSL_SetIOWriteCtx(c->ssl, c);
	wolfSSL_set_ex_data(c->ssl, 0, c);
	c->client = t->client;
	return c;
}

void tls_conn_free(struct tls_conn *c)
{
	if (!c)
		return;
	if (c->ssl)
		wolfSSL_free(c->ssl);
	if (c->rec) {
		tls13_rec_wipe(c->rec);
		free(c->rec);
	}
	if (c->plain) {
		explicit_bzero(c->plain, c->plain_len);
		free(c->plain);
	}
	buf_free(&c->in);
	buf_free(&c->out);
	free(c->peer_der);
	free(c);
}

int tls_conn_feed(struct tls_conn *c, const uint8_t *data, size_t len)
{
	return buf_append(&c->in, data, len);
}

static void set_error(struct tls_conn *c, int ret)
{
	char msg[80];
	int e = wolfSSL_get_error(c->ssl, ret);

	wolfSSL_ERR_error_string_n((unsigned long)e, msg, sizeof(msg));
	snprintf(c->error, sizeof(c->error), "%s (%d)", msg, e);
}

static void keep_peer_cert(struct tls_conn *c)
{
	WOLFSSL_X509 *x = wolfSSL_get_peer_certificate(c->ssl);
	const unsigned char *der;
	int len = 0;

	if (!x)
		return;
	der = wolfSSL_X509_get_der(x, &len);
	if (der && len > 0) {
		c->peer_der = malloc((size_t)len);
		if (c->peer_der) {
			memcpy(c->peer_der, der, (size_t)len);
			c->peer_der_len = (size_t)len;
		}
	}
	wolfSSL_X509_free(x);
}

int tls_conn_handshake(struct tls_conn *c)
{
	int ret, e;

	if (c->established)
		return 1;
	ret = c->client ? wolfSSL_connect(c->ssl) : wolfSSL_accept(c->ssl);
	if (ret == WOLFSSL_SUCCESS) {
		c->established = true;
		keep_peer_cert(c);
		return 1;
	}
	e = wolfSSL_get_error(c->ssl, ret);
	if (e == WOLFSSL_ERROR_WANT_READ || e == WOLFSSL_ERROR_WANT_WRITE)
		return 0;
	set_error(c, ret);
	return -1;
}

bool tls_conn_established(const struct tls_conn *c) { return c->established; }

/* Moves the application traffic keys out of wolfSSL into our record layer and frees the connection object.
 * Only between records with nothing of the peer's left inside wolfSSL (it has just asked for more and was
 * handed everything, up to a record's end), and only for what we implement: TLS 1.3 with an AEAD suite.
 * Anything else keeps wolfSSL for the connection's life. */
static void detach(struct tls_conn *c)
{
	const unsigned char *rk, *riv, *tk, *tiv;
	struct tls13_rec *r;
	enum tls13_aead aead;
	word64 rseq = 0, tseq = 0;
	int respond = 0;
	int bulk = wolfSSL_GetBulkCipher(c->ssl), ksz = wolfSSL_GetKeySize(c->ssl);

	if (c->in.len - c->in.off > 0 || !cursor_between_records(&c->cursor) || wolfSSL_pending(c->ssl) > 0)
		return;
	c->detach_wanted = false;
	/* not while a KeyUpdate we asked for is unanswered (its answer would come under keys we would not
	 * have), nor when the peer negotiated smaller records (max_fragment_length) than ours cut */
	if (wolfSSL_version(c->ssl) != TLS1_3_VERSION ||
	    wolfSSL_key_update_response(c->ssl, &respond) != 0 || respond ||
	    wolfSSL_GetMaxOutputSize(c->ssl) < TLS13_MAX_PLAINTEXT)
		return;
	if (bulk == wolfssl_aes_gcm && ksz == 16)
		aead = TLS13_AES_128_GCM_SHA256;
	else if (bulk == wolfssl_aes_gcm && ksz == 32)
		aead = TLS13_AES_256_GCM_SHA384;
	else if (bulk == wolfssl_chacha && ksz == 32)
		aead = TLS13_CHACHA20_POLY1305_SHA256;
	else
		return;
	rk = c->client ? wolfSSL_GetServerWriteKey(c->ssl) : wolfSSL_GetClientWriteKey(c->ssl);
	riv = c->client ? wolfSSL_GetServerWriteIV(c->ssl) : wolfSSL_GetClientWriteIV(c->ssl);
	tk = c->client ? wolfSSL_GetClientWriteKey(c->ssl) : wolfSSL_GetServerWriteKey(c->ssl);
	tiv = c->client ? wolfSSL_GetClientWriteIV(c->ssl) : wolfSSL_GetServerWriteIV(c->ssl);
	if (!rk || !riv || !tk || !tiv || wolfSSL_GetPeerSequenceNumber(c->ssl, &rseq) < 0 ||
	    wolfSSL_GetSequenceNumber(c->ssl, &tseq) < 0)
		return;
	r = calloc(1, sizeof(*r));
	if (!r)
		return; /* wolfSSL stays: correct, only bigger */
	r->aead = aead;
	memcpy(r->rx.key, rk, (size_t)ksz);
	memcpy(r->rx.iv, riv, TLS13_IV_LEN);
	r->rx.seq = rseq;
	memcpy(r->tx.key, tk, (size_t)ksz);
	memcpy(r->tx.iv, tiv, TLS13_IV_LEN);
	r->tx.seq = tseq;
	wolfSSL_free(c->ssl); /* wipes its copies of the keys */
	c->ssl = NULL;
	c->rec = r;
}

/* Hands out what is left of a record that an earlier read took only in part. */
static size_t take_plain(struct tls_conn *c, uint8_t *buf, size_t cap)
{
	size_t n = c->plain_len - c->plain_off;

	if (n > cap)
		n = cap;
	memcpy(buf, c->plain + c->plain_off, n);
	c->plain_off += n;
	if (c->plain_off == c->plain_len) {
		explicit_bzero(c->plain, c->plain_len);
		free(c->plain);
		c->plain = NULL;
		c->plain_len = c->plain_off = 0;
	}
	return n;
}

static void consume_in(struct bytebuf *b, size_t n)
{
	b->off += n;
	if (b->off == b->len)
		buf_free(b);
}

/* What the peer may still send in a TLS 1.3 record after the handshake: application data, an alert, or a
 * KeyUpdate (NewSessionTicket comes only from servers, and ours sends none). */
static ssize_t handle_record(struct tls_conn *c, uint8_t type, uint8_t *content, size_t len, uint8_t *buf,
			     size_t cap)
{
	switch (type) {
	case TLS13_CT_APPLICATION_DATA:
		if (len > cap) {
			c->plain = malloc(len - cap);
			if (!c->plain) {
				snprintf(c->error, sizeof(c->error), "out of memory");
				return -1;
			}
			memcpy(c->plain, content + cap, len - cap);
			c->plain_len = len - cap;
			c->plain_off = 0;
			len = cap;
		}
		memcpy(buf, content, len);
		return (ssize_t)len;
	case TLS13_CT_ALERT:
		if (len == 2 && content[1] == 0)
			snprintf(c->error, sizeof(c->error), "peer closed the TLS connection (close_notify)");
		else if (len == 2)
			snprintf(c->error, sizeof(c->error), "TLS alert %u from the peer", content[1]);
		else
			snprintf(c->error, sizeof(c->error), "malformed TLS alert");
		return -1;
	case TLS13_CT_HANDSHAKE:
		/* KeyUpdate: type 24, length 1, request flag 0 or 1; it ends its record (§4.6.3) */
		if (len == 5 && content[0] == 24 && content[1] == 0 && content[2] == 0 && content[3] == 1 &&
		    content[4] <= 1) {
			/* Its next traffic secret derives from the current one, which wolfSSL never gives out: the
			 * peer's later records cannot be read. The caller renegotiates (a new TLS session). */
			c->stale = true;
			snprintf(c->error, sizeof(c->error), "peer updated its TLS 1.3 keys (KeyUpdate)");
			return TLS_CONN_REKEY;
		}
		snprintf(c->error, sizeof(c->error), "unexpected TLS handshake message %u after the handshake",
			 len > 0 ? content[0] : 0);
		return -1;
	}
	snprintf(c->error, sizeof(c->error), "TLS record of unknown type %u", type);
	return -1;
}

static ssize_t rec_read(struct tls_conn *c, uint8_t *buf, size_t cap)
{
	uint8_t content[TLS13_MAX_CIPHERTEXT];
	uint8_t type = 0;
	size_t opened;
	ssize_t want, n;

	if (cap == 0)
		return 0;
	if (c->plain)
		return (ssize_t)take_plain(c, buf, cap);
	for (;;) {
		size_t live = c->in.len - c->in.off;
		const uint8_t *p;

		if (live == 0)
			return 0;
		p = c->in.data + c->in.off;
		want = tls13_record_len(p, live);
		if (want < 0) {
			snprintf(c->error, sizeof(c->error), "malformed TLS record header");
			return -1;
		}
		if (want == 0 || live < (size_t)want)
			return 0;
		if (c->stale) {
			consume_in(&c->in, (size_t)want); /* under keys we do not have: the renegotiation replaces it */
			continue;
		}
		n = tls13_open(c->rec, p, (size_t)want, content, sizeof(content), &type);
		consume_in(&c->in, (size_t)want);
		if (n < 0) {
			snprintf(c->error, sizeof(c->error), "%s", n == -EBADMSG ? "TLS record does not authenticate" :
				 "cannot decrypt TLS record");
			return -1;
		}
		if (n == 0 && type == TLS13_CT_APPLICATION_DATA)
			continue; /* empty application data is allowed and means nothing */
		opened = (size_t)n;
		n = handle_record(c, type, content, opened, buf, cap);
		explicit_bzero(content, opened);
		return n;
	}
}

static int rec_write(struct tls_conn *c, const uint8_t *buf, size_t len)
{
	uint8_t rec[TLS13_SEALED_LEN(TLS13_MAX_PLAINTEXT)];

	size_t records = (len + TLS13_MAX_PLAINTEXT - 1) / TLS13_MAX_PLAINTEXT;

	if (c->stale) {
		snprintf(c->error, sizeof(c->error), "TLS connection unusable after the peer's KeyUpdate");
		return -1;
	}
	if (len == 0)
		return 0; /* as wolfSSL: no empty record */
	/* all of it or nothing: a record sealed and then not queued would leave a gap in the sequence */
	if (len > TLS_BUF_MAX || c->out.len - c->out.off + len + records * TLS13_SEALED_LEN(0) > TLS_BUF_MAX) {
		snprintf(c->error, sizeof(c->error), "TLS output buffer full");
		return -1;
	}
	do {
		size_t chunk = len < TLS13_MAX_PLAINTEXT ? len : TLS13_MAX_PLAINTEXT;
		ssize_t n = tls13_seal(c->rec, TLS13_CT_APPLICATION_DATA, buf, chunk, rec, sizeof(rec));

		if (n < 0) {
			snprintf(c->error, sizeof(c->error), "cannot protect TLS record (%zd)", n);
			return -1;
		}
		if (buf_append(&c->out, rec, (size_t)n) < 0) {
			snprintf(c->error, sizeof(c->error), "TLS output buffer full");
			return -1;
		}
		buf += chunk;
		len -= chunk;
	} while (len > 0);
	return 0;
}

ssize_t tls_conn_read(struct tls_conn *c, uint8_t *buf, size_t cap)
{
	int ret, e;

	if (c->rec)
		return rec_read(c, buf, cap);
	if (cap > INT32_MAX)
		cap = INT32_MAX;
	ret = wolfSSL_read(c->ssl, buf, (int)cap);
	if (ret > 0)
		return ret;
	e = wolfSSL_get_error(c->ssl, ret);
	if (e == WOLFSSL_ERROR_WANT_READ || e == WOLFSSL_ERROR_WANT_WRITE) {
		/* wolfSSL has processed everything it was given: the moment to leave it */
		if (c->detach_wanted)
			detach(c);
		return 0;
	}
	set_error(c, ret);
	return -1;
}

int tls_conn_write(struct tls_conn *c, const uint8_t *buf, size_t len)
{
	int ret;

	if (c->rec)
		return rec_write(c, buf, len);
	if (len > INT32_MAX)
		return -1;
	ret = wolfSSL_write(c->ssl, buf, (int)len);
	if (ret == (int)len)
		return 0;
	set_error(c, ret);
	return -1;
}

size_t tls_conn_out_pending(const struct tls_conn *c) { return c->out.len - c->out.off; }

size_t tls_conn_take_out(struct tls_conn *c, uint8_t *buf, size_t max)
{
	return buf_take(&c->out, buf, max);
}

int tls_conn_export_datakeys(struct tls_conn *c, uint8_t out[256])
{
	int ret;

	if (!c->ssl)
		return -1;
	ret = wolfSSL_export_keying_material(c->ssl, out, 256, ekm_label, sizeof(ekm_label) - 1, NULL, 0, 0);

	return ret == WOLFSSL_SUCCESS ? 0 : -1;
}

static bool page_is_zero(const uint8_t *p, size_t len)
{
	const uint64_t *w = (const uint64_t *)(const void *)p;
	uint64_t acc = 0;

	for (size_t i = 0; i < len / sizeof(*w); i++)
		acc |= w[i];
	return acc == 0;
}

/* Hands the all-zero pages inside a live heap block back to the kernel. Private anonymous memory reads as
 * zeros again after MADV_DONTNEED, so the block's contents do not change; only pages that were never used
 * stop counting as resident. Only the event loop touches a connection's wolfSSL objects, so nothing writes
 * to a page between the check and the madvise. */
static void release_zero_pages(void *block, size_t len)
{
	long ps = sysconf(_SC_PAGESIZE);
	uintptr_t page = ps > 0 ? (uintptr_t)ps : 4096, start, end, run = 0;

	start = ((uintptr_t)block + page - 1) & ~(page - 1);
	end = ((uintptr_t)block + len) & ~(page - 1);
	for (uintptr_t a = start; a < end; a += page) {
		if (page_is_zero((const uint8_t *)a, page)) {
			if (!run)
				run = a;
			continue;
		}
		if (run)
			madvise((void *)run, a - run, MADV_DONTNEED);
		run = 0;
	}
	if (run)
		madvise((void *)run, end - run, MADV_DONTNEED);
}

void tls_conn_trim(struct tls_conn *c)
{
	wolfSSL_Malloc_cb mf = NULL;
	wolfSSL_Free_cb ff = NULL;
	wolfSSL_Realloc_cb rf = NULL;
	WOLFSSL_SESSION *sess;

	if (!c || !c->established || !c->ssl)
		return;
	/* The master secret, the randoms and the TLS 1.3 exporter secret: with WOLFSSL_OPENVPN, wolfSSL keeps them
	 * for the keying-material exporter until the connection ends. The data keys are derived by now;
	 * freeing them (zeroised) also shortens the life of those secrets. The record layer keeps its own keys
	 * (and TLS 1.3 key updates derive from the traffic secrets, which are not in the arrays). */
	wolfSSL_FreeArrays(c->ssl);
	if (c->peer_der) {
		explicit_bzero(c->peer_der, c->peer_der_len);
		free(c->peer_der);
		c->peer_der = NULL;
		c->peer_der_len = 0;
	}
	/* wolfSSL's session object has room for the peer's certificate chain and an alternative one, nine 2 KiB
	 * certificates each (~37 KiB), zero-filled, of which a client's one or two certificates use a page or two. It lives as long as the
	 * connection and there is no call to drop it; its untouched pages can still go. Only when wolfSSL uses
	 * the C allocator, so the block's size is malloc_usable_size()'s to ask. */
	/* Server side only: there wolfSSL_get_session() is the connection's own heap block; on a client it may
	 * be an entry of the client session cache, which malloc_usable_size() must never see. */
	if (!wolfSSL_is_server(c->ssl))
		return;
	/* A TLS 1.3 connection frees the whole object once it detaches (at PUSH_REPLY, moments from now):
	 * scanning 37 KiB for zero pages first is work on every handshake for nothing. */
	if (wolfSSL_version(c->ssl) == TLS1_3_VERSION && wolfSSL_GetMaxOutputSize(c->ssl) >= TLS13_MAX_PLAINTEXT)
		return;
	sess = wolfSSL_get_session(c->ssl);
	if (sess && wolfSSL_GetAllocators(&mf, &ff, &rf) == 0 && !mf && !ff && !rf)
		release_zero_pages(sess, malloc_usable_size(sess));
}

int tls_conn_peer_cert(struct tls_conn *c, const uint8_t **der, size_t *len)
{
	if (!c->peer_der)
		return -1;
	*der = c->peer_der;
	*len = c->peer_der_len;
	return 0;
}

const char *tls_conn_peer_error(const struct tls_conn *c) { return c->peer_error[0] ? c->peer_error : NULL; }
const char *tls_conn_error(const struct tls_conn *c) { return c->error[0] ? c->error : "unknown TLS error"; }
const char *tls_conn_version(struct tls_conn *c) { return c->ssl ? wolfSSL_get_version(c->ssl) : "TLSv1.3"; }
const char *tls_conn_cipher(struct tls_conn *c)
{
	return c->ssl ? wolfSSL_get_cipher(c->ssl) : tls13_suite_name(c->rec->aead);
}
bool tls_conn_detached(const struct tls_conn *c) { return c->rec != NULL; }

void tls_conn_detach(struct tls_conn *c)
{
	if (c && c->established && c->ssl)
		c->detach_wanted = true; /* at the next read that finds nothing more (tls_conn_read) */
}

int tls_conn_key_update(struct tls_conn *c)
{
	if (!c->ssl || wolfSSL_version(c->ssl) != TLS1_3_VERSION)
		return -1;
	return wolfSSL_update_keys(c->ssl) == WOLFSSL_SUCCESS ? 0 : -1;
}

int tls_ctx_limit(struct tls_ctx *t, const char *ciphers, bool tls12_only, bool small_records)
{
	if (small_records && wolfSSL_CTX_UseMaxFragment(t->ctx, WOLFSSL_MFL_2_9) != WOLFSSL_SUCCESS)
		return -1;
	if (ciphers && wolfSSL_CTX_set_cipher_list(t->ctx, ciphers) != WOLFSSL_SUCCESS)
		return -1;
	if (tls12_only && wolfSSL_CTX_set_max_proto_version(t->ctx, TLS1_2_VERSION) != WOLFSSL_SUCCESS)
		return -1;
	return 0;
}
