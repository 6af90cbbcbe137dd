/* live.c - the live router's thread: it runs a cycle (refresh.c) every
 * TALLY_ROUTER_INTERVAL_S seconds or when asked, publishes each new snapshot
 * (snapshot.c), and is started, stopped and kicked from here; and its
 * configuration from the environment.
 *
 * Route answers never wait for a cycle: the snapshot is immutable once
 * published and read without a lock (router_snap_enter), see answers.c.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "live_int.h"

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
		if (lg && !err.code &&
		    router_cycle(lg, &r->params, r->settle_s, trigger, &s, &err) == 0)
			router_snap_publish(r, s);
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
	router_snap_init(r, NULL);
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
	router_snapshot_free(atomic_load(&r->snap));
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
