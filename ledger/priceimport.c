/* priceimport.c - price lists into struct price: LiteLLM's JSON map and
 * tally's CSV (docs/prices.md).
 *
 * Prices are read from their decimal text, never through a double: the JSON
 * numbers are turned into strings before cJSON sees them, and every price goes
 * through money_parse().
 */
#include "ledger_int.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- shared helpers ------------------------------------------------------ */

static void price_blank(struct price *p, int64_t effective_from_us)
{
	memset(p, 0, sizeof *p);
	p->effective_from_us = effective_from_us;
	for (int v = 0; v < PV_COUNT; v++)
		for (int k = 0; k < PC_COUNT; k++)
			p->rate[v][k] = PRICE_UNSET;
}

static int im_push(struct price_import *im, const struct price *p, struct tally_err *err)
{
	if (im->n == im->cap) {
		size_t cap = im->cap ? im->cap * 2 : 256;
		struct price *np = realloc(im->prices, cap * sizeof *np);
		if (!np)
			return tally_err_set(err, TALLY_ENOMEM, false,
			                     "price import: out of memory");
		im->prices = np;
		im->cap = cap;
	}
	im->prices[im->n++] = *p;
	return 0;
}

static void im_skip(struct price_import *im, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void im_skip(struct price_import *im, const char *fmt, ...)
{
	va_list ap;

	if (im->skipped++ > 0)
		return;
	va_start(ap, fmt);
	vsnprintf(im->first_skip_reason, sizeof im->first_skip_reason, fmt, ap);
	va_end(ap);
}

/* A set of (provider, model) already imported: open addressing over indexes
 * into im->prices, so a duplicate is found without a quadratic scan. */
struct seen_set {
	size_t *slots; /* index + 1; 0 = empty */
	size_t cap;    /* a power of two */
};

static uint64_t seen_hash(const struct price *p)
{
	return hash_str(hash_str(HASH_SEED, p->provider), p->model);
}

static bool same_name(const struct price *a, const struct price *b)
{
	return strcmp(a->provider, b->provider) == 0 && strcmp(a->model, b->model) == 0;
}

static int seen_grow(struct seen_set *s, const struct price_import *im)
{
	size_t cap = s->cap ? s->cap * 2 : 1024;
	size_t *slots = calloc(cap, sizeof *slots);

	if (!slots)
		return -1;
	for (size_t i = 0; i < s->cap; i++) {
		if (!s->slots[i])
			continue;
		size_t j = seen_hash(&im->prices[s->slots[i] - 1]) & (cap - 1);
		while (slots[j])
			j = (j + 1) & (cap - 1);
		slots[j] = s->slots[i];
	}
	free(s->slots);
	s->slots = slots;
	s->cap = cap;
	return 0;
}

/* Looks p up; returns the index of an earlier price with the same name, or
 * SIZE_MAX after remembering p as the coming im->prices[idx], or SEEN_OOM. */
#define SEEN_OOM (SIZE_MAX - 1)

/* xAI Live Search: $25 per 1,000 sources = $0.025 per source, in pico-USD. */
#define XAI_LIVE_SEARCH_PUSD INT64_C(25000000000)
static size_t seen_check_add(struct seen_set *s, const struct price_import *im,
                             const struct price *p, size_t idx)
{
	size_t j;

	if (2 * (idx + 1) > s->cap && seen_grow(s, im) < 0)
		return SEEN_OOM;
	j = seen_hash(p) & (s->cap - 1);
	for (; s->slots[j]; j = (j + 1) & (s->cap - 1))
		if (same_name(&im->prices[s->slots[j] - 1], p))
			return s->slots[j] - 1;
	s->slots[j] = idx + 1;
	return SIZE_MAX;
}

/* True when s is a decimal number as money_parse() reads it ("1.5e-07",
 * ".5", "+2"), so that a parse failure can only mean out of range. */
static bool is_decimal(const char *s)
{
	size_t digits = 0;

	if (*s == '+' || *s == '-')
		s++;
	for (; *s >= '0' && *s <= '9'; s++)
		digits++;
	if (*s == '.')
		for (s++; *s >= '0' && *s <= '9'; s++)
			digits++;
	if (digits == 0)
		return false;
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (*s < '0' || *s > '9')
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return *s == '\0';
}

/* Parses a non-negative decimal price into units of 10^-scale USD; on
 * failure writes why into why[] ("is not a decimal number"). */
static int parse_price(const char *text, int scale, int64_t *out, bool *rounded, char *why,
                       size_t why_len)
{
	bool r = false;

	if (money_parse(text, scale, out, &r) < 0) {
		snprintf(why, why_len, "%s",
		         is_decimal(text) ? "is out of range" : "is not a decimal number");
		return -1;
	}
	if (*out < 0) {
		snprintf(why, why_len, "is negative");
		return -1;
	}
	*rounded |= r;
	return 0;
}

/* Frees the imported prices and zeroes *im; NULL and repeated calls are fine. */
void price_import_cleanup(struct price_import *im)
{
	if (!im)
		return;
	free(im->prices);
	memset(im, 0, sizeof *im);
}

/* ---- LiteLLM ------------------------------------------------------------- */

/* Length of the JSON number at s (at most n bytes), or 0 when the text there
 * is not a valid JSON number. */
static size_t json_number_len(const char *s, size_t n)
{
	size_t i = 0;

	if (i < n && s[i] == '-')
		i++;
	if (i < n && s[i] == '0') {
		i++;
	} else if (i < n && s[i] >= '1' && s[i] <= '9') {
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	} else {
		return 0;
	}
	if (i < n && s[i] == '.') {
		size_t d = ++i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == d)
			return 0;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		size_t d = i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == d)
			return 0;
	}
	return i;
}

