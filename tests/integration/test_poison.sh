# test_poison.sh - a batch that PostgreSQL refuses because of one message's
# data: the collector writes that batch message by message, in offset order,
# quarantines the refused message with PostgreSQL's own error, stores every
# other message once, and keeps going. The refusal is PostgreSQL's: a
# trigger raises a data exception (SQLSTATE 22023) for calls of workflow
# "poison", as a value PostgreSQL cannot take would.
. tests/lib.sh

pg_start || exit 1
kafka_start 1 || exit 1
"$BIN" migrate >"$T/migrate.log" 2>&1 || { cat "$T/migrate.log"; exit 1; }
"$BIN" prices import data/litellm_model_prices.json >/dev/null || exit 1
q "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS \$\$
   BEGIN
     IF NEW.workflow = 'poison' THEN
       RAISE EXCEPTION 'workflow % is refused by the test', NEW.workflow
         USING ERRCODE = '22023';
     END IF;
     RETURN NEW;
   END \$\$;
   SELECT tally_ensure_month('2026-11-01T00:00:00Z');
   CREATE TRIGGER refuse_poison BEFORE INSERT ON calls
     FOR EACH ROW EXECUTE FUNCTION refuse_poison();" >/dev/null

# 60 calls on one partition; the 2 poison ones sit between good ones, and an
# unparseable message (quarantined by the parser) follows the first.
awk 'BEGIN {
	for (i = 0; i < 60; i++) {
		wf = (i == 17 || i == 41) ? "poison" : "ok-wf"
		printf "{\"event_id\":\"p-%d\",\"ts\":\"2026-11-01T10:%02d:00Z\",\"team\":\"t\",\"workflow\":\"%s\",\"task_type\":\"x\",\"provider\":\"openai\",\"model\":\"gpt-4o-mini\",\"usage\":{\"input_tokens\":1000,\"output_tokens\":100}}\n", i, i % 60, wf
		if (i == 17)
			print "{\"event_id\":\"broken\""
	}
}' >"$T/events.jsonl"
"$BIN" produce "$T/events.jsonl" >"$T/produce.log" 2>&1
collector_start
wait_until 60 sh -c "[ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c \"select sum(next_offset) from kafka_offsets where topic='llm.calls'\")\" = 61 ]"
assert_eq "every message's offset is stored" 61 "$(q "select sum(next_offset) from kafka_offsets where topic='llm.calls'")"
assert_eq "the 58 good calls are stored" 58 "$(q "select count(*) from calls")"
assert_eq "no poison call is stored" 0 "$(q "select count(*) from calls where workflow = 'poison'")"
assert_eq "the refused and the unparseable messages are quarantined" 3 "$(q "select count(*) from quarantine")"
assert_eq "quarantined at their own offsets (17, 18, 42)" "17,18,42" \
	"$(q "select string_agg(kafka_offset::text, ',' order by kafka_offset) from quarantine")"
assert_match "the reason is PostgreSQL's error with its SQLSTATE" \
	"workflow poison is refused by the test.*22023" \
	"$(q "select reason from quarantine where kafka_offset = 17")"
assert_match "the raw bytes are kept" '"event_id":"p-17"' \
	"$(q "select convert_from(raw, 'UTF8') from quarantine where kafka_offset = 17")"
assert_eq "exact cost of the stored calls (58 x 210,000,000 pico-USD)" 12180000000 \
	"$(q "select sum(cost_pusd) from calls")"
assert_eq "rollups agree with the stored calls row by row" 0 "$(rollups_mismatch)"
assert_match "the fallback is logged" "storing its messages one by one" "$(cat "$T/collector-1.log")"

# An OTLP message is one message however many calls it holds: when PostgreSQL
# refuses one of its calls, the whole message is quarantined once at its
# offset and none of its calls is stored; a good message beside it is kept.
otlp_msg() { # FILE SPAN_ID_PREFIX WORKFLOW_OF_SECOND_SPAN
	printf '{"resourceSpans":[{"resource":{"attributes":[{"key":"tally.team","value":{"stringValue":"t"}},{"key":"tally.task_type","value":{"stringValue":"x"}}]},"scopeSpans":[{"spans":[' >"$1"
	for i in 1 2; do
		wf=ok-wf
		[ "$i" = 2 ] && wf=$3
		[ "$i" = 2 ] && printf ',' >>"$1"
		printf '{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"%s%s","name":"chat","startTimeUnixNano":"1793869200000000000","endTimeUnixNano":"1793869201000000000","attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},{"key":"gen_ai.provider.name","value":{"stringValue":"openai"}},{"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o-mini"}},{"key":"gen_ai.usage.input_tokens","value":{"intValue":"1000"}},{"key":"gen_ai.usage.output_tokens","value":{"intValue":"100"}},{"key":"tally.workflow","value":{"stringValue":"%s"}}]}' "$2" "$i" "$wf" >>"$1"
	done
	printf ']}]}]}' >>"$1"
}
otlp_msg "$T/otlp-good.json" 000000000000000 ok-wf
otlp_msg "$T/otlp-poison.json" 00000000000000a poison
kcat -P -b "$TALLY_KAFKA_BROKERS" -t otlp_spans "$T/otlp-good.json" "$T/otlp-poison.json" 2>"$T/kcat.log"
wait_until 60 sh -c "[ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c \"select coalesce(sum(next_offset), 0) from kafka_offsets where topic='otlp_spans'\")\" = 2 ]"
assert_eq "both OTLP messages' offsets are stored" 2 "$(q "select sum(next_offset) from kafka_offsets where topic='otlp_spans'")"
assert_eq "the good OTLP message's 2 calls are stored" 2 "$(q "select count(*) from calls where event_id in ('5b8efff798038103d269b633813fc60c-0000000000000001', '5b8efff798038103d269b633813fc60c-0000000000000002')")"
assert_eq "no call of the refused OTLP message is stored" 0 "$(q "select count(*) from calls where event_id like '5b8efff798038103d269b633813fc60c-00000000000000a%'")"
assert_match "the refused OTLP message is quarantined once, raw, with PostgreSQL's reason" \
	'^1\|1\|.*workflow poison is refused by the test' \
	"$(q "select count(*), max(kafka_offset), max(reason) from quarantine where topic = 'otlp_spans'")"

# The collector keeps going: later batches go through whole again.
q "DROP TRIGGER refuse_poison ON calls" >/dev/null
awk 'BEGIN { for (i = 60; i < 70; i++) printf "{\"event_id\":\"p-%d\",\"ts\":\"2026-11-01T11:%02d:00Z\",\"team\":\"t\",\"workflow\":\"poison\",\"task_type\":\"x\",\"provider\":\"openai\",\"model\":\"gpt-4o-mini\",\"usage\":{\"input_tokens\":1000,\"output_tokens\":100}}\n", i, i - 60 }' |
	"$BIN" produce >>"$T/produce.log" 2>&1
wait_calls 70 60
assert_eq "later events are stored" 70 "$(q "select count(*) from calls")"
assert_eq "still exactly 4 quarantined" 4 "$(q "select count(*) from quarantine")"
kill -TERM "$COLLECTOR_PID"
wait "$COLLECTOR_PID"
assert_eq "collector exits 0 on SIGTERM" 0 $?
t_done
