# test_ingest.sh - a mixed stream over Kafka into the running collector:
# valid calls in three usage shapes, duplicates, every bad-input class, an
# unknown model, outcomes and feedback. Exact counts and exact costs.
. tests/lib.sh

pg_start || exit 1
kafka_start 8 || exit 1
"$BIN" migrate >"$T/migrate.log" 2>&1
assert_eq "migrate applies to an empty database" 0 $?
"$BIN" prices import data/litellm_model_prices.json >"$T/prices.log" 2>&1
assert_eq "LiteLLM price map imports" 0 $?
assert_match "importer reports loaded/skipped/rounded" "loaded 2850 entries \(2850 new price versions, 0 unchanged\), skipped 135, rounded 55" "$(cat "$T/prices.log")"

EV="$T/events.jsonl"
awk 'BEGIN {
	# support: 100 gpt-4o-mini calls, OpenAI usage shape
	for (i = 0; i < 100; i++)
		printf "{\"event_id\":\"sup-%d\",\"ts\":\"2026-11-01T10:%02d:%02dZ\",\"team\":\"support\",\"workflow\":\"ticket-triage\",\"task_type\":\"classify\",\"outcome_id\":\"T-%d\",\"provider\":\"openai\",\"model\":\"gpt-4o-mini\",\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":200,\"total_tokens\":1200,\"prompt_tokens_details\":{\"cached_tokens\":400}},\"latency_ms\":500}\n", i, i % 60, i % 60, i % 3
	# legal: 50 claude-sonnet-4 calls, Anthropic usage shape
	for (i = 0; i < 50; i++)
		printf "{\"event_id\":\"leg-%d\",\"ts\":\"2026-11-01T11:%02d:00.5+00:00\",\"team\":\"legal\",\"workflow\":\"contract-review\",\"task_type\":\"legal-review\",\"provider\":\"anthropic\",\"model\":\"claude-sonnet-4-20250514\",\"usage\":{\"input_tokens\":1000,\"cache_creation_input_tokens\":200,\"cache_read_input_tokens\":800,\"output_tokens\":500}}\n", i, i
	# research: 10 calls of a model no price list knows
	for (i = 0; i < 10; i++)
		printf "{\"event_id\":\"res-%d\",\"ts\":\"2026-11-01T12:00:%02dZ\",\"team\":\"research\",\"workflow\":\"lab\",\"task_type\":\"extract\",\"provider\":\"acme\",\"model\":\"acme-llm-1\",\"usage\":{\"input_tokens\":100,\"output_tokens\":10}}\n", i, i
	# 20 duplicates of support calls
	for (i = 0; i < 20; i++)
		printf "{\"event_id\":\"sup-%d\",\"ts\":\"2026-11-01T10:%02d:%02dZ\",\"team\":\"support\",\"workflow\":\"ticket-triage\",\"task_type\":\"classify\",\"provider\":\"openai\",\"model\":\"gpt-4o-mini\",\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}\n", i, i % 60, i % 60
	# outcomes and feedback
	printf "{\"outcome_id\":\"T-0\",\"ts\":\"2026-11-01T13:00:00Z\",\"team\":\"support\",\"workflow\":\"ticket-triage\",\"kind\":\"ticket_resolved\",\"success\":true,\"value_usd\":\"12.50\"}\n"
	printf "{\"outcome_id\":\"T-1\",\"ts\":\"2026-11-01T13:00:00Z\",\"success\":false}\n"
	printf "{\"outcome_id\":\"T-2\",\"ts\":\"2026-11-01T13:00:00Z\",\"success\":true}\n"
	for (i = 0; i < 5; i++)
		printf "{\"event_id\":\"sup-%d\",\"ts\":\"2026-11-01T14:00:00Z\",\"score\":0.%d,\"source\":\"human\"}\n", i, i
}' >"$EV"
# every class of bad input (DESIGN §5), one each
cat >>"$EV" <<'BAD'
this is not json at all
{"event_id":"bad-missing","ts":"2026-11-01T10:00:00Z","workflow":"w","task_type":"t","provider":"openai","model":"gpt-4o-mini","usage":{"input_tokens":1,"output_tokens":1}}
{"event_id":"bad-type","ts":"2026-11-01T10:00:00Z","team":42,"workflow":"w","task_type":"t","provider":"openai","model":"gpt-4o-mini","usage":{"input_tokens":1,"output_tokens":1}}
{"event_id":"bad-negative","ts":"2026-11-01T10:00:00Z","team":"t","workflow":"w","task_type":"t","provider":"openai","model":"gpt-4o-mini","usage":{"input_tokens":-5,"output_tokens":1}}
{"event_id":"bad-absurd","ts":"2026-11-01T10:00:00Z","team":"t","workflow":"w","task_type":"t","provider":"openai","model":"gpt-4o-mini","usage":{"input_tokens":2000000000,"output_tokens":1}}
{"event_id":"bad-ts","ts":"2026-13-45T99:00:00Z","team":"t","workflow":"w","task_type":"t","provider":"openai","model":"gpt-4o-mini","usage":{"input_tokens":1,"output_tokens":1}}
BAD
long=$(head -c 300 /dev/zero | tr '\0' 'x')
printf '{"event_id":"bad-long","ts":"2026-11-01T10:00:00Z","team":"%s","workflow":"w","task_type":"t","provider":"openai","model":"gpt-4o-mini","usage":{"input_tokens":1,"output_tokens":1}}\n' "$long" >>"$EV"
printf '{"event_id":"bad-utf8","ts":"2026-11-01T10:00:00Z","team":"\377\376","workflow":"w","task_type":"t","provider":"openai","model":"gpt-4o-mini","usage":{"input_tokens":1,"output_tokens":1}}\n' >>"$EV"
# a message over 1 MiB
{ printf '{"event_id":"bad-big","pad":"'; head -c 1100000 /dev/zero | tr '\0' 'y'; printf '"}\n'; } >>"$EV"

