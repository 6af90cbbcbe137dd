/* otlp.c - OpenTelemetry GenAI spans (OTLP protobuf via libprotobuf-c, or
 * OTLP JSON via cJSON) into tally call events. */
#include "ingest.h"

#include <cjson/cJSON.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "otlp.pb-c.h"

/* ---- counters ------------------------------------------------------------ */

static _Atomic int64_t span_counts[2][2];

void ingest_count_spans(int source, size_t spans, size_t skipped)
{
	atomic_fetch_add(&span_counts[source][0], (int64_t)spans);
	atomic_fetch_add(&span_counts[source][1], (int64_t)skipped);
}

void ingest_span_counts(int source, int64_t *spans, int64_t *skipped)
{
	*spans = atomic_load(&span_counts[source][0]);
	*skipped = atomic_load(&span_counts[source][1]);
}

/* ---- the attribute mapping ------------------------------------------------- */

static const char *const map_fields[OTLP_MAP_FIELDS] = {"team", "workflow", "task_type",
                                                        "outcome_id", "tier"};

static int map_apply(const char *spec, struct otlp_map *m, struct tally_err *err)
{
	const char *p = spec;

	while (*p) {
		const char *end = strchr(p, ';'), *eq;
		size_t n = end ? (size_t)(end - p) : strlen(p);
		int f = -1;

		if (n == 0) {
			p += end ? 1 : 0;
			continue;
		}
		eq = memchr(p, '=', n);
		if (!eq)
			return tally_err_set(err, TALLY_EINVAL, false,
			                     "TALLY_OTLP_MAP: \"%.*s\" is not field=key|key",
			                     (int)n, p);
		for (int i = 0; i < OTLP_MAP_FIELDS; i++)
			if (strlen(map_fields[i]) == (size_t)(eq - p) &&
			    memcmp(p, map_fields[i], (size_t)(eq - p)) == 0)
				f = i;
		if (f < 0)
			return tally_err_set(err, TALLY_EINVAL, false,
			                     "TALLY_OTLP_MAP: unknown field \"%.*s\" (use team, "
			                     "workflow, task_type, outcome_id or tier)",
			                     (int)(eq - p), p);
		m->field[f].n = 0;
		for (const char *k = eq + 1; k < p + n;) {
			const char *bar = memchr(k, '|', (size_t)(p + n - k));
			size_t kn = bar ? (size_t)(bar - k) : (size_t)(p + n - k);
			if (kn == 0 || kn > OTLP_MAP_KEY_MAX || m->field[f].n == OTLP_MAP_KEYS)
				return tally_err_set(err, TALLY_EINVAL, false,
				                     "TALLY_OTLP_MAP: field %s takes 1..%d keys of "
				                     "1..%d bytes each",
				                     map_fields[f], OTLP_MAP_KEYS,
				                     OTLP_MAP_KEY_MAX);
			memcpy(m->field[f].keys[m->field[f].n], k, kn);
			m->field[f].keys[m->field[f].n][kn] = '\0';
			m->field[f].n++;
			k += kn + (bar ? 1 : 0);
		}
		p += n + (end ? 1 : 0);
	}
	return 0;
}

int otlp_map_parse(const char *spec, struct otlp_map *m, struct tally_err *err)
{
	memset(m, 0, sizeof *m);
	if (map_apply(OTLP_MAP_DEFAULT, m, err) < 0)
		return -1;
	return spec && *spec ? map_apply(spec, m, err) : 0;
}

/* ---- one span, whatever the encoding ---------------------------------------- */

enum attr_type { ATTR_OTHER, ATTR_STR, ATTR_INT, ATTR_BOOL, ATTR_DOUBLE, ATTR_ARRAY };

struct attr {
	const char *key;
	enum attr_type type;
	const char *s; /* ATTR_STR; ATTR_ARRAY: the string elements joined by "," */
	int64_t i;
	bool b;
	double d;
	char joined[160];
};

struct span_view {
	const uint8_t *trace_id, *span_id; /* 16 and 8 bytes, or NULL */
	uint64_t start_ns, end_ns;
	int status_code; /* 2 = error */
	const char *status_msg;
	struct attr *attrs, *res;
	size_t n_attrs, n_res;
};

