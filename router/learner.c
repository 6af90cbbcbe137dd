/* learner.c - per (task_type, tier) statistics and the routing policy.
 *
 * Pure C: no database, no threads, no clock. The live router and
 * `tally router eval` both run this code.
 *
 * Statistics of a cell: a decision window (n, quality sum and sum of
 * squares, cost sum) that the policy reads, halved whenever n reaches
 * params.window so that a tier that changed is noticed, and lifetime totals
 * (calls, exact cost, quality sum, latency histogram) for reports.
 *
 * The quality bound is Wilson's score interval at params.z applied to the
 * window's mean. For 0/1 quality it is the Wilson interval; for scores in
 * [0,1] it is conservative, because a [0,1] variable with mean m has variance
 * at most m(1 - m). It behaves well at small n and at means near 0 or 1,
 * where the normal approximation does not.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "router.h"

struct cell {
	int64_t n;
	double qsum, qsq;
	int64_t cost;
	int64_t calls, cost_total;
	double qsum_total;
	int64_t lat[ROUTER_LAT_BUCKETS];
};

struct task {
	char name[ROUTER_TASK_MAX + 1];
	struct cell *cells; /* one per tier; cap_cells >= n_tiers after task_cells() */
	size_t cap_cells;
	bool has_ov;
	struct router_override ov;
	int incumbent; /* tier index + 1 of the policy in force; 0 = none */
};

/* One workflow of a task type: its own cells (its calls are also in the
 * task type's). */
struct flow {
	char task[ROUTER_TASK_MAX + 1];
	char name[ROUTER_TASK_MAX + 1];
	struct cell *cells;
	size_t cap_cells;
	int incumbent; /* tier index + 1 of its own entry in force; 0 = none */
};

struct router_learner {
	struct router_params p;
	char (*tiers)[ROUTER_TIER_MAX + 1];
	size_t n_tiers, cap_tiers;
	struct cell *pooled; /* per tier, over all task types */
	struct task *tasks;
	size_t n_tasks, cap_tasks;
	uint32_t *slots; /* open addressing: task index + 1, 0 = empty */
	size_t n_slots;  /* power of two */
	struct flow *flows;
	size_t n_flows, cap_flows;
	uint32_t *fslots; /* the same for flows */
	size_t n_fslots;
	struct router_rng rng;
};

static const int64_t lat_max[ROUTER_LAT_BUCKETS] = {
    5,    10,   20,   50,   100,  200,   300,   500,   750,   1000,
    1500, 2000, 3000, 5000, 7500, 10000, 15000, 30000, 60000, INT64_MAX};

/* ---- small helpers ------------------------------------------------------- */

void router_params_init(struct router_params *p)
{
	memset(p, 0, sizeof *p);
	p->tolerance = 0.02;
	p->min_samples = 30;
	p->explore_share = 0.05;
	p->warmup_share = 0.25;
	p->z = 1.645;
	p->window = 2000;
	p->seed = 1;
}

void router_rng_seed(struct router_rng *r, uint64_t seed)
{
	/* splitmix64 spreads small seeds; xorshift must not start at 0 */
	uint64_t z = seed + UINT64_C(0x9E3779B97F4A7C15);
	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	z ^= z >> 31;
	r->s = z ? z : UINT64_C(0x2545F4914F6CDD1D);
}

uint64_t router_rng_next(struct router_rng *r)
{
	uint64_t x = r->s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->s = x;
	return x * UINT64_C(0x2545F4914F6CDD1D);
}

