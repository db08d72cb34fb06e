//! Sign-in attempt limits, per peer address and per account.
//!
//! Failed sign-ins are counted in a fixed window for the address they came from and for the email
//! they named, whether or not that email belongs to a user: the limit must not tell which emails
//! exist. Once either count reaches its limit, sign-ins from that address (or for that email) are
//! refused until the window ends, before any password is checked. A successful sign-in clears its
//! account's count (not its address's).
//!
//! Like the API's rate limits, the counts live in memory, per process: N nodes allow N times the
//! attempts. Keys are a SHA-256 of the email, never the email, and at most
//! [`TRACKED_KEYS_MAX`] of each kind are kept. Windows follow the monotonic clock.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use holdfast_service::ids::sha256_hex;

/// The most addresses (and, separately, accounts) whose counts are kept.
pub const TRACKED_KEYS_MAX: usize = 10_000;

/// How many failed sign-ins are allowed, and over how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    /// Failures from one address per window; `0` turns the limit off.
    pub per_address: u32,
    /// Failures for one email per window; `0` turns the limit off.
    pub per_account: u32,
    pub window: Duration,
}

impl LoginLimits {
    pub const DEFAULT: LoginLimits = LoginLimits {
        per_address: 20,
        per_account: 5,
        window: Duration::from_secs(15 * 60),
    };
}

impl Default for LoginLimits {
    fn default() -> LoginLimits {
        LoginLimits::DEFAULT
    }
}

/// One sign-in attempt: where it came from and which account it named.
#[derive(Debug, Clone)]
pub(crate) struct Attempt {
    address: Option<IpAddr>,
    account: String,
}

impl Attempt {
    pub(crate) fn new(address: Option<IpAddr>, email: &str) -> Attempt {
        Attempt {
            address,
            account: sha256_hex(email.trim().to_lowercase().as_bytes()),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

#[derive(Debug, Default)]
struct Counts {
    addresses: HashMap<IpAddr, Window>,
    accounts: HashMap<String, Window>,
}

#[derive(Debug)]
pub(crate) struct LoginLimiter {
    limits: LoginLimits,
    counts: Mutex<Counts>,
}

impl LoginLimiter {
    pub(crate) fn new(limits: LoginLimits) -> LoginLimiter {
        LoginLimiter {
            limits,
            counts: Mutex::new(Counts::default()),
        }
    }

    /// `Err(wait)` when this attempt must be refused without checking the password.
    pub(crate) fn check(&self, attempt: &Attempt) -> Result<(), Duration> {
        let now = Instant::now();
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let window = self.limits.window;
        let blocked = |w: Option<&Window>, limit: u32| {
            w.filter(|w| limit > 0 && w.failures >= limit)
                .and_then(|w| window.checked_sub(now.duration_since(w.started)))
        };
        let by_address = attempt
            .address
            .and_then(|a| blocked(counts.addresses.get(&a), self.limits.per_address));
        let by_account = blocked(
            counts.accounts.get(&attempt.account),
            self.limits.per_account,
        );
        match by_address.into_iter().chain(by_account).max() {
            Some(wait) if !wait.is_zero() => Err(wait),
            _ => Ok(()),
        }
    }

    pub(crate) fn failed(&self, attempt: &Attempt) {
        let now = Instant::now();
        let window = self.limits.window;
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(address) = attempt.address {
            bump(&mut counts.addresses, address, now, window);
        }
        bump(&mut counts.accounts, attempt.account.clone(), now, window);
    }

    pub(crate) fn succeeded(&self, attempt: &Attempt) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.accounts.remove(&attempt.account);
    }
}

fn bump<K: std::hash::Hash + Eq + Clone>(
    map: &mut HashMap<K, Window>,
    key: K,
    now: Instant,
    window: Duration,
) {
    if !map.contains_key(&key) && map.len() >= TRACKED_KEYS_MAX {
        map.retain(|_, w| now.duration_since(w.started) < window);
        if map.len() >= TRACKED_KEYS_MAX
            && let Some(oldest) = map
                .iter()
                .min_by_key(|(_, w)| w.started)
                .map(|(k, _)| k.clone())
        {
            map.remove(&oldest);
        }
    }
    let entry = map.entry(key).or_insert(Window {
        started: now,
        failures: 0,
    });
    if now.duration_since(entry.started) >= window {
        *entry = Window {
            started: now,
            failures: 0,
        };
    }
    entry.failures = entry.failures.saturating_add(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_address: u32, per_account: u32) -> LoginLimiter {
        LoginLimiter::new(LoginLimits {
            per_address,
            per_account,
            window: Duration::from_secs(60),
        })
    }

    #[test]
    fn an_account_is_paused_after_its_limit_whoever_asks() {
        let limiter = limiter(100, 3);
        let here = Some(IpAddr::from([10, 0, 0, 1]));
        let there = Some(IpAddr::from([10, 0, 0, 2]));
        for _ in 0..3 {
            assert!(
                limiter
                    .check(&Attempt::new(here, "ops@example.com"))
                    .is_ok()
            );
            limiter.failed(&Attempt::new(here, "ops@example.com"));
        }
        // The same account from elsewhere, spelt differently, is paused too.
        let wait = limiter
            .check(&Attempt::new(there, " OPS@example.com"))
            .unwrap_err();
        assert!(wait <= Duration::from_secs(60) && wait > Duration::from_secs(50));
        // Another account from the same address is not.
        assert!(
            limiter
                .check(&Attempt::new(here, "other@example.com"))
                .is_ok()
        );
    }

    #[test]
    fn an_address_is_paused_after_its_limit_whatever_it_names() {
        let limiter = limiter(2, 100);
        let here = Some(IpAddr::from([10, 0, 0, 1]));
        limiter.failed(&Attempt::new(here, "a@example.com"));
        limiter.failed(&Attempt::new(here, "b@example.com"));
        assert!(limiter.check(&Attempt::new(here, "c@example.com")).is_err());
        assert!(
            limiter
                .check(&Attempt::new(
                    Some(IpAddr::from([10, 0, 0, 9])),
                    "c@example.com"
                ))
                .is_ok()
        );
    }

    #[test]
    fn success_clears_the_account_and_zero_turns_a_limit_off() {
        let limiter = limiter(0, 2);
        let here = Some(IpAddr::from([10, 0, 0, 1]));
        let attempt = Attempt::new(here, "ops@example.com");
        limiter.failed(&attempt);
        limiter.succeeded(&attempt);
        limiter.failed(&attempt);
        assert!(limiter.check(&attempt).is_ok());
        for _ in 0..50 {
            limiter.failed(&Attempt::new(here, &format!("{}@example.com", 1)));
        }
        // The address limit is off: only that one account is paused.
        assert!(limiter.check(&attempt).is_ok());
    }
}
