//! What every resource shares: money, times, the `{"data": …}` and page wrappers, the empty
//! body, the `Idempotency-Key` header and the paging parameters, and the small answers of the
//! open routes (health).

use holdfast_domain::intent::RawMoney;
use holdfast_domain::{Money, Timestamp};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::{IntoParams, ToSchema};

use crate::openapi::schemas;

/// An amount of money: integer minor units and a currency. There are no floats.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"amount": 12900, "currency": "USD"})))]
pub struct MoneyIn {
    /// In minor units of the currency: cents for USD, yen for JPY. Never negative; most
    /// operations take only a positive amount.
    #[schema(minimum = 0)]
    pub amount: i64,
    #[schema(value_type = schemas::Currency)]
    pub currency: String,
}

impl From<MoneyIn> for RawMoney {
    fn from(m: MoneyIn) -> RawMoney {
        RawMoney {
            amount: m.amount,
            currency: m.currency,
        }
    }
}

/// An empty body (`DELETE`s and the like): any field is unknown.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmptyBody {}

/// The `Idempotency-Key` header of a mutating request. [`crate::extract::Mutation`] reads it;
/// this type only describes it.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKeyHeader {
    /// 1 to 255 printable ASCII characters, chosen by the client. The same request repeated
    /// with the same key replays the stored answer (with `Idempotent-Replayed: true`) instead
    /// of acting twice; another request with the same key answers 422 `IDEMPOTENCY_KEY_REUSED`.
    /// Keys are kept for 8 days.
    #[param(
        rename = "Idempotency-Key",
        min_length = 1,
        max_length = 255,
        pattern = "^[\\x20-\\x7E]+$"
    )]
    pub idempotency_key: Option<String>,
}

/// The paging of every list, newest first.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// How many objects to answer with.
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<u32>,
    /// Where the page starts: the `next_cursor` of the page before.
    #[param(min_length = 1)]
    pub cursor: Option<String>,
}

/// `{"data": …}`, the wrapper of every single-object answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Data<T> {
    pub data: T,
}

/// A page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct List<T> {
    pub data: Vec<T>,
    pub has_more: bool,
    pub next_cursor: Option<String>,
}

/// An amount of money: integer minor units and a currency. There are no floats.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Money)]
pub struct MoneyOut {
    /// In minor units of the currency: cents for USD, yen for JPY.
    pub amount: i64,
    #[schema(value_type = schemas::Currency)]
    pub currency: String,
}

impl From<Money> for MoneyOut {
    fn from(m: Money) -> MoneyOut {
        MoneyOut::new(m)
    }
}

impl MoneyOut {
    pub fn new(m: Money) -> MoneyOut {
        MoneyOut {
            amount: m.amount,
            currency: m.currency.to_string(),
        }
    }
}

/// RFC 3339, UTC, whole seconds: `2026-07-03T02:57:20Z`.
pub fn rfc3339(t: Timestamp) -> String {
    OffsetDateTime::from_unix_timestamp(t.seconds())
        .ok()
        .and_then(|dt| dt.format(&Rfc3339).ok())
        .unwrap_or_default()
}

pub fn parse_rfc3339(s: &str) -> Option<Timestamp> {
    OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .map(|dt| Timestamp(dt.unix_timestamp()))
}

/// Tells a field given as `null` (`Some(None)`) from one left out (`None`).
pub(super) fn present<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthOut {
    /// Always `ok`.
    pub status: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadinessOut {
    /// Always `ready`: an unreachable database answers 503 instead.
    pub status: &'static str,
    /// `sqlite` or `postgres`.
    pub database: &'static str,
}
