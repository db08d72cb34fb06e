//! Stripe's wire format: the form bodies Holdfast sends and the objects it reads back, and the
//! mapping from Stripe's statuses and errors onto the processor-neutral outcomes.
//!
//! Every field name comes from Stripe's published OpenAPI document (stripe/openapi
//! `openapi/spec3.yaml`, API 2023-08-16) and, for the fields added since (the card's
//! `capture_before` and capability objects, `final_capture`, the card options
//! `request_incremental_authorization` and `request_multicapture`), from the code Stripe
//! generates from the current document (stripe-go, API 2026-07-29.dahlia). Only the fields
//! Holdfast reads are declared; serde ignores the rest, so a new field never breaks a read.

use serde::Deserialize;

use crate::{
    ActionRequired, CaptureMode, Captured, ClientConfirmation, Decline, DeclineKind, Hold,
    HoldCapabilities, NextAction, Outcome, PaymentStatus, PaymentView, Pending, ProcessorError,
    Refunded, Secret, Voided,
};
use holdfast_domain::Timestamp;
use holdfast_domain::intent::Card;

/// A form body: `key=value` pairs, nested keys spelt `a[b]`, arrays `a[0]`, booleans
/// `true`/`false`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Form(pub Vec<(String, String)>);

impl Form {
    pub fn new() -> Form {
        Form::default()
    }

    pub fn push(mut self, key: &str, value: impl ToString) -> Form {
        self.0.push((key.to_owned(), value.to_string()));
        self
    }

    pub fn push_opt(self, key: &str, value: Option<impl ToString>) -> Form {
        match value {
            Some(v) => self.push(key, v),
            None => self,
        }
    }

    /// `expand[0]=…`, `expand[1]=…`.
    pub fn expand(mut self, fields: &[&str]) -> Form {
        for (i, field) in fields.iter().enumerate() {
            self.0.push((format!("expand[{i}]"), (*field).to_owned()));
        }
        self
    }

    /// The body as `application/x-www-form-urlencoded`.
    pub fn encode(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// Percent-encodes everything but the unreserved characters of RFC 3986.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(byte));
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

pub fn capture_method(mode: CaptureMode) -> &'static str {
    match mode {
        CaptureMode::Manual => "manual",
        CaptureMode::Automatic => "automatic",
    }
}

/// A field that is an id unless expanded into its object.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Expandable<T> {
    Id(String),
    Object(Box<T>),
}

impl<T> Expandable<T> {
    pub fn object(&self) -> Option<&T> {
        match self {
            Expandable::Object(o) => Some(o),
            Expandable::Id(_) => None,
        }
    }
}

/// `payment_intent` (the fields Holdfast reads).
#[derive(Debug, Clone, Deserialize)]
pub struct PaymentIntent {
    pub id: String,
    pub status: String,
    pub amount: i64,
    pub currency: String,
    #[serde(default)]
    pub amount_capturable: Option<i64>,
    #[serde(default)]
    pub amount_received: Option<i64>,
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub cancellation_reason: Option<String>,
    #[serde(default)]
    pub latest_charge: Option<Expandable<Charge>>,
    #[serde(default)]
    pub payment_method: Option<Expandable<PaymentMethod>>,
    #[serde(default)]
    pub next_action: Option<WireNextAction>,
    #[serde(default)]
    pub last_payment_error: Option<ApiError>,
}

/// `charge`.
#[derive(Debug, Clone, Deserialize)]
pub struct Charge {
    pub id: String,
    pub amount: i64,
    #[serde(default)]
    pub amount_captured: Option<i64>,
    #[serde(default)]
    pub amount_refunded: Option<i64>,
    #[serde(default)]
    pub paid: Option<bool>,
    #[serde(default)]
    pub payment_method_details: Option<PaymentMethodDetails>,
}

/// `charge.payment_method_details`.
#[derive(Debug, Clone, Deserialize)]
pub struct PaymentMethodDetails {
    #[serde(default)]
    pub card: Option<CardDetails>,
}

