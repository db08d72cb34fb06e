//! How each table's rows map to Holdfast's values and back, once for both backends: the
//! parameters a write binds, and the decoding of what a read returns.

use holdfast_domain::checkout::CheckoutSession;
use holdfast_domain::customer::{Customer, SavedPaymentMethod};
use holdfast_domain::event::Event;
use holdfast_domain::intent::PaymentIntent;
use holdfast_domain::order::Order;
use holdfast_domain::refund::Refund;
use holdfast_domain::test_clock::TestClock;
use holdfast_domain::webhook::WebhookEndpoint;
use holdfast_domain::{Scope, Timestamp};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::model::{from_doc, status_str};
use crate::sql::{Stmt, Value, values};
use crate::{
    ApiKey, AttemptLog, DeliveryClaim, DeliveryRecord, IdempotencyRecord, Merchant, StoreError,
    StoreResult,
};

/// One column of a row as the database gave it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Cell<'a> {
    Null,
    Int(i64),
    Bool(bool),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// A row a read returned. A backend gives its columns as [`Cell`]s; the typed getters, and
/// every mapping below, are shared.
pub(crate) trait Row {
    fn cell(&self, index: usize) -> StoreResult<Cell<'_>>;

    fn int(&self, index: usize) -> StoreResult<i64> {
        match self.cell(index)? {
            Cell::Int(v) => Ok(v),
            other => Err(mismatch(index, "an integer", other)),
        }
    }

    fn opt_int(&self, index: usize) -> StoreResult<Option<i64>> {
        match self.cell(index)? {
            Cell::Null => Ok(None),
            _ => self.int(index).map(Some),
        }
    }

    /// A boolean: PostgreSQL's own type, or SQLite's 0 and 1.
    fn boolean(&self, index: usize) -> StoreResult<bool> {
        match self.cell(index)? {
            Cell::Bool(v) => Ok(v),
            Cell::Int(v) => Ok(v != 0),
            other => Err(mismatch(index, "a boolean", other)),
        }
    }

    fn text(&self, index: usize) -> StoreResult<&str> {
        match self.cell(index)? {
            Cell::Text(v) => Ok(v),
            other => Err(mismatch(index, "text", other)),
        }
    }

    fn opt_text(&self, index: usize) -> StoreResult<Option<String>> {
        match self.cell(index)? {
            Cell::Null => Ok(None),
            _ => self.text(index).map(|s| Some(s.to_owned())),
        }
    }

    fn blob(&self, index: usize) -> StoreResult<&[u8]> {
        match self.cell(index)? {
            Cell::Blob(v) => Ok(v),
            other => Err(mismatch(index, "bytes", other)),
        }
    }

    fn timestamp(&self, index: usize) -> StoreResult<Timestamp> {
        self.int(index).map(Timestamp)
    }

    fn opt_timestamp(&self, index: usize) -> StoreResult<Option<Timestamp>> {
        Ok(self.opt_int(index)?.map(Timestamp))
    }
}

fn mismatch(index: usize, wanted: &str, got: Cell<'_>) -> StoreError {
    StoreError::Corrupt(format!("column {index}: expected {wanted}, found {got:?}"))
}

/// A fn that decodes one row.
pub(crate) type Map<T> = fn(&dyn Row) -> StoreResult<T>;

/// A count or a number that fits `T` (a status code, an attempt number).
fn small<T: TryFrom<i64>>(row: &dyn Row, index: usize) -> StoreResult<T> {
    let v = row.int(index)?;
    T::try_from(v).map_err(|_| StoreError::Corrupt(format!("column {index}: {v} out of range")))
}

/// The JSON document in a row's first column.
pub(crate) fn doc<T: DeserializeOwned>(row: &dyn Row) -> StoreResult<T> {
    from_doc(row.text(0)?)
}

/// A row with no column anyone reads.
pub(crate) fn nothing(_: &dyn Row) -> StoreResult<()> {
    Ok(())
}

pub(crate) fn int(row: &dyn Row) -> StoreResult<i64> {
    row.int(0)
}

