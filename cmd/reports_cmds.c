/* reports_cmds.c - `tally report chargeback|outcomes|waste`, `tally teams`,
 * `tally export focus|audit`, `tally audit verify` and `tally budgets`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/common.h"
#include "../ledger/ledger.h"
#include "../reports/report.h"
#include "cmd.h"

/* Options shared by the report commands; NULL when not given. */
struct ropts {
	const char *from, *to, *month, *format, *share, *out, *gran, *window, *team, *workflow,
	    *amount, *at, *policy_version, *last;
	const char *pos[4];
	int npos;
};

static int parse_opts(const char *cmd, int argc, char **argv, struct ropts *o)
{
	static const char *const names[] = {
	    "--from",   "--to",          "--month",  "--format",         "--share-unassigned",
	    "-o",       "--granularity", "--window", "--team",           "--workflow",
	    "--amount", "--at",          "--out",    "--policy-version", "--last"};
	memset(o, 0, sizeof *o);
	for (int i = 1; i < argc; i++) {
		bool missing = false, hit = false;
		for (size_t k = 0; k < sizeof names / sizeof *names && !hit; k++) {
			const char *v = cmd_opt(argc, argv, &i, names[k], &missing);
			if (!v)
				continue;
			hit = true;
			const char **slot[] = {
			    &o->from,   &o->to,   &o->month,  &o->format,         &o->share,
			    &o->out,    &o->gran, &o->window, &o->team,           &o->workflow,
			    &o->amount, &o->at,   &o->out,    &o->policy_version, &o->last};
			*slot[k] = v;
		}
		if (hit)
			continue;
		if (missing || argv[i][0] == '-' || o->npos == 4) {
			fprintf(stderr, "tally %s: %s \"%s\"\n", cmd,
			        missing ? "missing value for" : "unexpected argument", argv[i]);
			return -1;
		}
		o->pos[o->npos++] = argv[i];
	}
	return 0;
}

static int parse_format(const char *s, enum report_format *fmt)
{
	if (!s || strcmp(s, "csv") == 0)
		*fmt = REPORT_CSV;
	else if (strcmp(s, "json") == 0)
		*fmt = REPORT_JSON;
	else {
		fprintf(stderr, "tally: --format %s: use csv or json\n", s);
		return -1;
	}
	return 0;
}

static int parse_period(const struct ropts *o, int64_t *from, int64_t *to)
{
	if (o->last && !o->from && !o->to)
		return cmd_last(o->last, time_now_us(), from, to);
	if (!o->from || !o->to || o->last) {
		fprintf(stderr, "tally: --from and --to (RFC 3339 or YYYY-MM-DD), or --last 7d, are"
		                " required\n");
		return -1;
	}
	if (cmd_time("--from", o->from, from) < 0 || cmd_time("--to", o->to, to) < 0)
		return -1;
	if (*to <= *from) {
		fprintf(stderr, "tally: --to must be after --from (the interval is [from, to))\n");
		return -1;
	}
	return 0;
}

/* Opens the ledger of the configuration (or a running `tally up`). */
static struct ledger *open_ledger(struct tally_config *cfg)
{
	return cmd_config(cfg, true) < 0 ? NULL : cmd_open_ledger(cfg);
}

static int print_sbuf(struct sbuf *sb)
{
	int rc = sb->oom ? 1 : 0;

	if (!rc && sb->len)
		rc = fwrite(sb->p, 1, sb->len, stdout) == sb->len ? 0 : 1;
	sbuf_cleanup(sb);
	return fflush(stdout) == 0 ? rc : 1;
}

static int fail(struct ledger *lg, const struct tally_err *err)
{
	fprintf(stderr, "tally: %s\n", err->msg);
	ledger_close(lg);
	return 1;
}

/* ---- report chargeback | outcomes | waste ------------------------------------- */

int cmd_report_chargeback(int argc, char **argv)
{
	struct ropts o;
	struct tally_config cfg;
	struct tally_err err = {0};
	struct chargeback_result r;
	enum report_format fmt;
	int64_t from, to;
	struct ledger *lg;
	struct sbuf sb;

	if (parse_opts("report chargeback", argc, argv, &o) < 0 || o.npos || !o.month) {
		fprintf(stderr, "usage: tally report chargeback --month YYYY-MM [--format csv|json]"
		                " [--share-unassigned none|proportional|even]\n");
		return 2;
	}
	if (report_month(o.month, &from, &to) < 0) {
		fprintf(stderr, "tally: --month %s: use YYYY-MM\n", o.month);
		return 2;
	}
	if (parse_format(o.format, &fmt) < 0)
		return 2;
	if (!o.share)
		o.share = "none";
	if (strcmp(o.share, "none") && strcmp(o.share, "proportional") && strcmp(o.share, "even")) {
		fprintf(stderr, "tally: --share-unassigned %s: use none, proportional or even\n",
		        o.share);
		return 2;
	}
	if (!(lg = open_ledger(&cfg)))
		return 1;
	if (ledger_chargeback(lg, from, to, o.share, &r, &err) < 0)
		return fail(lg, &err);
	sbuf_init(&sb);
	report_chargeback_format(&r, o.month, NULL, fmt, &sb);
	if (fmt == REPORT_CSV)
		fprintf(stderr, "method: %s (%s)\n", r.method, report_share_method(r.method));
	chargeback_result_cleanup(&r);
	ledger_close(lg);
	return print_sbuf(&sb);
}

