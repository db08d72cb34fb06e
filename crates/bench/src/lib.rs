//! The load generator behind `holdfast bench`: whole payment flows against a running server, and
//! what they cost it. A tool beside the server, not part of it: it knows the API only as a client
//! does, over HTTP.
//!
//! It drives whole flows (create → confirm → capture, …) from `concurrency` workers over
//! keep-alive HTTP/1.1 connections, every request with a fresh `Idempotency-Key`, until the
//! duration or the flow count runs out. It only talks to the URL it is given (or the server it
//! spawned). Given the server's pid (`--server-pid`, or `--spawn`), it reads the server's CPU time
//! and peak memory from `/proc` before and after.

mod client;
mod flows;
mod report;
mod spawn;
mod usage;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::client::{Client, Stats};
use crate::flows::{preload, run_flow};
use crate::report::{latency_json, percentile, print_table};
use crate::spawn::spawn_server;
use crate::usage::{machine_ticks, process_usage, thread_usage};

/// The flows the generator knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Flow {
    /// Create manual 12900 → confirm `pm_card_visa` → capture 9800.
    ManualPartial,
    /// Create manual → confirm → cancel.
    ManualVoid,
    /// Create automatic → confirm (charges at once).
    Automatic,
    /// Create order 18500 → order-linked manual intent → pay → capture through the order.
    Order,
    /// The four above in turn.
    Mixed,
}

/// Where the load goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    Holdfast,
    /// A Stripe-compatible mock (`localstripe`), for comparison; `manual-partial` only.
    Localstripe,
}

/// What to run, as `holdfast bench` takes it from its command line.
#[derive(Debug, Clone)]
pub struct Options {
    /// Base URL of the server to load (not needed with `spawn`).
    pub url: Option<String>,
    /// Test secret key (not needed with `spawn`).
    pub key: Option<String>,
    pub flow: Flow,
    pub target: Target,
    /// Flows in flight at once: 1 to 4096.
    pub concurrency: usize,
    /// How long to run (at least a second).
    pub duration: Duration,
    /// Stop after this many flows (whichever comes first).
    pub count: Option<u64>,
    /// The server's pid, to report its CPU time per flow and peak RSS.
    pub server_pid: Option<u32>,
    /// Start a fresh server instead of loading `url`.
    pub spawn: Option<Spawn>,
    /// Print one JSON object instead of the table.
    pub json: bool,
    /// Before measuring, create this many payment intents (not measured).
    pub preload: u64,
}

/// A server the generator starts for itself.
#[derive(Debug, Clone)]
pub struct Spawn {
    /// The `holdfast` binary to run as `holdfast serve`.
    pub server_exe: PathBuf,
    /// The database (a fresh, empty one); SQLite in a temporary directory when `None`.
    pub database_url: Option<String>,
}

