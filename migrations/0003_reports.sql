-- 0003_reports: the hash chain over the audit log, budgets, budget alerts and
-- the persistent webhook outbox (docs/reports.md).

-- Tamper evidence: every audit_log row carries the hash of the row before it
-- (in chain order) and its own hash:
--   hash = hex(sha256(prev_hash '|' id '|' ts_us '|' actor '|' action '|' details::text))
-- computed by a BEFORE INSERT trigger under a transaction-level advisory lock,
-- so rows are chained in the order they commit, whoever writes them.
ALTER TABLE audit_log ADD COLUMN chain_seq bigint;
ALTER TABLE audit_log ADD COLUMN prev_hash text;
ALTER TABLE audit_log ADD COLUMN hash text;

CREATE FUNCTION tally_audit_row_hash(prev text, id bigint, ts timestamptz, actor text,
				     action text, details jsonb) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
	SELECT encode(sha256(convert_to(prev || '|' || id::text || '|' ||
		(extract(epoch FROM ts) * 1000000)::bigint::text || '|' || actor || '|' ||
		action || '|' || details::text, 'UTF8')), 'hex')
$$;

CREATE FUNCTION tally_audit_chain() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
	last_seq bigint;
	last_hash text;
BEGIN
	PERFORM pg_advisory_xact_lock(hashtext('tally_audit_chain'));
	SELECT chain_seq, hash INTO last_seq, last_hash
		FROM audit_log WHERE chain_seq IS NOT NULL ORDER BY chain_seq DESC LIMIT 1;
	NEW.chain_seq := coalesce(last_seq, 0) + 1;
	NEW.prev_hash := coalesce(last_hash, repeat('0', 64));
	NEW.ts := date_trunc('microseconds', NEW.ts);
	NEW.hash := tally_audit_row_hash(NEW.prev_hash, NEW.id, NEW.ts, NEW.actor, NEW.action,
					 NEW.details);
	RETURN NEW;
END $$;

-- Rows written before this migration join the chain in id order.
DO $$
DECLARE
	r record;
	prev text := repeat('0', 64);
	seq bigint := 0;
BEGIN
	FOR r IN SELECT * FROM audit_log ORDER BY id LOOP
		seq := seq + 1;
		UPDATE audit_log SET chain_seq = seq, prev_hash = prev,
			hash = tally_audit_row_hash(prev, r.id, r.ts, r.actor, r.action, r.details)
			WHERE id = r.id RETURNING hash INTO prev;
	END LOOP;
END $$;

CREATE UNIQUE INDEX audit_log_chain ON audit_log (chain_seq);
CREATE TRIGGER audit_log_chain BEFORE INSERT ON audit_log
	FOR EACH ROW EXECUTE FUNCTION tally_audit_chain();

-- Monthly budgets per team or per workflow, in pico-USD.
CREATE TABLE budgets (
	id          bigserial PRIMARY KEY,
	scope       text NOT NULL CHECK (scope IN ('team', 'workflow')),
	name        text NOT NULL,
	amount_pusd numeric(40, 0) NOT NULL CHECK (amount_pusd > 0),
	created_at  timestamptz NOT NULL DEFAULT now(),
	updated_at  timestamptz NOT NULL DEFAULT now(),
	UNIQUE (scope, name)
);

-- An alert fires once per budget, month, basis (actual or forecast) and
-- threshold; the unique key makes that so across processes and restarts.
CREATE TABLE budget_alerts (
	id            bigserial PRIMARY KEY,
	budget_id     bigint NOT NULL,
	scope         text NOT NULL,
	name          text NOT NULL,
	period        date NOT NULL,          -- first day of the month
	basis         text NOT NULL CHECK (basis IN ('actual', 'forecast')),
	threshold_pct integer NOT NULL,
	amount_pusd   numeric(40, 0) NOT NULL,
	spend_pusd    numeric(40, 0) NOT NULL,
	forecast_pusd numeric(40, 0) NOT NULL,
	fired_at      timestamptz NOT NULL DEFAULT now(),
	UNIQUE (scope, name, period, basis, threshold_pct)
);

-- Webhook deliveries waiting or done: written in the transaction that decides
-- to send (an alert, a policy version), delivered by the background loop with
-- retries and backoff; delivered_at set once the receiver answered 2xx.
CREATE TABLE webhook_outbox (
	id              bigserial PRIMARY KEY,
	kind            text NOT NULL,        -- 'budget.alert', 'router.policy', ...
	payload         text NOT NULL,        -- the exact JSON body that is signed
	created_at      timestamptz NOT NULL DEFAULT now(),
	attempts        integer NOT NULL DEFAULT 0,
	next_attempt_at timestamptz NOT NULL DEFAULT now(),
	last_error      text,
	delivered_at    timestamptz
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_at) WHERE delivered_at IS NULL;