"$BIN" produce "$EV" >"$T/produce.log" 2>&1
assert_eq "tally produce delivers the stream" 0 $?
collector_start
wait_until 60 sh -c "[ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c 'select count(*) from quarantine')\" -ge 9 ] && [ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c 'select count(*) from calls')\" -ge 160 ]"
sleep 1

assert_eq "calls stored once each" 160 "$(status_field calls)"
assert_eq "duplicates skipped and counted" 20 "$(status_field duplicates)"
assert_eq "every bad-input class quarantined" 9 "$(status_field quarantined)"
assert_eq "unknown model stored unpriced" 10 "$(status_field unpriced)"
assert_eq "outcomes stored" 3 "$(status_field outcomes)"
assert_eq "feedback stored" 5 "$(status_field feedback)"
assert_eq "Anthropic usage normalised (input includes cache)" "2000|200|800" \
	"$(q "select distinct input_tokens||'|'||cache_write_tokens||'|'||cache_read_tokens from calls where team='legal'")"
assert_eq "OpenAI usage normalised" "1000|400|200" \
	"$(q "select distinct input_tokens||'|'||cache_read_tokens||'|'||output_tokens from calls where team='support'")"
assert_eq "first copy of a duplicate wins" 1000 "$(q "select input_tokens from calls where event_id='sup-3'")"

# quarantine keeps raw bytes, position and an actionable reason
assert_eq "quarantine keeps the raw bytes" "this is not json at all" \
	"$(q "select convert_from(raw, 'UTF8') from quarantine where raw = convert_to('this is not json at all', 'UTF8')")"
assert_eq "quarantine rows carry topic/partition/offset" 0 \
	"$(q "select count(*) from quarantine where topic <> 'llm.calls' or kafka_partition < 0 or kafka_offset is null")"
assert_match "missing field reason names it" "team" "$(q "select reason from quarantine where position(convert_to('bad-missing','UTF8') in raw) > 0")"
assert_match "negative tokens reason" "input_tokens" "$(q "select reason from quarantine where position(convert_to('bad-negative','UTF8') in raw) > 0")"
assert_match "oversized reason" "limit" "$(q "select reason from quarantine where length(raw) > 1048576")"
assert_match "bad utf-8 reason" "UTF-8" "$(q "select reason from quarantine where position('\\xfffe'::bytea in raw) > 0")"

