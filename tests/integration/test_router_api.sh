#!/bin/sh
# test_router_api.sh - the live router behind `tally serve`: route answers
# from memory, policy, savings, history, overrides through the API (admin
# only), each new version delivered once to the webhook, HMAC-signed, and
# route answers that follow the new version at once; per-workflow answers
# (a workflow whose truth differs from its task type's) with their reasons.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
pg_start || exit 1
"$BIN" migrate >"$T/migrate.log" 2>&1 || { cat "$T/migrate.log"; exit 1; }
ADMIN=$("$BIN" keys create --role admin --name router-test | tail -n 1)
VIEW=$("$BIN" keys create --role viewer --team team --name v | tail -n 1)

# calls N TASK TIER MODEL COST_PUSD QUALITY_EXPR (workflow: $WF)
WF=wf
# With BATCH set, the statement is kept in $T/batch.sql for one transaction
# whose calls all count as ingested a second later (so that a periodic cycle
# sees all of a scenario or none of it, and none is behind its watermark).
calls() {
	lag=0
	[ -n "${BATCH:-}" ] && lag=1
	sql="SELECT tally_ensure_month(now());
	   INSERT INTO calls (event_id, ts, team, workflow, task_type, provider, model, tier,
	     input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,
	     usage_shape, batch, cache_hit, local, status, latency_ms, quality, cost_pusd,
	     ingested_at)
	   SELECT '$2-$3-' || g || '-' || md5(random()::text), now() - interval '1 minute', 'team',
	     '$WF', '$2', 'prov', '$4', '$3', 100, 10, 0, 0, 0, 'tally', false, false, false, 'ok',
	     50, $6, $5, now() + interval '$lag seconds'
	   FROM generate_series(1, $1) g;"
	if [ -n "${BATCH:-}" ]; then printf '%s\n' "$sql" >>"$T/batch.sql"; else q "$sql" >/dev/null; fi
}
calls 400 classify small m-small 1000000 "CASE WHEN g % 10 = 0 THEN 0 ELSE 1 END"
calls 400 classify large m-large 20000000 "CASE WHEN g % 10 = 0 THEN 0 ELSE 1 END"
calls 400 reason small m-small 1000000 "CASE WHEN g % 2 = 0 THEN 0 ELSE 1 END"
calls 400 reason large m-large 20000000 "CASE WHEN g % 10 = 0 THEN 0 ELSE 1 END"

# ---- the webhook receiver: checks the signature, logs version and kind ------------------
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
            f.write("%s %s %s %d\n" % (doc.get("event"), doc.get("version"),
                    "sig-ok" if ok else "sig-BAD", len(doc.get("changes", []))))
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

# ---- the server --------------------------------------------------------------------------
export TALLY_ROUTER_SETTLE_S=0 TALLY_ROUTER_INTERVAL_S=2 TALLY_ROUTER_DEFAULT_TIER=large \
	TALLY_ROUTER_EXPLORE=0 TALLY_ROUTER_WARMUP=0
A="Authorization: Bearer $ADMIN"
serve_start || { not_ok "tally serve answers"; t_done; }
B="$T/body"
http() { curl -s -o "$B" -w '%{http_code}' "$@"; }

wait_until 20 sh -c "curl -s -H '$A' '$U/api/v1/route?task_type=classify' | grep -q -e tier -e 'not running'"
if grep -q 'not running in this process' "$B" 2>/dev/null ||
	curl -s -H "$A" "$U/api/v1/route?task_type=classify" | grep -q 'not running in this process'; then
	echo "SKIP: this tally serve does not start the router (cmd/serve.c needs router_start)"
	kill -TERM "$SERVE_PID"
	wait "$SERVE_PID"
	t_done
fi

assert_eq "route classify" 200 "$(http -H "$A" "$U/api/v1/route?task_type=classify&workflow=wf")"
assert_match "route answer" '^\{"tier":"small","model":"m-small","policy_version":1,"explore":false,"reason":"' \
	"$(cat "$B")"
