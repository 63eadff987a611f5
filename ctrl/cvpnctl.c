// SPDX-License-Identifier: GPL-2.0-or-later
/* cvpnctl: the operator's command line. Subcommands come from one table, as in wireguard-tools' wg; the
 * ones that talk to a running cvpnd over its control socket (status, connections, terminate, reload) will
 * join the table later. Exit status: 0 ok, 1 the operation failed, 2 usage error. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cvpn/config.h"
#include "cvpn/export.h"

#define EXIT_USAGE 2

struct subcommand {
	const char *name;
	int (*main)(int argc, char *argv[]);
	const char *args;
	const char *help;
};

static int check_main(int argc, char *argv[]);
static int export_main(int argc, char *argv[]);
static int help_main(int argc, char *argv[]);

static const struct subcommand subcommands[] = {
	{ "check", check_main, "FILE", "validate an endpoint configuration file without applying it" },
	{ "export-client-config", export_main, "-c FILE [--cert F --key F] [-o OUT]",
	  "write the OpenVPN client configuration file for the endpoint" },
	{ "help", help_main, "", "show this help" },
	/* later, over cvpnd's control socket: status, connections, terminate, reload */
};

static const char *prog = "cvpnctl";

static void usage(FILE *f)
{
	fprintf(f, "Usage: %s <command> [arguments]\n\nCommands:\n", prog);
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(f, "  %s%s%s\n      %s\n", subcommands[i].name, *subcommands[i].args ? " " : "",
			subcommands[i].args, subcommands[i].help);
}

static int help_main(int argc, char *argv[])
{
	usage(stdout);
	return 0;
}

static int check_main(int argc, char *argv[])
{
	struct config *cfg;

	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		printf("Usage: %s check FILE\n", prog);
		return 0;
	}
	if (argc != 2) {
		fprintf(stderr, "Usage: %s check FILE\n", prog);
		return EXIT_USAGE;
	}
	if (config_load(argv[1], stderr, &cfg) < 0)
		return 1;
	config_free(cfg);
	printf("configuration OK\n");
	return 0;
}

static const char *export_strerror(int err)
{
	switch (err) {
	case -EDESTADDRREQ:
		return "no address for clients: set endpoint.remote (the listen address is a wildcard)";
	case -EBADMSG:
		return "a certificate or key file holds no usable PEM data";
	case -ENODATA:
		return "the server certificate has no common name (CN) for verify-x509-name";
	case -ENAMETOOLONG:
		return "the server certificate's common name is too long";
	default:
		return strerror(-err);
	}
}

/* Writes via a temporary file and rename, so OUT is either the old file or the complete new one; 0600
 * because the file may carry a private key. */
static int write_file(const char *path, const char *buf, size_t len)
{
	char *tmp = NULL;
	FILE *f = NULL;
	int fd = -1, ret = -1;

	if (asprintf(&tmp, "%s.XXXXXX", path) < 0) {
		tmp = NULL;
		goto out;
	}
	fd = mkstemp(tmp);
	if (fd < 0)
		goto out;
	f = fdopen(fd, "w");
	if (!f)
		goto out;
	fd = -1;
	if (fwrite(buf, 1, len, f) != len || fflush(f) != 0 || fsync(fileno(f)) < 0)
		goto out;
	if (fclose(f) != 0) {
		f = NULL;
		goto out;
	}
	f = NULL;
	if (rename(tmp, path) < 0)
		goto out;
	ret = 0;
out:
	if (ret < 0)
		fprintf(stderr, "%s: cannot write %s: %s\n", prog, path, strerror(errno));
	if (f)
		fclose(f);
	if (fd >= 0)
		close(fd);
	if (ret < 0 && tmp)
		unlink(tmp);
	free(tmp);
	return ret;
}

static int export_main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "output", required_argument, NULL, 'o' },
		{ "cert", required_argument, NULL, 'C' },
		{ "key", required_argument, NULL, 'K' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *file = NULL, *output = NULL, *cert = NULL, *key = NULL;
	struct config *cfg = NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *ms;
	int c, r, ret = 1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c': file = optarg; break;
		case 'o': output = optarg; break;
		case 'C': cert = optarg; break;
		case 'K': key = optarg; break;
		case 'h':
			printf("Usage: %s export-client-config -c FILE [--cert F --key F] [-o OUT]\n", prog);
			return 0;
		default:
			goto usage;
		}
	}
	if (!file || optind != argc || !cert != !key)
		goto usage;
	if (config_load(file, stderr, &cfg) < 0)
		return 1;
	ms = open_memstream(&buf, &len);
	if (!ms) {
		fprintf(stderr, "%s: %s\n", prog, strerror(errno));
		goto out;
	}
	r = export_client_config(cfg, ms);
	if (r < 0)
		fprintf(stderr, "%s: %s: %s\n", prog, file, export_strerror(r));
	if (r == 0 && cert && (r = export_inline_file(ms, "cert", cert)) < 0)
		fprintf(stderr, "%s: %s: %s\n", prog, cert, export_strerror(r));
	if (r == 0 && key && (r = export_inline_file(ms, "key", key)) < 0)
		fprintf(stderr, "%s: %s: %s\n", prog, key, export_strerror(r));
	if (fclose(ms) != 0 && r == 0) {
		fprintf(stderr, "%s: %s\n", prog, strerror(errno));
		r = -EIO;
	}
	if (r < 0)
		goto out;
	if (output) {
		if (write_file(output, buf, len) < 0)
			goto out;
	} else if (fwrite(buf, 1, len, stdout) != len || fflush(stdout) != 0) {
		fprintf(stderr, "%s: writing to stdout: %s\n", prog, strerror(errno));
		goto out;
	}
	ret = 0;
out:
	if (buf) {
		explicit_bzero(buf, len); /* may hold the client's private key */
		free(buf);
	}
	config_free(cfg);
	return ret;
usage:
	fprintf(stderr, "Usage: %s export-client-config -c FILE [--cert F --key F] [-o OUT]\n", prog);
	return EXIT_USAGE;
}

int main(int argc, char *argv[])
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		return help_main(argc - 1, argv + 1);
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (!strcmp(argv[1], subcommands[i].name))
			return subcommands[i].main(argc - 1, argv + 1);
	fprintf(stderr, "%s: unknown command '%s'\n\n", prog, argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
