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
	p->input = p->output = p->cache_read = p->cache_write = p->reasoning = PRICE_UNSET;
	p->batch_input = p->batch_output = PRICE_UNSET;
	p->above_input = p->above_output = p->above_cache_read = p->above_cache_write = PRICE_UNSET;
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
	uint64_t h = UINT64_C(14695981039346656037);
	const char *parts[2] = {p->provider, p->model};

	for (int i = 0; i < 2; i++) {
		const char *s = parts[i];
		do {
			h ^= (unsigned char)*s;
			h *= UINT64_C(1099511628211);
		} while (*s++);
	}
	return h;
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

/* Reads one price field of a LiteLLM entry (quoted by ledger_json_quote_numbers) into
 * *out in pico-USD per token. Absent or null leaves *out alone. */
static int litellm_price(const cJSON *entry, const char *field, int64_t *out, bool *rounded,
                         struct tally_err *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(entry, field);
	char why[64];
	int64_t x;

	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v))
		return tally_err_set(err, TALLY_EINVAL, false, "entry \"%s\": %s is not a number",
		                     entry->string, field);
	if (parse_price(v->valuestring, 12, &x, rounded, why, sizeof why) < 0)
		return tally_err_set(err, TALLY_EINVAL, false, "entry \"%s\": %s: \"%.40s\" %s",
		                     entry->string, field, v->valuestring, why);
	*out = x;
	return 0;
}

static const char *const above_bases[] = {
    "input_cost_per_token",
    "output_cost_per_token",
    "cache_read_input_token_cost",
    "cache_creation_input_token_cost",
};
static const int above_thresholds_k[] = {128, 200, 256, 272, 512};

/* The lowest long-context threshold (in thousands of tokens) any of the
 * entry's *_above_<N>k_tokens token prices names, or 0 when none. */
