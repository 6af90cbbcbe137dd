# test_pricing.sh - bill-exact pricing end to end (issue 10): provider usage
# objects forwarded untouched through Kafka, priced per component by the one
# pricer, the components summing exactly to each call, to the rollups, to
# FOCUS and to the chargeback; provider_cost_usd mismatches reported per
# provider and model; reprice; and migration 0010 moving an old ledger
# forward without losing a pico-dollar.
. tests/lib.sh

pg_start || exit 1

# The sum of a call's component costs, from its stored components
# (calls.components, migration 0018).
PARTS="(select coalesce(sum(x.cost_pusd), 0) from tally_call_components(components) x)"

# ---- migration 0010 over a ledger written by the old rule ------------------------
OLD="postgresql:///old?host=$T/sock&user=tally"
"$PGBIN/createdb" -h "$T/sock" -U tally old
for f in migrations/000[1-7]_*.sql; do
	psql "$OLD" -XAtq -v ON_ERROR_STOP=1 -1 -f "$f" >/dev/null || not_ok "old migration $f"
done
psql "$OLD" -XAtq -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now());
INSERT INTO schema_migrations (version, name) SELECT v, 'old' FROM generate_series(1, 7) v;
-- 1e-6 in, 2e-6 out, 1e-7 read, 1.25e-6 write, batch 5e-7/1e-6, above 1000: 2e-6/4e-6
INSERT INTO price_book (provider, model, tier, effective_from, input_pusd, output_pusd,
	cache_read_pusd, cache_write_pusd, batch_input_pusd, batch_output_pusd, threshold_tokens,
	above_input_pusd, above_output_pusd, source)
VALUES ('p', 'm', 'small', '2026-01-01', 1000000, 2000000, 100000, 1250000, 500000, 1000000,
	1000, 2000000, 4000000, 'test');
SELECT tally_ensure_month('2026-11-01');
INSERT INTO calls (event_id, ts, team, workflow, task_type, provider, model, tier, input_tokens,
	output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, usage_shape, batch,
	cache_hit, local, status, cost_pusd, price_version) VALUES
-- 800*1e6 + 200*1e5 + 100*2e6
('a', '2026-11-01T10:00Z', 't', 'w', 'k', 'p', 'm', 'small', 1000, 100, 200, 0, 0, 'tally',
	false, false, false, 'ok', 1020000000, 1),
-- batch: 1000*5e5 + 1000*1e6
('b', '2026-11-01T10:01Z', 't', 'w', 'k', 'p', 'm', 'small', 1000, 1000, 0, 0, 0, 'tally',
	true, false, false, 'ok', 1500000000, 1),
-- long context: 2000*2e6 + 400*4e6 + reasoning 100*4e6
('c', '2026-11-01T10:02Z', 't', 'w', 'k', 'p', 'm', 'small', 2000, 500, 0, 0, 100, 'tally',
	false, false, false, 'ok', 6000000000, 1),
-- cache hit: free
('d', '2026-11-01T10:03Z', 't', 'w', 'k', 'p', 'm', 'small', 1000, 100, 0, 0, 0, 'tally',
	false, true, false, 'ok', 0, 1),
-- unpriced
('e', '2026-11-01T10:04Z', 't', 'w', 'k', 'acme', 'x', 'unknown', 10, 10, 0, 0, 0, 'tally',
	false, false, false, 'ok', NULL, NULL),
-- a stored cost the rule would not give today: kept to the pico-dollar
('f', '2026-11-01T10:05Z', 't', 'w', 'k', 'p', 'm', 'small', 1, 0, 0, 0, 0, 'tally',
	false, false, false, 'ok', 1000123, 1);
SQL
TALLY_DATABASE_URL="$OLD" "$BIN" migrate >"$T/migrate-old.log" 2>&1
assert_eq "0010 migrates a ledger written by the old rule" 0 $?
QO() { psql "$OLD" -XAtq -c "$1"; }
assert_eq "no stored cost changes" "8521000123" "$(QO "select sum(cost_pusd) from calls")"
assert_eq "components sum to each call's cost" "0" \
	"$(QO "select count(*) from calls where coalesce(cost_pusd, 0) <> $PARTS")"
assert_eq "long-context call split by the rule that priced it" "4000000000|1600000000|400000000" \
	"$(QO "select tally_call_component(components, 'input', 2) || '|' || tally_call_component(components, 'output', 2) || '|' || tally_call_component(components, 'reasoning', 2)
		from calls where event_id = 'c'")"
