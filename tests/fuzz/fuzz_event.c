/* fuzz_event.c - libFuzzer target for event_parse and event_detect_kind.
 *
 * Build and run:
 *   clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
 *     -o fuzz_event tests/fuzz/fuzz_event.c common/[a-z]*.c -lcjson -lpthread
 *   ./fuzz_event -max_total_time=60 tests/fuzz/corpus
 *
 * Every input is parsed as each kind and with detection. A success must
 * satisfy the invariants of event.h; a failure must leave one line of valid
 * UTF-8 in err.msg (it becomes a quarantine reason). Either way the result
 * must be the reference parser's (tests/unit/event_ref.c: cJSON's tree),
 * byte for byte.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/event.h"
#include "../unit/event_ref.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			abort();                                                                   \
	} while (0)

/* A string field: NUL-terminated inside its array, valid UTF-8. */
#define CHECK_STR(field, nonempty)                                                                 \
	do {                                                                                       \
		const char *nul_ = memchr((field), '\0', sizeof(field));                           \
		CHECK(nul_ != NULL);                                                               \
		CHECK(utf8_valid((field), (size_t)(nul_ - (field))));                              \
		CHECK(!(nonempty) || (field)[0] != '\0');                                          \
	} while (0)

#define TS_MIN_US    (INT64_C(946684800) * 1000000)
#define TS_END_US    (INT64_C(4102444800) * 1000000)
#define USD_MAX_PUSD (INT64_C(9000000) * PUSD_PER_USD)

static void check_call(const struct call_event *c)
{
	CHECK_STR(c->event_id, true);
	CHECK_STR(c->team, true);
	CHECK_STR(c->workflow, true);
	CHECK_STR(c->task_type, true);
	CHECK_STR(c->provider, true);
	CHECK_STR(c->model, true);
	CHECK_STR(c->outcome_id, false);
	CHECK_STR(c->tier, false);
	CHECK_STR(c->prompt_hash, false);
	CHECK_STR(c->tags, false);
	CHECK(c->tags[0] == '\0' || c->tags[0] == '{');
	CHECK(c->ts_us >= TS_MIN_US && c->ts_us < TS_END_US);
	CHECK(c->input_tokens >= 0 && c->input_tokens <= EVENT_TOKENS_MAX);
	CHECK(c->output_tokens >= 0 && c->output_tokens <= EVENT_TOKENS_MAX);
	CHECK(c->cache_read_tokens >= 0 && c->cache_write_tokens >= 0);
	CHECK(c->reasoning_tokens >= 0);
	CHECK(c->cache_read_tokens + c->cache_write_tokens <= c->input_tokens);
	CHECK(c->reasoning_tokens <= c->output_tokens);
	CHECK(c->usage_shape >= USAGE_TALLY && c->usage_shape <= USAGE_XAI);
	CHECK(c->status >= CALL_OK && c->status <= CALL_CANCELLED);
	CHECK(c->latency_ms >= -1 && c->latency_ms <= 86400000);
	CHECK(!c->has_quality || (c->quality >= 0 && c->quality <= 1));
	CHECK(c->has_provider_cost || c->provider_cost_pusd == 0);
	CHECK(c->provider_cost_pusd >= 0 && c->provider_cost_pusd <= USD_MAX_PUSD);
}

static void check_outcome(const struct outcome_event *o)
{
	CHECK_STR(o->outcome_id, true);
	CHECK_STR(o->team, false);
	CHECK_STR(o->workflow, false);
	CHECK_STR(o->kind, false);
	CHECK(o->ts_us >= TS_MIN_US && o->ts_us < TS_END_US);
	CHECK(o->has_value || o->value_pusd == 0);
	CHECK(o->value_pusd >= 0 && o->value_pusd <= USD_MAX_PUSD);
}

static void check_feedback(const struct feedback_event *f)
{
	CHECK_STR(f->event_id, true);
	CHECK_STR(f->source, false);
	CHECK(f->ts_us >= TS_MIN_US && f->ts_us < TS_END_US);
	CHECK(f->score >= 0 && f->score <= 1);
}

/* The reason must be one non-empty line of valid UTF-8. */
static void check_err(const struct tally_err *err)
{
	const char *nul = memchr(err->msg, '\0', sizeof err->msg);

	CHECK(err->code == TALLY_EINVAL || err->code == TALLY_ENOMEM);
	CHECK(nul != NULL && nul != err->msg);
	CHECK(utf8_valid(err->msg, (size_t)(nul - err->msg)));
	CHECK(strchr(err->msg, '\n') == NULL && strchr(err->msg, '\r') == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	int detected = event_detect_kind(buf, size);

	CHECK(detected >= -1 && detected < EVENT_KINDS);
	for (int expect = -1; expect < EVENT_KINDS; expect++) {
		struct event ev;
		struct tally_err err;
		char why[800];

		if (event_same(buf, size, expect, why, sizeof why)) {
			fprintf(stderr, "differs from the reference: %s\n", why);
			abort();
		}

		/* Garbage everywhere, so a missing NUL is caught. */
		memset(&ev, 0xA5, sizeof ev);
		tally_err_clear(&err);
		if (event_parse(buf, size, expect, &ev, &err) < 0) {
			check_err(&err);
			continue;
		}
		CHECK(err.code == TALLY_OK);
		CHECK(expect < 0 ? (int)ev.kind == detected : (int)ev.kind == expect);
		switch (ev.kind) {
		case EVENT_CALL: check_call(&ev.u.call); break;
		case EVENT_OUTCOME: check_outcome(&ev.u.outcome); break;
		case EVENT_FEEDBACK: check_feedback(&ev.u.feedback); break;
		default: abort();
		}
	}
	return 0;
}
