//! `/v1/payment-intents` (and the test helpers' 3D Secure step): intents, their actions, and the
//! bodies that create, confirm, capture, cancel and schedule them.

use std::collections::BTreeMap;

use holdfast_domain::intent::{Action, PaymentIntent};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::common::{MoneyIn, MoneyOut, rfc3339};
use crate::openapi::schemas;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"amount_money": {"amount": 12900, "currency": "USD"}, "capture_method": "manual", "description": "Camera rental, 3 days"})))]
pub struct CreateIntentBody {
    /// What to hold or charge. Required, unless `order_id` is given: the amount is then the
    /// order's balance due.
    pub amount_money: Option<MoneyIn>,
    /// `["card"]`, the default and only choice.
    #[schema(value_type = Option<Vec<schemas::PaymentMethodType>>, min_items = 1)]
    pub payment_method_types: Option<Vec<String>>,
    /// `automatic` (the default) or `manual`.
    #[schema(value_type = Option<schemas::CaptureMethod>)]
    pub capture_method: Option<String>,
    /// Confirm in the same call with `payment_source_token`: automatic capture only.
    #[serde(default)]
    pub auto_confirm: bool,
    /// A card token; with `auto_confirm` only. Test mode takes the `pm_card_…` test tokens.
    #[schema(examples("pm_card_visa"))]
    pub payment_source_token: Option<String>,
    /// The customer (`cus_…`) whose saved cards may confirm this intent.
    pub customer_id: Option<String>,
    /// The order this intent pays; it then takes no amount.
    pub order_id: Option<String>,
    /// Up to 500 characters.
    pub description: Option<String>,
    /// Up to 500 characters.
    pub reference: Option<String>,
    #[serde(default)]
    #[schema(value_type = schemas::Metadata)]
    pub metadata: BTreeMap<String, String>,
    /// A test clock id (`clock_…`): the intent lives on that clock's time.
    pub test_clock: Option<String>,
    pub scheduled_action: Option<ScheduleAtCreationIn>,
    /// Allow several captures of the hold (`final_capture: false`); manual capture only.
    #[serde(default)]
    pub multicapture: bool,
    /// Allow the hold to grow later (`/increment-authorization`); manual capture only.
    #[serde(default)]
    pub incremental_authorization: bool,
}

/// The hold's new total.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"amount_money": {"amount": 15000, "currency": "USD"}})))]
pub struct IncrementAuthorizationBody {
    /// The new total to hold (not the difference): above the current authorized amount, in its
    /// currency.
    pub amount_money: Option<MoneyIn>,
}

/// `scheduled_action` at creation: relative to the deadline confirm will set.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleAtCreationIn {
    #[serde(rename = "type")]
    #[schema(value_type = schemas::ScheduledActionType)]
    pub kind: String,
    /// How long before the hold's deadline the action runs.
    pub offset_before_expiry_seconds: i64,
}

/// Exactly one of `payment_source_token` and `payment_method_id`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"payment_source_token": "pm_card_visa"})))]
pub struct ConfirmBody {
    /// A card token. Test mode takes the `pm_card_…` test tokens.
    #[schema(examples("pm_card_visa"))]
    pub payment_source_token: Option<String>,
    /// A saved card (`pm_…`) of the intent's customer.
    pub payment_method_id: Option<String>,
}

/// An empty body captures the whole hold.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"amount_money": {"amount": 9800, "currency": "USD"}})))]
pub struct CaptureBody {
    /// Part of the hold: the rest is released.
    pub amount_money: Option<MoneyIn>,
    /// Stored on the capture. Up to 500 characters.
    pub reference: Option<String>,
    /// Stored on the capture.
    #[serde(default)]
    #[schema(value_type = schemas::Metadata)]
    pub metadata: BTreeMap<String, String>,
    /// `false` settles this amount and keeps the rest of the hold capturable: an intent created
    /// with `multicapture` only (else `MULTICAPTURE_NOT_ENABLED`). Default `true`: the rest is
    /// released and the intent succeeds.
    pub final_capture: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"cancellation_reason": "requested_by_customer"})))]
pub struct CancelBody {
    #[schema(value_type = Option<schemas::RequestedCancellationReason>)]
    pub cancellation_reason: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"type": "void", "at": "2030-01-01T00:00:00Z"})))]
pub struct ScheduledActionBody {
    #[serde(rename = "type")]
    #[schema(value_type = schemas::ScheduledActionType)]
    pub kind: String,
    /// When it runs: in the future and before `authorization_expires_at`.
    #[schema(format = DateTime)]
    pub at: String,
    /// A capture's amount; the whole hold when left out.
    pub amount_money: Option<MoneyIn>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"result": "success"})))]
