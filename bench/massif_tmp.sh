cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
N=${N:-60000}
pg_start || exit 1
"$BIN" migrate >/dev/null && "$BIN" prices import data/litellm_model_prices.json >/dev/null && "$BIN" prices import --format csv data/local_prices.csv >/dev/null || exit 1
kafka_start 64 || exit 1
sh bench/gen_traffic.sh live "$N" >"$T/live.jsonl"
"$BIN" produce "$T/live.jsonl" >/dev/null 2>&1 || exit 1
valgrind --tool=massif --massif-out-file=/tmp/massif.out --max-snapshots=200 "$BIN" collect >"$T/c.log" 2>&1 &
P=$!
wait_until 900 sh -c "[ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c 'select count(*) from calls')\" -ge $N ]"
kill -TERM $P; wait $P
echo stored $(q 'select count(*) from calls')
