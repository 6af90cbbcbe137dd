#!/bin/sh
# bench/router.sh - the router's offline targets (issues 5 and 11): `tally router
# eval` on both shared routing sets, shuffled with --seed 1..N (ROUTER_BENCH_SEEDS,
# default 7, at least 5), tolerance 0.10; per seed and as medians: the router's
# cost against the static per-task oracle (the cheapest tier per task type
# within tolerance of its best, in hindsight) and its quality against
# always-the-best-tier. Targets (medians):
#   routerbench-arc (11 models): cost <= 1.10 x static oracle, quality >= 0.95 x always-best
#   mmlu-gsm8k (2 tiers):        cost <= 1.10 x static oracle, quality >= 0.97 x always-best
#                                (no regression from about 1.0 x and 0.98 x)
# The line "static oracle's own quality / best" shows what a static choice
# can reach at all: on the ARC set the static oracle itself is at 0.947 x
# always-best, so no policy without per-item foresight meets 0.95 x there at
# the cost target (docs/router.md). Then the held-out RouterBench sets that
# bench/routerbench_sets.sh wrote into bench/data (ROUTER_BENCH_HELDOUT=0 skips
# them): the same figures, as information (their static oracles differ: on
# Winogrande it is the flagship itself), each median said against the cost
# target (<= 1.10 x static oracle) and the quality the tolerance promises
# (>= 1 - tolerance of always-best); they do not change the exit status.
# Exit 1 when a target of a shared set is missed.
cd "$(dirname "$0")/.." || exit 1
BIN=${BIN:-bin/tally}
TOL=${ROUTER_BENCH_TOLERANCE:-0.10}
SEEDS=${ROUTER_BENCH_SEEDS:-7}
[ "$SEEDS" -ge 5 ] 2>/dev/null || SEEDS=5
data_path() {
	for d in "../shared/data/$1" "/work/shared/data/$1" "bench/data/$1"; do
		[ -f "$d" ] && { echo "$d"; return; }
	done
}

