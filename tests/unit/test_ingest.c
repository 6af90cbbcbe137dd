/* test_ingest.c - OTLP spans and LiteLLM payloads into call events
 * (ingest/), each result put through event_parse like every ingested event. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../common/event.h"
#include "../../ingest/ingest.h"

/* One span in OTLP/JSON with the given attributes (JSON array text). */
static char *otlp_json(const char *resource_attrs, const char *attrs)
{
	static char buf[8192];
	snprintf(buf, sizeof buf,
	         "{\"resourceSpans\":[{\"resource\":{\"attributes\":[%s]},\"scopeSpans\":[{"
	         "\"spans\":[{\"traceId\":\"5b8efff798038103d269b633813fc60c\","
	         "\"spanId\":\"eee19b7ec3c1b174\",\"name\":\"x\","
	         "\"startTimeUnixNano\":\"1544712660000000000\","
	         "\"endTimeUnixNano\":\"1544712661500000000\",\"attributes\":[%s]}]}]}]}",
	         resource_attrs, attrs);
	return buf;
}

#define S(k, v) "{\"key\":\"" k "\",\"value\":{\"stringValue\":\"" v "\"}}"
#define I(k, v) "{\"key\":\"" k "\",\"value\":{\"intValue\":\"" v "\"}}"
#define GENAI                                                                                      \
	S("gen_ai.operation.name", "chat")                                                         \
	"," S("gen_ai.provider.name", "aws.bedrock") "," S(                                        \
	    "gen_ai.request.model",                                                                \
	    "anthropic.claude-3-haiku") "," I("gen_ai.usage.input_tokens",                         \
	                                      "100") "," I("gen_ai.usage.output_tokens", "20")

static void convert_one(const char *json, const char *map_spec, struct event *ev, size_t *skipped)
{
	struct otlp_map map;
	struct ingest_result r;
	struct tally_err err = {0};

	assert_int_equal(otlp_map_parse(map_spec, &map, &err), 0);
	assert_int_equal(otlp_convert(json, strlen(json), OTLP_JSON, &map, &r, &err), 0);
	*skipped = r.skipped;
	if (ev) {
		assert_int_equal(r.n, 1);
		assert_non_null(r.items[0].text);
		assert_int_equal(event_parse(r.items[0].text, r.items[0].len, EVENT_CALL, ev, &err),
		                 0);
	}
	ingest_result_cleanup(&r);
}

static void test_otlp_span(void **state)
{
	struct event ev;
	size_t skipped;
	(void)state;

	convert_one(otlp_json(S("service.name", "svc") "," S("tally.team", "research"), GENAI),
	            NULL, &ev, &skipped);
	assert_string_equal(ev.u.call.event_id,
	                    "5b8efff798038103d269b633813fc60c-eee19b7ec3c1b174");
	assert_string_equal(ev.u.call.team, "research");
	assert_string_equal(ev.u.call.workflow, "svc");
	assert_string_equal(ev.u.call.task_type, "chat");
	assert_string_equal(ev.u.call.provider, "bedrock");
	assert_int_equal(ev.u.call.input_tokens, 100);
	assert_int_equal(ev.u.call.output_tokens, 20);
	assert_int_equal(ev.u.call.latency_ms, 1500);
	assert_int_equal(ev.u.call.ts_us, INT64_C(1544712660000000));
}

static void test_otlp_map(void **state)
{
	struct event ev;
	size_t skipped;
	struct otlp_map m;
	struct tally_err err = {0};
	(void)state;

	convert_one(otlp_json(S("service.name", "svc"), GENAI "," S("app.flow", "f1")),
	            "team='platform';workflow=app.flow", &ev, &skipped);
	assert_string_equal(ev.u.call.team, "platform");
	assert_string_equal(ev.u.call.workflow, "f1");
	assert_int_equal(otlp_map_parse("colour=x", &m, &err), -1);
	assert_non_null(strstr(err.msg, "unknown field"));
}

static void test_otlp_skipped(void **state)
{
	size_t skipped;
	(void)state;

	convert_one(otlp_json("", S("http.request.method", "GET")), NULL, NULL, &skipped);
	assert_int_equal(skipped, 1);
	convert_one(
	    otlp_json(S("tally.team", "t"), S("gen_ai.operation.name", "invoke_agent") "," S(
	                                        "gen_ai.provider.name",
	                                        "openai") "," S("gen_ai.request.model", "gpt-4o")),
	    NULL, NULL, &skipped);
	assert_int_equal(skipped, 1);
}

static void test_otlp_bad(void **state)
{
	struct otlp_map map;
	struct ingest_result r;
	struct tally_err err = {0};
	(void)state;

	assert_int_equal(otlp_map_parse(NULL, &map, &err), 0);
	assert_int_equal(otlp_convert("\x0a\xff", 2, OTLP_PROTOBUF, &map, &r, &err), -1);
	ingest_result_cleanup(&r);
	assert_int_equal(otlp_convert("[1]", 3, OTLP_JSON, &map, &r, &err), -1);
	ingest_result_cleanup(&r);
}

static const char litellm_payload[] =
    "{\"id\":\"p1\",\"call_type\":\"acompletion\",\"status\":\"success\","
    "\"response_cost\":%s,\"prompt_tokens\":10,\"completion_tokens\":2,"
    "\"startTime\":1793869200.5,\"endTime\":1793869201.0,\"model\":\"openai/gpt-4o-mini\","
    "\"custom_llm_provider\":\"openai\",\"metadata\":{\"user_api_key_team_alias\":\"t\"}}";

static void test_litellm_cost_text(void **state)
{
	static const struct {
		const char *json, *pusd;
	} cases[] = {{"1.5e-05", "15000000"},
	             {"0.000183", "183000000"},
	             {"2", "2000000000000"},
	             {"1.25E+1", "12500000000000"},
	             {"0", "0"},
	             {"3.0e-12", "3"},
	             {"0.0123456789012", "12345678901"}};
	(void)state;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char body[1024];
		struct ingest_result r;
		struct tally_err err = {0};
		struct event ev;
		char got[32];

		snprintf(body, sizeof body, litellm_payload, cases[i].json);
		assert_int_equal(litellm_convert(body, strlen(body), "", &r, &err), 0);
		assert_int_equal(r.n, 1);
		assert_int_equal(
		    event_parse(r.items[0].text, r.items[0].len, EVENT_CALL, &ev, &err), 0);
		snprintf(got, sizeof got, "%lld", (long long)ev.u.call.provider_cost_pusd);
		assert_string_equal(got, cases[i].pusd);
		assert_string_equal(ev.u.call.model, "gpt-4o-mini");
		ingest_result_cleanup(&r);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_otlp_span),         cmocka_unit_test(test_otlp_map),
	    cmocka_unit_test(test_otlp_skipped),      cmocka_unit_test(test_otlp_bad),
	    cmocka_unit_test(test_litellm_cost_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
