-- 0006_router_workflow: per-workflow routing (docs/router.md). Statistics per
-- (task type, workflow, tier) next to router_stats, and the per-workflow
-- policy entries of each version. router_policy_versions.policy keeps its
-- shape (task type -> tier): the waste report reads it.

-- Per day (of the call's ts), task type, workflow and tier. Maintained by the
-- same statement as router_stats, from the same calls, under the same
-- watermark (router_state.stats_through): never a full scan of calls.
-- Calls without a workflow ('') are in router_stats only.
CREATE TABLE router_workflow_stats (
	day           date NOT NULL,
	task_type     text NOT NULL,
	workflow      text NOT NULL,
	tier          text NOT NULL,
	calls         bigint NOT NULL,
	priced_calls  bigint NOT NULL,
	cost_pusd     numeric NOT NULL,          -- of the priced calls, exact
	quality_n     bigint NOT NULL,
	quality_sum   double precision NOT NULL, -- scores, not money
	quality_sumsq double precision NOT NULL,
	PRIMARY KEY (day, task_type, workflow, tier)
);

-- The workflows whose own decision applies, per version:
-- {"task_type": {"workflow": "tier", ...}, ...}; the rest follow `policy`.
ALTER TABLE router_policy_versions
	ADD COLUMN workflow_policy jsonb NOT NULL DEFAULT '{}';

-- The calls the router has already learned from (up to the watermark) and
-- that are still inside its 30-day horizon, so that workflows do not start
-- from nothing. The quality of a call is the same as router_stats' (see
-- ledger/router_sql.c): the mean of its feedback, its own quality and its
-- outcome's success; 0 when it did not answer; cache hits left out. The
-- watermark row is locked so that a cycle running meanwhile waits for this.
WITH st AS (SELECT stats_through AS hi FROM router_state WHERE id = 1 FOR UPDATE),
 c AS (SELECT c.ts, c.task_type, c.workflow, c.tier, c.cost_pusd, c.status, c.quality,
   c.event_id, c.outcome_id FROM calls c, st
   WHERE c.ingested_at <= st.hi AND c.ts >= now() - interval '31 days'
   AND NOT c.cache_hit AND c.workflow <> ''),
 s AS (SELECT c.*, f.fb, o.success FROM c
   LEFT JOIN LATERAL (SELECT avg(score)::double precision AS fb FROM feedback f
    WHERE f.event_id = c.event_id) f ON true
   LEFT JOIN outcomes o ON o.outcome_id = c.outcome_id),
 q AS (SELECT s.*, CASE WHEN s.status <> 'ok' THEN 0::double precision
   ELSE (coalesce(s.fb, 0) + coalesce(s.quality, 0) + coalesce(s.success::int, 0))
    / nullif((s.fb IS NOT NULL)::int + (s.quality IS NOT NULL)::int
    + (s.success IS NOT NULL)::int, 0) END AS qv FROM s)
INSERT INTO router_workflow_stats (day, task_type, workflow, tier, calls, priced_calls,
  cost_pusd, quality_n, quality_sum, quality_sumsq)
SELECT (ts AT TIME ZONE 'UTC')::date, task_type, workflow, tier, count(*), count(cost_pusd),
  coalesce(sum(cost_pusd), 0), count(qv), coalesce(sum(qv), 0), coalesce(sum(qv * qv), 0)
FROM q GROUP BY 1, 2, 3, 4;
