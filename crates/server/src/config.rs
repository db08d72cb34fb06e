//! The command line. Every option can also be set from the environment (`HOLDFAST_…`).

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand, ValueEnum};
use holdfast_http::{Limits, Rate};

#[derive(Debug, Parser)]
#[command(
    name = "holdfast",
    version,
    about = "Self-hosted manual capture and authorization API"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API.
    Serve(ServeArgs),
    /// Run only the background workers (deadlines, webhook deliveries, housekeeping), e.g. beside
    /// API-only nodes started with `serve --no-workers`.
    Worker(WorkerArgs),
    /// Apply database migrations and exit.
    Migrate(DatabaseArgs),
    /// List open holds, soonest deadline first, as a table.
    Holds(HoldsArgs),
    /// Webhook tools.
    #[command(subcommand)]
    Webhooks(WebhooksCommand),
    /// Load-test the payment flows and report throughput, latency and server cost.
    Bench(BenchArgs),
    /// Manage merchants.
    #[command(subcommand)]
    Merchants(MerchantsCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage the dashboard's users.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Print the OpenAPI 3.1 document of the API (the one served at `/openapi.json`).
    Openapi,
}

#[derive(Debug, Args)]
pub struct DatabaseArgs {
    /// `sqlite://PATH` (created if missing) or `postgres://USER@HOST:PORT/DB`.
    #[arg(
        long,
        env = "HOLDFAST_DATABASE_URL",
        default_value = "sqlite://holdfast.db"
    )]
    pub database_url: String,
}

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Check a Standard Webhooks signature: the body on stdin, the headers as arguments.
    /// Exits 0 and prints `valid` when it checks out, 1 otherwise.
    Verify {
        /// The endpoint's signing secret (`whsec_…`).
        #[arg(long, env = "HOLDFAST_WEBHOOK_SECRET")]
        secret: String,
        /// `name: value`, repeated: `webhook-id`, `webhook-timestamp`, `webhook-signature`.
        #[arg(long = "header")]
        headers: Vec<String>,
    },
}

/// Where the key that seals webhook signing secrets comes from. Every node sharing a database
/// needs the same key.
#[derive(Debug, Args)]
pub struct SecretsArgs {
    /// The key itself, base64 of 32 bytes (`openssl rand -base64 32`).
    #[arg(long, env = "HOLDFAST_SECRETS_KEY", hide_env_values = true)]
    pub secrets_key: Option<String>,
    /// Otherwise, a file holding it; created (mode 0600) with a fresh key if missing.
    #[arg(
        long,
        env = "HOLDFAST_SECRETS_KEY_FILE",
        default_value = "holdfast.key"
    )]
    pub secrets_key_file: std::path::PathBuf,
    /// Seconds between webhook attempts after each failure, e.g. `5s,5m,30m,2h`; the default is
    /// the documented schedule (ten attempts over about three days).
    #[arg(long, env = "HOLDFAST_WEBHOOK_RETRY_SCHEDULE")]
    pub webhook_retry_schedule: Option<String>,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "HOLDFAST_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Serve the API only; run the background workers elsewhere with `holdfast worker`.
    #[arg(long, env = "HOLDFAST_NO_WORKERS")]
    pub no_workers: bool,
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub deadlines: DeadlineArgs,
    #[command(flatten)]
    pub secrets: SecretsArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub dashboard: DashboardArgs,
    #[command(flatten)]
    pub hosted: HostedArgs,
}

/// The dashboard (`/dashboard`): its session cookie and sign-in limits.
#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// When the session cookie is `Secure` (and named `__Host-holdfast_session`): `auto` when the
    /// request came over HTTPS as a TLS-terminating proxy says (`X-Forwarded-Proto: https`),
    /// `always`, or `never`.
    #[arg(
        long,
        env = "HOLDFAST_DASHBOARD_SECURE_COOKIE",
        value_enum,
        default_value = "auto"
    )]
    pub dashboard_secure_cookie: CookieMode,
    /// Failed sign-ins one email may make in 15 minutes before it is paused; `0`: no limit.
    #[arg(long, env = "HOLDFAST_DASHBOARD_LOGIN_ATTEMPTS_PER_ACCOUNT", default_value_t = holdfast_web::LoginLimits::DEFAULT.per_account)]
    pub dashboard_login_attempts_per_account: u32,
    /// Failed sign-ins one address may make in 15 minutes before it is paused; `0`: no limit.
    #[arg(long, env = "HOLDFAST_DASHBOARD_LOGIN_ATTEMPTS_PER_ADDRESS", default_value_t = holdfast_web::LoginLimits::DEFAULT.per_address)]
    pub dashboard_login_attempts_per_address: u32,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CookieMode {
    Auto,
    Always,
    Never,
}

