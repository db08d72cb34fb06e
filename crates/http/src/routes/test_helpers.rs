//! `/v1/test-helpers`: test mode only, for driving the sandbox through steps a buyer would take.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use holdfast_domain::ErrorCode;
use holdfast_domain::intent::PaymentIntent;

use crate::dto::{AuthenticateBody, PaymentIntentOut};
use crate::error::{ApiError, reply_response};
use crate::extract::Mutation;
use crate::{AppState, render};

pub(crate) fn router() -> Router<AppState> {
    Router::new().route(
        "/v1/test-helpers/payment-intents/{id}/authenticate",
        post(authenticate_payment_intent),
    )
}

/// Completes (`success`) or fails (`failure`) the 3D Secure step of an intent in `requires_action`.
async fn authenticate_payment_intent(
    State(state): State<AppState>,
    Path(id): Path<String>,
    m: Mutation<AuthenticateBody>,
) -> Result<Response, ApiError> {
    let scope = m.auth.key_only()?;
    if scope.livemode {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            "test helpers exist in test mode only",
        ));
    }
    let succeeded = match m.body.result.as_str() {
        "success" => true,
        "failure" => false,
        _ => {
            return Err(ApiError::param(
                ErrorCode::InvalidParameter,
                "result",
                "result takes success or failure",
            ));
        }
    };
    let ctx = m.ctx(scope);
    let app = &state.app;
    let reply = app
        .run(
            &ctx,
            || app.authenticate_intent(&ctx, &id, succeeded),
            render(StatusCode::OK, |pi: &PaymentIntent| {
                PaymentIntentOut::from(pi)
            }),
        )
        .await;
    Ok(reply_response(reply))
}
