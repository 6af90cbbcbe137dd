/* web_auth.c - who is asking: Bearer tokens, session cookies, CSRF, roles;
 * and the session endpoints of the dashboard's sign-in. */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "web_int.h"

static bool is_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!strchr("0123456789abcdef", s[i]) || !s[i])
			return false;
	return s[n] == '\0';
}

/* A well-formed token: "tly_" and 64 lowercase hex digits. */
static bool token_shape(const char *t)
{
	return strncmp(t, WEB_TOKEN_PREFIX, 4) == 0 && is_hex(t + 4, 64);
}

/* ---- checked keys, remembered ---------------------------------------------------- *
 * A Bearer request would otherwise cost a ledger round trip before any work:
 * the keys checked recently are remembered (by the SHA-256 of the token) for
 * KEY_TTL_US, but only while a listener connection hears the ledger's key
 * notifications: `tally keys revoke` notifies, every remembered key is
 * forgotten within moments, and the next request asks the ledger again.
 * Without the listener (ledger down, not started) nothing is remembered. */
#define KEY_SLOTS  256
#define KEY_TTL_US INT64_C(60000000)

static struct {
	/* Lookups take it shared, so that requests never wait for each other
	 * (a thread preempted in a lookup holds up no other lookup); only
	 * remembering and forgetting take it exclusively. */
	pthread_rwlock_t mu;
	uint64_t gen;  /* bumped on each notification: older entries are void */
	bool watching; /* the listener is connected */
	struct {
		char sha256[65];
		struct api_key key;
		uint64_t gen;
		int64_t at_us;
	} slot[KEY_SLOTS];
	pthread_t thread;
	bool running;
	atomic_bool stop;
	const char *conninfo;
} keys = {.mu = PTHREAD_RWLOCK_INITIALIZER};

static unsigned key_slot(const char *sha)
{
	unsigned v = 0;
	for (int i = 0; i < 8; i++)
		v = v * 16 + (unsigned)(sha[i] <= '9' ? sha[i] - '0' : sha[i] - 'a' + 10);
	return v % KEY_SLOTS;
}

/* 1 with *key filled when sha was checked recently; else 0 and *gen the
 * generation to remember a fresh answer under. */
static int key_remembered(const char *sha, struct api_key *key, uint64_t *gen)
{
	unsigned k = key_slot(sha);
	int64_t now = time_mono_us();
	int hit = 0;

	pthread_rwlock_rdlock(&keys.mu);
	*gen = keys.gen;
	if (keys.watching && keys.slot[k].gen == keys.gen &&
	    now - keys.slot[k].at_us < KEY_TTL_US &&
	    CRYPTO_memcmp(keys.slot[k].sha256, sha, 64) == 0) {
		*key = keys.slot[k].key;
		hit = 1;
	}
	pthread_rwlock_unlock(&keys.mu);
	return hit;
}

/* Remembers a key checked under generation gen, unless keys changed since. */
static void key_remember(const char *sha, const struct api_key *key, uint64_t gen)
{
	unsigned k = key_slot(sha);

	pthread_rwlock_wrlock(&keys.mu);
	if (keys.watching && gen == keys.gen) {
		memcpy(keys.slot[k].sha256, sha, 65);
		keys.slot[k].key = *key;
		keys.slot[k].gen = gen;
		keys.slot[k].at_us = time_mono_us();
	}
	pthread_rwlock_unlock(&keys.mu);
}

static void keys_forget(bool watching)
{
	pthread_rwlock_wrlock(&keys.mu);
	keys.gen++;
	keys.watching = watching;
	pthread_rwlock_unlock(&keys.mu);
}

static void *keys_watch(void *arg)
{
	(void)arg;
	while (!keys.stop) {
		struct tally_err err = {0};
		struct ledger_listener *l = ledger_keys_listen(keys.conninfo, &err);
		if (!l) {
			for (int i = 0; i < 10 && !keys.stop; i++)
				usleep(100000);
			continue;
		}
		keys_forget(true);
		int n;
		while (!keys.stop && (n = ledger_listener_wait(l, 200)) >= 0)
			if (n > 0)
				keys_forget(true);
		keys_forget(false);
		ledger_listener_close(l);
	}
	return NULL;
}

