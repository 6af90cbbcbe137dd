/* answers.c - what the live router answers: from its published snapshot, a
 * route (a hash lookup of a precomputed plan plus one draw of a per-thread
 * PRNG, never waiting for a cycle) and the policy JSON of
 * /api/v1/routing/policy; from the ledger, the savings JSON of
 * /api/v1/routing/savings (ledger_over_tier_by_task). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "live_int.h"

/* A uniform draw in [0,1) from this thread's own generator: route answers
 * share nothing mutable. */
static double route_draw(void)
{
	static _Thread_local struct router_rng rng;
	static _Thread_local bool seeded;
	if (!seeded) {
		router_rng_seed(&rng, (uint64_t)time_now_us() ^ ((uint64_t)(uintptr_t)&rng << 16));
		seeded = true;
	}
	return router_rng_unit(&rng);
}

/* Copies at most ROUTER_TASK_MAX bytes of a name, never half a UTF-8
 * character. */
static void name_cut(char *out, const char *name)
{
	size_t n = strnlen(name, ROUTER_TASK_MAX + 1);
	if (n > ROUTER_TASK_MAX) {
		n = ROUTER_TASK_MAX;
		while (n > 0 && ((unsigned char)name[n] & 0xC0) == 0x80)
			n--;
	}
	memcpy(out, name, n);
	out[n] = '\0';
}

int router_route(struct router *r, const char *task_type, const char *workflow,
                 struct router_route *out, struct tally_err *err)
{
	unsigned half;
	struct snapshot *s = router_snap_enter(r, &half);

	out->tier[0] = out->model[0] = out->reason[0] = '\0';
	out->explore = out->workflow_policy = false;
	out->policy_version = 0;
	if (!s) {
		router_snap_leave(r, half);
		return tally_err_set(err, TALLY_ENOTFOUND, true,
		                     "router: no policy yet (the first cycle has not finished)");
	}
	bool has_wf = workflow && workflow[0];
	const struct route_entry *te = router_snap_route(s, task_type, ""), *we = NULL;
	if (!te)
		te = &s->unknown;
	if (has_wf)
		we = router_snap_route(s, task_type, workflow);
	const struct route_entry *e = we && we->plan.workflow_policy ? we : te;
	/* one draw: a cheaper tier below explore_share, a dearer one in the
	 * next explore2_share, else the policy's */
	double u = route_draw();
	const char *why = e->plan.reason, *tier = e->plan.tier, *model = e->model;
	bool explore = false;
	if (e->plan.explore_tier[0] && u < e->plan.explore_share) {
		why = e->plan.explore_reason;
		tier = e->plan.explore_tier;
		model = e->explore_model;
		explore = true;
	} else if (e->plan.explore2_tier[0] && u >= e->plan.explore_share &&
	           u < e->plan.explore_share + e->plan.explore2_share) {
		why = e->plan.explore2_reason;
		tier = e->plan.explore2_tier;
		model = e->explore2_model;
		explore = true;
	}
	memcpy(out->tier, tier, sizeof out->tier);
	snprintf(out->model, sizeof out->model, "%s", model);
	out->policy_version = s->version;
	out->explore = explore;
	out->workflow_policy = e == we;
	if (!has_wf) {
		snprintf(out->reason, sizeof out->reason, "%s", why);
	} else {
		char wf[ROUTER_TASK_MAX + 1];
		name_cut(wf, workflow);
		if (e == we)
			snprintf(out->reason, sizeof out->reason, "workflow %s: %s", wf, why);
		else if (te->plan.pinned)
			snprintf(out->reason, sizeof out->reason, "task type policy: %s", why);
		else if (we && we->plan.workflow_agrees)
			snprintf(out->reason, sizeof out->reason,
			         "task type policy (workflow %s's own statistics agree): %s", wf,
			         why);
		else
			snprintf(
			    out->reason, sizeof out->reason,
			    "task type policy (workflow %s has too few samples of its own): %s", wf,
			    why);
	}
	router_snap_leave(r, half);
	return 0;
}

static void override_json(struct sbuf *b, const struct router_override_row *o)
{
	sbuf_puts(b, "{\"tolerance\":");
	if (o->has_tolerance)
		sbuf_printf(b, "%g", o->tolerance);
	else
		sbuf_puts(b, "null");
	sbuf_puts(b, ",\"pinned_tier\":");
	if (o->pinned[0])
		sbuf_json_str(b, o->pinned);
	else
		sbuf_puts(b, "null");
	sbuf_puts(b, ",\"allowed_tiers\":[");
	for (size_t k = 0; k < o->n_allowed; k++) {
		if (k)
			sbuf_putc(b, ',');
		sbuf_json_str(b, o->allowed[k]);
	}
	sbuf_puts(b, "],\"updated_at\":");
	sbuf_json_str(b, o->updated_at);
	sbuf_puts(b, ",\"updated_by\":");
	sbuf_json_str(b, o->updated_by);
	sbuf_putc(b, '}');
}

