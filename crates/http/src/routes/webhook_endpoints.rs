//! `/v1/webhook-endpoints`: where events are delivered, and their signing secrets.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use holdfast_service::webhooks::{EndpointWithSecret, UpdateEndpoint};

use crate::dto::{
    CreateWebhookEndpointBody, Data, EmptyBody, List, UpdateWebhookEndpointBody, WebhookEndpointOut,
};
use crate::error::{ApiError, reply_response};
use crate::extract::{Auth, Mutation, Query};
use crate::routes::events::page_request;
use crate::{AppState, render, render_sensitive};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/webhook-endpoints",
            post(create_webhook_endpoint).get(list_webhook_endpoints),
        )
        .route(
            "/v1/webhook-endpoints/{id}",
            get(get_webhook_endpoint)
                .patch(update_webhook_endpoint)
                .delete(delete_webhook_endpoint),
        )
        .route(
            "/v1/webhook-endpoints/{id}/rotate-secret",
            post(rotate_webhook_endpoint_secret),
        )
}

fn endpoint_out(e: &EndpointWithSecret) -> WebhookEndpointOut {
    WebhookEndpointOut::new(&e.endpoint, e.secret.clone())
}

async fn create_webhook_endpoint(
    State(state): State<AppState>,
    m: Mutation<CreateWebhookEndpointBody>,
) -> Result<Response, ApiError> {
    let ctx = m.ctx(m.auth.key_only()?);
    let body = m.body;
    let app = &state.app;
    let reply = app
        .run(
            &ctx,
            || {
                app.create_webhook_endpoint(
                    &ctx,
                    body.url.clone(),
                    body.enabled_events.clone(),
                    body.description.clone(),
                )
            },
            render_sensitive(StatusCode::CREATED, endpoint_out),
        )
        .await;
    Ok(reply_response(reply))
}

async fn get_webhook_endpoint(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let endpoint = state
        .app
        .get_webhook_endpoint(auth.key_only()?, &id)
        .await?;
    Ok(Json(Data {
        data: WebhookEndpointOut::new(&endpoint, None),
    })
    .into_response())
}

async fn list_webhook_endpoints(
    State(state): State<AppState>,
    auth: Auth,
    mut query: Query,
) -> Result<Response, ApiError> {
    let scope = auth.key_only()?;
    let page = page_request(&mut query)?;
    query.finish()?;
    let page = state.app.list_webhook_endpoints(scope, page).await?;
    Ok(Json(List {
        data: page
            .data
            .iter()
            .map(|e| WebhookEndpointOut::new(e, None))
            .collect(),
        has_more: page.has_more,
        next_cursor: page.next_cursor,
    })
    .into_response())
}

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
    let app = &state.app;
    let reply = app
        .run(
            &ctx,
            || app.update_webhook_endpoint(&ctx, &id, req.clone()),
            render(StatusCode::OK, endpoint_out),
        )
        .await;
    Ok(reply_response(reply))
}

async fn delete_webhook_endpoint(
    State(state): State<AppState>,
    Path(id): Path<String>,
    m: Mutation<EmptyBody>,
) -> Result<Response, ApiError> {
    let endpoint = state
        .app
        .delete_webhook_endpoint(m.auth.key_only()?, &id)
        .await?;
    Ok(Json(serde_json::json!({
        "data": { "webhook_endpoint_id": endpoint.id, "deleted": true }
    }))
    .into_response())
}

async fn rotate_webhook_endpoint_secret(
    State(state): State<AppState>,
    Path(id): Path<String>,
    m: Mutation<EmptyBody>,
) -> Result<Response, ApiError> {
    let ctx = m.ctx(m.auth.key_only()?);
    let app = &state.app;
    let reply = app
        .run(
            &ctx,
            || app.rotate_webhook_secret(&ctx, &id),
            render_sensitive(StatusCode::OK, endpoint_out),
        )
        .await;
    Ok(reply_response(reply))
}
