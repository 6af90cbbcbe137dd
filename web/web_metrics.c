/* web_metrics.c - GET /metrics in the Prometheus text format 0.0.4: the
 * collector's counters and batch histograms (when a collector runs in this
 * process), stored offset and lag per partition, HTTP requests, build info. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../ingest/ingest.h"
#include "../reports/report.h"
#include "web_int.h"

#ifndef TALLY_VERSION
#define TALLY_VERSION "0.1.0"
#endif

#define ROUTE_NAME_(ID, label) [ROUTE_##ID] = label,
static const char *const route_names[ROUTE_COUNT] = {WEB_ENDPOINTS(ROUTE_NAME_, WEB_NO_ENDPOINT_)};
#undef ROUTE_NAME_

const char *web_route_name(int route)
{
	return route >= 0 && route < ROUTE_COUNT && route_names[route] ? route_names[route]
	                                                               : "unknown";
}

void web_count_request(struct web *w, int route, unsigned status)
{
	static const unsigned codes[WEB_N_CODES] = WEB_CODES;
	int c = WEB_N_CODES; /* "other" */

	if (route < 0 || route >= ROUTE_COUNT)
		route = ROUTE_UNKNOWN;
	for (int i = 0; i < WEB_N_CODES; i++)
		if (codes[i] == status)
			c = i;
	__atomic_fetch_add(&w->http_counts[route][c], 1, __ATOMIC_RELAXED);
}

static int64_t rd(const volatile int64_t *v)
{
	return __atomic_load_n(v, __ATOMIC_RELAXED);
}

/* A label value, escaped as the exposition format wants (\\, \", \n). */
static void label_value(struct sbuf *b, const char *s)
{
	sbuf_putc(b, '"');
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			sbuf_putc(b, '\\');
		if (*s == '\n') {
			sbuf_puts(b, "\\n");
			continue;
		}
		sbuf_putc(b, *s);
	}
	sbuf_putc(b, '"');
}

