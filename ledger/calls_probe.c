/* calls_probe.c - which of a batch's calls the ledger already has: a call
 * whose event_id is stored within LEDGER_DEDUPE_WINDOW_US of its own ts is a
 * duplicate (calls_write.c skips and counts it).
 *
 * The writer looks the batch's ids up in its window's transaction
 * (ledger_calls_probe), where it sees everything: what is committed and
 * what its own open window stored. A collector takes that lookup off the
 * writer's path: the thread that filled the batch looks it up on its own
 * connection while the writer stores the previous batch
 * (ledger_probe_ahead). That connection sees only what was committed when
 * the lookup began; what the writer's own windows stored since (the window
 * still open, and any committed after the lookup began) the writer knows
 * itself: a 64-bit hash and the ts of each call its recent windows stored
 * (struct seen, kept once ledger_track_seen is called). A call whose hash
 * and ts match is looked up again in the transaction, so a hash collision
 * costs a lookup, never a call; a call that matches nothing is new. A
 * reconnection forgets what was seen (a database that crashed may have lost
 * what the asynchronous commits said was committed): a batch looked up
 * ahead before it is looked up whole in the transaction.
 *
 * Generations order the two threads: the writer's count of committed
 * windows and reconnections, read (ledger_seen_generation) before the
 * lookup ahead begins, tells which windows that lookup may not have seen. */
#include "ledger_int.h"

#include <stdlib.h>
#include <string.h>

/* The stored calls (event_id, ts in microseconds) that share an event_id
 * with the batch's, read by migrations/0023's tally_probe_calls: each month
 * partition for the slice of the ids (sorted by ts) whose calls lie within
 * LEDGER_DEDUPE_WINDOW_US of it; the caller keeps those within the window
 * of each call. Only those partitions are read, so a batch costs the same
 * with 2 months of history as with 24, and a batch spread over a month looks
 * an id up in one or two of them, not in all three (bench/README.md,
 * "Duplicates within a window"). Prepared under two names: the writer's
 * (with the window's statements) and the lookup ahead's (on its own). */
static const char probe_calls_sql[] =
    "SELECT event_id, ts_us FROM tally_probe_calls($1, $2, $3, $4)";

int ledger_calls_probe_prepare(struct ledger *lg, struct tally_err *err)
{
	return ledger_prepare_one(lg, "probe_calls", probe_calls_sql, err);
}

/* ---- a batch's rows by event_id -------------------------------------------- */

static uint64_t id_hash(const char *id)
{
	uint64_t h = hash_str(HASH_SEED, id);
	return h ? h : 1; /* 0 marks an empty slot of a seen set */
}

static bool within_window(int64_t a, int64_t b)
{
	return a >= b - LEDGER_DEDUPE_WINDOW_US && a <= b + LEDGER_DEDUPE_WINDOW_US;
}

int ledger_rowset_init(struct ledger_rowset *rs, size_t n)
{
	size_t cap = 64;
	while (cap < n * 2)
		cap *= 2;
	rs->slots = malloc(cap * sizeof *rs->slots);
	rs->next = malloc((n ? n : 1) * sizeof *rs->next);
	if (!rs->slots || !rs->next) {
		ledger_rowset_free(rs);
		return -1;
	}
	memset(rs->slots, 0xff, cap * sizeof *rs->slots);
	rs->mask = cap - 1;
	return 0;
}

void ledger_rowset_free(struct ledger_rowset *rs)
{
	free(rs->slots);
	free(rs->next);
	rs->slots = rs->next = NULL;
}

/* The first row added with this event_id (-1: none); the others follow it
 * through rs->next. */
static int32_t rowset_find(const struct ledger_rowset *rs, const struct ledger_batch *b,
                           const char *id)
{
	for (size_t h = id_hash(id) & rs->mask;; h = (h + 1) & rs->mask) {
		if (rs->slots[h] < 0)
			return -1;
		if (strcmp(b->calls[rs->slots[h]].ev.event_id, id) == 0)
			return rs->slots[h];
	}
}

int32_t ledger_rowset_add(struct ledger_rowset *rs, const struct ledger_batch *b, int32_t i,
                          bool dedupe)
{
	const struct call_event *c = &b->calls[i].ev;
	size_t h = id_hash(c->event_id) & rs->mask;

	rs->next[i] = -1;
	for (; rs->slots[h] >= 0; h = (h + 1) & rs->mask) {
		int32_t f = rs->slots[h];
		if (strcmp(b->calls[f].ev.event_id, c->event_id) != 0)
			continue;
		for (int32_t k = f; dedupe && k >= 0; k = rs->next[k])
			if (within_window(b->calls[k].ev.ts_us, c->ts_us))
				return k;
		rs->next[i] = rs->next[f];
		rs->next[f] = i;
		return -1;
	}
	rs->slots[h] = i;
	return -1;
}