# exact money: 100 x 240,000,000 and 50 x 11,490,000,000 pico-USD
J=$("$BIN" report spend --from 2026-11-01 --to 2026-11-02 --group-by team --format json)
assert_match "support costs exactly \$0.024" '"team":"support","calls":100,[^}]*"cost_usd":"0.024000000000"' "$J"
assert_match "legal costs exactly \$0.5745" '"team":"legal","calls":50,[^}]*"cost_usd":"0.574500000000"' "$J"
assert_match "total is the sum" '"total":\{"calls":160,[^}]*"cost_usd":"0.598500000000"' "$J"
assert_match "unpriced calls reported" '"unpriced_calls":10\}$' "$J"
assert_eq "report total equals the ledger's rows" "598500000000" "$(q "select sum(cost_pusd) from calls")"
C=$("$BIN" report spend --from 2026-11-01T10:00:00Z --to 2026-11-01T10:30:00Z --group-by day --format csv)
assert_eq "half-open sub-hour interval reads the calls" "day,calls,input_tokens,output_tokens,cache_read_tokens,cache_write_tokens,reasoning_tokens,cost_usd,unpriced_calls
2026-11-01,60,60000,12000,24000,0,0,0.014400000000,0" "$C"
# Ranges whose edges are not whole hours read the rollups for the whole hours,
# the quarter-hour rollup for the whole quarters at the edges and the calls
# only for the partial quarters (or, when most of an edge's quarter is inside
# the range, that quarter's rollup less the calls outside it: 07:07:07,
# 10:05, 11:55, 11:50, 10:07, 11:53, 11:16-11:29): same figures as the calls
# themselves, row by row, across quarter, hour and day boundaries, inside one
# hour and one quarter, no team shown without calls (edge-team's one call, at
# 11:57, is in the 11:45 quarter's rollup and taken away again for ranges
# ending at 11:55, 11:53 and 11:50).
q "insert into calls (event_id, ts, team, workflow, task_type, provider, model, tier, input_tokens,
     output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, usage_shape, batch,
     cache_hit, local, status, cost_pusd)
   values ('edge-1', '2026-11-01T11:57:00Z', 'edge-team', 'edge', 'classify', 'openai', 'gpt-4o-mini',
     'small', 10, 1, 0, 0, 0, 'openai', false, false, false, 'ok', 2100000)" >/dev/null
