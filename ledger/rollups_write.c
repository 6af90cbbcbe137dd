/* rollups_write.c - the rollups of a batch's new calls, in the batch's
 * transaction, and their merge behind the batches.
 *
 *   rollup_daily        day, attribution, tier
 *   rollup_tags_hourly  tag key, hour, team, workflow, tag value
 *   rollup_hourly       hour, attribution, tier, status
 *
 * Each is summed here, in C, from the same rows the COPY of the calls
 * writes, and staged; the rebuild from the calls (ledger/prices_db.c) gives
 * the same sums in SQL. Costs are summed in 128 bits: no group of a batch
 * can overflow.
 *
 * Each rollup is a view over <rollup>_merged (one row per key) and
 * <rollup>_pending (deltas not merged yet): migrations/0017. A batch whose
 * groups repeat (live traffic: 2 calls a group or more) appends its deltas
 * to _pending, a heap insert per row; one whose groups barely repeat (a
 * backfill over many hours) upserts them into _merged, since merging later
 * would not fold them. ledger_merge_rollups folds _pending into _merged,
 * many batches at a time. Readers sum the view: exact at every instant.
 * Tables are touched in the order of `kinds` below, _pending before _merged,
 * the order every writer of the rollups locks them in. */
#include "ledger_int.h"

#include <stdlib.h>
#include <string.h>

#define DAY_US (24 * HOUR_US)

/* What each kind keys on and sums, and its SQL. */
struct kind_def {
	int64_t bucket_us;                   /* an hour or a day */
	bool tier, status;                   /* in the key */
	const char *copy;                    /* into its staging table */
	const char *copy_pending;            /* into _pending (NULL: through the stage) */
	const char *upsert, *append, *merge; /* prepared statement names */
};

/* The statements of a kind: staged rows upserted into _merged, or appended
 * to _pending; _pending folded into _merged. */
#define ROLLUP_STMTS(T, KEYS, SUMS, ADD)                                                           \
	"INSERT INTO " T "_merged AS r SELECT * FROM stage_" T " ORDER BY " KEYS                   \
	" ON CONFLICT (" KEYS ") DO UPDATE SET " ADD,                                              \
	    "INSERT INTO " T "_pending SELECT * FROM stage_" T,                                    \
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

static const struct rollup_sql {
	const char *upsert, *append, *merge;
} kind_sql[] = {
    [ROLLUP_DAILY] = {ROLLUP_STMTS("rollup_daily", "day, " ATTRIBUTION ", tier", TOKEN_SUMS HIT_SUM,
                                   TOKEN_ADD HIT_ADD)},
    [ROLLUP_TAGS] = {ROLLUP_STMTS("rollup_tags_hourly", "tag_key, hour, team, workflow, tag_value",
                                  TOKEN_SUMS, TOKEN_ADD)},
    [ROLLUP_HOURLY] = {ROLLUP_STMTS("rollup_hourly", "hour, " ATTRIBUTION ", tier, status",
                                    TOKEN_SUMS HIT_SUM, TOKEN_ADD HIT_ADD)},
};

#define KIND(BUCKET, TIER, STATUS, T, PENDING, NAME)                                               \
	{                                                                                          \
		.bucket_us = BUCKET, .tier = TIER, .status = STATUS,                               \
		.copy = "COPY stage_" T " FROM STDIN",                                             \
		.copy_pending = PENDING ? "COPY " T "_pending FROM STDIN" : NULL,                  \
		.upsert = "ru_" NAME, .append = "ra_" NAME, .merge = "rm_" NAME                    \
	}
static const struct kind_def kinds[] = {
    [ROLLUP_DAILY] = KIND(DAY_US, true, false, "rollup_daily", true, "daily"),
    [ROLLUP_TAGS] = KIND(HOUR_US, false, false, "rollup_tags_hourly", true, "tags"),
    /* through the stage either way: the owners statement reads it */
    [ROLLUP_HOURLY] = KIND(HOUR_US, true, true, "rollup_hourly", false, "hourly"),
};
#undef KIND

/* The kinds in lock order. */
static const enum rollup_kind kind_order[] = {ROLLUP_DAILY, ROLLUP_TAGS, ROLLUP_HOURLY};
#define N_KINDS (sizeof kind_order / sizeof *kind_order)
_Static_assert(N_KINDS == LEDGER_ROLLUP_KINDS, "one buffer per rollup kind");

