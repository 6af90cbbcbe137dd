/* event.h - the three event kinds of docs/events.md, as parsed and validated.
 *
 * Shared vocabulary: the collector and the HTTP ingestion parse into these,
 * the ledger stores them. Strings are NUL-terminated and bounded.
 */
#ifndef TALLY_EVENT_H
#define TALLY_EVENT_H

#include "common.h"
#include "../ledger/price_components.h" /* the components, for units[] */

#define EVENT_MAX_BYTES  (1024 * 1024) /* larger messages are quarantined */
#define EVENT_ID_MAX     128           /* event_id, outcome_id */
#define EVENT_NAME_MAX   128           /* team, workflow, task_type, provider, kind, prompt_hash */
#define EVENT_MODEL_MAX  256
#define EVENT_TIER_MAX   32
#define EVENT_TAGS_MAX   1024 /* tags as compact JSON: labels, not payloads */
#define EVENT_TOKENS_MAX INT64_C(1000000000)

enum event_kind { EVENT_CALL = 0, EVENT_OUTCOME = 1, EVENT_FEEDBACK = 2, EVENT_KINDS = 3 };

enum call_status { CALL_OK = 0, CALL_ERROR, CALL_TIMEOUT, CALL_CANCELLED };

/* Which usage object shape the call carried (docs/events.md). */
enum usage_shape {
	USAGE_TALLY = 0,
	USAGE_OPENAI,
	USAGE_ANTHROPIC,
	USAGE_OPENAI_RESPONSES,
	USAGE_OPENAI_REALTIME,
	USAGE_GEMINI,
	USAGE_BEDROCK,
	USAGE_DEEPSEEK,
	USAGE_XAI,
	USAGE_DURATION, /* OpenAI transcription {"type":"duration","seconds":n} */
	USAGE_PERPLEXITY,
};

#define EVENT_OPTION_MAX 32 /* service_tier, data_residency, inference_geo, speed */

struct call_event {
	char event_id[EVENT_ID_MAX + 1];
	int64_t ts_us; /* microseconds since the epoch, UTC */
	char team[EVENT_NAME_MAX + 1];
	char workflow[EVENT_NAME_MAX + 1];
	char task_type[EVENT_NAME_MAX + 1];
	char outcome_id[EVENT_ID_MAX + 1]; /* "" when absent */
	char provider[EVENT_NAME_MAX + 1];
	char model[EVENT_MODEL_MAX + 1];
	char tier[EVENT_TIER_MAX + 1]; /* "" when absent: the price book decides */
	/* Normalised usage: input counts all input (cache read and write are
	 * parts of it); output counts all output (reasoning is part of it). */
	int64_t input_tokens, output_tokens;
	int64_t cache_read_tokens, cache_write_tokens, reasoning_tokens;
	enum usage_shape usage_shape;
	bool batch, cache_hit, local;
	enum call_status status;
	int64_t latency_ms;                   /* -1 when absent */
	char prompt_hash[EVENT_NAME_MAX + 1]; /* "" when absent */
	bool has_quality;
	double quality; /* [0,1]; a score, not money */
	bool has_provider_cost;
	int64_t provider_cost_pusd; /* pico-USD, exact */
	/* Billable details (docs/events.md); each a part of the counts above. */
	int64_t cache_write_1h_tokens;   /* of cache_write_tokens: 1-hour TTL writes */
	int64_t audio_input_tokens;      /* of input_tokens, cached audio included */
	int64_t audio_cache_read_tokens; /* of audio_input_tokens and cache_read_tokens */
	int64_t image_input_tokens;      /* of input_tokens (uncached) */
	int64_t audio_output_tokens;     /* of output_tokens */
	int64_t image_output_tokens;     /* of output_tokens */
	int64_t video_output_tokens;     /* of output_tokens (Gemini VIDEO candidates) */
	int64_t web_search_calls;        /* billable web searches (tool_use.web_search) */
	int64_t citation_tokens;         /* of input_tokens: Perplexity's citation tokens */
	/* Per-unit quantities by price component (images, pixels, seconds,
	 * characters, live-search sources: every component whose unit is not
	 * "tokens", web_search and request aside); 0 for the others. */
	int64_t units[PC_COUNT];
	char service_tier[EVENT_OPTION_MAX + 1];   /* "" = standard */
	char data_residency[EVENT_OPTION_MAX + 1]; /* "" = none */
	char inference_geo[EVENT_OPTION_MAX + 1];  /* Anthropic; "" = none */
	char speed[EVENT_OPTION_MAX + 1];          /* Anthropic "fast"; "" = standard */
	/* Last, so that a copy can stop at the tags actually used. */
	char tags[EVENT_TAGS_MAX + 1]; /* compact JSON object, "" when absent */
};

struct outcome_event {
	char outcome_id[EVENT_ID_MAX + 1];
	int64_t ts_us;
	char team[EVENT_NAME_MAX + 1];     /* "" when absent */
	char workflow[EVENT_NAME_MAX + 1]; /* "" when absent */
	char kind[EVENT_NAME_MAX + 1];     /* "" when absent */
	bool success;
	bool has_value;
	int64_t value_pusd;
	bool correction; /* "correction": true: takes effect whatever its ts (admin) */
};

struct feedback_event {
	char event_id[EVENT_ID_MAX + 1]; /* the call it is about */
	int64_t ts_us;
	double score;                    /* [0,1] */
	char source[EVENT_NAME_MAX + 1]; /* eval|human|auto, "" when absent */
};

struct event {
	enum event_kind kind;
	union {
		struct call_event call;
		struct outcome_event outcome;
		struct feedback_event feedback;
	} u;
};

/* Parses and validates one message into *ev. `expect` is the kind the topic
 * carries, or -1 to detect it from the shape (a call has "model" and "usage",
 * an outcome has "outcome_id" and "success" without "model", feedback has
 * "score"). Returns 0, or -1 with err->msg a reason a person can act on
 * ("usage.input_tokens must be an integer between 0 and 1000000000, got
 * -5"). Never keeps a pointer into buf; thread-safe. */
int event_parse(const char *buf, size_t len, int expect, struct event *ev, struct tally_err *err);

/* Returns the kind of a JSON event by its shape without full validation, or
 * -1 when it is not a JSON object of any known shape. */
int event_detect_kind(const char *buf, size_t len);

const char *call_status_name(enum call_status s);

/* Calls fn with each tag of a call's tags (the compact JSON object
 * event_parse stores in call_event.tags) as PostgreSQL's jsonb_each_text
 * gives it for the stored jsonb: strings unescaped, numbers as numeric
 * prints them, true and false; null values are not tags and of a key given
 * twice the last counts. Returns the number of tags (0 for ""), or -1 when
 * tags is not such an object or fn returned -1. */
typedef int event_tag_fn(const char *key, const char *value, void *arg);
int event_tags_each(const char *tags, event_tag_fn *fn, void *arg);
const char *usage_shape_name(enum usage_shape s);

#endif
