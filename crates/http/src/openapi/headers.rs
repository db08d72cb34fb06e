//! The response headers the document describes once, under `components/headers`, and refers to
//! from each answer that carries them.

use utoipa::openapi::response::Response as ResponseObject;
use utoipa::openapi::{Ref, RefOr};

pub(crate) const REQUEST_ID: &str = "X-Request-Id";
pub(crate) const REPLAYED: &str = "Idempotent-Replayed";
pub(crate) const RETRY_AFTER: &str = "Retry-After";

/// Refers an answer to one of the headers above.
pub(crate) fn add_header(response: &mut ResponseObject, name: &str) {
    response.headers.insert(
        name.into(),
        RefOr::Ref(Ref::new(format!("#/components/headers/{name}"))),
    );
}
