//! Work that falls due by itself: expiry, the expiring-soon warning, scheduled captures and voids.
//!
//! The expiry worker calls [`Holdfast::run_due_once`]: it claims a bounded batch of due intents
//! (a lease keeps other processes off them) and performs what is due on each, exactly as the API
//! would: same domain functions, same events, one commit per step with a version check. Whatever
//! races it (a capture at the deadline, another node) either wins the version check or loses and
//! sees the new state, so each hold is resolved once.
//!
//! Intents on a test clock are not the worker's: a test clock's advance runs their due work, in
//! deadline order, with the clock stopped at each due moment in turn.

use std::sync::Arc;

use holdfast_domain::intent::{
    self, Capture, Due, PaymentIntent, SCHEDULED_REFERENCE, ScheduleRequest, ScheduledKind,
};
use holdfast_domain::{Money, Scope, Timestamp};
use holdfast_store::{StoreError, UnitOfWork};

use crate::{Decision, Holdfast, RequestCtx, ServiceError};

/// How long a claimed intent stays with the worker that claimed it.
pub const LEASE_SECONDS: i64 = 60;
/// Due steps taken on one intent per visit; a visit is bounded even if something loops.
const STEPS_PER_INTENT_MAX: usize = 8;
/// Intents a worker handles at once; each is a separate commit, so SQLite's writer batches them.
const CONCURRENCY_MAX: usize = 32;

/// What one pass of the worker did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// This many intents were claimed and visited.
    Worked(usize),
    /// Nothing was due.
    Idle,
}

impl Holdfast {
    /// One pass of the deadline worker: claims up to `batch_max` due intents and performs what
    /// is due on each.
    pub async fn run_due_once(self: &Arc<Self>, batch_max: u32) -> Result<Outcome, ServiceError> {
        let now = self.now();
        let claimed = self
            .store
            .claim_due(now, now.plus_seconds(LEASE_SECONDS), batch_max)
            .await?;
        if claimed.is_empty() {
            return Ok(Outcome::Idle);
        }
        let count = claimed.len();
        let mut tasks = tokio::task::JoinSet::new();
        for intent in claimed {
            while tasks.len() >= CONCURRENCY_MAX {
                tasks.join_next().await;
            }
            let app = Arc::clone(self);
            tasks.spawn(async move {
                if let Err(e) = app.perform_due(&intent.scope, &intent.id, None).await {
                    tracing::warn!(payment_intent = %intent.id, error = %e, "due work failed; retried after the lease");
                }
            });
        }
        while tasks.join_next().await.is_some() {}
        Ok(Outcome::Worked(count))
    }

    /// Performs everything due on one intent, earliest first, at `at` (a test clock's step) or
    /// at the intent's own time.
    pub(crate) async fn perform_due(
        &self,
        scope: &Scope,
        id: &str,
        at: Option<Timestamp>,
    ) -> Result<(), ServiceError> {
        let ctx = RequestCtx {
            scope: scope.clone(),
            request_id: None,
            idempotency: None,
            actor: None,
        };
        for _ in 0..STEPS_PER_INTENT_MAX {
            let current = self.load_intent(scope, id).await?;
            let now = match at {
                Some(at) => at,
                None => self.time_of(&current).await?,
            };
            let Some((_, due)) = current.due(now) else {
                return Ok(());
            };
            let unit = match due {
                Due::Expiry => match self.apply(&ctx, now, |c| intent::apply_expiry(&current, c)) {
                    None => None,
                    Some(t) => {
                        let mut unit = self.unit(&ctx, &t);
                        if let Some(order) = self.order_side_of_expiry(&ctx, &t.intent, now).await?
                        {
                            unit.events.extend(self.order_events(&ctx, &order));
                            unit.orders.push(order.order);
                        }
                        Some(unit)
                    }
                },
                Due::ExpiryWarning => {
                    intent::apply_expiry_warning(&current, now).map(|t| self.unit(&ctx, &t))
                }
                Due::Scheduled(action) => Some(
                    self.scheduled(&ctx, &current, action.kind, action.amount, now)
                        .await?,
                ),
            };
            let Some(unit) = unit else {
                // `due` and the apply functions agree on what can run; if they ever do not,
                // say so rather than spin.
                tracing::error!(payment_intent = %id, "due work was offered but could not be applied");
                return Ok(());
            };
            match self.store.commit(unit).await {
                Ok(()) | Err(StoreError::Conflict) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Runs a scheduled capture or void as the API would. If the domain refuses it (the intent
    /// moved on), the schedule is cleared instead; if the processor fails, the error stands and
    /// the schedule stays for the next visit.
    async fn scheduled(
        &self,
        ctx: &RequestCtx,
        current: &PaymentIntent,
        kind: ScheduledKind,
        amount: Option<Money>,
        now: Timestamp,
    ) -> Result<UnitOfWork, ServiceError> {
        let capture = Capture::Scheduled(amount);
        let reference = Some(SCHEDULED_REFERENCE);
        let order = match &current.order_id {
            Some(order_id) => Some(self.load_order(&ctx.scope, order_id).await?),
            None => None,
        };
        let unit: Result<UnitOfWork, ServiceError> = match (kind, order) {
            (ScheduledKind::Capture, Some(order)) => self
                .capture_on_order(ctx, order, &current.id, capture)
                .await
                .map(|d| d.unit),
            (ScheduledKind::Capture, None) => {
                self.capture(ctx, current, capture).await.map(|d| d.unit)
            }
            (ScheduledKind::Void, Some(order)) => self
                .void_on_order(ctx, order, &current.id, reference)
                .await
                .map(|d| d.unit),
            (ScheduledKind::Void, None) => self
                .cancel_loaded(ctx, current, None, reference)
                .await
                .map(|d| d.unit),
        };
        match unit {
            Ok(unit) => Ok(unit),
            Err(ServiceError::Rejected(rejection)) => {
                tracing::info!(payment_intent = %current.id, code = %rejection.code, "scheduled action no longer applies; cleared");
                Ok(intent::clear_scheduled_action(current, now)
                    .map(|t| self.unit(ctx, &t))
                    .unwrap_or_default())
            }
            Err(e) => Err(e),
        }
    }

    /// `POST /v1/payment-intents/{id}/scheduled-action`.
    pub async fn set_scheduled_action(
        &self,
        ctx: &RequestCtx,
        id: &str,
        req: ScheduleRequest,
    ) -> Result<Decision<PaymentIntent>, ServiceError> {
        let current = self.load_intent(&ctx.scope, id).await?;
        let now = self.time_of(&current).await?;
        let transition = intent::set_scheduled_action(&current, &req, now)?;
        let unit = self.unit(ctx, &transition);
        Ok(Decision::answer(unit, transition.intent))
    }

    /// `DELETE /v1/payment-intents/{id}/scheduled-action`.
    pub async fn clear_scheduled_action(
        &self,
        ctx: &RequestCtx,
        id: &str,
    ) -> Result<Decision<PaymentIntent>, ServiceError> {
        let current = self.load_intent(&ctx.scope, id).await?;
        let now = self.time_of(&current).await?;
        Ok(match intent::clear_scheduled_action(&current, now) {
            Some(transition) => {
                let unit = self.unit(ctx, &transition);
                Decision::answer(unit, transition.intent)
            }
            None => Decision::answer(UnitOfWork::default(), current.as_of(now)),
        })
    }
}
