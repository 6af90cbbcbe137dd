-- 0015_unit_components: the per-unit price components of LiteLLM's map that
-- a call can incur (docs/prices.md, "Per-unit components"): images, pixels,
-- seconds (audio, video, any), characters, and xAI Live Search sources.
-- ledger/price_components.h lists them; this adds their columns:
--   price_book: <variant><component>_pusd for every variant (pico-USD per
--               image, pixel, second, character or source);
--   calls:      <component>_qty, _cost_pusd, _list_pusd (NULL where 0);
--   rollup_charges: the same, summed per hour. Its table is rebuilt so that
--               its columns stay in PC_CALL_COLS order (quantities, costs,
--               list costs, then cost_pusd): the collector stages rows LIKE
--               it and readers use SELECT *. Before 0017 that is the table
--               rollup_charges; on a ledger where 0017 already made it a view
--               over rollup_charges_merged and rollup_charges_pending (a
--               ledger migrated before this migration existed), both tables
--               are rebuilt and the view made again.
-- Existing calls incurred none of these: their new columns are NULL (0), and
-- the rollup keeps every figure it had.

ALTER TABLE price_book
	ADD COLUMN input_images_pusd bigint,
	ADD COLUMN output_images_pusd bigint,
	ADD COLUMN input_pixels_pusd bigint,
	ADD COLUMN output_pixels_pusd bigint,
	ADD COLUMN input_seconds_pusd bigint,
	ADD COLUMN output_seconds_pusd bigint,
	ADD COLUMN audio_input_seconds_pusd bigint,
	ADD COLUMN video_input_seconds_pusd bigint,
	ADD COLUMN video_output_seconds_pusd bigint,
	ADD COLUMN input_chars_pusd bigint,
	ADD COLUMN output_chars_pusd bigint,
	ADD COLUMN live_search_pusd bigint,
	ADD COLUMN batch_input_images_pusd bigint,
	ADD COLUMN batch_output_images_pusd bigint,
	ADD COLUMN batch_input_pixels_pusd bigint,
	ADD COLUMN batch_output_pixels_pusd bigint,
	ADD COLUMN batch_input_seconds_pusd bigint,
	ADD COLUMN batch_output_seconds_pusd bigint,
	ADD COLUMN batch_audio_input_seconds_pusd bigint,
	ADD COLUMN batch_video_input_seconds_pusd bigint,
	ADD COLUMN batch_video_output_seconds_pusd bigint,
	ADD COLUMN batch_input_chars_pusd bigint,
	ADD COLUMN batch_output_chars_pusd bigint,
	ADD COLUMN batch_live_search_pusd bigint,
	ADD COLUMN flex_input_images_pusd bigint,
	ADD COLUMN flex_output_images_pusd bigint,
	ADD COLUMN flex_input_pixels_pusd bigint,
	ADD COLUMN flex_output_pixels_pusd bigint,
	ADD COLUMN flex_input_seconds_pusd bigint,
	ADD COLUMN flex_output_seconds_pusd bigint,
	ADD COLUMN flex_audio_input_seconds_pusd bigint,
	ADD COLUMN flex_video_input_seconds_pusd bigint,
	ADD COLUMN flex_video_output_seconds_pusd bigint,
	ADD COLUMN flex_input_chars_pusd bigint,
	ADD COLUMN flex_output_chars_pusd bigint,
	ADD COLUMN flex_live_search_pusd bigint,
	ADD COLUMN priority_input_images_pusd bigint,
	ADD COLUMN priority_output_images_pusd bigint,
	ADD COLUMN priority_input_pixels_pusd bigint,
	ADD COLUMN priority_output_pixels_pusd bigint,
	ADD COLUMN priority_input_seconds_pusd bigint,
	ADD COLUMN priority_output_seconds_pusd bigint,
	ADD COLUMN priority_audio_input_seconds_pusd bigint,
	ADD COLUMN priority_video_input_seconds_pusd bigint,
	ADD COLUMN priority_video_output_seconds_pusd bigint,
	ADD COLUMN priority_input_chars_pusd bigint,
	ADD COLUMN priority_output_chars_pusd bigint,
	ADD COLUMN priority_live_search_pusd bigint,
	ADD COLUMN above_input_images_pusd bigint,
	ADD COLUMN above_output_images_pusd bigint,
	ADD COLUMN above_input_pixels_pusd bigint,
	ADD COLUMN above_output_pixels_pusd bigint,
	ADD COLUMN above_input_seconds_pusd bigint,
	ADD COLUMN above_output_seconds_pusd bigint,
	ADD COLUMN above_audio_input_seconds_pusd bigint,
	ADD COLUMN above_video_input_seconds_pusd bigint,
	ADD COLUMN above_video_output_seconds_pusd bigint,
	ADD COLUMN above_input_chars_pusd bigint,
	ADD COLUMN above_output_chars_pusd bigint,
	ADD COLUMN above_live_search_pusd bigint,
	ADD COLUMN above_priority_input_images_pusd bigint,
	ADD COLUMN above_priority_output_images_pusd bigint,
	ADD COLUMN above_priority_input_pixels_pusd bigint,
	ADD COLUMN above_priority_output_pixels_pusd bigint,
	ADD COLUMN above_priority_input_seconds_pusd bigint,
	ADD COLUMN above_priority_output_seconds_pusd bigint,
	ADD COLUMN above_priority_audio_input_seconds_pusd bigint,
	ADD COLUMN above_priority_video_input_seconds_pusd bigint,
	ADD COLUMN above_priority_video_output_seconds_pusd bigint,
	ADD COLUMN above_priority_input_chars_pusd bigint,
	ADD COLUMN above_priority_output_chars_pusd bigint,
	ADD COLUMN above_priority_live_search_pusd bigint;

