/* router_stats.c - the router's statistics (migrations/0004_router.sql,
 * 0006_router_workflow.sql): per UTC day, task type (and workflow) and tier,
 * how many calls, what they cost, how good they were and how long they took,
 * kept in step with the calls through the router_state watermark; and their
 * sums over a period, which the live router learns from. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger_int.h"

/* A call's quality is the mean of the signals it has: the mean of its
 * feedback scores, its own quality, and its outcome's success (1 or 0).
 * A call that did not answer (status other than ok) has quality 0; a call
 * with no signal counts for cost and volume only. Cache hits are skipped:
 * the model did not answer them. */
static const char update_head[] =
    "WITH st AS (SELECT stats_through AS lo,"
    "  now() - make_interval(secs => $1::double precision) AS hi"
    "  FROM router_state WHERE id = 1 FOR UPDATE),"
    " c AS (SELECT c.ts, c.task_type, c.workflow, c.tier, c.model, c.cost_pusd, c.latency_ms,"
    "  c.status, c.quality, c.event_id, c.outcome_id FROM calls c, st"
    "  WHERE c.ingested_at > st.lo AND c.ingested_at <= st.hi AND NOT c.cache_hit),"
    " s AS (SELECT c.*, f.fb, o.success FROM c"
    "  LEFT JOIN LATERAL (SELECT avg(score)::double precision AS fb FROM feedback f"
    "   WHERE f.event_id = c.event_id) f ON true"
    "  LEFT JOIN outcomes o ON o.outcome_id = c.outcome_id),"
    " q AS (SELECT s.*, CASE WHEN s.status <> 'ok' THEN 0::double precision"
    "  ELSE (coalesce(s.fb, 0) + coalesce(s.quality, 0) + coalesce(s.success::int, 0))"
    "   / nullif((s.fb IS NOT NULL)::int + (s.quality IS NOT NULL)::int"
    "   + (s.success IS NOT NULL)::int, 0) END AS qv FROM s),"
    " agg AS (SELECT (ts AT TIME ZONE 'UTC')::date AS day, task_type, tier, count(*) AS calls,"
    "  count(cost_pusd) AS priced, coalesce(sum(cost_pusd), 0) AS cost, count(qv) AS qn,"
    "  coalesce(sum(qv), 0) AS qs, coalesce(sum(qv * qv), 0) AS qq, ARRAY[";

static const char update_tail[] =
    "]::bigint[] AS hist, mode() WITHIN GROUP (ORDER BY model) AS model"
    "  FROM q GROUP BY 1, 2, 3),"
    " up AS (INSERT INTO router_stats AS r (day, task_type, tier, calls, priced_calls,"
    "  cost_pusd, quality_n, quality_sum, quality_sumsq, latency_hist, model)"
    "  SELECT day, task_type, tier, calls, priced, cost, qn, qs, qq, hist, model FROM agg"
    "  ON CONFLICT (day, task_type, tier) DO UPDATE SET calls = r.calls + EXCLUDED.calls,"
    "  priced_calls = r.priced_calls + EXCLUDED.priced_calls,"
    "  cost_pusd = r.cost_pusd + EXCLUDED.cost_pusd,"
    "  quality_n = r.quality_n + EXCLUDED.quality_n,"
    "  quality_sum = r.quality_sum + EXCLUDED.quality_sum,"
    "  quality_sumsq = r.quality_sumsq + EXCLUDED.quality_sumsq,"
    "  latency_hist = ARRAY(SELECT a + b FROM unnest(r.latency_hist, EXCLUDED.latency_hist)"
    "   WITH ORDINALITY AS t(a, b, i) ORDER BY i),"
    "  model = CASE WHEN EXCLUDED.calls >= r.calls THEN EXCLUDED.model ELSE r.model END"
    "  RETURNING 1),"
    /* the same calls per workflow too (0006): the same watermark moves both */
    " aggw AS (SELECT (ts AT TIME ZONE 'UTC')::date AS day, task_type, workflow, tier,"
    "  count(*) AS calls, count(cost_pusd) AS priced, coalesce(sum(cost_pusd), 0) AS cost,"
    "  count(qv) AS qn, coalesce(sum(qv), 0) AS qs, coalesce(sum(qv * qv), 0) AS qq"
    "  FROM q WHERE workflow <> '' GROUP BY 1, 2, 3, 4),"
    " upw AS (INSERT INTO router_workflow_stats AS r (day, task_type, workflow, tier, calls,"
    "  priced_calls, cost_pusd, quality_n, quality_sum, quality_sumsq)"
    "  SELECT day, task_type, workflow, tier, calls, priced, cost, qn, qs, qq FROM aggw"
    "  ON CONFLICT (day, task_type, workflow, tier) DO UPDATE SET calls = r.calls + EXCLUDED.calls,"
    "  priced_calls = r.priced_calls + EXCLUDED.priced_calls,"
    "  cost_pusd = r.cost_pusd + EXCLUDED.cost_pusd,"
    "  quality_n = r.quality_n + EXCLUDED.quality_n,"
    "  quality_sum = r.quality_sum + EXCLUDED.quality_sum,"
    "  quality_sumsq = r.quality_sumsq + EXCLUDED.quality_sumsq"
    "  RETURNING 1),"
    " w AS (UPDATE router_state SET stats_through = st.hi, updated_at = now() FROM st"
    "  WHERE router_state.id = 1 AND st.hi > st.lo RETURNING 1)"
    " SELECT (SELECT count(*) FROM c), (SELECT count(*) FROM up), (SELECT count(*) FROM w),"
    " (SELECT count(*) FROM upw)";

