// SPDX-License-Identifier: GPL-2.0-or-later
/* Prometheus text format for the daemon's counters and gauges. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <openssl/asn1.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cvpn/metrics.h"

struct metric {
	const char *name;      /* key in the JSON object; exported as cvpn_<name> */
	const char *type;
	const char *help;
};

static const struct metric metrics[] = {
	{ "active_connections", "gauge", "Connections established and not ended." },
	{ "handshaking_sessions", "gauge", "Sessions still in their TLS handshake." },
	{ "max_connections", "gauge", "Configured max-connections." },
	{ "connection_attempts_total", "counter", "Connection attempts decided (successful or failed)." },
	{ "authentication_failures_total", "counter",
	  "Clients refused by authentication (certificate checks and failed TLS handshakes)." },
	{ "connections_refused_limit_total", "counter", "Clients refused because max-connections was reached." },
	{ "crl_days_to_expiry", "gauge", "Days until the configured CRL's nextUpdate (absent without a CRL)." },
	{ "ingress_bytes_total", "counter", "IP bytes received from clients through the tunnel." },
	{ "egress_bytes_total", "counter", "IP bytes sent to clients through the tunnel." },
	{ "ingress_packets_total", "counter", "IP packets received from clients through the tunnel." },
	{ "egress_packets_total", "counter", "IP packets sent to clients through the tunnel." },
	{ "spoofed_packets_total", "counter", "Client packets dropped because of a foreign source address." },
	{ "connect_handler_timeouts_total", "counter", "Client connect handler runs that timed out." },
	{ "connect_handler_denials_total", "counter", "Connections denied by the client connect handler." },
	{ "config_version", "gauge", "Version of the applied configuration (1 at start, +1 per reload)." },
	{ "start_time_seconds", "gauge", "Unix time the daemon started." },
	{ "tun_packets_written_total", "counter", "Decrypted client packets handed to the tun." },
	{ "tun_writes_total", "counter", "Writes into the tun (coalesced super-packets count once)." },
	{ "tun_packets_coalesced_total", "counter", "Client packets that went into the tun inside a super-packet." },
	{ "udp_batched_datagrams_total", "counter", "Datagrams to UDP clients sent in batches." },
	{ "udp_batched_sends_total", "counter", "sendmmsg calls that sent those batches." },
	{ "udp_gso_sends_total", "counter", "Messages that carried several datagrams as one UDP GSO send." },
	{ "udp_gro_buffers_total", "counter",
	  "Received buffers in which the kernel coalesced several datagrams of one client (UDP GRO)." },
	{ "data_workers", "gauge", "Data-plane worker threads." },
	{ "worker_packets_decrypted_total", "counter", "Client packets the data workers decrypted into the tun." },
	{ "worker_packets_encrypted_total", "counter", "Packets the data workers encrypted to clients." },
	{ "worker_upcalls_total", "counter",
	  "Packets and events the data workers passed to the control thread (sessions it keeps, goodbyes)." },
	{ "worker_upcall_drops_total", "counter", "Upcalls dropped because the control thread was behind." },
	{ "replayed_packets_total", "counter", "Data packets dropped as replays." },
	{ "bad_packets_total", "counter", "Packets dropped as malformed, unauthenticated or from the wrong address." },
};

int metrics_write_prometheus(struct json_object *m, FILE *out)
{
	if (!json_object_is_type(m, json_type_object))
		return -EINVAL;
	for (size_t i = 0; i < sizeof(metrics) / sizeof(metrics[0]); i++) {
		struct json_object *v;

		if (!json_object_object_get_ex(m, metrics[i].name, &v))
			continue;
		if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
			return -EINVAL;
		fprintf(out, "# HELP cvpn_%s %s\n# TYPE cvpn_%s %s\n", metrics[i].name, metrics[i].help,
			metrics[i].name, metrics[i].type);
		if (json_object_is_type(v, json_type_int))
			fprintf(out, "cvpn_%s %llu\n", metrics[i].name,
				(unsigned long long)json_object_get_uint64(v));
		else
			fprintf(out, "cvpn_%s %.3f\n", metrics[i].name, json_object_get_double(v));
	}
	return ferror(out) ? -EIO : 0;
}

int metrics_crl_days(const char *path, double *days)
{
	const ASN1_TIME *next;
	X509_CRL *crl;
	int d = 0, s = 0, ret = -ENODATA;
	FILE *f;

	f = fopen(path, "re");
	if (!f)
		return -errno;
	crl = PEM_read_X509_CRL(f, NULL, NULL, NULL);
	fclose(f);
	if (!crl)
		return -EBADMSG;
	next = X509_CRL_get0_nextUpdate(crl);
	/* NULL "from" means now */
	if (next && ASN1_TIME_diff(&d, &s, NULL, next)) {
		*days = d + s / 86400.0;
		ret = 0;
	}
	X509_CRL_free(crl);
	return ret;
}
