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

static int64_t num(const struct ledger_table *t, int r, int c)
{
	return strtoll(ledger_cell(t, r, c), NULL, 10);
}

int report_outcomes(struct ledger *lg, int64_t from_us, int64_t to_us, enum report_format fmt,
                    struct sbuf *sb, struct tally_err *err)
{
	char from[40], to[40], usd[64], cps[64], rate[32], per[32];
	const char *p[2] = {from, to};
	struct ledger_table w = {0}, tiers = {0}, weeks = {0}, apart = {0};
	int rc = -1;

	time_format(from_us, from);
	time_format(to_us, to);
	if (ledger_report_query(lg, LRS_OUTCOMES, p, 2, &w, err) < 0 ||
	    ledger_report_query(lg, LRS_OUTCOMES_TIERS, p, 2, &tiers, err) < 0 ||
	    ledger_report_query(lg, LRS_OUTCOMES_WEEKS, p, 2, &weeks, err) < 0 ||
	    ledger_report_query(lg, LRS_OUTCOMES_APART, p, 2, &apart, err) < 0)
		goto out;
	if (fmt == REPORT_CSV)
		sbuf_puts(sb, "workflow,outcomes,successes,success_rate,calls,spend_usd,"
		              "cost_per_success_usd,calls_per_outcome_by_tier\n");
	else {
		sbuf_printf(sb, "{\"from\":\"%s\",\"to\":\"%s\",\"workflows\":[", from, to);
	}
	for (int r = 0; r < w.rows; r++) {
		const char *wf = ledger_cell(&w, r, 0);
		int64_t outcomes = num(&w, r, 1), succ = num(&w, r, 2), calls = num(&w, r, 3);
		report_usd(ledger_cell(&w, r, 4), usd, sizeof usd);
		usd_per(ledger_cell(&w, r, 4), succ, cps, sizeof cps);
		ratio(succ, outcomes, 4, rate, sizeof rate);
		struct sbuf tb;
		sbuf_init(&tb);
		for (int t = 0; t < tiers.rows; t++) {
			if (strcmp(ledger_cell(&tiers, t, 0), wf) != 0)
				continue;
			ratio(num(&tiers, t, 2), outcomes, 2, per, sizeof per);
			if (fmt == REPORT_CSV)
				sbuf_printf(&tb, "%s%s:%s", tb.len ? ";" : "",
				            ledger_cell(&tiers, t, 1), per);
			else {
				sbuf_puts(&tb, tb.len ? "," : "");
				sbuf_json_str(&tb, ledger_cell(&tiers, t, 1));
				sbuf_printf(&tb, ":\"%s\"", per);
			}
		}
		sbuf_putc(&tb, '\0');
		if (fmt == REPORT_CSV) {
			report_csv_field(sb, wf);
			sbuf_printf(sb, ",%lld,%lld,%s,%lld,%s,%s,", (long long)outcomes,
			            (long long)succ, rate, (long long)calls, usd, cps);
			report_csv_field(sb, tb.p ? tb.p : "");
			sbuf_putc(sb, '\n');
			sbuf_cleanup(&tb);
			continue;
		}
		sbuf_puts(sb, r ? ",{\"workflow\":" : "{\"workflow\":");
		sbuf_json_str(sb, wf);
		sbuf_printf(sb,
		            ",\"outcomes\":%lld,\"successes\":%lld,\"success_rate\":\"%s\","
		            "\"calls\":%lld,\"spend_usd\":\"%s\",\"cost_per_success_usd\":%s%s%s,"
		            "\"calls_per_outcome_by_tier\":{%s},\"weeks\":[",
		            (long long)outcomes, (long long)succ, rate, (long long)calls, usd,
		            *cps ? "\"" : "", *cps ? cps : "null", *cps ? "\"" : "",
		            tb.p ? tb.p : "");
		sbuf_cleanup(&tb);
		bool first = true;
		for (int k = 0; k < weeks.rows; k++) {
			if (strcmp(ledger_cell(&weeks, k, 0), wf) != 0)
				continue;
			report_usd(ledger_cell(&weeks, k, 4), usd, sizeof usd);
			sbuf_printf(sb,
			            "%s{\"week\":\"%s\",\"outcomes\":%lld,\"successes\":%lld,"
			            "\"spend_usd\":\"%s\"}",
			            first ? "" : ",", ledger_cell(&weeks, k, 1),
			            (long long)num(&weeks, k, 2), (long long)num(&weeks, k, 3),
			            usd);
			first = false;
		}
		sbuf_puts(sb, "]}");
	}
	if (apart.rows == 1) {
		report_usd(ledger_cell(&apart, 0, 1), usd, sizeof usd);
		if (fmt == REPORT_CSV)
			sbuf_printf(sb,
			            "(outcome never arrived),,,,%lld,%s,,\n"
			            "(outcomes without calls),%lld,,,0,0.000000000000,,\n",
			            (long long)num(&apart, 0, 0), usd,
			            (long long)num(&apart, 0, 2));
		else
			sbuf_printf(
			    sb,
			    "],\"calls_without_outcome\":{\"calls\":%lld,\"spend_usd\":\"%s\"},"
			    "\"outcomes_without_calls\":%lld}\n",
			    (long long)num(&apart, 0, 0), usd, (long long)num(&apart, 0, 2));
	}
	rc = sb->oom ? tally_err_set(err, TALLY_ENOMEM, false, "out of memory") : 0;
out:
	ledger_table_cleanup(&w);
	ledger_table_cleanup(&tiers);
	ledger_table_cleanup(&weeks);
	ledger_table_cleanup(&apart);
	return rc;
}
