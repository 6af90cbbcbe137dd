/* drilldown.c - the rows behind the charts: calls by any filter (paged),
 * one call's full record with the price version that priced it, and the
 * quarantine grouped by reason. Each answer is one JSON document built by
 * PostgreSQL, money as exact decimal text (numeric, 12 places). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ledger_int.h"

#define USD(x) "round((" x ") / 1000000000000::numeric, 12)::text"
/* a per-token price in pico-USD as USD per million tokens */
#define PER_M(x) "round((" x ") / 1000000::numeric, 6)::text"

/* One call as JSON (alias c). */
/* clang-format off */
#define CALL_JSON                                                                                  \
	"json_build_object('event_id', c.event_id, 'ts', " SQL_ISO_US("c.ts") ","                  \
	" 'team', c.team, 'workflow', c.workflow,"                                                 \
	" 'task_type', c.task_type, 'outcome_id', c.outcome_id, 'provider', c.provider,"           \
	" 'model', c.model, 'tier', c.tier, 'status', c.status, 'input_tokens', c.input_tokens,"   \
	" 'output_tokens', c.output_tokens, 'cache_read_tokens', c.cache_read_tokens,"             \
	" 'cache_write_tokens', c.cache_write_tokens, 'reasoning_tokens', c.reasoning_tokens,"     \
	" 'batch', c.batch, 'cache_hit', c.cache_hit, 'local', c.local, 'latency_ms', c.latency_ms,"\
	" 'quality', c.quality, 'cost_usd', " USD("c.cost_pusd") ", 'price_version', c.price_version)"
/* clang-format on */

/* $1 from, $2 to, $3 team, $4 workflow, $5 task_type, $6 model, $7 tier,
 * $8 provider, $9 status, $10 outcome_id, $11 limit, $12 offset. */
static const char calls_sql[] =
    "WITH f AS (SELECT * FROM calls c WHERE c.ts >= $1::timestamptz AND c.ts < $2::timestamptz"
    " AND ($3::text IS NULL OR c.team = $3) AND ($4::text IS NULL OR c.workflow = $4)"
    " AND ($5::text IS NULL OR c.task_type = $5) AND ($6::text IS NULL OR c.model = $6)"
    " AND ($7::text IS NULL OR c.tier = $7) AND ($8::text IS NULL OR c.provider = $8)"
    " AND ($9::text IS NULL OR c.status = $9) AND ($10::text IS NULL OR c.outcome_id = $10)),"
    " p AS (SELECT * FROM f c ORDER BY c.ts DESC, c.event_id LIMIT $11::bigint OFFSET $12::bigint)"
    " SELECT json_build_object('total', (SELECT count(*) FROM f), 'limit', $11::bigint,"
    " 'offset', $12::bigint, 'items', coalesce((SELECT json_agg(" CALL_JSON
    " ORDER BY c.ts DESC, c.event_id) FROM p c), '[]'::json))::text";

int ledger_calls_json(struct ledger *lg, const struct calls_filter *f, struct sbuf *out,
                      struct tally_err *err)
{
	char from[40], to[40], lim[24], off[24];
	const char *p[12] = {from,    to,          f->team,   f->workflow,   f->task_type, f->model,
	                     f->tier, f->provider, f->status, f->outcome_id, lim,          off};

