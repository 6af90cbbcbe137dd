/* web_router.c - the router's API: route answers from memory, the policy,
 * its history, the over-tier savings, overrides and re-evaluation on demand
 * (docs/router.md). The live router is the one `tally serve` / `tally up`
 * started in this process (router_live()).
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../router/router.h"
#include "web_int.h"

#define REEVALUATE_MS 15000
static struct router *live_or_503(struct web_resp *rs)
{
	struct router *r = router_live();
	if (!r)
		web_error(rs, 503, "the router is not running in this process");
	return r;
}

void web_route_get(struct web_req *rq, struct web_resp *rs)
{
	const char *task = web_arg(rq, "task_type"), *workflow = web_arg(rq, "workflow");
	struct router_route rt;
	struct tally_err err = {0};
	struct router *r;

	/* Any role may route (NEED_ANY in WEB_ENDPOINTS; checked keys are
	 * remembered, web_auth.c, so the answer needs no ledger round trip). */
	if (!task || !task[0]) {
		web_error(rs, 400, "task_type is required: /api/v1/route?task_type=classify");
		return;
	}
	if (!(r = live_or_503(rs)))
		return;
	if (router_route(r, task, workflow, &rt, &err) < 0) {
		web_error(rs, 503, "%s", err.msg);
		return;
	}
	sbuf_puts(&rs->body, "{\"tier\":");
	sbuf_json_str(&rs->body, rt.tier);
	sbuf_puts(&rs->body, ",\"model\":");
	sbuf_json_str(&rs->body, rt.model);
	sbuf_printf(&rs->body, ",\"policy_version\":%lld,\"explore\":%s,\"reason\":",
	            (long long)rt.policy_version, rt.explore ? "true" : "false");
	if (rq->auth.key.role == ROLE_VIEWER) {
		/* The reason quotes the quality and sample counts the policy was
		 * learned from, over every team's calls: not for a viewer. */
		char why[EVENT_NAME_MAX * 2 + 64];
		snprintf(why, sizeof why, "%s %s: see the routing policy (admin, finance)",
		         rt.workflow_policy ? "workflow" : "task type",
		         rt.workflow_policy && workflow ? workflow : task);
		sbuf_json_str(&rs->body, why);
	} else
		sbuf_json_str(&rs->body, rt.reason);
	sbuf_printf(&rs->body, ",\"policy_scope\":\"%s\"}\n",
	            rt.workflow_policy ? "workflow" : "task_type");
	rs->status = 200;
}

void web_routing_policy(struct web_req *rq, struct web_resp *rs)
{
	struct tally_err err = {0};
	struct router *r;
	(void)rq;
	if (!(r = live_or_503(rs)))
		return;
	if (router_policy_json(r, &rs->body, &err) < 0) {
		web_error(rs, 503, "%s", err.msg);
		return;
	}
	rs->status = 200;
}

void web_routing_savings(struct web_req *rq, struct web_resp *rs)
{
	const char *pv = web_arg(rq, "policy_version");
	struct tally_err err = {0};
	int64_t version = 0, to = time_now_us();
	struct ledger *lg;

	if (pv && (parse_i64(pv, &version) < 0 || version < 1)) {
		web_error(rs, 400, "policy_version must be a version number");
		return;
	}
	if (!(lg = web_ledger(rq, rs)))
		return;
	/* the last 30 days, each call judged by the version in force when it
	 * was made (or the one named) */
	if (router_over_tier_json(lg, to - INT64_C(30) * 86400 * 1000000, to, version, &rs->body,
	                          &err) < 0) {
		web_db_error(rq, rs, &err);
		return;
	}
	rs->status = 200;
}

void web_routing_history(struct web_req *rq, struct web_resp *rs)
{
	const char *l = web_arg(rq, "limit");
	struct tally_err err = {0};
	int64_t limit = 50;
	char *json = NULL;
	struct ledger *lg;

	if (l && (parse_i64(l, &limit) < 0 || limit < 1 || limit > 1000)) {
		web_error(rs, 400, "limit must be an integer from 1 to 1000");
		return;
	}
	if (!(lg = web_ledger(rq, rs)))
		return;
	if (ledger_router_history(lg, limit, &json, &err) < 0) {
		web_db_error(rq, rs, &err);
		return;
	}
	sbuf_printf(&rs->body, "{\"versions\":%s}\n", json);
	free(json);
	rs->status = 200;
}

/* Runs a cycle now and answers with the version it left in force. */
static void reevaluated(struct web_resp *rs, const char *what)
{
	struct tally_err err = {0};
	struct router *r = router_live();
	struct router_route rt;
	if (!r) {
		sbuf_printf(&rs->body,
		            "{\"%s\":true,\"policy_version\":null,"
		            "\"note\":\"the router is not running in this process: the"
		            " change applies at its next cycle\"}\n",
		            what);
		rs->status = 200;
		return;
	}
	if (router_reevaluate(r, REEVALUATE_MS, &err) < 0) {
		web_error(rs, 503, "%s was stored, but re-evaluation failed: %s", what, err.msg);
		return;
	}
	tally_err_clear(&err);
	/* any task type will do: the version is the snapshot's */
	int64_t version = router_route(r, "", NULL, &rt, &err) == 0 ? rt.policy_version : 0;
	sbuf_printf(&rs->body, "{\"%s\":true,\"policy_version\":%lld}\n", what, (long long)version);
	rs->status = 200;
}

