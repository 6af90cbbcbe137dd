/* outcomes.c - outcomes against the calls that name them: cost per outcome
 * by workflow, tier and week (the outcomes report), and what outcomes are
 * worth against what they cost per kind, team and workflow. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger_int.h"

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

/* Spend counts failed attempts too. */
enum ow_col { OW_WORKFLOW, OW_OUTCOMES, OW_SUCCESSES, OW_CALLS, OW_SPEND };
static const char workflows_sql[] =
    "WITH " OUTCOME_CALLS " SELECT workflow, count(DISTINCT outcome_id),"
    " count(DISTINCT outcome_id) FILTER (WHERE success), count(*),"
    " coalesce(sum(cost_pusd), 0)::numeric(40,0)"
    " FROM oc WHERE known GROUP BY workflow ORDER BY workflow";

enum ot_col { OT_WORKFLOW, OT_TIER, OT_CALLS, OT_OUTCOMES };
static const char tiers_sql[] =
    "WITH " OUTCOME_CALLS " SELECT workflow, tier, count(*), count(DISTINCT outcome_id)"
    " FROM oc WHERE known GROUP BY workflow, tier ORDER BY 1, 2";

enum ok_col { OK_WORKFLOW, OK_WEEK, OK_OUTCOMES, OK_SUCCESSES, OK_SPEND };
static const char weeks_sql[] =
    "WITH " OUTCOME_CALLS ", w AS (SELECT * FROM oc WHERE known)"
    " SELECT workflow, to_char(date_trunc('week', ots), 'YYYY-MM-DD'),"
    " count(DISTINCT outcome_id), count(DISTINCT outcome_id) FILTER (WHERE success),"
    " coalesce(sum(cost_pusd), 0)::numeric(40,0) FROM w GROUP BY 1, 2 ORDER BY 1, 2";

enum oa_col { OA_ORPHAN_CALLS, OA_ORPHAN_SPEND, OA_OUTCOMES_WITHOUT_CALLS };
static const char apart_sql[] =
    "WITH " OUTCOME_CALLS " SELECT (SELECT count(*) FROM oc WHERE NOT known),"
    " (SELECT coalesce(sum(cost_pusd), 0)::numeric(40,0) FROM oc WHERE NOT known),"
    " (SELECT count(*) FROM outcomes o WHERE o.ts >= $1 AND o.ts < $2"
    "  AND NOT EXISTS (SELECT 1 FROM calls c WHERE " OUTCOME_OF_CALL("o", "c") "))";

static void workflow_row(const PGresult *res, int r, void *row)
{
	struct outcome_workflow_row *w = row;
	ledger_str(res, r, OW_WORKFLOW, w->workflow, sizeof w->workflow);
	w->outcomes = ledger_i64(res, r, OW_OUTCOMES);
	w->successes = ledger_i64(res, r, OW_SUCCESSES);
	w->calls = ledger_i64(res, r, OW_CALLS);
	ledger_str(res, r, OW_SPEND, w->spend_pusd, sizeof w->spend_pusd);
}

static void tier_row(const PGresult *res, int r, void *row)
{
	struct outcome_tier_row *t = row;
	ledger_str(res, r, OT_WORKFLOW, t->workflow, sizeof t->workflow);
	ledger_str(res, r, OT_TIER, t->tier, sizeof t->tier);
	t->calls = ledger_i64(res, r, OT_CALLS);
	t->outcomes = ledger_i64(res, r, OT_OUTCOMES);
}

static void week_row(const PGresult *res, int r, void *row)
{
	struct outcome_week_row *w = row;
	ledger_str(res, r, OK_WORKFLOW, w->workflow, sizeof w->workflow);
	ledger_str(res, r, OK_WEEK, w->week, sizeof w->week);
	w->outcomes = ledger_i64(res, r, OK_OUTCOMES);
	w->successes = ledger_i64(res, r, OK_SUCCESSES);
	ledger_str(res, r, OK_SPEND, w->spend_pusd, sizeof w->spend_pusd);
}

int ledger_outcomes(struct ledger *lg, int64_t from_us, int64_t to_us, struct outcomes_result *out,
                    struct tally_err *err)
{
	char from[40], to[40];
	const char *p[2] = {from, to};
	PGresult *res = NULL;

