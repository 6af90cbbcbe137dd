/* price_components.h - the one list of what a call can be billed for.
 *
 * Every price component is declared once, here. The price struct, the price
 * book's columns, the LiteLLM importer's keys, the CSV columns, the names in
 * the calls' components text, the audit export's columns and the FOCUS rows
 * are all derived from these tables. Adding a component: a line here, its
 * rule in ledger/pricing.c (price_quantities), and a migration adding its
 * price_book rate columns (docs/hacking.md); calls need no new column.
 *
 * PRICE_COMPONENTS(X): X(ID, name, litellm_key, unit). The components of a
 * call are disjoint quantities: their costs add up to the call's cost.
 *   name        - price_book column <variant><name>_pusd, the name in a
 *                 call's components text (migration 0018), CSV column
 *                 <variant><name>
 *   litellm_key - the key of LiteLLM's map holding the standard price (USD per
 *                 unit); variants append _batches, _flex, _priority,
 *                 _above_<N>k_tokens[_priority]
 *   unit        - what one quantity counts (FOCUS PricingUnit); every unit
 *                 but "tokens" is a per-unit charge counted apart from the
 *                 tokens (docs/prices.md, "Per-unit components"): no token
 *                 multiplier or batch discount applies to it, and its
 *                 quantity comes from the event's "units" object
 *                 (docs/events.md) or a usage field that reports it.
 *                 live_search_cost_per_source is not a key of LiteLLM's map:
 *                 the importer sets xAI's documented rate (docs/prices.md).
 */
#ifndef TALLY_PRICE_COMPONENTS_H
#define TALLY_PRICE_COMPONENTS_H

#include <stdbool.h>

#define PRICE_COMPONENTS(X)                                                                        \
	X(INPUT, input, "input_cost_per_token", "tokens")                                          \
	X(CACHE_READ, cache_read, "cache_read_input_token_cost", "tokens")                         \
	X(CACHE_WRITE, cache_write, "cache_creation_input_token_cost", "tokens")                   \
	X(CACHE_WRITE_1H, cache_write_1h, "cache_creation_input_token_cost_above_1hr", "tokens")   \
	X(AUDIO_INPUT, audio_input, "input_cost_per_audio_token", "tokens")                        \
	X(AUDIO_CACHE_READ, audio_cache_read, "cache_read_input_audio_token_cost", "tokens")       \
	X(IMAGE_INPUT, image_input, "input_cost_per_image_token", "tokens")                        \
	X(OUTPUT, output, "output_cost_per_token", "tokens")                                       \
	X(REASONING, reasoning, "output_cost_per_reasoning_token", "tokens")                       \
	X(AUDIO_OUTPUT, audio_output, "output_cost_per_audio_token", "tokens")                     \
	X(IMAGE_OUTPUT, image_output, "output_cost_per_image_token", "tokens")                     \
	X(WEB_SEARCH, web_search, "search_context_cost_per_query", "queries")                      \
	X(REQUEST, request, "input_cost_per_request", "requests")                                  \
	X(INPUT_IMAGES, input_images, "input_cost_per_image", "images")                            \
	X(OUTPUT_IMAGES, output_images, "output_cost_per_image", "images")                         \
	X(INPUT_PIXELS, input_pixels, "input_cost_per_pixel", "pixels")                            \
	X(OUTPUT_PIXELS, output_pixels, "output_cost_per_pixel", "pixels")                         \
	X(INPUT_SECONDS, input_seconds, "input_cost_per_second", "seconds")                        \
	X(OUTPUT_SECONDS, output_seconds, "output_cost_per_second", "seconds")                     \
	X(AUDIO_INPUT_SECONDS, audio_input_seconds, "input_cost_per_audio_per_second", "seconds")  \
	X(VIDEO_INPUT_SECONDS, video_input_seconds, "input_cost_per_video_per_second", "seconds")  \
	X(VIDEO_OUTPUT_SECONDS, video_output_seconds, "output_cost_per_video_per_second",          \
	  "seconds")                                                                               \
	X(INPUT_CHARS, input_chars, "input_cost_per_character", "characters")                      \
	X(OUTPUT_CHARS, output_chars, "output_cost_per_character", "characters")                   \
	X(LIVE_SEARCH, live_search, "live_search_cost_per_source", "sources")                      \
	X(CITATION, citation, "citation_cost_per_token", "tokens")                                 \
	X(VIDEO_OUTPUT, video_output, "output_cost_per_video_token", "tokens")

#define PC_ENUM_(ID, name, key, unit) PC_##ID,
enum price_component { PRICE_COMPONENTS(PC_ENUM_) PC_COUNT };
#undef PC_ENUM_

/* PRICE_VARIANTS(X): X(ID, column_prefix, litellm_suffix). A price version
 * holds one rate per component and variant; PRICE_UNSET where the list has
 * none. ABOVE and ABOVE_PRIORITY are the rates of the first long-context tier
 * (above threshold_tokens); further tiers live in price.tiers. */
