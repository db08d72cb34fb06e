//! Webhook endpoints and the rules of delivery: which events go where, what an answer means, and
//! when to try again.
//!
//! Delivery is at least once: an event is retried until an endpoint answers 2xx, on the schedule
//! [`RETRY_SCHEDULE_SECONDS`] (± 10 % jitter), then given up as failed. A `410 Gone` disables the
//! endpoint; `Retry-After` on a 429 or 503 sets the next attempt.

use serde::{Deserialize, Serialize};

use crate::error::{ErrorCode, Rejection};
use crate::event_type::EventType;
use crate::{Scope, Timestamp};

/// Seconds from a failed attempt to the next: attempt 1 is immediate, then 5 s, 5 min, 30 min,
/// 2 h, 5 h, 10 h, 14 h, 20 h, 24 h. After the last, the delivery is failed.
pub const RETRY_SCHEDULE_SECONDS: &[i64] = &[
    5,
    5 * 60,
    30 * 60,
    2 * 3600,
    5 * 3600,
    10 * 3600,
    14 * 3600,
    20 * 3600,
    24 * 3600,
];
/// How long a rotated-out secret keeps signing beside the new one.
pub const SECRET_OVERLAP_SECONDS: i64 = 24 * 3600;
/// The longest `Retry-After` honoured.
pub const RETRY_AFTER_MAX_SECONDS: i64 = 24 * 3600;
pub const URL_CHARS_MAX: usize = 2048;

/// A signing secret, sealed by the service (the domain never sees it in clear).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedSecret {
    pub sealed: String,
    pub created_at: Timestamp,
    /// Set when the secret was rotated out: it keeps signing until then.
    pub expires_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    pub id: String,
    pub scope: Scope,
    pub url: String,
    /// Event type names, or `*` for every event.
    pub enabled_events: Vec<String>,
    pub description: Option<String>,
    pub disabled: bool,
    pub secrets: Vec<SealedSecret>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl WebhookEndpoint {
    pub fn wants(&self, kind: EventType) -> bool {
        self.enabled_events
            .iter()
            .any(|e| e == "*" || e == kind.as_str())
    }

    /// The secrets that sign at `now`: the current one and any rotated out less than a day ago.
    pub fn signing_secrets(&self, now: Timestamp) -> impl Iterator<Item = &SealedSecret> {
        self.secrets
            .iter()
            .filter(move |s| s.expires_at.is_none_or(|t| t > now))
    }
}

/// Checks a URL: `https`, or in test mode also `http` (loopback included).
pub fn check_url(url: &str, livemode: bool) -> Result<(), Rejection> {
    let invalid = |message: &str| Rejection::param(ErrorCode::InvalidParameter, "url", message);
    if url.len() > URL_CHARS_MAX || url.chars().any(char::is_whitespace) {
        return Err(invalid(
            "url must be an absolute http(s) URL without spaces",
        ));
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(invalid("url must be an absolute http(s) URL"));
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() {
        return Err(invalid("url needs a host"));
    }
    match (scheme, livemode) {
        ("https", _) | ("http", false) => Ok(()),
        ("http", true) => Err(invalid("live-mode endpoints must use https")),
        _ => Err(invalid("url must use http or https")),
    }
}

/// Longest endpoint `description` accepted.
pub const DESCRIPTION_CHARS_MAX: usize = 500;

/// Checks an endpoint's `description`.
pub fn check_description(description: Option<&str>) -> Result<(), Rejection> {
    if description.is_some_and(|d| d.chars().count() > DESCRIPTION_CHARS_MAX) {
        return Err(Rejection::param(
            ErrorCode::InvalidParameter,
            "description",
            format!("description is at most {DESCRIPTION_CHARS_MAX} characters"),
        ));
    }
    Ok(())
}

/// Checks `enabled_events`: known event types, or `*`.
pub fn check_enabled_events(events: &[String]) -> Result<(), Rejection> {
    if events.is_empty() {
        return Err(Rejection::param(
            ErrorCode::InvalidParameter,
            "enabled_events",
            "enabled_events names at least one event type, or [\"*\"]",
        ));
    }
    for (i, name) in events.iter().enumerate() {
        if name != "*" && EventType::parse(name).is_none() {
            return Err(Rejection::param(
                ErrorCode::InvalidEventType,
                &format!("enabled_events[{i}]"),
                format!("{name:?} is not an event type"),
            ));
        }
    }
    Ok(())
}

/// What an endpoint's answer means for the delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptResult {
    /// 2xx.
    Delivered,
    /// `410 Gone`: the endpoint does not want events any more.
    Gone,
    /// Anything else, a timeout or a refused connection; with the `Retry-After` a 429 or 503 gave.
    Failed { retry_after_seconds: Option<i64> },
}

