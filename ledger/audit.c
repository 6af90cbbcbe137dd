/* audit.c - the audit log's hash chain head, and the files of the audit
 * export (reports/audit.c): every call, price version, reprice, budget, alert
 * and audit log entry of a period, streamed as they are stored. Each file's
 * CSV header is declared beside the statement whose columns it names. */
#include "ledger_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* price_book.csv's and price_changes.csv's columns: the statement's and the
 * header's, from the same component table (PB_RATE_COLS). */
#define PRICE_COLS                                                                                 \
	"price_version, provider, model, tier, " SQL_ISO_US("effective_from") PB_RATE_COLS         \
	    ", source, " SQL_ISO_US("imported_at")
#define PRICE_HEADER                                                                               \
	"price_version,provider,model,tier,effective_from" PB_RATE_COLS ",source,imported_at"

/* One file: its name, header and flag (ledger.h) and the statement that
 * produces its columns in the header's order. */
struct export_stmt {
	struct ledger_export_file file;
	const char *sql;
};

static const struct export_stmt exports[LEDGER_EXPORT_COUNT] = {
    [LEDGER_EXPORT_CALLS] =
        {{"calls.csv",
          "event_id,ts,team,workflow,task_type,outcome_id,provider,model,tier,input_tokens,"
          "output_tokens,cache_read_tokens,cache_write_tokens,reasoning_tokens,batch,"
          "cache_hit,local,status,latency_ms,prompt_hash,cost_pusd,price_version,"
          "provider_cost_pusd,service_tier,data_residency,inference_geo,speed,"
          "unpriced_reason" PC_CALL_CSV_HEADER,
          true},
         "SELECT event_id, " SQL_ISO_US(
             "ts") ", team, workflow, task_type, outcome_id,"
                   " provider, model, tier, input_tokens, output_tokens, cache_read_tokens,"
                   " cache_write_tokens, reasoning_tokens, batch, cache_hit, local, status, "
                   "latency_ms,"
                   " prompt_hash, cost_pusd, price_version, provider_cost_pusd, service_tier,"
                   " data_residency, inference_geo, speed, unpriced_reason, components"
                   " FROM calls WHERE ts >= $1 AND ts < $2 ORDER BY ts, event_id"},
    [LEDGER_EXPORT_PRICES] = {{"price_book.csv", PRICE_HEADER, false},
                              "SELECT " PRICE_COLS " FROM price_book"
                              " WHERE effective_from < $2 AND $1::timestamptz IS NOT NULL"
                              " ORDER BY price_version"},
    [LEDGER_EXPORT_PRICE_CHANGES] = {{"price_changes.csv", PRICE_HEADER, false},
                                     "SELECT " PRICE_COLS " FROM price_book"
                                     " WHERE (effective_from >= $1 AND effective_from < $2)"
                                     " OR (imported_at >= $1 AND imported_at < $2)"
                                     " ORDER BY price_version"},
    [LEDGER_EXPORT_REPRICES] = {{"reprices.csv", "id,ts,actor,details", false},
                                "SELECT id, " SQL_ISO_US(
                                    "ts") ", actor, details::text"
                                          " FROM audit_log WHERE action = 'prices.reprice'"
                                          " AND ts >= $1 AND ts < $2 ORDER BY chain_seq"},
    [LEDGER_EXPORT_BUDGETS] =
        {{"budgets.csv", "id,scope,name,amount_pusd,created_at,updated_at", false},
         "SELECT id, scope, name, amount_pusd, " SQL_ISO_US("created_at") ", " SQL_ISO_US(
             "updated_at") " FROM budgets"
                           " WHERE $1::timestamptz IS NOT NULL"
                           " AND $2::timestamptz IS NOT NULL ORDER BY id"},
    [LEDGER_EXPORT_ALERTS] =
        {{"budget_alerts.csv",
          "id,budget_id,scope,name,period,basis,threshold_pct,amount_pusd,"
          "spend_pusd,forecast_pusd,fired_at",
          false},
         "SELECT id, budget_id, scope, name, to_char(period, 'YYYY-MM'),"
         " basis, threshold_pct, amount_pusd, spend_pusd, forecast_pusd, " SQL_ISO_US(
             "fired_at") " FROM budget_alerts"
                         " WHERE fired_at >= $1 AND fired_at < $2 ORDER BY id"},
    [LEDGER_EXPORT_LOG] =
        {{"audit_log.csv", "chain_seq,id,ts_us,ts,actor,action,details,prev_hash,hash", false},
         "SELECT chain_seq, id, (extract(epoch FROM ts) * 1000000)::bigint, " SQL_ISO_US(
             "ts") ", actor, action, details::text, prev_hash, hash"
                   " FROM audit_log WHERE ts >= $1 AND ts < $2 ORDER BY chain_seq"},
};

const struct ledger_export_file *ledger_export_file(int which)
{
	return which >= 0 && which < LEDGER_EXPORT_COUNT ? &exports[which].file : NULL;
}

int ledger_export_stream(struct ledger *lg, int which, int64_t from_us, int64_t to_us,
                         ledger_row_fn fn, void *ctx, struct tally_err *err)
{
	char from[40], to[40];
	const char *p[2] = {from, to};

	if (which < 0 || which >= LEDGER_EXPORT_COUNT)
		return tally_err_set(err, TALLY_EINVAL, false, "unknown export");
	time_format(from_us, from);
	time_format(to_us, to);
	return ledger_stream(lg, exports[which].sql, p, 2, fn, ctx, err);
}

int ledger_audit_head(struct ledger *lg, int64_t *seq, char hash[65], struct tally_err *err)
{
	PGresult *res =
	    PQexec(lg->conn, "SELECT chain_seq, hash FROM audit_log"
	                     " WHERE chain_seq IS NOT NULL ORDER BY chain_seq DESC LIMIT 1");

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return ledger_fail(lg, res, "audit chain head", err);
	*seq = 0;
	memset(hash, '0', 64);
	hash[64] = '\0';
	if (PQntuples(res) == 1) {
		*seq = ledger_i64(res, 0, 0);
		str_copy(hash, 65, PQgetvalue(res, 0, 1));
	}
	PQclear(res);
	return 0;
}