/// `seq, expires_at` of an intent: where a cursor stands.
pub(crate) fn intent_position(row: &dyn Row) -> StoreResult<(i64, Option<i64>)> {
    Ok((row.int(0)?, row.opt_int(1)?))
}

// ---------------------------------------------------------------------------------------------
// merchants, api_keys, idempotency_keys
// ---------------------------------------------------------------------------------------------

/// `id, name, created_at`
pub(crate) fn merchant(row: &dyn Row) -> StoreResult<Merchant> {
    Ok(Merchant {
        id: row.text(0)?.to_owned(),
        name: row.text(1)?.to_owned(),
        created_at: row.timestamp(2)?,
    })
}

pub(crate) fn merchant_params(merchant: &Merchant) -> Vec<Value> {
    values![&merchant.id, &merchant.name, merchant.created_at]
}

/// `hash, prefix, merchant_id, livemode, created_at, revoked_at`, read and written alike.
pub(crate) fn api_key(row: &dyn Row) -> StoreResult<ApiKey> {
    Ok(ApiKey {
        hash: row.text(0)?.to_owned(),
        prefix: row.text(1)?.to_owned(),
        merchant_id: row.text(2)?.to_owned(),
        livemode: row.boolean(3)?,
        created_at: row.timestamp(4)?,
        revoked_at: row.opt_timestamp(5)?,
    })
}

pub(crate) fn api_key_params(key: &ApiKey) -> Vec<Value> {
    values![
        &key.hash,
        &key.prefix,
        &key.merchant_id,
        key.livemode,
        key.created_at,
        key.revoked_at
    ]
}

/// `merchant_id, livemode, key, fingerprint, status_code, body, created_at`, read and written
/// alike.
pub(crate) fn idempotency(row: &dyn Row) -> StoreResult<IdempotencyRecord> {
    Ok(IdempotencyRecord {
        scope: Scope {
            merchant_id: row.text(0)?.to_owned(),
            livemode: row.boolean(1)?,
        },
        key: row.text(2)?.to_owned(),
        fingerprint: row.text(3)?.to_owned(),
        status_code: small(row, 4)?,
        body: row.blob(5)?.to_vec(),
        created_at: row.timestamp(6)?,
    })
}

pub(crate) fn idempotency_params(record: &IdempotencyRecord) -> Vec<Value> {
    values![
        &record.scope.merchant_id,
        record.scope.livemode,
        &record.key,
        &record.fingerprint,
        record.status_code,
        record.body.as_slice(),
        record.created_at
    ]
}

// ---------------------------------------------------------------------------------------------
// The document tables
// ---------------------------------------------------------------------------------------------

/// An aggregate stored as a document row.
pub(crate) trait Stored: Serialize {
    /// Inserts (or upserts) the row.
    const INSERT: Stmt;
    /// [`Self::INSERT`]'s parameters, the document serialised already.
    fn insert_params(&self, doc: String) -> Vec<Value>;
}

/// An aggregate whose row is written with optimistic concurrency: version 1 is inserted, and a
/// later version updates the row only where the stored version is the one before it.
pub(crate) trait Versioned: Stored {
    /// Its last two parameters are the id and the stored version.
    const UPDATE: Stmt;
    /// The id and the version this write stores.
    fn key(&self) -> (&str, u64);
    /// [`Self::UPDATE`]'s parameters before the id and the version.
    fn changes(&self, doc: String) -> Vec<Value>;
}

pub(crate) fn version(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Column values of an intent row.
#[derive(Debug)]
pub(crate) struct IntentColumns<'a> {
    pub id: &'a str,
    pub merchant_id: &'a str,
    pub livemode: bool,
    pub status: &'static str,
    pub capture_method: &'static str,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub version: i64,
    pub test_clock_id: Option<&'a str>,
    pub due_at: Option<i64>,
}

