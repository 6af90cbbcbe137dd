/* live.c - the live router: a thread that keeps the statistics in step with
 * the ledger, re-evaluates the policy, stores each change as a version (with
 * its audit entry and webhook), and publishes an in-memory snapshot that
 * route queries read.
 *
 * One cycle: (1) read the calls ingested since the watermark into
 * router_stats; (2) load the last ROUTER_DAYS days of statistics and the
 * overrides (a few rows per task type and tier, never the calls); (3) build a
 * fresh learner from them and decide every task type; (4) when the policy
 * differs from the newest version, store a new version; (5) swap in the new
 * snapshot.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../ledger/ledger.h"
#include "router.h"

#define ROUTER_DAYS 30

_Static_assert(ROUTER_LAT_BUCKETS == LEDGER_ROUTER_LAT_BUCKETS, "latency buckets");
_Static_assert(ROUTER_MAX_ALLOWED == LEDGER_ROUTER_MAX_ALLOWED, "allowed tiers");

struct snapshot {
	struct router_learner *l; /* route answers advance its PRNG: under snap_mu */
	int64_t version;
	int64_t built_us;
	struct router_stat_row *rows; /* by task type, tier */
	size_t n_rows;
	struct router_override_row *ovs;
	size_t n_ovs;
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

	pthread_mutex_t snap_mu;
	struct snapshot *snap;
};

static pthread_mutex_t live_mu = PTHREAD_MUTEX_INITIALIZER;
static struct router *live;

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
	free(s->ovs);
	free(s);
}

