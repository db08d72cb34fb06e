//! The processor conformance suite: one set of lifecycle tests, written once and run against
//! every connector:
//!
//! - `sandbox`: the built-in sandbox;
//! - `stub`: the Stripe connector against `StripeStub`, a Stripe-shaped server of our own (every
//!   behaviour, faults included);
//! - `localstripe`: the Stripe connector against localstripe 1.15.10 (what localstripe can show;
//!   the rest is skipped there, see each `Harness::can`).
//!
//! Each test checks the connector's answer and, where the harness can read it, the server's own
//! object, with exact amounts and statuses.

use std::sync::Arc;
use std::time::Duration;

use holdfast_domain::intent::Card;
use holdfast_domain::{Currency, Money, Timestamp};
use holdfast_processor::stripe::{STRIPE_VERSION, Stripe, StripeConfig};
use holdfast_processor::{
    AuthenticateCall, AuthorizationPurpose, AuthorizeCall, CaptureCall, CaptureMode, Captured,
    DeclineKind, Hold, HoldFeatures, IncrementCall, NextAction, Outcome, PaymentSource,
    PaymentStatus, PrepareCall, Processor, ProcessorError, RefundCall, RetrieveCall, Sandbox,
    VoidCall, VoidReason,
};
use holdfast_testkit::{Fault, Localstripe, Operation, StripeStub};
use serde_json::Value;

const NOW: Timestamp = Timestamp(1_783_650_000);
const AMOUNT: i64 = 12_900;

fn usd(amount: i64) -> Money {
    Money::new(amount, Currency::parse("USD").expect("USD"))
}

fn visa() -> Option<Card> {
    Some(Card {
        brand: "visa".into(),
        last_four: "4242".into(),
    })
}

/// What a harness's server can show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Can {
    /// `capture_before` on the hold.
    Deadline,
    /// `amount_capturable` / `amount_received` on the processor's view.
    Amounts,
    /// Card brand and last four on the hold.
    CardDetails,
    /// Keyed replay of a repeated request.
    KeyedReplay,
    /// A scripted unavailability (timeouts, 429, 5xx).
    Faults,
    /// `cancellation_reason` on a void.
    VoidReason,
    IncrementAuthorization,
    Multicapture,
    /// A merchant-initiated re-authorization (off-session).
    Reauthorization,
}

/// A server's own view of a payment, for both-sides assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ServerView {
    status: String,
    amount_capturable: Option<i64>,
    amount_received: Option<i64>,
    charge_captured: Option<bool>,
    charge_amount_refunded: Option<i64>,
    cancellation_reason: Option<String>,
}

impl ServerView {
    fn of(pi: &Value) -> ServerView {
        let charge = &pi["latest_charge"];
        ServerView {
            status: pi["status"].as_str().unwrap_or_default().to_owned(),
            amount_capturable: pi["amount_capturable"].as_i64(),
            amount_received: pi["amount_received"].as_i64(),
            charge_captured: charge["captured"].as_bool(),
            charge_amount_refunded: charge["amount_refunded"].as_i64(),
            cancellation_reason: pi["cancellation_reason"].as_str().map(str::to_owned),
        }
    }
}

enum Server {
    Sandbox,
    Stub(StripeStub),
    Localstripe(&'static Localstripe),
}

struct Harness {
    name: &'static str,
    processor: Arc<dyn Processor>,
    server: Server,
    /// Keys differ per test run, so a shared server never replays another test's answer.
    run: String,
}

fn run_id() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "t{}x{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

fn stripe_against(base: &str, timeout: Duration) -> Arc<dyn Processor> {
    let config = StripeConfig::new("sk_test_holdfast_conformance")
        .api_base(base)
        .publishable_key("pk_test_holdfast_conformance")
        .timeout(timeout);
    Arc::new(Stripe::new(config).expect("a Stripe connector"))
}

impl Harness {
    fn sandbox() -> Harness {
        Harness {
            name: "sandbox",
            processor: Arc::new(Sandbox::new()),
            server: Server::Sandbox,
            run: run_id(),
        }
    }

    async fn stub() -> Harness {
        let stub = StripeStub::start().await;
        Harness {
            name: "stub",
            processor: stripe_against(&stub.base_url(), Duration::from_secs(5)),
            server: Server::Stub(stub),
            run: run_id(),
        }
    }

    fn localstripe() -> Option<Harness> {
        let localstripe = Localstripe::shared()?;
        Some(Harness {
            name: "localstripe",
            processor: stripe_against(&localstripe.base_url(), Duration::from_secs(10)),
            server: Server::Localstripe(localstripe),
            run: run_id(),
        })
    }

