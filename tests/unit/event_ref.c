/* event_ref.c - event_parse and event_detect_kind as they were before
 * common/jread.c: cJSON builds a tree, the same rules validate it. For tests
 * only: test_event.c and tests/fuzz/fuzz_event.c include this file and check
 * that the reader changed nothing, the same events and the same error
 * messages for the same bytes (event_same() below). The code is
 * common/event.c of commit f35763b with its public functions renamed
 * ref_*; do not fix it, it is the reference.
 *
 * The original file comment follows.
 *
   event.c - parsing and validating the JSON events of docs/events.md.
 *
 * Each message is parsed with cJSON into a tree that lives only for the call;
 * every string is copied into the fixed-size fields of struct event, so
 * nothing points into the caller's buffer afterwards. There is no static
 * mutable state here: event_parse may run on many threads at once.
 *
 * JSON null is treated as "absent" for optional fields (SDKs like to send
 * "tier": null) and as missing for required ones. Unknown fields are ignored.
 *
 * Money (provider_cost_usd, value_usd) should be sent as a decimal string
 * ("0.000183"): it is converted exactly to pico-USD. A JSON number is accepted
 * too, but it has already been through binary floating point, so it is
 * printed with 15 significant digits first; that is exact for any amount a
 * person would write, not for arbitrary binary fractions.
 *
 * How a "usage" object's shape is recognised, in this order:
 *   - "prompt_tokens" present: OpenAI Chat Completions. input = prompt_tokens
 *     (cached included), output = completion_tokens, cache read =
 *     prompt_tokens_details.cached_tokens, reasoning =
 *     completion_tokens_details.reasoning_tokens.
 *   - "input_tokens_details" or "output_tokens_details" present: OpenAI
 *     Responses API. input = input_tokens (cached included), cache read =
 *     input_tokens_details.cached_tokens, reasoning =
 *     output_tokens_details.reasoning_tokens.
 *   - "cache_creation_input_tokens" or "cache_read_input_tokens" present:
 *     Anthropic Messages. Anthropic's input_tokens leaves the cache out, so
 *     input = input_tokens + cache_creation_input_tokens +
 *     cache_read_input_tokens; cache write = cache_creation_input_tokens,
 *     cache read = cache_read_input_tokens.
 *   - otherwise tally's own shape: input_tokens, output_tokens,
 *     cache_read_tokens, cache_write_tokens, reasoning_tokens. (An Anthropic
 *     usage without cache fields means the same thing in this shape.)
 */
#include "../../common/event.h"

int ref_event_parse(const char *buf, size_t len, int expect, struct event *ev,
                    struct tally_err *err);
int ref_event_detect_kind(const char *buf, size_t len);
#define event_parse       ref_event_parse
#define event_detect_kind ref_event_detect_kind
#define call_status_name  ref_call_status_name
#define usage_shape_name  ref_usage_shape_name
const char *ref_call_status_name(enum call_status s);
const char *ref_usage_shape_name(enum usage_shape s);

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USD_MAX        9000000           /* bound on value_usd and provider_cost_usd */
#define LATENCY_MAX_MS INT64_C(86400000) /* one day */
#define EXCERPT_MAX    48                /* bytes of a bad value quoted in a message */

/* Earliest and latest accepted timestamps: 2000-01-01 and 2100-01-01 UTC. */
#define TS_MIN_US (INT64_C(946684800) * 1000000)
#define TS_END_US (INT64_C(4102444800) * 1000000)

/* Copies at most EXCERPT_MAX bytes of s into out, cut on a character boundary
 * and made printable, so that a bad value can be quoted in a one-line message
 * that is itself valid UTF-8. */
static void excerpt(const char *s, char *out, size_t n)
{
	size_t len = strlen(s), cut = len;

	if (cut > EXCERPT_MAX)
		cut = EXCERPT_MAX;
	if (cut >= n)
		cut = n - 1;
	while (cut > 0 && cut < len && ((unsigned char)s[cut] & 0xC0) == 0x80)
		cut--;
	memcpy(out, s, cut);
	out[cut] = '\0';
	utf8_sanitize(out);
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	if (cut < len && cut + 4 <= n - 1)
		memcpy(out + cut, "...", 4);
}

/* Describes a JSON value for "got ..." in an error message. */
static void describe(const cJSON *v, char *out, size_t n)
{
	char ex[EXCERPT_MAX + 8];

	if (!v) {
		snprintf(out, n, "nothing");
	} else if (cJSON_IsNull(v)) {
		snprintf(out, n, "null");
	} else if (cJSON_IsTrue(v)) {
		snprintf(out, n, "true");
	} else if (cJSON_IsFalse(v)) {
		snprintf(out, n, "false");
	} else if (cJSON_IsNumber(v)) {
		snprintf(out, n, "%.15g", v->valuedouble);
	} else if (cJSON_IsString(v)) {
		excerpt(v->valuestring, ex, sizeof ex);
		snprintf(out, n, "a string \"%s\"", ex);
	} else if (cJSON_IsArray(v)) {
		snprintf(out, n, "an array");
	} else {
		snprintf(out, n, "an object");
	}
}

/* The member `key` of obj, the first of that name (check_unique_keys refuses
 * a second), or NULL; as cJSON_GetObjectItemCaseSensitive, but a key's first
 * byte is compared before calling strcmp: an event is read by some forty
 * lookups in objects of twenty members, the collector's hottest loop. */
static const cJSON *lookup(const cJSON *obj, const char *key)
{
	if (!cJSON_IsObject(obj))
		return NULL;
	for (const cJSON *c = obj->child; c; c = c->next)
		if (c->string && c->string[0] == key[0] && strcmp(c->string, key) == 0)
			return c;
	return NULL;
}

/* Returns the member `key` of obj, or NULL when it is absent or null. */
static const cJSON *member(const cJSON *obj, const char *key)
{
	const cJSON *v = lookup(obj, key);

	return cJSON_IsNull(v) ? NULL : v;
}

static bool has_member(const cJSON *obj, const char *key)
{
	return lookup(obj, key) != NULL;
}

/* Copies the string member `key` into dst (room for max bytes and a NUL).
 * An absent optional string leaves dst empty. */
static int get_string(const cJSON *obj, const char *key, size_t max, bool required, char *dst,
                      struct tally_err *err)
{
	const cJSON *v = member(obj, key);
	char got[EXCERPT_MAX + 32];
	size_t len;

	dst[0] = '\0';
	if (!v) {
		if (!required)
			return 0;
		if (has_member(obj, key))
			return tally_err_set(err, TALLY_EINVAL, false,
			                     "%s must be a non-empty string, got null", key);
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "missing required field \"%s\" (string)", key);
	}
	if (!cJSON_IsString(v)) {
		describe(v, got, sizeof got);
		return tally_err_set(err, TALLY_EINVAL, false, "%s must be a string, got %s", key,
		                     got);
	}
	len = strlen(v->valuestring);
	if (len == 0 && required)
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "%s must be a non-empty string, got \"\"", key);
	if (len > max)
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "%s is too long: %zu bytes, at most %zu allowed", key, len,
		                     max);
	if (!utf8_valid(v->valuestring, len))
		return tally_err_set(err, TALLY_EINVAL, false, "%s is not valid UTF-8", key);
	/* Names end up in logs, CSV cells and dashboards: no control characters. */
	ptrdiff_t ctl = text_control_at(v->valuestring, len);
	if (ctl >= 0)
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "%s holds a control character (byte %td): names are printable"
		                     " text",
		                     key, ctl + 1);
	memcpy(dst, v->valuestring, len + 1);
	return 0;
}

