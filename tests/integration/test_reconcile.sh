# test_reconcile.sh - the providers' own cost reports against the ledger
# (docs/reconcile.md): calls go in over Kafka, then an OpenAI Costs API
# answer, an Anthropic cost report and a FOCUS CSV of AWS/Azure/Google are
# imported; the report's every row (billed, ledger, difference, percent,
# explanation) is checked against figures worked out by hand below, as CSV,
# JSON and over the API; re-imports are idempotent and the drift alert fires
# once per day and provider.
#
# Fixtures (tests/fixtures/reconcile/): openai_costs.json follows the
# documented answer of GET /v1/organization/costs (platform.openai.com API
# reference, "Costs object": object/amount{value,currency}/line_item/
# project_id in "bucket"s of a "page"); anthropic_cost_report.json follows
# GET /v1/organizations/cost_report (platform.claude.com Admin API, "Get Cost
# Report": amount as a decimal string of cents, workspace_id, description,
# cost_type, context_window, model, service_tier, token_type); focus_cloud.csv
# uses the FOCUS 1.0 column names (BilledCost, BillingCurrency,
# ChargePeriodStart, ProviderName, ServiceName, SubAccountId,
# ChargeDescription...). Amounts are chosen for this test.
. tests/lib.sh

F=tests/fixtures/reconcile
pg_start || exit 1
kafka_start 4 || exit 1
"$BIN" migrate >"$T/migrate.log" 2>&1
assert_eq "migrate applies 0013_reconcile" 1 "$(q "select count(*) from schema_migrations where version = 13")"

# Prices per million tokens. gpt-4o-mini doubles on 2024-11-02.
H='provider,model,tier,input,output,cache_read,cache_write,reasoning,batch_input,batch_output,threshold_tokens,above_input,above_output,above_cache_read,above_cache_write'
printf '%s\nopenai,gpt-4o-mini,small,0.15,0.60,,,,,,,,,,\nanthropic,claude-3-5-sonnet-20241022,large,3.00,15.00,,,,,,,,,,\nbedrock,anthropic.claude-3-5-sonnet-20240620-v1:0,large,3.00,15.00,,,,,,,,,,\nvertex_ai,gemini-1.5-flash,small,0.075,0.30,,,,,,,,,,\n' "$H" >"$T/p1.csv"
printf '%s\nopenai,gpt-4o-mini,small,0.30,1.20,,,,,,,,,,\n' "$H" >"$T/p2.csv"
"$BIN" prices import "$T/p1.csv" --effective-from 2024-10-01 >/dev/null 2>&1
"$BIN" prices import "$T/p2.csv" --effective-from 2024-11-02 >/dev/null 2>&1

# The ledger, per call:
#   openai gpt-4o-mini 1000 in / 100 out on 11-01: 150000000 + 60000000 = $0.00021
#     support x10 = $0.0021, legal x1 = $0.00021 (legal has no mapped project)
#   openai gpt-4o-mini 2000 / 500 on 11-01: $0.0003 + $0.0003 = $0.0006, research x5 = $0.003
#   openai gpt-unknown-x (no price): support x2, unpriced
#   openai gpt-4o-mini 1000 / 100 on 11-02 at the new price: $0.0003 + $0.00012, x4 = $0.00168
#   openai gpt-4o-mini on 11-04: a day no bill covers (not in the report)
#   anthropic claude-3-5-sonnet-20241022 1000 / 100: $0.003 + $0.0015, x3 = $0.0135
#   bedrock ...claude-3-5-sonnet-20240620-v1:0 2000 / 200: $0.006 + $0.003 = $0.009
#   vertex_ai gemini-1.5-flash 2000 / 100: $0.00015 + $0.00003 = $0.00018
awk 'function ev(id, day, team, prov, model, i, o) {
	printf "{\"event_id\":\"%s\",\"ts\":\"2024-11-%sT%02d:00:00Z\",\"team\":\"%s\",\"workflow\":\"w\",\"task_type\":\"t\",\"provider\":\"%s\",\"model\":\"%s\",\"usage\":{\"input_tokens\":%d,\"output_tokens\":%d}}\n", id, day, n++ % 24, team, prov, model, i, o
}
BEGIN {
	for (k = 0; k < 10; k++) ev("s1-" k, "01", "support", "openai", "gpt-4o-mini", 1000, 100)
	ev("l1", "01", "legal", "openai", "gpt-4o-mini", 1000, 100)
	for (k = 0; k < 5; k++) ev("r1-" k, "01", "research", "openai", "gpt-4o-mini", 2000, 500)
	for (k = 0; k < 2; k++) ev("u1-" k, "01", "support", "openai", "gpt-unknown-x", 1000, 100)
	for (k = 0; k < 4; k++) ev("s2-" k, "02", "support", "openai", "gpt-4o-mini", 1000, 100)
	ev("s4", "04", "support", "openai", "gpt-4o-mini", 1000, 100)
	for (k = 0; k < 3; k++) ev("a1-" k, "01", "support", "anthropic", "claude-3-5-sonnet-20241022", 1000, 100)
	ev("b1", "01", "support", "bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0", 2000, 200)
	ev("v1", "01", "data", "vertex_ai", "gemini-1.5-flash", 2000, 100)
}' >"$T/ev.jsonl"
"$BIN" produce "$T/ev.jsonl" >/dev/null 2>&1
collector_start
wait_calls 28 60
sleep 1
kill -TERM "$COLLECTOR_PID"
wait "$COLLECTOR_PID"
assert_eq "ledger filled through Kafka" "28|2" "$(q "select count(*), count(*) filter (where cost_pusd is null) from calls")"

