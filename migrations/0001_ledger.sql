-- 0001_ledger: the ledger of priced LLM calls and everything around it.
-- Money: bigint pico-USD (1e-12 USD) per row, numeric for sums. Never float.

CREATE TABLE cost_centers (
	cost_center text PRIMARY KEY,
	name        text,
	created_at  timestamptz NOT NULL DEFAULT now()
);

-- Teams appear on first use; an admin maps them to a cost centre.
CREATE TABLE teams (
	team        text PRIMARY KEY,
	cost_center text REFERENCES cost_centers,
	first_seen  timestamptz NOT NULL DEFAULT now()
);

-- Effective-dated price book; prices in pico-USD per token (NULL = not
-- priced apart). price_version identifies the row that priced a call.
CREATE TABLE price_book (
	price_version     bigserial PRIMARY KEY,
	provider          text NOT NULL,
	model             text NOT NULL,
	tier              text NOT NULL,
	effective_from    timestamptz NOT NULL,
	input_pusd        bigint,
	output_pusd       bigint,
	cache_read_pusd   bigint,
	cache_write_pusd  bigint,
	reasoning_pusd    bigint,
	batch_input_pusd  bigint,
	batch_output_pusd bigint,
	threshold_tokens  bigint NOT NULL DEFAULT 0,
	above_input_pusd       bigint,
	above_output_pusd      bigint,
	above_cache_read_pusd  bigint,
	above_cache_write_pusd bigint,
	source            text NOT NULL,
	imported_at       timestamptz NOT NULL DEFAULT now(),
	UNIQUE (provider, model, effective_from)
);

-- One row per call. Partitioned by month of ts (retention = drop a
-- partition); team is the distribution key for a sharded PostgreSQL.
-- Duplicates are refused by event_id (see ledger/batch.c).
CREATE TABLE calls (
	event_id           text NOT NULL,
	ts                 timestamptz NOT NULL,
	team               text NOT NULL,
	workflow           text NOT NULL,
	task_type          text NOT NULL,
	outcome_id         text,
	provider           text NOT NULL,
	model              text NOT NULL,
	tier               text NOT NULL,
	input_tokens       bigint NOT NULL,
	output_tokens      bigint NOT NULL,
	cache_read_tokens  bigint NOT NULL,
	cache_write_tokens bigint NOT NULL,
	reasoning_tokens   bigint NOT NULL,
	usage_shape        text NOT NULL,
	batch              boolean NOT NULL,
	cache_hit          boolean NOT NULL,
	local              boolean NOT NULL,
	status             text NOT NULL,
	latency_ms         integer,
	prompt_hash        text,
	quality            real,
	provider_cost_pusd bigint,
	cost_pusd          bigint,          -- NULL: unpriced
	price_version      bigint,          -- the price_book row used
	tags               jsonb,
	kafka_topic        text,
	kafka_partition    integer,
	kafka_offset       bigint,
	ingested_at        timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (event_id, ts)
) PARTITION BY RANGE (ts);

CREATE INDEX calls_ts ON calls (ts);
CREATE INDEX calls_outcome ON calls (outcome_id) WHERE outcome_id IS NOT NULL;
CREATE INDEX calls_unpriced ON calls (ts) WHERE cost_pusd IS NULL;

-- Creates the month partition holding ts if missing (serialised by an
-- advisory lock so that concurrent collectors do not race).
CREATE FUNCTION tally_ensure_month(t timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	m date := date_trunc('month', t AT TIME ZONE 'UTC')::date;
	name text := format('calls_%s', to_char(m, 'YYYY_MM'));
BEGIN
	IF to_regclass(name) IS NOT NULL THEN
		RETURN;
	END IF;
	PERFORM pg_advisory_xact_lock(hashtext('tally_ensure_month'));
	IF to_regclass(name) IS NULL THEN
		EXECUTE format('CREATE TABLE %I PARTITION OF calls FOR VALUES FROM (%L) TO (%L)',
			name, (m::timestamp AT TIME ZONE 'UTC'),
			((m + interval '1 month')::timestamp AT TIME ZONE 'UTC'));
	END IF;
END $$;

-- Hourly rollups, maintained in the same transaction as the inserts.
CREATE TABLE rollup_hourly (
	hour               timestamptz NOT NULL,
	team               text NOT NULL,
	workflow           text NOT NULL,
	task_type          text NOT NULL,
	provider           text NOT NULL,
	model              text NOT NULL,
	tier               text NOT NULL,
	status             text NOT NULL,
	calls              bigint NOT NULL,
	input_tokens       numeric NOT NULL,
	output_tokens      numeric NOT NULL,
	cache_read_tokens  numeric NOT NULL,
	cache_write_tokens numeric NOT NULL,
	reasoning_tokens   numeric NOT NULL,
	cost_pusd          numeric NOT NULL,
	unpriced_calls     bigint NOT NULL,
	cache_hit_calls    bigint NOT NULL,
	PRIMARY KEY (hour, team, workflow, task_type, provider, model, tier, status)
);

CREATE TABLE outcomes (
	outcome_id  text PRIMARY KEY,
	ts          timestamptz NOT NULL,
	team        text,
	workflow    text,
	kind        text,
	success     boolean NOT NULL,
	value_pusd  bigint,
	updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE feedback (
	event_id    text NOT NULL,    -- the call it scores
	ts          timestamptz NOT NULL,
	score       real NOT NULL,
	source      text NOT NULL DEFAULT '',
	PRIMARY KEY (event_id, source, ts)
);

-- Bad input is kept, never dropped.
CREATE TABLE quarantine (
	id              bigserial PRIMARY KEY,
	received_at     timestamptz NOT NULL DEFAULT now(),
	topic           text NOT NULL,
	kafka_partition integer NOT NULL,
	kafka_offset    bigint,
	reason          text NOT NULL,
	raw             bytea NOT NULL
);
CREATE UNIQUE INDEX quarantine_pos ON quarantine (topic, kafka_partition, kafka_offset);

-- Kafka offsets stored in the same transaction as the data they cover.
CREATE TABLE kafka_offsets (
	consumer_group  text NOT NULL,
	topic           text NOT NULL,
	kafka_partition integer NOT NULL,
	next_offset     bigint NOT NULL,
	updated_at      timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (consumer_group, topic, kafka_partition)
);

CREATE TABLE ledger_counters (
	name  text PRIMARY KEY,
	value bigint NOT NULL
);
INSERT INTO ledger_counters VALUES ('duplicates', 0);

CREATE TABLE audit_log (
	id      bigserial PRIMARY KEY,
	ts      timestamptz NOT NULL DEFAULT now(),
	actor   text NOT NULL,
	action  text NOT NULL,
	details jsonb NOT NULL
);
