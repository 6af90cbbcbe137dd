#!/bin/sh
# bench/reports.sh - chargeback and the FOCUS export over a month of
# BENCH_REPORT_CALLS (default 10,000,000) calls generated straight into
# PostgreSQL with generate_series, then their rollups by `tally rollups
# merge` (what the collector does when it catches up). Prints seconds and peak memory of each
# command. Targets (issue 4, 2 cores): chargeback <= 1 s from the rollups;
# the month's FOCUS export <= 10 s in < 100 MB.
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
N=${BENCH_REPORT_CALLS:-10000000}
export PG_FSYNC=off PG_EXTRA="-c shared_buffers=512MB -c max_wal_size=4GB -c work_mem=256MB"

pg_start || exit 1
"$BIN" migrate >/dev/null || exit 1
printf 'provider,model,tier,input,output,cache_read,cache_write,reasoning,batch_input,batch_output,threshold_tokens,above_input,above_output,above_cache_read,above_cache_write\nbench,m-small,small,0.15,0.60,0.075,,,0.075,0.30,,,,,\nbench,m-large,large,3.00,15.00,0.30,3.75,,,,200000,6.00,22.50,,\n' >"$T/prices.csv"
"$BIN" prices import "$T/prices.csv" --effective-from 2026-10-01 >/dev/null || exit 1

echo "generating $N calls for 2026-11 in PostgreSQL..."
t0=$(date +%s%3N)
psql "$TALLY_DATABASE_URL" -XAtq -v ON_ERROR_STOP=1 >/dev/null <<SQL || exit 1
SELECT tally_ensure_month('2026-11-01T00:00:00Z');
ALTER TABLE calls_2026_11 SET (autovacuum_enabled = off);
INSERT INTO calls (event_id, ts, team, workflow, task_type, provider, model, tier,
	input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,
	usage_shape, batch, cache_hit, local, status, cost_pusd, price_version,
	components, tags)
SELECT 'b-' || i, timestamptz '2026-11-01T00:00:00Z' + (i % 2592000) * interval '1 second',
	'team-' || (i % 20), 'wf-' || (i % 50), 'task-' || (i % 12), 'bench',
	CASE WHEN i % 4 = 0 THEN 'm-large' ELSE 'm-small' END,
	CASE WHEN i % 4 = 0 THEN 'large' ELSE 'small' END,
	1000 + i % 500, 100 + i % 50, (i % 3) * 100, 0, 0, 'tally', false, false, false,
	CASE WHEN i % 50 = 0 THEN 'error' ELSE 'ok' END,
	CASE WHEN i % 4 = 0
		THEN (1000 + i % 500 - (i % 3) * 100) * 3000000 + (i % 3) * 100 * 300000 + (100 + i % 50) * 15000000
		ELSE (1000 + i % 500 - (i % 3) * 100) * 150000 + (i % 3) * 100 * 75000 + (100 + i % 50) * 600000 END,
	(SELECT price_version FROM price_book WHERE model = CASE WHEN i % 4 = 0 THEN 'm-large' ELSE 'm-small' END),
	-- the components the pricer stores (calls.components, migration 0018: what
	-- the FOCUS export sums), and a tag of 8 values on a third of the calls
	concat_ws(' ',
		'input:' || (1000 + i % 500 - (i % 3) * 100) || ':' || ((1000 + i % 500 - (i % 3) * 100) * CASE WHEN i % 4 = 0 THEN 3000000 ELSE 150000 END) || ':' || ((1000 + i % 500 - (i % 3) * 100) * CASE WHEN i % 4 = 0 THEN 3000000 ELSE 150000 END),
		CASE WHEN i % 3 <> 0 THEN 'cache_read:' || ((i % 3) * 100) || ':' || ((i % 3) * 100 * CASE WHEN i % 4 = 0 THEN 300000 ELSE 75000 END) || ':' || ((i % 3) * 100 * CASE WHEN i % 4 = 0 THEN 300000 ELSE 75000 END) END,
		'output:' || (100 + i % 50) || ':' || ((100 + i % 50) * CASE WHEN i % 4 = 0 THEN 15000000 ELSE 600000 END) || ':' || ((100 + i % 50) * CASE WHEN i % 4 = 0 THEN 15000000 ELSE 600000 END)),
	CASE WHEN i % 3 = 0 THEN jsonb_build_object('env', 'env-' || (i % 8)) END
FROM generate_series(1::bigint, $N) i;
INSERT INTO cost_centers (cost_center) SELECT 'CC-' || c FROM generate_series(0, 3) c;
INSERT INTO teams (team, cost_center) SELECT 'team-' || t, CASE WHEN t < 15 THEN 'CC-' || (t % 4) END
	FROM generate_series(0, 19) t ON CONFLICT (team) DO UPDATE SET cost_center = EXCLUDED.cost_center;
VACUUM ANALYZE calls_2026_11;
SQL
"$BIN" rollups merge >/dev/null || exit 1
for t in rollup_hourly rollup_daily rollup_tags_hourly; do
	q "VACUUM ANALYZE ${t}_merged" >/dev/null
done
t1=$(date +%s%3N)
echo "generated in $(((t1 - t0) / 1000)) s"

# run NAME CMD... - wall seconds and peak RSS of the tally process
run() {
	name=$1
	shift
	/usr/bin/time -f '%e %M' -o "$T/time" "$@" >"$T/out" 2>"$T/err" || { echo "$name failed"; cat "$T/err"; exit 1; }
	set -- $(cat "$T/time")
	printf "  %-44s %8s s  peak RSS %6d MB\n" "$name" "$1" $(($2 / 1024))
}
echo
echo "reports over $N calls (one month), $(nproc) cores:"
run "chargeback --month 2026-11 (rollups)" "$BIN" report chargeback --month 2026-11
run "chargeback --share-unassigned proportional" "$BIN" report chargeback --month 2026-11 --share-unassigned proportional
run "spend --group-by team (rollups)" "$BIN" report spend --from 2026-11-01 --to 2026-12-01 --group-by team
TOTAL=$(sed -n 's/.*"total":{[^}]*"cost_usd":"\([0-9.]*\)".*/\1/p' "$T/out")
"$BIN" report spend --from 2026-11-01 --to 2026-12-01 --group-by team --format json >"$T/spend.json"
TOTAL=$(sed -n 's/.*"total":{[^}]*"cost_usd":"\([0-9.]*\)".*/\1/p' "$T/spend.json")
run "export focus (day) -> file" "$BIN" export focus --from 2026-11-01 --to 2026-12-01 -o "$T/focus.csv"
echo "  FOCUS rows: $(($(wc -l <"$T/focus.csv") - 1)), $(($(wc -c <"$T/focus.csv") / 1048576)) MB"
FSUM=$(python3 -c 'import csv,sys,decimal
print(sum((decimal.Decimal(r["BilledCost"]) for r in csv.DictReader(open(sys.argv[1]))), decimal.Decimal(0)))' "$T/focus.csv")
[ "$FSUM" = "$TOTAL" ] && echo "  ΣBilledCost = spend total = $TOTAL (exact)" || { echo "  MISMATCH: FOCUS $FSUM vs spend $TOTAL"; exit 1; }
run "export focus (hour) -> file" "$BIN" export focus --from 2026-11-01 --to 2026-12-01 --granularity hour -o "$T/focus-h.csv"
echo "  FOCUS hourly rows: $(($(wc -l <"$T/focus-h.csv") - 1))"
t_done
