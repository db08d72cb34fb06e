//! The PostgreSQL store, for several `holdfast` processes sharing one database.
//!
//! A pool of `tokio-postgres` connections (no TLS) serves every call; each statement is prepared once
//! per connection and cached. A [`UnitOfWork`] is one transaction, and concurrency control is the
//! same as SQLite's: an intent update names the version it was computed from, so of two writers
//! racing on one intent the second changes no row and its whole unit rolls back as
//! [`StoreError::Conflict`]. A duplicate key (a replayed idempotency key, an id already taken) is a
//! conflict too. Migrations run at open, each in its own transaction under an advisory lock, so
//! processes starting together on one database apply each migration exactly once.

use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, PoolError, RecyclingMethod};
use holdfast_domain::customer::{Customer, SavedPaymentMethod};
use holdfast_domain::event::Event;
use holdfast_domain::intent::{PaymentIntent, Status};
use holdfast_domain::order::Order;
use holdfast_domain::refund::Refund;
use holdfast_domain::test_clock::TestClock;
use holdfast_domain::user::{Session, User};
use holdfast_domain::webhook::WebhookEndpoint;
use holdfast_domain::{Scope, Timestamp};
use serde::de::DeserializeOwned;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{FromSql, ToSql};
use tokio_postgres::{NoTls, Row};

use crate::dashboard::{self, AtRisk, DailyTotals, EndpointDelivery, IntentSearch};
use crate::model::{IntentColumns, from_doc, paginate, to_doc};
use crate::{
    ApiKey, AttemptLog, DeliveryAttempt, DeliveryClaim, DeliveryNext, DeliveryRecord, EventFilter,
    IdempotencyRecord, IntentFilter, IntentOrder, Merchant, OrderFilter, Page, PageRequest,
    RefundFilter, Store, StoreError, StoreResult, UnitOfWork, migrate,
};

/// Connections per process.
const POOL_MAX: usize = 16;
/// Used when the URL sets no `connect_timeout`, so an unreachable server fails instead of hanging.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The advisory lock key migrations hold: "holdfast" in ASCII. Anything else that changes the
/// schema (a manual fix, another tool) can take it too, to keep out of the way of starting processes.
pub const MIGRATION_LOCK: i64 = 0x686f_6c64_6661_7374;

#[derive(Debug)]
pub struct PgStore {
    pool: Pool,
}

impl PgStore {
    /// Connects to the database `url` names (`postgres://user:password@host:port/dbname`, or the
    /// `key=value` form) and applies any migration it lacks.
    pub async fn open(url: &str) -> StoreResult<PgStore> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Unavailable(format!("invalid PostgreSQL URL: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_MAX)
            .build()
            .map_err(|e| StoreError::Unavailable(describe(&e)))?;
        let store = PgStore { pool };
        store.run_migrations().await?;
        Ok(store)
    }

    async fn client(&self) -> StoreResult<deadpool_postgres::Client> {
        self.pool.get().await.map_err(pool_error)
    }

    /// Creates `schema_migrations`, then applies each missing migration in its own transaction.
    /// Every step holds the migration lock, so concurrent openers wait instead of racing.
    async fn run_migrations(&self) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        lock_migrations(&tx).await?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version BIGINT PRIMARY KEY,
                name TEXT NOT NULL,
                applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;

        for migration in migrate::POSTGRES {
            let tx = client.transaction().await.map_err(db_error)?;
            lock_migrations(&tx).await?;
            let applied = query(
                &tx,
                "SELECT version FROM schema_migrations WHERE version = $1",
                &[&migration.version],
            )
            .await?;
            if applied.is_empty() {
                tx.batch_execute(migration.sql).await.map_err(db_error)?;
                execute(
                    &tx,
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    &[&migration.version, &migration.name],
                )
                .await?;
                tracing::info!(
                    version = migration.version,
                    name = migration.name,
                    "applied migration"
                );
            }
            tx.commit().await.map_err(db_error)?;
        }
        Ok(())
    }
}

