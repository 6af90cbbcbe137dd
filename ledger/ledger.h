/* ledger.h - the PostgreSQL ledger: schema, batch writes, prices, reads.
 *
 * Every SQL statement that touches a ledger table lives in ledger/, in the
 * file of what it reads or writes (each section below names it), beside the
 * function that decodes its rows. Money is integer pico-USD (1e-12 USD) in C
 * and bigint/numeric in SQL.
 */
#ifndef TALLY_LEDGER_H
#define TALLY_LEDGER_H

#include "../common/common.h"
#include "../common/event.h"

/* ---- price book (pure C, no database) -------------------------------- */

#define PRICE_UNSET INT64_C(-1)

#include "price_components.h"

/* Named fields over price.rate[][] (for readers that want one rate by name:
 * p->input, p->batch_output, p->above_cache_read ...). */
#define PC_FIELD_STD_(ID, name, key, unit)      int64_t name;
#define PC_FIELD_BATCH_(ID, name, key, unit)    int64_t batch_##name;
#define PC_FIELD_FLEX_(ID, name, key, unit)     int64_t flex_##name;
#define PC_FIELD_PRIO_(ID, name, key, unit)     int64_t priority_##name;
#define PC_FIELD_ABOVE_(ID, name, key, unit)    int64_t above_##name;
#define PC_FIELD_ABOVE_PR_(ID, name, key, unit) int64_t above_priority_##name;
#define PRICE_SCALAR_FIELD_(name)               int64_t name;

#define PRICE_TIERS_MAX 10 /* long-context tiers beyond the first (tiered_pricing) */

/* A further long-context tier: from from_tokens of input on, the whole
 * request is priced at rate[] (PRICE_UNSET: as the tier below). */
struct price_tier {
	int64_t from_tokens;
	int64_t rate[PC_COUNT];
};

/* One effective-dated price of one (provider, model): a rate per component
 * (ledger/price_components.h) and variant, in pico-USD per unit;
 * PRICE_UNSET where the price list has no such rate. */
struct price {
	int64_t version; /* price_book.price_version; 0 before it is stored */
	char provider[EVENT_NAME_MAX + 1];
	char model[EVENT_MODEL_MAX + 1];
	char tier[EVENT_TIER_MAX + 1];
	int64_t effective_from_us;
	union {
		int64_t rate[PV_COUNT][PC_COUNT];
		struct {
			struct {
				PRICE_COMPONENTS(PC_FIELD_STD_)
			};
			struct {
				PRICE_COMPONENTS(PC_FIELD_BATCH_)
			};
			struct {
				PRICE_COMPONENTS(PC_FIELD_FLEX_)
			};
			struct {
				PRICE_COMPONENTS(PC_FIELD_PRIO_)
			};
			struct {
				PRICE_COMPONENTS(PC_FIELD_ABOVE_)
			};
			struct {
				PRICE_COMPONENTS(PC_FIELD_ABOVE_PR_)
			};
		};
	};
	PRICE_SCALARS(PRICE_SCALAR_FIELD_)
	/* Tiers above the first long-context tier, ascending from_tokens. */
	struct price_tier tiers[PRICE_TIERS_MAX];
	int n_tiers;
};

struct pricebook; /* in-memory, read-only once built; safe to share across threads for lookups */

struct pricebook *pricebook_new(void);
void pricebook_free(struct pricebook *pb); /* NULL is fine */
/* Copies *p in. Returns 0 or -1 (out of memory). */
int pricebook_add(struct pricebook *pb, const struct price *p, struct tally_err *err);
/* Finds the price in force at ts for (provider, model): exact (provider,
 * model) first; then the provider's aliases (vertex_ai -> the map's
 * vertex_ai-*_models families, google -> gemini, ... docs/prices.md); else a
 * model name that exists under exactly one provider; else NULL (the call is
 * stored unpriced). The pointer lives as long as pb. */
const struct price *pricebook_lookup(const struct pricebook *pb, const char *provider,
                                     const char *model, int64_t ts_us);
size_t pricebook_count(const struct pricebook *pb);

/* A call priced per component: the quantities it incurred, their billed
 * cost and their cost at list rates (standard service tier, no batch
 * discount; what a cache hit saved), all pico-USD. */
struct call_price {
	int64_t qty[PC_COUNT];
	int64_t cost[PC_COUNT];
	int64_t list[PC_COUNT];
	int64_t total, list_total; /* sums of cost[] and list[] */
};

/* A call's components as calls.components stores them (ledger/components.c):
 * appends the text to s and returns true, or appends nothing and returns
 * false when the call used no component (stored as NULL). */
bool ledger_components_format(struct sbuf *s, const struct call_price *p);
/* Reads a stored components text (NULL: none) back into p, totals included.
 * -1 with TALLY_EINVAL on a text the format does not allow. */
int ledger_components_parse(const char *text, struct call_price *p, struct tally_err *err);

/* Splits c's usage into the disjoint quantities of the components. -1 with
 * TALLY_EINVAL when the parts exceed their whole. Pure. */
int price_quantities(const struct call_event *c, int64_t qty[PC_COUNT], struct tally_err *err);

/* Prices one call with p by each provider's documented rule (docs/prices.md):
 * every component at the rate of the call's service tier (batch, flex,
 * priority) and long-context tier, multipliers for data residency, inference
 * geography and fast mode. A cache_hit costs 0 (list still filled). -1 with
 * TALLY_ENOPRICE when the call needs a rate p lacks (the call is stored
 * unpriced, err->msg says which), TALLY_ERANGE on overflow, TALLY_EINVAL for
 * inconsistent counts; *out is then unspecified. Pure; thread-safe. */
#define TALLY_ENOPRICE TALLY_ENOTFOUND
int price_call_parts(const struct price *p, const struct call_event *c, struct call_price *out,
                     struct tally_err *err);
/* The total of price_call_parts(). */
int price_call(const struct price *p, const struct call_event *c, int64_t *cost_pusd,
               struct tally_err *err);

/* Default tier of a model from its input price (local providers: "local"). */
void price_default_tier(struct price *p);

/* ---- price list import (pure C) ------------------------------------------ */

struct price_import {
	struct price *prices; /* malloc'd array; free with price_import_cleanup */
	size_t n, cap;
	size_t skipped; /* entries without token prices (images, audio, sample_spec...) */
	size_t rounded; /* entries where a price was rounded to 1e-12 USD per token */
	char first_skip_reason[256];
};

/* Parses LiteLLM's model_prices_and_context_window.json. Number text is read
 * exactly (never through a double) and rounded half away from zero to
 * 1e-12 USD per token. effective_from_us is stored in each price. */
int price_import_litellm(const char *json, size_t len, int64_t effective_from_us,
                         struct price_import *out, struct tally_err *err);
/* Parses tally's CSV price list (docs/prices.md): header
 * provider,model,tier,input,output,cache_read,cache_write,reasoning,
 * batch_input,batch_output,threshold_tokens,above_input,above_output,
 * above_cache_read,above_cache_write — prices in USD per million tokens,
 * empty = not priced apart. */
int price_import_csv(const char *text, size_t len, int64_t effective_from_us,
                     struct price_import *out, struct tally_err *err);
void price_import_cleanup(struct price_import *im);

/* ---- the ledger connection ------------------------------------------------ */

struct ledger; /* one per thread: owns one PostgreSQL connection */

/* Connects (session time zone UTC). Returns NULL with err set (retriable when
 * the server could not be reached). */
struct ledger *ledger_open(const char *conninfo, struct tally_err *err);
void ledger_close(struct ledger *lg); /* NULL is fine */
/* Commits of this connection return before their WAL reaches the disk (kept
 * across reconnects). Only for writers whose transactions also store where
 * their input came from, so that a server crash that drops the last commits
 * rewinds input and output together: the collector's batches (rows and Kafka
 * offsets commit together; the messages are read again). */
