//! Guard rails in front of the handlers: a cap on requests in flight, per-credential rate limits,
//! and a deadline for each request. Each refuses with the error envelope before a handler runs.
//!
//! - **Shedding.** At most `concurrent_requests_max` requests run at once. One more is refused at
//!   once with 503 `OVERLOADED` and `Retry-After: 1` rather than queued: a queue without a bound
//!   only turns overload into timeouts and memory.
//! - **Rate limits.** Every credential (a secret API key, or a client secret) has a token bucket
//!   of `burst` tokens refilled at `per_second`. A request takes a token or is refused with 429
//!   `RATE_LIMITED`, `Retry-After` and the `RateLimit-*` headers. The capture routes also take a
//!   token from a second, tighter bucket, because every capture calls the card processor.
//! - **Timeout.** A request still running after `request_timeout` is stopped and answered 503
//!   `REQUEST_TIMEOUT`. Stopping drops the handler at its next await, exactly as a client that
//!   hangs up does. What it had committed stays committed, so a retry with the same
//!   `Idempotency-Key` replays the answer or does what was left.
//!
//! All of it is per process. The buckets live in memory, so N nodes behind a load balancer let a
//! key make N times the rate. The bucket map holds SHA-256 digests of credentials, never the
//! credentials, and at most [`TRACKED_CREDENTIALS_MAX`] of them. Refills are timed with the
//! monotonic [`Instant`], never the wall clock, so a clock step can neither refill nor drain a
//! bucket. The health routes are not behind any of this (see [`crate::router`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{AUTHORIZATION, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use holdfast_domain::ErrorCode;
use sha2::{Digest as _, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;

/// The guard rails of one router. A `0` turns that limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Every route but the health checks, per credential.
    pub rate: Rate,
    /// The two capture routes, per credential, on top of `rate`.
    pub capture_rate: Rate,
    /// Requests this process serves at once.
    pub concurrent_requests_max: u32,
    /// How long one request may run; [`Duration::ZERO`] turns the timeout off.
    pub request_timeout: Duration,
}

/// A token bucket: `burst` tokens, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Tokens added per second. `0` turns the limit off.
    pub per_second: u32,
    /// The bucket's size: how many requests may come at once after a quiet spell.
    pub burst: u32,
}

impl Rate {
    pub const OFF: Rate = Rate {
        per_second: 0,
        burst: 0,
    };

    /// A bucket with no room would refuse everything, so a `0` on either side means no limit.
    /// `holdfast serve` refuses a zero burst beside a non-zero rate at start-up.
    pub const fn is_off(self) -> bool {
        self.per_second == 0 || self.burst == 0
    }
}

impl Limits {
    /// What `holdfast serve` uses unless told otherwise.
    pub const DEFAULT: Limits = Limits {
        rate: Rate {
            per_second: 1_000,
            burst: 2_000,
        },
        capture_rate: Rate {
            per_second: 100,
            burst: 200,
        },
        concurrent_requests_max: 1_024,
        request_timeout: Duration::from_secs(30),
    };

    /// No guard rails at all.
    pub const OFF: Limits = Limits {
        rate: Rate::OFF,
        capture_rate: Rate::OFF,
        concurrent_requests_max: 0,
        request_timeout: Duration::ZERO,
    };
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::DEFAULT
    }
}

/// The most credentials whose buckets are kept at once. A bucket that has refilled completely is
/// forgotten first, which changes nothing (see `Buckets::make_room`). At about 100 bytes a
/// credential, the cap is about a MiB.
pub const TRACKED_CREDENTIALS_MAX: usize = 10_000;

/// The routes that also take a token from the capture bucket, as the route table spells them:
/// the API's and the dashboard's.
const CAPTURE_ROUTES: [&str; 4] = [
    "/v1/payment-intents/{id}/capture",
    "/v1/orders/{id}/payment-intents/{pid}/capture",
    "/dashboard/{mode}/payment-intents/{id}/capture",
    "/dashboard/{mode}/orders/{id}/payment-intents/{pid}/capture",
];

