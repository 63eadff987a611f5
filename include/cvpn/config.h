/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_CONFIG_H
#define CVPN_CONFIG_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The endpoint config file (YAML), parsed into a plain tree. Pure: no I/O but reading the file itself.
 * Addresses are IPv4 in host byte order. Every element remembers the line it came from, so later stages
 * (policy compilation, reload diff) can still point at the text. */

struct cidr4 {
	uint32_t addr; /* host order, already masked */
	uint8_t len;   /* 0..32 */
};

enum config_transport { CONFIG_TRANSPORT_UDP, CONFIG_TRANSPORT_TCP };

/* Data-channel ciphers, in the spelling OpenVPN uses on the wire. */
enum cvpn_cipher {
	CVPN_CIPHER_NONE = 0,
	CVPN_CIPHER_AES_256_GCM,
	CVPN_CIPHER_AES_128_GCM,
	CVPN_CIPHER_CHACHA20_POLY1305,
};

/* A gateway interface in a target subnet (the cloud's ENI). */
struct config_association {
	char *name;                 /* operator's id, e.g. "subnet-a"; routes name it as target */
	char ifname[IF_NAMESIZE];   /* gateway interface in that subnet */
	struct cidr4 subnet;        /* the subnet the interface sits in */
	char **security_groups;     /* names of struct config_security_group, at most 5 */
	size_t n_security_groups;
	char *network_acl;          /* name of struct config_network_acl, or NULL = allow all */
	char *subnet_route_table;   /* name of struct config_route_table, or NULL = main table */
	int line;
};

/* Client-VPN route table entry: destination -> association (or "local" for client-to-client). */
struct config_route {
	struct cidr4 dst;
	char *target;               /* association name, or "local" */
	char *description;
	int line;
};

/* Authorization rule: destination -> all users or one access group. */
struct config_authz_rule {
	struct cidr4 dst;
	char *group;                /* NULL when all_users */
	bool all_users;
	char *description;
	int line;
};

enum config_proto { CONFIG_PROTO_ALL = -1, CONFIG_PROTO_ICMP = 1, CONFIG_PROTO_TCP = 6, CONFIG_PROTO_UDP = 17 };

struct config_sg_rule {
	int proto;                  /* enum config_proto, or another IP protocol number */
	uint16_t port_from, port_to;/* 0,65535 when not given */
	struct cidr4 dst;
	char *description;
	int line;
};

struct config_security_group {
	char *name;
	struct config_sg_rule *egress;
	size_t n_egress;
	int line;
};

struct config_acl_rule {
	uint32_t number;            /* evaluated lowest first */
	bool allow;
	int proto;
	uint16_t port_from, port_to;
	struct cidr4 cidr;          /* destination for outbound, source for inbound */
	int line;
};

struct config_network_acl {
	char *name;
	struct config_acl_rule *outbound;
	size_t n_outbound;
	struct config_acl_rule *inbound;
	size_t n_inbound;
	int line;
};

struct config_rt_entry {
	struct cidr4 dst;
	uint32_t via;               /* next hop, 0 = on-link through the association interface */
	int line;
};

struct config_route_table {
	char *name;
	struct config_rt_entry *entries;
	size_t n_entries;
	int line;
};

/* How users log in (semantics.md §1): a client certificate, a directory account, or both. */
enum config_group_name { CONFIG_GROUP_NAME_CN, CONFIG_GROUP_NAME_DN };

struct config_directory {
	char *uri;                   /* ldap://, ldaps:// or ldapi:// URI(s), space-separated as libldap takes them */
	char *base_dn;
	char *bind_dn_template;      /* "uid=%u,ou=people,dc=example,dc=org": %u is the escaped username */
	char *search_filter;         /* or "(&(objectClass=person)(uid=%u))" searched under base_dn ... */
	char *service_bind_dn;       /* ... with this account (NULL = anonymous search) */
	char *service_password_file; /* its password, first line; must not be readable by group/other */
	bool starttls;
	char *ca;                    /* PEM CA for ldaps:// and StartTLS; NULL = the system's */
	char *username_attribute;    /* holds the session's username; default: the one %u is matched against */
	char *group_attribute;       /* on the user's entry, default "memberOf" */
	enum config_group_name group_name; /* default cn: the group DN's first RDN value */
	bool nested_groups;          /* follow group_attribute on the groups themselves */
	unsigned timeout;            /* seconds for each directory operation, default 10 */
	int line;
};

enum config_totp_source { CONFIG_TOTP_OFF, CONFIG_TOTP_ATTRIBUTE, CONFIG_TOTP_FILE };

struct config_auth {
	bool certificate;            /* default true: a client certificate is required and checked */
	struct config_directory *directory; /* NULL = no directory login */
	enum config_totp_source totp;
	char *totp_attribute;        /* directory attribute holding the base32 secret */
	char *totp_file;             /* "username:BASE32SECRET" lines; root-only */
	char *handler_path;          /* client connect handler, NULL = none */
	unsigned handler_timeout;    /* seconds, default 30 */
	unsigned backoff_base_ms;    /* failed-login backoff: first delay, default 1000 */
	unsigned backoff_max_ms;     /* and its cap, default 30000 */
};

#define CONFIG_DEFAULT_CONTROL_SOCKET "/run/cvpn/cvpnd.sock"
#define CONFIG_MAX_DATA_WORKERS 16   /* = DP_MAX_WORKERS */
/* A key's packet-ids end at 0xFFFFFFFE (openvpn-protocol.md §6.2): the server renegotiates well before, at
 * this many packets sent on one key, whatever renegotiate-after says (the client renegotiates for its own). */
