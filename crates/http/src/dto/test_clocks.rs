//! `/v1/test-clocks`: frozen time for test-mode intents.

use holdfast_domain::test_clock::TestClock;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::common::rfc3339;
use crate::openapi::schemas;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"name": "month end"})))]
pub struct CreateTestClockBody {
    /// The clock's starting time; now when left out.
    #[schema(format = DateTime)]
    pub frozen_time: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(json!({"frozen_time": "2030-01-01T00:00:00Z"})))]
pub struct AdvanceTestClockBody {
    /// The new time: never earlier than the clock's.
    #[schema(format = DateTime)]
    pub frozen_time: String,
}

/// A frozen time that test-mode intents created with `test_clock` live on.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = TestClock)]
pub struct TestClockOut {
    /// `clock_…`
    pub test_clock_id: String,
    pub name: Option<String>,
    #[schema(format = DateTime)]
    pub frozen_time: String,
    #[schema(value_type = schemas::TestClockStatus)]
    pub status: &'static str,
    pub livemode: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<&TestClock> for TestClockOut {
    fn from(c: &TestClock) -> TestClockOut {
        TestClockOut {
            test_clock_id: c.id.clone(),
            name: c.name.clone(),
            frozen_time: rfc3339(c.frozen_time),
            status: "ready",
            livemode: c.scope.livemode,
            created_at: rfc3339(c.created_at),
        }
    }
}

/// A deleted object's id.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeletedTestClockOut {
    pub test_clock_id: String,
    /// Always `true`.
    pub deleted: bool,
}