static int period_report(const char *name, int argc, char **argv, bool waste)
{
	struct ropts o;
	struct tally_config cfg;
	struct tally_err err = {0};
	enum report_format fmt;
	int64_t from, to, window = 86400;
	struct ledger *lg;
	struct sbuf sb;
	int rc;

	if (parse_opts(name, argc, argv, &o) < 0 || o.npos) {
		fprintf(stderr,
		        "usage: tally %s (--from TS --to TS | --last 7d)%s [--format csv|json]\n",
		        name, waste ? " [--window 24h] [--team T] [--policy-version N]" : "");
		return 2;
	}
	if (parse_period(&o, &from, &to) < 0 || parse_format(o.format, &fmt) < 0)
		return 2;
	if (o.window) {
		char *end;
		long long v = strtoll(o.window, &end, 10);
		int64_t mult = strcmp(end, "h") == 0            ? 3600
		               : strcmp(end, "m") == 0          ? 60
		               : strcmp(end, "s") == 0 || !*end ? 1
		               : strcmp(end, "d") == 0          ? 86400
		                                                : 0;
		if (end == o.window || v <= 0 || mult == 0 || v > 366LL * 86400) {
			fprintf(stderr, "tally: --window %s: use e.g. 24h, 90m, 7d\n", o.window);
			return 2;
		}
		window = v * mult;
	}
	int64_t version = 0;
	if (o.policy_version) {
		char *end;
		version = strtoll(o.policy_version, &end, 10);
		if (!waste || *end || version < 1) {
			fprintf(stderr,
			        "tally: --policy-version %s: a version number of `tally "
			        "router history`, for the waste report\n",
			        o.policy_version);
			return 2;
		}
	}
	if (!(lg = open_ledger(&cfg)))
		return 1;
	if (o.team) {
		bool known = false;
		if (ledger_name_known(lg, false, o.team, &known, &err) < 0)
			return fail(lg, &err);
		if (!known) {
			fprintf(stderr,
			        "tally: no team \"%s\" in the ledger (no calls, budget or cost"
			        " centre)\n",
			        o.team);
			ledger_close(lg);
			return 2;
		}
	}
	sbuf_init(&sb);
	rc = waste ? report_waste(lg, from, to, window, o.team, version, fmt, &sb, &err)
	     : strcmp(name, "report mismatches") == 0
	         ? report_cost_mismatch(lg, from, to, fmt, &sb, &err)
	         : report_outcomes(lg, from, to, fmt, &sb, &err);
	if (rc < 0) {
		sbuf_cleanup(&sb);
		return fail(lg, &err);
	}
	ledger_close(lg);
	return print_sbuf(&sb);
}

int cmd_report_outcomes(int argc, char **argv)
{
	return period_report("report outcomes", argc, argv, false);
}

int cmd_report_waste(int argc, char **argv)
{
	return period_report("report waste", argc, argv, true);
}

int cmd_report_mismatches(int argc, char **argv)
{
	return period_report("report mismatches", argc, argv, false);
}

/* ---- teams --------------------------------------------------------------------- */

