/* reconcile.c - `tally reconcile import|map|threshold` and
 * `tally report reconcile` (docs/reconcile.md). */
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/common.h"
#include "../ledger/ledger.h"
#include "../reports/report.h"
#include "cmd.h"

#define RC_FILE_MAX ((size_t)256 * 1024 * 1024)

static struct ledger *rc_open(struct tally_config *cfg)
{
	return cmd_config(cfg, true) < 0 ? NULL : cmd_open_ledger(cfg);
}

static int rc_fail(struct ledger *lg, const struct tally_err *err)
{
	fprintf(stderr, "tally: %s\n", err->msg);
	ledger_close(lg);
	return 1;
}

/* The whole file, NUL-terminated, and its SHA-256 in hex. */
static char *slurp(const char *path, size_t *len, char sha[65])
{
	FILE *fp = fopen(path, "rb");
	struct sbuf b;
	char chunk[65536];
	size_t n;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (!fp) {
		fprintf(stderr, "tally: cannot open %s: %s\n", path, strerror(errno));
		return NULL;
	}
	sbuf_init(&b);
	while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0 && b.len <= RC_FILE_MAX)
		sbuf_append(&b, chunk, n);
	bool bad = ferror(fp) || b.len > RC_FILE_MAX;
	fclose(fp);
	if (bad || b.oom) {
		fprintf(stderr, "tally: cannot read %s (larger than 256 MiB?)\n", path);
		sbuf_cleanup(&b);
		return NULL;
	}
	EVP_Digest(b.p ? b.p : "", b.len, md, &mdlen, EVP_sha256(), NULL);
	hex_encode(md, mdlen, sha);
	*len = b.len;
	sbuf_putc(&b, '\0');
	return b.p;
}

static int reconcile_import(int argc, char **argv)
{
	const char *file = NULL, *format = NULL;
	struct tally_config cfg;
	struct tally_err err = {0};
	struct reconcile_doc doc;
	struct reconcile_import_result res;
	char sha[65];
	size_t len;

	for (int i = 1; i < argc; i++) {
		bool missing = false;
		const char *v = cmd_opt(argc, argv, &i, "--format", &missing);
		if (v) {
			format = v;
			continue;
		}
		if (missing || argv[i][0] == '-' || file) {
			fprintf(stderr, "tally reconcile import: unexpected argument \"%s\"\n",
			        argv[i]);
			return 2;
		}
		file = argv[i];
	}
	int source = reconcile_source_parse(format);
	if (!file || source < 0) {
		fprintf(stderr,
		        "usage: tally reconcile import FILE --format openai|anthropic|focus\n");
		return 2;
	}
	char *text = slurp(file, &len, sha);
	if (!text)
		return 1;
	if (reconcile_parse(source, text, len, &doc, &err) < 0) {
		fprintf(stderr, "tally: %s: %s\n", file, err.msg);
		reconcile_doc_cleanup(&doc);
		free(text);
		return 1;
	}
	free(text);
	struct ledger *lg = rc_open(&cfg);
	if (!lg) {
		reconcile_doc_cleanup(&doc);
		return 1;
	}
	if (ledger_reconcile_store(lg, &doc, file, sha, "cli", &res, &err) < 0) {
		reconcile_doc_cleanup(&doc);
		return rc_fail(lg, &err);
	}
	printf("imported %s (%s, sha256 %s): %zu lines for %s..%s, %zu replaced, %zu rows"
	       " skipped, %d drift alert(s)\n",
	       file, reconcile_source_name(source), sha, res.lines, doc.period_start,
	       doc.period_end, res.replaced, doc.skipped, res.alerts);
	if (doc.skipped)
		fprintf(stderr, "skipped rows, first: %s\n", doc.first_skip);
	if (doc.rounded)
		fprintf(stderr, "%zu amounts rounded to 1e-12 USD\n", doc.rounded);
	reconcile_doc_cleanup(&doc);
	ledger_close(lg);
	return 0;
}

