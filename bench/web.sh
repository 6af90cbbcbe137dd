#!/bin/sh
# bench/web.sh - the dashboard's overview queries under concurrent load.
# BENCH_WEB_CALLS (default 10,000,000) calls over the last 30 days are
# generated straight into PostgreSQL (INSERT ... SELECT generate_series: 8
# teams, 40 workflows, 6 task types, 10 models in 3 tiers, skewed like real
# traffic), then their rollups (hourly, daily, tags) are summed by `tally
# rollups merge`, as the collector sums what it stores when it catches up. `tally
# serve` then answers the overview's queries (spend by team per day over 30
# days, by model, by tier, by workflow, status) to wrk, rotating through them;
# in the same run the same aggregate is computed from the raw calls table
# (psql, and the API with a range that is not hour-aligned). Prints figures
# and ratios; asserts nothing. Target: p99 <= 50 ms on 2 cores.
#
# env: BENCH_WEB_CALLS, BENCH_WEB_SECONDS (wrk duration, default 20),
#      BENCH_WEB_CONNS (default 8), BENCH_WEB_THREADS (default 2),
#      BENCH_WEB_CACHE_MS (the server's answer cache in the first run; default
#      the server's own).
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
N=${BENCH_WEB_CALLS:-10000000}
SECS=${BENCH_WEB_SECONDS:-20}
CONNS=${BENCH_WEB_CONNS:-8}
THREADS=${BENCH_WEB_THREADS:-2}
CHUNK=1000000
export PG_FSYNC=off PG_EXTRA="-c shared_buffers=1GB -c max_wal_size=8GB -c checkpoint_timeout=30min -c synchronous_commit=off -c work_mem=64MB"

now_ms() { date +%s%3N; }

if ! command -v wrk >/dev/null 2>&1; then
	echo "installing wrk..."
	if [ "$(id -u)" = 0 ]; then
		apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y wrk >/dev/null 2>&1; }
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
		sudo apt-get install -y wrk >/dev/null 2>&1 || { sudo apt-get update >/dev/null 2>&1 && sudo apt-get install -y wrk >/dev/null 2>&1; }
	fi
	command -v wrk >/dev/null 2>&1 || { echo "bench/web.sh: install wrk (apt-get install wrk)"; exit 1; }
fi

pg_start || exit 1
"$BIN" migrate >"$T/migrate.log" 2>&1 || { cat "$T/migrate.log"; exit 1; }

# The dashboard's "last 30 days": [tomorrow - 30 days, tomorrow) in UTC days.
TOMORROW=$(date -u -d tomorrow +%Y-%m-%d)
FROM=$(date -u -d "$TOMORROW - 30 days" +%Y-%m-%d)
NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)

# ---- data -----------------------------------------------------------------------
q "SELECT tally_ensure_month(m) FROM generate_series(timestamptz '$FROM',
	timestamptz '$NOW', interval '1 month') m; SELECT tally_ensure_month('$NOW')" >/dev/null
