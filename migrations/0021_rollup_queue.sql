-- 0021_rollup_queue.sql - rollups summed from the calls, set-based, behind a
-- queue of the transactions that stored calls.
--
-- The collector summed each window's rollups in its own memory and upserted
-- them at the window's commit (0017). In a backfill a month of diverse
-- traffic has about as many rollup keys as calls, and the upserts cost
-- PostgreSQL three to four times the COPY of the calls (bench/README.md).
-- Now a transaction that stores calls only says so:
--   calls.ingest_xid       the id of the transaction that stored the call
--                          (a default: whatever stores a call sets it);
--   rollup_queue           one row per such transaction not yet rolled up,
--                          added in that transaction by a statement trigger,
--                          so it commits with its calls or not at all;
-- and the rollups are summed from the calls of the queued transactions, in
-- one statement that also empties the queue of exactly what it summed
-- (ledger/rollups_write.c), when the collector has caught up, every 60 s
-- or million calls while it catches up, and by `tally rollups merge`.
-- Each rollup is a view: its rows (<rollup>_merged) and the same sums over
-- the calls still queued, so a reader sees exact figures at every instant,
-- in one snapshot; while a backlog is read, the queued calls are summed by
-- the reader (slower, exact). The rule of each rollup is written once, in
-- the functions below, which `tally rollups rebuild` and `tally prices
-- reprice` use too (ledger/prices_db.c).

-- The deltas an earlier collector left pending, into their rows.
INSERT INTO rollup_hourly_merged AS r
SELECT hour, team, workflow, task_type, provider, model, tier, status, sum(calls),
	sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), sum(cache_write_tokens),
	sum(reasoning_tokens), sum(cost_pusd), sum(unpriced_calls), sum(cache_hit_calls)
FROM rollup_hourly_pending GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
ON CONFLICT (hour, team, workflow, task_type, provider, model, tier, status) DO UPDATE SET
	calls = r.calls + excluded.calls, input_tokens = r.input_tokens + excluded.input_tokens,
	output_tokens = r.output_tokens + excluded.output_tokens,
	cache_read_tokens = r.cache_read_tokens + excluded.cache_read_tokens,
	cache_write_tokens = r.cache_write_tokens + excluded.cache_write_tokens,
	reasoning_tokens = r.reasoning_tokens + excluded.reasoning_tokens,
	cost_pusd = r.cost_pusd + excluded.cost_pusd,
	unpriced_calls = r.unpriced_calls + excluded.unpriced_calls,
	cache_hit_calls = r.cache_hit_calls + excluded.cache_hit_calls;
INSERT INTO rollup_daily_merged AS r
SELECT day, team, workflow, task_type, provider, model, tier, sum(calls),
	sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), sum(cache_write_tokens),
	sum(reasoning_tokens), sum(cost_pusd), sum(unpriced_calls), sum(cache_hit_calls)
FROM rollup_daily_pending GROUP BY 1, 2, 3, 4, 5, 6, 7
ON CONFLICT (day, team, workflow, task_type, provider, model, tier) DO UPDATE SET
	calls = r.calls + excluded.calls, input_tokens = r.input_tokens + excluded.input_tokens,
	output_tokens = r.output_tokens + excluded.output_tokens,
	cache_read_tokens = r.cache_read_tokens + excluded.cache_read_tokens,
	cache_write_tokens = r.cache_write_tokens + excluded.cache_write_tokens,
	reasoning_tokens = r.reasoning_tokens + excluded.reasoning_tokens,
	cost_pusd = r.cost_pusd + excluded.cost_pusd,
	unpriced_calls = r.unpriced_calls + excluded.unpriced_calls,
	cache_hit_calls = r.cache_hit_calls + excluded.cache_hit_calls;
INSERT INTO rollup_tags_hourly_merged AS r
SELECT tag_key, hour, team, workflow, tag_value, sum(calls),
	sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), sum(cache_write_tokens),
	sum(reasoning_tokens), sum(cost_pusd), sum(unpriced_calls)
