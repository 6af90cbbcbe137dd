/* test_event.c - parsing and validation of call, outcome and feedback events. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>
#include <pthread.h>

#include "../../common/event.h"
#include "event_ref.c" /* the parser before common/jread.c, to compare with */

/* The call of docs/events.md (prompt_hash shortened to plain ASCII). */
static const char base_call[] =
    "{\"event_id\":\"c0a8012e-7f3b-4d1a-9a51-2b1f0e6d9c11\","
    "\"ts\":\"2026-11-01T12:00:00.123Z\",\"team\":\"support\",\"workflow\":\"ticket-triage\","
    "\"task_type\":\"classify\","
    "\"outcome_id\":\"TICKET-4411\",\"provider\":\"openai\",\"model\":\"gpt-4o-mini\","
    "\"tier\":\"small\",\"usage\":{\"input_tokens\":812,\"output_tokens\":96,"
    "\"cache_read_tokens\":512,\"cache_write_tokens\":0,\"reasoning_tokens\":0},"
    "\"batch\":false,\"latency_ms\":640,\"status\":\"ok\",\"cache_hit\":false,\"local\":false,"
    "\"prompt_hash\":\"9f2c\",\"quality\":0.92,\"provider_cost_usd\":\"0.000183\","
    "\"tags\":{\"env\":\"prod\"}}";

/* Only the required fields. */
static const char min_call[] =
    "{\"event_id\":\"e1\",\"ts\":\"2026-11-01T12:00:00Z\",\"team\":\"support\","
    "\"workflow\":\"triage\",\"task_type\":\"classify\",\"provider\":\"openai\","
    "\"model\":\"gpt-4o-mini\",\"usage\":{\"input_tokens\":10,\"output_tokens\":2}}";

static const char base_outcome[] =
    "{\"outcome_id\":\"TICKET-4411\",\"ts\":\"2026-11-01T12:00:00Z\",\"team\":\"support\","
    "\"workflow\":\"ticket-triage\",\"kind\":\"ticket_resolved\",\"success\":true,"
    "\"value_usd\":\"12.50\"}";

static const char base_feedback[] =
    "{\"event_id\":\"c0a8012e-7f3b-4d1a-9a51-2b1f0e6d9c11\",\"ts\":\"2026-11-01T12:00:00Z\","
    "\"score\":0.0,\"source\":\"human\"}";

#define TS_NOON   INT64_C(1793534400000000) /* 2026-11-01T12:00:00Z */
#define PUSD(usd) ((int64_t)(usd)*PUSD_PER_USD)

/* event_parse, after checking that it reads buf as the reference parser
 * (event_ref.c) does: every case of this file is a case of the comparison. */
static int parse_checked(const char *buf, size_t len, int expect, struct event *ev,
                         struct tally_err *err)
{
	char why[800];
	const char *diff = event_same(buf, len, expect, why, sizeof why);

	if (diff)
		print_error("%s\n", diff);
	assert_null(diff);
	return event_parse(buf, len, expect, ev, err);
}

/* event_detect_kind, checked likewise */
static int detect_checked(const char *buf, size_t len)
{
	assert_int_equal(event_detect_kind(buf, len), ref_event_detect_kind(buf, len));
	return event_detect_kind(buf, len);
}

static int parse_str(const char *json, int expect, struct event *ev, struct tally_err *err)
{
	tally_err_clear(err);
	return parse_checked(json, strlen(json), expect, ev, err);
}

/* Returns base with the member at a dotted path replaced by the JSON text raw,
 * or removed when raw is NULL. Free the result with free(). */
