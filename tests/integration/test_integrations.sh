# test_integrations.sh - the ways in of docs/integrations.md, its examples run
# as written. OpenTelemetry GenAI spans become calls: made by the real
# OpenTelemetry JS SDK (tests/otel), sent over OTLP/HTTP (protobuf gzipped and
# JSON) to POST /v1/traces, and written to the OTLP Kafka topic as the
# Collector's Kafka exporter writes them (otlp_proto, otlp_json); plus the
# Collector's documented OTLP/JSON example. Non-GenAI spans are skipped and
# counted, never quarantined; bad GenAI spans are refused with a reason.
# LiteLLM's StandardLoggingPayload becomes a call with LiteLLM's cost kept
# exactly as provider_cost_usd.
. tests/lib.sh

command -v node >/dev/null || { echo "node is needed (Debian nodejs)"; exit 1; }
if [ ! -f tests/otel/node_modules/.package-lock.json ] ||
	[ tests/otel/package-lock.json -nt tests/otel/node_modules/.package-lock.json ]; then
	(cd tests/otel && npm ci --no-audit --no-fund >/dev/null 2>&1) || { echo "npm ci in tests/otel failed"; exit 1; }
fi
pg_start || exit 1
kafka_start 2 || exit 1
"$BIN" migrate >"$T/migrate.log" 2>&1
"$BIN" prices import data/litellm_model_prices.json >"$T/prices.log" 2>&1
key() { "$BIN" keys create "$@" 2>>"$T/keys.log" | tail -n 1; }
ADMIN=$(key --role admin --name ops)
VIEW=$(key --role viewer --team support --name support-lead)
LEGAL=$(key --role viewer --team legal --name legal-lead)
collector_start
serve_start || { not_ok "tally serve answers"; t_done; }
B="$T/body"
http() { curl -s -o "$B" -w '%{http_code}' "$@"; }
# doc_block NAME - the fenced block after "<!-- test: NAME -->" in docs/integrations.md
doc_block() {
	awk -v n="<!-- test: $1 -->" '$0 == n { f = 1; next } f == 1 && /^```/ { f = 2; next } f == 2 && /^```/ { exit } f == 2 { print }' docs/integrations.md
}
calls_like() { q "select count(*) from calls where tags->>'service.name' = '$1-bot'"; }

# ---- OTLP/HTTP from the SDK's exporters ---------------------------------------
(cd tests/otel && node send_spans.mjs export "$U/v1/traces" "$VIEW" proto hp) >"$T/node-hp.log" 2>&1
assert_eq "SDK protobuf exporter (gzip) succeeds" 0 $?
(cd tests/otel && node send_spans.mjs export "$U/v1/traces" "$VIEW" json hj) >"$T/node-hj.log" 2>&1
assert_eq "SDK JSON exporter succeeds" 0 $?
wait_until 30 sh -c "[ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c \"select count(*) from calls where tags->>'service.name' in ('hp-bot','hj-bot')\")\" -ge 6 ]"
assert_eq "protobuf: 3 GenAI calls of 6 spans stored" 3 "$(calls_like hp)"
assert_eq "JSON: 3 GenAI calls of 6 spans stored" 3 "$(calls_like hj)"
R=$(q "select team, workflow, task_type, outcome_id, provider, model, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, status, latency_ms, ts, tags->>'gen_ai.response.id', tags->>'gen_ai.response.finish_reasons', tags->>'user', cost_pusd is not null from calls where tags->>'service.name' = 'hp-bot' and provider = 'openai' and status = 'ok'")
assert_eq "OpenAI span mapped" "support|ticket-triage|classify|TICKET-hp|openai|gpt-4o-mini-2024-07-18|1000|200|400|0|0|ok|800|2026-11-05 09:00:00+00|chatcmpl-hp-1|stop|alice|t" "$R"
R=$(q "select team, workflow, task_type, provider, model, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, tags->>'gen_ai.response.finish_reasons', tags->>'env' from calls where tags->>'service.name' = 'hj-bot' and provider = 'anthropic'")
assert_eq "Anthropic span (gen_ai.system) mapped, workflow from service.name" "support|hj-bot|chat|anthropic|claude-sonnet-4-20250514|2000|500|800|200|100|end_turn,tool_use|prod" "$R"
R=$(q "select status, input_tokens, output_tokens, latency_ms from calls where tags->>'service.name' = 'hp-bot' and model = 'gpt-4o'")
assert_eq "timed-out span: status timeout, no tokens" "timeout|0|0|30000" "$R"
assert_eq "event_id is trace id - span id" 3 "$(q "select count(*) from calls where tags->>'service.name' in ('hp-bot') and event_id ~ '^[0-9a-f]{32}-[0-9a-f]{16}\$'")"
assert_eq "non-GenAI spans never quarantined" 0 "$(q "select count(*) from quarantine")"

