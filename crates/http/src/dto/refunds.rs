//! `/v1/refunds`: giving captured money back.

use std::collections::BTreeMap;

use holdfast_domain::refund::Refund;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::common::{MoneyIn, MoneyOut, rfc3339};
use crate::openapi::schemas;

#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListRefundsQuery {
    /// Only the refunds of this intent.
    pub payment_intent_id: Option<String>,
}

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
    /// Grows with every change to the refund, starting at 1. An event carries the refund as it was
    /// after its change, version included: of two snapshots, the one with the higher version is
    /// the later (events can arrive out of order).
    pub version: u64,
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
            version: r.version,
        }
    }
}
