/* focus_rows.c - the FOCUS export's charges (docs/focus.md), read from the
 * calls: one row per charge period, route, model, attribution, tag set,
 * price version, pricing mode and price component, each with one unit price.
 * The components are the calls' stored ones (ledger/components.c), one row
 * each through tally_call_components().
 *
 * Why the calls and not a rollup: a row of a FOCUS file needs the price
 * version, the pricing mode and the calls' tags (one unit price per row;
 * Tags), which no rollup keeps. docs/focus.md has the measurement behind the
 * choice. */
#include "ledger_int.h"

#include <stdlib.h>
#include <string.h>

#define ISO(col) "to_char(" col ", 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* The long-context level of a call (0: below the threshold, 1: the first
 * tier's above_* rates, 2 + i: extra_tiers[i]) - the SQL twin of pricing.c's
 * level_of. It only labels the row (SkuPriceId); the amounts are the ones
 * the pricer stored on the call. */
/* clang-format off */
#define FOCUS_OVER(t)                                                                              \
	"(" t " > 0 AND (c.input_tokens > " t " OR (pb.threshold_inclusive <> 0 AND"               \
	" c.input_tokens = " t ")))"
#define FOCUS_LEVEL                                                                                \
	"CASE WHEN pb.price_version IS NULL OR NOT " FOCUS_OVER("pb.threshold_tokens")             \
	" OR (pb.above_input_pusd IS NULL AND pb.above_priority_input_pusd IS NULL) THEN 0"        \
	" ELSE 1 + (SELECT count(*) FROM jsonb_array_elements(CASE jsonb_typeof(pb.extra_tiers)"   \
	" WHEN 'array' THEN pb.extra_tiers ELSE '[]'::jsonb END) t"                                \
	" WHERE " FOCUS_OVER("(t ->> 'from')::numeric") ") END"
/* clang-format on */

/* $1 from, $2 to, $3 'day' or 'hour', $4 FOCUS_TAG_PREFIX (the calls' tags
 * under it are left out; nested values become their JSON text). Cache hits
 * (answered by the application's or the gateway's cache) are no provider
 * usage: left out.
 * The charge period is clamped to [from, to). Amounts: pico-USD sums and
 * the row's unit price in pico-USD (exact when the sum divides, else to 6
 * fraction digits of a pico-dollar); USD = pico-USD x 10^-12, exact. */
/* clang-format off */
static const char focus_sql[] =
    "WITH g AS MATERIALIZED (SELECT k.p, k.provider, k.model, k.local, k.team, k.workflow,"
    " k.task_type, k.tags, k.price_version, k.unpriced, k.svc, k.dr, k.ig, k.sp, k.lvl,"
    " x.component AS kind, count(*) AS n, sum(x.qty) AS qty, sum(x.cost_pusd) AS billed"
    /* each call's keys once (OFFSET 0 keeps them from being computed again
     * for each of its components) */
    " FROM (SELECT date_trunc($3, c.ts, 'UTC') AS p, c.provider, c.model,"
    " c.local, c.team, c.workflow, c.task_type,"
    " CASE jsonb_typeof(c.tags) WHEN 'object' THEN c.tags ELSE '{}'::jsonb END AS tags,"
    " c.price_version, c.cost_pusd IS NULL AS unpriced,"
    " CASE WHEN c.batch OR c.service_tier = 'batch' THEN 'batch'"
    "  WHEN c.service_tier IN ('flex', 'priority') THEN c.service_tier ELSE 'standard' END AS svc,"
    " coalesce(c.data_residency, '') AS dr, coalesce(c.inference_geo, '') AS ig,"
    " coalesce(c.speed, '') AS sp, " FOCUS_LEVEL " AS lvl, c.components"
    " FROM calls c LEFT JOIN price_book pb ON pb.price_version = c.price_version"
    " WHERE c.ts >= $1 AND c.ts < $2 AND NOT c.cache_hit OFFSET 0) k"
    /* a stored component is never all zero (ledger/components.c): the
     * rows with neither quantity nor charge are left out below, once */
    " CROSS JOIN LATERAL tally_call_components(k.components) x"
    " GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)"
    " SELECT " ISO("greatest(g.p, $1::timestamptz)") ","
    " " ISO("least(g.p + ('1 ' || $3)::interval, $2::timestamptz)") ","
    " " ISO("date_trunc('month', g.p, 'UTC')") ","
    " " ISO("date_trunc('month', g.p, 'UTC') + interval '1 month'") ","
    " g.provider, g.model, g.local, g.team, g.workflow, g.task_type, tm.cost_center,"
    " (SELECT coalesce(jsonb_object_agg(e.key, CASE WHEN jsonb_typeof(e.value)"
    "  IN ('object', 'array') THEN to_jsonb(e.value::text) ELSE e.value END), '{}'::jsonb)"
    "  FROM jsonb_each(g.tags) e WHERE left(e.key, length($4)) <> $4)::text,"
    " g.price_version, g.unpriced, g.svc, g.dr, g.ig, g.sp, g.lvl, g.kind,"
    " g.qty, (g.billed * 0.000000000001)::numeric(40,12), u.unit * 0.000000000001,"
    " u.unit * g.qty * 0.000000000001, g.n"
    " FROM g CROSS JOIN LATERAL (SELECT CASE WHEN g.qty = 0 THEN 0"
    "  WHEN mod(g.billed, g.qty) = 0 THEN div(g.billed, g.qty)"
    "  ELSE round(g.billed / g.qty, 6) END AS unit) u"
    " LEFT JOIN teams tm ON tm.team = g.team"
    " WHERE g.qty <> 0 OR g.billed <> 0"
    " ORDER BY g.p, g.provider, g.model, g.team, g.workflow, g.task_type, g.tags::text,"
    " g.price_version NULLS LAST, g.svc, g.dr, g.ig, g.sp, g.lvl, g.kind";