/* Reads an integral number 0..max from obj[key]; `path` is the prefix used in
 * messages ("usage."). Sets *found (may be NULL) when the member was there;
 * an absent optional member leaves *out at 0. */
static int get_int(const cJSON *obj, const char *path, const char *key, int64_t max, bool required,
                   bool *found, int64_t *out, struct tally_err *err)
{
	const cJSON *v = member(obj, key);
	char got[EXCERPT_MAX + 32];

	if (found)
		*found = v != NULL;
	*out = 0;
	if (!v) {
		if (!required)
			return 0;
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "missing required field \"%s%s\" (integer 0..%lld)", path, key,
		                     (long long)max);
	}
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0 ||
	    v->valuedouble > (double)max || v->valuedouble != (double)(int64_t)v->valuedouble) {
		describe(v, got, sizeof got);
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "%s%s must be an integer 0..%lld, got %s", path, key,
		                     (long long)max, got);
	}
	*out = (int64_t)v->valuedouble;
	return 0;
}

/* Reads an optional boolean; absent leaves *out false. */
static int get_bool(const cJSON *obj, const char *key, bool required, bool *out,
                    struct tally_err *err)
{
	const cJSON *v = member(obj, key);
	char got[EXCERPT_MAX + 32];

	*out = false;
	if (!v) {
		if (!required)
			return 0;
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "missing required field \"%s\" (true or false)", key);
	}
	if (!cJSON_IsBool(v)) {
		describe(v, got, sizeof got);
		return tally_err_set(err, TALLY_EINVAL, false, "%s must be true or false, got %s",
		                     key, got);
	}
	*out = cJSON_IsTrue(v);
	return 0;
}

/* Reads a score in [0,1]. */
static int get_unit(const cJSON *obj, const char *key, bool required, bool *found, double *out,
                    struct tally_err *err)
{
	const cJSON *v = member(obj, key);
	char got[EXCERPT_MAX + 32];

	*found = v != NULL;
	*out = 0;
	if (!v) {
		if (!required)
			return 0;
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "missing required field \"%s\" (number 0..1)", key);
	}
	if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= 1)) {
		describe(v, got, sizeof got);
		return tally_err_set(err, TALLY_EINVAL, false, "%s must be a number 0..1, got %s",
		                     key, got);
	}
	*out = v->valuedouble;
	return 0;
}

/* Reads an optional amount of USD, 0..USD_MAX, into pico-USD. */
static int get_usd(const cJSON *obj, const char *key, bool *found, int64_t *out,
                   struct tally_err *err)
{
	const cJSON *v = member(obj, key);
	char got[EXCERPT_MAX + 32], num[64];
	const char *text;

	*found = v != NULL;
	*out = 0;
	if (!v)
		return 0;
	describe(v, got, sizeof got); /* rare: providers' costs are seldom sent */
	if (cJSON_IsString(v)) {
		text = v->valuestring;
	} else if (cJSON_IsNumber(v)) {
		snprintf(num, sizeof num, "%.15g", v->valuedouble);
		text = num;
	} else {
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "%s must be a decimal string such as \"0.000183\", got %s",
		                     key, got);
	}
	/* One message for syntax and range: either way the fix is the same. */
	if (money_parse(text, 12, out, NULL) < 0 || *out < 0 || *out > USD_MAX * PUSD_PER_USD)
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "%s must be a decimal amount of USD between 0 and %d such as "
		                     "\"0.000183\", got %s",
		                     key, USD_MAX, got);
	return 0;
}

/* Reads the required "ts" member. */
static int get_ts(const cJSON *obj, int64_t *out, struct tally_err *err)
{
	const cJSON *v = member(obj, "ts");
	char got[EXCERPT_MAX + 32], ex[EXCERPT_MAX + 8];

	if (!v)
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "missing required field \"ts\" (RFC 3339 timestamp, e.g. "
		                     "2026-11-01T12:00:00Z)");
	if (!cJSON_IsString(v)) {
		describe(v, got, sizeof got);
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "ts must be an RFC 3339 timestamp string (e.g. "
		                     "2026-11-01T12:00:00Z), got %s",
		                     got);
	}
	excerpt(v->valuestring, ex, sizeof ex);
	if (time_parse(v->valuestring, false, out) < 0)
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "ts \"%s\" is not an RFC 3339 timestamp (e.g. "
		                     "2026-11-01T12:00:00Z)",
		                     ex);
	if (*out < TS_MIN_US || *out >= TS_END_US)
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "ts \"%s\" is outside the years 2000..2099 (UTC)", ex);
	return 0;
}

/* Finds an optional nested object such as usage.prompt_tokens_details;
 * *out is NULL when it is absent or null. */
static int get_object(const cJSON *obj, const char *path, const char *key, const cJSON **out,
                      struct tally_err *err)
{
	const cJSON *v = member(obj, key);
	char got[EXCERPT_MAX + 32];

	*out = NULL;
	if (!v)
		return 0;
	if (!cJSON_IsObject(v)) {
		describe(v, got, sizeof got);
		return tally_err_set(err, TALLY_EINVAL, false, "%s%s must be an object, got %s",
		                     path, key, got);
	}
	*out = v;
	return 0;
}

/* An optional integer 0..EVENT_TOKENS_MAX member; absent leaves *out 0. */
static int opt_tokens(const cJSON *obj, const char *path, const char *key, int64_t *out,
                      struct tally_err *err)
{
	return get_int(obj, path, key, EVENT_TOKENS_MAX, false, NULL, out, err);
}

static int req_tokens(const cJSON *obj, const char *path, const char *key, int64_t *out,
                      struct tally_err *err)
{
	return get_int(obj, path, key, EVENT_TOKENS_MAX, true, NULL, out, err);
}

/* a + b into *out, at most EVENT_TOKENS_MAX. */
static int sum_tokens(int64_t a, int64_t b, const char *what, int64_t *out, struct tally_err *err)
{
	if (a + b > EVENT_TOKENS_MAX)
		return tally_err_set(err, TALLY_EINVAL, false, "%s must be at most %lld, got %lld",
		                     what, (long long)EVENT_TOKENS_MAX, (long long)(a + b));
	*out = a + b;
	return 0;
}

/* Checks that part <= whole ("cached tokens are part of the input"). */
static int part_of(int64_t part, const char *part_name, int64_t whole, const char *whole_name,
                   const char *why, struct tally_err *err)
{
	if (part <= whole)
		return 0;
	return tally_err_set(err, TALLY_EINVAL, false, "%s (%lld) must not exceed %s (%lld): %s",
	                     part_name, (long long)part, whole_name, (long long)whole, why);
}

/* The field names of one of OpenAI's usage shapes. */
struct openai_usage_names {
	const char *input, *output;           /* "prompt_tokens", "completion_tokens" */
	const char *input_details;            /* "prompt_tokens_details" */
	const char *output_details;           /* "completion_tokens_details" */
	const char *input_path, *output_path; /* "usage.prompt_tokens_details." */
};

