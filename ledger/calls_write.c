/* calls_write.c - the hot path: new calls of a batch into the ledger.
 *
 * A call as a row of COPY's binary format (formatted ahead on the thread
 * that fills the batch, ledger_batch_seal_call, or here; copy_binary.c).
 * One probe for the batch's event_ids already in the ledger, one COPY of the
 * rest straight into the calls table; which rows those are (keep) goes to the rollups of the
 * window (ledger/rollups_write.c). Duplicates within the batch are dropped
 * here (the first by position wins). */
#include "ledger_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The stored calls (event_id, ts in microseconds) that share an event_id
 * with the batch's, read by migrations/0023's tally_probe_calls: each month
 * partition for the slice of the ids (sorted by ts) whose calls lie within
 * LEDGER_DEDUPE_WINDOW_US of it; the caller keeps those within the window
 * of each call. Only those partitions are read, so a batch costs the same
 * with 2 months of history as with 24, and a batch spread over a month looks
 * an id up in one or two of them, not in all three (bench/README.md,
 * "Duplicates within a window"). */
static const char probe_calls_sql[] =
    "SELECT event_id, ts_us FROM tally_probe_calls($1, $2, $3, $4)";

static const char count_dups_sql[] =
    "UPDATE ledger_counters SET value = value + $1 WHERE name = 'duplicates'";

int ledger_calls_prepare(struct ledger *lg, struct tally_err *err)
{
	if (ledger_prepare_one(lg, "probe_calls", probe_calls_sql, err) < 0 ||
	    ledger_prepare_one(lg, "count_dups", count_dups_sql, err) < 0)
		return -1;
	return 0;
}

/* ---- a call as a COPY row ---------------------------------------------- */

/* The 35 fields of LEDGER_CALL_COLS, in COPY's binary format. */
#define CALL_FIELDS 35

void ledger_copy_call(struct sbuf *s, const struct call_row *r)
{
	const struct call_event *c = &r->ev;

	copyb_row(s, CALL_FIELDS);
	copyb_text(s, c->event_id);
	copyb_ts(s, c->ts_us);
	copyb_text(s, c->team);
	copyb_text(s, c->workflow);
	copyb_text(s, c->task_type);
	copyb_opt_text(s, c->outcome_id);
	copyb_text(s, c->provider);
	copyb_text(s, c->model);
	copyb_text(s, r->tier);
	copyb_i64(s, c->input_tokens);
	copyb_i64(s, c->output_tokens);
	copyb_i64(s, c->cache_read_tokens);
	copyb_i64(s, c->cache_write_tokens);
	copyb_i64(s, c->reasoning_tokens);
	copyb_text(s, usage_shape_name(c->usage_shape));
	copyb_bool(s, c->batch);
	copyb_bool(s, c->cache_hit);
	copyb_bool(s, c->local);
	copyb_text(s, call_status_name(c->status));
	if (c->latency_ms >= 0) /* at most a day (common/event.c): an integer */
		copyb_i32(s, (int32_t)c->latency_ms);
	else
		copyb_null(s);
	copyb_opt_text(s, c->prompt_hash);
	if (c->has_quality)
		copyb_score(s, c->quality);
	else
		copyb_null(s);
	copyb_opt_i64(s, c->has_provider_cost, c->provider_cost_pusd);
	copyb_opt_i64(s, r->priced, r->cost_pusd);
	copyb_opt_i64(s, r->price_version > 0, r->price_version);
	copyb_jsonb(s, c->tags);
	if (r->pos.partition >= 0) {
		copyb_text(s, r->pos.topic);
		copyb_i32(s, r->pos.partition);
		copyb_i64(s, r->pos.offset);
	} else {
		copyb_null(s);
		copyb_null(s);
		copyb_null(s);
	}
	copyb_opt_text(s, c->service_tier);
	copyb_opt_text(s, c->data_residency);
	copyb_opt_text(s, c->inference_geo);
	copyb_opt_text(s, c->speed);
	copyb_opt_text(s, r->unpriced_reason);
	size_t at = copyb_var_begin(s);
	copyb_var_end(s, at, !ledger_components_format(s, &r->parts));
}

/* ---- within-batch duplicates and the probe ---------------------------- */

/* Open-addressing set of row indexes keyed by a hash of the row. */
struct rowset {
	int32_t *slots; /* -1 = empty */
	size_t mask;
};

static int rowset_init(struct rowset *rs, size_t n)
{
	size_t cap = 64;
	while (cap < n * 2)
		cap *= 2;
	if (!(rs->slots = malloc(cap * sizeof *rs->slots)))
		return -1;
	memset(rs->slots, 0xff, cap * sizeof *rs->slots);
	rs->mask = cap - 1;
	return 0;
}

static uint64_t id_hash(const char *id)
{
	return hash_str(HASH_SEED, id);
}

/* Index of a row with this event_id already in the set, or -1 after adding i. */
static int32_t ids_add(struct rowset *rs, const struct ledger_batch *b, int32_t i)
{
	const char *id = b->calls[i].ev.event_id;
	for (size_t h = id_hash(id) & rs->mask;; h = (h + 1) & rs->mask) {
		if (rs->slots[h] < 0) {
			rs->slots[h] = i;
			return -1;
		}
		if (strcmp(b->calls[rs->slots[h]].ev.event_id, id) == 0)
			return rs->slots[h];
	}
}

