/* waste.c - reads that judge the stored calls: the waste report (failed,
 * repeated, cache savings, over-tier spend), over-tier spend per task type
 * (the routing savings) and provider_cost_usd against tally's own cost.
 * Money is numeric pico-USD, never float. */
#include "ledger_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The columns of waste_sql: one row per team and workflow, then the totals
 * row (WASTE_IS_TOTAL 1); over-tier spend is NULL when no policy version
 * judges the period; every row says whether one does, and which. */
enum waste_col {
	WASTE_TEAM,
	WASTE_WORKFLOW,
	WASTE_FAILED_CALLS,
	WASTE_FAILED,
	WASTE_REPEATED_CALLS,
	WASTE_REPEATED,
	WASTE_CACHE_HITS,
	WASTE_SAVINGS,
	WASTE_SPEND,
	WASTE_OVER_TIER,
	WASTE_IS_TOTAL,
	WASTE_JUDGED,
	WASTE_VERSIONS
};
static const char waste_sql[] =
    "WITH c AS (SELECT c.team, c.workflow, c.status, c.cost_pusd, c.cache_hit,"
    " c.input_tokens, c.output_tokens, c.cache_read_tokens, c.cache_write_tokens,"
    " c.reasoning_tokens, c.price_version,"
    /* read from the components only where it is used: cache hits */
    " CASE WHEN c.cache_hit THEN " PC_LIST_TOTAL " END::numeric AS list"
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
     * (ledger_over_tier_by_task), here by team and workflow. */
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
              " ORDER BY GROUPING(team), team, workflow";

/* The columns of mismatch_sql. */
enum mismatch_col {
	MM_PROVIDER,
	MM_MODEL,
	MM_CALLS,
	MM_MISMATCHED,
	MM_UNPRICED,
	MM_PROVIDER_COST,
	MM_TALLY_COST,
	MM_DIFF
};
static const char mismatch_sql[] =
    "SELECT provider, model, count(*),"
    " count(*) FILTER (WHERE cost_pusd IS NULL OR abs(provider_cost_pusd - cost_pusd) > $3),"
    " count(*) FILTER (WHERE cost_pusd IS NULL),"
    " sum(provider_cost_pusd)::numeric(40,0), coalesce(sum(cost_pusd), 0)::numeric(40,0),"
    " (sum(provider_cost_pusd) - coalesce(sum(cost_pusd), 0))::numeric(40,0)"
    " FROM calls WHERE ts >= $1 AND ts < $2 AND provider_cost_pusd IS NOT NULL"
    " AND NOT cache_hit GROUP BY 1, 2"
    " ORDER BY abs(sum(provider_cost_pusd) - coalesce(sum(cost_pusd), 0)) DESC, 1, 2";

/* A money cell, "0" for SQL NULL (the sums of no rows). */
static void money0(const PGresult *res, int r, int c, char *out, size_t n)
{
	str_copy(out, n, PQgetisnull(res, r, c) ? "0" : PQgetvalue(res, r, c));
}

static void waste_row(const PGresult *res, int r, struct waste_row *w)
{
	ledger_str(res, r, WASTE_TEAM, w->team, sizeof w->team);
	ledger_str(res, r, WASTE_WORKFLOW, w->workflow, sizeof w->workflow);
	w->failed_calls = ledger_i64(res, r, WASTE_FAILED_CALLS);
	money0(res, r, WASTE_FAILED, w->failed_pusd, sizeof w->failed_pusd);
	w->repeated_calls = ledger_i64(res, r, WASTE_REPEATED_CALLS);
	money0(res, r, WASTE_REPEATED, w->repeated_pusd, sizeof w->repeated_pusd);
	w->cache_hit_calls = ledger_i64(res, r, WASTE_CACHE_HITS);
	money0(res, r, WASTE_SAVINGS, w->savings_pusd, sizeof w->savings_pusd);
	money0(res, r, WASTE_SPEND, w->spend_pusd, sizeof w->spend_pusd);
	money0(res, r, WASTE_OVER_TIER, w->over_tier_pusd, sizeof w->over_tier_pusd);
}

int ledger_waste(struct ledger *lg, int64_t from_us, int64_t to_us, int64_t window_s,
                 const char *team, int64_t policy_version, struct waste_result *out,
                 struct tally_err *err)
{
	char from[40], to[40], win[24], ver[24];
	const char *p[5] = {from, to, win, team, policy_version > 0 ? ver : NULL};
	PGresult *res = NULL;

	memset(out, 0, sizeof *out);
	/* the totals of no rows */
	char *zero[] = {out->total.failed_pusd, out->total.repeated_pusd, out->total.savings_pusd,
	                out->total.spend_pusd, out->total.over_tier_pusd};
	for (size_t i = 0; i < sizeof zero / sizeof zero[0]; i++)
		str_copy(zero[i], 48, "0");
	time_format(from_us, from);
	time_format(to_us, to);
	snprintf(win, sizeof win, "%lld", (long long)window_s);
	snprintf(ver, sizeof ver, "%lld", (long long)policy_version);
	if (ledger_exec_params(lg, waste_sql, 5, p, "waste", &res, err) < 0)
		return -1;
	int n = PQntuples(res);
	if (n > 0 && !(out->rows = calloc((size_t)n, sizeof *out->rows))) {
		PQclear(res);
		return tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
	}
	for (int r = 0; r < n; r++) {
		if (ledger_i64(res, r, WASTE_IS_TOTAL) == 1) /* GROUPING SETS' () row */
			waste_row(res, r, &out->total);
		else
			waste_row(res, r, &out->rows[out->n++]);
	}
	/* Every row says whether a policy judged the period (the totals row is
	 * always there). */
	if (n > 0) {
		out->policy = ledger_bool(res, n - 1, WASTE_JUDGED);
		ledger_str(res, n - 1, WASTE_VERSIONS, out->versions, sizeof out->versions);
	}
	PQclear(res);
	return 0;
}

