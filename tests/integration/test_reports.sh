# test_reports.sh - finance reports over a stream produced through Kafka with
# known prices: chargeback (none / proportional / even) reconciles exactly
# with `report spend`; FOCUS export columns, formats and ΣBilledCost; cost
# per outcome and waste with exact expected sums; teams and cost centres.
. tests/lib.sh

pg_start || exit 1
kafka_start 4 || exit 1
"$BIN" migrate >"$T/migrate.log" 2>&1
assert_eq "migrations (0003_reports included) apply" 0 $?
# Known prices, USD per million tokens (docs/prices.md).
cat >"$T/prices.csv" <<'CSV'
provider,model,tier,input,output,cache_read,cache_write,reasoning,batch_input,batch_output,threshold_tokens,above_input,above_output,above_cache_read,above_cache_write
testp,m-small,small,1.00,2.00,0.10,1.25,,0.50,1.00,,,,,
testp,m-large,large,3.00,15.00,,,,,,1000,6.00,22.50,,
CSV
"$BIN" prices import "$T/prices.csv" --effective-from 2026-10-01 >"$T/prices.log" 2>&1
assert_eq "test price list imports" 0 $?

EV="$T/events.jsonl"
awk 'BEGIN {
	# team a (CC1): 10 m-small calls, 200 of 1000 input cached: $0.00102 each;
	# 3 of them share a prompt (2 repeats within the window); outcomes O-1..O-5
	for (i = 0; i < 10; i++)
		printf "{\"event_id\":\"a-%d\",\"ts\":\"2026-11-01T10:%02d:00Z\",\"team\":\"a\",\"workflow\":\"wa\",\"task_type\":\"t1\",\"outcome_id\":\"O-%d\",\"provider\":\"testp\",\"model\":\"m-small\",\"usage\":{\"input_tokens\":1000,\"output_tokens\":100,\"cache_read_tokens\":200},\"prompt_hash\":\"%s\"}\n", i, i, i % 5 + 1, i < 3 ? "h1" : "u" i
	# team a: 4 cache hits (cost 0; at list price $0.0012 each)
	for (i = 0; i < 4; i++)
		printf "{\"event_id\":\"ah-%d\",\"ts\":\"2026-11-01T11:%02d:00Z\",\"team\":\"a\",\"workflow\":\"wa\",\"task_type\":\"t1\",\"provider\":\"testp\",\"model\":\"m-small\",\"usage\":{\"input_tokens\":1000,\"output_tokens\":100},\"cache_hit\":true}\n", i, i
	# team b (CC1): 5 long-context m-large calls with reasoning: $0.02325 each
	for (i = 0; i < 5; i++)
		printf "{\"event_id\":\"b-%d\",\"ts\":\"2026-11-02T09:%02d:00Z\",\"team\":\"b\",\"workflow\":\"wb\",\"task_type\":\"t2\",\"provider\":\"testp\",\"model\":\"m-large\",\"usage\":{\"input_tokens\":2000,\"output_tokens\":500,\"reasoning_tokens\":100}}\n", i, i
	# team c (CC2): 3 batch m-small calls: $0.0015 each
	for (i = 0; i < 3; i++)
		printf "{\"event_id\":\"c-%d\",\"ts\":\"2026-11-03T08:%02d:00Z\",\"team\":\"c\",\"workflow\":\"wc\",\"task_type\":\"t3\",\"provider\":\"testp\",\"model\":\"m-small\",\"usage\":{\"input_tokens\":1000,\"output_tokens\":1000},\"batch\":true}\n", i, i
	# team d (no cost centre): 7 m-large at $0.0018 and 2 errored m-small at $0.001
	for (i = 0; i < 7; i++)
		printf "{\"event_id\":\"d-%d\",\"ts\":\"2026-11-04T12:%02d:00Z\",\"team\":\"d\",\"workflow\":\"wd\",\"task_type\":\"t4\",\"provider\":\"testp\",\"model\":\"m-large\",\"usage\":{\"input_tokens\":100,\"output_tokens\":100}}\n", i, i
	for (i = 0; i < 2; i++)
		printf "{\"event_id\":\"de-%d\",\"ts\":\"2026-11-04T13:%02d:00Z\",\"team\":\"d\",\"workflow\":\"wd\",\"task_type\":\"t4\",\"provider\":\"testp\",\"model\":\"m-small\",\"usage\":{\"input_tokens\":1000,\"output_tokens\":0},\"status\":\"error\"}\n", i, i
	# outcomes: O-2 failed, O-5 never arrives, O-9 has no calls
	for (i = 1; i <= 4; i++)
		printf "{\"outcome_id\":\"O-%d\",\"ts\":\"2026-11-01T12:00:00Z\",\"workflow\":\"wa\",\"success\":%s}\n", i, i == 2 ? "false" : "true"
	printf "{\"outcome_id\":\"O-9\",\"ts\":\"2026-11-01T12:00:00Z\",\"workflow\":\"wa\",\"success\":true}\n"
	# December: must not leak into November
	printf "{\"event_id\":\"dec-1\",\"ts\":\"2026-12-01T00:00:00Z\",\"team\":\"a\",\"workflow\":\"wa\",\"task_type\":\"t1\",\"provider\":\"testp\",\"model\":\"m-small\",\"usage\":{\"input_tokens\":1000,\"output_tokens\":0}}\n"
}' >"$EV"
"$BIN" produce "$EV" >"$T/produce.log" 2>&1
assert_eq "events produced" 0 $?
collector_start
wait_calls 32 60
wait_until 30 sh -c "[ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c 'select count(*) from outcomes')\" -ge 4 ]"
sleep 1
assert_eq "all calls stored" 32 "$(q 'select count(*) from calls')"

