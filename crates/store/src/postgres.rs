//! The PostgreSQL store, for several `holdfast` processes sharing one database.

use async_trait::async_trait;
use holdfast_domain::customer::{Customer, SavedPaymentMethod};
use holdfast_domain::event::Event;
use holdfast_domain::intent::PaymentIntent;
use holdfast_domain::{Scope, Timestamp};

use crate::{
    ApiKey, EventFilter, IdempotencyRecord, IntentFilter, Merchant, Page, Store, StoreError,
    StoreResult, UnitOfWork,
};

#[derive(Debug)]
pub struct PgStore {}

impl PgStore {
    pub async fn open(_url: &str) -> StoreResult<PgStore> {
        Err(StoreError::Unavailable(
            "PostgreSQL store not built yet".into(),
        ))
    }
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }
    async fn ping(&self) -> StoreResult<()> {
        Err(StoreError::Unavailable("wip".into()))
    }
    async fn create_merchant(&self, _m: &Merchant, _k: &[ApiKey]) -> StoreResult<()> {
        Err(StoreError::Unavailable("wip".into()))
    }
    async fn merchant_count(&self) -> StoreResult<u64> {
        Err(StoreError::Unavailable("wip".into()))
    }
    async fn get_merchant(&self, _id: &str) -> StoreResult<Option<Merchant>> {
        Err(StoreError::Unavailable("wip".into()))
    }
    async fn insert_api_key(&self, _key: &ApiKey) -> StoreResult<()> {
        Err(StoreError::Unavailable("wip".into()))
    }
    async fn api_keys_by_prefix(&self, _prefix: &str) -> StoreResult<Vec<ApiKey>> {
        Err(StoreError::Unavailable("wip".into()))
    }
    async fn revoke_api_keys(&self, _prefix: &str, _now: Timestamp) -> StoreResult<u64> {
        Err(StoreError::Unavailable("wip".into()))
    }
    async fn get_intent(&self, _s: &Scope, _id: &str) -> StoreResult<Option<PaymentIntent>> {
        Err(StoreError::Unavailable("wip".into()))
    }
    async fn get_intent_unscoped(&self, _id: &str) -> StoreResult<Option<PaymentIntent>> {
        Err(StoreError::Unavailable("wip".into()))
    }
    async fn list_intents(
        &self,
        _s: &Scope,
        _f: &IntentFilter,
    ) -> StoreResult<Page<PaymentIntent>> {
        Err(StoreError::Unavailable("wip".into()))
    }
    async fn get_customer(&self, _s: &Scope, _id: &str) -> StoreResult<Option<Customer>> {
        Err(StoreError::Unavailable("wip".into()))
    }
    async fn get_payment_method(
        &self,
        _s: &Scope,
        _id: &str,
    ) -> StoreResult<Option<SavedPaymentMethod>> {
        Err(StoreError::Unavailable("wip".into()))
    }
    async fn get_event(&self, _s: &Scope, _id: &str) -> StoreResult<Option<Event>> {
        Err(StoreError::Unavailable("wip".into()))
    }
    async fn list_events(&self, _s: &Scope, _f: &EventFilter) -> StoreResult<Page<Event>> {
        Err(StoreError::Unavailable("wip".into()))
    }
    async fn get_idempotency(
        &self,
        _s: &Scope,
        _k: &str,
    ) -> StoreResult<Option<IdempotencyRecord>> {
        Err(StoreError::Unavailable("wip".into()))
    }
    async fn commit(&self, _unit: UnitOfWork) -> StoreResult<()> {
        Err(StoreError::Unavailable("wip".into()))
    }
}
