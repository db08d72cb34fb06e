//! `/v1/refunds`: giving captured money back, in one or several parts.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use holdfast_domain::refund::{Refund, RefundRequest};
use holdfast_store::RefundFilter;

use crate::dto::{CreateRefundBody, Data, List, RefundOut};
use crate::error::{ApiError, reply_response};
use crate::extract::{Auth, Mutation, Query};
use crate::routes::events::page_request;
use crate::{AppState, render};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/refunds", post(create_refund).get(list_refunds))
        .route("/v1/refunds/{id}", get(get_refund))
}

fn refund_out(refund: &Refund) -> RefundOut {
    RefundOut::from(refund)
}

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
    let app = &state.app;
    let reply = app
        .run(
            &ctx,
            || app.create_refund(&ctx, &intent_id, req.clone()),
            render(StatusCode::CREATED, refund_out),
        )
        .await;
    Ok(reply_response(reply))
}

async fn get_refund(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let refund = state.app.get_refund(auth.key_only()?, &id).await?;
    Ok(Json(Data {
        data: refund_out(&refund),
    })
    .into_response())
}

async fn list_refunds(
    State(state): State<AppState>,
    auth: Auth,
    mut query: Query,
) -> Result<Response, ApiError> {
    let scope = auth.key_only()?;
    let payment_intent_id = query.take("payment_intent_id")?;
    let page = page_request(&mut query)?;
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
    Ok(Json(List {
        data: page.data.iter().map(refund_out).collect(),
        has_more: page.has_more,
        next_cursor: page.next_cursor,
    })
    .into_response())
}