for R in 2026-11-01T10:30:00Z,2026-11-01T11:30:00Z 2026-10-31T23:30:00Z,2026-11-02T00:15:00Z \
	2026-11-01T10:59:59.5Z,2026-11-01T12:00:00.000001Z 2026-11-01T09:00:00Z,2026-11-01T11:20:00Z \
	2026-10-30T07:07:07Z,2026-11-01T11:00:00Z 2026-11-01T10:15:00Z,2026-11-01T10:45:00Z \
	2026-11-01T10:05:00Z,2026-11-01T11:55:00Z 2026-11-01T09:00:00Z,2026-11-01T11:50:00Z \
	2026-11-01T10:07:00Z,2026-11-01T11:53:00Z 2026-11-01T11:03:00Z,2026-11-01T11:52:30Z \
	2026-11-01T11:16:00Z,2026-11-01T11:29:00Z 2026-11-01T10:40:00Z,2026-11-01T11:20:00Z \
	2026-11-01T10:22:30Z,2026-11-01T12:00:05Z; do
	F=${R%,*} TO=${R#*,}
	C=$("$BIN" report spend --from "$F" --to "$TO" --group-by team --format csv | tail -n +2)
	E=$(q "select team||','||count(*)||','||sum(input_tokens)||','||sum(output_tokens)||','||
		sum(cache_read_tokens)||','||sum(cache_write_tokens)||','||sum(reasoning_tokens)||','||
		(coalesce(sum(cost_pusd), 0) / 1000000000000)::numeric(40,12)||','||count(*) filter (where cost_pusd is null)
		from calls where ts >= '$F' and ts < '$TO' group by team
		order by coalesce(sum(cost_pusd), 0) desc, team")
	assert_eq "spend over [$F, $TO) equals the calls' own sums" "$E" "$C"
done
q "delete from calls where event_id = 'edge-1'" >/dev/null
"$BIN" rollups rebuild --from 2026-11-01 --to 2026-11-02 >/dev/null
# The rollups are their rows plus the sums of the calls whose transactions
# are still queued (migrations/0021): the collector summed what it stored
# when it caught up; calls an operator inserts by hand are queued by the
# ledger itself, read exactly at once, and a merge sums them into the rows
# without changing a figure.
assert_eq "the collector summed what it stored: nothing queued" 0 "$(q "select count(*) from rollup_queue")"
# (the collector is held still meanwhile: idle, it sums what others queued
# every 5 s)
kill -STOP "$COLLECTOR_PID"
B=$("$BIN" report spend --from 2026-11-01 --to 2026-11-02 --group-by workflow --format csv)
BH=$("$BIN" report spend --from 2026-11-01T09:00:00Z --to 2026-11-01T14:00:00Z --group-by model --format csv)
q "insert into calls (event_id, ts, team, workflow, task_type, provider, model, tier, input_tokens,
     output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, usage_shape, batch,
     cache_hit, local, status, cost_pusd, tags)
   select 'by-hand-' || g, '2026-11-01T11:10:00Z'::timestamptz + make_interval(secs => g), 'support',
     CASE WHEN g = 7 THEN 'wf-by-hand' ELSE 'triage' END, 'classify', 'openai', 'gpt-4o-mini', 'small', 1000, 100, 0, 0, 0, 'openai', false,
     false, false, 'ok', 210000000, '{\"env\":\"prod\",\"customer\":\"c-9\"}'
   from generate_series(1, 7) g" >/dev/null
assert_eq "an INSERT by hand is queued, once per statement" 1 "$(q "select count(*) from rollup_queue")"
assert_eq "the rows themselves do not have them yet" 0 \
	"$(q "select count(*) from rollup_tags_hourly_merged where tag_value = 'c-9'")"
assert_match "reports read the queued calls exactly (daily)" "triage,[0-9]+," \
	"$("$BIN" report spend --from 2026-11-01 --to 2026-11-02 --group-by workflow --format csv)"
assert_eq "rollups agree with the calls with calls queued" 0 "$(rollups_mismatch)"
assert_eq "a workflow first used in queued calls has no owner row yet" 0 \
	"$(q "select count(*) from workflow_owners where workflow = 'wf-by-hand'")"
assert_eq "its owner is read from the queued calls (workflow budgets)" support \
	"$(q "select tally_workflow_owner('wf-by-hand')")"
assert_eq "the tag rollup reads them too" "7|1470000000" \
	"$(q "select sum(calls)||'|'||sum(cost_pusd) from rollup_tags_hourly where tag_key = 'customer' and tag_value = 'c-9'")"
B2=$("$BIN" report spend --from 2026-11-01 --to 2026-11-02 --group-by workflow --format csv)
BH2=$("$BIN" report spend --from 2026-11-01T09:00:00Z --to 2026-11-01T14:00:00Z --group-by model --format csv)
if [ "$B2" != "$B" ]; then ok "the calls inserted by hand changed the daily figures"; else not_ok "the calls inserted by hand changed the daily figures"; fi
assert_match "tally rollups merge sums the queued calls" "^rollups merged: the calls of 1 queued" "$("$BIN" rollups merge)"
assert_eq "nothing queued after the merge" 0 "$(q "select count(*) from rollup_queue")"
assert_eq "the merge records the owner it read" "support|support" \
	"$(q "select team || '|' || tally_workflow_owner('wf-by-hand') from workflow_owners where workflow = 'wf-by-hand'")"
assert_eq "the rows have them now" "7|1470000000" \
	"$(q "select sum(calls)||'|'||sum(cost_pusd) from rollup_tags_hourly_merged where tag_key = 'customer' and tag_value = 'c-9'")"
assert_eq "a merge changes no daily figure" "$B2" \
	"$("$BIN" report spend --from 2026-11-01 --to 2026-11-02 --group-by workflow --format csv)"
assert_eq "a merge changes no hourly figure" "$BH2" \
	"$("$BIN" report spend --from 2026-11-01T09:00:00Z --to 2026-11-01T14:00:00Z --group-by model --format csv)"
assert_eq "rollups agree with the calls after the merge" 0 "$(rollups_mismatch)"
assert_match "a second merge has nothing to sum" "^rollups merged: the calls of 0 queued" "$("$BIN" rollups merge)"
kill -CONT "$COLLECTOR_PID"
q "insert into calls (event_id, ts, team, workflow, task_type, provider, model, tier, input_tokens,
     output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, usage_shape, batch,
     cache_hit, local, status, cost_pusd)
   values ('by-hand-idle', '2026-11-01T11:20:00Z', 'support', 'triage', 'idle-check', 'openai', 'gpt-4o-mini',
     'small', 1, 1, 0, 0, 0, 'openai', false, false, false, 'ok', 1)" >/dev/null
wait_until 20 sh -c "[ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c 'select count(*) from rollup_queue')\" = 0 ]"
assert_eq "an idle collector sums what others queued (within 5 s)" "0|1" \
	"$(q "select (select count(*) from rollup_queue)||'|'||(select sum(calls) from rollup_hourly_merged where task_type = 'idle-check')")"
q "delete from calls where event_id like 'by-hand-%'" >/dev/null
"$BIN" rollups rebuild --from 2026-11-01 --to 2026-11-02 >/dev/null
assert_eq "a rebuild after a delete by hand: the figures as before" "$B" \
	"$("$BIN" report spend --from 2026-11-01 --to 2026-11-02 --group-by workflow --format csv)"
