/* demo.c - synthetic but realistic traffic for `tally up --demo`.
 *
 * Five teams run workflows; each workflow instance is an outcome (a ticket,
 * a lead, a contract, ...) worked on by a few calls of different task types,
 * then closed as a success or a failure. Applications are "lazy": they often
 * call a larger tier than the task needs, which is what the router and the
 * waste report should find. Quality depends on whether the tier is enough
 * for the task; low-quality answers are sometimes retried on the large tier.
 * Some calls get feedback later, some hit the application's cache, some
 * repeat a prompt, some fail, and about 1% of messages are malformed.
 */
#include "embedded.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../collector/collector.h"
#include "../ledger/ledger.h"

#define DEMO_TICK_US             50000
#define DEMO_ACTIVE_MAX          4096 /* outcomes in progress */
#define DEMO_DELAYED_MAX         8192 /* feedback and outcome updates waiting for their time */
#define DEMO_HOT_PROMPTS         40   /* per task type: prompts that recur */
#define DEMO_MALFORMED_PER_MILLE 10
#define DEMO_ERROR_LOG_EVERY_US  10000000

/* ---- the world ------------------------------------------------------------ */

enum tier { TIER_LOCAL, TIER_SMALL, TIER_MEDIUM, TIER_LARGE, TIERS };

static const char *const tier_names[TIERS] = {"local", "small", "medium", "large"};

struct model {
	const char *provider, *name;
	int ms_per_token; /* decoding speed, for latencies */
	int base_ms;
};

/* Model names as they appear in LiteLLM's price map (and data/local_prices.csv). */
static const struct model tier_models[TIERS][2] = {
    [TIER_LOCAL] = {{"vllm", "llama-3.1-8b-instruct", 8, 120}},
    [TIER_SMALL] = {{"openai", "gpt-4o-mini", 10, 300}},
    [TIER_MEDIUM] = {{"anthropic", "claude-haiku-4-5", 9, 450},
                     {"openai", "gpt-4.1-mini", 11, 400}},
    [TIER_LARGE] = {{"openai", "gpt-4o", 18, 800}, {"anthropic", "claude-sonnet-4-5", 22, 900}},
};
static const int tier_model_count[TIERS] = {1, 1, 2, 2};

enum task { CLASSIFY, EXTRACT, SUMMARIZE, DRAFT_REPLY, LEGAL_REVIEW, CODE_GEN, TASKS };

struct task_info {
	const char *name;
	enum tier needs; /* the cheapest tier whose answers are as good as the best */
	int in_lo, in_hi, out_lo, out_hi;
	int hot_share_pct; /* share of prompts drawn from the recurring ones */
};

static const struct task_info tasks[TASKS] = {
    [CLASSIFY] = {"classify", TIER_LOCAL, 250, 1500, 2, 40, 30},
    [EXTRACT] = {"extract", TIER_SMALL, 800, 5000, 80, 500, 10},
    [SUMMARIZE] = {"summarize", TIER_MEDIUM, 2000, 16000, 150, 700, 15},
    [DRAFT_REPLY] = {"draft-reply", TIER_MEDIUM, 800, 4000, 150, 800, 5},
    [LEGAL_REVIEW] = {"legal-review", TIER_LARGE, 6000, 60000, 400, 2500, 0},
    [CODE_GEN] = {"code-gen", TIER_LARGE, 1500, 20000, 200, 3000, 0},
};

struct workflow {
	const char *team, *name, *app;
	const char *outcome_prefix; /* NULL: ad-hoc calls without outcomes */
	const char *outcome_kind;
	const char *value_usd; /* what a success is worth, or NULL */
	enum task steps[4];
	int n_steps;
	int tier_weight[TIERS]; /* how this team's apps pick tiers */
	int share;              /* relative frequency */
};

static const struct workflow workflows[] = {
    {"support",
     "ticket-triage",
     "helpdesk",
     "TICKET",
     "ticket_resolved",
     "12.50",
     {CLASSIFY, EXTRACT, DRAFT_REPLY},
     3,
     {5, 15, 30, 50},
     30},
    {"support",
     "kb-answer",
     "helpdesk",
     "CHAT",
     "question_answered",
     "3.00",
     {CLASSIFY, SUMMARIZE},
     2,
     {10, 20, 40, 30},
     12},
    {"sales",
     "lead-qualify",
     "crm",
     "LEAD",
     "lead_qualified",
     "40.00",
     {EXTRACT, CLASSIFY, DRAFT_REPLY},
     3,
     {0, 30, 40, 30},
     15},
    {"sales",
     "call-summary",
     "crm",
     "CALL",
     "summary_sent",
     NULL,
     {SUMMARIZE},
     1,
     {0, 40, 40, 20},
     8},
    {"legal",
     "contract-review",
     "clm",
     "CONTRACT",
     "contract_reviewed",
     "250.00",
     {EXTRACT, LEGAL_REVIEW, SUMMARIZE},
     3,
     {30, 0, 20, 50},
     6},
    {"platform",
     "code-assist",
     "devtools",
     "PR",
     "pr_merged",
     "35.00",
     {CODE_GEN, SUMMARIZE, CLASSIFY},
     3,
     {10, 10, 30, 50},
     12},
    {"marketing",
     "campaign-copy",
     "cms",
     "CAMPAIGN",
     "copy_approved",
     "5.00",
     {DRAFT_REPLY, SUMMARIZE, CLASSIFY},
     3,
     {0, 30, 40, 30},
     9},
    {"marketing",
     "adhoc-chat",
     "chat",
     NULL,
     NULL,
     NULL,
     {SUMMARIZE, DRAFT_REPLY},
     2,
     {0, 10, 20, 70},
     8},
};

