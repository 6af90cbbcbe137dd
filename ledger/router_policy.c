/* router_policy.c - what the router decides and what people tell it
 * (migrations/0004_router.sql, 0006_router_workflow.sql): the overrides per
 * task type, and the policy versions, each stored with its audit entry and
 * its webhook. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger_int.h"

/* ---- overrides ------------------------------------------------------------------------ */

/* The columns of overrides_sql: one row per task type. */
enum override_col {
	OV_TASK_TYPE,
	OV_TOLERANCE, /* NULL: the default */
	OV_PINNED,    /* "" none */
	OV_ALLOWED,   /* a JSON array of tier names, "[]" when any */
	OV_UPDATED_AT,
	OV_UPDATED_BY
};
static const char overrides_sql[] =
    "SELECT task_type, tolerance, coalesce(pinned_tier, ''),"
    " coalesce(array_to_json(allowed_tiers)::text, '[]'), " SQL_ISO(
        "updated_at") ","
                      " updated_by FROM router_overrides ORDER BY task_type";

static void override_row(const PGresult *res, int i, void *row)
{
	struct router_override_row *o = row;
	ledger_str(res, i, OV_TASK_TYPE, o->task_type, sizeof o->task_type);
	if (!PQgetisnull(res, i, OV_TOLERANCE)) {
		o->has_tolerance = true;
		o->tolerance = strtod(PQgetvalue(res, i, OV_TOLERANCE), NULL);
	}
	ledger_str(res, i, OV_PINNED, o->pinned, sizeof o->pinned);
	/* a JSON array of strings without escapes (tier names are checked on
	 * the way in): split on quotes */
	const char *s = PQgetvalue(res, i, OV_ALLOWED);
	while ((s = strchr(s, '"')) && o->n_allowed < LEDGER_ROUTER_MAX_ALLOWED) {
		const char *e = strchr(s + 1, '"');
		if (!e)
			break;
		snprintf(o->allowed[o->n_allowed++], sizeof o->allowed[0], "%.*s", (int)(e - s - 1),
		         s + 1);
		s = e + 1;
	}
	ledger_str(res, i, OV_UPDATED_AT, o->updated_at, sizeof o->updated_at);
	ledger_str(res, i, OV_UPDATED_BY, o->updated_by, sizeof o->updated_by);
}

int ledger_router_overrides(struct ledger *lg, struct router_override_row **rows, size_t *n,
                            struct tally_err *err)
{
	return ledger_load_rows(lg, overrides_sql, 0, NULL, "router overrides", sizeof **rows,
	                        override_row, rows, n, err);
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

/* ---- policy versions ------------------------------------------------------------------ */

/* The columns of latest_sql: the newest policy version, if any. */
enum latest_col { LATEST_VERSION, LATEST_POLICY, LATEST_WORKFLOW_POLICY };
static const char latest_sql[] =
    "SELECT version, policy::text, workflow_policy::text FROM router_policy_versions"
    " ORDER BY version DESC LIMIT 1";

int ledger_router_latest(struct ledger *lg, int64_t *version, char **policy_json,
                         char **workflow_policy_json, struct tally_err *err)
{
	PGresult *res = NULL;
	*version = 0;
	*policy_json = NULL;
	if (workflow_policy_json)
		*workflow_policy_json = NULL;
	if (ledger_exec_params(lg, latest_sql, 0, NULL, "router policy", &res, err) < 0)
		return -1;
	if (PQntuples(res) == 1) {
		*version = ledger_i64(res, 0, LATEST_VERSION);
		*policy_json = strdup(PQgetvalue(res, 0, LATEST_POLICY));
		if (workflow_policy_json)
			*workflow_policy_json = strdup(PQgetvalue(res, 0, LATEST_WORKFLOW_POLICY));
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
	        "   'created_at', " SQL_ISO(
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
	*version = ledger_i64(res, 0, 0); /* the new version */
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
	        " 'created_at', " SQL_ISO(
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
