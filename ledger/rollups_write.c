/* rollups_write.c - the rollups of the calls a window of batches stores,
 * summed in C across the window and upserted once, in the window's
 * transaction (ledger/batch_write.c); and the merge of pending deltas an
 * earlier version left.
 *
 *   rollup_daily        day, attribution, tier
 *   rollup_tags_hourly  tag key, hour, team, workflow, tag value
 *   rollup_hourly       hour, attribution, tier, status
 *
 * Each is summed here from the same rows the COPY of the calls writes; the
 * rebuild from the calls (ledger/prices_db.c) gives the same sums in SQL.
 * Costs are summed in 128 bits: no group of a window can overflow.
 *
 * A window's groups live in one table keyed by kind, bucket and the key's
 * strings, each string stored once (interned): a key is compared by its
 * offsets. Live traffic repeats its keys call after call, so a window of a
 * second folds tens of thousands of calls into a few thousand rows; a
 * backfill over many hours folds little, and the window ends at
 * WINDOW_MAX_GROUPS.
 *
 * Each rollup is a view over <rollup>_merged (one row per key) and
 * <rollup>_pending (deltas, migrations/0017): the collector now upserts
 * into _merged only; ledger_merge_rollups folds deltas that an earlier
 * version appended. Tables are touched in the order of `kind_order`, the
 * order every writer of the rollups locks them in. */
#include "ledger_int.h"

#include <stdlib.h>
#include <string.h>

#define DAY_US (24 * HOUR_US)

/* ---- statements ------------------------------------------------------------- */

/* Staged rows upserted into _merged; _pending folded into _merged. */
#define ROLLUP_STMTS(T, KEYS, SUMS, ADD)                                                           \
	"INSERT INTO " T "_merged AS r SELECT * FROM stage_" T " ORDER BY " KEYS                   \
	" ON CONFLICT (" KEYS ") DO UPDATE SET " ADD,                                              \
	    "WITH p AS (DELETE FROM " T "_pending RETURNING *) INSERT INTO " T "_merged AS r"      \
	    " SELECT " KEYS ", " SUMS " FROM p GROUP BY " KEYS " ORDER BY " KEYS                   \
	    " ON CONFLICT (" KEYS ") DO UPDATE SET " ADD

#define TOKEN_SUMS                                                                                 \
	"sum(calls), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens),"               \
	" sum(cache_write_tokens), sum(reasoning_tokens), sum(cost_pusd), sum(unpriced_calls)"
#define TOKEN_ADD                                                                                  \
	"calls = r.calls + excluded.calls, input_tokens = r.input_tokens + excluded.input_tokens," \
	" output_tokens = r.output_tokens + excluded.output_tokens,"                               \
	" cache_read_tokens = r.cache_read_tokens + excluded.cache_read_tokens,"                   \
	" cache_write_tokens = r.cache_write_tokens + excluded.cache_write_tokens,"                \
	" reasoning_tokens = r.reasoning_tokens + excluded.reasoning_tokens,"                      \
	" cost_pusd = r.cost_pusd + excluded.cost_pusd,"                                           \
	" unpriced_calls = r.unpriced_calls + excluded.unpriced_calls"
#define HIT_SUM     ", sum(cache_hit_calls)"
#define HIT_ADD     ", cache_hit_calls = r.cache_hit_calls + excluded.cache_hit_calls"
#define ATTRIBUTION "team, workflow, task_type, provider, model"

/* What each kind keys on, and its SQL. */
static const struct kind_def {
	bool status;      /* in the key */
	const char *copy; /* into its staging table */
	const char *upsert, *merge;
	const char *upsert_name, *merge_name;
} kinds[] = {
#define KIND(STATUS, T, NAME, KEYS, SUMS, ADD)                                                     \
	{                                                                                          \
		STATUS, "COPY stage_" T " FROM STDIN", ROLLUP_STMTS(T, KEYS, SUMS, ADD),           \
		    "ru_" NAME, "rm_" NAME                                                         \
	}
    [ROLLUP_DAILY] = KIND(false, "rollup_daily", "daily", "day, " ATTRIBUTION ", tier",
                          TOKEN_SUMS HIT_SUM, TOKEN_ADD HIT_ADD),
    [ROLLUP_TAGS] = KIND(false, "rollup_tags_hourly", "tags",
                         "tag_key, hour, team, workflow, tag_value", TOKEN_SUMS, TOKEN_ADD),
    [ROLLUP_HOURLY] = KIND(true, "rollup_hourly", "hourly", "hour, " ATTRIBUTION ", tier, status",
                           TOKEN_SUMS HIT_SUM, TOKEN_ADD HIT_ADD),
#undef KIND
};

