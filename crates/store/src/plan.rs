//! The two kinds of work a backend executes: a [`Plan`] (statements that write, in one
//! transaction) and a [`Read`] (one statement whose rows are decoded). Both are plain data, built
//! on the caller's thread before they reach the backend: documents are serialised, parameters
//! bound, so the thread that runs them (the SQLite writer, a PostgreSQL connection) only runs SQL.

use crate::model::to_doc;
use crate::rows::{self, Stored, Versioned, fan_out_params, idempotency_params};
use crate::sql::{Dialect, Query, Stmt, Value, values};
use crate::{StoreResult, UnitOfWork};

/// How many rows a step must change; any other count is a lost race.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    Any,
    /// A versioned update: no row changed means another write got there first.
    One,
}

#[derive(Debug)]
pub(crate) struct Step {
    pub stmt: Stmt,
    pub params: Vec<Value>,
    pub expect: Expect,
}

/// Statements that commit together or not at all. A backend runs them in order in one
/// transaction; the first failure, or a step that changes other than the rows it expects, fails
/// the plan with nothing written (a step that changed the wrong number of rows fails it as
/// [`crate::StoreError::Conflict`], like a duplicate key). It answers how many rows the first
/// step changed.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub steps: Vec<Step>,
}

impl Plan {
    pub(crate) fn one(stmt: Stmt, params: Vec<Value>) -> Plan {
        let mut plan = Plan::default();
        plan.push(stmt, params);
        plan
    }

    pub(crate) fn push(&mut self, stmt: Stmt, params: Vec<Value>) {
        self.steps.push(Step {
            stmt,
            params,
            expect: Expect::Any,
        });
    }

    fn push_stored<T: Stored>(&mut self, items: &[T]) -> StoreResult<()> {
        for item in items {
            self.push(T::INSERT, item.insert_params(to_doc(item)?));
        }
        Ok(())
    }

    fn push_versioned<T: Versioned>(&mut self, items: &[T]) -> StoreResult<()> {
        for item in items {
            let doc = to_doc(item)?;
            let (id, version) = item.key();
            if version == 1 {
                self.push(T::INSERT, item.insert_params(doc));
            } else {
                let mut params = item.changes(doc);
                params.extend(values![id, rows::version(version) - 1]);
                self.steps.push(Step {
                    stmt: T::UPDATE,
                    params,
                    expect: Expect::One,
                });
            }
        }
        Ok(())
    }

    /// Everything a unit of work writes, in the order it is written.
    pub(crate) fn of_unit(unit: &UnitOfWork) -> StoreResult<Plan> {
        let mut plan = Plan::default();
        plan.push_versioned(&unit.intents)?;
        plan.push_versioned(&unit.orders)?;
        plan.push_versioned(&unit.refunds)?;
        plan.push_versioned(&unit.checkout_sessions)?;
        plan.push_stored(&unit.customers)?;
        plan.push_stored(&unit.payment_methods)?;
        for event in &unit.events {
            plan.push_stored(std::slice::from_ref(event))?;
            plan.push(Stmt::FanOut, fan_out_params(event, event.created_at));
        }
        plan.push_stored(&unit.test_clocks)?;
        for endpoint in &unit.webhook_endpoints {
            plan.push_stored(std::slice::from_ref(endpoint))?;
            plan.push(Stmt::DeleteEndpointEvents, values![&endpoint.id]);
            if endpoint.disabled {
                plan.push(Stmt::CancelEndpointDeliveries, values![&endpoint.id]);
            }
            for kind in &endpoint.enabled_events {
                plan.push(Stmt::InsertEndpointEvent, values![&endpoint.id, kind]);
            }
        }
        plan.push_versioned(&unit.users)?;
        for key in &unit.api_keys {
            plan.push(Stmt::UpsertApiKey, rows::api_key_params(key));
        }
        if let Some(record) = &unit.idempotency {
            plan.push(Stmt::InsertIdempotency, idempotency_params(record));
        }
        Ok(plan)
    }
}

/// Where a backend runs a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadKind {
    /// A lookup by key: microseconds, so SQLite runs it on the caller's thread.
    Point,
    /// A read that may scan (a list, a page): SQLite runs it on the blocking pool.
    Scan,
    /// A statement that leases the rows it returns (`UPDATE … RETURNING`): it runs where writes
    /// run (the SQLite writer; PostgreSQL's `FOR UPDATE SKIP LOCKED`), so no row goes to two
    /// claimants.
    Claim,
}

/// A read's SQL: a statement of the shared text, or a list assembled by [`Query`].
#[derive(Debug)]
pub(crate) enum Sql {
    Fixed(&'static str),
    Built(String),
}

/// One statement whose rows come back, decoded by a mapping of [`crate::rows`].
#[derive(Debug)]
pub(crate) struct Read {
    pub kind: ReadKind,
    pub sql: Sql,
    pub params: Vec<Value>,
}

impl Read {
    pub(crate) fn new(kind: ReadKind, sql: &'static str, params: Vec<Value>) -> Read {
        Read {
            kind,
            sql: Sql::Fixed(sql),
            params,
        }
    }

    pub(crate) fn point(dialect: Dialect, stmt: Stmt, params: Vec<Value>) -> Read {
        Read::new(ReadKind::Point, dialect.sql(stmt), params)
    }

    pub(crate) fn scan(dialect: Dialect, stmt: Stmt, params: Vec<Value>) -> Read {
        Read::new(ReadKind::Scan, dialect.sql(stmt), params)
    }

    pub(crate) fn claim(dialect: Dialect, stmt: Stmt, params: Vec<Value>) -> Read {
        Read::new(ReadKind::Claim, dialect.sql(stmt), params)
    }

    pub(crate) fn query(query: Query) -> Read {
        Read {
            kind: ReadKind::Scan,
            sql: Sql::Built(query.sql),
            params: query.params,
        }
    }

    pub(crate) fn sql(&self) -> &str {
        match &self.sql {
            Sql::Fixed(sql) => sql,
            Sql::Built(sql) => sql,
        }
    }
}
