# test_budgets.sh - budgets, forecasts and alerts: thresholds of actual and
# forecast spend fire once per period, are stored, and reach a webhook
# receiver (in this test) that fails the first deliveries: every alert
# arrives exactly once with a valid HMAC signature, across a restart of tally.
. tests/lib.sh

pg_start || exit 1
kafka_start 4 || exit 1
"$BIN" migrate >"$T/migrate.log" 2>&1
printf 'provider,model,tier,input,output,cache_read,cache_write,reasoning,batch_input,batch_output,threshold_tokens,above_input,above_output,above_cache_read,above_cache_write\ntestp,m-small,small,1.00,2.00,,,,,,,,,,\n' >"$T/p.csv"
"$BIN" prices import "$T/p.csv" --effective-from 2026-10-01 >/dev/null 2>&1
# a: 10 calls of $0.0012 = $0.012; b (workflow wb): 5 calls of $0.024 = $0.12
awk 'BEGIN {
	for (i = 0; i < 10; i++)
		printf "{\"event_id\":\"a-%d\",\"ts\":\"2026-11-02T10:%02d:00Z\",\"team\":\"a\",\"workflow\":\"wa\",\"task_type\":\"x\",\"provider\":\"testp\",\"model\":\"m-small\",\"usage\":{\"input_tokens\":1000,\"output_tokens\":100}}\n", i, i
	for (i = 0; i < 5; i++)
		printf "{\"event_id\":\"b-%d\",\"ts\":\"2026-11-03T10:%02d:00Z\",\"team\":\"b\",\"workflow\":\"wb\",\"task_type\":\"x\",\"provider\":\"testp\",\"model\":\"m-small\",\"usage\":{\"input_tokens\":20000,\"output_tokens\":2000}}\n", i, i
}' >"$T/ev.jsonl"
"$BIN" produce "$T/ev.jsonl" >/dev/null 2>&1
collector_start
wait_calls 15 60
sleep 1
kill -TERM "$COLLECTOR_PID"
wait "$COLLECTOR_PID"

# ---- budgets ------------------------------------------------------------------------
"$BIN" budgets set --team a --amount 0.01 >/dev/null
assert_eq "budgets set (team)" 0 $?
"$BIN" budgets set --workflow wb --amount 0.2 >/dev/null
assert_eq "budgets set (workflow)" 0 $?
"$BIN" budgets set --team a --amount -5 >/dev/null 2>&1
assert_eq "a negative amount is bad usage" 2 $?
"$BIN" budgets set --team zz --amount 1 >/dev/null && "$BIN" budgets delete --team zz >/dev/null
assert_eq "budgets delete" 0 $?
"$BIN" budgets delete --team zz >/dev/null 2>&1
assert_eq "deleting an unknown budget is an error (exit 2)" 2 $?
# Half-way through November, with no spend in the 7 days before, the forecast
# falls back to the run rate, which doubles the month-to-date spend.
L=$("$BIN" budgets list --at 2026-11-16T00:00:00Z)
assert_eq "budgets list: spend, run-rate forecast and burn" \
"scope,name,month,budget_usd,spend_usd,forecast_usd,spend_pct,forecast_pct
team,a,2026-11,0.010000000000,0.012000000000,0.024000000000,120.00,240.00
workflow,wb,2026-11,0.200000000000,0.120000000000,0.240000000000,60.00,120.00" "$L"
assert_match "spend as of a time inside an hour counts only the calls before it (5 of 10)" \
	'^team,a,2026-11,0.010000000000,0.006000000000,' \
	"$("$BIN" budgets list --at 2026-11-02T10:05:00Z | grep '^team,a,')"
J=$("$BIN" budgets list --at 2026-11-16T00:00:00Z --format json)
assert_match "JSON names the forecast method" '"forecast_method":"month-to-date spend \+ the mean daily spend of the last 7 whole days' "$J"
assert_match "without a day of spend in the last 7, no band" '"name":"a".*"basis_days":0,"forecast_low_usd":null,"forecast_high_usd":null' "$J"
# On Nov 4 the 7 days before hold one day of spend ($0.012 on Nov 2): the forecast
# is month-to-date + $0.012 x the 27 days left, not a run rate over 3 days.
assert_match "forecast from the last 7 days' mean daily spend, with its band" \
	'"name":"a","month":"2026-11","budget_usd":"0.010000000000","spend_usd":"0.012000000000","forecast_usd":"0.336000000000",.*"basis_days":1,"forecast_low_usd":"0.336000000000","forecast_high_usd":"0.336000000000"' \
	"$("$BIN" budgets list --at 2026-11-04T00:00:00Z --format json)"

# a: actual 50/80/100 + forecast 50/80/100; wb: actual 50 + forecast 50/80/100
assert_eq "evaluate fires each crossed threshold" "10 new alert(s)" "$("$BIN" budgets evaluate --at 2026-11-16T00:00:00Z)"
assert_eq "evaluate again fires nothing (once per threshold per period)" "0 new alert(s)" "$("$BIN" budgets evaluate --at 2026-11-17T00:00:00Z)"
assert_eq "alerts stored" 10 "$(q 'select count(*) from budget_alerts')"
assert_eq "one webhook per alert in the outbox" 10 "$(q "select count(*) from webhook_outbox where kind = 'budget.alert'")"
assert_match "alert history" '"scope":"workflow","name":"wb","period":"2026-11","basis":"forecast","threshold_pct":100' "$("$BIN" budgets alerts)"

