//! What the operations dashboard reads and writes besides the API's objects: dashboard users and
//! their sessions, a merchant's API keys, intent searches (currency, amount range, reference,
//! test clock), and two aggregates: the money at risk (open holds by deadline) and daily totals.
//!
//! Each backend's statements live here, side by side, so the two stay alike; `sqlite.rs` and
//! `postgres.rs` only hand these functions a connection. Users are stored as JSON documents (the
//! domain type's serde form) next to the columns looked up by; sessions as plain columns.

use holdfast_domain::user::{Session, User};
use holdfast_domain::{Currency, Scope, Timestamp};

use crate::{DeliveryRecord, StoreError, StoreResult};

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

fn user_of(doc: &str) -> StoreResult<User> {
    crate::model::from_doc(doc)
}

/// One row of an endpoint's log: the delivery (its seq, event, status, attempts, next attempt)
/// and one of its attempts, if it has any.
type LogRow = (
    i64,
    String,
    String,
    u32,
    Option<i64>,
    Option<crate::AttemptLog>,
);

/// Attaches attempt rows to the deliveries they belong to, keeping the deliveries' order.
fn endpoint_log(rows: Vec<LogRow>, endpoint_id: &str) -> Vec<EndpointDelivery> {
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
                        next_attempt_at: next.map(Timestamp),
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

/// SQLite: every statement takes a connection from `sqlite.rs` (a reader, or the writer's).
pub(crate) mod sqlite {
    use rusqlite::{Connection, OptionalExtension, params};

    use super::*;
    use crate::model::to_doc;

    fn unavailable(e: rusqlite::Error) -> StoreError {
        StoreError::Unavailable(e.to_string())
    }

    fn write_error(e: rusqlite::Error) -> StoreError {
        match &e {
            rusqlite::Error::SqliteFailure(err, _)
                if err.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || err.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
            {
                StoreError::Conflict
            }
            _ => unavailable(e),
        }
    }

    fn one_user(conn: &Connection, sql: &str, key: &str) -> StoreResult<Option<User>> {
        let doc: Option<String> = conn
            .prepare_cached(sql)
            .and_then(|mut s| s.query_row([key], |r| r.get(0)).optional())
            .map_err(unavailable)?;
        doc.as_deref().map(user_of).transpose()
    }

    pub(crate) fn get_user(conn: &Connection, id: &str) -> StoreResult<Option<User>> {
        one_user(conn, "SELECT doc FROM dashboard_users WHERE id = ?1", id)
    }

    pub(crate) fn get_user_by_email(conn: &Connection, email: &str) -> StoreResult<Option<User>> {
        one_user(
            conn,
            "SELECT doc FROM dashboard_users WHERE email = ?1",
            email,
        )
    }

    pub(crate) fn list_users(conn: &Connection, merchant_id: &str) -> StoreResult<Vec<User>> {
        let mut stmt = conn
            .prepare_cached(
                "SELECT doc FROM dashboard_users WHERE merchant_id = ?1 ORDER BY created_at, id",
            )
            .map_err(unavailable)?;
        let docs = stmt
            .query_map([merchant_id], |r| r.get::<_, String>(0))
            .map_err(unavailable)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(unavailable)?;
        docs.iter().map(|d| user_of(d)).collect()
    }

    /// Inserts users at version 1, and updates others only from the version they were changed
    /// from; a stale version or an email another user has is a conflict.
    pub(crate) fn write_users(conn: &Connection, users: &[User]) -> StoreResult<()> {
        for user in users {
            let doc = to_doc(user)?;
            let version = i64::try_from(user.version).unwrap_or(i64::MAX);
            if user.version <= 1 {
                conn.prepare_cached(
                    "INSERT INTO dashboard_users (id, merchant_id, email, version, created_at, doc)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        user.id,
                        user.merchant_id,
                        user.email,
                        version,
                        user.created_at.seconds(),
                        doc
                    ])
                })
                .map_err(write_error)?;
            } else {
                let changed = conn
                    .prepare_cached(
                        "UPDATE dashboard_users SET email = ?1, version = ?2, doc = ?3
                         WHERE id = ?4 AND version = ?5",
                    )
                    .and_then(|mut s| {
                        s.execute(params![user.email, version, doc, user.id, version - 1])
                    })
                    .map_err(write_error)?;
                if changed != 1 {
                    return Err(StoreError::Conflict);
                }
            }
        }
        Ok(())
    }

    /// Inserts API keys, or records the revocation of one already stored.
    pub(crate) fn write_api_keys(conn: &Connection, keys: &[crate::ApiKey]) -> StoreResult<()> {
        for key in keys {
            conn.prepare_cached(
                "INSERT INTO api_keys (hash, prefix, merchant_id, livemode, created_at, revoked_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (hash) DO UPDATE SET revoked_at = excluded.revoked_at",
            )
            .and_then(|mut s| {
                s.execute(params![
                    key.hash,
                    key.prefix,
                    key.merchant_id,
                    key.livemode,
                    key.created_at.seconds(),
                    key.revoked_at.map(Timestamp::seconds)
                ])
            })
            .map_err(write_error)?;
        }
        Ok(())
    }

    pub(crate) fn list_api_keys(
        conn: &Connection,
        merchant_id: &str,
        livemode: bool,
    ) -> StoreResult<Vec<crate::ApiKey>> {
        let mut stmt = conn
            .prepare_cached(
                "SELECT hash, prefix, merchant_id, livemode, created_at, revoked_at FROM api_keys
                 WHERE merchant_id = ?1 AND livemode = ?2 ORDER BY created_at DESC, prefix",
            )
            .map_err(unavailable)?;
        stmt.query_map(params![merchant_id, livemode], |r| {
            Ok(crate::ApiKey {
                hash: r.get(0)?,
                prefix: r.get(1)?,
                merchant_id: r.get(2)?,
                livemode: r.get(3)?,
                created_at: Timestamp(r.get(4)?),
                revoked_at: r.get::<_, Option<i64>>(5)?.map(Timestamp),
            })
        })
        .map_err(unavailable)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(unavailable)
    }

    pub(crate) fn insert_session(conn: &Connection, s: &Session) -> StoreResult<()> {
        conn.prepare_cached(
            "INSERT INTO dashboard_sessions
             (token_hash, user_id, user_epoch, csrf_token, created_at, last_seen_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .and_then(|mut st| {
            st.execute(params![
                s.token_hash,
                s.user_id,
                s.user_epoch,
                s.csrf_token,
                s.created_at.seconds(),
                s.last_seen_at.seconds()
            ])
        })
        .map_err(write_error)?;
        Ok(())
    }

    pub(crate) fn get_session(conn: &Connection, token_hash: &str) -> StoreResult<Option<Session>> {
        conn.prepare_cached(
            "SELECT token_hash, user_id, user_epoch, csrf_token, created_at, last_seen_at
             FROM dashboard_sessions WHERE token_hash = ?1",
        )
        .and_then(|mut s| {
            s.query_row([token_hash], |r| {
                Ok(Session {
                    token_hash: r.get(0)?,
                    user_id: r.get(1)?,
                    user_epoch: r.get(2)?,
                    csrf_token: r.get(3)?,
                    created_at: Timestamp(r.get(4)?),
                    last_seen_at: Timestamp(r.get(5)?),
                })
            })
            .optional()
        })
        .map_err(unavailable)
    }

    pub(crate) fn touch_session(conn: &Connection, token_hash: &str, at: i64) -> StoreResult<()> {
        conn.prepare_cached(
            "UPDATE dashboard_sessions SET last_seen_at = ?2
             WHERE token_hash = ?1 AND last_seen_at < ?2",
        )
        .and_then(|mut s| s.execute(params![token_hash, at]))
        .map_err(write_error)?;
        Ok(())
    }

    pub(crate) fn delete_session(conn: &Connection, token_hash: &str) -> StoreResult<()> {
        conn.prepare_cached("DELETE FROM dashboard_sessions WHERE token_hash = ?1")
            .and_then(|mut s| s.execute([token_hash]))
            .map_err(write_error)?;
        Ok(())
    }

    pub(crate) fn purge_sessions(
        conn: &Connection,
        seen_before: i64,
        created_before: i64,
        limit: u32,
    ) -> StoreResult<u64> {
        conn.prepare_cached(
            "DELETE FROM dashboard_sessions WHERE rowid IN
             (SELECT rowid FROM dashboard_sessions WHERE last_seen_at < ?1 OR created_at < ?2
              LIMIT ?3)",
        )
        .and_then(|mut s| s.execute(params![seen_before, created_before, limit]))
        .map(|n| n as u64)
        .map_err(write_error)
    }

    /// Appends the search's conditions to an intent query being built (`?` is the next argument).
    pub(crate) fn push_search(
        search: &IntentSearch,
        arg: &mut dyn FnMut(&str, Box<dyn rusqlite::ToSql>),
    ) {
        if let Some(currency) = search.currency {
            arg(
                " AND json_extract(doc, '$.amount.currency') = ?",
                Box::new(currency.to_string()),
            );
        }
        if let Some(min) = search.amount_min {
            arg(
                " AND json_extract(doc, '$.amount.amount') >= ?",
                Box::new(min),
            );
        }
        if let Some(max) = search.amount_max {
            arg(
                " AND json_extract(doc, '$.amount.amount') <= ?",
                Box::new(max),
            );
        }
        if let Some(reference) = &search.reference {
            arg(
                " AND json_extract(doc, '$.reference') = ?",
                Box::new(reference.clone()),
            );
        }
        if let Some(clock) = &search.test_clock {
            arg(" AND test_clock_id = ?", Box::new(clock.clone()));
        }
    }

    pub(crate) fn money_at_risk(
        conn: &Connection,
        scope: &Scope,
        now: i64,
    ) -> StoreResult<Vec<AtRisk>> {
        let mut stmt = conn
            .prepare_cached(
                "SELECT currency,
                   SUM(CASE WHEN expires_at < now + 86400 THEN 1 ELSE 0 END),
                   SUM(CASE WHEN expires_at < now + 86400 THEN capturable ELSE 0 END),
                   COUNT(*),
                   SUM(capturable)
                 FROM (SELECT json_extract(doc, '$.amount.currency') AS currency,
                         json_extract(doc, '$.capturable') AS capturable, expires_at,
                         CASE WHEN test_clock_id IS NULL THEN ?3 ELSE COALESCE((SELECT c.frozen_time
                           FROM test_clocks c WHERE c.id = payment_intents.test_clock_id), ?3) END AS now
                       FROM payment_intents
                       WHERE merchant_id = ?1 AND livemode = ?2 AND status = 'requires_capture'
                         AND expires_at IS NOT NULL)
                 WHERE expires_at >= now AND expires_at < now + 259200
                 GROUP BY currency ORDER BY currency",
            )
            .map_err(unavailable)?;
        let rows = stmt
            .query_map(params![scope.merchant_id, scope.livemode, now], |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })
            .map_err(unavailable)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(unavailable)?;
        Ok(rows.into_iter().filter_map(at_risk).collect())
    }

    pub(crate) fn daily_totals(
        conn: &Connection,
        scope: &Scope,
        from: i64,
        to: i64,
    ) -> StoreResult<Vec<DailyTotals>> {
        let mut stmt = conn
            .prepare_cached(
                "SELECT created_at / 86400 AS day, type,
                   COALESCE(json_extract(doc, '$.object.value.amount.currency'), '') AS currency,
                   json_extract(doc, '$.object.value.capture_method') AS method,
                   json_extract(doc, '$.object.value.cancellation_reason') AS reason,
                   COALESCE(json_extract(doc, '$.object.value.released'), 0) > 0 AS held,
                   COUNT(*),
                   COALESCE(SUM(json_extract(doc, '$.object.value.authorized')), 0),
                   COALESCE(SUM(json_extract(doc, '$.object.value.captured')), 0),
                   COALESCE(SUM(json_extract(doc, '$.object.value.released')), 0),
                   COALESCE(SUM(json_extract(doc, '$.object.value.amount.amount')), 0)
                 FROM events
                 WHERE merchant_id = ?1 AND livemode = ?2 AND created_at >= ?3 AND created_at <= ?4
                   AND type IN (?5, ?6, ?7, ?8)
                 GROUP BY day, type, currency, method, reason, held",
            )
            .map_err(unavailable)?;
        let [t1, t2, t3, t4] = DAILY_TYPES;
        let groups = stmt
            .query_map(
                params![scope.merchant_id, scope.livemode, from, to, t1, t2, t3, t4],
                |r| {
                    Ok(EventGroup {
                        day: r.get(0)?,
                        kind: r.get(1)?,
                        currency: r.get(2)?,
                        capture_method: r.get(3)?,
                        cancellation_reason: r.get(4)?,
                        held: r.get(5)?,
                        count: r.get(6)?,
                        authorized: r.get(7)?,
                        captured: r.get(8)?,
                        released: r.get(9)?,
                        refund_amount: r.get(10)?,
                    })
                },
            )
            .map_err(unavailable)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(unavailable)?;
        Ok(fold_daily(groups))
    }

    pub(crate) fn endpoint_deliveries(
        conn: &Connection,
        scope: &Scope,
        endpoint_id: &str,
        limit: u32,
    ) -> StoreResult<Vec<EndpointDelivery>> {
        let mut stmt = conn
            .prepare_cached(
                "SELECT d.seq, d.event_id, d.status, d.attempts, d.next_attempt_at,
                   a.attempt, a.attempted_at, a.status_code, a.latency_ms, a.error, a.next_attempt_at
                 FROM (SELECT seq, event_id, status, attempts, next_attempt_at
                       FROM webhook_deliveries
                       WHERE endpoint_id = ?1 AND merchant_id = ?2 AND livemode = ?3
                       ORDER BY seq DESC LIMIT ?4) d
                 LEFT JOIN webhook_attempts a ON a.delivery_seq = d.seq
                 ORDER BY d.seq DESC, a.seq ASC",
            )
            .map_err(unavailable)?;
        let rows = stmt
            .query_map(
                params![endpoint_id, scope.merchant_id, scope.livemode, limit],
                |r| {
                    let attempt = match r.get::<_, Option<u32>>(5)? {
                        None => None,
                        Some(n) => Some(crate::AttemptLog {
                            attempt: n,
                            attempted_at: Timestamp(r.get(6)?),
                            status_code: r.get(7)?,
                            latency_ms: r.get(8)?,
                            error: r.get(9)?,
                            next_attempt_at: r.get::<_, Option<i64>>(10)?.map(Timestamp),
                        }),
                    };
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, u32>(3)?,
                        r.get::<_, Option<i64>>(4)?,
                        attempt,
                    ))
                },
            )
            .map_err(unavailable)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(unavailable)?;
        Ok(endpoint_log(rows, endpoint_id))
    }
}

