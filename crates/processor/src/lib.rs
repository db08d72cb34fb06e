//! Card processors behind one small trait, and the built-in sandbox that serves test mode.
//!
//! Every call carries an idempotency key derived from the intent and the operation
//! (`pi_…:capture`), so a retried or racing call reaches a real processor as the same request and
//! cannot place a second hold or take a second capture.

mod sandbox;

use async_trait::async_trait;
use holdfast_domain::intent::{AuthorizationResult, Card};
use holdfast_domain::refund::RefundOutcome;
use holdfast_domain::{Money, Timestamp};

pub use sandbox::Sandbox;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeCall {
    pub idempotency_key: String,
    /// A `pm_…` token from the frontend, or a saved card's processor token.
    pub token: String,
    pub amount: Money,
    /// Settle in the same call (automatic capture).
    pub capture: bool,
    pub now: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticateCall {
    pub idempotency_key: String,
    pub processor_ref: String,
    pub amount: Money,
    pub capture: bool,
    pub succeeded: bool,
    pub now: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureCall {
    pub idempotency_key: String,
    pub processor_ref: String,
    pub amount: Money,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoidCall {
    pub idempotency_key: String,
    pub processor_ref: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundCall {
    /// The refund's id: one refund, one processor request, however often it is retried.
    pub idempotency_key: String,
    pub processor_ref: String,
    pub amount: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProcessorError {
    /// The token names no card this processor knows.
    #[error("unknown payment source token")]
    InvalidToken,
    /// Failed or timed out; nothing is known to have happened, and a retry may succeed.
    #[error("processor unavailable: {0}")]
    Unavailable(String),
}

#[async_trait]
pub trait Processor: Send + Sync + std::fmt::Debug {
    fn name(&self) -> &'static str;
    /// Checks a token and says which card it is, without placing a hold (saving a card).
    async fn inspect(&self, token: &str) -> Result<(Card, String), ProcessorError>;
    async fn authorize(&self, call: AuthorizeCall) -> Result<AuthorizationResult, ProcessorError>;
    /// Finishes an authorization that waited for the buyer (3D Secure).
    async fn authenticate(
        &self,
        call: AuthenticateCall,
    ) -> Result<AuthorizationResult, ProcessorError>;
    async fn capture(&self, call: CaptureCall) -> Result<(), ProcessorError>;
    async fn void(&self, call: VoidCall) -> Result<(), ProcessorError>;
    async fn refund(&self, call: RefundCall) -> Result<RefundOutcome, ProcessorError>;
}