/* ---- the lookup -------------------------------------------------------------- */

struct by_ts {
	int64_t ts;
	int32_t row;
};

static int cmp_by_ts(const void *a, const void *b)
{
	const struct by_ts *x = a, *y = b;
	return (x->ts > y->ts) - (x->ts < y->ts);
}

/* The lookup's parameters: the wanted rows' ids (want NULL: every row's)
 * sorted by ts (a[0]), and for
 * each month partition that some call's window reaches, its index (a[1])
 * and its slice of the ids, 1-based and inclusive (a[2], a[3]). */
static int probe_params(struct ledger *lg, const struct ledger_batch *b, const bool *want,
                        size_t n_want)
{
	const int64_t w = LEDGER_DEDUPE_WINDOW_US;
	struct sbuf *a = lg->params;
	struct by_ts *t = malloc(n_want * sizeof *t);
	size_t n = 0, months = 0;

	if (!t)
		return -1;
	for (size_t i = 0; i < b->n_calls; i++)
		if (!want || want[i])
			t[n++] = (struct by_ts){b->calls[i].ev.ts_us, (int32_t)i};
	qsort(t, n, sizeof *t, cmp_by_ts);
	copyb_array_begin(&a[0], PG_TEXT);
	for (size_t k = 0; k < n; k++)
		copyb_text(&a[0], b->calls[t[k].row].ev.event_id);
	copyb_array_end(&a[0], n);
	for (int k = 1; k < 4; k++)
		copyb_array_begin(&a[k], PG_INT4);
	size_t first = 0, last = 0; /* the month's slice: [first, last) */
	int32_t m_end = time_month_index(t[n - 1].ts + w);
	for (int32_t m = time_month_index(t[0].ts - w); m <= m_end; m++) {
		int64_t from = time_month_start_us(m), to = time_month_start_us(m + 1);
		while (first < n && t[first].ts + w < from)
			first++;
		while (last < n && t[last].ts - w < to)
			last++;
		if (first >= last)
			continue;
		copyb_i32(&a[1], m);
		copyb_i32(&a[2], (int32_t)first + 1);
		copyb_i32(&a[3], (int32_t)last);
		months++;
	}
	for (int k = 1; k < 4; k++)
		copyb_array_end(&a[k], months);
	free(t);
	return 0;
}

/* Looks up the n_want rows with want[i] (want NULL: all) with the prepared
 * statement stmt: the stored calls sharing their event_ids (event_id,
 * ts_us), into *res. All parameters binary. */
static int probe_exec(struct ledger *lg, const char *stmt, const struct ledger_batch *b,
                      const bool *want, size_t n_want, PGresult **res, struct tally_err *err)
{
	if (probe_params(lg, b, want, n_want) < 0)
		return tally_err_set(err, TALLY_ENOMEM, true, "out of memory");
	return ledger_exec_prepared_binary(lg, stmt, 4, lg->params, res, err);
}

/* The same, found[i] set for the wanted rows (found through ids) whose
 * event_id the ledger has within the window of their own ts (left alone
 * otherwise). */
static int probe(struct ledger *lg, const char *stmt, const struct ledger_batch *b,
                 const struct ledger_rowset *ids, const bool *want, size_t n_want, bool *found,
                 struct tally_err *err)
{
	PGresult *res;

	if (n_want == 0)
		return 0;
	if (probe_exec(lg, stmt, b, want, n_want, &res, err) < 0)
		return -1;
	for (int r = 0; r < PQntuples(res); r++) {
		int64_t ts = strtoll(PQgetvalue(res, r, 1), NULL, 10);
		for (int32_t i = rowset_find(ids, b, PQgetvalue(res, r, 0)); i >= 0;
		     i = ids->next[i])
			if ((!want || want[i]) && within_window(ts, b->calls[i].ev.ts_us))
				found[i] = true;
	}
	PQclear(res);
	return 0;
}

/* ---- what the writer's recent windows stored --------------------------------- */

/* One window's calls: open addressing on the id's hash (0: empty slot),
 * several entries per hash allowed (the same id far apart in time). */
struct seen_set {
	uint64_t gen; /* the generation its commit began */
	struct seen_ent {
		uint64_t h;
		int64_t ts;
	} * ents;
	size_t n, mask;
};