static bool tier_name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > EVENT_TIER_MAX)
		return false;
	for (; *s; s++)
		if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20)
			return false;
	return true;
}

void web_routing_override_post(struct web_req *rq, struct web_resp *rs)
{
	struct router_override_row o;
	struct tally_err err = {0};
	char actor[64];
	struct ledger *lg;
	cJSON *root = NULL;

	memset(&o, 0, sizeof o);
	root = cJSON_ParseWithLength(rq->body.p ? rq->body.p : "", rq->body.len);
	const cJSON *task = cJSON_GetObjectItemCaseSensitive(root, "task_type");
	const cJSON *tol = cJSON_GetObjectItemCaseSensitive(root, "tolerance");
	const cJSON *pin = cJSON_GetObjectItemCaseSensitive(root, "pinned_tier");
	const cJSON *allowed = cJSON_GetObjectItemCaseSensitive(root, "allowed_tiers");
	const cJSON *a;
	if (!cJSON_IsObject(root) || !cJSON_IsString(task) || !task->valuestring[0] ||
	    str_copy(o.task_type, sizeof o.task_type, task->valuestring) < 0) {
		web_error(rs, 400,
		          "send {\"task_type\": \"...\", \"tolerance\": 0.05, "
		          "\"pinned_tier\": \"...\", \"allowed_tiers\": [\"local\"]}");
		goto out;
	}
	if (tol && !cJSON_IsNull(tol)) {
		if (!cJSON_IsNumber(tol) || !(tol->valuedouble >= 0 && tol->valuedouble < 1)) {
			web_error(rs, 400,
			          "tolerance must be a number in [0,1) (0.02 = within 2%%)");
			goto out;
		}
		o.has_tolerance = true;
		o.tolerance = tol->valuedouble;
	}
	if (pin && !cJSON_IsNull(pin)) {
		if (!cJSON_IsString(pin) || !tier_name_ok(pin->valuestring)) {
			web_error(rs, 400, "pinned_tier must be a tier name");
			goto out;
		}
		snprintf(o.pinned, sizeof o.pinned, "%s", pin->valuestring);
	}
	if (allowed && !cJSON_IsNull(allowed)) {
		if (!cJSON_IsArray(allowed)) {
			web_error(rs, 400, "allowed_tiers must be an array of tier names");
			goto out;
		}
		cJSON_ArrayForEach(a, allowed)
		{
			if (!cJSON_IsString(a) || !tier_name_ok(a->valuestring) ||
			    o.n_allowed == LEDGER_ROUTER_MAX_ALLOWED) {
				web_error(rs, 400, "allowed_tiers must be up to %d tier names",
				          LEDGER_ROUTER_MAX_ALLOWED);
				goto out;
			}
			snprintf(o.allowed[o.n_allowed++], sizeof o.allowed[0], "%s",
			         a->valuestring);
		}
	}
	if (!o.has_tolerance && !o.pinned[0] && !o.n_allowed) {
		web_error(rs, 400,
		          "give tolerance, pinned_tier or allowed_tiers (DELETE "
		          "/api/v1/routing/overrides?task_type=... removes an override)");
		goto out;
	}
	if (!(lg = web_ledger(rq, rs)))
		goto out;
	snprintf(actor, sizeof actor, "api (key %lld)", (long long)rq->auth.key.id);
	if (ledger_router_override_set(lg, &o, actor, &err) < 0) {
		web_db_error(rq, rs, &err);
		goto out;
	}
	reevaluated(rs, "stored");
out:
	cJSON_Delete(root);
}

void web_routing_override_delete(struct web_req *rq, struct web_resp *rs)
{
	const char *task = web_arg(rq, "task_type");
	struct tally_err err = {0};
	char actor[64];
	bool found = false;
	struct ledger *lg;

	if (!task || !task[0]) {
		web_error(rs, 400, "task_type is required");
		return;
	}
	if (!(lg = web_ledger(rq, rs)))
		return;
	snprintf(actor, sizeof actor, "api (key %lld)", (long long)rq->auth.key.id);
	if (ledger_router_override_delete(lg, task, actor, &found, &err) < 0) {
		web_db_error(rq, rs, &err);
		return;
	}
	if (!found) {
		web_error(rs, 404, "no override for task type %s", task);
		return;
	}
	reevaluated(rs, "removed");
}

void web_routing_evaluate(struct web_req *rq, struct web_resp *rs)
{
	(void)rq;
	if (!live_or_503(rs))
		return;
	reevaluated(rs, "evaluated");
}
