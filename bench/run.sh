#!/bin/sh
# bench/run.sh - end-to-end ingestion of BENCH_EVENTS (default 1,000,000)
# call events produced keyed into 128 partitions of the embedded Kafka
# cluster, consumed by one `tally collect` into a real PostgreSQL; in the same
# run, the ceiling (a plain COPY of the same rows into an identical table) and
# the naive baseline (one INSERT per event). Prints figures and ratios.
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
N=${BENCH_EVENTS:-1000000}
NAIVE=${BENCH_NAIVE_EVENTS:-20000}
export PG_FSYNC=on PG_EXTRA="-c shared_buffers=512MB -c max_wal_size=4GB"

now_ms() { date +%s%3N; }
rate() { awk -v n="$1" -v ms="$2" 'BEGIN { printf "%.0f", n * 1000 / (ms > 0 ? ms : 1) }'; }

pg_start || exit 1
kafka_start 128 || exit 1
"$BIN" migrate >/dev/null && "$BIN" prices import data/litellm_model_prices.json >/dev/null || exit 1

echo "generating $N events..."
sh tests/integration/gen_calls.sh 0 "$N" bench >"$T/events.jsonl"
SIZE=$(wc -c <"$T/events.jsonl")

# The collector runs first, as in production (its consumer group joined);
# the clock runs from the first event produced to the last one stored.
collector_start bench
wait_until 60 grep -q "assigned" "$T/collector-bench.log" || { echo "collector did not join"; exit 1; }
t0=$(now_ms)
"$BIN" produce "$T/events.jsonl" >"$T/produce.log" 2>&1 &
PROD=$!
PEAK=0
FIRST=""
while :; do
	c=$(q "select coalesce(sum(calls), 0) from rollup_hourly")
	r=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' /proc/$COLLECTOR_PID/status 2>/dev/null)
	[ -n "$r" ] && [ "$r" -gt "$PEAK" ] && PEAK=$r
	[ -z "$FIRST" ] && [ "$c" -gt 0 ] && { FIRST=$(now_ms); FIRST_N=$c; }
	[ "$c" -ge "$N" ] && break
	kill -0 "$COLLECTOR_PID" 2>/dev/null || { echo "collector died"; tail "$T/collector-bench.log"; exit 1; }
	sleep 0.2
done
t1=$(now_ms)
wait "$PROD" || { cat "$T/produce.log"; exit 1; }
echo "produced and stored $N events ($((SIZE / N)) bytes each)"
INGEST_MS=$((t1 - t0))
INGEST=$(rate "$N" "$INGEST_MS")
STEADY_MS=$((t1 - FIRST))
STEADY=$(rate "$((N - FIRST_N))" "$STEADY_MS")
kill -TERM "$COLLECTOR_PID"; wait "$COLLECTOR_PID"
[ "$(q 'select count(*) from calls')" = "$N" ] || { echo "ledger does not hold $N calls"; exit 1; }

# The ceiling: the same rows, COPYed straight into an identical table.
psql "$TALLY_DATABASE_URL" -XAtq -c "\\copy (SELECT * FROM calls) TO '$T/rows.copy'"
q "CREATE TABLE bench_copy (LIKE calls INCLUDING ALL) PARTITION BY RANGE (ts)" >/dev/null
q "CREATE TABLE bench_copy_m PARTITION OF bench_copy FOR VALUES FROM ('2026-11-01') TO ('2026-12-01')" >/dev/null
t0=$(now_ms)
psql "$TALLY_DATABASE_URL" -XAtq -c "\\copy bench_copy FROM '$T/rows.copy'" >/dev/null
t1=$(now_ms)
COPY_MS=$((t1 - t0))
COPY=$(rate "$N" "$COPY_MS")

# The naive loop: one INSERT per event, each its own transaction.
q "CREATE TABLE bench_naive (LIKE calls INCLUDING ALL)" >/dev/null
psql "$TALLY_DATABASE_URL" -XAtq -c "\\copy (SELECT format('INSERT INTO bench_naive SELECT * FROM json_populate_record(NULL::bench_naive, %L);', row_to_json(c)) FROM calls c LIMIT $NAIVE) TO '$T/naive.sql'"
t0=$(now_ms)
psql "$TALLY_DATABASE_URL" -XAtq -f "$T/naive.sql" >/dev/null
t1=$(now_ms)
NAIVE_MS=$((t1 - t0))
NAIVE_RATE=$(rate "$NAIVE" "$NAIVE_MS")

echo
echo "tally ingestion, whole process, one collector, $(nproc) cores:"
printf "  %-52s %10s events/s  (%d ms)\n" "produced -> Kafka -> parse -> price -> ledger ($N)" "$INGEST" "$INGEST_MS"
printf "  %-52s %10s events/s  (%d ms)\n" "  the same, from the first batch stored" "$STEADY" "$STEADY_MS"
printf "  %-52s %10s rows/s    (%d ms)\n" "ceiling: plain COPY of the same rows" "$COPY" "$COPY_MS"
printf "  %-52s %10s rows/s    (%d ms, %d rows)\n" "baseline: one INSERT per event" "$NAIVE_RATE" "$NAIVE_MS" "$NAIVE"
printf "  %-52s %10s\n" "ingestion / COPY ceiling" "$(awk -v a="$INGEST" -v b="$COPY" 'BEGIN { printf "%.0f%%", 100 * a / b }')"
printf "  %-52s %10s\n" "from the first batch / COPY ceiling" "$(awk -v a="$STEADY" -v b="$COPY" 'BEGIN { printf "%.0f%%", 100 * a / b }')"
printf "  %-52s %10s\n" "ingestion / naive loop" "$(awk -v a="$INGEST" -v b="$NAIVE_RATE" 'BEGIN { printf "%.1fx", a / b }')"
printf "  %-52s %10s\n" "collector peak RSS" "$((PEAK / 1024)) MB"
t_done
