-- Webhooks: endpoints, the event types each wants, and the delivery outbox with its attempts.

CREATE TABLE webhook_endpoints (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL,
    livemode    INTEGER NOT NULL,
    disabled    INTEGER NOT NULL,
    deleted     INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    doc         TEXT NOT NULL
);
CREATE INDEX webhook_endpoints_scope ON webhook_endpoints (merchant_id, livemode, seq);

CREATE TABLE webhook_endpoint_events (
    endpoint_id TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    PRIMARY KEY (endpoint_id, event_type)
);

-- One row per event and endpoint: written in the transaction that writes the event.
CREATE TABLE webhook_deliveries (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id        TEXT NOT NULL,
    endpoint_id     TEXT NOT NULL,
    merchant_id     TEXT NOT NULL,
    livemode        INTEGER NOT NULL,
    status          TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER,
    lease_until     INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    UNIQUE (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, seq) WHERE status = 'pending';

CREATE TABLE webhook_attempts (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_seq    INTEGER NOT NULL,
    event_id        TEXT NOT NULL,
    endpoint_id     TEXT NOT NULL,
    attempt         INTEGER NOT NULL,
    attempted_at    INTEGER NOT NULL,
    status_code     INTEGER,
    latency_ms      INTEGER NOT NULL,
    error           TEXT,
    next_attempt_at INTEGER
);
CREATE INDEX webhook_attempts_event ON webhook_attempts (event_id, seq);
