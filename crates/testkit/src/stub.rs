//! A Stripe-shaped HTTP server for what localstripe does not emulate.
//!
//! It keeps PaymentIntents (with their latest charge) and refunds in memory and answers the
//! routes the Stripe connector uses, with bodies written from Stripe's API reference and OpenAPI
//! document (`payment_intent`, `charge`, `payment_method_details_card`, `refund`, `api_errors`):
//!
//! - `POST /v1/payment_intents`, `GET|POST /v1/payment_intents/{id}`, `POST …/{id}/confirm`,
//!   `…/capture` (`amount_to_capture`, `final_capture`), `…/cancel` (`cancellation_reason`),
//!   `…/increment_authorization` (`amount`), `POST /v1/refunds`, `GET /v1/payment_methods/{id}`;
//!   `expand[]` of `latest_charge` and `payment_method`.
//! - Idempotency as Stripe documents it: the first answer of a keyed POST is stored and replayed
//!   (with `Idempotent-Replayed: true`) to a repeat with the same parameters; other parameters get
//!   400 `idempotency_error`; a key still executing gets 409 `idempotency_key_in_use`. Requests
//!   that fail validation (400, 404) and throttled or conflicting ones (409, 429) store nothing.
//! - Test cards by token (`pm_card_visa`, `pm_card_chargeDeclined`, …, see [`card`]); holds
//!   carry `capture_before` (the stub's clock plus its hold window) and capability objects.
//! - Scripted faults per operation ([`StripeStub::script`]), a count of the requests per
//!   (operation, idempotency key) ([`StripeStub::calls`]), every request recorded
//!   ([`StripeStub::requests`]), and signed webhook deliveries ([`StripeStub::deliver`]).

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::form::decode_form;
use crate::signing::signature_header;

/// The API operations the stub tells apart (for faults and call counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    CreatePaymentIntent,
    UpdatePaymentIntent,
    ConfirmPaymentIntent,
    CapturePaymentIntent,
    CancelPaymentIntent,
    IncrementAuthorization,
    RetrievePaymentIntent,
    CreateRefund,
    RetrievePaymentMethod,
}

/// A scripted misbehaviour for the next request of an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with an error object instead of acting. A 5xx is stored for replay, as Stripe does
    /// for a request that began executing; a 409 or 429 is not.
    Error {
        status: u16,
        kind: String,
        code: Option<String>,
        message: String,
        should_retry: Option<bool>,
        retry_after_seconds: Option<u64>,
    },
    /// Wait, then act and answer as usual: a client with a shorter timeout gives up first, and
    /// the effect still happens (and is stored under its key).
    Delay(Duration),
    /// A confirm or an increment is declined by the issuer: 402 `card_error`.
    Decline {
        decline_code: String,
        message: String,
    },
    /// The next refund is created in this status (`pending`, `failed`).
    RefundStatus(String),
}

impl Fault {
    /// 429 `lock_timeout`: another request holds the object's lock.
    pub fn lock_timeout() -> Fault {
        Fault::Error {
            status: 429,
            kind: "invalid_request_error".into(),
            code: Some("lock_timeout".into()),
            message: "This object cannot be accessed right now because another API request or \
                      Stripe process is currently accessing it."
                .into(),
            should_retry: Some(true),
            retry_after_seconds: None,
        }
    }

    /// 429 `rate_limit`.
    pub fn rate_limit() -> Fault {
        Fault::Error {
            status: 429,
            kind: "invalid_request_error".into(),
            code: Some("rate_limit".into()),
            message: "Too many requests hit the API too quickly.".into(),
            should_retry: None,
            retry_after_seconds: Some(2),
        }
    }

    /// 500 `api_error`.
    pub fn server_error() -> Fault {
        Fault::Error {
            status: 500,
            kind: "api_error".into(),
            code: None,
            message: "An unknown error occurred".into(),
            should_retry: None,
            retry_after_seconds: None,
        }
    }

    /// 503 with `Stripe-Should-Retry: false`.
    pub fn unavailable_do_not_retry() -> Fault {
        Fault::Error {
            status: 503,
            kind: "api_error".into(),
            code: None,
            message: "Service unavailable".into(),
            should_retry: Some(false),
            retry_after_seconds: None,
        }
    }

    /// 409 `idempotency_key_in_use`.
    pub fn key_in_use() -> Fault {
        Fault::Error {
            status: 409,
            kind: "idempotency_error".into(),
            code: Some("idempotency_key_in_use".into()),
            message: "There is currently another in-progress request using this Idempotent Key."
                .into(),
            should_retry: Some(true),
            retry_after_seconds: None,
        }
    }

    pub fn decline(decline_code: &str) -> Fault {
        Fault::Decline {
            decline_code: decline_code.into(),
            message: "Your card was declined.".into(),
        }
    }
}

/// One request as it reached the stub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    pub operation: Operation,
    pub method: String,
    pub path: String,
    pub idempotency_key: Option<String>,
    pub stripe_version: Option<String>,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub params: Vec<(String, String)>,
}

