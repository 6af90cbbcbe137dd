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
int cmd_report_chargeback(int argc, char **argv);
int cmd_report_outcomes(int argc, char **argv);
int cmd_report_waste(int argc, char **argv);
int cmd_report_mismatches(int argc, char **argv);
int cmd_router(int argc, char **argv);
/* reconcile.c: provider bills against the ledger */
int cmd_reconcile(int argc, char **argv);
int cmd_report_reconcile(int argc, char **argv);

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
/* Loads configuration (and endpoints.env for a running `tally up`) and sets
 * the log level. Returns -1 after printing the error. */
struct tally_config;
int cmd_config(struct tally_config *cfg, bool use_endpoints);
/* Parses and stores a price list (LiteLLM JSON or tally CSV); prints a
 * summary (or logs it when quiet). Shared with `tally up`'s first start. */
struct ledger;
int cmd_prices_load(struct ledger *lg, const char *text, size_t len, bool litellm,
                    int64_t effective_from, const char *source, bool quiet);

#endif
