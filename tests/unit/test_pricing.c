/* test_pricing.c - the price book, the pricer and the price list importers.
 *
 * Real prices: the LiteLLM map in data/litellm_model_prices.json is imported
 * once (run from the repository root: ./build/tests/test_pricing) and the
 * cases below price calls against it. Every expected cost is worked out by
 * hand in pico-USD (1e-12 USD) in the comment beside it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../ledger/ledger.h"
#include "../../ledger/ledger_int.h"

#define LITELLM_PATH   "data/litellm_model_prices.json"
#define LOCAL_CSV_PATH "data/local_prices.csv"
#define T0             INT64_C(1767225600000000) /* 2026-01-01T00:00:00Z */
#define U              PRICE_UNSET

static struct price_import litellm;
static struct pricebook *book;

static char *read_file(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!fp)
		return NULL;
	if (fseek(fp, 0, SEEK_END) == 0 && (n = ftell(fp)) >= 0 && fseek(fp, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, fp) == (size_t)n) {
		buf[n] = '\0';
		*len = (size_t)n;
	} else {
		free(buf);
		buf = NULL;
	}
	fclose(fp);
	return buf;
}

static int load_litellm(void **state)
{
	struct tally_err err = {0};
	size_t len = 0;
	char *json = read_file(LITELLM_PATH, &len);

	(void)state;
	if (!json) {
		fprintf(stderr, "cannot read %s: run the tests from the repository root\n",
		        LITELLM_PATH);
		return -1;
	}
	if (price_import_litellm(json, len, T0, &litellm, &err) < 0) {
		fprintf(stderr, "price_import_litellm: %s\n", err.msg);
		free(json);
		return -1;
	}
	free(json);
	if (!(book = pricebook_new()))
		return -1;
	for (size_t i = 0; i < litellm.n; i++)
		if (pricebook_add(book, &litellm.prices[i], &err) < 0)
			return -1;
	return 0;
}

static int free_litellm(void **state)
{
	(void)state;
	pricebook_free(book);
	price_import_cleanup(&litellm);
	return 0;
}

/* ---- the LiteLLM import -------------------------------------------------- */

static void test_litellm_counts(void **state)
{
	(void)state;
	/* 2,985 top-level entries: 2,850 priced, 135 skipped = 112 without any
	 * price tally applies (annotation, OCR pages, vector-store storage, DBU
	 * only...), 21 duplicate (provider, model) pairs ("deepseek/deepseek-chat"
	 * after "deepseek-chat" of provider deepseek, ...), "sample_spec" and
	 * "last_updated" (a string). 310 entries are priced only per unit (image,
	 * pixel, second, character: image, video, audio and speech models) and 35
	 * by tiered_pricing or per query/request. Rounded to whole pico-USD: 23
	 * databricks entries with binary-float noise (2.9999900000000002e-06)
	 * and 32 per-unit prices finer than a pico-dollar (per-pixel prices such
	 * as 1.59263611e-07 USD, a few per second). */
	assert_int_equal(litellm.n, 2850);
	assert_int_equal(litellm.skipped, 135);
	assert_int_equal(litellm.rounded, 55);
	assert_int_equal(litellm.n + litellm.skipped, 2985);
	assert_non_null(strstr(litellm.first_skip_reason, "sample_spec"));
	assert_int_equal(pricebook_count(book), 2850);
}

struct want_price {
	const char *provider, *model, *tier;
	int64_t input, output, cache_read, cache_write, reasoning, batch_input, batch_output;
	int64_t threshold, above_input, above_output, above_cache_read, above_cache_write;
};

static void test_litellm_prices(void **state)
{
	/* Per-token prices in pico-USD: 1.5e-07 USD = 150000. */
	static const struct want_price cases[] = {
	    /* gpt-4o-mini: 1.5e-07 in, 6e-07 out, 7.5e-08 cache read, batches half. */
	    {"openai", "gpt-4o-mini", "small", 150000, 600000, 75000, U, U, 75000, 300000, 0, U, U,
	     U, U},
	    {"azure", "gpt-4o-mini", "small", 165000, 660000, 75000, U, U, U, U, 0, U, U, U, U},
	    /* gemini-2.5-pro: 1.25e-06/1e-05, above 200k 2.5e-06/1.5e-05; the
	     * *_priority variants are ignored. */
	    {"gemini", "gemini-2.5-pro", "medium", 1250000, 10000000, 125000, U, U, U, U, 200000,
	     2500000, 15000000, 250000, U},
	    /* claude-sonnet-4-5 (key without '/', litellm_provider anthropic):
	     * cache write 3.75e-06, read 3e-07; *_above_1hr ignored. */
	    {"anthropic", "claude-sonnet-4-5", "medium", 3000000, 15000000, 300000, 3750000, U, U,
	     U, 200000, 6000000, 22500000, 600000, 7500000},
	    {"anthropic", "claude-opus-4-1", "large", 15000000, 75000000, 1500000, 18750000, U, U,
	     U, 0, U, U, U, U},
	    /* output_cost_per_reasoning_token 3e-06 below output 8e-06. */
	    {"perplexity", "sonar-deep-research", "medium", 2000000, 8000000, U, U, 3000000, U, U,
	     0, U, U, U, U},
	    {"dashscope", "qwen-turbo", "small", 50000, 200000, U, U, 500000, U, U, 0, U, U, U, U},
	    /* 2.9999900000000002e-06 and 1.5000020000000002e-05, rounded. */
	    {"databricks", "databricks-claude-3-7-sonnet", "medium", 2999990, 15000020, U, U, U, U,
	     U, 0, U, U, U, U},
	    {"ollama", "codellama", "local", 0, 0, U, U, U, U, U, 0, U, U, U, U},
	    /* "openrouter/anthropic/claude-opus-4.1" splits at the first '/'. */
	    {"openrouter", "anthropic/claude-opus-4.1", "large", 15000000, 75000000, 1500000,
	     18750000, U, U, U, 0, U, U, U, U},
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		const struct want_price *w = &cases[i];
		const struct price *p = pricebook_lookup(book, w->provider, w->model, T0);

		print_message("case %zu: %s/%s\n", i, w->provider, w->model);
		assert_non_null(p);
		assert_string_equal(p->provider, w->provider);
		assert_string_equal(p->model, w->model);
		if (w->tier)
			assert_string_equal(p->tier, w->tier);
		assert_int_equal(p->effective_from_us, T0);
		assert_int_equal(p->version, 0);
		assert_int_equal(p->input, w->input);
		assert_int_equal(p->output, w->output);
		assert_int_equal(p->cache_read, w->cache_read);
		assert_int_equal(p->cache_write, w->cache_write);
		assert_int_equal(p->reasoning, w->reasoning);
		assert_int_equal(p->batch_input, w->batch_input);
		assert_int_equal(p->batch_output, w->batch_output);
		assert_int_equal(p->threshold_tokens, w->threshold);
		assert_int_equal(p->above_input, w->above_input);
		assert_int_equal(p->above_output, w->above_output);
		assert_int_equal(p->above_cache_read, w->above_cache_read);
		assert_int_equal(p->above_cache_write, w->above_cache_write);
	}
}

/* ---- price_call against real prices -------------------------------------- */

struct call_case {
	const char *name, *provider, *model;
	int64_t input, output, cache_read, cache_write, reasoning;
	bool batch, cache_hit;
	int64_t want;
};

static void call_init(struct call_event *c)
{
	memset(c, 0, sizeof *c);
	c->latency_ms = -1;
}

static void test_price_call_real(void **state)
{
	static const struct call_case cases[] = {
	    /* 1000*150000 + 500*600000 */
	    {"plain", "openai", "gpt-4o-mini", 1000, 500, 0, 0, 0, false, false,
	     INT64_C(450000000)},
	    /* azure's own price: 1000*165000 + 500*660000 */
	    {"plain, other provider", "azure", "gpt-4o-mini", 1000, 500, 0, 0, 0, false, false,
	     INT64_C(495000000)},
	    /* uncached 2000*3000000 + read 6000*300000 + write 2000*3750000
	     * + out 1000*15000000 = 6e9 + 1.8e9 + 7.5e9 + 15e9 */
	    {"cache read+write", "anthropic", "claude-sonnet-4-5", 10000, 1000, 6000, 2000, 0,
	     false, false, INT64_C(30300000000)},
	    /* cache write unset on openai: charged at the input rate.
	     * uncached 500*150000 + read 300*75000 + write 200*150000 + out 0 */
	    {"cache write at input rate", "openai", "gpt-4o-mini", 1000, 0, 300, 200, 0, false,
	     false, INT64_C(127500000)},
	    /* 1000*75000 + 500*300000 */
	    {"batch", "openai", "gpt-4o-mini", 1000, 500, 0, 0, 0, true, false, INT64_C(225000000)},
	    /* listed batch input for the uncached part: 600*75000; the cache
	     * read has no batch price listed, so OpenAI's documented 50% batch
	     * discount applies to it: 400*75000/2; out 100*300000.
	     * 45e6 + 15e6 + 30e6 */
	    {"batch with cache read", "openai", "gpt-4o-mini", 1000, 100, 400, 0, 0, true, false,
	     INT64_C(90000000)},
	    /* no batch prices in the map: Anthropic's documented 50% batch
	     * discount (Message Batches API), (1000*3000000 + 100*15000000)/2 */
	    {"batch without batch prices", "anthropic", "claude-sonnet-4-5", 1000, 100, 0, 0, 0,
	     true, false, INT64_C(2250000000)},
	    /* 250000 > 200000: uncached 200000*2500000 + read 50000*250000
	     * + out 2000*15000000 = 5e11 + 1.25e10 + 3e10 */
	    {"long context", "gemini", "gemini-2.5-pro", 250000, 2000, 50000, 0, 0, false, false,
	     INT64_C(542500000000)},
	    /* exactly at the threshold: normal rates. 200000*1250000 +
	     * 2000*10000000 */
	    {"at threshold", "gemini", "gemini-2.5-pro", 200000, 2000, 0, 0, 0, false, false,
	     INT64_C(270000000000)},
	    /* 200001*2500000 + 1*15000000 */
	    {"one over threshold", "gemini", "gemini-2.5-pro", 200001, 1, 0, 0, 0, false, false,
	     INT64_C(500017500000)},
	    /* above 200k: uncached 200000*6000000 + write 100000*7500000
	     * + out 1000*22500000 = 1.2e12 + 7.5e11 + 2.25e10 */
	    {"long context cache write", "anthropic", "claude-sonnet-4-5", 300000, 1000, 0, 100000,
	     0, false, false, INT64_C(1972500000000)},
	    /* 1000*2000000 + (3000-2000)*8000000 + 2000*3000000 */
	    {"reasoning", "perplexity", "sonar-deep-research", 1000, 3000, 0, 0, 2000, false, false,
	     INT64_C(16000000000)},
	    /* no reasoning price: all output at the output rate,
	     * 100*150000 + 300*600000 */
	    {"reasoning without price", "openai", "gpt-4o-mini", 100, 300, 0, 0, 200, false, false,
	     INT64_C(195000000)},
	    {"cache hit", "anthropic", "claude-sonnet-4-5", 500000, 90000, 0, 0, 0, false, true, 0},
	    /* rounded prices: 1e6*2999990 + 1e6*15000020 */
	    {"rounded price", "databricks", "databricks-claude-3-7-sonnet", 1000000, 1000000, 0, 0,
	     0, false, false, INT64_C(18000010000000)},
	    {"local model", "ollama", "codellama", 100000, 100000, 0, 0, 0, false, false, 0},
	    /* unique model name under another provider: dashscope's price,
	     * 1000*50000 + 1000*200000 */
	    {"model-name fallback", "openai_compatible", "qwen-turbo", 1000, 1000, 0, 0, 0, false,
	     false, INT64_C(250000000)},
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		const struct call_case *k = &cases[i];
		const struct price *p = pricebook_lookup(book, k->provider, k->model, T0 + 1);
		struct call_event c;
		struct tally_err err = {0};
		int64_t cost = -7;

		print_message("case %zu: %s\n", i, k->name);
		assert_non_null(p);
		call_init(&c);
		c.input_tokens = k->input;
		c.output_tokens = k->output;
		c.cache_read_tokens = k->cache_read;
		c.cache_write_tokens = k->cache_write;
		c.reasoning_tokens = k->reasoning;
		c.batch = k->batch;
		c.cache_hit = k->cache_hit;
		assert_int_equal(price_call(p, &c, &cost, &err), 0);
		assert_int_equal(err.code, TALLY_OK);
		assert_int_equal(cost, k->want);
	}
}

