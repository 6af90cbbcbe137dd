/* test_router.c - the router's learner and policy (router/learner.c) on
 * synthetic streams with known truth, the overrides, and the offline replay
 * (router/eval.c) on an in-memory data set with hand-computed baselines.
 *
 * Streams are online: the learner picks a tier, the test draws that tier's
 * result from the known success rate (its own PRNG), and the learner learns
 * only that result.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../router/router.h"

#define SMALL_COST INT64_C(1000000000)  /* $0.001 */
#define LARGE_COST INT64_C(20000000000) /* $0.02 */
#define LOCAL_COST INT64_C(200000000)   /* $0.0002 */

struct truth {
	const char *task;
	double p_small, p_large, p_local;
};

static int64_t cost_of(const char *tier)
{
	if (strcmp(tier, "small") == 0)
		return SMALL_COST;
	if (strcmp(tier, "local") == 0)
		return LOCAL_COST;
	return LARGE_COST;
}

static double p_of(const struct truth *t, const char *tier)
{
	if (strcmp(tier, "small") == 0)
		return t->p_small;
	if (strcmp(tier, "local") == 0)
		return t->p_local;
	return t->p_large;
}

/* One online step: choose, draw the chosen tier's 0/1 result, learn it. */
static void step(struct router_learner *l, struct router_rng *world, const struct truth *t,
                 struct router_choice *ch)
{
	struct tally_err err = {0};
	router_learner_choose(l, t->task, ch);
	assert_true(ch->tier[0] != '\0');
	double q = router_rng_unit(world) < p_of(t, ch->tier) ? 1.0 : 0.0;
	assert_int_equal(
	    router_learner_observe(l, t->task, ch->tier, q, cost_of(ch->tier), 100, &err), 0);
}

static struct router_learner *new_learner(double tol, int64_t window, uint64_t seed)
{
	struct router_params p;
	struct tally_err err = {0};
	router_params_init(&p);
	p.tolerance = tol;
	p.seed = seed;
	if (window >= 0)
		p.window = window;
	snprintf(p.default_tier, sizeof p.default_tier, "large");
	struct router_learner *l = router_learner_new(&p, &err);
	assert_non_null(l);
	assert_int_equal(router_learner_add_tier(l, "small", &err), 1);
	return l;
}

static void test_wilson_and_rng(void **state)
{
	(void)state;
	double lo, hi;
	router_wilson(0.5, 0, 1.645, &lo, &hi);
	assert_true(lo == 0 && hi == 1);
	/* 50/100 at z 1.645: (0.51353 -/+ 1.645 x sqrt(0.0025 + 0.0000677)) / 1.02706
	 * = (0.51353 -/+ 0.08336) / 1.02706 = 0.41884 .. 0.58116 */
	router_wilson(0.5, 100, 1.645, &lo, &hi);
	assert_true(lo > 0.4185 && lo < 0.4192);
	assert_true(hi > 0.5808 && hi < 0.5815);
	router_wilson(0.0, 30, 1.645, &lo, &hi);
	assert_true(lo == 0 && hi > 0.05 && hi < 0.10);
	router_wilson(1.0, 30, 1.645, &lo, &hi);
	assert_true(hi == 1 && lo > 0.90 && lo < 0.95);

	struct router_rng a, b, c;
	router_rng_seed(&a, 42);
	router_rng_seed(&b, 42);
	router_rng_seed(&c, 43);
	bool differ = false;
	for (int i = 0; i < 100; i++) {
		uint64_t x = router_rng_next(&a);
		assert_true(x == router_rng_next(&b));
		differ |= x != router_rng_next(&c);
	}
	assert_true(differ);
	router_rng_seed(&a, 0); /* seed 0 must not stick at 0 */
	assert_true(router_rng_next(&a) != 0);
	for (int i = 0; i < 1000; i++) {
		double u = router_rng_unit(&a);
		assert_true(u >= 0 && u < 1);
	}
}

/* Four task types interleaved in one learner, tolerance 0.05:
 *  same:     small as good as large       -> small
 *  worse:    small clearly worse          -> large
 *  border:   small's mean just inside the tolerance, never with confidence -> large
 *  few:      only 20 requests             -> the default, not settled */
static void test_policy_converges(void **state)
{
	(void)state;
	struct router_learner *l = new_learner(0.05, -1, 7);
	struct router_rng world;
	router_rng_seed(&world, 99);
	const struct truth ts[] = {
	    {"same", 0.90, 0.90, 0}, {"worse", 0.60, 0.90, 0}, {"border", 0.86, 0.90, 0}};
	const struct truth few = {"few", 0.95, 0.95, 0};
	struct router_choice ch;
	int border_small = 0, explored = 0, answers = 0;

	for (int i = 0; i < 6000; i++) {
		for (size_t k = 0; k < 3; k++) {
			step(l, &world, &ts[k], &ch);
			answers++;
			explored += ch.explore;
		}
		if (i < 20)
			step(l, &world, &few, &ch);
		if (i >= 3000) {
			struct router_decision d;
			router_learner_decide(l, "border", &d);
			border_small += strcmp(d.tier, "small") == 0;
		}
	}
	struct router_decision d;
	router_learner_decide(l, "same", &d);
	assert_string_equal(d.tier, "small");
	assert_true(d.settled);
	assert_string_equal(d.best, "large");
	router_learner_decide(l, "worse", &d);
	assert_string_equal(d.tier, "large");
	assert_true(d.settled);
	router_learner_decide(l, "border", &d);
	assert_string_equal(d.tier, "large");
	assert_int_equal(border_small, 0); /* stayed put, never flip-flopped */
	router_learner_decide(l, "few", &d);
	assert_string_equal(d.tier, "large");
	assert_false(d.settled);
	assert_non_null(strstr(d.reason, "default large"));
	/* exploration stays a small share of the answers */
	assert_true(explored > answers / 100 && explored < answers / 10);

	/* the statistics behind it: exact lifetime cost, latency buckets */
	struct router_cell_stats st;
	router_learner_stats(l, "worse", "large", &st);
	assert_true(st.calls > 5000);
	assert_true(st.cost_pusd == st.calls * LARGE_COST);
	assert_true(st.quality_lcb < st.quality_mean && st.quality_mean < st.quality_ucb);
	assert_true(st.quality_mean > 0.87 && st.quality_mean < 0.93);
	assert_int_equal(st.latency_p50_ms, 100);
	assert_int_equal(st.latency_p95_ms, 100);
	assert_true(st.cost_per_success_pusd > LARGE_COST);
	router_learner_stats(l, "nobody", "large", &st);
	assert_int_equal(st.n, 0);
	assert_int_equal(st.latency_p50_ms, -1);
	router_learner_free(l);
}

/* The small tier is poor for 4000 requests, then better than large: the
 * exploration keeps it measured and the window forgets the old results. */
static void test_policy_follows_improvement(void **state)
{
	(void)state;
	struct router_learner *l = new_learner(0.05, 200, 11);
	struct router_rng world;
	router_rng_seed(&world, 5);
	struct truth t = {"improves", 0.40, 0.90, 0};
	struct router_choice ch;
	struct router_decision d;

	for (int i = 0; i < 4000; i++)
		step(l, &world, &t, &ch);
	router_learner_decide(l, "improves", &d);
	assert_string_equal(d.tier, "large");
	t.p_small = 0.96;
	int switched_at = -1;
	for (int i = 0; i < 20000; i++) {
		step(l, &world, &t, &ch);
		router_learner_decide(l, "improves", &d);
		if (switched_at < 0 && strcmp(d.tier, "small") == 0)
			switched_at = i;
	}
	assert_true(switched_at >= 0);
	router_learner_decide(l, "improves", &d);
	assert_string_equal(d.tier, "small");
	router_learner_free(l);
}