impl DashboardArgs {
    pub fn options(&self, hosted: &HostedArgs) -> holdfast_web::Options {
        holdfast_web::Options {
            cookie_security: match self.dashboard_secure_cookie {
                CookieMode::Auto => holdfast_web::CookieSecurity::Auto,
                CookieMode::Always => holdfast_web::CookieSecurity::Always,
                CookieMode::Never => holdfast_web::CookieSecurity::Never,
            },
            login_limits: holdfast_web::LoginLimits {
                per_account: self.dashboard_login_attempts_per_account,
                per_address: self.dashboard_login_attempts_per_address,
                ..holdfast_web::LoginLimits::DEFAULT
            },
            hosted_limits: holdfast_web::HostedLimits {
                per_address_per_minute: hosted.hosted_requests_per_minute,
            },
        }
    }
}

/// The API's guard rails. Each applies per process: N nodes behind a load balancer allow N times
/// the rate. `0` turns a limit off.
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Requests a second each API key (or client secret) may make, on every route but the
    /// health checks; `0` turns the limit off.
    #[arg(long, env = "HOLDFAST_RATE_LIMIT", default_value_t = Limits::DEFAULT.rate.per_second)]
    pub rate_limit: u32,
    /// How many requests a key may make at once after a quiet spell (the bucket's size).
    #[arg(long, env = "HOLDFAST_RATE_BURST", default_value_t = Limits::DEFAULT.rate.burst)]
    pub rate_burst: u32,
    /// Captures a second each key may make, on top of `--rate-limit`, because every capture
    /// calls the card processor; `0` turns the limit off.
    #[arg(long, env = "HOLDFAST_CAPTURE_RATE_LIMIT", default_value_t = Limits::DEFAULT.capture_rate.per_second)]
    pub capture_rate_limit: u32,
    /// How many captures a key may make at once after a quiet spell.
    #[arg(long, env = "HOLDFAST_CAPTURE_RATE_BURST", default_value_t = Limits::DEFAULT.capture_rate.burst)]
    pub capture_rate_burst: u32,
    /// Requests served at once; one more is refused with 503 `OVERLOADED`, not queued. `0`: no
    /// cap.
    #[arg(long, env = "HOLDFAST_MAX_CONCURRENT_REQUESTS", default_value_t = Limits::DEFAULT.concurrent_requests_max)]
    pub max_concurrent_requests: u32,
    /// How long one request may run before it is stopped with 503 `REQUEST_TIMEOUT` (`30s`,
    /// `2m`); `0`: no timeout.
    #[arg(long, env = "HOLDFAST_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: i64,
}

impl LimitArgs {
    /// The limits, checked: a rate that is on needs a burst of at least one request.
    pub fn limits(&self) -> Result<Limits, String> {
        let rate = |per_second: u32, burst: u32, name: &str| {
            if per_second > 0 && burst == 0 {
                return Err(format!(
                    "--{name}-burst must be at least 1 while --{name}-limit is on (set --{name}-limit 0 to turn it off)"
                ));
            }
            Ok(Rate { per_second, burst })
        };
        Ok(Limits {
            rate: rate(self.rate_limit, self.rate_burst, "rate")?,
            capture_rate: rate(
                self.capture_rate_limit,
                self.capture_rate_burst,
                "capture-rate",
            )?,
            concurrent_requests_max: self.max_concurrent_requests,
            request_timeout: std::time::Duration::from_secs(
                u64::try_from(self.request_timeout).unwrap_or(0),
            ),
        })
    }
}

/// The worker takes no expiry-warning lead: each intent records the lead of the API node that
/// created it, and the worker sends its warning at that time.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub secrets: SecretsArgs,
}

/// The hosted payment pages (`/pay/…`): where buyers reach them, and how often one address may
/// load or submit them.
#[derive(Debug, Args)]
pub struct HostedArgs {
    /// The base URL buyers reach this server at (`https://pay.example.com`), for the `url` of
    /// checkout sessions; default: `http://` and the address `holdfast serve` listens on.
    #[arg(long, env = "HOLDFAST_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Requests to the hosted pages one address may make per minute; `0`: no limit.
    #[arg(long, env = "HOLDFAST_HOSTED_REQUESTS_PER_MINUTE", default_value_t = holdfast_web::HostedLimits::DEFAULT.per_address_per_minute)]
    pub hosted_requests_per_minute: u32,
}