static const struct attr *find_in(const struct attr *a, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (a[i].key && strcmp(a[i].key, key) == 0)
			return &a[i];
	return NULL;
}

/* The span's attribute key, else the resource's. */
static const struct attr *attr_get(const struct span_view *sv, const char *key)
{
	const struct attr *a = find_in(sv->attrs, sv->n_attrs, key);
	return a ? a : find_in(sv->res, sv->n_res, key);
}

static const char *attr_str(const struct span_view *sv, const char *key)
{
	const struct attr *a = attr_get(sv, key);
	return a && (a->type == ATTR_STR || a->type == ATTR_ARRAY) && a->s && a->s[0] ? a->s : NULL;
}

#define COUNT_ABSENT INT64_MIN
#define COUNT_BAD    (INT64_MIN + 1) /* present, not an integer */

/* A token count: an int attribute, or a whole double or decimal string
 * (some instrumentations send them so); any integer, negative ones too, for
 * the one validation to judge. */
static int64_t attr_count(const struct span_view *sv, const char *key)
{
	const struct attr *a = attr_get(sv, key);
	int64_t v;

	if (!a)
		return COUNT_ABSENT;
	if (a->type == ATTR_INT)
		return a->i > COUNT_BAD ? a->i : COUNT_BAD;
	if (a->type == ATTR_DOUBLE && a->d >= -1e15 && a->d <= 1e15 &&
	    a->d == (double)(int64_t)a->d)
		return (int64_t)a->d;
	if (a->type == ATTR_STR && parse_i64(a->s, &v) == 0 && v > COUNT_BAD)
		return v;
	return COUNT_BAD;
}

static int64_t first_count(const struct span_view *sv, const char *const *keys)
{
	for (; *keys; keys++) {
		int64_t v = attr_count(sv, *keys);
		if (v != COUNT_ABSENT)
			return v;
	}
	return COUNT_ABSENT;
}

/* gen_ai.provider.name (or the older gen_ai.system) as the price book names
 * the provider. */
static const char *provider_name(const char *otel)
{
	static const char *const tr[][2] = {
	    {"aws.bedrock", "bedrock"},
	    {"azure.ai.openai", "azure"},
	    {"azure.ai.inference", "azure_ai"},
	    {"az.ai.openai", "azure"},
	    {"az.ai.inference", "azure_ai"},
	    {"gcp.gemini", "gemini"},
	    {"gcp.vertex_ai", "vertex_ai"},
	    {"gcp.gen_ai", "vertex_ai"},
	    {"ibm.watsonx.ai", "watsonx"},
	    {"mistral_ai", "mistral"},
	    {"x_ai", "xai"},
	};
	for (size_t i = 0; i < sizeof tr / sizeof tr[0]; i++)
		if (strcmp(otel, tr[i][0]) == 0)
			return tr[i][1];
	return otel;
}

static bool is_agent_or_tool(const char *op)
{
	return strcmp(op, "invoke_agent") == 0 || strcmp(op, "create_agent") == 0 ||
	       strcmp(op, "execute_tool") == 0;
}

void ingest_tag_add(cJSON *tags, const char *k, const char *v)
{
	if (!v || !*v || cJSON_GetObjectItemCaseSensitive(tags, k))
		return;
	cJSON *s = cJSON_AddStringToObject(tags, k, v);
	char *txt = cJSON_PrintUnformatted(tags);
	if (s && (!txt || strlen(txt) > EVENT_TAGS_MAX))
		cJSON_DeleteItemFromObjectCaseSensitive(tags, k);
	free(txt);
}

static int push_item(struct ingest_result *r, size_t *cap)
{
	if (r->n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		struct ingest_item *ni = realloc(r->items, nc * sizeof *ni);
		if (!ni)
			return -1;
		r->items = ni;
		*cap = nc;
	}
	memset(&r->items[r->n], 0, sizeof r->items[r->n]);
	r->n++;
	return 0;
}

