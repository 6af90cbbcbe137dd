/* report.c - `tally report`: the dispatch over CMD_REPORTS (cmd.h), and the
 * spend report. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/common.h"
#include "../ledger/ledger.h"
#include "../reports/report.h"
#include "cmd.h"

static const char spend_usage[] =
    "usage: tally report spend (--from TS --to TS | --last 24h|7d|4w) --group-by DIM\n"
    "                          [--team T] [--workflow W] [--format table|csv|json]\n"
    "\n"
    "Spend, calls and tokens by one dimension over [from, to): DIM is team, cost_center,\n"
    "workflow, task_type, model, tier, provider, outcome, day (sorted by day; the others\n"
    "by cost, highest first), tag:KEY, user or api_key (docs/integrations.md). TS is RFC 3339 or a "
    "date (midnight UTC). On a terminal the\n"
    "default format is a table with totals and money rounded for reading; piped, it is\n"
    "CSV with exact decimals. Spend of teams without a cost centre shows as\n"
    "(unassigned). An unknown --team or --workflow is an error (exit 2).\n";

static int by_key(const void *a, const void *b)
{
	return strcmp(((const struct spend_row *)a)->key, ((const struct spend_row *)b)->key);
}

/* The spend report as a table: one row per key, then the totals. */
static int spend_table(const struct spend_result *r, int dim, FILE *fp)
{
	static const bool num[] = {false, true, true, true, true, true};
	const char *heads[] = {spend_dim_name(dim), "calls", "input tokens",
	                       "output tokens",     "cost",  "share"};
	struct cmd_table t;
	char c[6][64];
	const char *cells[6] = {c[0], c[1], c[2], c[3], c[4], c[5]};
	__int128 total = 0;
	int rc = 0;

	for (const char *d = r->total.cost_pusd; *d >= '0' && *d <= '9'; d++)
		total = total * 10 + (*d - '0');
	cmd_table_init(&t, 6, heads, num);
	for (size_t i = 0; i <= r->n && rc == 0; i++) {
		const struct spend_row *row = i < r->n ? &r->rows[i] : &r->total;
		str_copy(c[0], sizeof c[0],
		         i == r->n                ? "total"
		         : !row->key_null         ? row->key
		         : dim == DIM_COST_CENTER ? "(unassigned)"
		                                  : "(none)");
		cmd_count_text(row->calls, c[1], sizeof c[1]);
		cmd_count_text(row->input_tokens, c[2], sizeof c[2]);
		cmd_count_text(row->output_tokens, c[3], sizeof c[3]);
		cmd_usd_text(row->cost_pusd, c[4], sizeof c[4]);
		__int128 v = 0;
		for (const char *d = row->cost_pusd; *d >= '0' && *d <= '9'; d++)
			v = v * 10 + (*d - '0');
		long long bp = total > 0 ? (long long)((v * 1000 + total / 2) / total) : 0;
		snprintf(c[5], sizeof c[5], "%lld.%lld%%", bp / 10, bp % 10);
		rc = cmd_table_row(&t, cells);
	}
	if (rc == 0) {
		cmd_table_print(&t, fp, 1);
		if (r->total.unpriced_calls > 0)
			fprintf(
			    fp,
			    "\n%lld calls are unpriced (no price for their model): `tally status`"
			    " counts them, `tally prices reprice` prices them\n",
			    (long long)r->total.unpriced_calls);
	}
	cmd_table_cleanup(&t);
	return rc;
}