static const struct router_stat_row *find_row(const struct snapshot *s, const char *task,
                                              const char *tier)
{
	size_t lo = 0, hi = s->n_rows;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = strcmp(s->rows[mid].task_type, task);
		if (c == 0)
			c = strcmp(s->rows[mid].tier, tier);
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
	int c = strcmp(x->task_type, y->task_type);
	return c ? c : strcmp(x->tier, y->tier);
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

static struct snapshot *snapshot_build(const struct router_params *p, struct router_stat_row *rows,
                                       size_t n_rows, struct router_override_row *ovs, size_t n_ovs,
                                       struct tally_err *err)
{
	struct snapshot *s = calloc(1, sizeof *s);
	if (!s) {
		free(rows);
		free(ovs);
		tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
		return NULL;
	}
	s->rows = rows;
	s->n_rows = n_rows;
	s->ovs = ovs;
	s->n_ovs = n_ovs;
	s->built_us = time_now_us();
	qsort(s->rows, s->n_rows, sizeof *s->rows, row_cmp);
	if (!(s->l = router_learner_new(p, err)))
		goto fail;
	for (size_t i = 0; i < n_rows; i++) {
		const struct router_stat_row *r = &rows[i];
		struct router_cell_sums cs;
		memset(&cs, 0, sizeof cs);
		/* the learner's n counts quality samples; cost enters as its mean
		 * per call over the priced calls (a decision estimate, not an account) */
		cs.n = r->quality_n;
		cs.quality_sum = r->quality_sum;
		cs.quality_sumsq = r->quality_sumsq;
		if (r->priced_calls > 0)
			cs.cost_pusd = (int64_t)((double)r->cost_pusd / (double)r->priced_calls *
			                         (double)r->quality_n);
		memcpy(cs.latency_hist, r->latency_hist, sizeof cs.latency_hist);
		if (router_learner_add_sums(s->l, r->task_type, r->tier, &cs, err) < 0)
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

static void evidence_json(struct sbuf *b, const struct snapshot *s, const char *task,
                          const char *tier)
{
	struct router_cell_stats st;
	char usd[48];
	const struct router_stat_row *r = find_row(s, task, tier);
	router_learner_stats(s->l, task, tier, &st);
	sbuf_json_str(b, tier);
	sbuf_printf(b,
	            ":{\"samples\":%lld,\"quality\":%.6f,\"quality_lcb\":%.6f,"
	            "\"quality_ucb\":%.6f,\"calls_30d\":%lld,\"cost_per_call_usd\":",
	            (long long)st.n, st.quality_mean, st.quality_lcb, st.quality_ucb,
	            r ? (long long)r->calls : 0LL);
	if (row_cost_mean(r) >= 0) {
		usd_str(row_cost_mean(r), usd, sizeof usd);
		sbuf_printf(b, "\"%s\"}", usd);
	} else {
		sbuf_puts(b, "null}");
	}
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

/* Decides every task type of s; builds the policy and the changes against
 * the previous policy. Returns the number of changes. */
static size_t diff_policy(const struct snapshot *s, const cJSON *old, struct sbuf *policy,
                          struct sbuf *changes, int64_t *saving)
{
	size_t n_changes = 0, n_policy = 0;
	struct router_decision def;
	*saving = 0;
	/* a task type not in the previous policy was getting the default */
	router_learner_decide(s->l, "", &def);
	sbuf_putc(policy, '{');
	sbuf_putc(changes, '[');
	for (size_t i = 0; i < router_learner_task_count(s->l); i++) {
		const char *task = router_learner_task_name(s->l, i);
		struct router_decision d;
		router_learner_decide(s->l, task, &d);
		const char *was = old_tier_of(old, task);
		bool pinned = strncmp(d.reason, "pinned", 6) == 0, was_default = false;
		/* a task type enters the policy once it is decided (or pinned);
		 * until then it gets the default, which is no change */
		if (!d.tier[0] || (!d.settled && !pinned && !was))
			continue;
		if (!was && def.tier[0]) {
			was = def.tier;
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
		int64_t c_old = was ? row_cost_mean(find_row(s, task, was)) : -1;
		int64_t c_new = row_cost_mean(find_row(s, task, d.tier));
		int64_t sv = c_old >= 0 && c_new >= 0 ? vol * (c_old - c_new) : 0;
		char usd[48];
		*saving += sv;
		if (n_changes++)
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
		usd_str(sv, usd, sizeof usd);
		sbuf_printf(changes,
		            "},\"calls_30d\":%lld,\"projected_monthly_saving_usd\":\"%s\"}",
		            (long long)vol, usd);
	}
	sbuf_putc(policy, '}');
	sbuf_putc(changes, ']');
	return n_changes;
}

/* One cycle over an open ledger. *out receives the new snapshot. */
static int cycle(struct ledger *lg, const struct router_params *p, int64_t settle_s,
                 const char *trigger, struct snapshot **out, struct tally_err *err)
{
	int64_t bounds[ROUTER_LAT_BUCKETS], version = 0;
	struct router_stat_row *rows = NULL;
	struct router_override_row *ovs = NULL;
	size_t n_rows = 0, n_ovs = 0;
	char *old_json = NULL;
	cJSON *old = NULL;
	struct snapshot *s = NULL;
	struct sbuf policy, changes;
	int rc = -1;

	*out = NULL;
	sbuf_init(&policy);
	sbuf_init(&changes);
	for (int b = 0; b < ROUTER_LAT_BUCKETS; b++)
		bounds[b] = router_latency_bucket_max(b);
	if (ledger_router_update_stats(lg, settle_s, bounds, ROUTER_LAT_BUCKETS, NULL, err) < 0 ||
	    ledger_router_load_stats(lg, time_now_us() - INT64_C(86400000000) * ROUTER_DAYS, &rows,
	                             &n_rows, err) < 0 ||
	    ledger_router_overrides(lg, &ovs, &n_ovs, err) < 0 ||
	    ledger_router_latest(lg, &version, &old_json, err) < 0)
		goto out;
	s = snapshot_build(p, rows, n_rows, ovs, n_ovs, err);
	rows = NULL;
	ovs = NULL;
	if (!s)
		goto out;
	old = old_json ? cJSON_Parse(old_json) : NULL;
	int64_t saving = 0;
	size_t n = diff_policy(s, old, &policy, &changes, &saving);
	if (policy.oom || changes.oom) {
		tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
		goto out;
	}
	if (n > 0) {
		if (ledger_router_store_version(lg, trigger, policy.p, changes.p, saving, &version,
		                                err) < 0)
			goto out;
		log_info("router: policy version %lld (%zu task type(s) changed)",
		         (long long)version, n);
	}
	s->version = version;
	*out = s;
	s = NULL;
	rc = 0;
out:
	snapshot_free(s);
	free(rows);
	free(ovs);
	free(old_json);
	cJSON_Delete(old);
	sbuf_cleanup(&policy);
	sbuf_cleanup(&changes);
	return rc;
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
		tmp.snap = s;
		pthread_mutex_init(&tmp.snap_mu, NULL);
		rc = router_policy_json(&tmp, policy, err);
		pthread_mutex_destroy(&tmp.snap_mu);
	}
	snapshot_free(s);
	return rc;
}

/* ---- the thread ---------------------------------------------------------------------- */

static void publish(struct router *r, struct snapshot *s)
{
	pthread_mutex_lock(&r->snap_mu);
	struct snapshot *old = r->snap;
	r->snap = s;
	pthread_mutex_unlock(&r->snap_mu);
	snapshot_free(old);
}

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
		else if (!ledger_ok(lg))
			ledger_reset(lg, &err);
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
	pthread_mutex_init(&r->snap_mu, NULL);
	if (pthread_create(&r->thread, NULL, router_main, r) != 0) {
		tally_err_set(err, TALLY_EIO, false, "router: cannot start its thread");
		pthread_mutex_destroy(&r->mu);
		pthread_cond_destroy(&r->cv);
		pthread_mutex_destroy(&r->snap_mu);
		free(r);
		return NULL;
	}
	r->thread_started = true;
	pthread_mutex_lock(&live_mu);
	if (!live)
		live = r;
	pthread_mutex_unlock(&live_mu);
	return r;
}

void router_stop(struct router *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&live_mu);
	if (live == r)
		live = NULL;
	pthread_mutex_unlock(&live_mu);
	pthread_mutex_lock(&r->mu);
	r->stop = true;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	if (r->thread_started)
		pthread_join(r->thread, NULL);
	snapshot_free(r->snap);
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->snap_mu);
	free(r);
}

struct router *router_live(void)
{
	pthread_mutex_lock(&live_mu);
	struct router *r = live;
	pthread_mutex_unlock(&live_mu);
	return r;
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

int router_route(struct router *r, const char *task_type, const char *workflow,
                 struct router_route *out, struct tally_err *err)
{
	struct router_choice ch;
	(void)workflow; /* the policy is per task type (docs/router.md) */
	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&r->snap_mu);
	struct snapshot *s = r->snap;
	if (!s) {
		pthread_mutex_unlock(&r->snap_mu);
		return tally_err_set(err, TALLY_ENOTFOUND, true,
		                     "router: no policy yet (the first cycle has not finished)");
	}
	router_learner_choose(s->l, task_type, &ch);
	snprintf(out->tier, sizeof out->tier, "%s", ch.tier);
	snprintf(out->model, sizeof out->model, "%s",
	         ch.tier[0] ? model_for(s, task_type, ch.tier) : "");
	out->policy_version = s->version;
	out->explore = ch.explore;
	snprintf(out->reason, sizeof out->reason, "%s", ch.reason);
	pthread_mutex_unlock(&r->snap_mu);
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

int router_policy_json(struct router *r, struct sbuf *b, struct tally_err *err)
{
	char ts[40], usd[48];
	pthread_mutex_lock(&r->snap_mu);
	struct snapshot *s = r->snap;
	if (!s) {
		pthread_mutex_unlock(&r->snap_mu);
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
	router_learner_decide(s->l, "", &dd);
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
		sbuf_puts(b, "]}");
	}
	sbuf_puts(b, "]}\n");
	pthread_mutex_unlock(&r->snap_mu);
	return 0;
}

int router_savings_json(struct router *r, struct sbuf *b, struct tally_err *err)
{
	char a[48], u[48], v[48];
	int64_t tot_actual = 0, tot_policy = 0;
	pthread_mutex_lock(&r->snap_mu);
	struct snapshot *s = r->snap;
	if (!s) {
		pthread_mutex_unlock(&r->snap_mu);
		return tally_err_set(err, TALLY_ENOTFOUND, true, "router: no policy yet");
	}
	sbuf_printf(b, "{\"policy_version\":%lld,\"period_days\":%d,\"task_types\":[",
	            (long long)s->version, ROUTER_DAYS);
	bool first = true;
	for (size_t i = 0; i < router_learner_task_count(s->l); i++) {
		const char *task = router_learner_task_name(s->l, i);
		struct router_decision d;
		router_learner_decide(s->l, task, &d);
		int64_t pc = row_cost_mean(find_row(s, task, d.tier));
		if (!d.tier[0] || pc < 0)
			continue;
		/* over-tier spend: calls on a dearer tier than the policy's, priced
		 * at what the policy's tier costs per call */
		int64_t actual = 0, under = 0, over_calls = 0;
		for (size_t k = 0; k < s->n_rows; k++) {
			const struct router_stat_row *row = &s->rows[k];
			int64_t c = row_cost_mean(row);
			if (strcmp(row->task_type, task) != 0 || c <= pc || row->priced_calls == 0)
				continue;
			actual += row->cost_pusd;
			under += row->priced_calls * pc;
			over_calls += row->priced_calls;
		}
		if (!over_calls)
			continue;
		tot_actual += actual;
		tot_policy += under;
		money_format(actual, 12, a, sizeof a);
		money_format(under, 12, u, sizeof u);
		money_format(actual - under, 12, v, sizeof v);
		if (!first)
			sbuf_putc(b, ',');
		first = false;
		sbuf_puts(b, "{\"task_type\":");
		sbuf_json_str(b, task);
		sbuf_puts(b, ",\"policy_tier\":");
		sbuf_json_str(b, d.tier);
		sbuf_printf(b,
		            ",\"over_tier_calls\":%lld,\"over_tier_cost_usd\":\"%s\","
		            "\"under_policy_cost_usd\":\"%s\",\"saving_usd\":\"%s\"}",
		            (long long)over_calls, a, u, v);
	}
	money_format(tot_actual, 12, a, sizeof a);
	money_format(tot_policy, 12, u, sizeof u);
	money_format(tot_actual - tot_policy, 12, v, sizeof v);
	sbuf_printf(b,
	            "],\"over_tier_cost_usd\":\"%s\",\"under_policy_cost_usd\":\"%s\","
	            "\"saving_usd\":\"%s\"}\n",
	            a, u, v);
	pthread_mutex_unlock(&r->snap_mu);
	return 0;
}
