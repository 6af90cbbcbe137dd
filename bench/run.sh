#!/bin/sh
# bench/run.sh - end-to-end ingestion of traffic as diverse as a real
# company's (bench/gen_traffic.sh: 36 teams, ~140 workflows, 12 task types,
# 14 models of 7 providers, four usage shapes, outcomes, tags), in two
# workloads:
#   live      BENCH_EVENTS calls stamped within the last 10 minutes
#   backfill  BENCH_EVENTS calls spread over a month, in no time order
# each produced keyed into 64 partitions of the embedded Kafka cluster (with
# their outcome and feedback events) and consumed by one `tally collect` into
# its own database of one real PostgreSQL. In the same run, for each
# workload: the ceiling (a plain COPY of the same rows into an identical
# table, the faster of two) and the naive baseline (one INSERT per event); where the time goes
# (pg_stat_statements per statement, the collector's own parse/write split);
# the collector's peak RSS. Prints figures and ratios; asserts nothing.
#
# The ledger is not new: before the clock starts it holds BENCH_HISTORY_MONTHS
# months of older calls (BENCH_HISTORY_CALLS a month, with their rollups), as
# a ledger in use does; what a batch costs must not grow with them.
#
# env: BENCH_EVENTS (calls per workload, default 400,000), BENCH_NAIVE_EVENTS
#      (default 20,000), BENCH_WORKLOADS (default "live backfill"),
#      BENCH_HISTORY_MONTHS (default 12), BENCH_HISTORY_CALLS (default 50,000),
#      BENCH_CONCURRENT (1: produce while the collector runs, on the same cores;
#      default 0: produced before it starts)
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
N=${BENCH_EVENTS:-400000}
NAIVE=${BENCH_NAIVE_EVENTS:-20000}
WORKLOADS=${BENCH_WORKLOADS:-live backfill}
HISTORY_MONTHS=${BENCH_HISTORY_MONTHS:-12}
HISTORY_CALLS=${BENCH_HISTORY_CALLS:-50000}
CONCURRENT=${BENCH_CONCURRENT:-0}
export PG_FSYNC=on PG_EXTRA="-c shared_buffers=512MB -c max_wal_size=4GB -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all"

now_ms() { date +%s%3N; }
rate() { awk -v n="$1" -v ms="$2" 'BEGIN { printf "%.0f", n * 1000 / (ms > 0 ? ms : 1) }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f%%", 100 * a / (b > 0 ? b : 1) }'; }

pg_start || exit 1
BASE_URL=$TALLY_DATABASE_URL
SUMMARY=""