static size_t line_of(const char *text, size_t upto)
{
	size_t line = 1;

	for (size_t i = 0; i < upto; i++)
		line += text[i] == '\n';
	return line;
}

/* Copies JSON text into out with every number outside a string quoted, so
 * that cJSON hands back the original digits instead of a double. Newlines
 * are kept, so line numbers stay those of the input. */
int ledger_json_quote_numbers(const char *json, size_t len, struct sbuf *out, struct tally_err *err)
{
	bool in_str = false, esc = false;
	size_t i = 0, run = 0;

	while (i < len) {
		char ch = json[i];
		if (in_str) {
			if (esc)
				esc = false;
			else if (ch == '\\')
				esc = true;
			else if (ch == '"')
				in_str = false;
			i++;
			continue;
		}
		if (ch == '"') {
			in_str = true;
			i++;
			continue;
		}
		if (ch != '-' && (ch < '0' || ch > '9')) {
			i++;
			continue;
		}
		size_t n = json_number_len(json + i, len - i);
		/* "01" or "1.2.3" must not pass as two adjacent numbers. */
		if (n > 0 && i + n < len && strchr("0123456789.eE+-", json[i + n]))
			n = 0;
		if (n == 0)
			return tally_err_set(err, TALLY_EINVAL, false,
			                     "line %zu: malformed number in JSON",
			                     line_of(json, i));
		sbuf_append(out, json + run, i - run);
		sbuf_putc(out, '"');
		sbuf_append(out, json + i, n);
		sbuf_putc(out, '"');
		i += n;
		run = i;
	}
	sbuf_append(out, json + run, len - run);
	if (out->oom)
		return tally_err_set(err, TALLY_ENOMEM, false, "price import: out of memory");
	return 0;
}

/* Reads one price field of a LiteLLM entry (quoted by quote_numbers) into
 * *out in pico-USD per unit. Absent or null leaves *out alone. */
static int litellm_price_in(const cJSON *obj, const char *entry_name, const char *field,
                            int64_t *out, bool *rounded, struct tally_err *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
	char why[64];
	int64_t x;

	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v))
		return tally_err_set(err, TALLY_EINVAL, false, "entry \"%s\": %s is not a number",
		                     entry_name, field);
	if (parse_price(v->valuestring, 12, &x, rounded, why, sizeof why) < 0)
		return tally_err_set(err, TALLY_EINVAL, false, "entry \"%s\": %s: \"%.40s\" %s",
		                     entry_name, field, v->valuestring, why);
	*out = x;
	return 0;
}

/* The lowest long-context threshold (in thousands of tokens) that any
 * component's <key>_above_<N>k_tokens price names, or 0 when none. */
static int litellm_threshold_k(const cJSON *entry)
{
	int best = 0;
	const cJSON *f;

	cJSON_ArrayForEach(f, entry)
	{
		for (int k = 0; k < PC_COUNT; k++) {
			const char *key = price_component_litellm[k];
			size_t kl = strlen(key);
			const char *t = f->string + kl;
			char *end;
			long n;
			if (strncmp(f->string, key, kl) != 0 || strncmp(t, "_above_", 7) != 0)
				continue;
			n = strtol(t + 7, &end, 10);
			if (n > 0 && n < 100000 && strncmp(end, "k_tokens", 8) == 0 &&
			    (best == 0 || n < best))
				best = (int)n;
		}
	}
	return best;
}

/* Reads a multiplier (1.1) into parts per million. */
static int litellm_ppm(const cJSON *obj, const char *entry_name, const char *field, int64_t *out,
                       struct tally_err *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, field);
	char why[64];
	bool rounded = false;

	if (!v || !cJSON_IsString(v))
		return 0; /* absent, or not a multiplier (other provider-specific data) */
	if (parse_price(v->valuestring, 6, out, &rounded, why, sizeof why) < 0)
		return tally_err_set(err, TALLY_EINVAL, false, "entry \"%s\": %s: \"%.40s\" %s",
		                     entry_name, field, v->valuestring, why);
	return 0;
}

/* The documented batch discount of a provider (docs/prices.md): 50% for
 * OpenAI, Azure OpenAI, Anthropic, Bedrock, Vertex AI, the Gemini API and
 * Dashscope (Alibaba Model Studio batch inference: "50% of the cost of
 * real-time inference"). */
