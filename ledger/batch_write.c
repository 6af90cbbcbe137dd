/* batch_write.c - batches of consumed messages into the ledger, in one
 * transaction with the Kafka offsets they cover: a window of batches, each
 * under a savepoint: the offsets fenced (ledger/offsets.c), the new calls
 * (ledger/calls_write.c), the outcomes, feedback and quarantined messages
 * (here), the offsets stored. The calls' transaction is queued for the
 * rollups by the ledger itself (ledger/rollups_write.c).
 * The batch itself, in memory, is ledger/batch.c. */
#include "ledger_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- statements ----------------------------------------------------------- */

static const char stage_sql[] =
    "CREATE TEMP TABLE IF NOT EXISTS stage_quarantine (topic text, kafka_partition int,"
    " kafka_offset bigint, reason text, raw bytea) ON COMMIT DELETE ROWS;";

/* The batch's outcomes, each column an array parameter in this order (the
 * element types in outcome_param_types, written by write_outcomes). */
#define OUTCOME_ROWS                                                                               \
	"unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[],"                \
	" $6::boolean[], $7::bigint[], $8::int[], $9::bigint[], $10::text[], $11::boolean[])"      \
	" AS s(outcome_id, ts, team, workflow, kind, success, value_pusd, kafka_partition,"        \
	" kafka_offset, topic, correction)"
enum {
	O_ID,
	O_TS,
	O_TEAM,
	O_WORKFLOW,
	O_KIND,
	O_SUCCESS,
	O_VALUE,
	O_PARTITION,
	O_OFFSET,
	O_TOPIC,
	O_CORRECTION,
	OUTCOME_PARAMS
};
_Static_assert(OUTCOME_PARAMS <= LEDGER_BINARY_PARAMS_MAX, "lg->params holds the outcomes' arrays");
static const enum pg_type_oid outcome_param_types[OUTCOME_PARAMS] = {
    PG_TEXT, PG_TIMESTAMPTZ, PG_TEXT, PG_TEXT, PG_TEXT, PG_BOOL,
    PG_INT8, PG_INT4,        PG_INT8, PG_TEXT, PG_BOOL};

/* An outcome belongs to the team of its first event (the stored one, else
 * the earliest of the batch that names a team) and never moves: an event of
 * another team for the same outcome_id is quarantined with the reason, so
 * that a guessed id cannot take over or rewrite another team's outcome. An
 * event of its team (or naming none) with a ts not earlier than the stored
 * one updates it, and so does a correction ("correction": true, which HTTP
 * ingestion lets only admin keys send) whatever its ts. The stored owner is
 * read by each outcome's key, an index probe each (the window's
 * transaction has sequential scans off: as a join, the planner hashed every
 * outcome of the ledger once a batch). */
#define OUTCOME_FOREIGN_QUARANTINE                                                                 \
	" INSERT INTO quarantine (topic, kafka_partition, kafka_offset, reason, raw)"              \
	"  SELECT topic, kafka_partition, kafka_offset,"                                           \
	"  format('outcome %s belongs to team %s: an event of team %s may not change it (an"       \
	" outcome never moves to another team; use an outcome_id of your own)',"                   \
	"  outcome_id, owner, team),"                                                              \
	"  convert_to(json_build_object('outcome_id', outcome_id, 'ts', ts, 'team', team,"         \
	"  'workflow', workflow, 'kind', kind, 'success', success)::text, 'UTF8')"
#define OUTCOME_UPDATE                                                                             \
	" ON CONFLICT (outcome_id) DO UPDATE SET ts = excluded.ts,"                                \
	"  team = coalesce(o.team, excluded.team),"                                                \
	"  workflow = coalesce(excluded.workflow, o.workflow),"                                    \
	"  kind = coalesce(excluded.kind, o.kind), success = excluded.success,"                    \
	"  value_pusd = coalesce(excluded.value_pusd, o.value_pusd), updated_at = now()"
/* Any batch: the owner of each outcome_id, then its last event, and for a
 * field that event leaves out the latest value its other events sent (as
 * when they come in batches of their own). */
