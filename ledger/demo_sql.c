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

/* Refreshes the planner's statistics of calls and outcomes: after a bulk
 * load into a fresh ledger, without them the batch path's event_id probe
 * scans instead of using the primary key. */
int ledger_analyze_calls(struct ledger *lg, struct tally_err *err)
{
	return ledger_exec(lg, "ANALYZE calls, outcomes", err);
}

/* For a connection about to write many large batches: plans every statement
 * for its own parameters, so that the event_id probe of a 20,000-call batch
 * uses the primary keys instead of a generic plan made when calls was
 * empty. */
int ledger_bulk_load_begin(struct ledger *lg, struct tally_err *err)
{
	return ledger_exec(lg, "SET plan_cache_mode = force_custom_plan", err);
}
