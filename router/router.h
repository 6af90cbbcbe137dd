/* router.h - learns which model tier each task type needs, and answers route
 * queries (docs/router.md). The only header of router/ that other components use.
 *
 * Two layers:
 *  - the learner: pure C, no database, no threads. Per (task_type, tier)
 *    and per (task_type, workflow, tier) statistics, the policy rule,
 *    exploration with its own seeded PRNG.
 *    `tally router eval` and the live router run the same code.
 *  - the live router: a thread that keeps the learner in step with the
 *    ledger and publishes an immutable snapshot that route queries read.
 *
 * Money is integer pico-USD (common.h); quality is a score in [0,1].
 * Tolerance is the allowed relative shortfall: a tier qualifies when the
 * lower confidence bound of its quality is >= (1 - tolerance) x the best
 * tier's mean quality (tolerance 0.02 = "98% of the best").
 */
#ifndef TALLY_ROUTER_H
#define TALLY_ROUTER_H

#include <stdio.h>

#include "../common/common.h"
#include "../common/event.h"

#define ROUTER_TIER_MAX                                                                            \
	EVENT_MODEL_MAX                   /* bytes of an arm's name: a tier, or a model            \
	                                   * (as long as an event's model field) */
#define ROUTER_TASK_MAX    EVENT_NAME_MAX /* bytes of a task type name */
#define ROUTER_MAX_ALLOWED 16             /* tiers in one allowed list */
#define ROUTER_LAT_BUCKETS 20             /* latency histogram buckets */

/* ---- parameters and overrides ---------------------------------------- */

struct router_params {
	double tolerance;     /* allowed relative shortfall, [0,1); default 0.02 */
	int64_t min_samples;  /* per compared tier before the policy may move; default 30 */
	double explore_share; /* share of answers to uncertain tiers; default 0.05 */
	double warmup_share;  /* the same while some allowed tier of the task type is still
	                         below min_samples; default 0.25 (0 = explore_share) */
	double z;             /* one-sided normal quantile of the bounds; default 1.645 (95%) */
	int64_t window;       /* decision statistics are halved when a cell reaches this
	                         many samples, so that change is noticed; even, 0 = never;
	                         default 2000 */
	uint64_t seed;        /* PRNG seed; default 1 */
	char default_tier[ROUTER_TIER_MAX + 1]; /* "" = the tier with the best pooled
	                                            quality (warm-up until one is known) */
};

/* Fills p with the defaults above. */
void router_params_init(struct router_params *p);

/* Per task type. Unset fields leave the global parameters in force. */
struct router_override {
	bool has_tolerance;
	double tolerance;
	char pinned[ROUTER_TIER_MAX + 1]; /* "" = not pinned */
	char allowed[ROUTER_MAX_ALLOWED][ROUTER_TIER_MAX + 1];
	size_t n_allowed; /* 0 = every tier */
};

/* ---- the learner --------------------------------------------------------- */

struct router_learner; /* not thread-safe: one owner, or a lock around it */

/* Statistics of one (task_type, tier) cell. */
struct router_cell_stats {
	int64_t n;                     /* samples in the decision window */
	double quality_mean;           /* over the window; 0 when n == 0 */
	double quality_lcb;            /* Wilson lower bound at z; 0 when n == 0 */
	double quality_ucb;            /* Wilson upper bound at z; 1 when n == 0 */
	int64_t cost_mean_pusd;        /* mean cost per call over the window (floor) */
	int64_t calls;                 /* lifetime */
	int64_t cost_pusd;             /* lifetime, exact */
	double quality_sum;            /* lifetime */
	int64_t cost_per_success_pusd; /* lifetime cost / lifetime quality sum; -1 when none */
	int64_t latency_p50_ms, latency_p95_ms; /* -1 when no latency was seen */
};

/* Raw aggregates, to load a learner from stored statistics. */
struct router_cell_sums {
	int64_t n;
	double quality_sum, quality_sumsq;
	int64_t cost_pusd;
	int64_t latency_hist[ROUTER_LAT_BUCKETS]; /* counts per router_latency_bucket() */
};

#define ROUTER_REASON_MAX 768 /* bytes of a learner's reason, with its NUL */

/* The policy of one task type, or of one workflow of a task type:
 * deterministic, no PRNG. */