/* Turns one span into an item of r, or counts it as skipped. */
static int convert_span(const struct span_view *sv, const struct otlp_map *map,
                        struct ingest_result *r, size_t *cap)
{
	static const char *const in_keys[] = {"gen_ai.usage.input_tokens",
	                                      "gen_ai.usage.prompt_tokens", NULL};
	static const char *const out_keys[] = {"gen_ai.usage.output_tokens",
	                                       "gen_ai.usage.completion_tokens", NULL};
	static const char *const cr_keys[] = {"gen_ai.usage.cache_read.input_tokens",
	                                      "gen_ai.usage.cache_read_input_tokens",
	                                      "gen_ai.usage.input_tokens.cached", NULL};
	static const char *const cw_keys[] = {"gen_ai.usage.cache_creation.input_tokens",
	                                      "gen_ai.usage.cache_creation_input_tokens",
	                                      "gen_ai.usage.input_tokens.cache_write", NULL};
	static const char *const rs_keys[] = {"gen_ai.usage.reasoning.output_tokens",
	                                      "gen_ai.usage.output_tokens.reasoning",
	                                      "gen_ai.usage.reasoning_tokens", NULL};
	const char *op = attr_str(sv, "gen_ai.operation.name");
	const char *prov = attr_str(sv, "gen_ai.provider.name");
	const char *model = attr_str(sv, "gen_ai.response.model");
	char trace[33] = "", span[17] = "", ts[40];
	struct ingest_item *it;
	cJSON *o = NULL, *usage, *tags;

	r->spans++;
	if (!prov)
		prov = attr_str(sv, "gen_ai.system");
	if (!model)
		model = attr_str(sv, "gen_ai.request.model");
	/* A model call has a provider and a model; agent and tool spans may
	 * carry their children's usage, which would count it twice. */
	if (!prov || !model || (op && is_agent_or_tool(op))) {
		r->skipped++;
		return 0;
	}
	if (push_item(r, cap) < 0)
		return -1;
	it = &r->items[r->n - 1];
	if (sv->trace_id)
		hex_encode(sv->trace_id, 16, trace);
	if (sv->span_id)
		hex_encode(sv->span_id, 8, span);
	snprintf(it->source, sizeof it->source, "span %s/%s", trace[0] ? trace : "?",
	         span[0] ? span : "?");
	if (!sv->trace_id || !sv->span_id) {
		snprintf(it->reason, sizeof it->reason,
		         "GenAI span without a 16-byte trace id and 8-byte span id");
		return 0;
	}
	if (sv->start_ns == 0) {
		snprintf(it->reason, sizeof it->reason, "GenAI span without a start time");
		return 0;
	}
	bool error = sv->status_code == 2 || attr_get(sv, "error.type");
	int64_t in = first_count(sv, in_keys), out = first_count(sv, out_keys);
	if ((in == COUNT_ABSENT || out == COUNT_ABSENT) && !error) {
		snprintf(it->reason, sizeof it->reason,
		         "GenAI span without gen_ai.usage.%s_tokens: the call's usage is unknown",
		         in == COUNT_ABSENT ? "input" : "output");
		return 0;
	}

