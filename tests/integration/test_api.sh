# test_api.sh - the web API of `tally serve` against a ledger filled by
# events produced over Kafka: every endpoint's happy path, 401/403/404/405/
# 413/400, a viewer probing other teams through every parameter, SQL
# metacharacters and path traversal in every string parameter, HTTP ingestion
# through the collector, and /metrics through a strict exposition parser.
. tests/lib.sh

pg_start || exit 1
kafka_start 4 || exit 1
"$BIN" migrate >"$T/migrate.log" 2>&1
assert_eq "migrate applies 0002_web" 0 $?
"$BIN" prices import data/litellm_model_prices.json >"$T/prices.log" 2>&1

# ---- keys -----------------------------------------------------------------
key() { "$BIN" keys create "$@" 2>>"$T/keys.log" | tail -n 1; }
ADMIN=$(key --role admin --name ops)
FIN=$(key --role finance --name cfo)
VIEW=$(key --role viewer --team support --name support-lead)
LEGAL=$(key --role viewer --team legal)
assert_match "keys create prints the token last" '^tly_[0-9a-f]{64}$' "$ADMIN"
assert_match "viewer token" '^tly_[0-9a-f]{64}$' "$VIEW"
"$BIN" keys create --role viewer >/dev/null 2>&1
assert_eq "a viewer key needs --team" 2 $?
"$BIN" keys create --role root >/dev/null 2>&1
assert_eq "unknown role refused" 2 $?
L=$("$BIN" keys list)
assert_match "keys list shows roles and teams" 'viewer +support +support-lead' "$L"
case "$L" in *"$ADMIN"* | *"${ADMIN#tly_}"*) not_ok "keys list never shows a token" ;; *) ok "keys list never shows a token" ;; esac
assert_eq "only hashes are stored" 0 "$(q "select count(*) from api_keys where token_sha256 = '${ADMIN#tly_}' or token_sha256 like 'tly_%'")"
assert_eq "stored hash is SHA-256 of the token" 1 \
	"$(q "select count(*) from api_keys where token_sha256 = '$(printf %s "$ADMIN" | sha256sum | cut -d' ' -f1)'")"
TMP=$(key --role finance --name temp)
TMP_ID=$(q "select id from api_keys where name='temp'")

# ---- data through Kafka ---------------------------------------------------
EV="$T/events.jsonl"
awk 'BEGIN {
	for (i = 0; i < 100; i++)
		printf "{\"event_id\":\"sup-%d\",\"ts\":\"2026-11-01T10:%02d:00Z\",\"team\":\"support\",\"workflow\":\"ticket-triage\",\"task_type\":\"classify\",\"provider\":\"openai\",\"model\":\"gpt-4o-mini\",\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":200,\"prompt_tokens_details\":{\"cached_tokens\":400}}}\n", i, i % 60
	for (i = 0; i < 50; i++)
		printf "{\"event_id\":\"leg-%d\",\"ts\":\"2026-11-02T11:%02d:00Z\",\"team\":\"legal\",\"workflow\":\"contract-review\",\"task_type\":\"legal-review\",\"provider\":\"anthropic\",\"model\":\"claude-sonnet-4-20250514\",\"usage\":{\"input_tokens\":1000,\"cache_creation_input_tokens\":200,\"cache_read_input_tokens\":800,\"output_tokens\":500}}\n", i, i
}' >"$EV"
printf 'not json at all\n{"event_id":"bad-1","ts":"2026-11-01T10:00:00Z","team":"support"}\n' >>"$EV"
printf '{"event_id":"bin-1","ts":"2026-11-01T10:00:00Z","team":"\377\376"}\n' >>"$EV"
"$BIN" produce "$EV" >"$T/produce.log" 2>&1
collector_start
wait_until 60 sh -c "[ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c 'select count(*) from calls')\" -ge 150 ] && [ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c 'select count(*) from quarantine')\" -ge 3 ]"
assert_eq "ledger filled through Kafka" 150 "$(q "select count(*) from calls")"

# ---- the server -------------------------------------------------------------
serve_start || { not_ok "tally serve answers"; t_done; }

B="$T/body"
H="$T/headers"
# http [curl args...] - prints the status code; body in $B, headers in $H
http() { curl -s -o "$B" -D "$H" -w '%{http_code}' "$@"; }
body() { cat "$B"; }
A="Authorization: Bearer $ADMIN"
F="Authorization: Bearer $FIN"
V="Authorization: Bearer $VIEW"