#define OUTCOME_LATEST_FIRST "correction DESC, ts DESC, kafka_partition DESC, kafka_offset DESC"
static const char upsert_outcomes_sql[] =
    "WITH b AS (SELECT * FROM " OUTCOME_ROWS "),"
    " own AS (SELECT DISTINCT ON (b.outcome_id) b.outcome_id,"
    "  coalesce((SELECT o.team FROM outcomes o WHERE o.outcome_id = b.outcome_id), b.team)"
    "  AS team FROM b ORDER BY b.outcome_id, b.team IS NULL, b.kafka_partition, b.kafka_offset),"
    " st AS (SELECT b.*, own.team AS owner,"
    "  (b.team IS NOT NULL AND own.team IS NOT NULL AND b.team <> own.team) AS foreign_team"
    "  FROM b JOIN own ON own.outcome_id = b.outcome_id),"
    " q AS (" OUTCOME_FOREIGN_QUARANTINE " FROM st WHERE foreign_team ON CONFLICT DO NOTHING)"
    " INSERT INTO outcomes AS o (outcome_id, ts, team, workflow, kind, success, value_pusd)"
    " SELECT DISTINCT ON (outcome_id) outcome_id, ts, owner,"
    "  (array_agg(workflow) FILTER (WHERE workflow IS NOT NULL) OVER w)[1],"
    "  (array_agg(kind) FILTER (WHERE kind IS NOT NULL) OVER w)[1], success,"
    "  (array_agg(value_pusd) FILTER (WHERE value_pusd IS NOT NULL) OVER w)[1]"
    " FROM st WHERE NOT foreign_team"
    " WINDOW w AS (PARTITION BY outcome_id ORDER BY " OUTCOME_LATEST_FIRST
    "  ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)"
    " ORDER BY outcome_id, " OUTCOME_LATEST_FIRST OUTCOME_UPDATE
    " WHERE excluded.ts >= o.ts OR EXISTS (SELECT 1 FROM st c"
    "  WHERE c.outcome_id = excluded.outcome_id AND c.correction AND NOT c.foreign_team)";
/* A batch whose outcome_ids differ and that corrects none (nearly all): the
 * insert itself finds the stored owner, and only the events it neither
 * inserted nor applied (another team's, or older than the stored one) are
 * looked up, to quarantine another team's. Same rule, without the two
 * sorts and a lookup per event (bench/README.md, "Outcomes and feedback as
 * array parameters"). */
static const char upsert_outcomes_distinct_sql[] =
    "WITH b AS (SELECT * FROM " OUTCOME_ROWS "),"
    " ins AS (INSERT INTO outcomes AS o (outcome_id, ts, team, workflow, kind, success,"
    "  value_pusd) SELECT outcome_id, ts, team, workflow, kind, success, value_pusd"
    "  FROM b" OUTCOME_UPDATE
    "  WHERE (excluded.team IS NULL OR o.team IS NULL OR excluded.team = o.team)"
    "  AND excluded.ts >= o.ts RETURNING o.outcome_id),"
    " st AS (SELECT b.*,"
    "  (SELECT o.team FROM outcomes o WHERE o.outcome_id = b.outcome_id) AS owner FROM b"
    "  WHERE b.team IS NOT NULL"
    "  AND b.outcome_id NOT IN (SELECT outcome_id FROM ins))" OUTCOME_FOREIGN_QUARANTINE
    " FROM st WHERE owner <> team ON CONFLICT DO NOTHING";

/* The batch's feedback, as array parameters. */
static const char insert_feedback_sql[] =
    "INSERT INTO feedback (event_id, ts, score, source)"
    " SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::real[], $4::text[])"
    " ON CONFLICT DO NOTHING";

static const char insert_quarantine_sql[] =
    "INSERT INTO quarantine (topic, kafka_partition, kafka_offset, reason, raw)"
    " SELECT topic, kafka_partition, kafka_offset, reason, raw FROM stage_quarantine"
    " ON CONFLICT DO NOTHING";

struct stmt {
	const char *name, *sql;
};

static const struct stmt stmts[] = {
    {"ups_outcomes", upsert_outcomes_sql},
    {"ups_outcomes_distinct", upsert_outcomes_distinct_sql},
    {"ins_feedback", insert_feedback_sql},
    {"ins_quarantine", insert_quarantine_sql},
};

int ledger_prepare(struct ledger *lg, struct tally_err *err)
{
	if (lg->prepared)
		return 0;
	if (ledger_exec(lg, stage_sql, err) < 0)
		return -1;
	for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++)
		if (ledger_prepare_one(lg, stmts[i].name, stmts[i].sql, err) < 0)
			goto fail;
	if (ledger_calls_prepare(lg, err) < 0 || ledger_offsets_prepare(lg, err) < 0)
		goto fail;
	lg->prepared = true;
	return 0;
fail:
	/* so that the next try prepares them all again */
	if (lg->conn && PQstatus(lg->conn) == CONNECTION_OK)
		PQclear(PQexec(lg->conn, "DEALLOCATE ALL"));
	return -1;
}