http -H "$A" "$U/api/v1/route?task_type=reason" >/dev/null
assert_match "reason stays large" '^\{"tier":"large","model":"m-large","policy_version":1,"explore":false' "$(cat "$B")"
http -H "$A" "$U/api/v1/route?task_type=never-seen" >/dev/null
assert_match "unknown task type gets the default" '"tier":"large".*"reason":"default large' "$(cat "$B")"
assert_eq "task_type required" 400 "$(http -H "$A" "$U/api/v1/route")"
assert_eq "route needs a key" 401 "$(http "$U/api/v1/route?task_type=classify")"
assert_eq "a viewer may route" 200 "$(http -H "Authorization: Bearer $VIEW" "$U/api/v1/route?task_type=classify")"
# the route endpoint checks keys as everywhere else: remembered, forgotten when revoked
GW=$("$BIN" keys create --role viewer --team team --name gateway | tail -n 1)
assert_eq "a gateway key routes" 200 "$(http -H "Authorization: Bearer $GW" "$U/api/v1/route?task_type=classify")"
assert_eq "and again (remembered)" 200 "$(http -H "Authorization: Bearer $GW" "$U/api/v1/route?task_type=classify")"
"$BIN" keys revoke "$(q "select id from api_keys where name = 'gateway'")" >/dev/null
assert_eq "revoked: refused at once" 401 "$(http -H "Authorization: Bearer $GW" "$U/api/v1/route?task_type=classify")"
assert_eq "a bad token never routes" 401 "$(http -H "Authorization: Bearer tly_0000000000000000000000000000000000000000000000000000000000000000" "$U/api/v1/route?task_type=classify")"

assert_eq "policy" 200 "$(http -H "$A" "$U/api/v1/routing/policy")"
assert_match "policy content" '"policy_version":1,.*"task_type":"classify","tier":"small"' "$(cat "$B")"
assert_match "per tier interval" '"tier":"large","model":"m-large","calls":400,"cost_usd":"0.008000000000","cost_per_call_usd":"0.000020000000"' "$(cat "$B")"
assert_eq "viewers do not see the policy" 403 "$(http -H "Authorization: Bearer $VIEW" "$U/api/v1/routing/policy")"
assert_eq "savings" 200 "$(http -H "$A" "$U/api/v1/routing/savings")"
# each call is judged by the version in force when it was made: these came
# before version 1, and the answer says so
assert_match "over-tier spend says which policy" '"policy":"in_force_at_each_call","policy_version":null,"policy_versions":\[\],"judged":true,"task_types":\[\]' "$(cat "$B")"
assert_eq "savings under a named version" 200 "$(http -H "$A" "$U/api/v1/routing/savings?policy_version=1")"
# classify: 400 calls on large at 0.00002 would have cost 400 x 0.000001 on small
assert_match "over-tier spend" '"policy":"version","policy_version":1,.*"task_type":"classify","policy_tier":"small","over_tier_calls":400,"over_tier_cost_usd":"0.008000000000","under_policy_cost_usd":"0.000400000000","saving_usd":"0.007600000000"' "$(cat "$B")"
assert_eq "a bad policy_version is refused" 400 "$(http -H "$A" "$U/api/v1/routing/savings?policy_version=x")"

# ---- overrides through the API ------------------------------------------------------------
assert_eq "viewer cannot override" 403 "$(http -H "Authorization: Bearer $VIEW" -X POST -d '{"task_type":"classify","pinned_tier":"large"}' "$U/api/v1/routing/overrides")"
assert_eq "bad override" 400 "$(http -H "$A" -X POST -d '{"task_type":"classify","tolerance":2}' "$U/api/v1/routing/overrides")"
assert_eq "pin classify" 200 "$(http -H "$A" -X POST -d '{"task_type":"classify","pinned_tier":"large"}' "$U/api/v1/routing/overrides")"
assert_eq "new version at once" '{"stored":true,"policy_version":2}' "$(cat "$B")"
http -H "$A" "$U/api/v1/route?task_type=classify" >/dev/null
assert_match "route follows version 2" '^\{"tier":"large","model":"m-large","policy_version":2,"explore":false,"reason":"pinned' "$(cat "$B")"
assert_eq "sensitive: local only" 200 "$(http -H "$A" -X POST -d '{"task_type":"reason","allowed_tiers":["local"]}' "$U/api/v1/routing/overrides")"
http -H "$A" "$U/api/v1/route?task_type=reason" >/dev/null
assert_match "reason routes to local" '^\{"tier":"local"' "$(cat "$B")"
assert_eq "remove pin" 200 "$(http -H "$A" -X DELETE "$U/api/v1/routing/overrides?task_type=classify")"
assert_eq "remove sensitive" 200 "$(http -H "$A" -X DELETE "$U/api/v1/routing/overrides?task_type=reason")"
assert_eq "removing twice" 404 "$(http -H "$A" -X DELETE "$U/api/v1/routing/overrides?task_type=reason")"
http -H "$A" "$U/api/v1/route?task_type=classify" >/dev/null
assert_match "route follows the newest version" '^\{"tier":"small","model":"m-small","policy_version":5,' "$(cat "$B")"
assert_eq "evaluate on demand" 200 "$(http -H "$A" -X POST "$U/api/v1/routing/evaluate")"
assert_eq "no change, same version" '{"evaluated":true,"policy_version":5}' "$(cat "$B")"
assert_eq "history" 200 "$(http -H "$A" "$U/api/v1/routing/history?limit=2")"
assert_match "history newest first" '^\{"versions":\[\{"version" : 5, .*\{"version" : 4, ' "$(cat "$B")"

