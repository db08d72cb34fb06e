//! Refunds: reserve, ask the processor, resolve.
//!
//! A refund is committed twice. First it reserves its amount on the intent as a pending refund,
//! with a version check, so that racing refunds can never add up past the captured amount. Then,
//! after the processor answered (keyed by the refund's id, so a repeated call is the same call), it
//! becomes succeeded or failed, a failure giving the reservation back. A retry carrying the same
//! `Idempotency-Key` finds the refund it created and resumes it rather than refunding twice; a
//! refund left pending by a crash or a silent processor is resolved by the worker.

use holdfast_domain::event::{Event, EventObject};
use holdfast_domain::order;
use holdfast_domain::refund::{self, Refund, RefundRequest, RefundStatus};
use holdfast_domain::{ErrorCode, Scope};
use holdfast_processor::{RefundCall, to_domain};
use holdfast_store::{Page, RefundFilter, StoreError, UnitOfWork};

use crate::ids::new_id;
use crate::{Decision, Holdfast, RequestCtx, ServiceError};

/// Attempts at a refund commit before giving up (the refund then stays as it is).
const COMMIT_ATTEMPTS_MAX: u32 = 32;
/// A pending refund untouched this long is the worker's to resolve.
pub const STALE_PENDING_SECONDS: i64 = 60;

