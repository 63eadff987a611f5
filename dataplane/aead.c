// SPDX-License-Identifier: GPL-2.0-or-later
/* OpenVPN 2.6 AEAD data channel (openvpn-protocol.md §5.1, §6.1, §6.2) on OpenSSL libcrypto EVP.
 *
 * Each direction keeps one EVP_CIPHER_CTX that is keyed once in aead_key_init; per packet only the IV is set,
 * so the AES key schedule (or ChaCha key) is not recomputed and nothing is allocated on the packet path. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "cvpn/aead.h"

#define AEAD_IV_LEN 12
#define AEAD_IMPLICIT_IV_LEN 8
#define AEAD_PID_LEN 4

#define OP_DATA_V1 6
#define OP_DATA_V2 9
#define V1_HEADER (1 + AEAD_PID_LEN)

/* 0xFFFFFFFF must never be sent (§6.2), so the last usable id is one below it. */
#define PACKET_ID_LAST 0xFFFFFFFEu

/* Plaintext bigger than any UDP datagram or TCP-framed packet is a caller bug; it also keeps every length
 * that reaches EVP comfortably inside int. */
#define AEAD_MAX_PLAINTEXT 0x10000u

struct aead_dir {
	EVP_CIPHER_CTX *ctx;
	uint8_t implicit_iv[AEAD_IMPLICIT_IV_LEN];
};

static const EVP_CIPHER *aead_evp_cipher(enum cvpn_cipher cipher, size_t *key_len)
{
	switch (cipher) {
	case CVPN_CIPHER_AES_128_GCM:
		*key_len = 16;
		return EVP_aes_128_gcm();
	case CVPN_CIPHER_AES_256_GCM:
		*key_len = 32;
		return EVP_aes_256_gcm();
	case CVPN_CIPHER_CHACHA20_POLY1305:
		*key_len = 32;
		return EVP_chacha20_poly1305();
	case CVPN_CIPHER_NONE:
		break;
	}
	return NULL;
}

static void aead_dir_free(struct aead_dir *d)
{
	if (!d)
		return;
	/* EVP_CIPHER_CTX_free cleanses the provider's key schedule before freeing it. */
	EVP_CIPHER_CTX_free(d->ctx);
	explicit_bzero(d, sizeof(*d));
	free(d);
}

static int aead_dir_new(const EVP_CIPHER *evp, size_t key_len, const uint8_t *key, const uint8_t *implicit_iv,
			int enc, struct aead_dir **out)
{
	struct aead_dir *d;
	int ret = -ENOMEM;

	d = calloc(1, sizeof(*d));
	if (!d)
		goto out;
	d->ctx = EVP_CIPHER_CTX_new();
	if (!d->ctx)
		goto out;
	ret = -EIO;
	/* Two steps: the IV length has to be set after choosing the cipher but before the key/IV call. */
	if (EVP_CipherInit_ex(d->ctx, evp, NULL, NULL, NULL, enc) != 1)
		goto out;
	if (EVP_CIPHER_CTX_ctrl(d->ctx, EVP_CTRL_AEAD_SET_IVLEN, AEAD_IV_LEN, NULL) != 1)
		goto out;
	if ((size_t)EVP_CIPHER_CTX_get_key_length(d->ctx) != key_len)
		goto out;
	if (EVP_CipherInit_ex(d->ctx, NULL, NULL, key, NULL, enc) != 1)
		goto out;
	memcpy(d->implicit_iv, implicit_iv, sizeof(d->implicit_iv));
	*out = d;
	d = NULL;
	ret = 0;
out:
	aead_dir_free(d);
	return ret;
}

int aead_key_init(struct aead_key *k, enum cvpn_cipher cipher, uint8_t key_id, const uint8_t block[256])
{
	return aead_key_init_role(k, cipher, key_id, block, true);
}

int aead_key_init_role(struct aead_key *k, enum cvpn_cipher cipher, uint8_t key_id, const uint8_t block[256],
		       bool server)
{
	const uint8_t *c2s = block, *s2c = block + 128;
	const EVP_CIPHER *evp;
	size_t key_len = 0;
	int ret = -EINVAL;

	memset(k, 0, sizeof(*k));
	evp = aead_evp_cipher(cipher, &key_len);
	if (!evp || key_id > 7)
		goto out;
	k->cipher = cipher;
	k->key_id = key_id;
	replay_init(&k->replay);
	/* §5.1: each half is cipher key (0..63) then implicit IV (64..); the server decrypts the
	 * client->server half and the client encrypts with it. */
	ret = aead_dir_new(evp, key_len, server ? c2s : s2c, (server ? c2s : s2c) + 64, 0, &k->dec);
	if (ret)
		goto out;
	ret = aead_dir_new(evp, key_len, server ? s2c : c2s, (server ? s2c : c2s) + 64, 1, &k->enc);
out:
	if (ret)
		aead_key_clear(k);
	return ret;
}