static void test_lookup_real(void **state)
{
	const struct price *p;

	(void)state;
	/* Unknown model. */
	assert_null(pricebook_lookup(book, "openai", "gpt-9-imaginary", T0));
	assert_null(pricebook_lookup(book, NULL, "gpt-9-imaginary", T0));
	/* gpt-4o-mini is listed by openai and azure: ambiguous without them. */
	assert_null(pricebook_lookup(book, "litellm_proxy", "gpt-4o-mini", T0));
	assert_null(pricebook_lookup(book, "", "gpt-4o-mini", T0));
	assert_null(pricebook_lookup(book, NULL, "gpt-4o-mini", T0));
	/* Four providers list claude-sonnet-4-5. */
	assert_null(pricebook_lookup(book, "bedrock", "claude-sonnet-4-5", T0));
	/* Exact names win. */
	p = pricebook_lookup(book, "azure", "gpt-4o-mini", T0);
	assert_non_null(p);
	assert_string_equal(p->provider, "azure");
	/* A unique model name without a provider. */
	p = pricebook_lookup(book, NULL, "sonar-deep-research", T0);
	assert_non_null(p);
	assert_string_equal(p->provider, "perplexity");
	/* Before the list took effect nothing is in force. */
	assert_null(pricebook_lookup(book, "openai", "gpt-4o-mini", T0 - 1));
	assert_null(pricebook_lookup(book, NULL, "sonar-deep-research", T0 - 1));
	assert_null(pricebook_lookup(book, "openai", "", T0));
	assert_null(pricebook_lookup(book, "openai", NULL, T0));
}

/* ---- synthetic books ----------------------------------------------------- */

static void price_init(struct price *p, const char *provider, const char *model, int64_t from_us,
                       int64_t input, int64_t output)
{
	memset(p, 0, sizeof *p);
	str_copy(p->provider, sizeof p->provider, provider);
	str_copy(p->model, sizeof p->model, model);
	p->effective_from_us = from_us;
	for (int v = 0; v < PV_COUNT; v++)
		for (int k = 0; k < PC_COUNT; k++)
			p->rate[v][k] = U;
	p->input = input;
	p->output = output;
}

static void test_effective_dating(void **state)
{
	const int64_t t1 = T0, t2 = T0 + INT64_C(86400000000), t3 = t2 + 5;
	struct pricebook *pb = pricebook_new();
	struct price p;
	struct tally_err err = {0};
	const struct price *got;
	struct call_event c;
	int64_t cost = 0;
	static const struct {
		int64_t ts;
		int64_t want_input; /* -2: nothing in force */
	} at[] = {
	    {T0 - 1, -2},
	    {T0, 100},
	    {T0 + 1, 100},
	    {T0 + INT64_C(86400000000) - 1, 100},
	    {T0 + INT64_C(86400000000), 200},
	    {T0 + INT64_C(86400000000) + 4, 200},
	    {T0 + INT64_C(86400000000) + 5, 300},
	    {INT64_MAX, 300},
	};

	(void)state;
	assert_non_null(pb);
	/* Added out of order: the book sorts by effective_from. */
	price_init(&p, "acme", "m1", t2, 200, 2000);
	p.version = 2;
	assert_int_equal(pricebook_add(pb, &p, &err), 0);
	price_init(&p, "acme", "m1", t3, 300, 3000);
	p.version = 3;
	assert_int_equal(pricebook_add(pb, &p, &err), 0);
	price_init(&p, "acme", "m1", t1, 100, 1000);
	p.version = 1;
	assert_int_equal(pricebook_add(pb, &p, &err), 0);
	assert_int_equal(pricebook_count(pb), 3);
	for (size_t i = 0; i < sizeof at / sizeof *at; i++) {
		print_message("case %zu\n", i);
		for (int by_name = 0; by_name < 2; by_name++) {
			got = pricebook_lookup(pb, by_name ? "other" : "acme", "m1", at[i].ts);
			if (at[i].want_input == -2) {
				assert_null(got);
				continue;
			}
			assert_non_null(got);
			assert_int_equal(got->input, at[i].want_input);
			assert_int_equal(got->version, at[i].want_input / 100);
		}
	}
	/* The same call costs what the price in force said: 10*100+1*1000 in
	 * version 1, 10*200+1*2000 in version 2. */
	call_init(&c);
	c.input_tokens = 10;
	c.output_tokens = 1;
	assert_int_equal(price_call(pricebook_lookup(pb, "acme", "m1", t1), &c, &cost, &err), 0);
	assert_int_equal(cost, 2000);
	assert_int_equal(price_call(pricebook_lookup(pb, "acme", "m1", t2), &c, &cost, &err), 0);
	assert_int_equal(cost, 4000);
	/* Same effective_from twice: the one added last wins. */
	price_init(&p, "acme", "m1", t2, 250, 2500);
	assert_int_equal(pricebook_add(pb, &p, &err), 0);
	assert_int_equal(pricebook_lookup(pb, "acme", "m1", t2)->input, 250);
	/* A second provider for the name makes the bare name ambiguous, and
	 * exact names still resolve. */
	price_init(&p, "globex", "m1", t1, 7, 7);
	assert_int_equal(pricebook_add(pb, &p, &err), 0);
	assert_null(pricebook_lookup(pb, "other", "m1", t3));
	assert_int_equal(pricebook_lookup(pb, "globex", "m1", t3)->input, 7);
	assert_int_equal(pricebook_lookup(pb, "acme", "m1", t3)->input, 300);
	assert_int_equal(err.code, TALLY_OK);
	pricebook_free(pb);
	pricebook_free(NULL);
	assert_int_equal(pricebook_count(NULL), 0);
}

static void test_many_models(void **state)
{
	struct pricebook *pb = pricebook_new();
	struct tally_err err = {0};
	struct price p;
	char name[32];

	(void)state;
	/* Enough keys to make both tables grow several times. */
	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof name, "model-%d", i);
		price_init(&p, i % 2 ? "odd" : "even", name, T0, i, i);
		assert_int_equal(pricebook_add(pb, &p, &err), 0);
	}
	for (int i = 0; i < 5000; i++) {
		snprintf(name, sizeof name, "model-%d", i);
		const struct price *got = pricebook_lookup(pb, NULL, name, T0);
		assert_non_null(got);
		assert_int_equal(got->input, i);
	}
	assert_int_equal(pricebook_count(pb), 5000);
	price_init(&p, "x", "", T0, 1, 1);
	assert_int_equal(pricebook_add(pb, &p, &err), -1);
	assert_int_equal(err.code, TALLY_EINVAL);
	pricebook_free(pb);
}

static void test_price_call_errors(void **state)
{
	struct price p;
	struct call_event c;
	struct tally_err err;
	int64_t cost = 42;
	static const struct {
		const char *name;
		int64_t input_rate, output_rate, input, output, cache_read, reasoning;
		int code;
	} cases[] = {
	    /* 1e9 tokens * 1e10 pico-USD = 1e19 > INT64_MAX */
	    {"product overflows", INT64_C(10000000000), 0, INT64_C(1000000000), 0, 0, 0,
	     TALLY_ERANGE},
	    /* each part 5e18, the sum 1e19 */
	    {"sum overflows", INT64_C(5000000000), INT64_C(5000000000), INT64_C(1000000000),
	     INT64_C(1000000000), 0, 0, TALLY_ERANGE},
	    {"cache beyond input", 1, 1, 10, 0, 11, 0, TALLY_EINVAL},
	    {"reasoning beyond output", 1, 1, 10, 5, 0, 6, TALLY_EINVAL},
	    {"negative tokens", 1, 1, -1, 0, 0, 0, TALLY_EINVAL},
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		print_message("case %zu: %s\n", i, cases[i].name);
		price_init(&p, "acme", "big", T0, cases[i].input_rate, cases[i].output_rate);
		call_init(&c);
		c.input_tokens = cases[i].input;
		c.output_tokens = cases[i].output;
		c.cache_read_tokens = cases[i].cache_read;
		c.reasoning_tokens = cases[i].reasoning;
		tally_err_clear(&err);
		cost = 42;
		assert_int_equal(price_call(&p, &c, &cost, &err), -1);
		assert_int_equal(err.code, cases[i].code);
		assert_true(err.msg[0] != '\0');
		assert_int_equal(cost, 42);
	}
	/* Just below the limit is fine: 922337203 * 1e10 = 9.22337203e18. */
	price_init(&p, "acme", "big", T0, INT64_C(10000000000), 0);
	call_init(&c);
	c.input_tokens = 922337203;
	tally_err_clear(&err);
	assert_int_equal(price_call(&p, &c, &cost, &err), 0);
	assert_int_equal(cost, INT64_C(9223372030000000000));
	/* Unset input and output rates: the call needs a rate the book lacks,
	 * so it is flagged (stored unpriced), never priced at 0. */
	price_init(&p, "acme", "free", T0, U, U);
	c.output_tokens = 5;
	cost = 42;
	tally_err_clear(&err);
	assert_int_equal(price_call(&p, &c, &cost, &err), -1);
	assert_int_equal(err.code, TALLY_ENOPRICE);
	assert_non_null(strstr(err.msg, "acme/free has no input price"));
	assert_int_equal(cost, 42);
}

static void test_price_rules_synthetic(void **state)
{
	struct price p;
	struct call_event c;
	struct tally_err err = {0};
	int64_t cost = 0;

	(void)state;
	/* Long-context rates where only above_input is set: the others fall
	 * back to their normal rates, cache read to the normal input rate.
	 * 150 > 100: uncached 100*20 + read 50*10 + out 10*3 = 2530 */
	price_init(&p, "acme", "lc", T0, 10, 3);
	p.threshold_tokens = 100;
	p.above_input = 20;
	call_init(&c);
	c.input_tokens = 150;
	c.cache_read_tokens = 50;
	c.output_tokens = 10;
	assert_int_equal(price_call(&p, &c, &cost, &err), 0);
	assert_int_equal(cost, 2530);
	/* A threshold without above_input changes nothing: 100*10 + 50*10 + 30 */
	p.above_input = U;
	p.above_output = 99;
	assert_int_equal(price_call(&p, &c, &cost, &err), 0);
	assert_int_equal(cost, 1530);
	/* Batch wins over long context, batch output falls back to output:
	 * 100*4 + read 50*10 + 10*3 = 930 */
	p.above_input = 20;
	p.batch_input = 4;
	c.batch = true;
	assert_int_equal(price_call(&p, &c, &cost, &err), 0);
	assert_int_equal(cost, 930);
	/* Reasoning price with batch: reasoning at its own rate, the rest of
	 * the output at the batch output rate: 100*4 + 50*10 + 6*2 + 4*7 = 940 */
	p.batch_output = 2;
	p.reasoning = 7;
	c.reasoning_tokens = 4;
	assert_int_equal(price_call(&p, &c, &cost, &err), 0);
	assert_int_equal(cost, 940);
}