echo "generating $N calls over $FROM .. $NOW into PostgreSQL..."
t0=$(now_ms)
lo=1
while [ "$lo" -le "$N" ]; do
	hi=$((lo + CHUNK - 1))
	[ "$hi" -gt "$N" ] && hi=$N
	# One row per g: r1 picks the workflow (skewed: a few workflows spend most),
	# which fixes the team; r2 a task type and the model (80% the workflow's
	# usual one); r3/r4 the token counts; r5 the time; r6 unpriced, errors,
	# caching.
	q "INSERT INTO calls (event_id, ts, team, workflow, task_type, provider, model, tier,
		input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,
		usage_shape, batch, cache_hit, local, status, latency_ms, cost_pusd, price_version)
	SELECT 'bench-' || g, ts, team, team || '-' || wf, task, m.provider, m.model, m.tier,
		inp, outp, cread, 0, reas, m.shape, false, r6 < 0.01, false,
		CASE WHEN r6 > 0.98 THEN 'error' ELSE 'ok' END, 200 + (r4 * 4000)::int,
		CASE WHEN r6 < 0.003 THEN NULL
		     ELSE (inp - cread) * m.in_pusd + cread * m.in_pusd / 2 + (outp + reas) * m.out_pusd END,
		CASE WHEN r6 < 0.003 THEN NULL ELSE 1 END
	FROM (SELECT g, timestamptz '$FROM' + r5 * (timestamptz '$NOW' - timestamptz '$FROM') AS ts,
		(ARRAY['support','sales','legal','platform','marketing','research','finance','growth'])[wi / 5 + 1] AS team,
		(ARRAY['triage','summarise','draft-reply','search','review'])[wi % 5 + 1] AS wf,
		(ARRAY['classify','extract','summarise','generate','rerank','chat'])[(wi * 7 + (r2 < 0.3)::int) % 6 + 1] AS task,
		(wi * 3 + (r2 > 0.8)::int) % 10 + 1 AS mi,
		200 + floor(r3 * r3 * 8000)::bigint AS inp,
		20 + floor(r4 * 800)::bigint AS outp,
		CASE WHEN r6 BETWEEN 0.3 AND 0.6 THEN floor(r3 * r3 * 4000)::bigint ELSE 0 END AS cread,
		r6, r4,
		0::bigint AS reas
	      FROM (SELECT g, floor(40 * power(random(), 1.7))::int AS wi, random() AS r2,
			random() AS r3, random() AS r4, random() AS r5, random() AS r6
		    FROM generate_series($lo, $hi) g) r) s
	JOIN (VALUES
		(1, 'openai', 'gpt-4o-mini', 'small', 'openai', 150000, 600000),
		(2, 'openai', 'gpt-4o', 'large', 'openai', 2500000, 10000000),
		(3, 'openai', 'gpt-4.1-nano', 'small', 'openai', 100000, 400000),
		(4, 'openai', 'gpt-4.1', 'large', 'openai', 2000000, 8000000),
		(5, 'anthropic', 'claude-3-5-haiku-20241022', 'medium', 'anthropic', 800000, 4000000),
		(6, 'anthropic', 'claude-sonnet-4-20250514', 'large', 'anthropic', 3000000, 15000000),
		(7, 'gemini', 'gemini-2.0-flash', 'small', 'openai', 100000, 400000),
		(8, 'gemini', 'gemini-2.5-pro', 'large', 'openai', 1250000, 10000000),
		(9, 'mistral', 'mistral-small-latest', 'small', 'openai', 100000, 300000),
		(10, 'openai', 'o4-mini', 'medium', 'openai', 1100000, 4400000))
		AS m(i, provider, model, tier, shape, in_pusd, out_pusd) ON m.i = s.mi" >/dev/null ||
		{ echo "generating calls failed"; exit 1; }
	echo "  $hi calls ($(($(now_ms) - t0)) ms)"
	lo=$((hi + 1))
done
GEN_MS=$(($(now_ms) - t0))

t0=$(now_ms)
"$BIN" rollups merge >"$T/rollups.log" 2>&1 ||
	{ cat "$T/rollups.log"; echo "rollups failed"; exit 1; }
ROLLUP_MS=$(($(now_ms) - t0))
t0=$(now_ms)
q "VACUUM ANALYZE calls" >/dev/null
# the rollups are views over their rows and the queued calls (migrations/0021)
for t in rollup_hourly rollup_quarter rollup_daily rollup_tags_hourly; do
	q "VACUUM ANALYZE ${t}_merged" >/dev/null
done
# Write the bulk load out now, not while the queries are timed.
q "CHECKPOINT" >/dev/null
VACUUM_MS=$(($(now_ms) - t0))
ROLLUP_ROWS=$(q "SELECT count(*) FROM rollup_hourly")
DAILY_ROWS=$(q "SELECT count(*) FROM rollup_daily")
CALLS_SIZE=$(q "SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'calls'::regclass")
ROLLUP_SIZE=$(q "SELECT pg_size_pretty(pg_total_relation_size('rollup_hourly_merged'))")
echo "generated $N calls in $GEN_MS ms, rollups ($ROLLUP_ROWS hourly, $DAILY_ROWS daily, charges) in $ROLLUP_MS ms, vacuum analyze + checkpoint $VACUUM_MS ms"

