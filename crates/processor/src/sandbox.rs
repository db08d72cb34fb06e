//! The sandbox card processor: test tokens with fixed, documented behaviour. No network and no
//! effect outside this process. It keeps a bounded record of the payments it saw, so that
//! [`Processor::retrieve`] can answer and a repeated keyed call replays its first answer; every
//! operation answers as documented whether or not a payment is still in that record (a restart
//! forgets it).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;
use holdfast_domain::Timestamp;
use holdfast_domain::intent::Card;
use holdfast_domain::time::SECONDS_PER_DAY;

use crate::{
    ActionRequired, AuthenticateCall, AuthorizationPurpose, AuthorizeCall, CaptureCall,
    CaptureMode, Captured, Decline, DeclineKind, Hold, HoldCapabilities, IncrementCall, NextAction,
    Outcome, PaymentStatus, PaymentView, PrepareCall, Prepared, Processor, ProcessorError,
    RefundCall, Refunded, RetrieveCall, TokenInfo, VoidCall, Voided,
};

/// How long a sandbox hold lasts: seven days, ending one second before the seventh anniversary.
pub const HOLD_SECONDS: i64 = 7 * SECONDS_PER_DAY - 1;

/// How many payments (and keyed answers) the sandbox remembers; the oldest are forgotten first.
const RECORD_MAX: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    Approve,
    Decline(&'static str),
    ThreeDSecure,
    CaptureTimeoutOnce,
    RefundFails,
    /// Approves the first hold; declines every re-authorization.
    ReauthorizationDeclined,
    /// Approves holds; declines every increment.
    IncrementDeclined,
}

struct TestCard {
    token: &'static str,
    brand: &'static str,
    last_four: &'static str,
    behaviour: Behaviour,
}

const CARDS: &[TestCard] = &[
    TestCard {
        token: "pm_card_visa",
        brand: "visa",
        last_four: "4242",
        behaviour: Behaviour::Approve,
    },
    TestCard {
        token: "pm_card_mastercard",
        brand: "mastercard",
        last_four: "4444",
        behaviour: Behaviour::Approve,
    },
    TestCard {
        token: "pm_card_amex",
        brand: "amex",
        last_four: "8431",
        behaviour: Behaviour::Approve,
    },
    TestCard {
        token: "pm_card_chargeDeclined",
        brand: "visa",
        last_four: "0002",
        behaviour: Behaviour::Decline("generic_decline"),
    },
    TestCard {
        token: "pm_card_chargeDeclinedInsufficientFunds",
        brand: "visa",
        last_four: "9995",
        behaviour: Behaviour::Decline("insufficient_funds"),
    },
    TestCard {
        token: "pm_card_threeDSecure2Required",
        brand: "visa",
        last_four: "3155",
        behaviour: Behaviour::ThreeDSecure,
    },
    TestCard {
        token: "pm_card_authenticationRequired",
        brand: "visa",
        last_four: "3184",
        behaviour: Behaviour::ThreeDSecure,
    },
    TestCard {
        token: "pm_card_captureTimeoutOnce",
        brand: "visa",
        last_four: "0077",
        behaviour: Behaviour::CaptureTimeoutOnce,
    },
    TestCard {
        token: "pm_card_refundFails",
        brand: "visa",
        last_four: "5556",
        behaviour: Behaviour::RefundFails,
    },
    TestCard {
        token: "pm_card_reauthorizationDeclined",
        brand: "visa",
        last_four: "0119",
        behaviour: Behaviour::ReauthorizationDeclined,
    },
    TestCard {
        token: "pm_card_incrementDeclined",
        brand: "visa",
        last_four: "0127",
        behaviour: Behaviour::IncrementDeclined,
    },
];

/// A keyed call's first answer, replayed to a repeat with the same key.
#[derive(Debug, Clone)]
enum Answer {
    Hold(Outcome<Hold>),
    Captured(Outcome<Captured>),
    Voided(Outcome<Voided>),
    Refunded(Outcome<Refunded>),
}

/// A bounded map: the oldest entries go first once it is full.
#[derive(Debug)]
struct Bounded<V> {
    map: HashMap<String, V>,
    order: VecDeque<String>,
}

