//! Events: the durable record of each state change, written in the same transaction as it.

pub use crate::event_type::EventType;

/// A recorded event: what happened, when, and a snapshot of the object as it was right after.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Event {
    pub id: String,
    pub scope: crate::Scope,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub created_at: crate::Timestamp,
    pub request_id: Option<String>,
    pub object: EventObject,
}

impl Event {
    /// The intent the event is about, for filtering: the intent itself, or the one an order event
    /// reports on.
    pub fn payment_intent_id(&self) -> Option<&str> {
        match &self.object {
            EventObject::PaymentIntent(intent) => Some(&intent.id),
            EventObject::Order { detail, .. } => Some(&detail.payment_intent_id),
            EventObject::Refund(refund) => Some(&refund.payment_intent_id),
            EventObject::CheckoutSession(session) => session.payment_intent_id.as_deref(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "object", content = "value", rename_all = "snake_case")]
pub enum EventObject {
    PaymentIntent(Box<crate::intent::PaymentIntent>),
    /// An order event: the order right after the change, and the money movement it reports.
    Order {
        order: Box<crate::order::Order>,
        detail: crate::order::OrderEventDetail,
    },
    Refund(Box<crate::refund::Refund>),
    CheckoutSession(Box<crate::checkout::CheckoutSession>),
}
