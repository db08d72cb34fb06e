//! PostgreSQL reads: one [`Read`] on a pooled connection, its rows decoded by the shared
//! mappings.

use deadpool_postgres::GenericClient;
use tokio_postgres::types::Type;

use super::{db_error, describe, params};
use crate::plan::Read;
use crate::rows::{Cell, Map, Row};
use crate::{StoreError, StoreResult};

struct PgRow<'r>(&'r tokio_postgres::Row);

impl PgRow<'_> {
    /// Reads one column, reporting a value of the wrong type as corrupt data rather than panicking.
    fn get<'a, T: tokio_postgres::types::FromSql<'a>>(&'a self, index: usize) -> StoreResult<T> {
        self.0
            .try_get(index)
            .map_err(|e| StoreError::Corrupt(describe(&e)))
    }
}

impl Row for PgRow<'_> {
    fn cell(&self, index: usize) -> StoreResult<Cell<'_>> {
        let column = self.0.columns().get(index);
        let ty = column.map_or(&Type::UNKNOWN, |c| c.type_());
        Ok(match *ty {
            Type::INT8 => self
                .get::<Option<i64>>(index)?
                .map_or(Cell::Null, Cell::Int),
            Type::INT4 => self
                .get::<Option<i32>>(index)?
                .map_or(Cell::Null, |v| Cell::Int(i64::from(v))),
            Type::BOOL => self
                .get::<Option<bool>>(index)?
                .map_or(Cell::Null, Cell::Bool),
            Type::BYTEA => self
                .get::<Option<&[u8]>>(index)?
                .map_or(Cell::Null, Cell::Blob),
            _ => self
                .get::<Option<&str>>(index)?
                .map_or(Cell::Null, Cell::Text),
        })
    }
}

/// Runs a read's statement (prepared once per connection) and decodes its rows.
pub(super) async fn run<T>(
    client: &impl GenericClient,
    read: &Read,
    map: Map<T>,
) -> StoreResult<Vec<T>> {
    let statement = client.prepare_cached(read.sql()).await.map_err(db_error)?;
    let params = params(&read.params);
    let rows = client.query(&statement, &params).await.map_err(db_error)?;
    rows.iter().map(|row| map(&PgRow(row))).collect()
}
