/* calls_write.c - the hot path: new calls of a batch into the ledger.
 *
 * One probe for the batch's event_ids already in the ledger, one COPY of the
 * rest straight into the calls table, and the rollups of exactly those rows
 * (hourly, daily, charges), aggregated here and upserted with one statement. Duplicates within
 * the batch are dropped here (the first by position wins). */
#include "ledger_int.h"

#include <stdlib.h>
#include <string.h>

static uint64_t fnv(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * UINT64_C(1099511628211);
	return (h ^ 0xff) * UINT64_C(1099511628211); /* field separator */
}

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

/* ---- within-batch duplicates and the probe ---------------------------- */

static uint64_t id_hash(const char *id)
{
	return fnv(UINT64_C(14695981039346656037), id);
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

/* Marks (keep[i] = false) the rows whose event_id the ledger already has. */
static int probe(struct ledger *lg, const struct ledger_batch *b, const struct rowset *ids,
                 bool *keep, size_t n_keep, struct tally_err *err)
{
	struct sbuf arr;
	bool first = true;
	int rc = -1;

	if (n_keep == 0)
		return 0;
	sbuf_init(&arr);
	sbuf_putc(&arr, '{');
	for (size_t i = 0; i < b->n_calls; i++) {
		if (!keep[i])
			continue;
		if (!first)
			sbuf_putc(&arr, ',');
		ledger_array_elem(&arr, b->calls[i].ev.event_id);
		first = false;
	}
	sbuf_putc(&arr, '}');
	if (arr.oom) {
		tally_err_set(err, TALLY_ENOMEM, true, "out of memory");
		goto out;
	}
	const char *params[1] = {arr.p};
	PGresult *res = PQexecPrepared(lg->conn, "probe_calls", 1, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		ledger_fail(lg, res, "looking up duplicates", err);
		goto out;
	}
	for (int r = 0; r < PQntuples(res); r++) {
		int32_t i = ids_find(ids, b, PQgetvalue(res, r, 0));
		if (i >= 0)
			keep[i] = false;
	}
	PQclear(res);
	rc = 0;
out:
	sbuf_cleanup(&arr);
	return rc;
}

/* ---- rollups ------------------------------------------------------------ */

/* Two aggregations of the kept rows: rollup_hourly's (hour, attribution,
 * tier, status) and rollup_charges' (hour, attribution), the latter with
 * the quantity, cost and list cost of every price component as the pricer
 * stored them on the calls. */
enum rollup_kind { ROLLUP_HOURLY, ROLLUP_CHARGES };

struct group {
	const struct call_row *first; /* the group's key fields */
	int64_t hour_us;
	int64_t calls, unpriced, cache_hits;
	int64_t tokens[5];
	__int128 cost;
	/* ROLLUP_CHARGES: per component */
	int64_t qty[PC_COUNT];
	__int128 part_cost[PC_COUNT], part_list[PC_COUNT];
};

static int64_t hour_of(int64_t us)
{
	const int64_t h = INT64_C(3600000000);
	return us - ((us % h) + h) % h;
}

static uint64_t group_hash(enum rollup_kind kind, const struct call_row *r, int64_t hour)
{
	const struct call_event *c = &r->ev;
	uint64_t h = UINT64_C(14695981039346656037) ^ (uint64_t)hour;
	h = fnv(h, c->team);
	h = fnv(h, c->workflow);
	h = fnv(h, c->task_type);
	h = fnv(h, c->provider);
	h = fnv(h, c->model);
	if (kind == ROLLUP_CHARGES)
		return h;
	h = fnv(h, r->tier);
	return h ^ (uint64_t)c->status;
}

static bool group_eq(enum rollup_kind kind, const struct group *g, const struct call_row *r,
                     int64_t hour)
{
	const struct call_event *a = &g->first->ev, *c = &r->ev;
	if (g->hour_us != hour || strcmp(a->team, c->team) != 0 ||
	    strcmp(a->workflow, c->workflow) != 0 || strcmp(a->task_type, c->task_type) != 0 ||
	    strcmp(a->provider, c->provider) != 0 || strcmp(a->model, c->model) != 0)
		return false;
	if (kind == ROLLUP_CHARGES)
		return true;
	return a->status == c->status && strcmp(g->first->tier, r->tier) == 0;
}

static void sbuf_i128(struct sbuf *s, __int128 v)
{
	char buf[48];
	int i = sizeof buf;
	unsigned __int128 mag = v < 0 ? -(unsigned __int128)v : (unsigned __int128)v;

	do {
		buf[--i] = (char)('0' + (int)(mag % 10));
		mag /= 10;
	} while (mag);
	if (v < 0)
		buf[--i] = '-';
	sbuf_append(s, buf + i, sizeof buf - (size_t)i);
}

static void group_add(enum rollup_kind kind, struct group *g, const struct call_row *r)
{
	const struct call_event *c = &r->ev;

	g->calls++;
	if (kind == ROLLUP_CHARGES) {
		for (int k = 0; k < PC_COUNT; k++) {
			g->qty[k] += r->parts.qty[k];
			g->part_cost[k] += r->parts.cost[k];
			g->part_list[k] += r->parts.list[k];
		}
	} else {
		g->tokens[0] += c->input_tokens;
		g->tokens[1] += c->output_tokens;
		g->tokens[2] += c->cache_read_tokens;
		g->tokens[3] += c->cache_write_tokens;
		g->tokens[4] += c->reasoning_tokens;
	}
	if (r->priced)
		g->cost += r->cost_pusd;
	else
		g->unpriced++;
	g->cache_hits += c->cache_hit;
}

static void group_copy_text(enum rollup_kind kind, const struct group *g, struct sbuf *s)
{
	const struct call_event *c = &g->first->ev;
	const char *keys[] = {c->team,
	                      c->workflow,
	                      c->task_type,
	                      c->provider,
	                      c->model,
	                      g->first->tier,
	                      call_status_name(c->status)};
	char ts[40];

	time_format(g->hour_us, ts);
	sbuf_puts(s, ts);
	for (int f = 0; f < (kind == ROLLUP_CHARGES ? 5 : 7); f++) {
		sbuf_putc(s, '\t');
		sbuf_copy_text(s, keys[f]);
	}
	sbuf_putc(s, '\t');
	sbuf_i64(s, g->calls);
	if (kind == ROLLUP_CHARGES) {
		for (int k = 0; k < PC_COUNT; k++) {
			sbuf_putc(s, '\t');
			sbuf_i64(s, g->qty[k]);
		}
		for (int k = 0; k < PC_COUNT; k++) {
			sbuf_putc(s, '\t');
			sbuf_i128(s, g->part_cost[k]);
		}
		for (int k = 0; k < PC_COUNT; k++) {
			sbuf_putc(s, '\t');
			sbuf_i128(s, g->part_list[k]);
		}
	}
	for (int t = 0; t < 5 && kind == ROLLUP_HOURLY; t++) {
		sbuf_putc(s, '\t');
		sbuf_i64(s, g->tokens[t]);
	}
	sbuf_putc(s, '\t');
	sbuf_i128(s, g->cost);
	if (kind == ROLLUP_HOURLY) {
		sbuf_putc(s, '\t');
		sbuf_i64(s, g->unpriced);
		sbuf_putc(s, '\t');
		sbuf_i64(s, g->cache_hits);
	}
	sbuf_putc(s, '\n');
}

/* Aggregates the kept rows per the kind's key into COPY text. */
static int rollup_rows(enum rollup_kind kind, const struct ledger_batch *b, const bool *keep,
                       size_t n_keep, struct sbuf *s, struct tally_err *err)
{
	struct rowset set;
	struct group *groups = calloc(n_keep ? n_keep : 1, sizeof *groups);
	size_t n_groups = 0;

	if (!groups || rowset_init(&set, n_keep) < 0) {
		free(groups);
		return tally_err_set(err, TALLY_ENOMEM, true, "out of memory");
	}
	for (size_t i = 0; i < b->n_calls; i++) {
		if (!keep[i])
			continue;
		const struct call_row *r = &b->calls[i];
		int64_t hour = hour_of(r->ev.ts_us);
		struct group *g = NULL;
		size_t h = group_hash(kind, r, hour) & set.mask;
		for (;; h = (h + 1) & set.mask) {
			if (set.slots[h] < 0) {
				set.slots[h] = (int32_t)n_groups;
				g = &groups[n_groups++];
				g->first = r;
				g->hour_us = hour;
				break;
			}
			if (group_eq(kind, &groups[set.slots[h]], r, hour)) {
				g = &groups[set.slots[h]];
				break;
			}
		}
		group_add(kind, g, r);
	}
	for (size_t k = 0; k < n_groups; k++)
		group_copy_text(kind, &groups[k], s);
	free(groups);
	free(set.slots);
	return 0;
}

/* ---- the whole step ------------------------------------------------------- */

int ledger_write_calls(struct ledger *lg, const struct ledger_batch *b, const int64_t *stored,
                       struct ledger_batch_result *res, struct tally_err *err)
{
	struct sbuf *s = &lg->copybuf;
	struct rowset ids = {NULL, 0};
	bool *keep = NULL;
	size_t staged = 0, n_keep = 0;
	int rc = -1;

	if (b->n_calls == 0)
		return 0;
	if (!(keep = calloc(b->n_calls, sizeof *keep)) || rowset_init(&ids, b->n_calls) < 0) {
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
	if (n_keep == 0) {
		rc = 0;
		goto out;
	}
	if (s->oom) {
		tally_err_set(err, TALLY_ENOMEM, true, "out of memory building the batch");
		goto out;
	}
	if (ledger_copy(lg, "COPY calls (" LEDGER_CALL_COLS ") FROM STDIN", s->p, s->len, err) < 0)
		goto out;
	/* The charges are staged first: upsert_rollup writes all three rollups
	 * in one statement (see ledger/batch.c). */
	sbuf_reset(s);
	if (rollup_rows(ROLLUP_CHARGES, b, keep, n_keep, s, err) < 0)
		goto out;
	if (s->oom) {
		tally_err_set(err, TALLY_ENOMEM, true, "out of memory building the rollups");
		goto out;
	}
	if (ledger_copy(lg, "COPY stage_charges FROM STDIN", s->p, s->len, err) < 0)
		goto out;
	sbuf_reset(s);
	if (rollup_rows(ROLLUP_HOURLY, b, keep, n_keep, s, err) < 0 ||
	    ledger_stage_run(lg, "COPY stage_rollup FROM STDIN", s, "upsert_rollup", err) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0) {
		res->calls_inserted = res->duplicates = res->unpriced = 0;
	}
	free(keep);
	free(ids.slots);
	return rc;
}
