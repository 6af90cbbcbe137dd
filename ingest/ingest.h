/* ingest.h - other tools' records turned into tally call events.
 *
 * OpenTelemetry GenAI spans (OTLP protobuf or JSON) and LiteLLM's standard
 * logging payload become call events as JSON text with the field names of
 * docs/events.md. The converters do not validate beyond what they need: the text
 * goes through event_parse() like any event posted to /api/v1/events or read
 * from llm.calls, so there is one validation. Thread-safe; no globals besides
 * the skip counters below.
 */
#ifndef TALLY_INGEST_H
#define TALLY_INGEST_H

#include <cjson/cJSON.h>

#include "../common/common.h"
#include "../common/event.h"

#define OTLP_MAX_BYTES   (8 * 1024 * 1024) /* a decoded (inflated) OTLP body or message */
#define OTLP_MAP_FIELDS  5
#define OTLP_MAP_KEYS    8   /* attribute keys tried per field */
#define OTLP_MAP_KEY_MAX 128 /* bytes of one attribute key or constant */

/* The default mapping of span and resource attributes to call fields (see
 * docs/integrations.md). Per field, the keys are tried in order, the span's
 * attributes before the resource's; a key in single quotes is a constant. */
#define OTLP_MAP_DEFAULT                                                                           \
	"team=tally.team|service.namespace|service.name;"                                          \
	"workflow=tally.workflow|gen_ai.agent.name|service.name;"                                  \
	"task_type=tally.task_type|gen_ai.operation.name;"                                         \
	"outcome_id=tally.outcome_id|gen_ai.conversation.id;"                                      \
	"tier=tally.tier"

/* Which attributes fill team, workflow, task_type, outcome_id and tier. */
struct otlp_map {
	struct {
		char keys[OTLP_MAP_KEYS][OTLP_MAP_KEY_MAX + 1];
		size_t n;
	} field[OTLP_MAP_FIELDS];
};

/* Fills *m from spec ("field=key|key|'const';field=..."), starting from the
 * default so that a spec names only the fields it changes; NULL or "" is the
 * default. Returns 0, or -1 with a reason naming the bad part. */
int otlp_map_parse(const char *spec, struct otlp_map *m, struct tally_err *err);

/* One converted record: the call event as JSON text, or why there is none. */
struct ingest_item {
	char *text; /* malloc'd NUL-terminated call event JSON; NULL when !text */
	size_t len;
	char source[80];  /* "span <trace>/<span>" or "payload <id>", for reasons */
	char reason[256]; /* why the record could not become an event (text NULL) */
};

struct ingest_result {
	struct ingest_item *items; /* malloc'd, n of them */
	size_t n;
	size_t spans;   /* spans seen */
	size_t skipped; /* spans that are not GenAI model calls (not errors) */
};

enum otlp_encoding { OTLP_PROTOBUF = 0, OTLP_JSON = 1 };

/* Decodes an OTLP ExportTraceServiceRequest (TracesData is the same) and
 * turns each GenAI model-call span into one item. Returns 0, or -1 when the
 * payload itself cannot be decoded (err says why). Free *out with
 * ingest_result_cleanup, also after a failure. */
int otlp_convert(const void *buf, size_t len, enum otlp_encoding enc, const struct otlp_map *map,
                 struct ingest_result *out, struct tally_err *err);

/* Turns LiteLLM StandardLoggingPayloads (one JSON object, a JSON array of
 * them, or JSON lines as LiteLLM's generic API logger batches them) into
 * items. default_team is used when the payload names no team (may be "").
 * Returns 0, or -1 when the body is not JSON at all. */
int litellm_convert(const char *buf, size_t len, const char *default_team,
                    struct ingest_result *out, struct tally_err *err);

void ingest_result_cleanup(struct ingest_result *r); /* NULL is fine */

/* Adds tag k=v to a call's tags object unless v is empty, k is already there,
 * or the tags would outgrow an event's EVENT_TAGS_MAX bytes. */
void ingest_tag_add(cJSON *tags, const char *k, const char *v);

/* Inflates a gzip or deflate body into *out (malloc'd, at most max bytes).
 * Returns 0, or -1 when it is corrupt or larger than max. */
int ingest_inflate(const void *buf, size_t len, size_t max, char **out, size_t *out_len,
                   struct tally_err *err);

/* Spans skipped as not GenAI calls since start, by source (0 HTTP, 1 Kafka);
 * atomic. */
enum { INGEST_HTTP = 0, INGEST_KAFKA = 1 };
void ingest_count_spans(int source, size_t spans, size_t skipped);
void ingest_span_counts(int source, int64_t *spans, int64_t *skipped);

#endif