void waste_result_cleanup(struct waste_result *r)
{
	if (!r)
		return;
	free(r->rows);
	r->rows = NULL;
	r->n = 0;
}

static void mismatch_row(const PGresult *res, int r, void *row)
{
	struct cost_mismatch_row *m = row;
	ledger_str(res, r, MM_PROVIDER, m->provider, sizeof m->provider);
	ledger_str(res, r, MM_MODEL, m->model, sizeof m->model);
	m->calls = ledger_i64(res, r, MM_CALLS);
	m->mismatched = ledger_i64(res, r, MM_MISMATCHED);
	m->unpriced = ledger_i64(res, r, MM_UNPRICED);
	ledger_str(res, r, MM_PROVIDER_COST, m->provider_pusd, sizeof m->provider_pusd);
	ledger_str(res, r, MM_TALLY_COST, m->tally_pusd, sizeof m->tally_pusd);
	ledger_str(res, r, MM_DIFF, m->diff_pusd, sizeof m->diff_pusd);
}

int ledger_cost_mismatches(struct ledger *lg, int64_t from_us, int64_t to_us,
                           struct cost_mismatch_row **rows, size_t *n, struct tally_err *err)
{
	char from[40], to[40], tol[24];
	const char *p[3] = {from, to, tol};

	time_format(from_us, from);
	time_format(to_us, to);
	snprintf(tol, sizeof tol, "%lld", (long long)LEDGER_MISMATCH_TOLERANCE_PUSD);
	return ledger_load_rows(lg, mismatch_sql, 3, p, "cost mismatches", sizeof **rows,
	                        mismatch_row, rows, n, err);
}

/* The columns of over_tier_sql: first a row with the basis only (task type
 * NULL: which versions judged the period), then one per task type and
 * policy tier, largest saving first. */
enum over_tier_col {
	OT_TASK_TYPE,
	OT_POLICY_TIER,
	OT_CALLS,
	OT_COST,
	OT_UNDER_POLICY,
	OT_SAVING,
	OT_JUDGED,
	OT_VERSIONS
};
static const char over_tier_sql[] = "WITH" LEDGER_OVER_TIER_CTES(
    "$1", "$2",
    "$3") ","
          " o AS (SELECT task_type, policy_tier AS tier, sum(n) AS calls, sum(cost) AS cost,"
          "  sum(n * per_call) AS under FROM dear GROUP BY 1, 2)"
          " SELECT o.task_type, o.tier, o.calls, o.cost::text, o.under::text,"
          " (o.cost - o.under)::text, j.judges, j.versions"
          " FROM judged j LEFT JOIN o ON true"
          " ORDER BY o.task_type IS NOT NULL, o.cost - o.under DESC, o.task_type, o.tier";

static void over_tier_row(const PGresult *res, int i, void *row)
{
	struct over_tier_row *r = row;
	ledger_str(res, i, OT_TASK_TYPE, r->task_type, sizeof r->task_type);
	ledger_str(res, i, OT_POLICY_TIER, r->policy_tier, sizeof r->policy_tier);
	r->calls = ledger_i64(res, i, OT_CALLS);
	ledger_str(res, i, OT_COST, r->cost_pusd, sizeof r->cost_pusd);
	ledger_str(res, i, OT_UNDER_POLICY, r->under_policy_pusd, sizeof r->under_policy_pusd);
	ledger_str(res, i, OT_SAVING, r->saving_pusd, sizeof r->saving_pusd);
}

int ledger_over_tier_by_task(struct ledger *lg, int64_t from_us, int64_t to_us, int64_t version,
                             struct over_tier_row **rows, size_t *n, struct over_tier_basis *basis,
                             struct tally_err *err)
{
	char from[40], to[40], ver[24];
	const char *p[3] = {from, to, version > 0 ? ver : NULL};
	PGresult *res = NULL;

	*rows = NULL;
	*n = 0;
	memset(basis, 0, sizeof *basis);
	time_format(from_us, from);
	time_format(to_us, to);
	snprintf(ver, sizeof ver, "%lld", (long long)version);
	if (ledger_exec_params(lg, over_tier_sql, 3, p, "over-tier spend", &res, err) < 0)
		return -1;
	int nt = PQntuples(res);
	struct over_tier_row *out = calloc(nt ? (size_t)nt : 1, sizeof *out);
	if (!out) {
		PQclear(res);
		return tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
	}
	size_t k = 0;
	for (int i = 0; i < nt; i++) {
		if (i == 0) {
			basis->judged = ledger_bool(res, 0, OT_JUDGED);
			ledger_str(res, 0, OT_VERSIONS, basis->versions, sizeof basis->versions);
		}
		if (!PQgetisnull(res, i, OT_TASK_TYPE))
			over_tier_row(res, i, &out[k++]);
	}
	PQclear(res);
	*rows = out;
	*n = k;
	return 0;
}