TALLY_MUST_USE int ledger_use_async_commit(struct ledger *lg, struct tally_err *err);
/* True when the connection is usable; ledger_reset reconnects. */
bool ledger_ok(struct ledger *lg);
TALLY_MUST_USE int ledger_reset(struct ledger *lg, struct tally_err *err);

/* Applies the embedded migrations/NNNN_*.sql not yet applied, in order, each
 * in its own transaction, recorded in schema_migrations. *applied (may be
 * NULL) receives how many ran. */
TALLY_MUST_USE int ledger_migrate(struct ledger *lg, int *applied, struct tally_err *err);

/* ---- batch writes ------------------------------------------------------------ */

/* Where a message came from. topic is not copied: it must outlive the batch
 * (the collector's configured topic names do). partition -1 = not Kafka. */
struct kafka_pos {
	const char *topic;
	int32_t partition;
	int64_t offset;
};

struct call_row {
	struct call_event ev;
	struct kafka_pos pos;
	bool priced;
	int64_t cost_pusd;     /* valid when priced */
	int64_t price_version; /* 0 when none */
	char
	    tier[EVENT_TIER_MAX + 1]; /* resolved: event's, else the price book's, else "unknown" */
	struct call_price parts;      /* per component; cost[] zero when unpriced */
	char unpriced_reason[160];    /* "" when priced or no price version at all */
};

/* Prices row->ev with pb (may be NULL) into the row: tier, price version,
 * cost, per-component parts; an unknown model or a missing rate leaves it
 * unpriced (with the reason). Thread-safe on a finished book. */
void ledger_price_row(struct call_row *row, const struct pricebook *pb);

struct outcome_row {
	struct outcome_event ev;
	struct kafka_pos pos;
};

struct feedback_row {
	struct feedback_event ev;
	struct kafka_pos pos;
};

struct quarantine_row {
	struct kafka_pos pos;
	char reason[256];
	char *raw; /* owned by the batch */
	size_t raw_len;
};

struct ledger_batch {
	struct call_row *calls;
	size_t n_calls, cap_calls;
	struct outcome_row *outcomes;
	size_t n_outcomes, cap_outcomes;
	struct feedback_row *feedback;
	size_t n_feedback, cap_feedback;
	struct quarantine_row *quarantine;
	size_t n_quarantine, cap_quarantine;
	/* Highest offset seen per (topic, partition) in this batch, including
	 * quarantined messages: stored as next offset = highest + 1. */
	struct kafka_pos *marks;
	size_t n_marks, cap_marks, last_mark;
	/* COPY rows (binary format) of calls[0..n_call_text), formatted ahead by
	 * ledger_batch_seal_call on the thread that fills the batch; row i ends at
	 * call_text_end[i]. */
	struct sbuf call_text;
	size_t *call_text_end;
	size_t n_call_text, cap_call_text;
	/* Looked up ahead (ledger_probe_ahead): stored[i] when the ledger had
	 * calls[i]'s event_id within the window of its ts, as committed when
	 * the writer's windows were at generation probe_gen. */
	bool probed_ahead;
	uint64_t probe_gen;
	bool *stored;
	size_t cap_stored;
};

/* A call whose event_id the ledger holds is a duplicate, skipped and
 * counted, when the stored call's ts lies within this of its own (a retry
 * or replay resends the same event; a producer that stamps ts again on a
 * retry does so within seconds). Wider apart, both are stored. */
#define LEDGER_DEDUPE_WINDOW_US (INT64_C(7) * 24 * 3600 * 1000000)

struct ledger_batch_result {
	size_t calls_inserted;
	size_t duplicates;  /* calls whose event_id was already in the ledger */
	size_t redelivered; /* messages below the stored offset, skipped */
	size_t unpriced;
	size_t outcomes, feedback, quarantined;
};

/* A batch message by message, for one the ledger refused as a whole: each
 * message's rows (an OTLP message's several calls together) and its offset,
 * as a batch of their own, in offset order per partition. */
struct ledger_batch_walk {
	const struct ledger_batch *b;
	struct ledger_batch_item *items;
	size_t n, next;
};
TALLY_MUST_USE int ledger_batch_walk_init(struct ledger_batch_walk *w,
                                          const struct ledger_batch *b);
/* Resets one and fills it with the next message, whose position goes to
 * *pos. Returns 1, 0 when there is none left, -1 when out of memory. */
TALLY_MUST_USE int ledger_batch_walk_next(struct ledger_batch_walk *w, struct ledger_batch *one,
                                          struct kafka_pos *pos);
void ledger_batch_walk_cleanup(struct ledger_batch_walk *w);

void ledger_batch_init(struct ledger_batch *b);
void ledger_batch_cleanup(struct ledger_batch *b);
void ledger_batch_reset(struct ledger_batch *b); /* keeps the memory */
size_t ledger_batch_size(const struct ledger_batch *b);
/* Each returns a zeroed slot to fill, or NULL when out of memory. */
struct call_row *ledger_batch_add_call(struct ledger_batch *b);
/* A slot holding a copy of ev (the rest zeroed), without clearing the whole
 * row first: the ingestion hot path. NULL when out of memory. */
struct call_row *ledger_batch_add_call_from(struct ledger_batch *b, const struct call_event *ev);
struct outcome_row *ledger_batch_add_outcome(struct ledger_batch *b);
struct feedback_row *ledger_batch_add_feedback(struct ledger_batch *b);
/* Formats the last call added (complete: priced, tier and position set) as
 * a COPY row now, so that the writer does not have to. Optional: a batch
 * whose calls are not all sealed is formatted when written. */
int ledger_batch_seal_call(struct ledger_batch *b); /* best effort: see above */
/* Copies raw. */
TALLY_MUST_USE int ledger_batch_add_quarantine(struct ledger_batch *b, const struct kafka_pos *pos,
                                               const char *reason, const void *raw, size_t raw_len);
/* Records that pos was consumed (its offset is stored with the batch). */
TALLY_MUST_USE int ledger_batch_mark(struct ledger_batch *b, const struct kafka_pos *pos);

/* Whose offsets a batch stores: a consumer group reading one Kafka cluster
 * (the cluster id its brokers report). Offsets are keyed by both, so that
 * an offset read from one cluster never counts on another. Not copied. */
struct ledger_source {
	const char *group;
	const char *cluster_id;
};

/* Writes the whole batch in ONE transaction: calls (duplicates by event_id
 * skipped; their transaction queued for the rollups), outcomes, feedback,
 * quarantine and the consumed offsets of src. Messages below an already
 * stored offset of src are skipped (another collector or an earlier run
 * stored them). A batch with offsets needs src->cluster_id. On error
 * nothing is written; err->retriable tells whether the same batch may be
 * retried. No window may be open. */
TALLY_MUST_USE int ledger_write_batch(struct ledger *lg, const struct ledger_source *src,
                                      const struct ledger_batch *b, struct ledger_batch_result *res,
                                      struct tally_err *err);

/* A window: consecutive batches in ONE transaction (the collector's way:
 * one commit, one fence and one store of the offsets for many batches; the
 * rollups are summed later, ledger_rollups_roll). Each batch
 * is written as ledger_write_batch writes it, under a savepoint; nothing of
 * a window is visible, or stored, before ledger_window_commit.
 *
 * ledger_window_add opens the window if none is. On error: when the ledger
 * refused the batch's data (err->code TALLY_EINVAL, not retriable) only the
 * batch is undone and the window stays open; on any other error the whole
 * window is rolled back and ledger_window_batches() is 0 again: the
 * batches it held are lost, to be read again. ledger_window_commit ends it
 * (nothing to do when none is open); on error the window is lost. *res
 * counts are the batch's, true once the window commits. */
TALLY_MUST_USE int ledger_window_add(struct ledger *lg, const struct ledger_source *src,
                                     const struct ledger_batch *b, struct ledger_batch_result *res,
                                     struct tally_err *err);