	memset(out, 0, sizeof *out);
	str_copy(out->orphan_pusd, sizeof out->orphan_pusd, "0");
	time_format(from_us, from);
	time_format(to_us, to);
	if (ledger_load_rows(lg, workflows_sql, 2, p, "outcomes", sizeof *out->workflows,
	                     workflow_row, &out->workflows, &out->n_workflows, err) < 0 ||
	    ledger_load_rows(lg, tiers_sql, 2, p, "outcomes by tier", sizeof *out->tiers, tier_row,
	                     &out->tiers, &out->n_tiers, err) < 0 ||
	    ledger_load_rows(lg, weeks_sql, 2, p, "outcomes by week", sizeof *out->weeks, week_row,
	                     &out->weeks, &out->n_weeks, err) < 0 ||
	    ledger_exec_params(lg, apart_sql, 2, p, "outcomes apart", &res, err) < 0) {
		outcomes_result_cleanup(out);
		return -1;
	}
	if (PQntuples(res) == 1) {
		out->orphan_calls = ledger_i64(res, 0, OA_ORPHAN_CALLS);
		ledger_str(res, 0, OA_ORPHAN_SPEND, out->orphan_pusd, sizeof out->orphan_pusd);
		out->outcomes_without_calls = ledger_i64(res, 0, OA_OUTCOMES_WITHOUT_CALLS);
	}
	PQclear(res);
	return 0;
}

void outcomes_result_cleanup(struct outcomes_result *r)
{
	if (!r)
		return;
	free(r->workflows);
	free(r->tiers);
	free(r->weeks);
	r->workflows = NULL;
	r->tiers = NULL;
	r->weeks = NULL;
	r->n_workflows = r->n_tiers = r->n_weeks = 0;
}

/* Outcomes are counted by their own time; their cost is the cost of the
 * calls that name them, from a day before the period (an outcome's calls
 * come before it) to its end. */
enum ov_col {
	OV_KIND,
	OV_TEAM,
	OV_WORKFLOW,
	OV_SUB,
	OV_TOTAL,
	OV_OUTCOMES,
	OV_SUCCESSES,
	OV_VALUE,
	OV_SPEND
};
static const char outcome_value_sql[] =
    "WITH o AS (SELECT outcome_id, coalesce(kind, '') AS kind, coalesce(team, '') AS team,"
    "  coalesce(workflow, '') AS workflow, success, value_pusd FROM outcomes"
    "  WHERE ts >= $1::timestamptz AND ts < $2::timestamptz"
    "  AND ($3::text IS NULL OR team = $3)),"
    " c AS (SELECT c.outcome_id, sum(c.cost_pusd) AS cost FROM calls c"
    "  WHERE c.ts >= $1::timestamptz - interval '1 day' AND c.ts < $2::timestamptz"
    "  AND c.outcome_id IN (SELECT outcome_id FROM o)"
    "  AND ($3::text IS NULL OR c.team = $3) GROUP BY 1)"
    " SELECT o.kind, o.team, o.workflow, GROUPING(o.kind, o.workflow) <> 0 AS sub,"
    "  GROUPING(o.team) <> 0 AS tot, count(*), count(*) FILTER (WHERE o.success),"
    "  coalesce(sum(o.value_pusd) FILTER (WHERE o.success), 0)::numeric(40,0),"
    "  coalesce(sum(c.cost), 0)::numeric(40,0)"
    " FROM o LEFT JOIN c USING (outcome_id)"
    " GROUP BY GROUPING SETS ((o.team, o.workflow, o.kind), (o.team), ())"
    " ORDER BY GROUPING(o.team), o.team, GROUPING(o.kind, o.workflow),"
    "  coalesce(sum(c.cost), 0) DESC, o.kind, o.workflow";

static void outcome_value_row(const PGresult *res, int r, void *row)
{
	struct outcome_value *v = row;
	ledger_str(res, r, OV_KIND, v->kind, sizeof v->kind);
	ledger_str(res, r, OV_TEAM, v->team, sizeof v->team);
	ledger_str(res, r, OV_WORKFLOW, v->workflow, sizeof v->workflow);
	v->level = ledger_bool(res, r, OV_TOTAL) ? OUTCOME_VALUE_TOTAL
	           : ledger_bool(res, r, OV_SUB) ? OUTCOME_VALUE_TEAM
	                                         : OUTCOME_VALUE_ROW;
	v->outcomes = ledger_i64(res, r, OV_OUTCOMES);
	v->successes = ledger_i64(res, r, OV_SUCCESSES);
	ledger_str(res, r, OV_VALUE, v->value_pusd, sizeof v->value_pusd);
	ledger_str(res, r, OV_SPEND, v->spend_pusd, sizeof v->spend_pusd);
}

int ledger_outcome_value(struct ledger *lg, int64_t from_us, int64_t to_us, const char *team,
                         struct outcome_value **rows, size_t *n, struct tally_err *err)
{
	char from[40], to[40];
	const char *p[3] = {from, to, team};

	time_format(from_us, from);
	time_format(to_us, to);
	return ledger_load_rows(lg, outcome_value_sql, 3, p, "outcome value", sizeof **rows,
	                        outcome_value_row, rows, n, err);
}