static const struct openai_usage_names openai_chat = {
    "prompt_tokens",
    "completion_tokens",
    "prompt_tokens_details",
    "completion_tokens_details",
    "usage.prompt_tokens_details.",
    "usage.completion_tokens_details.",
};

static const struct openai_usage_names openai_responses = {
    "input_tokens",
    "output_tokens",
    "input_tokens_details",
    "output_tokens_details",
    "usage.input_tokens_details.",
    "usage.output_tokens_details.",
};

static const struct openai_usage_names openai_realtime = {
    "input_tokens",
    "output_tokens",
    "input_token_details",
    "output_token_details",
    "usage.input_token_details.",
    "usage.output_token_details.",
};

/* Checks the normalised parts against their wholes (every shape ends here). */
static int usage_check(struct call_event *c, struct tally_err *err)
{
	if (part_of(c->cache_read_tokens + c->cache_write_tokens, "cache read + write tokens",
	            c->input_tokens, "input tokens", "cached tokens are part of the input",
	            err) < 0 ||
	    part_of(c->cache_write_1h_tokens, "1-hour cache write tokens", c->cache_write_tokens,
	            "cache write tokens", "1-hour writes are part of the cache writes", err) < 0 ||
	    part_of(c->audio_cache_read_tokens, "cached audio tokens", c->audio_input_tokens,
	            "audio input tokens", "cached audio is part of the audio input", err) < 0 ||
	    part_of(c->audio_cache_read_tokens, "cached audio tokens", c->cache_read_tokens,
	            "cache read tokens", "cached audio is part of the cache reads", err) < 0 ||
	    part_of(c->cache_read_tokens + c->cache_write_tokens + c->audio_input_tokens -
	                c->audio_cache_read_tokens + c->image_input_tokens + c->citation_tokens,
	            "cached + audio + image + citation input tokens", c->input_tokens,
	            "input tokens", "they are parts of the input", err) < 0 ||
	    part_of(c->reasoning_tokens + c->audio_output_tokens + c->image_output_tokens +
	                c->video_output_tokens,
	            "reasoning + audio + image + video output tokens", c->output_tokens,
	            "output tokens", "they are parts of the output", err) < 0)
		return -1;
	return 0;
}

/* The OpenAI shapes: input includes the cached tokens, output the reasoning
 * tokens; only the names differ. xAI reports reasoning beside the
 * completion: reasoning_beside adds it to the output. */
static int usage_openai(const cJSON *u, const struct openai_usage_names *n, bool reasoning_beside,
                        struct call_event *c, struct tally_err *err)
{
	const cJSON *id, *od, *cd = NULL;
	int64_t x = 0;

	if (req_tokens(u, "usage.", n->input, &c->input_tokens, err) < 0 ||
	    req_tokens(u, "usage.", n->output, &c->output_tokens, err) < 0 ||
	    get_object(u, "usage.", n->input_details, &id, err) < 0 ||
	    get_object(u, "usage.", n->output_details, &od, err) < 0 ||
	    opt_tokens(u, "usage.", "cache_write_tokens", &c->cache_write_tokens, err) < 0)
		return -1;
	if (id) {
		if (opt_tokens(id, n->input_path, "cached_tokens", &c->cache_read_tokens, err) <
		        0 ||
		    opt_tokens(id, n->input_path, "audio_tokens", &c->audio_input_tokens, err) <
		        0 ||
		    opt_tokens(id, n->input_path, "image_tokens", &c->image_input_tokens, err) <
		        0 ||
		    opt_tokens(id, n->input_path, "cache_write_tokens", &x, err) < 0 ||
		    get_object(id, n->input_path, "cached_tokens_details", &cd, err) < 0)
			return -1;
		if (x)
			c->cache_write_tokens = x;
	}
	if (cd) { /* Realtime: the cached part by modality */
		int64_t cached_image = 0;
		if (opt_tokens(cd, "usage.input_token_details.cached_tokens_details.",
		               "audio_tokens", &c->audio_cache_read_tokens, err) < 0 ||
		    opt_tokens(cd, "usage.input_token_details.cached_tokens_details.",
		               "image_tokens", &cached_image, err) < 0)
			return -1;
		/* Cached images are cache reads; image_input counts the uncached. */
		if (cached_image > c->image_input_tokens)
			return tally_err_set(err, TALLY_EINVAL, false,
			                     "usage.input_token_details.cached_tokens_details."
			                     "image_tokens exceeds image_tokens");
		c->image_input_tokens -= cached_image;
	}
	if (od &&
	    (opt_tokens(od, n->output_path, "reasoning_tokens", &c->reasoning_tokens, err) < 0 ||
	     opt_tokens(od, n->output_path, "audio_tokens", &c->audio_output_tokens, err) < 0 ||
	     opt_tokens(od, n->output_path, "image_tokens", &c->image_output_tokens, err) < 0))
		return -1;
	if (reasoning_beside && sum_tokens(c->output_tokens, c->reasoning_tokens,
	                                   "usage.completion_tokens + "
	                                   "completion_tokens_details.reasoning_tokens",
	                                   &c->output_tokens, err) < 0)
		return -1;
	char pn[96], wn[96];
	snprintf(pn, sizeof pn, "%scached_tokens", n->input_path);
	snprintf(wn, sizeof wn, "usage.%s", n->input);
	if (part_of(c->cache_read_tokens, pn, c->input_tokens, wn,
	            "cached tokens are part of the input", err) < 0)
		return -1;
	snprintf(pn, sizeof pn, "%sreasoning_tokens", n->output_path);
	snprintf(wn, sizeof wn, "usage.%s", n->output);
	if (part_of(c->reasoning_tokens, pn, c->output_tokens, wn,
	            "reasoning tokens are part of the output", err) < 0)
		return -1;
	return usage_check(c, err);
}

/* DeepSeek: OpenAI's chat shape with the cache split into hit and miss. */
static int usage_deepseek(const cJSON *u, struct call_event *c, struct tally_err *err)
{
	int64_t miss = 0;
	bool has_miss = false;

	if (usage_openai(u, &openai_chat, false, c, err) < 0 ||
	    opt_tokens(u, "usage.", "prompt_cache_hit_tokens", &c->cache_read_tokens, err) < 0 ||
	    get_int(u, "usage.", "prompt_cache_miss_tokens", EVENT_TOKENS_MAX, false, &has_miss,
	            &miss, err) < 0)
		return -1;
	if (has_miss && c->cache_read_tokens + miss != c->input_tokens)
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "usage.prompt_cache_hit_tokens + prompt_cache_miss_tokens "
		                     "(%lld) must equal usage.prompt_tokens (%lld)",
		                     (long long)(c->cache_read_tokens + miss),
		                     (long long)c->input_tokens);
	return usage_check(c, err);
}

/* An optional string of a usage object or the event (first found wins). */
static int opt_option(const cJSON *obj, const char *key, char *dst, struct tally_err *err)
{
	if (dst[0] || !obj)
		return 0;
	return get_string(obj, key, EVENT_OPTION_MAX, false, dst, err);
}

