/* web_api.c - the JSON API over the ledger: spend, status, quarantine,
 * prices, events, readiness. The queries are the CLI's (ledger/, reports/). */
#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../reports/report.h"
#include "web_int.h"

#define DAY_US             (24 * HOUR_US)
#define SERIES_MAX_BUCKETS 10000
#define QUARANTINE_RAW_MAX 2048

int web_int_arg(struct web_req *rq, struct web_resp *rs, const char *name, int64_t def, int64_t lo,
                int64_t hi, int64_t *out)
{
	const char *v = web_arg(rq, name);

	*out = def;
	if (!v)
		return 0;
	if (parse_i64(v, out) < 0 || *out < lo || *out > hi) {
		web_error(rs, 400, "%s must be an integer from %lld to %lld", name, (long long)lo,
		          (long long)hi);
		return -1;
	}
	return 0;
}

int web_time_arg(struct web_req *rq, struct web_resp *rs, const char *name, int64_t def,
                 int64_t *out)
{
	const char *v = web_arg(rq, name);

	*out = def;
	if (v && time_parse(v, true, out) < 0) {
		web_error(rs, 400, "%s needs a time like 2026-11-01 or 2026-11-01T12:00:00Z", name);
		return -1;
	}
	return 0;
}

/* A text parameter for a name (team, provider, model): NULL when absent. */
static int name_arg(struct web_req *rq, struct web_resp *rs, const char *name, size_t max,
                    const char **out)
{
	const char *v = web_arg(rq, name);

	*out = v;
	if (v && (!*v || strlen(v) > max)) {
		web_error(rs, 400, "%s must be 1 to %zu bytes long", name, max);
		return -1;
	}
	return 0;
}

/* ---- spend ----------------------------------------------------------------------- */

/* Answers one spend question from the ledger. */
static void spend_answer(struct web_req *rq, struct web_resp *rs, struct ledger *lg,
                         const struct spend_query *q, int bucket)
{
	struct tally_err err = {0};

	if (bucket < 0) {
		struct spend_result r;
		if (ledger_spend(lg, q, &r, &err) < 0) {
			web_db_error(rq, rs, &err);
			return;
		}
		report_spend_format(&r, q->dim, REPORT_JSON, &rs->body);
		spend_result_cleanup(&r);
		rs->status = 200;
		return;
	}
	struct spend_series s;
	if (ledger_spend_series(lg, q, bucket, &s, &err) < 0) {
		web_db_error(rq, rs, &err);
		return;
	}
	report_spend_series_format(&s, q->dim, bucket, &rs->body);
	spend_series_cleanup(&s);
	rs->status = 200;
}

void web_spend(struct web_req *rq, struct web_resp *rs)
{
	struct spend_query q;
	const char *group = web_arg(rq, "group_by"), *bucket_s = web_arg(rq, "bucket");
	int64_t now = time_now_us(), to_def = (now / HOUR_US + 1) * HOUR_US;
	int bucket = -1;
	struct ledger *lg;

	memset(&q, 0, sizeof q);
	if (web_time_arg(rq, rs, "to", to_def, &q.to_us) < 0 ||
	    web_time_arg(rq, rs, "from", q.to_us - 30 * DAY_US, &q.from_us) < 0 ||
	    name_arg(rq, rs, "team", EVENT_NAME_MAX, &q.team) < 0 ||
	    name_arg(rq, rs, "workflow", EVENT_NAME_MAX, &q.workflow) < 0)
		return;
	if (q.to_us <= q.from_us) {
		web_error(rs, 400, "to must be after from (the interval is [from, to))");
		return;
	}
	if ((q.dim = spend_dim_parse_tag(group ? group : "team", &q.tag_key)) < 0) {
		web_error(rs, 400,
		          "group_by must be team, cost_center, workflow, task_type, model,"
		          " tier, provider, outcome, day, tag:KEY, user or api_key");
		return;
	}
	if (q.dim == DIM_TAG && bucket_s) {
		web_error(rs, 400, "group_by %s takes no bucket: ask for the totals", group);
		return;
	}
	if (bucket_s) {
		if (strcmp(bucket_s, "hour") == 0)
			bucket = BUCKET_HOUR;
		else if (strcmp(bucket_s, "day") == 0)
			bucket = BUCKET_DAY;
		else {
			web_error(rs, 400, "bucket must be hour or day");
			return;
		}
		int64_t width = bucket == BUCKET_DAY ? DAY_US : HOUR_US;
		if ((q.to_us - q.from_us) / width > SERIES_MAX_BUCKETS) {
			web_error(rs, 400,
			          "at most %d %ss per series: narrow the range or use a"
			          " larger bucket",
			          SERIES_MAX_BUCKETS, bucket_s);
			return;
		}
	}
	/* A viewer sees its own team only, whatever it asks to group by. */
	if (web_team_allowed(rq, rs, q.team) < 0)
		return;
	if (rq->auth.key.role == ROLE_VIEWER)
		q.team = rq->auth.key.team;

	/* The key is the resolved question, the viewer's team included. */
	char key[WEB_CACHE_KEY_MAX];
	snprintf(key, sizeof key, "spend %lld %lld %d %d %zu:%s %zu:%s %zu:%s",
	         (long long)q.from_us, (long long)q.to_us, q.dim, bucket,
	         q.team ? strlen(q.team) : 0, q.team ? q.team : "-",
	         q.workflow ? strlen(q.workflow) : 0, q.workflow ? q.workflow : "-",
	         q.tag_key ? strlen(q.tag_key) : 0, q.tag_key ? q.tag_key : "-");
	int slot = web_cache_get(rq->w->answers, key, rs);
	if (slot == WEB_CACHE_HIT)
		return;
	if ((lg = web_ledger(rq, rs)))
		spend_answer(rq, rs, lg, &q, bucket);
	web_cache_done(rq->w->answers, slot, rs);
}

