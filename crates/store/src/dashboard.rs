//! What the operations dashboard reads and writes besides the API's objects: dashboard users and
//! their sessions, a merchant's API keys, intent searches (currency, amount range, reference,
//! test clock), and two aggregates: the money at risk (open holds by deadline) and daily totals.
//!
//! Their statements live in `sql.rs` with every other (the `Dashboard…` ones), their row mappings
//! here, and their `Store` methods in `engine.rs`, like the rest of the store. Users are stored as
//! JSON documents (the domain type's serde form) next to the columns looked up by; sessions as
//! plain columns.

use holdfast_domain::user::Session;
use holdfast_domain::{Currency, Timestamp};

use crate::rows::Row;
use crate::sql::Value;
use crate::{AttemptLog, DeliveryRecord, StoreError, StoreResult};

/// Extra conditions for listing intents, on top of [`crate::IntentFilter`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntentSearch {
    /// Only intents in this currency.
    pub currency: Option<Currency>,
    /// Only intents whose amount is at least this many minor units (with `currency`).
    pub amount_min: Option<i64>,
    /// Only intents whose amount is at most this many minor units (with `currency`).
    pub amount_max: Option<i64>,
    /// Only intents with exactly this `reference`.
    pub reference: Option<String>,
    /// Only intents that live on this test clock.
    pub test_clock: Option<String>,
}

impl IntentSearch {
    pub fn is_empty(&self) -> bool {
        self == &IntentSearch::default()
    }
}

/// Open holds of one currency whose deadline is near, each on its own time (its test clock's, or
/// the wall clock's): within 24 hours, and within 72 hours (which includes the first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AtRisk {
    pub currency: Currency,
    pub within_24h_count: u64,
    pub within_24h_amount: i64,
    pub within_72h_count: u64,
    pub within_72h_amount: i64,
}

/// One UTC day's money movements in one currency, from the events recorded that day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailyTotals {
    /// Days since 1970-01-01.
    pub day: i64,
    pub currency: Currency,
    /// Holds placed, and automatic charges authorized.
    pub authorized: i64,
    pub captured: i64,
    /// Whole holds released by a void.
    pub released_by_void: i64,
    /// Whole holds released because they reached their deadline.
    pub released_by_expiry: i64,
    pub refunded: i64,
    pub holds_placed: u64,
    /// Holds resolved by a capture, a void, or their expiry.
    pub holds_captured: u64,
    pub holds_voided: u64,
    pub holds_expired: u64,
}

impl DailyTotals {
    fn new(day: i64, currency: Currency) -> DailyTotals {
        DailyTotals {
            day,
            currency,
            authorized: 0,
            captured: 0,
            released_by_void: 0,
            released_by_expiry: 0,
            refunded: 0,
            holds_placed: 0,
            holds_captured: 0,
            holds_voided: 0,
            holds_expired: 0,
        }
    }
}

/// One delivery to an endpoint, with its attempts: an endpoint's delivery log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointDelivery {
    pub event_id: String,
    pub record: DeliveryRecord,
}

/// One group of events as the daily-totals query returns it.
#[derive(Debug)]
pub(crate) struct EventGroup {
    pub day: i64,
    pub kind: String,
    pub currency: Option<String>,
    pub capture_method: Option<String>,
    pub cancellation_reason: Option<String>,
    /// The snapshot released money (a canceled intent had a hold).
    pub held: bool,
    pub count: i64,
    pub authorized: i64,
    pub captured: i64,
    pub released: i64,
    pub refund_amount: i64,
}

/// Folds the event groups into one row per day and currency, in day order.
pub(crate) fn fold_daily(groups: Vec<EventGroup>) -> Vec<DailyTotals> {
    let mut out: std::collections::BTreeMap<(i64, String), DailyTotals> = Default::default();
    for g in groups {
        let Some(currency) = g.currency.as_deref().and_then(Currency::parse) else {
            continue;
        };
        let count = u64::try_from(g.count).unwrap_or(0);
        let t = out
            .entry((g.day, currency.to_string()))
            .or_insert_with(|| DailyTotals::new(g.day, currency));
        match g.kind.as_str() {
            "payment_intent.requires_capture" => {
                t.authorized += g.authorized;
                t.holds_placed += count;
            }
            "payment_intent.succeeded" => {
                t.captured += g.captured;
                if g.capture_method.as_deref() == Some("automatic") {
                    t.authorized += g.authorized;
                } else {
                    t.holds_captured += count;
                }
            }
            "payment_intent.canceled" if g.held => {
                if g.cancellation_reason.as_deref() == Some("authorization_expired") {
                    t.released_by_expiry += g.released;
                    t.holds_expired += count;
                } else {
                    t.released_by_void += g.released;
                    t.holds_voided += count;
                }
            }
            "refund.succeeded" => t.refunded += g.refund_amount,
            _ => {}
        }
    }
    out.into_values().collect()
}

