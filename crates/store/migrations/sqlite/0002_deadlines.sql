-- Deadlines: the next moment something falls due on an intent, test clocks, and worker leases.

ALTER TABLE payment_intents ADD COLUMN test_clock_id TEXT;
ALTER TABLE payment_intents ADD COLUMN due_at INTEGER;
ALTER TABLE payment_intents ADD COLUMN lease_until INTEGER;

-- Holds placed before this migration fall due at expiry.
UPDATE payment_intents SET due_at = expires_at + 1 WHERE status = 'requires_capture';

CREATE INDEX payment_intents_due_at ON payment_intents (due_at)
    WHERE due_at IS NOT NULL AND test_clock_id IS NULL;
CREATE INDEX payment_intents_clock_due ON payment_intents (test_clock_id, due_at)
    WHERE test_clock_id IS NOT NULL AND due_at IS NOT NULL;
CREATE INDEX payment_intents_scope_expiry ON payment_intents (merchant_id, livemode, expires_at, seq)
    WHERE expires_at IS NOT NULL;

CREATE TABLE test_clocks (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL,
    livemode    INTEGER NOT NULL,
    deleted     INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    doc         TEXT NOT NULL
);
CREATE INDEX test_clocks_scope ON test_clocks (merchant_id, livemode, seq);