impl Holdfast {
    /// `POST /v1/refunds`. Answers with the refund as it stands once the processor answered:
    /// succeeded or failed, or pending if the processor did not answer (the worker finishes it).
    pub async fn create_refund(
        &self,
        ctx: &RequestCtx,
        payment_intent_id: &str,
        req: RefundRequest,
    ) -> Result<Decision<Refund>, ServiceError> {
        // Refunds of one intent take turns in this process; across processes the reservation's
        // version check decides, and losers retry with a little jittered backoff.
        let _turn = self.stripe(payment_intent_id).lock().await;
        let key = ctx.idempotency.as_ref().map(|i| i.key.clone());
        let mut reserved = None;
        for attempt in 0..COMMIT_ATTEMPTS_MAX {
            // Looked up on every try: a twin request on another node may have just created it.
            if let Some(key) = &key
                && let Some(existing) = self
                    .store
                    .refund_by_idempotency_key(&ctx.scope, key)
                    .await?
            {
                let refund = self.finish_refund(ctx, existing).await?;
                return Ok(Decision::answer(UnitOfWork::default(), refund));
            }
            if attempt > 0 {
                backoff(attempt).await;
            }
            let intent = self
                .load_intent(&ctx.scope, payment_intent_id)
                .await
                .map_err(|e| e.with_param("payment_intent_id"))?;
            let amount = refund::decide_refund(&intent, &req)?;
            let now = self.time_of(&intent).await?;
            let (refund, next, kinds) = self.apply(ctx, now, |c| {
                refund::reserve_refund(&intent, new_id("re"), amount, &req, key.clone(), c)
            });
            let unit = UnitOfWork {
                intents: vec![next],
                events: self.refund_events(ctx, &refund, &kinds),
                refunds: vec![refund.clone()],
                ..UnitOfWork::default()
            };
            match self.store.commit(unit).await {
                Ok(()) => {
                    reserved = Some(refund);
                    break;
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        let Some(refund) = reserved else {
            return Err(contended());
        };
        let refund = self.finish_refund(ctx, refund).await?;
        Ok(Decision::answer(UnitOfWork::default(), refund))
    }

    /// Asks the processor about a pending refund and records its answer; a refund no longer
    /// pending is returned as it is.
    pub(crate) async fn finish_refund(
        &self,
        ctx: &RequestCtx,
        refund: Refund,
    ) -> Result<Refund, ServiceError> {
        if refund.status != RefundStatus::Pending {
            return Ok(refund);
        }
        let processor = self.processor(&refund.scope)?;
        for attempt in 0..COMMIT_ATTEMPTS_MAX {
            if attempt > 0 {
                backoff(attempt).await;
            }
            let current = self.load_refund(&refund.scope, &refund.id).await?;
            if current.status != RefundStatus::Pending {
                return Ok(current);
            }
            let intent = self
                .load_intent(&refund.scope, &current.payment_intent_id)
                .await?;
            let outcome = match processor
                .refund(RefundCall {
                    idempotency_key: current.id.clone(),
                    reference: intent.processor_ref.clone().unwrap_or_default(),
                    amount: current.amount,
                })
                .await
            {
                Ok(outcome) => match to_domain::refund_outcome(outcome) {
                    Some(outcome) => outcome,
                    None => return Ok(current),
                },
                Err(e) => {
                    tracing::warn!(refund = %current.id, error = %e, "processor did not answer a refund; it stays pending");
                    return Ok(current);
                }
            };
            let now = self.time_of(&intent).await?;
            let resolved = self.apply(ctx, now, |c| {
                refund::resolve_refund(&intent, &current, &outcome, c)
            });
            let Some((next_refund, next_intent, kinds)) = resolved else {
                return Ok(current);
            };
            let mut unit = UnitOfWork {
                events: self.refund_events(ctx, &next_refund, &kinds),
                intents: vec![next_intent.clone()],
                refunds: vec![next_refund.clone()],
                ..UnitOfWork::default()
            };
            if next_refund.status == RefundStatus::Succeeded
                && let Some(order_id) = &next_intent.order_id
            {
                let order = self.load_order(&refund.scope, order_id).await?;
                let t =
                    order::apply_refund(&order, &next_intent.id, next_refund.amount.amount, now);
                unit.events.extend(self.order_events(ctx, &t));
                unit.orders.push(t.order);
            }
            match self.store.commit(unit).await {
                Ok(()) => return Ok(next_refund),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        // The processor answered but the answer could not be recorded for contention: the refund
        // stays pending and the worker records it (the processor call is keyed by the refund id).
        self.load_refund(&refund.scope, &refund.id).await
    }

    /// One pass over refunds left pending by a crash or a silent processor.
    pub async fn resolve_stale_refunds_once(&self, batch_max: u32) -> Result<usize, ServiceError> {
        let before = self.now().plus_seconds(-STALE_PENDING_SECONDS);
        let stale = self.store.stale_pending_refunds(before, batch_max).await?;
        let count = stale.len();
        for refund in stale {
            let ctx = RequestCtx {
                scope: refund.scope.clone(),
                request_id: None,
                idempotency: None,
                actor: None,
            };
            if let Err(e) = self.finish_refund(&ctx, refund).await {
                tracing::warn!(error = %e, "resolving a pending refund failed");
            }
        }
        Ok(count)
    }

    pub async fn get_refund(&self, scope: &Scope, id: &str) -> Result<Refund, ServiceError> {
        self.load_refund(scope, id).await
    }

    pub async fn list_refunds(
        &self,
        scope: &Scope,
        filter: RefundFilter,
    ) -> Result<Page<Refund>, ServiceError> {
        Ok(self.store.list_refunds(scope, &filter).await?)
    }

    async fn load_refund(&self, scope: &Scope, id: &str) -> Result<Refund, ServiceError> {
        self.store
            .get_refund(scope, id)
            .await?
            .ok_or_else(|| ServiceError::not_found(ErrorCode::RefundNotFound, "refund"))
    }

    fn refund_events(
        &self,
        ctx: &RequestCtx,
        refund: &Refund,
        kinds: &[holdfast_domain::EventType],
    ) -> Vec<Event> {
        kinds
            .iter()
            .map(|kind| Event {
                id: new_id("evt"),
                scope: refund.scope.clone(),
                kind: *kind,
                created_at: refund.updated_at,
                request_id: ctx.request_id.clone(),
                object: EventObject::Refund(Box::new(refund.clone())),
            })
            .collect()
    }
}

fn contended() -> ServiceError {
    ServiceError::Contended(
        "too much contention on this payment intent; retry with the same Idempotency-Key".into(),
    )
}

/// Waits a little before another try at a contended commit: 1 ms doubling to 64 ms, jittered.
async fn backoff(attempt: u32) {
    use rand::Rng;
    let ceiling = 1u64 << attempt.min(6);
    let millis = rand::rng().random_range(1..=ceiling);
    tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
}