# ---- map and threshold --------------------------------------------------------------
"$BIN" reconcile map --provider openai --project proj_abc --team support >/dev/null
assert_eq "reconcile map" 0 $?
"$BIN" reconcile map --provider openai --project proj_xyz --team research >/dev/null
"$BIN" reconcile map --provider openai --project proj_old --team gone >/dev/null
"$BIN" reconcile map --provider openai --project proj_old --team "" >/dev/null
assert_eq "an empty team removes a mapping" 0 $?
"$BIN" reconcile map --provider aws --project 111122223333 --team support >/dev/null
assert_eq "map list (provider names canonical: aws is bedrock)" "provider,project,team
bedrock,111122223333,support
openai,proj_abc,support
openai,proj_xyz,research" "$("$BIN" reconcile map list | cut -d, -f1-3)"
"$BIN" reconcile map --provider openai --project x >/dev/null 2>&1
assert_eq "map without --team is bad usage" 2 $?
"$BIN" reconcile threshold --pct abc >/dev/null 2>&1
assert_eq "a bad threshold is bad usage" 2 $?
assert_eq "reconcile threshold" "drift alerts above 5.00% (checked at each import)" "$("$BIN" reconcile threshold --pct 5)"

# ---- imports --------------------------------------------------------------------------
"$BIN" reconcile import "$F/openai_costs.json" --format openai >"$T/i1.out" 2>&1
assert_eq "import OpenAI costs" 0 $?
assert_match "OpenAI: 7 lines over 3 days, 2 alerts (11-01 and 11-03 past 5%)" \
	'7 lines for 2024-11-01..2024-11-04, 0 replaced, 0 rows skipped, 2 drift alert' "$(cat "$T/i1.out")"
"$BIN" reconcile import "$F/anthropic_cost_report.json" --format anthropic >"$T/i2.out" 2>&1
assert_match "import Anthropic cost report" '3 lines for 2024-11-01..2024-11-02, 0 replaced, 0 rows skipped, 1 drift alert' "$(cat "$T/i2.out")"
"$BIN" reconcile import "$F/focus_cloud.csv" --format focus >"$T/i3.out" 2>&1
assert_match "import FOCUS CSV: the EC2 row is skipped" '5 lines for 2024-11-01..2024-11-02, 0 replaced, 1 rows skipped, 2 drift alert' "$(cat "$T/i3.out")"
# Usage documents: what the provider counted, no amounts (no alert, no drift).
"$BIN" reconcile import "$F/openai_usage_completions.json" --format openai >"$T/u1.out" 2>&1
assert_match "import OpenAI usage (completions)" '2 lines for 2024-11-01..2024-11-02, 0 replaced, 0 rows skipped, 0 drift alert' "$(cat "$T/u1.out")"
"$BIN" reconcile import "$F/anthropic_usage_report.json" --format anthropic >"$T/u2.out" 2>&1
assert_match "import Anthropic usage report" '1 lines for 2024-11-01..2024-11-02, 0 replaced' "$(cat "$T/u2.out")"
assert_eq "usage stored apart, input counting cache reads and writes" \
"anthropic|claude-3-5-sonnet||3000|400
openai|gpt-4o-mini|12|12000|1200
openai|gpt-4o-mini|5|10000|2500" "$(q "select provider, model, requests, input_tokens, output_tokens from reconcile_usage order by provider, project")"
"$BIN" reconcile import "$F/openai_costs.json" --format anthropic >/dev/null 2>&1
assert_eq "a document of another format is refused" 1 $?
"$BIN" reconcile import "$F/openai_costs.json" >/dev/null 2>&1
assert_eq "--format is required" 2 $?
assert_eq "provenance: file, SHA-256, period, providers" \
	"openai|$(sha256sum "$F/openai_costs.json" | cut -d' ' -f1)|2024-11-01|2024-11-04|{openai}|7" \
	"$(q "select source, sha256, period_start, period_end, providers, lines from reconcile_imports order by id limit 1")"