SPEND=$("$BIN" report spend --from 2026-11-01 --to 2026-12-01 --group-by team --format json)
assert_match "spend total is the exact expected sum" '"total":\{"calls":31,[^}]*"cost_usd":"0.145550000000"' "$SPEND"

# ---- teams and cost centres ---------------------------------------------------
"$BIN" teams set-cost-center a CC1 >/dev/null && "$BIN" teams set-cost-center b CC1 >/dev/null &&
	"$BIN" teams set-cost-center c CC2 >/dev/null
assert_eq "teams set-cost-center" 0 $?
assert_match "teams list shows the mapping and the unassigned team" 'a,CC1,.*d,\(unassigned\)' \
	"$("$BIN" teams list | tr '\n' ' ')"
assert_eq "mapping recorded in the audit log" 3 "$(q "select count(*) from audit_log where action='teams.set_cost_center'")"
"$BIN" teams set-cost-center >/dev/null 2>&1
assert_eq "teams set-cost-center without arguments is bad usage" 2 $?

# ---- chargeback ------------------------------------------------------------------
C=$("$BIN" report chargeback --month 2026-11 2>"$T/cb.err")
assert_eq "chargeback CSV (none): exact rows, unassigned shown apart" \
"month,cost_center,team,calls,input_tokens,output_tokens,cost_usd,share_pct
2026-11,CC1,a,14,14000,1400,0.010200000000,7.0079
2026-11,CC1,b,5,10000,2500,0.116250000000,79.8695
2026-11,CC2,c,3,3000,3000,0.004500000000,3.0917
2026-11,(unassigned),d,9,2700,700,0.014600000000,10.0309" "$C"
assert_match "method printed" "method: none" "$(cat "$T/cb.err")"

