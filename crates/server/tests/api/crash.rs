//! Crash safety: the real `holdfast serve`, SIGKILLed at random points under a concurrent
//! workload, restarted on the same database, then audited.
//!
//! Every request carries an `Idempotency-Key`. After the last round the audit checks that every
//! answered request is reflected in the data and replays byte for byte, that every request the
//! kill cut short does its work exactly once when retried with its key, that no hold was captured
//! twice, that the money invariant holds for every intent, and that every change has its event.
//! `HOLDFAST_CRASH_ROUNDS` sets the number of kills (default 20; the README's long mode uses 100).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rand::Rng;
use serde_json::{Value, json};

use crate::helpers::{Backend, Database};

const BIN: &str = env!("CARGO_BIN_EXE_holdfast");
const CLIENTS: usize = 6;

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the server; returns it and, on the first start, the bootstrap test key.
fn start(db: &Database, key_file: &std::path::Path) -> (Server, Option<String>) {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &db.url,
        ])
        .arg("--secrets-key-file")
        .arg(key_file)
        // The audit replays requests in bursts: no rate limits here.
        .args(["--rate-limit", "0", "--capture-rate-limit", "0"])
        .env("HOLDFAST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn holdfast serve");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut key = None;
    let base = loop {
        let line = lines
            .next()
            .expect("the server prints its address")
            .expect("line");
        if let Some(k) = line.split_whitespace().find(|w| w.starts_with("sk_test_")) {
            key = Some(k.to_owned());
        }
        if let Some(addr) = line.strip_prefix("holdfast listening on ") {
            break addr.to_owned();
        }
    };
    (Server { child, base }, key)
}

/// One request and what came back, if anything did before the kill.
#[derive(Debug, Clone)]
struct Attempt {
    path: String,
    key: String,
    body: Value,
    answer: Option<(u16, String)>,
}

async fn post(
    client: &reqwest::Client,
    base: &str,
    api_key: &str,
    path: &str,
    idem: &str,
    body: &Value,
) -> Option<(u16, String, bool)> {
    let response = client
        .post(format!("{base}{path}"))
        .bearer_auth(api_key)
        .header("Idempotency-Key", idem)
        .json(body)
        .send()
        .await
        .ok()?;
    let status = response.status().as_u16();
    let replayed = response.headers().get("idempotent-replayed").is_some();
    let text = response.text().await.ok()?;
    Some((status, text, replayed))
}

/// One client's flows until the server dies: create → confirm → capture (partial) → refund.
async fn client_loop(
    base: String,
    api_key: String,
    round: usize,
    client_no: usize,
) -> Vec<Attempt> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let mut attempts = Vec::new();
    for flow in 0.. {
        let tag = format!("r{round}-c{client_no}-f{flow}");
        let steps: [(&str, Value); 1] = [(
            "/v1/payment-intents",
            json!({"amount_money": {"amount": 10_000 + flow, "currency": "USD"}, "capture_method": "manual", "reference": tag}),
        )];
        let (path, body) = &steps[0];
        let key = format!("{tag}-create");
        let answer = post(&http, &base, &api_key, path, &key, body).await;
        attempts.push(Attempt {
            path: (*path).to_owned(),
            key,
            body: body.clone(),
            answer: answer.clone().map(|(s, t, _)| (s, t)),
        });
        let Some((201, text, _)) = answer else { break };
        let created: Value = serde_json::from_str(&text).expect("json");
        let id = created["data"]["payment_intent"]["payment_intent_id"]
            .as_str()
            .expect("id")
            .to_owned();
        let next = [
            (
                format!("/v1/payment-intents/{id}/confirm"),
                json!({"payment_source_token": "pm_card_visa"}),
                "confirm",
            ),
            (
                format!("/v1/payment-intents/{id}/capture"),
                json!({"amount_money": {"amount": 7_000, "currency": "USD"}}),
                "capture",
            ),
            (
                "/v1/refunds".to_owned(),
                json!({"payment_intent_id": id, "amount_money": {"amount": 1_000, "currency": "USD"}}),
                "refund",
            ),
        ];
        for (path, body, step) in next {
            let key = format!("{tag}-{step}");
            let answer = post(&http, &base, &api_key, &path, &key, &body).await;
            let ok = matches!(answer, Some((200 | 201, _, _)));
            attempts.push(Attempt {
                path,
                key,
                body,
                answer: answer.map(|(s, t, _)| (s, t)),
            });
            if !ok {
                return attempts;
            }
        }
    }
    attempts
}

