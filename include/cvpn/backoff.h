/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef CVPN_BACKOFF_H
#define CVPN_BACKOFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Failed-login counters per key (a username, a source address) for exponential backoff: the verdict of the
 * next login with that key waits longer after each failure, so a password cannot be guessed through the
 * gateway at line rate. A key's failures are forgotten BACKOFF_FORGET_MS after its last one. Pure. */

#define BACKOFF_FORGET_MS (15 * 60 * 1000)

struct backoff;

/* max_keys bounds the memory an attacker can make us use; past it, the counter touched longest ago makes room
 * (a full table never leaves a new key uncounted). */
struct backoff *backoff_new(size_t max_keys);
void backoff_free(struct backoff *b);
/* Recent failures of key plus its logins in progress (0 when unknown or forgotten). */
unsigned backoff_failures(struct backoff *b, const char *key, uint64_t now_ms);
void backoff_fail(struct backoff *b, const char *key, uint64_t now_ms);
/* A login in progress counts as a failure until it ends (backoff_end, failed or not), so logins started
 * together are delayed in turn (1, 2, 4 ... times the base), not all by the failures before them. Neither
 * call makes old failures recent: only a failure does. */
bool backoff_begin(struct backoff *b, const char *key, uint64_t now_ms); /* false: not counted (no memory) */
void backoff_end(struct backoff *b, const char *key, bool failed, uint64_t now_ms);
/* A success: key's failures start over (logins still in progress keep counting). */
void backoff_clear(struct backoff *b, const char *key);
/* Keys tracked now (for tests and metrics). */
size_t backoff_size(const struct backoff *b);

/* The delay before the verdict after `failures` recent failures: none for the first attempt, then
 * base_ms, 2 * base_ms, 4 * base_ms ... capped at max_ms. */
uint64_t backoff_delay_ms(unsigned failures, unsigned base_ms, unsigned max_ms);

#endif