static void test_overrides(void **state)
{
	(void)state;
	struct tally_err err = {0};
	struct router_learner *l = new_learner(0.02, -1, 3);
	struct router_rng world;
	struct router_choice ch;
	struct router_decision d;
	struct router_override ov;
	router_rng_seed(&world, 8);
	assert_true(router_learner_add_tier(l, "local", &err) >= 0);

	/* pinned: every answer is the pinned tier, no exploration */
	memset(&ov, 0, sizeof ov);
	snprintf(ov.pinned, sizeof ov.pinned, "small");
	assert_int_equal(router_learner_set_override(l, "pinned", &ov, &err), 0);
	const struct truth tp = {"pinned", 0.1, 0.99, 0.1};
	for (int i = 0; i < 2000; i++) {
		step(l, &world, &tp, &ch);
		assert_string_equal(ch.tier, "small");
		assert_false(ch.explore);
	}
	router_learner_decide(l, "pinned", &d);
	assert_string_equal(d.tier, "small");
	assert_true(d.pinned); /* said by the decision, not left to its reason's text */
	assert_non_null(strstr(d.reason, "pinned"));

	/* sensitive: only local, though large and small are better */
	memset(&ov, 0, sizeof ov);
	snprintf(ov.allowed[0], sizeof ov.allowed[0], "local");
	ov.n_allowed = 1;
	assert_int_equal(router_learner_set_override(l, "sensitive", &ov, &err), 0);
	const struct truth tsn = {"sensitive", 0.99, 0.99, 0.5};
	for (int i = 0; i < 3000; i++) {
		step(l, &world, &tsn, &ch);
		assert_string_equal(ch.tier, "local");
	}
	router_learner_decide(l, "sensitive", &d);
	assert_string_equal(d.tier, "local");

	/* allowed small and large: local, the cheapest and as good, is never used */
	memset(&ov, 0, sizeof ov);
	snprintf(ov.allowed[0], sizeof ov.allowed[0], "small");
	snprintf(ov.allowed[1], sizeof ov.allowed[1], "large");
	ov.n_allowed = 2;
	assert_int_equal(router_learner_set_override(l, "cloud", &ov, &err), 0);
	const struct truth tc = {"cloud", 0.95, 0.95, 0.95};
	for (int i = 0; i < 3000; i++) {
		step(l, &world, &tc, &ch);
		assert_string_not_equal(ch.tier, "local");
	}

	/* tolerance: small at 0.80 vs large at 0.95 is out at 2%, in at 30% */
	const struct truth tt = {"tol", 0.80, 0.95, 0.0};
	memset(&ov, 0, sizeof ov);
	snprintf(ov.allowed[0], sizeof ov.allowed[0], "small");
	snprintf(ov.allowed[1], sizeof ov.allowed[1], "large");
	ov.n_allowed = 2;
	assert_int_equal(router_learner_set_override(l, "tol", &ov, &err), 0);
	for (int i = 0; i < 3000; i++)
		step(l, &world, &tt, &ch);
	router_learner_decide(l, "tol", &d);
	assert_string_equal(d.tier, "large");
	ov.has_tolerance = true;
	ov.tolerance = 0.30;
	assert_int_equal(router_learner_set_override(l, "tol", &ov, &err), 0);
	/* small was eliminated at 2% before it had min_samples: at 30% it is a
	 * candidate again, and measured */
	for (int i = 0; i < 4000; i++)
		step(l, &world, &tt, &ch);
	router_learner_decide(l, "tol", &d);
	assert_string_equal(d.tier, "small");
	assert_true(d.tolerance == 0.30);
	/* removing the override restores the global rule */
	assert_int_equal(router_learner_set_override(l, "tol", NULL, &err), 0);
	router_learner_decide(l, "tol", &d);
	assert_string_equal(d.tier, "large");

	/* bad overrides are refused */
	ov.tolerance = 1.5;
	assert_int_equal(router_learner_set_override(l, "tol", &ov, &err), -1);
	assert_int_equal(err.code, TALLY_EINVAL);

	/* an unknown task type gets the default and is not registered */
	size_t n = router_learner_task_count(l);
	router_learner_decide(l, "never-seen", &d);
	assert_string_equal(d.tier, "large");
	assert_int_equal(router_learner_task_count(l), n);
	router_learner_free(l);
}

/* Without a configured default, the learner warms up over the tiers, then
 * uses the tier with the best pooled quality. Same seed, same answers. */
static void test_default_and_determinism(void **state)
{
	(void)state;
	struct tally_err err = {0};
	char seq[2][4000];
	for (int run = 0; run < 2; run++) {
		struct router_learner *l = router_learner_new(NULL, &err);
		struct router_rng world;
		struct router_choice ch;
		assert_non_null(l);
		/* not the learner's seed (1): its draws decide what it explores */
		router_rng_seed(&world, 12345);
		assert_int_equal(router_learner_add_tier(l, "a-cheap", &err), 0);
		assert_int_equal(router_learner_add_tier(l, "b-good", &err), 1);
		assert_int_equal(router_learner_add_tier(l, "c-pricey", &err), 2);
		assert_int_equal(router_learner_add_tier(l, "b-good", &err), 1);
		for (int i = 0; i < 4000; i++) {
			char task[16];
			snprintf(task, sizeof task, "t%d", i % 7);
			router_learner_choose(l, task, &ch);
			seq[run][i] = ch.tier[0];
			double p = ch.tier[0] == 'a' ? 0.3 : ch.tier[0] == 'b' ? 0.9 : 0.8;
			int64_t c = ch.tier[0] == 'a' ? 1 : ch.tier[0] == 'b' ? 50 : 100;
			double q = router_rng_unit(&world) < p ? 1 : 0;
			assert_int_equal(router_learner_observe(l, task, ch.tier, q, c, -1, &err),
			                 0);
		}
		struct router_decision d;
		router_learner_decide(l, "brand-new", &d);
		assert_string_equal(d.tier, "b-good");
		assert_int_equal(router_learner_task_count(l), 7);
		assert_int_equal(router_learner_tier_count(l), 3);
		router_learner_free(l);
	}
	assert_memory_equal(seq[0], seq[1], sizeof seq[0]);
	/* warm-up went round the tiers first */
	assert_true(seq[0][0] == 'a' && seq[0][1] == 'b' && seq[0][2] == 'c');
}

static void test_bad_params(void **state)
{
	(void)state;
	struct router_params p;
	struct tally_err err = {0};
	router_params_init(&p);
	p.tolerance = 1.0;
	assert_null(router_learner_new(&p, &err));
	assert_int_equal(err.code, TALLY_EINVAL);
	router_params_init(&p);
	p.window = 31;
	assert_null(router_learner_new(&p, &err));
	struct router_learner *l = router_learner_new(NULL, &err);
	tally_err_clear(&err);
	assert_int_equal(router_learner_observe(l, "t", "x", 0.5, -1, -1, &err), -1);
	assert_int_equal(router_learner_add_tier(l, "", &err), -1);
	router_learner_free(l);
	router_learner_free(NULL);
}

/* Aggregates loaded in bulk give the same statistics as one by one. */
static void test_add_sums(void **state)
{
	(void)state;
	struct tally_err err = {0};
	struct router_learner *a = router_learner_new(NULL, &err),
	                      *b = router_learner_new(NULL, &err);
	struct router_cell_sums s;
	memset(&s, 0, sizeof s);
	for (int i = 0; i < 40; i++) {
		double q = i % 4 ? 1.0 : 0.0;
		int64_t lat = i < 20 ? 40 : 900;
		assert_int_equal(router_learner_observe(a, "t", "x", q, 1000 + i, lat, &err), 0);
		s.n++;
		s.quality_sum += q;
		s.quality_sumsq += q * q;
		s.cost_pusd += 1000 + i;
		s.latency_hist[router_latency_bucket(lat)]++;
	}
	assert_int_equal(router_learner_add_sums(b, "t", "x", &s, &err), 0);
	struct router_cell_stats sa, sb;
	router_learner_stats(a, "t", "x", &sa);
	router_learner_stats(b, "t", "x", &sb);
	assert_int_equal(sa.n, sb.n);
	assert_true(sa.quality_mean == sb.quality_mean && sa.quality_mean == 0.75);
	assert_int_equal(sa.cost_pusd, 40 * 1000 + 780);
	assert_int_equal(sa.cost_pusd, sb.cost_pusd);
	assert_int_equal(sa.latency_p50_ms, 50);
	assert_int_equal(sa.latency_p95_ms, 1000);
	assert_int_equal(sb.latency_p95_ms, 1000);
	router_learner_free(a);
	router_learner_free(b);
}

