-- Holdfast schema, PostgreSQL. Forward-only: never edit a migration once released; add the next one.

CREATE TABLE merchants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE api_keys (
    hash        TEXT PRIMARY KEY,
    prefix      TEXT NOT NULL,
    merchant_id TEXT NOT NULL REFERENCES merchants(id),
    livemode    BOOLEAN NOT NULL,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX api_keys_prefix ON api_keys (prefix);

CREATE TABLE payment_intents (
    seq            BIGSERIAL PRIMARY KEY,
    id             TEXT NOT NULL UNIQUE,
    merchant_id    TEXT NOT NULL,
    livemode       BOOLEAN NOT NULL,
    status         TEXT NOT NULL,
    capture_method TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT,
    version        BIGINT NOT NULL,
    doc            TEXT NOT NULL
);
CREATE INDEX payment_intents_scope ON payment_intents (merchant_id, livemode, seq);
CREATE INDEX payment_intents_scope_status ON payment_intents (merchant_id, livemode, status, seq);
CREATE INDEX payment_intents_due ON payment_intents (status, expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE customers (
    id          TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL,
    livemode    BOOLEAN NOT NULL,
    created_at  BIGINT NOT NULL,
    doc         TEXT NOT NULL
);

CREATE TABLE payment_methods (
    id          TEXT PRIMARY KEY,
    merchant_id TEXT NOT NULL,
    livemode    BOOLEAN NOT NULL,
    customer_id TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    doc         TEXT NOT NULL
);

CREATE TABLE events (
    seq               BIGSERIAL PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,
    merchant_id       TEXT NOT NULL,
    livemode          BOOLEAN NOT NULL,
    type              TEXT NOT NULL,
    payment_intent_id TEXT,
    created_at        BIGINT NOT NULL,
    doc               TEXT NOT NULL
);
CREATE INDEX events_scope ON events (merchant_id, livemode, seq);
CREATE INDEX events_intent ON events (merchant_id, livemode, payment_intent_id, seq);

CREATE TABLE idempotency_keys (
    merchant_id TEXT NOT NULL,
    livemode    BOOLEAN NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status_code BIGINT NOT NULL,
    body        BYTEA NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, livemode, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
