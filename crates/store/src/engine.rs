//! The store written once. A [`Backend`] knows how to run a [`Read`] and a [`Plan`]; every
//! [`Store`] method is built here, over any backend, from the shared statements
//! ([`crate::sql`]) and row mappings ([`crate::rows`]).

use std::future::Future;

use async_trait::async_trait;
use holdfast_domain::checkout::CheckoutSession;
use holdfast_domain::customer::{Customer, SavedPaymentMethod};
use holdfast_domain::event::Event;
use holdfast_domain::intent::{PaymentIntent, Status};
use holdfast_domain::order::Order;
use holdfast_domain::refund::Refund;
use holdfast_domain::test_clock::TestClock;
use holdfast_domain::user::{Session, User};
use holdfast_domain::webhook::WebhookEndpoint;
use holdfast_domain::{Scope, Timestamp};
use serde::de::DeserializeOwned;

use crate::dashboard::{self, AtRisk, DailyTotals, EndpointDelivery, IntentSearch};
use crate::model::{paginate, soonest_first};
use crate::plan::{Plan, Read, ReadKind};
use crate::rows::{self, Map, doc};
use crate::sql::{Dialect, Query, Stmt, Table, Value, values};
use crate::{
    ApiKey, DeliveryAttempt, DeliveryClaim, DeliveryNext, DeliveryRecord, EventFilter,
    IdempotencyRecord, IntentFilter, IntentOrder, Merchant, OrderFilter, Page, PageRequest,
    RefundFilter, Store, StoreError, StoreResult, UnitOfWork,
};

/// What a backend implements: how to run a read and how to commit a plan. Everything else is
/// shared.
pub(crate) trait Backend: Send + Sync + std::fmt::Debug + 'static {
    /// `"sqlite"` or `"postgres"`.
    const NAME: &'static str;
    /// The SQL it speaks.
    const DIALECT: Dialect;

    /// Runs one statement and decodes each row it returns with `map`.
    fn read<T: Send + 'static>(
        &self,
        read: Read,
        map: Map<T>,
    ) -> impl Future<Output = StoreResult<Vec<T>>> + Send;

    /// Commits the plan's steps in one transaction, or nothing; answers how many rows its first
    /// step changed.
    fn write(&self, plan: Plan) -> impl Future<Output = StoreResult<u64>> + Send;
}

/// `$1` id, `$2` merchant, `$3` livemode: one object of a scope.
fn in_scope(id: &str, scope: &Scope) -> Vec<Value> {
    values![id, &scope.merchant_id, scope.livemode]
}

/// The first row a read returns, if any.
async fn first<B: Backend, T: Send + 'static>(
    backend: &B,
    read: Read,
    map: Map<T>,
) -> StoreResult<Option<T>> {
    Ok(backend.read(read, map).await?.into_iter().next())
}

/// One document by id, within the caller's scope.
async fn get_doc<B: Backend, T: DeserializeOwned + Send + 'static>(
    backend: &B,
    table: Table,
    scope: &Scope,
    id: &str,
) -> StoreResult<Option<T>> {
    let sql = B::DIALECT.get_doc(table);
    first(
        backend,
        Read::new(ReadKind::Point, sql, in_scope(id, scope)),
        doc::<T>,
    )
    .await
}

/// Resolves a cursor (an object id) to its sequence number within the caller's scope; no
/// cursor is the start of the list.
async fn cursor_seq<B: Backend>(
    backend: &B,
    table: Table,
    scope: &Scope,
    cursor: Option<&str>,
) -> StoreResult<i64> {
    let Some(cursor) = cursor else {
        return Ok(i64::MAX);
    };
    let sql = B::DIALECT.cursor_seq(table);
    let read = Read::new(ReadKind::Point, sql, in_scope(cursor, scope));
    first(backend, read, rows::int)
        .await?
        .ok_or(StoreError::UnknownCursor)
}