#define N_WORKFLOWS (sizeof workflows / sizeof workflows[0])

enum demo_topic { TOPIC_CALLS, TOPIC_OUTCOMES, TOPIC_FEEDBACK };

/* ---- state ------------------------------------------------------------------ */

struct active {
	int wf;
	char outcome_id[32];
	int step;     /* next step to run */
	bool retry;   /* the next call repeats the last step on the large tier */
	double min_q; /* the weakest step result so far */
	bool failed_call;
	int64_t next_us;
};

enum delayed_kind { DELAYED_FEEDBACK, DELAYED_REOPEN };

struct delayed {
	int64_t due_us;
	enum delayed_kind kind;
	char id[40]; /* event_id or outcome_id */
	int wf;
	double score;
};

struct demo {
	const struct tally_config *cfg;
	char topics[3][128];
	struct producer *p;
	pthread_t thread;
	atomic_bool stop;
	int rate;
	uint64_t rng;
	struct active *active;
	size_t n_active;
	struct delayed *delayed;
	size_t n_delayed;
	char hot[TASKS][DEMO_HOT_PROMPTS][33];
	int64_t outcome_seq;
	int64_t sent, send_errors, last_error_log_us;
};

/* ---- randomness: xorshift64*, seeded per run ---------------------------------- */

static uint64_t rnd(struct demo *d)
{
	d->rng ^= d->rng >> 12;
	d->rng ^= d->rng << 25;
	d->rng ^= d->rng >> 27;
	return d->rng * UINT64_C(2685821657736338717);
}

static double rnd_unit(struct demo *d)
{
	return (double)(rnd(d) >> 11) / 9007199254740992.0; /* [0, 1) */
}

static int64_t rnd_range(struct demo *d, int64_t lo, int64_t hi)
{
	return lo + (int64_t)(rnd(d) % (uint64_t)(hi - lo + 1));
}

static bool rnd_pct(struct demo *d, double pct)
{
	return rnd_unit(d) * 100.0 < pct;
}

/* Log-uniform in [lo, hi]: token counts are skewed towards the small end. */
static int64_t rnd_skewed(struct demo *d, int64_t lo, int64_t hi)
{
	return (int64_t)llround((double)lo * exp(rnd_unit(d) * log((double)hi / (double)lo)));
}

static int rnd_weighted(struct demo *d, const int *weights, int n)
{
	int total = 0, pick;

	for (int i = 0; i < n; i++)
		total += weights[i];
	pick = (int)rnd_range(d, 0, total - 1);
	for (int i = 0; i < n; i++) {
		if (pick < weights[i])
			return i;
		pick -= weights[i];
	}
	return n - 1;
}

static void rnd_hex(struct demo *d, char *out, size_t digits)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < digits; i++)
		out[i] = hex[rnd(d) & 15];
	out[digits] = '\0';
}