/* ---- status, readiness ---------------------------------------------------------- */

void web_status(struct web_req *rq, struct web_resp *rs)
{
	struct tally_status st;
	struct tally_err err = {0};
	struct ledger *lg;
	int slot = web_cache_get(rq->w->answers, "status", rs);

	if (slot == WEB_CACHE_HIT)
		return;
	lg = web_ledger(rq, rs);
	if (lg && tally_status_read(rq->w->cfg, lg, 3000, &st, &err) < 0)
		web_db_error(rq, rs, &err);
	else if (lg) {
		tally_status_json(&st, &rs->body);
		tally_status_cleanup(&st);
		rs->status = 200;
	}
	web_cache_done(rq->w->answers, slot, rs);
}

void web_readyz(struct web_req *rq, struct web_resp *rs)
{
	struct tally_err err = {0};
	struct tally_status st;
	const char *ledger = "ok", *kafka = "ok";
	struct ledger *lg = web_ledger(rq, rs);

	memset(&st, 0, sizeof st);
	if (!lg)
		ledger = "unreachable";
	else if (ledger_ping(lg, &err) < 0 || web_status_cached(rq->w, lg, &st, &err) < 0)
		ledger = "failing";
	else if (!rq->w->cfg->kafka_brokers[0])
		kafka = "not configured";
	else if (!st.kafka_ok)
		kafka = "unreachable";
	tally_status_cleanup(&st);
	if (strcmp(ledger, "ok") != 0)
		kafka = "unknown";
	sbuf_reset(&rs->body);
	rs->content_type = "application/json";
	sbuf_puts(&rs->body, "{\"ledger\":");
	sbuf_json_str(&rs->body, ledger);
	sbuf_puts(&rs->body, ",\"kafka\":");
	sbuf_json_str(&rs->body, kafka);
	sbuf_puts(&rs->body, "}\n");
	rs->status = strcmp(ledger, "ok") == 0 && strcmp(kafka, "ok") == 0 ? 200 : 503;
}

/* ---- quarantine ---------------------------------------------------------------- */

