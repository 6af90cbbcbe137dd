/* demo_sql.c - the ledger reads `tally up --demo` needs for itself. */
#include <stdlib.h>
#include <string.h>

#include "ledger_int.h"

/* Whether any call is older than ts_us: the demo writes its history only
 * into a ledger without any. */
int ledger_calls_before(struct ledger *lg, int64_t ts_us, bool *any, struct tally_err *err)
{
	char ts[40];
	const char *p[1] = {ts};

	*any = false;
	time_format(ts_us, ts);
	PGresult *res =
	    PQexecParams(lg->conn, "SELECT EXISTS (SELECT 1 FROM calls WHERE ts < $1::timestamptz)",
	                 1, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return ledger_fail(lg, res, "calls", err);
	*any = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return 0;
}
