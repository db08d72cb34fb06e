//! The error answers of each operation: the groups of codes most routes share, and `errors!`,
//! which a handler's `#[utoipa::path(responses(…))]` names. The codes are grouped by the status
//! [`status_of`] gives them, so the document shows, for every status, exactly which `code` values
//! can appear.
//!
//! Route modules use this module and nothing else of the OpenAPI document, which is built from
//! the routes ([`super::document`]).

use std::collections::BTreeMap;

use axum::http::StatusCode;
use holdfast_domain::ErrorCode;
use utoipa::openapi::response::Response as ResponseObject;
use utoipa::openapi::schema::{AllOf, ObjectBuilder, Schema, Type};
use utoipa::openapi::{Content, Ref, RefOr};

use super::headers::{RETRY_AFTER, add_header};
use crate::error::status_of;

/// Codes any route behind a key can answer: no key, an unknown key, a client secret where it
/// is not allowed, the guard rails (rate limit, overload, timeout), and trouble inside.
pub(crate) const READ: &[ErrorCode] = &[
    ErrorCode::MissingApiKey,
    ErrorCode::InvalidApiKey,
    ErrorCode::ClientSecretNotAllowed,
    ErrorCode::RateLimited,
    ErrorCode::Overloaded,
    ErrorCode::RequestTimeout,
    ErrorCode::InternalError,
    ErrorCode::ServiceUnavailable,
];

/// Codes of a list's query string: a filter or page parameter out of range, or one unknown.
pub(crate) const QUERY: &[ErrorCode] = &[ErrorCode::InvalidParameter, ErrorCode::UnknownParameter];

/// Codes of a request body and its `Idempotency-Key` header (see `extract::Mutation`).
pub(crate) const BODY: &[ErrorCode] = &[
    ErrorCode::InvalidJson,
    ErrorCode::InvalidParameter,
    ErrorCode::MissingParameter,
    ErrorCode::UnknownParameter,
    ErrorCode::RequestTooLarge,
    ErrorCode::UnsupportedMediaType,
    ErrorCode::InvalidIdempotencyKey,
];

/// Codes of a request whose answer is stored under its `Idempotency-Key`.
pub(crate) const IDEMPOTENT: &[ErrorCode] = &[
    ErrorCode::IdempotencyKeyReused,
    ErrorCode::IdempotencyKeyInUse,
];

/// Codes of a request that calls the card processor.
pub(crate) const PROCESSOR: &[ErrorCode] = &[
    ErrorCode::ProcessorNotConfigured,
    ErrorCode::ProcessorUnavailable,
];

/// Declares the error answers of one operation as a type for its `#[utoipa::path(responses(…))]`:
/// `errors!(Name: GROUP GROUP; Code, Code)` or `errors!(Name: [Code, Code])`.
macro_rules! errors {
    ($name:ident: $($group:ident)* $(; $($code:ident),+ $(,)?)?) => {
        $crate::openapi::error_responses::errors!(@impl $name, [$($crate::openapi::error_responses::$group,)* $(&[$(holdfast_domain::ErrorCode::$code),+],)?]);
    };
    ($name:ident: [$($code:ident),+ $(,)?]) => {
        $crate::openapi::error_responses::errors!(@impl $name, [&[$(holdfast_domain::ErrorCode::$code),+]]);
    };
    (@impl $name:ident, [$($group:expr),* $(,)?]) => {
        /// The error answers of one operation.
        pub(crate) enum $name {}

        impl utoipa::IntoResponses for $name {
            fn responses() -> std::collections::BTreeMap<
                String,
                utoipa::openapi::RefOr<utoipa::openapi::response::Response>,
            > {
                $crate::openapi::error_responses::error_responses(&[$($group),*])
            }
        }
    };
}
pub(crate) use errors;

/// One response per status the codes answer with, each naming its codes.
pub(crate) fn error_responses(groups: &[&[ErrorCode]]) -> BTreeMap<String, RefOr<ResponseObject>> {
    let mut by_status: BTreeMap<u16, Vec<ErrorCode>> = BTreeMap::new();
    for code in ErrorCode::ALL {
        if groups.iter().any(|group| group.contains(code)) {
            by_status
                .entry(status_of(*code).as_u16())
                .or_default()
                .push(*code);
        }
    }
    by_status
        .into_iter()
        .map(|(status, codes)| (status.to_string(), RefOr::T(error_response(status, &codes))))
        .collect()
}

fn error_response(status: u16, codes: &[ErrorCode]) -> ResponseObject {
    let names: Vec<&str> = codes.iter().map(|c| c.as_str()).collect();
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    let listed = names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    // The envelope, with `code` narrowed to what this operation answers with at this status.
    let narrowed = ObjectBuilder::new().property(
        "error",
        ObjectBuilder::new().property(
            "code",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(names.clone())),
        ),
    );
    let schema = Schema::AllOf(
        AllOf::builder()
            .item(Ref::from_schema_name("ErrorEnvelope"))
            .item(narrowed)
            .build(),
    );
    let mut response = ResponseObject::builder()
        .description(format!("{reason}: {listed}."))
        .content("application/json", Content::new(Some(schema)))
        .build();
    if codes.contains(&ErrorCode::IdempotencyKeyInUse) {
        add_header(&mut response, RETRY_AFTER);
    }
    response
}
