/* snapshot.c - the live router's snapshot: the statistics of the last
 * ROUTER_DAYS days, a learner built from them, and the route plan of every
 * task type and workflow, precomputed; published to readers that take no
 * lock (router_snap_enter) and never changed once published.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "live_int.h"

void router_snapshot_free(struct snapshot *s)
{
	if (!s)
		return;
	router_learner_free(s->l);
	free(s->rows);
	free(s->wrows);
	free(s->ovs);
	free(s->entries);
	free(s->slots);
	free(s);
}

/* Readers (route answers, the policy and savings JSON) count themselves in
 * readers[epoch & 1] before they load the pointer, and uncount when done.
 * router_snap_publish swaps the pointer, then flips the epoch twice, each time waiting
 * until the half it left is empty, and only then frees the old snapshot: a
 * reader that may have loaded the old pointer counted itself before the
 * swap, in the half of the epoch it read, and the two flips wait for both
 * halves (the second one catches a reader that read the epoch before an
 * earlier flip and counted itself after that flip's wait). New readers go to
 * the other half meanwhile, so the wait ends. Readers never wait. */
struct snapshot *router_snap_enter(struct router *r, unsigned *half)
{
	*half = atomic_load(&r->epoch) & 1u;
	atomic_fetch_add(&r->readers[*half], 1);
	return atomic_load(&r->snap);
}

void router_snap_leave(struct router *r, unsigned half)
{
	atomic_fetch_sub(&r->readers[half], 1);
}

void router_snap_publish(struct router *r, struct snapshot *s)
{
	struct snapshot *old = atomic_exchange(&r->snap, s);
	for (int flip = 0; flip < 2; flip++) {
		unsigned half = atomic_fetch_add(&r->epoch, 1) & 1u;
		while (atomic_load(&r->readers[half]) != 0) {
			struct timespec ts = {0, 20000};
			nanosleep(&ts, NULL);
		}
	}
	router_snapshot_free(old);
}

