-- Checkout sessions: hosted pages that take one payment, always captured automatically.

CREATE TABLE checkout_sessions (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL,
    livemode    INTEGER NOT NULL,
    status      TEXT NOT NULL,
    expires_at  INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    doc         TEXT NOT NULL
);
CREATE INDEX checkout_sessions_scope ON checkout_sessions (merchant_id, livemode, seq);
-- The worker's pass: open sessions whose time is up.
CREATE INDEX checkout_sessions_open ON checkout_sessions (expires_at) WHERE status = 'open';