assert_eq "healthz 200" 200 "$(http "$U/healthz")"
assert_eq "healthz says ok" ok "$(body)"
assert_eq "readyz 200" 200 "$(http "$U/readyz")"
assert_eq "readyz names both parts" '{"ledger":"ok","kafka":"ok"}' "$(body)"
http "$U/healthz" >/dev/null
assert_match "nosniff on every answer" '^X-Content-Type-Options: nosniff' "$(tr -d '\r' <"$H")"
assert_match "CSP self on every answer" "^Content-Security-Policy: default-src 'self'" "$(tr -d '\r' <"$H")"
assert_match "X-Frame-Options DENY" '^X-Frame-Options: DENY' "$(tr -d '\r' <"$H")"

# 401
assert_eq "no token: 401" 401 "$(http "$U/api/v1/spend")"
assert_match "401 is a JSON error" '^\{"error":"[^"]+"\}$' "$(body)"
assert_eq "bad token: 401" 401 "$(http -H "Authorization: Bearer tly_0000000000000000000000000000000000000000000000000000000000000000" "$U/api/v1/me")"
assert_eq "garbage token: 401" 401 "$(http -H "Authorization: Bearer ' OR 1=1 --" "$U/api/v1/me")"
assert_eq "Basic auth: 401" 401 "$(http -H "Authorization: Basic YWRtaW46YWRtaW4=" "$U/api/v1/me")"
assert_eq "bad cookie: 401" 401 "$(http -b "tally_session=abc" "$U/api/v1/me")"
# The server remembers a checked key (no ledger round trip per request) until
# a revocation notifies it.
assert_eq "a valid key works" 200 "$(http -H "Authorization: Bearer $TMP" "$U/api/v1/me")"
assert_eq "and again (remembered)" 200 "$(http -H "Authorization: Bearer $TMP" "$U/api/v1/me")"
assert_match "its use is recorded" "finance +- +temp +20[0-9:TZ-]+ +20[0-9:TZ-]+ +no" "$("$BIN" keys list | grep temp)"
"$BIN" keys revoke "$TMP_ID" >/dev/null
assert_eq "keys revoke exits 0" 0 $?
assert_eq "revoked key: 401 at once, remembered or not" 401 "$(http -H "Authorization: Bearer $TMP" "$U/api/v1/me")"
"$BIN" keys revoke "$TMP_ID" >/dev/null 2>&1
assert_eq "revoking twice fails" 1 $?
assert_match "keys list shows revoked" "temp +[^ ]+ +[^ ]+ +20[0-9-]+T" "$("$BIN" keys list | grep temp)"

# me
assert_eq "me 200" 200 "$(http -H "$V" "$U/api/v1/me")"
assert_eq "me names role and team" '{"role":"viewer","team":"support"}' "$(body)"
http -H "$A" "$U/api/v1/me" >/dev/null
assert_eq "admin has no team" '{"role":"admin","team":null}' "$(body)"
assert_eq "last use recorded" 1 "$(q "select count(*) from api_keys where name='ops' and last_used_at is not null")"

# routes and methods
assert_eq "unknown API route: 404" 404 "$(http -H "$A" "$U/api/v1/nope")"
assert_match "404 is JSON" '"error"' "$(body)"
assert_eq "wrong method: 405" 405 "$(http -X PUT -H "$A" "$U/api/v1/spend")"
assert_match "405 names the allowed methods" '^Allow: GET' "$(tr -d '\r' <"$H")"
assert_eq "DELETE spend: 405" 405 "$(http -X DELETE -H "$A" "$U/api/v1/spend")"
assert_eq "unknown parameter: 400" 400 "$(http -H "$A" "$U/api/v1/spend?teem=support")"

# ---- spend ------------------------------------------------------------------
R="from=2026-11-01&to=2026-11-03"
assert_eq "spend 200" 200 "$(http -H "$A" "$U/api/v1/spend?$R&group_by=team")"
CLI=$("$BIN" report spend --from 2026-11-01 --to 2026-11-03 --group-by team --format json)
assert_eq "spend is exactly the CLI report" "$CLI" "$(body)"
assert_match "support costs exactly \$0.024" '"team":"support","calls":100,[^}]*"cost_usd":"0.024000000000"' "$(body)"
http -H "$F" "$U/api/v1/spend?$R&group_by=model" >/dev/null
assert_eq "finance: spend by model is the CLI's" "$("$BIN" report spend --from 2026-11-01 --to 2026-11-03 --group-by model --format json)" "$(body)"
for g in cost_center workflow task_type tier provider outcome day; do
	assert_eq "group_by=$g 200" 200 "$(http -H "$A" "$U/api/v1/spend?$R&group_by=$g")"
