/* router.c - `tally router eval`: offline replay of a routing data set. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/common.h"
#include "../ledger/ledger.h"
#include "../router/router.h"
#include "cmd.h"

static int read_file(const char *path, char **out, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	struct sbuf b;
	char chunk[65536];
	size_t n;

	if (!fp) {
		fprintf(stderr, "tally router eval: cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	sbuf_init(&b);
	while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0)
		sbuf_append(&b, chunk, n);
	bool bad = ferror(fp) || b.oom;
	fclose(fp);
	if (bad) {
		fprintf(stderr, "tally router eval: cannot read %s\n", path);
		sbuf_cleanup(&b);
		return -1;
	}
	sbuf_putc(&b, '\0');
	*out = b.p;
	*len = b.len - 1;
	return 0;
}

/* Exact decimal USD with trailing zeros trimmed (at least 2 fraction digits). */
static void usd(int64_t pusd, char *out, size_t n)
{
	money_format(pusd, 12, out, n);
	char *dot = strchr(out, '.');
	if (!dot)
		return;
	size_t keep = (size_t)(dot - out) + 3;
	size_t l = strlen(out);
	while (l > keep && out[l - 1] == '0')
		out[--l] = '\0';
}

static double ratio_cost(int64_t a, int64_t b)
{
	return b ? (double)a / (double)b : 0;
}

static const char *const line_names[] = {"router", "always_best", "always_cheapest",
                                         "static_oracle", "item_oracle"};

static void print_result(const struct router_eval_result *r, const struct router_params *p,
                         bool seeded, bool json, const char *path)
{
	const struct router_eval_line *lines[] = {&r->router, &r->always_best, &r->always_cheapest,
	                                          &r->static_oracle, &r->item_oracle};
	const struct router_eval_line *best = &r->always_best;
	char buf[64];
	struct sbuf b;

	sbuf_init(&b);
	if (json) {
		sbuf_puts(&b, "{");
		for (size_t i = 0; i < 5; i++) {
			usd(lines[i]->cost_pusd, buf, sizeof buf);
			sbuf_printf(
			    &b, "\"%s\":{\"cost_usd\":\"%s\",\"quality\":%.6f,\"items\":%lld},",
			    line_names[i], buf, lines[i]->quality, (long long)lines[i]->items);
		}
		sbuf_puts(&b, "\"ratio_to_always_best\":{");
		for (size_t i = 0; i < 5; i++)
			sbuf_printf(&b, "%s\"%s\":{\"cost\":%.6f,\"quality\":%.6f}", i ? "," : "",
			            line_names[i], ratio_cost(lines[i]->cost_pusd, best->cost_pusd),
			            best->quality > 0 ? lines[i]->quality / best->quality : 0);
		/* the router against the static per-task oracle (the cheapest tier
		 * per task type within tolerance of its best, in hindsight) */
		sbuf_printf(&b, "},\"ratio_to_static_oracle\":{\"cost\":%.6f,\"quality\":%.6f",
		            ratio_cost(r->router.cost_pusd, r->static_oracle.cost_pusd),
		            r->static_oracle.quality > 0
		                ? r->router.quality / r->static_oracle.quality
		                : 0);
		sbuf_printf(&b, "},\"best_tier\":");
		sbuf_json_str(&b, r->best_tier);
		sbuf_puts(&b, ",\"cheapest_tier\":");
		sbuf_json_str(&b, r->cheapest_tier);
		sbuf_printf(&b, ",\"tiers\":%zu,\"task_types\":%zu,\"tolerance\":%g,\"seed\":",
		            r->n_tiers, r->n_task_types, p->tolerance);
		if (seeded)
			sbuf_printf(&b, "%llu}\n", (unsigned long long)p->seed);
		else
			sbuf_puts(&b, "null}\n");
	} else {
		sbuf_printf(&b,
		            "router eval: %s: %lld items, %zu task types, %zu tiers "
		            "(best %s, cheapest %s), tolerance %g, %s",
		            path, (long long)r->router.items, r->n_task_types, r->n_tiers,
		            r->best_tier, r->cheapest_tier, p->tolerance,
		            seeded ? "shuffled with seed " : "file order");
		if (seeded)
			sbuf_printf(&b, "%llu", (unsigned long long)p->seed);
		sbuf_printf(&b, "\n%-16s %18s %8s %7s %10s %13s\n", "strategy", "cost_usd",
		            "quality", "items", "cost/best", "quality/best");
		for (size_t i = 0; i < 5; i++) {
			usd(lines[i]->cost_pusd, buf, sizeof buf);
			sbuf_printf(&b, "%-16s %18s %8.4f %7lld %10.4f %13.4f\n", line_names[i],
			            buf, lines[i]->quality, (long long)lines[i]->items,
			            ratio_cost(lines[i]->cost_pusd, best->cost_pusd),
			            best->quality > 0 ? lines[i]->quality / best->quality : 0);
		}
		sbuf_printf(&b, "vs_static_oracle: router cost %.4fx, quality %.4fx\n",
		            ratio_cost(r->router.cost_pusd, r->static_oracle.cost_pusd),
		            r->static_oracle.quality > 0
		                ? r->router.quality / r->static_oracle.quality
		                : 0);
	}
	fwrite(b.p, 1, b.len, stdout);
	sbuf_cleanup(&b);
}

