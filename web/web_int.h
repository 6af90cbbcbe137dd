/* web_int.h - shared between the web server's own files only. */
#ifndef TALLY_WEB_INT_H
#define TALLY_WEB_INT_H

#include <microhttpd.h>
#include <pthread.h>

#include "../ledger/ledger.h"
#include "web.h"

#define WEB_BODY_MAX (1024 * 1024) /* larger request bodies get 413 */
#define WEB_DRAIN_MAX                                                                              \
	(16 * 1024 * 1024)         /* a too large body read (and dropped) up to this,              \
	                              so that the client sees the 413 */
#define WEB_EVENTS_MAX        1000 /* events per POST /api/v1/events, else 413 */
#define WEB_EVENT_REASONS_MAX 100  /* rejected events answered with their reason */
#define WEB_POOL_SIZE         16   /* ledger connections of the server, in use or idle */
#define WEB_POOL_RESERVED     4    /* of them, kept for sign-in, /me, the route API, /readyz */
#define WEB_POOL_WAIT_S       30   /* a request waits this long for a connection, then 503 */
#define WEB_CONN_MAX          512u /* connections, each with its own thread */
#define WEB_STACK_BYTES       ((size_t)512 * 1024)
#define WEB_TIMEOUT_S         30 /* a request's body and answer: inactivity timeout */
#define WEB_HEADER_TIMEOUT_S  10 /* headers of a request, and a keep-alive wait for the next */
#define WEB_CONN_PER_IP       32 /* connections per client address (TALLY_HTTP_CONN_PER_IP) */
#define WEB_SESSION_TTL_S     (12 * 3600)
#define WEB_CACHE_US          INT64_C(5000000) /* status / lag cache for /metrics, /readyz */
#define WEB_URI_MAX           8192             /* request target, and each header: else 414 / 431 */
#define WEB_HEADERS_MAX       32768            /* all headers: else 431 */
#define WEB_CONN_MEMORY       (128 * 1024)     /* MHD's buffer per connection */
#define WEB_PARAM_MAX         256              /* bytes of one query parameter */
#define WEB_COOKIE            "tally_session"
#define WEB_ANSWER_TTL_MS     5000 /* spend / status answers reused (TALLY_WEB_CACHE_MS) */
#define WEB_CACHE_KEY_MAX     640
#define WEB_CACHE_HIT         (-2)

/* What an endpoint needs: nothing, any key, an admin or finance key, an
 * admin key. The dispatcher authenticates and checks before the handler
 * runs (a viewer's team scoping is the handler's, through rq->auth). */
enum web_need { NEED_NONE, NEED_ANY, NEED_STAFF, NEED_ADMIN };

/* Every endpoint, declared once. S(ID, label) opens the series
 * tally_http_requests_total{route=label} of /metrics (ROUTE_ID); each
 * E(ID, method, path, need, handler, params) after it is an endpoint counted
 * in that series: the method and exact path it answers, what it needs, its
 * handler (in the web_*.c of its area) and the query parameters it takes,
 * space-separated (any other is a 400). enum web_route, /metrics' labels,
 * the handlers' prototypes and web.c's dispatch table all come from it.
 * Handlers by file: web.c healthz; web_auth.c session, me; web_api.c spend,
 * status, quarantine, prices, events, readyz; web_router.c route, routing;
 * web_reports.c chargeback, outcomes, waste, mismatches, budgets, alerts,
 * FOCUS, teams; web_value.c outcome value, calls, call, quarantine reasons;
 * web_reconcile.c; web_ingest.c OTLP, LiteLLM; web_metrics.c. */
