//! Holdfast's domain core: money, the payment intent state machine, events and error codes.
//!
//! Everything here is a pure function of its inputs. Nothing awaits, reads the clock, draws random
//! numbers or touches a database: the service layer loads state, passes `now` and freshly minted ids
//! in, and persists what comes back. The compiler enforces this: the crate depends on `serde` (for
//! the persisted document format) and nothing else.

pub mod card;
pub mod checkout;
pub mod customer;
pub mod error;
pub mod event;
pub mod event_type;
pub mod increment;
pub mod intent;
pub mod metadata;
pub mod money;
pub mod order;
pub mod refund;
pub mod schedule;
pub mod test_clock;
pub mod time;
pub mod user;
pub mod webhook;

pub use error::{ErrorCode, Rejection};
pub use event_type::EventType;
pub use money::{Currency, Money, RawMoney};
pub use time::Timestamp;

/// The owner of an object: a merchant in one mode. Objects of another scope do not exist for a caller.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Scope {
    pub merchant_id: String,
    pub livemode: bool,
}