/* A version-4 UUID. */
static void rnd_uuid(struct demo *d, char out[37])
{
	uint64_t a = rnd(d), b = rnd(d);

	snprintf(out, 37, "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(a >> 32),
	         (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xfff,
	         (unsigned)((b >> 48) & 0x3fff) | 0x8000,
	         (unsigned long long)(b & UINT64_C(0xffffffffffff)));
}

static double clamp01(double x)
{
	return x < 0 ? 0 : x > 1 ? 1 : x;
}

static double round2(double x)
{
	return round(x * 100.0) / 100.0;
}

/* ---- sending ------------------------------------------------------------------- */

static void send_json(struct demo *d, int topic, const char *key, cJSON *root)
{
	struct tally_err err = {0};
	char *text = cJSON_PrintUnformatted(root);

	if (!text)
		return;
	if (producer_send(d->p, d->topics[topic], key, key ? strlen(key) : 0, text, strlen(text),
	                  &err) == 0) {
		d->sent++;
	} else {
		int64_t now = time_mono_us();
		d->send_errors++;
		if (now - d->last_error_log_us > DEMO_ERROR_LOG_EVERY_US) {
			d->last_error_log_us = now;
			log_warn("demo: %s (%lld messages not sent so far)", err.msg,
			         (long long)d->send_errors);
		}
	}
	cJSON_free(text);
}

static void add_now(cJSON *o)
{
	char ts[40];

	time_format(time_now_us(), ts);
	cJSON_AddStringToObject(o, "ts", ts);
}

static void schedule(struct demo *d, const struct delayed *x)
{
	if (d->n_delayed < DEMO_DELAYED_MAX)
		d->delayed[d->n_delayed++] = *x;
}

/* ---- calls ----------------------------------------------------------------------- */

/* The quality a tier reaches on a task: as good as the best when the tier is
 * enough, clearly worse for each tier short of it. */
static double call_quality(struct demo *d, enum task t, enum tier tier)
{
	int gap = (int)tasks[t].needs - (int)tier;
	double q = gap <= 0 ? 0.90 + 0.01 * (double)-gap : 0.90 - 0.15 * gap;

	return clamp01(q + (rnd_unit(d) - 0.5) * (gap <= 0 ? 0.08 : 0.16));
}

/* The usage object in one of the three accepted shapes. */
static void add_usage(struct demo *d, cJSON *call, const struct model *m, int64_t in, int64_t out,
                      int64_t cache_read, int64_t cache_write)
{
	cJSON *u = cJSON_AddObjectToObject(call, "usage");
	int shape = (int)rnd_range(d, 0, 9);

	if (strcmp(m->provider, "openai") == 0 && shape < 5) {
		cJSON_AddNumberToObject(u, "prompt_tokens", (double)in);
		cJSON_AddNumberToObject(u, "completion_tokens", (double)out);
		cJSON_AddNumberToObject(u, "total_tokens", (double)(in + out));
		cJSON *pd = cJSON_AddObjectToObject(u, "prompt_tokens_details");
		cJSON_AddNumberToObject(pd, "cached_tokens", (double)cache_read);
		cJSON *cd = cJSON_AddObjectToObject(u, "completion_tokens_details");
		cJSON_AddNumberToObject(cd, "reasoning_tokens", 0);
	} else if (strcmp(m->provider, "anthropic") == 0 && shape < 5) {
		/* Anthropic counts cached input apart from input_tokens. */
		cJSON_AddNumberToObject(u, "input_tokens", (double)(in - cache_read - cache_write));
		cJSON_AddNumberToObject(u, "cache_creation_input_tokens", (double)cache_write);
		cJSON_AddNumberToObject(u, "cache_read_input_tokens", (double)cache_read);
		cJSON_AddNumberToObject(u, "output_tokens", (double)out);
	} else {
		cJSON_AddNumberToObject(u, "input_tokens", (double)in);
		cJSON_AddNumberToObject(u, "output_tokens", (double)out);
		cJSON_AddNumberToObject(u, "cache_read_tokens", (double)cache_read);
		cJSON_AddNumberToObject(u, "cache_write_tokens", (double)cache_write);
		cJSON_AddNumberToObject(u, "reasoning_tokens", 0);
	}
}

/* Corrupts an event in one of the ways real producers do; the collector
 * must quarantine it. Returns the text to send (malloc'd). */
static char *malformed(struct demo *d, cJSON *call)
{
	cJSON *usage = cJSON_GetObjectItem(call, "usage");
	/* The token counts under the names of the usage shape in use. */
	bool openai = cJSON_HasObjectItem(usage, "prompt_tokens");
	const char *in_key = openai ? "prompt_tokens" : "input_tokens";
	const char *out_key = openai ? "completion_tokens" : "output_tokens";
	char *text;

	switch (rnd_range(d, 0, 5)) {
	case 0: /* cut short, as by a crashed writer */
		text = cJSON_PrintUnformatted(call);
		if (text)
			text[strlen(text) / 2] = '\0';
		return text;
	case 1: cJSON_DeleteItemFromObject(call, "team"); break;
	case 2: cJSON_ReplaceItemInObject(usage, in_key, cJSON_CreateNumber(-5)); break;
	case 3:
		cJSON_ReplaceItemInObject(call, "ts", cJSON_CreateString("yesterday at noon"));
		break;
	case 4: cJSON_ReplaceItemInObject(usage, out_key, cJSON_CreateString("many")); break;
	default: return strdup("upstream gateway error: 502 Bad Gateway (not JSON)");
	}
	return cJSON_PrintUnformatted(call);
}

/* Emits one call; returns its quality (-1 for a failed call). */
static double emit_call(struct demo *d, int wf_i, const char *outcome_id, enum task t,
                        bool escalate)
{
	const struct workflow *wf = &workflows[wf_i];
	const struct task_info *ti = &tasks[t];
	enum tier tier = escalate ? TIER_LARGE : (enum tier)rnd_weighted(d, wf->tier_weight, TIERS);
	const struct model *m = &tier_models[tier][rnd_range(d, 0, tier_model_count[tier] - 1)];
	char event_id[37], hash[33];
	bool hot = rnd_pct(d, ti->hot_share_pct);
	bool cache_hit = hot && rnd_pct(d, 35);
	int64_t in = rnd_skewed(d, ti->in_lo, ti->in_hi);
	int64_t out = rnd_skewed(d, ti->out_lo, ti->out_hi);
	int64_t cache_read = 0, cache_write = 0, latency;
	const char *status = "ok";
	double q = call_quality(d, t, tier);

	rnd_uuid(d, event_id);
	if (hot)
		memcpy(hash, d->hot[t][rnd_range(d, 0, DEMO_HOT_PROMPTS - 1)], sizeof hash);
	else
		rnd_hex(d, hash, 32);
	/* Rare long documents: above Claude's 200k-token long-context threshold. */
	if (t == LEGAL_REVIEW && strcmp(m->name, "claude-sonnet-4-5") == 0 && rnd_pct(d, 3))
		in = rnd_range(d, 205000, 260000);
	/* Provider-side prompt caching of long shared prefixes (system prompts). */
	if (tier != TIER_LOCAL && in >= 1024 && rnd_pct(d, 30))
		cache_read = (in * rnd_range(d, 40, 90) / 100) / 128 * 128;
	else if (strcmp(m->provider, "anthropic") == 0 && in >= 1024 && rnd_pct(d, 10))
		cache_write = in * rnd_range(d, 50, 80) / 100;
	latency = m->base_ms + out * m->ms_per_token * rnd_range(d, 80, 140) / 100;
	if (!cache_hit) {
		int r = (int)rnd_range(d, 0, 999);
		if (r < 20) {
			status = "error";
			out = 0;
			latency = rnd_range(d, 50, 900);
		} else if (r < 28) {
			status = "timeout";
			out = 0;
			latency = 30000;
		} else if (r < 31) {
			status = "cancelled";
			out /= 3;
			latency /= 3;
		}
	} else {
		latency = rnd_range(d, 3, 40);
	}

	cJSON *call = cJSON_CreateObject();
	cJSON_AddStringToObject(call, "event_id", event_id);
	add_now(call);
	cJSON_AddStringToObject(call, "team", wf->team);
	cJSON_AddStringToObject(call, "workflow", wf->name);
	cJSON_AddStringToObject(call, "task_type", ti->name);
	if (outcome_id)
		cJSON_AddStringToObject(call, "outcome_id", outcome_id);
	cJSON_AddStringToObject(call, "provider", m->provider);
	cJSON_AddStringToObject(call, "model", m->name);
	cJSON_AddStringToObject(call, "tier", tier_names[tier]);
	add_usage(d, call, m, in, out, cache_read, cache_write);
	/* Sales summaries are not urgent: some go through the batch APIs. */
	bool batch = t == SUMMARIZE && strcmp(wf->team, "sales") == 0 && tier != TIER_LOCAL &&
	             !cache_hit && rnd_pct(d, 30);
	cJSON_AddBoolToObject(call, "batch", batch);
	if (!batch)
		cJSON_AddNumberToObject(call, "latency_ms", (double)latency);
	cJSON_AddStringToObject(call, "status", status);
	cJSON_AddBoolToObject(call, "cache_hit", cache_hit);
	cJSON_AddBoolToObject(call, "local", tier == TIER_LOCAL);
	cJSON_AddStringToObject(call, "prompt_hash", hash);
	bool ok = strcmp(status, "ok") == 0;
	if (ok && rnd_pct(d, 70))
		cJSON_AddNumberToObject(call, "quality", round2(q));
	cJSON *tags = cJSON_AddObjectToObject(call, "tags");
	cJSON_AddStringToObject(tags, "env", "prod");
	cJSON_AddStringToObject(tags, "app", wf->app);
	cJSON_AddStringToObject(tags, "region", rnd_pct(d, 60) ? "eu-west-1" : "us-east-1");
	/* What a gateway carries (docs/integrations.md), without drawing on the
	 * random sequence: a key alias per app, an end user from the event id. */
	char key_alias[96], user[32];
	snprintf(key_alias, sizeof key_alias, "%s-svc", wf->app);
	snprintf(user, sizeof user, "customer-%c", event_id[strlen(event_id) - 1]);
	cJSON_AddStringToObject(tags, "api_key", key_alias);
	cJSON_AddStringToObject(tags, "user", user);

	if (rnd_range(d, 0, 999) < DEMO_MALFORMED_PER_MILLE) {
		char *bad = malformed(d, call);
		struct tally_err err = {0};
		if (bad && producer_send(d->p, d->topics[TOPIC_CALLS], event_id, strlen(event_id),
		                         bad, strlen(bad), &err) == 0)
			d->sent++;
		free(bad);
		cJSON_Delete(call);
		return -1;
	}
	send_json(d, TOPIC_CALLS, event_id, call);
	cJSON_Delete(call);

	if (ok && rnd_pct(d, 12)) {
		struct delayed fb = {.due_us = time_mono_us() + rnd_range(d, 2, 30) * 1000000,
		                     .kind = DELAYED_FEEDBACK};
		memcpy(fb.id, event_id, sizeof event_id);
		fb.score = q;
		schedule(d, &fb);
	}
	return ok ? q : -1;
}

/* ---- feedback and outcomes ---------------------------------------------------------- */

static void emit_feedback(struct demo *d, const struct delayed *x)
{
	static const char *const sources[] = {"human", "eval", "auto"};
	int src = (int)rnd_range(d, 0, 2);
	double score;
	cJSON *fb = cJSON_CreateObject();

	if (src == 0) /* people give thumbs up or down */
		score = rnd_unit(d) < x->score ? 1.0 : 0.0;
	else
		score = round2(clamp01(x->score + (rnd_unit(d) - 0.5) * (src == 1 ? 0.1 : 0.2)));
	cJSON_AddStringToObject(fb, "event_id", x->id);
	add_now(fb);
	cJSON_AddNumberToObject(fb, "score", score);
	cJSON_AddStringToObject(fb, "source", sources[src]);
	send_json(d, TOPIC_FEEDBACK, x->id, fb);
	cJSON_Delete(fb);
}

static void emit_outcome(struct demo *d, int wf_i, const char *outcome_id, bool success)
{
	const struct workflow *wf = &workflows[wf_i];
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "outcome_id", outcome_id);
	add_now(o);
	cJSON_AddStringToObject(o, "team", wf->team);
	cJSON_AddStringToObject(o, "workflow", wf->name);
	cJSON_AddStringToObject(o, "kind", wf->outcome_kind);
	cJSON_AddBoolToObject(o, "success", success);
	if (success && wf->value_usd)
		cJSON_AddStringToObject(o, "value_usd", wf->value_usd);
	send_json(d, TOPIC_OUTCOMES, outcome_id, o);
	cJSON_Delete(o);
}