#define WEB_ENDPOINTS(S, E)                                                                        \
	S(HEALTHZ, "/healthz")                                                                     \
	E(HEALTHZ, "GET", "/healthz", NEED_NONE, web_healthz, "")                                  \
	S(READYZ, "/readyz")                                                                       \
	E(READYZ, "GET", "/readyz", NEED_NONE, web_readyz, "")                                     \
	S(METRICS, "/metrics")                                                                     \
	E(METRICS, "GET", "/metrics", NEED_NONE, web_metrics, "")                                  \
	S(SESSION, "/api/v1/session")                                                              \
	E(SESSION, "POST", "/api/v1/session", NEED_NONE, web_session_post, "")                     \
	E(SESSION, "DELETE", "/api/v1/session", NEED_ANY, web_session_delete, "")                  \
	S(ME, "/api/v1/me")                                                                        \
	E(ME, "GET", "/api/v1/me", NEED_ANY, web_me, "")                                           \
	S(SPEND, "/api/v1/spend")                                                                  \
	E(SPEND, "GET", "/api/v1/spend", NEED_ANY, web_spend,                                      \
	  "from to group_by team workflow bucket")                                                 \
	S(STATUS, "/api/v1/status")                                                                \
	E(STATUS, "GET", "/api/v1/status", NEED_STAFF, web_status, "")                             \
	S(QUARANTINE, "/api/v1/quarantine")                                                        \
	E(QUARANTINE, "GET", "/api/v1/quarantine", NEED_STAFF, web_quarantine, "limit offset")     \
	E(QUARANTINE, "GET", "/api/v1/quarantine/reasons", NEED_STAFF, web_quarantine_reasons,     \
	  "reason examples")                                                                       \
	S(PRICES, "/api/v1/prices")                                                                \
	E(PRICES, "GET", "/api/v1/prices", NEED_ANY, web_prices_get,                               \
	  "provider model limit offset")                                                           \
	E(PRICES, "POST", "/api/v1/prices", NEED_ADMIN, web_prices_post, "format effective_from")  \
	S(EVENTS, "/api/v1/events")                                                                \
	E(EVENTS, "POST", "/api/v1/events", NEED_ANY, web_events_post, "")                         \
	S(STATIC, "static")   /* the dashboard's files */                                          \
	S(UNKNOWN, "unknown") /* no such endpoint */                                               \
	S(ROUTE, "/api/v1/route")                                                                  \
	E(ROUTE, "GET", "/api/v1/route", NEED_ANY, web_route_get, "task_type workflow")            \
	S(ROUTING, "/api/v1/routing")                                                              \
	E(ROUTING, "GET", "/api/v1/routing/policy", NEED_STAFF, web_routing_policy, "")            \
	E(ROUTING, "GET", "/api/v1/routing/history", NEED_STAFF, web_routing_history, "limit")     \
	E(ROUTING, "GET", "/api/v1/routing/savings", NEED_STAFF, web_routing_savings,              \
	  "policy_version")                                                                        \
	E(ROUTING, "POST", "/api/v1/routing/overrides", NEED_ADMIN, web_routing_override_post, "") \
	E(ROUTING, "DELETE", "/api/v1/routing/overrides", NEED_ADMIN, web_routing_override_delete, \
	  "task_type")                                                                             \
	E(ROUTING, "POST", "/api/v1/routing/evaluate", NEED_ADMIN, web_routing_evaluate, "")       \
	S(CHARGEBACK, "/api/v1/chargeback")                                                        \
	E(CHARGEBACK, "GET", "/api/v1/chargeback", NEED_ANY, web_chargeback,                       \
	  "month share_unassigned format")                                                         \
	S(OUTCOMES, "/api/v1/outcomes")                                                            \
	E(OUTCOMES, "GET", "/api/v1/outcomes", NEED_STAFF, web_outcomes, "from to format")         \
	E(OUTCOMES, "GET", "/api/v1/outcomes/value", NEED_ANY, web_outcome_value, "from to team")  \
	S(WASTE, "/api/v1/waste")                                                                  \
	E(WASTE, "GET", "/api/v1/waste", NEED_ANY, web_waste,                                      \
	  "from to team window_s format policy_version")                                           \
	S(BUDGETS, "/api/v1/budgets")                                                              \
	E(BUDGETS, "GET", "/api/v1/budgets", NEED_ANY, web_budgets_get, "at format")               \
	E(BUDGETS, "POST", "/api/v1/budgets", NEED_STAFF, web_budgets_post, "")                    \
	E(BUDGETS, "DELETE", "/api/v1/budgets", NEED_STAFF, web_budgets_delete, "scope name")      \
	S(ALERTS, "/api/v1/alerts")                                                                \
	E(ALERTS, "GET", "/api/v1/alerts", NEED_ANY, web_alerts, "limit offset")                   \
	S(EXPORT_FOCUS, "/api/v1/export/focus")                                                    \
	E(EXPORT_FOCUS, "GET", "/api/v1/export/focus", NEED_STAFF, web_export_focus,               \
	  "from to granularity")                                                                   \
	E(EXPORT_FOCUS, "GET", "/api/v1/export/focus/metadata", NEED_STAFF,                        \
	  web_export_focus_metadata, "")                                                           \
	S(TEAMS, "/api/v1/teams")                                                                  \
	E(TEAMS, "GET", "/api/v1/teams", NEED_ANY, web_teams_get, "")                              \
	E(TEAMS, "POST", "/api/v1/teams", NEED_ADMIN, web_teams_post, "")                          \
	S(RECONCILE, "/api/v1/reconcile")                                                          \
	E(RECONCILE, "GET", "/api/v1/reconcile", NEED_STAFF, web_reconcile_get, "from to format")  \
	E(RECONCILE, "GET", "/api/v1/reconcile/mappings", NEED_ADMIN, web_reconcile_map_get, "")   \
	E(RECONCILE, "POST", "/api/v1/reconcile/mappings", NEED_ADMIN, web_reconcile_map_post, "") \
	S(OTLP, "/v1/traces")                                                                      \
	E(OTLP, "POST", "/v1/traces", NEED_ANY, web_otlp_traces, "")                               \
	S(LITELLM, "/api/v1/litellm")                                                              \
	E(LITELLM, "POST", "/api/v1/litellm", NEED_ANY, web_litellm_post, "team")                  \
	S(MISMATCHES, "/api/v1/mismatches")                                                        \
	E(MISMATCHES, "GET", "/api/v1/mismatches", NEED_STAFF, web_mismatches, "from to format")   \
	S(CALLS, "/api/v1/calls")                                                                  \
	E(CALLS, "GET", "/api/v1/calls", NEED_ANY, web_calls,                                      \
	  "from to team workflow task_type model tier provider status outcome_id limit offset")    \
	E(CALLS, "GET", "/api/v1/call", NEED_ANY, web_call, "event_id")

