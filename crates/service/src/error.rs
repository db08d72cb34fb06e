//! The service's error: a domain refusal, a decline, or trouble with the processor or the store.

use holdfast_domain::intent::{PaymentError, PaymentIntent};
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
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ServiceError {
    pub fn code(&self) -> ErrorCode {
        match self {
            ServiceError::Rejected(r) => r.code,
            ServiceError::Declined { .. } => ErrorCode::CardDeclined,
            ServiceError::ProcessorUnavailable(_) => ErrorCode::ProcessorUnavailable,
            ServiceError::Store(StoreError::UnknownCursor) => ErrorCode::InvalidParameter,
            ServiceError::Store(_) => ErrorCode::ServiceUnavailable,
        }
    }

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

    pub(crate) fn from_processor(e: ProcessorError, token_param: &str) -> ServiceError {
        match e {
            ProcessorError::InvalidToken => ServiceError::Rejected(Rejection::param(
                ErrorCode::InvalidPaymentSourceToken,
                token_param,
                "unknown payment source token; test mode takes the pm_card_… test tokens",
            )),
            ProcessorError::Unavailable { reason, .. } => {
                ServiceError::ProcessorUnavailable(reason)
            }
            ProcessorError::Refused { code, message } => {
                ServiceError::ProcessorUnavailable(format!("{code}: {message}"))
            }
        }
    }
}