/// `payment_method_details_card`.
#[derive(Debug, Clone, Deserialize)]
pub struct CardDetails {
    #[serde(default)]
    pub brand: Option<String>,
    #[serde(default)]
    pub last4: Option<String>,
    /// Unix seconds: when an uncaptured charge is released.
    #[serde(default)]
    pub capture_before: Option<i64>,
    #[serde(default)]
    pub amount_authorized: Option<i64>,
    #[serde(default)]
    pub incremental_authorization: Option<CapabilityStatus>,
    #[serde(default)]
    pub multicapture: Option<CapabilityStatus>,
    #[serde(default)]
    pub extended_authorization: Option<CapabilityStatus>,
    #[serde(default)]
    pub overcapture: Option<CapabilityStatus>,
}

/// `{ "status": "available" | "unavailable" | "enabled" | "disabled" }`.
#[derive(Debug, Clone, Deserialize)]
pub struct CapabilityStatus {
    #[serde(default)]
    pub status: Option<String>,
}

impl CapabilityStatus {
    fn on(this: Option<&CapabilityStatus>) -> bool {
        matches!(
            this.and_then(|c| c.status.as_deref()),
            Some("available" | "enabled")
        )
    }
}

/// `payment_method`.
#[derive(Debug, Clone, Deserialize)]
pub struct PaymentMethod {
    pub id: String,
    #[serde(default)]
    pub card: Option<PaymentMethodCard>,
}

/// `payment_method_card`.
#[derive(Debug, Clone, Deserialize)]
pub struct PaymentMethodCard {
    #[serde(default)]
    pub brand: Option<String>,
    #[serde(default)]
    pub last4: Option<String>,
}

/// `payment_intent_next_action`.
#[derive(Debug, Clone, Deserialize)]
pub struct WireNextAction {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub redirect_to_url: Option<RedirectToUrl>,
}

/// `payment_intent_next_action_redirect_to_url`.
#[derive(Debug, Clone, Deserialize)]
pub struct RedirectToUrl {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub return_url: Option<String>,
}

/// `refund`.
#[derive(Debug, Clone, Deserialize)]
pub struct Refund {
    pub id: String,
    pub amount: i64,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub failure_reason: Option<String>,
}

/// `error`: the envelope of every error answer.
#[derive(Debug, Clone, Deserialize)]
pub struct ErrorEnvelope {
    pub error: ApiError,
}

/// `api_errors`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ApiError {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub decline_code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub param: Option<String>,
    #[serde(default)]
    pub payment_intent: Option<Box<PaymentIntent>>,
    #[serde(default)]
    pub payment_method: Option<PaymentMethod>,
}

impl ApiError {
    fn message_or(&self, fallback: &str) -> String {
        self.message.clone().unwrap_or_else(|| fallback.to_owned())
    }
}

/// The card shown for a payment: from the charge's `payment_method_details.card`, else from an
/// expanded `payment_method`.
pub fn card_of(pi: &PaymentIntent) -> Option<Card> {
    let from_charge = card_details(pi).and_then(|c| shown(c.brand.as_ref(), c.last4.as_ref()));
    from_charge.or_else(|| {
        let pm = pi.payment_method.as_ref()?.object()?;
        card_of_method(pm)
    })
}

pub fn card_of_method(pm: &PaymentMethod) -> Option<Card> {
    let card = pm.card.as_ref()?;
    shown(card.brand.as_ref(), card.last4.as_ref())
}

fn shown(brand: Option<&String>, last4: Option<&String>) -> Option<Card> {
    Some(Card {
        brand: brand?.clone(),
        last_four: last4?.clone(),
    })
}

fn charge(pi: &PaymentIntent) -> Option<&Charge> {
    pi.latest_charge.as_ref()?.object()
}

fn card_details(pi: &PaymentIntent) -> Option<&CardDetails> {
    charge(pi)?.payment_method_details.as_ref()?.card.as_ref()
}

fn capabilities(pi: &PaymentIntent) -> HoldCapabilities {
    let Some(card) = card_details(pi) else {
        return HoldCapabilities::default();
    };
    HoldCapabilities {
        incremental_authorization: CapabilityStatus::on(card.incremental_authorization.as_ref()),
        multicapture: CapabilityStatus::on(card.multicapture.as_ref()),
        extended_authorization: CapabilityStatus::on(card.extended_authorization.as_ref()),
        overcapture: CapabilityStatus::on(card.overcapture.as_ref()),
    }
}

