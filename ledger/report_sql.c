/* report_sql.c - the ledger statements of the finance reports: chargeback,
 * teams and cost centres, the audit export stream, cost per outcome,
 * waste, budgets, alerts and the webhook outbox. Values travel as $n
 * parameters, never inside SQL text; money is bigint pico-USD per row and
 * numeric in sums, never float. */
#include "ledger_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ISO(col)     "to_char(" col ", 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define ISO_US(col)  "to_char(" col ", 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
#define STREAM_FETCH "2000"

/* The audit export's price_book.csv columns (reports/audit.c's header is
 * spelled from the same tables). */
#define PRICE_COLS                                                                                 \
	"price_version, provider, model, tier, " ISO_US("effective_from") PB_RATE_COLS             \
	    ", source, " ISO_US("imported_at")

/* A call works towards an outcome when it names it and is of the outcome's
 * team (or the outcome names none): outcome ids are guessable, so a call of
 * another team naming it never touches that team's cost per outcome (it is a
 * call without a known outcome instead). */
#define OUTCOME_OF_CALL(o, c)                                                                      \
	o ".outcome_id = " c ".outcome_id AND (" o ".team IS NULL OR " o ".team = " c ".team)"
/* Cost per outcome: calls in [from, to) that name an outcome, joined to it. */
#define OUTCOME_CALLS                                                                              \
	"oc AS (SELECT c.outcome_id, coalesce(o.workflow, c.workflow) AS workflow, c.tier,"        \
	" c.cost_pusd, o.success, o.outcome_id IS NOT NULL AS known, o.ts AS ots"                  \
	" FROM calls c LEFT JOIN outcomes o ON " OUTCOME_OF_CALL(                                  \
	    "o", "c") " WHERE c.ts >= $1 AND c.ts < $2 AND c.outcome_id IS NOT NULL)"

/* Whether a call or rollup row r counts towards budget bb: a team budget,
 * the team's rows; a workflow budget, the workflow's rows of the team that
 * owns it (used it first), never another team's calls naming it. */
#define BUDGET_COVERS(r)                                                                           \
	"CASE bb.scope WHEN 'team' THEN " r ".team = bb.name ELSE " r ".workflow = bb.name"        \
	" AND " r                                                                                  \
	".team = (SELECT wo.team FROM workflow_owners wo WHERE wo.workflow = bb.name) END"