double router_rng_unit(struct router_rng *r)
{
	return (double)(router_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

void router_wilson(double mean, int64_t n, double z, double *lcb, double *ucb)
{
	if (n <= 0) {
		*lcb = 0;
		*ucb = 1;
		return;
	}
	if (mean < 0)
		mean = 0;
	if (mean > 1)
		mean = 1;
	double dn = (double)n, z2 = z * z;
	double d = 1 + z2 / dn;
	double c = mean + z2 / (2 * dn);
	double s = z * sqrt(mean * (1 - mean) / dn + z2 / (4 * dn * dn));
	double lo = (c - s) / d, hi = (c + s) / d;
	*lcb = lo < 0 ? 0 : lo;
	*ucb = hi > 1 ? 1 : hi;
}

int router_latency_bucket(int64_t latency_ms)
{
	int b = 0;
	while (b < ROUTER_LAT_BUCKETS - 1 && latency_ms > lat_max[b])
		b++;
	return b;
}

int64_t router_latency_bucket_max(int b)
{
	if (b < 0 || b >= ROUTER_LAT_BUCKETS)
		return -1;
	return lat_max[b];
}

static int64_t lat_percentile(const int64_t *h, double p)
{
	int64_t total = 0;
	for (int b = 0; b < ROUTER_LAT_BUCKETS; b++)
		total += h[b];
	if (total == 0)
		return -1;
	int64_t want = (int64_t)ceil(p * (double)total), acc = 0;
	if (want < 1)
		want = 1;
	for (int b = 0; b < ROUTER_LAT_BUCKETS; b++) {
		acc += h[b];
		if (acc >= want)
			/* the open last bucket reports its lower edge */
			return b == ROUTER_LAT_BUCKETS - 1 ? lat_max[b - 1] : lat_max[b];
	}
	return lat_max[ROUTER_LAT_BUCKETS - 2];
}

static uint32_t hash_name(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* A workflow's key: task type, a unit separator, workflow. */
static uint32_t hash_flow(const char *task, const char *workflow)
{
	uint32_t h = (hash_name(task) ^ 0x1fu) * 16777619u;
	for (; *workflow; workflow++)
		h = (h ^ (unsigned char)*workflow) * 16777619u;
	return h;
}

static double cell_mean(const struct cell *c)
{
	return c->n > 0 ? c->qsum / (double)c->n : 0;
}

static int64_t cell_cost_mean(const struct cell *c)
{
	return c->n > 0 ? c->cost / c->n : 0;
}

static void cell_halve(struct cell *c)
{
	/* the window is even, so n halves exactly and the mean is kept */
	c->n /= 2;
	c->qsum /= 2;
	c->qsq /= 2;
	c->cost /= 2;
}

static void cell_add(struct cell *c, int64_t window, double q, int64_t cost, int64_t lat)
{
	if (window > 0 && c->n >= window)
		cell_halve(c);
	c->n++;
	c->qsum += q;
	c->qsq += q * q;
	c->cost += cost;
	c->calls++;
	c->cost_total += cost;
	c->qsum_total += q;
	if (lat >= 0)
		c->lat[router_latency_bucket(lat)]++;
}

/* ---- tiers and tasks ----------------------------------------------------------- */

static int tier_index(const struct router_learner *l, const char *tier)
{
	for (size_t i = 0; i < l->n_tiers; i++)
		if (strcmp(l->tiers[i], tier) == 0)
			return (int)i;
	return -1;
}

static struct task *task_find(const struct router_learner *l, const char *name)
{
	if (!l->n_slots || !name)
		return NULL;
	size_t mask = l->n_slots - 1;
	for (size_t i = hash_name(name) & mask;; i = (i + 1) & mask) {
		uint32_t s = l->slots[i];
		if (!s)
			return NULL;
		if (strcmp(l->tasks[s - 1].name, name) == 0)
			return &l->tasks[s - 1];
	}
}

/* items with room for one more (n used of *cap, doubling from 16): the same
 * or a moved array, NULL when out of memory (items then unchanged). */
static void *grow(void *items, size_t *cap, size_t n, size_t size, struct tally_err *err)
{
	if (n < *cap)
		return items;
	size_t want = *cap ? *cap * 2 : 16;
	void *p = realloc(items, want * size);
	if (!p) {
		tally_err_set(err, TALLY_ENOMEM, false, "router: out of memory");
		return NULL;
	}
	*cap = want;
	return p;
}

/* Open addressing over an item array: slots hold item numbers + 1 (0 empty). */
static void slots_put(uint32_t *slots, size_t n_slots, uint32_t hash, size_t item)
{
	size_t i = hash & (n_slots - 1);
	while (slots[i])
		i = (i + 1) & (n_slots - 1);
	slots[i] = (uint32_t)(item + 1);
}

/* Room in *slots (at most half full) for n_items + 1 items, rebuilt from
 * item_hash when it grows. */
static int slots_fit(const struct router_learner *l, uint32_t **slots, size_t *n_slots,
                     size_t n_items, uint32_t (*item_hash)(const struct router_learner *, size_t),
                     struct tally_err *err)
{
	if ((n_items + 1) * 2 <= *n_slots)
		return 0;
	size_t want = *n_slots ? *n_slots * 2 : 64;
	uint32_t *grown = calloc(want, sizeof *grown);
	if (!grown)
		return tally_err_set(err, TALLY_ENOMEM, false, "router: out of memory");
	for (size_t k = 0; k < n_items; k++)
		slots_put(grown, want, item_hash(l, k), k);
	free(*slots);
	*slots = grown;
	*n_slots = want;
	return 0;
}

static uint32_t task_hash(const struct router_learner *l, size_t k)
{
	return hash_name(l->tasks[k].name);
}

static uint32_t flow_hash(const struct router_learner *l, size_t k)
{
	return hash_flow(l->flows[k].task, l->flows[k].name);
}

/* Makes *cells hold one cell per registered tier. */
static int cells_fit(const struct router_learner *l, struct cell **cells, size_t *cap_cells,
                     struct tally_err *err)
{
	if (*cap_cells >= l->n_tiers)
		return 0;
	size_t cap = l->cap_tiers;
	struct cell *c = realloc(*cells, cap * sizeof *c);
	if (!c)
		return tally_err_set(err, TALLY_ENOMEM, false, "router: out of memory");
	memset(c + *cap_cells, 0, (cap - *cap_cells) * sizeof *c);
	*cells = c;
	*cap_cells = cap;
	return 0;
}

static int task_cells(struct router_learner *l, struct task *t, struct tally_err *err)
{
	return cells_fit(l, &t->cells, &t->cap_cells, err);
}

static struct flow *flow_find(const struct router_learner *l, const char *task,
                              const char *workflow)
{
	if (!l->n_fslots || !task || !workflow)
		return NULL;
	size_t mask = l->n_fslots - 1;
	for (size_t i = hash_flow(task, workflow) & mask;; i = (i + 1) & mask) {
		uint32_t s = l->fslots[i];
		if (!s)
			return NULL;
		const struct flow *f = &l->flows[s - 1];
		if (strcmp(f->name, workflow) == 0 && strcmp(f->task, task) == 0)
			return &l->flows[s - 1];
	}
}

static struct flow *flow_get(struct router_learner *l, const char *task, const char *workflow,
                             struct tally_err *err)
{
	struct flow *f = flow_find(l, task, workflow);
	if (f)
		return f;
	if (strlen(task) > ROUTER_TASK_MAX || strlen(workflow) > ROUTER_TASK_MAX) {
		tally_err_set(err, TALLY_EINVAL, false,
		              "router: task type or workflow longer than %d bytes",
		              ROUTER_TASK_MAX);
		return NULL;
	}
	if (l->n_flows >= UINT32_MAX - 1) {
		tally_err_set(err, TALLY_ERANGE, false, "router: too many workflows");
		return NULL;
	}
	struct flow *flows = grow(l->flows, &l->cap_flows, l->n_flows, sizeof *flows, err);
	if (!flows)
		return NULL;
	l->flows = flows;
	if (slots_fit(l, &l->fslots, &l->n_fslots, l->n_flows, flow_hash, err) < 0)
		return NULL;
	f = &l->flows[l->n_flows];
	memset(f, 0, sizeof *f);
	strcpy(f->task, task);
	strcpy(f->name, workflow);
	slots_put(l->fslots, l->n_fslots, hash_flow(task, workflow), l->n_flows);
	l->n_flows++;
	if (cells_fit(l, &f->cells, &f->cap_cells, err) < 0)
		return NULL;
	return f;
}

static struct task *task_get(struct router_learner *l, const char *name, struct tally_err *err)
{
	struct task *t = task_find(l, name);
	if (t)
		return t;
	if (strlen(name) > ROUTER_TASK_MAX) {
		tally_err_set(err, TALLY_EINVAL, false, "router: task type longer than %d bytes",
		              ROUTER_TASK_MAX);
		return NULL;
	}
	if (l->n_tasks >= UINT32_MAX - 1) {
		tally_err_set(err, TALLY_ERANGE, false, "router: too many task types");
		return NULL;
	}
	struct task *tasks = grow(l->tasks, &l->cap_tasks, l->n_tasks, sizeof *tasks, err);
	if (!tasks)
		return NULL;
	l->tasks = tasks;
	if (slots_fit(l, &l->slots, &l->n_slots, l->n_tasks, task_hash, err) < 0)
		return NULL;
	t = &l->tasks[l->n_tasks];
	memset(t, 0, sizeof *t);
	strcpy(t->name, name);
	slots_put(l->slots, l->n_slots, hash_name(name), l->n_tasks);
	l->n_tasks++;
	if (task_cells(l, t, err) < 0)
		return NULL;
	return t;
}

int router_learner_add_tier(struct router_learner *l, const char *tier, struct tally_err *err)
{
	int i = tier_index(l, tier);
	if (i >= 0)
		return i;
	if (!tier[0] || strlen(tier) > ROUTER_TIER_MAX)
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "router: a tier name must have 1 to %d bytes",
		                     ROUTER_TIER_MAX);
	if (l->n_tiers == l->cap_tiers) {
		size_t cap = l->cap_tiers ? l->cap_tiers * 2 : 8;
		void *nt = realloc(l->tiers, cap * sizeof *l->tiers);
		if (!nt)
			return tally_err_set(err, TALLY_ENOMEM, false, "router: out of memory");
		l->tiers = nt;
		struct cell *np = realloc(l->pooled, cap * sizeof *np);
		if (!np)
			return tally_err_set(err, TALLY_ENOMEM, false, "router: out of memory");
		memset(np + l->cap_tiers, 0, (cap - l->cap_tiers) * sizeof *np);
		l->pooled = np;
		l->cap_tiers = cap;
	}
	strcpy(l->tiers[l->n_tiers], tier);
	l->n_tiers++;
	for (size_t t = 0; t < l->n_tasks; t++)
		if (task_cells(l, &l->tasks[t], err) < 0)
			return -1;
	for (size_t k = 0; k < l->n_flows; k++)
		if (cells_fit(l, &l->flows[k].cells, &l->flows[k].cap_cells, err) < 0)
			return -1;
	return (int)(l->n_tiers - 1);
}

size_t router_learner_tier_count(const struct router_learner *l)
{
	return l->n_tiers;
}

const char *router_learner_tier_name(const struct router_learner *l, size_t i)
{
	return i < l->n_tiers ? l->tiers[i] : NULL;
}

size_t router_learner_task_count(const struct router_learner *l)
{
	return l->n_tasks;
}

const char *router_learner_task_name(const struct router_learner *l, size_t i)
{
	return i < l->n_tasks ? l->tasks[i].name : NULL;
}

size_t router_learner_workflow_count(const struct router_learner *l)
{
	return l->n_flows;
}

bool router_learner_workflow_at(const struct router_learner *l, size_t i, const char **task_type,
                                const char **workflow)
{
	if (i >= l->n_flows)
		return false;
	*task_type = l->flows[i].task;
	*workflow = l->flows[i].name;
	return true;
}

bool router_learner_workflow_known(const struct router_learner *l, const char *task_type,
                                   const char *workflow)
{
	return flow_find(l, task_type, workflow) != NULL;
}

/* ---- life cycle ------------------------------------------------------------------ */

static int check_params(const struct router_params *p, struct tally_err *err)
{
	if (!(p->tolerance >= 0 && p->tolerance < 1))
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "router: tolerance must be in [0,1) (0.02 = within 2%% of "
		                     "the best tier), got %g",
		                     p->tolerance);
	if (p->min_samples < 1)
		return tally_err_set(err, TALLY_EINVAL, false, "router: min_samples must be >= 1");
	if (!(p->explore_share >= 0 && p->explore_share <= 1) ||
	    !(p->warmup_share >= 0 && p->warmup_share <= 1))
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "router: exploration shares must be in [0,1]");
	if (!(p->z > 0 && p->z < 10))
		return tally_err_set(err, TALLY_EINVAL, false, "router: z must be in (0,10)");
	if (p->window < 0 || (p->window && (p->window % 2 || p->window < 2 * p->min_samples)))
		return tally_err_set(
		    err, TALLY_EINVAL, false,
		    "router: window must be 0 or an even number >= 2 x min_samples");
	return 0;
}

