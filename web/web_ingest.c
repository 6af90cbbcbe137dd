/* web_ingest.c - other tools' records over HTTP: POST /v1/traces (OTLP/HTTP,
 * protobuf or JSON, OpenTelemetry GenAI spans) and POST /api/v1/litellm
 * (LiteLLM's standard logging payload). Each record becomes a call event and
 * goes the way of POST /api/v1/events: one validation, one scoping rule,
 * produced to the calls topic. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ingest/ingest.h"
#include "otlp.pb-c.h"
#include "web_int.h"

static const char *header(struct web_req *rq, const char *name)
{
	return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

/* True when the media type of value (parameters ignored) is type. */
static bool media_is(const char *value, const char *type)
{
	size_t n = strlen(type);
	return value && strncasecmp(value, type, n) == 0 &&
	       (value[n] == '\0' || value[n] == ';' || value[n] == ' ');
}

/* The request body, inflated when Content-Encoding says so. *owned is set to
 * a buffer the caller frees (NULL when the body is used as is). */
static int body_bytes(struct web_req *rq, struct web_resp *rs, const char **p, size_t *len,
                      char **owned)
{
	const char *enc = header(rq, "Content-Encoding");
	struct tally_err err = {0};

	*owned = NULL;
	*p = rq->body.p ? rq->body.p : "";
	*len = rq->body.len;
	if (!enc || !*enc || strcasecmp(enc, "identity") == 0)
		return 0;
	if (strcasecmp(enc, "gzip") != 0 && strcasecmp(enc, "deflate") != 0) {
		web_error(rs, 415, "Content-Encoding %s is not supported: use gzip or none", enc);
		return -1;
	}
	if (ingest_inflate(*p, *len, OTLP_MAX_BYTES, owned, len, &err) < 0) {
		web_error(rs, err.code == TALLY_ENOMEM ? 500 : 400, "%s", err.msg);
		return -1;
	}
	*p = *owned;
	return 0;
}

/* The converted items as a batch of the events path; takes their texts out
 * of r. Items that did not convert are rejected with their reason. NULL when
 * out of memory. */
static struct ev_batch *batch_of(struct ingest_result *r)
{
	struct ev_batch *b = web_ev_batch_new(r->n);

	if (!b)
		return NULL;
	for (size_t i = 0; i < r->n; i++) {
		struct ev_item *it = &b->items[b->n++];
		if (r->items[i].text) {
			it->owned = r->items[i].text;
			it->text = it->owned;
			it->len = r->items[i].len;
			r->items[i].text = NULL;
		} else {
			web_ev_reject(b, it, r->items[i].reason);
		}
	}
	return b;
}

/* Hands the converted items to the events path. Takes the texts out of r.
 * Returns the number rejected, or -1 with the answer set. */
static long accept_items(struct web_req *rq, struct web_resp *rs, struct ingest_result *r,
                         struct sbuf *why)
{
	struct ev_batch *b;
	long rejected = 0;

	if (r->n == 0)
		return 0;
	if (!rq->w->cfg->kafka_brokers[0]) {
		web_error(
		    rs, 503,
		    "Kafka is not configured (TALLY_KAFKA_BROKERS): calls cannot be accepted");
		return -1;
	}
	if (!(b = batch_of(r))) {
		web_error(rs, 500, "out of memory");
		return -1;
	}
	if (web_events_accept(rq, rs, b) < 0) {
		rejected = -1;
		goto out;
	}
	for (size_t i = 0; i < b->n; i++) {
		const char *reason;
		if (b->items[i].ok)
			continue;
		reason = web_ev_reason(b, &b->items[i]);
		if (rejected++ < 5) /* the first few reasons are enough to act on */
			sbuf_printf(why, "%s%s: %s", why->len ? "; " : "", r->items[i].source,
			            reason ? reason : "rejected");
	}
out:
	web_ev_batch_free(b);
	return rejected;
}