	if (!(o = cJSON_CreateObject()))
		return -1;
	char id[64];
	snprintf(id, sizeof id, "%s-%s", trace, span);
	cJSON_AddStringToObject(o, "event_id", id);
	time_format((int64_t)(sv->start_ns / 1000), ts);
	cJSON_AddStringToObject(o, "ts", ts);
	for (int f = 0; f < OTLP_MAP_FIELDS; f++) {
		for (size_t k = 0; k < map->field[f].n; k++) {
			const char *key = map->field[f].keys[k], *v;
			char constant[OTLP_MAP_KEY_MAX + 1];
			size_t kl = strlen(key);
			if (kl >= 2 && key[0] == '\'' && key[kl - 1] == '\'') {
				memcpy(constant, key + 1, kl - 2);
				constant[kl - 2] = '\0';
				v = constant;
			} else {
				v = attr_str(sv, key);
			}
			if (v && *v) {
				cJSON_AddStringToObject(o, map_fields[f], v);
				break;
			}
		}
	}
	cJSON_AddStringToObject(o, "provider", provider_name(prov));
	cJSON_AddStringToObject(o, "model", model);
	usage = cJSON_AddObjectToObject(o, "usage");
	/* A value that is not a count goes through as a string so that the one
	 * validation names the field. */
	const struct {
		const char *name;
		int64_t v;
		const char *const *keys;
	} u[] = {{"input_tokens", in, in_keys},
	         {"output_tokens", out, out_keys},
	         {"cache_read_tokens", first_count(sv, cr_keys), cr_keys},
	         {"cache_write_tokens", first_count(sv, cw_keys), cw_keys},
	         {"reasoning_tokens", first_count(sv, rs_keys), rs_keys}};
	for (size_t i = 0; i < sizeof u / sizeof u[0]; i++) {
		if (u[i].v == COUNT_BAD)
			cJSON_AddStringToObject(usage, u[i].name, "not an integer");
		else if (u[i].v != COUNT_ABSENT)
			cJSON_AddNumberToObject(usage, u[i].name, (double)u[i].v);
		else if (i < 2) /* an error before any usage: nothing was billed */
			cJSON_AddNumberToObject(usage, u[i].name, 0);
	}
	if (sv->end_ns >= sv->start_ns && sv->end_ns > 0)
		cJSON_AddNumberToObject(o, "latency_ms",
		                        (double)((sv->end_ns - sv->start_ns) / 1000000));
	const char *etype = attr_str(sv, "error.type");
	cJSON_AddStringToObject(o, "status",
	                        !error ? "ok"
	                        : etype && (strstr(etype, "imeout") || strstr(etype, "TIMEOUT"))
	                            ? "timeout"
	                            : "error");
	tags = cJSON_AddObjectToObject(o, "tags");
	ingest_tag_add(tags, "gen_ai.response.id", attr_str(sv, "gen_ai.response.id"));
	ingest_tag_add(tags, "gen_ai.response.finish_reasons",
	               attr_str(sv, "gen_ai.response.finish_reasons"));
	ingest_tag_add(tags, "error.type", etype);
	ingest_tag_add(tags, "service.name", attr_str(sv, "service.name"));
	ingest_tag_add(tags, "user",
	               attr_str(sv, "user.id") ? attr_str(sv, "user.id")
	                                       : attr_str(sv, "enduser.id"));
	/* tally.tag.KEY attributes become tag KEY, the span's first. */
	for (int pass = 0; pass < 2; pass++) {
		const struct attr *a = pass ? sv->res : sv->attrs;
		size_t n = pass ? sv->n_res : sv->n_attrs;
		for (size_t i = 0; i < n; i++)
			if (a[i].key && strncmp(a[i].key, "tally.tag.", 10) == 0 && a[i].key[10] &&
			    a[i].type == ATTR_STR)
				ingest_tag_add(tags, a[i].key + 10, a[i].s);
	}
	if (!(it->text = cJSON_PrintUnformatted(o))) {
		cJSON_Delete(o);
		return -1;
	}
	it->len = strlen(it->text);
	cJSON_Delete(o);
	return 0;
}

/* ---- protobuf -------------------------------------------------------------- */

static void join_array(struct attr *a, size_t n, const char *const *vals)
{
	size_t used = 0;
	a->joined[0] = '\0';
	for (size_t i = 0; i < n && vals[i]; i++) {
		int w = snprintf(a->joined + used, sizeof a->joined - used, "%s%s", i ? "," : "",
		                 vals[i]);
		if (w < 0 || (size_t)w >= sizeof a->joined - used)
			break;
		used += (size_t)w;
	}
	a->type = ATTR_ARRAY;
	a->s = a->joined;
}

