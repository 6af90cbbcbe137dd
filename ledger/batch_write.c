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
    "CREATE TEMP TABLE IF NOT EXISTS stage_outcomes (outcome_id text, ts timestamptz,"
    " team text, workflow text, kind text, success boolean, value_pusd bigint,"
    " kafka_partition int, kafka_offset bigint, topic text, correction boolean)"
    " ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS stage_feedback (event_id text, ts timestamptz,"
    " score real, source text) ON COMMIT DELETE ROWS;"
    "CREATE TEMP TABLE IF NOT EXISTS stage_quarantine (topic text, kafka_partition int,"
    " kafka_offset bigint, reason text, raw bytea) ON COMMIT DELETE ROWS;";

/* An outcome belongs to the team of its first event (the stored one, else
 * the earliest of the batch that names a team) and never moves: an event of
 * another team for the same outcome_id is quarantined with the reason, so
 * that a guessed id cannot take over or rewrite another team's outcome. An
 * event of its team (or naming none) with a ts not earlier than the stored
 * one updates it, and so does a correction ("correction": true, which HTTP
 * ingestion lets only admin keys send) whatever its ts. The stored owner is
 * read by each staged outcome's key, an index probe each (below): as a
 * join, the planner hashed every outcome of the ledger once a batch. */
#define OUTCOME_OWNER                                                                              \
	"own AS (SELECT DISTINCT ON (s.outcome_id) s.outcome_id,"                                  \
	"  coalesce((SELECT o.team FROM outcomes o WHERE o.outcome_id = s.outcome_id), s.team)"    \
	"  AS team FROM stage_outcomes s"                                                          \
	"  ORDER BY s.outcome_id, s.team IS NULL, s.kafka_partition, s.kafka_offset),"             \
	" st AS (SELECT s.*, own.team AS owner,"                                                   \
	"  (s.team IS NOT NULL AND own.team IS NOT NULL AND s.team <> own.team) AS foreign_team"   \
	"  FROM stage_outcomes s JOIN own ON own.outcome_id = s.outcome_id)"
static const char upsert_outcomes_sql[] =
    "WITH " OUTCOME_OWNER ","
    " q AS (INSERT INTO quarantine (topic, kafka_partition, kafka_offset, reason, raw)"
    "  SELECT topic, kafka_partition, kafka_offset,"
    "  format('outcome %s belongs to team %s: an event of team %s may not change it (an"
    " outcome never moves to another team; use an outcome_id of your own)',"
    "  outcome_id, owner, team),"
    "  convert_to(json_build_object('outcome_id', outcome_id, 'ts', ts, 'team', team,"
    "  'workflow', workflow, 'kind', kind, 'success', success)::text, 'UTF8')"
    "  FROM st WHERE foreign_team ON CONFLICT DO NOTHING)"
    " INSERT INTO outcomes AS o (outcome_id, ts, team, workflow, kind, success, value_pusd)"
    " SELECT DISTINCT ON (outcome_id) outcome_id, ts, owner, workflow, kind, success,"
    "  value_pusd FROM st WHERE NOT foreign_team"
    " ORDER BY outcome_id, correction DESC, ts DESC, kafka_partition DESC, kafka_offset DESC"
    " ON CONFLICT (outcome_id) DO UPDATE SET ts = excluded.ts,"
    "  team = coalesce(o.team, excluded.team),"
    "  workflow = coalesce(excluded.workflow, o.workflow),"
    "  kind = coalesce(excluded.kind, o.kind), success = excluded.success,"
    "  value_pusd = coalesce(excluded.value_pusd, o.value_pusd), updated_at = now()"
    " WHERE excluded.ts >= o.ts OR EXISTS (SELECT 1 FROM st c"
    "  WHERE c.outcome_id = excluded.outcome_id AND c.correction AND NOT c.foreign_team)";

static const char insert_feedback_sql[] =
    "INSERT INTO feedback (event_id, ts, score, source)"
    " SELECT event_id, ts, score, source FROM stage_feedback ON CONFLICT DO NOTHING";

static const char insert_quarantine_sql[] =
    "INSERT INTO quarantine (topic, kafka_partition, kafka_offset, reason, raw)"
    " SELECT topic, kafka_partition, kafka_offset, reason, raw FROM stage_quarantine"
    " ON CONFLICT DO NOTHING";

