/* ops.c - migrate, collect, status, prices, serve. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../collector/collector.h"
#include "../common/common.h"
#include "../ledger/ledger.h"
#include "../reports/report.h"
#include "cmd.h"

int cmd_migrate(int argc, char **argv)
{
	struct tally_config cfg;
	struct tally_err err = {0};
	int applied;

	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "usage: tally migrate\n");
		return 2;
	}
	if (cmd_config(&cfg, true) < 0)
		return 2;
	struct ledger *lg = cmd_open_ledger(&cfg);
	if (!lg)
		return 1;
	if (ledger_migrate(lg, &applied, &err) < 0) {
		fprintf(stderr, "tally: %s\n", err.msg);
		ledger_close(lg);
		return 1;
	}
	printf("migrations: %d applied, schema up to date\n", applied);
	ledger_close(lg);
	return 0;
}

int cmd_collect(int argc, char **argv)
{
	struct tally_config cfg;
	struct tally_err err = {0};

	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "usage: tally collect\n");
		return 2;
	}
	if (cmd_config(&cfg, true) < 0)
		return 2;
	if (!cfg.database_url[0] || !cfg.kafka_brokers[0]) {
		fprintf(stderr, "tally: the collector needs TALLY_DATABASE_URL and "
		                "TALLY_KAFKA_BROKERS (or a running `tally up`)\n");
		return 2;
	}
	cmd_install_signals();
	if (collector_run(&cfg, &cmd_stop, NULL, &err) < 0) {
		fprintf(stderr, "tally: %s\n", err.msg);
		return 1;
	}
	log_info("collector: stopped");
	return 0;
}

/* How far back `tally status` looks for provider_cost_usd mismatches. */
#define STATUS_MISMATCH_DAYS 30

/* provider_cost_usd against tally's cost over the last STATUS_MISMATCH_DAYS,
 * per provider and model (the query of `tally report mismatches`,
 * docs/prices.md), largest difference first. */
static int status_mismatches(struct ledger *lg, struct cost_mismatch_row **rows, size_t *n,
                             struct tally_err *err)
{
	int64_t now = time_now_us();

	return ledger_cost_mismatches(lg, now - (int64_t)STATUS_MISMATCH_DAYS * 86400 * 1000000,
	                              now + 1, rows, n, err);
}

/* The providers and models whose provider_cost_usd disagrees with tally's
 * cost beyond rounding (or that tally could not price); "none" otherwise. */
static void status_print_mismatches(const struct cost_mismatch_row *rows, size_t n)
{
	int shown = 0;

	for (size_t r = 0; r < n; r++) {
		const struct cost_mismatch_row *m = &rows[r];
		char usd[3][64];
		if (m->mismatched == 0)
			continue;
		if (!shown++)
			printf("provider_cost_usd mismatches, last %d days (beyond $0.000001, or "
			       "unpriced; `tally report mismatches` for any period)\n"
			       "%-16s %-32s %7s %10s %8s %18s %18s %18s\n",
			       STATUS_MISMATCH_DAYS, "provider", "model", "calls", "mismatched",
			       "unpriced", "provider usd", "tally usd", "difference usd");
		report_usd(m->provider_pusd, usd[0], sizeof usd[0]);
		report_usd(m->tally_pusd, usd[1], sizeof usd[1]);
		report_usd(m->diff_pusd, usd[2], sizeof usd[2]);
		printf("%-16s %-32s %7lld %10lld %8lld %18s %18s %18s\n", m->provider, m->model,
		       (long long)m->calls, (long long)m->mismatched, (long long)m->unpriced,
		       usd[0], usd[1], usd[2]);
	}
	if (!shown)
		printf("provider_cost_usd mismatches, last %d days: none\n", STATUS_MISMATCH_DAYS);
	printf("\n");
}

