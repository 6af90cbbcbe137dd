-- 0023_probe_calls_windows.sql - the collector's duplicate probe
-- (ledger/calls_write.c) given each call's own window [lo, hi] (its ts less
-- and plus LEDGER_DEDUPE_WINDOW_US): in each month partition it looks up only
-- the ids whose window reaches into that month, and returns only the stored
-- calls inside the window of their id. Given one range for the whole batch
-- (0020), a batch spread over a month (a backfill, a collector catching up)
-- looked every id up in three partitions. Still each id by the partition's
-- primary key (event_id, ts), never the partitioned table (0020 says why).
DROP FUNCTION tally_probe_calls(text[], timestamptz, timestamptz);
CREATE FUNCTION tally_probe_calls(ids text[], lo timestamptz[], hi timestamptz[])
RETURNS TABLE (event_id text)
LANGUAGE plpgsql
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off
AS $$
DECLARE
	m date;
	m_from timestamptz;
	m_to timestamptz;
	t_to timestamptz;
	part text;
BEGIN
	SELECT date_trunc('month', min(w.l) AT TIME ZONE 'UTC')::date, max(w.h)
		INTO m, t_to FROM unnest(lo, hi) AS w(l, h);
	WHILE m IS NOT NULL AND (m::timestamp AT TIME ZONE 'UTC') <= t_to LOOP
		part := format('calls_%s', to_char(m, 'YYYY_MM'));
		m_from := m::timestamp AT TIME ZONE 'UTC';
		m_to := (m + interval '1 month')::timestamp AT TIME ZONE 'UTC';
		IF to_regclass(part) IS NOT NULL THEN
			RETURN QUERY EXECUTE format(
				'SELECT c.event_id FROM unnest($1, $2, $3) u(id, lo, hi)'
				' JOIN %I c ON c.event_id = u.id AND c.ts >= u.lo AND c.ts <= u.hi'
				' WHERE u.lo < $5 AND u.hi >= $4', part)
				USING ids, lo, hi, m_from, m_to;
		END IF;
		m := m + interval '1 month';
	END LOOP;
END $$;