assert_eq "a cache hit keeps its list cost (the realised saving)" "0|1200000000" \
	"$(QO "select cost_pusd || '|' || (tally_call_component(components, 'input', 3) + tally_call_component(components, 'output', 3)) from calls
		where event_id = 'd'")"
assert_eq "an odd stored cost: the remainder stays in output" "1000000|123" \
	"$(QO "select tally_call_component(components, 'input', 2) || '|' || tally_call_component(components, 'output', 2) from calls where event_id = 'f'")"
assert_eq "0018 keeps every component: the stored components still sum to the costs" \
	"8521000123|8521000123" \
	"$(QO "select sum(cost_pusd) || '|' || sum($PARTS) from calls")"
assert_eq "0018: no per-component column and no rollup_charges left" "0|" \
	"$(QO "select (select count(*) from information_schema.columns where table_name = 'calls'
		and (column_name like '%\\_qty' or column_name like '%\\_list\\_pusd'))
		|| '|' || coalesce(to_regclass('rollup_charges')::text, '')")"
assert_eq "zero components take no room (left out of the text)" "0" \
	"$(QO "select count(*) from calls where components ~ '(audio_input|web_search|cache_write):'
		or components ~ ':0:0:0( |$)'")"
assert_eq "the SQL copy of the pricing rule is gone" "" \
	"$(QO "select proname from pg_proc where proname = 'tally_price_mode'")"

# ---- migrations 0015 and 0018 on a ledger already at 0017 (rollup_charges a view) -----
LATE="postgresql:///late?host=$T/sock&user=tally"
"$PGBIN/createdb" -h "$T/sock" -U tally late
for f in migrations/00*.sql; do
	case "$f" in *0015_* | *0018_*) continue ;; esac
	psql "$LATE" -XAtq -v ON_ERROR_STOP=1 -1 -f "$f" >/dev/null || not_ok "migration $f"
done
# recorded as applied, as `tally migrate` records them: every one but 0015 and 0018
psql "$LATE" -XAtq -v ON_ERROR_STOP=1 -c "CREATE TABLE schema_migrations (version integer
	PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())" >/dev/null
for f in migrations/00*.sql; do
	n=${f#migrations/}
	case "$n" in 0015_* | 0018_*) continue ;; esac
	psql "$LATE" -XAtq -c "INSERT INTO schema_migrations (version, name) VALUES (${n%%_*}, '$n')" >/dev/null
done
psql "$LATE" -XAtq -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SELECT tally_ensure_month('2026-11-01');
INSERT INTO calls (event_id, ts, team, workflow, task_type, provider, model, tier, input_tokens,
	output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, usage_shape, batch,
	cache_hit, local, status, cost_pusd, price_version, input_qty, output_qty, input_cost_pusd,
	output_cost_pusd, input_list_pusd, output_list_pusd)
VALUES ('late', '2026-11-01T10:00Z', 't', 'w', 'k', 'p', 'm', 'small', 1000, 100, 0, 0, 0,
	'tally', false, false, false, 'ok', 1200000000, NULL, 1000, 100, 1000000000, 200000000,
	1000000000, 200000000);
SQL
TALLY_DATABASE_URL="$LATE" "$BIN" migrate >"$T/migrate-late.log" 2>&1
assert_eq "0015 and 0018 migrate a ledger already at 0017" 0 $?
QL() { psql "$LATE" -XAtq -c "$1"; }
assert_eq "the call's components in one column, rollup_charges gone" \
	"input:1000:1000000000:1000000000 output:100:200000000:200000000|" \
	"$(QL "select components || '|' || coalesce(to_regclass('rollup_charges')::text, '')
		from calls where event_id = 'late'")"

# ---- provider usage objects through Kafka -------------------------------------------
kafka_start 4 || exit 1
"$BIN" migrate >"$T/migrate.log" 2>&1
assert_eq "migrate" 0 $?
"$BIN" prices import data/litellm_model_prices.json >"$T/prices.log" 2>&1
assert_eq "LiteLLM price map imports every component" 0 $?
assert_eq "batch discounts recorded in the price versions" "500000|500000|0" \
	"$(q "select (select batch_discount_ppm from price_book where provider = 'anthropic'
		and model = 'claude-sonnet-4-5') || '|' || (select batch_discount_ppm from price_book
		where provider = 'gemini' and model = 'gemini-2.5-flash') || '|' ||
		(select batch_discount_ppm from price_book where provider = 'deepseek'
		and model = 'deepseek-chat')")"