void web_keys_watch_start(const char *conninfo)
{
	keys.conninfo = conninfo;
	keys.stop = false;
	keys.running = pthread_create(&keys.thread, NULL, keys_watch, NULL) == 0;
	if (!keys.running)
		log_warn("web: cannot start the key listener; every request asks the ledger");
}

void web_keys_watch_stop(void)
{
	if (!keys.running)
		return;
	keys.stop = true;
	pthread_join(keys.thread, NULL);
	keys.running = false;
	keys_forget(false);
}

/* ---- failed authentication: logged, and throttled per client address ---------- */

#define FAIL_SLOTS     256
#define FAIL_WINDOW_US INT64_C(60000000)
#define FAIL_MAX       10 /* failures per address and minute; then 429 until it ends */

static struct {
	pthread_mutex_t mu;
	struct {
		char addr[48];
		int64_t since_us;
		int n;
	} slot[FAIL_SLOTS];
} fails = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void client_addr(struct web_req *rq, char *out, size_t n)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(rq->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	str_copy(out, n, "?");
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
		          (socklen_t)n);
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
		          out, (socklen_t)n);
}

static unsigned fail_slot(const char *addr)
{
	unsigned h = 2166136261u;
	for (const unsigned char *p = (const unsigned char *)addr; *p; p++)
		h = (h ^ *p) * 16777619u;
	return h % FAIL_SLOTS;
}

/* 0, or -1 with a 429 set when the client's address failed too often in the
 * last minute: checked before the ledger is asked, so guessing costs nothing. */
static int auth_throttle(struct web_req *rq, struct web_resp *rs)
{
	char addr[48];
	int64_t now = time_mono_us(), left = 0;

	client_addr(rq, addr, sizeof addr);
	pthread_mutex_lock(&fails.mu);
	unsigned i = fail_slot(addr);
	if (strcmp(fails.slot[i].addr, addr) == 0 &&
	    now - fails.slot[i].since_us < FAIL_WINDOW_US && fails.slot[i].n >= FAIL_MAX)
		left = (FAIL_WINDOW_US - (now - fails.slot[i].since_us)) / 1000000 + 1;
	pthread_mutex_unlock(&fails.mu);
	if (!left)
		return 0;
	snprintf(rs->retry_after, sizeof rs->retry_after, "%lld", (long long)left);
	web_error(rs, 429, "too many failed sign-ins from this address; try again in %lld s",
	          (long long)left);
	return -1;
}

/* Counts and logs (info) one failed authentication of the client. */
static void auth_failed(struct web_req *rq, const char *why)
{
	char addr[48];
	int64_t now = time_mono_us();
	int n;

	client_addr(rq, addr, sizeof addr);
	pthread_mutex_lock(&fails.mu);
	unsigned i = fail_slot(addr);
	if (strcmp(fails.slot[i].addr, addr) != 0 ||
	    now - fails.slot[i].since_us >= FAIL_WINDOW_US) {
		str_copy(fails.slot[i].addr, sizeof fails.slot[i].addr, addr);
		fails.slot[i].since_us = now;
		fails.slot[i].n = 0;
	}
	n = ++fails.slot[i].n;
	pthread_mutex_unlock(&fails.mu);
	log_info("web: failed authentication from %s (%s %s, %d in the last minute): %s", addr,
	         rq->method, rq->url, n, why);
}

/* Looks a token up; 1 found, 0 not, -1 ledger failure (answer set). */
static int token_check(struct web_req *rq, struct web_resp *rs, const char *token,
                       struct api_key *key)
{
	struct tally_err err = {0};
	char hash[65];
	bool found = false;
	struct ledger *lg;
	uint64_t gen;

	if (!token_shape(token)) {
		auth_failed(rq, "not a tally token");
		return 0;
	}
	web_sha256_hex(token, strlen(token), hash);
	if (key_remembered(hash, key, &gen))
		return 1;
	if (auth_throttle(rq, rs) < 0)
		return -1;
	if (!(lg = web_ledger(rq, rs)))
		return -1;
	if (ledger_key_lookup(lg, hash, key, &found, &err) < 0) {
		web_db_error(rq, rs, &err);
		return -1;
	}
	/* The index found it by hash; compare again in constant time. */
	if (!found || CRYPTO_memcmp(key->token_sha256, hash, 64) != 0) {
		auth_failed(rq, "unknown or revoked key");
		return 0;
	}
	key_remember(hash, key, gen);
	return 1;
}