static char *with_member(const char *base, const char *path, const char *raw)
{
	cJSON *root = cJSON_Parse(base), *obj = root;
	char key[128], *dot, *out;

	assert_non_null(root);
	assert_true(strlen(path) < sizeof key);
	strcpy(key, path);
	char *k = key;
	while ((dot = strchr(k, '.'))) {
		*dot = '\0';
		obj = cJSON_GetObjectItemCaseSensitive(obj, k);
		assert_non_null(obj);
		k = dot + 1;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(obj, k);
	if (raw) {
		cJSON *v = cJSON_Parse(raw);
		assert_non_null(v);
		cJSON_AddItemToObject(obj, k, v);
	}
	out = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	assert_non_null(out);
	return out;
}

/* A JSON string literal of n copies of 'a'. Free with free(). */
static char *long_string(size_t n)
{
	char *s = malloc(n + 3);

	assert_non_null(s);
	s[0] = '"';
	memset(s + 1, 'a', n);
	s[n + 1] = '"';
	s[n + 2] = '\0';
	return s;
}

/* ---- calls: the four usage shapes ---------------------------------------- */

/* Usage objects as the providers' API references and guides show them. */
static void test_call_usage_shapes(void **state)
{
	static const struct {
		const char *name;
		const char *usage;
		enum usage_shape shape;
		int64_t in, out, cache_read, cache_write, reasoning;
	} cases[] = {
	    /* OpenAI Chat Completions, the chat completion object example. */
	    {"openai chat",
	     "{\"prompt_tokens\":19,\"completion_tokens\":10,\"total_tokens\":29,"
	     "\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},"
	     "\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,"
	     "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}",
	     USAGE_OPENAI, 19, 10, 0, 0, 0},
	    /* OpenAI Chat Completions with a prompt-cache hit (prompt caching guide). */
	    {"openai chat cached",
	     "{\"prompt_tokens\":2006,\"completion_tokens\":300,\"total_tokens\":2306,"
	     "\"prompt_tokens_details\":{\"cached_tokens\":1920},"
	     "\"completion_tokens_details\":{\"reasoning_tokens\":0,"
	     "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}",
	     USAGE_OPENAI, 2006, 300, 1920, 0, 0},
	    /* Older responses and compatible servers: details absent or null. */
	    {"openai chat no details",
	     "{\"prompt_tokens\":9,\"completion_tokens\":12,\"total_tokens\":21}", USAGE_OPENAI, 9,
	     12, 0, 0, 0},
	    {"openai chat null details",
	     "{\"prompt_tokens\":9,\"completion_tokens\":12,\"prompt_tokens_details\":null,"
	     "\"completion_tokens_details\":null}",
	     USAGE_OPENAI, 9, 12, 0, 0, 0},
	    /* OpenAI Responses API, the response object example. */
	    {"openai responses",
	     "{\"input_tokens\":36,\"input_tokens_details\":{\"cached_tokens\":0},"
	     "\"output_tokens\":87,\"output_tokens_details\":{\"reasoning_tokens\":0},"
	     "\"total_tokens\":123}",
	     USAGE_OPENAI_RESPONSES, 36, 87, 0, 0, 0},
	    /* OpenAI Responses API with a reasoning model (reasoning guide). */
	    {"openai responses reasoning",
	     "{\"input_tokens\":75,\"input_tokens_details\":{\"cached_tokens\":0},"
	     "\"output_tokens\":1186,\"output_tokens_details\":{\"reasoning_tokens\":1024},"
	     "\"total_tokens\":1261}",
	     USAGE_OPENAI_RESPONSES, 75, 1186, 0, 0, 1024},
	    {"openai responses cached",
	     "{\"input_tokens\":5000,\"input_tokens_details\":{\"cached_tokens\":4864},"
	     "\"output_tokens\":40}",
	     USAGE_OPENAI_RESPONSES, 5000, 40, 4864, 0, 0},
	    /* Anthropic Messages, the message object example (all current fields). */
	    {"anthropic",
	     "{\"cache_creation\":{\"ephemeral_1h_input_tokens\":0,"
	     "\"ephemeral_5m_input_tokens\":0},\"cache_creation_input_tokens\":2051,"
	     "\"cache_read_input_tokens\":2051,\"input_tokens\":2095,\"output_tokens\":503,"
	     "\"server_tool_use\":{\"web_search_requests\":0},\"service_tier\":\"standard\"}",
	     USAGE_ANTHROPIC, 2095 + 2051 + 2051, 503, 2051, 2051, 0},
	    /* Anthropic prompt caching guide: the first request writes the cache... */
	    {"anthropic cache write",
	     "{\"input_tokens\":21,\"cache_creation_input_tokens\":188086,"
	     "\"cache_read_input_tokens\":0,\"output_tokens\":393}",
	     USAGE_ANTHROPIC, 188107, 393, 0, 188086, 0},
	    /* ... and the next one reads it. */
	    {"anthropic cache read",
	     "{\"input_tokens\":21,\"cache_creation_input_tokens\":0,"
	     "\"cache_read_input_tokens\":188086,\"output_tokens\":393}",
	     USAGE_ANTHROPIC, 188107, 393, 188086, 0, 0},
	    {"anthropic nulls",
	     "{\"input_tokens\":12,\"cache_creation_input_tokens\":null,"
	     "\"cache_read_input_tokens\":null,\"output_tokens\":6}",
	     USAGE_ANTHROPIC, 12, 6, 0, 0, 0},
	    /* Anthropic without cache fields: same meaning as tally's shape. */
	    {"anthropic plain", "{\"input_tokens\":2095,\"output_tokens\":503}", USAGE_TALLY, 2095,
	     503, 0, 0, 0},
	    {"tally",
	     "{\"input_tokens\":812,\"output_tokens\":96,\"cache_read_tokens\":512,"
	     "\"cache_write_tokens\":0,\"reasoning_tokens\":0}",
	     USAGE_TALLY, 812, 96, 512, 0, 0},
	    {"tally all parts",
	     "{\"input_tokens\":1000,\"output_tokens\":500,\"cache_read_tokens\":600,"
	     "\"cache_write_tokens\":400,\"reasoning_tokens\":500}",
	     USAGE_TALLY, 1000, 500, 600, 400, 500},
	    {"tally zero", "{\"input_tokens\":0,\"output_tokens\":0}", USAGE_TALLY, 0, 0, 0, 0, 0},
	    {"tally limit", "{\"input_tokens\":1000000000,\"output_tokens\":1e9}", USAGE_TALLY,
	     1000000000, 1000000000, 0, 0, 0},
	    {"tally integral float", "{\"input_tokens\":812.0,\"output_tokens\":9.6e1}",
	     USAGE_TALLY, 812, 96, 0, 0, 0},
	    {"anthropic at limit",
	     "{\"input_tokens\":400000000,\"cache_creation_input_tokens\":300000000,"
	     "\"cache_read_input_tokens\":300000000,\"output_tokens\":1}",
	     USAGE_ANTHROPIC, 1000000000, 1, 300000000, 300000000, 0},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct event ev;
		struct tally_err err;
		char *json = with_member(min_call, "usage", cases[i].usage);
		int rc = parse_str(json, -1, &ev, &err);

		if (rc != 0)
			print_error("case %s: %s\n", cases[i].name, err.msg);
		assert_int_equal(rc, 0);
		assert_int_equal(ev.kind, EVENT_CALL);
		assert_int_equal(ev.u.call.usage_shape, cases[i].shape);
		assert_int_equal(ev.u.call.input_tokens, cases[i].in);
		assert_int_equal(ev.u.call.output_tokens, cases[i].out);
		assert_int_equal(ev.u.call.cache_read_tokens, cases[i].cache_read);
		assert_int_equal(ev.u.call.cache_write_tokens, cases[i].cache_write);
		assert_int_equal(ev.u.call.reasoning_tokens, cases[i].reasoning);
		free(json);
	}
}

/* Every field of the DESIGN example lands where it belongs. */
static void test_call_all_fields(void **state)
{
	struct event ev;
	struct tally_err err;
	const struct call_event *c = &ev.u.call;

	(void)state;
	assert_int_equal(parse_str(base_call, -1, &ev, &err), 0);
	assert_int_equal(ev.kind, EVENT_CALL);
	assert_string_equal(c->event_id, "c0a8012e-7f3b-4d1a-9a51-2b1f0e6d9c11");
	assert_int_equal(c->ts_us, TS_NOON + 123000);
	assert_string_equal(c->team, "support");
	assert_string_equal(c->workflow, "ticket-triage");
	assert_string_equal(c->task_type, "classify");
	assert_string_equal(c->outcome_id, "TICKET-4411");
	assert_string_equal(c->provider, "openai");
	assert_string_equal(c->model, "gpt-4o-mini");
	assert_string_equal(c->tier, "small");
	assert_int_equal(c->usage_shape, USAGE_TALLY);
	assert_int_equal(c->input_tokens, 812);
	assert_int_equal(c->output_tokens, 96);
	assert_int_equal(c->cache_read_tokens, 512);
	assert_int_equal(c->cache_write_tokens, 0);
	assert_int_equal(c->reasoning_tokens, 0);
	assert_false(c->batch);
	assert_false(c->cache_hit);
	assert_false(c->local);
	assert_int_equal(c->latency_ms, 640);
	assert_int_equal(c->status, CALL_OK);
	assert_string_equal(c->prompt_hash, "9f2c");
	assert_true(c->has_quality);
	assert_true(c->quality == 0.92);
	assert_true(c->has_provider_cost);
	assert_int_equal(c->provider_cost_pusd, 183000000);
	assert_string_equal(c->tags, "{\"env\":\"prod\"}");

	/* The same with expect = EVENT_CALL. */
	assert_int_equal(parse_str(base_call, EVENT_CALL, &ev, &err), 0);
	assert_int_equal(c->provider_cost_pusd, 183000000);
}

static void test_call_defaults(void **state)
{
	struct event ev;
	struct tally_err err;
	const struct call_event *c = &ev.u.call;

	(void)state;
	memset(&ev, 0x5a, sizeof ev);
	assert_int_equal(parse_str(min_call, -1, &ev, &err), 0);
	assert_int_equal(ev.kind, EVENT_CALL);
	assert_int_equal(c->ts_us, TS_NOON);
	assert_string_equal(c->outcome_id, "");
	assert_string_equal(c->tier, "");
	assert_string_equal(c->prompt_hash, "");
	assert_string_equal(c->tags, "");
	assert_int_equal(c->cache_read_tokens, 0);
	assert_int_equal(c->cache_write_tokens, 0);
	assert_int_equal(c->reasoning_tokens, 0);
	assert_false(c->batch);
	assert_false(c->cache_hit);
	assert_false(c->local);
	assert_int_equal(c->status, CALL_OK);
	assert_int_equal(c->latency_ms, -1);
	assert_false(c->has_quality);
	assert_false(c->has_provider_cost);
	assert_int_equal(c->provider_cost_pusd, 0);
}

/* Optional fields one at a time, on top of the minimal call. */
static void test_call_optional(void **state)
{
	static const struct {
		const char *path, *raw;
		/* what to check: */
		enum call_status status;
		int64_t latency_ms, cost_pusd, ts_us;
		bool has_cost, batch, cache_hit, local;
		const char *tier, *tags;
	} cases[] = {
	    {"status", "\"error\"", CALL_ERROR, -1, 0, TS_NOON, false, false, false, false, "", ""},
	    {"status", "\"timeout\"", CALL_TIMEOUT, -1, 0, TS_NOON, false, false, false, false, "",
	     ""},
	    {"status", "\"cancelled\"", CALL_CANCELLED, -1, 0, TS_NOON, false, false, false, false,
	     "", ""},
	    {"status", "null", CALL_OK, -1, 0, TS_NOON, false, false, false, false, "", ""},
	    {"latency_ms", "0", CALL_OK, 0, 0, TS_NOON, false, false, false, false, "", ""},
	    {"latency_ms", "86400000", CALL_OK, 86400000, 0, TS_NOON, false, false, false, false,
	     "", ""},
	    {"provider_cost_usd", "\"0.000183\"", CALL_OK, -1, 183000000, TS_NOON, true, false,
	     false, false, "", ""},
	    {"provider_cost_usd", "\"1.5e-07\"", CALL_OK, -1, 150000, TS_NOON, true, false, false,
	     false, "", ""},
	    {"provider_cost_usd", "\"0\"", CALL_OK, -1, 0, TS_NOON, true, false, false, false, "",
	     ""},
	    {"provider_cost_usd", "\"9000000\"", CALL_OK, -1, PUSD(9000000), TS_NOON, true, false,
	     false, false, "", ""},
	    /* A JSON number goes through "%.15g": fine for amounts people write. */
	    {"provider_cost_usd", "0.000183", CALL_OK, -1, 183000000, TS_NOON, true, false, false,
	     false, "", ""},
	    {"provider_cost_usd", "1.5e-7", CALL_OK, -1, 150000, TS_NOON, true, false, false, false,
	     "", ""},
	    {"provider_cost_usd", "null", CALL_OK, -1, 0, TS_NOON, false, false, false, false, "",
	     ""},
	    {"batch", "true", CALL_OK, -1, 0, TS_NOON, false, true, false, false, "", ""},
	    {"cache_hit", "true", CALL_OK, -1, 0, TS_NOON, false, false, true, false, "", ""},
	    {"local", "true", CALL_OK, -1, 0, TS_NOON, false, false, false, true, "", ""},
	    {"tier", "\"frontier\"", CALL_OK, -1, 0, TS_NOON, false, false, false, false,
	     "frontier", ""},
	    {"tier", "null", CALL_OK, -1, 0, TS_NOON, false, false, false, false, "", ""},
	    {"tags", "{\"env\": \"prod\", \"n\": 3, \"canary\": true}", CALL_OK, -1, 0, TS_NOON,
	     false, false, false, false, "", "{\"env\":\"prod\",\"n\":3,\"canary\":true}"},
	    {"tags", "{}", CALL_OK, -1, 0, TS_NOON, false, false, false, false, "", "{}"},
	    {"ts", "\"2026-11-01T14:00:00+02:00\"", CALL_OK, -1, 0, TS_NOON, false, false, false,
	     false, "", ""},
	    {"ts", "\"2026-11-01t12:00:00.000001z\"", CALL_OK, -1, 0, TS_NOON + 1, false, false,
	     false, false, "", ""},
	    {"ts", "\"2026-11-01T12:00:00.123456789Z\"", CALL_OK, -1, 0, TS_NOON + 123456, false,
	     false, false, false, "", ""},
	    {"ts", "\"2024-02-29T00:00:00Z\"", CALL_OK, -1, 0, INT64_C(1709164800000000), false,
	     false, false, false, "", ""},
	    {"ts", "\"2000-01-01T00:00:00Z\"", CALL_OK, -1, 0, INT64_C(946684800000000), false,
	     false, false, false, "", ""},
	    {"ts", "\"2099-12-31T23:59:59Z\"", CALL_OK, -1, 0, INT64_C(4102444799000000), false,
	     false, false, false, "", ""},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct event ev;
		struct tally_err err;
		const struct call_event *c = &ev.u.call;
		char *json = with_member(min_call, cases[i].path, cases[i].raw);
		int rc = parse_str(json, -1, &ev, &err);

		if (rc != 0)
			print_error("case %zu %s=%s: %s\n", i, cases[i].path, cases[i].raw,
			            err.msg);
		assert_int_equal(rc, 0);
		assert_int_equal(c->status, cases[i].status);
		assert_int_equal(c->latency_ms, cases[i].latency_ms);
		assert_int_equal(c->has_provider_cost, cases[i].has_cost);
		assert_int_equal(c->provider_cost_pusd, cases[i].cost_pusd);
		assert_int_equal(c->ts_us, cases[i].ts_us);
		assert_int_equal(c->batch, cases[i].batch);
		assert_int_equal(c->cache_hit, cases[i].cache_hit);
		assert_int_equal(c->local, cases[i].local);
		assert_string_equal(c->tier, cases[i].tier);
		assert_string_equal(c->tags, cases[i].tags);
		free(json);
	}
}

static void test_call_quality(void **state)
{
	static const struct {
		const char *raw;
		double want;
	} cases[] = {{"0", 0.0}, {"1", 1.0}, {"0.92", 0.92}, {"1e-3", 0.001}};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct event ev;
		struct tally_err err;
		char *json = with_member(min_call, "quality", cases[i].raw);

		assert_int_equal(parse_str(json, -1, &ev, &err), 0);
		assert_true(ev.u.call.has_quality);
		assert_true(ev.u.call.quality == cases[i].want);
		free(json);
	}
}

/* Strings exactly at their limit are accepted. */
static void test_call_string_limits(void **state)
{
	static const struct {
		const char *key;
		size_t max;
	} cases[] = {
	    {"event_id", EVENT_ID_MAX},      {"team", EVENT_NAME_MAX},
	    {"workflow", EVENT_NAME_MAX},    {"task_type", EVENT_NAME_MAX},
	    {"provider", EVENT_NAME_MAX},    {"model", EVENT_MODEL_MAX},
	    {"tier", EVENT_TIER_MAX},        {"outcome_id", EVENT_ID_MAX},
	    {"prompt_hash", EVENT_NAME_MAX},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct event ev;
		struct tally_err err;
		char *s = long_string(cases[i].max);
		char *json = with_member(min_call, cases[i].key, s);

		assert_int_equal(parse_str(json, -1, &ev, &err), 0);
		free(json);
		free(s);
	}
}

/* ---- calls: bad input ------------------------------------------------------ */

struct bad_case {
	const char *path; /* dotted member to change */
	const char *raw;  /* its new JSON value, NULL to remove it */
	int expect;
	const char *msg; /* the exact error message */
};