impl<'a> IntentColumns<'a> {
    pub(crate) fn of(intent: &'a PaymentIntent) -> IntentColumns<'a> {
        IntentColumns {
            id: &intent.id,
            merchant_id: &intent.scope.merchant_id,
            livemode: intent.scope.livemode,
            status: status_str(intent.status),
            capture_method: intent.capture_method.as_str(),
            created_at: intent.created_at.seconds(),
            expires_at: intent.authorization_expires_at.map(Timestamp::seconds),
            version: version(intent.version),
            test_clock_id: intent.test_clock_id.as_deref(),
            due_at: intent.next_due_at().map(Timestamp::seconds),
        }
    }
}

impl Stored for PaymentIntent {
    const INSERT: Stmt = Stmt::InsertIntent;
    fn insert_params(&self, doc: String) -> Vec<Value> {
        let c = IntentColumns::of(self);
        vec![
            c.id.into(),
            c.merchant_id.into(),
            c.livemode.into(),
            Value::Word(c.status),
            Value::Word(c.capture_method),
            c.created_at.into(),
            c.expires_at.into(),
            c.version.into(),
            doc.into(),
            c.test_clock_id.into(),
            c.due_at.into(),
        ]
    }
}

impl Versioned for PaymentIntent {
    const UPDATE: Stmt = Stmt::UpdateIntent;
    fn key(&self) -> (&str, u64) {
        (&self.id, self.version)
    }
    fn changes(&self, doc: String) -> Vec<Value> {
        let c = IntentColumns::of(self);
        vec![
            Value::Word(c.status),
            c.expires_at.into(),
            c.version.into(),
            doc.into(),
            c.due_at.into(),
        ]
    }
}

impl Stored for Order {
    const INSERT: Stmt = Stmt::InsertOrder;
    fn insert_params(&self, doc: String) -> Vec<Value> {
        values![
            &self.id,
            &self.scope.merchant_id,
            self.scope.livemode,
            Value::Word(self.status.as_str()),
            self.created_at,
            version(self.version),
            doc
        ]
    }
}

impl Versioned for Order {
    const UPDATE: Stmt = Stmt::UpdateOrder;
    fn key(&self) -> (&str, u64) {
        (&self.id, self.version)
    }
    fn changes(&self, doc: String) -> Vec<Value> {
        values![
            Value::Word(self.status.as_str()),
            version(self.version),
            doc
        ]
    }
}

impl Stored for Refund {
    const INSERT: Stmt = Stmt::InsertRefund;
    fn insert_params(&self, doc: String) -> Vec<Value> {
        values![
            &self.id,
            &self.scope.merchant_id,
            self.scope.livemode,
            &self.payment_intent_id,
            Value::Word(self.status.as_str()),
            self.idempotency_key.as_deref(),
            self.created_at,
            self.updated_at,
            version(self.version),
            doc
        ]
    }
}

impl Versioned for Refund {
    const UPDATE: Stmt = Stmt::UpdateRefund;
    fn key(&self) -> (&str, u64) {
        (&self.id, self.version)
    }
    fn changes(&self, doc: String) -> Vec<Value> {
        values![
            Value::Word(self.status.as_str()),
            self.updated_at,
            version(self.version),
            doc
        ]
    }
}

impl Stored for CheckoutSession {
    const INSERT: Stmt = Stmt::InsertCheckoutSession;
    fn insert_params(&self, doc: String) -> Vec<Value> {
        values![
            &self.id,
            &self.scope.merchant_id,
            self.scope.livemode,
            Value::Word(self.status.as_str()),
            self.expires_at,
            self.created_at,
            version(self.version),
            doc
        ]
    }
}

impl Versioned for CheckoutSession {
    const UPDATE: Stmt = Stmt::UpdateCheckoutSession;
    fn key(&self) -> (&str, u64) {
        (&self.id, self.version)
    }
    fn changes(&self, doc: String) -> Vec<Value> {
        values![
            Value::Word(self.status.as_str()),
            version(self.version),
            doc
        ]
    }
}

impl Stored for Customer {
    const INSERT: Stmt = Stmt::InsertCustomer;
    fn insert_params(&self, doc: String) -> Vec<Value> {
        values![
            &self.id,
            &self.scope.merchant_id,
            self.scope.livemode,
            self.created_at,
            doc
        ]
    }
}

impl Stored for SavedPaymentMethod {
    const INSERT: Stmt = Stmt::InsertPaymentMethod;
    fn insert_params(&self, doc: String) -> Vec<Value> {
        values![
            &self.id,
            &self.scope.merchant_id,
            self.scope.livemode,
            &self.customer_id,
            self.created_at,
            doc
        ]
    }
}

impl Stored for Event {
    const INSERT: Stmt = Stmt::InsertEvent;
    fn insert_params(&self, doc: String) -> Vec<Value> {
        values![
            &self.id,
            &self.scope.merchant_id,
            self.scope.livemode,
            Value::Word(self.kind.as_str()),
            self.payment_intent_id(),
            self.created_at,
            doc
        ]
    }
}

/// [`Stmt::FanOut`] and [`Stmt::Resend`]: the event's deliveries, due at `now`.
pub(crate) fn fan_out_params(event: &Event, now: Timestamp) -> Vec<Value> {
    values![
        &event.id,
        &event.scope.merchant_id,
        event.scope.livemode,
        now,
        Value::Word(event.kind.as_str())
    ]
}

impl Stored for TestClock {
    const INSERT: Stmt = Stmt::UpsertTestClock;
    fn insert_params(&self, doc: String) -> Vec<Value> {
        values![
            &self.id,
            &self.scope.merchant_id,
            self.scope.livemode,
            self.created_at,
            doc,
            self.frozen_time
        ]
    }
}

impl Stored for WebhookEndpoint {
    const INSERT: Stmt = Stmt::UpsertWebhookEndpoint;
    fn insert_params(&self, doc: String) -> Vec<Value> {
        values![
            &self.id,
            &self.scope.merchant_id,
            self.scope.livemode,
            self.disabled,
            self.created_at,
            doc
        ]
    }
}

// ---------------------------------------------------------------------------------------------
// webhook_deliveries, webhook_attempts
// ---------------------------------------------------------------------------------------------

/// `seq, merchant_id, livemode, event_id, endpoint_id, attempts`
pub(crate) fn delivery_claim(row: &dyn Row) -> StoreResult<DeliveryClaim> {
    Ok(DeliveryClaim {
        seq: row.int(0)?,
        scope: Scope {
            merchant_id: row.text(1)?.to_owned(),
            livemode: row.boolean(2)?,
        },
        event_id: row.text(3)?.to_owned(),
        endpoint_id: row.text(4)?.to_owned(),
        attempts: small(row, 5)?,
    })
}

/// A row of [`Stmt::ListDeliveries`]: the delivery, and one of its attempts if it has any.
pub(crate) fn delivery_and_attempt(
    row: &dyn Row,
) -> StoreResult<(DeliveryRecord, Option<AttemptLog>)> {
    let delivery = DeliveryRecord {
        endpoint_id: row.text(0)?.to_owned(),
        status: row.text(1)?.to_owned(),
        attempts: small(row, 2)?,
        next_attempt_at: row.opt_timestamp(3)?,
        log: Vec::new(),
    };
    let attempt = match row.opt_int(4)? {
        None => None,
        Some(attempt) => Some(AttemptLog {
            attempt: u32::try_from(attempt)
                .map_err(|_| StoreError::Corrupt(format!("attempt {attempt} out of range")))?,
            attempted_at: row.timestamp(5)?,
            status_code: row.opt_int(6)?.and_then(|c| u16::try_from(c).ok()),
            latency_ms: row.int(7)?,
            error: row.opt_text(8)?,
            next_attempt_at: row.opt_timestamp(9)?,
        }),
    };
    Ok((delivery, attempt))
}

// ---------------------------------------------------------------------------------------------
// dashboard_users (the dashboard's other rows map in `dashboard.rs`)
// ---------------------------------------------------------------------------------------------

impl Stored for holdfast_domain::user::User {
    const INSERT: Stmt = Stmt::InsertUser;
    fn insert_params(&self, doc: String) -> Vec<Value> {
        values![
            &self.id,
            &self.merchant_id,
            &self.email,
            version(self.version),
            self.created_at,
            doc
        ]
    }
}

impl Versioned for holdfast_domain::user::User {
    const UPDATE: Stmt = Stmt::UpdateUser;
    fn key(&self) -> (&str, u64) {
        (&self.id, self.version)
    }
    fn changes(&self, doc: String) -> Vec<Value> {
        values![&self.email, version(self.version), doc]
    }
}