static int32_t ids_find(const struct rowset *rs, const struct ledger_batch *b, const char *id)
{
	for (size_t h = id_hash(id) & rs->mask;; h = (h + 1) & rs->mask) {
		if (rs->slots[h] < 0)
			return -1;
		if (strcmp(b->calls[rs->slots[h]].ev.event_id, id) == 0)
			return rs->slots[h];
	}
}

struct by_ts {
	int64_t ts;
	int32_t row;
};

static int cmp_by_ts(const void *a, const void *b)
{
	const struct by_ts *x = a, *y = b;
	return (x->ts > y->ts) - (x->ts < y->ts);
}

/* The probe's parameters: the kept rows' ids sorted by ts (a[0]), and for
 * each month partition that some call's window reaches, its index (a[1])
 * and its slice of the ids, 1-based and inclusive (a[2], a[3]). */
static int probe_params(struct ledger *lg, const struct ledger_batch *b, const bool *keep,
                        size_t n_keep)
{
	const int64_t w = LEDGER_DEDUPE_WINDOW_US;
	struct sbuf *a = lg->params;
	struct by_ts *t = malloc(n_keep * sizeof *t);
	size_t n = 0, months = 0;

	if (!t)
		return -1;
	for (size_t i = 0; i < b->n_calls; i++)
		if (keep[i])
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

/* Marks (keep[i] = false) the rows whose event_id the ledger already has.
 * All parameters binary: nothing for the server to parse. */
static int probe(struct ledger *lg, const struct ledger_batch *b, const struct rowset *ids,
                 bool *keep, size_t n_keep, struct tally_err *err)
{
	if (n_keep == 0)
		return 0;
	if (probe_params(lg, b, keep, n_keep) < 0)
		return tally_err_set(err, TALLY_ENOMEM, true, "out of memory");
	PGresult *res;
	if (ledger_exec_prepared_binary(lg, "probe_calls", 4, lg->params, &res, err) < 0)
		return -1;
	/* the window of each call, not of the batch */
	for (int r = 0; r < PQntuples(res); r++) {
		int32_t i = ids_find(ids, b, PQgetvalue(res, r, 0));
		int64_t ts = strtoll(PQgetvalue(res, r, 1), NULL, 10);
		if (i >= 0 && ts >= b->calls[i].ev.ts_us - LEDGER_DEDUPE_WINDOW_US &&
		    ts <= b->calls[i].ev.ts_us + LEDGER_DEDUPE_WINDOW_US)
			keep[i] = false;
	}
	PQclear(res);
	return 0;
}

/* ---- the whole step ------------------------------------------------------- */

int ledger_write_calls(struct ledger *lg, const struct ledger_batch *b, const int64_t *stored,
                       bool *keep, struct ledger_batch_result *res, struct tally_err *err)
{
	struct sbuf *s = &lg->copybuf;
	struct rowset ids = {NULL, 0};
	size_t staged = 0, n_keep = 0;
	int rc = -1;

	if (b->n_calls == 0)
		return 0;
	memset(keep, 0, b->n_calls * sizeof *keep);
	if (rowset_init(&ids, b->n_calls) < 0) {
		tally_err_set(err, TALLY_ENOMEM, true, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < b->n_calls; i++) {
		if (ledger_batch_already_stored(b, stored, &b->calls[i].pos)) {
			res->redelivered++;
			continue;
		}
		staged++;
		if (ids_add(&ids, b, (int32_t)i) >= 0)
			continue; /* the same event_id earlier in this batch */
		keep[i] = true;
		n_keep++;
	}
	if (probe(lg, b, &ids, keep, n_keep, err) < 0)
		goto out;
	n_keep = 0;
	sbuf_reset(s);
	copyb_header(s);
	bool sealed = b->n_call_text == b->n_calls && !b->call_text.oom;
	for (size_t i = 0; i < b->n_calls; i++) {
		if (!keep[i])
			continue;
		if (!sealed) {
			ledger_copy_call(s, &b->calls[i]);
		} else {
			size_t from = i ? b->call_text_end[i - 1] : 0;
			sbuf_append(s, b->call_text.p + from, b->call_text_end[i] - from);
		}
		n_keep++;
		res->unpriced += !b->calls[i].priced;
	}
	res->calls_inserted = n_keep;
	res->duplicates = staged - n_keep;
	if (res->duplicates) {
		char n[32];
		const char *params[1] = {n};
		snprintf(n, sizeof n, "%zu", res->duplicates);
		if (ledger_exec_prepared(lg, "count_dups", 1, params, NULL, err) < 0)
			goto out;
	}
	if (n_keep == 0) {
		rc = 0;
		goto out;
	}
	copyb_trailer(s);
	if (s->oom) {
		tally_err_set(err, TALLY_ENOMEM, true, "out of memory building the batch");
		goto out;
	}
	if (ledger_copy(lg, "COPY calls (" LEDGER_CALL_COLS ") FROM STDIN (FORMAT binary)", s->p,
	                s->len, err) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		res->calls_inserted = res->duplicates = res->unpriced = 0;
	free(ids.slots);
	return rc;
}