struct router_learner *router_learner_new(const struct router_params *p, struct tally_err *err)
{
	struct router_params def;
	if (!p) {
		router_params_init(&def);
		p = &def;
	}
	if (check_params(p, err) < 0)
		return NULL;
	struct router_learner *l = calloc(1, sizeof *l);
	if (!l) {
		tally_err_set(err, TALLY_ENOMEM, false, "router: out of memory");
		return NULL;
	}
	l->p = *p;
	l->p.default_tier[sizeof l->p.default_tier - 1] = '\0';
	router_rng_seed(&l->rng, p->seed);
	if (l->p.default_tier[0] && router_learner_add_tier(l, l->p.default_tier, err) < 0) {
		router_learner_free(l);
		return NULL;
	}
	return l;
}

void router_learner_free(struct router_learner *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n_tasks; i++)
		free(l->tasks[i].cells);
	free(l->tasks);
	free(l->slots);
	for (size_t i = 0; i < l->n_flows; i++)
		free(l->flows[i].cells);
	free(l->flows);
	free(l->fslots);
	free(l->tiers);
	free(l->pooled);
	free(l);
}

/* ---- learning ------------------------------------------------------------------------ */

int router_learner_observe(struct router_learner *l, const char *task_type, const char *tier,
                           double quality, int64_t cost_pusd, int64_t latency_ms,
                           struct tally_err *err)
{
	if (cost_pusd < 0)
		return tally_err_set(err, TALLY_EINVAL, false, "router: negative cost");
	if (!(quality >= 0))
		quality = 0; /* NaN too */
	if (quality > 1)
		quality = 1;
	int ti = router_learner_add_tier(l, tier, err);
	if (ti < 0)
		return -1;
	struct task *t = task_get(l, task_type, err);
	if (!t)
		return -1;
	cell_add(&t->cells[ti], l->p.window, quality, cost_pusd, latency_ms);
	cell_add(&l->pooled[ti], l->p.window, quality, cost_pusd, latency_ms);
	return 0;
}

static void sums_into(struct cell *c, int64_t window, const struct router_cell_sums *s)
{
	c->n += s->n;
	c->qsum += s->quality_sum;
	c->qsq += s->quality_sumsq;
	c->cost += s->cost_pusd;
	c->calls += s->n;
	c->cost_total += s->cost_pusd;
	c->qsum_total += s->quality_sum;
	for (int b = 0; b < ROUTER_LAT_BUCKETS; b++)
		c->lat[b] += s->latency_hist[b];
	/* shrink to the window keeping the means, as repeated halving would */
	if (window > 0 && c->n > window) {
		double f = (double)(window / 2) / (double)c->n;
		c->qsum *= f;
		c->qsq *= f;
		c->cost = (int64_t)((double)c->cost * f);
		c->n = window / 2;
	}
}

int router_learner_add_sums(struct router_learner *l, const char *task_type, const char *tier,
                            const struct router_cell_sums *s, struct tally_err *err)
{
	if (s->n < 0 || s->cost_pusd < 0)
		return tally_err_set(err, TALLY_EINVAL, false, "router: negative statistics");
	int ti = router_learner_add_tier(l, tier, err);
	if (ti < 0)
		return -1;
	struct task *t = task_get(l, task_type, err);
	if (!t)
		return -1;
	sums_into(&t->cells[ti], l->p.window, s);
	sums_into(&l->pooled[ti], l->p.window, s);
	return 0;
}

int router_learner_observe_workflow(struct router_learner *l, const char *task_type,
                                    const char *workflow, const char *tier, double quality,
                                    int64_t cost_pusd, int64_t latency_ms, struct tally_err *err)
{
	if (router_learner_observe(l, task_type, tier, quality, cost_pusd, latency_ms, err) < 0)
		return -1;
	if (!workflow || !workflow[0])
		return 0;
	struct flow *f = flow_get(l, task_type, workflow, err);
	if (!f)
		return -1;
	/* observe clamped the quality and registered the tier */
	if (!(quality >= 0))
		quality = 0;
	if (quality > 1)
		quality = 1;
	cell_add(&f->cells[tier_index(l, tier)], l->p.window, quality, cost_pusd, latency_ms);
	return 0;
}

int router_learner_add_workflow_sums(struct router_learner *l, const char *task_type,
                                     const char *workflow, const char *tier,
                                     const struct router_cell_sums *s, struct tally_err *err)
{
	if (s->n < 0 || s->cost_pusd < 0)
		return tally_err_set(err, TALLY_EINVAL, false, "router: negative statistics");
	if (!workflow || !workflow[0])
		return tally_err_set(err, TALLY_EINVAL, false, "router: empty workflow name");
	int ti = router_learner_add_tier(l, tier, err);
	if (ti < 0 || !task_get(l, task_type, err))
		return -1;
	struct flow *f = flow_get(l, task_type, workflow, err);
	if (!f)
		return -1;
	sums_into(&f->cells[ti], l->p.window, s);
	return 0;
}

int router_learner_set_override(struct router_learner *l, const char *task_type,
                                const struct router_override *ov, struct tally_err *err)
{
	if (ov) {
		if (ov->has_tolerance && !(ov->tolerance >= 0 && ov->tolerance < 1))
			return tally_err_set(err, TALLY_EINVAL, false,
			                     "router: override tolerance must be in [0,1)");
		if (ov->n_allowed > ROUTER_MAX_ALLOWED)
			return tally_err_set(err, TALLY_EINVAL, false,
			                     "router: at most %d allowed tiers",
			                     ROUTER_MAX_ALLOWED);
		if (ov->pinned[0] && router_learner_add_tier(l, ov->pinned, err) < 0)
			return -1;
		for (size_t i = 0; i < ov->n_allowed; i++)
			if (router_learner_add_tier(l, ov->allowed[i], err) < 0)
				return -1;
	}
	struct task *t = task_get(l, task_type, err);
	if (!t)
		return -1;
	if (ov) {
		t->ov = *ov;
		t->has_ov = true;
	} else {
		memset(&t->ov, 0, sizeof t->ov);
		t->has_ov = false;
	}
	return 0;
}

static void cell_stats(const struct router_learner *l, const struct cell *c,
                       struct router_cell_stats *out)
{
	memset(out, 0, sizeof *out);
	out->quality_ucb = 1;
	out->cost_per_success_pusd = -1;
	out->latency_p50_ms = out->latency_p95_ms = -1;
	if (!c)
		return;
	out->n = c->n;
	out->quality_mean = cell_mean(c);
	router_wilson(out->quality_mean, c->n, l->p.z, &out->quality_lcb, &out->quality_ucb);
	out->cost_mean_pusd = cell_cost_mean(c);
	out->calls = c->calls;
	out->cost_pusd = c->cost_total;
	out->quality_sum = c->qsum_total;
	if (c->qsum_total > 0)
		out->cost_per_success_pusd = (int64_t)((double)c->cost_total / c->qsum_total);
	out->latency_p50_ms = lat_percentile(c->lat, 0.50);
	out->latency_p95_ms = lat_percentile(c->lat, 0.95);
}

void router_learner_stats(const struct router_learner *l, const char *task_type, const char *tier,
                          struct router_cell_stats *out)
{
	const struct task *t = task_find(l, task_type);
	int ti = tier_index(l, tier);
	cell_stats(l, t && ti >= 0 ? &t->cells[ti] : NULL, out);
}