struct ledger_window_result {
	size_t batches;   /* in the window */
	int64_t write_us; /* storing the offsets and committing */
};
TALLY_MUST_USE int ledger_window_commit(struct ledger *lg, struct ledger_window_result *res,
                                        struct tally_err *err);
/* Rolls the open window back (nothing of it is stored). */
void ledger_window_abort(struct ledger *lg);
/* Batches stored in the open window (0 when none is open). */
size_t ledger_window_batches(const struct ledger *lg);
/* Microseconds since the open window began (0 when none is open). */
int64_t ledger_window_age_us(const struct ledger *lg);

/* Lookups ahead: a batch's event_ids looked up in the ledger on another
 * connection (lg, not the writer's; outside any transaction) while the
 * writer stores the batch before it, so that the writer looks up only what
 * its own windows stored since (ledger/calls_probe.c). The writer's ledger
 * remembers what its windows store once ledger_track_seen is called (-1:
 * out of memory); gen is ledger_seen_generation(writer) read before the
 * lookup began, the one call on the writer's ledger any thread may make.
 * A batch not looked up ahead, or whose lookup failed, is looked up whole
 * by the writer. */
TALLY_MUST_USE int ledger_track_seen(struct ledger *lg);
uint64_t ledger_seen_generation(const struct ledger *lg);
TALLY_MUST_USE int ledger_probe_ahead(struct ledger *lg, struct ledger_batch *b, uint64_t gen,
                                      struct tally_err *err);

/* Next offsets stored for src, one per (topic, partition) asked: offsets[i]
 * = stored next offset or -1 when none. Offsets stored for another cluster
 * (or before offsets named their cluster) are never returned. */
TALLY_MUST_USE int ledger_stored_offsets(struct ledger *lg, const struct ledger_source *src,
                                         const char *const *topics, const int32_t *partitions,
                                         size_t n, int64_t *offsets, struct tally_err *err);

/* A stored offset that the broker's watermarks make impossible, and where
 * the collector resumes instead. */
struct ledger_offset_reset {
	const char *topic;
	int32_t partition;
	int64_t stored_offset, low_watermark, high_watermark, resumed_at;
	const char *reason; /* one line a person can act on */
};
/* Moves src's stored offset of r's partition to r->resumed_at and records
 * r in kafka_offset_resets, in one statement, only while the stored offset
 * is still r->stored_offset or none is stored (*applied false: someone moved
 * it first, nothing written). */
TALLY_MUST_USE int ledger_offset_reset(struct ledger *lg, const struct ledger_source *src,
                                       const struct ledger_offset_reset *r, bool *applied,
                                       struct tally_err *err);

/* ---- prices in the ledger (prices_db.c, price_list.c) ------------------------------- */

/* Loads the whole price book. Returns NULL with err set. */
struct pricebook *ledger_load_pricebook(struct ledger *lg, struct tally_err *err);
/* Cheap change detector for the price book (max version and row count). */
TALLY_MUST_USE int ledger_pricebook_stamp(struct ledger *lg, int64_t *stamp, struct tally_err *err);
/* Stores imported prices as new price versions; a price identical to the one
 * already in force for its (provider, model) is not stored again. */
struct price_store_result {
	size_t stored, unchanged;
};
TALLY_MUST_USE int ledger_store_prices(struct ledger *lg, const struct price_import *im,
                                       const char *source, struct price_store_result *res,
                                       struct tally_err *err);
/* Number of price versions stored. */
TALLY_MUST_USE int ledger_price_count(struct ledger *lg, int64_t *n, struct tally_err *err);

/* Re-prices the calls with ts in [from, to) with pb, rebuilds the hourly
 * rollups of the hours touched, and records it in the audit log, all in one
 * transaction. */
struct reprice_result {
	size_t examined, changed, newly_priced, still_unpriced;
};
TALLY_MUST_USE int ledger_reprice(struct ledger *lg, const struct pricebook *pb, int64_t from_us,
                                  int64_t to_us, const char *actor, struct reprice_result *res,
                                  struct tally_err *err);

/* Rebuilds every rollup (hourly, daily, tags) of the whole hours covering
 * [from, to) from the calls table, in one transaction, audit-logged. For an
 * operator who loaded or fixed calls outside the collector. */
/* The calls of the transactions queued for the rollups (every transaction
 * that stored calls) summed into the rollups' rows, and the queue emptied
 * of them, in one transaction (ledger/rollups_write.c); *rolled: the
 * transactions summed. Readers see the same figures before and after. With
 * wait false, returns 0 at once (nothing rolled) when another roll or a
 * rebuild holds the queue. The collector rolls when it has caught up, and
 * while it catches up every ROLL_MAX_CALLS calls or ROLL_MAX_AGE_US; the
 * HTTP ingestion after each batch; `tally rollups merge` by hand. */
TALLY_MUST_USE int ledger_rollups_roll(struct ledger *lg, bool wait, int64_t *rolled,
                                       struct tally_err *err);
/* Rebuilds every rollup (hourly, daily, tags) of the whole hours covering
 * [from, to) from the calls table, in one transaction, audit-logged. For an
 * operator who loaded or fixed calls outside the collector. */
TALLY_MUST_USE int ledger_rebuild_rollups(struct ledger *lg, int64_t from_us, int64_t to_us,
                                          const char *actor, struct tally_err *err);

/* Price book rows (every version), filtered by exact provider / model when
 * not NULL, ordered by provider, model, newest first. */
struct price_row {
	struct price p;
	char effective_from[40];
	char source[256];
};
struct price_page {
	int64_t total;
	struct price_row *rows; /* malloc'd */
	size_t n;
};
TALLY_MUST_USE int ledger_price_list(struct ledger *lg, const char *provider, const char *model,
                                     int64_t limit, int64_t offset, struct price_page *out,
                                     struct tally_err *err);
void price_page_cleanup(struct price_page *p); /* NULL is fine */

/* ---- what the ledger holds (status.c) ----------------------------------------------- */

struct ledger_status {
	int64_t calls, outcomes, feedback, duplicates, quarantined, unpriced;
	/* transactions whose calls are not summed into the rollups yet, and the
	 * age of the oldest (ledger/rollups_write.c) */
	int64_t rollup_queue, rollup_queue_age_s;
	struct {
		char cluster_id[128]; /* "" for offsets stored before 0008 */
		char topic[128];
		int32_t partition;
		int64_t offset;
	} * partitions; /* malloc'd; every cluster's */
	size_t n_partitions;
	int64_t offset_resets; /* kafka_offset_resets rows of the group */
	char last_reset[512];  /* the newest one, as a sentence ("" if none) */
};
TALLY_MUST_USE int ledger_status(struct ledger *lg, const char *group, struct ledger_status *st,
                                 struct tally_err *err);
void ledger_status_cleanup(struct ledger_status *st);

/* A cheap round trip: is the ledger answering? */
TALLY_MUST_USE int ledger_ping(struct ledger *lg, struct tally_err *err);

/* ---- spend: calls and their rollups (spend.c) --------------------------------------- */

enum spend_dim {
	DIM_TEAM,
	DIM_COST_CENTER,
	DIM_WORKFLOW,
	DIM_TASK_TYPE,
	DIM_MODEL,
	DIM_TIER,
	DIM_PROVIDER,
	DIM_OUTCOME,
	DIM_DAY,
	DIM_TAG, /* a tag's value (spend_query.tag_key): tag:KEY, user, api_key */
	DIM_COUNT
};
/* "team" -> DIM_TEAM ...; -1 when unknown. */
int spend_dim_parse(const char *s);
const char *spend_dim_name(int dim);
/* Like spend_dim_parse, and also "tag:KEY" (KEY 1..128 bytes), "user" and
 * "api_key" (the tags an attribution gateway fills) -> DIM_TAG with *tag_key
 * pointing into s or at a static name. */
int spend_dim_parse_tag(const char *s, const char **tag_key);