static void sums(struct router_cell_sums *s, int64_t n, double mean, int64_t cost_per_call)
{
	memset(s, 0, sizeof *s);
	s->n = n;
	s->quality_sum = mean * (double)n;
	s->quality_sumsq = mean * (double)n; /* 0/1 quality */
	s->cost_pusd = cost_per_call * n;
}

/* Per-workflow decisions from stored aggregates: a workflow decides for
 * itself only with enough samples on the tiers it compares, including the
 * task type's tier; otherwise the task type's policy applies. */
static void test_workflow_rule(void **state)
{
	(void)state;
	struct tally_err err = {0};
	struct router_learner *l = new_learner(0.02, 0, 1);
	struct router_cell_sums cs;
	struct router_decision d;
	struct router_plan plan;
	struct router_cell_stats before, after;

	/* the task type: small as good as large -> small */
	sums(&cs, 1000, 0.9, SMALL_COST);
	assert_int_equal(router_learner_add_sums(l, "T", "small", &cs, &err), 0);
	sums(&cs, 1000, 0.9, LARGE_COST);
	assert_int_equal(router_learner_add_sums(l, "T", "large", &cs, &err), 0);
	router_learner_stats(l, "T", "small", &before);
	/* x: small barely measured; y: small clearly worse; z: the same as T */
	const struct {
		const char *wf;
		int64_t n_small;
		double q_small;
	} wfs[] = {{"x", 10, 0.2}, {"y", 100, 0.3}, {"z", 100, 0.9}};
	for (size_t i = 0; i < 3; i++) {
		sums(&cs, 100, 0.9, LARGE_COST);
		assert_int_equal(
		    router_learner_add_workflow_sums(l, "T", wfs[i].wf, "large", &cs, &err), 0);
		sums(&cs, wfs[i].n_small, wfs[i].q_small, SMALL_COST);
		assert_int_equal(
		    router_learner_add_workflow_sums(l, "T", wfs[i].wf, "small", &cs, &err), 0);
	}
	/* workflow sums leave the task type's (and the pooled) statistics alone */
	router_learner_stats(l, "T", "small", &after);
	assert_int_equal(before.n, after.n);
	assert_true(before.quality_mean == after.quality_mean);
	assert_int_equal(router_learner_task_count(l), 1);
	assert_int_equal(router_learner_workflow_count(l), 3);
	assert_true(router_learner_workflow_known(l, "T", "y"));
	assert_false(router_learner_workflow_known(l, "T", "nope"));
	assert_false(router_learner_workflow_known(l, "U", "y"));

	router_learner_decide(l, "T", &d);
	assert_string_equal(d.tier, "small");

	router_learner_decide_workflow(l, "T", "x", &d);
	assert_string_equal(d.tier, "small");
	assert_false(d.settled);
	assert_false(d.workflow_policy);
	assert_non_null(strstr(d.reason, "small has 10 of 30 samples for this workflow"));

	router_learner_decide_workflow(l, "T", "y", &d);
	assert_string_equal(d.tier, "large");
	assert_true(d.settled);
	assert_true(d.workflow_policy);
	assert_false(d.workflow_agrees);
	assert_non_null(strstr(d.reason, "best tier large"));

	router_learner_decide_workflow(l, "T", "z", &d);
	assert_string_equal(d.tier, "small");
	assert_true(d.settled);
	assert_false(d.workflow_policy);
	assert_true(d.workflow_agrees);

	router_learner_decide_workflow(l, "T", "nope", &d);
	assert_string_equal(d.tier, "small");
	assert_false(d.settled || d.workflow_policy || d.workflow_agrees);
	assert_non_null(strstr(d.reason, "no statistics of its own"));

	/* plans: y its own, with small (cheaper) kept measured; x the task type's */
	router_learner_plan_workflow(l, "T", "y", &plan);
	assert_true(plan.workflow_policy);
	assert_string_equal(plan.tier, "large");
	/* small is eliminated for y (its upper bound is far below the bar):
	 * being cheaper, it is only re-checked, at a tenth of the share */
	assert_string_equal(plan.explore_tier, "small");
	assert_true(plan.explore_share == 0.005);
	assert_non_null(strstr(plan.explore_reason, "re-checking small"));
	assert_true(plan.explore2_tier[0] == '\0');
	struct router_choice ch;
	router_plan_choose(&plan, 0.001, &ch);
	assert_true(ch.explore);
	assert_string_equal(ch.tier, "small");
	router_plan_choose(&plan, 0.5, &ch);
	assert_false(ch.explore);
	assert_string_equal(ch.tier, "large");
	router_learner_plan_workflow(l, "T", "x", &plan);
	assert_false(plan.workflow_policy || plan.workflow_agrees);
	assert_string_equal(plan.tier, "small");
	router_learner_plan_workflow(l, "T", "z", &plan);
	assert_true(plan.workflow_agrees);
	/* an unknown task type's plan is the default's */
	router_learner_plan(l, NULL, &plan);
	assert_string_equal(plan.tier, "large");
	assert_non_null(strstr(plan.reason, "default large"));

	/* a pinned task type: no workflow decides for itself */
	struct router_override ov;
	memset(&ov, 0, sizeof ov);
	snprintf(ov.pinned, sizeof ov.pinned, "small");
	assert_int_equal(router_learner_set_override(l, "T", &ov, &err), 0);
	router_learner_decide_workflow(l, "T", "y", &d);
	assert_string_equal(d.tier, "small");
	assert_false(d.workflow_policy);
	assert_non_null(strstr(d.reason, "pinned"));
	router_learner_plan_workflow(l, "T", "y", &plan);
	assert_true(plan.pinned);
	assert_string_equal(plan.explore_tier, "");
	/* the task type's tolerance applies to its workflows: at 80% y's small
	 * (0.3) still fails, and allowed tiers are respected */
	memset(&ov, 0, sizeof ov);
	ov.has_tolerance = true;
	ov.tolerance = 0.20;
	assert_int_equal(router_learner_set_override(l, "T", &ov, &err), 0);
	router_learner_decide_workflow(l, "T", "y", &d);
	assert_string_equal(d.tier, "large");
	assert_true(d.tolerance == 0.20);
	memset(&ov, 0, sizeof ov);
	snprintf(ov.allowed[0], sizeof ov.allowed[0], "small");
	ov.n_allowed = 1;
	assert_int_equal(router_learner_set_override(l, "T", &ov, &err), 0);
	router_learner_decide_workflow(l, "T", "y", &d);
	assert_string_equal(d.tier, "small");
	assert_false(d.workflow_policy);
	router_learner_free(l);
}

/* Online: one task type, two workflows with different truths. faq: small
 * as good as large; legal: small clearly worse. Whatever the task type
 * ends up with, faq routes small and legal large, one of them by its own
 * policy, and an unknown workflow follows the task type. */