# sums of a CSV column, exactly (Python decimals, not floats)
colsum() { python3 -c 'import csv,sys,decimal
r=list(csv.DictReader(open(sys.argv[1])))
print(sum((decimal.Decimal(x[sys.argv[2]]) for x in r), decimal.Decimal(0)))' "$1" "$2"; }
for m in none proportional even; do
	"$BIN" report chargeback --month 2026-11 --share-unassigned $m >"$T/cb-$m.csv" 2>/dev/null
	assert_eq "chargeback ($m) total equals report spend exactly" "0.145550000000" "$(colsum "$T/cb-$m.csv" cost_usd)"
	assert_eq "chargeback ($m) share_pct sums to exactly 100" "100.0000" "$(colsum "$T/cb-$m.csv" share_pct)"
	"$BIN" report chargeback --month 2026-11 --share-unassigned $m --format json >"$T/cb-$m.json"
	assert_match "chargeback ($m) JSON total and method" "\"method\":\"$m\".*\"total\":\\{\"calls\":31,\"input_tokens\":29700,\"output_tokens\":7600,\"cost_usd\":\"0.145550000000\",\"share_pct\":\"100.0000\"\\}" "$(cat "$T/cb-$m.json")"
done
# proportional: U = 14,600,000,000 pico-USD over a, b, c by their spend
# (10.2, 116.25, 4.5 of 130.95); largest remainder hands out the last units.
assert_eq "proportional shares are exact (floor + largest remainder)" \
"2026-11,CC1,a,14,14000,1400,0.011337227950,7.7892
2026-11,CC1,b,5,10000,2500,0.129211053837,88.7744
2026-11,CC2,c,3,3000,3000,0.005001718213,3.4364
2026-11,(unassigned),d,9,2700,700,0.000000000000,0.0000" "$(tail -n +2 "$T/cb-proportional.csv")"
assert_eq "even shares: 14.6e9 / 3, remainder 2 to the first teams" \
"2026-11,CC1,a,14,14000,1400,0.015066666667,10.3515
2026-11,CC1,b,5,10000,2500,0.121116666667,83.2131
2026-11,CC2,c,3,3000,3000,0.009366666666,6.4354
2026-11,(unassigned),d,9,2700,700,0.000000000000,0.0000" "$(tail -n +2 "$T/cb-even.csv")"
"$BIN" report chargeback --month 2026-13 >/dev/null 2>&1
assert_eq "bad month is bad usage" 2 $?
"$BIN" report chargeback --month 2026-11 --share-unassigned half >/dev/null 2>&1
assert_eq "bad sharing method is bad usage" 2 $?

# ---- FOCUS ----------------------------------------------------------------------------
"$BIN" export focus --from 2026-11-01 --to 2026-12-01 -o "$T/focus.csv" 2>"$T/focus.err"
assert_eq "export focus writes the file" 0 $?
assert_eq "no temp file left behind" "" "$(ls "$T" | grep partial)"
H=$(head -n 1 "$T/focus.csv")
missing=""
for c in BilledCost BillingAccountId BillingAccountName BillingCurrency BillingPeriodStart \
	BillingPeriodEnd ChargeCategory ChargeClass ChargeDescription ChargePeriodStart \
	ChargePeriodEnd ContractedCost EffectiveCost InvoiceIssuerName ListCost PricingQuantity \
	PricingUnit ProviderName PublisherName ServiceCategory ServiceName ConsumedQuantity \
	ConsumedUnit SkuId Tags; do
	case ",$H," in *",$c,"*) ;; *) missing="$missing $c" ;; esac
done
assert_eq "FOCUS header has every mandatory column (+ optional ones)" "" "$missing"
assert_eq "ΣBilledCost reconciles with chargeback exactly" "0.145550000000" "$(colsum "$T/focus.csv" BilledCost)"
assert_eq "ΣEffectiveCost = ΣBilledCost" "0.145550000000" "$(colsum "$T/focus.csv" EffectiveCost)"
# ListCost = ListUnitPrice x PricingQuantity, each row at the one rate it was
# charged (batch and long-context rates are their own SKU prices); cache hits
# are no provider usage and are left out (docs/focus.md): = ΣBilledCost.
assert_eq "ΣListCost = ΣBilledCost (no negotiated rates)" "0.145550000000" "$(colsum "$T/focus.csv" ListCost)"
assert_eq "Σ PricingQuantity of team a = its tokens (cache hits left out)" "11000" \
	"$(python3 -c 'import csv,sys,json
