# test_upgrade_quarter.sh - migration 0024 (the quarter-hour rollup) applied
# to a ledger that already holds calls, some rolled up and some still queued
# (a collector in the middle of a backlog): its fill sums the stored calls
# less the queued ones, so that the next roll adds those exactly once. The
# ledger before 0024 is this one with the quarter rows deleted; the fill is
# the migration's own statements, from its LOCK to its end, run as they are.
. tests/lib.sh
pg_start || exit 1
"$BIN" migrate >/dev/null || exit 1
q "select tally_ensure_month('2026-11-01T00:00:00Z')" >/dev/null
ins() { # ID_PREFIX N MINUTE_OFFSET
q "insert into calls (event_id, ts, team, workflow, task_type, provider, model, tier, input_tokens,
     output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, usage_shape, batch,
     cache_hit, local, status, cost_pusd)
   select '$1-' || g, '2026-11-01T10:00:00Z'::timestamptz + make_interval(mins => $3 + g % 50),
     (array['a','b','c'])[g % 3 + 1], 'wf', 'classify', 'openai', 'gpt-4o-mini', 'small', g, 1, 0, 0, 0,
     'openai', false, false, false, 'ok', CASE WHEN g % 7 = 0 THEN NULL ELSE 1000 * g END
   from generate_series(1, $2) g" >/dev/null
}
ins rolled 500 0
"$BIN" rollups merge >/dev/null
ins queued 300 20      # overlaps the rolled quarters and adds new ones
ins queued2 40 200     # quarters with queued calls only
assert_eq "two transactions queued" 2 "$(q 'select count(*) from rollup_queue')"
# The ledger as before 0024: no quarter rows; then 0024's fill, as written.
q "delete from rollup_quarter_merged" >/dev/null
sed -n '/^LOCK TABLE rollup_queue/,$p' migrations/0024_rollup_quarter.sql >"$T/fill.sql"
psql "$TALLY_DATABASE_URL" -XAtq -v ON_ERROR_STOP=1 -1 -f "$T/fill.sql" >/dev/null
assert_eq "the fill runs" 0 $?
assert_eq "no quarter row left at zero calls" 0 "$(q 'select count(*) from rollup_quarter_merged where calls = 0')"
assert_eq "quarter rows hold exactly the rolled calls" 500 "$(q 'select sum(calls) from rollup_quarter_merged')"
assert_eq "rollups agree with the calls, queued calls read by the views" 0 "$(rollups_mismatch)"
"$BIN" rollups merge >/dev/null
assert_eq "after the next roll: every rollup agrees" 0 "$(rollups_mismatch)"
assert_eq "... and the quarter rows hold every call" 840 "$(q 'select sum(calls) from rollup_quarter_merged')"
t_done
