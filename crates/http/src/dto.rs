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

// ---- Requests ----------------------------------------------------------------------------

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoneyIn {
    pub amount: i64,
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateIntentBody {
    pub amount_money: Option<MoneyIn>,
    pub payment_method_types: Option<Vec<String>>,
    pub capture_method: Option<String>,
    #[serde(default)]
    pub auto_confirm: bool,
    pub payment_source_token: Option<String>,
    pub customer_id: Option<String>,
    /// The order this intent pays; it then takes no amount.
    pub order_id: Option<String>,
    pub description: Option<String>,
    pub reference: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// A test clock id (`clock_…`): the intent lives on that clock's time.
    pub test_clock: Option<String>,
    pub scheduled_action: Option<ScheduleAtCreationIn>,
}

/// `scheduled_action` at creation: relative to the deadline confirm will set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleAtCreationIn {
    #[serde(rename = "type")]
    pub kind: String,
    pub offset_before_expiry_seconds: i64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmBody {
    pub payment_source_token: Option<String>,
    pub payment_method_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureBody {
    pub amount_money: Option<MoneyIn>,
    pub reference: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    pub cancellation_reason: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduledActionBody {
    #[serde(rename = "type")]
    pub kind: String,
    pub at: String,
    pub amount_money: Option<MoneyIn>,
}

/// An empty body (`DELETE`s and the like): any field is unknown.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmptyBody {}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTestClockBody {
    pub frozen_time: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdvanceTestClockBody {
    pub frozen_time: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthenticateBody {
    pub result: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateCustomerBody {
    pub email: Option<String>,
    pub name: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavePaymentMethodBody {
    pub payment_source_token: String,
}

// ---- Responses ---------------------------------------------------------------------------

/// `{"data": …}`, the wrapper of every single-object answer.
#[derive(Debug, Serialize)]
pub struct Data<T> {
    pub data: T,
}

/// A page of a list.
#[derive(Debug, Serialize)]
pub struct List<T> {
    pub data: Vec<T>,
    pub has_more: bool,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MoneyOut {
    pub amount: i64,
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

#[derive(Debug, Serialize)]
pub struct PaymentErrorOut {
    pub code: String,
    pub decline_code: String,
    pub message: String,
}

#[derive(Debug, Serialize)]
pub struct RedirectToUrl {
    pub url: String,
}

#[derive(Debug, Serialize)]
pub struct NextActionOut {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub redirect_to_url: RedirectToUrl,
}

#[derive(Debug, Serialize)]
pub struct PaymentIntentOut {
    pub payment_intent_id: String,
    pub status: &'static str,
    pub amount_money: MoneyOut,
    pub capture_method: &'static str,
    pub payment_method_types: Vec<String>,
    pub authorized_amount_money: MoneyOut,
    pub capturable_amount_money: MoneyOut,
    pub captured_amount_money: MoneyOut,
    pub released_amount_money: MoneyOut,
    pub refunded_amount_money: MoneyOut,
    pub authorized_at: Option<String>,
    pub authorization_expires_at: Option<String>,
    pub captured_at: Option<String>,
    pub canceled_at: Option<String>,
    pub cancellation_reason: Option<&'static str>,
    pub payment_method_brand: Option<String>,
    pub payment_method_last_four: Option<String>,
    pub payment_method_id: Option<String>,
    pub customer_id: Option<String>,
    pub last_payment_error: Option<PaymentErrorOut>,
    pub next_action: Option<NextActionOut>,
    pub description: Option<String>,
    pub reference: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub source: String,
    pub scheduled_action: Option<ScheduledActionOut>,
    pub order_id: Option<String>,
    pub test_clock: Option<String>,
    pub livemode: bool,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Serialize)]
pub struct ScheduledActionOut {
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// `null` until confirm sets the deadline an offset refers to.
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

#[derive(Debug, Serialize)]
pub struct ClientConfirmation {
    pub client_secret: String,
    pub confirm_path: String,
}

#[derive(Debug, Serialize)]
pub struct CreatedIntentOut {
    pub payment_intent: PaymentIntentOut,
    pub client_confirmation: ClientConfirmation,
}

#[derive(Debug, Serialize)]
pub struct ActionOut {
    pub action_id: String,
    pub payment_intent_id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub amount_money: MoneyOut,
    pub status: &'static str,
    pub reference: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub request_id: Option<String>,
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
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum EventData {
    PaymentIntent { object: Box<PaymentIntentOut> },
    Refund { object: Box<RefundOut> },
    Order(Box<OrderEventData>),
}

/// An order event's `data`: the order, and the money movement the event reports.
#[derive(Debug, Serialize)]
pub struct OrderEventData {
    pub object: OrderOut,
    pub payment_intent_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorized_money: Option<MoneyOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capturable_money: Option<MoneyOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub captured_money: Option<MoneyOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub released_money: Option<MoneyOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refunded_money: Option<MoneyOut>,
}

#[derive(Debug, Serialize)]
pub struct EventOut {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub created_at: String,
    pub livemode: bool,
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

#[derive(Debug, Serialize)]
pub struct CustomerOut {
    pub customer_id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub livemode: bool,
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

#[derive(Debug, Serialize)]
pub struct PaymentMethodOut {
    pub payment_method_id: String,
    pub customer_id: String,
    pub brand: String,
    pub last_four: String,
    pub livemode: bool,
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

#[derive(Debug, Serialize)]
pub struct TestClockOut {
    pub test_clock_id: String,
    pub name: Option<String>,
    pub frozen_time: String,
    pub status: &'static str,
    pub livemode: bool,
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineItemIn {
    pub name: String,
    pub quantity: i64,
    pub unit_price_money: MoneyIn,
    pub sku: Option<String>,
    pub inventory_tracking: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscountIn {
    pub name: String,
    pub amount_money: MoneyIn,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateOrderBody {
    pub currency: String,
    pub line_items: Vec<LineItemIn>,
    pub tip_money: Option<MoneyIn>,
    #[serde(default)]
    pub discounts: Vec<DiscountIn>,
    pub reference: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// `PATCH`: an absent field is kept; `null` clears a clearable one.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrderBody {
    pub line_items: Option<Vec<LineItemIn>>,
    #[serde(default, deserialize_with = "present")]
    pub tip_money: Option<Option<MoneyIn>>,
    pub discounts: Option<Vec<DiscountIn>>,
    #[serde(default, deserialize_with = "present")]
    pub reference: Option<Option<String>>,
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayOrderBody {
    pub payment_intent_ids: Vec<String>,
    #[serde(default)]
    pub payment_source_tokens: BTreeMap<String, String>,
    pub expected_amount_money: MoneyIn,
    #[serde(default)]
    pub payment_amounts: BTreeMap<String, MoneyIn>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderCaptureBody {
    pub amount_money: Option<MoneyIn>,
    pub reference: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct LineItemOut {
    pub name: String,
    pub quantity: i64,
    pub unit_price_money: MoneyOut,
    pub total_money: MoneyOut,
    pub sku: Option<String>,
    pub inventory_tracking: &'static str,
}

#[derive(Debug, Serialize)]
pub struct DiscountOut {
    pub name: String,
    pub amount_money: MoneyOut,
}

#[derive(Debug, Serialize)]
pub struct AuthorizationAmounts {
    pub authorized_money: MoneyOut,
    pub capturable_money: MoneyOut,
    pub expires_at: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SettlementAmounts {
    pub paid_money: MoneyOut,
    pub amount_due_money: MoneyOut,
    pub refunded_money: MoneyOut,
}

#[derive(Debug, Serialize)]
pub struct OrderOut {
    pub order_id: String,
    pub status: &'static str,
    pub currency: String,
    pub line_items: Vec<LineItemOut>,
    pub tip_money: MoneyOut,
    pub discounts: Vec<DiscountOut>,
    pub total_money: MoneyOut,
    pub authorization_amounts: AuthorizationAmounts,
    pub settlement_amounts: SettlementAmounts,
    pub payment_intent_ids: Vec<String>,
    pub reference: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub livemode: bool,
    pub canceled_at: Option<String>,
    pub created_at: String,
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRefundBody {
    pub payment_intent_id: String,
    pub amount_money: Option<MoneyIn>,
    pub reason: Option<String>,
    pub reference: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Serialize)]
pub struct RefundOut {
    pub refund_id: String,
    pub payment_intent_id: String,
    pub order_id: Option<String>,
    pub amount_money: MoneyOut,
    pub status: &'static str,
    pub reason: Option<&'static str>,
    pub failure_reason: Option<String>,
    pub reference: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub livemode: bool,
    pub created_at: String,
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookEndpointBody {
    pub url: String,
    pub enabled_events: Vec<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookEndpointBody {
    pub url: Option<String>,
    pub enabled_events: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    pub description: Option<Option<String>>,
    pub disabled: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct WebhookEndpointOut {
    pub webhook_endpoint_id: String,
    pub url: String,
    pub enabled_events: Vec<String>,
    pub description: Option<String>,
    pub disabled: bool,
    pub livemode: bool,
    /// Shown only when the endpoint is created and when its secret is rotated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub created_at: String,
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

#[derive(Debug, Serialize)]
pub struct AttemptOut {
    pub attempt: u32,
    pub attempted_at: String,
    pub status_code: Option<u16>,
    pub latency_ms: i64,
    pub error: Option<String>,
    pub next_attempt_at: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct DeliveryOut {
    pub webhook_endpoint_id: String,
    /// `pending`, `delivered`, `failed` or `canceled` (the endpoint was deleted or disabled).
    pub status: String,
    pub attempts_count: u32,
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
