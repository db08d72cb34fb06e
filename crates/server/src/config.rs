//! The command line. Every option can also be set from the environment (`HOLDFAST_…`).

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    /// Apply database migrations and exit.
    Migrate(DatabaseArgs),
    /// Manage merchants.
    #[command(subcommand)]
    Merchants(MerchantsCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
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

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "HOLDFAST_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub database: DatabaseArgs,
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
