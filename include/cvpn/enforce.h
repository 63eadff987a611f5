/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_ENFORCE_H
#define CVPN_ENFORCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* The daemon's side of the policy: it owns the compiled policy the kernel runs, puts each session into it
 * (two map elements) and takes it out, places sessions on associations and moves them when a link goes
 * down, and recompiles on reload. Everything the kernel holds is replaced in one batch or not at all. */

struct config;
struct policy_verdict;
struct server;
struct session;

/* Compiles srv->cfg and installs it: routing tables and rules (leftovers of an earlier run removed first)
 * and table inet cvpn with no sessions. 0 or -1 (logged). */
int enforce_init(struct server *srv);
/* Removes everything enforce_init installed. */
void enforce_cleanup(struct server *srv);

/* Gives an authenticated session its groups, profile and association and installs its elements.
 * Returns 0, or -1 with a reason safe to show the client. */
int enforce_session_add(struct server *srv, struct session *s, char *reason, size_t reason_len);
/* Takes the session's elements out of the kernel; safe to call for a session never added. */
void enforce_session_del(struct server *srv, struct session *s);

/* Compiles ncfg and applies it with every live session in one batch (plus the routing tables). On success
 * the new policy is in force and srv->policy points at it (it borrows ncfg: the caller swaps ncfg in
 * right after). On failure nothing changed; reasons go to errs. */
int enforce_reload(struct server *srv, const struct config *ncfg, FILE *errs);

/* The address of a session that ended goes back to the pool only once the kernel has forgotten its
 * connections (NAT bindings, established state, flows other clients opened to it): its next holder must not
 * receive them. That happens at the next tick, for every address freed meanwhile in one pass over the
 * conntrack table; when the gateway is stopping, at once (the next start forgets all clients' flows). */
void enforce_address_free(struct server *srv, uint32_t vaddr);
/* At each tick: the pass above, then the addresses return to the pool. */
void enforce_tick(struct server *srv);

/* A link changed state (rtnetlink): moves sessions off a failed association and back when it returns. */
void enforce_on_link_events(struct server *srv);
/* Reads every association's link state now and moves sessions as enforce_on_link_events does; a state that
 * cannot be read stays as it was and sets srv->links_unsure, for the next tick to ask again. */
void enforce_check_links(struct server *srv);

/* Why would a packet from this identity pass or die. user: its groups come from a live session of that
 * user, else from identity-groups; group: exactly that group. -ENOENT for an unknown user. */
int enforce_explain(struct server *srv, const char *user, const char *group, uint32_t dst, int proto,
		    uint16_t port, struct policy_verdict *v);
/* The running ruleset as nft text without session elements (what `check` diffs against). */
int enforce_render(struct server *srv, FILE *out);

#endif
