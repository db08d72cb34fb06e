//! The sandbox card processor: test tokens with fixed, documented behaviour. No network, no state
//! but the record of which captures already timed out once.

use std::collections::HashSet;
use std::sync::Mutex;

use async_trait::async_trait;
use holdfast_domain::intent::{AuthorizationResult, Card, PaymentError};
use holdfast_domain::time::SECONDS_PER_DAY;

use holdfast_domain::refund::RefundOutcome;

use crate::{
    AuthenticateCall, AuthorizeCall, CaptureCall, Processor, ProcessorError, RefundCall, VoidCall,
};

/// How long a sandbox hold lasts: seven days, ending one second before the seventh anniversary.
pub const HOLD_SECONDS: i64 = 7 * SECONDS_PER_DAY - 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    Approve,
    Decline(&'static str),
    ThreeDSecure,
    CaptureTimeoutOnce,
    RefundFails,
}

struct TestCard {
    token: &'static str,
    brand: &'static str,
    last_four: &'static str,
    behaviour: Behaviour,
}

const CARDS: &[TestCard] = &[
    TestCard {
        token: "pm_card_visa",
        brand: "visa",
        last_four: "4242",
        behaviour: Behaviour::Approve,
    },
    TestCard {
        token: "pm_card_mastercard",
        brand: "mastercard",
        last_four: "4444",
        behaviour: Behaviour::Approve,
    },
    TestCard {
        token: "pm_card_amex",
        brand: "amex",
        last_four: "8431",
        behaviour: Behaviour::Approve,
    },
    TestCard {
        token: "pm_card_chargeDeclined",
        brand: "visa",
        last_four: "0002",
        behaviour: Behaviour::Decline("generic_decline"),
    },
    TestCard {
        token: "pm_card_chargeDeclinedInsufficientFunds",
        brand: "visa",
        last_four: "9995",
        behaviour: Behaviour::Decline("insufficient_funds"),
    },
    TestCard {
        token: "pm_card_threeDSecure2Required",
        brand: "visa",
        last_four: "3155",
        behaviour: Behaviour::ThreeDSecure,
    },
    TestCard {
        token: "pm_card_captureTimeoutOnce",
        brand: "visa",
        last_four: "0077",
        behaviour: Behaviour::CaptureTimeoutOnce,
    },
    TestCard {
        token: "pm_card_refundFails",
        brand: "visa",
        last_four: "5556",
        behaviour: Behaviour::RefundFails,
    },
];

#[derive(Debug, Default)]
pub struct Sandbox {
    /// Authorizations whose first capture already timed out (`pm_card_captureTimeoutOnce`).
    timed_out: Mutex<HashSet<String>>,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox::default()
    }
}

fn card(token: &str) -> Result<&'static TestCard, ProcessorError> {
    CARDS
        .iter()
        .find(|c| c.token == token)
        .ok_or(ProcessorError::InvalidToken)
}

fn shown(card: &TestCard) -> Card {
    Card {
        brand: card.brand.into(),
        last_four: card.last_four.into(),
    }
}

/// The processor's handle on an authorization: which test card, for which intent.
fn processor_ref(card: &TestCard, idempotency_key: &str) -> String {
    let intent = idempotency_key.split(':').next().unwrap_or(idempotency_key);
    format!("sandbox:{}:{intent}", card.token)
}

fn card_of_ref(processor_ref: &str) -> Result<&'static TestCard, ProcessorError> {
    let token = processor_ref.split(':').nth(1).unwrap_or_default();
    card(token)
}

fn authorized(
    card: &TestCard,
    processor_ref: String,
    capture: bool,
    now: holdfast_domain::Timestamp,
) -> AuthorizationResult {
    AuthorizationResult::Authorized {
        card: shown(card),
        processor_ref,
        expires_at: now.plus_seconds(HOLD_SECONDS),
        captured: capture,
    }
}

#[async_trait]
impl Processor for Sandbox {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    async fn inspect(&self, token: &str) -> Result<(Card, String), ProcessorError> {
        let card = card(token)?;
        Ok((shown(card), card.token.to_owned()))
    }

    async fn authorize(&self, call: AuthorizeCall) -> Result<AuthorizationResult, ProcessorError> {
        let card = card(&call.token)?;
        let reference = processor_ref(card, &call.idempotency_key);
        Ok(match card.behaviour {
            Behaviour::Approve | Behaviour::CaptureTimeoutOnce | Behaviour::RefundFails => {
                authorized(card, reference, call.capture, call.now)
            }
            Behaviour::Decline(decline_code) => AuthorizationResult::Declined {
                card: Some(shown(card)),
                error: PaymentError {
                    code: "CARD_DECLINED".into(),
                    decline_code: decline_code.into(),
                    message: "The card was declined.".into(),
                },
            },
            Behaviour::ThreeDSecure => AuthorizationResult::RequiresAction {
                card: shown(card),
                redirect_url: format!(
                    "https://sandbox.holdfast.invalid/3ds/authenticate?ref={reference}"
                ),
                processor_ref: reference,
            },
        })
    }

    async fn authenticate(
        &self,
        call: AuthenticateCall,
    ) -> Result<AuthorizationResult, ProcessorError> {
        let card = card_of_ref(&call.processor_ref)?;
        if call.succeeded {
            return Ok(authorized(card, call.processor_ref, call.capture, call.now));
        }
        Ok(AuthorizationResult::Declined {
            card: Some(shown(card)),
            error: PaymentError {
                code: "AUTHENTICATION_FAILED".into(),
                decline_code: "authentication_failed".into(),
                message: "The buyer did not complete authentication.".into(),
            },
        })
    }

    async fn capture(&self, call: CaptureCall) -> Result<(), ProcessorError> {
        let card = card_of_ref(&call.processor_ref)?;
        if card.behaviour == Behaviour::CaptureTimeoutOnce {
            let mut timed_out = self
                .timed_out
                .lock()
                .map_err(|_| ProcessorError::Unavailable("sandbox state poisoned".into()))?;
            if timed_out.insert(call.processor_ref) {
                return Err(ProcessorError::Unavailable(
                    "the processor timed out before answering the capture".into(),
                ));
            }
        }
        Ok(())
    }

    async fn void(&self, call: VoidCall) -> Result<(), ProcessorError> {
        card_of_ref(&call.processor_ref).map(|_| ())
    }

    async fn refund(&self, call: RefundCall) -> Result<RefundOutcome, ProcessorError> {
        let card = card_of_ref(&call.processor_ref)?;
        Ok(match card.behaviour {
            Behaviour::RefundFails => RefundOutcome::Failed {
                reason: "The card issuer declined the refund; the amount stays refundable.".into(),
            },
            _ => RefundOutcome::Succeeded,
        })
    }
}
