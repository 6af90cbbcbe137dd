/* web.c - the HTTP server: routing, request bodies, answers and their
 * headers, the ledger connection pool, static files, tokens. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "web_int.h"

#define CSP "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

/* The dispatch table: WEB_ENDPOINTS (web_int.h). */
static const struct route {
	const char *path;
	int id;
	const char *method;
	int need;
	web_handler fn;
	const char *params; /* the query parameters it takes, space-separated */
} routes[] = {
#define ROUTE_ROW_(ID, method, path, need, fn, params) {path, ROUTE_##ID, method, need, fn, params},
    WEB_ENDPOINTS(WEB_NO_SERIES_, ROUTE_ROW_)
#undef ROUTE_ROW_
};
#define N_ROUTES (sizeof routes / sizeof routes[0])

/* ---- tokens ------------------------------------------------------------------ */

int web_random_hex(char *out, size_t n, struct tally_err *err)
{
	unsigned char buf[64];

	if (n > sizeof buf || RAND_bytes(buf, (int)n) != 1)
		return tally_err_set(err, TALLY_EIO, false, "the random generator failed");
	hex_encode(buf, n, out);
	OPENSSL_cleanse(buf, sizeof buf);
	return 0;
}

int web_token_new(char *out, struct tally_err *err)
{
	memcpy(out, WEB_TOKEN_PREFIX, 4);
	return web_random_hex(out + 4, 32, err);
}

void web_sha256_hex(const char *s, size_t len, char *out)
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)s, len, md);
	hex_encode(md, sizeof md, out);
}

/* Until scripts/embed-web.sh generates the dashboard's assets, nothing is
 * embedded; the generated strong definition replaces this one. */
__attribute__((weak)) const struct web_asset *web_asset_find(const char *path)
{
	(void)path;
	return NULL;
}

/* ---- answers ------------------------------------------------------------------- */

void web_error(struct web_resp *rs, unsigned status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	utf8_sanitize(msg);
	rs->status = status;
	rs->content_type = "application/json";
	rs->asset = NULL;
	sbuf_reset(&rs->body);
	sbuf_puts(&rs->body, "{\"error\":");
	sbuf_json_str(&rs->body, msg);
	sbuf_puts(&rs->body, "}\n");
}

