/* live.c - the live router: a thread that keeps the statistics in step with
 * the ledger, re-evaluates the policy, stores each change as a version (with
 * its audit entry and webhook), and publishes an in-memory snapshot that
 * route queries read.
 *
 * One cycle: (1) read the calls ingested since the watermark into
 * router_stats and router_workflow_stats; (2) load the last ROUTER_DAYS days
 * of statistics and the overrides (a few rows per task type, workflow and
 * tier, never the calls); (3) build a fresh learner from them, decide every
 * task type and workflow, and precompute the route plan of each; (4) when
 * the policy differs from the newest version, store a new version; (5) swap
 * in the new snapshot.
 *
 * Route answers never wait for a cycle: the snapshot is immutable once
 * published and read without a lock (see snap_enter), and each answer is a
 * hash lookup of a precomputed plan plus one draw of a per-thread PRNG.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../ledger/ledger.h"
#include "router.h"

#define ROUTER_DAYS 30

_Static_assert(ROUTER_LAT_BUCKETS == LEDGER_ROUTER_LAT_BUCKETS, "latency buckets");
_Static_assert(ROUTER_MAX_ALLOWED == LEDGER_ROUTER_MAX_ALLOWED, "allowed tiers");

/* The precomputed answers of one task type, or of one workflow of a task
 * type that decided for itself (or agrees with its task type). */
struct route_entry {
	char task[ROUTER_TASK_MAX + 1];
	char workflow[ROUTER_TASK_MAX + 1]; /* "" for the task type's own */
	struct router_plan plan;
	const char *model, *explore_model, *explore2_model; /* into the snapshot's rows, or "" */
};

struct snapshot {
	struct router_learner *l; /* read-only once published */
	int64_t version;
	int64_t built_us;
	struct router_stat_row *rows; /* by task type, tier */
	size_t n_rows;
	struct router_workflow_stat_row *wrows; /* by task type, workflow, tier */
	size_t n_wrows;
	struct router_override_row *ovs;
	size_t n_ovs;
	struct route_entry *entries;
	size_t n_entries;
	uint32_t *slots;            /* open addressing: entry index + 1, 0 = empty */
	size_t n_slots;             /* power of two */
	struct route_entry unknown; /* a task type never seen */
};

struct router {
	struct tally_config cfg;
	struct router_params params;
	int64_t interval_s, settle_s;

	pthread_t thread;
	bool thread_started;
	pthread_mutex_t mu; /* stop, kick, cycles, last error */
	pthread_cond_t cv;
	bool stop, kick, waiting;
	uint64_t cycles;
	char last_error[256];

	/* The published snapshot, read without a lock: see snap_enter. */
	struct snapshot *_Atomic snap;
	atomic_uint epoch;
	atomic_long readers[2];
};

static struct router *_Atomic live;

/* ---- configuration ------------------------------------------------------------- */

static double env_double(const char *name, double def, double lo, double hi)
{
	const char *v = getenv(name);
	char *end;
	if (!v || !*v)
		return def;
	errno = 0;
	double d = strtod(v, &end);
	if (errno || *end || !(d >= lo && d <= hi)) {
		log_warn("router: %s=%s is not a number in [%g,%g]; using %g", name, v, lo, hi,
		         def);
		return def;
	}
	return d;
}

int router_params_from_env(struct router_params *p, int64_t *interval_s, int64_t *settle_s)
{
	router_params_init(p);
	p->tolerance = env_double("TALLY_ROUTER_TOLERANCE", p->tolerance, 0, 0.99);
	p->min_samples = (int64_t)env_double("TALLY_ROUTER_MIN_SAMPLES", 30, 1, 1e9);
	p->explore_share = env_double("TALLY_ROUTER_EXPLORE", p->explore_share, 0, 1);
	p->warmup_share = env_double("TALLY_ROUTER_WARMUP", p->warmup_share, 0, 1);
	p->window = 0; /* the live router forgets by the ROUTER_DAYS-day horizon instead */
	p->seed = (uint64_t)time_now_us();
	const char *d = getenv("TALLY_ROUTER_DEFAULT_TIER");
	if (d && *d)
		snprintf(p->default_tier, sizeof p->default_tier, "%s", d);
	if (interval_s)
		*interval_s = (int64_t)env_double("TALLY_ROUTER_INTERVAL_S", 60, 1, 86400);
	if (settle_s)
		*settle_s = (int64_t)env_double("TALLY_ROUTER_SETTLE_S", 300, 0, 86400 * 7);
	return 0;
}