/* The next event of an outcome in progress: a call, or its result once every
 * step is done. Returns false when the outcome is finished. */
static bool advance(struct demo *d, struct active *a)
{
	const struct workflow *wf = &workflows[a->wf];

	if (a->step >= wf->n_steps) {
		/* A weak or failed step makes the business result likely to fail. */
		double p = a->failed_call ? 0.35 : pow(a->min_q, 1.5);
		bool success = rnd_unit(d) < p;
		emit_outcome(d, a->wf, a->outcome_id, success);
		if (success && rnd_pct(d, 3)) { /* reopened later: the update wins */
			struct delayed r = {.kind = DELAYED_REOPEN, .wf = a->wf};
			r.due_us = time_mono_us() + rnd_range(d, 10, 60) * 1000000;
			str_copy(r.id, sizeof r.id, a->outcome_id);
			schedule(d, &r);
		}
		return false;
	}
	enum task t = wf->steps[a->step];
	double q = emit_call(d, a->wf, a->outcome_id, t, a->retry);
	if (q < 0 && rnd_pct(d, 50)) {
		a->failed_call = true;
		a->retry = false;
		a->step++;
	} else if (q >= 0 && q < 0.7 && !a->retry && rnd_pct(d, 50)) {
		a->retry = true; /* escalate the same step to the flagship */
	} else {
		if (q >= 0 && q < a->min_q)
			a->min_q = q;
		a->retry = false;
		a->step++;
	}
	a->next_us = time_mono_us() + rnd_range(d, 200, 3000) * 1000;
	return true;
}

