# test_up.sh - `tally up --demo` as an operator runs it: embedded PostgreSQL
# and Kafka, endpoints printed and written, demo traffic into the ledger,
# external producers on the printed bootstrap, clean stop, data kept.
. tests/lib.sh

# Bind a port of our own so that parallel runs do not collide; live demo
# traffic fast enough to see every kind of message within seconds.
export TALLY_HTTP_ADDR="127.0.0.1:$(test_port)"
export TALLY_DEMO_RATE=200

# The licence: the standard Apache 2.0 text, named by the README and the package files.
assert_match "LICENSE is the Apache License 2.0" 'Apache License.*Version 2\.0, January 2004.*END OF TERMS AND CONDITIONS' "$(tr '\n' ' ' <LICENSE)"
assert_match "the README names it" 'Apache License, Version 2\.0' "$(cat README.md)"
assert_match "web/package.json says Apache-2.0" '"license": "Apache-2\.0"' "$(cat web/package.json)"

# A taken port stops `tally up` before it creates anything, with one message.
python3 -c 'import socket,sys,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); print("ready", flush=True); time.sleep(60)' \
	"${TALLY_HTTP_ADDR#*:}" >"$T/holder.out" 2>&1 &
HOLDER=$!
PIDS="$PIDS $HOLDER"
wait_until 10 grep -q ready "$T/holder.out"
TALLY_DATA_DIR="$T/taken" "$BIN" up --demo >"$T/taken.out" 2>"$T/taken.log"
assert_eq "a taken port: exit 1" 1 $?
assert_eq "a taken port: nothing created" 1 "$(test -e "$T/taken/pg" || test -e "$T/taken/pg.location"; echo $?)"
assert_eq "a taken port: the error names it once" 1 "$(grep -c "cannot listen on $TALLY_HTTP_ADDR" "$T/taken.log")"
assert_eq "a taken port: the advice is not repeated" 1 "$(grep -o 'TALLY_HTTP_ADDR' "$T/taken.log" | wc -l)"
kill "$HOLDER" 2>/dev/null
wait "$HOLDER" 2>/dev/null
"$BIN" up --demo >"$T/up.out" 2>"$T/up.log" &
UP=$!
PIDS="$PIDS $UP"
# the first start writes the demo's history first
wait_until 400 test -f "$TALLY_DATA_DIR/endpoints.env"
assert_eq "endpoints.env written" 0 $?
assert_match "prints the Kafka bootstrap" "^TALLY_KAFKA_BROKERS=127.0.0.1:[0-9]+" "$(cat "$T/up.out")"
assert_match "prints the database URL" "TALLY_DATABASE_URL=postgresql://" "$(cat "$T/up.out")"
assert_match "prints the dashboard URL" "TALLY_HTTP_URL=http://" "$(cat "$T/up.out")"
. "$TALLY_DATA_DIR/endpoints.env"
export TALLY_DATABASE_URL TALLY_KAFKA_BROKERS
assert_eq "psql works on the printed URL" 1 "$(psql "$TALLY_DATABASE_URL" -XAtqc 'select 1')"
assert_eq "embedded PostgreSQL listens on a unix socket only" "" "$(psql "$TALLY_DATABASE_URL" -XAtqc 'show listen_addresses')"
assert_match "default price book loaded" "^[0-9]{4}" "$(psql "$TALLY_DATABASE_URL" -XAtqc 'select count(*) from price_book')"

# demo traffic arrives: calls, outcomes, feedback and some quarantined junk
wait_until 90 sh -c "[ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtqc 'select count(*) from quarantine')\" -ge 1 ]"
assert_eq "demo produces malformed messages that are quarantined" 0 $?
wait_until 60 sh -c "[ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtqc 'select count(*) from outcomes')\" -ge 1 ]"
assert_eq "demo outcomes arrive" 0 $?
assert_match "demo calls arrive across teams" "^[3-9]$" "$(psql "$TALLY_DATABASE_URL" -XAtqc 'select count(distinct team) from calls')"
assert_match "demo uses several tiers" "^[3-9]$" "$(psql "$TALLY_DATABASE_URL" -XAtqc 'select count(distinct tier) from calls')"
assert_eq "demo calls are priced" 0 "$(psql "$TALLY_DATABASE_URL" -XAtqc "select count(*) from calls where cost_pusd is null")"

# /metrics of the all-in-one process: Prometheus's own checker, clean bucket
# bounds, and every metric the Grafana dashboard (docs/grafana/tally.json) uses
curl -s "${TALLY_HTTP_URL}metrics" >"$T/metrics.txt"
if command -v promtool >/dev/null; then
	promtool check metrics <"$T/metrics.txt" >"$T/promtool.log" 2>&1
	assert_eq "promtool check metrics accepts /metrics" 0 $?