done
http -H "$A" "$U/api/v1/spend?from=2026-11-01T10:00:00Z&to=2026-11-01T10:30:00Z&group_by=day" >/dev/null
assert_match "sub-hour intervals read the calls" '"day":"2026-11-01","calls":60,' "$(body)"
assert_eq "spend with defaults 200" 200 "$(http -H "$A" "$U/api/v1/spend")"
assert_match "default group_by is team" '^\{"group_by":"team","rows":\[' "$(body)"
assert_eq "series by day 200" 200 "$(http -H "$A" "$U/api/v1/spend?$R&group_by=team&bucket=day")"
assert_match "series: support on Nov 1" '\{"bucket":"2026-11-01","team":"support","calls":100,[^}]*"cost_usd":"0.024000000000"' "$(body)"
assert_match "series: legal on Nov 2" '\{"bucket":"2026-11-02","team":"legal","calls":50,' "$(body)"
assert_match "series total" '"total":\{"calls":150,' "$(body)"
http -H "$A" "$U/api/v1/spend?$R&group_by=team&bucket=hour" >/dev/null
assert_match "series by hour" '"bucket":"2026-11-01T10:00:00Z","team":"support","calls":100' "$(body)"
# from 10:10: the 10:00 hour is mostly inside, read as its rollup less the calls before 10:10
http -H "$A" "$U/api/v1/spend?from=2026-11-01T10:10:00Z&to=2026-11-03&group_by=team&bucket=hour" >/dev/null
N=$(q "select count(*) from calls where team = 'support' and ts >= '2026-11-01T10:10:00Z' and ts < '2026-11-01T11:00:00Z'")
assert_match "series by hour from 10:10: support's hour less its calls before 10:10 ($N)" \
	"\"bucket\":\"2026-11-01T10:00:00Z\",\"team\":\"support\",\"calls\":$N," "$(body)"
assert_match "... the total is the calls' own count" \
	"\"total\":{\"calls\":$(q "select count(*) from calls where ts >= '2026-11-01T10:10:00Z' and ts < '2026-11-03'")," "$(body)"
# workflow filter: the CLI's --workflow, on both sources and in series
http -H "$A" "$U/api/v1/spend?$R&group_by=task_type&workflow=ticket-triage" >/dev/null
assert_match "workflow filter: its task types only" '^\{"group_by":"task_type","rows":\[\{"task_type":"classify","calls":100,[^]]*\],"total":\{"calls":100,' "$(body)"
assert_eq "workflow filter is exactly the CLI's --workflow" \
	"$("$BIN" report spend --from 2026-11-01 --to 2026-11-03 --group-by task_type --workflow ticket-triage --format json)" "$(body)"
CLI=$("$BIN" report spend --from 2026-11-01 --to 2026-11-03 --group-by team --workflow contract-review)
assert_eq "CLI --workflow filters the CSV report" "team,calls,input_tokens,output_tokens,cache_read_tokens,cache_write_tokens,reasoning_tokens,cost_usd,unpriced_calls
legal,50,100000,25000,40000,10000,0,0.574500000000,0" "$CLI"
"$BIN" report spend --from 2026-11-01 --to 2026-11-03 --group-by team --workflow >/dev/null 2>&1
assert_eq "CLI --workflow without a value: 2" 2 $?
http -H "$A" "$U/api/v1/spend?from=2026-11-01T10:00:00Z&to=2026-11-01T10:30:00Z&group_by=workflow&workflow=ticket-triage" >/dev/null
assert_match "workflow filter on the calls source" '"rows":\[\{"workflow":"ticket-triage","calls":60,' "$(body)"
http -H "$A" "$U/api/v1/spend?from=2026-11-01T10:00:00Z&to=2026-11-01T10:30:00Z&group_by=team&workflow=contract-review" >/dev/null
assert_match "workflow filter on the calls source: other workflow empty" '"rows":\[\],"total":\{"calls":0,' "$(body)"
http -H "$A" "$U/api/v1/spend?$R&group_by=team&bucket=day&workflow=contract-review" >/dev/null
assert_match "workflow filter in a series" '^\{"group_by":"team","bucket":"day","series":\[\{"bucket":"2026-11-02","team":"legal","calls":50,[^]]*\],"total":\{"calls":50,' "$(body)"
http -H "$A" "$U/api/v1/spend?$R&group_by=team&team=support&workflow=contract-review" >/dev/null
assert_match "team and workflow filters combine" '"rows":\[\],"total":\{"calls":0,' "$(body)"
assert_eq "empty workflow: 400" 400 "$(http -H "$A" "$U/api/v1/spend?$R&workflow=")"
assert_eq "bad bucket: 400" 400 "$(http -H "$A" "$U/api/v1/spend?$R&bucket=week")"
assert_eq "bad group_by: 400" 400 "$(http -H "$A" "$U/api/v1/spend?$R&group_by=salary")"
assert_eq "bad from: 400" 400 "$(http -H "$A" "$U/api/v1/spend?from=yesterday")"
assert_eq "to before from: 400" 400 "$(http -H "$A" "$U/api/v1/spend?from=2026-11-03&to=2026-11-01")"
assert_eq "too many buckets: 400" 400 "$(http -H "$A" "$U/api/v1/spend?from=2000-01-01&to=2026-11-01&bucket=hour")"

