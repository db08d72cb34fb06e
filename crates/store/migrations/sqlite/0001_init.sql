-- Holdfast schema, SQLite. Forward-only: never edit a migration once released; add the next one.

CREATE TABLE merchants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE api_keys (
    hash        TEXT PRIMARY KEY,
    prefix      TEXT NOT NULL,
    merchant_id TEXT NOT NULL REFERENCES merchants(id),
    livemode    INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX api_keys_prefix ON api_keys (prefix);

CREATE TABLE payment_intents (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    id             TEXT NOT NULL UNIQUE,
    merchant_id    TEXT NOT NULL,
    livemode       INTEGER NOT NULL,
    status         TEXT NOT NULL,
    capture_method TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER,
    version        INTEGER NOT NULL,
    doc            TEXT NOT NULL
);
CREATE INDEX payment_intents_scope ON payment_intents (merchant_id, livemode, seq);
CREATE INDEX payment_intents_scope_status ON payment_intents (merchant_id, livemode, status, seq);
CREATE INDEX payment_intents_due ON payment_intents (status, expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE customers (
    id          TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL,
    livemode    INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    doc         TEXT NOT NULL
);

CREATE TABLE payment_methods (
    id          TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL,
    livemode    INTEGER NOT NULL,
    customer_id TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    doc         TEXT NOT NULL
);

CREATE TABLE events (
    seq               INTEGER PRIMARY KEY AUTOINCREMENT,
    id                TEXT NOT NULL UNIQUE,
    merchant_id       TEXT NOT NULL,
    livemode          INTEGER NOT NULL,
    type              TEXT NOT NULL,
    payment_intent_id TEXT,
    created_at        INTEGER NOT NULL,
    doc               TEXT NOT NULL
);
CREATE INDEX events_scope ON events (merchant_id, livemode, seq);
CREATE INDEX events_intent ON events (merchant_id, livemode, payment_intent_id, seq);

CREATE TABLE idempotency_keys (
    merchant_id TEXT NOT NULL,
    livemode    INTEGER NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status_code INTEGER NOT NULL,
    body        BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, livemode, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