static struct attr *pb_attrs(Tallyotlp__KeyValue **kv, size_t n)
{
	struct attr *a = calloc(n ? n : 1, sizeof *a);
	if (!a)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const Tallyotlp__AnyValue *v = kv[i]->value;
		a[i].key = kv[i]->key;
		if (!v)
			continue;
		switch (v->value_case) {
		case TALLYOTLP__ANY_VALUE__VALUE_STRING_VALUE:
			a[i].type = ATTR_STR, a[i].s = v->string_value;
			break;
		case TALLYOTLP__ANY_VALUE__VALUE_INT_VALUE:
			a[i].type = ATTR_INT, a[i].i = v->int_value;
			break;
		case TALLYOTLP__ANY_VALUE__VALUE_BOOL_VALUE:
			a[i].type = ATTR_BOOL, a[i].b = v->bool_value;
			break;
		case TALLYOTLP__ANY_VALUE__VALUE_DOUBLE_VALUE:
			a[i].type = ATTR_DOUBLE, a[i].d = v->double_value;
			break;
		case TALLYOTLP__ANY_VALUE__VALUE_ARRAY_VALUE: {
			const char *vals[9] = {0};
			size_t m = 0;
			for (size_t j = 0; v->array_value && j < v->array_value->n_values && m < 8;
			     j++)
				if (v->array_value->values[j]->value_case ==
				    TALLYOTLP__ANY_VALUE__VALUE_STRING_VALUE)
					vals[m++] = v->array_value->values[j]->string_value;
			join_array(&a[i], m, vals);
			break;
		}
		default: break;
		}
	}
	return a;
}

static int convert_protobuf(const void *buf, size_t len, const struct otlp_map *map,
                            struct ingest_result *r, struct tally_err *err)
{
	Tallyotlp__ExportTraceServiceRequest *req =
	    tallyotlp__export_trace_service_request__unpack(NULL, len, buf);
	size_t cap = 0;
	int rc = 0;

	if (!req)
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "not an OTLP ExportTraceServiceRequest (protobuf)");
	for (size_t i = 0; i < req->n_resource_spans && rc == 0; i++) {
		const Tallyotlp__ResourceSpans *rsp = req->resource_spans[i];
		struct span_view sv = {0};
		if (rsp->resource) {
			sv.n_res = rsp->resource->n_attributes;
			if (!(sv.res = pb_attrs(rsp->resource->attributes, sv.n_res))) {
				rc = -1;
				break;
			}
		}
		for (size_t j = 0; j < rsp->n_scope_spans && rc == 0; j++) {
			const Tallyotlp__ScopeSpans *ss = rsp->scope_spans[j];
			for (size_t k = 0; k < ss->n_spans && rc == 0; k++) {
				const Tallyotlp__Span *s = ss->spans[k];
				sv.trace_id = s->trace_id.len == 16 ? s->trace_id.data : NULL;
				sv.span_id = s->span_id.len == 8 ? s->span_id.data : NULL;
				sv.start_ns = s->start_time_unix_nano;
				sv.end_ns = s->end_time_unix_nano;
				sv.status_code = s->status ? s->status->code : 0;
				sv.status_msg = s->status ? s->status->message : NULL;
				sv.n_attrs = s->n_attributes;
				if (!(sv.attrs = pb_attrs(s->attributes, sv.n_attrs)))
					rc = -1;
				else
					rc = convert_span(&sv, map, r, &cap);
				free(sv.attrs);
				sv.attrs = NULL;
			}
		}
		free(sv.res);
	}
	tallyotlp__export_trace_service_request__free_unpacked(req, NULL);
	if (rc < 0)
		return tally_err_set(err, TALLY_ENOMEM, true, "out of memory converting spans");
	return 0;
}

/* ---- JSON (the OTLP/JSON mapping: lowerCamelCase, hex ids) ------------------ */

static cJSON *jget(const cJSON *o, const char *camel, const char *snake)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(o, camel);
	return v ? v : cJSON_GetObjectItemCaseSensitive(o, snake);
}

/* A uint64 sent as a decimal string (the mapping's rule) or a number. */
static uint64_t j_u64(const cJSON *v)
{
	if (cJSON_IsString(v)) {
		int64_t x;
		return parse_i64(v->valuestring, &x) == 0 && x >= 0 ? (uint64_t)x : 0;
	}
	if (cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 1.8e19)
		return (uint64_t)v->valuedouble;
	return 0;
}

