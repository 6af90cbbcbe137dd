/* status.c - what the ledger holds (counts, stored offsets, offset resets)
 * and whether it answers. */
#include "ledger_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ledger_status(struct ledger *lg, const char *group, struct ledger_status *st,
                  struct tally_err *err)
{
	PGresult *res;

	memset(st, 0, sizeof *st);
	res = PQexec(lg->conn,
	             "SELECT coalesce(sum(d.calls), 0),"
	             " (SELECT count(*) FROM outcomes), (SELECT count(*) FROM feedback),"
	             " (SELECT value FROM ledger_counters WHERE name = 'duplicates'),"
	             " (SELECT count(*) FROM quarantine),"
	             " coalesce(sum(d.unpriced_calls), 0),"
	             " (SELECT count(*) FROM rollup_queue),"
	             " (SELECT coalesce(extract(epoch FROM now() - min(queued_at)), 0)::bigint"
	             "  FROM rollup_queue) FROM rollup_daily d");
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return ledger_fail(lg, res, "reading status", err);
	st->calls = ledger_i64(res, 0, 0);
	st->outcomes = ledger_i64(res, 0, 1);
	st->feedback = ledger_i64(res, 0, 2);
	st->duplicates = ledger_i64(res, 0, 3);
	st->quarantined = ledger_i64(res, 0, 4);
	st->unpriced = ledger_i64(res, 0, 5);
	st->rollup_queue = ledger_i64(res, 0, 6);
	st->rollup_queue_age_s = ledger_i64(res, 0, 7);
	PQclear(res);

	res =
	    PQexecParams(lg->conn,
	                 "SELECT cluster_id, topic, kafka_partition, next_offset FROM kafka_offsets"
	                 " WHERE consumer_group = $1 ORDER BY cluster_id, topic, kafka_partition",
	                 1, NULL, &group, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return ledger_fail(lg, res, "reading stored offsets", err);
	int n = PQntuples(res);
	if (n > 0 && !(st->partitions = calloc((size_t)n, sizeof *st->partitions))) {
		PQclear(res);
		return tally_err_set(err, TALLY_ENOMEM, false, "out of memory");
	}
	for (int r = 0; r < n; r++) {
		str_copy(st->partitions[r].cluster_id, sizeof st->partitions[r].cluster_id,
		         PQgetvalue(res, r, 0));
		str_copy(st->partitions[r].topic, sizeof st->partitions[r].topic,
		         PQgetvalue(res, r, 1));
		st->partitions[r].partition = (int32_t)ledger_i64(res, r, 2);
		st->partitions[r].offset = ledger_i64(res, r, 3);
	}
	st->n_partitions = (size_t)n;
	PQclear(res);

	res = PQexecParams(
	    lg->conn,
	    "SELECT (SELECT count(*) FROM kafka_offset_resets WHERE consumer_group = $1),"
	    " (SELECT " SQL_ISO(
	        "at") " || ' '"
	              "  || topic || '[' || kafka_partition || ']: stored offset '"
	              "  || stored_offset || ', broker offsets ' || low_watermark || '..'"
	              "  || high_watermark || ' (cluster ' || cluster_id || '): ' || reason"
	              "  FROM kafka_offset_resets WHERE consumer_group = $1"
	              "  ORDER BY id DESC LIMIT 1)",
	    1, NULL, &group, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		ledger_status_cleanup(st);
		return ledger_fail(lg, res, "reading offset resets", err);
	}
	st->offset_resets = ledger_i64(res, 0, 0);
	if (!PQgetisnull(res, 0, 1))
		str_copy(st->last_reset, sizeof st->last_reset, PQgetvalue(res, 0, 1));
	PQclear(res);
	return 0;
}

void ledger_status_cleanup(struct ledger_status *st)
{
	if (!st)
		return;
	free(st->partitions);
	st->partitions = NULL;
	st->n_partitions = 0;
}

int ledger_ping(struct ledger *lg, struct tally_err *err)
{
	PGresult *res = PQexec(lg->conn, "SELECT 1");

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return ledger_fail(lg, res, "ledger", err);
	PQclear(res);
	return 0;
}