int cmd_teams(int argc, char **argv)
{
	struct ropts o;
	struct tally_config cfg;
	struct tally_err err = {0};
	struct ledger *lg;

	if (parse_opts("teams", argc, argv, &o) < 0 || o.npos < 1 ||
	    (strcmp(o.pos[0], "set-cost-center") == 0 && o.npos != 3) ||
	    (strcmp(o.pos[0], "list") == 0 && o.npos != 1) ||
	    (strcmp(o.pos[0], "set-cost-center") && strcmp(o.pos[0], "list"))) {
		fprintf(stderr, "usage: tally teams set-cost-center TEAM CC | tally teams list"
		                " [--format csv|json]\n       (CC \"\" unmaps the team)\n");
		return 2;
	}
	if (!(lg = open_ledger(&cfg)))
		return 1;
	if (strcmp(o.pos[0], "set-cost-center") == 0) {
		if (!*o.pos[1] || strlen(o.pos[1]) > EVENT_NAME_MAX ||
		    strlen(o.pos[2]) > EVENT_NAME_MAX) {
			ledger_close(lg);
			fprintf(stderr, "tally: TEAM and CC must be 1 to %d bytes\n",
			        EVENT_NAME_MAX);
			return 2;
		}
		const char *actor = getenv("USER");
		if (ledger_team_set_cost_center(lg, o.pos[1], o.pos[2], actor ? actor : "cli",
		                                &err) < 0)
			return fail(lg, &err);
		printf("team %s -> cost centre %s\n", o.pos[1],
		       *o.pos[2] ? o.pos[2] : "(unassigned)");
		ledger_close(lg);
		return 0;
	}
	struct team_row *rows = NULL;
	size_t n = 0;
	enum report_format fmt;
	if (parse_format(o.format, &fmt) < 0) {
		ledger_close(lg);
		return 2;
	}
	if (ledger_teams(lg, &rows, &n, &err) < 0)
		return fail(lg, &err);
	struct sbuf sb;
	sbuf_init(&sb);
	report_teams_format(rows, n, NULL, fmt, &sb);
	free(rows);
	ledger_close(lg);
	return print_sbuf(&sb);
}

/* ---- export focus | audit, audit verify --------------------------------------------- */

int cmd_export(int argc, char **argv)
{
	struct ropts o;
	struct tally_config cfg;
	struct tally_err err = {0};
	int64_t from, to, rows = 0;
	struct ledger *lg;
	bool focus = argc >= 2 && strcmp(argv[1], "focus") == 0;
	bool audit = argc >= 2 && strcmp(argv[1], "audit") == 0;

	if ((!focus && !audit) ||
	    parse_opts(focus ? "export focus" : "export audit", argc - 1, argv + 1, &o) < 0 ||
	    o.npos) {
		fprintf(stderr, "usage: tally export focus --from TS --to TS [-o FILE]"
		                " [--granularity hour|day]\n"
		                "       tally export audit --from TS --to TS --out DIR\n");
		return 2;
	}
	if (parse_period(&o, &from, &to) < 0)
		return 2;
	if (focus && o.gran && strcmp(o.gran, "day") && strcmp(o.gran, "hour")) {
		fprintf(stderr, "tally: --granularity %s: use hour or day\n", o.gran);
		return 2;
	}
	if (audit && (!o.out || !*o.out)) {
		fprintf(stderr, "tally export audit: --out DIR is required\n");
		return 2;
	}
	if (!(lg = open_ledger(&cfg)))
		return 1;
	if (focus) {
		if (report_focus_file(lg, from, to, o.gran && strcmp(o.gran, "hour") == 0, o.out,
		                      &rows, &err) < 0)
			return fail(lg, &err);
		if (o.out && strcmp(o.out, "-") != 0)
			fprintf(stderr, "wrote %lld FOCUS rows to %s\n", (long long)rows, o.out);
		ledger_close(lg);
		return 0;
	}
	struct sbuf sum;
	sbuf_init(&sum);
	if (report_audit_export(lg, from, to, o.out, &sum, &err) < 0) {
		sbuf_cleanup(&sum);
		return fail(lg, &err);
	}
	ledger_close(lg);
	printf("audit bundle written to %s\n", o.out);
	return print_sbuf(&sum);
}

int cmd_audit(int argc, char **argv)
{
	struct tally_err err = {0};
	struct sbuf msg;
	int rc;

	if (argc != 3 || strcmp(argv[1], "verify") != 0) {
		fprintf(stderr, "usage: tally audit verify DIR\n");
		return 2;
	}
	sbuf_init(&msg);
	rc = report_audit_verify(argv[2], &msg, &err);
	sbuf_putc(&msg, '\0');
	if (rc < 0)
		fprintf(stderr, "tally audit verify: %s\n", err.msg);
	else if (rc > 0)
		fprintf(stderr, "tally audit verify: NOT INTACT: %s\n", msg.p ? msg.p : "");
	else
		printf("%s\n", msg.p ? msg.p : "intact");
	sbuf_cleanup(&msg);
	return rc == 0 ? 0 : 1;
}

/* ---- budgets ----------------------------------------------------------------------- */

static int budgets_usage(void)
{
	fprintf(stderr, "usage: tally budgets set (--team T | --workflow W) --amount USD"
	                " [--month YYYY-MM]\n"
	                "       tally budgets list [--at TS] [--format csv|json]\n"
	                "       tally budgets delete (--team T | --workflow W)\n"
	                "       tally budgets alerts            (alert history, JSON)\n"
	                "       tally budgets evaluate [--at TS] (store alerts newly crossed)\n"
	                "       tally budgets run               (evaluate + deliver webhooks until"
	                " stopped)\n");
	return 2;
}

