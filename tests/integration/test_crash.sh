# test_crash.sh - exactly once through kill -9 of the collector, through
# PostgreSQL stopping mid-stream, and through the broker going down.
. tests/lib.sh
G=tests/integration/gen_calls.sh
E=tests/integration/expect_cost.sh

pg_start || exit 1
kafka_start 16 || exit 1
"$BIN" migrate >/dev/null && "$BIN" prices import data/litellm_model_prices.json >/dev/null || exit 1

# Phase 1: kill -9 the collector again and again while it consumes.
N=0
for round in 1 2 3 4 5 6; do
	sh $G $N 15000 | "$BIN" produce >>"$T/produce.log" 2>&1 &
	PROD=$!
	collector_start crash
	sleep "0.$((3 + round))"
	kill -9 "$COLLECTOR_PID"
	wait "$PROD"
	N=$((N + 15000))
done
collector_start crash
wait_calls $N 120
sleep 1
assert_eq "kill -9 x6: every event stored once" "$N" "$(q 'select count(*) from calls')"
assert_eq "kill -9 x6: no event counted twice" "0" "$(status_field duplicates)"
assert_eq "kill -9 x6: exact cost" "$(sh $E 0 $N)" "$(q 'select sum(cost_pusd) from calls')"
assert_eq "kill -9 x6: rollups agree" "$(q 'select sum(cost_pusd) from calls')" "$(q 'select sum(cost_pusd) from rollup_hourly')"
assert_eq "kill -9 x6: stored offsets cover every message" "$N" "$(q "select sum(next_offset) from kafka_offsets where topic='llm.calls'")"
assert_match "seven collector lifetimes each resumed from stored offsets" "^([7-9]|[1-9][0-9])$" "$(grep -c "resuming from stored offsets" "$T/collector-crash.log")"

# Phase 2: PostgreSQL stops hard mid-stream and comes back.
sh $G $N 40000 | "$BIN" produce >>"$T/produce.log" 2>&1 &
PROD=$!
sleep 0.7
$RUNAS "$PGBIN/pg_ctl" -D "$T/pg" -m immediate stop >/dev/null
sleep 3
kill -0 "$COLLECTOR_PID"
assert_eq "collector survives the database going away" 0 $?
pg_start
wait "$PROD"
N=$((N + 40000))
wait_calls $N 120
sleep 1
assert_eq "database restart: every event stored once" "$N" "$(q 'select count(*) from calls')"
assert_eq "database restart: exact cost" "$(sh $E 0 $N)" "$(q 'select sum(cost_pusd) from calls')"
assert_match "collector logged the outage and retried" "retrying" "$(cat "$T/collector-crash.log")"

# Phase 3: the broker goes down (mock cluster API) and comes back.
sh $G $N 20000 | "$BIN" produce >>"$T/produce.log" 2>&1
kill -USR1 "$KAFKA_PID"
sleep 3
kill -USR2 "$KAFKA_PID"
N=$((N + 20000))
wait_calls $N 120
sleep 1
assert_eq "broker down and up: every event stored once" "$N" "$(q 'select count(*) from calls')"
assert_eq "broker down and up: exact cost" "$(sh $E 0 $N)" "$(q 'select sum(cost_pusd) from calls')"
assert_eq "no duplicates anywhere" "0" "$(status_field duplicates)"
kill -TERM "$COLLECTOR_PID"
wait "$COLLECTOR_PID"
assert_eq "collector exits 0 on SIGTERM" 0 $?
t_done
