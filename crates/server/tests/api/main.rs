//! Holdfast's API tests: one binary, a real server per test, real HTTP, both backends.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on an unexpected value; helper fns are not #[test] fns"
)]

mod helpers;

mod beyond;
mod cli;
mod concurrency;
mod crash;
mod dashboard;
mod deadlines;
mod foundation;
mod guard_rails;
mod idempotency;
mod intents;
mod multinode;
mod openapi;
mod orders;
mod refunds;
mod simulation;
mod test_clocks;
mod webhooks;
