/* web_int.h - shared between the web server's own files only. */
#ifndef TALLY_WEB_INT_H
#define TALLY_WEB_INT_H

#include <microhttpd.h>
#include <pthread.h>

#include "../ledger/ledger.h"
#include "web.h"

#define WEB_BODY_MAX      (1024 * 1024) /* larger request bodies get 413 */
#define WEB_POOL_MAX      8             /* idle ledger connections kept */
#define WEB_CONN_MAX      512u          /* connections, each with its own thread */
#define WEB_STACK_BYTES   ((size_t)512 * 1024)
#define WEB_TIMEOUT_S     30 /* idle connection timeout */
#define WEB_SESSION_TTL_S (12 * 3600)
#define WEB_CACHE_US      INT64_C(5000000) /* status / lag cache for /metrics, /readyz */
#define WEB_PARAM_MAX     256              /* bytes of one query parameter */
#define WEB_COOKIE        "tally_session"
#define WEB_ANSWER_TTL_MS 5000 /* spend / status answers reused (TALLY_WEB_CACHE_MS) */
#define WEB_CACHE_KEY_MAX 640
#define WEB_CACHE_HIT     (-2)

enum web_route {
	ROUTE_HEALTHZ,
	ROUTE_READYZ,
	ROUTE_METRICS,
	ROUTE_SESSION,
	ROUTE_ME,
	ROUTE_SPEND,
	ROUTE_STATUS,
	ROUTE_QUARANTINE,
	ROUTE_PRICES,
	ROUTE_EVENTS,
	ROUTE_STATIC,
	ROUTE_UNKNOWN,
	ROUTE_ROUTE,
	ROUTE_ROUTING, /* web_router.c */
	ROUTE_CHARGEBACK,
	ROUTE_OUTCOMES,
	ROUTE_WASTE,
	ROUTE_BUDGETS,
	ROUTE_ALERTS,
	ROUTE_EXPORT_FOCUS,
	ROUTE_TEAMS, /* web_reports.c */
	ROUTE_CALLS, /* web_value.c */
	ROUTE_COUNT
};

/* Status codes counted on /metrics; anything else is counted as "other". */
#define WEB_CODES                                                                                  \
	{                                                                                          \
		200, 202, 304, 400, 401, 403, 404, 405, 413, 500, 503                              \
	}
#define WEB_N_CODES 11

struct web {
	struct MHD_Daemon *daemon;
	const struct tally_config *cfg;
	const struct collector_stats *stats;
	bool cookie_secure;

	pthread_mutex_t pool_mu; /* idle ledger connections */
	struct ledger *idle[WEB_POOL_MAX];
	size_t n_idle;

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
};

typedef void (*web_handler)(struct web_req *rq, struct web_resp *rs);

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
 * ends); NULL with a 503 answer set in rs when the ledger is unreachable. */
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
void web_session_post(struct web_req *rq, struct web_resp *rs);
void web_session_delete(struct web_req *rq, struct web_resp *rs);
void web_me(struct web_req *rq, struct web_resp *rs);
/* For a viewer: 0 when team is its own (or NULL), else -1 with a 403 set. */
int web_team_allowed(struct web_req *rq, struct web_resp *rs, const char *team);

/* ---- web_api.c ---- */
void web_spend(struct web_req *rq, struct web_resp *rs);
void web_status(struct web_req *rq, struct web_resp *rs);
void web_quarantine(struct web_req *rq, struct web_resp *rs);
void web_prices_get(struct web_req *rq, struct web_resp *rs);
void web_prices_post(struct web_req *rq, struct web_resp *rs);
void web_events_post(struct web_req *rq, struct web_resp *rs);
void web_readyz(struct web_req *rq, struct web_resp *rs);

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

/* ---- web_router.c ---- */
void web_route_get(struct web_req *rq, struct web_resp *rs);
void web_routing_policy(struct web_req *rq, struct web_resp *rs);
void web_routing_history(struct web_req *rq, struct web_resp *rs);
void web_routing_savings(struct web_req *rq, struct web_resp *rs);
void web_routing_override_post(struct web_req *rq, struct web_resp *rs);
void web_routing_override_delete(struct web_req *rq, struct web_resp *rs);
void web_routing_evaluate(struct web_req *rq, struct web_resp *rs);

/* ---- web_reports.c ---- */
void web_chargeback(struct web_req *rq, struct web_resp *rs);
void web_outcomes(struct web_req *rq, struct web_resp *rs);
/* web_value.c: outcome value and return on spend by team, workflow and kind */
void web_outcome_value(struct web_req *rq, struct web_resp *rs);
/* web_value.c: the calls behind the charts, one call's record, the quarantine by reason */
void web_calls(struct web_req *rq, struct web_resp *rs);
void web_call(struct web_req *rq, struct web_resp *rs);
void web_quarantine_reasons(struct web_req *rq, struct web_resp *rs);
void web_waste(struct web_req *rq, struct web_resp *rs);
void web_budgets_get(struct web_req *rq, struct web_resp *rs);
void web_budgets_post(struct web_req *rq, struct web_resp *rs);
void web_budgets_delete(struct web_req *rq, struct web_resp *rs);
void web_alerts(struct web_req *rq, struct web_resp *rs);
void web_export_focus(struct web_req *rq, struct web_resp *rs);
void web_teams_get(struct web_req *rq, struct web_resp *rs);
void web_teams_post(struct web_req *rq, struct web_resp *rs);

/* ---- web_metrics.c ---- */
void web_metrics(struct web_req *rq, struct web_resp *rs);
/* Counts one answered request on /metrics. Thread-safe. */
void web_count_request(struct web *w, int route, unsigned status);
const char *web_route_name(int route);

#endif
