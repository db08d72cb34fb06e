//! Holdfast's persistence: one [`Store`] interface, an embedded SQLite implementation and a
//! PostgreSQL one for several `holdfast` processes sharing a database.
//!
//! Every write method is a whole unit of work: no transaction handle crosses this interface.
//! [`Store::commit`] writes a [`UnitOfWork`] (intents, customers, events, the idempotency record)
//! in one transaction, with optimistic concurrency: an intent is written only if its stored version
//! is the one the change was computed from, else [`StoreError::Conflict`] and nothing is written.
//!
//! Aggregates are stored as JSON documents (the domain types' serde form) next to the columns that
//! queries filter and sort on, so both backends share one row format.
//!
//! The store is written once, over both backends: `sql` holds every statement (rendered once per
//! dialect), `rows` how each table's rows map to values and back, `plan` the two kinds of work a
//! backend runs (a write plan and a read), and `engine` every [`Store`] method built from them. A
//! backend (`sqlite/`, `postgres/`) only says how to run a read and how to commit a plan.

mod dashboard;
mod engine;
mod migrate;
mod model;
mod plan;
pub mod postgres;
mod rows;
mod sql;
pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use holdfast_domain::checkout::CheckoutSession;
use holdfast_domain::customer::{Customer, SavedPaymentMethod};
use holdfast_domain::event::Event;
use holdfast_domain::intent::PaymentIntent;
use holdfast_domain::order::Order;
use holdfast_domain::refund::Refund;
use holdfast_domain::test_clock::TestClock;
use holdfast_domain::user::{Session, User};
use holdfast_domain::webhook::WebhookEndpoint;
use holdfast_domain::{Scope, Timestamp};