static bool unhex(const char *s, uint8_t *out, size_t n)
{
	if (!s || strlen(s) != 2 * n)
		return false;
	for (size_t i = 0; i < 2 * n; i++) {
		int c = s[i], d = c >= '0' && c <= '9'   ? c - '0'
		                  : c >= 'a' && c <= 'f' ? c - 'a' + 10
		                  : c >= 'A' && c <= 'F' ? c - 'A' + 10
		                                         : -1;
		if (d < 0)
			return false;
		if (i % 2 == 0)
			out[i / 2] = (uint8_t)(d << 4);
		else
			out[i / 2] |= (uint8_t)d;
	}
	return true;
}

static struct attr *json_attrs(const cJSON *arr, size_t *n_out)
{
	size_t n = cJSON_IsArray(arr) ? (size_t)cJSON_GetArraySize(arr) : 0, i = 0;
	struct attr *a = calloc(n ? n : 1, sizeof *a);
	const cJSON *kv;

	*n_out = 0;
	if (!a)
		return NULL;
	cJSON_ArrayForEach(kv, arr)
	{
		const cJSON *k = cJSON_GetObjectItemCaseSensitive(kv, "key");
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(kv, "value"), *x;
		if (!cJSON_IsString(k))
			continue;
		a[i].key = k->valuestring;
		if ((x = jget(v, "stringValue", "string_value")) && cJSON_IsString(x)) {
			a[i].type = ATTR_STR, a[i].s = x->valuestring;
		} else if ((x = jget(v, "intValue", "int_value"))) {
			int64_t iv;
			if (cJSON_IsString(x) && parse_i64(x->valuestring, &iv) == 0)
				a[i].type = ATTR_INT, a[i].i = iv;
			else if (cJSON_IsNumber(x) &&
			         x->valuedouble == (double)(int64_t)x->valuedouble)
				a[i].type = ATTR_INT, a[i].i = (int64_t)x->valuedouble;
		} else if ((x = jget(v, "boolValue", "bool_value")) && cJSON_IsBool(x)) {
			a[i].type = ATTR_BOOL, a[i].b = cJSON_IsTrue(x);
		} else if ((x = jget(v, "doubleValue", "double_value")) && cJSON_IsNumber(x)) {
			a[i].type = ATTR_DOUBLE, a[i].d = x->valuedouble;
		} else if ((x = jget(v, "arrayValue", "array_value"))) {
			const char *vals[9] = {0};
			size_t m = 0;
			const cJSON *el, *s;
			cJSON_ArrayForEach(el, jget(x, "values", "values"))
			{
				if (m < 8 && (s = jget(el, "stringValue", "string_value")) &&
				    cJSON_IsString(s))
					vals[m++] = s->valuestring;
			}
			join_array(&a[i], m, vals);
		}
		i++;
	}
	*n_out = i;
	return a;
}

static int convert_json(const void *buf, size_t len, const struct otlp_map *map,
                        struct ingest_result *r, struct tally_err *err)
{
	cJSON *root = cJSON_ParseWithLength(buf, len);
	const cJSON *rsp, *ss, *s;
	size_t cap = 0;
	int rc = 0;

	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "not an OTLP ExportTraceServiceRequest (JSON object with "
		                     "resourceSpans)");
	}
	cJSON_ArrayForEach(rsp, jget(root, "resourceSpans", "resource_spans"))
	{
		struct span_view sv = {0};
		if (!(sv.res = json_attrs(
		          cJSON_GetObjectItemCaseSensitive(
		              cJSON_GetObjectItemCaseSensitive(rsp, "resource"), "attributes"),
		          &sv.n_res))) {
			rc = -1;
			break;
		}
		cJSON_ArrayForEach(ss, jget(rsp, "scopeSpans", "scope_spans"))
		{
			cJSON_ArrayForEach(s, jget(ss, "spans", "spans"))
			{
				uint8_t tid[16], sid[8];
				const cJSON *st = cJSON_GetObjectItemCaseSensitive(s, "status");
				const cJSON *code = cJSON_GetObjectItemCaseSensitive(st, "code");
				const cJSON *t = jget(s, "traceId", "trace_id");
				const cJSON *p = jget(s, "spanId", "span_id");
				sv.trace_id = unhex(cJSON_GetStringValue(t), tid, 16) ? tid : NULL;
				sv.span_id = unhex(cJSON_GetStringValue(p), sid, 8) ? sid : NULL;
				sv.start_ns =
				    j_u64(jget(s, "startTimeUnixNano", "start_time_unix_nano"));
				sv.end_ns = j_u64(jget(s, "endTimeUnixNano", "end_time_unix_nano"));
				sv.status_code =
				    cJSON_IsNumber(code) ? code->valueint
				    : cJSON_IsString(code) &&
				            strcmp(code->valuestring, "STATUS_CODE_ERROR") == 0
				        ? 2
				        : 0;
				if (!(sv.attrs = json_attrs(
				          cJSON_GetObjectItemCaseSensitive(s, "attributes"),
				          &sv.n_attrs)))
					rc = -1;
				else if (rc == 0)
					rc = convert_span(&sv, map, r, &cap);
				free(sv.attrs);
				sv.attrs = NULL;
			}
		}
		free(sv.res);
		if (rc < 0)
			break;
	}
	cJSON_Delete(root);
	if (rc < 0)
		return tally_err_set(err, TALLY_ENOMEM, true, "out of memory converting spans");
	return 0;
}

