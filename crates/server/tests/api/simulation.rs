//! The simulation (STYLE.md §2.10): seeded random sequences of commands against the real server
//! and store, every answer checked against a small reference model, and the merchant audited
//! through the API after every step.
//!
//! - **Driver.** One server per backend; each seed gets a fresh merchant, so seeds never see each
//!   other's objects. A splitmix64 generator seeded with the seed picks 4 to 12 steps, half of
//!   them the natural next move of an object still in play (so flows reach capture, refund,
//!   expiry and scheduled actions), the rest from the whole menu: create (manual or automatic,
//!   on the wall clock or a test clock, with a scheduled action at creation, with
//!   `auto_confirm`, or invalid), confirm with every sandbox token, 3D Secure authentication,
//!   capture (full, partial, exact, over, zero, negative, wrong currency), cancel, refund, set and
//!   clear a scheduled action, orders (create, edit, cancel, linked intents, pay with one card or
//!   split tender, capture and void through the order), test clocks (create, advance, backwards),
//!   wall-clock advances with and without a deadline-worker pass, retries of earlier requests with
//!   their key, and a key reused for another request.
//! - **Concurrency.** A request may be sent twice at once with the same `Idempotency-Key` (one
//!   effect: one answer is the model's, the other `IDEMPOTENCY_KEY_IN_USE` or a byte-identical
//!   replay), or twice at once without a key (the two answers are the model's for the command run
//!   twice in a row, in either order). A 5xx (the capture timeout card) is retried at once with
//!   the same key and must then do the work.
//! - **Model.** [`Model`] is written from the contract and the README, not from the domain code:
//!   for each command it predicts the status, the error `code` and `param`, and the money fields of
//!   the answer, and it keeps the events and actions each intent must have.
//! - **Audit.** After every step, through the API: every intent, order and event of the merchant
//!   equals the model; `captured + released + capturable = authorized`; `refunded <= captured`; a
//!   terminal intent never changes again; each hold is resolved (capture, void, expiry) at most
//!   once and the actions add up to the money fields; each event exists once.
//!
//! The code has three rooms: [`model`] (the reference model), [`generate`] (the seeded generator
//! and the choice of steps) and [`drive`] (sending, checking, auditing and reporting).
//!
//! `HOLDFAST_SIM_SEEDS` (default 2,000 per backend) sets how many seeds run, from
//! `HOLDFAST_SIM_FIRST_SEED` (default 1); `HOLDFAST_SIM_SEED=N` replays one seed. A failure prints
//! its seed, step, command, what was expected and what came back, the steps so far, and the
//! command that replays it; `HOLDFAST_SIM_TRACE=1` prints every seed's steps. A replay repeats the
//! same commands; the interleaving of concurrent twins is up to the scheduler.

mod drive;
mod generate;
mod model;

use std::fmt::Write as _;

use self::drive::{Stats, run_seed};
use crate::helpers::TestApp;

/// A sandbox hold lasts seven days less one second (README, "Test cards").
const HOLD_SECONDS: i64 = 7 * 86_400 - 1;
/// `payment_intent.authorization_expiring` fires this long before the deadline (the default lead).
const WARNING_LEAD_SECONDS: i64 = 86_400;
/// A worker's claim on a due intent (README: "a 60-second lease").
const LEASE_SECONDS: i64 = 60;
const SEEDS_DEFAULT: u64 = 2_000;
const STEPS_MIN: i64 = 4;
const STEPS_MAX: i64 = 12;
const INTENTS_MAX: usize = 10;
const ORDERS_MAX: usize = 3;
const CLOCKS_MAX: usize = 2;
const CURRENCIES: &[&str] = &["USD", "EUR", "JPY"];

crate::both_backends!(simulate);

async fn simulate(app: &TestApp) {
    let seeds = seeds();
    let started = std::time::Instant::now();
    let mut stats = Stats::default();
    for &seed in &seeds {
        if let Err(failure) = run_seed(app, seed, &mut stats).await {
            panic!("{}", failure.report(app.backend, seeds.len() == 1));
        }
    }
    let mut coverage = String::new();
    for (answer, count) in stats.answers.iter().chain(&stats.seen) {
        let _ = write!(coverage, "\n  {count:>7}  {answer}");
    }
    eprintln!(
        "simulation ({:?}): {} seeds, {} steps, {} requests, {:.1?}; answers:{coverage}",
        app.backend,
        seeds.len(),
        stats.steps,
        stats.requests,
        started.elapsed(),
    );
}

/// The seeds to run: `HOLDFAST_SIM_SEED` alone, or `HOLDFAST_SIM_SEEDS` of them.
fn seeds() -> Vec<u64> {
    let number = |name: &str| {
        std::env::var(name).ok().map(|v| {
            v.trim()
                .parse::<u64>()
                .unwrap_or_else(|_| panic!("{name} must be a number, not {v:?}"))
        })
    };
    if let Some(seed) = number("HOLDFAST_SIM_SEED") {
        return vec![seed];
    }
    let count = number("HOLDFAST_SIM_SEEDS").unwrap_or(SEEDS_DEFAULT);
    let first = number("HOLDFAST_SIM_FIRST_SEED").unwrap_or(1);
    (first..first.saturating_add(count)).collect()
}