assert_eq "FOCUS providers" "{azure,bedrock,vertex_ai}" "$(q "select providers from reconcile_imports where source = 'focus'")"
assert_eq "amounts exact in pico-USD (0.0025 USD, 0.9 cents, 1.68e-3 USD)" "2500000000|9000000000|1680000000" \
	"$(q "select (select amount_pusd from reconcile_lines where project = 'proj_abc' and line_item = 'gpt-4o-mini-2024-07-18, input' and day = '2024-11-01'),
	(select amount_pusd from reconcile_lines where line_item like '%Input Tokens'),
	(select amount_pusd from reconcile_lines where day = '2024-11-02')")"

# ---- the report, row by row ---------------------------------------------------------------
# support 11-01: billed 0.0025 + 0.0006 = 0.0031, ledger 0.0021: +0.001 = 32.258% -> 32.26
# anthropic: billed (0.9 + 0.75) cents = 0.0165, ledger 0.0135: +0.003 = 18.18%
# vertex: 0.0002 - 0.00018 = 0.00002 = 10.00%
EXP='day,provider,model,team,projects,billed_usd,ledger_usd,diff_usd,diff_pct,calls,unpriced_calls,explanation
2024-11-01,anthropic,claude-3-5-sonnet,(unmapped),wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ,0.016500000000,0.013500000000,0.003000000000,18.18,3,0,the provider counted 3000 input / 400 output tokens against 3000 / 300 in the ledger; projects not mapped to a team: wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ
2024-11-01,anthropic,(unmatched),(unmapped),default,0.010000000000,0.000000000000,0.010000000000,100.00,0,0,bill lines naming no model tally reads: Web Search; projects not mapped to a team: default
2024-11-01,azure,gpt-4o-mini,(unmapped),00000000-0000-0000-0000-000000000001,0.000330000000,0.000000000000,0.000330000000,100.00,0,0,no calls in the ledger (calls not sent to tally); projects not mapped to a team: 00000000-0000-0000-0000-000000000001
2024-11-01,bedrock,claude-3-5-sonnet,support,111122223333,0.009000000000,0.009000000000,0.000000000000,0.00,1,0,
2024-11-01,openai,gpt-4o-mini,research,proj_xyz,0.003000000000,0.003000000000,0.000000000000,0.00,5,0,
2024-11-01,openai,gpt-4o-mini,support,proj_abc,0.003100000000,0.002100000000,0.001000000000,32.26,10,0,the provider counted 12 requests against 10 calls in the ledger (2 not sent to tally); the provider counted 12000 input / 1200 output tokens against 10000 / 1000 in the ledger
2024-11-01,openai,gpt-4o-mini,(unmapped),,0.000000000000,0.000210000000,-0.000210000000,,1,0,no bill line for these calls
2024-11-01,openai,gpt-unknown-x,support,proj_abc,0.000400000000,0.000000000000,0.000400000000,100.00,2,2,2 unpriced calls (cost 0 in the ledger)
2024-11-01,openai,(unmatched),support,proj_abc,0.060000000000,0.000000000000,0.060000000000,100.00,0,0,bill lines naming no model tally reads: Image models
2024-11-01,vertex_ai,gemini-1.5-flash,(unmapped),acme-vertex-prod,0.000200000000,0.000180000000,0.000020000000,10.00,1,0,projects not mapped to a team: acme-vertex-prod
2024-11-01,vertex_ai,(unmatched),(unmapped),acme-vertex-prod,0.050000000000,0.000000000000,0.050000000000,100.00,0,0,"bill lines naming no model tally reads: Custom model prediction: n1-standard-4 node hours, ""us-central1""; projects not mapped to a team: acme-vertex-prod"
2024-11-02,openai,gpt-4o-mini,support,proj_abc,0.001680000000,0.001680000000,0.000000000000,0.00,4,0,price change that day (1 price version used)
2024-11-03,openai,gpt-4o,support,proj_abc,0.010000000000,0.000000000000,0.010000000000,100.00,0,0,no calls in the ledger (calls not sent to tally)'
R1=$("$BIN" report reconcile --from 2024-11-01 --to 2024-11-05)
assert_eq "report reconcile CSV: every row" "$EXP" "$R1"
J=$("$BIN" report reconcile --from 2024-11-01 --to 2024-11-05 --format json)
# billed 0.16421, ledger 0.02967: +0.13454 = 81.9317% -> 81.93
assert_match "JSON totals" '"totals":\{"billed_usd":"0.164210000000","ledger_usd":"0.029670000000","diff_usd":"0.134540000000","diff_pct":"81.93"\}' "$J"
assert_match "JSON rows: null model and team for unmatched/unmapped, exact strings" \
	'\{"day":"2024-11-01","provider":"openai","model":null,"team":"support","projects":"proj_abc","billed_usd":"0.060000000000","ledger_usd":"0.000000000000","diff_usd":"0.060000000000","diff_pct":"100.00"' "$J"