static int pick_workflow(struct demo *d)
{
	int weights[N_WORKFLOWS];

	for (size_t i = 0; i < N_WORKFLOWS; i++)
		weights[i] = workflows[i].share;
	return rnd_weighted(d, weights, (int)N_WORKFLOWS);
}

/* Emits exactly one event: something due, else new work. */
static void emit_one(struct demo *d, int64_t now)
{
	for (size_t i = 0; i < d->n_delayed; i++) {
		struct delayed *x = &d->delayed[i];
		if (x->due_us > now)
			continue;
		if (x->kind == DELAYED_FEEDBACK)
			emit_feedback(d, x);
		else
			emit_outcome(d, x->wf, x->id, false);
		d->delayed[i] = d->delayed[--d->n_delayed];
		return;
	}
	for (size_t i = 0; i < d->n_active; i++) {
		struct active *a = &d->active[i];
		if (a->next_us > now)
			continue;
		if (!advance(d, a))
			d->active[i] = d->active[--d->n_active];
		return;
	}
	int wf = pick_workflow(d);
	if (!workflows[wf].outcome_prefix || d->n_active >= DEMO_ACTIVE_MAX) {
		const struct workflow *w = &workflows[wf];
		emit_call(d, wf, NULL, w->steps[rnd_range(d, 0, w->n_steps - 1)], false);
		return;
	}
	struct active *a = &d->active[d->n_active++];
	memset(a, 0, sizeof *a);
	a->wf = wf;
	a->min_q = 1.0;
	snprintf(a->outcome_id, sizeof a->outcome_id, "%s-%lld", workflows[wf].outcome_prefix,
	         (long long)d->outcome_seq++);
	advance(d, a);
}

static void *demo_main(void *arg)
{
	struct demo *d = arg;
	int64_t last = time_mono_us();
	double budget = 0;

	while (!atomic_load(&d->stop)) {
		struct timespec ts = {0, DEMO_TICK_US * 1000L};
		nanosleep(&ts, NULL);
		int64_t now = time_mono_us();
		budget += (double)d->rate * (double)(now - last) / 1e6;
		last = now;
		if (budget > d->rate) /* after a stall, do not burst more than a second's worth */
			budget = d->rate;
		for (; budget >= 1 && !atomic_load(&d->stop); budget -= 1)
			emit_one(d, now);
	}
	return NULL;
}

/* ---- the public interface -------------------------------------------------------------- */

/* Opens a producer and starts the traffic thread; stop it with demo_stop. */
struct demo *demo_start(const struct tally_config *cfg, const char *brokers, int events_per_sec,
                        struct tally_err *err)
{
	struct demo *d;

