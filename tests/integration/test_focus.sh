#!/bin/sh
# test_focus.sh - FOCUS 1.2 conformance of `tally export focus` (docs/focus.md).
#
# A diverse ledger goes through Kafka and the collector (direct OpenAI and
# Anthropic, Claude on Bedrock, Azure OpenAI, Vertex AI, a self-hosted model,
# cache reads and writes, batch, tags, a cache hit, an unpriced call) and is
# exported over several ranges (whole month, partial day, hourly partial
# range, empty range). tests/focus_check.py checks every file against the
# MUST rules of the FOCUS 1.2 specification that apply to the columns tally
# writes (each check cites its column or attribute section); this script
# asserts the exact per-row figures worked out below, compares the rows the
# export sums in C with one SQL statement's over 3,000 irregular calls
# (daily and hourly, ranges inside days, hours and seconds), then re-prices
# the month and exports it again.
. tests/lib.sh

pg_start || exit 1
kafka_start 2 || exit 1
"$BIN" migrate >"$T/migrate.log" 2>&1
assert_eq "migrations apply" 0 $?

# USD per million tokens; x 10^6 = pico-USD per token:
#   gpt-4o-mini          in 150,000  cache read 75,000  out 600,000
#   claude-sonnet-4      in 3,000,000  cache read 300,000  cache write 3,750,000
#                        out 15,000,000; batch in 1,500,000, batch out 7,500,000;
#                        above 200,000 input tokens: in 6,000,000, out 22,500,000
#   Bedrock's Claude     in 3,000,000  out 15,000,000
#   Azure gpt-4o         in 2,500,000  out 10,000,000
#   Vertex gemini flash  in 300,000  out 2,500,000
#   self-hosted llama    in 100,000  out 100,000
cat >"$T/prices.csv" <<'CSV'
provider,model,tier,input,output,cache_read,cache_write,reasoning,batch_input,batch_output,threshold_tokens,above_input,above_output,above_cache_read,above_cache_write
openai,gpt-4o-mini,small,0.15,0.60,0.075,,,,,,,,,
anthropic,claude-sonnet-4,large,3.00,15.00,0.30,3.75,,1.50,7.50,200000,6.00,22.50,,
bedrock,anthropic.claude-sonnet-4,large,3.00,15.00,0.30,3.75,,,,,,,,
azure,gpt-4o,large,2.50,10.00,1.25,,,,,,,,,
vertex_ai,gemini-2.5-flash,small,0.30,2.50,0.075,,,,,,,,,
selfhost,llama-3.1-70b,local,0.10,0.10,,,,,,,,,,
CSV
"$BIN" prices import "$T/prices.csv" --effective-from 2026-10-01 >"$T/prices.log" 2>&1
assert_eq "price list imports" 0 $?

