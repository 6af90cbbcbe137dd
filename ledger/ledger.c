/* ledger.c - the ledger connection, migrations and the helpers its other
 * files share. */
#include "ledger_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const char *const embedded_migration_names[];
extern const char *const embedded_migration_sql[];

/* SQLSTATE classes after which the same work may succeed later. */
static bool sqlstate_retriable(const char *st)
{
	if (!st)
		return true;
	return strncmp(st, "08", 2) == 0 || strncmp(st, "40", 2) == 0 ||
	       strncmp(st, "53", 2) == 0 || strncmp(st, "57", 2) == 0 ||
	       strncmp(st, "58", 2) == 0 || strcmp(st, "55P03") == 0 ||
	       strcmp(st, "23505") == 0; /* a concurrent writer won: the next try skips it */
}

int ledger_fail(struct ledger *lg, PGresult *res, const char *what, struct tally_err *err)
{
	const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *msg = res ? PQresultErrorMessage(res) : "";
	bool lost = PQstatus(lg->conn) != CONNECTION_OK;
	char clean[200];

	if (!msg || !*msg)
		msg = PQerrorMessage(lg->conn);
	str_copy(clean, sizeof clean, msg);
	clean[strcspn(clean, "\n")] = '\0';
	/* Data exceptions and program limits are about one value of one row:
	 * TALLY_EINVAL tells the caller that the data, not the server, is at fault. */
	bool data = st && (strncmp(st, "22", 2) == 0 || strncmp(st, "54", 2) == 0);
	tally_err_set(err, data && !lost ? TALLY_EINVAL : TALLY_EDB, lost || sqlstate_retriable(st),
	              "%s: %s%s%s", what, clean, st ? " SQLSTATE " : "", st ? st : "");
	PQclear(res);
	return -1;
}

int ledger_exec(struct ledger *lg, const char *sql, struct tally_err *err)
{
	PGresult *res = PQexec(lg->conn, sql);

	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
		return ledger_fail(lg, res, "ledger", err);
	PQclear(res);
	return 0;
}

int ledger_exec_params(struct ledger *lg, const char *sql, int n, const char *const *p,
                       const char *what, PGresult **out, struct tally_err *err)
{
	PGresult *res = PQexecParams(lg->conn, sql, n, NULL, p, NULL, NULL, 0);

	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
		return ledger_fail(lg, res, what, err);
	if (out)
		*out = res;
	else
		PQclear(res);
	return 0;
}

int64_t ledger_i64(const PGresult *res, int r, int c)
{
	return PQgetisnull(res, r, c) ? 0 : strtoll(PQgetvalue(res, r, c), NULL, 10);
}

bool ledger_bool(const PGresult *res, int r, int c)
{
	return !PQgetisnull(res, r, c) && PQgetvalue(res, r, c)[0] == 't';
}

void ledger_str(const PGresult *res, int r, int c, char *out, size_t n)
{
	str_copy(out, n, PQgetisnull(res, r, c) ? "" : PQgetvalue(res, r, c));
}

int ledger_load_rows(struct ledger *lg, const char *sql, int n, const char *const *p,
                     const char *what, size_t size, ledger_decode_fn decode, void *rows,
                     size_t *n_rows, struct tally_err *err)
{
	PGresult *res = NULL;
	char *out = NULL;

	/* rows is the address of the caller's pointer to its row type: set as
	 * bytes, so that no pointer is written through another's type */
	memcpy(rows, &out, sizeof out);
	*n_rows = 0;
	if (ledger_exec_params(lg, sql, n, p, what, &res, err) < 0)
		return -1;
	int nr = PQntuples(res);
	if (nr > 0 && !(out = calloc((size_t)nr, size))) {
		PQclear(res);
		return tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
	}
	for (int r = 0; r < nr; r++)
		decode(res, r, out + (size_t)r * size);
	PQclear(res);
	memcpy(rows, &out, sizeof out);
	*n_rows = (size_t)nr;
	return 0;
}

int ledger_tx_end(struct ledger *lg, int rc, struct tally_err *err)
{
	if (rc == 0 && ledger_exec(lg, "COMMIT", err) == 0)
		return 0;
	PQclear(PQexec(lg->conn, "ROLLBACK"));
	return -1;
}

int ledger_copy(struct ledger *lg, const char *copy_sql, const char *data, size_t len,
                struct tally_err *err)
{
	PGresult *res = PQexec(lg->conn, copy_sql);