assert_eq "... hourly too" "$BH" \
	"$("$BIN" report spend --from 2026-11-01T09:00:00Z --to 2026-11-01T14:00:00Z --group-by model --format csv)"
# ... and reads the hourly rollup for the whole hour inside such a range (a
# marked rollup row shows through, then the mark is taken off again)
q "update rollup_hourly_merged set calls = calls + 1000 where hour = '2026-11-01T11:00:00Z'" >/dev/null
J=$("$BIN" report spend --from 2026-11-01T10:30:00Z --to 2026-11-01T12:00:00.5Z --group-by team --format json)
q "update rollup_hourly_merged set calls = calls - 1000 where hour = '2026-11-01T11:00:00Z'" >/dev/null
assert_match "a range not on whole hours reads the rollups for its whole hours" '"total":\{"calls":1091,' "$J"
# ... and the quarter-hour rollup for an edge's quarter mostly inside it
N=$(q "select count(*) + 1000 from calls where ts >= '2026-11-01T10:31:00Z' and ts < '2026-11-01T12:00:00Z'")
q "update rollup_quarter_merged set calls = calls + 1000 where ctid = (select min(ctid)
     from rollup_quarter_merged where quarter = '2026-11-01T10:30:00Z')" >/dev/null
J=$("$BIN" report spend --from 2026-11-01T10:31:00Z --to 2026-11-01T12:00:00Z --group-by team --format json)
q "update rollup_quarter_merged set calls = calls - 1000 where ctid = (select min(ctid)
     from rollup_quarter_merged where quarter = '2026-11-01T10:30:00Z' and calls > 1000)" >/dev/null
assert_match "an edge's quarter mostly inside the range is read from the quarter rollup" "\"total\":\\{\"calls\":$N," "$J"
C=$("$BIN" report spend --from 2026-11-01 --to 2026-11-02 --group-by cost_center --format csv | tail -n +2)
assert_eq "unassigned spend shown as such" "(unassigned),160,201000,45100,80000,10000,0,0.598500000000,10" "$C"

# a price for the unknown model, then reprice
printf 'provider,model,tier,input,output,cache_read,cache_write,reasoning,batch_input,batch_output,threshold_tokens,above_input,above_output,above_cache_read,above_cache_write\nacme,acme-llm-1,small,1.00,2.00,,,,,,,,,,\n' >"$T/acme.csv"
"$BIN" prices import "$T/acme.csv" >>"$T/prices.log" 2>&1
assert_eq "CSV price list imports" 0 $?
sleep 6 # the collector notices the new price book within 5 s
R=$("$BIN" prices reprice --from 2026-11-01 --to 2026-11-02)
assert_match "reprice prices the formerly unpriced" "10 changed \(10 newly priced\)" "$R"
assert_eq "no unpriced calls left" 0 "$(status_field unpriced)"
J=$("$BIN" report spend --from 2026-11-01 --to 2026-11-02 --group-by team --format json)
assert_match "research now costs 10 x 120,000,000 pico-USD" '"team":"research","calls":10,[^}]*"cost_usd":"0.001200000000"' "$J"
assert_eq "rollups (hourly, daily, tags) agree with the calls row by row after reprice" 0 "$(rollups_mismatch)"
assert_eq "every call's stored components sum to its cost after reprice" 0 "$(components_mismatch)"
assert_eq "reprice recorded in the audit log" 1 "$(q "select count(*) from audit_log where action='prices.reprice'")"
# An operator's repair: damaged rollups are found, and rebuilt from the calls.
"$BIN" rollups merge >/dev/null
q "update rollup_daily_merged set cost_pusd = cost_pusd + 1 where ctid = (select min(ctid) from rollup_daily_merged);
   delete from rollup_hourly_merged where ctid = (select min(ctid) from rollup_hourly_merged)" >/dev/null
# (the changed daily row counts twice: its old value is missing, its new one extra)
assert_eq "the rollup check notices a changed and a missing row" 3 "$(rollups_mismatch)"
R=$("$BIN" rollups rebuild --from 2026-11-01T00:30:00Z --to 2026-11-02)
assert_match "rollups rebuild names the whole hours it rebuilt" "rebuilt for the hours covering" "$R"
assert_eq "rollups rebuild repairs every rollup" 0 "$(rollups_mismatch)"
assert_eq "rollups rebuild is audit-logged with its whole-hour range" \
	'{"to": "2026-11-02T00:00:00.000000Z", "from": "2026-11-01T00:00:00.000000Z"}' \
	"$(q "select details from audit_log where action='rollups.rebuild' order by id desc limit 1")"