static int reconcile_map(int argc, char **argv)
{
	const char *provider = NULL, *project = NULL, *team = NULL;
	struct tally_config cfg;
	struct tally_err err = {0};
	struct ledger *lg;

	if (argc == 2 && strcmp(argv[1], "list") == 0) {
		struct reconcile_map_row *rows;
		size_t n;
		if (!(lg = rc_open(&cfg)))
			return 1;
		if (ledger_reconcile_map_list(lg, &rows, &n, &err) < 0)
			return rc_fail(lg, &err);
		struct sbuf sb;
		sbuf_init(&sb);
		sbuf_puts(&sb, "provider,project,team,updated_at\n");
		for (size_t i = 0; i < n; i++) {
			report_csv_field(&sb, rows[i].provider);
			sbuf_putc(&sb, ',');
			report_csv_field(&sb, rows[i].project);
			sbuf_putc(&sb, ',');
			report_csv_field(&sb, rows[i].team);
			sbuf_printf(&sb, ",%s\n", rows[i].updated_at);
		}
		free(rows);
		ledger_close(lg);
		int rc = sb.oom || fwrite(sb.p, 1, sb.len, stdout) != sb.len;
		sbuf_cleanup(&sb);
		return rc;
	}
	for (int i = 1; i < argc; i++) {
		bool missing = false;
		const char *v;
		if ((v = cmd_opt(argc, argv, &i, "--provider", &missing)))
			provider = v;
		else if ((v = cmd_opt(argc, argv, &i, "--project", &missing)))
			project = v;
		else if ((v = cmd_opt(argc, argv, &i, "--team", &missing)))
			team = v;
		else {
			fprintf(stderr, "tally reconcile map: unexpected argument \"%s\"\n",
			        argv[i]);
			return 2;
		}
	}
	if (!provider || !*provider || !project || !team) {
		fprintf(stderr, "usage: tally reconcile map --provider P --project ID --team T"
		                " (--team \"\" removes) | tally reconcile map list\n");
		return 2;
	}
	if (!(lg = rc_open(&cfg)))
		return 1;
	bool found;
	if (ledger_reconcile_map_set(lg, provider, project, team, "cli", &found, &err) < 0)
		return rc_fail(lg, &err);
	ledger_close(lg);
	if (!found) {
		fprintf(stderr, "tally: %s project %s was not mapped\n", provider, project);
		return 1;
	}
	if (*team)
		printf("%s project %s -> team %s\n", provider, project, team);
	else
		printf("%s project %s unmapped\n", provider, project);
	return 0;
}

static int reconcile_threshold(int argc, char **argv)
{
	const char *pct = NULL;
	bool off = false;
	struct tally_config cfg;
	struct tally_err err = {0};
	struct ledger *lg;

	for (int i = 1; i < argc; i++) {
		bool missing = false;
		const char *v = cmd_opt(argc, argv, &i, "--pct", &missing);
		if (v)
			pct = v;
		else if (strcmp(argv[i], "--off") == 0)
			off = true;
		else {
			fprintf(stderr, "tally reconcile threshold: unexpected argument \"%s\"\n",
			        argv[i]);
			return 2;
		}
	}
	int64_t hundredths;
	bool rounded = false;
	if (off == (pct != NULL) || (pct && (money_parse(pct, 2, &hundredths, &rounded) < 0 ||
	                                     rounded || hundredths <= 0 || hundredths > 1000000))) {
		fprintf(stderr,
		        "usage: tally reconcile threshold --pct P (0 < P <= 10000, at most 2"
		        " decimals) | --off\n");
		return 2;
	}
	char norm[32];
	if (pct)
		money_format(hundredths, 2, norm, sizeof norm);
	if (!(lg = rc_open(&cfg)))
		return 1;
	if (ledger_reconcile_threshold_set(lg, pct ? norm : NULL, "cli", &err) < 0)
		return rc_fail(lg, &err);
	ledger_close(lg);
	if (pct)
		printf("drift alerts above %s%% (checked at each import)\n", norm);
	else
		printf("drift alerts off\n");
	return 0;
}

