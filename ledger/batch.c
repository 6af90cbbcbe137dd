/* batch.c - one batch of consumed messages into the ledger, in one
 * transaction with the Kafka offsets it covers. */
#include "ledger_int.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the batch in memory ---------------------------------------------- */

void ledger_batch_init(struct ledger_batch *b)
{
	memset(b, 0, sizeof *b);
}

void ledger_batch_reset(struct ledger_batch *b)
{
	for (size_t i = 0; i < b->n_quarantine; i++)
		free(b->quarantine[i].raw);
	b->n_calls = b->n_outcomes = b->n_feedback = b->n_quarantine = b->n_marks = 0;
	b->n_call_text = 0;
	sbuf_reset(&b->call_text);
	b->rollups_for = 0;
}

void ledger_batch_cleanup(struct ledger_batch *b)
{
	if (!b)
		return;
	ledger_batch_reset(b);
	free(b->calls);
	free(b->outcomes);
	free(b->feedback);
	free(b->quarantine);
	free(b->marks);
	free(b->call_text_end);
	sbuf_cleanup(&b->call_text);
	for (size_t k = 0; k < sizeof b->roll_append / sizeof *b->roll_append; k++) {
		sbuf_cleanup(&b->roll_append[k]);
		sbuf_cleanup(&b->roll_direct[k]);
	}
	ledger_batch_init(b);
}

size_t ledger_batch_size(const struct ledger_batch *b)
{
	return b->n_calls + b->n_outcomes + b->n_feedback + b->n_quarantine;
}

/* Grows *arr (of elements of size sz) to hold one more; returns the new
 * zeroed slot or NULL. */
static void *batch_slot_raw(void **arr, size_t *n, size_t *cap, size_t sz)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 256;
		void *p = realloc(*arr, ncap * sz);
		if (!p)
			return NULL;
		*arr = p;
		*cap = ncap;
	}
	return (char *)*arr + (*n)++ * sz;
}

static void *batch_slot(void **arr, size_t *n, size_t *cap, size_t sz)
{
	void *slot = batch_slot_raw(arr, n, cap, sz);
	if (slot)
		memset(slot, 0, sz);
	return slot;
}

struct call_row *ledger_batch_add_call(struct ledger_batch *b)
{
	return batch_slot((void **)&b->calls, &b->n_calls, &b->cap_calls, sizeof *b->calls);
}

struct call_row *ledger_batch_add_call_from(struct ledger_batch *b, const struct call_event *ev)
{
	struct call_row *row =
	    batch_slot_raw((void **)&b->calls, &b->n_calls, &b->cap_calls, sizeof *b->calls);
	if (!row)
		return NULL;
	/* Everything but the tags buffer in one copy, then only the tags used. */
	memcpy(&row->ev, ev, offsetof(struct call_event, tags));
	memcpy(row->ev.tags, ev->tags, strlen(ev->tags) + 1);
	row->pos = (struct kafka_pos){NULL, -1, 0};
	row->priced = false;
	row->cost_pusd = 0;
	row->price_version = 0;
	row->tier[0] = '\0';
	memset(&row->parts, 0, sizeof row->parts);
	row->unpriced_reason[0] = '\0';
	return row;
}

struct outcome_row *ledger_batch_add_outcome(struct ledger_batch *b)
{
	return batch_slot((void **)&b->outcomes, &b->n_outcomes, &b->cap_outcomes,
	                  sizeof *b->outcomes);
}

struct feedback_row *ledger_batch_add_feedback(struct ledger_batch *b)
{
	return batch_slot((void **)&b->feedback, &b->n_feedback, &b->cap_feedback,
	                  sizeof *b->feedback);
}

int ledger_batch_seal_call(struct ledger_batch *b)
{
	if (b->n_calls == 0 || b->n_call_text != b->n_calls - 1)
		return -1; /* only the newest call, in order */
	if (b->n_call_text == b->cap_call_text) {
		size_t cap = b->cap_call_text ? b->cap_call_text * 2 : 1024;
		size_t *p = realloc(b->call_text_end, cap * sizeof *p);
		if (!p)
			return -1;
		b->call_text_end = p;
		b->cap_call_text = cap;
	}
	ledger_copy_call(&b->call_text, &b->calls[b->n_calls - 1]);
	if (b->call_text.oom)
		return -1;
	b->call_text_end[b->n_call_text++] = b->call_text.len;
	return 0;
}