/* clang-format on */

/* The statement's columns. */
enum {
	Q_START,
	Q_END,
	Q_BSTART,
	Q_BEND,
	Q_PROVIDER,
	Q_MODEL,
	Q_LOCAL,
	Q_TEAM,
	Q_WORKFLOW,
	Q_TASK,
	Q_CC,
	Q_TAGS,
	Q_VERSION,
	Q_UNPRICED,
	Q_SVC,
	Q_DR,
	Q_IG,
	Q_SP,
	Q_LEVEL,
	Q_KIND,
	Q_QTY,
	Q_BILLED,
	Q_UNIT,
	Q_LIST,
	Q_CALLS,
	Q_NCOLS
};

static int component_of(const char *name)
{
	for (int k = 0; k < PC_COUNT; k++)
		if (strcmp(name, price_component_names[k]) == 0)
			return k;
	return -1;
}

int ledger_focus_stream(struct ledger *lg, int64_t from_us, int64_t to_us, bool hourly,
                        ledger_focus_fn fn, void *ctx, struct tally_err *err)
{
	bool own = PQtransactionStatus(lg->conn) == PQTRANS_IDLE;
	char from[40], to[40];
	const char *params[4] = {from, to, hourly ? "hour" : "day", FOCUS_TAG_PREFIX};
	char sql[sizeof focus_sql + 64];
	PGresult *res = NULL;
	int rc = -1;

	time_format(from_us, from);
	time_format(to_us, to);
	if (own && ledger_snapshot_begin(lg, err) < 0)
		return -1;
	/* The planner multiplies the distinct counts of the keys as if they
	 * were independent and would sort the whole period where a hash table
	 * of the real groups suffices (it spills to disk if it outgrows
	 * work_mem). */
	if (ledger_exec(lg, "SET LOCAL enable_sort = off; SET LOCAL jit = off", err) < 0)
		goto out;
	snprintf(sql, sizeof sql, "DECLARE tally_focus NO SCROLL CURSOR FOR %s", focus_sql);
	res = PQexecParams(lg->conn, sql, 4, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		ledger_fail(lg, res, "FOCUS export", err);
		res = NULL;
		goto out;
	}
	PQclear(res);
	for (;;) {
		res = PQexec(lg->conn, "FETCH FORWARD 2000 FROM tally_focus");
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			ledger_fail(lg, res, "FOCUS export", err);
			res = NULL;
			goto out;
		}
		int rows = PQntuples(res);
		if (rows > 0 && PQnfields(res) != Q_NCOLS) {
			tally_err_set(err, TALLY_EINVAL, false, "FOCUS export: unexpected columns");
			goto out;
		}
		for (int r = 0; r < rows; r++) {
/* S: a non-null column; V: NULL for SQL NULL. */
#define S(c) PQgetvalue(res, r, (c))
#define V(c) (PQgetisnull(res, r, (c)) ? NULL : S(c))
			struct focus_row row = {
			    .period_start = S(Q_START),
			    .period_end = S(Q_END),
			    .billing_start = S(Q_BSTART),
			    .billing_end = S(Q_BEND),
			    .provider = S(Q_PROVIDER),
			    .model = S(Q_MODEL),
			    .local = S(Q_LOCAL)[0] == 't',
			    .team = S(Q_TEAM),
			    .workflow = S(Q_WORKFLOW),
			    .task_type = S(Q_TASK),
			    .cost_center = V(Q_CC),
			    .tags = S(Q_TAGS),
			    .price_version = V(Q_VERSION),
			    .unpriced = S(Q_UNPRICED)[0] == 't',
			    .service = S(Q_SVC),
			    .data_residency = S(Q_DR),
			    .inference_geo = S(Q_IG),
			    .speed = S(Q_SP),
			    .long_context = atoi(S(Q_LEVEL)),
			    .component = component_of(S(Q_KIND)),
			    .quantity = S(Q_QTY),
			    .billed_usd = S(Q_BILLED),
			    .unit_usd = S(Q_UNIT),
			    .list_usd = S(Q_LIST),
			    .calls = strtoll(S(Q_CALLS), NULL, 10),
			};
#undef V
#undef S
			if (row.component < 0) {
				tally_err_set(err, TALLY_EINVAL, false,
				              "FOCUS export: unknown price component");
				goto out;
			}
			if (fn(ctx, &row, err) != 0) {
				tally_err_set(err, TALLY_EIO, false, "FOCUS export stopped");
				goto out;
			}
		}
		PQclear(res);
		res = NULL;
		if (rows == 0)
			break;
	}
	PQclear(PQexec(lg->conn, "CLOSE tally_focus"));
	rc = 0;
out:
	PQclear(res);
	if (own)
		ledger_snapshot_end(lg);
	return rc;
}