fi
assert_match "bucket bounds printed cleanly" '^tally_batch_seconds_bucket\{le="0.005"\} ' "$(cat "$T/metrics.txt")"
assert_eq "no bucket bound printed through a double" "" "$(grep -E 'le="[0-9.]{12,}"' "$T/metrics.txt")"
missing=""
for m in $(grep -o 'tally_[a-z_]*' docs/grafana/tally.json | sort -u); do
	grep -q "^# TYPE $m " "$T/metrics.txt" || missing="$missing $m"
done
assert_eq "the Grafana dashboard uses only metrics /metrics exposes" "" "$missing"

# an external producer on the printed bootstrap, like kcat would be
echo '{"event_id":"ext-1","ts":"2026-11-03T00:00:00Z","team":"ext","workflow":"w","task_type":"t","provider":"openai","model":"gpt-4o-mini","usage":{"input_tokens":10,"output_tokens":5}}' |
	"$BIN" produce >/dev/null 2>&1
wait_until 30 sh -c "[ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtqc \"select count(*) from calls where event_id='ext-1'\")\" = 1 ]"
assert_eq "an external producer's event lands in the ledger" 0 $?
if command -v kcat >/dev/null; then
	echo '{"event_id":"kcat-1","ts":"2026-11-03T00:00:00Z","team":"ext","workflow":"w","task_type":"t","provider":"openai","model":"gpt-4o-mini","usage":{"input_tokens":10,"output_tokens":5}}' |
		kcat -P -b "$TALLY_KAFKA_BROKERS" -t llm.calls -k kcat-1 2>/dev/null
	wait_until 30 sh -c "[ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtqc \"select count(*) from calls where event_id='kcat-1'\")\" = 1 ]"
	assert_eq "kcat on the printed bootstrap works" 0 $?
fi
S=$("$BIN" status --format json)
assert_match "status finds the running service through endpoints.env" '"calls":[1-9]' "$S"
TOKEN=$(sed -n 's/^TALLY_DEMO_ADMIN_TOKEN=//p' "$T/up.out")
assert_match "the first demo start prints an admin token" '^tly_[0-9a-f]{64}$' "$TOKEN"
. "$TALLY_DATA_DIR/endpoints.env"
assert_eq "the demo token signs in as admin" '{"role":"admin","team":null}' \
	"$(curl -s -H "Authorization: Bearer $TOKEN" "${TALLY_HTTP_URL}api/v1/me")"
assert_eq "the demo maps teams to cost centres and sets budgets" "4|4" \
	"$(psql "$TALLY_DATABASE_URL" -XAtqc "select (select count(*) from teams where cost_center is not null), (select count(*) from budgets)")"

# the demo's history: >= 90 days, weekly rhythm, growth, a model launch, a
# price change, an incident, a routing policy, outcomes with value
hq() { psql "$TALLY_DATABASE_URL" -XAtqc "$1"; }
assert_match "history reaches 90+ days back" '^t$' "$(hq "select min(ts) < now() - interval '90 days' from calls")"
assert_eq "every one of the last 30 days has spend" 30 \
	"$(hq "select count(distinct day) from rollup_daily where day >= date_trunc('day', now()) - interval '30 days' and day < date_trunc('day', now()) and cost_pusd > 0")"
assert_match "weekends are quieter than weekdays" '^t$' \
	"$(hq "with d as (select day, sum(calls) n from rollup_daily where day < date_trunc('day', now()) group by 1) select avg(n) filter (where extract(isodow from day) >= 6) * 2 < avg(n) filter (where extract(isodow from day) < 6) from d")"
assert_match "spend grows" '^t$' \
	"$(hq "select sum(cost_pusd) filter (where day >= now() - interval '30 days') > 1.3 * sum(cost_pusd) filter (where day < now() - interval '70 days') from rollup_daily")"
assert_match "a model launch: claude-haiku-4-5 first used 40-60 days ago" '^t$' \
	"$(hq "select min(ts) between now() - interval '60 days' and now() - interval '40 days' from calls where model = 'claude-haiku-4-5'")"
assert_eq "a price change: the self-hosted model's calls carry two price versions" 2 \
	"$(hq "select count(distinct price_version) from calls where model = 'llama-3.1-8b-instruct' and not cache_hit")"
assert_match "an incident: one day's Anthropic error rate is far above the rest" '^t$' \
	"$(hq "with d as (select date_trunc('day', ts) d, avg((status <> 'ok')::int) e from calls where provider = 'anthropic' and ts < date_trunc('day', now()) group by 1) select max(e) > 3 * percentile_cont(0.5) within group (order by e) from d")"
assert_match "a routing policy: calls routed down a tier for 20+ days" '^t$' \
	"$(hq "select min(ts) < now() - interval '20 days' and count(*) > 1000 from calls where tags->>'router' = 'policy'")"
