/* live_int.h - shared between the live router's own files only (router.h
 * is the router's public header):
 *  - snapshot.c: the snapshot (the statistics, a learner built from them and
 *    the route plans) and its publication to lock-free readers;
 *  - refresh.c: one cycle: the statistics brought up to date, a snapshot
 *    built, a changed policy stored as a new version;
 *  - policy_diff.c: a snapshot's policy against the version in force, and
 *    the changes' JSON;
 *  - answers.c: what the snapshot answers: a route, the policy JSON, the
 *    savings JSON;
 *  - live.c: the thread that runs the cycles, its configuration.
 */
#ifndef TALLY_ROUTER_LIVE_INT_H
#define TALLY_ROUTER_LIVE_INT_H

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "../ledger/ledger.h"
#include "router.h"

#define ROUTER_DAYS 30 /* the statistics' horizon */

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

	/* The published snapshot, read without a lock: see router_snap_enter. */
	struct snapshot *_Atomic snap;
	atomic_uint epoch;
	atomic_long readers[2];
};

static inline int str_pair_cmp(const char *a1, const char *a2, const char *b1, const char *b2)
{
	int c = strcmp(a1, b1);
	return c ? c : strcmp(a2, b2);
}

/* ---- snapshot.c ---- */
/* Builds a snapshot from the statistics rows (sorted here), the overrides
 * and the policy in force (its tiers are the incumbents); takes ownership of
 * rows, wrows and ovs (freed on failure too). NULL with err set. */
struct snapshot *router_snapshot_build(const struct router_params *p, struct router_stat_row *rows,
                                       size_t n_rows, struct router_workflow_stat_row *wrows,
                                       size_t n_wrows, struct router_override_row *ovs,
                                       size_t n_ovs, const cJSON *in_force,
                                       const cJSON *in_force_wf, struct tally_err *err);
void router_snapshot_free(struct snapshot *s); /* NULL is fine */
/* Sets r's published snapshot to s (NULL: none) with no reader. */
void router_snap_init(struct router *r, struct snapshot *s);
/* A reader's way in and out (see snapshot.c); enter returns the published
 * snapshot or NULL, valid until leave. Never waits. */
struct snapshot *router_snap_enter(struct router *r, unsigned *half);
void router_snap_leave(struct router *r, unsigned half);
/* Publishes s and frees the snapshot it replaces once no reader holds it. */
void router_snap_publish(struct router *r, struct snapshot *s);
/* The statistics row of (task, tier), or of (task, workflow, tier); NULL when
 * none. */
const struct router_stat_row *router_snap_row(const struct snapshot *s, const char *task,
                                              const char *tier);
const struct router_workflow_stat_row *router_snap_wrow(const struct snapshot *s, const char *task,
                                                        const char *workflow, const char *tier);
/* The index of the first workflow row not before (task, workflow, tier). */
size_t router_snap_wrow_lower(const struct snapshot *s, const char *task, const char *workflow,
                              const char *tier);
/* The model a route answer names for a tier (see snapshot.c), or "". */
const char *router_snap_model(const struct snapshot *s, const char *task, const char *tier);
/* A row's mean cost per priced call in pico-USD, -1 when none. */
int64_t router_row_cost_mean(const struct router_stat_row *r);
/* The precomputed plan of (task, workflow) ("" for the task type's own). */
const struct route_entry *router_snap_route(const struct snapshot *s, const char *task,
                                            const char *workflow);

/* ---- policy_diff.c ---- */
/* Decides every task type and workflow of s; builds the policy, the
 * workflow policy and the changes against the previous version (old, oldw:
 * the JSON of the version in force, NULL when none); *n_task, *n_wf and
 * *saving receive the changes' counts and projected monthly saving. Returns
 * the number of changes, -1 when out of memory. */
int router_policy_diff(const struct snapshot *s, const cJSON *old, const cJSON *oldw,
                       struct sbuf *policy, struct sbuf *wpolicy, struct sbuf *changes, int *n_task,
                       int *n_wf, int64_t *saving);

/* ---- refresh.c ---- */
/* One cycle over an open ledger (trigger: why, for the version's record).
 * *out receives the new snapshot, its version set. */
int router_cycle(struct ledger *lg, const struct router_params *p, int64_t settle_s,
                 const char *trigger, struct snapshot **out, struct tally_err *err);

#endif