static void run_bad(const char *base, const struct bad_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct event ev;
		struct tally_err err;
		char *json = with_member(base, cases[i].path, cases[i].raw);
		int rc = parse_str(json, cases[i].expect, &ev, &err);

		if (rc != -1 || strcmp(err.msg, cases[i].msg) != 0)
			print_error("case %zu %s=%s\n  got:  %s\n  want: %s\n", i, cases[i].path,
			            cases[i].raw ? cases[i].raw : "(removed)",
			            rc == 0 ? "(success)" : err.msg, cases[i].msg);
		assert_int_equal(rc, -1);
		assert_int_equal(err.code, TALLY_EINVAL);
		assert_false(err.retriable);
		assert_string_equal(err.msg, cases[i].msg);
		/* The message names the field it is about. */
		const char *field = strrchr(cases[i].path, '.');
		assert_non_null(strstr(err.msg, field ? field + 1 : cases[i].path));
		free(json);
	}
}

static void test_call_missing(void **state)
{
	static const struct bad_case cases[] = {
	    {"event_id", NULL, -1, "missing required field \"event_id\" (string)"},
	    {"ts", NULL, -1,
	     "missing required field \"ts\" (RFC 3339 timestamp, e.g. 2026-11-01T12:00:00Z)"},
	    {"team", NULL, -1, "missing required field \"team\" (string)"},
	    {"workflow", NULL, -1, "missing required field \"workflow\" (string)"},
	    {"task_type", NULL, -1, "missing required field \"task_type\" (string)"},
	    {"provider", NULL, -1, "missing required field \"provider\" (string)"},
	    {"model", NULL, -1, "missing required field \"model\" (string)"},
	    {"model", NULL, EVENT_CALL, "missing required field \"model\" (string)"},
	    {"usage", NULL, -1,
	     "missing required field \"usage\" (object with input_tokens and output_tokens)"},
	    {"usage.input_tokens", NULL, -1,
	     "missing required field \"usage.input_tokens\" (integer 0..1000000000)"},
	    {"usage.output_tokens", NULL, -1,
	     "missing required field \"usage.output_tokens\" (integer 0..1000000000)"},
	    {"team", "null", -1, "team must be a non-empty string, got null"},
	    {"team", "\"\"", -1, "team must be a non-empty string, got \"\""},
	    {"event_id", "\"\"", -1, "event_id must be a non-empty string, got \"\""},
	    {"usage.input_tokens", "null", -1,
	     "missing required field \"usage.input_tokens\" (integer 0..1000000000)"},
	};
	(void)state;
	run_bad(base_call, cases, sizeof cases / sizeof cases[0]);
}

static void test_call_wrong_type(void **state)
{
	static const struct bad_case cases[] = {
	    {"event_id", "42", -1, "event_id must be a string, got 42"},
	    {"team", "true", -1, "team must be a string, got true"},
	    {"workflow", "{\"a\":1}", -1, "workflow must be a string, got an object"},
	    {"model", "[\"gpt-4o\"]", -1, "model must be a string, got an array"},
	    {"tier", "3", -1, "tier must be a string, got 3"},
	    {"outcome_id", "false", -1, "outcome_id must be a string, got false"},
	    {"usage", "\"812/96\"", -1, "usage must be an object, got a string \"812/96\""},
	    {"usage", "[812,96]", -1, "usage must be an object, got an array"},
	    {"usage.input_tokens", "\"812\"", -1,
	     "usage.input_tokens must be an integer 0..1000000000, got a string \"812\""},
	    {"usage.output_tokens", "true", -1,
	     "usage.output_tokens must be an integer 0..1000000000, got true"},
	    {"usage.cache_read_tokens", "[]", -1,
	     "usage.cache_read_tokens must be an integer 0..1000000000, got an array"},
	    {"batch", "\"yes\"", -1, "batch must be true or false, got a string \"yes\""},
	    {"cache_hit", "1", -1, "cache_hit must be true or false, got 1"},
	    {"local", "\"false\"", -1, "local must be true or false, got a string \"false\""},
	    {"latency_ms", "\"640\"", -1,
	     "latency_ms must be an integer 0..86400000, got a string \"640\""},
	    {"status", "0", -1, "status must be one of ok, error, timeout, cancelled, got 0"},
	    {"prompt_hash", "{}", -1, "prompt_hash must be a string, got an object"},
	    {"quality", "\"high\"", -1, "quality must be a number 0..1, got a string \"high\""},
	    {"quality", "true", -1, "quality must be a number 0..1, got true"},
	    {"provider_cost_usd", "true", -1,
	     "provider_cost_usd must be a decimal string such as \"0.000183\", got true"},
	    {"tags", "\"env=prod\"", -1,
	     "tags must be an object of strings, numbers or booleans, got a string "
	     "\"env=prod\""},
	    {"tags", "[\"prod\"]", -1,
	     "tags must be an object of strings, numbers or booleans, got an array"},
	    {"tags", "{\"env\":\"prod\",\"owner\":{\"team\":\"x\"}}", -1,
	     "tags.owner must be a string, number or boolean, got an object"},
	    {"tags", "{\"ids\":[1,2]}", -1,
	     "tags.ids must be a string, number or boolean, got an array"},
	    {"tags", "{\"x\":null}", -1, "tags.x must be a string, number or boolean, got null"},
	};
	(void)state;
	run_bad(base_call, cases, sizeof cases / sizeof cases[0]);
}

static void test_call_bad_numbers(void **state)
{
	static const struct bad_case cases[] = {
	    {"usage.input_tokens", "-5", -1,
	     "usage.input_tokens must be an integer 0..1000000000, got -5"},
	    {"usage.output_tokens", "-1", -1,
	     "usage.output_tokens must be an integer 0..1000000000, got -1"},
	    {"usage.input_tokens", "1000000001", -1,
	     "usage.input_tokens must be an integer 0..1000000000, got 1000000001"},
	    {"usage.input_tokens", "1e12", -1,
	     "usage.input_tokens must be an integer 0..1000000000, got 1000000000000"},
	    {"usage.input_tokens", "812.5", -1,
	     "usage.input_tokens must be an integer 0..1000000000, got 812.5"},
	    {"usage.output_tokens", "0.1", -1,
	     "usage.output_tokens must be an integer 0..1000000000, got 0.1"},
	    {"usage.cache_read_tokens", "-512", -1,
	     "usage.cache_read_tokens must be an integer 0..1000000000, got -512"},
	    {"usage.cache_write_tokens", "2.5", -1,
	     "usage.cache_write_tokens must be an integer 0..1000000000, got 2.5"},
	    {"usage.reasoning_tokens", "9999999999", -1,
	     "usage.reasoning_tokens must be an integer 0..1000000000, got 9999999999"},
	    {"latency_ms", "-1", -1, "latency_ms must be an integer 0..86400000, got -1"},
	    {"latency_ms", "86400001", -1,
	     "latency_ms must be an integer 0..86400000, got 86400001"},
	    {"latency_ms", "640.5", -1, "latency_ms must be an integer 0..86400000, got 640.5"},
	    {"quality", "1.5", -1, "quality must be a number 0..1, got 1.5"},
	    {"quality", "-0.1", -1, "quality must be a number 0..1, got -0.1"},
	    {"provider_cost_usd", "\"-0.01\"", -1,
	     "provider_cost_usd must be a decimal amount of USD between 0 and 9000000 such as "
	     "\"0.000183\", got a string \"-0.01\""},
	    {"provider_cost_usd", "\"$0.01\"", -1,
	     "provider_cost_usd must be a decimal amount of USD between 0 and 9000000 such as "
	     "\"0.000183\", got a string \"$0.01\""},
	    {"provider_cost_usd", "\"\"", -1,
	     "provider_cost_usd must be a decimal amount of USD between 0 and 9000000 such as "
	     "\"0.000183\", got a string \"\""},
	    {"provider_cost_usd", "\"9000000.000000000001\"", -1,
	     "provider_cost_usd must be a decimal amount of USD between 0 and 9000000 such as "
	     "\"0.000183\", got a string \"9000000.000000000001\""},
	    {"provider_cost_usd", "\"1e30\"", -1,
	     "provider_cost_usd must be a decimal amount of USD between 0 and 9000000 such as "
	     "\"0.000183\", got a string \"1e30\""},
	    {"provider_cost_usd", "-3", -1,
	     "provider_cost_usd must be a decimal amount of USD between 0 and 9000000 such as "
	     "\"0.000183\", got -3"},
	};
	(void)state;
	run_bad(base_call, cases, sizeof cases / sizeof cases[0]);
}

static void test_call_bad_ts(void **state)
{
	static const struct bad_case cases[] = {
	    {"ts", "\"2026-13-01\"", -1,
	     "ts \"2026-13-01\" is not an RFC 3339 timestamp (e.g. 2026-11-01T12:00:00Z)"},
	    {"ts", "\"2026-11-01\"", -1,
	     "ts \"2026-11-01\" is not an RFC 3339 timestamp (e.g. 2026-11-01T12:00:00Z)"},
	    {"ts", "\"2026-11-01T12:00:00\"", -1,
	     "ts \"2026-11-01T12:00:00\" is not an RFC 3339 timestamp (e.g. "
	     "2026-11-01T12:00:00Z)"},
	    {"ts", "\"2026-02-29T12:00:00Z\"", -1,
	     "ts \"2026-02-29T12:00:00Z\" is not an RFC 3339 timestamp (e.g. "
	     "2026-11-01T12:00:00Z)"},
	    {"ts", "\"2026-11-01T24:00:00Z\"", -1,
	     "ts \"2026-11-01T24:00:00Z\" is not an RFC 3339 timestamp (e.g. "
	     "2026-11-01T12:00:00Z)"},
	    {"ts", "\"2026-11-01T12:00:00Z junk\"", -1,
	     "ts \"2026-11-01T12:00:00Z junk\" is not an RFC 3339 timestamp (e.g. "
	     "2026-11-01T12:00:00Z)"},
	    {"ts", "\"yesterday\"", -1,
	     "ts \"yesterday\" is not an RFC 3339 timestamp (e.g. 2026-11-01T12:00:00Z)"},
	    {"ts", "\"\"", -1, "ts \"\" is not an RFC 3339 timestamp (e.g. 2026-11-01T12:00:00Z)"},
	    {"ts", "1793534400", -1,
	     "ts must be an RFC 3339 timestamp string (e.g. 2026-11-01T12:00:00Z), got "
	     "1793534400"},
	    {"ts", "null", -1,
	     "missing required field \"ts\" (RFC 3339 timestamp, e.g. 2026-11-01T12:00:00Z)"},
	    {"ts", "\"1999-12-31T23:59:59Z\"", -1,
	     "ts \"1999-12-31T23:59:59Z\" is outside the years 2000..2099 (UTC)"},
	    {"ts", "\"2100-01-01T00:00:00Z\"", -1,
	     "ts \"2100-01-01T00:00:00Z\" is outside the years 2000..2099 (UTC)"},
	    {"ts", "\"0001-01-01T00:00:00Z\"", -1,
	     "ts \"0001-01-01T00:00:00Z\" is outside the years 2000..2099 (UTC)"},
	    /* Long junk is quoted in part only, so the message stays one short line. */
	    {"ts", "\"2026-11-01T12:00:00Zxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"",
	     -1,
	     "ts \"2026-11-01T12:00:00Zxxxxxxxxxxxxxxxxxxxxxxxxxxxx...\" is not an RFC 3339 "
	     "timestamp (e.g. 2026-11-01T12:00:00Z)"},
	};
	(void)state;
	run_bad(base_call, cases, sizeof cases / sizeof cases[0]);
}

