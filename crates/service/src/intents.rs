//! Payment intent use cases: create, retrieve, list, confirm, authenticate, capture, cancel.
//!
//! Each mutating use case is the same four steps: load, decide (domain), call the processor if the
//! decision needs it, and hand back the unit of work to commit. Processor calls carry a key made of
//! the intent id and the operation ([`processor_key`]), so a repeated call is the same call.

use holdfast_domain::event::{Event, EventObject};
use holdfast_domain::increment::{self, IncrementRequest, IncrementResult};
use holdfast_domain::intent::{
    self, Capture, CaptureMethod, CaptureRequest, CreateRequest, Ctx, NewIntent, PaymentIntent,
    PaymentSource, Status, Transition,
};
use holdfast_domain::order;
use holdfast_domain::{ErrorCode, Money, Rejection, Scope, Timestamp};
use holdfast_processor::{
    AuthenticateCall, AuthorizationPurpose, AuthorizeCall, CaptureCall, CaptureMode, IncrementCall,
    Outcome, VoidCall, to_domain,
};
use holdfast_store::{EventFilter, IntentFilter, IntentOrder, Page, PageRequest, UnitOfWork};

pub use holdfast_domain::intent::ConfirmCommand;

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

/// `GET /v1/payment-intents`: what to list. Statuses are as of now (an overdue hold lists as
/// expired), and the service says when now is.
#[derive(Debug, Clone)]
pub struct IntentQuery {
    pub status: Option<Status>,
    pub capture_method: Option<CaptureMethod>,
    pub created_after: Option<Timestamp>,
    pub created_before: Option<Timestamp>,
    pub expires_before: Option<Timestamp>,
    pub order: IntentOrder,
    pub page: PageRequest,
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
        query: IntentQuery,
    ) -> Result<Page<PaymentIntent>, ServiceError> {
        let now = self.now();
        let filter = IntentFilter {
            status: query.status,
            capture_method: query.capture_method,
            created_after: query.created_after,
            created_before: query.created_before,
            expires_before: query.expires_before,
            order: query.order,
            now,
            page: query.page,
        };
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
        let CreateIntentCommand {
            request,
            payment_source_token,
        } = cmd;
        if let Some(customer_id) = &request.customer_id
            && self
                .store
                .get_customer(&ctx.scope, customer_id)
                .await?
                .is_none()
        {
            return Err(
                ServiceError::not_found(ErrorCode::CustomerNotFound, "customer")
                    .with_param("customer_id"),
            );
        }
        let now = self
            .time_on_clock(&ctx.scope, request.test_clock_id.as_deref(), true)
            .await?;
        let id = new_id("pi");
        let client_secret = format!("{id}_secret_{}", random_base62(24));
        let new = NewIntent {
            id,
            scope: ctx.scope.clone(),
            client_secret_hash: sha256_hex(client_secret.as_bytes()),
            has_payment_source: payment_source_token.is_some(),
            expiry_warning_lead_seconds: Some(self.settings.expiry_warning_lead_seconds),
            now,
        };
        let auto_confirm = request.auto_confirm;
        let (created, linked_order) = match request.order_id.clone() {
            None => (new.create(request)?, None),
            Some(order_id) => {
                let order = self.find_order_settled(&ctx.scope, &order_id).await?;
                let (created, linked) =
                    order::create_intent(order.as_ref(), new, request, self.now())?;
                (created, Some(linked))
            }
        };
        let mut events = self.events(ctx, &created);
        let mut intent = created.intent;
        let mut outcome = Ok(());
        if auto_confirm && let Some(token) = payment_source_token {
            let source = PaymentSource {
                token,
                payment_method_id: None,
                param: "payment_source_token".into(),
            };
            let confirmed = self.authorize(ctx, &intent, &source, now, 0).await?;
            events.extend(self.events(ctx, &confirmed));
            outcome = declined(&confirmed);
            intent = confirmed.intent;
            // Created and confirmed in one call, the intent is first stored in its confirmed state,
            // as version 1, which its confirmation's event shows. The `payment_intent.created`
            // event shows it before that, never stored: version 0, so that versions still order
            // the two snapshots.
            intent.version = 1;
            for event in &mut events {
                if let EventObject::PaymentIntent(snapshot) = &mut event.object {
                    snapshot.version = snapshot.version.saturating_sub(1);
                }
            }
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
        let saved = match &cmd.payment_method_id {
            Some(pm_id) => self.store.get_payment_method(&ctx.scope, pm_id).await?,
            None => None,
        };
        let source = intent::decide_confirm(&current, &cmd, saved.as_ref())?;
        let now = self.time_of(&current).await?;
        let transition = self.authorize(ctx, &current, &source, now, 0).await?;
        Ok(self.decision(ctx, transition))
    }

    /// Places the hold (or charges, for automatic capture) and applies the processor's answer.
    pub(crate) async fn authorize(
        &self,
        ctx: &RequestCtx,
        current: &PaymentIntent,
        source: &PaymentSource,
        now: Timestamp,
        attempt: u32,
    ) -> Result<Transition, ServiceError> {
        let processor = self.processor(&ctx.scope)?;
        let request_id = ctx.request_id.as_deref();
        let result = processor
            .authorize(AuthorizeCall {
                idempotency_key: processor_key(
                    current,
                    Call::Authorize {
                        request_id,
                        attempt,
                    },
                ),
                reference: None,
                source: match source.payment_method_id {
                    Some(_) => holdfast_processor::PaymentSource::Saved(source.token.clone()),
                    None => holdfast_processor::PaymentSource::Token(source.token.clone()),
                },
                amount: current.amount,
                capture: capture_mode(current),
                purpose: AuthorizationPurpose::Initial,
                return_url: None,
                payment_intent_id: current.id.clone(),
                now,
            })
            .await
            .and_then(|outcome| to_domain::authorization_result(outcome, now))
            .map_err(|e| ServiceError::from_card_call(e, &source.param))?;
        let payment_method_id = source.payment_method_id.clone();
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
                idempotency_key: processor_key(&current, Call::Authenticate),
                reference: current.processor_ref.clone().unwrap_or_default(),
                amount: current.amount,
                capture: capture_mode(&current),
                simulated_success: Some(succeeded),
                now,
            })
            .await
            .and_then(|outcome| to_domain::authorization_result(outcome, now))
            .map_err(ServiceError::from_payment_call)?;
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
        self.capture(ctx, &current, Capture::Requested(&req)).await
    }

    /// Captures a loaded intent: the standalone route and the scheduler.
    pub(crate) async fn capture(
        &self,
        ctx: &RequestCtx,
        current: &PaymentIntent,
        capture: Capture<'_>,
    ) -> Result<Decision<PaymentIntent>, ServiceError> {
        let now = self.time_of(current).await?;
        let amount = intent::decide_capture(current, capture, now)?;
        self.perform_capture(ctx, current, amount, capture, now)
            .await
    }

    /// Captures the `amount` decided on: the processor first, then the transition.
    pub(crate) async fn perform_capture(
        &self,
        ctx: &RequestCtx,
        current: &PaymentIntent,
        amount: Money,
        capture: Capture<'_>,
        now: Timestamp,
    ) -> Result<Decision<PaymentIntent>, ServiceError> {
        let processor = self.processor(&ctx.scope)?;
        let request_id = ctx.request_id.as_deref();
        processor
            .capture(CaptureCall {
                idempotency_key: processor_key(current, Call::Capture { request_id }),
                reference: current.processor_ref.clone().unwrap_or_default(),
                amount,
                final_capture: capture.ends_hold(current, amount),
            })
            .await
            .and_then(to_domain::carried_out)
            .map_err(ServiceError::from_payment_call)?;
        let transition = self.apply(ctx, now, |c| {
            intent::apply_capture(current, amount, capture, c)
        });
        Ok(self.decision(ctx, transition))
    }

    /// `POST /v1/payment-intents/{id}/increment-authorization`: asks the processor to raise the
    /// hold to the new total. A decline is recorded (a failed `increment` action) and answered
    /// with the decline; the hold stays as it was.
    pub async fn increment_intent(
        &self,
        ctx: &RequestCtx,
        id: &str,
        req: IncrementRequest,
    ) -> Result<Decision<PaymentIntent>, ServiceError> {
        let current = self.load_intent(&ctx.scope, id).await?;
        intent::check_standalone(&current)?;
        let now = self.time_of(&current).await?;
        let total = increment::decide_increment(&current, &req, now)?;
        let processor = self.processor(&ctx.scope)?;
        let request_id = ctx.request_id.as_deref();
        let outcome = processor
            .increment_authorization(IncrementCall {
                idempotency_key: processor_key(&current, Call::Increment { request_id }),
                reference: current.processor_ref.clone().unwrap_or_default(),
                new_total: total,
            })
            .await
            .and_then(|outcome| match outcome {
                Outcome::Declined(decline) => Ok(IncrementResult::Declined(
                    to_domain::payment_error(&decline),
                )),
                other => to_domain::carried_out(other).map(|_| IncrementResult::Approved),
            })
            .map_err(ServiceError::from_payment_call)?;
        let transition = self.apply(ctx, now, |c| {
            increment::apply_increment(&current, total, &outcome, c)
        });
        let unit = self.unit(ctx, &transition);
        let outcome = match outcome {
            IncrementResult::Approved => Ok(transition.intent),
            IncrementResult::Declined(error) => Err(ServiceError::Declined {
                intent: Box::new(transition.intent),
                error,
            }),
        };
        Ok(Decision { unit, outcome })
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
                    idempotency_key: processor_key(current, Call::Void),
                    reference: current.processor_ref.clone().unwrap_or_default(),
                    reason: to_domain::void_reason(plan.reason),
                })
                .await
                .and_then(to_domain::carried_out)
                .map_err(ServiceError::from_payment_call)?;
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
            actor: ctx.actor.as_deref(),
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
    match transition.decline() {
        Some(error) => Err(ServiceError::Declined {
            intent: Box::new(transition.intent.clone()),
            error: error.clone(),
        }),
        None => Ok(()),
    }
}

