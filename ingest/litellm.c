/* litellm.c - LiteLLM proxy's StandardLoggingPayload (what its generic API
 * logger and custom callbacks post) into tally call events. */
#include "ingest.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the cost LiteLLM computed, as the text it sent ------------------------ */

/* Skips one JSON value starting at p (whitespace already skipped); returns
 * the byte after it, or NULL when the text ends first. Only bracket depth
 * and strings matter: cJSON checks the syntax. */
static const char *skip_value(const char *p, const char *end)
{
	int depth = 0;
	for (; p < end; p++) {
		if (*p == '"') {
			for (p++; p < end && *p != '"'; p++)
				if (*p == '\\')
					p++;
			if (p >= end)
				return NULL;
			if (depth == 0)
				return p + 1;
		} else if (*p == '{' || *p == '[') {
			depth++;
		} else if (*p == '}' || *p == ']') {
			if (--depth <= 0)
				return depth < 0 ? p : p + 1;
		} else if (depth == 0 &&
		           (*p == ',' || *p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) {
			return p;
		}
	}
	return depth == 0 ? p : NULL;
}

static const char *ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	return p;
}

/* The raw text of the top-level member "response_cost" of the object at p
 * (when it is a number), copied to out. */
static void raw_cost(const char *p, const char *end, char *out, size_t n)
{
	out[0] = '\0';
	p = ws(p, end);
	if (p >= end || *p != '{')
		return;
	p++;
	for (;;) {
		p = ws(p, end);
		if (p >= end || *p != '"')
			return;
		const char *k = p + 1, *ke = skip_value(p, end);
		if (!ke)
			return;
		bool match = (size_t)(ke - 1 - k) == 13 && memcmp(k, "response_cost", 13) == 0;
		p = ws(ke, end);
		if (p >= end || *p != ':')
			return;
		p = ws(p + 1, end);
		const char *ve = skip_value(p, end);
		if (!ve)
			return;
		if (match) {
			size_t len = (size_t)(ve - p);
			if (len < n && len > 0 && (*p == '-' || (*p >= '0' && *p <= '9'))) {
				memcpy(out, p, len);
				out[len] = '\0';
			}
			return;
		}
		p = ws(ve, end);
		if (p >= end || *p != ',')
			return;
		p++;
	}
}

/* A JSON number's text as a plain decimal string, exactly ("1.5e-05" gives
 * "0.000015"). Returns -1 when it is not a plain non-negative number. */
static int plain_decimal(const char *num, char *out, size_t n)
{
	char digits[96];
	size_t nd = 0;
	long point = -1, exp = 0;
	const char *p = num;

	for (; *p && *p != 'e' && *p != 'E'; p++) {
		if (*p == '.') {
			if (point >= 0)
				return -1;
			point = (long)nd;
		} else if (*p >= '0' && *p <= '9' && nd < sizeof digits - 1) {
			digits[nd++] = *p;
		} else {
			return -1;
		}
	}
	if (nd == 0)
		return -1;
	if (point < 0)
		point = (long)nd;
	if (*p) {
		char *e;
		exp = strtol(p + 1, &e, 10);
		if (*e || exp < -40 || exp > 20)
			return -1;
	}
	point += exp; /* digits[0..point) is the integer part */
	size_t o = 0;
	if (point <= 0) {
		if (n < (size_t)(2 - point) + nd + 1)
			return -1;
		out[o++] = '0';
		out[o++] = '.';
		for (long i = point; i < 0; i++)
			out[o++] = '0';
		memcpy(out + o, digits, nd);
		o += nd;
	} else {
		for (long i = 0; i < point || i < (long)nd; i++) {
			if (o + 3 >= n)
				return -1;
			if (i == point)
				out[o++] = '.';
			out[o++] = i < (long)nd ? digits[i] : '0';
		}
	}
	out[o] = '\0';
	return 0;
}

/* ---- one payload ------------------------------------------------------------ */

static const char *jstr(const cJSON *o, const char *key)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
	return s && *s ? s : NULL;
}

#define NO_COUNT INT64_MIN

/* A token count as sent (negative ones too: the one validation judges them);
 * NO_COUNT when absent or not a number. */
static int64_t jcount(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsNumber(v) && v->valuedouble >= -1e15 && v->valuedouble <= 1e15
	           ? (int64_t)v->valuedouble
	           : NO_COUNT;
}

/* Adds a tag named by the payload (a key of at most 64 bytes). */
static void tag(cJSON *tags, const char *k, const char *v)
{
	if (k && *k && strlen(k) <= 64)
		ingest_tag_add(tags, k, v);
}