static int usage_anthropic(const cJSON *u, struct call_event *c, struct tally_err *err)
{
	const cJSON *cc, *stu;
	int64_t uncached, cw = 0, m5 = 0, h1 = 0;
	bool has_cw;

	if (req_tokens(u, "usage.", "input_tokens", &uncached, err) < 0 ||
	    req_tokens(u, "usage.", "output_tokens", &c->output_tokens, err) < 0 ||
	    get_int(u, "usage.", "cache_creation_input_tokens", EVENT_TOKENS_MAX, false, &has_cw,
	            &cw, err) < 0 ||
	    opt_tokens(u, "usage.", "cache_read_input_tokens", &c->cache_read_tokens, err) < 0 ||
	    get_object(u, "usage.", "cache_creation", &cc, err) < 0 ||
	    get_object(u, "usage.", "server_tool_use", &stu, err) < 0)
		return -1;
	if (cc &&
	    (opt_tokens(cc, "usage.cache_creation.", "ephemeral_5m_input_tokens", &m5, err) < 0 ||
	     opt_tokens(cc, "usage.cache_creation.", "ephemeral_1h_input_tokens", &h1, err) < 0))
		return -1;
	if (!has_cw)
		cw = m5 + h1;
	/* The API reference's own example reports a total with both TTL parts 0:
	 * the total rules, and the 1-hour part of it is priced apart. */
	if (h1 > cw)
		return tally_err_set(
		    err, TALLY_EINVAL, false,
		    "usage.cache_creation.ephemeral_1h_input_tokens (%lld) must not "
		    "exceed usage.cache_creation_input_tokens (%lld)",
		    (long long)h1, (long long)cw);
	c->cache_write_tokens = cw;
	c->cache_write_1h_tokens = h1;
	if (stu && opt_tokens(stu, "usage.server_tool_use.", "web_search_requests",
	                      &c->web_search_calls, err) < 0)
		return -1;
	if (opt_option(u, "service_tier", c->service_tier, err) < 0 ||
	    opt_option(u, "inference_geo", c->inference_geo, err) < 0 ||
	    opt_option(u, "speed", c->speed, err) < 0)
		return -1;
	/* Anthropic's input_tokens leaves the cache out. */
	if (sum_tokens(uncached, c->cache_write_tokens + c->cache_read_tokens,
	               "usage.input_tokens + cache_creation_input_tokens + "
	               "cache_read_input_tokens",
	               &c->input_tokens, err) < 0)
		return -1;
	return usage_check(c, err);
}

/* Bedrock Converse: inputTokens leaves the cache out, as Anthropic's does. */
static int usage_bedrock(const cJSON *u, struct call_event *c, struct tally_err *err)
{
	int64_t uncached;

	if (req_tokens(u, "usage.", "inputTokens", &uncached, err) < 0 ||
	    req_tokens(u, "usage.", "outputTokens", &c->output_tokens, err) < 0 ||
	    opt_tokens(u, "usage.", "cacheReadInputTokens", &c->cache_read_tokens, err) < 0 ||
	    opt_tokens(u, "usage.", "cacheWriteInputTokens", &c->cache_write_tokens, err) < 0 ||
	    sum_tokens(uncached, c->cache_read_tokens + c->cache_write_tokens,
	               "usage.inputTokens + cacheReadInputTokens + cacheWriteInputTokens",
	               &c->input_tokens, err) < 0)
		return -1;
	return usage_check(c, err);
}

/* Sums the tokenCount of the entries of a Gemini modality list whose
 * modality is `modality`. */
static int gemini_modality(const cJSON *u, const char *list, const char *modality, int64_t *out,
                           struct tally_err *err)
{
	const cJSON *arr = member(u, list), *e;
	char path[96];

	*out = 0;
	if (!arr)
		return 0;
	if (!cJSON_IsArray(arr))
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "usage.%s must be an array of {modality, tokenCount}", list);
	snprintf(path, sizeof path, "usage.%s[].", list);
	cJSON_ArrayForEach(e, arr)
	{
		const cJSON *m = cJSON_IsObject(e) ? member(e, "modality") : NULL;
		int64_t n;
		if (!m || !cJSON_IsString(m))
			return tally_err_set(
			    err, TALLY_EINVAL, false,
			    "usage.%s entries must be objects with a modality string", list);
		if (strcmp(m->valuestring, modality) != 0)
			continue;
		if (opt_tokens(e, path, "tokenCount", &n, err) < 0 ||
		    sum_tokens(*out, n, path, out, err) < 0)
			return -1;
	}
	return 0;
}

/* Gemini usageMetadata: promptTokenCount includes the cached content;
 * thoughts are billed as output beside the candidates. */
static int usage_gemini(const cJSON *u, struct call_event *c, struct tally_err *err)
{
	int64_t prompt, tool = 0, cand = 0, thoughts = 0, x;

	if (req_tokens(u, "usage.", "promptTokenCount", &prompt, err) < 0 ||
	    opt_tokens(u, "usage.", "toolUsePromptTokenCount", &tool, err) < 0 ||
	    opt_tokens(u, "usage.", "candidatesTokenCount", &cand, err) < 0 ||
	    opt_tokens(u, "usage.", "thoughtsTokenCount", &thoughts, err) < 0 ||
	    opt_tokens(u, "usage.", "cachedContentTokenCount", &c->cache_read_tokens, err) < 0 ||
	    sum_tokens(prompt, tool, "usage.promptTokenCount + toolUsePromptTokenCount",
	               &c->input_tokens, err) < 0 ||
	    sum_tokens(cand, thoughts, "usage.candidatesTokenCount + thoughtsTokenCount",
	               &c->output_tokens, err) < 0 ||
	    gemini_modality(u, "promptTokensDetails", "AUDIO", &c->audio_input_tokens, err) < 0 ||
	    gemini_modality(u, "toolUsePromptTokensDetails", "AUDIO", &x, err) < 0 ||
	    sum_tokens(c->audio_input_tokens, x, "audio input tokens", &c->audio_input_tokens,
	               err) < 0 ||
	    gemini_modality(u, "cacheTokensDetails", "AUDIO", &c->audio_cache_read_tokens, err) <
	        0 ||
	    gemini_modality(u, "candidatesTokensDetails", "AUDIO", &c->audio_output_tokens, err) <
	        0 ||
	    gemini_modality(u, "candidatesTokensDetails", "IMAGE", &c->image_output_tokens, err) <
	        0 ||
	    gemini_modality(u, "candidatesTokensDetails", "VIDEO", &c->video_output_tokens, err) <
	        0)
		return -1;
	c->reasoning_tokens = thoughts;
	return usage_check(c, err);
}