/* ---- every component and provider rule, from documented payloads -------- */

/* One call as a gateway forwards it: the provider's usage object untouched
 * (the examples of each provider's documentation), the optional pricing
 * fields, and the cost worked out by hand from the map's prices (pico-USD per
 * token = USD per token x 1e12). */
struct rule_case {
	const char *name, *provider, *model;
	const char *extra; /* more top-level fields, "" or starting with ',' */
	const char *usage;
	int64_t want;     /* -1: flagged (stored unpriced) */
	const char *flag; /* a part of the reason when flagged */
	int comp;         /* one component to check, -1 none */
	int64_t comp_cost;
};

static const struct rule_case rule_cases[] = {
    /* Anthropic prompt caching, "mixing TTLs": 248 written, 100 of them for
     * 1 hour. claude-sonnet-4-5: input 3e-6, read 3e-7, 5m write 3.75e-6,
     * 1h write 6e-6 (2x input), output 1.5e-5.
     * 2048*3e6 + 1800*3e5 + 148*3.75e6 + 100*6e6 + 503*1.5e7
     * = 6144000000 + 540000000 + 555000000 + 600000000 + 7545000000 */
    {"anthropic 1h cache write", "anthropic", "claude-sonnet-4-5", "",
     "{\"input_tokens\":2048,\"cache_read_input_tokens\":1800,\"cache_creation_input_tokens\":248,"
     "\"output_tokens\":503,\"cache_creation\":{\"ephemeral_1h_input_tokens\":100,"
     "\"ephemeral_5m_input_tokens\":148}}",
     INT64_C(15384000000), NULL, PC_CACHE_WRITE_1H, INT64_C(600000000)},
    /* 210000 input > 200k: the whole request at the long-context rates,
     * 1h writes at cache_creation_input_token_cost_above_1hr_above_200k_tokens
     * 1.2e-5: 150000*6e6 + 60000*1.2e7 + 1000*2.25e7 */
    {"anthropic 1h cache write above 200k", "anthropic", "claude-sonnet-4-5", "",
     "{\"input_tokens\":150000,\"cache_creation_input_tokens\":60000,"
     "\"cache_read_input_tokens\":0,\"output_tokens\":1000,\"cache_creation\":"
     "{\"ephemeral_5m_input_tokens\":0,\"ephemeral_1h_input_tokens\":60000}}",
     INT64_C(1642500000000), NULL, PC_CACHE_WRITE_1H, INT64_C(720000000000)},
    /* Anthropic web search tool docs: one search at $10 per 1000.
     * 105*3e6 + 7123*3e5 + 7345*3.75e6 + 6039*1.5e7 + 1*1e10 */
    {"anthropic web search", "anthropic", "claude-sonnet-4-5", "",
     "{\"input_tokens\":105,\"output_tokens\":6039,\"cache_read_input_tokens\":7123,"
     "\"cache_creation_input_tokens\":7345,\"server_tool_use\":{\"web_search_requests\":1}}",
     INT64_C(130580650000), NULL, PC_WEB_SEARCH, INT64_C(10000000000)},
    /* Anthropic usage with output_tokens_details is still Anthropic's:
     * 1000*3e6 + 500*3e5 + 100*1.5e7 */
    {"anthropic with output_tokens_details", "anthropic", "claude-sonnet-4-5", "",
     "{\"input_tokens\":1000,\"cache_read_input_tokens\":500,\"cache_creation_input_tokens\":0,"
     "\"output_tokens\":100,\"output_tokens_details\":{\"reasoning_tokens\":0}}",
     INT64_C(4650000000), NULL, PC_CACHE_READ, INT64_C(150000000)},
    /* Anthropic Priority Tier has no list price in the map: flagged. */
    {"anthropic priority tier flagged", "anthropic", "claude-sonnet-4-5", "",
     "{\"input_tokens\":10,\"output_tokens\":10,\"cache_read_input_tokens\":0,"
     "\"cache_creation_input_tokens\":0,\"service_tier\":\"priority\"}",
     -1, "no priority input price", -1, 0},
    /* inference_geo "us": provider_specific_entry us 1.1 on every token.
     * claude-opus-4-6 input 5e-6, output 2.5e-5: (5e9 + 2.5e9) * 1.1 */
    {"anthropic inference_geo us", "anthropic", "claude-opus-4-6", "",
     "{\"input_tokens\":1000,\"output_tokens\":100,\"cache_read_input_tokens\":0,"
     "\"cache_creation_input_tokens\":0,\"inference_geo\":\"us\"}",
     INT64_C(8250000000), NULL, PC_OUTPUT, INT64_C(2750000000)},
    /* fast mode: provider_specific_entry fast 6.0: 7.5e9 * 6 */
    {"anthropic fast mode", "anthropic", "claude-opus-4-6", ",\"speed\":\"fast\"",
     "{\"input_tokens\":1000,\"output_tokens\":100,\"cache_read_input_tokens\":0,"
     "\"cache_creation_input_tokens\":0}",
     INT64_C(45000000000), NULL, PC_INPUT, INT64_C(30000000000)},
    {"fast mode without a multiplier flagged", "anthropic", "claude-sonnet-4-5",
     ",\"speed\":\"fast\"",
     "{\"input_tokens\":1000,\"output_tokens\":100,\"cache_read_input_tokens\":0}", -1, "speed", -1,
     0},
    /* OpenAI audio chat (gpt-4o-audio-preview, audio guide): 77 of 97
     * completion tokens are audio. input 2.5e-6, output 1e-5, audio output
     * 8e-5: 17*2.5e6 + 20*1e7 + 77*8e7 */
    {"openai audio output", "openai", "gpt-4o-audio-preview", "",
     "{\"prompt_tokens\":17,\"completion_tokens\":97,\"total_tokens\":114,"
     "\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},"
     "\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":77,"
     "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}",
     INT64_C(6402500000), NULL, PC_AUDIO_OUTPUT, INT64_C(6160000000)},
    /* Realtime response.done usage (API reference). gpt-realtime: text in
     * 4e-6, cached 4e-7, audio in 3.2e-5, text out 1.6e-5, audio out 6.4e-5:
     * (132-64-13)*4e6 + 64*4e5 + 13*3.2e7 + 30*1.6e7 + 91*6.4e7 */
    {"openai realtime", "openai", "gpt-realtime", "",
     "{\"total_tokens\":253,\"input_tokens\":132,\"output_tokens\":121,"
     "\"input_token_details\":{\"text_tokens\":119,\"audio_tokens\":13,\"cached_tokens\":64,"
     "\"cached_tokens_details\":{\"text_tokens\":64,\"audio_tokens\":0}},"
     "\"output_token_details\":{\"text_tokens\":30,\"audio_tokens\":91}}",
     INT64_C(6965600000), NULL, PC_AUDIO_INPUT, INT64_C(416000000)},
    /* Realtime with cached audio: 20 of the 64 cached are audio, at
     * LiteLLM's cache_creation_input_audio_token_cost 4e-7:
     * 55*4e6 + 44*4e5 + 20*4e5 + 13*3.2e7 + 30*1.6e7 + 91*6.4e7 */
    {"openai realtime cached audio", "openai", "gpt-realtime", "",
     "{\"total_tokens\":253,\"input_tokens\":132,\"output_tokens\":121,"
     "\"input_token_details\":{\"text_tokens\":99,\"audio_tokens\":33,\"cached_tokens\":64,"
     "\"cached_tokens_details\":{\"text_tokens\":44,\"audio_tokens\":20}},"
     "\"output_token_details\":{\"text_tokens\":30,\"audio_tokens\":91}}",
     INT64_C(6965600000), NULL, PC_AUDIO_CACHE_READ, INT64_C(8000000)},
    /* audio tokens on a model without an audio price: flagged, never text */
    {"audio without audio price flagged", "openai", "gpt-4o-mini", "",
     "{\"prompt_tokens\":100,\"completion_tokens\":10,"
     "\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":60}}",
     -1, "has no audio_input price", -1, 0},
    /* OpenAI cache writes (cache_write_tokens) at the listed write price.
     * gpt-5.6: input 5e-6, read 5e-7, write 6.25e-6, output 3e-5:
     * 500*5e6 + 1000*5e5 + 1500*6.25e6 + 100*3e7 */
    {"openai cache write", "openai", "gpt-5.6", "",
     "{\"prompt_tokens\":3000,\"completion_tokens\":100,"
     "\"prompt_tokens_details\":{\"cached_tokens\":1000,\"cache_write_tokens\":1500}}",
     INT64_C(15375000000), NULL, PC_CACHE_WRITE, INT64_C(9375000000)},
    /* service_tier flex (Responses). gpt-5 flex: input 6.25e-7, read
     * 6.25e-8, output 5e-6 (reasoning as output): 800*625000 + 200*62500 +
     * 500*5e6 */
    {"openai flex", "openai", "gpt-5", ",\"service_tier\":\"flex\"",
     "{\"input_tokens\":1000,\"input_tokens_details\":{\"cached_tokens\":200},"
     "\"output_tokens\":500,\"output_tokens_details\":{\"reasoning_tokens\":300}}",
     INT64_C(3012500000), NULL, PC_REASONING, INT64_C(1500000000)},
    /* priority: 2.5e-6, 2.5e-7, 2e-5: 800*2.5e6 + 200*2.5e5 + 500*2e7 */
    {"openai priority", "openai", "gpt-5", ",\"service_tier\":\"priority\"",
     "{\"input_tokens\":1000,\"input_tokens_details\":{\"cached_tokens\":200},"
     "\"output_tokens\":500,\"output_tokens_details\":{\"reasoning_tokens\":300}}",
     INT64_C(12050000000), NULL, PC_INPUT, INT64_C(2000000000)},
    {"unknown service tier flagged", "openai", "gpt-5", ",\"service_tier\":\"turbo\"",
     "{\"input_tokens\":10,\"output_tokens\":1}", -1, "service_tier \"turbo\"", -1, 0},
    /* search-preview models search on every request, medium context
     * $0.0275: 10*1.5e5 + 100*6e5 + 2.75e10 */
    {"openai search preview", "openai", "gpt-4o-mini-search-preview", "",
     "{\"prompt_tokens\":10,\"completion_tokens\":100}", INT64_C(27561500000), NULL, PC_WEB_SEARCH,
     INT64_C(27500000000)},
    /* data residency eu: regional_processing_uplift_multiplier_eu 1.1:
     * (1000*5e6 + 100*3e7) * 1.1 */
    {"openai data residency eu", "openai", "gpt-5.6", ",\"data_residency\":\"eu\"",
     "{\"input_tokens\":1000,\"output_tokens\":100}", INT64_C(8800000000), NULL, PC_INPUT,
     INT64_C(5500000000)},
    /* batch below the threshold: the listed batch rates 2.5e-6, 1.5e-5 */
    {"openai batch", "openai", "gpt-5.6", ",\"batch\":true",
     "{\"input_tokens\":1000,\"output_tokens\":100}", INT64_C(4000000000), NULL, -1, 0},
    /* batch above 272k: OpenAI applies the long-context rates in batch too,
     * at the batch discount: 300000*1e7/2 + 1000*4.5e7/2 */
    {"openai batch and long context", "openai", "gpt-5.6", ",\"batch\":true",
     "{\"input_tokens\":300000,\"output_tokens\":1000}", INT64_C(1522500000000), NULL, PC_INPUT,
     INT64_C(1500000000000)},
    /* Gemini thinking example (thoughtsTokenCount beside the candidates)
     * with 2 grounded searches at $35/1000. gemini-2.5-flash: input 3e-7,
     * output and reasoning 2.5e-6: 12*3e5 + 466*2.5e6 + 862*2.5e6 + 2*3.5e10 */
    {"gemini thoughts and search", "gemini", "gemini-2.5-flash", ",\"tool_use\":{\"web_search\":2}",
     "{\"promptTokenCount\":12,\"candidatesTokenCount\":466,\"thoughtsTokenCount\":862,"
     "\"totalTokenCount\":1340}",
     INT64_C(73323600000), NULL, PC_REASONING, INT64_C(2155000000)},
    /* Gemini audio input by modality: 400*3e5 + 600*1e6 + 100*2.5e6 */
    {"gemini audio input", "gemini", "gemini-2.5-flash", "",
     "{\"promptTokenCount\":1000,\"candidatesTokenCount\":100,\"totalTokenCount\":1100,"
     "\"promptTokensDetails\":[{\"modality\":\"TEXT\",\"tokenCount\":400},"
     "{\"modality\":\"AUDIO\",\"tokenCount\":600}]}",
     INT64_C(970000000), NULL, PC_AUDIO_INPUT, INT64_C(600000000)},
    /* vertex_ai + gemini-2.5-pro: the map files it under
     * vertex_ai-language-models. 1000*1.25e6 + 100*1e7 */
    {"vertex alias", "vertex_ai", "gemini-2.5-pro", "",
     "{\"input_tokens\":1000,\"output_tokens\":100}", INT64_C(2250000000), NULL, -1, 0},
    /* Bedrock Converse (inputTokens leaves the cache out), batch at
     * Bedrock's documented 50%: (4*3e6 + 1020*3.75e6 + 315*1.5e7) / 2 */
    {"bedrock converse batch", "bedrock", "anthropic.claude-sonnet-4-5-20250929-v1:0",
     ",\"batch\":true",
     "{\"inputTokens\":4,\"outputTokens\":315,\"totalTokens\":1339,"
     "\"cacheReadInputTokens\":0,\"cacheWriteInputTokens\":1020}",
     INT64_C(4281000000), NULL, PC_CACHE_WRITE, INT64_C(1912500000)},
    /* DeepSeek context caching: 800 hit at 2.8e-8, 200 miss at 2.8e-7,
     * output 4.2e-7: 200*280000 + 800*28000 + 100*420000 */
    {"deepseek cache hit", "deepseek", "deepseek-chat", "",
     "{\"prompt_tokens\":1000,\"completion_tokens\":100,\"total_tokens\":1100,"
     "\"prompt_cache_hit_tokens\":800,\"prompt_cache_miss_tokens\":200}",
     INT64_C(120400000), NULL, PC_CACHE_READ, INT64_C(22400000)},
    /* DeepSeek has no batch price and documents no batch discount */
    {"deepseek batch flagged", "deepseek", "deepseek-chat", ",\"batch\":true",
     "{\"prompt_tokens\":10,\"completion_tokens\":1}", -1, "no batch input price", -1, 0},
    /* xAI reasoning beside the completion (total 32 + 9 + 94 = 135).
     * grok-4-fast-reasoning: input 2e-7, cached 5e-8, output 5e-7:
     * 26*2e5 + 6*5e4 + (9+94)*5e5 */
    {"xai reasoning beside completion", "xai", "grok-4-fast-reasoning", "",
     "{\"prompt_tokens\":32,\"completion_tokens\":9,\"total_tokens\":135,"
     "\"prompt_tokens_details\":{\"text_tokens\":32,\"audio_tokens\":0,\"image_tokens\":0,"
     "\"cached_tokens\":6},\"completion_tokens_details\":{\"reasoning_tokens\":94,"
     "\"audio_tokens\":0,\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0},"
     "\"num_sources_used\":0}",
     INT64_C(57000000), NULL, PC_REASONING, INT64_C(47000000)},
    /* Perplexity deep research: each kind of token at its own rate, the
     * searches at $5 per 1,000 (LiteLLM's search_context_cost_per_query,
     * 0.005 per query; Perplexity's usage.cost lists citation, reasoning and
     * search costs apart). The fields are those of the API's UsageInfo; the
     * counts are ours, not a documented response. sonar-deep-research: input
     * 2e-6, citation 2e-6,
     * output 8e-6, reasoning 3e-6:
     * 19*2e6 + 7143*2e6 + 4532*8e6 + 81340*3e6 + 18*5e9
     * = 38000000 + 14286000000 + 36256000000 + 244020000000 + 90000000000 */
    {"perplexity deep research", "perplexity", "sonar-deep-research", "",
     "{\"prompt_tokens\":19,\"completion_tokens\":4532,\"total_tokens\":4551,"
     "\"citation_tokens\":7143,\"num_search_queries\":18,\"reasoning_tokens\":81340}",
     INT64_C(384600000000), NULL, PC_CITATION, INT64_C(14286000000)},
    /* Gemini video output tokens (usageMetadata.candidatesTokensDetails,
     * modality VIDEO) at their own rate; the counts are ours. The map's
     * gemini-omni-flash-preview: input
     * 1.5e-6, output 9e-6, video output 1.75e-5:
     * 100*1.5e6 + 200*9e6 + 800*1.75e7 = 150000000 + 1800000000 + 14000000000 */
    {"gemini video output", "gemini", "gemini-omni-flash-preview", "",
     "{\"promptTokenCount\":100,\"candidatesTokenCount\":1000,\"totalTokenCount\":1100,"
     "\"candidatesTokensDetails\":[{\"modality\":\"TEXT\",\"tokenCount\":200},"
     "{\"modality\":\"VIDEO\",\"tokenCount\":800}]}",
     INT64_C(15950000000), NULL, PC_VIDEO_OUTPUT, INT64_C(14000000000)},
    /* ... and flagged where the price lists no video output rate (gemini-2.5-flash) */
    {"gemini video output unpriced", "gemini", "gemini-2.5-flash", "",
     "{\"promptTokenCount\":100,\"candidatesTokenCount\":1000,"
     "\"candidatesTokensDetails\":[{\"modality\":\"VIDEO\",\"tokenCount\":800}]}",
     -1, "video_output", -1, 0},
    /* xAI charges the higher rates from the threshold itself: 128000 input
     * is above. 128000*4e5 + 10*1e6 */
    {"xai at threshold", "xai", "grok-4-fast-reasoning", "",
     "{\"input_tokens\":128000,\"output_tokens\":10}", INT64_C(51210000000), NULL, -1, 0},
    /* one below: 127999*2e5 + 10*5e5 */
    {"xai below threshold", "xai", "grok-4-fast-reasoning", "",
     "{\"input_tokens\":127999,\"output_tokens\":10}", INT64_C(25604800000), NULL, -1, 0},
    /* Dashscope tiered_pricing: 0 < tokens <= 256K is the first tier.
     * qwen-plus-2025-07-28: 256000*4e5 + 600*1.2e6 + 400*4e6 */
    {"dashscope tier 1 at boundary", "dashscope", "qwen-plus-2025-07-28", "",
     "{\"input_tokens\":256000,\"output_tokens\":1000,\"reasoning_tokens\":400}",
     INT64_C(104720000000), NULL, -1, 0},
    /* 256001: second tier 1.2e-6, 3.6e-6, reasoning 1.2e-5 */
    {"dashscope tier 2", "dashscope", "qwen-plus-2025-07-28", "",
     "{\"input_tokens\":256001,\"output_tokens\":1000,\"reasoning_tokens\":400}",
     INT64_C(314161200000), NULL, -1, 0},
    /* four tiers: 200000 is in [128K, 256K]: 8e-7, cached 2e-7, out 4e-6:
     * 150000*8e5 + 50000*2e5 + 1000*4e6 */
    {"dashscope third of four tiers", "dashscope", "qwen3-coder-flash", "",
     "{\"input_tokens\":200000,\"cache_read_tokens\":50000,\"output_tokens\":1000}",
     INT64_C(134000000000), NULL, PC_CACHE_READ, INT64_C(10000000000)},
    /* Threshold boundaries, OpenAI and Anthropic: at the threshold the
     * normal rates, one token more and the whole request moves up.
     * gpt-5.6 at 272000: 272000*5e6 + 10*3e7 */
    {"openai at 272k", "openai", "gpt-5.6", "", "{\"input_tokens\":272000,\"output_tokens\":10}",
     INT64_C(1360300000000), NULL, -1, 0},
    /* 272001*1e7 + 10*4.5e7 */
    {"openai above 272k", "openai", "gpt-5.6", "", "{\"input_tokens\":272001,\"output_tokens\":10}",
     INT64_C(2720460000000), NULL, -1, 0},
    /* claude-sonnet-4-5 at 200000: 200000*3e6 + 10*1.5e7 */
    {"anthropic at 200k", "anthropic", "claude-sonnet-4-5", "",
     "{\"input_tokens\":200000,\"output_tokens\":10}", INT64_C(600150000000), NULL, -1, 0},
    /* 200001*6e6 + 10*2.25e7 */
    {"anthropic above 200k", "anthropic", "claude-sonnet-4-5", "",
     "{\"input_tokens\":200001,\"output_tokens\":10}", INT64_C(1200231000000), NULL, -1, 0},
    /* a per-request fee: pplx-70b-online $0.005 per request, input free:
     * 100*0 + 100*2.8e6 + 5e9 */
    {"per-request fee", "perplexity", "pplx-70b-online", "",
     "{\"input_tokens\":100,\"output_tokens\":100}", INT64_C(5280000000), NULL, PC_REQUEST,
     INT64_C(5000000000)},

    /* ---- per-unit components (docs/prices.md, "Per-unit components") ---- */
    /* OpenAI transcription billed by duration (openai-python's UsageDuration,
     * seconds a float): 9.3 s is 10 whole seconds. whisper-1
     * input_cost_per_second 0.0001 = 1e8: 10*1e8 */
    {"openai duration usage", "openai", "whisper-1", "", "{\"type\":\"duration\",\"seconds\":9.3}",
     INT64_C(1000000000), NULL, PC_INPUT_SECONDS, INT64_C(1000000000)},
    /* Text to speech per character: tts-1 1.5e-05 per character.
     * 45*1.5e7 */
    {"per character input", "openai", "tts-1", ",\"units\":{\"input_chars\":45}",
     "{\"input_tokens\":0,\"output_tokens\":0}", INT64_C(675000000), NULL, PC_INPUT_CHARS,
     INT64_C(675000000)},
    /* Vertex MedLM per character in and out: 5e-06 and 1.5e-05.
     * 1000*5e6 + 400*1.5e7 */
    {"per character in and out", "vertex_ai", "medlm-large",
     ",\"units\":{\"input_chars\":1000,\"output_chars\":400}",
     "{\"input_tokens\":0,\"output_tokens\":0}", INT64_C(11000000000), NULL, PC_OUTPUT_CHARS,
     INT64_C(6000000000)},
    /* LiteLLM files DALL-E 3's $0.040 per standard 1024x1024 image under
     * input_cost_per_image: one image, 4e10 */
    {"per image (dall-e-3)", "openai", "dall-e-3", ",\"units\":{\"input_images\":1}",
     "{\"input_tokens\":0,\"output_tokens\":0}", INT64_C(40000000000), NULL, PC_INPUT_IMAGES,
     INT64_C(40000000000)},
    /* By size and quality: the map's hd/1024-x-1792/dall-e-3 entry prices
     * 6.539e-08 per pixel; one 1024x1792 image = 1835008 pixels.
     * 1835008*65390 = 119991173120 (LiteLLM's per-pixel figure, $0.11999,
     * for OpenAI's $0.12) */
    {"per pixel (hd 1024x1792)", "openai", "hd/1024-x-1792/dall-e-3",
     ",\"units\":{\"input_pixels\":1835008}", "{\"input_tokens\":0,\"output_tokens\":0}",
     INT64_C(119991173120), NULL, PC_INPUT_PIXELS, INT64_C(119991173120)},
    /* Gemini 3 Pro Image: $0.134 per output image when the usage does not
     * count its image tokens. 20*2e6 + 1*1.34e11 */
    {"per output image", "gemini", "gemini-3-pro-image-preview", ",\"units\":{\"output_images\":1}",
     "{\"input_tokens\":20,\"output_tokens\":0}", INT64_C(134040000000), NULL, PC_OUTPUT_IMAGES,
     INT64_C(134000000000)},
    /* ... in batch: the listed batch input rate (1e-06) and the Gemini API's
     * documented 50% on the image ($0.067): 20*1e6 + 1.34e11/2 */
    {"per output image, batch", "gemini", "gemini-3-pro-image-preview",
     ",\"batch\":true,\"units\":{\"output_images\":1}", "{\"input_tokens\":20,\"output_tokens\":0}",
     INT64_C(67020000000), NULL, PC_OUTPUT_IMAGES, INT64_C(67000000000)},
    /* Sora 2 video: $0.10 per second of video generated; 8 s = 8*1e11 */
    {"per video second out", "openai", "sora-2", ",\"units\":{\"video_output_seconds\":8}",
     "{\"input_tokens\":0,\"output_tokens\":0}", INT64_C(800000000000), NULL,
     PC_VIDEO_OUTPUT_SECONDS, INT64_C(800000000000)},
    /* Nova 2 multimodal embeddings: tokens 1.35e-07, images 6e-05, video
     * 7e-04 and audio 1.4e-04 per second.
     * 100*135000 + 2*6e7 + 10*7e8 + 30*1.4e8
     * = 13500000 + 120000000 + 7000000000 + 4200000000 */
    {"per image and media seconds in", "bedrock", "amazon.nova-2-multimodal-embeddings-v1:0",
     ",\"units\":{\"input_images\":2,\"video_input_seconds\":10,"
     "\"audio_input_seconds\":30}",
     "{\"input_tokens\":100,\"output_tokens\":0}", INT64_C(11333500000), NULL,
     PC_AUDIO_INPUT_SECONDS, INT64_C(4200000000)},
    /* xAI Live Search, docs.x.ai live-search guide: $25 per 1,000 sources,
     * the count in usage.num_sources_used. grok-3 3e-06 in, 1.5e-05 out:
     * 199*3e6 + 1*1.5e7 + 3*2.5e10 */
    {"xai live search sources", "xai", "grok-3", "",
     "{\"prompt_tokens\":199,\"completion_tokens\":1,\"total_tokens\":200,"
     "\"prompt_tokens_details\":{\"text_tokens\":199,\"audio_tokens\":0,\"image_tokens\":0,"
     "\"cached_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":0},"
     "\"num_sources_used\":3}",
     INT64_C(75612000000), NULL, PC_LIVE_SEARCH, INT64_C(75000000000)},
    /* OpenAI Responses: every web_search_call output item is a search
     * (search_context_cost_per_query medium $0.0275 for gpt-4o-mini), the
     * usage from openai-python's Responses fixture:
     * 136*1.5e5 + 4864*7.5e4 + 40*6e5 + 2*2.75e10 */
    {"responses web_search_call items", "openai", "gpt-4o-mini-2024-07-18",
     ",\"output\":[{\"type\":\"web_search_call\",\"id\":\"ws_67c9fa0502748190\","
     "\"status\":\"completed\",\"action\":{\"type\":\"search\",\"query\":\"news\"}},"
     "{\"type\":\"web_search_call\",\"id\":\"ws_67c9fa0502748191\",\"status\":"
     "\"completed\"},{\"type\":\"message\",\"id\":\"msg_1\",\"role\":\"assistant\","
     "\"content\":[]}]",
     "{\"input_tokens\":5000,\"input_tokens_details\":{\"cached_tokens\":4864},"
     "\"output_tokens\":40,\"output_tokens_details\":{\"reasoning_tokens\":0},"
     "\"total_tokens\":5040}",
     INT64_C(55409200000), NULL, PC_WEB_SEARCH, INT64_C(55000000000)},
    /* Dashscope batch: Model Studio's batch inference at 50% of real time.
     * qwen-turbo 5e-08 in, 2e-07 out: (1000*5e4 + 100*2e5) / 2 */
    {"dashscope batch half", "dashscope", "qwen-turbo", ",\"batch\":true",
     "{\"input_tokens\":1000,\"output_tokens\":100}", INT64_C(35000000), NULL, PC_OUTPUT,
     INT64_C(10000000)},
    /* A component the price lacks is flagged, never priced at $0. */
    {"images on a model without a per-image price", "openai", "gpt-4o-mini",
     ",\"units\":{\"input_images\":2}", "{\"input_tokens\":10,\"output_tokens\":1}", -1,
     "has no input_images price for 2 images", -1, 0},
    {"web_search_call on a model without a search price", "openai", "gpt-4o",
     ",\"output\":[{\"type\":\"web_search_call\",\"id\":\"ws_1\",\"status\":"
     "\"completed\"}]",
     "{\"input_tokens\":10,\"input_tokens_details\":{\"cached_tokens\":0},"
     "\"output_tokens\":1}",
     -1, "has no web_search price for 1 queries", -1, 0},
    {"seconds on a per-token model", "openai", "gpt-4o", "",
     "{\"type\":\"duration\",\"seconds\":1}", -1, "has no input_seconds price for 1 seconds", -1,
     0},
};