# ---- the answers: ExportTraceServiceResponse with partial success ---------------
(cd tests/otel && node send_spans.mjs write "$T/req.json" json direct && node send_spans.mjs write "$T/req.pb" proto direct2) >/dev/null
assert_eq "JSON request: 200" 200 "$(http -X POST -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' --data-binary @"$T/req.json" "$U/v1/traces")"
assert_match "JSON partial success names the refused span" '^\{"partialSuccess":\{"rejectedSpans":"1","errorMessage":"span [0-9a-f]{32}/[0-9a-f]{16}: usage.input_tokens[^"]*"\}\}$' "$(cat "$B")"
assert_eq "protobuf request: 200" 200 "$(http -X POST -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/x-protobuf' --data-binary @"$T/req.pb" "$U/v1/traces")"
assert_eq "protobuf answer: partial_success (field 1) with rejected_spans=1 (field 1)" "0a" "$(head -c 1 "$B" | od -An -tx1 | tr -d ' \n')"
assert_match "protobuf answer carries the reason" 'usage.input_tokens' "$(tr -c '[:print:]' ' ' <"$B")"
assert_eq "no token: 401" 401 "$(http -X POST -H 'Content-Type: application/json' --data-binary @"$T/req.json" "$U/v1/traces")"
assert_eq "viewer of another team: 403" 403 "$(http -X POST -H "Authorization: Bearer $LEGAL" -H 'Content-Type: application/json' --data-binary @"$T/req.json" "$U/v1/traces")"
assert_eq "other content type: 415" 415 "$(http -X POST -H "Authorization: Bearer $ADMIN" -H 'Content-Type: text/plain' --data-binary @"$T/req.json" "$U/v1/traces")"
assert_eq "not protobuf: 400" 400 "$(http -X POST -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/x-protobuf' --data-binary 'garbage' "$U/v1/traces")"
assert_eq "corrupt gzip: 400" 400 "$(http -X POST -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/x-protobuf' -H 'Content-Encoding: gzip' --data-binary 'garbage' "$U/v1/traces")"
head -c 20000000 /dev/zero | gzip -c >"$T/bomb.gz"
assert_eq "gzip bomb: 400, bounded" 400 "$(http -X POST -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/x-protobuf' -H 'Content-Encoding: gzip' --data-binary @"$T/bomb.gz" "$U/v1/traces")"
assert_eq "only non-GenAI spans: 200 {}" "200{}" "$(http -X POST -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' --data-binary '{"resourceSpans":[{"resource":{"attributes":[]},"scopeSpans":[{"spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","name":"GET /","startTimeUnixNano":"1544712660000000000","endTimeUnixNano":"1544712661000000000","attributes":[]}]}]}]}' "$U/v1/traces")$(tr -d '\n' <"$B")"

