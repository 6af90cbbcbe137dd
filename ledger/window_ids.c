/* window_ids.c - the event_ids (with their ts) this connection stored in its
 * open window and in its last LEDGER_WINDOW_IDS committed windows.
 *
 * A batch may be probed for known event_ids before it reaches the writer,
 * on another connection (ledger_probe_batch, the collector's consumer
 * thread): that probe sees the calls committed when it ran, not those of
 * the writer's open window nor of the windows the writer committed since.
 * The writer checks those here, in memory (ledger/calls_write.c); when the
 * windows committed since the probe are more than it keeps, it probes in
 * SQL as before. Entries go in when their batch is stored in the window
 * (never for a batch undone), a committed window gets its number, a lost
 * window's entries go with it. */
#include "ledger_int.h"

#include <stdlib.h>
#include <string.h>

struct win_id {
	uint64_t hash;
	int64_t ts_us;
	size_t off; /* of the NUL-terminated id in text */
};

struct win_ids {
	int64_t seq; /* the window's commit number; 0: open (or unused) */
	struct win_id *e;
	size_t n, cap;
	int32_t *slots; /* -1: empty; indexes into e */
	size_t mask;
	struct sbuf text;
};

static void set_clear(struct win_ids *w)
{
	w->seq = 0;
	w->n = 0;
	if (w->slots)
		memset(w->slots, 0xff, (w->mask + 1) * sizeof *w->slots);
	sbuf_reset(&w->text);
}

static void set_free(struct win_ids *w)
{
	free(w->e);
	free(w->slots);
	sbuf_cleanup(&w->text);
	memset(w, 0, sizeof *w);
}

static int set_grow(struct win_ids *w)
{
	size_t cap = w->cap ? w->cap * 2 : 4096;
	struct win_id *e = realloc(w->e, cap * sizeof *e);
	if (!e)
		return -1;
	w->e = e;
	w->cap = cap;
	size_t nslots = cap * 2;
	int32_t *slots = malloc(nslots * sizeof *slots);
	if (!slots)
		return -1;
	memset(slots, 0xff, nslots * sizeof *slots);
	free(w->slots);
	w->slots = slots;
	w->mask = nslots - 1;
	for (size_t i = 0; i < w->n; i++) {
		size_t h = w->e[i].hash & w->mask;
		while (w->slots[h] >= 0)
			h = (h + 1) & w->mask;
		w->slots[h] = (int32_t)i;
	}
	return 0;
}

static int set_add(struct win_ids *w, const char *id, int64_t ts_us)
{
	if (w->n == w->cap && set_grow(w) < 0)
		return -1;
	size_t off = w->text.len;
	sbuf_append(&w->text, id, strlen(id) + 1);
	if (w->text.oom)
		return -1;
	uint64_t hash = hash_str(HASH_SEED, id);
	size_t h = hash & w->mask;
	while (w->slots[h] >= 0)
		h = (h + 1) & w->mask;
	w->e[w->n] = (struct win_id){hash, ts_us, off};
	w->slots[h] = (int32_t)w->n++;
	return 0;
}

/* Whether the set holds id with a ts within LEDGER_DEDUPE_WINDOW_US of ts_us. */
static bool set_has(const struct win_ids *w, const char *id, uint64_t hash, int64_t ts_us)
{
	if (w->n == 0)
		return false;
	for (size_t h = hash & w->mask; w->slots[h] >= 0; h = (h + 1) & w->mask) {
		const struct win_id *e = &w->e[w->slots[h]];
		if (e->hash == hash && strcmp(w->text.p + e->off, id) == 0 &&
		    e->ts_us >= ts_us - LEDGER_DEDUPE_WINDOW_US &&
		    e->ts_us <= ts_us + LEDGER_DEDUPE_WINDOW_US)
			return true;
	}
	return false;
}

/* ---- the connection's windows ------------------------------------------- */

struct ledger_window_ids {
	struct win_ids open;
	struct win_ids done[LEDGER_WINDOW_IDS]; /* committed, any order */
	bool broken; /* out of memory: the open window's ids are incomplete */
};

void ledger_window_ids_free(struct ledger *lg)
{
	struct ledger_window_ids *w = lg->win_ids;
	if (!w)
		return;
	set_free(&w->open);
	for (int i = 0; i < LEDGER_WINDOW_IDS; i++)
		set_free(&w->done[i]);
	free(w);
	lg->win_ids = NULL;
}

void ledger_window_ids_add(struct ledger *lg, const struct ledger_batch *b, const bool *keep)
{
	if (!lg->win_ids && !(lg->win_ids = calloc(1, sizeof *lg->win_ids)))
		return; /* no entries: every batch is probed in SQL (see covered) */
	struct ledger_window_ids *w = lg->win_ids;
	for (size_t i = 0; i < b->n_calls && !w->broken; i++)
		if (keep[i] && set_add(&w->open, b->calls[i].ev.event_id, b->calls[i].ev.ts_us) < 0)
			w->broken = true;
}

void ledger_window_ids_committed(struct ledger *lg)
{
	int64_t seq = __atomic_load_n(&lg->windows_committed, __ATOMIC_RELAXED) + 1;
	struct ledger_window_ids *w = lg->win_ids;

	if (w) {
		/* the open window's set takes the place of the oldest committed one */
		struct win_ids *oldest = &w->done[0];
		for (int i = 1; i < LEDGER_WINDOW_IDS; i++)
			if (w->done[i].seq < oldest->seq)
				oldest = &w->done[i];
		struct win_ids t = *oldest;
		*oldest = w->open;
		oldest->seq = w->broken ? -1 : seq; /* -1: incomplete, covers nothing */
		w->open = t;
		set_clear(&w->open);
		w->broken = false;
	}
	__atomic_store_n(&lg->windows_committed, seq, __ATOMIC_RELEASE);
}

void ledger_window_ids_lost(struct ledger *lg)
{
	if (lg->win_ids) {
		set_clear(&lg->win_ids->open);
		lg->win_ids->broken = false;
	}
}

int64_t ledger_windows_committed(const struct ledger *lg)
{
	return __atomic_load_n(&lg->windows_committed, __ATOMIC_ACQUIRE);
}

bool ledger_window_ids_cover(const struct ledger *lg, int64_t since)
{
	const struct ledger_window_ids *w = lg->win_ids;
	int64_t now = lg->windows_committed;

	if (!w || w->broken)
		return false;
	for (int64_t s = since + 1; s <= now; s++) {
		bool held = false;
		for (int i = 0; i < LEDGER_WINDOW_IDS && !held; i++)
			held = w->done[i].seq == s;
		if (!held)
			return false;
	}
	return true;
}

bool ledger_window_ids_has(const struct ledger *lg, int64_t since, const char *id, int64_t ts_us)
{
	const struct ledger_window_ids *w = lg->win_ids;
	uint64_t hash = hash_str(HASH_SEED, id);

	if (set_has(&w->open, id, hash, ts_us))
		return true;
	for (int i = 0; i < LEDGER_WINDOW_IDS; i++)
		if (w->done[i].seq > since && set_has(&w->done[i], id, hash, ts_us))
			return true;
	return false;
}