int cmd_status(int argc, char **argv)
{
	struct tally_config cfg;
	struct tally_err err = {0};
	struct tally_status st;
	bool json = false;

	for (int i = 1; i < argc; i++) {
		bool missing = false;
		const char *v = cmd_opt(argc, argv, &i, "--format", &missing);
		if (v && strcmp(v, "json") == 0)
			json = true;
		else if (!(v && strcmp(v, "table") == 0)) {
			fprintf(stderr, "usage: tally status [--format json]\n");
			return 2;
		}
	}
	if (cmd_config(&cfg, true) < 0)
		return 2;
	struct ledger *lg = cmd_open_ledger(&cfg);
	if (!lg)
		return 1;
	struct cost_mismatch_row *mm = NULL;
	size_t n_mm = 0;
	if (tally_status_read(&cfg, lg, 3000, &st, &err) < 0 ||
	    (!json && status_mismatches(lg, &mm, &n_mm, &err) < 0)) {
		fprintf(stderr, "tally: %s\n", err.msg);
		free(mm);
		tally_status_cleanup(&st);
		ledger_close(lg);
		return 1;
	}
	ledger_close(lg);
	if (cfg.kafka_brokers[0] && !st.kafka_ok) /* the offsets are still shown */
		fprintf(stderr, "tally: lag unknown: %s\n", st.kafka_error);
	if (json) {
		struct sbuf sb;
		sbuf_init(&sb);
		tally_status_json(&st, &sb);
		fwrite(sb.p, 1, sb.len, stdout);
		sbuf_cleanup(&sb);
	} else {
		printf("calls        %lld\noutcomes     %lld\nfeedback     %lld\n"
		       "duplicates   %lld\nquarantined  %lld\nunpriced     %lld\n\n",
		       (long long)st.calls, (long long)st.outcomes, (long long)st.feedback,
		       (long long)st.duplicates, (long long)st.quarantined, (long long)st.unpriced);
		printf("rollups      %s", st.rollup_queue ? "" : "up to date\n");
		if (st.rollup_queue)
			printf("%lld transactions not summed yet, the oldest %lld s ago (reports"
			       " read them exactly)\n\n",
			       (long long)st.rollup_queue, (long long)st.rollup_queue_age_s);
		else
			putchar('\n');
		status_print_mismatches(mm, n_mm);
		if (st.kafka_ok)
			printf("kafka cluster  %s\n", st.cluster_id[0] ? st.cluster_id : "?");
		printf("offset resets  %lld%s%s\n", (long long)st.offset_resets,
		       st.last_reset[0] ? "  last: " : "", st.last_reset);
		if (st.other_cluster_offsets)
			printf("(%zu stored offsets of other Kafka clusters are not used here)\n",
			       st.other_cluster_offsets);
		printf("\n%-24s %9s %12s %12s %12s %10s %16s\n", "topic", "partition", "offset",
		       "kafka low", "kafka high", "lag", "kafka committed");
		for (size_t i = 0; i < st.n_partitions; i++) {
			const struct status_partition *p = &st.partitions[i];
			char lag[32] = "?", lo[32] = "?", hi[32] = "?", cm[32] = "-";
			if (p->lag >= 0)
				snprintf(lag, sizeof lag, "%lld", (long long)p->lag);
			if (p->low >= 0)
				snprintf(lo, sizeof lo, "%lld", (long long)p->low);
			if (p->high >= 0)
				snprintf(hi, sizeof hi, "%lld", (long long)p->high);
			if (p->committed >= 0)
				snprintf(cm, sizeof cm, "%lld", (long long)p->committed);
			printf("%-24s %9d %12lld %12s %12s %10s %16s%s\n", p->topic, p->partition,
			       (long long)p->offset, lo, hi, lag, cm,
			       p->out_of_range ? "  OUT OF RANGE: read again from kafka low" : "");
		}
		if (st.out_of_range)
			fprintf(stderr,
			        "tally: %zu stored offsets are outside the broker's offsets (topic"
			        " recreated, another cluster, or retention): the collector reads"
			        " them again; see its log\n",
			        st.out_of_range);
	}
	free(mm);
	tally_status_cleanup(&st);
	return 0;
}

