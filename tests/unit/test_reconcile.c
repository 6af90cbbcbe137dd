/* test_reconcile.c - the provider bill parsers (ledger/reconcile_import.c):
 * exact amounts, days, projects, line identities and the model each line
 * names, table-driven, with the documented answer shapes of OpenAI's Costs
 * API and Anthropic's cost report and FOCUS rows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../ledger/ledger.h"

static void parse_ok(int source, const char *text, struct reconcile_doc *d)
{
	struct tally_err err = {0};
	int rc = reconcile_parse(source, text, strlen(text), d, &err);
	if (rc != 0)
		fail_msg("%s", err.msg);
}

/* OpenAI: the documented example result, amount as a JSON number read from
 * its digits (0.06 and 1e-13 are not doubles here). */
static void test_openai(void **state)
{
	static const char doc[] =
	    "{\"object\":\"page\",\"data\":[{\"object\":\"bucket\",\"start_time\":1730419200,"
	    "\"end_time\":1730505600,\"results\":["
	    "{\"object\":\"organization.costs.result\",\"amount\":{\"value\":0.06,\"currency\":"
	    "\"usd\"},\"line_item\":\"Image models\",\"project_id\":\"proj_abc\"},"
	    "{\"object\":\"organization.costs.result\",\"amount\":{\"value\":1.23456789012345,"
	    "\"currency\":\"usd\"},\"line_item\":\"gpt-4o-mini-2024-07-18, cached input\","
	    "\"project_id\":null},"
	    "{\"object\":\"organization.costs.result\",\"amount\":{\"value\":0.06,\"currency\":"
	    "\"usd\"},\"line_item\":null,\"project_id\":null}]}],\"has_more\":false,"
	    "\"next_page\":null}";
	struct reconcile_doc d;

	(void)state;
	parse_ok(RECONCILE_OPENAI, doc, &d);
	assert_int_equal(d.n, 3);
	assert_string_equal(d.period_start, "2024-11-01");
	assert_string_equal(d.period_end, "2024-11-02");
	assert_string_equal(d.lines[0].day, "2024-11-01");
	assert_true(d.lines[0].amount_pusd == INT64_C(60000000000));
	assert_string_equal(d.lines[0].model, ""); /* "Image models": no model */
	assert_string_equal(d.lines[0].project, "proj_abc");
	assert_true(d.lines[1].amount_pusd == INT64_C(1234567890123)); /* ...45 rounded */
	assert_int_equal(d.rounded, 1);
	assert_string_equal(d.lines[1].model, "gpt-4o-mini-2024-07-18");
	assert_string_equal(d.lines[1].project, "");
	assert_string_equal(d.lines[2].line_item, "(all line items)");
	reconcile_doc_cleanup(&d);
}

/* Anthropic: "amount" is a decimal string of cents. */
static void test_anthropic(void **state)
{
	static const char doc[] =
	    "{\"data\":[{\"starting_at\":\"2025-08-01T00:00:00Z\",\"ending_at\":"
	    "\"2025-08-03T00:00:00Z\",\"results\":[{\"currency\":\"USD\",\"amount\":\"123.45\","
	    "\"workspace_id\":null,\"description\":null,\"cost_type\":\"tokens\","
	    "\"context_window\":\"0-200k\",\"model\":\"claude-sonnet-4-20250514\","
	    "\"service_tier\":\"batch\",\"token_type\":\"output_tokens\"}]}],"
	    "\"has_more\":false,\"next_page\":null}";
	struct reconcile_doc d;

	(void)state;
	parse_ok(RECONCILE_ANTHROPIC, doc, &d);
	assert_int_equal(d.n, 1);
	assert_true(d.lines[0].amount_pusd == INT64_C(1234500000000)); /* $1.2345 */
	assert_string_equal(d.lines[0].project, "default");
	assert_string_equal(d.lines[0].model, "claude-sonnet-4-20250514");
	assert_string_equal(d.lines[0].line_item,
	                    "claude-sonnet-4-20250514, tokens, output_tokens, batch, 0-200k");
	assert_string_equal(d.period_start, "2025-08-01");
	assert_string_equal(d.period_end, "2025-08-03");
	reconcile_doc_cleanup(&d);
}