void router_learner_stats_workflow(const struct router_learner *l, const char *task_type,
                                   const char *workflow, const char *tier,
                                   struct router_cell_stats *out)
{
	const struct flow *f = flow_find(l, task_type, workflow);
	int ti = tier_index(l, tier);
	cell_stats(l, f && ti >= 0 ? &f->cells[ti] : NULL, out);
}

/* ---- the policy ------------------------------------------------------------------------ */

static bool tier_allowed(const struct task *t, const char *tier)
{
	if (!t || !t->has_ov || t->ov.n_allowed == 0)
		return true;
	for (size_t i = 0; i < t->ov.n_allowed; i++)
		if (strcmp(t->ov.allowed[i], tier) == 0)
			return true;
	return false;
}

/* The default of a task type: the configured default tier when allowed, else
 * the allowed tier with the best pooled quality among those with enough
 * pooled samples (ties: cheaper) once two are so measured (one alone would
 * be the best of itself: typically the cheapest, measured first), else -1. */
static int default_tier(const struct router_learner *l, const struct task *t)
{
	int d = l->p.default_tier[0] ? tier_index(l, l->p.default_tier) : -1;
	if (d >= 0 && tier_allowed(t, l->tiers[d]))
		return d;
	int best = -1, measured = 0, allowed = 0;
	for (size_t i = 0; i < l->n_tiers; i++) {
		const struct cell *c = &l->pooled[i];
		if (!tier_allowed(t, l->tiers[i]))
			continue;
		allowed++;
		if (c->n < l->p.min_samples)
			continue;
		measured++;
		if (best < 0 || cell_mean(c) > cell_mean(&l->pooled[best]) ||
		    (cell_mean(c) == cell_mean(&l->pooled[best]) &&
		     cell_cost_mean(c) < cell_cost_mean(&l->pooled[best])))
			best = (int)i;
	}
	return measured >= 2 || measured == allowed ? best : -1;
}

/* The z whose upper normal tail is p (0 < p < 0.5): bisection on erfc,
 * exact enough for a bound (1e-9). */
static double z_upper(double p)
{
	double lo = 0, hi = 10;
	for (int i = 0; i < 60; i++) {
		double mid = (lo + hi) / 2;
		if (0.5 * erfc(mid / sqrt(2.0)) > p)
			lo = mid;
		else
			hi = mid;
	}
	return (lo + hi) / 2;
}

/* The confidence of elimination: a tier written off is rarely looked at
 * again, and with k allowed tiers one of k bounds is wrong k times as
 * often; so the bound that eliminates holds for all k at once (Bonferroni:
 * the one-sided error of z, divided by k). 2 tiers at z 1.645: 1.960;
 * 11 tiers: 2.608. */
static double elim_z(const struct router_learner *l, const struct task *t)
{
	size_t k = 0;
	for (size_t i = 0; i < l->n_tiers; i++)
		k += tier_allowed(t, l->tiers[i]);
	if (k < 2)
		return l->p.z;
	return z_upper(0.5 * erfc(l->p.z / sqrt(2.0)) / (double)k);
}

/* The regularized incomplete beta function I_x(a, b), a, b > 0, x in
 * [0,1]: the continued fraction of Numerical Recipes (modified Lentz), on
 * the side where it converges fast. */
static double beta_cf(double a, double b, double x)
{
	const double tiny = 1e-300;
	double c = 1, dd = 1 - (a + b) * x / (a + 1);
	if (fabs(dd) < tiny)
		dd = tiny;
	dd = 1 / dd;
	double h = dd;
	for (int m = 1; m <= 300; m++) {
		double m2 = 2.0 * m;
		double aa = m * (b - m) * x / ((a - 1 + m2) * (a + m2));
		dd = 1 + aa * dd;
		if (fabs(dd) < tiny)
			dd = tiny;
		c = 1 + aa / c;
		if (fabs(c) < tiny)
			c = tiny;
		dd = 1 / dd;
		h *= dd * c;
		aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + 1 + m2));
		dd = 1 + aa * dd;
		if (fabs(dd) < tiny)
			dd = tiny;
		c = 1 + aa / c;
		if (fabs(c) < tiny)
			c = tiny;
		dd = 1 / dd;
		double del = dd * c;
		h *= del;
		if (fabs(del - 1) < 1e-12)
			break;
	}
	return h;
}

static double beta_inc(double a, double b, double x)
{
	if (x <= 0)
		return 0;
	if (x >= 1)
		return 1;
	double lbt = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x);
	if (x < (a + 1) / (a + b + 2))
		return exp(lbt) * beta_cf(a, b, x) / a;
	return 1 - exp(lbt) * beta_cf(b, a, 1 - x) / b;
}

/* The exact (Clopper-Pearson) one-sided upper bound of a mean from n
 * samples in [0,1] summing to k, at the one-sided error of z: the p at
 * which a binomial(n, p) count is <= k with that probability, i.e.
 * I_p(k + 1, n - k) = 1 - error (k need not be whole: the beta form). For
 * 0/1 quality it is the exact binomial bound; for scores in [0,1] it is
 * conservative (a [0,1] variable is dominated in convex order by the 0/1
 * one of the same mean, Hoeffding 1963). Unlike Wilson's it holds at its
 * level at any n: after one failure Wilson's bound at z 1.645 is 0.730,
 * this one 0.950. 1 when n is 0 or every sample is a success. */
static double exact_ucb(double k, int64_t n, double z)
{
	if (n <= 0 || k >= (double)n)
		return 1;
	if (k < 0)
		k = 0;
	double err = 0.5 * erfc(z / sqrt(2.0)), lo = k / (double)n, hi = 1;
	for (int i = 0; i < 34; i++) { /* to 6e-11 */
		double mid = (lo + hi) / 2;
		/* P(count <= k | p = mid) = 1 - I_mid(k + 1, n - k) */
		if (1 - beta_inc(k + 1, (double)n - k, mid) > err)
			lo = mid;
		else
			hi = mid;
	}
	return hi;
}

/* What the rule knows of one allowed arm of a set of cells. */
struct arm {
	int64_t n;
	double mean, lcb, ucb;
	double ucb_elim; /* the upper bound elimination uses (stricter) */
	int64_t cost;    /* mean cost per call: the cells', else pooled; -1 never seen */
};

static void arm_of(const struct router_learner *l, const struct cell *cells, size_t i,
                   double z_elim, struct arm *a)
{
	const struct cell *c = cells ? &cells[i] : NULL;
	a->n = c ? c->n : 0;
	a->mean = c ? cell_mean(c) : 0;
	router_wilson(a->mean, a->n, l->p.z, &a->lcb, &a->ucb);
	double lo;
	router_wilson(a->mean, a->n, z_elim, &lo, &a->ucb_elim);
	a->cost = a->n > 0             ? cell_cost_mean(c)
	          : l->pooled[i].n > 0 ? cell_cost_mean(&l->pooled[i])
	                               : -1;
}

/* Internal decision: index of the recommended tier (-1 when pinned to an
 * unknown tier or nothing is known), the thresholds. */
struct decision {
	int rec, best;
	bool settled, pinned, warmup;
	double tol;
	double thr;      /* (1 - tol) x the reference quality: a tier qualifies at or above */
	double thr_elim; /* (1 - tol) x the best lower bound: a tier whose upper bound (at
	                    z_elim) is below cannot qualify (it is eliminated) */
	double z_elim;
	int open; /* the tier below min_samples whose upper bound raised the reference
	             above what the measured tiers give; -1 none */
	int peer; /* a dearer tier at most twice the policy's cost, below min_samples,
	             that could raise the bar above the policy's lower bound: the
	             decision waits for it; -1 none */
};

static bool arm_eliminated(const struct arm *a, const struct decision *d)
{
	return a->n > 0 && a->ucb_elim < d->thr_elim;
}

/* The rule over one set of cells: a task type's (t->cells) or one of its
 * workflows' (cells of a flow, with t's overrides). cells may be NULL.
 * incumbent: the tier in force (-1 none), kept unless the evidence against
 * it outlasts noise (hysteresis, below). */
/* Whether tier i takes part in the rule: allowed, and known (called at
 * least once somewhere) unless the learner is still warming up, when a
 * tier never called is tried once. A tier that appears later (a new model
 * in an allowed list) is explored, not made the policy untried. */