static void test_workflow_online(void **state)
{
	(void)state;
	struct tally_err err = {0};
	struct router_learner *l = new_learner(0.05, 0, 21);
	struct router_rng world;
	struct router_choice ch;
	router_rng_seed(&world, 77);
	const struct {
		const char *wf;
		double p_small, p_large;
	} wfs[] = {{"faq", 0.95, 0.95}, {"legal", 0.50, 0.90}};

	for (int i = 0; i < 12000; i++) {
		size_t k = i % 4 == 3; /* faq 3 of 4 */
		router_learner_choose_workflow(l, "support", wfs[k].wf, &ch);
		double p = strcmp(ch.tier, "small") == 0 ? wfs[k].p_small : wfs[k].p_large;
		double q = router_rng_unit(&world) < p ? 1.0 : 0.0;
		assert_int_equal(router_learner_observe_workflow(l, "support", wfs[k].wf, ch.tier,
		                                                 q, cost_of(ch.tier), 100, &err),
		                 0);
	}
	struct router_decision t, faq, legal, other;
	router_learner_decide(l, "support", &t);
	router_learner_decide_workflow(l, "support", "faq", &faq);
	router_learner_decide_workflow(l, "support", "legal", &legal);
	router_learner_decide_workflow(l, "support", "other", &other);
	assert_true(t.settled);
	assert_string_equal(faq.tier, "small");
	assert_string_equal(legal.tier, "large");
	assert_true(faq.settled && legal.settled);
	assert_true(faq.workflow_policy != legal.workflow_policy);
	assert_true(faq.workflow_agrees != legal.workflow_agrees);
	assert_string_equal(other.tier, t.tier);
	assert_false(other.workflow_policy);
	/* the task type's cells hold every call, the workflows' their own */
	struct router_cell_stats a, b, c;
	router_learner_stats(l, "support", "large", &a);
	router_learner_stats_workflow(l, "support", "faq", "large", &b);
	router_learner_stats_workflow(l, "support", "legal", "large", &c);
	assert_int_equal(a.calls, b.calls + c.calls);
	router_learner_free(l);
}

static const char eval_data[] =
    "{\"item\":\"1\",\"task_type\":\"x\",\"results\":{\"s\":{\"quality\":1,\"cost_usd\":\"0.1\"},"
    "\"l\":{\"quality\":1,\"cost_usd\":\"1\"}}}\n"
    "{\"item\":\"2\",\"task_type\":\"x\",\"results\":{\"s\":{\"quality\":0,\"cost_usd\":\"0.1\"},"
    "\"l\":{\"quality\":1,\"cost_usd\":\"1\"}}}\n"
    "{\"item\":\"3\",\"task_type\":\"y\",\"results\":{\"s\":{\"quality\":1,\"cost_usd\":0.2},"
    "\"l\":{\"quality\":1,\"cost_usd\":\"2\"}}}\n";

/* x: s 0.5 vs l 1.0 -> static l (2 x $1); y: s 1.0 = l -> s ($0.2).
 * item oracle: s .1, l 1, s .2 = $1.3, quality 1. */
static void test_eval(void **state)
{
	(void)state;
	struct router_params p;
	struct router_eval_result r;
	struct tally_err err = {0};
	router_params_init(&p);
	assert_int_equal(router_eval(eval_data, strlen(eval_data), &p, false, NULL, &r, &err), 0);
	assert_string_equal(r.best_tier, "l");
	assert_string_equal(r.cheapest_tier, "s");
	assert_int_equal(r.always_best.cost_pusd, 4 * PUSD_PER_USD);
	assert_true(r.always_best.quality == 1.0);
	assert_int_equal(r.always_cheapest.cost_pusd, 4 * PUSD_PER_USD / 10);
	assert_int_equal(r.static_oracle.cost_pusd, 2 * PUSD_PER_USD + PUSD_PER_USD / 5);
	assert_int_equal(r.item_oracle.cost_pusd, 13 * PUSD_PER_USD / 10);
	assert_true(r.item_oracle.quality == 1.0);
	/* warm-up: s, l, s */
	assert_int_equal(r.router.cost_pusd, PUSD_PER_USD / 10 + PUSD_PER_USD + PUSD_PER_USD / 5);
	assert_int_equal(r.router.items, 3);
	assert_int_equal(r.n_task_types, 2);

	const char bad[] = "{\"task_type\":\"x\",\"results\":{\"s\":{\"quality\":1}}}\n";
	assert_int_equal(router_eval(bad, strlen(bad), &p, false, NULL, &r, &err), -1);
	assert_non_null(strstr(err.msg, "line 1"));
	tally_err_clear(&err);
	assert_int_equal(router_eval("\n\n", 2, &p, false, NULL, &r, &err), -1);
}

/* A line of one item with the given tier names (all quality 1, cost $0.001). */
static void eval_line(char *buf, size_t n, const char *task, const char *const *tiers,
                      size_t n_tiers)
{
	size_t off = (size_t)snprintf(buf, n, "{\"task_type\":\"%s\",\"results\":{", task);
	for (size_t i = 0; i < n_tiers; i++)
		off += (size_t)snprintf(buf + off, n - off,
		                        "%s\"%s\":{\"quality\":1,\"cost_usd\":\"0.001\"}",
		                        i ? "," : "", tiers[i]);
	snprintf(buf + off, n - off, "}}\n");
}

/* Malformed and extreme files: eval refuses them with the line at fault and
 * frees only what it owns (the 33-byte model name of RouterBench used to
 * crash it: the error path freed items it had never allocated). Real model
 * names (up to the event's model field) are arms like any other. */