# ---- the Kafka topic: the Collector's Kafka exporter encodings --------------------
(cd tests/otel && node send_spans.mjs write "$T/k.pb" proto kp && node send_spans.mjs write "$T/k.json" json kj) >/dev/null
# The Collector's documented OTLP/JSON example (opentelemetry-proto
# examples/trace.json), with GenAI attributes on its span.
cat >"$T/example.json" <<'JSON'
{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"ex-bot"}},{"key":"tally.team","value":{"stringValue":"research"}}]},
 "scopeSpans":[{"scope":{"name":"my.library","version":"1.0.0","attributes":[{"key":"my.scope.attribute","value":{"stringValue":"some scope attribute"}}]},
 "spans":[{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174","parentSpanId":"eee19b7ec3c1b173","name":"chat gpt-4o","startTimeUnixNano":"1544712660000000000","endTimeUnixNano":"1544712661000000000","kind":2,
  "attributes":[{"key":"gen_ai.operation.name","value":{"stringValue":"chat"}},{"key":"gen_ai.provider.name","value":{"stringValue":"openai"}},{"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o"}},{"key":"gen_ai.usage.input_tokens","value":{"intValue":"120"}},{"key":"gen_ai.usage.output_tokens","value":{"intValue":45}},{"key":"tally.workflow","value":{"stringValue":"papers"}},{"key":"tally.task_type","value":{"stringValue":"summarise"}},{"key":"my.array.attribute","value":{"arrayValue":{"values":[{"stringValue":"a"},{"stringValue":"b"}]}}}]}]}]}]}
JSON
printf 'not an OTLP message' >"$T/junk.bin"
kcat -P -b "$TALLY_KAFKA_BROKERS" -t otlp_spans "$T/k.pb" "$T/k.json" "$T/example.json" "$T/junk.bin" 2>"$T/kcat.log"
assert_eq "kcat produced 4 messages to otlp_spans" 0 $?
wait_until 30 sh -c "[ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c \"select count(*) from calls where tags->>'service.name' in ('kp-bot','kj-bot','ex-bot')\")\" -ge 7 ] && [ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c \"select count(*) from quarantine where topic = 'otlp_spans'\")\" -ge 3 ]"
assert_eq "otlp_proto message: 3 calls" 3 "$(calls_like kp)"
assert_eq "otlp_json message: 3 calls" 3 "$(calls_like kj)"
R=$(q "select event_id, ts, team, workflow, task_type, provider, model, input_tokens, output_tokens, latency_ms from calls where tags->>'service.name' = 'ex-bot'")
assert_eq "documented example span mapped" "5b8efff798038103d269b633813fc60c-eee19b7ec3c1b174|2018-12-13 14:51:00+00|research|papers|summarise|openai|gpt-4o|120|45|1000" "$R"
R=$(q "select string_agg(reason, ' / ' order by kafka_offset) from quarantine where topic = 'otlp_spans'")
assert_match "bad GenAI span: message quarantined with the span's reason" 'OTLP message: 1 of 4 GenAI spans refused: span [0-9a-f]{32}/[0-9a-f]{16}: usage.input_tokens' "$R"
assert_match "junk message quarantined as not OTLP" 'OTLP message: not an OTLP ExportTraceServiceRequest' "$R"
assert_eq "offsets of otlp_spans stored with the batch" 4 "$(q "select sum(next_offset) from kafka_offsets where topic = 'otlp_spans'")"

# ---- exactly once: a restart reads nothing twice, a replay is skipped -------------
kill -TERM "$COLLECTOR_PID"; wait "$COLLECTOR_PID" 2>/dev/null
N=$(q "select count(*) from calls")
kcat -P -b "$TALLY_KAFKA_BROKERS" -t otlp_spans "$T/k.pb" 2>>"$T/kcat.log"
collector_start
wait_until 30 sh -c "[ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c \"select coalesce(sum(next_offset),0) from kafka_offsets where topic = 'otlp_spans'\")\" -ge 5 ]"
assert_eq "after a restart, the replayed message adds nothing" "$N" "$(q "select count(*) from calls")"
assert_eq "rollups agree with the calls" 0 "$(rollups_mismatch)"

