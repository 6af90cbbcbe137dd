/* policy_diff.c - a snapshot's policy against the version in force: the
 * policy and workflow policy JSON of a new version, and its changes with
 * their evidence and projected monthly saving (docs/router.md). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "live_int.h"

/* A workflow's cost per call on a tier: its own, else its task type's. */
static int64_t wf_cost_mean(const struct snapshot *s, const char *task, const char *workflow,
                            const char *tier)
{
	const struct router_workflow_stat_row *w = router_snap_wrow(s, task, workflow, tier);
	if (w && w->priced_calls > 0)
		return w->cost_pusd / w->priced_calls;
	return router_row_cost_mean(router_snap_row(s, task, tier));
}

/* Calls of a workflow over the period, all tiers (0 when not loaded). */
static int64_t wf_volume(const struct snapshot *s, const char *task, const char *workflow)
{
	int64_t v = 0;
	for (size_t i = router_snap_wrow_lower(s, task, workflow, "");
	     i < s->n_wrows &&
	     str_pair_cmp(s->wrows[i].task_type, s->wrows[i].workflow, task, workflow) == 0;
	     i++)
		v += s->wrows[i].calls;
	return v;
}

static void usd_str(int64_t pusd, char *out, size_t n)
{
	money_format(pusd, 12, out, n);
}

/* A projected monthly figure: a saving when the change costs less, an
 * extra cost when it costs more (a move to a dearer tier for quality is
 * never published as a negative saving). */
static void saving_json(struct sbuf *b, int64_t saving_pusd)
{
	char sv[48], ex[48];
	usd_str(saving_pusd > 0 ? saving_pusd : 0, sv, sizeof sv);
	usd_str(saving_pusd < 0 ? -saving_pusd : 0, ex, sizeof ex);
	sbuf_printf(b,
	            "\"projected_monthly_saving_usd\":\"%s\","
	            "\"projected_monthly_extra_cost_usd\":\"%s\"",
	            sv, ex);
}

static void evidence_tail(struct sbuf *b, const struct router_cell_stats *st, int64_t calls,
                          int64_t cost_mean)
{
	char usd[48];
	sbuf_printf(b,
	            ":{\"samples\":%lld,\"quality\":%.6f,\"quality_lcb\":%.6f,"
	            "\"quality_ucb\":%.6f,\"calls_30d\":%lld,\"cost_per_call_usd\":",
	            (long long)st->n, st->quality_mean, st->quality_lcb, st->quality_ucb,
	            (long long)calls);
	if (cost_mean >= 0) {
		usd_str(cost_mean, usd, sizeof usd);
		sbuf_printf(b, "\"%s\"}", usd);
	} else {
		sbuf_puts(b, "null}");
	}
}

static void evidence_json(struct sbuf *b, const struct snapshot *s, const char *task,
                          const char *tier)
{
	struct router_cell_stats st;
	const struct router_stat_row *r = router_snap_row(s, task, tier);
	router_learner_stats(s->l, task, tier, &st);
	sbuf_json_str(b, tier);
	evidence_tail(b, &st, r ? r->calls : 0, router_row_cost_mean(r));
}

static void wf_evidence_json(struct sbuf *b, const struct snapshot *s, const char *task,
                             const char *workflow, const char *tier)
{
	struct router_cell_stats st;
	const struct router_workflow_stat_row *r = router_snap_wrow(s, task, workflow, tier);
	router_learner_stats_workflow(s->l, task, workflow, tier, &st);
	sbuf_json_str(b, tier);
	evidence_tail(b, &st, r ? r->calls : 0,
	              r && r->priced_calls > 0 ? r->cost_pusd / r->priced_calls : -1);
}

/* Volume of a task type over the period, all tiers. */
static int64_t task_volume(const struct snapshot *s, const char *task)
{
	int64_t v = 0;
	for (size_t i = 0; i < s->n_rows; i++)
		if (strcmp(s->rows[i].task_type, task) == 0)
			v += s->rows[i].calls;
	return v;
}

static const char *old_tier_of(const cJSON *old, const char *task)
{
	const cJSON *t = old ? cJSON_GetObjectItemCaseSensitive(old, task) : NULL;
	return cJSON_IsString(t) ? t->valuestring : NULL;
}

static const char *old_wf_tier_of(const cJSON *oldw, const char *task, const char *workflow)
{
	const cJSON *t = oldw ? cJSON_GetObjectItemCaseSensitive(oldw, task) : NULL;
	const cJSON *w = cJSON_IsObject(t) ? cJSON_GetObjectItemCaseSensitive(t, workflow) : NULL;
	return cJSON_IsString(w) ? w->valuestring : NULL;
}

/* A workflow with a policy entry in the old or the new version: its calls
 * follow its own tier, not its task type's, in the projected saving. */
struct own_volume {
	const char *task;
	int64_t calls;
};

/* A new workflow entry, for workflow_policy. */
struct wf_entry {
	const char *task, *workflow, *tier;
};

static int wf_entry_cmp(const void *a, const void *b)
{
	const struct wf_entry *x = a, *y = b;
	return str_pair_cmp(x->task, x->workflow, y->task, y->workflow);
}