static void test_call_bad_usage(void **state)
{
	static const struct bad_case cases[] = {
	    {"usage", "{\"input_tokens\":812,\"output_tokens\":96,\"cache_read_tokens\":900}", -1,
	     "usage.cache_read_tokens + usage.cache_write_tokens (900) must not exceed "
	     "usage.input_tokens (812): cached tokens are part of the input"},
	    {"usage",
	     "{\"input_tokens\":812,\"output_tokens\":96,\"cache_read_tokens\":500,"
	     "\"cache_write_tokens\":400}",
	     -1,
	     "usage.cache_read_tokens + usage.cache_write_tokens (900) must not exceed "
	     "usage.input_tokens (812): cached tokens are part of the input"},
	    {"usage", "{\"input_tokens\":812,\"output_tokens\":96,\"reasoning_tokens\":97}", -1,
	     "usage.reasoning_tokens (97) must not exceed usage.output_tokens (96): reasoning "
	     "tokens are part of the output"},
	    {"usage",
	     "{\"prompt_tokens\":19,\"completion_tokens\":10,"
	     "\"prompt_tokens_details\":{\"cached_tokens\":20}}",
	     -1,
	     "usage.prompt_tokens_details.cached_tokens (20) must not exceed "
	     "usage.prompt_tokens (19): cached tokens are part of the input"},
	    {"usage",
	     "{\"prompt_tokens\":19,\"completion_tokens\":10,"
	     "\"completion_tokens_details\":{\"reasoning_tokens\":11}}",
	     -1,
	     "usage.completion_tokens_details.reasoning_tokens (11) must not exceed "
	     "usage.completion_tokens (10): reasoning tokens are part of the output"},
	    {"usage", "{\"prompt_tokens\":19}", -1,
	     "missing required field \"usage.completion_tokens\" (integer 0..1000000000)"},
	    {"usage", "{\"prompt_tokens\":-19,\"completion_tokens\":10}", -1,
	     "usage.prompt_tokens must be an integer 0..1000000000, got -19"},
	    {"usage",
	     "{\"prompt_tokens\":19,\"completion_tokens\":10,"
	     "\"prompt_tokens_details\":{\"cached_tokens\":1.5}}",
	     -1,
	     "usage.prompt_tokens_details.cached_tokens must be an integer 0..1000000000, got "
	     "1.5"},
	    {"usage",
	     "{\"prompt_tokens\":19,\"completion_tokens\":10,"
	     "\"prompt_tokens_details\":7}",
	     -1, "usage.prompt_tokens_details must be an object, got 7"},
	    {"usage",
	     "{\"input_tokens\":36,\"output_tokens\":87,"
	     "\"input_tokens_details\":{\"cached_tokens\":37}}",
	     -1,
	     "usage.input_tokens_details.cached_tokens (37) must not exceed usage.input_tokens "
	     "(36): cached tokens are part of the input"},
	    {"usage",
	     "{\"input_tokens\":36,\"output_tokens\":87,"
	     "\"output_tokens_details\":{\"reasoning_tokens\":88}}",
	     -1,
	     "usage.output_tokens_details.reasoning_tokens (88) must not exceed "
	     "usage.output_tokens (87): reasoning tokens are part of the output"},
	    {"usage", "{\"input_tokens\":36,\"input_tokens_details\":{\"cached_tokens\":0}}", -1,
	     "missing required field \"usage.output_tokens\" (integer 0..1000000000)"},
	    {"usage", "{\"output_tokens\":87,\"output_tokens_details\":\"none\"}", -1,
	     "missing required field \"usage.input_tokens\" (integer 0..1000000000)"},
	    {"usage",
	     "{\"input_tokens\":36,\"output_tokens\":87,"
	     "\"output_tokens_details\":\"none\"}",
	     -1, "usage.output_tokens_details must be an object, got a string \"none\""},
	    {"usage",
	     "{\"input_tokens\":600000000,\"cache_creation_input_tokens\":300000000,"
	     "\"cache_read_input_tokens\":100000001,\"output_tokens\":1}",
	     -1,
	     "usage.input_tokens + cache_creation_input_tokens + cache_read_input_tokens must "
	     "be at most 1000000000, got 1000000001"},
	    {"usage",
	     "{\"input_tokens\":21,\"cache_creation_input_tokens\":-1,"
	     "\"output_tokens\":393}",
	     -1, "usage.cache_creation_input_tokens must be an integer 0..1000000000, got -1"},
	    {"usage",
	     "{\"input_tokens\":21,\"cache_read_input_tokens\":\"5\","
	     "\"output_tokens\":393}",
	     -1,
	     "usage.cache_read_input_tokens must be an integer 0..1000000000, got a string "
	     "\"5\""},
	    {"usage", "{\"cache_read_input_tokens\":5,\"output_tokens\":393}", -1,
	     "missing required field \"usage.input_tokens\" (integer 0..1000000000)"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct event ev;
		struct tally_err err;
		char *json = with_member(base_call, cases[i].path, cases[i].raw);
		int rc = parse_str(json, -1, &ev, &err);

		if (rc != -1 || strcmp(err.msg, cases[i].msg) != 0)
			print_error("case %zu\n  got:  %s\n  want: %s\n", i,
			            rc == 0 ? "(success)" : err.msg, cases[i].msg);
		assert_int_equal(rc, -1);
		assert_string_equal(err.msg, cases[i].msg);
		assert_non_null(strstr(err.msg, "usage."));
		free(json);
	}
}

/* Every provider shape of docs/events.md, each recognised by a field only it has,
 * with its billable details normalised (documented examples). */
static void test_call_provider_shapes(void **state)
{
	static const struct {
		const char *name, *provider;
		const char *usage;
		enum usage_shape shape;
		int64_t in, out, cache_read, cache_write, reasoning;
		int64_t cw_1h, audio_in, audio_cached, image_in, audio_out, image_out, searches;
		const char *service_tier;
	} cases[] = {
	    /* Anthropic, prompt caching "mixing TTLs" */
	    {"anthropic ttl", "anthropic",
	     "{\"input_tokens\":2048,\"cache_read_input_tokens\":1800,"
	     "\"cache_creation_input_tokens\":248,\"output_tokens\":503,\"cache_creation\":"
	     "{\"ephemeral_1h_input_tokens\":100,\"ephemeral_5m_input_tokens\":148}}",
	     USAGE_ANTHROPIC, 4096, 503, 1800, 248, 0, 100, 0, 0, 0, 0, 0, 0, ""},
	    /* Anthropic web search; service_tier in the usage object */
	    {"anthropic web search", "anthropic",
	     "{\"input_tokens\":105,\"output_tokens\":6039,\"cache_read_input_tokens\":7123,"
	     "\"cache_creation_input_tokens\":7345,\"server_tool_use\":{\"web_search_requests\":1},"
	     "\"service_tier\":\"standard\"}",
	     USAGE_ANTHROPIC, 14573, 6039, 7123, 7345, 0, 0, 0, 0, 0, 0, 0, 1, "standard"},
	    /* Anthropic with output_tokens_details: not an OpenAI Responses object */
	    {"anthropic output details", "anthropic",
	     "{\"input_tokens\":10,\"cache_read_input_tokens\":5,\"cache_creation_input_tokens\":0,"
	     "\"output_tokens\":7,\"output_tokens_details\":{\"reasoning_tokens\":0}}",
	     USAGE_ANTHROPIC, 15, 7, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, ""},
	    /* OpenAI audio chat */
	    {"openai audio", "openai",
	     "{\"prompt_tokens\":17,\"completion_tokens\":97,\"total_tokens\":114,"
	     "\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},"
	     "\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":77}}",
	     USAGE_OPENAI, 17, 97, 0, 0, 0, 0, 0, 0, 0, 77, 0, 0, ""},
	    /* OpenAI chat with a cache write */
	    {"openai cache write", "openai",
	     "{\"prompt_tokens\":3000,\"completion_tokens\":100,"
	     "\"prompt_tokens_details\":{\"cached_tokens\":1000,\"cache_write_tokens\":1500}}",
	     USAGE_OPENAI, 3000, 100, 1000, 1500, 0, 0, 0, 0, 0, 0, 0, 0, ""},
	    /* OpenAI Realtime response.done */
	    {"openai realtime", "openai",
	     "{\"total_tokens\":253,\"input_tokens\":132,\"output_tokens\":121,"
	     "\"input_token_details\":{\"text_tokens\":99,\"audio_tokens\":33,\"cached_tokens\":64,"
	     "\"cached_tokens_details\":{\"text_tokens\":44,\"audio_tokens\":20}},"
	     "\"output_token_details\":{\"text_tokens\":30,\"audio_tokens\":91}}",
	     USAGE_OPENAI_REALTIME, 132, 121, 64, 0, 0, 0, 33, 20, 0, 91, 0, 0, ""},
	    /* Gemini usageMetadata with thoughts, cache and modalities */
	    {"gemini", "gemini",
	     "{\"promptTokenCount\":1000,\"cachedContentTokenCount\":300,\"candidatesTokenCount\":"
	     "100,"
	     "\"thoughtsTokenCount\":50,\"totalTokenCount\":1150,\"promptTokensDetails\":"
	     "[{\"modality\":\"TEXT\",\"tokenCount\":400},{\"modality\":\"AUDIO\",\"tokenCount\":"
	     "600}],"
	     "\"cacheTokensDetails\":[{\"modality\":\"AUDIO\",\"tokenCount\":300}],"
	     "\"candidatesTokensDetails\":[{\"modality\":\"IMAGE\",\"tokenCount\":60}]}",
	     USAGE_GEMINI, 1000, 150, 300, 0, 50, 0, 600, 300, 0, 0, 60, 0, ""},
	    /* Bedrock Converse with a cache write */
	    {"bedrock", "bedrock",
	     "{\"inputTokens\":4,\"outputTokens\":315,\"totalTokens\":1339,"
	     "\"cacheReadInputTokens\":0,\"cacheWriteInputTokens\":1020}",
	     USAGE_BEDROCK, 1024, 315, 0, 1020, 0, 0, 0, 0, 0, 0, 0, 0, ""},
	    /* DeepSeek context caching */
	    {"deepseek", "deepseek",
	     "{\"prompt_tokens\":1000,\"completion_tokens\":100,\"total_tokens\":1100,"
	     "\"prompt_cache_hit_tokens\":800,\"prompt_cache_miss_tokens\":200}",
	     USAGE_DEEPSEEK, 1000, 100, 800, 0, 0, 0, 0, 0, 0, 0, 0, 0, ""},
	    /* xAI: reasoning beside the completion; total_tokens says so */
	    {"xai", "xai",
	     "{\"prompt_tokens\":32,\"completion_tokens\":9,\"total_tokens\":135,"
	     "\"prompt_tokens_details\":{\"text_tokens\":32,\"audio_tokens\":0,\"image_tokens\":0,"
	     "\"cached_tokens\":6},\"completion_tokens_details\":{\"reasoning_tokens\":94}}",
	     USAGE_XAI, 32, 103, 6, 0, 94, 0, 0, 0, 0, 0, 0, 0, ""},
	    /* the same object through another gateway name: total_tokens decides */
	    {"xai by arithmetic", "openai_compatible",
	     "{\"prompt_tokens\":32,\"completion_tokens\":9,\"total_tokens\":135,"
	     "\"completion_tokens_details\":{\"reasoning_tokens\":94}}",
	     USAGE_XAI, 32, 103, 0, 0, 94, 0, 0, 0, 0, 0, 0, 0, ""},
	    /* Perplexity deep research (the API's UsageInfo fields, our counts): citation tokens
	     * beside the prompt, reasoning beside the completion, searches run */
	    {"perplexity", "perplexity",
	     "{\"prompt_tokens\":19,\"completion_tokens\":4532,\"total_tokens\":4551,"
	     "\"citation_tokens\":7143,\"num_search_queries\":18,\"reasoning_tokens\":81340}",
	     USAGE_PERPLEXITY, 7162, 85872, 0, 0, 81340, 0, 0, 0, 0, 0, 0, 18, ""},
	    /* tally's own shape with every detail */
	    {"tally details", "acme",
	     "{\"input_tokens\":100,\"output_tokens\":50,\"cache_write_tokens\":20,"
	     "\"cache_write_1h_tokens\":5,\"audio_input_tokens\":10,\"image_input_tokens\":7,"
	     "\"audio_output_tokens\":3,\"image_output_tokens\":4}",
	     USAGE_TALLY, 100, 50, 0, 20, 0, 5, 10, 0, 7, 3, 4, 0, ""},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct event ev;
		struct tally_err err;
		char prov[160];
		char *j1, *json;
		int rc;

		snprintf(prov, sizeof prov, "\"%s\"", cases[i].provider);
		j1 = with_member(min_call, "provider", prov);
		json = with_member(j1, "usage", cases[i].usage);
		rc = parse_str(json, -1, &ev, &err);
		if (rc != 0)
			print_error("case %s: %s\n", cases[i].name, err.msg);
		assert_int_equal(rc, 0);
		const struct call_event *c = &ev.u.call;
		print_message("case %s\n", cases[i].name);
		assert_int_equal(c->usage_shape, cases[i].shape);
		assert_int_equal(c->input_tokens, cases[i].in);
		assert_int_equal(c->output_tokens, cases[i].out);
		assert_int_equal(c->cache_read_tokens, cases[i].cache_read);
		assert_int_equal(c->cache_write_tokens, cases[i].cache_write);
		assert_int_equal(c->reasoning_tokens, cases[i].reasoning);
		assert_int_equal(c->cache_write_1h_tokens, cases[i].cw_1h);
		assert_int_equal(c->audio_input_tokens, cases[i].audio_in);
		assert_int_equal(c->audio_cache_read_tokens, cases[i].audio_cached);
		assert_int_equal(c->image_input_tokens, cases[i].image_in);
		assert_int_equal(c->audio_output_tokens, cases[i].audio_out);
		assert_int_equal(c->image_output_tokens, cases[i].image_out);
		assert_int_equal(c->web_search_calls, cases[i].searches);
		assert_string_equal(c->service_tier, cases[i].service_tier);
		free(j1);
		free(json);
	}
}