fail=0
# bench_set FILE MAX_COST_RATIO MIN_QUALITY_RATIO [info]
bench_set() {
	DATA=$(data_path "$1")
	[ -n "$DATA" ] || { echo "router bench: no data set $1"; fail=1; return; }
	printf '\nrouter eval, tolerance %s, %s, %s shuffles\n' "$TOL" "$1" "$SEEDS"
	printf '%-5s %12s %8s %12s %8s %12s %8s %10s %10s\n' seed router_usd quality static_usd \
		quality best_usd quality cost/static qual/best
	: >"${TMPDIR:-/tmp}/router-bench.$$"
	seed=1
	while [ "$seed" -le "$SEEDS" ]; do
		out=$("$BIN" router eval --data "$DATA" --tolerance "$TOL" --seed "$seed") || exit 1
		line=$(printf '%s\n' "$out" | awk '
			$1 == "router" { rc = $2; rq = $3 }
			$1 == "always_best" { bc = $2; bq = $3 }
			$1 == "static_oracle" { sc = $2; sq = $3 }
			END {
				printf "%12s %8.4f %12s %8.4f %12s %8.4f %10.4f %10.4f %.4f", rc, rq, sc, sq, bc, bq, rc / sc, rq / bq, sq / bq
			}')
		printf '%s %s\n' "$seed" "$line" |
			awk '{ printf "%-5s %12s %8s %12s %8s %12s %8s %10s %10s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9 }'
		printf '%s\n' "$line" >>"${TMPDIR:-/tmp}/router-bench.$$"
		seed=$((seed + 1))
	done
	res=$(awk -v maxc="$2" -v minq="$3" -v info="${4:-}" '
		{ c[NR] = $7; q[NR] = $8; sq = $9 }
		function median(a, n,   i, j, t) {
			for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
				t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
			return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		}
		END {
			mc = median(c, NR); mq = median(q, NR)
			if (info != "") {
				printf "median: cost %.4f x static oracle (<= %s: %s), quality %.4f x always-best (>= %s: %s); static oracle'"'"'s own quality / best %.4f (figures, not a target)",
					mc, maxc, (mc <= maxc) ? "yes" : "no", mq, minq, (mq >= minq) ? "yes" : "no", sq
				exit
			}
			printf "median: cost %.4f x static oracle (target <= %s), quality %.4f x always-best (target >= %s); static oracle'"'"'s own quality / best %.4f: %s",
				mc, maxc, mq, minq, sq, (mc <= maxc && mq >= minq) ? "met" : "MISSED"
		}' "${TMPDIR:-/tmp}/router-bench.$$")
	rm -f "${TMPDIR:-/tmp}/router-bench.$$"
	echo "$res"
	case "$res" in *MISSED) fail=1 ;; esac
}
bench_set router-eval-routerbench-arc.jsonl 1.10 0.95
bench_set router-eval-mmlu-gsm8k.jsonl 1.10 0.97
# the held-out RouterBench sets (task types and models the defaults were never
# tuned on), when bench/routerbench_sets.sh has written them: figures, said
# against the cost target and the tolerance's promise, not targets; the -x8
# sets replay a set 8 times (a task type whose traffic lasts)
if [ "${ROUTER_BENCH_HELDOUT:-1}" != 0 ]; then
	minq=$(awk -v t="$TOL" 'BEGIN { printf "%.2f", 1 - t }')
	for f in routerbench-mbpp routerbench-winograde routerbench-mixed routerbench-mbpp-open \
		routerbench-winograde-open routerbench-gsm8k routerbench-hellaswag routerbench-mmlu \
		routerbench-winograde-x8 routerbench-arc-challenge-x8; do
		[ -f "bench/data/$f.jsonl" ] && bench_set "$f.jsonl" 1.10 "$minq" info
	done
fi
[ "${BENCH_ROUTER_API:-1}" = 0 ] && exit $fail

# ---- the route API under wrk (target: >= 20,000 requests/s, p99 < 2 ms on 2 cores) ------------
# 100,000 calls over 50 task types, 3 workflows and 2 tiers straight into PostgreSQL (small is
# worse for a fifth of the task types, and for one workflow of another fifth); `tally serve`
# learns them (settle 0) and answers GET /api/v1/route from memory. The requests cycle over the
# 50 task types, alone and with each workflow, as a gateway's would. Two runs of
# BENCH_ROUTER_SECONDS (default 10) each, after a 1 s warm-up:
#  - capacity: wrk -t1 -c4 as fast as it goes (closed loop: tally and wrk saturate the 2 cores);
#  - at the target rate: 36 connections (BENCH_ROUTER_CONNS), each sending its next request
#    1 ms after its answer (about 21,000 requests/s).
# Before serving, VACUUM ANALYZE and CHECKPOINT settle the freshly loaded table, so that
# autovacuum and the checkpointer do not run during the measurement.
command -v wrk >/dev/null 2>&1 || { echo "route API: skipped (wrk is not installed)"; exit $fail; }
. tests/lib.sh
pg_start >/dev/null || exit 1
"$BIN" migrate >/dev/null 2>&1 || { echo "route API: migrate failed"; exit 1; }
KEY=$("$BIN" keys create --role viewer --team bench --name gateway | tail -n 1)
q "SELECT tally_ensure_month(now());
   INSERT INTO calls (event_id, ts, team, workflow, task_type, provider, model, tier,
     input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,
     usage_shape, batch, cache_hit, local, status, latency_ms, quality, cost_pusd)
   SELECT 'b' || g, now() - interval '1 minute', 'bench', 'wf' || ((g / 100) % 3),
     'task' || ((g / 2) % 50), 'p',
     CASE WHEN g % 2 = 0 THEN 'm-small' ELSE 'm-large' END,
     CASE WHEN g % 2 = 0 THEN 'small' ELSE 'large' END, 100, 10, 0, 0, 0, 'tally', false,
     false, false, 'ok', 50 + g % 500,
     CASE WHEN g % 2 = 1 THEN (g % 7 <> 0)::int
       WHEN (g / 2) % 5 = 0 THEN (g % 3 <> 0)::int
       WHEN (g / 2) % 5 = 1 AND (g / 100) % 3 = 2 THEN (g % 3 <> 0)::int
       ELSE (g % 7 <> 0)::int END,
     CASE WHEN g % 2 = 0 THEN 1000000 ELSE 20000000 END
   FROM generate_series(1, 100000) g" >/dev/null
q "VACUUM ANALYZE" >/dev/null
q "CHECKPOINT" >/dev/null
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
TALLY_HTTP_ADDR="127.0.0.1:$PORT" TALLY_ROUTER_SETTLE_S=0 TALLY_LOG_LEVEL=warn \
	"$BIN" serve >"$T/serve.log" 2>&1 &
SERVE_PID=$!
PIDS="$PIDS $SERVE_PID"
U="http://127.0.0.1:$PORT"
URL="$U/api/v1/route?task_type=task7&workflow=wf1"
wait_until 60 sh -c "curl -s -H 'Authorization: Bearer $KEY' '$URL' | grep -q -e '\"policy_version\":[1-9]' -e 'not running'"
if ! curl -s -H "Authorization: Bearer $KEY" "$URL" | grep -q '"policy_version":[1-9]'; then
	echo "route API: skipped (this tally serve does not run the router, or learned nothing)"
	exit $fail
fi
cat >"$T/route.lua" <<'LUA'
-- the 50 task types, alone and with each of their 3 workflows, in turn
local paths = {}
for t = 0, 49 do
	paths[#paths + 1] = "/api/v1/route?task_type=task" .. t
	for w = 0, 2 do
		paths[#paths + 1] = "/api/v1/route?task_type=task" .. t .. "&workflow=wf" .. w
	end
end
local i = 0
request = function()
	i = i % #paths + 1
	return wrk.format("GET", paths[i])
end
local pace = tonumber(os.getenv("ROUTE_PACE_MS") or "0")
if pace > 0 then
	delay = function() return pace end
end
LUA
route_wrk() { # CONNECTIONS SECONDS
	wrk -t1 -c"$1" -d"$2"s --latency -s "$T/route.lua" -H "Authorization: Bearer $KEY" "$U/"
}
# CPU time (user + system, clock ticks) of the whole tally serve process
serve_ticks() { awk '{ print $14 + $15 }' "/proc/$SERVE_PID/stat" 2>/dev/null || echo 0; }
route_line() { # LABEL WRK_OUTPUT CPU_TICKS
	printf '%s\n' "$2" | awk -v label="$1" -v ticks="$3" -v hz="$(getconf CLK_TCK)" '
		/ requests in / { n = $1 }
		/^Requests\/sec/ { rps = $2 }
		$1 == "50%" { p50 = $2 }
		$1 == "99%" { p99 = $2 }
		/Non-2xx/ { bad = $NF }
		END { printf "route API, %s: %.0f requests/s, p50 %s, p99 %s, tally CPU %.1f us/request%s\n",
			label, rps, p50, p99, n ? ticks * 1e6 / hz / n : 0,
			bad ? ", " bad " answers not 2xx" : "" }'
}
SECS=${BENCH_ROUTER_SECONDS:-10}
route_wrk 4 1 >/dev/null
c0=$(serve_ticks)
out=$(route_wrk 4 "$SECS")
c1=$(serve_ticks)
route_line "capacity (wrk 1 thread, 4 connections, closed loop)" "$out" $((c1 - c0))
out=$(ROUTE_PACE_MS=1 route_wrk "${BENCH_ROUTER_CONNS:-36}" "$SECS")
c2=$(serve_ticks)
route_line "target rate (wrk 1 thread, ${BENCH_ROUTER_CONNS:-36} connections, 1 ms between answer and request)" "$out" $((c2 - c1))
printf '%s\n' "$out" | awk '
	/^Requests\/sec/ { rps = $2 }
	$1 == "99%" { v = $2; ms = v ~ /us$/ ? v / 1000 : v ~ /ms$/ ? v + 0 : v * 1000 }
	END { printf "route API target (>= 20000 requests/s with p99 < 2 ms): %s\n",
		(rps >= 20000 && ms < 2) ? "met" : "MISSED" }'
kill -TERM "$SERVE_PID"
wait "$SERVE_PID"
exit $fail
