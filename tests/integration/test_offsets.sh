# test_offsets.sh - issue 9: stored offsets belong to one Kafka cluster and
# one incarnation of each topic.
#  0. offsets stored before migration 0008 (no cluster) are never used to skip;
#  1. a collector pointed at a second cluster with the same group and topics
#     reads it from the start (the first cluster's offsets are not used);
#  2. a topic recreated while the collector is stopped (simulated: the mock
#     cluster of librdkafka 2.0.2 cannot delete a topic, so the ledger is put
#     in the state a recreation leaves, stored offsets beyond the partitions'
#     end): status shows the lag and the impossible offsets, the collector
#     logs one ERROR per partition, records it, and stores every new call;
#  3. the same under a running collector (messages it skipped as "already
#     stored" are read again), and when the broker answers its fetch "offset
#     out of range" (mock cluster API), as it does after a recreation;
#  4. retention deleted messages before they were stored (stored offset below
#     the low watermark; the mock really drops the oldest beyond ~5 MB): one
#     ERROR naming what was lost, and everything Kafka still holds is stored.
. tests/lib.sh
G=tests/integration/gen_calls.sh

pg_start || exit 1

# ---- 0. a ledger from before offsets named their cluster ------------------------
# Migrations 0001-0007 as an earlier tally applied them, with the offsets an
# earlier collector stored (far ahead of anything the new cluster holds).
q "create table schema_migrations (version integer primary key, name text not null, applied_at timestamptz not null default now())" >/dev/null
for f in migrations/000[1-7]_*.sql; do
	psql "$TALLY_DATABASE_URL" -XAtq -v ON_ERROR_STOP=1 -1 -f "$f" >/dev/null || { echo "cannot apply $f"; exit 1; }
	q "insert into schema_migrations (version, name) values ($(basename "$f" | sed 's/_.*//; s/^0*//'), '$(basename "$f")')" >/dev/null
done
q "insert into kafka_offsets (consumer_group, topic, kafka_partition, next_offset) select 'tally-collector', 'llm.calls', p, 999999 from generate_series(0, 15) p" >/dev/null
"$BIN" migrate >"$T/migrate.log" 2>&1
assert_eq "an existing ledger migrates forward" 0 $?
assert_eq "offsets stored before 0008 belong to no known cluster" "16|" \
	"$(q "select count(*), min(cluster_id) from kafka_offsets")"
calls() { q 'select count(*) from calls'; }
cluster() { "$BIN" status --format json 2>/dev/null | sed -n 's/.*"kafka_cluster_id":"\([^"]*\)".*/\1/p'; }
resets() { q "select count(*) from kafka_offset_resets"; }

# ---- 1. a second cluster, same group and topics -------------------------------
kafka_start 16 || exit 1
KA=$KAFKA_PID
collector_start a
N=3000
sh $G 0 $N one | "$BIN" produce >/dev/null 2>&1
wait_calls $N 60
CA=$(cluster)
kill -TERM "$COLLECTOR_PID"
wait "$COLLECTOR_PID"
kill -TERM "$KA"
wait "$KA" 2>/dev/null
kafka_start 16 || exit 1
CB=$(cluster)
[ -n "$CA" ] && [ -n "$CB" ] && [ "$CA" != "$CB" ] && ok "two clusters, two ids ($CA, $CB)" || not_ok "two clusters, two ids ($CA, $CB)"
collector_start b
M=300
sh $G 10000 $M two | "$BIN" produce >/dev/null 2>&1
wait_calls $((N + M)) 60
sleep 1
assert_eq "second cluster: every call of it stored" $M "$(q "select count(*) from calls where event_id like 'two-%'")"
assert_eq "second cluster: nothing stored twice" $((N + M)) "$(calls)"
assert_eq "offsets from before 0008 did not make the first cluster skip anything" $N \
	"$(q "select count(*) from calls where event_id like 'one-%'")"
assert_eq "each cluster keeps its own offsets" "$N|$M" \
	"$(q "select (select sum(next_offset) from kafka_offsets where cluster_id = '$CA' and topic = 'llm.calls'), (select sum(next_offset) from kafka_offsets where cluster_id = '$CB' and topic = 'llm.calls')")"
assert_eq "a new cluster is not an error" 0 "$(resets)"
assert_eq "a new cluster logs no ERROR" 0 "$(grep -c ERROR "$T/collector-b.log")"

