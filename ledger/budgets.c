/* budgets.c - monthly budgets, their spend and forecast, the alerts they
 * fire and the webhook outbox those alerts (and the router) queue into.
 * Money is numeric pico-USD, never float. */
#include "ledger_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Whether a call or rollup row r counts towards budget bb: a team budget,
 * the team's rows; a workflow budget, the workflow's rows of the team that
 * owns it (used it first, migrations/0022: also while its first calls are
 * queued), never another team's calls naming it. */
#define BUDGET_COVERS(r)                                                                           \
	"CASE bb.scope WHEN 'team' THEN " r ".team = bb.name ELSE " r ".workflow = bb.name"        \
	" AND " r ".team = tally_workflow_owner(bb.name) END"

/* The columns of budgets_sql; $1 at: the month holding it, spend up to it.
 * basis_days 0: run rate of the month so far, no band (low, high NULL). */
enum budget_col {
	BG_ID,
	BG_SCOPE,
	BG_NAME,
	BG_AMOUNT,
	BG_MONTH,
	BG_SPEND,
	BG_FORECAST,
	BG_ELAPSED_S,
	BG_MONTH_S,
	BG_BASIS_DAYS,
	BG_FORECAST_LOW,
	BG_FORECAST_HIGH
};
static const char budgets_sql[] =
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
                               " FROM f b ORDER BY b.scope, b.name";

enum alert_col {
	AL_ID,
	AL_SCOPE,
	AL_NAME,
	AL_PERIOD,
	AL_BASIS,
	AL_THRESHOLD_PCT,
	AL_AMOUNT,
	AL_SPEND,
	AL_FORECAST,
	AL_FIRED_AT
};
static const char alerts_sql[] =
    "SELECT id, scope, name, to_char(period, 'YYYY-MM'), basis, threshold_pct,"
    " amount_pusd, spend_pusd, forecast_pusd, " SQL_ISO(
        "fired_at") " FROM budget_alerts"
                    " WHERE $2::text IS NULL OR (scope = 'team' AND name = $2)"
                    " ORDER BY id DESC LIMIT $1 OFFSET $3";

static void budget_row(const PGresult *res, int r, void *row)
{
	struct budget_state *b = row;
	b->id = ledger_i64(res, r, BG_ID);
	ledger_str(res, r, BG_SCOPE, b->scope, sizeof b->scope);
	ledger_str(res, r, BG_NAME, b->name, sizeof b->name);
	ledger_str(res, r, BG_AMOUNT, b->amount_pusd, sizeof b->amount_pusd);
	ledger_str(res, r, BG_MONTH, b->month, sizeof b->month);
	ledger_str(res, r, BG_SPEND, b->spend_pusd, sizeof b->spend_pusd);
	ledger_str(res, r, BG_FORECAST, b->forecast_pusd, sizeof b->forecast_pusd);
	b->elapsed_s = ledger_i64(res, r, BG_ELAPSED_S);
	b->month_s = ledger_i64(res, r, BG_MONTH_S);
	b->basis_days = ledger_i64(res, r, BG_BASIS_DAYS);
	b->band = !PQgetisnull(res, r, BG_FORECAST_LOW) && !PQgetisnull(res, r, BG_FORECAST_HIGH);
	ledger_str(res, r, BG_FORECAST_LOW, b->forecast_low_pusd, sizeof b->forecast_low_pusd);
	ledger_str(res, r, BG_FORECAST_HIGH, b->forecast_high_pusd, sizeof b->forecast_high_pusd);
}

int ledger_budget_states(struct ledger *lg, int64_t at_us, struct budget_state **rows, size_t *n,
                         struct tally_err *err)
{
	char at[40];
	const char *p[1] = {at};

	time_format(at_us, at);
	return ledger_load_rows(lg, budgets_sql, 1, p, "budgets", sizeof **rows, budget_row, rows,
	                        n, err);
}

