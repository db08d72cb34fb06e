//! Checkout sessions: a hosted page that takes one payment for a set amount, always captured
//! automatically (the contract: "Flint-hosted Checkout Sessions and Payment Links always capture
//! automatically").
//!
//! A session is `open` until it is paid (`complete`) or it lapses (`expired`, at `expires_at` or
//! when the merchant expires it). The page pays with an ordinary payment intent, created on the
//! buyer's first attempt with `source: "checkout_session"` and reused after a decline; the
//! session and that intent move together in one unit of work, so a session is complete exactly
//! when its intent has succeeded.

use serde::{Deserialize, Serialize};

use crate::error::{ErrorCode, Rejection};
use crate::event_type::EventType;
use crate::intent::{
    self, CaptureMethod, CreateRequest, NewIntent, PaymentIntent, Status, TEXT_CHARS_MAX,
    Transition,
};
use crate::metadata::{self, Metadata};
use crate::money::{Limits, Money, RawMoney};
use crate::time::SECONDS_PER_DAY;
use crate::{Scope, Timestamp};

/// The `source` of an intent a checkout session's page created.
pub const INTENT_SOURCE: &str = "checkout_session";

/// How long a session stays open unless the request says otherwise: 24 hours.
pub const EXPIRES_IN_SECONDS_DEFAULT: i64 = SECONDS_PER_DAY;
/// The longest a session may stay open: 7 days.
pub const EXPIRES_IN_SECONDS_MAX: i64 = 7 * SECONDS_PER_DAY;
/// The shortest: one minute.
pub const EXPIRES_IN_SECONDS_MIN: i64 = 60;
/// The longest `success_url` or `cancel_url` accepted.
pub const URL_CHARS_MAX: usize = 2048;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    Open,
    Complete,
    Expired,
}

impl SessionStatus {
    pub const ALL: &'static [SessionStatus] = &[
        SessionStatus::Open,
        SessionStatus::Complete,
        SessionStatus::Expired,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Open => "open",
            SessionStatus::Complete => "complete",
            SessionStatus::Expired => "expired",
        }
    }

    pub fn parse(name: &str) -> Option<SessionStatus> {
        SessionStatus::ALL
            .iter()
            .copied()
            .find(|s| s.as_str() == name)
    }
}

/// A checkout session as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutSession {
    pub id: String,
    pub scope: Scope,
    /// Bumped by every change; the store refuses a write whose base version is stale.
    pub version: u64,
    pub status: SessionStatus,
    pub amount: Money,
    /// The hosted page buyers pay on.
    pub url: String,
    /// What is being paid for, shown on the page.
    pub description: Option<String>,
    pub success_url: String,
    pub cancel_url: String,
    pub customer_id: Option<String>,
    pub reference: Option<String>,
    #[serde(default)]
    pub metadata: Metadata,
    /// The intent that paid the session; `None` until it is complete.
    pub payment_intent_id: Option<String>,
    /// The intent the page pays with: created on the first attempt, reused after a decline.
    #[serde(default)]
    pub attempt_intent_id: Option<String>,
    pub expires_at: Timestamp,
    pub completed_at: Option<Timestamp>,
    pub expired_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl CheckoutSession {
    /// True once the session's time is up and it was not paid: it takes no payment, whether or
    /// not the worker has recorded its expiry yet.
    pub fn is_due_for_expiry(&self, now: Timestamp) -> bool {
        self.status == SessionStatus::Open && now >= self.expires_at
    }

    /// The session as it stands at `now`: open past its time reads as expired.
    pub fn as_of(&self, now: Timestamp) -> CheckoutSession {
        let mut view = self.clone();
        if view.is_due_for_expiry(now) {
            view.status = SessionStatus::Expired;
            view.expired_at = Some(view.expires_at);
        }
        view
    }

    fn next_version(&self, now: Timestamp) -> CheckoutSession {
        let mut next = self.clone();
        next.version += 1;
        next.updated_at = now;
        next
    }
}

/// A change to a session: its next state and the events to record with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionTransition {
    pub session: CheckoutSession,
    pub events: Vec<EventType>,
}

