//! Wire types: request bodies as they arrive and objects as the API shows them.
//! Only this module knows the JSON shapes; the domain never serializes itself onto the wire.
//!
//! One module per resource, as under `routes/`; what they share is in [`common`]. Everything is
//! re-exported here, so a handler names `dto::OrderOut` whichever room it lives in.
//!
//! The handlers take query parameters one by one (`extract::Query`), so an unknown one can be
//! named in the error; the `…Query` types only describe them for the OpenAPI document.

mod checkout;
mod common;
mod customers;
mod intents;
mod orders;
mod refunds;
mod test_clocks;
mod webhooks;

pub use checkout::*;
pub use common::*;
pub use customers::*;
pub use intents::*;
pub use orders::*;
pub use refunds::*;
pub use test_clocks::*;
pub use webhooks::*;