	if (events_per_sec < 1) {
		tally_err_set(err, TALLY_EINVAL, false,
		              "demo rate must be at least 1 event/s, got %d", events_per_sec);
		return NULL;
	}
	if (!(d = calloc(1, sizeof *d)) ||
	    !(d->active = calloc(DEMO_ACTIVE_MAX, sizeof *d->active)) ||
	    !(d->delayed = calloc(DEMO_DELAYED_MAX, sizeof *d->delayed))) {
		tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
		goto fail;
	}
	d->cfg = cfg;
	d->rate = events_per_sec;
	str_copy(d->topics[TOPIC_CALLS], sizeof d->topics[0], cfg->topic_calls);
	str_copy(d->topics[TOPIC_OUTCOMES], sizeof d->topics[0], cfg->topic_outcomes);
	str_copy(d->topics[TOPIC_FEEDBACK], sizeof d->topics[0], cfg->topic_feedback);
	d->rng = (uint64_t)time_now_us() ^ ((uint64_t)getpid() << 32);
	d->rng ^= UINT64_C(0x9e3779b97f4a7c15);
	if (!d->rng)
		d->rng = 1;
	for (int t = 0; t < TASKS; t++)
		for (int i = 0; i < DEMO_HOT_PROMPTS; i++)
			rnd_hex(d, d->hot[t][i], 32);
	/* Outcome numbers grow across runs, so a restart does not reuse old ones. */
	d->outcome_seq = (time_now_us() / 1000000 - INT64_C(1700000000)) * 100;
	if (!(d->p = producer_open(brokers, err)))
		goto fail;
	atomic_init(&d->stop, false);
	if (pthread_create(&d->thread, NULL, demo_main, d) != 0) {
		tally_err_set(err, TALLY_EIO, false, "cannot start the demo thread");
		goto fail;
	}
	return d;
fail:
	if (d) {
		producer_close(d->p);
		free(d->active);
		free(d->delayed);
		free(d);
	}
	return NULL;
}

/* Stops the thread, delivers what is queued (up to 10 s) and frees d. */
void demo_stop(struct demo *d)
{
	int64_t delivered, failed;

	if (!d)
		return;
	atomic_store(&d->stop, true);
	pthread_join(d->thread, NULL);
	producer_flush(d->p, 10000, NULL);
	producer_counts(d->p, &delivered, &failed);
	log_info("demo: %lld messages produced, %lld delivered, %lld failed", (long long)d->sent,
	         (long long)delivered, (long long)failed);
	producer_close(d->p);
	free(d->active);
	free(d->delayed);
	free(d);
}

/* ---- history ----------------------------------------------------------------------------- */

/* The demo's past, written straight into the ledger through its batch path
 * (COPY, rollups in the same transaction), so that a first start shows
 * months of data: a weekly rhythm (quiet weekends, busy afternoons), steady
 * growth, a model launch (claude-haiku-4-5 joins the medium tier
 * DEMO_LAUNCH_DAYS ago), a price change (set by the caller: the self-hosted
 * model gets cheaper DEMO_PRICE_CHANGE_DAYS ago), an incident (three hours
 * of failing Anthropic calls DEMO_INCIDENT_DAYS ago) and a routing policy
 * (from DEMO_ROUTER_DAYS ago support's and marketing's easy steps go to the
 * tier they need instead of the one the app asks for, tagged
 * "router":"policy"). Outcomes close each workflow instance. */
#define DEMO_HISTORY_BATCH   20000 /* calls per transaction */
#define DEMO_HISTORY_PER_DAY 1600  /* workflow instances on a weekday, at the end */
#define DEMO_LAUNCH_DAYS     48
#define DEMO_INCIDENT_DAYS   12
#define DEMO_ROUTER_DAYS     27

static const int hour_weight[24] = {2,  1,  1,  1,  2,  3,  5, 9, 13, 15, 15, 14,
                                    12, 14, 15, 15, 13, 10, 7, 5, 4,  3,  3,  2};

struct history {
	struct demo d; /* randomness and hot prompts only */
	const struct pricebook *pb;
	struct ledger *lg;
	struct ledger_batch b;
	int64_t calls, outcomes, cost_pusd;
	int64_t now_us, week0_us, today0_us;
	unsigned flushes;
	int64_t week_pusd[N_WORKFLOWS];
};

static int history_flush(struct history *h, struct tally_err *err)
{
	struct ledger_batch_result res;

	if (h->b.n_calls == 0 && h->b.n_outcomes == 0)
		return 0;
	const struct ledger_source src = {.group = "tally-demo-history", .cluster_id = ""};

	if (ledger_write_batch(h->lg, &src, &h->b, &res, err) < 0)
		return -1;
	ledger_batch_reset(&h->b);
	/* The first batches and then every few: fresh statistics keep the
	 * batch path's event_id probe on the index. */
	h->flushes++;
	if ((h->flushes & (h->flushes - 1)) == 0 || h->flushes % 8 == 0)
		return ledger_analyze_calls(h->lg, err);
	return 0;
}

/* One historical call of a workflow step at ts; returns its quality or -1. */
static double history_call(struct history *h, int wf_i, const char *outcome_id, enum task t,
                           bool escalate, int64_t ts_us, int day_ago, bool incident,
                           struct tally_err *err)
{
	struct demo *d = &h->d;
	const struct workflow *wf = &workflows[wf_i];
	const struct task_info *ti = &tasks[t];
	enum tier tier = escalate ? TIER_LARGE : (enum tier)rnd_weighted(d, wf->tier_weight, TIERS);
	bool routed = false;

