-- Checkout sessions: hosted pages that take one payment, always captured automatically.

CREATE TABLE checkout_sessions (
    seq         BIGSERIAL PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL,
    livemode    BOOLEAN NOT NULL,
    status      TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    doc         TEXT NOT NULL
);
CREATE INDEX checkout_sessions_scope ON checkout_sessions (merchant_id, livemode, seq);
-- The worker's pass: open sessions whose time is up.
CREATE INDEX checkout_sessions_open ON checkout_sessions (expires_at) WHERE status = 'open';