assert_eq "tiered_pricing stored: threshold and further tiers" "32000|2" \
	"$(q "select threshold_tokens || '|' || jsonb_array_length(extra_tiers) from price_book
		where provider = 'dashscope' and model = 'qwen3-coder-flash'")"

EV="$T/events.jsonl"
B='"ts":"2026-11-02T10:00:00Z","team":"t","workflow":"w","task_type":"k"'
cat >"$EV" <<EOF
{"event_id":"ttl",$B,"provider":"anthropic","model":"claude-sonnet-4-5","provider_cost_usd":"0.015384","usage":{"input_tokens":2048,"cache_read_input_tokens":1800,"cache_creation_input_tokens":248,"output_tokens":503,"cache_creation":{"ephemeral_1h_input_tokens":100,"ephemeral_5m_input_tokens":148}}}
{"event_id":"search",$B,"provider":"anthropic","model":"claude-sonnet-4-5","provider_cost_usd":"0.12","usage":{"input_tokens":105,"output_tokens":6039,"cache_read_input_tokens":7123,"cache_creation_input_tokens":7345,"server_tool_use":{"web_search_requests":1}}}
{"event_id":"rt",$B,"provider":"openai","model":"gpt-realtime","usage":{"total_tokens":253,"input_tokens":132,"output_tokens":121,"input_token_details":{"text_tokens":119,"audio_tokens":13,"cached_tokens":64,"cached_tokens_details":{"text_tokens":64,"audio_tokens":0}},"output_token_details":{"text_tokens":30,"audio_tokens":91}}}
{"event_id":"flex",$B,"provider":"openai","model":"gpt-5","service_tier":"flex","usage":{"input_tokens":1000,"input_tokens_details":{"cached_tokens":200},"output_tokens":500,"output_tokens_details":{"reasoning_tokens":300}}}
{"event_id":"gem",$B,"provider":"gemini","model":"gemini-2.5-flash","tool_use":{"web_search":2},"usage":{"promptTokenCount":12,"candidatesTokenCount":466,"thoughtsTokenCount":862,"totalTokenCount":1340}}
{"event_id":"bed",$B,"provider":"bedrock","model":"anthropic.claude-sonnet-4-5-20250929-v1:0","batch":true,"usage":{"inputTokens":4,"outputTokens":315,"totalTokens":1339,"cacheReadInputTokens":0,"cacheWriteInputTokens":1020}}
{"event_id":"ds",$B,"provider":"deepseek","model":"deepseek-chat","provider_cost_usd":"0.0001204","usage":{"prompt_tokens":1000,"completion_tokens":100,"total_tokens":1100,"prompt_cache_hit_tokens":800,"prompt_cache_miss_tokens":200}}
{"event_id":"xai",$B,"provider":"xai","model":"grok-4-fast-reasoning","usage":{"prompt_tokens":32,"completion_tokens":9,"total_tokens":135,"prompt_tokens_details":{"text_tokens":32,"audio_tokens":0,"image_tokens":0,"cached_tokens":6},"completion_tokens_details":{"reasoning_tokens":94}}}
{"event_id":"vtx",$B,"provider":"vertex_ai","model":"gemini-2.5-pro","usage":{"input_tokens":1000,"output_tokens":100}}
{"event_id":"eu",$B,"provider":"openai","model":"gpt-5.6","data_residency":"eu","usage":{"input_tokens":1000,"output_tokens":100}}
{"event_id":"tier3",$B,"provider":"dashscope","model":"qwen3-coder-flash","usage":{"input_tokens":200000,"cache_read_tokens":50000,"output_tokens":1000}}
{"event_id":"noaudio",$B,"provider":"openai","model":"gpt-4o-mini","provider_cost_usd":"0.00002","usage":{"prompt_tokens":100,"completion_tokens":10,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":60}}}
{"event_id":"noaudio-now","ts":"$(date -u +%Y-%m-%dT%H:%M:%SZ)","team":"t","workflow":"w","task_type":"k","provider":"openai","model":"gpt-4o-mini","provider_cost_usd":"0.00002","usage":{"prompt_tokens":100,"completion_tokens":10,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":60}}}
{"event_id":"dur",$B,"provider":"openai","model":"whisper-1","usage":{"type":"duration","seconds":9.3}}
{"event_id":"tts",$B,"provider":"openai","model":"tts-1","units":{"input_chars":45},"usage":{"input_tokens":0,"output_tokens":0}}
{"event_id":"live",$B,"provider":"xai","model":"grok-3","usage":{"prompt_tokens":199,"completion_tokens":1,"total_tokens":200,"prompt_tokens_details":{"text_tokens":199,"audio_tokens":0,"image_tokens":0,"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0},"num_sources_used":3}}
{"event_id":"pplx",$B,"provider":"perplexity","model":"sonar-deep-research","usage":{"prompt_tokens":19,"completion_tokens":4532,"total_tokens":4551,"citation_tokens":7143,"num_search_queries":18,"reasoning_tokens":81340}}
{"event_id":"vid",$B,"provider":"gemini","model":"gemini-omni-flash-preview","usage":{"promptTokenCount":100,"candidatesTokenCount":1000,"totalTokenCount":1100,"candidatesTokensDetails":[{"modality":"TEXT","tokenCount":200},{"modality":"VIDEO","tokenCount":800}]}}
{"event_id":"wsc",$B,"provider":"openai","model":"gpt-4o-mini-2024-07-18","output":[{"type":"web_search_call","id":"ws_1","status":"completed","action":{"type":"search","query":"news"}},{"type":"web_search_call","id":"ws_2","status":"completed"},{"type":"message","id":"msg_1","role":"assistant","content":[]}],"usage":{"input_tokens":5000,"input_tokens_details":{"cached_tokens":4864},"output_tokens":40,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":5040}}
{"event_id":"img",$B,"provider":"gemini","model":"gemini-3-pro-image-preview","batch":true,"units":{"output_images":1},"usage":{"input_tokens":20,"output_tokens":0}}
{"event_id":"pix",$B,"provider":"openai","model":"hd/1024-x-1792/dall-e-3","units":{"input_pixels":1835008},"usage":{"input_tokens":0,"output_tokens":0}}
{"event_id":"dsb",$B,"provider":"dashscope","model":"qwen-turbo","batch":true,"usage":{"input_tokens":1000,"output_tokens":100}}
{"event_id":"noimg",$B,"provider":"openai","model":"gpt-4.1","units":{"input_images":2},"usage":{"input_tokens":10,"output_tokens":1}}
{"event_id":"now","ts":"$(date -u +%Y-%m-%dT%H:%M:%SZ)","team":"t","workflow":"w","task_type":"k","provider":"openai","model":"gpt-4.1","provider_cost_usd":"1.00","usage":{"input_tokens":1000,"output_tokens":100}}
EOF
"$BIN" produce "$EV" >"$T/produce.log" 2>&1
assert_eq "events produced" 0 $?
collector_start
wait_calls 24 60
sleep 1
assert_eq "every provider shape stored, none quarantined" "24|0" \
	"$(q "select (select count(*) from calls) || '|' || (select count(*) from quarantine)")"
# Hand-worked in tests/unit/test_pricing.c (rule_cases), pico-USD.
assert_eq "each call at its provider's rule" \
	"bed|4281000000 ds|120400000 dsb|35000000 dur|1000000000 eu|8800000000 flex|3012500000 gem|73323600000 img|67020000000 live|75612000000 noaudio| noaudio-now| noimg| now|2800000000 pix|119991173120 pplx|384600000000 rt|6965600000 search|130580650000 tier3|134000000000 ttl|15384000000 tts|675000000 vid|15950000000 vtx|2250000000 wsc|55409200000 xai|57000000" \
	"$(q "select string_agg(event_id || '|' || coalesce(cost_pusd::text, ''), ' ' order by event_id) from calls")"
assert_eq "Perplexity citation and Gemini video output tokens stored as their own components" \
	"pplx:citation:7143:14286000000:14286000000|vid:video_output:800:14000000000:14000000000" \
	"$(q "select string_agg(c.event_id || ':' || x.component || ':' || x.qty || ':' || x.cost_pusd
		|| ':' || x.list_pusd, '|' order by c.event_id) from calls c,
		tally_call_components(c.components) x where x.component in ('citation', 'video_output')")"
# Per-unit quantities and costs stored in their own columns (0015).
assert_eq "per-unit components stored with their quantities" \
	"dur:input_seconds 10 1000000000|img:output_images 1 67000000000|live:live_search 3 75000000000|pix:input_pixels 1835008 119991173120|tts:input_chars 45 675000000|wsc:web_search 2 55000000000" \
	"$(q "select string_agg(x, '|' order by x) from (
		select event_id || ':input_seconds ' || tally_call_component(components, 'input_seconds', 1) || ' ' || tally_call_component(components, 'input_seconds', 2) x from calls where tally_call_component(components, 'input_seconds', 1) > 0
		union all select event_id || ':output_images ' || tally_call_component(components, 'output_images', 1) || ' ' || tally_call_component(components, 'output_images', 2) from calls where tally_call_component(components, 'output_images', 1) > 0
		union all select event_id || ':live_search ' || tally_call_component(components, 'live_search', 1) || ' ' || tally_call_component(components, 'live_search', 2) from calls where tally_call_component(components, 'live_search', 1) > 0
		union all select event_id || ':input_pixels ' || tally_call_component(components, 'input_pixels', 1) || ' ' || tally_call_component(components, 'input_pixels', 2) from calls where tally_call_component(components, 'input_pixels', 1) > 0
		union all select event_id || ':input_chars ' || tally_call_component(components, 'input_chars', 1) || ' ' || tally_call_component(components, 'input_chars', 2) from calls where tally_call_component(components, 'input_chars', 1) > 0
		union all select event_id || ':web_search ' || tally_call_component(components, 'web_search', 1) || ' ' || tally_call_component(components, 'web_search', 2) from calls where event_id = 'wsc') s")"
assert_match "a per-unit quantity without its price is flagged, not priced at \$0" \
	"has no input_images price for 2 images" \
	"$(q "select unpriced_reason from calls where event_id = 'noimg'")"
assert_eq "the flagged call keeps its quantity" "2" \
	"$(q "select tally_call_component(components, 'input_images', 1) from calls where event_id = 'noimg'")"
assert_eq "components sum exactly to every call" "0" \
	"$(q "select count(*) from calls where coalesce(cost_pusd, 0) <> $PARTS")"
assert_eq "1-hour cache writes stored apart" "100|600000000" \
	"$(q "select tally_call_component(components, 'cache_write_1h', 1) || '|' || tally_call_component(components, 'cache_write_1h', 2) from calls where event_id = 'ttl'")"
assert_eq "web searches stored with their fee" "2|70000000000 18|90000000000 1|10000000000 2|55000000000" \
	"$(q "select string_agg(tally_call_component(components, 'web_search', 1) || '|' || tally_call_component(components, 'web_search', 2), ' ' order by event_id)
		from calls where tally_call_component(components, 'web_search', 1) > 0")"
assert_match "a call needing a rate the book lacks is flagged with the reason" \
	"has no audio_input price for 60 tokens" \
	"$(q "select unpriced_reason from calls where event_id = 'noaudio'")"
# (noaudio-now: the same call made now, inside tally status' 30 days)
assert_eq "flagged calls counted as unpriced" 3 "$(status_field unpriced)"
ST=$("$BIN" status 2>/dev/null)
assert_match "tally status lists mismatches per provider and model" \
	"openai +gpt-4.1 +1 +1 +0 +1.000000000000 +0.002800000000 +0.997200000000" "$ST"
assert_match "tally status: an unpriced call with a provider cost is a mismatch too" \
	"openai +gpt-4o-mini +1 +1 +1 " "$ST"
assert_eq "rollups agree with the calls" 0 "$(rollups_mismatch)"
TOTAL=$(q "select sum(cost_pusd) from calls")
# November's calls: the "now" call above is outside the month exported
TOTAL_USD=$(q "select (sum(cost_pusd) / 1e12)::numeric(30,12) from calls where ts < '2026-12-01'")
colsum() { python3 -c 'import csv,sys,decimal
r=list(csv.DictReader(open(sys.argv[1])))
print(sum((decimal.Decimal(x[sys.argv[2]]) for x in r), decimal.Decimal(0)))' "$1" "$2"; }
"$BIN" export focus --from 2026-11-01 --to 2026-12-01 -o "$T/focus.csv" 2>"$T/focus.err"
assert_eq "FOCUS export" 0 $?
assert_eq "ΣBilledCost = Σ calls' cost" "$TOTAL_USD" \
	"$(colsum "$T/focus.csv" BilledCost)"
assert_match "FOCUS has a row per component" "web search queries of gemini/gemini-2.5-flash" \
	"$(cat "$T/focus.csv")"
assert_match "per-call fees priced in queries" ",Queries," "$(grep 'web search' "$T/focus.csv" | head -n 1)"
CB=$("$BIN" report chargeback --month 2026-11 --format json)
assert_match "chargeback total = Σ calls' cost" \
	"\"cost_usd\":\"$TOTAL_USD\"" "$CB"

# ---- provider_cost_usd mismatches -----------------------------------------------------
MM=$("$BIN" report mismatches --from 2026-11-01 --to 2026-12-01)
assert_eq "mismatch report exits 0" 0 $?
# ttl agrees (0.015384 = 15384000000), deepseek agrees, search is off by
# 0.12 - 0.13058065 and noaudio could not be priced.
assert_match "mismatches per provider and model" \
	"anthropic,claude-sonnet-4-5,2,1,0,0.135384000000,0.145964650000,-0.010580650000" "$MM"
assert_match "an unpriced call with a provider cost is a mismatch" \
	"openai,gpt-4o-mini,1,1,1,0.000020000000,0.000000000000,0.000020000000" "$MM"
assert_match "agreeing calls are no mismatch" "deepseek,deepseek-chat,1,0,0," "$MM"

# ... and through the API (finance and admin; a viewer is refused)
FIN=$("$BIN" keys create --role finance --name cfo 2>/dev/null | tail -n 1)
VIEW=$("$BIN" keys create --role viewer --team t 2>/dev/null | tail -n 1)
if serve_start; then
	J=$(curl -s -H "Authorization: Bearer $FIN" "$U/api/v1/mismatches?from=2026-11-01&to=2026-12-01&format=json")
	assert_match "GET /api/v1/mismatches per provider and model" \
		'"provider":"anthropic","model":"claude-sonnet-4-5","calls":2,"mismatched_calls":1' "$J"
	assert_match "GET /api/v1/mismatches counts them" '"mismatched_calls":2\}' "$J"
	assert_match "GET /api/v1/prices: per-unit rates in USD per unit (xAI Live Search)" \
		'"usd_per_unit":\{"web_search":null,"request":null,[^}]*"live_search":"0.025000000000"' \
		"$(curl -s -H "Authorization: Bearer $FIN" "$U/api/v1/prices?provider=xai&model=grok-3")"
	assert_match "GET /api/v1/prices: further tiers with their rates" \
		'"extra_tiers":\[\{"from_tokens":128000,"usd_per_million_tokens":\{"input":"0.800000","cache_read":"0.200000","output":"4.000000"\}' \
		"$(curl -s -H "Authorization: Bearer $FIN" "$U/api/v1/prices?provider=dashscope&model=qwen3-coder-flash")"
	assert_match "GET /api/v1/call: the price version's per-unit rates" \
		'"usd_per_unit" *: *\{[^}]*"output_images" *: *"0.134000000000"' \
		"$(curl -s -H "Authorization: Bearer $FIN" "$U/api/v1/call?event_id=img")"
	assert_match "GET /api/v1/call: the per-unit component as stored" \
		'"component" *: *"output_images", *"quantity" *: *1, *"unit" *: *"images", *"cost_usd" *: *"0.067000000000"' \
		"$(curl -s -H "Authorization: Bearer $FIN" "$U/api/v1/call?event_id=img")"
	assert_eq "a viewer may not read mismatches" 403 \
		"$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $VIEW" \
			"$U/api/v1/mismatches?from=2026-11-01&to=2026-12-01")"
else
	not_ok "tally serve answers"
fi
kill -TERM "$SERVE_PID"

# ---- reprice ---------------------------------------------------------------------------
"$BIN" prices reprice --from 2026-11-01 --to 2026-12-01 >"$T/reprice.log" 2>&1
assert_eq "reprice runs" 0 $?
assert_eq "reprice with the same book changes nothing" "$TOTAL" "$(q "select sum(cost_pusd) from calls")"
assert_match "reprice examined every call" "22 calls examined, 0 changed" "$(cat "$T/reprice.log")"
assert_eq "rollups still agree after reprice" 0 "$(rollups_mismatch)"

kill -TERM "$COLLECTOR_PID"
wait "$COLLECTOR_PID"
t_done
