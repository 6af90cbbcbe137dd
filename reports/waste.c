/* waste.c - the "laziness tax" (docs/reports.md) per team and workflow: spend on
 * failed, errored and timed-out calls; spend on repeated identical prompts
 * that a cache could have served; savings already realised by cache hits;
 * and over-tier spend once the router's policy exists. */
#include <stdio.h>
#include <string.h>

#include "report.h"

static const char over_tier_note[] =
    "over-tier spend needs a routing policy version (the router publishes one once it has"
    " enough samples; see `tally router history`); none was in force in this period (or the"
    " version named does not exist), so the column is empty";

/* A cell of LRS_WASTE, "0" for SQL NULL (the totals of no rows); row -1: none. */
static const char *cell0(const struct ledger_table *t, int r, int c)
{
	return r >= 0 && !ledger_cell_null(t, r, c) ? ledger_cell(t, r, c) : "0";
}

/* failed, repeated, cache savings, spend, over-tier ("" without a policy) */
static void waste_usd(const struct ledger_table *t, int r, bool policy, char usd[5][64])
{
	report_usd(cell0(t, r, 3), usd[0], sizeof usd[0]);
	report_usd(cell0(t, r, 5), usd[1], sizeof usd[1]);
	report_usd(cell0(t, r, 7), usd[2], sizeof usd[2]);
	report_usd(cell0(t, r, 8), usd[3], sizeof usd[3]);
	if (policy)
		report_usd(cell0(t, r, 9), usd[4], sizeof usd[4]);
	else
		usd[4][0] = '\0';
}

static void waste_json_fields(struct sbuf *sb, const struct ledger_table *t, int r, bool policy)
{
	char usd[5][64];

	waste_usd(t, r, policy, usd);
	sbuf_printf(sb,
	            "\"failed_calls\":%s,\"failed_usd\":\"%s\",\"repeated_calls\":%s,"
	            "\"repeated_usd\":\"%s\",\"cache_hit_calls\":%s,"
	            "\"cache_savings_usd\":\"%s\",\"over_tier_usd\":%s%s%s,"
	            "\"spend_usd\":\"%s\"",
	            cell0(t, r, 2), usd[0], cell0(t, r, 4), usd[1], cell0(t, r, 6), usd[2],
	            policy ? "\"" : "", policy ? usd[4] : "null", policy ? "\"" : "", usd[3]);
}

int report_waste(struct ledger *lg, int64_t from_us, int64_t to_us, int64_t window_s,
                 const char *team, int64_t policy_version, enum report_format fmt, struct sbuf *sb,
                 struct tally_err *err)
{
	char from[40], to[40], win[24], ver[24], usd[5][64];
	const char *p[5] = {from, to, win, team, policy_version > 0 ? ver : NULL};
	struct ledger_table t = {0};
	bool policy;

	time_format(from_us, from);
	time_format(to_us, to);
	snprintf(win, sizeof win, "%lld", (long long)window_s);
	snprintf(ver, sizeof ver, "%lld", (long long)policy_version);
	if (ledger_report_query(lg, LRS_WASTE, p, 5, &t, err) < 0)
		return -1;
	/* Every row says whether a policy exists (the totals row is always there). */
	policy = t.rows > 0 && strcmp(ledger_cell(&t, t.rows - 1, 11), "t") == 0;
	if (fmt == REPORT_CSV)
		sbuf_puts(sb, "team,workflow,failed_calls,failed_usd,repeated_calls,repeated_usd,"
		              "cache_hit_calls,cache_savings_usd,over_tier_usd,spend_usd\n");
	else
		sbuf_printf(sb, "{\"from\":\"%s\",\"to\":\"%s\",\"window_s\":%lld,\"rows\":[", from,
		            to, (long long)window_s);
	int total = -1, n = 0;
	for (int r = 0; r < t.rows; r++) {
		if (strcmp(cell0(&t, r, 10), "1") == 0) {
			total = r; /* GROUPING SETS' () row: the totals */
			continue;
		}
		if (fmt == REPORT_CSV) {
			waste_usd(&t, r, policy, usd);
			report_csv_field(sb, ledger_cell(&t, r, 0));
			sbuf_putc(sb, ',');
			report_csv_field(sb, ledger_cell(&t, r, 1));
			sbuf_printf(sb, ",%s,%s,%s,%s,%s,%s,%s,%s\n", cell0(&t, r, 2), usd[0],
			            cell0(&t, r, 4), usd[1], cell0(&t, r, 6), usd[2], usd[4],
			            usd[3]);
			continue;
		}
		sbuf_puts(sb, n++ ? ",{\"team\":" : "{\"team\":");
		sbuf_json_str(sb, ledger_cell(&t, r, 0));
		sbuf_puts(sb, ",\"workflow\":");
		sbuf_json_str(sb, ledger_cell(&t, r, 1));
		sbuf_putc(sb, ',');
		waste_json_fields(sb, &t, r, policy);
		sbuf_putc(sb, '}');
	}
	if (fmt == REPORT_JSON) {
		sbuf_puts(sb, "],\"total\":{");
		waste_json_fields(sb, &t, total, policy);
		/* which policy judged the over-tier column: the version in force
		 * when each call was made, or the one named; and the versions used */
		if (policy_version > 0)
			sbuf_printf(
			    sb,
			    "},\"over_tier_policy\":\"version\",\"over_tier_policy_version\":%lld,",
			    (long long)policy_version);
		else
			sbuf_puts(sb, "},\"over_tier_policy\":\"in_force_at_each_call\","
			              "\"over_tier_policy_version\":null,");
		sbuf_printf(sb, "\"over_tier_policy_versions\":[%s],\"over_tier_note\":",
		            t.rows > 0 ? ledger_cell(&t, t.rows - 1, 12) : "");
		if (policy)
			sbuf_puts(sb, "null}\n");
		else {
			sbuf_json_str(sb, over_tier_note);
			sbuf_puts(sb, "}\n");
		}
	}
	ledger_table_cleanup(&t);
	return sb->oom ? tally_err_set(err, TALLY_ENOMEM, false, "out of memory") : 0;
}
