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

/* failed, repeated, cache savings, spend, over-tier ("" without a policy) */
static void waste_usd(const struct waste_row *w, bool policy, char usd[5][64])
{
	report_usd(w->failed_pusd, usd[0], sizeof usd[0]);
	report_usd(w->repeated_pusd, usd[1], sizeof usd[1]);
	report_usd(w->savings_pusd, usd[2], sizeof usd[2]);
	report_usd(w->spend_pusd, usd[3], sizeof usd[3]);
	if (policy)
		report_usd(w->over_tier_pusd, usd[4], sizeof usd[4]);
	else
		usd[4][0] = '\0';
}

static void waste_json_fields(struct sbuf *sb, const struct waste_row *w, bool policy)
{
	char usd[5][64];

	waste_usd(w, policy, usd);
	sbuf_printf(sb,
	            "\"failed_calls\":%lld,\"failed_usd\":\"%s\",\"repeated_calls\":%lld,"
	            "\"repeated_usd\":\"%s\",\"cache_hit_calls\":%lld,"
	            "\"cache_savings_usd\":\"%s\",\"over_tier_usd\":%s%s%s,"
	            "\"spend_usd\":\"%s\"",
	            (long long)w->failed_calls, usd[0], (long long)w->repeated_calls, usd[1],
	            (long long)w->cache_hit_calls, usd[2], policy ? "\"" : "",
	            policy ? usd[4] : "null", policy ? "\"" : "", usd[3]);
}

int report_waste(struct ledger *lg, int64_t from_us, int64_t to_us, int64_t window_s,
                 const char *team, int64_t policy_version, enum report_format fmt, struct sbuf *sb,
                 struct tally_err *err)
{
	char from[40], to[40], usd[5][64];
	struct waste_result wr;

	if (ledger_waste(lg, from_us, to_us, window_s, team, policy_version, &wr, err) < 0)
		return -1;
	time_format(from_us, from);
	time_format(to_us, to);
	if (fmt == REPORT_CSV)
		sbuf_puts(sb, "team,workflow,failed_calls,failed_usd,repeated_calls,repeated_usd,"
		              "cache_hit_calls,cache_savings_usd,over_tier_usd,spend_usd\n");
	else
		sbuf_printf(sb, "{\"from\":\"%s\",\"to\":\"%s\",\"window_s\":%lld,\"rows\":[", from,
		            to, (long long)window_s);
	for (size_t i = 0; i < wr.n; i++) {
		const struct waste_row *w = &wr.rows[i];
		if (fmt == REPORT_CSV) {
			waste_usd(w, wr.policy, usd);
			report_csv_field(sb, w->team);
			sbuf_putc(sb, ',');
			report_csv_field(sb, w->workflow);
			sbuf_printf(sb, ",%lld,%s,%lld,%s,%lld,%s,%s,%s\n",
			            (long long)w->failed_calls, usd[0],
			            (long long)w->repeated_calls, usd[1],
			            (long long)w->cache_hit_calls, usd[2], usd[4], usd[3]);
			continue;
		}
		sbuf_puts(sb, i ? ",{\"team\":" : "{\"team\":");
		sbuf_json_str(sb, w->team);
		sbuf_puts(sb, ",\"workflow\":");
		sbuf_json_str(sb, w->workflow);
		sbuf_putc(sb, ',');
		waste_json_fields(sb, w, wr.policy);
		sbuf_putc(sb, '}');
	}
	if (fmt == REPORT_JSON) {
		sbuf_puts(sb, "],\"total\":{");
		waste_json_fields(sb, &wr.total, wr.policy);
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
		sbuf_printf(sb,
		            "\"over_tier_policy_versions\":[%s],\"over_tier_note\":", wr.versions);
		if (wr.policy)
			sbuf_puts(sb, "null}\n");
		else {
			sbuf_json_str(sb, over_tier_note);
			sbuf_puts(sb, "}\n");
		}
	}
	waste_result_cleanup(&wr);
	return sb->oom ? tally_err_set(err, TALLY_ENOMEM, false, "out of memory") : 0;
}