static void convert_payload(const cJSON *pl, const char *raw, const char *raw_end,
                            const char *default_team, struct ingest_item *it)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(pl, "metadata");
	const cJSON *req_md = cJSON_GetObjectItemCaseSensitive(md, "requester_metadata");
	const cJSON *spend_md = cJSON_GetObjectItemCaseSensitive(md, "spend_logs_metadata");
	const cJSON *resp = cJSON_GetObjectItemCaseSensitive(pl, "response");
	const cJSON *usage = cJSON_GetObjectItemCaseSensitive(resp, "usage");
	const char *id = jstr(pl, "id"), *provider = jstr(pl, "custom_llm_provider");
	const char *model = jstr(pl, "model"), *v;
	char buf[160], cost[64], ts[40];
	cJSON *o, *u, *tags;

	snprintf(it->source, sizeof it->source, "payload %.60s", id ? id : "?");
	if (!cJSON_IsObject(pl)) {
		snprintf(it->reason, sizeof it->reason, "not a JSON object");
		return;
	}
	if (!(o = cJSON_CreateObject()))
		return;
	if (id) {
		snprintf(buf, sizeof buf, "litellm-%.119s", id);
		cJSON_AddStringToObject(o, "event_id", buf);
	}
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(pl, "startTime");
	const cJSON *et = cJSON_GetObjectItemCaseSensitive(pl, "endTime");
	if (cJSON_IsNumber(st) && st->valuedouble > 0 && st->valuedouble < 4.1e9) {
		/* Seconds since the epoch as a float: a time, not money. */
		time_format((int64_t)(st->valuedouble * 1e6), ts);
		cJSON_AddStringToObject(o, "ts", ts);
		if (cJSON_IsNumber(et) && et->valuedouble >= st->valuedouble)
			cJSON_AddNumberToObject(
			    o, "latency_ms",
			    (double)(int64_t)((et->valuedouble - st->valuedouble) * 1000));
	}
	/* Team, workflow and task type: what the request said (metadata tally_*
	 * or workflow / task_type), then what the key says. */
	const char *team = jstr(req_md, "tally_team");
	if (!team)
		team = jstr(md, "user_api_key_team_alias");
	if (!team)
		team = jstr(md, "user_api_key_team_id");
	if (!team && default_team && *default_team)
		team = default_team;
	if (team)
		cJSON_AddStringToObject(o, "team", team);
	const char *wf = jstr(req_md, "workflow");
	if (!wf)
		wf = jstr(spend_md, "workflow");
	if (!wf)
		wf = jstr(pl, "model_group");
	if (!wf)
		wf = "litellm";
	cJSON_AddStringToObject(o, "workflow", wf);
	const char *tt = jstr(req_md, "task_type");
	if (!tt)
		tt = jstr(spend_md, "task_type");
	if (!tt)
		tt = jstr(pl, "call_type");
	if (tt)
		cJSON_AddStringToObject(o, "task_type", tt);
	if ((v = jstr(req_md, "outcome_id")) || (v = jstr(spend_md, "outcome_id")))
		cJSON_AddStringToObject(o, "outcome_id", v);
	if (provider)
		cJSON_AddStringToObject(o, "provider", provider);
	if (model) {
		/* "openai/gpt-4o": the provider is said apart. */
		size_t pl_len = provider ? strlen(provider) : 0;
		if (provider && strncmp(model, provider, pl_len) == 0 && model[pl_len] == '/')
			model += pl_len + 1;
		cJSON_AddStringToObject(o, "model", model);
	}
	/* Usage in tally's shape: LiteLLM's prompt_tokens count the cache. */
	u = cJSON_AddObjectToObject(o, "usage");
	int64_t in = jcount(pl, "prompt_tokens"), out = jcount(pl, "completion_tokens");
	if (in == NO_COUNT)
		in = jcount(usage, "prompt_tokens");
	if (out == NO_COUNT)
		out = jcount(usage, "completion_tokens");
	int64_t cr = jcount(cJSON_GetObjectItemCaseSensitive(usage, "prompt_tokens_details"),
	                    "cached_tokens");
	if ((cr == NO_COUNT || cr == 0) && jcount(usage, "cache_read_input_tokens") != NO_COUNT)
		cr = jcount(usage, "cache_read_input_tokens");
	int64_t cw = jcount(usage, "cache_creation_input_tokens");
	int64_t rs = jcount(cJSON_GetObjectItemCaseSensitive(usage, "completion_tokens_details"),
	                    "reasoning_tokens");
	const struct {
		const char *name;
		int64_t v;
	} counts[] = {{"input_tokens", in},
	              {"output_tokens", out},
	              {"cache_read_tokens", cr},
	              {"cache_write_tokens", cw},
	              {"reasoning_tokens", rs}};
	for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++)
		if (counts[i].v != NO_COUNT)
			cJSON_AddNumberToObject(u, counts[i].name, (double)counts[i].v);
	v = jstr(pl, "status");
	cJSON_AddStringToObject(o, "status", v && strcmp(v, "failure") == 0 ? "error" : "ok");
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(pl, "cache_hit")))
		cJSON_AddTrueToObject(o, "cache_hit");
	raw_cost(raw, raw_end, buf, sizeof buf);
	if (buf[0]) {
		if (plain_decimal(buf, cost, sizeof cost) == 0)
			cJSON_AddStringToObject(o, "provider_cost_usd", cost);
		else /* let the one validation say what is wrong with it */
			cJSON_AddStringToObject(o, "provider_cost_usd", buf);
	}
	/* Attribution: key alias, end user, LiteLLM's team, request tags. */
	tags = cJSON_AddObjectToObject(o, "tags");
	tag(tags, "api_key", jstr(md, "user_api_key_alias"));
	if ((v = jstr(pl, "end_user")) || (v = jstr(md, "user_api_key_end_user_id")) ||
	    (v = jstr(md, "user_api_key_user_id")))
		tag(tags, "user", v);
	tag(tags, "litellm.team", jstr(md, "user_api_key_team_alias"));
	tag(tags, "litellm.model_group", jstr(pl, "model_group"));
	const cJSON *t;
	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(pl, "request_tags"))
	{
		const char *s = cJSON_GetStringValue(t), *colon;
		if (!s)
			continue;
		if ((colon = strchr(s, ':')) && colon > s && (size_t)(colon - s) < 64) {
			char k[64];
			memcpy(k, s, (size_t)(colon - s));
			k[colon - s] = '\0';
			tag(tags, k, colon + 1);
		} else {
			tag(tags, s, "true");
		}
	}
	cJSON_ArrayForEach(t, spend_md)
	{
		if (cJSON_IsString(t) && strcmp(t->string, "workflow") != 0 &&
		    strcmp(t->string, "task_type") != 0 && strcmp(t->string, "outcome_id") != 0)
			tag(tags, t->string, t->valuestring);
	}
	if ((it->text = cJSON_PrintUnformatted(o)))
		it->len = strlen(it->text);
	else
		snprintf(it->reason, sizeof it->reason, "out of memory");
	cJSON_Delete(o);
}

