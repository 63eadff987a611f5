// SPDX-License-Identifier: GPL-2.0-or-later
/* A chained hash of failure counters with a random seed (keys are chosen by whoever attacks us: without the
 * seed they could pile every key into one chain). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "cvpn/backoff.h"

#define BACKOFF_BUCKETS 4096

struct entry {
	struct entry *next;
	uint64_t last_ms;            /* of the last failure (or of the first login in progress) */
	unsigned failures;
	unsigned pending;            /* logins in progress: they count as failures until they end */
	char key[];
};

struct backoff {
	struct entry *bucket[BACKOFF_BUCKETS];
	size_t n, max;
	uint64_t seed;
};

static unsigned hash(const struct backoff *b, const char *key)
{
	uint64_t h = 1469598103934665603ull ^ b->seed;

	for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
		h ^= *p;
		h *= 1099511628211ull;
	}
	h ^= h >> 29;
	return (unsigned)(h % BACKOFF_BUCKETS);
}

struct backoff *backoff_new(size_t max_keys)
{
	struct backoff *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->max = max_keys;
	if (getrandom(&b->seed, sizeof(b->seed), 0) != sizeof(b->seed))
		b->seed = (uint64_t)(uintptr_t)b; /* still unpredictable enough with ASLR; never fatal */
	return b;
}

void backoff_free(struct backoff *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < BACKOFF_BUCKETS; i++)
		while (b->bucket[i]) {
			struct entry *e = b->bucket[i];

			b->bucket[i] = e->next;
			free(e);
		}
	free(b);
}

static bool expired(const struct entry *e, uint64_t now_ms)
{
	return e->pending == 0 && now_ms >= e->last_ms + BACKOFF_FORGET_MS;
}

/* Finds key in its chain, dropping the forgotten entries met on the way. */
static struct entry **find(struct backoff *b, const char *key, uint64_t now_ms)
{
	struct entry **pp = &b->bucket[hash(b, key)];

	while (*pp) {
		struct entry *e = *pp;

		if (expired(e, now_ms)) {
			*pp = e->next;
			free(e);
			b->n--;
			continue;
		}
		if (!strcmp(e->key, key))
			return pp;
		pp = &e->next;
	}
	return pp;
}

static void prune(struct backoff *b, uint64_t now_ms)
{
	for (size_t i = 0; i < BACKOFF_BUCKETS; i++)
		for (struct entry **pp = &b->bucket[i]; *pp;) {
			struct entry *e = *pp;

			if (expired(e, now_ms)) {
				*pp = e->next;
				free(e);
				b->n--;
			} else {
				pp = &e->next;
			}
		}
}

/* Full of recent failures (someone is failing logins under many names): the counter touched longest ago
 * goes. Refusing new keys instead failed open: the next user attacked was not counted at all. A scan of
 * the whole table, but only when it is full. */
static void evict_oldest(struct backoff *b)
{
	struct entry **oldest = NULL;

	/* not one with logins in progress (their counts would be lost), unless every one has them */
	for (int pass = 0; pass < 2 && !oldest; pass++)
		for (size_t i = 0; i < BACKOFF_BUCKETS; i++)
			for (struct entry **pp = &b->bucket[i]; *pp; pp = &(*pp)->next)
				if ((pass || !(*pp)->pending) && (!oldest || (*pp)->last_ms < (*oldest)->last_ms))
					oldest = pp;
	if (oldest) {
		struct entry *e = *oldest;

		*oldest = e->next;
		free(e);
		b->n--;
	}
}

unsigned backoff_failures(struct backoff *b, const char *key, uint64_t now_ms)
{
	struct entry **pp = find(b, key, now_ms);

	return *pp ? (*pp)->failures + (*pp)->pending : 0;
}

/* key's entry, made when missing (NULL only when out of memory). */
static struct entry *get(struct backoff *b, const char *key, uint64_t now_ms)
{
	struct entry **pp = find(b, key, now_ms), *e;
	size_t len;

	if (*pp)
		return *pp;
	if (b->n >= b->max) {
		prune(b, now_ms);
		if (b->n >= b->max)
			evict_oldest(b);
		pp = find(b, key, now_ms);
	}
	len = strlen(key);
	e = calloc(1, sizeof(*e) + len + 1);
	if (!e)
		return NULL;
	memcpy(e->key, key, len + 1);
	e->last_ms = now_ms;
	*pp = e;
	b->n++;
	return e;
}

static void drop_if_empty(struct backoff *b, const char *key, uint64_t now_ms)
{
	struct entry **pp = find(b, key, now_ms), *e = *pp;

	if (e && e->failures == 0 && e->pending == 0) {
		*pp = e->next;
		free(e);
		b->n--;
	}
}

void backoff_fail(struct backoff *b, const char *key, uint64_t now_ms)
{
	struct entry *e = get(b, key, now_ms);

	if (!e)
		return;
	if (e->failures < 64)
		e->failures++;
	e->last_ms = now_ms;
}

bool backoff_begin(struct backoff *b, const char *key, uint64_t now_ms)
{
	struct entry *e = get(b, key, now_ms);

	if (!e || e->pending >= 1024)
		return false;
	e->pending++;
	return true;
}

void backoff_end(struct backoff *b, const char *key, bool failed, uint64_t now_ms)
{
	struct entry **pp = find(b, key, now_ms);

	if (*pp && (*pp)->pending)
		(*pp)->pending--;
	if (failed)
		backoff_fail(b, key, now_ms);
	else
		drop_if_empty(b, key, now_ms);
}

void backoff_clear(struct backoff *b, const char *key)
{
	struct entry **pp = &b->bucket[hash(b, key)];

	for (; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->key, key)) {
			struct entry *e = *pp;

			/* logins still in progress keep counting until they end */
			e->failures = 0;
			if (e->pending)
				return;
			*pp = e->next;
			free(e);
			b->n--;
			return;
		}
}

size_t backoff_size(const struct backoff *b) { return b->n; }

uint64_t backoff_delay_ms(unsigned failures, unsigned base_ms, unsigned max_ms)
{
	uint64_t d;

	if (failures == 0)
		return 0;
	if (failures > 32)
		failures = 32;
	d = (uint64_t)base_ms << (failures - 1);
	return d > max_ms ? max_ms : d;
}
