//! `/v1/checkout-sessions`: hosted pages that take one payment, captured automatically.

use std::collections::BTreeMap;

use holdfast_domain::checkout::CheckoutSession;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::common::{MoneyIn, MoneyOut, rfc3339};
use crate::openapi::schemas;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({
    "amount_money": {"amount": 2500, "currency": "USD"},
    "description": "Camera rental, one day",
    "success_url": "https://shop.example/thanks",
    "cancel_url": "https://shop.example/cart"
})))]
pub struct CreateCheckoutSessionBody {
    /// What the buyer pays.
    pub amount_money: Option<MoneyIn>,
    /// Where the buyer goes once paid, with `?checkout_session_id=cs_…` added.
    pub success_url: Option<String>,
    /// Where the page's "Cancel" link goes.
    pub cancel_url: Option<String>,
    /// Checkout sessions always capture automatically: `manual` answers 400
    /// `MANUAL_CAPTURE_NOT_ALLOWED_WITH_CHECKOUT`; `automatic` changes nothing.
    #[schema(value_type = Option<schemas::CaptureMethod>)]
    pub capture_method: Option<String>,
    /// What is being paid for, shown on the page and kept on the payment intent.
    pub description: Option<String>,
    /// The customer the payment intent is for.
    pub customer_id: Option<String>,
    pub reference: Option<String>,
    #[serde(default)]
    #[schema(value_type = schemas::Metadata)]
    pub metadata: BTreeMap<String, String>,
    /// How long the page takes payment: 60 seconds to 7 days; 24 hours when left out.
    #[schema(minimum = 60, maximum = 604800)]
    pub expires_in_seconds: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = CheckoutSession)]
pub struct CheckoutSessionOut {
    /// `cs_…`
    pub checkout_session_id: String,
    #[schema(value_type = schemas::CheckoutSessionStatus)]
    pub status: &'static str,
    /// The hosted page: send the buyer here. No API key is needed; the id is the credential.
    pub url: String,
    pub amount_money: MoneyOut,
    /// The payment intent that paid the session (`source: "checkout_session"`); `null` until
    /// the session is `complete`.
    pub payment_intent_id: Option<String>,
    /// Always `automatic`.
    #[schema(value_type = schemas::CaptureMethod)]
    pub capture_method: &'static str,
    pub description: Option<String>,
    pub success_url: String,
    pub cancel_url: String,
    pub customer_id: Option<String>,
    pub reference: Option<String>,
    #[schema(value_type = schemas::Metadata)]
    pub metadata: BTreeMap<String, String>,
    pub livemode: bool,
    #[schema(format = DateTime)]
    pub expires_at: String,
    #[schema(format = DateTime)]
    pub completed_at: Option<String>,
    #[schema(format = DateTime)]
    pub expired_at: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<&CheckoutSession> for CheckoutSessionOut {
    fn from(s: &CheckoutSession) -> CheckoutSessionOut {
        CheckoutSessionOut {
            checkout_session_id: s.id.clone(),
            status: s.status.as_str(),
            url: s.url.clone(),
            amount_money: MoneyOut::new(s.amount),
            payment_intent_id: s.payment_intent_id.clone(),
            capture_method: "automatic",
            description: s.description.clone(),
            success_url: s.success_url.clone(),
            cancel_url: s.cancel_url.clone(),
            customer_id: s.customer_id.clone(),
            reference: s.reference.clone(),
            metadata: s.metadata.clone(),
            livemode: s.scope.livemode,
            expires_at: rfc3339(s.expires_at),
            completed_at: s.completed_at.map(rfc3339),
            expired_at: s.expired_at.map(rfc3339),
            created_at: rfc3339(s.created_at),
        }
    }
}
