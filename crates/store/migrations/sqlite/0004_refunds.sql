-- Refunds: captured money given back, in one or several parts.

CREATE TABLE refunds (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    id                TEXT NOT NULL UNIQUE,
    merchant_id       TEXT NOT NULL,
    livemode          INTEGER NOT NULL,
    payment_intent_id TEXT NOT NULL,
    status            TEXT NOT NULL,
    idempotency_key   TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    version           INTEGER NOT NULL,
    doc               TEXT NOT NULL
);
CREATE INDEX refunds_scope ON refunds (merchant_id, livemode, seq);
CREATE INDEX refunds_intent ON refunds (merchant_id, livemode, payment_intent_id, seq);
CREATE UNIQUE INDEX refunds_idempotency ON refunds (merchant_id, livemode, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX refunds_pending ON refunds (updated_at) WHERE status = 'pending';