impl<V> Default for Bounded<V> {
    fn default() -> Self {
        Bounded {
            map: HashMap::new(),
            order: VecDeque::new(),
        }
    }
}

impl<V> Bounded<V> {
    fn get(&self, key: &str) -> Option<&V> {
        self.map.get(key)
    }

    fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.map.get_mut(key)
    }

    fn insert(&mut self, key: String, value: V) {
        if self.map.insert(key.clone(), value).is_none() {
            self.order.push_back(key);
            while self.order.len() > RECORD_MAX {
                if let Some(oldest) = self.order.pop_front() {
                    self.map.remove(&oldest);
                }
            }
        }
    }
}

#[derive(Debug, Default)]
struct Record {
    payments: Bounded<PaymentView>,
    answers: Bounded<Answer>,
}

#[derive(Debug, Default)]
pub struct Sandbox {
    /// Authorizations whose first capture already timed out (`pm_card_captureTimeoutOnce`).
    timed_out: Mutex<HashSet<String>>,
    record: Mutex<Record>,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox::default()
    }

    fn record(&self) -> Result<std::sync::MutexGuard<'_, Record>, ProcessorError> {
        self.record
            .lock()
            .map_err(|_| ProcessorError::unavailable("sandbox state poisoned"))
    }

    /// Replays the first answer to `key`, or computes, records and returns a new one.
    fn keyed(
        &self,
        key: &str,
        replay: impl Fn(&Answer) -> Option<Answer>,
        act: impl FnOnce(&mut Record) -> Answer,
    ) -> Result<Answer, ProcessorError> {
        let mut record = self.record()?;
        if let Some(first) = record.answers.get(key).and_then(replay) {
            return Ok(first);
        }
        let answer = act(&mut record);
        record.answers.insert(key.to_owned(), answer.clone());
        Ok(answer)
    }
}

/// The card numbers a hosted page takes in test mode, each with the test token it stands for.
/// They are the well-known test numbers; a real card number is never one of them.
const TEST_CARD_NUMBERS: &[(&str, &str)] = &[
    ("4242424242424242", "pm_card_visa"),
    ("5555555555554444", "pm_card_mastercard"),
    ("4000000000000002", "pm_card_chargeDeclined"),
    (
        "4000000000009995",
        "pm_card_chargeDeclinedInsufficientFunds",
    ),
    ("4000002760003184", "pm_card_authenticationRequired"),
    ("4000002500003155", "pm_card_threeDSecure2Required"),
];

/// The sandbox token a test card number stands for (digits only), if it is one.
pub fn test_card_token(number: &str) -> Option<&'static str> {
    TEST_CARD_NUMBERS
        .iter()
        .find(|(n, _)| *n == number)
        .map(|(_, token)| *token)
}

fn card(token: &str) -> Result<&'static TestCard, ProcessorError> {
    CARDS
        .iter()
        .find(|c| c.token == token)
        .ok_or(ProcessorError::InvalidToken)
}

fn shown(card: &TestCard) -> Card {
    Card {
        brand: card.brand.into(),
        last_four: card.last_four.into(),
    }
}

/// The processor's handle on an authorization: which test card, for which intent. A
/// re-authorization is a new hold, so its handle also names the call that placed it.
fn processor_ref(card: &TestCard, call: &AuthorizeCall) -> String {
    let key = &call.idempotency_key;
    let intent = key.split(':').next().unwrap_or(key);
    match call.purpose {
        AuthorizationPurpose::Initial => format!("sandbox:{}:{intent}", card.token),
        AuthorizationPurpose::Reauthorization { .. } => {
            format!("sandbox:{}:{intent}:{:016x}", card.token, fnv1a(key))
        }
    }
}

/// A short, stable digest for handles (not a security measure).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn card_of_ref(processor_ref: &str) -> Result<&'static TestCard, ProcessorError> {
    let token = processor_ref.split(':').nth(1).unwrap_or_default();
    card(token)
}