ev() { # ev ID TS TEAM PROVIDER MODEL USAGE [EXTRA]
	printf '{"event_id":"%s","ts":"%s","team":"%s","workflow":"w-%s","task_type":"t-%s","provider":"%s","model":"%s","usage":%s%s}\n' \
		"$1" "$2" "$3" "$3" "$3" "$4" "$5" "$6" "${7:+,$7}"
}
{
	# A1, A2: OpenAI, 1000 input of which 400 cache read, 200 output, tagged
	ev a1 2026-11-03T10:00:00Z a openai gpt-4o-mini '{"input_tokens":1000,"cache_read_tokens":400,"output_tokens":200}' '"tags":{"env":"prod"}'
	ev a2 2026-11-03T10:05:00Z a openai gpt-4o-mini '{"input_tokens":1000,"cache_read_tokens":400,"output_tokens":200}' '"tags":{"env":"prod"}'
	# A3: answered by the application's cache: no provider usage
	ev a3 2026-11-03T10:10:00Z a openai gpt-4o-mini '{"input_tokens":1000,"output_tokens":200}' '"cache_hit":true,"tags":{"env":"prod"}'
	# A4: the partial-day range's call
	ev a4 2026-11-15T12:30:00Z a openai gpt-4o-mini '{"input_tokens":100,"output_tokens":10}' '"tags":{"env":"prod"}'
	# B1: Anthropic with cache read and write; a number tag and a spoofed tally/ key
	ev b1 2026-11-03T11:00:00Z b anthropic claude-sonnet-4 '{"input_tokens":2000,"cache_read_tokens":500,"cache_write_tokens":1000,"output_tokens":100}' '"tags":{"env":"dev","n":5,"tally/team":"spoof"}'
	# B2: Anthropic batch
	ev b2 2026-11-03T11:30:00Z b anthropic claude-sonnet-4 '{"input_tokens":1000,"output_tokens":1000}' '"batch":true'
	# B3: Anthropic above its long-context threshold
	ev b3 2026-11-06T09:00:00Z b anthropic claude-sonnet-4 '{"input_tokens":250000,"output_tokens":100}'
	# C1: Claude on Bedrock; C2: Azure OpenAI
	ev c1 2026-11-04T09:00:00Z c bedrock anthropic.claude-sonnet-4 '{"input_tokens":1000,"output_tokens":100}'
	ev c2 2026-11-04T09:10:00Z c azure gpt-4o '{"input_tokens":1000,"output_tokens":100}'
	# D1: Vertex AI; D2: self-hosted; D3: a model without a price
	ev d1 2026-11-05T08:00:00Z d vertex_ai gemini-2.5-flash '{"input_tokens":1000,"output_tokens":100}'
	ev d2 2026-11-05T08:10:00Z d selfhost llama-3.1-70b '{"input_tokens":1000,"output_tokens":1000}' '"local":true'
	ev d3 2026-11-05T08:20:00Z d openai gpt-unknown '{"input_tokens":500,"output_tokens":50}'
	# December: outside every range below
	ev e1 2026-12-01T00:00:00Z a openai gpt-4o-mini '{"input_tokens":1000,"output_tokens":0}'
} >"$T/events.jsonl"
"$BIN" produce "$T/events.jsonl" >"$T/produce.log" 2>&1
assert_eq "events produced" 0 $?
collector_start
wait_calls 13 60
sleep 1
assert_eq "all calls stored" 13 "$(q 'select count(*) from calls')"
"$BIN" teams set-cost-center a CC-A >/dev/null && "$BIN" teams set-cost-center b CC-B >/dev/null &&
	"$BIN" teams set-cost-center c CC-C >/dev/null
assert_eq "cost centres mapped (team d stays unmapped)" 0 $?

