//! The PostgreSQL store, for several `holdfast` processes sharing one database.
//!
//! A pool of `tokio-postgres` connections (no TLS) serves every call; each statement is prepared
//! once per connection and cached. A plan is one transaction whose statements go to the server in
//! one pipeline (see `writer.rs`), and concurrency control is the same as SQLite's: an intent
//! update names the version it was computed from, so of two writers racing on one intent the
//! second changes no row and its whole unit rolls back as [`StoreError::Conflict`]. A duplicate key
//! (a replayed idempotency key, an id already taken) is a conflict too. Migrations run at open,
//! each in its own transaction under an advisory lock, so processes starting together on one
//! database apply each migration exactly once.

mod reads;
mod writer;

use std::error::Error;
use std::time::Duration;

use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Pool, PoolError, RecyclingMethod};
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use crate::engine::Backend;
use crate::plan::{Plan, Read};
use crate::rows::Map;
use crate::sql::{Dialect, Value};
use crate::{StoreError, StoreResult, migrate};

/// Connections per process.
const POOL_MAX: usize = 16;
/// Used when the URL sets no `connect_timeout`, so an unreachable server fails instead of hanging.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The advisory lock key migrations hold: "holdfast" in ASCII. Anything else that changes the
/// schema (a manual fix, another tool) can take it too, to keep out of the way of starting
/// processes.
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
            let applied = tx
                .query_opt(
                    "SELECT version FROM schema_migrations WHERE version = $1",
                    &[&migration.version],
                )
                .await
                .map_err(db_error)?;
            if applied.is_none() {
                tx.batch_execute(migration.sql).await.map_err(db_error)?;
                tx.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    &[&migration.version, &migration.name],
                )
                .await
                .map_err(db_error)?;
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

impl Backend for PgStore {
    const NAME: &'static str = "postgres";
    const DIALECT: Dialect = Dialect::Postgres;

    /// Every kind of read is one query on a pooled connection: a claim's `FOR UPDATE SKIP
    /// LOCKED` keeps two workers from leasing one row.
    async fn read<T: Send + 'static>(&self, read: Read, map: Map<T>) -> StoreResult<Vec<T>> {
        let client = self.client().await?;
        reads::run(&client, &read, map).await
    }

    async fn write(&self, plan: Plan) -> StoreResult<u64> {
        let mut client = self.client().await?;
        writer::run(&mut client, &plan).await
    }
}

/// Takes the migration lock until the end of the current transaction.
async fn lock_migrations(tx: &impl GenericClient) -> StoreResult<()> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(db_error)?;
    Ok(())
}

/// Binds a shared parameter as the type the server inferred for its placeholder; a value of
/// another type is refused by the inner type's check, never sent as the wrong bytes.
impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(v) => v.to_sql_checked(ty, out),
            Value::Bool(v) => v.to_sql_checked(ty, out),
            Value::Word(v) => v.to_sql_checked(ty, out),
            Value::Text(v) => v.to_sql_checked(ty, out),
            Value::Blob(v) => v.as_slice().to_sql_checked(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A statement's parameters as `tokio-postgres` takes them.
fn params(values: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    values.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

/// The message of an error and of every error behind it: `tokio-postgres` keeps the server's
/// words in the source of a terse "db error".
fn describe(e: &dyn Error) -> String {
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
