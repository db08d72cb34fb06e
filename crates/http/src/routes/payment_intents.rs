//! `/v1/payment-intents`: create, retrieve, list, confirm, capture, cancel, actions.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use holdfast_domain::increment::IncrementRequest;
use holdfast_domain::intent::{
    CaptureMethod, CaptureRequest, CreateRequest, ScheduleRequest, Status,
};
use holdfast_service::{Caller, ConfirmCommand, CreateIntentCommand, CreatedIntent, IntentQuery};
use holdfast_store::IntentOrder;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::{
    ActionOut, CancelBody, CaptureBody, ClientConfirmation, ConfirmBody, CreateIntentBody,
    CreatedIntentOut, Data, EmptyBody, IdempotencyKeyHeader, IncrementAuthorizationBody, List,
    ListIntentsQuery, PageQuery, PaymentIntentOut, ScheduledActionBody, parse_rfc3339,
};
use crate::error::ApiError;
use crate::extract::{Auth, Mutation, Query};
use crate::openapi::error_responses::errors;
use crate::respond::{data, list, render, render_sensitive};

const TAG: &str = "Payment intents";

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_payment_intent, list_payment_intents))
        .routes(routes!(get_payment_intent))
        .routes(routes!(confirm_payment_intent))
        .routes(routes!(capture_payment_intent))
        .routes(routes!(cancel_payment_intent))
        .routes(routes!(increment_payment_intent_authorization))
        .routes(routes!(list_payment_intent_actions))
        .routes(routes!(set_scheduled_action, clear_scheduled_action))
}

fn intent_out(intent: &holdfast_domain::intent::PaymentIntent) -> PaymentIntentOut {
    PaymentIntentOut::from(intent)
}

/// Create a payment intent
///
/// With `capture_method: manual`, confirming the intent places a hold to capture later. With
/// `auto_confirm` and a `payment_source_token`, it is confirmed (charged) in the same call. An
/// intent created with `order_id` pays that order and takes its amount from it.
#[utoipa::path(
    post,
    path = "/v1/payment-intents",
    tag = TAG,
    params(IdempotencyKeyHeader),
    request_body = CreateIntentBody,
    responses(
        (status = CREATED, description = "The new intent, and the client secret a browser confirms it with", body = Data<CreatedIntentOut>),
        CreateIntentErrors,
    )
)]
async fn create_payment_intent(
    State(state): State<AppState>,
    m: Mutation<CreateIntentBody>,
) -> Result<Response, ApiError> {
    let ctx = m.ctx(m.auth.key_only()?);
    let body = m.body;
    let cmd = CreateIntentCommand {
        request: CreateRequest {
            amount: body.amount_money.map(Into::into),
            payment_method_types: body.payment_method_types,
            capture_method: body.capture_method,
            auto_confirm: body.auto_confirm,
            description: body.description,
            reference: body.reference,
            metadata: body.metadata,
            customer_id: body.customer_id,
            order_id: body.order_id,
            test_clock_id: body.test_clock,
            scheduled_action: body.scheduled_action.map(|s| ScheduleRequest {
                kind: s.kind,
                at: None,
                offset_before_expiry_seconds: Some(s.offset_before_expiry_seconds),
                amount: None,
            }),
            multicapture: body.multicapture,
            incremental_authorization: body.incremental_authorization,
        },
        payment_source_token: body.payment_source_token,
    };
    let decide = || state.app.create_intent(&ctx, cmd.clone());
    // The answer carries the client secret: stored sealed for idempotent replays.
    let answer = render_sensitive(StatusCode::CREATED, |created: &CreatedIntent| {
        CreatedIntentOut {
            payment_intent: intent_out(&created.intent),
            client_confirmation: ClientConfirmation {
                client_secret: created.client_secret.clone(),
                confirm_path: format!("/v1/payment-intents/{}/confirm", created.intent.id),
            },
        }
    });
    Ok(state.run(&ctx, decide, answer).await)
}

errors!(CreateIntentErrors: READ BODY IDEMPOTENT PROCESSOR;
    CustomerNotFound, OrderNotFound, TestClockNotFound, InvalidCaptureMethod,
    ManualCaptureNotAllowedWithAutoConfirm, TestClockNotAllowedInLiveMode,
    OrderLinkedAmountNotAllowed, StrictInventoryDelayedCaptureUnsupported, OrderNotPayable,
    InvalidPaymentSourceToken, CardDeclined);