/* ---- writing ----------------------------------------------------------------- */

/* COPYs s into the staging table, runs stmt over it and empties it: the
 * stage is the batch's, and the window's transaction goes on after it
 * (ON COMMIT DELETE ROWS would keep it until the window commits). */
static int stage_once(struct ledger *lg, const char *table, const struct sbuf *s, const char *stmt,
                      struct tally_err *err)
{
	char copy[96], empty[96];
	snprintf(copy, sizeof copy, "COPY %s FROM STDIN", table);
	snprintf(empty, sizeof empty, "DELETE FROM %s", table);
	if (ledger_stage_run(lg, copy, s, stmt, err) < 0)
		return -1;
	return ledger_exec(lg, empty, err);
}

/* Creates month partitions for the months of the batch not seen before (in
 * the open window: undone with it, when the cache forgets them too). */
static int ensure_months(struct ledger *lg, const struct ledger_batch *b, struct tally_err *err)
{
	for (size_t i = 0; i < b->n_calls; i++) {
		int32_t m = time_month_index(b->calls[i].ev.ts_us);
		bool known = false;
		for (size_t j = 0; j < lg->n_months && !known; j++)
			known = lg->months[j] == m;
		if (known)
			continue;
		char ts[40];
		const char *params[1] = {ts};
		time_format(b->calls[i].ev.ts_us, ts);
		PGresult *res = PQexecParams(lg->conn, "SELECT tally_ensure_month($1)", 1, NULL,
		                             params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			return ledger_fail(lg, res, "creating the month partition", err);
		PQclear(res);
		if (lg->n_months == LEDGER_MONTHS_CACHED)
			lg->n_months = 0;
		lg->months[lg->n_months++] = m;
	}
	return 0;
}

static int cmp_str_ptr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Whether the outcomes of ids[0..n) differ (sorts ids). */
static bool ids_distinct(const char **ids, size_t n)
{
	qsort(ids, n, sizeof *ids, cmp_str_ptr);
	for (size_t i = 1; i < n; i++)
		if (strcmp(ids[i - 1], ids[i]) == 0)
			return false;
	return true;
}

/* The batch's outcomes not stored yet, in one statement of array
 * parameters: ups_outcomes_distinct when their ids differ and none is a
 * correction, else ups_outcomes. */
static int write_outcomes(struct ledger *lg, const struct ledger_batch *b, const int64_t *stored,
                          struct ledger_batch_result *res, struct tally_err *err)
{
	struct sbuf *a = lg->params;
	const char **ids = NULL;
	bool corrects = false;
	size_t n = 0;

	if (b->n_outcomes == 0)
		return 0;
	if (!(ids = malloc(b->n_outcomes * sizeof *ids)))
		return tally_err_set(err, TALLY_ENOMEM, true, "out of memory");
	for (int k = 0; k < OUTCOME_PARAMS; k++)
		copyb_array_begin(&a[k], outcome_param_types[k]);
	for (size_t i = 0; i < b->n_outcomes; i++) {
		const struct outcome_row *o = &b->outcomes[i];
		if (ledger_batch_already_stored(b, stored, &o->pos)) {
			res->redelivered++;
			continue;
		}
		copyb_text(&a[O_ID], o->ev.outcome_id);
		copyb_ts(&a[O_TS], o->ev.ts_us);
		copyb_opt_text(&a[O_TEAM], o->ev.team);
		copyb_opt_text(&a[O_WORKFLOW], o->ev.workflow);
		copyb_opt_text(&a[O_KIND], o->ev.kind);
		copyb_bool(&a[O_SUCCESS], o->ev.success);
		copyb_opt_i64(&a[O_VALUE], o->ev.has_value, o->ev.value_pusd);
		copyb_i32(&a[O_PARTITION], o->pos.partition);
		copyb_i64(&a[O_OFFSET], o->pos.offset);
		copyb_text(&a[O_TOPIC], o->pos.topic ? o->pos.topic : "http");
		copyb_bool(&a[O_CORRECTION], o->ev.correction);
		corrects |= o->ev.correction;
		ids[n++] = o->ev.outcome_id;
	}
	int rc = 0;
	if (n) {
		for (int k = 0; k < OUTCOME_PARAMS; k++)
			copyb_array_end(&a[k], n);
		bool distinct = !corrects && ids_distinct(ids, n);
		rc = ledger_exec_prepared_binary(
		    lg, distinct ? "ups_outcomes_distinct" : "ups_outcomes", OUTCOME_PARAMS, a,
		    NULL, err);
		res->outcomes = rc == 0 ? n : 0;
	}
	free(ids);
	return rc;
}

/* The batch's feedback not stored yet, in one statement of array parameters. */
static int write_feedback(struct ledger *lg, const struct ledger_batch *b, const int64_t *stored,
                          struct ledger_batch_result *res, struct tally_err *err)
{
	/* event_id, ts, score, source: insert_feedback_sql's arrays */
	static const enum pg_type_oid types[] = {PG_TEXT, PG_TIMESTAMPTZ, PG_FLOAT4, PG_TEXT};
	const int k_n = (int)(sizeof types / sizeof types[0]);
	struct sbuf *a = lg->params;
	size_t n = 0;

	for (int k = 0; k < k_n; k++)
		copyb_array_begin(&a[k], types[k]);
	for (size_t i = 0; i < b->n_feedback; i++) {
		const struct feedback_row *f = &b->feedback[i];
		if (ledger_batch_already_stored(b, stored, &f->pos)) {
			res->redelivered++;
			continue;
		}
		copyb_text(&a[0], f->ev.event_id);
		copyb_ts(&a[1], f->ev.ts_us);
		copyb_score(&a[2], f->ev.score);
		copyb_text(&a[3], f->ev.source);
		n++;
	}
	if (n == 0)
		return 0;
	for (int k = 0; k < k_n; k++)
		copyb_array_end(&a[k], n);
	if (ledger_exec_prepared_binary(lg, "ins_feedback", k_n, a, NULL, err) < 0)
		return -1;
	res->feedback = n;
	return 0;
}

/* The transaction body; the caller begins and ends the transaction. */
static int write_batch_txn(struct ledger *lg, const struct ledger_source *src,
                           const struct ledger_batch *b, int64_t *stored,
                           struct ledger_batch_result *res, struct tally_err *err)
{
	struct sbuf *s = &lg->copybuf;
	if (ledger_offsets_fence(lg, src, b, stored, err) < 0)
		return -1;

	if (ledger_write_calls(lg, b, stored, lg->keep, res, err) < 0)
		return -1;

	if (write_outcomes(lg, b, stored, res, err) < 0 ||
	    write_feedback(lg, b, stored, res, err) < 0)
		return -1;

	sbuf_reset(s);
	for (size_t i = 0; i < b->n_quarantine; i++) {
		const struct quarantine_row *q = &b->quarantine[i];
		if (ledger_batch_already_stored(b, stored, &q->pos)) {
			res->redelivered++;
			continue;
		}
		sbuf_copy_text(s, q->pos.topic ? q->pos.topic : "http");
		if (q->pos.partition >= 0)
			sbuf_printf(s, "\t%d\t%lld\t", q->pos.partition, (long long)q->pos.offset);
		else
			sbuf_puts(s, "\t-1\t\\N\t");
		sbuf_copy_text(s, q->reason);
		sbuf_putc(s, '\t');
		sbuf_copy_bytea(s, q->raw, q->raw_len);
		sbuf_putc(s, '\n');
		res->quarantined++;
	}
	if (res->quarantined && stage_once(lg, "stage_quarantine", s, "ins_quarantine", err) < 0)
		return -1;

	return 0;
}

/* ---- the window -------------------------------------------------------------- */

void ledger_window_forget(struct ledger *lg)
{
	lg->window_open = false;
	lg->window_batches = 0;
	ledger_offsets_window_reset(lg);
}

/* Ends the open window without storing anything of it. */
void ledger_window_abort(struct ledger *lg)
{
	if (lg->window_open && ledger_ok(lg))
		PQclear(PQexec(lg->conn, "ROLLBACK"));
	lg->n_months = 0; /* partitions it created are gone with it */
	ledger_seen_aborted(lg);
	ledger_window_forget(lg);
}

size_t ledger_window_batches(const struct ledger *lg)
{
	return lg->window_open ? lg->window_batches : 0;
}

int64_t ledger_window_age_us(const struct ledger *lg)
{
	return lg->window_open ? time_mono_us() - lg->window_began_us : 0;
}

/* Undoes the batch alone (its savepoint); the window stays open. */
static int batch_undo(struct ledger *lg)
{
	lg->n_months = 0;
	ledger_offsets_unfence(lg);
	if (!ledger_ok(lg))
		return -1;
	PGresult *r = PQexec(lg->conn, "ROLLBACK TO SAVEPOINT batch");
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	return ok ? 0 : -1;
}

int ledger_window_add(struct ledger *lg, const struct ledger_source *src,
                      const struct ledger_batch *b, struct ledger_batch_result *res,
                      struct tally_err *err)
{
	int64_t stored_small[64], *stored = stored_small;
	int rc = -1;

	memset(res, 0, sizeof *res);
	if (!ledger_ok(lg)) {
		ledger_window_abort(lg);
		return tally_err_set(err, TALLY_EDB, true, "the ledger connection is down");
	}
	if (b->n_marks && (!src || !src->cluster_id || !src->cluster_id[0]))
		/* An offset that names no cluster could be mistaken for another's
		 * (not the data's fault: nothing is quarantined, the batch is held). */
		return tally_err_set(
		    err, TALLY_EKAFKA, false,
		    "offsets to store but no Kafka cluster id to store them under");
	if (ledger_grow_flags(&lg->keep, &lg->cap_keep, b->n_calls) < 0)
		return tally_err_set(err, TALLY_ENOMEM, true, "out of memory");
	if (b->n_marks > 64 && !(stored = malloc(b->n_marks * sizeof *stored)))
		return tally_err_set(err, TALLY_ENOMEM, true, "out of memory");
	if (ledger_prepare(lg, err) < 0)
		goto lost;
	if (!lg->window_open) {
		/* With sequential scans off: the window's statements read by key
		 * (offsets, the probe, outcomes' owners), whatever the statistics
		 * say of tables that may have grown from nothing since they were
		 * taken (with none, the planner scanned the outcomes whole for each
		 * staged outcome). The batch's savepoint in the same round trip. */
		if (ledger_exec(lg, "BEGIN; SET LOCAL enable_seqscan = off; SAVEPOINT batch", err) <
		    0)
			goto lost;
		lg->window_open = true; /* its state was forgotten when the last one ended */
		lg->window_began_us = time_mono_us();
	}
	/* An open window always has the savepoint "batch" set for the next
	 * batch: at BEGIN, after each batch (below), and kept by batch_undo. */
	lg->win_src = src;
	if (ensure_months(lg, b, err) < 0 || write_batch_txn(lg, src, b, stored, res, err) < 0) {
		/* the data's fault: this batch alone; else the window */
		if (!err->retriable && err->code == TALLY_EINVAL && batch_undo(lg) == 0) {
			memset(res, 0, sizeof *res);
			goto out;
		}
		goto lost;
	}
	if (ledger_offsets_note(lg, b, err) < 0)
		goto lost;
	/* and the next batch's savepoint (kept when a batch is undone) */
	if (ledger_exec(lg, "RELEASE SAVEPOINT batch; SAVEPOINT batch", err) < 0)
		goto lost;
	if (b->n_calls)
		ledger_seen_stored(lg, b, lg->keep);
	lg->window_batches++;
	rc = 0;
	goto out;
lost:
	memset(res, 0, sizeof *res);
	ledger_window_abort(lg);
out:
	if (stored != stored_small)
		free(stored);
	return rc;
}

int ledger_window_commit(struct ledger *lg, struct ledger_window_result *res, struct tally_err *err)
{
	int64_t t0 = time_mono_us();

	memset(res, 0, sizeof *res);
	if (!lg->window_open)
		return 0;
	res->batches = lg->window_batches;
	if (ledger_offsets_store(lg, lg->win_src, err) < 0 || ledger_exec(lg, "COMMIT", err) < 0) {
		ledger_window_abort(lg);
		return -1;
	}
	ledger_seen_committed(lg);
	ledger_window_forget(lg);
	res->write_us = time_mono_us() - t0;
	return 0;
}

int ledger_write_batch(struct ledger *lg, const struct ledger_source *src,
                       const struct ledger_batch *b, struct ledger_batch_result *res,
                       struct tally_err *err)
{
	struct ledger_window_result wr;

	if (lg->window_open)
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "a window is open on this connection (a bug)");
	if (ledger_window_add(lg, src, b, res, err) < 0) {
		ledger_window_abort(lg);
		return -1;
	}
	if (ledger_window_commit(lg, &wr, err) < 0) {
		memset(res, 0, sizeof *res);
		return -1;
	}
	/* Stored. The rollups: now, unless another roll is at it (then it
	 * sums these calls too); a failure leaves them queued, read exact. */
	int64_t rolled;
	struct tally_err rerr = {0};
	if (res->calls_inserted && ledger_rollups_roll(lg, false, &rolled, &rerr) < 0)
		log_warn("ledger: the rollups were not brought up to date: %s (the calls stay"
		         " queued; reports read them exactly; the next roll sums them)",
		         rerr.msg);
	return 0;
}