ALTER TABLE calls
	ADD COLUMN input_images_qty bigint,
	ADD COLUMN output_images_qty bigint,
	ADD COLUMN input_pixels_qty bigint,
	ADD COLUMN output_pixels_qty bigint,
	ADD COLUMN input_seconds_qty bigint,
	ADD COLUMN output_seconds_qty bigint,
	ADD COLUMN audio_input_seconds_qty bigint,
	ADD COLUMN video_input_seconds_qty bigint,
	ADD COLUMN video_output_seconds_qty bigint,
	ADD COLUMN input_chars_qty bigint,
	ADD COLUMN output_chars_qty bigint,
	ADD COLUMN live_search_qty bigint,
	ADD COLUMN input_images_cost_pusd bigint,
	ADD COLUMN output_images_cost_pusd bigint,
	ADD COLUMN input_pixels_cost_pusd bigint,
	ADD COLUMN output_pixels_cost_pusd bigint,
	ADD COLUMN input_seconds_cost_pusd bigint,
	ADD COLUMN output_seconds_cost_pusd bigint,
	ADD COLUMN audio_input_seconds_cost_pusd bigint,
	ADD COLUMN video_input_seconds_cost_pusd bigint,
	ADD COLUMN video_output_seconds_cost_pusd bigint,
	ADD COLUMN input_chars_cost_pusd bigint,
	ADD COLUMN output_chars_cost_pusd bigint,
	ADD COLUMN live_search_cost_pusd bigint,
	ADD COLUMN input_images_list_pusd bigint,
	ADD COLUMN output_images_list_pusd bigint,
	ADD COLUMN input_pixels_list_pusd bigint,
	ADD COLUMN output_pixels_list_pusd bigint,
	ADD COLUMN input_seconds_list_pusd bigint,
	ADD COLUMN output_seconds_list_pusd bigint,
	ADD COLUMN audio_input_seconds_list_pusd bigint,
	ADD COLUMN video_input_seconds_list_pusd bigint,
	ADD COLUMN video_output_seconds_list_pusd bigint,
	ADD COLUMN input_chars_list_pusd bigint,
	ADD COLUMN output_chars_list_pusd bigint,
	ADD COLUMN live_search_list_pusd bigint;