	if (PQresultStatus(res) != PGRES_COPY_IN)
		return ledger_fail(lg, res, "COPY", err);
	PQclear(res);
	for (size_t off = 0; off < len;) {
		size_t n = len - off > (1 << 20) ? (1 << 20) : len - off;
		if (PQputCopyData(lg->conn, data + off, (int)n) != 1) {
			PQputCopyEnd(lg->conn, "client error");
			return ledger_fail(lg, PQgetResult(lg->conn), "COPY data", err);
		}
		off += n;
	}
	if (PQputCopyEnd(lg->conn, NULL) != 1)
		return ledger_fail(lg, NULL, "COPY end", err);
	res = PQgetResult(lg->conn);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		return ledger_fail(lg, res, "COPY", err);
	PQclear(res);
	while ((res = PQgetResult(lg->conn)))
		PQclear(res);
	return 0;
}

static void ledger_notice(void *arg, const char *msg)
{
	(void)arg;
	(void)msg; /* NOTICEs (e.g. "relation exists, skipping") are not errors */
}

static int ledger_connect(struct ledger *lg, struct tally_err *err)
{
	lg->conn = PQconnectdb(lg->conninfo);
	if (PQstatus(lg->conn) != CONNECTION_OK) {
		char msg[200];
		str_copy(msg, sizeof msg, PQerrorMessage(lg->conn));
		msg[strcspn(msg, "\n")] = '\0';
		PQfinish(lg->conn);
		lg->conn = NULL;
		return tally_err_set(err, TALLY_EDB, true,
		                     "cannot connect to PostgreSQL: %s (check TALLY_DATABASE_URL)",
		                     msg);
	}
	PQsetNoticeProcessor(lg->conn, ledger_notice, NULL);
	lg->prepared = false;
	lg->ahead_prepared = false;
	lg->n_months = 0;
	ledger_seen_reset(lg);    /* what was seen may be lost with an old session */
	ledger_window_forget(lg); /* a new session: any open window was lost */
	/* No JIT for any statement of tally's: they read by key or sum rollups,
	 * and run in milliseconds, but a server's default JIT compiles whatever
	 * the planner costs high (a correlated subquery, a stale estimate) for
	 * longer than it runs: the budgets' check, with no budget at all, took
	 * 1.9 s, and 13 s on a busy machine (bench/README.md). */
	if (ledger_exec(lg, "SET TIME ZONE 'UTC'; SET jit = off", err) < 0)
		return -1;
	return lg->async_commit ? ledger_exec(lg, "SET synchronous_commit = off", err) : 0;
}

struct ledger *ledger_open(const char *conninfo, struct tally_err *err)
{
	struct ledger *lg = calloc(1, sizeof *lg);

	if (!lg || !(lg->conninfo = strdup(conninfo))) {
		free(lg);
		tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
		return NULL;
	}
	sbuf_init(&lg->copybuf);
	for (size_t i = 0; i < LEDGER_BINARY_PARAMS_MAX; i++)
		sbuf_init(&lg->params[i]);
	if (ledger_connect(lg, err) < 0) {
		ledger_close(lg);
		return NULL;
	}
	return lg;
}

void ledger_close(struct ledger *lg)
{
	if (!lg)
		return;
	if (lg->conn)
		PQfinish(lg->conn);
	sbuf_cleanup(&lg->copybuf);
	for (size_t i = 0; i < LEDGER_BINARY_PARAMS_MAX; i++)
		sbuf_cleanup(&lg->params[i]);
	free(lg->keep);
	free(lg->win_off);
	ledger_seen_free(lg);
	free(lg->conninfo);
	free(lg);
}

int ledger_use_async_commit(struct ledger *lg, struct tally_err *err)
{
	lg->async_commit = true;
	return ledger_exec(lg, "SET synchronous_commit = off", err);
}

bool ledger_ok(struct ledger *lg)
{
	return lg && lg->conn && PQstatus(lg->conn) == CONNECTION_OK;
}

int ledger_reset(struct ledger *lg, struct tally_err *err)
{
	if (lg->conn)
		PQfinish(lg->conn);
	lg->conn = NULL;
	return ledger_connect(lg, err);
}

