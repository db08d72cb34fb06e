//! Event types: the names of the durable records of state changes.
//!
//! A leaf module: it imports nothing from the rest of the domain, so the state machines that
//! emit these types and the event records that carry their objects ([`crate::event`]) both depend
//! on it without depending on each other.

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
    PaymentIntentAmountCapturableUpdated => "payment_intent.amount_capturable_updated",
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