fn hold(
    card: &TestCard,
    reference: String,
    amount: i64,
    capture: CaptureMode,
    now: Timestamp,
) -> Hold {
    let captured = capture == CaptureMode::Automatic;
    Hold {
        reference,
        card: Some(shown(card)),
        authorized: amount,
        captured: if captured { amount } else { 0 },
        capture_before: (!captured).then(|| now.plus_seconds(HOLD_SECONDS)),
        features: HoldCapabilities {
            incremental_authorization: true,
            multicapture: true,
            extended_authorization: false,
            overcapture: false,
        },
    }
}

fn declined(
    card: &TestCard,
    kind: DeclineKind,
    decline_code: &str,
    message: &str,
    reference: Option<String>,
) -> Decline {
    Decline {
        kind,
        decline_code: decline_code.into(),
        message: message.into(),
        reference,
        card: Some(shown(card)),
    }
}

fn view(reference: &str, card: &TestCard, amount: i64, currency: &str) -> PaymentView {
    PaymentView {
        reference: reference.to_owned(),
        status: PaymentStatus::RequiresPaymentMethod,
        amount,
        currency: currency.to_owned(),
        authorized: Some(0),
        capturable: Some(0),
        captured: Some(0),
        refunded: Some(0),
        capture_before: None,
        card: Some(shown(card)),
        cancellation_reason: None,
        last_decline: None,
        next_action: None,
    }
}

/// Records a hold outcome on the payment it names.
fn record_hold(
    record: &mut Record,
    outcome: &Outcome<Hold>,
    card: &TestCard,
    amount: i64,
    currency: &str,
) {
    let reference = match outcome {
        Outcome::Approved(h) => &h.reference,
        Outcome::ActionRequired(a) => &a.reference,
        Outcome::Declined(Decline {
            reference: Some(reference),
            ..
        }) => reference,
        Outcome::Declined(_) | Outcome::Pending(_) => return,
    };
    if record.payments.get(reference).is_none() {
        record
            .payments
            .insert(reference.clone(), view(reference, card, amount, currency));
    }
    let Some(v) = record.payments.get_mut(reference) else {
        return;
    };
    match outcome {
        Outcome::Approved(h) => {
            v.status = if h.captured > 0 {
                PaymentStatus::Captured
            } else {
                PaymentStatus::Authorized
            };
            v.authorized = Some(h.authorized);
            v.capturable = Some(h.authorized - h.captured);
            v.captured = Some(h.captured);
            v.capture_before = h.capture_before;
            v.last_decline = None;
            v.next_action = None;
        }
        Outcome::ActionRequired(a) => {
            v.status = PaymentStatus::RequiresAction;
            v.next_action = Some(a.next_action.clone());
        }
        Outcome::Declined(d) => {
            v.status = PaymentStatus::RequiresPaymentMethod;
            v.next_action = None;
            v.last_decline = Some(d.clone());
        }
        Outcome::Pending(_) => {}
    }
}

#[async_trait]
impl Processor for Sandbox {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    fn has_external_effects(&self) -> bool {
        false
    }

    async fn prepare(&self, _call: PrepareCall) -> Result<Prepared, ProcessorError> {
        Ok(Prepared::default())
    }

    async fn inspect(&self, token: &str) -> Result<TokenInfo, ProcessorError> {
        let card = card(token)?;
        Ok(TokenInfo {
            card: shown(card),
            processor_token: card.token.to_owned(),
        })
    }