int ledger_migrate(struct ledger *lg, int *applied, struct tally_err *err)
{
	int n = 0;

	if (applied)
		*applied = 0;
	/* One migrator at a time; the lock ends with the session. */
	if (ledger_exec(lg, "SELECT pg_advisory_lock(hashtext('tally_migrate'))", err) < 0 ||
	    ledger_exec(lg,
	                "CREATE TABLE IF NOT EXISTS schema_migrations ("
	                " version integer PRIMARY KEY, name text NOT NULL,"
	                " applied_at timestamptz NOT NULL DEFAULT now())",
	                err) < 0)
		return -1;
	for (int i = 0; embedded_migration_names[i]; i++) {
		const char *name = embedded_migration_names[i];
		char version[16];
		const char *params[2] = {version, name};
		snprintf(version, sizeof version, "%d", atoi(name));

		PGresult *res =
		    PQexecParams(lg->conn, "SELECT 1 FROM schema_migrations WHERE version = $1", 1,
		                 NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			goto fail_res;
		bool done = PQntuples(res) > 0;
		PQclear(res);
		if (done)
			continue;
		if (ledger_exec(lg, "BEGIN", err) < 0)
			goto fail;
		res = PQexec(lg->conn, embedded_migration_sql[i]);
		if (PQresultStatus(res) != PGRES_COMMAND_OK &&
		    PQresultStatus(res) != PGRES_TUPLES_OK) {
			char what[128];
			snprintf(what, sizeof what, "migration %s", name);
			ledger_fail(lg, res, what, err);
			PQclear(PQexec(lg->conn, "ROLLBACK"));
			goto fail;
		}
		PQclear(res);
		res = PQexecParams(lg->conn,
		                   "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
		                   2, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			goto fail_res;
		PQclear(res);
		if (ledger_exec(lg, "COMMIT", err) < 0)
			goto fail;
		n++;
		continue;
	fail_res:
		ledger_fail(lg, res, "migrations", err);
		PQclear(PQexec(lg->conn, "ROLLBACK"));
		goto fail;
	}
	ledger_exec(lg, "SELECT pg_advisory_unlock(hashtext('tally_migrate'))", NULL);
	if (applied)
		*applied = n;
	return 0;
fail:
	ledger_exec(lg, "SELECT pg_advisory_unlock(hashtext('tally_migrate'))", NULL);
	return -1;
}

/* ---- prepared statements and COPY text --------------------------------------- */

int ledger_prepare_one(struct ledger *lg, const char *name, const char *sql, struct tally_err *err)
{
	PGresult *res = PQprepare(lg->conn, name, sql, 0, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		return ledger_fail(lg, res, name, err);
	PQclear(res);
	return 0;
}

int ledger_grow_flags(bool **p, size_t *cap, size_t n)
{
	if (n <= *cap)
		return 0;
	bool *f = realloc(*p, n * sizeof *f);
	if (!f)
		return -1;
	*p = f;
	*cap = n;
	return 0;
}

/* A prepared statement, its parameters as given (lengths and formats NULL:
 * text); the one way both kinds of parameters are sent and answered. */
static int exec_prepared(struct ledger *lg, const char *name, int n, const char *const *values,
                         const int *lengths, const int *formats, PGresult **out,
                         struct tally_err *err)
{
	PGresult *res = PQexecPrepared(lg->conn, name, n, values, lengths, formats, 0);
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		return ledger_fail(lg, res, name, err);
	if (out)
		*out = res;
	else
		PQclear(res);
	return 0;
}

int ledger_exec_prepared(struct ledger *lg, const char *name, int n, const char *const *params,
                         PGresult **out, struct tally_err *err)
{
	return exec_prepared(lg, name, n, params, NULL, NULL, out, err);
}

int ledger_exec_prepared_binary(struct ledger *lg, const char *name, int n,
                                const struct sbuf *params, PGresult **out, struct tally_err *err)
{
	const char *values[LEDGER_BINARY_PARAMS_MAX];
	int lengths[LEDGER_BINARY_PARAMS_MAX], formats[LEDGER_BINARY_PARAMS_MAX];

	for (int i = 0; i < n; i++) {
		if (params[i].oom)
			return tally_err_set(err, TALLY_ENOMEM, true, "out of memory");
		values[i] = params[i].p;
		lengths[i] = (int)params[i].len;
		formats[i] = 1;
	}
	return exec_prepared(lg, name, n, values, lengths, formats, out, err);
}

int ledger_run_prepared(struct ledger *lg, const char *name, struct tally_err *err)
{
	return ledger_exec_prepared(lg, name, 0, NULL, NULL, err);
}

int ledger_stage_run(struct ledger *lg, const char *copy_sql, const struct sbuf *s,
                     const char *stmt, struct tally_err *err)
{
	if (s->oom)
		return tally_err_set(err, TALLY_ENOMEM, true, "out of memory building the batch");
	if (ledger_copy(lg, copy_sql, s->p ? s->p : "", s->len, err) < 0)
		return -1;
	return ledger_exec_prepared(lg, stmt, 0, NULL, NULL, err);
}

void ledger_array_elem(struct sbuf *s, const char *v)
{
	sbuf_putc(s, '"');
	for (const char *p = v; *p; p++) {
		if (*p == '"' || *p == '\\')
			sbuf_putc(s, '\\');
		sbuf_putc(s, *p);
	}
	sbuf_putc(s, '"');
}

void ledger_copy_ts(struct sbuf *s, int64_t us)
{
	char buf[40];
	time_format(us, buf);
	sbuf_puts(s, buf);
}

void ledger_copy_opt_text(struct sbuf *s, const char *v)
{
	sbuf_copy_text(s, *v ? v : NULL);
}
