-- 0004_router: the router's learned statistics, overrides and policy versions
-- (docs/router.md). Webhooks of new versions go through webhook_outbox (0003).

-- Per day (of the call's ts), task type and tier: what the router learns from.
-- Maintained incrementally by the router loop from the calls ingested since
-- router_state.stats_through (never a full scan of calls per cycle).
-- quality_n counts the calls that had a quality signal (docs/router.md says
-- how a call's quality, its feedback and its outcome's success combine).
CREATE TABLE router_stats (
	day           date NOT NULL,
	task_type     text NOT NULL,
	tier          text NOT NULL,
	calls         bigint NOT NULL,
	priced_calls  bigint NOT NULL,
	cost_pusd     numeric NOT NULL,          -- of the priced calls, exact
	quality_n     bigint NOT NULL,
	quality_sum   double precision NOT NULL, -- scores, not money
	quality_sumsq double precision NOT NULL,
	latency_hist  bigint[] NOT NULL,         -- router_latency_bucket() counts
	model         text NOT NULL,             -- the most used model of the day
	PRIMARY KEY (day, task_type, tier)
);

-- The stats job reads calls by ingestion time: this keeps that a range scan.
CREATE INDEX calls_ingested ON calls (ingested_at);

-- One row: how far the statistics have read, and the current version.
CREATE TABLE router_state (
	id             integer PRIMARY KEY CHECK (id = 1),
	stats_through  timestamptz NOT NULL DEFAULT '-infinity',
	updated_at     timestamptz NOT NULL DEFAULT now()
);
INSERT INTO router_state (id) VALUES (1);

-- Per task type overrides (admin): tolerance, pinned tier, allowed tiers.
CREATE TABLE router_overrides (
	task_type     text PRIMARY KEY,
	tolerance     double precision CHECK (tolerance >= 0 AND tolerance < 1),
	pinned_tier   text,
	allowed_tiers text[],
	updated_at    timestamptz NOT NULL DEFAULT now(),
	updated_by    text NOT NULL
);

-- Every change of policy is a version: the whole policy (task type -> tier)
-- and, per task type that changed, old and new tier with the evidence and
-- the projected monthly saving (last 30 days' volume x cost difference).
CREATE TABLE router_policy_versions (
	version        bigserial PRIMARY KEY,
	created_at     timestamptz NOT NULL DEFAULT now(),
	trigger        text NOT NULL,             -- 'periodic', 'on demand'
	policy         jsonb NOT NULL,            -- {"task_type": "tier", ...}
	changes        jsonb NOT NULL,            -- [{task_type, old_tier, new_tier, ...}]
	projected_monthly_saving_pusd numeric NOT NULL
);