static int reconcile_alerts(int argc, char **argv)
{
	struct tally_config cfg;
	struct tally_err err = {0};
	struct reconcile_alert_row *rows;
	struct ledger *lg;
	struct sbuf sb;
	char usd[2][64];
	size_t n;

	(void)argv;
	if (argc != 1) {
		fprintf(stderr, "usage: tally reconcile alerts\n");
		return 2;
	}
	if (!(lg = rc_open(&cfg)))
		return 1;
	if (ledger_reconcile_alerts(lg, 1000, &rows, &n, &err) < 0)
		return rc_fail(lg, &err);
	ledger_close(lg);
	sbuf_init(&sb);
	sbuf_puts(&sb, "id,day,provider,billed_usd,ledger_usd,diff_pct,threshold_pct,import_id,"
	               "fired_at\n");
	for (size_t i = 0; i < n; i++) {
		report_usd(rows[i].billed_pusd, usd[0], sizeof usd[0]);
		report_usd(rows[i].ledger_pusd, usd[1], sizeof usd[1]);
		sbuf_printf(&sb, "%lld,%s,", (long long)rows[i].id, rows[i].day);
		report_csv_field(&sb, rows[i].provider);
		sbuf_printf(&sb, ",%s,%s,%s,%s,%lld,%s\n", usd[0], usd[1], rows[i].diff_pct,
		            rows[i].threshold_pct, (long long)rows[i].import_id, rows[i].fired_at);
	}
	free(rows);
	int rc = sb.oom || fwrite(sb.p, 1, sb.len, stdout) != sb.len;
	sbuf_cleanup(&sb);
	return rc;
}

int cmd_reconcile(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "alerts") == 0)
		return reconcile_alerts(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "import") == 0)
		return reconcile_import(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "map") == 0)
		return reconcile_map(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "threshold") == 0)
		return reconcile_threshold(argc - 1, argv + 1);
	fprintf(stderr, "usage: tally reconcile import FILE --format openai|anthropic|focus\n"
	                "       tally reconcile map --provider P --project ID --team T | map list\n"
	                "       tally reconcile threshold --pct P | --off\n"
	                "       tally reconcile alerts\n"
	                "       tally report reconcile --from TS --to TS [--format csv|json]\n");
	return 2;
}

int cmd_report_reconcile(int argc, char **argv)
{
	const char *from = NULL, *to = NULL, *format = NULL;
	struct tally_config cfg;
	struct tally_err err = {0};
	struct reconcile_result r;
	int64_t f, t;

	for (int i = 1; i < argc; i++) {
		bool missing = false;
		const char *v;
		if ((v = cmd_opt(argc, argv, &i, "--from", &missing)))
			from = v;
		else if ((v = cmd_opt(argc, argv, &i, "--to", &missing)))
			to = v;
		else if ((v = cmd_opt(argc, argv, &i, "--format", &missing)))
			format = v;
		else {
			fprintf(stderr, "tally report reconcile: unexpected argument \"%s\"\n",
			        argv[i]);
			return 2;
		}
	}
	if (!from || !to || (format && strcmp(format, "csv") && strcmp(format, "json"))) {
		fprintf(stderr,
		        "usage: tally report reconcile --from TS --to TS [--format csv|json]\n");
		return 2;
	}
	if (cmd_time("--from", from, &f) < 0 || cmd_time("--to", to, &t) < 0)
		return 2;
	if (t <= f) {
		fprintf(stderr, "tally: --to must be after --from (the interval is [from, to))\n");
		return 2;
	}
	enum report_format fmt = format && strcmp(format, "json") == 0 ? REPORT_JSON : REPORT_CSV;
	struct ledger *lg = rc_open(&cfg);
	if (!lg)
		return 1;
	if (ledger_reconcile(lg, f, t, &r, &err) < 0)
		return rc_fail(lg, &err);
	ledger_close(lg);
	struct sbuf sb;
	char fs[40], ts[40];
	time_format(f, fs);
	time_format(t, ts);
	sbuf_init(&sb);
	report_reconcile_format(&r, fs, ts, fmt, &sb);
	reconcile_result_cleanup(&r);
	int rc = sb.oom || (sb.len && fwrite(sb.p, 1, sb.len, stdout) != sb.len);
	sbuf_cleanup(&sb);
	return fflush(stdout) == 0 ? rc : 1;
}