# viewer: own team only, through every parameter
assert_eq "viewer spend 200" 200 "$(http -H "$V" "$U/api/v1/spend?$R&group_by=team")"
assert_match "viewer group_by=team: only its row" '^\{"group_by":"team","rows":\[\{"team":"support","calls":100,[^]]*\],"total":\{"calls":100,' "$(body)"
case "$(body)" in *legal*) not_ok "viewer sees no other team" ;; *) ok "viewer sees no other team" ;; esac
assert_eq "viewer team=own 200" 200 "$(http -H "$V" "$U/api/v1/spend?$R&team=support")"
assert_eq "viewer team=other: 403" 403 "$(http -H "$V" "$U/api/v1/spend?$R&team=legal")"
assert_eq "viewer team=other in a series: 403" 403 "$(http -H "$V" "$U/api/v1/spend?$R&team=legal&bucket=day")"
for g in cost_center workflow task_type model tier provider outcome day; do
	http -H "$V" "$U/api/v1/spend?$R&group_by=$g" >/dev/null
	assert_match "viewer group_by=$g totals its team only" '"total":\{"calls":100,' "$(body)"
done
http -H "$V" "$U/api/v1/spend?$R&group_by=team&bucket=day" >/dev/null
case "$(body)" in *legal*) not_ok "viewer series: no other team" ;; *) ok "viewer series: no other team" ;; esac
http -H "$V" "$U/api/v1/spend?$R&group_by=workflow&workflow=ticket-triage" >/dev/null
assert_match "viewer workflow=own workflow" '"rows":\[\{"workflow":"ticket-triage","calls":100,' "$(body)"
for g in team workflow model; do
	for b in "" "&bucket=day"; do
		c=$(http -H "$V" "$U/api/v1/spend?$R&group_by=$g&workflow=contract-review$b")
		assert_match "viewer workflow=<other team's> group_by=$g$b: $c, nothing of it" '"total":\{"calls":0,' "$(body)"
		case "$(body)" in *legal* | *contract* | *anthropic*) not_ok "viewer workflow probe leaks: $(body)" ;; esac
	done
done
http -H "$V" "$U/api/v1/spend?from=2026-11-02T11:00:00Z&to=2026-11-02T11:30:00Z&group_by=team&workflow=contract-review" >/dev/null
assert_match "viewer workflow probe on the calls source: nothing" '"rows":\[\],"total":\{"calls":0,' "$(body)"
assert_eq "viewer status: 403" 403 "$(http -H "$V" "$U/api/v1/status")"
assert_eq "viewer quarantine: 403" 403 "$(http -H "$V" "$U/api/v1/quarantine")"
assert_eq "viewer prices import: 403" 403 "$(http -X POST -H "$V" --data-binary @data/local_prices.csv "$U/api/v1/prices?format=csv")"
assert_eq "finance prices import: 403" 403 "$(http -X POST -H "$F" --data-binary @data/local_prices.csv "$U/api/v1/prices?format=csv")"
assert_eq "other viewer sees its team" 200 "$(http -H "Authorization: Bearer $LEGAL" "$U/api/v1/spend?$R")"
assert_match "legal viewer: legal only" '"rows":\[\{"team":"legal","calls":50,' "$(body)"

