//! Holdfast's HTTP API: thin axum handlers that parse, call one service function, and render.
//!
//! Every answer that is not a 2xx wears the error envelope of [`error`]; every request gets a
//! request id ([`request_id`]). Every route but the health checks is behind the guard rails of
//! [`limits`]. Handlers hold no business rules: those live in the domain crate.

pub mod dto;
pub mod error;
pub mod extract;
pub mod limits;
pub mod openapi;
pub mod request_id;
mod respond;
mod routes;

use std::sync::Arc;

use axum::Router;
use holdfast_domain::ErrorCode;
use holdfast_service::Holdfast;

use crate::error::ApiError;
pub use crate::limits::{Limits, Rate};

/// What every handler gets.
#[derive(Debug, Clone)]
pub struct AppState {
    pub app: Arc<Holdfast>,
}

/// The whole API, shared by `holdfast serve` and the tests.
///
/// The guard rails wrap each API route (`route_layer`), after routing, so that they know which
/// route a request is for. The health routes and `/openapi.json` are merged in after them: a load
/// balancer's probe must get through an overloaded or rate-limited process. Unknown routes answer
/// 404 without them.
pub fn router(app: Arc<Holdfast>, limits: Limits) -> Router {
    router_with_pages(app, limits, Router::new())
}

/// The API with web pages beside it (the dashboard, from the server crate): the pages get the
/// same request ids and the same guard rails, and are not part of the OpenAPI document.
pub fn router_with_pages(app: Arc<Holdfast>, limits: Limits, pages: Router) -> Router {
    let state = AppState { app };
    let guard = Arc::new(limits::Guard::new(limits));
    Router::<AppState>::from(routes::api())
        .with_state(state.clone())
        .merge(pages)
        .route_layer(axum::middleware::from_fn_with_state(
            guard,
            limits::middleware,
        ))
        .merge(
            Router::<AppState>::from(routes::open())
                .merge(Router::<AppState>::from(openapi::router()))
                .with_state(state),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(request_id::middleware))
}

async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "this route does not take that method",
    )
}
