# lib.sh - sourced by integration and end-to-end tests: a throwaway
# PostgreSQL (initdb into a temp dir, unix socket only), the embedded Kafka
# cluster as its own process (`tally dev-kafka`), and assertions.
set -u
BIN=${BIN:-bin/tally}
case "$BIN" in /*) ;; *) BIN="$PWD/$BIN" ;; esac
T=$(mktemp -d /tmp/tally-test.XXXXXX)
chmod 755 "$T"
export TALLY_DATA_DIR="$T/data"
mkdir -p "$TALLY_DATA_DIR"
export TALLY_LOG_LEVEL=${TALLY_LOG_LEVEL:-info}
unset TALLY_DATABASE_URL TALLY_KAFKA_BROKERS
PGBIN=/usr/lib/postgresql/$(ls /usr/lib/postgresql | sort -n | tail -1)/bin
RUNAS=""
# from / : the postgres user may not enter the current directory (a checkout in
# root's 0700 home)
[ "$(id -u)" = 0 ] && RUNAS="runuser -u postgres -- env -C /"
PIDS=""
T_PASS=0
T_FAIL=0

t_cleanup() {
	for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
	[ -f "$T/pg/postmaster.pid" ] && $RUNAS "$PGBIN/pg_ctl" -D "$T/pg" -m immediate stop >/dev/null 2>&1
	if [ "$T_FAIL" -ne 0 ] || [ "${T_KEEP:-0}" = 1 ]; then
		for f in "$T"/*.log; do
			[ -f "$f" ] || continue
			echo "----- last lines of $(basename "$f")"
			tail -n 25 "$f"
		done
	fi
	rm -rf "$T"
}
trap t_cleanup EXIT
trap 'exit 1' INT TERM

ok() { T_PASS=$((T_PASS + 1)); echo "ok - $1"; }
not_ok() { T_FAIL=$((T_FAIL + 1)); echo "not ok - $1"; }

# assert_eq NAME EXPECTED ACTUAL
assert_eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1: expected [$2], got [$3]"; fi
}

# assert_match NAME REGEX TEXT
assert_match() {
	if printf '%s' "$3" | grep -Eq -- "$2"; then ok "$1"; else not_ok "$1: [$3] does not match /$2/"; fi
}

# Ends the test: its exit status says whether every assertion held.
t_done() {
	echo "# $T_PASS passed, $T_FAIL failed"
	[ "$T_FAIL" -eq 0 ]
	exit $?
}

# wait_until TIMEOUT_S COMMAND... - polls until COMMAND succeeds.
wait_until() {
	limit=$1
	shift
	i=0
	while [ "$i" -lt $((limit * 5)) ]; do
		if "$@" >/dev/null 2>&1; then return 0; fi
		sleep 0.2
		i=$((i + 1))
	done
	return 1
}

pg_start() {
	if [ ! -d "$T/pg" ]; then
		mkdir -p "$T/pg" "$T/sock"
		[ -n "$RUNAS" ] && chown postgres "$T/pg" "$T/sock"
		$RUNAS "$PGBIN/initdb" -D "$T/pg" -U tally --auth=trust --no-sync -E UTF8 \
			>"$T/initdb.log" 2>&1 || { echo "initdb failed"; cat "$T/initdb.log"; return 1; }
	fi
	touch "$T/pg.log"
	[ -n "$RUNAS" ] && chown postgres "$T/pg.log"
	$RUNAS "$PGBIN/pg_ctl" -D "$T/pg" -l "$T/pg.log" -w -t 60 \
		-o "-k $T/sock -c listen_addresses='' -c fsync=${PG_FSYNC:-off} -c max_connections=50 ${PG_EXTRA:-}" start \
		>/dev/null || { echo "PostgreSQL did not start"; tail -n 30 "$T/pg.log"; return 1; }
	export TALLY_DATABASE_URL="postgresql:///tally?host=$T/sock&user=tally"
	"$PGBIN/createdb" -h "$T/sock" -U tally tally 2>/dev/null || true
}

pg_stop() {
	$RUNAS "$PGBIN/pg_ctl" -D "$T/pg" -m fast -w stop >/dev/null
}

q() {
	psql "$TALLY_DATABASE_URL" -XAtq -c "$1"
}

# test_port - a port for a server of the test's own, fixed by its pid, below
# the kernel's ephemeral range: a client socket (a browser's, a driver's,
# lingering after the test before) takes its port from that range and, even
# closing, can hold one a listener then cannot bind.
test_port() {
	lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)
	case "$lo" in '' | *[!0-9]*) lo=32768 ;; esac
	[ "$lo" -gt 12000 ] || lo=32768
	echo $((10000 + $$ % (lo - 10000)))
}

# rollups_mismatch - rows of rollup_hourly, rollup_quarter, rollup_daily and rollup_tags_hourly that differ
# from the same aggregate recomputed from the calls (0: all agree to the last token and
# pico-dollar).
# rollup_sums ROLLUP NKEYS - a query of the rollup's rows summed per key (its
# first NKEYS columns): the view adds merged rows and pending deltas.
rollup_sums() {
	echo "SELECT $(q "SELECT string_agg(CASE WHEN ordinal_position <= $2 THEN
		quote_ident(column_name) ELSE 'sum(' || quote_ident(column_name) || ')' END, ', '
		ORDER BY ordinal_position) FROM information_schema.columns
		WHERE table_name = '$1_merged'") FROM $1 GROUP BY $(seq -s, 1 "$2")"
}
rollups_mismatch() {
	RH=$(rollup_sums rollup_hourly 8) RD=$(rollup_sums rollup_daily 7)
	RT=$(rollup_sums rollup_tags_hourly 5) RQ=$(rollup_sums rollup_quarter 7)
	q "WITH h AS (SELECT date_trunc('hour', ts) AS hour, team, workflow, task_type, provider,
		model, tier, status, count(*) AS calls, sum(input_tokens) AS i, sum(output_tokens) AS o,
		sum(cache_read_tokens) AS cr, sum(cache_write_tokens) AS cw, sum(reasoning_tokens) AS r,
		coalesce(sum(cost_pusd), 0) AS cost, count(*) FILTER (WHERE cost_pusd IS NULL) AS u,
		count(*) FILTER (WHERE cache_hit) AS ch FROM calls GROUP BY 1, 2, 3, 4, 5, 6, 7, 8),
	d AS (SELECT date_trunc('day', ts) AS day, team, workflow, task_type, provider, model, tier,
		count(*) AS calls, sum(input_tokens) AS i, sum(output_tokens) AS o,
		sum(cache_read_tokens) AS cr, sum(cache_write_tokens) AS cw, sum(reasoning_tokens) AS r,
		coalesce(sum(cost_pusd), 0) AS cost, count(*) FILTER (WHERE cost_pusd IS NULL) AS u,
		count(*) FILTER (WHERE cache_hit) AS ch FROM calls GROUP BY 1, 2, 3, 4, 5, 6, 7),
	qh AS (SELECT to_timestamp(floor(extract(epoch FROM ts) / 900) * 900) AS quarter, team,
		workflow, task_type, provider, model, tier, count(*) AS calls, sum(input_tokens) AS i,
		sum(output_tokens) AS o, sum(cache_read_tokens) AS cr, sum(cache_write_tokens) AS cw,
		sum(reasoning_tokens) AS r, coalesce(sum(cost_pusd), 0) AS cost,
		count(*) FILTER (WHERE cost_pusd IS NULL) AS u FROM calls GROUP BY 1, 2, 3, 4, 5, 6, 7),
	t AS (SELECT t.key, date_trunc('hour', c.ts), c.team, c.workflow, t.value, count(*),
		sum(c.input_tokens), sum(c.output_tokens), sum(c.cache_read_tokens),
		sum(c.cache_write_tokens), sum(c.reasoning_tokens), coalesce(sum(c.cost_pusd), 0),
		count(*) FILTER (WHERE c.cost_pusd IS NULL) FROM calls c
		CROSS JOIN LATERAL jsonb_each_text(CASE jsonb_typeof(c.tags) WHEN 'object'
		THEN c.tags ELSE '{}'::jsonb END) t WHERE t.value IS NOT NULL GROUP BY 1, 2, 3, 4, 5)
	SELECT (SELECT count(*) FROM ((SELECT * FROM h EXCEPT ALL ($RH))
		UNION ALL (($RH) EXCEPT ALL SELECT * FROM h)) x)
	     + (SELECT count(*) FROM ((SELECT * FROM d EXCEPT ALL ($RD))
		UNION ALL (($RD) EXCEPT ALL SELECT * FROM d)) x)
	     + (SELECT count(*) FROM ((SELECT * FROM t EXCEPT ALL ($RT))
		UNION ALL (($RT) EXCEPT ALL SELECT * FROM t)) x)
	     + (SELECT count(*) FROM ((SELECT * FROM qh EXCEPT ALL ($RQ))
		UNION ALL (($RQ) EXCEPT ALL SELECT * FROM qh)) x)"
}

# components_mismatch - calls whose stored components (calls.components, migration 0018) do
# not add up to their cost (0: every call's components sum to it to the pico-dollar).
components_mismatch() {
	q "SELECT count(*) FROM calls c WHERE coalesce(c.cost_pusd, 0) <>
		(SELECT coalesce(sum(x.cost_pusd), 0) FROM tally_call_components(c.components) x)"
}

# kafka_start [PARTITIONS [OPTION...]] - `tally dev-kafka` in the background
# (options such as --rtt MS passed on).
kafka_start() {
	parts=${1:-16}
	[ $# -gt 0 ] && shift
	# A restarted cluster must not be read from the previous one's file: the
	# background shell truncates it only when it gets to run.
	rm -f "$T/kafka.out"
	"$BIN" dev-kafka --partitions "$parts" "$@" >"$T/kafka.out.new" 2>"$T/kafka.log" &
	KAFKA_PID=$!
	PIDS="$PIDS $KAFKA_PID"
	wait_until 20 grep -q '^TALLY_KAFKA_BROKERS=.' "$T/kafka.out.new" ||
		{ echo "dev-kafka did not start"; cat "$T/kafka.log"; return 1; }
	mv "$T/kafka.out.new" "$T/kafka.out"
	export TALLY_KAFKA_BROKERS="$(sed -n 's/^TALLY_KAFKA_BROKERS=//p' "$T/kafka.out" | head -n 1)"
}

# collector_start NAME - `tally collect` in the background; sets COLLECTOR_PID.
collector_start() {
	"$BIN" collect >>"$T/collector-${1:-1}.log" 2>&1 &
	COLLECTOR_PID=$!
	PIDS="$PIDS $COLLECTOR_PID"
}

# serve_start - `tally serve` in the background on a free loopback port, with
# the caller's TALLY_* environment; sets PORT, U (its URL) and SERVE_PID.
# Fails when it does not answer /healthz within 20 s.
serve_start() {
	PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	export TALLY_HTTP_ADDR="127.0.0.1:$PORT"
	"$BIN" serve >>"$T/serve.log" 2>&1 &
	SERVE_PID=$!
	PIDS="$PIDS $SERVE_PID"
	U="http://127.0.0.1:$PORT"
	wait_until 20 curl -sf "$U/healthz"
}

status_field() {
	"$BIN" status --format json 2>/dev/null | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"
}

# wait_calls N TIMEOUT_S - until the ledger holds N calls.
wait_calls() {
	wait_until "${2:-60}" sh -c "[ \"\$(psql \"$TALLY_DATABASE_URL\" -XAtq -c 'select count(*) from calls' 2>/dev/null)\" -ge $1 ]"
}