static int parse_unit(const char *opt, const char *v, double lo, double hi, double *out)
{
	char *end;
	errno = 0;
	double d = strtod(v, &end);
	if (errno || end == v || *end || !(d >= lo && d < hi)) {
		fprintf(stderr, "tally router eval: %s %s: use a number in [%g,%g)\n", opt, v, lo,
		        hi);
		return -1;
	}
	*out = d;
	return 0;
}

static int router_eval_cmd(int argc, char **argv)
{
	const char *data = NULL, *format = "text", *trace_path = NULL;
	struct router_params p;
	bool seeded = false;
	struct tally_err err = {0};
	int64_t v64;

	router_params_init(&p);
	for (int i = 1; i < argc; i++) {
		bool missing = false;
		const char *v;
		if ((v = cmd_opt(argc, argv, &i, "--data", &missing)))
			data = v;
		else if ((v = cmd_opt(argc, argv, &i, "--format", &missing)))
			format = v;
		else if ((v = cmd_opt(argc, argv, &i, "--trace", &missing)))
			trace_path = v;
		else if ((v = cmd_opt(argc, argv, &i, "--tolerance", &missing))) {
			if (parse_unit("--tolerance", v, 0, 1, &p.tolerance) < 0)
				return 2;
		} else if ((v = cmd_opt(argc, argv, &i, "--explore", &missing))) {
			if (parse_unit("--explore", v, 0, 1.000001, &p.explore_share) < 0)
				return 2;
		} else if ((v = cmd_opt(argc, argv, &i, "--warmup", &missing))) {
			if (parse_unit("--warmup", v, 0, 1.000001, &p.warmup_share) < 0)
				return 2;
		} else if ((v = cmd_opt(argc, argv, &i, "--seed", &missing))) {
			if (parse_i64(v, &v64) < 0 || v64 < 0) {
				fprintf(stderr,
				        "tally router eval: --seed %s: use an integer >= 0\n", v);
				return 2;
			}
			p.seed = (uint64_t)v64;
			seeded = true;
		} else if ((v = cmd_opt(argc, argv, &i, "--min-samples", &missing))) {
			if (parse_i64(v, &v64) < 0 || v64 < 1) {
				fprintf(
				    stderr,
				    "tally router eval: --min-samples %s: use an integer >= 1\n",
				    v);
				return 2;
			}
			p.min_samples = v64;
			if (p.window && p.window < 2 * v64)
				p.window = 2 * v64;
		} else {
			fprintf(stderr, "tally router eval: %s \"%s\"\n",
			        missing ? "missing value for" : "unknown option", argv[i]);
			return 2;
		}
	}
	if (!data) {
		fprintf(stderr, "usage: tally router eval --data FILE [--tolerance T] [--seed N] "
		                "[--format text|json] [--trace FILE] [--explore S] [--warmup S] "
		                "[--min-samples N]\n");
		return 2;
	}
	if (strcmp(format, "text") != 0 && strcmp(format, "json") != 0) {
		fprintf(stderr, "tally router eval: --format %s: use text or json\n", format);
		return 2;
	}
	char *text = NULL;
	size_t len = 0;
	if (read_file(data, &text, &len) < 0)
		return 1;
	FILE *trace = NULL;
	if (trace_path && !(trace = fopen(trace_path, "w"))) {
		fprintf(stderr, "tally router eval: cannot create %s: %s\n", trace_path,
		        strerror(errno));
		free(text);
		return 1;
	}
	struct router_eval_result r;
	int rc = router_eval(text, len, &p, seeded, trace, &r, &err);
	free(text);
	if (trace && fclose(trace) != 0 && rc == 0) {
		fprintf(stderr, "tally router eval: cannot write %s: %s\n", trace_path,
		        strerror(errno));
		return 1;
	}
	if (rc < 0) {
		fprintf(stderr, "tally router eval: %s: %s\n", data, err.msg);
		return 1;
	}
	print_result(&r, &p, seeded, strcmp(format, "json") == 0, data);
	return 0;
}