check() { # check NAME FILE FROM TO - the MUST rules of FOCUS 1.2 over FILE
	python3 tests/integration/focus_check.py "$2" "$2.metadata.json" "$3" "$4" >"$T/check.out" 2>&1
	assert_eq "$1: FOCUS 1.2 MUST rules hold" "ok" "$(tail -n 1 "$T/check.out")"
	[ "$(tail -n 1 "$T/check.out")" = ok ] || cat "$T/check.out"
}
# row FILE SKUPRICEID CHARGEPERIODSTART COLUMNS... - the row's values, comma-separated
row() {
	python3 - "$@" <<'PY'
import csv, sys
f, sku, start, cols = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
rows = [r for r in csv.DictReader(open(f, newline="")) if r["SkuPriceId"] == sku and r["ChargePeriodStart"] == start]
print("|".join(",".join(r[c] for c in cols) for r in rows))
PY
}
colsum() { python3 -c 'import csv,sys,decimal
print(sum((decimal.Decimal(x[sys.argv[2]]) for x in csv.DictReader(open(sys.argv[1]))), decimal.Decimal(0)))' "$1" "$2"; }
F=BilledCost,ListUnitPrice,ListCost,ContractedCost,PricingQuantity,x_CallCount

# ---- the whole month ------------------------------------------------------------------
M="$T/month.csv"
"$BIN" export focus --from 2026-11-01 --to 2026-12-01 -o "$M" 2>"$T/export.err"
assert_eq "export focus (month)" 0 $?
assert_eq "the schema metadata is written beside the file" 0 "$([ -s "$M.metadata.json" ]; echo $?)"
check "month" "$M" 2026-11-01T00:00:00Z 2026-12-01T00:00:00Z
# ΣBilledCost (pico-USD): A1+A2 480e6, A4 21e6, B1 6.9e9, B2 9e9, B3 1.5e12 +
# 2.25e9, C1 4.5e9, C2 3.5e9, D1 550e6, D2 200e6, D3 unpriced 0
# = 1,527,401,000,000.
assert_eq "ΣBilledCost = the worked-out total" "1.527401000000" "$(colsum "$M" BilledCost)"
SPEND=$("$BIN" report spend --from 2026-11-01 --to 2026-12-01 --group-by team --format json)
assert_match "ΣBilledCost = report spend" '"total":\{[^}]*"cost_usd":"1.527401000000"' "$SPEND"
D3=2026-11-03T00:00:00Z
# A1+A2: input 2 x 600 x 150,000 = 180e6; cache read 2 x 400 x 75,000 = 60e6;
# output 2 x 200 x 600,000 = 240e6 pico-USD.
assert_eq "OpenAI input: 1200 tokens at 0.00000015" "0.000180000000,0.000000150000,0.000180000000,0.000180000000,1200,2" \
	"$(row "$M" openai/gpt-4o-mini/input/standard $D3 $(echo $F | tr , ' '))"
assert_eq "OpenAI cache read at its own rate" "0.000060000000,0.000000075000,0.000060000000,0.000060000000,800,2" \
	"$(row "$M" openai/gpt-4o-mini/cache_read/standard $D3 $(echo $F | tr , ' '))"
assert_eq "OpenAI output" "0.000240000000,0.000000600000,0.000240000000,0.000240000000,400,2" \
	"$(row "$M" openai/gpt-4o-mini/output/standard $D3 $(echo $F | tr , ' '))"
# B1: cache write 1000 x 3,750,000 = 3.75e9: ListCost = BilledCost (it was
# below BilledCost before: the uncached list rate).
assert_eq "Anthropic cache write: ListCost = BilledCost at the cache-write rate" \
	"0.003750000000,0.000003750000,0.003750000000,0.003750000000,1000,1" \
	"$(row "$M" anthropic/claude-sonnet-4/cache_write/standard $D3 $(echo $F | tr , ' '))"
assert_eq "Anthropic uncached input: 500 x 3,000,000" "0.001500000000,0.000003000000,0.001500000000,0.001500000000,500,1" \
	"$(row "$M" anthropic/claude-sonnet-4/input/standard $D3 $(echo $F | tr , ' '))"
# B2: batch input 1000 x 1,500,000 = 1.5e9, output 1000 x 7,500,000 = 7.5e9
assert_eq "batch input is its own SKU price" "0.001500000000,0.000001500000,0.001500000000,0.001500000000,1000,1" \
	"$(row "$M" anthropic/claude-sonnet-4/input/batch $D3 $(echo $F | tr , ' '))"
assert_eq "batch output" "0.007500000000,0.000007500000,0.007500000000,0.007500000000,1000,1" \
	"$(row "$M" anthropic/claude-sonnet-4/output/batch $D3 $(echo $F | tr , ' '))"
# B3: 250,000 x 6,000,000 = 1.5e12; 100 x 22,500,000 = 2.25e9: the long-context
# rate is its own SKU price
assert_eq "long-context input" "1.500000000000,0.000006000000,1.500000000000,1.500000000000,250000,1" \
	"$(row "$M" anthropic/claude-sonnet-4/input/standard/long-context-1 2026-11-06T00:00:00Z $(echo $F | tr , ' '))"
assert_eq "long-context output" "0.002250000000,0.000022500000,0.002250000000,0.002250000000,100,1" \
	"$(row "$M" anthropic/claude-sonnet-4/output/standard/long-context-1 2026-11-06T00:00:00Z $(echo $F | tr , ' '))"
I=ProviderName,InvoiceIssuerName,PublisherName,ServiceName,x_InCloudBill,BillingAccountId
assert_eq "Claude on Bedrock: AWS sells and bills, Anthropic publishes" \
	"Amazon Web Services,Amazon Web Services,Anthropic,Amazon Bedrock,true,bedrock" \
	"$(row "$M" bedrock/anthropic.claude-sonnet-4/input/standard 2026-11-04T00:00:00Z $(echo $I | tr , ' '))"
assert_eq "Bedrock input 1000 x 3,000,000" "0.003000000000,0.000003000000,0.003000000000,0.003000000000,1000,1" \
	"$(row "$M" bedrock/anthropic.claude-sonnet-4/input/standard 2026-11-04T00:00:00Z $(echo $F | tr , ' '))"
assert_eq "Azure OpenAI: Microsoft / OpenAI" "Microsoft,Microsoft,OpenAI,Azure OpenAI,true,azure" \
	"$(row "$M" azure/gpt-4o/output/standard 2026-11-04T00:00:00Z $(echo $I | tr , ' '))"
assert_eq "Azure output 100 x 10,000,000" "0.001000000000,0.000010000000,0.001000000000,0.001000000000,100,1" \
	"$(row "$M" azure/gpt-4o/output/standard 2026-11-04T00:00:00Z $(echo $F | tr , ' '))"
D5=2026-11-05T00:00:00Z
assert_eq "Vertex AI: Google Cloud / Google" "Google Cloud,Google Cloud,Google,Vertex AI,true,vertex_ai" \
	"$(row "$M" vertex_ai/gemini-2.5-flash/input/standard $D5 $(echo $I | tr , ' '))"
assert_eq "direct OpenAI in its own casing, not in a cloud bill" "OpenAI,OpenAI,OpenAI,OpenAI API,false,openai" \
	"$(row "$M" openai/gpt-4o-mini/input/standard $D3 $(echo $I | tr , ' '))"
assert_eq "direct Anthropic" "Anthropic,Anthropic,Anthropic,Claude API,false,anthropic" \
	"$(row "$M" anthropic/claude-sonnet-4/input/standard $D3 $(echo $I | tr , ' '))"
assert_eq "self-hosted: the configured provider, Meta publishes" "Self-hosted,Self-hosted,Meta,Self-hosted models,false,self-hosted" \
	"$(row "$M" selfhost/llama-3.1-70b/input/standard $D5 $(echo $I | tr , ' '))"
TALLY_FOCUS_SELF_HOSTED_PROVIDER="Acme GPU cluster" "$BIN" export focus --from 2026-11-05 --to 2026-11-06 -o "$T/self.csv" 2>/dev/null
assert_eq "the self-hosted provider's name is configurable" "Acme GPU cluster,Acme GPU cluster,Meta" \
	"$(row "$T/self.csv" selfhost/llama-3.1-70b/output/standard $D5 ProviderName InvoiceIssuerName PublisherName)"
assert_eq "unpriced call: flagged, quantity kept, 0 billed" "0.000000000000,500,true," \
	"$(row "$M" openai/gpt-unknown/input/standard $D5 BilledCost PricingQuantity x_Unpriced x_PriceVersion)"
assert_eq "the cache hit is no provider usage (2 calls, not 3)" "2" \
	"$(row "$M" openai/gpt-4o-mini/output/standard $D3 x_CallCount)"
# Tags: tally's keys under tally/, the calls' own as sent (jsonb's key order);
# the spoofed tally/team is dropped; an unmapped cost centre is null.
assert_eq "Tags carry the call's tags and tally's keys" \
	'{"tally/team":"a","tally/workflow":"w-a","tally/task_type":"t-a","tally/cost_center":"CC-A","env": "prod"}' \
	"$(row "$M" openai/gpt-4o-mini/input/standard $D3 Tags)"
assert_eq "tag values kept as sent (5 stays a number); a tally/ key of the call is dropped" \
	'{"tally/team":"b","tally/workflow":"w-b","tally/task_type":"t-b","tally/cost_center":"CC-B","n": 5, "env": "dev"}' \
	"$(row "$M" anthropic/claude-sonnet-4/input/standard $D3 Tags)"
assert_eq "an unmapped cost centre is null, not \"\"" 'null' \
	"$(row "$M" vertex_ai/gemini-2.5-flash/input/standard $D5 Tags | python3 -c 'import json,sys; print(json.dumps(json.loads(sys.stdin.read())["tally/cost_center"]))')"
assert_eq "December stays out of November" "" "$(grep -c '2026-12-01T00:00:00Z,2026-12-01' "$M" | grep -v '^0$')"

# ---- a partial day: the charge period is clamped to the range -------------------------
P="$T/partial.csv"
"$BIN" export focus --from 2026-11-15T12:00:00Z --to 2026-11-15T18:00:00Z -o "$P" 2>/dev/null
assert_eq "export focus (partial day)" 0 $?
check "partial day" "$P" 2026-11-15T12:00:00Z 2026-11-15T18:00:00Z
# A4: input 100 x 150,000 = 15e6, output 10 x 600,000 = 6e6
assert_eq "partial day: the period is [12:00, 18:00), not the whole day" \
	"2026-11-15T12:00:00Z,2026-11-15T18:00:00Z,0.000015000000,0.000000150000,0.000015000000,100" \
	"$(row "$P" openai/gpt-4o-mini/input/standard 2026-11-15T12:00:00Z ChargePeriodStart ChargePeriodEnd BilledCost ListUnitPrice ListCost PricingQuantity)"
assert_eq "partial day: 2 rows" 2 "$(($(wc -l <"$P") - 1))"

# ---- hourly over a range that starts and ends inside hours --------------------------------
H="$T/hourly.csv"
"$BIN" export focus --from 2026-11-03T10:03:00Z --to 2026-11-03T11:15:00Z --granularity hour -o "$H" 2>/dev/null
assert_eq "export focus (hourly, partial hours)" 0 $?
check "hourly partial" "$H" 2026-11-03T10:03:00Z 2026-11-03T11:15:00Z
# only A2 of A1, A2: input 600 x 150,000 = 90e6
assert_eq "hourly: the first period starts at the range's start" \
	"2026-11-03T10:03:00Z,2026-11-03T11:00:00Z,0.000090000000,600,1" \
	"$(row "$H" openai/gpt-4o-mini/input/standard 2026-11-03T10:03:00Z ChargePeriodStart ChargePeriodEnd BilledCost PricingQuantity x_CallCount)"
assert_eq "hourly: the last period ends at the range's end" "2026-11-03T11:15:00Z" \
	"$(row "$H" anthropic/claude-sonnet-4/cache_write/standard 2026-11-03T11:00:00Z ChargePeriodEnd)"
assert_eq "hourly: B2 (11:30) is outside" "" "$(row "$H" anthropic/claude-sonnet-4/input/batch 2026-11-03T11:00:00Z BilledCost)"

# ---- an empty range ------------------------------------------------------------------------
E="$T/empty.csv"
"$BIN" export focus --from 2026-10-01 --to 2026-10-02 -o "$E" 2>/dev/null
assert_eq "export focus (empty range)" 0 $?
check "empty range" "$E" 2026-10-01T00:00:00Z 2026-10-02T00:00:00Z
assert_eq "empty range: the header only" 1 "$(wc -l <"$E")"

# ---- the sums per charge period against SQL's own -------------------------------------------
# The export sums each period's calls in C (ledger/focus_rows.c). 3,000 calls written straight
# into September with irregular amounts (unit prices that do not divide, rounded as
# round(billed / qty, 6)), nested and tally/ tags, cache hits, batch, unpriced calls; each
# export is compared row by row, in order, with one SQL statement that groups and sorts the
# same calls (the statement the export ran before).
q "SELECT tally_ensure_month('2026-09-01T00:00:00Z');
INSERT INTO calls (event_id, ts, team, workflow, task_type, provider, model, tier,
	input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,
	usage_shape, batch, cache_hit, local, status, cost_pusd, price_version, components, tags)
SELECT 's-' || i, timestamptz '2026-09-01T00:00:00Z' + (i * 677 % 1728000) * interval '1 second'
		+ (i % 1000) * interval '1 microsecond',
	'team-' || (i % 5), 'wf-' || (i % 3), 'task-' || (i % 2), p, m, 'small',
	100 + i % 900, 10 + i % 90, 0, 0, 0, 'tally', i % 11 = 0, i % 13 = 0, false, 'ok',
	CASE WHEN i % 17 = 0 THEN NULL ELSE (100 + i % 900) * (1000 + i % 7) + (10 + i % 90) * 3001 END,
	CASE WHEN i % 17 = 0 THEN NULL ELSE (SELECT min(price_version) FROM price_book) END,
	'input:' || (100 + i % 900) || ':' || CASE WHEN i % 17 = 0 THEN 0 ELSE (100 + i % 900) * (1000 + i % 7) END
		|| ':0 output:' || (10 + i % 90) || ':' || CASE WHEN i % 17 = 0 THEN 0 ELSE (10 + i % 90) * 3001 END || ':0',
	CASE i % 4 WHEN 0 THEN NULL WHEN 1 THEN jsonb_build_object('env', 'e' || (i % 3))
		WHEN 2 THEN jsonb_build_object('env', 'e' || (i % 3), 'tally/team', 'x', 'cfg', jsonb_build_object('k', i % 2))
		ELSE jsonb_build_object('n', i % 2, 'l', jsonb_build_array(1, 'a\"b')) END
FROM generate_series(1, 3000) i,
	LATERAL (SELECT (ARRAY['openai', 'anthropic', 'bedrock'])[1 + i % 3] AS p,
		(ARRAY['m-a', 'M-b', 'm_c', 'ä-d'])[1 + i % 4] AS m) pm" >/dev/null
assert_eq "3,000 calls in September" 3000 "$(q "select count(*) from calls where ts >= '2026-09-01' and ts < '2026-10-01'")"
# sqlsums FROM TO UNIT - the rows as one SQL statement groups and orders them
sqlsums() {
	q "SELECT concat_ws('|', to_char(greatest(g.p, '$1'::timestamptz), 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
		to_char(least(g.p + interval '1 $3', '$2'::timestamptz), 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
		g.provider, g.model, g.team, g.workflow, g.task_type,
		(SELECT coalesce(jsonb_object_agg(e.key, CASE WHEN jsonb_typeof(e.value) IN ('object', 'array')
			THEN to_jsonb(e.value::text) ELSE e.value END), '{}') FROM jsonb_each(g.tags) e
			WHERE e.key NOT LIKE 'tally/%')::text,
		coalesce(g.price_version::text, ''), g.svc, g.kind, g.qty,
		g.billed * 0.000000000001::numeric(40,12),
		CASE WHEN g.qty = 0 THEN 0 WHEN mod(g.billed, g.qty) = 0 THEN div(g.billed, g.qty)
			ELSE round(g.billed / g.qty, 6) END * 0.000000000001,
		CASE WHEN g.qty = 0 THEN 0 WHEN mod(g.billed, g.qty) = 0 THEN div(g.billed, g.qty)
			ELSE round(g.billed / g.qty, 6) END * g.qty * 0.000000000001, g.n)
	FROM (SELECT date_trunc('$3', c.ts, 'UTC') AS p, c.provider, c.model, c.team, c.workflow,
		c.task_type, coalesce(c.tags, '{}') AS tags, c.price_version,
		CASE WHEN c.batch THEN 'batch' ELSE 'standard' END AS svc, x.kind,
		count(*) AS n, sum(x.qty) AS qty, sum(x.cost) AS billed
		FROM calls c CROSS JOIN LATERAL (SELECT split_part(e, ':', 1) AS kind,
			split_part(e, ':', 2)::numeric AS qty, split_part(e, ':', 3)::numeric AS cost
			FROM unnest(string_to_array(c.components, ' ')) e) x
		WHERE c.ts >= '$1' AND c.ts < '$2' AND NOT c.cache_hit
		GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10) g
	WHERE g.qty <> 0 OR g.billed <> 0
	ORDER BY g.p, g.provider, g.model, g.team, g.workflow, g.task_type, g.tags::text,
		g.price_version NULLS LAST, g.svc, g.kind"
}
# exportsums FILE - the same fields from the export's rows, in the file's order
exportsums() {
	python3 - "$1" <<'PY'
import csv, json, sys
for r in csv.DictReader(open(sys.argv[1], newline="")):
    t = json.loads(r["Tags"])
    own = {k: v for k, v in t.items() if not k.startswith("tally/")}
    print("|".join([r["ChargePeriodStart"], r["ChargePeriodEnd"], r["x_Route"], r["x_Model"],
        t["tally/team"], t["tally/workflow"], t["tally/task_type"],
        json.dumps(own, sort_keys=True), r["x_PriceVersion"], r["x_PricingMode"], r["x_TokenKind"],
        r["PricingQuantity"], r["BilledCost"], r["ListUnitPrice"], r["ListCost"], r["x_CallCount"]]))
PY
}
# canonical TEXT - SQL's rows with the tags as sorted JSON, as exportsums writes them
canonical() {
	python3 -c 'import json, sys
for l in sys.stdin.read().splitlines():
    f = l.split("|")
    f[7] = json.dumps(json.loads(f[7]), sort_keys=True)
    print("|".join(f))'
}
rounded=0
for r in "2026-09-01 2026-10-01 day" "2026-09-03T05:30:00Z 2026-09-17T13:45:30.5Z day" \
	"2026-09-10T03:20:00Z 2026-09-12T07:10:00Z hour" "2026-09-01T00:00:00.000001Z 2026-09-21T00:00:00Z hour"; do
	set -- $r
	S="$T/sums.csv"
	if [ "$3" = hour ]; then g="--granularity hour"; else g=""; fi
	"$BIN" export focus --from "$1" --to "$2" $g -o "$S" 2>/dev/null
	want=$(sqlsums "$1" "$2" "$3" | canonical)
	got=$(exportsums "$S")
	assert_eq "$1 .. $2 by $3: each row's sums = SQL's, in SQL's order ($(printf '%s\n' "$want" | wc -l) rows)" "$want" "$got"
	rounded=$((rounded + $(printf '%s\n' "$got" | awk -F'|' 'length($14) == 20' | wc -l)))
done
assert_eq "some of those unit prices are rounded (18 fraction digits)" true "$([ "$rounded" -gt 0 ] && echo true)"

# ---- the API: the same CSV, with its schema metadata linked ----------------------------------
FIN=$("$BIN" keys create --role finance --name cfo 2>/dev/null | tail -n 1)
serve_start || not_ok "tally serve answers"
curl -s -D "$T/h" -o "$T/api.csv" -H "Authorization: Bearer $FIN" "$U/api/v1/export/focus?from=2026-11-01&to=2026-12-01"
assert_eq "API FOCUS = CLI FOCUS" "$(cat "$M")" "$(cat "$T/api.csv")"
assert_match "the answer links its schema metadata" '^Link: </api/v1/export/focus/metadata>; rel="describedby"' "$(tr -d '\r' <"$T/h")"
curl -s -o "$T/api.csv.metadata.json" -H "Authorization: Bearer $FIN" "$U/api/v1/export/focus/metadata"
check "API answer" "$T/api.csv" 2026-11-01T00:00:00Z 2026-12-01T00:00:00Z

# ---- a reprice of the exported month: re-delivery ---------------------------------------------
cat >"$T/prices2.csv" <<'CSV'
provider,model,tier,input,output,cache_read,cache_write,reasoning,batch_input,batch_output,threshold_tokens,above_input,above_output,above_cache_read,above_cache_write
openai,gpt-4o-mini,small,0.20,0.60,0.075,,,,,,,,,
CSV
"$BIN" prices import "$T/prices2.csv" --effective-from 2026-11-10 >/dev/null 2>&1 &&
	printf 'provider,model,tier,input,output\nopenai,gpt-unknown,small,1.00,2.00\n' >"$T/prices3.csv" &&
	"$BIN" prices import "$T/prices3.csv" --effective-from 2026-10-01 >/dev/null 2>&1
assert_eq "corrected prices import" 0 $?
"$BIN" prices reprice --from 2026-11-01 --to 2026-12-01 >"$T/reprice.log" 2>&1
assert_eq "reprice the month" 0 $?
R="$T/month2.csv"
"$BIN" export focus --from 2026-11-01 --to 2026-12-01 -o "$R" 2>/dev/null
check "re-delivered month" "$R" 2026-11-01T00:00:00Z 2026-12-01T00:00:00Z
# A4 now at 200,000: 100 x 200,000 = 20e6 (+5e6); D3 priced: 500 x 1,000,000
# + 50 x 2,000,000 = 600e6. 1,527,401e6 + 5e6 + 600e6 = 1,528,006,000,000.
assert_eq "re-delivered ΣBilledCost" "1.528006000000" "$(colsum "$R" BilledCost)"
assert_eq "A4 at the corrected rate, a new price version" "0.000020000000,0.000000200000,100,false" \
	"$(row "$R" openai/gpt-4o-mini/input/standard 2026-11-15T00:00:00Z BilledCost ListUnitPrice PricingQuantity x_Unpriced)"
assert_eq "A1, A2 keep their price version" \
	"$(row "$M" openai/gpt-4o-mini/input/standard $D3 x_PriceVersion)" "$(row "$R" openai/gpt-4o-mini/input/standard $D3 x_PriceVersion)"
assert_eq "the formerly unpriced call is priced" "0.000500000000,0.000001000000,false" \
	"$(row "$R" openai/gpt-unknown/input/standard $D5 BilledCost ListUnitPrice x_Unpriced)"
assert_eq "no Correction rows: the month is re-delivered whole" "" "$(grep -c ',Correction,' "$R" | grep -v '^0$')"
t_done
