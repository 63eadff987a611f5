/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_ROUTE_H
#define CVPN_ROUTE_H

#include <stdbool.h>
#include <stdint.h>

/* Links, addresses and sysctls over rtnetlink (libnl-route-3). Return 0 or -errno, never print. */

/* Gives the tun its address/prefix, sets its MTU and brings it up. Idempotent. */
int route_tun_configure(const char *ifname, uint32_t addr, uint8_t prefix_len, unsigned mtu);
/* First IPv4 address (host order) configured on ifname: the association's SNAT address.
 * -ENODEV for no such interface, -EADDRNOTAVAIL when it has no IPv4 address. */
int route_iface_ipv4(const char *ifname, uint32_t *addr);
/* Whether ifname is up and has carrier (IFF_UP and IFF_RUNNING). 0, -ENODEV or -errno. */
int route_iface_running(const char *ifname, bool *running);
/* A non-blocking rtnetlink socket subscribed to link events (fd or -errno), and a drain that returns how
 * many messages it discarded: on any event the daemon re-reads the links it cares about. */
int route_link_monitor_open(void);
int route_link_monitor_drain(int fd);
/* Enables IPv4 forwarding in this network namespace (net.ipv4.ip_forward); *was_on receives the old value
 * so the daemon can restore it when it stops. */
int route_enable_forwarding(bool *was_on);
int route_restore_forwarding(bool was_on);

struct policy;

/* Installs each association's routing table (POLICY_TABLE_BASE + i: the subnet on-link with the SNAT
 * address as source, then its route-table entries) and its `ip rule fwmark MARK lookup TABLE` at
 * POLICY_RULE_PRIO + i; then removes our routes and rules that p no longer has. Every route carries
 * rtm_protocol POLICY_RTPROT. Goes on past a failing association (e.g. its interface is missing) and
 * returns the first error, -ENODEV for a missing interface. */
int route_apply_assoc_tables(const struct policy *p);
/* Removes every route with protocol POLICY_RTPROT in tables POLICY_TABLE_BASE..+255 and every rule with a
 * priority in POLICY_RULE_PRIO..+255 (a previous run's leftovers, or ours on stop); nothing else. */
int route_reconcile(void);

#endif