const char *web_arg(struct web_req *rq, const char *name)
{
	return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* Gives a connection (and its slot) back; NULL is fine. */
static void pool_put(struct web *w, struct ledger *lg)
{
	if (!lg)
		return;
	pthread_mutex_lock(&w->pool_mu);
	w->n_busy--;
	if (ledger_ok(lg) && w->n_idle < WEB_POOL_SIZE) {
		w->idle[w->n_idle++] = lg;
		lg = NULL;
	}
	pthread_cond_broadcast(&w->pool_cv);
	pthread_mutex_unlock(&w->pool_mu);
	ledger_close(lg);
}

/* Routes that must keep working while reports hold every other connection. */
static bool pool_reserved_for(int route)
{
	return route == ROUTE_SESSION || route == ROUTE_ME || route == ROUTE_ROUTE ||
	       route == ROUTE_READYZ;
}

struct ledger *web_ledger(struct web_req *rq, struct web_resp *rs)
{
	struct web *w = rq->w;
	struct tally_err err = {0};
	size_t limit =
	    pool_reserved_for(rq->route) ? WEB_POOL_SIZE : WEB_POOL_SIZE - WEB_POOL_RESERVED;
	struct timespec until;
	struct ledger *lg = NULL;

	if (rq->lg)
		return rq->lg;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += WEB_POOL_WAIT_S;
	pthread_mutex_lock(&w->pool_mu);
	while (w->n_busy >= limit)
		if (pthread_cond_timedwait(&w->pool_cv, &w->pool_mu, &until) != 0 &&
		    w->n_busy >= limit) {
			pthread_mutex_unlock(&w->pool_mu);
			log_warn("web: %s %s: every ledger connection stayed busy for %d s",
			         rq->method, rq->url, WEB_POOL_WAIT_S);
			web_error(rs, 503,
			          "the server is busy (every ledger connection is in use); try"
			          " again shortly");
			return NULL;
		}
	w->n_busy++;
	if (w->n_idle > 0)
		lg = w->idle[--w->n_idle];
	pthread_mutex_unlock(&w->pool_mu);
	/* A pooled connection may have died since; try a fresh one then. */
	if (lg && !ledger_ok(lg)) {
		ledger_close(lg);
		lg = NULL;
	}
	if (!lg && !(lg = ledger_open(rq->w->cfg->database_url, &err))) {
		log_warn("web: %s", err.msg);
		pthread_mutex_lock(&w->pool_mu);
		w->n_busy--;
		pthread_cond_broadcast(&w->pool_cv);
		pthread_mutex_unlock(&w->pool_mu);
		web_error(rs, 503, "the ledger is unreachable; try again shortly");
		return NULL;
	}
	return rq->lg = lg;
}

void web_db_error(struct web_req *rq, struct web_resp *rs, const struct tally_err *err)
{
	log_error("web: %s %s: %s", rq->method, rq->url, err->msg);
	if (err->retriable)
		web_error(rs, 503, "the ledger did not answer; try again shortly");
	else
		web_error(rs, 500, "the ledger failed to answer this request (see the server log)");
}

int web_status_cached(struct web *w, struct ledger *lg, struct tally_status *out,
                      struct tally_err *err)
{
	int64_t now = time_mono_us();
	int rc = 0;

	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&w->cache_mu);
	if (!w->cache_valid || now - w->cache_at_us > WEB_CACHE_US) {
		struct tally_status fresh;
		if (tally_status_read(w->cfg, lg, 2000, &fresh, err) < 0) {
			rc = -1;
			goto out;
		}
		tally_status_cleanup(&w->cache);
		w->cache = fresh;
		w->cache_valid = true;
		w->cache_at_us = time_mono_us();
	}
	*out = w->cache;
	out->partitions = NULL;
	if (w->cache.n_partitions &&
	    !(out->partitions = malloc(w->cache.n_partitions * sizeof *out->partitions))) {
		out->n_partitions = 0;
		rc = tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
		goto out;
	}
	if (w->cache.n_partitions)
		memcpy(out->partitions, w->cache.partitions,
		       w->cache.n_partitions * sizeof *out->partitions);
out:
	pthread_mutex_unlock(&w->cache_mu);
	return rc;
}

static void add_headers(struct web *w, struct MHD_Response *r, const struct web_resp *rs)
{
	(void)w;
	MHD_add_response_header(r, "Content-Type",
	                        rs->content_type ? rs->content_type : "application/json");
	MHD_add_response_header(r, "Cache-Control",
	                        rs->cache_control ? rs->cache_control : "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Content-Security-Policy", CSP);
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	if (rs->set_cookie[0])
		MHD_add_response_header(r, "Set-Cookie", rs->set_cookie);
	if (rs->status == 401)
		MHD_add_response_header(r, "WWW-Authenticate", "Bearer realm=\"tally\"");
	if (rs->status == 413)
		MHD_add_response_header(r, "Connection", "close");
	if (rs->allow)
		MHD_add_response_header(r, "Allow", rs->allow);
	if (rs->retry_after[0])
		MHD_add_response_header(r, "Retry-After", rs->retry_after);
	if (rs->link)
		MHD_add_response_header(r, "Link", rs->link);
}

static enum MHD_Result send_answer(struct web_req *rq, struct web_resp *rs)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (rs->body.oom)
		web_error(rs, 500, "out of memory");
	struct stat st;
	if (rs->file >= 0) {
		/* libmicrohttpd sends it with sendfile() and closes it. */
		r = fstat(rs->file, &st) == 0
		        ? MHD_create_response_from_fd64((uint64_t)st.st_size, rs->file)
		        : NULL;
		if (!r)
			close(rs->file);
		rs->file = -1;
	} else if (rs->asset)
		r = MHD_create_response_from_buffer(rs->asset->len, (void *)rs->asset->data,
		                                    MHD_RESPMEM_PERSISTENT);
	else
		r = MHD_create_response_from_buffer(
		    rs->body.len, rs->body.p ? rs->body.p : (void *)"", MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	add_headers(rq->w, r, rs);
	if (rs->status == 200 && rs->content_type &&
	    strncmp(rs->content_type, "text/csv", 8) == 0) {
		/* A report as a file named after its endpoint: tally-chargeback.csv... */
		const char *name = strrchr(rq->url, '/');
		char cd[96];
		snprintf(cd, sizeof cd, "attachment; filename=\"tally-%s.csv\"",
		         name ? name + 1 : "report");
		MHD_add_response_header(r, "Content-Disposition", cd);
	}
	ret = MHD_queue_response(rq->conn, rs->status, r);
	MHD_destroy_response(r);
	web_count_request(rq->w, rq->route, rs->status);
	if (rs->status >= 500)
		log_warn("web: %s %s -> %u", rq->method, rq->url, rs->status);
	else
		log_debug("web: %s %s -> %u", rq->method, rq->url, rs->status);
	return ret;
}

