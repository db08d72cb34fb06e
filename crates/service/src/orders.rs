//! Orders and the intents that pay them: create, edit, cancel, pay (one card or split tender),
//! capture and void through the order.
//!
//! Every step that moves money on an order-linked intent commits the intent's transition and the
//! order's in one unit of work, with a version check on both, so the order's authorization and
//! settlement amounts never disagree with its intents.

use holdfast_domain::event::{Event, EventObject};
use holdfast_domain::intent::{
    Capture, CaptureRequest, PaymentIntent, RawMoney, Status, Transition,
};
use holdfast_domain::order::{
    self, CreateOrder, Order, OrderCapture, OrderTransition, PayShare, PayStep, UpdateOrder,
};
use holdfast_domain::{ErrorCode, Scope, Timestamp};
use holdfast_processor::{RefundCall, VoidCall, to_domain};
use holdfast_store::{OrderFilter, Page, StoreError, UnitOfWork};

pub use holdfast_domain::order::PayCommand;

use crate::ids::new_id;
use crate::intents::{Call, processor_key};
use crate::{Decision, Holdfast, RequestCtx, ServiceError};

/// Tries of one pay call that lost a race to another change of the order.
const PAY_ATTEMPTS_MAX: u32 = 8;

impl Holdfast {
    pub async fn create_order(
        &self,
        ctx: &RequestCtx,
        req: CreateOrder,
    ) -> Result<Decision<Order>, ServiceError> {
        let order = order::create_order(new_id("ord"), ctx.scope.clone(), req, self.now())?;
        let unit = UnitOfWork {
            orders: vec![order.clone()],
            ..UnitOfWork::default()
        };
        Ok(Decision::answer(unit, order))
    }

    /// The order as it stands now: a hold past its deadline no longer counts, even before the
    /// worker has recorded its expiry (as an intent reads as expired).
    pub async fn get_order(&self, scope: &Scope, id: &str) -> Result<Order, ServiceError> {
        let order = self.load_order(scope, id).await?;
        self.order_as_of_now(order).await
    }

    pub async fn list_orders(
        &self,
        scope: &Scope,
        filter: OrderFilter,
    ) -> Result<Page<Order>, ServiceError> {
        let mut page = self.store.list_orders(scope, &filter).await?;
        for order in &mut page.data {
            *order = self.order_as_of_now(order.clone()).await?;
        }
        Ok(page)
    }

    /// The order as stored.
    pub(crate) async fn load_order(&self, scope: &Scope, id: &str) -> Result<Order, ServiceError> {
        self.store
            .get_order(scope, id)
            .await?
            .ok_or_else(|| ServiceError::not_found(ErrorCode::OrderNotFound, "order"))
    }

    /// Drops from an order's view the holds whose intents are past their deadline at their own
    /// time (wall clock or test clock). Only orders with holds cost extra reads.
    async fn order_as_of_now(&self, mut order: Order) -> Result<Order, ServiceError> {
        let mut live = Vec::with_capacity(order.holds.len());
        for hold in std::mem::take(&mut order.holds) {
            let intent = self
                .load_intent(&order.scope, &hold.payment_intent_id)
                .await?;
            let now = self.time_of(&intent).await?;
            if !intent.is_due_for_expiry(now) {
                live.push(hold);
            }
        }
        order.holds = live;
        Ok(order)
    }

    /// Loads an order after recording the expiry of any of its holds that is past its deadline,
    /// so every rule below sees the order as it stands now.
    async fn load_order_settled(&self, scope: &Scope, id: &str) -> Result<Order, ServiceError> {
        let order = self.load_order(scope, id).await?;
        self.settle(order).await
    }

    /// The order an id in a request body names, settled as [`Self::load_order_settled`] does;
    /// `None` if there is none (the domain says what that answers, and when).
    pub(crate) async fn find_order_settled(
        &self,
        scope: &Scope,
        id: &str,
    ) -> Result<Option<Order>, ServiceError> {
        match self.store.get_order(scope, id).await? {
            Some(order) => self.settle(order).await.map(Some),
            None => Ok(None),
        }
    }