struct spend_query {
	int64_t from_us, to_us; /* [from, to) */
	int dim;
	const char *team;     /* NULL: all teams */
	const char *workflow; /* NULL: all workflows */
	const char *tag_key;  /* DIM_TAG: the tag grouped by */
};

struct spend_row {
	char key[EVENT_MODEL_MAX + 1]; /* "" for no value (unmapped cost centre, no outcome) */
	bool key_null;
	int64_t calls, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
	    reasoning_tokens, unpriced_calls;
	char cost_pusd[48]; /* exact decimal integer of pico-USD (numeric sum) */
};

struct spend_result {
	struct spend_row *rows; /* malloc'd */
	size_t n;
	struct spend_row total;
	char dim_name[EVENT_NAME_MAX + 8]; /* "tag:env", "user"; "" = spend_dim_name */
};
TALLY_MUST_USE int ledger_spend(struct ledger *lg, const struct spend_query *q,
                                struct spend_result *out, struct tally_err *err);
void spend_result_cleanup(struct spend_result *r);

/* Spend per time bucket and dimension: the query of ledger_spend (same
 * sources, same dimension whitelist) with a time bucket in front. */
enum spend_bucket { BUCKET_HOUR = 0, BUCKET_DAY };
struct spend_series_row {
	char bucket[40]; /* "2026-11-01" or "2026-11-01T12:00:00Z" */
	struct spend_row r;
};
struct spend_series {
	struct spend_series_row *rows; /* malloc'd, by bucket then cost descending */
	size_t n;
	struct spend_row total;
};
TALLY_MUST_USE int ledger_spend_series(struct ledger *lg, const struct spend_query *q, int bucket,
                                       struct spend_series *out, struct tally_err *err);
void spend_series_cleanup(struct spend_series *s); /* NULL is fine */

/* All-time spend and tokens by team, provider, model and tier, from the
 * daily rollups: the series - 1 largest by cost, the rest summed into one
 * row labelled "_other". Counts and money as exact decimal integers. */
struct spend_label_row {
	char team[EVENT_NAME_MAX + 1], provider[EVENT_NAME_MAX + 1];
	char model[EVENT_MODEL_MAX + 1], tier[EVENT_TIER_MAX + 1];
	char calls[48];
	char tokens[5][48]; /* input, output, cache read, cache write, reasoning */
	char cost_pusd[48];
};
/* *rows is malloc'd (free it). */
TALLY_MUST_USE int ledger_spend_labels(struct ledger *lg, int series, struct spend_label_row **rows,
                                       size_t *n, struct tally_err *err);

/* ---- teams, cost centres, chargeback (chargeback.c) --------------------------------- */

/* Chargeback for [from, to) from the hourly rollups. share: "none",
 * "proportional" or "even"; how unassigned spend (teams without a cost
 * centre) is shared among the assigned teams. Money as exact decimal integer
 * strings of pico-USD; share_pct as integer millionths of the whole (so
 * 1000000 = 100%), rounded down with the remainders handed out largest first
 * (ties by cost centre, team) so that the column sums to exactly 1000000. */
struct chargeback_row {
	char cost_center[EVENT_NAME_MAX + 1]; /* "" when unassigned */
	bool unassigned;
	char team[EVENT_NAME_MAX + 1];
	int64_t calls, input_tokens, output_tokens;
	char direct_pusd[48]; /* the team's own spend */
	char shared_pusd[48]; /* + share received (or - spend shared away) */
	char cost_pusd[48];   /* direct + shared */
	int64_t share_ppm;
};
struct chargeback_result {
	struct chargeback_row *rows; /* malloc'd */
	size_t n;
	int64_t calls, input_tokens, output_tokens;
	char total_pusd[48], unassigned_pusd[48];
	char method[16]; /* the method applied: none|proportional|even */
};
TALLY_MUST_USE int ledger_chargeback(struct ledger *lg, int64_t from_us, int64_t to_us,
                                     const char *share, struct chargeback_result *out,
                                     struct tally_err *err);
void chargeback_result_cleanup(struct chargeback_result *r); /* NULL is fine */

/* A team as mapped: its cost centre ("" and unassigned when none) and when
 * it was first seen. */
struct team_row {
	char team[EVENT_NAME_MAX + 1];
	char cost_center[EVENT_NAME_MAX + 1];
	bool unassigned;
	char first_seen[40];
};
/* Every team, by cost centre (unassigned last) and name; *rows is malloc'd
 * (free it). */
TALLY_MUST_USE int ledger_teams(struct ledger *lg, struct team_row **rows, size_t *n,
                                struct tally_err *err);
/* *set_up: some team has a cost centre or some budget exists. */
TALLY_MUST_USE int ledger_finance_set_up(struct ledger *lg, bool *set_up, struct tally_err *err);
/* Maps team to cost centre cc (created when new; NULL or "" unmaps) and
 * records it in the audit log, in one transaction. */
TALLY_MUST_USE int ledger_team_set_cost_center(struct ledger *lg, const char *team, const char *cc,
                                               const char *actor, struct tally_err *err);

/* ---- waste, over-tier spend, provider cost mismatches over the calls (waste.c) ------ */

/* provider_cost_usd and tally's cost agree when within this much (1e-6 USD):
 * providers round what they report. */
#define LEDGER_MISMATCH_TOLERANCE_PUSD INT64_C(1000000)

/* The waste of one team and workflow (or of all: the total). Counts as
 * integers, money as exact decimal integers of pico-USD. */
struct waste_row {
	char team[EVENT_NAME_MAX + 1], workflow[EVENT_NAME_MAX + 1];
	int64_t failed_calls, repeated_calls, cache_hit_calls;
	char failed_pusd[48], repeated_pusd[48];
	char savings_pusd[48]; /* what the cache hits would have cost at list rates */
	char spend_pusd[48];
	char over_tier_pusd[48]; /* meaningful when waste_result.policy */
};
struct waste_result {
	struct waste_row *rows; /* malloc'd, by team and workflow */
	size_t n;
	struct waste_row total;
	bool policy;        /* a policy version judged the over-tier column */
	char versions[512]; /* the versions that judged calls of the period ("1,2"; "" none) */
};
/* Waste of [from, to) per team and workflow (team NULL: every team): failed
 * calls, prompts repeated within window_s of an identical successful one,
 * cache hits, and over-tier spend judged by policy version policy_version
 * (0: the version in force at each call). */
TALLY_MUST_USE int ledger_waste(struct ledger *lg, int64_t from_us, int64_t to_us, int64_t window_s,
                                const char *team, int64_t policy_version, struct waste_result *out,
                                struct tally_err *err);
void waste_result_cleanup(struct waste_result *r); /* NULL is fine */

/* Calls of one provider and model that carried provider_cost_usd. */
struct cost_mismatch_row {
	char provider[EVENT_NAME_MAX + 1], model[EVENT_MODEL_MAX + 1];
	int64_t calls;
	int64_t mismatched; /* beyond LEDGER_MISMATCH_TOLERANCE_PUSD, or unpriced */
	int64_t unpriced;
	char provider_pusd[48], tally_pusd[48], diff_pusd[48]; /* diff = provider - tally */
};
/* The calls of [from, to) (cache hits aside) with provider_cost_usd, per
 * provider and model, largest difference first; *rows is malloc'd (free it). */
TALLY_MUST_USE int ledger_cost_mismatches(struct ledger *lg, int64_t from_us, int64_t to_us,
                                          struct cost_mismatch_row **rows, size_t *n,
                                          struct tally_err *err);

/* Over-tier spend per task type (the routing savings; the waste report's
 * column is the same arithmetic by team and workflow, LEDGER_OVER_TIER_CTES):
 * the calls of [from, to) on tiers dearer per call than their policy
 * version's tier for the task type, what they cost, and what they would have
 * cost at the policy tier's mean cost per call. Amounts are exact decimal
 * integers of pico-USD. */