static void test_eval_malformed(void **state)
{
	(void)state;
	struct router_params p;
	struct router_eval_result r;
	struct tally_err err = {0};
	char long_name[ROUTER_TIER_MAX + 2], buf[4096];
	static char text[65536];
	router_params_init(&p);

	/* real names, 33 and 41 bytes, and one of the longest allowed */
	memset(long_name, 'm', ROUTER_TIER_MAX);
	long_name[ROUTER_TIER_MAX] = '\0';
	const char *const ok_tiers[] = {"meta/code-llama-instruct-34b-chat",
	                                "anthropic.claude-3-5-sonnet-20241022-v2:0", long_name};
	text[0] = '\0';
	for (int i = 0; i < 40; i++) {
		eval_line(buf, sizeof buf, "t", ok_tiers, 3);
		strcat(text, buf);
	}
	assert_int_equal(router_eval(text, strlen(text), &p, true, NULL, &r, &err), 0);
	assert_int_equal(r.n_tiers, 3);
	assert_int_equal(r.router.items, 40);

	/* a name one byte too long, on the first line and on a later one */
	long_name[ROUTER_TIER_MAX] = 'm';
	long_name[ROUTER_TIER_MAX + 1] = '\0';
	const char *const bad_tiers[] = {"small", long_name};
	eval_line(text, sizeof text, "t", bad_tiers, 2);
	tally_err_clear(&err);
	assert_int_equal(router_eval(text, strlen(text), &p, false, NULL, &r, &err), -1);
	assert_non_null(strstr(err.msg, "line 1"));
	eval_line(text, sizeof text, "t", ok_tiers, 2);
	eval_line(buf, sizeof buf, "t", bad_tiers, 2);
	strcat(text, buf);
	tally_err_clear(&err);
	assert_int_equal(router_eval(text, strlen(text), &p, false, NULL, &r, &err), -1);
	assert_non_null(strstr(err.msg, "line 2"));

	/* each of these fails on its last line, after items were allocated */
	static const char *const bad_last[] = {
	    "{\"task_type\":\"t\",\"results\":{\"a\":{\"quality\":1,\"cost_usd\":\"0.1\"}}}\n"
	    "{\"task_type\":\"t\",\"results\":{\"a\":{\"quality\":2,\"cost_usd\":\"0.1\"}}}\n",
	    "{\"task_type\":\"t\",\"results\":{\"a\":{\"quality\":1,\"cost_usd\":\"0.1\"}}}\n"
	    "{\"task_type\":\"t\",\"results\":{\"a\":{\"quality\":1,\"cost_usd\":\"-1\"}}}\n",
	    "{\"task_type\":\"t\",\"results\":{\"a\":{\"quality\":1,\"cost_usd\":\"0.1\"},"
	    "\"b\":{\"quality\":1,\"cost_usd\":\"0.1\"}}}\n"
	    "{\"task_type\":\"t\",\"results\":{\"b\":{\"quality\":1,\"cost_usd\":\"0.1\"}}}\n",
	    "{\"task_type\":\"t\",\"results\":{\"a\":{\"quality\":1,\"cost_usd\":\"0.1\"}}}\n"
	    "{\"task_type\":\"t\",\"results\":{\"a\":{\"quality\":1,\"cost_usd\":\"x\"}}}\n",
	    /* each fits, their sum would overflow the exact counters */
	    "{\"task_type\":\"t\",\"results\":{\"a\":{\"quality\":1,\"cost_usd\":\"0.1\"}}}\n"
	    "{\"task_type\":\"t\",\"results\":{\"\":{\"quality\":1,\"cost_usd\":\"0.1\"}}}\n",
	    "{\"task_type\":\"t\",\"results\":{\"a\":{\"quality\":1,\"cost_usd\":\"0.1\"}}}\n"
	    "[1,2,3]\n",
	    "{\"task_type\":\"t\",\"results\":{\"a\":{\"quality\":1,\"cost_usd\":\"0.1\"}}}\n"
	    "{\"task_type\":\"\",\"results\":{\"a\":{\"quality\":1,\"cost_usd\":\"0.1\"}}}\n",
	};
	for (size_t i = 0; i < sizeof bad_last / sizeof *bad_last; i++) {
		tally_err_clear(&err);
		assert_int_equal(
		    router_eval(bad_last[i], strlen(bad_last[i]), &p, false, NULL, &r, &err), -1);
		assert_non_null(strstr(err.msg, "line 2"));
	}
	/* each cost fits, their sum would overflow the exact counters */
	static const char huge[] =
	    "{\"task_type\":\"t\",\"results\":{\"a\":{\"quality\":1,\"cost_usd\":\"5000000\"}}}\n"
	    "{\"task_type\":\"t\",\"results\":{\"a\":{\"quality\":1,\"cost_usd\":\"5000000\"}}}\n";
	tally_err_clear(&err);
	assert_int_equal(router_eval(huge, strlen(huge), &p, false, NULL, &r, &err), -1);
	assert_int_equal(err.code, TALLY_ERANGE);

	/* a small fuzz: random truncations and byte flips of a valid file must
	 * either evaluate or fail cleanly (run under `make unit-san` too) */
	const char *const tiers3[] = {"a", "bb", "ccc"};
	text[0] = '\0';
	for (int i = 0; i < 6; i++) {
		eval_line(buf, sizeof buf, i % 2 ? "x" : "y", tiers3, 3);
		strcat(text, buf);
	}
	size_t len = strlen(text);
	struct router_rng rng;
	router_rng_seed(&rng, 7);
	char *m = malloc(len + 1);
	assert_non_null(m);
	static const char junk[] = "{}[]\":,\n\\0-9e.x\x80\xff ";
	for (int round = 0; round < 3000; round++) {
		memcpy(m, text, len + 1);
		size_t n = len;
		int flips = 1 + (int)(router_rng_next(&rng) % 4);
		for (int f = 0; f < flips; f++)
			m[router_rng_next(&rng) % n] =
			    junk[router_rng_next(&rng) % (sizeof junk - 1)];
		if (router_rng_next(&rng) % 3 == 0)
			n = (size_t)(router_rng_next(&rng) % (n + 1));
		tally_err_clear(&err);
		int rc = router_eval(m, n, &p, round % 2 == 0, NULL, &r, &err);
		assert_true(rc == 0 || (rc == -1 && err.msg[0] != '\0'));
	}
	free(m);
}

/* Hysteresis: small's lower bound (n 400, mean 0.875) is just under the bar
 * (95% of large's 0.9 = 0.855) at full confidence and above it at half. As
 * a newcomer it does not replace large; as the incumbent it stays. */
static void test_hysteresis(void **state)
{
	(void)state;
	struct tally_err err = {0};
	struct router_learner *l = new_learner(0.05, 0, 1);
	struct router_cell_sums cs;
	struct router_decision d;
	sums(&cs, 1000, 0.9, LARGE_COST);
	assert_int_equal(router_learner_add_sums(l, "T", "large", &cs, &err), 0);
	sums(&cs, 400, 0.875, SMALL_COST);
	assert_int_equal(router_learner_add_sums(l, "T", "small", &cs, &err), 0);

	router_learner_decide(l, "T", &d);
	assert_string_equal(d.tier, "large");
	assert_int_equal(router_learner_set_incumbent(l, "T", NULL, "large", &err), 0);
	router_learner_decide(l, "T", &d);
	assert_string_equal(d.tier, "large");
	assert_int_equal(router_learner_set_incumbent(l, "T", NULL, "small", &err), 0);
	router_learner_decide(l, "T", &d);
	assert_string_equal(d.tier, "small");
	assert_true(d.settled);
	assert_non_null(strstr(d.reason, "kept small"));
	/* clearly worse (0.8): the incumbent goes */
	sums(&cs, 400, 0.8, SMALL_COST);
	assert_int_equal(router_learner_add_sums(l, "U", "small", &cs, &err), 0);
	sums(&cs, 1000, 0.9, LARGE_COST);
	assert_int_equal(router_learner_add_sums(l, "U", "large", &cs, &err), 0);
	assert_int_equal(router_learner_set_incumbent(l, "U", NULL, "small", &err), 0);
	router_learner_decide(l, "U", &d);
	assert_string_equal(d.tier, "large");
	/* an unknown incumbent is none */
	assert_int_equal(router_learner_set_incumbent(l, "U", NULL, "nope", &err), 0);
	router_learner_decide(l, "U", &d);
	assert_string_equal(d.tier, "large");
	router_learner_free(l);

	/* online, a tier on the border does not flip the policy back and forth */
	l = new_learner(0.05, -1, 5);
	struct router_rng world;
	router_rng_seed(&world, 77);
	const struct truth t = {"edge", 0.86, 0.90, 0};
	struct router_choice ch;
	char last[ROUTER_TIER_MAX + 1] = "";
	int changes = 0;
	for (int i = 0; i < 20000; i++) {
		step(l, &world, &t, &ch);
		router_learner_decide(l, "edge", &d);
		if (d.settled && strcmp(d.tier, last) != 0) {
			changes += last[0] != '\0';
			memcpy(last, d.tier, sizeof last);
		}
	}
	assert_true(changes <= 1);
	router_learner_free(l);
}

/* Exploration knows what it costs: with a cheap tier that is not good
 * enough, a mid tier that is, and a flagship 20x dearer than the mid tier,
 * the router settles on mid, spends little on the flagship, stops exploring
 * the eliminated cheap tier but for a rare re-check. */