static void test_provider_rules(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof rule_cases / sizeof *rule_cases; i++) {
		const struct rule_case *k = &rule_cases[i];
		char json[2048];
		struct event ev;
		struct tally_err err = {0};
		struct call_price cp;
		const struct price *p;
		int64_t sum = 0;
		int rc;

		print_message("case %zu: %s\n", i, k->name);
		snprintf(
		    json, sizeof json,
		    "{\"event_id\":\"e\",\"ts\":\"2026-06-01T00:00:00Z\",\"team\":\"t\","
		    "\"workflow\":\"w\",\"task_type\":\"k\",\"provider\":\"%s\",\"model\":\"%s\"%s,"
		    "\"usage\":%s}",
		    k->provider, k->model, k->extra, k->usage);
		if (event_parse(json, strlen(json), EVENT_CALL, &ev, &err) < 0)
			print_error("  parse: %s\n", err.msg);
		assert_int_equal(err.code, TALLY_OK);
		p = pricebook_lookup(book, k->provider, k->model, ev.u.call.ts_us);
		assert_non_null(p);
		rc = price_call_parts(p, &ev.u.call, &cp, &err);
		if (k->want < 0) {
			print_message("  flagged: %s\n", err.msg);
			assert_int_equal(rc, -1);
			assert_int_equal(err.code, TALLY_ENOPRICE);
			assert_non_null(strstr(err.msg, k->flag));
			continue;
		}
		if (rc < 0)
			print_error("  price: %s\n", err.msg);
		assert_int_equal(rc, 0);
		assert_int_equal(cp.total, k->want);
		/* The components add up to the call's cost exactly. */
		for (int c = 0; c < PC_COUNT; c++)
			sum += cp.cost[c];
		assert_int_equal(sum, cp.total);
		if (k->comp >= 0)
			assert_int_equal(cp.cost[k->comp], k->comp_cost);
	}
}

