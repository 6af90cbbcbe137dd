/* router_sql.c - the router's statements: incremental statistics from the
 * calls, overrides, policy versions with their audit entries and webhooks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger_int.h"

#define ISO(col) "to_char(" col ", 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

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

int ledger_router_load_stats(struct ledger *lg, int64_t since_us, struct router_stat_row **rows,
                             size_t *n, struct tally_err *err)
{
	char since[40];
	const char *p[1] = {since};
	PGresult *res = NULL;

	*rows = NULL;
	*n = 0;
	time_format(since_us, since);
	/* newest day first: the first row of a cell names its current model */
	if (ledger_exec_params(
	        lg,
	        "SELECT task_type, tier, model, calls, priced_calls, cost_pusd::text, quality_n,"
	        " quality_sum, quality_sumsq, latency_hist::text FROM router_stats"
	        " WHERE day >= ($1::timestamptz AT TIME ZONE 'UTC')::date"
	        " ORDER BY task_type, tier, day DESC",
	        1, p, "router statistics", &res, err) < 0)
		return -1;
	int nt = PQntuples(res);
	struct router_stat_row *out = calloc(nt ? (size_t)nt : 1, sizeof *out);
	size_t k = 0;
	if (!out) {
		PQclear(res);
		return tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
	}
	for (int i = 0; i < nt; i++) {
		const char *task = PQgetvalue(res, i, 0), *tier = PQgetvalue(res, i, 1);
		struct router_stat_row *r;
		int64_t cost = 0;
		if (k && strcmp(out[k - 1].task_type, task) == 0 &&
		    strcmp(out[k - 1].tier, tier) == 0) {
			r = &out[k - 1];
		} else {
			r = &out[k++];
			snprintf(r->task_type, sizeof r->task_type, "%s", task);
			snprintf(r->tier, sizeof r->tier, "%s", tier);
			snprintf(r->model, sizeof r->model, "%s", PQgetvalue(res, i, 2));
		}
		if (parse_i64(PQgetvalue(res, i, 5), &cost) < 0 ||
		    cost > INT64_MAX - r->cost_pusd) {
			PQclear(res);
			free(out);
			return tally_err_set(err, TALLY_ERANGE, false,
			                     "router statistics: cost of %s/%s out of range", task,
			                     tier);
		}
		r->calls += strtoll(PQgetvalue(res, i, 3), NULL, 10);
		r->priced_calls += strtoll(PQgetvalue(res, i, 4), NULL, 10);
		r->cost_pusd += cost;
		r->quality_n += strtoll(PQgetvalue(res, i, 6), NULL, 10);
		r->quality_sum += strtod(PQgetvalue(res, i, 7), NULL);
		r->quality_sumsq += strtod(PQgetvalue(res, i, 8), NULL);
		parse_int_array(PQgetvalue(res, i, 9), r->latency_hist, LEDGER_ROUTER_LAT_BUCKETS);
	}
	PQclear(res);
	*rows = out;
	*n = k;
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
	/* only the workflows that may have a decision of their own: some tier
	 * has min_samples quality samples; the rest follow their task type */
	if (ledger_exec_params(
	        lg,
	        "WITH s AS (SELECT task_type, workflow, tier, sum(calls) AS calls,"
	        "  sum(priced_calls) AS priced, sum(cost_pusd) AS cost, sum(quality_n) AS qn,"
	        "  sum(quality_sum) AS qs, sum(quality_sumsq) AS qq FROM router_workflow_stats"
	        "  WHERE day >= ($1::timestamptz AT TIME ZONE 'UTC')::date GROUP BY 1, 2, 3),"
	        " k AS (SELECT DISTINCT task_type, workflow FROM s WHERE qn >= $2::bigint)"
	        " SELECT s.task_type, s.workflow, s.tier, s.calls, s.priced, s.cost::text, s.qn,"
	        " s.qs, s.qq FROM s JOIN k USING (task_type, workflow)"
	        " ORDER BY s.task_type COLLATE \"C\", s.workflow COLLATE \"C\","
	        " s.tier COLLATE \"C\"",
	        2, p, "router workflow statistics", &res, err) < 0)
		return -1;
	int nt = PQntuples(res);
	struct router_workflow_stat_row *out = calloc(nt ? (size_t)nt : 1, sizeof *out);
	if (!out) {
		PQclear(res);
		return tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
	}
	for (int i = 0; i < nt; i++) {
		struct router_workflow_stat_row *r = &out[i];
		snprintf(r->task_type, sizeof r->task_type, "%s", PQgetvalue(res, i, 0));
		snprintf(r->workflow, sizeof r->workflow, "%s", PQgetvalue(res, i, 1));
		snprintf(r->tier, sizeof r->tier, "%s", PQgetvalue(res, i, 2));
		if (parse_i64(PQgetvalue(res, i, 5), &r->cost_pusd) < 0) {
			PQclear(res);
			free(out);
			return tally_err_set(err, TALLY_ERANGE, false,
			                     "router workflow statistics: cost of %s/%s/%s out of "
			                     "range",
			                     r->task_type, r->workflow, r->tier);
		}
		r->calls = strtoll(PQgetvalue(res, i, 3), NULL, 10);
		r->priced_calls = strtoll(PQgetvalue(res, i, 4), NULL, 10);
		r->quality_n = strtoll(PQgetvalue(res, i, 6), NULL, 10);
		r->quality_sum = strtod(PQgetvalue(res, i, 7), NULL);
		r->quality_sumsq = strtod(PQgetvalue(res, i, 8), NULL);
	}
	PQclear(res);
	*rows = out;
	*n = (size_t)nt;
	return 0;
}

