//! Customers and their saved cards, so a returning buyer can confirm with a `payment_method_id`.

use serde::{Deserialize, Serialize};

pub use crate::card::SavedPaymentMethod;
use crate::error::{ErrorCode, Rejection};
use crate::intent::TEXT_CHARS_MAX;
use crate::metadata::{self, Metadata};
use crate::{Scope, Timestamp};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    pub id: String,
    pub scope: Scope,
    pub email: Option<String>,
    pub name: Option<String>,
    #[serde(default)]
    pub metadata: Metadata,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Default)]
pub struct CreateCustomer {
    pub email: Option<String>,
    pub name: Option<String>,
    pub metadata: Metadata,
}

pub fn create_customer(
    id: String,
    scope: Scope,
    req: CreateCustomer,
    now: Timestamp,
) -> Result<Customer, Rejection> {
    if let Some(email) = &req.email
        && (email.chars().count() > TEXT_CHARS_MAX || !email.contains('@'))
    {
        return Err(Rejection::param(
            ErrorCode::InvalidParameter,
            "email",
            "email must be an address of at most 500 characters",
        ));
    }
    if req
        .name
        .as_ref()
        .is_some_and(|n| n.chars().count() > TEXT_CHARS_MAX)
    {
        return Err(Rejection::param(
            ErrorCode::InvalidParameter,
            "name",
            "name is at most 500 characters",
        ));
    }
    metadata::validate(&req.metadata, "metadata")?;
    Ok(Customer {
        id,
        scope,
        email: req.email,
        name: req.name,
        metadata: req.metadata,
        created_at: now,
    })
}