struct group {
	const struct call_row *first; /* the group's key fields */
	uint64_t hash;                /* of the kind and the whole key */
	int64_t bucket_us;
	size_t tag_key, tag_value; /* tags: offsets of the strings in the arena */
	int64_t calls, unpriced, cache_hits;
	int64_t tokens[5];
	__int128 cost;
};

/* Open-addressing table of groups, sized by the caller for the most groups
 * the batch can make (it never grows). */
struct groups {
	struct group *g;
	size_t n, cap;
	int32_t *slots; /* -1 = empty */
	size_t mask;
	struct sbuf arena; /* tag keys and values, NUL-terminated */
};

static int groups_init(struct groups *t, size_t n)
{
	size_t cap = 64;
	while (cap < n * 2)
		cap *= 2;
	memset(t, 0, sizeof *t);
	sbuf_init(&t->arena);
	t->cap = n ? n : 1;
	t->g = malloc(t->cap * sizeof *t->g);
	t->slots = malloc(cap * sizeof *t->slots);
	if (!t->g || !t->slots)
		return -1;
	memset(t->slots, 0xff, cap * sizeof *t->slots);
	t->mask = cap - 1;
	return 0;
}

static void groups_cleanup(struct groups *t)
{
	free(t->g);
	free(t->slots);
	sbuf_cleanup(&t->arena);
}

static int64_t bucket_of(int64_t us, int64_t width)
{
	return us - ((us % width) + width) % width;
}

/* ---- what recent batches keyed on -------------------------------------------- */

/* Two generations of key hashes (0 = empty slot): a key is "seen" when
 * either holds it; when the current one is half full it becomes the
 * previous one and the oldest is forgotten. A collision only sends a new
 * key to _pending instead of upserting it: both are exact. */
#define MEMORY_SLOTS (1u << 18)

struct rollup_memory {
	uint64_t *gen[2]; /* [0] current, [1] previous */
	size_t used;      /* in gen[0] */
};

struct rollup_memory *rollup_memory_new(void)
{
	struct rollup_memory *m = calloc(1, sizeof *m);
	if (!m)
		return NULL;
	m->gen[0] = calloc(MEMORY_SLOTS, sizeof *m->gen[0]);
	m->gen[1] = calloc(MEMORY_SLOTS, sizeof *m->gen[1]);
	if (!m->gen[0] || !m->gen[1]) {
		rollup_memory_free(m);
		return NULL;
	}
	return m;
}

void rollup_memory_free(struct rollup_memory *m)
{
	if (!m)
		return;
	free(m->gen[0]);
	free(m->gen[1]);
	free(m);
}

static bool gen_has(const uint64_t *gen, uint64_t h)
{
	for (size_t i = h & (MEMORY_SLOTS - 1);; i = (i + 1) & (MEMORY_SLOTS - 1)) {
		if (gen[i] == h)
			return true;
		if (gen[i] == 0)
			return false;
	}
}

/* Whether h was seen lately; remembers it either way. */
static bool memory_seen(struct rollup_memory *m, uint64_t h)
{
	if (!m)
		return false;
	h = h ? h : 1;
	for (size_t i = h & (MEMORY_SLOTS - 1);; i = (i + 1) & (MEMORY_SLOTS - 1)) {
		if (m->gen[0][i] == h)
			return true;
		if (m->gen[0][i] == 0) {
			bool seen = gen_has(m->gen[1], h);
			m->gen[0][i] = h;
			if (++m->used >= MEMORY_SLOTS / 2) {
				uint64_t *old = m->gen[1];
				memset(old, 0, MEMORY_SLOTS * sizeof *old);
				m->gen[1] = m->gen[0];
				m->gen[0] = old;
				m->used = 0;
			}
			return seen;
		}
	}
}

static uint64_t key_hash(const struct kind_def *k, const struct call_row *r, int64_t bucket)
{
	const struct call_event *c = &r->ev;
	uint64_t h = HASH_SEED ^ (uint64_t)bucket;
	h = hash_str(h, c->team);
	h = hash_str(h, c->workflow);
	h = hash_str(h, c->task_type);
	h = hash_str(h, c->provider);
	h = hash_str(h, c->model);
	if (k->tier)
		h = hash_str(h, r->tier);
	if (k->status)
		h ^= (uint64_t)c->status * UINT64_C(0x9e3779b97f4a7c15);
	return h;
}