int ledger_router_overrides(struct ledger *lg, struct router_override_row **rows, size_t *n,
                            struct tally_err *err)
{
	PGresult *res = NULL;
	*rows = NULL;
	*n = 0;
	if (ledger_exec_params(
	        lg,
	        "SELECT task_type, tolerance, coalesce(pinned_tier, ''),"
	        " coalesce(array_to_json(allowed_tiers)::text, '[]'), " ISO(
	            "updated_at") ","
	                          " updated_by FROM router_overrides ORDER BY task_type",
	        0, NULL, "router overrides", &res, err) < 0)
		return -1;
	int nt = PQntuples(res);
	struct router_override_row *out = calloc(nt ? (size_t)nt : 1, sizeof *out);
	if (!out) {
		PQclear(res);
		return tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
	}
	for (int i = 0; i < nt; i++) {
		struct router_override_row *o = &out[i];
		snprintf(o->task_type, sizeof o->task_type, "%s", PQgetvalue(res, i, 0));
		if (!PQgetisnull(res, i, 1)) {
			o->has_tolerance = true;
			o->tolerance = strtod(PQgetvalue(res, i, 1), NULL);
		}
		snprintf(o->pinned, sizeof o->pinned, "%s", PQgetvalue(res, i, 2));
		/* a JSON array of strings without escapes (tier names are checked on
		 * the way in): split on quotes */
		const char *s = PQgetvalue(res, i, 3);
		while ((s = strchr(s, '"')) && o->n_allowed < LEDGER_ROUTER_MAX_ALLOWED) {
			const char *e = strchr(s + 1, '"');
			if (!e)
				break;
			snprintf(o->allowed[o->n_allowed++], sizeof o->allowed[0], "%.*s",
			         (int)(e - s - 1), s + 1);
			s = e + 1;
		}
		snprintf(o->updated_at, sizeof o->updated_at, "%s", PQgetvalue(res, i, 4));
		snprintf(o->updated_by, sizeof o->updated_by, "%s", PQgetvalue(res, i, 5));
	}
	PQclear(res);
	*rows = out;
	*n = (size_t)nt;
	return 0;
}

