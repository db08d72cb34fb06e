//! The Stripe connector's wire format and error mapping, against `StripeStub`: what it sends
//! (form bodies, the pinned version, an idempotency key on every POST, no secret in logs) and
//! how each kind of failure comes back (card errors, 409/429/5xx with `Stripe-Should-Retry`,
//! timeouts, refused connections, other 4xx, idempotency errors), and signed webhooks.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use holdfast_domain::{Currency, Money, Timestamp};
use holdfast_processor::stripe::webhook;
use holdfast_processor::stripe::{STRIPE_VERSION, Stripe, StripeConfig};
use holdfast_processor::{
    AuthorizationPurpose, AuthorizeCall, CaptureCall, CaptureMode, Hold, Outcome, PaymentSource,
    PaymentStatus, Processor, ProcessorError, RefundCall, RetrieveCall, VoidCall, VoidReason,
};
use holdfast_testkit::{Fault, Operation, StripeStub, signature_header};

const AMOUNT: i64 = 12_900;

fn usd(amount: i64) -> Money {
    Money::new(amount, Currency::parse("USD").expect("USD"))
}

fn connector(base: &str, timeout: Duration) -> Stripe {
    Stripe::new(
        StripeConfig::new("sk_test_wire_secret_value")
            .api_base(base)
            .publishable_key("pk_test_wire")
            .timeout(timeout),
    )
    .expect("a connector")
}

async fn hold(stripe: &Stripe, key: &str, token: &str) -> Result<Outcome<Hold>, ProcessorError> {
    stripe
        .authorize(AuthorizeCall {
            idempotency_key: key.into(),
            reference: None,
            source: PaymentSource::Token(token.into()),
            amount: usd(AMOUNT),
            capture: CaptureMode::Manual,
            purpose: AuthorizationPurpose::Initial,
            return_url: None,
            payment_intent_id: "pi_holdfast1".into(),
            now: Timestamp(0),
        })
        .await
}

async fn placed(stripe: &Stripe, key: &str) -> Hold {
    hold(stripe, key, "pm_card_visa")
        .await
        .expect("an answer")
        .approved()
        .expect("a hold")
}

async fn capture(
    stripe: &Stripe,
    key: &str,
    reference: &str,
    amount: i64,
) -> Result<Outcome<holdfast_processor::Captured>, ProcessorError> {
    stripe
        .capture(CaptureCall {
            idempotency_key: key.into(),
            reference: reference.into(),
            amount: usd(amount),
            final_capture: true,
        })
        .await
}

fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test]
async fn requests_are_form_encoded_pinned_and_keyed_as_stripe_documents() {
    let stub = StripeStub::start().await;
    let stripe = connector(&stub.base_url(), Duration::from_secs(5));
    let hold = placed(&stripe, "pi_holdfast1:authorize:1:req_a:0").await;
    capture(&stripe, "pi_holdfast1:capture", &hold.reference, 5_000)
        .await
        .expect("captured");
    let requests = stub.requests();
    for r in &requests {
        assert_eq!(r.stripe_version.as_deref(), Some(STRIPE_VERSION), "{r:?}");
        assert_eq!(
            r.authorization.as_deref(),
            Some("Bearer sk_test_wire_secret_value")
        );
        if r.method == "POST" {
            assert!(r.idempotency_key.is_some(), "every POST is keyed: {r:?}");
            assert_eq!(
                r.content_type.as_deref(),
                Some("application/x-www-form-urlencoded")
            );
        }
    }
    let ops: Vec<Operation> = requests.iter().map(|r| r.operation).collect();
    assert_eq!(
        ops,
        [
            Operation::CreatePaymentIntent,
            Operation::ConfirmPaymentIntent,
            Operation::CapturePaymentIntent
        ]
    );
    assert_eq!(
        requests[0].idempotency_key.as_deref(),
        Some("pi_holdfast1:authorize:1:req_a:0:create")
    );
    assert_eq!(
        requests[0].params,
        params(&[
            ("amount", "12900"),
            ("currency", "usd"),
            ("capture_method", "manual"),
            ("payment_method_types[0]", "card"),
            ("payment_method", "pm_card_visa"),
            ("metadata[holdfast_payment_intent]", "pi_holdfast1"),
        ])
    );
    // The confirm carries no payment method: it was set on the PaymentIntent first.
    assert_eq!(
        requests[1].idempotency_key.as_deref(),
        Some("pi_holdfast1:authorize:1:req_a:0")
    );
    assert_eq!(
        requests[1].params,
        params(&[
            ("expand[0]", "latest_charge"),
            ("expand[1]", "payment_method")
        ])
    );
    // `final_capture` is sent only when false.
    assert_eq!(
        requests[2].params,
        params(&[
            ("amount_to_capture", "5000"),
            ("expand[0]", "latest_charge")
        ])
    );
    assert_eq!(
        requests[2].idempotency_key.as_deref(),
        Some("pi_holdfast1:capture")
    );
}