	/* The routing policy: easy steps of support and marketing go to the tier
	 * they need. */
	if (!escalate && day_ago < DEMO_ROUTER_DAYS && ti->needs <= TIER_SMALL &&
	    tier > ti->needs &&
	    (strcmp(wf->team, "support") == 0 || strcmp(wf->team, "marketing") == 0) &&
	    rnd_pct(d, 85)) {
		tier = ti->needs;
		routed = true;
	}
	int n_models = tier_model_count[tier];
	/* Before its launch, claude-haiku-4-5 (the medium tier's first) is not used. */
	int mi = (tier == TIER_MEDIUM && day_ago >= DEMO_LAUNCH_DAYS)
	             ? 1
	             : (int)rnd_range(d, 0, n_models - 1);
	const struct model *m = &tier_models[tier][mi];
	struct call_row *row = ledger_batch_add_call(&h->b);
	if (!row) {
		tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
		return -2;
	}
	struct call_event *ev = &row->ev;
	double q = call_quality(d, t, tier);
	bool hot = rnd_pct(d, ti->hot_share_pct);

	rnd_uuid(d, ev->event_id);
	ev->ts_us = ts_us;
	str_copy(ev->team, sizeof ev->team, wf->team);
	str_copy(ev->workflow, sizeof ev->workflow, wf->name);
	str_copy(ev->task_type, sizeof ev->task_type, ti->name);
	if (outcome_id)
		str_copy(ev->outcome_id, sizeof ev->outcome_id, outcome_id);
	str_copy(ev->provider, sizeof ev->provider, m->provider);
	str_copy(ev->model, sizeof ev->model, m->name);
	str_copy(ev->tier, sizeof ev->tier, tier_names[tier]);
	ev->input_tokens = rnd_skewed(d, ti->in_lo, ti->in_hi);
	ev->output_tokens = rnd_skewed(d, ti->out_lo, ti->out_hi);
	ev->cache_hit = hot && rnd_pct(d, 35);
	if (tier != TIER_LOCAL && ev->input_tokens >= 1024 && rnd_pct(d, 30))
		ev->cache_read_tokens = (ev->input_tokens * rnd_range(d, 40, 90) / 100) / 128 * 128;
	ev->usage_shape = USAGE_TALLY;
	ev->local = tier == TIER_LOCAL;
	ev->batch = t == SUMMARIZE && strcmp(wf->team, "sales") == 0 && tier != TIER_LOCAL &&
	            !ev->cache_hit && rnd_pct(d, 30);
	ev->latency_ms = ev->batch
	                     ? -1
	                     : (ev->cache_hit ? rnd_range(d, 3, 40)
	                                      : m->base_ms + ev->output_tokens * m->ms_per_token *
	                                                         rnd_range(d, 80, 140) / 100);
	ev->status = CALL_OK;
	int r = (int)rnd_range(d, 0, 999);
	if (!ev->cache_hit &&
	    (r < 20 || (incident && strcmp(m->provider, "anthropic") == 0 && rnd_pct(d, 55)))) {
		ev->status = rnd_pct(d, 60) ? CALL_ERROR : CALL_TIMEOUT;
		ev->output_tokens = 0;
		ev->latency_ms = ev->status == CALL_TIMEOUT ? 30000 : rnd_range(d, 50, 900);
	}
	if (hot)
		memcpy(ev->prompt_hash, d->hot[t][rnd_range(d, 0, DEMO_HOT_PROMPTS - 1)], 33);
	else
		rnd_hex(d, ev->prompt_hash, 32);
	if (ev->status == CALL_OK && rnd_pct(d, 70)) {
		ev->has_quality = true;
		ev->quality = round2(q);
	}
	snprintf(ev->tags, sizeof ev->tags, "{\"env\":\"prod\",\"app\":\"%s\",\"region\":\"%s\"%s}",
	         wf->app, rnd_pct(d, 60) ? "eu-west-1" : "us-east-1",
	         routed ? ",\"router\":\"policy\"" : "");

	row->pos.topic = "demo-history";
	row->pos.partition = -1;
	ledger_price_row(row, h->pb); /* priced as the collector prices */
	if (row->priced) {
		h->cost_pusd += row->cost_pusd;
		if (ts_us >= h->week0_us && ts_us < h->today0_us)
			h->week_pusd[wf_i] += row->cost_pusd;
	}
	h->calls++;
	return ev->status == CALL_OK ? q : -1;
}

/* One workflow instance starting at ts: its calls, then its outcome. */
static int history_instance(struct history *h, int wf_i, int64_t ts_us, int day_ago, bool incident,
                            struct tally_err *err)
{
	struct demo *d = &h->d;
	const struct workflow *wf = &workflows[wf_i];
	char oid[32];
	double min_q = 1.0;
	bool failed = false;