/* FOCUS: the model found in each cloud's description. */
static void test_focus_models(void **state)
{
	static const struct {
		const char *service, *description, *provider, *model;
	} cases[] = {
	    {"Amazon Bedrock", "Claude 3.5 Sonnet input tokens", "bedrock", "claude-3-5-sonnet"},
	    {"Amazon Bedrock", "$0.003 per 1K input tokens for Claude 3 Haiku in US East",
	     "bedrock", "claude-3-haiku"},
	    {"Amazon Bedrock", "Claude Sonnet 4.5 cache write tokens", "bedrock",
	     "claude-sonnet-4-5"},
	    {"Azure OpenAI Service", "gpt-4o-mini-0718 Inp regnl Tokens", "azure",
	     "gpt-4o-mini-0718"},
	    {"Vertex AI", "Gemini 1.5 Flash Input Text", "vertex_ai", "gemini-1.5-flash"},
	    {"Vertex AI", "Custom model prediction node hours", "vertex_ai", ""},
	};
	char text[1024];

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct reconcile_doc d;
		snprintf(text, sizeof text,
		         "BilledCost,BillingCurrency,ChargePeriodStart,ProviderName,ServiceName,"
		         "SubAccountId,ChargeDescription\n0.5,USD,2024-11-01T05:00:00Z,X,%s,acct-1,"
		         "\"%s\"\n",
		         cases[i].service, cases[i].description);
		parse_ok(RECONCILE_FOCUS, text, &d);
		assert_int_equal(d.n, 1);
		assert_string_equal(d.lines[0].provider, cases[i].provider);
		assert_string_equal(d.lines[0].model, cases[i].model);
		assert_string_equal(d.lines[0].line_item, cases[i].description);
		assert_string_equal(d.lines[0].project, "acct-1");
		assert_true(d.lines[0].amount_pusd == INT64_C(500000000000));
		assert_string_equal(d.period_start, "2024-11-01");
		assert_string_equal(d.period_end, "2024-11-02");
		reconcile_doc_cleanup(&d);
	}
}

/* Usage documents: tokens and requests, no amounts. */
static void test_usage(void **state)
{
	static const char oa[] =
	    "{\"object\":\"page\",\"data\":[{\"object\":\"bucket\",\"start_time\":1730419200,"
	    "\"end_time\":1730505600,\"results\":[{\"object\":"
	    "\"organization.usage.completions.result\",\"input_tokens\":1000,"
	    "\"output_tokens\":500,\"input_cached_tokens\":800,\"num_model_requests\":5,"
	    "\"project_id\":null,\"model\":\"gpt-4o-mini-2024-07-18\"}]}]}";
	static const char an[] =
	    "{\"data\":[{\"starting_at\":\"2025-08-01T00:00:00Z\",\"ending_at\":"
	    "\"2025-08-02T00:00:00Z\",\"results\":[{\"uncached_input_tokens\":1500,"
	    "\"cache_creation\":{\"ephemeral_1h_input_tokens\":1000,"
	    "\"ephemeral_5m_input_tokens\":500},\"cache_read_input_tokens\":200,"
	    "\"output_tokens\":500,\"server_tool_use\":{\"web_search_requests\":10},"
	    "\"api_key_id\":\"apikey_01Rj2N8SVvo6BePZj99NhmiT\",\"workspace_id\":"
	    "\"wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ\",\"model\":\"claude-sonnet-4-20250514\","
	    "\"service_tier\":\"standard\",\"context_window\":\"0-200k\"}]}]}";
	struct reconcile_doc d;

	(void)state;
	parse_ok(RECONCILE_OPENAI, oa, &d);
	assert_true(d.usage);
	assert_int_equal(d.n, 1);
	assert_true(d.lines[0].requests == 5 && d.lines[0].input_tokens == 1000 &&
	            d.lines[0].output_tokens == 500 && d.lines[0].amount_pusd == 0);
	assert_string_equal(d.lines[0].model, "gpt-4o-mini-2024-07-18");
	reconcile_doc_cleanup(&d);
	parse_ok(RECONCILE_ANTHROPIC, an, &d);
	assert_true(d.usage);
	assert_true(d.lines[0].requests == -1);
	assert_true(d.lines[0].input_tokens == 3200); /* 1500 + 1000 + 500 + 200 */
	assert_true(d.lines[0].output_tokens == 500);
	assert_string_equal(d.lines[0].project, "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ");
	reconcile_doc_cleanup(&d);
}