print(sum(int(r["PricingQuantity"]) for r in csv.DictReader(open(sys.argv[1])) if json.loads(r["Tags"])["tally/team"]=="a"))' "$T/focus.csv")"
FMT=$(python3 - "$T/focus.csv" <<'PY'
import csv, json, re, sys
iso = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$')
dec = re.compile(r'^-?\d+(\.\d+)?$')
bad = []
mandatory_nonnull = ["BilledCost", "BillingAccountId", "BillingCurrency", "BillingPeriodStart",
    "BillingPeriodEnd", "ChargeCategory", "ChargeDescription", "ChargePeriodStart",
    "ChargePeriodEnd", "ContractedCost", "EffectiveCost", "InvoiceIssuerName", "ListCost",
    "ProviderName", "PublisherName", "ServiceCategory", "ServiceName"]
for i, r in enumerate(csv.DictReader(open(sys.argv[1])), 2):
    for c in mandatory_nonnull:
        if r[c] == "": bad.append(f"line {i}: {c} empty")
    for c in ["BillingPeriodStart", "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd"]:
        if not iso.match(r[c]): bad.append(f"line {i}: {c} {r[c]}")
    for c in ["BilledCost", "ListCost", "EffectiveCost", "ContractedCost", "PricingQuantity", "ConsumedQuantity"]:
        if not dec.match(r[c]): bad.append(f"line {i}: {c} {r[c]}")
    if r["BillingCurrency"] != "USD" or r["ChargeCategory"] != "Usage": bad.append(f"line {i}: values")
    if r["ChargeClass"] not in ("", "Correction"): bad.append(f"line {i}: ChargeClass")
    if r["ServiceCategory"] != "AI and Machine Learning": bad.append(f"line {i}: ServiceCategory")
    if r["ChargePeriodStart"] >= r["ChargePeriodEnd"] or not (r["BillingPeriodStart"] <= r["ChargePeriodStart"] < r["BillingPeriodEnd"]): bad.append(f"line {i}: periods")
    t = json.loads(r["Tags"])
    if not {"tally/team", "tally/workflow", "tally/task_type", "tally/cost_center"} <= set(t): bad.append(f"line {i}: Tags {t}")
print("\n".join(bad[:5]) or "ok")
PY
)
assert_eq "FOCUS values follow the spec's formats (ISO 8601 UTC, decimals, no nulls)" "ok" "$FMT"
assert_match "token kinds are separate rows" "reasoning tokens of testp/m-large" "$(cat "$T/focus.csv")"
assert_match "Tags carry the cost centre" '"tally/cost_center"":""CC1""' "$(grep ',a,a,' "$T/focus.csv" | head -n 1)"
"$BIN" export focus --from 2026-11-01 --to 2026-12-01 --granularity hour -o "$T/focus-h.csv" 2>/dev/null
assert_eq "hourly FOCUS reconciles too" "0.145550000000" "$(colsum "$T/focus-h.csv" BilledCost)"
# A range that is not whole hours gives the same rows (no call before
# 2026-11-01 to clamp).
"$BIN" export focus --from 2026-10-31T23:59:59Z --to 2026-12-01 -o "$T/focus-calls.csv" 2>/dev/null
assert_eq "FOCUS of whole hours = FOCUS of a range that is not, byte for byte" "$(cat "$T/focus.csv")" "$(cat "$T/focus-calls.csv")"
"$BIN" export focus --from 2026-10-31T23:59:59Z --to 2026-12-01 --granularity hour -o "$T/focus-hc.csv" 2>/dev/null
assert_eq "hourly FOCUS: the same" "$(cat "$T/focus-h.csv")" "$(cat "$T/focus-hc.csv")"
assert_match "hourly charge periods" "2026-11-01T10:00:00Z,2026-11-01T10:00:00Z|2026-11-01T11:00:00Z,2026-11-01T10:00:00Z" "$(cat "$T/focus-h.csv")"
"$BIN" export focus --from 2026-11-01 --to 2026-12-01 --granularity week >/dev/null 2>&1
assert_eq "bad granularity is bad usage" 2 $?

