/* outcomes.c - cost per outcome by workflow (docs/reports.md): outcomes,
 * successes, spend on their calls (failed attempts included), cost per
 * success, calls per outcome by tier, week by week; calls whose outcome
 * never arrived and outcomes without calls apart. Integer arithmetic only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

/* a / b with `digits` fraction digits, rounded down; "" when b is 0. */
static void ratio(int64_t a, int64_t b, int digits, char *out, size_t n)
{
	int64_t scale = 1;

	for (int i = 0; i < digits; i++)
		scale *= 10;
	if (b <= 0) {
		str_copy(out, n, "");
		return;
	}
	__int128 v = (__int128)a * scale / b;
	snprintf(out, n, "%lld.%0*lld", (long long)(v / scale), digits, (long long)(v % scale));
}

/* pico-USD digits / n as USD, rounded down to 1e-12. */
static void usd_per(const char *pusd, int64_t n, char *out, size_t len)
{
	char d[48];

	if (n <= 0) {
		str_copy(out, len, "");
		return;
	}
	snprintf(d, sizeof d, "%lld", (long long)(strtoll(pusd, NULL, 10) / n));
	report_usd(d, out, len);
}

int report_outcomes(struct ledger *lg, int64_t from_us, int64_t to_us, enum report_format fmt,
                    struct sbuf *sb, struct tally_err *err)
{
	char from[40], to[40], usd[64], cps[64], rate[32], per[32];
	struct outcomes_result o;

	time_format(from_us, from);
	time_format(to_us, to);
	if (ledger_outcomes(lg, from_us, to_us, &o, err) < 0)
		return -1;
	if (fmt == REPORT_CSV)
		sbuf_puts(sb, "workflow,outcomes,successes,success_rate,calls,spend_usd,"
		              "cost_per_success_usd,calls_per_outcome_by_tier\n");
	else {
		sbuf_printf(sb, "{\"from\":\"%s\",\"to\":\"%s\",\"workflows\":[", from, to);
	}
	for (size_t r = 0; r < o.n_workflows; r++) {
		const struct outcome_workflow_row *w = &o.workflows[r];
		report_usd(w->spend_pusd, usd, sizeof usd);
		usd_per(w->spend_pusd, w->successes, cps, sizeof cps);
		ratio(w->successes, w->outcomes, 4, rate, sizeof rate);
		struct sbuf tb;
		sbuf_init(&tb);
		for (size_t t = 0; t < o.n_tiers; t++) {
			if (strcmp(o.tiers[t].workflow, w->workflow) != 0)
				continue;
			ratio(o.tiers[t].calls, w->outcomes, 2, per, sizeof per);
			if (fmt == REPORT_CSV)
				sbuf_printf(&tb, "%s%s:%s", tb.len ? ";" : "", o.tiers[t].tier,
				            per);
			else {
				sbuf_puts(&tb, tb.len ? "," : "");
				sbuf_json_str(&tb, o.tiers[t].tier);
				sbuf_printf(&tb, ":\"%s\"", per);
			}
		}
		sbuf_putc(&tb, '\0');
		if (fmt == REPORT_CSV) {
			report_csv_field(sb, w->workflow);
			sbuf_printf(sb, ",%lld,%lld,%s,%lld,%s,%s,", (long long)w->outcomes,
			            (long long)w->successes, rate, (long long)w->calls, usd, cps);
			report_csv_field(sb, tb.p ? tb.p : "");
			sbuf_putc(sb, '\n');
			sbuf_cleanup(&tb);
			continue;
		}
		sbuf_puts(sb, r ? ",{\"workflow\":" : "{\"workflow\":");
		sbuf_json_str(sb, w->workflow);
		sbuf_printf(sb,
		            ",\"outcomes\":%lld,\"successes\":%lld,\"success_rate\":\"%s\","
		            "\"calls\":%lld,\"spend_usd\":\"%s\",\"cost_per_success_usd\":%s%s%s,"
		            "\"calls_per_outcome_by_tier\":{%s},\"weeks\":[",
		            (long long)w->outcomes, (long long)w->successes, rate,
		            (long long)w->calls, usd, *cps ? "\"" : "", *cps ? cps : "null",
		            *cps ? "\"" : "", tb.p ? tb.p : "");
		sbuf_cleanup(&tb);
		bool first = true;
		for (size_t k = 0; k < o.n_weeks; k++) {
			const struct outcome_week_row *wk = &o.weeks[k];
			if (strcmp(wk->workflow, w->workflow) != 0)
				continue;
			report_usd(wk->spend_pusd, usd, sizeof usd);
			sbuf_printf(sb,
			            "%s{\"week\":\"%s\",\"outcomes\":%lld,\"successes\":%lld,"
			            "\"spend_usd\":\"%s\"}",
			            first ? "" : ",", wk->week, (long long)wk->outcomes,
			            (long long)wk->successes, usd);
			first = false;
		}
		sbuf_puts(sb, "]}");
	}
	report_usd(o.orphan_pusd, usd, sizeof usd);
	if (fmt == REPORT_CSV)
		sbuf_printf(sb,
		            "(outcome never arrived),,,,%lld,%s,,\n"
		            "(outcomes without calls),%lld,,,0,0.000000000000,,\n",
		            (long long)o.orphan_calls, usd, (long long)o.outcomes_without_calls);
	else
		sbuf_printf(sb,
		            "],\"calls_without_outcome\":{\"calls\":%lld,\"spend_usd\":\"%s\"},"
		            "\"outcomes_without_calls\":%lld}\n",
		            (long long)o.orphan_calls, usd, (long long)o.outcomes_without_calls);
	outcomes_result_cleanup(&o);
	return sb->oom ? tally_err_set(err, TALLY_ENOMEM, false, "out of memory") : 0;
}
