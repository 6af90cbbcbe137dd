# test_restart.sh - issue 9: `tally up` stopped and started again on the same
# data dir. The embedded Kafka starts empty (a new cluster, offsets from 0)
# while the ledger keeps the first run's offsets: every call produced after
# the restart, over Kafka and over HTTP, is stored exactly once, lag is
# measured against the new cluster, and the consumed offsets are committed
# to Kafka for the usual lag tools.
. tests/lib.sh
G=tests/integration/gen_calls.sh

export TALLY_HTTP_ADDR="127.0.0.1:$(test_port)"

# up_start NAME - `tally up` in the background; loads its endpoints.
up_start() {
	unset TALLY_DATABASE_URL TALLY_KAFKA_BROKERS
	rm -f "$TALLY_DATA_DIR/endpoints.env"
	"$BIN" up >"$T/up-$1.out" 2>"$T/up-$1.log" &
	UP=$!
	PIDS="$PIDS $UP"
	wait_until 90 test -f "$TALLY_DATA_DIR/endpoints.env" || { echo "tally up did not start"; return 1; }
	. "$TALLY_DATA_DIR/endpoints.env"
	export TALLY_DATABASE_URL TALLY_KAFKA_BROKERS TALLY_HTTP_URL
	wait_until 30 grep -q "assigned [0-9]* partitions" "$T/up-$1.log"
}

# post FROM N PREFIX - N calls over HTTP; prints the HTTP status.
post() {
	sh $G "$1" "$2" "$3" >"$T/post.jsonl"
	curl -s -o "$T/post.out" -w '%{http_code}' -X POST -H "Authorization: Bearer $TOKEN" \
		--data-binary @"$T/post.jsonl" "${TALLY_HTTP_URL}api/v1/events"
}

calls() { q 'select count(*) from calls'; }
status_json() { "$BIN" status --format json 2>/dev/null; }
lagging() { status_json | grep -o '"lag":[1-9][0-9]*' | wc -l; }
committed() { status_json | sed -n 's/.*"kafka_committed_offsets":\([0-9]*\).*/\1/p'; }

# ---- first run: calls over Kafka and HTTP ------------------------------------
up_start 1 || exit 1
TOKEN=$("$BIN" keys create --role admin | tail -n 1)
N1=4000
H1=200
sh $G 0 $N1 kafka1 | "$BIN" produce >"$T/produce1.log" 2>&1
assert_eq "first run: HTTP events answered 202" 202 "$(post 0 $H1 http1)"
wait_calls $((N1 + H1)) 60
assert_eq "first run: every call stored" $((N1 + H1)) "$(calls)"
C1=$(status_json | sed -n 's/.*"kafka_cluster_id":"\([^"]*\)".*/\1/p')
assert_match "status names the embedded cluster" '.' "$C1"
wait_until 20 sh -c "[ \"\$(\"$BIN\" status --format json | sed -n 's/.*\"kafka_committed_offsets\":\([0-9]*\).*/\1/p')\" = $((N1 + H1)) ]"
assert_eq "first run: consumed offsets committed to Kafka (what lag tools read)" $((N1 + H1)) "$(committed)"
STORED1=$(q "select sum(next_offset) from kafka_offsets where topic = 'llm.calls'")
kill -TERM "$UP"
wait "$UP"
assert_eq "first run stops cleanly" 0 $?

# ---- second run on the same data dir: a fresh embedded Kafka -----------------
up_start 2 || exit 1
C2=$(status_json | sed -n 's/.*"kafka_cluster_id":"\([^"]*\)".*/\1/p')
assert_match "the restarted embedded Kafka is another cluster" "^.+$" "$C2"
[ "$C1" != "$C2" ] && ok "cluster ids differ across restarts ($C1, $C2)" || not_ok "cluster ids differ across restarts ($C1, $C2)"
N2=400
H2=50
sh $G 100000 $N2 kafka2 | "$BIN" produce >"$T/produce2.log" 2>&1
assert_eq "second run: HTTP events answered 202" 202 "$(post 100000 $H2 http2)"
wait_calls $((N1 + H1 + N2 + H2)) 60
sleep 1
assert_eq "after restart: every call stored exactly once" $((N1 + H1 + N2 + H2)) "$(calls)"
assert_eq "after restart: the new run's Kafka calls are all there" $N2 \
	"$(q "select count(*) from calls where event_id like 'kafka2-%'")"
assert_eq "after restart: the new run's HTTP calls are all there" $H2 \
	"$(q "select count(*) from calls where event_id like 'http2-%'")"
assert_eq "after restart: no duplicates" 0 "$(status_field duplicates)"
assert_eq "first run's offsets kept under their cluster" "$STORED1" \
	"$(q "select sum(next_offset) from kafka_offsets where topic = 'llm.calls' and cluster_id = '$C1'")"
assert_eq "second run's offsets stored under the new cluster" $((N2 + H2)) \
	"$(q "select sum(next_offset) from kafka_offsets where topic = 'llm.calls' and cluster_id = '$C2'")"
assert_eq "status: no partition lags" 0 "$(lagging)"
assert_match "status: the first run's offsets are set aside" '"other_cluster_offsets":[1-9]' "$(status_json)"
wait_until 20 sh -c "[ \"\$(\"$BIN\" status --format json | sed -n 's/.*\"kafka_committed_offsets\":\([0-9]*\).*/\1/p')\" = $((N2 + H2)) ]"
assert_eq "second run: offsets committed to the new cluster" $((N2 + H2)) "$(committed)"
M=$(curl -s "${TALLY_HTTP_URL}metrics")
assert_match "/metrics: lag per partition from the broker" 'tally_partition_lag\{topic="llm.calls",partition="0"\} 0' "$M"
assert_match "/metrics: no offset reset was needed" 'tally_offset_resets_total 0' "$M"
assert_eq "no message skipped as already stored" "" "$(echo "$M" | grep '^tally_redelivered_total [1-9]')"
echo "$M" >"$T/metrics.prom"
assert_match "/metrics passes the strict exposition parser" '^ok: [0-9]+ samples' \
	"$(python3 tests/integration/promcheck.py "$T/metrics.prom")"
kill -TERM "$UP"
wait "$UP"
assert_eq "second run stops cleanly" 0 $?
t_done