    /// Records the expiry of the order's holds past their deadline and reads the order again.
    async fn settle(&self, order: Order) -> Result<Order, ServiceError> {
        let mut expired_any = false;
        for hold in &order.holds {
            let intent = self
                .load_intent(&order.scope, &hold.payment_intent_id)
                .await?;
            let now = self.time_of(&intent).await?;
            if intent.is_due_for_expiry(now) {
                self.perform_due(&order.scope, &intent.id, None).await?;
                expired_any = true;
            }
        }
        if expired_any {
            return self.load_order(&order.scope, &order.id).await;
        }
        Ok(order)
    }

    pub async fn update_order(
        &self,
        ctx: &RequestCtx,
        id: &str,
        req: UpdateOrder,
    ) -> Result<Decision<Order>, ServiceError> {
        let current = self.load_order_settled(&ctx.scope, id).await?;
        let next = order::update_order(&current, req, self.now())?;
        Ok(self.order_decision(
            ctx,
            OrderTransition {
                order: next,
                events: Vec::new(),
            },
        ))
    }

    pub async fn cancel_order(
        &self,
        ctx: &RequestCtx,
        id: &str,
    ) -> Result<Decision<Order>, ServiceError> {
        let current = self.load_order_settled(&ctx.scope, id).await?;
        let next = order::cancel_order(&current, self.now())?;
        Ok(self.order_decision(
            ctx,
            OrderTransition {
                order: next,
                events: Vec::new(),
            },
        ))
    }

    /// Places the holds (manual capture) or charges (automatic) for every intent of the call,
    /// or none: a decline voids the holds already placed in this call and changes no order.
    pub async fn pay_order(
        &self,
        ctx: &RequestCtx,
        id: &str,
        cmd: PayCommand,
    ) -> Result<Decision<Order>, ServiceError> {
        for attempt in 0..PAY_ATTEMPTS_MAX {
            if let Some(decision) = self.pay_order_once(ctx, id, &cmd, attempt).await? {
                return Ok(decision);
            }
        }
        Err(ServiceError::Contended(
            "the order keeps changing while it is being paid; nothing is held, retry".into(),
        ))
    }

