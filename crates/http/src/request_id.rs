//! Request ids: every request gets a `req_…` id, echoed in `X-Request-Id`, in every error body and
//! in the request's log line.

use std::time::Instant;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being served, or `req_unknown` outside one.
pub fn current() -> String {
    REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| "req_unknown".to_owned())
}

/// Assigns the id, runs the request inside its scope, and logs one line when it ends.
/// The log line has the method, route and status, never headers or bodies (keys, cards).
pub async fn middleware(request: Request, next: Next) -> Response {
    let id = holdfast_service::ids::new_id("req");
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = Instant::now();
    let mut response = REQUEST_ID.scope(id.clone(), next.run(request)).await;
    let status = response.status().as_u16();
    tracing::info!(
        request_id = %id,
        %method,
        %path,
        status,
        latency_us = started.elapsed().as_micros() as u64,
        "request"
    );
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}
