/* spend.c - the spend report: calls, tokens and exact cost by one dimension,
 * as totals or as a time series; the CLI and the API both format it here. */
#include <string.h>

#include "report.h"

/* What an absent key means for the dimension. */
static const char *no_key(int dim)
{
	if (dim == DIM_COST_CENTER)
		return "(unassigned)";
	if (dim == DIM_OUTCOME)
		return "(none)";
	if (dim == DIM_TAG)
		return "(no tag)";
	return "";
}

static void cost_usd(const char *pusd, char *out, size_t n)
{
	if (money_format_digits(pusd, 12, out, n) < 0)
		str_copy(out, n, "0.000000000000");
}

static void json_counters(struct sbuf *sb, const struct spend_row *row)
{
	char usd[64];

	cost_usd(row->cost_pusd, usd, sizeof usd);
	sbuf_printf(sb,
	            "\"calls\":%lld,\"input_tokens\":%lld,\"output_tokens\":%lld,"
	            "\"cache_read_tokens\":%lld,\"cache_write_tokens\":%lld,"
	            "\"reasoning_tokens\":%lld,\"cost_usd\":\"%s\",\"unpriced_calls\":%lld",
	            (long long)row->calls, (long long)row->input_tokens,
	            (long long)row->output_tokens, (long long)row->cache_read_tokens,
	            (long long)row->cache_write_tokens, (long long)row->reasoning_tokens, usd,
	            (long long)row->unpriced_calls);
}

void report_spend_format(const struct spend_result *r, int dim, enum report_format fmt,
                         struct sbuf *sb)
{
	const char *name = r->dim_name[0] ? r->dim_name : spend_dim_name(dim);
	char usd[64];

	if (fmt == REPORT_CSV) {
		sbuf_printf(sb,
		            "%s,calls,input_tokens,output_tokens,cache_read_tokens,"
		            "cache_write_tokens,reasoning_tokens,cost_usd,unpriced_calls\n",
		            name);
		for (size_t i = 0; i < r->n; i++) {
			const struct spend_row *row = &r->rows[i];
			report_csv_field(sb, row->key_null ? no_key(dim) : row->key);
			cost_usd(row->cost_pusd, usd, sizeof usd);
			sbuf_printf(
			    sb, ",%lld,%lld,%lld,%lld,%lld,%lld,%s,%lld\n", (long long)row->calls,
			    (long long)row->input_tokens, (long long)row->output_tokens,
			    (long long)row->cache_read_tokens, (long long)row->cache_write_tokens,
			    (long long)row->reasoning_tokens, usd, (long long)row->unpriced_calls);
		}
		return;
	}
	sbuf_puts(sb, "{\"group_by\":");
	sbuf_json_str(sb, name);
	sbuf_puts(sb, ",\"rows\":[");
	for (size_t i = 0; i < r->n; i++) {
		const struct spend_row *row = &r->rows[i];
		sbuf_puts(sb, i ? ",{" : "{");
		sbuf_json_str(sb, name);
		sbuf_putc(sb, ':');
		sbuf_json_str(sb, row->key_null ? no_key(dim) : row->key);
		sbuf_putc(sb, ',');
		json_counters(sb, row);
		sbuf_putc(sb, '}');
	}
	sbuf_puts(sb, "],\"total\":{");
	json_counters(sb, &r->total);
	sbuf_printf(sb, "},\"unpriced_calls\":%lld}\n", (long long)r->total.unpriced_calls);
}

void report_spend_series_format(const struct spend_series *s, int dim, int bucket, struct sbuf *sb)
{
	const char *name = spend_dim_name(dim);

	sbuf_puts(sb, "{\"group_by\":");
	sbuf_json_str(sb, name);
	sbuf_printf(sb, ",\"bucket\":\"%s\",\"series\":[", bucket == BUCKET_DAY ? "day" : "hour");
	for (size_t i = 0; i < s->n; i++) {
		const struct spend_series_row *row = &s->rows[i];
		sbuf_puts(sb, i ? ",{\"bucket\":" : "{\"bucket\":");
		sbuf_json_str(sb, row->bucket);
		sbuf_putc(sb, ',');
		sbuf_json_str(sb, name);
		sbuf_putc(sb, ':');
		sbuf_json_str(sb, row->r.key_null ? no_key(dim) : row->r.key);
		sbuf_putc(sb, ',');
		json_counters(sb, &row->r);
		sbuf_putc(sb, '}');
	}
	sbuf_puts(sb, "],\"total\":{");
	json_counters(sb, &s->total);
	sbuf_puts(sb, "}}\n");
}