pub struct AuthenticateBody {
    #[schema(value_type = schemas::AuthenticationResult)]
    pub result: String,
}

#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListIntentsQuery {
    #[param(value_type = Option<schemas::PaymentIntentStatus>)]
    pub status: Option<String>,
    #[param(value_type = Option<schemas::CaptureMethod>)]
    pub capture_method: Option<String>,
    /// Only intents created at or after this time.
    #[param(format = DateTime)]
    pub created_after: Option<String>,
    /// Only intents created before this time.
    #[param(format = DateTime)]
    pub created_before: Option<String>,
    /// Only holds whose deadline is before this time.
    #[param(format = DateTime)]
    pub expires_before: Option<String>,
    /// `created_at` (newest first, the default) or `authorization_expires_at` (soonest deadline
    /// first, and only intents that have a deadline).
    #[param(value_type = Option<schemas::IntentOrder>)]
    pub order: Option<String>,
}

/// Why the last attempt to pay failed.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PaymentError)]
pub struct PaymentErrorOut {
    /// `CARD_DECLINED` or `AUTHENTICATION_FAILED`.
    pub code: String,
    pub decline_code: String,
    pub message: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RedirectToUrl {
    pub url: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = NextAction)]
pub struct NextActionOut {
    #[serde(rename = "type")]
    #[schema(value_type = schemas::NextActionType)]
    pub kind: &'static str,
    pub redirect_to_url: RedirectToUrl,
}