static bool usable(const struct router_learner *l, const struct task *t, size_t i, bool warming)
{
	return tier_allowed(t, l->tiers[i]) && (warming || l->pooled[i].n > 0);
}

/* The evidence a settled decision needs besides its own: every dearer tier
 * that costs at most twice the policy's per call, is not eliminated, and
 * could raise the bar above the policy's lower bound, measured (min_samples).
 * Measuring such a peer costs at most as much again as measuring the policy's
 * own tier, so the rule can afford to wait for it; a tier dearer than that is
 * explored in proportion to its cost instead (plan_cells). Without this, the
 * best *measured* tier is settled on while a peer that is better (and sets
 * the true bar) has a handful of samples. Leaves the decision unsettled, with
 * d->peer set and the reason saying so, when one is missing. */
static void wait_for_peer(const struct router_learner *l, const struct task *t,
                          const struct cell *cells, struct decision *d, char *reason, size_t rn)
{
	struct arm r, a;
	int64_t peer_cost = 0;
	arm_of(l, cells, (size_t)d->rec, d->z_elim, &r);
	for (size_t i = 0; i < l->n_tiers; i++) {
		if ((int)i == d->rec || !usable(l, t, i, false))
			continue;
		arm_of(l, cells, i, d->z_elim, &a);
		if (a.n >= l->p.min_samples || arm_eliminated(&a, d) || a.cost <= r.cost ||
		    a.cost - r.cost > r.cost /* more than twice, without overflow */ ||
		    (1 - d->tol) * a.ucb <= r.lcb)
			continue;
		/* the cheapest first: it may settle the question alone */
		if (d->peer < 0 || a.cost < peer_cost) {
			d->peer = (int)i;
			peer_cost = a.cost;
		}
	}
	if (d->peer < 0)
		return;
	d->settled = false;
	snprintf(reason, rn,
	         "%s for now: %s, at most twice its cost, has %lld of %lld samples and could "
	         "still raise the bar",
	         l->tiers[d->rec], l->tiers[d->peer], (long long)cells[d->peer].n,
	         (long long)l->p.min_samples);
}

/* The cost-aware climb: how high arm o's quality may be taken to be when it
 * argues against a cheaper tier that costs cost per call (the ladder, in
 * decide). Climbing to a tier at most twice the price is cheap to undo, so
 * o's upper bound counts, as for any tier that could still be better. A
 * climb to a tier CLIMB_MEAN_RATIO times the price or more is paid for on
 * every call it serves, so its optimism does not count: only what it has
 * shown, its mean (nothing, 0, while it has no sample of these cells: it is
 * then explored in proportion to its cost, plan_cells). In between, the z of o's bound falls from z
 * to 0 with the logarithm of the price ratio (at 4x: z / 2). A cheaper or equally priced o (or one
 * whose cost is unknown) counts with its upper bound. */
#define CLIMB_MEAN_RATIO 8.0
static double climb_bound(const struct router_learner *l, const struct arm *o, int64_t cost)
{
	double zc = l->p.z;
	if (o->cost > 0 && o->cost > cost) {
		/* a free tier against a priced one: the ratio is unbounded */
		double ratio = cost > 0 ? (double)o->cost / (double)cost : CLIMB_MEAN_RATIO;
		if (ratio >= CLIMB_MEAN_RATIO)
			return o->mean;
		if (ratio > 2)
			zc *= 1 - log2(ratio / 2) / log2(CLIMB_MEAN_RATIO / 2);
	}
	double lo, hi;
	router_wilson(o->mean, o->n, zc, &lo, &hi);
	return hi;
}