# ---- the server ------------------------------------------------------------------
ADMIN=$("$BIN" keys create --role admin --name bench 2>/dev/null | tail -n 1)
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export TALLY_HTTP_ADDR="127.0.0.1:$PORT" TALLY_LOG_LEVEL=warn
U="http://127.0.0.1:$PORT"
# serve_start [CACHE_MS] - `tally serve`, with its answer cache or without (0)
serve_start() {
	if [ -n "${1:-}" ]; then
		TALLY_WEB_CACHE_MS=$1 "$BIN" serve >>"$T/serve.log" 2>&1 &
	else
		"$BIN" serve >>"$T/serve.log" 2>&1 &
	fi
	SERVE_PID=$!
	PIDS="$PIDS $SERVE_PID"
	wait_until 20 curl -sf "$U/healthz" || { echo "tally serve did not answer"; cat "$T/serve.log"; exit 1; }
}
serve_stop() {
	kill -TERM "$SERVE_PID"
	wait "$SERVE_PID"
	SERVE_RC=$?
}
serve_start "${BENCH_WEB_CACHE_MS:-}"

R="from=$FROM&to=$TOMORROW"
OVERVIEW="/api/v1/spend?$R&group_by=team&bucket=day
/api/v1/spend?$R&group_by=model
/api/v1/spend?$R&group_by=tier
/api/v1/spend?$R&group_by=workflow
/api/v1/status"
for p in $OVERVIEW; do
	c=$(curl -s -o "$T/answer" -w '%{http_code}' -H "Authorization: Bearer $ADMIN" "$U$p")
	[ "$c" = 200 ] || { echo "GET $p answered $c: $(head -c 300 "$T/answer")"; exit 1; }
done
TOTAL_API=$(curl -s -H "Authorization: Bearer $ADMIN" "$U/api/v1/spend?$R&group_by=team" |
	sed -n 's/.*"total":{"calls":\([0-9]*\),.*/\1/p')
[ "$TOTAL_API" = "$N" ] || echo "warning: the API counts $TOTAL_API calls in the range, not $N"