static int usage_tally(const cJSON *u, struct call_event *c, struct tally_err *err)
{
	if (req_tokens(u, "usage.", "input_tokens", &c->input_tokens, err) < 0 ||
	    req_tokens(u, "usage.", "output_tokens", &c->output_tokens, err) < 0 ||
	    opt_tokens(u, "usage.", "cache_read_tokens", &c->cache_read_tokens, err) < 0 ||
	    opt_tokens(u, "usage.", "cache_write_tokens", &c->cache_write_tokens, err) < 0 ||
	    opt_tokens(u, "usage.", "reasoning_tokens", &c->reasoning_tokens, err) < 0 ||
	    opt_tokens(u, "usage.", "cache_write_1h_tokens", &c->cache_write_1h_tokens, err) < 0 ||
	    opt_tokens(u, "usage.", "audio_input_tokens", &c->audio_input_tokens, err) < 0 ||
	    opt_tokens(u, "usage.", "audio_cache_read_tokens", &c->audio_cache_read_tokens, err) <
	        0 ||
	    opt_tokens(u, "usage.", "image_input_tokens", &c->image_input_tokens, err) < 0 ||
	    opt_tokens(u, "usage.", "audio_output_tokens", &c->audio_output_tokens, err) < 0 ||
	    opt_tokens(u, "usage.", "image_output_tokens", &c->image_output_tokens, err) < 0 ||
	    opt_tokens(u, "usage.", "video_output_tokens", &c->video_output_tokens, err) < 0)
		return -1;
	if (c->cache_read_tokens + c->cache_write_tokens > c->input_tokens)
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "usage.cache_read_tokens + usage.cache_write_tokens (%lld) "
		                     "must not exceed usage.input_tokens (%lld): cached tokens are "
		                     "part of the input",
		                     (long long)(c->cache_read_tokens + c->cache_write_tokens),
		                     (long long)c->input_tokens);
	if (c->reasoning_tokens > c->output_tokens)
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "usage.reasoning_tokens (%lld) must not exceed "
		                     "usage.output_tokens (%lld): reasoning tokens are part of the "
		                     "output",
		                     (long long)c->reasoning_tokens, (long long)c->output_tokens);
	return usage_check(c, err);
}

/* Perplexity (docs/events.md): OpenAI's chat shape, with citation tokens
 * beside the prompt and reasoning tokens beside the completion (each billed
 * at its own rate, the response's usage.cost lists them apart), and the
 * searches a deep-research call ran. input = prompt_tokens +
 * citation_tokens, output = completion_tokens + reasoning_tokens. */
static int usage_perplexity(const cJSON *u, struct call_event *c, struct tally_err *err)
{
	int64_t reasoning = 0, searches = 0;
	bool has_searches = false;

	if (usage_openai(u, &openai_chat, false, c, err) < 0 ||
	    opt_tokens(u, "usage.", "citation_tokens", &c->citation_tokens, err) < 0 ||
	    opt_tokens(u, "usage.", "reasoning_tokens", &reasoning, err) < 0 ||
	    get_int(u, "usage.", "num_search_queries", EVENT_TOKENS_MAX, false, &has_searches,
	            &searches, err) < 0)
		return -1;
	if (sum_tokens(c->input_tokens, c->citation_tokens, "usage.prompt_tokens + citation_tokens",
	               &c->input_tokens, err) < 0 ||
	    sum_tokens(c->output_tokens, reasoning, "usage.completion_tokens + reasoning_tokens",
	               &c->output_tokens, err) < 0 ||
	    sum_tokens(c->reasoning_tokens, reasoning, "usage.reasoning_tokens",
	               &c->reasoning_tokens, err) < 0)
		return -1;
	if (has_searches)
		c->web_search_calls = searches;
	return usage_check(c, err);
}

static bool is_xai(const char *provider)
{
	return strcmp(provider, "xai") == 0 || strcmp(provider, "x-ai") == 0 ||
	       strcmp(provider, "grok") == 0;
}

/* True when an OpenAI-chat-shaped usage reports reasoning beside the
 * completion (xAI): total_tokens = prompt + completion + reasoning. */
static bool reasoning_beside(const cJSON *u)
{
	const cJSON *t = member(u, "total_tokens"), *p = member(u, "prompt_tokens"),
	            *o = member(u, "completion_tokens"),
	            *d = member(u, "completion_tokens_details");
	const cJSON *r = d && cJSON_IsObject(d) ? member(d, "reasoning_tokens") : NULL;

	if (!t || !p || !o || !r || !cJSON_IsNumber(t) || !cJSON_IsNumber(p) ||
	    !cJSON_IsNumber(o) || !cJSON_IsNumber(r) || r->valuedouble <= 0)
		return false;
	return t->valuedouble == p->valuedouble + o->valuedouble + r->valuedouble &&
	       t->valuedouble != p->valuedouble + o->valuedouble;
}

/* OpenAI's transcription usage billed by duration:
 * {"type": "duration", "seconds": 9}. */
static bool is_duration(const cJSON *u)
{
	const cJSON *t = member(u, "type");

	return t && cJSON_IsString(t) && strcmp(t->valuestring, "duration") == 0 &&
	       has_member(u, "seconds") && !has_member(u, "input_tokens");
}

/* seconds (a number, fractions allowed) -> input_seconds, rounded up to the
 * whole second: the per-second rate prices whole seconds (docs/prices.md). */
static int usage_duration(const cJSON *u, struct call_event *c, struct tally_err *err)
{
	const cJSON *v = member(u, "seconds");
	char got[EXCERPT_MAX + 32];
	double sec;

	describe(v, got, sizeof got);
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || v->valuedouble < 0 ||
	    v->valuedouble > (double)EVENT_TOKENS_MAX)
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "usage.seconds must be a number 0..%lld, got %s",
		                     (long long)EVENT_TOKENS_MAX, got);
	sec = v->valuedouble;
	c->units[PC_INPUT_SECONDS] = (int64_t)sec;
	if ((double)c->units[PC_INPUT_SECONDS] < sec)
		c->units[PC_INPUT_SECONDS]++;
	return 0;
}

static int parse_usage(const cJSON *root, struct call_event *c, struct tally_err *err)
{
	const cJSON *u = member(root, "usage");
	char got[EXCERPT_MAX + 32];

	if (!u)
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "missing required field \"usage\" (object with input_tokens "
		                     "and output_tokens)");
	if (!cJSON_IsObject(u)) {
		describe(u, got, sizeof got);
		return tally_err_set(err, TALLY_EINVAL, false, "usage must be an object, got %s",
		                     got);
	}
	/* Each shape by a field only it has (docs/events.md, "Usage shapes"). */
	if (has_member(u, "promptTokenCount")) {
		c->usage_shape = USAGE_GEMINI;
		return usage_gemini(u, c, err);
	}
	if (has_member(u, "inputTokens")) {
		c->usage_shape = USAGE_BEDROCK;
		return usage_bedrock(u, c, err);
	}
	if (is_duration(u)) {
		c->usage_shape = USAGE_DURATION;
		return usage_duration(u, c, err);
	}
	if (has_member(u, "prompt_tokens")) {
		/* xAI Live Search: the sources it used, priced per source. */
		if (opt_tokens(u, "usage.", "num_sources_used", &c->units[PC_LIVE_SEARCH], err) < 0)
			return -1;
		if (has_member(u, "prompt_cache_hit_tokens")) {
			c->usage_shape = USAGE_DEEPSEEK;
			return usage_deepseek(u, c, err);
		}
		if (has_member(u, "citation_tokens") || has_member(u, "num_search_queries")) {
			c->usage_shape = USAGE_PERPLEXITY;
			return usage_perplexity(u, c, err);
		}
		if (is_xai(c->provider) || reasoning_beside(u)) {
			c->usage_shape = USAGE_XAI;
			return usage_openai(u, &openai_chat,
			                    reasoning_beside(u) || is_xai(c->provider), c, err);
		}
		c->usage_shape = USAGE_OPENAI;
		return usage_openai(u, &openai_chat, false, c, err);
	}
	if (has_member(u, "cache_creation_input_tokens") ||
	    has_member(u, "cache_read_input_tokens") || has_member(u, "cache_creation") ||
	    has_member(u, "server_tool_use") || has_member(u, "inference_geo")) {
		c->usage_shape = USAGE_ANTHROPIC;
		return usage_anthropic(u, c, err);
	}
	if (has_member(u, "input_token_details") || has_member(u, "output_token_details")) {
		c->usage_shape = USAGE_OPENAI_REALTIME;
		return usage_openai(u, &openai_realtime, false, c, err);
	}
	if (has_member(u, "input_tokens_details") || has_member(u, "output_tokens_details")) {
		c->usage_shape = USAGE_OPENAI_RESPONSES;
		return usage_openai(u, &openai_responses, false, c, err);
	}
	c->usage_shape = USAGE_TALLY;
	return usage_tally(u, c, err);
}

