-- 0010_price_components: every price component a provider invoices, priced
-- once (ledger/price_components.h is the one list; docs/prices.md the rules).
--
-- price_book gains a rate per component and variant (standard, batch, flex,
-- priority, first long-context tier, its priority rates), the scalars of the
-- rules (inclusive threshold, documented batch discount, regional, inference
-- geography and fast-mode multipliers in ppm) and further long-context tiers.
-- calls store per component what the call incurred (qty), what it was billed
-- (cost) and its cost at list rates (list), computed by the one C pricer; the
-- reports only sum them. rollup_charges is rebuilt in that shape, and the SQL
-- copy of the pricing rule (tally_price_mode) goes.
--
-- The per-component columns of calls are NULL where 0 (most components of most
-- calls): a NULL takes no room in the row, so a call stays narrow. Readers sum
-- them (sum ignores NULL) or coalesce.
--
-- Existing calls keep their stored cost to the pico-USD: their components are
-- derived once here by the rule that priced them (0005's), the output
-- component taking what the others leave, so that they sum to cost_pusd.

ALTER TABLE price_book
	ADD COLUMN cache_write_1h_pusd bigint,
	ADD COLUMN audio_input_pusd bigint,
	ADD COLUMN audio_cache_read_pusd bigint,
	ADD COLUMN image_input_pusd bigint,
	ADD COLUMN audio_output_pusd bigint,
	ADD COLUMN image_output_pusd bigint,
	ADD COLUMN web_search_pusd bigint,
	ADD COLUMN request_pusd bigint,
	ADD COLUMN batch_cache_read_pusd bigint,
	ADD COLUMN batch_cache_write_pusd bigint,
	ADD COLUMN batch_cache_write_1h_pusd bigint,
	ADD COLUMN batch_audio_input_pusd bigint,
	ADD COLUMN batch_audio_cache_read_pusd bigint,
	ADD COLUMN batch_image_input_pusd bigint,
	ADD COLUMN batch_reasoning_pusd bigint,
	ADD COLUMN batch_audio_output_pusd bigint,
	ADD COLUMN batch_image_output_pusd bigint,
	ADD COLUMN batch_web_search_pusd bigint,
	ADD COLUMN batch_request_pusd bigint,
	ADD COLUMN flex_input_pusd bigint,
	ADD COLUMN flex_cache_read_pusd bigint,
	ADD COLUMN flex_cache_write_pusd bigint,
	ADD COLUMN flex_cache_write_1h_pusd bigint,
	ADD COLUMN flex_audio_input_pusd bigint,
	ADD COLUMN flex_audio_cache_read_pusd bigint,
	ADD COLUMN flex_image_input_pusd bigint,
	ADD COLUMN flex_output_pusd bigint,
	ADD COLUMN flex_reasoning_pusd bigint,
	ADD COLUMN flex_audio_output_pusd bigint,
	ADD COLUMN flex_image_output_pusd bigint,
	ADD COLUMN flex_web_search_pusd bigint,
	ADD COLUMN flex_request_pusd bigint,
	ADD COLUMN priority_input_pusd bigint,
	ADD COLUMN priority_cache_read_pusd bigint,
	ADD COLUMN priority_cache_write_pusd bigint,
	ADD COLUMN priority_cache_write_1h_pusd bigint,
	ADD COLUMN priority_audio_input_pusd bigint,
	ADD COLUMN priority_audio_cache_read_pusd bigint,
	ADD COLUMN priority_image_input_pusd bigint,
	ADD COLUMN priority_output_pusd bigint,
	ADD COLUMN priority_reasoning_pusd bigint,
	ADD COLUMN priority_audio_output_pusd bigint,
	ADD COLUMN priority_image_output_pusd bigint,
	ADD COLUMN priority_web_search_pusd bigint,
	ADD COLUMN priority_request_pusd bigint,
	ADD COLUMN above_cache_write_1h_pusd bigint,
	ADD COLUMN above_audio_input_pusd bigint,
	ADD COLUMN above_audio_cache_read_pusd bigint,
	ADD COLUMN above_image_input_pusd bigint,
	ADD COLUMN above_reasoning_pusd bigint,
	ADD COLUMN above_audio_output_pusd bigint,
	ADD COLUMN above_image_output_pusd bigint,
	ADD COLUMN above_web_search_pusd bigint,
	ADD COLUMN above_request_pusd bigint,
	ADD COLUMN above_priority_input_pusd bigint,
	ADD COLUMN above_priority_cache_read_pusd bigint,
	ADD COLUMN above_priority_cache_write_pusd bigint,
	ADD COLUMN above_priority_cache_write_1h_pusd bigint,
	ADD COLUMN above_priority_audio_input_pusd bigint,
	ADD COLUMN above_priority_audio_cache_read_pusd bigint,
	ADD COLUMN above_priority_image_input_pusd bigint,
	ADD COLUMN above_priority_output_pusd bigint,
	ADD COLUMN above_priority_reasoning_pusd bigint,
	ADD COLUMN above_priority_audio_output_pusd bigint,
	ADD COLUMN above_priority_image_output_pusd bigint,
	ADD COLUMN above_priority_web_search_pusd bigint,
	ADD COLUMN above_priority_request_pusd bigint,
	ADD COLUMN threshold_inclusive bigint NOT NULL DEFAULT 0,
	ADD COLUMN batch_discount_ppm  bigint NOT NULL DEFAULT 0,
	ADD COLUMN uplift_eu_ppm       bigint NOT NULL DEFAULT 0,
	ADD COLUMN uplift_us_ppm       bigint NOT NULL DEFAULT 0,
	ADD COLUMN geo_us_ppm          bigint NOT NULL DEFAULT 0,
	ADD COLUMN fast_ppm            bigint NOT NULL DEFAULT 0,
	ADD COLUMN extra_tiers         jsonb;  -- [{"from": tokens, "<component>": "pusd", ...}]

ALTER TABLE calls
	ADD COLUMN input_qty bigint,
	ADD COLUMN cache_read_qty bigint,
	ADD COLUMN cache_write_qty bigint,
	ADD COLUMN cache_write_1h_qty bigint,
	ADD COLUMN audio_input_qty bigint,
	ADD COLUMN audio_cache_read_qty bigint,
	ADD COLUMN image_input_qty bigint,
	ADD COLUMN output_qty bigint,
	ADD COLUMN reasoning_qty bigint,
	ADD COLUMN audio_output_qty bigint,
	ADD COLUMN image_output_qty bigint,
	ADD COLUMN web_search_qty bigint,
	ADD COLUMN request_qty bigint,
	ADD COLUMN input_cost_pusd bigint,
	ADD COLUMN cache_read_cost_pusd bigint,
	ADD COLUMN cache_write_cost_pusd bigint,
	ADD COLUMN cache_write_1h_cost_pusd bigint,
	ADD COLUMN audio_input_cost_pusd bigint,
	ADD COLUMN audio_cache_read_cost_pusd bigint,
	ADD COLUMN image_input_cost_pusd bigint,
	ADD COLUMN output_cost_pusd bigint,
	ADD COLUMN reasoning_cost_pusd bigint,
	ADD COLUMN audio_output_cost_pusd bigint,
	ADD COLUMN image_output_cost_pusd bigint,
	ADD COLUMN web_search_cost_pusd bigint,
	ADD COLUMN request_cost_pusd bigint,
	ADD COLUMN input_list_pusd bigint,
	ADD COLUMN cache_read_list_pusd bigint,
	ADD COLUMN cache_write_list_pusd bigint,
	ADD COLUMN cache_write_1h_list_pusd bigint,
	ADD COLUMN audio_input_list_pusd bigint,
	ADD COLUMN audio_cache_read_list_pusd bigint,
	ADD COLUMN image_input_list_pusd bigint,
	ADD COLUMN output_list_pusd bigint,
	ADD COLUMN reasoning_list_pusd bigint,
	ADD COLUMN audio_output_list_pusd bigint,
	ADD COLUMN image_output_list_pusd bigint,
	ADD COLUMN web_search_list_pusd bigint,
	ADD COLUMN request_list_pusd bigint,
	ADD COLUMN service_tier    text,
	ADD COLUMN data_residency  text,
	ADD COLUMN inference_geo   text,
	ADD COLUMN speed           text,
	ADD COLUMN unpriced_reason text;   -- why a known model could not be priced

-- The old rule, once, for the calls already stored (migrations/0005's
-- tally_price_mode and the FOCUS rates that went with it).
UPDATE calls c SET
	input_qty = nullif(c.input_tokens - c.cache_read_tokens - c.cache_write_tokens, 0),
	cache_read_qty = nullif(c.cache_read_tokens, 0),
	cache_write_qty = nullif(c.cache_write_tokens, 0),
	output_qty = nullif(c.output_tokens - c.reasoning_tokens, 0),
	reasoning_qty = nullif(c.reasoning_tokens, 0),
	input_cost_pusd = nullif(r.c_in, 0), cache_read_cost_pusd = nullif(r.c_cr, 0),
	cache_write_cost_pusd = nullif(r.c_cw, 0), reasoning_cost_pusd = nullif(r.c_rs, 0),
	output_cost_pusd = nullif(coalesce(c.cost_pusd, 0) - r.c_in - r.c_cr - r.c_cw - r.c_rs, 0),
	input_list_pusd = nullif(r.l_in, 0), cache_read_list_pusd = nullif(r.l_cr, 0),
	cache_write_list_pusd = nullif(r.l_cw, 0), output_list_pusd = nullif(r.l_out, 0),
	reasoning_list_pusd = nullif(r.l_rs, 0)
FROM calls c2
LEFT JOIN price_book pb ON pb.price_version = c2.price_version
CROSS JOIN LATERAL (SELECT
	c2.batch AND pb.batch_input_pusd IS NOT NULL AS bat,
	pb.threshold_tokens > 0 AND c2.input_tokens > pb.threshold_tokens
	  AND pb.above_input_pusd IS NOT NULL AS lng,
	c2.cache_hit OR c2.cost_pusd IS NULL AS free,
	coalesce(pb.input_pusd, 0) AS i, coalesce(pb.output_pusd, 0) AS o) m
CROSS JOIN LATERAL (SELECT
	CASE WHEN m.bat THEN pb.batch_input_pusd WHEN m.lng THEN pb.above_input_pusd
	  ELSE m.i END AS bi,
	CASE WHEN m.bat THEN coalesce(pb.batch_output_pusd, m.o)
	  WHEN m.lng THEN coalesce(pb.above_output_pusd, m.o) ELSE m.o END AS bo,
	CASE WHEN m.lng AND NOT m.bat
	  THEN coalesce(pb.above_cache_read_pusd, pb.cache_read_pusd, m.i)
	  ELSE coalesce(pb.cache_read_pusd, m.i) END AS bcr,
	CASE WHEN m.lng AND NOT m.bat
	  THEN coalesce(pb.above_cache_write_pusd, pb.cache_write_pusd, m.i)
	  ELSE coalesce(pb.cache_write_pusd, m.i) END AS bcw,
	CASE WHEN m.lng THEN pb.above_input_pusd ELSE m.i END AS li,
	CASE WHEN m.lng THEN coalesce(pb.above_output_pusd, m.o) ELSE m.o END AS lo,
	CASE WHEN m.lng THEN coalesce(pb.above_cache_read_pusd, pb.cache_read_pusd, m.i)
	  ELSE coalesce(pb.cache_read_pusd, m.i) END AS lcr,
	CASE WHEN m.lng THEN coalesce(pb.above_cache_write_pusd, pb.cache_write_pusd, m.i)
	  ELSE coalesce(pb.cache_write_pusd, m.i) END AS lcw) b
CROSS JOIN LATERAL (SELECT
	CASE WHEN m.free THEN 0 ELSE ((c2.input_tokens - c2.cache_read_tokens
	  - c2.cache_write_tokens)::numeric * b.bi)::bigint END AS c_in,
	CASE WHEN m.free THEN 0 ELSE (c2.cache_read_tokens::numeric * b.bcr)::bigint END AS c_cr,
	CASE WHEN m.free THEN 0 ELSE (c2.cache_write_tokens::numeric * b.bcw)::bigint END AS c_cw,
	CASE WHEN m.free THEN 0
	  ELSE (c2.reasoning_tokens::numeric * coalesce(pb.reasoning_pusd, b.bo))::bigint END AS c_rs,
	CASE WHEN pb.price_version IS NULL THEN 0 ELSE ((c2.input_tokens - c2.cache_read_tokens
	  - c2.cache_write_tokens)::numeric * b.li)::bigint END AS l_in,
	CASE WHEN pb.price_version IS NULL THEN 0
	  ELSE (c2.cache_read_tokens::numeric * b.lcr)::bigint END AS l_cr,
	CASE WHEN pb.price_version IS NULL THEN 0
	  ELSE (c2.cache_write_tokens::numeric * b.lcw)::bigint END AS l_cw,
	CASE WHEN pb.price_version IS NULL THEN 0
	  ELSE ((c2.output_tokens - c2.reasoning_tokens)::numeric * b.lo)::bigint END AS l_out,
	CASE WHEN pb.price_version IS NULL THEN 0
	  ELSE (c2.reasoning_tokens::numeric * coalesce(pb.reasoning_pusd, b.lo))::bigint END AS l_rs) r
WHERE c.event_id = c2.event_id AND c.ts = c2.ts;

-- FOCUS charges per hour and attribution, per component: quantities, billed
-- and list costs as stored on the calls.
DROP TABLE rollup_charges;
DROP FUNCTION tally_price_mode(boolean, bigint, boolean, bigint, price_book);
CREATE TABLE rollup_charges (
	hour      timestamptz NOT NULL,
	team      text NOT NULL,
	workflow  text NOT NULL,
	task_type text NOT NULL,
	provider  text NOT NULL,
	model     text NOT NULL,
	calls     bigint NOT NULL,
	input_qty numeric NOT NULL,
	cache_read_qty numeric NOT NULL,
	cache_write_qty numeric NOT NULL,
	cache_write_1h_qty numeric NOT NULL,
	audio_input_qty numeric NOT NULL,
	audio_cache_read_qty numeric NOT NULL,
	image_input_qty numeric NOT NULL,
	output_qty numeric NOT NULL,
	reasoning_qty numeric NOT NULL,
	audio_output_qty numeric NOT NULL,
	image_output_qty numeric NOT NULL,
	web_search_qty numeric NOT NULL,
	request_qty numeric NOT NULL,
	input_cost_pusd numeric NOT NULL,
	cache_read_cost_pusd numeric NOT NULL,
	cache_write_cost_pusd numeric NOT NULL,
	cache_write_1h_cost_pusd numeric NOT NULL,
	audio_input_cost_pusd numeric NOT NULL,
	audio_cache_read_cost_pusd numeric NOT NULL,
	image_input_cost_pusd numeric NOT NULL,
	output_cost_pusd numeric NOT NULL,
	reasoning_cost_pusd numeric NOT NULL,
	audio_output_cost_pusd numeric NOT NULL,
	image_output_cost_pusd numeric NOT NULL,
	web_search_cost_pusd numeric NOT NULL,
	request_cost_pusd numeric NOT NULL,
	input_list_pusd numeric NOT NULL,
	cache_read_list_pusd numeric NOT NULL,
	cache_write_list_pusd numeric NOT NULL,
	cache_write_1h_list_pusd numeric NOT NULL,
	audio_input_list_pusd numeric NOT NULL,
	audio_cache_read_list_pusd numeric NOT NULL,
	image_input_list_pusd numeric NOT NULL,
	output_list_pusd numeric NOT NULL,
	reasoning_list_pusd numeric NOT NULL,
	audio_output_list_pusd numeric NOT NULL,
	image_output_list_pusd numeric NOT NULL,
	web_search_list_pusd numeric NOT NULL,
	request_list_pusd numeric NOT NULL,
	cost_pusd numeric NOT NULL,
	PRIMARY KEY (hour, team, workflow, task_type, provider, model)
);
INSERT INTO rollup_charges
SELECT date_trunc('hour', ts AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', team, workflow, task_type,
	provider, model, count(*),
	coalesce(sum(input_qty), 0),
	coalesce(sum(cache_read_qty), 0),
	coalesce(sum(cache_write_qty), 0),
	coalesce(sum(cache_write_1h_qty), 0),
	coalesce(sum(audio_input_qty), 0),
	coalesce(sum(audio_cache_read_qty), 0),
	coalesce(sum(image_input_qty), 0),
	coalesce(sum(output_qty), 0),
	coalesce(sum(reasoning_qty), 0),
	coalesce(sum(audio_output_qty), 0),
	coalesce(sum(image_output_qty), 0),
	coalesce(sum(web_search_qty), 0),
	coalesce(sum(request_qty), 0),
	coalesce(sum(input_cost_pusd), 0),
	coalesce(sum(cache_read_cost_pusd), 0),
	coalesce(sum(cache_write_cost_pusd), 0),
	coalesce(sum(cache_write_1h_cost_pusd), 0),
	coalesce(sum(audio_input_cost_pusd), 0),
	coalesce(sum(audio_cache_read_cost_pusd), 0),
	coalesce(sum(image_input_cost_pusd), 0),
	coalesce(sum(output_cost_pusd), 0),
	coalesce(sum(reasoning_cost_pusd), 0),
	coalesce(sum(audio_output_cost_pusd), 0),
	coalesce(sum(image_output_cost_pusd), 0),
	coalesce(sum(web_search_cost_pusd), 0),
	coalesce(sum(request_cost_pusd), 0),
	coalesce(sum(input_list_pusd), 0),
	coalesce(sum(cache_read_list_pusd), 0),
	coalesce(sum(cache_write_list_pusd), 0),
	coalesce(sum(cache_write_1h_list_pusd), 0),
	coalesce(sum(audio_input_list_pusd), 0),
	coalesce(sum(audio_cache_read_list_pusd), 0),
	coalesce(sum(image_input_list_pusd), 0),
	coalesce(sum(output_list_pusd), 0),
	coalesce(sum(reasoning_list_pusd), 0),
	coalesce(sum(audio_output_list_pusd), 0),
	coalesce(sum(image_output_list_pusd), 0),
	coalesce(sum(web_search_list_pusd), 0),
	coalesce(sum(request_list_pusd), 0),
	coalesce(sum(cost_pusd), 0)
FROM calls GROUP BY 1, 2, 3, 4, 5, 6;

-- provider_cost_usd mismatches are read per provider and model over a
-- period (ledger: LRS_COST_MISMATCH).
CREATE INDEX calls_provider_cost ON calls (ts) WHERE provider_cost_pusd IS NOT NULL;
