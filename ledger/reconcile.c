/* reconcile.c - the ledger statements of reconciliation: imported provider
 * bills with their provenance, the project-to-team map, the drift threshold
 * and its alerts, and the billed-against-ledger comparison. Values travel as
 * $n parameters; money is numeric pico-USD, never float. docs/reconcile.md. */
#include "ledger_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The comparison for the UTC days [$1, $2) (dates). The billed side sums the
 * bill lines per day, provider, canonical model and team (the team the
 * line's project is mapped to, NULL when unmapped). The ledger side sums
 * rollup_daily for the (day, provider) pairs an imported document covers, per
 * canonical model and team: a team keeps its own row for a provider when
 * some project of that provider is mapped to it, the other teams' calls meet
 * the unmapped bill lines. Unmatched bill lines (model NULL) never join the
 * ledger. versions: the price versions that priced the model's calls that day
 * (from the price book); price_changed: a price of the model took effect that day.
 * pct = (billed - ledger) / billed x 100 rounded half away from zero
 * to 2 decimals, in integer arithmetic; NULL when billed is 0. */
#define RC_ROWS                                                                                    \
	"WITH mp AS (SELECT tally_reconcile_provider(provider) AS provider, project, team"         \
	"  FROM reconcile_map),"                                                                   \
	" cov AS (SELECT DISTINCT d::date AS day, tally_reconcile_provider(p) AS provider"         \
	"  FROM reconcile_imports i CROSS JOIN unnest(i.providers) p"                              \
	"  CROSS JOIN generate_series(i.period_start, i.period_end - 1, interval '1 day') d"       \
	"  WHERE i.kind = 'cost' AND i.period_end > $1::date AND i.period_start < $2::date),"      \
	" b AS (SELECT l.day, l.provider, l.model, mp.team, sum(l.amount_pusd) AS billed,"         \
	"  string_agg(DISTINCT l.project, ' ' ORDER BY l.project)"                                 \
	"   FILTER (WHERE l.project <> '') AS projects,"                                           \
	"  string_agg(DISTINCT l.line_item, '; ' ORDER BY l.line_item)"                            \
	"   FILTER (WHERE l.model IS NULL) AS unmatched"                                           \
	"  FROM reconcile_lines l LEFT JOIN mp ON mp.provider = l.provider"                        \
	"   AND mp.project = l.project"                                                            \
	"  WHERE l.day >= $1::date AND l.day < $2::date GROUP BY 1, 2, 3, 4),"                     \
	" c AS (SELECT r.day::date AS day, x.provider, tally_reconcile_model(r.model) AS model,"   \
	"  CASE WHEN EXISTS (SELECT 1 FROM mp WHERE mp.provider = x.provider"                      \
	"   AND mp.team = r.team) THEN r.team END AS team,"                                        \
	"  sum(r.calls) AS calls, sum(r.unpriced_calls) AS unpriced, sum(r.cost_pusd) AS cost,"    \
	"  sum(r.input_tokens) AS lit, sum(r.output_tokens) AS lot"                                \
	"  FROM rollup_daily r"                                                                    \
	"  CROSS JOIN LATERAL (SELECT tally_reconcile_provider(r.provider) AS provider) x"         \
	"  JOIN cov ON cov.day = r.day::date AND cov.provider = x.provider"                        \
	"  WHERE r.day >= $1::date AND r.day < $2::date GROUP BY 1, 2, 3, 4),"                     \
	" j AS (SELECT coalesce(b.day, c.day) AS day,"                                             \
	"  coalesce(b.provider, c.provider) AS provider,"                                          \
	"  coalesce(b.model, c.model) AS model, coalesce(b.team, c.team) AS team, b.projects,"     \
	"  b.unmatched, b.day IS NOT NULL AS billed_p, c.day IS NOT NULL AS ledger_p,"             \
	"  coalesce(b.billed, 0) AS billed, coalesce(c.cost, 0) AS cost,"                          \
	"  coalesce(c.calls, 0) AS calls, coalesce(c.unpriced, 0) AS unpriced,"                    \
	"  coalesce(c.lit, 0) AS lit, coalesce(c.lot, 0) AS lot"                                   \
	"  FROM b FULL JOIN c ON c.day = b.day AND c.provider = b.provider AND c.model = b.model"  \
	"  AND c.team IS NOT DISTINCT FROM b.team)," /* price versions in force during each day    \
	                                              * (from the book: the ledger's charge        \
	                                              * rollups keep components, not versions) */  \
	" rv AS (SELECT d.day::date AS day, v.provider, v.model, count(*) AS n"                    \
	"  FROM (SELECT tally_reconcile_provider(pb.provider) AS provider,"                        \
	"   tally_reconcile_model(pb.model) AS model, pb.effective_from AS f,"                     \
	"   lead(pb.effective_from) OVER (PARTITION BY pb.provider, pb.model"                      \
	"   ORDER BY pb.effective_from) AS t FROM price_book pb) v"                                \
	"  JOIN generate_series($1::date, $2::date - 1, interval '1 day') d(day)"                  \
	"  ON v.f < d.day + interval '1 day' AND (v.t IS NULL OR v.t > d.day)"                     \
	"  GROUP BY 1, 2, 3),"                                                                     \
	" pc AS (SELECT DISTINCT pb.effective_from::date AS day,"                                  \
	"  tally_reconcile_provider(pb.provider) AS provider,"                                     \
	"  tally_reconcile_model(pb.model) AS model FROM price_book pb"                            \
	"  WHERE pb.effective_from >= $1::date AND pb.effective_from < $2::date),"                 \
	" u AS (SELECT x.day, x.provider, x.model, mp.team, sum(x.requests) AS req,"               \
	"  bool_and(x.requests IS NOT NULL) AS req_known, sum(x.input_tokens) AS it,"              \
	"  sum(x.output_tokens) AS ot FROM reconcile_usage x LEFT JOIN mp"                         \
	"  ON mp.provider = x.provider AND mp.project = x.project"                                 \
	"  WHERE x.day >= $1::date AND x.day < $2::date AND x.model IS NOT NULL"                   \
	"  GROUP BY 1, 2, 3, 4)"                                                                   \
	" SELECT to_char(j.day, 'YYYY-MM-DD') AS day, j.provider, j.model, j.team, j.projects,"    \
	"  j.unmatched, j.billed_p, j.ledger_p, j.billed::numeric(40, 0) AS billed,"               \
	"  j.cost::numeric(40, 0) AS ledger, (j.billed - j.cost)::numeric(40, 0) AS diff,"         \
	"  CASE WHEN j.billed <> 0 THEN round((sign(j.billed - j.cost) * sign(j.billed)"           \
	"   * div(abs(j.billed - j.cost) * 20000 + abs(j.billed), 2 * abs(j.billed))) / 100, 2)"   \
	"  END AS pct,"                                                                            \
	"  j.calls, j.unpriced,"                                                                   \
	"  coalesce(rv.n, 0) AS versions, pc.day IS NOT NULL AS price_changed,"                    \
	"  u.day IS NOT NULL AS usage_p, CASE WHEN u.req_known THEN u.req END AS usage_requests,"  \
	"  u.it AS usage_input, u.ot AS usage_output, j.lit AS ledger_input,"                      \
	"  j.lot AS ledger_output"                                                                 \
	" FROM j LEFT JOIN rv ON rv.day = j.day AND rv.provider = j.provider"                      \
	"  AND rv.model = j.model"                                                                 \
	" LEFT JOIN pc ON pc.day = j.day AND pc.provider = j.provider AND pc.model = j.model"      \
	" LEFT JOIN u ON u.day = j.day AND u.provider = j.provider AND u.model = j.model"          \
	"  AND u.team IS NOT DISTINCT FROM j.team"

/* The columns of RC_ROWS, in order. */
enum rc_col {
	RC_DAY,
	RC_PROVIDER,
	RC_MODEL,
	RC_TEAM,
	RC_PROJECTS,
	RC_UNMATCHED,
	RC_BILLED_P,
	RC_LEDGER_P,
	RC_BILLED,
	RC_LEDGER,
	RC_DIFF,
	RC_PCT,
	RC_CALLS,
	RC_UNPRICED,
	RC_VERSIONS,
	RC_PRICE_CHANGED,
	RC_USAGE_P,
	RC_USAGE_REQUESTS,
	RC_USAGE_INPUT,
	RC_USAGE_OUTPUT,
	RC_LEDGER_INPUT,
	RC_LEDGER_OUTPUT,
	RC_NCOLS
};

static const char report_sql[] =
    "SELECT * FROM (" RC_ROWS ") r ORDER BY r.day, r.provider, r.model NULLS LAST,"
    " r.team NULLS LAST";

static const char totals_sql[] =
    "SELECT coalesce(sum(billed), 0)::numeric(40, 0), coalesce(sum(ledger), 0)::numeric(40, 0),"
    " coalesce(sum(diff), 0)::numeric(40, 0),"
    " CASE WHEN sum(billed) <> 0 THEN round((sign(sum(diff)) * sign(sum(billed))"
    "  * div(abs(sum(diff)) * 20000 + abs(sum(billed)), 2 * abs(sum(billed)))) / 100, 2) END"
    " FROM (" RC_ROWS ") r";

/* Drift per day and provider of the imported document's days ($1, $2) and
 * providers ($3) past the threshold: each fires once (UNIQUE (day,
 * provider)), is recorded, audit-logged and queued for the webhook. */
static const char alert_sql[] =
    "WITH r AS (" RC_ROWS "),"
    " s AS (SELECT r.day::date AS day, r.provider, sum(r.billed) AS billed,"
    "  sum(r.ledger) AS ledger FROM r"
    "  WHERE r.provider IN (SELECT tally_reconcile_provider(p) FROM unnest($3::text[]) p)"
    "  GROUP BY 1, 2),"
    " hit AS (SELECT s.*, st.threshold_pct,"
    "  round((sign(s.billed - s.ledger) * sign(s.billed) * div(abs(s.billed - s.ledger) * 20000"
    "   + abs(s.billed), 2 * abs(s.billed))) / 100, 2) AS pct"
    "  FROM s CROSS JOIN reconcile_settings st"
    "  WHERE s.billed <> 0 AND abs(s.billed - s.ledger) * 100 > st.threshold_pct * abs(s.billed)),"
    " ins AS (INSERT INTO reconcile_alerts (day, provider, threshold_pct, billed_pusd,"
    "  ledger_pusd, diff_pct, import_id)"
    "  SELECT day, provider, threshold_pct, billed, ledger, pct, $4::bigint FROM hit"
    "  ORDER BY day, provider ON CONFLICT (day, provider) DO NOTHING RETURNING *),"
    " ob AS (INSERT INTO webhook_outbox (kind, payload)"
    "  SELECT 'reconcile.alert', json_build_object("
    "   'text', format('Reconciliation alert: %s billed $%s on %s, the ledger holds $%s"
    " (%s%% drift, threshold %s%%)', i.provider,"
    "    round(i.billed_pusd / 1000000000000::numeric, 2), to_char(i.day, 'YYYY-MM-DD'),"
    "    round(i.ledger_pusd / 1000000000000::numeric, 2), i.diff_pct, i.threshold_pct),"
    "   'event', 'reconcile.alert', 'alert_id', i.id, 'day', to_char(i.day, 'YYYY-MM-DD'),"
    "   'provider', i.provider,"
    "   'billed_usd', round(i.billed_pusd / 1000000000000::numeric, 12)::text,"
    "   'ledger_usd', round(i.ledger_pusd / 1000000000000::numeric, 12)::text,"
    "   'diff_usd', round((i.billed_pusd - i.ledger_pusd) / 1000000000000::numeric, 12)::text,"
    "   'diff_pct', i.diff_pct::text, 'threshold_pct', i.threshold_pct::text,"
    "   'import_id', i.import_id,"
    "   'fired_at', " SQL_ISO(
        "i.fired_at") ")::text"
                      "  FROM ins i ORDER BY i.id RETURNING id),"
                      " au AS (INSERT INTO audit_log (actor, action, details)"
                      "  SELECT 'tally', 'reconcile.alert', jsonb_build_object('alert_id', i.id,"
                      "   'day', to_char(i.day, 'YYYY-MM-DD'), 'provider', i.provider,"
                      "   'diff_pct', i.diff_pct::text, 'threshold_pct', i.threshold_pct::text) "
                      "FROM ins i)"
                      " SELECT (SELECT count(*) FROM ob)";

/* An import replaces the rows of its source and providers on its days; a
 * usage document's in reconcile_usage, a cost document's in reconcile_lines.
 * $1 source, $2 providers, $3 first day, $4 day after the last. */
#define DELETE_SQL(TABLE)                                                                          \
	"WITH del AS (DELETE FROM " TABLE " WHERE source = $1"                                     \
	" AND provider IN (SELECT tally_reconcile_provider(p) FROM unnest($2::text[]) p)"          \
	" AND day >= $3::date AND day < $4::date RETURNING 1) SELECT count(*) FROM del"
static const char delete_lines_sql[] = DELETE_SQL("reconcile_lines");
static const char delete_usage_sql[] = DELETE_SQL("reconcile_usage");

/* The document's lines ($2, JSON), summed per day and line identity. */
#define LINES_FROM_JSON                                                                            \
	" FROM json_to_recordset($2::json) AS x(d date, p text, j text, l text, m text,"           \
	" a numeric, i bigint, o bigint, r bigint)"                                                \
	" GROUP BY x.d, tally_reconcile_provider(x.p), x.j, x.l"
static const char insert_lines_sql[] =
    "WITH ins AS (INSERT INTO reconcile_lines (source, day, provider, project, line_item,"
    " model, amount_pusd, import_id)"
    " SELECT $1, x.d, tally_reconcile_provider(x.p), x.j, x.l,"
    " tally_reconcile_model(min(x.m)), sum(x.a), $3::bigint" LINES_FROM_JSON
    " ON CONFLICT (source, day, provider, project, line_item) DO UPDATE"
    " SET model = EXCLUDED.model, amount_pusd = EXCLUDED.amount_pusd,"
    " import_id = EXCLUDED.import_id RETURNING 1)"
    " SELECT count(*) FROM ins";
/* requests stay NULL when any line of the group does not count them. */
static const char insert_usage_sql[] =
    "WITH ins AS (INSERT INTO reconcile_usage (source, day, provider, project, line_item,"
    " model, requests, input_tokens, output_tokens, import_id)"
    " SELECT $1, x.d, tally_reconcile_provider(x.p), x.j, x.l,"
    " tally_reconcile_model(min(x.m)),"
    " CASE WHEN bool_and(x.r IS NOT NULL) THEN sum(x.r) END, sum(x.i), sum(x.o),"
    " $3::bigint" LINES_FROM_JSON
    " ON CONFLICT (source, day, provider, project, line_item) DO UPDATE"
    " SET model = EXCLUDED.model, requests = EXCLUDED.requests,"
    " input_tokens = EXCLUDED.input_tokens, output_tokens = EXCLUDED.output_tokens,"
    " import_id = EXCLUDED.import_id RETURNING 1)"
    " SELECT count(*) FROM ins";

/* ---- import ---------------------------------------------------------------------- */

int ledger_reconcile_store(struct ledger *lg, const struct reconcile_doc *d, const char *file_name,
                           const char *sha256, const char *actor,
                           struct reconcile_import_result *res, struct tally_err *err)
{
	struct sbuf lines, provs;
	char id[24] = "", nlines[24], nskip[24], nrep[24];
	const char *src = reconcile_source_name(d->source);
	PGresult *r = NULL;
	int rc = -1;

	memset(res, 0, sizeof *res);
	sbuf_init(&lines);
	sbuf_init(&provs);
	/* The providers the document bills: its rows replace theirs. */
	sbuf_putc(&provs, '{');
	if (d->source != RECONCILE_FOCUS)
		ledger_array_elem(&provs, src);
	for (size_t i = 0; i < d->n; i++) {
		bool seen = d->source != RECONCILE_FOCUS;
		for (size_t k = 0; k < i && !seen; k++)
			seen = strcmp(d->lines[k].provider, d->lines[i].provider) == 0;
		if (!seen) {
			if (provs.len > 1)
				sbuf_putc(&provs, ',');
			ledger_array_elem(&provs, d->lines[i].provider);
		}
	}
	sbuf_puts(&provs, "}");
	sbuf_putc(&provs, '\0');
	sbuf_putc(&lines, '[');
	for (size_t i = 0; i < d->n; i++) {
		const struct reconcile_line *l = &d->lines[i];
		sbuf_printf(&lines, "%s{\"d\":\"%s\",\"p\":", i ? "," : "", l->day);
		sbuf_json_str(&lines, l->provider);
		sbuf_puts(&lines, ",\"j\":");
		sbuf_json_str(&lines, l->project);
		sbuf_puts(&lines, ",\"l\":");
		sbuf_json_str(&lines, l->line_item);
		sbuf_puts(&lines, ",\"m\":");
		sbuf_json_str(&lines, l->model);
		sbuf_printf(&lines, ",\"a\":\"%lld\",\"i\":%lld,\"o\":%lld",
		            (long long)l->amount_pusd, (long long)l->input_tokens,
		            (long long)l->output_tokens);
		if (l->requests >= 0)
			sbuf_printf(&lines, ",\"r\":%lld}", (long long)l->requests);
		else
			sbuf_puts(&lines, ",\"r\":null}");
	}
	sbuf_puts(&lines, "]");
	sbuf_putc(&lines, '\0');
	if (lines.oom || provs.oom) {
		tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
		goto out;
	}
	snprintf(nskip, sizeof nskip, "%zu", d->skipped);
	if (ledger_exec(lg, "BEGIN", err) < 0)
		goto out;
	{
		const char *p[9] = {src,
		                    file_name,
		                    sha256,
		                    d->period_start,
		                    d->period_end,
		                    provs.p,
		                    nskip,
		                    actor ? actor : "tally",
		                    d->usage ? "usage" : "cost"};
		if (ledger_exec_params(
		        lg,
		        "INSERT INTO reconcile_imports (source, kind, file_name, sha256,"
		        " period_start, period_end, providers, lines, skipped, imported_by)"
		        " VALUES ($1, $9, $2, $3, $4, $5, ARRAY(SELECT DISTINCT"
		        " tally_reconcile_provider(p) FROM unnest($6::text[]) p ORDER BY 1),"
		        " 0, $7, $8) RETURNING id",
		        9, p, "reconcile import", &r, err) < 0)
			goto fail;
		str_copy(id, sizeof id, PQgetvalue(r, 0, 0));
		PQclear(r);
		r = NULL;
	}
	{
		const char *p[4] = {src, provs.p, d->period_start, d->period_end};
		if (ledger_exec_params(lg, d->usage ? delete_usage_sql : delete_lines_sql, 4, p,
		                       "reconcile import", &r, err) < 0)
			goto fail;
		res->replaced = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
		PQclear(r);
		r = NULL;
	}
	{
		const char *p[3] = {src, lines.p, id};
		if (ledger_exec_params(lg, d->usage ? insert_usage_sql : insert_lines_sql, 3, p,
		                       "reconcile lines", &r, err) < 0)
			goto fail;
		res->lines = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
		PQclear(r);
		r = NULL;
	}
	snprintf(nlines, sizeof nlines, "%zu", res->lines);
	snprintf(nrep, sizeof nrep, "%zu", res->replaced);
	{
		const char *p[2] = {id, nlines};
		if (ledger_exec_params(lg, "UPDATE reconcile_imports SET lines = $2 WHERE id = $1",
		                       2, p, "reconcile import", NULL, err) < 0)
			goto fail;
	}
	{
		const char *p[9] = {
		    actor ? actor : "tally", id,     src, file_name, sha256, d->period_start,
		    d->period_end,           nlines, nrep};
		if (ledger_exec_params(
		        lg,
		        "INSERT INTO audit_log (actor, action, details) VALUES ($1,"
		        " 'reconcile.import', jsonb_build_object('import_id', $2::bigint,"
		        " 'source', $3::text, 'file', $4::text, 'sha256', $5::text,"
		        " 'period_start', $6::text, 'period_end', $7::text,"
		        " 'lines', $8::int, 'replaced', $9::int))",
		        9, p, "audit log", NULL, err) < 0)
			goto fail;
	}
	/* Usage documents bill nothing: drift is judged on cost imports. */
	if (!d->usage) {
		const char *p[4] = {d->period_start, d->period_end, provs.p, id};
		if (ledger_exec_params(lg, alert_sql, 4, p, "reconcile alerts", &r, err) < 0)
			goto fail;
		res->alerts = atoi(PQgetvalue(r, 0, 0));
		PQclear(r);
		r = NULL;
	}
	res->import_id = strtoll(id, NULL, 10);
	rc = ledger_tx_end(lg, 0, err);
	goto out;
fail:
	ledger_tx_end(lg, -1, err);
out:
	PQclear(r);
	sbuf_cleanup(&lines);
	sbuf_cleanup(&provs);
	return rc;
}

/* ---- map and threshold ------------------------------------------------------------- */

int ledger_reconcile_map_set(struct ledger *lg, const char *provider, const char *project,
                             const char *team, const char *actor, bool *found,
                             struct tally_err *err)
{
	const char *p[4] = {provider, project, team && *team ? team : NULL,
	                    actor ? actor : "tally"};
	PGresult *r = NULL;
	int rc;

	*found = true;
	if (ledger_exec(lg, "BEGIN", err) < 0)
		return -1;
	if (p[2])
		rc = ledger_exec_params(
		    lg,
		    "INSERT INTO reconcile_map (provider, project, team)"
		    " VALUES (tally_reconcile_provider($1), $2, $3)"
		    " ON CONFLICT (provider, project) DO UPDATE SET team = EXCLUDED.team,"
		    " updated_at = now()",
		    3, p, "reconcile map", NULL, err);
	else {
		rc =
		    ledger_exec_params(lg,
		                       "WITH d AS (DELETE FROM reconcile_map WHERE provider ="
		                       " tally_reconcile_provider($1) AND project = $2 RETURNING 1)"
		                       " SELECT count(*) FROM d",
		                       2, p, "reconcile map", &r, err);
		if (rc == 0) {
			*found = atoi(PQgetvalue(r, 0, 0)) > 0;
			PQclear(r);
		}
	}
	if (rc == 0 && *found)
		rc = ledger_exec_params(
		    lg,
		    "INSERT INTO audit_log (actor, action, details) VALUES ($4,"
		    " 'reconcile.map', jsonb_build_object('provider',"
		    " tally_reconcile_provider($1), 'project', $2::text, 'team', $3::text))",
		    4, p, "audit log", NULL, err);
	return ledger_tx_end(lg, rc, err);
}

/* The columns of map_list_sql. */
enum map_col { MAP_PROVIDER, MAP_PROJECT, MAP_TEAM, MAP_UPDATED_AT };
static const char map_list_sql[] =
    "SELECT provider, project, team,"
    " " SQL_ISO("updated_at") " FROM reconcile_map ORDER BY provider, project";

static void map_row(const PGresult *r, int i, void *row)
{
	struct reconcile_map_row *m = row;
	ledger_str(r, i, MAP_PROVIDER, m->provider, sizeof m->provider);
	ledger_str(r, i, MAP_PROJECT, m->project, sizeof m->project);
	ledger_str(r, i, MAP_TEAM, m->team, sizeof m->team);
	ledger_str(r, i, MAP_UPDATED_AT, m->updated_at, sizeof m->updated_at);
}

int ledger_reconcile_map_list(struct ledger *lg, struct reconcile_map_row **rows, size_t *n,
                              struct tally_err *err)
{
	return ledger_load_rows(lg, map_list_sql, 0, NULL, "reconcile map", sizeof **rows, map_row,
	                        rows, n, err);
}

int ledger_reconcile_threshold_set(struct ledger *lg, const char *pct, const char *actor,
                                   struct tally_err *err)
{
	const char *p[2] = {pct, actor ? actor : "tally"};
	int rc;

	if (ledger_exec(lg, "BEGIN", err) < 0)
		return -1;
	if (pct)
		rc = ledger_exec_params(
		    lg,
		    "INSERT INTO reconcile_settings (threshold_pct) VALUES ($1::numeric)"
		    " ON CONFLICT (id) DO UPDATE SET threshold_pct = EXCLUDED.threshold_pct,"
		    " updated_at = now()",
		    1, p, "reconcile threshold", NULL, err);
	else
		rc = ledger_exec_params(lg, "DELETE FROM reconcile_settings", 0, NULL,
		                        "reconcile threshold", NULL, err);
	if (rc == 0)
		rc = ledger_exec_params(
		    lg,
		    "INSERT INTO audit_log (actor, action, details) VALUES ($2,"
		    " 'reconcile.threshold', jsonb_build_object('threshold_pct', $1::text))",
		    2, p, "audit log", NULL, err);
	return ledger_tx_end(lg, rc, err);
}

/* ---- the comparison ---------------------------------------------------------------- */

static void reconcile_row(const PGresult *r, int i, void *dst)
{
	struct reconcile_row *row = dst;
	ledger_str(r, i, RC_DAY, row->day, sizeof row->day);
	ledger_str(r, i, RC_PROVIDER, row->provider, sizeof row->provider);
	ledger_str(r, i, RC_MODEL, row->model, sizeof row->model);
	row->unmatched = PQgetisnull(r, i, RC_MODEL);
	ledger_str(r, i, RC_TEAM, row->team, sizeof row->team);
	row->unmapped = PQgetisnull(r, i, RC_TEAM);
	ledger_str(r, i, RC_PROJECTS, row->projects, sizeof row->projects);
	ledger_str(r, i, RC_UNMATCHED, row->unmatched_lines, sizeof row->unmatched_lines);
	row->billed = ledger_bool(r, i, RC_BILLED_P);
	row->in_ledger = ledger_bool(r, i, RC_LEDGER_P);
	ledger_str(r, i, RC_BILLED, row->billed_pusd, sizeof row->billed_pusd);
	ledger_str(r, i, RC_LEDGER, row->ledger_pusd, sizeof row->ledger_pusd);
	ledger_str(r, i, RC_DIFF, row->diff_pusd, sizeof row->diff_pusd);
	ledger_str(r, i, RC_PCT, row->diff_pct, sizeof row->diff_pct);
	row->calls = ledger_i64(r, i, RC_CALLS);
	row->unpriced_calls = ledger_i64(r, i, RC_UNPRICED);
	row->price_versions = ledger_i64(r, i, RC_VERSIONS);
	row->price_changed = ledger_bool(r, i, RC_PRICE_CHANGED);
	row->usage = ledger_bool(r, i, RC_USAGE_P);
	row->usage_requests =
	    PQgetisnull(r, i, RC_USAGE_REQUESTS) ? -1 : ledger_i64(r, i, RC_USAGE_REQUESTS);
	ledger_str(r, i, RC_USAGE_INPUT, row->usage_input, sizeof row->usage_input);
	ledger_str(r, i, RC_USAGE_OUTPUT, row->usage_output, sizeof row->usage_output);
	ledger_str(r, i, RC_LEDGER_INPUT, row->ledger_input, sizeof row->ledger_input);
	ledger_str(r, i, RC_LEDGER_OUTPUT, row->ledger_output, sizeof row->ledger_output);
}

int ledger_reconcile(struct ledger *lg, int64_t from_us, int64_t to_us,
                     struct reconcile_result *out, struct tally_err *err)
{
	char from[40], to[40];
	PGresult *r = NULL;

	memset(out, 0, sizeof *out);
	time_format(from_us, from);
	time_format(to_us, to);
	/* The UTC days [from, to) touches. */
	const char *p[2] = {from, to};
	char fday[16], tday[16];
	if (ledger_exec_params(
	        lg,
	        "SELECT to_char(date_trunc('day', $1::timestamptz), 'YYYY-MM-DD'),"
	        " to_char(date_trunc('day', $2::timestamptz - interval '1 microsecond')"
	        " + interval '1 day', 'YYYY-MM-DD')",
	        2, p, "reconcile", &r, err) < 0)
		return -1;
	ledger_str(r, 0, 0, fday, sizeof fday);
	ledger_str(r, 0, 1, tday, sizeof tday);
	PQclear(r);
	r = NULL;
	const char *pd[2] = {fday, tday};
	if (ledger_load_rows(lg, report_sql, 2, pd, "reconcile", sizeof *out->rows, reconcile_row,
	                     &out->rows, &out->n, err) < 0)
		return -1;
	if (ledger_exec_params(lg, totals_sql, 2, pd, "reconcile", &r, err) < 0) {
		reconcile_result_cleanup(out);
		return -1;
	}
	ledger_str(r, 0, 0, out->billed_pusd, sizeof out->billed_pusd);
	ledger_str(r, 0, 1, out->ledger_pusd, sizeof out->ledger_pusd);
	ledger_str(r, 0, 2, out->diff_pusd, sizeof out->diff_pusd);
	ledger_str(r, 0, 3, out->diff_pct, sizeof out->diff_pct);
	PQclear(r);
	return 0;
}

void reconcile_result_cleanup(struct reconcile_result *r)
{
	if (!r)
		return;
	free(r->rows);
	r->rows = NULL;
	r->n = 0;
}

/* The columns of alerts_sql. */
enum alert_col {
	AL_ID,
	AL_IMPORT_ID,
	AL_DAY,
	AL_PROVIDER,
	AL_THRESHOLD_PCT,
	AL_DIFF_PCT,
	AL_BILLED,
	AL_LEDGER,
	AL_FIRED_AT
};
static const char alerts_sql[] =
    "SELECT id, import_id, to_char(day, 'YYYY-MM-DD'), provider, threshold_pct,"
    " coalesce(diff_pct::text, ''), billed_pusd, ledger_pusd,"
    " " SQL_ISO("fired_at") " FROM reconcile_alerts ORDER BY id DESC LIMIT $1";

static void alert_row(const PGresult *r, int i, void *row)
{
	struct reconcile_alert_row *a = row;
	a->id = ledger_i64(r, i, AL_ID);
	a->import_id = ledger_i64(r, i, AL_IMPORT_ID);
	ledger_str(r, i, AL_DAY, a->day, sizeof a->day);
	ledger_str(r, i, AL_PROVIDER, a->provider, sizeof a->provider);
	ledger_str(r, i, AL_THRESHOLD_PCT, a->threshold_pct, sizeof a->threshold_pct);
	ledger_str(r, i, AL_DIFF_PCT, a->diff_pct, sizeof a->diff_pct);
	ledger_str(r, i, AL_BILLED, a->billed_pusd, sizeof a->billed_pusd);
	ledger_str(r, i, AL_LEDGER, a->ledger_pusd, sizeof a->ledger_pusd);
	ledger_str(r, i, AL_FIRED_AT, a->fired_at, sizeof a->fired_at);
}

int ledger_reconcile_alerts(struct ledger *lg, int limit, struct reconcile_alert_row **rows,
                            size_t *n, struct tally_err *err)
{
	char lim[16];
	const char *p[1] = {lim};

	snprintf(lim, sizeof lim, "%d", limit);
	return ledger_load_rows(lg, alerts_sql, 1, p, "reconcile alerts", sizeof **rows, alert_row,
	                        rows, n, err);
}