/* The workflows of a task type that have statistics enough to be loaded:
 * their decision and per tier statistics. */
static void workflows_json(struct sbuf *b, const struct snapshot *s, const char *task)
{
	char usd[48];
	bool first = true;
	size_t i = router_snap_wrow_lower(s, task, "", "");
	sbuf_puts(b, ",\"workflows\":[");
	while (i < s->n_wrows && strcmp(s->wrows[i].task_type, task) == 0) {
		const char *wf = s->wrows[i].workflow;
		struct router_decision d;
		router_learner_decide_workflow(s->l, task, wf, &d);
		if (!first)
			sbuf_putc(b, ',');
		first = false;
		sbuf_puts(b, "{\"workflow\":");
		sbuf_json_str(b, wf);
		sbuf_puts(b, ",\"tier\":");
		sbuf_json_str(b, d.tier);
		sbuf_printf(b, ",\"policy_scope\":\"%s\",\"settled\":%s,\"reason\":",
		            d.workflow_policy ? "workflow" : "task_type",
		            d.settled ? "true" : "false");
		sbuf_json_str(b, d.reason);
		sbuf_puts(b, ",\"tiers\":[");
		for (bool tfirst = true;
		     i < s->n_wrows && strcmp(s->wrows[i].task_type, task) == 0 &&
		     strcmp(s->wrows[i].workflow, wf) == 0;
		     i++, tfirst = false) {
			const struct router_workflow_stat_row *row = &s->wrows[i];
			struct router_cell_stats st;
			router_learner_stats_workflow(s->l, task, wf, row->tier, &st);
			if (!tfirst)
				sbuf_putc(b, ',');
			sbuf_puts(b, "{\"tier\":");
			sbuf_json_str(b, row->tier);
			sbuf_printf(
			    b, ",\"calls\":%lld,\"cost_per_call_usd\":", (long long)row->calls);
			if (row->priced_calls > 0) {
				money_format(row->cost_pusd / row->priced_calls, 12, usd,
				             sizeof usd);
				sbuf_printf(b, "\"%s\"", usd);
			} else {
				sbuf_puts(b, "null");
			}
			sbuf_printf(
			    b,
			    ",\"quality_samples\":%lld,\"quality\":%.6f,\"quality_lcb\":%.6f,"
			    "\"quality_ucb\":%.6f}",
			    (long long)st.n, st.quality_mean, st.quality_lcb, st.quality_ucb);
		}
		sbuf_puts(b, "]}");
	}
	sbuf_putc(b, ']');
}

int router_policy_json(struct router *r, struct sbuf *b, struct tally_err *err)
{
	char ts[40], usd[48];
	unsigned half;
	struct snapshot *s = router_snap_enter(r, &half);
	if (!s) {
		router_snap_leave(r, half);
		return tally_err_set(err, TALLY_ENOTFOUND, true, "router: no policy yet");
	}
	time_format(s->built_us, ts);
	sbuf_printf(b,
	            "{\"policy_version\":%lld,\"evaluated_at\":\"%s\",\"period_days\":%d,"
	            "\"tolerance\":%g,\"min_samples\":%lld,\"explore_share\":%g,"
	            "\"default_tier\":",
	            (long long)s->version, ts, ROUTER_DAYS, r->params.tolerance,
	            (long long)r->params.min_samples, r->params.explore_share);
	struct router_decision dd;
	router_learner_decide(s->l, NULL, &dd);
	sbuf_json_str(b, dd.tier);
	sbuf_puts(b, ",\"task_types\":[");
	for (size_t i = 0; i < router_learner_task_count(s->l); i++) {
		const char *task = router_learner_task_name(s->l, i);
		struct router_decision d;
		router_learner_decide(s->l, task, &d);
		if (i)
			sbuf_putc(b, ',');
		sbuf_puts(b, "{\"task_type\":");
		sbuf_json_str(b, task);
		sbuf_puts(b, ",\"tier\":");
		sbuf_json_str(b, d.tier);
		sbuf_puts(b, ",\"model\":");
		sbuf_json_str(b, d.tier[0] ? router_snap_model(s, task, d.tier) : "");
		sbuf_printf(b, ",\"settled\":%s,\"tolerance\":%g,\"reason\":",
		            d.settled ? "true" : "false", d.tolerance);
		sbuf_json_str(b, d.reason);
		sbuf_puts(b, ",\"override\":");
		const struct router_override_row *o = NULL;
		for (size_t k = 0; k < s->n_ovs; k++)
			if (strcmp(s->ovs[k].task_type, task) == 0)
				o = &s->ovs[k];
		if (o)
			override_json(b, o);
		else
			sbuf_puts(b, "null");
		sbuf_puts(b, ",\"tiers\":[");
		bool first = true;
		for (size_t t = 0; t < router_learner_tier_count(s->l); t++) {
			const char *tier = router_learner_tier_name(s->l, t);
			const struct router_stat_row *row = router_snap_row(s, task, tier);
			struct router_cell_stats st;
			if (!row)
				continue;
			router_learner_stats(s->l, task, tier, &st);
			if (!first)
				sbuf_putc(b, ',');
			first = false;
			sbuf_puts(b, "{\"tier\":");
			sbuf_json_str(b, tier);
			sbuf_puts(b, ",\"model\":");
			sbuf_json_str(b, row->model);
			money_format(row->cost_pusd, 12, usd, sizeof usd);
			sbuf_printf(b, ",\"calls\":%lld,\"cost_usd\":\"%s\",\"cost_per_call_usd\":",
			            (long long)row->calls, usd);
			if (router_row_cost_mean(row) >= 0) {
				money_format(router_row_cost_mean(row), 12, usd, sizeof usd);
				sbuf_printf(b, "\"%s\"", usd);
			} else {
				sbuf_puts(b, "null");
			}
			sbuf_puts(b, ",\"cost_per_success_usd\":");
			if (row->quality_sum > 0 && row->priced_calls > 0) {
				money_format((int64_t)((double)row->cost_pusd / row->quality_sum),
				             12, usd, sizeof usd);
				sbuf_printf(b, "\"%s\"", usd);
			} else {
				sbuf_puts(b, "null");
			}
			sbuf_printf(
			    b,
			    ",\"quality_samples\":%lld,\"quality\":%.6f,\"quality_lcb\":%.6f,"
			    "\"quality_ucb\":%.6f,\"latency_p50_ms\":%lld,"
			    "\"latency_p95_ms\":%lld}",
			    (long long)st.n, st.quality_mean, st.quality_lcb, st.quality_ucb,
			    (long long)st.latency_p50_ms, (long long)st.latency_p95_ms);
		}
		sbuf_putc(b, ']');
		workflows_json(b, s, task);
		sbuf_putc(b, '}');
	}
	sbuf_puts(b, "]}\n");
	router_snap_leave(r, half);
	return 0;
}

