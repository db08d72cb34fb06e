//! Refunds: reversing captured money, in one or several parts.
//!
//! Only captured money is refundable; the released remainder of a partial capture never is. A
//! refund first reserves its amount on the intent (`refund_pending`), so concurrent refunds can
//! never add up past what was captured; the processor's answer then either moves the reservation
//! to `refunded` or gives it back.
//!
//! On every intent: `refunded + refund_pending <= captured`.

use serde::{Deserialize, Serialize};

use crate::error::{ErrorCode, Rejection};
use crate::event_type::EventType;
use crate::intent::{ActionStatus, ActionType, Ctx, PaymentIntent, Status, TEXT_CHARS_MAX};
use crate::metadata::{self, Metadata};
use crate::money::{AmountRules, Limits, Money, RawMoney};
use crate::{Scope, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    Pending,
    Succeeded,
    Failed,
}

impl RefundStatus {
    pub const ALL: &'static [RefundStatus] = &[
        RefundStatus::Pending,
        RefundStatus::Succeeded,
        RefundStatus::Failed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            RefundStatus::Pending => "pending",
            RefundStatus::Succeeded => "succeeded",
            RefundStatus::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundReason {
    RequestedByCustomer,
    Duplicate,
    Fraudulent,
}

impl RefundReason {
    pub const ALL: &'static [RefundReason] = &[
        RefundReason::RequestedByCustomer,
        RefundReason::Duplicate,
        RefundReason::Fraudulent,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            RefundReason::RequestedByCustomer => "requested_by_customer",
            RefundReason::Duplicate => "duplicate",
            RefundReason::Fraudulent => "fraudulent",
        }
    }

    fn parse(name: &str) -> Option<RefundReason> {
        RefundReason::ALL
            .iter()
            .copied()
            .find(|r| r.as_str() == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub id: String,
    pub scope: Scope,
    pub version: u64,
    pub payment_intent_id: String,
    pub order_id: Option<String>,
    pub amount: Money,
    pub status: RefundStatus,
    pub reason: Option<RefundReason>,
    pub reference: Option<String>,
    #[serde(default)]
    pub metadata: Metadata,
    pub failure_reason: Option<String>,
    /// The `Idempotency-Key` of the request that created it, so a retry resumes this refund.
    pub idempotency_key: Option<String>,
    pub request_id: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// `POST /v1/refunds` as the domain sees it.
#[derive(Debug, Clone, Default)]
pub struct RefundRequest {
    /// `None` refunds everything still refundable.
    pub amount: Option<RawMoney>,
    pub reason: Option<String>,
    pub reference: Option<String>,
    pub metadata: Metadata,
}

impl PaymentIntent {
    /// Captured money not yet refunded nor reserved by a pending refund.
    pub fn refundable(&self) -> i64 {
        self.captured - self.refunded - self.refund_pending
    }
}

/// How a refund checks its amount, in the contract's order: greater than zero, in the payment's
/// currency (an unknown code is simply another currency), no more than still refundable.
const REFUND_AMOUNT: AmountRules = AmountRules {
    unknown_currency: None,
    other_currency: (
        ErrorCode::RefundCurrencyMismatch,
        "refund in the payment's currency",
    ),
    zero_allowed: false,
    too_small: (
        ErrorCode::InvalidRefundAmount,
        "the refund amount must be greater than zero",
    ),
    too_large: (ErrorCode::RefundAmountExceedsCaptured, |amount, max| {
        format!("cannot refund {amount}: {max} of the captured amount is still refundable")
    }),
};

/// Checks a refund, in order: the intent was captured (a multicapture intent: captured in part),
/// then the amount (greater than zero, same
/// currency, no more than still refundable), then the reason.
pub fn decide_refund(intent: &PaymentIntent, req: &RefundRequest) -> Result<Money, Rejection> {
    // A multicapture intent still holding the rest refunds what it captured so far.
    let settled = intent.status == Status::Succeeded
        || (intent.multicapture && intent.status == Status::RequiresCapture);
    if !settled || intent.captured == 0 {
        return Err(Rejection::param(
            ErrorCode::PaymentIntentNotRefundable,
            "payment_intent_id",
            format!(
                "payment intent is {}; only captured money is refundable (void a hold instead)",
                intent.status.as_str()
            ),
        ));
    }
    let amount = match &req.amount {
        Some(raw) => {
            let refundable = Limits {
                currency: Some(intent.currency()),
                max: Some(intent.refundable()),
            };
            raw.check("amount_money", refundable, &REFUND_AMOUNT)?
        }
        None if intent.refundable() == 0 => {
            return Err(Rejection::param(
                ErrorCode::RefundAmountExceedsCaptured,
                "amount_money.amount",
                format!(
                    "all of the {} captured is refunded or being refunded",
                    intent.captured
                ),
            ));
        }
        None => intent.money(intent.refundable()),
    };
    if let Some(reason) = &req.reason
        && RefundReason::parse(reason).is_none()
    {
        return Err(Rejection::param(
            ErrorCode::InvalidParameter,
            "reason",
            "reason takes requested_by_customer, duplicate or fraudulent",
        ));
    }
    if req
        .reference
        .as_ref()
        .is_some_and(|r| r.chars().count() > TEXT_CHARS_MAX)
    {
        return Err(Rejection::param(
            ErrorCode::InvalidParameter,
            "reference",
            format!("reference is at most {TEXT_CHARS_MAX} characters"),
        ));
    }
    metadata::validate(&req.metadata, "metadata")?;
    Ok(amount)
}

/// A new pending refund, and the intent with its amount reserved.
pub fn reserve_refund(
    intent: &PaymentIntent,
    id: String,
    amount: Money,
    req: &RefundRequest,
    idempotency_key: Option<String>,
    ctx: &mut Ctx<'_>,
) -> (Refund, PaymentIntent, Vec<EventType>) {
    let mut next = intent.next_version(ctx.now);
    next.refund_pending += amount.amount;
    debug_assert!(next.refunded + next.refund_pending <= next.captured);
    let refund = Refund {
        id,
        scope: intent.scope.clone(),
        version: 1,
        payment_intent_id: intent.id.clone(),
        order_id: intent.order_id.clone(),
        amount,
        status: RefundStatus::Pending,
        reason: req.reason.as_deref().and_then(RefundReason::parse),
        reference: req.reference.clone(),
        metadata: req.metadata.clone(),
        failure_reason: None,
        idempotency_key,
        request_id: ctx.request_id.map(str::to_owned),
        created_at: ctx.now,
        updated_at: ctx.now,
    };
    (refund, next, vec![EventType::RefundCreated])
}

/// What the processor said to a refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundOutcome {
    Succeeded,
    Failed { reason: String },
}

/// Resolves a pending refund: the reservation becomes refunded money, or is given back. `None`
/// when the refund is no longer pending (another process resolved it first).
pub fn resolve_refund(
    intent: &PaymentIntent,
    refund: &Refund,
    outcome: &RefundOutcome,
    ctx: &mut Ctx<'_>,
) -> Option<(Refund, PaymentIntent, Vec<EventType>)> {
    if refund.status != RefundStatus::Pending {
        return None;
    }
    let mut next_refund = refund.clone();
    next_refund.version += 1;
    next_refund.updated_at = ctx.now;
    let mut next = intent.next_version(ctx.now);
    next.refund_pending -= refund.amount.amount;
    let (status, event) = match outcome {
        RefundOutcome::Succeeded => {
            next.refunded += refund.amount.amount;
            (RefundStatus::Succeeded, EventType::RefundSucceeded)
        }
        RefundOutcome::Failed { reason } => {
            next_refund.failure_reason = Some(reason.clone());
            (RefundStatus::Failed, EventType::RefundFailed)
        }
    };
    next_refund.status = status;
    let action_status = if status == RefundStatus::Succeeded {
        ActionStatus::Succeeded
    } else {
        ActionStatus::Failed
    };
    next.push_action(ctx, ActionType::Refund, refund.amount.amount, action_status);
    if let Some(action) = next.actions.last_mut() {
        action.reference = refund.reference.clone();
        action.metadata = refund.metadata.clone();
        action.request_id = refund.request_id.clone();
    }
    debug_assert!(next.refunded + next.refund_pending <= next.captured);
    Some((next_refund, next, vec![event]))
}