/* The optional pricing fields: service_tier, data_residency, tool_use; the
 * event's own service_tier wins over the usage object's. */
static void test_call_pricing_fields(void **state)
{
	struct event ev;
	struct tally_err err;
	char *j1 = with_member(min_call, "service_tier", "\"flex\"");
	char *j2 = with_member(j1, "data_residency", "\"eu\"");
	char *j3 = with_member(j2, "tool_use", "{\"web_search\":3}");
	char *j4 =
	    with_member(j3, "usage",
	                "{\"input_tokens\":10,\"output_tokens\":1,\"cache_read_input_tokens\":0,"
	                "\"service_tier\":\"priority\",\"inference_geo\":\"us\"}");
	char *bad = with_member(min_call, "tool_use", "{\"web_search\":-1}");

	(void)state;
	assert_int_equal(parse_str(j4, -1, &ev, &err), 0);
	assert_string_equal(ev.u.call.service_tier, "flex");
	assert_string_equal(ev.u.call.data_residency, "eu");
	assert_string_equal(ev.u.call.inference_geo, "us");
	assert_int_equal(ev.u.call.web_search_calls, 3);
	assert_int_equal(parse_str(bad, -1, &ev, &err), -1);
	assert_string_equal(err.msg,
	                    "tool_use.web_search must be an integer 0..1000000000, got -1");
	free(j1);
	free(j2);
	free(j3);
	free(j4);
	free(bad);
}

static void test_call_bad_enum(void **state)
{
	static const struct bad_case cases[] = {
	    {"status", "\"done\"", -1,
	     "status must be one of ok, error, timeout, cancelled, got a string \"done\""},
	    {"status", "\"OK\"", -1,
	     "status must be one of ok, error, timeout, cancelled, got a string \"OK\""},
	    {"status", "\"\"", -1,
	     "status must be one of ok, error, timeout, cancelled, got a string \"\""},
	};
	(void)state;
	run_bad(base_call, cases, sizeof cases / sizeof cases[0]);
}

