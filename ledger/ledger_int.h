/* ledger_int.h - shared between the ledger's own files only. */
#ifndef TALLY_LEDGER_INT_H
#define TALLY_LEDGER_INT_H

#include <libpq-fe.h>

#include "ledger.h"

#define LEDGER_MONTHS_CACHED     64
#define LEDGER_BINARY_PARAMS_MAX 16 /* ledger_exec_prepared_binary */

struct ledger {
	PGconn *conn;
	char *conninfo;
	bool prepared;
	bool async_commit;
	int32_t months[LEDGER_MONTHS_CACHED]; /* month partitions known to exist */
	size_t n_months;
	struct sbuf copybuf;
	struct sbuf params[LEDGER_BINARY_PARAMS_MAX]; /* a batch's array parameters */
	/* The window (ledger/batch_write.c): its transaction is open while
	 * window_open; batches stored in it so far, their rollups, when it
	 * began (monotonic). */
	bool window_open; /* and the savepoint "batch" set for the next batch */
	size_t window_batches;
	int64_t window_began_us;
	bool *keep; /* per call of the batch being written */
	size_t cap_keep;
	struct win_offset *win_off; /* the window's partitions (offsets.c) */
	size_t n_win_off, cap_win_off;
	const struct ledger_source *win_src; /* whose offsets the window stores */
	/* What the recent windows stored, for batches looked up ahead
	 * (calls_probe.c; NULL unless ledger_track_seen); the lookup ahead's
	 * statement prepared on this session. */
	struct seen *seen;
	bool ahead_prepared;
};

/* A partition in the open window: fenced (its row read and locked) with the
 * stored next offset then (-1: none), and the next offset after the
 * window's stored batches (-1: none yet). */
struct win_offset {
	char topic[256];
	int32_t partition;
	bool fenced;
	int64_t stored, next;
};

/* A timestamp column as ISO 8601 UTC text, to the second or the microsecond;
 * SQL_TS_TEXT gives "" for NULL. */
#define SQL_ISO(col)     "to_char(" col ", 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define SQL_ISO_US(col)  "to_char(" col ", 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
#define SQL_TS_TEXT(col) "coalesce(" SQL_ISO(col) ", '')"

/* Cell (r, c) of res as an integer (0 for SQL NULL), as a flag (true for
 * 't'), or copied into out as text ("" for SQL NULL). */
int64_t ledger_i64(const PGresult *res, int r, int c);
bool ledger_bool(const PGresult *res, int r, int c);
void ledger_str(const PGresult *res, int r, int c, char *out, size_t n);

/* Decodes row r of res into *row (an element of the caller's row type). */
typedef void (*ledger_decode_fn)(const PGresult *res, int r, void *row);
/* Runs sql with text parameters $1..$n and decodes every row of its answer
 * with decode into a malloc'd array of *n_rows elements of size bytes each,
 * stored in the caller's pointer whose address is rows (NULL when none; the
 * caller frees it); what names the statement in errors. A typed reader is
 * its statement, an enum of the statement's columns and a decode function. */
int ledger_load_rows(struct ledger *lg, const char *sql, int n, const char *const *p,
                     const char *what, size_t size, ledger_decode_fn decode, void *rows,
                     size_t *n_rows, struct tally_err *err);

/* Streams the rows of stmt ($1..$n: params) to fn through a server-side
 * cursor (query.c): in the caller's transaction when one is open
 * (ledger_snapshot_begin), else in a read-only one of its own. */
int ledger_stream(struct ledger *lg, const char *stmt, const char *const *params, int n,
                  ledger_row_fn fn, void *ctx, struct tally_err *err);

/* Sets err from a failed result or connection; clears res. Returns -1. */
int ledger_fail(struct ledger *lg, PGresult *res, const char *what, struct tally_err *err);
/* Runs a statement without results. */
int ledger_exec(struct ledger *lg, const char *sql, struct tally_err *err);
/* Runs a statement with text parameters $1..$n; what names it in the error.
 * With out, the result is handed over (the caller PQclears it); else cleared. */