static void decide(const struct router_learner *l, const struct task *t, const struct cell *cells,
                   int incumbent, struct decision *d, char *reason, size_t rn)
{
	memset(d, 0, sizeof *d);
	d->rec = d->best = d->open = d->peer = -1;
	d->tol = t && t->has_ov && t->ov.has_tolerance ? t->ov.tolerance : l->p.tolerance;
	if (t && t->has_ov && t->ov.pinned[0]) {
		d->pinned = true;
		d->rec = tier_index(l, t->ov.pinned);
		snprintf(reason, rn, "pinned to %s by override", t->ov.pinned);
		return;
	}
	d->z_elim = elim_z(l, t);
	/* warming up: no allowed tier has min_samples anywhere yet */
	bool warming = true;
	for (size_t i = 0; i < l->n_tiers && warming; i++)
		if (tier_allowed(t, l->tiers[i]) && l->pooled[i].n >= l->p.min_samples)
			warming = false;
	/* an arm never seen anywhere: its cost is unknown, one call tells it */
	int n_allowed = 0, measured = 0, outside = 0, outside_elim = 0;
	int64_t task_n = 0;
	double lcb_max = 0;
	struct arm a;
	for (size_t i = 0; i < l->n_tiers; i++) {
		if (!usable(l, t, i, warming))
			continue;
		n_allowed++;
		if (l->pooled[i].n == 0) {
			d->warmup = true;
			d->rec = (int)i;
			snprintf(reason, rn, "warm-up: trying %s once (never called yet)",
			         l->tiers[i]);
			return;
		}
		arm_of(l, cells, i, d->z_elim, &a);
		task_n += a.n;
		if (a.lcb > lcb_max)
			lcb_max = a.lcb;
		if (a.n >= l->p.min_samples) {
			measured++;
			if (d->best < 0 || a.mean > cell_mean(&cells[d->best]) ||
			    (a.mean == cell_mean(&cells[d->best]) &&
			     a.cost < cell_cost_mean(&cells[d->best])))
				d->best = (int)i;
		}
	}
	if (n_allowed == 0) {
		d->warmup = true;
		snprintf(reason, rn, "warm-up: no allowed tier is known");
		return;
	}
	/* the reference: the best measured tier's mean, or a tier's lower bound
	 * when that is higher (a sound floor under the best quality) */
	double ref = d->best >= 0 ? cell_mean(&cells[d->best]) : 0;
	if (lcb_max > ref)
		ref = lcb_max;
	d->thr_elim = (1 - d->tol) * lcb_max;
	/* what a tier not measured yet could still reach counts too: its upper
	 * bound, unless it is eliminated. A tier qualifies only when it is within
	 * tolerance of every tier that could be better, not just of those that
	 * happen to be measured: else a tier just under the true bar is settled
	 * on whenever the better tiers are not measured yet (docs/router.md) */
	d->open = -1;
	double open_ucb = 0;
	for (size_t i = 0; i < l->n_tiers; i++) {
		if (!usable(l, t, i, warming))
			continue;
		arm_of(l, cells, i, d->z_elim, &a);
		if (a.n >= l->p.min_samples || arm_eliminated(&a, d))
			continue;
		double ou = exact_ucb(a.mean * (double)a.n, a.n, l->p.z);
		if (ou > open_ucb) {
			open_ucb = ou;
			d->open = (int)i;
		}
	}
	if (open_ucb > ref)
		ref = open_ucb;
	else
		d->open = -1;
	d->thr = (1 - d->tol) * ref;
	for (size_t i = 0; i < l->n_tiers; i++) {
		if (!usable(l, t, i, warming))
			continue;
		arm_of(l, cells, i, d->z_elim, &a);
		if (a.n < l->p.min_samples) {
			outside++;
			outside_elim += arm_eliminated(&a, d);
		}
	}
	/* the default: the configured tier, else the best pooled one */
	int def = default_tier(l, t);
	/* the comparison is established once the default, or two tiers, are
	 * measured for these cells, or one is and every other is eliminated */
	bool established = measured > 0 && ((def >= 0 && cells[def].n >= l->p.min_samples) ||
	                                    measured >= 2 || outside == outside_elim);
	if (!established) {
		if (def >= 0) {
			d->rec = def;
			snprintf(reason, rn,
			         "default %s: it has %lld of %lld samples for this task type",
			         l->tiers[def], cells ? (long long)cells[def].n : 0LL,
			         (long long)l->p.min_samples);
			return;
		}
		/* the ladder: the cheapest tier not eliminated whose upper bound
		 * still reaches (1 - tol) x what every other tier could reach, so
		 * that the router climbs from cheap to dear only as far as the
		 * evidence makes it. What a dearer tier could reach is weighed by
		 * what the climb costs (climb_bound): a peer's upper bound, a
		 * flagship's mean; so a few lucky samples of a tier ten times
		 * the price do not push the router onto it */
		int64_t rc = -1;
		for (size_t i = 0; i < l->n_tiers; i++) {
			if (!usable(l, t, i, warming))
				continue;
			arm_of(l, cells, i, d->z_elim, &a);
			if (arm_eliminated(&a, d) || (d->rec >= 0 && a.cost >= rc))
				continue;
			bool on = true;
			struct arm o;
			for (size_t j = 0; j < l->n_tiers && on; j++) {
				if (j == i || !usable(l, t, j, warming))
					continue;
				arm_of(l, cells, j, d->z_elim, &o);
				if (!arm_eliminated(&o, d) &&
				    a.ucb < (1 - d->tol) * climb_bound(l, &o, a.cost))
					on = false;
			}
			if (on) {
				d->rec = (int)i;
				rc = a.cost;
			}
		}
		/* the tier with the highest upper bound is never eliminated and
		 * always on the ladder; this only guards the index */
		for (size_t i = 0; d->rec < 0 && i < l->n_tiers; i++)
			if (usable(l, t, i, warming))
				d->rec = (int)i;
		if (d->rec < 0) {
			d->warmup = true;
			snprintf(reason, rn, "warm-up: no allowed tier is known");
			return;
		}
		snprintf(reason, rn,
		         "learning: %s is the cheapest tier whose quality could still be within "
		         "%.0f%% of the best (%lld samples)",
		         l->tiers[d->rec], (1 - d->tol) * 100,
		         cells ? (long long)cells[d->rec].n : 0LL);
		return;
	}
	int best = d->best;
	if (best < 0) {
		/* one measured tier only: the others are eliminated */
		for (size_t i = 0; i < l->n_tiers; i++)
			if (usable(l, t, i, warming) && cells[i].n >= l->p.min_samples)
				best = d->best = (int)i;
	}
	double bm = cell_mean(&cells[best]);
	d->settled = true;
	/* what the bar is a share of, for the reasons below */
	char ref_what[ROUTER_TIER_MAX + 96];
	if (d->open >= 0)
		snprintf(ref_what, sizeof ref_what, "the %.3f that %s (n %lld) could still reach",
		         d->thr / (1 - d->tol), l->tiers[d->open], (long long)cells[d->open].n);
	else
		snprintf(ref_what, sizeof ref_what, "%s's %.3f", l->tiers[best], bm);
	/* the cheapest measured tier whose lower bound reaches the threshold */
	int rec = best;
	double rec_lcb = 0;
	struct arm ab;
	arm_of(l, cells, (size_t)best, d->z_elim, &ab);
	rec_lcb = ab.lcb;
	for (size_t i = 0; i < l->n_tiers; i++) {
		if ((int)i == best || !usable(l, t, i, warming))
			continue;
		arm_of(l, cells, i, d->z_elim, &a);
		if (a.n < l->p.min_samples)
			continue;
		if (a.lcb >= d->thr && a.cost < cell_cost_mean(&cells[rec])) {
			rec = (int)i;
			rec_lcb = a.lcb;
		}
	}
	/* hysteresis: the incumbent stays while it still qualifies at half the
	 * confidence (z / 2), unless a cheaper tier qualifies; a tier replaces
	 * it only with the full bound. So a bound that wanders around the
	 * threshold does not move the policy back and forth. */
	if (incumbent >= 0 && incumbent != rec && tier_allowed(t, l->tiers[incumbent]) &&
	    cells[incumbent].n >= l->p.min_samples) {
		double ilo, ihi;
		router_wilson(cell_mean(&cells[incumbent]), cells[incumbent].n, l->p.z / 2, &ilo,
		              &ihi);
		bool inc_ok = incumbent == best || ilo >= d->thr;
		bool cheaper = cell_cost_mean(&cells[rec]) < cell_cost_mean(&cells[incumbent]);
		if (inc_ok && !cheaper) {
			d->rec = incumbent;
			snprintf(reason, rn,
			         "kept %s: quality %.3f (bound at half confidence %.3f) still "
			         "reaches %.3f (%.0f%% of %s); no cheaper tier qualifies",
			         l->tiers[incumbent], cell_mean(&cells[incumbent]), ilo, d->thr,
			         (1 - d->tol) * 100, ref_what);
			wait_for_peer(l, t, cells, d, reason, rn);
			return;
		}
	}
	d->rec = rec;
	if (rec == best) {
		/* none qualifies, and the best measured tier could still be out of
		 * tolerance of a dearer tier not measured yet: climb to it as the
		 * ladder would (the cheapest such, weighed by climb_bound), so that
		 * the answer is not left on a poor tier because only the cheap ones
		 * happened to be measured first; not settled until it is measured.
		 * Only to a tier less than CLIMB_MEAN_RATIO times the price: a
		 * dearer one is measured by exploration, in proportion to its cost */
		int up = -1;
		int64_t up_cost = 0;
		for (size_t i = 0; i < l->n_tiers; i++) {
			if (!usable(l, t, i, warming))
				continue;
			arm_of(l, cells, i, d->z_elim, &a);
			if (a.n >= l->p.min_samples || arm_eliminated(&a, d) || a.cost <= ab.cost ||
			    (double)a.cost >= CLIMB_MEAN_RATIO * (double)ab.cost ||
			    ab.ucb >= (1 - d->tol) * climb_bound(l, &a, ab.cost))
				continue;
			if (up < 0 || a.cost < up_cost) {
				up = (int)i;
				up_cost = a.cost;
			}
		}
		if (up >= 0) {
			d->rec = up;
			d->settled = false;
			snprintf(
			    reason, rn,
			    "learning: %s (n %lld) could still be more than %.0f%% better than "
			    "the best measured tier %s (quality %.3f, n %lld)",
			    l->tiers[up], (long long)cells[up].n, d->tol * 100, l->tiers[best], bm,
			    (long long)cells[best].n);
			return;
		}
		char open_why[sizeof ref_what + 16] = "";
		if (d->open >= 0)
			snprintf(open_why, sizeof open_why, " (%.0f%% of %s)", (1 - d->tol) * 100,
			         ref_what);
		snprintf(reason, rn,
		         "best tier %s (quality %.3f, n %lld); no cheaper tier's lower bound "
		         "reaches %.3f%s",
		         l->tiers[best], bm, (long long)cells[best].n, d->thr, open_why);
	} else {
		snprintf(reason, rn,
		         "cheapest tier within tolerance: %s quality lower bound %.3f >= %.3f "
		         "(%.0f%% of %s), n %lld",
		         l->tiers[rec], rec_lcb, d->thr, (1 - d->tol) * 100, ref_what,
		         (long long)cells[rec].n);
	}
	wait_for_peer(l, t, cells, d, reason, rn);
}

/* The public form of a decision over cells. */
static void decision_out(const struct router_learner *l, const struct task *t,
                         const struct cell *cells, int incumbent, struct decision *d,
                         struct router_decision *out)
{
	memset(out, 0, sizeof *out);
	decide(l, t, cells, incumbent, d, out->reason, sizeof out->reason);
	if (d->pinned)
		snprintf(out->tier, sizeof out->tier, "%s", t->ov.pinned);
	else if (d->rec >= 0)
		snprintf(out->tier, sizeof out->tier, "%s", l->tiers[d->rec]);
	else if (t && t->has_ov && t->ov.n_allowed)
		snprintf(out->tier, sizeof out->tier, "%s", t->ov.allowed[0]);
	if (d->best >= 0)
		snprintf(out->best, sizeof out->best, "%s", l->tiers[d->best]);
	out->settled = d->settled;
	out->pinned = d->pinned;
	out->tolerance = d->tol;
}

void router_learner_decide(const struct router_learner *l, const char *task_type,
                           struct router_decision *out)
{
	struct decision d;
	const struct task *t = task_find(l, task_type);
	decision_out(l, t, t ? t->cells : NULL, t ? t->incumbent - 1 : -1, &d, out);
}

