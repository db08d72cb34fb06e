//! `/v1/webhook-endpoints`: where events are delivered, and their signing secrets.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use holdfast_service::webhooks::{EndpointWithSecret, UpdateEndpoint};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::{
    CreateWebhookEndpointBody, Data, DeletedWebhookEndpointOut, EmptyBody, IdempotencyKeyHeader,
    List, PageQuery, UpdateWebhookEndpointBody, WebhookEndpointOut,
};
use crate::error::ApiError;
use crate::extract::{Auth, Mutation, Query};
use crate::openapi::error_responses::errors;
use crate::respond::{data, list, render, render_sensitive};

const TAG: &str = "Webhook endpoints";

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_webhook_endpoint, list_webhook_endpoints))
        .routes(routes!(
            get_webhook_endpoint,
            update_webhook_endpoint,
            delete_webhook_endpoint
        ))
        .routes(routes!(rotate_webhook_endpoint_secret))
}

fn endpoint_out(e: &EndpointWithSecret) -> WebhookEndpointOut {
    WebhookEndpointOut::new(&e.endpoint, e.secret.clone())
}

/// Create a webhook endpoint
///
/// The answer is the only one that shows the signing `secret`, apart from a rotation's.
#[utoipa::path(
    post,
    path = "/v1/webhook-endpoints",
    tag = TAG,
    params(IdempotencyKeyHeader),
    request_body = CreateWebhookEndpointBody,
    responses(
        (status = CREATED, description = "The new endpoint, with its secret", body = Data<WebhookEndpointOut>),
        CreateEndpointErrors,
    )
)]
async fn create_webhook_endpoint(
    State(state): State<AppState>,
    m: Mutation<CreateWebhookEndpointBody>,
) -> Result<Response, ApiError> {
    let ctx = m.ctx(m.auth.key_only()?);
    let body = m.body;
    let decide = || {
        state.app.create_webhook_endpoint(
            &ctx,
            body.url.clone(),
            body.enabled_events.clone(),
            body.description.clone(),
        )
    };
    let answer = render_sensitive(StatusCode::CREATED, endpoint_out);
    Ok(state.run(&ctx, decide, answer).await)
}

errors!(CreateEndpointErrors: READ BODY IDEMPOTENT; InvalidEventType);

/// Retrieve a webhook endpoint
#[utoipa::path(
    get,
    path = "/v1/webhook-endpoints/{id}",
    tag = TAG,
    params(("id" = String, Path, description = "The endpoint's id, `we_…`")),
    responses(
        (status = OK, description = "The endpoint", body = Data<WebhookEndpointOut>),
        GetEndpointErrors,
    )
)]
async fn get_webhook_endpoint(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let endpoint = state
        .app
        .get_webhook_endpoint(auth.key_only()?, &id)
        .await?;
    Ok(data(WebhookEndpointOut::new(&endpoint, None)))
}

errors!(GetEndpointErrors: READ; WebhookEndpointNotFound);

/// List webhook endpoints
///
/// Newest first.
#[utoipa::path(
    get,
    path = "/v1/webhook-endpoints",
    tag = TAG,
    params(PageQuery),
    responses(
        (status = OK, description = "A page of endpoints", body = List<WebhookEndpointOut>),
        ListEndpointsErrors,
    )
)]
async fn list_webhook_endpoints(
    State(state): State<AppState>,
    auth: Auth,
    mut query: Query,
) -> Result<Response, ApiError> {
    let scope = auth.key_only()?;
    let page = query.page()?;
    query.finish()?;
    let page = state.app.list_webhook_endpoints(scope, page).await?;
    Ok(list(page, |e| WebhookEndpointOut::new(e, None)))
}

errors!(ListEndpointsErrors: READ QUERY);

/// Update a webhook endpoint
///
/// A field left out is kept.
#[utoipa::path(
    patch,
    path = "/v1/webhook-endpoints/{id}",
    tag = TAG,
    params(("id" = String, Path, description = "The endpoint's id, `we_…`"), IdempotencyKeyHeader),
    request_body = UpdateWebhookEndpointBody,
    responses(
        (status = OK, description = "The updated endpoint", body = Data<WebhookEndpointOut>),
        UpdateEndpointErrors,
    )
)]
async fn update_webhook_endpoint(
    State(state): State<AppState>,
    Path(id): Path<String>,
    m: Mutation<UpdateWebhookEndpointBody>,
) -> Result<Response, ApiError> {
    let ctx = m.ctx(m.auth.key_only()?);
    let body = m.body;
    let req = UpdateEndpoint {
        url: body.url,
        enabled_events: body.enabled_events,
        description: body.description,
        disabled: body.disabled,
    };
    let decide = || state.app.update_webhook_endpoint(&ctx, &id, req.clone());
    let answer = render(StatusCode::OK, endpoint_out);
    Ok(state.run(&ctx, decide, answer).await)
}

errors!(UpdateEndpointErrors: READ BODY IDEMPOTENT; WebhookEndpointNotFound, InvalidEventType);

/// Delete a webhook endpoint
///
/// Its pending deliveries end `canceled`.
#[utoipa::path(
    delete,
    path = "/v1/webhook-endpoints/{id}",
    tag = TAG,
    params(("id" = String, Path, description = "The endpoint's id, `we_…`"), IdempotencyKeyHeader),
    responses(
        (status = OK, description = "The endpoint is deleted", body = Data<DeletedWebhookEndpointOut>),
        DeleteEndpointErrors,
    )
)]
async fn delete_webhook_endpoint(
    State(state): State<AppState>,
    Path(id): Path<String>,
    m: Mutation<EmptyBody>,
) -> Result<Response, ApiError> {
    let endpoint = state
        .app
        .delete_webhook_endpoint(m.auth.key_only()?, &id)
        .await?;
    Ok(data(DeletedWebhookEndpointOut {
        webhook_endpoint_id: endpoint.id,
        deleted: true,
    }))
}

errors!(DeleteEndpointErrors: READ BODY; WebhookEndpointNotFound);

/// Rotate an endpoint's signing secret
///
/// The answer shows the new secret. The old one keeps signing beside it for 24 hours.
#[utoipa::path(
    post,
    path = "/v1/webhook-endpoints/{id}/rotate-secret",
    tag = TAG,
    params(("id" = String, Path, description = "The endpoint's id, `we_…`"), IdempotencyKeyHeader),
    request_body(content = Option<EmptyBody>),
    responses(
        (status = OK, description = "The endpoint, with its new secret", body = Data<WebhookEndpointOut>),
        RotateSecretErrors,
    )
)]
async fn rotate_webhook_endpoint_secret(
    State(state): State<AppState>,
    Path(id): Path<String>,
    m: Mutation<EmptyBody>,
) -> Result<Response, ApiError> {
    let ctx = m.ctx(m.auth.key_only()?);
    let decide = || state.app.rotate_webhook_secret(&ctx, &id);
    let answer = render_sensitive(StatusCode::OK, endpoint_out);
    Ok(state.run(&ctx, decide, answer).await)
}

errors!(RotateSecretErrors: READ BODY IDEMPOTENT; WebhookEndpointNotFound);
