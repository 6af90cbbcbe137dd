/* focus.c - the FinOps FOCUS 1.2 export (docs/focus.md): one CSV row per
 * charge period, route, model, attribution, tag set, price version, pricing
 * mode and price component (ledger_focus_stream), each with one unit price;
 * and the schema metadata that goes with every file and API answer. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report.h"

#define FOCUS_FLUSH (64 * 1024)

/* FOCUS_COLUMNS(X): X(ID, name, DataType) - the file's columns in order:
 * the FOCUS columns alphabetically, then tally's own (x_). The CSV header
 * and the metadata's ColumnDefinition are spelled from this one list. */
#define FOCUS_COLUMNS(X)                                                                           \
	X(BILLED_COST, "BilledCost", "DECIMAL")                                                    \
	X(BILLING_ACCOUNT_ID, "BillingAccountId", "STRING")                                        \
	X(BILLING_ACCOUNT_NAME, "BillingAccountName", "STRING")                                    \
	X(BILLING_CURRENCY, "BillingCurrency", "STRING")                                           \
	X(BILLING_PERIOD_END, "BillingPeriodEnd", "DATETIME")                                      \
	X(BILLING_PERIOD_START, "BillingPeriodStart", "DATETIME")                                  \
	X(CHARGE_CATEGORY, "ChargeCategory", "STRING")                                             \
	X(CHARGE_CLASS, "ChargeClass", "STRING")                                                   \
	X(CHARGE_DESCRIPTION, "ChargeDescription", "STRING")                                       \
	X(CHARGE_FREQUENCY, "ChargeFrequency", "STRING")                                           \
	X(CHARGE_PERIOD_END, "ChargePeriodEnd", "DATETIME")                                        \
	X(CHARGE_PERIOD_START, "ChargePeriodStart", "DATETIME")                                    \
	X(CONSUMED_QUANTITY, "ConsumedQuantity", "DECIMAL")                                        \
	X(CONSUMED_UNIT, "ConsumedUnit", "STRING")                                                 \
	X(CONTRACTED_COST, "ContractedCost", "DECIMAL")                                            \
	X(CONTRACTED_UNIT_PRICE, "ContractedUnitPrice", "DECIMAL")                                 \
	X(EFFECTIVE_COST, "EffectiveCost", "DECIMAL")                                              \
	X(INVOICE_ISSUER_NAME, "InvoiceIssuerName", "STRING")                                      \
	X(LIST_COST, "ListCost", "DECIMAL")                                                        \
	X(LIST_UNIT_PRICE, "ListUnitPrice", "DECIMAL")                                             \
	X(PRICING_CATEGORY, "PricingCategory", "STRING")                                           \
	X(PRICING_QUANTITY, "PricingQuantity", "DECIMAL")                                          \
	X(PRICING_UNIT, "PricingUnit", "STRING")                                                   \
	X(PROVIDER_NAME, "ProviderName", "STRING")                                                 \
	X(PUBLISHER_NAME, "PublisherName", "STRING")                                               \
	X(SERVICE_CATEGORY, "ServiceCategory", "STRING")                                           \
	X(SERVICE_NAME, "ServiceName", "STRING")                                                   \
	X(SERVICE_SUBCATEGORY, "ServiceSubcategory", "STRING")                                     \
	X(SKU_ID, "SkuId", "STRING")                                                               \
	X(SKU_METER, "SkuMeter", "STRING")                                                         \
	X(SKU_PRICE_DETAILS, "SkuPriceDetails", "JSON")                                            \
	X(SKU_PRICE_ID, "SkuPriceId", "STRING")                                                    \
	X(SUB_ACCOUNT_ID, "SubAccountId", "STRING")                                                \
	X(SUB_ACCOUNT_NAME, "SubAccountName", "STRING")                                            \
	X(TAGS, "Tags", "JSON")                                                                    \
	X(X_CALL_COUNT, "x_CallCount", "DECIMAL")                                                  \
	X(X_IN_CLOUD_BILL, "x_InCloudBill", "BOOLEAN")                                             \
	X(X_MODEL, "x_Model", "STRING")                                                            \
	X(X_PRICE_VERSION, "x_PriceVersion", "STRING")                                             \
	X(X_PRICING_MODE, "x_PricingMode", "STRING")                                               \
	X(X_ROUTE, "x_Route", "STRING")                                                            \
	X(X_TOKEN_KIND, "x_TokenKind", "STRING")                                                   \
	X(X_UNPRICED, "x_Unpriced", "BOOLEAN")

