//! Every SQL statement of the store, written once, and the values they take.
//!
//! Statements are written with PostgreSQL's numbered placeholders (`$1`) and use only SQL both
//! backends speak: booleans as `TRUE`/`NOT column` (SQLite stores them as 0 and 1), row values,
//! `ON CONFLICT … excluded`. The few words that differ are named in braces (`{skip_locked}`,
//! `{row_id}`, `{doc_disabled}`) and filled in by [`Dialect`]. Each backend's text is rendered
//! once, the first time a statement is used, and kept for the life of the process.
//!
//! Lists are assembled from optional filters by [`Query`], the one way both backends build them.

use std::fmt::Write as _;
use std::sync::LazyLock;

use holdfast_domain::Timestamp;

/// The SQL each backend speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// What a placeholder starts with: `?1` on SQLite, `$1` on PostgreSQL.
    const fn placeholder(self) -> char {
        match self {
            Dialect::Sqlite => '?',
            Dialect::Postgres => '$',
        }
    }

    /// The words a statement names in braces.
    fn fragment(self, name: &str) -> &'static str {
        match (name, self) {
            // PostgreSQL's claims skip rows another worker holds; SQLite's single writer makes
            // select-and-lease atomic, so nothing is locked there.
            ("skip_locked", Dialect::Postgres) => " FOR UPDATE SKIP LOCKED",
            ("skip_locked", Dialect::Sqlite) => "",
            // A row's physical address, for deleting a bounded batch of a keyless table.
            ("row_id", Dialect::Postgres) => "ctid",
            ("row_id", Dialect::Sqlite) => "rowid",
            // An endpoint document with `disabled` set to true.
            ("doc_disabled", Dialect::Postgres) => {
                "jsonb_set(doc::jsonb, '{disabled}', 'true')::text"
            }
            ("doc_disabled", Dialect::Sqlite) => "json_set(doc, '$.disabled', json('true'))",
            // A row's document as JSON that `->` and `->>` read (SQLite reads its text as is).
            ("json_doc", _) => self.json_doc(),
            _ => panic!("unknown SQL fragment {{{name}}}"),
        }
    }

    /// A row's `doc` column as JSON that `->` and `->>` read: the dashboard's searches and
    /// aggregates look inside documents.
    pub(crate) const fn json_doc(self) -> &'static str {
        match self {
            Dialect::Postgres => "doc::jsonb",
            Dialect::Sqlite => "doc",
        }
    }

    /// A statement in this dialect, rendered once per process.
    pub(crate) fn sql(self, stmt: Stmt) -> &'static str {
        &rendered(self).fixed[stmt as usize]
    }

    /// `SELECT doc` of one object of `table` by id, within a scope (`$1` id, `$2` merchant,
    /// `$3` livemode).
    pub(crate) fn get_doc(self, table: Table) -> &'static str {
        &rendered(self).get_doc[table as usize]
    }

    /// The `seq` of one object of `table` by id, within a scope: where a cursor stands.
    pub(crate) fn cursor_seq(self, table: Table) -> &'static str {
        &rendered(self).cursor_seq[table as usize]
    }

    /// Rewrites shared text for this dialect: placeholders and named fragments.
    fn render(self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find(['$', '{']) {
            out.push_str(&rest[..at]);
            let tail = &rest[at..];
            if let Some(name) = tail.strip_prefix('{') {
                let end = name.find('}').unwrap_or(name.len());
                out.push_str(self.fragment(&name[..end]));
                rest = name.get(end + 1..).unwrap_or("");
            } else {
                let numbered = tail[1..].starts_with(|c: char| c.is_ascii_digit());
                out.push(if numbered { self.placeholder() } else { '$' });
                rest = &tail[1..];
            }
        }
        out.push_str(rest);
        out
    }
}

/// One dialect's text of every statement.
struct Rendered {
    fixed: Vec<String>,
    get_doc: Vec<String>,
    cursor_seq: Vec<String>,
}