# SQL metacharacters, traversal and junk in every string parameter
for v in "'" "';DROP TABLE calls;--" "support' OR '1'='1" '../../etc/passwd' '..%2f..%2fetc%2fpasswd' '%00' 'a%00b' '%27%3B--' 'x%0d%0aSet-Cookie:%20a=b' '%ff%fe' "$(head -c 400 /dev/zero | tr '\0' a)"; do
	for p in team workflow from to group_by bucket; do
		c=$(http -H "$A" "$U/api/v1/spend?$p=$(printf %s "$v" | sed 's/ /%20/g')")
		case "$p:$c" in
		team:200 | workflow:200) assert_match "admin $p=<$v> is empty" '"rows":\[\],"total":\{"calls":0,' "$(body)" ;;
		*:400) ok "spend $p=<$v> refused with 400" ;;
		*) not_ok "spend $p=<$v> answered $c: $(body)" ;;
		esac
		c=$(http -H "$V" "$U/api/v1/spend?$p=$(printf %s "$v" | sed 's/ /%20/g')")
		case "$p:$c" in
		workflow:200) assert_match "viewer workflow=<$v> is empty" '"rows":\[\],"total":\{"calls":0,' "$(body)" ;;
		*:400 | *:403) ok "viewer spend $p=<$v>: $c" ;;
		*) not_ok "viewer spend $p=<$v> answered $c: $(body)" ;;
		esac
	done
	for p in provider model limit offset; do
		c=$(http -H "$A" "$U/api/v1/prices?$p=$(printf %s "$v" | sed 's/ /%20/g')")
		case "$p:$c" in
		provider:200 | model:200) assert_match "prices $p=<$v> is empty" '"total":0,' "$(body)" ;;
		*:400) ok "prices $p=<$v> refused with 400" ;;
		*) not_ok "prices $p=<$v> answered $c: $(body)" ;;
		esac
	done
	for p in limit offset; do
		c=$(http -H "$A" "$U/api/v1/quarantine?$p=$(printf %s "$v" | sed 's/ /%20/g')")
		assert_eq "quarantine $p=<$v> refused" 400 "$c"
	done
	c=$(http -X POST -H "$A" --data-binary @data/local_prices.csv "$U/api/v1/prices?format=$(printf %s "$v" | sed 's/ /%20/g')")
	assert_eq "prices import format=<$v> refused" 400 "$c"
done
assert_eq "calls table survived" 150 "$(q "select count(*) from calls")"
for path in /../../etc/passwd /static/..%2f..%2fetc%2fpasswd /%2e%2e/%2e%2e/etc/passwd "/index.html%00.png" /api/v1/../v1/spend; do
	c=$(curl -s --path-as-is -o "$B" -w '%{http_code}' -H "$A" "$U$path")
	assert_eq "path <$path> refused with 400" 400 "$c"
	case "$(body)" in *root:*) not_ok "path <$path> leaks a file" ;; esac
done
assert_eq "unknown static file: 404" 404 "$(http "$U/no-such-file.js")"

# ---- status -----------------------------------------------------------------
assert_eq "status 200" 200 "$(http -H "$F" "$U/api/v1/status")"
S=$("$BIN" status --format json 2>/dev/null)
assert_eq "status is the CLI's JSON" "$S" "$(body)"
assert_match "status counts" '^\{"calls":150,"outcomes":0,"feedback":0,"duplicates":0,"quarantined":3,' "$(body)"
assert_match "status has partitions with lag" '"partitions":\[\{"topic":"llm.calls","partition":0,"offset":[0-9]+,"lag":[0-9]+\}' "$(body)"

# ---- quarantine ---------------------------------------------------------------
assert_eq "quarantine 200" 200 "$(http -H "$F" "$U/api/v1/quarantine?limit=2")"
assert_match "quarantine total and page" '^\{"total":3,"limit":2,"offset":0,"items":\[\{"id":[0-9]+,"received_at":"20[^"]+Z","topic":"llm.calls","partition":[0-9]+,"offset":[0-9]+,"reason":"([^"\\]|\\.)+","raw":' "$(body)"
assert_eq "quarantine page size" 2 "$(grep -o '"id":' "$B" | wc -l)"
http -H "$A" "$U/api/v1/quarantine?limit=50&offset=0" >/dev/null
assert_match "raw text of a bad message" '"raw":"not json at all"' "$(body)"
assert_match "not-UTF-8 raw in base64" '"raw":null,"raw_base64":"' "$(body)"
assert_match "reason names the missing field" '"reason":"missing required field \\"workflow\\"' "$(body)"
http -H "$A" "$U/api/v1/quarantine?offset=2" >/dev/null
assert_eq "quarantine offset" 1 "$(grep -o '"id":' "$B" | wc -l)"
assert_eq "quarantine limit 0: 400" 400 "$(http -H "$A" "$U/api/v1/quarantine?limit=0")"
assert_eq "quarantine limit too big: 400" 400 "$(http -H "$A" "$U/api/v1/quarantine?limit=100000")"