/* A cache hit costs nothing and keeps what it would have cost at list rates
 * (the waste report's realised saving): 1000*3e6 + 100*1.5e7. */
static void test_cache_hit_list(void **state)
{
	const struct price *p = pricebook_lookup(book, "anthropic", "claude-sonnet-4-5", T0 + 1);
	struct call_event c;
	struct call_price cp;

	(void)state;
	call_init(&c);
	c.input_tokens = 1000;
	c.output_tokens = 100;
	c.cache_hit = true;
	assert_int_equal(price_call_parts(p, &c, &cp, NULL), 0);
	assert_int_equal(cp.total, 0);
	assert_int_equal(cp.list_total, INT64_C(4500000000));
	assert_int_equal(cp.list[PC_OUTPUT], INT64_C(1500000000));
	/* a batch call's list is its cost without the discount */
	c.cache_hit = false;
	c.batch = true;
	assert_int_equal(price_call_parts(p, &c, &cp, NULL), 0);
	assert_int_equal(cp.total, INT64_C(2250000000));
	assert_int_equal(cp.list_total, INT64_C(4500000000));
}

/* ---- LiteLLM import, synthetic ------------------------------------------- */

static void test_litellm_synthetic(void **state)
{
	static const char json[] =
	    "{\n"
	    "  \"sample_spec\": {\"input_cost_per_token\": 0.0,\n"
	    "     \"output_cost_per_token\": 0},\n"
	    "  \"acme/tiny\": {\"input_cost_per_token\": 5e-13, \"output_cost_per_token\": "
	    "4.9e-13, \"litellm_provider\": \"acme\"},\n"
	    "  \"plain-model\": {\"input_cost_per_token\": 1E-6,\n"
	    "     \"output_cost_per_token\": 2,\n"
	    "     \"litellm_provider\": \"acme\", \"note\": \"12 \\\"3.5\\\" -4\",\n"
	    "     \"input_cost_per_token_priority\": 9e-06, \"input_cost_per_token_flex\": 1,\n"
	    "     \"cache_creation_input_token_cost_above_1hr\": 7e-06,\n"
	    "     \"list\": [1, -2.5e3]},\n"
	    "  \"acme/plain-model\": {\"input_cost_per_token\": 3e-06},\n"
	    "  \"lc/two/parts\": {\"input_cost_per_token\": 1e-06, \"output_cost_per_token\": "
	    "2e-06,\n"
	    "     \"input_cost_per_token_above_200k_tokens\": 4e-06,\n"
	    "     \"input_cost_per_token_above_128k_tokens\": 3e-06,\n"
	    "     \"output_cost_per_token_above_128k_tokens\": 5e-06,\n"
	    "     \"output_cost_per_token_above_200k_tokens_priority\": 9e-06},\n"
	    "  \"image-only\": {\"output_cost_per_image\": 0.04,\n"
	    "     \"litellm_provider\": \"acme\"},\n"
	    "  \"no-provider\": {\"input_cost_per_token\": 1e-06},\n"
	    "  \"ollama/llama3\": {\"input_cost_per_token\": 0.0,\n"
	    "     \"output_cost_per_token\": 0.0},\n"
	    "  \"exact\": {\"input_cost_per_token\": 0.000000123456789012,\n"
	    "     \"output_cost_per_token\": 1.0000000000005e-06,\n"
	    "     \"output_cost_per_reasoning_token\": null, \"litellm_provider\": \"acme\"},\n"
	    "  \"last_updated\": \"2026-07-24\"\n"
	    "}\n";
	struct price_import im;
	struct tally_err err = {0};
	const struct price *p;

	(void)state;
	assert_int_equal(price_import_litellm(json, strlen(json), T0, &im, &err), 0);
	/* loaded: acme/tiny, acme/plain-model, lc/two/parts, acme/image-only
	 * (per-image only: $0.04 = 4e10 pico-USD per image), ollama/llama3,
	 * acme/exact; skipped: sample_spec, the duplicate acme/plain-model,
	 * no-provider, last_updated */
	assert_int_equal(im.n, 6);
	assert_int_equal(im.skipped, 4);
	assert_string_equal(im.first_skip_reason,
	                    "entry \"sample_spec\": the format's example, not a model");
	/* tiny (5e-13 -> 1, 4.9e-13 -> 0) and exact (0.123456789012 pico ->
	 * 0, 1000000.0000005 -> 1000000) */
	assert_int_equal(im.rounded, 2);
	p = &im.prices[0];
	assert_string_equal(p->provider, "acme");
	assert_string_equal(p->model, "tiny");
	assert_int_equal(p->input, 1); /* half a pico rounds away from zero */
	assert_int_equal(p->output, 0);
	p = &im.prices[1];
	assert_string_equal(p->model, "plain-model");
	assert_int_equal(p->input, 1000000);
	assert_int_equal(p->output, 2 * PUSD_PER_USD);
	assert_int_equal(p->cache_write, U);    /* above_1hr is not a cache write price */
	assert_string_equal(p->tier, "medium"); /* $1.00 per million */
	p = &im.prices[2];
	assert_string_equal(p->provider, "lc");
	assert_string_equal(p->model, "two/parts");
	assert_int_equal(p->threshold_tokens, 128000); /* the lowest threshold */
	assert_int_equal(p->above_input, 3000000);
	assert_int_equal(p->above_output, 5000000);
	assert_int_equal(p->above_cache_read, U);
	p = &im.prices[3];
	assert_string_equal(p->model, "image-only");
	assert_int_equal(p->output_images, INT64_C(40000000000));
	assert_int_equal(p->input, U);
	p = &im.prices[4];
	assert_string_equal(p->tier, "local");
	p = &im.prices[5];
	assert_string_equal(p->model, "exact");
	assert_int_equal(p->input, 123457);
	assert_int_equal(p->output, 1000000);
	assert_int_equal(p->reasoning, U);
	for (size_t i = 0; i < im.n; i++)
		assert_int_equal(im.prices[i].effective_from_us, T0);
	price_import_cleanup(&im);
	price_import_cleanup(&im);
	price_import_cleanup(NULL);
}

