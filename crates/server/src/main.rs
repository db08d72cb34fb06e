//! `holdfast`: parses the command line and runs the chosen command.

use anyhow::{Context, bail};
use clap::Parser;
use holdfast::config::{
    Cli, Command, DeadlineArgs, HostedArgs, KeysCommand, MerchantsCommand, Mode, SecretsArgs,
    WebhooksCommand,
};
use holdfast_service::Settings;
use serde_json::json;

/// mimalloc instead of the system allocator: a request allocates many small JSON values, and
/// glibc's allocator took about a fifth of the request threads' time (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(log_filter())
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let clock = holdfast::system_clock();
    match cli.command {
        Command::Serve(args) => {
            let options = holdfast::Options {
                settings: settings(Some(&args.deadlines), &args.secrets, Some(&args.hosted))?,
                without_workers: args.no_workers,
                limits: args.limits.limits().map_err(anyhow::Error::msg)?,
                dashboard: args.dashboard.options(&args.hosted),
            };
            let running = holdfast::start(
                args.listen,
                &args.database.database_url,
                clock,
                options,
                holdfast::shutdown_signal(),
            )
            .await?;
            if let Some(created) = &running.bootstrapped {
                println!(
                    "Created merchant \"default\" ({}) on an empty database.\n\
                     Test secret key (shown once, keep it): {}",
                    created.merchant.id, created.test_key
                );
            }
            println!("holdfast listening on http://{}", running.addr);
            tracing::info!(
                addr = %running.addr,
                database = %holdfast_store::redact_url(&args.database.database_url),
                "serving"
            );
            running.task.await.context("server task")??;
            tracing::info!("shut down cleanly");
        }
        Command::Worker(args) => {
            let app = holdfast::build(
                &args.database.database_url,
                clock,
                settings(None, &args.secrets, None)?,
            )
            .await?;
            holdfast::spawn_workers(&app);
            tracing::info!("workers running");
            holdfast::shutdown_signal().await;
            tracing::info!("shut down cleanly");
        }
        Command::Holds(args) => {
            let app =
                holdfast::build(&args.database.database_url, clock, Settings::default()).await?;
            print!(
                "{}",
                holdfast::holds::table(&app, args.expiring_within).await?
            );
        }
        Command::Webhooks(WebhooksCommand::Verify { secret, headers }) => {
            let mut body = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin(), &mut body)?;
            let headers = headers
                .iter()
                .map(|h| {
                    h.split_once(':')
                        .map(|(n, v)| (n.to_owned(), v.to_owned()))
                        .ok_or_else(|| anyhow::anyhow!("--header takes `name: value`, got {h:?}"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            match holdfast::webhooks::verify(&secret, &headers, &body) {
                Ok(()) => println!("valid"),
                Err(e) => {
                    eprintln!("invalid: {e}");
                    std::process::exit(1);
                }
            }
        }
        Command::Bench(args) => {
            let exe = std::env::current_exe().context("finding the holdfast binary")?;
            holdfast_bench::run(args.options(exe)).await?;
        }
        Command::Openapi => print!("{}", holdfast_http::openapi::to_json()?),
        Command::Migrate(args) => {
            holdfast::build(&args.database_url, clock, Settings::default()).await?;
            eprintln!("migrations applied");
        }
        Command::Merchants(MerchantsCommand::Create { name, database }) => {
            let app = holdfast::build(&database.database_url, clock, Settings::default()).await?;
            let created = app.create_merchant(&name).await?;
            println!(
                "{}",
                json!({
                    "merchant_id": created.merchant.id,
                    "name": created.merchant.name,
                    "api_keys": { "test": created.test_key, "live": created.live_key },
                })
            );
        }
        Command::Keys(KeysCommand::Create {
            merchant,
            mode,
            database,
        }) => {
            let app = holdfast::build(&database.database_url, clock, Settings::default()).await?;
            let key = app
                .create_api_key(&merchant, matches!(mode, Mode::Live))
                .await?;
            println!("{}", json!({ "api_key": key }));
        }
        Command::Keys(KeysCommand::Revoke {
            key_prefix,
            database,
        }) => {
            let app = holdfast::build(&database.database_url, clock, Settings::default()).await?;
            let revoked = app.revoke_api_key(&key_prefix).await?;
            if revoked == 0 {
                bail!("no live API key has the prefix {key_prefix}");
            }
            println!("{}", json!({ "revoked": revoked }));
        }
        Command::Users(command) => holdfast::users::run(command, clock).await?,
    }
    Ok(())
}

/// Dependencies whose debug output is request data. tokio-postgres logs every statement with its
/// parameters: intent and card documents, and the stored answers that replay idempotent requests,
/// client secrets and webhook signing secrets among them. They stay at `info` under
/// `HOLDFAST_LOG=debug`, and log more only when `HOLDFAST_LOG` names them itself.
const QUIET_DEPENDENCIES: &str = "tokio_postgres=info";

/// `HOLDFAST_LOG` (default `info`) after [`QUIET_DEPENDENCIES`]; a later directive for the same
/// target replaces an earlier one.
fn log_filter() -> tracing_subscriber::EnvFilter {
    use tracing_subscriber::EnvFilter;
    let wanted = std::env::var("HOLDFAST_LOG").unwrap_or_else(|_| "info".to_owned());
    EnvFilter::try_new(format!("{QUIET_DEPENDENCIES},{wanted}"))
        .unwrap_or_else(|_| EnvFilter::new(format!("{QUIET_DEPENDENCIES},info")))
}

fn settings(
    deadlines: Option<&DeadlineArgs>,
    secrets: &SecretsArgs,
    hosted: Option<&HostedArgs>,
) -> anyhow::Result<Settings> {
    let defaults = Settings::default();
    Ok(Settings {
        expiry_warning_lead_seconds: deadlines.map_or(defaults.expiry_warning_lead_seconds, |d| {
            d.expiry_warning_lead
        }),
        secrets_key: secrets.key()?,
        webhook_retry_schedule: secrets.schedule()?,
        public_url: hosted.and_then(|h| h.public_url.clone()),
    })
}
