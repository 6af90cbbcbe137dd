-- 0017_rollups_merged_pending.sql - the rollups written by the collector
-- alone, and kept as merged rows plus pending deltas.
--
-- rollup_tags_hourly is summed by the collector with the other rollups
-- (ledger/rollups_write.c) in the batch's transaction, and rebuilt from the
-- calls by `tally rollups rebuild` and `tally prices reprice`
-- (ledger/prices_db.c), like rollup_hourly. The statement triggers of 0014
-- did it per COPY, at about a third of the collector's write time
-- (bench/README.md): they go.
DROP TRIGGER calls_tag_rollup_insert ON calls;
DROP TRIGGER calls_tag_rollup_update ON calls;
DROP FUNCTION tally_tag_rollup_apply();

-- Rollups as merged rows plus pending deltas (bench/README.md, "Rollups
-- merged behind the batches"). Each rollup is now a view over two tables of
-- the same columns:
--   <rollup>_merged   one row per key (the primary key): what was merged;
--   <rollup>_pending  the deltas of recent batches, appended by the
--                     collector in each batch's transaction (no index: an
--                     append costs a heap insert, not an index probe).
-- The collector appends a batch's deltas where they aggregate across
-- batches (live traffic: the same keys every batch) and upserts them into
-- _merged directly where they do not (a backfill spread over many hours);
-- it folds _pending into _merged in one transaction of its own every few
-- seconds, when idle and on exit (`tally rollups merge` does it by hand).
-- A reader summing the view by key sees, in any one statement, the merged
-- rows and exactly the pending ones not yet merged: exact at every instant.
-- Locks, where several are taken, go in this order: daily, charges, tags,
-- hourly, and of each the _pending table before the _merged one.
ALTER TABLE rollup_daily RENAME TO rollup_daily_merged;
CREATE TABLE rollup_daily_pending (LIKE rollup_daily_merged);
CREATE VIEW rollup_daily AS
	SELECT * FROM rollup_daily_merged UNION ALL SELECT * FROM rollup_daily_pending;

ALTER TABLE rollup_charges RENAME TO rollup_charges_merged;
CREATE TABLE rollup_charges_pending (LIKE rollup_charges_merged);
CREATE VIEW rollup_charges AS
	SELECT * FROM rollup_charges_merged UNION ALL SELECT * FROM rollup_charges_pending;

ALTER TABLE rollup_tags_hourly RENAME TO rollup_tags_hourly_merged;
CREATE TABLE rollup_tags_hourly_pending (LIKE rollup_tags_hourly_merged);
CREATE VIEW rollup_tags_hourly AS
	SELECT * FROM rollup_tags_hourly_merged UNION ALL SELECT * FROM rollup_tags_hourly_pending;

ALTER TABLE rollup_hourly RENAME TO rollup_hourly_merged;
CREATE TABLE rollup_hourly_pending (LIKE rollup_hourly_merged);
CREATE VIEW rollup_hourly AS
	SELECT * FROM rollup_hourly_merged UNION ALL SELECT * FROM rollup_hourly_pending;