/// Takes the migration lock until the end of the current transaction.
async fn lock_migrations(tx: &impl GenericClient) -> StoreResult<()> {
    query(tx, "SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
    Ok(())
}

/// The message of an error and of every error behind it: `tokio-postgres` keeps the server's
/// words in the source of a terse "db error".
fn describe(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// Maps a failure to get a connection: the server's error when there is one, else the pool's.
fn pool_error(e: PoolError) -> StoreError {
    match e {
        PoolError::Backend(e) => db_error(e),
        other => StoreError::Unavailable(other.to_string()),
    }
}

/// Maps a database error: a unique violation means another write got there first; anything else
/// means the database could not do what was asked.
fn db_error(e: tokio_postgres::Error) -> StoreError {
    if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        StoreError::Conflict
    } else {
        StoreError::Unavailable(describe(&e))
    }
}

/// Runs a statement that returns no rows; answers how many rows it changed.
async fn execute(
    client: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> StoreResult<u64> {
    let statement = client.prepare_cached(sql).await.map_err(db_error)?;
    client.execute(&statement, params).await.map_err(db_error)
}

async fn query(
    client: &impl GenericClient,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> StoreResult<Vec<Row>> {
    let statement = client.prepare_cached(sql).await.map_err(db_error)?;
    client.query(&statement, params).await.map_err(db_error)
}

/// Reads one column, reporting a value of the wrong type as corrupt data rather than panicking.
fn column<'a, T: FromSql<'a>>(row: &'a Row, index: usize) -> StoreResult<T> {
    row.try_get(index)
        .map_err(|e| StoreError::Corrupt(describe(&e)))
}

/// Decodes rows whose first column is a JSON document.
fn docs<T: DeserializeOwned>(rows: &[Row]) -> StoreResult<Vec<T>> {
    rows.iter().map(|row| from_doc(column(row, 0)?)).collect()
}

/// The document of the object `id` in `scope`, from one of the tables that store documents.
async fn get_doc<T: DeserializeOwned>(
    client: &impl GenericClient,
    sql: &str,
    scope: &Scope,
    id: &str,
) -> StoreResult<Option<T>> {
    let rows = query(client, sql, &[&id, &scope.merchant_id, &scope.livemode]).await?;
    Ok(docs(&rows)?.into_iter().next())
}

/// Queues an event for every enabled endpoint of its scope that wants it (`$1` event id, `$2`
/// merchant, `$3` livemode, `$4` time, `$5` event type). Due at once: `next_attempt_at` 0.
const FAN_OUT: &str = "INSERT INTO webhook_deliveries
    (event_id, endpoint_id, merchant_id, livemode, status, attempts, next_attempt_at, created_at, updated_at)
    SELECT $1, e.id, e.merchant_id, e.livemode, 'pending', 0, 0, $4, $4 FROM webhook_endpoints e
    WHERE e.merchant_id = $2 AND e.livemode = $3 AND NOT e.disabled AND NOT e.deleted
      AND EXISTS (SELECT 1 FROM webhook_endpoint_events t
                  WHERE t.endpoint_id = e.id AND t.event_type IN ($5, '*'))";

/// Where a cursor intent stands in both orders: its `seq` and its deadline.
async fn cursor_position(
    client: &impl GenericClient,
    scope: &Scope,
    cursor: &str,
) -> StoreResult<(i64, Option<i64>)> {
    let rows = query(
        client,
        "SELECT seq, expires_at FROM payment_intents
         WHERE id = $1 AND merchant_id = $2 AND livemode = $3",
        &[&cursor, &scope.merchant_id, &scope.livemode],
    )
    .await?;
    match rows.first() {
        Some(row) => Ok((column(row, 0)?, column(row, 1)?)),
        None => Err(StoreError::UnknownCursor),
    }
}

/// Resolves a cursor (an object id) to its sequence number within the caller's scope.
async fn cursor_seq(
    client: &impl GenericClient,
    table: &str,
    scope: &Scope,
    cursor: &str,
) -> StoreResult<i64> {
    let sql =
        format!("SELECT seq FROM {table} WHERE id = $1 AND merchant_id = $2 AND livemode = $3");
    let rows = query(
        client,
        &sql,
        &[&cursor, &scope.merchant_id, &scope.livemode],
    )
    .await?;
    match rows.first() {
        Some(row) => column(row, 0),
        None => Err(StoreError::UnknownCursor),
    }
}

/// A statement assembled from optional filters, its parameters numbered as they are added.
struct Query {
    sql: String,
    params: Vec<Box<dyn ToSql + Sync + Send>>,
}

impl Query {
    fn new(sql: &str) -> Query {
        Query {
            sql: sql.to_owned(),
            params: Vec::new(),
        }
    }

    /// Appends `clause`, in which `$` stands for `value`.
    fn push(&mut self, clause: &str, value: impl ToSql + Sync + Send + 'static) {
        self.push_boxed(clause, Box::new(value));
    }

    fn push_boxed(&mut self, clause: &str, value: Box<dyn ToSql + Sync + Send>) {
        self.params.push(value);
        let placeholder = format!("${}", self.params.len());
        self.sql.push_str(&clause.replace('$', &placeholder));
    }

    async fn rows(&self, client: &impl GenericClient) -> StoreResult<Vec<Row>> {
        let params: Vec<&(dyn ToSql + Sync)> = self
            .params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        query(client, &self.sql, &params).await
    }
}

fn api_key_row(row: &Row) -> StoreResult<ApiKey> {
    Ok(ApiKey {
        hash: column(row, 0)?,
        prefix: column(row, 1)?,
        merchant_id: column(row, 2)?,
        livemode: column(row, 3)?,
        created_at: Timestamp(column(row, 4)?),
        revoked_at: column::<Option<i64>>(row, 5)?.map(Timestamp),
    })
}

async fn insert_api_key(client: &impl GenericClient, key: &ApiKey) -> StoreResult<()> {
    execute(
        client,
        "INSERT INTO api_keys (hash, prefix, merchant_id, livemode, created_at, revoked_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &key.hash,
            &key.prefix,
            &key.merchant_id,
            &key.livemode,
            &key.created_at.seconds(),
            &key.revoked_at.map(Timestamp::seconds),
        ],
    )
    .await?;
    Ok(())
}

type Param<'a> = Box<dyn ToSql + Sync + Send + 'a>;

/// Boxes statement parameters for a [`Pipeline`].
macro_rules! owned {
    ($($value:expr),* $(,)?) => {
        vec![$(Box::new($value) as Param<'_>),*]
    };
}

/// How many rows a pipelined statement must change; any other count is a lost race.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rows {
    Any,
    One,
}

/// A unit's statements, sent to PostgreSQL together instead of one round trip each: a payment
/// step is four to six statements, and waiting for each in turn kept its transaction open (and
/// its row locked) for as many round trips. The server runs them in order; the first failure
/// (or a versioned update that changed no row) fails the unit, and the caller's transaction is
/// rolled back, the statements after it included.
#[derive(Default)]
struct Pipeline<'a> {
    steps: Vec<(&'static str, Vec<Param<'a>>, Rows)>,
}

impl<'a> Pipeline<'a> {
    fn push(&mut self, sql: &'static str, params: Vec<Param<'a>>, rows: Rows) {
        self.steps.push((sql, params, rows));
    }

    async fn run(self, client: &impl GenericClient) -> StoreResult<()> {
        let mut statements = Vec::with_capacity(self.steps.len());
        for (sql, _, _) in &self.steps {
            statements.push(client.prepare_cached(sql).await.map_err(db_error)?);
        }
        // Polled in order, each request is sent before any answer is awaited.
        let sent = self
            .steps
            .iter()
            .zip(&statements)
            .map(|((_, params, _), statement)| {
                let params: Vec<&(dyn ToSql + Sync)> = params
                    .iter()
                    .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                    .collect();
                async move { client.execute(statement, &params).await }
            });
        let answers = futures_util::future::join_all(sent).await;
        for ((_, _, rows), answer) in self.steps.iter().zip(answers) {
            let changed = answer.map_err(db_error)?;
            if *rows == Rows::One && changed != 1 {
                return Err(StoreError::Conflict);
            }
        }
        Ok(())
    }
}

/// Writes a unit: its statements go to PostgreSQL together, in one round trip (see [`Pipeline`]).
async fn write_unit(client: &impl GenericClient, unit: &UnitOfWork) -> StoreResult<()> {
    let mut pipeline = Pipeline::default();
    for intent in &unit.intents {
        let c = IntentColumns::of(intent);
        let doc = to_doc(intent)?;
        if c.version == 1 {
            pipeline.push(
"INSERT INTO payment_intents
                 (id, merchant_id, livemode, status, capture_method, created_at, expires_at, version,
                  doc, test_clock_id, due_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
owned![c.id, c.merchant_id, c.livemode, c.status, c.capture_method, c.created_at, c.expires_at, c.version, doc, c.test_clock_id, c.due_at],
Rows::Any,
);
        } else {
            pipeline.push(
                "UPDATE payment_intents SET status = $1, expires_at = $2, version = $3, doc = $4,
                 due_at = $5, lease_until = NULL
                 WHERE id = $6 AND version = $7",
                owned![
                    c.status,
                    c.expires_at,
                    c.version,
                    doc,
                    c.due_at,
                    c.id,
                    c.version - 1
                ],
                Rows::One,
            );
        }
    }
    for order in &unit.orders {
        let doc = to_doc(order)?;
        let version = i64::try_from(order.version).unwrap_or(i64::MAX);
        if version == 1 {
            pipeline.push(
                "INSERT INTO orders (id, merchant_id, livemode, status, created_at, version, doc)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                owned![
                    &order.id,
                    &order.scope.merchant_id,
                    &order.scope.livemode,
                    order.status.as_str(),
                    order.created_at.seconds(),
                    version,
                    doc
                ],
                Rows::Any,
            );
        } else {
            pipeline.push(
"UPDATE orders SET status = $1, version = $2, doc = $3 WHERE id = $4 AND version = $5",
owned![order.status.as_str(), version, doc, &order.id, version - 1],
Rows::One,
);
        }
    }
    for refund in &unit.refunds {
        let doc = to_doc(refund)?;
        let version = i64::try_from(refund.version).unwrap_or(i64::MAX);
        if version == 1 {
            pipeline.push(
                "INSERT INTO refunds (id, merchant_id, livemode, payment_intent_id, status,
                 idempotency_key, created_at, updated_at, version, doc)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                owned![
                    &refund.id,
                    &refund.scope.merchant_id,
                    &refund.scope.livemode,
                    &refund.payment_intent_id,
                    refund.status.as_str(),
                    &refund.idempotency_key,
                    refund.created_at.seconds(),
                    refund.updated_at.seconds(),
                    version,
                    doc
                ],
                Rows::Any,
            );
        } else {
            pipeline.push(
                "UPDATE refunds SET status = $1, updated_at = $2, version = $3, doc = $4
                 WHERE id = $5 AND version = $6",
                owned![
                    refund.status.as_str(),
                    refund.updated_at.seconds(),
                    version,
                    doc,
                    &refund.id,
                    version - 1
                ],
                Rows::One,
            );
        }
    }
    for customer in &unit.customers {
        pipeline.push(
            "INSERT INTO customers (id, merchant_id, livemode, created_at, doc)
             VALUES ($1, $2, $3, $4, $5)",
            owned![
                &customer.id,
                &customer.scope.merchant_id,
                &customer.scope.livemode,
                customer.created_at.seconds(),
                to_doc(customer)?
            ],
            Rows::Any,
        );
    }
    for method in &unit.payment_methods {
        pipeline.push(
            "INSERT INTO payment_methods (id, merchant_id, livemode, customer_id, created_at, doc)
             VALUES ($1, $2, $3, $4, $5, $6)",
            owned![
                &method.id,
                &method.scope.merchant_id,
                &method.scope.livemode,
                &method.customer_id,
                method.created_at.seconds(),
                to_doc(method)?
            ],
            Rows::Any,
        );
    }
    for event in &unit.events {
        pipeline.push(
"INSERT INTO events (id, merchant_id, livemode, type, payment_intent_id, created_at, doc)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
owned![&event.id, &event.scope.merchant_id, &event.scope.livemode, event.kind.as_str(), event.payment_intent_id(), event.created_at.seconds(), to_doc(event)?],
Rows::Any,
);
        // The outbox: one delivery per endpoint that wants the event, in the event's transaction.
        pipeline.push(
            FAN_OUT,
            owned![
                &event.id,
                &event.scope.merchant_id,
                &event.scope.livemode,
                event.created_at.seconds(),
                event.kind.as_str()
            ],
            Rows::Any,
        );
    }
    for endpoint in &unit.webhook_endpoints {
        pipeline.push(
            "INSERT INTO webhook_endpoints (id, merchant_id, livemode, disabled, created_at, doc)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (id) DO UPDATE SET disabled = EXCLUDED.disabled, doc = EXCLUDED.doc",
            owned![
                &endpoint.id,
                &endpoint.scope.merchant_id,
                &endpoint.scope.livemode,
                &endpoint.disabled,
                endpoint.created_at.seconds(),
                to_doc(endpoint)?
            ],
            Rows::Any,
        );
        pipeline.push(
            "DELETE FROM webhook_endpoint_events WHERE endpoint_id = $1",
            owned![&endpoint.id],
            Rows::Any,
        );
        if endpoint.disabled {
            pipeline.push(
                "UPDATE webhook_deliveries SET status = 'canceled', lease_until = NULL
                 WHERE endpoint_id = $1 AND status = 'pending'",
                owned![&endpoint.id],
                Rows::Any,
            );
        }
        for kind in &endpoint.enabled_events {
            pipeline.push(
                "INSERT INTO webhook_endpoint_events (endpoint_id, event_type) VALUES ($1, $2)
                 ON CONFLICT DO NOTHING",
                owned![&endpoint.id, kind],
                Rows::Any,
            );
        }
    }
    for clock in &unit.test_clocks {
        let clock_doc = to_doc(clock)?;
        pipeline.push(
            "INSERT INTO test_clocks (id, merchant_id, livemode, created_at, doc, frozen_time)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc, frozen_time = EXCLUDED.frozen_time
             WHERE EXCLUDED.frozen_time >= test_clocks.frozen_time",
            owned![
                &clock.id,
                &clock.scope.merchant_id,
                &clock.scope.livemode,
                clock.created_at.seconds(),
                clock_doc,
                clock.frozen_time.seconds()
            ],
            Rows::Any,
        );
    }
    for (sql, params, exactly_one) in dashboard::postgres::user_writes(&unit.users)? {
        pipeline.push(sql, params, if exactly_one { Rows::One } else { Rows::Any });
    }
    for (sql, params) in dashboard::postgres::api_key_writes(&unit.api_keys) {
        pipeline.push(sql, params, Rows::Any);
    }
    if let Some(record) = &unit.idempotency {
        pipeline.push(
            "INSERT INTO idempotency_keys
             (merchant_id, livemode, key, fingerprint, status_code, body, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            owned![
                &record.scope.merchant_id,
                &record.scope.livemode,
                &record.key,
                &record.fingerprint,
                i64::from(record.status_code),
                &record.body,
                record.created_at.seconds()
            ],
            Rows::Any,
        );
    }
    pipeline.run(client).await
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ping(&self) -> StoreResult<()> {
        let client = self.client().await?;
        query(&client, "SELECT 1", &[]).await?;
        Ok(())
    }

    async fn create_merchant(&self, merchant: &Merchant, keys: &[ApiKey]) -> StoreResult<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        execute(
            &tx,
            "INSERT INTO merchants (id, name, created_at) VALUES ($1, $2, $3)",
            &[&merchant.id, &merchant.name, &merchant.created_at.seconds()],
        )
        .await?;
        for key in keys {
            insert_api_key(&tx, key).await?;
        }
        // On an early return the transaction is dropped unfinished, which rolls it back.
        tx.commit().await.map_err(db_error)
    }

    async fn merchant_count(&self) -> StoreResult<u64> {
        let client = self.client().await?;
        let rows = query(&client, "SELECT COUNT(*) FROM merchants", &[]).await?;
        let count: i64 = match rows.first() {
            Some(row) => column(row, 0)?,
            None => 0,
        };
        Ok(count.max(0).unsigned_abs())
    }

    async fn get_merchant(&self, id: &str) -> StoreResult<Option<Merchant>> {
        let client = self.client().await?;
        let rows = query(
            &client,
            "SELECT id, name, created_at FROM merchants WHERE id = $1",
            &[&id],
        )
        .await?;
        rows.first()
            .map(|row| {
                Ok(Merchant {
                    id: column(row, 0)?,
                    name: column(row, 1)?,
                    created_at: Timestamp(column(row, 2)?),
                })
            })
            .transpose()
    }

    async fn insert_api_key(&self, key: &ApiKey) -> StoreResult<()> {
        let client = self.client().await?;
        insert_api_key(&client, key).await
    }

    async fn api_keys_by_prefix(&self, prefix: &str) -> StoreResult<Vec<ApiKey>> {
        let client = self.client().await?;
        let rows = query(
            &client,
            "SELECT hash, prefix, merchant_id, livemode, created_at, revoked_at
             FROM api_keys WHERE prefix = $1",
            &[&prefix],
        )
        .await?;
        rows.iter().map(api_key_row).collect()
    }

    async fn revoke_api_keys(&self, prefix: &str, now: Timestamp) -> StoreResult<u64> {
        let client = self.client().await?;
        execute(
            &client,
            "UPDATE api_keys SET revoked_at = $1 WHERE prefix = $2 AND revoked_at IS NULL",
            &[&now.seconds(), &prefix],
        )
        .await
    }

    async fn get_intent(&self, scope: &Scope, id: &str) -> StoreResult<Option<PaymentIntent>> {
        let client = self.client().await?;
        get_doc(
            &client,
            "SELECT doc FROM payment_intents WHERE id = $1 AND merchant_id = $2 AND livemode = $3",
            scope,
            id,
        )
        .await
    }

    async fn get_intent_unscoped(&self, id: &str) -> StoreResult<Option<PaymentIntent>> {
        let client = self.client().await?;
        let rows = query(
            &client,
            "SELECT doc FROM payment_intents WHERE id = $1",
            &[&id],
        )
        .await?;
        Ok(docs(&rows)?.into_iter().next())
    }

    async fn list_intents(
        &self,
        scope: &Scope,
        filter: &IntentFilter,
    ) -> StoreResult<Page<PaymentIntent>> {
        self.search_intents(scope, filter, &IntentSearch::default())
            .await
    }

    async fn search_intents(
        &self,
        scope: &Scope,
        filter: &IntentFilter,
        search: &IntentSearch,
    ) -> StoreResult<Page<PaymentIntent>> {
        let client = self.client().await?;
        let now = filter.now.seconds();
        let mut q = Query::new("SELECT doc FROM payment_intents");
        q.push(" WHERE merchant_id = $", scope.merchant_id.clone());
        q.push(" AND livemode = $", scope.livemode);
        // A hold past its deadline is expired as of `now`, whatever the stored status says.
        // "Now" for each row: its test clock's time, or the wall clock's.
        let row_now = "(CASE WHEN test_clock_id IS NULL THEN $ ELSE COALESCE((SELECT c.frozen_time
            FROM test_clocks c WHERE c.id = payment_intents.test_clock_id), $) END)";
        match filter.status {
            Some(Status::RequiresCapture) => q.push(
                &format!(" AND status = 'requires_capture' AND (expires_at IS NULL OR expires_at >= {row_now})"),
                now,
            ),
            Some(Status::Expired) => q.push(
                &format!(" AND (status = 'expired' OR (status = 'requires_capture' AND expires_at < {row_now}))"),
                now,
            ),
            Some(status) => q.push(" AND status = $", status.as_str()),
            None => {}
        }
        if let Some(method) = filter.capture_method {
            q.push(" AND capture_method = $", method.as_str());
        }
        if let Some(t) = filter.created_after {
            q.push(" AND created_at > $", t.seconds());
        }
        if let Some(t) = filter.created_before {
            q.push(" AND created_at < $", t.seconds());
        }
        if let Some(t) = filter.expires_before {
            q.push(" AND expires_at < $", t.seconds());
        }
        dashboard::postgres::push_search(search, &mut |clause, value| {
            q.push_boxed(clause, value);
        });
        let cursor = match &filter.page.cursor {
            Some(cursor) => Some(cursor_position(&client, scope, cursor).await?),
            None => None,
        };
        match filter.order {
            IntentOrder::CreatedDesc => {
                if let Some((seq, _)) = cursor {
                    q.push(" AND seq < $", seq);
                }
                q.sql.push_str(" ORDER BY seq DESC");
            }
            IntentOrder::ExpiresAsc => {
                q.sql.push_str(" AND expires_at IS NOT NULL");
                if let Some((seq, expires_at)) = cursor {
                    let expires_at = expires_at.unwrap_or(i64::MIN);
                    q.push(" AND (expires_at, seq) > ($", expires_at);
                    q.push(", $)", seq);
                }
                q.sql.push_str(" ORDER BY expires_at ASC, seq ASC");
            }
        }
        q.push(" LIMIT $", i64::from(filter.page.limit) + 1);
        let rows = docs(&q.rows(&client).await?)?;
        Ok(paginate(rows, filter.page.limit, |i: &PaymentIntent| &i.id))
    }

    async fn get_order(&self, scope: &Scope, id: &str) -> StoreResult<Option<Order>> {
        let client = self.client().await?;
        get_doc(
            &client,
            "SELECT doc FROM orders WHERE id = $1 AND merchant_id = $2 AND livemode = $3",
            scope,
            id,
        )
        .await
    }

    async fn list_orders(&self, scope: &Scope, filter: &OrderFilter) -> StoreResult<Page<Order>> {
        let client = self.client().await?;
        let before_seq = match &filter.page.cursor {
            Some(cursor) => cursor_seq(&client, "orders", scope, cursor).await?,
            None => i64::MAX,
        };
        let mut q = Query::new("SELECT doc FROM orders");
        q.push(" WHERE merchant_id = $", scope.merchant_id.clone());
        q.push(" AND livemode = $", scope.livemode);
        q.push(" AND seq < $", before_seq);
        if let Some(status) = filter.status {
            q.push(" AND status = $", status.as_str());
        }
        q.push(
            " ORDER BY seq DESC LIMIT $",
            i64::from(filter.page.limit) + 1,
        );
        let rows = docs(&q.rows(&client).await?)?;
        Ok(paginate(rows, filter.page.limit, |o: &Order| &o.id))
    }

    async fn get_refund(&self, scope: &Scope, id: &str) -> StoreResult<Option<Refund>> {
        let client = self.client().await?;
        get_doc(
            &client,
            "SELECT doc FROM refunds WHERE id = $1 AND merchant_id = $2 AND livemode = $3",
            scope,
            id,
        )
        .await
    }

    async fn list_refunds(
        &self,
        scope: &Scope,
        filter: &RefundFilter,
    ) -> StoreResult<Page<Refund>> {
        let client = self.client().await?;
        let before_seq = match &filter.page.cursor {
            Some(cursor) => cursor_seq(&client, "refunds", scope, cursor).await?,
            None => i64::MAX,
        };
        let mut q = Query::new("SELECT doc FROM refunds");
        q.push(" WHERE merchant_id = $", scope.merchant_id.clone());
        q.push(" AND livemode = $", scope.livemode);
        q.push(" AND seq < $", before_seq);
        if let Some(intent) = &filter.payment_intent_id {
            q.push(" AND payment_intent_id = $", intent.clone());
        }
        q.push(
            " ORDER BY seq DESC LIMIT $",
            i64::from(filter.page.limit) + 1,
        );
        let rows = docs(&q.rows(&client).await?)?;
        Ok(paginate(rows, filter.page.limit, |r: &Refund| &r.id))
    }

    async fn refund_by_idempotency_key(
        &self,
        scope: &Scope,
        key: &str,
    ) -> StoreResult<Option<Refund>> {
        let client = self.client().await?;
        let rows = query(
            &client,
            "SELECT doc FROM refunds WHERE merchant_id = $1 AND livemode = $2
             AND idempotency_key = $3",
            &[&scope.merchant_id, &scope.livemode, &key],
        )
        .await?;
        Ok(docs(&rows)?.into_iter().next())
    }

    async fn stale_pending_refunds(
        &self,
        before: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<Refund>> {
        let client = self.client().await?;
        let rows = query(
            &client,
            "SELECT doc FROM refunds WHERE status = 'pending' AND updated_at < $1
             ORDER BY updated_at LIMIT $2",
            &[&before.seconds(), &i64::from(limit)],
        )
        .await?;
        docs(&rows)
    }

    async fn get_customer(&self, scope: &Scope, id: &str) -> StoreResult<Option<Customer>> {
        let client = self.client().await?;
        get_doc(
            &client,
            "SELECT doc FROM customers WHERE id = $1 AND merchant_id = $2 AND livemode = $3",
            scope,
            id,
        )
        .await
    }

    async fn get_payment_method(
        &self,
        scope: &Scope,
        id: &str,
    ) -> StoreResult<Option<SavedPaymentMethod>> {
        let client = self.client().await?;
        get_doc(
            &client,
            "SELECT doc FROM payment_methods WHERE id = $1 AND merchant_id = $2 AND livemode = $3",
            scope,
            id,
        )
        .await
    }

    async fn get_event(&self, scope: &Scope, id: &str) -> StoreResult<Option<Event>> {
        let client = self.client().await?;
        get_doc(
            &client,
            "SELECT doc FROM events WHERE id = $1 AND merchant_id = $2 AND livemode = $3",
            scope,
            id,
        )
        .await
    }

    async fn list_events(&self, scope: &Scope, filter: &EventFilter) -> StoreResult<Page<Event>> {
        let client = self.client().await?;
        let before_seq = match &filter.page.cursor {
            Some(cursor) => cursor_seq(&client, "events", scope, cursor).await?,
            None => i64::MAX,
        };
        let mut q = Query::new("SELECT doc FROM events");
        q.push(" WHERE merchant_id = $", scope.merchant_id.clone());
        q.push(" AND livemode = $", scope.livemode);
        q.push(" AND seq < $", before_seq);
        if let Some(kind) = filter.kind {
            q.push(" AND type = $", kind.as_str());
        }
        if let Some(intent_id) = &filter.payment_intent_id {
            q.push(" AND payment_intent_id = $", intent_id.clone());
        }
        q.push(
            " ORDER BY seq DESC LIMIT $",
            i64::from(filter.page.limit) + 1,
        );
        let rows = docs(&q.rows(&client).await?)?;
        Ok(paginate(rows, filter.page.limit, |e: &Event| &e.id))
    }

    async fn get_idempotency(
        &self,
        scope: &Scope,
        key: &str,
    ) -> StoreResult<Option<IdempotencyRecord>> {
        let client = self.client().await?;
        let rows = query(
            &client,
            "SELECT fingerprint, status_code, body, created_at FROM idempotency_keys
             WHERE merchant_id = $1 AND livemode = $2 AND key = $3",
            &[&scope.merchant_id, &scope.livemode, &key],
        )
        .await?;
        rows.first()
            .map(|row| {
                let status_code: i64 = column(row, 1)?;
                Ok(IdempotencyRecord {
                    scope: scope.clone(),
                    key: key.to_owned(),
                    fingerprint: column(row, 0)?,
                    status_code: u16::try_from(status_code).map_err(|_| {
                        StoreError::Corrupt(format!("status code {status_code} out of range"))
                    })?,
                    body: column(row, 2)?,
                    created_at: Timestamp(column(row, 3)?),
                })
            })
            .transpose()
    }

    async fn claim_due(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<PaymentIntent>> {
        let client = self.client().await?;
        // SKIP LOCKED lets several workers claim at once without waiting on, or taking, each
        // other's rows; the lease keeps a claimed row out of the next claims until it expires.
        let rows = query(
            &client,
            "UPDATE payment_intents SET lease_until = $1 WHERE seq IN (
                 SELECT seq FROM payment_intents
                 WHERE due_at <= $2 AND test_clock_id IS NULL
                   AND (lease_until IS NULL OR lease_until < $2)
                 ORDER BY due_at LIMIT $3
                 FOR UPDATE SKIP LOCKED)
             RETURNING doc",
            &[&lease_until.seconds(), &now.seconds(), &i64::from(limit)],
        )
        .await?;
        Ok(crate::model::soonest_first(docs(&rows)?))
    }

    async fn due_on_clock(
        &self,
        clock_id: &str,
        up_to: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<PaymentIntent>> {
        let client = self.client().await?;
        let rows = query(
            &client,
            "SELECT doc FROM payment_intents WHERE test_clock_id = $1 AND due_at <= $2
             ORDER BY due_at, seq LIMIT $3",
            &[&clock_id, &up_to.seconds(), &i64::from(limit)],
        )
        .await?;
        docs(&rows)
    }

    async fn open_holds(
        &self,
        expiring_before: Option<Timestamp>,
        limit: u32,
    ) -> StoreResult<Vec<PaymentIntent>> {
        let client = self.client().await?;
        let before = expiring_before.map_or(i64::MAX, Timestamp::seconds);
        let rows = query(
            &client,
            "SELECT doc FROM payment_intents WHERE status = 'requires_capture' AND expires_at < $1
             ORDER BY expires_at, seq LIMIT $2",
            &[&before, &i64::from(limit)],
        )
        .await?;
        docs(&rows)
    }

    async fn get_test_clock(
        &self,
        scope: &Scope,
        id: &str,
        include_deleted: bool,
    ) -> StoreResult<Option<TestClock>> {
        let client = self.client().await?;
        let rows = query(
            &client,
            "SELECT doc FROM test_clocks WHERE id = $1 AND merchant_id = $2 AND livemode = $3
             AND (NOT deleted OR $4)",
            &[&id, &scope.merchant_id, &scope.livemode, &include_deleted],
        )
        .await?;
        Ok(docs(&rows)?.into_iter().next())
    }

    async fn list_test_clocks(
        &self,
        scope: &Scope,
        page: &PageRequest,
    ) -> StoreResult<Page<TestClock>> {
        let client = self.client().await?;
        let before_seq = match &page.cursor {
            Some(cursor) => cursor_seq(&client, "test_clocks", scope, cursor).await?,
            None => i64::MAX,
        };
        let rows = query(
            &client,
            "SELECT doc FROM test_clocks WHERE merchant_id = $1 AND livemode = $2 AND seq < $3
             AND NOT deleted ORDER BY seq DESC LIMIT $4",
            &[
                &scope.merchant_id,
                &scope.livemode,
                &before_seq,
                &(i64::from(page.limit) + 1),
            ],
        )
        .await?;
        Ok(paginate(docs(&rows)?, page.limit, |c: &TestClock| &c.id))
    }

    async fn delete_test_clock(&self, scope: &Scope, id: &str) -> StoreResult<bool> {
        let client = self.client().await?;
        let changed = execute(
            &client,
            "UPDATE test_clocks SET deleted = true
             WHERE id = $1 AND merchant_id = $2 AND livemode = $3 AND NOT deleted",
            &[&id, &scope.merchant_id, &scope.livemode],
        )
        .await?;
        Ok(changed == 1)
    }

    async fn get_webhook_endpoint(
        &self,
        scope: &Scope,
        id: &str,
    ) -> StoreResult<Option<WebhookEndpoint>> {
        let client = self.client().await?;
        get_doc(
            &client,
            "SELECT doc FROM webhook_endpoints WHERE id = $1 AND merchant_id = $2
             AND livemode = $3 AND NOT deleted",
            scope,
            id,
        )
        .await
    }

    async fn get_webhook_endpoint_unscoped(
        &self,
        id: &str,
    ) -> StoreResult<Option<WebhookEndpoint>> {
        let client = self.client().await?;
        let rows = query(
            &client,
            "SELECT doc FROM webhook_endpoints WHERE id = $1 AND NOT deleted",
            &[&id],
        )
        .await?;
        Ok(docs(&rows)?.into_iter().next())
    }

    async fn list_webhook_endpoints(
        &self,
        scope: &Scope,
        page: &PageRequest,
    ) -> StoreResult<Page<WebhookEndpoint>> {
        let client = self.client().await?;
        let before_seq = match &page.cursor {
            Some(cursor) => cursor_seq(&client, "webhook_endpoints", scope, cursor).await?,
            None => i64::MAX,
        };
        let rows = query(
            &client,
            "SELECT doc FROM webhook_endpoints WHERE merchant_id = $1 AND livemode = $2
             AND seq < $3 AND NOT deleted ORDER BY seq DESC LIMIT $4",
            &[
                &scope.merchant_id,
                &scope.livemode,
                &before_seq,
                &(i64::from(page.limit) + 1),
            ],
        )
        .await?;
        Ok(paginate(docs(&rows)?, page.limit, |e: &WebhookEndpoint| {
            &e.id
        }))
    }

    async fn delete_webhook_endpoint(&self, scope: &Scope, id: &str) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        let deleted = execute(
            &tx,
            "UPDATE webhook_endpoints SET deleted = true
             WHERE id = $1 AND merchant_id = $2 AND livemode = $3 AND NOT deleted",
            &[&id, &scope.merchant_id, &scope.livemode],
        )
        .await?;
        if deleted == 1 {
            execute(
                &tx,
                "DELETE FROM webhook_endpoint_events WHERE endpoint_id = $1",
                &[&id],
            )
            .await?;
            execute(
                &tx,
                "UPDATE webhook_deliveries SET status = 'canceled', lease_until = NULL
                 WHERE endpoint_id = $1 AND status = 'pending'",
                &[&id],
            )
            .await?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(deleted == 1)
    }

    async fn claim_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryClaim>> {
        let client = self.client().await?;
        let rows = query(
            &client,
            "UPDATE webhook_deliveries SET lease_until = $1 WHERE seq IN (
                 SELECT seq FROM webhook_deliveries
                 WHERE status = 'pending' AND next_attempt_at <= $2
                   AND (lease_until IS NULL OR lease_until < $2)
                 ORDER BY next_attempt_at, seq LIMIT $3
                 FOR UPDATE SKIP LOCKED)
             RETURNING seq, merchant_id, livemode, event_id, endpoint_id, attempts",
            &[&lease_until.seconds(), &now.seconds(), &i64::from(limit)],
        )
        .await?;
        let mut claims = rows
            .iter()
            .map(|row| {
                Ok(DeliveryClaim {
                    seq: column(row, 0)?,
                    scope: Scope {
                        merchant_id: column(row, 1)?,
                        livemode: column(row, 2)?,
                    },
                    event_id: column(row, 3)?,
                    endpoint_id: column(row, 4)?,
                    attempts: u32::try_from(column::<i64>(row, 5)?).unwrap_or(u32::MAX),
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        claims.sort_by_key(|c| c.seq);
        Ok(claims)
    }

    async fn finish_delivery(&self, a: &DeliveryAttempt) -> StoreResult<()> {
        let mut client = self.client().await?;
        if a.next == DeliveryNext::Canceled {
            execute(
                &client,
                "UPDATE webhook_deliveries SET status = 'canceled', lease_until = NULL
                 WHERE seq = $1 AND status = 'pending'",
                &[&a.claim.seq],
            )
            .await?;
            return Ok(());
        }
        let tx = client.transaction().await.map_err(db_error)?;
        let attempts = i64::from(a.claim.attempts) + 1;
        let next_at = a.next.next_attempt_at().map(Timestamp::seconds);
        // Only a delivery still pending moves on: one a `410` canceled meanwhile stays so.
        execute(
            &tx,
            "UPDATE webhook_deliveries SET status = $1, attempts = $2, next_attempt_at = $3,
             lease_until = NULL, updated_at = $4
             WHERE seq = $5 AND attempts = $6 AND status = 'pending'",
            &[
                &a.next.status(),
                &attempts,
                &next_at,
                &a.attempted_at.seconds(),
                &a.claim.seq,
                &i64::from(a.claim.attempts),
            ],
        )
        .await?;
        execute(
            &tx,
            "INSERT INTO webhook_attempts (delivery_seq, event_id, endpoint_id, attempt,
             attempted_at, status_code, latency_ms, error, next_attempt_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &a.claim.seq,
                &a.claim.event_id,
                &a.claim.endpoint_id,
                &attempts,
                &a.attempted_at.seconds(),
                &a.status_code.map(i64::from),
                &a.latency_ms,
                &a.error,
                &next_at,
            ],
        )
        .await?;
        if a.disable_endpoint {
            execute(
                &tx,
                "UPDATE webhook_endpoints SET disabled = true,
                 doc = jsonb_set(doc::jsonb, '{disabled}', 'true')::text WHERE id = $1",
                &[&a.claim.endpoint_id],
            )
            .await?;
            execute(
                &tx,
                "UPDATE webhook_deliveries SET status = 'canceled', lease_until = NULL
                 WHERE endpoint_id = $1 AND status = 'pending'",
                &[&a.claim.endpoint_id],
            )
            .await?;
        }
        tx.commit().await.map_err(db_error)
    }

    async fn list_deliveries(
        &self,
        scope: &Scope,
        event_id: &str,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        let client = self.client().await?;
        let rows = query(
            &client,
            "SELECT endpoint_id, status, attempts, next_attempt_at FROM webhook_deliveries
             WHERE event_id = $1 AND merchant_id = $2 AND livemode = $3 ORDER BY seq",
            &[&event_id, &scope.merchant_id, &scope.livemode],
        )
        .await?;
        let mut records = rows
            .iter()
            .map(|row| {
                Ok(DeliveryRecord {
                    endpoint_id: column(row, 0)?,
                    status: column(row, 1)?,
                    attempts: u32::try_from(column::<i64>(row, 2)?).unwrap_or(u32::MAX),
                    next_attempt_at: column::<Option<i64>>(row, 3)?.map(Timestamp),
                    log: Vec::new(),
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let rows = query(
            &client,
            "SELECT endpoint_id, attempt, attempted_at, status_code, latency_ms, error,
             next_attempt_at FROM webhook_attempts WHERE event_id = $1 ORDER BY seq",
            &[&event_id],
        )
        .await?;
        for row in &rows {
            let endpoint_id: String = column(row, 0)?;
            let log = AttemptLog {
                attempt: u32::try_from(column::<i64>(row, 1)?).unwrap_or(u32::MAX),
                attempted_at: Timestamp(column(row, 2)?),
                status_code: column::<Option<i64>>(row, 3)?.and_then(|c| u16::try_from(c).ok()),
                latency_ms: column(row, 4)?,
                error: column(row, 5)?,
                next_attempt_at: column::<Option<i64>>(row, 6)?.map(Timestamp),
            };
            if let Some(record) = records.iter_mut().find(|r| r.endpoint_id == endpoint_id) {
                record.log.push(log);
            }
        }
        Ok(records)
    }

    async fn resend_event(&self, event: &Event, now: Timestamp) -> StoreResult<u64> {
        let client = self.client().await?;
        let sql = format!(
            "{FAN_OUT} ON CONFLICT (event_id, endpoint_id) DO UPDATE SET status = 'pending',
             attempts = 0, next_attempt_at = 0, lease_until = NULL, updated_at = EXCLUDED.updated_at"
        );
        execute(
            &client,
            &sql,
            &[
                &event.id,
                &event.scope.merchant_id,
                &event.scope.livemode,
                &now.seconds(),
                &event.kind.as_str(),
            ],
        )
        .await
    }

    async fn purge_idempotency(&self, before: Timestamp, limit: u32) -> StoreResult<u64> {
        let client = self.client().await?;
        execute(
            &client,
            "DELETE FROM idempotency_keys WHERE ctid IN
             (SELECT ctid FROM idempotency_keys WHERE created_at < $1 LIMIT $2)",
            &[&before.seconds(), &i64::from(limit)],
        )
        .await
    }

    async fn commit(&self, unit: UnitOfWork) -> StoreResult<()> {
        if unit.is_empty() {
            return Ok(());
        }
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(db_error)?;
        // On an error the transaction is dropped unfinished, which rolls it back: nothing is written.
        write_unit(&tx, &unit).await?;
        tx.commit().await.map_err(db_error)
    }

    async fn money_at_risk(&self, scope: &Scope, now: Timestamp) -> StoreResult<Vec<AtRisk>> {
        let client = self.client().await?;
        dashboard::postgres::money_at_risk(&client, scope, now.seconds()).await
    }

    async fn daily_totals(
        &self,
        scope: &Scope,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<DailyTotals>> {
        let client = self.client().await?;
        dashboard::postgres::daily_totals(&client, scope, from.seconds(), to.seconds()).await
    }

    async fn endpoint_deliveries(
        &self,
        scope: &Scope,
        endpoint_id: &str,
        limit: u32,
    ) -> StoreResult<Vec<EndpointDelivery>> {
        let client = self.client().await?;
        dashboard::postgres::endpoint_deliveries(&client, scope, endpoint_id, limit).await
    }

    async fn list_api_keys(&self, merchant_id: &str, livemode: bool) -> StoreResult<Vec<ApiKey>> {
        let client = self.client().await?;
        dashboard::postgres::list_api_keys(&client, merchant_id, livemode).await
    }

    async fn get_user(&self, id: &str) -> StoreResult<Option<User>> {
        let client = self.client().await?;
        dashboard::postgres::get_user(&client, id).await
    }

    async fn get_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let client = self.client().await?;
        dashboard::postgres::get_user_by_email(&client, email).await
    }

    async fn list_users(&self, merchant_id: &str) -> StoreResult<Vec<User>> {
        let client = self.client().await?;
        dashboard::postgres::list_users(&client, merchant_id).await
    }

    async fn insert_session(&self, session: &Session) -> StoreResult<()> {
        let client = self.client().await?;
        dashboard::postgres::insert_session(&client, session).await
    }

    async fn get_session(&self, token_hash: &str) -> StoreResult<Option<Session>> {
        let client = self.client().await?;
        dashboard::postgres::get_session(&client, token_hash).await
    }

    async fn touch_session(&self, token_hash: &str, at: Timestamp) -> StoreResult<()> {
        let client = self.client().await?;
        dashboard::postgres::touch_session(&client, token_hash, at.seconds()).await
    }

    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        let client = self.client().await?;
        dashboard::postgres::delete_session(&client, token_hash).await
    }

    async fn purge_sessions(
        &self,
        seen_before: Timestamp,
        created_before: Timestamp,
        limit: u32,
    ) -> StoreResult<u64> {
        let client = self.client().await?;
        dashboard::postgres::purge_sessions(
            &client,
            seen_before.seconds(),
            created_before.seconds(),
            limit,
        )
        .await
    }
}