static void test_refused(void **state)
{
	static const struct {
		int source;
		const char *text, *msg;
	} cases[] = {
	    {RECONCILE_OPENAI,
	     "{\"data\":[{\"start_time\":1,\"end_time\":2,\"results\":[{\"object\":"
	     "\"organization.usage.embeddings.result\"}]}]}",
	     "carry no amounts"},
	    {RECONCILE_OPENAI,
	     "{\"data\":[{\"start_time\":1,\"end_time\":86401,\"results\":[{\"amount\":{\"value\":"
	     "1,\"currency\":\"eur\"}}]}]}",
	     "only USD"},
	    {RECONCILE_ANTHROPIC,
	     "{\"data\":[{\"starting_at\":\"2025-08-01T00:00:00Z\",\"ending_at\":"
	     "\"2025-08-02T00:00:00Z\",\"results\":[{\"uncached_input_tokens\":5},{\"amount\":"
	     "\"1\",\"currency\":\"USD\"}]}]}",
	     "mixes cost and usage"},
	    {RECONCILE_ANTHROPIC,
	     "{\"data\":[{\"starting_at\":\"2025-08-01T00:00:00Z\",\"ending_at\":"
	     "\"2025-08-02T00:00:00Z\",\"results\":[{\"uncached_input_tokens\":-5}]}]}",
	     "is not a count"},
	    {RECONCILE_ANTHROPIC, "not json", "not valid JSON"},
	    {RECONCILE_FOCUS, "a,b\n1,2\n", "the header needs"},
	    {RECONCILE_FOCUS,
	     "BilledCost,ChargePeriodStart,ProviderName,ServiceName\nabc,2024-11-01,AWS,Amazon "
	     "Bedrock\n",
	     "is not a number"},
	    {RECONCILE_FOCUS, "BilledCost,ChargePeriodStart,ProviderName,ServiceName\n", "no day"},
	};

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct reconcile_doc d;
		struct tally_err err = {0};
		assert_int_equal(reconcile_parse(cases[i].source, cases[i].text,
		                                 strlen(cases[i].text), &d, &err),
		                 -1);
		if (!strstr(err.msg, cases[i].msg))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err.msg, cases[i].msg);
		reconcile_doc_cleanup(&d);
	}
}

/* A fixture file (tests/fixtures/reconcile/, README.md there says where
 * each comes from), read whole; the caller frees it. */
