-- 0018_call_components.sql - a call's price components in one compact
-- column, and no rollup that nothing reads.
--
-- Since 0010 and 0015 every call row carried 75 per-component columns (25
-- components x quantity, billed cost, cost at list rates), almost all NULL:
-- a call uses two to four components. COPY pays for every column of every
-- row, NULL or not (bench/README.md, "Compact components"). They become one
-- text column, `components`: the components the call used, in the order of
-- ledger/price_components.h, separated by one space, each
--     <name>:<quantity>:<billed pico-USD>:<list pico-USD>
-- e.g. 'input:1200:180000000:180000000 output:300:180000000:180000000'.
-- NULL when the call used none. Written by the collector (ledger/batch.c)
-- and by reprice (ledger/prices_db.c) through one encoder
-- (ledger_components_format); read in SQL through tally_call_components() below,
-- in C through ledger_components_parse. A new component needs no column.
--
-- rollup_charges (per hour, attribution and model, the sums of the 75
-- columns) was written by every batch and merged every few seconds, and no
-- report has read it since the FOCUS export reads the calls (docs/focus.md):
-- it goes, with its view, its tables and its rebuild.

-- The components of a call, one row each: what a stored components text
-- holds. Inlined by the planner (one SELECT, LANGUAGE sql, IMMUTABLE);
-- unnest(string_to_array()) reads 200,000 calls in half the time
-- string_to_table() takes.
CREATE FUNCTION tally_call_components(components text)
RETURNS TABLE (component text, qty bigint, cost_pusd bigint, list_pusd bigint)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT split_part(e, ':', 1), split_part(e, ':', 2)::bigint,
		split_part(e, ':', 3)::bigint, split_part(e, ':', 4)::bigint
	FROM unnest(string_to_array(components, ' ')) e
$$;

-- One figure of one component: field 1 quantity, 2 billed pico-USD, 3 list
-- pico-USD; NULL when the call did not use the component (the former
-- columns' NULL). For exports that keep one column per component.
CREATE FUNCTION tally_call_component(components text, component text, field integer)
RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
	SELECT split_part(substring(' ' || components || ' '
		FROM ' ' || component || ':([-0-9:]*) '), ':', field)::bigint
$$;

ALTER TABLE calls ADD COLUMN components text;

-- The stored components, as they are, into the new column: the encoding
-- spelled from the columns themselves (names ending in _qty, in their
-- order), so that it covers whichever components this ledger has.
DO $$
DECLARE
	items text;
	drops text;
BEGIN
	SELECT string_agg(format(
			'CASE WHEN coalesce(%1$I, 0) <> 0 OR coalesce(%2$I, 0) <> 0 OR coalesce(%3$I, 0) <> 0'
			' THEN %4$L || coalesce(%1$I, 0) || '':'' || coalesce(%2$I, 0) || '':'''
			' || coalesce(%3$I, 0) END',
			k || '_qty', k || '_cost_pusd', k || '_list_pusd', k || ':'), ', ' ORDER BY ord),
		string_agg(format('DROP COLUMN %I, DROP COLUMN %I, DROP COLUMN %I',
			k || '_qty', k || '_cost_pusd', k || '_list_pusd'), ', ' ORDER BY ord)
	INTO items, drops
	FROM (SELECT left(column_name, -4) AS k, ordinal_position AS ord
		FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = 'calls'
		AND column_name LIKE '%\_qty') c;
	IF items IS NOT NULL THEN
		EXECUTE 'UPDATE calls SET components = nullif(concat_ws('' '', ' || items || '), '''')';
		EXECUTE 'ALTER TABLE calls ' || drops;
	END IF;
END $$;

DROP VIEW rollup_charges;
DROP TABLE rollup_charges_merged, rollup_charges_pending;