#define CONFIG_RENEG_PACKETS_MAX 0xF0000000ull
#define CONFIG_KERNEL_MAX_KEEPALIVE 86400 /* seconds: what Linux's ovpn module takes for either keepalive time */

/* Groups of an identity (certificate CN or username) given in the config: the source of groups on
 * endpoints without a directory; directory groups (when configured) are added to them. */
struct config_identity {
	char *name;
	char **groups;
	size_t n_groups;
	int line;
};

struct config {
	char *path;                  /* file this came from */
	char *endpoint_id;           /* "cvpn-endpoint-..." style id; default "cvpn-endpoint" */

	/* listen */
	char *listen_address;        /* literal IPv4/IPv6 address; default "0.0.0.0" */
	uint16_t port;               /* default 443 */
	enum config_transport transport; /* default udp */
	char *remote_name;           /* DNS name (or address) clients use; exported as `remote` */

	/* TLS / authentication */
	char *server_cert;           /* PEM path */
	char *server_key;            /* PEM path; must not be readable by group/other */
	char *client_ca;             /* PEM path: client certificates must chain to it */
	char *server_ca;             /* PEM path: the CA chain of server_cert, inlined into exported client
	                              * files as <ca>; default: the client_ca file */
	char *crl;                   /* optional CRL (PEM or DER) for client certificates */
	struct config_auth auth;     /* `authentication:`; default: certificate only */
	bool offer_tls_ekm;          /* default true; false forces the TLS-PRF key derivation */

	/* client addressing and push */
	struct cidr4 client_cidr;
	bool split_tunnel;           /* default false: redirect-gateway def1 bypass-dhcp */
	uint32_t *dns_servers;
	size_t n_dns_servers;
	char **search_domains;
	size_t n_search_domains;
	enum cvpn_cipher data_ciphers[4]; /* server preference order, CVPN_CIPHER_NONE-terminated */

	/* timers (seconds) */
	unsigned keepalive_interval;  /* ping, default 10 */
	unsigned keepalive_timeout;   /* ping-restart pushed, default 60; server drops after twice this */
	unsigned reneg_seconds;       /* server-initiated renegotiation, default 3600, 0 = off */
	unsigned long long reneg_packets; /* and after this many packets to the client on one key, 0 = only at
					   * CONFIG_RENEG_PACKETS_MAX, before the packet-id runs out */
	unsigned handshake_window;    /* default 60 */
	unsigned transition_window;   /* lame-duck key lifetime, default 3600 */
	unsigned session_timeout;     /* default 86400 */
	unsigned max_connections;     /* default 2000 */
	unsigned data_workers;        /* data-plane threads; 0 (default): one per online CPU */
	int handshake_threads;        /* TLS handshake threads; -1 (default): one per online CPU; 0: none, the
				       * control thread does them */
	bool data_channel_kernel;     /* data-channel: kernel (dco.h: the kernel's ovpn module does the data
				       * channel); default userspace (the data workers) */
	char *banner;                 /* optional, <= 1400 chars */
	bool disconnect_on_session_timeout; /* default true: HALT the client; false: tell it to reconnect */

	/* operations */
	char *control_socket;         /* cvpnctl's Unix socket; NULL = CONFIG_DEFAULT_CONTROL_SOCKET */
	char *control_socket_group;   /* group that may use it besides root; NULL = root only */
	char *connection_log;         /* JSON-lines connection log; NULL = off */
	unsigned connection_log_update; /* seconds between update records of a live connection, default 300 */

	/* policy (semantics.md §2-§3); compiled by a later issue, validated now */
	struct config_association *associations;
	size_t n_associations;
	struct config_route *routes;
	size_t n_routes;
	struct config_authz_rule *authz_rules;
	size_t n_authz_rules;
	struct config_security_group *security_groups;
	size_t n_security_groups;
	struct config_network_acl *network_acls;
	size_t n_network_acls;
	struct config_route_table *route_tables;
	size_t n_route_tables;
	struct config_identity *identities;
	size_t n_identities;
};

/* Parses and validates. On success returns 0 and *out owns a new config. On failure returns -1, writes every
 * problem as "file:line:col: message\n" to errs (never stops at the first), and frees its partial state.
 * Valid but dubious settings are written as "file:line:col: warning: message\n" even on success.
 * errs may be NULL. */
int config_load(const char *path, FILE *errs, struct config **out);
void config_free(struct config *cfg);
/* Frees a directory description and its strings (a config's, or a copy of one); NULL is fine. */
void config_directory_free(struct config_directory *d);

const char *config_cipher_name(enum cvpn_cipher c);      /* "AES-256-GCM", ...; NULL for NONE */
enum cvpn_cipher config_cipher_from_name(const char *s); /* case-insensitive; NONE if unknown */
int config_parse_cidr4(const char *s, struct cidr4 *out); /* "a.b.c.d/n" or "a.b.c.d"; 0 or -EINVAL */
/* The identity-groups entry for name, or NULL. */
const struct config_identity *config_find_identity(const struct config *cfg, const char *name);
/* The attribute a bind-DN template or search filter compares %u with ("uid" in "uid=%u,ou=people,..." and in
 * "(&(objectClass=person)(uid=%u))"): 0, or -EINVAL when %u is compared with several attributes, or not
 * with a plain equality. */
int config_matched_attribute(const char *template_or_filter, char *out, size_t cap);
void config_format_ipv4(uint32_t addr, char buf[16]);    /* host order -> dotted quad */

#endif
