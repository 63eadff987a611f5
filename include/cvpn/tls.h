/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_TLS_H
#define CVPN_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* The control channel's TLS server (wolfSSL over memory I/O): ciphertext comes in from P_CONTROL_V1
 * payloads and goes out into them; the caller never sees a socket. Client certificates are requested and
 * required; chain errors are recorded rather than aborting the handshake, so the session can tell the client
 * why with AUTH_FAILED, and the caller must refuse any connection whose tls_conn_peer_error() is set. */

#define TLS_BUF_MAX (256 * 1024) /* per direction: a peer cannot make us buffer more */

struct tls_ctx;
struct tls_conn;

/* Loads the server certificate, its key and the client CA. client_ca NULL: no client certificate is asked
 * for (directory-only authentication). On failure returns -1 and writes a reason. */
int tls_ctx_new(const char *cert, const char *key, const char *client_ca, struct tls_ctx **out, char *err,
		size_t errlen);
/* Revocation of client certificates: der is the CRL (crl.h reads it from a PEM or DER file), checked for
 * the leaf certificate; a revoked one gets the peer error "certificate is revoked". der NULL records an
 * expired CRL without loading it (tls_ctx_crl_expired then says so). -1 with a reason. */
int tls_ctx_set_crl(struct tls_ctx *t, const uint8_t *der, size_t len, time_t next_update, char *err,
		    size_t errlen);
/* True when a CRL is configured and its nextUpdate is past: every certificate must be refused. */
bool tls_ctx_crl_expired(const struct tls_ctx *t, time_t now, time_t *next_update);
/* Client mode (the load generator): presents cert and key, and fails the handshake unless the server's chain
 * verifies against ca. Connections made from such a context run the client side of the handshake; the rest of
 * this interface works the same for both. */
int tls_client_ctx_new(const char *ca, const char *cert, const char *key, struct tls_ctx **out, char *err,
		       size_t errlen);
void tls_ctx_free(struct tls_ctx *ctx);

struct tls_conn *tls_conn_new(struct tls_ctx *ctx);
void tls_conn_free(struct tls_conn *c);

/* Appends ciphertext received from the peer. -ENOBUFS when the bound would be exceeded. */
int tls_conn_feed(struct tls_conn *c, const uint8_t *data, size_t len);
/* Drives the handshake: 1 finished, 0 needs more input, -1 failed (tls_conn_error() says why). */
int tls_conn_handshake(struct tls_conn *c);
bool tls_conn_established(const struct tls_conn *c);
/* The peer updated its TLS 1.3 keys (KeyUpdate) after the connection left wolfSSL (tls_conn_trim): nothing
 * it sends later can be read and nothing more can be written; the caller renegotiates. */
#define TLS_CONN_REKEY (-2)
/* Reads one application record: >0 bytes, 0 nothing available yet, -1 error, TLS_CONN_REKEY. */
ssize_t tls_conn_read(struct tls_conn *c, uint8_t *buf, size_t cap);
/* Writes buf as application data (one record). 0 or -1. */
int tls_conn_write(struct tls_conn *c, const uint8_t *buf, size_t len);
/* Ciphertext waiting to be sent to the peer. */
size_t tls_conn_out_pending(const struct tls_conn *c);
/* Moves up to max bytes of it into buf; returns the count. */
size_t tls_conn_take_out(struct tls_conn *c, uint8_t *buf, size_t max);

/* RFC 5705/8446 exporter with OpenVPN's label, 256 bytes. 0 or -1. */
int tls_conn_export_datakeys(struct tls_conn *c, uint8_t out[256]);
/* Drops what only the handshake and the key exchange need, once the data keys are derived and the peer
 * certificate checked: the TLS secrets kept for the exporter and the copy of the peer certificate (on TLS 1.2
 * also the unused pages of wolfSSL's session object). Application data keeps flowing both ways;
 * tls_conn_export_datakeys and tls_conn_peer_cert fail afterwards. No-op before the handshake finished. */
void tls_conn_trim(struct tls_conn *c);
/* Lets a TLS 1.3 connection leave wolfSSL altogether, at the next tls_conn_read that finds nothing more to
 * read: its application traffic keys move to our own record layer (tls13rec.h) and wolfSSL's object (~48 KiB)
 * is freed. From then on a KeyUpdate from the peer makes the connection unusable (TLS_CONN_REKEY), so call it
 * once a fresh TLS session could take over: when the session is up. TLS 1.2, a peer that negotiated smaller
 * records, or a KeyUpdate of ours still unanswered keep wolfSSL. No-op before the handshake finished. */
void tls_conn_detach(struct tls_conn *c);
/* True once the connection runs on our record layer instead of wolfSSL. */
bool tls_conn_detached(const struct tls_conn *c);
/* Sends a TLS 1.3 KeyUpdate asking the peer for one too (a wolfSSL connection only): how tests play a client
 * that rekeys its control channel. 0 or -1. */
int tls_conn_key_update(struct tls_conn *c);
/* Narrows what a context offers: ciphers a wolfSSL cipher list (NULL: unchanged), tls12_only caps the
 * version at TLS 1.2, small_records asks for 512-byte records (max_fragment_length). For tests and the load
 * generator, which play particular clients. 0 or -1. */
int tls_ctx_limit(struct tls_ctx *t, const char *ciphers, bool tls12_only, bool small_records);
/* The peer certificate (DER) as presented, borrowed until tls_conn_free or tls_conn_trim; -1 if none. */
int tls_conn_peer_cert(struct tls_conn *c, const uint8_t **der, size_t *len);
/* Non-NULL when the peer's chain failed verification: a human reason ("certificate has expired", ...). */
const char *tls_conn_peer_error(const struct tls_conn *c);
const char *tls_conn_error(const struct tls_conn *c);
const char *tls_conn_version(struct tls_conn *c);
const char *tls_conn_cipher(struct tls_conn *c);

#endif
