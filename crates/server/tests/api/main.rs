//! Holdfast's API tests: one binary, a real server per test, real HTTP, both backends.

mod helpers;

mod cli;
mod concurrency;
mod foundation;
mod idempotency;
mod intents;
