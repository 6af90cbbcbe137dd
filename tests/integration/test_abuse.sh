# test_abuse.sh - the abuse cases of a security review (issue 9): each block
# reproduces one attack against `tally serve` and the collector and asserts
# the bounded, scoped answer. Load is local (127.0.0.1), bounded in count and
# time.
. tests/lib.sh

pg_start || exit 1
kafka_start 4 || exit 1
"$BIN" migrate >"$T/migrate.log" 2>&1
"$BIN" prices import data/litellm_model_prices.json >"$T/prices.log" 2>&1
key() { "$BIN" keys create "$@" 2>>"$T/keys.log" | tail -n 1; }
ADMIN=$(key --role admin --name ops)
FIN=$(key --role finance --name cfo)
VIEW=$(key --role viewer --team support --name support-lead)
SALES=$(key --role viewer --team sales --name sales-lead)
A="Authorization: Bearer $ADMIN"
F="Authorization: Bearer $FIN"
V="Authorization: Bearer $VIEW"
S="Authorization: Bearer $SALES"
collector_start

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export TALLY_HTTP_ADDR="127.0.0.1:$PORT"
"$BIN" serve >"$T/serve.log" 2>&1 &
SERVE_PID=$!
PIDS="$PIDS $SERVE_PID"
U="http://127.0.0.1:$PORT"
wait_until 20 curl -sf "$U/healthz" || { not_ok "tally serve answers"; t_done; }
B="$T/body"
H="$T/headers"
http() { curl -s -o "$B" -D "$H" -w '%{http_code}' "$@"; }
body() { cat "$B"; }
size() { wc -c <"$B" | tr -d ' '; }
rss_kb() { sed -n 's/^VmHWM:[^0-9]*\([0-9]*\).*/\1/p' "/proc/$SERVE_PID/status"; }
call() { # call EVENT_ID TEAM WORKFLOW [OUTCOME_ID] [TS]
	printf '{"event_id":"%s","ts":"%s","team":"%s","workflow":"%s","task_type":"t","provider":"openai","model":"gpt-4o-mini","usage":{"input_tokens":1000,"output_tokens":100}%s}\n' \
		"$1" "${5:-2026-11-03T10:00:00Z}" "$2" "$3" "${4:+,\"outcome_id\":\"$4\"}"
}

# ---- memory blow-up: events per request ------------------------------------
awk 'BEGIN { for (i = 0; i < 349000; i++) print "{}" }' >"$T/many"
assert_eq "349,000 events in 1 MiB: 413" 413 "$(http -X POST -H "$V" --data-binary @"$T/many" "$U/api/v1/events")"
assert_match "the 413 names the limit" 'at most 1000 events per request' "$(body)"
assert_eq "the 413 answer is small" 1 "$([ "$(size)" -lt 1024 ] && echo 1)"
awk 'BEGIN { for (i = 0; i < 1000; i++) print "{}" }' >"$T/k"
assert_eq "1000 bad events: 202" 202 "$(http -X POST -H "$V" --data-binary @"$T/k" "$U/api/v1/events")"
assert_match "counts of 1000" '^\{"accepted":0,"rejected":1000,' "$(body)"
assert_eq "reasons for the first 100 rejected only" 100 "$(grep -o '"reason"' "$B" | wc -l | tr -d ' ')"
assert_eq "the answer stays under 64 KiB" 1 "$([ "$(size)" -lt 65536 ] && echo 1)"
awk 'BEGIN { printf "["; for (i = 0; i < 1001; i++) printf "%s{}", i ? "," : ""; print "]" }' >"$T/arr"
assert_eq "an array of 1001 events: 413" 413 "$(http -X POST -H "$A" --data-binary @"$T/arr" "$U/api/v1/events")"
# six such requests in parallel stay far below the gigabytes of before
P6=""
for i in 1 2 3 4 5 6; do curl -s -o /dev/null -X POST -H "$V" --data-binary @"$T/many" "$U/api/v1/events" & P6="$P6 $!"; done
for p in $P6; do wait "$p"; done
assert_eq "peak memory of the server stays under 200 MB" 1 "$([ "$(rss_kb)" -lt 204800 ] && echo 1)"

# ---- duplicate keys, NUL and control characters ------------------------------
http -X POST -H "$V" --data-binary '{"event_id":"dup-1","ts":"2026-11-03T10:00:00Z","team":"support","team":"sales","workflow":"w","task_type":"t","provider":"openai","model":"gpt-4o-mini","usage":{"input_tokens":1,"output_tokens":1}}' "$U/api/v1/events" >/dev/null
assert_match "duplicate key: rejected with a reason" '"rejected":1,.*key \\"team\\" appears twice' "$(body)"
http -X POST -H "$V" --data-binary '{"event_id":"nul-1","ts":"2026-11-03T10:00:00Z","team":"support","workflow":"w\u0000x","task_type":"t","provider":"openai","model":"gpt-4o-mini","usage":{"input_tokens":1,"output_tokens":1}}' "$U/api/v1/events" >/dev/null
assert_match "escaped NUL: rejected" '"rejected":1,.*NUL' "$(body)"
printf '{"event_id":"nul-2","ts":"2026-11-03T10:00:00Z","team":"support","workflow":"w\000x","task_type":"t","provider":"openai","model":"gpt-4o-mini","usage":{"input_tokens":1,"output_tokens":1}}' >"$T/nul"
http -X POST -H "$V" --data-binary @"$T/nul" "$U/api/v1/events" >/dev/null
assert_match "raw NUL: rejected" '"rejected":1,.*NUL' "$(body)"
http -X POST -H "$V" --data-binary '{"event_id":"ctl-1","ts":"2026-11-03T10:00:00Z","team":"support","workflow":"w\u001b[31mx","task_type":"t","provider":"openai","model":"gpt-4o-mini","usage":{"input_tokens":1,"output_tokens":1}}' "$U/api/v1/events" >/dev/null
assert_match "control character in a name: rejected" '"rejected":1,.*control character' "$(body)"
t_done
