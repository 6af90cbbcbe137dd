/* report.h - reports over the ledger, formatted as CSV or JSON. */
#ifndef TALLY_REPORT_H
#define TALLY_REPORT_H

#include <stdio.h>

#include "../ledger/ledger.h"

enum report_format { REPORT_CSV, REPORT_JSON };

/* Writes a spend report (rows and total) to sb. cost_usd is an exact decimal
 * string with 12 fraction digits. */
void report_spend_format(const struct spend_result *r, int dim, enum report_format fmt,
                         struct sbuf *sb);
/* Writes a spend series (JSON: a row per bucket and key, and the total) to
 * sb; bucket is BUCKET_HOUR or BUCKET_DAY. */
void report_spend_series_format(const struct spend_series *s, int dim, int bucket, struct sbuf *sb);

/* ---- finance reports (chargeback.c, focus.c, audit.c, outcomes.c, waste.c,
 * budget.c, util.c) ---- */

/* Formats a decimal integer of pico-USD as USD with 12 fraction digits;
 * "0.000000000000" when digits is not an integer. */
void report_usd(const char *pusd, char *out, size_t n);
/* Appends s as one CSV field (quoted when it holds , " CR or LF). The one
 * place every CSV tally writes goes through: a text starting with = + - @,
 * TAB, CR or ' gets a leading ' so that no spreadsheet runs it as a formula
 * (OWASP's advice for CSV injection). NULL appends nothing. */
void report_csv_field(struct sbuf *sb, const char *s);
/* Undoes report_csv_field's mark on an unquoted field, in place. */
void report_csv_unmark(char *s);
/* Parses "YYYY-MM" into [first instant of the month, first of the next). */
int report_month(const char *s, int64_t *from_us, int64_t *to_us);

/* Chargeback (CSV header month,cost_center,team,calls,input_tokens,
 * output_tokens,cost_usd,share_pct; JSON with totals and method). When team
 * is not NULL only that team's row is shown (a viewer), totals of it. */
void report_chargeback_format(const struct chargeback_result *r, const char *month,
                              const char *team, enum report_format fmt, struct sbuf *sb);
/* Teams and their cost centres (CSV header team,cost_center,first_seen; JSON
 * {"teams":[...]} with cost_center null when unassigned). When team is not
 * NULL only that team is shown (a viewer). */
void report_teams_format(const struct team_row *rows, size_t n, const char *team,
                         enum report_format fmt, struct sbuf *sb);
/* The sentence describing r->method, for stderr and JSON. */
const char *report_share_method(const char *method);

/* Where a streamed report goes: returns 0, or -1 to stop. */
typedef int (*report_write_fn)(void *ctx, const char *data, size_t len);

#define FOCUS_VERSION        "1.2"
#define REPORT_TALLY_VERSION "0.1.0" /* DataGenerator version in the FOCUS metadata */
/* The schema metadata beside an exported FILE: FILE.metadata.json. */
#define FOCUS_METADATA_SUFFIX ".metadata.json"

/* Streams the FOCUS 1.2 CSV for [from, to) (docs/focus.md) through out;
 * constant memory. *rows (may be NULL) receives the data rows written. */
int report_focus(struct ledger *lg, int64_t from_us, int64_t to_us, bool hourly,
                 report_write_fn out, void *ctx, int64_t *rows, struct tally_err *err);
/* The same into path through path.partial + rename (stdout when path is NULL
 * or "-"), with its schema metadata in path FOCUS_METADATA_SUFFIX (written
 * before the CSV appears under its name). */
int report_focus_file(struct ledger *lg, int64_t from_us, int64_t to_us, bool hourly,
                      const char *path, int64_t *rows, struct tally_err *err);

/* Appends the FOCUS schema metadata (SchemaId, FocusVersion, DataGenerator
 * and its version, CreationDate, ColumnDefinition with ProviderTagPrefixes:
 * the spec's "Metadata" section) as one JSON object and a newline. */
void report_focus_metadata(const char *creation_date, struct sbuf *b);
/* ProviderName of self-hosted models: $TALLY_FOCUS_SELF_HOSTED_PROVIDER, else
 * "Self-hosted". */