static bool changes_state(const char *method)
{
	return strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0 &&
	       strcmp(method, "OPTIONS") != 0;
}

int web_authenticate(struct web_req *rq, struct web_resp *rs)
{
	const char *authz =
	    MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	const char *cookie = MHD_lookup_connection_value(rq->conn, MHD_COOKIE_KIND, WEB_COOKIE);
	struct web_auth *a = &rq->auth;
	struct tally_err err = {0};

	memset(a, 0, sizeof *a);
	if (authz) {
		if (strncasecmp(authz, "Bearer ", 7) != 0) {
			web_error(rs, 401, "use Authorization: Bearer <token>");
			return -1;
		}
		const char *token = authz + 7;
		while (*token == ' ')
			token++;
		int found = token_check(rq, rs, token, &a->key);
		if (found < 0)
			return -1;
		if (!found) {
			web_error(rs, 401, "the token is not valid (unknown or revoked key)");
			return -1;
		}
		a->ok = true;
		return 0;
	}
	if (cookie) {
		bool found = false;
		struct ledger *lg;
		if (!is_hex(cookie, 64)) {
			auth_failed(rq, "not a session cookie");
			web_error(rs, 401, "the session is not valid; sign in again");
			return -1;
		}
		if (auth_throttle(rq, rs) < 0 || !(lg = web_ledger(rq, rs)))
			return -1;
		web_sha256_hex(cookie, 64, a->session_sha256);
		if (ledger_session_lookup(lg, a->session_sha256, &a->key, a->csrf, &found, &err) <
		    0) {
			web_db_error(rq, rs, &err);
			return -1;
		}
		if (!found) {
			auth_failed(rq, "unknown or expired session");
			web_error(rs, 401, "the session has ended or expired; sign in again");
			return -1;
		}
		a->by_cookie = true;
		/* A browser's cookie rides along on any request: state changes
		 * must also prove they come from the dashboard. */
		if (changes_state(rq->method)) {
			const char *t =
			    MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "X-CSRF-Token");
			if (!t || strlen(t) != strlen(a->csrf) ||
			    CRYPTO_memcmp(t, a->csrf, strlen(a->csrf)) != 0) {
				web_error(rs, 403,
				          "missing or wrong X-CSRF-Token header for a"
				          " cookie-authenticated request");
				return -1;
			}
		}
		a->ok = true;
		return 0;
	}
	web_error(rs, 401, "this endpoint needs Authorization: Bearer <token> or a session cookie");
	return -1;
}

int web_team_allowed(struct web_req *rq, struct web_resp *rs, const char *team)
{
	if (rq->auth.key.role != ROLE_VIEWER || !team || strcmp(team, rq->auth.key.team) == 0)
		return 0;
	web_error(rs, 403, "this key sees only team %s", rq->auth.key.team);
	return -1;
}

static void identity_json(struct sbuf *b, const struct api_key *k)
{
	sbuf_puts(b, "\"role\":");
	sbuf_json_str(b, api_role_name(k->role));
	sbuf_puts(b, ",\"team\":");
	if (k->team[0])
		sbuf_json_str(b, k->team);
	else
		sbuf_puts(b, "null");
}

/* Sign-in must come from this server's own page or a non-browser client: a
 * page of another site must not sign a victim's browser into the attacker's
 * key (login CSRF). Browsers send Sec-Fetch-Site and Origin on such a POST;
 * scripts send neither. Returns 0, or -1 with a 403 set. */
