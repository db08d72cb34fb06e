//! Card processors behind one trait: the built-in sandbox that serves test mode, and Stripe.
//!
//! Every call that can move money carries the operation's idempotency key (`pi_…:capture`), and a
//! connector sends it to its processor as that processor's own idempotency key, so a retried or
//! racing call reaches the processor as the same request and cannot place a second hold or take
//! a second capture.
//!
//! Each operation answers with an [`Outcome`] (approved, declined, action required, or pending),
//! or with a [`ProcessorError`] when the processor could not be reached or refused the request as
//! made. The types here are processor-neutral: a connector maps its own wire format onto them, and
//! nothing of a connector's format reaches the caller.

mod sandbox;
mod secret;
pub mod stripe;
pub mod to_domain;

use std::time::Duration;

use async_trait::async_trait;
use holdfast_domain::intent::Card;
use holdfast_domain::{Money, Timestamp};

pub use sandbox::{HOLD_SECONDS, Sandbox, test_card_token};
pub use secret::Secret;

/// Whether a payment settles in the authorizing call or waits for an explicit capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureMode {
    /// Place a hold; capture or void it later.
    Manual,
    /// Settle in the same call.
    Automatic,
}

/// Optional card features a hold can ask for at creation, where the processor offers them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HoldFeatures {
    /// Allow [`Processor::increment_authorization`] later.
    pub incremental_authorization: bool,
    /// Allow several captures on one hold (`final_capture: false`).
    pub multicapture: bool,
}

/// Creates the processor-side payment at intent creation, where the processor needs one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrepareCall {
    pub idempotency_key: String,
    pub amount: Money,
    pub capture: CaptureMode,
    pub features: HoldFeatures,
    /// Holdfast's own id for the payment (`pi_…`), recorded at the processor for reconciliation.
    pub payment_intent_id: String,
}

/// What a frontend needs to finish a payment with the processor's own library (Stripe.js).
#[derive(Clone, PartialEq, Eq)]
pub struct ClientConfirmation {
    /// The processor's name for the library: `stripe`.
    pub processor: &'static str,
    pub publishable_key: Option<String>,
    /// Lets the buyer's browser act on this one payment; never logged.
    pub client_secret: Secret,
}

impl std::fmt::Debug for ClientConfirmation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfirmation")
            .field("processor", &self.processor)
            .field("publishable_key", &self.publishable_key)
            .field("client_secret", &self.client_secret)
            .finish()
    }
}

/// The answer to [`Processor::prepare`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Prepared {
    /// The processor's id for the payment (Stripe: `pi_…`); `None` where nothing was created.
    pub reference: Option<String>,
    pub client_confirmation: Option<ClientConfirmation>,
}

/// What pays: a token the frontend made, or a card saved earlier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentSource {
    /// A `pm_…` token from the frontend (or a test token).
    Token(String),
    /// A saved card's processor token, as [`Processor::inspect`] answered it.
    Saved(String),
}

impl PaymentSource {
    pub fn token(&self) -> &str {
        match self {
            PaymentSource::Token(t) | PaymentSource::Saved(t) => t,
        }
    }
}

/// Why a hold is being placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizationPurpose {
    /// The buyer's payment: the first hold on an intent.
    Initial,
    /// A new hold placed by the merchant to replace one that is about to lapse (the buyer is not
    /// present). `previous_reference` names the hold it replaces.
    Reauthorization { previous_reference: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeCall {
    pub idempotency_key: String,
    /// The payment [`Processor::prepare`] created, if any; without one, the connector creates it.
    pub reference: Option<String>,
    pub source: PaymentSource,
    pub amount: Money,
    pub capture: CaptureMode,
    pub purpose: AuthorizationPurpose,
    /// Where the buyer comes back to after a redirect (3D Secure), when the caller has one.
    pub return_url: Option<String>,
    /// Holdfast's own id for the payment (`pi_…`).
    pub payment_intent_id: String,
    pub now: Timestamp,
}

/// Asks for the result of an authentication (3D Secure) that waited for the buyer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticateCall {
    pub idempotency_key: String,
    pub reference: String,
    pub amount: Money,
    pub capture: CaptureMode,
    /// Test mode only: the simulated buyer's answer. Real processors ignore it and report what
    /// the buyer actually did.
    pub simulated_success: Option<bool>,
    pub now: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureCall {
    pub idempotency_key: String,
    pub reference: String,
    pub amount: Money,
    /// `false` keeps the rest of the hold open for a later capture (multicapture); `true`
    /// releases whatever this capture leaves.
    pub final_capture: bool,
}

/// The reasons a caller may give for a void; each is one of the processor's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VoidReason {
    RequestedByCustomer,
    Duplicate,
    Fraudulent,
    Abandoned,
}

