//! `holdfast bench`: a load generator for the payment flows, and what it measured.
//!
//! It drives whole flows (create → confirm → capture, …) from `concurrency` workers over
//! keep-alive HTTP/1.1 connections, every request with a fresh `Idempotency-Key`, until the
//! duration or the flow count runs out. It only talks to the URL it is given (or the server it
//! spawned). Given the server's pid (`--server-pid`, or `--spawn`), it reads the server's CPU time
//! and peak memory from `/proc` before and after.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::Mutex;

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

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Base URL of the server to load (not needed with `--spawn`).
    #[arg(long)]
    pub url: Option<String>,
    /// Test secret key (not needed with `--spawn`).
    #[arg(long, env = "HOLDFAST_BENCH_KEY", hide_env_values = true)]
    pub key: Option<String>,
    #[arg(long, value_enum, default_value = "manual-partial")]
    pub flow: Flow,
    #[arg(long, value_enum, default_value = "holdfast")]
    pub target: Target,
    /// Flows in flight at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// How long to run (`20s`, `2m`).
    #[arg(long, default_value = "20s", value_parser = crate::config::parse_duration)]
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

/// Everything measured, per route.
#[derive(Debug, Default)]
struct Stats {
    latencies_us: BTreeMap<&'static str, Vec<u32>>,
    errors: BTreeMap<String, u64>,
}

struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
    target: Target,
}

struct Answer {
    status: u16,
    body: Value,
}

impl Client {
    /// POSTs `body` (every step of every flow is a POST) and records the answer's latency, or its
    /// error code.
    async fn post(
        &self,
        stats: &Mutex<Stats>,
        route: &'static str,
        path: &str,
        body: Value,
    ) -> Option<Answer> {
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .header("Idempotency-Key", holdfast_service::ids::random_base62(24));
        let request = match self.target {
            Target::Holdfast => request.json(&body),
            Target::Localstripe => request.form(&form_pairs(&body)),
        };
        let started = Instant::now();
        let sent = request.send().await;
        let (status, bytes) = match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                (status, response.bytes().await.unwrap_or_default())
            }
            Err(e) => {
                let kind = if e.is_timeout() {
                    "TIMEOUT"
                } else {
                    "CONNECTION_ERROR"
                };
                *stats.lock().await.errors.entry(kind.into()).or_default() += 1;
                return None;
            }
        };
        let elapsed = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let mut stats = stats.lock().await;
        stats.latencies_us.entry(route).or_default().push(elapsed);
        if !(200..300).contains(&status) {
            let code = body["error"]["code"]
                .as_str()
                .map_or_else(|| format!("HTTP_{status}"), str::to_owned);
            *stats.errors.entry(code).or_default() += 1;
            return None;
        }
        Some(Answer { status, body })
    }
}

