/* web_cache.c - recent answers of the read-only aggregate queries (spend,
 * status), so that a dashboard opened by many people, or reloaded, costs the
 * ledger one query per distinct question every few seconds.
 *
 * The key is the question after authorisation (the resolved range, grouping,
 * and the team a viewer is bound to), so an answer is only ever served to a
 * request that was allowed to ask exactly that. One request computes a key at
 * a time: the others wait for its answer when there is none yet, or get the
 * previous answer (at most two lifetimes old) while it is refreshed. */
#include <stdlib.h>
#include <string.h>

#include "web_int.h"

#define CACHE_SLOTS 64

struct cache_slot {
	char key[WEB_CACHE_KEY_MAX];
	char *body; /* malloc'd; NULL before the first answer */
	size_t len;
	int64_t at_us;   /* when body was computed */
	int64_t used_us; /* last hit, for eviction */
	bool filling;    /* a request is computing this key */
};

struct web_cache {
	pthread_mutex_t mu;
	pthread_cond_t filled;
	int64_t ttl_us;
	struct cache_slot slots[CACHE_SLOTS];
};

struct web_cache *web_cache_new(int64_t ttl_us)
{
	struct web_cache *c;

	if (ttl_us <= 0 || !(c = calloc(1, sizeof *c)))
		return NULL;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->filled, NULL);
	c->ttl_us = ttl_us;
	return c;
}

void web_cache_free(struct web_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < CACHE_SLOTS; i++)
		free(c->slots[i].body);
	pthread_cond_destroy(&c->filled);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

static struct cache_slot *find(struct web_cache *c, const char *key)
{
	for (size_t i = 0; i < CACHE_SLOTS; i++)
		if (c->slots[i].key[0] && strcmp(c->slots[i].key, key) == 0)
			return &c->slots[i];
	return NULL;
}

/* The least recently used slot that no request is filling, emptied; NULL
 * when every slot is being filled. */
static struct cache_slot *evict(struct web_cache *c)
{
	struct cache_slot *best = NULL;

	for (size_t i = 0; i < CACHE_SLOTS; i++) {
		struct cache_slot *s = &c->slots[i];
		if (s->filling)
			continue;
		if (!s->key[0])
			return s;
		if (!best || s->used_us < best->used_us)
			best = s;
	}
	if (best) {
		free(best->body);
		memset(best, 0, sizeof *best);
	}
	return best;
}

static void answer(struct web_resp *rs, const struct cache_slot *s)
{
	sbuf_reset(&rs->body);
	sbuf_append(&rs->body, s->body, s->len);
	rs->status = 200;
	rs->content_type = "application/json";
}

int web_cache_get(struct web_cache *c, const char *key, struct web_resp *rs)
{
	struct cache_slot *s;
	int slot = -1;

	if (!c || strlen(key) >= WEB_CACHE_KEY_MAX)
		return -1;
	pthread_mutex_lock(&c->mu);
	for (;;) {
		int64_t now = time_mono_us();
		if (!(s = find(c, key))) {
			if ((s = evict(c))) {
				str_copy(s->key, sizeof s->key, key);
				s->used_us = now;
				s->filling = true;
				slot = (int)(s - c->slots);
			}
			break;
		}
		s->used_us = now;
		if (s->body && (now - s->at_us < c->ttl_us ||
		                (s->filling && now - s->at_us < 2 * c->ttl_us))) {
			answer(rs, s);
			slot = WEB_CACHE_HIT;
			break;
		}
		if (!s->filling) {
			s->filling = true;
			slot = (int)(s - c->slots);
			break;
		}
		/* Another request is computing the first answer: wait for it. */
		pthread_cond_wait(&c->filled, &c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	return slot;
}

void web_cache_done(struct web_cache *c, int slot, const struct web_resp *rs)
{
	struct cache_slot *s;

	if (!c || slot < 0 || slot >= CACHE_SLOTS)
		return;
	pthread_mutex_lock(&c->mu);
	s = &c->slots[slot];
	if (rs->status == 200 && !rs->asset && !rs->body.oom) {
		char *copy = malloc(rs->body.len ? rs->body.len : 1);
		if (copy) {
			memcpy(copy, rs->body.p ? rs->body.p : "", rs->body.len);
			free(s->body);
			s->body = copy;
			s->len = rs->body.len;
			s->at_us = time_mono_us();
		}
	}
	s->filling = false;
	/* A key that never got an answer is forgotten, so a waiter computes it. */
	if (!s->body)
		s->key[0] = '\0';
	pthread_cond_broadcast(&c->filled);
	pthread_mutex_unlock(&c->mu);
}
