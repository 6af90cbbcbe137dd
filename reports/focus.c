/* focus.c - the FinOps FOCUS 1.2 export (docs/focus.md): one CSV row per
 * charge period, provider, model, token kind and attribution, streamed from
 * a server-side cursor. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "report.h"

#define FOCUS_FLUSH (64 * 1024)

static const char focus_header[] =
    "BilledCost,BillingAccountId,BillingAccountName,BillingCurrency,BillingPeriodEnd,"
    "BillingPeriodStart,ChargeCategory,ChargeClass,ChargeDescription,ChargeFrequency,"
    "ChargePeriodEnd,ChargePeriodStart,ConsumedQuantity,ConsumedUnit,ContractedCost,"
    "EffectiveCost,InvoiceIssuerName,ListCost,PricingCategory,PricingQuantity,PricingUnit,"
    "ProviderName,PublisherName,ServiceCategory,ServiceName,ServiceSubcategory,SkuId,"
    "SubAccountId,SubAccountName,Tags,x_CallCount,x_TokenKind\n";

/* Columns of LRS_FOCUS_*. */
enum {
	F_CPS,
	F_CPE,
	F_BPS,
	F_BPE,
	F_PROVIDER,
	F_MODEL,
	F_KIND,
	F_TEAM,
	F_WORKFLOW,
	F_TASK,
	F_CC,
	F_QTY,
	F_BILLED,
	F_LIST,
	F_CALLS,
	F_NCOLS
};

struct focus_ctx {
	struct sbuf buf;
	report_write_fn out;
	void *out_ctx;
	int64_t rows;
};

/* How a price component (ledger/price_components.h) reads in ChargeDescription,
 * and its unit. */
static const char *kind_words(const char *kind)
{
	static const struct {
		const char *kind, *words;
	} w[] = {
	    {"cache_read", "cache read input tokens"},
	    {"cache_write", "cache write input tokens"},
	    {"cache_write_1h", "1-hour cache write input tokens"},
	    {"audio_input", "audio input tokens"},
	    {"audio_cache_read", "cache read audio input tokens"},
	    {"image_input", "image input tokens"},
	    {"reasoning", "reasoning output tokens"},
	    {"output", "output tokens"},
	    {"audio_output", "audio output tokens"},
	    {"image_output", "image output tokens"},
	    {"web_search", "web search queries"},
	    {"request", "per-request fees"},
	};
	for (size_t i = 0; i < sizeof w / sizeof *w; i++)
		if (strcmp(kind, w[i].kind) == 0)
			return w[i].words;
	return "uncached input tokens";
}

static const char *kind_unit(const char *kind)
{
	for (int k = 0; k < PC_COUNT; k++)
		if (strcmp(kind, price_component_names[k]) == 0)
			return strcmp(price_component_units[k], "queries") == 0    ? "Queries"
			       : strcmp(price_component_units[k], "requests") == 0 ? "Requests"
			                                                           : "Tokens";
	return "Tokens";
}

static int focus_flush(struct focus_ctx *fc, struct tally_err *err)
{
	if (fc->buf.oom)
		return tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
	if (fc->buf.len && fc->out(fc->out_ctx, fc->buf.p, fc->buf.len) < 0)
		return tally_err_set(err, TALLY_EIO, false, "cannot write the export: %s",
		                     strerror(errno));
	sbuf_reset(&fc->buf);
	return 0;
}