struct over_tier_row {
	char task_type[EVENT_NAME_MAX + 1];
	char policy_tier[EVENT_TIER_MAX + 1];
	int64_t calls;
	char cost_pusd[48], under_policy_pusd[48], saving_pusd[48];
};
/* Which policy judged an over-tier figure: whether any version did, and
 * the versions that judged calls of the period ("1,2,5"; "" none). */
struct over_tier_basis {
	bool judged;
	char versions[512];
};
/* Over-tier spend of [from, to) per task type and policy tier: each call is
 * judged by the policy version in force when it was made (version 0), or by
 * the version given. *rows (free) has *n rows, none when no version judges
 * the period; basis says which versions did. */
TALLY_MUST_USE int ledger_over_tier_by_task(struct ledger *lg, int64_t from_us, int64_t to_us,
                                            int64_t version, struct over_tier_row **rows, size_t *n,
                                            struct over_tier_basis *basis, struct tally_err *err);

/* ---- outcomes (outcomes.c) ---------------------------------------------------------- */

enum outcome_value_level { OUTCOME_VALUE_ROW, OUTCOME_VALUE_TEAM, OUTCOME_VALUE_TOTAL };

struct outcome_value {
	enum outcome_value_level
	    level; /* a (team, workflow, kind) row, a team's subtotal, the total */
	char kind[EVENT_NAME_MAX + 1], team[EVENT_NAME_MAX + 1], workflow[EVENT_NAME_MAX + 1];
	int64_t outcomes, successes;
	char value_pusd[48]; /* value of the successes, exact pico-USD digits */
	char spend_pusd[48]; /* cost of the calls that name the outcomes */
};

/* Outcomes of [from, to) by team, workflow and kind (team NULL: every team),
 * with what the successful ones were worth and what their calls cost; each
 * team's subtotal follows its rows, the total comes last. *rows is malloc'd
 * (free it). */
TALLY_MUST_USE int ledger_outcome_value(struct ledger *lg, int64_t from_us, int64_t to_us,
                                        const char *team, struct outcome_value **rows, size_t *n,
                                        struct tally_err *err);

/* Cost per outcome of [from, to): the calls that name an outcome of their
 * team, with the outcome's workflow. Money as exact decimal integers of
 * pico-USD. */
struct outcome_workflow_row {
	char workflow[EVENT_NAME_MAX + 1];
	int64_t outcomes, successes, calls;
	char spend_pusd[48]; /* failed attempts included */
};
struct outcome_tier_row { /* calls per outcome by tier */
	char workflow[EVENT_NAME_MAX + 1], tier[EVENT_TIER_MAX + 1];
	int64_t calls, outcomes;
};
struct outcome_week_row {
	char workflow[EVENT_NAME_MAX + 1];
	char week[11]; /* the week's Monday, YYYY-MM-DD */
	int64_t outcomes, successes;
	char spend_pusd[48];
};
struct outcomes_result {
	struct outcome_workflow_row *workflows; /* malloc'd, by workflow */
	size_t n_workflows;
	struct outcome_tier_row *tiers; /* by workflow, tier */
	size_t n_tiers;
	struct outcome_week_row *weeks; /* by workflow, week */
	size_t n_weeks;
	int64_t orphan_calls; /* calls naming an outcome that never arrived */
	char orphan_pusd[48]; /* and their spend */
	int64_t outcomes_without_calls;
};
TALLY_MUST_USE int ledger_outcomes(struct ledger *lg, int64_t from_us, int64_t to_us,
                                   struct outcomes_result *out, struct tally_err *err);
void outcomes_result_cleanup(struct outcomes_result *r); /* NULL is fine */

/* ---- budgets, their alerts, the webhook outbox (budgets.c) -------------------------- */

/* Budgets: scope "team" or "workflow"; amount in pico-USD as a decimal
 * integer string. Set inserts or updates, for every month when from_month is
 * NULL, else from that month ("YYYY-MM-01") on, earlier months keeping their
 * amounts; set and delete are audited. */
TALLY_MUST_USE int ledger_budget_set(struct ledger *lg, const char *scope, const char *name,
                                     const char *amount_pusd, const char *from_month,
                                     const char *actor, struct tally_err *err);
TALLY_MUST_USE int ledger_budget_delete(struct ledger *lg, const char *scope, const char *name,
                                        const char *actor, bool *found, struct tally_err *err);
/* Evaluates every budget for the month holding at_us (forecast by run rate)
 * and stores the alerts newly crossed, each with its webhook in the outbox,
 * in one transaction. *fired (may be NULL) receives how many. */
TALLY_MUST_USE int ledger_budget_evaluate(struct ledger *lg, int64_t at_us, int *fired,
                                          struct tally_err *err);

/* A budget's state in the month holding a moment: spend up to it and the
 * forecast to the month's end (docs/reports.md). Money as exact decimal
 * integers of pico-USD. */
struct budget_state {
	int64_t id;
	char scope[16]; /* team or workflow */
	char name[EVENT_NAME_MAX + 1];
	char amount_pusd[48]; /* the amount that applies to the month */
	char month[8];        /* YYYY-MM */
	char spend_pusd[48], forecast_pusd[48];
	int64_t elapsed_s, month_s;
	int64_t basis_days; /* whole days the forecast's mean is of (0: run rate, no band) */
	bool band;          /* forecast_low/high set */
	char forecast_low_pusd[48], forecast_high_pusd[48];
};
/* Every budget with an amount for the month holding at_us, by scope and
 * name; *rows is malloc'd (free it). */
TALLY_MUST_USE int ledger_budget_states(struct ledger *lg, int64_t at_us,
                                        struct budget_state **rows, size_t *n,
                                        struct tally_err *err);
/* A budget alert as fired. */
struct budget_alert_row {
	int64_t id;
	char scope[16], name[EVENT_NAME_MAX + 1];
	char period[8]; /* YYYY-MM */
	char basis[16]; /* actual or forecast */
	int64_t threshold_pct;
	char amount_pusd[48], spend_pusd[48], forecast_pusd[48];
	char fired_at[40];
};
/* The newest alerts first, limit from offset; team not NULL: that team's
 * budget's only. *rows is malloc'd (free it). */
TALLY_MUST_USE int ledger_budget_alerts(struct ledger *lg, int limit, int64_t offset,
                                        const char *team, struct budget_alert_row **rows, size_t *n,
                                        struct tally_err *err);

/* The webhook outbox: claims the oldest due delivery (row lock held in an
 * open transaction until ledger_outbox_done); *found false when none is due.
 * payload is malloc'd (free it). */
struct outbox_item {
	int64_t id;
	int attempts;
	char kind[64];
	char *payload;
};
TALLY_MUST_USE int ledger_outbox_claim(struct ledger *lg, struct outbox_item *it, bool *found,
                                       struct tally_err *err);
/* Records the outcome of a claimed delivery and ends its transaction:
 * delivered, or retried after retry_s seconds with error noted. */
TALLY_MUST_USE int ledger_outbox_done(struct ledger *lg, int64_t id, bool delivered, int retry_s,
                                      const char *error, struct tally_err *err);

/* ---- API keys and sessions (keys.c) ------------------------------------------------- */

enum api_role { ROLE_ADMIN = 0, ROLE_FINANCE, ROLE_VIEWER };
/* "admin" -> ROLE_ADMIN ...; -1 when unknown. */
int api_role_parse(const char *s);
const char *api_role_name(int role);

/* An API key as stored: never the token, only its SHA-256 in hex. */
struct api_key {
	int64_t id;
	int role;                      /* enum api_role */
	char team[EVENT_NAME_MAX + 1]; /* "" when none (admin, finance) */
	char name[EVENT_NAME_MAX + 1];
	char token_sha256[65];
	char created_at[40], last_used_at[40], revoked_at[40]; /* "" when none */
};

/* Stores a new key and records it in the audit log; *id receives its id.
 * team may be NULL. */