/// The dashboard's session cookies (plain and `__Host-`): a signed-in browser's credential.
const SESSION_COOKIES: [&str; 2] = ["holdfast_session", "__Host-holdfast_session"];

/// The guard rails' state, shared by every request one router serves.
#[derive(Debug)]
pub(crate) struct Guard {
    limits: Limits,
    buckets: Mutex<Buckets>,
    in_flight: Option<Arc<Semaphore>>,
}

impl Guard {
    pub(crate) fn new(limits: Limits) -> Guard {
        let permits = usize::try_from(limits.concurrent_requests_max)
            .unwrap_or(Semaphore::MAX_PERMITS)
            .min(Semaphore::MAX_PERMITS);
        Guard {
            limits,
            buckets: Mutex::new(Buckets::new(limits, TRACKED_CREDENTIALS_MAX)),
            in_flight: (permits > 0).then(|| Arc::new(Semaphore::new(permits))),
        }
    }

    /// A place among the requests in flight, or `Err` when every place is taken. The place is
    /// held until the answer is ready.
    fn admit(&self) -> Result<Option<OwnedSemaphorePermit>, Refusal> {
        match &self.in_flight {
            None => Ok(None),
            Some(places) => Arc::clone(places)
                .try_acquire_owned()
                .map(Some)
                .map_err(|_| Refusal::Overloaded),
        }
    }

    /// Takes this request's tokens: `Ok` with what the `RateLimit-*` headers should say (nothing
    /// when no limit applies), or the refusal.
    fn take(&self, request: &Request, now: Instant) -> Result<Option<Quota>, Refusal> {
        let capture = is_capture(request);
        let capture_limited = capture && !self.limits.capture_rate.is_off();
        if self.limits.rate.is_off() && !capture_limited {
            return Ok(None);
        }
        let Some(credential) = credential(request.headers()) else {
            // No credential, no bucket: the handler answers 401 without any work.
            return Ok(None);
        };
        // Nothing below can panic while holding the lock, so a poisoned map is still consistent.
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        buckets
            .take(credential, capture, now)
            .map_err(Refusal::RateLimited)
    }

    /// Runs the rest of the request under the timeout, if there is one.
    async fn run(&self, request: Request, next: Next) -> Response {
        let timeout = self.limits.request_timeout;
        if timeout.is_zero() {
            return next.run(request).await;
        }
        match tokio::time::timeout(timeout, next.run(request)).await {
            Ok(response) => response,
            Err(_) => ApiError {
                internal: Some(format!("the request was stopped after {timeout:?}")),
                ..ApiError::new(
                    ErrorCode::RequestTimeout,
                    format!(
                        "the request took longer than {timeout:?} and was stopped; retry with the same Idempotency-Key"
                    ),
                )
            }
            .into_response(),
        }
    }
}

/// The guard rails, in order: shed, rate-limit, then run under the timeout.
pub(crate) async fn middleware(
    State(guard): State<Arc<Guard>>,
    request: Request,
    next: Next,
) -> Response {
    // Shedding comes first, so that an overloaded process does the least work per refusal.
    let _place = match guard.admit() {
        Ok(place) => place,
        Err(refusal) => return refusal.into_response(),
    };
    let quota = match guard.take(&request, Instant::now()) {
        Ok(quota) => quota,
        Err(refusal) => return refusal.into_response(),
    };
    let mut response = guard.run(request, next).await;
    if let Some(quota) = quota {
        quota.write(response.headers_mut());
    }
    response
}

fn is_capture(request: &Request) -> bool {
    request.method() == Method::POST
        && request
            .extensions()
            .get::<MatchedPath>()
            .is_some_and(|path| CAPTURE_ROUTES.contains(&path.as_str()))
}

/// A credential's name in the bucket map: the SHA-256 of the whole bearer credential.
type Credential = [u8; 32];

/// Digests the request's bearer credential, parsed as the `Auth` extractor parses it, or failing
/// one the dashboard's session cookie. The whole credential is digested rather than its display
/// prefix: prefixes appear in logs and dashboards, and whoever saw one could otherwise drain that
/// key's bucket.
fn credential(headers: &HeaderMap) -> Option<Credential> {
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|v| !v.is_empty());
    let secret = bearer.or_else(|| session_cookie(headers))?;
    Some(Sha256::digest(secret.as_bytes()).into())
}