#define FC_ENUM_(ID, name, type) FC_##ID,
enum focus_column { FOCUS_COLUMNS(FC_ENUM_) FC_COUNT };
#undef FC_ENUM_

#define FC_NAME_(ID, name, type) name,
static const char *const focus_column_names[FC_COUNT] = {FOCUS_COLUMNS(FC_NAME_)};
#undef FC_NAME_
#define FC_TYPE_(ID, name, type) type,
static const char *const focus_column_types[FC_COUNT] = {FOCUS_COLUMNS(FC_TYPE_)};
#undef FC_TYPE_

/* Who sells, bills and makes what a route serves (docs/focus.md, "Identity").
 * in_cloud_bill: the charge is also on that cloud's own FOCUS bill. */
static const struct route_identity {
	const char *route;    /* calls.provider */
	const char *provider; /* ProviderName, InvoiceIssuerName, BillingAccountName */
	const char *service;  /* ServiceName */
	bool in_cloud_bill;
} route_identities[] = {
    {"openai", "OpenAI", "OpenAI API", false},
    {"anthropic", "Anthropic", "Claude API", false},
    {"claude", "Anthropic", "Claude API", false},
    {"bedrock", "Amazon Web Services", "Amazon Bedrock", true},
    {"aws_bedrock", "Amazon Web Services", "Amazon Bedrock", true},
    {"amazon_bedrock", "Amazon Web Services", "Amazon Bedrock", true},
    {"bedrock_converse", "Amazon Web Services", "Amazon Bedrock", true},
    {"azure", "Microsoft", "Azure OpenAI", true},
    {"azure_openai", "Microsoft", "Azure OpenAI", true},
    {"azure_ai", "Microsoft", "Azure AI Foundry", true},
    {"vertex_ai", "Google Cloud", "Vertex AI", true},
    {"vertex", "Google Cloud", "Vertex AI", true},
    {"google_vertex", "Google Cloud", "Vertex AI", true},
    {"gemini", "Google", "Gemini API", false},
    {"google", "Google", "Gemini API", false},
    {"google_ai_studio", "Google", "Gemini API", false},
    {"mistral", "Mistral AI", "Mistral AI API", false},
    {"deepseek", "DeepSeek", "DeepSeek API", false},
    {"xai", "xAI", "xAI API", false},
    {"x-ai", "xAI", "xAI API", false},
    {"cohere", "Cohere", "Cohere API", false},
    {"groq", "Groq", "GroqCloud", false},
    {"together_ai", "Together AI", "Together AI API", false},
    {"fireworks_ai", "Fireworks AI", "Fireworks AI API", false},
    {"openrouter", "OpenRouter", "OpenRouter API", false},
    {"perplexity", "Perplexity", "Perplexity API", false},
    {"dashscope", "Alibaba Cloud", "Alibaba Cloud Model Studio", false},
};

/* Who made a model, by its name (a Bedrock id such as
 * "us.anthropic.claude-..." included); NULL: the route's provider. */
static const char *model_publisher(const char *model)
{
	static const struct {
		const char *part, *publisher;
	} m[] = {
	    {"claude", "Anthropic"},     {"gpt", "OpenAI"},
	    {"chatgpt", "OpenAI"},       {"text-embedding", "OpenAI"},
	    {"whisper", "OpenAI"},       {"dall-e", "OpenAI"},
	    {"gemini", "Google"},        {"gemma", "Google"},
	    {"imagen", "Google"},        {"llama", "Meta"},
	    {"mistral", "Mistral AI"},   {"mixtral", "Mistral AI"},
	    {"codestral", "Mistral AI"}, {"pixtral", "Mistral AI"},
	    {"deepseek", "DeepSeek"},    {"grok", "xAI"},
	    {"command", "Cohere"},       {"qwen", "Alibaba Cloud"},
	    {"nova", "Amazon"},          {"titan", "Amazon"},
	    {"phi-", "Microsoft"},       {"jamba", "AI21 Labs"},
	};
	const char *base = strrchr(model, '/');

	for (size_t i = 0; i < sizeof m / sizeof *m; i++)
		if (strstr(model, m[i].part))
			return m[i].publisher;
	/* OpenAI's o-series: "o1", "o3-mini", "o4-mini"... */
	base = base ? base + 1 : model;
	if (base[0] == 'o' && base[1] >= '1' && base[1] <= '9')
		return "OpenAI";
	return NULL;
}