static void test_call_too_long(void **state)
{
	static const struct {
		const char *key;
		size_t len;
		const char *msg;
	} cases[] = {
	    {"event_id", 129, "event_id is too long: 129 bytes, at most 128 allowed"},
	    {"team", 129, "team is too long: 129 bytes, at most 128 allowed"},
	    {"workflow", 1000, "workflow is too long: 1000 bytes, at most 128 allowed"},
	    {"task_type", 129, "task_type is too long: 129 bytes, at most 128 allowed"},
	    {"provider", 129, "provider is too long: 129 bytes, at most 128 allowed"},
	    {"model", 257, "model is too long: 257 bytes, at most 256 allowed"},
	    {"tier", 33, "tier is too long: 33 bytes, at most 32 allowed"},
	    {"outcome_id", 129, "outcome_id is too long: 129 bytes, at most 128 allowed"},
	    {"prompt_hash", 129, "prompt_hash is too long: 129 bytes, at most 128 allowed"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct event ev;
		struct tally_err err;
		char *s = long_string(cases[i].len);
		char *json = with_member(base_call, cases[i].key, s);

		assert_int_equal(parse_str(json, -1, &ev, &err), -1);
		assert_string_equal(err.msg, cases[i].msg);
		free(json);
		free(s);
	}
}

/* Tags up to EVENT_TAGS_MAX bytes of compact JSON fit, one more does not. */
static void test_call_tags_limit(void **state)
{
	struct event ev;
	struct tally_err err;
	/* {"k":"aaa..."} is 8 bytes plus the value. */
	char *v = long_string(EVENT_TAGS_MAX - 8), *tags, *json;

	(void)state;
	tags = malloc(strlen(v) + 16);
	assert_non_null(tags);
	snprintf(tags, strlen(v) + 16, "{\"k\": %s}", v);
	json = with_member(base_call, "tags", tags);
	assert_int_equal(parse_str(json, -1, &ev, &err), 0);
	assert_int_equal(strlen(ev.u.call.tags), EVENT_TAGS_MAX);
	free(json);

	snprintf(tags, strlen(v) + 16, "{\"kk\":%s}", v);
	json = with_member(base_call, "tags", tags);
	assert_int_equal(parse_str(json, -1, &ev, &err), -1);
	assert_string_equal(err.msg,
	                    "tags is too long: 1025 bytes as compact JSON, at most 1024 allowed");
	free(json);
	free(tags);
	free(v);
}

#define UNKNOWN_SHAPE                                                                              \
	"unknown event shape: expected a call (with \"model\" and \"usage\"), an outcome (with "   \
	"\"outcome_id\" and \"success\") or feedback (with \"score\")"

/* Messages that are not a JSON object at all, or not UTF-8 where it matters. */
static void test_bad_messages(void **state)
{
	static const struct {
		const char *raw;
		const char *msg;
	} cases[] = {
	    {"", "message is empty, expected a JSON object"},
	    {"hello", "message is not JSON (syntax error near byte 1)"},
	    {"{\"event_id\": \"x\",", "message is not JSON (syntax error near byte 17)"},
	    {"{\"a\":1,}", "message is not JSON (syntax error near byte 8)"},
	    {"{\"a\":1} x", "message is not JSON (unexpected data after the value at byte 9)"},
	    {"{\"a\":1}{\"b\":2}", "message is not JSON (unexpected data after the value at "
	                           "byte 8)"},
	    {"[1,2]", "message must be a JSON object, got an array"},
	    {"\"call\"", "message must be a JSON object, got a string \"call\""},
	    {"42", "message must be a JSON object, got 42"},
	    {"null", "message must be a JSON object, got null"},
	    {"{}", UNKNOWN_SHAPE},
	    {"{\"event_id\":\"e1\",\"ts\":\"2026-11-01T12:00:00Z\"}", UNKNOWN_SHAPE},
	    {"{\"event_id\":\"e1\",\"ts\":\"2026-11-01T12:00:00Z\",\"team\":\"sup\xffport\","
	     "\"workflow\":\"w\",\"task_type\":\"t\",\"provider\":\"p\",\"model\":\"m\","
	     "\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}",
	     "team is not valid UTF-8"},
	    {"{\"event_id\":\"e1\",\"ts\":\"2026-11-01T12:00:00Z\",\"team\":\"t\","
	     "\"workflow\":\"w\",\"task_type\":\"t\",\"provider\":\"p\",\"model\":\"m\","
	     "\"usage\":{\"input_tokens\":1,\"output_tokens\":1},\"tags\":{\"\xc0\xaf\":1}}",
	     "tags is not valid UTF-8"},
	    {"{\"event_id\":\"e1\",\"ts\":\"2026-11-01T12:00:00Z\",\"team\":\"t\","
	     "\"workflow\":\"w\",\"task_type\":\"t\",\"provider\":\"p\",\"model\":\"m\","
	     "\"usage\":{\"input_tokens\":1e400,\"output_tokens\":1}}",
	     "usage.input_tokens must be an integer 0..1000000000, got inf"},
	    {"{\"event_id\":\"e1\",\"ts\":\"2026-11-01T12:00:00Z\",\"score\":-1e999}",
	     "score must be a number 0..1, got -inf"},
	    {"{\"ts\":\"\x01\xff\"}", UNKNOWN_SHAPE},
	    /* One meaning for every consumer: no key twice, no NUL, printable names. */
	    {"{\"a\":1,\"b\":{\"c\":1,\"c\":2}}",
	     "key \"c\" appears twice in one object: send each key once"},
	    {"{\"event_id\":\"e\\u0000x\"}",
	     "message holds \\u0000 (NUL) in a string at byte 15: send text without NUL"},
	    {"{\"event_id\":\"e1\",\"ts\":\"2026-11-01T12:00:00Z\",\"team\":\"t\","
	     "\"workflow\":\"w\\u0007\",\"task_type\":\"t\",\"provider\":\"p\",\"model\":\"m\","
	     "\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}",
	     "workflow holds a control character (byte 2): names are printable text"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct event ev;
		struct tally_err err;
		int rc = parse_str(cases[i].raw, -1, &ev, &err);

		if (rc != -1 || strcmp(err.msg, cases[i].msg) != 0)
			print_error("case %zu\n  got:  %s\n  want: %s\n", i,
			            rc == 0 ? "(success)" : err.msg, cases[i].msg);
		assert_int_equal(rc, -1);
		assert_int_equal(err.code, TALLY_EINVAL);
		assert_string_equal(err.msg, cases[i].msg);
	}
}

/* Trailing whitespace and NUL padding are fine; a bad value is quoted safely. */
static void test_message_edges(void **state)
{
	struct event ev;
	struct tally_err err;
	char buf[sizeof min_call + 4];

	(void)state;
	memset(buf, 0, sizeof buf);
	memcpy(buf, min_call, sizeof min_call - 1);
	memcpy(buf + sizeof min_call - 1, " \r\n", 3);
	tally_err_clear(&err);
	assert_int_equal(parse_checked(buf, sizeof buf, -1, &ev, &err), 0);

	/* Only len bytes are read: the same buffer cut short is not JSON. */
	tally_err_clear(&err);
	assert_int_equal(parse_checked(buf, 20, -1, &ev, &err), -1);
	assert_string_equal(err.msg, "message is not JSON (syntax error near byte 19)");

	/* A NULL err is allowed. */
	assert_int_equal(parse_checked("nope", 4, -1, &ev, NULL), -1);

	/* Control characters and invalid UTF-8 never reach the message. */
	char *json = with_member(base_call, "status", "\"d\\u0001ne\"");
	assert_int_equal(parse_str(json, -1, &ev, &err), -1);
	assert_string_equal(err.msg,
	                    "status must be one of ok, error, timeout, cancelled, got a string "
	                    "\"d?ne\"");
	free(json);
	static const char bad_ts[] =
	    "{\"outcome_id\":\"o\",\"success\":true,\"ts\":\"20\xff\xfe\"}";
	assert_int_equal(parse_str(bad_ts, -1, &ev, &err), -1);
	assert_string_equal(err.msg,
	                    "ts \"20??\" is not an RFC 3339 timestamp (e.g. 2026-11-01T12:00:00Z)");

	/* An unknown kind is refused. */
	assert_int_equal(parse_str(min_call, EVENT_KINDS, &ev, &err), -1);
	assert_string_equal(err.msg, "unknown event kind 3");

	/* The first error wins: an error already set is not overwritten. */
	tally_err_clear(&err);
	tally_err_set(&err, TALLY_EIO, true, "earlier");
	assert_int_equal(parse_checked("nope", 4, -1, &ev, &err), -1);
	assert_string_equal(err.msg, "earlier");
}

/* Exactly EVENT_MAX_BYTES is accepted; one byte more is refused unparsed. */
static void test_oversized(void **state)
{
	struct event ev;
	struct tally_err err;
	size_t n = EVENT_MAX_BYTES + 1;
	char *buf = malloc(n);

	(void)state;
	assert_non_null(buf);
	memset(buf, ' ', n);
	memcpy(buf, min_call, strlen(min_call));
	tally_err_clear(&err);
	assert_int_equal(parse_checked(buf, EVENT_MAX_BYTES, -1, &ev, &err), 0);
	tally_err_clear(&err);
	assert_int_equal(parse_checked(buf, n, -1, &ev, &err), -1);
	assert_string_equal(err.msg,
	                    "message is 1048577 bytes, larger than the limit of 1048576 bytes");
	assert_int_equal(detect_checked(buf, n), -1);
	assert_int_equal(detect_checked(buf, EVENT_MAX_BYTES), EVENT_CALL);
	free(buf);
}

/* Nothing in the event points into the caller's buffer. */
static void test_no_pointers_into_buf(void **state)
{
	struct event ev;
	struct tally_err err;
	size_t n = strlen(base_call);
	char *buf = malloc(n);

	(void)state;
	assert_non_null(buf);
	memcpy(buf, base_call, n); /* not NUL-terminated */
	tally_err_clear(&err);
	assert_int_equal(parse_checked(buf, n, -1, &ev, &err), 0);
	memset(buf, 'x', n);
	free(buf);
	assert_string_equal(ev.u.call.event_id, "c0a8012e-7f3b-4d1a-9a51-2b1f0e6d9c11");
	assert_string_equal(ev.u.call.model, "gpt-4o-mini");
	assert_string_equal(ev.u.call.tags, "{\"env\":\"prod\"}");
}

/* ---- outcomes ------------------------------------------------------------- */

static void test_outcome_valid(void **state)
{
	static const struct {
		const char *path, *raw;
		int expect;
		bool success, has_value;
		int64_t value_pusd;
		const char *team, *kind;
	} cases[] = {
	    {"kind", "\"ticket_resolved\"", -1, true, true, INT64_C(12500000000000), "support",
	     "ticket_resolved"},
	    {"kind", "\"ticket_resolved\"", EVENT_OUTCOME, true, true, INT64_C(12500000000000),
	     "support", "ticket_resolved"},
	    {"success", "false", -1, false, true, INT64_C(12500000000000), "support",
	     "ticket_resolved"},
	    {"value_usd", NULL, -1, true, false, 0, "support", "ticket_resolved"},
	    {"value_usd", "null", -1, true, false, 0, "support", "ticket_resolved"},
	    {"value_usd", "12.5", -1, true, true, INT64_C(12500000000000), "support",
	     "ticket_resolved"},
	    {"value_usd", "\"0\"", -1, true, true, 0, "support", "ticket_resolved"},
	    {"value_usd", "\"9000000\"", -1, true, true, PUSD(9000000), "support",
	     "ticket_resolved"},
	    {"value_usd", "\"0.000000000001\"", -1, true, true, 1, "support", "ticket_resolved"},
	    {"team", NULL, -1, true, true, INT64_C(12500000000000), "", "ticket_resolved"},
	    {"kind", NULL, -1, true, true, INT64_C(12500000000000), "support", ""},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct event ev;
		struct tally_err err;
		const struct outcome_event *o = &ev.u.outcome;
		char *json = with_member(base_outcome, cases[i].path, cases[i].raw);
		int rc = parse_str(json, cases[i].expect, &ev, &err);

		if (rc != 0)
			print_error("case %zu: %s\n", i, err.msg);
		assert_int_equal(rc, 0);
		assert_int_equal(ev.kind, EVENT_OUTCOME);
		assert_string_equal(o->outcome_id, "TICKET-4411");
		assert_int_equal(o->ts_us, TS_NOON);
		assert_string_equal(o->workflow, "ticket-triage");
		assert_int_equal(o->success, cases[i].success);
		assert_int_equal(o->has_value, cases[i].has_value);
		assert_int_equal(o->value_pusd, cases[i].value_pusd);
		assert_string_equal(o->team, cases[i].team);
		assert_string_equal(o->kind, cases[i].kind);
		free(json);
	}
}

static void test_outcome_invalid(void **state)
{
	static const struct bad_case cases[] = {
	    {"outcome_id", NULL, EVENT_OUTCOME, "missing required field \"outcome_id\" (string)"},
	    {"ts", NULL, -1,
	     "missing required field \"ts\" (RFC 3339 timestamp, e.g. 2026-11-01T12:00:00Z)"},
	    {"success", NULL, EVENT_OUTCOME, "missing required field \"success\" (true or false)"},
	    {"success", "\"yes\"", -1, "success must be true or false, got a string \"yes\""},
	    {"success", "1", -1, "success must be true or false, got 1"},
	    {"outcome_id", "4411", -1, "outcome_id must be a string, got 4411"},
	    {"ts", "\"2026-11-31T00:00:00Z\"", -1,
	     "ts \"2026-11-31T00:00:00Z\" is not an RFC 3339 timestamp (e.g. "
	     "2026-11-01T12:00:00Z)"},
	    {"team", "5", -1, "team must be a string, got 5"},
	    {"kind", "[]", -1, "kind must be a string, got an array"},
	    {"value_usd", "\"-1\"", -1,
	     "value_usd must be a decimal amount of USD between 0 and 9000000 such as "
	     "\"0.000183\", got a string \"-1\""},
	    {"value_usd", "\"9000000.000000000001\"", -1,
	     "value_usd must be a decimal amount of USD between 0 and 9000000 such as "
	     "\"0.000183\", got a string \"9000000.000000000001\""},
	    {"value_usd", "\"12,50\"", -1,
	     "value_usd must be a decimal amount of USD between 0 and 9000000 such as "
	     "\"0.000183\", got a string \"12,50\""},
	    {"value_usd", "1e7", -1,
	     "value_usd must be a decimal amount of USD between 0 and 9000000 such as "
	     "\"0.000183\", got 10000000"},
	    {"value_usd", "{}", -1,
	     "value_usd must be a decimal string such as \"0.000183\", got an object"},
	};
	(void)state;
	run_bad(base_outcome, cases, sizeof cases / sizeof cases[0]);
}

static void test_outcome_too_long(void **state)
{
	struct event ev;
	struct tally_err err;
	char *s = long_string(129), *json;

	(void)state;
	json = with_member(base_outcome, "kind", s);
	assert_int_equal(parse_str(json, -1, &ev, &err), -1);
	assert_string_equal(err.msg, "kind is too long: 129 bytes, at most 128 allowed");
	free(json);
	json = with_member(base_outcome, "outcome_id", s);
	assert_int_equal(parse_str(json, -1, &ev, &err), -1);
	assert_string_equal(err.msg, "outcome_id is too long: 129 bytes, at most 128 allowed");
	free(json);
	free(s);
}

/* ---- feedback ------------------------------------------------------------- */

static void test_feedback_valid(void **state)
{
	static const struct {
		const char *path, *raw;
		int expect;
		double score;
		const char *source;
	} cases[] = {
	    {"score", "0.0", -1, 0.0, "human"},
	    {"score", "1", -1, 1.0, "human"},
	    {"score", "0.75", EVENT_FEEDBACK, 0.75, "human"},
	    {"source", "\"eval\"", -1, 0.0, "eval"},
	    {"source", NULL, -1, 0.0, ""},
	    {"source", "null", -1, 0.0, ""},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct event ev;
		struct tally_err err;
		char *json = with_member(base_feedback, cases[i].path, cases[i].raw);
		int rc = parse_str(json, cases[i].expect, &ev, &err);

		if (rc != 0)
			print_error("case %zu: %s\n", i, err.msg);
		assert_int_equal(rc, 0);
		assert_int_equal(ev.kind, EVENT_FEEDBACK);
		assert_string_equal(ev.u.feedback.event_id, "c0a8012e-7f3b-4d1a-9a51-2b1f0e6d9c11");
		assert_int_equal(ev.u.feedback.ts_us, TS_NOON);
		assert_true(ev.u.feedback.score == cases[i].score);
		assert_string_equal(ev.u.feedback.source, cases[i].source);
		free(json);
	}
}

static void test_feedback_invalid(void **state)
{
	static const struct bad_case cases[] = {
	    {"score", NULL, EVENT_FEEDBACK, "missing required field \"score\" (number 0..1)"},
	    {"score", "null", EVENT_FEEDBACK, "missing required field \"score\" (number 0..1)"},
	    {"score", "1.5", -1, "score must be a number 0..1, got 1.5"},
	    {"score", "-1", -1, "score must be a number 0..1, got -1"},
	    {"score", "\"0.5\"", -1, "score must be a number 0..1, got a string \"0.5\""},
	    {"event_id", NULL, -1, "missing required field \"event_id\" (string)"},
	    {"event_id", "7", -1, "event_id must be a string, got 7"},
	    {"ts", NULL, -1,
	     "missing required field \"ts\" (RFC 3339 timestamp, e.g. 2026-11-01T12:00:00Z)"},
	    {"ts", "\"2026-11-01 12:00\"", -1,
	     "ts \"2026-11-01 12:00\" is not an RFC 3339 timestamp (e.g. "
	     "2026-11-01T12:00:00Z)"},
	    {"source", "3", -1, "source must be a string, got 3"},
	};
	(void)state;
	run_bad(base_feedback, cases, sizeof cases / sizeof cases[0]);
}

/* A message parsed as the wrong kind fails on that kind's required fields. */
static void test_expect_mismatch(void **state)
{
	struct event ev;
	struct tally_err err;

	(void)state;
	assert_int_equal(parse_str(base_outcome, EVENT_CALL, &ev, &err), -1);
	assert_string_equal(err.msg, "missing required field \"event_id\" (string)");
	assert_int_equal(parse_str(base_call, EVENT_OUTCOME, &ev, &err), -1);
	assert_string_equal(err.msg, "missing required field \"success\" (true or false)");
	assert_int_equal(parse_str(base_call, EVENT_FEEDBACK, &ev, &err), -1);
	assert_string_equal(err.msg, "missing required field \"score\" (number 0..1)");
}

/* ---- kind detection and names ------------------------------------------- */

static void test_detect_kind(void **state)
{
	static const struct {
		const char *raw;
		int want;
	} cases[] = {
	    {base_call, EVENT_CALL},
	    {min_call, EVENT_CALL},
	    {base_outcome, EVENT_OUTCOME},
	    {base_feedback, EVENT_FEEDBACK},
	    {"{\"model\":\"gpt-4o\"}", EVENT_CALL},
	    {"{\"usage\":{}}", EVENT_CALL},
	    {"{\"outcome_id\":\"o\",\"success\":true,\"model\":\"m\"}", EVENT_CALL},
	    {"{\"outcome_id\":\"o\",\"success\":null}", EVENT_OUTCOME},
	    {"{\"outcome_id\":\"o\"}", -1},
	    {"{\"success\":true}", -1},
	    {"{\"score\":0.5,\"model\":\"m\"}", EVENT_CALL},
	    {"{\"score\":\"anything\"}", EVENT_FEEDBACK},
	    {"{\"x\":{\"model\":\"m\"}}", -1},
	    {"{}", -1},
	    {"[{\"model\":\"m\"}]", -1},
	    {"\"model\"", -1},
	    {"", -1},
	    {"{\"model\":", -1},
	    {"{\"model\":\"m\"} trailing", -1},
	};
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		int got = detect_checked(cases[i].raw, strlen(cases[i].raw));
		if (got != cases[i].want)
			print_error("case %zu: %s\n", i, cases[i].raw);
		assert_int_equal(got, cases[i].want);
	}
	assert_int_equal(detect_checked(NULL, 0), -1);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(call_status_name(CALL_OK), "ok");
	assert_string_equal(call_status_name(CALL_ERROR), "error");
	assert_string_equal(call_status_name(CALL_TIMEOUT), "timeout");
	assert_string_equal(call_status_name(CALL_CANCELLED), "cancelled");
	assert_string_equal(call_status_name((enum call_status)42), "unknown");
	assert_string_equal(usage_shape_name(USAGE_TALLY), "tally");
	assert_string_equal(usage_shape_name(USAGE_OPENAI), "openai");
	assert_string_equal(usage_shape_name(USAGE_ANTHROPIC), "anthropic");
	assert_string_equal(usage_shape_name(USAGE_OPENAI_RESPONSES), "openai_responses");
	assert_string_equal(usage_shape_name((enum usage_shape)42), "unknown");
}

/* ---- threads ---------------------------------------------------------------- */

static void *parse_many(void *arg)
{
	const char *const inputs[] = {base_call, base_outcome, base_feedback, "{\"a\":"};
	long bad = 0;

	(void)arg;
	for (int i = 0; i < 2000; i++) {
		struct event ev;
		struct tally_err err;
		const char *in = inputs[i % 4];
		tally_err_clear(&err);
		int rc = event_parse(in, strlen(in), -1, &ev, &err);
		if (i % 4 == 3 ? rc != -1 : rc != 0 || ev.kind != (enum event_kind)(i % 4))
			bad++;
		if (i % 4 == 0 && ev.u.call.provider_cost_pusd != 183000000)
			bad++;
	}
	return (void *)(intptr_t)bad;
}

static void test_threads(void **state)
{
	pthread_t t[4];

	(void)state;
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, parse_many, NULL), 0);
	for (int i = 0; i < 4; i++) {
		void *bad;
		assert_int_equal(pthread_join(t[i], &bad), 0);
		assert_null(bad);
	}
}