static const char *const report_sql[LRS_COUNT] = {
    [LRS_TEAMS] = "SELECT t.team, t.cost_center, " ISO(
        "t.first_seen") " FROM teams t ORDER BY t.cost_center NULLS LAST, t.team",
    [LRS_AUDIT_CALLS] = "SELECT event_id, " ISO_US(
        "ts") ", team, workflow, task_type, outcome_id, provider,"
              " model, tier, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,"
              " reasoning_tokens, batch, cache_hit, local, status, latency_ms, prompt_hash,"
              " cost_pusd, price_version, provider_cost_pusd, service_tier, data_residency,"
              " inference_geo, speed, unpriced_reason" PC_CALL_CSV_COLS
              " FROM calls WHERE ts >= $1 AND ts < $2 ORDER BY ts, event_id",
    [LRS_AUDIT_PRICES] = "SELECT " PRICE_COLS " FROM price_book"
                         " WHERE effective_from < $2 AND $1::timestamptz IS NOT NULL"
                         " ORDER BY price_version",
    [LRS_AUDIT_PRICE_CHANGES] =
        "SELECT " PRICE_COLS " FROM price_book"
        " WHERE (effective_from >= $1 AND effective_from < $2)"
        " OR (imported_at >= $1 AND imported_at < $2) ORDER BY price_version",
    [LRS_AUDIT_REPRICES] =
        "SELECT id, " ISO_US("ts") ", actor, details::text FROM audit_log"
                                   " WHERE action = 'prices.reprice' AND ts >= $1 AND ts < $2"
                                   " ORDER BY chain_seq",
    [LRS_AUDIT_BUDGETS] = "SELECT id, scope, name, amount_pusd, " ISO_US("created_at") ", " ISO_US(
        "updated_at") " FROM budgets"
                      " WHERE $1::timestamptz IS NOT NULL AND $2::timestamptz IS NOT NULL"
                      " ORDER BY id",
    [LRS_AUDIT_ALERTS] =
        "SELECT id, budget_id, scope, name, to_char(period, 'YYYY-MM'), basis,"
        " threshold_pct, amount_pusd, spend_pusd, forecast_pusd, " ISO_US(
            "fired_at") " FROM budget_alerts WHERE fired_at >= $1 AND fired_at < $2 ORDER BY id",
    [LRS_AUDIT_LOG] = "SELECT chain_seq, id, (extract(epoch FROM ts) * 1000000)::bigint, " ISO_US(
        "ts") ", actor, action, details::text, prev_hash, hash"
              " FROM audit_log WHERE ts >= $1 AND ts < $2 ORDER BY chain_seq",
    /* workflow, outcomes, successes, calls, spend (failed attempts included). */
    [LRS_OUTCOMES] = "WITH " OUTCOME_CALLS " SELECT workflow, count(DISTINCT outcome_id),"
                     " count(DISTINCT outcome_id) FILTER (WHERE success), count(*),"
                     " coalesce(sum(cost_pusd), 0)::numeric(40,0)"
                     " FROM oc WHERE known GROUP BY workflow ORDER BY workflow",
    [LRS_OUTCOMES_TIERS] =
        "WITH " OUTCOME_CALLS " SELECT workflow, tier, count(*), count(DISTINCT outcome_id)"
        " FROM oc WHERE known GROUP BY workflow, tier ORDER BY 1, 2",
    [LRS_OUTCOMES_WEEKS] =
        "WITH " OUTCOME_CALLS ", w AS (SELECT * FROM oc WHERE known)"
        " SELECT workflow, to_char(date_trunc('week', ots), 'YYYY-MM-DD'),"
        " count(DISTINCT outcome_id), count(DISTINCT outcome_id) FILTER (WHERE success),"
        " coalesce(sum(cost_pusd), 0)::numeric(40,0) FROM w GROUP BY 1, 2 ORDER BY 1, 2",
    [LRS_OUTCOMES_APART] =
        "WITH " OUTCOME_CALLS " SELECT (SELECT count(*) FROM oc WHERE NOT known),"
        " (SELECT coalesce(sum(cost_pusd), 0)::numeric(40,0) FROM oc WHERE NOT known),"
        " (SELECT count(*) FROM outcomes o WHERE o.ts >= $1 AND o.ts < $2"
        "  AND NOT EXISTS (SELECT 1 FROM calls c WHERE " OUTCOME_OF_CALL("o", "c") "))",
    /* team, workflow, failed calls, failed spend, repeated calls, repeated
     * spend, cache hits, realised savings, spend, over-tier spend (NULL: no
     * policy version yet), 1 on the totals row, whether a policy exists. */
    [LRS_WASTE] = "WITH c AS (SELECT c.team, c.workflow, c.status, c.cost_pusd, c.cache_hit,"
                  " c.input_tokens, c.output_tokens, c.cache_read_tokens, c.cache_write_tokens,"
                  " c.reasoning_tokens, c.price_version, " PC_LIST_TOTAL "::numeric AS list"
                  " FROM calls c"
                  " WHERE c.ts >= $1 AND c.ts < $2 AND ($4::text IS NULL OR c.team = $4)),"
                  /* The last successful identical prompt before each call, looking back
                   * one window before the period too. */
                  " w AS (SELECT c.team, c.workflow, c.ts, c.cost_pusd, max(c.ts) FILTER (WHERE"
                  "  c.status = 'ok') OVER (PARTITION BY c.prompt_hash ORDER BY c.ts, c.event_id"
                  "  ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS last_ok"
                  "  FROM calls c WHERE c.prompt_hash IS NOT NULL AND NOT c.cache_hit"
                  "  AND c.ts >= $1::timestamptz - make_interval(secs => $3::bigint) AND c.ts < $2"
                  "  AND ($4::text IS NULL OR c.team = $4)),"
                  " r AS (SELECT team, workflow, count(*) AS rn, coalesce(sum(cost_pusd), 0) AS rs"
                  "  FROM w WHERE ts >= $1 AND last_ok >= ts - make_interval(secs => $3::bigint)"
                  "  GROUP BY 1, 2),"
                  /* What cache hits would have cost at list rates, as the
                   * pricer stored it on each call. */
                  " sav AS (SELECT c.team, c.workflow, count(*) AS n, sum(c.list) AS s"
                  "  FROM c WHERE c.cache_hit AND c.price_version IS NOT NULL GROUP BY 1, 2),"
                  " f AS (SELECT team, workflow, count(*) FILTER (WHERE status <> 'ok') AS fn,"
                  "  coalesce(sum(cost_pusd) FILTER (WHERE status <> 'ok'), 0) AS fs,"
                  "  coalesce(sum(cost_pusd), 0) AS total FROM c GROUP BY 1, 2),"
    /* Over-tier spend: the calls of the period on a tier dearer
     * per call than the tier of the policy version that judges
     * them (the one in force when each was made, or $5), less
     * what they would have cost at that tier's mean cost per
     * call; as /api/v1/routing/savings computes it per task type
     * (ledger_router_over_tier), here by team and workflow. */
    LEDGER_OVER_TIER_CTES(
        "$1", "$2",
        "$5") ","
              " ot AS (SELECT team, workflow, sum(cost - n * per_call) AS over FROM dear"
              "  WHERE ($4::text IS NULL OR team = $4) GROUP BY 1, 2),"
              " x AS (SELECT f.team, f.workflow, f.fn, f.fs, coalesce(r.rn, 0) AS rn,"
              "  coalesce(r.rs, 0) AS rs, coalesce(sav.n, 0) AS sn, coalesce(sav.s, 0) AS ss,"
              "  f.total, CASE WHEN (SELECT judges FROM judged) THEN coalesce(ot.over, 0)"
              "  END AS over FROM f LEFT JOIN r USING (team, workflow)"
              "  LEFT JOIN sav USING (team, workflow) LEFT JOIN ot USING (team, workflow))"
              /* The rows, then their exact totals (team NULL, last). */
              " SELECT team, workflow, sum(fn), sum(fs)::numeric(40,0), sum(rn),"
              " sum(rs)::numeric(40,0), sum(sn), sum(ss)::numeric(40,0),"
              " sum(total)::numeric(40,0), sum(over)::numeric(40,0), GROUPING(team),"
              " (SELECT judges FROM judged), (SELECT versions FROM judged)"
              " FROM x GROUP BY GROUPING SETS ((team, workflow), ())"
              " ORDER BY GROUPING(team), team, workflow",
    [LRS_FINANCE_SET_UP] = "SELECT EXISTS (SELECT 1 FROM teams WHERE cost_center IS NOT NULL)"
                           " OR EXISTS (SELECT 1 FROM budgets)",
    /* id, scope, name, amount, month, spend, forecast, elapsed_s, month_s,
     * basis_days, forecast_low, forecast_high; $1 at: the month holding it,
     * spend up to it. */
    [LRS_BUDGETS] =
        "WITH m0 AS (SELECT date_trunc('month', $1::timestamptz) AS m0,"
        " date_trunc('month', $1::timestamptz) + interval '1 month' AS m1,"
        " $1::timestamptz AS at),"
        " m AS (SELECT m0.*, greatest(m0.m0, date_trunc('hour', least(m0.at, m0.m1)))"
        "  AS h FROM m0),"
        /* each budget with the amount that applies to the month (none: not shown) */
        " b AS (SELECT bb.id, bb.scope, bb.name, a.amount_pusd, m.*,"
        /* spend in [m0, at): whole hours from the rollups, the hour
         * holding `at` from the calls: "as of" exact to the microsecond */
        "  (SELECT coalesce(sum(r.cost_pusd), 0) FROM rollup_hourly r"
        "  WHERE r.hour >= m.m0 AND r.hour < m.h"
        "  AND " BUDGET_COVERS(
            "r") ")"
                 "  + (SELECT coalesce(sum(c.cost_pusd), 0) FROM calls c"
                 "  WHERE c.ts >= m.h AND c.ts < least(m.at, m.m1)"
                 "  AND " BUDGET_COVERS(
                     "c") ")"
                          "  AS spend, w.nd, w.tot, w.lo, w.hi"
                          "  FROM budgets bb CROSS JOIN m CROSS JOIN LATERAL"
                          "  (SELECT x.amount_pusd FROM budget_amounts x WHERE x.budget_id = bb.id"
                          "   AND x.from_month <= (m.m0 AT TIME ZONE 'UTC')::date"
                          "   ORDER BY x.from_month DESC LIMIT 1) a"
                          /* the daily spend of the 7 whole days before the day holding
                           * `at`: its mean extends month-to-date spend to the month's
                           * end, its lowest and highest day give the band */
                          "  CROSS JOIN LATERAL (SELECT count(*) AS nd, coalesce(sum(q.s), 0) AS "
                          "tot,"
                          "   coalesce(min(q.s), 0) AS lo, coalesce(max(q.s), 0) AS hi FROM"
                          "   (SELECT sum(r.cost_pusd) AS s FROM rollup_daily r"
                          "   WHERE r.day >= date_trunc('day', least(m.at, m.m1)) - interval '7 "
                          "days'"
                          "   AND r.day < date_trunc('day', least(m.at, m.m1))"
                          "   AND " BUDGET_COVERS(
                              "r") "   GROUP BY r.day) q) w),"
                                   " f AS (SELECT b.*, greatest(extract(epoch FROM b.m1 - b.at), "
                                   "0)::numeric"
                                   "  * 1000000 AS left_us FROM b)"
                                   " SELECT b.id, b.scope, b.name, b.amount_pusd, to_char(b.m0, "
                                   "'YYYY-MM'),"
                                   " b.spend::numeric(40,0),"
                                   " CASE WHEN b.at >= b.m1 THEN b.spend WHEN b.at <= b.m0 THEN 0"
                                   "  WHEN b.nd > 0 THEN b.spend + div(b.tot * b.left_us, b.nd * "
                                   "86400000000)"
                                   "  ELSE div(b.spend * extract(epoch FROM b.m1 - b.m0) * 1000000,"
                                   "   extract(epoch FROM b.at - b.m0) * 1000000) "
                                   "END::numeric(40,0),"
                                   " extract(epoch FROM least(b.at, b.m1) - b.m0)::bigint,"
                                   " extract(epoch FROM b.m1 - b.m0)::bigint,"
                                   /* 9 basis_days (0: run rate of the month so far, no band),
                                    * 10 forecast_low, 11 forecast_high */
                                   " CASE WHEN b.at >= b.m1 THEN 0 ELSE b.nd END,"
                                   " CASE WHEN b.at >= b.m1 THEN b.spend WHEN b.nd > 0"
                                   "  THEN b.spend + div(b.lo * b.left_us, 86400000000) "
                                   "END::numeric(40,0),"
                                   " CASE WHEN b.at >= b.m1 THEN b.spend WHEN b.nd > 0"
                                   "  THEN b.spend + div(b.hi * b.left_us, 86400000000) "
                                   "END::numeric(40,0)"
                                   " FROM f b ORDER BY b.scope, b.name",
    [LRS_COST_MISMATCH] =
        "SELECT provider, model, count(*),"
        " count(*) FILTER (WHERE cost_pusd IS NULL OR abs(provider_cost_pusd - cost_pusd) > $3),"
        " count(*) FILTER (WHERE cost_pusd IS NULL),"
        " sum(provider_cost_pusd)::numeric(40,0), coalesce(sum(cost_pusd), 0)::numeric(40,0),"
        " (sum(provider_cost_pusd) - coalesce(sum(cost_pusd), 0))::numeric(40,0)"
        " FROM calls WHERE ts >= $1 AND ts < $2 AND provider_cost_pusd IS NOT NULL"
        " AND NOT cache_hit GROUP BY 1, 2"
        " ORDER BY abs(sum(provider_cost_pusd) - coalesce(sum(cost_pusd), 0)) DESC, 1, 2",
    [LRS_ALERTS] = "SELECT id, scope, name, to_char(period, 'YYYY-MM'), basis, threshold_pct,"
                   " amount_pusd, spend_pusd, forecast_pusd, " ISO(
                       "fired_at") " FROM budget_alerts"
                                   " WHERE $2::text IS NULL OR (scope = 'team' AND name = $2)"
                                   " ORDER BY id DESC LIMIT $1 OFFSET $3",
    [LRS_METRICS_SPEND] =
        "WITH s AS (SELECT team, provider, model, tier, sum(calls) AS calls,"
        " sum(input_tokens) AS i, sum(output_tokens) AS o, sum(cache_read_tokens) AS cr,"
        " sum(cache_write_tokens) AS cw, sum(reasoning_tokens) AS r, sum(cost_pusd) AS cost"
        " FROM rollup_daily GROUP BY 1, 2, 3, 4),"
        " k AS (SELECT s.*, row_number() OVER (ORDER BY cost DESC, calls DESC, team, provider,"
        "  model, tier) < $1::int AS keep FROM s)"
        " SELECT CASE WHEN keep THEN team ELSE '_other' END,"
        " CASE WHEN keep THEN provider ELSE '_other' END,"
        " CASE WHEN keep THEN model ELSE '_other' END,"
        " CASE WHEN keep THEN tier ELSE '_other' END,"
        " sum(calls)::numeric(40,0), sum(i)::numeric(40,0), sum(o)::numeric(40,0),"
        " sum(cr)::numeric(40,0), sum(cw)::numeric(40,0), sum(r)::numeric(40,0),"
        " sum(cost)::numeric(40,0) FROM k GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
};