/// `POST /v1/checkout-sessions` as the domain sees it.
#[derive(Debug, Clone, Default)]
pub struct CreateSession {
    pub amount: Option<RawMoney>,
    pub success_url: Option<String>,
    pub cancel_url: Option<String>,
    pub capture_method: Option<String>,
    pub description: Option<String>,
    pub customer_id: Option<String>,
    pub reference: Option<String>,
    pub metadata: Metadata,
    pub expires_in_seconds: Option<i64>,
}

/// Hosted surfaces always capture automatically: `manual` is refused with the surface's own
/// code, `automatic` changes nothing, anything else is not a capture method.
pub fn check_automatic_capture(
    capture_method: Option<&str>,
    manual_refused: ErrorCode,
    surface: &str,
) -> Result<(), Rejection> {
    match capture_method.map(CaptureMethod::parse) {
        None | Some(Some(CaptureMethod::Automatic)) => Ok(()),
        Some(Some(CaptureMethod::Manual)) => Err(Rejection::param(
            manual_refused,
            "capture_method",
            format!("{surface} always capture automatically; use a payment intent for a hold"),
        )),
        Some(None) => Err(Rejection::param(
            ErrorCode::InvalidCaptureMethod,
            "capture_method",
            "capture_method takes automatic or manual only",
        )),
    }
}

/// An absolute `http(s)` URL of reasonable length, with nothing a browser would rewrite.
pub fn check_url(url: Option<&str>, param: &str) -> Result<String, Rejection> {
    let url = url.ok_or_else(|| {
        Rejection::param(
            ErrorCode::MissingParameter,
            param,
            format!("{param} is required"),
        )
    })?;
    let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
    let host = url.split_once("://").map_or("", |(_, rest)| rest);
    if !scheme_ok
        || host.is_empty()
        || host.starts_with('/')
        || url.len() > URL_CHARS_MAX
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(Rejection::param(
            ErrorCode::InvalidParameter,
            param,
            format!(
                "{param} must be an absolute http or https URL of at most {URL_CHARS_MAX} characters"
            ),
        ));
    }
    Ok(url.to_owned())
}

fn check_text(value: Option<&String>, param: &str) -> Result<(), Rejection> {
    if value.is_some_and(|v| v.chars().count() > TEXT_CHARS_MAX) {
        return Err(Rejection::param(
            ErrorCode::InvalidParameter,
            param,
            format!("{param} is at most {TEXT_CHARS_MAX} characters"),
        ));
    }
    Ok(())
}

/// Validates a creation request and builds the new session, `open` until `expires_at`. The
/// checks run in this order: capture method, amount, URLs, lifetime, texts, metadata.
pub fn create_session(
    id: String,
    scope: Scope,
    url: String,
    req: CreateSession,
    now: Timestamp,
) -> Result<SessionTransition, Rejection> {
    check_automatic_capture(
        req.capture_method.as_deref(),
        ErrorCode::ManualCaptureNotAllowedWithCheckout,
        "checkout sessions",
    )?;
    let raw = req.amount.as_ref().ok_or_else(|| {
        Rejection::param(
            ErrorCode::MissingParameter,
            "amount_money",
            "amount_money is required",
        )
    })?;
    let any_currency = Limits {
        currency: None,
        max: None,
    };
    let amount = raw.check("amount_money", any_currency, &intent::CREATE_AMOUNT)?;
    let success_url = check_url(req.success_url.as_deref(), "success_url")?;
    let cancel_url = check_url(req.cancel_url.as_deref(), "cancel_url")?;
    let expires_in = req.expires_in_seconds.unwrap_or(EXPIRES_IN_SECONDS_DEFAULT);
    if !(EXPIRES_IN_SECONDS_MIN..=EXPIRES_IN_SECONDS_MAX).contains(&expires_in) {
        return Err(Rejection::param(
            ErrorCode::InvalidParameter,
            "expires_in_seconds",
            format!(
                "expires_in_seconds is from {EXPIRES_IN_SECONDS_MIN} to {EXPIRES_IN_SECONDS_MAX} (7 days)"
            ),
        ));
    }
    check_text(req.description.as_ref(), "description")?;
    check_text(req.reference.as_ref(), "reference")?;
    metadata::validate(&req.metadata, "metadata")?;
    let session = CheckoutSession {
        id,
        scope,
        version: 1,
        status: SessionStatus::Open,
        amount,
        url,
        description: req.description,
        success_url,
        cancel_url,
        customer_id: req.customer_id,
        reference: req.reference,
        metadata: req.metadata,
        payment_intent_id: None,
        attempt_intent_id: None,
        expires_at: now.plus_seconds(expires_in),
        completed_at: None,
        expired_at: None,
        created_at: now,
        updated_at: now,
    };
    Ok(SessionTransition {
        session,
        events: Vec::new(),
    })
}