async fn crash_rounds(backend: Backend) {
    let Some(db) = Database::for_backend(backend).await else {
        return;
    };
    let rounds: usize = std::env::var("HOLDFAST_CRASH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(20);
    let key_dir = std::env::temp_dir().join(format!(
        "holdfast-crash-{}",
        holdfast_service::ids::random_base62(8)
    ));
    std::fs::create_dir_all(&key_dir).expect("dir");
    let key_file = key_dir.join("holdfast.key");
    let mut api_key = None;
    let mut attempts: Vec<Attempt> = Vec::new();
    for round in 0..rounds {
        let (mut server, printed) = start(&db, &key_file);
        if api_key.is_none() {
            api_key = printed;
        }
        let key = api_key.clone().expect("bootstrap key");
        let workers: Vec<_> = (0..CLIENTS)
            .map(|c| tokio::spawn(client_loop(server.base.clone(), key.clone(), round, c)))
            .collect();
        let run_ms = rand::rng().random_range(150..=450);
        tokio::time::sleep(Duration::from_millis(run_ms)).await;
        let _ = server.child.kill();
        let _ = server.child.wait();
        for worker in workers {
            attempts.extend(worker.await.expect("client task"));
        }
    }
    let cut_short = attempts.iter().filter(|a| a.answer.is_none()).count();
    assert!(
        cut_short >= rounds,
        "each kill should cut requests short: {cut_short} in {rounds} rounds"
    );
    let (server, _) = start(&db, &key_file);
    let key = api_key.expect("bootstrap key");
    audit(&server.base, &key, &attempts).await;
    drop(server);
    let _ = std::fs::remove_dir_all(key_dir);
}

async fn audit(base: &str, api_key: &str, attempts: &[Attempt]) {
    let http = reqwest::Client::new();
    let answered = attempts.iter().filter(|a| a.answer.is_some()).count();
    assert!(
        answered > 100,
        "the workload barely ran: {answered} answers"
    );

    // Every request again, with its key: an answered one replays byte for byte; a cut-short one
    // does its work now or replays what it did before the kill.
    let mut ids = BTreeMap::new();
    for attempt in attempts {
        let (status, text, replayed) = post(
            &http,
            base,
            api_key,
            &attempt.path,
            &attempt.key,
            &attempt.body,
        )
        .await
        .expect("the restarted server answers");
        if let Some((first_status, first_text)) = &attempt.answer
            && *first_status < 500
        {
            assert_eq!(status, *first_status, "{} replays its status", attempt.key);
            assert_eq!(&text, first_text, "{} replays byte for byte", attempt.key);
            assert!(replayed, "{} is marked replayed", attempt.key);
        }
        if attempt.path == "/v1/payment-intents" && status == 201 {
            let v: Value = serde_json::from_str(&text).expect("json");
            let id = v["data"]["payment_intent"]["payment_intent_id"]
                .as_str()
                .expect("id")
                .to_owned();
            ids.insert(attempt.key.clone(), id);
        }
    }

    // The data: every intent keeps the money invariant, was captured at most once, refunded at
    // most what was captured, and has exactly the events its state implies.
    for id in ids.values() {
        let intent: Value = http
            .get(format!("{base}/v1/payment-intents/{id}"))
            .bearer_auth(api_key)
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        let i = &intent["data"];
        let m = |f: &str| i[f]["amount"].as_i64().expect("amount");
        assert_eq!(
            m("captured_amount_money") + m("released_amount_money") + m("capturable_amount_money"),
            m("authorized_amount_money"),
            "invariant on {id}: {i}"
        );
        assert!(
            m("refunded_amount_money") <= m("captured_amount_money"),
            "{i}"
        );
        let actions: Value = http
            .get(format!("{base}/v1/payment-intents/{id}/actions"))
            .bearer_auth(api_key)
            .send()
            .await
            .expect("actions")
            .json()
            .await
            .expect("json");
        let kinds: Vec<&str> = actions["data"]
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|a| a["type"].as_str())
            .collect();
        let count = |k: &str| kinds.iter().filter(|x| **x == k).count();
        assert!(
            count("capture") <= 1,
            "captured once at most: {id} {kinds:?}"
        );
        assert!(count("authorization") <= 1, "one hold: {id} {kinds:?}");
        let events: Value = http
            .get(format!("{base}/v1/events?payment_intent_id={id}&limit=100"))
            .bearer_auth(api_key)
            .send()
            .await
            .expect("events")
            .json()
            .await
            .expect("json");
        let types: Vec<&str> = events["data"]
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|e| e["type"].as_str())
            .collect();
        let events_of = |t: &str| types.iter().filter(|x| **x == t).count();
        assert_eq!(events_of("payment_intent.created"), 1, "{id}: {types:?}");
        let status = i["status"].as_str().expect("status");
        let held = usize::from(matches!(status, "requires_capture" | "succeeded"));
        assert_eq!(
            events_of("payment_intent.requires_capture"),
            held,
            "{id} {status}: {types:?}"
        );
        let captured = usize::from(status == "succeeded");
        assert_eq!(
            events_of("payment_intent.succeeded"),
            captured,
            "{id}: {types:?}"
        );
        assert_eq!(count("capture"), captured, "{id}: {kinds:?}");
        assert_eq!(
            events_of("refund.succeeded"),
            count("refund"),
            "one event per refund: {id}: {types:?} {kinds:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_nothing_acknowledged_sqlite() {
    crash_rounds(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_nothing_acknowledged_postgres() {
    crash_rounds(Backend::Postgres).await;
}