fn at_risk(row: (Option<String>, i64, i64, i64, i64)) -> Option<AtRisk> {
    let (currency, c24, a24, c72, a72) = row;
    Some(AtRisk {
        currency: Currency::parse(currency.as_deref()?)?,
        within_24h_count: u64::try_from(c24).unwrap_or(0),
        within_24h_amount: a24,
        within_72h_count: u64::try_from(c72).unwrap_or(0),
        within_72h_amount: a72,
    })
}

/// PostgreSQL: every statement takes a client (or transaction) from `postgres.rs`.
pub(crate) mod postgres {
    use deadpool_postgres::GenericClient;
    use tokio_postgres::Row;
    use tokio_postgres::types::ToSql;

    use super::*;
    use crate::model::to_doc;

    fn db_error(e: tokio_postgres::Error) -> StoreError {
        if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) {
            StoreError::Conflict
        } else {
            StoreError::Unavailable(e.to_string())
        }
    }

    async fn query(
        client: &impl GenericClient,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<Vec<Row>> {
        let statement = client.prepare_cached(sql).await.map_err(db_error)?;
        client.query(&statement, params).await.map_err(db_error)
    }

    async fn execute(
        client: &impl GenericClient,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> StoreResult<u64> {
        let statement = client.prepare_cached(sql).await.map_err(db_error)?;
        client.execute(&statement, params).await.map_err(db_error)
    }

    fn get<'a, T: tokio_postgres::types::FromSql<'a>>(row: &'a Row, i: usize) -> StoreResult<T> {
        row.try_get(i)
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    async fn one_user(
        client: &impl GenericClient,
        sql: &str,
        key: &str,
    ) -> StoreResult<Option<User>> {
        let rows = query(client, sql, &[&key]).await?;
        rows.first()
            .map(|r| get::<String>(r, 0).and_then(|d| user_of(&d)))
            .transpose()
    }

    pub(crate) async fn get_user(
        client: &impl GenericClient,
        id: &str,
    ) -> StoreResult<Option<User>> {
        one_user(client, "SELECT doc FROM dashboard_users WHERE id = $1", id).await
    }

    pub(crate) async fn get_user_by_email(
        client: &impl GenericClient,
        email: &str,
    ) -> StoreResult<Option<User>> {
        one_user(
            client,
            "SELECT doc FROM dashboard_users WHERE email = $1",
            email,
        )
        .await
    }

    pub(crate) async fn list_users(
        client: &impl GenericClient,
        merchant_id: &str,
    ) -> StoreResult<Vec<User>> {
        let rows = query(
            client,
            "SELECT doc FROM dashboard_users WHERE merchant_id = $1 ORDER BY created_at, id",
            &[&merchant_id],
        )
        .await?;
        rows.iter()
            .map(|r| get::<String>(r, 0).and_then(|d| user_of(&d)))
            .collect()
    }

    /// The statements that write users, for a unit's pipeline: (SQL, parameters, whether it
    /// must change exactly one row). Versioned as in [`super::sqlite::write_users`].
    #[expect(clippy::type_complexity, reason = "a pipeline step, spelt out")]
    pub(crate) fn user_writes(
        users: &[User],
    ) -> StoreResult<Vec<(&'static str, Vec<Box<dyn ToSql + Sync + Send>>, bool)>> {
        users
            .iter()
            .map(|user| {
                let doc = to_doc(user)?;
                let version = i64::try_from(user.version).unwrap_or(i64::MAX);
                if user.version <= 1 {
                    let params: Vec<Box<dyn ToSql + Sync + Send>> = vec![
                        Box::new(user.id.clone()),
                        Box::new(user.merchant_id.clone()),
                        Box::new(user.email.clone()),
                        Box::new(version),
                        Box::new(user.created_at.seconds()),
                        Box::new(doc),
                    ];
                    Ok((
                        "INSERT INTO dashboard_users (id, merchant_id, email, version, created_at, doc)
                         VALUES ($1, $2, $3, $4, $5, $6)",
                        params,
                        false,
                    ))
                } else {
                    let params: Vec<Box<dyn ToSql + Sync + Send>> = vec![
                        Box::new(user.email.clone()),
                        Box::new(version),
                        Box::new(doc),
                        Box::new(user.id.clone()),
                        Box::new(version - 1),
                    ];
                    Ok((
                        "UPDATE dashboard_users SET email = $1, version = $2, doc = $3
                         WHERE id = $4 AND version = $5",
                        params,
                        true,
                    ))
                }
            })
            .collect()
    }

    pub(crate) fn api_key_writes(
        keys: &[crate::ApiKey],
    ) -> Vec<(&'static str, Vec<Box<dyn ToSql + Sync + Send>>)> {
        keys.iter()
            .map(|key| {
                let params: Vec<Box<dyn ToSql + Sync + Send>> = vec![
                    Box::new(key.hash.clone()),
                    Box::new(key.prefix.clone()),
                    Box::new(key.merchant_id.clone()),
                    Box::new(key.livemode),
                    Box::new(key.created_at.seconds()),
                    Box::new(key.revoked_at.map(Timestamp::seconds)),
                ];
                (
                    "INSERT INTO api_keys (hash, prefix, merchant_id, livemode, created_at, revoked_at)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (hash) DO UPDATE SET revoked_at = excluded.revoked_at",
                    params,
                )
            })
            .collect()
    }

    pub(crate) async fn list_api_keys(
        client: &impl GenericClient,
        merchant_id: &str,
        livemode: bool,
    ) -> StoreResult<Vec<crate::ApiKey>> {
        let rows = query(
            client,
            "SELECT hash, prefix, merchant_id, livemode, created_at, revoked_at FROM api_keys
             WHERE merchant_id = $1 AND livemode = $2 ORDER BY created_at DESC, prefix",
            &[&merchant_id, &livemode],
        )
        .await?;
        rows.iter()
            .map(|r| {
                Ok(crate::ApiKey {
                    hash: get(r, 0)?,
                    prefix: get(r, 1)?,
                    merchant_id: get(r, 2)?,
                    livemode: get(r, 3)?,
                    created_at: Timestamp(get(r, 4)?),
                    revoked_at: get::<Option<i64>>(r, 5)?.map(Timestamp),
                })
            })
            .collect()
    }

    pub(crate) async fn insert_session(
        client: &impl GenericClient,
        s: &Session,
    ) -> StoreResult<()> {
        execute(
            client,
            "INSERT INTO dashboard_sessions
             (token_hash, user_id, user_epoch, csrf_token, created_at, last_seen_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &s.token_hash,
                &s.user_id,
                &i64::from(s.user_epoch),
                &s.csrf_token,
                &s.created_at.seconds(),
                &s.last_seen_at.seconds(),
            ],
        )
        .await?;
        Ok(())
    }

    pub(crate) async fn get_session(
        client: &impl GenericClient,
        token_hash: &str,
    ) -> StoreResult<Option<Session>> {
        let rows = query(
            client,
            "SELECT token_hash, user_id, user_epoch, csrf_token, created_at, last_seen_at
             FROM dashboard_sessions WHERE token_hash = $1",
            &[&token_hash],
        )
        .await?;
        rows.first()
            .map(|r| {
                Ok(Session {
                    token_hash: get(r, 0)?,
                    user_id: get(r, 1)?,
                    user_epoch: u32::try_from(get::<i64>(r, 2)?).unwrap_or(u32::MAX),
                    csrf_token: get(r, 3)?,
                    created_at: Timestamp(get(r, 4)?),
                    last_seen_at: Timestamp(get(r, 5)?),
                })
            })
            .transpose()
    }

    pub(crate) async fn touch_session(
        client: &impl GenericClient,
        token_hash: &str,
        at: i64,
    ) -> StoreResult<()> {
        execute(
            client,
            "UPDATE dashboard_sessions SET last_seen_at = $2
             WHERE token_hash = $1 AND last_seen_at < $2",
            &[&token_hash, &at],
        )
        .await?;
        Ok(())
    }

    pub(crate) async fn delete_session(
        client: &impl GenericClient,
        token_hash: &str,
    ) -> StoreResult<()> {
        execute(
            client,
            "DELETE FROM dashboard_sessions WHERE token_hash = $1",
            &[&token_hash],
        )
        .await?;
        Ok(())
    }

    pub(crate) async fn purge_sessions(
        client: &impl GenericClient,
        seen_before: i64,
        created_before: i64,
        limit: u32,
    ) -> StoreResult<u64> {
        execute(
            client,
            "DELETE FROM dashboard_sessions WHERE token_hash IN
             (SELECT token_hash FROM dashboard_sessions
              WHERE last_seen_at < $1 OR created_at < $2 LIMIT $3)",
            &[&seen_before, &created_before, &i64::from(limit)],
        )
        .await
    }

    /// Appends the search's conditions to an intent query being built (`$` is the next
    /// parameter), through the caller's `push`.
    pub(crate) fn push_search(
        search: &IntentSearch,
        push: &mut dyn FnMut(&str, Box<dyn ToSql + Sync + Send>),
    ) {
        if let Some(currency) = search.currency {
            push(
                " AND (doc::jsonb #>> '{amount,currency}') = $",
                Box::new(currency.to_string()),
            );
        }
        if let Some(min) = search.amount_min {
            push(
                " AND (doc::jsonb #>> '{amount,amount}')::bigint >= $",
                Box::new(min),
            );
        }
        if let Some(max) = search.amount_max {
            push(
                " AND (doc::jsonb #>> '{amount,amount}')::bigint <= $",
                Box::new(max),
            );
        }
        if let Some(reference) = &search.reference {
            push(
                " AND (doc::jsonb ->> 'reference') = $",
                Box::new(reference.clone()),
            );
        }
        if let Some(clock) = &search.test_clock {
            push(" AND test_clock_id = $", Box::new(clock.clone()));
        }
    }

    pub(crate) async fn money_at_risk(
        client: &impl GenericClient,
        scope: &Scope,
        now: i64,
    ) -> StoreResult<Vec<AtRisk>> {
        let rows = query(
            client,
            "SELECT currency,
               COUNT(*) FILTER (WHERE expires_at < now + 86400),
               COALESCE(SUM(capturable) FILTER (WHERE expires_at < now + 86400), 0)::bigint,
               COUNT(*),
               COALESCE(SUM(capturable), 0)::bigint
             FROM (SELECT doc::jsonb #>> '{amount,currency}' AS currency,
                     (doc::jsonb ->> 'capturable')::bigint AS capturable, expires_at,
                     CASE WHEN test_clock_id IS NULL THEN $3 ELSE COALESCE((SELECT c.frozen_time
                       FROM test_clocks c WHERE c.id = payment_intents.test_clock_id), $3) END AS now
                   FROM payment_intents
                   WHERE merchant_id = $1 AND livemode = $2 AND status = 'requires_capture'
                     AND expires_at IS NOT NULL) h
             WHERE expires_at >= now AND expires_at < now + 259200
             GROUP BY 1 ORDER BY 1",
            &[&scope.merchant_id, &scope.livemode, &now],
        )
        .await?;
        let mut out = Vec::new();
        for r in &rows {
            if let Some(risk) =
                at_risk((get(r, 0)?, get(r, 1)?, get(r, 2)?, get(r, 3)?, get(r, 4)?))
            {
                out.push(risk);
            }
        }
        Ok(out)
    }

    pub(crate) async fn daily_totals(
        client: &impl GenericClient,
        scope: &Scope,
        from: i64,
        to: i64,
    ) -> StoreResult<Vec<DailyTotals>> {
        let rows = query(
            client,
            "SELECT day, type, currency, method, reason, held, COUNT(*),
               COALESCE(SUM(authorized), 0)::bigint, COALESCE(SUM(captured), 0)::bigint,
               COALESCE(SUM(released), 0)::bigint, COALESCE(SUM(refund_amount), 0)::bigint
             FROM (SELECT created_at / 86400 AS day, type,
                     COALESCE(d #>> '{object,value,amount,currency}', '') AS currency,
                     d #>> '{object,value,capture_method}' AS method,
                     d #>> '{object,value,cancellation_reason}' AS reason,
                     COALESCE((d #>> '{object,value,released}')::bigint, 0) > 0 AS held,
                     (d #>> '{object,value,authorized}')::bigint AS authorized,
                     (d #>> '{object,value,captured}')::bigint AS captured,
                     (d #>> '{object,value,released}')::bigint AS released,
                     (d #>> '{object,value,amount,amount}')::bigint AS refund_amount
                   FROM (SELECT created_at, type, doc::jsonb AS d FROM events
                         WHERE merchant_id = $1 AND livemode = $2
                           AND created_at >= $3 AND created_at <= $4
                           AND type IN ($5, $6, $7, $8)) e) g
             GROUP BY day, type, currency, method, reason, held",
            &[
                &scope.merchant_id,
                &scope.livemode,
                &from,
                &to,
                &DAILY_TYPES[0],
                &DAILY_TYPES[1],
                &DAILY_TYPES[2],
                &DAILY_TYPES[3],
            ],
        )
        .await?;
        let mut groups = Vec::with_capacity(rows.len());
        for r in &rows {
            groups.push(EventGroup {
                day: get(r, 0)?,
                kind: get(r, 1)?,
                currency: get(r, 2)?,
                capture_method: get(r, 3)?,
                cancellation_reason: get(r, 4)?,
                held: get(r, 5)?,
                count: get(r, 6)?,
                authorized: get(r, 7)?,
                captured: get(r, 8)?,
                released: get(r, 9)?,
                refund_amount: get(r, 10)?,
            });
        }
        Ok(fold_daily(groups))
    }

    pub(crate) async fn endpoint_deliveries(
        client: &impl GenericClient,
        scope: &Scope,
        endpoint_id: &str,
        limit: u32,
    ) -> StoreResult<Vec<EndpointDelivery>> {
        let rows = query(
            client,
            "SELECT d.seq, d.event_id, d.status, d.attempts, d.next_attempt_at,
               a.attempt, a.attempted_at, a.status_code, a.latency_ms, a.error, a.next_attempt_at
             FROM (SELECT seq, event_id, status, attempts, next_attempt_at
                   FROM webhook_deliveries
                   WHERE endpoint_id = $1 AND merchant_id = $2 AND livemode = $3
                   ORDER BY seq DESC LIMIT $4) d
             LEFT JOIN webhook_attempts a ON a.delivery_seq = d.seq
             ORDER BY d.seq DESC, a.seq ASC",
            &[
                &endpoint_id,
                &scope.merchant_id,
                &scope.livemode,
                &i64::from(limit),
            ],
        )
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let attempt = match get::<Option<i64>>(r, 5)? {
                None => None,
                Some(n) => Some(crate::AttemptLog {
                    attempt: u32::try_from(n).unwrap_or(0),
                    attempted_at: Timestamp(get(r, 6)?),
                    status_code: get::<Option<i64>>(r, 7)?.and_then(|c| u16::try_from(c).ok()),
                    latency_ms: get(r, 8)?,
                    error: get(r, 9)?,
                    next_attempt_at: get::<Option<i64>>(r, 10)?.map(Timestamp),
                }),
            };
            out.push((
                get::<i64>(r, 0)?,
                get::<String>(r, 1)?,
                get::<String>(r, 2)?,
                u32::try_from(get::<i64>(r, 3)?).unwrap_or(0),
                get::<Option<i64>>(r, 4)?,
                attempt,
            ));
        }
        Ok(endpoint_log(out, endpoint_id))
    }
}
