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

export TALLY_ROUTER_SETTLE_S=0 TALLY_ROUTER_INTERVAL_S=2 TALLY_ROUTER_EXPLORE=0 TALLY_ROUTER_WARMUP=0
serve_start || { not_ok "tally serve answers"; t_done; }
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

# ---- cross-team writes: outcomes and workflows are scoped by team -------------
{
	call sup-c1 support triage SUP-1
	call sup-c2 support triage SUP-1
	printf '{"outcome_id":"SUP-1","ts":"2026-11-03T12:00:00Z","team":"support","workflow":"triage","success":false}\n'
} >"$T/sup"
assert_eq "support posts its calls and outcome: 202" 202 "$(http -X POST -H "$V" --data-binary @"$T/sup" "$U/api/v1/events")"
wait_until 30 sh -c "[ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c \"select count(*) from outcomes where outcome_id = 'SUP-1'\")\" = 1 ]"
http -X POST -H "$A" -d '{"scope":"workflow","name":"triage","amount_usd":"100"}' "$U/api/v1/budgets" >/dev/null
http -H "$A" "$U/api/v1/budgets?at=2026-11-30" >/dev/null
BUDGET0=$(body | sed -n 's/.*"name":"triage",[^}]*"spend_usd":"\([0-9.]*\)".*/\1/p')
assert_match "the workflow budget counts support's calls" '^0\.0*[1-9]' "$BUDGET0"
http -H "$F" "$U/api/v1/outcomes?from=2026-11-01&to=2026-12-01" >/dev/null
wf() { python3 -c 'import json, sys; print([w for w in json.load(open(sys.argv[1]))["workflows"] if w["workflow"] == "triage"])' "$B"; }
OUT0=$(wf)
# sales guesses the id: moves it to sales with a far-future ts, then names it in calls
{
	printf '{"outcome_id":"SUP-1","ts":"2099-01-01T00:00:00Z","team":"sales","workflow":"steal","success":true}\n'
	call sal-c1 sales triage SUP-1
	call sal-c2 sales triage SUP-1
	call sal-c3 sales triage
} >"$T/sal"
assert_eq "sales posts (its own team's events): 202" 202 "$(http -X POST -H "$S" --data-binary @"$T/sal" "$U/api/v1/events")"
wait_until 30 sh -c "[ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c \"select count(*) from calls where event_id like 'sal-%'\")\" = 3 ] && [ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c \"select count(*) from quarantine where reason like 'outcome SUP-1 belongs%'\")\" = 1 ]"
assert_eq "another team's outcome never moves" "support|f|2026-11-03 12:00:00+00" "$(q "select team, success, ts from outcomes where outcome_id = 'SUP-1'")"
assert_match "the foreign outcome event is quarantined with its reason" \
	'outcome SUP-1 belongs to team support: an event of team sales may not change it' \
	"$(q "select reason from quarantine where reason like 'outcome SUP-1%'")"
http -H "$F" "$U/api/v1/outcomes?from=2026-11-01&to=2026-12-01" >/dev/null
assert_eq "support's cost per outcome is unchanged by sales' calls" "$OUT0" "$(wf)"
assert_match "sales' calls naming it count as calls without a known outcome" '"calls_without_outcome":\{"calls":2,' "$(body)"
http -H "$A" "$U/api/v1/budgets?at=2026-11-30" >/dev/null
assert_eq "support's workflow budget ignores sales' calls naming the workflow" "$BUDGET0" \
	"$(body | sed -n 's/.*"name":"triage",[^}]*"spend_usd":"\([0-9.]*\)".*/\1/p')"