#define WEB_SERIES_ENUM_(ID, label) ROUTE_##ID,
#define WEB_NO_ENDPOINT_(ID, method, path, need, fn, params)
enum web_route { WEB_ENDPOINTS(WEB_SERIES_ENUM_, WEB_NO_ENDPOINT_) ROUTE_COUNT };
#undef WEB_SERIES_ENUM_

/* Status codes counted on /metrics; anything else is counted as "other". */
#define WEB_CODES                                                                                  \
	{                                                                                          \
		200, 202, 304, 400, 401, 403, 404, 405, 413, 414, 415, 429, 431, 500, 503          \
	}
#define WEB_N_CODES 15

/* A connection as the header deadline sees it (web.c). */
struct web_conn {
	struct web_conn *prev, *next;
	int fd;
	int64_t since_us; /* when it began waiting for request headers */
	bool in_request;  /* headers in: the deadline does not apply */
	bool cut;
};

struct web {
	struct MHD_Daemon *daemon;

	pthread_mutex_t conns_mu; /* connections, for the header deadline */
	struct web_conn *conns;
	pthread_t dog;
	bool dog_running;
	volatile bool stopping;
	const struct tally_config *cfg;
	const struct collector_stats *stats;
	bool cookie_secure;

	pthread_mutex_t pool_mu; /* ledger connections: idle ones, and how many in use */
	pthread_cond_t pool_cv;  /* signalled when one is given back */
	struct ledger *idle[WEB_POOL_SIZE];
	size_t n_idle, n_busy;

