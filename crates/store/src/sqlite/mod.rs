//! The embedded SQLite store: WAL, `synchronous=FULL`, one writer, a pool of readers.
//!
//! SQLite admits one writer at a time, so every plan goes through a single writer thread that
//! owns the write connection and commits waiting plans together (group commit; see
//! `writer.rs`). Reads run on a small pool of read-only connections, which WAL lets proceed while
//! the writer works: lookups by key on the caller's thread, scans on the blocking pool, and
//! claims (which lease what they read) on the writer.

mod reads;
mod writer;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::{mpsc, oneshot};

use self::reads::Readers;
pub use self::writer::BATCH_MAX;
use self::writer::{Job, Pending, QUEUE_MAX, checkpoint_loop, run_plan, write_loop};
use crate::engine::Backend;
use crate::plan::{Plan, Read, ReadKind};
use crate::rows::Map;
use crate::sql::{Dialect, Value};
use crate::{StoreError, StoreResult, migrate};

#[derive(Debug)]
pub struct SqliteStore {
    writer: mpsc::Sender<Job>,
    readers: Arc<Readers>,
}

impl SqliteStore {
    pub async fn open(path: &str) -> StoreResult<SqliteStore> {
        let path = PathBuf::from(path);
        let setup_path = path.clone();
        let (conn, checkpointer) = tokio::task::spawn_blocking(move || {
            let mut conn = Connection::open(&setup_path).map_err(unavailable)?;
            configure(&conn).map_err(unavailable)?;
            conn.pragma_update(None, "journal_mode", "WAL")
                .map_err(unavailable)?;
            conn.pragma_update(None, "wal_autocheckpoint", 0)
                .map_err(unavailable)?;
            // When the WAL starts over, its file is cut back to 64 MiB.
            conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)
                .map_err(unavailable)?;
            run_migrations(&mut conn)?;
            let checkpointer = Connection::open(&setup_path).map_err(unavailable)?;
            configure(&checkpointer).map_err(unavailable)?;
            StoreResult::Ok((conn, checkpointer))
        })
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string()))??;
        let (nudge, nudges) = std::sync::mpsc::sync_channel(1);
        let caught_up = Arc::new(AtomicBool::new(false));
        let checkpointer_caught_up = Arc::clone(&caught_up);
        std::thread::Builder::new()
            .name("sqlite-checkpt".into())
            .spawn(move || checkpoint_loop(checkpointer, nudges, checkpointer_caught_up))
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let (writer, jobs) = mpsc::channel(QUEUE_MAX);
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || write_loop(conn, jobs, nudge, caught_up))
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(SqliteStore {
            writer,
            readers: Arc::new(Readers::new(path)),
        })
    }

    /// Runs `statements` in the writer's transaction; answers after the commit that holds it.
    async fn on_writer<R: Send + 'static>(
        &self,
        statements: impl Fn(&Connection) -> StoreResult<R> + Send + 'static,
    ) -> StoreResult<R> {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(Pending {
            statements,
            result: None,
            reply,
        });
        let stopped = || StoreError::Unavailable("the SQLite writer has stopped".into());
        self.writer.send(job).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

impl Backend for SqliteStore {
    const NAME: &'static str = "sqlite";
    const DIALECT: Dialect = Dialect::Sqlite;

    async fn read<T: Send + 'static>(&self, read: Read, map: Map<T>) -> StoreResult<Vec<T>> {
        match read.kind {
            // A lookup by key takes microseconds, less than the hand-off to a blocking thread
            // would cost, and WAL readers never wait for the writer: run it right here.
            ReadKind::Point => self.readers.with(|conn| reads::run(conn, &read, map)),
            ReadKind::Scan => {
                let readers = Arc::clone(&self.readers);
                tokio::task::spawn_blocking(move || readers.with(|c| reads::run(c, &read, map)))
                    .await
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?
            }
            // The single writer makes select-and-lease atomic: no other claim runs in between.
            ReadKind::Claim => {
                self.on_writer(move |conn| reads::run(conn, &read, map))
                    .await
            }
        }
    }

    async fn write(&self, plan: Plan) -> StoreResult<u64> {
        self.on_writer(move |conn| run_plan(conn, &plan)).await
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(v) => ValueRef::Integer(*v),
            Value::Bool(v) => ValueRef::Integer(i64::from(*v)),
            Value::Word(v) => ValueRef::Text(v.as_bytes()),
            Value::Text(v) => ValueRef::Text(v.as_bytes()),
            Value::Blob(v) => ValueRef::Blob(v),
        }))
    }
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Savepoint journals stay in memory: each job of a group commit has one.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

fn run_migrations(conn: &mut Connection) -> StoreResult<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
    )
    .map_err(unavailable)?;
    for migration in migrate::SQLITE {
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(unavailable)?;
        let applied: Option<i64> = tx
            .query_row(
                "SELECT version FROM schema_migrations WHERE version = ?1",
                [migration.version],
                |r| r.get(0),
            )
            .optional()
            .map_err(unavailable)?;
        if applied.is_none() {
            tx.execute_batch(migration.sql).map_err(unavailable)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at)
                 VALUES (?1, ?2, datetime('now'))",
                params![migration.version, migration.name],
            )
            .map_err(unavailable)?;
        }
        tx.commit().map_err(unavailable)?;
    }
    Ok(())
}

fn unavailable(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// Maps a write error: a unique or primary key violation means another write got there first.
/// Any other constraint failure is a bug or a damaged database, as on PostgreSQL.
fn write_error(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(err, _)
            if err.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || err.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            StoreError::Conflict
        }
        _ => unavailable(e),
    }
}
