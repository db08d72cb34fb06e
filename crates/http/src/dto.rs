//! Wire types: request bodies as they arrive and objects as the API shows them.
//! Only this module knows the JSON shapes; the domain never serializes itself onto the wire.

use std::collections::BTreeMap;

use holdfast_domain::customer::{Customer, SavedPaymentMethod};
use holdfast_domain::event::{Event, EventObject};
use holdfast_domain::intent::{Action, PaymentIntent, RawMoney};
use holdfast_domain::order::Order;
use holdfast_domain::refund::Refund;
use holdfast_domain::test_clock::TestClock;
use holdfast_domain::{Money, Timestamp};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::{IntoParams, ToSchema};

use crate::openapi::schemas;

// ---- Requests ----------------------------------------------------------------------------

/// An amount of money: integer minor units and a currency. There are no floats.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"amount": 12900, "currency": "USD"})))]
pub struct MoneyIn {
    /// In minor units of the currency: cents for USD, yen for JPY. Never negative; most
    /// operations take only a positive amount.
    #[schema(minimum = 0)]
    pub amount: i64,
    #[schema(value_type = schemas::Currency)]
    pub currency: String,
}

impl From<MoneyIn> for RawMoney {
    fn from(m: MoneyIn) -> RawMoney {
        RawMoney {
            amount: m.amount,
            currency: m.currency,
        }
    }
}

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

/// An empty body (`DELETE`s and the like): any field is unknown.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmptyBody {}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"name": "month end"})))]
pub struct CreateTestClockBody {
    /// The clock's starting time; now when left out.
    #[schema(format = DateTime)]
    pub frozen_time: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"frozen_time": "2030-01-01T00:00:00Z"})))]
pub struct AdvanceTestClockBody {
    /// The new time: never earlier than the clock's.
    #[schema(format = DateTime)]
    pub frozen_time: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"result": "success"})))]
pub struct AuthenticateBody {
    #[schema(value_type = schemas::AuthenticationResult)]
    pub result: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"email": "ada@example.com", "name": "Ada Lovelace"})))]
pub struct CreateCustomerBody {
    pub email: Option<String>,
    pub name: Option<String>,
    #[serde(default)]
    #[schema(value_type = schemas::Metadata)]
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"payment_source_token": "pm_card_visa"})))]
pub struct SavePaymentMethodBody {
    /// The card to save. Test mode takes the `pm_card_…` test tokens.
    #[schema(examples("pm_card_visa"))]
    pub payment_source_token: String,
}

/// The `Idempotency-Key` header of a mutating request. [`crate::extract::Mutation`] reads it;
/// this type only describes it.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKeyHeader {
    /// 1 to 255 printable ASCII characters, chosen by the client. The same request repeated
    /// with the same key replays the stored answer (with `Idempotent-Replayed: true`) instead
    /// of acting twice; another request with the same key answers 422 `IDEMPOTENCY_KEY_REUSED`.
    /// Keys are kept for 8 days.
    #[param(
        rename = "Idempotency-Key",
        min_length = 1,
        max_length = 255,
        pattern = "^[\\x20-\\x7E]+$"
    )]
    pub idempotency_key: Option<String>,
}

// ---- Query strings -------------------------------------------------------------------------
// The handlers take query parameters one by one (`extract::Query`), so an unknown one can be
// named in the error; these types only describe them.

/// The paging of every list, newest first.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// How many objects to answer with.
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<u32>,
    /// Where the page starts: the `next_cursor` of the page before.
    #[param(min_length = 1)]
    pub cursor: Option<String>,
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

#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListOrdersQuery {
    #[param(value_type = Option<schemas::OrderStatus>)]
    pub status: Option<String>,
}

#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListRefundsQuery {
    /// Only the refunds of this intent.
    pub payment_intent_id: Option<String>,
}

#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListEventsQuery {
    /// Only events of this type.
    #[param(value_type = Option<schemas::EventType>, rename = "type")]
    pub kind: Option<String>,
    /// Only events about this intent.
    pub payment_intent_id: Option<String>,
}

// ---- Responses ---------------------------------------------------------------------------

/// `{"data": …}`, the wrapper of every single-object answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Data<T> {
    pub data: T,
}

/// A page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct List<T> {
    pub data: Vec<T>,
    pub has_more: bool,
    pub next_cursor: Option<String>,
}

/// An amount of money: integer minor units and a currency. There are no floats.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Money)]
pub struct MoneyOut {
    /// In minor units of the currency: cents for USD, yen for JPY.
    pub amount: i64,
    #[schema(value_type = schemas::Currency)]
    pub currency: String,
}