assert_match "JSON: a row without a bill has a null percent" '"ledger_usd":"0.000210000000","diff_usd":"-0.000210000000","diff_pct":null' "$J"
assert_match "JSON: the usage counted beside the ledger tokens" '"ledger_input_tokens":10000,"ledger_output_tokens":1000,"usage":\{"requests":12,"input_tokens":12000,"output_tokens":1200\}' "$J"
assert_eq "JSON parses and has 13 rows" 13 "$(printf '%s' "$J" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["rows"]))')"
assert_eq "one day: only its rows" 1 "$("$BIN" report reconcile --from 2024-11-03 --to 2024-11-04 | tail -n +2 | wc -l)"

# ---- idempotent re-import, alert once -----------------------------------------------------
"$BIN" reconcile import "$F/openai_costs.json" --format openai >"$T/i4.out" 2>&1
assert_match "re-import replaces its 7 lines, fires no alert again" '7 lines for 2024-11-01..2024-11-04, 7 replaced, 0 rows skipped, 0 drift alert' "$(cat "$T/i4.out")"
assert_eq "re-import: same report" "$R1" "$("$BIN" report reconcile --from 2024-11-01 --to 2024-11-05)"
assert_eq "lines stored once" 15 "$(q "select count(*) from reconcile_lines")"
assert_eq "each import keeps its provenance" "cost|4
usage|2" "$(q "select kind, count(*) from reconcile_imports group by 1 order by 1")"
assert_eq "imports audit-logged" 6 "$(q "select count(*) from audit_log where action = 'reconcile.import'")"
# per day and provider: openai 11-01 billed 0.0665, ledger 0.00531 -> 92.02%;
# anthropic 0.0265 / 0.0135 -> 49.06%; vertex 0.0502 / 0.00018 -> 99.64%.
assert_eq "alerts: once per day and provider" \
"2024-11-01|anthropic|5.00|49.06
2024-11-01|azure|5.00|100.00
2024-11-01|openai|5.00|92.02
2024-11-01|vertex_ai|5.00|99.64
2024-11-03|openai|5.00|100.00" "$(q "select day, provider, threshold_pct, diff_pct from reconcile_alerts order by day, provider")"
assert_eq "each alert queued once for the webhook" 5 "$(q "select count(*) from webhook_outbox where kind = 'reconcile.alert'")"
assert_match "webhook payload" '"event" : "reconcile.alert".*"provider" : "openai".*"billed_usd" : "0.066500000000"' \
	"$(q "select payload from webhook_outbox where kind = 'reconcile.alert' and payload like '%2024-11-01%openai%'")"
assert_eq "reconcile alerts lists them, newest first" \
"id,day,provider,billed_usd,ledger_usd,diff_pct,threshold_pct,import_id
5,2024-11-01,vertex_ai,0.050200000000,0.000180000000,99.64,5.00,3
4,2024-11-01,azure,0.000330000000,0.000000000000,100.00,5.00,3
3,2024-11-01,anthropic,0.026500000000,0.013500000000,49.06,5.00,2
2,2024-11-03,openai,0.010000000000,0.000000000000,100.00,5.00,1
1,2024-11-01,openai,0.066500000000,0.005310000000,92.02,5.00,1" "$("$BIN" reconcile alerts | sed 's/,[^,]*$//')"
assert_eq "alerts audit-logged" 5 "$(q "select count(*) from audit_log where action = 'reconcile.alert'")"

