/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_TLS13REC_H
#define CVPN_TLS13REC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* TLS 1.3 record protection (RFC 8446 §5.2-5.3) on libcrypto, for a control channel whose handshake wolfSSL
 * finished: tls.c hands the application traffic keys over and frees wolfSSL's ~48 KiB connection object,
 * which an idle session would otherwise keep for the rare PUSH_REPLY, EXIT or RESTART. Pure: no I/O, no
 * allocation kept between calls. */

enum tls13_aead {
	TLS13_AES_128_GCM_SHA256,
	TLS13_AES_256_GCM_SHA384,
	TLS13_CHACHA20_POLY1305_SHA256,
};

enum tls13_content {
	TLS13_CT_ALERT = 21,
	TLS13_CT_HANDSHAKE = 22,
	TLS13_CT_APPLICATION_DATA = 23,
};

#define TLS13_HEADER_LEN 5
#define TLS13_TAG_LEN 16
#define TLS13_IV_LEN 12
#define TLS13_KEY_MAX 32
#define TLS13_MAX_PLAINTEXT 16384
/* RFC 8446 §5.2: a protected record's length may not exceed 2^14 + 256 */
#define TLS13_MAX_CIPHERTEXT (TLS13_MAX_PLAINTEXT + 256)
/* one sealed record of n content bytes: header, content, inner type byte, tag */
#define TLS13_SEALED_LEN(n) (TLS13_HEADER_LEN + (n) + 1 + TLS13_TAG_LEN)

/* One direction's traffic key: the write key and IV derived from its traffic secret, and the sequence
 * number of the next record. */
struct tls13_dir {
	uint8_t key[TLS13_KEY_MAX];
	uint8_t iv[TLS13_IV_LEN];
	uint64_t seq;
};

struct tls13_rec {
	enum tls13_aead aead;
	struct tls13_dir rx, tx;
};

/* The key length of an AEAD (16 or 32). */
size_t tls13_key_len(enum tls13_aead aead);
/* The suite's IANA name ("TLS_AES_256_GCM_SHA384"). */
const char *tls13_suite_name(enum tls13_aead aead);

/* Length of the whole record at the start of buf (header included): 0 while its header is incomplete,
 * -EBADMSG for a header no protected TLS 1.3 record can have (not application data, wrong legacy version,
 * longer than TLS13_MAX_CIPHERTEXT or too short for the tag). */
ssize_t tls13_record_len(const uint8_t *buf, size_t len);

/* Protects len content bytes of type `type` as one record into out (TLS13_SEALED_LEN(len) bytes) with the tx
 * key, and advances its sequence number. in may be out + TLS13_HEADER_LEN (in place), no other overlap. Returns the record's length, or -EMSGSIZE (len over
 * TLS13_MAX_PLAINTEXT), -ENOSPC, -EOVERFLOW (sequence numbers exhausted), -EIO (libcrypto). */
ssize_t tls13_seal(struct tls13_rec *r, uint8_t type, const uint8_t *in, size_t len, uint8_t *out, size_t cap);

/* Opens the record rec[0 .. len) (exactly one, as tls13_record_len measured it) with the rx key: writes its
 * content to out and its real type to *type, and advances the sequence number. Returns the content length,
 * or -EBADMSG (bad header, tag mismatch, no content type, content over TLS13_MAX_PLAINTEXT), -ENOSPC,
 * -EOVERFLOW, -EIO. A record that fails leaves the sequence number where it was and no plaintext in out. */
ssize_t tls13_open(struct tls13_rec *r, const uint8_t *rec, size_t len, uint8_t *out, size_t cap,
		   uint8_t *type);

/* Wipes both keys. */
void tls13_rec_wipe(struct tls13_rec *r);

#endif
