-- 0019_citation_video_output.sql - two more price components
-- (ledger/price_components.h): Perplexity's citation tokens (citation;
-- LiteLLM citation_cost_per_token, sonar-deep-research) and Gemini's video
-- output tokens (video_output; output_cost_per_video_token,
-- gemini-omni-flash-preview). Since 0018 a component needs only its
-- price-book rates: one column per variant, pico-USD per token, NULL where the
-- list gives none (docs/prices.md).
ALTER TABLE price_book
	ADD COLUMN citation_pusd bigint,
	ADD COLUMN batch_citation_pusd bigint,
	ADD COLUMN flex_citation_pusd bigint,
	ADD COLUMN priority_citation_pusd bigint,
	ADD COLUMN above_citation_pusd bigint,
	ADD COLUMN above_priority_citation_pusd bigint,
	ADD COLUMN video_output_pusd bigint,
	ADD COLUMN batch_video_output_pusd bigint,
	ADD COLUMN flex_video_output_pusd bigint,
	ADD COLUMN priority_video_output_pusd bigint,
	ADD COLUMN above_video_output_pusd bigint,
	ADD COLUMN above_priority_video_output_pusd bigint;
