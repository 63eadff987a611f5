// SPDX-License-Identifier: GPL-2.0-or-later
/* TLS 1.3 record protection (RFC 8446 §5.2-5.3) on libcrypto EVP.
 *
 * A record on the wire: [23][0x03 0x03][length 16 bit][AEAD(content || type || zeros)][tag 16]; the AAD is
 * the 5-byte header, the nonce the write IV XOR the 64-bit sequence number (left-padded to 12 bytes). The
 * control channel sends a few records per session and hour, so one EVP context is made per record instead
 * of keeping two per session: memory per idle session is what this file exists to save. */
#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

#include "cvpn/tls13rec.h"

#define LEGACY_VERSION 0x0303

size_t tls13_key_len(enum tls13_aead aead)
{
	return aead == TLS13_AES_128_GCM_SHA256 ? 16 : 32;
}

const char *tls13_suite_name(enum tls13_aead aead)
{
	switch (aead) {
	case TLS13_AES_128_GCM_SHA256:
		return "TLS_AES_128_GCM_SHA256";
	case TLS13_AES_256_GCM_SHA384:
		return "TLS_AES_256_GCM_SHA384";
	case TLS13_CHACHA20_POLY1305_SHA256:
		return "TLS_CHACHA20_POLY1305_SHA256";
	}
	return "unknown";
}

static const EVP_CIPHER *evp_cipher(enum tls13_aead aead)
{
	switch (aead) {
	case TLS13_AES_128_GCM_SHA256:
		return EVP_aes_128_gcm();
	case TLS13_AES_256_GCM_SHA384:
		return EVP_aes_256_gcm();
	case TLS13_CHACHA20_POLY1305_SHA256:
		return EVP_chacha20_poly1305();
	}
	return NULL;
}

ssize_t tls13_record_len(const uint8_t *buf, size_t len)
{
	size_t body;

	if (len < TLS13_HEADER_LEN)
		return 0;
	/* after the handshake every record is protected, and all protected records say application data */
	if (buf[0] != TLS13_CT_APPLICATION_DATA || ((unsigned)buf[1] << 8 | buf[2]) != LEGACY_VERSION)
		return -EBADMSG;
	body = (size_t)buf[3] << 8 | buf[4];
	if (body > TLS13_MAX_CIPHERTEXT || body < TLS13_TAG_LEN + 1)
		return -EBADMSG;
	return (ssize_t)(TLS13_HEADER_LEN + body);
}

static void make_nonce(const struct tls13_dir *d, uint8_t nonce[TLS13_IV_LEN])
{
	memcpy(nonce, d->iv, TLS13_IV_LEN);
	for (int i = 0; i < 8; i++)
		nonce[TLS13_IV_LEN - 1 - i] ^= (uint8_t)(d->seq >> (8 * i));
}

/* One AEAD pass over in[0 .. len) into out with header as AAD; enc: seal and write the tag to tag, else
 * check it against tag. 0, or -EBADMSG (tag mismatch), -EIO. */
static int aead_pass(enum tls13_aead aead, const struct tls13_dir *d, int enc, const uint8_t header[5],
		     const uint8_t *in, size_t len, uint8_t *out, uint8_t tag[TLS13_TAG_LEN])
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	uint8_t nonce[TLS13_IV_LEN];
	int n, ret = -EIO;

	if (!ctx)
		return -ENOMEM;
	make_nonce(d, nonce);
	if (EVP_CipherInit_ex(ctx, evp_cipher(aead), NULL, NULL, NULL, enc) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, TLS13_IV_LEN, NULL) != 1 ||
	    EVP_CipherInit_ex(ctx, NULL, NULL, d->key, nonce, enc) != 1)
		goto out;
	if (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TLS13_TAG_LEN, tag) != 1)
		goto out;
	if (EVP_CipherUpdate(ctx, NULL, &n, header, TLS13_HEADER_LEN) != 1)
		goto out;
	if (len > 0 && EVP_CipherUpdate(ctx, out, &n, in, (int)len) != 1)
		goto out;
	if (EVP_CipherFinal_ex(ctx, out + len, &n) != 1) {
		ret = enc ? -EIO : -EBADMSG;
		goto out;
	}
	if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TLS13_TAG_LEN, tag) != 1)
		goto out;
	ret = 0;
out:
	explicit_bzero(nonce, sizeof(nonce));
	EVP_CIPHER_CTX_free(ctx);
	return ret;
}

ssize_t tls13_seal(struct tls13_rec *r, uint8_t type, const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
	size_t inner = len + 1, total = TLS13_SEALED_LEN(len);
	uint8_t *body = out + TLS13_HEADER_LEN;
	int ret;

	if (len > TLS13_MAX_PLAINTEXT)
		return -EMSGSIZE;
	if (cap < total)
		return -ENOSPC;
	if (r->tx.seq == UINT64_MAX)
		return -EOVERFLOW; /* RFC 8446 §5.3: a sequence number must not wrap */
	out[0] = TLS13_CT_APPLICATION_DATA;
	out[1] = LEGACY_VERSION >> 8;
	out[2] = LEGACY_VERSION & 0xff;
	out[3] = (uint8_t)((inner + TLS13_TAG_LEN) >> 8);
	out[4] = (uint8_t)(inner + TLS13_TAG_LEN);
	/* TLSInnerPlaintext: the content, then its real type; no padding (nothing to hide in control text
	 * lengths that the OpenVPN packet sizes do not show anyway) */
	if (len > 0)
		memmove(body, in, len);
	body[len] = type;
	ret = aead_pass(r->aead, &r->tx, 1, out, body, inner, body, body + inner);
	if (ret < 0) {
		explicit_bzero(out, total);
		return ret;
	}
	r->tx.seq++;
	return (ssize_t)total;
}

ssize_t tls13_open(struct tls13_rec *r, const uint8_t *rec, size_t len, uint8_t *out, size_t cap,
		   uint8_t *type)
{
	ssize_t want = tls13_record_len(rec, len);
	size_t inner, content;
	int ret;

	if (want <= 0 || (size_t)want != len)
		return -EBADMSG;
	inner = len - TLS13_HEADER_LEN - TLS13_TAG_LEN;
	if (cap < inner)
		return -ENOSPC;
	if (r->rx.seq == UINT64_MAX)
		return -EOVERFLOW;
	ret = aead_pass(r->aead, &r->rx, 0, rec, rec + TLS13_HEADER_LEN, inner, out,
			(uint8_t *)(uintptr_t)(rec + len - TLS13_TAG_LEN));
	if (ret < 0) {
		explicit_bzero(out, inner);
		return ret;
	}
	/* the real type is the last non-zero byte; zeros after it are padding (§5.4); the content itself may
	 * not pass 2^14 bytes (§5.2: record_overflow) */
	content = inner;
	while (content > 0 && out[content - 1] == 0)
		content--;
	if (content == 0 || content - 1 > TLS13_MAX_PLAINTEXT) {
		explicit_bzero(out, inner);
		return -EBADMSG;
	}
	r->rx.seq++;
	*type = out[--content];
	return (ssize_t)content;
}

void tls13_rec_wipe(struct tls13_rec *r)
{
	explicit_bzero(r, sizeof(*r));
}