fn rendered(dialect: Dialect) -> &'static Rendered {
    fn render(dialect: Dialect) -> Rendered {
        Rendered {
            fixed: TEXT.iter().map(|text| dialect.render(text)).collect(),
            get_doc: Table::ALL
                .iter()
                .map(|t| {
                    let sql = format!(
                        "SELECT doc FROM {} WHERE id = $1 AND merchant_id = $2 AND livemode = $3",
                        t.name()
                    );
                    dialect.render(&sql)
                })
                .collect(),
            cursor_seq: Table::ALL
                .iter()
                .map(|t| {
                    let sql = format!(
                        "SELECT seq FROM {} WHERE id = $1 AND merchant_id = $2 AND livemode = $3",
                        t.name()
                    );
                    dialect.render(&sql)
                })
                .collect(),
        }
    }
    static SQLITE: LazyLock<Rendered> = LazyLock::new(|| render(Dialect::Sqlite));
    static POSTGRES: LazyLock<Rendered> = LazyLock::new(|| render(Dialect::Postgres));
    match dialect {
        Dialect::Sqlite => &SQLITE,
        Dialect::Postgres => &POSTGRES,
    }
}

/// The tables that hold documents of one scope, each with an `id` and a `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Table {
    Intents,
    Orders,
    Refunds,
    Customers,
    PaymentMethods,
    Events,
    TestClocks,
    WebhookEndpoints,
    CheckoutSessions,
}

impl Table {
    const ALL: [Table; 9] = [
        Table::Intents,
        Table::Orders,
        Table::Refunds,
        Table::Customers,
        Table::PaymentMethods,
        Table::Events,
        Table::TestClocks,
        Table::WebhookEndpoints,
        Table::CheckoutSessions,
    ];

    pub(crate) const fn name(self) -> &'static str {
        match self {
            Table::Intents => "payment_intents",
            Table::Orders => "orders",
            Table::Refunds => "refunds",
            Table::Customers => "customers",
            Table::PaymentMethods => "payment_methods",
            Table::Events => "events",
            Table::TestClocks => "test_clocks",
            Table::WebhookEndpoints => "webhook_endpoints",
            Table::CheckoutSessions => "checkout_sessions",
        }
    }
}

/// Queues an event for every enabled endpoint of its scope that wants it (`$1` event id, `$2`
/// merchant, `$3` livemode, `$4` time, `$5` event type). Due at once: `next_attempt_at` 0.
macro_rules! fan_out {
    () => {
        "INSERT INTO webhook_deliveries
         (event_id, endpoint_id, merchant_id, livemode, status, attempts, next_attempt_at,
          created_at, updated_at)
         SELECT $1, e.id, e.merchant_id, e.livemode, 'pending', 0, 0, $4, $4
         FROM webhook_endpoints e
         WHERE e.merchant_id = $2 AND e.livemode = $3 AND NOT e.disabled AND NOT e.deleted
           AND EXISTS (SELECT 1 FROM webhook_endpoint_events t
                       WHERE t.endpoint_id = e.id AND t.event_type IN ($5, '*'))"
    };
}