TALLY_MUST_USE int ledger_key_create(struct ledger *lg, const char *token_sha256, int role,
                                     const char *team, const char *name, const char *actor,
                                     int64_t *id, struct tally_err *err);
/* Revoking a key notifies this PostgreSQL channel, so that servers which
 * remember checked keys forget them at once. */
#define LEDGER_KEYS_CHANNEL "tally_keys"
struct ledger_listener;
/* A connection of its own LISTENing on LEDGER_KEYS_CHANNEL. */
struct ledger_listener *ledger_keys_listen(const char *conninfo, struct tally_err *err);
/* Waits up to timeout_ms: the number of notifications received (0 for
 * none), -1 when the connection is lost (close it and listen again). */
TALLY_MUST_USE int ledger_listener_wait(struct ledger_listener *l, int timeout_ms);
void ledger_listener_close(struct ledger_listener *l); /* NULL is fine */

/* Every key, oldest first; *keys is malloc'd (free it). */
TALLY_MUST_USE int ledger_key_list(struct ledger *lg, struct api_key **keys, size_t *n,
                                   struct tally_err *err);
/* Revokes key id and ends its sessions; *found is false when no live key has
 * that id. */
TALLY_MUST_USE int ledger_key_revoke(struct ledger *lg, int64_t id, const char *actor, bool *found,
                                     struct tally_err *err);
/* The live (unrevoked) key whose token hashes to token_sha256; *found false
 * when none. Records the use (last_used_at, at most once a minute). */
TALLY_MUST_USE int ledger_key_lookup(struct ledger *lg, const char *token_sha256,
                                     struct api_key *key, bool *found, struct tally_err *err);

/* Opens a session for key_id lasting ttl_s seconds; the id is stored hashed.
 * Expired sessions are deleted on the way. */
TALLY_MUST_USE int ledger_session_create(struct ledger *lg, const char *id_sha256, int64_t key_id,
                                         const char *csrf_token, int64_t ttl_s,
                                         struct tally_err *err);
/* The key behind an unexpired session of a live key, and its CSRF token
 * (csrf must hold 65 bytes). *found false when none. */
TALLY_MUST_USE int ledger_session_lookup(struct ledger *lg, const char *id_sha256,
                                         struct api_key *key, char *csrf, bool *found,
                                         struct tally_err *err);
/* Ends a session (deletes it). Ending an unknown one is not an error. */
TALLY_MUST_USE int ledger_session_delete(struct ledger *lg, const char *id_sha256,
                                         struct tally_err *err);

/* ---- quarantine (quarantine.c; grouped: drilldown.c) -------------------------------- */

/* One quarantined message for the list: raw holds the first bytes only. */
struct quarantine_item {
	int64_t id;
	char received_at[40];
	char topic[128];
	int32_t partition;
	int64_t offset; /* -1 when unknown */
	char reason[512];
	unsigned char *raw; /* malloc'd, at most max_raw bytes */
	size_t raw_len;
	int64_t raw_total; /* the whole message's size */
};
struct quarantine_page {
	int64_t total;
	struct quarantine_item *items; /* malloc'd */
	size_t n;
};
/* Newest first, limit items from offset; raw cut to max_raw bytes. */
TALLY_MUST_USE int ledger_quarantine_list(struct ledger *lg, int64_t limit, int64_t offset,
                                          size_t max_raw, struct quarantine_page *out,
                                          struct tally_err *err);
void quarantine_page_cleanup(struct quarantine_page *p); /* NULL is fine */

/* ---- the audit log and its export (audit.c) ----------------------------------------- */

/* The head of the audit log's hash chain: *seq 0 and hash of zeros when empty. */
TALLY_MUST_USE int ledger_audit_head(struct ledger *lg, int64_t *seq, char hash[65],
                                     struct tally_err *err);

/* The files of the audit export, rows as stored (docs/reports.md). */
enum ledger_export {
	LEDGER_EXPORT_CALLS,         /* the calls of the period, by ts, event_id */
	LEDGER_EXPORT_PRICES,        /* every price version in force before the period's end */
	LEDGER_EXPORT_PRICE_CHANGES, /* versions effective or imported in the period */
	LEDGER_EXPORT_REPRICES,      /* audit_log prices.reprice rows of the period */
	LEDGER_EXPORT_BUDGETS,       /* every budget */
	LEDGER_EXPORT_ALERTS,        /* budget alerts fired in the period */
	LEDGER_EXPORT_LOG,           /* chain_seq, id, ts_us, ts, actor, action, details,
	                                prev_hash, hash of the period, by chain_seq */
	LEDGER_EXPORT_COUNT
};
/* One file of the audit export: its name in the bundle, its CSV header (the
 * names of its statement's columns in order, declared beside the statement
 * in ledger/audit.c) and whether the statement's last column is a call's
 * components text, written out as the PC_CALL_CSV_HEADER columns (already
 * at the end of the header). */
struct ledger_export_file {
	const char *name;
	const char *columns;
	bool components;
};
/* The file of one export (LEDGER_EXPORT_*), static; NULL when out of range. */
const struct ledger_export_file *ledger_export_file(int which);
/* Called once per row of a stream; vals[i] NULL for SQL NULL. Non-zero stops
 * the stream (and fails it with err set by the callback). */
typedef int (*ledger_row_fn)(void *ctx, int ncols, const char *const *vals, struct tally_err *err);
/* Streams the rows of one export file for [from, to) through a server-side
 * cursor (constant memory whatever the size of the answer). Runs in the
 * caller's transaction when one is open (ledger_snapshot_begin), else in its
 * own read-only one. */
TALLY_MUST_USE int ledger_export_stream(struct ledger *lg, int which, int64_t from_us,
                                        int64_t to_us, ledger_row_fn fn, void *ctx,
                                        struct tally_err *err);

/* ---- snapshots and streams (query.c) ------------------------------------------------ */

/* A repeatable-read, read-only transaction so that several reads see one
 * snapshot; end it with ledger_snapshot_end (always, also after an error). */
TALLY_MUST_USE int ledger_snapshot_begin(struct ledger *lg, struct tally_err *err);
void ledger_snapshot_end(struct ledger *lg);

/* ---- FOCUS rows (focus_rows.c) ------------------------------------------------------ */

/* One row of the FOCUS export (ledger/focus_rows.c, docs/focus.md): the
 * provider charges (cache hits left out) of one charge period, route
 * (provider as the calls name it), model, attribution, tag set, price
 * version, pricing mode and price component. Strings belong to the ledger
 * and live only during the callback; amounts are exact decimal strings. */
struct focus_row {
	const char *period_start, *period_end;   /* ISO 8601 UTC, clamped to [from, to) */
	const char *billing_start, *billing_end; /* the calendar month of the period */
	const char *provider, *model;
	bool local; /* a self-hosted model */
	const char *team, *workflow, *task_type;
	const char *cost_center;   /* NULL: the team is mapped to none (at export time) */
	const char *tags;          /* the calls' own tags, a JSON object ("{}": none) */
	const char *price_version; /* NULL: unpriced */
	bool unpriced;             /* no price: amounts 0 */
	const char *service;       /* pricing mode: standard, batch, flex or priority */
	const char *data_residency, *inference_geo, *speed; /* "" when none */
	int long_context;       /* 0, 1 = first long-context tier, 2 + i = extra tier i */
	int component;          /* enum price_component */
	const char *quantity;   /* units of the component */
	const char *billed_usd; /* the sum of the calls' stored charges, 12 fraction digits */
	const char *unit_usd;   /* the row's one unit price (billed / quantity) */
	const char *list_usd;   /* unit_usd x quantity, exact */
	int64_t calls;
};
/* The prefix of tally's own keys in the FOCUS Tags (provider-defined tags);
 * a call's own tag under it is left out (the spec reserves the prefix). */