int ledger_batch_add_quarantine(struct ledger_batch *b, const struct kafka_pos *pos,
                                const char *reason, const void *raw, size_t raw_len)
{
	struct quarantine_row *q = batch_slot((void **)&b->quarantine, &b->n_quarantine,
	                                      &b->cap_quarantine, sizeof *b->quarantine);
	if (!q)
		return -1;
	q->pos = *pos;
	str_copy(q->reason, sizeof q->reason, reason);
	utf8_sanitize(q->reason); /* a cut message may end inside a character */
	q->raw = malloc(raw_len ? raw_len : 1);
	if (!q->raw) {
		b->n_quarantine--;
		return -1;
	}
	memcpy(q->raw, raw, raw_len);
	q->raw_len = raw_len;
	return 0;
}

int ledger_batch_mark(struct ledger_batch *b, const struct kafka_pos *pos)
{
	if (pos->partition < 0)
		return 0;
	/* Messages come in runs per partition: try the last mark first. */
	if (b->n_marks) {
		struct kafka_pos *m = &b->marks[b->last_mark < b->n_marks ? b->last_mark : 0];
		if (m->partition == pos->partition && m->topic == pos->topic) {
			if (pos->offset > m->offset)
				m->offset = pos->offset;
			return 0;
		}
	}
	for (size_t i = 0; i < b->n_marks; i++) {
		struct kafka_pos *m = &b->marks[i];
		if (m->partition == pos->partition &&
		    (m->topic == pos->topic || strcmp(m->topic, pos->topic) == 0)) {
			b->last_mark = i;
			if (pos->offset > m->offset)
				m->offset = pos->offset;
			return 0;
		}
	}
	struct kafka_pos *m =
	    batch_slot((void **)&b->marks, &b->n_marks, &b->cap_marks, sizeof *b->marks);
	if (!m)
		return -1;
	*m = *pos;
	b->last_mark = b->n_marks - 1;
	return 0;
}

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

/* The batch's event_ids that the ledger already holds (any month). */
static const char probe_calls_sql[] = "SELECT event_id FROM calls WHERE event_id = ANY($1::text[])";

/* An outcome belongs to the team of its first event (the stored one, else
 * the earliest of the batch that names a team) and never moves: an event of
 * another team for the same outcome_id is quarantined with the reason, so
 * that a guessed id cannot take over or rewrite another team's outcome. An
 * event of its team (or naming none) with a ts not earlier than the stored
 * one updates it, and so does a correction ("correction": true, which HTTP
 * ingestion lets only admin keys send) whatever its ts. */
#define OUTCOME_OWNER                                                                              \
	"own AS (SELECT DISTINCT ON (s.outcome_id) s.outcome_id, coalesce(o.team, s.team) AS team" \
	"  FROM stage_outcomes s LEFT JOIN outcomes o ON o.outcome_id = s.outcome_id"              \
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

static const char fence_sql[] =
    "SELECT topic, kafka_partition, next_offset FROM kafka_offsets"
    " WHERE consumer_group = $1 AND cluster_id = $2 AND (topic, kafka_partition) IN"
    " (SELECT * FROM unnest($3::text[], $4::int[]))"
    " ORDER BY topic, kafka_partition FOR UPDATE";

static const char store_offsets_sql[] =
    "INSERT INTO kafka_offsets AS k (consumer_group, cluster_id, topic, kafka_partition,"
    " next_offset)"
    " SELECT $1, $2, t, p, o FROM unnest($3::text[], $4::int[], $5::bigint[]) AS u(t, p, o)"
    " ORDER BY t, p"
    " ON CONFLICT (consumer_group, cluster_id, topic, kafka_partition) DO UPDATE"
    " SET next_offset = greatest(k.next_offset, excluded.next_offset), updated_at = now()";