int ledger_exec_params(struct ledger *lg, const char *sql, int n, const char *const *p,
                       const char *what, PGresult **out, struct tally_err *err);
/* Ends the open transaction: COMMIT when rc is 0 (and the commit works),
 * else ROLLBACK. Returns 0 when committed, -1 otherwise (err set by the
 * failure that led here, or by the COMMIT). */
int ledger_tx_end(struct ledger *lg, int rc, struct tally_err *err);
/* Runs COPY ... FROM STDIN with data. */
int ledger_copy(struct ledger *lg, const char *copy_sql, const char *data, size_t len,
                struct tally_err *err);
/* Runs the prepared statement name with text parameters $1..$n; with out,
 * the result is handed over (the caller PQclears it), else cleared. */
int ledger_exec_prepared(struct ledger *lg, const char *name, int n, const char *const *params,
                         PGresult **out, struct tally_err *err);
/* A prepared statement whose n parameters (at most LEDGER_BINARY_PARAMS_MAX:
 * lg->params) are binary arrays (copyb_array_*); its rows into *out when
 * out (the caller clears it). */
int ledger_exec_prepared_binary(struct ledger *lg, const char *name, int n,
                                const struct sbuf *params, PGresult **out, struct tally_err *err);
/* COPYs the rows in s into a staging table, then runs the prepared statement
 * stmt (without parameters) that moves them on. */
int ledger_stage_run(struct ledger *lg, const char *copy_sql, const struct sbuf *s,
                     const char *stmt, struct tally_err *err);
/* Prepares the hot-path statements and staging tables of this session
 * (ledger/batch_write.c): each writer's own, below. */
int ledger_prepare(struct ledger *lg, struct tally_err *err);
/* The statements of the calls' writer (calls_write.c) and of the offsets
 * (offsets.c). */
int ledger_calls_prepare(struct ledger *lg, struct tally_err *err);
int ledger_offsets_prepare(struct ledger *lg, struct tally_err *err);
/* Inside the window's transaction (offsets.c): the stored next offsets of
 * the batch's partitions into stored[i] (of b->marks[i]; -1 when none), as
 * stored or as the window's earlier batches moved them, locked until commit
 * so that a second collector cannot store the same messages at the same
 * time (read once per partition and window). note: the batch is stored, its
 * new next offsets are the window's. store: the window's next offsets, at
 * its commit. unfence: a batch was undone, and the locks its savepoint
 * took with it; reset: the window ended. */
int ledger_offsets_fence(struct ledger *lg, const struct ledger_source *src,
                         const struct ledger_batch *b, int64_t *stored, struct tally_err *err);
int ledger_offsets_note(struct ledger *lg, const struct ledger_batch *b, struct tally_err *err);
int ledger_offsets_store(struct ledger *lg, const struct ledger_source *src, struct tally_err *err);
void ledger_offsets_unfence(struct ledger *lg);
void ledger_offsets_window_reset(struct ledger *lg);
/* The window's state in memory (batches, rollup sums, offsets) cleared: it
 * ended, committed or not (batch_write.c; every end of a window calls it). */
void ledger_window_forget(struct ledger *lg);
/* COPY text fields: a timestamp; a text or \N when empty. */
void ledger_copy_ts(struct sbuf *s, int64_t us);
void ledger_copy_opt_text(struct sbuf *s, const char *v);

/* COPY's binary format (copy_binary.c): the header before the rows and the
 * trailer after them; a row of so many fields, then each field: NULL; a
 * text (NULL: NULL; opt: "" is NULL too); a jsonb ("" is NULL); bigint,
 * integer, boolean; a timestamptz of microseconds since the Unix epoch; a
 * real as PostgreSQL parses the score's text. A field whose bytes are
 * written after it begins: copyb_var_begin, the bytes, copyb_var_end (null:
 * the field becomes NULL, its bytes dropped). */