/* The names of the per-unit components an event's "units" object may count
 * (every component whose unit is not "tokens", request aside: one per call). */
#define EV_UNIT_NAME_(ID, name, key, unit) #name,
#define EV_UNIT_UNIT_(ID, name, key, unit) unit,
static const char *const unit_names[PC_COUNT] = {PRICE_COMPONENTS(EV_UNIT_NAME_)};
static const char *const unit_units[PC_COUNT] = {PRICE_COMPONENTS(EV_UNIT_UNIT_)};
#undef EV_UNIT_NAME_
#undef EV_UNIT_UNIT_

static bool per_unit(int k)
{
	return strcmp(unit_units[k], "tokens") != 0 && k != PC_REQUEST;
}

/* "units": {"<component>": n, ...} - per-unit quantities of the call (images,
 * pixels, seconds, characters, sources; docs/events.md). A name that is not
 * a per-unit component is refused: a typo must not make a charge vanish. */
static int parse_units(const cJSON *root, struct call_event *c, struct tally_err *err)
{
	const cJSON *uo, *m;

	if (get_object(root, "", "units", &uo, err) < 0)
		return -1;
	if (!uo)
		return 0;
	cJSON_ArrayForEach(m, uo)
	{
		int k;
		for (k = 0; k < PC_COUNT; k++)
			if (per_unit(k) && strcmp(m->string, unit_names[k]) == 0)
				break;
		if (k == PC_COUNT) {
			char names[512] = "";
			size_t at = 0;
			for (int j = 0; j < PC_COUNT && at < sizeof names; j++)
				if (per_unit(j))
					at +=
					    (size_t)snprintf(names + at, sizeof names - at, "%s%s",
					                     at ? ", " : "", unit_names[j]);
			return tally_err_set(
			    err, TALLY_EINVAL, false,
			    "units.%.64s is not a per-unit price component (one of %s)", m->string,
			    names);
		}
		if (get_int(uo, "units.", m->string, EVENT_TOKENS_MAX, false, NULL,
		            k == PC_WEB_SEARCH ? &c->web_search_calls : &c->units[k], err) < 0)
			return -1;
	}
	return 0;
}

/* OpenAI Responses: the response's "output" items, when the gateway forwards
 * them, count one web search per "web_search_call" item (docs/events.md).
 * Anything else in "output" is not looked at. */
static int parse_output_items(const cJSON *root, struct call_event *c, struct tally_err *err)
{
	const cJSON *out = member(root, "output"), *it;
	int64_t n = 0;

	(void)err;
	if (!out || !cJSON_IsArray(out))
		return 0;
	cJSON_ArrayForEach(it, out)
	{
		const cJSON *t = cJSON_IsObject(it) ? member(it, "type") : NULL;
		if (t && cJSON_IsString(t) && strcmp(t->valuestring, "web_search_call") == 0)
			n++;
	}
	if (n > 0)
		c->web_search_calls = n;
	return 0;
}

/* The optional pricing fields of a call (docs/events.md): service_tier,
 * data_residency, tool_use, and Anthropic's inference_geo and speed when the
 * usage object did not carry them. The event's own fields win. */
static int parse_pricing_fields(const cJSON *root, struct call_event *c, struct tally_err *err)
{
	char tier[EVENT_OPTION_MAX + 1] = "", geo[EVENT_OPTION_MAX + 1] = "",
	                             speed[EVENT_OPTION_MAX + 1] = "";
	const cJSON *tu;
	int64_t searches = 0;
	bool found = false;

	if (get_string(root, "service_tier", EVENT_OPTION_MAX, false, tier, err) < 0 ||
	    get_string(root, "data_residency", EVENT_OPTION_MAX, false, c->data_residency, err) <
	        0 ||
	    get_string(root, "inference_geo", EVENT_OPTION_MAX, false, geo, err) < 0 ||
	    get_string(root, "speed", EVENT_OPTION_MAX, false, speed, err) < 0 ||
	    get_object(root, "", "tool_use", &tu, err) < 0)
		return -1;
	if (tier[0])
		memcpy(c->service_tier, tier, sizeof tier);
	if (geo[0])
		memcpy(c->inference_geo, geo, sizeof geo);
	if (speed[0])
		memcpy(c->speed, speed, sizeof speed);
	if (tu && get_int(tu, "tool_use.", "web_search", EVENT_TOKENS_MAX, false, &found, &searches,
	                  err) < 0)
		return -1;
	if (found)
		c->web_search_calls = searches;
	else if (parse_output_items(root, c, err) < 0)
		return -1;
	return parse_units(root, c, err);
}

static int parse_status(const cJSON *root, enum call_status *out, struct tally_err *err)
{
	static const char *const names[] = {"ok", "error", "timeout", "cancelled"};
	const cJSON *v = member(root, "status");
	char got[EXCERPT_MAX + 32];

	*out = CALL_OK;
	if (!v)
		return 0;
	if (cJSON_IsString(v))
		for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
			if (strcmp(v->valuestring, names[i]) == 0) {
				*out = (enum call_status)i;
				return 0;
			}
	describe(v, got, sizeof got);
	return tally_err_set(err, TALLY_EINVAL, false,
	                     "status must be one of ok, error, timeout, cancelled, got %s", got);
}

static int parse_tags(const cJSON *root, char *dst, struct tally_err *err)
{
	const cJSON *t = member(root, "tags"), *v;
	char got[EXCERPT_MAX + 32], key[EXCERPT_MAX + 8];
	char *text;
	size_t len;

	dst[0] = '\0';
	if (!t)
		return 0;
	if (!cJSON_IsObject(t)) {
		describe(t, got, sizeof got);
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "tags must be an object of strings, numbers or booleans, "
		                     "got %s",
		                     got);
	}
	cJSON_ArrayForEach(v, t)
	{
		if (cJSON_IsString(v) || cJSON_IsNumber(v) || cJSON_IsBool(v))
			continue;
		excerpt(v->string ? v->string : "", key, sizeof key);
		describe(v, got, sizeof got);
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "tags.%s must be a string, number or boolean, got %s", key,
		                     got);
	}
	text = cJSON_PrintUnformatted(t);
	if (!text)
		return tally_err_set(err, TALLY_ENOMEM, true, "out of memory printing tags");
	len = strlen(text);
	if (len > EVENT_TAGS_MAX) {
		cJSON_free(text);
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "tags is too long: %zu bytes as compact JSON, at most %d "
		                     "allowed",
		                     len, EVENT_TAGS_MAX);
	}
	if (!utf8_valid(text, len)) {
		cJSON_free(text);
		return tally_err_set(err, TALLY_EINVAL, false, "tags is not valid UTF-8");
	}
	memcpy(dst, text, len + 1);
	cJSON_free(text);
	return 0;
}

