//! Cards as Holdfast keeps them: what the API shows of the card behind an intent, and a card saved
//! on a customer. Never the number.
//!
//! A leaf module beside [`crate::intent`] and [`crate::customer`], so that confirming with a saved
//! card ([`crate::intent::decide_confirm`]) needs no import circle between the two.

use serde::{Deserialize, Serialize};

use crate::{Scope, Timestamp};

/// What the API shows of the card behind an intent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    pub brand: String,
    pub last_four: String,
}

/// A card saved on a customer. `processor_token` is the processor's reusable handle, not card data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedPaymentMethod {
    pub id: String,
    pub scope: Scope,
    pub customer_id: String,
    pub card: Card,
    pub processor_token: String,
    pub created_at: Timestamp,
}