    async fn authorize(&self, call: AuthorizeCall) -> Result<Outcome<Hold>, ProcessorError> {
        let card = card(call.source.token())?;
        let reference = processor_ref(card, &call);
        let reauthorization = matches!(call.purpose, AuthorizationPurpose::Reauthorization { .. });
        let outcome = match card.behaviour {
            Behaviour::ReauthorizationDeclined if reauthorization => Outcome::Declined(declined(
                card,
                DeclineKind::Card,
                "generic_decline",
                "The card was declined.",
                None,
            )),
            Behaviour::Approve
            | Behaviour::CaptureTimeoutOnce
            | Behaviour::RefundFails
            | Behaviour::ReauthorizationDeclined
            | Behaviour::IncrementDeclined => Outcome::Approved(hold(
                card,
                reference,
                call.amount.amount,
                call.capture,
                call.now,
            )),
            Behaviour::Decline(decline_code) => Outcome::Declined(declined(
                card,
                DeclineKind::Card,
                decline_code,
                "The card was declined.",
                None,
            )),
            Behaviour::ThreeDSecure => Outcome::ActionRequired(ActionRequired {
                card: Some(shown(card)),
                next_action: NextAction::RedirectToUrl {
                    url: format!(
                        "https://sandbox.holdfast.invalid/3ds/authenticate?ref={reference}"
                    ),
                    return_url: call.return_url.clone(),
                },
                reference,
                client_confirmation: None,
            }),
        };
        let currency = call.amount.currency;
        let answer = self.keyed(
            &call.idempotency_key,
            |a| matches!(a, Answer::Hold(_)).then(|| a.clone()),
            |record| {
                record_hold(
                    record,
                    &outcome,
                    card,
                    call.amount.amount,
                    currency.as_str(),
                );
                Answer::Hold(outcome.clone())
            },
        )?;
        match answer {
            Answer::Hold(outcome) => Ok(outcome),
            _ => Ok(outcome),
        }
    }

    async fn authentication_result(
        &self,
        call: AuthenticateCall,
    ) -> Result<Outcome<Hold>, ProcessorError> {
        let card = card_of_ref(&call.reference)?;
        let outcome = if call.simulated_success.unwrap_or(false) {
            Outcome::Approved(hold(
                card,
                call.reference.clone(),
                call.amount.amount,
                call.capture,
                call.now,
            ))
        } else {
            Outcome::Declined(declined(
                card,
                DeclineKind::Authentication,
                "authentication_failed",
                "The buyer did not complete authentication.",
                Some(call.reference.clone()),
            ))
        };
        let currency = call.amount.currency;
        let answer = self.keyed(
            &call.idempotency_key,
            |a| matches!(a, Answer::Hold(_)).then(|| a.clone()),
            |record| {
                record_hold(
                    record,
                    &outcome,
                    card,
                    call.amount.amount,
                    currency.as_str(),
                );
                Answer::Hold(outcome.clone())
            },
        )?;
        match answer {
            Answer::Hold(outcome) => Ok(outcome),
            _ => Ok(outcome),
        }
    }

    async fn capture(&self, call: CaptureCall) -> Result<Outcome<Captured>, ProcessorError> {
        let card = card_of_ref(&call.reference)?;
        if card.behaviour == Behaviour::CaptureTimeoutOnce {
            let mut timed_out = self
                .timed_out
                .lock()
                .map_err(|_| ProcessorError::unavailable("sandbox state poisoned"))?;
            if timed_out.insert(call.reference.clone()) {
                return Err(ProcessorError::unavailable(
                    "the processor timed out before answering the capture",
                ));
            }
        }
        let answer = self.keyed(
            &call.idempotency_key,
            |a| matches!(a, Answer::Captured(_)).then(|| a.clone()),
            |record| {
                let amount = call.amount.amount;
                let captured = match record.payments.get_mut(&call.reference) {
                    Some(v) => {
                        let total = v.captured.unwrap_or(0) + amount;
                        let left = if call.final_capture {
                            0
                        } else {
                            (v.capturable.unwrap_or(0) - amount).max(0)
                        };
                        v.captured = Some(total);
                        v.capturable = Some(left);
                        if left == 0 {
                            v.status = PaymentStatus::Captured;
                            v.capture_before = None;
                        }
                        Captured {
                            reference: call.reference.clone(),
                            amount,
                            total_captured: total,
                            capturable: left,
                        }
                    }
                    None => Captured {
                        reference: call.reference.clone(),
                        amount,
                        total_captured: amount,
                        capturable: 0,
                    },
                };
                Answer::Captured(Outcome::Approved(captured))
            },
        )?;
        match answer {
            Answer::Captured(outcome) => Ok(outcome),
            _ => Err(ProcessorError::unavailable("sandbox replay mismatch")),
        }
    }