/* ---- routing ----------------------------------------------------------------- */

static bool has_bad_bytes(const char *s)
{
	return text_control_at(s, strlen(s)) >= 0;
}

struct arg_check {
	const char *allowed;
	char bad[160];
};

/* Every query parameter must be one the route takes, once-sized and clean. */
static enum MHD_Result check_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
	struct arg_check *c = cls;
	size_t klen = strlen(key);
	const char *p = c->allowed;

	(void)kind;
	if (has_bad_bytes(key) || !utf8_valid(key, klen)) {
		snprintf(c->bad, sizeof c->bad, "a query parameter name holds invalid characters");
		return MHD_NO;
	}
	while (*p) {
		size_t n = strcspn(p, " ");
		if (n == klen && strncmp(p, key, n) == 0)
			break;
		p += n;
		p += *p == ' ';
	}
	if (!*p) {
		char k[64];
		str_copy(k, sizeof k, key);
		snprintf(c->bad, sizeof c->bad, "unknown query parameter \"%s\"", k);
		return MHD_NO;
	}
	if (value && (strlen(value) > WEB_PARAM_MAX || has_bad_bytes(value) ||
	              !utf8_valid(value, strlen(value)))) {
		snprintf(c->bad, sizeof c->bad,
		         "query parameter %s must be UTF-8 text of at most %d bytes without"
		         " control characters",
		         key, WEB_PARAM_MAX);
		return MHD_NO;
	}
	return MHD_YES;
}

static const char *allowed_methods(const char *path)
{
	static const char *const names[] = {"GET", "POST", "DELETE"};
	static const char *const allow[] = {
	    "",       "GET",         "POST",         "GET, POST",
	    "DELETE", "GET, DELETE", "POST, DELETE", "GET, POST, DELETE"};
	int mask = 0;

	for (size_t i = 0; i < N_ROUTES; i++)
		if (strcmp(routes[i].path, path) == 0)
			for (int m = 0; m < 3; m++)
				if (strcmp(routes[i].method, names[m]) == 0)
					mask |= 1 << m;
	return allow[mask];
}

/* Decides everything that needs only the headers: route, method, path and
 * parameters, size, authentication. Returns 0 to go on to the body, -1 with
 * an answer set in rs. */
struct header_sizes {
	size_t total, longest;
};

static enum MHD_Result add_size(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
	struct header_sizes *hs = cls;
	size_t n = strlen(key) + (value ? strlen(value) : 0) + 2;

	(void)kind;
	hs->total += n;
	if (n > hs->longest)
		hs->longest = n;
	return MHD_YES;
}

/* The request line and headers within nginx's default bounds (a request line
 * and each header at most 8 KiB, 32 KiB of headers), answered here with the
 * headers of every answer: only requests beyond MHD's buffer
 * (WEB_CONN_MEMORY) get libmicrohttpd's own bare 414 or 431. */