int ledger_router_override_set(struct ledger *lg, const struct router_override_row *o,
                               const char *actor, struct tally_err *err)
{
	char tol[40];
	struct sbuf allowed;
	int rc;

	for (size_t i = 0; i < o->n_allowed; i++)
		for (const char *c = o->allowed[i]; *c; c++)
			if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20)
				return tally_err_set(err, TALLY_EINVAL, false,
				                     "tier names may not contain quotes, "
				                     "backslashes or control characters");
	snprintf(tol, sizeof tol, "%.17g", o->tolerance);
	sbuf_init(&allowed);
	sbuf_putc(&allowed, '[');
	for (size_t i = 0; i < o->n_allowed; i++) {
		if (i)
			sbuf_putc(&allowed, ',');
		sbuf_json_str(&allowed, o->allowed[i]);
	}
	sbuf_putc(&allowed, ']');
	const char *p[5] = {o->task_type, o->has_tolerance ? tol : NULL,
	                    o->pinned[0] ? o->pinned : NULL, o->n_allowed ? allowed.p : NULL,
	                    actor};
	if (allowed.oom) {
		sbuf_cleanup(&allowed);
		return tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
	}
	rc = ledger_exec(lg, "BEGIN", err);
	if (rc == 0)
		rc = ledger_exec_params(
		    lg,
		    "INSERT INTO router_overrides (task_type, tolerance, pinned_tier,"
		    " allowed_tiers, updated_by)"
		    " VALUES ($1, $2::double precision, $3,"
		    "  ARRAY(SELECT jsonb_array_elements_text($4::jsonb)), $5)"
		    " ON CONFLICT (task_type) DO UPDATE SET tolerance = EXCLUDED.tolerance,"
		    " pinned_tier = EXCLUDED.pinned_tier, allowed_tiers = EXCLUDED.allowed_tiers,"
		    " updated_at = now(), updated_by = EXCLUDED.updated_by",
		    5, p, "router override", NULL, err);
	if (rc == 0)
		rc = ledger_exec_params(
		    lg,
		    "INSERT INTO audit_log (actor, action, details)"
		    " VALUES ($5, 'router.override_set', jsonb_build_object('task_type', $1::text,"
		    " 'tolerance', $2::double precision, 'pinned_tier', $3::text,"
		    " 'allowed_tiers', $4::jsonb))",
		    5, p, "audit log", NULL, err);
	sbuf_cleanup(&allowed);
	return ledger_tx_end(lg, rc, err);
}

int ledger_router_override_delete(struct ledger *lg, const char *task_type, const char *actor,
                                  bool *found, struct tally_err *err)
{
	const char *p[2] = {task_type, actor};
	PGresult *res = NULL;

	*found = false;
	if (ledger_exec_params(
	        lg,
	        "WITH d AS (DELETE FROM router_overrides WHERE task_type = $1 RETURNING task_type),"
	        " a AS (INSERT INTO audit_log (actor, action, details)"
	        "  SELECT $2, 'router.override_delete', jsonb_build_object('task_type', task_type)"
	        "  FROM d)"
	        " SELECT count(*) FROM d",
	        2, p, "router override", &res, err) < 0)
		return -1;
	*found = strcmp(PQgetvalue(res, 0, 0), "0") != 0;
	PQclear(res);
	return 0;
}