# lua_script PATH... - a wrk script rotating through the paths (each thread
# from its own offset) with the key; done() prints the figures on one line.
lua_script() {
	echo 'local paths = {'
	for p in "$@"; do echo "  \"$p\","; done
	echo '}'
	cat <<EOF
local auth = "Bearer $ADMIN"
local n = 0
local id = 0
function setup(thread) thread:set("id", id); id = id + 1 end
function request()
  n = n + 1
  return wrk.format("GET", paths[(n + id) % #paths + 1], { ["Authorization"] = auth })
end
function done(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %d %d\n", summary.requests,
    latency:percentile(50), latency:percentile(99), latency.max,
    summary.errors.status + summary.errors.timeout + summary.errors.read +
    summary.errors.connect + summary.errors.write))
end
EOF
}
# shellcheck disable=SC2086 # the paths hold no spaces
lua_script $OVERVIEW >"$T/overview.lua"

# run_wrk SCRIPT - sets P50, P99 (ms), RPS, ERRS
run_wrk() {
	wrk -t"$THREADS" -c"$CONNS" -d"${2:-$SECS}s" --timeout 30s --latency -s "$1" "$U" >"$T/wrk.out" 2>&1
	set -- $(sed -n 's/^RESULT //p' "$T/wrk.out")
	REQS=${1:-0}
	P50=$(awk -v v="${2:-0}" 'BEGIN { printf "%.1f", v / 1000 }')
	P99=$(awk -v v="${3:-0}" 'BEGIN { printf "%.1f", v / 1000 }')
	MAX=$(awk -v v="${4:-0}" 'BEGIN { printf "%.1f", v / 1000 }')
	ERRS=${5:-0}
	RPS=$(sed -n 's/^Requests\/sec:[[:space:]]*\([0-9.]*\).*/\1/p' "$T/wrk.out")
}

echo "warming up..."
run_wrk "$T/overview.lua" 3
echo "wrk -t$THREADS -c$CONNS -d${SECS}s: the overview's 5 queries in rotation..."
run_wrk "$T/overview.lua"
cp "$T/wrk.out" "$T/wrk-overview.out"
MIX_P50=$P50 MIX_P99=$P99 MIX_MAX=$MAX MIX_RPS=$RPS MIX_ERRS=$ERRS MIX_REQS=$REQS
MIX_DIST=$(sed -n '/Latency Distribution/,/requests in/p' "$T/wrk.out" | sed '$d')
serve_stop
[ "$SERVE_RC" = 0 ] || echo "tally serve exited $SERVE_RC on SIGTERM"

# The same without the answer cache: every request runs its query.
serve_start 0
echo "the same without the answer cache (TALLY_WEB_CACHE_MS=0)..."
run_wrk "$T/overview.lua"
NC_P50=$P50 NC_P99=$P99 NC_MAX=$MAX NC_RPS=$RPS NC_ERRS=$ERRS NC_REQS=$REQS
EACH=$((SECS / 4 > 3 ? SECS / 4 : 3))
PER=""
for p in $OVERVIEW; do
	lua_script "$p" >"$T/one.lua"
	run_wrk "$T/one.lua" "$EACH"
	PER="$PER$(printf "    %-50s p50 %7s ms  p99 %7s ms  %7s req/s" "${p#/api/v1/}" "$P50" "$P99" "$RPS")
"
done

# ---- the same aggregate from the raw calls table ------------------------------------
# psql_ms SQL - the best of 3 runs, in ms (psql \timing)
psql_ms() {
	for i in 1 2 3; do
		printf '\\timing on\n%s\n' "$1" | psql "$TALLY_DATABASE_URL" -XAq -o /dev/null 2>&1 |
			sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p'
	done | sort -n | head -n 1
}
BY_DAY="SELECT to_char(date_trunc('day', x.t), 'YYYY-MM-DD') AS b, x.team, sum(x.calls),
	sum(x.input_tokens), sum(x.output_tokens), sum(x.cache_read_tokens),
	sum(x.cache_write_tokens), sum(x.reasoning_tokens), coalesce(sum(x.cost_pusd), 0),
	sum(x.unpriced_calls)"
SQL_DAILY="$BY_DAY FROM (SELECT day AS t, team, calls, input_tokens, output_tokens,
	cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_pusd, unpriced_calls
	FROM rollup_daily WHERE day >= '$FROM' AND day < '$TOMORROW') x
	GROUP BY GROUPING SETS ((1, 2), ())"
SQL_ROLLUP="$BY_DAY FROM (SELECT hour AS t, team, calls, input_tokens, output_tokens,
	cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_pusd, unpriced_calls
	FROM rollup_hourly WHERE hour >= '$FROM' AND hour < '$TOMORROW') x
	GROUP BY GROUPING SETS ((1, 2), ())"
SQL_CALLS="$BY_DAY FROM (SELECT ts AS t, team, 1 AS calls, input_tokens, output_tokens,
	cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_pusd,
	(cost_pusd IS NULL)::int AS unpriced_calls
	FROM calls WHERE ts >= '$FROM' AND ts < '$TOMORROW') x
	GROUP BY GROUPING SETS ((1, 2), ())"
echo "timing the same aggregate on rollup_daily, rollup_hourly and calls (psql, best of 3)..."
PSQL_DAILY=$(psql_ms "$SQL_DAILY")
PSQL_ROLLUP=$(psql_ms "$SQL_ROLLUP")
PSQL_CALLS=$(psql_ms "$SQL_CALLS")

