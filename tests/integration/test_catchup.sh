# test_catchup.sh - a backlog read from brokers across a slow network is
# read as one backlog. Each broker of the embedded cluster answers every
# request a second late (`tally dev-kafka --rtt 1000`), and the backlog comes
# in more than one fetch a partition (librdkafka fetches at most 1 MB of a
# partition at a time), so the collector's polls come back empty between two
# fetches while the broker still holds most of it. The collector must not
# take such a pause for "caught up": that sums the rollups in the middle of
# the backlog (seconds in which nothing is stored, on a large ledger). It
# sums them once, after the last call is stored, and the figures are exact.
# (Waking the fetchers when the prefetch queue runs low, collector.c
# wake_fetchers, runs here too; its gain is measured by bench/run.sh.)
. tests/lib.sh
G=tests/integration/gen_calls.sh

pg_start || exit 1
"$BIN" migrate >/dev/null && "$BIN" prices import data/litellm_model_prices.json >/dev/null ||
	{ echo "cannot prepare the ledger"; exit 1; }
kafka_start 4 --rtt 1000 || exit 1
assert_match "the embedded cluster answers 1 s late" "answered after 1000 ms" "$(cat "$T/kafka.log")"

# 16,000 calls in 4 partitions: ~1.4 MB a partition, two fetches each.
sh "$G" 0 16000 slow >"$T/slow.jsonl"
"$BIN" produce "$T/slow.jsonl" >"$T/produce.log" 2>&1
assert_eq "tally produce delivers the backlog across the slow network" 0 $?

TALLY_LOG_LEVEL=debug collector_start slow
wait_until 120 sh -c "[ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c 'select count(*) from calls')\" -ge 16000 ]"
assert_eq "every call of the backlog stored" 16000 "$(q 'select count(*) from calls')"
wait_until 30 sh -c "[ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c 'select count(*) from rollup_queue')\" = 0 ]"
L="$T/collector-slow.log"
# The scenario happened: a poll came back empty while the broker still held
# messages of the backlog.
assert_match "polls came back empty in the middle of the backlog (logged, not taken for caught up)" \
	"a poll brought nothing, [0-9]+ messages still to fetch: not caught up" "$(cat "$L")"
last_batch=$(grep -n 'batch stored: [1-9][0-9]* calls' "$L" | tail -n 1 | cut -d: -f1)
first_roll=$(grep -n 'rollups summed' "$L" | head -n 1 | cut -d: -f1)
assert_eq "the rollups summed once for the whole backlog" 1 "$(grep -c 'rollups summed' "$L")"
assert_eq "and only after its last batch was stored (never in the middle of it)" 1 \
	"$([ -n "$first_roll" ] && [ "$first_roll" -gt "$last_batch" ] && echo 1)"
assert_match "the roll was the caught-up one" "rollups summed \(caught up\): [0-9]+ transactions, 16000 calls" \
	"$(grep 'rollups summed' "$L")"
assert_eq "rollups agree with the calls" 0 "$(rollups_mismatch)"
assert_eq "the backlog's cost: 16,000 calls at gpt-4o-mini's list rates" \
	"$(awk 'BEGIN { for (i = 0; i < 16000; i++) s += (100 + i % 50) * 150000 + (10 + i % 20) * 600000; printf "%.0f", s }')" \
	"$(q 'select sum(cost_pusd) from rollup_hourly')"
kill -TERM "$COLLECTOR_PID"
wait "$COLLECTOR_PID"
assert_eq "the collector exits 0 on SIGTERM" 0 $?
# While the queue of fetched messages ran low in the backlog, the collector
# woke the fetchers (a request to the partitions' leaders); slow brokers
# made it back off rather than queue requests before their fetches.
assert_match "the fetchers were woken while the backlog waited at the brokers" \
	"woke the fetchers [1-9][0-9]* times" "$(cat "$L")"
t_done
