#!/bin/sh
# test_router_live.sh - the live router's cycle against a real PostgreSQL:
# incremental statistics from the calls (watermark, never rescanned), how
# quality, feedback and outcomes combine, the policy per task type, versions
# with audit entries and webhooks in the outbox, overrides, no version when
# nothing changed; per-workflow statistics and policy entries (a workflow
# whose truth differs from its task type's), their versions, and migration
# 0006's backfill. Calls are written straight into the ledger with SQL.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
pg_start || exit 1
"$BIN" migrate >"$T/migrate.log" 2>&1 || { cat "$T/migrate.log"; exit 1; }
export TALLY_ROUTER_DEFAULT_TIER=large

# calls N TASK TIER MODEL COST_PUSD QUALITY_EXPR [OUTCOME_EXPR] (workflow: $WF)
WF=wf
calls() {
	q "SELECT tally_ensure_month(now());
	   INSERT INTO calls (event_id, ts, team, workflow, task_type, outcome_id, provider, model,
	     tier, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
	     reasoning_tokens, usage_shape, batch, cache_hit, local, status, latency_ms, quality,
	     cost_pusd)
	   SELECT '$2-$3-' || g || '-' || md5(random()::text), now() - interval '1 minute', 'team',
	     '$WF', '$2', ${7:-NULL}, 'prov', '$4', '$3', 100, 10, 0, 0, 0, 'tally', false, false,
	     false, 'ok', 40 + (g % 100), $6, $5
	   FROM generate_series(1, $1) g" >/dev/null
}
# classify: small as good as large; reason: small clearly worse
calls 400 classify small m-small 1000000 "CASE WHEN g % 10 = 0 THEN 0 ELSE 1 END"
calls 400 classify large m-large 20000000 "CASE WHEN g % 10 = 0 THEN 0 ELSE 1 END"
calls 400 reason small m-small 1000000 "CASE WHEN g % 2 = 0 THEN 0 ELSE 1 END"
calls 400 reason large m-large 20000000 "CASE WHEN g % 10 = 0 THEN 0 ELSE 1 END"
calls 10 rare small m-small 1000000 1
calls 10 rare large m-large 20000000 1

out=$("$BIN" router refresh --settle 0)
assert_eq "refresh exits 0" 0 $?
assert_eq "stats rows" 6 "$(q 'select count(*) from router_stats')"
assert_eq "stats calls" 1620 "$(q 'select sum(calls) from router_stats')"
assert_eq "exact cost" "$((400 * 1000000 * 2 + 400 * 20000000 * 2 + 10 * 1000000 + 10 * 20000000))" \
	"$(q 'select sum(cost_pusd) from router_stats')"
assert_eq "quality of classify/small" "360|400" \
	"$(q "select quality_sum, quality_n from router_stats where task_type = 'classify' and tier = 'small'")"
assert_match "classify goes small" '"task_type":"classify","tier":"small","model":"m-small","settled":true' "$out"
assert_match "reason stays large" '"task_type":"reason","tier":"large","model":"m-large","settled":true' "$out"
assert_match "rare keeps the default" '"task_type":"rare","tier":"large","model":"m-large","settled":false' "$out"
assert_match "latency p50/p95" '"latency_p50_ms":100,"latency_p95_ms":200' "$out"
assert_eq "one version" 1 "$(q 'select count(*) from router_policy_versions')"
assert_eq "version policy" '{"reason": "large", "classify": "small"}' \
	"$(q 'select policy::text from router_policy_versions where version = 1')"
assert_eq "change of classify (from the default)" "classify|large|small|true|15200000000" \
	"$(q "select c->>'task_type', c->>'old_tier', c->>'new_tier', c->>'old_was_default', (select projected_monthly_saving_pusd from router_policy_versions where version = 1) from router_policy_versions, jsonb_array_elements(changes) c where version = 1 and c->>'task_type' = 'classify'")"
assert_eq "audited" 1 "$(q "select count(*) from audit_log where action = 'router.policy_version'")"
assert_eq "webhook queued" 1 "$(q "select count(*) from webhook_outbox where kind = 'router.policy'")"
assert_match "webhook payload" '"event" : "router.policy", "version" : 1' \
	"$(q "select payload from webhook_outbox where kind = 'router.policy'")"

# over-tier spend (the waste report's column): each call is judged by the
# version in force when it was made; these calls came before version 1
assert_match "over-tier spend: no version was in force for these calls" \
	'"policy":"in_force_at_each_call","policy_version":null,"policy_versions":\[\],"judged":true,"task_types":\[\]' \
	"$("$BIN" router savings)"