static int parse_call(const cJSON *root, struct call_event *c, struct tally_err *err)
{
	bool found;

	memset(c, 0, sizeof *c);
	c->latency_ms = -1;
	if (get_string(root, "event_id", EVENT_ID_MAX, true, c->event_id, err) < 0 ||
	    get_ts(root, &c->ts_us, err) < 0 ||
	    get_string(root, "team", EVENT_NAME_MAX, true, c->team, err) < 0 ||
	    get_string(root, "workflow", EVENT_NAME_MAX, true, c->workflow, err) < 0 ||
	    get_string(root, "task_type", EVENT_NAME_MAX, true, c->task_type, err) < 0 ||
	    get_string(root, "provider", EVENT_NAME_MAX, true, c->provider, err) < 0 ||
	    get_string(root, "model", EVENT_MODEL_MAX, true, c->model, err) < 0 ||
	    parse_usage(root, c, err) < 0 || parse_pricing_fields(root, c, err) < 0)
		return -1;
	if (get_string(root, "outcome_id", EVENT_ID_MAX, false, c->outcome_id, err) < 0 ||
	    get_string(root, "tier", EVENT_TIER_MAX, false, c->tier, err) < 0 ||
	    get_bool(root, "batch", false, &c->batch, err) < 0 ||
	    get_bool(root, "cache_hit", false, &c->cache_hit, err) < 0 ||
	    get_bool(root, "local", false, &c->local, err) < 0 ||
	    get_int(root, "", "latency_ms", LATENCY_MAX_MS, false, &found, &c->latency_ms, err) <
	        0 ||
	    parse_status(root, &c->status, err) < 0 ||
	    get_string(root, "prompt_hash", EVENT_NAME_MAX, false, c->prompt_hash, err) < 0 ||
	    get_unit(root, "quality", false, &c->has_quality, &c->quality, err) < 0 ||
	    get_usd(root, "provider_cost_usd", &c->has_provider_cost, &c->provider_cost_pusd, err) <
	        0 ||
	    parse_tags(root, c->tags, err) < 0)
		return -1;
	if (!found)
		c->latency_ms = -1;
	return 0;
}

static int parse_outcome(const cJSON *root, struct outcome_event *o, struct tally_err *err)
{
	memset(o, 0, sizeof *o);
	if (get_string(root, "outcome_id", EVENT_ID_MAX, true, o->outcome_id, err) < 0 ||
	    get_ts(root, &o->ts_us, err) < 0 ||
	    get_bool(root, "success", true, &o->success, err) < 0 ||
	    get_string(root, "team", EVENT_NAME_MAX, false, o->team, err) < 0 ||
	    get_string(root, "workflow", EVENT_NAME_MAX, false, o->workflow, err) < 0 ||
	    get_string(root, "kind", EVENT_NAME_MAX, false, o->kind, err) < 0 ||
	    get_usd(root, "value_usd", &o->has_value, &o->value_pusd, err) < 0 ||
	    get_bool(root, "correction", false, &o->correction, err) < 0)
		return -1;
	return 0;
}

static int parse_feedback(const cJSON *root, struct feedback_event *f, struct tally_err *err)
{
	bool found;

	memset(f, 0, sizeof *f);
	if (get_string(root, "event_id", EVENT_ID_MAX, true, f->event_id, err) < 0 ||
	    get_ts(root, &f->ts_us, err) < 0 ||
	    get_unit(root, "score", true, &found, &f->score, err) < 0 ||
	    get_string(root, "source", EVENT_NAME_MAX, false, f->source, err) < 0)
		return -1;
	return 0;
}

/* The kind an object's top-level keys suggest, or -1. */
static int shape_kind(const cJSON *root)
{
	if (has_member(root, "model") || has_member(root, "usage"))
		return EVENT_CALL;
	if (has_member(root, "outcome_id") && has_member(root, "success"))
		return EVENT_OUTCOME;
	if (has_member(root, "score"))
		return EVENT_FEEDBACK;
	return -1;
}

/* Bytes that JSON text must not carry for tally: a raw NUL anywhere in the
 * value and a \u0000 escape in a string. C strings end at a NUL, so another
 * consumer of the same message would read a different text than tally did.
 * Returns 0, or -1 with err set. */
static int check_no_nul(const char *buf, const char *end, struct tally_err *err)
{
	bool in_str = false;

	for (const char *p = buf; p < end; p++) {
		if (*p == '\0')
			return tally_err_set(
			    err, TALLY_EINVAL, false,
			    "message holds a NUL byte at byte %zu: send text without"
			    " NUL",
			    (size_t)(p - buf) + 1);
		if (!in_str) {
			in_str = *p == '"';
			continue;
		}
		if (*p == '"') {
			in_str = false;
		} else if (*p == '\\' && p + 1 < end) {
			if (p[1] == 'u' && end - p >= 6 && memcmp(p + 2, "0000", 4) == 0)
				return tally_err_set(
				    err, TALLY_EINVAL, false,
				    "message holds \\u0000 (NUL) in a string at byte"
				    " %zu: send text without NUL",
				    (size_t)(p - buf) + 1);
			p++;
		}
	}
	return 0;
}

static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Refuses an object (at any depth) that names a key twice: tally reads the
 * first, other consumers often the last, so the message has no one meaning.
 * Returns 0, or -1 with err set. */
static int check_unique_keys(const cJSON *v, struct tally_err *err)
{
	const cJSON *c;
	size_t n = 0, i = 0;
	const char **keys;
	int rc = 0;

	if (!cJSON_IsObject(v) && !cJSON_IsArray(v))
		return 0;
	for (c = v->child; c; c = c->next) {
		n++;
		if (check_unique_keys(c, err) < 0)
			return -1;
	}
	if (!cJSON_IsObject(v) || n < 2)
		return 0;
	const char *dup = NULL;
	if (n <= 32) {
		/* an event's objects: pairwise, no allocation (first bytes first) */
		for (c = v->child; c && !dup; c = c->next)
			for (const cJSON *d = v->child; d != c; d = d->next) {
				const char *a = c->string ? c->string : "",
				           *b = d->string ? d->string : "";
				if (a[0] == b[0] && strcmp(a, b) == 0) {
					dup = a;
					break;
				}
			}
	} else {
		if (!(keys = malloc(n * sizeof *keys)))
			return tally_err_set(err, TALLY_ENOMEM, true, "out of memory");
		for (c = v->child; c; c = c->next)
			keys[i++] = c->string ? c->string : "";
		qsort(keys, n, sizeof *keys, key_cmp);
		for (i = 1; i < n && !dup; i++)
			if (strcmp(keys[i - 1], keys[i]) == 0)
				dup = keys[i];
		free(keys);
	}
	if (dup) {
		char k[EXCERPT_MAX + 1];
		excerpt(dup, k, sizeof k);
		rc = tally_err_set(err, TALLY_EINVAL, false,
		                   "key \"%s\" appears twice in one object: send each key once", k);
	}
	return rc;
}