static int64_t batch_discount_of(const char *provider)
{
	static const char *const half[] = {"openai",           "azure",  "anthropic", "bedrock",
	                                   "bedrock_converse", "gemini", "vertex_ai", "dashscope"};

	for (size_t i = 0; i < sizeof half / sizeof *half; i++)
		if (strcmp(provider, half[i]) == 0)
			return 500000;
	if (strncmp(provider, "vertex_ai-", 10) == 0)
		return 500000;
	return 0;
}

/* Reads every component's rate of one variant from obj (an entry or one of
 * its tiered_pricing tiers) into rate[]: <key><suffix>. */
static int litellm_rates(const cJSON *obj, const char *entry_name, const char *suffix,
                         int64_t rate[PC_COUNT], bool *rounded, struct tally_err *err)
{
	for (int k = 0; k < PC_COUNT; k++) {
		char field[128];
		const cJSON *v;
		snprintf(field, sizeof field, "%s%s", price_component_litellm[k], suffix);
		v = cJSON_GetObjectItemCaseSensitive(obj, field);
		if (k == PC_WEB_SEARCH && v && cJSON_IsObject(v)) {
			/* search_context_cost_per_query: the medium context size, the
			 * default of the providers' search tools. */
			const char *sizes[] = {"search_context_size_medium",
			                       "search_context_size_low",
			                       "search_context_size_high"};
			for (int i = 0; i < 3 && rate[k] == PRICE_UNSET; i++)
				if (litellm_price_in(v, entry_name, sizes[i], &rate[k], rounded,
				                     err) < 0)
					return -1;
			continue;
		}
		if (litellm_price_in(obj, entry_name, field, &rate[k], rounded, err) < 0)
			return -1;
	}
	return 0;
}

/* tiered_pricing: [{range: [from, to], <keys>}...] ascending. The first tier
 * gives the standard rates, the second the above_* rates from its start, the
 * others price.tiers. */
static int litellm_tiers(const cJSON *entry, struct price *p, bool *rounded, struct tally_err *err)
{
	const cJSON *tp = cJSON_GetObjectItemCaseSensitive(entry, "tiered_pricing"), *t;
	int i = 0;

	if (!tp)
		return 0;
	if (!cJSON_IsArray(tp))
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "entry \"%s\": tiered_pricing is not an array", entry->string);
	cJSON_ArrayForEach(t, tp)
	{
		const cJSON *range = cJSON_GetObjectItemCaseSensitive(t, "range");
		const cJSON *from = cJSON_IsArray(range) ? cJSON_GetArrayItem(range, 0) : NULL;
		int64_t from_tokens = 0;
		bool r = false;
		char why[64];

		if (i == 0 && cJSON_IsObject(t) && !range)
			return 0; /* tiers by something else than tokens (search results) */
		if (!cJSON_IsObject(t) || !from || !cJSON_IsString(from) ||
		    parse_price(from->valuestring, 0, &from_tokens, &r, why, sizeof why) < 0)
			return tally_err_set(
			    err, TALLY_EINVAL, false,
			    "entry \"%s\": tiered_pricing[%d] has no numeric range", entry->string,
			    i);
		if (i == 0) {
			if (litellm_rates(t, entry->string, "", p->rate[PV_STD], rounded, err) < 0)
				return -1;
		} else if (i == 1) {
			p->threshold_tokens = from_tokens;
			if (litellm_rates(t, entry->string, "", p->rate[PV_ABOVE], rounded, err) <
			    0)
				return -1;
		} else if (i - 2 < PRICE_TIERS_MAX) {
			struct price_tier *pt = &p->tiers[i - 2];
			for (int k = 0; k < PC_COUNT; k++)
				pt->rate[k] = PRICE_UNSET;
			pt->from_tokens = from_tokens;
			if (litellm_rates(t, entry->string, "", pt->rate, rounded, err) < 0)
				return -1;
			p->n_tiers = i - 1;
		} else {
			return tally_err_set(err, TALLY_EINVAL, false,
			                     "entry \"%s\": more than %d tiers in tiered_pricing",
			                     entry->string, PRICE_TIERS_MAX + 2);
		}
		i++;
	}
	return 0;
}

/* Fills p's names from the entry key; false (with a skip reason) when the
 * entry names no usable provider and model. */
static bool litellm_names(const cJSON *entry, struct price *p, struct price_import *im)
{
	const char *key = entry->string;
	const char *slash = strchr(key, '/');
	const cJSON *prov = cJSON_GetObjectItemCaseSensitive(entry, "litellm_provider");
	const char *model;
	size_t plen;

	if (slash) {
		plen = (size_t)(slash - key);
		model = slash + 1;
	} else if (cJSON_IsString(prov)) {
		plen = strlen(prov->valuestring);
		model = key;
		key = prov->valuestring;
	} else {
		im_skip(im, "entry \"%.200s\": no provider (no '/' and no litellm_provider)", key);
		return false;
	}
	if (plen == 0 || plen >= sizeof p->provider || *model == '\0' ||
	    strlen(model) >= sizeof p->model) {
		im_skip(im, "entry \"%.200s\": provider or model name empty or too long",
		        entry->string);
		return false;
	}
	memcpy(p->provider, key, plen);
	p->provider[plen] = '\0';
	str_copy(p->model, sizeof p->model, model);
	return true;
}

