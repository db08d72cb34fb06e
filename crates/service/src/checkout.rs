//! Checkout sessions: create, retrieve, list and expire (the API); the hosted page's view, pay and
//! authenticate (the buyer); and the worker's pass that records the expiry of sessions whose time
//! is up.
//!
//! A payment attempt commits the session and its intent in one unit, with a version check on
//! both: of two racing attempts (a double submit, two tabs) one commits and the other starts over,
//! finds the session complete and takes no payment.

use holdfast_domain::checkout::{
    self, CheckoutSession, CreateSession, INTENT_SOURCE, PayPlan, SessionTransition,
};
use holdfast_domain::event::{Event, EventObject};
use holdfast_domain::intent::{self, NewIntent, PaymentIntent, PaymentSource, Transition};
use holdfast_domain::{ErrorCode, Rejection, Scope};
use holdfast_processor::{AuthenticateCall, to_domain};
use holdfast_store::{Page, PageRequest, StoreError, UnitOfWork};

use crate::ids::{new_id, random_base62, sha256_hex};
use crate::intents::{Call, capture_mode, processor_key};
use crate::{Decision, Holdfast, RequestCtx, ServiceError};

/// What the hosted page shows: the session as it stands now, who is asking to be paid, and the
/// last attempt's intent (its decline, or the authentication it waits for).
#[derive(Debug, Clone)]
pub struct HostedSession {
    pub session: CheckoutSession,
    pub merchant_name: String,
    pub attempt: Option<PaymentIntent>,
}

/// A buyer's attempt, as it ended: the session (complete if paid) and the attempt's intent
/// (succeeded, declined back to `requires_payment_method`, or waiting in `requires_action`).
#[derive(Debug, Clone)]
pub struct PayResult {
    pub session: CheckoutSession,
    pub intent: PaymentIntent,
}

impl Holdfast {
    pub async fn create_checkout_session(
        &self,
        ctx: &RequestCtx,
        req: CreateSession,
    ) -> Result<Decision<CheckoutSession>, ServiceError> {
        let id = new_id("cs");
        let url = self.hosted_url(&id);
        let created = checkout::create_session(id, ctx.scope.clone(), url, req, self.now())?;
        if let Some(customer_id) = &created.session.customer_id
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
        let session = created.session.clone();
        Ok(Decision::answer(self.session_unit(ctx, &created), session))
    }

    /// The session as it stands now: open past its time reads as expired.
    pub async fn get_checkout_session(
        &self,
        scope: &Scope,
        id: &str,
    ) -> Result<CheckoutSession, ServiceError> {
        Ok(self.load_session(scope, id).await?.as_of(self.now()))
    }

    pub async fn list_checkout_sessions(
        &self,
        scope: &Scope,
        page: PageRequest,
    ) -> Result<Page<CheckoutSession>, ServiceError> {
        let now = self.now();
        let mut page = self.store.list_checkout_sessions(scope, &page).await?;
        for session in &mut page.data {
            *session = session.as_of(now);
        }
        Ok(page)
    }

    pub async fn expire_checkout_session(
        &self,
        ctx: &RequestCtx,
        id: &str,
    ) -> Result<Decision<CheckoutSession>, ServiceError> {
        let current = self.load_session(&ctx.scope, id).await?;
        let expired = checkout::decide_expire(&current, self.now())?;
        let session = expired.session.clone();
        Ok(Decision::answer(self.session_unit(ctx, &expired), session))
    }

    /// The hosted page's view of a session, found by its id alone (the id is the page's
    /// credential); `None` if there is no such session.
    pub async fn hosted_checkout_session(
        &self,
        id: &str,
    ) -> Result<Option<HostedSession>, ServiceError> {
        let Some(session) = self.store.get_checkout_session_unscoped(id).await? else {
            return Ok(None);
        };
        let merchant_name = self
            .store
            .get_merchant(&session.scope.merchant_id)
            .await?
            .map(|m| m.name)
            .unwrap_or_default();
        let attempt = match &session.attempt_intent_id {
            Some(pid) => self.store.get_intent(&session.scope, pid).await?,
            None => None,
        };
        Ok(Some(HostedSession {
            session: session.as_of(self.now()),
            merchant_name,
            attempt,
        }))
    }

    /// The processor token for a card number typed into a hosted page. Test mode takes only the
    /// sandbox's test card numbers; live mode takes no card number at all (a live processor's
    /// own form collects the card). The number is neither kept nor logged.
    pub fn hosted_card_token(&self, scope: &Scope, number: &str) -> Result<String, ServiceError> {
        if scope.livemode {
            self.processor(scope)?;
            return Err(Rejection::param(
                ErrorCode::InvalidParameter,
                "card_number",
                "live mode does not take card numbers on this page",
            )
            .into());
        }
        let digits: String = number.chars().filter(|c| !c.is_whitespace()).collect();
        holdfast_processor::test_card_token(&digits)
            .map(str::to_owned)
            .ok_or_else(|| {
                Rejection::param(
                    ErrorCode::InvalidParameter,
                    "card_number",
                    "test mode takes the sandbox's test card numbers only, such as 4242 4242 4242 4242",
                )
                .into()
            })
    }