struct router_decision {
	char tier[ROUTER_TIER_MAX + 1]; /* recommended; "" when no tier is known at all */
	char best[ROUTER_TIER_MAX + 1]; /* best mean quality among measured tiers; "" if none */
	bool settled;                   /* the rule applied (not a default/warm-up/pin answer);
	                                   for a workflow: its own statistics decided */
	bool pinned;                    /* an override pins the task type to tier */
	bool workflow_policy;           /* workflow only: its own decision applies (it is
	                                   settled and differs from the task type's) */
	bool workflow_agrees;           /* workflow only: settled, and the same as the task
	                                   type's (whose policy applies) */
	double tolerance;               /* in force for this task type */
	char reason[ROUTER_REASON_MAX];
};

/* One route answer. */
struct router_choice {
	char tier[ROUTER_TIER_MAX + 1]; /* "" when the learner knows no tier */
	bool explore;
	char reason[ROUTER_REASON_MAX];
};

/* What a route answer for one task type (or workflow) will be, computed
 * once: the policy's tier, and the uncertain tier that a share of the
 * answers explores. A plan is plain data: once made it can be read by any
 * number of threads, and router_plan_choose() turns it into an answer. */
struct router_plan {
	char tier[ROUTER_TIER_MAX + 1]; /* the policy's; "" when the learner knows no tier */
	char reason[ROUTER_REASON_MAX];
	char explore_tier[ROUTER_TIER_MAX + 1]; /* "" = never explores (pinned, warm-up) */
	char explore_reason[ROUTER_REASON_MAX];
	double explore_share; /* a cheaper tier's share of the answers */
	/* a dearer tier explored with a share scaled by the cost ratio; answered
	 * for draws in [explore_share, explore_share + explore2_share) */
	char explore2_tier[ROUTER_TIER_MAX + 1];
	char explore2_reason[ROUTER_REASON_MAX];
	double explore2_share;
	bool settled;         /* the policy's tier was settled by the rule */
	bool pinned;          /* the task type is pinned by an override */
	bool workflow_policy; /* a workflow's plan from its own statistics */
	bool workflow_agrees; /* a workflow whose own decision is the task type's */
};

/* A new learner with a copy of p (NULL: defaults). Returns NULL with err set
 * on bad parameters or out of memory. Free with router_learner_free. */
struct router_learner *router_learner_new(const struct router_params *p, struct tally_err *err);
void router_learner_free(struct router_learner *l); /* NULL is fine */

/* Registers a tier (idempotent); returns its index or -1 (too long, no
 * memory). Tiers are ordered by registration; names are copied. */
int router_learner_add_tier(struct router_learner *l, const char *tier, struct tally_err *err);
size_t router_learner_tier_count(const struct router_learner *l);
const char *router_learner_tier_name(const struct router_learner *l, size_t i);
/* Task types seen (observed, overridden or asked about), in first-seen order. */
size_t router_learner_task_count(const struct router_learner *l);
const char *router_learner_task_name(const struct router_learner *l, size_t i);

/* Learns one result: quality in [0,1] (clamped), cost in pico-USD (>= 0),
 * latency_ms or -1. Registers unknown task types and tiers. */
int router_learner_observe(struct router_learner *l, const char *task_type, const char *tier,
                           double quality, int64_t cost_pusd, int64_t latency_ms,
                           struct tally_err *err);
/* Adds stored aggregates to a cell (as if observed one by one; the window
 * applies). */
int router_learner_add_sums(struct router_learner *l, const char *task_type, const char *tier,
                            const struct router_cell_sums *s, struct tally_err *err);
/* Learns one result of a workflow of a task type: into the task type's cell
 * (as router_learner_observe) and into the workflow's own. An empty workflow
 * is the task type alone. */
int router_learner_observe_workflow(struct router_learner *l, const char *task_type,
                                    const char *workflow, const char *tier, double quality,
                                    int64_t cost_pusd, int64_t latency_ms, struct tally_err *err);
/* Adds stored aggregates to a workflow's cell only: the task type's cells
 * get theirs from router_learner_add_sums (its statistics include the
 * workflow's), and the pooled statistics are not counted twice. */
int router_learner_add_workflow_sums(struct router_learner *l, const char *task_type,
                                     const char *workflow, const char *tier,
                                     const struct router_cell_sums *s, struct tally_err *err);
/* Sets (copies) or, with ov NULL, removes the override of a task type.
 * Fails on a tolerance outside [0,1) or too many allowed tiers. */
int router_learner_set_override(struct router_learner *l, const char *task_type,
                                const struct router_override *ov, struct tally_err *err);

/* Workflows seen (observed or loaded), in first-seen order: *task_type and
 * *workflow point into the learner (valid until it changes). false when
 * i is out of range. */
size_t router_learner_workflow_count(const struct router_learner *l);
bool router_learner_workflow_at(const struct router_learner *l, size_t i, const char **task_type,
                                const char **workflow);