/* event_tags_each gives what PostgreSQL's jsonb_each_text gives for the
 * stored tags (the values the rollups group by; the SQL rebuild and
 * tests/lib.sh's rollups_mismatch check the same on a real server). */
struct tag_list {
	char text[2048];
};

static int tag_collect(const char *key, const char *value, void *arg)
{
	struct tag_list *l = arg;
	size_t n = strlen(l->text);
	snprintf(l->text + n, sizeof l->text - n, "%s=%s;", key, value);
	return 0;
}

static void test_tags_each(void **state)
{
	(void)state;
	static const struct {
		const char *tags, *want;
		int n;
	} cases[] = {
	    {"", "", 0},
	    {"{}", "", 0},
	    {"{\"env\":\"prod\",\"region\":\"eu\"}", "env=prod;region=eu;", 2},
	    /* escapes, \u escapes and a surrogate pair decoded to UTF-8 */
	    {"{\"k\":\"a\\\"b\\\\c\\/d\\te\"}", "k=a\"b\\c/d\te;", 1},
	    {"{\"k\":\"caf\\u00e9 \\ud83d\\ude00\"}", "k=caf\xc3\xa9 \xf0\x9f\x98\x80;", 1},
	    {"{\"\\u0041\":\"x\"}", "A=x;", 1},
	    /* numbers as numeric prints them: no exponent, the token's scale */
	    {"{\"n\":12}", "n=12;", 1},
	    {"{\"n\":0.5}", "n=0.5;", 1},
	    {"{\"n\":-3.25}", "n=-3.25;", 1},
	    {"{\"n\":1e+20}", "n=100000000000000000000;", 1},
	    {"{\"n\":1.5e-07}", "n=0.00000015;", 1},
	    {"{\"n\":120e-1}", "n=12.0;", 1},
	    {"{\"n\":-2.5E2}", "n=-250;", 1},
	    {"{\"n\":0e5}", "n=0;", 1},
	    {"{\"n\":-0.0}", "n=0.0;", 1},
	    /* booleans as text; null is no tag; the last of a repeated key */
	    {"{\"a\":true,\"b\":false,\"c\":null}", "a=true;b=false;", 2},
	    {"{\"k\":\"first\",\"j\":1,\"k\":\"last\"}", "j=1;k=last;", 2},
	    /* whitespace, as another printer might leave it */
	    {" { \"k\" : \"v\" , \"n\" : 2 } ", "k=v;n=2;", 2},
	    /* not a flat object */
	    {"[1]", NULL, -1},
	    {"{\"k\":{\"a\":1}}", NULL, -1},
	    {"{\"k\":\"unterminated}", NULL, -1},
	    {"{\"k\":01x}", NULL, -1},
	    {"{\"k\":\"\\q\"}", NULL, -1},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct tag_list l = {{0}};
		int n = event_tags_each(cases[i].tags, tag_collect, &l);
		if (n != cases[i].n)
			fail_msg("case %zu (%s): %d tags, want %d", i, cases[i].tags, n,
			         cases[i].n);
		if (cases[i].want)
			assert_string_equal(l.text, cases[i].want);
	}
}

/* A call parsed with tags gives back, through event_tags_each, the values
 * it was sent with (the printer and the reader agree). */
static void test_tags_round_trip(void **state)
{
	(void)state;
	static const char msg[] =
	    "{\"event_id\":\"t1\",\"ts\":\"2026-11-05T09:00:00Z\",\"team\":\"a\","
	    "\"workflow\":\"w\",\"task_type\":\"t\",\"provider\":\"openai\",\"model\":\"m\","
	    "\"usage\":{\"input_tokens\":1,\"output_tokens\":1},"
	    "\"tags\":{\"customer\":\"ACME \\\"EU\\\"\",\"n\":1e+3,\"x\":0.125,\"ok\":true,"
	    "\"line\":\"a\\nb\"}}";
	struct event ev;
	struct tally_err err = {0};
	struct tag_list l = {{0}};

	assert_int_equal(parse_checked(msg, strlen(msg), EVENT_CALL, &ev, &err), 0);
	assert_int_equal(event_tags_each(ev.u.call.tags, tag_collect, &l), 5);
	assert_string_equal(l.text, "customer=ACME \"EU\";n=1000;x=0.125;ok=true;line=a\nb;");
}

/* ---- the reader against the reference parser ------------------------------ */

/* Asserts that buf reads the same with the reader and the reference, as
 * each kind and with detection; returns how many of the four parses
 * succeeded. */
static int assert_same(const char *buf, size_t len, const char *what)
{
	char why[800];
	int ok = 0;

	for (int expect = -1; expect < EVENT_KINDS; expect++) {
		struct event ev;
		struct tally_err err = {0};
		const char *diff = event_same(buf, len, expect, why, sizeof why);
		if (diff)
			fail_msg("%s: %s\n  input: %.*s", what, diff, (int)(len < 600 ? len : 600),
			         buf);
		ok += event_parse(buf, len, expect, &ev, &err) == 0;
	}
	return ok;
}

