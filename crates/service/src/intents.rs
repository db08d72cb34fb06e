//! Payment intent use cases: create, retrieve, list, confirm, authenticate, capture, cancel.
//!
//! Each mutating use case is the same four steps: load, decide (domain), call the processor if the
//! decision needs it, and hand back the unit of work to commit. Processor calls carry a key made of
//! the intent id, the operation and the version decided on, so a repeated call is the same call.

use holdfast_domain::event::{Event, EventObject};
use holdfast_domain::intent::{
    self, CaptureRequest, CreateRequest, Ctx, PaymentIntent, RawMoney, Transition,
};
use holdfast_domain::{ErrorCode, Rejection, Scope, Timestamp};
use holdfast_processor::to_domain;
use holdfast_processor::{
    AuthenticateCall, AuthorizationPurpose, AuthorizeCall, CaptureCall, CaptureMode, PaymentSource,
    VoidCall,
};
use holdfast_store::{EventFilter, IntentFilter, Page, UnitOfWork};

use crate::ids::{new_id, random_base62, sha256_hex};
use crate::{Decision, Holdfast, RequestCtx, ServiceError};

#[derive(Debug, Clone, Default)]
pub struct CreateIntentCommand {
    pub request: CreateRequest,
    /// With `auto_confirm` (automatic capture only): the card to charge in the same call.
    pub payment_source_token: Option<String>,
}

/// A new intent and its client secret, which exists in clear only in this answer.
#[derive(Debug, Clone)]
pub struct CreatedIntent {
    pub intent: PaymentIntent,
    pub client_secret: String,
}

#[derive(Debug, Clone, Default)]
pub struct ConfirmCommand {
    pub payment_source_token: Option<String>,
    pub payment_method_id: Option<String>,
    /// The caller holds only the intent's client secret (a browser), not a secret key: it may use
    /// a saved card only if the card belongs to the intent's customer.
    pub via_client_secret: bool,
}

impl Holdfast {
    pub async fn get_intent(&self, scope: &Scope, id: &str) -> Result<PaymentIntent, ServiceError> {
        let intent = self.load_intent(scope, id).await?;
        let now = self.time_of(&intent).await?;
        Ok(intent.as_of(now))
    }

    pub async fn list_intents(
        &self,
        scope: &Scope,
        mut filter: IntentFilter,
    ) -> Result<Page<PaymentIntent>, ServiceError> {
        let now = self.now();
        filter.now = now;
        let mut page = self.store.list_intents(scope, &filter).await?;
        for intent in &mut page.data {
            let at = match intent.test_clock_id {
                Some(_) => self.time_of(intent).await?,
                None => now,
            };
            *intent = intent.as_of(at);
        }
        Ok(page)
    }

    pub async fn get_event(&self, scope: &Scope, id: &str) -> Result<Event, ServiceError> {
        self.store
            .get_event(scope, id)
            .await?
            .ok_or_else(|| ServiceError::not_found(ErrorCode::EventNotFound, "event"))
    }

    pub async fn list_events(
        &self,
        scope: &Scope,
        filter: EventFilter,
    ) -> Result<Page<Event>, ServiceError> {
        Ok(self.store.list_events(scope, &filter).await?)
    }

    pub(crate) async fn load_intent(
        &self,
        scope: &Scope,
        id: &str,
    ) -> Result<PaymentIntent, ServiceError> {
        self.store.get_intent(scope, id).await?.ok_or_else(|| {
            ServiceError::not_found(ErrorCode::PaymentIntentNotFound, "payment intent")
        })
    }

