//! SQLite reads: a pool of read-only connections, which WAL lets proceed while the writer works,
//! and the running of one [`Read`] on a connection.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use super::{configure, unavailable};
use crate::plan::Read;
use crate::rows::{Cell, Map, Row};
use crate::{StoreError, StoreResult};

const READERS_MAX: usize = 8;

/// Read-only connections, opened when none is free and kept up to [`READERS_MAX`].
#[derive(Debug)]
pub(super) struct Readers {
    path: PathBuf,
    pool: Mutex<Vec<Connection>>,
}

impl Readers {
    pub(super) fn new(path: PathBuf) -> Readers {
        Readers {
            path,
            pool: Mutex::new(Vec::new()),
        }
    }

    pub(super) fn with<R>(&self, f: impl FnOnce(&Connection) -> StoreResult<R>) -> StoreResult<R> {
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

fn poisoned() -> StoreError {
    StoreError::Unavailable("reader pool lock poisoned".into())
}

fn open_reader(path: &Path) -> StoreResult<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(unavailable)?;
    configure(&conn).map_err(unavailable)?;
    Ok(conn)
}

struct SqliteRow<'r, 's>(&'r rusqlite::Row<'s>);

impl Row for SqliteRow<'_, '_> {
    fn cell(&self, index: usize) -> StoreResult<Cell<'_>> {
        let value = self.0.get_ref(index).map_err(unavailable)?;
        Ok(match value {
            ValueRef::Null => Cell::Null,
            ValueRef::Integer(v) => Cell::Int(v),
            ValueRef::Text(bytes) => Cell::Text(
                std::str::from_utf8(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            ),
            ValueRef::Blob(bytes) => Cell::Blob(bytes),
            ValueRef::Real(v) => {
                return Err(StoreError::Corrupt(format!("column {index}: a real, {v}")));
            }
        })
    }
}

/// Runs a read's statement (prepared once per connection) and decodes its rows.
pub(super) fn run<T>(conn: &Connection, read: &Read, map: Map<T>) -> StoreResult<Vec<T>> {
    let mut stmt = conn.prepare_cached(read.sql()).map_err(unavailable)?;
    let mut rows = stmt
        .query(rusqlite::params_from_iter(&read.params))
        .map_err(unavailable)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(unavailable)? {
        out.push(map(&SqliteRow(row))?);
    }
    Ok(out)
}
