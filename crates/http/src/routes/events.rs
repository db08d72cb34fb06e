//! `/v1/events`: the durable record of every state change, newest first.

use axum::extract::{Path, State};
use axum::response::Response;
use holdfast_domain::EventType;
use holdfast_store::EventFilter;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::dto::{
    Data, DeliveryOut, EmptyBody, EventOut, IdempotencyKeyHeader, List, ListEventsQuery, PageQuery,
    ResentEventOut,
};
use crate::error::ApiError;
use crate::extract::{Auth, Mutation, Query};
use crate::openapi::error_responses::errors;
use crate::respond::{data, list};

const TAG: &str = "Events";

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_events))
        .routes(routes!(get_event))
        .routes(routes!(list_event_deliveries))
        .routes(routes!(resend_event))
}

/// List events
///
/// Newest first.
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = TAG,
    params(ListEventsQuery, PageQuery),
    responses(
        (status = OK, description = "A page of events", body = List<EventOut>),
        ListEventsErrors,
    )
)]
async fn list_events(
    State(state): State<AppState>,
    auth: Auth,
    mut query: Query,
) -> Result<Response, ApiError> {
    let scope = auth.key_only()?;
    let kind = query.take_parsed("type", EventType::parse, "an event type")?;
    let payment_intent_id = query.take("payment_intent_id")?;
    let page = query.page()?;
    query.finish()?;
    let filter = EventFilter {
        kind,
        payment_intent_id,
        page,
    };
    let page = state.app.list_events(scope, filter).await?;
    Ok(list(page, |e| EventOut::from(e)))
}

errors!(ListEventsErrors: READ QUERY);

/// Retrieve an event
#[utoipa::path(
    get,
    path = "/v1/events/{id}",
    tag = TAG,
    params(("id" = String, Path, description = "The event's id, `evt_…`")),
    responses(
        (status = OK, description = "The event", body = Data<EventOut>),
        GetEventErrors,
    )
)]
async fn get_event(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let scope = auth.key_only()?;
    let event = state.app.get_event(scope, &id).await?;
    Ok(data(EventOut::from(&event)))
}

errors!(GetEventErrors: READ; EventNotFound);

/// List an event's deliveries
///
/// One delivery per endpoint the event was sent to, each with its attempts: time, status code,
/// latency, error and next attempt.
#[utoipa::path(
    get,
    path = "/v1/events/{id}/deliveries",
    tag = TAG,
    params(("id" = String, Path, description = "The event's id, `evt_…`")),
    responses(
        (status = OK, description = "The event's deliveries", body = Data<Vec<DeliveryOut>>),
        ListDeliveriesErrors,
    )
)]
async fn list_event_deliveries(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let deliveries = state.app.event_deliveries(auth.key_only()?, &id).await?;
    Ok(data(
        deliveries.iter().map(DeliveryOut::from).collect::<Vec<_>>(),
    ))
}

errors!(ListDeliveriesErrors: READ; EventNotFound);

/// Resend an event
///
/// Queues the event again for every enabled endpoint that wants it. Idempotent by nature: a
/// repeat queues the same deliveries, so no answer is stored under the `Idempotency-Key`.
#[utoipa::path(
    post,
    path = "/v1/events/{id}/resend",
    tag = TAG,
    params(("id" = String, Path, description = "The event's id, `evt_…`"), IdempotencyKeyHeader),
    request_body(content = Option<EmptyBody>),
    responses(
        (status = OK, description = "How many deliveries were queued", body = Data<ResentEventOut>),
        ResendEventErrors,
    )
)]
async fn resend_event(
    State(state): State<AppState>,
    Path(id): Path<String>,
    m: Mutation<EmptyBody>,
) -> Result<Response, ApiError> {
    let queued = state.app.resend_event(m.auth.key_only()?, &id).await?;
    Ok(data(ResentEventOut {
        id,
        queued_deliveries: queued,
    }))
}

errors!(ResendEventErrors: READ BODY; EventNotFound);