/// The hold's deadline as Stripe reports it.
pub fn capture_before(pi: &PaymentIntent) -> Option<Timestamp> {
    card_details(pi)?.capture_before.map(Timestamp)
}

/// What settled: `amount_received`, else the charge's `amount_captured`.
fn received(pi: &PaymentIntent) -> Option<i64> {
    pi.amount_received
        .or_else(|| charge(pi).and_then(|c| c.amount_captured))
}

fn authorized(pi: &PaymentIntent) -> Option<i64> {
    if let Some(amount) = card_details(pi).and_then(|c| c.amount_authorized) {
        return Some(amount);
    }
    let charge = charge(pi)?;
    (charge.paid != Some(false)).then_some(charge.amount)
}

fn client_confirmation(
    pi: &PaymentIntent,
    publishable_key: Option<&str>,
) -> Option<ClientConfirmation> {
    Some(ClientConfirmation {
        processor: "stripe",
        publishable_key: publishable_key.map(str::to_owned),
        client_secret: Secret::new(pi.client_secret.clone()?),
    })
}

pub fn next_action(pi: &PaymentIntent) -> Option<NextAction> {
    let action = pi.next_action.as_ref()?;
    Some(match action.kind.as_str() {
        "redirect_to_url" => {
            let redirect = action.redirect_to_url.as_ref();
            NextAction::RedirectToUrl {
                url: redirect.and_then(|r| r.url.clone()).unwrap_or_default(),
                return_url: redirect.and_then(|r| r.return_url.clone()),
            }
        }
        _ => NextAction::UseSdk,
    })
}

/// A refusal from an error object (a card error, or `last_payment_error`).
pub fn decline_of(error: &ApiError, reference: Option<String>, card: Option<Card>) -> Decline {
    let code = error.code.as_deref().unwrap_or_default();
    let kind = if code == "payment_intent_authentication_failure" {
        DeclineKind::Authentication
    } else {
        DeclineKind::Card
    };
    Decline {
        kind,
        decline_code: error
            .decline_code
            .clone()
            .or_else(|| error.code.clone())
            .unwrap_or_else(|| "card_declined".to_owned()),
        message: error.message_or("The card was declined."),
        reference,
        card,
    }
}

fn unexpected(pi: &PaymentIntent, operation: &str) -> ProcessorError {
    ProcessorError::Refused {
        code: "payment_intent_unexpected_state".into(),
        message: format!(
            "Stripe answered the {operation} with a PaymentIntent in status {}",
            pi.status
        ),
    }
}

/// A PaymentIntent after an authorization (confirm, or the result of 3D Secure) or an increment.
pub fn hold_outcome(
    pi: &PaymentIntent,
    publishable_key: Option<&str>,
) -> Result<Outcome<Hold>, ProcessorError> {
    let card = card_of(pi);
    match pi.status.as_str() {
        "requires_capture" => Ok(Outcome::Approved(Hold {
            reference: pi.id.clone(),
            card,
            authorized: authorized(pi).or(pi.amount_capturable).unwrap_or(pi.amount),
            captured: 0,
            capture_before: capture_before(pi),
            features: capabilities(pi),
        })),
        "succeeded" => {
            let captured = received(pi).unwrap_or(pi.amount);
            Ok(Outcome::Approved(Hold {
                reference: pi.id.clone(),
                card,
                authorized: authorized(pi).unwrap_or(captured),
                captured,
                capture_before: None,
                features: capabilities(pi),
            }))
        }
        "requires_action" => Ok(Outcome::ActionRequired(ActionRequired {
            reference: pi.id.clone(),
            card,
            next_action: next_action(pi).unwrap_or(NextAction::UseSdk),
            client_confirmation: client_confirmation(pi, publishable_key),
        })),
        "requires_payment_method" => {
            let error = pi.last_payment_error.clone().unwrap_or_default();
            Ok(Outcome::Declined(decline_of(
                &error,
                Some(pi.id.clone()),
                card,
            )))
        }
        "processing" => Ok(Outcome::Pending(Pending {
            reference: pi.id.clone(),
        })),
        _ => Err(unexpected(pi, "authorization")),
    }
}

