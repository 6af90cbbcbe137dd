#!/bin/sh
# bench/router.sh - the router's offline target (issue 5): `tally router eval`
# on the shared MMLU+GSM8K set, 5 shuffles (--seed 1..5), tolerance 0.10.
# Target: router cost <= 1.10 x the static per-task oracle's cost and mean
# quality >= 0.90 x always-best's, on every seed. Exit 1 when missed.
cd "$(dirname "$0")/.." || exit 1
BIN=${BIN:-bin/tally}
DATA=${ROUTER_BENCH_DATA:-../shared/data/router-eval-mmlu-gsm8k.jsonl}
TOL=${ROUTER_BENCH_TOLERANCE:-0.10}
[ -f "$DATA" ] || DATA=/work/shared/data/router-eval-mmlu-gsm8k.jsonl
[ -f "$DATA" ] || { echo "router bench: no data set at $DATA"; exit 1; }

fail=0
printf 'router eval, tolerance %s, %s\n' "$TOL" "$(basename "$DATA")"
printf '%-5s %12s %8s %12s %8s %12s %8s %10s %10s\n' seed router_usd quality static_usd \
	quality best_usd quality cost/static qual/best
for seed in 1 2 3 4 5; do
	out=$("$BIN" router eval --data "$DATA" --tolerance "$TOL" --seed "$seed") || exit 1
	line=$(printf '%s\n' "$out" | awk '
		$1 == "router" { rc = $2; rq = $3 }
		$1 == "always_best" { bc = $2; bq = $3 }
		$1 == "static_oracle" { sc = $2; sq = $3 }
		END {
			cr = rc / sc; qr = rq / bq
			ok = (cr <= 1.10 && qr >= 0.90) ? "ok" : "MISS"
			printf "%12s %8.4f %12s %8.4f %12s %8.4f %10.4f %10.4f %s", rc, rq, sc, sq, bc, bq, cr, qr, ok
		}')
	printf '%-5s %s\n' "$seed" "$line"
	case "$line" in *MISS) fail=1 ;; esac
done
if [ "$fail" = 0 ]; then
	echo "router target met: cost <= 1.10 x static oracle, quality >= 0.90 x always-best (5/5 seeds)"
else
	echo "router target MISSED on at least one seed"
fi
[ "${BENCH_ROUTER_API:-1}" = 0 ] && exit $fail

# ---- the route API under wrk (target: >= 20,000 requests/s, p99 < 2 ms on 2 cores) ------------
# 100,000 calls over 50 task types and 2 tiers straight into PostgreSQL; `tally serve`
# learns them (settle 0) and answers GET /api/v1/route from memory.
command -v wrk >/dev/null 2>&1 || { echo "route API: skipped (wrk is not installed)"; exit $fail; }
. tests/lib.sh
pg_start >/dev/null || exit 1
"$BIN" migrate >/dev/null 2>&1 || { echo "route API: migrate failed"; exit 1; }
KEY=$("$BIN" keys create --role viewer --team bench --name gateway | tail -n 1)
q "SELECT tally_ensure_month(now());
   INSERT INTO calls (event_id, ts, team, workflow, task_type, provider, model, tier,
     input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,
     usage_shape, batch, cache_hit, local, status, latency_ms, quality, cost_pusd)
   SELECT 'b' || g, now() - interval '1 minute', 'bench', 'wf', 'task' || (g % 50), 'p',
     CASE WHEN g % 2 = 0 THEN 'm-small' ELSE 'm-large' END,
     CASE WHEN g % 2 = 0 THEN 'small' ELSE 'large' END, 100, 10, 0, 0, 0, 'tally', false,
     false, false, 'ok', 50 + g % 500, (g % 7 <> 0)::int,
     CASE WHEN g % 2 = 0 THEN 1000000 ELSE 20000000 END
   FROM generate_series(1, 100000) g" >/dev/null
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
TALLY_HTTP_ADDR="127.0.0.1:$PORT" TALLY_ROUTER_SETTLE_S=0 TALLY_LOG_LEVEL=warn \
	"$BIN" serve >"$T/serve.log" 2>&1 &
SERVE_PID=$!
PIDS="$PIDS $SERVE_PID"
URL="http://127.0.0.1:$PORT/api/v1/route?task_type=task7"
wait_until 30 sh -c "curl -s -H 'Authorization: Bearer $KEY' '$URL' | grep -q -e tier -e 'not running'"
if ! curl -s -H "Authorization: Bearer $KEY" "$URL" | grep -q '"tier"'; then
	echo "route API: skipped (this tally serve does not run the router)"
	exit $fail
fi
out=$(wrk -t1 -c4 -d"${BENCH_ROUTER_SECONDS:-10}"s --latency -H "Authorization: Bearer $KEY" "$URL")
rps=$(printf '%s\n' "$out" | awk '/^Requests\/sec/ { printf "%.0f", $2 }')
p99=$(printf '%s\n' "$out" | awk '$1 == "99%" { print $2 }')
printf 'route API: %s requests/s, p99 %s (wrk 1 thread, 4 connections, loopback)\n' "$rps" "$p99"
kill -TERM "$SERVE_PID"
wait "$SERVE_PID"
exit $fail
