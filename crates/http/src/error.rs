//! The one error type of the HTTP layer and the envelope every non-2xx answer wears:
//! `{"error":{"code","message","param"?,"request_id"}}`.
//!
//! Which HTTP status each error code answers with is decided here and nowhere else. 5xx bodies
//! say only that something failed; the cause goes to the log with the request id.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use holdfast_domain::{ErrorCode, Rejection};
use holdfast_service::{Reply, ServiceError};
use serde_json::{Map, Value, json};

use crate::request_id;

/// The HTTP status for an error code.
pub fn status_of(code: ErrorCode) -> StatusCode {
    use ErrorCode::*;
    match code {
        MissingApiKey | InvalidApiKey => StatusCode::UNAUTHORIZED,
        CardDeclined | AuthenticationFailed => StatusCode::PAYMENT_REQUIRED,
        ClientSecretNotAllowed => StatusCode::FORBIDDEN,
        NotFound
        | PaymentIntentNotFound
        | CustomerNotFound
        | PaymentMethodNotFound
        | EventNotFound
        | TestClockNotFound
        | OrderNotFound
        | RefundNotFound
        | WebhookEndpointNotFound
        | CheckoutSessionNotFound => StatusCode::NOT_FOUND,
        MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        IdempotencyKeyInUse
        | PaymentAttemptInProgress
        | OrderAmountMismatch
        | CaptureAmountMismatch
        | OrderLinkedPaymentIntent
        | OrderNotEditable
        | OrderNotPayable
        | CheckoutSessionNotOpen => StatusCode::CONFLICT,
        RequestTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
        RateLimited => StatusCode::TOO_MANY_REQUESTS,
        InternalError => StatusCode::INTERNAL_SERVER_ERROR,
        ProcessorUnavailable => StatusCode::BAD_GATEWAY,
        ServiceUnavailable | Overloaded | RequestTimeout => StatusCode::SERVICE_UNAVAILABLE,
        InvalidJson
        | InvalidParameter
        | MissingParameter
        | UnknownParameter
        | InvalidIdempotencyKey
        | InvalidCaptureMethod
        | ManualCaptureNotAllowedWithAutoConfirm
        | ManualCaptureNotAllowedWithCheckout
        | InvalidStatusForConfirm
        | InvalidStatusForAuthentication
        | InvalidPaymentSourceToken
        | ProcessorNotConfigured
        | InvalidStatusForCapture
        | CaptureAmountExceedsAuthorized
        | CaptureCurrencyMismatch
        | InvalidCaptureAmount
        | PaymentAuthorizationExpired
        | MulticaptureNotEnabled
        | IncrementalAuthorizationNotEnabled
        | InvalidIncrementAmount
        | InvalidCancellationReason
        | CannotCancelSucceededPayment
        | PaymentAlreadyCanceled
        | CannotCancelExpiredPayment
        | ScheduledActionAfterExpiry
        | InvalidStatusForScheduledAction
        | TestClockCannotMoveBackwards
        | TestClockNotAllowedInLiveMode
        | OrderCurrencyMismatch
        | OrderLinkedAmountNotAllowed
        | StrictInventoryDelayedCaptureUnsupported
        | PaymentIntentNotRefundable
        | RefundAmountExceedsCaptured
        | InvalidRefundAmount
        | RefundCurrencyMismatch
        | InvalidEventType => StatusCode::BAD_REQUEST,
    }
}

/// An error on its way to the client.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub param: Option<String>,
    /// Fields beside the standard ones (a decline's `decline_code`, say).
    pub extra: Map<String, Value>,
    /// What went wrong inside, for the log only (5xx).
    pub internal: Option<String>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            param: None,
            extra: Map::new(),
            internal: None,
        }
    }

    pub fn param(
        code: ErrorCode,
        param: impl Into<String>,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            param: Some(param.into()),
            ..ApiError::new(code, message)
        }
    }

    pub fn status(&self) -> StatusCode {
        status_of(self.code)
    }

    /// The envelope, with the current request's id.
    pub fn body(&self) -> Vec<u8> {
        let mut error = Map::new();
        error.insert("code".into(), json!(self.code.as_str()));
        error.insert("message".into(), json!(self.message));
        if let Some(param) = &self.param {
            error.insert("param".into(), json!(param));
        }
        error.extend(self.extra.clone());
        error.insert("request_id".into(), json!(request_id::current()));
        serde_json::to_vec(&json!({ "error": error })).unwrap_or_default()
    }

    pub fn reply(&self) -> Reply {
        if let Some(internal) = &self.internal {
            tracing::error!(request_id = %request_id::current(), code = %self.code, error = %internal, "request failed");
        }
        // A rate-limited answer sets its own `Retry-After`, from its bucket (`limits`).
        let retry_after_seconds = match self.code {
            ErrorCode::IdempotencyKeyInUse | ErrorCode::Overloaded => Some(1),
            _ => None,
        };
        Reply {
            status: self.status().as_u16(),
            body: self.body(),
            replayed: false,
            retry_after_seconds,
            sensitive: false,
        }
    }
}

