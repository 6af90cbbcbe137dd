/* cmd.h - the subcommands of bin/tally. Each returns the process exit
 * status: 0 success, 1 runtime failure, 2 bad usage. */
#ifndef TALLY_CMD_H
#define TALLY_CMD_H

int cmd_up(int argc, char **argv);
int cmd_migrate(int argc, char **argv);
int cmd_collect(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_dev_kafka(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_produce(int argc, char **argv);
int cmd_prices(int argc, char **argv);
int cmd_rollups(int argc, char **argv);
int cmd_keys(int argc, char **argv);
/* reports_cmds.c: finance reports, exports, teams, budgets */
int cmd_teams(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_budgets(int argc, char **argv);
int cmd_router(int argc, char **argv);
/* reconcile.c: provider bills against the ledger */
int cmd_reconcile(int argc, char **argv);

/* The reports of `tally report`, declared once: X(word, function), in the
 * order `tally report --help` lists them. Their prototypes below, and the
 * dispatch and usage of cmd_report (report.c), come from this list. The
 * functions live in report.c (spend), reconcile.c (reconcile) and
 * reports_cmds.c (the others). */
#define CMD_REPORTS(X)                                                                             \
	X(spend, cmd_report_spend)                                                                 \
	X(chargeback, cmd_report_chargeback)                                                       \
	X(outcomes, cmd_report_outcomes)                                                           \
	X(waste, cmd_report_waste)                                                                 \
	X(reconcile, cmd_report_reconcile)                                                         \
	X(mismatches, cmd_report_mismatches)
#define CMD_REPORT_PROTO_(word, fn) int fn(int argc, char **argv);
CMD_REPORTS(CMD_REPORT_PROTO_)
#undef CMD_REPORT_PROTO_

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

/* Set by SIGINT/SIGTERM; a second signal exits at once. */
extern volatile sig_atomic_t cmd_stop;
void cmd_install_signals(void);
/* Value of "--name VALUE" or "--name=VALUE" at argv[*i] (advancing *i), or
 * NULL when argv[*i] is not that option. Sets *missing when the value is. */
const char *cmd_opt(int argc, char **argv, int *i, const char *name, bool *missing);
/* Parses a --from/--to value (RFC 3339 or YYYY-MM-DD). */
int cmd_time(const char *opt, const char *s, int64_t *us);
/* --last 24h|7d|4w: [now - that, now). Prints the error and returns -1. */
int cmd_last(const char *s, int64_t now_us, int64_t *from_us, int64_t *to_us);

#include <stddef.h>
#include <stdio.h>

#define TALLY_VERSION "0.1.0"

/* table.c: reports for people on a terminal. Money under $1 to four
 * significant digits, trailing zeros dropped ("$0.003743", "$0.02"), else to
 * the cent ("$1,234.57"), half
 * away from zero, from the exact pico-USD digits; counts grouped by
 * thousands. */
void cmd_usd_text(const char *pusd, char *out, size_t n);
void cmd_count_text(int64_t v, char *out, size_t n);

#define CMD_TABLE_COLS 12
struct cmd_table {
	int cols;
	const char *heads[CMD_TABLE_COLS];
	bool num[CMD_TABLE_COLS]; /* right-aligned */
	int width[CMD_TABLE_COLS];
	char **cells; /* rows x cols, each malloc'd */
	size_t rows, cap;
};
void cmd_table_init(struct cmd_table *t, int cols, const char *const *heads, const bool *num);
/* Copies the cells. -1 when out of memory. */
int cmd_table_row(struct cmd_table *t, const char *const *cells);
/* The last total_rows rows are set apart by a rule (totals). */
void cmd_table_print(const struct cmd_table *t, FILE *fp, size_t total_rows);
void cmd_table_cleanup(struct cmd_table *t);
/* Loads configuration (and endpoints.env for a running `tally up`) and sets
 * the log level. Returns -1 after printing the error. */
struct tally_config;
int cmd_config(struct tally_config *cfg, bool use_endpoints);
/* Opens the ledger of a loaded configuration, or prints why not (no
 * database configured, or the connection's error) and returns NULL. The
 * caller closes it with ledger_close. */
struct ledger;
struct ledger *cmd_open_ledger(const struct tally_config *cfg);
/* Parses and stores a price list (LiteLLM JSON or tally CSV); prints a
 * summary (or logs it when quiet). Shared with `tally up`'s first start. */
struct ledger;
int cmd_prices_load(struct ledger *lg, const char *text, size_t len, bool litellm,
                    int64_t effective_from, const char *source, bool quiet);

#endif
