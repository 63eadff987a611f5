// SPDX-License-Identifier: GPL-2.0-or-later
/* cvpnd: the gateway daemon. Reads the endpoint config, programs the kernel, serves OpenVPN clients. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cvpn/config.h"
#include "cvpn/ctlclient.h"
#include "cvpn/log.h"
#include "cvpn/server.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: cvpnd -c CONFIG [-v]\n"
		   "       cvpnd --check -c CONFIG\n"
		   "       cvpnd --after-exit -c CONFIG\n"
		   "\n"
		   "  -c, --config FILE   endpoint config file (YAML)\n"
		   "      --check         validate the config file; when a cvpnd answers on the file's control\n"
		   "                      socket, also print the diff from the ruleset in force to the file's\n"
		   "                      (what a reload would change; nothing is applied). Exit 0 = OK,\n"
		   "                      1 = errors or not comparable\n"
		   "      --after-exit    after cvpnd exited, however it did (the unit's ExecStopPost): remove\n"
		   "                      the kernel data channel interfaces (data-channel: kernel) a killed\n"
		   "                      cvpnd left forwarding; nothing while a cvpnd answers on the control\n"
		   "                      socket. Exit 0 = nothing left behind, 1 = could not remove\n"
		   "  -v, --verbose       debug logging\n"
		   "  -h, --help          this text\n"
		   "\n"
		   "Runs in the foreground and logs to stderr (under systemd: the journal). Needs CAP_NET_ADMIN\n"
		   "(tun, nftables, routes) and CAP_NET_BIND_SERVICE (ports below 1024); examples/cvpnd.service\n"
		   "runs it with those two capabilities only.\n"
		   "\n"
		   "Signals:\n"
		   "  SIGTERM, SIGINT  stop: clients are dropped, the tun, the nftables table inet cvpn and\n"
		   "                   everything else cvpnd installed are removed\n"
		   "  SIGHUP           reload the config file (as `cvpnctl reload`); an invalid file, or one that\n"
		   "                   changes client-cidr, transport, port, listen address or control-socket, is\n"
		   "                   refused with the reasons in the log and the running config stays\n"
		   "  SIGUSR1          reopen the connection log (after logrotate moved it)\n"
		   "\n"
		   "Operations (endpoint section of the config):\n"
		   "  control-socket: PATH | { path: PATH, group: NAME }\n"
		   "                   where cvpnctl reaches the daemon; default %s,\n"
		   "                   mode 0660, open to root and to the group\n"
		   "  connection-log: PATH | { path: PATH, update-interval: 5m }\n"
		   "                   one JSON object per line per connection attempt, update and end\n"
		   "  session-timeout, disconnect-on-session-timeout, max-connections, banner: see README.md\n",
		CONFIG_DEFAULT_CONTROL_SOCKET);
}

/* Runs when the daemon is gone, so it must work with a config edited into errors since: then the default
 * control socket is the one to ask. */
static int after_exit_cleanup(const char *path)
{
	struct config *cfg = NULL;
	FILE *devnull = fopen("/dev/null", "w");
	int n;

	if (config_load(path, devnull ? devnull : stderr, &cfg) < 0)
		log_warnx("%s: configuration has errors; asking the default control socket %s", path,
			  CONFIG_DEFAULT_CONTROL_SOCKET);
	if (devnull)
		fclose(devnull);
	n = server_after_exit(cfg ? cfg->control_socket : NULL);
	config_free(cfg);
	if (n == -EBUSY) {
		log_info("a cvpnd answers on the control socket: nothing to clean up after");
		return 0;
	}
	if (n < 0) {
		log_warnx("cannot remove the kernel data channel interfaces a stopped cvpnd left: %s", strerror(-n));
		return 1;
	}
	if (n > 0)
		log_warnx("removed %d kernel data channel interface%s left forwarding by a cvpnd that did not stop "
			  "cleanly", n, n == 1 ? "" : "s");
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' }, { "check", no_argument, NULL, 'C' },
		{ "after-exit", no_argument, NULL, 'A' },   { "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL;
	bool check = false, after_exit = false;
	int verbose = 0, c, ret = 1;
	struct config *cfg = NULL;
	struct server srv;

	while ((c = getopt_long(argc, argv, "c:vh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'C':
			check = true;
			break;
		case 'A':
			after_exit = true;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!path || optind != argc) {
		usage(stderr);
		return 2;
	}
	log_init("cvpnd", verbose);
	if (after_exit)
		return after_exit_cleanup(path);
	if (config_load(path, stderr, &cfg) < 0) {
		fprintf(stderr, "%s: configuration has errors%s\n", path, check ? "" : ", not starting");
		return 1;
	}
	if (check) {
		printf("configuration OK\n");
		fflush(stdout);
		/* the socket of the daemon this file configures, whatever $CVPN_SOCKET says */
		ret = ctlclient_check_print(cfg->control_socket ? cfg->control_socket : CONFIG_DEFAULT_CONTROL_SOCKET,
					    cfg, stdout, stderr) < 0 ? 1 : 0;
		config_free(cfg);
		return ret;
	}
	/* the server owns cfg from here: a reload replaces it */
	if (server_init(&srv, cfg) == 0 && server_run(&srv) == 0)
		ret = 0;
	server_cleanup(&srv);
	return ret;
}
