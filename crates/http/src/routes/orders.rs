//! `/v1/orders`: orders, and paying, capturing and voiding through them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use holdfast_domain::order::{
    CreateOrder, DiscountRequest, Financials, LineItemRequest, Order, OrderStatus, UpdateOrder,
};
use holdfast_service::PayCommand;
use holdfast_store::OrderFilter;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::{
    CreateOrderBody, Data, DiscountIn, EmptyBody, IdempotencyKeyHeader, LineItemIn, List,
    ListOrdersQuery, OrderCaptureBody, OrderOut, PageQuery, PayOrderBody, UpdateOrderBody,
};
use crate::error::ApiError;
use crate::extract::{Auth, Mutation, Query};
use crate::openapi::error_responses::errors;
use crate::respond::{data, list, render};

const TAG: &str = "Orders";

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_order, list_orders))
        .routes(routes!(get_order, update_order))
        .routes(routes!(cancel_order))
        .routes(routes!(pay_order))
        .routes(routes!(capture_order_payment_intent))
        .routes(routes!(void_order_payment_intent))
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

/// Create an order
#[utoipa::path(
    post,
    path = "/v1/orders",
    tag = TAG,
    params(IdempotencyKeyHeader),
    request_body = CreateOrderBody,
    responses(
        (status = CREATED, description = "The new order", body = Data<OrderOut>),
        CreateOrderErrors,
    )
)]
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
    let decide = || state.app.create_order(&ctx, req.clone());
    let answer = render(StatusCode::CREATED, order_out);
    Ok(state.run(&ctx, decide, answer).await)
}

errors!(CreateOrderErrors: READ BODY IDEMPOTENT; OrderCurrencyMismatch);

/// Retrieve an order
#[utoipa::path(
    get,
    path = "/v1/orders/{id}",
    tag = TAG,
    params(("id" = String, Path, description = "The order's id, `ord_…`")),
    responses(
        (status = OK, description = "The order", body = Data<OrderOut>),
        GetOrderErrors,
    )
)]
async fn get_order(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let order = state.app.get_order(auth.key_only()?, &id).await?;
    Ok(data(order_out(&order)))
}

errors!(GetOrderErrors: READ; OrderNotFound);

/// List orders
///
/// Newest first.
#[utoipa::path(
    get,
    path = "/v1/orders",
    tag = TAG,
    params(ListOrdersQuery, PageQuery),
    responses(
        (status = OK, description = "A page of orders", body = List<OrderOut>),
        ListOrdersErrors,
    )
)]
async fn list_orders(
    State(state): State<AppState>,
    auth: Auth,
    mut query: Query,
) -> Result<Response, ApiError> {
    let scope = auth.key_only()?;
    let status = query.take_parsed("status", OrderStatus::parse, "open, paid or canceled")?;
    let page = query.page()?;
    query.finish()?;
    let page = state
        .app
        .list_orders(scope, OrderFilter { status, page })
        .await?;
    Ok(list(page, order_out))
}

errors!(ListOrdersErrors: READ QUERY);

/// Update an order
///
/// A field left out is kept. The money fields are locked while a hold is active
/// (`PAYMENT_ATTEMPT_IN_PROGRESS`) and once anything is paid (`ORDER_NOT_EDITABLE`);
/// `reference` and `metadata` stay editable.
#[utoipa::path(
    patch,
    path = "/v1/orders/{id}",
    tag = TAG,
    params(("id" = String, Path, description = "The order's id, `ord_…`"), IdempotencyKeyHeader),
    request_body = UpdateOrderBody,
    responses(
        (status = OK, description = "The updated order", body = Data<OrderOut>),
        UpdateOrderErrors,
    )
)]
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
    let decide = || state.app.update_order(&ctx, &id, req.clone());
    let answer = render(StatusCode::OK, order_out);
    Ok(state.run(&ctx, decide, answer).await)
}

errors!(UpdateOrderErrors: READ BODY IDEMPOTENT;
    OrderNotFound, OrderNotEditable, PaymentAttemptInProgress, OrderCurrencyMismatch);

/// Cancel an order
///
/// Only an open order with no active hold and nothing paid.
#[utoipa::path(
    post,
    path = "/v1/orders/{id}/cancel",
    tag = TAG,
    params(("id" = String, Path, description = "The order's id, `ord_…`"), IdempotencyKeyHeader),
    request_body(content = Option<EmptyBody>),
    responses(
        (status = OK, description = "The canceled order", body = Data<OrderOut>),
        CancelOrderErrors,
    )
)]
async fn cancel_order(
    State(state): State<AppState>,
    Path(id): Path<String>,
    m: Mutation<EmptyBody>,
) -> Result<Response, ApiError> {
    let ctx = m.ctx(m.auth.key_only()?);
    let decide = || state.app.cancel_order(&ctx, &id);
    let answer = render(StatusCode::OK, order_out);
    Ok(state.run(&ctx, decide, answer).await)
}

