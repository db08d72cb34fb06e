//! `/v1/customers` and their saved cards.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use holdfast_domain::customer::{CreateCustomer, Customer, SavedPaymentMethod};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::{
    CreateCustomerBody, CustomerOut, Data, IdempotencyKeyHeader, PaymentMethodOut,
    SavePaymentMethodBody,
};
use crate::error::ApiError;
use crate::extract::{Auth, Mutation};
use crate::openapi::error_responses::errors;
use crate::respond::{data, render};

const TAG: &str = "Customers";

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_customer))
        .routes(routes!(get_customer))
        .routes(routes!(save_payment_method))
}

/// Create a customer
#[utoipa::path(
    post,
    path = "/v1/customers",
    tag = TAG,
    params(IdempotencyKeyHeader),
    request_body(content = Option<CreateCustomerBody>),
    responses(
        (status = CREATED, description = "The new customer", body = Data<CustomerOut>),
        CreateCustomerErrors,
    )
)]
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
    let decide = || state.app.create_customer(&ctx, req.clone());
    let answer = render(StatusCode::CREATED, |c: &Customer| CustomerOut::from(c));
    Ok(state.run(&ctx, decide, answer).await)
}

errors!(CreateCustomerErrors: READ BODY IDEMPOTENT);

/// Retrieve a customer
#[utoipa::path(
    get,
    path = "/v1/customers/{id}",
    tag = TAG,
    params(("id" = String, Path, description = "The customer's id, `cus_…`")),
    responses(
        (status = OK, description = "The customer", body = Data<CustomerOut>),
        GetCustomerErrors,
    )
)]
async fn get_customer(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let customer = state.app.get_customer(auth.key_only()?, &id).await?;
    Ok(data(CustomerOut::from(&customer)))
}

errors!(GetCustomerErrors: READ; CustomerNotFound);

/// Save a card
///
/// Its `payment_method_id` can then confirm this customer's intents, in the same merchant and
/// mode only.
#[utoipa::path(
    post,
    path = "/v1/customers/{id}/payment-methods",
    tag = TAG,
    params(("id" = String, Path, description = "The customer's id, `cus_…`"), IdempotencyKeyHeader),
    request_body = SavePaymentMethodBody,
    responses(
        (status = CREATED, description = "The saved card", body = Data<PaymentMethodOut>),
        SavePaymentMethodErrors,
    )
)]
async fn save_payment_method(
    State(state): State<AppState>,
    Path(id): Path<String>,
    m: Mutation<SavePaymentMethodBody>,
) -> Result<Response, ApiError> {
    let ctx = m.ctx(m.auth.key_only()?);
    let token = m.body.payment_source_token;
    let decide = || state.app.save_payment_method(&ctx, &id, token.clone());
    let answer = render(StatusCode::CREATED, |m: &SavedPaymentMethod| {
        PaymentMethodOut::from(m)
    });
    Ok(state.run(&ctx, decide, answer).await)
}

errors!(SavePaymentMethodErrors: READ BODY IDEMPOTENT PROCESSOR;
    CustomerNotFound, InvalidPaymentSourceToken);