static int check_sizes(struct web_req *rq, struct web_resp *rs)
{
	struct header_sizes args = {strlen(rq->url), 0}, hdrs = {0, 0};

	MHD_get_connection_values(rq->conn, MHD_GET_ARGUMENT_KIND, add_size, &args);
	if (args.total > WEB_URI_MAX) {
		web_error(rs, 414, "the request target is longer than %d bytes", WEB_URI_MAX);
		return -1;
	}
	MHD_get_connection_values(rq->conn, MHD_HEADER_KIND, add_size, &hdrs);
	if (hdrs.longest > WEB_URI_MAX || hdrs.total > WEB_HEADERS_MAX) {
		web_error(rs, 431, "request headers too large (at most %d bytes each, %d in all)",
		          WEB_URI_MAX, WEB_HEADERS_MAX);
		return -1;
	}
	return 0;
}

static int on_headers(struct web_req *rq, struct web_resp *rs, const struct route **out)
{
	const char *cl;
	const struct route *rt = NULL;
	char path[512];

	*out = NULL;
	rq->route = ROUTE_UNKNOWN;
	if (check_sizes(rq, rs) < 0)
		return -1;
	if (has_bad_bytes(rq->url) || strstr(rq->url, "..") || strlen(rq->url) >= sizeof path) {
		web_error(rs, 400, "the path is not valid (no \"..\", control characters or NUL)");
		return -1;
	}
	str_copy(path, sizeof path, rq->url);
	for (size_t i = 0; i < N_ROUTES; i++)
		if (strcmp(routes[i].path, path) == 0) {
			rq->route = routes[i].id;
			if (strcmp(routes[i].method, rq->method) == 0)
				rt = &routes[i];
		}
	if (!rt && rq->route == ROUTE_UNKNOWN && strncmp(path, "/api/", 5) != 0 &&
	    strcmp(path, "/healthz") != 0 && strcmp(path, "/readyz") != 0 &&
	    strcmp(path, "/metrics") != 0) {
		rq->route = ROUTE_STATIC;
		if (strcmp(rq->method, "GET") != 0 && strcmp(rq->method, "HEAD") != 0) {
			rs->allow = "GET, HEAD";
			web_error(rs, 405, "%s is not allowed here: static files answer GET only",
			          rq->method);
			return -1;
		}
		return 0;
	}
	if (!rt && rq->route == ROUTE_UNKNOWN) {
		web_error(rs, 404, "no such endpoint: see docs/api.md for the API");
		return -1;
	}
	if (!rt) {
		rs->allow = allowed_methods(path);
		web_error(rs, 405, "%s is not allowed on %s (allowed: %s)", rq->method, path,
		          rs->allow);
		return -1;
	}
	*out = rt;

	struct arg_check chk = {.allowed = rt->params, .bad = ""};
	MHD_get_connection_values(rq->conn, MHD_GET_ARGUMENT_KIND, check_arg, &chk);
	if (chk.bad[0]) {
		web_error(rs, 400, "%s", chk.bad);
		return -1;
	}
	cl = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl) {
		int64_t n;
		if (parse_i64(cl, &n) < 0 || n < 0) {
			web_error(rs, 400, "Content-Length is not a number");
			return -1;
		}
		if (n > WEB_DRAIN_MAX) {
			web_error(rs, 413, "the request body is larger than 1 MiB");
			return -1;
		}
		if (n > WEB_BODY_MAX) {
			/* Answered once the body is read (and dropped): a client that
			 * writes its whole body before reading (Python's urllib) would
			 * otherwise get a reset instead of the 413. No other work. */
			rq->too_big = true;
			return 0;
		}
	}
	if (rt->need == NEED_NONE)
		return 0;
	if (web_authenticate(rq, rs) < 0)
		return -1;
	if ((rt->need == NEED_STAFF && rq->auth.key.role == ROLE_VIEWER) ||
	    (rt->need == NEED_ADMIN && rq->auth.key.role != ROLE_ADMIN)) {
		web_error(rs, 403, "a %s key may not use %s %s (it needs %s)",
		          api_role_name(rq->auth.key.role), rq->method, path,
		          rt->need == NEED_ADMIN ? "an admin key" : "an admin or finance key");
		return -1;
	}
	return 0;
}

static void serve_static(struct web_req *rq, struct web_resp *rs)
{
	const struct web_asset *a = web_asset_find(rq->url);

	if (!a) {
		web_error(rs, 404,
		          strcmp(rq->url, "/") == 0 ? "the dashboard is not built into this binary"
		                                    : "no such file");
		return;
	}
	rs->status = 200;
	rs->asset = a;
	rs->content_type = a->content_type;
	rs->cache_control = "no-cache";
}

