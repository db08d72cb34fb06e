//! The `holdfast` binary itself: JSON output of the management commands, first-start bootstrap,
//! graceful shutdown on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::helpers::{Backend, Database, TestApp};

const BIN: &str = env!("CARGO_BIN_EXE_holdfast");

fn holdfast(args: &[&str], db: &Database) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .arg("--database-url")
        .arg(&db.url)
        .env("HOLDFAST_LOG", "warn")
        .output()
        .expect("run holdfast")
}

/// Stdout must be exactly one JSON object (and a newline).
#[track_caller]
fn single_json(output: &std::process::Output) -> Value {
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout.clone()).expect("utf-8");
    assert_eq!(stdout.lines().count(), 1, "one line on stdout: {stdout:?}");
    let value: Value = serde_json::from_str(stdout.trim_end()).expect("stdout is JSON");
    assert!(value.is_object());
    value
}

async fn merchants_and_keys(backend: Backend) {
    let Some(db) = Database::for_backend(backend).await else {
        return;
    };
    let created = single_json(&holdfast(
        &["merchants", "create", "--name", "Camera Rentals"],
        &db,
    ));
    let object = created.as_object().unwrap();
    assert_eq!(object.len(), 3, "{created}");
    let merchant_id = created["merchant_id"].as_str().unwrap();
    assert!(
        merchant_id.starts_with("mch_") && merchant_id.len() == 28,
        "{merchant_id}"
    );
    assert_eq!(created["name"], "Camera Rentals");
    let keys = created["api_keys"].as_object().unwrap();
    assert_eq!(keys.len(), 2);
    let test_key = keys["test"].as_str().unwrap();
    let live_key = keys["live"].as_str().unwrap();
    assert!(
        test_key.starts_with("sk_test_") && test_key.len() == 40,
        "{test_key}"
    );
    assert!(
        live_key.starts_with("sk_live_") && live_key.len() == 40,
        "{live_key}"
    );

    let key = single_json(&holdfast(
        &[
            "keys",
            "create",
            "--merchant",
            merchant_id,
            "--mode",
            "live",
        ],
        &db,
    ));
    assert_eq!(key.as_object().unwrap().len(), 1);
    let new_live = key["api_key"].as_str().unwrap().to_owned();
    assert!(new_live.starts_with("sk_live_"));

    // The keys work against a server on the same database, each in its own mode.
    let app = TestApp::start(backend, db).await;
    let res = app
        .request(reqwest::Method::GET, "/v1/payment-intents")
        .key(&new_live)
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text);

    let revoked = single_json(&holdfast(&["keys", "revoke", &new_live[..16]], &app.db));
    assert_eq!(revoked, serde_json::json!({"revoked": 1}));
    let res = app
        .request(reqwest::Method::GET, "/v1/payment-intents")
        .key(&new_live)
        .send()
        .await;
    res.assert_error(401, "INVALID_API_KEY", None);
    // Revoking again finds no live key: an error, and nothing on stdout.
    let again = holdfast(&["keys", "revoke", &new_live[..16]], &app.db);
    assert!(!again.status.success());
    assert!(again.stdout.is_empty());
    // An unknown merchant is refused.
    let unknown = holdfast(
        &["keys", "create", "--merchant", "mch_nope", "--mode", "test"],
        &app.db,
    );
    assert!(!unknown.status.success());
    assert!(unknown.stdout.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merchants_and_keys_sqlite() {
    merchants_and_keys(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merchants_and_keys_postgres() {
    merchants_and_keys(Backend::Postgres).await;
}

struct Served {
    child: std::process::Child,
    addr: String,
    stdout_lines: Vec<String>,
}

fn serve(db: &Database) -> Served {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &db.url,
            // A key of the test's own: never a key file in the working directory.
            "--secrets-key",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        ])
        .env("HOLDFAST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn holdfast serve");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stdout_lines = Vec::new();
    let addr = loop {
        let line = lines
            .next()
            .expect("server prints its address")
            .expect("line");
        stdout_lines.push(line.clone());
        if let Some(addr) = line.strip_prefix("holdfast listening on http://") {
            break addr.to_owned();
        }
    };
    Served {
        child,
        addr,
        stdout_lines,
    }
}

fn sigterm(child: &std::process::Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

async fn first_start_bootstraps_then_shuts_down_gracefully(backend: Backend) {
    let Some(db) = Database::for_backend(backend).await else {
        return;
    };
    let served = serve(&db);
    let printed = served.stdout_lines.join("\n");
    assert!(
        printed.contains("Created merchant \"default\""),
        "{printed}"
    );
    let key = printed
        .split_whitespace()
        .find(|w| w.starts_with("sk_test_"))
        .expect("the test key is printed")
        .to_owned();

    let client = reqwest::Client::new();
    let res = client
        .post(format!("http://{}/v1/payment-intents", served.addr))
        .bearer_auth(&key)
        .json(&serde_json::json!({"amount_money": {"amount": 12900, "currency": "USD"}, "capture_method": "manual"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);

    sigterm(&served.child);
    let output = served.child.wait_with_output().expect("exits");
    assert!(output.status.success(), "exit status {:?}", output.status);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("shut down cleanly"), "{stderr}");
    assert!(!stderr.contains(&key), "the API key must never be logged");
    assert!(
        stderr.contains("request_id=req_"),
        "request log lines carry the id: {stderr}"
    );

    // A second start on the same database creates nothing and prints no key.
    let mut second = serve(&db);
    let printed = second.stdout_lines.join("\n");
    assert!(!printed.contains("sk_test_"), "{printed}");
    let res = client
        .get(format!("http://{}/v1/payment-intents", second.addr))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["data"].as_array().unwrap().len(),
        1,
        "the intent survived the restart"
    );
    sigterm(&second.child);
    assert!(second.child.wait().unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_bootstraps_then_shuts_down_gracefully_sqlite() {
    first_start_bootstraps_then_shuts_down_gracefully(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_bootstraps_then_shuts_down_gracefully_postgres() {
    first_start_bootstraps_then_shuts_down_gracefully(Backend::Postgres).await;
}

/// `holdfast bench --spawn --json`: a bounded run against a fresh server of its own, with a
/// preload, reports every field BENCHMARKS.md relies on, and counts exactly what it ran.
#[test]
fn bench_reports_its_json_fields() {
    let output = Command::new(BIN)
        .args(["bench", "--spawn", "--json", "--flow", "mixed"])
        .args(["--concurrency", "2", "--count", "8", "--preload", "10"])
        .env("HOLDFAST_LOG", "warn")
        .output()
        .expect("run holdfast bench");
    let report = single_json(&output);
    assert_eq!(report["flows"], 8);
    // mixed: manual-partial (3), manual-void (3), automatic (2), order (4), twice.
    assert_eq!(report["requests"], 24);
    assert_eq!(report["errors"], serde_json::json!({}));
    assert_eq!(report["concurrency"], 2);
    // CPU time comes in 10 ms ticks: a run this short may well show none.
    assert!(
        report["server_cpu_us_per_flow"]
            .as_f64()
            .is_some_and(|us| us >= 0.0)
    );
    for field in ["flows_per_s", "requests_per_s"] {
        assert!(
            report[field].as_f64().is_some_and(|v| v > 0.0),
            "{field}: {report}"
        );
    }
    assert!(
        report["server_peak_rss_mb"]
            .as_f64()
            .is_some_and(|mb| mb > 1.0)
    );
    for pct in ["machine_steal_pct", "machine_idle_pct"] {
        assert!(
            report[pct]
                .as_f64()
                .is_some_and(|p| (0.0..=100.0).contains(&p)),
            "{pct}"
        );
    }
    assert!(report["server_cpu_us_per_flow_by_thread"].is_object());
    for key in ["p50", "p95", "p99", "max"] {
        assert!(
            report["latency_ms"][key].as_f64().is_some(),
            "latency_ms.{key}"
        );
    }
    let routes = report["latency_ms"]["per_route"]
        .as_object()
        .expect("per route");
    let counted: u64 = routes
        .values()
        .map(|r| r["count"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(counted, 24, "the preload is not measured");
    assert_eq!(routes["create"]["count"], 8);
    assert_eq!(routes["order_pay"]["count"], 2);
}

/// Runs holdfast with `input` on standard input.
fn holdfast_with_input(args: &[&str], db: &Database, input: &str) -> std::process::Output {
    use std::io::Write as _;
    let mut child = Command::new(BIN)
        .args(args)
        .arg("--database-url")
        .arg(&db.url)
        .env("HOLDFAST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run holdfast");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("holdfast ends")
}

async fn dashboard_users(backend: Backend) {
    let Some(db) = Database::for_backend(backend).await else {
        return;
    };
    let merchant = single_json(&holdfast(
        &["merchants", "create", "--name", "Rentals"],
        &db,
    ));
    let merchant = merchant["merchant_id"].as_str().unwrap();
    // A chosen password comes on standard input and is not printed back.
    let chosen = single_json(&holdfast_with_input(
        &[
            "users",
            "create",
            "--merchant",
            merchant,
            "--email",
            "Admin@Example.com",
            "--role",
            "admin",
            "--password-stdin",
        ],
        &db,
        "a long passphrase here\n",
    ));
    assert_eq!(chosen["email"], "admin@example.com");
    assert_eq!(chosen["role"], "admin");
    assert_eq!(chosen["merchant_id"], merchant);
    assert!(chosen.get("password").is_none(), "{chosen}");
    assert!(chosen["user_id"].as_str().unwrap().starts_with("usr_"));
    // Without it, a one-time password is generated and printed once.
    let generated = single_json(&holdfast(
        &[
            "users",
            "create",
            "--merchant",
            merchant,
            "--email",
            "ops@example.com",
            "--role",
            "operator",
        ],
        &db,
    ));
    let password = generated["password"].as_str().unwrap();
    assert_eq!(password.len(), 20);
    // Refusals: a taken email, a short password, an unknown merchant.
    for (args, input) in [
        (
            vec![
                "users",
                "create",
                "--merchant",
                merchant,
                "--email",
                "ops@example.com",
                "--role",
                "viewer",
            ],
            "",
        ),
        (
            vec![
                "users",
                "create",
                "--merchant",
                merchant,
                "--email",
                "v@example.com",
                "--role",
                "viewer",
                "--password-stdin",
            ],
            "short\n",
        ),
        (
            vec![
                "users",
                "create",
                "--merchant",
                "mch_nope",
                "--email",
                "x@example.com",
                "--role",
                "viewer",
            ],
            "",
        ),
    ] {
        let output = holdfast_with_input(&args, &db, input);
        assert!(!output.status.success(), "{args:?}");
        assert!(output.stdout.is_empty());
    }
    let listed = holdfast(&["users", "list", "--merchant", merchant], &db);
    assert!(listed.status.success());
    let table = String::from_utf8(listed.stdout).unwrap();
    assert!(table.contains("admin@example.com") && table.contains("ops@example.com"));
    assert!(table.trim_end().ends_with("2 user(s)"), "{table}");
    assert!(!table.contains(password), "passwords are never listed");
    let disabled = single_json(&holdfast(&["users", "disable", "ops@example.com"], &db));
    assert_eq!(disabled["disabled"], true);
    let reset = single_json(&holdfast(
        &["users", "reset-password", "OPS@example.com"],
        &db,
    ));
    let new_password = reset["password"].as_str().unwrap();
    assert_eq!(new_password.len(), 20);
    assert_ne!(new_password, password);
    let missing = holdfast(&["users", "disable", "nobody@example.com"], &db);
    assert!(!missing.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_users_sqlite() {
    dashboard_users(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_users_postgres() {
    dashboard_users(Backend::Postgres).await;
}