/// A processor call on an intent, as its key names it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Call<'a> {
    /// An authorization decided on the intent's current version by one request (`None`: the
    /// service's own work), the `attempt`-th within it. A request re-run after a lost race
    /// repeats the same call; an authorization that was rolled back is never replayed (a new
    /// request or attempt is a new key).
    Authorize {
        request_id: Option<&'a str>,
        attempt: u32,
    },
    /// Releasing what that authorization placed, when its pay call failed.
    RollBack {
        request_id: Option<&'a str>,
        attempt: u32,
    },
    /// Finishing the authentication the current version waits for.
    Authenticate,
    /// A capture decided by one request (`None`: the service's own work). A one-shot hold has
    /// one capture, so its key is the intent's alone; each capture of a multicapture hold is
    /// its own call, keyed by the version it was decided on and the request.
    Capture {
        request_id: Option<&'a str>,
    },
    /// An increment decided on the current version by one request: each is its own call.
    Increment {
        request_id: Option<&'a str>,
    },
    Void,
}

/// The key of a processor call: the intent and the operation (`pi_…:capture`), so that a
/// repeated call is the same call to the processor. Every call on an intent is keyed here.
pub(crate) fn processor_key(intent: &PaymentIntent, call: Call<'_>) -> String {
    match call {
        Call::Authorize {
            request_id,
            attempt,
        } => format!(
            "{}:authorize:{}:{}:{attempt}",
            intent.id,
            intent.version,
            request_id.unwrap_or("worker")
        ),
        Call::RollBack {
            request_id,
            attempt,
        } => format!(
            "{}:rollback",
            processor_key(
                intent,
                Call::Authorize {
                    request_id,
                    attempt
                }
            )
        ),
        Call::Authenticate => format!("{}:authenticate:{}", intent.id, intent.version),
        Call::Increment { request_id } => format!(
            "{}:increment:{}:{}",
            intent.id,
            intent.version,
            request_id.unwrap_or("worker")
        ),
        Call::Capture { .. } if !intent.multicapture => format!("{}:capture", intent.id),
        Call::Capture { request_id } => format!(
            "{}:capture:{}:{}",
            intent.id,
            intent.version,
            request_id.unwrap_or("worker")
        ),
        Call::Void => format!("{}:void", intent.id),
    }
}

pub(crate) fn capture_mode(intent: &PaymentIntent) -> CaptureMode {
    match intent.capture_method {
        CaptureMethod::Automatic => CaptureMode::Automatic,
        CaptureMethod::Manual => CaptureMode::Manual,
    }
}