const struct router_stat_row *router_snap_row(const struct snapshot *s, const char *task,
                                              const char *tier)
{
	size_t lo = 0, hi = s->n_rows;
	if (!task)
		return NULL;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = str_pair_cmp(s->rows[mid].task_type, s->rows[mid].tier, task, tier);
		if (c == 0)
			return &s->rows[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int row_cmp(const void *a, const void *b)
{
	const struct router_stat_row *x = a, *y = b;
	return str_pair_cmp(x->task_type, x->tier, y->task_type, y->tier);
}

static int wrow_cmp3(const struct router_workflow_stat_row *x, const char *task,
                     const char *workflow, const char *tier)
{
	int c = str_pair_cmp(x->task_type, x->workflow, task, workflow);
	return c ? c : strcmp(x->tier, tier);
}

static int wrow_cmp(const void *a, const void *b)
{
	const struct router_workflow_stat_row *y = b;
	return wrow_cmp3(a, y->task_type, y->workflow, y->tier);
}

/* The first workflow row not before (task, workflow, tier). */
size_t router_snap_wrow_lower(const struct snapshot *s, const char *task, const char *workflow,
                              const char *tier)
{
	size_t lo = 0, hi = s->n_wrows;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (wrow_cmp3(&s->wrows[mid], task, workflow, tier) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

const struct router_workflow_stat_row *router_snap_wrow(const struct snapshot *s, const char *task,
                                                        const char *workflow, const char *tier)
{
	size_t i = router_snap_wrow_lower(s, task, workflow, tier);
	return i < s->n_wrows && wrow_cmp3(&s->wrows[i], task, workflow, tier) == 0 ? &s->wrows[i]
	                                                                            : NULL;
}

/* The model a route answer names: the task type's own for that tier, else
 * the tier's most used model over all task types, else "". */
const char *router_snap_model(const struct snapshot *s, const char *task, const char *tier)
{
	const struct router_stat_row *r = router_snap_row(s, task, tier);
	if (r && r->model[0])
		return r->model;
	const char *best = "";
	int64_t most = -1;
	for (size_t i = 0; i < s->n_rows; i++)
		if (strcmp(s->rows[i].tier, tier) == 0 && s->rows[i].calls > most) {
			most = s->rows[i].calls;
			best = s->rows[i].model;
		}
	return best;
}

int64_t router_row_cost_mean(const struct router_stat_row *r)
{
	return r && r->priced_calls > 0 ? r->cost_pusd / r->priced_calls : -1;
}

static uint32_t entry_hash(const char *task, const char *workflow)
{
	uint32_t h = 2166136261u;
	for (; *task; task++)
		h = (h ^ (unsigned char)*task) * 16777619u;
	h = (h ^ 0x1fu) * 16777619u;
	for (; *workflow; workflow++)
		h = (h ^ (unsigned char)*workflow) * 16777619u;
	return h;
}

const struct route_entry *router_snap_route(const struct snapshot *s, const char *task,
                                            const char *workflow)
{
	if (!s->n_slots)
		return NULL;
	size_t mask = s->n_slots - 1;
	for (size_t i = entry_hash(task, workflow) & mask;; i = (i + 1) & mask) {
		uint32_t k = s->slots[i];
		if (!k)
			return NULL;
		const struct route_entry *e = &s->entries[k - 1];
		if (strcmp(e->task, task) == 0 && strcmp(e->workflow, workflow) == 0)
			return e;
	}
}

static void entry_models(const struct snapshot *s, struct route_entry *e, const char *task)
{
	e->model = e->plan.tier[0] ? router_snap_model(s, task, e->plan.tier) : "";
	e->explore_model =
	    e->plan.explore_tier[0] ? router_snap_model(s, task, e->plan.explore_tier) : "";
	e->explore2_model =
	    e->plan.explore2_tier[0] ? router_snap_model(s, task, e->plan.explore2_tier) : "";
}

static void entry_add(struct snapshot *s, const struct route_entry *e)
{
	size_t k = s->n_entries++;
	s->entries[k] = *e;
	size_t i = entry_hash(e->task, e->workflow) & (s->n_slots - 1);
	while (s->slots[i])
		i = (i + 1) & (s->n_slots - 1);
	s->slots[i] = (uint32_t)(k + 1);
}

/* The plans of every task type, of the workflows that decide for themselves
 * or agree with their task type, and of an unknown task type. */
static int routes_build(struct snapshot *s, struct tally_err *err)
{
	const struct router_learner *l = s->l;
	size_t n_tasks = router_learner_task_count(l), n_flows = router_learner_workflow_count(l);
	size_t cap = n_tasks + n_flows, n_slots = 64;
	struct route_entry e;

	if (cap >= UINT32_MAX / 4)
		return tally_err_set(err, TALLY_ERANGE, false, "router: too many routes");
	while (n_slots < 2 * cap)
		n_slots *= 2;
	s->entries = calloc(cap ? cap : 1, sizeof *s->entries);
	s->slots = calloc(n_slots, sizeof *s->slots);
	if (!s->entries || !s->slots)
		return tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
	s->n_slots = n_slots;
	router_learner_plan(l, NULL, &s->unknown.plan);
	entry_models(s, &s->unknown, NULL);
	for (size_t i = 0; i < n_tasks; i++) {
		const char *task = router_learner_task_name(l, i);
		memset(&e, 0, sizeof e);
		snprintf(e.task, sizeof e.task, "%s", task);
		router_learner_plan(l, task, &e.plan);
		entry_models(s, &e, task);
		entry_add(s, &e);
	}
	for (size_t i = 0; i < n_flows; i++) {
		const char *task, *wf;
		router_learner_workflow_at(l, i, &task, &wf);
		memset(&e, 0, sizeof e);
		router_learner_plan_workflow(l, task, wf, &e.plan);
		if (!e.plan.workflow_policy && !e.plan.workflow_agrees)
			continue; /* answered as an unknown workflow: the task type's plan */
		snprintf(e.task, sizeof e.task, "%s", task);
		snprintf(e.workflow, sizeof e.workflow, "%s", wf);
		entry_models(s, &e, task);
		entry_add(s, &e);
	}
	return 0;
}

/* The learner's sums of one statistics row: n counts quality samples; cost
 * enters as its mean per call over the priced calls, times n (a decision
 * estimate for choosing a tier, not an account: reports never read it). */
static void cell_sums(struct router_cell_sums *cs, int64_t quality_n, double quality_sum,
                      double quality_sumsq, int64_t priced_calls, int64_t cost_pusd)
{
	memset(cs, 0, sizeof *cs);
	cs->n = quality_n;
	cs->quality_sum = quality_sum;
	cs->quality_sumsq = quality_sumsq;
	if (priced_calls > 0)
		cs->cost_pusd =
		    (int64_t)((double)cost_pusd / (double)priced_calls * (double)quality_n);
}

struct snapshot *router_snapshot_build(const struct router_params *p, struct router_stat_row *rows,
                                       size_t n_rows, struct router_workflow_stat_row *wrows,
                                       size_t n_wrows, struct router_override_row *ovs,
                                       size_t n_ovs, const cJSON *in_force,
                                       const cJSON *in_force_wf, struct tally_err *err)
{
	struct snapshot *s = calloc(1, sizeof *s);
	if (!s) {
		free(rows);
		free(wrows);
		free(ovs);
		tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
		return NULL;
	}
	s->rows = rows;
	s->n_rows = n_rows;
	s->wrows = wrows;
	s->n_wrows = n_wrows;
	s->ovs = ovs;
	s->n_ovs = n_ovs;
	s->built_us = time_now_us();
	qsort(s->rows, s->n_rows, sizeof *s->rows, row_cmp);
	qsort(s->wrows, s->n_wrows, sizeof *s->wrows, wrow_cmp);
	if (!(s->l = router_learner_new(p, err)))
		goto fail;
	for (size_t i = 0; i < n_rows; i++) {
		const struct router_stat_row *r = &rows[i];
		struct router_cell_sums cs;
		cell_sums(&cs, r->quality_n, r->quality_sum, r->quality_sumsq, r->priced_calls,
		          r->cost_pusd);
		memcpy(cs.latency_hist, r->latency_hist, sizeof cs.latency_hist);
		if (router_learner_add_sums(s->l, r->task_type, r->tier, &cs, err) < 0)
			goto fail;
	}
	for (size_t i = 0; i < n_wrows; i++) {
		const struct router_workflow_stat_row *r = &wrows[i];
		struct router_cell_sums cs;
		cell_sums(&cs, r->quality_n, r->quality_sum, r->quality_sumsq, r->priced_calls,
		          r->cost_pusd);
		if (router_learner_add_workflow_sums(s->l, r->task_type, r->workflow, r->tier, &cs,
		                                     err) < 0)
			goto fail;
	}
	for (size_t i = 0; i < n_ovs; i++) {
		struct router_override ov;
		memset(&ov, 0, sizeof ov);
		ov.has_tolerance = ovs[i].has_tolerance;
		ov.tolerance = ovs[i].tolerance;
		snprintf(ov.pinned, sizeof ov.pinned, "%s", ovs[i].pinned);
		for (size_t k = 0; k < ovs[i].n_allowed; k++)
			snprintf(ov.allowed[k], sizeof ov.allowed[k], "%s", ovs[i].allowed[k]);
		ov.n_allowed = ovs[i].n_allowed;
		if (router_learner_set_override(s->l, ovs[i].task_type, &ov, err) < 0)
			goto fail;
	}
	/* the newest version's tiers are the incumbents: the rule moves a task
	 * type only on evidence that outlasts noise (hysteresis) */
	const cJSON *e;
	cJSON_ArrayForEach(e, in_force)
	{
		if (e->string && cJSON_IsString(e) && strlen(e->string) <= ROUTER_TASK_MAX &&
		    router_learner_set_incumbent(s->l, e->string, NULL, e->valuestring, err) < 0)
			goto fail;
	}
	const cJSON *wo;
	cJSON_ArrayForEach(e, in_force_wf) cJSON_ArrayForEach(wo, e)
	{
		if (e->string && wo->string && cJSON_IsString(wo) &&
		    strlen(e->string) <= ROUTER_TASK_MAX &&
		    router_learner_set_incumbent(s->l, e->string, wo->string, wo->valuestring,
		                                 err) < 0)
			goto fail;
	}
	if (routes_build(s, err) < 0)
		goto fail;
	return s;
fail:
	router_snapshot_free(s);
	return NULL;
}

void router_snap_init(struct router *r, struct snapshot *s)
{
	atomic_init(&r->snap, s);
	atomic_init(&r->epoch, 0);
	atomic_init(&r->readers[0], 0);
	atomic_init(&r->readers[1], 0);
}