/// A page of one scope's documents of `table`, newest first, narrowed by `filter`.
async fn page<B: Backend, T: DeserializeOwned + Send + 'static>(
    backend: &B,
    table: Table,
    scope: &Scope,
    page: &PageRequest,
    filter: impl FnOnce(&mut Query) + Send,
    id: fn(&T) -> &str,
) -> StoreResult<Page<T>> {
    let before_seq = cursor_seq(backend, table, scope, page.cursor.as_deref()).await?;
    let mut q = Query::new(B::DIALECT, "SELECT doc FROM ");
    q.text(table.name());
    q.push(" WHERE merchant_id = $", &scope.merchant_id);
    q.push(" AND livemode = $", scope.livemode);
    q.push(" AND seq < $", before_seq);
    filter(&mut q);
    q.push(" ORDER BY seq DESC LIMIT $", i64::from(page.limit) + 1);
    let rows = backend.read(Read::query(q), doc::<T>).await?;
    Ok(paginate(rows, page.limit, id))
}

/// "Now" for an intent row: its test clock's time, or the wall clock's (`$`).
macro_rules! row_now {
    () => {
        "(CASE WHEN test_clock_id IS NULL THEN $
          ELSE COALESCE((SELECT c.frozen_time FROM test_clocks c
                         WHERE c.id = payment_intents.test_clock_id), $) END)"
    };
}

/// Narrows intents to those whose status as of `now` is `status`. A hold past its deadline reads
/// as expired, whatever the stored status says, before the expiry worker has recorded it.
fn status_as_of(q: &mut Query, status: Status, now: i64) {
    const HELD: &str = concat!(
        " AND status = 'requires_capture' AND (expires_at IS NULL OR expires_at >= ",
        row_now!(),
        ")"
    );
    const EXPIRED: &str = concat!(
        " AND (status = 'expired' OR (status = 'requires_capture' AND expires_at < ",
        row_now!(),
        "))"
    );
    match status {
        Status::RequiresCapture => q.push(HELD, now),
        Status::Expired => q.push(EXPIRED, now),
        status => q.push(" AND status = $", Value::Word(status.as_str())),
    }
}

