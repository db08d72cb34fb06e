//! The values that cross the store interface besides the domain aggregates.

use holdfast_domain::customer::{Customer, SavedPaymentMethod};
use holdfast_domain::event::{Event, EventType};
use holdfast_domain::intent::{CaptureMethod, PaymentIntent, Status};
use holdfast_domain::order::{Order, OrderStatus};
use holdfast_domain::refund::Refund;
use holdfast_domain::test_clock::TestClock;
use holdfast_domain::webhook::WebhookEndpoint;
use holdfast_domain::{Scope, Timestamp};
use serde::{Serialize, de::DeserializeOwned};

use crate::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merchant {
    pub id: String,
    pub name: String,
    pub created_at: Timestamp,
}

/// An API key as stored: never the key itself, only its SHA-256 and a short display prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub merchant_id: String,
    pub livemode: bool,
    /// `sk_test_` or `sk_live_` and the first characters of the secret part; shown in listings.
    pub prefix: String,
    /// SHA-256 of the whole key, hex.
    pub hash: String,
    pub created_at: Timestamp,
    pub revoked_at: Option<Timestamp>,
}

/// The stored answer to a request made with an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub scope: Scope,
    pub key: String,
    /// Hash of method, path and canonical body: a retry must match it to be replayed.
    pub fingerprint: String,
    pub status_code: u16,
    pub body: Vec<u8>,
    pub created_at: Timestamp,
}

/// One atomic write: everything a state change touches.
#[derive(Debug, Default)]
pub struct UnitOfWork {
    /// Version 1 inserts; a later version updates the row stored at `version - 1`.
    pub intents: Vec<PaymentIntent>,
    /// Versioned like intents.
    pub orders: Vec<Order>,
    /// Versioned like intents.
    pub refunds: Vec<Refund>,
    /// Versioned like intents.
    pub checkout_sessions: Vec<holdfast_domain::checkout::CheckoutSession>,
    pub customers: Vec<Customer>,
    pub payment_methods: Vec<SavedPaymentMethod>,
    pub events: Vec<Event>,
    /// Inserted, or replaced whole if that moves the clock forward (or leaves it where it is);
    /// a write that would move a clock back is skipped, so racing advances cannot rewind it.
    pub test_clocks: Vec<TestClock>,
    /// Inserted or replaced whole, with the event types they want.
    pub webhook_endpoints: Vec<WebhookEndpoint>,
    /// Dashboard users, inserted or replaced whole (by id); an email another user has makes the
    /// unit a conflict.
    pub users: Vec<holdfast_domain::user::User>,
    /// API keys, inserted, or (for a key already stored) its revocation recorded.
    pub api_keys: Vec<ApiKey>,
    /// Inserted; a record already stored under the same key makes the whole unit a conflict.
    pub idempotency: Option<IdempotencyRecord>,
}

impl UnitOfWork {
    pub fn is_empty(&self) -> bool {
        self.intents.is_empty()
            && self.orders.is_empty()
            && self.refunds.is_empty()
            && self.checkout_sessions.is_empty()
            && self.customers.is_empty()
            && self.payment_methods.is_empty()
            && self.events.is_empty()
            && self.test_clocks.is_empty()
            && self.webhook_endpoints.is_empty()
            && self.users.is_empty()
            && self.api_keys.is_empty()
            && self.idempotency.is_none()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// 1 to 100.
    pub limit: u32,
    /// The id of the last object of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub has_more: bool,
    pub next_cursor: Option<String>,
}

/// Filters for listing intents, newest first. Status is the status as of `now`, so an
/// overdue hold lists as `expired` before the expiry worker has recorded it.
#[derive(Debug, Clone)]
pub struct IntentFilter {
    pub status: Option<Status>,
    pub capture_method: Option<CaptureMethod>,
    pub created_after: Option<Timestamp>,
    pub created_before: Option<Timestamp>,
    pub expires_before: Option<Timestamp>,
    pub order: IntentOrder,
    pub now: Timestamp,
    pub page: PageRequest,
}

/// How a list of intents is sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IntentOrder {
    /// Newest first.
    #[default]
    CreatedDesc,
    /// Soonest deadline first; only intents that have a deadline.
    ExpiresAsc,
}

#[derive(Debug, Clone)]
pub struct OrderFilter {
    pub status: Option<OrderStatus>,
    pub page: PageRequest,
}

#[derive(Debug, Clone)]
pub struct RefundFilter {
    pub payment_intent_id: Option<String>,
    pub page: PageRequest,
}

#[derive(Debug, Clone)]
pub struct EventFilter {
    pub kind: Option<EventType>,
    pub payment_intent_id: Option<String>,
    pub page: PageRequest,
}

pub(crate) fn to_doc<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub(crate) fn from_doc<T: DeserializeOwned>(doc: &str) -> Result<T, StoreError> {
    serde_json::from_str(doc).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Sorts claimed intents by the moment they fell due: `RETURNING` promises no order.
pub(crate) fn soonest_first(mut intents: Vec<PaymentIntent>) -> Vec<PaymentIntent> {
    intents.sort_by_key(|i| (i.next_due_at(), i.created_at));
    intents
}

/// Turns a page fetched with `limit + 1` rows into the page and its cursor.
pub(crate) fn paginate<T>(mut rows: Vec<T>, limit: u32, id: impl Fn(&T) -> &str) -> Page<T> {
    let has_more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = if has_more {
        rows.last().map(|r| id(r).to_owned())
    } else {
        None
    };
    Page {
        data: rows,
        has_more,
        next_cursor,
    }
}

pub(crate) const fn status_str(status: Status) -> &'static str {
    status.as_str()
}

/// A delivery a worker claimed: one event to one endpoint, `attempts` tried so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryClaim {
    pub seq: i64,
    pub scope: Scope,
    pub event_id: String,
    pub endpoint_id: String,
    pub attempts: u32,
}

/// What happens to a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryNext {
    Delivered,
    RetryAt(Timestamp),
    Failed,
    /// Not attempted: the endpoint was disabled or deleted meanwhile. No attempt is recorded.
    Canceled,
}

impl DeliveryNext {
    pub const fn status(self) -> &'static str {
        match self {
            DeliveryNext::Delivered => "delivered",
            DeliveryNext::RetryAt(_) => "pending",
            DeliveryNext::Failed => "failed",
            DeliveryNext::Canceled => "canceled",
        }
    }

    pub fn next_attempt_at(self) -> Option<Timestamp> {
        match self {
            DeliveryNext::RetryAt(at) => Some(at),
            DeliveryNext::Delivered | DeliveryNext::Failed | DeliveryNext::Canceled => None,
        }
    }
}

/// One attempt's record and its consequence, written together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryAttempt {
    pub claim: DeliveryClaim,
    pub attempted_at: Timestamp,
    pub status_code: Option<u16>,
    pub latency_ms: i64,
    pub error: Option<String>,
    pub next: DeliveryNext,
    /// The endpoint answered `410 Gone`.
    pub disable_endpoint: bool,
}

/// A delivery and its attempts, for `GET /v1/events/{id}/deliveries`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    pub endpoint_id: String,
    pub status: String,
    pub attempts: u32,
    pub next_attempt_at: Option<Timestamp>,
    pub log: Vec<AttemptLog>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptLog {
    pub attempt: u32,
    pub attempted_at: Timestamp,
    pub status_code: Option<u16>,
    pub latency_ms: i64,
    pub error: Option<String>,
    pub next_attempt_at: Option<Timestamp>,
}
