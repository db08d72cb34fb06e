-- The operations dashboard: its users and their sessions, and the indexes its pages read by.

CREATE TABLE dashboard_users (
    id          TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL REFERENCES merchants(id),
    email       TEXT NOT NULL UNIQUE,
    version     BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    doc         TEXT NOT NULL
);
CREATE INDEX dashboard_users_merchant ON dashboard_users (merchant_id, created_at);

-- Only the SHA-256 of a session's token is kept.
CREATE TABLE dashboard_sessions (
    token_hash   TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL,
    user_epoch   BIGINT NOT NULL,
    csrf_token   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX dashboard_sessions_seen ON dashboard_sessions (last_seen_at);

CREATE INDEX api_keys_merchant ON api_keys (merchant_id, livemode);
CREATE INDEX events_scope_created ON events (merchant_id, livemode, created_at);
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, seq);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_seq, seq);