/* True when the entry lists any price tally can apply to a call. */
static bool litellm_has_price(const cJSON *entry)
{
	if (cJSON_GetObjectItemCaseSensitive(entry, "tiered_pricing") ||
	    cJSON_GetObjectItemCaseSensitive(entry, "input_cost_per_query"))
		return true;
	for (int k = 0; k < PC_COUNT; k++)
		if (cJSON_GetObjectItemCaseSensitive(entry, price_component_litellm[k]))
			return true;
	return false;
}

/* Parses one entry into p. Returns 1 when p holds a price, 0 when the entry
 * was skipped, -1 on a bad price. */
static int litellm_entry(const cJSON *entry, int64_t effective_from_us, struct price *p,
                         bool *rounded, struct price_import *im, struct tally_err *err)
{
	const char *name = entry->string;
	const cJSON *pse;
	int k;

	price_blank(p, effective_from_us);
	*rounded = false;
	if (strcmp(name, "sample_spec") == 0) {
		im_skip(im, "entry \"sample_spec\": the format's example, not a model");
		return 0;
	}
	if (!cJSON_IsObject(entry)) {
		im_skip(im, "entry \"%.200s\": not a model object", name);
		return 0;
	}
	if (!litellm_has_price(entry)) {
		im_skip(im, "entry \"%.200s\": no per-token, per-query or per-request price", name);
		return 0;
	}
	if (!litellm_names(entry, p, im))
		return 0;
	if (litellm_rates(entry, name, "", p->rate[PV_STD], rounded, err) < 0 ||
	    litellm_rates(entry, name, "_batches", p->rate[PV_BATCH], rounded, err) < 0 ||
	    litellm_rates(entry, name, "_flex", p->rate[PV_FLEX], rounded, err) < 0 ||
	    litellm_rates(entry, name, "_priority", p->rate[PV_PRIORITY], rounded, err) < 0)
		return -1;
	/* Rerankers price per query: a per-request fee. */
	if (p->rate[PV_STD][PC_REQUEST] == PRICE_UNSET &&
	    litellm_price_in(entry, name, "input_cost_per_query", &p->rate[PV_STD][PC_REQUEST],
	                     rounded, err) < 0)
		return -1;
	/* LiteLLM files OpenAI Realtime's cached audio input price under
	 * cache_creation_input_audio_token_cost. */
	if (p->rate[PV_STD][PC_AUDIO_CACHE_READ] == PRICE_UNSET &&
	    litellm_price_in(entry, name, "cache_creation_input_audio_token_cost",
	                     &p->rate[PV_STD][PC_AUDIO_CACHE_READ], rounded, err) < 0)
		return -1;
	if ((k = litellm_threshold_k(entry)) > 0) {
		char sfx[64], sfx_pr[80];
		p->threshold_tokens = (int64_t)k * 1000;
		snprintf(sfx, sizeof sfx, "_above_%dk_tokens", k);
		snprintf(sfx_pr, sizeof sfx_pr, "_above_%dk_tokens_priority", k);
		if (litellm_rates(entry, name, sfx, p->rate[PV_ABOVE], rounded, err) < 0 ||
		    litellm_rates(entry, name, sfx_pr, p->rate[PV_ABOVE_PRIORITY], rounded, err) <
		        0)
			return -1;
	}
	if (litellm_tiers(entry, p, rounded, err) < 0)
		return -1;
	for (k = 0; k < PC_COUNT && p->rate[PV_STD][k] == PRICE_UNSET; k++)
		;
	if (k == PC_COUNT) {
		im_skip(im, "entry \"%.200s\": no standard price of any component", name);
		return 0;
	}
	/* xAI charges the higher rates from the threshold itself, and Live
	 * Search $25 per 1,000 sources used (docs.x.ai/docs/guides/live-search),
	 * a rate LiteLLM's map does not list. */
	p->threshold_inclusive = strcmp(p->provider, "xai") == 0;
	if (strcmp(p->provider, "xai") == 0 && p->rate[PV_STD][PC_LIVE_SEARCH] == PRICE_UNSET)
		p->rate[PV_STD][PC_LIVE_SEARCH] = XAI_LIVE_SEARCH_PUSD;
	p->batch_discount_ppm = batch_discount_of(p->provider);
	if (litellm_ppm(entry, name, "regional_processing_uplift_multiplier_eu", &p->uplift_eu_ppm,
	                err) < 0 ||
	    litellm_ppm(entry, name, "regional_processing_uplift_multiplier_us", &p->uplift_us_ppm,
	                err) < 0)
		return -1;
	pse = cJSON_GetObjectItemCaseSensitive(entry, "provider_specific_entry");
	if (cJSON_IsObject(pse) && (litellm_ppm(pse, name, "us", &p->geo_us_ppm, err) < 0 ||
	                            litellm_ppm(pse, name, "fast", &p->fast_ppm, err) < 0))
		return -1;
	price_default_tier(p);
	return 1;
}