void web_otlp_traces(struct web_req *rq, struct web_resp *rs)
{
	const char *ctype = header(rq, "Content-Type");
	bool json = media_is(ctype, "application/json");
	struct ingest_result r = {0};
	struct otlp_map map;
	struct tally_err err = {0};
	struct sbuf why;
	const char *p;
	size_t len;
	char *owned = NULL;
	long rejected;

	sbuf_init(&why);
	if (!json && !media_is(ctype, "application/x-protobuf") &&
	    !media_is(ctype, "application/protobuf")) {
		web_error(
		    rs, 415,
		    "Content-Type must be application/x-protobuf or application/json (OTLP/HTTP)");
		return;
	}
	if (otlp_map_parse(rq->w->cfg->otlp_map, &map, &err) < 0) {
		web_error(rs, 500, "%s", err.msg);
		return;
	}
	if (body_bytes(rq, rs, &p, &len, &owned) < 0)
		return;
	if (otlp_convert(p, len, json ? OTLP_JSON : OTLP_PROTOBUF, &map, &r, &err) < 0) {
		web_error(rs, err.code == TALLY_ENOMEM ? 500 : 400, "%s", err.msg);
		goto out;
	}
	ingest_count_spans(INGEST_HTTP, r.spans, r.skipped);
	if ((rejected = accept_items(rq, rs, &r, &why)) < 0)
		goto out;
	/* ExportTraceServiceResponse, in the request's encoding; spans that are
	 * not GenAI calls were accepted and skipped, not rejected. */
	rs->status = 200;
	if (json) {
		rs->content_type = "application/json";
		if (rejected == 0) {
			sbuf_puts(&rs->body, "{}\n");
		} else {
			sbuf_printf(&rs->body,
			            "{\"partialSuccess\":{\"rejectedSpans\":\"%ld\","
			            "\"errorMessage\":",
			            rejected);
			sbuf_json_str(&rs->body, why.p ? why.p : "");
			sbuf_puts(&rs->body, "}}\n");
		}
	} else {
		Tallyotlp__ExportTraceServiceResponse resp =
		    TALLYOTLP__EXPORT_TRACE_SERVICE_RESPONSE__INIT;
		Tallyotlp__ExportTracePartialSuccess ps =
		    TALLYOTLP__EXPORT_TRACE_PARTIAL_SUCCESS__INIT;
		rs->content_type = "application/x-protobuf";
		if (rejected > 0) {
			ps.rejected_spans = rejected;
			ps.error_message = why.p ? why.p : (char *)"";
			resp.partial_success = &ps;
		}
		size_t n = tallyotlp__export_trace_service_response__get_packed_size(&resp);
		uint8_t small[2048], *buf = n <= sizeof small ? small : malloc(n);
		if (!buf) {
			web_error(rs, 500, "out of memory");
			goto out;
		}
		tallyotlp__export_trace_service_response__pack(&resp, buf);
		sbuf_append(&rs->body, buf, n);
		if (buf != small)
			free(buf);
	}
out:
	sbuf_cleanup(&why);
	ingest_result_cleanup(&r);
	free(owned);
}

void web_litellm_post(struct web_req *rq, struct web_resp *rs)
{
	const char *team = web_arg(rq, "team");
	struct ingest_result r = {0};
	struct tally_err err = {0};
	struct ev_batch *b = NULL;
	const char *p;
	size_t len;
	char *owned = NULL;

	/* A viewer's calls are its team's unless the payload says otherwise
	 * (which the events path then refuses). */
	if (!team && rq->auth.key.role == ROLE_VIEWER)
		team = rq->auth.key.team;
	if (body_bytes(rq, rs, &p, &len, &owned) < 0)
		return;
	if (litellm_convert(p, len, team ? team : "", &r, &err) < 0) {
		web_error(rs, err.code == TALLY_ENOMEM ? 500 : 400, "%s", err.msg);
		goto out;
	}
	if (r.n == 0) {
		web_error(rs, 400,
		          "no payloads in the body: send LiteLLM's StandardLoggingPayload");
		goto out;
	}
	if (!rq->w->cfg->kafka_brokers[0]) {
		web_error(
		    rs, 503,
		    "Kafka is not configured (TALLY_KAFKA_BROKERS): calls cannot be accepted");
		goto out;
	}
	if (!(b = batch_of(&r))) {
		web_error(rs, 500, "out of memory");
		goto out;
	}
	if (web_events_accept(rq, rs, b) == 0)
		web_events_answer(rs, b);
out:
	web_ev_batch_free(b);
	ingest_result_cleanup(&r);
	free(owned);
}
