-- Orders: line items, a total and the payments against it.

CREATE TABLE orders (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    merchant_id TEXT NOT NULL,
    livemode    INTEGER NOT NULL,
    status      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    version     INTEGER NOT NULL,
    doc         TEXT NOT NULL
);
CREATE INDEX orders_scope ON orders (merchant_id, livemode, seq);
CREATE INDEX orders_scope_status ON orders (merchant_id, livemode, status, seq);
