/* keys.c - API keys (stored as the SHA-256 of their token, never the token)
 * and their roles, the sessions opened with them, and the notification that
 * tells other servers a key was revoked. Values travel as $n parameters. */
#include "ledger_int.h"

#include <errno.h>
#include <poll.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* ---- keys ----------------------------------------------------------------- */

#define KEY_COLS                                                                                   \
	"k.id, k.role, coalesce(k.team, ''), k.name, k.token_sha256, " SQL_TS_TEXT(                \
	    "k.created_at") ", " SQL_TS_TEXT("k.last_used_at") ", " SQL_TS_TEXT("k.revoked_at")

/* The columns of KEY_COLS; statements that add a column add it after them. */
enum key_col {
	KEY_ID,
	KEY_ROLE,
	KEY_TEAM,
	KEY_NAME,
	KEY_TOKEN_SHA256,
	KEY_CREATED_AT,
	KEY_LAST_USED_AT,
	KEY_REVOKED_AT,
	KEY_NCOLS
};

static void key_from_row(const PGresult *res, int r, struct api_key *k)
{
	memset(k, 0, sizeof *k);
	k->id = ledger_i64(res, r, KEY_ID);
	k->role = api_role_parse(PQgetvalue(res, r, KEY_ROLE));
	ledger_str(res, r, KEY_TEAM, k->team, sizeof k->team);
	ledger_str(res, r, KEY_NAME, k->name, sizeof k->name);
	ledger_str(res, r, KEY_TOKEN_SHA256, k->token_sha256, sizeof k->token_sha256);
	ledger_str(res, r, KEY_CREATED_AT, k->created_at, sizeof k->created_at);
	ledger_str(res, r, KEY_LAST_USED_AT, k->last_used_at, sizeof k->last_used_at);
	ledger_str(res, r, KEY_REVOKED_AT, k->revoked_at, sizeof k->revoked_at);
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
	*id = ledger_i64(res, 0, 0);
	PQclear(res);
	return 0;
}

static void key_row(const PGresult *res, int r, void *row)
{
	key_from_row(res, r, row);
}

int ledger_key_list(struct ledger *lg, struct api_key **keys, size_t *n, struct tally_err *err)
{
	return ledger_load_rows(lg, "SELECT " KEY_COLS " FROM api_keys k ORDER BY k.id", 0, NULL,
	                        "listing API keys", sizeof **keys, key_row, keys, n, err);
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
	*found = ledger_i64(res, 0, 0) > 0;
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
	key_from_row(res, 0, key);
	*found = key->role >= 0;
	stale = ledger_bool(res, 0, KEY_NCOLS);
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
		key_from_row(res, 0, key);
		ledger_str(res, 0, KEY_NCOLS, csrf, 65);
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
