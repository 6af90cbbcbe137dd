/* reconcile_import.c - reads the providers' own cost documents into billed
 * lines (pure C, no database): OpenAI's organization Costs API answer,
 * Anthropic's Admin API cost report and FOCUS CSV exports of AWS, Azure and
 * Google Cloud. Amounts are read from their text into exact pico-USD, never
 * through a double (JSON numbers are quoted before cJSON sees them). The
 * model a line names is found here by each format's rule; its spelling is
 * made canonical in SQL (tally_reconcile_model, migrations/0013), where the
 * ledger's model names go through the same rule. docs/reconcile.md. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger_int.h"

#define DAY_US (INT64_C(86400) * 1000000)

static const char *const source_names[] = {"openai", "anthropic", "focus"};

int reconcile_source_parse(const char *s)
{
	for (int i = 0; i < 3; i++)
		if (s && strcmp(s, source_names[i]) == 0)
			return i;
	return -1;
}

const char *reconcile_source_name(int source)
{
	return source >= 0 && source < 3 ? source_names[source] : "unknown";
}

void reconcile_doc_cleanup(struct reconcile_doc *d)
{
	if (!d)
		return;
	free(d->lines);
	d->lines = NULL;
	d->n = d->cap = 0;
}

static struct reconcile_line *doc_push(struct reconcile_doc *d, struct tally_err *err)
{
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 64;
		struct reconcile_line *p = realloc(d->lines, cap * sizeof *p);
		if (!p) {
			tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
			return NULL;
		}
		d->lines = p;
		d->cap = cap;
	}
	struct reconcile_line *l = &d->lines[d->n++];
	memset(l, 0, sizeof *l);
	l->requests = -1;
	return l;
}

static void doc_skip(struct reconcile_doc *d, const char *why)
{
	if (d->skipped++ == 0)
		str_copy(d->first_skip, sizeof d->first_skip, why);
}

/* Widens the document's period to hold [start_day, end_day). */
static void doc_cover(struct reconcile_doc *d, const char *start_day, const char *end_day)
{
	if (!d->period_start[0] || strcmp(start_day, d->period_start) < 0)
		str_copy(d->period_start, sizeof d->period_start, start_day);
	if (!d->period_end[0] || strcmp(end_day, d->period_end) > 0)
		str_copy(d->period_end, sizeof d->period_end, end_day);
}

/* The UTC day of a time, "YYYY-MM-DD". */
static void day_of(int64_t us, char out[11])
{
	char t[40];
	time_format(us, t);
	memcpy(out, t, 10);
	out[10] = '\0';
}

/* The days of [from, to): the day of from, and the day after the last
 * instant before to. */
static void days_of(int64_t from_us, int64_t to_us, char start[11], char end[11])
{
	day_of(from_us, start);
	day_of(to_us - 1, end);
	int64_t e;
	if (time_parse(end, true, &e) == 0)
		day_of(e + DAY_US, end);
}

/* Reads an amount (the digits of a JSON number or a decimal string) given in
 * units of 10^(scale-12) USD into pico-USD: scale 12 for dollars, 10 for
 * cents (x 10^10 pico-USD each). Digits below 1e-12 USD are rounded half
 * away from zero and counted. */
static int amount_pusd(const char *text, int scale, int64_t *out, struct reconcile_doc *d,
                       const char *where, struct tally_err *err)
{
	bool rounded = false;

	if (!text || money_parse(text, scale, out, &rounded) < 0)
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "%s: amount \"%.60s\" is not a number (or too large)", where,
		                     text ? text : "(missing)");
	d->rounded += rounded;
	return 0;
}