/// Flattens a JSON object into Stripe's form encoding (`a[b]=c`).
fn form_pairs(value: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Value::Object(map) = value {
        for (k, v) in map {
            match v {
                Value::Object(inner) => {
                    for (ik, iv) in inner {
                        out.push((format!("{k}[{ik}]"), scalar(iv)));
                    }
                }
                other => out.push((k.clone(), scalar(other))),
            }
        }
    }
    out
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn usd(amount: i64) -> Value {
    json!({"amount": amount, "currency": "USD"})
}

/// Runs one flow; true when every step answered 2xx.
async fn run_flow(client: &Client, stats: &Mutex<Stats>, flow: Flow, n: u64) -> bool {
    let flow = match flow {
        Flow::Mixed => [
            Flow::ManualPartial,
            Flow::ManualVoid,
            Flow::Automatic,
            Flow::Order,
        ][usize::try_from(n % 4).unwrap_or(0)],
        other => other,
    };
    if client.target == Target::Localstripe {
        return localstripe_flow(client, stats).await;
    }
    let create = |capture_method: &str| json!({"amount_money": usd(12900), "capture_method": capture_method});
    let intent_id = |a: &Answer| {
        a.body["data"]["payment_intent"]["payment_intent_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let confirm = json!({"payment_source_token": "pm_card_visa"});
    match flow {
        Flow::ManualPartial | Flow::ManualVoid => {
            let Some(a) = client
                .post(stats, "create", "/v1/payment-intents", create("manual"))
                .await
            else {
                return false;
            };
            let id = intent_id(&a);
            let path = format!("/v1/payment-intents/{id}");
            if client
                .post(stats, "confirm", &format!("{path}/confirm"), confirm)
                .await
                .is_none()
            {
                return false;
            }
            let (step, body) = if flow == Flow::ManualPartial {
                ("capture", json!({"amount_money": usd(9800)}))
            } else {
                (
                    "cancel",
                    json!({"cancellation_reason": "requested_by_customer"}),
                )
            };
            client
                .post(stats, step, &format!("{path}/{step}"), body)
                .await
                .is_some()
        }
        Flow::Automatic => {
            let Some(a) = client
                .post(stats, "create", "/v1/payment-intents", create("automatic"))
                .await
            else {
                return false;
            };
            let id = intent_id(&a);
            client
                .post(
                    stats,
                    "confirm",
                    &format!("/v1/payment-intents/{id}/confirm"),
                    confirm,
                )
                .await
                .is_some()
        }
        Flow::Order | Flow::Mixed => {
            let order = json!({"currency": "USD", "line_items": [
                {"name": "Camera rental", "quantity": 1, "unit_price_money": usd(17000)}],
                "tip_money": usd(1500)});
            let Some(a) = client
                .post(stats, "order_create", "/v1/orders", order)
                .await
            else {
                return false;
            };
            let oid = a.body["data"]["order_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let Some(a) = client
                .post(
                    stats,
                    "create",
                    "/v1/payment-intents",
                    json!({"order_id": oid, "capture_method": "manual"}),
                )
                .await
            else {
                return false;
            };
            let pid = intent_id(&a);
            let pay = json!({"payment_intent_ids": [pid], "payment_source_tokens": {pid.clone(): "pm_card_visa"},
                "expected_amount_money": usd(18500)});
            if client
                .post(stats, "order_pay", &format!("/v1/orders/{oid}/pay"), pay)
                .await
                .is_none()
            {
                return false;
            }
            client
                .post(
                    stats,
                    "order_capture",
                    &format!("/v1/orders/{oid}/payment-intents/{pid}/capture"),
                    json!({}),
                )
                .await
                .is_some()
        }
    }
}

/// The `manual-partial` flow in Stripe's API, as `localstripe` serves it.
async fn localstripe_flow(client: &Client, stats: &Mutex<Stats>) -> bool {
    let create = json!({"amount": 12900, "currency": "usd", "capture_method": "manual",
        "payment_method": "pm_card_visa"});
    let Some(a) = client
        .post(stats, "create", "/v1/payment_intents", create)
        .await
    else {
        return false;
    };
    let id = a.body["id"].as_str().unwrap_or_default().to_owned();
    if client
        .post(
            stats,
            "confirm",
            &format!("/v1/payment_intents/{id}/confirm"),
            json!({}),
        )
        .await
        .is_none()
    {
        return false;
    }
    client
        .post(
            stats,
            "capture",
            &format!("/v1/payment_intents/{id}/capture"),
            json!({"amount_to_capture": 9800}),
        )
        .await
        .is_some_and(|a| a.status < 300)
}

/// Creates `count` manual payment intents through the API, `concurrency` at a time, each with its
/// event and its idempotency record, as real traffic leaves them. Progress goes to stderr.
async fn preload(client: &Arc<Client>, count: u64, concurrency: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let stats = Arc::new(Mutex::new(Stats::default()));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (client, next, stats) = (Arc::clone(client), Arc::clone(&next), Arc::clone(&stats));
        workers.spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    return true;
                }
                if n > 0 && n % 100_000 == 0 {
                    eprintln!("preloaded {n} intents");
                }
                let body = json!({"amount_money": usd(12900), "capture_method": "manual"});
                let created = client
                    .post(&stats, "preload", "/v1/payment-intents", body)
                    .await;
                if created.is_none() {
                    return false;
                }
            }
        });
    }
    let all_ok = workers.join_all().await.into_iter().all(|ok| ok);
    if !all_ok {
        bail!("preloading failed: {:?}", stats.lock().await.errors);
    }
    eprintln!(
        "preloaded {count} intents in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// CPU time (µs) of a process's threads so far, summed by thread name, from `/proc`. Threads
/// that ended are not counted.
fn thread_usage(pid: u32) -> BTreeMap<String, u64> {
    let mut by_name = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return by_name;
    };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let (Some((head, tail)), Some(open)) = (stat.rsplit_once(')'), stat.find('(')) else {
            continue;
        };
        let name = head[open + 1..].to_owned();
        let fields: Vec<&str> = tail.split_whitespace().collect();
        let ticks: u64 = [11, 12]
            .iter()
            .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
            .sum();
        *by_name.entry(name).or_default() += ticks * 10_000;
    }
    by_name
}

/// The machine's CPU time so far, in clock ticks, from the first line of `/proc/stat`.
#[derive(Debug, Clone, Copy)]
struct MachineTicks {
    total: u64,
    idle: u64,
    steal: u64,
}

fn machine_ticks() -> Option<MachineTicks> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .map_while(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is counted in user already).
    Some(MachineTicks {
        total: fields.iter().take(8).sum(),
        idle: fields.get(3)? + fields.get(4)?,
        steal: *fields.get(7)?,
    })
}

/// CPU time (µs) and peak RSS (MiB) of a process, from `/proc`.
fn process_usage(pid: u32) -> Option<(u64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_comm = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // Clock ticks are 100 per second on Linux.
    let cpu_us = (utime + stime) * 10_000;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let hwm_kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some((cpu_us, hwm_kb / 1024.0))
}