int ledger_router_latest(struct ledger *lg, int64_t *version, char **policy_json,
                         char **workflow_policy_json, struct tally_err *err)
{
	PGresult *res = NULL;
	*version = 0;
	*policy_json = NULL;
	if (workflow_policy_json)
		*workflow_policy_json = NULL;
	if (ledger_exec_params(
	        lg,
	        "SELECT version, policy::text, workflow_policy::text FROM router_policy_versions"
	        " ORDER BY version DESC LIMIT 1",
	        0, NULL, "router policy", &res, err) < 0)
		return -1;
	if (PQntuples(res) == 1) {
		*version = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		*policy_json = strdup(PQgetvalue(res, 0, 1));
		if (workflow_policy_json)
			*workflow_policy_json = strdup(PQgetvalue(res, 0, 2));
		if (!*policy_json || (workflow_policy_json && !*workflow_policy_json)) {
			PQclear(res);
			free(*policy_json);
			*policy_json = NULL;
			if (workflow_policy_json) {
				free(*workflow_policy_json);
				*workflow_policy_json = NULL;
			}
			return tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
		}
	}
	PQclear(res);
	return 0;
}

int ledger_router_store_version(struct ledger *lg, const char *trigger, const char *policy_json,
                                const char *workflow_policy_json, const char *changes_json,
                                int n_task_changes, int n_workflow_changes, int64_t saving_pusd,
                                int64_t *version, struct tally_err *err)
{
	char saving[48], saving_usd[48], what[96];
	PGresult *res = NULL;

	snprintf(saving, sizeof saving, "%lld", (long long)saving_pusd);
	money_format(saving_pusd, 12, saving_usd, sizeof saving_usd);
	if (n_workflow_changes == 0)
		snprintf(what, sizeof what, "%d task type(s) changed", n_task_changes);
	else if (n_task_changes == 0)
		snprintf(what, sizeof what, "%d workflow(s) changed", n_workflow_changes);
	else
		snprintf(what, sizeof what, "%d task type(s) and %d workflow(s) changed",
		         n_task_changes, n_workflow_changes);
	const char *p[7] = {trigger,    policy_json, changes_json,        saving,
	                    saving_usd, what,        workflow_policy_json};
	/* the version, its audit entry and its webhook commit together; the
	 * payload is the exact body that the outbox signs and sends */
	if (ledger_exec_params(
	        lg,
	        "WITH v AS (INSERT INTO router_policy_versions (trigger, policy, workflow_policy,"
	        "  changes, projected_monthly_saving_pusd)"
	        "  VALUES ($1, $2::jsonb, $7::jsonb, $3::jsonb, $4::numeric)"
	        "  RETURNING version, created_at),"
	        " au AS (INSERT INTO audit_log (actor, action, details)"
	        "  SELECT 'router', 'router.policy_version', jsonb_build_object('version', "
	        "v.version,"
	        "   'trigger', $1::text, 'changes', $3::jsonb,"
	        "   'projected_monthly_saving_usd', $5::text) FROM v),"
	        " ob AS (INSERT INTO webhook_outbox (kind, payload)"
	        "  SELECT 'router.policy', json_build_object("
	        /* a version that costs more is announced as such, never as a
	         * negative saving */
	        "   'text', format('Routing policy version %s: %s, %s', v.version, $6::text,"
	        "    CASE WHEN $4::numeric < 0 THEN format('projected extra cost $%s a month"
	        " (for quality)', round(-$4::numeric / 1000000000000::numeric, 2))"
	        "    ELSE format('projected saving $%s a month',"
	        "     round($4::numeric / 1000000000000::numeric, 2)) END),"
	        "   'event', 'router.policy', 'version', v.version,"
	        "   'created_at', " ISO(
	            "v.created_at") ", 'trigger', $1::text,"
	                            "   'changes', $3::jsonb, 'policy', $2::jsonb, "
	                            "'workflow_policy', $7::jsonb,"
	                            "   'projected_monthly_saving_usd',"
	                            "   CASE WHEN $4::numeric < 0 THEN '0.000000000000' ELSE "
	                            "$5::text END,"
	                            "   'projected_monthly_extra_cost_usd',"
	                            "   (greatest(-$4::numeric, 0) / 1000000000000::numeric)"
	                            "   ::numeric(40, 12)::text)::text FROM v)"
	                            " SELECT version FROM v",
	        7, p, "router policy version", &res, err) < 0)
		return -1;
	*version = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return 0;
}

