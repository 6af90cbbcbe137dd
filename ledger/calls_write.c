/* calls_write.c - the hot path: new calls of a batch into the ledger.
 *
 * A call as a row of COPY's binary format (formatted ahead on the thread
 * that fills the batch, ledger_batch_seal_call, or here; copy_binary.c).
 * The batch's event_ids already in the ledger skipped (calls_probe.c), one
 * COPY of the rest straight into the calls table; which rows those are
 * (keep) the window remembers (calls_probe.c). Duplicates within the batch
 * (the same event_id within LEDGER_DEDUPE_WINDOW_US) are dropped here: the
 * first by position wins. */
#include "ledger_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char count_dups_sql[] =
    "UPDATE ledger_counters SET value = value + $1 WHERE name = 'duplicates'";

int ledger_calls_prepare(struct ledger *lg, struct tally_err *err)
{
	if (ledger_calls_probe_prepare(lg, err) < 0 ||
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

/* ---- the whole step ------------------------------------------------------- */

int ledger_write_calls(struct ledger *lg, const struct ledger_batch *b, const int64_t *stored,
                       bool *keep, struct ledger_batch_result *res, struct tally_err *err)
{
	struct sbuf *s = &lg->copybuf;
	struct ledger_rowset ids = {NULL, NULL, 0};
	size_t staged = 0, n_keep = 0;
	int rc = -1;

	if (b->n_calls == 0)
		return 0;
	memset(keep, 0, b->n_calls * sizeof *keep);
	if (ledger_rowset_init(&ids, b->n_calls) < 0) {
		tally_err_set(err, TALLY_ENOMEM, true, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < b->n_calls; i++) {
		if (ledger_batch_already_stored(b, stored, &b->calls[i].pos)) {
			res->redelivered++;
			continue;
		}
		staged++;
		if (ledger_rowset_add(&ids, b, (int32_t)i, true) >= 0)
			continue; /* the same call earlier in this batch */
		keep[i] = true;
		n_keep++;
	}
	if (ledger_calls_probe(lg, b, &ids, keep, n_keep, err) < 0)
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
	ledger_rowset_free(&ids);
	return rc;
}