static const char *jstr(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A token or request count (quoted by ledger_json_quote_numbers); 0 when
 * absent or null, -1 (with err) when not a non-negative integer. */
static int64_t jcount(const cJSON *o, const char *name, struct tally_err *err)
{
	const char *t = jstr(o, name);
	int64_t v;

	if (!t)
		return 0;
	if (parse_i64(t, &v) < 0 || v < 0) {
		tally_err_set(err, TALLY_EINVAL, false, "%s \"%.40s\" is not a count", name, t);
		return -1;
	}
	return v;
}

/* The document is a usage one: its results count tokens. A document mixing
 * costs and usage is refused. */
static int doc_kind(struct reconcile_doc *d, bool usage, struct tally_err *err)
{
	if (d->n > 0 && d->usage != usage)
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "the document mixes cost and usage results");
	d->usage = usage;
	return 0;
}

/* ---- the model a billed line names ------------------------------------------ */

static bool is_stop_word(const char *w)
{
	static const char *const stop[] = {
	    "input", "output",     "inp",    "outp",        "opt",        "cached",
	    "cache", "batch",      "tokens", "token",       "per",        "in",
	    "for",   "on",         "short",  "long",        "text",       "image",
	    "audio", "video",      "chars",  "characters",  "requests",   "request",
	    "regnl", "glbl",       "global", "data",        "zone",       "usage",
	    "-",     "priority",   "flex",   "provisioned", "throughput", "write",
	    "read",  "hit",        "miss",   "context",     "with",       "and",
	    "count", "generation", NULL};
	for (int i = 0; stop[i]; i++)
		if (strcmp(w, stop[i]) == 0)
			return true;
	return w[0] == '$' || (isdigit((unsigned char)w[0]) && (strchr(w, 'k') || strchr(w, 'm')) &&
	                       !strchr(w, '.') && !strchr(w, '-'));
}

static bool is_family(const char *w)
{
	static const char *const fam[] = {
	    "claude", "gpt",     "gemini",   "llama", "mistral",        "mixtral", "titan",
	    "nova",   "command", "deepseek", "jamba", "text-embedding", "chatgpt", NULL};
	for (int i = 0; fam[i]; i++)
		if (strncmp(w, fam[i], strlen(fam[i])) == 0)
			return true;
	/* OpenAI's o-series: o1, o3-mini, o4-mini... */
	return w[0] == 'o' && isdigit((unsigned char)w[1]) && (w[2] == '\0' || w[2] == '-');
}

/* Finds a model name in a bill's description ("Claude 3.5 Sonnet input
 * tokens", "gpt-4o-mini-0718 Inp regnl Tokens", "Gemini 1.5 Flash Input
 * Text"): from the first word of a known model family up to the first word
 * that describes the charge (input, tokens, per, in, ...), joined by '-';
 * Claude's "3.5" becomes "3-5" as in its API names. "" when none. */