static bool key_eq(const struct kind_def *k, const struct group *g, const struct call_row *r,
                   int64_t bucket)
{
	const struct call_event *a = &g->first->ev, *c = &r->ev;
	if (g->bucket_us != bucket || strcmp(a->team, c->team) != 0 ||
	    strcmp(a->workflow, c->workflow) != 0 || strcmp(a->task_type, c->task_type) != 0 ||
	    strcmp(a->provider, c->provider) != 0 || strcmp(a->model, c->model) != 0)
		return false;
	if (k->tier && strcmp(g->first->tier, r->tier) != 0)
		return false;
	return !k->status || a->status == c->status;
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

static void put_tokens(struct sbuf *s, const struct group *g)
{
	for (int t = 0; t < 5; t++) {
		sbuf_putc(s, '\t');
		sbuf_i64(s, g->tokens[t]);
	}
}

/* One COPY line in the column order of the kind's table. */
static void group_copy_text(const struct kind_def *k, const struct group *g, struct sbuf *s)
{
	const struct call_event *c = &g->first->ev;
	const char *keys[] = {c->team, c->workflow, c->task_type, c->provider, c->model};
	char ts[40];

	time_format(g->bucket_us, ts);
	sbuf_puts(s, ts);
	for (size_t f = 0; f < sizeof keys / sizeof *keys; f++) {
		sbuf_putc(s, '\t');
		sbuf_copy_text(s, keys[f]);
	}
	if (k->tier) {
		sbuf_putc(s, '\t');
		sbuf_copy_text(s, g->first->tier);
	}
	if (k->status) {
		sbuf_putc(s, '\t');
		sbuf_puts(s, call_status_name(c->status));
	}
	sbuf_putc(s, '\t');
	sbuf_i64(s, g->calls);
	put_tokens(s, g);
	sbuf_putc(s, '\t');
	sbuf_i128(s, g->cost);
	sbuf_putc(s, '\t');
	sbuf_i64(s, g->unpriced);
	sbuf_putc(s, '\t');
	sbuf_i64(s, g->cache_hits);
	sbuf_putc(s, '\n');
}

/* The kind's groups of the kept calls as COPY text: into append when they
 * average two calls a group or more, counting a group that recent batches
 * had as one call more (the same groups will come again, and a merge folds
 * them into one row each), else into direct (to be upserted now: merging
 * later would not fold them). mem: NULL counts no group as seen. */
static int rollup_rows(enum rollup_kind kind, const struct ledger_batch *b, const bool *keep,
                       size_t n_keep, struct rollup_memory *mem, struct sbuf *append,
                       struct sbuf *direct, struct tally_err *err)
{
	const struct kind_def *k = &kinds[kind];
	struct groups t;

	if (groups_init(&t, n_keep) < 0) {
		groups_cleanup(&t);
		return tally_err_set(err, TALLY_ENOMEM, true, "out of memory");
	}
	for (size_t i = 0; i < b->n_calls; i++) {
		if (!keep[i])
			continue;
		const struct call_row *r = &b->calls[i];
		int64_t bucket = bucket_of(r->ev.ts_us, k->bucket_us);
		struct group *g = NULL;
		uint64_t hv =
		    key_hash(k, r, bucket) ^ ((uint64_t)kind + 1) * UINT64_C(0x9e3779b97f4a7c15);
		for (size_t h = hv & t.mask;; h = (h + 1) & t.mask) {
			if (t.slots[h] < 0) {
				t.slots[h] = (int32_t)t.n;
				g = &t.g[t.n++];
				memset(g, 0, sizeof *g);
				g->first = r;
				g->hash = hv;
				g->bucket_us = bucket;
				break;
			}
			if (key_eq(k, &t.g[t.slots[h]], r, bucket)) {
				g = &t.g[t.slots[h]];
				break;
			}
		}
		group_add(g, r);
	}
	size_t seen = 0;
	for (size_t i = 0; i < t.n; i++)
		seen += memory_seen(mem, t.g[i].hash);
	struct sbuf *s = t.n * 2 <= n_keep + seen ? append : direct;
	for (size_t i = 0; i < t.n; i++)
		group_copy_text(k, &t.g[i], s);
	groups_cleanup(&t);
	return 0;
}

/* ---- tags ------------------------------------------------------------------ */

struct tag_walk {
	struct groups *t;
	const struct call_row *r;
	int64_t hour;
};

static const char *arena_str(const struct groups *t, size_t off)
{
	return t->arena.p + off;
}

static size_t arena_put(struct groups *t, const char *s)
{
	size_t off = t->arena.len;
	sbuf_append(&t->arena, s, strlen(s) + 1);
	return off;
}

static int tag_add(const char *key, const char *value, void *arg)
{
	struct tag_walk *w = arg;
	struct groups *t = w->t;
	const struct call_event *c = &w->r->ev;
	uint64_t hv = hash_str(hash_str(HASH_SEED ^ (uint64_t)w->hour, key), value);
	hv = hash_str(hash_str(hv, c->team), c->workflow);

	for (size_t h = hv & t->mask;; h = (h + 1) & t->mask) {
		if (t->slots[h] < 0) {
			struct group *g = &t->g[t->n];
			memset(g, 0, sizeof *g);
			g->first = w->r;
			g->hash = hv;
			g->bucket_us = w->hour;
			g->tag_key = arena_put(t, key);
			g->tag_value = arena_put(t, value);
			if (t->arena.oom)
				return -1;
			t->slots[h] = (int32_t)t->n++;
			group_add(g, w->r);
			return 0;
		}
		struct group *g = &t->g[t->slots[h]];
		const struct call_event *a = &g->first->ev;
		if (g->bucket_us == w->hour && strcmp(arena_str(t, g->tag_key), key) == 0 &&
		    strcmp(arena_str(t, g->tag_value), value) == 0 &&
		    strcmp(a->team, c->team) == 0 && strcmp(a->workflow, c->workflow) == 0) {
			group_add(g, w->r);
			return 0;
		}
	}
}

/* The tag groups of the kept calls as COPY text, into append or direct as
 * in rollup_rows but decided per group: an environment or a region repeats
 * in every batch, a customer id hardly ever, a feature of a workflow in
 * every few batches (mem remembers those). */
static int tag_rows(const struct ledger_batch *b, const bool *keep, struct rollup_memory *mem,
                    struct sbuf *append, struct sbuf *direct, struct tally_err *err)
{
	struct groups t;
	size_t n_tags = 0;
	int rc = -1;

	/* Sized for every tag of every kept call: the table never rehashes. */
	for (size_t i = 0; i < b->n_calls; i++)
		if (keep[i] && b->calls[i].ev.tags[0])
			for (const char *p = b->calls[i].ev.tags; *p; p++)
				n_tags += *p == ':';
	if (groups_init(&t, n_tags + 1) < 0) {
		tally_err_set(err, TALLY_ENOMEM, true, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < b->n_calls; i++) {
		if (!keep[i] || !b->calls[i].ev.tags[0])
			continue;
		struct tag_walk w = {&t, &b->calls[i], bucket_of(b->calls[i].ev.ts_us, HOUR_US)};
		if (event_tags_each(b->calls[i].ev.tags, tag_add, &w) < 0) {
			if (t.arena.oom) {
				tally_err_set(err, TALLY_ENOMEM, true, "out of memory");
				goto out;
			}
			/* event_parse stores nothing else: a bug, said loudly; the
			 * call is stored with its tags, and `tally rollups rebuild`
			 * sums them from the calls. */
			log_error("call %s: its tags are not a flat JSON object, left out of "
			          "the tag rollup (tally rollups rebuild restores it): %.60s",
			          b->calls[i].ev.event_id, b->calls[i].ev.tags);
		}
	}
	for (size_t i = 0; i < t.n; i++) {
		const struct group *g = &t.g[i];
		const char *key = arena_str(&t, g->tag_key);
		struct sbuf *s = g->calls + memory_seen(mem, g->hash) >= 2 ? append : direct;
		char ts[40];
		sbuf_copy_text(s, key);
		sbuf_putc(s, '\t');
		time_format(g->bucket_us, ts);
		sbuf_puts(s, ts);
		sbuf_putc(s, '\t');
		sbuf_copy_text(s, g->first->ev.team);
		sbuf_putc(s, '\t');
		sbuf_copy_text(s, g->first->ev.workflow);
		sbuf_putc(s, '\t');
		sbuf_copy_text(s, arena_str(&t, g->tag_value));
		sbuf_putc(s, '\t');
		sbuf_i64(s, g->calls);
		put_tokens(s, g);
		sbuf_putc(s, '\t');
		sbuf_i128(s, g->cost);
		sbuf_putc(s, '\t');
		sbuf_i64(s, g->unpriced);
		sbuf_putc(s, '\n');
	}
	rc = 0;
out:
	groups_cleanup(&t);
	return rc;
}

/* ---- statements, the batch's rollups, the merge ------------------------------ */

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
		const struct rollup_sql *q = &kind_sql[kind_order[i]];
		if (ledger_prepare_one(lg, k->upsert, q->upsert, err) < 0 ||
		    ledger_prepare_one(lg, k->append, q->append, err) < 0 ||
		    ledger_prepare_one(lg, k->merge, q->merge, err) < 0)
			return -1;
	}
	return 0;
}