static const char count_dups_sql[] =
    "UPDATE ledger_counters SET value = value + $1 WHERE name = 'duplicates'";

struct stmt {
	const char *name, *sql;
};

static const struct stmt stmts[] = {
    {"probe_calls", probe_calls_sql},
    {"ups_outcomes", upsert_outcomes_sql},
    {"ins_feedback", insert_feedback_sql},
    {"ins_quarantine", insert_quarantine_sql},
    {"fence", fence_sql},
    {"store_offsets", store_offsets_sql},
    {"count_dups", count_dups_sql},
};

int ledger_prepare_one(struct ledger *lg, const char *name, const char *sql, struct tally_err *err)
{
	PGresult *res = PQprepare(lg->conn, name, sql, 0, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		return ledger_fail(lg, res, name, err);
	PQclear(res);
	return 0;
}

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
	if (ledger_rollups_prepare(lg, err) < 0)
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

/* Creates month partitions for the months of the batch not seen before. */
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

void ledger_array_elem(struct sbuf *s, const char *v)
{
	sbuf_putc(s, '"');
	for (const char *p = v; *p; p++) {
		if (*p == '"' || *p == '\\')
			sbuf_putc(s, '\\');
		sbuf_putc(s, *p);
	}
	sbuf_putc(s, '"');
}

/* Appends a PostgreSQL array literal element, after a comma unless first. */
static void array_text(struct sbuf *s, const char *v, bool first)
{
	if (!first)
		sbuf_putc(s, ',');
	ledger_array_elem(s, v);
}

/* Stored next offsets of the batch's partitions, locked until commit so that
 * a second collector cannot store the same messages at the same time. */
static int fence(struct ledger *lg, const struct ledger_source *src, const struct ledger_batch *b,
                 int64_t *stored, struct tally_err *err)
{
	struct sbuf topics, parts;
	int rc = -1;

	for (size_t i = 0; i < b->n_marks; i++)
		stored[i] = -1;
	if (b->n_marks == 0)
		return 0;
	sbuf_init(&topics);
	sbuf_init(&parts);
	sbuf_putc(&topics, '{');
	sbuf_putc(&parts, '{');
	for (size_t i = 0; i < b->n_marks; i++) {
		array_text(&topics, b->marks[i].topic, i == 0);
		sbuf_printf(&parts, "%s%d", i ? "," : "", b->marks[i].partition);
	}
	sbuf_putc(&topics, '}');
	sbuf_putc(&parts, '}');
	if (topics.oom || parts.oom) {
		tally_err_set(err, TALLY_ENOMEM, true, "out of memory");
		goto out;
	}
	const char *params[4] = {src->group, src->cluster_id, topics.p, parts.p};
	PGresult *res = PQexecPrepared(lg->conn, "fence", 4, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		ledger_fail(lg, res, "reading stored offsets", err);
		goto out;
	}
	for (int r = 0; r < PQntuples(res); r++) {
		const char *t = PQgetvalue(res, r, 0);
		int32_t p = atoi(PQgetvalue(res, r, 1));
		int64_t off = strtoll(PQgetvalue(res, r, 2), NULL, 10);
		for (size_t i = 0; i < b->n_marks; i++)
			if (b->marks[i].partition == p && strcmp(b->marks[i].topic, t) == 0)
				stored[i] = off;
	}
	PQclear(res);
	rc = 0;
out:
	sbuf_cleanup(&topics);
	sbuf_cleanup(&parts);
	return rc;
}

/* True when pos is below the offset already stored for its partition. */
bool ledger_batch_already_stored(const struct ledger_batch *b, const int64_t *stored,
                                 const struct kafka_pos *pos)
{
	if (pos->partition < 0)
		return false;
	for (size_t i = 0; i < b->n_marks; i++)
		if (b->marks[i].partition == pos->partition &&
		    strcmp(b->marks[i].topic, pos->topic) == 0)
			return stored[i] >= 0 && pos->offset < stored[i];
	return false;
}

static void copy_ts(struct sbuf *s, int64_t us)
{
	char buf[40];
	time_format(us, buf);
	sbuf_puts(s, buf);
}

static void copy_opt_text(struct sbuf *s, const char *v)
{
	sbuf_copy_text(s, *v ? v : NULL);
}

static void copy_pos(struct sbuf *s, const struct kafka_pos *pos)
{
	if (pos->partition < 0) {
		sbuf_puts(s, "\t\\N\t\\N\t\\N");
		return;
	}
	sbuf_putc(s, '\t');
	sbuf_copy_text(s, pos->topic);
	sbuf_putc(s, '\t');
	sbuf_i64(s, pos->partition);
	sbuf_putc(s, '\t');
	sbuf_i64(s, pos->offset);
}

/* A tab, then v or \N when absent. */
static void copy_opt_i64(struct sbuf *s, bool present, int64_t v)
{
	sbuf_putc(s, '\t');
	if (present)
		sbuf_i64(s, v);
	else
		sbuf_append(s, "\\N", 2);
}

void ledger_copy_call(struct sbuf *s, const struct call_row *r)
{
	const struct call_event *c = &r->ev;

	sbuf_copy_text(s, c->event_id);
	sbuf_putc(s, '\t');
	copy_ts(s, c->ts_us);
	sbuf_putc(s, '\t');
	sbuf_copy_text(s, c->team);
	sbuf_putc(s, '\t');
	sbuf_copy_text(s, c->workflow);
	sbuf_putc(s, '\t');
	sbuf_copy_text(s, c->task_type);
	sbuf_putc(s, '\t');
	copy_opt_text(s, c->outcome_id);
	sbuf_putc(s, '\t');
	sbuf_copy_text(s, c->provider);
	sbuf_putc(s, '\t');
	sbuf_copy_text(s, c->model);
	sbuf_putc(s, '\t');
	sbuf_copy_text(s, r->tier);
	const int64_t tokens[5] = {c->input_tokens, c->output_tokens, c->cache_read_tokens,
	                           c->cache_write_tokens, c->reasoning_tokens};
	for (int i = 0; i < 5; i++)
		copy_opt_i64(s, true, tokens[i]);
	sbuf_putc(s, '\t');
	sbuf_puts(s, usage_shape_name(c->usage_shape));
	sbuf_puts(s, c->batch ? "\tt" : "\tf");
	sbuf_puts(s, c->cache_hit ? "\tt" : "\tf");
	sbuf_puts(s, c->local ? "\tt\t" : "\tf\t");
	sbuf_puts(s, call_status_name(c->status));
	copy_opt_i64(s, c->latency_ms >= 0, c->latency_ms);
	sbuf_putc(s, '\t');
	copy_opt_text(s, c->prompt_hash);
	sbuf_putc(s, '\t');
	if (c->has_quality)
		sbuf_score(s, c->quality);
	else
		sbuf_append(s, "\\N", 2);
	copy_opt_i64(s, c->has_provider_cost, c->provider_cost_pusd);
	copy_opt_i64(s, r->priced, r->cost_pusd);
	copy_opt_i64(s, r->price_version > 0, r->price_version);
	sbuf_putc(s, '\t');
	copy_opt_text(s, c->tags);
	copy_pos(s, &r->pos);
	const char *opts[] = {c->service_tier, c->data_residency, c->inference_geo, c->speed,
	                      r->unpriced_reason};
	for (size_t i = 0; i < sizeof opts / sizeof *opts; i++) {
		sbuf_putc(s, '\t');
		copy_opt_text(s, opts[i]);
	}
	sbuf_putc(s, '\t');
	ledger_copy_components(s, &r->parts);
	sbuf_putc(s, '\n');
}

static int exec_prepared(struct ledger *lg, const char *name, int n, const char *const *params,
                         PGresult **out, struct tally_err *err)
{
	PGresult *res = PQexecPrepared(lg->conn, name, n, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		return ledger_fail(lg, res, name, err);
	if (out)
		*out = res;
	else
		PQclear(res);
	return 0;
}

int ledger_run_prepared(struct ledger *lg, const char *name, struct tally_err *err)
{
	return exec_prepared(lg, name, 0, NULL, NULL, err);
}

int ledger_stage_run(struct ledger *lg, const char *copy_sql, const struct sbuf *s,
                     const char *stmt, struct tally_err *err)
{
	if (s->oom)
		return tally_err_set(err, TALLY_ENOMEM, true, "out of memory building the batch");
	if (ledger_copy(lg, copy_sql, s->p ? s->p : "", s->len, err) < 0)
		return -1;
	return exec_prepared(lg, stmt, 0, NULL, NULL, err);
}

static int store_offsets(struct ledger *lg, const struct ledger_source *src,
                         const struct ledger_batch *b, struct tally_err *err)
{
	struct sbuf t, p, o;
	int rc;

	if (b->n_marks == 0)
		return 0;
	sbuf_init(&t);
	sbuf_init(&p);
	sbuf_init(&o);
	sbuf_putc(&t, '{');
	sbuf_putc(&p, '{');
	sbuf_putc(&o, '{');
	for (size_t i = 0; i < b->n_marks; i++) {
		array_text(&t, b->marks[i].topic, i == 0);
		sbuf_printf(&p, "%s%d", i ? "," : "", b->marks[i].partition);
		sbuf_printf(&o, "%s%lld", i ? "," : "", (long long)b->marks[i].offset + 1);
	}
	sbuf_putc(&t, '}');
	sbuf_putc(&p, '}');
	sbuf_putc(&o, '}');
	const char *params[5] = {src->group, src->cluster_id, t.p, p.p, o.p};
	rc = exec_prepared(lg, "store_offsets", 5, params, NULL, err);
	sbuf_cleanup(&t);
	sbuf_cleanup(&p);
	sbuf_cleanup(&o);
	return rc;
}

/* The transaction body; the caller begins and ends the transaction. */
static int write_batch_txn(struct ledger *lg, const struct ledger_source *src,
                           const struct ledger_batch *b, int64_t *stored,
                           struct ledger_batch_result *res, struct tally_err *err)
{
	struct sbuf *s = &lg->copybuf;
	if (fence(lg, src, b, stored, err) < 0)
		return -1;

	if (ledger_write_calls(lg, b, stored, res, err) < 0)
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
		copy_ts(s, o->ev.ts_us);
		sbuf_putc(s, '\t');
		copy_opt_text(s, o->ev.team);
		sbuf_putc(s, '\t');
		copy_opt_text(s, o->ev.workflow);
		sbuf_putc(s, '\t');
		copy_opt_text(s, o->ev.kind);
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
	if (res->outcomes &&
	    ledger_stage_run(lg, "COPY stage_outcomes FROM STDIN", s, "ups_outcomes", err) < 0)
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
		copy_ts(s, f->ev.ts_us);
		sbuf_printf(s, "\t%.6f\t", f->ev.score);
		sbuf_copy_text(s, f->ev.source);
		sbuf_putc(s, '\n');
		res->feedback++;
	}
	if (res->feedback &&
	    ledger_stage_run(lg, "COPY stage_feedback FROM STDIN", s, "ins_feedback", err) < 0)
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
	if (res->quarantined &&
	    ledger_stage_run(lg, "COPY stage_quarantine FROM STDIN", s, "ins_quarantine", err) < 0)
		return -1;

	if (res->duplicates) {
		char n[32];
		const char *params[1] = {n};
		snprintf(n, sizeof n, "%zu", res->duplicates);
		if (exec_prepared(lg, "count_dups", 1, params, NULL, err) < 0)
			return -1;
	}
	return store_offsets(lg, src, b, err);
}

int ledger_write_batch(struct ledger *lg, const struct ledger_source *src,
                       const struct ledger_batch *b, struct ledger_batch_result *res,
                       struct tally_err *err)
{
	int64_t stored_small[64], *stored = stored_small;
	int rc = -1;

	memset(res, 0, sizeof *res);
	if (!ledger_ok(lg))
		return tally_err_set(err, TALLY_EDB, true, "the ledger connection is down");
	if (b->n_marks > 64 && !(stored = malloc(b->n_marks * sizeof *stored)))
		return tally_err_set(err, TALLY_ENOMEM, true, "out of memory");
	if (ledger_prepare(lg, err) < 0 || ensure_months(lg, b, err) < 0)
		goto out;
	if (ledger_exec(lg, "BEGIN", err) < 0)
		goto out;
	if (b->n_marks && (!src || !src->cluster_id || !src->cluster_id[0])) {
		/* An offset that names no cluster could be mistaken for another's
		 * (not the data's fault: nothing is quarantined, the batch is held). */
		tally_err_set(err, TALLY_EKAFKA, false,
		              "offsets to store but no Kafka cluster id to store them under");
		goto out;
	}
	if (write_batch_txn(lg, src, b, stored, res, err) < 0 ||
	    ledger_exec(lg, "COMMIT", err) < 0) {
		if (PQstatus(lg->conn) == CONNECTION_OK)
			PQclear(PQexec(lg->conn, "ROLLBACK"));
		memset(res, 0, sizeof *res);
		goto out;
	}
	rc = 0;
out:
	if (stored != stored_small)
		free(stored);
	return rc;
}

int ledger_stored_offsets(struct ledger *lg, const struct ledger_source *src,
                          const char *const *topics, const int32_t *partitions, size_t n,
                          int64_t *offsets, struct tally_err *err)
{
	const char *params[2] = {src->group, src->cluster_id};
	PGresult *res = PQexecParams(lg->conn,
	                             "SELECT topic, kafka_partition, next_offset FROM kafka_offsets"
	                             " WHERE consumer_group = $1 AND cluster_id = $2",
	                             2, NULL, params, NULL, NULL, 0);

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return ledger_fail(lg, res, "reading stored offsets", err);
	for (size_t i = 0; i < n; i++)
		offsets[i] = -1;
	for (int r = 0; r < PQntuples(res); r++) {
		const char *t = PQgetvalue(res, r, 0);
		int32_t p = atoi(PQgetvalue(res, r, 1));
		for (size_t i = 0; i < n; i++)
			if (partitions[i] == p && strcmp(topics[i], t) == 0)
				offsets[i] = strtoll(PQgetvalue(res, r, 2), NULL, 10);
	}
	PQclear(res);
	return 0;
}

int ledger_offset_reset(struct ledger *lg, const struct ledger_source *src,
                        const struct ledger_offset_reset *r, bool *applied, struct tally_err *err)
{
	char part[16], stored[24], low[24], high[24], resumed[24];
	const char *params[9] = {src->group, src->cluster_id, r->topic, part, stored, low,
	                         high,       resumed,         r->reason};
	PGresult *res;

	*applied = false;
	snprintf(part, sizeof part, "%d", (int)r->partition);
	snprintf(stored, sizeof stored, "%lld", (long long)r->stored_offset);
	snprintf(low, sizeof low, "%lld", (long long)r->low_watermark);
	snprintf(high, sizeof high, "%lld", (long long)r->high_watermark);
	snprintf(resumed, sizeof resumed, "%lld", (long long)r->resumed_at);
	/* Only if the stored offset is still the one the collector judged (or
	 * none is stored): a second collector that got there first has already
	 * recorded it. */
	res = PQexecParams(
	    lg->conn,
	    "WITH u AS (UPDATE kafka_offsets SET next_offset = $8, updated_at = now()"
	    "  WHERE consumer_group = $1 AND cluster_id = $2 AND topic = $3"
	    "  AND kafka_partition = $4 AND next_offset = $5 RETURNING 1)"
	    " INSERT INTO kafka_offset_resets (consumer_group, cluster_id, topic, kafka_partition,"
	    "  stored_offset, low_watermark, high_watermark, resumed_at, reason)"
	    " SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9"
	    " WHERE EXISTS (SELECT 1 FROM u) OR NOT EXISTS (SELECT 1 FROM kafka_offsets"
	    "  WHERE consumer_group = $1 AND cluster_id = $2 AND topic = $3"
	    "  AND kafka_partition = $4)",
	    9, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		return ledger_fail(lg, res, "recording an offset reset", err);
	*applied = strcmp(PQcmdTuples(res), "1") == 0;
	PQclear(res);
	return 0;
}