void aead_key_clear(struct aead_key *k)
{
	if (!k)
		return;
	aead_dir_free(k->enc);
	aead_dir_free(k->dec);
	explicit_bzero(k, sizeof(*k));
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void aead_make_iv(const struct aead_dir *d, const uint8_t pid[AEAD_PID_LEN], uint8_t iv[AEAD_IV_LEN])
{
	memcpy(iv, pid, AEAD_PID_LEN);
	memcpy(iv + AEAD_PID_LEN, d->implicit_iv, AEAD_IMPLICIT_IV_LEN);
}

ssize_t aead_seal(struct aead_key *k, uint32_t peer_id, const uint8_t *in, size_t len, uint8_t *out,
		  size_t out_cap)
{
	uint8_t iv[AEAD_IV_LEN];
	EVP_CIPHER_CTX *ctx;
	uint32_t pid;
	int outl;
	ssize_t ret = -EINVAL;

	if (!k->enc || peer_id > 0xFFFFFF)
		goto out;
	ret = -ENOSPC;
	if (len > AEAD_MAX_PLAINTEXT || out_cap < len + AEAD_OVERHEAD)
		goto out;
	ret = -EOVERFLOW;
	if (k->send_packet_id >= PACKET_ID_LAST)
		goto out;
	/* Consume the id before encrypting: even a failed attempt must never lead to a (key, IV) reuse. */
	pid = ++k->send_packet_id;

	out[0] = (uint8_t)(OP_DATA_V2 << 3 | k->key_id);
	out[1] = peer_id >> 16;
	out[2] = peer_id >> 8;
	out[3] = peer_id;
	put_be32(out + 4, pid);
	aead_make_iv(k->enc, out + 4, iv);

	ret = -EIO;
	ctx = k->enc->ctx;
	if (EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, iv) != 1)
		goto out;
	if (EVP_EncryptUpdate(ctx, NULL, &outl, out, AEAD_V2_HEADER) != 1)
		goto out;
	if (len && (EVP_EncryptUpdate(ctx, out + AEAD_OVERHEAD, &outl, in, (int)len) != 1 || (size_t)outl != len))
		goto out;
	if (EVP_EncryptFinal_ex(ctx, out + AEAD_OVERHEAD + len, &outl) != 1 || outl != 0)
		goto out;
	/* The tag goes before the ciphertext in OpenVPN's format. */
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, AEAD_TAG_LEN, out + AEAD_V2_HEADER) != 1)
		goto out;
	ret = (ssize_t)(len + AEAD_OVERHEAD);
out:
	return ret;
}

ssize_t aead_open(struct aead_key *k, const uint8_t *pkt, size_t len, uint8_t *out, size_t out_cap,
		  uint64_t now_sec)
{
	const uint8_t *pid_p, *aad, *tag, *ct;
	uint8_t iv[AEAD_IV_LEN], tagbuf[AEAD_TAG_LEN];
	size_t hdr, aad_len, ct_len = 0;
	EVP_CIPHER_CTX *ctx;
	bool wrote = false;
	uint32_t pid;
	int outl;
	ssize_t ret = -EBADMSG;

	if (!k->dec || len < 1 || (pkt[0] & 7) != k->key_id)
		goto out;
	switch (pkt[0] >> 3) {
	case OP_DATA_V2:
		hdr = AEAD_V2_HEADER;
		aad = pkt;
		aad_len = AEAD_V2_HEADER;
		pid_p = pkt + 4;
		break;
	case OP_DATA_V1:
		/* V1's AAD is the packet-id alone, without the opcode byte (§6.1). */
		hdr = V1_HEADER;
		aad = pkt + 1;
		aad_len = AEAD_PID_LEN;
		pid_p = pkt + 1;
		break;
	default:
		goto out;
	}
	if (len < hdr + AEAD_TAG_LEN)
		goto out;
	tag = pkt + hdr;
	ct = tag + AEAD_TAG_LEN;
	ct_len = len - hdr - AEAD_TAG_LEN;
	ret = -ENOSPC;
	if (ct_len > out_cap)
		goto out;
	ret = -EBADMSG;
	if (ct_len > AEAD_MAX_PLAINTEXT)
		goto out;
	pid = get_be32(pid_p);

	ret = -EIO;
	ctx = k->dec->ctx;
	aead_make_iv(k->dec, pid_p, iv);
	/* OpenSSL wants a writable tag buffer for SET_TAG. */
	memcpy(tagbuf, tag, AEAD_TAG_LEN);
	if (EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, iv) != 1)
		goto out;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, AEAD_TAG_LEN, tagbuf) != 1)
		goto out;
	if (EVP_DecryptUpdate(ctx, NULL, &outl, aad, (int)aad_len) != 1)
		goto out;
	wrote = true;
	if (ct_len && (EVP_DecryptUpdate(ctx, out, &outl, ct, (int)ct_len) != 1 || (size_t)outl != ct_len))
		goto out;
	if (EVP_DecryptFinal_ex(ctx, out + ct_len, &outl) != 1) {
		ret = -EBADMSG;
		goto out;
	}
	/* Only an authenticated packet may move the replay window (§6.1 receive order). */
	if (!replay_check(&k->replay, pid, now_sec)) {
		ret = -EALREADY;
		goto out;
	}
	replay_update(&k->replay, pid, now_sec);
	ret = (ssize_t)ct_len;
out:
	/* Never hand out plaintext that failed authentication or is a replay. */
	if (ret < 0 && wrote && ct_len)
		explicit_bzero(out, ct_len);
	return ret;
}