#[derive(Debug, Args)]
pub struct DeadlineArgs {
    /// How long before a hold's deadline `payment_intent.authorization_expiring` fires
    /// (`24h`, `90m`, `3600s`, `2d`).
    #[arg(long, env = "HOLDFAST_EXPIRY_WARNING_LEAD", default_value = "24h", value_parser = parse_duration)]
    pub expiry_warning_lead: i64,
}

#[derive(Debug, Args)]
pub struct HoldsArgs {
    /// Only holds whose deadline is within this long from now (`24h`, `30m`, `7d`).
    #[arg(long, value_parser = parse_duration)]
    pub expiring_within: Option<i64>,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

/// Parses `90s`, `15m`, `24h`, `7d` (or bare seconds) into seconds.
pub fn parse_duration(raw: &str) -> Result<i64, String> {
    let raw = raw.trim();
    let (digits, unit) = raw.split_at(raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len()));
    let count: i64 = digits
        .parse()
        .map_err(|_| format!("{raw:?} is not a duration such as 24h"))?;
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(format!("{raw:?}: the unit is one of s, m, h, d")),
    };
    count
        .checked_mul(scale)
        .ok_or_else(|| format!("{raw:?} is too long"))
}

/// `holdfast bench`: the load generator's command line ([`holdfast_bench`] runs it).
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Base URL of the server to load (not needed with `--spawn`).
    #[arg(long)]
    pub url: Option<String>,
    /// Test secret key (not needed with `--spawn`).
    #[arg(long, env = "HOLDFAST_BENCH_KEY", hide_env_values = true)]
    pub key: Option<String>,
    #[arg(long, value_enum, default_value = "manual-partial")]
    pub flow: holdfast_bench::Flow,
    #[arg(long, value_enum, default_value = "holdfast")]
    pub target: holdfast_bench::Target,
    /// Flows in flight at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// How long to run (`20s`, `2m`).
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub duration: i64,
    /// Stop after this many flows (whichever comes first).
    #[arg(long)]
    pub count: Option<u64>,
    /// The server's pid, to report its CPU time per flow and peak RSS.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Start a fresh `holdfast serve` (SQLite in a temporary directory unless `--database-url`).
    #[arg(long)]
    pub spawn: bool,
    /// With `--spawn`: the database (e.g. a fresh PostgreSQL database).
    #[arg(long)]
    pub database_url: Option<String>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Before measuring, create this many payment intents (not measured), to measure a large
    /// database (`--preload 1000000`).
    #[arg(long, default_value_t = 0)]
    pub preload: u64,
}

