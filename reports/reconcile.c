/* reconcile.c - the reconciliation report: the providers' bills against the
 * ledger, per day, provider, model and team, as CSV or JSON, with what
 * explains each difference where tally knows (docs/reconcile.md). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "report.h"

static const char pct_method[] =
    "diff_usd = billed_usd - ledger_usd; diff_pct = diff_usd / billed_usd x 100, rounded half"
    " away from zero to 2 decimals (empty when nothing was billed)";

/* Appends one reason to the explanation in out. */
static void reason(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void reason(char *out, size_t n, const char *fmt, ...)
{
	size_t u = strlen(out);
	va_list ap;

	if (u && u + 2 < n) {
		memcpy(out + u, "; ", 3);
		u += 2;
	}
	va_start(ap, fmt);
	vsnprintf(out + u, n - u, fmt, ap);
	va_end(ap);
}

/* What tally knows about a row's difference, "" when it knows nothing. */
static void explain(const struct reconcile_row *w, char *out, size_t n)
{
	out[0] = '\0';
	if (w->unmatched)
		reason(out, n, "bill lines naming no model tally reads: %s", w->unmatched_lines);
	else if (w->billed && !w->in_ledger)
		reason(out, n, "no calls in the ledger (calls not sent to tally)");
	else if (!w->billed && w->in_ledger)
		reason(out, n, "no bill line for these calls");
	if (w->usage && w->usage_requests >= 0 && w->usage_requests != w->calls) {
		if (w->usage_requests > w->calls)
			reason(out, n,
			       "the provider counted %lld requests against %lld calls in the ledger"
			       " (%lld not sent to tally)",
			       (long long)w->usage_requests, (long long)w->calls,
			       (long long)(w->usage_requests - w->calls));
		else
			reason(
			    out, n,
			    "the provider counted %lld requests against %lld calls in the ledger",
			    (long long)w->usage_requests, (long long)w->calls);
	}
	if (w->usage && (strcmp(w->usage_input, w->ledger_input) != 0 ||
	                 strcmp(w->usage_output, w->ledger_output) != 0))
		reason(out, n,
		       "the provider counted %s input / %s output tokens against %s / %s in the "
		       "ledger",
		       w->usage_input, w->usage_output, w->ledger_input, w->ledger_output);
	if (w->unpriced_calls > 0)
		reason(out, n, "%lld unpriced call%s (cost 0 in the ledger)",
		       (long long)w->unpriced_calls, w->unpriced_calls == 1 ? "" : "s");
	if (w->price_changed || w->price_versions > 1)
		reason(out, n, "price change that day (%lld price version%s used)",
		       (long long)w->price_versions, w->price_versions == 1 ? "" : "s");
	if (w->billed && w->unmapped && w->projects[0])
		reason(out, n, "projects not mapped to a team: %s", w->projects);
}

void report_reconcile_format(const struct reconcile_result *r, const char *from, const char *to,
                             enum report_format fmt, struct sbuf *sb)
{
	char usd[3][64], why[1024];

	if (fmt == REPORT_CSV)
		sbuf_puts(sb, "day,provider,model,team,projects,billed_usd,ledger_usd,diff_usd,"
		              "diff_pct,calls,unpriced_calls,explanation\n");
	else {
		sbuf_puts(sb, "{\"from\":");
		sbuf_json_str(sb, from);
		sbuf_puts(sb, ",\"to\":");
		sbuf_json_str(sb, to);
		sbuf_puts(sb, ",\"method\":");
		sbuf_json_str(sb, pct_method);
		sbuf_puts(sb, ",\"rows\":[");
	}
	for (size_t i = 0; i < r->n; i++) {
		const struct reconcile_row *w = &r->rows[i];
		report_usd(w->billed_pusd, usd[0], sizeof usd[0]);
		report_usd(w->ledger_pusd, usd[1], sizeof usd[1]);
		report_usd(w->diff_pusd, usd[2], sizeof usd[2]);
		explain(w, why, sizeof why);
		if (fmt == REPORT_CSV) {
			sbuf_printf(sb, "%s,", w->day);
			report_csv_field(sb, w->provider);
			sbuf_putc(sb, ',');
			report_csv_field(sb, w->unmatched ? "(unmatched)" : w->model);
			sbuf_putc(sb, ',');
			report_csv_field(sb, w->unmapped ? "(unmapped)" : w->team);
			sbuf_putc(sb, ',');
			report_csv_field(sb, w->projects);
			sbuf_printf(sb, ",%s,%s,%s,%s,%lld,%lld,", usd[0], usd[1], usd[2],
			            w->diff_pct, (long long)w->calls, (long long)w->unpriced_calls);
			report_csv_field(sb, why);
			sbuf_putc(sb, '\n');
			continue;
		}
		sbuf_printf(sb, "%s{\"day\":\"%s\",\"provider\":", i ? "," : "", w->day);
		sbuf_json_str(sb, w->provider);
		sbuf_puts(sb, ",\"model\":");
		if (w->unmatched)
			sbuf_puts(sb, "null");
		else
			sbuf_json_str(sb, w->model);
		sbuf_puts(sb, ",\"team\":");
		if (w->unmapped)
			sbuf_puts(sb, "null");
		else
			sbuf_json_str(sb, w->team);
		sbuf_puts(sb, ",\"projects\":");
		sbuf_json_str(sb, w->projects);
		sbuf_printf(sb,
		            ",\"billed_usd\":\"%s\",\"ledger_usd\":\"%s\",\"diff_usd\":\"%s\","
		            "\"diff_pct\":",
		            usd[0], usd[1], usd[2]);
		if (w->diff_pct[0])
			sbuf_printf(sb, "\"%s\"", w->diff_pct);
		else
			sbuf_puts(sb, "null");
		sbuf_printf(
		    sb,
		    ",\"calls\":%lld,\"unpriced_calls\":%lld,\"price_versions\":%lld,"
		    "\"price_changed\":%s,\"billed\":%s,\"in_ledger\":%s,\"unmatched_lines\":",
		    (long long)w->calls, (long long)w->unpriced_calls, (long long)w->price_versions,
		    w->price_changed ? "true" : "false", w->billed ? "true" : "false",
		    w->in_ledger ? "true" : "false");
		sbuf_json_str(sb, w->unmatched_lines);
		sbuf_printf(sb,
		            ",\"ledger_input_tokens\":%s,\"ledger_output_tokens\":%s,\"usage\":",
		            w->ledger_input[0] ? w->ledger_input : "0",
		            w->ledger_output[0] ? w->ledger_output : "0");
		if (!w->usage)
			sbuf_puts(sb, "null");
		else if (w->usage_requests >= 0)
			sbuf_printf(sb,
			            "{\"requests\":%lld,\"input_tokens\":%s,\"output_tokens\":%s}",
			            (long long)w->usage_requests, w->usage_input, w->usage_output);
		else
			sbuf_printf(sb,
			            "{\"requests\":null,\"input_tokens\":%s,\"output_tokens\":%s}",
			            w->usage_input, w->usage_output);
		sbuf_puts(sb, ",\"explanation\":");
		sbuf_json_str(sb, why);
		sbuf_putc(sb, '}');
	}
	if (fmt == REPORT_JSON) {
		report_usd(r->billed_pusd, usd[0], sizeof usd[0]);
		report_usd(r->ledger_pusd, usd[1], sizeof usd[1]);
		report_usd(r->diff_pusd, usd[2], sizeof usd[2]);
		sbuf_printf(sb,
		            "],\"totals\":{\"billed_usd\":\"%s\",\"ledger_usd\":\"%s\","
		            "\"diff_usd\":\"%s\",\"diff_pct\":",
		            usd[0], usd[1], usd[2]);
		if (r->diff_pct[0])
			sbuf_printf(sb, "\"%s\"}}\n", r->diff_pct);
		else
			sbuf_puts(sb, "null}}\n");
	}
}