/* The incumbent of a workflow's own rule: its own entry in force, else the
 * tier its task type has in force (which applied to it). */
static int flow_incumbent(const struct task *t, const struct flow *f)
{
	if (f && f->incumbent)
		return f->incumbent - 1;
	return t ? t->incumbent - 1 : -1;
}

/* A workflow's decision: out is the one that applies, *own the workflow's
 * internal decision when it applies (rec -1 otherwise). */
static void decide_flow(const struct router_learner *l, const struct task *t, const struct flow *f,
                        struct router_decision *out, struct decision *own)
{
	struct decision td, wd;
	struct router_decision wo;

	decision_out(l, t, t ? t->cells : NULL, t ? t->incumbent - 1 : -1, &td, out);
	memset(own, 0, sizeof *own);
	own->rec = own->best = -1;
	out->settled = false;
	if (!f) {
		snprintf(out->reason, sizeof out->reason,
		         "no statistics of its own (fewer than %lld samples on every tier); the "
		         "task type's policy applies",
		         (long long)l->p.min_samples);
		return;
	}
	if (td.pinned) {
		snprintf(out->reason, sizeof out->reason,
		         "the task type is pinned to %s by override", out->tier);
		return;
	}
	if (!td.settled) {
		snprintf(out->reason, sizeof out->reason,
		         "the task type's policy applies: it is not settled yet");
		return;
	}
	decision_out(l, t, f->cells, flow_incumbent(t, f), &wd, &wo);
	/* the workflow's own rule must have compared the task type's tier too:
	 * a tier it never measured enough is no evidence against it */
	int short_tier = !wd.settled ? wd.rec : f->cells[td.rec].n < l->p.min_samples ? td.rec : -1;
	if (short_tier >= 0) {
		snprintf(out->reason, sizeof out->reason,
		         "%s has %lld of %lld samples for this workflow; the task type's policy "
		         "applies",
		         l->tiers[short_tier], (long long)f->cells[short_tier].n,
		         (long long)l->p.min_samples);
		return;
	}
	if (wd.rec == td.rec) {
		char why[ROUTER_REASON_MAX];
		memcpy(why, wo.reason, sizeof why);
		out->settled = true;
		out->workflow_agrees = true;
		snprintf(out->reason, sizeof out->reason, "its own statistics agree: %.*s",
		         (int)(sizeof out->reason - 32), why);
		return;
	}
	*out = wo;
	out->workflow_policy = true;
	*own = wd;
}

void router_learner_decide_workflow(const struct router_learner *l, const char *task_type,
                                    const char *workflow, struct router_decision *out)
{
	struct decision own;
	decide_flow(l, task_find(l, task_type), flow_find(l, task_type, workflow), out, &own);
}

/* The plan of answers over cells (a task type's or a workflow's).
 *
 * Exploration knows what it costs. Two kinds of tiers are worth a call:
 *  - cheaper than the policy's and not eliminated: each could become the
 *    policy (it is cheap to try); the one with the fewest samples gets the
 *    share (warmup_share while it has fewer than min_samples or the policy
 *    is not settled, else explore_share). An eliminated cheaper tier is
 *    re-checked at a tenth of explore_share, so that one that got better
 *    is noticed; a dearer eliminated one never is.
 *  - dearer than the policy's, not measured yet, when its exact upper
 *    bound could still lift the bar above the policy's lower bound (so it
 *    could show that the policy is not good enough): the one that could
 *    lift it most per dollar of a call. Before the policy is settled, at
 *    the warm-up share scaled by the cost ratio; once settled, out of the
 *    information budget (explore_share of the spend): explore_share x the
 *    cost ratio (its expected spend is explore_share of the policy's: a
 *    flagship 12x dearer is tried 12x less often than a peer), or, while
 *    what such tiers have cost the task type so far is under explore_share
 *    of its spend, up to the policy's own spend per call to catch up.
 * A tier that can change nothing is settled and no longer explored. */
static void plan_cells(const struct router_learner *l, const struct task *t,
                       const struct cell *cells, int incumbent, struct router_plan *out)
{
	struct decision d;
	struct router_decision rd;

	memset(out, 0, sizeof *out);
	decision_out(l, t, cells, incumbent, &d, &rd);
	memcpy(out->tier, rd.tier, sizeof out->tier);
	memcpy(out->reason, rd.reason, sizeof out->reason);
	out->pinned = d.pinned;
	out->settled = d.settled;
	if (d.pinned || d.warmup || d.rec < 0)
		return;
	struct arm r, a;
	arm_of(l, cells, (size_t)d.rec, d.z_elim, &r);
	int cheap = -1, stale = -1, dear = -1;
	double dear_value = 0;
	struct arm ac = {0}, ad = {0};
	/* the information budget: what the task type has spent so far (its
	 * cells' lifetime cost: in the live router the last 30 days), and
	 * what of it went to dearer tiers not measured yet */
	int64_t spend = 0, spend_info = 0;
	for (size_t i = 0; cells && i < l->n_tiers; i++) {
		if (!tier_allowed(t, l->tiers[i]))
			continue;
		arm_of(l, cells, i, d.z_elim, &a);
		spend += cells[i].cost_total;
		if ((int)i != d.rec && a.cost > r.cost && a.n < l->p.min_samples)
			spend_info += cells[i].cost_total;
	}
	for (size_t i = 0; i < l->n_tiers; i++) {
		if ((int)i == d.rec || !tier_allowed(t, l->tiers[i]))
			continue;
		arm_of(l, cells, i, d.z_elim, &a);
		if (a.cost < r.cost || (a.cost == r.cost && a.n < l->p.min_samples)) {
			/* a measured cheaper tier whose upper bound is under the bar in
			 * force cannot become the policy while the bar stands: like an
			 * eliminated one it is only re-checked once settled (the bar may
			 * come down when a tier that raised it is measured) */
			if (arm_eliminated(&a, &d) || (a.n >= l->p.min_samples && a.ucb < d.thr)) {
				if (d.settled && (stale < 0 || a.n < cells[stale].n))
					stale = (int)i;
				continue;
			}
			if (cheap < 0 || a.n < ac.n) {
				cheap = (int)i;
				ac = a;
			}
			continue;
		}
		/* a dearer tier measured has told what it can (its mean is in the
		 * reference); an eliminated one cannot qualify */
		if (a.n >= l->p.min_samples || arm_eliminated(&a, &d))
			continue;
		/* what measuring it could change: how far above the policy's lower
		 * bound it could still lift the bar, by its exact upper bound (the
		 * sequential test: it is no longer measured once that is <= 0).
		 * Before the policy is settled, every dearer tier could */
		double lift = (1 - d.tol) * exact_ucb(a.mean * (double)a.n, a.n, l->p.z) - r.lcb;
		if (d.settled && lift <= 0)
			continue;
		/* the most that a dollar of measurement could change */
		double value = lift / (double)(a.cost > 0 ? a.cost : 1);
		if (dear < 0 || value > dear_value) {
			dear = (int)i;
			ad = a;
			dear_value = value;
		}
	}
	if (d.peer >= 0) {
		/* the decision waits for this peer's measurement (wait_for_peer) */
		dear = d.peer;
		arm_of(l, cells, (size_t)dear, d.z_elim, &ad);
	}
	double warm = l->p.warmup_share > 0 ? l->p.warmup_share : l->p.explore_share;
	if (cheap >= 0) {
		out->explore_share =
		    !d.settled || ac.n < l->p.min_samples ? warm : l->p.explore_share;
		snprintf(out->explore_tier, sizeof out->explore_tier, "%s", l->tiers[cheap]);
		snprintf(out->explore_reason, sizeof out->explore_reason,
		         "exploring %s: cheaper, %lld samples, could qualify", l->tiers[cheap],
		         (long long)ac.n);
	} else if (stale >= 0) {
		out->explore_share = l->p.explore_share / 10;
		snprintf(out->explore_tier, sizeof out->explore_tier, "%s", l->tiers[stale]);
		snprintf(out->explore_reason, sizeof out->explore_reason,
		         "re-checking %s: cheaper, eliminated at %lld samples", l->tiers[stale],
		         (long long)cells[stale].n);
	}
	if (dear < 0)
		return;
	double share = d.settled ? l->p.explore_share : warm;
	if (ad.cost > 0 && r.cost < ad.cost)
		share *= (double)r.cost / (double)ad.cost;
	bool budget = d.settled && d.peer < 0;
	bool banked = false;
	if (budget) {
		/* settled: the information budget, explore_share of the spend. Paid
		 * per call: the tier is answered with explore_share x the cost ratio
		 * (its expected spend is explore_share of the policy's); and while
		 * what the dearer tiers not measured yet have cost so far is under
		 * explore_share of the task type's spend, the rest is caught up at
		 * the warm-up share, at most the policy's own spend per call */
		double ratio = ad.cost > 0 ? (double)r.cost / (double)ad.cost : 1;
		share = l->p.explore_share * ratio;
		if ((double)spend_info < l->p.explore_share * (double)spend) {
			banked = true;
			share = warm < ratio ? warm : ratio;
		}
		if (share <= 0)
			return;
	}
	out->explore2_share = share;
	snprintf(out->explore2_tier, sizeof out->explore2_tier, "%s", l->tiers[dear]);
	if (budget)
		snprintf(out->explore2_reason, sizeof out->explore2_reason,
		         "measuring %s: dearer, %lld of %lld samples, could still lift the bar "
		         "above %s's lower bound (information spent: %.1f%% of the task type's "
		         "spend%s)",
		         l->tiers[dear], (long long)ad.n, (long long)l->p.min_samples,
		         l->tiers[d.rec],
		         spend > 0 ? 100.0 * (double)spend_info / (double)spend : 0.0,
		         banked ? ", catching up" : "");
	else
		snprintf(out->explore2_reason, sizeof out->explore2_reason,
		         "exploring %s: dearer, %lld samples, could raise the bar", l->tiers[dear],
		         (long long)ad.n);
}