struct diff {
	const struct snapshot *s;
	const cJSON *old, *oldw;
	struct router_decision def; /* what a task type not in a version had */
	struct sbuf wchanges;
	int n_task, n_wf;
	int64_t saving;
	struct own_volume *own;
	size_t n_own;
};

/* One workflow: its change (old and new tier that apply to it) when its
 * own entry is or was involved. */
static void diff_workflow(struct diff *df, const char *task, const char *wf)
{
	const struct snapshot *s = df->s;
	struct router_decision d;
	const char *old_entry = old_wf_tier_of(df->oldw, task, wf);
	const char *was = old_entry, *was_policy = "workflow";

	router_learner_decide_workflow(s->l, task, wf, &d);
	if (!d.workflow_policy && !old_entry)
		return; /* follows its task type, before and now */
	int64_t vol = wf_volume(s, task, wf);
	df->own[df->n_own++] = (struct own_volume){task, vol};
	if (!was) {
		was = old_tier_of(df->old, task);
		was_policy = "task_type";
	}
	if (!was && df->def.tier[0]) {
		was = df->def.tier;
		was_policy = "default";
	}
	if (!d.tier[0] || (was && strcmp(was, d.tier) == 0))
		return;
	int64_t c_old = was ? wf_cost_mean(s, task, wf, was) : -1;
	int64_t c_new = wf_cost_mean(s, task, wf, d.tier);
	int64_t sv = c_old >= 0 && c_new >= 0 ? vol * (c_old - c_new) : 0;
	struct sbuf *b = &df->wchanges;
	df->saving += sv;
	df->n_wf++;
	sbuf_puts(b, ",{\"task_type\":");
	sbuf_json_str(b, task);
	sbuf_puts(b, ",\"workflow\":");
	sbuf_json_str(b, wf);
	sbuf_puts(b, ",\"old_tier\":");
	if (was)
		sbuf_json_str(b, was);
	else
		sbuf_puts(b, "null");
	sbuf_printf(b, ",\"old_policy\":\"%s\",\"old_was_default\":%s,\"new_tier\":", was_policy,
	            strcmp(was_policy, "default") == 0 ? "true" : "false");
	sbuf_json_str(b, d.tier);
	sbuf_printf(
	    b, ",\"new_policy\":\"%s\",\"reason\":", d.workflow_policy ? "workflow" : "task_type");
	sbuf_json_str(b, d.reason);
	sbuf_printf(b, ",\"tolerance\":%g,\"evidence\":{", d.tolerance);
	bool first = true;
	const char *tiers[3] = {d.tier, was, d.best};
	for (int k = 0; k < 3; k++) {
		const char *t = tiers[k];
		if (!t || !t[0] || (k >= 1 && strcmp(t, d.tier) == 0) ||
		    (k == 2 && was && strcmp(t, was) == 0))
			continue;
		if (!first)
			sbuf_putc(b, ',');
		first = false;
		wf_evidence_json(b, s, task, wf, t);
	}
	sbuf_printf(b, "},\"calls_30d\":%lld,", (long long)vol);
	saving_json(b, sv);
	sbuf_putc(b, '}');
}

/* The workflow policy: {"task_type": {"workflow": "tier"}} of the n
 * workflows with a decision of their own (sorted here). */
static void workflow_policy_json(const struct router_learner *l, struct wf_entry *entries, size_t n,
                                 struct sbuf *wpolicy)
{
	qsort(entries, n, sizeof *entries, wf_entry_cmp);
	sbuf_putc(wpolicy, '{');
	for (size_t i = 0; i < n; i++) {
		struct router_decision d;
		bool new_task = i == 0 || strcmp(entries[i - 1].task, entries[i].task) != 0;
		router_learner_decide_workflow(l, entries[i].task, entries[i].workflow, &d);
		if (new_task) {
			if (i)
				sbuf_puts(wpolicy, "},");
			sbuf_json_str(wpolicy, entries[i].task);
			sbuf_puts(wpolicy, ":{");
		} else {
			sbuf_putc(wpolicy, ',');
		}
		sbuf_json_str(wpolicy, entries[i].workflow);
		sbuf_putc(wpolicy, ':');
		sbuf_json_str(wpolicy, d.tier);
	}
	sbuf_puts(wpolicy, n ? "}}" : "}");
}

/* One task type: its entry in the policy (*n_policy entries so far) and,
 * when its tier changes, its change with evidence and projected saving (the
 * calls of workflows with entries of their own left out). */