# ---- the mapping is the admin's: TALLY_OTLP_MAP -------------------------------------
kill -TERM "$COLLECTOR_PID"; wait "$COLLECTOR_PID" 2>/dev/null
TALLY_OTLP_MAP="team='platform';workflow=deployment.environment.name" collector_start
(cd tests/otel && node send_spans.mjs write "$T/m.pb" proto mp) >/dev/null
kcat -P -b "$TALLY_KAFKA_BROKERS" -t otlp_spans "$T/m.pb" 2>>"$T/kcat.log"
wait_until 30 sh -c "[ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c \"select count(*) from calls where tags->>'service.name' = 'mp-bot'\")\" -ge 3 ]"
assert_eq "TALLY_OTLP_MAP: constant team, workflow from another attribute" "platform|test|3" "$(q "select team, workflow, count(*) from calls where tags->>'service.name' = 'mp-bot' group by 1, 2")"

# ---- the documented examples --------------------------------------------------------
export TALLY_URL="$U" TALLY_TOKEN="$VIEW"
R=$(doc_block otlp-json | sh)
assert_eq "docs: OTLP/JSON curl example answers {}" "{}" "$R"
(eval "$(doc_block otlp-env)"; cd tests/otel && node send_spans.mjs env proto ev) >"$T/node-env.log" 2>&1
assert_eq "docs: the SDK configured by the documented OTEL_EXPORTER_OTLP_TRACES_* exports" 0 $?
R=$(doc_block litellm-payload | sh)
assert_eq "docs: LiteLLM payload accepted" '{"accepted":1,"rejected":0,"results":[{"index":0,"status":"accepted"}]}' "$R"
wait_until 30 sh -c "[ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c \"select count(*) from calls where event_id in ('0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331', 'litellm-chatcmpl-9f2c1a')\")\" -ge 2 ] && [ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c \"select count(*) from calls where tags->>'service.name' = 'ev-bot'\")\" -ge 3 ]"
assert_eq "docs: spans exported through the environment stored" 3 "$(calls_like ev)"
R=$(q "select team, workflow, task_type, provider, model, input_tokens, output_tokens, cache_read_tokens, status, latency_ms from calls where event_id = '0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331'")
assert_eq "docs: OTLP/JSON example stored as documented" "support|ticket-triage|classify|openai|gpt-4o-mini|812|96|512|ok|640" "$R"
R=$(q "select team, workflow, task_type, provider, model, input_tokens, output_tokens, cache_read_tokens, status, latency_ms, ts, provider_cost_pusd, tags->>'api_key', tags->>'user', tags->>'env', tags->>'checkout', tags->>'litellm.team', cost_pusd is not null from calls where event_id = 'litellm-chatcmpl-9f2c1a'")
assert_eq "LiteLLM payload mapped, response_cost 1.5e-05 kept exactly" "support|ticket-triage|classify|openai|gpt-4o-mini|1200|80|1024|ok|750|2026-11-05 09:00:00.25+00|15000000|checkout-svc|cust-42|prod|true|support|t" "$R"
R=$(TALLY_TOKEN="$LEGAL" doc_block litellm-payload | TALLY_TOKEN="$LEGAL" sh)
assert_match "LiteLLM: a viewer of another team is refused (403)" 'may post only events of team legal' "$R"
# ndjson as the generic_api logger's log_format: ndjson sends it; a failure; a
# cost with many digits; an Anthropic call with cache writes; a broken one.
cat >"$T/ll.ndjson" <<'NDJSON'
{"id":"ll-2","call_type":"acompletion","status":"failure","response_cost":0,"prompt_tokens":0,"completion_tokens":0,"startTime":1793869300.0,"endTime":1793869330.0,"model":"gpt-4o","custom_llm_provider":"openai","metadata":{"user_api_key_alias":"batch-job","user_api_key_team_alias":"support"}}
{"id":"ll-3","call_type":"acompletion","status":"success","response_cost":0.012345678901234567,"prompt_tokens":3000,"completion_tokens":400,"startTime":1793869400.0,"endTime":1793869402.5,"model":"anthropic/claude-sonnet-4-20250514","custom_llm_provider":"anthropic","metadata":{"user_api_key_team_alias":"support"},"response":{"usage":{"prompt_tokens":3000,"completion_tokens":400,"cache_creation_input_tokens":1000,"cache_read_input_tokens":500}}}
{"id":"ll-4","call_type":"acompletion","status":"success","prompt_tokens":-1,"completion_tokens":3,"startTime":1793869400.0,"model":"gpt-4o","custom_llm_provider":"openai","metadata":{"user_api_key_team_alias":"support"}}
NDJSON
assert_eq "LiteLLM ndjson: 202" 202 "$(http -X POST -H "Authorization: Bearer $ADMIN" --data-binary @"$T/ll.ndjson" "$U/api/v1/litellm")"
assert_match "LiteLLM ndjson: 2 accepted, the bad one named" '"accepted":2,"rejected":1,.*"index":2,"status":"rejected","reason":"usage.input_tokens' "$(cat "$B")"
wait_until 30 sh -c "[ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c \"select count(*) from calls where event_id in ('litellm-ll-2', 'litellm-ll-3')\")\" -ge 2 ]"
assert_eq "LiteLLM failure stored as error" "error|batch-job" "$(q "select status, tags->>'api_key' from calls where event_id = 'litellm-ll-2'")"
assert_eq "LiteLLM Anthropic: prefix removed, cache fields, cost digits kept to the pico-dollar" "claude-sonnet-4-20250514|3000|500|1000|12345678901" "$(q "select model, input_tokens, cache_read_tokens, cache_write_tokens, provider_cost_pusd from calls where event_id = 'litellm-ll-3'")"
assert_eq "LiteLLM: not JSON: 400" 400 "$(http -X POST -H "Authorization: Bearer $ADMIN" --data-binary 'nope' "$U/api/v1/litellm")"
assert_eq "LiteLLM: no token: 401" 401 "$(http -X POST --data-binary @"$T/ll.ndjson" "$U/api/v1/litellm")"