impl From<Money> for MoneyOut {
    fn from(m: Money) -> MoneyOut {
        MoneyOut::new(m)
    }
}

impl MoneyOut {
    pub fn new(m: Money) -> MoneyOut {
        MoneyOut {
            amount: m.amount,
            currency: m.currency.to_string(),
        }
    }
}

/// RFC 3339, UTC, whole seconds: `2026-07-03T02:57:20Z`.
pub fn rfc3339(t: Timestamp) -> String {
    OffsetDateTime::from_unix_timestamp(t.seconds())
        .ok()
        .and_then(|dt| dt.format(&Rfc3339).ok())
        .unwrap_or_default()
}

pub fn parse_rfc3339(s: &str) -> Option<Timestamp> {
    OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .map(|dt| Timestamp(dt.unix_timestamp()))
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
    /// Whether a live key created it.
    pub livemode: bool,
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
            livemode: pi.scope.livemode,
            created_at: rfc3339(pi.created_at),
            updated_at: rfc3339(pi.updated_at),
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

/// An event's `data`: the object right after the change and, for an order event, the money
/// movement it reports.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum EventData {
    PaymentIntent { object: Box<PaymentIntentOut> },
    Refund { object: Box<RefundOut> },
    Order(Box<OrderEventData>),
}

/// An order event's `data`: the order, and the money movement the event reports.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderEventData {
    pub object: OrderOut,
    pub payment_intent_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub authorized_money: Option<MoneyOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub capturable_money: Option<MoneyOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime, nullable = false)]
    pub authorization_expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub captured_money: Option<MoneyOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub released_money: Option<MoneyOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub refunded_money: Option<MoneyOut>,
}

/// A recorded change, with the object as it was right after it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Event)]
pub struct EventOut {
    /// `evt_…`
    pub id: String,
    #[serde(rename = "type")]
    #[schema(value_type = schemas::EventType)]
    pub kind: &'static str,
    #[schema(format = DateTime)]
    pub created_at: String,
    pub livemode: bool,
    /// The request that caused it; `null` for the worker's changes.
    pub request_id: Option<String>,
    pub data: EventData,
}

