-- 0023_probe_calls_slices.sql - the collector's duplicate probe
-- (ledger/calls_write.c) told which ids to look up in which month partition:
-- months[i] (year * 12 + month - 1) with the slice ids[firsts[i]:lasts[i]],
-- the ids whose calls lie within LEDGER_DEDUPE_WINDOW_US of that month (the
-- caller sorts the ids by ts, so each month's are a slice, and keeps the
-- stored calls within the window of each call). Given one range for the
-- whole batch (0020), a batch spread over a month (a backfill, a collector
-- catching up) looked every id up in three partitions. Still each id by the
-- partition's primary key, never the partitioned table (0020 says why).
DROP FUNCTION tally_probe_calls(text[], timestamptz, timestamptz);
CREATE FUNCTION tally_probe_calls(ids text[], months int[], firsts int[], lasts int[])
RETURNS TABLE (event_id text, ts_us bigint)
LANGUAGE plpgsql
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off
AS $$
DECLARE
	part text;
BEGIN
	FOR i IN 1 .. coalesce(array_length(months, 1), 0) LOOP
		part := format('calls_%s_%s', lpad((months[i] / 12)::text, 4, '0'),
			lpad((months[i] % 12 + 1)::text, 2, '0'));
		IF to_regclass(part) IS NOT NULL THEN
			RETURN QUERY EXECUTE format(
				'SELECT c.event_id, (extract(epoch FROM c.ts) * 1000000)::bigint'
				' FROM unnest($1) u(id) JOIN %I c ON c.event_id = u.id', part)
				USING ids[firsts[i]:lasts[i]];
		END IF;
	END LOOP;
END $$;