# ---- attribution: spend by api_key, user and any tag (rollup_tags_hourly) -----------
# expected: the same figures straight from the calls
exp_tag() { # KEY FROM TO [TEAM]
	q "select coalesce(case when tags->>'$1' like '%,%' then '\"' || (tags->>'$1') || '\"' else tags->>'$1' end, '(no tag)') || ',' || count(*) || ',' || sum(input_tokens) || ',' || sum(output_tokens) || ',' || sum(cache_read_tokens) || ',' || sum(cache_write_tokens) || ',' || sum(reasoning_tokens) || ',' || (coalesce(sum(cost_pusd), 0) / 1e12)::numeric(30,12) || ',' || count(*) filter (where cost_pusd is null) from calls where ts >= '$2' and ts < '$3' ${4:+and team = '$4'} group by tags->>'$1'" | sort
}
got_tag() { # GROUP FROM TO
	"$BIN" report spend --from "$2" --to "$3" --group-by "$1" --format csv 2>"$T/report.err" | tail -n +2 | sort
}
for g in api_key user tag:env tag:gen_ai.response.finish_reasons; do
	k=${g#tag:}
	assert_eq "report spend --group-by $g (whole hours from the rollup, edges from the calls)" \
		"$(exp_tag "$k" 2026-11-05T08:30:00Z 2026-11-05T10:30:00Z)" "$(got_tag "$g" 2026-11-05T08:30:00Z 2026-11-05T10:30:00Z)"
	assert_eq "report spend --group-by $g (within one hour: the calls)" \
		"$(exp_tag "$k" 2026-11-05T09:00:01Z 2026-11-05T09:30:00Z)" "$(got_tag "$g" 2026-11-05T09:00:01Z 2026-11-05T09:30:00Z)"
done
# An edge hour mostly inside the range is read as its hour's tag rows less the
# tagged calls outside the range: three calls by hand at 08:05, 09:15 and
# 10:55, in edge hours whose rest the ranges below leave out or keep in.
q "insert into calls (event_id, ts, team, workflow, task_type, provider, model, tier, input_tokens,
     output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, usage_shape, batch,
     cache_hit, local, status, cost_pusd, tags)
   select 'tag-edge-' || m, '2026-11-05T08:00:00Z'::timestamptz + make_interval(mins => m), 'support',
     'ticket-triage', 'classify', 'openai', 'gpt-4o-mini', 'small', 100 + m, 10, 0, 0, 0, 'openai',
     false, false, false, 'ok', 1000000 * m, '{\"env\":\"edge\",\"user\":\"u-edge\"}'
   from unnest(array[5, 75, 175]) m" >/dev/null