/* Each kind's rows of the kept calls into append[kind] and direct[kind]. */
static int build_all(const struct ledger_batch *b, const bool *keep, size_t n_keep,
                     struct rollup_memory *mem, struct sbuf *append, struct sbuf *direct,
                     struct tally_err *err)
{
	for (size_t i = 0; i < N_KINDS; i++) {
		enum rollup_kind kind = kind_order[i];
		sbuf_reset(&direct[kind]);
		sbuf_reset(&append[kind]);
		if ((kind == ROLLUP_TAGS ? tag_rows(b, keep, mem, &append[kind], &direct[kind], err)
		                         : rollup_rows(kind, b, keep, n_keep, mem, &append[kind],
		                                       &direct[kind], err)) < 0)
			return -1;
		if (direct[kind].oom || append[kind].oom)
			return tally_err_set(err, TALLY_ENOMEM, true,
			                     "out of memory building the rollups");
	}
	return 0;
}

void ledger_batch_seal_rollups(struct ledger_batch *b, struct rollup_memory *mem)
{
	struct tally_err err = {0};
	bool *all = malloc((b->n_calls ? b->n_calls : 1) * sizeof *all);

	b->rollups_for = 0;
	if (!all || b->n_calls == 0) {
		free(all);
		return;
	}
	for (size_t i = 0; i < b->n_calls; i++)
		all[i] = true;
	if (build_all(b, all, b->n_calls, mem, b->roll_append, b->roll_direct, &err) == 0)
		b->rollups_for = b->n_calls;
	free(all);
}