/// The session is not open: paid, or lapsed.
fn not_open(session: &CheckoutSession) -> Rejection {
    let why = match session.status {
        SessionStatus::Complete => "is already paid",
        SessionStatus::Expired => "has expired",
        SessionStatus::Open => "is open",
    };
    Rejection::new(
        ErrorCode::CheckoutSessionNotOpen,
        format!("this checkout session {why}; it takes no payment"),
    )
}

/// What a buyer's payment attempt does, decided on the session and the intent of its last
/// attempt (`None` if there was none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayPlan {
    /// Create the session's intent ([`new_intent`]) and authorize it.
    NewIntent,
    /// Authorize the intent of an earlier, declined attempt again, with another card.
    Retry,
    /// The last attempt waits for the buyer to authenticate (3D Secure): finish that first.
    AwaitingAuthentication,
}

/// May the buyer pay now, and how? Only an open session takes a payment.
pub fn decide_pay(
    session: &CheckoutSession,
    attempt: Option<&PaymentIntent>,
    now: Timestamp,
) -> Result<PayPlan, Rejection> {
    let session = session.as_of(now);
    if session.status != SessionStatus::Open {
        return Err(not_open(&session));
    }
    Ok(match attempt.map(|i| i.status) {
        None => PayPlan::NewIntent,
        Some(Status::RequiresPaymentMethod) => PayPlan::Retry,
        Some(Status::RequiresAction) => PayPlan::AwaitingAuthentication,
        // A canceled or expired attempt cannot be confirmed again: start a fresh one.
        Some(_) => PayPlan::NewIntent,
    })
}

/// May the buyer finish (or fail) the authentication of the session's current attempt?
pub fn decide_authenticate(
    session: &CheckoutSession,
    attempt: Option<&PaymentIntent>,
    now: Timestamp,
) -> Result<(), Rejection> {
    let session = session.as_of(now);
    if session.status != SessionStatus::Open {
        return Err(not_open(&session));
    }
    match attempt {
        Some(intent) => intent::check_authenticate(intent),
        None => Err(Rejection::new(
            ErrorCode::InvalidStatusForAuthentication,
            "this checkout session has no payment awaiting authentication",
        )),
    }
}

/// The intent a session's page pays with: the session's amount, customer, description,
/// reference and metadata, captured automatically, `source: "checkout_session"`.
pub fn new_intent(
    session: &CheckoutSession,
    new: NewIntent,
    source: &str,
) -> Result<Transition, Rejection> {
    let req = CreateRequest {
        capture_method: Some(CaptureMethod::Automatic.as_str().into()),
        description: session.description.clone(),
        reference: session.reference.clone(),
        metadata: session.metadata.clone(),
        customer_id: session.customer_id.clone(),
        ..CreateRequest::default()
    };
    let mut created = intent::create_for(new, req, session.amount)?;
    created.intent.source = source.to_owned();
    Ok(created)
}

/// Records an attempt's outcome on the session: its intent becomes the session's attempt, and
/// an intent that succeeded completes the session.
pub fn apply_attempt(
    session: &CheckoutSession,
    intent: &PaymentIntent,
    now: Timestamp,
) -> SessionTransition {
    let mut next = session.next_version(now);
    next.attempt_intent_id = Some(intent.id.clone());
    let mut events = Vec::new();
    if intent.status == Status::Succeeded {
        next.status = SessionStatus::Complete;
        next.payment_intent_id = Some(intent.id.clone());
        next.completed_at = Some(now);
        events.push(EventType::CheckoutSessionCompleted);
    }
    SessionTransition {
        session: next,
        events,
    }
}