assert_match "outcomes with kind and value" '^[1-9][0-9]*\|[1-9]' \
	"$(hq "select count(distinct kind), sum(value_pusd) from outcomes where ts < now() - interval '30 days'")"
assert_match "the history was written quickly, with progress" "demo history: [0-9]+ calls, [0-9]+ outcomes" "$(cat "$T/up.log")"

# budgets scaled to that spend: on track, at risk (forecast over), over
BUD=$(curl -s -H "Authorization: Bearer $TOKEN" "${TALLY_HTTP_URL}api/v1/budgets")
STATES=$(printf '%s' "$BUD" | python3 -c 'import json,sys
from decimal import Decimal as D
out=[]
for b in json.load(sys.stdin)["budgets"]:
    amt,sp,fc=D(b["budget_usd"]),D(b["spend_usd"]),D(b["forecast_usd"])
    out.append("over" if sp>=amt else "risk" if fc>=amt else "ontrack" if fc*10<amt*8 else "watch")
    assert b["basis_days"]==7 and D(b["forecast_low_usd"])<=fc<=D(b["forecast_high_usd"]), b
print(" ".join(sorted(out)))')
assert_eq "demo budgets: one over, one at risk, two on track; forecasts with a band" "ontrack ontrack over risk" "$STATES"

# the CLI a newcomer types
assert_match "--version" '^tally [0-9]+\.[0-9]+\.[0-9]+$' "$("$BIN" --version)"
HELP_OK=0
for c in up migrate collect serve status dev-kafka report produce prices rollups router keys teams export audit budgets; do
	"$BIN" "$c" --help 2>/dev/null | grep -q "^usage: tally" || { HELP_OK=1; echo "# no --help for $c"; }
done
assert_eq "--help on every subcommand" 0 "$HELP_OK"
DAYS=$("$BIN" report spend --last 7d --group-by day --format csv)
assert_eq "--last 7d by day: 8 day rows (the partial first and last days)" 8 "$(printf '%s\n' "$DAYS" | tail -n +2 | wc -l)"
assert_eq "--group-by day is sorted by day" "$(printf '%s\n' "$DAYS" | tail -n +2 | cut -d, -f1 | sort | tr '\n' ' ')" \
	"$(printf '%s\n' "$DAYS" | tail -n +2 | cut -d, -f1 | tr '\n' ' ')"
assert_match "piped, the report stays CSV with exact decimals" '^support,[0-9]+,.*,[0-9]+\.[0-9]{12},' \
	"$("$BIN" report spend --last 30d --group-by team | grep '^support,')"
TABLE=$("$BIN" report spend --last 30d --group-by team --format table)
assert_match "a table: aligned headers" '^team +calls +input tokens +output tokens +cost +share$' "$(printf '%s\n' "$TABLE" | head -1)"
assert_match "a table: a totals row, money rounded, 100%" '^total +[0-9,]+ +[0-9,]+ +[0-9,]+ +\$[0-9,]+\.[0-9]{2} +100\.0%$' "$(printf '%s\n' "$TABLE" | tail -1)"
assert_match "the README example answers rows" '"rows":\[\{"team"' "$("$BIN" report spend --last 30d --group-by team --format json)"
assert_match "one word for spend without a cost centre" '^\(unassigned\),' "$("$BIN" report spend --last 30d --group-by cost_center | grep unassigned)"
"$BIN" report spend --last 7d --group-by day --team nosuchteam >/dev/null 2>"$T/err.txt"
assert_eq "an unknown team: exit 2" 2 $?
assert_match "an unknown team: says so" 'no team "nosuchteam"' "$(cat "$T/err.txt")"
"$BIN" budgets delete --team nosuchteam >/dev/null 2>&1
assert_eq "an unknown budget: exit 2" 2 $?

kill -TERM "$UP"
wait "$UP"
assert_eq "SIGTERM stops everything and exits 0" 0 $?
assert_eq "endpoints.env removed on exit" 1 "$(test -f "$TALLY_DATA_DIR/endpoints.env"; echo $?)"
assert_eq "embedded PostgreSQL stopped" 1 "$(test -f "$TALLY_DATA_DIR/pg/postmaster.pid"; echo $?)"

# second start (demo again): the same data, no new demo key, no second history
unset TALLY_DATABASE_URL TALLY_KAFKA_BROKERS
"$BIN" up --demo >"$T/up2.out" 2>"$T/up2.log" &
UP=$!
PIDS="$PIDS $UP"
wait_until 90 test -f "$TALLY_DATA_DIR/endpoints.env"
. "$TALLY_DATA_DIR/endpoints.env"
assert_eq "data kept across runs" 1 "$(psql "$TALLY_DATABASE_URL" -XAtqc "select count(*) from calls where event_id='ext-1'")"
assert_eq "no second demo token once keys exist" "" "$(sed -n 's/^TALLY_DEMO_ADMIN_TOKEN=//p' "$T/up2.out")"
# The restarted embedded Kafka is a new, empty cluster while the ledger keeps
# the first run's offsets: what is produced now must still be stored (issue 9).
export TALLY_DATABASE_URL TALLY_KAFKA_BROKERS
echo '{"event_id":"ext-2","ts":"2026-11-03T00:00:00Z","team":"ext","workflow":"w","task_type":"t","provider":"openai","model":"gpt-4o-mini","usage":{"input_tokens":10,"output_tokens":5}}' |
	"$BIN" produce >/dev/null 2>&1
wait_until 30 sh -c "[ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtqc \"select count(*) from calls where event_id='ext-2'\")\" = 1 ]"
assert_eq "after a restart, an event produced to the new embedded Kafka is stored" 0 $?
wait_until 30 sh -c "\"$BIN\" status --format json | grep -q '\"other_cluster_offsets\":[1-9]'"
assert_eq "status sets the first run's offsets aside" 0 $?
assert_eq "no second history" 0 "$(grep -c 'writing .* days of history' "$T/up2.log")"
kill -INT "$UP"
wait "$UP"
assert_eq "SIGINT stops cleanly too" 0 $?

# A demo admin key never used is replaced, and the new token printed, on the
# next start: a newcomer who missed the first token still gets in.
export TALLY_DATA_DIR="$T/unused"
export TALLY_DEMO_HISTORY_DAYS=0 # history is tested above
unset TALLY_DATABASE_URL TALLY_KAFKA_BROKERS
"$BIN" up --demo >"$T/u1.out" 2>"$T/u1.log" &
UP=$!
PIDS="$PIDS $UP"
wait_until 90 test -f "$TALLY_DATA_DIR/endpoints.env"
T1=$(sed -n 's/^TALLY_DEMO_ADMIN_TOKEN=//p' "$T/u1.out")
kill -TERM "$UP"
wait "$UP"
"$BIN" up --demo >"$T/u2.out" 2>"$T/u2.log" &
UP=$!
PIDS="$PIDS $UP"
wait_until 90 test -f "$TALLY_DATA_DIR/endpoints.env"
T2=$(sed -n 's/^TALLY_DEMO_ADMIN_TOKEN=//p' "$T/u2.out")
assert_match "an unused demo key: a token again on the next start" '^tly_[0-9a-f]{64}$' "$T2"
assert_eq "a new token, not the old one" 1 "$([ "$T1" != "$T2" ] && echo 1)"
. "$TALLY_DATA_DIR/endpoints.env"
assert_eq "the old token no longer signs in" 401 \
	"$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $T1" "${TALLY_HTTP_URL}api/v1/me")"