/* Imports LiteLLM's price map (docs/prices.md). Overwrites *out; on success
 * the caller frees it with price_import_cleanup(), on error it is left empty. */
int price_import_litellm(const char *json, size_t len, int64_t effective_from_us,
                         struct price_import *out, struct tally_err *err)
{
	struct sbuf quoted;
	struct seen_set seen = {NULL, 0};
	cJSON *root = NULL;
	const cJSON *entry;
	const char *end = NULL;
	int rc = -1;

	memset(out, 0, sizeof *out);
	sbuf_init(&quoted);
	if (!json)
		return tally_err_set(err, TALLY_EINVAL, false, "price import: no JSON text");
	if (ledger_json_quote_numbers(json, len, &quoted, err) < 0)
		goto done;
	root = cJSON_ParseWithLengthOpts(quoted.p ? quoted.p : "", quoted.len, &end, false);
	if (!root) {
		size_t at = end && quoted.p ? (size_t)(end - quoted.p) : 0;
		tally_err_set(err, TALLY_EINVAL, false, "line %zu: JSON syntax error",
		              line_of(quoted.p ? quoted.p : "", at > quoted.len ? quoted.len : at));
		goto done;
	}
	if (!cJSON_IsObject(root)) {
		tally_err_set(err, TALLY_EINVAL, false,
		              "the LiteLLM price map must be a JSON object of models");
		goto done;
	}
	cJSON_ArrayForEach(entry, root)
	{
		struct price p;
		bool rounded;
		size_t first;
		int got = litellm_entry(entry, effective_from_us, &p, &rounded, out, err);

		if (got < 0)
			goto done;
		if (got == 0)
			continue;
		first = seen_check_add(&seen, out, &p, out->n);
		if (first == SEEN_OOM) {
			tally_err_set(err, TALLY_ENOMEM, false, "price import: out of memory");
			goto done;
		}
		if (first != SIZE_MAX) {
			im_skip(out, "entry \"%.120s\": provider %s model %.60s already listed",
			        entry->string, p.provider, p.model);
			continue;
		}
		if (im_push(out, &p, err) < 0)
			goto done;
		out->rounded += rounded;
	}
	rc = 0;
done:
	cJSON_Delete(root);
	sbuf_cleanup(&quoted);
	free(seen.slots);
	if (rc < 0)
		price_import_cleanup(out);
	return rc;
}

/* ---- CSV ----------------------------------------------------------------- */

/* The CSV columns, all derived from the component tables: provider, model,
 * tier; <variant><component> for every rate (tokens in USD per million,
 * queries and requests in USD each); the scalars. The header names the
 * columns used, in any order (docs/prices.md). */
enum csv_kind {
	CK_PROVIDER,
	CK_MODEL,
	CK_TIER,
	CK_RATE,
	CK_THRESHOLD,
	CK_INCLUSIVE,
	CK_PPM,
	CK_LEVEL_FROM, /* level<N>_from_tokens */
	CK_LEVEL_RATE, /* level<N>_<component> */
};

struct csv_col {
	char name[48];
	enum csv_kind kind;
	int variant, component; /* CK_RATE; component and level for CK_LEVEL_* */
	size_t scalar_off;      /* CK_PPM */
	bool fraction;          /* CK_PPM: a share (0.5) stored as a discount */
	int level;              /* CK_LEVEL_*: 2.. (price.tiers[level - 2]) */
};

#define CSV_HEADER                                                                                 \
	"provider,model,tier,input,output,cache_read,cache_write,reasoning,batch_input,"           \
	"batch_output,threshold_tokens,above_input,above_output,above_cache_read,"                 \
	"above_cache_write"
#define CSV_MAX_COLS  (3 + PV_COUNT * PC_COUNT + 8 + PRICE_TIERS_MAX * (1 + PC_COUNT))
#define CSV_FIELD_MAX 512

