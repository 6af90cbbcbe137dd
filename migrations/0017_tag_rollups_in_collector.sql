-- 0017_tag_rollups_in_collector.sql - rollup_tags_hourly is summed by the
-- collector with the other rollups (ledger/rollups_write.c) and upserted in
-- the batch's one rollup statement, and rebuilt from the calls by `tally
-- rollups rebuild` and `tally prices reprice` (ledger/prices_db.c), like
-- rollup_hourly. The statement triggers of 0014 did it per COPY, at about a
-- third of the collector's write time (bench/README.md): they go.
DROP TRIGGER calls_tag_rollup_insert ON calls;
DROP TRIGGER calls_tag_rollup_update ON calls;
DROP FUNCTION tally_tag_rollup_apply();