# ---- cost per outcome ---------------------------------------------------------------------
O=$("$BIN" report outcomes --from 2026-11-01 --to 2026-12-01)
# O-1..O-4 known (8 calls of a), 3 successes; O-5 (2 calls) never arrived; O-9 no calls
assert_eq "cost per outcome: spend / successes, calls per outcome by tier, apart rows" \
"workflow,outcomes,successes,success_rate,calls,spend_usd,cost_per_success_usd,calls_per_outcome_by_tier
wa,4,3,0.7500,8,0.008160000000,0.002720000000,small:2.00
(outcome never arrived),,,,2,0.002040000000,,
(outcomes without calls),1,,,0,0.000000000000,," "$O"
assert_match "outcomes JSON with weeks" '"weeks":\[\{"week":"2026-10-26","outcomes":4,"successes":3' \
	"$("$BIN" report outcomes --from 2026-11-01 --to 2026-12-01 --format json)"

# ---- waste ------------------------------------------------------------------------------------
W=$("$BIN" report waste --from 2026-11-01 --to 2026-12-01)
assert_eq "waste: failed, repeated, realised cache savings, over-tier empty without a policy" \
"team,workflow,failed_calls,failed_usd,repeated_calls,repeated_usd,cache_hit_calls,cache_savings_usd,over_tier_usd,spend_usd
a,wa,0,0.000000000000,2,0.002040000000,4,0.004800000000,,0.010200000000
b,wb,0,0.000000000000,0,0.000000000000,0,0.000000000000,,0.116250000000
c,wc,0,0.000000000000,0,0.000000000000,0,0.000000000000,,0.004500000000
d,wd,2,0.002000000000,0,0.000000000000,0,0.000000000000,,0.014600000000" "$W"
assert_match "a 30-second window finds no repeats" '^a,wa,0,0.000000000000,0,0.000000000000,4' \
	"$("$BIN" report waste --from 2026-11-01 --to 2026-12-01 --window 30s | sed -n 2p)"
assert_match "waste JSON explains the empty over-tier column" '"over_tier_usd":null.*"over_tier_note":"over-tier' \
	"$("$BIN" report waste --from 2026-11-01 --to 2026-12-01 --format json)"