	pthread_mutex_t prod_mu; /* the producer of POST /api/v1/events */
	struct producer *prod;

	pthread_mutex_t cache_mu; /* status with lag, for /metrics and /readyz */
	struct tally_status cache;
	bool cache_valid;
	int64_t cache_at_us;

	int64_t http_counts[ROUTE_COUNT][WEB_N_CODES + 1]; /* atomic adds */
	struct web_cache *answers;                         /* NULL when disabled */
};

/* Who is asking, once authenticated. */
struct web_auth {
	bool ok;
	struct api_key key;
	bool by_cookie;
	char session_sha256[65];
	char csrf[65];
};

/* One request, from its headers to its completion. */
struct web_req {
	struct web *w;
	struct MHD_Connection *conn;
	const char *method, *url;
	int route;
	bool started;
	struct sbuf body;
	bool too_big;
	size_t received;   /* body bytes, kept or dropped */
	struct ledger *lg; /* from the pool, while the request holds one */
	struct web_auth auth;
};

/* What a handler answers. */
struct web_resp {
	unsigned status;
	const char *content_type;
	struct sbuf body;
	const char *cache_control;     /* NULL: no-store */
	char set_cookie[256];          /* "" for none */
	const struct web_asset *asset; /* a static file instead of body */
	int file;                      /* an open file to send instead of body, or -1 */
	const char *allow;             /* for 405 */
	char retry_after[16];          /* seconds, for 429; "" for none */
	const char *link;              /* a Link header (the FOCUS schema), or NULL */
};

typedef void (*web_handler)(struct web_req *rq, struct web_resp *rs);

/* The handlers of WEB_ENDPOINTS. */
#define WEB_NO_SERIES_(ID, label)
#define WEB_HANDLER_PROTO_(ID, method, path, need, fn, params)                                     \
	void fn(struct web_req *rq, struct web_resp *rs);
WEB_ENDPOINTS(WEB_NO_SERIES_, WEB_HANDLER_PROTO_)
#undef WEB_HANDLER_PROTO_