/* The kinds in lock order. */
static const enum rollup_kind kind_order[] = {ROLLUP_DAILY, ROLLUP_TAGS, ROLLUP_HOURLY};
#define N_KINDS (sizeof kind_order / sizeof *kind_order)
_Static_assert(N_KINDS == sizeof kinds / sizeof *kinds, "every kind in the lock order");

/* ---- a window's groups ------------------------------------------------------- */

/* The strings of a key, as offsets of interned strings in the arena. */
enum key_field { K_TEAM, K_WORKFLOW, K_TASK, K_PROVIDER, K_MODEL, K_TIER, K_TAG, K_VALUE, K_N };

struct key {
	int64_t bucket_us;
	uint32_t s[K_N]; /* unused fields 0 */
	uint32_t kind_status;
	uint32_t zero; /* no padding: keys compare with memcmp */
};

struct group {
	struct key key;
	uint64_t hash;
	int64_t calls, unpriced, cache_hits;
	int64_t tokens[5];
	__int128 cost;
};

/* The window's groups summed so far, and its interned strings. */
struct rollup_window {
	struct group *g;
	size_t n, cap;
	uint32_t *slots; /* group index + 1; 0 = empty */
	size_t mask;
	struct sbuf arena; /* NUL-terminated strings; offset 0 is "" */
	uint32_t *strs;    /* interned: arena offset + 1; 0 = empty */
	size_t n_strs, str_mask;
};

struct rollup_window *rollup_window_new(void)
{
	struct rollup_window *w = calloc(1, sizeof *w);
	if (!w)
		return NULL;
	sbuf_init(&w->arena);
	return w;
}

void rollup_window_free(struct rollup_window *w)
{
	if (!w)
		return;
	free(w->g);
	free(w->slots);
	free(w->strs);
	sbuf_cleanup(&w->arena);
	free(w);
}

void rollup_window_reset(struct rollup_window *w)
{
	if (!w)
		return;
	if (w->n)
		memset(w->slots, 0, (w->mask + 1) * sizeof *w->slots);
	if (w->n_strs)
		memset(w->strs, 0, (w->str_mask + 1) * sizeof *w->strs);
	w->n = w->n_strs = 0;
	sbuf_reset(&w->arena);
}

size_t rollup_window_groups(const struct rollup_window *w)
{
	return w ? w->n : 0;
}

static const char *str_at(const struct rollup_window *w, uint32_t off)
{
	return off ? w->arena.p + off : "";
}

/* Grows an open-addressing index of u32 slots to hold `want` entries at
 * half load; rehash() re-inserts the entries. */
static int index_grow(uint32_t **slots, size_t *mask, size_t want)
{
	size_t cap = *slots ? *mask + 1 : 0, ncap = cap ? cap : 1024;
	while (ncap < want * 2)
		ncap *= 2;
	if (ncap == cap)
		return 0;
	uint32_t *ns = calloc(ncap, sizeof *ns);
	if (!ns)
		return -1;
	free(*slots);
	*slots = ns;
	*mask = ncap - 1;
	return 1;
}

/* Room for `more` new strings and groups without failing halfway: called
 * before a batch is folded, so that a fold either happens whole or not. */