#[tokio::test]
async fn a_void_sends_its_reason_and_a_refund_its_amount() {
    let stub = StripeStub::start().await;
    let stripe = connector(&stub.base_url(), Duration::from_secs(5));
    let first = placed(&stripe, "k1").await;
    stripe
        .void(VoidCall {
            idempotency_key: "k1:void".into(),
            reference: first.reference.clone(),
            reason: Some(VoidReason::Fraudulent),
        })
        .await
        .expect("voided");
    let second = placed(&stripe, "k2").await;
    capture(&stripe, "k2:capture", &second.reference, AMOUNT)
        .await
        .expect("captured");
    stripe
        .refund(RefundCall {
            idempotency_key: "re_1".into(),
            reference: second.reference.clone(),
            amount: usd(2_500),
        })
        .await
        .expect("refunded");
    let requests = stub.requests();
    let cancel = requests
        .iter()
        .find(|r| r.operation == Operation::CancelPaymentIntent)
        .expect("a cancel");
    assert_eq!(
        cancel.params,
        params(&[("cancellation_reason", "fraudulent")])
    );
    let refund = requests
        .iter()
        .find(|r| r.operation == Operation::CreateRefund)
        .expect("a refund");
    assert_eq!(
        refund.params,
        params(&[("payment_intent", &second.reference), ("amount", "2500")])
    );
    assert_eq!(refund.idempotency_key.as_deref(), Some("re_1"));
    let pi = stub
        .payment_intent(&first.reference)
        .expect("the first intent");
    assert_eq!(pi["cancellation_reason"], "fraudulent");
}

#[tokio::test]
async fn secrets_never_show_in_debug_output() {
    let stripe = connector("http://127.0.0.1:9", Duration::from_secs(1));
    let shown = format!("{stripe:?}");
    assert!(!shown.contains("sk_test_wire_secret_value"), "{shown}");
    assert!(!shown.contains("pk_test_wire"), "{shown}");
}

#[tokio::test]
async fn card_errors_are_declines_with_stripes_decline_code() {
    let stub = StripeStub::start().await;
    let stripe = connector(&stub.base_url(), Duration::from_secs(5));
    let outcome = hold(&stripe, "k", "pm_card_chargeDeclined").await;
    let Ok(Outcome::Declined(decline)) = outcome else {
        panic!("expected a decline, got {outcome:?}");
    };
    assert_eq!(decline.decline_code, "generic_decline");
    assert_eq!(decline.message, "Your card was declined.");
    let reference = decline.reference.expect("the declined PaymentIntent");
    let view = stripe
        .retrieve(RetrieveCall { reference })
        .await
        .expect("retrieved");
    assert_eq!(view.status, PaymentStatus::RequiresPaymentMethod);
    assert_eq!(
        view.last_decline.map(|d| d.decline_code).as_deref(),
        Some("generic_decline")
    );
}