static size_t csv_columns(struct csv_col *cols)
{
	static const struct {
		const char *name;
		size_t off;
	} ppm[] = {
	    {"batch_discount", offsetof(struct price, batch_discount_ppm)},
	    {"uplift_eu", offsetof(struct price, uplift_eu_ppm)},
	    {"uplift_us", offsetof(struct price, uplift_us_ppm)},
	    {"geo_us", offsetof(struct price, geo_us_ppm)},
	    {"fast", offsetof(struct price, fast_ppm)},
	};
	size_t n = 0;

	cols[n++] = (struct csv_col){"provider", CK_PROVIDER, 0, 0, 0, false, 0};
	cols[n++] = (struct csv_col){"model", CK_MODEL, 0, 0, 0, false, 0};
	cols[n++] = (struct csv_col){"tier", CK_TIER, 0, 0, 0, false, 0};
	for (int v = 0; v < PV_COUNT; v++)
		for (int k = 0; k < PC_COUNT; k++) {
			struct csv_col *c = &cols[n++];
			*c = (struct csv_col){"", CK_RATE, v, k, 0, false, 0};
			snprintf(c->name, sizeof c->name, "%s%s", price_variant_prefix[v],
			         price_component_names[k]);
		}
	cols[n++] = (struct csv_col){"threshold_tokens", CK_THRESHOLD, 0, 0, 0, false, 0};
	cols[n++] = (struct csv_col){"threshold_inclusive", CK_INCLUSIVE, 0, 0, 0, false, 0};
	for (size_t i = 0; i < sizeof ppm / sizeof *ppm; i++)
		cols[n++] = (struct csv_col){"", CK_PPM, 0, 0, ppm[i].off, i == 0, 0};
	for (size_t i = 0; i < sizeof ppm / sizeof *ppm; i++)
		str_copy(cols[n - (sizeof ppm / sizeof *ppm) + i].name, sizeof cols[0].name,
		         ppm[i].name);
	/* Further long-context tiers (LiteLLM's tiered_pricing beyond two):
	 * level2_from_tokens, level2_input, ... level<PRICE_TIERS_MAX + 1>_*. */
	for (int l = 2; l < PRICE_TIERS_MAX + 2; l++) {
		struct csv_col *c = &cols[n++];
		*c = (struct csv_col){"", CK_LEVEL_FROM, 0, 0, 0, false, l};
		snprintf(c->name, sizeof c->name, "level%d_from_tokens", l);
		for (int k = 0; k < PC_COUNT; k++) {
			c = &cols[n++];
			*c = (struct csv_col){"", CK_LEVEL_RATE, 0, k, 0, false, l};
			snprintf(c->name, sizeof c->name, "level%d_%s", l,
			         price_component_names[k]);
		}
	}
	return n;
}

/* Splits one line (without its newline) into at most max fields. Double-
 * quoted fields may hold commas and "" for a quote; unquoted fields are
 * trimmed of blanks. Returns the number of fields or -1 with err set. */
static int csv_split(const char *s, size_t n, size_t lineno, char (*fields)[CSV_FIELD_MAX], int max,
                     struct tally_err *err)
{
	size_t i = 0;
	int nf = 0;

	for (;;) {
		char buf[CSV_FIELD_MAX];
		size_t o = 0;
		bool too_long = false;

		while (i < n && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (i < n && s[i] == '"') {
			for (i++;; i++) {
				if (i >= n)
					return tally_err_set(
					    err, TALLY_EINVAL, false,
					    "line %zu: field %d: unterminated quote", lineno,
					    nf + 1);
				if (s[i] == '"') {
					if (i + 1 < n && s[i + 1] == '"')
						i++;
					else
						break;
				}
				if (o + 1 < sizeof buf)
					buf[o++] = s[i];
				else
					too_long = true;
			}
			i++;
			while (i < n && (s[i] == ' ' || s[i] == '\t'))
				i++;
			if (i < n && s[i] != ',')
				return tally_err_set(err, TALLY_EINVAL, false,
				                     "line %zu: field %d: text after closing quote",
				                     lineno, nf + 1);
		} else {
			for (; i < n && s[i] != ','; i++) {
				if (o + 1 < sizeof buf)
					buf[o++] = s[i];
				else
					too_long = true;
			}
			while (o > 0 && (buf[o - 1] == ' ' || buf[o - 1] == '\t'))
				o--;
		}
		buf[o] = '\0';
		if (too_long)
			return tally_err_set(err, TALLY_EINVAL, false,
			                     "line %zu: field %d: longer than %d bytes", lineno,
			                     nf + 1, CSV_FIELD_MAX - 1);
		if (nf < max)
			memcpy(fields[nf], buf, o + 1);
		nf++;
		if (i >= n)
			return nf;
		i++; /* the comma */
	}
}

/* Reads the header: which column each field is. */
static int csv_header(char (*fields)[CSV_FIELD_MAX], int nf, size_t lineno,
                      const struct csv_col *all, size_t n_all, const struct csv_col **map,
                      struct tally_err *err)
{
	bool seen_provider = false, seen_model = false;