/* Reads a whole file (or stdin for "-"). Returns NULL after printing why. */
static char *read_file(const char *path, size_t *len)
{
	FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	struct sbuf sb;
	char buf[65536];
	size_t n;

	if (!fp) {
		fprintf(stderr, "tally: cannot open %s: %s\n", path, strerror(errno));
		return NULL;
	}
	sbuf_init(&sb);
	while ((n = fread(buf, 1, sizeof buf, fp)) > 0)
		sbuf_append(&sb, buf, n);
	bool bad = ferror(fp) || sb.oom;
	if (fp != stdin)
		fclose(fp);
	if (bad) {
		fprintf(stderr, "tally: cannot read %s\n", path);
		sbuf_cleanup(&sb);
		return NULL;
	}
	*len = sb.len;
	return sb.p ? sb.p : calloc(1, 1);
}

int cmd_prices_load(struct ledger *lg, const char *text, size_t len, bool litellm,
                    int64_t effective_from, const char *source, bool quiet)
{
	struct price_import im;
	struct price_store_result sr;
	struct tally_err err = {0};
	int rc = litellm ? price_import_litellm(text, len, effective_from, &im, &err)
	                 : price_import_csv(text, len, effective_from, &im, &err);

	if (rc < 0) {
		fprintf(stderr, "tally: %s: %s\n", source, err.msg);
		return -1;
	}
	if (ledger_store_prices(lg, &im, source, &sr, &err) < 0) {
		fprintf(stderr, "tally: %s\n", err.msg);
		price_import_cleanup(&im);
		return -1;
	}
	if (!quiet)
		printf(
		    "%s: loaded %zu entries (%zu new price versions, %zu unchanged), skipped %zu,"
		    " rounded %zu\n",
		    source, im.n, sr.stored, sr.unchanged, im.skipped, im.rounded);
	else
		log_info("price book: %s: loaded %zu entries (%zu new), skipped %zu, rounded %zu",
		         source, im.n, sr.stored, im.skipped, im.rounded);
	price_import_cleanup(&im);
	return 0;
}

static int prices_import(int argc, char **argv, struct ledger *lg)
{
	const char *file = NULL, *format = NULL, *eff = NULL;
	int64_t effective = -1;
	size_t len;

	for (int i = 1; i < argc; i++) {
		bool missing = false;
		const char *v;
		if ((v = cmd_opt(argc, argv, &i, "--format", &missing)))
			format = v;
		else if ((v = cmd_opt(argc, argv, &i, "--effective-from", &missing)))
			eff = v;
		else if (!missing && argv[i][0] != '-' && !file)
			file = argv[i];
		else if (strcmp(argv[i], "-") == 0 && !file)
			file = argv[i];
		else {
			fprintf(stderr, "tally prices import: bad argument \"%s\"\n", argv[i]);
			return 2;
		}
	}
	if (!file) {
		fprintf(stderr, "usage: tally prices import FILE [--format litellm|csv]"
		                " [--effective-from TS]\n");
		return 2;
	}
	if (!format) /* by the file name, else LiteLLM's JSON */
		format = strlen(file) > 4 && strcmp(file + strlen(file) - 4, ".csv") == 0
		             ? "csv"
		             : "litellm";
	if (strcmp(format, "litellm") != 0 && strcmp(format, "csv") != 0) {
		fprintf(stderr, "tally: --format %s: use litellm or csv\n", format);
		return 2;
	}
	if (eff && cmd_time("--effective-from", eff, &effective) < 0)
		return 2;
	char *text = read_file(file, &len);
	if (!text)
		return 1;
	int rc =
	    cmd_prices_load(lg, text, len, strcmp(format, "litellm") == 0, effective, file, false);
	free(text);
	return rc < 0 ? 1 : 0;
}

/* Reads exactly --from TS --to TS from argv[first..]: 0, or 2 after printing
 * usage. from and to keep the texts as given, f and t the instants. */
