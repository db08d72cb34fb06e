//! `/v1/test-clocks`: frozen time for test-mode intents, advanced on demand.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use holdfast_domain::ErrorCode;
use holdfast_domain::test_clock::{TestClock, not_in_live_mode};

use crate::dto::{
    AdvanceTestClockBody, CreateTestClockBody, Data, List, TestClockOut, parse_rfc3339,
};
use crate::error::{ApiError, reply_response};
use crate::extract::{Auth, Mutation, Query};
use crate::routes::events::page_request;
use crate::{AppState, render};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/test-clocks",
            post(create_test_clock).get(list_test_clocks),
        )
        .route(
            "/v1/test-clocks/{id}",
            get(get_test_clock).delete(delete_test_clock),
        )
        .route("/v1/test-clocks/{id}/advance", post(advance_test_clock))
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

async fn create_test_clock(
    State(state): State<AppState>,
    m: Mutation<CreateTestClockBody>,
) -> Result<Response, ApiError> {
    let ctx = m.ctx(test_mode_scope(&m.auth)?);
    let at = m.body.frozen_time.as_deref().map(frozen_time).transpose()?;
    let name = m.body.name;
    let app = &state.app;
    let reply = app
        .run(
            &ctx,
            || app.create_test_clock(&ctx, at, name.clone()),
            render(StatusCode::CREATED, clock_out),
        )
        .await;
    Ok(reply_response(reply))
}

async fn get_test_clock(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let clock = state
        .app
        .get_test_clock(test_mode_scope(&auth)?, &id)
        .await?;
    Ok(Json(Data {
        data: clock_out(&clock),
    })
    .into_response())
}

async fn list_test_clocks(
    State(state): State<AppState>,
    auth: Auth,
    mut query: Query,
) -> Result<Response, ApiError> {
    let scope = test_mode_scope(&auth)?;
    let page = page_request(&mut query)?;
    query.finish()?;
    let page = state.app.list_test_clocks(scope, page).await?;
    Ok(Json(List {
        data: page.data.iter().map(clock_out).collect(),
        has_more: page.has_more,
        next_cursor: page.next_cursor,
    })
    .into_response())
}

async fn delete_test_clock(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let clock = state
        .app
        .delete_test_clock(test_mode_scope(&auth)?, &id)
        .await?;
    Ok(Json(serde_json::json!({
        "data": { "test_clock_id": clock.id, "deleted": true }
    }))
    .into_response())
}

async fn advance_test_clock(
    State(state): State<AppState>,
    Path(id): Path<String>,
    m: Mutation<AdvanceTestClockBody>,
) -> Result<Response, ApiError> {
    let ctx = m.ctx(test_mode_scope(&m.auth)?);
    let to = frozen_time(&m.body.frozen_time)?;
    let app = &state.app;
    let reply = app
        .run(
            &ctx,
            || app.advance_test_clock(&ctx, &id, to),
            render(StatusCode::OK, clock_out),
        )
        .await;
    Ok(reply_response(reply))
}