impl From<&Event> for EventOut {
    fn from(e: &Event) -> EventOut {
        let data = match &e.object {
            EventObject::PaymentIntent(pi) => EventData::PaymentIntent {
                object: Box::new(PaymentIntentOut::from(pi.as_ref())),
            },
            EventObject::Order { order, detail } => {
                let money = |amount: Option<i64>| amount.map(|a| MoneyOut::new(order.money(a)));
                EventData::Order(Box::new(OrderEventData {
                    object: OrderOut::from(order.as_ref()),
                    payment_intent_id: detail.payment_intent_id.clone(),
                    authorized_money: money(detail.authorized),
                    capturable_money: money(detail.capturable),
                    authorization_expires_at: detail.authorization_expires_at.map(rfc3339),
                    captured_money: money(detail.captured),
                    released_money: money(detail.released),
                    refunded_money: money(detail.refunded),
                }))
            }
            EventObject::Refund(refund) => EventData::Refund {
                object: Box::new(RefundOut::from(refund.as_ref())),
            },
        };
        EventOut {
            id: e.id.clone(),
            kind: e.kind.as_str(),
            created_at: rfc3339(e.created_at),
            livemode: e.scope.livemode,
            request_id: e.request_id.clone(),
            data,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Customer)]
pub struct CustomerOut {
    /// `cus_…`
    pub customer_id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    #[schema(value_type = schemas::Metadata)]
    pub metadata: BTreeMap<String, String>,
    pub livemode: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<&Customer> for CustomerOut {
    fn from(c: &Customer) -> CustomerOut {
        CustomerOut {
            customer_id: c.id.clone(),
            email: c.email.clone(),
            name: c.name.clone(),
            metadata: c.metadata.clone(),
            livemode: c.scope.livemode,
            created_at: rfc3339(c.created_at),
        }
    }
}

/// A saved card. Confirm an intent of its customer with its `payment_method_id`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PaymentMethod)]
pub struct PaymentMethodOut {
    /// `pm_…`
    pub payment_method_id: String,
    pub customer_id: String,
    pub brand: String,
    pub last_four: String,
    pub livemode: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<&SavedPaymentMethod> for PaymentMethodOut {
    fn from(m: &SavedPaymentMethod) -> PaymentMethodOut {
        PaymentMethodOut {
            payment_method_id: m.id.clone(),
            customer_id: m.customer_id.clone(),
            brand: m.card.brand.clone(),
            last_four: m.card.last_four.clone(),
            livemode: m.scope.livemode,
            created_at: rfc3339(m.created_at),
        }
    }
}

/// A frozen time that test-mode intents created with `test_clock` live on.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = TestClock)]
pub struct TestClockOut {
    /// `clock_…`
    pub test_clock_id: String,
    pub name: Option<String>,
    #[schema(format = DateTime)]
    pub frozen_time: String,
    #[schema(value_type = schemas::TestClockStatus)]
    pub status: &'static str,
    pub livemode: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<&TestClock> for TestClockOut {
    fn from(c: &TestClock) -> TestClockOut {
        TestClockOut {
            test_clock_id: c.id.clone(),
            name: c.name.clone(),
            frozen_time: rfc3339(c.frozen_time),
            status: "ready",
            livemode: c.scope.livemode,
            created_at: rfc3339(c.created_at),
        }
    }
}

// ---- Orders ------------------------------------------------------------------------------------

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineItemIn {
    /// Not blank.
    #[schema(min_length = 1, max_length = 500)]
    pub name: String,
    #[schema(minimum = 1)]
    pub quantity: i64,
    pub unit_price_money: MoneyIn,
    pub sku: Option<String>,
    /// `none` (the default) or `strict`.
    #[schema(value_type = Option<schemas::InventoryTracking>)]
    pub inventory_tracking: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscountIn {
    /// Not blank.
    #[schema(min_length = 1, max_length = 500)]
    pub name: String,
    pub amount_money: MoneyIn,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"currency": "USD", "line_items": [{"name": "Camera", "quantity": 1, "unit_price_money": {"amount": 12900, "currency": "USD"}}]})))]
pub struct CreateOrderBody {
    /// Every amount of the order is in this currency.
    #[schema(value_type = schemas::Currency)]
    pub currency: String,
    #[schema(min_items = 1, max_items = 500)]
    pub line_items: Vec<LineItemIn>,
    pub tip_money: Option<MoneyIn>,
    #[serde(default)]
    pub discounts: Vec<DiscountIn>,
    pub reference: Option<String>,
    #[serde(default)]
    #[schema(value_type = schemas::Metadata)]
    pub metadata: BTreeMap<String, String>,
}

/// `PATCH`: an absent field is kept; `null` clears a clearable one.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"reference": "order-1001"})))]
pub struct UpdateOrderBody {
    /// Replaces every line item. Money fields are locked while a hold is active or once
    /// anything is paid.
    #[schema(min_items = 1, max_items = 500)]
    pub line_items: Option<Vec<LineItemIn>>,
    /// `null` removes the tip.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<MoneyIn>)]
    pub tip_money: Option<Option<MoneyIn>>,
    pub discounts: Option<Vec<DiscountIn>>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub reference: Option<Option<String>>,
    /// Replaces the whole map.
    #[schema(value_type = Option<schemas::Metadata>)]
    pub metadata: Option<BTreeMap<String, String>>,
}

/// Tells a field given as `null` (`Some(None)`) from one left out (`None`).
fn present<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Places the holds (or charges) for every intent, or for none.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayOrderBody {
    /// The order's intents that pay it, each in `requires_payment_method`.
    #[schema(min_items = 1)]
    pub payment_intent_ids: Vec<String>,
    /// Each intent's card token, by intent id.
    #[serde(default)]
    pub payment_source_tokens: BTreeMap<String, String>,
    /// Must equal the order's balance due, or nothing is charged.
    pub expected_amount_money: MoneyIn,
    /// Split tender: each intent's share, by intent id. Required with several intents.
    #[serde(default)]
    pub payment_amounts: BTreeMap<String, MoneyIn>,
}

/// An empty body captures the whole hold.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderCaptureBody {
    /// Part of the hold: the rest is released.
    pub amount_money: Option<MoneyIn>,
    pub reference: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = LineItem)]
pub struct LineItemOut {
    pub name: String,
    pub quantity: i64,
    pub unit_price_money: MoneyOut,
    /// `quantity × unit_price_money`.
    pub total_money: MoneyOut,
    pub sku: Option<String>,
    #[schema(value_type = schemas::InventoryTracking)]
    pub inventory_tracking: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Discount)]
pub struct DiscountOut {
    pub name: String,
    pub amount_money: MoneyOut,
}