static void model_from_text(const char *text, char *out, size_t n)
{
	char buf[RECONCILE_TEXT_MAX], *save = NULL;
	size_t used = 0;
	bool started = false, claude = false;

	out[0] = '\0';
	str_copy(buf, sizeof buf, text ? text : "");
	for (char *p = buf; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	for (char *w = strtok_r(buf, " \t()[],;:/|", &save); w;
	     w = strtok_r(NULL, " \t()[],;:/|", &save)) {
		if (!started) {
			if (!is_family(w))
				continue;
			started = true;
			claude = strncmp(w, "claude", 6) == 0;
		} else if (is_stop_word(w)) {
			break;
		}
		size_t len = strlen(w);
		if (used + len + 2 > n)
			break;
		if (used)
			out[used++] = '-';
		memcpy(out + used, w, len);
		used += len;
		out[used] = '\0';
	}
	if (claude)
		for (char *p = out; *p; p++)
			if (*p == '.')
				*p = '-';
}

/* ---- OpenAI: GET /v1/organization/costs ----------------------------------------- */

/* A line item is "<model>, <kind>" ("gpt-4o-mini-2024-07-18, input") for
 * model usage; other items ("Image models", "web search tool calls") name no
 * model and stay unmatched. */
static void openai_model(const char *item, char *out, size_t n)
{
	const char *comma = item ? strstr(item, ", ") : NULL;
	size_t len = comma ? (size_t)(comma - item) : 0;

	out[0] = '\0';
	if (len == 0 || len >= n || memchr(item, ' ', len))
		return;
	memcpy(out, item, len);
	out[len] = '\0';
}

/* A completions usage result: tokens (input counts the cached ones too, as
 * tally's input_tokens) and requests of a model, project, API key... */
static int openai_usage(const cJSON *r, const char *day, struct reconcile_doc *d,
                        struct tally_err *err)
{
	const char *model = jstr(r, "model"), *proj = jstr(r, "project_id");
	struct reconcile_line *l;

	if (doc_kind(d, true, err) < 0 || !(l = doc_push(d, err)))
		return -1;
	str_copy(l->day, sizeof l->day, day);
	str_copy(l->provider, sizeof l->provider, "openai");
	str_copy(l->project, sizeof l->project, proj ? proj : "");
	str_copy(l->model, sizeof l->model, model ? model : "");
	str_copy(l->line_item, sizeof l->line_item, model ? model : "(all models)");
	if ((l->requests = jcount(r, "num_model_requests", err)) < 0 ||
	    (l->input_tokens = jcount(r, "input_tokens", err)) < 0 ||
	    (l->output_tokens = jcount(r, "output_tokens", err)) < 0)
		return -1;
	return 0;
}

static int openai_page(const cJSON *page, struct reconcile_doc *d, struct tally_err *err)
{
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(page, "data"), *b;

	if (!cJSON_IsArray(data))
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "not an OpenAI costs answer: no \"data\" array of buckets");
	cJSON_ArrayForEach(b, data)
	{
		const char *st = jstr(b, "start_time"), *et = jstr(b, "end_time");
		int64_t s, e;
		char sday[11], eday[11];
		const cJSON *res = cJSON_GetObjectItemCaseSensitive(b, "results"), *r;
		if (!st || !et || parse_i64(st, &s) < 0 || parse_i64(et, &e) < 0 || e <= s ||
		    !cJSON_IsArray(res))
			return tally_err_set(
			    err, TALLY_EINVAL, false,
			    "OpenAI bucket without start_time, end_time and results");
		days_of(s * 1000000, e * 1000000, sday, eday);
		doc_cover(d, sday, eday);
		cJSON_ArrayForEach(r, res)
		{
			const char *obj = jstr(r, "object");
			if (obj && strcmp(obj, "organization.usage.completions.result") == 0) {
				if (openai_usage(r, sday, d, err) < 0)
					return -1;
				continue;
			}
			if (obj && strcmp(obj, "organization.costs.result") != 0)
				return tally_err_set(
				    err, TALLY_EINVAL, false,
				    "\"%.80s\" results carry no amounts: import the"
				    " answer of GET /v1/organization/costs (or"
				    " /usage/completions)",
				    obj);
			if (doc_kind(d, false, err) < 0)
				return -1;
			const cJSON *amount = cJSON_GetObjectItemCaseSensitive(r, "amount");
			const char *cur = jstr(amount, "currency"), *item = jstr(r, "line_item"),
			           *proj = jstr(r, "project_id");
			if (cur && strcasecmp(cur, "usd") != 0)
				return tally_err_set(err, TALLY_EINVAL, false,
				                     "currency \"%.16s\": only USD is reconciled",
				                     cur);
			struct reconcile_line *l = doc_push(d, err);
			if (!l)
				return -1;
			if (amount_pusd(jstr(amount, "value"), 12, &l->amount_pusd, d,
			                "OpenAI result", err) < 0)
				return -1;
			str_copy(l->day, sizeof l->day, sday);
			str_copy(l->provider, sizeof l->provider, "openai");
			str_copy(l->project, sizeof l->project, proj ? proj : "");
			str_copy(l->line_item, sizeof l->line_item,
			         item ? item : "(all line items)");
			openai_model(item, l->model, sizeof l->model);
		}
	}
	return 0;
}

