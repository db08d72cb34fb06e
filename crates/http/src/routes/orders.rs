//! `/v1/orders`: orders, and paying, capturing and voiding through them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use holdfast_domain::order::{
    CreateOrder, DiscountRequest, Financials, LineItemRequest, Order, OrderStatus, UpdateOrder,
};
use holdfast_service::PayCommand;
use holdfast_store::OrderFilter;

use crate::dto::{
    CreateOrderBody, Data, DiscountIn, EmptyBody, LineItemIn, List, OrderCaptureBody, OrderOut,
    PayOrderBody, UpdateOrderBody,
};
use crate::error::{ApiError, reply_response};
use crate::extract::{Auth, Mutation, Query};
use crate::routes::events::page_request;
use crate::{AppState, render};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/orders", post(create_order).get(list_orders))
        .route("/v1/orders/{id}", get(get_order).patch(update_order))
        .route("/v1/orders/{id}/cancel", post(cancel_order))
        .route("/v1/orders/{id}/pay", post(pay_order))
        .route(
            "/v1/orders/{id}/payment-intents/{pid}/capture",
            post(capture_order_payment_intent),
        )
        .route(
            "/v1/orders/{id}/payment-intents/{pid}/void",
            post(void_order_payment_intent),
        )
}

fn order_out(order: &Order) -> OrderOut {
    OrderOut::from(order)
}

fn line_items(items: Vec<LineItemIn>) -> Vec<LineItemRequest> {
    items
        .into_iter()
        .map(|i| LineItemRequest {
            name: i.name,
            quantity: i.quantity,
            unit_price: i.unit_price_money.into(),
            sku: i.sku,
            inventory_tracking: i.inventory_tracking,
        })
        .collect()
}

fn discounts(items: Vec<DiscountIn>) -> Vec<DiscountRequest> {
    items
        .into_iter()
        .map(|d| DiscountRequest {
            name: d.name,
            amount: d.amount_money.into(),
        })
        .collect()
}

async fn create_order(
    State(state): State<AppState>,
    m: Mutation<CreateOrderBody>,
) -> Result<Response, ApiError> {
    let ctx = m.ctx(m.auth.key_only()?);
    let body = m.body;
    let req = CreateOrder {
        currency: body.currency,
        financials: Financials {
            line_items: line_items(body.line_items),
            tip: body.tip_money.map(Into::into),
            discounts: discounts(body.discounts),
        },
        reference: body.reference,
        metadata: body.metadata,
    };
    let app = &state.app;
    let reply = app
        .run(
            &ctx,
            || app.create_order(&ctx, req.clone()),
            render(StatusCode::CREATED, order_out),
        )
        .await;
    Ok(reply_response(reply))
}

async fn get_order(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let order = state.app.get_order(auth.key_only()?, &id).await?;
    Ok(Json(Data {
        data: order_out(&order),
    })
    .into_response())
}

async fn list_orders(
    State(state): State<AppState>,
    auth: Auth,
    mut query: Query,
) -> Result<Response, ApiError> {
    let scope = auth.key_only()?;
    let status = query.take_parsed("status", OrderStatus::parse, "open, paid or canceled")?;
    let page = page_request(&mut query)?;
    query.finish()?;
    let page = state
        .app
        .list_orders(scope, OrderFilter { status, page })
        .await?;
    Ok(Json(List {
        data: page.data.iter().map(order_out).collect(),
        has_more: page.has_more,
        next_cursor: page.next_cursor,
    })
    .into_response())
}

async fn update_order(
    State(state): State<AppState>,
    Path(id): Path<String>,
    m: Mutation<UpdateOrderBody>,
) -> Result<Response, ApiError> {
    let ctx = m.ctx(m.auth.key_only()?);
    let body = m.body;
    let req = UpdateOrder {
        line_items: body.line_items.map(line_items),
        tip: body.tip_money.map(|tip| tip.map(Into::into)),
        discounts: body.discounts.map(discounts),
        reference: body.reference,
        metadata: body.metadata,
    };
    let app = &state.app;
    let reply = app
        .run(
            &ctx,
            || app.update_order(&ctx, &id, req.clone()),
            render(StatusCode::OK, order_out),
        )
        .await;
    Ok(reply_response(reply))
}

async fn cancel_order(
    State(state): State<AppState>,
    Path(id): Path<String>,
    m: Mutation<EmptyBody>,
) -> Result<Response, ApiError> {
    let ctx = m.ctx(m.auth.key_only()?);
    let app = &state.app;
    let reply = app
        .run(
            &ctx,
            || app.cancel_order(&ctx, &id),
            render(StatusCode::OK, order_out),
        )
        .await;
    Ok(reply_response(reply))
}

async fn pay_order(
    State(state): State<AppState>,
    Path(id): Path<String>,
    m: Mutation<PayOrderBody>,
) -> Result<Response, ApiError> {
    let ctx = m.ctx(m.auth.key_only()?);
    let body = m.body;
    let cmd = PayCommand {
        payment_intent_ids: body.payment_intent_ids,
        payment_source_tokens: body.payment_source_tokens,
        expected_amount: body.expected_amount_money.into(),
        payment_amounts: body
            .payment_amounts
            .into_iter()
            .map(|(k, v)| (k, v.into()))
            .collect(),
    };
    let app = &state.app;
    let reply = app
        .run(
            &ctx,
            || app.pay_order(&ctx, &id, cmd.clone()),
            render(StatusCode::OK, order_out),
        )
        .await;
    Ok(reply_response(reply))
}

async fn capture_order_payment_intent(
    State(state): State<AppState>,
    Path((id, pid)): Path<(String, String)>,
    m: Mutation<OrderCaptureBody>,
) -> Result<Response, ApiError> {
    let ctx = m.ctx(m.auth.key_only()?);
    let amount = m.body.amount_money.map(Into::into);
    let reference = m.body.reference;
    let app = &state.app;
    let reply = app
        .run(
            &ctx,
            || app.capture_order_intent(&ctx, &id, &pid, amount.clone(), reference.clone()),
            render(StatusCode::OK, order_out),
        )
        .await;
    Ok(reply_response(reply))
}

async fn void_order_payment_intent(
    State(state): State<AppState>,
    Path((id, pid)): Path<(String, String)>,
    m: Mutation<EmptyBody>,
) -> Result<Response, ApiError> {
    let ctx = m.ctx(m.auth.key_only()?);
    let app = &state.app;
    let reply = app
        .run(
            &ctx,
            || app.void_order_intent(&ctx, &id, &pid, None),
            render(StatusCode::OK, order_out),
        )
        .await;
    Ok(reply_response(reply))
}