/// The order's active holds.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthorizationAmounts {
    pub authorized_money: MoneyOut,
    pub capturable_money: MoneyOut,
    /// The soonest deadline of the order's holds.
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
}

/// What the order's intents settled: `amount_due = total - paid`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SettlementAmounts {
    pub paid_money: MoneyOut,
    pub amount_due_money: MoneyOut,
    pub refunded_money: MoneyOut,
}

/// An order: line items, a total, and the intents that pay it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Order)]
pub struct OrderOut {
    /// `ord_…`
    pub order_id: String,
    #[schema(value_type = schemas::OrderStatus)]
    pub status: &'static str,
    #[schema(value_type = schemas::Currency)]
    pub currency: String,
    pub line_items: Vec<LineItemOut>,
    pub tip_money: MoneyOut,
    pub discounts: Vec<DiscountOut>,
    pub total_money: MoneyOut,
    pub authorization_amounts: AuthorizationAmounts,
    pub settlement_amounts: SettlementAmounts,
    pub payment_intent_ids: Vec<String>,
    pub reference: Option<String>,
    #[schema(value_type = schemas::Metadata)]
    pub metadata: BTreeMap<String, String>,
    pub livemode: bool,
    #[schema(format = DateTime)]
    pub canceled_at: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl From<&Order> for OrderOut {
    fn from(o: &Order) -> OrderOut {
        let money = |amount| MoneyOut::new(o.money(amount));
        OrderOut {
            order_id: o.id.clone(),
            status: o.status.as_str(),
            currency: o.currency.to_string(),
            line_items: o
                .line_items
                .iter()
                .map(|i| LineItemOut {
                    name: i.name.clone(),
                    quantity: i.quantity,
                    unit_price_money: MoneyOut::new(i.unit_price),
                    total_money: money(i.total()),
                    sku: i.sku.clone(),
                    inventory_tracking: i.inventory_tracking.as_str(),
                })
                .collect(),
            tip_money: money(o.tip),
            discounts: o
                .discounts
                .iter()
                .map(|d| DiscountOut {
                    name: d.name.clone(),
                    amount_money: MoneyOut::new(d.amount),
                })
                .collect(),
            total_money: money(o.total),
            authorization_amounts: AuthorizationAmounts {
                authorized_money: money(o.authorized()),
                capturable_money: money(o.capturable()),
                expires_at: o.hold_expires_at().map(rfc3339),
            },
            settlement_amounts: SettlementAmounts {
                paid_money: money(o.paid),
                amount_due_money: money(o.amount_due()),
                refunded_money: money(o.refunded),
            },
            payment_intent_ids: o.payment_intent_ids.clone(),
            reference: o.reference.clone(),
            metadata: o.metadata.clone(),
            livemode: o.scope.livemode,
            canceled_at: o.canceled_at.map(rfc3339),
            created_at: rfc3339(o.created_at),
            updated_at: rfc3339(o.updated_at),
        }
    }
}

// ---- Refunds -----------------------------------------------------------------------------------

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"payment_intent_id": "pi_…", "amount_money": {"amount": 2000, "currency": "USD"}, "reason": "requested_by_customer"})))]
pub struct CreateRefundBody {
    /// The intent whose captured money goes back.
    pub payment_intent_id: String,
    /// Everything still refundable when left out.
    pub amount_money: Option<MoneyIn>,
    #[schema(value_type = Option<schemas::RefundReason>)]
    pub reason: Option<String>,
    pub reference: Option<String>,
    #[serde(default)]
    #[schema(value_type = schemas::Metadata)]
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Refund)]
pub struct RefundOut {
    /// `re_…`
    pub refund_id: String,
    pub payment_intent_id: String,
    /// The order the intent pays, if any.
    pub order_id: Option<String>,
    pub amount_money: MoneyOut,
    #[schema(value_type = schemas::RefundStatus)]
    pub status: &'static str,
    #[schema(value_type = Option<schemas::RefundReason>)]
    pub reason: Option<&'static str>,
    /// Why the processor refused it, when `status` is `failed`.
    pub failure_reason: Option<String>,
    pub reference: Option<String>,
    #[schema(value_type = schemas::Metadata)]
    pub metadata: BTreeMap<String, String>,
    pub livemode: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl From<&Refund> for RefundOut {
    fn from(r: &Refund) -> RefundOut {
        RefundOut {
            refund_id: r.id.clone(),
            payment_intent_id: r.payment_intent_id.clone(),
            order_id: r.order_id.clone(),
            amount_money: MoneyOut::new(r.amount),
            status: r.status.as_str(),
            reason: r.reason.map(|x| x.as_str()),
            failure_reason: r.failure_reason.clone(),
            reference: r.reference.clone(),
            metadata: r.metadata.clone(),
            livemode: r.scope.livemode,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

// ---- Webhooks ----------------------------------------------------------------------------------

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"url": "https://example.com/webhooks", "enabled_events": ["*"]})))]
pub struct CreateWebhookEndpointBody {
    /// Where events are POSTed: `https://` (or `http://` in test mode).
    pub url: String,
    /// Event types, or `["*"]` for all.
    #[schema(value_type = Vec<schemas::EnabledEvent>, min_items = 1)]
    pub enabled_events: Vec<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"disabled": true})))]