/* ---- Anthropic: GET /v1/organizations/cost_report --------------------------------- */

/* A messages usage result: input = uncached + cache writes (5 min and 1 h) +
 * cache reads, as tally's input_tokens; no request count. */
static int anthropic_usage(const cJSON *r, const char *day, struct reconcile_doc *d,
                           struct tally_err *err)
{
	const char *model = jstr(r, "model"), *ws = jstr(r, "workspace_id");
	const cJSON *cc = cJSON_GetObjectItemCaseSensitive(r, "cache_creation");
	struct reconcile_line *l;
	int64_t parts[4];

	if (doc_kind(d, true, err) < 0 || !(l = doc_push(d, err)))
		return -1;
	str_copy(l->day, sizeof l->day, day);
	str_copy(l->provider, sizeof l->provider, "anthropic");
	str_copy(l->project, sizeof l->project, ws ? ws : "default");
	str_copy(l->model, sizeof l->model, model ? model : "");
	str_copy(l->line_item, sizeof l->line_item, model ? model : "(all models)");
	l->requests = -1;
	if ((parts[0] = jcount(r, "uncached_input_tokens", err)) < 0 ||
	    (parts[1] = jcount(r, "cache_read_input_tokens", err)) < 0 ||
	    (parts[2] = jcount(cc, "ephemeral_5m_input_tokens", err)) < 0 ||
	    (parts[3] = jcount(cc, "ephemeral_1h_input_tokens", err)) < 0 ||
	    (l->output_tokens = jcount(r, "output_tokens", err)) < 0)
		return -1;
	l->input_tokens = parts[0] + parts[1] + parts[2] + parts[3];
	return 0;
}

static int anthropic_page(const cJSON *page, struct reconcile_doc *d, struct tally_err *err)
{
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(page, "data"), *b;

	if (!cJSON_IsArray(data))
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "not an Anthropic cost report: no \"data\" array of buckets");
	cJSON_ArrayForEach(b, data)
	{
		const char *st = jstr(b, "starting_at"), *et = jstr(b, "ending_at");
		int64_t s, e;
		char sday[11], eday[11];
		const cJSON *res = cJSON_GetObjectItemCaseSensitive(b, "results"), *r;
		if (!st || !et || time_parse(st, true, &s) < 0 || time_parse(et, true, &e) < 0 ||
		    e <= s || !cJSON_IsArray(res))
			return tally_err_set(err, TALLY_EINVAL, false,
			                     "Anthropic bucket without starting_at, ending_at and"
			                     " results");
		days_of(s, e, sday, eday);
		doc_cover(d, sday, eday);
		cJSON_ArrayForEach(r, res)
		{
			const char *cur = jstr(r, "currency"), *ws = jstr(r, "workspace_id"),
			           *desc = jstr(r, "description"), *model = jstr(r, "model");
			if (cJSON_GetObjectItemCaseSensitive(r, "uncached_input_tokens")) {
				if (anthropic_usage(r, sday, d, err) < 0)
					return -1;
				continue;
			}
			if (doc_kind(d, false, err) < 0)
				return -1;
			if (cur && strcmp(cur, "USD") != 0)
				return tally_err_set(err, TALLY_EINVAL, false,
				                     "currency \"%.16s\": only USD is reconciled",
				                     cur);
			struct reconcile_line *l = doc_push(d, err);
			if (!l)
				return -1;
			/* "amount" is in cents: "123.45" is $1.2345. */
			if (amount_pusd(jstr(r, "amount"), 10, &l->amount_pusd, d,
			                "Anthropic result", err) < 0)
				return -1;
			str_copy(l->day, sizeof l->day, sday);
			str_copy(l->provider, sizeof l->provider, "anthropic");
			/* null workspace_id: the organisation's Default Workspace. */
			str_copy(l->project, sizeof l->project, ws ? ws : "default");
			if (desc)
				str_copy(l->line_item, sizeof l->line_item, desc);
			else {
				const char *parts[] = {
				    model, jstr(r, "cost_type"), jstr(r, "token_type"),
				    jstr(r, "service_tier"), jstr(r, "context_window")};
				char li[RECONCILE_TEXT_MAX] = "";
				for (size_t k = 0; k < 5; k++)
					if (parts[k]) {
						size_t u = strlen(li);
						snprintf(li + u, sizeof li - u, "%s%s",
						         u ? ", " : "", parts[k]);
					}
				str_copy(l->line_item, sizeof l->line_item,
				         li[0] ? li : "(all costs)");
			}
			str_copy(l->model, sizeof l->model, model ? model : "");
		}
	}
	return 0;
}