# ---- delivery: a receiver that fails the first 3 requests ----------------------------------
cat >"$T/receiver.py" <<'PY'
import hashlib, hmac, http.server, json, sys
secret, log, portfile, fail_first = sys.argv[1].encode(), sys.argv[2], sys.argv[3], int(sys.argv[4])
seen = [0]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        seen[0] += 1
        status = 500 if seen[0] <= fail_first else 200
        want = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        ok = hmac.compare_digest(want, self.headers.get("X-Tally-Signature", ""))
        doc = json.loads(body)
        with open(log, "a") as f:
            f.write("%d %s %s %s %s\n" % (status, self.headers.get("X-Tally-Delivery"),
                    "sig-ok" if ok else "sig-BAD", doc.get("alert_id"),
                    "text" if doc.get("text") else "no-text"))
        self.send_response(status)
        self.end_headers()
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(portfile, "w").write(str(s.server_address[1]))
s.serve_forever()
PY
python3 "$T/receiver.py" s3cret "$T/received.log" "$T/port" 3 2>"$T/receiver.log" &
RECV_PID=$!
PIDS="$PIDS $RECV_PID"
wait_until 10 test -s "$T/port" || not_ok "receiver started"
export TALLY_WEBHOOK_URL="http://127.0.0.1:$(cat "$T/port")/hook" TALLY_WEBHOOK_SECRET=s3cret
"$BIN" budgets run >>"$T/tally-run.log" 2>&1 &
RUN_PID=$!
PIDS="$PIDS $RUN_PID"
wait_until 20 sh -c "[ \$(grep -c '^500 ' '$T/received.log' 2>/dev/null || echo 0) -ge 3 ]"
# Restart tally while the failed deliveries wait for their retry.
kill -TERM "$RUN_PID"
wait "$RUN_PID"
assert_eq "tally budgets run exits 0 on SIGTERM" 0 $?
assert_match "failed deliveries are kept for retry" '^[1-9][0-9]*$' "$(q 'select count(*) from webhook_outbox where delivered_at is null and attempts > 0')"
"$BIN" budgets run >>"$T/tally-run.log" 2>&1 &
RUN_PID=$!
PIDS="$PIDS $RUN_PID"
wait_until 30 sh -c "[ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c 'select count(*) from webhook_outbox where delivered_at is null')\" = 0 ]"
sleep 2
kill -TERM "$RUN_PID"
wait "$RUN_PID"

assert_eq "three deliveries were refused first" 3 "$(grep -c '^500 ' "$T/received.log")"
assert_eq "each alert arrived exactly once" 10 "$(grep '^200 ' "$T/received.log" | awk '{print $4}' | sort -u | wc -l | tr -d ' ')"
assert_eq "no alert arrived twice" 10 "$(grep -c '^200 ' "$T/received.log")"
assert_eq "every signature valid" 0 "$(grep -c 'sig-BAD' "$T/received.log")"
assert_eq "every body has a Slack-compatible text" 0 "$(grep -c 'no-text' "$T/received.log")"
assert_eq "the outbox records retries" 3 "$(q 'select count(*) from webhook_outbox where attempts > 1')"
assert_eq "everything delivered" 0 "$(q 'select count(*) from webhook_outbox where delivered_at is null')"
assert_match "alerts are audited" '^10$' "$(q "select count(*) from audit_log where action = 'budgets.alert'")"

# ---- a budget changed from a month on: earlier months keep their amount -----------------
R=$("$BIN" budgets set --team a --amount 0.05 --month 2026-12)
assert_eq "budgets set --month" "budget team a: 0.05 USD per month from 2026-12" "$R"
assert_match "November keeps its amount" '^team,a,2026-11,0.010000000000,' \
	"$("$BIN" budgets list --at 2026-11-16T00:00:00Z | grep '^team,a,')"
assert_match "December has the new one" '^team,a,2026-12,0.050000000000,' \
	"$("$BIN" budgets list --at 2026-12-05T00:00:00Z | grep '^team,a,')"
assert_eq "re-evaluating November fires nothing new" "0 new alert(s)" "$("$BIN" budgets evaluate --at 2026-11-20T00:00:00Z)"
"$BIN" budgets set --team a --amount 0.03 --month 2026-11 >/dev/null
assert_match "a change from an earlier month replaces the later ones" '^team,a,2026-12,0.030000000000,' \
	"$("$BIN" budgets list --at 2026-12-05T00:00:00Z | grep '^team,a,')"
assert_match "and October keeps the first amount" '^team,a,2026-10,0.010000000000,' \
	"$("$BIN" budgets list --at 2026-10-05T00:00:00Z | grep '^team,a,')"
"$BIN" budgets set --team a --amount 0.02 >/dev/null
assert_eq "without --month the amount is every month's" "1|-infinity|20000000000" \
	"$(q "select count(*), min(a.from_month)::text, min(a.amount_pusd) from budget_amounts a join budgets b on b.id = a.budget_id where b.scope = 'team' and b.name = 'a'")"
"$BIN" budgets set --team a --amount 1 --month 2026-13 >/dev/null 2>&1
assert_eq "a bad --month is bad usage" 2 $?
assert_match "the month is in the audit log" '"from_month": "2026-11-01"' \
	"$(q "select details::text from audit_log where action = 'budgets.set' and details->>'amount_pusd' = '30000000000'")"
kill "$RECV_PID" 2>/dev/null
t_done