static int window_reserve(struct rollup_window *w, size_t more)
{
	if (w->arena.len == 0) {
		sbuf_putc(&w->arena, '\0'); /* offset 0: "" */
		if (w->arena.oom)
			return -1;
	}
	int r = index_grow(&w->strs, &w->str_mask, w->n_strs + more);
	if (r < 0)
		return -1;
	if (r > 0) { /* re-intern: each string starts after a NUL */
		for (size_t off = 1; off < w->arena.len; off += strlen(w->arena.p + off) + 1) {
			uint64_t h = hash_str(HASH_SEED, w->arena.p + off);
			size_t i = h & w->str_mask;
			while (w->strs[i])
				i = (i + 1) & w->str_mask;
			w->strs[i] = (uint32_t)off + 1;
		}
	}
	if (w->n + more > w->cap) {
		size_t ncap = w->cap ? w->cap : 4096;
		while (ncap < w->n + more)
			ncap *= 2;
		struct group *ng = realloc(w->g, ncap * sizeof *ng);
		if (!ng)
			return -1;
		w->g = ng;
		w->cap = ncap;
	}
	r = index_grow(&w->slots, &w->mask, w->n + more);
	if (r < 0)
		return -1;
	if (r > 0)
		for (size_t gi = 0; gi < w->n; gi++) {
			size_t i = w->g[gi].hash & w->mask;
			while (w->slots[i])
				i = (i + 1) & w->mask;
			w->slots[i] = (uint32_t)gi + 1;
		}
	return 0;
}

/* The offset of s in the arena, added when new; room reserved. UINT32_MAX
 * when the arena cannot grow. */
static uint32_t intern(struct rollup_window *w, const char *s)
{
	if (!*s)
		return 0;
	uint64_t h = hash_str(HASH_SEED, s);
	for (size_t i = h & w->str_mask;; i = (i + 1) & w->str_mask) {
		if (!w->strs[i]) {
			size_t off = w->arena.len;
			sbuf_append(&w->arena, s, strlen(s) + 1);
			if (w->arena.oom || off >= UINT32_MAX - 1)
				return UINT32_MAX;
			w->strs[i] = (uint32_t)off + 1;
			w->n_strs++;
			return (uint32_t)off;
		}
		if (strcmp(w->arena.p + w->strs[i] - 1, s) == 0)
			return w->strs[i] - 1;
	}
}

static uint64_t key_hash(const struct key *k)
{
	uint64_t h = HASH_SEED ^ (uint64_t)k->bucket_us;
	h = (h ^ k->kind_status) * UINT64_C(0x100000001b3);
	for (int f = 0; f < K_N; f++)
		h = (h ^ k->s[f]) * UINT64_C(0x100000001b3);
	return h ^ (h >> 29);
}

/* The group of key k (created empty when new); room reserved. */
static struct group *group_of(struct rollup_window *w, const struct key *k)
{
	uint64_t h = key_hash(k);
	for (size_t i = h & w->mask;; i = (i + 1) & w->mask) {
		if (!w->slots[i]) {
			struct group *g = &w->g[w->n];
			memset(g, 0, sizeof *g);
			g->key = *k;
			g->hash = h;
			w->slots[i] = (uint32_t)++w->n;
			return g;
		}
		struct group *g = &w->g[w->slots[i] - 1];
		if (g->hash == h && memcmp(&g->key, k, sizeof *k) == 0)
			return g;
	}
}

static int64_t bucket_of(int64_t us, int64_t width)
{
	return us - ((us % width) + width) % width;
}

/* The sums every kind keeps. */
static void group_add(struct group *g, const struct call_row *r)
{
	const struct call_event *c = &r->ev;

	g->calls++;
	g->tokens[0] += c->input_tokens;
	g->tokens[1] += c->output_tokens;
	g->tokens[2] += c->cache_read_tokens;
	g->tokens[3] += c->cache_write_tokens;
	g->tokens[4] += c->reasoning_tokens;
	if (r->priced)
		g->cost += r->cost_pusd;
	else
		g->unpriced++;
	g->cache_hits += c->cache_hit;
}

struct tag_fold {
	struct rollup_window *w;
	const struct call_row *r;
	struct key k;
	bool oom;
};

static int tag_add(const char *key, const char *value, void *arg)
{
	struct tag_fold *f = arg;
	f->k.s[K_TAG] = intern(f->w, key);
	f->k.s[K_VALUE] = intern(f->w, value);
	if (f->k.s[K_TAG] == UINT32_MAX || f->k.s[K_VALUE] == UINT32_MAX) {
		f->oom = true;
		return -1;
	}
	group_add(group_of(f->w, &f->k), f->r);
	return 0;
}