static int litellm_threshold_k(const cJSON *entry)
{
	const size_t n_thresholds = sizeof above_thresholds_k / sizeof *above_thresholds_k;
	int best = 0;
	const cJSON *f;

	cJSON_ArrayForEach(f, entry)
	{
		for (size_t b = 0; b < sizeof above_bases / sizeof *above_bases; b++) {
			size_t bl = strlen(above_bases[b]);
			if (strncmp(f->string, above_bases[b], bl) != 0 ||
			    strncmp(f->string + bl, "_above_", 7) != 0)
				continue;
			for (size_t t = 0; t < n_thresholds; t++) {
				char tail[32];
				snprintf(tail, sizeof tail, "%dk_tokens", above_thresholds_k[t]);
				if (strcmp(f->string + bl + 7, tail) == 0 &&
				    (best == 0 || above_thresholds_k[t] < best))
					best = above_thresholds_k[t];
			}
		}
	}
	return best;
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

/* Parses one entry into p. Returns 1 when p holds a price, 0 when the entry
 * was skipped, -1 on a bad price. */
static int litellm_entry(const cJSON *entry, int64_t effective_from_us, struct price *p,
                         bool *rounded, struct price_import *im, struct tally_err *err)
{
	static const struct {
		const char *field;
		size_t off;
	} plain[] = {
	    {"input_cost_per_token", offsetof(struct price, input)},
	    {"output_cost_per_token", offsetof(struct price, output)},
	    {"cache_read_input_token_cost", offsetof(struct price, cache_read)},
	    {"cache_creation_input_token_cost", offsetof(struct price, cache_write)},
	    {"output_cost_per_reasoning_token", offsetof(struct price, reasoning)},
	    {"input_cost_per_token_batches", offsetof(struct price, batch_input)},
	    {"output_cost_per_token_batches", offsetof(struct price, batch_output)},
	};
	static const size_t above_off[] = {
	    offsetof(struct price, above_input),
	    offsetof(struct price, above_output),
	    offsetof(struct price, above_cache_read),
	    offsetof(struct price, above_cache_write),
	};
	int k;

	price_blank(p, effective_from_us);
	*rounded = false;
	if (strcmp(entry->string, "sample_spec") == 0) {
		im_skip(im, "entry \"sample_spec\": the format's example, not a model");
		return 0;
	}
	if (!cJSON_IsObject(entry)) {
		im_skip(im, "entry \"%.200s\": not a model object", entry->string);
		return 0;
	}
	if (!cJSON_GetObjectItemCaseSensitive(entry, "input_cost_per_token") &&
	    !cJSON_GetObjectItemCaseSensitive(entry, "output_cost_per_token")) {
		im_skip(im, "entry \"%.200s\": no input_cost_per_token or output_cost_per_token",
		        entry->string);
		return 0;
	}
	if (!litellm_names(entry, p, im))
		return 0;
	for (size_t i = 0; i < sizeof plain / sizeof *plain; i++)
		if (litellm_price(entry, plain[i].field, (int64_t *)((char *)p + plain[i].off),
		                  rounded, err) < 0)
			return -1;
	if ((k = litellm_threshold_k(entry)) > 0) {
		p->threshold_tokens = (int64_t)k * 1000;
		for (size_t b = 0; b < sizeof above_bases / sizeof *above_bases; b++) {
			char field[96];
			snprintf(field, sizeof field, "%s_above_%dk_tokens", above_bases[b], k);
			if (litellm_price(entry, field, (int64_t *)((char *)p + above_off[b]),
			                  rounded, err) < 0)
				return -1;
		}
	}
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

enum csv_col {
	COL_PROVIDER,
	COL_MODEL,
	COL_TIER,
	COL_INPUT,
	COL_OUTPUT,
	COL_CACHE_READ,
	COL_CACHE_WRITE,
	COL_REASONING,
	COL_BATCH_INPUT,
	COL_BATCH_OUTPUT,
	COL_THRESHOLD,
	COL_ABOVE_INPUT,
	COL_ABOVE_OUTPUT,
	COL_ABOVE_CACHE_READ,
	COL_ABOVE_CACHE_WRITE,
	COL_N
};

static const char *const csv_names[COL_N] = {
    "provider",
    "model",
    "tier",
    "input",
    "output",
    "cache_read",
    "cache_write",
    "reasoning",
    "batch_input",
    "batch_output",
    "threshold_tokens",
    "above_input",
    "above_output",
    "above_cache_read",
    "above_cache_write",
};

#define CSV_HEADER                                                                                 \
	"provider,model,tier,input,output,cache_read,cache_write,reasoning,batch_input,"           \
	"batch_output,threshold_tokens,above_input,above_output,above_cache_read,"                 \
	"above_cache_write"

#define CSV_FIELD_MAX 512

static const char *csv_col_name(int i)
{
	return i < COL_N ? csv_names[i] : "beyond the last";
}

/* Splits one line (without its newline) into fields. Double-quoted fields
 * may hold commas and "" for a quote; unquoted fields are trimmed of blanks.
 * Returns the number of fields or -1 with err set. */
static int csv_split(const char *s, size_t n, size_t lineno, char fields[COL_N][CSV_FIELD_MAX],
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
					    "line %zu: column %s: unterminated quote", lineno,
					    csv_col_name(nf));
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
				                     "line %zu: column %s: text after closing "
				                     "quote",
				                     lineno, csv_col_name(nf));
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
			                     "line %zu: column %s: longer than %d bytes", lineno,
			                     csv_col_name(nf), CSV_FIELD_MAX - 1);
		if (nf < COL_N)
			memcpy(fields[nf], buf, o + 1);
		nf++;
		if (i >= n)
			return nf;
		i++; /* the comma */
	}
}

/* Parses a price column (USD per million tokens) into pico-USD per token. */
static int csv_price(const char *text, enum csv_col col, size_t lineno, int64_t *out, bool *rounded,
                     struct tally_err *err)
{
	char why[64];

	if (*text == '\0') {
		*out = PRICE_UNSET;
		return 0;
	}
	if (parse_price(text, 6, out, rounded, why, sizeof why) < 0)
		return tally_err_set(err, TALLY_EINVAL, false, "line %zu: column %s: \"%.60s\" %s",
		                     lineno, csv_names[col], text, why);
	return 0;
}