# judged by version 1, named: classify's 400 calls on large at 0.00002 would
# have cost 0.000001 each on small
assert_match "over-tier spend under version 1" \
	'"policy":"version","policy_version":1,"policy_versions":\[1\],"judged":true,"task_types":\[\{"task_type":"classify","policy_tier":"small","over_tier_calls":400,"over_tier_cost_usd":"0.008000000000","under_policy_cost_usd":"0.000400000000","saving_usd":"0.007600000000"\}\]' \
	"$("$BIN" router savings --policy-version 1)"
# nothing new: no new version, and the calls are not read again
"$BIN" router refresh --settle 0 >/dev/null
assert_eq "no change, no version" 1 "$(q 'select count(*) from router_policy_versions')"
assert_eq "not counted twice" 1620 "$(q 'select sum(calls) from router_stats')"

# quality signals combine: own quality 1, feedback 0, outcome failed -> 1/3
q "INSERT INTO outcomes (outcome_id, ts, success) VALUES ('o-1', now(), false)" >/dev/null
calls 1 combo small m-small 1000000 1 "'o-1'"
q "INSERT INTO feedback (event_id, ts, score, source)
   SELECT event_id, now(), 0, 'human' FROM calls WHERE task_type = 'combo'" >/dev/null
# an errored call counts as quality 0; a call with no signal counts for cost only
calls 1 combo large m-large 20000000 NULL
q "UPDATE calls SET status = 'error' WHERE task_type = 'combo' AND tier = 'large'" >/dev/null
calls 1 nosignal small m-small 1000000 NULL
"$BIN" router refresh --settle 0 >/dev/null
assert_eq "combined quality" "0.333" \
	"$(q "select round(quality_sum::numeric, 3) from router_stats where task_type = 'combo' and tier = 'small'")"
assert_eq "error is quality 0" "0|1" \
	"$(q "select quality_sum, quality_n from router_stats where task_type = 'combo' and tier = 'large'")"
assert_eq "no signal: cost only" "1|0|1000000" \
	"$(q "select calls, quality_n, cost_pusd from router_stats where task_type = 'nosignal'")"

# settle time: calls younger than it wait for the next cycle
calls 5 classify small m-small 1000000 1
"$BIN" router refresh --settle 3600 >/dev/null
assert_eq "settle holds back new calls" 1623 "$(q 'select sum(calls) from router_stats')"
"$BIN" router refresh --settle 0 >/dev/null
assert_eq "then they are read" 1628 "$(q 'select sum(calls) from router_stats')"

# overrides: pin reason to small -> version 2; sensitive only local
"$BIN" router override reason --pin small >/dev/null
assert_eq "override stored" "small" "$(q "select pinned_tier from router_overrides where task_type = 'reason'")"
out=$("$BIN" router refresh --settle 0)
assert_match "pinned" '"task_type":"reason","tier":"small","model":"m-small","settled":false,"tolerance":0.02,"reason":"pinned to small by override"' "$out"
assert_eq "version 2" 2 "$(q 'select max(version) from router_policy_versions')"
assert_eq "version 2 changes reason" "reason|large|small" \
	"$(q "select c->>'task_type', c->>'old_tier', c->>'new_tier' from router_policy_versions, jsonb_array_elements(changes) c where version = 2")"
assert_eq "two webhooks" 2 "$(q "select count(*) from webhook_outbox where kind = 'router.policy'")"
"$BIN" router override classify --allow local,large >/dev/null
out=$("$BIN" router refresh --settle 0)
assert_match "allowed excludes small" '"task_type":"classify","tier":"large"' "$out"
"$BIN" router override classify --clear >/dev/null
"$BIN" router override reason --clear >/dev/null
out=$("$BIN" router refresh --settle 0)
assert_match "back to small" '"task_type":"classify","tier":"small"' "$out"
assert_eq "overrides audited" 4 "$(q "select count(*) from audit_log where action like 'router.override%'")"
hist=$("$BIN" router history --limit 2)
assert_match "history newest first" '^\[\{"version" : 4' "$hist"

# 40 more calls on large, made under the version now in force: the fixed
# period up to now has its over-tier figure, which later versions must not change
q "INSERT INTO calls (event_id, ts, team, workflow, task_type, provider, model, tier,
     input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,
     usage_shape, batch, cache_hit, local, status, latency_ms, quality, cost_pusd)
   SELECT 'late-' || g, now(), 'team', 'wf', 'classify', 'prov', 'm-large', 'large', 100, 10,
     0, 0, 0, 'tally', false, false, false, 'ok', 50,
     CASE WHEN g % 10 = 0 THEN 0 ELSE 1 END, 20000000
   FROM generate_series(1, 40) g" >/dev/null