    /// One try at a pay call; `None` when it lost a race and released what it placed, so the
    /// call should be decided again on fresh state.
    async fn pay_order_once(
        &self,
        ctx: &RequestCtx,
        id: &str,
        cmd: &PayCommand,
        attempt: u32,
    ) -> Result<Option<Decision<Order>>, ServiceError> {
        // An unknown order answers first.
        self.load_order(&ctx.scope, id).await?;
        // The intents named, each once, up to the first that does not exist: the domain says
        // what a missing or repeated one answers.
        let mut intents: Vec<PaymentIntent> = Vec::with_capacity(cmd.payment_intent_ids.len());
        for intent_id in &cmd.payment_intent_ids {
            if intents.iter().any(|i| &i.id == intent_id) {
                continue;
            }
            match self.store.get_intent(&ctx.scope, intent_id).await? {
                Some(intent) => intents.push(intent),
                None => break,
            }
        }
        // The order is read after its intents: a pay that won meanwhile then shows as the order's
        // hold (PAYMENT_ATTEMPT_IN_PROGRESS), never as an intent held behind an order without one.
        let current = self.load_order_settled(&ctx.scope, id).await?;
        let shares = order::decide_pay(&current, cmd, &intents)?;
        // Live mode without a processor refuses before anything is authorized.
        self.processor(&ctx.scope)?;

        let mut authorized: Vec<Transition> = Vec::with_capacity(shares.len());
        for share in &shares {
            let now = self.time_of(&share.intent).await?;
            let step = self
                .authorize(ctx, &share.intent, &share.source, now, attempt)
                .await
                .and_then(|t| Ok((order::judge_pay_step(share, &t.intent)?, t)));
            let failure = match step {
                Ok((PayStep::Placed, t)) => {
                    authorized.push(t);
                    continue;
                }
                Ok((PayStep::Declined, t)) => Ok(t),
                Err(e) => Err(e),
            };
            // All or nothing: release what this call already placed.
            self.roll_back_pay(ctx, &shares, &authorized, attempt).await;
            return match failure {
                // The decline is recorded on its intent; the order does not change.
                Ok(declined) => Ok(Some(self.decision(ctx, declined).map_value(|_| current))),
                Err(e) => Err(e),
            };
        }

        let now = self.now();
        let after: Vec<PaymentIntent> = authorized.iter().map(|t| t.intent.clone()).collect();
        let order_transition = order::apply_pay(&current, &after, now);
        let mut unit = UnitOfWork::default();
        for t in &authorized {
            unit.events.extend(self.events(ctx, t));
            unit.intents.push(t.intent.clone());
        }
        unit.events
            .extend(self.order_events(ctx, &order_transition));
        unit.orders.push(order_transition.order.clone());
        // Committed here rather than by the caller: if another change to the order or its intents
        // wins the race, what this call placed at the processor must be released.
        match self.store.commit(unit).await {
            Ok(()) => Ok(Some(Decision::answer(
                UnitOfWork::default(),
                order_transition.order,
            ))),
            Err(StoreError::Conflict) => {
                self.roll_back_pay(ctx, &shares, &authorized, attempt).await;
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Releases at the processor what a pay call placed before it failed: holds are voided,
    /// automatic charges refunded, each keyed by this request's own authorization.
    async fn roll_back_pay(
        &self,
        ctx: &RequestCtx,
        shares: &[PayShare],
        placed: &[Transition],
        attempt: u32,
    ) {
        let Ok(processor) = self.processor(&ctx.scope) else {
            return;
        };
        for t in placed {
            let Some(share) = shares.iter().find(|s| s.intent.id == t.intent.id) else {
                continue;
            };
            let request_id = ctx.request_id.as_deref();
            let key = processor_key(
                &share.intent,
                Call::RollBack {
                    request_id,
                    attempt,
                },
            );
            let processor_ref = t.intent.processor_ref.clone().unwrap_or_default();
            let released = if t.intent.status == Status::Succeeded {
                processor
                    .refund(RefundCall {
                        idempotency_key: key,
                        reference: processor_ref,
                        amount: t.intent.amount,
                    })
                    .await
                    .and_then(to_domain::carried_out)
                    .map(|_| ())
            } else {
                processor
                    .void(VoidCall {
                        idempotency_key: key,
                        reference: processor_ref,
                        reason: None,
                    })
                    .await
                    .and_then(to_domain::carried_out)
                    .map(|_| ())
            };
            if let Err(e) = released {
                tracing::error!(payment_intent = %t.intent.id, error = %e, "releasing a payment of a failed order pay failed");
            }
        }
    }

    /// `POST /v1/orders/{oid}/payment-intents/{pid}/capture`. Repeating a capture replays with
    /// the same amount and is refused with another.
    pub async fn capture_order_intent(
        &self,
        ctx: &RequestCtx,
        order_id: &str,
        intent_id: &str,
        amount: Option<RawMoney>,
        reference: Option<String>,
        final_capture: Option<bool>,
    ) -> Result<Decision<Order>, ServiceError> {
        let current = self.load_order_settled(&ctx.scope, order_id).await?;
        let req = CaptureRequest {
            amount,
            reference,
            metadata: Default::default(),
            final_capture,
        };
        self.capture_on_order(ctx, current, intent_id, Capture::Requested(&req))
            .await
    }

    /// Captures an order's hold on an order already loaded (the scheduler's way in).
    pub(crate) async fn capture_on_order(
        &self,
        ctx: &RequestCtx,
        current: Order,
        intent_id: &str,
        capture: Capture<'_>,
    ) -> Result<Decision<Order>, ServiceError> {
        let intent = self
            .load_order_intent(&ctx.scope, &current, intent_id)
            .await?;
        let now = self.time_of(&intent).await?;
        let amount = match order::decide_capture(&intent, capture, now)? {
            OrderCapture::Capture(amount) => amount,
            OrderCapture::Replay => {
                // The capture that won may have committed after `current` was read: answer with
                // the order as it stands now.
                let latest = self.load_order(&ctx.scope, &current.id).await?;
                return Ok(Decision::answer(UnitOfWork::default(), latest));
            }
        };
        let decision = self
            .perform_capture(ctx, &intent, amount, capture, now)
            .await?;
        let unchanged = current.clone();
        Ok(self.with_order(ctx, decision, unchanged, |after, now| {
            Some(order::apply_capture(&current, &intent, after, now))
        }))
    }

    /// `POST /v1/orders/{oid}/payment-intents/{pid}/void`: releases the hold; the order is
    /// editable and payable again.
    pub async fn void_order_intent(
        &self,
        ctx: &RequestCtx,
        order_id: &str,
        intent_id: &str,
        reference: Option<&str>,
    ) -> Result<Decision<Order>, ServiceError> {
        let current = self.load_order_settled(&ctx.scope, order_id).await?;
        self.void_on_order(ctx, current, intent_id, reference).await
    }

    /// Voids an order's hold on an order already loaded (the scheduler's way in).
    pub(crate) async fn void_on_order(
        &self,
        ctx: &RequestCtx,
        current: Order,
        intent_id: &str,
        reference: Option<&str>,
    ) -> Result<Decision<Order>, ServiceError> {
        let intent = self
            .load_order_intent(&ctx.scope, &current, intent_id)
            .await?;
        let decision = self.cancel_loaded(ctx, &intent, None, reference).await?;
        let unchanged = current.clone();
        Ok(self.with_order(ctx, decision, unchanged, |after, now| {
            order::apply_release(&current, after, false, now)
        }))
    }

    /// The order side of an order-linked intent's expiry, committed with it.
    pub(crate) async fn order_side_of_expiry(
        &self,
        ctx: &RequestCtx,
        expired: &PaymentIntent,
        now: Timestamp,
    ) -> Result<Option<OrderTransition>, ServiceError> {
        let Some(order_id) = &expired.order_id else {
            return Ok(None);
        };
        let current = self.load_order(&ctx.scope, order_id).await?;
        Ok(order::apply_release(&current, expired, true, now))
    }

    async fn load_order_intent(
        &self,
        scope: &Scope,
        order: &Order,
        intent_id: &str,
    ) -> Result<PaymentIntent, ServiceError> {
        let intent = self.load_intent(scope, intent_id).await?;
        order::check_on_order(order, &intent)?;
        Ok(intent)
    }

    /// Adds the order's side to an intent decision: the order's next state and its events, in the
    /// same unit; the answer becomes the order. An intent step with no order side (a void of an
    /// intent that never held anything) leaves the order `unchanged` and answers with it.
    fn with_order(
        &self,
        ctx: &RequestCtx,
        decision: Decision<PaymentIntent>,
        unchanged: Order,
        order_side: impl FnOnce(&PaymentIntent, Timestamp) -> Option<OrderTransition>,
    ) -> Decision<Order> {
        let Decision { mut unit, outcome } = decision;
        let outcome = outcome.map(|after| match order_side(&after, after.updated_at) {
            Some(t) => {
                unit.events.extend(self.order_events(ctx, &t));
                unit.orders.push(t.order.clone());
                t.order
            }
            None => unchanged,
        });
        Decision { unit, outcome }
    }

    pub(crate) fn order_events(&self, ctx: &RequestCtx, t: &OrderTransition) -> Vec<Event> {
        t.events
            .iter()
            .map(|(kind, detail)| Event {
                id: new_id("evt"),
                scope: ctx.scope.clone(),
                kind: *kind,
                created_at: t.order.updated_at,
                request_id: ctx.request_id.clone(),
                object: EventObject::Order {
                    order: Box::new(t.order.clone()),
                    detail: detail.clone(),
                },
            })
            .collect()
    }

    fn order_decision(&self, ctx: &RequestCtx, t: OrderTransition) -> Decision<Order> {
        let unit = UnitOfWork {
            events: self.order_events(ctx, &t),
            orders: vec![t.order.clone()],
            ..UnitOfWork::default()
        };
        Decision::answer(unit, t.order)
    }
}

impl<T> Decision<T> {
    /// Keeps the unit, answers with another value.
    pub(crate) fn map_value<U>(self, f: impl FnOnce(T) -> U) -> Decision<U> {
        Decision {
            unit: self.unit,
            outcome: self.outcome.map(f),
        }
    }
}