static int open_ledger(const char *what, struct tally_config *cfg, struct ledger **lg)
{
	struct tally_err err = {0};
	if (cmd_config(cfg, true) < 0)
		return 2;
	if (!cfg->database_url[0]) {
		fprintf(stderr,
		        "tally router %s: no ledger: set TALLY_DATABASE_URL or start "
		        "`tally up`\n",
		        what);
		return 1;
	}
	if (lg && !(*lg = ledger_open(cfg->database_url, &err))) {
		fprintf(stderr, "tally router %s: %s\n", what, err.msg);
		return 1;
	}
	return 0;
}

/* tally router refresh [--settle S]: one cycle now; prints the policy. */
static int router_refresh_cmd(int argc, char **argv)
{
	struct tally_config cfg;
	struct tally_err err = {0};
	int64_t settle = -1, version = 0;
	int rc;

	for (int i = 1; i < argc; i++) {
		bool missing = false;
		const char *v;
		if ((v = cmd_opt(argc, argv, &i, "--settle", &missing)) &&
		    parse_i64(v, &settle) == 0 && settle >= 0)
			continue;
		fprintf(stderr, "usage: tally router refresh [--settle SECONDS]\n");
		return 2;
	}
	if ((rc = open_ledger("refresh", &cfg, NULL)) != 0)
		return rc;
	if (settle < 0)
		router_params_from_env(&(struct router_params){0}, NULL, &settle);
	struct sbuf b;
	sbuf_init(&b);
	if (router_refresh_once(&cfg, settle, &b, &version, &err) < 0) {
		fprintf(stderr, "tally router refresh: %s\n", err.msg);
		sbuf_cleanup(&b);
		return 1;
	}
	fwrite(b.p, 1, b.len, stdout);
	sbuf_cleanup(&b);
	return 0;
}

/* tally router override TASK [--tolerance T] [--pin TIER] [--allow A,B] | TASK --clear */
static int router_override_cmd(int argc, char **argv)
{
	struct router_override_row o;
	struct tally_config cfg;
	struct tally_err err = {0};
	struct ledger *lg = NULL;
	bool clear = false;
	int rc;

	memset(&o, 0, sizeof o);
	if (argc < 2 || argv[1][0] == '-' || strlen(argv[1]) > EVENT_NAME_MAX)
		goto usage;
	snprintf(o.task_type, sizeof o.task_type, "%s", argv[1]);
	for (int i = 2; i < argc; i++) {
		bool missing = false;
		const char *v;
		if (strcmp(argv[i], "--clear") == 0) {
			clear = true;
		} else if ((v = cmd_opt(argc, argv, &i, "--tolerance", &missing))) {
			if (parse_unit("--tolerance", v, 0, 1, &o.tolerance) < 0)
				return 2;
			o.has_tolerance = true;
		} else if ((v = cmd_opt(argc, argv, &i, "--pin", &missing))) {
			if (str_copy(o.pinned, sizeof o.pinned, v) < 0 || !v[0])
				goto usage;
		} else if ((v = cmd_opt(argc, argv, &i, "--allow", &missing))) {
			const char *p = v;
			while (*p) {
				const char *e = strchr(p, ',');
				size_t n = e ? (size_t)(e - p) : strlen(p);
				if (n == 0 || n > EVENT_TIER_MAX ||
				    o.n_allowed == ROUTER_MAX_ALLOWED)
					goto usage;
				snprintf(o.allowed[o.n_allowed++], sizeof o.allowed[0], "%.*s",
				         (int)n, p);
				p += n + (e ? 1 : 0);
			}
		} else {
			goto usage;
		}
	}
	if (!clear && !o.has_tolerance && !o.pinned[0] && !o.n_allowed)
		goto usage;
	if ((rc = open_ledger("override", &cfg, &lg)) != 0)
		return rc;
	if (clear) {
		bool found = false;
		rc = ledger_router_override_delete(lg, o.task_type, "cli", &found, &err);
		if (rc == 0)
			printf("override of %s %s\n", o.task_type, found ? "removed" : "not found");
	} else {
		rc = ledger_router_override_set(lg, &o, "cli", &err);
		if (rc == 0)
			printf("override of %s stored; it applies from the next router cycle "
			       "(`tally router refresh` runs one now)\n",
			       o.task_type);
	}
	ledger_close(lg);
	if (rc < 0) {
		fprintf(stderr, "tally router override: %s\n", err.msg);
		return 1;
	}
	return 0;
usage:
	fprintf(stderr, "usage: tally router override TASK_TYPE [--tolerance T] [--pin TIER] "
	                "[--allow TIER,TIER...] | TASK_TYPE --clear\n");
	return 2;
}