/// A server the generator started for itself.
struct Spawned {
    _child: tokio::process::Child,
    _dir: Option<TempDir>,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn spawn_server(
    database_url: Option<&str>,
) -> anyhow::Result<(Spawned, String, String, u32)> {
    let dir = std::env::temp_dir().join(format!(
        "holdfast-bench-{}",
        holdfast_service::ids::random_base62(10)
    ));
    std::fs::create_dir_all(&dir)?;
    let url = database_url.map_or_else(
        || format!("sqlite://{}", dir.join("bench.db").display()),
        str::to_owned,
    );
    let exe = std::env::current_exe().context("finding the holdfast binary")?;
    let mut child = tokio::process::Command::new(exe)
        .args(["serve", "--listen", "127.0.0.1:0", "--database-url", &url])
        // A load test measures the server, not its rate limits.
        .args(["--rate-limit", "0", "--capture-rate-limit", "0"])
        .arg("--secrets-key-file")
        .arg(dir.join("bench.key"))
        .env("HOLDFAST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("starting holdfast serve")?;
    let pid = child.id().context("server pid")?;
    let stdout = child.stdout.take().context("server stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut key = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    let base = loop {
        let line = tokio::time::timeout_at(deadline.into(), lines.next_line())
            .await
            .context("the server did not start in 60 s")??
            .context("the server exited before listening")?;
        if let Some(k) = line.split_whitespace().find(|w| w.starts_with("sk_test_")) {
            key = Some(k.to_owned());
        }
        if let Some(addr) = line.strip_prefix("holdfast listening on ") {
            break addr.to_owned();
        }
    };
    let key = key.context("a fresh database prints its test key; use an empty database")?;
    Ok((
        Spawned {
            _child: child,
            _dir: Some(TempDir(dir)),
        },
        base,
        key,
        pid,
    ))
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[index.min(sorted.len() - 1)]) / 1000.0
}

fn latency_json(samples: &[u32]) -> Value {
    json!({
        "count": samples.len(),
        "p50": percentile(samples, 0.50),
        "p95": percentile(samples, 0.95),
        "p99": percentile(samples, 0.99),
        "max": samples.last().map_or(0.0, |m| f64::from(*m) / 1000.0),
    })
}

/// Runs the benchmark and prints its report. Fails when any request failed.
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.concurrency == 0 || args.concurrency > 4096 {
        bail!("--concurrency is 1 to 4096");
    }
    let (spawned, base, key, pid) = if args.spawn {
        let (s, base, key, pid) = spawn_server(args.database_url.as_deref()).await?;
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
    let deadline = Instant::now() + Duration::from_secs(u64::try_from(args.duration.max(1))?);
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

fn print_table(r: &Value) {
    println!(
        "flow {} · target {} · concurrency {} · {:.1} s",
        r["flow"],
        r["target"],
        r["concurrency"],
        r["duration_s"].as_f64().unwrap_or(0.0)
    );
    println!(
        "flows {} ({:.0}/s) · requests {} ({:.0}/s) · errors {}",
        r["flows"],
        r["flows_per_s"].as_f64().unwrap_or(0.0),
        r["requests"],
        r["requests_per_s"].as_f64().unwrap_or(0.0),
        r["errors"]
    );
    if let (Some(steal), Some(idle)) = (
        r["machine_steal_pct"].as_f64(),
        r["machine_idle_pct"].as_f64(),
    ) {
        println!("machine: {steal:.0} % stolen by other tenants, {idle:.0} % idle");
    }
    if let Some(cpu) = r["server_cpu_us_per_flow"].as_f64() {
        println!(
            "server CPU {:.0} µs/flow · peak RSS {:.1} MiB",
            cpu,
            r["server_peak_rss_mb"].as_f64().unwrap_or(0.0)
        );
    }
    if let Some(threads) = r["server_cpu_us_per_flow_by_thread"].as_object()
        && !threads.is_empty()
    {
        let parts: Vec<String> = threads
            .iter()
            .map(|(name, us)| format!("{name} {us} µs"))
            .collect();
        println!("  by thread, per flow: {}", parts.join(" · "));
    }
    println!(
        "{:<14} {:>8} {:>9} {:>9} {:>9} {:>9}",
        "route", "count", "p50 ms", "p95 ms", "p99 ms", "max ms"
    );
    let mut rows: Vec<(String, &Value)> = vec![("all".into(), &r["latency_ms"])];
    if let Some(per_route) = r["latency_ms"]["per_route"].as_object() {
        rows.extend(per_route.iter().map(|(k, v)| (k.clone(), v)));
    }
    for (route, l) in rows {
        println!(
            "{:<14} {:>8} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
            route,
            l["count"]
                .as_u64()
                .map_or_else(|| r["requests"].to_string(), |c| c.to_string()),
            l["p50"].as_f64().unwrap_or(0.0),
            l["p95"].as_f64().unwrap_or(0.0),
            l["p99"].as_f64().unwrap_or(0.0),
            l["max"].as_f64().unwrap_or(0.0)
        );
    }
}