/* Whether the learner has statistics for this workflow of this task type. */
bool router_learner_workflow_known(const struct router_learner *l, const char *task_type,
                                   const char *workflow);

/* The statistics of a cell; zeroes (n 0, latencies -1) for an unknown one. */
void router_learner_stats(const struct router_learner *l, const char *task_type, const char *tier,
                          struct router_cell_stats *out);
/* The same for a workflow's own cell. */
void router_learner_stats_workflow(const struct router_learner *l, const char *task_type,
                                   const char *workflow, const char *tier,
                                   struct router_cell_stats *out);
/* The policy of a task type (unknown ones get the default). Does not
 * register the task type. */
void router_learner_decide(const struct router_learner *l, const char *task_type,
                           struct router_decision *out);
/* The policy of a workflow of a task type. The workflow's own statistics
 * go through the same rule as a task type's (the task type's overrides and
 * the same default tier), and decide when they are settled, cover the task
 * type's tier (it has min_samples for the workflow too) and the task type is
 * settled and not pinned; otherwise the task type's policy applies.
 * out->workflow_policy says whether the workflow's own tier applies (it
 * differs from the task type's), out->workflow_agrees that it is settled and
 * the same; out->tier is the tier its routes get either way. */
void router_learner_decide_workflow(const struct router_learner *l, const char *task_type,
                                    const char *workflow, struct router_decision *out);
/* The plan of a task type's answers; task_type NULL (or unknown): the plan
 * of a task type the learner has never seen. */
void router_learner_plan(const struct router_learner *l, const char *task_type,
                         struct router_plan *out);
/* The plan of a workflow's answers: its own when its decision applies
 * (router_learner_decide_workflow), else the task type's with
 * workflow_agrees set when its own statistics agree. */
void router_learner_plan_workflow(const struct router_learner *l, const char *task_type,
                                  const char *workflow, struct router_plan *out);
/* The answer of a plan for a uniform draw u in [0,1): its explore tier
 * when u < explore_share, else its tier. */
void router_plan_choose(const struct router_plan *p, double u, struct router_choice *out);
/* A route answer for one request: the policy's tier, or with the
 * exploration share an uncertain allowed tier (never outside the allowed
 * tiers, never when pinned). Advances the PRNG: deterministic given the
 * seed and the sequence of calls. */
void router_learner_choose(struct router_learner *l, const char *task_type,
                           struct router_choice *out);
/* Sets the policy in force for a task type, or with a workflow (NULL or ""
 * for none) for that workflow's own entry (tier "" or NULL: none): the rule
 * keeps it while the evidence against it does not outlast noise
 * (docs/router.md, hysteresis); a workflow without an entry of its own
 * keeps its task type's. router_learner_choose sets the task type's itself
 * from each settled answer; the live router sets both from the newest
 * version. A workflow the learner has no statistics for is ignored. */
int router_learner_set_incumbent(struct router_learner *l, const char *task_type,
                                 const char *workflow, const char *tier, struct tally_err *err);
/* A route answer for a workflow of a task type (router_learner_plan_workflow),
 * as router_learner_choose. Keeps the policy in force as the live router's
 * versions do: the task type's settled tier, and the workflow's own entry
 * while its own decision applies. */
void router_learner_choose_workflow(struct router_learner *l, const char *task_type,
                                    const char *workflow, struct router_choice *out);

/* The histogram bucket of a latency in ms (0 .. ROUTER_LAT_BUCKETS-1), and
 * the upper bound in ms of a bucket (INT64_MAX for the last). */
int router_latency_bucket(int64_t latency_ms);
int64_t router_latency_bucket_max(int b);

/* Wilson score bounds of a mean in [0,1] over n samples at z. For 0/1
 * quality this is the Wilson interval; for scores in [0,1] it is
 * conservative, as their variance is at most mean x (1 - mean). */
void router_wilson(double mean, int64_t n, double z, double *lcb, double *ucb);

/* A xorshift64* generator (deterministic, not for secrets). */
struct router_rng {
	uint64_t s;
};
void router_rng_seed(struct router_rng *r, uint64_t seed);
uint64_t router_rng_next(struct router_rng *r);
/* Uniform in [0,1). */
double router_rng_unit(struct router_rng *r);

/* ---- offline evaluation (router/eval.c) --------------------------------- */

struct router_eval_line {
	int64_t cost_pusd; /* exact sum */
	double quality;    /* mean */
	int64_t items;
};

