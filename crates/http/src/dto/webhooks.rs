//! `/v1/events` and `/v1/webhook-endpoints`: events (what a webhook delivers), endpoints, and
//! their deliveries.

use holdfast_domain::event::{Event, EventObject};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::checkout::CheckoutSessionOut;
use super::common::{MoneyOut, present, rfc3339};
use super::intents::PaymentIntentOut;
use super::orders::OrderOut;
use super::refunds::RefundOut;
use crate::openapi::schemas;

#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListEventsQuery {
    /// Only events of this type.
    #[param(value_type = Option<schemas::EventType>, rename = "type")]
    pub kind: Option<String>,
    /// Only events about this intent.
    pub payment_intent_id: Option<String>,
}

/// An event's `data`: the object right after the change and, for an order event, the money
/// movement it reports.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum EventData {
    PaymentIntent { object: Box<PaymentIntentOut> },
    Refund { object: Box<RefundOut> },
    CheckoutSession { object: Box<CheckoutSessionOut> },
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

/// A recorded change, with the object as it was right after it. Webhooks can deliver events out
/// of order (a retry comes after the events that did not fail); `data.object.version` orders the
/// snapshots of one object, and the events of one change share it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Event)]
pub struct EventOut {
    /// `evt_…`
    pub id: String,
    #[serde(rename = "type")]
    #[schema(value_type = schemas::EventType)]
    pub kind: &'static str,
    /// When the change happened: the object's `updated_at` in that change.
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
            EventObject::CheckoutSession(session) => EventData::CheckoutSession {
                object: Box::new(CheckoutSessionOut::from(session.as_ref())),
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