struct identity {
	const char *provider, *publisher, *service;
	bool in_cloud_bill;
	char service_buf[160];
};

static void identity_of(const struct focus_row *r, const char *self_hosted, struct identity *id)
{
	const char *pub = model_publisher(r->model);

	memset(id, 0, sizeof *id);
	if (r->local) {
		id->provider = self_hosted;
		id->service = "Self-hosted models";
	} else {
		for (size_t i = 0; i < sizeof route_identities / sizeof *route_identities; i++)
			if (strcmp(r->provider, route_identities[i].route) == 0) {
				id->provider = route_identities[i].provider;
				id->service = route_identities[i].service;
				id->in_cloud_bill = route_identities[i].in_cloud_bill;
				break;
			}
		if (!id->provider) { /* a route tally has no name for: as the calls spell it */
			id->provider = r->provider;
			snprintf(id->service_buf, sizeof id->service_buf, "%s API", r->provider);
			id->service = id->service_buf;
		}
	}
	id->publisher = pub ? pub : id->provider;
}

struct focus_ctx {
	struct sbuf buf;
	report_write_fn out;
	void *out_ctx;
	const char *self_hosted;
	int64_t rows;
};

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

/* "cache_write_1h" -> "cache write 1h". */
static void component_words(int k, char *out, size_t n)
{
	str_copy(out, n, price_component_names[k]);
	for (char *p = out; *p; p++)
		if (*p == '_')
			*p = ' ';
}

/* PricingUnit / ConsumedUnit: the component's unit (ledger/price_components.h)
 * capitalised: "tokens" -> "Tokens", "seconds" -> "Seconds". */
static void component_unit(int k, char *out, size_t n)
{
	str_copy(out, n, price_component_units[k]);
	if (out[0] >= 'a' && out[0] <= 'z')
		out[0] = (char)(out[0] - 'a' + 'A');
}

/* The pricing mode of a row as text: "batch", "standard, long context 1,
 * data residency eu"... (ChargeDescription, x_PricingMode). */
static void mode_text(const struct focus_row *r, char *out, size_t n)
{
	int len = snprintf(out, n, "%s", r->service);
	if (r->long_context && len < (int)n)
		len += snprintf(out + len, n - len, ", long context %d", r->long_context);
	if (r->data_residency[0] && len < (int)n)
		len += snprintf(out + len, n - len, ", data residency %s", r->data_residency);
	if (r->inference_geo[0] && len < (int)n)
		len += snprintf(out + len, n - len, ", inference geo %s", r->inference_geo);
	if (r->speed[0] && len < (int)n)
		snprintf(out + len, n - len, ", speed %s", r->speed);
}

/* SkuPriceId: the SKU and the price's terms (never its amount or dates, so
 * that it stays the same across price versions). */
static void sku_price_id(const struct focus_row *r, const char *sku, char *out, size_t n)
{
	int len = snprintf(out, n, "%s/%s", sku, r->service);
	if (r->long_context && len < (int)n)
		len += snprintf(out + len, n - len, "/long-context-%d", r->long_context);
	if (r->data_residency[0] && len < (int)n)
		len += snprintf(out + len, n - len, "/residency-%s", r->data_residency);
	if (r->inference_geo[0] && len < (int)n)
		len += snprintf(out + len, n - len, "/geo-%s", r->inference_geo);
	if (r->speed[0] && len < (int)n)
		snprintf(out + len, n - len, "/speed-%s", r->speed);
}

/* SkuPriceDetails: the same terms as a JSON object of x_ keys (FOCUS 1.2
 * defines none that apply to token prices). */
