//! Forward-only migrations, one folder per backend, embedded in the binary.
//!
//! A migration is applied once, in its own transaction, and recorded in `schema_migrations`.
//! Released migrations are never edited: a schema change is a new numbered file.

pub(crate) struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

pub(crate) const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../migrations/sqlite/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "deadlines",
        sql: include_str!("../migrations/sqlite/0002_deadlines.sql"),
    },
    Migration {
        version: 3,
        name: "orders",
        sql: include_str!("../migrations/sqlite/0003_orders.sql"),
    },
    Migration {
        version: 4,
        name: "refunds",
        sql: include_str!("../migrations/sqlite/0004_refunds.sql"),
    },
    Migration {
        version: 5,
        name: "clock_time",
        sql: include_str!("../migrations/sqlite/0005_clock_time.sql"),
    },
    Migration {
        version: 6,
        name: "webhooks",
        sql: include_str!("../migrations/sqlite/0006_webhooks.sql"),
    },
    Migration {
        version: 7,
        name: "dashboard",
        sql: include_str!("../migrations/sqlite/0007_dashboard.sql"),
    },
    Migration {
        version: 8,
        name: "checkout_sessions",
        sql: include_str!("../migrations/sqlite/0008_checkout_sessions.sql"),
    },
];

pub(crate) const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../migrations/postgres/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "deadlines",
        sql: include_str!("../migrations/postgres/0002_deadlines.sql"),
    },
    Migration {
        version: 3,
        name: "orders",
        sql: include_str!("../migrations/postgres/0003_orders.sql"),
    },
    Migration {
        version: 4,
        name: "refunds",
        sql: include_str!("../migrations/postgres/0004_refunds.sql"),
    },
    Migration {
        version: 5,
        name: "clock_time",
        sql: include_str!("../migrations/postgres/0005_clock_time.sql"),
    },
    Migration {
        version: 6,
        name: "webhooks",
        sql: include_str!("../migrations/postgres/0006_webhooks.sql"),
    },
    Migration {
        version: 7,
        name: "dashboard",
        sql: include_str!("../migrations/postgres/0007_dashboard.sql"),
    },
    Migration {
        version: 8,
        name: "checkout_sessions",
        sql: include_str!("../migrations/postgres/0008_checkout_sessions.sql"),
    },
];