# ---- prices -------------------------------------------------------------------
assert_eq "prices 200 for a viewer" 200 "$(http -H "$V" "$U/api/v1/prices?provider=openai&model=gpt-4o-mini")"
assert_match "gpt-4o-mini per-million prices as decimal strings" '"provider":"openai","model":"gpt-4o-mini",[^}]*"usd_per_million_tokens":\{"input":"0.150000","cache_read":"0.075000",[^}]*"output":"0.600000"' "$(body)"
assert_match "every component and variant, from the component list" '"batch_output":"0.300000",[^}]*"above_priority_[a-z0-9_]+":null\},"usd_per_unit":\{"web_search":' "$(body)"
http -H "$A" "$U/api/v1/prices?limit=5&offset=5" >/dev/null
assert_eq "prices paging" 5 "$(grep -o '"price_version":' "$B" | wc -l)"
printf 'provider,model,tier,input,output,cache_read,cache_write,reasoning,batch_input,batch_output,threshold_tokens,above_input,above_output,above_cache_read,above_cache_write\nacme,acme-llm-1,small,1.00,2.00,,,,,,,,,,\n' >"$T/acme.csv"
assert_eq "admin imports CSV prices" 200 "$(http -X POST -H "$A" --data-binary @"$T/acme.csv" "$U/api/v1/prices?format=csv")"
assert_match "import answers the counts" '^\{"format":"csv","loaded":1,"stored":1,"unchanged":0,"skipped":0,"rounded":0\}$' "$(body)"
http -H "$A" "$U/api/v1/prices?provider=acme" >/dev/null
assert_match "imported price listed" '"model":"acme-llm-1","tier":"small",[^}]*"input":"1.000000",[^}]*"output":"2.000000"' "$(body)"
assert_eq "LiteLLM import detected by shape" 200 "$(http -X POST -H "$A" --data-binary '{"acme-llm-2":{"litellm_provider":"acme","input_cost_per_token":3e-06,"output_cost_per_token":1.5e-05,"mode":"chat"}}' "$U/api/v1/prices")"
assert_match "LiteLLM import counts" '"format":"litellm","loaded":1,"stored":1' "$(body)"
assert_eq "bad price list: 400" 400 "$(http -X POST -H "$A" --data-binary 'provider,model\nx' "$U/api/v1/prices?format=csv")"
assert_eq "empty price list: 400" 400 "$(http -X POST -H "$A" "$U/api/v1/prices?format=csv")"

# ---- 413 ---------------------------------------------------------------------
head -c 1100000 /dev/zero | tr '\0' 'x' >"$T/big"
assert_eq "body over 1 MiB: 413" 413 "$(http -X POST -H "$A" --data-binary @"$T/big" "$U/api/v1/events")"
assert_eq "chunked body over 1 MiB: 413" 413 "$(http -X POST -H "$A" -H 'Transfer-Encoding: chunked' --data-binary @"$T/big" "$U/api/v1/events")"
assert_eq "413 before authentication too" 413 "$(http -X POST --data-binary @"$T/big" "$U/api/v1/prices")"
assert_eq "server alive after 413s" 200 "$(http "$U/healthz")"

# ---- events -------------------------------------------------------------------
cat >"$T/post.jsonl" <<'EOF'
{"event_id":"http-1","ts":"2026-11-03T09:00:00Z","team":"support","workflow":"ticket-triage","task_type":"classify","provider":"openai","model":"gpt-4o-mini","usage":{"input_tokens":1000,"output_tokens":100}}
{"event_id":"http-2","ts":"2026-11-03T09:00:00Z","team":"support","workflow":"w","task_type":"t","provider":"openai","model":"gpt-4o-mini","usage":{"input_tokens":-5,"output_tokens":1}}

