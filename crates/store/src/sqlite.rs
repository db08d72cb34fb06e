//! The embedded SQLite store: WAL, `synchronous=FULL`, one writer, a pool of readers.
//!
//! SQLite admits one writer at a time, so every write goes through a single writer thread that
//! owns the write connection. The thread drains whatever jobs are waiting (up to [`BATCH_MAX`]) and
//! commits them in one transaction: one fsync serves the batch (group commit), a job that fails
//! rolls back alone (see [`commit_batch`]), and no job's caller hears back before the commit that
//! holds its change is on disk. A checkpointer thread copies the WAL back into the database file.
//! Reads run on a small pool of read-only connections, which WAL lets proceed while the writer
//! works: lookups by key on the caller's thread, scans on the blocking pool.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use holdfast_domain::customer::{Customer, SavedPaymentMethod};
use holdfast_domain::event::Event;
use holdfast_domain::intent::{PaymentIntent, Status};
use holdfast_domain::order::Order;
use holdfast_domain::refund::Refund;
use holdfast_domain::test_clock::TestClock;
use holdfast_domain::user::{Session, User};
use holdfast_domain::webhook::WebhookEndpoint;
use holdfast_domain::{Scope, Timestamp};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use tokio::sync::{mpsc, oneshot};

use crate::dashboard::{self, AtRisk, DailyTotals, EndpointDelivery, IntentSearch};
use crate::model::{IntentColumns, from_doc, paginate, soonest_first, to_doc};
use crate::{
    ApiKey, AttemptLog, DeliveryAttempt, DeliveryClaim, DeliveryNext, DeliveryRecord, EventFilter,
    IdempotencyRecord, IntentFilter, IntentOrder, Merchant, OrderFilter, Page, PageRequest,
    RefundFilter, Store, StoreError, StoreResult, UnitOfWork, migrate,
};

/// The most jobs one group commit takes.
pub const BATCH_MAX: usize = 256;
/// Jobs waiting for the writer; senders wait when it is full, so memory stays bounded.
const QUEUE_MAX: usize = 4096;
const READERS_MAX: usize = 8;

/// A write waiting for the writer thread.
trait Write: Send {
    /// Runs the write's statements in the batch's transaction, keeps their result, and says
    /// whether they succeeded. It may run twice: see [`commit_batch`].
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the caller once the batch's commit (or its failure) is known.
    fn deliver(self: Box<Self>, committed: Result<(), StoreError>);
}

type Job = Box<dyn Write>;

struct Pending<F, R> {
    statements: F,
    result: Option<StoreResult<R>>,
    reply: oneshot::Sender<StoreResult<R>>,
}

impl<F, R> Write for Pending<F, R>
where
    F: Fn(&Connection) -> StoreResult<R> + Send,
    R: Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let result = (self.statements)(conn);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn deliver(self: Box<Self>, committed: Result<(), StoreError>) {
        let result = self
            .result
            .unwrap_or_else(|| Err(StoreError::Unavailable("write not attempted".into())));
        let _ = self.reply.send(committed.and(result));
    }
}

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
            readers: Arc::new(Readers {
                path,
                pool: Mutex::new(Vec::new()),
            }),
        })
    }

    /// Runs `f` in the writer's transaction; answers after the commit that holds it.
    async fn write<R: Send + 'static>(
        &self,
        statements: impl Fn(&Connection) -> StoreResult<R> + Send + 'static,
    ) -> StoreResult<R> {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(Pending {
            statements,
            result: None,
            reply,
        });
        self.writer
            .send(job)
            .await
            .map_err(|_| StoreError::Unavailable("the SQLite writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the SQLite writer has stopped".into()))?
    }

    /// One document by id, within the caller's scope (`table` is one of ours, never input).
    async fn get_scoped<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        table: &'static str,
        scope: &Scope,
        id: &str,
    ) -> StoreResult<Option<T>> {
        self.read_now(|conn| {
            let sql = format!(
                "SELECT doc FROM {table} WHERE id = ?1 AND merchant_id = ?2 AND livemode = ?3"
            );
            let docs = query_docs(conn, &sql, &[&id, &scope.merchant_id, &scope.livemode])?;
            docs.first().map(|d| from_doc(d)).transpose()
        })
    }

    /// Runs a short read (a lookup by key) on the calling thread with a pooled connection. WAL
    /// readers never wait for the writer, and a lookup by key takes microseconds, less than the
    /// hand-off to a blocking thread would cost.
    fn read_now<R>(&self, f: impl FnOnce(&Connection) -> StoreResult<R>) -> StoreResult<R> {
        self.readers.with(f)
    }

    /// Runs a read that may scan (a list, a page) on a blocking thread.
    async fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<R> + Send + 'static,
    ) -> StoreResult<R> {
        let readers = Arc::clone(&self.readers);
        tokio::task::spawn_blocking(move || readers.with(f))
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?
    }
}

/// Read-only connections, opened when none is free and kept up to [`READERS_MAX`].
#[derive(Debug)]
struct Readers {
    path: PathBuf,
    pool: Mutex<Vec<Connection>>,
}

impl Readers {
    fn with<R>(&self, f: impl FnOnce(&Connection) -> StoreResult<R>) -> StoreResult<R> {
        let pooled = self.pool.lock().map_err(|_| poisoned())?.pop();
        let conn = match pooled {
            Some(conn) => conn,
            None => open_reader(&self.path)?,
        };
        let result = f(&conn);
        let mut pool = self.pool.lock().map_err(|_| poisoned())?;
        if pool.len() < READERS_MAX {
            pool.push(conn);
        }
        result
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

fn open_reader(path: &Path) -> StoreResult<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(unavailable)?;
    configure(&conn).map_err(unavailable)?;
    Ok(conn)
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
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, datetime('now'))",
                params![migration.version, migration.name],
            )
            .map_err(unavailable)?;
        }
        tx.commit().map_err(unavailable)?;
    }
    Ok(())
}

/// Batches between two nudges to the checkpointer.
const CHECKPOINT_EVERY_BATCHES: u32 = 32;
/// A WAL longer than this many frames (4 KiB pages, 1 GiB) after a passive checkpoint is truncated.
/// Only a safety valve: a truncating checkpoint holds up every write while it copies the WAL and
/// waits for readers (a 64 MiB one stalled writes for about 350 ms). Normally the writer starts
/// the WAL over once a passive checkpoint has copied it all.
const WAL_FRAMES_MAX: i64 = 262_144;