impl VoidReason {
    /// The reason as Stripe (and the contract) spell it.
    pub const fn as_str(self) -> &'static str {
        match self {
            VoidReason::RequestedByCustomer => "requested_by_customer",
            VoidReason::Duplicate => "duplicate",
            VoidReason::Fraudulent => "fraudulent",
            VoidReason::Abandoned => "abandoned",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoidCall {
    pub idempotency_key: String,
    pub reference: String,
    pub reason: Option<VoidReason>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundCall {
    /// The refund's id: one refund, one processor request, however often it is retried.
    pub idempotency_key: String,
    pub reference: String,
    pub amount: Money,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncrementCall {
    pub idempotency_key: String,
    pub reference: String,
    /// The hold's new total (not the difference).
    pub new_total: Money,
}

/// A placed hold, or a settled payment for automatic capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub reference: String,
    pub card: Option<Card>,
    /// What the hold covers now.
    pub authorized: i64,
    /// What already settled in the same call (automatic capture), else 0.
    pub captured: i64,
    /// When the processor lets the hold lapse unless captured. `None` when it did not say
    /// (the caller keeps what it knew) or when nothing is held any more.
    pub capture_before: Option<Timestamp>,
    pub features: HoldCapabilities,
}

/// What the processor says a placed hold supports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HoldCapabilities {
    pub incremental_authorization: bool,
    pub multicapture: bool,
    pub extended_authorization: bool,
    pub overcapture: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    pub reference: String,
    /// Taken by this capture.
    pub amount: i64,
    /// Taken over the hold's life, this capture included.
    pub total_captured: i64,
    /// Still capturable after this capture (0 after a final capture).
    pub capturable: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voided {
    pub reference: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refunded {
    /// The processor's id for the refund (Stripe: `re_…`), where it has one.
    pub refund_reference: Option<String>,
    pub amount: i64,
}

/// Which kind of refusal a decline is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeclineKind {
    /// The issuer (or the processor's risk checks) refused the card.
    Card,
    /// The buyer did not complete authentication (3D Secure).
    Authentication,
    /// The processor refused to carry out a refund; the money stays refundable.
    Refund,
}

/// A refusal: the processor answered, and the answer is no.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decline {
    pub kind: DeclineKind,
    /// The processor's reason, as it spells it (Stripe: `decline_code`, else `code`):
    /// `insufficient_funds`, `generic_decline`, `authentication_failed`, …
    pub decline_code: String,
    /// A message the buyer may see.
    pub message: String,
    /// The processor's payment, where one exists after the refusal.
    pub reference: Option<String>,
    pub card: Option<Card>,
}

/// What the buyer must do before the payment can go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextAction {
    /// Send the buyer to `url`; they come back to `return_url`.
    RedirectToUrl {
        url: String,
        return_url: Option<String>,
    },
    /// Let the processor's frontend library handle it (Stripe.js `handleNextAction` with the
    /// client secret).
    UseSdk,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionRequired {
    pub reference: String,
    pub card: Option<Card>,
    pub next_action: NextAction,
    /// What the frontend needs for [`NextAction::UseSdk`].
    pub client_confirmation: Option<ClientConfirmation>,
}

/// The processor accepted the request but has not finished it (Stripe: `processing`, or a
/// refund `pending`); ask again with [`Processor::retrieve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub reference: String,
}

/// The typed answer of an operation the processor carried out or refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<T> {
    Approved(T),
    Declined(Decline),
    ActionRequired(ActionRequired),
    Pending(Pending),
}

impl<T> Outcome<T> {
    pub fn approved(self) -> Option<T> {
        match self {
            Outcome::Approved(t) => Some(t),
            _ => None,
        }
    }
}

