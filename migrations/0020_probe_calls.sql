-- 0020_probe_calls.sql - the collector's duplicate probe (ledger/calls_write.c):
-- the stored calls that share an event_id with ids, in the month partitions
-- of [t_from, t_to) only (the caller keeps those within the window of each
-- call), each id looked up in the partition's primary key. Asked of the
-- partitioned table, the planner reads every partition (a cost that grows
-- with the ledger's history: 24 months, 13x the time of 2); given a ts range,
-- it may scan the range by ts instead of looking the ids up, or hash a whole
-- partition that filled since it was last analysed (it looks empty).
CREATE FUNCTION tally_probe_calls(ids text[], t_from timestamptz, t_to timestamptz)
RETURNS TABLE (event_id text, ts_us bigint)
LANGUAGE plpgsql
SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off
AS $$
DECLARE
	m date := date_trunc('month', t_from AT TIME ZONE 'UTC')::date;
	part text;
BEGIN
	WHILE (m::timestamp AT TIME ZONE 'UTC') < t_to LOOP
		part := format('calls_%s', to_char(m, 'YYYY_MM'));
		IF to_regclass(part) IS NOT NULL THEN
			RETURN QUERY EXECUTE format(
				'SELECT c.event_id, (extract(epoch FROM c.ts) * 1000000)::bigint'
				' FROM unnest($1) u(id) JOIN %I c ON c.event_id = u.id', part)
				USING ids;
		END IF;
		m := m + interval '1 month';
	END LOOP;
END $$;