/* ---- snapshot ---------------------------------------------------------------------- */

static void snapshot_free(struct snapshot *s)
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
 * publish() swaps the pointer, then flips the epoch twice, each time waiting
 * until the half it left is empty, and only then frees the old snapshot: a
 * reader that may have loaded the old pointer counted itself before the
 * swap, in the half of the epoch it read, and the two flips wait for both
 * halves (the second one catches a reader that read the epoch before an
 * earlier flip and counted itself after that flip's wait). New readers go to
 * the other half meanwhile, so the wait ends. Readers never wait. */
static struct snapshot *snap_enter(struct router *r, unsigned *half)
{
	*half = atomic_load(&r->epoch) & 1u;
	atomic_fetch_add(&r->readers[*half], 1);
	return atomic_load(&r->snap);
}

static void snap_leave(struct router *r, unsigned half)
{
	atomic_fetch_sub(&r->readers[half], 1);
}

static void publish(struct router *r, struct snapshot *s)
{
	struct snapshot *old = atomic_exchange(&r->snap, s);
	for (int flip = 0; flip < 2; flip++) {
		unsigned half = atomic_fetch_add(&r->epoch, 1) & 1u;
		while (atomic_load(&r->readers[half]) != 0) {
			struct timespec ts = {0, 20000};
			nanosleep(&ts, NULL);
		}
	}
	snapshot_free(old);
}

static int str_pair_cmp(const char *a1, const char *a2, const char *b1, const char *b2)
{
	int c = strcmp(a1, b1);
	return c ? c : strcmp(a2, b2);
}

static const struct router_stat_row *find_row(const struct snapshot *s, const char *task,
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
static size_t wrow_lower(const struct snapshot *s, const char *task, const char *workflow,
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

static const struct router_workflow_stat_row *find_wrow(const struct snapshot *s, const char *task,
                                                        const char *workflow, const char *tier)
{
	size_t i = wrow_lower(s, task, workflow, tier);
	return i < s->n_wrows && wrow_cmp3(&s->wrows[i], task, workflow, tier) == 0 ? &s->wrows[i]
	                                                                            : NULL;
}

/* The model a route answer names: the task type's own for that tier, else
 * the tier's most used model over all task types, else "". */
static const char *model_for(const struct snapshot *s, const char *task, const char *tier)
{
	const struct router_stat_row *r = find_row(s, task, tier);
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

static int64_t row_cost_mean(const struct router_stat_row *r)
{
	return r && r->priced_calls > 0 ? r->cost_pusd / r->priced_calls : -1;
}

/* A workflow's cost per call on a tier: its own, else its task type's. */
static int64_t wf_cost_mean(const struct snapshot *s, const char *task, const char *workflow,
                            const char *tier)
{
	const struct router_workflow_stat_row *w = find_wrow(s, task, workflow, tier);
	if (w && w->priced_calls > 0)
		return w->cost_pusd / w->priced_calls;
	return row_cost_mean(find_row(s, task, tier));
}

/* Calls of a workflow over the period, all tiers (0 when not loaded). */
static int64_t wf_volume(const struct snapshot *s, const char *task, const char *workflow)
{
	int64_t v = 0;
	for (size_t i = wrow_lower(s, task, workflow, "");
	     i < s->n_wrows &&
	     str_pair_cmp(s->wrows[i].task_type, s->wrows[i].workflow, task, workflow) == 0;
	     i++)
		v += s->wrows[i].calls;
	return v;
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

static const struct route_entry *route_find(const struct snapshot *s, const char *task,
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
	e->model = e->plan.tier[0] ? model_for(s, task, e->plan.tier) : "";
	e->explore_model = e->plan.explore_tier[0] ? model_for(s, task, e->plan.explore_tier) : "";
	e->explore2_model =
	    e->plan.explore2_tier[0] ? model_for(s, task, e->plan.explore2_tier) : "";
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

/* Takes ownership of rows, wrows and ovs (freed on failure too). */

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

static struct snapshot *snapshot_build(const struct router_params *p, struct router_stat_row *rows,
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
	snapshot_free(s);
	return NULL;
}

/* ---- one cycle ------------------------------------------------------------------------ */

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
	const struct router_stat_row *r = find_row(s, task, tier);
	router_learner_stats(s->l, task, tier, &st);
	sbuf_json_str(b, tier);
	evidence_tail(b, &st, r ? r->calls : 0, row_cost_mean(r));
}

static void wf_evidence_json(struct sbuf *b, const struct snapshot *s, const char *task,
                             const char *workflow, const char *tier)
{
	struct router_cell_stats st;
	const struct router_workflow_stat_row *r = find_wrow(s, task, workflow, tier);
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

/* Decides every task type and workflow of s; builds the policy, the
 * workflow policy and the changes against the previous version. Returns
 * the number of changes, -1 when out of memory. */
static int diff_policy(const struct snapshot *s, const cJSON *old, const cJSON *oldw,
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
	qsort(entries, n_entries, sizeof *entries, wf_entry_cmp);
	sbuf_putc(wpolicy, '{');
	for (size_t i = 0; i < n_entries; i++) {
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
	sbuf_puts(wpolicy, n_entries ? "}}" : "}");

	sbuf_putc(policy, '{');
	sbuf_putc(changes, '[');
	for (size_t i = 0; i < router_learner_task_count(l); i++) {
		const char *task = router_learner_task_name(l, i);
		struct router_decision d;
		router_learner_decide(l, task, &d);
		const char *was = old_tier_of(old, task);
		bool pinned = d.pinned, was_default = false;
		/* a task type enters the policy once it is decided (or pinned);
		 * until then it gets the default, which is no change */
		if (!d.tier[0] || (!d.settled && !pinned && !was))
			continue;
		if (!was && df.def.tier[0]) {
			was = df.def.tier;
			was_default = true;
		}
		if (n_policy++)
			sbuf_putc(policy, ',');
		sbuf_json_str(policy, task);
		sbuf_putc(policy, ':');
		sbuf_json_str(policy, d.tier);
		if (was && strcmp(was, d.tier) == 0)
			continue;
		int64_t vol = task_volume(s, task);
		for (size_t k = 0; k < df.n_own; k++)
			if (strcmp(df.own[k].task, task) == 0)
				vol -= df.own[k].calls;
		if (vol < 0)
			vol = 0;
		int64_t c_old = was ? row_cost_mean(find_row(s, task, was)) : -1;
		int64_t c_new = row_cost_mean(find_row(s, task, d.tier));
		int64_t sv = c_old >= 0 && c_new >= 0 ? vol * (c_old - c_new) : 0;
		df.saving += sv;
		if (df.n_task++)
			sbuf_putc(changes, ',');
		sbuf_puts(changes, "{\"task_type\":");
		sbuf_json_str(changes, task);
		sbuf_puts(changes, ",\"old_tier\":");
		if (was)
			sbuf_json_str(changes, was);
		else
			sbuf_puts(changes, "null");
		sbuf_printf(changes, ",\"old_was_default\":%s,\"new_tier\":",
		            was_default ? "true" : "false");
		sbuf_json_str(changes, d.tier);
		sbuf_puts(changes, ",\"reason\":");
		sbuf_json_str(changes, d.reason);
		sbuf_printf(changes, ",\"tolerance\":%g,\"evidence\":{", d.tolerance);
		evidence_json(changes, s, task, d.tier);
		if (was && strcmp(was, d.tier) != 0) {
			sbuf_putc(changes, ',');
			evidence_json(changes, s, task, was);
		}
		if (d.best[0] && strcmp(d.best, d.tier) != 0 &&
		    (!was || strcmp(d.best, was) != 0)) {
			sbuf_putc(changes, ',');
			evidence_json(changes, s, task, d.best);
		}
		sbuf_printf(changes, "},\"calls_30d\":%lld,", (long long)vol);
		saving_json(changes, sv);
		sbuf_putc(changes, '}');
	}
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

/* One cycle over an open ledger. *out receives the new snapshot. */
static int cycle(struct ledger *lg, const struct router_params *p, int64_t settle_s,
                 const char *trigger, struct snapshot **out, struct tally_err *err)
{
	int64_t bounds[ROUTER_LAT_BUCKETS], version = 0, saving = 0;
	int64_t since = time_now_us() - INT64_C(86400000000) * ROUTER_DAYS;
	struct router_stat_row *rows = NULL;
	struct router_workflow_stat_row *wrows = NULL;
	struct router_override_row *ovs = NULL;
	size_t n_rows = 0, n_wrows = 0, n_ovs = 0;
	char *old_json = NULL, *old_wjson = NULL;
	cJSON *old = NULL, *oldw = NULL;
	struct snapshot *s = NULL;
	struct sbuf policy, wpolicy, changes;
	int n_task = 0, n_wf = 0, rc = -1;

	*out = NULL;
	sbuf_init(&policy);
	sbuf_init(&wpolicy);
	sbuf_init(&changes);
	for (int b = 0; b < ROUTER_LAT_BUCKETS; b++)
		bounds[b] = router_latency_bucket_max(b);
	if (ledger_router_update_stats(lg, settle_s, bounds, ROUTER_LAT_BUCKETS, NULL, err) < 0 ||
	    ledger_router_load_stats(lg, since, &rows, &n_rows, err) < 0 ||
	    ledger_router_load_workflow_stats(lg, since, p->min_samples, &wrows, &n_wrows, err) <
	        0 ||
	    ledger_router_overrides(lg, &ovs, &n_ovs, err) < 0 ||
	    ledger_router_latest(lg, &version, &old_json, &old_wjson, err) < 0)
		goto out;
	old = old_json ? cJSON_Parse(old_json) : NULL;
	oldw = old_wjson ? cJSON_Parse(old_wjson) : NULL;
	s = snapshot_build(p, rows, n_rows, wrows, n_wrows, ovs, n_ovs, old, oldw, err);
	rows = NULL;
	wrows = NULL;
	ovs = NULL;
	if (!s)
		goto out;
	int n = diff_policy(s, old, oldw, &policy, &wpolicy, &changes, &n_task, &n_wf, &saving);
	if (n < 0 || policy.oom || wpolicy.oom || changes.oom) {
		tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
		goto out;
	}
	if (n > 0) {
		if (ledger_router_store_version(lg, trigger, policy.p, wpolicy.p, changes.p, n_task,
		                                n_wf, saving, &version, err) < 0)
			goto out;
		log_info("router: policy version %lld (%d task type(s), %d workflow(s) changed)",
		         (long long)version, n_task, n_wf);
	}
	s->version = version;
	*out = s;
	s = NULL;
	rc = 0;
out:
	snapshot_free(s);
	free(rows);
	free(wrows);
	free(ovs);
	free(old_json);
	free(old_wjson);
	cJSON_Delete(old);
	cJSON_Delete(oldw);
	sbuf_cleanup(&policy);
	sbuf_cleanup(&wpolicy);
	sbuf_cleanup(&changes);
	return rc;
}

static void router_init_snap(struct router *r, struct snapshot *s)
{
	atomic_init(&r->snap, s);
	atomic_init(&r->epoch, 0);
	atomic_init(&r->readers[0], 0);
	atomic_init(&r->readers[1], 0);
}

int router_refresh_once(const struct tally_config *cfg, int64_t settle_s, struct sbuf *policy,
                        int64_t *version, struct tally_err *err)
{
	struct router tmp;
	struct snapshot *s = NULL;
	memset(&tmp, 0, sizeof tmp);
	router_params_from_env(&tmp.params, NULL, NULL);
	struct ledger *lg = ledger_open(cfg->database_url, err);
	if (!lg)
		return -1;
	int rc = cycle(lg, &tmp.params, settle_s, "on demand", &s, err);
	ledger_close(lg);
	if (rc < 0)
		return -1;
	if (version)
		*version = s->version;
	if (policy) {
		/* the same JSON as the API, from a router that has no thread */
		router_init_snap(&tmp, s);
		rc = router_policy_json(&tmp, policy, err);
	}
	snapshot_free(s);
	return rc;
}

/* ---- the thread ---------------------------------------------------------------------- */

static void *router_main(void *arg)
{
	struct router *r = arg;
	struct ledger *lg = NULL;
	const char *trigger = "periodic";

	for (;;) {
		struct tally_err err = {0};
		struct snapshot *s = NULL;
		if (!lg)
			lg = ledger_open(r->cfg.database_url, &err);
		else if (!ledger_ok(lg) && ledger_reset(lg, &err) < 0 && !err.code)
			tally_err_set(&err, TALLY_EDB, true, "the ledger connection is down");
		if (lg && !err.code && cycle(lg, &r->params, r->settle_s, trigger, &s, &err) == 0)
			publish(r, s);
		if (err.code)
			log_warn("router: cycle failed (will retry): %s", err.msg);
		pthread_mutex_lock(&r->mu);
		snprintf(r->last_error, sizeof r->last_error, "%s", err.code ? err.msg : "");
		r->cycles++;
		pthread_cond_broadcast(&r->cv);
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += (time_t)r->interval_s;
		r->waiting = true;
		while (!r->stop && !r->kick)
			if (pthread_cond_timedwait(&r->cv, &r->mu, &until) == ETIMEDOUT)
				break;
		r->waiting = false;
		trigger = r->kick ? "on demand" : "periodic";
		r->kick = false;
		bool stop = r->stop;
		pthread_mutex_unlock(&r->mu);
		if (stop)
			break;
	}
	ledger_close(lg);
	return NULL;
}

struct router *router_start(const struct tally_config *cfg, struct tally_err *err)
{
	struct router *r = calloc(1, sizeof *r);
	if (!r) {
		tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
		return NULL;
	}
	r->cfg = *cfg;
	router_params_from_env(&r->params, &r->interval_s, &r->settle_s);
	struct router_learner *probe = router_learner_new(&r->params, err);
	if (!probe) {
		free(r);
		return NULL;
	}
	router_learner_free(probe);
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	router_init_snap(r, NULL);
	if (pthread_create(&r->thread, NULL, router_main, r) != 0) {
		tally_err_set(err, TALLY_EIO, false, "router: cannot start its thread");
		pthread_mutex_destroy(&r->mu);
		pthread_cond_destroy(&r->cv);
		free(r);
		return NULL;
	}
	r->thread_started = true;
	struct router *none = NULL;
	atomic_compare_exchange_strong(&live, &none, r);
	return r;
}

void router_stop(struct router *r)
{
	if (!r)
		return;
	struct router *self = r;
	atomic_compare_exchange_strong(&live, &self, NULL);
	pthread_mutex_lock(&r->mu);
	r->stop = true;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	if (r->thread_started)
		pthread_join(r->thread, NULL);
	snapshot_free(atomic_load(&r->snap));
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	free(r);
}

struct router *router_live(void)
{
	return atomic_load(&live);
}

int router_reevaluate(struct router *r, int timeout_ms, struct tally_err *err)
{
	int rc = 0;
	pthread_mutex_lock(&r->mu);
	/* a cycle already running may have read the ledger before the change
	 * the caller just made: then wait for the one after it */
	uint64_t want = r->cycles + (r->waiting ? 1 : 2);
	r->kick = true;
	pthread_cond_broadcast(&r->cv);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	while (r->cycles < want && !r->stop)
		if (pthread_cond_timedwait(&r->cv, &r->mu, &until) == ETIMEDOUT) {
			rc = tally_err_set(err, TALLY_EIO, true,
			                   "router: re-evaluation did not finish in time");
			break;
		}
	if (rc == 0 && r->last_error[0])
		rc = tally_err_set(err, TALLY_EDB, true, "router: %s", r->last_error);
	pthread_mutex_unlock(&r->mu);
	return rc;
}

/* ---- queries ------------------------------------------------------------------------- */

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
	struct snapshot *s = snap_enter(r, &half);

	out->tier[0] = out->model[0] = out->reason[0] = '\0';
	out->explore = out->workflow_policy = false;
	out->policy_version = 0;
	if (!s) {
		snap_leave(r, half);
		return tally_err_set(err, TALLY_ENOTFOUND, true,
		                     "router: no policy yet (the first cycle has not finished)");
	}
	bool has_wf = workflow && workflow[0];
	const struct route_entry *te = route_find(s, task_type, ""), *we = NULL;
	if (!te)
		te = &s->unknown;
	if (has_wf)
		we = route_find(s, task_type, workflow);
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
	snap_leave(r, half);
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
	size_t i = wrow_lower(s, task, "", "");
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
	struct snapshot *s = snap_enter(r, &half);
	if (!s) {
		snap_leave(r, half);
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
		sbuf_json_str(b, d.tier[0] ? model_for(s, task, d.tier) : "");
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
			const struct router_stat_row *row = find_row(s, task, tier);
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
			if (row_cost_mean(row) >= 0) {
				money_format(row_cost_mean(row), 12, usd, sizeof usd);
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
	snap_leave(r, half);
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
