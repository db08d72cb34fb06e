//! The route table: one module per resource, merged here. Each route is registered from its
//! handler's `#[utoipa::path]`, so the table and the OpenAPI document are one and the same.

mod checkout_sessions;
mod customers;
mod events;
mod health;
mod orders;
mod payment_intents;
mod refunds;
mod test_clocks;
mod test_helpers;
mod webhook_endpoints;

use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

/// Every route of the API proper: what the guard rails of [`crate::limits`] stand in front of.
pub(crate) fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(payment_intents::router())
        .merge(customers::router())
        .merge(events::router())
        .merge(test_helpers::router())
        .merge(test_clocks::router())
        .merge(orders::router())
        .merge(refunds::router())
        .merge(webhook_endpoints::router())
        .merge(checkout_sessions::router())
}

/// `/healthz` and `/readyz`, kept apart from [`api`] so no limit refuses them.
pub(crate) fn open() -> OpenApiRouter<AppState> {
    health::router()
}