/// A dashboard session cookie's value: the dashboard's pages are limited per session as the
/// API is per key.
fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| SESSION_COOKIES.contains(name) && !value.is_empty())
        .map(|(_, value)| value)
}

/// Why the guard rails turned a request away.
#[derive(Debug)]
enum Refusal {
    /// Every place among the requests in flight was taken.
    Overloaded,
    /// The credential's bucket (this one) was empty.
    RateLimited(Quota),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            // `Retry-After: 1` comes with the code (`ApiError::reply`).
            Refusal::Overloaded => ApiError::new(
                ErrorCode::Overloaded,
                "the server is handling as many requests as it can; retry shortly",
            )
            .into_response(),
            Refusal::RateLimited(quota) => {
                let what = if quota.capture {
                    "captures"
                } else {
                    "requests"
                };
                let mut response = ApiError::new(
                    ErrorCode::RateLimited,
                    format!(
                        "too many {what} with this credential: {} a second, in bursts of up to {}; retry in {} s",
                        quota.per_second, quota.limit, quota.retry_after_seconds
                    ),
                )
                .into_response();
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from(quota.retry_after_seconds));
                quota.write(response.headers_mut());
                response
            }
        }
    }
}

/// One bucket as the `RateLimit-*` headers describe it, right after this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Quota {
    /// `RateLimit-Limit`: the bucket's size.
    limit: u32,
    /// `RateLimit-Remaining`: whole tokens left.
    remaining: u32,
    /// `RateLimit-Reset`: seconds until the bucket is full again.
    reset_seconds: u64,
    /// `Retry-After` when refused: seconds until the next whole token, at least 1.
    retry_after_seconds: u64,
    per_second: u32,
    capture: bool,
}

impl Quota {
    fn write(&self, headers: &mut HeaderMap) {
        const LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
        const REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
        const RESET: HeaderName = HeaderName::from_static("ratelimit-reset");
        headers.insert(LIMIT, HeaderValue::from(self.limit));
        headers.insert(REMAINING, HeaderValue::from(self.remaining));
        headers.insert(RESET, HeaderValue::from(self.reset_seconds));
    }
}

/// Every tracked credential's buckets, with a cap on how many are kept.
#[derive(Debug)]
struct Buckets {
    rate: Rate,
    capture_rate: Rate,
    entries: HashMap<Credential, Entry>,
    capacity: usize,
}

/// One credential's two buckets. The capture bucket stays full unless captures are made.
#[derive(Debug, Clone, Copy)]
struct Entry {
    general: Bucket,
    capture: Bucket,
    seen: Instant,
}

/// A token bucket kept as the instant it will be full again if nothing is taken (the "virtual
/// scheduling" form of the same algorithm, GCRA). Taking a token moves that instant one refill
/// interval later. Every step is whole nanoseconds on a monotonic clock, so no rounding drifts
/// however many requests come.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    full_at: Instant,
}

impl Rate {
    /// The time one token takes to drip in.
    fn interval(self) -> Duration {
        Duration::from_nanos((1_000_000_000 / u64::from(self.per_second.max(1))).max(1))
    }
}