    pub async fn create_intent(
        &self,
        ctx: &RequestCtx,
        cmd: CreateIntentCommand,
    ) -> Result<Decision<CreatedIntent>, ServiceError> {
        if let Some(customer_id) = &cmd.request.customer_id
            && self
                .store
                .get_customer(&ctx.scope, customer_id)
                .await?
                .is_none()
        {
            return Err(Rejection::param(
                ErrorCode::CustomerNotFound,
                "customer_id",
                "no such customer",
            )
            .into());
        }
        let now = self
            .time_on_clock(&ctx.scope, cmd.request.test_clock_id.as_deref(), true)
            .await?;
        let id = new_id("pi");
        let mut linked_order = None;
        let mut cmd = cmd;
        if let Some(order_id) = cmd.request.order_id.clone() {
            if cmd.request.auto_confirm {
                return Err(Rejection::param(
                    ErrorCode::InvalidParameter,
                    "auto_confirm",
                    "an order-linked intent is paid through POST /v1/orders/{id}/pay",
                )
                .into());
            }
            let (order, amount) = self
                .link_new_intent(
                    &ctx.scope,
                    &order_id,
                    &id,
                    cmd.request.amount.is_some(),
                    cmd.request.capture_method.as_deref(),
                )
                .await?;
            cmd.request.amount = Some(RawMoney {
                amount: amount.amount,
                currency: amount.currency.to_string(),
            });
            linked_order = Some(order);
        }
        let client_secret = format!("{id}_secret_{}", random_base62(24));
        let auto_confirm = cmd.request.auto_confirm;
        let mut request = cmd.request;
        request.has_payment_source = cmd.payment_source_token.is_some();
        request.expiry_warning_lead_seconds = Some(self.settings.expiry_warning_lead_seconds);
        let created = intent::create(
            id,
            ctx.scope.clone(),
            sha256_hex(client_secret.as_bytes()),
            request,
            now,
        )?;
        let mut events = self.events(ctx, &created);
        let mut intent = created.intent;
        let mut outcome = Ok(());
        if auto_confirm && let Some(token) = cmd.payment_source_token {
            let confirmed = self.authorize(ctx, &intent, token, None, now, 0).await?;
            events.extend(self.events(ctx, &confirmed));
            outcome = declined(&confirmed);
            intent = confirmed.intent;
            // Created and confirmed in one call, the intent is first stored in its confirmed state.
            intent.version = 1;
        }
        let unit = UnitOfWork {
            intents: vec![intent.clone()],
            orders: linked_order.into_iter().collect(),
            events,
            ..UnitOfWork::default()
        };
        Ok(Decision {
            unit,
            outcome: outcome.map(|()| CreatedIntent {
                intent,
                client_secret,
            }),
        })
    }

    pub async fn confirm_intent(
        &self,
        ctx: &RequestCtx,
        id: &str,
        cmd: ConfirmCommand,
    ) -> Result<Decision<PaymentIntent>, ServiceError> {
        let current = self.load_intent(&ctx.scope, id).await?;
        intent::check_standalone(&current)?;
        let now = self.time_of(&current).await?;
        intent::check_confirm(&current)?;
        let (token, payment_method_id) = match (cmd.payment_source_token, cmd.payment_method_id) {
            (Some(token), None) => (token, None),
            (None, Some(pm_id)) => {
                let method = self
                    .store
                    .get_payment_method(&ctx.scope, &pm_id)
                    .await?
                    .ok_or_else(|| {
                        Rejection::param(
                            ErrorCode::PaymentMethodNotFound,
                            "payment_method_id",
                            "no such payment method",
                        )
                    })?;
                let belongs = current.customer_id.as_ref() == Some(&method.customer_id);
                let foreign = current.customer_id.is_some() && !belongs;
                if foreign || (cmd.via_client_secret && !belongs) {
                    return Err(Rejection::param(
                        ErrorCode::InvalidParameter,
                        "payment_method_id",
                        "this payment method belongs to another customer than the intent's",
                    )
                    .into());
                }
                (method.processor_token, Some(method.id))
            }
            (None, None) => {
                return Err(Rejection::param(
                    ErrorCode::MissingParameter,
                    "payment_source_token",
                    "confirm needs a payment_source_token or a payment_method_id",
                )
                .into());
            }
            (Some(_), Some(_)) => {
                return Err(Rejection::param(
                    ErrorCode::InvalidParameter,
                    "payment_method_id",
                    "give a payment_source_token or a payment_method_id, not both",
                )
                .into());
            }
        };
        let token_param = if payment_method_id.is_some() {
            "payment_method_id"
        } else {
            "payment_source_token"
        };
        let transition = self
            .authorize(ctx, &current, token, payment_method_id, now, 0)
            .await
            .map_err(|e| match e {
                ServiceError::Rejected(r) if r.code == ErrorCode::InvalidPaymentSourceToken => {
                    Rejection::param(r.code, token_param, r.message).into()
                }
                other => other,
            })?;
        Ok(self.decision(ctx, transition))
    }