assert_eq "the new one does" '{"role":"admin","team":null}' \
	"$(curl -s -H "Authorization: Bearer $T2" "${TALLY_HTTP_URL}api/v1/me")"
kill -TERM "$UP"
wait "$UP"

# As root from a private (0700) directory, like a checkout in root's home:
# `make run` is `bin/tally up --demo` with the data dir ./var there, which the
# postgres user cannot enter; the cluster moves to a directory it can reach.
if [ "$(id -u)" = 0 ]; then
	mkdir -p "$T/home/checkout"
	chmod 700 "$T/home"
	unset TALLY_DATABASE_URL TALLY_KAFKA_BROKERS
	(cd "$T/home/checkout" && TALLY_DATA_DIR= exec "$BIN" up --demo >"$T/up3.out" 2>"$T/up3.log") &
	UP=$!
	PIDS="$PIDS $UP"
	wait_until 90 test -f "$T/home/checkout/var/endpoints.env"
	assert_eq "as root in a 0700 home, tally up starts" 0 $?
	LOC=$(cat "$T/home/checkout/var/pg.location" 2>/dev/null)
	assert_match "the cluster moved to a directory postgres can reach" "^/.+/tally-" "$LOC"
	assert_eq "that directory is postgres's, mode 0700" "postgres 700" "$(stat -c '%U %a' "$LOC" 2>/dev/null)"
	. "$T/home/checkout/var/endpoints.env"
	assert_eq "psql works on the printed URL there" 1 "$(psql "$TALLY_DATABASE_URL" -XAtqc 'select 1')"
	assert_match "it prints a demo token there too" '^TALLY_DEMO_ADMIN_TOKEN=tly_' "$(grep TALLY_DEMO_ADMIN_TOKEN "$T/up3.out")"
	kill -TERM "$UP"
	wait "$UP"
	assert_eq "and stops cleanly" 0 $?
	case "$LOC" in */tally-*) rm -rf "$LOC" ;; esac
fi
t_done