static int focus_row(void *ctx, int ncols, const char *const *v, struct tally_err *err)
{
	struct focus_ctx *fc = ctx;
	struct sbuf *b = &fc->buf;
	char billed[64], list[64], text[600];
	const char *cc = v[F_CC] ? v[F_CC] : "";

	if (ncols != F_NCOLS)
		return tally_err_set(err, TALLY_EINVAL, false, "FOCUS: unexpected columns");
	report_usd(v[F_BILLED], billed, sizeof billed);
	report_usd(v[F_LIST], list, sizeof list);
	/* BilledCost .. BillingPeriodStart */
	sbuf_printf(b, "%s,", billed);
	report_csv_field(b, v[F_PROVIDER]);
	sbuf_putc(b, ',');
	report_csv_field(b, v[F_PROVIDER]);
	sbuf_printf(b, ",USD,%s,%s,Usage,,", v[F_BPE], v[F_BPS]);
	snprintf(text, sizeof text, "%s of %s/%s", kind_words(v[F_KIND]), v[F_PROVIDER],
	         v[F_MODEL]);
	report_csv_field(b, text);
	sbuf_printf(b, ",Usage-Based,%s,%s,%s,%s,%s,%s,", v[F_CPE], v[F_CPS], v[F_QTY],
	            kind_unit(v[F_KIND]), billed, billed);
	report_csv_field(b, v[F_PROVIDER]);
	sbuf_printf(b, ",%s,Standard,%s,%s,", list, v[F_QTY], kind_unit(v[F_KIND]));
	report_csv_field(b, v[F_PROVIDER]);
	sbuf_putc(b, ',');
	report_csv_field(b, v[F_PROVIDER]);
	sbuf_puts(b, ",AI and Machine Learning,");
	snprintf(text, sizeof text, "%s %s", v[F_PROVIDER], v[F_MODEL]);
	report_csv_field(b, text);
	sbuf_puts(b, ",Generative AI,");
	snprintf(text, sizeof text, "%s/%s/%s", v[F_PROVIDER], v[F_MODEL], v[F_KIND]);
	report_csv_field(b, text);
	sbuf_putc(b, ',');
	report_csv_field(b, v[F_TEAM]);
	sbuf_putc(b, ',');
	report_csv_field(b, v[F_TEAM]);
	sbuf_putc(b, ',');
	/* Tags: a JSON object in one CSV field. */
	struct sbuf tags;
	sbuf_init(&tags);
	sbuf_puts(&tags, "{\"team\":");
	sbuf_json_str(&tags, v[F_TEAM]);
	sbuf_puts(&tags, ",\"workflow\":");
	sbuf_json_str(&tags, v[F_WORKFLOW]);
	sbuf_puts(&tags, ",\"task_type\":");
	sbuf_json_str(&tags, v[F_TASK]);
	sbuf_puts(&tags, ",\"cost_center\":");
	sbuf_json_str(&tags, cc);
	sbuf_putc(&tags, '}');
	sbuf_putc(&tags, '\0');
	report_csv_field(b, tags.oom ? "{}" : tags.p);
	sbuf_cleanup(&tags);
	sbuf_printf(b, ",%s,%s\n", v[F_CALLS], v[F_KIND]);
	fc->rows++;
	if (b->len >= FOCUS_FLUSH)
		return focus_flush(fc, err);
	return 0;
}

int report_focus(struct ledger *lg, int64_t from_us, int64_t to_us, bool hourly,
                 report_write_fn out, void *ctx, int64_t *rows, struct tally_err *err)
{
	struct focus_ctx fc = {.out = out, .out_ctx = ctx};
	char from[40], to[40];
	const char *params[2] = {from, to};
	int rc;

	time_format(from_us, from);
	time_format(to_us, to);
	sbuf_init(&fc.buf);
	sbuf_puts(&fc.buf, focus_header);
	/* Whole hours from the collector's charge rollups, else from the calls. */
	const int64_t hour = INT64_C(3600000000);
	bool whole = from_us % hour == 0 && to_us % hour == 0;
	int which = whole ? (hourly ? LRS_FOCUS_HOUR : LRS_FOCUS_DAY)
	                  : (hourly ? LRS_FOCUS_HOUR_CALLS : LRS_FOCUS_DAY_CALLS);
	rc = ledger_report_stream(lg, which, params, 2, focus_row, &fc, err);
	if (rc == 0)
		rc = focus_flush(&fc, err);
	sbuf_cleanup(&fc.buf);
	if (rows)
		*rows = fc.rows;
	return rc;
}

static int file_write(void *ctx, const char *data, size_t len)
{
	return fwrite(data, 1, len, ctx) == len ? 0 : -1;
}

int report_focus_file(struct ledger *lg, int64_t from_us, int64_t to_us, bool hourly,
                      const char *path, int64_t *rows, struct tally_err *err)
{
	char tmp[PATH_MAX];
	FILE *fp = NULL;
	int rc = -1;

	if (!path || strcmp(path, "-") == 0) {
		if (report_focus(lg, from_us, to_us, hourly, file_write, stdout, rows, err) < 0)
			return -1;
		return fflush(stdout) == 0
		           ? 0
		           : tally_err_set(err, TALLY_EIO, false, "cannot write stdout");
	}
	if (snprintf(tmp, sizeof tmp, "%s.partial", path) >= (int)sizeof tmp)
		return tally_err_set(err, TALLY_EINVAL, false, "path too long: %s", path);
	if (!(fp = fopen(tmp, "w"))) {
		tally_err_set(err, TALLY_EIO, false, "cannot create %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (report_focus(lg, from_us, to_us, hourly, file_write, fp, rows, err) < 0)
		goto out;
	if (fflush(fp) != 0 || fsync(fileno(fp)) != 0 || fclose(fp) != 0) {
		fp = NULL;
		tally_err_set(err, TALLY_EIO, false, "cannot finish %s: %s", tmp, strerror(errno));
		goto out;
	}
	fp = NULL;
	if (rename(tmp, path) != 0) {
		tally_err_set(err, TALLY_EIO, false, "cannot rename %s to %s: %s", tmp, path,
		              strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fp)
		fclose(fp);
	if (rc != 0)
		unlink(tmp);
	return rc;
}
