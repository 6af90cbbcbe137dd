#!/bin/sh
# test_waste_overtier.sh - the waste report's over-tier column, fed by the
# router's policy: empty until a policy version exists; then, per team and
# workflow, what calls on a dearer tier cost beyond the policy tier's cost per
# call, summing exactly to the router's own savings figure.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
pg_start || exit 1
"$BIN" migrate >"$T/migrate.log" 2>&1 || { cat "$T/migrate.log"; exit 1; }
export TALLY_ROUTER_DEFAULT_TIER=large

# calls N TEAM WORKFLOW TASK TIER COST_PUSD QUALITY_EXPR - written straight into
# the ledger (this hour), their rollups rebuilt after
calls() {
	q "SELECT tally_ensure_month(now());
	   INSERT INTO calls (event_id, ts, team, workflow, task_type, provider, model, tier,
	     input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,
	     usage_shape, batch, cache_hit, local, status, latency_ms, quality, cost_pusd)
	   SELECT '$2-$3-$5-' || g, date_trunc('hour', now()), '$2', '$3', '$4', 'prov',
	     'm-$5', '$5', 100, 10, 0, 0, 0, 'tally', false, false, false, 'ok', 50, $7, $6
	   FROM generate_series(1, $1) g" >/dev/null
}
# classify: small as good as large. Team a runs 300 of its calls on large,
# team b 100; team c stays on small.
calls 400 c triage classify small 1000000 "CASE WHEN g % 10 = 0 THEN 0 ELSE 1 END"
calls 300 a tickets classify large 20000000 "CASE WHEN g % 10 = 0 THEN 0 ELSE 1 END"
calls 100 b intake classify large 20000000 "CASE WHEN g % 10 = 0 THEN 0 ELSE 1 END"
TODAY=$(q "select to_char(now() at time zone 'UTC', 'YYYY-MM-DD')")
TOMORROW=$(q "select to_char(now() at time zone 'UTC' + interval '1 day', 'YYYY-MM-DD')")
"$BIN" rollups rebuild --from "$TODAY" --to "$TOMORROW" >/dev/null
assert_eq "rollups rebuilt" 0 $?

W=$("$BIN" report waste --from "$TODAY" --to "$TOMORROW" --format json)
assert_match "no policy yet: the column is empty and says why" \
	'"over_tier_usd":null.*"over_tier_note":"over-tier spend needs a routing policy version' "$W"

"$BIN" router refresh --settle 0 >"$T/refresh.json"
assert_eq "the router publishes a version" 1 "$(q 'select count(*) from router_policy_versions')"
assert_match "classify goes small" '"classify": "small"' "$(q 'select policy::text from router_policy_versions')"

W=$("$BIN" report waste --from "$TODAY" --to "$TOMORROW" --format json)
# each call is judged by the version in force when it was made: these calls
# came before version 1, so none is over tier, and the report says so
assert_match "calls before the first version are not judged" \
	'"total":\{[^}]*"over_tier_usd":"0.000000000000",[^}]*\},"over_tier_policy":"in_force_at_each_call","over_tier_policy_version":null,"over_tier_policy_versions":\[\],"over_tier_note":null' "$W"

# the same traffic again, now under version 1 (ts = now(), after it)
calls_now() {
	q "INSERT INTO calls (event_id, ts, team, workflow, task_type, provider, model, tier,
	     input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,
	     usage_shape, batch, cache_hit, local, status, latency_ms, quality, cost_pusd)
	   SELECT 'n-$2-$3-$5-' || g, now(), '$2', '$3', '$4', 'prov',
	     'm-$5', '$5', 100, 10, 0, 0, 0, 'tally', false, false, false, 'ok', 50, 1, $6
	   FROM generate_series(1, $1) g" >/dev/null
}
calls_now 400 c triage classify small 1000000
calls_now 300 a tickets classify large 20000000
calls_now 100 b intake classify large 20000000
"$BIN" rollups rebuild --from "$TODAY" --to "$TOMORROW" >/dev/null

W=$("$BIN" report waste --from "$TODAY" --to "$TOMORROW" --format json)
# a: 300 x (0.00002 - 0.000001); b: 100 x the same; c: none (already on small)
assert_match "team a / tickets: 300 x 19,000,000 pico-USD over tier" \
	'"team":"a","workflow":"tickets",[^}]*"over_tier_usd":"0.005700000000"' "$W"
assert_match "team b / intake: 100 x 19,000,000 pico-USD over tier" \
	'"team":"b","workflow":"intake",[^}]*"over_tier_usd":"0.001900000000"' "$W"
assert_match "team c / triage: nothing over tier" \
	'"team":"c","workflow":"triage",[^}]*"over_tier_usd":"0.000000000000"' "$W"
assert_match "no note once a policy exists" '"over_tier_note":null' "$W"
assert_match "exact totals: over-tier 0.0076 of 0.0168 spent, judged by version 1" \
	'"total":\{"failed_calls":0,[^}]*"over_tier_usd":"0.007600000000","spend_usd":"0.016800000000"\},"over_tier_policy":"in_force_at_each_call","over_tier_policy_version":null,"over_tier_policy_versions":\[1\]' "$W"
S=$("$BIN" router savings)
assert_match "the router's saving is the column's sum, and says which policy" \
	'"policy":"in_force_at_each_call","policy_version":null,"policy_versions":\[1\],"judged":true,.*"saving_usd":"0.007600000000"\}$' "$S"
C=$("$BIN" report waste --from "$TODAY" --to "$TOMORROW" --format csv)
assert_match "CSV carries the column" "^a,tickets,0,0.000000000000,0,0.000000000000,0,0.000000000000,0.005700000000,0.012000000000$" "$C"
V=$("$BIN" report waste --from "$TODAY" --to "$TOMORROW" --team b --format json)
assert_match "a team's own report has its own over-tier spend" '"team":"b","workflow":"intake",[^}]*"over_tier_usd":"0.001900000000"' "$V"
assert_eq "and no other team's rows" 1 "$(printf '%s' "$V" | grep -o '"team":' | wc -l)"

# a version named by the caller judges every call of the period
N=$("$BIN" report waste --from "$TODAY" --to "$TOMORROW" --policy-version 1 --format json)
assert_match "--policy-version 1 judges the earlier calls too" \
	'"total":\{[^}]*"over_tier_usd":"0.015200000000",[^}]*\},"over_tier_policy":"version","over_tier_policy_version":1,"over_tier_policy_versions":\[1\]' "$N"

# a new version (classify pinned to large) does not change the figure of
# the calls made before it: the same period reads the same
"$BIN" router override classify --pin large >/dev/null
"$BIN" router refresh --settle 0 >/dev/null
assert_eq "a second version" 2 "$(q 'select count(*) from router_policy_versions')"
W2=$("$BIN" report waste --from "$TODAY" --to "$TOMORROW" --format json)
assert_match "the period's over-tier figure is unchanged by version 2" \
	'"total":\{[^}]*"over_tier_usd":"0.007600000000",[^}]*\},"over_tier_policy":"in_force_at_each_call",[^}]*"over_tier_policy_versions":\[1\]' "$W2"
S2=$("$BIN" router savings --to "$(q "select to_char(max(created_at) at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') from router_policy_versions")")
assert_match "and so is the router's" '"saving_usd":"0.007600000000"\}$' "$S2"
N2=$("$BIN" router savings --policy-version 2)
assert_match "under version 2 (large) nothing is over tier" \
	'"policy":"version","policy_version":2,.*"task_types":\[\],.*"saving_usd":"0.000000000000"\}$' "$N2"
t_done
