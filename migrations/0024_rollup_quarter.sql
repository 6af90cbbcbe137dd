-- 0024_rollup_quarter.sql - spend by quarter hour, for the edges of a range.
--
-- A spend range that does not start and end on whole hours reads its partial
-- hours at the edges from the calls (ledger/spend.c): up to half an hour of
-- them per edge, each call on a page of its own when the history was stored
-- out of time order (bench/web.sh, 10M calls: 22 ms where the whole-hour
-- neighbour takes 8). With the spend summed by quarter hour too, only the
-- partial quarter at each edge is read from the calls: at most seven and a
-- half minutes of them.
--
-- The quarter's key is what a spend query groups or filters by (no status,
-- no cache hits: rollup_hourly keeps those). A rollup like the others
-- (0021): its rows, the same sums over the queued calls in the view, one
-- rule (tally_rollup_quarter) used by the view, the roll
-- (ledger/rollups_write.c) and the rebuild (ledger/prices_db.c).
--
-- Applying it sums every stored call once more: about 25 s for 10 million
-- calls on two cores, while collectors wait to store (the queue's lock).
CREATE TABLE rollup_quarter_merged (
	quarter            timestamptz NOT NULL, -- the quarter hour's start (UTC)
	team               text NOT NULL,
	workflow           text NOT NULL,
	task_type          text NOT NULL,
	provider           text NOT NULL,
	model              text NOT NULL,
	tier               text NOT NULL,
	calls              bigint NOT NULL,
	input_tokens       numeric NOT NULL,
	output_tokens      numeric NOT NULL,
	cache_read_tokens  numeric NOT NULL,
	cache_write_tokens numeric NOT NULL,
	reasoning_tokens   numeric NOT NULL,
	cost_pusd          numeric NOT NULL,
	unpriced_calls     bigint NOT NULL,
	PRIMARY KEY (quarter, team, workflow, task_type, provider, model, tier)
);

CREATE FUNCTION tally_rollup_quarter(lo timestamptz, hi timestamptz, queued boolean)
RETURNS SETOF rollup_quarter_merged LANGUAGE sql STABLE AS $$
	SELECT date_bin('15 minutes', c.ts, timestamptz '2000-01-01 00:00:00+00'), c.team,
		c.workflow, c.task_type, c.provider, c.model, c.tier, count(*),
		sum(c.input_tokens), sum(c.output_tokens), sum(c.cache_read_tokens),
		sum(c.cache_write_tokens), sum(c.reasoning_tokens), coalesce(sum(c.cost_pusd), 0),
		count(*) FILTER (WHERE c.cost_pusd IS NULL)
	FROM calls c
	WHERE c.ts >= lo AND c.ts < hi AND (NOT queued
		OR c.ingest_xid = ANY ((SELECT array_agg(xid) FROM rollup_queue)::bigint[]))
	GROUP BY 1, 2, 3, 4, 5, 6, 7
$$;

CREATE FUNCTION tally_rollup_quarter_queued() RETURNS SETOF rollup_quarter_merged
LANGUAGE plpgsql STABLE ROWS 10 AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM rollup_queue) THEN
		RETURN QUERY SELECT * FROM tally_rollup_quarter('-infinity', 'infinity', true);
	END IF;
END $$;

CREATE VIEW rollup_quarter AS
	SELECT * FROM rollup_quarter_merged UNION ALL SELECT * FROM tally_rollup_quarter_queued();

-- The calls so far summed into their quarters, less those still queued
-- (the next roll sums them, as into the other rollups). No roll runs
-- meanwhile (the lock a rebuild takes).
LOCK TABLE rollup_queue IN EXCLUSIVE MODE;
INSERT INTO rollup_quarter_merged
SELECT * FROM tally_rollup_quarter('-infinity', 'infinity', false) ORDER BY 1, 2, 3, 4, 5, 6, 7;
UPDATE rollup_quarter_merged r SET calls = r.calls - q.calls,
	input_tokens = r.input_tokens - q.input_tokens,
	output_tokens = r.output_tokens - q.output_tokens,
	cache_read_tokens = r.cache_read_tokens - q.cache_read_tokens,
	cache_write_tokens = r.cache_write_tokens - q.cache_write_tokens,
	reasoning_tokens = r.reasoning_tokens - q.reasoning_tokens,
	cost_pusd = r.cost_pusd - q.cost_pusd, unpriced_calls = r.unpriced_calls - q.unpriced_calls
FROM tally_rollup_quarter('-infinity', 'infinity', true) q
WHERE (r.quarter, r.team, r.workflow, r.task_type, r.provider, r.model, r.tier)
	= (q.quarter, q.team, q.workflow, q.task_type, q.provider, q.model, q.tier);
DELETE FROM rollup_quarter_merged WHERE calls = 0;