/// A PaymentIntent after a capture.
pub fn capture_outcome(
    pi: &PaymentIntent,
    amount: i64,
) -> Result<Outcome<Captured>, ProcessorError> {
    match pi.status.as_str() {
        "succeeded" | "requires_capture" => {
            let total = received(pi).unwrap_or(amount);
            let capturable = match pi.status.as_str() {
                "succeeded" => 0,
                _ => pi.amount_capturable.unwrap_or(0),
            };
            Ok(Outcome::Approved(Captured {
                reference: pi.id.clone(),
                amount,
                total_captured: total,
                capturable,
            }))
        }
        "processing" => Ok(Outcome::Pending(Pending {
            reference: pi.id.clone(),
        })),
        _ => Err(unexpected(pi, "capture")),
    }
}

/// A PaymentIntent after a cancel.
pub fn void_outcome(pi: &PaymentIntent) -> Result<Outcome<Voided>, ProcessorError> {
    match pi.status.as_str() {
        "canceled" => Ok(Outcome::Approved(Voided {
            reference: pi.id.clone(),
        })),
        _ => Err(unexpected(pi, "cancel")),
    }
}

/// A refund as created.
pub fn refund_outcome(refund: &Refund, reference: &str) -> Outcome<Refunded> {
    match refund.status.as_deref() {
        Some("succeeded") => Outcome::Approved(Refunded {
            refund_reference: Some(refund.id.clone()),
            amount: refund.amount,
        }),
        Some("failed" | "canceled") => Outcome::Declined(Decline {
            kind: DeclineKind::Refund,
            decline_code: refund
                .failure_reason
                .clone()
                .unwrap_or_else(|| "refund_failed".to_owned()),
            message: "The refund failed at the processor; the amount stays refundable.".into(),
            reference: Some(reference.to_owned()),
            card: None,
        }),
        _ => Outcome::Pending(Pending {
            reference: refund.id.clone(),
        }),
    }
}

/// The processor-neutral view of a PaymentIntent.
pub fn payment_view(pi: &PaymentIntent) -> Result<PaymentView, ProcessorError> {
    let status = match pi.status.as_str() {
        "requires_payment_method" => PaymentStatus::RequiresPaymentMethod,
        "requires_confirmation" => PaymentStatus::RequiresConfirmation,
        "requires_action" => PaymentStatus::RequiresAction,
        "processing" => PaymentStatus::Processing,
        "requires_capture" => PaymentStatus::Authorized,
        "succeeded" => PaymentStatus::Captured,
        // Stripe cancels an uncaptured PaymentIntent whose hold lapsed with `expired` (older API
        // versions said `automatic`).
        "canceled" => match pi.cancellation_reason.as_deref() {
            Some("expired" | "automatic") => PaymentStatus::Expired,
            _ => PaymentStatus::Voided,
        },
        _ => return Err(unexpected(pi, "retrieve")),
    };
    let card = card_of(pi);
    let last_decline = match status {
        PaymentStatus::RequiresPaymentMethod => pi
            .last_payment_error
            .as_ref()
            .map(|e| decline_of(e, Some(pi.id.clone()), card.clone())),
        _ => None,
    };
    Ok(PaymentView {
        reference: pi.id.clone(),
        status,
        amount: pi.amount,
        // Stripe spells currencies in lower case; Holdfast in ISO 4217's upper case.
        currency: pi.currency.to_ascii_uppercase(),
        authorized: authorized(pi),
        capturable: pi.amount_capturable,
        captured: received(pi),
        refunded: charge(pi).and_then(|c| c.amount_refunded),
        capture_before: match status {
            PaymentStatus::Authorized => capture_before(pi),
            _ => None,
        },
        card,
        cancellation_reason: pi.cancellation_reason.clone(),
        last_decline,
        next_action: next_action(pi),
    })
}