# Tags the collector sums in C (ledger/rollups_write.c) group exactly as
# PostgreSQL's jsonb_each_text reads the stored jsonb: escapes, \u escapes,
# numbers with exponents and scales, booleans. (null tag values and repeated
# keys are refused by the parser; tests/unit/test_event.c covers them too.)
cat >"$T/tagged.jsonl" <<'TAGGED'
{"event_id":"tag-1","ts":"2026-11-03T10:05:00Z","team":"tagged","workflow":"w","task_type":"t","provider":"openai","model":"gpt-4o-mini","usage":{"input_tokens":10,"output_tokens":5},"tags":{"customer":"ACME \"EU\"","n":1e+20,"x":120e-1,"ok":true,"k":"last","u":"caf\u00e9 \ud83d\ude00","line":"a\nb\tc\\d"}}
{"event_id":"tag-2","ts":"2026-11-03T10:06:00Z","team":"tagged","workflow":"w","task_type":"t","provider":"openai","model":"gpt-4o-mini","usage":{"input_tokens":20,"output_tokens":5},"tags":{"customer":"ACME \"EU\"","n":100000000000000000000,"x":1.5e-07,"ok":false,"k":"last"}}
{"event_id":"tag-3","ts":"2026-11-03T11:00:00Z","team":"tagged","workflow":"w","task_type":"t","provider":"openai","model":"gpt-4o-mini","usage":{"input_tokens":30,"output_tokens":5},"tags":{"customer":"café 😀","n":-0.5}}
TAGGED
"$BIN" produce "$T/tagged.jsonl" >>"$T/produce.log" 2>&1
wait_until 30 sh -c "[ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c \"select count(*) from calls where team = 'tagged'\")\" -ge 3 ]"
sleep 1
assert_eq "tag rollups summed by the collector agree with the calls' jsonb" 0 "$(rollups_mismatch)"
assert_eq "tag values as jsonb_each_text gives them, summed per hour" \
	'customer|ACME "EU"|2|30
customer|café 😀|1|30
k|last|2|30
n|-0.5|1|30
n|100000000000000000000|2|30
ok|false|1|20
ok|true|1|10
u|café 😀|1|10
x|0.00000015|1|20
x|12|1|10' \
	"$(q "select tag_key, tag_value, sum(calls), sum(input_tokens) from rollup_tags_hourly
	     where team = 'tagged' and tag_key <> 'line' group by 1, 2 order by 1, 2")"
assert_eq "a tag value with control characters is kept whole" 1 \
	"$(q "select count(*) from rollup_tags_hourly where tag_key = 'line' and tag_value = E'a\nb\tc\\\\d'")"

# Duplicates arriving in a later batch (a retry, a replay): by event_id among
# the calls within 7 days of their ts (LEDGER_DEDUPE_WINDOW_US; docs/events.md),
# the same ts or a ts stamped again on the retry. 30 days apart is another call.
D0=$(status_field duplicates)
cat >"$T/again.jsonl" <<'AGAIN'
{"event_id":"sup-40","ts":"2026-11-01T10:40:40Z","team":"support","workflow":"ticket-triage","task_type":"classify","provider":"openai","model":"gpt-4o-mini","usage":{"input_tokens":7,"output_tokens":7}}
{"event_id":"sup-41","ts":"2026-11-05T09:00:00Z","team":"support","workflow":"ticket-triage","task_type":"classify","provider":"openai","model":"gpt-4o-mini","usage":{"input_tokens":7,"output_tokens":7}}
{"event_id":"sup-42","ts":"2026-10-27T23:00:00Z","team":"support","workflow":"ticket-triage","task_type":"classify","provider":"openai","model":"gpt-4o-mini","usage":{"input_tokens":7,"output_tokens":7}}
{"event_id":"sup-43","ts":"2026-12-01T10:43:43Z","team":"support","workflow":"ticket-triage","task_type":"classify","provider":"openai","model":"gpt-4o-mini","usage":{"input_tokens":7,"output_tokens":7}}
AGAIN
"$BIN" produce "$T/again.jsonl" >>"$T/produce.log" 2>&1
wait_until 30 sh -c "[ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c \"select count(*) from calls where event_id = 'sup-43'\")\" -ge 2 ]"
sleep 1
assert_eq "later duplicates within the window (same ts, 4 days later, 4 days earlier across a month) skipped and counted" \
	"$((D0 + 3))" "$(status_field duplicates)"