FROM rollup_tags_hourly_pending GROUP BY 1, 2, 3, 4, 5
ON CONFLICT (tag_key, hour, team, workflow, tag_value) DO UPDATE SET
	calls = r.calls + excluded.calls, input_tokens = r.input_tokens + excluded.input_tokens,
	output_tokens = r.output_tokens + excluded.output_tokens,
	cache_read_tokens = r.cache_read_tokens + excluded.cache_read_tokens,
	cache_write_tokens = r.cache_write_tokens + excluded.cache_write_tokens,
	reasoning_tokens = r.reasoning_tokens + excluded.reasoning_tokens,
	cost_pusd = r.cost_pusd + excluded.cost_pusd,
	unpriced_calls = r.unpriced_calls + excluded.unpriced_calls;
DROP VIEW rollup_hourly, rollup_daily, rollup_tags_hourly;
DROP TABLE rollup_hourly_pending, rollup_daily_pending, rollup_tags_hourly_pending;

-- Which transaction stored each call; the calls stored before this
-- migration are in the rollups already (NULL, outside the index).
ALTER TABLE calls ADD COLUMN ingest_xid bigint;
ALTER TABLE calls ALTER COLUMN ingest_xid SET DEFAULT txid_current();
CREATE INDEX calls_ingest_xid ON calls (ingest_xid) WHERE ingest_xid IS NOT NULL;
-- The planner is told that a transaction stored few calls of a month: a
-- reader's sum over the queued calls (the views below), usually none, is then
-- planned as the few index probes it is, not as a scan of the month (the
-- statistics alone would say a month holds a few hundred transactions, and
-- estimate a thousandth of it per transaction: a plan fit for a backlog, and
-- JIT-compiled at every read). Set on each month, and by tally_ensure_month
-- on the months to come.
DO $$
DECLARE
	p regclass;
BEGIN
	FOR p IN SELECT inhrelid::regclass FROM pg_inherits WHERE inhparent = 'calls'::regclass LOOP
		EXECUTE format('ALTER TABLE %s ALTER COLUMN ingest_xid SET (n_distinct = -1)', p);
	END LOOP;