# A corrected document for one day replaces that day only.
sed -e 's/"value": 0.01,/"value": 0.02,/' "$F/openai_costs.json" | python3 -c '
import json, sys
d = json.load(sys.stdin); d["data"] = d["data"][2:]; print(json.dumps(d))' >"$T/openai_fix.json"
"$BIN" reconcile import "$T/openai_fix.json" --format openai >"$T/i5.out" 2>&1
assert_match "corrected day: 1 line replaced" '1 lines for 2024-11-03..2024-11-04, 1 replaced' "$(cat "$T/i5.out")"
assert_eq "corrected day only" "2024-11-03,openai,gpt-4o,support,proj_abc,0.020000000000,0.000000000000,0.020000000000,100.00,0,0,no calls in the ledger (calls not sent to tally)" \
	"$("$BIN" report reconcile --from 2024-11-01 --to 2024-11-05 | grep '^2024-11-03')"
assert_eq "other days untouched" "$(printf '%s\n' "$R1" | grep -v '^2024-11-03')" \
	"$("$BIN" report reconcile --from 2024-11-01 --to 2024-11-05 | grep -v '^2024-11-03')"
"$BIN" reconcile import "$F/openai_costs.json" --format openai >/dev/null 2>&1

# ---- API ---------------------------------------------------------------------------------
key() { "$BIN" keys create "$@" 2>>"$T/keys.log" | tail -n 1; }
ADMIN=$(key --role admin --name ops)
FIN=$(key --role finance --name cfo)
VIEW=$(key --role viewer --team support --name lead)
# The alerts reach a webhook receiver through the outbox, signed, once each.
cat >"$T/receiver.py" <<'PY'
import hashlib, hmac, http.server, json, sys
secret, log, portfile = sys.argv[1].encode(), sys.argv[2], sys.argv[3]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        want = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        ok = hmac.compare_digest(want, self.headers.get("X-Tally-Signature", ""))
        doc = json.loads(body)
        with open(log, "a") as f:
            f.write("%s %s %s %s %s\n" % (self.headers.get("X-Tally-Event"), "sig-ok" if ok else "sig-BAD",
                    doc.get("alert_id"), doc.get("provider"), doc.get("day")))
        self.send_response(200)
        self.end_headers()
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(portfile, "w").write(str(s.server_address[1]))
s.serve_forever()
PY
python3 "$T/receiver.py" s3cret "$T/received.log" "$T/port" 2>"$T/receiver.log" &
PIDS="$PIDS $!"
wait_until 10 test -s "$T/port" || not_ok "receiver started"
export TALLY_WEBHOOK_URL="http://127.0.0.1:$(cat "$T/port")/hook" TALLY_WEBHOOK_SECRET=s3cret
serve_start || { not_ok "tally serve answers"; t_done; }
B="$T/body"
http() { curl -s -o "$B" -w '%{http_code}' "$@"; }
assert_eq "API: finance reads the report" 200 "$(http -H "Authorization: Bearer $FIN" "$U/api/v1/reconcile?from=2024-11-01&to=2024-11-05")"
assert_eq "API JSON = CLI JSON" "$J" "$(cat "$B")"
assert_eq "API CSV = CLI CSV" 200 "$(http -H "Authorization: Bearer $ADMIN" "$U/api/v1/reconcile?from=2024-11-01&to=2024-11-05&format=csv")"
assert_eq "API CSV body" "$R1" "$(cat "$B")"
assert_eq "API: a viewer may not read bills (organisation-wide)" 403 "$(http -H "Authorization: Bearer $VIEW" "$U/api/v1/reconcile?from=2024-11-01&to=2024-11-05")"
assert_eq "API: no token" 401 "$(http "$U/api/v1/reconcile?from=2024-11-01&to=2024-11-05")"
assert_eq "API: from and to required" 400 "$(http -H "Authorization: Bearer $FIN" "$U/api/v1/reconcile?from=2024-11-01")"
assert_eq "API: mappings are admin only" 403 "$(http -H "Authorization: Bearer $FIN" "$U/api/v1/reconcile/mappings")"
assert_eq "API: admin lists mappings" 200 "$(http -H "Authorization: Bearer $ADMIN" "$U/api/v1/reconcile/mappings")"
assert_match "API mapping list" '"provider":"openai","project":"proj_xyz","team":"research"' "$(cat "$B")"
assert_eq "API: admin maps a workspace" 200 "$(http -X POST -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' \
	-d '{"provider":"anthropic","project":"wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ","team":"support"}' "$U/api/v1/reconcile/mappings")"
