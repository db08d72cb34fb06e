//! The operations dashboard: server-rendered pages under `/dashboard`, served by `holdfast serve` on
//! the API's port.
//!
//! Every page is a view over the service layer ([`Holdfast`]), exactly as the API is: the same
//! reads, the same use cases, the same rules, codes and events. Nothing here touches the store, and
//! nothing here decides whether a capture (or anything else) is allowed: the domain does, through
//! the service. Every action runs through the service's idempotent runner ([`Holdfast::run`]) with
//! a key minted when its dialog opened and the signed-in user's email as the actor, so a double
//! click or a resubmitted form acts once and the intent's actions say who acted.
//!
//! Templates (askama) and assets (htmx, its SSE extension, the style sheet and a small script) are
//! compiled into the binary: no second process and no build step at run time.

mod actions;
mod assets;
mod auth;
mod error;
pub mod format;
mod hosted;
mod limiter;
mod live;
mod pages;
mod views;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use holdfast_service::Holdfast;
use tokio::sync::watch;

pub use crate::auth::CookieSecurity;
pub use crate::hosted::HostedLimits;
pub use crate::limiter::LoginLimits;

/// How the dashboard runs.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// When the session cookie is marked `Secure` (and named `__Host-…`).
    pub cookie_security: CookieSecurity,
    /// How many failed sign-ins an address or an account may make before a pause.
    pub login_limits: LoginLimits,
    /// How many requests an address may make to the hosted payment pages.
    pub hosted_limits: HostedLimits,
}

/// What every dashboard handler gets.
#[derive(Debug, Clone)]
pub(crate) struct Web {
    pub(crate) app: Arc<Holdfast>,
    pub(crate) options: Options,
    pub(crate) limiter: Arc<limiter::LoginLimiter>,
    pub(crate) hosted_limiter: Arc<hosted::HostedLimiter>,
    /// Turns `true` when the server shuts down: live-update streams end, so the graceful
    /// shutdown is not held open by browsers that keep listening.
    pub(crate) closing: watch::Receiver<bool>,
}

/// The dashboard, ready to be merged into the server's router.
#[derive(Debug)]
pub struct Dashboard {
    web: Web,
    closing: watch::Sender<bool>,
}

impl Dashboard {
    pub fn new(app: Arc<Holdfast>, options: Options) -> Dashboard {
        let (closing, closing_rx) = watch::channel(false);
        let limiter = Arc::new(limiter::LoginLimiter::new(options.login_limits));
        let hosted_limiter = Arc::new(hosted::HostedLimiter::new(options.hosted_limits));
        Dashboard {
            web: Web {
                app,
                options,
                limiter,
                hosted_limiter,
                closing: closing_rx,
            },
            closing,
        }
    }

    /// Ends the live-update streams; call when the server starts shutting down.
    pub fn shut_down(&self) {
        let _ = self.closing.send(true);
    }

    /// A handle that ends the live-update streams when the server shuts down.
    pub fn closer(&self) -> Closer {
        Closer(self.closing.clone())
    }

    /// Every dashboard route, under `/dashboard`.
    pub fn router(&self) -> Router {
        let mode = Router::new()
            .route("/", get(pages::holds::page))
            .route("/holds", get(pages::holds::page))
            .route("/stream", get(live::stream))
            .route("/payment-intents/{id}", get(pages::intent::page))
            .route(
                "/payment-intents/{id}/capture",
                get(pages::intent::capture_dialog).post(pages::intent::capture),
            )
            .route(
                "/payment-intents/{id}/capture/review",
                post(pages::intent::capture_review),
            )
            .route(
                "/payment-intents/{id}/void",
                get(pages::intent::void_dialog).post(pages::intent::void),
            )
            .route(
                "/payment-intents/{id}/refund",
                get(pages::intent::refund_dialog).post(pages::intent::refund),
            )
            .route(
                "/payment-intents/{id}/schedule",
                get(pages::intent::schedule_dialog).post(pages::intent::schedule),
            )
            .route(
                "/payment-intents/{id}/schedule/clear",
                post(pages::intent::clear_schedule),
            )
            .route("/events", get(pages::events::list))
            .route("/events/{id}", get(pages::events::page))
            .route("/events/{id}/resend", post(pages::events::resend))
            .route("/orders", get(pages::orders::list))
            .route("/orders/{id}", get(pages::orders::page))
            .route(
                "/orders/{id}/payment-intents/{pid}/capture",
                get(pages::orders::capture_dialog).post(pages::orders::capture),
            )
            .route(
                "/orders/{id}/payment-intents/{pid}/capture/review",
                post(pages::orders::capture_review),
            )
            .route(
                "/orders/{id}/payment-intents/{pid}/void",
                get(pages::orders::void_dialog).post(pages::orders::void),
            )
            .route(
                "/webhooks",
                get(pages::webhooks::list).post(pages::webhooks::create),
            )
            .route("/webhooks/new", get(pages::webhooks::create_dialog))
            .route("/webhooks/{id}", get(pages::webhooks::page))
            .route("/webhooks/{id}/disable", post(pages::webhooks::disable))
            .route("/webhooks/{id}/enable", post(pages::webhooks::enable))
            .route(
                "/webhooks/{id}/rotate",
                get(pages::webhooks::rotate_dialog).post(pages::webhooks::rotate),
            )
            .route(
                "/test-clocks",
                get(pages::test_clocks::list).post(pages::test_clocks::create),
            )
            .route("/test-clocks/{id}", get(pages::test_clocks::page))
            .route(
                "/test-clocks/{id}/advance",
                post(pages::test_clocks::advance),
            )
            .route("/overview", get(pages::overview::page))
            .route(
                "/api-keys",
                get(pages::admin::api_keys).post(pages::admin::create_api_key),
            )
            .route(
                "/api-keys/{prefix}/revoke",
                post(pages::admin::revoke_api_key),
            )
            .route(
                "/users",
                get(pages::admin::users).post(pages::admin::create_user),
            )
            .route("/users/{id}/disable", post(pages::admin::disable_user))
            .route("/users/{id}/enable", post(pages::admin::enable_user))
            .route(
                "/users/{id}/reset-password",
                post(pages::admin::reset_password),
            );
        let dashboard = Router::new()
            .route("/", get(pages::home))
            .route("/login", get(auth::login_page).post(auth::log_in))
            .route("/logout", post(auth::log_out))
            .route("/assets/{file}", get(assets::serve))
            .nest("/{mode}", mode)
            .fallback(pages::not_found);
        Router::new()
            .nest("/dashboard", dashboard)
            .layer(axum::middleware::from_fn(error::security_headers))
            .with_state(self.web.clone())
    }
}

impl Dashboard {
    /// The hosted payment pages, under `/pay`: public, behind a per-address limit and their own
    /// strict headers (see the `hosted` module).
    pub fn hosted_router(&self) -> Router {
        let pay = Router::new()
            .route("/assets/{file}", get(assets::serve))
            .route("/{id}", get(hosted::show).post(hosted::pay))
            .route(
                "/{id}/authenticate",
                get(hosted::authenticate_page).post(hosted::authenticate),
            );
        Router::new()
            .nest("/pay", pay)
            .layer(axum::middleware::from_fn_with_state(
                self.web.clone(),
                hosted::guard,
            ))
            .with_state(self.web.clone())
    }
}

/// Ends the dashboard's live-update streams when the server shuts down.
#[derive(Debug, Clone)]
pub struct Closer(watch::Sender<bool>);

impl Closer {
    pub fn close(&self) {
        let _ = self.0.send(true);
    }
}