void web_healthz(struct web_req *rq, struct web_resp *rs)
{
	(void)rq;
	rs->status = 200;
	rs->content_type = "text/plain; charset=utf-8";
	sbuf_puts(&rs->body, "ok\n");
}

/* ---- the header deadline ------------------------------------------------------ */

/* libmicrohttpd's timeout counts from the last byte received, so a client
 * sending a header byte every few seconds would keep its connection (and
 * thread) for ever. Like nginx's client_header_timeout, the headers of a
 * request (or the wait for the next one on a kept-alive connection) get
 * WEB_HEADER_TIMEOUT_S in all; past it the watchdog shuts the socket down and
 * libmicrohttpd closes the connection. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
	struct web *w = cls;
	struct web_conn *c = *socket_context;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (!ci || !(c = calloc(1, sizeof *c)))
			return; /* no deadline for it: MHD's inactivity timeout still applies */
		c->fd = ci->connect_fd;
		c->since_us = time_mono_us();
		pthread_mutex_lock(&w->conns_mu);
		c->next = w->conns;
		if (w->conns)
			w->conns->prev = c;
		w->conns = c;
		pthread_mutex_unlock(&w->conns_mu);
		*socket_context = c;
		return;
	}
	if (!c)
		return;
	/* Unlinked before libmicrohttpd closes the socket: the watchdog never
	 * touches a descriptor that may have been reused. */
	pthread_mutex_lock(&w->conns_mu);
	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	pthread_mutex_unlock(&w->conns_mu);
	free(c);
	*socket_context = NULL;
}

/* Marks the connection of rq as in a request (headers in) or waiting for the
 * next one's headers. */
static void conn_phase(struct web *w, struct MHD_Connection *conn, bool in_request)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct web_conn *c = ci ? ci->socket_context : NULL;

	if (!c)
		return;
	pthread_mutex_lock(&w->conns_mu);
	c->in_request = in_request;
	c->since_us = time_mono_us();
	pthread_mutex_unlock(&w->conns_mu);
}

static void *header_watchdog(void *arg)
{
	struct web *w = arg;

	while (!w->stopping) {
		int64_t now = time_mono_us();
		pthread_mutex_lock(&w->conns_mu);
		for (struct web_conn *c = w->conns; c; c = c->next)
			if (!c->in_request && !c->cut &&
			    now - c->since_us > (int64_t)WEB_HEADER_TIMEOUT_S * 1000000) {
				shutdown(c->fd, SHUT_RDWR);
				c->cut = true;
			}
		pthread_mutex_unlock(&w->conns_mu);
		usleep(250000);
	}
	return NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
	struct web *w = cls;
	struct web_req *rq = *con_cls;
	struct web_resp rs;
	const struct route *rt = NULL;
	enum MHD_Result ret;

	(void)version;
	memset(&rs, 0, sizeof rs);
	rs.file = -1;
	sbuf_init(&rs.body);
	if (!rq) {
		if (!(rq = calloc(1, sizeof *rq)))
			return MHD_NO;
		rq->w = w;
		rq->conn = conn;
		rq->method = method;
		rq->url = url;
		sbuf_init(&rq->body);
		*con_cls = rq;
		conn_phase(w, conn, true);
		if (on_headers(rq, &rs, &rt) < 0) {
			/* Answered before the body: MHD then reads no more of it. */
			ret = send_answer(rq, &rs);
			sbuf_cleanup(&rs.body);
			return ret;
		}
		rq->started = true;
		sbuf_cleanup(&rs.body);
		/* The headers are in: the body and the answer get the longer timeout. */
		MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT,
		                          (unsigned)WEB_TIMEOUT_S);
		return MHD_YES;
	}
	if (*upload_size > 0) {
		/* Bounded while receiving: past 1 MiB nothing more is kept. */
		rq->received += *upload_size;
		if (!rq->too_big && rq->body.len + *upload_size <= WEB_BODY_MAX)
			sbuf_append(&rq->body, upload, *upload_size);
		else
			rq->too_big = true;
		*upload_size = 0;
		/* Past the bounded tail (a chunked body has no length to refuse
		 * early): stop reading and close the connection. */
		return rq->received > WEB_DRAIN_MAX ? MHD_NO : MHD_YES;
	}

	/* The whole request is here. */
	for (size_t i = 0; i < N_ROUTES; i++)
		if (strcmp(routes[i].path, url) == 0 && strcmp(routes[i].method, method) == 0)
			rt = &routes[i];
	if (rq->too_big)
		web_error(&rs, 413, "the request body is larger than 1 MiB");
	else if (rq->body.oom)
		web_error(&rs, 500, "out of memory");
	else if (rq->route == ROUTE_STATIC)
		serve_static(rq, &rs);
	else if (rt && rt->fn)
		rt->fn(rq, &rs);
	else
		web_error(&rs, 404, "no such endpoint: see docs/api.md for the API");
	if (rs.status == 0)
		web_error(&rs, 500, "no answer");
	ret = send_answer(rq, &rs);
	sbuf_cleanup(&rs.body);
	/* The connection goes back to the pool as soon as the answer is queued. */
	pool_put(w, rq->lg);
	rq->lg = NULL;
	return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct web *w = cls;
	struct web_req *rq = *con_cls;

	(void)toe;
	if (!rq)
		return;
	/* Back to waiting for the next request's headers (keep-alive). */
	MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT,
	                          (unsigned)WEB_HEADER_TIMEOUT_S);
	conn_phase(w, conn, false);
	pool_put(w, rq->lg);
	sbuf_cleanup(&rq->body);
	free(rq);
	*con_cls = NULL;
}