/// Runs the benchmark and prints its report. Fails when any request failed.
pub async fn run(args: Options) -> anyhow::Result<()> {
    if args.concurrency == 0 || args.concurrency > 4096 {
        bail!("--concurrency is 1 to 4096");
    }
    let (spawned, base, key, pid) = if let Some(spawn) = &args.spawn {
        let (s, base, key, pid) = spawn_server(spawn).await?;
        (Some(s), base, key, Some(pid))
    } else {
        let base = args.url.clone().context("--url (or --spawn) is required")?;
        let key = args.key.clone().unwrap_or_default();
        (None, base, key, args.server_pid)
    };
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .timeout(Duration::from_secs(30))
        .build()?;
    let client = Arc::new(Client {
        http,
        base: base.trim_end_matches('/').to_owned(),
        key,
        target: args.target,
    });
    if args.preload > 0 {
        preload(&client, args.preload, args.concurrency).await?;
    }
    let stats = Arc::new(Mutex::new(Stats::default()));
    let before = pid.and_then(process_usage);
    let threads_before = pid.map(thread_usage).unwrap_or_default();
    let machine_before = machine_ticks();
    let stop = Arc::new(AtomicBool::new(false));
    let flows_done = Arc::new(AtomicU64::new(0));
    let flows_started = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + args.duration.max(Duration::from_secs(1));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..args.concurrency {
        let (client, stats, stop, done, started_count) = (
            Arc::clone(&client),
            Arc::clone(&stats),
            Arc::clone(&stop),
            Arc::clone(&flows_done),
            Arc::clone(&flows_started),
        );
        let (flow, count) = (args.flow, args.count);
        workers.spawn(async move {
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                let n = started_count.fetch_add(1, Ordering::Relaxed);
                if count.is_some_and(|c| n >= c) {
                    break;
                }
                if run_flow(&client, &stats, flow, n).await {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while workers.join_next().await.is_some() {}
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let after = pid.and_then(process_usage);
    let threads_after = pid.map(thread_usage).unwrap_or_default();
    let machine_after = machine_ticks();
    drop(spawned);

    let stats = stats.lock().await;
    let flows = flows_done.load(Ordering::Relaxed);
    let requests: usize = stats.latencies_us.values().map(Vec::len).sum();
    let mut all: Vec<u32> = stats.latencies_us.values().flatten().copied().collect();
    all.sort_unstable();
    let mut routes = serde_json::Map::new();
    for (route, samples) in &stats.latencies_us {
        let mut sorted = samples.clone();
        sorted.sort_unstable();
        routes.insert((*route).to_owned(), latency_json(&sorted));
    }
    let cpu_us_per_flow = match (before, after) {
        (Some((b, _)), Some((a, _))) if flows > 0 => Some((a - b) as f64 / flows as f64),
        _ => None,
    };
    let peak_rss_mb = after.map(|(_, rss)| rss);
    // Where the server's CPU time went, by thread name: the request threads, the SQLite writer...
    let by_thread: serde_json::Map<String, Value> = threads_after
        .iter()
        .filter(|_| flows > 0)
        .map(|(name, after_us)| {
            let spent = after_us - threads_before.get(name).copied().unwrap_or(0);
            (name.clone(), json!((spent as f64 / flows as f64).round()))
        })
        .filter(|(_, us)| us.as_f64().is_some_and(|us| us > 0.0))
        .collect();
    // The share of the machine's CPU time taken by other tenants (steal) and left idle: a
    // virtual machine's noisy neighbours show up here, not in the figures above.
    let (steal_pct, idle_pct) = match (machine_before, machine_after) {
        (Some(b), Some(a)) if a.total > b.total => {
            let total = (a.total - b.total) as f64;
            (
                Some((a.steal - b.steal) as f64 * 100.0 / total),
                Some((a.idle - b.idle) as f64 * 100.0 / total),
            )
        }
        _ => (None, None),
    };
    let errors: u64 = stats.errors.values().sum();
    let report = json!({
        "target": format!("{:?}", args.target).to_lowercase(),
        "flow": format!("{:?}", args.flow),
        "concurrency": args.concurrency,
        "duration_s": elapsed,
        "flows": flows,
        "flows_per_s": flows as f64 / elapsed,
        "requests": requests,
        "requests_per_s": requests as f64 / elapsed,
        "errors": stats.errors,
        "latency_ms": {
            "p50": percentile(&all, 0.50),
            "p95": percentile(&all, 0.95),
            "p99": percentile(&all, 0.99),
            "max": all.last().map_or(0.0, |m| f64::from(*m) / 1000.0),
            "per_route": routes,
        },
        "server_cpu_us_per_flow": cpu_us_per_flow,
        "server_peak_rss_mb": peak_rss_mb,
        "server_cpu_us_per_flow_by_thread": by_thread,
        "machine_steal_pct": steal_pct,
        "machine_idle_pct": idle_pct,
    });
    if args.json {
        println!("{report}");
    } else {
        print_table(&report);
    }
    if errors > 0 {
        bail!("{errors} request(s) failed: {:?}", stats.errors);
    }
    Ok(())
}
