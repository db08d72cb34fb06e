//! Event types: the durable record of each state change, written in the same transaction as it.

macro_rules! event_types {
    ($($variant:ident => $name:literal,)*) => {
        /// Every event type Holdfast emits.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum EventType { $($variant,)* }

        impl EventType {
            pub const ALL: &'static [EventType] = &[$(EventType::$variant,)*];

            pub const fn as_str(self) -> &'static str {
                match self { $(EventType::$variant => $name,)* }
            }

            pub fn parse(name: &str) -> Option<EventType> {
                match name { $($name => Some(EventType::$variant),)* _ => None }
            }
        }
    };
}

event_types! {
    PaymentIntentCreated => "payment_intent.created",
    PaymentIntentRequiresAction => "payment_intent.requires_action",
    PaymentIntentRequiresCapture => "payment_intent.requires_capture",
    PaymentIntentSucceeded => "payment_intent.succeeded",
    PaymentIntentCanceled => "payment_intent.canceled",
    PaymentIntentPaymentFailed => "payment_intent.payment_failed",
    PaymentIntentAuthorizationExpiring => "payment_intent.authorization_expiring",
    OrderPaymentAuthorized => "order.payment_authorized",
    OrderPaymentCaptured => "order.payment_captured",
    OrderPaymentSucceeded => "order.payment_succeeded",
    OrderPaymentAuthorizationVoided => "order.payment_authorization_voided",
    OrderPaymentAuthorizationExpired => "order.payment_authorization_expired",
    OrderPaymentRefunded => "order.payment_refunded",
    RefundCreated => "refund.created",
    RefundSucceeded => "refund.succeeded",
    RefundFailed => "refund.failed",
}

impl serde::Serialize for EventType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for EventType {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        EventType::parse(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown event type {name}")))
    }
}

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
}