/* ---- tables and streams ------------------------------------------------------ */

const char *ledger_cell(const struct ledger_table *t, int r, int c)
{
	const char *v = t->cells[r * t->cols + c];
	return v ? v : "";
}

bool ledger_cell_null(const struct ledger_table *t, int r, int c)
{
	return t->cells[r * t->cols + c] == NULL;
}

void ledger_table_cleanup(struct ledger_table *t)
{
	if (!t || !t->cells)
		return;
	for (int i = 0; i < t->rows * t->cols; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->rows = t->cols = 0;
}

static int table_from(PGresult *res, struct ledger_table *out, struct tally_err *err)
{
	int rows = PQntuples(res), cols = PQnfields(res);

	out->rows = 0;
	out->cols = cols;
	if (rows * cols > 0 && !(out->cells = calloc((size_t)rows * (size_t)cols, sizeof(char *))))
		return tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
	out->rows = rows;
	for (int r = 0; r < rows; r++)
		for (int c = 0; c < cols; c++) {
			if (PQgetisnull(res, r, c))
				continue;
			if (!(out->cells[r * cols + c] = strdup(PQgetvalue(res, r, c))))
				return tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
		}
	return 0;
}

int ledger_report_query(struct ledger *lg, int which, const char *const *params, int n,
                        struct ledger_table *out, struct tally_err *err)
{
	memset(out, 0, sizeof *out);
	if (which < 0 || which >= LRS_COUNT)
		return tally_err_set(err, TALLY_EINVAL, false, "unknown report statement");
	PGresult *res = PQexecParams(lg->conn, report_sql[which], n, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return ledger_fail(lg, res, "report", err);
	int rc = table_from(res, out, err);
	PQclear(res);
	if (rc < 0)
		ledger_table_cleanup(out);
	return rc;
}

int ledger_snapshot_begin(struct ledger *lg, struct tally_err *err)
{
	return ledger_exec(lg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err);
}

void ledger_snapshot_end(struct ledger *lg)
{
	PQclear(PQexec(lg->conn, "ROLLBACK"));
}

int ledger_report_stream(struct ledger *lg, int which, const char *const *params, int n,
                         ledger_row_fn fn, void *ctx, struct tally_err *err)
{
	bool own = PQtransactionStatus(lg->conn) == PQTRANS_IDLE;
	const char **vals = NULL; /* as many as the widest row (price_book: ~250) */
	int cap = 0;
	char sql[16384];
	PGresult *res = NULL;
	int rc = -1;

	if (which < 0 || which >= LRS_COUNT)
		return tally_err_set(err, TALLY_EINVAL, false, "unknown report statement");
	if (own && ledger_snapshot_begin(lg, err) < 0)
		return -1;
	if (snprintf(sql, sizeof sql, "DECLARE tally_stream NO SCROLL CURSOR FOR %s",
	             report_sql[which]) >= (int)sizeof sql) {
		tally_err_set(err, TALLY_EINVAL, false, "report statement too long");
		goto out;
	}
	res = PQexecParams(lg->conn, sql, n, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		ledger_fail(lg, res, "report stream", err);
		res = NULL;
		goto out;
	}
	PQclear(res);
	for (;;) {
		res = PQexec(lg->conn, "FETCH FORWARD " STREAM_FETCH " FROM tally_stream");
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			ledger_fail(lg, res, "report stream", err);
			res = NULL;
			goto out;
		}
		int rows = PQntuples(res), cols = PQnfields(res);
		if (cols > cap) {
			const char **nv = realloc(vals, (size_t)cols * sizeof *nv);
			if (!nv) {
				tally_err_set(err, TALLY_ENOMEM, true, "out of memory");
				goto out;
			}
			vals = nv;
			cap = cols;
		}
		for (int r = 0; r < rows; r++) {
			for (int c = 0; c < cols; c++)
				vals[c] = PQgetisnull(res, r, c) ? NULL : PQgetvalue(res, r, c);
			if (fn(ctx, cols, vals, err) != 0) {
				tally_err_set(err, TALLY_EIO, false, "report stream stopped");
				goto out;
			}
		}
		PQclear(res);
		res = NULL;
		if (rows == 0)
			break;
	}
	PQclear(PQexec(lg->conn, "CLOSE tally_stream"));
	rc = 0;
out:
	PQclear(res);
	free(vals);
	/* On error inside the caller's transaction, the caller ends it. */
	if (own)
		ledger_snapshot_end(lg);
	return rc;
}

/* ---- chargeback ------------------------------------------------------------------- */

/* Largest remainder, twice: the unassigned spend U over the assigned teams
 * (weights: their spend, or 1 each), then each team's final cost as
 * millionths of the total. div/mod on numeric are exact integer operations. */
static const char chargeback_sql[] =
    "WITH t AS (SELECT r.team, tm.cost_center, sum(r.calls)::bigint AS calls,"
    " sum(r.input_tokens) AS it, sum(r.output_tokens) AS ot,"
    " coalesce(sum(r.cost_pusd), 0) AS cost"
    " FROM rollup_daily r LEFT JOIN teams tm ON tm.team = r.team"
    " WHERE r.day >= $1 AND r.day < $2 GROUP BY r.team, tm.cost_center),"
    " a AS (SELECT coalesce(sum(cost) FILTER (WHERE cost_center IS NULL), 0) AS u,"
    "  coalesce(sum(cost) FILTER (WHERE cost_center IS NOT NULL), 0) AS w,"
    "  count(*) FILTER (WHERE cost_center IS NOT NULL) AS n,"
    "  coalesce(sum(cost), 0) AS total FROM t),"
    " m AS (SELECT CASE WHEN $3 = 'none' OR a.n = 0 OR a.u = 0 THEN 'none'"
    "  WHEN $3 = 'proportional' AND a.w > 0 THEN 'proportional' ELSE 'even' END AS how"
    "  FROM a),"
    " s AS (SELECT t.*, CASE WHEN t.cost_center IS NULL OR m.how = 'none' THEN 0"
    "  WHEN m.how = 'proportional' THEN t.cost ELSE 1 END AS wt FROM t, m),"
    " sw AS (SELECT coalesce(sum(wt), 0) AS wsum FROM s),"
    " b AS (SELECT s.*,"
    "  CASE WHEN sw.wsum > 0 THEN div(a.u * s.wt, sw.wsum) ELSE 0 END AS base,"
    "  CASE WHEN sw.wsum > 0 THEN mod(a.u * s.wt, sw.wsum) ELSE 0 END AS rem"
    "  FROM s, sw, a),"
    " bl AS (SELECT b.*, row_number() OVER (ORDER BY (b.wt > 0) DESC, b.rem DESC,"
    "  b.cost_center, b.team) AS rk, (SELECT u FROM a) - sum(b.base) OVER () AS left_over"
    "  FROM b),"
    " f AS (SELECT bl.*, CASE WHEN m.how = 'none' THEN 0"
    "  WHEN bl.cost_center IS NULL THEN -bl.cost"
    "  ELSE bl.base + (bl.rk <= bl.left_over)::int END AS shared FROM bl, m),"
    " g AS (SELECT f.*, f.cost + f.shared AS final,"
    "  CASE WHEN a.total > 0 THEN div((f.cost + f.shared) * 1000000, a.total) ELSE 0 END AS pb,"
    "  CASE WHEN a.total > 0 THEN mod((f.cost + f.shared) * 1000000, a.total) ELSE 0 END AS pr"
    "  FROM f, a),"
    " h AS (SELECT g.*, row_number() OVER (ORDER BY g.pr DESC, g.cost_center, g.team) AS prk,"
    "  CASE WHEN (SELECT total FROM a) > 0 THEN 1000000 - sum(g.pb) OVER () ELSE 0 END"
    "  AS pleft FROM g)"
    " SELECT h.cost_center, h.team, h.calls, h.it, h.ot, h.cost::numeric(40,0),"
    " h.shared::numeric(40,0), h.final::numeric(40,0), h.pb + (h.prk <= h.pleft)::int,"
    " (SELECT how FROM m), (SELECT u FROM a)::numeric(40,0), (SELECT total FROM a)::numeric(40,0)"
    " FROM h ORDER BY h.cost_center NULLS LAST, h.team";

static int64_t i64_of(const char *s)
{
	return strtoll(s, NULL, 10);
}

int ledger_chargeback(struct ledger *lg, int64_t from_us, int64_t to_us, const char *share,
                      struct chargeback_result *out, struct tally_err *err)
{
	char from[40], to[40];

	memset(out, 0, sizeof *out);
	str_copy(out->total_pusd, sizeof out->total_pusd, "0");
	str_copy(out->unassigned_pusd, sizeof out->unassigned_pusd, "0");
	str_copy(out->method, sizeof out->method, "none");
	if (strcmp(share, "none") != 0 && strcmp(share, "proportional") != 0 &&
	    strcmp(share, "even") != 0)
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "share-unassigned must be none, proportional or even");
	time_format(from_us, from);
	time_format(to_us, to);
	const char *params[3] = {from, to, share};
	PGresult *res = PQexecParams(lg->conn, chargeback_sql, 3, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return ledger_fail(lg, res, "chargeback", err);
	int n = PQntuples(res);
	if (n > 0 && !(out->rows = calloc((size_t)n, sizeof *out->rows))) {
		PQclear(res);
		return tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
	}
	for (int r = 0; r < n; r++) {
		struct chargeback_row *row = &out->rows[out->n++];
		row->unassigned = PQgetisnull(res, r, 0);
		str_copy(row->cost_center, sizeof row->cost_center, PQgetvalue(res, r, 0));
		str_copy(row->team, sizeof row->team, PQgetvalue(res, r, 1));
		row->calls = i64_of(PQgetvalue(res, r, 2));
		row->input_tokens = i64_of(PQgetvalue(res, r, 3));
		row->output_tokens = i64_of(PQgetvalue(res, r, 4));
		str_copy(row->direct_pusd, sizeof row->direct_pusd, PQgetvalue(res, r, 5));
		str_copy(row->shared_pusd, sizeof row->shared_pusd, PQgetvalue(res, r, 6));
		str_copy(row->cost_pusd, sizeof row->cost_pusd, PQgetvalue(res, r, 7));
		row->share_ppm = i64_of(PQgetvalue(res, r, 8));
		out->calls += row->calls;
		out->input_tokens += row->input_tokens;
		out->output_tokens += row->output_tokens;
		str_copy(out->method, sizeof out->method, PQgetvalue(res, r, 9));
		str_copy(out->unassigned_pusd, sizeof out->unassigned_pusd, PQgetvalue(res, r, 10));
		str_copy(out->total_pusd, sizeof out->total_pusd, PQgetvalue(res, r, 11));
	}
	PQclear(res);
	return 0;
}

void chargeback_result_cleanup(struct chargeback_result *r)
{
	if (!r)
		return;
	free(r->rows);
	r->rows = NULL;
	r->n = 0;
}

/* ---- teams, audit head ------------------------------------------------------------ */

/* Runs a writing statement in the transaction already open; -1 on failure. */
static int exec_params(struct ledger *lg, const char *sql, int n, const char *const *p,
                       const char *what, int *affected, struct tally_err *err)
{
	PGresult *res = PQexecParams(lg->conn, sql, n, NULL, p, NULL, NULL, 0);

	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
		return ledger_fail(lg, res, what, err);
	if (affected)
		*affected = atoi(PQcmdTuples(res));
	PQclear(res);
	return 0;
}

int ledger_team_set_cost_center(struct ledger *lg, const char *team, const char *cc,
                                const char *actor, struct tally_err *err)
{
	const char *p[3] = {team, cc && *cc ? cc : NULL, actor ? actor : "tally"};
	int rc;

	if (ledger_exec(lg, "BEGIN", err) < 0)
		return -1;
	rc = exec_params(lg,
	                 "INSERT INTO cost_centers (cost_center) SELECT $1::text"
	                 " WHERE $1::text IS NOT NULL ON CONFLICT DO NOTHING",
	                 1, p + 1, "cost centre", NULL, err);
	if (rc == 0)
		rc = exec_params(
		    lg,
		    "INSERT INTO teams (team, cost_center) VALUES ($1, $2)"
		    " ON CONFLICT (team) DO UPDATE SET cost_center = EXCLUDED.cost_center",
		    2, p, "team", NULL, err);
	if (rc == 0)
		rc = exec_params(lg,
		                 "INSERT INTO audit_log (actor, action, details)"
		                 " VALUES ($3, 'teams.set_cost_center',"
		                 " jsonb_build_object('team', $1::text, 'cost_center', $2::text))",
		                 3, p, "audit log", NULL, err);
	return ledger_tx_end(lg, rc, err);
}

int ledger_audit_head(struct ledger *lg, int64_t *seq, char hash[65], struct tally_err *err)
{
	PGresult *res =
	    PQexec(lg->conn, "SELECT chain_seq, hash FROM audit_log"
	                     " WHERE chain_seq IS NOT NULL ORDER BY chain_seq DESC LIMIT 1");

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return ledger_fail(lg, res, "audit chain head", err);
	*seq = 0;
	memset(hash, '0', 64);
	hash[64] = '\0';
	if (PQntuples(res) == 1) {
		*seq = i64_of(PQgetvalue(res, 0, 0));
		str_copy(hash, 65, PQgetvalue(res, 0, 1));
	}
	PQclear(res);
	return 0;
}

/* ---- budgets, alerts, outbox ------------------------------------------------------ */

int ledger_budget_set(struct ledger *lg, const char *scope, const char *name,
                      const char *amount_pusd, const char *from_month, const char *actor,
                      struct tally_err *err)
{
	const char *p[5] = {scope, name, amount_pusd, actor ? actor : "tally", from_month};
	int rc;

	if (ledger_exec(lg, "BEGIN", err) < 0)
		return -1;
	rc = exec_params(lg,
	                 "INSERT INTO budgets (scope, name, amount_pusd) VALUES ($1, $2, $3)"
	                 " ON CONFLICT (scope, name) DO UPDATE"
	                 " SET amount_pusd = EXCLUDED.amount_pusd, updated_at = now()",
	                 3, p, "budget", NULL, err);
	/* The new amount replaces those from its month on (every month without one). */
	if (rc == 0)
		rc = exec_params(lg,
		                 "DELETE FROM budget_amounts WHERE budget_id ="
		                 " (SELECT id FROM budgets WHERE scope = $1 AND name = $2)"
		                 " AND ($3::date IS NULL OR from_month >= $3::date)",
		                 3, (const char *[]){scope, name, from_month}, "budget", NULL, err);
	if (rc == 0)
		rc = exec_params(lg,
		                 "INSERT INTO budget_amounts (budget_id, from_month, amount_pusd)"
		                 " SELECT id, coalesce($4::date, '-infinity'), $3 FROM budgets"
		                 " WHERE scope = $1 AND name = $2",
		                 4, (const char *[]){scope, name, amount_pusd, from_month},
		                 "budget", NULL, err);
	if (rc == 0)
		rc = exec_params(
		    lg,
		    "INSERT INTO audit_log (actor, action, details)"
		    " VALUES ($4, 'budgets.set', jsonb_build_object('scope', $1::text,"
		    " 'name', $2::text, 'amount_pusd', $3::text, 'from_month', $5::text))",
		    5, p, "audit log", NULL, err);
	return ledger_tx_end(lg, rc, err);
}

int ledger_budget_delete(struct ledger *lg, const char *scope, const char *name, const char *actor,
                         bool *found, struct tally_err *err)
{
	const char *p[3] = {scope, name, actor ? actor : "tally"};
	int n = 0, rc;

	*found = false;
	if (ledger_exec(lg, "BEGIN", err) < 0)
		return -1;
	rc = exec_params(lg, "DELETE FROM budgets WHERE scope = $1 AND name = $2", 2, p, "budget",
	                 &n, err);
	if (rc == 0 && n > 0)
		rc = exec_params(
		    lg,
		    "INSERT INTO audit_log (actor, action, details)"
		    " VALUES ($3, 'budgets.delete', jsonb_build_object('scope', $1::text,"
		    " 'name', $2::text))",
		    3, p, "audit log", NULL, err);
	*found = n > 0;
	return ledger_tx_end(lg, rc, err);
}

/* Forecast basis only once a day of the month has passed: a run rate over
 * a few hours says little. The payload is the exact body that is signed. */
static const char evaluate_sql[] =
    "WITH e AS ("
    "%s"
    "),"
    " th AS (SELECT e.*, p.pct, x.basis FROM e"
    "  CROSS JOIN (VALUES (50), (80), (100)) p(pct)"
    "  CROSS JOIN LATERAL (VALUES ('actual', e.spend), ('forecast', e.forecast)) x(basis, val)"
    "  WHERE x.val * 100 >= e.amount * p.pct"
    "  AND (x.basis = 'actual' OR e.elapsed_s >= 86400)),"
    " ins AS (INSERT INTO budget_alerts (budget_id, scope, name, period, basis, threshold_pct,"
    "  amount_pusd, spend_pusd, forecast_pusd)"
    "  SELECT id, scope, name, to_date(month, 'YYYY-MM'), basis, pct, amount, spend, forecast"
    "  FROM th ORDER BY id, basis, pct"
    "  ON CONFLICT (scope, name, period, basis, threshold_pct) DO NOTHING RETURNING *),"
    " ob AS (INSERT INTO webhook_outbox (kind, payload)"
    "  SELECT 'budget.alert', json_build_object("
    "   'text', format('Budget alert: %%s %%s reached %%s%%%% of its monthly budget of $%%s"
    " (%%s: $%%s) for %%s', i.scope, i.name, i.threshold_pct,"
    "    round(i.amount_pusd / 1000000000000::numeric, 2),"
    "    CASE i.basis WHEN 'actual' THEN 'spent' ELSE 'forecast' END,"
    "    round((CASE i.basis WHEN 'actual' THEN i.spend_pusd ELSE i.forecast_pusd END)"
    "     / 1000000000000::numeric, 2), to_char(i.period, 'YYYY-MM')),"
    "   'event', 'budget.alert', 'alert_id', i.id, 'scope', i.scope, 'name', i.name,"
    "   'period', to_char(i.period, 'YYYY-MM'), 'basis', i.basis,"
    "   'threshold_pct', i.threshold_pct,"
    "   'budget_usd', round(i.amount_pusd / 1000000000000::numeric, 12)::text,"
    "   'spend_usd', round(i.spend_pusd / 1000000000000::numeric, 12)::text,"
    "   'forecast_usd', round(i.forecast_pusd / 1000000000000::numeric, 12)::text,"
    "   'forecast_method', 'month-to-date spend + mean daily spend of the last 7 days x days"
    " left (run rate of the month when there is no such day)',"
    "   'fired_at', " ISO(
        "i.fired_at") ")::text"
                      "  FROM ins i ORDER BY i.id RETURNING id),"
                      " au AS (INSERT INTO audit_log (actor, action, details)"
                      "  SELECT 'tally', 'budgets.alert', jsonb_build_object('alert_id', i.id, "
                      "'scope', i.scope,"
                      "   'name', i.name, 'period', to_char(i.period, 'YYYY-MM'), 'basis', i.basis,"
                      "   'threshold_pct', i.threshold_pct) FROM ins i)"
                      " SELECT (SELECT count(*) FROM ob)";

int ledger_budget_evaluate(struct ledger *lg, int64_t at_us, int *fired, struct tally_err *err)
{
	char at[40], sql[8192], inner[4096];
	const char *p[1] = {at};

	if (fired)
		*fired = 0;
	time_format(at_us, at);
	/* The budgets statement, with named columns for the alert rules. */
	snprintf(
	    inner, sizeof inner,
	    "SELECT z.id, z.scope, z.name, z.amount, z.month, z.spend, z.forecast, z.elapsed_s"
	    " FROM (%s) z(id, scope, name, amount, month, spend, forecast, elapsed_s, month_s)",
	    report_sql[LRS_BUDGETS]);
	if (snprintf(sql, sizeof sql, evaluate_sql, inner) >= (int)sizeof sql)
		return tally_err_set(err, TALLY_EINVAL, false, "budget statement too long");
	PGresult *res = PQexecParams(lg->conn, sql, 1, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return ledger_fail(lg, res, "budget evaluation", err);
	if (fired)
		*fired = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

int ledger_outbox_claim(struct ledger *lg, struct outbox_item *it, bool *found,
                        struct tally_err *err)
{
	memset(it, 0, sizeof *it);
	*found = false;
	if (ledger_exec(lg, "BEGIN", err) < 0)
		return -1;
	PGresult *res = PQexec(lg->conn, "SELECT id, attempts, kind, payload FROM webhook_outbox"
	                                 " WHERE delivered_at IS NULL AND next_attempt_at <= now()"
	                                 " ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		ledger_fail(lg, res, "webhook outbox", err);
		PQclear(PQexec(lg->conn, "ROLLBACK"));
		return -1;
	}
	if (PQntuples(res) == 0) {
		PQclear(res);
		return ledger_tx_end(lg, 0, err);
	}
	it->id = i64_of(PQgetvalue(res, 0, 0));
	it->attempts = atoi(PQgetvalue(res, 0, 1));
	str_copy(it->kind, sizeof it->kind, PQgetvalue(res, 0, 2));
	it->payload = strdup(PQgetvalue(res, 0, 3));
	PQclear(res);
	if (!it->payload) {
		PQclear(PQexec(lg->conn, "ROLLBACK"));
		return tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
	}
	*found = true;
	return 0;
}

int ledger_outbox_done(struct ledger *lg, int64_t id, bool delivered, int retry_s,
                       const char *error, struct tally_err *err)
{
	char ids[24], secs[16];
	const char *p[3] = {ids, secs, error};
	int rc;

	snprintf(ids, sizeof ids, "%lld", (long long)id);
	snprintf(secs, sizeof secs, "%d", retry_s);
	if (delivered)
		rc = exec_params(lg,
		                 "UPDATE webhook_outbox SET delivered_at = now(),"
		                 " attempts = attempts + 1, last_error = NULL WHERE id = $1",
		                 1, p, "webhook outbox", NULL, err);
	else
		rc = exec_params(lg,
		                 "UPDATE webhook_outbox SET attempts = attempts + 1,"
		                 " next_attempt_at = now() + make_interval(secs => $2::int),"
		                 " last_error = $3 WHERE id = $1",
		                 3, p, "webhook outbox", NULL, err);
	return ledger_tx_end(lg, rc, err);
}