	if (!wf->outcome_prefix) {
		enum task t = wf->steps[rnd_range(d, 0, wf->n_steps - 1)];
		return history_call(h, wf_i, NULL, t, false, ts_us, day_ago, incident, err) < -1
		           ? -1
		           : 0;
	}
	snprintf(oid, sizeof oid, "%s-H%lld", wf->outcome_prefix, (long long)d->outcome_seq++);
	for (int s = 0; s < wf->n_steps; s++) {
		double q =
		    history_call(h, wf_i, oid, wf->steps[s], false, ts_us, day_ago, incident, err);
		if (q < -1)
			return -1;
		ts_us += rnd_range(d, 200, 3000) * 1000;
		if (q >= 0 && q < 0.7 && rnd_pct(d, 50)) { /* escalated to the flagship */
			q = history_call(h, wf_i, oid, wf->steps[s], true, ts_us, day_ago, incident,
			                 err);
			if (q < -1)
				return -1;
			ts_us += rnd_range(d, 200, 3000) * 1000;
		}
		if (q < 0)
			failed = true;
		else if (q < min_q)
			min_q = q;
	}
	if (ts_us >= h->now_us)
		return 0;
	struct outcome_row *o = ledger_batch_add_outcome(&h->b);
	if (!o)
		return tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
	o->pos.topic = "demo-history";
	o->pos.partition = -1;
	str_copy(o->ev.outcome_id, sizeof o->ev.outcome_id, oid);
	o->ev.ts_us = ts_us;
	str_copy(o->ev.team, sizeof o->ev.team, wf->team);
	str_copy(o->ev.workflow, sizeof o->ev.workflow, wf->name);
	str_copy(o->ev.kind, sizeof o->ev.kind, wf->outcome_kind);
	o->ev.success = rnd_unit(d) < (failed ? 0.35 : pow(min_q, 1.5));
	if (o->ev.success && wf->value_usd) {
		/* "12.50" -> pico-USD, exactly */
		int64_t whole = 0, cents = 0;
		sscanf(wf->value_usd, "%" SCNd64 ".%" SCNd64, &whole, &cents);
		o->ev.has_value = true;
		o->ev.value_pusd = (whole * 100 + cents) * INT64_C(10000000000);
	}
	h->outcomes++;
	return 0;
}

int demo_load_history(const char *database_url, int days, demo_progress_fn progress, void *ctx,
                      struct demo_history_result *out, struct tally_err *err)
{
	struct history *h = calloc(1, sizeof *h);
	struct pricebook *pb = NULL;
	int rc = -1;

	if (!h)
		return tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
	ledger_batch_init(&h->b);
	h->now_us = time_now_us();
	h->d.rng = UINT64_C(0x9e3779b97f4a7c15) ^ (uint64_t)(h->now_us / 86400000000LL);
	for (int t = 0; t < TASKS; t++)
		for (int i = 0; i < DEMO_HOT_PROMPTS; i++)
			rnd_hex(&h->d, h->d.hot[t][i], 32);
	if (!(h->lg = ledger_open(database_url, err)) || ledger_bulk_load_begin(h->lg, err) < 0 ||
	    !(pb = ledger_load_pricebook(h->lg, err)))
		goto out;
	h->pb = pb;
	int64_t day_us = INT64_C(86400000000);
	int64_t today0 = h->now_us / day_us * day_us;
	h->today0_us = today0;
	h->week0_us = today0 - 7 * day_us;
	int wf_weights[N_WORKFLOWS];
	for (size_t i = 0; i < N_WORKFLOWS; i++)
		wf_weights[i] = workflows[i].share;
	for (int ago = days; ago >= 0; ago--) {
		int64_t day0 = today0 - (int64_t)ago * day_us;
		int wday =
		    (int)((day0 / day_us + 4) % 7); /* 1970-01-01 was a Thursday: 0 = Sunday */
		double weekday = wday == 0 ? 0.25 : wday == 6 ? 0.35 : 1.0;
		/* Growth: from 45% of today's volume at the start to 100%. */
		double growth = 0.45 + 0.55 * (double)(days - ago) / (double)days;
		int n =
		    (int)(DEMO_HISTORY_PER_DAY * weekday * growth * (0.9 + 0.2 * rnd_unit(&h->d)));
		for (int i = 0; i < n; i++) {
			int hour = rnd_weighted(&h->d, hour_weight, 24);
			int64_t ts =
			    day0 + (int64_t)hour * 3600000000LL + rnd_range(&h->d, 0, 3599999999LL);
			if (ts >= h->now_us - INT64_C(60000000))
				continue; /* the live traffic takes over from here */
			bool incident = ago == DEMO_INCIDENT_DAYS && hour >= 14 && hour < 17;
			int wf = rnd_weighted(&h->d, wf_weights, (int)N_WORKFLOWS);
			if (history_instance(h, wf, ts, ago, incident, err) < 0)
				goto out;
			if (h->b.n_calls >= DEMO_HISTORY_BATCH && history_flush(h, err) < 0)
				goto out;
		}
		if (progress)
			progress(ctx, days - ago + 1, days + 1, h->calls);
	}
	if (history_flush(h, err) < 0)
		goto out;
	if (out) {
		out->calls = h->calls;
		out->outcomes = h->outcomes;
		out->cost_pusd = h->cost_pusd;
		out->n_workflows =
		    N_WORKFLOWS < DEMO_WORKFLOWS_MAX ? N_WORKFLOWS : DEMO_WORKFLOWS_MAX;
		for (size_t i = 0; i < out->n_workflows; i++) {
			out->team[i] = workflows[i].team;
			out->workflow[i] = workflows[i].name;
			out->week_pusd[i] = h->week_pusd[i];
		}
	}
	rc = 0;
out:
	ledger_batch_cleanup(&h->b);
	pricebook_free(pb);
	ledger_close(h->lg);
	free(h);
	return rc;
}
