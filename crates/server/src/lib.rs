//! The `holdfast` program: configuration, start-up and the command line.
//!
//! `main.rs` only parses arguments and calls in here; the integration tests start the same server
//! through [`start`], on a real socket and a real database.

pub mod config;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use holdfast_processor::Sandbox;
use holdfast_service::{Clock, Holdfast, NewMerchant, SystemClock};
use tokio::net::TcpListener;

/// Opens the database (running migrations) and assembles the application.
pub async fn build(database_url: &str, clock: Arc<dyn Clock>) -> anyhow::Result<Arc<Holdfast>> {
    let store = holdfast_store::open(database_url)
        .await
        .with_context(|| format!("opening {}", holdfast_store::redact_url(database_url)))?;
    Ok(Arc::new(Holdfast::new(
        store,
        clock,
        Arc::new(Sandbox::new()),
        None,
    )))
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
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Running> {
    let app = build(database_url, clock).await?;
    let bootstrapped = app
        .bootstrap()
        .await
        .context("creating the default merchant")?;
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    tokio::spawn(housekeeping(Arc::clone(&app)));
    let router = holdfast_http::router(Arc::clone(&app));
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
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

/// How often expired idempotency records are purged.
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