/// A payment intent. At every moment `captured + released + capturable = authorized`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PaymentIntent)]
pub struct PaymentIntentOut {
    /// `pi_…`
    pub payment_intent_id: String,
    #[schema(value_type = schemas::PaymentIntentStatus)]
    pub status: &'static str,
    /// What the intent asks for; after a partial capture, what was captured.
    pub amount_money: MoneyOut,
    #[schema(value_type = schemas::CaptureMethod)]
    pub capture_method: &'static str,
    #[schema(value_type = Vec<schemas::PaymentMethodType>)]
    pub payment_method_types: Vec<String>,
    /// What the processor approved.
    pub authorized_amount_money: MoneyOut,
    /// What is still held and can be captured.
    pub capturable_amount_money: MoneyOut,
    pub captured_amount_money: MoneyOut,
    /// What went back to the buyer without being captured: a void, an expiry, the rest of a
    /// partial capture.
    pub released_amount_money: MoneyOut,
    pub refunded_amount_money: MoneyOut,
    #[schema(format = DateTime)]
    pub authorized_at: Option<String>,
    /// The last second at which the hold can still be captured.
    #[schema(format = DateTime)]
    pub authorization_expires_at: Option<String>,
    #[schema(format = DateTime)]
    pub captured_at: Option<String>,
    #[schema(format = DateTime)]
    pub canceled_at: Option<String>,
    #[schema(value_type = Option<schemas::CancellationReason>)]
    pub cancellation_reason: Option<&'static str>,
    pub payment_method_brand: Option<String>,
    pub payment_method_last_four: Option<String>,
    /// The saved card (`pm_…`) that confirmed the intent, if one did.
    pub payment_method_id: Option<String>,
    pub customer_id: Option<String>,
    pub last_payment_error: Option<PaymentErrorOut>,
    /// Set while `status` is `requires_action`.
    pub next_action: Option<NextActionOut>,
    pub description: Option<String>,
    pub reference: Option<String>,
    #[schema(value_type = schemas::Metadata)]
    pub metadata: BTreeMap<String, String>,
    /// How the intent was created: `api`.
    pub source: String,
    pub scheduled_action: Option<ScheduledActionOut>,
    /// The order this intent pays, if it pays one.
    pub order_id: Option<String>,
    /// The test clock (`clock_…`) the intent lives on, if any.
    pub test_clock: Option<String>,
    /// Whether the hold may be captured in several parts.
    pub multicapture: bool,
    /// Whether the hold may grow (`/increment-authorization`).
    pub incremental_authorization: bool,
    /// Whether a live key created it.
    pub livemode: bool,
    /// Grows with every change to the intent, starting at 1. An event carries the intent as it was
    /// after its change, version included: of two snapshots, the one with the higher version is
    /// the later (events can arrive out of order).
    pub version: u64,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// A capture or void that runs by itself at `at`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ScheduledAction)]
pub struct ScheduledActionOut {
    #[serde(rename = "type")]
    #[schema(value_type = schemas::ScheduledActionType)]
    pub kind: &'static str,
    /// `null` until confirm sets the deadline an offset refers to.
    #[schema(format = DateTime)]
    pub at: Option<String>,
    pub amount_money: Option<MoneyOut>,
    pub offset_before_expiry_seconds: Option<i64>,
}

impl From<&PaymentIntent> for PaymentIntentOut {
    fn from(pi: &PaymentIntent) -> PaymentIntentOut {
        let money = |amount| MoneyOut::new(pi.money(amount));
        PaymentIntentOut {
            payment_intent_id: pi.id.clone(),
            status: pi.status.as_str(),
            amount_money: MoneyOut::new(pi.amount),
            capture_method: pi.capture_method.as_str(),
            payment_method_types: pi.payment_method_types.clone(),
            authorized_amount_money: money(pi.authorized),
            capturable_amount_money: money(pi.capturable),
            captured_amount_money: money(pi.captured),
            released_amount_money: money(pi.released),
            refunded_amount_money: money(pi.refunded),
            authorized_at: pi.authorized_at.map(rfc3339),
            authorization_expires_at: pi.authorization_expires_at.map(rfc3339),
            captured_at: pi.captured_at.map(rfc3339),
            canceled_at: pi.canceled_at.map(rfc3339),
            cancellation_reason: pi.cancellation_reason.map(|r| r.as_str()),
            payment_method_brand: pi.card.as_ref().map(|c| c.brand.clone()),
            payment_method_last_four: pi.card.as_ref().map(|c| c.last_four.clone()),
            payment_method_id: pi.payment_method_id.clone(),
            customer_id: pi.customer_id.clone(),
            last_payment_error: pi.last_payment_error.as_ref().map(|e| PaymentErrorOut {
                code: e.code.clone(),
                decline_code: e.decline_code.clone(),
                message: e.message.clone(),
            }),
            next_action: pi.next_action.as_ref().map(|a| NextActionOut {
                kind: "redirect_to_url",
                redirect_to_url: RedirectToUrl {
                    url: a.redirect_url.clone(),
                },
            }),
            description: pi.description.clone(),
            reference: pi.reference.clone(),
            metadata: pi.metadata.clone(),
            source: pi.source.clone(),
            scheduled_action: pi.scheduled_action.as_ref().map(|s| ScheduledActionOut {
                kind: s.kind.as_str(),
                at: s.at.map(rfc3339),
                amount_money: s.amount.map(MoneyOut::new),
                offset_before_expiry_seconds: s.offset_before_expiry_seconds,
            }),
            order_id: pi.order_id.clone(),
            test_clock: pi.test_clock_id.clone(),
            multicapture: pi.multicapture,
            incremental_authorization: pi.incremental_authorization,
            livemode: pi.scope.livemode,
            created_at: rfc3339(pi.created_at),
            updated_at: rfc3339(pi.updated_at),
            version: pi.version,
        }
    }
}

/// What a browser needs to confirm the intent itself.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientConfirmation {
    /// Shown only in this answer. It works as a bearer credential to retrieve and confirm this
    /// one intent.
    pub client_secret: String,
    pub confirm_path: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CreatedPaymentIntent)]
pub struct CreatedIntentOut {
    pub payment_intent: PaymentIntentOut,
    pub client_confirmation: ClientConfirmation,
}

/// One money movement on an intent, kept forever.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Action)]
pub struct ActionOut {
    pub action_id: String,
    pub payment_intent_id: String,
    #[serde(rename = "type")]
    #[schema(value_type = schemas::ActionType)]
    pub kind: &'static str,
    pub amount_money: MoneyOut,
    #[schema(value_type = schemas::ActionStatus)]
    pub status: &'static str,
    /// `scheduled` for a scheduled action's capture or void.
    pub reference: Option<String>,
    #[schema(value_type = schemas::Metadata)]
    pub metadata: BTreeMap<String, String>,
    /// The request that caused it; `null` for the worker's expiries.
    pub request_id: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl ActionOut {
    pub fn new(intent_id: &str, a: &Action) -> ActionOut {
        ActionOut {
            action_id: a.id.clone(),
            payment_intent_id: intent_id.to_owned(),
            kind: a.kind.as_str(),
            amount_money: MoneyOut::new(a.amount),
            status: a.status.as_str(),
            reference: a.reference.clone(),
            metadata: a.metadata.clone(),
            request_id: a.request_id.clone(),
            created_at: rfc3339(a.created_at),
        }
    }
}