/* Converts the JSON value in [p, end) (one payload or an array of them). */
static int convert_value(const char *p, const char *end, const char *default_team,
                         struct ingest_result *r, size_t *cap)
{
	cJSON *root = cJSON_ParseWithLength(p, (size_t)(end - p));
	size_t n;

	if (!root)
		return -1;
	n = cJSON_IsArray(root) ? (size_t)cJSON_GetArraySize(root) : 1;
	if (r->n + n > *cap) {
		size_t nc = (r->n + n) * 2;
		struct ingest_item *ni = realloc(r->items, nc * sizeof *ni);
		if (!ni) {
			cJSON_Delete(root);
			return -2;
		}
		r->items = ni;
		*cap = nc;
	}
	if (cJSON_IsArray(root)) {
		const cJSON *el;
		const char *q = ws(p, end) + 1; /* inside the array: each element's text */
		cJSON_ArrayForEach(el, root)
		{
			const char *s = ws(q, end), *e = skip_value(s, end);
			struct ingest_item *it = &r->items[r->n++];
			memset(it, 0, sizeof *it);
			convert_payload(el, s, e ? e : end, default_team, it);
			q = e ? ws(e, end) : end;
			if (q < end && *q == ',')
				q++;
		}
	} else {
		struct ingest_item *it = &r->items[r->n++];
		memset(it, 0, sizeof *it);
		convert_payload(root, p, end, default_team, it);
	}
	cJSON_Delete(root);
	return 0;
}

int litellm_convert(const char *buf, size_t len, const char *default_team,
                    struct ingest_result *out, struct tally_err *err)
{
	const char *p = buf, *end = buf + len;
	size_t cap = 0;

	memset(out, 0, sizeof *out);
	p = ws(p, end);
	if (p < end && *p == '[') {
		int rc = convert_value(p, end, default_team, out, &cap);
		if (rc == -2)
			return tally_err_set(err, TALLY_ENOMEM, true, "out of memory");
		if (rc < 0)
			return tally_err_set(err, TALLY_EINVAL, false,
			                     "the body starts with [ but is not a JSON array");
		return 0;
	}
	/* One object, or JSON lines (LiteLLM's generic API logger can send
	 * its batch as NDJSON). */
	for (size_t line = 1; p < end; line++) {
		const char *e = memchr(p, '\n', (size_t)(end - p));
		if (!e)
			e = end;
		const char *s = ws(p, e);
		if (s < e) {
			int rc = convert_value(s, e, default_team, out, &cap);
			if (rc == -2)
				return tally_err_set(err, TALLY_ENOMEM, true, "out of memory");
			if (rc < 0) {
				/* A pretty-printed single object spans lines. */
				if (out->n == 0 &&
				    convert_value(ws(buf, end), end, default_team, out, &cap) == 0)
					return 0;
				return tally_err_set(err, TALLY_EINVAL, false,
				                     "line %zu is not JSON: send LiteLLM's "
				                     "StandardLoggingPayload as JSON",
				                     line);
			}
		}
		p = e + 1;
	}
	return 0;
}