/// The writer thread: group commit of whatever is waiting, until every sender is gone.
///
/// The writer does not copy the WAL back into the database file (`wal_autocheckpoint` is off on
/// its connection): that took about a fifth of its time. It nudges the checkpointer thread, which
/// checkpoints passively, beside the writer and the readers. The WAL can only start over from its
/// beginning once every frame in it is copied, and under load the writer adds frames while the
/// checkpointer copies: so when the checkpointer has caught up with what it saw, the writer copies
/// the few frames since itself (cheap), and its next transaction starts the WAL over.
fn write_loop(
    conn: Connection,
    mut jobs: mpsc::Receiver<Job>,
    checkpoint: SyncSender<()>,
    caught_up: Arc<AtomicBool>,
) {
    let mut batches = 0u32;
    while let Some(first) = jobs.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < BATCH_MAX {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_batch(&conn, batch);
        batches += 1;
        if caught_up.swap(false, Ordering::AcqRel) {
            let _ = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
        }
        if batches.is_multiple_of(CHECKPOINT_EVERY_BATCHES) {
            // Full means a checkpoint is already due; a nudge more adds nothing.
            let _ = checkpoint.try_send(());
        }
    }
}

/// The checkpointer thread: a passive checkpoint at each nudge, until the writer stops. Should
/// readers keep the WAL from being reused, a truncating checkpoint bounds its size.
fn checkpoint_loop(conn: Connection, nudges: Receiver<()>, caught_up: Arc<AtomicBool>) {
    while nudges.recv().is_ok() {
        // (busy, frames in the WAL, frames copied)
        let outcome = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        });
        match outcome {
            Ok((_, frames, _)) if frames > WAL_FRAMES_MAX => {
                let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
            }
            Ok((0, frames, copied)) if frames > 0 && copied == frames => {
                caught_up.store(true, Ordering::Release);
            }
            _ => {}
        }
    }
}

/// Runs one of the writer's fixed statements (`BEGIN`, savepoints, `COMMIT`), prepared once.
fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

fn commit_batch(conn: &Connection, mut batch: Vec<Job>) {
    if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
        let error = e.to_string();
        for job in batch {
            // The job never runs; its caller hears why.
            job.deliver(Err(StoreError::Unavailable(error.clone())));
        }
        return;
    }
    // Most batches succeed whole: run them without savepoints, whose journal copies every page
    // a job touches. Should one job fail, undo the batch and run it again with a savepoint per
    // job, so that only the failed job is left out. Jobs only run SQL, so a second run on the
    // restored database computes what the first did.
    if batch.iter_mut().all(|job| job.run(conn)) {
        let committed = exec(conn, "COMMIT").map_err(|e| e.to_string());
        if committed.is_err() {
            let _ = exec(conn, "ROLLBACK");
        }
        for job in batch {
            job.deliver(committed.clone().map_err(StoreError::Unavailable));
        }
        return;
    }
    // A failed statement may already have ended the transaction; either way, start afresh.
    let _ = exec(conn, "ROLLBACK");
    commit_one_by_one(conn, batch);
}

/// The slow path of [`commit_batch`]: each job in its own savepoint, in one transaction.
fn commit_one_by_one(conn: &Connection, mut batch: Vec<Job>) {
    if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
        let error = e.to_string();
        for job in batch {
            job.deliver(Err(StoreError::Unavailable(error.clone())));
        }
        return;
    }
    let mut savepoint_errors = Vec::with_capacity(batch.len());
    for job in &mut batch {
        if let Err(e) = exec(conn, "SAVEPOINT job") {
            savepoint_errors.push(Some(e.to_string()));
            continue;
        }
        let end = if job.run(conn) {
            exec(conn, "RELEASE job")
        } else {
            exec(conn, "ROLLBACK TO job").and_then(|()| exec(conn, "RELEASE job"))
        };
        savepoint_errors.push(end.err().map(|e| e.to_string()));
    }
    let committed = exec(conn, "COMMIT").map_err(|e| e.to_string());
    if committed.is_err() {
        let _ = exec(conn, "ROLLBACK");
    }
    for (job, savepoint_error) in batch.into_iter().zip(savepoint_errors) {
        let outcome = match (&committed, savepoint_error) {
            (Err(e), _) => Err(StoreError::Unavailable(e.clone())),
            (Ok(()), Some(e)) => Err(StoreError::Unavailable(e)),
            (Ok(()), None) => Ok(()),
        };
        job.deliver(outcome);
    }
}