assert_eq "the first copy stays the only one within the window" "1|1|1" \
	"$(q "select string_agg(n::text, '|' order by e) from (select event_id e, count(*) n from calls where event_id in ('sup-40', 'sup-41', 'sup-42') group by 1) x")"
assert_eq "the same event_id 30 days apart is another call" 2 "$(q "select count(*) from calls where event_id = 'sup-43'")"
assert_eq "rollups agree with the calls after the duplicates" 0 "$(rollups_mismatch)"

# Outcomes told by several events: the first team to name one owns it, another
# team's event is quarantined with the reason, the latest event of its team
# (or naming none) wins and an older one changes nothing. The same whether
# the events share a batch (one statement orders them) or come later, one
# per outcome (the insert decides each): both ways below.
cat >"$T/outcomes2.jsonl" <<'OUT'
{"outcome_id":"O-A","ts":"2026-11-02T10:00:00Z","team":"support","workflow":"ticket-triage","kind":"k1","success":false,"value_usd":"1.00"}
{"outcome_id":"O-A","ts":"2026-11-02T11:00:00Z","team":"sales","workflow":"steal","success":true}
{"outcome_id":"O-A","ts":"2026-11-02T12:00:00Z","success":true,"value_usd":"2.00"}
{"outcome_id":"O-B","ts":"2026-11-02T12:00:00Z","team":"support","success":true}
{"outcome_id":"O-B","ts":"2026-11-02T11:00:00Z","team":"support","success":false}
OUT
"$BIN" produce "$T/outcomes2.jsonl" >>"$T/produce.log" 2>&1
wait_until 30 sh -c "[ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c \"select count(*) from outcomes where outcome_id in ('O-A', 'O-B')\")\" = 2 ]"
cat >"$T/outcomes3.jsonl" <<'OUT'
{"outcome_id":"T-0","ts":"2026-11-01T14:00:00Z","team":"sales","success":false}
{"outcome_id":"O-B","ts":"2026-11-02T10:00:00Z","team":"support","success":false}
{"outcome_id":"O-C","ts":"2026-11-02T10:00:00Z","team":"legal","kind":"k3","success":true}
OUT
"$BIN" produce "$T/outcomes3.jsonl" >>"$T/produce.log" 2>&1
wait_until 30 sh -c "[ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c \"select count(*) from outcomes where outcome_id = 'O-C'\")\" = 1 ] && [ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c \"select count(*) from quarantine where reason like 'outcome T-0 belongs%'\")\" = 1 ]"
sleep 1
assert_eq "an outcome's owner, its latest event, a value kept from the event that carried one" \
	"support|ticket-triage|k1|t|2026-11-02 12:00:00+00|2000000000000" \
	"$(q "select team, workflow, kind, success, ts, value_pusd from outcomes where outcome_id = 'O-A'")"
assert_eq "an older event changes nothing (in its batch or later)" "support|t|2026-11-02 12:00:00+00" \
	"$(q "select team, success, ts from outcomes where outcome_id = 'O-B'")"
assert_eq "another team's events are quarantined (in the batch and later), an older one of its team is not" \
	"O-A sales|T-0 sales" \
	"$(q "select string_agg(substring(reason from 'outcome (\S+) belongs') || ' ' || substring(reason from 'event of team (\S+)'), '|' order by reason) from quarantine where reason like 'outcome % belongs%'")"
assert_eq "a stored outcome is unchanged by another team's later event" "support|t|2026-11-01 13:00:00+00" \
	"$(q "select team, success, ts from outcomes where outcome_id = 'T-0'")"
assert_eq "a new outcome of its own" "legal|k3|t" "$(q "select team, kind, success from outcomes where outcome_id = 'O-C'")"
assert_eq "feedback scores stored as sent" "0|0.1|0.2|0.3|0.4" \
	"$(q "select string_agg(score::text, '|' order by event_id) from feedback where event_id like 'sup-_'")"

M=$(q "select count(*) from schema_migrations")
assert_match "migrate reports nothing to do the second time" "0 applied" "$("$BIN" migrate 2>&1)"
assert_eq "migrations are idempotent" "$M" "$(q "select count(*) from schema_migrations")"
kill -TERM "$COLLECTOR_PID"
wait "$COLLECTOR_PID"
assert_eq "collector exits 0 on SIGTERM" 0 $?