# ---- per workflow --------------------------------------------------------------------------
# support: small as good as large for workflow faq (many samples), clearly
# worse for legal; over the task type small is worse, so support stays large
BATCH=1
: >"$T/batch.sql"
WF=faq
calls 400 support small m-small 1000000 "CASE WHEN g % 10 = 0 THEN 0 ELSE 1 END"
calls 400 support large m-large 20000000 "CASE WHEN g % 10 = 0 THEN 0 ELSE 1 END"
WF=legal
calls 200 support small m-small 1000000 "CASE WHEN g % 2 = 0 THEN 0 ELSE 1 END"
calls 200 support large m-large 20000000 "CASE WHEN g % 10 = 0 THEN 0 ELSE 1 END"
WF=wf
BATCH=
q "$(cat "$T/batch.sql")" >/dev/null
sleep 1.2
assert_eq "evaluate with workflows" 200 "$(http -H "$A" -X POST "$U/api/v1/routing/evaluate")"
assert_eq "a version for the workflow" '{"evaluated":true,"policy_version":6}' "$(cat "$B")"
assert_eq "route support/faq" 200 "$(http -H "$A" "$U/api/v1/route?task_type=support&workflow=faq")"
assert_match "faq: small, by its own policy" '^\{"tier":"small","model":"m-small","policy_version":6,"explore":false,"reason":"workflow faq: best tier small \(quality 0.900, n 400\)[^"]*","policy_scope":"workflow"\}$' "$(cat "$B")"
http -H "$A" "$U/api/v1/route?task_type=support&workflow=legal" >/dev/null
assert_match "legal: large, the task type's policy, which it confirms" '^\{"tier":"large","model":"m-large","policy_version":6,"explore":false,"reason":"task type policy \(workflow legal.s own statistics agree\): best tier large[^"]*","policy_scope":"task_type"\}$' "$(cat "$B")"
http -H "$A" "$U/api/v1/route?task_type=support&workflow=brand-new" >/dev/null
assert_match "unknown workflow: the task type's policy" '^\{"tier":"large","model":"m-large","policy_version":6,"explore":false,"reason":"task type policy \(workflow brand-new has too few samples of its own\): best tier large[^"]*","policy_scope":"task_type"\}$' "$(cat "$B")"
http -H "$A" "$U/api/v1/route?task_type=support" >/dev/null
assert_match "no workflow: the task type's policy" '^\{"tier":"large","model":"m-large","policy_version":6,"explore":false,"reason":"best tier large' "$(cat "$B")"
http -H "Authorization: Bearer $VIEW" "$U/api/v1/route?task_type=support&workflow=faq" >/dev/null
assert_match "a viewer gets the workflow's answer too" '^\{"tier":"small"' "$(cat "$B")"
http -H "$A" "$U/api/v1/routing/policy" >/dev/null
assert_match "policy lists the workflows" '"task_type":"support","tier":"large".*"workflows":\[\{"workflow":"faq","tier":"small","policy_scope":"workflow"' "$(cat "$B")"
http -H "$A" "$U/api/v1/routing/history?limit=1" >/dev/null
assert_match "history: version 6 names faq" '^\{"versions":\[\{"version" : 6, .*"workflow_policy" : \{"support": \{"faq": "small"\}\}.*"workflow": "faq"' "$(cat "$B")"

# ---- every version reaches the webhook once, signed ---------------------------------------
"$BIN" budgets run >"$T/budgets-run.log" 2>&1 &
RUN_PID=$!
PIDS="$PIDS $RUN_PID"
wait_until 30 sh -c "[ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c \"select count(*) from webhook_outbox where kind = 'router.policy' and delivered_at is null\")\" = 0 ]"
sleep 1
kill -TERM "$RUN_PID"
wait "$RUN_PID"
assert_eq "each version once, signed" "router.policy 1 sig-ok 1|router.policy 2 sig-ok 1|router.policy 3 sig-ok 1|router.policy 4 sig-ok 1|router.policy 5 sig-ok 1|router.policy 6 sig-ok 1" \
	"$(sort "$T/received.log" | paste -sd'|')"

kill -TERM "$SERVE_PID"
wait "$SERVE_PID"
assert_eq "serve exits 0 on SIGTERM" 0 $?
t_done