    async fn void(&self, call: VoidCall) -> Result<Outcome<Voided>, ProcessorError> {
        card_of_ref(&call.reference)?;
        let answer = self.keyed(
            &call.idempotency_key,
            |a| matches!(a, Answer::Voided(_)).then(|| a.clone()),
            |record| {
                if let Some(v) = record.payments.get_mut(&call.reference) {
                    v.status = PaymentStatus::Voided;
                    v.capturable = Some(0);
                    v.capture_before = None;
                    v.cancellation_reason = call.reason.map(|r| r.as_str().to_owned());
                }
                Answer::Voided(Outcome::Approved(Voided {
                    reference: call.reference.clone(),
                }))
            },
        )?;
        match answer {
            Answer::Voided(outcome) => Ok(outcome),
            _ => Err(ProcessorError::unavailable("sandbox replay mismatch")),
        }
    }

    async fn refund(&self, call: RefundCall) -> Result<Outcome<Refunded>, ProcessorError> {
        let card = card_of_ref(&call.reference)?;
        let answer = self.keyed(
            &call.idempotency_key,
            |a| matches!(a, Answer::Refunded(_)).then(|| a.clone()),
            |record| {
                if card.behaviour == Behaviour::RefundFails {
                    return Answer::Refunded(Outcome::Declined(declined(
                        card,
                        DeclineKind::Refund,
                        "refund_declined",
                        "The card issuer declined the refund; the amount stays refundable.",
                        Some(call.reference.clone()),
                    )));
                }
                if let Some(v) = record.payments.get_mut(&call.reference) {
                    v.refunded = Some(v.refunded.unwrap_or(0) + call.amount.amount);
                }
                Answer::Refunded(Outcome::Approved(Refunded {
                    refund_reference: None,
                    amount: call.amount.amount,
                }))
            },
        )?;
        match answer {
            Answer::Refunded(outcome) => Ok(outcome),
            _ => Err(ProcessorError::unavailable("sandbox replay mismatch")),
        }
    }

    async fn increment_authorization(
        &self,
        call: IncrementCall,
    ) -> Result<Outcome<Hold>, ProcessorError> {
        let card = card_of_ref(&call.reference)?;
        let answer = self.keyed(
            &call.idempotency_key,
            |a| matches!(a, Answer::Hold(_)).then(|| a.clone()),
            |record| {
                if card.behaviour == Behaviour::IncrementDeclined {
                    return Answer::Hold(Outcome::Declined(declined(
                        card,
                        DeclineKind::Card,
                        "generic_decline",
                        "The card was declined.",
                        Some(call.reference.clone()),
                    )));
                }
                let total = call.new_total.amount;
                let mut approved = Hold {
                    reference: call.reference.clone(),
                    card: Some(shown(card)),
                    authorized: total,
                    captured: 0,
                    // The deadline stays as it was.
                    capture_before: None,
                    features: HoldCapabilities {
                        incremental_authorization: true,
                        multicapture: true,
                        extended_authorization: false,
                        overcapture: false,
                    },
                };
                if let Some(v) = record.payments.get_mut(&call.reference) {
                    let grown = total - v.authorized.unwrap_or(0);
                    v.amount = total;
                    v.authorized = Some(total);
                    v.capturable = Some(v.capturable.unwrap_or(0) + grown);
                    approved.capture_before = v.capture_before;
                }
                Answer::Hold(Outcome::Approved(approved))
            },
        )?;
        match answer {
            Answer::Hold(outcome) => Ok(outcome),
            _ => Err(ProcessorError::unavailable("sandbox replay mismatch")),
        }
    }