assert_eq "mapped workspace: the row is the team's" \
	"2024-11-01,anthropic,claude-3-5-sonnet,support,wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ,0.016500000000,0.013500000000,0.003000000000,18.18,3,0,the provider counted 3000 input / 400 output tokens against 3000 / 300 in the ledger" \
	"$("$BIN" report reconcile --from 2024-11-01 --to 2024-11-02 | grep '^2024-11-01,anthropic,claude')"
wait_until 30 sh -c "[ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c \"select count(*) from webhook_outbox where kind = 'reconcile.alert' and delivered_at is null\")\" = 0 ]"
assert_eq "webhook: each alert delivered once, signed" \
"reconcile.alert sig-ok 1 openai 2024-11-01
reconcile.alert sig-ok 2 openai 2024-11-03
reconcile.alert sig-ok 3 anthropic 2024-11-01
reconcile.alert sig-ok 4 azure 2024-11-01
reconcile.alert sig-ok 5 vertex_ai 2024-11-01" "$(sort -k3n "$T/received.log" 2>/dev/null)"
assert_eq "API: a bad mapping body" 400 "$(http -X POST -H "Authorization: Bearer $ADMIN" -d '{"provider":"openai"}' "$U/api/v1/reconcile/mappings")"

# ---- the providers' own documented examples, imported as published -------------------------
# tests/fixtures/reconcile/README.md says where each comes from. The OpenAI ones fall on
# 2024-11-01 and replace that day's OpenAI lines (a re-import of the day): checked apart.
"$BIN" reconcile import "$F/anthropic_cost_report_api_reference_example.json" --format anthropic >"$T/d1.out" 2>&1
assert_eq "Anthropic's documented cost report imports" 0 $?
assert_eq "its one line: 123.78912 cents = \$1.2378912, the workspace, the model" \
	"2025-08-01|anthropic|wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ|claude-sonnet-4|1237891200000" \
	"$(q "select day, provider, project, model, amount_pusd from reconcile_lines where day = '2025-08-01'")"
# (the workspace was mapped to support above)
assert_eq "billed against an empty ledger day" \
	"2025-08-01,anthropic,claude-sonnet-4,support,wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ,1.237891200000,0.000000000000,1.237891200000,100.00,0,0,no calls in the ledger (calls not sent to tally)" \
	"$("$BIN" report reconcile --from 2025-08-01 --to 2025-08-02 | grep '^2025-08-01')"
"$BIN" reconcile import "$F/anthropic_usage_report_messages_api_reference_example.json" --format anthropic >"$T/d2.out" 2>&1
assert_eq "Anthropic's documented usage report imports" 0 $?
assert_eq "its counts: input 1500 + 1000 + 500 + 200, output 500, no request count" \
	"claude-sonnet-4|wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ||3200|500" \
	"$(q "select model, project, requests, input_tokens, output_tokens from reconcile_usage where day = '2025-08-01'")"
"$BIN" reconcile import "$F/openai_costs_api_reference_example.json" --format openai >"$T/d3.out" 2>&1
assert_eq "OpenAI's documented Costs answer imports" 0 $?
assert_eq "its one line: \$0.06, no line item, no project, no model" \
	"2024-11-01|openai||(all line items)||60000000000" \
	"$(q "select day, provider, project, line_item, model, amount_pusd from reconcile_lines where source = 'openai' and day = '2024-11-01'")"
"$BIN" reconcile import "$F/openai_usage_completions_api_reference_example.json" --format openai >"$T/d4.out" 2>&1
assert_eq "OpenAI's documented Usage (completions) answer imports" 0 $?
assert_eq "its counts: 5 requests, 1000 input, 500 output, not grouped by model" \
	"||5|1000|500" \
	"$(q "select model, project, requests, input_tokens, output_tokens from reconcile_usage where provider = 'openai' and day = '2024-11-01'")"
"$BIN" reconcile import "$F/finops_focus_sample_1.0_excerpt.csv" --format focus >"$T/d5.out" 2>&1
assert_eq "the FinOps Foundation's real FOCUS rows (no LLM charge) are refused" 1 $?
assert_match "... saying they are other services" 'no charge tally reconciles: its 8 rows are other services' "$(cat "$T/d5.out")"

t_done