int cmd_report_spend(int argc, char **argv)
{
	const char *from = NULL, *to = NULL, *group = NULL, *team = NULL, *workflow = NULL;
	const char *format = NULL, *last = NULL;
	struct spend_query q;
	struct tally_config cfg;
	struct tally_err err = {0};

	for (int i = 1; i < argc; i++) {
		bool missing = false;
		const char *v;
		if ((v = cmd_opt(argc, argv, &i, "--from", &missing)))
			from = v;
		else if ((v = cmd_opt(argc, argv, &i, "--to", &missing)))
			to = v;
		else if ((v = cmd_opt(argc, argv, &i, "--group-by", &missing)))
			group = v;
		else if ((v = cmd_opt(argc, argv, &i, "--team", &missing)))
			team = v;
		else if ((v = cmd_opt(argc, argv, &i, "--workflow", &missing)))
			workflow = v;
		else if ((v = cmd_opt(argc, argv, &i, "--format", &missing)))
			format = v;
		else if ((v = cmd_opt(argc, argv, &i, "--last", &missing)))
			last = v;
		else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			fputs(spend_usage, stdout);
			return 0;
		} else {
			fprintf(stderr, "tally report spend: %s \"%s\"\n",
			        missing ? "missing value for" : "unknown option", argv[i]);
			return 2;
		}
	}
	memset(&q, 0, sizeof q);
	if (!group || (last ? (from || to) : (!from || !to))) {
		fputs(spend_usage, stderr);
		return 2;
	}
	if (last ? cmd_last(last, time_now_us(), &q.from_us, &q.to_us) < 0
	         : (cmd_time("--from", from, &q.from_us) < 0 || cmd_time("--to", to, &q.to_us) < 0))
		return 2;
	if (q.to_us <= q.from_us) {
		fprintf(stderr, "tally: --to must be after --from (the interval is [from, to))\n");
		return 2;
	}
	if ((q.dim = spend_dim_parse_tag(group, &q.tag_key)) < 0) {
		fprintf(stderr,
		        "tally: --group-by %s: use team, cost_center, workflow, task_type, model,"
		        " tier, provider, outcome, day, tag:KEY, user or api_key\n",
		        group);
		return 2;
	}
	if (!format)
		format = isatty(STDOUT_FILENO) ? "table" : "csv";
	if (strcmp(format, "csv") != 0 && strcmp(format, "json") != 0 &&
	    strcmp(format, "table") != 0) {
		fprintf(stderr, "tally: --format %s: use table, csv or json\n", format);
		return 2;
	}
	q.team = team;
	q.workflow = workflow;
	if (cmd_config(&cfg, true) < 0)
		return 2;
	struct ledger *lg = cmd_open_ledger(&cfg);
	struct spend_result r;
	bool known = true;
	if (!lg)
		return 1;
	/* A name that does not exist is a mistake to point out, not an empty report. */
	for (int w = 0; w < 2; w++) {
		const char *name = w ? workflow : team;
		if (!name)
			continue;
		if (ledger_name_known(lg, w == 1, name, &known, &err) < 0) {
			fprintf(stderr, "tally: %s\n", err.msg);
			ledger_close(lg);
			return 1;
		}
		if (!known) {
			fprintf(
			    stderr,
			    "tally: no %s \"%s\" in the ledger (no calls, budget or cost centre):"
			    " `tally report spend --last 30d --group-by %s` lists them\n",
			    w ? "workflow" : "team", name, w ? "workflow" : "team");
			ledger_close(lg);
			return 2;
		}
	}
	if (ledger_spend(lg, &q, &r, &err) < 0) {
		fprintf(stderr, "tally: %s\n", err.msg);
		ledger_close(lg);
		return 1;
	}
	if (q.dim == DIM_DAY && r.n > 1)
		qsort(r.rows, r.n, sizeof *r.rows, by_key);
	if (strcmp(format, "table") == 0) {
		if (spend_table(&r, q.dim, stdout) < 0)
			fprintf(stderr, "tally: out of memory\n");
	} else {
		struct sbuf sb;
		sbuf_init(&sb);
		report_spend_format(&r, q.dim,
		                    strcmp(format, "json") == 0 ? REPORT_JSON : REPORT_CSV, &sb);
		fwrite(sb.p, 1, sb.len, stdout);
		sbuf_cleanup(&sb);
	}
	spend_result_cleanup(&r);
	ledger_close(lg);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* The words of CMD_REPORTS, "spend|chargeback|...". */
#define REPORT_WORD_(word, fn) "|" #word
static const char report_words[] = CMD_REPORTS(REPORT_WORD_);
#undef REPORT_WORD_

static const struct {
	const char *word;
	int (*fn)(int argc, char **argv);
} reports[] = {
#define REPORT_ROW_(word, fn) {#word, fn},
    CMD_REPORTS(REPORT_ROW_)
#undef REPORT_ROW_
};

int cmd_report(int argc, char **argv)
{
	for (size_t i = 0; argc >= 2 && i < sizeof reports / sizeof reports[0]; i++)
		if (strcmp(argv[1], reports[i].word) == 0)
			return reports[i].fn(argc - 1, argv + 1);
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("usage: tally report %s [OPTIONS]\n"
		       "       tally report REPORT --help: that report's options\n",
		       report_words + 1);
		return 0;
	}
	fprintf(stderr, "usage: tally report %s [OPTIONS] (tally report REPORT --help)\n",
	        report_words + 1);
	return 2;
}