static void sku_price_details(const struct focus_row *r, struct sbuf *b)
{
	sbuf_puts(b, "{\"x_PriceComponent\":");
	sbuf_json_str(b, price_component_names[r->component]);
	sbuf_puts(b, ",\"x_PricingMode\":");
	sbuf_json_str(b, r->service);
	if (r->long_context)
		sbuf_printf(b, ",\"x_LongContextTier\":%d", r->long_context);
	if (r->data_residency[0]) {
		sbuf_puts(b, ",\"x_DataResidency\":");
		sbuf_json_str(b, r->data_residency);
	}
	if (r->inference_geo[0]) {
		sbuf_puts(b, ",\"x_InferenceGeo\":");
		sbuf_json_str(b, r->inference_geo);
	}
	if (r->speed[0]) {
		sbuf_puts(b, ",\"x_Speed\":");
		sbuf_json_str(b, r->speed);
	}
	sbuf_putc(b, '}');
}

/* Tags: tally's keys under FOCUS_TAG_PREFIX (provider-defined), then the
 * calls' own tags as they sent them (user-defined; the ledger dropped keys
 * under the reserved prefix and turned nested values into their JSON text). */
static void focus_tags(const struct focus_row *r, struct sbuf *b)
{
	size_t n = strlen(r->tags);

	sbuf_puts(b, "{\"" FOCUS_TAG_PREFIX "team\":");
	sbuf_json_str(b, r->team);
	sbuf_puts(b, ",\"" FOCUS_TAG_PREFIX "workflow\":");
	sbuf_json_str(b, r->workflow);
	sbuf_puts(b, ",\"" FOCUS_TAG_PREFIX "task_type\":");
	sbuf_json_str(b, r->task_type);
	sbuf_puts(b, ",\"" FOCUS_TAG_PREFIX "cost_center\":");
	if (r->cost_center)
		sbuf_json_str(b, r->cost_center);
	else
		sbuf_puts(b, "null");
	/* r->tags is a JSON object's text: its members follow ours. */
	if (n > 2 && r->tags[0] == '{' && r->tags[n - 1] == '}') {
		sbuf_putc(b, ',');
		for (size_t i = 1; i < n - 1; i++)
			sbuf_putc(b, r->tags[i]);
	}
	sbuf_putc(b, '}');
}