    /// A buyer pays a session with the card `token` stands for. A decline is an answer, not an
    /// error: the attempt's intent carries it, and the buyer may try another card.
    pub async fn pay_checkout_session(
        &self,
        ctx: &RequestCtx,
        id: &str,
        token: &str,
    ) -> Result<Decision<PayResult>, ServiceError> {
        let session = self.load_session(&ctx.scope, id).await?;
        let attempt = self.session_attempt(&session).await?;
        let now = self.now();
        let source = PaymentSource {
            token: token.to_owned(),
            payment_method_id: None,
            param: "card_number".into(),
        };
        let (transition, mut events) = match (
            checkout::decide_pay(&session, attempt.as_ref(), now)?,
            attempt,
        ) {
            (PayPlan::AwaitingAuthentication, Some(intent)) => {
                let result = PayResult { session, intent };
                return Ok(Decision::answer(UnitOfWork::default(), result));
            }
            (PayPlan::Retry, Some(intent)) => {
                let transition = self.authorize(ctx, &intent, &source, now, 0).await?;
                let events = self.events(ctx, &transition);
                (transition, events)
            }
            _ => {
                let pid = new_id("pi");
                let client_secret = format!("{pid}_secret_{}", random_base62(24));
                let new = NewIntent {
                    id: pid,
                    scope: ctx.scope.clone(),
                    client_secret_hash: sha256_hex(client_secret.as_bytes()),
                    has_payment_source: true,
                    expiry_warning_lead_seconds: Some(self.settings.expiry_warning_lead_seconds),
                    now,
                };
                let created = checkout::new_intent(&session, new, INTENT_SOURCE)?;
                let mut events = self.events(ctx, &created);
                let mut confirmed = self
                    .authorize(ctx, &created.intent, &source, now, 0)
                    .await?;
                events.extend(self.events(ctx, &confirmed));
                // Created and confirmed in one step, the intent is first stored confirmed.
                confirmed.intent.version = 1;
                (confirmed, events)
            }
        };
        Ok(self.attempt_decision(ctx, &session, transition, &mut events))
    }

    /// The buyer finishes (`succeeded`) or fails the 3D Secure step of the session's attempt on
    /// the sandbox's authentication page.
    pub async fn authenticate_checkout_session(
        &self,
        ctx: &RequestCtx,
        id: &str,
        succeeded: bool,
    ) -> Result<Decision<PayResult>, ServiceError> {
        let session = self.load_session(&ctx.scope, id).await?;
        let attempt = self.session_attempt(&session).await?;
        let now = self.now();
        checkout::decide_authenticate(&session, attempt.as_ref(), now)?;
        let Some(current) = attempt else {
            return Err(ServiceError::not_found(
                ErrorCode::PaymentIntentNotFound,
                "payment intent",
            ));
        };
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
        let mut events = self.events(ctx, &transition);
        Ok(self.attempt_decision(ctx, &session, transition, &mut events))
    }

    /// One pass of the worker: records the expiry (and its `checkout_session.expired` event) of
    /// up to `limit` open sessions whose time is up. A session paid or expired meanwhile loses
    /// its version check and is left alone.
    pub async fn expire_due_checkout_sessions_once(
        &self,
        limit: u32,
    ) -> Result<usize, ServiceError> {
        let now = self.now();
        let due = self.store.due_checkout_sessions(now, limit).await?;
        let mut expired = 0;
        for session in due {
            let Some(transition) = checkout::apply_expiry(&session, now) else {
                continue;
            };
            let ctx = RequestCtx {
                scope: session.scope.clone(),
                request_id: None,
                idempotency: None,
                actor: None,
            };
            match self
                .store
                .commit(self.session_unit(&ctx, &transition))
                .await
            {
                Ok(()) => expired += 1,
                Err(StoreError::Conflict) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(expired)
    }

    async fn load_session(&self, scope: &Scope, id: &str) -> Result<CheckoutSession, ServiceError> {
        self.store
            .get_checkout_session(scope, id)
            .await?
            .ok_or_else(|| {
                ServiceError::not_found(ErrorCode::CheckoutSessionNotFound, "checkout session")
            })
    }

    async fn session_attempt(
        &self,
        session: &CheckoutSession,
    ) -> Result<Option<PaymentIntent>, ServiceError> {
        match &session.attempt_intent_id {
            Some(pid) => self.load_intent(&session.scope, pid).await.map(Some),
            None => Ok(None),
        }
    }

    /// The unit of an attempt: the intent's transition and the session's, with both events.
    fn attempt_decision(
        &self,
        ctx: &RequestCtx,
        session: &CheckoutSession,
        transition: Transition,
        events: &mut Vec<Event>,
    ) -> Decision<PayResult> {
        let moved =
            checkout::apply_attempt(session, &transition.intent, transition.intent.updated_at);
        events.extend(self.session_events(ctx, &moved));
        let unit = UnitOfWork {
            intents: vec![transition.intent.clone()],
            checkout_sessions: vec![moved.session.clone()],
            events: std::mem::take(events),
            ..UnitOfWork::default()
        };
        Decision::answer(
            unit,
            PayResult {
                session: moved.session,
                intent: transition.intent,
            },
        )
    }

    fn session_events(&self, ctx: &RequestCtx, transition: &SessionTransition) -> Vec<Event> {
        transition
            .events
            .iter()
            .map(|kind| Event {
                id: new_id("evt"),
                scope: ctx.scope.clone(),
                kind: *kind,
                created_at: transition.session.updated_at,
                request_id: ctx.request_id.clone(),
                object: EventObject::CheckoutSession(Box::new(transition.session.clone())),
            })
            .collect()
    }

    fn session_unit(&self, ctx: &RequestCtx, transition: &SessionTransition) -> UnitOfWork {
        UnitOfWork {
            checkout_sessions: vec![transition.session.clone()],
            events: self.session_events(ctx, transition),
            ..UnitOfWork::default()
        }
    }
}