    async fn retrieve(&self, call: RetrieveCall) -> Result<PaymentView, ProcessorError> {
        card_of_ref(&call.reference)?;
        self.record()?
            .payments
            .get(&call.reference)
            .cloned()
            .ok_or_else(|| ProcessorError::Refused {
                code: "resource_missing".into(),
                message: "the sandbox does not remember this payment".into(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use holdfast_domain::{Currency, Money};

    fn usd(amount: i64) -> Money {
        Money::new(amount, Currency::parse("USD").expect("USD"))
    }

    fn call(key: &str, token: &str) -> AuthorizeCall {
        AuthorizeCall {
            idempotency_key: key.into(),
            reference: None,
            source: crate::PaymentSource::Token(token.into()),
            amount: usd(1_000),
            capture: CaptureMode::Manual,
            purpose: AuthorizationPurpose::Initial,
            return_url: None,
            payment_intent_id: key.split(':').next().unwrap_or(key).into(),
            now: Timestamp(1_000),
        }
    }

    #[test]
    fn every_test_card_number_stands_for_a_card_with_its_last_four() {
        for (number, token) in TEST_CARD_NUMBERS {
            let card = card(token).unwrap();
            assert!(number.ends_with(card.last_four), "{number} {token}");
            assert_eq!(test_card_token(number), Some(*token));
        }
        assert_eq!(test_card_token("4242 4242 4242 4242"), None);
        assert_eq!(test_card_token("4111111111111111"), None);
    }

    #[tokio::test]
    async fn every_test_card_shows_its_brand_and_last_four() {
        let sandbox = Sandbox::new();
        for card in CARDS {
            let info = sandbox.inspect(card.token).await.expect("a test card");
            assert_eq!(info.card.brand, card.brand);
            assert_eq!(info.card.last_four, card.last_four);
            assert_eq!(info.processor_token, card.token);
        }
        assert_eq!(
            sandbox.inspect("pm_card_unknown").await,
            Err(ProcessorError::InvalidToken)
        );
    }

    #[tokio::test]
    async fn holds_keep_todays_reference_and_window() {
        let sandbox = Sandbox::new();
        let hold = sandbox
            .authorize(call("pi_a:authorize:1:req_1:0", "pm_card_visa"))
            .await
            .expect("an answer")
            .approved()
            .expect("a hold");
        assert_eq!(hold.reference, "sandbox:pm_card_visa:pi_a");
        assert_eq!(hold.capture_before, Some(Timestamp(1_000 + HOLD_SECONDS)));
        assert_eq!(HOLD_SECONDS, 7 * 86_400 - 1);
    }

    #[tokio::test]
    async fn refunds_of_the_refund_failing_card_are_declined_and_change_nothing() {
        let sandbox = Sandbox::new();
        let hold = sandbox
            .authorize(call("pi_r:authorize", "pm_card_refundFails"))
            .await
            .expect("an answer")
            .approved()
            .expect("a hold");
        let refund = sandbox
            .refund(RefundCall {
                idempotency_key: "re_1".into(),
                reference: hold.reference.clone(),
                amount: usd(500),
            })
            .await
            .expect("an answer");
        let Outcome::Declined(decline) = refund else {
            panic!("expected a decline, got {refund:?}");
        };
        assert_eq!(decline.kind, DeclineKind::Refund);
        assert_eq!(
            decline.message,
            "The card issuer declined the refund; the amount stays refundable."
        );
        let view = sandbox
            .retrieve(RetrieveCall {
                reference: hold.reference,
            })
            .await
            .expect("remembered");
        assert_eq!(view.refunded, Some(0));
    }

    #[tokio::test]
    async fn the_record_forgets_the_oldest_payments_first() {
        let sandbox = Sandbox::new();
        for i in 0..=RECORD_MAX {
            sandbox
                .authorize(call(&format!("pi_{i}:authorize"), "pm_card_visa"))
                .await
                .expect("an answer");
        }
        let oldest = sandbox
            .retrieve(RetrieveCall {
                reference: "sandbox:pm_card_visa:pi_0".into(),
            })
            .await;
        assert!(
            matches!(oldest, Err(ProcessorError::Refused { ref code, .. }) if code == "resource_missing")
        );
        let newest = sandbox
            .retrieve(RetrieveCall {
                reference: format!("sandbox:pm_card_visa:pi_{RECORD_MAX}"),
            })
            .await
            .expect("remembered");
        assert_eq!(newest.status, PaymentStatus::Authorized);
        let record = sandbox.record.lock().expect("the record");
        assert_eq!(record.payments.map.len(), RECORD_MAX);
        assert_eq!(record.answers.map.len(), RECORD_MAX);
    }
}