/// The event types the daily totals read.
pub(crate) const DAILY_TYPES: [&str; 4] = [
    "payment_intent.requires_capture",
    "payment_intent.succeeded",
    "payment_intent.canceled",
    "refund.succeeded",
];

fn count(row: &dyn Row, index: usize) -> StoreResult<u64> {
    Ok(row.int(index)?.max(0).unsigned_abs())
}

/// A row of [`crate::sql::Stmt::DashboardMoneyAtRisk`]: currency, then the count and sum within
/// 24 hours and within 72 hours. A currency that is not one (a corrupt document) is skipped.
pub(crate) fn at_risk(row: &dyn Row) -> StoreResult<Option<AtRisk>> {
    let Some(currency) = row.opt_text(0)?.as_deref().and_then(Currency::parse) else {
        return Ok(None);
    };
    Ok(Some(AtRisk {
        currency,
        within_24h_count: count(row, 1)?,
        within_24h_amount: row.int(2)?,
        within_72h_count: count(row, 3)?,
        within_72h_amount: row.int(4)?,
    }))
}

/// A row of [`crate::sql::Stmt::DashboardDailyEvents`].
pub(crate) fn event_group(row: &dyn Row) -> StoreResult<EventGroup> {
    Ok(EventGroup {
        day: row.int(0)?,
        kind: row.text(1)?.to_owned(),
        currency: row.opt_text(2)?,
        capture_method: row.opt_text(3)?,
        cancellation_reason: row.opt_text(4)?,
        held: row.boolean(5)?,
        count: row.int(6)?,
        authorized: row.int(7)?,
        captured: row.int(8)?,
        released: row.int(9)?,
        refund_amount: row.int(10)?,
    })
}

/// One row of an endpoint's log: the delivery (its seq, event, status, attempts, next attempt)
/// and one of its attempts, if it has any.
pub(crate) type LogRow = (
    i64,
    String,
    String,
    u32,
    Option<Timestamp>,
    Option<AttemptLog>,
);

/// A row of [`crate::sql::Stmt::DashboardEndpointLog`].
pub(crate) fn log_row(row: &dyn Row) -> StoreResult<LogRow> {
    let small = |index: usize| -> StoreResult<u32> {
        let v = row.int(index)?;
        u32::try_from(v)
            .map_err(|_| StoreError::Corrupt(format!("column {index}: {v} out of range")))
    };
    let attempt = match row.opt_int(5)? {
        None => None,
        Some(_) => Some(AttemptLog {
            attempt: small(5)?,
            attempted_at: row.timestamp(6)?,
            status_code: row.opt_int(7)?.and_then(|c| u16::try_from(c).ok()),
            latency_ms: row.int(8)?,
            error: row.opt_text(9)?,
            next_attempt_at: row.opt_timestamp(10)?,
        }),
    };
    Ok((
        row.int(0)?,
        row.text(1)?.to_owned(),
        row.text(2)?.to_owned(),
        small(3)?,
        row.opt_timestamp(4)?,
        attempt,
    ))
}

/// Attaches attempt rows to the deliveries they belong to, keeping the deliveries' order.
pub(crate) fn endpoint_log(rows: Vec<LogRow>, endpoint_id: &str) -> Vec<EndpointDelivery> {
    let mut out: Vec<(i64, EndpointDelivery)> = Vec::new();
    for (seq, event_id, status, attempts, next, attempt) in rows {
        if out.last().is_none_or(|(s, _)| *s != seq) {
            out.push((
                seq,
                EndpointDelivery {
                    event_id,
                    record: DeliveryRecord {
                        endpoint_id: endpoint_id.to_owned(),
                        status,
                        attempts,
                        next_attempt_at: next,
                        log: Vec::new(),
                    },
                },
            ));
        }
        if let (Some(attempt), Some((_, last))) = (attempt, out.last_mut()) {
            last.record.log.push(attempt);
        }
    }
    out.into_iter().map(|(_, d)| d).collect()
}

/// `token_hash, user_id, user_epoch, csrf_token, created_at, last_seen_at`
pub(crate) fn session(row: &dyn Row) -> StoreResult<Session> {
    let epoch = row.int(2)?;
    Ok(Session {
        token_hash: row.text(0)?.to_owned(),
        user_id: row.text(1)?.to_owned(),
        user_epoch: u32::try_from(epoch)
            .map_err(|_| StoreError::Corrupt(format!("session epoch {epoch} out of range")))?,
        csrf_token: row.text(3)?.to_owned(),
        created_at: row.timestamp(4)?,
        last_seen_at: row.timestamp(5)?,
    })
}

pub(crate) fn session_params(s: &Session) -> Vec<Value> {
    crate::sql::values![
        &s.token_hash,
        &s.user_id,
        s.user_epoch,
        &s.csrf_token,
        s.created_at,
        s.last_seen_at
    ]
}