/* `tally budgets run`: the background loop of `tally up` in the foreground. */
static int budgets_run(void)
{
	struct tally_config cfg;
	struct tally_err err = {0};
	struct reports_bg *bg;

	if (cmd_config(&cfg, true) < 0)
		return 2;
	if (!cfg.database_url[0]) {
		fprintf(stderr, "tally: no ledger: set TALLY_DATABASE_URL or start `tally up`\n");
		return 1;
	}
	if (!cfg.webhook_url[0])
		log_warn("TALLY_WEBHOOK_URL is not set: alerts are stored, not delivered");
	cmd_install_signals();
	if (!(bg = reports_start(&cfg, &err))) {
		fprintf(stderr, "tally: %s\n", err.msg);
		return 1;
	}
	log_info("budgets: evaluating and delivering webhooks; Ctrl-C stops");
	while (!cmd_stop)
		usleep(100000);
	reports_stop(bg);
	return 0;
}

int cmd_budgets(int argc, char **argv)
{
	struct ropts o;
	struct tally_config cfg;
	struct tally_err err = {0};
	struct ledger *lg;
	const char *sub = argc >= 2 ? argv[1] : "";
	const char *scope, *name;
	int64_t at = time_now_us();

	if (strcmp(sub, "run") == 0)
		return argc == 2 ? budgets_run() : budgets_usage();
	if (parse_opts("budgets", argc - 1, argv + 1, &o) < 0 || o.npos)
		return budgets_usage();
	scope = o.team ? "team" : "workflow";
	name = o.team ? o.team : o.workflow;
	if (o.at && cmd_time("--at", o.at, &at) < 0)
		return 2;
	if (strcmp(sub, "set") == 0 || strcmp(sub, "delete") == 0) {
		char pusd[48];
		if (!name || (o.team && o.workflow) || !*name || strlen(name) > EVENT_NAME_MAX)
			return budgets_usage();
		if (strcmp(sub, "set") == 0 &&
		    (!o.amount || report_usd_parse(o.amount, pusd, sizeof pusd) < 0)) {
			fprintf(stderr,
			        "tally: --amount must be a positive USD amount (e.g. 1500 or"
			        " 99.95)\n");
			return 2;
		}
		char month[16] = "";
		int64_t m0, m1;
		if (o.month) {
			if (report_month(o.month, &m0, &m1) < 0) {
				fprintf(stderr,
				        "tally: --month must be YYYY-MM (the first month the"
				        " amount applies to)\n");
				return 2;
			}
			snprintf(month, sizeof month, "%.7s-01", o.month);
		}
		if (!(lg = open_ledger(&cfg)))
			return 1;
		const char *actor = getenv("USER");
		if (strcmp(sub, "set") == 0) {
			if (ledger_budget_set(lg, scope, name, pusd, month[0] ? month : NULL,
			                      actor ? actor : "cli", &err) < 0)
				return fail(lg, &err);
			printf("budget %s %s: %s USD per month%s%.7s\n", scope, name, o.amount,
			       month[0] ? " from " : "", month);
		} else {
			bool found;
			if (ledger_budget_delete(lg, scope, name, actor ? actor : "cli", &found,
			                         &err) < 0)
				return fail(lg, &err);
			if (!found) {
				fprintf(stderr,
				        "tally: no budget for %s %s: `tally budgets list` shows"
				        " them\n",
				        scope, name);
				ledger_close(lg);
				return 2;
			}
			printf("budget %s %s deleted\n", scope, name);
		}
		ledger_close(lg);
		return 0;
	}
	if (strcmp(sub, "list") != 0 && strcmp(sub, "alerts") != 0 && strcmp(sub, "evaluate") != 0)
		return budgets_usage();
	enum report_format fmt;
	if (parse_format(o.format, &fmt) < 0)
		return 2;
	if (!(lg = open_ledger(&cfg)))
		return 1;
	if (strcmp(sub, "evaluate") == 0) {
		int fired = 0;
		if (ledger_budget_evaluate(lg, at, &fired, &err) < 0)
			return fail(lg, &err);
		printf("%d new alert(s)\n", fired);
		ledger_close(lg);
		return 0;
	}
	struct sbuf sb;
	sbuf_init(&sb);
	int rc = strcmp(sub, "list") == 0 ? report_budgets(lg, at, NULL, fmt, &sb, &err)
	                                  : report_alerts(lg, 1000, 0, NULL, &sb, &err);
	if (rc < 0) {
		sbuf_cleanup(&sb);
		return fail(lg, &err);
	}
	ledger_close(lg);
	return print_sbuf(&sb);
}