pub struct UpdateWebhookEndpointBody {
    pub url: Option<String>,
    #[schema(value_type = Option<Vec<schemas::EnabledEvent>>, min_items = 1)]
    pub enabled_events: Option<Vec<String>>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    /// A disabled endpoint receives nothing: its pending deliveries end `canceled`.
    pub disabled: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = WebhookEndpoint)]
pub struct WebhookEndpointOut {
    /// `we_…`
    pub webhook_endpoint_id: String,
    pub url: String,
    #[schema(value_type = Vec<schemas::EnabledEvent>)]
    pub enabled_events: Vec<String>,
    pub description: Option<String>,
    pub disabled: bool,
    pub livemode: bool,
    /// The signing secret (`whsec_…`), shown only when the endpoint is created and when its
    /// secret is rotated.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub secret: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl WebhookEndpointOut {
    pub fn new(e: &holdfast_domain::webhook::WebhookEndpoint, secret: Option<String>) -> Self {
        WebhookEndpointOut {
            webhook_endpoint_id: e.id.clone(),
            url: e.url.clone(),
            enabled_events: e.enabled_events.clone(),
            description: e.description.clone(),
            disabled: e.disabled,
            livemode: e.scope.livemode,
            secret,
            created_at: rfc3339(e.created_at),
            updated_at: rfc3339(e.updated_at),
        }
    }
}

/// One try at delivering an event to an endpoint.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = DeliveryAttempt)]
pub struct AttemptOut {
    /// 1 for the first try.
    pub attempt: u32,
    #[schema(format = DateTime)]
    pub attempted_at: String,
    /// The endpoint's HTTP status; `null` when it never answered.
    pub status_code: Option<u16>,
    pub latency_ms: i64,
    pub error: Option<String>,
    #[schema(format = DateTime)]
    pub next_attempt_at: Option<String>,
}

/// An event's delivery to one endpoint.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Delivery)]
pub struct DeliveryOut {
    pub webhook_endpoint_id: String,
    #[schema(value_type = schemas::DeliveryStatus)]
    pub status: String,
    pub attempts_count: u32,
    #[schema(format = DateTime)]
    pub next_attempt_at: Option<String>,
    pub attempts: Vec<AttemptOut>,
}

impl From<&holdfast_store::DeliveryRecord> for DeliveryOut {
    fn from(d: &holdfast_store::DeliveryRecord) -> DeliveryOut {
        DeliveryOut {
            webhook_endpoint_id: d.endpoint_id.clone(),
            status: d.status.clone(),
            attempts_count: d.attempts,
            next_attempt_at: d.next_attempt_at.filter(|t| t.seconds() > 0).map(rfc3339),
            attempts: d
                .log
                .iter()
                .map(|a| AttemptOut {
                    attempt: a.attempt,
                    attempted_at: rfc3339(a.attempted_at),
                    status_code: a.status_code,
                    latency_ms: a.latency_ms,
                    error: a.error.clone(),
                    next_attempt_at: a.next_attempt_at.map(rfc3339),
                })
                .collect(),
        }
    }
}

// ---- Small answers -----------------------------------------------------------------------------

/// A deleted object's id.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeletedTestClockOut {
    pub test_clock_id: String,
    /// Always `true`.
    pub deleted: bool,
}

/// A deleted object's id.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeletedWebhookEndpointOut {
    pub webhook_endpoint_id: String,
    /// Always `true`.
    pub deleted: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ResentEventOut {
    /// The event's id.
    pub id: String,
    /// How many deliveries were queued: one per enabled endpoint that wants the event.
    pub queued_deliveries: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthOut {
    /// Always `ok`.
    pub status: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadinessOut {
    /// Always `ready`: an unreachable database answers 503 instead.
    pub status: &'static str,
    /// `sqlite` or `postgres`.
    pub database: &'static str,
}
