-- 0021: room on each page of the merged rollups for the next version of its
-- rows. The collector upserts a rollup key once per window (about a second)
-- and live traffic repeats its keys window after window, so most upserts
-- update a row; with free space on the row's page the update is HOT (no new
-- index entry for the wide text key, pruned in place). Measured on a 5-column
-- text key: updates 20-40% cheaper at fillfactor 80 (bench/README.md).
-- Applies to pages written from now on; a VACUUM FULL would rewrite the rest.
ALTER TABLE rollup_hourly_merged SET (fillfactor = 80);
ALTER TABLE rollup_daily_merged SET (fillfactor = 80);
ALTER TABLE rollup_tags_hourly_merged SET (fillfactor = 80);
