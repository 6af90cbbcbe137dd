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
 * with the batch's and lie within LEDGER_DEDUPE_WINDOW_US of its earliest
 * and latest ts ($2, $3), read by migrations/0020's tally_probe_calls; the
 * caller keeps those within the window of each call. Only the month partitions of that
 * window are read, so a batch costs the same with 2 months of history as
 * with 24 (bench/README.md, "Duplicates within a window"). */
static const char probe_calls_sql[] = "SELECT event_id, ts_us FROM tally_probe_calls($1, $2, $3)";

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

/* Marks (keep[i] = false) the rows whose event_id the ledger already has.
 * The ids go as a binary array, the bounds as binary timestamps: nothing
 * for the server to parse. */
static int probe(struct ledger *lg, const struct ledger_batch *b, const struct rowset *ids,
                 bool *keep, size_t n_keep, struct tally_err *err)
{
	struct sbuf *a = lg->params;

	if (n_keep == 0)
		return 0;
	int64_t lo = INT64_MAX, hi = INT64_MIN;
	copyb_array_begin(&a[0], PG_TEXT);
	for (size_t i = 0; i < b->n_calls; i++) {
		if (!keep[i])
			continue;
		lo = b->calls[i].ev.ts_us < lo ? b->calls[i].ev.ts_us : lo;
		hi = b->calls[i].ev.ts_us > hi ? b->calls[i].ev.ts_us : hi;
		copyb_text(&a[0], b->calls[i].ev.event_id);
	}
	copyb_array_end(&a[0], n_keep);
	copyb_param_ts(&a[1], lo - LEDGER_DEDUPE_WINDOW_US);
	copyb_param_ts(&a[2], hi + LEDGER_DEDUPE_WINDOW_US + 1);
	PGresult *res;
	if (ledger_exec_prepared_binary(lg, "probe_calls", 3, a, &res, err) < 0)
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
