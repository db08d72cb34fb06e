//! Housekeeping that keeps storage bounded.

use holdfast_domain::time::SECONDS_PER_DAY;

use crate::{Holdfast, ServiceError};

/// How long an idempotency record is kept: longer than any hold lasts (7 days), so a retry of any
/// request about a hold still finds its first answer.
pub const IDEMPOTENCY_RETENTION_SECONDS: i64 = 8 * SECONDS_PER_DAY;
/// Records deleted per statement, so a purge never holds the write lock for long.
pub const PURGE_BATCH_MAX: u32 = 5_000;

impl Holdfast {
    /// Deletes idempotency records older than the retention period, a batch at a time, until
    /// none are left or `batches_max` batches ran. Returns how many were deleted.
    pub async fn purge_idempotency_keys(&self, batches_max: u32) -> Result<u64, ServiceError> {
        let before = self.now().plus_seconds(-IDEMPOTENCY_RETENTION_SECONDS);
        let mut deleted = 0;
        for _ in 0..batches_max {
            let n = self
                .store
                .purge_idempotency(before, PURGE_BATCH_MAX)
                .await?;
            deleted += n;
            if n < u64::from(PURGE_BATCH_MAX) {
                break;
            }
        }
        Ok(deleted)
    }
}
