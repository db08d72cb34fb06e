-- Orders: line items, a total and the payments against it.

CREATE TABLE orders (
    seq         BIGSERIAL PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL,
    livemode    BOOLEAN NOT NULL,
    status      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    version     BIGINT NOT NULL,
    doc         TEXT NOT NULL
);
CREATE INDEX orders_scope ON orders (merchant_id, livemode, seq);
CREATE INDEX orders_scope_status ON orders (merchant_id, livemode, status, seq);