/* tally router history [--limit N]: policy versions as JSON. */
static int router_history_cmd(int argc, char **argv)
{
	struct tally_config cfg;
	struct tally_err err = {0};
	struct ledger *lg = NULL;
	int64_t limit = 20;
	char *json = NULL;
	int rc;

	for (int i = 1; i < argc; i++) {
		bool missing = false;
		const char *v;
		if ((v = cmd_opt(argc, argv, &i, "--limit", &missing)) &&
		    parse_i64(v, &limit) == 0 && limit > 0)
			continue;
		fprintf(stderr, "usage: tally router history [--limit N]\n");
		return 2;
	}
	if ((rc = open_ledger("history", &cfg, &lg)) != 0)
		return rc;
	rc = ledger_router_history(lg, limit, &json, &err);
	ledger_close(lg);
	if (rc < 0) {
		fprintf(stderr, "tally router history: %s\n", err.msg);
		return 1;
	}
	printf("%s\n", json);
	free(json);
	return 0;
}

/* tally router savings [--from TS --to TS]: over-tier spend under the newest
 * policy (default: the last 30 days), as JSON with exact USD strings. */
static int router_savings_cmd(int argc, char **argv)
{
	struct tally_config cfg;
	struct tally_err err = {0};
	struct ledger *lg = NULL;
	int64_t to = time_now_us(), from = to - INT64_C(30) * 86400 * 1000000, version = 0;
	int rc;

	for (int i = 1; i < argc; i++) {
		bool missing = false;
		const char *v;
		if ((v = cmd_opt(argc, argv, &i, "--from", &missing))) {
			if (cmd_time("--from", v, &from) < 0)
				return 2;
		} else if ((v = cmd_opt(argc, argv, &i, "--to", &missing))) {
			if (cmd_time("--to", v, &to) < 0)
				return 2;
		} else if ((v = cmd_opt(argc, argv, &i, "--policy-version", &missing))) {
			char *end;
			version = strtoll(v, &end, 10);
			if (*end || version < 1) {
				fprintf(stderr, "tally router savings: --policy-version must be a "
				                "version number (tally router history)\n");
				return 2;
			}
		} else {
			fprintf(stderr, "usage: tally router savings [--from TS] [--to TS] "
			                "[--policy-version N]\n");
			return 2;
		}
	}
	if ((rc = open_ledger("savings", &cfg, &lg)) != 0)
		return rc;
	struct sbuf b;
	sbuf_init(&b);
	rc = router_over_tier_json(lg, from, to, version, &b, &err);
	ledger_close(lg);
	if (rc < 0) {
		fprintf(stderr, "tally router savings: %s\n", err.msg);
		sbuf_cleanup(&b);
		return 1;
	}
	fwrite(b.p, 1, b.len, stdout);
	sbuf_cleanup(&b);
	return 0;
}

int cmd_router(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "eval") == 0)
		return router_eval_cmd(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "refresh") == 0)
		return router_refresh_cmd(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "override") == 0)
		return router_override_cmd(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "history") == 0)
		return router_history_cmd(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "savings") == 0)
		return router_savings_cmd(argc - 1, argv + 1);
	fprintf(stderr, "usage: tally router eval --data FILE [--tolerance T] [--seed N] "
	                "[--format text|json] [--trace FILE]\n"
	                "       tally router refresh [--settle SECONDS]\n"
	                "       tally router override TASK_TYPE [--tolerance T] [--pin TIER] "
	                "[--allow TIER,...] | TASK_TYPE --clear\n"
	                "       tally router history [--limit N]\n");
	return 2;
}
