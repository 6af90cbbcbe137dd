/* report.c - `tally report spend`. */
#include <stdio.h>
#include <string.h>

#include "../common/common.h"
#include "../ledger/ledger.h"
#include "../reports/report.h"
#include "cmd.h"

static int report_spend(int argc, char **argv)
{
	const char *from = NULL, *to = NULL, *group = NULL, *team = NULL, *workflow = NULL;
	const char *format = "csv";
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
		else {
			fprintf(stderr, "tally report spend: %s \"%s\"\n",
			        missing ? "missing value for" : "unknown option", argv[i]);
			return 2;
		}
	}
	memset(&q, 0, sizeof q);
	if (!from || !to || !group) {
		fprintf(stderr,
		        "usage: tally report spend --from TS --to TS --group-by "
		        "team|cost_center|workflow|task_type|model|tier|provider|outcome|day|"
		        "tag:KEY|user|api_key"
		        " [--team T] [--workflow W] [--format csv|json]\n");
		return 2;
	}
	if (cmd_time("--from", from, &q.from_us) < 0 || cmd_time("--to", to, &q.to_us) < 0)
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
	if (strcmp(format, "csv") != 0 && strcmp(format, "json") != 0) {
		fprintf(stderr, "tally: --format %s: use csv or json\n", format);
		return 2;
	}
	q.team = team;
	q.workflow = workflow;
	if (cmd_config(&cfg, true) < 0)
		return 2;
	if (!cfg.database_url[0]) {
		fprintf(stderr, "tally: no ledger: set TALLY_DATABASE_URL or start `tally up`\n");
		return 1;
	}
	struct ledger *lg = ledger_open(cfg.database_url, &err);
	struct spend_result r;
	if (!lg || ledger_spend(lg, &q, &r, &err) < 0) {
		fprintf(stderr, "tally: %s\n", err.msg);
		ledger_close(lg);
		return 1;
	}
	struct sbuf sb;
	sbuf_init(&sb);
	report_spend_format(&r, q.dim, strcmp(format, "json") == 0 ? REPORT_JSON : REPORT_CSV, &sb);
	fwrite(sb.p, 1, sb.len, stdout);
	sbuf_cleanup(&sb);
	spend_result_cleanup(&r);
	ledger_close(lg);
	return fflush(stdout) == 0 ? 0 : 1;
}

int cmd_report(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "spend") == 0)
		return report_spend(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "chargeback") == 0)
		return cmd_report_chargeback(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "outcomes") == 0)
		return cmd_report_outcomes(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "waste") == 0)
		return cmd_report_waste(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "reconcile") == 0)
		return cmd_report_reconcile(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "mismatches") == 0)
		return cmd_report_mismatches(argc - 1, argv + 1);
	fprintf(stderr, "usage: tally report spend --from TS --to TS --group-by DIM "
	                "[--team T] [--workflow W] [--format csv|json]\n");
	return 2;
}