/// An error answer that names a PaymentIntent waiting for the buyer (`authentication_required`
/// or one in `requires_action`) is not a failure: the buyer has something to do.
pub fn action_of_error(error: &ApiError, publishable_key: Option<&str>) -> Option<ActionRequired> {
    let pi = error.payment_intent.as_deref();
    let waiting = pi.is_some_and(|p| p.status == "requires_action");
    if !waiting && error.code.as_deref() != Some("authentication_required") {
        return None;
    }
    let pi = pi?;
    Some(ActionRequired {
        reference: pi.id.clone(),
        card: card_of(pi).or_else(|| error.payment_method.as_ref().and_then(card_of_method)),
        next_action: next_action(pi).unwrap_or(NextAction::UseSdk),
        client_confirmation: client_confirmation(pi, publishable_key),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_encode_nested_keys_and_reserved_characters() {
        let form = Form::new()
            .push("amount", 12900)
            .push("metadata[holdfast_payment_intent]", "pi_1 &=x")
            .push("final_capture", false)
            .expand(&["latest_charge", "payment_method"]);
        assert_eq!(
            form.encode(),
            "amount=12900&metadata%5Bholdfast_payment_intent%5D=pi_1%20%26%3Dx&final_capture=false\
             &expand%5B0%5D=latest_charge&expand%5B1%5D=payment_method"
        );
    }

    #[test]
    fn a_held_payment_intent_reads_its_deadline_card_and_capabilities() {
        let pi: PaymentIntent = serde_json::from_str(
            r#"{"id":"pi_1","object":"payment_intent","status":"requires_capture","amount":12900,
                "currency":"usd","amount_capturable":12900,"amount_received":0,
                "latest_charge":{"id":"ch_1","object":"charge","amount":12900,"paid":true,
                  "amount_captured":0,"amount_refunded":0,
                  "payment_method_details":{"type":"card","card":{"brand":"visa","last4":"4242",
                    "capture_before":1783650000,"amount_authorized":12900,
                    "incremental_authorization":{"status":"available"},
                    "multicapture":{"status":"unavailable"},
                    "extended_authorization":{"status":"disabled"},
                    "overcapture":{"status":"available","maximum_amount_capturable":15000}}}}}"#,
        )
        .unwrap();
        let Ok(Outcome::Approved(hold)) = hold_outcome(&pi, None) else {
            panic!("not approved");
        };
        assert_eq!(hold.reference, "pi_1");
        assert_eq!(hold.authorized, 12900);
        assert_eq!(hold.captured, 0);
        assert_eq!(hold.capture_before, Some(Timestamp(1_783_650_000)));
        assert_eq!(
            hold.card,
            Some(Card {
                brand: "visa".into(),
                last_four: "4242".into()
            })
        );
        assert_eq!(
            hold.features,
            HoldCapabilities {
                incremental_authorization: true,
                multicapture: false,
                extended_authorization: false,
                overcapture: true,
            }
        );
    }

    #[test]
    fn canceled_payment_intents_tell_expiry_from_void() {
        let read = |reason: &str| {
            let pi: PaymentIntent = serde_json::from_str(&format!(
                r#"{{"id":"pi_1","status":"canceled","amount":100,"currency":"usd",
                    "cancellation_reason":{reason}}}"#
            ))
            .unwrap();
            payment_view(&pi).unwrap().status
        };
        assert_eq!(read("\"expired\""), PaymentStatus::Expired);
        assert_eq!(read("\"automatic\""), PaymentStatus::Expired);
        assert_eq!(read("\"requested_by_customer\""), PaymentStatus::Voided);
        assert_eq!(read("null"), PaymentStatus::Voided);
    }

    #[test]
    fn card_errors_keep_the_decline_code_or_fall_back_to_the_code() {
        let error = ApiError {
            kind: Some("card_error".into()),
            code: Some("card_declined".into()),
            decline_code: Some("insufficient_funds".into()),
            message: Some("Your card has insufficient funds.".into()),
            ..ApiError::default()
        };
        let d = decline_of(&error, None, None);
        assert_eq!(d.decline_code, "insufficient_funds");
        assert_eq!(d.kind, DeclineKind::Card);
        let error = ApiError {
            code: Some("expired_card".into()),
            ..ApiError::default()
        };
        assert_eq!(decline_of(&error, None, None).decline_code, "expired_card");
        let error = ApiError {
            code: Some("payment_intent_authentication_failure".into()),
            ..ApiError::default()
        };
        assert_eq!(
            decline_of(&error, None, None).kind,
            DeclineKind::Authentication
        );
    }
}
