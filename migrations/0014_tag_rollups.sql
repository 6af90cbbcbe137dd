-- 0014_tag_rollups.sql - spend by any tag (what attribution gateways carry:
-- api_key, user, env, ...) read from an hourly rollup instead of the calls.
--
-- One row per (tag key, hour, team, workflow, tag value) of the calls that
-- carry the tag. Kept by statement triggers on calls with transition tables:
-- every insert (the collector's COPY) adds its rows' figures, every update
-- (prices reprice) takes the old figures out and puts the new ones in, so the
-- write path needs no code of its own for it.

CREATE TABLE rollup_tags_hourly (
	tag_key            text NOT NULL,
	hour               timestamptz NOT NULL,
	team               text NOT NULL,
	workflow           text NOT NULL,
	tag_value          text NOT NULL,
	calls              bigint NOT NULL,
	input_tokens       numeric NOT NULL,
	output_tokens      numeric NOT NULL,
	cache_read_tokens  numeric NOT NULL,
	cache_write_tokens numeric NOT NULL,
	reasoning_tokens   numeric NOT NULL,
	cost_pusd          numeric NOT NULL,
	unpriced_calls     bigint NOT NULL,
	PRIMARY KEY (tag_key, hour, team, workflow, tag_value)
);

CREATE FUNCTION tally_tag_rollup_apply() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
	cols CONSTANT text := ' ts, team, workflow, tags, input_tokens, output_tokens,'
		' cache_read_tokens, cache_write_tokens, reasoning_tokens, cost_pusd';
	src text := 'SELECT 1 AS sign,' || cols || ' FROM new_calls';
BEGIN
	IF TG_OP = 'UPDATE' THEN
		src := src || ' UNION ALL SELECT -1,' || cols || ' FROM old_calls';
	END IF;
	EXECUTE $q$INSERT INTO rollup_tags_hourly AS r
	SELECT t.key, date_trunc('hour', c.ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
		c.team, c.workflow, t.value, sum(c.sign), sum(c.sign * c.input_tokens),
		sum(c.sign * c.output_tokens), sum(c.sign * c.cache_read_tokens),
		sum(c.sign * c.cache_write_tokens), sum(c.sign * c.reasoning_tokens),
		coalesce(sum(c.sign * c.cost_pusd), 0), sum(c.sign * (c.cost_pusd IS NULL)::int)
	FROM ($q$ || src || $q$) c
	CROSS JOIN LATERAL jsonb_each_text(CASE jsonb_typeof(c.tags) WHEN 'object'
		THEN c.tags ELSE '{}'::jsonb END) t
	WHERE t.value IS NOT NULL
	GROUP BY 1, 2, 3, 4, 5
	ON CONFLICT (tag_key, hour, team, workflow, tag_value) DO UPDATE SET
		calls = r.calls + excluded.calls,
		input_tokens = r.input_tokens + excluded.input_tokens,
		output_tokens = r.output_tokens + excluded.output_tokens,
		cache_read_tokens = r.cache_read_tokens + excluded.cache_read_tokens,
		cache_write_tokens = r.cache_write_tokens + excluded.cache_write_tokens,
		reasoning_tokens = r.reasoning_tokens + excluded.reasoning_tokens,
		cost_pusd = r.cost_pusd + excluded.cost_pusd,
		unpriced_calls = r.unpriced_calls + excluded.unpriced_calls$q$;
	RETURN NULL;
END $fn$;

CREATE TRIGGER calls_tag_rollup_insert AFTER INSERT ON calls
	REFERENCING NEW TABLE AS new_calls
	FOR EACH STATEMENT EXECUTE FUNCTION tally_tag_rollup_apply();
CREATE TRIGGER calls_tag_rollup_update AFTER UPDATE ON calls
	REFERENCING OLD TABLE AS old_calls NEW TABLE AS new_calls
	FOR EACH STATEMENT EXECUTE FUNCTION tally_tag_rollup_apply();

-- The calls already stored.
INSERT INTO rollup_tags_hourly
SELECT t.key, date_trunc('hour', c.ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', c.team,
	c.workflow, t.value, count(*), sum(c.input_tokens), sum(c.output_tokens),
	sum(c.cache_read_tokens), sum(c.cache_write_tokens), sum(c.reasoning_tokens),
	coalesce(sum(c.cost_pusd), 0), count(*) FILTER (WHERE c.cost_pusd IS NULL)
FROM calls c CROSS JOIN LATERAL jsonb_each_text(CASE jsonb_typeof(c.tags) WHEN 'object'
	THEN c.tags ELSE '{}'::jsonb END) t
WHERE t.value IS NOT NULL
GROUP BY 1, 2, 3, 4, 5;
