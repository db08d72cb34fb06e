//! `/v1/customers` and their saved cards.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use holdfast_domain::customer::{CreateCustomer, Customer, SavedPaymentMethod};

use crate::dto::{CreateCustomerBody, CustomerOut, Data, PaymentMethodOut, SavePaymentMethodBody};
use crate::error::{ApiError, reply_response};
use crate::extract::{Auth, Mutation};
use crate::{AppState, render};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/customers", post(create_customer))
        .route("/v1/customers/{id}", get(get_customer))
        .route(
            "/v1/customers/{id}/payment-methods",
            post(save_payment_method),
        )
}

async fn create_customer(
    State(state): State<AppState>,
    m: Mutation<CreateCustomerBody>,
) -> Result<Response, ApiError> {
    let ctx = m.ctx(m.auth.key_only()?);
    let req = CreateCustomer {
        email: m.body.email,
        name: m.body.name,
        metadata: m.body.metadata,
    };
    let app = &state.app;
    let reply = app
        .run(
            &ctx,
            || app.create_customer(&ctx, req.clone()),
            render(StatusCode::CREATED, |c: &Customer| CustomerOut::from(c)),
        )
        .await;
    Ok(reply_response(reply))
}

async fn get_customer(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let customer = state.app.get_customer(auth.key_only()?, &id).await?;
    Ok(Json(Data {
        data: CustomerOut::from(&customer),
    })
    .into_response())
}

async fn save_payment_method(
    State(state): State<AppState>,
    Path(id): Path<String>,
    m: Mutation<SavePaymentMethodBody>,
) -> Result<Response, ApiError> {
    let ctx = m.ctx(m.auth.key_only()?);
    let token = m.body.payment_source_token;
    let app = &state.app;
    let reply = app
        .run(
            &ctx,
            || app.save_payment_method(&ctx, &id, token.clone()),
            render(StatusCode::CREATED, |m: &SavedPaymentMethod| {
                PaymentMethodOut::from(m)
            }),
        )
        .await;
    Ok(reply_response(reply))
}