struct bad_input {
	const char *text;
	const char *want; /* substring of the error */
};

static void test_litellm_errors(void **state)
{
	static const struct bad_input cases[] = {
	    {"", "JSON syntax error"},
	    {"{\n\"a/b\": {\"input_cost_per_token\": 1e-06,,}\n}", "line 2: JSON syntax error"},
	    {"[1, 2]", "must be a JSON object"},
	    {"{\"a/b\": {\"input_cost_per_token\": 01}}", "line 1: malformed number"},
	    {"{\"a/b\": {\"input_cost_per_token\": 1.}}", "malformed number"},
	    {"{\"a/b\": {\"input_cost_per_token\": -1e-06}}",
	     "entry \"a/b\": input_cost_per_token: \"-1e-06\" is negative"},
	    {"{\"a/b\": {\"input_cost_per_token\": \"abc\"}}",
	     "entry \"a/b\": input_cost_per_token: \"abc\" is not a decimal number"},
	    {"{\"a/b\": {\"input_cost_per_token\": true}}",
	     "entry \"a/b\": input_cost_per_token is not a number"},
	    {"{\"a/b\": {\"input_cost_per_token\": 1e-06,\n"
	     "\"cache_read_input_token_cost\": {}}}",
	     "cache_read_input_token_cost is not a number"},
	    {"{\"a/b\": {\"input_cost_per_token\": 1e+30}}",
	     "input_cost_per_token: \"1e+30\" is out of range"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct price_import im;
		struct tally_err err = {0};

		print_message("case %zu\n", i);
		assert_int_equal(
		    price_import_litellm(cases[i].text, strlen(cases[i].text), T0, &im, &err), -1);
		print_message("  -> %s\n", err.msg);
		assert_int_equal(err.code, TALLY_EINVAL);
		assert_non_null(strstr(err.msg, cases[i].want));
		assert_null(im.prices);
		assert_int_equal(im.n, 0);
	}
}

/* ---- CSV import ---------------------------------------------------------- */

#define HEADER                                                                                     \
	"provider,model,tier,input,output,cache_read,cache_write,reasoning,batch_input,"           \
	"batch_output,threshold_tokens,above_input,above_output,above_cache_read,"                 \
	"above_cache_write"

static void test_csv_ok(void **state)
{
	static const char csv[] =
	    "\xEF\xBB\xBF# tally price list: USD per million tokens\r\n"
	    "\r\n" HEADER "\r\n"
	    "# self-hosted\r\n"
	    "vllm,llama-3.1-8b-instruct,,0.02,0.04,,,,,,,,,,\r\n"
	    "acme,\"big, model\",premium,3,15,0.30,3.75,,1.5,7.5,200000,6,22.5,0.6,7.5\r\n"
	    "  acme , \"say \"\"hi\"\"\" ,, 0.5 ,0.000001,,,2,,,,,,,\n"
	    "acme,tiny,,0.0000005,0.0000015,,,,,,,,,,\n"
	    "acme,mid,,0.500001,3.000000,,,,,,,,,,\n"
	    "acme,top,,3.000001,0,,,,,,,,,,";
	struct price_import im;
	struct tally_err err = {0};
	const struct price *p;

	(void)state;
	assert_int_equal(price_import_csv(csv, strlen(csv), T0, &im, &err), 0);
	assert_int_equal(im.n, 6);
	assert_int_equal(im.skipped, 0);
	assert_int_equal(im.rounded, 1); /* tiny: 0.5 and 1.5 pico-USD */
	p = &im.prices[0];
	assert_string_equal(p->provider, "vllm");
	assert_string_equal(p->tier, "local");
	assert_int_equal(p->input, 20000); /* $0.02/M = 2e-8 USD = 20000 pico */
	assert_int_equal(p->output, 40000);
	assert_int_equal(p->cache_read, U);
	assert_int_equal(p->threshold_tokens, 0);
	assert_int_equal(p->effective_from_us, T0);
	p = &im.prices[1];
	assert_string_equal(p->model, "big, model");
	assert_string_equal(p->tier, "premium");
	assert_int_equal(p->input, 3000000);
	assert_int_equal(p->output, 15000000);
	assert_int_equal(p->cache_read, 300000);
	assert_int_equal(p->cache_write, 3750000);
	assert_int_equal(p->reasoning, U);
	assert_int_equal(p->batch_input, 1500000);
	assert_int_equal(p->batch_output, 7500000);
	assert_int_equal(p->threshold_tokens, 200000);
	assert_int_equal(p->above_input, 6000000);
	assert_int_equal(p->above_output, 22500000);
	assert_int_equal(p->above_cache_read, 600000);
	assert_int_equal(p->above_cache_write, 7500000);
	p = &im.prices[2];
	assert_string_equal(p->provider, "acme");
	assert_string_equal(p->model, "say \"hi\"");
	assert_int_equal(p->input, 500000);
	assert_int_equal(p->output, 1);
	assert_int_equal(p->reasoning, 2000000);
	assert_string_equal(p->tier, "small"); /* exactly $0.50/M */
	p = &im.prices[3];
	assert_int_equal(p->input, 1);  /* 0.5 pico rounds away from zero */
	assert_int_equal(p->output, 2); /* 1.5 pico too */
	assert_string_equal(im.prices[4].tier, "medium");
	assert_string_equal(im.prices[5].tier, "large");
	price_import_cleanup(&im);

	/* Only a header: an empty but valid list. */
	assert_int_equal(price_import_csv(HEADER "\n", strlen(HEADER) + 1, T0, &im, &err), 0);
	assert_int_equal(im.n, 0);
	price_import_cleanup(&im);
}

/* Further long-context tiers and per-unit prices in the CSV format
 * (docs/prices.md, "CSV"): Dashscope's qwen3-coder-flash, four tiers by
 * input tokens per request as LiteLLM's tiered_pricing lists them (USD per
 * million: 0.3/1.5 up to 32K, 0.5/2.5 to 128K, 0.8/4 to 256K, 1.6/9.6
 * above; cache reads at 0.08, 0.1, 0.2, 0.4), and a per-image model. */
static void test_csv_tiers(void **state)
{
	static const char csv[] =
	    "provider,model,input,output,cache_read,threshold_tokens,above_input,above_output,"
	    "above_cache_read,level2_from_tokens,level2_input,level2_output,level2_cache_read,"
	    "level3_from_tokens,level3_input,level3_output,level3_cache_read,output_images,"
	    "batch_discount\n"
	    "dashscope,qwen3-coder-flash,0.3,1.5,0.08,32000,0.5,2.5,0.1,128000,0.8,4,0.2,256000,1."
	    "6,"
	    "9.6,0.4,,\n"
	    "acme,painter,,,,,,,,,,,,,,,,0.134,0.5\n";
	struct price_import im;
	struct tally_err err = {0};
	struct call_event c;
	struct call_price cp;
	const struct price *p;

	(void)state;
	assert_int_equal(price_import_csv(csv, strlen(csv), T0, &im, &err), 0);
	assert_int_equal(im.n, 2);
	p = &im.prices[0];
	assert_int_equal(p->threshold_tokens, 32000);
	assert_int_equal(p->n_tiers, 2);
	assert_int_equal(p->tiers[0].from_tokens, 128000);
	assert_int_equal(p->tiers[0].rate[PC_INPUT], 800000);
	assert_int_equal(p->tiers[1].rate[PC_OUTPUT], 9600000);
	assert_int_equal(p->tiers[1].rate[PC_REASONING], U);
	/* The same call as the LiteLLM case "dashscope third of four tiers":
	 * 200000 input is in (128K, 256K]: 150000*8e5 + 50000*2e5 + 1000*4e6 */
	call_init(&c);
	c.input_tokens = 200000;
	c.cache_read_tokens = 50000;
	c.output_tokens = 1000;
	assert_int_equal(price_call_parts(p, &c, &cp, &err), 0);
	assert_int_equal(cp.total, INT64_C(134000000000));
	/* above 256K: 100000*1.6e6 + 200000*4e5 + 1000*9.6e6 */
	c.input_tokens = 300000;
	c.cache_read_tokens = 200000;
	assert_int_equal(price_call_parts(p, &c, &cp, &err), 0);
	assert_int_equal(cp.total, INT64_C(249600000000));
	/* a per-image price is USD per image: 0.134 = 1.34e11 pico-USD; with
	 * the 50% batch discount two images cost 2*1.34e11/2 */
	p = &im.prices[1];
	assert_int_equal(p->output_images, INT64_C(134000000000));
	call_init(&c);
	c.units[PC_OUTPUT_IMAGES] = 2;
	c.batch = true;
	assert_int_equal(price_call_parts(p, &c, &cp, &err), 0);
	assert_int_equal(cp.total, INT64_C(134000000000));
	assert_int_equal(cp.list[PC_OUTPUT_IMAGES], INT64_C(268000000000));
	price_import_cleanup(&im);

	/* Each level above the one below it, with a price; levels need the
	 * first threshold. */
	static const struct {
		const char *csv, *msg;
	} bad[] = {
	    {"provider,model,input,level2_from_tokens,level2_input\nacme,m,1,1000,2\n",
	     "line 2: column level2_from_tokens: further tiers need threshold_tokens"},
	    {"provider,model,input,threshold_tokens,above_input,level2_from_tokens,level2_input\n"
	     "acme,m,1,1000,2,1000,3\n",
	     "line 2: column level2_from_tokens: must be above 1000"},
	    {"provider,model,input,threshold_tokens,above_input,level2_from_tokens\n"
	     "acme,m,1,1000,2,2000\n",
	     "line 2: level 2 has no price"},
	    {"provider,model,input,threshold_tokens,above_input,level3_from_tokens,level3_input\n"
	     "acme,m,1,1000,2,3000,3\n",
	     "line 2: column level2_from_tokens: must be above 1000"},
	    {"provider,model,level12_input\nacme,m,1\n", "unknown column \"level12_input\""},
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct tally_err e = {0};
		print_message("bad %zu\n", i);
		assert_int_equal(price_import_csv(bad[i].csv, strlen(bad[i].csv), T0, &im, &e), -1);
		if (!strstr(e.msg, bad[i].msg))
			print_error("  got: %s\n", e.msg);
		assert_non_null(strstr(e.msg, bad[i].msg));
	}
}

/* The event fields that carry per-unit quantities (docs/events.md). */
static void test_event_units(void **state)
{
	static const char head[] = "{\"event_id\":\"e\",\"ts\":\"2026-06-01T00:00:00Z\",\"team\":"
	                           "\"t\",\"workflow\":\"w\",\"task_type\":\"k\",\"provider\":"
	                           "\"openai\",\"model\":\"m\",";
	static const struct {
		const char *tail;
		int comp;
		int64_t want;
		const char *err;
	} cases[] = {
	    {"\"usage\":{\"type\":\"duration\",\"seconds\":3}}", PC_INPUT_SECONDS, 3, NULL},
	    {"\"usage\":{\"type\":\"duration\",\"seconds\":0.2}}", PC_INPUT_SECONDS, 1, NULL},
	    {"\"usage\":{\"type\":\"duration\",\"seconds\":-1}}", -1, 0,
	     "usage.seconds must be a number"},
	    {"\"units\":{\"output_images\":4},\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}",
	     PC_OUTPUT_IMAGES, 4, NULL},
	    {"\"units\":{\"web_search\":2},\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}",
	     PC_WEB_SEARCH, 2, NULL},
	    {"\"units\":{\"images\":4},\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}", -1, 0,
	     "units.images is not a per-unit price component (one of web_search, input_images"},
	    {"\"units\":{\"input\":4},\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}", -1, 0,
	     "units.input is not a per-unit price component"},
	    {"\"units\":{\"input_chars\":1.5},\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}",
	     -1, 0, "units.input_chars must be an integer"},
	    {"\"units\":[1],\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}", -1, 0, "units"},
	    {"\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1,\"num_sources_used\":7}}",
	     PC_LIVE_SEARCH, 7, NULL},
	    /* tool_use.web_search wins over the output items */
	    {"\"tool_use\":{\"web_search\":1},\"output\":[{\"type\":\"web_search_call\"},"
	     "{\"type\":\"web_search_call\"}],\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}",
	     PC_WEB_SEARCH, 1, NULL},
	    {"\"output\":[{\"type\":\"web_search_call\"},{\"type\":\"file_search_call\"},"
	     "\"x\"],\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}",
	     PC_WEB_SEARCH, 1, NULL},
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char json[1024];
		struct event ev;
		struct tally_err err = {0};
		int64_t q[PC_COUNT];
		int rc;

		print_message("case %zu\n", i);
		snprintf(json, sizeof json, "%s%s", head, cases[i].tail);
		rc = event_parse(json, strlen(json), EVENT_CALL, &ev, &err);
		if (cases[i].err) {
			if (rc == 0 || !strstr(err.msg, cases[i].err))
				print_error("  got: %s\n", err.msg);
			assert_int_equal(rc, -1);
			assert_non_null(strstr(err.msg, cases[i].err));
			continue;
		}
		if (rc < 0)
			print_error("  parse: %s\n", err.msg);
		assert_int_equal(rc, 0);
		assert_int_equal(price_quantities(&ev.u.call, q, &err), 0);
		assert_int_equal(q[cases[i].comp], cases[i].want);
	}
}

static void test_csv_repo_file(void **state)
{
	size_t len = 0;
	char *text = read_file(LOCAL_CSV_PATH, &len);
	struct price_import im;
	struct tally_err err = {0};

	(void)state;
	assert_non_null(text);
	assert_int_equal(price_import_csv(text, len, T0, &im, &err), 0);
	assert_int_equal(im.n, 2);
	for (size_t i = 0; i < im.n; i++) {
		assert_string_equal(im.prices[i].provider, "vllm");
		assert_string_equal(im.prices[i].tier, "local");
		assert_int_equal(im.prices[i].input, 20000);
		assert_int_equal(im.prices[i].output, 40000);
	}
	price_import_cleanup(&im);
	free(text);
}

static void test_csv_errors(void **state)
{
	static const struct bad_input cases[] = {
	    {"", "no header line"},
	    {"# only a comment\n\n", "no header line"},
	    {"provider,input\nacme,1\n", "line 1: the header must name the columns, provider and"},
	    {HEADER ",extra\n", "line 1: unknown column \"extra\""},
	    {HEADER ",input\n", "line 1: column input twice"},
	    {HEADER "\n\n# c\n\nacme,m,,1,2,,,,,,,,,,\nacme,m2,,abc,2,,,,,,,,,,\n",
	     "line 6: column input: \"abc\" is not a decimal number"},
	    {HEADER "\nacme,m,,1,2,,,,,,,,,\n", "line 2: 14 columns, expected 15"},
	    {HEADER "\nacme,m,,1,2,,,,,,,,,,,\n", "line 2: 16 columns, expected 15"},
	    {HEADER "\nacme,\"m,,1,2,,,,,,,,,,\n", "line 2: field 2: unterminated quote"},
	    {HEADER "\nacme,\"m\"x,,1,2,,,,,,,,,,\n", "line 2: field 2: text after closing"},
	    {HEADER "\nacme,m,,1,-2,,,,,,,,,,\n", "line 2: column output: \"-2\" is negative"},
	    {HEADER "\nacme,m,,1,2,1e,,,,,,,,,\n",
	     "line 2: column cache_read: \"1e\" is not a decimal number"},
	    {HEADER "\nacme,m,,1,2,,,,,,,2,,,\n",
	     "line 2: column threshold_tokens: above_* prices need a threshold"},
	    {HEADER "\nacme,m,,1,2,,,,,,1000,,3,,\n",
	     "line 2: column above_input: threshold_tokens is set"},
	    {HEADER "\nacme,m,,1,2,,,,,,1.5,2,,,\n",
	     "line 2: column threshold_tokens: \"1.5\" is not a non-negative whole number"},
	    {HEADER "\nacme,m,,1,2,,,,,,-5,2,,,\n", "line 2: column threshold_tokens"},
	    {HEADER "\nacme,m,,1,2,,,,,1,,,,,\n", "line 2: column batch_input"},
	    {HEADER "\n,m,,1,2,,,,,,,,,,\n", "line 2: column provider: must not be empty"},
	    {HEADER "\nacme,,,1,2,,,,,,,,,,\n", "line 2: column model: must not be empty"},
	    {HEADER "\nacme,m,,1,2,,,,,,,,,,\nacme,m,,1,2,,,,,,,,,,\n",
	     "line 3: provider acme model m is listed twice"},
	    {HEADER "\nacme,m,a-tier-name-that-is-far-too-long-to-store,1,2,,,,,,,,,,\n",
	     "line 2: column tier: too long"},
	    {HEADER "\nacme,m,,99999999999999,2,,,,,,,,,,\n",
	     "line 2: column input: \"99999999999999\" is out of range"},
	    {HEADER "\nacme,m,,1.2.3,2,,,,,,,,,,\n",
	     "line 2: column input: \"1.2.3\" is not a decimal number"},
	    {HEADER "\nacme,m,,1,2,,,,,,,,,,,\"x\n", "line 2: field 16: unterminated"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct price_import im;
		struct tally_err err = {0};

		print_message("case %zu\n", i);
		assert_int_equal(
		    price_import_csv(cases[i].text, strlen(cases[i].text), T0, &im, &err), -1);
		print_message("  -> %s\n", err.msg);
		assert_int_equal(err.code, TALLY_EINVAL);
		assert_non_null(strstr(err.msg, cases[i].want));
		assert_null(im.prices);
	}
}

/* ---- tiers --------------------------------------------------------------- */

/* ---- a call as a row of COPY's binary format --------------------------------------
 * The layout is PostgreSQL's ("COPY", "Binary Format"): an 11-byte signature,
 * a 32-bit flags field and a 32-bit header extension length; per row a 16-bit
 * field count, per field a 32-bit length (-1: NULL) and its bytes, integers
 * in network byte order; a timestamp is int64 microseconds since 2000-01-01
 * UTC, a real the IEEE bits, a jsonb a version byte 1 and the text. */

struct field_reader {
	const unsigned char *p, *end;
};

static uint64_t be(const unsigned char *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* The next field: its length (-1 NULL) and bytes. */
static int32_t next_field(struct field_reader *r, const unsigned char **bytes)
{
	assert_true(r->p + 4 <= r->end);
	int32_t n = (int32_t)be(r->p, 4);
	r->p += 4;
	*bytes = r->p;
	if (n > 0) {
		assert_true(r->p + n <= r->end);
		r->p += n;
	}
	return n;
}

static void expect_text(struct field_reader *r, const char *want)
{
	const unsigned char *b;
	int32_t n = next_field(r, &b);
	if (!want) {
		assert_int_equal(n, -1);
		return;
	}
	assert_int_equal(n, (int32_t)strlen(want));
	assert_memory_equal(b, want, (size_t)n);
}

static void expect_int(struct field_reader *r, int width, int64_t want)
{
	const unsigned char *b;
	assert_int_equal(next_field(r, &b), width);
	assert_int_equal((int64_t)(width == 8 ? be(b, 8) : (uint64_t)(int32_t)be(b, 4)), want);
}

static void test_copy_binary_row(void **state)
{
	(void)state;
	struct call_row r;
	struct sbuf s, comp;
	const unsigned char *b;

	memset(&r, 0, sizeof r);
	strcpy(r.ev.event_id, "evt-1\t2"); /* bytes as they are: no COPY text escapes */
	r.ev.ts_us = INT64_C(946684800000000) + 1500000; /* 2000-01-01T00:00:01.5Z */
	strcpy(r.ev.team, "search");
	strcpy(r.ev.workflow, "rank");
	strcpy(r.ev.task_type, "classify");
	strcpy(r.ev.provider, "openai");
	strcpy(r.ev.model, "gpt-4o-mini");
	strcpy(r.tier, "small");
	r.ev.input_tokens = 1200;
	r.ev.output_tokens = 300;
	r.ev.cache_read_tokens = 512;
	r.ev.usage_shape = USAGE_OPENAI;
	r.ev.cache_hit = true;
	r.ev.status = CALL_OK;
	r.ev.latency_ms = 842;
	r.ev.has_quality = true;
	r.ev.quality = 0.92;
	strcpy(r.ev.tags, "{\"env\":\"prod\"}");
	r.priced = true;
	r.cost_pusd = 218400000;
	r.price_version = 7;
	r.pos = (struct kafka_pos){"llm.calls", 3, 41};
	r.parts.qty[PC_INPUT] = 688;
	r.parts.cost[PC_INPUT] = r.parts.list[PC_INPUT] = 103200000;
	sbuf_init(&s);
	sbuf_init(&comp);
	copyb_header(&s);
	ledger_copy_call(&s, &r);
	copyb_trailer(&s);
	assert_false(s.oom);

	const unsigned char *p = (const unsigned char *)s.p;
	assert_memory_equal(p, "PGCOPY\n\377\r\n\0", 11);
	assert_int_equal(be(p + 11, 4), 0); /* flags */
	assert_int_equal(be(p + 15, 4), 0); /* no extension */
	assert_int_equal(be(p + 19, 2), 35);
	struct field_reader rd = {p + 21, p + s.len - 2};
	expect_text(&rd, "evt-1\t2");
	expect_int(&rd, 8, 1500000); /* microseconds after 2000-01-01 */
	expect_text(&rd, "search");
	expect_text(&rd, "rank");
	expect_text(&rd, "classify");
	expect_text(&rd, NULL); /* outcome_id "" */
	expect_text(&rd, "openai");
	expect_text(&rd, "gpt-4o-mini");
	expect_text(&rd, "small");
	expect_int(&rd, 8, 1200);
	expect_int(&rd, 8, 300);
	expect_int(&rd, 8, 512);
	expect_int(&rd, 8, 0);
	expect_int(&rd, 8, 0);
	expect_text(&rd, "openai");   /* usage_shape */
	for (int i = 0; i < 3; i++) { /* batch, cache_hit, local */
		assert_int_equal(next_field(&rd, &b), 1);
		assert_int_equal(b[0], i == 1);
	}
	expect_text(&rd, "ok");
	expect_int(&rd, 4, 842);
	expect_text(&rd, NULL); /* prompt_hash */
	/* quality: the float4 PostgreSQL makes of "0.920000" */
	float f = strtof("0.920000", NULL);
	uint32_t bits;
	memcpy(&bits, &f, sizeof bits);
	assert_int_equal(next_field(&rd, &b), 4);
	assert_int_equal(be(b, 4), bits);
	expect_text(&rd, NULL); /* provider_cost_pusd */
	expect_int(&rd, 8, 218400000);
	expect_int(&rd, 8, 7);
	assert_int_equal(next_field(&rd, &b), 1 + 14); /* jsonb: version 1, then the text */
	assert_int_equal(b[0], 1);
	assert_memory_equal(b + 1, "{\"env\":\"prod\"}", 14);
	expect_text(&rd, "llm.calls");
	expect_int(&rd, 4, 3);
	expect_int(&rd, 8, 41);
	for (int i = 0; i < 5; i++) /* service_tier .. unpriced_reason: "" */
		expect_text(&rd, NULL);
	assert_true(ledger_components_format(&comp, &r.parts));
	expect_text(&rd, comp.p);
	assert_true(rd.p == rd.end);
	assert_int_equal(be(rd.end, 2), 0xffff); /* the trailer */

	/* a call without components, unpriced, not from Kafka: NULLs */
	memset(&r.parts, 0, sizeof r.parts);
	r.priced = false;
	r.price_version = 0;
	r.pos = (struct kafka_pos){NULL, -1, -1};
	r.ev.has_quality = false;
	r.ev.latency_ms = -1;
	r.ev.tags[0] = '\0';
	sbuf_reset(&s);
	ledger_copy_call(&s, &r);
	p = (const unsigned char *)s.p;
	rd = (struct field_reader){p + 2, p + s.len};
	for (int i = 0; i < 35; i++) {
		int32_t n = next_field(&rd, &b);
		if (i == 5 || i >= 19) /* outcome_id; latency_ms .. components */
			assert_int_equal(n, -1);
	}
	assert_true(rd.p == rd.end);
	sbuf_cleanup(&s);
	sbuf_cleanup(&comp);
}

/* An array parameter in PostgreSQL's binary array format (array_recv): one
 * dimension, the has-nulls flag, the element type's OID, the count, lower
 * bound 1, then each element as a COPY field is (a 32-bit length, -1 for
 * NULL, and the bytes). The buffer is reused: a second array replaces the
 * first. */
static void test_copy_binary_array(void **state)
{
	(void)state;
	struct sbuf s;
	const unsigned char *b;

	sbuf_init(&s);
	copyb_array_begin(&s, PG_TEXT);
	copyb_text(&s, "stale");
	copyb_array_end(&s, 1);
	copyb_array_begin(&s, PG_TIMESTAMPTZ);
	copyb_ts(&s, INT64_C(946684800000000) + 2);
	copyb_null(&s);
	copyb_ts(&s, INT64_C(946684800000000) - 1);
	copyb_array_end(&s, 3);
	assert_false(s.oom);

	const unsigned char *p = (const unsigned char *)s.p;
	assert_int_equal(be(p, 4), 1);     /* one dimension */
	assert_int_equal(be(p + 4, 4), 1); /* may hold NULLs */
	assert_int_equal(be(p + 8, 4), 1184);
	assert_int_equal(be(p + 12, 4), 3);
	assert_int_equal(be(p + 16, 4), 1); /* lower bound */
	struct field_reader rd = {p + 20, p + s.len};
	expect_int(&rd, 8, 2); /* microseconds after 2000-01-01 */
	assert_int_equal(next_field(&rd, &b), -1);
	assert_int_equal(next_field(&rd, &b), 8);
	assert_true(be(b, 8) == UINT64_MAX); /* -1: before 2000 */
	assert_true(rd.p == rd.end);
	sbuf_cleanup(&s);
}

/* calls.components (migration 0018): the stored text of a call's components,
 * written once and read back exactly. */
static void test_components_text(void **state)
{
	(void)state;
	struct call_price p, back;
	struct tally_err err = {0};
	struct sbuf s;

	memset(&p, 0, sizeof p);
	p.qty[PC_INPUT] = 1200;
	p.cost[PC_INPUT] = 180000000;
	p.list[PC_INPUT] = 180000000;
	p.qty[PC_CACHE_READ] = 512;
	p.cost[PC_CACHE_READ] = 0; /* a cache hit: billed 0, list kept */
	p.list[PC_CACHE_READ] = 38400000;
	p.qty[PC_LIVE_SEARCH] = 3;
	p.cost[PC_LIVE_SEARCH] = 75000000000;
	p.list[PC_LIVE_SEARCH] = 75000000000;
	sbuf_init(&s);
	assert_true(ledger_components_format(&s, &p));
	assert_string_equal(s.p, "input:1200:180000000:180000000 cache_read:512:0:38400000 "
	                         "live_search:3:75000000000:75000000000");
	assert_int_equal(ledger_components_parse(s.p, &back, &err), 0);
	assert_memory_equal(back.qty, p.qty, sizeof p.qty);
	assert_memory_equal(back.cost, p.cost, sizeof p.cost);
	assert_memory_equal(back.list, p.list, sizeof p.list);
	assert_int_equal(back.total, 75180000000);
	assert_int_equal(back.list_total, 75218400000);

	/* none used: nothing written (stored as NULL), read back as zeros */
	memset(&p, 0, sizeof p);
	sbuf_reset(&s);
	assert_false(ledger_components_format(&s, &p));
	assert_int_equal(s.len, 0);
	back.qty[PC_OUTPUT] = 9;
	assert_int_equal(ledger_components_parse(NULL, &back, &err), 0);
	assert_int_equal(back.qty[PC_OUTPUT], 0);
	assert_int_equal(ledger_components_parse("", &back, &err), 0);

	/* a name that is a prefix of another is told apart */
	assert_int_equal(ledger_components_parse("input_images:2:10:10 input:5:1:1", &back, &err),
	                 0);
	assert_int_equal(back.qty[PC_INPUT_IMAGES], 2);
	assert_int_equal(back.qty[PC_INPUT], 5);

	static const char *const bad[] = {
	    "bogus:1:2:3",                    /* no such component */
	    "input:1:2",                      /* a figure missing */
	    "input:1:2:3x",                   /* trailing garbage */
	    "input:1:2:3  output:1:1:1",      /* an empty item */
	    "input",                          /* no figures */
	    "input:99999999999999999999:0:0", /* out of range */
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		err.code = 0;
		assert_int_equal(ledger_components_parse(bad[i], &back, &err), -1);
		assert_int_equal(err.code, TALLY_EINVAL);
	}
	sbuf_cleanup(&s);
}

static void test_default_tier(void **state)
{
	static const struct {
		const char *provider, *model, *preset;
		int64_t input;
		const char *want;
	} cases[] = {
	    {"ollama", "llama3", "", 5000000, "local"},
	    {"ollama_chat", "llama3", "", 0, "local"},
	    {"hosted_vllm", "qwen", "", 1, "local"},
	    {"lm_studio", "m", "", 1, "local"},
	    {"llamafile", "m", "", 1, "local"},
	    {"local", "m", "", 1, "local"},
	    {"vllm", "m", "", 1, "local"},
	    {"openrouter", "ollama/llama3", "", 9000000, "local"},
	    {"ollamax", "m", "", 9000000, "large"},
	    {"openai", "m", "", U, "small"},
	    {"openai", "m", "", 0, "small"},
	    {"openai", "m", "", 500000, "small"},
	    {"openai", "m", "", 500001, "medium"},
	    {"openai", "m", "", 3000000, "medium"},
	    {"openai", "m", "", 3000001, "large"},
	    {"openai", "m", "premium", 1, "premium"},
	    {"ollama", "m", "large", 1, "large"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct price p;

		print_message("case %zu\n", i);
		price_init(&p, cases[i].provider, cases[i].model, T0, cases[i].input, U);
		str_copy(p.tier, sizeof p.tier, cases[i].preset);
		price_default_tier(&p);
		assert_string_equal(p.tier, cases[i].want);
	}
}

/* A refused batch is written message by message: in offset order per
 * partition, an OTLP message's several calls together, each with its own
 * offset mark. */
static void test_batch_walk(void **state)
{
	(void)state;
	static const char topic[] = "llm.calls", other[] = "llm.outcomes";
	struct ledger_batch b, one;
	struct ledger_batch_walk w;
	struct kafka_pos pos;
	const int64_t call_offsets[] = {7, 5, 5, 6}; /* offset 5: one message, two spans */

	ledger_batch_init(&b);
	ledger_batch_init(&one);
	for (size_t i = 0; i < 4; i++) {
		struct call_row *r = ledger_batch_add_call(&b);
		assert_non_null(r);
		snprintf(r->ev.event_id, sizeof r->ev.event_id, "c%zu", i);
		r->pos = (struct kafka_pos){topic, 0, call_offsets[i]};
	}
	struct outcome_row *o = ledger_batch_add_outcome(&b);
	assert_non_null(o);
	o->pos = (struct kafka_pos){other, 2, 40};

	assert_int_equal(ledger_batch_walk_init(&w, &b), 0);
	const struct {
		const char *topic;
		int64_t offset;
		size_t calls, outcomes;
		const char *first;
	} want[] = {
	    {"llm.calls", 5, 2, 0, "c1"},
	    {"llm.calls", 6, 1, 0, "c3"},
	    {"llm.calls", 7, 1, 0, "c0"},
	    {"llm.outcomes", 40, 0, 1, NULL},
	};
	for (size_t k = 0; k < sizeof want / sizeof *want; k++) {
		assert_int_equal(ledger_batch_walk_next(&w, &one, &pos), 1);
		assert_string_equal(pos.topic, want[k].topic);
		assert_int_equal(pos.offset, want[k].offset);
		assert_int_equal(one.n_calls, want[k].calls);
		assert_int_equal(one.n_outcomes, want[k].outcomes);
		if (want[k].first)
			assert_string_equal(one.calls[0].ev.event_id, want[k].first);
		assert_int_equal(one.n_marks, 1);
		assert_int_equal(one.marks[0].offset, want[k].offset);
	}
	assert_int_equal(ledger_batch_walk_next(&w, &one, &pos), 0);
	ledger_batch_walk_cleanup(&w);
	ledger_batch_cleanup(&one);
	ledger_batch_cleanup(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_litellm_counts),
	    cmocka_unit_test(test_litellm_prices),
	    cmocka_unit_test(test_price_call_real),
	    cmocka_unit_test(test_lookup_real),
	    cmocka_unit_test(test_effective_dating),
	    cmocka_unit_test(test_many_models),
	    cmocka_unit_test(test_price_call_errors),
	    cmocka_unit_test(test_price_rules_synthetic),
	    cmocka_unit_test(test_provider_rules),
	    cmocka_unit_test(test_cache_hit_list),
	    cmocka_unit_test(test_litellm_synthetic),
	    cmocka_unit_test(test_litellm_errors),
	    cmocka_unit_test(test_csv_ok),
	    cmocka_unit_test(test_csv_tiers),
	    cmocka_unit_test(test_event_units),
	    cmocka_unit_test(test_csv_repo_file),
	    cmocka_unit_test(test_csv_errors),
	    cmocka_unit_test(test_default_tier),
	    cmocka_unit_test(test_components_text),
	    cmocka_unit_test(test_copy_binary_row),
	    cmocka_unit_test(test_copy_binary_array),
	    cmocka_unit_test(test_batch_walk),
	};

	return cmocka_run_group_tests(tests, load_litellm, free_litellm);
}