/* Percent-decoding of paths and query values; a decoded NUL becomes 0x01 so
 * that the request is refused (400) instead of silently cut short. */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
	char *r = s, *wp = s;

	(void)cls;
	(void)c;
	while (*r) {
		if (r[0] == '%' && r[1] && r[2] && strchr("0123456789abcdefABCDEF", r[1]) &&
		    strchr("0123456789abcdefABCDEF", r[2])) {
			char hex[3] = {r[1], r[2], 0};
			unsigned v = (unsigned)strtoul(hex, NULL, 16);
			*wp++ = v ? (char)v : '\x01';
			r += 3;
		} else {
			*wp++ = *r++;
		}
	}
	*wp = '\0';
	return (size_t)(wp - s);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	(void)cls;
	vsnprintf(msg, sizeof msg, fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_warn("web: %s", msg);
}

/* Parses "host:port" / "[v6]:port" into *ss. */
static int parse_addr(const char *addr, struct sockaddr_storage *ss, bool *v6,
                      struct tally_err *err)
{
	char host[256];
	const char *colon = strrchr(addr, ':');
	struct addrinfo hints, *ai = NULL;
	int64_t port;

	if (!colon || parse_i64(colon + 1, &port) < 0 || port < 0 || port > 65535 ||
	    (size_t)(colon - addr) >= sizeof host)
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "TALLY_HTTP_ADDR=%s: use host:port, e.g. 127.0.0.1:8080",
		                     addr);
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if (getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &ai) != 0 || !ai)
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "TALLY_HTTP_ADDR=%s: cannot resolve host \"%s\"", addr, host);
	memset(ss, 0, sizeof *ss);
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*v6 = ai->ai_family == AF_INET6;
	freeaddrinfo(ai);
	return 0;
}

int web_addr_free(const char *addr, struct tally_err *err)
{
	struct sockaddr_storage ss;
	bool v6 = false;
	int fd, one = 1, rc, e;

	if (parse_addr(addr, &ss, &v6, err) < 0)
		return -1;
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return 0; /* cannot tell: web_start will */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	rc = bind(fd, (const struct sockaddr *)&ss,
	          v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in));
	e = errno;
	close(fd);
	if (rc < 0)
		return tally_err_set(err, TALLY_EIO, false,
		                     "cannot listen on %s: %s; set TALLY_HTTP_ADDR to a free"
		                     " address, e.g. 127.0.0.1:8081",
		                     addr, strerror(e));
	return 0;
}