#define FOCUS_TAG_PREFIX "tally/"
typedef int (*ledger_focus_fn)(void *ctx, const struct focus_row *row, struct tally_err *err);
/* Streams the FOCUS rows of [from, to) (hourly or daily charge periods) to
 * fn from a server-side cursor, in a stable order; constant memory. fn
 * returns 0, or non-zero to stop (then -1). Runs in the open transaction, or
 * a read-only snapshot of its own. */
TALLY_MUST_USE int ledger_focus_stream(struct ledger *lg, int64_t from_us, int64_t to_us,
                                       bool hourly, ledger_focus_fn fn, void *ctx,
                                       struct tally_err *err) __attribute__((warn_unused_result));

/* round(a / b, 6) x 10^6 of the integers a and b (b not 0, a not a multiple
 * of b) exactly as PostgreSQL's numeric computes it (the division rounds
 * half away from zero to its own scale first, then round() does to 6
 * digits): the FOCUS rows' unit prices (ledger/focus_rows.c). -1 on
 * overflow. */
TALLY_MUST_USE int ledger_focus_round6(__int128 a, __int128 b, __int128 *out);

/* ---- bulk loads and names (demo_sql.c, names.c) ------------------------------------- */

/* Whether the ledger holds any call older than ts_us (ledger/demo_sql.c). */
TALLY_MUST_USE int ledger_calls_before(struct ledger *lg, int64_t ts_us, bool *any,
                                       struct tally_err *err);
/* ANALYZE calls and outcomes, after a bulk load (ledger/demo_sql.c). */
TALLY_MUST_USE int ledger_analyze_calls(struct ledger *lg, struct tally_err *err);
/* This connection plans each statement for its parameters (bulk loads). */
TALLY_MUST_USE int ledger_bulk_load_begin(struct ledger *lg, struct tally_err *err);
/* Whether a team (workflow false) or workflow name is known: mapped, given
 * a budget or seen in the daily rollups (ledger/names.c). */
TALLY_MUST_USE int ledger_name_known(struct ledger *lg, bool workflow, const char *name,
                                     bool *known, struct tally_err *err);

/* ---- drill-down (ledger/drilldown.c): JSON documents built by PostgreSQL ---- */

struct calls_filter {
	int64_t from_us, to_us; /* [from, to) */
	/* NULL: any */
	const char *team, *workflow, *task_type, *model, *tier, *provider, *status, *outcome_id;
	int64_t limit, offset;
};

/* {"total","limit","offset","items":[call...]}: the calls matching f, newest
 * first, appended to out. */
TALLY_MUST_USE int ledger_calls_json(struct ledger *lg, const struct calls_filter *f,
                                     struct sbuf *out, struct tally_err *err);
/* One call's full record with its price version's rates, its outcome and
 * feedback ({"call":…,"price":…,"outcome":…,"feedback":[…]}), appended to
 * out; *found false when no call has that event_id (in team, when given). */
TALLY_MUST_USE int ledger_call_json(struct ledger *lg, const char *event_id, const char *team,
                                    struct sbuf *out, bool *found, struct tally_err *err);
/* {"total","groups":[{"reason","count","first_at","last_at","items":[…]}]}:
 * the quarantine by reason (only `reason` when not NULL), most frequent
 * first, with up to `examples` newest messages each. */
TALLY_MUST_USE int ledger_quarantine_groups_json(struct ledger *lg, const char *reason,
                                                 int examples, struct sbuf *out,
                                                 struct tally_err *err);

/* ---- router statistics per day, task type, workflow and tier (router_stats.c) ------- */

#define LEDGER_ROUTER_LAT_BUCKETS 20 /* = ROUTER_LAT_BUCKETS of router.h */

/* Reads the calls ingested since router_state.stats_through and up to
 * settle_s seconds ago (so that feedback and outcomes have time to arrive)
 * into router_stats, and moves the watermark, in one statement. Latency
 * buckets are given by their upper bounds in ms (n_bounds - 1 bounds; the
 * last bucket is open). *calls_read (may be NULL) receives how many calls
 * were read. Never scans calls older than the watermark. */
TALLY_MUST_USE int ledger_router_update_stats(struct ledger *lg, int64_t settle_s,
                                              const int64_t *bounds, int n_bounds,
                                              int64_t *calls_read, struct tally_err *err);

/* One (task_type, tier) of router_stats summed over the days since a date. */
struct router_stat_row {
	char task_type[EVENT_NAME_MAX + 1];
	char tier[EVENT_TIER_MAX + 1];
	char model[EVENT_MODEL_MAX + 1]; /* the most used model of the latest day */
	int64_t calls, priced_calls, cost_pusd, quality_n;
	double quality_sum, quality_sumsq;
	int64_t latency_hist[LEDGER_ROUTER_LAT_BUCKETS];
};
/* The statistics of the days from since_us (UTC date) on, by task type and
 * tier; *rows is malloc'd (free it). */
TALLY_MUST_USE int ledger_router_load_stats(struct ledger *lg, int64_t since_us,
                                            struct router_stat_row **rows, size_t *n,
                                            struct tally_err *err);

/* One (task_type, workflow, tier) of router_workflow_stats summed over the
 * days since a date. */
struct router_workflow_stat_row {
	char task_type[EVENT_NAME_MAX + 1];
	char workflow[EVENT_NAME_MAX + 1];
	char tier[EVENT_TIER_MAX + 1];
	int64_t calls, priced_calls, cost_pusd, quality_n;
	double quality_sum, quality_sumsq;
};
/* The per-workflow statistics of the days from since_us (UTC date) on, of
 * the (task type, workflow) pairs where some tier has at least min_samples
 * quality samples (the others cannot decide for themselves), by task type,
 * workflow and tier (byte order); *rows is malloc'd (free it). */
TALLY_MUST_USE int ledger_router_load_workflow_stats(struct ledger *lg, int64_t since_us,
                                                     int64_t min_samples,
                                                     struct router_workflow_stat_row **rows,
                                                     size_t *n, struct tally_err *err);

/* ---- router overrides and policy versions (router_policy.c) ------------------------ */

#define LEDGER_ROUTER_MAX_ALLOWED 16 /* = ROUTER_MAX_ALLOWED of router.h */

/* A per task type override as stored. */
struct router_override_row {
	char task_type[EVENT_NAME_MAX + 1];
	bool has_tolerance;
	double tolerance;
	char pinned[EVENT_TIER_MAX + 1]; /* "" = none */
	char allowed[LEDGER_ROUTER_MAX_ALLOWED][EVENT_TIER_MAX + 1];
	size_t n_allowed;
	char updated_at[40], updated_by[EVENT_NAME_MAX + 1];
};
/* Every override; *rows is malloc'd (free it). */
TALLY_MUST_USE int ledger_router_overrides(struct ledger *lg, struct router_override_row **rows,
                                           size_t *n, struct tally_err *err);
/* Inserts or replaces an override and audits it, in one transaction. */
TALLY_MUST_USE int ledger_router_override_set(struct ledger *lg,
                                              const struct router_override_row *o,
                                              const char *actor, struct tally_err *err);
/* Deletes the override of task_type (audited); *found false when none. */
TALLY_MUST_USE int ledger_router_override_delete(struct ledger *lg, const char *task_type,
                                                 const char *actor, bool *found,
                                                 struct tally_err *err);

/* The newest policy version: *version 0 and *policy_json NULL when none;
 * otherwise *policy_json is malloc'd ({"task_type": "tier", ...}) and so is
 * *workflow_policy_json ({"task_type": {"workflow": "tier"}}) when
 * workflow_policy_json is not NULL. */
TALLY_MUST_USE int ledger_router_latest(struct ledger *lg, int64_t *version, char **policy_json,
                                        char **workflow_policy_json, struct tally_err *err);
/* Stores a new policy version, its audit_log entry and its webhook in
 * webhook_outbox (kind 'router.policy'), in one statement. changes_json is a
 * JSON array of n_task_changes task type and n_workflow_changes workflow
 * changes; saving_pusd the projected monthly saving. *version receives the
 * new version. */