/* A page object, or an array of pages (several answers of a paginated
 * query saved together). */
static int parse_json(int source, const char *text, size_t len, struct reconcile_doc *d,
                      struct tally_err *err)
{
	struct sbuf q;
	cJSON *root = NULL;
	int rc = -1;

	sbuf_init(&q);
	if (ledger_json_quote_numbers(text, len, &q, err) < 0)
		goto out;
	sbuf_putc(&q, '\0');
	if (q.oom) {
		tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
		goto out;
	}
	if (!(root = cJSON_Parse(q.p))) {
		tally_err_set(err, TALLY_EINVAL, false, "not valid JSON (near \"%.40s\")",
		              cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() : "");
		goto out;
	}
	const cJSON *page;
	if (cJSON_IsArray(root)) {
		cJSON_ArrayForEach(page, root)
		{
			if ((source == RECONCILE_OPENAI ? openai_page(page, d, err)
			                                : anthropic_page(page, d, err)) < 0)
				goto out;
		}
	} else if ((source == RECONCILE_OPENAI ? openai_page(root, d, err)
	                                       : anthropic_page(root, d, err)) < 0) {
		goto out;
	}
	rc = 0;
out:
	cJSON_Delete(root);
	sbuf_cleanup(&q);
	return rc;
}

/* ---- FOCUS CSV (AWS, Azure, Google Cloud) --------------------------------------- */

enum focus_col {
	FC_BILLED_COST,
	FC_CURRENCY,
	FC_PERIOD_START,
	FC_PROVIDER,
	FC_SERVICE_PROVIDER, /* FOCUS 1.3's name for ProviderName */
	FC_SERVICE,
	FC_SUB_ACCOUNT,
	FC_SUB_ACCOUNT_NAME,
	FC_DESCRIPTION,
	FC_SKU,
	FC_SKU_METER,
	FC_N
};
static const char *const focus_cols[FC_N] = {
    "BilledCost",          "BillingCurrency", "ChargePeriodStart", "ProviderName",
    "ServiceProviderName", "ServiceName",     "SubAccountId",      "SubAccountName",
    "ChargeDescription",   "SkuId",           "SkuMeter"};

#define CSV_MAX_FIELDS 256

/* Reads one CSV record (RFC 4180: quoted fields may hold commas, quotes and
 * newlines) at *pos into fields (NUL-terminated copies in buf). Returns the
 * field count, 0 at the end, -1 when malformed. */