struct web *web_start(const struct tally_config *cfg, const struct collector_stats *stats,
                      struct tally_err *err)
{
	struct sockaddr_storage ss;
	bool v6 = false;
	struct web *w;
	const char *secure = getenv("TALLY_COOKIE_SECURE");

	if (parse_addr(cfg->http_addr, &ss, &v6, err) < 0)
		return NULL;
	if (!(w = calloc(1, sizeof *w))) {
		tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
		return NULL;
	}
	w->cfg = cfg;
	w->stats = stats;
	w->cookie_secure = secure && strcmp(secure, "1") == 0;
	pthread_mutex_init(&w->pool_mu, NULL);
	pthread_mutex_init(&w->conns_mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->pool_cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&w->prod_mu, NULL);
	pthread_mutex_init(&w->cache_mu, NULL);
	int64_t ttl_ms = WEB_ANSWER_TTL_MS;
	const char *ttl = getenv("TALLY_WEB_CACHE_MS");
	if (ttl && (parse_i64(ttl, &ttl_ms) < 0 || ttl_ms < 0 || ttl_ms > 3600000)) {
		tally_err_set(err, TALLY_EINVAL, false,
		              "TALLY_WEB_CACHE_MS=%s: use milliseconds from 0 (off) to 3600000",
		              ttl);
		web_stop(w);
		return NULL;
	}
	int64_t per_ip = WEB_CONN_PER_IP;
	const char *pip = getenv("TALLY_HTTP_CONN_PER_IP");
	if (pip && (parse_i64(pip, &per_ip) < 0 || per_ip < 0 || per_ip > WEB_CONN_MAX)) {
		tally_err_set(err, TALLY_EINVAL, false,
		              "TALLY_HTTP_CONN_PER_IP=%s: use connections per client address from 0"
		              " (no limit) to %u",
		              pip, WEB_CONN_MAX);
		web_stop(w);
		return NULL;
	}
	w->answers = web_cache_new(ttl_ms * 1000);
	web_keys_watch_start(cfg->database_url);
	/* A thread per connection: handlers block on the ledger, and a slow query
	 * must hold up its own client only, not every connection of a pool thread. */
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
	                 MHD_USE_POLL | MHD_USE_ERROR_LOG;
	if (v6)
		flags |= MHD_USE_IPv6;
	w->daemon = MHD_start_daemon(
	    flags, 0, NULL, NULL, on_request, w, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, w,
	    MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_THREAD_STACK_SIZE,
	    WEB_STACK_BYTES, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)WEB_HEADER_TIMEOUT_S,
	    MHD_OPTION_CONNECTION_LIMIT, WEB_CONN_MAX, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    (unsigned)per_ip, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)WEB_CONN_MEMORY,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, w, MHD_OPTION_NOTIFY_CONNECTION,
	    on_connection, w, MHD_OPTION_UNESCAPE_CALLBACK, unescape, w, MHD_OPTION_END);
	if (!w->daemon) {
		tally_err_set(err, TALLY_EIO, false,
		              "cannot listen on %s (is the port taken? set TALLY_HTTP_ADDR)",
		              cfg->http_addr);
		web_stop(w);
		return NULL;
	}
	w->dog_running = pthread_create(&w->dog, NULL, header_watchdog, w) == 0;
	if (!w->dog_running)
		log_warn("web: cannot start the header watchdog; only the inactivity timeout"
		         " bounds slow request headers");
	return w;
}

void web_stop(struct web *w)
{
	if (!w)
		return;
	if (w->daemon)
		MHD_stop_daemon(w->daemon); /* waits for the requests in flight */
	w->stopping = true;
	if (w->dog_running)
		pthread_join(w->dog, NULL);
	web_keys_watch_stop();
	for (size_t i = 0; i < w->n_idle; i++)
		ledger_close(w->idle[i]);
	producer_close(w->prod);
	tally_status_cleanup(&w->cache);
	web_cache_free(w->answers);
	pthread_mutex_destroy(&w->pool_mu);
	pthread_mutex_destroy(&w->conns_mu);
	pthread_cond_destroy(&w->pool_cv);
	pthread_mutex_destroy(&w->prod_mu);
	pthread_mutex_destroy(&w->cache_mu);
	free(w);
}
