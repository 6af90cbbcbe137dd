/* main.c - bin/tally: one binary, one subcommand per job. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"

static const struct {
	const char *name;
	int (*fn)(int, char **);
	const char *help;
} commands[] = {
    {"up", cmd_up, "all-in-one: embedded services, migrations, collector (--demo: traffic)"},
    {"migrate", cmd_migrate, "apply migrations/*.sql not yet applied"},
    {"collect", cmd_collect, "the collector alone (one consumer group member)"},
    {"serve", cmd_serve, "web/API + router alone"},
    {"status", cmd_status, "ledger counts and per-partition offsets and lag [--format json]"},
    {"dev-kafka", cmd_dev_kafka, "an embedded Kafka cluster as its own process"},
    {"report", cmd_report,
     "report spend (--from TS --to TS | --last 7d) --group-by DIM [--format table|csv|json]"
     " | report chargeback|outcomes|waste ..."},
    {"produce", cmd_produce, "JSON events (one per line) to the right topics [FILE]"},
    {"prices", cmd_prices, "prices import FILE --format litellm|csv | prices reprice"},
    {"rollups", cmd_rollups,
     "rollups rebuild --from TS --to TS: from the calls table; rollups merge: sum the"
     " queued calls"},
    {"router", cmd_router, "router eval --data FILE: replay a routing data set (docs/router.md)"},
    {"keys", cmd_keys, "keys create --role admin|finance|viewer [--team T] | list | revoke ID"},
    {"teams", cmd_teams, "teams set-cost-center TEAM CC | teams list"},
    {"export", cmd_export,
     "export focus --from --to [-o FILE] | export audit --from --to --out DIR"},
    {"audit", cmd_audit, "audit verify DIR: checks an audit bundle"},
    {"budgets", cmd_budgets,
     "budgets set|list|delete|alerts|evaluate|run (monthly per team/workflow)"},
    {"reconcile", cmd_reconcile,
     "reconcile import FILE --format openai|anthropic|focus | map | threshold"},
};

static void usage(FILE *fp)
{
	fprintf(fp, "usage: tally COMMAND [OPTIONS]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(fp, "  %-10s %s\n", commands[i].name, commands[i].help);
	fprintf(fp, "\n`tally COMMAND --help` describes one command; configuration: TALLY_*"
	            " environment variables (README.md); docs/ has the rest\n");
}

/* `tally COMMAND --help` (or -h) anywhere in its arguments: the command's
 * line of the table, before the command parses anything. report spend has
 * a longer text of its own. */
static bool wants_help(int argc, char **argv)
{
	for (int i = 2; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return true;
	return false;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
		printf("tally %s\n", TALLY_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		if (strcmp(argv[1], commands[i].name) != 0)
			continue;
		if (wants_help(argc, argv) && !(strcmp(argv[1], "report") == 0 && argc > 2 &&
		                                strcmp(argv[2], "spend") == 0)) {
			printf("usage: tally %s\n\n  %s\n\nSee README.md (Commands) and docs/.\n",
			       commands[i].name, commands[i].help);
			return 0;
		}
		return commands[i].fn(argc - 1, argv + 1);
	}
	fprintf(stderr, "tally: unknown command \"%s\"; run `tally --help` for the list\n",
	        argv[1]);
	return 2;
}