int otlp_convert(const void *buf, size_t len, enum otlp_encoding enc, const struct otlp_map *map,
                 struct ingest_result *out, struct tally_err *err)
{
	memset(out, 0, sizeof *out);
	if (len > OTLP_MAX_BYTES)
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "OTLP payload is %zu bytes, over the %d-byte limit", len,
		                     OTLP_MAX_BYTES);
	return enc == OTLP_JSON ? convert_json(buf, len, map, out, err)
	                        : convert_protobuf(buf, len, map, out, err);
}

void ingest_result_cleanup(struct ingest_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		free(r->items[i].text);
	free(r->items);
	memset(r, 0, sizeof *r);
}

int ingest_inflate(const void *buf, size_t len, size_t max, char **out, size_t *out_len,
                   struct tally_err *err)
{
	z_stream z;
	size_t cap = len * 4 + 1024;
	char *dst;

	*out = NULL;
	*out_len = 0;
	if (cap > max + 1)
		cap = max + 1;
	if (!(dst = malloc(cap)))
		return tally_err_set(err, TALLY_ENOMEM, true, "out of memory");
	memset(&z, 0, sizeof z);
	/* 32 + 15: zlib or gzip header, detected. */
	if (inflateInit2(&z, 32 + 15) != Z_OK) {
		free(dst);
		return tally_err_set(err, TALLY_ENOMEM, true, "out of memory");
	}
	z.next_in = (Bytef *)(uintptr_t)buf;
	z.avail_in = (uInt)len;
	for (;;) {
		if (z.total_out == cap) {
			if (cap > max) {
				inflateEnd(&z);
				free(dst);
				return tally_err_set(err, TALLY_EINVAL, false,
				                     "the body inflates to more than %zu bytes",
				                     max);
			}
			size_t nc = cap * 2 > max + 1 ? max + 1 : cap * 2;
			char *nd = realloc(dst, nc);
			if (!nd) {
				inflateEnd(&z);
				free(dst);
				return tally_err_set(err, TALLY_ENOMEM, true, "out of memory");
			}
			dst = nd;
			cap = nc;
		}
		z.next_out = (Bytef *)dst + z.total_out;
		z.avail_out = (uInt)(cap - z.total_out);
		int zr = inflate(&z, Z_NO_FLUSH);
		if (zr == Z_STREAM_END)
			break;
		if (zr != Z_OK && !(zr == Z_BUF_ERROR && z.avail_out == 0)) {
			inflateEnd(&z);
			free(dst);
			return tally_err_set(err, TALLY_EINVAL, false,
			                     "the body is not valid gzip/deflate data");
		}
	}
	if (z.total_out > max) {
		inflateEnd(&z);
		free(dst);
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "the body inflates to more than %zu bytes", max);
	}
	*out = dst;
	*out_len = z.total_out;
	inflateEnd(&z);
	return 0;
}