static void test_cost_aware_exploration(void **state)
{
	(void)state;
	struct tally_err err = {0};
	struct router_params p;
	router_params_init(&p);
	p.tolerance = 0.10;
	p.seed = 9;
	struct router_learner *l = router_learner_new(&p, &err);
	assert_non_null(l);
	static const char *const names[] = {"cheap", "mid", "flagship"};
	static const double q[] = {0.60, 0.88, 0.95};
	static const int64_t cost[] = {100, 1000, 20000};
	for (int k = 0; k < 3; k++)
		assert_int_equal(router_learner_add_tier(l, names[k], &err), k);
	struct router_rng world;
	router_rng_seed(&world, 4242);
	int64_t spend[3] = {0}, calls[3] = {0};
	struct router_choice ch;
	for (int i = 0; i < 4000; i++) {
		router_learner_choose(l, "t", &ch);
		int k = ch.tier[0] == 'c' ? 0 : ch.tier[0] == 'm' ? 1 : 2;
		double r = router_rng_unit(&world) < q[k] ? 1 : 0;
		assert_int_equal(router_learner_observe(l, "t", ch.tier, r, cost[k], -1, &err), 0);
		spend[k] += cost[k];
		calls[k]++;
	}
	struct router_decision d;
	router_learner_decide(l, "t", &d);
	assert_string_equal(d.tier, "mid");
	assert_true(d.settled);
	/* the flagship: a few percent of the calls, its spend a fraction of the
	 * policy's (a round-robin start would have spent as much on it as on mid) */
	assert_true(calls[2] < 4000 / 25);
	assert_true(spend[2] < spend[1] / 2);
	/* the cheap tier is eliminated: only re-checked, at a tenth of the share */
	struct router_plan plan;
	router_learner_plan(l, "t", &plan);
	assert_string_equal(plan.explore_tier, "cheap");
	assert_true(plan.explore_share < p.explore_share);
	assert_non_null(strstr(plan.explore_reason, "re-checking"));
	router_learner_free(l);
}

static void qsums(struct router_cell_sums *s, int64_t n, double qsum, int64_t cost_per_call)
{
	memset(s, 0, sizeof *s);
	s->n = n;
	s->quality_sum = qsum;
	s->quality_sumsq = qsum; /* 0/1 quality */
	s->cost_pusd = n * cost_per_call;
}

/* A learner with the default parameters but the tolerance, and no tier yet. */
static struct router_learner *learner_at(double tol)
{
	struct router_params p;
	struct tally_err err = {0};

	router_params_init(&p);
	p.tolerance = tol;
	struct router_learner *l = router_learner_new(&p, &err);
	assert_non_null(l);
	return l;
}

/* Adds n calls of tier for task: qsum of them good, cost_per_call each. */
static void add_qsums(struct router_learner *l, const char *task, const char *tier, int64_t n,
                      double qsum, int64_t cost_per_call)
{
	struct router_cell_sums cs;
	struct tally_err err = {0};

	qsums(&cs, n, qsum, cost_per_call);
	assert_int_equal(router_learner_add_sums(l, task, tier, &cs, &err), 0);
}

/* RouterBench ARC in small: a mid-priced tier just under the true bar
 * (mixtral, 0.85), a peer a third dearer and better (yi, 0.90), a flagship
 * 17x dearer that sets the bar (0.95). With yi and the flagship barely
 * sampled, mixtral is the best *measured* tier; the rule must not settle on
 * it: it waits for yi (a peer: at most twice mixtral's cost) and counts
 * what the flagship could still reach. */
static void test_open_reach_and_peers(void **state)
{
	(void)state;
	struct router_params p; /* the defaults learner_at keeps */
	router_params_init(&p);
	struct router_learner *l = learner_at(0.10);
	struct router_decision d;
	struct router_plan plan;
	add_qsums(l, "arc", "mistral", 60, 40, 100);
	add_qsums(l, "arc", "mixtral", 300, 255, 300);
	add_qsums(l, "arc", "yi", 20, 18, 400);
	add_qsums(l, "arc", "flagship", 2, 2, 5000);

	router_learner_decide(l, "arc", &d);
	assert_string_equal(d.tier, "mixtral");
	assert_false(d.settled);
	assert_non_null(strstr(d.reason, "yi, at most twice its cost, has 20 of 30 samples"));
	/* the decision waits for yi: it is explored with the warm-up share,
	 * scaled by the cost ratio (300 / 400) */
	router_learner_plan(l, "arc", &plan);
	assert_string_equal(plan.explore2_tier, "yi");
	assert_true(fabs(plan.explore2_share - p.warmup_share * 0.75) < 1e-9);

	/* yi measured (400 samples, 0.90): the best measured; but the flagship's
	 * 2 of 2 could still mean 1.0, so nothing cheaper qualifies against it */
	add_qsums(l, "arc", "yi", 380, 342, 400);
	router_learner_decide(l, "arc", &d);
	assert_string_equal(d.tier, "yi");
	assert_true(d.settled);
	assert_non_null(strstr(d.reason, "best tier yi"));
	assert_non_null(strstr(d.reason, "that flagship (n 2) could still reach"));
	/* mixtral, measured and under the bar in force, is only re-checked */
	router_learner_plan(l, "arc", &plan);
	assert_true(strcmp(plan.explore_tier, "mixtral") != 0 ||
	            plan.explore_share < p.explore_share);

	/* the flagship measured at 0.95: the bar is 0.855; yi (lower bound
	 * 0.873) qualifies and mixtral (0.815) does not */
	add_qsums(l, "arc", "flagship", 38, 36, 5000);
	router_learner_decide(l, "arc", &d);
	assert_string_equal(d.tier, "yi");
	assert_true(d.settled);
	assert_non_null(strstr(d.reason, "cheapest tier within tolerance: yi"));
	router_learner_free(l);
}

/* The cost-aware climb of the ladder (RouterBench MBPP in small): every tier
 * is weak; mid (0.64 of 25, like gpt-3.5) is within tolerance of a flagship
 * 28x its price whose 8 samples show 0.75. The old ladder took the
 * flagship's upper bound (0.913) as what could be reached, so mid (upper
 * bound 0.777 < 0.9 x 0.913) fell off and the router climbed to the
 * flagship. Against a tier 8x cheaper or more only the flagship's mean
 * counts (0.9 x 0.75 = 0.675): mid stays. A peer (1.5x mid's price) with
 * the same samples still counts with its upper bound: a climb to it is cheap. */
static void test_cost_aware_climb(void **state)
{
	(void)state;
	struct router_decision d;
	struct router_learner *l = learner_at(0.10);
	add_qsums(l, "mbpp", "cheap", 20, 6, 50);
	add_qsums(l, "mbpp", "mid", 25, 16, 335);
	add_qsums(l, "mbpp", "flagship", 8, 6, 9400);
	router_learner_decide(l, "mbpp", &d);
	assert_string_equal(d.tier, "mid");
	assert_false(d.settled);
	assert_non_null(strstr(d.reason, "learning: mid is the cheapest tier"));

	/* the same evidence from a tier 1.5x mid's price: the ladder climbs */
	add_qsums(l, "mbpp", "peer", 8, 6, 500);
	router_learner_decide(l, "mbpp", &d);
	assert_string_equal(d.tier, "peer");
	router_learner_free(l);
}

/* None qualifies and only cheap tiers happen to be measured (RouterBench
 * Winogrande, open-weight models): the best measured one (mistral, 0.55) is
 * not settled on while a tier 4x its price (yi, 6 of 8) could still be more
 * than the tolerance better; the router climbs to yi, as the ladder would,
 * until it is measured. A flagship 10x the price with 3 of 3 is no such
 * reason: it is explored in proportion to its cost instead. */
static void test_open_climb(void **state)
{
	(void)state;
	struct router_decision d;
	for (int with_yi = 0; with_yi < 2; with_yi++) {
		struct router_learner *l = learner_at(0.10);
		add_qsums(l, "wino", "mistral", 60, 33, 70);
		add_qsums(l, "wino", "wizard", 200, 108, 105);
		add_qsums(l, "wino", "flagship", 3, 3, 700);
		if (with_yi) {
			add_qsums(l, "wino", "yi", 8, 6, 280);
		}
		router_learner_decide(l, "wino", &d);
		if (with_yi) {
			assert_string_equal(d.tier, "yi");
			assert_false(d.settled);
			assert_non_null(strstr(d.reason, "than the best measured tier mistral"));
		} else {
			assert_string_equal(d.tier, "mistral");
			assert_true(d.settled);
			assert_non_null(strstr(d.reason, "best tier mistral"));
		}
		router_learner_free(l);
	}
}