# Ranges whose edges are not whole hours: the API reads the rollups for the
# whole hours and quarter hours, and the calls only for the partial quarter
# hours at the edges.
# api_ms PATH - the best of 5 requests, in ms
api_ms() {
	for i in 1 2 3 4 5; do
		curl -s -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $ADMIN" "$U$1"
	done | sort -n | head -n 1 | awk '{ printf "%.1f", $1 * 1000 }'
}
echo "timing the API on ranges that are not hour-aligned (best of 5)..."
NOW_H=$(date -u +%Y-%m-%dT%H:00:00Z)
NOW_S=$(date -u +%Y-%m-%dT%H:%M:%SZ)
DAY_AGO_S=$(date -u -d "$NOW_S - 1 day" +%Y-%m-%dT%H:%M:%SZ)
DAY_AGO_H=$(date -u -d "$NOW_H - 1 day" +%Y-%m-%dT%H:00:00Z)
API_ROLLUP=$(api_ms "/api/v1/spend?$R&group_by=team&bucket=day")
API_EDGES=$(api_ms "/api/v1/spend?from=${FROM}T00:00:01Z&to=${TOMORROW}T00:00:00Z&group_by=team&bucket=day")
API_24H=$(api_ms "/api/v1/spend?from=$DAY_AGO_S&to=$NOW_S&group_by=team&bucket=hour")
API_24H_ALIGNED=$(api_ms "/api/v1/spend?from=$DAY_AGO_H&to=$NOW_H&group_by=team&bucket=hour")
API_30_NOW=$(api_ms "/api/v1/spend?from=${FROM}T10:30:00Z&to=$NOW_S&group_by=model")
API_30_ALIGNED=$(api_ms "/api/v1/spend?from=${FROM}T11:00:00Z&to=$NOW_H&group_by=model")
# the worst case: each edge 7.5 minutes from a quarter hour, the partial
# quarters about as much inside the range as outside
API_MID=$(api_ms "/api/v1/spend?from=${FROM}T10:07:30Z&to=${TOMORROW}T00:00:00Z&group_by=team")
API_MID_ALIGNED=$(api_ms "/api/v1/spend?from=${FROM}T11:00:00Z&to=${TOMORROW}T00:00:00Z&group_by=team")
# ... and exact: the API's total over such ranges against the calls' own sums
# (calls and dollars), read straight from the calls table.
EDGE_FROM=$(date -u -d "$NOW_H - 2 days" +%Y-%m-%dT%H):07:30Z
EXACT=""
for r in "$DAY_AGO_S,$NOW_S" "$EDGE_FROM,$NOW_S"; do
	a=$(curl -s -H "Authorization: Bearer $ADMIN" "$U/api/v1/spend?from=${r%,*}&to=${r#*,}&group_by=team" |
		sed -n 's/.*"total":{"calls":\([0-9]*\),.*"cost_usd":"\([0-9.]*\)".*/\1 \2/p')
	c=$(q "SELECT count(*) || ' ' || (coalesce(sum(cost_pusd), 0) / 1000000000000)::numeric(40,12)
		FROM calls WHERE ts >= '${r%,*}' AND ts < '${r#*,}'")
	if [ "$a" = "$c" ]; then
		EXACT="$EXACT    [${r%,*}, ${r#*,}): $a, as the calls
"
	else
		EXACT="$EXACT    [${r%,*}, ${r#*,}): API $a, the calls $c: NOT EXACT
"
	fi
done

serve_stop

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf (a / b < 10 ? "%.1fx" : "%.0fx"), a / b; else print "-" }'; }
# beside A B - A's time over B's: "+3.1 ms (1.4x)"
beside() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.1f ms (%.1fx)", a - b, (b > 0 ? a / b : 0) }'; }
echo
echo "tally web, $N calls over 30 days ($CALLS_SIZE), $ROLLUP_ROWS hourly rollups ($ROLLUP_SIZE), $DAILY_ROWS daily, $(nproc) cores:"
printf "  %-52s %s\n" "generation: INSERT ... SELECT generate_series" "$GEN_MS ms"
printf "  %-52s %s\n" "rollups: tally rollups merge (all four)" "$ROLLUP_MS ms"
echo "  overview under load (wrk -t$THREADS -c$CONNS -d${SECS}s, 5 queries in rotation, rollups):"
printf "  %-52s p50 %7s ms  p99 %7s ms  max %s ms\n" "  answer cache on (default)" "$MIX_P50" "$MIX_P99" "$MIX_MAX"
printf "  %-52s %s req/s, %s requests, %s errors\n" "    throughput" "$MIX_RPS" "$MIX_REQS" "$MIX_ERRS"
echo "$MIX_DIST" | sed 's/^/    /'
printf "  %-52s %s\n" "    target p99 <= 50 ms" "$(awk -v p="$MIX_P99" 'BEGIN { print (p <= 50 ? "met" : "NOT met") }')"
printf "  %-52s p50 %7s ms  p99 %7s ms  max %s ms\n" "  answer cache off (every request queries)" "$NC_P50" "$NC_P99" "$NC_MAX"
printf "  %-52s %s req/s, %s requests, %s errors\n" "    throughput" "$NC_RPS" "$NC_REQS" "$NC_ERRS"
printf "  %-52s %s\n" "    target p99 <= 50 ms, every request querying" "$(awk -v p="$NC_P99" 'BEGIN { print (p <= 50 ? "met" : "NOT met") }')"
echo "  each query alone, cache off (same load, $EACH s each):"
printf '%s' "$PER"
echo "  spend by team per day over 30 days, one request at a time:"
printf "  %-52s %10s ms\n" "  psql on rollup_daily" "$PSQL_DAILY"
printf "  %-52s %10s ms\n" "  psql on rollup_hourly" "$PSQL_ROLLUP"
printf "  %-52s %10s ms\n" "  psql on raw calls" "$PSQL_CALLS"
printf "  %-52s %10s ms\n" "  API, whole days (daily rollups)" "$API_ROLLUP"
printf "  %-52s %10s ms\n" "  API, from 00:00:01 (rollups + a partial hour)" "$API_EDGES"
printf "  %-52s %10s\n" "  raw calls / daily rollups (psql)" "$(ratio "$PSQL_CALLS" "$PSQL_DAILY")"
printf "  %-52s %10s\n" "  raw calls / hourly rollups (psql)" "$(ratio "$PSQL_CALLS" "$PSQL_ROLLUP")"
printf "  %-52s %10s\n" "  API partial-hour edge / whole days" "$(ratio "$API_EDGES" "$API_ROLLUP")"
echo "  ranges not on whole hours, one request at a time (best of 5):"
printf "  %-52s %10s ms\n" "  last 24 h to now, by hour" "$API_24H"
printf "  %-52s %10s ms\n" "  the same on whole hours" "$API_24H_ALIGNED"
printf "  %-52s %10s ms\n" "  30 days from 10:30 to now, by model" "$API_30_NOW"
printf "  %-52s %10s ms\n" "  the same from 11:00 to this hour" "$API_30_ALIGNED"
printf "  %-52s %10s ms\n" "  a month from 10:07:30, by team" "$API_MID"
printf "  %-52s %10s ms\n" "  the same from 11:00" "$API_MID_ALIGNED"
printf "  %-52s %s\n" "  last 24 h to now beside its whole-hour neighbour" "$(beside "$API_24H" "$API_24H_ALIGNED")"
printf "  %-52s %s\n" "  30 days from 10:30 to now beside its whole-hour neighbour" "$(beside "$API_30_NOW" "$API_30_ALIGNED")"
printf "  %-52s %s\n" "  a month from 10:07:30 beside its whole-hour neighbour" "$(beside "$API_MID" "$API_MID_ALIGNED")"
echo "  the totals of two such ranges (calls, dollars) against the calls:"
printf '%s' "$EXACT"
[ "$SERVE_RC" = 0 ] || echo "  (tally serve exited $SERVE_RC on SIGTERM)"
t_done