static int focus_row(void *ctx, const struct focus_row *r, struct tally_err *err)
{
	struct focus_ctx *fc = ctx;
	struct sbuf *b = &fc->buf;
	const char *cell[FC_COUNT] = {0};
	char words[64], mode[200], desc[700], sku[600], price_id[800], meter[96], calls[24];
	char unit[24];
	struct sbuf details, tags;
	struct identity id;

	identity_of(r, fc->self_hosted, &id);
	component_words(r->component, words, sizeof words);
	component_unit(r->component, unit, sizeof unit);
	mode_text(r, mode, sizeof mode);
	snprintf(sku, sizeof sku, "%s/%s/%s", r->provider, r->model,
	         price_component_names[r->component]);
	sku_price_id(r, sku, price_id, sizeof price_id);
	snprintf(meter, sizeof meter, "%s %s", words, price_component_units[r->component]);
	snprintf(desc, sizeof desc, "%s of %s/%s (%s%s)", meter, r->provider, r->model, mode,
	         r->unpriced ? "; unpriced" : "");
	snprintf(calls, sizeof calls, "%lld", (long long)r->calls);
	sbuf_init(&details);
	sku_price_details(r, &details);
	sbuf_putc(&details, '\0');
	sbuf_init(&tags);
	focus_tags(r, &tags);
	sbuf_putc(&tags, '\0');

	cell[FC_BILLED_COST] = r->billed_usd;
	cell[FC_BILLING_ACCOUNT_ID] = r->local ? "self-hosted" : r->provider;
	cell[FC_BILLING_ACCOUNT_NAME] = id.provider;
	cell[FC_BILLING_CURRENCY] = "USD";
	cell[FC_BILLING_PERIOD_END] = r->billing_end;
	cell[FC_BILLING_PERIOD_START] = r->billing_start;
	cell[FC_CHARGE_CATEGORY] = "Usage";
	cell[FC_CHARGE_CLASS] = NULL; /* no corrections: docs/focus.md, "Re-pricing" */
	cell[FC_CHARGE_DESCRIPTION] = desc;
	cell[FC_CHARGE_FREQUENCY] = "Usage-Based";
	cell[FC_CHARGE_PERIOD_END] = r->period_end;
	cell[FC_CHARGE_PERIOD_START] = r->period_start;
	cell[FC_CONSUMED_QUANTITY] = r->quantity;
	cell[FC_CONSUMED_UNIT] = unit;
	/* No negotiated rates beyond the price book: contracted = list. */
	cell[FC_CONTRACTED_COST] = r->list_usd;
	cell[FC_CONTRACTED_UNIT_PRICE] = r->unit_usd;
	cell[FC_EFFECTIVE_COST] = r->billed_usd;
	cell[FC_INVOICE_ISSUER_NAME] = id.provider;
	cell[FC_LIST_COST] = r->list_usd;
	cell[FC_LIST_UNIT_PRICE] = r->unit_usd;
	cell[FC_PRICING_CATEGORY] = "Standard";
	cell[FC_PRICING_QUANTITY] = r->quantity;
	cell[FC_PRICING_UNIT] = unit;
	cell[FC_PROVIDER_NAME] = id.provider;
	cell[FC_PUBLISHER_NAME] = id.publisher;
	cell[FC_SERVICE_CATEGORY] = "AI and Machine Learning";
	cell[FC_SERVICE_NAME] = id.service;
	cell[FC_SERVICE_SUBCATEGORY] = "Generative AI";
	cell[FC_SKU_ID] = sku;
	cell[FC_SKU_METER] = meter;
	cell[FC_SKU_PRICE_DETAILS] = details.oom ? "{}" : details.p;
	cell[FC_SKU_PRICE_ID] = price_id;
	cell[FC_SUB_ACCOUNT_ID] = r->team;
	cell[FC_SUB_ACCOUNT_NAME] = r->team;
	cell[FC_TAGS] = tags.oom ? "{}" : tags.p;
	cell[FC_X_CALL_COUNT] = calls;
	cell[FC_X_IN_CLOUD_BILL] = id.in_cloud_bill ? "true" : "false";
	cell[FC_X_MODEL] = r->model;
	cell[FC_X_PRICE_VERSION] = r->price_version;
	cell[FC_X_PRICING_MODE] = mode;
	cell[FC_X_ROUTE] = r->provider;
	cell[FC_X_TOKEN_KIND] = price_component_names[r->component];
	cell[FC_X_UNPRICED] = r->unpriced ? "true" : "false";
	for (int c = 0; c < FC_COUNT; c++) {
		if (c)
			sbuf_putc(b, ',');
		report_csv_field(b, cell[c]); /* NULL: an empty cell, FOCUS's null */
	}
	sbuf_putc(b, '\n');
	sbuf_cleanup(&details);
	sbuf_cleanup(&tags);
	fc->rows++;
	if (b->len >= FOCUS_FLUSH)
		return focus_flush(fc, err);
	return 0;
}

const char *report_focus_self_hosted(void)
{
	const char *s = getenv("TALLY_FOCUS_SELF_HOSTED_PROVIDER");
	return s && s[0] ? s : "Self-hosted";
}

int report_focus(struct ledger *lg, int64_t from_us, int64_t to_us, bool hourly,
                 report_write_fn out, void *ctx, int64_t *rows, struct tally_err *err)
{
	struct focus_ctx fc = {
	    .out = out, .out_ctx = ctx, .self_hosted = report_focus_self_hosted()};
	int rc;

	sbuf_init(&fc.buf);
	for (int c = 0; c < FC_COUNT; c++)
		sbuf_printf(&fc.buf, "%s%s", c ? "," : "", focus_column_names[c]);
	sbuf_putc(&fc.buf, '\n');
	rc = ledger_focus_stream(lg, from_us, to_us, hourly, focus_row, &fc, err);
	if (rc == 0)
		rc = focus_flush(&fc, err);
	sbuf_cleanup(&fc.buf);
	if (rows)
		*rows = fc.rows;
	return rc;
}

/* A stable id of the column list: FNV-1a over the names and types, so that
 * the SchemaId changes exactly when the schema does. */