this is not json
{"outcome_id":"TICKET-1","ts":"2026-11-03T09:30:00Z","team":"support","success":true}
EOF
assert_eq "events: 202" 202 "$(http -X POST -H "$F" --data-binary @"$T/post.jsonl" "$U/api/v1/events")"
assert_match "events: per-event results" '^\{"accepted":2,"rejected":2,"results":\[\{"index":0,"status":"accepted"\},\{"index":1,"status":"rejected","reason":"[^"]*input_tokens[^"]*"\},\{"index":2,"status":"rejected","reason":"[^"]+"\},\{"index":3,"status":"accepted"\}\]\}$' "$(body)"
assert_eq "JSON array of events: 202" 202 "$(http -X POST -H "$A" --data-binary '[{"event_id":"http-3","ts":"2026-11-03T10:00:00Z","team":"legal","workflow":"w","task_type":"t","provider":"openai","model":"gpt-4o-mini","usage":{"prompt_tokens":10,"completion_tokens":5}},{"event_id":"http-1","ts":"2026-11-03T10:00:00Z","score":0.5,"source":"human"},{"bad":true}]' "$U/api/v1/events")"
assert_match "array results" '"accepted":2,"rejected":1,' "$(body)"
assert_eq "viewer posts own team: 202" 202 "$(http -X POST -H "$V" --data-binary '{"event_id":"http-4","ts":"2026-11-03T11:00:00Z","team":"support","workflow":"w","task_type":"t","provider":"openai","model":"gpt-4o-mini","usage":{"input_tokens":1,"output_tokens":1}}' "$U/api/v1/events")"
assert_eq "viewer posts other team: 403" 403 "$(http -X POST -H "$V" --data-binary '{"event_id":"http-5","ts":"2026-11-03T11:00:00Z","team":"legal","workflow":"w","task_type":"t","provider":"openai","model":"gpt-4o-mini","usage":{"input_tokens":1,"output_tokens":1}}' "$U/api/v1/events")"
assert_eq "viewer posts feedback (no team): 403" 403 "$(http -X POST -H "$V" --data-binary '{"event_id":"sup-1","ts":"2026-11-03T11:00:00Z","score":0.1}' "$U/api/v1/events")"
assert_eq "no events: 400" 400 "$(http -X POST -H "$A" --data-binary '   ' "$U/api/v1/events")"
assert_eq "broken array: 400" 400 "$(http -X POST -H "$A" --data-binary '[{"a":' "$U/api/v1/events")"
wait_until 30 sh -c "[ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c \"select count(*) from calls where event_id like 'http-%'\")\" -ge 3 ]"
assert_eq "posted calls reach the ledger through the collector" "http-1 http-3 http-4" "$(q "select string_agg(event_id, ' ' order by event_id) from calls where event_id like 'http-%'")"
wait_until 10 sh -c "[ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c \"select count(*) from outcomes where outcome_id = 'TICKET-1'\")\" -ge 1 ]"
assert_eq "posted outcome stored" 1 "$(q "select count(*) from outcomes where outcome_id='TICKET-1'")"
assert_eq "rejected events never reach Kafka" 0 "$(q "select count(*) from calls where event_id in ('http-2', 'http-5')")"

# ---- sessions and CSRF ------------------------------------------------------
J="$T/jar"
assert_eq "sign in: 200" 200 "$(http -c "$J" -X POST -H 'Content-Type: application/json' --data "{\"token\":\"$VIEW\"}" "$U/api/v1/session")"
CSRF=$(sed -n 's/.*"csrf_token":"\([0-9a-f]*\)".*/\1/p' "$B")
assert_match "sign in answers role, team, csrf" '^\{"role":"viewer","team":"support","csrf_token":"[0-9a-f]{64}"' "$(body)"
assert_match "cookie is HttpOnly, SameSite=Strict, Path=/" '^Set-Cookie: tally_session=[0-9a-f]{64}; HttpOnly; SameSite=Strict; Path=/' "$(tr -d '\r' <"$H")"
case "$(tr -d '\r' <"$H")" in *Secure*) not_ok "no Secure without TALLY_COOKIE_SECURE" ;; *) ok "no Secure without TALLY_COOKIE_SECURE" ;; esac
SID=$(awk '$6 == "tally_session" { print $7 }' "$J")
assert_eq "session stored hashed" 1 "$(q "select count(*) from sessions where id_sha256 = '$(printf %s "$SID" | sha256sum | cut -d' ' -f1)' and expires_at > now() + interval '11 hours'")"
assert_eq "session id not stored" 0 "$(q "select count(*) from sessions where id_sha256 = '$SID'")"
assert_eq "cookie works" 200 "$(http -b "$J" "$U/api/v1/me")"
assert_match "cookie me gives csrf back" "\"csrf_token\":\"$CSRF\"" "$(body)"
assert_eq "cookie viewer other team: 403" 403 "$(http -b "$J" "$U/api/v1/spend?team=legal")"
EVT='{"event_id":"http-6","ts":"2026-11-03T12:00:00Z","team":"support","workflow":"w","task_type":"t","provider":"openai","model":"gpt-4o-mini","usage":{"input_tokens":1,"output_tokens":1}}'
assert_eq "cookie POST without CSRF: 403" 403 "$(http -b "$J" -X POST --data-binary "$EVT" "$U/api/v1/events")"
assert_eq "cookie POST with wrong CSRF: 403" 403 "$(http -b "$J" -X POST -H "X-CSRF-Token: 00$CSRF" --data-binary "$EVT" "$U/api/v1/events")"
assert_eq "cookie POST with CSRF: 202" 202 "$(http -b "$J" -X POST -H "X-CSRF-Token: $CSRF" --data-binary "$EVT" "$U/api/v1/events")"
assert_eq "sign out without CSRF: 403" 403 "$(http -b "$J" -X DELETE "$U/api/v1/session")"
assert_eq "sign out: 200" 200 "$(http -b "$J" -X DELETE -H "X-CSRF-Token: $CSRF" "$U/api/v1/session")"
assert_match "sign out clears the cookie" '^Set-Cookie: tally_session=; .*Max-Age=0' "$(tr -d '\r' <"$H")"
assert_eq "session ended server-side" 0 "$(q "select count(*) from sessions where id_sha256 = '$(printf %s "$SID" | sha256sum | cut -d' ' -f1)'")"
assert_eq "old cookie after sign-out: 401" 401 "$(http -b "tally_session=$SID" "$U/api/v1/me")"
assert_eq "sign in with a bad token: 401" 401 "$(http -X POST -H 'Content-Type: application/json' --data '{"token":"tly_nope"}' "$U/api/v1/session")"
assert_eq "sign in without a token: 400" 400 "$(http -X POST -H 'Content-Type: application/json' --data '{"tok":"x"}' "$U/api/v1/session")"
assert_eq "sign in with a form: 415" 415 "$(http -X POST --data 'token=x' "$U/api/v1/session")"
q "update sessions set expires_at = now() - interval '1 second'" >/dev/null
http -c "$J" -X POST -H 'Content-Type: application/json' --data "{\"token\":\"$ADMIN\"}" "$U/api/v1/session" >/dev/null
q "update sessions set expires_at = now() - interval '1 second'" >/dev/null
assert_eq "expired session: 401" 401 "$(http -b "$J" "$U/api/v1/me")"