/// `POST /v1/checkout-sessions/{id}/expire`: only an open session can be expired.
pub fn decide_expire(
    session: &CheckoutSession,
    now: Timestamp,
) -> Result<SessionTransition, Rejection> {
    let view = session.as_of(now);
    if view.status != SessionStatus::Open {
        return Err(not_open(&view));
    }
    Ok(expire(session, now, now))
}

/// Records the expiry of a session whose time is up (the worker's pass); `None` if it is not due.
pub fn apply_expiry(session: &CheckoutSession, now: Timestamp) -> Option<SessionTransition> {
    session
        .is_due_for_expiry(now)
        .then(|| expire(session, session.expires_at, now))
}

fn expire(session: &CheckoutSession, at: Timestamp, now: Timestamp) -> SessionTransition {
    let mut next = session.next_version(now);
    next.status = SessionStatus::Expired;
    next.expired_at = Some(at);
    SessionTransition {
        session: next,
        events: vec![EventType::CheckoutSessionExpired],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Currency;

    fn scope() -> Scope {
        Scope {
            merchant_id: "mch_1".into(),
            livemode: false,
        }
    }

    fn request() -> CreateSession {
        CreateSession {
            amount: Some(RawMoney {
                amount: 2500,
                currency: "USD".into(),
            }),
            success_url: Some("https://shop.example/thanks".into()),
            cancel_url: Some("https://shop.example/cart".into()),
            ..CreateSession::default()
        }
    }

    fn open(now: i64) -> CheckoutSession {
        create_session(
            "cs_1".into(),
            scope(),
            "/pay/cs_1".into(),
            request(),
            Timestamp(now),
        )
        .unwrap()
        .session
    }

    fn new(id: &str) -> NewIntent {
        NewIntent {
            id: id.into(),
            scope: scope(),
            client_secret_hash: "h".into(),
            has_payment_source: false,
            expiry_warning_lead_seconds: None,
            now: Timestamp(10),
        }
    }

    #[test]
    fn creation_refuses_manual_capture_with_its_own_code_first() {
        let mut req = request();
        req.capture_method = Some("manual".into());
        req.amount = None;
        let refused = create_session(
            "cs_1".into(),
            scope(),
            "/pay/cs_1".into(),
            req,
            Timestamp(0),
        )
        .unwrap_err();
        assert_eq!(refused.code, ErrorCode::ManualCaptureNotAllowedWithCheckout);
        assert_eq!(refused.param.as_deref(), Some("capture_method"));
        let mut req = request();
        req.capture_method = Some("automatic".into());
        assert!(
            create_session(
                "cs_1".into(),
                scope(),
                "/pay/cs_1".into(),
                req,
                Timestamp(0)
            )
            .is_ok()
        );
        let mut req = request();
        req.capture_method = Some("later".into());
        let refused = create_session(
            "cs_1".into(),
            scope(),
            "/pay/cs_1".into(),
            req,
            Timestamp(0),
        )
        .unwrap_err();
        assert_eq!(refused.code, ErrorCode::InvalidCaptureMethod);
    }

    #[test]
    fn creation_checks_amount_urls_and_lifetime() {
        type Change = Box<dyn Fn(&mut CreateSession)>;
        let cases: Vec<(Change, ErrorCode, &str)> = vec![
            (
                Box::new(|r| r.amount = None),
                ErrorCode::MissingParameter,
                "amount_money",
            ),
            (
                Box::new(|r| r.success_url = Some("javascript:alert(1)".into())),
                ErrorCode::InvalidParameter,
                "success_url",
            ),
            (
                Box::new(|r| r.cancel_url = None),
                ErrorCode::MissingParameter,
                "cancel_url",
            ),
            (
                Box::new(|r| r.expires_in_seconds = Some(EXPIRES_IN_SECONDS_MAX + 1)),
                ErrorCode::InvalidParameter,
                "expires_in_seconds",
            ),
            (
                Box::new(|r| r.expires_in_seconds = Some(0)),
                ErrorCode::InvalidParameter,
                "expires_in_seconds",
            ),
        ];
        for (change, code, param) in cases {
            let mut req = request();
            change(&mut req);
            let refused = create_session(
                "cs_1".into(),
                scope(),
                "/pay/cs_1".into(),
                req,
                Timestamp(0),
            )
            .unwrap_err();
            assert_eq!(
                (refused.code, refused.param.as_deref()),
                (code, Some(param))
            );
        }
        let session = open(100);
        assert_eq!(session.expires_at, Timestamp(100 + SECONDS_PER_DAY));
        assert_eq!(
            session.amount,
            Money::new(2500, Currency::parse("USD").unwrap())
        );
    }

    #[test]
    fn an_open_session_lapses_at_its_time_and_takes_no_payment_after() {
        let session = open(0);
        let end = session.expires_at.seconds();
        assert_eq!(
            decide_pay(&session, None, Timestamp(end - 1)),
            Ok(PayPlan::NewIntent)
        );
        assert_eq!(session.as_of(Timestamp(end)).status, SessionStatus::Expired);
        let refused = decide_pay(&session, None, Timestamp(end)).unwrap_err();
        assert_eq!(refused.code, ErrorCode::CheckoutSessionNotOpen);
        let expired = apply_expiry(&session, Timestamp(end + 5)).unwrap();
        assert_eq!(expired.session.expired_at, Some(Timestamp(end)));
        assert_eq!(expired.events, vec![EventType::CheckoutSessionExpired]);
        assert!(apply_expiry(&session, Timestamp(end - 1)).is_none());
    }

    #[test]
    fn a_paid_attempt_completes_the_session_once() {
        let session = open(0);
        let created = new_intent(&session, new("pi_1"), INTENT_SOURCE).unwrap();
        assert_eq!(created.intent.source, "checkout_session");
        assert_eq!(created.intent.capture_method, CaptureMethod::Automatic);
        assert_eq!(created.intent.amount, session.amount);
        let declined = apply_attempt(&session, &created.intent, Timestamp(5));
        assert_eq!(declined.session.status, SessionStatus::Open);
        assert_eq!(declined.session.payment_intent_id, None);
        assert_eq!(declined.session.attempt_intent_id.as_deref(), Some("pi_1"));
        assert_eq!(
            decide_pay(&declined.session, Some(&created.intent), Timestamp(6)),
            Ok(PayPlan::Retry)
        );
        let mut paid = created.intent;
        paid.status = Status::Succeeded;
        let done = apply_attempt(&declined.session, &paid, Timestamp(7));
        assert_eq!(done.session.status, SessionStatus::Complete);
        assert_eq!(done.session.payment_intent_id.as_deref(), Some("pi_1"));
        assert_eq!(done.events, vec![EventType::CheckoutSessionCompleted]);
        assert_eq!(done.session.version, 3);
        let refused = decide_pay(&done.session, Some(&paid), Timestamp(8)).unwrap_err();
        assert_eq!(refused.code, ErrorCode::CheckoutSessionNotOpen);
        let refused = decide_expire(&done.session, Timestamp(8)).unwrap_err();
        assert_eq!(refused.code, ErrorCode::CheckoutSessionNotOpen);
        assert!(apply_expiry(&done.session, Timestamp(SECONDS_PER_DAY * 2)).is_none());
    }

    #[test]
    fn an_attempt_awaiting_authentication_is_finished_first() {
        let session = open(0);
        let mut intent = new_intent(&session, new("pi_1"), INTENT_SOURCE)
            .unwrap()
            .intent;
        intent.status = Status::RequiresAction;
        assert_eq!(
            decide_pay(&session, Some(&intent), Timestamp(1)),
            Ok(PayPlan::AwaitingAuthentication)
        );
        assert!(decide_authenticate(&session, Some(&intent), Timestamp(1)).is_ok());
        let refused = decide_authenticate(&session, None, Timestamp(1)).unwrap_err();
        assert_eq!(refused.code, ErrorCode::InvalidStatusForAuthentication);
    }
}