/// Classifies an HTTP status (`None`: no answer at all).
pub fn classify(status: Option<u16>, retry_after_seconds: Option<i64>) -> AttemptResult {
    match status {
        Some(200..=299) => AttemptResult::Delivered,
        Some(410) => AttemptResult::Gone,
        Some(429 | 503) => AttemptResult::Failed {
            retry_after_seconds,
        },
        _ => AttemptResult::Failed {
            retry_after_seconds: None,
        },
    }
}

/// When to try again after the `attempts`-th failed attempt (1-based), or `None` when the
/// delivery has failed for good. `jitter` in [-1, 1] scales ± 10 % of the wait; `schedule` is
/// [`RETRY_SCHEDULE_SECONDS`] unless configured otherwise.
pub fn next_attempt_at(
    attempts: u32,
    now: Timestamp,
    jitter: f64,
    retry_after_seconds: Option<i64>,
    schedule: &[i64],
) -> Option<Timestamp> {
    let index = usize::try_from(attempts).ok()?.checked_sub(1)?;
    let wait = *schedule.get(index)?;
    let wait = match retry_after_seconds {
        Some(seconds) => seconds.clamp(0, RETRY_AFTER_MAX_SECONDS),
        None => {
            let spread = (wait as f64 * 0.1 * jitter.clamp(-1.0, 1.0)).round() as i64;
            (wait + spread).max(0)
        }
    };
    Some(now.plus_seconds(wait))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_has_ten_attempts_then_fails() {
        let now = Timestamp(1_000);
        let waits: Vec<i64> = (1..=9)
            .map(|n| {
                next_attempt_at(n, now, 0.0, None, RETRY_SCHEDULE_SECONDS)
                    .unwrap()
                    .0
                    - 1_000
            })
            .collect();
        assert_eq!(waits, RETRY_SCHEDULE_SECONDS);
        assert_eq!(
            next_attempt_at(10, now, 0.0, None, RETRY_SCHEDULE_SECONDS),
            None
        );
        assert_eq!(
            next_attempt_at(0, now, 0.0, None, RETRY_SCHEDULE_SECONDS),
            None
        );
    }

    #[test]
    fn jitter_stays_within_ten_percent_and_retry_after_wins() {
        let now = Timestamp(0);
        let at = |j| {
            next_attempt_at(2, now, j, None, RETRY_SCHEDULE_SECONDS)
                .unwrap()
                .0
        };
        assert_eq!((at(-1.0), at(0.0), at(1.0)), (270, 300, 330));
        assert_eq!(at(7.0), 330, "jitter is clamped");
        let after = next_attempt_at(2, now, 1.0, Some(42), RETRY_SCHEDULE_SECONDS);
        assert_eq!(after, Some(Timestamp(42)));
        let capped = next_attempt_at(2, now, 0.0, Some(10 * 86_400), RETRY_SCHEDULE_SECONDS);
        assert_eq!(capped, Some(Timestamp(RETRY_AFTER_MAX_SECONDS)));
    }

    #[test]
    fn answers_are_classified() {
        assert_eq!(classify(Some(204), None), AttemptResult::Delivered);
        assert_eq!(classify(Some(410), None), AttemptResult::Gone);
        assert_eq!(
            classify(Some(503), Some(7)),
            AttemptResult::Failed {
                retry_after_seconds: Some(7)
            }
        );
        assert_eq!(
            classify(Some(500), Some(7)),
            AttemptResult::Failed {
                retry_after_seconds: None
            }
        );
        assert_eq!(
            classify(None, None),
            AttemptResult::Failed {
                retry_after_seconds: None
            }
        );
    }

    #[test]
    fn urls_and_event_types_are_checked() {
        assert!(check_url("https://example.com/hooks", true).is_ok());
        assert!(check_url("http://127.0.0.1:9000/hooks", false).is_ok());
        assert_eq!(
            check_url("http://example.com", true).map_err(|r| r.code),
            Err(ErrorCode::InvalidParameter)
        );
        assert!(check_url("ftp://example.com", false).is_err());
        assert!(check_url("https:///nohost", false).is_err());
        assert!(check_enabled_events(&["*".into()]).is_ok());
        assert!(check_enabled_events(&["payment_intent.succeeded".into()]).is_ok());
        let bad = check_enabled_events(&["payment_intent.succeeded".into(), "nope".into()]);
        assert_eq!(
            bad.map_err(|r| (r.code, r.param)),
            Err((
                ErrorCode::InvalidEventType,
                Some("enabled_events[1]".into())
            ))
        );
    }
}
