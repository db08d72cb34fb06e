-- Refunds: captured money given back, in one or several parts.

CREATE TABLE refunds (
    seq               BIGSERIAL PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,
    merchant_id       TEXT NOT NULL,
    livemode          BOOLEAN NOT NULL,
    payment_intent_id TEXT NOT NULL,
    status            TEXT NOT NULL,
    idempotency_key   TEXT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    version           BIGINT NOT NULL,
    doc               TEXT NOT NULL
);
CREATE INDEX refunds_scope ON refunds (merchant_id, livemode, seq);
CREATE INDEX refunds_intent ON refunds (merchant_id, livemode, payment_intent_id, seq);
CREATE UNIQUE INDEX refunds_idempotency ON refunds (merchant_id, livemode, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX refunds_pending ON refunds (updated_at) WHERE status = 'pending';
