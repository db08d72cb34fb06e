//! Schema-only types: what the DTOs' plain strings and maps may hold, for the OpenAPI document.
//! The DTOs point at these with `value_type`. Each enumeration is the domain's own list (`ALL`),
//! and each limit the domain's own constant, so a value added there shows up here.
//!
//! These types are never constructed: they exist only to carry a schema.

use holdfast_domain::checkout::SessionStatus as SessionStatuses;
use holdfast_domain::event::EventType as Events;
use holdfast_domain::intent::{
    ActionStatus as ActionStatuses, ActionType as ActionTypes, CancellationReason as Reasons,
    CaptureMethod as CaptureMethods, ScheduledKind, Status,
};
use holdfast_domain::metadata::{KEY_CHARS_MAX, KEYS_MAX, VALUE_CHARS_MAX};
use holdfast_domain::order::{InventoryTracking as Tracking, OrderStatus as OrderStatuses};
use holdfast_domain::refund::{RefundReason as RefundReasons, RefundStatus as RefundStatuses};
use holdfast_domain::{Currency as Currencies, ErrorCode as Codes};
use holdfast_store::DeliveryNext;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Schema, Type};

/// The merchant's own string-to-string map, kept on intents, captures and other objects.
#[derive(Debug)]
pub enum Metadata {}

impl utoipa::PartialSchema for Metadata {
    fn schema() -> RefOr<Schema> {
        let value = ObjectBuilder::new()
            .schema_type(Type::String)
            .max_length(Some(VALUE_CHARS_MAX));
        let key = ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(KEY_CHARS_MAX));
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(format!(
                "Up to {KEYS_MAX} keys of 1 to {KEY_CHARS_MAX} characters, each with a value of up \
                 to {VALUE_CHARS_MAX} characters."
            )))
            .property_names(Some(key))
            .additional_properties(Some(AdditionalProperties::RefOr(RefOr::T(value.into()))))
            .max_properties(Some(KEYS_MAX))
            .into()
    }
}

impl utoipa::ToSchema for Metadata {}

/// Declares a schema-only type: a string limited to `values`, described by its doc comment.
macro_rules! string_enum {
    ($(#[doc = $doc:literal])+ $name:ident = $values:expr;) => {
        $(#[doc = $doc])+
        #[derive(Debug)]
        pub enum $name {}

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                string_enum(&[$($doc),+], $values)
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

fn string_enum<'a>(doc: &[&str], values: impl IntoIterator<Item = &'a str>) -> RefOr<Schema> {
    let description = doc
        .iter()
        .map(|line| line.trim())
        .collect::<Vec<_>>()
        .join(" ");
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .enum_values(Some(values))
        .into()
}

string_enum! {
    /// A stable error code. Each operation lists the codes it can answer with, per status.
    ErrorCode = Codes::ALL.iter().map(|c| c.as_str());
}

string_enum! {
    /// An upper-case ISO 4217 currency code.
    Currency = Currencies::CODES.iter().copied();
}

string_enum! {
    /// Where a payment intent stands: it waits for a card (`requires_payment_method`), for the
    /// buyer's 3D Secure step (`requires_action`) or for a capture (`requires_capture`, a hold),
    /// or it ended (`succeeded`, `canceled`, `expired`).
    PaymentIntentStatus = Status::ALL.iter().map(|s| s.as_str());
}

string_enum! {
    /// `manual` places a hold to capture later; `automatic` charges at confirmation.
    CaptureMethod = CaptureMethods::ALL.iter().map(|m| m.as_str());
}

string_enum! {
    /// Why an intent was canceled. `authorization_expired` is set by expiry only.
    CancellationReason = Reasons::ALL.iter().map(|r| r.as_str());
}

string_enum! {
    /// Why the caller cancels.
    RequestedCancellationReason = Reasons::REQUESTED.iter().map(|r| r.as_str());
}

string_enum! {
    /// The kind of money movement.
    ActionType = ActionTypes::ALL.iter().map(|t| t.as_str());
}

string_enum! {
    /// Whether the money movement happened.
    ActionStatus = ActionStatuses::ALL.iter().map(|s| s.as_str());
}

string_enum! {
    /// An event type.
    EventType = Events::ALL.iter().map(|e| e.as_str());
}

string_enum! {
    /// An event type, or `*` for every type.
    EnabledEvent = std::iter::once("*").chain(Events::ALL.iter().map(|e| e.as_str()));
}

string_enum! {
    /// `open` until paid in full (`paid`) or canceled (`canceled`).
    OrderStatus = OrderStatuses::ALL.iter().map(|s| s.as_str());
}

string_enum! {
    /// `strict` commits stock at payment, so such an item cannot sit behind a hold.
    InventoryTracking = Tracking::ALL.iter().map(|t| t.as_str());
}

string_enum! {
    /// `pending` until the processor answers, then `succeeded` or `failed`.
    RefundStatus = RefundStatuses::ALL.iter().map(|s| s.as_str());
}

string_enum! {
    /// `open` until paid (`complete`) or past `expires_at` (or expired by the merchant: `expired`).
    CheckoutSessionStatus = SessionStatuses::ALL.iter().map(|s| s.as_str());
}

string_enum! {
    /// Why the money goes back.
    RefundReason = RefundReasons::ALL.iter().map(|r| r.as_str());
}

string_enum! {
    /// What a scheduled action does when its time comes.
    ScheduledActionType = ScheduledKind::ALL.iter().map(|k| k.as_str());
}

string_enum! {
    /// `pending` while attempts remain, `delivered`, `failed` after the last attempt, or
    /// `canceled` when the endpoint was deleted or disabled first.
    DeliveryStatus = [
        DeliveryNext::RetryAt(holdfast_domain::Timestamp(0)),
        DeliveryNext::Delivered,
        DeliveryNext::Failed,
        DeliveryNext::Canceled,
    ]
    .map(DeliveryNext::status);
}

string_enum! {
    /// How the buyer's 3D Secure step ends.
    AuthenticationResult = ["success", "failure"];
}

string_enum! {
    /// A payment method type. Cards are the only one.
    PaymentMethodType = ["card"];
}

string_enum! {
    /// A test clock is always `ready`: an advance completes before it answers.
    TestClockStatus = ["ready"];
}

string_enum! {
    /// What the buyer must do next.
    NextActionType = ["redirect_to_url"];
}

string_enum! {
    /// The order of `GET /v1/payment-intents` (read in `routes::payment_intents`).
    IntentOrder = ["created_at", "authorization_expires_at"];
}