/* A call's tags, counted as event_tags_each will give them (at most). */
static size_t tags_of(const struct call_row *r)
{
	size_t n = 0;
	for (const char *p = r->ev.tags; *p; p++)
		n += *p == ':';
	return n;
}

int rollup_window_fold(struct rollup_window *w, const struct ledger_batch *b, const bool *keep,
                       struct tally_err *err)
{
	size_t more = 0;
	for (size_t i = 0; i < b->n_calls; i++)
		if (keep[i])
			more += N_KINDS + tags_of(&b->calls[i]);
	/* strings: six per call and two per tag at most, within `more` * 2 */
	if (more == 0)
		return 0;
	if (window_reserve(w, more * 2) < 0)
		return tally_err_set(err, TALLY_ENOMEM, true, "out of memory summing the rollups");
	for (size_t i = 0; i < b->n_calls; i++) {
		if (!keep[i])
			continue;
		const struct call_row *r = &b->calls[i];
		const struct call_event *c = &r->ev;
		struct key k;
		memset(&k, 0, sizeof k);
		const char *f[] = {c->team,     c->workflow, c->task_type,
		                   c->provider, c->model,    r->tier};
		for (int j = 0; j < 6; j++)
			if ((k.s[j] = intern(w, f[j])) == UINT32_MAX)
				return tally_err_set(err, TALLY_ENOMEM, false,
				                     "out of memory summing the rollups");
		k.bucket_us = bucket_of(c->ts_us, HOUR_US);
		k.kind_status = ROLLUP_HOURLY | (uint32_t)c->status << 8;
		group_add(group_of(w, &k), r);
		k.bucket_us = bucket_of(c->ts_us, DAY_US);
		k.kind_status = ROLLUP_DAILY;
		group_add(group_of(w, &k), r);
		if (!c->tags[0])
			continue;
		struct tag_fold tf = {w, r, {0}, false};
		tf.k.bucket_us = bucket_of(c->ts_us, HOUR_US);
		tf.k.kind_status = ROLLUP_TAGS;
		tf.k.s[K_TEAM] = k.s[K_TEAM];
		tf.k.s[K_WORKFLOW] = k.s[K_WORKFLOW];
		if (event_tags_each(c->tags, tag_add, &tf) < 0) {
			if (tf.oom)
				return tally_err_set(err, TALLY_ENOMEM, false,
				                     "out of memory summing the rollups");
			/* event_parse stores nothing else: a bug, said loudly; the
			 * call is stored with its tags, and `tally rollups rebuild`
			 * sums them from the calls. */
			log_error("call %s: its tags are not a flat JSON object, left out of "
			          "the tag rollup (tally rollups rebuild restores it): %.60s",
			          c->event_id, c->tags);
		}
	}
	return 0;
}

/* ---- the window's rows, written -------------------------------------------- */

static void put_sums(struct sbuf *s, const struct group *g, bool hits)
{
	sbuf_putc(s, '\t');
	sbuf_i64(s, g->calls);
	for (int t = 0; t < 5; t++) {
		sbuf_putc(s, '\t');
		sbuf_i64(s, g->tokens[t]);
	}
	sbuf_putc(s, '\t');
	sbuf_i128(s, g->cost);
	sbuf_putc(s, '\t');
	sbuf_i64(s, g->unpriced);
	if (hits) {
		sbuf_putc(s, '\t');
		sbuf_i64(s, g->cache_hits);
	}
	sbuf_putc(s, '\n');
}

static void put_field(const struct rollup_window *w, struct sbuf *s, uint32_t off, bool first)
{
	if (!first)
		sbuf_putc(s, '\t');
	sbuf_copy_text(s, str_at(w, off));
}

/* One COPY line in the column order of the kind's table. */
static void group_copy_text(const struct rollup_window *w, const struct group *g, struct sbuf *s)
{
	enum rollup_kind kind = (enum rollup_kind)(g->key.kind_status & 0xff);
	char ts[40];

	time_format(g->key.bucket_us, ts);
	if (kind == ROLLUP_TAGS) {
		put_field(w, s, g->key.s[K_TAG], true);
		sbuf_putc(s, '\t');
		sbuf_puts(s, ts);
		put_field(w, s, g->key.s[K_TEAM], false);
		put_field(w, s, g->key.s[K_WORKFLOW], false);
		put_field(w, s, g->key.s[K_VALUE], false);
		put_sums(s, g, false);
		return;
	}
	sbuf_puts(s, ts);
	for (int f = K_TEAM; f <= K_TIER; f++)
		put_field(w, s, g->key.s[f], false);
	if (kinds[kind].status) {
		sbuf_putc(s, '\t');
		sbuf_puts(s, call_status_name((enum call_status)(g->key.kind_status >> 8)));
	}
	put_sums(s, g, true);
}