/// Retrieve a payment intent
///
/// The intent's own `client_secret` may retrieve it too.
#[utoipa::path(
    get,
    path = "/v1/payment-intents/{id}",
    tag = TAG,
    params(("id" = String, Path, description = "The intent's id, `pi_…`")),
    responses(
        (status = OK, description = "The intent", body = Data<PaymentIntentOut>),
        GetIntentErrors,
    )
)]
async fn get_payment_intent(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let scope = auth.for_intent(&id)?;
    let intent = state.app.get_intent(scope, &id).await?;
    Ok(data(intent_out(&intent)))
}

errors!(GetIntentErrors: READ; PaymentIntentNotFound);

/// List payment intents
///
/// Newest first, or soonest deadline first with `order=authorization_expires_at`.
#[utoipa::path(
    get,
    path = "/v1/payment-intents",
    tag = TAG,
    params(ListIntentsQuery, PageQuery),
    responses(
        (status = OK, description = "A page of intents", body = List<PaymentIntentOut>),
        ListIntentsErrors,
    )
)]
async fn list_payment_intents(
    State(state): State<AppState>,
    auth: Auth,
    mut query: Query,
) -> Result<Response, ApiError> {
    let scope = auth.key_only()?;
    let status = query.take_parsed("status", Status::parse, "a payment intent status")?;
    let capture_method = query.take_parsed(
        "capture_method",
        CaptureMethod::parse,
        "automatic or manual",
    )?;
    let time = "an RFC 3339 time such as 2026-07-03T02:57:20Z";
    let created_after = query.take_parsed("created_after", parse_rfc3339, time)?;
    let created_before = query.take_parsed("created_before", parse_rfc3339, time)?;
    let expires_before = query.take_parsed("expires_before", parse_rfc3339, time)?;
    let order = query
        .take_parsed(
            "order",
            |s| match s {
                "created_at" => Some(IntentOrder::CreatedDesc),
                "authorization_expires_at" => Some(IntentOrder::ExpiresAsc),
                _ => None,
            },
            "created_at (newest first) or authorization_expires_at (soonest deadline first)",
        )?
        .unwrap_or_default();
    let page = query.page()?;
    query.finish()?;
    let query = IntentQuery {
        status,
        capture_method,
        created_after,
        created_before,
        expires_before,
        order,
        page,
    };
    let page = state.app.list_intents(scope, query).await?;
    Ok(list(page, intent_out))
}

errors!(ListIntentsErrors: READ QUERY);

/// Confirm a payment intent
///
/// Authorizes the card: a manual-capture intent then holds the amount (`requires_capture`), an
/// automatic one is charged (`succeeded`). A card that needs 3D Secure leaves the intent in
/// `requires_action`. A decline answers 402 and records `last_payment_error` on the intent. The
/// intent's own `client_secret` may confirm it too.
#[utoipa::path(
    post,
    path = "/v1/payment-intents/{id}/confirm",
    tag = TAG,
    params(("id" = String, Path, description = "The intent's id, `pi_…`"), IdempotencyKeyHeader),
    request_body = ConfirmBody,
    responses(
        (status = OK, description = "The intent after the authorization", body = Data<PaymentIntentOut>),
        ConfirmIntentErrors,
    )
)]
async fn confirm_payment_intent(
    State(state): State<AppState>,
    Path(id): Path<String>,
    m: Mutation<ConfirmBody>,
) -> Result<Response, ApiError> {
    let ctx = m.ctx(m.auth.for_intent(&id)?);
    let cmd = ConfirmCommand {
        payment_source_token: m.body.payment_source_token,
        payment_method_id: m.body.payment_method_id,
        via_client_secret: matches!(m.auth.0, Caller::ClientSecret { .. }),
    };
    let decide = || state.app.confirm_intent(&ctx, &id, cmd.clone());
    let answer = render(StatusCode::OK, intent_out);
    Ok(state.run(&ctx, decide, answer).await)
}

errors!(ConfirmIntentErrors: READ BODY IDEMPOTENT PROCESSOR;
    PaymentIntentNotFound, PaymentMethodNotFound, OrderLinkedPaymentIntent,
    InvalidStatusForConfirm, InvalidPaymentSourceToken, CardDeclined);