# Duplicates across batches of a backlog. While the writer stores one batch,
# the next one's event_ids are looked up on the consumer's own connection
# (ledger/calls_probe.c): that lookup sees only what is committed, so a copy
# of a call stored by an earlier batch of the writer's still open window
# must be found by what the writer remembers of its windows, a copy of a
# committed call by the lookup itself. 12,000 calls in order, and after the
# first 3,000 every 100th message a copy (same ts, other tokens) of a call
# 3,000 messages earlier, every 100th a copy of a call stored long before,
# and every 100th a copy 30 days later (another call).
awk 'BEGIN {
	for (i = 0; i < 12000; i++) {
		printf "{\"event_id\":\"bulk-%d\",\"ts\":\"2026-11-03T%02d:%02d:%02dZ\",\"team\":\"bulk\",\"workflow\":\"w%d\",\"task_type\":\"classify\",\"provider\":\"openai\",\"model\":\"gpt-4o-mini\",\"usage\":{\"input_tokens\":100,\"output_tokens\":10}}\n", i, i / 3600, i / 60 % 60, i % 60, i % 7
		if (i < 3000)
			continue
		j = i - 3000
		if (i % 100 == 0)
			printf "{\"event_id\":\"bulk-%d\",\"ts\":\"2026-11-03T%02d:%02d:%02dZ\",\"team\":\"bulk\",\"workflow\":\"w%d\",\"task_type\":\"classify\",\"provider\":\"openai\",\"model\":\"gpt-4o-mini\",\"usage\":{\"input_tokens\":7,\"output_tokens\":7}}\n", j, j / 3600, j / 60 % 60, j % 60, j % 7
		if (i % 100 == 25)
			printf "{\"event_id\":\"bulk-%d\",\"ts\":\"2026-12-03T%02d:%02d:%02dZ\",\"team\":\"bulk\",\"workflow\":\"w%d\",\"task_type\":\"classify\",\"provider\":\"openai\",\"model\":\"gpt-4o-mini\",\"usage\":{\"input_tokens\":7,\"output_tokens\":7}}\n", j, j / 3600, j / 60 % 60, j % 60, j % 7
		if (i % 100 == 50) {
			k = 50 + int(i / 100) % 50
			printf "{\"event_id\":\"sup-%d\",\"ts\":\"2026-11-01T10:%02d:%02dZ\",\"team\":\"support\",\"workflow\":\"ticket-triage\",\"task_type\":\"classify\",\"provider\":\"openai\",\"model\":\"gpt-4o-mini\",\"usage\":{\"input_tokens\":7,\"output_tokens\":7}}\n", k, k % 60, k % 60
		}
	}
}' >"$T/bulk.jsonl"
D0=$(status_field duplicates)
"$BIN" produce "$T/bulk.jsonl" >>"$T/produce.log" 2>&1
assert_eq "tally produce delivers the backlog" 0 $?
TALLY_LOG_LEVEL=debug collector_start bulk
wait_until 90 sh -c "[ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c \"select count(*) from calls where team = 'bulk'\")\" -ge 12090 ]"
wait_until 30 sh -c "[ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c \"select value from ledger_counters where name = 'duplicates'\")\" -ge $((D0 + 180)) ]"
sleep 2
assert_eq "a backlog's copies of earlier calls skipped and counted, across batches" \
	"$((D0 + 180))" "$(status_field duplicates)"
assert_eq "each call of the backlog stored once, the copy 30 days later too" "12090|90|0" \
	"$(q "select count(*), count(*) filter (where ts >= '2026-12-01'),
	     (select count(*) from (select event_id from calls where team = 'bulk' and ts < '2026-12-01'
	      group by 1 having count(*) > 1) x) from calls where team = 'bulk'")"
assert_eq "the first copy wins" "$((12000 * 100 + 90 * 7))" \
	"$(q "select sum(input_tokens) from calls where team = 'bulk'")"
assert_eq "copies of calls committed long before skipped" "1000" \
	"$(q "select string_agg(distinct input_tokens::text, '|') from calls where event_id like 'sup-%' and ts < '2026-11-02'")"
assert_match "batches were looked up ahead while the writer stored the one before" \
	"looked up ahead in [1-9]" "$(grep -m1 'looked up ahead in [1-9]' "$T/collector-bulk.log")"
assert_eq "rollups agree with the calls after the backlog" 0 "$(rollups_mismatch)"
kill -TERM "$COLLECTOR_PID"
wait "$COLLECTOR_PID"
assert_eq "the second collector exits 0 on SIGTERM" 0 $?
t_done