/* Parses buf as one JSON object with nothing but whitespace (or NUL padding)
 * after it. Returns the tree (free with cJSON_Delete) or NULL with err set. */
static cJSON *parse_object(const char *buf, size_t len, struct tally_err *err)
{
	const char *end = NULL;
	cJSON *root;
	char got[EXCERPT_MAX + 32];

	if (len > EVENT_MAX_BYTES) {
		tally_err_set(err, TALLY_EINVAL, false,
		              "message is %zu bytes, larger than the limit of %d bytes", len,
		              EVENT_MAX_BYTES);
		return NULL;
	}
	if (!buf || len == 0) {
		tally_err_set(err, TALLY_EINVAL, false, "message is empty, expected a JSON object");
		return NULL;
	}
	root = cJSON_ParseWithLengthOpts(buf, len, &end, false);
	if (!root) {
		/* Counted from 1, as editors and `cut -b` do. */
		size_t at = end && end >= buf && end < buf + len ? (size_t)(end - buf) + 1 : len;
		tally_err_set(err, TALLY_EINVAL, false,
		              "message is not JSON (syntax error near byte %zu)", at);
		return NULL;
	}
	for (const char *p = end; p && p < buf + len; p++) {
		if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' || *p == '\0')
			continue;
		tally_err_set(err, TALLY_EINVAL, false,
		              "message is not JSON (unexpected data after the value at byte %zu)",
		              (size_t)(p - buf) + 1);
		cJSON_Delete(root);
		return NULL;
	}
	if (check_no_nul(buf, end, err) < 0 || check_unique_keys(root, err) < 0) {
		cJSON_Delete(root);
		return NULL;
	}
	if (!cJSON_IsObject(root)) {
		describe(root, got, sizeof got);
		tally_err_set(err, TALLY_EINVAL, false, "message must be a JSON object, got %s",
		              got);
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

/* Parses and validates one event message; see event.h. Fills *ev; on error
 * *ev is unspecified and err holds one actionable line. Allocates only
 * temporarily (all freed before returning); thread-safe. */
int event_parse(const char *buf, size_t len, int expect, struct event *ev, struct tally_err *err)
{
	cJSON *root;
	int kind, rc = -1;

	if (expect >= EVENT_KINDS)
		return tally_err_set(err, TALLY_EINVAL, false, "unknown event kind %d", expect);
	root = parse_object(buf, len, err);
	if (!root)
		return -1;
	kind = expect >= 0 ? expect : shape_kind(root);
	switch (kind) {
	case EVENT_CALL: rc = parse_call(root, &ev->u.call, err); break;
	case EVENT_OUTCOME: rc = parse_outcome(root, &ev->u.outcome, err); break;
	case EVENT_FEEDBACK: rc = parse_feedback(root, &ev->u.feedback, err); break;
	default:
		tally_err_set(err, TALLY_EINVAL, false,
		              "unknown event shape: expected a call (with \"model\" and "
		              "\"usage\"), an outcome (with \"outcome_id\" and \"success\") or "
		              "feedback (with \"score\")");
		break;
	}
	if (rc == 0)
		ev->kind = (enum event_kind)kind;
	cJSON_Delete(root);
	return rc;
}

/* Returns the kind a message's shape suggests (same rules as event_parse
 * with expect -1), or -1 when it is not a JSON object of a known shape or is
 * larger than EVENT_MAX_BYTES. Does not validate fields; thread-safe. */
int event_detect_kind(const char *buf, size_t len)
{
	cJSON *root = parse_object(buf, len, NULL);
	int kind;

	if (!root)
		return -1;
	kind = shape_kind(root);
	cJSON_Delete(root);
	return kind;
}

/* The status as it appears in events and the ledger; "unknown" if out of range. */
const char *call_status_name(enum call_status s)
{
	switch (s) {
	case CALL_OK: return "ok";
	case CALL_ERROR: return "error";
	case CALL_TIMEOUT: return "timeout";
	case CALL_CANCELLED: return "cancelled";
	}
	return "unknown";
}

/* A short name of the usage shape ("tally", "openai", "anthropic",
 * "openai_responses"); "unknown" if out of range. */
const char *usage_shape_name(enum usage_shape s)
{
	switch (s) {
	case USAGE_TALLY: return "tally";
	case USAGE_OPENAI: return "openai";
	case USAGE_ANTHROPIC: return "anthropic";
	case USAGE_OPENAI_RESPONSES: return "openai_responses";
	case USAGE_OPENAI_REALTIME: return "openai_realtime";
	case USAGE_GEMINI: return "gemini";
	case USAGE_BEDROCK: return "bedrock";
	case USAGE_DEEPSEEK: return "deepseek";
	case USAGE_XAI: return "xai";
	case USAGE_DURATION: return "duration";
	case USAGE_PERPLEXITY: return "perplexity";
	}
	return "unknown";
}

#undef event_parse
#undef event_detect_kind
#undef call_status_name
#undef usage_shape_name

/* ---- comparing the two ---------------------------------------------------- */

/* Parses buf with event_parse and ref_event_parse (the same expect, a
 * fresh error each) and compares what they give: the result, the error's
 * code, retriable and message, and on success the whole event (every byte
 * of the kind's struct: both clear it first). Also compares
 * event_detect_kind with its reference. Returns NULL when all agree, else a
 * description of the first difference in why (n bytes). */
static const char *event_same(const char *buf, size_t len, int expect, char *why, size_t n)
{
	static struct event a, b; /* 3 KB each: off the stack */
	struct tally_err ea, eb;
	int ra, rb, ka, kb;
	size_t size = 0;

	memset(&a, 0x5a, sizeof a);
	memset(&b, 0xa5, sizeof b);
	tally_err_clear(&ea);
	tally_err_clear(&eb);
	ra = event_parse(buf, len, expect, &a, &ea);
	rb = ref_event_parse(buf, len, expect, &b, &eb);
	if (ra != rb || ea.code != eb.code || ea.retriable != eb.retriable ||
	    strcmp(ea.msg, eb.msg) != 0) {
		snprintf(why, n, "expect %d: new %d (%d) \"%s\", reference %d (%d) \"%s\"", expect,
		         ra, ea.code, ea.msg, rb, eb.code, eb.msg);
		return why;
	}
	ka = event_detect_kind(buf, len);
	kb = ref_event_detect_kind(buf, len);
	if (ka != kb) {
		snprintf(why, n, "event_detect_kind: new %d, reference %d", ka, kb);
		return why;
	}
	if (ra < 0)
		return NULL;
	if (a.kind != b.kind) {
		snprintf(why, n, "expect %d: kind %d, reference %d", expect, a.kind, b.kind);
		return why;
	}
	switch (a.kind) {
	case EVENT_CALL: size = sizeof a.u.call; break;
	case EVENT_OUTCOME: size = sizeof a.u.outcome; break;
	case EVENT_FEEDBACK: size = sizeof a.u.feedback; break;
	default: break;
	}
	for (size_t i = 0; i < size; i++)
		if (((const unsigned char *)&a.u)[i] != ((const unsigned char *)&b.u)[i]) {
			snprintf(why, n, "expect %d: kind %d differs at byte %zu of the event",
			         expect, a.kind, i);
			return why;
		}
	return NULL;
}