/// Capture a hold
///
/// An empty body captures the whole hold. `amount_money` captures part of it and releases the
/// rest. A hold is captured at most once, unless the intent was created with `multicapture`:
/// then `final_capture: false` settles the amount and keeps the rest capturable.
#[utoipa::path(
    post,
    path = "/v1/payment-intents/{id}/capture",
    tag = TAG,
    params(("id" = String, Path, description = "The intent's id, `pi_…`"), IdempotencyKeyHeader),
    request_body(content = Option<CaptureBody>),
    responses(
        (status = OK, description = "The intent after the capture", body = Data<PaymentIntentOut>),
        CaptureIntentErrors,
    )
)]
async fn capture_payment_intent(
    State(state): State<AppState>,
    Path(id): Path<String>,
    m: Mutation<CaptureBody>,
) -> Result<Response, ApiError> {
    let ctx = m.ctx(m.auth.key_only()?);
    let req = CaptureRequest {
        amount: m.body.amount_money.map(Into::into),
        reference: m.body.reference,
        metadata: m.body.metadata,
        final_capture: m.body.final_capture,
    };
    let decide = || state.app.capture_intent(&ctx, &id, req.clone());
    let answer = render(StatusCode::OK, intent_out);
    Ok(state.run(&ctx, decide, answer).await)
}

errors!(CaptureIntentErrors: READ BODY IDEMPOTENT PROCESSOR;
    PaymentIntentNotFound, OrderLinkedPaymentIntent, InvalidStatusForCapture,
    CaptureAmountExceedsAuthorized, CaptureCurrencyMismatch, InvalidCaptureAmount,
    PaymentAuthorizationExpired, MulticaptureNotEnabled);

/// Increment a hold
///
/// Raises the hold of an intent created with `incremental_authorization` to `amount_money`, the
/// new total: `authorized` and `capturable` grow by the difference and the deadline stays. A
/// decline answers 402 `CARD_DECLINED` and leaves the hold as it was.
#[utoipa::path(
    post,
    path = "/v1/payment-intents/{id}/increment-authorization",
    tag = TAG,
    params(("id" = String, Path, description = "The intent's id, `pi_…`"), IdempotencyKeyHeader),
    request_body = IncrementAuthorizationBody,
    responses(
        (status = OK, description = "The intent with its grown hold", body = Data<PaymentIntentOut>),
        IncrementIntentErrors,
    )
)]
async fn increment_payment_intent_authorization(
    State(state): State<AppState>,
    Path(id): Path<String>,
    m: Mutation<IncrementAuthorizationBody>,
) -> Result<Response, ApiError> {
    let ctx = m.ctx(m.auth.key_only()?);
    let req = IncrementRequest {
        amount: m.body.amount_money.map(Into::into),
    };
    let decide = || state.app.increment_intent(&ctx, &id, req.clone());
    let answer = render(StatusCode::OK, intent_out);
    Ok(state.run(&ctx, decide, answer).await)
}

errors!(IncrementIntentErrors: READ BODY IDEMPOTENT PROCESSOR;
    PaymentIntentNotFound, OrderLinkedPaymentIntent, IncrementalAuthorizationNotEnabled,
    InvalidStatusForCapture, PaymentAuthorizationExpired, InvalidIncrementAmount, CardDeclined);

/// Cancel a payment intent
///
/// Voids the hold, if there is one, and releases the whole amount. A multicapture intent with
/// captures behind it releases the rest and becomes `succeeded`.
#[utoipa::path(
    post,
    path = "/v1/payment-intents/{id}/cancel",
    tag = TAG,
    params(("id" = String, Path, description = "The intent's id, `pi_…`"), IdempotencyKeyHeader),
    request_body(content = Option<CancelBody>),
    responses(
        (status = OK, description = "The canceled intent", body = Data<PaymentIntentOut>),
        CancelIntentErrors,
    )
)]
async fn cancel_payment_intent(
    State(state): State<AppState>,
    Path(id): Path<String>,
    m: Mutation<CancelBody>,
) -> Result<Response, ApiError> {
    let ctx = m.ctx(m.auth.key_only()?);
    let reason = m.body.cancellation_reason;
    let decide = || state.app.cancel_intent(&ctx, &id, reason.clone());
    let answer = render(StatusCode::OK, intent_out);
    Ok(state.run(&ctx, decide, answer).await)
}

