-- 0013_reconcile: the providers' own cost reports beside the ledger
-- (docs/reconcile.md). Money: numeric pico-USD (1e-12 USD), never float.

-- One row per imported document: where it came from (provenance).
CREATE TABLE reconcile_imports (
	id           bigserial PRIMARY KEY,
	source       text NOT NULL CHECK (source IN ('openai', 'anthropic', 'focus')),
	kind         text NOT NULL DEFAULT 'cost' CHECK (kind IN ('cost', 'usage')),
	file_name    text NOT NULL,
	sha256       text NOT NULL,
	period_start date NOT NULL,   -- first day the document covers
	period_end   date NOT NULL,   -- day after the last
	providers    text[] NOT NULL, -- the providers it bills (its rows replace theirs)
	lines        integer NOT NULL,
	skipped      integer NOT NULL DEFAULT 0,
	imported_at  timestamptz NOT NULL DEFAULT now(),
	imported_by  text NOT NULL
);

-- The billed lines, summed per day and line identity. A re-import of the
-- same source, provider and days replaces them. model is the bill's model
-- name as found in the line (NULL: the line names no model tally knows how
-- to read, shown as unmatched); tally_reconcile_model() canonicalises it.
CREATE TABLE reconcile_lines (
	source      text NOT NULL,
	day         date NOT NULL,
	provider    text NOT NULL,    -- canonical (tally_reconcile_provider)
	project     text NOT NULL,    -- project / workspace / account; '' when none
	line_item   text NOT NULL,    -- the bill's own identity of the line
	model       text,             -- canonical model, NULL when unmatched
	amount_pusd numeric(40, 0) NOT NULL,
	import_id   bigint NOT NULL REFERENCES reconcile_imports,
	PRIMARY KEY (source, day, provider, project, line_item)
);
CREATE INDEX reconcile_lines_day ON reconcile_lines (day);

-- What the providers' usage documents counted (OpenAI usage/completions,
-- Anthropic usage_report/messages), per day and model, replaced like the bill
-- lines. input_tokens counts cached input too, as calls.input_tokens does.
CREATE TABLE reconcile_usage (
	source        text NOT NULL,
	day           date NOT NULL,
	provider      text NOT NULL,
	project       text NOT NULL,
	line_item     text NOT NULL,  -- the model as the document names it
	model         text,           -- canonical, NULL when none
	requests      bigint,         -- NULL when the document does not count them
	input_tokens  bigint NOT NULL,
	output_tokens bigint NOT NULL,
	import_id     bigint NOT NULL REFERENCES reconcile_imports,
	PRIMARY KEY (source, day, provider, project, line_item)
);

-- Admin-edited: which tally team a provider project / workspace / account /
-- API key belongs to.
CREATE TABLE reconcile_map (
	provider   text NOT NULL,
	project    text NOT NULL,
	team       text NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (provider, project)
);

-- The drift alert threshold (one row; none: no alerts).
CREATE TABLE reconcile_settings (
	id            boolean PRIMARY KEY DEFAULT true CHECK (id),
	threshold_pct numeric(7, 2) NOT NULL CHECK (threshold_pct > 0),
	updated_at    timestamptz NOT NULL DEFAULT now()
);

-- A drift alert fires once per day and provider.
CREATE TABLE reconcile_alerts (
	id            bigserial PRIMARY KEY,
	day           date NOT NULL,
	provider      text NOT NULL,
	threshold_pct numeric(7, 2) NOT NULL,
	billed_pusd   numeric(40, 0) NOT NULL,
	ledger_pusd   numeric(40, 0) NOT NULL,
	diff_pct      numeric(12, 2),
	import_id     bigint NOT NULL,
	fired_at      timestamptz NOT NULL DEFAULT now(),
	UNIQUE (day, provider)
);

-- Provider names of bills and of events to one spelling.
CREATE FUNCTION tally_reconcile_provider(p text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE
		WHEN l IN ('bedrock', 'aws', 'aws_bedrock', 'bedrock_converse', 'amazon bedrock')
			THEN 'bedrock'
		WHEN l IN ('azure', 'azure_openai', 'azure_ai', 'azure openai') THEN 'azure'
		WHEN l IN ('vertex', 'vertex_ai', 'google', 'gemini', 'vertex ai')
			OR l LIKE 'vertex_ai-%' THEN 'vertex_ai'
		ELSE l END
	FROM (SELECT lower(p) AS l) x
$$;

-- Model names of bills and of events to one spelling (docs/reconcile.md):
-- lower case; Bedrock's region and vendor prefixes ("us.anthropic.") and
-- version suffix ("-v1:0"); Vertex's "publishers/.../models/" and "@date";
-- a release date ("-2024-07-18", "-20241022") or Azure's "-0718" at the end;
-- "-latest". Versions of one model are reconciled together.
CREATE FUNCTION tally_reconcile_model(m text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT nullif(
		regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace(
		regexp_replace(lower(m),
			'^(.*/)?models/', ''),
			'^((us|eu|apac|global|us-gov)\.)?(anthropic|meta|amazon|mistral|cohere|ai21|deepseek|openai|qwen|writer)\.', ''),
			'-v[0-9]+(:[0-9]+)?$', ''),
			'@.*$', ''),
			'-(latest|[0-9]{4}-[0-9]{2}-[0-9]{2}|[0-9]{8})$', ''),
			'^((gpt|o[0-9]).*)-[0-9]{4}$', '\1'),
		'')
$$;