const char *report_focus_self_hosted(void);

/* Writes the audit bundle of [from, to) into dir (created when missing):
 * one CSV per record kind, each line "seq,fields...,chain" where chain is
 * the SHA-256 of the previous line's chain and this line, and manifest.json
 * (per file SHA-256 and rows, period, generation time, audit-log chain head,
 * seal). Every file goes through a temp name and rename. */
int report_audit_export(struct ledger *lg, int64_t from_us, int64_t to_us, const char *dir,
                        struct sbuf *summary, struct tally_err *err);
/* Verifies a bundle. Returns 0 when intact, 1 when not (msg names the first
 * bad file and record), -1 when it cannot be read at all (err). */
int report_audit_verify(const char *dir, struct sbuf *msg, struct tally_err *err);

/* Cost per outcome and waste for [from, to); team (may be NULL) limits the
 * waste report to one team. window_s: repeated-prompt window. The waste
 * report's over-tier column judges each call by the routing policy version
 * in force when it was made, or by policy_version when > 0 (docs/router.md). */
int report_outcomes(struct ledger *lg, int64_t from_us, int64_t to_us, enum report_format fmt,
                    struct sbuf *sb, struct tally_err *err);
int report_waste(struct ledger *lg, int64_t from_us, int64_t to_us, int64_t window_s,
                 const char *team, int64_t policy_version, enum report_format fmt, struct sbuf *sb,
                 struct tally_err *err);
/* provider_cost_usd against tally's cost per provider and model in [from,
 * to) (reports/mismatch.c). */
int report_cost_mismatch(struct ledger *lg, int64_t from_us, int64_t to_us, enum report_format fmt,
                         struct sbuf *sb, struct tally_err *err);

/* Budgets with spend and forecast as of at_us, and the alerts, newest first
 * (limit of them after skipping offset). team (may be NULL): a viewer's team
 * only. */
int report_budgets(struct ledger *lg, int64_t at_us, const char *team, enum report_format fmt,
                   struct sbuf *sb, struct tally_err *err);
int report_alerts(struct ledger *lg, int limit, int64_t offset, const char *team, struct sbuf *sb,
                  struct tally_err *err);
/* Parses a USD amount ("1500", "99.95") into pico-USD digits (out >= 48). */
int report_usd_parse(const char *usd, char *out, size_t n);

/* One webhook delivery attempt: POSTs body to url with Content-Type JSON,
 * X-Tally-Signature: sha256=<HMAC-SHA256 hex of body with secret> (when
 * secret is not empty) and X-Tally-Delivery: id. 0 on a 2xx answer. */
int report_webhook_post(const char *url, const char *secret, int64_t id, const char *kind,
                        const char *body, struct tally_err *err);
/* Delivers every due outbox row (up to 100) while !stopping(arg); returns
 * how many were attempted. */
int report_webhook_deliver_due(const struct tally_config *cfg, struct ledger *lg,
                               bool (*stopping)(void *), void *arg);
/* HMAC-SHA256 of body with key as 64 hex digits (out holds 65). */
void report_hmac_hex(const char *key, const char *body, size_t len, char *out);

/* The background loop of `tally up` / `tally serve`: every few seconds
 * evaluates the budgets (alerts into the outbox) and delivers the webhook
 * outbox (retries with backoff, across restarts). cfg must outlive it.
 * Returns NULL with err set. */
struct reports_bg;
struct reports_bg *reports_start(const struct tally_config *cfg, struct tally_err *err);
void reports_stop(struct reports_bg *bg); /* NULL is fine; joins the thread */

/* Reconciliation (reconcile.c): billed against ledger per day, provider,
 * model and team with the difference, its percentage and what explains it
 * (docs/reconcile.md). CSV header: day,provider,model,team,projects,
 * billed_usd,ledger_usd,diff_usd,diff_pct,calls,unpriced_calls,explanation;
 * JSON with totals. */
void report_reconcile_format(const struct reconcile_result *r, const char *from, const char *to,
                             enum report_format fmt, struct sbuf *sb);

#endif
