/* rollups_write.c - the rollups brought up to date with the calls: the calls
 * of the transactions in rollup_queue summed, set-based, into each rollup's
 * rows, and the queue emptied of exactly what was summed, in one statement
 * (migrations/0021_rollup_queue.sql).
 *
 *   rollup_hourly       hour, attribution, tier, status
 *   rollup_quarter      quarter hour, attribution, tier (the edges of a
 *                       spend range: ledger/spend.c)
 *   rollup_daily        day, attribution, tier
 *   rollup_tags_hourly  tag key, hour, team, workflow, tag value
 *
 * Whatever stores calls queues its transaction (a statement trigger on
 * calls), so a call is in a rollup's rows or in the queue, never both and
 * never neither: each rollup is a view of its rows and of the same sums
 * over the queued calls, and reads exact figures at every instant. The rule
 * of each rollup is a SQL function of the migration, used here, by the views
 * and by the rebuild (ledger/prices_db.c).
 *
 * Writers of the rollups' rows hold a lock on rollup_queue: SHARE UPDATE
 * EXCLUSIVE here (one roll at a time; collectors go on queueing), EXCLUSIVE
 * in a rebuild (nothing is queued while it sums the calls). The lock is
 * taken before the statement, so the statement's snapshot sees every roll
 * before it. */
#include "ledger_int.h"

#include <stdlib.h>
#include <string.h>

#define TOKEN_ADD                                                                                  \
	"calls = r.calls + excluded.calls, input_tokens = r.input_tokens + excluded.input_tokens," \
	" output_tokens = r.output_tokens + excluded.output_tokens,"                               \
	" cache_read_tokens = r.cache_read_tokens + excluded.cache_read_tokens,"                   \
	" cache_write_tokens = r.cache_write_tokens + excluded.cache_write_tokens,"                \
	" reasoning_tokens = r.reasoning_tokens + excluded.reasoning_tokens,"                      \
	" cost_pusd = r.cost_pusd + excluded.cost_pusd,"                                           \
	" unpriced_calls = r.unpriced_calls + excluded.unpriced_calls"
#define HIT_ADD     ", cache_hit_calls = r.cache_hit_calls + excluded.cache_hit_calls"
#define ATTRIBUTION "team, workflow, task_type, provider, model"

/* The queued calls' sums of rollup T (its rule: tally_<T>) added to its
 * rows: summed by hashing (the fence keeps the planner from sorting the
 * calls), then written in key order, so that the rows of a backlog's hours
 * lie together as a reader's range scan wants them. */
#define ROLL_INTO(T, KEYS, ADD)                                                                    \
	"INSERT INTO " T "_merged AS r SELECT * FROM (SELECT * FROM tally_" T                      \
	"('-infinity', 'infinity', true) OFFSET 0) s ORDER BY " KEYS " ON CONFLICT (" KEYS         \
	") DO UPDATE SET " ADD

#define ROLL_HOURLY                                                                                \
	ROLL_INTO("rollup_hourly", "hour, " ATTRIBUTION ", tier, status", TOKEN_ADD HIT_ADD)
#define ROLL_QUARTER ROLL_INTO("rollup_quarter", "quarter, " ATTRIBUTION ", tier", TOKEN_ADD)
#define ROLL_DAILY   ROLL_INTO("rollup_daily", "day, " ATTRIBUTION ", tier", TOKEN_ADD HIT_ADD)
#define ROLL_TAGS                                                                                  \
	ROLL_INTO("rollup_tags_hourly", "tag_key, hour, team, workflow, tag_value", TOKEN_ADD)

/* Teams on first use; a workflow belongs to the team that used it first
 * (budgets by workflow). The queue loses exactly the transactions the
 * functions summed: the statement has one snapshot. */
static const char roll_sql[] =
    "WITH h AS (" ROLL_HOURLY " RETURNING team, workflow, hour),"
    " qh AS (" ROLL_QUARTER "),"
    " d AS (" ROLL_DAILY "),"
    " t AS (" ROLL_TAGS "),"
    " tm AS (INSERT INTO teams (team) SELECT DISTINCT team FROM h ORDER BY 1"
    "  ON CONFLICT DO NOTHING),"
    " wo AS (INSERT INTO workflow_owners (workflow, team, first_seen)"
    "  SELECT DISTINCT ON (workflow) workflow, team, hour FROM h"
    "  ORDER BY workflow, hour, team ON CONFLICT DO NOTHING),"
    " q AS (DELETE FROM rollup_queue"
    "  WHERE xid = ANY ((SELECT array_agg(xid) FROM rollup_queue)::bigint[]) RETURNING xid)"
    " SELECT count(*) FROM q";

int ledger_rollups_roll_in_tx(struct ledger *lg, int64_t *rolled, struct tally_err *err)
{
	/* The planner expects few queued calls (0021: it usually is so) and
	 * would sort them; a backlog's are many: hash them, in memory. */
	if (ledger_exec(lg, "SET LOCAL enable_sort = off; SET LOCAL work_mem = '64MB'", err) < 0)
		return -1;
	PGresult *res = PQexec(lg->conn, roll_sql);

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return ledger_fail(lg, res, "summing the queued calls into the rollups", err);
	*rolled = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return 0;
}

int ledger_rollups_roll(struct ledger *lg, bool wait, int64_t *rolled, struct tally_err *err)
{
	*rolled = 0;
	if (!ledger_ok(lg))
		return tally_err_set(err, TALLY_EDB, true, "the ledger connection is down");
	if (lg->window_open)
		return tally_err_set(err, TALLY_EINVAL, false,
		                     "a window is open on this connection (a bug)");
	if (ledger_exec(lg, "BEGIN", err) < 0)
		return -1;
	PGresult *res = PQexec(lg->conn, wait ? "LOCK TABLE rollup_queue IN SHARE UPDATE EXCLUSIVE"
	                                        " MODE"
	                                      : "LOCK TABLE rollup_queue IN SHARE UPDATE EXCLUSIVE"
	                                        " MODE NOWAIT");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		bool busy = !wait && state && strcmp(state, "55P03") == 0;
		if (busy) {
			/* another roll or a rebuild is at it: it sums what is queued */
			PQclear(res);
			PQclear(PQexec(lg->conn, "ROLLBACK"));
			return 0;
		}
		ledger_fail(lg, res, "locking the rollup queue", err);
		PQclear(PQexec(lg->conn, "ROLLBACK"));
		return -1;
	}
	PQclear(res);
	if (ledger_rollups_roll_in_tx(lg, rolled, err) < 0) {
		PQclear(PQexec(lg->conn, "ROLLBACK"));
		return -1;
	}
	if (ledger_exec(lg, "COMMIT", err) < 0) {
		*rolled = 0;
		return -1;
	}
	return 0;
}