/* Appends n bytes that are valid UTF-8 as a JSON string (NUL included). */
static void json_strn(struct sbuf *b, const unsigned char *s, size_t n)
{
	sbuf_putc(b, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned char c = s[i];
		if (c == '"' || c == '\\')
			sbuf_printf(b, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			sbuf_printf(b, "\\u%04x", c);
		else
			sbuf_putc(b, (char)c);
	}
	sbuf_putc(b, '"');
}

void web_quarantine(struct web_req *rq, struct web_resp *rs)
{
	struct quarantine_page pg;
	struct tally_err err = {0};
	int64_t limit, offset;
	struct ledger *lg;

	if (web_int_arg(rq, rs, "limit", 50, 1, 500, &limit) < 0 ||
	    web_int_arg(rq, rs, "offset", 0, 0, INT64_C(1000000000), &offset) < 0)
		return;
	if (!(lg = web_ledger(rq, rs)))
		return;
	/* One more byte than shown tells whether the text was cut. */
	if (ledger_quarantine_list(lg, limit, offset, QUARANTINE_RAW_MAX + 3, &pg, &err) < 0) {
		web_db_error(rq, rs, &err);
		return;
	}
	sbuf_printf(&rs->body, "{\"total\":%lld,\"limit\":%lld,\"offset\":%lld,\"items\":[",
	            (long long)pg.total, (long long)limit, (long long)offset);
	for (size_t i = 0; i < pg.n; i++) {
		const struct quarantine_item *q = &pg.items[i];
		size_t n = q->raw_len > QUARANTINE_RAW_MAX ? QUARANTINE_RAW_MAX : q->raw_len;
		/* Cut at a character boundary: drop up to 3 bytes of a split one. */
		size_t shown = n;
		while (shown > 0 && n - shown < 4 && !utf8_valid((const char *)q->raw, shown))
			shown--;
		bool text = utf8_valid((const char *)q->raw, shown) &&
		            (shown == q->raw_len || n - shown < 4);
		sbuf_printf(&rs->body, "%s{\"id\":%lld,\"received_at\":", i ? "," : "",
		            (long long)q->id);
		sbuf_json_str(&rs->body, q->received_at);
		sbuf_puts(&rs->body, ",\"topic\":");
		sbuf_json_str(&rs->body, q->topic);
		sbuf_printf(&rs->body, ",\"partition\":%d,\"offset\":", (int)q->partition);
		if (q->offset >= 0)
			sbuf_printf(&rs->body, "%lld", (long long)q->offset);
		else
			sbuf_puts(&rs->body, "null");
		sbuf_puts(&rs->body, ",\"reason\":");
		{
			char reason[sizeof q->reason];
			str_copy(reason, sizeof reason, q->reason);
			utf8_sanitize(reason);
			sbuf_json_str(&rs->body, reason);
		}
		sbuf_puts(&rs->body, ",\"raw\":");
		if (text) {
			json_strn(&rs->body, q->raw, shown);
		} else {
			/* Not UTF-8: the first bytes in base64 instead. */
			unsigned char b64[4 * ((QUARANTINE_RAW_MAX + 2) / 3) + 1];
			EVP_EncodeBlock(b64, q->raw, (int)n);
			sbuf_puts(&rs->body, "null,\"raw_base64\":");
			sbuf_json_str(&rs->body, (const char *)b64);
		}
		sbuf_printf(&rs->body, ",\"raw_bytes\":%lld,\"raw_truncated\":%s}",
		            (long long)q->raw_total,
		            (int64_t)(text ? shown : n) < q->raw_total ? "true" : "false");
	}
	sbuf_puts(&rs->body, "]}\n");
	quarantine_page_cleanup(&pg);
	rs->status = 200;
}

/* ---- prices --------------------------------------------------------------------- */

/* "name":"1.234567" (or null): a token rate as USD per million tokens (6
 * decimals), a per-unit rate as USD per unit (12 decimals). */
static void price_json(struct sbuf *b, const char *prefix, const char *name, int64_t pusd,
                       bool token, bool *first)
{
	char v[48];

	sbuf_printf(b, "%s\"%s%s\":", *first ? "" : ",", prefix, name);
	*first = false;
	if (pusd == PRICE_UNSET) {
		sbuf_puts(b, "null");
		return;
	}
	money_format(pusd, token ? 6 : 12, v, sizeof v);
	sbuf_printf(b, "\"%s\"", v);
}

/* The rates of rate[v][k] (or one tier's rates, variants NULL) as the two
 * objects "usd_per_million_tokens" and "usd_per_unit", every component and
 * variant of ledger/price_components.h; unset: null (tiers: left out). */
static void price_rates_json(struct sbuf *b, const int64_t (*rate)[PC_COUNT],
                             const int64_t *tier_rate)
{
	for (int unit = 0; unit < 2; unit++) {
		bool first = true;
		sbuf_printf(b, "%s\"%s\":{", unit ? "," : "",
		            unit ? "usd_per_unit" : "usd_per_million_tokens");
		for (int v = 0; v < (tier_rate ? 1 : PV_COUNT); v++)
			for (int k = 0; k < PC_COUNT; k++) {
				int64_t r = tier_rate ? tier_rate[k] : rate[v][k];
				if (price_component_is_token(k) == (unit == 1) ||
				    (tier_rate && r == PRICE_UNSET))
					continue;
				price_json(b, price_variant_prefix[v], price_component_names[k], r,
				           unit == 0, &first);
			}
		sbuf_putc(b, '}');
	}
}

/* A multiplier or share in ppm as a decimal string ("1.1"), or null for 0. */
static void ppm_json(struct sbuf *b, const char *name, int64_t ppm)
{
	char v[48];

	sbuf_printf(b, ",\"%s\":", name);
	if (ppm <= 0) {
		sbuf_puts(b, "null");
		return;
	}
	money_format(ppm, 6, v, sizeof v);
	sbuf_printf(b, "\"%s\"", v);
}

void web_prices_get(struct web_req *rq, struct web_resp *rs)
{
	struct price_page pg;
	struct tally_err err = {0};
	const char *provider, *model;
	int64_t limit, offset;
	struct ledger *lg;

	if (name_arg(rq, rs, "provider", EVENT_NAME_MAX, &provider) < 0 ||
	    name_arg(rq, rs, "model", EVENT_MODEL_MAX, &model) < 0 ||
	    web_int_arg(rq, rs, "limit", 100, 1, 1000, &limit) < 0 ||
	    web_int_arg(rq, rs, "offset", 0, 0, INT64_C(1000000000), &offset) < 0)
		return;
	if (!(lg = web_ledger(rq, rs)))
		return;
	if (ledger_price_list(lg, provider, model, limit, offset, &pg, &err) < 0) {
		web_db_error(rq, rs, &err);
		return;
	}
	sbuf_printf(&rs->body, "{\"total\":%lld,\"limit\":%lld,\"offset\":%lld,\"units\":{",
	            (long long)pg.total, (long long)limit, (long long)offset);
	for (int k = 0; k < PC_COUNT; k++) {
		sbuf_printf(&rs->body, "%s\"%s\":", k ? "," : "", price_component_names[k]);
		sbuf_json_str(&rs->body, price_component_units[k]);
	}
	sbuf_puts(&rs->body, "},\"prices\":[");
	for (size_t i = 0; i < pg.n; i++) {
		const struct price *p = &pg.rows[i].p;
		sbuf_printf(&rs->body, "%s{\"price_version\":%lld,\"provider\":", i ? "," : "",
		            (long long)p->version);
		sbuf_json_str(&rs->body, p->provider);
		sbuf_puts(&rs->body, ",\"model\":");
		sbuf_json_str(&rs->body, p->model);
		sbuf_puts(&rs->body, ",\"tier\":");
		sbuf_json_str(&rs->body, p->tier);
		sbuf_puts(&rs->body, ",\"effective_from\":");
		sbuf_json_str(&rs->body, pg.rows[i].effective_from);
		sbuf_puts(&rs->body, ",\"source\":");
		sbuf_json_str(&rs->body, pg.rows[i].source);
		sbuf_putc(&rs->body, ',');
		price_rates_json(&rs->body, (const int64_t(*)[PC_COUNT])p->rate, NULL);
		sbuf_printf(&rs->body, ",\"threshold_tokens\":%lld,\"threshold_inclusive\":%s",
		            (long long)(p->threshold_tokens > 0 ? p->threshold_tokens : 0),
		            p->threshold_inclusive ? "true" : "false");
		ppm_json(&rs->body, "batch_discount", p->batch_discount_ppm);
		ppm_json(&rs->body, "uplift_eu", p->uplift_eu_ppm);
		ppm_json(&rs->body, "uplift_us", p->uplift_us_ppm);
		ppm_json(&rs->body, "geo_us", p->geo_us_ppm);
		ppm_json(&rs->body, "fast", p->fast_ppm);
		sbuf_puts(&rs->body, ",\"extra_tiers\":[");
		for (int t = 0; t < p->n_tiers && t < PRICE_TIERS_MAX; t++) {
			sbuf_printf(&rs->body, "%s{\"from_tokens\":%lld,", t ? "," : "",
			            (long long)p->tiers[t].from_tokens);
			price_rates_json(&rs->body, NULL, p->tiers[t].rate);
			sbuf_putc(&rs->body, '}');
		}
		sbuf_puts(&rs->body, "]}");
	}
	sbuf_puts(&rs->body, "]}\n");
	price_page_cleanup(&pg);
	rs->status = 200;
}

void web_prices_post(struct web_req *rq, struct web_resp *rs)
{
	const char *format = web_arg(rq, "format");
	struct price_import im;
	struct price_store_result sr;
	struct tally_err err = {0};
	int64_t effective = -1;
	char source[64];
	bool litellm;
	struct ledger *lg;
	size_t skip = 0;

	if (web_time_arg(rq, rs, "effective_from", -1, &effective) < 0)
		return;
	if (!rq->body.len) {
		web_error(rs, 400, "send the price list as the body (LiteLLM JSON or tally CSV)");
		return;
	}
	while (skip < rq->body.len && strchr(" \t\r\n", rq->body.p[skip]))
		skip++;
	if (!format)
		litellm = skip < rq->body.len && rq->body.p[skip] == '{';
	else if (strcmp(format, "litellm") == 0 || strcmp(format, "csv") == 0)
		litellm = strcmp(format, "litellm") == 0;
	else {
		web_error(rs, 400, "format must be litellm or csv");
		return;
	}
	sbuf_putc(&rq->body, '\0'); /* the importers read text */
	rq->body.len--;
	if (rq->body.oom) {
		web_error(rs, 500, "out of memory");
		return;
	}
	if ((litellm ? price_import_litellm(rq->body.p, rq->body.len, effective, &im, &err)
	             : price_import_csv(rq->body.p, rq->body.len, effective, &im, &err)) < 0) {
		web_error(rs, 400, "the price list was not imported: %s", err.msg);
		return;
	}
	if (!(lg = web_ledger(rq, rs))) {
		price_import_cleanup(&im);
		return;
	}
	snprintf(source, sizeof source, "api (key %lld)", (long long)rq->auth.key.id);
	if (ledger_store_prices(lg, &im, source, &sr, &err) < 0) {
		price_import_cleanup(&im);
		web_db_error(rq, rs, &err);
		return;
	}
	sbuf_printf(&rs->body,
	            "{\"format\":\"%s\",\"loaded\":%zu,\"stored\":%zu,\"unchanged\":%zu,"
	            "\"skipped\":%zu,\"rounded\":%zu}\n",
	            litellm ? "litellm" : "csv", im.n, sr.stored, sr.unchanged, im.skipped,
	            im.rounded);
	price_import_cleanup(&im);
	rs->status = 200;
}

/* ---- events -------------------------------------------------------------------- */

struct ev_batch *web_ev_batch_new(size_t n)
{
	struct ev_batch *b = calloc(1, sizeof *b);

	if (!b)
		return NULL;
	if (n && !(b->items = calloc(n, sizeof *b->items))) {
		free(b);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		b->items[i].reason = -1;
	return b;
}

void web_ev_batch_free(struct ev_batch *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n; i++)
		free(b->items[i].owned);
	free(b->items);
	free(b);
}

void web_ev_reject(struct ev_batch *b, struct ev_item *it, const char *reason)
{
	it->ok = false;
	it->reason = -1;
	if (b->n_reasons < WEB_EVENT_REASONS_MAX) {
		str_copy(b->reasons[b->n_reasons], sizeof b->reasons[0], reason);
		utf8_sanitize(b->reasons[b->n_reasons]);
		it->reason = (int)b->n_reasons++;
	}
}

const char *web_ev_reason(const struct ev_batch *b, const struct ev_item *it)
{
	return it->reason >= 0 ? b->reasons[it->reason] : NULL;
}

/* The team an event belongs to, or NULL when it names none. */
static const char *event_team(const struct event *ev)
{
	if (ev->kind == EVENT_CALL)
		return ev->u.call.team;
	if (ev->kind == EVENT_OUTCOME && ev->u.outcome.team[0])
		return ev->u.outcome.team;
	return NULL;
}

static void too_many_events(struct web_resp *rs)
{
	web_error(rs, 413,
	          "at most %d events per request: split the body (or use `tally produce` for"
	          " backfills)",
	          WEB_EVENTS_MAX);
}

/* Splits the body into events: a JSON array, or one JSON value per line,
 * into a new *out. More than WEB_EVENTS_MAX is refused (413) before any event
 * is parsed. */
static int split_events(struct web_req *rq, struct web_resp *rs, struct ev_batch **out)
{
	struct ev_batch *b;
	const char *p = rq->body.p ? rq->body.p : "";
	size_t len = rq->body.len, skip = 0, count = 0;

	while (skip < len && strchr(" \t\r\n", p[skip]))
		skip++;
	if (skip < len && p[skip] == '[') {
		cJSON *root = cJSON_ParseWithLength(p, len), *el;
		if (!cJSON_IsArray(root)) {
			cJSON_Delete(root);
			web_error(rs, 400, "the body starts with [ but is not a JSON array");
			return -1;
		}
		count = (size_t)cJSON_GetArraySize(root);
		if (count > WEB_EVENTS_MAX) {
			cJSON_Delete(root);
			too_many_events(rs);
			return -1;
		}
		if (!(*out = web_ev_batch_new(count))) {
			cJSON_Delete(root);
			web_error(rs, 500, "out of memory");
			return -1;
		}
		b = *out;
		cJSON_ArrayForEach(el, root)
		{
			struct ev_item *it = &b->items[b->n++];
			it->owned = cJSON_PrintUnformatted(el);
			it->text = it->owned;
			it->len = it->owned ? strlen(it->owned) : 0;
			if (!it->owned)
				web_ev_reject(b, it, "out of memory");
		}
		cJSON_Delete(root);
		return 0;
	}
	/* Count first, so that a body of many small lines costs nothing. */
	for (size_t i = 0; i < len;) {
		const char *nl = memchr(p + i, '\n', len - i);
		size_t e = nl ? (size_t)(nl - p) : len;
		for (size_t k = i; k < e; k++)
			if (!strchr(" \t\r", p[k])) {
				count++;
				break;
			}
		i = e + 1;
	}
	if (count > WEB_EVENTS_MAX) {
		too_many_events(rs);
		return -1;
	}
	if (!(*out = web_ev_batch_new(count))) {
		web_error(rs, 500, "out of memory");
		return -1;
	}
	b = *out;
	for (size_t i = 0; i < len && b->n < count;) {
		const char *nl = memchr(p + i, '\n', len - i);
		size_t e = nl ? (size_t)(nl - p) : len, a = i, z = e;
		while (a < z && strchr(" \t\r", p[a]))
			a++;
		while (z > a && strchr(" \t\r", p[z - 1]))
			z--;
		i = e + 1;
		if (a == z)
			continue;
		b->items[b->n].text = p + a;
		b->items[b->n].len = z - a;
		b->n++;
	}
	return 0;
}

/* Produces the valid events and waits for Kafka to confirm them. Returns 0,
 * or -1 with an answer set. */
static int produce_events(struct web_req *rq, struct web_resp *rs, struct ev_batch *b)
{
	struct web *w = rq->w;
	const struct tally_config *cfg = w->cfg;
	struct tally_err err = {0};
	int64_t d0, d1;
	size_t sent = 0;

	pthread_mutex_lock(&w->prod_mu);
	if (!w->prod && !(w->prod = producer_open(cfg->kafka_brokers, &err))) {
		pthread_mutex_unlock(&w->prod_mu);
		log_warn("web: events: %s", err.msg);
		web_error(rs, 503, "cannot produce to Kafka: %s", err.msg);
		return -1;
	}
	producer_counts(w->prod, &d0, NULL);
	for (size_t i = 0; i < b->n; i++) {
		struct ev_item *it = &b->items[i];
		const char *topic = it->kind == EVENT_OUTCOME    ? cfg->topic_outcomes
		                    : it->kind == EVENT_FEEDBACK ? cfg->topic_feedback
		                                                 : cfg->topic_calls;
		if (!it->ok)
			continue;
		if (producer_send(w->prod, topic, it->key, strlen(it->key), it->text, it->len,
		                  &err) < 0) {
			web_ev_reject(b, it, err.msg);
			tally_err_clear(&err);
			continue;
		}
		sent++;
	}
	/* The delivery counts tell what happened; the flush only waits. */
	producer_flush(w->prod, 10000, NULL);
	producer_counts(w->prod, &d1, NULL);
	pthread_mutex_unlock(&w->prod_mu);
	if (d1 - d0 < (int64_t)sent) {
		web_error(rs, 503,
		          "Kafka confirmed %lld of %zu events; send them again (duplicates are"
		          " skipped by event_id)",
		          (long long)(d1 - d0), sent);
		return -1;
	}
	return 0;
}

/* An admin's outcome over HTTP is a correction: it takes effect whatever its
 * ts (ledger/batch.c), so a wrong outcome with a far-future ts can always be
 * put right. Other keys may not send "correction". Returns 0, or -1 with the
 * item rejected. */
static int mark_correction(struct web_req *rq, struct ev_batch *b, struct ev_item *it,
                           const struct event *ev)
{
	cJSON *root;
	char *text;

	if (rq->auth.key.role != ROLE_ADMIN) {
		if (ev->u.outcome.correction) {
			web_ev_reject(
			    b, it,
			    "\"correction\" is for admin keys: send the outcome with a later ts");
			return -1;
		}
		return 0;
	}
	if (ev->u.outcome.correction)
		return 0;
	root = cJSON_ParseWithLength(it->text, it->len);
	/* "correction":false is replaced, never doubled (a key twice is refused). */
	if (root)
		cJSON_DeleteItemFromObjectCaseSensitive(root, "correction");
	if (!root || !cJSON_AddTrueToObject(root, "correction") ||
	    !(text = cJSON_PrintUnformatted(root))) {
		cJSON_Delete(root);
		web_ev_reject(b, it, "out of memory");
		return -1;
	}
	cJSON_Delete(root);
	free(it->owned);
	it->owned = text;
	it->text = text;
	it->len = strlen(text);
	return 0;
}

int web_events_accept(struct web_req *rq, struct web_resp *rs, struct ev_batch *b)
{
	struct event *ev = malloc(sizeof *ev);
	size_t valid = 0;
	int rc = -1;

	if (!ev) {
		web_error(rs, 500, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < b->n; i++) {
		struct ev_item *it = &b->items[i];
		struct tally_err err = {0};
		if (!it->text)
			continue; /* refused by the caller, with its reason */
		if (event_parse(it->text, it->len, -1, ev, &err) < 0) {
			web_ev_reject(b, it, err.msg);
			continue;
		}
		/* A viewer posts for its own team only: anything else refuses the
		 * whole request before a single event is produced. */
		if (rq->auth.key.role == ROLE_VIEWER) {
			const char *team = event_team(ev);
			if (!team || strcmp(team, rq->auth.key.team) != 0) {
				web_error(rs, 403,
				          "event %zu: this key may post only events of team %s%s",
				          i, rq->auth.key.team,
				          team ? ""
				               : " (feedback and outcomes without a team are not"
				                 " allowed)");
				goto out;
			}
		}
		if (ev->kind == EVENT_OUTCOME && mark_correction(rq, b, it, ev) < 0)
			continue;
		it->ok = true;
		it->kind = ev->kind;
		str_copy(it->key, sizeof it->key,
		         ev->kind == EVENT_OUTCOME    ? ev->u.outcome.outcome_id
		         : ev->kind == EVENT_FEEDBACK ? ev->u.feedback.event_id
		                                      : ev->u.call.event_id);
		valid++;
	}
	if (valid > 0 && produce_events(rq, rs, b) < 0)
		goto out;
	rc = 0;
out:
	free(ev);
	return rc;
}

void web_events_answer(struct web_resp *rs, const struct ev_batch *b)
{
	size_t accepted = 0;

	for (size_t i = 0; i < b->n; i++)
		accepted += b->items[i].ok;
	sbuf_printf(&rs->body, "{\"accepted\":%zu,\"rejected\":%zu,\"results\":[", accepted,
	            b->n - accepted);
	for (size_t i = 0; i < b->n; i++) {
		const struct ev_item *it = &b->items[i];
		const char *why = web_ev_reason(b, it);
		sbuf_printf(&rs->body, "%s{\"index\":%zu,\"status\":\"%s\"", i ? "," : "", i,
		            it->ok ? "accepted" : "rejected");
		if (!it->ok && why) {
			sbuf_puts(&rs->body, ",\"reason\":");
			sbuf_json_str(&rs->body, why);
		}
		sbuf_putc(&rs->body, '}');
	}
	sbuf_puts(&rs->body, "]}\n");
	rs->status = 202;
}

void web_events_post(struct web_req *rq, struct web_resp *rs)
{
	struct ev_batch *b = NULL;

	if (!rq->w->cfg->kafka_brokers[0]) {
		web_error(rs, 503,
		          "Kafka is not configured (TALLY_KAFKA_BROKERS): events cannot be"
		          " accepted");
		return;
	}
	if (split_events(rq, rs, &b) < 0)
		return;
	if (b->n == 0)
		web_error(rs, 400, "no events in the body: send JSON lines or a JSON array");
	else if (web_events_accept(rq, rs, b) == 0)
		web_events_answer(rs, b);
	web_ev_batch_free(b);
}
