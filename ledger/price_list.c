/* price_list.c - the price book as stored, every version, for the price
 * list of the web API (the book the pricer loads is prices_db.c's). */
#include "ledger_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	sbuf_puts(&q, "SELECT count(*) OVER (), price_version, provider, model, tier, " SQL_TS_TEXT(
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
		out->total = ledger_i64(res, r, 0);
		p->version = ledger_i64(res, r, 1);
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
		out->total = ledger_i64(res, 0, 0);
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
