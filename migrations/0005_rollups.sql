-- 0005_rollups: coarser and finer rollups next to rollup_hourly, kept in the
-- same transaction as the calls they sum (ledger/calls_write.c).
--
-- rollup_daily: rollup_hourly summed per UTC day, without status. Reports over
-- whole days (the dashboard's 30 days, a month's chargeback) read ~24x fewer
-- rows; the edges of a range that is not whole days come from rollup_hourly.
CREATE TABLE rollup_daily (
	day                timestamptz NOT NULL,    -- 00:00 UTC
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
	cache_hit_calls    bigint NOT NULL,
	PRIMARY KEY (day, team, workflow, task_type, provider, model, tier)
);

-- rollup_charges: the FOCUS export's charges per hour, attribution, price
-- version and pricing mode, with tokens split by kind as priced (input =
-- uncached input, output = output without reasoning). mode bits: 1 batch
-- rates applied, 2 above the long-context threshold, 4 free (cache hit or
-- unpriced). price_version 0: none. Each group's tokens times the rates of its
-- price version and mode give exactly the cost price_call() gave its calls.
CREATE TABLE rollup_charges (
	hour               timestamptz NOT NULL,
	team               text NOT NULL,
	workflow           text NOT NULL,
	task_type          text NOT NULL,
	provider           text NOT NULL,
	model              text NOT NULL,
	price_version      bigint NOT NULL,
	mode               smallint NOT NULL,
	calls              bigint NOT NULL,
	input_tokens       numeric NOT NULL,
	cache_read_tokens  numeric NOT NULL,
	cache_write_tokens numeric NOT NULL,
	output_tokens      numeric NOT NULL,
	reasoning_tokens   numeric NOT NULL,
	cost_pusd          numeric NOT NULL,
	PRIMARY KEY (hour, team, workflow, task_type, provider, model, price_version, mode)
);

-- The pricing mode of a call, as price_call() (ledger/pricing.c) picks its
-- rates. Used to rebuild rollup_charges from the calls (migration, reprice).
CREATE FUNCTION tally_price_mode(batch boolean, input_tokens bigint, cache_hit boolean,
	cost_pusd bigint, pb price_book) RETURNS smallint
LANGUAGE sql IMMUTABLE AS $$
	SELECT (CASE WHEN batch AND pb.batch_input_pusd IS NOT NULL THEN 1 ELSE 0 END
	      + CASE WHEN pb.threshold_tokens > 0 AND input_tokens > pb.threshold_tokens
	              AND pb.above_input_pusd IS NOT NULL THEN 2 ELSE 0 END
	      + CASE WHEN cache_hit OR cost_pusd IS NULL THEN 4 ELSE 0 END)::smallint
$$;

INSERT INTO rollup_daily
SELECT date_trunc('day', hour AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', team, workflow,
	task_type, provider, model, tier, sum(calls), sum(input_tokens), sum(output_tokens),
	sum(cache_read_tokens), sum(cache_write_tokens), sum(reasoning_tokens), sum(cost_pusd),
	sum(unpriced_calls), sum(cache_hit_calls)
FROM rollup_hourly GROUP BY 1, 2, 3, 4, 5, 6, 7;

INSERT INTO rollup_charges
SELECT date_trunc('hour', c.ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', c.team, c.workflow,
	c.task_type, c.provider, c.model, coalesce(c.price_version, 0),
	tally_price_mode(c.batch, c.input_tokens, c.cache_hit, c.cost_pusd, pb), count(*),
	sum(c.input_tokens - c.cache_read_tokens - c.cache_write_tokens),
	sum(c.cache_read_tokens), sum(c.cache_write_tokens),
	sum(c.output_tokens - c.reasoning_tokens), sum(c.reasoning_tokens),
	coalesce(sum(c.cost_pusd), 0)
FROM calls c LEFT JOIN price_book pb ON pb.price_version = c.price_version
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;