# ---- 2. topic recreated while the collector is stopped --------------------------
kill -TERM "$COLLECTOR_PID"
wait "$COLLECTOR_PID"
q "update kafka_offsets set next_offset = next_offset + 1000000 where cluster_id = '$CB' and topic = 'llm.calls'" >/dev/null
S=$("$BIN" status --format json)
assert_eq "status: lag counts every message of the recreated topic" $M \
	"$(echo "$S" | grep -o '"topic":"llm.calls","partition":[0-9]*,"offset":[0-9]*,"lag":[0-9]*' | sed 's/.*"lag"://' | awk '{s += $1} END {print s}')"
assert_match "status: the impossible stored offsets are listed" '"offsets_out_of_range":\[\{"topic":"llm.calls","partition":[0-9]+,"stored":10[0-9]{5},"low":0,"high":[0-9]+\}' "$S"
"$BIN" status >"$T/status.txt" 2>"$T/status.err"
assert_match "status (table) flags them" 'OUT OF RANGE' "$(cat "$T/status.txt")"
assert_match "status (table) says what happens" 'outside the broker' "$(cat "$T/status.err")"
M2=200
sh $G 20000 $M2 three | "$BIN" produce >/dev/null 2>&1
P=$(q "select count(*) from kafka_offsets where cluster_id = '$CB' and topic = 'llm.calls'")
collector_start c
wait_calls $((N + M + M2)) 60
sleep 1
assert_eq "recreated topic: every new call stored" $M2 "$(q "select count(*) from calls where event_id like 'three-%'")"
assert_eq "recreated topic: nothing stored twice" $((N + M + M2)) "$(calls)"
assert_eq "one ERROR per partition with an impossible offset" "$P" \
	"$(grep -cE 'ERROR.*llm\.calls\[[0-9]+\]: stored offset 10[0-9]{5} is not in the broker.s offsets 0\.\.[0-9]+ \(cluster .*read the partition again from offset 0' "$T/collector-c.log")"
assert_eq "each recorded in the ledger" "$P" "$(resets)"
S=$("$BIN" status --format json)
assert_match "status counts the resets" "\"offset_resets\":$P," "$S"
assert_match "status tells the last one" '"last_offset_reset":"[0-9T:Z-]+ llm\.calls\[[0-9]+\]: stored offset 10[0-9]{5}, broker offsets 0\.\.[0-9]+' "$S"
assert_match "status: nothing out of range any more" '"offsets_out_of_range":\[\]' "$S"
assert_eq "status: no lag" 0 "$(echo "$S" | grep -o '"lag":[1-9][0-9]*' | wc -l)"

# ---- 3. the same under a running collector --------------------------------------
R0=$(resets)
q "update kafka_offsets set next_offset = next_offset + 1000000 where cluster_id = '$CB' and topic = 'llm.calls'" >/dev/null
M3=250
sh $G 30000 $M3 four | "$BIN" produce >/dev/null 2>&1
wait_calls $((N + M + M2 + M3)) 60
sleep 1
assert_eq "running collector: every call stored after the recreation" $M3 "$(q "select count(*) from calls where event_id like 'four-%'")"
assert_eq "running collector: nothing stored twice" $((N + M + M2 + M3)) "$(calls)"
assert_eq "running collector: each impossible offset logged and recorded" "$P" "$(($(resets) - R0))"

