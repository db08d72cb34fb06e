//! Error codes: the stable, documented `code` of every refusal Holdfast gives.
//!
//! The codes are the contract's, to the letter, plus the few the contract leaves to us. Which HTTP
//! status each one answers with is decided in the http crate, not here.

use std::fmt;

macro_rules! error_codes {
    ($($variant:ident => $code:literal,)*) => {
        /// Every error code Holdfast answers with.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode { $($variant,)* }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            pub const fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code,)* }
            }
        }
    };
}

error_codes! {
    // Requests.
    InvalidJson => "INVALID_JSON",
    InvalidParameter => "INVALID_PARAMETER",
    MissingParameter => "MISSING_PARAMETER",
    UnknownParameter => "UNKNOWN_PARAMETER",
    RequestTooLarge => "REQUEST_TOO_LARGE",
    UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
    NotFound => "NOT_FOUND",
    MethodNotAllowed => "METHOD_NOT_ALLOWED",
    InternalError => "INTERNAL_ERROR",
    ServiceUnavailable => "SERVICE_UNAVAILABLE",
    // Guard rails: too many requests from one key, or for the whole process.
    RateLimited => "RATE_LIMITED",
    Overloaded => "OVERLOADED",
    RequestTimeout => "REQUEST_TIMEOUT",
    // Authentication.
    MissingApiKey => "MISSING_API_KEY",
    InvalidApiKey => "INVALID_API_KEY",
    ClientSecretNotAllowed => "CLIENT_SECRET_NOT_ALLOWED",
    // Idempotency.
    InvalidIdempotencyKey => "INVALID_IDEMPOTENCY_KEY",
    IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
    IdempotencyKeyInUse => "IDEMPOTENCY_KEY_IN_USE",
    // Objects that are not there (or belong to someone else).
    PaymentIntentNotFound => "PAYMENT_INTENT_NOT_FOUND",
    TestClockNotFound => "TEST_CLOCK_NOT_FOUND",
    OrderNotFound => "ORDER_NOT_FOUND",
    RefundNotFound => "REFUND_NOT_FOUND",
    WebhookEndpointNotFound => "WEBHOOK_ENDPOINT_NOT_FOUND",
    CustomerNotFound => "CUSTOMER_NOT_FOUND",
    PaymentMethodNotFound => "PAYMENT_METHOD_NOT_FOUND",
    EventNotFound => "EVENT_NOT_FOUND",
    CheckoutSessionNotFound => "CHECKOUT_SESSION_NOT_FOUND",
    // Payment intents: creation.
    InvalidCaptureMethod => "INVALID_CAPTURE_METHOD",
    ManualCaptureNotAllowedWithAutoConfirm => "MANUAL_CAPTURE_NOT_ALLOWED_WITH_AUTO_CONFIRM",
    // Hosted surfaces: they always capture automatically.
    ManualCaptureNotAllowedWithCheckout => "MANUAL_CAPTURE_NOT_ALLOWED_WITH_CHECKOUT",
    CheckoutSessionNotOpen => "CHECKOUT_SESSION_NOT_OPEN",
    // Payment intents: confirmation and the card.
    InvalidStatusForConfirm => "INVALID_STATUS_FOR_CONFIRM",
    InvalidStatusForAuthentication => "INVALID_STATUS_FOR_AUTHENTICATION",
    InvalidPaymentSourceToken => "INVALID_PAYMENT_SOURCE_TOKEN",
    CardDeclined => "CARD_DECLINED",
    AuthenticationFailed => "AUTHENTICATION_FAILED",
    ProcessorNotConfigured => "PROCESSOR_NOT_CONFIGURED",
    ProcessorUnavailable => "PROCESSOR_UNAVAILABLE",
    // Payment intents: capture.
    InvalidStatusForCapture => "INVALID_STATUS_FOR_CAPTURE",
    CaptureAmountExceedsAuthorized => "CAPTURE_AMOUNT_EXCEEDS_AUTHORIZED",
    CaptureCurrencyMismatch => "CAPTURE_CURRENCY_MISMATCH",
    InvalidCaptureAmount => "INVALID_CAPTURE_AMOUNT",
    PaymentAuthorizationExpired => "PAYMENT_AUTHORIZATION_EXPIRED",
    // Beyond one hold: multicapture, incremental authorization, re-authorization (opt-in).
    MulticaptureNotEnabled => "MULTICAPTURE_NOT_ENABLED",
    IncrementalAuthorizationNotEnabled => "INCREMENTAL_AUTHORIZATION_NOT_ENABLED",
    InvalidIncrementAmount => "INVALID_INCREMENT_AMOUNT",
    // Payment intents: cancellation.
    InvalidCancellationReason => "INVALID_CANCELLATION_REASON",
    CannotCancelSucceededPayment => "CANNOT_CANCEL_SUCCEEDED_PAYMENT",
    PaymentAlreadyCanceled => "PAYMENT_ALREADY_CANCELED",
    CannotCancelExpiredPayment => "CANNOT_CANCEL_EXPIRED_PAYMENT",
    // Deadlines: scheduled actions and test clocks.
    ScheduledActionAfterExpiry => "SCHEDULED_ACTION_AFTER_EXPIRY",
    InvalidStatusForScheduledAction => "INVALID_STATUS_FOR_SCHEDULED_ACTION",
    TestClockCannotMoveBackwards => "TEST_CLOCK_CANNOT_MOVE_BACKWARDS",
    TestClockNotAllowedInLiveMode => "TEST_CLOCK_NOT_ALLOWED_IN_LIVE_MODE",
    // Orders.
    OrderCurrencyMismatch => "ORDER_CURRENCY_MISMATCH",
    OrderLinkedAmountNotAllowed => "ORDER_LINKED_AMOUNT_NOT_ALLOWED",
    StrictInventoryDelayedCaptureUnsupported => "STRICT_INVENTORY_DELAYED_CAPTURE_UNSUPPORTED",
    PaymentAttemptInProgress => "PAYMENT_ATTEMPT_IN_PROGRESS",
    OrderAmountMismatch => "ORDER_AMOUNT_MISMATCH",
    CaptureAmountMismatch => "CAPTURE_AMOUNT_MISMATCH",
    OrderLinkedPaymentIntent => "ORDER_LINKED_PAYMENT_INTENT",
    OrderNotEditable => "ORDER_NOT_EDITABLE",
    OrderNotPayable => "ORDER_NOT_PAYABLE",
    // Refunds.
    PaymentIntentNotRefundable => "PAYMENT_INTENT_NOT_REFUNDABLE",
    RefundAmountExceedsCaptured => "REFUND_AMOUNT_EXCEEDS_CAPTURED",
    InvalidRefundAmount => "INVALID_REFUND_AMOUNT",
    RefundCurrencyMismatch => "REFUND_CURRENCY_MISMATCH",
    // Webhooks.
    InvalidEventType => "INVALID_EVENT_TYPE",
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refusal: the request was understood and is not allowed. Carries the field at fault, if one is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub code: ErrorCode,
    pub message: String,
    pub param: Option<String>,
}

impl Rejection {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Rejection {
        Rejection {
            code,
            message: message.into(),
            param: None,
        }
    }

    pub fn param(code: ErrorCode, param: &str, message: impl Into<String>) -> Rejection {
        Rejection {
            code,
            message: message.into(),
            param: Some(param.to_owned()),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Rejection {}
