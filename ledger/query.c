/* query.c - small query answers copied out of libpq (ledger_table), server-
 * side cursors that stream large ones, and read-only snapshots. The fixed
 * statements live beside what they read (budgets.c, audit.c, ...). */
#include "ledger_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STREAM_FETCH "2000"

static const char *const report_sql[LRS_COUNT] = {
    [LRS_TEAMS] = ledger_sql_teams,
    [LRS_AUDIT_CALLS] = ledger_sql_audit_calls,
    [LRS_AUDIT_PRICES] = ledger_sql_audit_prices,
    [LRS_AUDIT_PRICE_CHANGES] = ledger_sql_audit_price_changes,
    [LRS_AUDIT_REPRICES] = ledger_sql_audit_reprices,
    [LRS_AUDIT_BUDGETS] = ledger_sql_audit_budgets,
    [LRS_AUDIT_ALERTS] = ledger_sql_audit_alerts,
    [LRS_AUDIT_LOG] = ledger_sql_audit_log,
    [LRS_OUTCOMES] = ledger_sql_outcomes,
    [LRS_OUTCOMES_TIERS] = ledger_sql_outcomes_tiers,
    [LRS_OUTCOMES_WEEKS] = ledger_sql_outcomes_weeks,
    [LRS_OUTCOMES_APART] = ledger_sql_outcomes_apart,
    [LRS_WASTE] = ledger_sql_waste,
    [LRS_FINANCE_SET_UP] = ledger_sql_finance_set_up,
    [LRS_BUDGETS] = ledger_sql_budgets,
    [LRS_ALERTS] = ledger_sql_alerts,
    [LRS_METRICS_SPEND] = ledger_sql_metrics_spend,
    [LRS_COST_MISMATCH] = ledger_sql_cost_mismatch,
};

/* ---- tables and streams ------------------------------------------------------ */

const char *ledger_cell(const struct ledger_table *t, int r, int c)
{
	const char *v = t->cells[r * t->cols + c];
	return v ? v : "";
}

bool ledger_cell_null(const struct ledger_table *t, int r, int c)
{
	return t->cells[r * t->cols + c] == NULL;
}

void ledger_table_cleanup(struct ledger_table *t)
{
	if (!t || !t->cells)
		return;
	for (int i = 0; i < t->rows * t->cols; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->rows = t->cols = 0;
}

static int table_from(PGresult *res, struct ledger_table *out, struct tally_err *err)
{
	int rows = PQntuples(res), cols = PQnfields(res);

	out->rows = 0;
	out->cols = cols;
	if (rows * cols > 0 && !(out->cells = calloc((size_t)rows * (size_t)cols, sizeof(char *))))
		return tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
	out->rows = rows;
	for (int r = 0; r < rows; r++)
		for (int c = 0; c < cols; c++) {
			if (PQgetisnull(res, r, c))
				continue;
			if (!(out->cells[r * cols + c] = strdup(PQgetvalue(res, r, c))))
				return tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
		}
	return 0;
}

int ledger_report_query(struct ledger *lg, int which, const char *const *params, int n,
                        struct ledger_table *out, struct tally_err *err)
{
	memset(out, 0, sizeof *out);
	if (which < 0 || which >= LRS_COUNT)
		return tally_err_set(err, TALLY_EINVAL, false, "unknown report statement");
	PGresult *res = PQexecParams(lg->conn, report_sql[which], n, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return ledger_fail(lg, res, "report", err);
	int rc = table_from(res, out, err);
	PQclear(res);
	if (rc < 0)
		ledger_table_cleanup(out);
	return rc;
}

int ledger_snapshot_begin(struct ledger *lg, struct tally_err *err)
{
	return ledger_exec(lg, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", err);
}

void ledger_snapshot_end(struct ledger *lg)
{
	PQclear(PQexec(lg->conn, "ROLLBACK"));
}

int ledger_report_stream(struct ledger *lg, int which, const char *const *params, int n,
                         ledger_row_fn fn, void *ctx, struct tally_err *err)
{
	bool own = PQtransactionStatus(lg->conn) == PQTRANS_IDLE;
	const char **vals = NULL; /* as many as the widest row (price_book: ~250) */
	int cap = 0;
	char sql[16384];
	PGresult *res = NULL;
	int rc = -1;

	if (which < 0 || which >= LRS_COUNT)
		return tally_err_set(err, TALLY_EINVAL, false, "unknown report statement");
	if (own && ledger_snapshot_begin(lg, err) < 0)
		return -1;
	if (snprintf(sql, sizeof sql, "DECLARE tally_stream NO SCROLL CURSOR FOR %s",
	             report_sql[which]) >= (int)sizeof sql) {
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
