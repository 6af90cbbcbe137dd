/* web_sql.c - the ledger statements of the web API and `tally keys`: API
 * keys, sessions, the quarantine list, the price list, spend series. Every
 * value from a request travels as a parameter ($n), never inside SQL text. */
#include "ledger_int.h"

#include <errno.h>
#include <poll.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TS_TEXT(col) "coalesce(to_char(" col ", 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '')"

static const char *const role_names[] = {"admin", "finance", "viewer"};

int api_role_parse(const char *s)
{
	for (int i = 0; i < 3; i++)
		if (s && strcmp(s, role_names[i]) == 0)
			return i;
	return -1;
}

const char *api_role_name(int role)
{
	return role >= 0 && role < 3 ? role_names[role] : "?";
}

static int64_t cell_i64(PGresult *res, int r, int c)
{
	return PQgetisnull(res, r, c) ? 0 : strtoll(PQgetvalue(res, r, c), NULL, 10);
}

/* ---- keys ----------------------------------------------------------------- */

#define KEY_COLS                                                                                   \
	"k.id, k.role, coalesce(k.team, ''), k.name, k.token_sha256, " TS_TEXT(                    \
	    "k.created_at") ", " TS_TEXT("k.last_used_at") ", " TS_TEXT("k.revoked_at")

static void key_from_row(PGresult *res, int r, int c, struct api_key *k)
{
	memset(k, 0, sizeof *k);
	k->id = cell_i64(res, r, c);
	k->role = api_role_parse(PQgetvalue(res, r, c + 1));
	str_copy(k->team, sizeof k->team, PQgetvalue(res, r, c + 2));
	str_copy(k->name, sizeof k->name, PQgetvalue(res, r, c + 3));
	str_copy(k->token_sha256, sizeof k->token_sha256, PQgetvalue(res, r, c + 4));
	str_copy(k->created_at, sizeof k->created_at, PQgetvalue(res, r, c + 5));
	str_copy(k->last_used_at, sizeof k->last_used_at, PQgetvalue(res, r, c + 6));
	str_copy(k->revoked_at, sizeof k->revoked_at, PQgetvalue(res, r, c + 7));
}