void copyb_header(struct sbuf *s);
void copyb_trailer(struct sbuf *s);
void copyb_row(struct sbuf *s, int fields);
void copyb_null(struct sbuf *s);
void copyb_text(struct sbuf *s, const char *v);
void copyb_opt_text(struct sbuf *s, const char *v);
void copyb_jsonb(struct sbuf *s, const char *json);
void copyb_i64(struct sbuf *s, int64_t v);
void copyb_opt_i64(struct sbuf *s, bool present, int64_t v); /* NULL unless present */
void copyb_i32(struct sbuf *s, int32_t v);
void copyb_bool(struct sbuf *s, bool v);
void copyb_ts(struct sbuf *s, int64_t unix_us);
void copyb_score(struct sbuf *s, double v);
size_t copyb_var_begin(struct sbuf *s);
void copyb_var_end(struct sbuf *s, size_t at, bool null);
/* An array parameter in the binary format (PostgreSQL's array_recv), its
 * elements written with the field encoders above (an element is encoded as
 * a field is): copyb_array_begin with the element type, the elements,
 * copyb_array_end with their count (at least one). Sent with
 * ledger_exec_prepared_binary. */
enum pg_type_oid {
	PG_BOOL = 16,
	PG_INT8 = 20,
	PG_INT4 = 23,
	PG_TEXT = 25,
	PG_FLOAT4 = 700,
	PG_TIMESTAMPTZ = 1184
};
void copyb_array_begin(struct sbuf *s, enum pg_type_oid elem);
void copyb_array_end(struct sbuf *s, size_t n);

/* Copies JSON text into out with every number outside a string quoted, so
 * that cJSON hands back the original digits instead of a double (exact
 * money). Newlines are kept. priceimport.c; used by reconcile_import.c. */
int ledger_json_quote_numbers(const char *json, size_t len, struct sbuf *out,
                              struct tally_err *err);

/* The columns of a call row as COPY writes them. */
#define LEDGER_CALL_COLS                                                                           \
	"event_id, ts, team, workflow, task_type, outcome_id, provider, model, tier, "             \
	"input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, "                     \
	"reasoning_tokens, usage_shape, batch, cache_hit, local, status, latency_ms, "             \
	"prompt_hash, quality, provider_cost_pusd, cost_pusd, price_version, tags, "               \
	"kafka_topic, kafka_partition, kafka_offset, service_tier, data_residency, "               \
	"inference_geo, speed, unpriced_reason, components"

/* True when pos is below the offset already stored for its partition
 * (stored[i] belongs to b->marks[i]). */
bool ledger_batch_already_stored(const struct ledger_batch *b, const int64_t *stored,
                                 const struct kafka_pos *pos);
/* Appends v as a double-quoted element of a PostgreSQL array literal. */
void ledger_array_elem(struct sbuf *s, const char *v);
/* Appends a call's components as the COPY text field of calls.components:
 * the text, or \N when the call used none (ledger/components.c). */
void ledger_copy_components(struct sbuf *s, const struct call_price *p);
/* Appends one call as a row of LEDGER_CALL_COLS in COPY's binary format. */
void ledger_copy_call(struct sbuf *s, const struct call_row *r);
/* Inside an open transaction that holds rollup_queue locked: the queued
 * calls summed into the rollups' rows and the queue emptied of them
 * (ledger/rollups_write.c); *rolled: the transactions summed. */
int ledger_rollups_roll_in_tx(struct ledger *lg, int64_t *rolled, struct tally_err *err);
/* Prepares one statement of this session. */
int ledger_prepare_one(struct ledger *lg, const char *name, const char *sql, struct tally_err *err);
/* Runs a prepared statement without parameters or rows. */
int ledger_run_prepared(struct ledger *lg, const char *name, struct tally_err *err);
/* Grows the flags *p (capacity *cap) to hold n; -1: out of memory, *p kept. */
int ledger_grow_flags(bool **p, size_t *cap, size_t n);
/* A batch's rows by event_id (calls_probe.c): the rows of an event_id
 * after the first one added are chained to it (next). add adds row i,
 * unless dedupe and a row of its event_id already added lies within
 * LEDGER_DEDUPE_WINDOW_US of its ts: then that row is returned (else -1). */