# ---- the same reports over HTTP ---------------------------------------------------------
key() { "$BIN" keys create "$@" 2>>"$T/keys.log" | tail -n 1; }
ADMIN=$(key --role admin --name ops)
FIN=$(key --role finance --name cfo)
VIEW=$(key --role viewer --team a --name a-lead)
serve_start || not_ok "tally serve answers"
B="$T/body"
http() { curl -s -o "$B" -w '%{http_code}' "$@"; }
assert_eq "GET /api/v1/chargeback (finance)" 200 "$(http -H "Authorization: Bearer $FIN" "$U/api/v1/chargeback?month=2026-11&share_unassigned=proportional")"
assert_eq "API chargeback = CLI chargeback (same code)" "$(cat "$T/cb-proportional.json")" "$(cat "$B")"
assert_eq "chargeback CSV over HTTP" "$(cat "$T/cb-none.csv")" "$(curl -s -H "Authorization: Bearer $FIN" "$U/api/v1/chargeback?month=2026-11&format=csv")"
assert_eq "viewer chargeback" 200 "$(http -H "Authorization: Bearer $VIEW" "$U/api/v1/chargeback?month=2026-11")"
assert_match "a viewer sees only its team" '^\{"month":"2026-11","method":"none",[^]]*"rows":\[\{"cost_center":"CC1","team":"a",[^]]*\]' "$(cat "$B")"
case "$(cat "$B")" in *'"team":"b"'*) not_ok "viewer never sees team b" ;; *) ok "viewer never sees team b" ;; esac
assert_eq "viewer cannot ask for another team's waste" 403 "$(http -H "Authorization: Bearer $VIEW" "$U/api/v1/waste?from=2026-11-01&to=2026-12-01&team=b")"
assert_eq "viewer waste is its own team" 200 "$(http -H "Authorization: Bearer $VIEW" "$U/api/v1/waste?from=2026-11-01&to=2026-12-01")"
assert_match "only team a rows" '"rows":\[\{"team":"a","workflow":"wa",[^]]*\],' "$(cat "$B")"
assert_eq "outcomes need finance/admin" 403 "$(http -H "Authorization: Bearer $VIEW" "$U/api/v1/outcomes?from=2026-11-01&to=2026-12-01")"
assert_eq "outcomes (finance)" 200 "$(http -H "Authorization: Bearer $FIN" "$U/api/v1/outcomes?from=2026-11-01&to=2026-12-01")"
http -H "Authorization: Bearer $FIN" "$U/api/v1/outcomes?from=2026-11-01&to=2026-12-01&format=csv" >/dev/null
assert_eq "outcomes CSV over HTTP = the CLI's" "$("$BIN" report outcomes --from 2026-11-01 --to 2026-12-01 --format csv)" "$(cat "$B")"
http -H "Authorization: Bearer $FIN" "$U/api/v1/waste?from=2026-11-01&to=2026-12-01&format=csv" >/dev/null
assert_eq "waste CSV over HTTP = the CLI's" "$("$BIN" report waste --from 2026-11-01 --to 2026-12-01 --format csv)" "$(cat "$B")"
assert_match "a CSV answer is a named attachment" 'Content-Disposition: attachment; filename="tally-waste.csv"' \
	"$(curl -s -D - -o /dev/null -H "Authorization: Bearer $FIN" "$U/api/v1/waste?from=2026-11-01&to=2026-12-01&format=csv" | tr -d '\r')"
assert_eq "an unknown format: 400" 400 "$(http -H "Authorization: Bearer $FIN" "$U/api/v1/waste?from=2026-11-01&to=2026-12-01&format=xml")"
assert_eq "FOCUS export needs finance/admin" 403 "$(http -H "Authorization: Bearer $VIEW" "$U/api/v1/export/focus?from=2026-11-01&to=2026-12-01")"
assert_eq "FOCUS export over HTTP" 200 "$(http -H "Authorization: Bearer $FIN" "$U/api/v1/export/focus?from=2026-11-01&to=2026-12-01")"
assert_eq "API FOCUS = CLI FOCUS" "$(cat "$T/focus.csv")" "$(cat "$B")"
assert_eq "budgets POST (finance)" 200 "$(http -H "Authorization: Bearer $FIN" -H 'Content-Type: application/json' -d '{"scope":"team","name":"a","amount_usd":"0.02"}' "$U/api/v1/budgets")"
assert_eq "budgets POST refused for a viewer" 403 "$(http -H "Authorization: Bearer $VIEW" -d '{"scope":"team","name":"a","amount_usd":"1"}' "$U/api/v1/budgets")"
assert_eq "budgets POST validates the amount" 400 "$(http -H "Authorization: Bearer $FIN" -d '{"scope":"team","name":"a","amount_usd":"-1"}' "$U/api/v1/budgets")"
assert_eq "budgets POST from a later month" 200 "$(http -H "Authorization: Bearer $FIN" -d '{"scope":"team","name":"a","amount_usd":"0.5","from_month":"2026-12"}' "$U/api/v1/budgets")"
assert_eq "budgets POST with a bad from_month: 400" 400 "$(http -H "Authorization: Bearer $FIN" -d '{"scope":"team","name":"a","amount_usd":"0.5","from_month":"2026-13"}' "$U/api/v1/budgets")"
assert_eq "budgets GET (viewer)" 200 "$(http -H "Authorization: Bearer $VIEW" "$U/api/v1/budgets?at=2026-11-16")"
assert_match "viewer sees its budget with forecast" '"scope":"team","name":"a","month":"2026-11","budget_usd":"0.020000000000","spend_usd":"0.010200000000"' "$(cat "$B")"
http -H "Authorization: Bearer $VIEW" "$U/api/v1/budgets?at=2026-12-02" >/dev/null
assert_match "December has the amount set from then" '"scope":"team","name":"a","month":"2026-12","budget_usd":"0.500000000000"' "$(cat "$B")"
http -H "Authorization: Bearer $FIN" "$U/api/v1/budgets?at=2026-11-16&format=csv" >/dev/null
assert_eq "budgets CSV over HTTP = the CLI's" "$("$BIN" budgets list --at 2026-11-16 --format csv)" "$(cat "$B")"
"$BIN" budgets evaluate --at 2026-11-16 >/dev/null
# (November's: the server evaluates the current month on its own too, and
# December has a budget from above)
assert_match "team a's budget fired alerts (50% actual, forecast thresholds)" '^[2-6]$' \
	"$(q "select count(*) from budget_alerts where scope = 'team' and name = 'a' and period = '2026-11-01'")"