/* ---- web.c ---- */
/* Sets a JSON error answer {"error": "..."}. */
void web_error(struct web_resp *rs, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A query parameter (already checked: UTF-8, no control characters), or NULL. */
const char *web_arg(struct web_req *rq, const char *name);
/* An integer query parameter in [lo, hi], def when absent; -1 with a 400 set. */
int web_int_arg(struct web_req *rq, struct web_resp *rs, const char *name, int64_t def, int64_t lo,
                int64_t hi, int64_t *out);
/* A time query parameter (RFC 3339 or YYYY-MM-DD), def when absent; -1 with a
 * 400 set. */
int web_time_arg(struct web_req *rq, struct web_resp *rs, const char *name, int64_t def,
                 int64_t *out);
/* The request's ledger connection from the pool (kept until the request
 * ends). The server holds at most WEB_POOL_SIZE connections; a request waits
 * up to WEB_POOL_WAIT_S for one, and only sign-in, /me, the route API and
 * /readyz may take the last WEB_POOL_RESERVED. NULL with a 503 answer set in
 * rs when the ledger is unreachable or every connection stayed busy. */
struct ledger *web_ledger(struct web_req *rq, struct web_resp *rs);
/* Answers 500/503 for a failed ledger call and logs it. */
void web_db_error(struct web_req *rq, struct web_resp *rs, const struct tally_err *err);
/* Status with lag, at most WEB_CACHE_US old; copies it into *out (free with
 * tally_status_cleanup). Returns -1 when the ledger fails. */
int web_status_cached(struct web *w, struct ledger *lg, struct tally_status *out,
                      struct tally_err *err);

/* ---- web_auth.c ---- */
/* The listener that lets checked API keys be remembered (forgotten when a
 * key is revoked); one per process, started and stopped with the server. */
void web_keys_watch_start(const char *conninfo);
void web_keys_watch_stop(void);
/* Authenticates rq (Bearer token or session cookie, CSRF for cookie requests
 * that change state). Returns 0, or -1 with the 401/403/503 answer set. */
int web_authenticate(struct web_req *rq, struct web_resp *rs);
/* For a viewer: 0 when team is its own (or NULL), else -1 with a 403 set. */
int web_team_allowed(struct web_req *rq, struct web_resp *rs, const char *team);

/* ---- web_api.c ---- */
/* One event of a request, as its JSON text. The parsed event is not kept:
 * one is parsed at a time, so a request costs its body plus these. */
struct ev_item {
	const char *text; /* the event as produced: into the body, or owned; NULL
	                   * when the caller refused it (web_ev_reject) */
	char *owned;      /* malloc'd text, freed with the batch */
	size_t len;
	enum event_kind kind;
	char key[EVENT_ID_MAX + 1]; /* the Kafka message key */
	bool ok;
	int reason; /* index into ev_batch.reasons, or -1 */
};
/* The events of one request; reasons are kept for the first
 * WEB_EVENT_REASONS_MAX rejected ones only, so the answer stays bounded. */
struct ev_batch {
	struct ev_item *items; /* n of them, room for the count asked */
	size_t n;
	char reasons[WEB_EVENT_REASONS_MAX][256];
	size_t n_reasons;
};
/* A batch with room for n items (n itself 0: the caller fills and counts
 * them), each with no reason; NULL when out of memory. Freed, with each
 * item's owned text, by web_ev_batch_free (NULL is fine). */
struct ev_batch *web_ev_batch_new(size_t n);
void web_ev_batch_free(struct ev_batch *b);
/* Marks an item rejected with a reason (kept for the first ones only). */
void web_ev_reject(struct ev_batch *b, struct ev_item *it, const char *reason);
/* The reason an item was rejected, or NULL when it was not kept. */
const char *web_ev_reason(const struct ev_batch *b, const struct ev_item *it);
/* Validates each item with event_parse (the collector's validation), refuses
 * the whole request (403) when a viewer's key posts another team's event,
 * marks an admin's outcome a correction, and produces the valid ones to their
 * topics, waiting for Kafka. Returns 0 with each item's ok / reason set, or
 * -1 with the answer set in rs. */
int web_events_accept(struct web_req *rq, struct web_resp *rs, struct ev_batch *b);
/* The 202 answer of an accepted batch: counts and one result per item. */
void web_events_answer(struct web_resp *rs, const struct ev_batch *b);

/* ---- web_cache.c ---- */
/* Recent answers to read-only queries, by key. NULL (ttl_us <= 0) disables. */
struct web_cache *web_cache_new(int64_t ttl_us);
void web_cache_free(struct web_cache *c); /* NULL is fine */
/* WEB_CACHE_HIT with the answer set in rs; else a slot (>= 0) the caller
 * fills by answering and then passing rs to web_cache_done, or -1 (nothing
 * to do). May wait while another request computes the same key. */
int web_cache_get(struct web_cache *c, const char *key, struct web_resp *rs);
/* Stores a 200 answer of a slot from web_cache_get (any other status only
 * ends the fill) and wakes the requests waiting for it. */
void web_cache_done(struct web_cache *c, int slot, const struct web_resp *rs);

/* ---- web_metrics.c ---- */
/* Counts one answered request on /metrics. Thread-safe. */
void web_count_request(struct web *w, int route, unsigned status);
const char *web_route_name(int route);

#endif