# ---- dashboard files --------------------------------------------------------
c=$(http "$U/")
case "$c" in
200) assert_match "dashboard index is HTML" '^Content-Type: text/html' "$(tr -d '\r' <"$H")" ;;
404) ok "no dashboard built in: / is 404" ;;
*) not_ok "GET / answered $c" ;;
esac

# ---- metrics -------------------------------------------------------------------
sleep 6 # past the 5 s lag cache
assert_eq "metrics 200 without a token" 200 "$(http "$U/metrics")"
assert_match "metrics content type" '^Content-Type: text/plain; version=0.0.4' "$(tr -d '\r' <"$H")"
R=$(python3 tests/integration/promcheck.py "$B")
assert_eq "metrics parse as Prometheus exposition" 0 $?
assert_match "promcheck summary" '^ok: [0-9]+ samples' "$R"
assert_match "lag per partition" '^tally_partition_lag\{topic="llm.calls",partition="0"\} [0-9]+$' "$(cat "$B")"
assert_match "offset per partition" '^tally_partition_offset\{topic="llm.calls",partition="[0-9]+"\} [0-9]+$' "$(cat "$B")"
assert_match "HTTP requests by route and code" '^tally_http_requests_total\{route="/api/v1/spend",code="403"\} [0-9]+$' "$(cat "$B")"
assert_match "build info" '^tally_build_info\{version="[^"]+"\} 1$' "$(cat "$B")"
# the validator itself refuses broken expositions
printf '# TYPE h histogram\nh_bucket{le="1"} 5\nh_bucket{le="+Inf"} 3\nh_sum 1\nh_count 3\n' >"$T/bad.prom"
python3 tests/integration/promcheck.py "$T/bad.prom" >/dev/null
assert_eq "promcheck refuses non-cumulative buckets" 1 $?
printf 'tally_x{a="b} 1\n' >"$T/bad.prom"
python3 tests/integration/promcheck.py "$T/bad.prom" >/dev/null
assert_eq "promcheck refuses a broken label" 1 $?
printf '# TYPE c counter\nc 1\nc 2\n' >"$T/bad.prom"
python3 tests/integration/promcheck.py "$T/bad.prom" >/dev/null
assert_eq "promcheck refuses duplicate samples" 1 $?

# ---- shutdown -------------------------------------------------------------------
kill -TERM "$SERVE_PID"
wait "$SERVE_PID"
assert_eq "serve exits 0 on SIGTERM" 0 $?
kill -TERM "$COLLECTOR_PID"
wait "$COLLECTOR_PID"
t_done