/// A test card: how the stub's issuer answers for a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestCard {
    pub brand: &'static str,
    pub last4: &'static str,
    pub behaviour: CardBehaviour,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardBehaviour {
    Approve,
    Decline(&'static str),
    /// 3D Secure on every on-session confirm; off-session: `authentication_required`.
    ThreeDSecure,
}

/// The test cards the stub knows, by token (Stripe's test PaymentMethod names).
pub fn card(token: &str) -> Option<TestCard> {
    let (brand, last4, behaviour) = match token {
        "pm_card_visa" => ("visa", "4242", CardBehaviour::Approve),
        "pm_card_mastercard" => ("mastercard", "4444", CardBehaviour::Approve),
        "pm_card_amex" => ("amex", "8431", CardBehaviour::Approve),
        "pm_card_chargeDeclined" => ("visa", "0002", CardBehaviour::Decline("generic_decline")),
        "pm_card_chargeDeclinedInsufficientFunds" => {
            ("visa", "9995", CardBehaviour::Decline("insufficient_funds"))
        }
        "pm_card_threeDSecure2Required" | "pm_card_authenticationRequired" => {
            ("visa", "3155", CardBehaviour::ThreeDSecure)
        }
        _ => return None,
    };
    Some(TestCard {
        brand,
        last4,
        behaviour,
    })
}

#[derive(Debug, Clone)]
struct Charge {
    id: String,
    amount: i64,
    amount_captured: i64,
    amount_refunded: i64,
    paid: bool,
    captured: bool,
    status: &'static str,
    capture_before: Option<i64>,
    amount_authorized: i64,
    brand: &'static str,
    last4: &'static str,
    incremental: bool,
    multicapture: bool,
    failure_code: Option<String>,
}

#[derive(Debug, Clone)]
struct Intent {
    id: String,
    amount: i64,
    currency: String,
    status: &'static str,
    capture_method: String,
    payment_method: Option<String>,
    client_secret: String,
    cancellation_reason: Option<String>,
    canceled_at: Option<i64>,
    amount_capturable: i64,
    amount_received: i64,
    metadata: Vec<(String, String)>,
    request_incremental: bool,
    request_multicapture: bool,
    last_payment_error: Option<Value>,
    next_action: Option<Value>,
    latest_charge: Option<Charge>,
    created: i64,
    increments: u32,
}

#[derive(Debug, Clone)]
struct Stored {
    fingerprint: String,
    status: u16,
    body: String,
}

#[derive(Debug)]
struct State {
    now: i64,
    hold_window: i64,
    seq: u64,
    intents: HashMap<String, Intent>,
    refunds: HashMap<String, Value>,
    stored: HashMap<String, Stored>,
    in_flight: HashSet<String>,
    faults: HashMap<Operation, VecDeque<Fault>>,
    calls: HashMap<(Operation, String), usize>,
    requests: Vec<RecordedRequest>,
}

/// An answer before it is sent: status, body, and extra headers.
struct Answer {
    status: u16,
    body: Value,
    should_retry: Option<bool>,
    retry_after: Option<u64>,
}

impl Answer {
    fn ok(body: Value) -> Answer {
        Answer {
            status: 200,
            body,
            should_retry: None,
            retry_after: None,
        }
    }

    fn error(status: u16, error: Value) -> Answer {
        Answer {
            status,
            body: json!({ "error": error }),
            should_retry: None,
            retry_after: None,
        }
    }

    /// Whether Stripe would store this answer under its idempotency key.
    fn stored(&self) -> bool {
        !matches!(self.status, 400 | 401 | 404 | 409 | 429)
    }
}

fn invalid(code: &str, message: &str, param: Option<&str>) -> Answer {
    let mut error = json!({ "type": "invalid_request_error", "code": code, "message": message });
    if let Some(param) = param {
        error["param"] = json!(param);
    }
    Answer::error(400, error)
}

/// The stub server. Dropping it stops it.
#[derive(Debug)]
pub struct StripeStub {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

/// The default hold window: seven days from authorization.
const HOLD_WINDOW: i64 = 7 * 86_400;

impl StripeStub {
    /// Starts the stub on 127.0.0.1 on a free port, on the current tokio runtime.
    ///
    /// # Panics
    /// When no port can be bound.
    pub async fn start() -> StripeStub {
        let state = Arc::new(Mutex::new(State {
            now: 1_783_650_000,
            hold_window: HOLD_WINDOW,
            seq: 0,
            intents: HashMap::new(),
            refunds: HashMap::new(),
            stored: HashMap::new(),
            in_flight: HashSet::new(),
            faults: HashMap::new(),
            calls: HashMap::new(),
            requests: Vec::new(),
        }));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("binding the Stripe stub");
        let addr = listener.local_addr().expect("the stub's address");
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&state));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        StripeStub {
            addr,
            state,
            shutdown: Some(tx),
        }
    }

    /// `http://127.0.0.1:<port>`: the API base to give the connector.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The stub's clock (unix seconds): `created`, `capture_before`, event times.
    pub fn now(&self) -> i64 {
        self.lock().now
    }

    pub fn set_now(&self, now: i64) {
        self.lock().now = now;
    }

    /// How long a new hold lasts (e.g. five days for a merchant-initiated Visa hold).
    pub fn set_hold_window(&self, seconds: i64) {
        self.lock().hold_window = seconds;
    }

    /// Queues a fault for the next request of `operation` (one fault per request, in order).
    pub fn script(&self, operation: Operation, fault: Fault) {
        self.lock()
            .faults
            .entry(operation)
            .or_default()
            .push_back(fault);
    }

    /// How many requests of `operation` with this idempotency key reached the stub (replays
    /// included). GETs count under the key `""`.
    pub fn calls(&self, operation: Operation, key: &str) -> usize {
        self.lock()
            .calls
            .get(&(operation, key.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// How many requests of `operation` reached the stub, whatever their key.
    pub fn total_calls(&self, operation: Operation) -> usize {
        self.lock()
            .calls
            .iter()
            .filter(|((op, _), _)| *op == operation)
            .map(|(_, n)| n)
            .sum()
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// The stub's own PaymentIntent, rendered as Stripe would with `latest_charge` and
    /// `payment_method` expanded.
    pub fn payment_intent(&self, id: &str) -> Option<Value> {
        let state = self.lock();
        state
            .intents
            .get(id)
            .map(|i| render(i, &["latest_charge".into(), "payment_method".into()]))
    }

    /// The latest charge of a PaymentIntent, as `charge.*` events carry it (`charge.expired`,
    /// `charge.refunded`).
    pub fn charge(&self, payment_intent: &str) -> Option<Value> {
        let state = self.lock();
        let intent = state.intents.get(payment_intent)?;
        intent
            .latest_charge
            .as_ref()
            .map(|charge| render_charge(intent, charge))
    }

    /// A dispute on a PaymentIntent's charge, as `charge.dispute.created` carries it.
    pub fn dispute(&self, payment_intent: &str, amount: i64, reason: &str) -> Option<Value> {
        let mut state = self.lock();
        let id = state.next_id("dp");
        let now = state.now;
        let intent = state.intents.get(payment_intent)?;
        let charge = intent.latest_charge.as_ref()?;
        Some(json!({
            "id": id,
            "object": "dispute",
            "amount": amount,
            "charge": charge.id,
            "created": now,
            "currency": intent.currency,
            "payment_intent": intent.id,
            "reason": reason,
            "status": "needs_response",
        }))
    }

    /// How many PaymentIntents exist.
    pub fn payment_intent_count(&self) -> usize {
        self.lock().intents.len()
    }

    pub fn refund(&self, id: &str) -> Option<Value> {
        self.lock().refunds.get(id).cloned()
    }

    /// The buyer finishes (or fails) 3D Secure on a PaymentIntent in `requires_action`.
    pub fn authenticate(&self, id: &str, success: bool) -> bool {
        let mut state = self.lock();
        let now = state.now;
        let window = state.hold_window;
        let charge_id = state.next_id("ch");
        let Some(intent) = state.intents.get_mut(id) else {
            return false;
        };
        if intent.status != "requires_action" {
            return false;
        }
        intent.next_action = None;
        if success {
            let token = intent.payment_method.clone().unwrap_or_default();
            let card = card(&token).unwrap_or(TestCard {
                brand: "visa",
                last4: "3155",
                behaviour: CardBehaviour::ThreeDSecure,
            });
            approve(intent, card, charge_id, now, window);
        } else {
            intent.status = "requires_payment_method";
            intent.last_payment_error = Some(json!({
                "type": "invalid_request_error",
                "code": "payment_intent_authentication_failure",
                "message": "The provided PaymentMethod has failed authentication. You can provide \
                            payment_method_data or a new PaymentMethod to attempt to fulfill \
                            this PaymentIntent again.",
            }));
        }
        true
    }

    /// Stripe lets an uncaptured hold lapse: the PaymentIntent is canceled with
    /// `cancellation_reason: expired` and its charge released.
    pub fn expire(&self, id: &str) -> bool {
        let mut state = self.lock();
        let now = state.now;
        let Some(intent) = state.intents.get_mut(id) else {
            return false;
        };
        if intent.status != "requires_capture" {
            return false;
        }
        intent.status = "canceled";
        intent.cancellation_reason = Some("expired".into());
        intent.canceled_at = Some(now);
        intent.amount_capturable = 0;
        if let Some(charge) = &mut intent.latest_charge {
            charge.amount_refunded = charge.amount - charge.amount_captured;
        }
        true
    }

    /// An event object as Stripe sends it, around `object`.
    pub fn event(&self, kind: &str, object: Value) -> Value {
        let mut state = self.lock();
        let id = state.next_id("evt");
        json!({
            "id": id,
            "object": "event",
            "api_version": null,
            "created": state.now,
            "livemode": false,
            "pending_webhooks": 1,
            "request": { "id": null, "idempotency_key": null },
            "type": kind,
            "data": { "object": object },
        })
    }

    /// Delivers an event to `url`, signed with each of `secrets` at the stub's clock, and
    /// answers the receiver's status.
    ///
    /// # Panics
    /// When the receiver cannot be reached.
    pub async fn deliver(&self, url: &str, secrets: &[&str], event: &Value) -> u16 {
        let payload = serde_json::to_vec(event).expect("an event serializes");
        let header = signature_header(&payload, secrets, self.now());
        reqwest::Client::new()
            .post(url)
            .header("Content-Type", "application/json; charset=utf-8")
            .header("Stripe-Signature", header)
            .body(payload)
            .send()
            .await
            .unwrap_or_else(|e| panic!("delivering to {url}: {e}"))
            .status()
            .as_u16()
    }
}

impl Drop for StripeStub {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl State {
    fn next_id(&mut self, prefix: &str) -> String {
        self.seq += 1;
        format!("{prefix}_stub{:010}", self.seq)
    }
}

fn approve(intent: &mut Intent, card: TestCard, charge_id: String, now: i64, window: i64) {
    let automatic = intent.capture_method != "manual";
    intent.last_payment_error = None;
    intent.next_action = None;
    if automatic {
        intent.status = "succeeded";
        intent.amount_capturable = 0;
        intent.amount_received = intent.amount;
    } else {
        intent.status = "requires_capture";
        intent.amount_capturable = intent.amount;
        intent.amount_received = 0;
    }
    intent.latest_charge = Some(Charge {
        id: charge_id,
        amount: intent.amount,
        amount_captured: intent.amount_received,
        amount_refunded: 0,
        paid: true,
        captured: automatic,
        status: "succeeded",
        capture_before: (!automatic).then_some(now + window),
        amount_authorized: intent.amount,
        brand: card.brand,
        last4: card.last4,
        incremental: intent.request_incremental,
        multicapture: intent.request_multicapture,
        failure_code: None,
    });
}

fn availability(on: bool) -> &'static str {
    if on { "available" } else { "unavailable" }
}

fn render_charge(intent: &Intent, charge: &Charge) -> Value {
    let mut card = json!({
        "brand": charge.brand,
        "last4": charge.last4,
        "amount_authorized": charge.amount_authorized,
        "incremental_authorization": { "status": availability(charge.incremental) },
        "multicapture": { "status": availability(charge.multicapture) },
        "extended_authorization": { "status": "disabled" },
        "overcapture": { "status": "unavailable", "maximum_amount_capturable": charge.amount },
    });
    if let Some(capture_before) = charge.capture_before {
        card["capture_before"] = json!(capture_before);
    }
    json!({
        "id": charge.id,
        "object": "charge",
        "amount": charge.amount,
        "amount_captured": charge.amount_captured,
        "amount_refunded": charge.amount_refunded,
        "captured": charge.captured,
        "currency": intent.currency,
        "paid": charge.paid,
        "status": charge.status,
        "refunded": charge.amount_refunded > 0 && charge.amount_refunded == charge.amount,
        "failure_code": charge.failure_code,
        "payment_intent": intent.id,
        "payment_method": intent.payment_method,
        "payment_method_details": { "type": "card", "card": card },
    })
}

fn render(intent: &Intent, expand: &[String]) -> Value {
    let expanded = |field: &str| expand.iter().any(|e| e == field);
    let latest_charge = match &intent.latest_charge {
        Some(charge) if expanded("latest_charge") => render_charge(intent, charge),
        Some(charge) => json!(charge.id),
        None => Value::Null,
    };
    let payment_method = match (&intent.payment_method, expanded("payment_method")) {
        (Some(token), true) => card(token).map_or_else(
            || json!(token),
            |c| {
                json!({
                    "id": token,
                    "object": "payment_method",
                    "type": "card",
                    "card": { "brand": c.brand, "last4": c.last4 },
                })
            },
        ),
        (Some(token), false) => json!(token),
        (None, _) => Value::Null,
    };
    let metadata: serde_json::Map<String, Value> = intent
        .metadata
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    json!({
        "id": intent.id,
        "object": "payment_intent",
        "amount": intent.amount,
        "amount_capturable": intent.amount_capturable,
        "amount_received": intent.amount_received,
        "currency": intent.currency,
        "capture_method": intent.capture_method,
        "client_secret": intent.client_secret,
        "cancellation_reason": intent.cancellation_reason,
        "canceled_at": intent.canceled_at,
        "created": intent.created,
        "latest_charge": latest_charge,
        "last_payment_error": intent.last_payment_error,
        "livemode": false,
        "metadata": metadata,
        "next_action": intent.next_action,
        "payment_method": payment_method,
        "payment_method_types": ["card"],
        "status": intent.status,
    })
}

fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn expand_of(params: &[(String, String)]) -> Vec<String> {
    params
        .iter()
        .filter(|(k, _)| k.starts_with("expand[") || k == "expand")
        .map(|(_, v)| v.clone())
        .collect()
}

/// The PaymentIntent parameters the stub accepts at creation (Stripe accepts many more).
const CREATE_PARAMS: &[&str] = &[
    "amount",
    "currency",
    "capture_method",
    "payment_method",
    "payment_method_types[0]",
    "confirm",
    "off_session",
    "return_url",
    "payment_method_options[card][request_incremental_authorization]",
    "payment_method_options[card][request_multicapture]",
];

fn route(method: &Method, path: &str) -> Option<(Operation, Option<String>)> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let id = |i: usize| parts.get(i).map(|s| crate::form::percent_decode(s));
    let op = match (method.as_str(), parts.as_slice()) {
        ("POST", ["v1", "payment_intents"]) => Operation::CreatePaymentIntent,
        ("GET", ["v1", "payment_intents", _]) => Operation::RetrievePaymentIntent,
        ("POST", ["v1", "payment_intents", _]) => Operation::UpdatePaymentIntent,
        ("POST", ["v1", "payment_intents", _, "confirm"]) => Operation::ConfirmPaymentIntent,
        ("POST", ["v1", "payment_intents", _, "capture"]) => Operation::CapturePaymentIntent,
        ("POST", ["v1", "payment_intents", _, "cancel"]) => Operation::CancelPaymentIntent,
        ("POST", ["v1", "payment_intents", _, "increment_authorization"]) => {
            Operation::IncrementAuthorization
        }
        ("POST", ["v1", "refunds"]) => Operation::CreateRefund,
        ("GET", ["v1", "payment_methods", _]) => Operation::RetrievePaymentMethod,
        _ => return None,
    };
    Some((op, id(2)))
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn handle(
    axum::extract::State(state): axum::extract::State<Arc<Mutex<State>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Stripe finishes a request whose client hung up; so does the stub (a dropped connection
    // would otherwise cancel the handler mid-way).
    match tokio::spawn(serve(state, method, uri, headers, body)).await {
        Ok(response) => response,
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn serve(
    state: Arc<Mutex<State>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let lock = || state.lock().unwrap_or_else(|e| e.into_inner());
    let Some((operation, id)) = route(&method, uri.path()) else {
        return respond(
            &Answer::error(
                404,
                json!({
                    "type": "invalid_request_error",
                    "message": format!("Unrecognized request URL ({method}: {}).", uri.path()),
                }),
            ),
            false,
        );
    };
    let params = if method == Method::GET {
        decode_form(uri.query().unwrap_or_default())
    } else {
        decode_form(&String::from_utf8_lossy(&body))
    };
    let key = header(&headers, "Idempotency-Key");
    let authorization = header(&headers, "Authorization");
    {
        let mut s = lock();
        s.requests.push(RecordedRequest {
            operation,
            method: method.to_string(),
            path: uri.path().to_owned(),
            idempotency_key: key.clone(),
            stripe_version: header(&headers, "Stripe-Version"),
            authorization: authorization.clone(),
            content_type: header(&headers, "Content-Type"),
            params: params.clone(),
        });
        *s.calls
            .entry((operation, key.clone().unwrap_or_default()))
            .or_default() += 1;
    }
    if !authorization
        .as_deref()
        .is_some_and(|a| a.starts_with("Bearer sk_"))
    {
        return respond(
            &Answer::error(
                401,
                json!({
                    "type": "invalid_request_error",
                    "message": "Invalid API Key provided.",
                }),
            ),
            false,
        );
    }
    let mut sorted = params.clone();
    sorted.sort();
    let fingerprint = format!("{} {} {sorted:?}", method, uri.path());
    if let Some(key) = &key {
        let mut s = lock();
        if let Some(stored) = s.stored.get(key) {
            if stored.fingerprint != fingerprint {
                return respond(
                    &Answer::error(
                        400,
                        json!({
                            "type": "idempotency_error",
                            "message": format!(
                                "Keys for idempotent requests can only be used with the same \
                                 parameters they were first used with. Try using a key other \
                                 than '{key}' if you meant to execute a different request."
                            ),
                        }),
                    ),
                    false,
                );
            }
            let replay = Answer {
                status: stored.status,
                body: serde_json::from_str(&stored.body).unwrap_or(Value::Null),
                should_retry: None,
                retry_after: None,
            };
            return respond(&replay, true);
        }
        if !s.in_flight.insert(key.clone()) {
            let Fault::Error {
                status,
                kind,
                code,
                message,
                ..
            } = Fault::key_in_use()
            else {
                unreachable!("key_in_use is an error");
            };
            return respond(
                &Answer::error(
                    status,
                    json!({ "type": kind, "code": code, "message": message }),
                ),
                false,
            );
        }
    }
    let fault = lock()
        .faults
        .get_mut(&operation)
        .and_then(VecDeque::pop_front);
    let answer = match fault {
        Some(Fault::Error {
            status,
            kind,
            code,
            message,
            should_retry,
            retry_after_seconds,
        }) => Answer {
            status,
            body: json!({ "error": { "type": kind, "code": code, "message": message } }),
            should_retry,
            retry_after: retry_after_seconds,
        },
        Some(Fault::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            act(&mut lock(), operation, id.as_deref(), &params, None)
        }
        other => act(&mut lock(), operation, id.as_deref(), &params, other),
    };
    if let Some(key) = &key {
        let mut s = lock();
        s.in_flight.remove(key);
        if answer.stored() {
            s.stored.insert(
                key.clone(),
                Stored {
                    fingerprint,
                    status: answer.status,
                    body: answer.body.to_string(),
                },
            );
        }
    }
    respond(&answer, false)
}

fn respond(answer: &Answer, replayed: bool) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, axum::Json(answer.body.clone())).into_response();
    let headers = response.headers_mut();
    headers.insert("Request-Id", HeaderValue::from_static("req_stub"));
    if replayed {
        headers.insert("Idempotent-Replayed", HeaderValue::from_static("true"));
    }
    if let Some(retry) = answer.should_retry {
        headers.insert(
            "Stripe-Should-Retry",
            HeaderValue::from_static(if retry { "true" } else { "false" }),
        );
    }
    if let Some(seconds) = answer.retry_after
        && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
    {
        headers.insert("Retry-After", value);
    }
    response
}

fn missing(kind: &str, id: &str, param: Option<&str>) -> Answer {
    let mut error = json!({
        "type": "invalid_request_error",
        "code": "resource_missing",
        "message": format!("No such {kind}: '{id}'"),
    });
    if let Some(param) = param {
        error["param"] = json!(param);
    }
    Answer::error(404, error)
}

fn unexpected_state(intent: &Intent, action: &str) -> Answer {
    let mut answer = invalid(
        "payment_intent_unexpected_state",
        &format!(
            "This PaymentIntent's {action} could not be performed because it has a status of {}.",
            intent.status
        ),
        None,
    );
    answer.body["error"]["payment_intent"] = render(intent, &[]);
    answer
}

fn act(
    s: &mut State,
    operation: Operation,
    id: Option<&str>,
    params: &[(String, String)],
    fault: Option<Fault>,
) -> Answer {
    let expand = expand_of(params);
    let id = id.unwrap_or_default();
    match operation {
        Operation::CreatePaymentIntent => create(s, params, &expand, fault),
        Operation::RetrievePaymentIntent => match s.intents.get(id) {
            Some(intent) => Answer::ok(render(intent, &expand)),
            None => missing("payment_intent", id, Some("intent")),
        },
        Operation::UpdatePaymentIntent => {
            let Some(token) = param(params, "payment_method") else {
                return match s.intents.get(id) {
                    Some(intent) => Answer::ok(render(intent, &expand)),
                    None => missing("payment_intent", id, Some("intent")),
                };
            };
            if card(token).is_none() {
                return invalid(
                    "resource_missing",
                    &format!("No such PaymentMethod: '{token}'"),
                    Some("payment_method"),
                );
            }
            let Some(intent) = s.intents.get_mut(id) else {
                return missing("payment_intent", id, Some("intent"));
            };
            if !matches!(
                intent.status,
                "requires_payment_method" | "requires_confirmation" | "requires_action"
            ) {
                return unexpected_state(intent, "update");
            }
            intent.payment_method = Some(token.to_owned());
            intent.status = "requires_confirmation";
            Answer::ok(render(intent, &expand))
        }
        Operation::ConfirmPaymentIntent => {
            let off_session = param(params, "off_session") == Some("true");
            let return_url = param(params, "return_url").map(str::to_owned);
            confirm(s, id, off_session, return_url, &expand, fault)
        }
        Operation::CapturePaymentIntent => capture(s, id, params, &expand),
        Operation::CancelPaymentIntent => cancel(s, id, params, &expand),
        Operation::IncrementAuthorization => increment(s, id, params, &expand, fault),
        Operation::CreateRefund => create_refund(s, params, fault),
        Operation::RetrievePaymentMethod => match card(id) {
            Some(c) => Answer::ok(json!({
                "id": id,
                "object": "payment_method",
                "type": "card",
                "card": { "brand": c.brand, "last4": c.last4 },
            })),
            None => missing("payment_method", id, Some("payment_method")),
        },
    }
}

fn create(
    s: &mut State,
    params: &[(String, String)],
    expand: &[String],
    fault: Option<Fault>,
) -> Answer {
    for (k, _) in params {
        let known = CREATE_PARAMS.contains(&k.as_str())
            || k.starts_with("metadata[")
            || k.starts_with("expand[");
        if !known {
            return invalid(
                "parameter_unknown",
                &format!("Received unknown parameter: {k}"),
                Some(k),
            );
        }
    }
    let Some(amount) = param(params, "amount").and_then(|a| a.parse::<i64>().ok()) else {
        return invalid(
            "parameter_missing",
            "Missing required param: amount.",
            Some("amount"),
        );
    };
    if amount < 1 {
        return invalid(
            "parameter_invalid_integer",
            "This value must be greater than or equal to 1.",
            Some("amount"),
        );
    }
    let Some(currency) = param(params, "currency") else {
        return invalid(
            "parameter_missing",
            "Missing required param: currency.",
            Some("currency"),
        );
    };
    let capture_method = param(params, "capture_method").unwrap_or("automatic");
    if !matches!(capture_method, "automatic" | "automatic_async" | "manual") {
        return invalid(
            "parameter_invalid_string",
            "Invalid capture_method.",
            Some("capture_method"),
        );
    }
    let token = param(params, "payment_method");
    if let Some(token) = token
        && card(token).is_none()
    {
        return invalid(
            "resource_missing",
            &format!("No such PaymentMethod: '{token}'"),
            Some("payment_method"),
        );
    }
    let id = s.next_id("pi");
    let metadata = params
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix("metadata[")
                .and_then(|rest| rest.strip_suffix(']'))
                .map(|name| (name.to_owned(), v.clone()))
        })
        .collect();
    let intent = Intent {
        client_secret: format!("{id}_secret_stub"),
        id: id.clone(),
        amount,
        currency: currency.to_owned(),
        status: if token.is_some() {
            "requires_confirmation"
        } else {
            "requires_payment_method"
        },
        capture_method: capture_method.to_owned(),
        payment_method: token.map(str::to_owned),
        cancellation_reason: None,
        canceled_at: None,
        amount_capturable: 0,
        amount_received: 0,
        metadata,
        request_incremental: param(
            params,
            "payment_method_options[card][request_incremental_authorization]",
        ) == Some("if_available"),
        request_multicapture: param(params, "payment_method_options[card][request_multicapture]")
            == Some("if_available"),
        last_payment_error: None,
        next_action: None,
        latest_charge: None,
        created: s.now,
        increments: 0,
    };
    s.intents.insert(id.clone(), intent);
    if param(params, "confirm") == Some("true") {
        let off_session = param(params, "off_session") == Some("true");
        let return_url = param(params, "return_url").map(str::to_owned);
        return confirm(s, &id, off_session, return_url, expand, fault);
    }
    match s.intents.get(&id) {
        Some(intent) => Answer::ok(render(intent, expand)),
        None => missing("payment_intent", &id, None),
    }
}

fn confirm(
    s: &mut State,
    id: &str,
    off_session: bool,
    return_url: Option<String>,
    expand: &[String],
    fault: Option<Fault>,
) -> Answer {
    let now = s.now;
    let window = s.hold_window;
    let charge_id = s.next_id("ch");
    let Some(intent) = s.intents.get_mut(id) else {
        return missing("payment_intent", id, Some("intent"));
    };
    if !matches!(
        intent.status,
        "requires_confirmation" | "requires_payment_method"
    ) {
        return unexpected_state(intent, "confirm");
    }
    let Some(token) = intent.payment_method.clone() else {
        return invalid(
            "payment_intent_unexpected_state",
            "You cannot confirm this PaymentIntent because it's missing a payment method.",
            None,
        );
    };
    let Some(test_card) = card(&token) else {
        return invalid(
            "resource_missing",
            &format!("No such PaymentMethod: '{token}'"),
            Some("payment_method"),
        );
    };
    let behaviour = match fault {
        Some(Fault::Decline { decline_code, .. }) => DeclineWith::Code(decline_code),
        _ => match test_card.behaviour {
            CardBehaviour::Decline(code) => DeclineWith::Code(code.to_owned()),
            CardBehaviour::ThreeDSecure if off_session => DeclineWith::AuthenticationRequired,
            CardBehaviour::ThreeDSecure => DeclineWith::ThreeDSecure,
            CardBehaviour::Approve => DeclineWith::Nothing,
        },
    };
    match behaviour {
        DeclineWith::Nothing => {
            approve(intent, test_card, charge_id, now, window);
            Answer::ok(render(intent, expand))
        }
        DeclineWith::ThreeDSecure => {
            intent.status = "requires_action";
            intent.next_action = Some(match &return_url {
                Some(return_url) => json!({
                    "type": "redirect_to_url",
                    "redirect_to_url": {
                        "url": format!("https://hooks.stripe.test/3d_secure_2/authenticate/{id}"),
                        "return_url": return_url,
                    },
                }),
                None => json!({ "type": "use_stripe_sdk", "use_stripe_sdk": {} }),
            });
            Answer::ok(render(intent, expand))
        }
        DeclineWith::AuthenticationRequired => {
            let error = json!({
                "type": "card_error",
                "code": "authentication_required",
                "decline_code": "authentication_required",
                "message": "Your card was declined. This transaction requires authentication.",
                "charge": charge_id,
            });
            intent.status = "requires_payment_method";
            intent.last_payment_error = Some(error.clone());
            let mut body = error;
            body["payment_intent"] = render(intent, &[]);
            Answer::error(402, body)
        }
        DeclineWith::Code(decline_code) => {
            let error = json!({
                "type": "card_error",
                "code": "card_declined",
                "decline_code": decline_code,
                "message": "Your card was declined.",
                "charge": charge_id,
            });
            intent.status = "requires_payment_method";
            intent.last_payment_error = Some(error.clone());
            intent.latest_charge = Some(Charge {
                id: charge_id,
                amount: intent.amount,
                amount_captured: 0,
                amount_refunded: 0,
                paid: false,
                captured: false,
                status: "failed",
                capture_before: None,
                amount_authorized: 0,
                brand: test_card.brand,
                last4: test_card.last4,
                incremental: false,
                multicapture: false,
                failure_code: Some("card_declined".into()),
            });
            let mut body = error;
            body["payment_intent"] = render(intent, &[]);
            Answer::error(402, body)
        }
    }
}

enum DeclineWith {
    Nothing,
    ThreeDSecure,
    AuthenticationRequired,
    Code(String),
}

fn capture(s: &mut State, id: &str, params: &[(String, String)], expand: &[String]) -> Answer {
    let Some(intent) = s.intents.get_mut(id) else {
        return missing("payment_intent", id, Some("intent"));
    };
    if intent.status != "requires_capture" {
        return unexpected_state(intent, "capture");
    }
    let amount = match param(params, "amount_to_capture") {
        Some(a) => match a.parse::<i64>() {
            Ok(a) if a >= 1 => a,
            _ => {
                return invalid(
                    "parameter_invalid_integer",
                    "Invalid integer.",
                    Some("amount_to_capture"),
                );
            }
        },
        None => intent.amount_capturable,
    };
    let final_capture = match param(params, "final_capture") {
        None | Some("true") => true,
        Some("false") => false,
        Some(_) => {
            return invalid(
                "parameter_invalid_boolean",
                "Invalid boolean.",
                Some("final_capture"),
            );
        }
    };
    if !final_capture && !intent.request_multicapture {
        return Answer::error(
            400,
            json!({
                "type": "invalid_request_error",
                "message": "final_capture can only be false when multicapture is available for \
                            this PaymentIntent.",
                "param": "final_capture",
            }),
        );
    }
    if amount > intent.amount_capturable {
        return invalid(
            "amount_too_large",
            "The amount to capture is greater than the amount capturable.",
            Some("amount_to_capture"),
        );
    }
    intent.amount_received += amount;
    intent.amount_capturable = if final_capture {
        0
    } else {
        intent.amount_capturable - amount
    };
    if intent.amount_capturable == 0 {
        intent.status = "succeeded";
    }
    if let Some(charge) = &mut intent.latest_charge {
        charge.amount_captured = intent.amount_received;
        charge.captured = true;
    }
    Answer::ok(render(intent, expand))
}

fn cancel(s: &mut State, id: &str, params: &[(String, String)], expand: &[String]) -> Answer {
    let now = s.now;
    let reason = param(params, "cancellation_reason");
    if let Some(reason) = reason
        && !matches!(
            reason,
            "duplicate" | "fraudulent" | "requested_by_customer" | "abandoned"
        )
    {
        return invalid(
            "parameter_invalid_string",
            "Invalid cancellation_reason.",
            Some("cancellation_reason"),
        );
    }
    let Some(intent) = s.intents.get_mut(id) else {
        return missing("payment_intent", id, Some("intent"));
    };
    if !matches!(
        intent.status,
        "requires_payment_method"
            | "requires_confirmation"
            | "requires_action"
            | "requires_capture"
    ) {
        return unexpected_state(intent, "cancel");
    }
    intent.status = "canceled";
    intent.cancellation_reason = reason.map(str::to_owned);
    intent.canceled_at = Some(now);
    intent.amount_capturable = 0;
    intent.next_action = None;
    if let Some(charge) = &mut intent.latest_charge
        && charge.paid
    {
        charge.amount_refunded = charge.amount - charge.amount_captured;
    }
    Answer::ok(render(intent, expand))
}

fn increment(
    s: &mut State,
    id: &str,
    params: &[(String, String)],
    expand: &[String],
    fault: Option<Fault>,
) -> Answer {
    let Some(intent) = s.intents.get_mut(id) else {
        return missing("payment_intent", id, Some("intent"));
    };
    if intent.status != "requires_capture" {
        return unexpected_state(intent, "increment_authorization");
    }
    let incremental = intent.latest_charge.as_ref().is_some_and(|c| c.incremental);
    if !incremental {
        return invalid(
            "incremental_authorization_unavailable",
            "Incremental authorization is not available for this PaymentIntent.",
            None,
        );
    }
    let Some(amount) = param(params, "amount").and_then(|a| a.parse::<i64>().ok()) else {
        return invalid(
            "parameter_missing",
            "Missing required param: amount.",
            Some("amount"),
        );
    };
    if amount <= intent.amount {
        return invalid(
            "parameter_invalid_integer",
            "The amount must be greater than the PaymentIntent's current amount.",
            Some("amount"),
        );
    }
    if intent.increments >= 10 {
        return invalid(
            "incremental_authorization_attempts_exceeded",
            "This PaymentIntent has had too many incremental authorization attempts.",
            None,
        );
    }
    intent.increments += 1;
    if let Some(Fault::Decline {
        decline_code,
        message,
    }) = fault
    {
        // A declined increment leaves the hold as it was.
        let mut error = json!({
            "type": "card_error",
            "code": "card_declined",
            "decline_code": decline_code,
            "message": message,
        });
        error["payment_intent"] = render(intent, &[]);
        return Answer::error(402, error);
    }
    let grown = amount - intent.amount;
    intent.amount = amount;
    intent.amount_capturable += grown;
    if let Some(charge) = &mut intent.latest_charge {
        charge.amount = amount;
        charge.amount_authorized = amount;
    }
    Answer::ok(render(intent, expand))
}

fn create_refund(s: &mut State, params: &[(String, String)], fault: Option<Fault>) -> Answer {
    if let Some(reason) = param(params, "reason")
        && !matches!(reason, "duplicate" | "fraudulent" | "requested_by_customer")
    {
        return invalid(
            "parameter_invalid_string",
            "Invalid reason.",
            Some("reason"),
        );
    }
    let Some(pi) = param(params, "payment_intent") else {
        return invalid(
            "parameter_missing",
            "One of the following params should be provided for this request: payment_intent \
             or charge.",
            None,
        );
    };
    let now = s.now;
    let refund_id = s.next_id("re");
    let Some(intent) = s.intents.get_mut(pi) else {
        return missing("payment_intent", pi, Some("payment_intent"));
    };
    let Some(charge) = intent.latest_charge.as_mut().filter(|c| c.captured) else {
        return invalid(
            "charge_not_refundable",
            "This PaymentIntent does not have a successful charge to refund.",
            Some("payment_intent"),
        );
    };
    let refundable = charge.amount_captured - charge.amount_refunded_by_refunds();
    let amount = match param(params, "amount") {
        Some(a) => a.parse::<i64>().unwrap_or(0),
        None => refundable,
    };
    if refundable <= 0 {
        return invalid(
            "charge_already_refunded",
            &format!("Charge {} has already been refunded.", charge.id),
            None,
        );
    }
    if amount < 1 || amount > refundable {
        return invalid(
            "amount_too_large",
            &format!(
                "Refund amount ({amount}) is greater than unrefunded amount on charge ({refundable})"
            ),
            Some("amount"),
        );
    }
    let status = match fault {
        Some(Fault::RefundStatus(status)) => status,
        _ => "succeeded".to_owned(),
    };
    if status != "failed" && status != "canceled" {
        charge.amount_refunded += amount;
    }
    let refund = json!({
        "id": refund_id,
        "object": "refund",
        "amount": amount,
        "charge": charge.id,
        "created": now,
        "currency": intent.currency,
        "payment_intent": intent.id,
        "reason": param(params, "reason"),
        "status": status,
        "failure_reason": (status == "failed").then_some("lost_or_stolen_card"),
    });
    s.refunds.insert(refund_id, refund.clone());
    Answer::ok(refund)
}

impl Charge {
    /// What refunds took back (not the uncaptured remainder a cancel or partial capture
    /// released).
    fn amount_refunded_by_refunds(&self) -> i64 {
        if self.captured {
            self.amount_refunded
        } else {
            0
        }
    }
}
