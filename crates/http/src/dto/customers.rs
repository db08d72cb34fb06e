//! `/v1/customers`: customers and their saved cards.

use std::collections::BTreeMap;

use holdfast_domain::customer::{Customer, SavedPaymentMethod};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::common::rfc3339;
use crate::openapi::schemas;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"email": "ada@example.com", "name": "Ada Lovelace"})))]
pub struct CreateCustomerBody {
    pub email: Option<String>,
    pub name: Option<String>,
    #[serde(default)]
    #[schema(value_type = schemas::Metadata)]
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"payment_source_token": "pm_card_visa"})))]
pub struct SavePaymentMethodBody {
    /// The card to save. Test mode takes the `pm_card_…` test tokens.
    #[schema(examples("pm_card_visa"))]
    pub payment_source_token: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Customer)]
pub struct CustomerOut {
    /// `cus_…`
    pub customer_id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    #[schema(value_type = schemas::Metadata)]
    pub metadata: BTreeMap<String, String>,
    pub livemode: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<&Customer> for CustomerOut {
    fn from(c: &Customer) -> CustomerOut {
        CustomerOut {
            customer_id: c.id.clone(),
            email: c.email.clone(),
            name: c.name.clone(),
            metadata: c.metadata.clone(),
            livemode: c.scope.livemode,
            created_at: rfc3339(c.created_at),
        }
    }
}

/// A saved card. Confirm an intent of its customer with its `payment_method_id`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = PaymentMethod)]
pub struct PaymentMethodOut {
    /// `pm_…`
    pub payment_method_id: String,
    pub customer_id: String,
    pub brand: String,
    pub last_four: String,
    pub livemode: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<&SavedPaymentMethod> for PaymentMethodOut {
    fn from(m: &SavedPaymentMethod) -> PaymentMethodOut {
        PaymentMethodOut {
            payment_method_id: m.id.clone(),
            customer_id: m.customer_id.clone(),
            brand: m.card.brand.clone(),
            last_four: m.card.last_four.clone(),
            livemode: m.scope.livemode,
            created_at: rfc3339(m.created_at),
        }
    }
}
