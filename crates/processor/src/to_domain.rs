//! Maps the processor-neutral outcomes onto the domain's types, for the service. Nothing of a
//! connector's wire format passes through here.

use holdfast_domain::Timestamp;
use holdfast_domain::intent::{AuthorizationResult, CancellationReason, Card, PaymentError};
use holdfast_domain::refund::RefundOutcome;

use crate::{Decline, DeclineKind, Hold, NextAction, Outcome, ProcessorError, VoidReason};

/// The hold window assumed when a processor places a hold without saying until when it lasts:
/// the card networks' customary seven days (the sandbox's own window). Stripe reports the real
/// deadline (`capture_before`), which always wins.
pub const FALLBACK_HOLD_SECONDS: i64 = crate::HOLD_SECONDS;

/// What the API shows when a processor did not say which card paid.
fn unknown_card() -> Card {
    Card {
        brand: "unknown".into(),
        last_four: String::new(),
    }
}

/// The domain's payment error for a refusal.
pub fn payment_error(decline: &Decline) -> PaymentError {
    PaymentError {
        code: match decline.kind {
            DeclineKind::Authentication => "AUTHENTICATION_FAILED",
            DeclineKind::Card | DeclineKind::Refund => "CARD_DECLINED",
        }
        .into(),
        decline_code: decline.decline_code.clone(),
        message: decline.message.clone(),
    }
}

/// An authorization's outcome as the domain applies it. A payment still processing, or an
/// action only the processor's frontend library can show, is not an answer the domain can apply
/// yet: the call stays unresolved (retryable).
pub fn authorization_result(
    outcome: Outcome<Hold>,
    now: Timestamp,
) -> Result<AuthorizationResult, ProcessorError> {
    match outcome {
        Outcome::Approved(hold) => Ok(AuthorizationResult::Authorized {
            card: hold.card.unwrap_or_else(unknown_card),
            processor_ref: hold.reference,
            expires_at: hold
                .capture_before
                .unwrap_or_else(|| now.plus_seconds(FALLBACK_HOLD_SECONDS)),
            captured: hold.captured > 0,
        }),
        Outcome::Declined(decline) => Ok(AuthorizationResult::Declined {
            error: payment_error(&decline),
            card: decline.card,
        }),
        Outcome::ActionRequired(action) => match action.next_action {
            NextAction::RedirectToUrl { url, .. } => Ok(AuthorizationResult::RequiresAction {
                card: action.card.unwrap_or_else(unknown_card),
                processor_ref: action.reference,
                redirect_url: url,
            }),
            NextAction::UseSdk => Err(ProcessorError::Refused {
                code: "next_action_unsupported".into(),
                message: "the processor asked for authentication through its own frontend \
                          library, which this intent cannot show"
                    .into(),
            }),
        },
        Outcome::Pending(pending) => Err(ProcessorError::unavailable(format!(
            "the processor is still processing {}",
            pending.reference
        ))),
    }
}

/// A capture, void or increment that must have been carried out: anything but approval is an
/// error for the caller.
pub fn carried_out<T>(outcome: Outcome<T>) -> Result<T, ProcessorError> {
    match outcome {
        Outcome::Approved(value) => Ok(value),
        Outcome::Declined(decline) => Err(ProcessorError::Refused {
            code: decline.decline_code,
            message: decline.message,
        }),
        Outcome::ActionRequired(action) => Err(ProcessorError::Refused {
            code: "action_required".into(),
            message: format!("the processor wants buyer action on {}", action.reference),
        }),
        Outcome::Pending(pending) => Err(ProcessorError::unavailable(format!(
            "the processor is still processing {}",
            pending.reference
        ))),
    }
}

/// A refund's outcome as the domain resolves it; `None` while the processor has not decided.
pub fn refund_outcome<T>(outcome: Outcome<T>) -> Option<RefundOutcome> {
    match outcome {
        Outcome::Approved(_) => Some(RefundOutcome::Succeeded),
        Outcome::Declined(decline) => Some(RefundOutcome::Failed {
            reason: decline.message,
        }),
        Outcome::ActionRequired(_) | Outcome::Pending(_) => None,
    }
}

/// The processor's reason for a void the caller asked for (an expiry is not a void).
pub fn void_reason(reason: Option<CancellationReason>) -> Option<VoidReason> {
    match reason? {
        CancellationReason::RequestedByCustomer => Some(VoidReason::RequestedByCustomer),
        CancellationReason::Duplicate => Some(VoidReason::Duplicate),
        CancellationReason::Fraudulent => Some(VoidReason::Fraudulent),
        CancellationReason::Abandoned => Some(VoidReason::Abandoned),
        CancellationReason::AuthorizationExpired => None,
    }
}