impl From<Rejection> for ApiError {
    fn from(r: Rejection) -> ApiError {
        ApiError {
            code: r.code,
            message: r.message,
            param: r.param,
            extra: Map::new(),
            internal: None,
        }
    }
}

impl From<&ServiceError> for ApiError {
    fn from(e: &ServiceError) -> ApiError {
        match e {
            ServiceError::Rejected(r) => r.clone().into(),
            ServiceError::Declined { intent, error } => {
                let mut api = ApiError::new(ErrorCode::CardDeclined, error.message.clone());
                if error.code == ErrorCode::AuthenticationFailed.as_str() {
                    api.code = ErrorCode::AuthenticationFailed;
                }
                api.extra
                    .insert("decline_code".into(), json!(error.decline_code));
                api.extra
                    .insert("payment_intent_id".into(), json!(intent.id));
                api
            }
            ServiceError::ProcessorUnavailable(reason) => ApiError {
                internal: Some(reason.clone()),
                ..ApiError::new(
                    ErrorCode::ProcessorUnavailable,
                    "the card processor failed or timed out; nothing was changed, retry with the same Idempotency-Key",
                )
            },
            // The body says what to retry; the log keeps a trace of the contention.
            ServiceError::Contended(reason) => ApiError {
                internal: Some(format!("contended: {reason}")),
                ..ApiError::new(ErrorCode::ServiceUnavailable, reason.clone())
            },
            ServiceError::Store(holdfast_store::StoreError::UnknownCursor) => ApiError::param(
                ErrorCode::InvalidParameter,
                "cursor",
                "cursor names no object in this list",
            ),
            ServiceError::Store(store) => ApiError {
                internal: Some(store.to_string()),
                ..ApiError::new(
                    ErrorCode::ServiceUnavailable,
                    "the service is temporarily unavailable; retry with the same Idempotency-Key",
                )
            },
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> ApiError {
        ApiError::from(&e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        reply_response(self.reply())
    }
}

/// Sends a rendered answer, marking a replay.
pub fn reply_response(reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        reply.body,
    )
        .into_response();
    if let Some(seconds) = reply.retry_after_seconds {
        response
            .headers_mut()
            .insert(axum::http::header::RETRY_AFTER, seconds.into());
    }
    if reply.replayed {
        response.headers_mut().insert(
            "idempotent-replayed",
            axum::http::HeaderValue::from_static("true"),
        );
    }
    response
}

/// The envelope of every answer that is not a 2xx, as the OpenAPI document shows it.
/// [`ApiError::body`] writes it.
#[derive(Debug, utoipa::ToSchema)]
pub struct ErrorEnvelope {
    pub error: ErrorObject,
}

/// What went wrong. Clients should ignore fields they do not know: more may be added.
#[derive(Debug, utoipa::ToSchema)]
pub struct ErrorObject {
    /// Stable: programs branch on it. Each operation lists the codes it can answer with.
    #[schema(value_type = crate::openapi::schemas::ErrorCode)]
    pub code: String,
    /// For people, not programs: the wording may change.
    pub message: String,
    /// The request field at fault (`amount_money.amount`, `Idempotency-Key`), when one is.
    #[schema(required = false, nullable = false)]
    pub param: Option<String>,
    /// The request's id (`req_…`), also in the `X-Request-Id` header and in the server's log.
    pub request_id: String,
    /// `CARD_DECLINED` only: the processor's reason (`generic_decline`, `insufficient_funds`).
    #[schema(required = false, nullable = false)]
    pub decline_code: Option<String>,
    /// `CARD_DECLINED` only: the intent the decline is recorded on.
    #[schema(required = false, nullable = false)]
    pub payment_intent_id: Option<String>,
}
