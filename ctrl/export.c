// SPDX-License-Identifier: GPL-2.0-or-later
/* The client configuration file an operator hands to users (semantics.md §1). Everything the client must
 * agree on with the server comes from the same struct config the daemon runs with, so the two can't drift. */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cvpn/config.h"
#include "cvpn/export.h"

#define MAX_PEM_FILE (1 << 20)

/* Reads a whole (small) file, NUL-terminated. The caller wipes and frees it. */
static int read_small_file(const char *path, char **out, size_t *len_out)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > MAX_PEM_FILE) {
		ret = S_ISREG(st.st_mode) ? -EFBIG : -EINVAL;
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	/* read to EOF rather than trusting st_size: the file may change under us */
	while (len < (size_t)st.st_size && (n = read(fd, buf + len, (size_t)st.st_size - len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			goto out;
		}
		len += (size_t)n;
	}
	buf[len] = '\0';
	if (strlen(buf) != len) {
		ret = -EBADMSG; /* binary (DER?) file */
		goto out;
	}
	*out = buf;
	*len_out = len;
	buf = NULL;
	ret = 0;
out:
	if (buf) {
		explicit_bzero(buf, (size_t)st.st_size + 1);
		free(buf);
	}
	close(fd);
	return ret;
}

static int server_cn(const char *path, char *cn, size_t size)
{
	X509_NAME *name;
	X509 *x;
	FILE *f;
	int n, ret;

	f = fopen(path, "re");
	if (!f)
		return -errno;
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!x)
		return -EBADMSG;
	name = X509_get_subject_name(x);
	/* with a NULL buffer it returns the full length; with a buffer it silently truncates */
	n = X509_NAME_get_text_by_NID(name, NID_commonName, NULL, 0);
	if (n <= 0) {
		ret = -ENODATA;
		goto out;
	}
	if ((size_t)n >= size) {
		ret = -ENAMETOOLONG;
		goto out;
	}
	n = X509_NAME_get_text_by_NID(name, NID_commonName, cn, (int)size);
	ret = 0;
	/* a BMPString CN would contain NULs; control characters would break the client file */
	if (n < 0 || strlen(cn) != (size_t)n)
		ret = -EBADMSG;
	for (const unsigned char *p = (const unsigned char *)cn; ret == 0 && *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			ret = -EBADMSG;
out:
	X509_free(x);
	return ret;
}

/* OpenVPN splits config lines at whitespace; a CN with spaces or quotes must be quoted, and inside double
 * quotes OpenVPN honours backslash escapes. */
static void print_cn(FILE *out, const char *cn)
{
	if (!cn[strcspn(cn, " \t\"'\\#;")]) {
		fputs(cn, out);
		return;
	}
	fputc('"', out);
	for (const char *p = cn; *p; p++) {
		if (*p == '"' || *p == '\\')
			fputc('\\', out);
		fputc(*p, out);
	}
	fputc('"', out);
}

/* The certificates of a PEM text and nothing else, each re-encoded: a CA file written together with its
 * key (`openssl req -x509 -newkey ... -keyout ca.pem -out ca.pem`, a common one-liner) must not put that
 * key into every user's client file. -EBADMSG when there is no certificate. */
static int certificates_only(const char *pem, size_t len, char **out, size_t *out_len)
{
	BIO *in = len <= INT_MAX ? BIO_new_mem_buf(pem, (int)len) : NULL, *o = BIO_new(BIO_s_mem());
	X509 *x;
	char *data;
	long n;
	int count = 0, ret = -ENOMEM;

	if (!in || !o)
		goto done;
	while ((x = PEM_read_bio_X509(in, NULL, NULL, NULL))) {
		int ok = PEM_write_bio_X509(o, x);

		X509_free(x);
		if (ok != 1)
			goto done;
		count++;
	}
	ret = -EBADMSG;
	if (count == 0)
		goto done;
	ret = -ENOMEM;
	n = BIO_get_mem_data(o, &data);
	if (n <= 0 || !(*out = malloc((size_t)n + 1)))
		goto done;
	memcpy(*out, data, (size_t)n);
	(*out)[n] = '\0';
	*out_len = (size_t)n;
	ret = 0;
done:
	ERR_clear_error(); /* the read loop ends on "no start line" */
	BIO_free(in);
	BIO_free(o);
	return ret;
}

static int write_inline(FILE *out, const char *tag, const char *pem, size_t len)
{
	char close_tag[16];

	snprintf(close_tag, sizeof(close_tag), "</%s>", tag);
	if (!strstr(pem, "-----BEGIN "))
		return -EBADMSG;
	if (strstr(pem, close_tag))
		return -EINVAL;
	fprintf(out, "<%s>\n", tag);
	fwrite(pem, 1, len, out);
	if (len && pem[len - 1] != '\n')
		fputc('\n', out);
	fprintf(out, "%s\n", close_tag);
	return 0;
}

int export_client_config(const struct config *cfg, FILE *out)
{
	char cn[256], *ca = NULL, *file = NULL;
	size_t ca_len = 0, file_len = 0;
	int ret;

	/* a wildcard is where the daemon listens, not where a client can go */
	if (!cfg->remote_name || !strcmp(cfg->remote_name, "0.0.0.0") || !strcmp(cfg->remote_name, "::"))
		return -EDESTADDRREQ;
	if (!cfg->server_cert || !cfg->server_ca || !config_cipher_name(cfg->data_ciphers[0]))
		return -EINVAL;
	ret = server_cn(cfg->server_cert, cn, sizeof(cn));
	if (ret < 0)
		goto out;
	ret = read_small_file(cfg->server_ca, &file, &file_len);
	if (ret < 0)
		goto out;
	ret = certificates_only(file, file_len, &ca, &ca_len);
	if (ret < 0)
		goto out;

	fputs("client\ndev tun\n", out);
	fprintf(out, "proto %s\n", cfg->transport == CONFIG_TRANSPORT_TCP ? "tcp-client" : "udp");
	fprintf(out, "remote %s %u\n", cfg->remote_name, cfg->port);
	fputs("resolv-retry infinite\nnobind\nremote-cert-tls server\nverify-x509-name ", out);
	print_cn(out, cn);
	fputs(" name\ndata-ciphers ", out);
	for (size_t i = 0; i < 4 && cfg->data_ciphers[i] != CVPN_CIPHER_NONE; i++)
		fprintf(out, "%s%s", i ? ":" : "", config_cipher_name(cfg->data_ciphers[i]));
	fprintf(out, "\ncipher %s\n", config_cipher_name(cfg->data_ciphers[0]));
	/* the server renegotiates (reneg_seconds); a client timer of its own would only add handshakes */
	fputs("reneg-sec 0\nverb 3\n", out);
	/* tells a UDP server at once that we left, instead of waiting for the keepalive timeout */
	if (cfg->transport == CONFIG_TRANSPORT_UDP)
		fputs("explicit-exit-notify 1\n", out);
	ret = write_inline(out, "ca", ca, ca_len);
	if (ret < 0)
		goto out;
	if (fflush(out) != 0 || ferror(out))
		ret = -EIO;
out:
	if (file)
		explicit_bzero(file, file_len); /* it may hold a key */
	free(file);
	free(ca);
	return ret;
}

int export_inline_file(FILE *out, const char *tag, const char *path)
{
	char *pem = NULL;
	size_t len = 0;
	int ret;

	if (strcmp(tag, "cert") && strcmp(tag, "key"))
		return -EINVAL;
	ret = read_small_file(path, &pem, &len);
	if (ret < 0)
		return ret;
	if (!strcmp(tag, "cert")) {
		/* the user's certificate file may hold its key too: the key goes in <key>, once */
		char *certs = NULL;
		size_t certs_len = 0;

		ret = certificates_only(pem, len, &certs, &certs_len);
		if (ret == 0)
			ret = write_inline(out, tag, certs, certs_len);
		free(certs);
	} else {
		ret = write_inline(out, tag, pem, len);
	}
	if (ret == 0 && (fflush(out) != 0 || ferror(out)))
		ret = -EIO;
	explicit_bzero(pem, len);
	free(pem);
	return ret;
}