int ledger_router_update_stats(struct ledger *lg, int64_t settle_s, const int64_t *bounds,
                               int n_bounds, int64_t *calls_read, struct tally_err *err)
{
	struct sbuf sql;
	char settle[32];
	const char *p[1] = {settle};
	PGresult *res = NULL;
	int rc;

	if (calls_read)
		*calls_read = 0;
	if (n_bounds != LEDGER_ROUTER_LAT_BUCKETS)
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "router: %d latency buckets, want %d", n_bounds,
		                     LEDGER_ROUTER_LAT_BUCKETS);
	snprintf(settle, sizeof settle, "%lld", (long long)(settle_s < 0 ? 0 : settle_s));
	sbuf_init(&sql);
	sbuf_puts(&sql, update_head);
	/* fixed integers from the caller, never user input */
	for (int b = 0; b < n_bounds; b++) {
		if (b)
			sbuf_putc(&sql, ',');
		if (b == 0)
			sbuf_printf(&sql, "count(*) FILTER (WHERE latency_ms <= %lld)",
			            (long long)bounds[0]);
		else if (b == n_bounds - 1)
			sbuf_printf(&sql, "count(*) FILTER (WHERE latency_ms > %lld)",
			            (long long)bounds[b - 1]);
		else
			sbuf_printf(
			    &sql,
			    "count(*) FILTER (WHERE latency_ms > %lld AND latency_ms <= %lld)",
			    (long long)bounds[b - 1], (long long)bounds[b]);
	}
	sbuf_puts(&sql, update_tail);
	if (sql.oom) {
		sbuf_cleanup(&sql);
		return tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
	}
	rc = ledger_exec_params(lg, sql.p, 1, p, "router statistics", &res, err);
	sbuf_cleanup(&sql);
	if (rc < 0)
		return -1;
	if (calls_read && PQntuples(res) == 1)
		*calls_read = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return 0;
}

/* Parses "{1,2,3}" into out (n slots); missing ones stay 0. */
static void parse_int_array(const char *s, int64_t *out, size_t n)
{
	size_t i = 0;
	if (*s == '{')
		s++;
	while (*s && *s != '}' && i < n) {
		char *end;
		out[i++] += strtoll(s, &end, 10);
		s = end;
		if (*s == ',')
			s++;
		else
			break;
	}
}

/* The columns of stats_sql: one row per day, task type and tier, newest
 * day first within a (task type, tier), so that its first row names the
 * cell's current model. */
enum stats_col {
	ST_TASK_TYPE,
	ST_TIER,
	ST_MODEL,
	ST_CALLS,
	ST_PRICED_CALLS,
	ST_COST,
	ST_QUALITY_N,
	ST_QUALITY_SUM,
	ST_QUALITY_SUMSQ,
	ST_LATENCY_HIST
};
static const char stats_sql[] =
    "SELECT task_type, tier, model, calls, priced_calls, cost_pusd::text, quality_n,"
    " quality_sum, quality_sumsq, latency_hist::text FROM router_stats"
    " WHERE day >= ($1::timestamptz AT TIME ZONE 'UTC')::date"
    " ORDER BY task_type, tier, day DESC";

/* Adds day row i of res to the sums *r of its (task type, tier). */
static int stats_add(const PGresult *res, int i, struct router_stat_row *r, struct tally_err *err)
{
	int64_t cost = 0;
	if (parse_i64(PQgetvalue(res, i, ST_COST), &cost) < 0 || cost > INT64_MAX - r->cost_pusd)
		return tally_err_set(err, TALLY_ERANGE, false,
		                     "router statistics: cost of %s/%s out of range",
		                     PQgetvalue(res, i, ST_TASK_TYPE), PQgetvalue(res, i, ST_TIER));
	r->calls += ledger_i64(res, i, ST_CALLS);
	r->priced_calls += ledger_i64(res, i, ST_PRICED_CALLS);
	r->cost_pusd += cost;
	r->quality_n += ledger_i64(res, i, ST_QUALITY_N);
	r->quality_sum += strtod(PQgetvalue(res, i, ST_QUALITY_SUM), NULL);
	r->quality_sumsq += strtod(PQgetvalue(res, i, ST_QUALITY_SUMSQ), NULL);
	parse_int_array(PQgetvalue(res, i, ST_LATENCY_HIST), r->latency_hist,
	                LEDGER_ROUTER_LAT_BUCKETS);
	return 0;
}