int ledger_rollups_write(struct ledger *lg, const struct ledger_batch *b, const bool *keep,
                         size_t n_keep, size_t *appended, struct tally_err *err)
{
	const struct sbuf *append = b->roll_append, *direct = b->roll_direct;

	*appended = 0;
	/* Summed ahead for every call; else (duplicates, redeliveries) now,
	 * for the kept ones. */
	if (b->rollups_for != b->n_calls || n_keep != b->n_calls) {
		if (build_all(b, keep, n_keep, NULL, lg->roll_append, lg->roll_direct, err) < 0)
			return -1;
		append = lg->roll_append;
		direct = lg->roll_direct;
	}
	for (size_t i = 0; i < N_KINDS; i++) {
		enum rollup_kind kind = kind_order[i];
		const struct kind_def *k = &kinds[kind];
		const struct sbuf *a = &append[kind], *d = &direct[kind];

		/* _pending before _merged, the lock order */
		if (a->len) {
			int rc = k->copy_pending
			             ? ledger_copy(lg, k->copy_pending, a->p, a->len, err)
			             : ledger_stage_run(lg, k->copy, a, k->append, err);
			if (rc < 0)
				return -1;
			for (size_t j = 0; j < a->len; j++)
				*appended += a->p[j] == '\n';
		}
		if (d->len && ledger_stage_run(lg, k->copy, d, k->upsert, err) < 0)
			return -1;
	}
	return ledger_run_prepared(lg, "rollup_owners", err);
}

int ledger_merge_rollups(struct ledger *lg, int64_t *merged, struct tally_err *err)
{
	int rc = 0;

	*merged = 0;
	if (ledger_prepare(lg, err) < 0 || ledger_exec(lg, "BEGIN", err) < 0)
		return -1;
	for (size_t i = 0; i < N_KINDS && rc == 0; i++) {
		PGresult *res =
		    PQexecPrepared(lg->conn, kinds[kind_order[i]].merge, 0, NULL, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			rc = ledger_fail(lg, res, "merging the rollups", err);
			break;
		}
		*merged += strtoll(PQcmdTuples(res), NULL, 10);
		PQclear(res);
	}
	return ledger_tx_end(lg, rc, err);
}
