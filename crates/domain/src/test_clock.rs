//! Test clocks: a frozen time that intents in test mode can live on, moved forward on demand.

use serde::{Deserialize, Serialize};

use crate::error::{ErrorCode, Rejection};
use crate::{Scope, Timestamp};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestClock {
    pub id: String,
    pub scope: Scope,
    pub name: Option<String>,
    pub frozen_time: Timestamp,
    pub created_at: Timestamp,
}

/// A new clock. Test clocks exist in test mode only.
pub fn create(
    id: String,
    scope: Scope,
    name: Option<String>,
    frozen_time: Timestamp,
    now: Timestamp,
) -> Result<TestClock, Rejection> {
    if scope.livemode {
        return Err(not_in_live_mode());
    }
    if name.as_ref().is_some_and(|n| n.chars().count() > 200) {
        return Err(Rejection::param(
            ErrorCode::InvalidParameter,
            "name",
            "name is at most 200 characters",
        ));
    }
    Ok(TestClock {
        id,
        scope,
        name,
        frozen_time,
        created_at: now,
    })
}

pub fn not_in_live_mode() -> Rejection {
    Rejection::param(
        ErrorCode::TestClockNotAllowedInLiveMode,
        "test_clock",
        "test clocks exist in test mode only",
    )
}

/// Checks a move of the clock: forward (or to the same time) only.
pub fn check_advance(clock: &TestClock, to: Timestamp) -> Result<(), Rejection> {
    if to < clock.frozen_time {
        return Err(Rejection::param(
            ErrorCode::TestClockCannotMoveBackwards,
            "frozen_time",
            "a test clock only moves forward",
        ));
    }
    Ok(())
}
