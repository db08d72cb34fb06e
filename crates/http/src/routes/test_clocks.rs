//! `/v1/test-clocks`: frozen time for test-mode intents, advanced on demand.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use holdfast_domain::ErrorCode;
use holdfast_domain::test_clock::{TestClock, not_in_live_mode};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::{
    AdvanceTestClockBody, CreateTestClockBody, Data, DeletedTestClockOut, IdempotencyKeyHeader,
    List, PageQuery, TestClockOut, parse_rfc3339,
};
use crate::error::ApiError;
use crate::extract::{Auth, Mutation, Query};
use crate::openapi::error_responses::errors;
use crate::respond::{data, list, render};

const TAG: &str = "Test clocks";

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_test_clock, list_test_clocks))
        .routes(routes!(get_test_clock, delete_test_clock))
        .routes(routes!(advance_test_clock))
}

fn clock_out(clock: &TestClock) -> TestClockOut {
    TestClockOut::from(clock)
}

fn frozen_time(raw: &str) -> Result<holdfast_domain::Timestamp, ApiError> {
    parse_rfc3339(raw).ok_or_else(|| {
        ApiError::param(
            ErrorCode::InvalidParameter,
            "frozen_time",
            "frozen_time must be an RFC 3339 time such as 2026-07-03T02:57:20Z",
        )
    })
}

fn test_mode_scope(auth: &Auth) -> Result<&holdfast_domain::Scope, ApiError> {
    let scope = auth.key_only()?;
    if scope.livemode {
        return Err(not_in_live_mode().into());
    }
    Ok(scope)
}

/// Create a test clock
#[utoipa::path(
    post,
    path = "/v1/test-clocks",
    tag = TAG,
    params(IdempotencyKeyHeader),
    request_body(content = Option<CreateTestClockBody>),
    responses(
        (status = CREATED, description = "The new clock", body = Data<TestClockOut>),
        CreateClockErrors,
    )
)]
async fn create_test_clock(
    State(state): State<AppState>,
    m: Mutation<CreateTestClockBody>,
) -> Result<Response, ApiError> {
    let ctx = m.ctx(test_mode_scope(&m.auth)?);
    let at = m.body.frozen_time.as_deref().map(frozen_time).transpose()?;
    let name = m.body.name;
    let decide = || state.app.create_test_clock(&ctx, at, name.clone());
    let answer = render(StatusCode::CREATED, clock_out);
    Ok(state.run(&ctx, decide, answer).await)
}

errors!(CreateClockErrors: READ BODY IDEMPOTENT; TestClockNotAllowedInLiveMode);

/// Retrieve a test clock
#[utoipa::path(
    get,
    path = "/v1/test-clocks/{id}",
    tag = TAG,
    params(("id" = String, Path, description = "The clock's id, `clock_…`")),
    responses(
        (status = OK, description = "The clock", body = Data<TestClockOut>),
        GetClockErrors,
    )
)]
async fn get_test_clock(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let scope = test_mode_scope(&auth)?;
    let clock = state.app.get_test_clock(scope, &id).await?;
    Ok(data(clock_out(&clock)))
}

errors!(GetClockErrors: READ; TestClockNotFound, TestClockNotAllowedInLiveMode);

/// List test clocks
///
/// Newest first.
#[utoipa::path(
    get,
    path = "/v1/test-clocks",
    tag = TAG,
    params(PageQuery),
    responses(
        (status = OK, description = "A page of clocks", body = List<TestClockOut>),
        ListClocksErrors,
    )
)]
async fn list_test_clocks(
    State(state): State<AppState>,
    auth: Auth,
    mut query: Query,
) -> Result<Response, ApiError> {
    let scope = test_mode_scope(&auth)?;
    let page = query.page()?;
    query.finish()?;
    let page = state.app.list_test_clocks(scope, page).await?;
    Ok(list(page, clock_out))
}

errors!(ListClocksErrors: READ QUERY; TestClockNotAllowedInLiveMode);

/// Delete a test clock
///
/// Its intents keep the time it had.
#[utoipa::path(
    delete,
    path = "/v1/test-clocks/{id}",
    tag = TAG,
    params(("id" = String, Path, description = "The clock's id, `clock_…`")),
    responses(
        (status = OK, description = "The clock is deleted", body = Data<DeletedTestClockOut>),
        DeleteClockErrors,
    )
)]
async fn delete_test_clock(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let scope = test_mode_scope(&auth)?;
    let clock = state.app.delete_test_clock(scope, &id).await?;
    Ok(data(DeletedTestClockOut {
        test_clock_id: clock.id,
        deleted: true,
    }))
}

errors!(DeleteClockErrors: READ; TestClockNotFound, TestClockNotAllowedInLiveMode);

/// Advance a test clock
///
/// Moves the clock forward and, before answering, runs every expiry, expiring-soon warning and
/// scheduled action that falls due on its intents, in deadline order.
#[utoipa::path(
    post,
    path = "/v1/test-clocks/{id}/advance",
    tag = TAG,
    params(("id" = String, Path, description = "The clock's id, `clock_…`"), IdempotencyKeyHeader),
    request_body = AdvanceTestClockBody,
    responses(
        (status = OK, description = "The clock at its new time", body = Data<TestClockOut>),
        AdvanceClockErrors,
    )
)]
async fn advance_test_clock(
    State(state): State<AppState>,
    Path(id): Path<String>,
    m: Mutation<AdvanceTestClockBody>,
) -> Result<Response, ApiError> {
    let ctx = m.ctx(test_mode_scope(&m.auth)?);
    let to = frozen_time(&m.body.frozen_time)?;
    let decide = || state.app.advance_test_clock(&ctx, &id, to);
    let answer = render(StatusCode::OK, clock_out);
    Ok(state.run(&ctx, decide, answer).await)
}

errors!(AdvanceClockErrors: READ BODY IDEMPOTENT PROCESSOR;
    TestClockNotFound, TestClockNotAllowedInLiveMode, TestClockCannotMoveBackwards);
