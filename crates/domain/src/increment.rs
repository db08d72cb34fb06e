//! Incremental authorization (opt-in, issue 16): a hold that grows while it lasts, for bills that
//! grow (hotel and bar tabs), instead of a second payment for the difference.
//!
//! Opt in at creation with `incremental_authorization` (manual capture only). An increment asks
//! for the hold's new total; the processor raises the hold or declines, and a decline leaves the
//! hold exactly as it was. The deadline never moves.

use crate::error::{ErrorCode, Rejection};
use crate::event_type::EventType;
use crate::intent::{
    ActionStatus, ActionType, Ctx, PaymentError, PaymentIntent, RawMoney, Status, Transition,
};
use crate::money::{AmountRules, Limits, Money};

/// `POST /v1/payment-intents/{id}/increment-authorization` as the domain sees it.
#[derive(Debug, Clone, Default)]
pub struct IncrementRequest {
    /// The new total to hold (not the difference).
    pub amount: Option<RawMoney>,
}

/// How an increment checks its amount: above zero, in the hold's currency (an unknown code is
/// simply another currency); "above the current authorization" is checked after it.
const INCREMENT_AMOUNT: AmountRules = AmountRules {
    unknown_currency: None,
    other_currency: (
        ErrorCode::InvalidIncrementAmount,
        "the new total is in the authorization's currency",
    ),
    zero_allowed: false,
    too_small: (
        ErrorCode::InvalidIncrementAmount,
        "amount_money is the new total to hold: above the current authorized amount",
    ),
    too_large: (ErrorCode::InvalidIncrementAmount, |amount, max| {
        format!("cannot hold {amount}; at most {max}")
    }),
};

/// Checks an increment, in order: the opt-in, then the status (a lapsed hold says so; only a
/// hold waiting for capture grows), then the amount: given, above zero, in the hold's currency,
/// and above what is authorized now. Answers with the new total.
pub fn decide_increment(
    intent: &PaymentIntent,
    req: &IncrementRequest,
    now: crate::Timestamp,
) -> Result<Money, Rejection> {
    if !intent.incremental_authorization {
        return Err(Rejection::new(
            ErrorCode::IncrementalAuthorizationNotEnabled,
            "this hold cannot grow; create the intent with incremental_authorization: true",
        ));
    }
    if intent.hold_lapsed(now) {
        return Err(Rejection::new(
            ErrorCode::PaymentAuthorizationExpired,
            "the hold lapsed and its funds were released; there is nothing left to increment",
        ));
    }
    if intent.status != Status::RequiresCapture {
        return Err(Rejection::new(
            ErrorCode::InvalidStatusForCapture,
            format!(
                "payment intent is {}; only a hold in requires_capture can be incremented",
                intent.status.as_str()
            ),
        ));
    }
    let raw = req.amount.as_ref().ok_or_else(|| {
        Rejection::param(
            ErrorCode::MissingParameter,
            "amount_money",
            "amount_money (the new total to hold) is required",
        )
    })?;
    let limits = Limits {
        currency: Some(intent.currency()),
        max: None,
    };
    let total = raw.check("amount_money", limits, &INCREMENT_AMOUNT)?;
    if total.amount <= intent.authorized {
        return Err(Rejection::param(
            ErrorCode::InvalidIncrementAmount,
            "amount_money.amount",
            format!(
                "amount_money is the new total to hold and must be above the {} authorized now",
                intent.authorized
            ),
        ));
    }
    Ok(total)
}

/// What the processor said to an increment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncrementResult {
    /// The hold now covers the new total; its deadline is unchanged.
    Approved,
    /// The hold stays as it was.
    Declined(PaymentError),
}

/// Records an increment's outcome. Approved: `authorized` and `capturable` grow by the
/// difference, `amount_money` becomes the new total, an `increment` action records the difference,
/// and `payment_intent.amount_capturable_updated` is emitted. Declined: the money and the deadline
/// stay as they were; only a failed `increment` action is recorded (the answer is the decline).
pub fn apply_increment(
    intent: &PaymentIntent,
    total: Money,
    result: &IncrementResult,
    ctx: &mut Ctx<'_>,
) -> Transition {
    let difference = total.amount - intent.authorized;
    let mut next = intent.next_version(ctx.now);
    match result {
        IncrementResult::Approved => {
            next.authorized = total.amount;
            next.capturable += difference;
            next.amount = total;
            next.push_action(
                ctx,
                ActionType::Increment,
                difference,
                ActionStatus::Succeeded,
            );
            Transition::new(next, vec![EventType::PaymentIntentAmountCapturableUpdated])
        }
        IncrementResult::Declined(_) => {
            next.push_action(ctx, ActionType::Increment, difference, ActionStatus::Failed);
            Transition::new(next, Vec::new())
        }
    }
}

#[cfg(test)]
mod tests;
