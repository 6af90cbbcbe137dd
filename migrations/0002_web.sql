-- 0002_web: API keys and dashboard sessions for the web API (docs/api.md).
-- Tokens and session ids are never stored: only their SHA-256 (hex).

CREATE TABLE api_keys (
	id           bigserial PRIMARY KEY,
	token_sha256 text NOT NULL UNIQUE CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
	role         text NOT NULL CHECK (role IN ('admin', 'finance', 'viewer')),
	team         text,           -- required for a viewer: the only team it sees
	name         text NOT NULL DEFAULT '',
	created_at   timestamptz NOT NULL DEFAULT now(),
	last_used_at timestamptz,
	revoked_at   timestamptz,
	CHECK (role <> 'viewer' OR team IS NOT NULL)
);

-- A signed-in browser: the cookie holds a random id, the table its hash.
-- Sessions end at expires_at, on sign-out (deleted) or when the key is revoked.
CREATE TABLE sessions (
	id_sha256  text PRIMARY KEY CHECK (id_sha256 ~ '^[0-9a-f]{64}$'),
	key_id     bigint NOT NULL REFERENCES api_keys ON DELETE CASCADE,
	csrf_token text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- The quarantine list is read newest first, page by page.
CREATE INDEX quarantine_received ON quarantine (received_at DESC, id DESC);
