/* query.c - read-only snapshots, and server-side cursors that stream a
 * statement's rows in constant memory (the audit export's). */
#include "ledger_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STREAM_FETCH "2000"

int ledger_snapshot_begin(struct ledger *lg, struct tally_err *err)
{
	return ledger_exec(lg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err);
}

void ledger_snapshot_end(struct ledger *lg)
{
	PQclear(PQexec(lg->conn, "ROLLBACK"));
}

int ledger_stream(struct ledger *lg, const char *stmt, const char *const *params, int n,
                  ledger_row_fn fn, void *ctx, struct tally_err *err)
{
	bool own = PQtransactionStatus(lg->conn) == PQTRANS_IDLE;
	const char **vals = NULL; /* as many as the widest row (price_book: ~250) */
	int cap = 0;
	char sql[16384];
	PGresult *res = NULL;
	int rc = -1;

	if (own && ledger_snapshot_begin(lg, err) < 0)
		return -1;
	if (snprintf(sql, sizeof sql, "DECLARE tally_stream NO SCROLL CURSOR FOR %s", stmt) >=
	    (int)sizeof sql) {
		tally_err_set(err, TALLY_EINVAL, false, "report statement too long");
		goto out;
	}
	res = PQexecParams(lg->conn, sql, n, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		ledger_fail(lg, res, "report stream", err);
		res = NULL;
		goto out;
	}
	PQclear(res);
	for (;;) {
		res = PQexec(lg->conn, "FETCH FORWARD " STREAM_FETCH " FROM tally_stream");
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			ledger_fail(lg, res, "report stream", err);
			res = NULL;
			goto out;
		}
		int rows = PQntuples(res), cols = PQnfields(res);
		if (cols > cap) {
			const char **nv = realloc(vals, (size_t)cols * sizeof *nv);
			if (!nv) {
				tally_err_set(err, TALLY_ENOMEM, true, "out of memory");
				goto out;
			}
			vals = nv;
			cap = cols;
		}
		for (int r = 0; r < rows; r++) {
			for (int c = 0; c < cols; c++)
				vals[c] = PQgetisnull(res, r, c) ? NULL : PQgetvalue(res, r, c);
			if (fn(ctx, cols, vals, err) != 0) {
				tally_err_set(err, TALLY_EIO, false, "report stream stopped");
				goto out;
			}
		}
		PQclear(res);
		res = NULL;
		if (rows == 0)
			break;
	}
	PQclear(PQexec(lg->conn, "CLOSE tally_stream"));
	rc = 0;
out:
	PQclear(res);
	free(vals);
	/* On error inside the caller's transaction, the caller ends it. */
	if (own)
		ledger_snapshot_end(lg);
	return rc;
}
