/* quarantine.c - the quarantined messages, newest first, for the list the
 * web API pages through (the grouped view is drilldown.c's). */
#include "ledger_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	out->total = ledger_i64(res, 0, 0);
	PQclear(res);
	res = PQexecParams(
	    lg->conn,
	    "SELECT id, " SQL_TS_TEXT(
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
		q->id = ledger_i64(res, r, 0);
		str_copy(q->received_at, sizeof q->received_at, PQgetvalue(res, r, 1));
		str_copy(q->topic, sizeof q->topic, PQgetvalue(res, r, 2));
		q->partition = (int32_t)ledger_i64(res, r, 3);
		q->offset = ledger_i64(res, r, 4);
		str_copy(q->reason, sizeof q->reason, PQgetvalue(res, r, 5));
		q->raw_total = ledger_i64(res, r, 7);
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