struct stmt {
	const char *name, *sql;
};

static const struct stmt stmts[] = {
    {"ups_outcomes", upsert_outcomes_sql},
    {"ins_feedback", insert_feedback_sql},
    {"ins_quarantine", insert_quarantine_sql},
};

int ledger_prepare(struct ledger *lg, struct tally_err *err)
{
	if (lg->prepared)
		return 0;
	if (ledger_exec(lg, stage_sql, err) < 0)
		return -1;
	/* The batch's statements are small and run once a batch: compiling
	 * them (JIT, which a stale row estimate can trigger) costs more than
	 * running them. */
	if (ledger_exec(lg, "SET jit = off", err) < 0)
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

	sbuf_reset(s);
	for (size_t i = 0; i < b->n_outcomes; i++) {
		const struct outcome_row *o = &b->outcomes[i];
		if (ledger_batch_already_stored(b, stored, &o->pos)) {
			res->redelivered++;
			continue;
		}
		sbuf_copy_text(s, o->ev.outcome_id);
		sbuf_putc(s, '\t');
		ledger_copy_ts(s, o->ev.ts_us);
		sbuf_putc(s, '\t');
		ledger_copy_opt_text(s, o->ev.team);
		sbuf_putc(s, '\t');
		ledger_copy_opt_text(s, o->ev.workflow);
		sbuf_putc(s, '\t');
		ledger_copy_opt_text(s, o->ev.kind);
		sbuf_printf(s, "\t%c\t", o->ev.success ? 't' : 'f');
		if (o->ev.has_value)
			sbuf_printf(s, "%lld", (long long)o->ev.value_pusd);
		else
			sbuf_puts(s, "\\N");
		sbuf_printf(s, "\t%d\t%lld\t", o->pos.partition, (long long)o->pos.offset);
		sbuf_copy_text(s, o->pos.topic ? o->pos.topic : "http");
		sbuf_puts(s, o->ev.correction ? "\tt\n" : "\tf\n");
		res->outcomes++;
	}
	/* The stored owners by key, whatever the statistics say of an outcomes
	 * table that may have grown from nothing since they were taken: with
	 * none, the planner scanned it whole for every staged outcome. */
	if (res->outcomes && (ledger_exec(lg, "SET LOCAL enable_seqscan = off", err) < 0 ||
	                      stage_once(lg, "stage_outcomes", s, "ups_outcomes", err) < 0 ||
	                      ledger_exec(lg, "SET LOCAL enable_seqscan TO DEFAULT", err) < 0))
		return -1;

	sbuf_reset(s);
	for (size_t i = 0; i < b->n_feedback; i++) {
		const struct feedback_row *f = &b->feedback[i];
		if (ledger_batch_already_stored(b, stored, &f->pos)) {
			res->redelivered++;
			continue;
		}
		sbuf_copy_text(s, f->ev.event_id);
		sbuf_putc(s, '\t');
		ledger_copy_ts(s, f->ev.ts_us);
		sbuf_printf(s, "\t%.6f\t", f->ev.score);
		sbuf_copy_text(s, f->ev.source);
		sbuf_putc(s, '\n');
		res->feedback++;
	}
	if (res->feedback && stage_once(lg, "stage_feedback", s, "ins_feedback", err) < 0)
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
	if (b->n_calls > lg->cap_keep) {
		bool *k = realloc(lg->keep, b->n_calls * sizeof *k);
		if (!k)
			return tally_err_set(err, TALLY_ENOMEM, true, "out of memory");
		lg->keep = k;
		lg->cap_keep = b->n_calls;
	}
	if (b->n_marks > 64 && !(stored = malloc(b->n_marks * sizeof *stored)))
		return tally_err_set(err, TALLY_ENOMEM, true, "out of memory");
	if (ledger_prepare(lg, err) < 0)
		goto lost;
	if (!lg->window_open) {
		if (ledger_exec(lg, "BEGIN", err) < 0)
			goto lost;
		lg->window_open = true; /* its state was forgotten when the last one ended */
		lg->window_began_us = time_mono_us();
	}
	lg->win_src = src;
	if (ledger_exec(lg, "SAVEPOINT batch", err) < 0)
		goto lost;
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
	if (ledger_exec(lg, "RELEASE SAVEPOINT batch", err) < 0)
		goto lost;
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
