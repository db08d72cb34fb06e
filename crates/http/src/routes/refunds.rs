//! `/v1/refunds`: giving captured money back, in one or several parts.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use holdfast_domain::refund::{Refund, RefundRequest};
use holdfast_store::RefundFilter;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::{
    CreateRefundBody, Data, IdempotencyKeyHeader, List, ListRefundsQuery, PageQuery, RefundOut,
};
use crate::error::ApiError;
use crate::extract::{Auth, Mutation, Query};
use crate::openapi::error_responses::errors;
use crate::respond::{data, list, render};

const TAG: &str = "Refunds";

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_refund, list_refunds))
        .routes(routes!(get_refund))
}

fn refund_out(refund: &Refund) -> RefundOut {
    RefundOut::from(refund)
}

/// Refund captured money
///
/// Answers once the processor has; if it is silent the refund stays `pending` and the worker
/// finishes it. A retry with the same `Idempotency-Key` resumes the refund it created.
#[utoipa::path(
    post,
    path = "/v1/refunds",
    tag = TAG,
    params(IdempotencyKeyHeader),
    request_body = CreateRefundBody,
    responses(
        (status = CREATED, description = "The refund", body = Data<RefundOut>),
        CreateRefundErrors,
    )
)]
async fn create_refund(
    State(state): State<AppState>,
    m: Mutation<CreateRefundBody>,
) -> Result<Response, ApiError> {
    let ctx = m.ctx(m.auth.key_only()?);
    let body = m.body;
    let intent_id = body.payment_intent_id;
    let req = RefundRequest {
        amount: body.amount_money.map(Into::into),
        reason: body.reason,
        reference: body.reference,
        metadata: body.metadata,
    };
    let decide = || state.app.create_refund(&ctx, &intent_id, req.clone());
    let answer = render(StatusCode::CREATED, refund_out);
    Ok(state.run(&ctx, decide, answer).await)
}

errors!(CreateRefundErrors: READ BODY IDEMPOTENT PROCESSOR;
    PaymentIntentNotFound, PaymentIntentNotRefundable, RefundAmountExceedsCaptured,
    InvalidRefundAmount, RefundCurrencyMismatch);

/// Retrieve a refund
#[utoipa::path(
    get,
    path = "/v1/refunds/{id}",
    tag = TAG,
    params(("id" = String, Path, description = "The refund's id, `re_…`")),
    responses(
        (status = OK, description = "The refund", body = Data<RefundOut>),
        GetRefundErrors,
    )
)]
async fn get_refund(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let refund = state.app.get_refund(auth.key_only()?, &id).await?;
    Ok(data(refund_out(&refund)))
}

errors!(GetRefundErrors: READ; RefundNotFound);

/// List refunds
///
/// Newest first.
#[utoipa::path(
    get,
    path = "/v1/refunds",
    tag = TAG,
    params(ListRefundsQuery, PageQuery),
    responses(
        (status = OK, description = "A page of refunds", body = List<RefundOut>),
        ListRefundsErrors,
    )
)]
async fn list_refunds(
    State(state): State<AppState>,
    auth: Auth,
    mut query: Query,
) -> Result<Response, ApiError> {
    let scope = auth.key_only()?;
    let payment_intent_id = query.take("payment_intent_id")?;
    let page = query.page()?;
    query.finish()?;
    let page = state
        .app
        .list_refunds(
            scope,
            RefundFilter {
                payment_intent_id,
                page,
            },
        )
        .await?;
    Ok(list(page, refund_out))
}

errors!(ListRefundsErrors: READ QUERY);