/* A workflow whose cheaper tier is written off by its task type (small is
 * bad for the task type as a whole) still gets that tier explored on its
 * own answers, so that it can come to decide for itself; a workflow whose
 * own statistics eliminated it does not. */
static void test_workflow_explore(void **state)
{
	(void)state;
	struct tally_err err = {0};
	struct router_learner *l = new_learner(0.10, 0, 3);
	struct router_cell_sums cs;
	struct router_plan plan;
	struct router_decision d;
	add_qsums(l, "support", "large", 300, 300, cost_of("large"));
	add_qsums(l, "support", "small", 60, 22, cost_of("small"));
	router_learner_plan(l, "support", &plan);
	assert_string_equal(plan.tier, "large");
	assert_string_equal(plan.explore_tier, "small");
	assert_true(plan.explore_share < 0.01); /* eliminated: re-checked only */

	qsums(&cs, 150, 150, cost_of("large"));
	assert_int_equal(router_learner_add_workflow_sums(l, "support", "faq", "large", &cs, &err),
	                 0);
	qsums(&cs, 2, 2, cost_of("small"));
	assert_int_equal(router_learner_add_workflow_sums(l, "support", "faq", "small", &cs, &err),
	                 0);
	qsums(&cs, 150, 150, cost_of("large"));
	assert_int_equal(
	    router_learner_add_workflow_sums(l, "support", "legal", "large", &cs, &err), 0);
	qsums(&cs, 58, 20, cost_of("small"));
	assert_int_equal(
	    router_learner_add_workflow_sums(l, "support", "legal", "small", &cs, &err), 0);

	router_learner_plan_workflow(l, "support", "faq", &plan);
	assert_string_equal(plan.tier, "large");
	assert_string_equal(plan.explore_tier, "small");
	assert_true(fabs(plan.explore_share - 0.25) < 1e-9);
	assert_non_null(strstr(plan.explore_reason, "for this workflow"));
	router_learner_plan_workflow(l, "support", "legal", &plan);
	assert_true(plan.explore_share < 0.01);

	/* faq's own evidence: small always right; it decides for itself */
	qsums(&cs, 40, 40, cost_of("small"));
	assert_int_equal(router_learner_add_workflow_sums(l, "support", "faq", "small", &cs, &err),
	                 0);
	router_learner_decide_workflow(l, "support", "faq", &d);
	assert_string_equal(d.tier, "small");
	assert_true(d.workflow_policy);
	router_learner_free(l);
}

/* Extreme files: nothing in them, a thousand arms, names at and over the
 * limits, qualities outside [0,1], the largest cost that can be counted,
 * workflows of every wrong type. Each evaluates or fails with the line. */
static void test_eval_extreme(void **state)
{
	(void)state;
	struct router_params p;
	struct router_eval_result r;
	struct tally_err err = {0};
	router_params_init(&p);

	static const char *const empty[] = {"", "\n", " \n\t\n\r\n"};
	for (size_t i = 0; i < sizeof empty / sizeof *empty; i++) {
		tally_err_clear(&err);
		assert_int_equal(router_eval(empty[i], strlen(empty[i]), &p, false, NULL, &r, &err),
		                 -1);
		assert_non_null(strstr(err.msg, "no items"));
	}

	/* 1000 arms, 40 items: the warm-up tries a new arm per item, every answer
	 * is an arm of the file */
	enum { ARMS = 1000, ITEMS = 40 };
	size_t cap = (size_t)ITEMS * (ARMS * 48 + 64), off = 0;
	char *text = malloc(cap);
	assert_non_null(text);
	for (int i = 0; i < ITEMS; i++) {
		off +=
		    (size_t)snprintf(text + off, cap - off, "{\"task_type\":\"t\",\"results\":{");
		for (int k = 0; k < ARMS; k++)
			off +=
			    (size_t)snprintf(text + off, cap - off,
			                     "%s\"arm%d\":{\"quality\":%d,\"cost_usd\":\"0.%06d\"}",
			                     k ? "," : "", k, (i + k) % 2, k + 1);
		off += (size_t)snprintf(text + off, cap - off, "}}\n");
	}
	assert_true(off < cap);
	char trace_buf[ITEMS * 16];
	FILE *trace = fmemopen(trace_buf, sizeof trace_buf, "w");
	assert_non_null(trace);
	tally_err_clear(&err);
	assert_int_equal(router_eval(text, off, &p, true, trace, &r, &err), 0);
	fclose(trace);
	assert_int_equal(r.n_tiers, ARMS);
	assert_int_equal(r.router.items, ITEMS);
	assert_non_null(strstr(trace_buf, "\tarm"));
	free(text);

	/* the largest cost the exact counters hold, on one item */
	static const char top[] = "{\"task_type\":\"t\",\"results\":{\"a\":{\"quality\":1,"
	                          "\"cost_usd\":\"9223372.036854775807\"}}}\n";
	tally_err_clear(&err);
	assert_int_equal(router_eval(top, strlen(top), &p, false, NULL, &r, &err), 0);
	assert_int_equal(r.router.cost_pusd, INT64_MAX);
	assert_int_equal(r.static_oracle.cost_pusd, INT64_MAX);

	char name[ROUTER_TASK_MAX + 2];
	memset(name, 'w', sizeof name - 1);
	name[sizeof name - 1] = '\0'; /* one byte over */
	static char line[2048];
	static const char *const bad_lines[] = {
	    "{\"task_type\":\"t\",\"results\":{\"a\":{\"quality\":-0.5,\"cost_usd\":\"1\"}}}\n",
	    "{\"task_type\":\"t\",\"results\":{\"a\":{\"quality\":\"NaN\",\"cost_usd\":\"1\"}}}\n",
	    "{\"task_type\":\"t\",\"results\":{\"a\":{\"quality\":1e999,\"cost_usd\":\"1\"}}}\n",
	    "{\"task_type\":\"t\",\"results\":{\"a\":{\"quality\":1,\"cost_usd\":\"1e30\"}}}\n",
	    "{\"task_type\":\"t\",\"results\":{\"a\":{\"quality\":1,\"cost_usd\":"
	    "\"9223372.036854775808\"}}}\n",
	    "{\"task_type\":\"t\",\"workflow\":5,\"results\":{\"a\":{\"quality\":1,"
	    "\"cost_usd\":\"1\"}}}\n",
	    "{\"task_type\":\"t\",\"workflow\":[\"w\"],\"results\":{\"a\":{\"quality\":1,"
	    "\"cost_usd\":\"1\"}}}\n",
	};
	for (size_t i = 0; i < sizeof bad_lines / sizeof *bad_lines + 2; i++) {
		if (i < sizeof bad_lines / sizeof *bad_lines)
			snprintf(line, sizeof line, "%s", bad_lines[i]);
		else if (i ==
		         sizeof bad_lines / sizeof *bad_lines) /* a task type a byte too long */
			snprintf(line, sizeof line,
			         "{\"task_type\":\"%s\",\"results\":{\"a\":{\"quality\":1,"
			         "\"cost_usd\":\"1\"}}}\n",
			         name);
		else /* a workflow a byte too long */
			snprintf(line, sizeof line,
			         "{\"task_type\":\"t\",\"workflow\":\"%s\",\"results\":{\"a\":{"
			         "\"quality\":1,\"cost_usd\":\"1\"}}}\n",
			         name);
		tally_err_clear(&err);
		assert_int_equal(router_eval(line, strlen(line), &p, false, NULL, &r, &err), -1);
		assert_non_null(strstr(err.msg, "line 1"));
	}
	/* at the limits: fine; an empty or null workflow is none */
	name[ROUTER_TASK_MAX] = '\0';
	snprintf(line, sizeof line,
	         "{\"task_type\":\"%s\",\"workflow\":\"%s\",\"results\":{\"a\":{\"quality\":0,"
	         "\"cost_usd\":\"0\"}}}\n"
	         "{\"task_type\":\"t\",\"workflow\":\"\",\"results\":{\"a\":{\"quality\":1,"
	         "\"cost_usd\":\"0\"}}}\n"
	         "{\"task_type\":\"t\",\"workflow\":null,\"results\":{\"a\":{\"quality\":1,"
	         "\"cost_usd\":\"0\"}}}\n",
	         name, name);
	tally_err_clear(&err);
	assert_int_equal(router_eval(line, strlen(line), &p, false, NULL, &r, &err), 0);
	assert_int_equal(r.n_task_types, 2);
	assert_int_equal(r.n_groups, 2);
}

