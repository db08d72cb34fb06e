//! Test servers for Holdfast's processor tests (and, later, the API tests in live mode).
//!
//! - [`Localstripe`] runs localstripe (a stateful Stripe emulator from PyPI) on a free port of
//!   127.0.0.1, from the virtualenv `scripts/localstripe.sh --install-only` creates.
//! - [`StripeStub`] is a small Stripe-shaped server for what localstripe does not emulate:
//!   keyed replay and `idempotency_error`, card errors with `decline_code`, 409/429/5xx with
//!   `Stripe-Should-Retry`, slow answers, `capture_before`, `amount_capturable` and
//!   `amount_received`, `cancellation_reason`, `final_capture`, `increment_authorization`,
//!   `redirect_to_url`, scripted faults per call, a count of the calls per (operation, key), and
//!   signed webhook deliveries.
//!
//! Bodies follow Stripe's API reference and OpenAPI document; see each item.

mod form;
mod localstripe;
mod signing;
mod stub;

pub use form::{decode_form, percent_decode};
pub use localstripe::{Localstripe, VERSION as LOCALSTRIPE_VERSION, venv_dir};
pub use signing::{signature_header, signature_v1};
pub use stub::{Fault, Operation, RecordedRequest, StripeStub};
