/* mismatch.c - provider_cost_usd against tally's own cost, per provider and
 * model (docs/prices.md): a mismatch beyond rounding is reported, not trusted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

/* Calls in [from, to) that carried provider_cost_usd, per provider and
 * model: how many, how many disagree with tally's cost by more than
 * LEDGER_MISMATCH_TOLERANCE_PUSD (or could not be priced), and both sums.
 * CSV or JSON into sb. */
int report_cost_mismatch(struct ledger *lg, int64_t from_us, int64_t to_us, enum report_format fmt,
                         struct sbuf *sb, struct tally_err *err)
{
	char from[40], to[40], usd[3][64];
	struct cost_mismatch_row *rows = NULL;
	size_t n = 0;
	int64_t mismatched = 0;

	time_format(from_us, from);
	time_format(to_us, to);
	if (ledger_cost_mismatches(lg, from_us, to_us, &rows, &n, err) < 0)
		return -1;
	if (fmt == REPORT_CSV)
		sbuf_puts(sb, "provider,model,calls,mismatched_calls,unpriced_calls,"
		              "provider_cost_usd,tally_cost_usd,difference_usd\n");
	else
		sbuf_printf(
		    sb, "{\"from\":\"%s\",\"to\":\"%s\",\"tolerance_usd\":\"0.000001\",\"rows\":[",
		    from, to);
	for (size_t r = 0; r < n; r++) {
		const struct cost_mismatch_row *m = &rows[r];
		report_usd(m->provider_pusd, usd[0], sizeof usd[0]);
		report_usd(m->tally_pusd, usd[1], sizeof usd[1]);
		report_usd(m->diff_pusd, usd[2], sizeof usd[2]);
		mismatched += m->mismatched;
		if (fmt == REPORT_CSV) {
			report_csv_field(sb, m->provider);
			sbuf_putc(sb, ',');
			report_csv_field(sb, m->model);
			sbuf_printf(sb, ",%lld,%lld,%lld,%s,%s,%s\n", (long long)m->calls,
			            (long long)m->mismatched, (long long)m->unpriced, usd[0],
			            usd[1], usd[2]);
			continue;
		}
		sbuf_puts(sb, r ? ",{\"provider\":" : "{\"provider\":");
		sbuf_json_str(sb, m->provider);
		sbuf_puts(sb, ",\"model\":");
		sbuf_json_str(sb, m->model);
		sbuf_printf(sb,
		            ",\"calls\":%lld,\"mismatched_calls\":%lld,\"unpriced_calls\":%lld,"
		            "\"provider_cost_usd\":\"%s\",\"tally_cost_usd\":\"%s\","
		            "\"difference_usd\":\"%s\"}",
		            (long long)m->calls, (long long)m->mismatched, (long long)m->unpriced,
		            usd[0], usd[1], usd[2]);
	}
	if (fmt == REPORT_JSON)
		sbuf_printf(sb, "],\"mismatched_calls\":%lld}\n", (long long)mismatched);
	free(rows);
	if (sb->oom)
		return tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
	return 0;
}