static char *fixture(const char *name, size_t *len)
{
	char path[512];
	const char *slash = strrchr(__FILE__, '/');
	int dir = slash ? (int)(slash - __FILE__) : 0;
	FILE *f;
	char *buf;
	long n;

	/* __FILE__ is tests/unit/test_reconcile.c: its ../fixtures */
	snprintf(path, sizeof path, "%.*s%s../fixtures/reconcile/%s", dir, __FILE__, dir ? "/" : "",
	         name);
	f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void parse_fixture(int source, const char *name, struct reconcile_doc *d)
{
	struct tally_err err = {0};
	size_t len;
	char *text = fixture(name, &len);
	int rc = reconcile_parse(source, text, len, d, &err);
	free(text);
	if (rc != 0)
		fail_msg("%s: %s", name, err.msg);
}

/* The providers' own documented example answers, as published (the
 * fixtures' README): each read exactly. */
static void test_documented_openai_costs(void **state)
{
	struct reconcile_doc d;

	(void)state;
	/* one bucket, 2024-11-01; amount 0.06 USD, no line item, no project */
	parse_fixture(RECONCILE_OPENAI, "openai_costs_api_reference_example.json", &d);
	assert_false(d.usage);
	assert_int_equal(d.n, 1);
	assert_string_equal(d.period_start, "2024-11-01");
	assert_string_equal(d.period_end, "2024-11-02");
	assert_string_equal(d.lines[0].day, "2024-11-01");
	assert_string_equal(d.lines[0].provider, "openai");
	assert_true(d.lines[0].amount_pusd == INT64_C(60000000000));
	assert_string_equal(d.lines[0].model, "");
	assert_string_equal(d.lines[0].project, "");
	assert_string_equal(d.lines[0].line_item, "(all line items)");
	assert_int_equal(d.rounded, 0);
	reconcile_doc_cleanup(&d);
}

static void test_documented_openai_usage(void **state)
{
	struct reconcile_doc d;

	(void)state;
	/* 5 requests, 1000 input tokens (800 of them cached), 500 output; not
	 * grouped: no model, no project */
	parse_fixture(RECONCILE_OPENAI, "openai_usage_completions_api_reference_example.json", &d);
	assert_true(d.usage);
	assert_int_equal(d.n, 1);
	assert_string_equal(d.period_start, "2024-11-01");
	assert_string_equal(d.period_end, "2024-11-02");
	assert_string_equal(d.lines[0].day, "2024-11-01");
	assert_true(d.lines[0].requests == 5);
	assert_true(d.lines[0].input_tokens == 1000);
	assert_true(d.lines[0].output_tokens == 500);
	assert_true(d.lines[0].amount_pusd == 0);
	assert_string_equal(d.lines[0].model, "");
	assert_string_equal(d.lines[0].project, "");
	reconcile_doc_cleanup(&d);
}

static void test_documented_anthropic_cost(void **state)
{
	struct reconcile_doc d;

	(void)state;
	/* "123.78912" cents = $1.2378912 = 1,237,891,200,000 pico-USD */
	parse_fixture(RECONCILE_ANTHROPIC, "anthropic_cost_report_api_reference_example.json", &d);
	assert_false(d.usage);
	assert_int_equal(d.n, 1);
	assert_string_equal(d.period_start, "2025-08-01");
	assert_string_equal(d.period_end, "2025-08-02");
	assert_string_equal(d.lines[0].day, "2025-08-01");
	assert_string_equal(d.lines[0].provider, "anthropic");
	assert_true(d.lines[0].amount_pusd == INT64_C(1237891200000));
	assert_string_equal(d.lines[0].model, "claude-sonnet-4-20250514");
	assert_string_equal(d.lines[0].project, "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ");
	assert_non_null(strstr(d.lines[0].line_item, "Claude Sonnet 4 Usage - Input Tokens"));
	assert_int_equal(d.rounded, 0);
	reconcile_doc_cleanup(&d);
}

static void test_documented_anthropic_usage(void **state)
{
	struct reconcile_doc d;

	(void)state;
	/* input: 1500 uncached + 1000 (1h) + 500 (5m) cache writes + 200 cache
	 * reads = 3200, as tally counts input_tokens; 500 output; no request
	 * count in this report */
	parse_fixture(RECONCILE_ANTHROPIC,
	              "anthropic_usage_report_messages_api_reference_example.json", &d);
	assert_true(d.usage);
	assert_int_equal(d.n, 1);
	assert_string_equal(d.period_start, "2025-08-01");
	assert_string_equal(d.period_end, "2025-08-02");
	assert_string_equal(d.lines[0].day, "2025-08-01");
	assert_true(d.lines[0].requests == -1);
	assert_true(d.lines[0].input_tokens == 3200);
	assert_true(d.lines[0].output_tokens == 500);
	assert_string_equal(d.lines[0].model, "claude-sonnet-4-20250514");
	assert_string_equal(d.lines[0].project, "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ");
	reconcile_doc_cleanup(&d);
}

/* Real FOCUS rows: the FinOps Foundation's anonymised sample (AWS, Microsoft,
 * Oracle; FOCUS 1.0, every field quoted) has no LLM charge. The file is read
 * through (44 columns, "2024-09-23 19:00:00" times, negative amounts) and
 * refused for what it is: only other services. */
static void test_documented_focus_sample(void **state)
{
	struct reconcile_doc d;
	struct tally_err err = {0};
	size_t len;
	char *text = fixture("finops_focus_sample_1.0_excerpt.csv", &len);

	(void)state;
	assert_int_equal(reconcile_parse(RECONCILE_FOCUS, text, len, &d, &err), -1);
	free(text);
	assert_int_equal(d.n, 0);
	assert_int_equal(d.skipped, 8);
	assert_string_equal(err.msg,
	                    "the document has no charge tally reconciles: its 8 rows are other"
	                    " services (record 2: service \"Amazon Elastic Compute Cloud\" of AWS"
	                    " is not an LLM service tally reconciles)");
	reconcile_doc_cleanup(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_openai),
	    cmocka_unit_test(test_anthropic),
	    cmocka_unit_test(test_focus_models),
	    cmocka_unit_test(test_usage),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_documented_openai_costs),
	    cmocka_unit_test(test_documented_openai_usage),
	    cmocka_unit_test(test_documented_anthropic_cost),
	    cmocka_unit_test(test_documented_anthropic_usage),
	    cmocka_unit_test(test_documented_focus_sample),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