/* The information budget (RouterBench Winogrande in small): yi (0.75 of
 * 400) is the best measured tier, mixtral (0.675 of 400) cheaper; a
 * flagship 12.5x yi's price is the only tier that could be more than the
 * tolerance better. Hand-worked at z 1.645 (one-sided error 0.04998):
 * yi's Wilson lower bound is 0.71278. */
static void test_information_budget(void **state)
{
	(void)state;
	struct router_params p; /* the defaults learner_at keeps */
	router_params_init(&p);
	struct router_learner *l = learner_at(0.10);
	struct router_decision d;
	struct router_plan plan;
	add_qsums(l, "wino", "mixtral", 400, 270, 210);
	add_qsums(l, "wino", "yi", 400, 300, 280);
	add_qsums(l, "wino", "flagship", 1, 0, 3500);

	/* one failure of the flagship. Its exact upper bound is 1 - 0.04998 =
	 * 0.950 (Wilson's would be 2.706 / 3.706 = 0.730: with it the bar fell
	 * to 0.9 x 0.75 = 0.675 and yi, lower bound 0.713, "qualified" after a
	 * single call of the flagship). The bar is 0.9 x 0.950 = 0.855: nothing
	 * qualifies, yi is the best measured tier */
	router_learner_decide(l, "wino", &d);
	assert_string_equal(d.tier, "yi");
	assert_true(d.settled);
	assert_non_null(strstr(d.reason, "best tier yi"));
	assert_non_null(strstr(d.reason, "the 0.950 that flagship (n 1) could still reach"));
	/* the flagship could lift the bar to 0.855 > 0.713: it is measured.
	 * Spent so far: 400 x 210 + 400 x 280 + 3500 = 199,500, of it 3,500
	 * (1.8%) on the flagship, under the budget of 5% (9,975): catching up
	 * at the policy's own spend per call, 280 / 3500 = 0.08 of the calls
	 * (under the warm-up share 0.25) */
	router_learner_plan(l, "wino", &plan);
	assert_string_equal(plan.explore2_tier, "flagship");
	assert_true(fabs(plan.explore2_share - 0.08) < 1e-12);
	assert_non_null(
	    strstr(plan.explore2_reason, "measuring flagship: dearer, 1 of 30 samples"));
	assert_non_null(strstr(plan.explore2_reason, "1.8% of the task type's spend, catching up"));

	/* two more calls, both right (2 of 3): 10,500 of 206,500 (5.08%) went
	 * to the flagship, over the 5% (10,325): no more catching up, the
	 * budget is paid per call, 0.05 x 0.08 = 0.004 of the calls (its
	 * expected spend 5% of the policy's). Its exact upper bound
	 * 0.95^(1/3) = 0.983 still lifts the bar to 0.885 > 0.713 */
	add_qsums(l, "wino", "flagship", 2, 2, 3500);
	router_learner_plan(l, "wino", &plan);
	assert_string_equal(plan.explore2_tier, "flagship");
	assert_true(fabs(plan.explore2_share - p.explore_share * 0.08) < 1e-12);
	assert_non_null(strstr(plan.explore2_reason, "5.1% of the task type's spend)"));
	assert_null(strstr(plan.explore2_reason, "catching up"));

	/* measured (26 of 30, 0.867): the bar is 0.9 x 0.867 = 0.780, yi's
	 * 0.713 is short of it: the flagship is the best measured tier and the
	 * policy, what the static oracle answers on Winogrande */
	add_qsums(l, "wino", "flagship", 27, 24, 3500);
	router_learner_decide(l, "wino", &d);
	assert_string_equal(d.tier, "flagship");
	assert_true(d.settled);
	assert_non_null(strstr(d.reason, "best tier flagship"));
	router_learner_free(l);

	/* the sequential test: 4 of 10 right. The exact upper bound of 4 / 10
	 * is 0.6965; 0.9 x 0.6965 = 0.627 < yi's 0.713: whatever the rest of
	 * its 30 samples, it cannot lift the bar above yi's lower bound, so it
	 * is no longer measured. Nor does it raise the bar any more (0.6965 <
	 * yi's 0.75): the bar is 0.9 x 0.75 = 0.675 */
	l = learner_at(0.10);
	add_qsums(l, "wino", "mixtral", 400, 270, 210);
	add_qsums(l, "wino", "yi", 400, 300, 280);
	add_qsums(l, "wino", "flagship", 10, 4, 3500);
	router_learner_decide(l, "wino", &d);
	assert_string_equal(d.tier, "yi");
	assert_non_null(strstr(d.reason, "best tier yi (quality 0.750, n 400)"));
	assert_non_null(strstr(d.reason, "reaches 0.675"));
	router_learner_plan(l, "wino", &plan);
	assert_true(plan.explore2_tier[0] == '\0');
	assert_true(plan.explore2_share == 0);
	router_learner_free(l);

	/* the most that a dollar of measurement could change: claude (2 of 5,
	 * 2800 a call) could lift the bar by 0.9 x 0.8108 - 0.7128 = 0.0169,
	 * 6.0e-6 per pico-dollar of a call; the flagship (5 of 5, 3500) by
	 * 0.9 x 1 - 0.7128 = 0.1872, 5.3e-5: the flagship is measured though
	 * it has cost more so far (17,500 against 14,000: the least spent, the
	 * rule before, took claude) */
	l = learner_at(0.10);
	add_qsums(l, "wino", "mixtral", 400, 270, 210);
	add_qsums(l, "wino", "yi", 400, 300, 280);
	add_qsums(l, "wino", "claude", 5, 2, 2800);
	add_qsums(l, "wino", "flagship", 5, 5, 3500);
	router_learner_plan(l, "wino", &plan);
	assert_string_equal(plan.tier, "yi");
	assert_string_equal(plan.explore2_tier, "flagship");
	/* 31,500 of 227,500 (13.8%): over the budget, paid per call */
	assert_true(fabs(plan.explore2_share - p.explore_share * 280 / 3500) < 1e-12);
	assert_non_null(strstr(plan.explore2_reason, "13.8% of the task type's spend)"));
	router_learner_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_wilson_and_rng),
	    cmocka_unit_test(test_policy_converges),
	    cmocka_unit_test(test_policy_follows_improvement),
	    cmocka_unit_test(test_overrides),
	    cmocka_unit_test(test_default_and_determinism),
	    cmocka_unit_test(test_bad_params),
	    cmocka_unit_test(test_add_sums),
	    cmocka_unit_test(test_workflow_rule),
	    cmocka_unit_test(test_workflow_online),
	    cmocka_unit_test(test_eval),
	    cmocka_unit_test(test_eval_malformed),
	    cmocka_unit_test(test_hysteresis),
	    cmocka_unit_test(test_cost_aware_exploration),
	    cmocka_unit_test(test_open_reach_and_peers),
	    cmocka_unit_test(test_cost_aware_climb),
	    cmocka_unit_test(test_open_climb),
	    cmocka_unit_test(test_information_budget),
	    cmocka_unit_test(test_workflow_explore),
	    cmocka_unit_test(test_eval_extreme),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