#define PRICE_VARIANTS(X)                                                                          \
	X(STD, "", "")                                                                             \
	X(BATCH, "batch_", "_batches")                                                             \
	X(FLEX, "flex_", "_flex")                                                                  \
	X(PRIORITY, "priority_", "_priority")                                                      \
	X(ABOVE, "above_", "")                                                                     \
	X(ABOVE_PRIORITY, "above_priority_", "_priority")

#define PV_ENUM_(ID, prefix, suffix) PV_##ID,
enum price_variant { PRICE_VARIANTS(PV_ENUM_) PV_COUNT };
#undef PV_ENUM_

/* PRICE_SCALARS(X): X(name, column, csv) - the other numbers of a price
 * version, stored as bigint columns of price_book (NULL = unset = 0 here).
 *   threshold_tokens    - first long-context threshold (0: none)
 *   threshold_inclusive - 1 when the tier starts at the threshold itself (xAI)
 *   batch_discount_ppm  - a batch discount applied because the list gives no
 *                         batch price and the provider documents one (set at
 *                         import; the price version's provenance)
 *   uplift_eu_ppm, uplift_us_ppm - data-residency multipliers (1.1 = 1100000)
 *   geo_us_ppm          - Anthropic inference_geo "us" multiplier
 *   fast_ppm            - fast-mode multiplier (Anthropic speed "fast") */
#define PRICE_SCALARS(X)                                                                           \
	X(threshold_tokens)                                                                        \
	X(threshold_inclusive)                                                                     \
	X(batch_discount_ppm)                                                                      \
	X(uplift_eu_ppm)                                                                           \
	X(uplift_us_ppm)                                                                           \
	X(geo_us_ppm)                                                                              \
	X(fast_ppm)

/* Static tables derived from the lists above (ledger/pricing.c). */
extern const char *const price_component_names[PC_COUNT];
extern const char *const price_component_units[PC_COUNT];
extern const char *const price_component_litellm[PC_COUNT];
extern const char *const price_variant_prefix[PV_COUNT];
/* True for a component counted in tokens (unit "tokens"); false for the
 * per-unit charges (queries, requests, images, seconds, ...). */
bool price_component_is_token(int k);

/* ---- SQL, spelled by the preprocessor from the tables ---------------------- */

/* A call stores the components it used in one text column, `components`
 * (migrations/0018_call_components.sql): "<name>:<qty>:<cost>:<list> ..." in
 * the list's order, NULL when none (ledger_components_format). SQL reads it
 * through tally_call_components(components) (one row per component) or
 * tally_call_component(components, name, field) (1 qty, 2 cost, 3 list;
 * NULL when unused). */

/* "(... sum of the list costs ...)": a call's cost at list rates, for a
 * statement whose FROM has one table with a components column. */
#define PC_LIST_TOTAL                                                                              \
	"(SELECT coalesce(sum(pcx.list_pusd), 0) FROM tally_call_components(components) pcx)"

/* The price-book rate and scalar columns, comma-first and without blanks so
 * that the same text is an SQL column list and a CSV header:
 * ",input_pusd,...,batch_input_pusd,...,fast_ppm,extra_tiers". */
#define PB_STD_(ID, name, key, unit)   "," #name "_pusd"
#define PB_BATCH_(ID, name, key, unit) ",batch_" #name "_pusd"
#define PB_FLEX_(ID, name, key, unit)  ",flex_" #name "_pusd"
#define PB_PRIO_(ID, name, key, unit)  ",priority_" #name "_pusd"
#define PB_ABOVE_(ID, name, key, unit) ",above_" #name "_pusd"
#define PB_ABPR_(ID, name, key, unit)  ",above_priority_" #name "_pusd"
#define PB_SCALAR_(name)               "," #name
#define PB_RATE_COLS                                                                               \
	PRICE_COMPONENTS(PB_STD_)                                                                  \
	PRICE_COMPONENTS(PB_BATCH_)                                                                \
	PRICE_COMPONENTS(PB_FLEX_)                                                                 \
	PRICE_COMPONENTS(PB_PRIO_)                                                                 \
	PRICE_COMPONENTS(PB_ABOVE_)                                                                \
	PRICE_COMPONENTS(PB_ABPR_) PRICE_SCALARS(PB_SCALAR_) ",extra_tiers"

/* The calls CSV of the audit export keeps one column per component and
 * figure, ",input_qty,...,video_output_list_pusd" (empty where 0), written
 * by reports/audit.c from each call's components text: parsing it in C
 * costs next to nothing, one tally_call_component() call per column took
 * 180 us a call in SQL. */
#define PC_CSV_QTY_(ID, name, key, unit)  "," #name "_qty"
#define PC_CSV_COST_(ID, name, key, unit) "," #name "_cost_pusd"
#define PC_CSV_LIST_(ID, name, key, unit) "," #name "_list_pusd"
#define PC_CALL_CSV_HEADER                                                                         \
	PRICE_COMPONENTS(PC_CSV_QTY_) PRICE_COMPONENTS(PC_CSV_COST_) PRICE_COMPONENTS(PC_CSV_LIST_)

#endif
