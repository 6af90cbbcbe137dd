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
	char from[40], to[40], tol[24], usd[3][64];
	const char *p[3] = {from, to, tol};
	struct ledger_table t = {0};
	int64_t mismatched = 0;

	time_format(from_us, from);
	time_format(to_us, to);
	snprintf(tol, sizeof tol, "%lld", (long long)LEDGER_MISMATCH_TOLERANCE_PUSD);
	if (ledger_report_query(lg, LRS_COST_MISMATCH, p, 3, &t, err) < 0)
		return -1;
	if (fmt == REPORT_CSV)
		sbuf_puts(sb, "provider,model,calls,mismatched_calls,unpriced_calls,"
		              "provider_cost_usd,tally_cost_usd,difference_usd\n");
	else
		sbuf_printf(
		    sb, "{\"from\":\"%s\",\"to\":\"%s\",\"tolerance_usd\":\"0.000001\",\"rows\":[",
		    from, to);
	for (int r = 0; r < t.rows; r++) {
		for (int i = 0; i < 3; i++)
			report_usd(ledger_cell(&t, r, 5 + i), usd[i], sizeof usd[i]);
		mismatched += strtoll(ledger_cell(&t, r, 3), NULL, 10);
		if (fmt == REPORT_CSV) {
			report_csv_field(sb, ledger_cell(&t, r, 0));
			sbuf_putc(sb, ',');
			report_csv_field(sb, ledger_cell(&t, r, 1));
			sbuf_printf(sb, ",%s,%s,%s,%s,%s,%s\n", ledger_cell(&t, r, 2),
			            ledger_cell(&t, r, 3), ledger_cell(&t, r, 4), usd[0], usd[1],
			            usd[2]);
			continue;
		}
		sbuf_puts(sb, r ? ",{\"provider\":" : "{\"provider\":");
		sbuf_json_str(sb, ledger_cell(&t, r, 0));
		sbuf_puts(sb, ",\"model\":");
		sbuf_json_str(sb, ledger_cell(&t, r, 1));
		sbuf_printf(sb,
		            ",\"calls\":%s,\"mismatched_calls\":%s,\"unpriced_calls\":%s,"
		            "\"provider_cost_usd\":\"%s\",\"tally_cost_usd\":\"%s\","
		            "\"difference_usd\":\"%s\"}",
		            ledger_cell(&t, r, 2), ledger_cell(&t, r, 3), ledger_cell(&t, r, 4),
		            usd[0], usd[1], usd[2]);
	}
	if (fmt == REPORT_JSON)
		sbuf_printf(sb, "],\"mismatched_calls\":%lld}\n", (long long)mismatched);
	ledger_table_cleanup(&t);
	if (sb->oom)
		return tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
	return 0;
}