impl BenchArgs {
    /// The generator's options; `server_exe` is the binary `--spawn` starts as `holdfast serve`.
    pub fn options(&self, server_exe: std::path::PathBuf) -> holdfast_bench::Options {
        holdfast_bench::Options {
            url: self.url.clone(),
            key: self.key.clone(),
            flow: self.flow,
            target: self.target,
            concurrency: self.concurrency,
            duration: std::time::Duration::from_secs(u64::try_from(self.duration).unwrap_or(0)),
            count: self.count,
            server_pid: self.server_pid,
            spawn: self.spawn.then(|| holdfast_bench::Spawn {
                server_exe,
                database_url: self.database_url.clone(),
            }),
            json: self.json,
            preload: self.preload,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum MerchantsCommand {
    /// Create a merchant with a test and a live key; prints one JSON object.
    Create {
        #[arg(long)]
        name: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Mode {
    Test,
    Live,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    /// Sees everything but secrets.
    Viewer,
    /// Also captures, voids, refunds and schedules.
    Operator,
    /// Also manages webhook endpoints, API keys and users.
    Admin,
}

impl RoleArg {
    pub fn role(self) -> holdfast_domain::user::Role {
        use holdfast_domain::user::Role;
        match self {
            RoleArg::Viewer => Role::Viewer,
            RoleArg::Operator => Role::Operator,
            RoleArg::Admin => Role::Admin,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a dashboard user; prints one JSON object. Without `--password-stdin`, a one-time
    /// password is generated and printed in it (`"password"`): hand it over safely.
    Create {
        #[arg(long)]
        merchant: String,
        #[arg(long)]
        email: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Read the password from standard input (one line) instead of generating one.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// List a merchant's dashboard users as a table.
    List {
        #[arg(long)]
        merchant: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Disable a user: their sessions end at once. Prints one JSON object.
    Disable {
        email: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Give a user a new password (generated and printed, or read with `--password-stdin`);
    /// their sessions end at once. Prints one JSON object.
    ResetPassword {
        email: String,
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create an API key for a merchant; prints `{"api_key": …}`.
    Create {
        #[arg(long)]
        merchant: String,
        #[arg(long, value_enum)]
        mode: Mode,
        #[command(flatten)]
        database: DatabaseArgs,
    },
    /// Revoke the key shown with this prefix (`sk_test_` and 8 more characters, or the whole key).
    Revoke {
        key_prefix: String,
        #[command(flatten)]
        database: DatabaseArgs,
    },
}

/// Parses a comma-separated list of durations (`5s,5m,2h`).
pub fn parse_schedule(raw: &str) -> Result<Vec<i64>, String> {
    let schedule = raw
        .split(',')
        .map(parse_duration)
        .collect::<Result<Vec<_>, _>>()?;
    if schedule.is_empty() || schedule.len() > 50 {
        return Err("a retry schedule has 1 to 50 steps".into());
    }
    Ok(schedule)
}

impl SecretsArgs {
    /// The secrets key: given, or read from (or created in) the key file.
    pub fn key(&self) -> anyhow::Result<holdfast_service::webhooks::SecretsKey> {
        use anyhow::Context;
        use holdfast_service::webhooks::SecretsKey;
        if let Some(text) = &self.secrets_key {
            return SecretsKey::from_base64(text)
                .context("HOLDFAST_SECRETS_KEY must be base64 of 32 bytes");
        }
        let path = &self.secrets_key_file;
        match std::fs::read_to_string(path) {
            Ok(text) => SecretsKey::from_base64(&text)
                .with_context(|| format!("{} must hold base64 of 32 bytes", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = SecretsKey::random();
                write_private(path, &key.to_base64())
                    .with_context(|| format!("creating {}", path.display()))?;
                tracing::info!(path = %path.display(), "created a secrets key file");
                Ok(key)
            }
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    pub fn schedule(&self) -> anyhow::Result<Vec<i64>> {
        match &self.webhook_retry_schedule {
            None => Ok(holdfast_domain::webhook::RETRY_SCHEDULE_SECONDS.to_vec()),
            Some(raw) => parse_schedule(raw).map_err(anyhow::Error::msg),
        }
    }
}

fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn limits(args: &[&str]) -> Result<Limits, String> {
        let argv = ["holdfast", "serve"].iter().chain(args);
        let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
        match cli.command {
            Command::Serve(serve) => serve.limits.limits(),
            other => panic!("not serve: {other:?}"),
        }
    }

    #[test]
    fn the_defaults_are_the_documented_limits() {
        assert_eq!(limits(&[]), Ok(Limits::DEFAULT));
    }

    #[test]
    fn every_limit_is_a_flag_and_zero_turns_it_off() {
        let off = limits(&[
            "--rate-limit",
            "0",
            "--capture-rate-limit",
            "0",
            "--capture-rate-burst",
            "0",
            "--max-concurrent-requests",
            "0",
            "--request-timeout",
            "0",
        ])
        .unwrap();
        assert!(off.rate.is_off() && off.capture_rate.is_off());
        assert_eq!(off.concurrent_requests_max, 0);
        assert_eq!(off.request_timeout, Duration::ZERO);
        let set = limits(&[
            "--rate-limit",
            "5",
            "--rate-burst",
            "7",
            "--capture-rate-limit",
            "1",
            "--capture-rate-burst",
            "2",
            "--request-timeout",
            "2m",
        ])
        .unwrap();
        assert_eq!(
            (set.rate, set.capture_rate),
            (
                Rate {
                    per_second: 5,
                    burst: 7
                },
                Rate {
                    per_second: 1,
                    burst: 2
                }
            )
        );
        assert_eq!(set.request_timeout, Duration::from_secs(120));
    }

    #[test]
    fn a_limit_that_is_on_needs_a_burst() {
        let refused = limits(&["--rate-burst", "0"]).unwrap_err();
        assert!(refused.contains("--rate-burst"), "{refused}");
        let refused = limits(&["--capture-rate-burst", "0"]).unwrap_err();
        assert!(refused.contains("--capture-rate-burst"), "{refused}");
        assert!(limits(&["--rate-limit", "-1"]).is_err());
    }
}
