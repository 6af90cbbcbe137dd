# test_crash.sh - exactly once through kill -9 of the collector, through
# PostgreSQL stopping mid-stream, and through the broker going down.
. tests/lib.sh
T_START=$(date +%s)
G=tests/integration/gen_calls.sh
E=tests/integration/expect_cost.sh

pg_start || exit 1
kafka_start 32 || exit 1
"$BIN" migrate >/dev/null && "$BIN" prices import data/litellm_model_prices.json >/dev/null || exit 1

echo "# Phase 1 started after $(($(date +%s) - T_START)) s"
# Phase 1: kill -9 the collector again and again while it consumes a
# backlog: each time as soon as it has stored something, so mid-stream.
N=200000
sh $G 0 $N >"$T/phase1.jsonl"
"$BIN" produce "$T/phase1.jsonl" >>"$T/produce.log" 2>&1 || exit 1
MID=0
for round in 1 2 3 4; do
	before=$(q 'select count(*) from calls')
	collector_start crash
	wait_until 60 sh -c "[ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c 'select count(*) from calls')\" -gt $before ]"
	kill -9 "$COLLECTOR_PID"
	wait "$COLLECTOR_PID" 2>/dev/null
	after=$(q 'select count(*) from calls')
	echo "# round $round: killed with $after of $N stored"
	[ "$after" -gt "$before" ] && [ "$after" -lt "$N" ] && MID=$((MID + 1))
done
assert_match "the collector was killed mid-stream (rounds)" "^[234]$" "$MID"
collector_start crash
wait_calls $N 120
sleep 1
assert_eq "kill -9 x4: every event stored once" "$N" "$(q 'select count(*) from calls')"
assert_eq "kill -9 x4: no event counted twice" "0" "$(status_field duplicates)"
assert_eq "kill -9 x4: exact cost" "$(sh $E 0 $N)" "$(q 'select sum(cost_pusd) from calls')"
assert_eq "kill -9 x4: hourly, daily and tag rollups agree with the calls row by row" 0 "$(rollups_mismatch)"
# ... and the rollups' own rows, once the collector has summed what the
# killed ones left queued (the views read queued calls from the calls)
wait_until 60 sh -c "[ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c 'select count(*) from rollup_queue')\" = 0 ]"
assert_eq "kill -9 x4: nothing left queued for the rollups once caught up" 0 "$(q 'select count(*) from rollup_queue')"
assert_eq "kill -9 x4: the rollups' own rows agree with the calls" 0 "$(rollups_mismatch)"
assert_eq "kill -9 x4: every call's stored components sum to its cost" 0 "$(components_mismatch)"
assert_eq "kill -9 x4: stored offsets cover every message" "$N" "$(q "select sum(next_offset) from kafka_offsets where topic='llm.calls'")"

echo "# Phase 1b started after $(($(date +%s) - T_START)) s"
# Phase 1b: the ledger drops the collector's sessions mid-stream, again and
# again. The writer stores consecutive batches in one transaction (a
# window) and releases each batch once it is in it: a window lost before
# its commit is read again from the ledger's offsets, and nothing of it was
# stored.
kill -STOP "$COLLECTOR_PID"
sh $G $N 120000 | "$BIN" produce >>"$T/produce.log" 2>&1
kill -CONT "$COLLECTOR_PID"
N=$((N + 120000))
DROPS=0
for round in 1 2 3; do
	before=$(q 'select count(*) from calls')
	[ "$before" -lt $N ] || break
	wait_until 60 sh -c "[ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c 'select count(*) from calls')\" -gt $before ]"
	sleep 0.$round
	# a session inside a window's transaction, one that has stored rows (the
	# writer between two windows is idle and would lose nothing; a roll of
	# the rollups loses nothing either: its calls stay queued)
	for try in $(seq 1 50); do
		k=$(q "select count(pg_terminate_backend(pid)) from pg_stat_activity
			where backend_type = 'client backend' and pid <> pg_backend_pid()
			and state <> 'idle' and backend_xid is not null
			and query not like 'WITH h AS (INSERT INTO rollup_hourly_merged%'")
		[ "$k" -gt 0 ] && break
		sleep 0.05
	done
	after=$(q 'select count(*) from calls')
	echo "# session drop $round with $after of $N stored"
	[ "$after" -lt $N ] && DROPS=$((DROPS + 1))
done
wait_calls $N 120
sleep 1
assert_match "sessions dropped mid-stream (drops)" "^[123]$" "$DROPS"
assert_match "sessions dropped: windows were lost and read again" "read again from the ledger's offsets" "$(cat "$T/collector-crash.log")"
assert_eq "sessions dropped: every event stored once" "$N" "$(q 'select count(*) from calls')"
assert_eq "sessions dropped: exact cost" "$(sh $E 0 $N)" "$(q 'select sum(cost_pusd) from calls')"
assert_eq "sessions dropped: no event counted twice" "0" "$(status_field duplicates)"
assert_eq "sessions dropped: rollups agree with the calls row by row" 0 "$(rollups_mismatch)"
assert_eq "sessions dropped: stored offsets cover every message" "$N" "$(q "select sum(next_offset) from kafka_offsets where topic='llm.calls'")"

echo "# Phase 2 started after $(($(date +%s) - T_START)) s"
# Phase 2: PostgreSQL stops hard while events wait for the collector, and
# comes back.
kill -STOP "$COLLECTOR_PID"
sh $G $N 40000 | "$BIN" produce >>"$T/produce.log" 2>&1
$RUNAS "$PGBIN/pg_ctl" -D "$T/pg" -m immediate stop >/dev/null
kill -CONT "$COLLECTOR_PID"
sleep 3
kill -0 "$COLLECTOR_PID"
assert_eq "collector survives the database going away" 0 $?
pg_start
N=$((N + 40000))
wait_calls $N 120
sleep 1
assert_eq "database restart: every event stored once" "$N" "$(q 'select count(*) from calls')"
assert_eq "database restart: exact cost" "$(sh $E 0 $N)" "$(q 'select sum(cost_pusd) from calls')"
assert_match "collector logged the outage and retried" "retrying" "$(cat "$T/collector-crash.log")"

echo "# Phase 3 started after $(($(date +%s) - T_START)) s"
# Phase 3: the broker goes down (mock cluster API) while events wait for
# the collector, and comes back.
before=$(q 'select count(*) from calls')
kill -STOP "$COLLECTOR_PID"
sh $G $N 20000 | "$BIN" produce >>"$T/produce.log" 2>&1
kill -USR1 "$KAFKA_PID"
sleep 1 # dev-kafka acts on the signal within 100 ms
kill -CONT "$COLLECTOR_PID"
sleep 3
assert_eq "broker down: nothing consumed while it is away" "$before" "$(q 'select count(*) from calls')"
kill -0 "$COLLECTOR_PID"
assert_eq "collector waits for the broker" 0 $?
kill -USR2 "$KAFKA_PID"
N=$((N + 20000))
wait_calls $N 120
sleep 1
assert_eq "broker down and up: every event stored once" "$N" "$(q 'select count(*) from calls')"
assert_eq "broker down and up: exact cost" "$(sh $E 0 $N)" "$(q 'select sum(cost_pusd) from calls')"
assert_eq "no duplicates anywhere" "0" "$(status_field duplicates)"
assert_eq "after every failure: all three rollups agree with the calls row by row" 0 "$(rollups_mismatch)"
kill -TERM "$COLLECTOR_PID"
wait "$COLLECTOR_PID"
assert_eq "collector exits 0 on SIGTERM" 0 $?
echo "# done after $(($(date +%s) - T_START)) s"
t_done