	for (int f = 0; f < nf; f++) {
		map[f] = NULL;
		for (size_t c = 0; c < n_all; c++)
			if (strcmp(fields[f], all[c].name) == 0)
				map[f] = &all[c];
		if (!map[f])
			return tally_err_set(
			    err, TALLY_EINVAL, false,
			    "line %zu: unknown column \"%.60s\" (docs/prices.md lists "
			    "the columns)",
			    lineno, fields[f]);
		for (int g = 0; g < f; g++)
			if (map[g] == map[f])
				return tally_err_set(err, TALLY_EINVAL, false,
				                     "line %zu: column %s twice", lineno,
				                     fields[f]);
		seen_provider |= map[f]->kind == CK_PROVIDER;
		seen_model |= map[f]->kind == CK_MODEL;
	}
	if (!seen_provider || !seen_model)
		return tally_err_set(
		    err, TALLY_EINVAL, false,
		    "line %zu: the header must name the columns, provider and model "
		    "among them (e.g. %s)",
		    lineno, CSV_HEADER);
	return 0;
}

/* The further tiers of a CSV row: each level up to the highest one given has
 * a start above the level below's and at least one rate (docs/prices.md). */
static int csv_check_levels(const struct price *p, size_t lineno, struct tally_err *err)
{
	int64_t below = p->threshold_tokens;

	if (p->n_tiers > 0 && p->threshold_tokens <= 0)
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "line %zu: column level2_from_tokens: further tiers need "
		                     "threshold_tokens and above_input (level 1) first",
		                     lineno);
	for (int l = 0; l < p->n_tiers; l++) {
		bool any = false;
		for (int k = 0; k < PC_COUNT; k++)
			any |= p->tiers[l].rate[k] != PRICE_UNSET;
		if (p->tiers[l].from_tokens <= below)
			return tally_err_set(err, TALLY_EINVAL, false,
			                     "line %zu: column level%d_from_tokens: must be above "
			                     "%lld, where the level below starts",
			                     lineno, l + 2, (long long)below);
		if (!any)
			return tally_err_set(err, TALLY_EINVAL, false,
			                     "line %zu: level %d has no price (level%d_input, ...)",
			                     lineno, l + 2, l + 2);
		below = p->tiers[l].from_tokens;
	}
	return 0;
}

static int csv_row(char (*fields)[CSV_FIELD_MAX], const struct csv_col *const *map, int nf,
                   size_t lineno, int64_t effective_from_us, struct price *p, bool *rounded,
                   struct tally_err *err)
{
	char why[64];

	price_blank(p, effective_from_us);
	for (int l = 0; l < PRICE_TIERS_MAX; l++)
		for (int k = 0; k < PC_COUNT; k++)
			p->tiers[l].rate[k] = PRICE_UNSET;
	*rounded = false;
	for (int f = 0; f < nf; f++) {
		const struct csv_col *c = map[f];
		const char *t = fields[f];
		int64_t x;

		switch (c->kind) {
		case CK_PROVIDER:
		case CK_MODEL:
		case CK_TIER: {
			char *dst = c->kind == CK_PROVIDER ? p->provider
			            : c->kind == CK_MODEL  ? p->model
			                                   : p->tier;
			size_t cap = c->kind == CK_PROVIDER ? sizeof p->provider
			             : c->kind == CK_MODEL  ? sizeof p->model
			                                    : sizeof p->tier;
			if (str_copy(dst, cap, t) < 0)
				return tally_err_set(err, TALLY_EINVAL, false,
				                     "line %zu: column %s: too long", lineno,
				                     c->name);
			break;
		}
		case CK_RATE:
		case CK_LEVEL_RATE:
			if (!*t)
				break;
			/* Tokens in USD per million, per-unit charges in USD each. */
			if (parse_price(t, price_component_is_token(c->component) ? 6 : 12,
			                c->kind == CK_RATE
			                    ? &p->rate[c->variant][c->component]
			                    : &p->tiers[c->level - 2].rate[c->component],
			                rounded, why, sizeof why) < 0)
				return tally_err_set(err, TALLY_EINVAL, false,
				                     "line %zu: column %s: \"%.60s\" %s", lineno,
				                     c->name, t, why);
			if (c->kind == CK_LEVEL_RATE && p->n_tiers < c->level - 1)
				p->n_tiers = c->level - 1;
			break;
		case CK_LEVEL_FROM:
			if (!*t)
				break;
			if (parse_i64(t, &x) < 0 || x <= 0)
				return tally_err_set(err, TALLY_EINVAL, false,
				                     "line %zu: column %s: \"%.60s\" is not a "
				                     "whole number above 0",
				                     lineno, c->name, t);
			p->tiers[c->level - 2].from_tokens = x;
			if (p->n_tiers < c->level - 1)
				p->n_tiers = c->level - 1;
			break;
		case CK_THRESHOLD:
		case CK_INCLUSIVE:
			if (!*t)
				break;
			if (parse_i64(t, &x) < 0 || x < 0 || (c->kind == CK_INCLUSIVE && x > 1))
				return tally_err_set(err, TALLY_EINVAL, false,
				                     "line %zu: column %s: \"%.60s\" is not a "
				                     "non-negative whole number%s",
				                     lineno, c->name, t,
				                     c->kind == CK_INCLUSIVE ? " (0 or 1)" : "");
			if (c->kind == CK_THRESHOLD)
				p->threshold_tokens = x;
			else
				p->threshold_inclusive = x;
			break;
		case CK_PPM:
			if (!*t)
				break;
			if (parse_price(t, 6, &x, rounded, why, sizeof why) < 0 ||
			    (c->fraction && x > 1000000))
				return tally_err_set(
				    err, TALLY_EINVAL, false, "line %zu: column %s: \"%.60s\" %s",
				    lineno, c->name, t,
				    c->fraction && x > 1000000 ? "is above 1" : why);
			*(int64_t *)((char *)p + c->scalar_off) = x;
			break;
		}
	}
	if (p->provider[0] == '\0' || p->model[0] == '\0')
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "line %zu: column %s: must not be empty", lineno,
		                     p->provider[0] ? "model" : "provider");
	bool any_above = false;
	for (int k = 0; k < PC_COUNT; k++)
		any_above |= p->rate[PV_ABOVE][k] != PRICE_UNSET ||
		             p->rate[PV_ABOVE_PRIORITY][k] != PRICE_UNSET;
	if (p->threshold_tokens == 0 && any_above)
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "line %zu: column threshold_tokens: above_* prices need a "
		                     "threshold above 0",
		                     lineno);
	if (p->threshold_tokens > 0 && p->above_input == PRICE_UNSET)
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "line %zu: column above_input: threshold_tokens is set, so "
		                     "above_input must be too",
		                     lineno);
	if (csv_check_levels(p, lineno, err) < 0)
		return -1;
	if (p->batch_input == PRICE_UNSET && p->batch_output != PRICE_UNSET)
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "line %zu: column batch_input: batch_output is set, so "
		                     "batch_input must be too",
		                     lineno);
	price_default_tier(p);
	return 0;
}