int ledger_rollups_prepare(struct ledger *lg, struct tally_err *err)
{
	static const char stage_sql[] =
	    "CREATE TEMP TABLE IF NOT EXISTS stage_rollup_daily (LIKE rollup_daily_merged)"
	    " ON COMMIT DELETE ROWS;"
	    "CREATE TEMP TABLE IF NOT EXISTS stage_rollup_tags_hourly"
	    " (LIKE rollup_tags_hourly_merged) ON COMMIT DELETE ROWS;"
	    "CREATE TEMP TABLE IF NOT EXISTS stage_rollup_hourly (LIKE rollup_hourly_merged)"
	    " ON COMMIT DELETE ROWS;";
	/* teams on first use; a workflow belongs to the team that used it
	 * first (budgets by workflow) */
	static const char owners_sql[] =
	    "WITH tm AS (INSERT INTO teams (team) SELECT DISTINCT team FROM stage_rollup_hourly"
	    "  ORDER BY 1 ON CONFLICT DO NOTHING)"
	    " INSERT INTO workflow_owners (workflow, team, first_seen)"
	    " SELECT DISTINCT ON (workflow) workflow, team, hour FROM stage_rollup_hourly"
	    " ORDER BY workflow, hour, team ON CONFLICT DO NOTHING";

	if (ledger_exec(lg, stage_sql, err) < 0 ||
	    ledger_prepare_one(lg, "rollup_owners", owners_sql, err) < 0)
		return -1;
	for (size_t i = 0; i < N_KINDS; i++) {
		const struct kind_def *k = &kinds[kind_order[i]];
		if (ledger_prepare_one(lg, k->upsert_name, k->upsert, err) < 0 ||
		    ledger_prepare_one(lg, k->merge_name, k->merge, err) < 0)
			return -1;
	}
	return 0;
}

void rollup_window_text(const struct rollup_window *w, enum rollup_kind kind, struct sbuf *s)
{
	for (size_t gi = 0; gi < w->n; gi++)
		if ((enum rollup_kind)(w->g[gi].key.kind_status & 0xff) == kind)
			group_copy_text(w, &w->g[gi], s);
}

int ledger_rollups_write(struct ledger *lg, const struct rollup_window *w, size_t *rows,
                         struct tally_err *err)
{
	struct sbuf *s = &lg->copybuf;

	*rows = 0;
	if (!w || w->n == 0)
		return 0;
	for (size_t i = 0; i < N_KINDS; i++) {
		enum rollup_kind kind = kind_order[i];
		sbuf_reset(s);
		rollup_window_text(w, kind, s);
		if (s->oom)
			return tally_err_set(err, TALLY_ENOMEM, true,
			                     "out of memory writing the rollups");
		if (s->len &&
		    ledger_stage_run(lg, kinds[kind].copy, s, kinds[kind].upsert_name, err) < 0)
			return -1;
	}
	*rows = w->n;
	return ledger_run_prepared(lg, "rollup_owners", err);
}

int ledger_merge_rollups(struct ledger *lg, int64_t *merged, struct tally_err *err)
{
	int rc = 0;

	*merged = 0;
	if (ledger_prepare(lg, err) < 0 || ledger_exec(lg, "BEGIN", err) < 0)
		return -1;
	for (size_t i = 0; i < N_KINDS && rc == 0; i++) {
		PGresult *res = PQexecPrepared(lg->conn, kinds[kind_order[i]].merge_name, 0, NULL,
		                               NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			rc = ledger_fail(lg, res, "merging the rollups", err);
			break;
		}
		*merged += strtoll(PQcmdTuples(res), NULL, 10);
		PQclear(res);
	}
	return ledger_tx_end(lg, rc, err);
}
