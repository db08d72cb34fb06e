//! `/v1/test-helpers`: test mode only, for driving the sandbox through steps a buyer would take.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use holdfast_domain::ErrorCode;
use holdfast_domain::intent::PaymentIntent;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::{AuthenticateBody, Data, IdempotencyKeyHeader, PaymentIntentOut};
use crate::error::ApiError;
use crate::extract::Mutation;
use crate::openapi::error_responses::errors;
use crate::respond::render;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(authenticate_payment_intent))
}

/// Finish the buyer's 3D Secure step
///
/// Completes (`success`) or fails (`failure`) the 3D Secure step of an intent in
/// `requires_action`. A failure is an answer here, not an error: the intent goes back to
/// `requires_payment_method` with `last_payment_error` `AUTHENTICATION_FAILED`. In live mode the
/// route does not exist (404 `NOT_FOUND`).
#[utoipa::path(
    post,
    path = "/v1/test-helpers/payment-intents/{id}/authenticate",
    tag = "Test helpers",
    params(("id" = String, Path, description = "The intent's id, `pi_…`"), IdempotencyKeyHeader),
    request_body = AuthenticateBody,
    responses(
        (status = OK, description = "The intent after the step", body = Data<PaymentIntentOut>),
        AuthenticateErrors,
    )
)]
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
    let decide = || state.app.authenticate_intent(&ctx, &id, succeeded);
    let answer = render(StatusCode::OK, |pi: &PaymentIntent| {
        PaymentIntentOut::from(pi)
    });
    Ok(state.run(&ctx, decide, answer).await)
}

errors!(AuthenticateErrors: READ BODY IDEMPOTENT PROCESSOR;
    NotFound, PaymentIntentNotFound, InvalidStatusForAuthentication);
