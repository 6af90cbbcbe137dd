/* chargeback.c - teams and their cost centres, and the chargeback that
 * shares spend among them. Money is numeric pico-USD, never float. */
#include "ledger_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- teams ------------------------------------------------------------------------ */

enum team_col { TEAM_NAME, TEAM_COST_CENTER, TEAM_FIRST_SEEN };
static const char teams_sql[] = "SELECT t.team, t.cost_center, " SQL_ISO(
    "t.first_seen") " FROM teams t ORDER BY t.cost_center NULLS LAST, t.team";

static void team_row(const PGresult *res, int r, void *row)
{
	struct team_row *t = row;
	ledger_str(res, r, TEAM_NAME, t->team, sizeof t->team);
	ledger_str(res, r, TEAM_COST_CENTER, t->cost_center, sizeof t->cost_center);
	t->unassigned = PQgetisnull(res, r, TEAM_COST_CENTER);
	ledger_str(res, r, TEAM_FIRST_SEEN, t->first_seen, sizeof t->first_seen);
}

int ledger_teams(struct ledger *lg, struct team_row **rows, size_t *n, struct tally_err *err)
{
	return ledger_load_rows(lg, teams_sql, 0, NULL, "teams", sizeof **rows, team_row, rows, n,
	                        err);
}

int ledger_finance_set_up(struct ledger *lg, bool *set_up, struct tally_err *err)
{
	PGresult *res = NULL;

	*set_up = false;
	if (ledger_exec_params(lg,
	                       "SELECT EXISTS (SELECT 1 FROM teams WHERE cost_center IS NOT NULL)"
	                       " OR EXISTS (SELECT 1 FROM budgets)",
	                       0, NULL, "finance set-up", &res, err) < 0)
		return -1;
	*set_up = PQntuples(res) == 1 && ledger_bool(res, 0, 0);
	PQclear(res);
	return 0;
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

/* The columns of chargeback_sql: one row per team; the last three repeat
 * the period's method, unassigned spend and total on every row. */
enum cb_col {
	CB_COST_CENTER,
	CB_TEAM,
	CB_CALLS,
	CB_INPUT,
	CB_OUTPUT,
	CB_DIRECT,
	CB_SHARED,
	CB_COST,
	CB_SHARE_PPM,
	CB_METHOD,
	CB_UNASSIGNED,
	CB_TOTAL
};

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
		row->unassigned = PQgetisnull(res, r, CB_COST_CENTER);
		str_copy(row->cost_center, sizeof row->cost_center,
		         PQgetvalue(res, r, CB_COST_CENTER));
		str_copy(row->team, sizeof row->team, PQgetvalue(res, r, CB_TEAM));
		row->calls = ledger_i64(res, r, CB_CALLS);
		row->input_tokens = ledger_i64(res, r, CB_INPUT);
		row->output_tokens = ledger_i64(res, r, CB_OUTPUT);
		str_copy(row->direct_pusd, sizeof row->direct_pusd, PQgetvalue(res, r, CB_DIRECT));
		str_copy(row->shared_pusd, sizeof row->shared_pusd, PQgetvalue(res, r, CB_SHARED));
		str_copy(row->cost_pusd, sizeof row->cost_pusd, PQgetvalue(res, r, CB_COST));
		row->share_ppm = ledger_i64(res, r, CB_SHARE_PPM);
		out->calls += row->calls;
		out->input_tokens += row->input_tokens;
		out->output_tokens += row->output_tokens;
		str_copy(out->method, sizeof out->method, PQgetvalue(res, r, CB_METHOD));
		str_copy(out->unassigned_pusd, sizeof out->unassigned_pusd,
		         PQgetvalue(res, r, CB_UNASSIGNED));
		str_copy(out->total_pusd, sizeof out->total_pusd, PQgetvalue(res, r, CB_TOTAL));
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

int ledger_team_set_cost_center(struct ledger *lg, const char *team, const char *cc,
                                const char *actor, struct tally_err *err)
{
	const char *p[3] = {team, cc && *cc ? cc : NULL, actor ? actor : "tally"};
	int rc;

	if (ledger_exec(lg, "BEGIN", err) < 0)
		return -1;
	rc = ledger_exec_params(lg,
	                        "INSERT INTO cost_centers (cost_center) SELECT $1::text"
	                        " WHERE $1::text IS NOT NULL ON CONFLICT DO NOTHING",
	                        1, p + 1, "cost centre", NULL, err);
	if (rc == 0)
		rc = ledger_exec_params(
		    lg,
		    "INSERT INTO teams (team, cost_center) VALUES ($1, $2)"
		    " ON CONFLICT (team) DO UPDATE SET cost_center = EXCLUDED.cost_center",
		    2, p, "team", NULL, err);
	if (rc == 0)
		rc = ledger_exec_params(
		    lg,
		    "INSERT INTO audit_log (actor, action, details)"
		    " VALUES ($3, 'teams.set_cost_center',"
		    " jsonb_build_object('team', $1::text, 'cost_center', $2::text))",
		    3, p, "audit log", NULL, err);
	return ledger_tx_end(lg, rc, err);
}