static int same_origin(struct web_req *rq, struct web_resp *rs)
{
	const char *site = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Sec-Fetch-Site");
	const char *origin = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Origin");
	const char *host = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Host");

	if (site && strcmp(site, "same-origin") != 0 && strcmp(site, "none") != 0) {
		web_error(rs, 403,
		          "sign-in is accepted from this server's own page only"
		          " (Sec-Fetch-Site: %s)",
		          site);
		return -1;
	}
	if (origin) {
		const char *h = strncmp(origin, "https://", 8) == 0  ? origin + 8
		                : strncmp(origin, "http://", 7) == 0 ? origin + 7
		                                                     : NULL;
		if (!h || !host || strcmp(h, host) != 0) {
			web_error(rs, 403,
			          "sign-in is accepted from this server's own page only"
			          " (the Origin is another site)");
			return -1;
		}
	}
	return 0;
}

/* Whether the request's Content-Type is application/json (parameters aside). */
static bool is_json(struct web_req *rq)
{
	const char *ct =
	    MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	size_t n = strlen("application/json");

	return ct && strncasecmp(ct, "application/json", n) == 0 &&
	       (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

void web_session_post(struct web_req *rq, struct web_resp *rs)
{
	struct tally_err err = {0};
	struct api_key key;
	char sid[65], sid_hash[65], csrf[65];
	cJSON *root;
	const cJSON *tok;
	int found;

	if (same_origin(rq, rs) < 0)
		return;
	if (!is_json(rq)) {
		web_error(rs, 415,
		          "send JSON {\"token\":\"tly_...\"} with Content-Type:"
		          " application/json");
		return;
	}
	root = cJSON_ParseWithLength(rq->body.p ? rq->body.p : "", rq->body.len);
	tok = cJSON_GetObjectItemCaseSensitive(root, "token");
	if (!cJSON_IsString(tok)) {
		cJSON_Delete(root);
		web_error(rs, 400, "send JSON {\"token\":\"tly_...\"}");
		return;
	}
	found = token_check(rq, rs, tok->valuestring, &key);
	cJSON_Delete(root);
	if (found < 0)
		return;
	if (!found) {
		web_error(rs, 401, "the token is not valid (unknown or revoked key)");
		return;
	}
	if (web_random_hex(sid, 32, &err) < 0 || web_random_hex(csrf, 32, &err) < 0) {
		web_error(rs, 500, "%s", err.msg);
		return;
	}
	web_sha256_hex(sid, 64, sid_hash);
	struct ledger *lg = web_ledger(rq, rs); /* not asked yet when the key was remembered */
	if (!lg)
		return;
	if (ledger_session_create(lg, sid_hash, key.id, csrf, WEB_SESSION_TTL_S, &err) < 0) {
		web_db_error(rq, rs, &err);
		return;
	}
	snprintf(rs->set_cookie, sizeof rs->set_cookie,
	         WEB_COOKIE "=%s; HttpOnly; SameSite=Strict; Path=/; Max-Age=%d%s", sid,
	         WEB_SESSION_TTL_S, rq->w->cookie_secure ? "; Secure" : "");
	rs->status = 200;
	sbuf_putc(&rs->body, '{');
	identity_json(&rs->body, &key);
	sbuf_printf(&rs->body, ",\"csrf_token\":\"%s\",\"expires_in\":%d}\n", csrf,
	            WEB_SESSION_TTL_S);
}

void web_session_delete(struct web_req *rq, struct web_resp *rs)
{
	struct tally_err err = {0};

	if (rq->auth.by_cookie &&
	    ledger_session_delete(rq->lg, rq->auth.session_sha256, &err) < 0) {
		web_db_error(rq, rs, &err);
		return;
	}
	snprintf(rs->set_cookie, sizeof rs->set_cookie,
	         WEB_COOKIE "=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0%s",
	         rq->w->cookie_secure ? "; Secure" : "");
	rs->status = 200;
	sbuf_printf(&rs->body, "{\"signed_out\":%s}\n", rq->auth.by_cookie ? "true" : "false");
}

void web_me(struct web_req *rq, struct web_resp *rs)
{
	rs->status = 200;
	sbuf_putc(&rs->body, '{');
	identity_json(&rs->body, &rq->auth.key);
	/* A reloaded dashboard gets its CSRF token back from here. */
	if (rq->auth.by_cookie)
		sbuf_printf(&rs->body, ",\"csrf_token\":\"%s\"", rq->auth.csrf);
	sbuf_puts(&rs->body, "}\n");
}