#[tokio::test]
async fn throttling_and_server_errors_are_unavailable_and_honour_stripe_should_retry() {
    let stub = StripeStub::start().await;
    let stripe = connector(&stub.base_url(), Duration::from_secs(5));
    let hold = placed(&stripe, "k").await;

    stub.script(Operation::CapturePaymentIntent, Fault::rate_limit());
    let e = capture(&stripe, "k:capture-a", &hold.reference, 100).await;
    assert!(
        matches!(
            e,
            Err(ProcessorError::Unavailable { retryable: true, retry_after: Some(d), .. })
                if d == Duration::from_secs(2)
        ),
        "{e:?}"
    );

    stub.script(Operation::CapturePaymentIntent, Fault::key_in_use());
    let e = capture(&stripe, "k:capture-b", &hold.reference, 100).await;
    assert!(
        matches!(
            e,
            Err(ProcessorError::Unavailable {
                retryable: true,
                ..
            })
        ),
        "{e:?}"
    );

    stub.script(
        Operation::CapturePaymentIntent,
        Fault::unavailable_do_not_retry(),
    );
    let e = capture(&stripe, "k:capture-c", &hold.reference, 100).await;
    assert!(
        matches!(
            e,
            Err(ProcessorError::Unavailable {
                retryable: false,
                ..
            })
        ),
        "{e:?}"
    );

    // A 500 is stored under its key, as Stripe stores the first answer of a request that began
    // executing: the retry replays it, and nothing moved.
    stub.script(Operation::CapturePaymentIntent, Fault::server_error());
    for _ in 0..2 {
        let e = capture(&stripe, "k:capture-d", &hold.reference, 100).await;
        assert!(
            matches!(
                e,
                Err(ProcessorError::Unavailable {
                    retryable: true,
                    ..
                })
            ),
            "{e:?}"
        );
    }
    assert_eq!(
        stub.calls(Operation::CapturePaymentIntent, "k:capture-d"),
        2
    );
    let pi = stub.payment_intent(&hold.reference).expect("the intent");
    assert_eq!(pi["status"], "requires_capture");
    assert_eq!(pi["amount_received"], 0);
    assert_eq!(pi["amount_capturable"], AMOUNT);
}

#[tokio::test]
async fn a_timeout_is_retryable_and_the_retry_replays_what_stripe_did() {
    let stub = StripeStub::start().await;
    let patient = connector(&stub.base_url(), Duration::from_secs(5));
    let hasty = connector(&stub.base_url(), Duration::from_millis(300));
    let hold = placed(&patient, "k").await;
    stub.script(
        Operation::CapturePaymentIntent,
        Fault::Delay(Duration::from_millis(900)),
    );
    let e = capture(&hasty, "k:capture", &hold.reference, AMOUNT).await;
    assert!(
        matches!(e, Err(ProcessorError::Unavailable { retryable: true, ref reason, .. }) if reason.contains("in time")),
        "{e:?}"
    );
    // Stripe went on and captured; the retry with the same key gets that answer, once.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let retried = capture(&patient, "k:capture", &hold.reference, AMOUNT)
        .await
        .expect("an answer")
        .approved()
        .expect("captured");
    assert_eq!(retried.total_captured, AMOUNT);
    assert_eq!(stub.calls(Operation::CapturePaymentIntent, "k:capture"), 2);
    let pi = stub.payment_intent(&hold.reference).expect("the intent");
    assert_eq!(pi["amount_received"], AMOUNT);
    assert_eq!(pi["status"], "succeeded");
}

#[tokio::test]
async fn a_refused_connection_is_retryable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let port = listener.local_addr().expect("an address").port();
    drop(listener);
    let stripe = connector(&format!("http://127.0.0.1:{port}"), Duration::from_secs(2));
    let e = hold(&stripe, "k", "pm_card_visa").await;
    assert!(
        matches!(e, Err(ProcessorError::Unavailable { retryable: true, ref reason, .. }) if reason.contains("connect")),
        "{e:?}"
    );
}

#[tokio::test]
async fn other_client_errors_are_refused_with_stripes_code() {
    let stub = StripeStub::start().await;
    let stripe = connector(&stub.base_url(), Duration::from_secs(5));
    let hold = placed(&stripe, "k").await;
    let e = capture(&stripe, "k:capture", &hold.reference, AMOUNT + 1).await;
    assert_eq!(
        e,
        Err(ProcessorError::Refused {
            code: "amount_too_large".into(),
            message: "The amount to capture is greater than the amount capturable.".into(),
        })
    );
    // The same key with other parameters is Stripe's idempotency_error.
    capture(&stripe, "k:capture-2", &hold.reference, 1_000)
        .await
        .expect("captured");
    let e = capture(&stripe, "k:capture-2", &hold.reference, 2_000).await;
    assert!(
        matches!(&e, Err(ProcessorError::Refused { code, .. }) if code == "idempotency_error"),
        "{e:?}"
    );
    // Capturing a captured PaymentIntent: payment_intent_unexpected_state.
    let e = capture(&stripe, "k:capture-3", &hold.reference, 1_000).await;
    assert!(
        matches!(&e, Err(ProcessorError::Refused { code, .. }) if code == "payment_intent_unexpected_state"),
        "{e:?}"
    );
    let view = stripe
        .retrieve(RetrieveCall {
            reference: hold.reference.clone(),
        })
        .await
        .expect("retrieved");
    assert_eq!(view.status, PaymentStatus::Captured);
    assert_eq!(view.captured, Some(1_000));
    let e = stripe
        .retrieve(RetrieveCall {
            reference: "pi_missing".into(),
        })
        .await;
    assert!(
        matches!(&e, Err(ProcessorError::Refused { code, .. }) if code == "resource_missing"),
        "{e:?}"
    );
}