/* At most this many committed windows are remembered; a batch looked up
 * ahead of more commits than that is looked up whole again. */
#define SEEN_DONE_MAX 4

struct seen {
	uint64_t gen;   /* committed windows and reconnections (atomic) */
	uint64_t floor; /* a lookup ahead begun before this generation is not trusted */
	bool lossy;     /* the open window stored calls that could not be remembered */
	struct seen_set open, done[SEEN_DONE_MAX];
	size_t n_done;
};

static void set_clear(struct seen_set *s)
{
	if (s->ents)
		memset(s->ents, 0, (s->mask + 1) * sizeof *s->ents);
	s->n = 0;
}

static void set_free(struct seen_set *s)
{
	free(s->ents);
	memset(s, 0, sizeof *s);
}

static void set_put(struct seen_set *s, uint64_t h, int64_t ts)
{
	size_t k = h & s->mask;
	while (s->ents[k].h)
		k = (k + 1) & s->mask;
	s->ents[k] = (struct seen_ent){h, ts};
	s->n++;
}

static int set_reserve(struct seen_set *s, size_t more)
{
	size_t cap = s->ents ? s->mask + 1 : 0;
	if ((s->n + more) * 2 <= cap)
		return 0;
	size_t ncap = cap ? cap : 1024;
	while ((s->n + more) * 2 > ncap)
		ncap *= 2;
	struct seen_set bigger = {s->gen, calloc(ncap, sizeof *s->ents), 0, ncap - 1};
	if (!bigger.ents)
		return -1;
	for (size_t k = 0; k < cap; k++)
		if (s->ents[k].h)
			set_put(&bigger, s->ents[k].h, s->ents[k].ts);
	free(s->ents);
	*s = bigger;
	return 0;
}

static bool set_has(const struct seen_set *s, uint64_t h, int64_t ts)
{
	if (!s->n)
		return false;
	for (size_t k = h & s->mask; s->ents[k].h; k = (k + 1) & s->mask)
		if (s->ents[k].h == h && within_window(s->ents[k].ts, ts))
			return true;
	return false;
}

static void seen_bump(struct seen *s)
{
	__atomic_store_n(&s->gen, s->gen + 1, __ATOMIC_RELEASE);
}

int ledger_track_seen(struct ledger *lg)
{
	if (!lg->seen && !(lg->seen = calloc(1, sizeof *lg->seen)))
		return -1;
	return 0;
}

uint64_t ledger_seen_generation(const struct ledger *lg)
{
	return lg->seen ? __atomic_load_n(&lg->seen->gen, __ATOMIC_ACQUIRE) : 0;
}

void ledger_seen_stored(struct ledger *lg, const struct ledger_batch *b, const bool *keep)
{
	struct seen *s = lg->seen;
	size_t n = 0;

	if (!s)
		return;
	for (size_t i = 0; i < b->n_calls; i++)
		n += keep[i];
	if (set_reserve(&s->open, n) < 0) {
		/* Out of memory: no lookup ahead is trusted until the window
		 * has committed (their batches are looked up whole). */
		s->lossy = true;
		return;
	}
	for (size_t i = 0; i < b->n_calls; i++)
		if (keep[i])
			set_put(&s->open, id_hash(b->calls[i].ev.event_id), b->calls[i].ev.ts_us);
}

void ledger_seen_committed(struct ledger *lg)
{
	struct seen *s = lg->seen;

	if (!s)
		return;
	if (s->open.n) {
		if (s->n_done == SEEN_DONE_MAX) {
			/* forget the oldest; lookups begun before it committed are not trusted */
			s->floor = s->done[0].gen + 1;
			set_free(&s->done[0]);
			memmove(s->done, s->done + 1, (SEEN_DONE_MAX - 1) * sizeof *s->done);
			s->n_done--;
		}
		s->open.gen = s->gen;
		s->done[s->n_done++] = s->open;
		memset(&s->open, 0, sizeof s->open);
	}
	seen_bump(s); /* after the COMMIT returned: later lookups see the window */
	if (s->lossy) {
		s->floor = s->gen;
		s->lossy = false;
	}
}

void ledger_seen_aborted(struct ledger *lg)
{
	if (!lg->seen)
		return;
	set_clear(&lg->seen->open);
	lg->seen->lossy = false;
}

void ledger_seen_reset(struct ledger *lg)
{
	struct seen *s = lg->seen;

	if (!s)
		return;
	set_clear(&s->open);
	for (size_t k = 0; k < s->n_done; k++)
		set_free(&s->done[k]);
	s->n_done = 0;
	s->lossy = false;
	s->floor = s->gen + 1;
	seen_bump(s);
}