int router_over_tier_json(struct ledger *lg, int64_t from_us, int64_t to_us, int64_t version,
                          struct sbuf *b, struct tally_err *err)
{
	struct over_tier_row *rows = NULL;
	struct over_tier_basis basis;
	size_t n = 0;
	char c[64], u[64], v[64], from[40], to[40];
	int64_t tot_actual = 0, tot_under = 0;

	if (ledger_over_tier_by_task(lg, from_us, to_us, version, &rows, &n, &basis, err) < 0)
		return -1;
	time_format(from_us, from);
	time_format(to_us, to);
	sbuf_printf(b, "{\"from\":\"%s\",\"to\":\"%s\",\"period_days\":%lld,", from, to,
	            (long long)((to_us - from_us) / (INT64_C(86400) * 1000000)));
	/* which policy judged the figure: the one in force at each call, or a
	 * version the caller named (never simply the newest) */
	if (version > 0)
		sbuf_printf(b, "\"policy\":\"version\",\"policy_version\":%lld,",
		            (long long)version);
	else
		sbuf_puts(b, "\"policy\":\"in_force_at_each_call\",\"policy_version\":null,");
	sbuf_printf(b, "\"policy_versions\":[%s],\"judged\":%s,\"task_types\":[", basis.versions,
	            basis.judged ? "true" : "false");
	for (size_t i = 0; i < n; i++) {
		int64_t actual = strtoll(rows[i].cost_pusd, NULL, 10);
		int64_t under = strtoll(rows[i].under_policy_pusd, NULL, 10);
		if (__builtin_add_overflow(tot_actual, actual, &tot_actual) ||
		    __builtin_add_overflow(tot_under, under, &tot_under)) {
			free(rows);
			return tally_err_set(err, TALLY_ERANGE, false,
			                     "over-tier spend too large to total exactly");
		}
		money_format(actual, 12, c, sizeof c);
		money_format(under, 12, u, sizeof u);
		money_format(actual - under, 12, v, sizeof v);
		sbuf_puts(b, i ? ",{\"task_type\":" : "{\"task_type\":");
		sbuf_json_str(b, rows[i].task_type);
		sbuf_puts(b, ",\"policy_tier\":");
		sbuf_json_str(b, rows[i].policy_tier);
		sbuf_printf(b,
		            ",\"over_tier_calls\":%lld,\"over_tier_cost_usd\":\"%s\","
		            "\"under_policy_cost_usd\":\"%s\",\"saving_usd\":\"%s\"}",
		            (long long)rows[i].calls, c, u, v);
	}
	free(rows);
	money_format(tot_actual, 12, c, sizeof c);
	money_format(tot_under, 12, u, sizeof u);
	money_format(tot_actual - tot_under, 12, v, sizeof v);
	sbuf_printf(b,
	            "],\"over_tier_cost_usd\":\"%s\",\"under_policy_cost_usd\":\"%s\","
	            "\"saving_usd\":\"%s\"}\n",
	            c, u, v);
	return b->oom ? tally_err_set(err, TALLY_ENOMEM, false, "out of memory") : 0;
}
