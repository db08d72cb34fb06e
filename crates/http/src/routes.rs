//! The route table: one module per resource, merged here.

mod customers;
mod events;
mod health;
mod orders;
mod payment_intents;
mod refunds;
mod test_clocks;
mod test_helpers;
mod webhook_endpoints;

use axum::Router;

use crate::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .merge(health::router())
        .merge(payment_intents::router())
        .merge(customers::router())
        .merge(events::router())
        .merge(test_helpers::router())
        .merge(test_clocks::router())
        .merge(orders::router())
        .merge(refunds::router())
        .merge(webhook_endpoints::router())
}
