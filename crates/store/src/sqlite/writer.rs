//! The SQLite writer: one thread owns the write connection and commits whatever jobs are
//! waiting (up to [`BATCH_MAX`]) in one transaction: one fsync serves the batch (group commit), a
//! job that fails rolls back alone (see [`commit_batch`]), and no job's caller hears back before
//! the commit that holds its change is on disk. A checkpointer thread copies the WAL back into the
//! database file.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::write_error;
use crate::plan::{Expect, Plan};
use crate::sql::Dialect;
use crate::{StoreError, StoreResult};

/// The most jobs one group commit takes.
pub const BATCH_MAX: usize = 256;
/// Jobs waiting for the writer; senders wait when it is full, so memory stays bounded.
pub(super) const QUEUE_MAX: usize = 4096;

/// A write waiting for the writer thread.
pub(super) trait Write: Send {
    /// Runs the write's statements in the batch's transaction, keeps their result, and says
    /// whether they succeeded. It may run twice: see [`commit_batch`].
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the caller once the batch's commit (or its failure) is known.
    fn deliver(self: Box<Self>, committed: Result<(), StoreError>);
}

pub(super) type Job = Box<dyn Write>;

pub(super) struct Pending<F, R> {
    pub statements: F,
    pub result: Option<StoreResult<R>>,
    pub reply: oneshot::Sender<StoreResult<R>>,
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
pub(super) fn write_loop(
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
pub(super) fn checkpoint_loop(conn: Connection, nudges: Receiver<()>, caught_up: Arc<AtomicBool>) {
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

/// Runs a plan's steps in the batch's transaction; answers how many rows the first changed.
pub(super) fn run_plan(conn: &Connection, plan: &Plan) -> StoreResult<u64> {
    let mut first = None;
    for step in &plan.steps {
        let changed = conn
            .prepare_cached(Dialect::Sqlite.sql(step.stmt))
            .and_then(|mut s| s.execute(rusqlite::params_from_iter(&step.params)))
            .map_err(write_error)?;
        if step.expect == Expect::One && changed != 1 {
            return Err(StoreError::Conflict);
        }
        first.get_or_insert(changed as u64);
    }
    Ok(first.unwrap_or(0))
}
