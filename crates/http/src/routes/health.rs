//! `GET /healthz` (the process is up) and `GET /readyz` (the database answers). No auth.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use holdfast_domain::ErrorCode;
use serde_json::json;

use crate::AppState;
use crate::error::ApiError;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

async fn healthz() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

async fn readyz(State(state): State<AppState>) -> Response {
    match state.app.store.ping().await {
        Ok(()) => Json(json!({ "status": "ready", "database": state.app.store.backend() }))
            .into_response(),
        Err(e) => ApiError {
            internal: Some(e.to_string()),
            ..ApiError::new(
                ErrorCode::ServiceUnavailable,
                "the database is not reachable",
            )
        }
        .into_response(),
    }
}
