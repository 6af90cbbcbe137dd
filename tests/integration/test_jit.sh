# test_jit.sh - no statement of tally's is JIT-compiled, on a PostgreSQL that
# compiles every statement it may (jit_above_cost = 0). A server's default JIT
# compiles whatever its planner costs high (a correlated subquery, a stale
# estimate) for longer than it runs: the budgets' check, with no budget at
# all, took 1.9 s (13 s on a busy machine). Every session of tally's turns JIT
# off (ledger/ledger.c). The collector, `tally serve` with its background work
# and API, and the reports each run here the way an operator runs them; then
# pg_stat_statements says which statements the server compiled.
. tests/lib.sh

PG_EXTRA="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all -c jit=on -c jit_above_cost=0 -c jit_inline_above_cost=-1 -c jit_optimize_above_cost=-1" \
	pg_start || exit 1
kafka_start 4 || exit 1
# The test's own statements without JIT (PGOPTIONS is given to psql alone:
# tally's sessions are what is tested).
own() { PGOPTIONS="-c jit=off" psql "$TALLY_DATABASE_URL" -XAtq -c "$1"; }
own "CREATE EXTENSION pg_stat_statements" >/dev/null
own "SELECT pg_stat_statements_reset()" >/dev/null # what the setup ran (createdb)
"$BIN" migrate >"$T/migrate.log" 2>&1
assert_eq "tally migrate" 0 $?

sh tests/integration/gen_calls.sh 0 2000 >"$T/ev.jsonl"
"$BIN" produce "$T/ev.jsonl" >"$T/produce.log" 2>&1
collector_start
n=0
while [ "$(own "select count(*) from calls")" -lt 2000 ] && [ $n -lt 600 ]; do
	sleep 0.1
	n=$((n + 1))
done
assert_eq "the collector stored the calls" 2000 "$(own "select count(*) from calls")"
kill -TERM "$COLLECTOR_PID"
wait "$COLLECTOR_PID"

"$BIN" rollups merge >"$T/merge.log" 2>&1
assert_eq "tally rollups merge" 0 $?
"$BIN" budgets set --team team-1 --amount 1 >/dev/null
assert_eq "tally budgets set" 0 $?
"$BIN" budgets list --at 2026-11-16T00:00:00Z >"$T/budgets.out" 2>&1
assert_eq "tally budgets list" 0 $?
"$BIN" report spend --from 2026-11-02T00:30:00Z --to 2026-11-02T02:10:00Z --group-by team >"$T/spend.out" 2>&1
assert_eq "tally report spend (edges not on whole hours)" 0 $?
"$BIN" report chargeback --month 2026-11 >"$T/chargeback.out" 2>&1
assert_eq "tally report chargeback" 0 $?

ADMIN=$("$BIN" keys create --role admin --name ops 2>/dev/null | tail -n 1)
serve_start || not_ok "tally serve answers"
for p in "spend?from=2026-11-01&to=2026-12-01&group_by=team&bucket=day" \
	"spend?from=2026-11-02T00:30:00Z&to=2026-11-02T01:10:00Z&group_by=model" \
	"status" "budgets" "waste?from=2026-11-01&to=2026-12-01"; do
	assert_eq "GET /api/v1/$p" 200 \
		"$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ADMIN" "$U/api/v1/$p")"
done
sleep 1 # the server's own work at its start (budgets, the router's statistics)
kill -TERM "$SERVE_PID"
wait "$SERVE_PID"

# The setting works: an ordinary statement of another session is compiled.
psql "$TALLY_DATABASE_URL" -XAtq -c "select count(*), max(ts) from calls where model is not null" >/dev/null
assert_eq "the server JIT-compiles a statement of a session that leaves JIT on" 1 \
	"$(own "select count(*) from pg_stat_statements where query like '%model is not null%' and jit_functions > 0")"
assert_eq "no statement of tally's was JIT-compiled" "" \
	"$(own "select string_agg(left(regexp_replace(query, '\s+', ' ', 'g'), 100), ' | ')
	     from pg_stat_statements where jit_functions > 0 and query not like '%model is not null%'
	     and query not like '%pg_stat_statements%'")"
assert_match "tally's statements were seen" "^[1-9][0-9]+$" \
	"$(own "select count(*) from pg_stat_statements where query like '%rollup%'")"
t_done
