//! PostgreSQL writes: a plan's statements are sent to the server together instead of one round
//! trip each. A payment step is four to six statements, and waiting for each in turn kept its
//! transaction open (and its row locked) for as many round trips. The server runs them in order;
//! the first failure (or a versioned update that changed no row) fails the plan, and its
//! transaction is rolled back, the statements after it included.

use deadpool_postgres::{Client, GenericClient};

use super::{db_error, params};
use crate::plan::{Expect, Plan, Step};
use crate::sql::Dialect;
use crate::{StoreError, StoreResult};

/// Commits a plan; answers how many rows its first step changed. A plan of one statement runs
/// on its own (a statement is atomic); a longer one in a transaction.
pub(super) async fn run(client: &mut Client, plan: &Plan) -> StoreResult<u64> {
    if let [step] = plan.steps.as_slice() {
        return pipeline(&*client, std::slice::from_ref(step)).await;
    }
    let tx = client.transaction().await.map_err(db_error)?;
    // On an error the transaction is dropped unfinished, which rolls it back: nothing is written.
    let changed = pipeline(&tx, &plan.steps).await?;
    tx.commit().await.map_err(db_error)?;
    Ok(changed)
}

async fn pipeline(client: &impl GenericClient, steps: &[Step]) -> StoreResult<u64> {
    let mut statements = Vec::with_capacity(steps.len());
    for step in steps {
        let sql = Dialect::Postgres.sql(step.stmt);
        statements.push(client.prepare_cached(sql).await.map_err(db_error)?);
    }
    // Polled in order, each request is sent before any answer is awaited.
    let sent = steps.iter().zip(&statements).map(|(step, statement)| {
        let params = params(&step.params);
        async move { client.execute(statement, &params).await }
    });
    let answers = futures_util::future::join_all(sent).await;
    let mut first = None;
    for (step, answer) in steps.iter().zip(answers) {
        let changed = answer.map_err(db_error)?;
        if step.expect == Expect::One && changed != 1 {
            return Err(StoreError::Conflict);
        }
        first.get_or_insert(changed);
    }
    Ok(first.unwrap_or(0))
}