/// Declares [`Stmt`] and the shared text of each statement.
macro_rules! statements {
    ($($(#[doc = $doc:literal])* $name:ident = $sql:expr;)*) => {
        /// A statement of the shared text; [`Dialect::sql`] gives a backend's rendering of it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum Stmt {
            $($(#[doc = $doc])* $name,)*
        }

        impl Stmt {
            #[cfg(test)]
            const ALL: &[Stmt] = &[$(Stmt::$name,)*];
        }

        const TEXT: &[&str] = &[$($sql,)*];
    };
}

statements! {
    Ping = "SELECT 1";

    InsertMerchant = "INSERT INTO merchants (id, name, created_at) VALUES ($1, $2, $3)";
    CountMerchants = "SELECT COUNT(*) FROM merchants";
    GetMerchant = "SELECT id, name, created_at FROM merchants WHERE id = $1";

    InsertApiKey = "INSERT INTO api_keys
        (hash, prefix, merchant_id, livemode, created_at, revoked_at)
        VALUES ($1, $2, $3, $4, $5, $6)";
    ApiKeysByPrefix = "SELECT hash, prefix, merchant_id, livemode, created_at, revoked_at
        FROM api_keys WHERE prefix = $1";
    RevokeApiKeys = "UPDATE api_keys SET revoked_at = $1 WHERE prefix = $2 AND revoked_at IS NULL";

    InsertIntent = "INSERT INTO payment_intents
        (id, merchant_id, livemode, status, capture_method, created_at, expires_at, version, doc,
         test_clock_id, due_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
    /// Versioned: `$6` id, `$7` the version stored. A write also ends the worker's lease.
    UpdateIntent = "UPDATE payment_intents SET status = $1, expires_at = $2, version = $3, doc = $4,
        due_at = $5, lease_until = NULL
        WHERE id = $6 AND version = $7";
    GetIntentUnscoped = "SELECT doc FROM payment_intents WHERE id = $1";
    /// Where a cursor intent stands in both orders: its `seq` and its deadline.
    IntentCursor = "SELECT seq, expires_at FROM payment_intents
        WHERE id = $1 AND merchant_id = $2 AND livemode = $3";
    ClaimDue = "UPDATE payment_intents SET lease_until = $1 WHERE seq IN (
            SELECT seq FROM payment_intents
            WHERE due_at <= $2 AND test_clock_id IS NULL
              AND (lease_until IS NULL OR lease_until < $2)
            ORDER BY due_at LIMIT $3{skip_locked})
        RETURNING doc";
    DueOnClock = "SELECT doc FROM payment_intents WHERE test_clock_id = $1 AND due_at <= $2
        ORDER BY due_at, seq LIMIT $3";
    OpenHolds = "SELECT doc FROM payment_intents
        WHERE status = 'requires_capture' AND expires_at < $1
        ORDER BY expires_at, seq LIMIT $2";

    InsertOrder = "INSERT INTO orders (id, merchant_id, livemode, status, created_at, version, doc)
        VALUES ($1, $2, $3, $4, $5, $6, $7)";
    UpdateOrder = "UPDATE orders SET status = $1, version = $2, doc = $3
        WHERE id = $4 AND version = $5";

    InsertRefund = "INSERT INTO refunds (id, merchant_id, livemode, payment_intent_id, status,
        idempotency_key, created_at, updated_at, version, doc)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
    UpdateRefund = "UPDATE refunds SET status = $1, updated_at = $2, version = $3, doc = $4
        WHERE id = $5 AND version = $6";
    RefundByIdempotencyKey = "SELECT doc FROM refunds WHERE merchant_id = $1 AND livemode = $2
        AND idempotency_key = $3";
    StalePendingRefunds = "SELECT doc FROM refunds WHERE status = 'pending' AND updated_at < $1
        ORDER BY updated_at LIMIT $2";

    InsertCustomer = "INSERT INTO customers (id, merchant_id, livemode, created_at, doc)
        VALUES ($1, $2, $3, $4, $5)";
    InsertPaymentMethod = "INSERT INTO payment_methods
        (id, merchant_id, livemode, customer_id, created_at, doc)
        VALUES ($1, $2, $3, $4, $5, $6)";

    InsertEvent = "INSERT INTO events
        (id, merchant_id, livemode, type, payment_intent_id, created_at, doc)
        VALUES ($1, $2, $3, $4, $5, $6, $7)";
    /// The outbox: one delivery per endpoint that wants the event, in the event's transaction.
    FanOut = fan_out!();
    /// The fan-out again, starting over any delivery the event already has.
    Resend = concat!(fan_out!(), "
        ON CONFLICT (event_id, endpoint_id) DO UPDATE SET status = 'pending', attempts = 0,
        next_attempt_at = 0, lease_until = NULL, updated_at = excluded.updated_at");

    /// Inserted, or replaced if that does not move the clock back.
    UpsertTestClock = "INSERT INTO test_clocks
        (id, merchant_id, livemode, created_at, doc, frozen_time)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, frozen_time = excluded.frozen_time
        WHERE excluded.frozen_time >= test_clocks.frozen_time";
    GetTestClock = "SELECT doc FROM test_clocks WHERE id = $1 AND merchant_id = $2 AND livemode = $3
        AND (NOT deleted OR $4)";
    DeleteTestClock = "UPDATE test_clocks SET deleted = TRUE
        WHERE id = $1 AND merchant_id = $2 AND livemode = $3 AND NOT deleted";

    UpsertWebhookEndpoint = "INSERT INTO webhook_endpoints
        (id, merchant_id, livemode, disabled, created_at, doc)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (id) DO UPDATE SET disabled = excluded.disabled, doc = excluded.doc";
    DeleteEndpointEvents = "DELETE FROM webhook_endpoint_events WHERE endpoint_id = $1";
    InsertEndpointEvent = "INSERT INTO webhook_endpoint_events (endpoint_id, event_type)
        VALUES ($1, $2) ON CONFLICT DO NOTHING";
    /// Cancels the deliveries still pending to an endpoint (disabled, or gone).
    CancelEndpointDeliveries = "UPDATE webhook_deliveries
        SET status = 'canceled', lease_until = NULL
        WHERE endpoint_id = $1 AND status = 'pending'";
    GetWebhookEndpoint = "SELECT doc FROM webhook_endpoints WHERE id = $1 AND merchant_id = $2
        AND livemode = $3 AND NOT deleted";
    GetWebhookEndpointUnscoped = "SELECT doc FROM webhook_endpoints WHERE id = $1 AND NOT deleted";
    DeleteWebhookEndpoint = "UPDATE webhook_endpoints SET deleted = TRUE
        WHERE id = $1 AND merchant_id = $2 AND livemode = $3 AND NOT deleted";
    /// [`Stmt::DeleteEndpointEvents`] for an endpoint of the scope `$2`, `$3` that is deleted.
    DeletedEndpointEvents = "DELETE FROM webhook_endpoint_events WHERE endpoint_id = $1
        AND EXISTS (SELECT 1 FROM webhook_endpoints e
                    WHERE e.id = $1 AND e.merchant_id = $2 AND e.livemode = $3 AND e.deleted)";
    /// [`Stmt::CancelEndpointDeliveries`] for an endpoint of the scope `$2`, `$3` that is deleted.
    CancelDeletedEndpointDeliveries = "UPDATE webhook_deliveries SET status = 'canceled',
        lease_until = NULL
        WHERE endpoint_id = $1 AND status = 'pending'
          AND EXISTS (SELECT 1 FROM webhook_endpoints e
                      WHERE e.id = $1 AND e.merchant_id = $2 AND e.livemode = $3 AND e.deleted)";
    /// After a `410 Gone`: the endpoint is disabled, in its column and in its document.
    DisableWebhookEndpoint = "UPDATE webhook_endpoints SET disabled = TRUE, doc = {doc_disabled}
        WHERE id = $1";

    ClaimDeliveries = "UPDATE webhook_deliveries SET lease_until = $1 WHERE seq IN (
            SELECT seq FROM webhook_deliveries
            WHERE status = 'pending' AND next_attempt_at <= $2
              AND (lease_until IS NULL OR lease_until < $2)
            ORDER BY next_attempt_at, seq LIMIT $3{skip_locked})
        RETURNING seq, merchant_id, livemode, event_id, endpoint_id, attempts";
    CancelDelivery = "UPDATE webhook_deliveries SET status = 'canceled', lease_until = NULL
        WHERE seq = $1 AND status = 'pending'";
    /// Only a delivery still pending moves on: one a `410` canceled meanwhile stays so.
    FinishDelivery = "UPDATE webhook_deliveries
        SET status = $1, attempts = $2, next_attempt_at = $3, lease_until = NULL, updated_at = $4
        WHERE seq = $5 AND attempts = $6 AND status = 'pending'";
    InsertAttempt = "INSERT INTO webhook_attempts (delivery_seq, event_id, endpoint_id, attempt,
        attempted_at, status_code, latency_ms, error, next_attempt_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
    /// An event's deliveries in scope, each with its attempts (none: one row of NULLs).
    ListDeliveries = "SELECT d.endpoint_id, d.status, d.attempts, d.next_attempt_at,
            a.attempt, a.attempted_at, a.status_code, a.latency_ms, a.error, a.next_attempt_at
        FROM webhook_deliveries d
        LEFT JOIN webhook_attempts a ON a.event_id = d.event_id AND a.endpoint_id = d.endpoint_id
        WHERE d.event_id = $1 AND d.merchant_id = $2 AND d.livemode = $3
        ORDER BY d.seq, a.seq";

    InsertCheckoutSession = "INSERT INTO checkout_sessions
        (id, merchant_id, livemode, status, expires_at, created_at, version, doc)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
    /// Versioned: `$4` id, `$5` the version stored.
    UpdateCheckoutSession = "UPDATE checkout_sessions SET status = $1, version = $2, doc = $3
        WHERE id = $4 AND version = $5";
    /// A session by id alone: its hosted page, whose unguessable id is the credential.
    GetCheckoutSessionUnscoped = "SELECT doc FROM checkout_sessions WHERE id = $1";
    /// Open sessions of every merchant whose time is up at `$1`, soonest first.
    DueCheckoutSessions = "SELECT doc FROM checkout_sessions
        WHERE status = 'open' AND expires_at <= $1 ORDER BY expires_at, seq LIMIT $2";

    InsertIdempotency = "INSERT INTO idempotency_keys
        (merchant_id, livemode, key, fingerprint, status_code, body, created_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7)";
    GetIdempotency = "SELECT merchant_id, livemode, key, fingerprint, status_code, body, created_at
        FROM idempotency_keys WHERE merchant_id = $1 AND livemode = $2 AND key = $3";
    PurgeIdempotency = "DELETE FROM idempotency_keys WHERE {row_id} IN
        (SELECT {row_id} FROM idempotency_keys WHERE created_at < $1 LIMIT $2)";

    // ---- The operations dashboard (`dashboard.rs`) ---------------------------------------------

    /// Inserted, or (for a key already stored) its revocation recorded.
    UpsertApiKey = "INSERT INTO api_keys
        (hash, prefix, merchant_id, livemode, created_at, revoked_at)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (hash) DO UPDATE SET revoked_at = excluded.revoked_at";
    ListApiKeys = "SELECT hash, prefix, merchant_id, livemode, created_at, revoked_at
        FROM api_keys WHERE merchant_id = $1 AND livemode = $2 ORDER BY created_at DESC, prefix";
    InsertUser = "INSERT INTO dashboard_users (id, merchant_id, email, version, created_at, doc)
        VALUES ($1, $2, $3, $4, $5, $6)";
    /// Versioned: `$4` id, `$5` the version stored.
    UpdateUser = "UPDATE dashboard_users SET email = $1, version = $2, doc = $3
        WHERE id = $4 AND version = $5";
    GetUser = "SELECT doc FROM dashboard_users WHERE id = $1";
    GetUserByEmail = "SELECT doc FROM dashboard_users WHERE email = $1";
    ListUsers = "SELECT doc FROM dashboard_users WHERE merchant_id = $1 ORDER BY created_at, id";
    InsertSession = "INSERT INTO dashboard_sessions
        (token_hash, user_id, user_epoch, csrf_token, created_at, last_seen_at)
        VALUES ($1, $2, $3, $4, $5, $6)";
    GetSession = "SELECT token_hash, user_id, user_epoch, csrf_token, created_at, last_seen_at
        FROM dashboard_sessions WHERE token_hash = $1";
    /// Never moves a session's last use back.
    TouchSession = "UPDATE dashboard_sessions SET last_seen_at = $2
        WHERE token_hash = $1 AND last_seen_at < $2";
    DeleteSession = "DELETE FROM dashboard_sessions WHERE token_hash = $1";
    PurgeSessions = "DELETE FROM dashboard_sessions WHERE token_hash IN
        (SELECT token_hash FROM dashboard_sessions WHERE last_seen_at < $1 OR created_at < $2
         LIMIT $3)";
    /// Open holds whose deadline is within 72 hours of their own time (`$3`, or their test
    /// clock's), per currency: the count and sum within 24 hours, then within 72.
    DashboardMoneyAtRisk = "SELECT currency,
          CAST(SUM(CASE WHEN expires_at < row_now + 86400 THEN 1 ELSE 0 END) AS BIGINT),
          CAST(SUM(CASE WHEN expires_at < row_now + 86400 THEN capturable ELSE 0 END) AS BIGINT),
          COUNT(*),
          CAST(SUM(capturable) AS BIGINT)
        FROM (SELECT {json_doc} -> 'amount' ->> 'currency' AS currency,
                CAST({json_doc} ->> 'capturable' AS BIGINT) AS capturable, expires_at,
                CASE WHEN test_clock_id IS NULL THEN $3
                     ELSE COALESCE((SELECT c.frozen_time FROM test_clocks c
                                    WHERE c.id = payment_intents.test_clock_id), $3) END AS row_now
              FROM payment_intents
              WHERE merchant_id = $1 AND livemode = $2 AND status = 'requires_capture'
                AND expires_at IS NOT NULL) h
        WHERE expires_at >= row_now AND expires_at < row_now + 259200
        GROUP BY currency ORDER BY currency";
    /// The money events of a scope from `$3` to `$4`, grouped by UTC day and what they report.
    DashboardDailyEvents = "SELECT day, type, currency, method, reason, held, COUNT(*),
          CAST(COALESCE(SUM(authorized), 0) AS BIGINT), CAST(COALESCE(SUM(captured), 0) AS BIGINT),
          CAST(COALESCE(SUM(released), 0) AS BIGINT),
          CAST(COALESCE(SUM(refund_amount), 0) AS BIGINT)
        FROM (SELECT created_at / 86400 AS day, type,
                d -> 'object' -> 'value' -> 'amount' ->> 'currency' AS currency,
                d -> 'object' -> 'value' ->> 'capture_method' AS method,
                d -> 'object' -> 'value' ->> 'cancellation_reason' AS reason,
                COALESCE(CAST(d -> 'object' -> 'value' ->> 'released' AS BIGINT), 0) > 0 AS held,
                CAST(d -> 'object' -> 'value' ->> 'authorized' AS BIGINT) AS authorized,
                CAST(d -> 'object' -> 'value' ->> 'captured' AS BIGINT) AS captured,
                CAST(d -> 'object' -> 'value' ->> 'released' AS BIGINT) AS released,
                CAST(d -> 'object' -> 'value' -> 'amount' ->> 'amount' AS BIGINT) AS refund_amount
              FROM (SELECT created_at, type, {json_doc} AS d FROM events
                    WHERE merchant_id = $1 AND livemode = $2 AND created_at >= $3
                      AND created_at <= $4 AND type IN ($5, $6, $7, $8)) x) e
        GROUP BY day, type, currency, method, reason, held";
    /// An endpoint's latest deliveries (`$4` of them), newest first, each with its attempts.
    DashboardEndpointLog = "SELECT d.seq, d.event_id, d.status, d.attempts, d.next_attempt_at,
          a.attempt, a.attempted_at, a.status_code, a.latency_ms, a.error, a.next_attempt_at
        FROM (SELECT seq, event_id, status, attempts, next_attempt_at FROM webhook_deliveries
              WHERE endpoint_id = $1 AND merchant_id = $2 AND livemode = $3
              ORDER BY seq DESC LIMIT $4) d
        LEFT JOIN webhook_attempts a ON a.delivery_seq = d.seq
        ORDER BY d.seq DESC, a.seq ASC";
}

/// A statement parameter: plain data, owned, so a write can be built on the request's thread and
/// carried to wherever the backend runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Bool(bool),
    /// A fixed word (a status, a type): not copied.
    Word(&'static str),
    Text(String),
    Blob(Vec<u8>),
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}

impl From<u32> for Value {
    fn from(v: u32) -> Value {
        Value::Int(i64::from(v))
    }
}

impl From<u16> for Value {
    fn from(v: u16) -> Value {
        Value::Int(i64::from(v))
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}

impl From<Timestamp> for Value {
    fn from(v: Timestamp) -> Value {
        Value::Int(v.seconds())
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(v.to_owned())
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Value {
        Value::Text(v.clone())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(v)
    }
}

impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Value {
        Value::Blob(v.to_vec())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

/// Statement parameters: `values![a, b]` is `vec![Value::from(a), Value::from(b)]`.
macro_rules! values {
    ($($value:expr),* $(,)?) => {
        vec![$($crate::sql::Value::from($value)),*]
    };
}
pub(crate) use values;

/// A statement assembled from optional filters in one dialect, its parameters numbered as they
/// are added.
#[derive(Debug)]
pub(crate) struct Query {
    dialect: Dialect,
    pub sql: String,
    pub params: Vec<Value>,
}

impl Query {
    pub(crate) fn new(dialect: Dialect, sql: &str) -> Query {
        Query {
            dialect,
            sql: sql.to_owned(),
            params: Vec::new(),
        }
    }

    /// Appends `clause`, in which every `$` stands for `value`.
    pub(crate) fn push(&mut self, clause: &str, value: impl Into<Value>) {
        self.params.push(value.into());
        let n = self.params.len();
        let mut pieces = clause.split('$');
        self.sql.push_str(pieces.next().unwrap_or(""));
        for piece in pieces {
            let _ = write!(self.sql, "{}{n}", self.dialect.placeholder());
            self.sql.push_str(piece);
        }
    }

    /// Appends SQL that takes no parameter.
    pub(crate) fn text(&mut self, sql: &str) {
        self.sql.push_str(sql);
    }

    pub(crate) const fn dialect(&self) -> Dialect {
        self.dialect
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_statement_renders_in_both_dialects() {
        for &stmt in Stmt::ALL {
            let pg = Dialect::Postgres.sql(stmt);
            let lite = Dialect::Sqlite.sql(stmt);
            assert!(
                !pg.contains(['{', '?']) || stmt == Stmt::DisableWebhookEndpoint,
                "{pg}"
            );
            assert!(!lite.contains('{'), "{lite}");
            assert!(!lite.contains("$1"), "{lite}");
        }
        assert_eq!(
            Dialect::Sqlite.sql(Stmt::RevokeApiKeys),
            "UPDATE api_keys SET revoked_at = ?1 WHERE prefix = ?2 AND revoked_at IS NULL"
        );
        assert_eq!(
            Dialect::Postgres.get_doc(Table::Orders),
            "SELECT doc FROM orders WHERE id = $1 AND merchant_id = $2 AND livemode = $3"
        );
        assert!(
            Dialect::Sqlite
                .sql(Stmt::PurgeIdempotency)
                .contains("rowid IN")
        );
        assert!(
            Dialect::Postgres
                .sql(Stmt::ClaimDue)
                .contains("SKIP LOCKED")
        );
        assert!(!Dialect::Sqlite.sql(Stmt::ClaimDue).contains("SKIP LOCKED"));
    }

    #[test]
    fn a_query_numbers_its_parameters_in_each_dialect() {
        for (dialect, want) in [
            (
                Dialect::Sqlite,
                "SELECT doc FROM t WHERE a = ?1 AND (b = ?2 OR c = ?2) LIMIT ?3",
            ),
            (
                Dialect::Postgres,
                "SELECT doc FROM t WHERE a = $1 AND (b = $2 OR c = $2) LIMIT $3",
            ),
        ] {
            let mut q = Query::new(dialect, "SELECT doc FROM t WHERE");
            q.push(" a = $", 1i64);
            q.push(" AND (b = $ OR c = $)", "x");
            q.text(" LIMIT");
            q.push(" $", 3i64);
            assert_eq!(q.sql, want);
            assert_eq!(q.params.len(), 3);
        }
    }
}