    fn can(&self, what: Can) -> bool {
        match self.server {
            Server::Sandbox => !matches!(what, Can::Faults),
            Server::Stub(_) => true,
            // localstripe has no capture_before, amount_capturable/amount_received, card details
            // on the charge, idempotency, cancellation_reason, increments, multicapture or
            // off-session confirms; faults cannot be scripted.
            Server::Localstripe(_) => false,
        }
    }

    fn key(&self, name: &str) -> String {
        format!("pi_{}:{name}", self.run)
    }

    fn the_stub(&self) -> &StripeStub {
        match &self.server {
            Server::Stub(stub) => stub,
            _ => panic!("{}: not the stub", self.name),
        }
    }

    /// The token of an approving card.
    fn approve(&self) -> String {
        "pm_card_visa".into()
    }

    /// A declining card and the decline code each server gives it.
    fn decline(&self) -> (String, &'static str) {
        match self.server {
            Server::Sandbox => (
                "pm_card_chargeDeclinedInsufficientFunds".into(),
                "insufficient_funds",
            ),
            Server::Stub(_) => (
                "pm_card_chargeDeclinedInsufficientFunds".into(),
                "insufficient_funds",
            ),
            // localstripe's declining card answers 402 `card_declined` without a decline_code.
            Server::Localstripe(_) => ("pm_card_chargeCustomerFail".into(), "card_declined"),
        }
    }

    /// A card that asks for 3D Secure.
    async fn three_d_secure(&self) -> String {
        match self.server {
            Server::Sandbox | Server::Stub(_) => "pm_card_threeDSecure2Required".into(),
            Server::Localstripe(ls) => ls.card_payment_method("4000002500003155").await,
        }
    }

    /// The buyer finishes (or fails) 3D Secure, as the server lets a test do it. `None`: the
    /// sandbox simulates it in the authentication call itself.
    async fn buyer_authenticates(
        &self,
        reference: &str,
        client_secret: Option<&str>,
        success: bool,
    ) -> Option<bool> {
        match &self.server {
            Server::Sandbox => return Some(success),
            Server::Stub(stub) => assert!(stub.authenticate(reference, success)),
            Server::Localstripe(ls) => {
                ls.authenticate(reference, client_secret.expect("a client secret"), success)
                    .await;
            }
        }
        None
    }

    /// The server's own object, where the harness can read it.
    async fn server_view(&self, reference: &str) -> Option<ServerView> {
        match &self.server {
            Server::Sandbox => None,
            Server::Stub(stub) => Some(ServerView::of(
                &stub
                    .payment_intent(reference)
                    .expect("the stub knows the payment"),
            )),
            Server::Localstripe(ls) => Some(ServerView::of(&ls.payment_intent(reference).await)),
        }
    }

    async fn authorize(&self, key: &str, token: &str, capture: CaptureMode) -> Outcome<Hold> {
        self.authorize_with(
            key,
            PaymentSource::Token(token.into()),
            capture,
            None,
            AuthorizationPurpose::Initial,
        )
        .await
        .unwrap_or_else(|e| panic!("{}: authorize: {e}", self.name))
    }

    async fn authorize_with(
        &self,
        key: &str,
        source: PaymentSource,
        capture: CaptureMode,
        reference: Option<String>,
        purpose: AuthorizationPurpose,
    ) -> Result<Outcome<Hold>, ProcessorError> {
        self.processor
            .authorize(AuthorizeCall {
                idempotency_key: self.key(key),
                reference,
                source,
                amount: usd(AMOUNT),
                capture,
                purpose,
                // localstripe's confirm takes no `return_url`.
                return_url: (!matches!(self.server, Server::Localstripe(_)))
                    .then(|| "https://shop.example/return".to_owned()),
                payment_intent_id: format!("pi_{}", self.run),
                now: NOW,
            })
            .await
    }

    async fn hold(&self) -> Hold {
        match self
            .authorize("authorize", &self.approve(), CaptureMode::Manual)
            .await
        {
            Outcome::Approved(hold) => hold,
            other => panic!("{}: expected a hold, got {other:?}", self.name),
        }
    }

    async fn capture(
        &self,
        key: &str,
        reference: &str,
        amount: i64,
        final_capture: bool,
    ) -> Result<Outcome<Captured>, ProcessorError> {
        self.processor
            .capture(CaptureCall {
                idempotency_key: self.key(key),
                reference: reference.into(),
                amount: usd(amount),
                final_capture,
            })
            .await
    }