/// The processor's status of a payment, processor-neutral.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentStatus {
    /// No payment method yet, or the last attempt was declined.
    RequiresPaymentMethod,
    /// Created with a payment method, not confirmed yet.
    RequiresConfirmation,
    RequiresAction,
    Processing,
    /// A hold is in place.
    Authorized,
    /// Money settled (fully or partially captured, or an automatic charge).
    Captured,
    /// Voided by a caller.
    Voided,
    /// The hold lapsed uncaptured.
    Expired,
}

/// The processor's view of one payment, for recovery and reconciliation. `None` amounts are
/// ones the processor did not report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentView {
    pub reference: String,
    pub status: PaymentStatus,
    /// The payment's amount as created (or incremented).
    pub amount: i64,
    /// ISO 4217, upper case.
    pub currency: String,
    pub authorized: Option<i64>,
    pub capturable: Option<i64>,
    pub captured: Option<i64>,
    pub refunded: Option<i64>,
    pub capture_before: Option<Timestamp>,
    pub card: Option<Card>,
    /// The processor's reason for a cancel (Stripe's `cancellation_reason`).
    pub cancellation_reason: Option<String>,
    /// The last refusal, while the payment waits for another payment method.
    pub last_decline: Option<Decline>,
    pub next_action: Option<NextAction>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrieveCall {
    pub reference: String,
}

/// The card a token stands for, without a hold (saving a card).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub card: Card,
    /// The token to keep for later payments with this card.
    pub processor_token: String,
}

/// Why a call did not produce an answer from the processor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcessorError {
    /// The token names no card this processor knows.
    #[error("unknown payment source token")]
    InvalidToken,
    /// Failed, timed out or throttled; nothing is known to have happened. With `retryable`, a
    /// retry with the same idempotency key may succeed (after `retry_after`, when given).
    #[error("processor unavailable: {reason}")]
    Unavailable {
        retryable: bool,
        retry_after: Option<Duration>,
        reason: String,
    },
    /// The processor refused the request as made (Stripe: a 4xx other than a card error), with
    /// its own code and message. Repeating the same request gets the same answer.
    #[error("processor refused the request: {code}: {message}")]
    Refused { code: String, message: String },
}

impl ProcessorError {
    pub fn unavailable(reason: impl Into<String>) -> ProcessorError {
        ProcessorError::Unavailable {
            retryable: true,
            retry_after: None,
            reason: reason.into(),
        }
    }

    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ProcessorError::Unavailable {
                retryable: true,
                ..
            }
        )
    }
}

/// A card processor. Every call that moves money takes the operation's idempotency key; a call
/// repeated with the same key answers as the first did and does not act twice.
#[async_trait]
pub trait Processor: Send + Sync + std::fmt::Debug {
    /// `sandbox` or `stripe`.
    fn name(&self) -> &'static str;

    /// Whether a call can have effects outside this process (money moving at a real processor).
    /// The sandbox has none, so a caller may take a shorter path for it.
    fn has_external_effects(&self) -> bool;

    /// Creates the processor-side payment at intent creation, where the processor needs one.
    async fn prepare(&self, call: PrepareCall) -> Result<Prepared, ProcessorError>;

    /// Checks a token and says which card it is, without placing a hold (saving a card).
    async fn inspect(&self, token: &str) -> Result<TokenInfo, ProcessorError>;

    /// Places the hold (manual capture) or charges (automatic capture).
    async fn authorize(&self, call: AuthorizeCall) -> Result<Outcome<Hold>, ProcessorError>;

    /// The result of an authentication that waited for the buyer (3D Secure).
    async fn authentication_result(
        &self,
        call: AuthenticateCall,
    ) -> Result<Outcome<Hold>, ProcessorError>;

    async fn capture(&self, call: CaptureCall) -> Result<Outcome<Captured>, ProcessorError>;

    async fn void(&self, call: VoidCall) -> Result<Outcome<Voided>, ProcessorError>;

    async fn refund(&self, call: RefundCall) -> Result<Outcome<Refunded>, ProcessorError>;

    /// Raises a hold to a new total. A decline leaves the hold as it was.
    async fn increment_authorization(
        &self,
        call: IncrementCall,
    ) -> Result<Outcome<Hold>, ProcessorError>;

    /// The processor's current view of a payment.
    async fn retrieve(&self, call: RetrieveCall) -> Result<PaymentView, ProcessorError>;
}
