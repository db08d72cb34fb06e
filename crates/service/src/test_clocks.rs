//! Test clocks: frozen time for test-mode intents, advanced on demand with all due work run.

use holdfast_domain::test_clock::{self, TestClock};
use holdfast_domain::{ErrorCode, Scope, Timestamp};
use holdfast_store::{Page, PageRequest, UnitOfWork};

use crate::ids::new_id;
use crate::{Decision, Holdfast, RequestCtx, ServiceError};

/// Due steps one advance performs at most; an advance over more work answers after this many
/// and can simply be repeated with the same target.
pub const ADVANCE_STEPS_MAX: usize = 10_000;

impl Holdfast {
    pub async fn create_test_clock(
        &self,
        ctx: &RequestCtx,
        frozen_time: Option<Timestamp>,
        name: Option<String>,
    ) -> Result<Decision<TestClock>, ServiceError> {
        let now = self.now();
        let clock = test_clock::create(
            new_id("clock"),
            ctx.scope.clone(),
            name,
            frozen_time.unwrap_or(now),
            now,
        )?;
        let unit = UnitOfWork {
            test_clocks: vec![clock.clone()],
            ..UnitOfWork::default()
        };
        Ok(Decision::answer(unit, clock))
    }

    pub async fn get_test_clock(&self, scope: &Scope, id: &str) -> Result<TestClock, ServiceError> {
        self.store
            .get_test_clock(scope, id, false)
            .await?
            .ok_or_else(|| ServiceError::not_found(ErrorCode::TestClockNotFound, "test clock"))
    }

    pub async fn list_test_clocks(
        &self,
        scope: &Scope,
        page: PageRequest,
    ) -> Result<Page<TestClock>, ServiceError> {
        Ok(self.store.list_test_clocks(scope, &page).await?)
    }

    /// Deletes a clock. Its intents keep the time it showed when deleted.
    pub async fn delete_test_clock(
        &self,
        scope: &Scope,
        id: &str,
    ) -> Result<TestClock, ServiceError> {
        let clock = self.get_test_clock(scope, id).await?;
        if !self.store.delete_test_clock(scope, id).await? {
            return Err(ServiceError::not_found(
                ErrorCode::TestClockNotFound,
                "test clock",
            ));
        }
        Ok(clock)
    }

    /// Moves a clock forward to `to`. Before answering, every expiry, warning and scheduled action
    /// due on the clock's intents up to `to` runs, in deadline order, with the clock set to each
    /// due moment in turn.
    pub async fn advance_test_clock(
        &self,
        ctx: &RequestCtx,
        id: &str,
        to: Timestamp,
    ) -> Result<Decision<TestClock>, ServiceError> {
        // One advance of a clock at a time here; across processes, clock writes only move it
        // forward (the store refuses to rewind it).
        let _serialized = self.stripe(id).lock().await;
        let mut clock = self.get_test_clock(&ctx.scope, id).await?;
        test_clock::check_advance(&clock, to)?;
        for _ in 0..ADVANCE_STEPS_MAX {
            let next = self.store.due_on_clock(&clock.id, to, 1).await?;
            let Some(intent) = next.into_iter().next() else {
                break;
            };
            let Some(step) = intent.next_due_at() else {
                break;
            };
            let step = step.max(clock.frozen_time);
            if step > clock.frozen_time {
                clock.frozen_time = step;
                self.save_clock(&clock).await?;
            }
            self.perform_due(&intent.scope, &intent.id, Some(step))
                .await?;
            if self
                .load_intent(&intent.scope, &intent.id)
                .await?
                .next_due_at()
                .is_some_and(|t| t <= step)
            {
                // Nothing could be done at this step (say, every commit lost a race): stop here
                // rather than spin; the advance can be repeated.
                return Err(ServiceError::Contended(format!(
                    "due work on {} could not be completed; retry the advance",
                    intent.id
                )));
            }
        }
        clock.frozen_time = to;
        // The clock's own write goes through the request's unit, with its idempotency record.
        let unit = UnitOfWork {
            test_clocks: vec![clock.clone()],
            ..UnitOfWork::default()
        };
        Ok(Decision::answer(unit, clock))
    }

    async fn save_clock(&self, clock: &TestClock) -> Result<(), ServiceError> {
        let unit = UnitOfWork {
            test_clocks: vec![clock.clone()],
            ..UnitOfWork::default()
        };
        Ok(self.store.commit(unit).await?)
    }
}