# ---- 3b. the broker answers "offset out of range" to a running collector ------
# What a running collector hears when its topic is recreated under it: its
# next fetch is out of range (mock cluster API: the next Fetch is answered
# OFFSET_OUT_OF_RANGE for every partition; the ledger is put beyond the end as
# the recreation would leave it). No new message arrives first, so only the
# out-of-range answer can reveal it.
R0=$(resets)
D0=$(status_field duplicates)
errors_p0() { grep -cE 'ERROR.*llm\.calls\[0\]: stored offset 10[0-9]{5} is not in the broker.s offsets 0\.\.[0-9]+' "$T/collector-c.log"; }
E0=$(errors_p0)
q "update kafka_offsets set next_offset = next_offset + 1000000 where cluster_id = '$CB' and topic = 'llm.calls'" >/dev/null
kill -HUP "$KAFKA_PID"
wait_until 30 sh -c "[ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c 'select count(*) from kafka_offset_resets')\" -ge $((R0 + P)) ]"
assert_eq "out-of-range answer: each impossible offset logged and recorded" "$P" "$(($(resets) - R0))"
assert_eq "out-of-range answer: one more ERROR names partition 0's stored and broker offsets" $((E0 + 1)) "$(errors_p0)"
assert_match "out-of-range answer: the refusal is logged" 'the broker refused offset [0-9]+ as out of range' "$(cat "$T/collector-c.log")"
M4=150
sh $G 40000 $M4 five | "$BIN" produce >/dev/null 2>&1
wait_calls $((N + M + M2 + M3 + M4)) 60
# until the partitions are read again to their end
wait_until 60 sh -c "[ \"\$(\"$BIN\" status --format json | grep -o '\"lag\":[1-9][0-9]*' | wc -l)\" = 0 ]"
sleep 1
assert_eq "out-of-range answer: every later call stored" $M4 "$(q "select count(*) from calls where event_id like 'five-%'")"
assert_eq "out-of-range answer: nothing stored twice" $((N + M + M2 + M3 + M4)) "$(calls)"
assert_eq "out-of-range answer: the partitions were read again (re-read calls are duplicates)" \
	$((M + M2 + M3)) "$(($(status_field duplicates) - D0))"
assert_eq "out-of-range answer: every partition is read on (no lag)" 0 \
	"$("$BIN" status --format json | grep -o '"lag":[1-9][0-9]*' | wc -l)"

# /metrics of a server on the same ledger and Kafka
serve_start || not_ok "tally serve answers"
MET=$(curl -s "$U/metrics")
assert_match "/metrics counts the resets" "tally_offset_resets_total $((P * 3))" "$MET"
assert_match "/metrics: per-partition out-of-range gauge" 'tally_partition_offset_out_of_range\{topic="llm.calls",partition="0"\} 0' "$MET"
kill -TERM "$SERVE_PID"
wait "$SERVE_PID"

# ---- 4. retention deleted messages before they were stored ----------------------
kill -TERM "$COLLECTOR_PID"
wait "$COLLECTOR_PID"
R0=$(resets)
PAD=$(head -c 900 /dev/zero | tr '\0' x)
awk -v pad="$PAD" 'BEGIN { for (i = 0; i < 6000; i++)
	printf "{\"event_id\":\"ret-%d\",\"ts\":\"2026-11-02T00:00:00Z\",\"team\":\"t\",\"workflow\":\"w\",\"task_type\":\"x\",\"provider\":\"openai\",\"model\":\"gpt-4o-mini\",\"usage\":{\"input_tokens\":1,\"output_tokens\":1},\"tags\":{\"pad\":\"%s\"}}\n", i, pad }' >"$T/ret.jsonl"
kcat -P -b "$TALLY_KAFKA_BROKERS" -t llm.calls -p 0 -z none -l "$T/ret.jsonl" 2>"$T/kcat.log"
LOW=$("$BIN" status --format json | grep -o '"offsets_out_of_range":\[[^]]*\]' | sed -n 's/.*"partition":0,"stored":[0-9]*,"low":\([0-9]*\).*/\1/p')
assert_match "retention: partition 0's stored offset is below the broker's first offset" '^[1-9][0-9]*$' "$LOW"
collector_start d
wait_until 60 sh -c "[ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c \"select count(*) from calls where event_id like 'ret-%'\")\" -gt 0 ]"
wait_until 60 sh -c "[ \"\$(\"$BIN\" status --format json | grep -o '\"lag\":[1-9][0-9]*' | wc -l)\" = 0 ]"
assert_eq "retention: one ERROR naming the lost messages" 1 \
	"$(grep -cE 'ERROR.*llm\.calls\[0\]: stored offset [0-9]+ is not in the broker.s offsets [0-9]+\.\.[0-9]+ .*messages [0-9]+ to [0-9]+ were deleted by retention' "$T/collector-d.log")"
assert_eq "retention: recorded" 1 "$(($(resets) - R0))"
H=$(q "select high_watermark - low_watermark from kafka_offset_resets order by id desc limit 1")
LOWR=$(q "select low_watermark from kafka_offset_resets order by id desc limit 1")
assert_eq "retention: everything Kafka still held is stored" "$H" \
	"$(q "select count(*) from calls where kafka_topic = 'llm.calls' and kafka_partition = 0 and kafka_offset >= $LOWR")"
kill -TERM "$COLLECTOR_PID"
wait "$COLLECTOR_PID"
assert_eq "collector exits 0" 0 $?
t_done