static int csv_record(const char *s, size_t len, size_t *pos, struct sbuf *buf,
                      size_t offs[CSV_MAX_FIELDS])
{
	size_t i = *pos;
	int nf = 0;

	sbuf_reset(buf);
	if (i >= len)
		return 0;
	for (;;) {
		if (nf == CSV_MAX_FIELDS)
			return -1;
		offs[nf++] = buf->len;
		if (i < len && s[i] == '"') {
			i++;
			for (;;) {
				if (i >= len)
					return -1;
				if (s[i] == '"') {
					if (i + 1 < len && s[i + 1] == '"') {
						sbuf_putc(buf, '"');
						i += 2;
						continue;
					}
					i++;
					break;
				}
				sbuf_putc(buf, s[i++]);
			}
		} else {
			while (i < len && s[i] != ',' && s[i] != '\n' && s[i] != '\r')
				sbuf_putc(buf, s[i++]);
		}
		sbuf_putc(buf, '\0');
		if (i < len && s[i] == ',') {
			i++;
			continue;
		}
		if (i < len && s[i] == '\r')
			i++;
		if (i < len && s[i] == '\n')
			i++;
		else if (i < len)
			return -1;
		break;
	}
	*pos = i;
	return buf->oom ? -1 : nf;
}

/* Which tally provider a FOCUS row's service is, or NULL for other services. */
static const char *focus_provider(const char *provider, const char *service)
{
	char p[128], s[128];

	str_copy(p, sizeof p, provider ? provider : "");
	str_copy(s, sizeof s, service ? service : "");
	for (char *c = p; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	for (char *c = s; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	if (strstr(s, "bedrock"))
		return "bedrock";
	if (strstr(s, "openai") || strstr(s, "foundry") ||
	    (strstr(p, "microsoft") && strstr(s, "cognitive services")))
		return "azure";
	if (strstr(s, "vertex") || strstr(s, "gemini"))
		return "vertex_ai";
	return NULL;
}

static bool is_day(const char *s)
{
	for (int i = 0; i < 10; i++)
		if (i == 4 || i == 7 ? s[i] != '-' : !isdigit((unsigned char)s[i]))
			return false;
	return true;
}

/* Field c of the record, NULL when the header has no such column. */
static const char *fcell(const struct sbuf *buf, const size_t *offs, const int *col, int nf, int c)
{
	return col[c] >= 0 && col[c] < nf ? buf->p + offs[col[c]] : NULL;
}
#define F(c) fcell(&buf, offs, col, nf, c)

static int parse_focus(const char *text, size_t len, struct reconcile_doc *d, struct tally_err *err)
{
	struct sbuf buf;
	size_t offs[CSV_MAX_FIELDS], pos = 0, lineno = 1;
	int col[FC_N], nf, rc = -1;

	sbuf_init(&buf);
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		pos = 3;
	if ((nf = csv_record(text, len, &pos, &buf, offs)) <= 0) {
		tally_err_set(err, TALLY_EINVAL, false, "FOCUS CSV: no header line");
		goto out;
	}
	for (int c = 0; c < FC_N; c++) {
		col[c] = -1;
		for (int k = 0; k < nf; k++)
			if (strcmp(buf.p + offs[k], focus_cols[c]) == 0)
				col[c] = k;
	}
	if (col[FC_BILLED_COST] < 0 || col[FC_PERIOD_START] < 0 ||
	    (col[FC_PROVIDER] < 0 && col[FC_SERVICE_PROVIDER] < 0) || col[FC_SERVICE] < 0) {
		tally_err_set(err, TALLY_EINVAL, false,
		              "FOCUS CSV: the header needs BilledCost, ChargePeriodStart,"
		              " ProviderName (or ServiceProviderName) and ServiceName");
		goto out;
	}
	for (;;) {
		lineno++;
		nf = csv_record(text, len, &pos, &buf, offs);
		if (nf == 0)
			break;
		if (nf < 0) {
			tally_err_set(err, TALLY_EINVAL, false,
			              "FOCUS CSV: record %zu is malformed", lineno);
			goto out;
		}
		if (nf == 1 && buf.p[offs[0]] == '\0')
			continue; /* blank line */
		const char *prov = F(FC_PROVIDER) ? F(FC_PROVIDER) : F(FC_SERVICE_PROVIDER);
		const char *tp = focus_provider(prov, F(FC_SERVICE));
		char why[RECONCILE_TEXT_MAX];
		if (!tp) {
			snprintf(why, sizeof why,
			         "record %zu: service \"%.80s\" of %.40s is not an LLM"
			         " service tally reconciles",
			         lineno, F(FC_SERVICE), prov ? prov : "");
			doc_skip(d, why);
			continue;
		}
		const char *cur = F(FC_CURRENCY), *start = F(FC_PERIOD_START);
		if (cur && *cur && strcmp(cur, "USD") != 0) {
			tally_err_set(err, TALLY_EINVAL, false,
			              "FOCUS CSV record %zu: BillingCurrency %.16s: only USD is"
			              " reconciled",
			              lineno, cur);
			goto out;
		}
		if (!start || strlen(start) < 10 || !is_day(start)) {
			tally_err_set(
			    err, TALLY_EINVAL, false,
			    "FOCUS CSV record %zu: ChargePeriodStart \"%.40s\" is not a time",
			    lineno, start ? start : "");
			goto out;
		}
		struct reconcile_line *l = doc_push(d, err);
		if (!l)
			goto out;
		char where[64];
		snprintf(where, sizeof where, "FOCUS CSV record %zu", lineno);
		if (amount_pusd(F(FC_BILLED_COST), 12, &l->amount_pusd, d, where, err) < 0)
			goto out;
		memcpy(l->day, start, 10);
		l->day[10] = '\0';
		str_copy(l->provider, sizeof l->provider, tp);
		const char *acct = F(FC_SUB_ACCOUNT) && *F(FC_SUB_ACCOUNT) ? F(FC_SUB_ACCOUNT)
		                                                           : F(FC_SUB_ACCOUNT_NAME);
		str_copy(l->project, sizeof l->project, acct ? acct : "");
		const char *desc =
		    F(FC_DESCRIPTION) && *F(FC_DESCRIPTION) ? F(FC_DESCRIPTION) : F(FC_SKU_METER);
		str_copy(l->line_item, sizeof l->line_item,
		         desc && *desc ? desc : (F(FC_SKU) ? F(FC_SKU) : "(no description)"));
		model_from_text(F(FC_DESCRIPTION), l->model, sizeof l->model);
		if (!l->model[0])
			model_from_text(F(FC_SKU_METER), l->model, sizeof l->model);
		char next[11];
		int64_t t;
		if (time_parse(l->day, true, &t) < 0) {
			tally_err_set(err, TALLY_EINVAL, false, "%s: bad day %s", where, l->day);
			goto out;
		}
		day_of(t + DAY_US, next);
		doc_cover(d, l->day, next);
	}
	rc = 0;
out:
	sbuf_cleanup(&buf);
	return rc;
}

int reconcile_parse(int source, const char *text, size_t len, struct reconcile_doc *doc,
                    struct tally_err *err)
{
	int rc;

	memset(doc, 0, sizeof *doc);
	doc->source = source;
	if (source == RECONCILE_OPENAI || source == RECONCILE_ANTHROPIC)
		rc = parse_json(source, text, len, doc, err);
	else if (source == RECONCILE_FOCUS)
		rc = parse_focus(text, len, doc, err);
	else
		rc = tally_err_set(err, TALLY_EINVAL, false, "unknown format");
	/* A cloud's FOCUS file of a month without LLM charges (tests/fixtures/
	 * reconcile: the FinOps Foundation's sample) says so, not "no rows". */
	if (rc == 0 && !doc->period_start[0] && doc->skipped > 0)
		rc = tally_err_set(err, TALLY_EINVAL, false,
		                   "the document has no charge tally reconciles: its %zu rows are"
		                   " other services (%s)",
		                   doc->skipped, doc->first_skip);
	else if (rc == 0 && !doc->period_start[0])
		rc = tally_err_set(err, TALLY_EINVAL, false,
		                   "the document covers no day (no buckets or rows)");
	return rc;
}