int ledger_key_create(struct ledger *lg, const char *token_sha256, int role, const char *team,
                      const char *name, const char *actor, int64_t *id, struct tally_err *err)
{
	const char *params[5] = {token_sha256, api_role_name(role), team, name ? name : "",
	                         actor ? actor : "tally"};
	PGresult *res;

	if (role < 0 || role > ROLE_VIEWER)
		return tally_err_set(err, TALLY_EINVAL, false, "unknown role");
	if (role == ROLE_VIEWER && (!team || !*team))
		return tally_err_set(err, TALLY_EINVAL, false, "a viewer key needs a team");
	/* The key and its audit record commit together. */
	res = PQexecParams(lg->conn,
	                   "WITH k AS (INSERT INTO api_keys (token_sha256, role, team, name)"
	                   " VALUES ($1, $2, nullif($3, ''), $4) RETURNING id, role, team, name),"
	                   " a AS (INSERT INTO audit_log (actor, action, details)"
	                   " SELECT $5, 'keys.create', jsonb_build_object('id', id, 'role', role,"
	                   " 'team', team, 'name', name) FROM k)"
	                   " SELECT id FROM k",
	                   5, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		return ledger_fail(lg, res, "storing the API key", err);
	*id = cell_i64(res, 0, 0);
	PQclear(res);
	return 0;
}

int ledger_key_list(struct ledger *lg, struct api_key **keys, size_t *n, struct tally_err *err)
{
	PGresult *res = PQexec(lg->conn, "SELECT " KEY_COLS " FROM api_keys k ORDER BY k.id");
	int rows;

	*keys = NULL;
	*n = 0;
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return ledger_fail(lg, res, "listing API keys", err);
	rows = PQntuples(res);
	if (rows > 0 && !(*keys = calloc((size_t)rows, sizeof **keys))) {
		PQclear(res);
		return tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
	}
	for (int r = 0; r < rows; r++)
		key_from_row(res, r, 0, &(*keys)[r]);
	*n = (size_t)rows;
	PQclear(res);
	return 0;
}

int ledger_key_revoke(struct ledger *lg, int64_t id, const char *actor, bool *found,
                      struct tally_err *err)
{
	char idbuf[24];
	const char *params[2] = {idbuf, actor ? actor : "tally"};
	PGresult *res;

	snprintf(idbuf, sizeof idbuf, "%lld", (long long)id);
	res = PQexecParams(lg->conn,
	                   "WITH k AS (UPDATE api_keys SET revoked_at = now()"
	                   " WHERE id = $1 AND revoked_at IS NULL RETURNING id),"
	                   " s AS (DELETE FROM sessions WHERE key_id IN (SELECT id FROM k)),"
	                   " a AS (INSERT INTO audit_log (actor, action, details)"
	                   " SELECT $2, 'keys.revoke', jsonb_build_object('id', id) FROM k)"
	                   " SELECT count(*) FROM k",
	                   2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return ledger_fail(lg, res, "revoking the API key", err);
	*found = cell_i64(res, 0, 0) > 0;
	PQclear(res);
	/* Servers that remember checked keys forget them now (web_auth.c). */
	return *found ? ledger_exec(lg, "NOTIFY " LEDGER_KEYS_CHANNEL, err) : 0;
}

/* ---- key changes, as PostgreSQL notifications ---------------------------------- */

struct ledger_listener {
	PGconn *conn;
};

struct ledger_listener *ledger_keys_listen(const char *conninfo, struct tally_err *err)
{
	struct ledger_listener *l = calloc(1, sizeof *l);
	PGresult *res;

	if (!l) {
		tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
		return NULL;
	}
	l->conn = PQconnectdb(conninfo);
	if (PQstatus(l->conn) != CONNECTION_OK) {
		tally_err_set(err, TALLY_EDB, true, "cannot connect to PostgreSQL to listen: %s",
		              PQerrorMessage(l->conn));
		ledger_listener_close(l);
		return NULL;
	}
	res = PQexec(l->conn, "LISTEN " LEDGER_KEYS_CHANNEL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		tally_err_set(err, TALLY_EDB, true, "LISTEN failed: %s", PQerrorMessage(l->conn));
		PQclear(res);
		ledger_listener_close(l);
		return NULL;
	}
	PQclear(res);
	return l;
}

int ledger_listener_wait(struct ledger_listener *l, int timeout_ms)
{
	struct pollfd pfd = {.fd = PQsocket(l->conn), .events = POLLIN};
	PGnotify *n;
	int got = 0;

	if (pfd.fd < 0)
		return -1;
	if (poll(&pfd, 1, timeout_ms) < 0)
		return errno == EINTR ? 0 : -1;
	if (PQconsumeInput(l->conn) != 1 || PQstatus(l->conn) != CONNECTION_OK)
		return -1;
	while ((n = PQnotifies(l->conn))) {
		got++;
		PQfreemem(n);
	}
	return got;
}

void ledger_listener_close(struct ledger_listener *l)
{
	if (!l)
		return;
	PQfinish(l->conn);
	free(l);
}

int ledger_key_lookup(struct ledger *lg, const char *token_sha256, struct api_key *key, bool *found,
                      struct tally_err *err)
{
	const char *params[1] = {token_sha256};
	PGresult *res;
	bool stale;

	*found = false;
	/* A plain read: requests with the same key must not queue on its row.
	 * last_used_at is written at most once a minute per key. */
	res = PQexecParams(lg->conn,
	                   "SELECT " KEY_COLS ", k.last_used_at IS NULL"
	                   " OR k.last_used_at < now() - interval '1 minute'"
	                   " FROM api_keys k WHERE k.token_sha256 = $1 AND k.revoked_at IS NULL",
	                   1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return ledger_fail(lg, res, "looking up the API key", err);
	if (PQntuples(res) != 1) {
		PQclear(res);
		return 0;
	}
	key_from_row(res, 0, 0, key);
	*found = key->role >= 0;
	stale = PQgetvalue(res, 0, 8)[0] == 't';
	PQclear(res);
	if (!*found || !stale)
		return 0;
	res = PQexecParams(
	    lg->conn,
	    "UPDATE api_keys SET last_used_at = now() WHERE token_sha256 = $1"
	    " AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
	    1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		return ledger_fail(lg, res, "recording the API key's use", err);
	PQclear(res);
	return 0;
}

/* ---- sessions -------------------------------------------------------------- */

int ledger_session_create(struct ledger *lg, const char *id_sha256, int64_t key_id,
                          const char *csrf_token, int64_t ttl_s, struct tally_err *err)
{
	char idbuf[24], ttl[24];
	const char *params[4] = {id_sha256, idbuf, csrf_token, ttl};
	PGresult *res;

	snprintf(idbuf, sizeof idbuf, "%lld", (long long)key_id);
	snprintf(ttl, sizeof ttl, "%lld", (long long)ttl_s);
	res = PQexec(lg->conn, "DELETE FROM sessions WHERE expires_at < now()");
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		return ledger_fail(lg, res, "expiring sessions", err);
	PQclear(res);
	res = PQexecParams(lg->conn,
	                   "INSERT INTO sessions (id_sha256, key_id, csrf_token, expires_at)"
	                   " VALUES ($1, $2, $3, now() + make_interval(secs => $4::bigint))",
	                   4, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		return ledger_fail(lg, res, "storing the session", err);
	PQclear(res);
	return 0;
}

int ledger_session_lookup(struct ledger *lg, const char *id_sha256, struct api_key *key, char *csrf,
                          bool *found, struct tally_err *err)
{
	const char *params[1] = {id_sha256};
	PGresult *res;

	*found = false;
	res = PQexecParams(
	    lg->conn,
	    "SELECT " KEY_COLS ", s.csrf_token FROM sessions s"
	    " JOIN api_keys k ON k.id = s.key_id"
	    " WHERE s.id_sha256 = $1 AND s.expires_at > now() AND k.revoked_at IS NULL",
	    1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return ledger_fail(lg, res, "looking up the session", err);
	if (PQntuples(res) == 1) {
		key_from_row(res, 0, 0, key);
		str_copy(csrf, 65, PQgetvalue(res, 0, 8));
		*found = key->role >= 0;
	}
	PQclear(res);
	return 0;
}

int ledger_session_delete(struct ledger *lg, const char *id_sha256, struct tally_err *err)
{
	const char *params[1] = {id_sha256};
	PGresult *res = PQexecParams(lg->conn, "DELETE FROM sessions WHERE id_sha256 = $1", 1, NULL,
	                             params, NULL, NULL, 0);

	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		return ledger_fail(lg, res, "ending the session", err);
	PQclear(res);
	return 0;
}

/* ---- quarantine ----------------------------------------------------------- */

int ledger_quarantine_list(struct ledger *lg, int64_t limit, int64_t offset, size_t max_raw,
                           struct quarantine_page *out, struct tally_err *err)
{
	char lim[24], off[24], maxr[24];
	const char *params[3] = {lim, off, maxr};
	PGresult *res;
	int n;

	memset(out, 0, sizeof *out);
	snprintf(lim, sizeof lim, "%lld", (long long)limit);
	snprintf(off, sizeof off, "%lld", (long long)offset);
	snprintf(maxr, sizeof maxr, "%zu", max_raw);
	res = PQexec(lg->conn, "SELECT count(*) FROM quarantine");
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return ledger_fail(lg, res, "counting the quarantine", err);
	out->total = cell_i64(res, 0, 0);
	PQclear(res);
	res = PQexecParams(
	    lg->conn,
	    "SELECT id, " TS_TEXT(
	        "received_at") ", topic, kafka_partition,"
	                       " coalesce(kafka_offset, -1), reason, substring(raw FROM 1 FOR "
	                       "$3::int),"
	                       " octet_length(raw) FROM quarantine"
	                       " ORDER BY received_at DESC, id DESC LIMIT $1 OFFSET $2",
	    3, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return ledger_fail(lg, res, "reading the quarantine", err);
	n = PQntuples(res);
	if (n > 0 && !(out->items = calloc((size_t)n, sizeof *out->items))) {
		PQclear(res);
		return tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
	}
	for (int r = 0; r < n; r++) {
		struct quarantine_item *q = &out->items[out->n++];
		size_t len = 0;
		q->id = cell_i64(res, r, 0);
		str_copy(q->received_at, sizeof q->received_at, PQgetvalue(res, r, 1));
		str_copy(q->topic, sizeof q->topic, PQgetvalue(res, r, 2));
		q->partition = (int32_t)cell_i64(res, r, 3);
		q->offset = cell_i64(res, r, 4);
		str_copy(q->reason, sizeof q->reason, PQgetvalue(res, r, 5));
		q->raw_total = cell_i64(res, r, 7);
		q->raw = PQunescapeBytea((const unsigned char *)PQgetvalue(res, r, 6), &len);
		if (!q->raw) {
			PQclear(res);
			quarantine_page_cleanup(out);
			return tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
		}
		q->raw_len = len;
	}
	PQclear(res);
	return 0;
}

void quarantine_page_cleanup(struct quarantine_page *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		PQfreemem(p->items[i].raw);
	free(p->items);
	p->items = NULL;
	p->n = 0;
}

/* ---- prices ------------------------------------------------------------- */

int ledger_price_list(struct ledger *lg, const char *provider, const char *model, int64_t limit,
                      int64_t offset, struct price_page *out, struct tally_err *err)
{
	char lim[24], off[24];
	const char *params[4] = {provider, model, lim, off};
	PGresult *res;
	int n;

	memset(out, 0, sizeof *out);
	snprintf(lim, sizeof lim, "%lld", (long long)limit);
	snprintf(off, sizeof off, "%lld", (long long)offset);
	struct sbuf q;
	sbuf_init(&q);
	sbuf_puts(&q, "SELECT count(*) OVER (), price_version, provider, model, tier, " TS_TEXT(
	                  "effective_from") ", source, ");
	ledger_price_cols(&q, "");
	sbuf_puts(&q, " FROM price_book WHERE ($1::text IS NULL OR provider = $1)"
	              " AND ($2::text IS NULL OR model = $2)"
	              " ORDER BY provider, model, effective_from DESC LIMIT $3 OFFSET $4");
	if (q.oom) {
		sbuf_cleanup(&q);
		return tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
	}
	res = PQexecParams(lg->conn, q.p, 4, NULL, params, NULL, NULL, 0);
	sbuf_cleanup(&q);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return ledger_fail(lg, res, "reading the price book", err);
	n = PQntuples(res);
	if (n > 0 && !(out->rows = calloc((size_t)n, sizeof *out->rows))) {
		PQclear(res);
		return tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
	}
	for (int r = 0; r < n; r++) {
		struct price_row *row = &out->rows[out->n++];
		struct price *p = &row->p;
		out->total = cell_i64(res, r, 0);
		p->version = cell_i64(res, r, 1);
		str_copy(p->provider, sizeof p->provider, PQgetvalue(res, r, 2));
		str_copy(p->model, sizeof p->model, PQgetvalue(res, r, 3));
		str_copy(p->tier, sizeof p->tier, PQgetvalue(res, r, 4));
		str_copy(row->effective_from, sizeof row->effective_from, PQgetvalue(res, r, 5));
		str_copy(row->source, sizeof row->source, PQgetvalue(res, r, 6));
		ledger_price_from_row(res, r, 7, p);
	}
	PQclear(res);
	if (n == 0 && offset > 0) { /* past the end: the total still counts */
		res = PQexecParams(lg->conn,
		                   "SELECT count(*) FROM price_book WHERE ($1::text IS NULL OR"
		                   " provider = $1) AND ($2::text IS NULL OR model = $2)",
		                   2, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			return ledger_fail(lg, res, "reading the price book", err);
		out->total = cell_i64(res, 0, 0);
		PQclear(res);
	}
	return 0;
}

void price_page_cleanup(struct price_page *p)
{
	if (!p)
		return;
	free(p->rows);
	p->rows = NULL;
	p->n = 0;
}

/* ---- spend series ------------------------------------------------------------ */

static void spend_from_row(PGresult *res, int r, int c, struct spend_row *row)
{
	row->key_null = PQgetisnull(res, r, c);
	str_copy(row->key, sizeof row->key, PQgetvalue(res, r, c));
	row->calls = cell_i64(res, r, c + 1);
	row->input_tokens = cell_i64(res, r, c + 2);
	row->output_tokens = cell_i64(res, r, c + 3);
	row->cache_read_tokens = cell_i64(res, r, c + 4);
	row->cache_write_tokens = cell_i64(res, r, c + 5);
	row->reasoning_tokens = cell_i64(res, r, c + 6);
	str_copy(row->cost_pusd, sizeof row->cost_pusd, PQgetvalue(res, r, c + 7));
	row->unpriced_calls = cell_i64(res, r, c + 8);
}

int ledger_spend_series(struct ledger *lg, const struct spend_query *q, int bucket,
                        struct spend_series *out, struct tally_err *err)
{
	/* Bucket expressions: fixed text chosen by enum, never user input. */
	const char *bexpr =
	    bucket == BUCKET_DAY
	        ? "to_char(date_trunc('day', x.t), 'YYYY-MM-DD')"
	        : "to_char(date_trunc('hour', x.t), 'YYYY-MM-DD\"T\"HH24:00:00\"Z\"')";
	const char *dim = ledger_spend_dim_sql(q->dim);
	struct spend_source src;
	char sql[6144];
	PGresult *res;
	int n;

	memset(out, 0, sizeof *out);
	if (q->dim < 0 || q->dim >= DIM_COUNT || (bucket != BUCKET_HOUR && bucket != BUCKET_DAY))
		return tally_err_set(err, TALLY_EINVAL, false, "unknown group-by or bucket");
	ledger_spend_source(q, bucket == BUCKET_HOUR, &src);
	snprintf(sql, sizeof sql,
	         "SELECT %s AS b, GROUPING(%s) AS g, %s AS k, sum(x.calls), sum(x.input_tokens),"
	         " sum(x.output_tokens), sum(x.cache_read_tokens), sum(x.cache_write_tokens),"
	         " sum(x.reasoning_tokens), coalesce(sum(x.cost_pusd), 0)::numeric(40,0),"
	         " sum(x.unpriced_calls)"
	         " FROM %s x LEFT JOIN teams tm ON tm.team = x.team"
	         " GROUP BY GROUPING SETS ((%s, %s), ())"
	         " ORDER BY g, b, coalesce(sum(x.cost_pusd), 0) DESC, k NULLS LAST",
	         bexpr, bexpr, dim, src.sql, bexpr, dim);
	res = PQexecParams(lg->conn, sql, src.n_params, NULL, src.params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return ledger_fail(lg, res, "spend series", err);
	n = PQntuples(res);
	if (n > 0 && !(out->rows = calloc((size_t)n, sizeof *out->rows))) {
		PQclear(res);
		return tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
	}
	for (int r = 0; r < n; r++) {
		if (strcmp(PQgetvalue(res, r, 1), "0") != 0) {
			spend_from_row(res, r, 2, &out->total);
			continue;
		}
		struct spend_series_row *row = &out->rows[out->n++];
		str_copy(row->bucket, sizeof row->bucket, PQgetvalue(res, r, 0));
		spend_from_row(res, r, 2, &row->r);
	}
	if (out->total.cost_pusd[0] == '\0')
		str_copy(out->total.cost_pusd, sizeof out->total.cost_pusd, "0");
	PQclear(res);
	return 0;
}

void spend_series_cleanup(struct spend_series *s)
{
	if (!s)
		return;
	free(s->rows);
	s->rows = NULL;
	s->n = 0;
}

int ledger_ping(struct ledger *lg, struct tally_err *err)
{
	PGresult *res = PQexec(lg->conn, "SELECT 1");

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return ledger_fail(lg, res, "ledger", err);
	PQclear(res);
	return 0;
}