fn unavailable(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn poisoned() -> StoreError {
    StoreError::Unavailable("reader pool lock poisoned".into())
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

fn scope_of(merchant_id: String, livemode: bool) -> Scope {
    Scope {
        merchant_id,
        livemode,
    }
}

fn api_key_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApiKey> {
    Ok(ApiKey {
        hash: r.get(0)?,
        prefix: r.get(1)?,
        merchant_id: r.get(2)?,
        livemode: r.get(3)?,
        created_at: Timestamp(r.get(4)?),
        revoked_at: r.get::<_, Option<i64>>(5)?.map(Timestamp),
    })
}

fn insert_api_key(conn: &Connection, key: &ApiKey) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO api_keys (hash, prefix, merchant_id, livemode, created_at, revoked_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut s| {
        s.execute(params![
            key.hash,
            key.prefix,
            key.merchant_id,
            key.livemode,
            key.created_at.seconds(),
            key.revoked_at.map(Timestamp::seconds)
        ])
    })
    .map_err(write_error)?;
    Ok(())
}

/// Resolves a cursor (an object id) to its sequence number within the caller's scope.
fn cursor_seq(conn: &Connection, table: &str, scope: &Scope, cursor: &str) -> StoreResult<i64> {
    let sql =
        format!("SELECT seq FROM {table} WHERE id = ?1 AND merchant_id = ?2 AND livemode = ?3");
    conn.prepare_cached(&sql)
        .and_then(|mut s| {
            s.query_row(params![cursor, scope.merchant_id, scope.livemode], |r| {
                r.get(0)
            })
            .optional()
        })
        .map_err(unavailable)?
        .ok_or(StoreError::UnknownCursor)
}

/// Where a cursor intent stands in both orders: its `seq` and its deadline.
fn cursor_position(
    conn: &Connection,
    scope: &Scope,
    cursor: &str,
) -> StoreResult<(i64, Option<i64>)> {
    conn.prepare_cached(
        "SELECT seq, expires_at FROM payment_intents
         WHERE id = ?1 AND merchant_id = ?2 AND livemode = ?3",
    )
    .and_then(|mut s| {
        s.query_row(params![cursor, scope.merchant_id, scope.livemode], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()
    })
    .map_err(unavailable)?
    .ok_or(StoreError::UnknownCursor)
}

fn decode_all<T: serde::de::DeserializeOwned>(docs: &[String]) -> StoreResult<Vec<T>> {
    docs.iter().map(|d| from_doc(d)).collect()
}

fn query_docs(
    conn: &Connection,
    sql: &str,
    args: &[&dyn rusqlite::ToSql],
) -> StoreResult<Vec<String>> {
    let mut stmt = conn.prepare_cached(sql).map_err(unavailable)?;
    let rows = stmt
        .query_map(args, |r| r.get::<_, String>(0))
        .map_err(unavailable)?;
    rows.collect::<Result<Vec<_>, _>>().map_err(unavailable)
}

/// Queues an event for every enabled endpoint of its scope that wants it (`?1` event id, `?2`
/// merchant, `?3` livemode, `?4` time, `?5` event type). Due at once: `next_attempt_at` 0.
const FAN_OUT: &str = "INSERT INTO webhook_deliveries
    (event_id, endpoint_id, merchant_id, livemode, status, attempts, next_attempt_at, created_at, updated_at)
    SELECT ?1, e.id, e.merchant_id, e.livemode, 'pending', 0, 0, ?4, ?4 FROM webhook_endpoints e
    WHERE e.merchant_id = ?2 AND e.livemode = ?3 AND e.disabled = 0 AND e.deleted = 0
      AND EXISTS (SELECT 1 FROM webhook_endpoint_events t
                  WHERE t.endpoint_id = e.id AND t.event_type IN (?5, '*'))";

/// A unit's documents, serialised before the unit reaches the writer thread, so that the one
/// thread every write waits on only runs SQL.
struct Docs {
    intents: Vec<String>,
    orders: Vec<String>,
    refunds: Vec<String>,
    customers: Vec<String>,
    payment_methods: Vec<String>,
    events: Vec<String>,
    test_clocks: Vec<String>,
    webhook_endpoints: Vec<String>,
}

impl Docs {
    fn of(unit: &UnitOfWork) -> StoreResult<Docs> {
        fn all<T: serde::Serialize>(items: &[T]) -> StoreResult<Vec<String>> {
            items.iter().map(to_doc).collect()
        }
        Ok(Docs {
            intents: all(&unit.intents)?,
            orders: all(&unit.orders)?,
            refunds: all(&unit.refunds)?,
            customers: all(&unit.customers)?,
            payment_methods: all(&unit.payment_methods)?,
            events: all(&unit.events)?,
            test_clocks: all(&unit.test_clocks)?,
            webhook_endpoints: all(&unit.webhook_endpoints)?,
        })
    }
}

fn write_unit(conn: &Connection, unit: &UnitOfWork, docs: &Docs) -> StoreResult<()> {
    for (intent, doc) in unit.intents.iter().zip(&docs.intents) {
        let c = IntentColumns::of(intent);
        if c.version == 1 {
            conn.prepare_cached(
                "INSERT INTO payment_intents
                 (id, merchant_id, livemode, status, capture_method, created_at, expires_at, version,
                  doc, test_clock_id, due_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    c.id, c.merchant_id, c.livemode, c.status, c.capture_method, c.created_at,
                    c.expires_at, c.version, doc, c.test_clock_id, c.due_at
                ])
            })
            .map_err(write_error)?;
        } else {
            let changed = conn
                .prepare_cached(
                    "UPDATE payment_intents SET status = ?1, expires_at = ?2, version = ?3, doc = ?4,
                     due_at = ?5, lease_until = NULL
                     WHERE id = ?6 AND version = ?7",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        c.status,
                        c.expires_at,
                        c.version,
                        doc,
                        c.due_at,
                        c.id,
                        c.version - 1
                    ])
                })
                .map_err(write_error)?;
            if changed != 1 {
                return Err(StoreError::Conflict);
            }
        }
    }
    for (order, doc) in unit.orders.iter().zip(&docs.orders) {
        let version = i64::try_from(order.version).unwrap_or(i64::MAX);
        if version == 1 {
            conn.prepare_cached(
                "INSERT INTO orders (id, merchant_id, livemode, status, created_at, version, doc)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    order.id,
                    order.scope.merchant_id,
                    order.scope.livemode,
                    order.status.as_str(),
                    order.created_at.seconds(),
                    version,
                    doc
                ])
            })
            .map_err(write_error)?;
        } else {
            let changed = conn
                .prepare_cached(
                    "UPDATE orders SET status = ?1, version = ?2, doc = ?3 WHERE id = ?4 AND version = ?5",
                )
                .and_then(|mut s| {
                    s.execute(params![order.status.as_str(), version, doc, order.id, version - 1])
                })
                .map_err(write_error)?;
            if changed != 1 {
                return Err(StoreError::Conflict);
            }
        }
    }
    for (refund, doc) in unit.refunds.iter().zip(&docs.refunds) {
        let version = i64::try_from(refund.version).unwrap_or(i64::MAX);
        if version == 1 {
            conn.prepare_cached(
                "INSERT INTO refunds (id, merchant_id, livemode, payment_intent_id, status,
                 idempotency_key, created_at, updated_at, version, doc)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    refund.id,
                    refund.scope.merchant_id,
                    refund.scope.livemode,
                    refund.payment_intent_id,
                    refund.status.as_str(),
                    refund.idempotency_key,
                    refund.created_at.seconds(),
                    refund.updated_at.seconds(),
                    version,
                    doc
                ])
            })
            .map_err(write_error)?;
        } else {
            let changed = conn
                .prepare_cached(
                    "UPDATE refunds SET status = ?1, updated_at = ?2, version = ?3, doc = ?4
                     WHERE id = ?5 AND version = ?6",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        refund.status.as_str(),
                        refund.updated_at.seconds(),
                        version,
                        doc,
                        refund.id,
                        version - 1
                    ])
                })
                .map_err(write_error)?;
            if changed != 1 {
                return Err(StoreError::Conflict);
            }
        }
    }
    for (customer, customer_doc) in unit.customers.iter().zip(&docs.customers) {
        conn.prepare_cached(
            "INSERT INTO customers (id, merchant_id, livemode, created_at, doc) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .and_then(|mut s| {
            s.execute(params![
                customer.id,
                customer.scope.merchant_id,
                customer.scope.livemode,
                customer.created_at.seconds(),
                customer_doc
            ])
        })
        .map_err(write_error)?;
    }
    for (method, method_doc) in unit.payment_methods.iter().zip(&docs.payment_methods) {
        conn.prepare_cached(
            "INSERT INTO payment_methods (id, merchant_id, livemode, customer_id, created_at, doc)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .and_then(|mut s| {
            s.execute(params![
                method.id,
                method.scope.merchant_id,
                method.scope.livemode,
                method.customer_id,
                method.created_at.seconds(),
                method_doc
            ])
        })
        .map_err(write_error)?;
    }
    for (event, event_doc) in unit.events.iter().zip(&docs.events) {
        conn.prepare_cached(
            "INSERT INTO events (id, merchant_id, livemode, type, payment_intent_id, created_at, doc)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .and_then(|mut s| {
            s.execute(params![
                event.id,
                event.scope.merchant_id,
                event.scope.livemode,
                event.kind.as_str(),
                event.payment_intent_id(),
                event.created_at.seconds(),
                event_doc
            ])
        })
        .map_err(write_error)?;
        // The outbox: one delivery per endpoint that wants the event, in the event's transaction.
        conn.prepare_cached(FAN_OUT)
            .and_then(|mut s| {
                s.execute(params![
                    event.id,
                    event.scope.merchant_id,
                    event.scope.livemode,
                    event.created_at.seconds(),
                    event.kind.as_str()
                ])
            })
            .map_err(write_error)?;
    }
    for (clock, clock_doc) in unit.test_clocks.iter().zip(&docs.test_clocks) {
        conn.prepare_cached(
            "INSERT INTO test_clocks (id, merchant_id, livemode, created_at, doc, frozen_time)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, frozen_time = excluded.frozen_time
             WHERE excluded.frozen_time >= test_clocks.frozen_time",
        )
        .and_then(|mut s| {
            s.execute(params![
                clock.id,
                clock.scope.merchant_id,
                clock.scope.livemode,
                clock.created_at.seconds(),
                clock_doc,
                clock.frozen_time.seconds()
            ])
        })
        .map_err(write_error)?;
    }
    for (endpoint, endpoint_doc) in unit.webhook_endpoints.iter().zip(&docs.webhook_endpoints) {
        conn.prepare_cached(
            "INSERT INTO webhook_endpoints (id, merchant_id, livemode, disabled, created_at, doc)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (id) DO UPDATE SET disabled = excluded.disabled, doc = excluded.doc",
        )
        .and_then(|mut s| {
            s.execute(params![
                endpoint.id,
                endpoint.scope.merchant_id,
                endpoint.scope.livemode,
                endpoint.disabled,
                endpoint.created_at.seconds(),
                endpoint_doc
            ])
        })
        .map_err(write_error)?;
        conn.execute(
            "DELETE FROM webhook_endpoint_events WHERE endpoint_id = ?1",
            [&endpoint.id],
        )
        .map_err(write_error)?;
        if endpoint.disabled {
            conn.execute(
                "UPDATE webhook_deliveries SET status = 'canceled', lease_until = NULL
                 WHERE endpoint_id = ?1 AND status = 'pending'",
                [&endpoint.id],
            )
            .map_err(write_error)?;
        }
        for kind in &endpoint.enabled_events {
            conn.prepare_cached(
                "INSERT INTO webhook_endpoint_events (endpoint_id, event_type) VALUES (?1, ?2)
                 ON CONFLICT DO NOTHING",
            )
            .and_then(|mut s| s.execute(params![endpoint.id, kind]))
            .map_err(write_error)?;
        }
    }
    dashboard::sqlite::write_users(conn, &unit.users)?;
    dashboard::sqlite::write_api_keys(conn, &unit.api_keys)?;
    if let Some(record) = &unit.idempotency {
        conn.prepare_cached(
            "INSERT INTO idempotency_keys
             (merchant_id, livemode, key, fingerprint, status_code, body, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .and_then(|mut s| {
            s.execute(params![
                record.scope.merchant_id,
                record.scope.livemode,
                record.key,
                record.fingerprint,
                record.status_code,
                record.body,
                record.created_at.seconds()
            ])
        })
        .map_err(write_error)?;
    }
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> StoreResult<()> {
        self.read_now(|conn| {
            conn.query_row("SELECT 1", [], |_| Ok(()))
                .map_err(unavailable)
        })
    }

    async fn create_merchant(&self, merchant: &Merchant, keys: &[ApiKey]) -> StoreResult<()> {
        let merchant = merchant.clone();
        let keys = keys.to_vec();
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO merchants (id, name, created_at) VALUES (?1, ?2, ?3)",
                params![merchant.id, merchant.name, merchant.created_at.seconds()],
            )
            .map_err(write_error)?;
            keys.iter().try_for_each(|key| insert_api_key(conn, key))
        })
        .await
    }

    async fn merchant_count(&self) -> StoreResult<u64> {
        self.read(|conn| {
            conn.query_row("SELECT COUNT(*) FROM merchants", [], |r| r.get::<_, i64>(0))
                .map(|n| n.max(0).unsigned_abs())
                .map_err(unavailable)
        })
        .await
    }

    async fn get_merchant(&self, id: &str) -> StoreResult<Option<Merchant>> {
        let id = id.to_owned();
        self.read_now(move |conn| {
            conn.query_row(
                "SELECT id, name, created_at FROM merchants WHERE id = ?1",
                [id],
                |r| {
                    Ok(Merchant {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        created_at: Timestamp(r.get(2)?),
                    })
                },
            )
            .optional()
            .map_err(unavailable)
        })
    }

    async fn insert_api_key(&self, key: &ApiKey) -> StoreResult<()> {
        let key = key.clone();
        self.write(move |conn| insert_api_key(conn, &key)).await
    }

    async fn api_keys_by_prefix(&self, prefix: &str) -> StoreResult<Vec<ApiKey>> {
        let prefix = prefix.to_owned();
        self.read_now(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT hash, prefix, merchant_id, livemode, created_at, revoked_at
                     FROM api_keys WHERE prefix = ?1",
                )
                .map_err(unavailable)?;
            let rows = stmt.query_map([prefix], api_key_row).map_err(unavailable)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(unavailable)
        })
    }

    async fn revoke_api_keys(&self, prefix: &str, now: Timestamp) -> StoreResult<u64> {
        let prefix = prefix.to_owned();
        self.write(move |conn| {
            conn.execute(
                "UPDATE api_keys SET revoked_at = ?1 WHERE prefix = ?2 AND revoked_at IS NULL",
                params![now.seconds(), prefix],
            )
            .map(|n| n as u64)
            .map_err(write_error)
        })
        .await
    }

    async fn get_intent(&self, scope: &Scope, id: &str) -> StoreResult<Option<PaymentIntent>> {
        self.get_scoped("payment_intents", scope, id).await
    }

    async fn get_intent_unscoped(&self, id: &str) -> StoreResult<Option<PaymentIntent>> {
        let id = id.to_owned();
        self.read_now(move |conn| {
            let docs = query_docs(
                conn,
                "SELECT doc FROM payment_intents WHERE id = ?1",
                &[&id],
            )?;
            docs.first().map(|d| from_doc(d)).transpose()
        })
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
        let (scope, filter, search) = (scope.clone(), filter.clone(), search.clone());
        self.read(move |conn| {
            let now = filter.now.seconds();
            let mut sql = String::from(
                "SELECT doc FROM payment_intents WHERE merchant_id = ?1 AND livemode = ?2",
            );
            let mut args: Vec<Box<dyn rusqlite::ToSql>> = vec![
                Box::new(scope.merchant_id.clone()),
                Box::new(scope.livemode),
            ];
            let mut arg = |sql: &mut String, clause: &str, value: Box<dyn rusqlite::ToSql>| {
                args.push(value);
                sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
            };
            // "Now" for each row: its test clock's time, or the wall clock's.
            let row_now = "(CASE WHEN test_clock_id IS NULL THEN ? ELSE COALESCE((SELECT c.frozen_time
                FROM test_clocks c WHERE c.id = payment_intents.test_clock_id), ?) END)";
            match filter.status {
                Some(Status::RequiresCapture) => {
                    let clause = format!(" AND status = 'requires_capture' AND (expires_at IS NULL OR expires_at >= {row_now})");
                    arg(&mut sql, &clause, Box::new(now));
                }
                Some(Status::Expired) => {
                    let clause = format!(" AND (status = 'expired' OR (status = 'requires_capture' AND expires_at < {row_now}))");
                    arg(&mut sql, &clause, Box::new(now));
                }
                Some(status) => arg(&mut sql, " AND status = ?", Box::new(status.as_str())),
                None => {}
            }
            if let Some(method) = filter.capture_method {
                arg(&mut sql, " AND capture_method = ?", Box::new(method.as_str()));
            }
            if let Some(t) = filter.created_after {
                arg(&mut sql, " AND created_at > ?", Box::new(t.seconds()));
            }
            if let Some(t) = filter.created_before {
                arg(&mut sql, " AND created_at < ?", Box::new(t.seconds()));
            }
            if let Some(t) = filter.expires_before {
                arg(&mut sql, " AND expires_at < ?", Box::new(t.seconds()));
            }
            dashboard::sqlite::push_search(&search, &mut |clause, value| {
                arg(&mut sql, clause, value);
            });
            let cursor = match &filter.page.cursor {
                Some(cursor) => Some(cursor_position(conn, &scope, cursor)?),
                None => None,
            };
            match filter.order {
                IntentOrder::CreatedDesc => {
                    if let Some((seq, _)) = cursor {
                        arg(&mut sql, " AND seq < ?", Box::new(seq));
                    }
                    sql.push_str(" ORDER BY seq DESC");
                }
                IntentOrder::ExpiresAsc => {
                    sql.push_str(" AND expires_at IS NOT NULL");
                    if let Some((seq, expires_at)) = cursor {
                        let expires_at = expires_at.unwrap_or(i64::MIN);
                        arg(&mut sql, " AND (expires_at > ?", Box::new(expires_at));
                        arg(&mut sql, " OR (expires_at = ?", Box::new(expires_at));
                        arg(&mut sql, " AND seq > ?))", Box::new(seq));
                    }
                    sql.push_str(" ORDER BY expires_at ASC, seq ASC");
                }
            }
            arg(&mut sql, " LIMIT ?", Box::new(i64::from(filter.page.limit) + 1));
            let refs: Vec<&dyn rusqlite::ToSql> = args.iter().map(|a| a.as_ref()).collect();
            let rows = query_docs(conn, &sql, &refs)?
                .iter()
                .map(|d| from_doc::<PaymentIntent>(d))
                .collect::<StoreResult<Vec<_>>>()?;
            Ok(paginate(rows, filter.page.limit, |i| &i.id))
        })
        .await
    }

    async fn get_order(&self, scope: &Scope, id: &str) -> StoreResult<Option<Order>> {
        self.get_scoped("orders", scope, id).await
    }

    async fn list_orders(&self, scope: &Scope, filter: &OrderFilter) -> StoreResult<Page<Order>> {
        let (scope, filter) = (scope.clone(), filter.clone());
        self.read(move |conn| {
            let before_seq = match &filter.page.cursor {
                Some(cursor) => cursor_seq(conn, "orders", &scope, cursor)?,
                None => i64::MAX,
            };
            let status = filter.status.map(|s| s.as_str());
            let docs = query_docs(
                conn,
                "SELECT doc FROM orders WHERE merchant_id = ?1 AND livemode = ?2 AND seq < ?3
                 AND (?4 IS NULL OR status = ?4) ORDER BY seq DESC LIMIT ?5",
                &[
                    &scope.merchant_id,
                    &scope.livemode,
                    &before_seq,
                    &status,
                    &(i64::from(filter.page.limit) + 1),
                ],
            )?;
            Ok(paginate(
                decode_all(&docs)?,
                filter.page.limit,
                |o: &Order| &o.id,
            ))
        })
        .await
    }

    async fn get_refund(&self, scope: &Scope, id: &str) -> StoreResult<Option<Refund>> {
        self.get_scoped("refunds", scope, id).await
    }

    async fn list_refunds(
        &self,
        scope: &Scope,
        filter: &RefundFilter,
    ) -> StoreResult<Page<Refund>> {
        let (scope, filter) = (scope.clone(), filter.clone());
        self.read(move |conn| {
            let before_seq = match &filter.page.cursor {
                Some(cursor) => cursor_seq(conn, "refunds", &scope, cursor)?,
                None => i64::MAX,
            };
            let docs = query_docs(
                conn,
                "SELECT doc FROM refunds WHERE merchant_id = ?1 AND livemode = ?2 AND seq < ?3
                 AND (?4 IS NULL OR payment_intent_id = ?4) ORDER BY seq DESC LIMIT ?5",
                &[
                    &scope.merchant_id,
                    &scope.livemode,
                    &before_seq,
                    &filter.payment_intent_id,
                    &(i64::from(filter.page.limit) + 1),
                ],
            )?;
            Ok(paginate(
                decode_all(&docs)?,
                filter.page.limit,
                |r: &Refund| &r.id,
            ))
        })
        .await
    }

    async fn refund_by_idempotency_key(
        &self,
        scope: &Scope,
        key: &str,
    ) -> StoreResult<Option<Refund>> {
        let (scope, key) = (scope.clone(), key.to_owned());
        self.read_now(move |conn| {
            let docs = query_docs(
                conn,
                "SELECT doc FROM refunds WHERE merchant_id = ?1 AND livemode = ?2
                 AND idempotency_key = ?3",
                &[&scope.merchant_id, &scope.livemode, &key],
            )?;
            docs.first().map(|d| from_doc(d)).transpose()
        })
    }

    async fn stale_pending_refunds(
        &self,
        before: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<Refund>> {
        self.read(move |conn| {
            let docs = query_docs(
                conn,
                "SELECT doc FROM refunds WHERE status = 'pending' AND updated_at < ?1
                 ORDER BY updated_at LIMIT ?2",
                &[&before.seconds(), &limit],
            )?;
            decode_all(&docs)
        })
        .await
    }

    async fn get_customer(&self, scope: &Scope, id: &str) -> StoreResult<Option<Customer>> {
        self.get_scoped("customers", scope, id).await
    }

    async fn get_payment_method(
        &self,
        scope: &Scope,
        id: &str,
    ) -> StoreResult<Option<SavedPaymentMethod>> {
        self.get_scoped("payment_methods", scope, id).await
    }

    async fn get_event(&self, scope: &Scope, id: &str) -> StoreResult<Option<Event>> {
        self.get_scoped("events", scope, id).await
    }

    async fn list_events(&self, scope: &Scope, filter: &EventFilter) -> StoreResult<Page<Event>> {
        let (scope, filter) = (scope.clone(), filter.clone());
        self.read(move |conn| {
            let before_seq = match &filter.page.cursor {
                Some(cursor) => cursor_seq(conn, "events", &scope, cursor)?,
                None => i64::MAX,
            };
            let kind = filter.kind.map(|k| k.as_str());
            let docs = query_docs(
                conn,
                "SELECT doc FROM events WHERE merchant_id = ?1 AND livemode = ?2 AND seq < ?3
                 AND (?4 IS NULL OR type = ?4) AND (?5 IS NULL OR payment_intent_id = ?5)
                 ORDER BY seq DESC LIMIT ?6",
                &[
                    &scope.merchant_id,
                    &scope.livemode,
                    &before_seq,
                    &kind,
                    &filter.payment_intent_id,
                    &(i64::from(filter.page.limit) + 1),
                ],
            )?;
            let rows = docs
                .iter()
                .map(|d| from_doc::<Event>(d))
                .collect::<StoreResult<Vec<_>>>()?;
            Ok(paginate(rows, filter.page.limit, |e| &e.id))
        })
        .await
    }

    async fn get_idempotency(
        &self,
        scope: &Scope,
        key: &str,
    ) -> StoreResult<Option<IdempotencyRecord>> {
        let (scope, key) = (scope.clone(), key.to_owned());
        self.read_now(move |conn| {
            conn.prepare_cached(
                "SELECT fingerprint, status_code, body, created_at FROM idempotency_keys
                 WHERE merchant_id = ?1 AND livemode = ?2 AND key = ?3",
            )
            .and_then(|mut s| {
                s.query_row(params![scope.merchant_id, scope.livemode, key], |r| {
                    Ok(IdempotencyRecord {
                        scope: scope_of(scope.merchant_id.clone(), scope.livemode),
                        key: key.clone(),
                        fingerprint: r.get(0)?,
                        status_code: r.get(1)?,
                        body: r.get(2)?,
                        created_at: Timestamp(r.get(3)?),
                    })
                })
                .optional()
            })
            .map_err(unavailable)
        })
    }

    async fn claim_due(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<PaymentIntent>> {
        // The single writer makes select-and-lease atomic: no other claim runs in between.
        self.write(move |conn| {
            let docs = query_docs(
                conn,
                "UPDATE payment_intents SET lease_until = ?1 WHERE seq IN (
                     SELECT seq FROM payment_intents
                     WHERE due_at <= ?2 AND test_clock_id IS NULL
                       AND (lease_until IS NULL OR lease_until < ?2)
                     ORDER BY due_at LIMIT ?3)
                 RETURNING doc",
                &[&lease_until.seconds(), &now.seconds(), &limit],
            )?;
            Ok(soonest_first(decode_all(&docs)?))
        })
        .await
    }

    async fn due_on_clock(
        &self,
        clock_id: &str,
        up_to: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<PaymentIntent>> {
        let clock_id = clock_id.to_owned();
        self.read(move |conn| {
            let docs = query_docs(
                conn,
                "SELECT doc FROM payment_intents WHERE test_clock_id = ?1 AND due_at <= ?2
                 ORDER BY due_at, seq LIMIT ?3",
                &[&clock_id, &up_to.seconds(), &limit],
            )?;
            decode_all(&docs)
        })
        .await
    }

    async fn open_holds(
        &self,
        expiring_before: Option<Timestamp>,
        limit: u32,
    ) -> StoreResult<Vec<PaymentIntent>> {
        self.read(move |conn| {
            let before = expiring_before.map_or(i64::MAX, Timestamp::seconds);
            let docs = query_docs(
                conn,
                "SELECT doc FROM payment_intents WHERE status = 'requires_capture' AND expires_at < ?1
                 ORDER BY expires_at, seq LIMIT ?2",
                &[&before, &limit],
            )?;
            decode_all(&docs)
        })
        .await
    }

    async fn get_test_clock(
        &self,
        scope: &Scope,
        id: &str,
        include_deleted: bool,
    ) -> StoreResult<Option<TestClock>> {
        let (scope, id) = (scope.clone(), id.to_owned());
        self.read_now(move |conn| {
            let docs = query_docs(
                conn,
                "SELECT doc FROM test_clocks WHERE id = ?1 AND merchant_id = ?2 AND livemode = ?3
                 AND (deleted = 0 OR ?4)",
                &[&id, &scope.merchant_id, &scope.livemode, &include_deleted],
            )?;
            docs.first().map(|d| from_doc(d)).transpose()
        })
    }

    async fn list_test_clocks(
        &self,
        scope: &Scope,
        page: &PageRequest,
    ) -> StoreResult<Page<TestClock>> {
        let (scope, page) = (scope.clone(), page.clone());
        self.read(move |conn| {
            let before_seq = match &page.cursor {
                Some(cursor) => cursor_seq(conn, "test_clocks", &scope, cursor)?,
                None => i64::MAX,
            };
            let docs = query_docs(
                conn,
                "SELECT doc FROM test_clocks WHERE merchant_id = ?1 AND livemode = ?2 AND seq < ?3
                 AND deleted = 0 ORDER BY seq DESC LIMIT ?4",
                &[
                    &scope.merchant_id,
                    &scope.livemode,
                    &before_seq,
                    &(i64::from(page.limit) + 1),
                ],
            )?;
            Ok(paginate(decode_all(&docs)?, page.limit, |c: &TestClock| {
                &c.id
            }))
        })
        .await
    }

    async fn delete_test_clock(&self, scope: &Scope, id: &str) -> StoreResult<bool> {
        let (scope, id) = (scope.clone(), id.to_owned());
        self.write(move |conn| {
            conn.execute(
                "UPDATE test_clocks SET deleted = 1
                 WHERE id = ?1 AND merchant_id = ?2 AND livemode = ?3 AND deleted = 0",
                params![id, scope.merchant_id, scope.livemode],
            )
            .map(|n| n == 1)
            .map_err(write_error)
        })
        .await
    }

    async fn get_webhook_endpoint(
        &self,
        scope: &Scope,
        id: &str,
    ) -> StoreResult<Option<WebhookEndpoint>> {
        let (scope, id) = (scope.clone(), id.to_owned());
        self.read_now(move |conn| {
            let docs = query_docs(
                conn,
                "SELECT doc FROM webhook_endpoints WHERE id = ?1 AND merchant_id = ?2
                 AND livemode = ?3 AND deleted = 0",
                &[&id, &scope.merchant_id, &scope.livemode],
            )?;
            docs.first().map(|d| from_doc(d)).transpose()
        })
    }

    async fn get_webhook_endpoint_unscoped(
        &self,
        id: &str,
    ) -> StoreResult<Option<WebhookEndpoint>> {
        let id = id.to_owned();
        self.read_now(move |conn| {
            let docs = query_docs(
                conn,
                "SELECT doc FROM webhook_endpoints WHERE id = ?1 AND deleted = 0",
                &[&id],
            )?;
            docs.first().map(|d| from_doc(d)).transpose()
        })
    }

    async fn list_webhook_endpoints(
        &self,
        scope: &Scope,
        page: &PageRequest,
    ) -> StoreResult<Page<WebhookEndpoint>> {
        let (scope, page) = (scope.clone(), page.clone());
        self.read(move |conn| {
            let before_seq = match &page.cursor {
                Some(cursor) => cursor_seq(conn, "webhook_endpoints", &scope, cursor)?,
                None => i64::MAX,
            };
            let docs = query_docs(
                conn,
                "SELECT doc FROM webhook_endpoints WHERE merchant_id = ?1 AND livemode = ?2
                 AND seq < ?3 AND deleted = 0 ORDER BY seq DESC LIMIT ?4",
                &[
                    &scope.merchant_id,
                    &scope.livemode,
                    &before_seq,
                    &(i64::from(page.limit) + 1),
                ],
            )?;
            Ok(paginate(
                decode_all(&docs)?,
                page.limit,
                |e: &WebhookEndpoint| &e.id,
            ))
        })
        .await
    }

    async fn delete_webhook_endpoint(&self, scope: &Scope, id: &str) -> StoreResult<bool> {
        let (scope, id) = (scope.clone(), id.to_owned());
        self.write(move |conn| {
            let deleted = conn
                .execute(
                    "UPDATE webhook_endpoints SET deleted = 1
                     WHERE id = ?1 AND merchant_id = ?2 AND livemode = ?3 AND deleted = 0",
                    params![id, scope.merchant_id, scope.livemode],
                )
                .map_err(write_error)?;
            if deleted == 1 {
                conn.execute(
                    "DELETE FROM webhook_endpoint_events WHERE endpoint_id = ?1",
                    [&id],
                )
                .map_err(write_error)?;
                conn.execute(
                    "UPDATE webhook_deliveries SET status = 'canceled', lease_until = NULL
                     WHERE endpoint_id = ?1 AND status = 'pending'",
                    [&id],
                )
                .map_err(write_error)?;
            }
            Ok(deleted == 1)
        })
        .await
    }

    async fn claim_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryClaim>> {
        self.write(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "UPDATE webhook_deliveries SET lease_until = ?1 WHERE seq IN (
                         SELECT seq FROM webhook_deliveries
                         WHERE status = 'pending' AND next_attempt_at <= ?2
                           AND (lease_until IS NULL OR lease_until < ?2)
                         ORDER BY next_attempt_at, seq LIMIT ?3)
                     RETURNING seq, merchant_id, livemode, event_id, endpoint_id, attempts",
                )
                .map_err(unavailable)?;
            let rows = stmt
                .query_map(params![lease_until.seconds(), now.seconds(), limit], |r| {
                    Ok(DeliveryClaim {
                        seq: r.get(0)?,
                        scope: scope_of(r.get(1)?, r.get(2)?),
                        event_id: r.get(3)?,
                        endpoint_id: r.get(4)?,
                        attempts: r.get(5)?,
                    })
                })
                .map_err(unavailable)?;
            let mut claims = rows.collect::<Result<Vec<_>, _>>().map_err(unavailable)?;
            claims.sort_by_key(|c| c.seq);
            Ok(claims)
        })
        .await
    }

    async fn finish_delivery(&self, attempt: &DeliveryAttempt) -> StoreResult<()> {
        let a = attempt.clone();
        self.write(move |conn| {
            if a.next == DeliveryNext::Canceled {
                conn.execute(
                    "UPDATE webhook_deliveries SET status = 'canceled', lease_until = NULL
                     WHERE seq = ?1 AND status = 'pending'",
                    [a.claim.seq],
                )
                .map_err(write_error)?;
                return Ok(());
            }
            let attempts = a.claim.attempts + 1;
            let next_at = a.next.next_attempt_at().map(Timestamp::seconds);
            // Only a delivery still pending moves on: one a `410` canceled meanwhile stays so.
            conn.prepare_cached(
                "UPDATE webhook_deliveries SET status = ?1, attempts = ?2, next_attempt_at = ?3,
                 lease_until = NULL, updated_at = ?4
                 WHERE seq = ?5 AND attempts = ?6 AND status = 'pending'",
            )
            .and_then(|mut s| {
                s.execute(params![
                    a.next.status(),
                    attempts,
                    next_at,
                    a.attempted_at.seconds(),
                    a.claim.seq,
                    a.claim.attempts
                ])
            })
            .map_err(write_error)?;
            conn.prepare_cached(
                "INSERT INTO webhook_attempts (delivery_seq, event_id, endpoint_id, attempt,
                 attempted_at, status_code, latency_ms, error, next_attempt_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    a.claim.seq,
                    a.claim.event_id,
                    a.claim.endpoint_id,
                    attempts,
                    a.attempted_at.seconds(),
                    a.status_code,
                    a.latency_ms,
                    a.error,
                    next_at
                ])
            })
            .map_err(write_error)?;
            if a.disable_endpoint {
                conn.execute(
                    "UPDATE webhook_endpoints SET disabled = 1,
                     doc = json_set(doc, '$.disabled', json('true')) WHERE id = ?1",
                    [&a.claim.endpoint_id],
                )
                .map_err(write_error)?;
                conn.execute(
                    "UPDATE webhook_deliveries SET status = 'canceled', lease_until = NULL
                     WHERE endpoint_id = ?1 AND status = 'pending'",
                    [&a.claim.endpoint_id],
                )
                .map_err(write_error)?;
            }
            Ok(())
        })
        .await
    }

    async fn list_deliveries(
        &self,
        scope: &Scope,
        event_id: &str,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        let (scope, event_id) = (scope.clone(), event_id.to_owned());
        self.read(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT endpoint_id, status, attempts, next_attempt_at FROM webhook_deliveries
                     WHERE event_id = ?1 AND merchant_id = ?2 AND livemode = ?3 ORDER BY seq",
                )
                .map_err(unavailable)?;
            let mut records = stmt
                .query_map(params![event_id, scope.merchant_id, scope.livemode], |r| {
                    Ok(DeliveryRecord {
                        endpoint_id: r.get(0)?,
                        status: r.get(1)?,
                        attempts: r.get(2)?,
                        next_attempt_at: r.get::<_, Option<i64>>(3)?.map(Timestamp),
                        log: Vec::new(),
                    })
                })
                .map_err(unavailable)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(unavailable)?;
            let mut stmt = conn
                .prepare_cached(
                    "SELECT endpoint_id, attempt, attempted_at, status_code, latency_ms, error,
                     next_attempt_at FROM webhook_attempts WHERE event_id = ?1 ORDER BY seq",
                )
                .map_err(unavailable)?;
            let attempts = stmt
                .query_map([&event_id], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        AttemptLog {
                            attempt: r.get(1)?,
                            attempted_at: Timestamp(r.get(2)?),
                            status_code: r.get(3)?,
                            latency_ms: r.get(4)?,
                            error: r.get(5)?,
                            next_attempt_at: r.get::<_, Option<i64>>(6)?.map(Timestamp),
                        },
                    ))
                })
                .map_err(unavailable)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(unavailable)?;
            for (endpoint_id, log) in attempts {
                if let Some(record) = records.iter_mut().find(|r| r.endpoint_id == endpoint_id) {
                    record.log.push(log);
                }
            }
            Ok(records)
        })
        .await
    }

    async fn resend_event(&self, event: &Event, now: Timestamp) -> StoreResult<u64> {
        let event = event.clone();
        self.write(move |conn| {
            let sql = format!(
                "{FAN_OUT} ON CONFLICT (event_id, endpoint_id) DO UPDATE SET status = 'pending',
                 attempts = 0, next_attempt_at = 0, lease_until = NULL, updated_at = excluded.updated_at"
            );
            conn.prepare_cached(&sql)
                .and_then(|mut s| {
                    s.execute(params![
                        event.id,
                        event.scope.merchant_id,
                        event.scope.livemode,
                        now.seconds(),
                        event.kind.as_str()
                    ])
                })
                .map(|n| n as u64)
                .map_err(write_error)
        })
        .await
    }

    async fn purge_idempotency(&self, before: Timestamp, limit: u32) -> StoreResult<u64> {
        self.write(move |conn| {
            conn.prepare_cached(
                "DELETE FROM idempotency_keys WHERE rowid IN
                 (SELECT rowid FROM idempotency_keys WHERE created_at < ?1 LIMIT ?2)",
            )
            .and_then(|mut s| s.execute(params![before.seconds(), limit]))
            .map(|n| n as u64)
            .map_err(write_error)
        })
        .await
    }

    async fn commit(&self, unit: UnitOfWork) -> StoreResult<()> {
        if unit.is_empty() {
            return Ok(());
        }
        let docs = Docs::of(&unit)?;
        self.write(move |conn| write_unit(conn, &unit, &docs)).await
    }

    async fn money_at_risk(&self, scope: &Scope, now: Timestamp) -> StoreResult<Vec<AtRisk>> {
        let scope = scope.clone();
        self.read(move |conn| dashboard::sqlite::money_at_risk(conn, &scope, now.seconds()))
            .await
    }

    async fn daily_totals(
        &self,
        scope: &Scope,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<DailyTotals>> {
        let scope = scope.clone();
        self.read(move |conn| {
            dashboard::sqlite::daily_totals(conn, &scope, from.seconds(), to.seconds())
        })
        .await
    }

    async fn endpoint_deliveries(
        &self,
        scope: &Scope,
        endpoint_id: &str,
        limit: u32,
    ) -> StoreResult<Vec<EndpointDelivery>> {
        let (scope, endpoint_id) = (scope.clone(), endpoint_id.to_owned());
        self.read(move |conn| {
            dashboard::sqlite::endpoint_deliveries(conn, &scope, &endpoint_id, limit)
        })
        .await
    }

    async fn list_api_keys(&self, merchant_id: &str, livemode: bool) -> StoreResult<Vec<ApiKey>> {
        let merchant_id = merchant_id.to_owned();
        self.read(move |conn| dashboard::sqlite::list_api_keys(conn, &merchant_id, livemode))
            .await
    }

    async fn get_user(&self, id: &str) -> StoreResult<Option<User>> {
        self.read_now(|conn| dashboard::sqlite::get_user(conn, id))
    }

    async fn get_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        self.read_now(|conn| dashboard::sqlite::get_user_by_email(conn, email))
    }

    async fn list_users(&self, merchant_id: &str) -> StoreResult<Vec<User>> {
        let merchant_id = merchant_id.to_owned();
        self.read(move |conn| dashboard::sqlite::list_users(conn, &merchant_id))
            .await
    }

    async fn insert_session(&self, session: &Session) -> StoreResult<()> {
        let session = session.clone();
        self.write(move |conn| dashboard::sqlite::insert_session(conn, &session))
            .await
    }

    async fn get_session(&self, token_hash: &str) -> StoreResult<Option<Session>> {
        self.read_now(|conn| dashboard::sqlite::get_session(conn, token_hash))
    }

    async fn touch_session(&self, token_hash: &str, at: Timestamp) -> StoreResult<()> {
        let token_hash = token_hash.to_owned();
        self.write(move |conn| dashboard::sqlite::touch_session(conn, &token_hash, at.seconds()))
            .await
    }

    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        let token_hash = token_hash.to_owned();
        self.write(move |conn| dashboard::sqlite::delete_session(conn, &token_hash))
            .await
    }

    async fn purge_sessions(
        &self,
        seen_before: Timestamp,
        created_before: Timestamp,
        limit: u32,
    ) -> StoreResult<u64> {
        self.write(move |conn| {
            dashboard::sqlite::purge_sessions(
                conn,
                seen_before.seconds(),
                created_before.seconds(),
                limit,
            )
        })
        .await
    }
}