errors!(CancelIntentErrors: READ BODY IDEMPOTENT PROCESSOR;
    PaymentIntentNotFound, OrderLinkedPaymentIntent, InvalidCancellationReason,
    CannotCancelSucceededPayment, PaymentAlreadyCanceled, CannotCancelExpiredPayment);

/// List an intent's money movements
///
/// Every authorization, capture, void, expiry and refund, in order, each with the request that
/// caused it: the support view of a payment.
#[utoipa::path(
    get,
    path = "/v1/payment-intents/{id}/actions",
    tag = TAG,
    params(("id" = String, Path, description = "The intent's id, `pi_…`")),
    responses(
        (status = OK, description = "The intent's actions, oldest first", body = Data<Vec<ActionOut>>),
        ListActionsErrors,
    )
)]
async fn list_payment_intent_actions(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let scope = auth.key_only()?;
    let intent = state.app.get_intent(scope, &id).await?;
    let actions: Vec<ActionOut> = intent
        .actions
        .iter()
        .map(|a| ActionOut::new(&intent.id, a))
        .collect();
    Ok(data(actions))
}

errors!(ListActionsErrors: READ; PaymentIntentNotFound);

/// Schedule a capture or void
///
/// Sets, or replaces, an action that runs by itself at `at`: before the hold's deadline, while
/// the intent is `requires_payment_method`, `requires_action` or `requires_capture`.
#[utoipa::path(
    post,
    path = "/v1/payment-intents/{id}/scheduled-action",
    tag = TAG,
    params(("id" = String, Path, description = "The intent's id, `pi_…`"), IdempotencyKeyHeader),
    request_body = ScheduledActionBody,
    responses(
        (status = OK, description = "The intent with its scheduled action", body = Data<PaymentIntentOut>),
        SetScheduleErrors,
    )
)]
async fn set_scheduled_action(
    State(state): State<AppState>,
    Path(id): Path<String>,
    m: Mutation<ScheduledActionBody>,
) -> Result<Response, ApiError> {
    let ctx = m.ctx(m.auth.key_only()?);
    let at = parse_rfc3339(&m.body.at).ok_or_else(|| {
        ApiError::param(
            holdfast_domain::ErrorCode::InvalidParameter,
            "at",
            "at must be an RFC 3339 time such as 2026-07-09T12:00:00Z",
        )
    })?;
    let req = ScheduleRequest {
        kind: m.body.kind,
        at: Some(at),
        offset_before_expiry_seconds: None,
        amount: m.body.amount_money.map(Into::into),
    };
    let decide = || state.app.set_scheduled_action(&ctx, &id, req.clone());
    let answer = render(StatusCode::OK, intent_out);
    Ok(state.run(&ctx, decide, answer).await)
}

errors!(SetScheduleErrors: READ BODY IDEMPOTENT;
    PaymentIntentNotFound, ScheduledActionAfterExpiry, InvalidStatusForScheduledAction,
    CaptureAmountExceedsAuthorized, CaptureCurrencyMismatch, InvalidCaptureAmount);

/// Clear the scheduled action
#[utoipa::path(
    delete,
    path = "/v1/payment-intents/{id}/scheduled-action",
    tag = TAG,
    params(("id" = String, Path, description = "The intent's id, `pi_…`"), IdempotencyKeyHeader),
    responses(
        (status = OK, description = "The intent, without a scheduled action", body = Data<PaymentIntentOut>),
        ClearScheduleErrors,
    )
)]
async fn clear_scheduled_action(
    State(state): State<AppState>,
    Path(id): Path<String>,
    m: Mutation<EmptyBody>,
) -> Result<Response, ApiError> {
    let ctx = m.ctx(m.auth.key_only()?);
    let decide = || state.app.clear_scheduled_action(&ctx, &id);
    let answer = render(StatusCode::OK, intent_out);
    Ok(state.run(&ctx, decide, answer).await)
}

errors!(ClearScheduleErrors: READ BODY IDEMPOTENT; PaymentIntentNotFound);