struct ledger_rowset {
	int32_t *slots, *next; /* slots: -1 = empty */
	size_t mask;
};
int ledger_rowset_init(struct ledger_rowset *rs, size_t n);
void ledger_rowset_free(struct ledger_rowset *rs);
int32_t ledger_rowset_add(struct ledger_rowset *rs, const struct ledger_batch *b, int32_t i,
                          bool dedupe);
/* Inside the window's transaction (calls_probe.c): clears keep[i] for the
 * n_keep kept rows (found through ids) whose event_ids the ledger has
 * within the window of their ts; looked up here, or only what a lookup
 * ahead may not have seen. prepare: its statement. */
int ledger_calls_probe(struct ledger *lg, const struct ledger_batch *b,
                       const struct ledger_rowset *ids, bool *keep, size_t n_keep,
                       struct tally_err *err);
int ledger_calls_probe_prepare(struct ledger *lg, struct tally_err *err);
/* What the writer's windows stored, remembered for lookups ahead
 * (calls_probe.c): a batch's kept calls once it is in the window; the
 * window committed, or rolled back; the session reconnected; freed. Each
 * does nothing unless ledger_track_seen was called. */
void ledger_seen_stored(struct ledger *lg, const struct ledger_batch *b, const bool *keep);
void ledger_seen_committed(struct ledger *lg);
void ledger_seen_aborted(struct ledger *lg);
void ledger_seen_reset(struct ledger *lg);
void ledger_seen_free(struct ledger *lg);
/* Inside the window's transaction: the batch's new calls; keep[i] (b->n_calls
 * of them, set here) tells which were stored. */
int ledger_write_calls(struct ledger *lg, const struct ledger_batch *b, const int64_t *stored,
                       bool *keep, struct ledger_batch_result *res, struct tally_err *err);

/* rollup_tags_hourly's rows (migrations/0014_tag_rollups.sql) summed from
 * the calls in [$1, $2): one per tag key and value the calls carry, the
 * value as jsonb_each_text gives it (what ledger/rollups_write.c sums at
 * ingestion, through event_tags_each). */
#define LEDGER_TAGS_FROM_CALLS                                                                     \
	"SELECT t.key, date_trunc('hour', c.ts), c.team, c.workflow, t.value, count(*),"           \
	" sum(c.input_tokens), sum(c.output_tokens), sum(c.cache_read_tokens),"                    \
	" sum(c.cache_write_tokens), sum(c.reasoning_tokens), coalesce(sum(c.cost_pusd), 0),"      \
	" count(*) FILTER (WHERE c.cost_pusd IS NULL)"                                             \
	" FROM calls c CROSS JOIN LATERAL jsonb_each_text(CASE jsonb_typeof(c.tags)"               \
	" WHEN 'object' THEN c.tags ELSE '{}'::jsonb END) t"                                       \
	" WHERE c.ts >= $1 AND c.ts < $2 AND t.value IS NOT NULL GROUP BY 1, 2, 3, 4, 5"

/* Over-tier arithmetic, shared by the waste report and the router's savings
 * (docs/reports.md, docs/router.md). FROM and TO are the period's parameters
 * ($n::timestamptz), VERSION a bigint parameter: NULL judges each call by
 * the policy version in force when it was made (the newest created at or
 * before its ts; calls before the first version are not judged), a number
 * judges every call by that version. So a past period's figure never
 * changes when a new version appears.
 *  - oc: the period's priced calls per team, workflow, task type, tier and
 *    the version that judges them (NULL: none), n and cost;
 *  - pc: each (task type, tier)'s mean cost per call over the period
 *    (pico-USD, truncated);
 *  - dear: the oc rows on a tier dearer per call than their version's tier
 *    for the task type, with policy_tier and per_call (the policy tier's).
 * Their over-tier spend is cost - n x per_call. The version of each call is
 * found by a binary search (width_bucket) over the versions' creation
 * times, not by a join per call. */
