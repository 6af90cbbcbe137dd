/* chargeback.c - monthly chargeback / showback per cost centre and team. */
#include <stdio.h>
#include <string.h>

#include "report.h"

const char *report_share_method(const char *method)
{
	if (strcmp(method, "proportional") == 0)
		return "unassigned spend shared proportionally to each assigned team's spend"
		       " (largest remainder, exact)";
	if (strcmp(method, "even") == 0)
		return "unassigned spend shared evenly among assigned teams (largest remainder,"
		       " exact)";
	return "unassigned spend shown as (unassigned), not shared";
}

/* share_ppm (millionths) as a percentage with 4 fraction digits. */
static void pct(int64_t ppm, char *out, size_t n)
{
	snprintf(out, n, "%lld.%04lld", (long long)(ppm / 10000), (long long)(ppm % 10000));
}

/* A single team's view (a viewer) has no share_pct: its share of the month
 * and its own spend would give the month's total, hence the other teams'. */
static void json_row(struct sbuf *sb, const struct chargeback_row *row, bool single)
{
	char usd[64], d[64], s[64], p[32];

	report_usd(row->cost_pusd, usd, sizeof usd);
	report_usd(row->direct_pusd, d, sizeof d);
	report_usd(row->shared_pusd, s, sizeof s);
	pct(row->share_ppm, p, sizeof p);
	sbuf_puts(sb, "{\"cost_center\":");
	sbuf_json_str(sb, row->unassigned ? "(unassigned)" : row->cost_center);
	sbuf_puts(sb, ",\"team\":");
	sbuf_json_str(sb, row->team);
	sbuf_printf(sb,
	            ",\"calls\":%lld,\"input_tokens\":%lld,\"output_tokens\":%lld,"
	            "\"cost_usd\":\"%s\",\"direct_cost_usd\":\"%s\",\"shared_usd\":\"%s\","
	            "\"share_pct\":",
	            (long long)row->calls, (long long)row->input_tokens,
	            (long long)row->output_tokens, usd, d, s);
	if (single)
		sbuf_puts(sb, "null}");
	else
		sbuf_printf(sb, "\"%s\"}", p);
}

void report_chargeback_format(const struct chargeback_result *r, const char *month,
                              const char *team, enum report_format fmt, struct sbuf *sb)
{
	char usd[64], p[32];
	int64_t calls = 0, in = 0, out = 0, ppm = 0;
	bool first = true;

	if (fmt == REPORT_CSV)
		sbuf_puts(sb, "month,cost_center,team,calls,input_tokens,output_tokens,cost_usd,"
		              "share_pct\n");
	else {
		sbuf_puts(sb, "{\"month\":");
		sbuf_json_str(sb, month);
		sbuf_puts(sb, ",\"method\":");
		sbuf_json_str(sb, r->method);
		sbuf_puts(sb, ",\"method_description\":");
		sbuf_json_str(sb, report_share_method(r->method));
		sbuf_puts(sb, ",\"rows\":[");
	}
	for (size_t i = 0; i < r->n; i++) {
		const struct chargeback_row *row = &r->rows[i];
		if (team && strcmp(team, row->team) != 0)
			continue;
		calls += row->calls;
		in += row->input_tokens;
		out += row->output_tokens;
		ppm += row->share_ppm;
		if (fmt == REPORT_JSON) {
			if (!first)
				sbuf_putc(sb, ',');
			json_row(sb, row, team != NULL);
			first = false;
			continue;
		}
		report_usd(row->cost_pusd, usd, sizeof usd);
		pct(row->share_ppm, p, sizeof p);
		report_csv_field(sb, month);
		sbuf_putc(sb, ',');
		report_csv_field(sb, row->unassigned ? "(unassigned)" : row->cost_center);
		sbuf_putc(sb, ',');
		report_csv_field(sb, row->team);
		sbuf_printf(sb, ",%lld,%lld,%lld,%s,%s\n", (long long)row->calls,
		            (long long)row->input_tokens, (long long)row->output_tokens, usd,
		            team ? "" : p);
	}
	if (fmt == REPORT_CSV)
		return;
	/* A single team's view totals its own row; the whole report totals the
	 * ledger's exact sum. */
	if (team) {
		const char *cost = "0";
		for (size_t i = 0; i < r->n; i++)
			if (strcmp(team, r->rows[i].team) == 0)
				cost = r->rows[i].cost_pusd;
		report_usd(cost, usd, sizeof usd);
	} else
		report_usd(r->total_pusd, usd, sizeof usd);
	pct(ppm, p, sizeof p);
	sbuf_printf(sb,
	            "],\"total\":{\"calls\":%lld,\"input_tokens\":%lld,\"output_tokens\":%lld,"
	            "\"cost_usd\":\"%s\",\"share_pct\":%s%s%s}",
	            (long long)calls, (long long)in, (long long)out, usd, team ? "" : "\"",
	            team ? "null" : p, team ? "" : "\"");
	report_usd(r->unassigned_pusd, usd, sizeof usd);
	sbuf_printf(sb, ",\"unassigned_cost_usd\":\"%s\"}\n", team ? "0.000000000000" : usd);
}

void report_teams_format(const struct team_row *rows, size_t n, const char *team,
                         enum report_format fmt, struct sbuf *sb)
{
	bool first = true;

	sbuf_puts(sb, fmt == REPORT_CSV ? "team,cost_center,first_seen\n" : "{\"teams\":[");
	for (size_t r = 0; r < n; r++) {
		const struct team_row *t = &rows[r];
		if (team && strcmp(team, t->team) != 0)
			continue;
		if (fmt == REPORT_CSV) {
			report_csv_field(sb, t->team);
			sbuf_putc(sb, ',');
			report_csv_field(sb, t->unassigned ? "(unassigned)" : t->cost_center);
			sbuf_printf(sb, ",%s\n", t->first_seen);
			continue;
		}
		sbuf_puts(sb, first ? "{\"team\":" : ",{\"team\":");
		sbuf_json_str(sb, t->team);
		sbuf_puts(sb, ",\"cost_center\":");
		if (t->unassigned)
			sbuf_puts(sb, "null");
		else
			sbuf_json_str(sb, t->cost_center);
		sbuf_printf(sb, ",\"first_seen\":\"%s\"}", t->first_seen);
		first = false;
	}
	if (fmt == REPORT_JSON)
		sbuf_puts(sb, "]}\n");
}