    /// Places the hold (or charges, for automatic capture) and applies the processor's answer.
    pub(crate) async fn authorize(
        &self,
        ctx: &RequestCtx,
        current: &PaymentIntent,
        token: String,
        payment_method_id: Option<String>,
        now: Timestamp,
        attempt: u32,
    ) -> Result<Transition, ServiceError> {
        let processor = self.processor(&ctx.scope)?;
        let source = match payment_method_id {
            Some(_) => PaymentSource::Saved(token),
            None => PaymentSource::Token(token),
        };
        let result = processor
            .authorize(AuthorizeCall {
                idempotency_key: authorize_key(ctx, current, attempt),
                reference: None,
                source,
                amount: current.amount,
                capture: capture_mode(current),
                purpose: AuthorizationPurpose::Initial,
                return_url: None,
                payment_intent_id: current.id.clone(),
                now,
            })
            .await
            .and_then(|outcome| to_domain::authorization_result(outcome, now))
            .map_err(|e| ServiceError::from_processor(e, "payment_source_token"))?;
        Ok(self.apply(ctx, now, |c| {
            intent::apply_authorization(current, result, payment_method_id, c)
        }))
    }

    /// Test mode: the buyer finishes (or fails) 3D Secure.
    pub async fn authenticate_intent(
        &self,
        ctx: &RequestCtx,
        id: &str,
        succeeded: bool,
    ) -> Result<Decision<PaymentIntent>, ServiceError> {
        let current = self.load_intent(&ctx.scope, id).await?;
        let now = self.time_of(&current).await?;
        intent::check_authenticate(&current)?;
        let processor = self.processor(&ctx.scope)?;
        let result = processor
            .authentication_result(AuthenticateCall {
                idempotency_key: format!("{}:authenticate:{}", current.id, current.version),
                reference: current.processor_ref.clone().unwrap_or_default(),
                amount: current.amount,
                capture: capture_mode(&current),
                simulated_success: Some(succeeded),
                now,
            })
            .await
            .and_then(|outcome| to_domain::authorization_result(outcome, now))
            .map_err(|e| ServiceError::from_processor(e, "payment_source_token"))?;
        let transition = self.apply(ctx, now, |c| {
            intent::apply_authorization(&current, result, None, c)
        });
        // Failed authentication is an answer, not an error, for the test helper that asked for it.
        let unit = self.unit(ctx, &transition);
        Ok(Decision::answer(unit, transition.intent))
    }

    pub async fn capture_intent(
        &self,
        ctx: &RequestCtx,
        id: &str,
        req: CaptureRequest,
    ) -> Result<Decision<PaymentIntent>, ServiceError> {
        let current = self.load_intent(&ctx.scope, id).await?;
        intent::check_standalone(&current)?;
        self.capture(ctx, &current, req).await
    }

    /// Captures a loaded intent: the standalone route, the order route and the scheduler.
    pub(crate) async fn capture(
        &self,
        ctx: &RequestCtx,
        current: &PaymentIntent,
        req: CaptureRequest,
    ) -> Result<Decision<PaymentIntent>, ServiceError> {
        let now = self.time_of(current).await?;
        let amount = intent::decide_capture(current, &req, now)?;
        let processor = self.processor(&ctx.scope)?;
        processor
            .capture(CaptureCall {
                idempotency_key: format!("{}:capture", current.id),
                reference: current.processor_ref.clone().unwrap_or_default(),
                amount,
                final_capture: true,
            })
            .await
            .and_then(to_domain::carried_out)
            .map_err(|e| ServiceError::from_processor(e, "payment_source_token"))?;
        let transition = self.apply(ctx, now, |c| {
            intent::apply_capture(current, amount, &req, c)
        });
        Ok(self.decision(ctx, transition))
    }

    pub async fn cancel_intent(
        &self,
        ctx: &RequestCtx,
        id: &str,
        reason: Option<String>,
    ) -> Result<Decision<PaymentIntent>, ServiceError> {
        let current = self.load_intent(&ctx.scope, id).await?;
        intent::check_standalone(&current)?;
        self.cancel_loaded(ctx, &current, reason, None).await
    }

    /// Cancels a loaded intent: through the API (`reference` none), the order's void route, or on
    /// schedule (`reference` `scheduled`).
    pub(crate) async fn cancel_loaded(
        &self,
        ctx: &RequestCtx,
        current: &PaymentIntent,
        reason: Option<String>,
        reference: Option<&str>,
    ) -> Result<Decision<PaymentIntent>, ServiceError> {
        let now = self.time_of(current).await?;
        let mut plan = intent::decide_cancel(current, reason.as_deref(), now)?;
        plan.reference = reference.map(str::to_owned);
        if plan.voids_hold {
            let processor = self.processor(&ctx.scope)?;
            processor
                .void(VoidCall {
                    idempotency_key: format!("{}:void", current.id),
                    reference: current.processor_ref.clone().unwrap_or_default(),
                    reason: to_domain::void_reason(plan.reason),
                })
                .await
                .and_then(to_domain::carried_out)
                .map_err(|e| ServiceError::from_processor(e, "payment_source_token"))?;
        }
        let transition = self.apply(ctx, now, |c| intent::apply_cancel(current, &plan, c));
        Ok(self.decision(ctx, transition))
    }