static void alert_row(const PGresult *res, int r, void *row)
{
	struct budget_alert_row *a = row;
	a->id = ledger_i64(res, r, AL_ID);
	ledger_str(res, r, AL_SCOPE, a->scope, sizeof a->scope);
	ledger_str(res, r, AL_NAME, a->name, sizeof a->name);
	ledger_str(res, r, AL_PERIOD, a->period, sizeof a->period);
	ledger_str(res, r, AL_BASIS, a->basis, sizeof a->basis);
	a->threshold_pct = ledger_i64(res, r, AL_THRESHOLD_PCT);
	ledger_str(res, r, AL_AMOUNT, a->amount_pusd, sizeof a->amount_pusd);
	ledger_str(res, r, AL_SPEND, a->spend_pusd, sizeof a->spend_pusd);
	ledger_str(res, r, AL_FORECAST, a->forecast_pusd, sizeof a->forecast_pusd);
	ledger_str(res, r, AL_FIRED_AT, a->fired_at, sizeof a->fired_at);
}

int ledger_budget_alerts(struct ledger *lg, int limit, int64_t offset, const char *team,
                         struct budget_alert_row **rows, size_t *n, struct tally_err *err)
{
	char lim[16], off[24];
	const char *p[3] = {lim, team, off};

	snprintf(lim, sizeof lim, "%d", limit);
	snprintf(off, sizeof off, "%lld", (long long)offset);
	/* A team's view is filtered before the limit, not after. */
	return ledger_load_rows(lg, alerts_sql, 3, p, "budget alerts", sizeof **rows, alert_row,
	                        rows, n, err);
}

int ledger_budget_set(struct ledger *lg, const char *scope, const char *name,
                      const char *amount_pusd, const char *from_month, const char *actor,
                      struct tally_err *err)
{
	const char *p[5] = {scope, name, amount_pusd, actor ? actor : "tally", from_month};
	int rc;

	if (ledger_exec(lg, "BEGIN", err) < 0)
		return -1;
	rc = ledger_exec_params(lg,
	                        "INSERT INTO budgets (scope, name, amount_pusd) VALUES ($1, $2, $3)"
	                        " ON CONFLICT (scope, name) DO UPDATE"
	                        " SET amount_pusd = EXCLUDED.amount_pusd, updated_at = now()",
	                        3, p, "budget", NULL, err);
	/* The new amount replaces those from its month on (every month without one). */
	if (rc == 0)
		rc = ledger_exec_params(lg,
		                        "DELETE FROM budget_amounts WHERE budget_id ="
		                        " (SELECT id FROM budgets WHERE scope = $1 AND name = $2)"
		                        " AND ($3::date IS NULL OR from_month >= $3::date)",
		                        3, (const char *[]){scope, name, from_month}, "budget",
		                        NULL, err);
	if (rc == 0)
		rc = ledger_exec_params(
		    lg,
		    "INSERT INTO budget_amounts (budget_id, from_month, amount_pusd)"
		    " SELECT id, coalesce($4::date, '-infinity'), $3 FROM budgets"
		    " WHERE scope = $1 AND name = $2",
		    4, (const char *[]){scope, name, amount_pusd, from_month}, "budget", NULL, err);
	if (rc == 0)
		rc = ledger_exec_params(
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
	PGresult *res = NULL;
	int n = 0, rc;

	*found = false;
	if (ledger_exec(lg, "BEGIN", err) < 0)
		return -1;
	rc = ledger_exec_params(lg, "DELETE FROM budgets WHERE scope = $1 AND name = $2", 2, p,
	                        "budget", &res, err);
	if (rc == 0) {
		n = atoi(PQcmdTuples(res));
		PQclear(res);
	}
	if (rc == 0 && n > 0)
		rc = ledger_exec_params(
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
    "   'fired_at', " SQL_ISO(
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
	    budgets_sql);
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
	it->id = ledger_i64(res, 0, 0);
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
		rc = ledger_exec_params(lg,
		                        "UPDATE webhook_outbox SET delivered_at = now(),"
		                        " attempts = attempts + 1, last_error = NULL WHERE id = $1",
		                        1, p, "webhook outbox", NULL, err);
	else
		rc = ledger_exec_params(lg,
		                        "UPDATE webhook_outbox SET attempts = attempts + 1,"
		                        " next_attempt_at = now() + make_interval(secs => $2::int),"
		                        " last_error = $3 WHERE id = $1",
		                        3, p, "webhook outbox", NULL, err);
	return ledger_tx_end(lg, rc, err);
}