int ledger_router_load_stats(struct ledger *lg, int64_t since_us, struct router_stat_row **rows,
                             size_t *n, struct tally_err *err)
{
	char since[40];
	const char *p[1] = {since};
	PGresult *res = NULL;

	*rows = NULL;
	*n = 0;
	time_format(since_us, since);
	if (ledger_exec_params(lg, stats_sql, 1, p, "router statistics", &res, err) < 0)
		return -1;
	int nt = PQntuples(res);
	struct router_stat_row *out = calloc(nt ? (size_t)nt : 1, sizeof *out);
	size_t k = 0;
	if (!out) {
		PQclear(res);
		return tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
	}
	/* the days of a (task type, tier) are summed into one row */
	for (int i = 0; i < nt; i++) {
		struct router_stat_row *r = k ? &out[k - 1] : NULL;
		if (!r || strcmp(r->task_type, PQgetvalue(res, i, ST_TASK_TYPE)) != 0 ||
		    strcmp(r->tier, PQgetvalue(res, i, ST_TIER)) != 0) {
			r = &out[k++];
			ledger_str(res, i, ST_TASK_TYPE, r->task_type, sizeof r->task_type);
			ledger_str(res, i, ST_TIER, r->tier, sizeof r->tier);
			ledger_str(res, i, ST_MODEL, r->model, sizeof r->model);
		}
		if (stats_add(res, i, r, err) < 0) {
			PQclear(res);
			free(out);
			return -1;
		}
	}
	PQclear(res);
	*rows = out;
	*n = k;
	return 0;
}

/* The columns of workflow_stats_sql: one row per task type, workflow and
 * tier, summed over the period, of the workflows that may have a decision
 * of their own (some tier has $2 quality samples; the rest follow their
 * task type). */
enum workflow_stats_col {
	WS_TASK_TYPE,
	WS_WORKFLOW,
	WS_TIER,
	WS_CALLS,
	WS_PRICED_CALLS,
	WS_COST,
	WS_QUALITY_N,
	WS_QUALITY_SUM,
	WS_QUALITY_SUMSQ
};
static const char workflow_stats_sql[] =
    "WITH s AS (SELECT task_type, workflow, tier, sum(calls) AS calls,"
    "  sum(priced_calls) AS priced, sum(cost_pusd) AS cost, sum(quality_n) AS qn,"
    "  sum(quality_sum) AS qs, sum(quality_sumsq) AS qq FROM router_workflow_stats"
    "  WHERE day >= ($1::timestamptz AT TIME ZONE 'UTC')::date GROUP BY 1, 2, 3),"
    " k AS (SELECT DISTINCT task_type, workflow FROM s WHERE qn >= $2::bigint)"
    " SELECT s.task_type, s.workflow, s.tier, s.calls, s.priced, s.cost::text, s.qn,"
    " s.qs, s.qq FROM s JOIN k USING (task_type, workflow)"
    " ORDER BY s.task_type COLLATE \"C\", s.workflow COLLATE \"C\","
    " s.tier COLLATE \"C\"";

/* Decodes row i into *r; -1 when its cost is out of range. */
static int workflow_stats_row(const PGresult *res, int i, struct router_workflow_stat_row *r,
                              struct tally_err *err)
{
	ledger_str(res, i, WS_TASK_TYPE, r->task_type, sizeof r->task_type);
	ledger_str(res, i, WS_WORKFLOW, r->workflow, sizeof r->workflow);
	ledger_str(res, i, WS_TIER, r->tier, sizeof r->tier);
	if (parse_i64(PQgetvalue(res, i, WS_COST), &r->cost_pusd) < 0)
		return tally_err_set(err, TALLY_ERANGE, false,
		                     "router workflow statistics: cost of %s/%s/%s out of range",
		                     r->task_type, r->workflow, r->tier);
	r->calls = ledger_i64(res, i, WS_CALLS);
	r->priced_calls = ledger_i64(res, i, WS_PRICED_CALLS);
	r->quality_n = ledger_i64(res, i, WS_QUALITY_N);
	r->quality_sum = strtod(PQgetvalue(res, i, WS_QUALITY_SUM), NULL);
	r->quality_sumsq = strtod(PQgetvalue(res, i, WS_QUALITY_SUMSQ), NULL);
	return 0;
}

int ledger_router_load_workflow_stats(struct ledger *lg, int64_t since_us, int64_t min_samples,
                                      struct router_workflow_stat_row **rows, size_t *n,
                                      struct tally_err *err)
{
	char since[40], min[32];
	const char *p[2] = {since, min};
	PGresult *res = NULL;

	*rows = NULL;
	*n = 0;
	time_format(since_us, since);
	snprintf(min, sizeof min, "%lld", (long long)(min_samples < 1 ? 1 : min_samples));
	if (ledger_exec_params(lg, workflow_stats_sql, 2, p, "router workflow statistics", &res,
	                       err) < 0)
		return -1;
	int nt = PQntuples(res);
	struct router_workflow_stat_row *out = calloc(nt ? (size_t)nt : 1, sizeof *out);
	if (!out) {
		PQclear(res);
		return tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
	}
	for (int i = 0; i < nt; i++)
		if (workflow_stats_row(res, i, &out[i], err) < 0) {
			PQclear(res);
			free(out);
			return -1;
		}
	PQclear(res);
	*rows = out;
	*n = (size_t)nt;
	return 0;
}