# a later correction (admin over HTTP, the owning team) takes effect
printf '{"outcome_id":"SUP-1","ts":"2026-11-04T09:00:00Z","team":"support","workflow":"triage","success":true}\n' >"$T/fix"
assert_eq "admin correction: 202" 202 "$(http -X POST -H "$A" --data-binary @"$T/fix" "$U/api/v1/events")"
wait_until 30 sh -c "[ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c \"select success from outcomes where outcome_id = 'SUP-1'\")\" = t ]"
assert_eq "the admin's later correction takes effect" "support|t" "$(q "select team, success from outcomes where outcome_id = 'SUP-1'")"
# within its team, a far-future ts cannot lock an outcome against an admin's correction
printf '{"outcome_id":"SUP-2","ts":"2099-01-01T00:00:00Z","team":"support","workflow":"triage","success":true}\n' >"$T/fut"
assert_eq "support posts an outcome dated 2099: 202" 202 "$(http -X POST -H "$V" --data-binary @"$T/fut" "$U/api/v1/events")"
wait_until 30 sh -c "[ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c \"select count(*) from outcomes where outcome_id = 'SUP-2'\")\" = 1 ]"
http -X POST -H "$V" --data-binary '{"outcome_id":"SUP-2","ts":"2026-11-05T00:00:00Z","team":"support","success":false,"correction":true}' "$U/api/v1/events" >/dev/null
assert_match "a viewer may not send a correction" '"rejected":1,.*correction.*admin' "$(body)"
printf '{"outcome_id":"SUP-2","ts":"2026-11-05T00:00:00Z","team":"support","workflow":"triage","success":false,"correction":false}\n' >"$T/fix2"
assert_eq "admin corrects it with an earlier ts: 202" 202 "$(http -X POST -H "$A" --data-binary @"$T/fix2" "$U/api/v1/events")"
wait_until 30 sh -c "[ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c \"select success from outcomes where outcome_id = 'SUP-2'\")\" = f ]"
assert_eq "the admin's correction takes effect whatever its ts" "support|f|2026-11-05 00:00:00+00" "$(q "select team, success, ts from outcomes where outcome_id = 'SUP-2'")"

# ---- connection exhaustion: per-client bound and header deadline --------------
# One client (127.0.0.1) holds 520 slow-header connections, then 600 idle
# keep-alive ones; the health check comes from another client (127.0.0.2).
hold() { # hold MODE COUNT SECONDS: holds connections; prints how many stayed open
	python3 - "$PORT" "$@" <<'PY'
import socket, sys, time
port, mode, n, secs = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
socks = []
for i in range(n):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect(("127.0.0.1", port))
        if mode == "slow":
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        else:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            s.recv(4096)
        socks.append(s)
    except OSError:
        s.close()
open(sys.argv[5] if len(sys.argv) > 5 else "/dev/null", "w").write("ready\n")
time.sleep(secs)
alive = 0
for s in socks:
    s.setblocking(False)
    try:
        alive += s.recv(1) != b""
    except BlockingIOError:
        alive += 1
    except OSError:
        pass
print(alive)
PY
}
health2() { curl -s -o /dev/null -m 3 -w '%{http_code}' --interface 127.0.0.2 "$U/healthz"; }
hold slow 520 14 "$T/held" >"$T/slow.out" &
HOLD=$!
wait_until 30 test -s "$T/held"
assert_eq "520 slow-header connections of one client: /healthz of another answers" 200 "$(health2)"
assert_eq "and the API too" 200 "$(curl -s -o /dev/null -m 3 -w '%{http_code}' --interface 127.0.0.2 -H "$V" "$U/api/v1/me")"
wait "$HOLD"
assert_eq "slow-header connections are closed after the header deadline (10 s)" 0 "$(cat "$T/slow.out")"
# a header byte every 2 s keeps an inactivity timeout happy, not the deadline
LORIS=$(python3 - "$PORT" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
t0 = time.time()
try:
    while time.time() - t0 < 30:
        time.sleep(2)
        s.sendall(b"X-Slow: 1\r\n")
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                break
        except BlockingIOError:
            pass
        s.setblocking(True)
except OSError:
    pass
print(int(time.time() - t0))
PY
)
assert_eq "headers trickled byte by byte are cut at the 10 s deadline" 1 "$([ "$LORIS" -ge 9 ] && [ "$LORIS" -le 14 ] && echo 1)"
rm -f "$T/held"
hold idle 600 3 "$T/held" >"$T/idle.out" &
HOLD=$!
wait_until 30 test -s "$T/held"
assert_eq "600 idle keep-alive connections of one client: /healthz of another answers" 200 "$(health2)"
wait "$HOLD"
assert_eq "one client holds at most 32 connections" 32 "$(cat "$T/idle.out")"

