/* names.c - whether a team or workflow name is known to the ledger, so that
 * a command asked about a name that does not exist can say so instead of
 * answering with an empty report. */
#include <string.h>

#include "ledger_int.h"

/* Known: mapped in teams, given a budget, or seen in the daily rollups. */
int ledger_name_known(struct ledger *lg, bool workflow, const char *name, bool *known,
                      struct tally_err *err)
{
	const char *p[1] = {name};
	const char *sql =
	    workflow
	        ? "SELECT EXISTS (SELECT 1 FROM budgets WHERE scope = 'workflow' AND name = $1)"
	          " OR EXISTS (SELECT 1 FROM rollup_daily WHERE workflow = $1)"
	        : "SELECT EXISTS (SELECT 1 FROM teams WHERE team = $1)"
	          " OR EXISTS (SELECT 1 FROM budgets WHERE scope = 'team' AND name = $1)"
	          " OR EXISTS (SELECT 1 FROM rollup_daily WHERE team = $1)";

	*known = false;
	PGresult *res = PQexecParams(lg->conn, sql, 1, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return ledger_fail(lg, res, workflow ? "workflows" : "teams", err);
	*known = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return 0;
}