/* A workflow that does not decide for itself yet answers its task type's
 * tier; but it can only come to decide if its own statistics measure a
 * cheaper tier too, which the task type's exploration may have written off
 * (it is worse for the task type as a whole: say, for every workflow but
 * this one). So a cheaper tier that the workflow's own statistics have not
 * eliminated is explored on this workflow's answers, as a task type
 * explores its own: the one with the fewest samples, with the warm-up share
 * while it has fewer than min_samples, then the exploration share while it
 * could still qualify under the workflow's own bar; unless the task type
 * already explores it as often. */
static void flow_explore(const struct router_learner *l, const struct task *t, const struct flow *f,
                         struct router_plan *out)
{
	struct decision d;
	char why[ROUTER_REASON_MAX];
	int r = tier_index(l, out->tier), pick = -1;
	if (r < 0 || !t)
		return;
	decide(l, t, f->cells, flow_incumbent(t, f), &d, why, sizeof why);
	if (d.pinned || d.warmup)
		return;
	struct arm rc, a, ap = {0};
	arm_of(l, t->cells, (size_t)r, d.z_elim, &rc);
	for (size_t i = 0; i < l->n_tiers; i++) {
		if ((int)i == r || !usable(l, t, i, false))
			continue;
		arm_of(l, f->cells, i, d.z_elim, &a);
		if (arm_eliminated(&a, &d) || (a.n >= l->p.min_samples && a.ucb < d.thr) ||
		    a.cost < 0 || a.cost >= rc.cost)
			continue;
		if (pick < 0 || a.n < ap.n) {
			pick = (int)i;
			ap = a;
		}
	}
	double warm = l->p.warmup_share > 0 ? l->p.warmup_share : l->p.explore_share;
	double share = ap.n < l->p.min_samples ? warm : l->p.explore_share;
	if (pick < 0 ||
	    (strcmp(out->explore_tier, l->tiers[pick]) == 0 && out->explore_share >= share))
		return;
	out->explore_share = share;
	snprintf(out->explore_tier, sizeof out->explore_tier, "%s", l->tiers[pick]);
	snprintf(out->explore_reason, sizeof out->explore_reason,
	         "exploring %s for this workflow: cheaper, %lld samples of its own, could "
	         "qualify for it",
	         l->tiers[pick], (long long)ap.n);
}

void router_learner_plan(const struct router_learner *l, const char *task_type,
                         struct router_plan *out)
{
	const struct task *t = task_find(l, task_type);
	plan_cells(l, t, t ? t->cells : NULL, t ? t->incumbent - 1 : -1, out);
}

void router_learner_plan_workflow(const struct router_learner *l, const char *task_type,
                                  const char *workflow, struct router_plan *out)
{
	const struct task *t = task_find(l, task_type);
	const struct flow *f = flow_find(l, task_type, workflow);
	struct router_decision wd;
	struct decision own;

	decide_flow(l, t, f, &wd, &own);
	if (wd.workflow_policy) {
		plan_cells(l, t, f->cells, flow_incumbent(t, f), out);
		out->workflow_policy = true;
		return;
	}
	plan_cells(l, t, t ? t->cells : NULL, t ? t->incumbent - 1 : -1, out);
	out->workflow_agrees = wd.workflow_agrees;
	if (f && out->settled && !out->pinned)
		flow_explore(l, t, f, out);
}

void router_plan_choose(const struct router_plan *p, double u, struct router_choice *out)
{
	memset(out, 0, sizeof *out);
	if (p->explore_tier[0] && u < p->explore_share) {
		memcpy(out->tier, p->explore_tier, sizeof out->tier);
		memcpy(out->reason, p->explore_reason, sizeof out->reason);
		out->explore = true;
		return;
	}
	if (p->explore2_tier[0] && u >= p->explore_share &&
	    u < p->explore_share + p->explore2_share) {
		memcpy(out->tier, p->explore2_tier, sizeof out->tier);
		memcpy(out->reason, p->explore2_reason, sizeof out->reason);
		out->explore = true;
		return;
	}
	memcpy(out->tier, p->tier, sizeof out->tier);
	memcpy(out->reason, p->reason, sizeof out->reason);
}

void router_learner_choose(struct router_learner *l, const char *task_type,
                           struct router_choice *out)
{
	struct router_plan plan;
	router_learner_plan(l, task_type, &plan);
	/* one draw per answer whatever happens: the sequence stays reproducible */
	router_plan_choose(&plan, router_rng_unit(&l->rng), out);
	/* the settled policy becomes the incumbent that hysteresis keeps */
	struct task *t = task_find(l, task_type);
	if (t && plan.settled)
		t->incumbent = tier_index(l, plan.tier) + 1;
}

int router_learner_set_incumbent(struct router_learner *l, const char *task_type,
                                 const char *workflow, const char *tier, struct tally_err *err)
{
	struct task *t = task_get(l, task_type, err);
	if (!t)
		return -1;
	int k = tier && tier[0] ? tier_index(l, tier) + 1 : 0;
	if (!workflow || !workflow[0]) {
		t->incumbent = k;
		return 0;
	}
	/* a workflow without statistics has no decision of its own to keep */
	struct flow *f = flow_find(l, task_type, workflow);
	if (f)
		f->incumbent = k;
	return 0;
}

void router_learner_choose_workflow(struct router_learner *l, const char *task_type,
                                    const char *workflow, struct router_choice *out)
{
	struct router_plan plan, tplan;
	router_learner_plan_workflow(l, task_type, workflow, &plan);
	router_plan_choose(&plan, router_rng_unit(&l->rng), out);
	/* the policy in force, as the live router keeps it in its versions: the
	 * task type's settled tier, and the workflow's own entry while its own
	 * decision applies (none otherwise: it keeps its task type's) */
	struct task *t = task_find(l, task_type);
	struct flow *f = flow_find(l, task_type, workflow);
	if (t) {
		router_learner_plan(l, task_type, &tplan);
		if (tplan.settled)
			t->incumbent = tier_index(l, tplan.tier) + 1;
	}
	if (f)
		f->incumbent = plan.workflow_policy ? tier_index(l, plan.tier) + 1 : 0;
}