    /// Runs a domain transition with this request's time, request id and id source.
    pub(crate) fn apply<T>(
        &self,
        ctx: &RequestCtx,
        now: Timestamp,
        f: impl FnOnce(&mut Ctx<'_>) -> T,
    ) -> T {
        let mut new_id = |prefix: &'static str| new_id(prefix);
        let mut c = Ctx {
            now,
            request_id: ctx.request_id.as_deref(),
            new_id: &mut new_id,
        };
        f(&mut c)
    }

    /// The time an intent lives on: its test clock's, or the wall clock's.
    pub(crate) async fn time_of(&self, intent: &PaymentIntent) -> Result<Timestamp, ServiceError> {
        self.time_on_clock(&intent.scope, intent.test_clock_id.as_deref(), false)
            .await
    }

    /// The time on a test clock (`None`: the wall clock). A new intent may not name a deleted
    /// clock; an existing one keeps the time its clock had when deleted.
    pub(crate) async fn time_on_clock(
        &self,
        scope: &Scope,
        clock_id: Option<&str>,
        for_new_intent: bool,
    ) -> Result<Timestamp, ServiceError> {
        let Some(clock_id) = clock_id else {
            return Ok(self.now());
        };
        if scope.livemode {
            return Err(holdfast_domain::test_clock::not_in_live_mode().into());
        }
        let clock = self
            .store
            .get_test_clock(scope, clock_id, !for_new_intent)
            .await?
            .ok_or_else(|| {
                Rejection::param(
                    ErrorCode::TestClockNotFound,
                    "test_clock",
                    "no such test clock",
                )
            })?;
        Ok(clock.frozen_time)
    }

    pub(crate) fn events(&self, ctx: &RequestCtx, transition: &Transition) -> Vec<Event> {
        transition
            .events
            .iter()
            .map(|kind| Event {
                id: new_id("evt"),
                scope: ctx.scope.clone(),
                kind: *kind,
                created_at: transition.intent.updated_at,
                request_id: ctx.request_id.clone(),
                object: EventObject::PaymentIntent(Box::new(transition.intent.clone())),
            })
            .collect()
    }

    pub(crate) fn unit(&self, ctx: &RequestCtx, transition: &Transition) -> UnitOfWork {
        UnitOfWork {
            intents: vec![transition.intent.clone()],
            events: self.events(ctx, transition),
            ..UnitOfWork::default()
        }
    }

    /// The unit for a transition, answered with the intent, or with the decline it records.
    pub(crate) fn decision(
        &self,
        ctx: &RequestCtx,
        transition: Transition,
    ) -> Decision<PaymentIntent> {
        let unit = self.unit(ctx, &transition);
        let outcome = declined(&transition).map(|()| transition.intent);
        Decision { unit, outcome }
    }
}

/// A transition that recorded a decline answers with the decline.
fn declined(transition: &Transition) -> Result<(), ServiceError> {
    match (
        &transition.intent.last_payment_error,
        transition.intent.status,
    ) {
        (Some(error), intent::Status::RequiresPaymentMethod) => Err(ServiceError::Declined {
            intent: Box::new(transition.intent.clone()),
            error: error.clone(),
        }),
        _ => Ok(()),
    }
}

fn capture_mode(intent: &PaymentIntent) -> CaptureMode {
    match intent.capture_method {
        intent::CaptureMethod::Automatic => CaptureMode::Automatic,
        intent::CaptureMethod::Manual => CaptureMode::Manual,
    }
}

/// The processor key of an authorization: the intent, the version it was decided on, the request
/// and the attempt within it. A request re-run after a lost race repeats the same call; an
/// authorization that was rolled back is never replayed (a new request or attempt is a new key).
pub(crate) fn authorize_key(ctx: &RequestCtx, intent: &PaymentIntent, attempt: u32) -> String {
    format!(
        "{}:authorize:{}:{}:{attempt}",
        intent.id,
        intent.version,
        ctx.request_id.as_deref().unwrap_or("worker")
    )
}
