//! How a handler answers: a change through the idempotent request runner ([`AppState::run`]),
//! one object ([`data`]) or a page of a list ([`list`]). Every answer is JSON.

use std::future::Future;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use holdfast_domain::ErrorCode;
use holdfast_service::{Decision, Reply, RequestCtx, ServiceError};
use holdfast_store::Page;
use serde::Serialize;

use crate::AppState;
use crate::dto::{Data, List};
use crate::error::{ApiError, reply_response};

impl AppState {
    /// Runs a change once per `Idempotency-Key` (`decide` may run again after a lost race) and
    /// answers with `render`'s view of its outcome, or the stored answer of an earlier request.
    pub(crate) async fn run<T, D, Fut, R>(&self, ctx: &RequestCtx, decide: D, render: R) -> Response
    where
        D: Fn() -> Fut,
        Fut: Future<Output = Result<Decision<T>, ServiceError>>,
        R: Fn(&Result<T, ServiceError>) -> Reply,
    {
        reply_response(self.app.run(ctx, decide, render).await)
    }
}

/// `200 {"data": value}`: one object, as read.
pub(crate) fn data<T: Serialize>(value: T) -> Response {
    Json(Data { data: value }).into_response()
}

/// `200` and one page of a list, each object shown by `shape`.
pub(crate) fn list<T, O: Serialize>(page: Page<T>, shape: impl Fn(&T) -> O) -> Response {
    Json(List {
        data: page.data.iter().map(shape).collect(),
        has_more: page.has_more,
        next_cursor: page.next_cursor,
    })
    .into_response()
}

/// A renderer for a use case's outcome: `{"data": shape(value)}` on success, the envelope on error.
pub(crate) fn render<T, O: Serialize>(
    status: StatusCode,
    shape: impl Fn(&T) -> O,
) -> impl Fn(&Result<T, ServiceError>) -> Reply {
    move |outcome| match outcome {
        Ok(value) => json_reply(status, &Data { data: shape(value) }),
        Err(e) => ApiError::from(e).reply(),
    }
}

/// Like [`render`], for answers that show a secret: stored sealed for idempotent replays.
pub(crate) fn render_sensitive<T, O: Serialize>(
    status: StatusCode,
    shape: impl Fn(&T) -> O,
) -> impl Fn(&Result<T, ServiceError>) -> Reply {
    let inner = render(status, shape);
    move |outcome| Reply {
        sensitive: true,
        ..inner(outcome)
    }
}

/// Renders a value as a JSON answer.
fn json_reply<T: Serialize>(status: StatusCode, value: &T) -> Reply {
    match serde_json::to_vec(value) {
        Ok(body) => Reply {
            status: status.as_u16(),
            body,
            replayed: false,
            retry_after_seconds: None,
            sensitive: false,
        },
        Err(e) => ApiError {
            internal: Some(e.to_string()),
            ..ApiError::new(ErrorCode::InternalError, "an internal error occurred")
        }
        .reply(),
    }
}