errors!(CancelOrderErrors: READ BODY IDEMPOTENT;
    OrderNotFound, OrderNotEditable, PaymentAttemptInProgress);

/// Pay an order
///
/// Places the holds (manual capture) or charges (automatic) for every intent named, or for none:
/// if one is declined, the holds already placed in this call are voided, the decline is recorded
/// on its intent, the order does not change, and the call answers 402.
#[utoipa::path(
    post,
    path = "/v1/orders/{id}/pay",
    tag = TAG,
    params(("id" = String, Path, description = "The order's id, `ord_…`"), IdempotencyKeyHeader),
    request_body = PayOrderBody,
    responses(
        (status = OK, description = "The order with its holds or payments", body = Data<OrderOut>),
        PayOrderErrors,
    )
)]
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
    let decide = || state.app.pay_order(&ctx, &id, cmd.clone());
    let answer = render(StatusCode::OK, order_out);
    Ok(state.run(&ctx, decide, answer).await)
}

errors!(PayOrderErrors: READ BODY IDEMPOTENT PROCESSOR;
    OrderNotFound, PaymentIntentNotFound, OrderNotPayable, PaymentAttemptInProgress,
    OrderAmountMismatch, OrderCurrencyMismatch, InvalidStatusForConfirm,
    StrictInventoryDelayedCaptureUnsupported, InvalidPaymentSourceToken, CardDeclined);

/// Capture an order's hold
///
/// An empty body captures the whole hold. Capturing again with the same amount (or none)
/// answers with the order; another amount answers `CAPTURE_AMOUNT_MISMATCH`.
#[utoipa::path(
    post,
    path = "/v1/orders/{id}/payment-intents/{pid}/capture",
    tag = TAG,
    params(("id" = String, Path, description = "The order's id, `ord_…`"), ("pid" = String, Path, description = "The id of one of the order's intents, `pi_…`"), IdempotencyKeyHeader),
    request_body(content = Option<OrderCaptureBody>),
    responses(
        (status = OK, description = "The order after the capture", body = Data<OrderOut>),
        CaptureOrderIntentErrors,
    )
)]
async fn capture_order_payment_intent(
    State(state): State<AppState>,
    Path((id, pid)): Path<(String, String)>,
    m: Mutation<OrderCaptureBody>,
) -> Result<Response, ApiError> {
    let ctx = m.ctx(m.auth.key_only()?);
    let amount = m.body.amount_money.map(Into::into);
    let reference = m.body.reference;
    let final_capture = m.body.final_capture;
    let decide = || {
        state.app.capture_order_intent(
            &ctx,
            &id,
            &pid,
            amount.clone(),
            reference.clone(),
            final_capture,
        )
    };
    let answer = render(StatusCode::OK, order_out);
    Ok(state.run(&ctx, decide, answer).await)
}

errors!(CaptureOrderIntentErrors: READ BODY IDEMPOTENT PROCESSOR;
    OrderNotFound, PaymentIntentNotFound, CaptureAmountMismatch, InvalidStatusForCapture,
    CaptureAmountExceedsAuthorized, CaptureCurrencyMismatch, InvalidCaptureAmount,
    PaymentAuthorizationExpired, MulticaptureNotEnabled);

/// Void an order's hold
///
/// Releases the hold; the order is editable and payable again.
#[utoipa::path(
    post,
    path = "/v1/orders/{id}/payment-intents/{pid}/void",
    tag = TAG,
    params(("id" = String, Path, description = "The order's id, `ord_…`"), ("pid" = String, Path, description = "The id of one of the order's intents, `pi_…`"), IdempotencyKeyHeader),
    request_body(content = Option<EmptyBody>),
    responses(
        (status = OK, description = "The order after the void", body = Data<OrderOut>),
        VoidOrderIntentErrors,
    )
)]
async fn void_order_payment_intent(
    State(state): State<AppState>,
    Path((id, pid)): Path<(String, String)>,
    m: Mutation<EmptyBody>,
) -> Result<Response, ApiError> {
    let ctx = m.ctx(m.auth.key_only()?);
    let decide = || state.app.void_order_intent(&ctx, &id, &pid, None);
    let answer = render(StatusCode::OK, order_out);
    Ok(state.run(&ctx, decide, answer).await)
}

errors!(VoidOrderIntentErrors: READ BODY IDEMPOTENT PROCESSOR;
    OrderNotFound, PaymentIntentNotFound, CannotCancelSucceededPayment, PaymentAlreadyCanceled,
    CannotCancelExpiredPayment);