	time_format(f->from_us, from);
	time_format(f->to_us, to);
	snprintf(lim, sizeof lim, "%lld", (long long)f->limit);
	snprintf(off, sizeof off, "%lld", (long long)f->offset);
	PGresult *res = PQexecParams(lg->conn, calls_sql, 12, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return ledger_fail(lg, res, "calls", err);
	sbuf_puts(out, PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}

/* A call's cost by component (alias c), from its stored components
 * (ledger/components.c): the components it incurred, in the list's order
 * (ledger/price_components.h), each with its quantity, unit, cost and cost
 * at list rates. */
#define PC_NAME_(ID, name, key, unit) ", '" #name "'"
#define PC_UNIT_(ID, name, key, unit) ", '" unit "'"
/* clang-format off */
#define CALL_COMPONENTS_JSON                                                                       \
	"(SELECT coalesce(json_agg(json_build_object('component', x.component, 'quantity', x.qty,"  \
	" 'unit', m.u, 'cost_usd', " USD("x.cost_pusd") ", 'list_cost_usd', " USD("x.list_pusd")   \
	") ORDER BY m.o), '[]'::json)"                                                             \
	" FROM tally_call_components(c.components) x"                                              \
	" JOIN unnest(ARRAY[NULL::text" PRICE_COMPONENTS(PC_NAME_) "],"                             \
	" ARRAY[NULL::text" PRICE_COMPONENTS(PC_UNIT_) "]) WITH ORDINALITY AS m(k, u, o)"           \
	" ON m.k = x.component WHERE x.qty <> 0 OR x.cost_pusd <> 0)"
/* clang-format on */

/* The call's price version's rates (alias pb), every component and variant
 * of ledger/price_components.h that the version sets: token rates in USD per
 * million tokens, per-unit rates in USD per unit. */
#define PBN_STD_(ID, name, key, unit)   ", '" #name "'"
#define PBN_BATCH_(ID, name, key, unit) ", 'batch_" #name "'"
#define PBN_FLEX_(ID, name, key, unit)  ", 'flex_" #name "'"
#define PBN_PRIO_(ID, name, key, unit)  ", 'priority_" #name "'"
#define PBN_ABOVE_(ID, name, key, unit) ", 'above_" #name "'"
#define PBN_ABPR_(ID, name, key, unit)  ", 'above_priority_" #name "'"
#define PBC_STD_(ID, name, key, unit)   ", pb." #name "_pusd"
#define PBC_BATCH_(ID, name, key, unit) ", pb.batch_" #name "_pusd"
#define PBC_FLEX_(ID, name, key, unit)  ", pb.flex_" #name "_pusd"
#define PBC_PRIO_(ID, name, key, unit)  ", pb.priority_" #name "_pusd"
#define PBC_ABOVE_(ID, name, key, unit) ", pb.above_" #name "_pusd"
#define PBC_ABPR_(ID, name, key, unit)  ", pb.above_priority_" #name "_pusd"
#define PBU_(ID, name, key, unit)       ", '" unit "'"
#define PB_RATES_UNNEST                                                                            \
	" FROM unnest(ARRAY[NULL::text" PRICE_COMPONENTS(PBN_STD_) PRICE_COMPONENTS(PBN_BATCH_)    \
	    PRICE_COMPONENTS(PBN_FLEX_) PRICE_COMPONENTS(PBN_PRIO_) PRICE_COMPONENTS(PBN_ABOVE_)   \
	        PRICE_COMPONENTS(PBN_ABPR_) "], ARRAY[NULL::bigint" PRICE_COMPONENTS(PBC_STD_)     \
	            PRICE_COMPONENTS(PBC_BATCH_) PRICE_COMPONENTS(PBC_FLEX_)                       \
	                PRICE_COMPONENTS(PBC_PRIO_) PRICE_COMPONENTS(PBC_ABOVE_) PRICE_COMPONENTS( \
	                    PBC_ABPR_) "], ARRAY[NULL::text" PRICE_COMPONENTS(PBU_)                \
	                    PRICE_COMPONENTS(PBU_) PRICE_COMPONENTS(PBU_) PRICE_COMPONENTS(PBU_)   \
	                        PRICE_COMPONENTS(PBU_) PRICE_COMPONENTS(                           \
	                            PBU_) "]) WITH ORDINALITY AS x(n, v, u, o)"                    \
	                                  " WHERE x.n IS NOT NULL AND x.v IS NOT NULL"
#define PB_TOKEN_RATES_JSON                                                                        \
	"(SELECT json_object_agg(x.n, " PER_M("x.v") " ORDER BY x.o)" PB_RATES_UNNEST              \
	                                             " AND x.u = 'tokens')"
#define PB_UNIT_RATES_JSON                                                                         \
	"(SELECT json_object_agg(x.n, " USD("x.v") " ORDER BY x.o)" PB_RATES_UNNEST                \
	                                           " AND x.u <> 'tokens')"

/* $1 event_id, $2 team (NULL: any). The call, its cost by component, its
 * price version's rates (USD per million tokens) and, when it names one, its
 * outcome and the feedback it got. */
/* clang-format off */
static const char call_sql[] =
    "SELECT json_build_object('call', " CALL_JSON ","
    " 'usage_shape', c.usage_shape, 'prompt_hash', c.prompt_hash,"
    " 'provider_cost_usd', " USD("c.provider_cost_pusd") ", 'tags', c.tags,"
    " 'kafka', json_build_object('topic', c.kafka_topic, 'partition', c.kafka_partition,"
    "  'offset', c.kafka_offset),"
    " 'ingested_at', " SQL_ISO("c.ingested_at") ","
    " 'unpriced_reason', nullif(c.unpriced_reason, ''),"
    " 'components', " CALL_COMPONENTS_JSON ","
    " 'price', (SELECT json_build_object('price_version', pb.price_version,"
    "  'provider', pb.provider, 'model', pb.model, 'tier', pb.tier,"
    "  'effective_from', " SQL_ISO("pb.effective_from") ", 'source', pb.source,"
    "  'usd_per_million_tokens', coalesce(" PB_TOKEN_RATES_JSON ", '{}'::json),"
    "  'usd_per_unit', coalesce(" PB_UNIT_RATES_JSON ", '{}'::json),"
    "  'long_context_threshold_tokens', nullif(pb.threshold_tokens, 0))"
    "  FROM price_book pb WHERE pb.price_version = c.price_version),"
    " 'outcome', (SELECT json_build_object('outcome_id', o.outcome_id, 'kind', o.kind,"
    "  'success', o.success, 'value_usd', " USD("o.value_pusd") ")"
    "  FROM outcomes o WHERE o.outcome_id = c.outcome_id),"
    " 'feedback', coalesce((SELECT json_agg(json_build_object('score', fb.score, 'source',"
    "  fb.source) ORDER BY fb.ts) FROM feedback fb WHERE fb.event_id = c.event_id), '[]'::json))::text"
    " FROM calls c WHERE c.event_id = $1 AND ($2::text IS NULL OR c.team = $2) LIMIT 1";
/* clang-format on */

int ledger_call_json(struct ledger *lg, const char *event_id, const char *team, struct sbuf *out,
                     bool *found, struct tally_err *err)
{
	const char *p[2] = {event_id, team};

	*found = false;
	PGresult *res = PQexecParams(lg->conn, call_sql, 2, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return ledger_fail(lg, res, "call", err);
	if (PQntuples(res) == 1) {
		*found = true;
		sbuf_puts(out, PQgetvalue(res, 0, 0));
	}
	PQclear(res);
	return 0;
}

/* $1 reason (NULL: every group), $2 limit of the examples per group. The
 * quarantine grouped by reason, most frequent first, each group with its
 * count, first and last time and its newest messages (raw as text when it
 * is UTF-8, else escaped). */
static const char quarantine_groups_sql[] =
    "WITH g AS (SELECT reason, count(*) AS n, min(received_at) AS first_at,"
    "  max(received_at) AS last_at FROM quarantine"
    "  WHERE $1::text IS NULL OR reason = $1 GROUP BY reason)"
    " SELECT json_build_object('total', (SELECT coalesce(sum(n), 0) FROM g),"
    " 'groups', coalesce(json_agg(json_build_object('reason', g.reason, 'count', g.n,"
    "  'first_at', " SQL_ISO(
        "g.first_at") ","
                      "  'last_at', " SQL_ISO(
                          "g.last_at") ","
                                       "  'items', (SELECT json_agg(json_build_object('id', q.id, "
                                       "'received_at',"
                                       "   " SQL_ISO(
                                           "q.received_at") ","
                                                            "   'topic', q.topic, 'partition', "
                                                            "q.kafka_partition, 'offset', "
                                                            "q.kafka_offset,"
                                                            "   'raw', encode(substring(q.raw FROM "
                                                            "1 FOR 300), 'escape'),"
                                                            "   'raw_bytes', length(q.raw)) ORDER "
                                                            "BY q.id DESC)"
                                                            "   FROM (SELECT * FROM quarantine q "
                                                            "WHERE q.reason = g.reason ORDER BY "
                                                            "q.id DESC"
                                                            "   LIMIT $2::int) q)) ORDER BY g.n "
                                                            "DESC, g.reason), '[]'::json))::text "
                                                            "FROM g";

int ledger_quarantine_groups_json(struct ledger *lg, const char *reason, int examples,
                                  struct sbuf *out, struct tally_err *err)
{
	char lim[16];
	const char *p[2] = {reason, lim};

	snprintf(lim, sizeof lim, "%d", examples);
	PGresult *res = PQexecParams(lg->conn, quarantine_groups_sql, 2, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return ledger_fail(lg, res, "quarantine", err);
	sbuf_puts(out, PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}
