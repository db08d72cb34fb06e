//! `/v1/events`: the durable record of every state change, newest first.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use holdfast_domain::{ErrorCode, EventType};
use holdfast_store::{EventFilter, PageRequest};

use crate::AppState;
use crate::dto::{Data, DeliveryOut, EmptyBody, EventOut, List};
use crate::error::ApiError;
use crate::extract::{Auth, Mutation, Query};

/// Default and largest page sizes.
pub(crate) const PAGE_LIMIT_DEFAULT: u32 = 20;
pub(crate) const PAGE_LIMIT_MAX: u32 = 100;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/events", get(list_events))
        .route("/v1/events/{id}", get(get_event))
        .route("/v1/events/{id}/deliveries", get(list_event_deliveries))
        .route("/v1/events/{id}/resend", post(resend_event))
}

/// Reads `limit` (1–100, default 20) and `cursor`.
pub(crate) fn page_request(query: &mut Query) -> Result<PageRequest, ApiError> {
    let limit = query
        .take_parsed(
            "limit",
            |s| {
                s.parse::<u32>()
                    .ok()
                    .filter(|n| (1..=PAGE_LIMIT_MAX).contains(n))
            },
            "an integer from 1 to 100",
        )?
        .unwrap_or(PAGE_LIMIT_DEFAULT);
    let cursor = query.take("cursor")?;
    if cursor.as_ref().is_some_and(String::is_empty) {
        return Err(ApiError::param(
            ErrorCode::InvalidParameter,
            "cursor",
            "cursor must not be empty",
        ));
    }
    Ok(PageRequest { limit, cursor })
}

async fn list_events(
    State(state): State<AppState>,
    auth: Auth,
    mut query: Query,
) -> Result<Response, ApiError> {
    let scope = auth.key_only()?;
    let kind = query.take_parsed("type", EventType::parse, "an event type")?;
    let payment_intent_id = query.take("payment_intent_id")?;
    let page = page_request(&mut query)?;
    query.finish()?;
    let filter = EventFilter {
        kind,
        payment_intent_id,
        page,
    };
    let page = state.app.list_events(scope, filter).await?;
    Ok(Json(List {
        data: page.data.iter().map(EventOut::from).collect(),
        has_more: page.has_more,
        next_cursor: page.next_cursor,
    })
    .into_response())
}

async fn get_event(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let scope = auth.key_only()?;
    let event = state.app.get_event(scope, &id).await?;
    Ok(Json(Data {
        data: EventOut::from(&event),
    })
    .into_response())
}

async fn list_event_deliveries(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let deliveries = state.app.event_deliveries(auth.key_only()?, &id).await?;
    Ok(Json(Data {
        data: deliveries.iter().map(DeliveryOut::from).collect::<Vec<_>>(),
    })
    .into_response())
}

/// Queues the event again for every matching endpoint. Idempotent by nature: a repeat queues
/// the same deliveries.
async fn resend_event(
    State(state): State<AppState>,
    Path(id): Path<String>,
    m: Mutation<EmptyBody>,
) -> Result<Response, ApiError> {
    let queued = state.app.resend_event(m.auth.key_only()?, &id).await?;
    Ok(
        Json(serde_json::json!({ "data": { "id": id, "queued_deliveries": queued } }))
            .into_response(),
    )
}
