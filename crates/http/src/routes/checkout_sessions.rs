//! `/v1/checkout-sessions`: hosted pages that take one payment, always captured automatically.
//! The page itself (`/pay/cs_…`) is the web crate's, outside this document.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use holdfast_domain::checkout::{CheckoutSession, CreateSession};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::{
    CheckoutSessionOut, CreateCheckoutSessionBody, Data, EmptyBody, IdempotencyKeyHeader, List,
    PageQuery,
};
use crate::error::ApiError;
use crate::extract::{Auth, Mutation, Query};
use crate::openapi::error_responses::errors;
use crate::respond::{data, list, render};

const TAG: &str = "Checkout sessions";

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_checkout_session, list_checkout_sessions))
        .routes(routes!(get_checkout_session))
        .routes(routes!(expire_checkout_session))
}

fn session_out(session: &CheckoutSession) -> CheckoutSessionOut {
    CheckoutSessionOut::from(session)
}

/// Create a checkout session
///
/// A hosted page (`url`) where a buyer pays `amount_money` by card. The payment is an ordinary
/// payment intent with `source: "checkout_session"`, captured automatically: checkout sessions
/// never place a hold, and `capture_method: "manual"` answers
/// `MANUAL_CAPTURE_NOT_ALLOWED_WITH_CHECKOUT`.
#[utoipa::path(
    post,
    path = "/v1/checkout-sessions",
    tag = TAG,
    params(IdempotencyKeyHeader),
    request_body = CreateCheckoutSessionBody,
    responses(
        (status = CREATED, description = "The new session, `open`", body = Data<CheckoutSessionOut>),
        CreateCheckoutSessionErrors,
    )
)]
async fn create_checkout_session(
    State(state): State<AppState>,
    m: Mutation<CreateCheckoutSessionBody>,
) -> Result<Response, ApiError> {
    let ctx = m.ctx(m.auth.key_only()?);
    let body = m.body;
    let req = CreateSession {
        amount: body.amount_money.map(Into::into),
        success_url: body.success_url,
        cancel_url: body.cancel_url,
        capture_method: body.capture_method,
        description: body.description,
        customer_id: body.customer_id,
        reference: body.reference,
        metadata: body.metadata,
        expires_in_seconds: body.expires_in_seconds,
    };
    let decide = || state.app.create_checkout_session(&ctx, req.clone());
    let answer = render(StatusCode::CREATED, session_out);
    Ok(state.run(&ctx, decide, answer).await)
}

errors!(CreateCheckoutSessionErrors: READ BODY IDEMPOTENT;
    ManualCaptureNotAllowedWithCheckout, InvalidCaptureMethod, CustomerNotFound);

/// Retrieve a checkout session
///
/// Its status as of now: an open session past `expires_at` reads as `expired`.
#[utoipa::path(
    get,
    path = "/v1/checkout-sessions/{id}",
    tag = TAG,
    params(("id" = String, Path, description = "The session's id, `cs_…`")),
    responses(
        (status = OK, description = "The session", body = Data<CheckoutSessionOut>),
        GetCheckoutSessionErrors,
    )
)]
async fn get_checkout_session(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let session = state
        .app
        .get_checkout_session(auth.key_only()?, &id)
        .await?;
    Ok(data(session_out(&session)))
}

errors!(GetCheckoutSessionErrors: READ; CheckoutSessionNotFound);

/// List checkout sessions
///
/// Newest first.
#[utoipa::path(
    get,
    path = "/v1/checkout-sessions",
    tag = TAG,
    params(PageQuery),
    responses(
        (status = OK, description = "A page of sessions", body = List<CheckoutSessionOut>),
        ListCheckoutSessionsErrors,
    )
)]
async fn list_checkout_sessions(
    State(state): State<AppState>,
    auth: Auth,
    mut query: Query,
) -> Result<Response, ApiError> {
    let scope = auth.key_only()?;
    let page = query.page()?;
    query.finish()?;
    let page = state.app.list_checkout_sessions(scope, page).await?;
    Ok(list(page, session_out))
}

errors!(ListCheckoutSessionsErrors: READ QUERY);

/// Expire a checkout session
///
/// Only an `open` session: its page takes no payment from now on. Fires
/// `checkout_session.expired`.
#[utoipa::path(
    post,
    path = "/v1/checkout-sessions/{id}/expire",
    tag = TAG,
    params(("id" = String, Path, description = "The session's id, `cs_…`"), IdempotencyKeyHeader),
    request_body(content = Option<EmptyBody>),
    responses(
        (status = OK, description = "The expired session", body = Data<CheckoutSessionOut>),
        ExpireCheckoutSessionErrors,
    )
)]
async fn expire_checkout_session(
    State(state): State<AppState>,
    Path(id): Path<String>,
    m: Mutation<EmptyBody>,
) -> Result<Response, ApiError> {
    let ctx = m.ctx(m.auth.key_only()?);
    let decide = || state.app.expire_checkout_session(&ctx, &id);
    let answer = render(StatusCode::OK, session_out);
    Ok(state.run(&ctx, decide, answer).await)
}

errors!(ExpireCheckoutSessionErrors: READ BODY IDEMPOTENT;
    CheckoutSessionNotFound, CheckoutSessionNotOpen);