int ledger_router_history(struct ledger *lg, int64_t limit, char **json, struct tally_err *err)
{
	char lim[32];
	const char *p[1] = {lim};
	PGresult *res = NULL;

	*json = NULL;
	snprintf(lim, sizeof lim, "%lld", (long long)(limit > 0 ? limit : 50));
	if (ledger_exec_params(
	        lg,
	        "SELECT coalesce(json_agg(json_build_object('version', version,"
	        " 'created_at', " ISO(
	            "created_at") ", 'trigger', trigger, 'policy', policy,"
	                          " 'workflow_policy', workflow_policy,"
	                          " 'changes', changes, 'projected_monthly_saving_usd',"
	                          " (greatest(projected_monthly_saving_pusd, 0) / "
	                          "1000000000000::numeric)::numeric(40, 12)::text,"
	                          " 'projected_monthly_extra_cost_usd',"
	                          " (greatest(-projected_monthly_saving_pusd, 0) / "
	                          "1000000000000::numeric)::numeric(40, 12)::text)"
	                          " ORDER BY version DESC), '[]')::text"
	                          " FROM (SELECT * FROM router_policy_versions ORDER BY version "
	                          "DESC LIMIT $1::bigint) v",
	        1, p, "router history", &res, err) < 0)
		return -1;
	*json = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (!*json)
		return tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
	return 0;
}

int ledger_router_over_tier(struct ledger *lg, int64_t from_us, int64_t to_us, int64_t version,
                            struct router_over_tier_row **rows, size_t *n,
                            struct router_over_tier_basis *basis, struct tally_err *err)
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
	/* one row at least (the basis), the task types' after it */
	if (ledger_exec_params(
	        lg,
	        "WITH" LEDGER_OVER_TIER_CTES(
	            "$1", "$2",
	            "$3") ","
	                  " o AS (SELECT task_type, policy_tier AS tier, sum(n) AS calls, "
	                  "sum(cost) AS cost,"
	                  "  sum(n * per_call) AS under FROM dear GROUP BY 1, 2)"
	                  " SELECT o.task_type, o.tier, o.calls, o.cost::text, o.under::text,"
	                  " (o.cost - o.under)::text, j.judges, j.versions"
	                  " FROM judged j LEFT JOIN o ON true"
	                  " ORDER BY o.task_type IS NOT NULL, o.cost - o.under DESC, o.task_type, "
	                  "o.tier",
	        3, p, "over-tier spend", &res, err) < 0)
		return -1;
	int nt = PQntuples(res);
	struct router_over_tier_row *out = calloc(nt ? (size_t)nt : 1, sizeof *out);
	if (!out) {
		PQclear(res);
		return tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
	}
	size_t k = 0;
	for (int i = 0; i < nt; i++) {
		if (i == 0) {
			basis->judged = strcmp(PQgetvalue(res, 0, 6), "t") == 0;
			snprintf(basis->versions, sizeof basis->versions, "%s",
			         PQgetvalue(res, 0, 7));
		}
		if (PQgetisnull(res, i, 0))
			continue;
		struct router_over_tier_row *r = &out[k++];
		snprintf(r->task_type, sizeof r->task_type, "%s", PQgetvalue(res, i, 0));
		snprintf(r->policy_tier, sizeof r->policy_tier, "%s", PQgetvalue(res, i, 1));
		r->calls = strtoll(PQgetvalue(res, i, 2), NULL, 10);
		snprintf(r->cost_pusd, sizeof r->cost_pusd, "%s", PQgetvalue(res, i, 3));
		snprintf(r->under_policy_pusd, sizeof r->under_policy_pusd, "%s",
		         PQgetvalue(res, i, 4));
		snprintf(r->saving_pusd, sizeof r->saving_pusd, "%s", PQgetvalue(res, i, 5));
	}
	PQclear(res);
	*rows = out;
	*n = k;
	return 0;
}
