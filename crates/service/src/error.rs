//! The service's error: a domain refusal, a decline, or trouble with the processor, the store or
//! contention.
//!
//! Which code and HTTP status each answers with is the http crate's to say (`status_of`), once.

use holdfast_domain::intent::{self, PaymentError, PaymentIntent};
use holdfast_domain::{ErrorCode, Rejection};
use holdfast_processor::ProcessorError;
use holdfast_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The card was declined; the intent (already updated) goes back to the caller with the error.
    #[error("card declined: {}", error.decline_code)]
    Declined {
        intent: Box<PaymentIntent>,
        error: PaymentError,
    },
    /// The processor failed or timed out; nothing changed, and a retry may succeed.
    #[error("processor unavailable: {0}")]
    ProcessorUnavailable(String),
    /// Other requests kept changing what this one needed (it lost every version check it was
    /// allowed), or due work could not be completed: nothing of this request was kept, and a retry
    /// with the same `Idempotency-Key` may succeed. The text says what to retry.
    #[error("contended: {0}")]
    Contended(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ServiceError {
    /// Names the request field a refusal refers to, unless it already names one (a look-up by
    /// an id given in the body: the id's field is at fault).
    pub(crate) fn with_param(self, param: &str) -> ServiceError {
        match self {
            ServiceError::Rejected(mut r) if r.param.is_none() => {
                r.param = Some(param.to_owned());
                ServiceError::Rejected(r)
            }
            other => other,
        }
    }

    pub fn not_found(code: ErrorCode, what: &str) -> ServiceError {
        ServiceError::Rejected(Rejection::new(code, format!("no such {what}")))
    }

    /// The processor's answer to a call that names a card (authorize, inspect): an unknown token
    /// is the caller's, in the request field `token_param`.
    pub(crate) fn from_card_call(e: ProcessorError, token_param: &str) -> ServiceError {
        match e {
            ProcessorError::InvalidToken => intent::invalid_payment_source(token_param).into(),
            other => ServiceError::from_payment_call(other),
        }
    }

    /// The processor's answer to a call on a payment it already holds (authenticate, capture,
    /// void): there is no token in the request, so a processor that no longer knows the payment
    /// failed, not the caller.
    pub(crate) fn from_payment_call(e: ProcessorError) -> ServiceError {
        match e {
            ProcessorError::InvalidToken => ServiceError::ProcessorUnavailable(
                "the processor does not know this payment's reference".into(),
            ),
            ProcessorError::Unavailable { reason, .. } => {
                ServiceError::ProcessorUnavailable(reason)
            }
            ProcessorError::Refused { code, message } => {
                ServiceError::ProcessorUnavailable(format!("{code}: {message}"))
            }
        }
    }
}