#[async_trait]
impl<B: Backend> Store for B {
    fn backend(&self) -> &'static str {
        B::NAME
    }

    async fn ping(&self) -> StoreResult<()> {
        let read = Read::point(B::DIALECT, Stmt::Ping, Vec::new());
        self.read(read, rows::nothing).await.map(drop)
    }

    async fn create_merchant(&self, merchant: &Merchant, keys: &[ApiKey]) -> StoreResult<()> {
        let mut plan = Plan::one(Stmt::InsertMerchant, rows::merchant_params(merchant));
        for key in keys {
            plan.push(Stmt::InsertApiKey, rows::api_key_params(key));
        }
        self.write(plan).await.map(drop)
    }

    async fn merchant_count(&self) -> StoreResult<u64> {
        let read = Read::scan(B::DIALECT, Stmt::CountMerchants, Vec::new());
        let count = first(self, read, rows::int).await?.unwrap_or(0);
        Ok(count.max(0).unsigned_abs())
    }

    async fn get_merchant(&self, id: &str) -> StoreResult<Option<Merchant>> {
        let read = Read::point(B::DIALECT, Stmt::GetMerchant, values![id]);
        first(self, read, rows::merchant).await
    }

    async fn insert_api_key(&self, key: &ApiKey) -> StoreResult<()> {
        let plan = Plan::one(Stmt::InsertApiKey, rows::api_key_params(key));
        self.write(plan).await.map(drop)
    }

    async fn api_keys_by_prefix(&self, prefix: &str) -> StoreResult<Vec<ApiKey>> {
        let read = Read::point(B::DIALECT, Stmt::ApiKeysByPrefix, values![prefix]);
        self.read(read, rows::api_key).await
    }

    async fn revoke_api_keys(&self, prefix: &str, now: Timestamp) -> StoreResult<u64> {
        self.write(Plan::one(Stmt::RevokeApiKeys, values![now, prefix]))
            .await
    }

    async fn get_intent(&self, scope: &Scope, id: &str) -> StoreResult<Option<PaymentIntent>> {
        get_doc(self, Table::Intents, scope, id).await
    }

    async fn get_intent_unscoped(&self, id: &str) -> StoreResult<Option<PaymentIntent>> {
        let read = Read::point(B::DIALECT, Stmt::GetIntentUnscoped, values![id]);
        first(self, read, doc).await
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
        let cursor = match &filter.page.cursor {
            Some(cursor) => {
                let read = Read::point(B::DIALECT, Stmt::IntentCursor, in_scope(cursor, scope));
                let position = first(self, read, rows::intent_position).await?;
                Some(position.ok_or(StoreError::UnknownCursor)?)
            }
            None => None,
        };
        let mut q = Query::new(B::DIALECT, "SELECT doc FROM payment_intents");
        q.push(" WHERE merchant_id = $", &scope.merchant_id);
        q.push(" AND livemode = $", scope.livemode);
        if let Some(status) = filter.status {
            status_as_of(&mut q, status, filter.now.seconds());
        }
        if let Some(method) = filter.capture_method {
            q.push(" AND capture_method = $", Value::Word(method.as_str()));
        }
        if let Some(t) = filter.created_after {
            q.push(" AND created_at > $", t);
        }
        if let Some(t) = filter.created_before {
            q.push(" AND created_at < $", t);
        }
        if let Some(t) = filter.expires_before {
            q.push(" AND expires_at < $", t);
        }
        narrow_search(&mut q, search);
        match filter.order {
            IntentOrder::CreatedDesc => {
                if let Some((seq, _)) = cursor {
                    q.push(" AND seq < $", seq);
                }
                q.text(" ORDER BY seq DESC");
            }
            IntentOrder::ExpiresAsc => {
                q.text(" AND expires_at IS NOT NULL");
                if let Some((seq, expires_at)) = cursor {
                    q.push(
                        " AND (expires_at, seq) > ($",
                        expires_at.unwrap_or(i64::MIN),
                    );
                    q.push(", $)", seq);
                }
                q.text(" ORDER BY expires_at ASC, seq ASC");
            }
        }
        q.push(" LIMIT $", i64::from(filter.page.limit) + 1);
        let rows = self.read(Read::query(q), doc::<PaymentIntent>).await?;
        Ok(paginate(rows, filter.page.limit, |i| &i.id))
    }

    async fn get_order(&self, scope: &Scope, id: &str) -> StoreResult<Option<Order>> {
        get_doc(self, Table::Orders, scope, id).await
    }

    async fn list_orders(&self, scope: &Scope, filter: &OrderFilter) -> StoreResult<Page<Order>> {
        let status = filter.status.map(|s| s.as_str());
        let narrow = |q: &mut Query| {
            if let Some(status) = status {
                q.push(" AND status = $", Value::Word(status));
            }
        };
        page(
            self,
            Table::Orders,
            scope,
            &filter.page,
            narrow,
            |o: &Order| &o.id,
        )
        .await
    }

    async fn get_refund(&self, scope: &Scope, id: &str) -> StoreResult<Option<Refund>> {
        get_doc(self, Table::Refunds, scope, id).await
    }

    async fn list_refunds(
        &self,
        scope: &Scope,
        filter: &RefundFilter,
    ) -> StoreResult<Page<Refund>> {
        let narrow = |q: &mut Query| {
            if let Some(intent) = &filter.payment_intent_id {
                q.push(" AND payment_intent_id = $", intent);
            }
        };
        page(
            self,
            Table::Refunds,
            scope,
            &filter.page,
            narrow,
            |r: &Refund| &r.id,
        )
        .await
    }

    async fn refund_by_idempotency_key(
        &self,
        scope: &Scope,
        key: &str,
    ) -> StoreResult<Option<Refund>> {
        let params = values![&scope.merchant_id, scope.livemode, key];
        let read = Read::point(B::DIALECT, Stmt::RefundByIdempotencyKey, params);
        first(self, read, doc).await
    }

    async fn stale_pending_refunds(
        &self,
        before: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<Refund>> {
        let params = values![before, limit];
        let read = Read::scan(B::DIALECT, Stmt::StalePendingRefunds, params);
        self.read(read, doc).await
    }

    async fn get_checkout_session(
        &self,
        scope: &Scope,
        id: &str,
    ) -> StoreResult<Option<CheckoutSession>> {
        get_doc(self, Table::CheckoutSessions, scope, id).await
    }

    async fn get_checkout_session_unscoped(
        &self,
        id: &str,
    ) -> StoreResult<Option<CheckoutSession>> {
        let read = Read::point(B::DIALECT, Stmt::GetCheckoutSessionUnscoped, values![id]);
        first(self, read, doc).await
    }

    async fn list_checkout_sessions(
        &self,
        scope: &Scope,
        page_request: &PageRequest,
    ) -> StoreResult<Page<CheckoutSession>> {
        page(
            self,
            Table::CheckoutSessions,
            scope,
            page_request,
            |_: &mut Query| {},
            |s: &CheckoutSession| &s.id,
        )
        .await
    }

    async fn due_checkout_sessions(
        &self,
        now: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<CheckoutSession>> {
        let read = Read::scan(B::DIALECT, Stmt::DueCheckoutSessions, values![now, limit]);
        self.read(read, doc).await
    }

    async fn get_customer(&self, scope: &Scope, id: &str) -> StoreResult<Option<Customer>> {
        get_doc(self, Table::Customers, scope, id).await
    }

    async fn get_payment_method(
        &self,
        scope: &Scope,
        id: &str,
    ) -> StoreResult<Option<SavedPaymentMethod>> {
        get_doc(self, Table::PaymentMethods, scope, id).await
    }

    async fn get_event(&self, scope: &Scope, id: &str) -> StoreResult<Option<Event>> {
        get_doc(self, Table::Events, scope, id).await
    }

    async fn list_events(&self, scope: &Scope, filter: &EventFilter) -> StoreResult<Page<Event>> {
        let kind = filter.kind.map(|k| k.as_str());
        let narrow = |q: &mut Query| {
            if let Some(kind) = kind {
                q.push(" AND type = $", Value::Word(kind));
            }
            if let Some(intent) = &filter.payment_intent_id {
                q.push(" AND payment_intent_id = $", intent);
            }
        };
        page(
            self,
            Table::Events,
            scope,
            &filter.page,
            narrow,
            |e: &Event| &e.id,
        )
        .await
    }

    async fn get_idempotency(
        &self,
        scope: &Scope,
        key: &str,
    ) -> StoreResult<Option<IdempotencyRecord>> {
        let params = values![&scope.merchant_id, scope.livemode, key];
        let read = Read::point(B::DIALECT, Stmt::GetIdempotency, params);
        first(self, read, rows::idempotency).await
    }

    async fn claim_due(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<PaymentIntent>> {
        let params = values![lease_until, now, limit];
        let read = Read::claim(B::DIALECT, Stmt::ClaimDue, params);
        Ok(soonest_first(self.read(read, doc).await?))
    }

    async fn due_on_clock(
        &self,
        clock_id: &str,
        up_to: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<PaymentIntent>> {
        let params = values![clock_id, up_to, limit];
        self.read(Read::scan(B::DIALECT, Stmt::DueOnClock, params), doc)
            .await
    }

    async fn open_holds(
        &self,
        expiring_before: Option<Timestamp>,
        limit: u32,
    ) -> StoreResult<Vec<PaymentIntent>> {
        let before = expiring_before.map_or(i64::MAX, Timestamp::seconds);
        let read = Read::scan(B::DIALECT, Stmt::OpenHolds, values![before, limit]);
        self.read(read, doc).await
    }

    async fn get_test_clock(
        &self,
        scope: &Scope,
        id: &str,
        include_deleted: bool,
    ) -> StoreResult<Option<TestClock>> {
        let mut params = in_scope(id, scope);
        params.push(include_deleted.into());
        first(
            self,
            Read::point(B::DIALECT, Stmt::GetTestClock, params),
            doc,
        )
        .await
    }

    async fn list_test_clocks(
        &self,
        scope: &Scope,
        page_request: &PageRequest,
    ) -> StoreResult<Page<TestClock>> {
        let narrow = |q: &mut Query| q.text(" AND NOT deleted");
        page(
            self,
            Table::TestClocks,
            scope,
            page_request,
            narrow,
            |c: &TestClock| &c.id,
        )
        .await
    }

    async fn delete_test_clock(&self, scope: &Scope, id: &str) -> StoreResult<bool> {
        let plan = Plan::one(Stmt::DeleteTestClock, in_scope(id, scope));
        Ok(self.write(plan).await? == 1)
    }

    async fn get_webhook_endpoint(
        &self,
        scope: &Scope,
        id: &str,
    ) -> StoreResult<Option<WebhookEndpoint>> {
        let read = Read::point(B::DIALECT, Stmt::GetWebhookEndpoint, in_scope(id, scope));
        first(self, read, doc).await
    }

    async fn list_webhook_endpoints(
        &self,
        scope: &Scope,
        page_request: &PageRequest,
    ) -> StoreResult<Page<WebhookEndpoint>> {
        let narrow = |q: &mut Query| q.text(" AND NOT deleted");
        let table = Table::WebhookEndpoints;
        page(
            self,
            table,
            scope,
            page_request,
            narrow,
            |e: &WebhookEndpoint| &e.id,
        )
        .await
    }

    async fn delete_webhook_endpoint(&self, scope: &Scope, id: &str) -> StoreResult<bool> {
        // Its subscriptions and pending deliveries go with it: the later steps touch only an
        // endpoint of this scope that is deleted, so they do nothing when the first did nothing.
        let mut plan = Plan::one(Stmt::DeleteWebhookEndpoint, in_scope(id, scope));
        plan.push(Stmt::DeletedEndpointEvents, in_scope(id, scope));
        plan.push(Stmt::CancelDeletedEndpointDeliveries, in_scope(id, scope));
        Ok(self.write(plan).await? == 1)
    }

    async fn get_webhook_endpoint_unscoped(
        &self,
        id: &str,
    ) -> StoreResult<Option<WebhookEndpoint>> {
        let read = Read::point(B::DIALECT, Stmt::GetWebhookEndpointUnscoped, values![id]);
        first(self, read, doc).await
    }

    async fn claim_deliveries(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<DeliveryClaim>> {
        let params = values![lease_until, now, limit];
        let read = Read::claim(B::DIALECT, Stmt::ClaimDeliveries, params);
        let mut claims = self.read(read, rows::delivery_claim).await?;
        claims.sort_by_key(|c| c.seq);
        Ok(claims)
    }

    async fn finish_delivery(&self, a: &DeliveryAttempt) -> StoreResult<()> {
        let claim = &a.claim;
        if a.next == DeliveryNext::Canceled {
            let plan = Plan::one(Stmt::CancelDelivery, values![claim.seq]);
            return self.write(plan).await.map(drop);
        }
        let attempts = i64::from(claim.attempts) + 1;
        let next_at = a.next.next_attempt_at();
        let mut plan = Plan::one(
            Stmt::FinishDelivery,
            values![
                Value::Word(a.next.status()),
                attempts,
                next_at,
                a.attempted_at,
                claim.seq,
                claim.attempts
            ],
        );
        plan.push(
            Stmt::InsertAttempt,
            values![
                claim.seq,
                &claim.event_id,
                &claim.endpoint_id,
                attempts,
                a.attempted_at,
                a.status_code,
                a.latency_ms,
                a.error.as_deref(),
                next_at
            ],
        );
        if a.disable_endpoint {
            plan.push(Stmt::DisableWebhookEndpoint, values![&claim.endpoint_id]);
            plan.push(Stmt::CancelEndpointDeliveries, values![&claim.endpoint_id]);
        }
        self.write(plan).await.map(drop)
    }

    async fn list_deliveries(
        &self,
        scope: &Scope,
        event_id: &str,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        let read = Read::scan(B::DIALECT, Stmt::ListDeliveries, in_scope(event_id, scope));
        let mut records: Vec<DeliveryRecord> = Vec::new();
        // A delivery's rows come together, one per attempt.
        for (delivery, attempt) in self.read(read, rows::delivery_and_attempt).await? {
            match records.last_mut() {
                Some(last) if last.endpoint_id == delivery.endpoint_id => last.log.extend(attempt),
                _ => records.push(DeliveryRecord {
                    log: attempt.into_iter().collect(),
                    ..delivery
                }),
            }
        }
        Ok(records)
    }

    async fn resend_event(&self, event: &Event, now: Timestamp) -> StoreResult<u64> {
        let plan = Plan::one(Stmt::Resend, rows::fan_out_params(event, now));
        self.write(plan).await
    }

    async fn purge_idempotency(&self, before: Timestamp, limit: u32) -> StoreResult<u64> {
        let plan = Plan::one(Stmt::PurgeIdempotency, values![before, limit]);
        self.write(plan).await
    }

    async fn commit(&self, unit: UnitOfWork) -> StoreResult<()> {
        if unit.is_empty() {
            return Ok(());
        }
        // Documents are serialised here, on the caller's thread, before the plan reaches the
        // backend.
        let plan = Plan::of_unit(&unit)?;
        self.write(plan).await.map(drop)
    }
    async fn money_at_risk(&self, scope: &Scope, now: Timestamp) -> StoreResult<Vec<AtRisk>> {
        let params = values![&scope.merchant_id, scope.livemode, now];
        let read = Read::scan(B::DIALECT, Stmt::DashboardMoneyAtRisk, params);
        Ok(self
            .read(read, dashboard::at_risk)
            .await?
            .into_iter()
            .flatten()
            .collect())
    }

    async fn daily_totals(
        &self,
        scope: &Scope,
        from: Timestamp,
        to: Timestamp,
    ) -> StoreResult<Vec<DailyTotals>> {
        let [t1, t2, t3, t4] = dashboard::DAILY_TYPES;
        let params = values![&scope.merchant_id, scope.livemode, from, to, t1, t2, t3, t4];
        let read = Read::scan(B::DIALECT, Stmt::DashboardDailyEvents, params);
        Ok(dashboard::fold_daily(
            self.read(read, dashboard::event_group).await?,
        ))
    }

    async fn endpoint_deliveries(
        &self,
        scope: &Scope,
        endpoint_id: &str,
        limit: u32,
    ) -> StoreResult<Vec<EndpointDelivery>> {
        let params = values![endpoint_id, &scope.merchant_id, scope.livemode, limit];
        let read = Read::scan(B::DIALECT, Stmt::DashboardEndpointLog, params);
        let rows = self.read(read, dashboard::log_row).await?;
        Ok(dashboard::endpoint_log(rows, endpoint_id))
    }

    async fn list_api_keys(&self, merchant_id: &str, livemode: bool) -> StoreResult<Vec<ApiKey>> {
        let read = Read::scan(
            B::DIALECT,
            Stmt::ListApiKeys,
            values![merchant_id, livemode],
        );
        self.read(read, rows::api_key).await
    }

    async fn get_user(&self, id: &str) -> StoreResult<Option<User>> {
        first(
            self,
            Read::point(B::DIALECT, Stmt::GetUser, values![id]),
            doc,
        )
        .await
    }

    async fn get_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let read = Read::point(B::DIALECT, Stmt::GetUserByEmail, values![email]);
        first(self, read, doc).await
    }

    async fn list_users(&self, merchant_id: &str) -> StoreResult<Vec<User>> {
        let read = Read::scan(B::DIALECT, Stmt::ListUsers, values![merchant_id]);
        self.read(read, doc).await
    }

    async fn insert_session(&self, session: &Session) -> StoreResult<()> {
        let plan = Plan::one(Stmt::InsertSession, dashboard::session_params(session));
        self.write(plan).await.map(drop)
    }

    async fn get_session(&self, token_hash: &str) -> StoreResult<Option<Session>> {
        let read = Read::point(B::DIALECT, Stmt::GetSession, values![token_hash]);
        first(self, read, dashboard::session).await
    }

    async fn touch_session(&self, token_hash: &str, at: Timestamp) -> StoreResult<()> {
        let plan = Plan::one(Stmt::TouchSession, values![token_hash, at]);
        self.write(plan).await.map(drop)
    }

    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        let plan = Plan::one(Stmt::DeleteSession, values![token_hash]);
        self.write(plan).await.map(drop)
    }

    async fn purge_sessions(
        &self,
        seen_before: Timestamp,
        created_before: Timestamp,
        limit: u32,
    ) -> StoreResult<u64> {
        let plan = Plan::one(
            Stmt::PurgeSessions,
            values![seen_before, created_before, limit],
        );
        self.write(plan).await
    }
}

/// Narrows an intent list by the dashboard's search: currency and amount range (read from the
/// document), an exact reference, a test clock.
fn narrow_search(q: &mut Query, search: &IntentSearch) {
    let json = q.dialect().json_doc();
    if let Some(currency) = search.currency {
        let clause = format!(" AND {json} -> 'amount' ->> 'currency' = $");
        q.push(&clause, currency.to_string());
    }
    let amount = format!("CAST({json} -> 'amount' ->> 'amount' AS BIGINT)");
    if let Some(min) = search.amount_min {
        q.push(&format!(" AND {amount} >= $"), min);
    }
    if let Some(max) = search.amount_max {
        q.push(&format!(" AND {amount} <= $"), max);
    }
    if let Some(reference) = &search.reference {
        q.push(&format!(" AND {json} ->> 'reference' = $"), reference);
    }
    if let Some(clock) = &search.test_clock {
        q.push(" AND test_clock_id = $", clock);
    }
}