END $$;
CREATE OR REPLACE FUNCTION tally_ensure_month(t timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	m date := date_trunc('month', t AT TIME ZONE 'UTC')::date;
	name text := format('calls_%s', to_char(m, 'YYYY_MM'));
BEGIN
	IF to_regclass(name) IS NOT NULL THEN
		RETURN;
	END IF;
	PERFORM pg_advisory_xact_lock(hashtext('tally_ensure_month'));
	IF to_regclass(name) IS NULL THEN
		EXECUTE format('CREATE TABLE %I PARTITION OF calls FOR VALUES FROM (%L) TO (%L)',
			name, (m::timestamp AT TIME ZONE 'UTC'),
			((m + interval '1 month')::timestamp AT TIME ZONE 'UTC'));
		EXECUTE format('ALTER TABLE %I ALTER COLUMN ingest_xid SET (n_distinct = -1)', name);
	END IF;
END $$;

CREATE TABLE rollup_queue (
	xid       bigint PRIMARY KEY,            -- txid_current() of the storing transaction
	queued_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION tally_rollup_enqueue() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
	INSERT INTO rollup_queue (xid) VALUES (txid_current()) ON CONFLICT DO NOTHING;
	RETURN NULL;
END $fn$;
-- A statement trigger: once per COPY or INSERT, whatever its row count. It
-- fires for statements on calls, not on one month's partition directly.
CREATE TRIGGER calls_rollup_enqueue AFTER INSERT ON calls
	FOR EACH STATEMENT EXECUTE FUNCTION tally_rollup_enqueue();

-- The rules: each rollup's rows summed from the calls of [lo, hi), all of
-- them or only those of queued transactions. Inlined by the planner where
-- they are called with constants, so a view's or a rebuild's predicates
-- reach the calls' indexes.
CREATE FUNCTION tally_rollup_hourly(lo timestamptz, hi timestamptz, queued boolean)
RETURNS SETOF rollup_hourly_merged LANGUAGE sql STABLE AS $$
	SELECT date_trunc('hour', c.ts, 'UTC'), c.team, c.workflow, c.task_type, c.provider,
		c.model, c.tier, c.status, count(*), sum(c.input_tokens), sum(c.output_tokens),
		sum(c.cache_read_tokens), sum(c.cache_write_tokens), sum(c.reasoning_tokens),
		coalesce(sum(c.cost_pusd), 0), count(*) FILTER (WHERE c.cost_pusd IS NULL),
		count(*) FILTER (WHERE c.cache_hit)
	FROM calls c
	WHERE c.ts >= lo AND c.ts < hi AND (NOT queued
		OR c.ingest_xid = ANY ((SELECT array_agg(xid) FROM rollup_queue)::bigint[]))
	GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
$$;

CREATE FUNCTION tally_rollup_daily(lo timestamptz, hi timestamptz, queued boolean)
RETURNS SETOF rollup_daily_merged LANGUAGE sql STABLE AS $$
	SELECT date_trunc('day', c.ts, 'UTC'), c.team, c.workflow, c.task_type, c.provider,
		c.model, c.tier, count(*), sum(c.input_tokens), sum(c.output_tokens),
		sum(c.cache_read_tokens), sum(c.cache_write_tokens), sum(c.reasoning_tokens),
		coalesce(sum(c.cost_pusd), 0), count(*) FILTER (WHERE c.cost_pusd IS NULL),
		count(*) FILTER (WHERE c.cache_hit)
	FROM calls c
	WHERE c.ts >= lo AND c.ts < hi AND (NOT queued
		OR c.ingest_xid = ANY ((SELECT array_agg(xid) FROM rollup_queue)::bigint[]))
	GROUP BY 1, 2, 3, 4, 5, 6, 7
$$;

-- A tag is a key of the call's tags object with a string value (what
-- event_parse stores: a flat object of strings).
CREATE FUNCTION tally_rollup_tags_hourly(lo timestamptz, hi timestamptz, queued boolean)
RETURNS SETOF rollup_tags_hourly_merged LANGUAGE sql STABLE AS $$
	SELECT t.key, date_trunc('hour', c.ts, 'UTC'), c.team, c.workflow, t.value, count(*),
		sum(c.input_tokens), sum(c.output_tokens), sum(c.cache_read_tokens),
		sum(c.cache_write_tokens), sum(c.reasoning_tokens), coalesce(sum(c.cost_pusd), 0),
		count(*) FILTER (WHERE c.cost_pusd IS NULL)
	FROM calls c CROSS JOIN LATERAL jsonb_each_text(CASE jsonb_typeof(c.tags)
		WHEN 'object' THEN c.tags ELSE '{}'::jsonb END) t
	WHERE c.ts >= lo AND c.ts < hi AND t.value IS NOT NULL AND (NOT queued
		OR c.ingest_xid = ANY ((SELECT array_agg(xid) FROM rollup_queue)::bigint[]))
	GROUP BY 1, 2, 3, 4, 5
$$;

-- What the views add to the rows: the queued calls' sums, read only when
-- something is queued. A function the planner does not see into: planning
-- the sum over every month's partitions cost each read 6 ms even with
-- nothing queued; its plan is made once per session, when first needed.
-- The reader's range is applied to its rows (a backlog is summed whole).
CREATE FUNCTION tally_rollup_hourly_queued() RETURNS SETOF rollup_hourly_merged
LANGUAGE plpgsql STABLE ROWS 10 AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM rollup_queue) THEN
		RETURN QUERY SELECT * FROM tally_rollup_hourly('-infinity', 'infinity', true);
	END IF;
END $$;
CREATE FUNCTION tally_rollup_daily_queued() RETURNS SETOF rollup_daily_merged
LANGUAGE plpgsql STABLE ROWS 10 AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM rollup_queue) THEN
		RETURN QUERY SELECT * FROM tally_rollup_daily('-infinity', 'infinity', true);
	END IF;
END $$;
CREATE FUNCTION tally_rollup_tags_hourly_queued() RETURNS SETOF rollup_tags_hourly_merged
LANGUAGE plpgsql STABLE ROWS 10 AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM rollup_queue) THEN
		RETURN QUERY SELECT * FROM tally_rollup_tags_hourly('-infinity', 'infinity', true);
	END IF;
END $$;

CREATE VIEW rollup_hourly AS
	SELECT * FROM rollup_hourly_merged UNION ALL SELECT * FROM tally_rollup_hourly_queued();
CREATE VIEW rollup_daily AS
	SELECT * FROM rollup_daily_merged UNION ALL SELECT * FROM tally_rollup_daily_queued();
CREATE VIEW rollup_tags_hourly AS
	SELECT * FROM rollup_tags_hourly_merged
	UNION ALL SELECT * FROM tally_rollup_tags_hourly_queued();