static void header(struct sbuf *b, const char *name, const char *type, const char *help)
{
	sbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A counter with a topic label per event kind when the collector fills the
 * per-topic counts, else one unlabelled series. */
static void topic_counter(struct sbuf *b, const struct tally_config *cfg, const char *name,
                          const char *help, int64_t total, const volatile int64_t *by_topic)
{
	const char *topics[3] = {cfg->topic_calls, cfg->topic_outcomes, cfg->topic_feedback};
	int64_t sum = 0;

	header(b, name, "counter", help);
	if (by_topic)
		for (int i = 0; i < 3; i++)
			sum += rd(&by_topic[i]);
	if (!by_topic || sum == 0) {
		sbuf_printf(b, "%s %lld\n", name, (long long)total);
		return;
	}
	for (int i = 0; i < 3; i++) {
		sbuf_printf(b, "%s{topic=", name);
		label_value(b, topics[i]);
		sbuf_printf(b, "} %lld\n", (long long)rd(&by_topic[i]));
	}
}

/* A counter of one topic (a call-only count is labelled with the calls topic). */
static void one_topic_counter(struct sbuf *b, const char *topic, const char *name, const char *help,
                              int64_t v)
{
	header(b, name, "counter", help);
	sbuf_printf(b, "%s{topic=", name);
	label_value(b, topic);
	sbuf_printf(b, "} %lld\n", (long long)v);
}

/* v / 10^decimals as the shortest exact decimal ("0.005", "1", "2.5"): a
 * bucket bound printed through a double would read 0.0050000000000000001. */
static void exact_decimal(struct sbuf *b, int64_t v, int decimals)
{
	int64_t div = 1;
	char frac[24];
	int n;

	for (int i = 0; i < decimals; i++)
		div *= 10;
	sbuf_i64(b, v / div);
	if (v % div == 0)
		return;
	n = snprintf(frac, sizeof frac, "%0*lld", decimals, (long long)(v % div));
	while (n > 0 && frac[n - 1] == '0')
		frac[--n] = '\0';
	sbuf_putc(b, '.');
	sbuf_puts(b, frac);
}

static void histogram(struct sbuf *b, const char *name, const char *help, const int64_t *le, int n,
                      int decimals, const volatile int64_t *counts, double sum)
{
	int64_t cum = 0;

	header(b, name, "histogram", help);
	for (int i = 0; i < n; i++) {
		cum += rd(&counts[i]);
		sbuf_printf(b, "%s_bucket{le=\"", name);
		exact_decimal(b, le[i], decimals);
		sbuf_printf(b, "\"} %lld\n", (long long)cum);
	}
	cum += rd(&counts[n]);
	sbuf_printf(b, "%s_bucket{le=\"+Inf\"} %lld\n", name, (long long)cum);
	sbuf_printf(b, "%s_sum %.17g\n%s_count %lld\n", name, sum, name, (long long)cum);
}

static void collector_metrics(struct sbuf *b, const struct tally_config *cfg,
                              const struct collector_stats *s)
{
	static const int64_t size_le[COLLECTOR_SIZE_BUCKETS] = COLLECTOR_SIZE_BOUNDS;
	static const int64_t us_le[COLLECTOR_SECONDS_BUCKETS] = COLLECTOR_SECONDS_BOUNDS_US;

	topic_counter(b, cfg, "tally_events_consumed_total", "Kafka messages consumed.",
	              rd(&s->consumed), s->consumed_by_topic);
	one_topic_counter(b, cfg->topic_calls, "tally_calls_inserted_total",
	                  "Calls newly stored in the ledger.", rd(&s->inserted));
	one_topic_counter(b, cfg->topic_calls, "tally_duplicates_total",
	                  "Calls skipped because their event_id was already stored.",
	                  rd(&s->duplicates));
	topic_counter(b, cfg, "tally_quarantined_total", "Messages quarantined as bad input.",
	              rd(&s->quarantined), s->quarantined_by_topic);
	one_topic_counter(b, cfg->topic_calls, "tally_unpriced_total",
	                  "Calls stored without a price (unknown model).", rd(&s->unpriced));
	one_topic_counter(b, cfg->topic_outcomes, "tally_outcomes_total", "Outcome events stored.",
	                  rd(&s->outcomes));
	one_topic_counter(b, cfg->topic_feedback, "tally_feedback_total", "Feedback events stored.",
	                  rd(&s->feedback));
	header(b, "tally_db_errors_total", "counter", "Failed ledger writes (retried).");
	sbuf_printf(b, "tally_db_errors_total %lld\n", (long long)rd(&s->db_errors));
	header(b, "tally_redelivered_total", "counter",
	       "Messages skipped as already stored (below the ledger's stored offset).");
	sbuf_printf(b, "tally_redelivered_total %lld\n", (long long)rd(&s->redelivered));
	histogram(b, "tally_batch_size", "Messages per written batch.", size_le,
	          COLLECTOR_SIZE_BUCKETS, 0, s->batch_size_buckets,
	          (double)rd(&s->batch_messages_total));
	histogram(b, "tally_batch_seconds", "Time from a batch's first poll to its commit.", us_le,
	          COLLECTOR_SECONDS_BUCKETS, 6, s->batch_seconds_buckets,
	          (double)rd(&s->batch_us_total) / 1e6);
}

/* ---- spend, tokens and budgets from the ledger --------------------------------- */

#define METRICS_SPEND_SERIES 200 /* label sets per spend metric; the rest is "_other" */

/* A value of pico-USD digits as USD, exact ("0.000183000000"). */
static void usd_value(struct sbuf *b, const char *pusd)
{
	char usd[64];
	report_usd(pusd, usd, sizeof usd);
	sbuf_puts(b, usd);
}

/* name{team=...,provider=...,model=...,tier=...}, after kind=... when kind
 * is not NULL. */
static void spend_labels(struct sbuf *b, const char *name, const char *kind,
                         const struct spend_label_row *l)
{
	sbuf_printf(b, "%s{", name);
	if (kind) {
		sbuf_puts(b, "kind=");
		label_value(b, kind);
		sbuf_putc(b, ',');
	}
	sbuf_puts(b, "team=");
	label_value(b, l->team);
	sbuf_puts(b, ",provider=");
	label_value(b, l->provider);
	sbuf_puts(b, ",model=");
	label_value(b, l->model);
	sbuf_puts(b, ",tier=");
	label_value(b, l->tier);
	sbuf_puts(b, "} ");
}

/* Spend and tokens by team, provider, model and tier (all time, from the
 * rollups), and each budget's state this month. Returns -1 when the ledger
 * fails (nothing written then). */
static int ledger_metrics(struct ledger *lg, struct sbuf *b, struct tally_err *err)
{
	/* in the order of spend_label_row.tokens */
	static const char *const token_kinds[5] = {"input", "output", "cache_read", "cache_write",
	                                           "reasoning"};
	struct spend_label_row *sp = NULL;
	struct budget_state *bs = NULL;
	size_t n_sp = 0, n_bs = 0;

	if (ledger_spend_labels(lg, METRICS_SPEND_SERIES, &sp, &n_sp, err) < 0)
		return -1;
	if (ledger_budget_states(lg, time_now_us(), &bs, &n_bs, err) < 0) {
		free(sp);
		return -1;
	}
	header(b, "tally_spend_usd_total", "counter",
	       "Spend in USD (tally's own price) by team, provider, model and tier; at most 200 "
	       "label sets, the rest summed under \"_other\".");
	for (size_t r = 0; r < n_sp; r++) {
		spend_labels(b, "tally_spend_usd_total", NULL, &sp[r]);
		usd_value(b, sp[r].cost_pusd);
		sbuf_putc(b, '\n');
	}
	header(b, "tally_calls_total", "counter",
	       "Calls stored by team, provider, model and tier (same label sets).");
	for (size_t r = 0; r < n_sp; r++) {
		spend_labels(b, "tally_calls_total", NULL, &sp[r]);
		sbuf_printf(b, "%s\n", sp[r].calls);
	}
	header(b, "tally_tokens_total", "counter",
	       "Tokens by kind (input counts cache reads and writes, output counts reasoning), "
	       "team, provider, model and tier.");
	for (size_t k = 0; k < 5; k++)
		for (size_t r = 0; r < n_sp; r++) {
			spend_labels(b, "tally_tokens_total", token_kinds[k], &sp[r]);
			sbuf_printf(b, "%s\n", sp[r].tokens[k]);
		}
	static const struct {
		const char *name, *help;
	} budget_gauges[] = {
	    {"tally_budget_usd", "Each budget's amount for this month (USD)."},
	    {"tally_budget_spend_usd", "Each budget's spend this month so far (USD)."},
	    {"tally_budget_forecast_usd", "Each budget's month-end forecast by run rate (USD)."},
	};
	for (size_t g = 0; g < sizeof budget_gauges / sizeof budget_gauges[0]; g++) {
		header(b, budget_gauges[g].name, "gauge", budget_gauges[g].help);
		for (size_t r = 0; r < n_bs; r++) {
			sbuf_printf(b, "%s{scope=", budget_gauges[g].name);
			label_value(b, bs[r].scope);
			sbuf_puts(b, ",name=");
			label_value(b, bs[r].name);
			sbuf_putc(b, '}');
			sbuf_putc(b, ' ');
			usd_value(b, g == 0   ? bs[r].amount_pusd
			             : g == 1 ? bs[r].spend_pusd
			                      : bs[r].forecast_pusd);
			sbuf_putc(b, '\n');
		}
	}
	free(sp);
	free(bs);
	return 0;
}

void web_metrics(struct web_req *rq, struct web_resp *rs)
{
	static const unsigned codes[WEB_N_CODES] = WEB_CODES;
	struct web *w = rq->w;
	struct sbuf *b = &rs->body;
	struct tally_status st;
	struct tally_err err = {0};
	struct ledger *lg;
	bool have = false;

	/* The ledger's offsets and Kafka's watermarks, at most 5 s old; when the
	 * ledger is unreachable the rest is still exported. */
	memset(&st, 0, sizeof st);
	if ((lg = web_ledger(rq, rs)) && web_status_cached(w, lg, &st, &err) == 0)
		have = true;
	else if (lg)
		log_warn("web: metrics: %s", err.msg);
	sbuf_reset(b);
	rs->content_type = "text/plain; version=0.0.4; charset=utf-8";
	if (w->stats)
		collector_metrics(b, w->cfg, w->stats);
	header(b, "tally_up", "gauge", "1 when the ledger answered this scrape.");
	sbuf_printf(b, "tally_up %d\n", have ? 1 : 0);
	if (have) {
		header(b, "tally_partition_offset", "gauge",
		       "Next offset stored in the ledger per partition.");
		for (size_t i = 0; i < st.n_partitions; i++) {
			sbuf_puts(b, "tally_partition_offset{topic=");
			label_value(b, st.partitions[i].topic);
			sbuf_printf(b, ",partition=\"%d\"} %lld\n", (int)st.partitions[i].partition,
			            (long long)st.partitions[i].offset);
		}
		header(b, "tally_offset_resets_total", "counter",
		       "Stored offsets found outside the broker's offsets (topic recreated,"
		       " another cluster, retention), logged and read again.");
		sbuf_printf(b, "tally_offset_resets_total %lld\n", (long long)st.offset_resets);
		header(b, "tally_partition_offset_out_of_range", "gauge",
		       "1 while a partition's stored offset is outside the broker's offsets.");
		for (size_t i = 0; i < st.n_partitions; i++) {
			if (st.partitions[i].low < 0)
				continue;
			sbuf_puts(b, "tally_partition_offset_out_of_range{topic=");
			label_value(b, st.partitions[i].topic);
			sbuf_printf(b, ",partition=\"%d\"} %d\n", (int)st.partitions[i].partition,
			            st.partitions[i].out_of_range ? 1 : 0);
		}
		header(b, "tally_partition_lag", "gauge",
		       "Messages in Kafka not yet stored in the ledger per partition (from the"
		       " broker's watermarks).");
		for (size_t i = 0; i < st.n_partitions; i++) {
			if (st.partitions[i].lag < 0)
				continue;
			sbuf_puts(b, "tally_partition_lag{topic=");
			label_value(b, st.partitions[i].topic);
			sbuf_printf(b, ",partition=\"%d\"} %lld\n", (int)st.partitions[i].partition,
			            (long long)st.partitions[i].lag);
		}
	}
	tally_status_cleanup(&st);
	struct tally_err merr = {0};
	if (lg && ledger_metrics(lg, b, &merr) < 0)
		log_warn("web: metrics: %s", merr.msg);

	header(b, "tally_http_requests_total", "counter", "HTTP requests answered.");
	for (int r = 0; r < ROUTE_COUNT; r++)
		for (int c = 0; c <= WEB_N_CODES; c++) {
			int64_t v = rd(&w->http_counts[r][c]);
			if (!v)
				continue;
			sbuf_printf(b,
			            "tally_http_requests_total{route=\"%s\",code=", route_names[r]);
			if (c < WEB_N_CODES)
				sbuf_printf(b, "\"%u\"", codes[c]);
			else
				sbuf_puts(b, "\"other\"");
			sbuf_printf(b, "} %lld\n", (long long)v);
		}
	for (int which = 0; which < 2; which++) {
		const char *name =
		    which ? "tally_otlp_spans_skipped_total" : "tally_otlp_spans_total";
		header(b, name, "counter",
		       which ? "OpenTelemetry spans skipped as not GenAI model calls (not errors)."
		             : "OpenTelemetry spans received, by way in (GenAI calls and others).");
		for (int src = 0; src < 2; src++) {
			int64_t spans, skipped;
			ingest_span_counts(src, &spans, &skipped);
			sbuf_printf(b, "%s{source=\"%s\"} %lld\n", name,
			            src == INGEST_HTTP ? "http" : "kafka",
			            (long long)(which ? skipped : spans));
		}
	}
	header(b, "tally_build_info", "gauge", "The running tally's version.");
	sbuf_puts(b, "tally_build_info{version=");
	label_value(b, TALLY_VERSION);
	sbuf_puts(b, "} 1\n");
	rs->status = 200;
}