# run_workload NAME - sets INGEST STEADY COPY NAIVE_RATE PEAK and prints the profile
run_workload() {
	name=$1
	"$PGBIN/createdb" -h "$T/sock" -U tally "bench_$name" || exit 1
	export TALLY_DATABASE_URL="postgresql:///bench_$name?host=$T/sock&user=tally"
	q "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
	"$BIN" migrate >/dev/null && "$BIN" prices import data/litellm_model_prices.json >/dev/null &&
		"$BIN" prices import --format csv data/local_prices.csv >/dev/null || exit 1
	[ -n "${KAFKA_PID:-}" ] && { kill "$KAFKA_PID"; wait "$KAFKA_PID" 2>/dev/null; }
	kafka_start 64 || exit 1

	echo "[$name] generating $N calls with their outcomes and feedback..."
	sh bench/gen_traffic.sh "$name" "$N" >"$T/$name.jsonl"
	SIZE=$(grep -c '"provider"' "$T/$name.jsonl")
	BYTES=$(grep '"provider"' "$T/$name.jsonl" | wc -c)
	# The ledger's month partitions exist before the clock starts, as they do
	# on a ledger in use.
	q "SELECT tally_ensure_month(now() - make_interval(days => d)) FROM generate_series(0, 31) d" >/dev/null
	# History: months 2 .. HISTORY_MONTHS + 1 before this one, older than
	# both workloads' calls, with their rollups.
	if [ "$HISTORY_MONTHS" -gt 0 ]; then
		q "SELECT tally_ensure_month(date_trunc('month', now()) - make_interval(months => m))
			FROM generate_series(2, $HISTORY_MONTHS + 1) m" >/dev/null
		# gpt-4o-mini's list rates ($0.15 / $0.60 per million tokens), the
		# components summing to the cost as the collector stores them
		q "INSERT INTO calls (event_id, ts, team, workflow, task_type, provider, model, tier,
			input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,
			usage_shape, batch, cache_hit, local, status, cost_pusd, tags, components)
			SELECT 'hist-' || m || '-' || g, date_trunc('month', now()) - make_interval(months => m)
				+ make_interval(secs => (g::bigint * 2591 % 2419200)),
				'team-' || (g % 36), 'wf-' || (g % 140), 'task-' || (g % 12), 'openai',
				'gpt-4o-mini', 'small', i, o, 0, 0, 0, 'openai', false, false, false, 'ok',
				i * 150000 + o * 600000,
				jsonb_build_object('env', CASE WHEN g % 10 = 0 THEN 'staging' ELSE 'prod' END),
				format('input:%s:%s:%s output:%s:%s:%s', i, i * 150000, i * 150000,
					o, o * 600000, o * 600000)
			FROM generate_series(2, $HISTORY_MONTHS + 1) m, generate_series(1, $HISTORY_CALLS) g,
				LATERAL (SELECT 1000 + g % 5000 AS i, 100 + g % 900 AS o) t" >/dev/null || exit 1
		"$BIN" rollups merge >/dev/null || exit 1
		q "ANALYZE" >/dev/null
	fi

	# The events are in Kafka before the collector starts (BENCH_CONCURRENT=1:
	# produced while it runs): the gateways that send them run on their own
	# machines, so the producer's CPU is not the collector's to share; the
	# rate is the collector's from its first stored batch, its backlog full,
	# as after an outage or a deploy.
	if [ "$CONCURRENT" != 1 ]; then
		"$BIN" produce "$T/$name.jsonl" >"$T/produce-$name.log" 2>&1 || { cat "$T/produce-$name.log"; exit 1; }
	fi
	q "SELECT pg_stat_statements_reset()" >/dev/null
	t0=$(now_ms)
	TALLY_LOG_LEVEL=debug collector_start "$name"
	PROD=""
	if [ "$CONCURRENT" = 1 ]; then
		wait_until 60 grep -q "assigned" "$T/collector-$name.log" || { echo "collector did not join"; exit 1; }
		"$BIN" produce "$T/$name.jsonl" >"$T/produce-$name.log" 2>&1 &
		PROD=$!
	fi
	PEAK=0
	FIRST=""
	# The stored count, polled every 0.1 s on one connection: a psql per poll
	# (a new connection and backend each time) took about a tenth of the two
	# cores from the collector being measured.
	printf "SELECT coalesce(sum(next_offset), 0) FROM kafka_offsets WHERE topic = 'llm.calls'\n\\watch 0.1\n" |
		psql "$TALLY_DATABASE_URL" -XAtq >"$T/poll-$name.out" 2>&1 &
	POLL=$!
	while :; do
		c=$(tail -n 1 "$T/poll-$name.out")
		case "$c" in '' | *[!0-9]*) c=0 ;; esac
		r=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' /proc/$COLLECTOR_PID/status 2>/dev/null)
		[ -n "$r" ] && [ "$r" -gt "$PEAK" ] && PEAK=$r
		[ -z "$FIRST" ] && [ "$c" -gt 0 ] && { FIRST=$(now_ms); FIRST_N=$c; }
		[ "$c" -ge "$N" ] && break
		kill -0 "$COLLECTOR_PID" 2>/dev/null || { echo "collector died"; tail "$T/collector-$name.log"; exit 1; }
		sleep 0.1
	done
	t1=$(now_ms)
	kill "$POLL" 2>/dev/null
	wait "$POLL" 2>/dev/null
	# The rollups: summed from the stored calls once the collector has
	# caught up (reports read the queued calls exactly until then); how long
	# after the last call that takes.
	while [ "$(q "SELECT count(*) FROM rollup_queue")" != 0 ]; do
		kill -0 "$COLLECTOR_PID" 2>/dev/null || { echo "collector died"; tail "$T/collector-$name.log"; exit 1; }
		sleep 0.1
	done
	ROLLED_MS=$(($(now_ms) - t1))
	[ -z "$PROD" ] || wait "$PROD" || { cat "$T/produce-$name.log"; exit 1; }
	INGEST_MS=$((t1 - t0))
	INGEST=$(rate "$N" "$INGEST_MS")
	STEADY_MS=$((t1 - FIRST))
	STEADY=$(rate "$((N - FIRST_N))" "$STEADY_MS")
	ROLLED=$(rate "$((N - FIRST_N))" "$((STEADY_MS + ROLLED_MS))")
	sleep 2 # the outcomes and feedback behind the calls
	kill -TERM "$COLLECTOR_PID"
	wait "$COLLECTOR_PID"
	PROFILE=$(q "SELECT to_char(total_exec_time, 'FM999990') || ' ms' || chr(9) || calls || chr(9) ||
		to_char(total_exec_time / greatest(calls, 1), 'FM9990.00') || ' ms' || chr(9) ||
		regexp_replace(left(regexp_replace(query, '\\s+', ' ', 'g'), 90), '\\t', ' ', 'g')
		FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
		ORDER BY total_exec_time DESC LIMIT 14")
	DB_MS=$(q "SELECT round(sum(total_exec_time)) FROM pg_stat_statements
		WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())")
	STORED=$(q "SELECT count(*) FROM calls WHERE event_id NOT LIKE 'hist-%'")
	[ "$STORED" = "$N" ] || echo "warning: the ledger holds $STORED calls, not $N"
	MISMATCH=$(rollups_mismatch)
	[ "$MISMATCH" = 0 ] || echo "warning: $MISMATCH rollup rows differ from the calls"
	CMISMATCH=$(components_mismatch)
	[ "$CMISMATCH" = 0 ] || echo "warning: $CMISMATCH calls' components do not sum to their cost"

	# The collector's own split: filling a batch (Kafka fetch + parse +
	# price) and the writer's time per batch (one transaction).
	# A batch that took the whole linger (200 ms) to fill waited for Kafka:
	# the last one of the backlog, else a pause in the fetching.
	SPLIT=$(awk '/messages parsed in/ { for (i = 1; i <= NF; i++) { if ($i == "in" && $(i+2) == "us;") { if ($(i-1) == "ahead") ahead += $(i+1); else { fill += $(i+1); if ($(i+1) >= 190000) { nl++; linger += $(i+1) } } } if ($i == "waited") wait += $(i+1) } nb++ }
		/woke the fetchers/ { for (i = 1; i <= NF; i++) if ($i == "times") woken = $(i-1) }
		/batch stored:/ { for (i = 1; i <= NF; i++) if ($i == "in" && $(i+2) == "us") write += $(i+1); nw++ }
		/window committed:/ { for (i = 1; i <= NF; i++) if ($i == "in" && $(i+2) == "us") commit += $(i+1); nc++ }
		/rollups summed/ { for (i = 1; i <= NF; i++) if ($i == "in" && $(i+2) == "us") { rolls += $(i+1); us = $(i+1) }
			match($0, /\(([^)]*)\)/); why = why sprintf("%s%s %d ms", nr ? ", " : "", substr($0, RSTART + 1, RLENGTH - 2), us / 1000); nr++ }
		END { printf "%d batches; filling (fetch, parse, price) %d ms, of which %d batches waited the whole linger for Kafka %d ms (fetchers woken %d times); looking up ahead %d ms; waiting for the writer %d ms; writing %d ms (%.1f ms a batch); %d window commits %d ms; %d rollup sums %d ms (%s)",
			nb, fill / 1000, nl, linger / 1000, woken, ahead / 1000, wait / 1000, write / 1000, nw ? write / nw / 1000 : 0, nc, commit / 1000, nr, rolls / 1000, why }' "$T/collector-$name.log")
	HOURS=$(q "SELECT count(DISTINCT hour) FROM rollup_hourly WHERE hour >= date_trunc('month', now()) - interval '1 month'")
	HROWS=$(q "SELECT count(*) FROM rollup_hourly WHERE hour >= date_trunc('month', now()) - interval '1 month'")

	# The ceiling: the same rows, COPYed straight into an identical table.
	psql "$TALLY_DATABASE_URL" -XAtq -c "\\copy (SELECT * FROM calls WHERE event_id NOT LIKE 'hist-%') TO '$T/rows.copy'"
	q "CREATE TABLE bench_copy (LIKE calls INCLUDING ALL) PARTITION BY RANGE (ts)" >/dev/null
	q "DO \$\$ DECLARE m timestamptz; BEGIN
		FOR m IN SELECT generate_series(date_trunc('month', min(ts)), max(ts), '1 month') FROM calls WHERE event_id NOT LIKE 'hist-%' LOOP
			EXECUTE format('CREATE TABLE %I PARTITION OF bench_copy FOR VALUES FROM (%L) TO (%L)',
				'bench_copy_' || to_char(m, 'YYYYMM'), m, m + interval '1 month');
		END LOOP; END \$\$" >/dev/null
	# The faster of two: on a shared machine one COPY alone can be slowed by
	# a quarter by a neighbour, and the ratio with it (the collector's run
	# is seconds long too; a slow ceiling would flatter it).
	COPY_MS=""
	for k in 1 2; do
		q "TRUNCATE bench_copy" >/dev/null
		q "CHECKPOINT" >/dev/null
		t0=$(now_ms)
		psql "$TALLY_DATABASE_URL" -XAtq -c "\\copy bench_copy FROM '$T/rows.copy'" >/dev/null
		t1=$(now_ms)
		[ -z "$COPY_MS" ] || [ $((t1 - t0)) -lt "$COPY_MS" ] && COPY_MS=$((t1 - t0))
	done
	COPY=$(rate "$N" "$COPY_MS")

	# The naive loop: one INSERT per event, each its own transaction.
	q "CREATE TABLE bench_naive (LIKE calls INCLUDING ALL)" >/dev/null
	psql "$TALLY_DATABASE_URL" -XAtq -c "\\copy (SELECT format('INSERT INTO bench_naive SELECT * FROM json_populate_record(NULL::bench_naive, %L);', row_to_json(c)) FROM calls c WHERE event_id NOT LIKE 'hist-%' LIMIT $NAIVE) TO '$T/naive.sql'"
	t0=$(now_ms)
	psql "$TALLY_DATABASE_URL" -XAtq -f "$T/naive.sql" >/dev/null
	t1=$(now_ms)
	NAIVE_MS=$((t1 - t0))
	NAIVE_RATE=$(rate "$NAIVE" "$NAIVE_MS")

	echo
	echo "[$name] $N calls ($((BYTES / SIZE)) bytes each) over $HOURS hours ($HROWS hourly rollup rows), one collector, $(nproc) cores, a ledger holding $HISTORY_MONTHS months of $HISTORY_CALLS older calls:"
	printf "  %-52s %10s events/s  (%d ms)\n" "collector start (group join) -> parse -> price -> ledger" "$INGEST" "$INGEST_MS"
	printf "  %-52s %10s events/s  (%d ms)\n" "  the same, from the first batch stored" "$STEADY" "$STEADY_MS"
	printf "  %-52s %10s rows/s    (%d ms)\n" "ceiling: plain COPY of the same rows" "$COPY" "$COPY_MS"
	printf "  %-52s %10s rows/s    (%d ms, %d rows)\n" "baseline: one INSERT per event" "$NAIVE_RATE" "$NAIVE_MS" "$NAIVE"
	printf "  %-52s %10s events/s  (%d ms more)\n" "  the same, until the rollups have them too" "$ROLLED" "$ROLLED_MS"
	printf "  %-52s %10s\n" "from the first batch / COPY ceiling" "$(pct "$STEADY" "$COPY")"
	printf "  %-52s %10s\n" "  until the rollups have them / COPY ceiling" "$(pct "$ROLLED" "$COPY")"
	printf "  %-52s %10s\n" "from the first batch / naive loop" "$(awk -v a="$STEADY" -v b="$NAIVE_RATE" 'BEGIN { printf "%.1fx", a / b }')"
	printf "  %-52s %10s\n" "collector peak RSS" "$((PEAK / 1024)) MB"
	printf "  %-52s %10s\n" "rollups agree with the calls (rows differing)" "$MISMATCH"
	echo "  where the time goes: $SPLIT"
	echo "  PostgreSQL, all statements of the run: $DB_MS ms; the top ones (total, calls, mean, statement):"
	echo "$PROFILE" | sed 's/^/    /'
	SUMMARY="$SUMMARY$(printf "  %-10s %8s ev/s   ceiling %8s rows/s   ratio %5s (with rollups %5s)   naive x%s   %s MB" "$name" "$STEADY" "$COPY" "$(pct "$STEADY" "$COPY")" "$(pct "$ROLLED" "$COPY")" "$(awk -v a="$STEADY" -v b="$NAIVE_RATE" 'BEGIN { printf "%.1f", a / b }')" "$((PEAK / 1024))")
"
	export TALLY_DATABASE_URL=$BASE_URL
}

for w in $WORKLOADS; do
	run_workload "$w"
done
echo
echo "ingestion of diverse traffic, from the first batch stored, against the COPY ceiling:"
printf '%s' "$SUMMARY"
t_done