#define LEDGER_OVER_TIER_CTES(FROM, TO, VERSION)                                                   \
	" vb AS (SELECT array_agg(created_at ORDER BY created_at, version) AS at,"                 \
	"  array_agg(version ORDER BY created_at, version) AS v FROM router_policy_versions),"     \
	" oc AS (SELECT c.team, c.workflow, c.task_type, c.tier,"                                  \
	"  CASE WHEN " VERSION "::bigint IS NOT NULL THEN " VERSION "::bigint"                     \
	"  ELSE vb.v[nullif(width_bucket(c.ts, vb.at), 0)] END AS version,"                        \
	"  count(*) AS n, sum(c.cost_pusd) AS cost"                                                \
	"  FROM calls c CROSS JOIN vb WHERE c.ts >= " FROM "::timestamptz"                         \
	"  AND c.ts < " TO "::timestamptz AND c.cost_pusd IS NOT NULL GROUP BY 1, 2, 3, 4, 5),"    \
	" pc AS (SELECT task_type, tier, trunc(sum(cost) / sum(n)) AS per_call FROM oc"            \
	"  GROUP BY 1, 2),"                                                                        \
	" pol AS (SELECT DISTINCT oc.version, oc.task_type, v.policy ->> oc.task_type AS tier"     \
	"  FROM (SELECT DISTINCT version, task_type FROM oc) oc"                                   \
	"  JOIN router_policy_versions v ON v.version = oc.version),"                              \
	" dear AS (SELECT oc.*, pol.tier AS policy_tier, pp.per_call FROM oc"                      \
	"  JOIN pol ON pol.version = oc.version AND pol.task_type = oc.task_type"                  \
	"  JOIN pc pp ON pp.task_type = oc.task_type AND pp.tier = pol.tier"                       \
	"  JOIN pc sp ON sp.task_type = oc.task_type AND sp.tier = oc.tier"                        \
	"  WHERE oc.tier <> pol.tier AND sp.per_call > pp.per_call)," /* whether some version      \
	                                                                 judges the period, and    \
	                                                                 which ones ("1,2") */     \
	" judged AS (SELECT EXISTS (SELECT 1 FROM router_policy_versions v"                        \
	"  WHERE CASE WHEN " VERSION "::bigint IS NULL THEN v.created_at < " TO "::timestamptz"    \
	"  ELSE v.version = " VERSION "::bigint END) AS judges,"                                   \
	"  (SELECT string_agg(version::text, ',' ORDER BY version) FROM"                           \
	"   (SELECT DISTINCT version FROM oc WHERE version IS NOT NULL) x) AS versions)"

/* The price-book rate, scalar and tier columns (from ledger/price_components.h),
 * each prefixed by alias ("" or "s."), comma-separated; and a price's fields
 * read back from columns c0.. of a row in that order. */
void ledger_price_cols(struct sbuf *s, const char *alias);
void ledger_price_from_row(PGresult *res, int r, int c0, struct price *p);

/* The SQL group expression of a spend dimension (fixed text chosen by enum,
 * never user input). */
const char *ledger_spend_dim_sql(int dim);

/* The row source of a spend query, aliased x by the caller, and its
 * parameters: $1 team or NULL, $2 workflow or NULL, then the bounds of each
 * part. Whole days come from rollup_daily, whole hours around them from
 * rollup_hourly, whole quarter hours at the edges from rollup_quarter, and
 * only the partial quarters at the two edges (less than 15 minutes each)
 * from the calls — or, when less of an edge's quarter lies outside the
 * range, that quarter's rollup row less the calls outside it — so any range
 * reads about as much as its whole-hour neighbour. Grouping by outcome (not
 * in the rollups) reads the calls; hour_buckets keeps to hourly rows and
 * finer. At most 9 parts (3 per edge, 3 between): 20 parameters. */
#define SPEND_SOURCE_PARAMS 24
struct spend_source {
	const char *sql; /* points into buf */
	char buf[8192];
	char p[SPEND_SOURCE_PARAMS][40];
	const char *params[SPEND_SOURCE_PARAMS];
	int n_params;
	bool overflow; /* a bug: more parts than the buffers hold */
};
void ledger_spend_source(const struct spend_query *q, bool hour_buckets, struct spend_source *s);

#endif