TALLY_MUST_USE int ledger_router_store_version(struct ledger *lg, const char *trigger,
                                               const char *policy_json,
                                               const char *workflow_policy_json,
                                               const char *changes_json, int n_task_changes,
                                               int n_workflow_changes, int64_t saving_pusd,
                                               int64_t *version, struct tally_err *err);

/* Policy versions, newest first: JSON array text into *json (malloc'd) of
 * {"version","created_at","trigger","policy","workflow_policy","changes",
 * "projected_monthly_saving_usd"}. */
TALLY_MUST_USE int ledger_router_history(struct ledger *lg, int64_t limit, char **json,
                                         struct tally_err *err);

/* ---- reconciliation with the providers' own bills (reconcile_import.c,
 * reconcile.c; docs/reconcile.md) ---- */

enum reconcile_source { RECONCILE_OPENAI = 0, RECONCILE_ANTHROPIC, RECONCILE_FOCUS };
/* "openai" -> RECONCILE_OPENAI ...; -1 when unknown. */
int reconcile_source_parse(const char *s);
const char *reconcile_source_name(int source);

#define RECONCILE_TEXT_MAX 256

/* One billed line of a provider document, as the parser read it. */
struct reconcile_line {
	char day[11];                       /* YYYY-MM-DD (UTC) */
	char provider[EVENT_NAME_MAX + 1];  /* as billed; canonicalised in SQL */
	char project[RECONCILE_TEXT_MAX];   /* project / workspace / account; "" none */
	char line_item[RECONCILE_TEXT_MAX]; /* the bill's identity of the line */
	char model[EVENT_MODEL_MAX + 1];    /* model named by the line; "" unmatched */
	int64_t amount_pusd;                /* exact; see reconcile_parse */
	/* usage documents only (amount 0): what the provider counted */
	int64_t requests; /* -1 when the document does not count requests */
	int64_t input_tokens, output_tokens;
};

struct reconcile_doc {
	int source;
	bool usage;                   /* a usage document (tokens, requests), not a cost one */
	struct reconcile_line *lines; /* malloc'd */
	size_t n, cap;
	char period_start[11], period_end[11]; /* the days covered: [start, end) */
	size_t skipped;                        /* rows that are not LLM charges */
	size_t rounded; /* amounts with digits below 1e-12 USD (rounded half away) */
	char first_skip[RECONCILE_TEXT_MAX];
};

/* Parses one provider document: OpenAI's GET /v1/organization/costs answer
 * (amount.value in USD) or GET /v1/organization/usage/completions answer
 * (tokens and requests), Anthropic's GET /v1/organizations/cost_report answer
 * (amount: a decimal string of cents) or usage_report/messages answer
 * (tokens), or a FOCUS CSV (BilledCost in
 * BillingCurrency USD) of AWS, Azure or Google, keeping the Bedrock, Azure
 * OpenAI and Vertex AI rows. Amounts are read from their text, never through a
 * double, into pico-USD. Fills *doc (cleanup with reconcile_doc_cleanup, also
 * after an error). */
int reconcile_parse(int source, const char *text, size_t len, struct reconcile_doc *doc,
                    struct tally_err *err) __attribute__((warn_unused_result));
void reconcile_doc_cleanup(struct reconcile_doc *d); /* NULL is fine */

struct reconcile_import_result {
	int64_t import_id;
	size_t lines;    /* rows stored (lines summed per day and identity) */
	size_t replaced; /* rows of an earlier import of the same days replaced */
	int alerts;      /* drift alerts fired */
};
/* Stores a parsed document with its provenance (file name, SHA-256 hex),
 * replacing the rows of the same source, providers and days, audit-logged,
 * and fires the drift alerts its days newly pass, in one transaction. */
TALLY_MUST_USE int ledger_reconcile_store(struct ledger *lg, const struct reconcile_doc *d,
                                          const char *file_name, const char *sha256,
                                          const char *actor, struct reconcile_import_result *res,
                                          struct tally_err *err)
    __attribute__((warn_unused_result));

/* The admin-edited map of provider projects to teams. team NULL or "" removes
 * the entry (*found false when there was none). Audit-logged. */
TALLY_MUST_USE int ledger_reconcile_map_set(struct ledger *lg, const char *provider,
                                            const char *project, const char *team,
                                            const char *actor, bool *found, struct tally_err *err)
    __attribute__((warn_unused_result));
struct reconcile_map_row {
	char provider[EVENT_NAME_MAX + 1];
	char project[RECONCILE_TEXT_MAX];
	char team[EVENT_NAME_MAX + 1];
	char updated_at[40];
};
/* Every entry by provider and project; *rows malloc'd (free it). */
TALLY_MUST_USE int ledger_reconcile_map_list(struct ledger *lg, struct reconcile_map_row **rows,
                                             size_t *n, struct tally_err *err)
    __attribute__((warn_unused_result));

/* The drift alert threshold in percent ("5", "2.5"; NULL clears it), audited. */
TALLY_MUST_USE int ledger_reconcile_threshold_set(struct ledger *lg, const char *pct,
                                                  const char *actor, struct tally_err *err)
    __attribute__((warn_unused_result));

/* One row of the reconciliation: a day, provider, canonical model and team
 * (the team a project is mapped to; unmapped when none). Money as exact
 * decimal integers of pico-USD. */
struct reconcile_row {
	char day[11];
	char provider[EVENT_NAME_MAX + 1];
	char model[EVENT_MODEL_MAX + 1]; /* "" when unmatched */
	bool unmatched;                  /* billed lines naming no model tally reads */
	char team[EVENT_NAME_MAX + 1];   /* "" when unmapped */
	bool unmapped;
	char projects[RECONCILE_TEXT_MAX];                    /* billed projects, space-separated */
	char unmatched_lines[RECONCILE_TEXT_MAX];             /* their line items, "; "-separated */
	char billed_pusd[48], ledger_pusd[48], diff_pusd[48]; /* diff = billed - ledger */
	char diff_pct[24];      /* diff / billed x 100, 2 decimals half away; "" when billed 0 */
	bool billed, in_ledger; /* a bill line / ledger calls exist for the row */
	int64_t calls, unpriced_calls;
	bool usage;             /* a usage document covers the row: the three below are set */
	int64_t usage_requests; /* -1 when the document does not count requests */
	char usage_input[24], usage_output[24];   /* tokens the provider counted */
	char ledger_input[24], ledger_output[24]; /* tokens in the ledger */
	int64_t price_versions; /* price versions that priced the model's calls that day */
	bool price_changed;     /* a price of the model took effect that day */
};
struct reconcile_result {
	struct reconcile_row *rows; /* malloc'd, by day, provider, model, team */
	size_t n;
	char billed_pusd[48], ledger_pusd[48], diff_pusd[48], diff_pct[24]; /* totals */
};
/* Billed against ledger for the UTC days [from, to) touches: the ledger
 * side counts the (day, provider) pairs an imported document covers. */
TALLY_MUST_USE int ledger_reconcile(struct ledger *lg, int64_t from_us, int64_t to_us,
                                    struct reconcile_result *out, struct tally_err *err)
    __attribute__((warn_unused_result));
void reconcile_result_cleanup(struct reconcile_result *r); /* NULL is fine */

/* A drift alert as recorded (money as decimal integers of pico-USD). */
struct reconcile_alert_row {
	int64_t id, import_id;
	char day[11];
	char provider[EVENT_NAME_MAX + 1];
	char threshold_pct[24], diff_pct[24];
	char billed_pusd[48], ledger_pusd[48];
	char fired_at[40];
};
/* The newest limit alerts, newest first; *rows malloc'd (free it). */
TALLY_MUST_USE int ledger_reconcile_alerts(struct ledger *lg, int limit,
                                           struct reconcile_alert_row **rows, size_t *n,
                                           struct tally_err *err)
    __attribute__((warn_unused_result));

#endif