static uint32_t schema_hash(void)
{
	uint32_t h = 2166136261u;

	for (int c = 0; c < FC_COUNT; c++) {
		const char *parts[2] = {focus_column_names[c], focus_column_types[c]};
		for (int i = 0; i < 2; i++)
			for (const unsigned char *p = (const unsigned char *)parts[i]; *p; p++)
				h = (h ^ *p) * 16777619u;
		h = (h ^ ';') * 16777619u;
	}
	return h;
}

void report_focus_metadata(const char *creation_date, struct sbuf *b)
{
	sbuf_puts(b, "{\"SchemaId\":");
	sbuf_printf(b, "\"tally-focus-" FOCUS_VERSION "-%08x\"", schema_hash());
	sbuf_puts(b, ",\"FocusVersion\":\"" FOCUS_VERSION "\",\"DataGenerator\":\"tally\","
	             "\"DataGeneratorVersion\":\"" REPORT_TALLY_VERSION "\",\"CreationDate\":");
	sbuf_json_str(b, creation_date);
	sbuf_puts(b, ",\"ColumnDefinition\":[");
	for (int c = 0; c < FC_COUNT; c++) {
		sbuf_printf(b, "%s{\"ColumnName\":\"%s\",\"DataType\":\"%s\"", c ? "," : "",
		            focus_column_names[c], focus_column_types[c]);
		if (strcmp(focus_column_types[c], "STRING") == 0)
			sbuf_puts(b, ",\"StringEncoding\":\"UTF-8\"");
		if (c == FC_TAGS)
			sbuf_puts(b, ",\"ProviderTagPrefixes\":[\"" FOCUS_TAG_PREFIX "\"]");
		sbuf_putc(b, '}');
	}
	sbuf_puts(b, "]}\n");
}

static int file_write(void *ctx, const char *data, size_t len)
{
	return fwrite(data, 1, len, ctx) == len ? 0 : -1;
}

/* Writes data to path through path.partial, fsync and rename. */
static int write_atomic(const char *path, const char *data, size_t len, struct tally_err *err)
{
	char tmp[PATH_MAX];
	FILE *fp;

	if (snprintf(tmp, sizeof tmp, "%s.partial", path) >= (int)sizeof tmp)
		return tally_err_set(err, TALLY_EINVAL, false, "path too long: %s", path);
	if (!(fp = fopen(tmp, "w")))
		return tally_err_set(err, TALLY_EIO, false, "cannot create %s: %s", tmp,
		                     strerror(errno));
	if (fwrite(data, 1, len, fp) != len || fflush(fp) != 0 || fsync(fileno(fp)) != 0) {
		fclose(fp);
		unlink(tmp);
		return tally_err_set(err, TALLY_EIO, false, "cannot write %s: %s", tmp,
		                     strerror(errno));
	}
	if (fclose(fp) != 0 || rename(tmp, path) != 0) {
		unlink(tmp);
		return tally_err_set(err, TALLY_EIO, false, "cannot finish %s: %s", path,
		                     strerror(errno));
	}
	return 0;
}

int report_focus_file(struct ledger *lg, int64_t from_us, int64_t to_us, bool hourly,
                      const char *path, int64_t *rows, struct tally_err *err)
{
	char tmp[PATH_MAX], meta_path[PATH_MAX], now[40];
	FILE *fp = NULL;
	int rc = -1;

	if (!path || strcmp(path, "-") == 0) {
		if (report_focus(lg, from_us, to_us, hourly, file_write, stdout, rows, err) < 0)
			return -1;
		return fflush(stdout) == 0
		           ? 0
		           : tally_err_set(err, TALLY_EIO, false, "cannot write stdout");
	}
	if (snprintf(tmp, sizeof tmp, "%s.partial", path) >= (int)sizeof tmp ||
	    snprintf(meta_path, sizeof meta_path, "%s" FOCUS_METADATA_SUFFIX, path) >=
	        (int)sizeof meta_path)
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
	/* The schema metadata first: a file never stands without it. */
	time_format(time_now_us(), now);
	struct sbuf meta;
	sbuf_init(&meta);
	report_focus_metadata(now, &meta);
	rc = meta.oom ? tally_err_set(err, TALLY_ENOMEM, false, "out of memory")
	              : write_atomic(meta_path, meta.p, meta.len, err);
	sbuf_cleanup(&meta);
	if (rc < 0)
		goto out;
	rc = -1;
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