for R in 2026-11-05T08:10:00Z,2026-11-05T10:50:00Z 2026-11-05T08:03:00Z,2026-11-05T10:57:00Z \
	2026-11-05T08:45:00Z,2026-11-05T10:05:00Z 2026-11-05T08:10:00Z,2026-11-05T09:20:00Z; do
	for g in user tag:env; do
		assert_eq "report spend --group-by $g over [${R%,*}, ${R#*,}) equals the calls' own sums" \
			"$(exp_tag "${g#tag:}" "${R%,*}" "${R#*,}")" "$(got_tag "$g" "${R%,*}" "${R#*,}")"
	done
done
q "delete from calls where event_id like 'tag-edge-%'" >/dev/null
"$BIN" rollups rebuild --from 2026-11-05T00:00:00Z --to 2026-11-06T00:00:00Z >/dev/null 2>&1
R=$(doc_block attribution | sed "s|^tally |\"\$BIN\" |" | sh)
assert_match "docs: the attribution example names the tag" '^api_key,calls,' "$R"
assert_match "docs: the attribution example has the key's row" '^checkout-svc,1,1200,80,1024,' "$R"
assert_eq "tag rollup equals the calls row by row" 0 "$(q "select count(*) from ((select tag_key, date_trunc('hour', ts) as hour, team, workflow, tag_value, count(*)::bigint as calls, sum(input_tokens)::numeric as i, coalesce(sum(cost_pusd), 0)::numeric as cost from calls, jsonb_each_text(coalesce(tags, '{}')) as t(tag_key, tag_value) group by 1, 2, 3, 4, 5 except select tag_key, hour, team, workflow, tag_value, calls, input_tokens, cost_pusd from rollup_tags_hourly) union all (select tag_key, hour, team, workflow, tag_value, calls, input_tokens, cost_pusd from rollup_tags_hourly except select tag_key, date_trunc('hour', ts), team, workflow, tag_value, count(*)::bigint, sum(input_tokens)::numeric, coalesce(sum(cost_pusd), 0)::numeric from calls, jsonb_each_text(coalesce(tags, '{}')) as t(tag_key, tag_value) group by 1, 2, 3, 4, 5)) x")"
assert_eq "API group_by=user for a viewer: 200" 200 "$(http -H "Authorization: Bearer $VIEW" "$U/api/v1/spend?from=2026-11-05T08:30:00Z&to=2026-11-05T10:30:00Z&group_by=user")"
assert_match "API: the viewer's own team only, rows keyed by user" '^\{"group_by":"user","rows":\[.*"user":"cust-42".*"total":' "$(cat "$B")"
VT=$(q "select count(*) from calls where ts >= '2026-11-05T08:30:00Z' and ts < '2026-11-05T10:30:00Z' and team = 'support'")
assert_match "API: the viewer's total counts its team's calls only" "\"total\":\\{\"calls\":$VT," "$(cat "$B")"
assert_eq "API: a viewer cannot ask for another team by tag" 403 "$(http -H "Authorization: Bearer $VIEW" "$U/api/v1/spend?team=legal&group_by=api_key")"
assert_eq "API group_by=tag:env: 200" 200 "$(http -H "Authorization: Bearer $ADMIN" "$U/api/v1/spend?from=2026-11-05&to=2026-11-06&group_by=tag:env")"
assert_match "API: tag rows" '"group_by":"tag:env","rows":\[\{"tag:env":"prod",' "$(cat "$B")"
assert_eq "API: group_by=tag: without a key: 400" 400 "$(http -H "Authorization: Bearer $ADMIN" "$U/api/v1/spend?group_by=tag:")"
assert_eq "API: tag series by bucket: 400" 400 "$(http -H "Authorization: Bearer $ADMIN" "$U/api/v1/spend?group_by=user&bucket=day")"

# ---- /metrics: spans counted, spend and budgets, checked by promtool ----------------
assert_eq "a budget for support" 200 "$(http -X POST -H "Authorization: Bearer $ADMIN" --data '{"scope":"team","name":"support","amount_usd":"100"}' "$U/api/v1/budgets")"
http "$U/metrics" >/dev/null
M=$(cat "$B")
assert_match "skipped spans counted (HTTP)" '^tally_otlp_spans_skipped_total\{source="http"\} [1-9][0-9]*$' "$M"
# (the collector counts its own in its process: here tally collect runs apart)
assert_match "the Kafka series is there too" '^tally_otlp_spans_skipped_total\{source="kafka"\} [0-9]+$' "$M"
EXP=$(q "select (sum(cost_pusd) / 1e12)::numeric(30,12) from calls where team = 'support' and provider = 'openai' and model = 'gpt-4o-mini' and tier = (select tier from calls where event_id = 'litellm-chatcmpl-9f2c1a')")
TIER=$(q "select tier from calls where event_id = 'litellm-chatcmpl-9f2c1a'")
assert_match "spend by team, provider, model, tier, exact" "^tally_spend_usd_total\\{team=\"support\",provider=\"openai\",model=\"gpt-4o-mini\",tier=\"$TIER\"\\} $EXP\$" "$M"
assert_match "tokens by kind" '^tally_tokens_total\{kind="cache_read",team="support",provider="openai",model="gpt-4o-mini",tier="[^"]+"\} [0-9]+$' "$M"
assert_match "budget spend gauge" '^tally_budget_spend_usd\{scope="team",name="support"\} [0-9]+\.[0-9]{12}$' "$M"
assert_match "budget amount gauge" '^tally_budget_usd\{scope="team",name="support"\} 100\.000000000000$' "$M"
assert_match "lag per partition of the OTLP topic" '^tally_partition_lag\{topic="otlp_spans",partition="[01]"\} [0-9]+$' "$M"
if command -v promtool >/dev/null; then
	promtool check metrics <"$B" >"$T/promtool.log" 2>&1
	assert_eq "promtool check metrics accepts /metrics" 0 $?
	# The Grafana dashboard's queries are valid PromQL: promtool checks them
	# as recording rules (Grafana's variables replaced by values).
	python3 - docs/grafana/tally.json >"$T/rules.yml" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print("groups:\n- name: dashboard\n  rules:")
for i, p in enumerate(d["panels"]):
    for t in p["targets"]:
        e = t["expr"].replace("$__range", "1h").replace("$team", ".*")
        print("  - record: tally:dashboard_%d_%s" % (i, t["refId"].lower()))
        print("    expr: %s" % json.dumps(e))
PY
	promtool check rules "$T/rules.yml" >"$T/promtool-rules.log" 2>&1
	assert_eq "promtool accepts every query of docs/grafana/tally.json" 0 $?
else
	not_ok "promtool (Debian prometheus) is installed"
fi
# (last: it changes a call behind the rollups' back, as a correction by hand
# would; `tally rollups rebuild` brings every rollup, the tags' too, back to
# the calls, as `tally prices reprice` does after its own update)
q "update calls set cost_pusd = cost_pusd + 1 where event_id = 'litellm-chatcmpl-9f2c1a'" >/dev/null
"$BIN" rollups rebuild --from 2026-11-05T00:00:00Z --to 2026-11-06T00:00:00Z >/dev/null 2>&1
assert_eq "rollups rebuild moves the tag rollup with a changed call" \
	"$(exp_tag api_key 2026-11-05T08:30:00Z 2026-11-05T10:30:00Z)" \
	"$(got_tag api_key 2026-11-05T08:30:00Z 2026-11-05T10:30:00Z)"
assert_eq "after the rebuild every rollup, tags included, agrees with the calls" 0 "$(rollups_mismatch)"
t_done