static void diff_task(struct diff *df, const char *task, struct sbuf *policy, size_t *n_policy,
                      struct sbuf *changes)
{
	const struct snapshot *s = df->s;
	struct router_decision d;
	router_learner_decide(s->l, task, &d);
	const char *was = old_tier_of(df->old, task);
	bool pinned = d.pinned, was_default = false;
	/* a task type enters the policy once it is decided (or pinned);
	 * until then it gets the default, which is no change */
	if (!d.tier[0] || (!d.settled && !pinned && !was))
		return;
	if (!was && df->def.tier[0]) {
		was = df->def.tier;
		was_default = true;
	}
	if ((*n_policy)++)
		sbuf_putc(policy, ',');
	sbuf_json_str(policy, task);
	sbuf_putc(policy, ':');
	sbuf_json_str(policy, d.tier);
	if (was && strcmp(was, d.tier) == 0)
		return;
	int64_t vol = task_volume(s, task);
	for (size_t k = 0; k < df->n_own; k++)
		if (strcmp(df->own[k].task, task) == 0)
			vol -= df->own[k].calls;
	if (vol < 0)
		vol = 0;
	int64_t c_old = was ? router_row_cost_mean(router_snap_row(s, task, was)) : -1;
	int64_t c_new = router_row_cost_mean(router_snap_row(s, task, d.tier));
	int64_t sv = c_old >= 0 && c_new >= 0 ? vol * (c_old - c_new) : 0;
	df->saving += sv;
	if (df->n_task++)
		sbuf_putc(changes, ',');
	sbuf_puts(changes, "{\"task_type\":");
	sbuf_json_str(changes, task);
	sbuf_puts(changes, ",\"old_tier\":");
	if (was)
		sbuf_json_str(changes, was);
	else
		sbuf_puts(changes, "null");
	sbuf_printf(changes,
	            ",\"old_was_default\":%s,\"new_tier\":", was_default ? "true" : "false");
	sbuf_json_str(changes, d.tier);
	sbuf_puts(changes, ",\"reason\":");
	sbuf_json_str(changes, d.reason);
	sbuf_printf(changes, ",\"tolerance\":%g,\"evidence\":{", d.tolerance);
	evidence_json(changes, s, task, d.tier);
	if (was && strcmp(was, d.tier) != 0) {
		sbuf_putc(changes, ',');
		evidence_json(changes, s, task, was);
	}
	if (d.best[0] && strcmp(d.best, d.tier) != 0 && (!was || strcmp(d.best, was) != 0)) {
		sbuf_putc(changes, ',');
		evidence_json(changes, s, task, d.best);
	}
	sbuf_printf(changes, "},\"calls_30d\":%lld,", (long long)vol);
	saving_json(changes, sv);
	sbuf_putc(changes, '}');
}

int router_policy_diff(const struct snapshot *s, const cJSON *old, const cJSON *oldw,
                       struct sbuf *policy, struct sbuf *wpolicy, struct sbuf *changes, int *n_task,
                       int *n_wf, int64_t *saving)
{
	const struct router_learner *l = s->l;
	size_t n_flows = router_learner_workflow_count(l), n_old = 0, n_entries = 0, n_policy = 0;
	struct wf_entry *entries = NULL;
	const cJSON *to, *wo;
	struct diff df;
	int rc = -1;

	memset(&df, 0, sizeof df);
	df.s = s;
	df.old = old;
	df.oldw = oldw;
	sbuf_init(&df.wchanges);
	/* a task type not in the previous policy was getting the default */
	router_learner_decide(l, NULL, &df.def);
	cJSON_ArrayForEach(to, oldw) cJSON_ArrayForEach(wo, to) n_old++;
	df.own = calloc(n_flows + n_old + 1, sizeof *df.own);
	entries = calloc(n_flows + 1, sizeof *entries);
	if (!df.own || !entries)
		goto out;

	/* workflows first: their entries take their calls out of their task
	 * type's projected saving */
	for (size_t i = 0; i < n_flows; i++) {
		const char *task, *wf;
		struct router_decision d;
		router_learner_workflow_at(l, i, &task, &wf);
		router_learner_decide_workflow(l, task, wf, &d);
		if (d.workflow_policy)
			entries[n_entries++] = (struct wf_entry){task, wf, NULL};
		diff_workflow(&df, task, wf);
	}
	/* entries of the previous version whose workflow has no statistics now */
	cJSON_ArrayForEach(to, oldw) cJSON_ArrayForEach(wo, to)
	{
		if (cJSON_IsObject(to) && to->string && wo->string && cJSON_IsString(wo) &&
		    !router_learner_workflow_known(l, to->string, wo->string))
			diff_workflow(&df, to->string, wo->string);
	}
	workflow_policy_json(l, entries, n_entries, wpolicy);

	sbuf_putc(policy, '{');
	sbuf_putc(changes, '[');
	for (size_t i = 0; i < router_learner_task_count(l); i++)
		diff_task(&df, router_learner_task_name(l, i), policy, &n_policy, changes);
	sbuf_putc(policy, '}');
	/* the workflow changes follow the task types' (each began with a comma) */
	if (df.wchanges.len)
		sbuf_append(changes, df.wchanges.p + (df.n_task ? 0 : 1),
		            df.wchanges.len - (df.n_task ? 0 : 1));
	sbuf_putc(changes, ']');
	if (df.wchanges.oom)
		goto out;
	*n_task = df.n_task;
	*n_wf = df.n_wf;
	*saving = df.saving;
	rc = df.n_task + df.n_wf;
out:
	free(df.own);
	free(entries);
	sbuf_cleanup(&df.wchanges);
	return rc;
}