void ledger_seen_free(struct ledger *lg)
{
	if (!lg->seen)
		return;
	ledger_seen_reset(lg);
	set_free(&lg->seen->open);
	free(lg->seen);
	lg->seen = NULL;
}

/* Whether a window that a lookup ahead begun at generation gen may not have
 * seen stored a call with hash h near ts. */
static bool seen_since(struct seen *s, uint64_t gen, uint64_t h, int64_t ts)
{
	if (set_has(&s->open, h, ts))
		return true;
	for (size_t k = 0; k < s->n_done; k++)
		if (s->done[k].gen >= gen && set_has(&s->done[k], h, ts))
			return true;
	return false;
}

/* Forgets the committed windows a lookup begun at generation gen saw: every
 * later lookup sees them too (lookups ahead begin in the order their
 * batches are written). */
static void seen_forget_before(struct seen *s, uint64_t gen)
{
	size_t k = 0;
	while (k < s->n_done && s->done[k].gen < gen)
		set_free(&s->done[k++]);
	memmove(s->done, s->done + k, (s->n_done - k) * sizeof *s->done);
	s->n_done -= k;
}

/* ---- the lookup ahead ---------------------------------------------------------- */

int ledger_probe_ahead(struct ledger *lg, struct ledger_batch *b, uint64_t gen,
                       struct tally_err *err)
{
	struct ledger_rowset ids = {NULL, NULL, 0};
	int rc = -1;

	b->probed_ahead = false;
	if (b->n_calls == 0)
		return 0;
	if (ledger_grow_flags(&b->stored, &b->cap_stored, b->n_calls) < 0)
		return tally_err_set(err, TALLY_ENOMEM, true, "out of memory");
	memset(b->stored, 0, b->n_calls * sizeof *b->stored);
	if (!lg->ahead_prepared) {
		if (ledger_prepare_one(lg, "probe_calls_ahead", probe_calls_sql, err) < 0)
			return -1;
		lg->ahead_prepared = true;
	}
	if (ledger_rowset_init(&ids, b->n_calls) < 0) {
		tally_err_set(err, TALLY_ENOMEM, true, "out of memory");
		goto out;
	}
	/* Every row, by its own ts: which of them the writer keeps is its to
	 * say (one below the stored offset is skipped, a copy within the
	 * batch is not). */
	for (size_t i = 0; i < b->n_calls; i++)
		(void)ledger_rowset_add(&ids, b, (int32_t)i, false);
	if (probe(lg, "probe_calls_ahead", b, &ids, NULL, b->n_calls, b->stored, err) < 0)
		goto out;
	b->probed_ahead = true;
	b->probe_gen = gen;
	rc = 0;
out:
	ledger_rowset_free(&ids);
	return rc;
}

/* ---- in the writer's transaction ------------------------------------------------ */

int ledger_calls_probe(struct ledger *lg, const struct ledger_batch *b,
                       const struct ledger_rowset *ids, bool *keep, size_t n_keep,
                       struct tally_err *err)
{
	struct seen *s = lg->seen;
	bool *found = NULL, *again = NULL;
	size_t n_again = 0;
	int rc = -1;

	if (n_keep == 0)
		return 0;
	if (!(found = calloc(b->n_calls, 1)))
		return tally_err_set(err, TALLY_ENOMEM, true, "out of memory");
	if (!s || !b->probed_ahead || s->lossy || b->probe_gen < s->floor) {
		/* the whole batch, here */
		if (probe(lg, "probe_calls", b, ids, keep, n_keep, found, err) < 0)
			goto out;
	} else {
		/* what the lookup ahead found, and again what it may not have seen */
		if (!(again = calloc(b->n_calls, 1))) {
			tally_err_set(err, TALLY_ENOMEM, true, "out of memory");
			goto out;
		}
		for (size_t i = 0; i < b->n_calls; i++) {
			if (!keep[i])
				continue;
			if (b->stored[i])
				found[i] = true;
			else if (seen_since(s, b->probe_gen, id_hash(b->calls[i].ev.event_id),
			                    b->calls[i].ev.ts_us))
				again[i] = true, n_again++;
		}
		if (probe(lg, "probe_calls", b, ids, again, n_again, found, err) < 0)
			goto out;
		seen_forget_before(s, b->probe_gen);
	}
	for (size_t i = 0; i < b->n_calls; i++)
		if (found[i])
			keep[i] = false;
	rc = 0;
out:
	free(found);
	free(again);
	return rc;
}