struct router_eval_result {
	struct router_eval_line router, always_best, always_cheapest, static_oracle, item_oracle;
	char best_tier[ROUTER_TIER_MAX + 1], cheapest_tier[ROUTER_TIER_MAX + 1];
	size_t n_tiers, n_task_types;
	size_t n_groups; /* (task type, workflow) pairs the static oracle chose for:
	                    n_task_types when no item carries a workflow */
};

/* Replays JSON lines (docs/router.md format) online through a learner with
 * params p: items in file order, shuffled first when shuffle is true (with
 * p->seed); the learner sees only the result of the tier it chose. Every
 * item must carry a result for every tier of the file. An item with a
 * "workflow" is routed and learned per (task type, workflow), as the live
 * router does, and the static oracle chooses per (task type, workflow). trace (may be NULL)
 * receives "item<TAB>tier" per item. Returns 0, or -1 with err naming the
 * line that is wrong. */
int router_eval(const char *text, size_t len, const struct router_params *p, bool shuffle,
                FILE *trace, struct router_eval_result *out, struct tally_err *err);

/* ---- the live router (live.c, refresh.c, snapshot.c, policy_diff.c, answers.c) */

struct router; /* the running loop and its published snapshot */

/* One route answer of the live router. */
struct router_route {
	char tier[ROUTER_TIER_MAX + 1];
	char model[EVENT_MODEL_MAX + 1]; /* the tier's most used model for the task type */
	int64_t policy_version;          /* 0 before the first version */
	bool explore;
	bool workflow_policy; /* the workflow's own policy applied (else the task type's) */
	char reason[ROUTER_REASON_MAX + 2 * ROUTER_TASK_MAX +
	            128]; /* which policy applied, and why */
};

/* Router parameters from TALLY_ROUTER_TOLERANCE, _MIN_SAMPLES, _EXPLORE,
 * _WARMUP, _DEFAULT_TIER, and the cycle interval (_INTERVAL_S, default 60)
 * and settle time (_SETTLE_S, default 300) when not NULL. Bad values are
 * logged and replaced by defaults. */
int router_params_from_env(struct router_params *p, int64_t *interval_s, int64_t *settle_s);

/* Starts the router loop over the ledger at cfg->database_url: a thread that
 * every interval (and on router_reevaluate) updates the statistics from the
 * calls ingested since its watermark, re-evaluates the policy, stores each
 * change as a version (audit log, webhook outbox), and publishes the
 * snapshot that route queries read. The first router started in a process
 * is the one router_live() returns. Copies cfg. Returns NULL with err set.
 * A ledger that is down is retried every interval, not an error here. */
struct router *router_start(const struct tally_config *cfg, struct tally_err *err);
/* Stops the loop, joins the thread, frees. NULL is fine. Stop the web server
 * (the users of router_live()) first. */
void router_stop(struct router *r);
/* The router started in this process, or NULL. Thread-safe. */
struct router *router_live(void);
/* Asks for a cycle now and waits (up to timeout_ms) until one that started
 * after the call has finished; -1 with err on timeout or when it failed. */
int router_reevaluate(struct router *r, int timeout_ms, struct tally_err *err);

/* A route answer from memory (no I/O, no lock: it never waits for a cycle):
 * the policy's tier, or an exploration. With a workflow (NULL or "" for
 * none), the workflow's own policy when it has one, else the task type's;
 * the reason says which. -1 with err (retriable) before the first cycle has
 * finished. Thread-safe. */
int router_route(struct router *r, const char *task_type, const char *workflow,
                 struct router_route *out, struct tally_err *err);
/* Appends the current policy with its statistics per task type and tier as
 * JSON (docs/router.md). Thread-safe. */
int router_policy_json(struct router *r, struct sbuf *b, struct tally_err *err);
/* Appends the over-tier spend of [from, to) as JSON (docs/router.md): per
 * task type and policy tier, what the calls on dearer tiers cost and would
 * have cost at the policy tier's cost per call. Each call is judged by the
 * policy version in force when it was made, or (version > 0) by that
 * version; the answer says which ("policy", "policy_versions"). */
struct ledger;
int router_over_tier_json(struct ledger *lg, int64_t from_us, int64_t to_us, int64_t version,
                          struct sbuf *b, struct tally_err *err);

/* One cycle without a thread (`tally router refresh`): statistics, policy,
 * a new version when it changed. policy (may be NULL) receives the policy
 * JSON of router_policy_json; *version (may be NULL) the current version. */
int router_refresh_once(const struct tally_config *cfg, int64_t settle_s, struct sbuf *policy,
                        int64_t *version, struct tally_err *err);

#endif