static int csv_row(char fields[COL_N][CSV_FIELD_MAX], size_t lineno, int64_t effective_from_us,
                   struct price *p, bool *rounded, struct tally_err *err)
{
	static const struct {
		enum csv_col col;
		size_t off;
	} cols[] = {
	    {COL_INPUT, offsetof(struct price, input)},
	    {COL_OUTPUT, offsetof(struct price, output)},
	    {COL_CACHE_READ, offsetof(struct price, cache_read)},
	    {COL_CACHE_WRITE, offsetof(struct price, cache_write)},
	    {COL_REASONING, offsetof(struct price, reasoning)},
	    {COL_BATCH_INPUT, offsetof(struct price, batch_input)},
	    {COL_BATCH_OUTPUT, offsetof(struct price, batch_output)},
	    {COL_ABOVE_INPUT, offsetof(struct price, above_input)},
	    {COL_ABOVE_OUTPUT, offsetof(struct price, above_output)},
	    {COL_ABOVE_CACHE_READ, offsetof(struct price, above_cache_read)},
	    {COL_ABOVE_CACHE_WRITE, offsetof(struct price, above_cache_write)},
	};
	const char *thr = fields[COL_THRESHOLD];

	price_blank(p, effective_from_us);
	*rounded = false;
	if (fields[COL_PROVIDER][0] == '\0' || fields[COL_MODEL][0] == '\0')
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "line %zu: column %s: must not be empty", lineno,
		                     csv_names[fields[COL_PROVIDER][0] ? COL_MODEL : COL_PROVIDER]);
	if (str_copy(p->provider, sizeof p->provider, fields[COL_PROVIDER]) < 0 ||
	    str_copy(p->model, sizeof p->model, fields[COL_MODEL]) < 0 ||
	    str_copy(p->tier, sizeof p->tier, fields[COL_TIER]) < 0)
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "line %zu: provider, model or tier too long "
		                     "(limits %d, %d, %d)",
		                     lineno, EVENT_NAME_MAX, EVENT_MODEL_MAX, EVENT_TIER_MAX);
	for (size_t i = 0; i < sizeof cols / sizeof *cols; i++)
		if (csv_price(fields[cols[i].col], cols[i].col, lineno,
		              (int64_t *)((char *)p + cols[i].off), rounded, err) < 0)
			return -1;
	if (*thr && (parse_i64(thr, &p->threshold_tokens) < 0 || p->threshold_tokens < 0))
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "line %zu: column threshold_tokens: \"%.60s\" is not a "
		                     "non-negative whole number",
		                     lineno, thr);
	if (p->threshold_tokens == 0 &&
	    (p->above_input != PRICE_UNSET || p->above_output != PRICE_UNSET ||
	     p->above_cache_read != PRICE_UNSET || p->above_cache_write != PRICE_UNSET))
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "line %zu: column threshold_tokens: above_* prices need a "
		                     "threshold above 0",
		                     lineno);
	if (p->threshold_tokens > 0 && p->above_input == PRICE_UNSET)
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "line %zu: column above_input: threshold_tokens is set, so "
		                     "above_input must be too",
		                     lineno);
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
	struct seen_set seen = {NULL, 0};
	bool header = false;
	size_t pos = 0, lineno = 0;
	int rc = -1;

	memset(out, 0, sizeof *out);
	if (!text)
		return tally_err_set(err, TALLY_EINVAL, false, "price import: no CSV text");
	if (!(fields = malloc(COL_N * sizeof *fields)))
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
		if (!header) {
			if (n != strlen(CSV_HEADER) || memcmp(line, CSV_HEADER, n) != 0) {
				tally_err_set(err, TALLY_EINVAL, false,
				              "line %zu: the header must be exactly %s", lineno,
				              CSV_HEADER);
				goto done;
			}
			header = true;
			continue;
		}
		if ((nf = csv_split(line, n, lineno, fields, err)) < 0)
			goto done;
		if (nf != COL_N) {
			tally_err_set(err, TALLY_EINVAL, false, "line %zu: %d columns, expected %d",
			              lineno, nf, COL_N);
			goto done;
		}
		if (csv_row(fields, lineno, effective_from_us, &p, &rounded, err) < 0)
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
	if (!header) {
		tally_err_set(err, TALLY_EINVAL, false, "no header line: expected %s", CSV_HEADER);
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