FIXED_TO=$(q "select to_char(now() at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
FIXED_FROM=$(q "select to_char(now() at time zone 'UTC' - interval '1 day', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
FIXED=$("$BIN" router savings --from "$FIXED_FROM" --to "$FIXED_TO")
assert_match "the later calls are judged by the version in force" \
	'"policy_versions":\[4\],.*"task_type":"classify","policy_tier":"small","over_tier_calls":40,' "$FIXED"


# ---- per workflow ---------------------------------------------------------------------------
# support: small is as good as large for workflow faq (many samples) and
# clearly worse for legal; over the task type small is worse (0.77 vs 0.9),
# so support stays large, faq gets its own entry (small), legal agrees.
WF=faq
calls 400 support small m-small 1000000 "CASE WHEN g % 10 = 0 THEN 0 ELSE 1 END"
calls 400 support large m-large 20000000 "CASE WHEN g % 10 = 0 THEN 0 ELSE 1 END"
WF=legal
calls 200 support small m-small 1000000 "CASE WHEN g % 2 = 0 THEN 0 ELSE 1 END"
calls 200 support large m-large 20000000 "CASE WHEN g % 10 = 0 THEN 0 ELSE 1 END"
WF=wf
out=$("$BIN" router refresh --settle 0)
assert_eq "workflow statistics, same watermark" "faq|small|400|360|400|legal|small|200|100|200" \
	"$(q "select workflow, tier, calls, quality_sum, quality_n from router_workflow_stats where task_type = 'support' and tier = 'small' order by 1" | paste -sd'|')"
assert_eq "every call once per workflow too" "$(q 'select sum(calls) from router_stats')" \
	"$(q 'select sum(calls) from router_workflow_stats')"
assert_match "support stays large" '"task_type":"support","tier":"large","model":"m-large","settled":true' "$out"
assert_match "faq decides for itself" '"workflow":"faq","tier":"small","policy_scope":"workflow","settled":true,"reason":"best tier small' "$out"
assert_match "legal agrees with its task type" '"workflow":"legal","tier":"large","policy_scope":"task_type","settled":true,"reason":"its own statistics agree: best tier large' "$out"
assert_match "per-workflow tier statistics" '"workflow":"faq",.*"tiers":\[\{"tier":"large","calls":400,"cost_per_call_usd":"0.000020000000","quality_samples":400,"quality":0.900000' "$out"
assert_match "classify's one workflow follows it" '"workflow":"wf","tier":"small","policy_scope":"task_type","settled":true' "$out"
assert_eq "version 5" 5 "$(q 'select max(version) from router_policy_versions')"
assert_eq "policy keeps its shape: task type -> tier" '{"reason": "large", "support": "large", "classify": "small"}' \
	"$(q 'select policy::text from router_policy_versions where version = 5')"
assert_eq "workflow policy of version 5" '{"support": {"faq": "small"}}' \
	"$(q 'select workflow_policy::text from router_policy_versions where version = 5')"
# faq's 800 calls would each cost 0.000019 less on small
assert_eq "version 5 names the workflow change" "1|support|faq|large|default|small|workflow|800|0.015200000000|15200000000" \
	"$(q "select jsonb_array_length(changes), c->>'task_type', c->>'workflow', c->>'old_tier', c->>'old_policy', c->>'new_tier', c->>'new_policy', c->>'calls_30d', c->>'projected_monthly_saving_usd', projected_monthly_saving_pusd from router_policy_versions, jsonb_array_elements(changes) c where version = 5")"
assert_eq "with the workflow's own evidence" "400|0.900000|0.000001000000|400|0.000020000000" \
	"$(q "select c->'evidence'->'small'->>'samples', c->'evidence'->'small'->>'quality', c->'evidence'->'small'->>'cost_per_call_usd', c->'evidence'->'large'->>'samples', c->'evidence'->'large'->>'cost_per_call_usd' from router_policy_versions, jsonb_array_elements(changes) c where version = 5")"
assert_eq "audited" 1 "$(q "select count(*) from audit_log where action = 'router.policy_version' and details->'changes'->0->>'workflow' = 'faq'")"
assert_match "webhook text counts workflows" 'Routing policy version 5: 1 workflow\(s\) changed, projected saving \$0.02 a month' \
	"$(q "select payload from webhook_outbox where kind = 'router.policy' order by id desc limit 1")"
assert_match "webhook carries the workflow policy" '"workflow_policy" : \{"support": \{"faq": "small"\}\}' \
	"$(q "select payload from webhook_outbox where kind = 'router.policy' order by id desc limit 1")"
assert_match "history shows it" '"workflow_policy" : \{"support": \{"faq": "small"\}\}' "$("$BIN" router history --limit 1)"
"$BIN" router refresh --settle 0 >/dev/null
assert_eq "no change, no version" 5 "$(q 'select max(version) from router_policy_versions')"
assert_eq "the over-tier figure of a fixed period is unchanged by new versions" "$FIXED" \
	"$("$BIN" router savings --from "$FIXED_FROM" --to "$FIXED_TO")"

# pinning the task type takes faq's entry away (its calls go large again)
"$BIN" router override support --pin large >/dev/null
"$BIN" router refresh --settle 0 >/dev/null
# faq's calls now cost more: a projected extra cost, not a negative saving
assert_eq "pinned: workflow entry removed" "6|{}|support|faq|small|workflow|large|task_type|0.000000000000|0.015200000000" \
	"$(q "select version, workflow_policy::text, c->>'task_type', c->>'workflow', c->>'old_tier', c->>'old_policy', c->>'new_tier', c->>'new_policy', c->>'projected_monthly_saving_usd', c->>'projected_monthly_extra_cost_usd' from router_policy_versions, jsonb_array_elements(changes) c where version = 6")"
assert_match "the webhook announces an extra cost" 'Routing policy version 6: 1 workflow\(s\) changed, projected extra cost \$0.02 a month \(for quality\)' \
	"$(q "select payload from webhook_outbox where kind = 'router.policy' and payload::text like '%version 6:%'")"
assert_match "history: saving 0 and the extra cost" '"projected_monthly_saving_usd" : "0.000000000000", "projected_monthly_extra_cost_usd" : "0.015200000000"' \
	"$("$BIN" router history --limit 1)"
"$BIN" router override support --clear >/dev/null
"$BIN" router refresh --settle 0 >/dev/null
assert_eq "unpinned: back" '7|{"support": {"faq": "small"}}' \
	"$(q "select version, workflow_policy::text from router_policy_versions order by version desc limit 1")"

# ---- hysteresis across cycles ---------------------------------------------------------------
# edge: small and large both 0.9 over 400 calls -> small (the cheaper best).
# 15 more successes on large lift it to 0.9036: small's lower bound (0.871)
# is now under the bar (98% = 0.8855), but at half confidence (0.887) it is
# not, so the version in force stays: no new version for this much noise.
calls 400 edge small m-small 1000000 "CASE WHEN g % 10 = 0 THEN 0 ELSE 1 END"
calls 400 edge large m-large 20000000 "CASE WHEN g % 10 = 0 THEN 0 ELSE 1 END"
"$BIN" router refresh --settle 0 >/dev/null
v0=$(q "select max(version) from router_policy_versions")
assert_eq "edge goes small" small "$(q "select policy->>'edge' from router_policy_versions where version = $v0")"
calls 15 edge large m-large 20000000 1
out=$("$BIN" router refresh --settle 0)
assert_eq "noise: no new version" "$v0" "$(q "select max(version) from router_policy_versions")"
assert_match "the incumbent is kept, and says why" '"task_type":"edge","tier":"small","model":"m-small","settled":true,"tolerance":0.02,"reason":"kept small' "$out"
# small really gets worse (100 more calls, half failing): the evidence outlasts noise
calls 100 edge small m-small 1000000 "CASE WHEN g % 2 = 0 THEN 0 ELSE 1 END"
"$BIN" router refresh --settle 0 >/dev/null
assert_eq "evidence: a new version moves edge to large" "$((v0 + 1))|large" \
	"$(q "select version, policy->>'edge' from router_policy_versions order by version desc limit 1" | tr -d ' ')"

# migration 0006 on a ledger that had learned before it: the workflow
# statistics are backfilled from the calls already read (last 31 days)
want=$(q "select task_type, workflow, tier, calls, priced_calls, cost_pusd, quality_n, round(quality_sum::numeric, 6) from router_workflow_stats order by 1, 2, 3" | md5sum)
q "DROP TABLE router_workflow_stats; ALTER TABLE router_policy_versions DROP COLUMN workflow_policy;
   DELETE FROM schema_migrations WHERE version = 6" >/dev/null
"$BIN" migrate >"$T/migrate6.log" 2>&1
assert_eq "migrate 0006 again" 0 $?
assert_eq "backfilled the same statistics" "$want" \
	"$(q "select task_type, workflow, tier, calls, priced_calls, cost_pusd, quality_n, round(quality_sum::numeric, 6) from router_workflow_stats order by 1, 2, 3" | md5sum)"
assert_eq "old versions get an empty workflow policy" 0 \
	"$(q "select count(*) from router_policy_versions where workflow_policy <> '{}'")"
"$BIN" router override >/dev/null 2>&1
assert_eq "override usage" 2 $?
t_done