# ---- ledger connections: a bounded pool, room kept for sign-in ---------------
# Budgets are locked, so each budgets request holds a ledger connection while
# it waits; 60 of them (from two other client addresses) queue behind the 12
# general connections, and sign-in still gets a reserved one. PostgreSQL has
# max_connections=50 here (tests/lib.sh).
psql "$TALLY_DATABASE_URL" -XAtq -c "BEGIN; LOCK TABLE budgets IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(8); COMMIT" >/dev/null 2>&1 &
LOCKER=$!
sleep 0.5
python3 - "$PORT" "$FIN" >"$T/slow_reports.out" <<'PY' &
import http.client, sys, threading
port, token = int(sys.argv[1]), sys.argv[2]
codes = []
def one(src, i):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60, source_address=(src, 0))
    c.request("GET", "/api/v1/budgets?at=2026-11-%02dT%02d:00:00Z" % (1 + i % 28, i % 24),
              headers={"Authorization": "Bearer " + token})
    codes.append(c.getresponse().status)
ts = [threading.Thread(target=one, args=("127.0.0.%d" % (3 + i % 2), i)) for i in range(60)]
[t.start() for t in ts]
[t.join() for t in ts]
print(" ".join(sorted(set(str(c) for c in codes))), len(codes))
PY
REPORTS=$!
sleep 3
PEAK=$(q "select count(*) from pg_stat_activity where backend_type = 'client backend'")
SIGNIN=$(curl -s -o /dev/null -m 10 -w '%{http_code}' --interface 127.0.0.2 -X POST -H 'Content-Type: application/json' -d "{\"token\":\"$VIEW\"}" "$U/api/v1/session")
assert_eq "sign-in answers while 60 slow reports wait" 200 "$SIGNIN"
assert_eq "the collector still writes meanwhile" 202 "$(http -X POST -H "$V" --data-binary "$(call pool-1 support triage)" --interface 127.0.0.2 "$U/api/v1/events")"
wait "$LOCKER"
wait "$REPORTS"
assert_eq "every queued report is answered once the lock goes" "200 60" "$(cat "$T/slow_reports.out")"
assert_eq "the server's ledger connections stay bounded (16 + collector + listeners)" 1 "$([ "$PEAK" -le 26 ] && echo 1)"
wait_until 30 sh -c "[ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c \"select count(*) from calls where event_id = 'pool-1'\")\" = 1 ]"
assert_eq "the collector's write went through" 1 "$(q "select count(*) from calls where event_id = 'pool-1'")"

# ---- CSV formula injection: every CSV neutralises formula-like cells -----------
python3 - >"$T/formula.jsonl" <<'PY'
import json
names = [("=cmd|' /C calc'!A0", "+1", "@SUM(1+1)"), ("-2+3", "@x", "=HYPERLINK(\"http://x\")")]
for i, (team, wf, model) in enumerate(names):
    print(json.dumps({"event_id": "csv-%d" % i, "ts": "2026-11-05T10:00:00Z", "team": team,
        "workflow": wf, "task_type": "t", "outcome_id": "CSV-%d" % i, "provider": "openai",
        "model": model, "usage": {"input_tokens": 10, "output_tokens": 1}}))
    print(json.dumps({"outcome_id": "CSV-%d" % i, "ts": "2026-11-05T11:00:00Z", "team": team,
        "workflow": wf, "success": True}))