/// Whole seconds, rounded up.
fn ceil_seconds(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

impl Bucket {
    fn full(now: Instant) -> Bucket {
        Bucket { full_at: now }
    }

    fn is_full_at(&self, now: Instant) -> bool {
        self.full_at <= now
    }

    /// Takes one token: `Ok` with the bucket after it and what the headers say, or `Err` with
    /// what the refusal says. The bucket itself is left alone, so two buckets can be checked
    /// before either is charged.
    fn check(&self, rate: Rate, capture: bool, now: Instant) -> Result<(Bucket, Quota), Quota> {
        let interval = rate.interval();
        let size = interval * rate.burst;
        // How much of the bucket is empty now, in time; a request that read the clock before
        // another one charged the bucket sees a larger deficit, never a refill from the past.
        let deficit = self.full_at.saturating_duration_since(now);
        let after = deficit + interval;
        let quota = |remaining: u32, reset: Duration, wait: Duration| Quota {
            limit: rate.burst,
            remaining,
            reset_seconds: ceil_seconds(reset),
            retry_after_seconds: ceil_seconds(wait).max(1),
            per_second: rate.per_second,
            capture,
        };
        if after > size {
            return Err(quota(0, deficit, after - size));
        }
        let whole_tokens_left = (size - after).as_nanos() / interval.as_nanos();
        let remaining = u32::try_from(whole_tokens_left).unwrap_or(u32::MAX);
        Ok((
            Bucket {
                full_at: now + after,
            },
            quota(remaining, after, Duration::ZERO),
        ))
    }
}

impl Buckets {
    fn new(limits: Limits, capacity: usize) -> Buckets {
        Buckets {
            rate: limits.rate,
            capture_rate: limits.capture_rate,
            entries: HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    /// Takes a token from each bucket that applies, or from none if any of them is empty. `Ok`
    /// describes the bucket closest to empty (the capture bucket on a tie), `Err` the bucket that
    /// refused (the one that frees up last, if both did).
    fn take(
        &mut self,
        credential: Credential,
        capture: bool,
        now: Instant,
    ) -> Result<Option<Quota>, Quota> {
        let (rate, capture_rate) = (self.rate, self.capture_rate);
        let entry = self.entry(credential, now);
        entry.seen = entry.seen.max(now);
        let capture_check = (capture && !capture_rate.is_off())
            .then(|| entry.capture.check(capture_rate, true, now));
        let general_check = (!rate.is_off()).then(|| entry.general.check(rate, false, now));
        let refused = [&capture_check, &general_check]
            .into_iter()
            .filter_map(|check| check.as_ref()?.as_ref().err().copied())
            .max_by_key(|quota| quota.retry_after_seconds);
        if let Some(quota) = refused {
            return Err(quota);
        }
        let mut shown: Option<Quota> = None;
        if let Some(Ok((bucket, quota))) = capture_check {
            entry.capture = bucket;
            shown = Some(quota);
        }
        if let Some(Ok((bucket, quota))) = general_check {
            entry.general = bucket;
            if shown.is_none_or(|capture| quota.remaining < capture.remaining) {
                shown = Some(quota);
            }
        }
        Ok(shown)
    }

    fn entry(&mut self, credential: Credential, now: Instant) -> &mut Entry {
        if !self.entries.contains_key(&credential) && self.entries.len() >= self.capacity {
            self.make_room(now);
        }
        self.entries.entry(credential).or_insert(Entry {
            general: Bucket::full(now),
            capture: Bucket::full(now),
            seen: now,
        })
    }

    /// Forgets every credential whose buckets have refilled completely: a full bucket is what a
    /// new credential starts with, so forgetting one changes nothing. If every bucket is still
    /// refilling, forgets the credential seen longest ago, which then starts again with a full
    /// bucket. That leniency needs more than the cap's worth of credentials all busy within one
    /// refill time (two seconds by default), which the cap's size makes rare.
    fn make_room(&mut self, now: Instant) {
        self.entries
            .retain(|_, entry| !(entry.general.is_full_at(now) && entry.capture.is_full_at(now)));
        if self.entries.len() >= self.capacity
            && let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, entry)| entry.seen)
                .map(|(credential, _)| *credential)
        {
            self.entries.remove(&oldest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: Rate = Rate {
        per_second: 2,
        burst: 4,
    };
    const CAPTURE: Rate = Rate {
        per_second: 1,
        burst: 2,
    };

    fn buckets(capacity: usize) -> Buckets {
        Buckets::new(
            Limits {
                rate: RATE,
                capture_rate: CAPTURE,
                ..Limits::OFF
            },
            capacity,
        )
    }

    fn key(n: u8) -> Credential {
        [n; 32]
    }

    fn ms(start: Instant, millis: u64) -> Instant {
        start + Duration::from_millis(millis)
    }

    #[test]
    fn a_burst_then_refusal_then_refill() {
        let t0 = Instant::now();
        let mut b = buckets(10);
        let remaining: Vec<u32> = (0..4)
            .map(|_| b.take(key(1), false, t0).unwrap().unwrap().remaining)
            .collect();
        assert_eq!(remaining, [3, 2, 1, 0]);
        let refused = b.take(key(1), false, t0).unwrap_err();
        assert_eq!(
            (refused.limit, refused.remaining, refused.reset_seconds),
            (4, 0, 2)
        );
        // One token comes back after half a second at two a second.
        assert_eq!(refused.retry_after_seconds, 1);
        assert!(b.take(key(1), false, ms(t0, 499)).is_err());
        let after = b.take(key(1), false, ms(t0, 500)).unwrap().unwrap();
        assert_eq!((after.remaining, after.reset_seconds), (0, 2));
        // Never more than the burst, however long the quiet.
        let later = b.take(key(1), false, ms(t0, 60_000)).unwrap().unwrap();
        assert_eq!((later.remaining, later.reset_seconds), (3, 1));
    }

    #[test]
    fn a_refusal_takes_nothing() {
        let t0 = Instant::now();
        let mut b = buckets(10);
        for _ in 0..4 {
            b.take(key(1), false, t0).unwrap();
        }
        for _ in 0..100 {
            assert!(b.take(key(1), false, t0).is_err());
        }
        assert!(b.take(key(1), false, ms(t0, 500)).is_ok());
    }

    #[test]
    fn a_slow_rate_asks_for_a_longer_wait() {
        let t0 = Instant::now();
        let mut b = Buckets::new(
            Limits {
                rate: Rate {
                    per_second: 1,
                    burst: 1,
                },
                ..Limits::OFF
            },
            10,
        );
        b.take(key(1), false, t0).unwrap();
        let refused = b.take(key(1), false, ms(t0, 100)).unwrap_err();
        assert_eq!(refused.retry_after_seconds, 1);
        assert_eq!(refused.reset_seconds, 1);
    }

    #[test]
    fn captures_take_from_both_buckets_and_show_the_tighter() {
        let t0 = Instant::now();
        let mut b = buckets(10);
        let first = b.take(key(1), true, t0).unwrap().unwrap();
        assert!(first.capture);
        assert_eq!((first.limit, first.remaining), (2, 1));
        b.take(key(1), true, t0).unwrap();
        let refused = b.take(key(1), true, t0).unwrap_err();
        assert!(refused.capture);
        assert_eq!((refused.limit, refused.retry_after_seconds), (2, 1));
        // Other routes still have the general bucket: four, less the two captures.
        let other = b.take(key(1), false, t0).unwrap().unwrap();
        assert!(!other.capture);
        assert_eq!((other.limit, other.remaining), (4, 1));
    }

    #[test]
    fn an_empty_general_bucket_refuses_captures_too_and_charges_neither() {
        let t0 = Instant::now();
        let mut b = Buckets::new(
            Limits {
                rate: Rate {
                    per_second: 1,
                    burst: 4,
                },
                capture_rate: Rate {
                    per_second: 2,
                    burst: 1,
                },
                ..Limits::OFF
            },
            10,
        );
        b.take(key(1), true, t0).unwrap();
        assert!(b.take(key(1), true, t0).unwrap_err().capture);
        for _ in 0..3 {
            b.take(key(1), false, t0).unwrap();
        }
        // At 600 ms the capture bucket has its token back, but the general one is still empty.
        let refused = b.take(key(1), true, ms(t0, 600)).unwrap_err();
        assert!(!refused.capture, "{refused:?}");
        // The capture bucket was not charged for the refused request.
        let entry = b.entries[&key(1)];
        assert!(entry.capture.is_full_at(ms(t0, 600)));
    }

    #[test]
    fn an_off_limit_takes_nothing_and_shows_nothing() {
        let t0 = Instant::now();
        let mut general_only = Buckets::new(
            Limits {
                rate: RATE,
                ..Limits::OFF
            },
            10,
        );
        for _ in 0..4 {
            let quota = general_only.take(key(1), true, t0).unwrap().unwrap();
            assert!(!quota.capture);
        }
        assert!(general_only.take(key(1), true, t0).is_err());

        let mut capture_only = Buckets::new(
            Limits {
                capture_rate: CAPTURE,
                ..Limits::OFF
            },
            10,
        );
        for _ in 0..100 {
            assert_eq!(capture_only.take(key(1), false, t0), Ok(None));
        }
        assert!(capture_only.take(key(1), true, t0).is_ok());
        assert!(capture_only.take(key(1), true, t0).is_ok());
        assert!(capture_only.take(key(1), true, t0).is_err());
    }

    #[test]
    fn credentials_are_independent() {
        let t0 = Instant::now();
        let mut b = buckets(10);
        for _ in 0..4 {
            b.take(key(1), false, t0).unwrap();
        }
        assert!(b.take(key(1), false, t0).is_err());
        assert_eq!(
            b.take(key(2), false, t0).unwrap().unwrap().remaining,
            3,
            "another credential starts full"
        );
    }

    #[test]
    fn full_buckets_are_forgotten_first_and_the_map_stays_bounded() {
        let t0 = Instant::now();
        let mut b = buckets(2);
        b.take(key(1), false, t0).unwrap();
        b.take(key(2), false, ms(t0, 200)).unwrap();
        // A token takes 500 ms: credential 1 is full again at 600 ms, 2 is not.
        b.take(key(3), false, ms(t0, 600)).unwrap();
        assert_eq!(b.entries.len(), 2);
        assert!(!b.entries.contains_key(&key(1)));
        assert!(b.entries.contains_key(&key(2)));
        // Nothing is full at 650 ms: the credential seen longest ago (3, at 600 ms) goes.
        b.take(key(2), false, ms(t0, 610)).unwrap();
        b.take(key(4), false, ms(t0, 650)).unwrap();
        assert_eq!(b.entries.len(), 2);
        assert!(b.entries.contains_key(&key(2)));
        assert!(!b.entries.contains_key(&key(3)));
        for n in 10..200 {
            b.take(key(n), false, ms(t0, 700)).unwrap();
            assert!(b.entries.len() <= 2);
        }
    }

    #[test]
    fn an_earlier_instant_neither_refills_nor_rewinds() {
        let t0 = Instant::now();
        let mut b = buckets(10);
        for _ in 0..4 {
            b.take(key(1), false, ms(t0, 1_000)).unwrap();
        }
        // A request that read the clock before the others did gets no tokens from the past.
        assert!(b.take(key(1), false, t0).is_err());
        assert!(b.take(key(1), false, ms(t0, 1_499)).is_err());
        assert!(b.take(key(1), false, ms(t0, 1_500)).is_ok());
    }

    #[test]
    fn credentials_are_digests_of_the_bearer() {
        let mut headers = HeaderMap::new();
        assert_eq!(credential(&headers), None);
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(credential(&headers), None);
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer   "));
        assert_eq!(credential(&headers), None);
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_static("Bearer sk_test_abc "),
        );
        let digest = credential(&headers).unwrap();
        assert_eq!(digest, <[u8; 32]>::from(Sha256::digest(b"sk_test_abc")));
    }

    #[test]
    fn a_dashboard_session_cookie_is_a_credential_when_there_is_no_bearer() {
        let mut headers = HeaderMap::new();
        headers.insert(
            axum::http::header::COOKIE,
            HeaderValue::from_static("theme=dark; xholdfast_session=no; holdfast_session="),
        );
        assert_eq!(credential(&headers), None);
        headers.insert(
            axum::http::header::COOKIE,
            HeaderValue::from_static("theme=dark; holdfast_session=tok123"),
        );
        let digest = credential(&headers).unwrap();
        assert_eq!(digest, <[u8; 32]>::from(Sha256::digest(b"tok123")));
        headers.insert(
            AUTHORIZATION,
            HeaderValue::from_static("Bearer sk_test_abc"),
        );
        let digest = credential(&headers).unwrap();
        assert_eq!(digest, <[u8; 32]>::from(Sha256::digest(b"sk_test_abc")));
    }
}