static bool csv_blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t')
			return false;
	return true;
}

/* Imports tally's CSV price list (docs/prices.md). Overwrites *out; on success
 * the caller frees it with price_import_cleanup(), on error it is left empty
 * and err names the line and column. */
int price_import_csv(const char *text, size_t len, int64_t effective_from_us,
                     struct price_import *out, struct tally_err *err)
{
	char(*fields)[CSV_FIELD_MAX] = NULL;
	struct csv_col all[CSV_MAX_COLS];
	const struct csv_col *map[CSV_MAX_COLS];
	size_t n_all = csv_columns(all);
	struct seen_set seen = {NULL, 0};
	int n_cols = 0;
	size_t pos = 0, lineno = 0;
	int rc = -1;

	memset(out, 0, sizeof *out);
	if (!text)
		return tally_err_set(err, TALLY_EINVAL, false, "price import: no CSV text");
	if (!(fields = malloc(CSV_MAX_COLS * sizeof *fields)))
		return tally_err_set(err, TALLY_ENOMEM, false, "price import: out of memory");
	if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
		pos = 3; /* a UTF-8 byte order mark, as spreadsheets write */
	while (pos < len) {
		const char *line = text + pos;
		const char *nl = memchr(line, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - line) : len - pos;
		struct price p;
		bool rounded;
		size_t first;
		int nf;

		pos += n + (nl ? 1 : 0);
		lineno++;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (memchr(line, '\0', n)) {
			tally_err_set(err, TALLY_EINVAL, false, "line %zu: NUL byte", lineno);
			goto done;
		}
		if (csv_blank(line, n) || line[0] == '#')
			continue;
		if ((nf = csv_split(line, n, lineno, fields, CSV_MAX_COLS, err)) < 0)
			goto done;
		if (n_cols == 0) {
			if (nf > CSV_MAX_COLS) {
				tally_err_set(err, TALLY_EINVAL, false,
				              "line %zu: too many columns", lineno);
				goto done;
			}
			if (csv_header(fields, nf, lineno, all, n_all, map, err) < 0)
				goto done;
			n_cols = nf;
			continue;
		}
		if (nf != n_cols) {
			tally_err_set(err, TALLY_EINVAL, false, "line %zu: %d columns, expected %d",
			              lineno, nf, n_cols);
			goto done;
		}
		if (csv_row(fields, map, nf, lineno, effective_from_us, &p, &rounded, err) < 0)
			goto done;
		first = seen_check_add(&seen, out, &p, out->n);
		if (first == SEEN_OOM) {
			tally_err_set(err, TALLY_ENOMEM, false, "price import: out of memory");
			goto done;
		}
		if (first != SIZE_MAX) {
			tally_err_set(err, TALLY_EINVAL, false,
			              "line %zu: provider %s model %s is listed twice", lineno,
			              p.provider, p.model);
			goto done;
		}
		if (im_push(out, &p, err) < 0)
			goto done;
		out->rounded += rounded;
	}
	if (n_cols == 0) {
		tally_err_set(err, TALLY_EINVAL, false, "no header line: expected e.g. %s",
		              CSV_HEADER);
		goto done;
	}
	rc = 0;
done:
	free(fields);
	free(seen.slots);
	if (rc < 0)
		price_import_cleanup(out);
	return rc;
}