PY
assert_eq "formula-like names are accepted as names" 202 "$(http -X POST -H "$A" --data-binary @"$T/formula.jsonl" "$U/api/v1/events")"
wait_until 30 sh -c "[ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c \"select count(*) from calls where event_id like 'csv-%'\")\" = 2 ]"
http -X POST -H "$A" -d '{"scope":"team","name":"@SUM(1+1)","amount_usd":"5"}' "$U/api/v1/budgets" >/dev/null
# a cell starting with = + - @ TAB or CR, bare or quoted
formula_cells() { grep -cE "(^|,)\"?[-=+@$(printf '\t\r')]" "$1"; }
for ep in "chargeback?month=2026-11" "waste?from=2026-11-01&to=2026-12-01" \
	"outcomes?from=2026-11-01&to=2026-12-01" "budgets?at=2026-11-20" \
	"export/focus?from=2026-11-01&to=2026-12-01"; do
	case "$ep" in export/*) fmt="" ;; *) fmt="&format=csv" ;; esac
	http -H "$A" "$U/api/v1/$ep$fmt" >/dev/null
	assert_eq "CSV ${ep%%\?*}: no cell starts a formula" 0 "$(formula_cells "$B")"
	assert_match "CSV ${ep%%\?*}: the name is kept, marked" "'(=cmd|\+1|@SUM|-2\+3)" "$(cat "$B")"
done
"$BIN" report spend --from 2026-11-01 --to 2026-12-01 --group-by model --format csv >"$T/spend.csv"
assert_eq "CLI spend CSV: no cell starts a formula" 0 "$(formula_cells "$T/spend.csv")"
assert_match "CLI spend CSV keeps the model, marked" "'@SUM\(1\+1\)" "$(cat "$T/spend.csv")"

# ---- login CSRF: sign-in takes JSON from this server's own page only -----------
TOK="{\"token\":\"$SALES\"}"
assert_eq "cross-site text/plain form post: 403" 403 "$(http -X POST -H 'Content-Type: text/plain' -H 'Origin: http://evil.example' -H 'Sec-Fetch-Site: cross-site' --data "$TOK" "$U/api/v1/session")"
assert_eq "no session cookie for it" "" "$(grep -i '^Set-Cookie' "$H")"
assert_eq "text/plain body without Origin: 415" 415 "$(http -X POST -H 'Content-Type: text/plain' --data "$TOK" "$U/api/v1/session")"
assert_eq "JSON from another Origin: 403" 403 "$(http -X POST -H 'Content-Type: application/json' -H 'Origin: http://evil.example' --data "$TOK" "$U/api/v1/session")"
assert_eq "JSON with Sec-Fetch-Site cross-site: 403" 403 "$(http -X POST -H 'Content-Type: application/json' -H 'Sec-Fetch-Site: same-site' --data "$TOK" "$U/api/v1/session")"
assert_eq "JSON from the server's own page: 200" 200 "$(http -X POST -H 'Content-Type: application/json' -H "Origin: $U" -H 'Sec-Fetch-Site: same-origin' --data "$TOK" "$U/api/v1/session")"
assert_eq "JSON from a script (no Origin): 200" 200 "$(http -X POST -H 'Content-Type: application/json; charset=utf-8' --data "$TOK" "$U/api/v1/session")"

# ---- 413 that a client can read ---------------------------------------------------
for mib in 2 8; do
	CODE=$(python3 - "$U" "$VIEW" "$mib" <<'PY'
import sys, urllib.request, urllib.error
url, tok, mib = sys.argv[1], sys.argv[2], int(sys.argv[3])
req = urllib.request.Request(url + "/api/v1/events", data=b"x" * (mib << 20), method="POST",
                             headers={"Authorization": "Bearer " + tok})
try:
    urllib.request.urlopen(req, timeout=30)
    print("no error")
except urllib.error.HTTPError as e:
    print(e.code)
except Exception as e:
    print(type(e).__name__, e)
PY
)
	assert_eq "Python urllib posting $mib MiB reads the 413" 413 "$CODE"
done
head -c $((100 << 20)) /dev/zero >"$T/huge"
OUT=$(curl -s -o /dev/null -m 60 -w '%{size_upload}' -X POST -H "$V" -H 'Transfer-Encoding: chunked' --data-binary @"$T/huge" "$U/api/v1/events")
rm -f "$T/huge"
assert_eq "a chunked 100 MiB body is not read to the end (at most ~16 MiB)" 1 "$([ "${OUT%.*}" -lt $((20 << 20)) ] && echo 1)"
assert_eq "the server still answers after it" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$U/healthz")"

# ---- year 0 is an unreadable time (400), never a 500 --------------------------------
E0=$(grep -ci error "$T/serve.log")
for ep in "spend?from=0000-01-01" "spend?from=0000-01-01T00:00:00Z&to=2026-12-01" \
	"waste?from=0000-01-01&to=2026-12-01" "budgets?at=0000-01-01" \
	"outcomes?from=0000-01-01&to=2026-12-01" "export/focus?from=0000-01-01&to=0000-02-01"; do
	assert_eq "${ep}: 400" 400 "$(http -H "$A" "$U/api/v1/$ep")"
done
assert_eq "year 1 is a time: not a 500" 1 "$(c=$(http -H "$A" "$U/api/v1/spend?from=0001-01-01&to=2026-12-01"); [ "$c" = 200 ] || [ "$c" = 400 ] && echo 1)"
assert_eq "no error logged for them" "$E0" "$(grep -ci error "$T/serve.log")"

# ---- leaks to viewers: nothing from which another team's figures follow ----------
http -H "$S" "$U/api/v1/chargeback?month=2026-11" >/dev/null
assert_match "viewer chargeback: its own row" '"rows":\[\{"cost_center":"\(unassigned\)","team":"sales"' "$(body)"
assert_match "viewer chargeback: no share_pct (it gives the month's total)" '"share_pct":null\}\],"total":\{[^}]*"share_pct":null\}' "$(body)"
http -H "$S" "$U/api/v1/chargeback?month=2026-11&format=csv" >/dev/null
assert_match "viewer chargeback CSV: empty share_pct cell" '^2026-11,\(unassigned\),sales,[0-9]+,[0-9]+,[0-9]+,[0-9.]+,$' "$(sed -n 2p "$B")"
for m in proportional even; do
	assert_eq "viewer chargeback share_unassigned=$m: 403" 403 "$(http -H "$S" "$U/api/v1/chargeback?month=2026-11&share_unassigned=$m")"
done
assert_eq "finance still gets shares" 200 "$(http -H "$F" "$U/api/v1/chargeback?month=2026-11&share_unassigned=even")"
assert_match "finance share_pct" '"share_pct":"[0-9]+\.[0-9]{4}"' "$(body)"
wait_until 30 sh -c "curl -s -H '$A' '$U/api/v1/route?task_type=t&workflow=triage' | grep -q tier"
http -H "$A" "$U/api/v1/route?task_type=t&workflow=triage" >/dev/null
ADMIN_REASON=$(body)
http -H "$S" "$U/api/v1/route?task_type=t&workflow=triage" >/dev/null
assert_match "viewer route: a tier" '"tier":' "$(body)"
assert_match "viewer route: the reason carries no statistics" '"reason":"(workflow triage|task type t): see the routing policy \(admin, finance\)"' "$(body)"
echo "# admin's route answer: $ADMIN_REASON"

# ---- smaller: failed sign-ins throttled and logged, names, 414/431 headers --------
BAD="Authorization: Bearer tly_$(printf '%064d' 7)"
CODES=""
for i in $(seq 1 12); do CODES="$CODES$(curl -s -o /dev/null -w '%{http_code}' --interface 127.0.0.6 -H "$BAD" "$U/api/v1/me") "; done
assert_eq "10 failed sign-ins per address and minute, then 429" "401 401 401 401 401 401 401 401 401 401 429 429 " "$CODES"
assert_match "429 says when to come back" '^Retry-After: [0-9]+' "$(curl -s -D - -o /dev/null --interface 127.0.0.6 -H "$BAD" "$U/api/v1/me" | tr -d '\r' | grep -i '^Retry-After')"
FRESH=$(key --role viewer --team support --name fresh)
assert_eq "the throttled address is refused before the ledger asks for a key" 429 "$(curl -s -o /dev/null -w '%{http_code}' --interface 127.0.0.6 -X POST -H 'Content-Type: application/json' -d "{\"token\":\"$FRESH\"}" "$U/api/v1/session")"
assert_eq "other addresses are not throttled" 200 "$(curl -s -o /dev/null -w '%{http_code}' --interface 127.0.0.7 -H "$V" "$U/api/v1/me")"
assert_match "failed sign-ins are logged at info with the address" 'INFO: web: failed authentication from 127\.0\.0\.6 \(GET /api/v1/me, 1 in the last minute\): unknown or revoked key' "$(cat "$T/serve.log")"
assert_eq "a team name with a control character: 400" 400 "$(http -X POST -H "$A" -d '{"team":"a\u0007b","cost_center":"CC"}' "$U/api/v1/teams")"
assert_eq "a budget name with a control character: 400" 400 "$(http -X POST -H "$A" -d '{"scope":"team","name":"a\nb","amount_usd":"1"}' "$U/api/v1/budgets")"
LONG=$(head -c 20000 /dev/zero | tr '\0' a)
for case in "414 url" "431 header"; do
	code=${case% *}
	if [ "${case#* }" = url ]; then http -H "$V" "$U/api/v1/spend?team=$LONG" >/dev/null; else http -H "X-Big: $LONG" "$U/healthz" >/dev/null; fi
	assert_eq "oversized ${case#* }: $code" "$code" "$(sed -n '1s/^HTTP\/1.1 \([0-9]*\).*/\1/p' "$H")"
	assert_match "the $code carries the security headers" 'X-Content-Type-Options: nosniff.*Content-Security-Policy: default-src' "$(tr -d '\r' <"$H" | tr '\n' ' ')"
done
t_done