N_AL=$(q "select count(*) from budget_alerts where scope = 'team' and name = 'a'")
assert_eq "alerts GET" 200 "$(http -H "Authorization: Bearer $VIEW" "$U/api/v1/alerts")"
assert_eq "a viewer gets all of its team's alerts" "$N_AL" "$(grep -o '"id":' "$B" | wc -l)"
http -H "Authorization: Bearer $FIN" "$U/api/v1/alerts?limit=1&offset=1" >/dev/null
assert_eq "alerts page: limit=1&offset=1 is the second newest" \
	"$(q "select id from budget_alerts order by id desc limit 1 offset 1")" \
	"$(sed -n 's/^{"alerts":\[{"id":\([0-9]*\),.*/\1/p' "$B")"
assert_eq "alerts limit is bounded" 400 "$(http -H "Authorization: Bearer $FIN" "$U/api/v1/alerts?limit=501")"
assert_eq "budgets DELETE" 200 "$(http -X DELETE -H "Authorization: Bearer $FIN" "$U/api/v1/budgets?scope=team&name=a")"
assert_eq "budgets DELETE unknown" 404 "$(http -X DELETE -H "Authorization: Bearer $FIN" "$U/api/v1/budgets?scope=team&name=a")"
assert_eq "teams POST needs admin" 403 "$(http -H "Authorization: Bearer $FIN" -d '{"team":"d","cost_center":"CC2"}' "$U/api/v1/teams")"
assert_eq "teams POST (admin)" 200 "$(http -H "Authorization: Bearer $ADMIN" -d '{"team":"d","cost_center":"CC2"}' "$U/api/v1/teams")"
assert_eq "teams GET" 200 "$(http -H "Authorization: Bearer $FIN" "$U/api/v1/teams")"
assert_match "d now maps to CC2" '"team":"d","cost_center":"CC2"' "$(cat "$B")"
assert_match "chargeback follows the new mapping, same total" '"method":"none".*"total":\{"calls":31,[^}]*"cost_usd":"0.145550000000","share_pct":"100.0000"\},"unassigned_cost_usd":"0.000000000000"' \
	"$(curl -s -H "Authorization: Bearer $FIN" "$U/api/v1/chargeback?month=2026-11")"
kill -TERM "$SERVE_PID"
wait "$SERVE_PID"

kill -TERM "$COLLECTOR_PID"
wait "$COLLECTOR_PID"
t_done
