//! `GET /healthz` (the process is up) and `GET /readyz` (the database answers). No auth.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use holdfast_domain::ErrorCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::{HealthOut, ReadinessOut};
use crate::error::ApiError;
use crate::openapi::error_responses::errors;

const TAG: &str = "Health";

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

/// Liveness
///
/// Answers while the process is up.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = TAG,
    security(),
    responses((status = OK, description = "The process is up", body = HealthOut))
)]
async fn healthz() -> Response {
    Json(HealthOut { status: "ok" }).into_response()
}

/// Readiness
///
/// Answers 200 while the database is reachable.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = TAG,
    security(),
    responses(
        (status = OK, description = "The database answers", body = ReadinessOut),
        ReadyzErrors,
    )
)]
async fn readyz(State(state): State<AppState>) -> Response {
    match state.app.store.ping().await {
        Ok(()) => Json(ReadinessOut {
            status: "ready",
            database: state.app.store.backend(),
        })
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

errors!(ReadyzErrors: [ServiceUnavailable]);