#[tokio::test]
async fn an_expired_hold_reads_as_expired() {
    let stub = StripeStub::start().await;
    let stripe = connector(&stub.base_url(), Duration::from_secs(5));
    let hold = placed(&stripe, "k").await;
    assert!(stub.expire(&hold.reference));
    let view = stripe
        .retrieve(RetrieveCall {
            reference: hold.reference.clone(),
        })
        .await
        .expect("retrieved");
    assert_eq!(view.status, PaymentStatus::Expired);
    assert_eq!(view.cancellation_reason.as_deref(), Some("expired"));
    assert_eq!(view.capturable, Some(0));
    assert_eq!(view.capture_before, None);
}

/// The stub signs events with the testkit's own signer; the connector's verifier accepts them,
/// and refuses them once anything changes.
#[tokio::test]
async fn signed_webhooks_from_the_stub_verify_with_the_connector() {
    let stub = StripeStub::start().await;
    let stripe = connector(&stub.base_url(), Duration::from_secs(5));
    let hold = placed(&stripe, "k").await;
    let received: Arc<Mutex<Vec<(HeaderMap, Bytes)>>> = Arc::default();
    let sink = Arc::clone(&received);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let sink = Arc::clone(&sink);
            async move {
                sink.lock().expect("the sink").push((headers, body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let url = format!("http://{}/hook", listener.local_addr().expect("an address"));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let object = stub.payment_intent(&hold.reference).expect("the intent");
    let event = stub.event("payment_intent.amount_capturable_updated", object);
    let status = stub
        .deliver(&url, &["whsec_old", "whsec_current"], &event)
        .await;
    assert_eq!(status, 200);
    let (headers, body) = received
        .lock()
        .expect("the sink")
        .pop()
        .expect("a delivery");
    let header = headers
        .get("Stripe-Signature")
        .and_then(|v| v.to_str().ok())
        .expect("a signature")
        .to_owned();
    let now = Timestamp(stub.now());
    assert_eq!(
        webhook::verify(&body, &header, "whsec_current", now, 300),
        Ok(())
    );
    assert_eq!(
        webhook::verify(&body, &header, "whsec_unknown", now, 300),
        Err(webhook::SignatureError::Mismatch)
    );
    assert_eq!(
        webhook::verify(
            &body,
            &header,
            "whsec_current",
            Timestamp(stub.now() + 301),
            300
        ),
        Err(webhook::SignatureError::OutsideTolerance)
    );
    let parsed = webhook::parse_event(&body).expect("an event");
    assert_eq!(parsed.kind, "payment_intent.amount_capturable_updated");
    assert_eq!(parsed.data.object.id, hold.reference);
    assert_eq!(parsed.data.object.object, "payment_intent");

    // Charge and dispute events name their PaymentIntent.
    let dispute = stub
        .dispute(&hold.reference, 5_000, "fraudulent")
        .expect("a dispute");
    let event = stub.event("charge.dispute.created", dispute);
    assert_eq!(stub.deliver(&url, &["whsec_current"], &event).await, 200);
    let (_, body) = received
        .lock()
        .expect("the sink")
        .pop()
        .expect("a delivery");
    let parsed = webhook::parse_event(&body).expect("an event");
    assert_eq!(parsed.kind, "charge.dispute.created");
    assert_eq!(parsed.data.object.object, "dispute");
    assert_eq!(
        parsed.data.object.payment_intent.as_deref(),
        Some(hold.reference.as_str())
    );
    let charge = stub.charge(&hold.reference).expect("a charge");
    assert_eq!(charge["object"], "charge");
    assert_eq!(
        charge["payment_method_details"]["card"]["capture_before"],
        stub.now() + 7 * 86_400
    );

    // The testkit's signer and the connector's agree byte for byte.
    let payload = br#"{"id":"evt_1","object":"event"}"#;
    assert_eq!(
        signature_header(payload, &["whsec_x"], 1_783_650_000),
        format!(
            "t=1783650000,v1={}",
            webhook::signature(payload, "whsec_x", 1_783_650_000)
        )
    );
}
