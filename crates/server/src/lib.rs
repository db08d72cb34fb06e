//! The `holdfast` program: configuration, start-up and the command line.
//!
//! `main.rs` only parses arguments and calls in here; the integration tests start the same server
//! through [`start`], on a real socket and a real database.

pub mod config;
pub mod holds;
pub mod users;
pub mod webhooks;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use holdfast_processor::Sandbox;
use holdfast_service::{Clock, Holdfast, NewMerchant, Outcome, Settings, SystemClock};
use tokio::net::TcpListener;

/// Opens the database (running migrations) and assembles the application.
pub async fn build(
    database_url: &str,
    clock: Arc<dyn Clock>,
    settings: Settings,
) -> anyhow::Result<Arc<Holdfast>> {
    let store = holdfast_store::open(database_url)
        .await
        .with_context(|| format!("opening {}", holdfast_store::redact_url(database_url)))?;
    Ok(Arc::new(
        Holdfast::new(store, clock, Arc::new(Sandbox::new()), None).with_settings(settings),
    ))
}

/// How `start` runs.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub settings: Settings,
    /// Run no background workers (deadlines, housekeeping): only the HTTP API.
    pub without_workers: bool,
    /// The API's rate limits, concurrency cap and request timeout (the dashboard's too).
    pub limits: holdfast_http::Limits,
    /// The dashboard's cookie and sign-in settings.
    pub dashboard: holdfast_web::Options,
}

/// A server answering on a socket.
#[derive(Debug)]
pub struct Running {
    pub addr: SocketAddr,
    pub app: Arc<Holdfast>,
    /// Set when the database was empty and the `default` merchant was created.
    pub bootstrapped: Option<NewMerchant>,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Binds, bootstraps an empty database, and serves until `shutdown` completes; then stops taking
/// connections and lets requests in flight finish.
pub async fn start(
    listen: SocketAddr,
    database_url: &str,
    clock: Arc<dyn Clock>,
    options: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Running> {
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    let mut settings = options.settings;
    if settings.public_url.is_none() {
        settings.public_url = Some(format!("http://{addr}"));
    }
    let app = build(database_url, clock, settings).await?;
    let bootstrapped = app
        .bootstrap()
        .await
        .context("creating the default merchant")?;
    if !options.without_workers {
        spawn_workers(&app);
    }
    // The dashboard's pages and the hosted payment pages sit beside the API, behind the same
    // request ids and guard rails.
    let dashboard = holdfast_web::Dashboard::new(Arc::clone(&app), options.dashboard);
    let pages = dashboard.router().merge(dashboard.hosted_router());
    let router = holdfast_http::router_with_pages(Arc::clone(&app), options.limits, pages);
    let closer = dashboard.closer();
    let shutdown = async move {
        shutdown.await;
        // Live-update streams never end by themselves: end them, or shutdown waits on them.
        closer.close();
    };
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
    });
    Ok(Running {
        addr,
        app,
        bootstrapped,
        task,
    })
}

/// Starts the background workers on the current runtime; they run until the process exits.
pub fn spawn_workers(app: &Arc<Holdfast>) {
    tokio::spawn(deadline_worker(Arc::clone(app)));
    tokio::spawn(delivery_worker(Arc::clone(app)));
    tokio::spawn(housekeeping(Arc::clone(app)));
}

/// Due intents claimed per pass of the deadline worker.
pub const DEADLINE_BATCH_MAX: u32 = 500;
/// How long the deadline worker sleeps when nothing is due: a hold expires within this (plus a
/// batch's work) of its deadline.
const DEADLINE_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// Expires holds, sends expiring-soon warnings and runs scheduled actions as they fall due.
/// A full batch means more may be waiting, so the next pass starts at once.
async fn deadline_worker(app: Arc<Holdfast>) {
    loop {
        match app.run_due_once(DEADLINE_BATCH_MAX).await {
            Ok(Outcome::Worked(n)) if n >= DEADLINE_BATCH_MAX as usize => continue,
            Ok(Outcome::Worked(n)) => tracing::debug!(intents = n, "deadline work done"),
            Ok(Outcome::Idle) => {}
            Err(e) => tracing::warn!(error = %e, "deadline worker pass failed"),
        }
        if let Err(e) = app
            .expire_due_checkout_sessions_once(DEADLINE_BATCH_MAX)
            .await
        {
            tracing::warn!(error = %e, "expiring checkout sessions failed");
        }
        if let Err(e) = app.resolve_stale_refunds_once(DEADLINE_BATCH_MAX).await {
            tracing::warn!(error = %e, "resolving stale refunds failed");
        }
        tokio::time::sleep(DEADLINE_POLL).await;
    }
}

/// Delivers webhooks from the outbox as they fall due. A full batch means more may be waiting.
async fn delivery_worker(app: Arc<Holdfast>) {
    let client = webhooks::client();
    loop {
        match webhooks::deliver_once(&app, &client, webhooks::DELIVERY_BATCH_MAX).await {
            Ok(n) if n >= webhooks::DELIVERY_BATCH_MAX as usize => continue,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "webhook delivery pass failed"),
        }
        tokio::time::sleep(DELIVERY_POLL).await;
    }
}

/// How long the delivery worker sleeps when nothing is due.
const DELIVERY_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// How often expired idempotency records and ended dashboard sessions are purged.
const HOUSEKEEPING_INTERVAL: std::time::Duration = std::time::Duration::from_secs(600);

/// Background housekeeping for as long as the server runs. Safe on several processes at once:
/// each batch delete is idempotent.
async fn housekeeping(app: Arc<Holdfast>) {
    let mut tick = tokio::time::interval(HOUSEKEEPING_INTERVAL);
    loop {
        tick.tick().await;
        match app.purge_idempotency_keys(100).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "purged expired idempotency keys"),
            Err(e) => tracing::warn!(error = %e, "idempotency key purge failed"),
        }
        match app.purge_sessions(100).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "purged ended dashboard sessions"),
            Err(e) => tracing::warn!(error = %e, "dashboard session purge failed"),
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        () = terminate => {}
    }
}

/// Uses the system clock.
pub fn system_clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}