DO $$
DECLARE
	cols CONSTANT text := '
		hour timestamptz NOT NULL, team text NOT NULL, workflow text NOT NULL,
		task_type text NOT NULL, provider text NOT NULL, model text NOT NULL,
		calls bigint NOT NULL, input_qty numeric NOT NULL, cache_read_qty numeric NOT NULL,
		cache_write_qty numeric NOT NULL, cache_write_1h_qty numeric NOT NULL,
		audio_input_qty numeric NOT NULL, audio_cache_read_qty numeric NOT NULL,
		image_input_qty numeric NOT NULL, output_qty numeric NOT NULL,
		reasoning_qty numeric NOT NULL, audio_output_qty numeric NOT NULL,
		image_output_qty numeric NOT NULL, web_search_qty numeric NOT NULL,
		request_qty numeric NOT NULL, input_images_qty numeric NOT NULL,
		output_images_qty numeric NOT NULL, input_pixels_qty numeric NOT NULL,
		output_pixels_qty numeric NOT NULL, input_seconds_qty numeric NOT NULL,
		output_seconds_qty numeric NOT NULL, audio_input_seconds_qty numeric NOT NULL,
		video_input_seconds_qty numeric NOT NULL, video_output_seconds_qty numeric NOT NULL,
		input_chars_qty numeric NOT NULL, output_chars_qty numeric NOT NULL,
		live_search_qty numeric NOT NULL, input_cost_pusd numeric NOT NULL,
		cache_read_cost_pusd numeric NOT NULL, cache_write_cost_pusd numeric NOT NULL,
		cache_write_1h_cost_pusd numeric NOT NULL, audio_input_cost_pusd numeric NOT NULL,
		audio_cache_read_cost_pusd numeric NOT NULL, image_input_cost_pusd numeric NOT NULL,
		output_cost_pusd numeric NOT NULL, reasoning_cost_pusd numeric NOT NULL,
		audio_output_cost_pusd numeric NOT NULL, image_output_cost_pusd numeric NOT NULL,
		web_search_cost_pusd numeric NOT NULL, request_cost_pusd numeric NOT NULL,
		input_images_cost_pusd numeric NOT NULL, output_images_cost_pusd numeric NOT NULL,
		input_pixels_cost_pusd numeric NOT NULL, output_pixels_cost_pusd numeric NOT NULL,
		input_seconds_cost_pusd numeric NOT NULL, output_seconds_cost_pusd numeric NOT NULL,
		audio_input_seconds_cost_pusd numeric NOT NULL,
		video_input_seconds_cost_pusd numeric NOT NULL,
		video_output_seconds_cost_pusd numeric NOT NULL,
		input_chars_cost_pusd numeric NOT NULL, output_chars_cost_pusd numeric NOT NULL,
		live_search_cost_pusd numeric NOT NULL, input_list_pusd numeric NOT NULL,
		cache_read_list_pusd numeric NOT NULL, cache_write_list_pusd numeric NOT NULL,
		cache_write_1h_list_pusd numeric NOT NULL, audio_input_list_pusd numeric NOT NULL,
		audio_cache_read_list_pusd numeric NOT NULL, image_input_list_pusd numeric NOT NULL,
		output_list_pusd numeric NOT NULL, reasoning_list_pusd numeric NOT NULL,
		audio_output_list_pusd numeric NOT NULL, image_output_list_pusd numeric NOT NULL,
		web_search_list_pusd numeric NOT NULL, request_list_pusd numeric NOT NULL,
		input_images_list_pusd numeric NOT NULL, output_images_list_pusd numeric NOT NULL,
		input_pixels_list_pusd numeric NOT NULL, output_pixels_list_pusd numeric NOT NULL,
		input_seconds_list_pusd numeric NOT NULL, output_seconds_list_pusd numeric NOT NULL,
		audio_input_seconds_list_pusd numeric NOT NULL,
		video_input_seconds_list_pusd numeric NOT NULL,
		video_output_seconds_list_pusd numeric NOT NULL,
		input_chars_list_pusd numeric NOT NULL, output_chars_list_pusd numeric NOT NULL,
		live_search_list_pusd numeric NOT NULL, cost_pusd numeric NOT NULL';
	sel CONSTANT text := '
		hour, team, workflow, task_type, provider, model, calls, input_qty, cache_read_qty,
		cache_write_qty, cache_write_1h_qty, audio_input_qty, audio_cache_read_qty,
		image_input_qty, output_qty, reasoning_qty, audio_output_qty, image_output_qty,
		web_search_qty, request_qty, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, input_cost_pusd,
		cache_read_cost_pusd, cache_write_cost_pusd, cache_write_1h_cost_pusd,
		audio_input_cost_pusd, audio_cache_read_cost_pusd, image_input_cost_pusd,
		output_cost_pusd, reasoning_cost_pusd, audio_output_cost_pusd,
		image_output_cost_pusd, web_search_cost_pusd, request_cost_pusd, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 0, 0, 0, input_list_pusd, cache_read_list_pusd, cache_write_list_pusd,
		cache_write_1h_list_pusd, audio_input_list_pusd, audio_cache_read_list_pusd,
		image_input_list_pusd, output_list_pusd, reasoning_list_pusd, audio_output_list_pusd,
		image_output_list_pusd, web_search_list_pusd, request_list_pusd, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 0, 0, 0, cost_pusd';
	merged CONSTANT boolean := to_regclass('rollup_charges_merged') IS NOT NULL;
	t text;
	pk text;
BEGIN
	IF merged THEN
		DROP VIEW rollup_charges;
	END IF;
	FOREACH t IN ARRAY CASE WHEN merged
		THEN ARRAY['rollup_charges_merged', 'rollup_charges_pending']
		ELSE ARRAY['rollup_charges'] END
	LOOP
		EXECUTE format('ALTER TABLE %I RENAME TO %I', t, t || '_0014');
		-- the primary key keeps its name when its table is renamed: free it
		FOR pk IN SELECT conname FROM pg_constraint
			WHERE conrelid = (t || '_0014')::regclass AND contype = 'p'
		LOOP
			EXECUTE format('ALTER TABLE %I RENAME CONSTRAINT %I TO %I', t || '_0014', pk,
				t || '_0014_pkey');
		END LOOP;
		-- the pending deltas have no key (0017): an append is a heap insert
		EXECUTE format('CREATE TABLE %I (%s%s)', t, cols, CASE WHEN t = 'rollup_charges_pending'
			THEN '' ELSE ', PRIMARY KEY (hour, team, workflow, task_type, provider, model)' END);
		EXECUTE format('INSERT INTO %I SELECT %s FROM %I', t, sel, t || '_0014');
		EXECUTE format('DROP TABLE %I', t || '_0014');
	END LOOP;
	IF merged THEN
		CREATE VIEW rollup_charges AS
			SELECT * FROM rollup_charges_merged UNION ALL SELECT * FROM rollup_charges_pending;
	END IF;
END $$;
