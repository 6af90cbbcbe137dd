# test_group.sh - two collectors in one consumer group split the partitions;
# one is killed with -9 mid-stream; still exactly once.
. tests/lib.sh
G=tests/integration/gen_calls.sh
E=tests/integration/expect_cost.sh

pg_start || exit 1
kafka_start 16 || exit 1
"$BIN" migrate >/dev/null && "$BIN" prices import data/litellm_model_prices.json >/dev/null || exit 1

collector_start a
A=$COLLECTOR_PID
collector_start b
B=$COLLECTOR_PID
wait_until 30 grep -q "assigned" "$T/collector-b.log"
N=80000
sh $G 0 $N g | "$BIN" produce >"$T/produce.log" 2>&1 &
PROD=$!
wait_until 60 sh -c "grep -q 'assigned [0-9]' '$T/collector-a.log' && grep -q 'assigned [0-9]' '$T/collector-b.log'"
assert_eq "both collectors got partitions" 0 $?
sleep 1
kill -9 "$A"
wait "$PROD"
wait_calls $N 180
sleep 1
assert_eq "one of two killed: every event stored once" "$N" "$(q 'select count(*) from calls')"
assert_eq "one of two killed: no duplicates" "0" "$(status_field duplicates)"
assert_eq "one of two killed: exact cost" "$(sh $E 0 $N)" "$(q 'select sum(cost_pusd) from calls')"
assert_eq "survivor took over all partitions" 0 \
	"$(q "select count(*) from kafka_offsets where topic='llm.calls' and next_offset = 0")"
S=$("$BIN" status --format json)
assert_match "status shows per-partition lag" '"lag":0' "$S"
assert_eq "no partition lags behind" 0 "$(echo "$S" | grep -o '"lag":[1-9][0-9]*' | wc -l)"
kill -TERM "$B"
wait "$B"
assert_eq "survivor exits 0 on SIGTERM" 0 $?
t_done
