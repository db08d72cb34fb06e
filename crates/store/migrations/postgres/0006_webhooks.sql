-- Webhooks: endpoints, the event types each wants, and the delivery outbox with its attempts.

CREATE TABLE webhook_endpoints (
    seq         BIGSERIAL PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL,
    livemode    BOOLEAN NOT NULL,
    disabled    BOOLEAN NOT NULL,
    deleted     BOOLEAN NOT NULL DEFAULT false,
    created_at  BIGINT NOT NULL,
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
    seq             BIGSERIAL PRIMARY KEY,
    event_id        TEXT NOT NULL,
    endpoint_id     TEXT NOT NULL,
    merchant_id     TEXT NOT NULL,
    livemode        BOOLEAN NOT NULL,
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT,
    lease_until     BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    UNIQUE (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at, seq) WHERE status = 'pending';

CREATE TABLE webhook_attempts (
    seq             BIGSERIAL PRIMARY KEY,
    delivery_seq    BIGINT NOT NULL,
    event_id        TEXT NOT NULL,
    endpoint_id     TEXT NOT NULL,
    attempt         BIGINT NOT NULL,
    attempted_at    BIGINT NOT NULL,
    status_code     BIGINT,
    latency_ms      BIGINT NOT NULL,
    error           TEXT,
    next_attempt_at BIGINT
);
CREATE INDEX webhook_attempts_event ON webhook_attempts (event_id, seq);
