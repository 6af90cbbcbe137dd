/* refresh.c - one cycle of the live router: (1) read the calls ingested
 * since the watermark into router_stats and router_workflow_stats; (2) load
 * the last ROUTER_DAYS days of statistics and the overrides (a few rows per
 * task type, workflow and tier, never the calls); (3) build a fresh snapshot
 * from them (learner, decisions, route plans); (4) when the policy differs
 * from the newest version, store a new version (with its audit entry and
 * webhook). The caller publishes the snapshot. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "live_int.h"

/* One cycle over an open ledger. *out receives the new snapshot. */
int router_cycle(struct ledger *lg, const struct router_params *p, int64_t settle_s,
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
	s = router_snapshot_build(p, rows, n_rows, wrows, n_wrows, ovs, n_ovs, old, oldw, err);
	rows = NULL;
	wrows = NULL;
	ovs = NULL;
	if (!s)
		goto out;
	int n =
	    router_policy_diff(s, old, oldw, &policy, &wpolicy, &changes, &n_task, &n_wf, &saving);
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
	router_snapshot_free(s);
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
	int rc = router_cycle(lg, &tmp.params, settle_s, "on demand", &s, err);
	ledger_close(lg);
	if (rc < 0)
		return -1;
	if (version)
		*version = s->version;
	if (policy) {
		/* the same JSON as the API, from a router that has no thread */
		router_snap_init(&tmp, s);
		rc = router_policy_json(&tmp, policy, err);
	}
	router_snapshot_free(s);
	return rc;
}