pub use dashboard::{AtRisk, DailyTotals, EndpointDelivery, IntentSearch};
pub use model::{
    ApiKey, EventFilter, IdempotencyRecord, IntentFilter, IntentOrder, Merchant, OrderFilter, Page,
    PageRequest, RefundFilter, UnitOfWork,
};
pub use model::{AttemptLog, DeliveryAttempt, DeliveryClaim, DeliveryNext, DeliveryRecord};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The write lost a race (stale version or a duplicate key); reload and decide again.
    #[error("conflicting concurrent write")]
    Conflict,
    /// A pagination cursor that names no object of this caller.
    #[error("unknown cursor")]
    UnknownCursor,
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("stored data could not be read: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Everything Holdfast reads and writes. Implementations must make [`Store::commit`] atomic.
#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// `"sqlite"` or `"postgres"`.
    fn backend(&self) -> &'static str;
    async fn ping(&self) -> StoreResult<()>;

    async fn create_merchant(&self, merchant: &Merchant, keys: &[ApiKey]) -> StoreResult<()>;
    async fn merchant_count(&self) -> StoreResult<u64>;
    async fn get_merchant(&self, id: &str) -> StoreResult<Option<Merchant>>;
    async fn insert_api_key(&self, key: &ApiKey) -> StoreResult<()>;
    /// Every key (revoked or not) whose display prefix is `prefix`.
    async fn api_keys_by_prefix(&self, prefix: &str) -> StoreResult<Vec<ApiKey>>;
    /// Revokes the keys with this display prefix; returns how many were live.
    async fn revoke_api_keys(&self, prefix: &str, now: Timestamp) -> StoreResult<u64>;

    async fn get_intent(&self, scope: &Scope, id: &str) -> StoreResult<Option<PaymentIntent>>;
    /// Finds an intent by id alone: only for checking a client secret, which names no merchant.
    async fn get_intent_unscoped(&self, id: &str) -> StoreResult<Option<PaymentIntent>>;
    async fn list_intents(
        &self,
        scope: &Scope,
        filter: &IntentFilter,
    ) -> StoreResult<Page<PaymentIntent>>;
    async fn get_order(&self, scope: &Scope, id: &str) -> StoreResult<Option<Order>>;
    async fn list_orders(&self, scope: &Scope, filter: &OrderFilter) -> StoreResult<Page<Order>>;
    async fn get_refund(&self, scope: &Scope, id: &str) -> StoreResult<Option<Refund>>;
    async fn list_refunds(&self, scope: &Scope, filter: &RefundFilter)
    -> StoreResult<Page<Refund>>;
    /// The refund a request with this `Idempotency-Key` created, if one did.
    async fn refund_by_idempotency_key(
        &self,
        scope: &Scope,
        key: &str,
    ) -> StoreResult<Option<Refund>>;
    /// Refunds still pending whose last change is older than `before`: left by a crash or by a
    /// processor that did not answer.
    async fn stale_pending_refunds(
        &self,
        before: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<Refund>>;
    async fn get_checkout_session(
        &self,
        scope: &Scope,
        id: &str,
    ) -> StoreResult<Option<CheckoutSession>>;
    /// Finds a session by id alone: for its hosted page, whose unguessable id is the credential.
    async fn get_checkout_session_unscoped(&self, id: &str)
    -> StoreResult<Option<CheckoutSession>>;
    async fn list_checkout_sessions(
        &self,
        scope: &Scope,
        page: &PageRequest,
    ) -> StoreResult<Page<CheckoutSession>>;
    /// Open sessions of every merchant whose time is up at `now`, soonest first: the worker
    /// records their expiry.
    async fn due_checkout_sessions(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<CheckoutSession>>;
    async fn get_customer(&self, scope: &Scope, id: &str) -> StoreResult<Option<Customer>>;
    async fn get_payment_method(
        &self,
        scope: &Scope,
        id: &str,
    ) -> StoreResult<Option<SavedPaymentMethod>>;
    async fn get_event(&self, scope: &Scope, id: &str) -> StoreResult<Option<Event>>;
    async fn list_events(&self, scope: &Scope, filter: &EventFilter) -> StoreResult<Page<Event>>;
    async fn get_idempotency(
        &self,
        scope: &Scope,
        key: &str,
    ) -> StoreResult<Option<IdempotencyRecord>>;

    /// Claims up to `limit` wall-clock intents with something due at `now`, soonest first, that no
    /// other worker holds a lease on, and leases them until `lease_until`. Several processes may
    /// call this at once; each intent goes to one of them (PostgreSQL: `FOR UPDATE SKIP LOCKED`).
    async fn claim_due(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<PaymentIntent>>;
    /// Intents on a test clock with something due at or before `up_to`, soonest first.
    async fn due_on_clock(
        &self,
        clock_id: &str,
        up_to: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<PaymentIntent>>;
    /// Open holds of every merchant, soonest deadline first, for the operator's view.
    async fn open_holds(
        &self,
        expiring_before: Option<Timestamp>,
        limit: u32,
    ) -> StoreResult<Vec<PaymentIntent>>;

    /// A test clock; a deleted one only with `include_deleted` (its intents keep its time).
    async fn get_test_clock(
        &self,
        scope: &Scope,
        id: &str,
        include_deleted: bool,
    ) -> StoreResult<Option<TestClock>>;
    async fn list_test_clocks(
        &self,
        scope: &Scope,
        page: &PageRequest,
    ) -> StoreResult<Page<TestClock>>;
    /// Marks a clock deleted; false when there was no such (undeleted) clock.
    async fn delete_test_clock(&self, scope: &Scope, id: &str) -> StoreResult<bool>;

    async fn get_webhook_endpoint(
        &self,
        scope: &Scope,
        id: &str,
    ) -> StoreResult<Option<WebhookEndpoint>>;
    async fn list_webhook_endpoints(
        &self,
        scope: &Scope,
        page: &PageRequest,
    ) -> StoreResult<Page<WebhookEndpoint>>;
    /// Deletes an endpoint; its pending deliveries are dropped. False when there was none.
    async fn delete_webhook_endpoint(&self, scope: &Scope, id: &str) -> StoreResult<bool>;
    /// Any endpoint by id (the delivery worker's look-up).
    async fn get_webhook_endpoint_unscoped(&self, id: &str)
    -> StoreResult<Option<WebhookEndpoint>>;
    /// Leases up to `limit` deliveries due at `now`, oldest event first.
    async fn claim_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryClaim>>;
    /// Records an attempt and its consequence in one transaction.
    async fn finish_delivery(&self, attempt: &DeliveryAttempt) -> StoreResult<()>;
    async fn list_deliveries(
        &self,
        scope: &Scope,
        event_id: &str,
    ) -> StoreResult<Vec<DeliveryRecord>>;
    /// Queues the event again for every enabled endpoint that wants it; returns how many.
    async fn resend_event(&self, event: &Event, now: Timestamp) -> StoreResult<u64>;

    /// Deletes up to `limit` idempotency records created before `before`; returns how many.
    async fn purge_idempotency(&self, before: Timestamp, limit: u32) -> StoreResult<u64>;

    /// Writes the whole unit atomically, or nothing.
    async fn commit(&self, unit: UnitOfWork) -> StoreResult<()>;

    // ---- The operations dashboard (`dashboard.rs`) ----------------------------------------------

    /// Intents as [`Store::list_intents`] lists them, narrowed further by `search`.
    async fn search_intents(
        &self,
        scope: &Scope,
        filter: &IntentFilter,
        search: &IntentSearch,
    ) -> StoreResult<Page<PaymentIntent>>;
    /// Open holds whose deadline is within 72 hours of `now` (a test clock's intents: of the
    /// clock's time), per currency.
    async fn money_at_risk(&self, scope: &Scope, now: Timestamp) -> StoreResult<Vec<AtRisk>>;
    /// Per UTC day and currency, the money moved by the events recorded from `from` to `to`.
    async fn daily_totals(
        &self,
        scope: &Scope,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<DailyTotals>>;
    /// An endpoint's latest deliveries (newest first), each with its attempts.
    async fn endpoint_deliveries(
        &self,
        scope: &Scope,
        endpoint_id: &str,
        limit: u32,
    ) -> StoreResult<Vec<EndpointDelivery>>;
    /// A merchant's API keys in one mode, revoked ones included, newest first.
    async fn list_api_keys(&self, merchant_id: &str, livemode: bool) -> StoreResult<Vec<ApiKey>>;
    async fn get_user(&self, id: &str) -> StoreResult<Option<User>>;
    /// The user with this (normalised) email, of whichever merchant.
    async fn get_user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    async fn list_users(&self, merchant_id: &str) -> StoreResult<Vec<User>>;
    async fn insert_session(&self, session: &Session) -> StoreResult<()>;
    async fn get_session(&self, token_hash: &str) -> StoreResult<Option<Session>>;
    /// Records a session's use at `at` (never moving it back).
    async fn touch_session(&self, token_hash: &str, at: Timestamp) -> StoreResult<()>;
    async fn delete_session(&self, token_hash: &str) -> StoreResult<()>;
    /// Deletes up to `limit` sessions last used before `seen_before` or begun before
    /// `created_before`; returns how many.
    async fn purge_sessions(
        &self,
        seen_before: Timestamp,
        created_before: Timestamp,
        limit: u32,
    ) -> StoreResult<u64>;
}

/// Opens the store a URL names: `sqlite://path` (created if missing) or `postgres://…`.
/// Migrations are applied before it returns.
pub async fn open(url: &str) -> StoreResult<Arc<dyn Store>> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgStore::open(url).await?))
    } else if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        Ok(Arc::new(sqlite::SqliteStore::open(path).await?))
    } else {
        Err(StoreError::Unavailable(
            "database URL must start with sqlite:// or postgres://".into(),
        ))
    }
}

/// Masks the password in a database URL so it can be logged.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            if userinfo.contains(':') {
                format!("{scheme}://{user}:***@{host}")
            } else {
                format!("{scheme}://{user}@{host}")
            }
        }
        None => url.to_owned(),
    }
}