/* Inputs at the edges of JSON as cJSON reads it: numbers strtod reads in
 * part, escapes, whitespace below 0x20, a BOM, nesting, printing of tags. */
static void test_same_edges(void **state)
{
	static const char *const cases[] = {
	    "",
	    " ",
	    "{",
	    "{ ",
	    "}",
	    "[",
	    "[1 ",
	    "[1,",
	    "[1,]",
	    "{\"a\":1,}",
	    "{\"a\" 1}",
	    "{\"a\":}",
	    "{1:2}",
	    "{\"a\":1 \"b\":2}",
	    "nul",
	    "nullx",
	    "tru",
	    "[true,fals]",
	    "\"abc",
	    "\"a\\",
	    "\"\\ud800\\udc00\"",
	    "\"\\udc00\"",
	    "\"\\ud800x\"",
	    "\"\\u12\"",
	    "\xef\xbb\xbf{}",
	    "\xef\xbb\xbf{",
	    "\xef\xbb\xbf",
	    "\xef\xbb\xbf{}  ",
	    "\x01{}\x01",
	    "{}\x7f",
	    "{}\r\n\t \0",
	    "{\"a\":[-]}",
	    "{\"a\":-.5}",
	    "{\"a\":1.}",
	    "{\"a\":00012}",
	    "{\"a\":1e5.5}",
	    "{\"a\":1..2}",
	    "{\"a\":1e}",
	    "{\"a\":--1}",
	    "{\"a\":1-2}",
	    "{\"a\":0x10}",
	    "{\"a\":.5}",
	    "{\"a\":-e5}",
	    "{\"a\":1E+2}",
	    "{\"a\":+1}",
	    "{\"a\":\"\\/\\b\\f\\n\\r\\t\\\"\\\\\"}",
	    "{\"a\":\"\\x\"}",
	    "{\"a\":\"\\uZZZZb\"}",
	    "{\"a\\u0000b\":1}",
	    "{\"a\\uzzzzb\":1,\"a\":2}",
	    "{\"\\u0061\":1,\"a\":2}",
	    "{\"a\":\"\\u00e9\\u20ac\\ud83d\\ude00\"}",
	    "{\"a\":\"\\uD83D\\uDE00\"}",
	    "{\"a\":\"\\ud83d\\u0041\"}",
	    "{\"a\":\"\\ud83d\"}",
	    /* calls with the numbers and strings of the tags and the usage at their edges */
	    "{\"event_id\":\"e\",\"ts\":\"2026-11-01T12:00:00Z\",\"team\":\"t\",\"workflow\":\"w\","
	    "\"task_type\":\"k\",\"provider\":\"p\",\"model\":\"m\",\"usage\":{\"input_tokens\":"
	    "1e3,\"output_tokens\":2.0E0,\"cache_read_tokens\":-0,\"reasoning_tokens\":0.0},"
	    "\"tags\":{\"a\":0.1,\"b\":1e22,\"c\":-0,\"d\":123456789012,\"e\":1.5e300,\"f\":1e400,"
	    "\"g\":0.30000000000000004,\"h\":-1e-7,\"i\":2.5,\"j\":true,\"k\":false,"
	    "\"l\":\"q\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0001\\u001f\\u007f\\u00e9\",\"\\n\":1,"
	    "\"m\":12345678901234567890123}}",
	    "{\"event_id\":\"e\",\"ts\":\"2026-11-01T12:00:00Z\",\"team\":\"t\",\"workflow\":\"w\","
	    "\"task_type\":\"k\",\"provider\":\"p\",\"model\":\"m\",\"usage\":{\"input_tokens\":"
	    "999999999.99999999,\"output_tokens\":1000000000.0000001,\"cache_read_tokens\":"
	    "0.000000000000000000000000001e27},\"quality\":0.1e1,\"latency_ms\":86400000e0}",
	    "{\"event_id\":\"e\",\"ts\":\"2026-11-01T12:00:00Z\",\"team\":\"t\\uzzzz\","
	    "\"workflow\":\"w\",\"task_type\":\"k\",\"provider\":\"p\",\"model\":\"m\","
	    "\"usage\":{\"input_tokens\":1,\"output_tokens\":1},\"provider_cost_usd\":1e-7}",
	    "{\"outcome_id\":\"o\",\"ts\":\"2026-11-01T12:00:00Z\",\"success\":true,"
	    "\"value_usd\":12.345678901234567}",
	    "{\"event_id\":\"e\",\"ts\":\"2026-11-01T12:00:00Z\",\"score\":4.9e-324,\"source\":"
	    "\"a\\u0000\"}",
	};
	char big[4200];
	size_t n = 0;

	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
		assert_same(cases[i], strlen(cases[i]), "edge case");
	assert_same("{}\0\0", 4, "NUL padding");
	assert_same("{\"a\":\"x\0y\"}", 11, "a NUL in a string");
	assert_same("{\"a\":1\0}", 8, "a NUL between tokens");
	/* nesting: 1000 levels are read, 1001 are not */
	for (int depth = 999; depth <= 1001; depth++) {
		n = 0;
		for (int i = 0; i < depth; i++)
			big[n++] = '[';
		for (int i = 0; i < depth; i++)
			big[n++] = ']';
		assert_same(big, n, "nesting");
	}
	/* more than 32 members, a key twice: the smallest repeated is named */
	n = (size_t)snprintf(big, sizeof big, "{\"z\":1,\"b\":2,\"y\":3,");
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(big + n, sizeof big - n, "\"k%02d\":%d,", i, i);
	n += (size_t)snprintf(big + n, sizeof big - n, "\"y\":4,\"b\":5}");
	assert_same(big, n, "40 members");
	/* a number longer than cJSON 1.7.15's old 63-byte buffer */
	n = (size_t)snprintf(big, sizeof big,
	                     "{\"outcome_id\":\"o\",\"success\":true,\"ts\":"
	                     "\"2026-11-01T12:00:00Z\",\"value_usd\":");
	for (int i = 0; i < 80; i++)
		big[n++] = (char)('1' + i % 9);
	big[n++] = '}';
	assert_same(big, n, "a long number");
}

/* xorshift64: the same mutations on every run */
static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* One line of generated traffic and variants of it: cut short, a byte
 * changed, dropped or put in, a piece of JSON put in. */
static void same_line_and_variants(const char *line, size_t len, uint64_t *rng)
{
	static const char bytes[] = "\"\\{}[],:0-+.eE \x01\x7f\xff\x80u";
	static const char *const pieces[] = {
	    "\\u0000", "\\ud800",  "\\uZZZZ", "\"a\":1,", "1e400", "-0",  "null",        "[",
	    "{",       "\xef\xbb", " ",       ",",        "\"\"",  "1.5", "\"team\":1,", "\\",
	};
	char buf[8192];
	size_t at, n;

	assert_same(line, len, "traffic");
	if (len == 0 || len + 16 > sizeof buf)
		return;
	for (int v = 0; v < 6; v++) {
		at = (size_t)(next_rand(rng) % len);
		memcpy(buf, line, len);
		n = len;
		switch (v) {
		case 0: n = at; break;
		case 1: buf[at] = bytes[next_rand(rng) % (sizeof bytes - 1)]; break;
		case 2:
			memmove(buf + at, buf + at + 1, len - at - 1);
			n = len - 1;
			break;
		case 3:
		case 4: {
			const char *p = pieces[next_rand(rng) % (sizeof pieces / sizeof *pieces)];
			size_t pl = strlen(p);
			memcpy(buf + at, p, pl);
			memcpy(buf + at + pl, line + at, len - at);
			n = len + pl;
			break;
		}
		default: buf[at] = '\0'; break;
		}
		assert_same(buf, n, "traffic variant");
	}
}

/* Generated traffic (bench/gen_traffic.sh: every usage shape it makes,
 * outcomes and feedback), line by line and mutated, reads the same with the
 * reader as with the reference parser. Run from the repository root. */
static void test_same_traffic(void **state)
{
	static const char *const commands[] = {
	    "sh bench/gen_traffic.sh live 3000 11",
	    "sh bench/gen_traffic.sh backfill 3000 5",
	};
	uint64_t rng = UINT64_C(0x9e3779b97f4a7c15);
	size_t lines = 0, parsed = 0;

	(void)state;
	for (size_t c = 0; c < sizeof commands / sizeof *commands; c++) {
		FILE *fp = popen(commands[c], "r");
		char *line = NULL;
		size_t cap = 0;
		ssize_t n;
		assert_non_null(fp);
		while ((n = getline(&line, &cap, fp)) > 0) {
			if (line[n - 1] == '\n')
				n--;
			lines++;
			parsed += assert_same(line, (size_t)n, "traffic") > 0;
			same_line_and_variants(line, (size_t)n, &rng);
		}
		free(line);
		assert_int_equal(pclose(fp), 0);
	}
	print_message("%zu lines of traffic, %zu of them events, each with 6 variants\n", lines,
	              parsed);
	assert_true(lines >= 6000);
	assert_int_equal(parsed, lines);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_call_usage_shapes),
	    cmocka_unit_test(test_tags_each),
	    cmocka_unit_test(test_tags_round_trip),
	    cmocka_unit_test(test_call_all_fields),
	    cmocka_unit_test(test_call_provider_shapes),
	    cmocka_unit_test(test_call_pricing_fields),
	    cmocka_unit_test(test_call_defaults),
	    cmocka_unit_test(test_call_optional),
	    cmocka_unit_test(test_call_quality),
	    cmocka_unit_test(test_call_string_limits),
	    cmocka_unit_test(test_call_missing),
	    cmocka_unit_test(test_call_wrong_type),
	    cmocka_unit_test(test_call_bad_numbers),
	    cmocka_unit_test(test_call_bad_ts),
	    cmocka_unit_test(test_call_bad_usage),
	    cmocka_unit_test(test_call_bad_enum),
	    cmocka_unit_test(test_call_too_long),
	    cmocka_unit_test(test_call_tags_limit),
	    cmocka_unit_test(test_bad_messages),
	    cmocka_unit_test(test_message_edges),
	    cmocka_unit_test(test_oversized),
	    cmocka_unit_test(test_no_pointers_into_buf),
	    cmocka_unit_test(test_outcome_valid),
	    cmocka_unit_test(test_outcome_invalid),
	    cmocka_unit_test(test_outcome_too_long),
	    cmocka_unit_test(test_feedback_valid),
	    cmocka_unit_test(test_feedback_invalid),
	    cmocka_unit_test(test_expect_mismatch),
	    cmocka_unit_test(test_detect_kind),
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_threads),
	    cmocka_unit_test(test_same_edges),
	    cmocka_unit_test(test_same_traffic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