    async fn retrieve(&self, reference: &str) -> holdfast_processor::PaymentView {
        self.processor
            .retrieve(RetrieveCall {
                reference: reference.into(),
            })
            .await
            .unwrap_or_else(|e| panic!("{}: retrieve: {e}", self.name))
    }
}

fn approved<T: std::fmt::Debug>(name: &str, outcome: Result<Outcome<T>, ProcessorError>) -> T {
    match outcome {
        Ok(Outcome::Approved(value)) => value,
        other => panic!("{name}: expected approval, got {other:?}"),
    }
}

// ----- the lifecycle, once -----

async fn manual_hold_then_full_capture(h: Harness) {
    let hold = h.hold().await;
    assert_eq!(hold.authorized, AMOUNT, "{}", h.name);
    assert_eq!(hold.captured, 0, "{}", h.name);
    if h.can(Can::CardDetails) {
        assert_eq!(hold.card, visa(), "{}", h.name);
    }
    let view = h.retrieve(&hold.reference).await;
    assert_eq!(view.status, PaymentStatus::Authorized, "{}", h.name);
    assert_eq!(view.amount, AMOUNT);
    assert_eq!(view.currency, "USD");
    if h.can(Can::Amounts) {
        assert_eq!(view.capturable, Some(AMOUNT), "{}", h.name);
        assert_eq!(view.captured, Some(0), "{}", h.name);
        assert_eq!(view.authorized, Some(AMOUNT), "{}", h.name);
    }
    if let Some(server) = h.server_view(&hold.reference).await {
        assert_eq!(server.status, "requires_capture", "{}", h.name);
        assert_eq!(server.charge_captured, Some(false), "{}", h.name);
        if h.can(Can::Amounts) {
            assert_eq!(server.amount_capturable, Some(AMOUNT));
            assert_eq!(server.amount_received, Some(0));
        }
    }

    let captured = approved(
        h.name,
        h.capture("capture", &hold.reference, AMOUNT, true).await,
    );
    assert_eq!(captured.reference, hold.reference);
    assert_eq!(captured.amount, AMOUNT, "{}", h.name);
    assert_eq!(captured.total_captured, AMOUNT, "{}", h.name);
    assert_eq!(captured.capturable, 0, "{}", h.name);
    let view = h.retrieve(&hold.reference).await;
    assert_eq!(view.status, PaymentStatus::Captured, "{}", h.name);
    assert_eq!(view.capture_before, None, "{}", h.name);
    if h.can(Can::Amounts) {
        assert_eq!(view.captured, Some(AMOUNT), "{}", h.name);
        assert_eq!(view.capturable, Some(0), "{}", h.name);
    }
    if let Some(server) = h.server_view(&hold.reference).await {
        assert_eq!(server.status, "succeeded", "{}", h.name);
        assert_eq!(server.charge_captured, Some(true), "{}", h.name);
        assert_eq!(server.charge_amount_refunded, Some(0), "{}", h.name);
        if h.can(Can::Amounts) {
            assert_eq!(server.amount_received, Some(AMOUNT));
            assert_eq!(server.amount_capturable, Some(0));
        }
    }
}

async fn partial_capture_releases_the_rest(h: Harness) {
    let hold = h.hold().await;
    let captured = approved(
        h.name,
        h.capture("capture", &hold.reference, 5_000, true).await,
    );
    assert_eq!(captured.amount, 5_000, "{}", h.name);
    assert_eq!(captured.capturable, 0, "{}", h.name);
    let view = h.retrieve(&hold.reference).await;
    assert_eq!(view.status, PaymentStatus::Captured, "{}", h.name);
    if h.can(Can::Amounts) {
        assert_eq!(captured.total_captured, 5_000, "{}", h.name);
        assert_eq!(view.captured, Some(5_000), "{}", h.name);
        assert_eq!(view.capturable, Some(0), "{}", h.name);
        assert_eq!(view.refunded, Some(0), "{}", h.name);
    }
    if let Some(server) = h.server_view(&hold.reference).await {
        assert_eq!(server.status, "succeeded", "{}", h.name);
        match h.server {
            // localstripe records the released remainder as a refund on the charge.
            Server::Localstripe(_) => {
                assert_eq!(server.charge_amount_refunded, Some(AMOUNT - 5_000));
            }
            _ => {
                assert_eq!(server.amount_received, Some(5_000));
                assert_eq!(server.charge_amount_refunded, Some(0));
            }
        }
    }
}

async fn void_releases_the_hold(h: Harness) {
    let hold = h.hold().await;
    let reason = h
        .can(Can::VoidReason)
        .then_some(VoidReason::RequestedByCustomer);
    let voided = approved(
        h.name,
        h.processor
            .void(VoidCall {
                idempotency_key: h.key("void"),
                reference: hold.reference.clone(),
                reason,
            })
            .await,
    );
    assert_eq!(voided.reference, hold.reference);
    let view = h.retrieve(&hold.reference).await;
    assert_eq!(view.status, PaymentStatus::Voided, "{}", h.name);
    assert_eq!(view.capture_before, None, "{}", h.name);
    if h.can(Can::VoidReason) {
        assert_eq!(
            view.cancellation_reason.as_deref(),
            Some("requested_by_customer")
        );
    }
    if h.can(Can::Amounts) {
        assert_eq!(view.capturable, Some(0), "{}", h.name);
        assert_eq!(view.captured, Some(0), "{}", h.name);
    }
    if let Some(server) = h.server_view(&hold.reference).await {
        assert_eq!(server.status, "canceled", "{}", h.name);
        assert_eq!(server.charge_captured, Some(false), "{}", h.name);
        if h.can(Can::VoidReason) {
            assert_eq!(
                server.cancellation_reason.as_deref(),
                Some("requested_by_customer")
            );
        }
    }
}

async fn refunds_after_capture(h: Harness) {
    let hold = h.hold().await;
    approved(
        h.name,
        h.capture("capture", &hold.reference, AMOUNT, true).await,
    );
    for (i, amount) in [3_000, AMOUNT - 3_000].into_iter().enumerate() {
        let refunded = approved(
            h.name,
            h.processor
                .refund(RefundCall {
                    idempotency_key: format!("re_{}_{i}", h.run),
                    reference: hold.reference.clone(),
                    amount: usd(amount),
                })
                .await,
        );
        assert_eq!(refunded.amount, amount, "{}", h.name);
    }
    let view = h.retrieve(&hold.reference).await;
    assert_eq!(view.status, PaymentStatus::Captured, "{}", h.name);
    assert_eq!(view.refunded, Some(AMOUNT), "{}", h.name);
    if let Some(server) = h.server_view(&hold.reference).await {
        assert_eq!(server.charge_amount_refunded, Some(AMOUNT), "{}", h.name);
    }
}

async fn declines_carry_the_decline_code(h: Harness) {
    let (token, code) = h.decline();
    let outcome = h.authorize("authorize", &token, CaptureMode::Manual).await;
    let Outcome::Declined(decline) = outcome else {
        panic!("{}: expected a decline, got {outcome:?}", h.name);
    };
    assert_eq!(decline.kind, DeclineKind::Card, "{}", h.name);
    assert_eq!(decline.decline_code, code, "{}", h.name);
    assert!(!decline.message.is_empty());
    if let Some(reference) = &decline.reference {
        let view = h.retrieve(reference).await;
        assert_eq!(
            view.status,
            PaymentStatus::RequiresPaymentMethod,
            "{}",
            h.name
        );
        if let Some(server) = h.server_view(reference).await {
            assert_eq!(server.status, "requires_payment_method", "{}", h.name);
        }
    }
}

async fn three_d_secure(h: Harness, success: bool) {
    let token = h.three_d_secure().await;
    let outcome = h.authorize("authorize", &token, CaptureMode::Manual).await;
    let Outcome::ActionRequired(action) = outcome else {
        panic!("{}: expected an action, got {outcome:?}", h.name);
    };
    match (&h.server, &action.next_action) {
        (Server::Sandbox, NextAction::RedirectToUrl { url, .. }) => {
            assert!(
                url.starts_with("https://sandbox.holdfast.invalid/3ds/"),
                "{url}"
            );
        }
        (Server::Stub(_), NextAction::RedirectToUrl { url, return_url }) => {
            assert!(url.starts_with("https://hooks.stripe.test/"), "{url}");
            assert_eq!(return_url.as_deref(), Some("https://shop.example/return"));
        }
        // localstripe always asks for Stripe.js.
        (Server::Localstripe(_), NextAction::UseSdk) => {}
        (_, other) => panic!("{}: unexpected next action {other:?}", h.name),
    }
    let secret = action
        .client_confirmation
        .as_ref()
        .map(|c| c.client_secret.expose().to_owned());
    if !matches!(h.server, Server::Sandbox) {
        let confirmation = action
            .client_confirmation
            .as_ref()
            .expect("what Stripe.js needs");
        assert_eq!(confirmation.processor, "stripe");
        assert_eq!(
            confirmation.publishable_key.as_deref(),
            Some("pk_test_holdfast_conformance")
        );
        assert!(
            confirmation
                .client_secret
                .expose()
                .starts_with(&action.reference)
        );
        let view = h.retrieve(&action.reference).await;
        assert_eq!(view.status, PaymentStatus::RequiresAction, "{}", h.name);
    }
    let simulated = h
        .buyer_authenticates(&action.reference, secret.as_deref(), success)
        .await;
    let result = h
        .processor
        .authentication_result(AuthenticateCall {
            idempotency_key: h.key("authenticate"),
            reference: action.reference.clone(),
            amount: usd(AMOUNT),
            capture: CaptureMode::Manual,
            simulated_success: simulated,
            now: NOW,
        })
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", h.name));
    match (success, result) {
        (true, Outcome::Approved(hold)) => {
            assert_eq!(hold.reference, action.reference);
            assert_eq!(hold.authorized, AMOUNT, "{}", h.name);
            assert_eq!(hold.captured, 0);
        }
        (false, Outcome::Declined(decline)) => {
            assert_eq!(decline.kind, DeclineKind::Authentication, "{}", h.name);
            let expected = match h.server {
                Server::Sandbox => "authentication_failed",
                _ => "payment_intent_authentication_failure",
            };
            assert_eq!(decline.decline_code, expected);
        }
        (_, other) => panic!("{}: unexpected result {other:?}", h.name),
    }
    if !matches!(h.server, Server::Sandbox) || success {
        let view = h.retrieve(&action.reference).await;
        let expected = if success {
            PaymentStatus::Authorized
        } else {
            PaymentStatus::RequiresPaymentMethod
        };
        assert_eq!(view.status, expected, "{}", h.name);
    }
    if let Some(server) = h.server_view(&action.reference).await {
        let expected = if success {
            "requires_capture"
        } else {
            "requires_payment_method"
        };
        assert_eq!(server.status, expected, "{}", h.name);
    }
}

async fn automatic_capture_settles_in_one_call(h: Harness) {
    let outcome = h
        .authorize("authorize", &h.approve(), CaptureMode::Automatic)
        .await;
    let Outcome::Approved(hold) = outcome else {
        panic!("{}: expected approval, got {outcome:?}", h.name);
    };
    assert_eq!(hold.captured, AMOUNT, "{}", h.name);
    assert_eq!(hold.authorized, AMOUNT, "{}", h.name);
    assert_eq!(hold.capture_before, None, "{}", h.name);
    let view = h.retrieve(&hold.reference).await;
    assert_eq!(view.status, PaymentStatus::Captured, "{}", h.name);
    if h.can(Can::Amounts) {
        assert_eq!(view.captured, Some(AMOUNT), "{}", h.name);
    }
    if let Some(server) = h.server_view(&hold.reference).await {
        assert_eq!(server.status, "succeeded", "{}", h.name);
        assert_eq!(server.charge_captured, Some(true), "{}", h.name);
    }
}

async fn the_hold_deadline_comes_from_the_processor(h: Harness) {
    if !h.can(Can::Deadline) {
        return;
    }
    let expected = match &h.server {
        Server::Stub(stub) => {
            // A merchant-initiated Visa hold lasts about five days.
            stub.set_hold_window(5 * 86_400);
            Timestamp(stub.now() + 5 * 86_400)
        }
        _ => NOW.plus_seconds(holdfast_processor::HOLD_SECONDS),
    };
    let hold = h.hold().await;
    assert_eq!(hold.capture_before, Some(expected), "{}", h.name);
    assert_eq!(
        h.retrieve(&hold.reference).await.capture_before,
        Some(expected)
    );
}

async fn a_keyed_repeat_replays_and_does_not_act_twice(h: Harness) {
    if !h.can(Can::KeyedReplay) {
        return;
    }
    let first = h
        .authorize("authorize", &h.approve(), CaptureMode::Manual)
        .await;
    let again = h
        .authorize("authorize", &h.approve(), CaptureMode::Manual)
        .await;
    assert_eq!(first, again, "{}", h.name);
    let Outcome::Approved(hold) = first else {
        panic!("{}: expected approval", h.name);
    };
    let once = h.capture("capture", &hold.reference, 5_000, true).await;
    let twice = h.capture("capture", &hold.reference, 5_000, true).await;
    assert_eq!(once, twice, "{}", h.name);
    let view = h.retrieve(&hold.reference).await;
    assert_eq!(view.captured, Some(5_000), "{}", h.name);
    if let Server::Stub(stub) = &h.server {
        assert_eq!(
            stub.payment_intent_count(),
            1,
            "one PaymentIntent for one key"
        );
        assert_eq!(
            stub.calls(Operation::ConfirmPaymentIntent, &h.key("authorize")),
            2
        );
        assert_eq!(
            stub.calls(Operation::CapturePaymentIntent, &h.key("capture")),
            2
        );
        let server = h
            .server_view(&hold.reference)
            .await
            .expect("the stub's view");
        assert_eq!(server.amount_received, Some(5_000));
    }
}

async fn an_unavailable_processor_is_retryable_with_the_same_key(h: Harness) {
    if !h.can(Can::Faults) && !matches!(h.server, Server::Sandbox) {
        return;
    }
    let hold = match &h.server {
        // The sandbox's scripted fault is a card: its first capture times out.
        Server::Sandbox => {
            let outcome = h
                .authorize(
                    "authorize",
                    "pm_card_captureTimeoutOnce",
                    CaptureMode::Manual,
                )
                .await;
            outcome.approved().expect("a hold")
        }
        Server::Stub(stub) => {
            let hold = h.hold().await;
            stub.script(Operation::CapturePaymentIntent, Fault::lock_timeout());
            hold
        }
        Server::Localstripe(_) => unreachable!(),
    };
    let first = h.capture("capture", &hold.reference, AMOUNT, true).await;
    match first {
        Err(ProcessorError::Unavailable {
            retryable: true, ..
        }) => {}
        other => panic!(
            "{}: expected a retryable unavailability, got {other:?}",
            h.name
        ),
    }
    assert_eq!(
        h.retrieve(&hold.reference).await.status,
        PaymentStatus::Authorized
    );
    let retried = approved(
        h.name,
        h.capture("capture", &hold.reference, AMOUNT, true).await,
    );
    assert_eq!(retried.total_captured, AMOUNT);
    assert_eq!(h.retrieve(&hold.reference).await.captured, Some(AMOUNT));
    if let Server::Stub(stub) = &h.server {
        assert_eq!(
            stub.calls(Operation::CapturePaymentIntent, &h.key("capture")),
            2
        );
        assert_eq!(
            h.server_view(&hold.reference)
                .await
                .and_then(|s| s.amount_received),
            Some(AMOUNT)
        );
    }
}

async fn unknown_tokens_are_invalid(h: Harness) {
    let outcome = h
        .authorize_with(
            "authorize",
            PaymentSource::Token("pm_card_doesNotExist".into()),
            CaptureMode::Manual,
            None,
            AuthorizationPurpose::Initial,
        )
        .await;
    assert_eq!(outcome, Err(ProcessorError::InvalidToken), "{}", h.name);
    if !matches!(h.server, Server::Localstripe(_)) {
        let inspected = h.processor.inspect("pm_card_doesNotExist").await;
        assert_eq!(inspected, Err(ProcessorError::InvalidToken), "{}", h.name);
    }
    let known = h
        .processor
        .inspect("pm_card_visa")
        .await
        .expect("a known card");
    if h.can(Can::CardDetails) {
        assert_eq!(Some(known.card), visa());
    }
}

async fn increments_raise_the_hold_and_declines_leave_it(h: Harness) {
    if !h.can(Can::IncrementAuthorization) {
        return;
    }
    let (declining, hold) = match &h.server {
        Server::Sandbox => {
            let h1 = h.hold().await;
            let h2 = h
                .authorize(
                    "authorize-2",
                    "pm_card_incrementDeclined",
                    CaptureMode::Manual,
                )
                .await
                .approved()
                .expect("a hold");
            (h2, h1)
        }
        Server::Stub(_) => {
            let prepared = prepared_hold(
                &h,
                HoldFeatures {
                    incremental_authorization: true,
                    multicapture: false,
                },
            )
            .await;
            let other = prepared_hold_keyed(
                &h,
                "second",
                HoldFeatures {
                    incremental_authorization: true,
                    multicapture: false,
                },
            )
            .await;
            h.the_stub().script(
                Operation::IncrementAuthorization,
                Fault::decline("insufficient_funds"),
            );
            (other, prepared)
        }
        Server::Localstripe(_) => unreachable!(),
    };
    assert!(hold.features.incremental_authorization, "{}", h.name);
    // The declining one first (the stub's scripted decline applies to the next increment).
    let declined = h
        .processor
        .increment_authorization(IncrementCall {
            idempotency_key: h.key("increment-declined"),
            reference: declining.reference.clone(),
            new_total: usd(15_000),
        })
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", h.name));
    let Outcome::Declined(decline) = declined else {
        panic!("{}: expected a decline, got {declined:?}", h.name);
    };
    assert_eq!(decline.kind, DeclineKind::Card);
    let view = h.retrieve(&declining.reference).await;
    assert_eq!(view.status, PaymentStatus::Authorized);
    assert_eq!(
        view.capturable,
        Some(AMOUNT),
        "{}: the hold stays as it was",
        h.name
    );

    let raised = h
        .processor
        .increment_authorization(IncrementCall {
            idempotency_key: h.key("increment"),
            reference: hold.reference.clone(),
            new_total: usd(15_000),
        })
        .await;
    let raised = approved(h.name, raised);
    assert_eq!(raised.authorized, 15_000, "{}", h.name);
    assert_eq!(
        raised.capture_before, hold.capture_before,
        "{}: the deadline stays",
        h.name
    );
    let view = h.retrieve(&hold.reference).await;
    assert_eq!(view.amount, 15_000);
    assert_eq!(view.capturable, Some(15_000), "{}", h.name);
    assert_eq!(view.authorized, Some(15_000), "{}", h.name);
    if let Some(server) = h.server_view(&hold.reference).await {
        assert_eq!(server.amount_capturable, Some(15_000));
    }
}

async fn multicapture_keeps_the_rest_open_until_the_final_capture(h: Harness) {
    if !h.can(Can::Multicapture) {
        return;
    }
    let hold = match &h.server {
        Server::Stub(_) => {
            prepared_hold(
                &h,
                HoldFeatures {
                    incremental_authorization: false,
                    multicapture: true,
                },
            )
            .await
        }
        _ => h.hold().await,
    };
    assert!(hold.features.multicapture, "{}", h.name);
    let first = approved(
        h.name,
        h.capture("capture-1", &hold.reference, 4_000, false).await,
    );
    assert_eq!(
        (first.amount, first.total_captured, first.capturable),
        (4_000, 4_000, AMOUNT - 4_000)
    );
    let view = h.retrieve(&hold.reference).await;
    assert_eq!(view.status, PaymentStatus::Authorized, "{}", h.name);
    assert_eq!(view.capturable, Some(AMOUNT - 4_000));
    assert_eq!(view.captured, Some(4_000));
    let last = approved(
        h.name,
        h.capture("capture-2", &hold.reference, 3_000, true).await,
    );
    assert_eq!(
        (last.amount, last.total_captured, last.capturable),
        (3_000, 7_000, 0)
    );
    let view = h.retrieve(&hold.reference).await;
    assert_eq!(view.status, PaymentStatus::Captured);
    assert_eq!(view.captured, Some(7_000));
    if let Some(server) = h.server_view(&hold.reference).await {
        assert_eq!(server.amount_received, Some(7_000));
        assert_eq!(server.status, "succeeded");
    }
}

async fn reauthorization_places_a_new_hold(h: Harness) {
    if !h.can(Can::Reauthorization) {
        return;
    }
    let token = match h.server {
        Server::Sandbox => "pm_card_reauthorizationDeclined",
        _ => "pm_card_visa",
    };
    let first = h
        .authorize("authorize", token, CaptureMode::Manual)
        .await
        .approved()
        .expect("the first hold is approved");
    let again = h
        .authorize_with(
            "reauthorize",
            PaymentSource::Saved(token.into()),
            CaptureMode::Manual,
            None,
            AuthorizationPurpose::Reauthorization {
                previous_reference: first.reference.clone(),
            },
        )
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", h.name));
    match (&h.server, again) {
        (Server::Sandbox, Outcome::Declined(decline)) => {
            assert_eq!(decline.kind, DeclineKind::Card);
            assert_eq!(decline.decline_code, "generic_decline");
            assert_eq!(
                h.retrieve(&first.reference).await.status,
                PaymentStatus::Authorized
            );
        }
        (Server::Stub(stub), Outcome::Approved(second)) => {
            assert_ne!(second.reference, first.reference, "a new PaymentIntent");
            assert_eq!(second.authorized, AMOUNT);
            let create = stub
                .requests()
                .into_iter()
                .find(|r| r.idempotency_key.as_deref() == Some(&h.key("reauthorize")))
                .expect("the re-authorization reached the stub");
            assert!(
                create
                    .params
                    .contains(&("off_session".into(), "true".into()))
            );
            assert!(create.params.contains(&("confirm".into(), "true".into())));
            // A card that needs the buyer cannot be re-held off-session.
            let action = h
                .authorize_with(
                    "reauthorize-3ds",
                    PaymentSource::Saved("pm_card_threeDSecure2Required".into()),
                    CaptureMode::Manual,
                    None,
                    AuthorizationPurpose::Reauthorization {
                        previous_reference: first.reference.clone(),
                    },
                )
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(matches!(action, Outcome::ActionRequired(_)), "{action:?}");
        }
        (_, other) => panic!("{}: unexpected {other:?}", h.name),
    }
}

async fn prepare_creates_what_the_frontend_needs(h: Harness) {
    let prepared = h
        .processor
        .prepare(PrepareCall {
            idempotency_key: h.key("create"),
            amount: usd(AMOUNT),
            capture: CaptureMode::Manual,
            features: HoldFeatures::default(),
            payment_intent_id: format!("pi_{}", h.run),
        })
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", h.name));
    if matches!(h.server, Server::Sandbox) {
        assert_eq!(prepared, holdfast_processor::Prepared::default());
        return;
    }
    let reference = prepared.reference.clone().expect("a Stripe PaymentIntent");
    assert!(reference.starts_with("pi_"));
    let confirmation = prepared.client_confirmation.expect("a client confirmation");
    assert_eq!(
        confirmation.publishable_key.as_deref(),
        Some("pk_test_holdfast_conformance")
    );
    assert!(
        confirmation
            .client_secret
            .expose()
            .starts_with(&format!("{reference}_secret_"))
    );
    assert!(
        !format!("{confirmation:?}").contains("_secret_"),
        "the client secret stays hidden"
    );
    let view = h.retrieve(&reference).await;
    assert_eq!(view.status, PaymentStatus::RequiresPaymentMethod);
    assert_eq!(view.amount, AMOUNT);
    // Confirming the prepared PaymentIntent places the hold on it.
    let hold = h
        .authorize_with(
            "authorize",
            PaymentSource::Token(h.approve()),
            CaptureMode::Manual,
            Some(reference.clone()),
            AuthorizationPurpose::Initial,
        )
        .await;
    let hold = approved(h.name, hold);
    assert_eq!(hold.reference, reference);
    if let Some(server) = h.server_view(&reference).await {
        assert_eq!(server.status, "requires_capture");
    }
}

async fn prepared_hold(h: &Harness, features: HoldFeatures) -> Hold {
    prepared_hold_keyed(h, "first", features).await
}

async fn prepared_hold_keyed(h: &Harness, name: &str, features: HoldFeatures) -> Hold {
    let prepared = h
        .processor
        .prepare(PrepareCall {
            idempotency_key: h.key(&format!("create-{name}")),
            amount: usd(AMOUNT),
            capture: CaptureMode::Manual,
            features,
            payment_intent_id: format!("pi_{}", h.run),
        })
        .await
        .expect("prepared");
    let outcome = h
        .authorize_with(
            &format!("authorize-{name}"),
            PaymentSource::Token(h.approve()),
            CaptureMode::Manual,
            prepared.reference,
            AuthorizationPurpose::Initial,
        )
        .await;
    approved(h.name, outcome)
}

// ----- one test per connector and lifecycle step -----

macro_rules! conformance {
    ($($test:ident $(($arg:expr))?),* $(,)?) => {
        mod sandbox {
            use super::*;
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(Harness::sandbox() $(, $arg)?).await;
                }
            )*
        }
        mod stub {
            use super::*;
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(Harness::stub().await $(, $arg)?).await;
                }
            )*
        }
        mod localstripe {
            use super::*;
            $(
                #[tokio::test]
                async fn $test() {
                    let Some(h) = Harness::localstripe() else { return };
                    super::$test(h $(, $arg)?).await;
                }
            )*
        }
    };
}

async fn three_d_secure_completes(h: Harness) {
    three_d_secure(h, true).await;
}

async fn three_d_secure_fails(h: Harness) {
    three_d_secure(h, false).await;
}

conformance!(
    manual_hold_then_full_capture,
    partial_capture_releases_the_rest,
    void_releases_the_hold,
    refunds_after_capture,
    declines_carry_the_decline_code,
    three_d_secure_completes,
    three_d_secure_fails,
    automatic_capture_settles_in_one_call,
    the_hold_deadline_comes_from_the_processor,
    a_keyed_repeat_replays_and_does_not_act_twice,
    an_unavailable_processor_is_retryable_with_the_same_key,
    unknown_tokens_are_invalid,
    increments_raise_the_hold_and_declines_leave_it,
    multicapture_keeps_the_rest_open_until_the_final_capture,
    reauthorization_places_a_new_hold,
    prepare_creates_what_the_frontend_needs,
);

#[test]
fn the_pinned_version_is_a_dated_stripe_version() {
    let (date, name) = STRIPE_VERSION.split_once('.').expect("date.name");
    assert_eq!(date.len(), 10);
    assert!(!name.is_empty());
}