static int range_args(int argc, char **argv, int first, const char *usage, const char **from,
                      const char **to, int64_t *f, int64_t *t)
{
	bool bad = false;

	*from = *to = NULL;
	for (int i = first; i < argc; i++) {
		bool missing = false;
		const char *v;
		if ((v = cmd_opt(argc, argv, &i, "--from", &missing)))
			*from = v;
		else if ((v = cmd_opt(argc, argv, &i, "--to", &missing)))
			*to = v;
		else
			bad = true;
	}
	if (bad || !*from || !*to) {
		fputs(usage, stderr);
		return 2;
	}
	return cmd_time("--from", *from, f) < 0 || cmd_time("--to", *to, t) < 0 ? 2 : 0;
}

static int prices_reprice(int argc, char **argv, struct ledger *lg)
{
	const char *from, *to;
	int64_t f, t;
	struct tally_err err = {0};
	struct reprice_result r;

	if (range_args(argc, argv, 1, "usage: tally prices reprice --from TS --to TS\n", &from, &to,
	               &f, &t) != 0)
		return 2;
	struct pricebook *pb = ledger_load_pricebook(lg, &err);
	if (!pb ||
	    ledger_reprice(lg, pb, f, t, getenv("USER") ? getenv("USER") : "tally", &r, &err) < 0) {
		fprintf(stderr, "tally: %s\n", err.msg);
		pricebook_free(pb);
		return 1;
	}
	pricebook_free(pb);
	printf("repriced [%s, %s): %zu calls examined, %zu changed (%zu newly priced),"
	       " %zu still unpriced\n",
	       from, to, r.examined, r.changed, r.newly_priced, r.still_unpriced);
	return 0;
}

int cmd_rollups(int argc, char **argv)
{
	static const char usage[] = "usage: tally rollups rebuild --from TS --to TS\n"
	                            "       tally rollups merge\n";
	const char *from, *to;
	struct tally_config cfg;
	struct tally_err err = {0};
	int64_t f, t;

	if (argc == 2 && strcmp(argv[1], "merge") == 0) {
		/* What the collector does when it has caught up: the figures read
		 * the same before and after. */
		int64_t rows = 0;
		if (cmd_config(&cfg, true) < 0)
			return 2;
		struct ledger *lg = cmd_open_ledger(&cfg);
		if (!lg)
			return 1;
		int rc = ledger_rollups_roll(lg, true, &rows, &err);
		ledger_close(lg);
		if (rc < 0) {
			fprintf(stderr, "tally: %s\n", err.msg);
			return 1;
		}
		printf("rollups merged: the calls of %lld queued transactions summed into them\n",
		       (long long)rows);
		return 0;
	}
	if (argc < 2 || strcmp(argv[1], "rebuild") != 0) {
		fputs(usage, stderr);
		return 2;
	}
	if (range_args(argc, argv, 2, usage, &from, &to, &f, &t) != 0 || cmd_config(&cfg, true) < 0)
		return 2;
	struct ledger *lg = cmd_open_ledger(&cfg);
	if (!lg)
		return 1;
	int rc = ledger_rebuild_rollups(lg, f, t, getenv("USER") ? getenv("USER") : "tally", &err);
	ledger_close(lg);
	if (rc < 0) {
		fprintf(stderr, "tally: %s\n", err.msg);
		return 1;
	}
	printf("rollups rebuilt for the hours covering [%s, %s)\n", from, to);
	return 0;
}

int cmd_prices(int argc, char **argv)
{
	struct tally_config cfg;
	int rc;

	if (argc < 2 || (strcmp(argv[1], "import") != 0 && strcmp(argv[1], "reprice") != 0)) {
		fprintf(stderr, "usage: tally prices import FILE [--format litellm|csv]"
		                " [--effective-from TS]\n"
		                "       tally prices reprice --from TS --to TS\n");
		return 2;
	}
	if (cmd_config(&cfg, true) < 0)
		return 2;
	struct ledger *lg = cmd_open_ledger(&cfg);
	if (!lg)
		return 1;
	if (strcmp(argv[1], "import") == 0)
		rc = prices_import(argc - 1, argv + 1, lg);
	else
		rc = prices_reprice(argc - 1, argv + 1, lg);
	ledger_close(lg);
	return rc;
}
