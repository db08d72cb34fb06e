//! Webhooks, on both backends unless noted: endpoints and their signing secrets (rotation with a
//! 24-hour overlap), and delivery to real HTTP receivers on 127.0.0.1 that check every Standard
//! Webhooks signature with the Rust `standardwebhooks` crate — and, for one full flow, with the
//! independent PyPI package too (`verify_webhook.py`). Then retries, `410 Gone`, `Retry-After`,
//! giving up, resend, the outbox written with each change, a slow endpoint beside a fast one,
//! `holdfast webhooks verify`, the real binary killed with SIGKILL mid-flow, a separate
//! `holdfast worker`, and two workers on one PostgreSQL database.
//!
//! Receivers check timestamps against the wall clock (5-minute tolerance), so every test that
//! delivers first sets the harness's manual clock to the real time.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use holdfast_domain::Timestamp;
use holdfast_service::Clock;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::both_backends;
use crate::helpers::{Backend, Database, Remote, Res, T0, T0_RFC3339, TestApp, rfc3339, usd};

both_backends!(
    endpoints_are_created_read_updated_rotated_and_deleted,
    endpoint_validation_and_tenancy,
    rotation_signs_with_both_secrets_for_24_hours,
    signing_secrets_are_never_stored_in_clear,
    a_full_flow_arrives_signed_once_each_in_event_order,
    gone_disables_the_endpoint,
    retry_after_sets_the_next_attempt,
    resend_requeues_to_every_matching_endpoint,
    deleting_or_disabling_cancels_what_was_queued,
    every_event_has_its_deliveries_in_the_outbox,
    a_slow_endpoint_does_not_delay_another,
);

const BIN: &str = env!("CARGO_BIN_EXE_holdfast");
const PYTHON_VERIFIER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/api/verify_webhook.py");

// ---- A receiver --------------------------------------------------------------------------------

/// How the receiver answers one request.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Status(u16),
    /// A status with `Retry-After: seconds`.
    RetryAfter(u16, u32),
    /// 200 after sleeping this long.
    Slow(Duration),
    /// 500 to `percent` of attempts, chosen at random, but to no event more than `max_per_event`
    /// times (so a retry schedule long enough always ends delivered); otherwise 200.
    Flaky {
        percent: u32,
        max_per_event: u32,
    },
}

/// One request as the receiver got it.
#[derive(Debug, Clone)]
struct Receipt {
    id: String,
    timestamp: i64,
    signature: String,
    content_type: String,
    user_agent: String,
    body: Vec<u8>,
    /// When the request arrived.
    at: Instant,
    /// Every `v1,` signature checked with `standardwebhooks`, on arrival, against the secrets the
    /// receiver was told to expect: one signature per secret, each valid.
    verified: Result<(), String>,
    /// The status the receiver answered.
    status: u16,
}

impl Receipt {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }

    fn headers(&self) -> [(&'static str, String); 3] {
        [
            ("webhook-id", self.id.clone()),
            ("webhook-timestamp", self.timestamp.to_string()),
            ("webhook-signature", self.signature.clone()),
        ]
    }
}

#[derive(Debug, Default)]
struct Inbox {
    receipts: Vec<Receipt>,
    /// Answers for the next requests, in order; then `otherwise` (200 if unset).
    script: VecDeque<Answer>,
    otherwise: Option<Answer>,
    secrets: Vec<String>,
    /// The 500s a flaky receiver gave each event.
    failures: BTreeMap<String, u32>,
}

/// A real HTTP server on 127.0.0.1 recording what it is sent.
struct Receiver {
    url: String,
    inbox: Arc<Mutex<Inbox>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Receiver {
    async fn start() -> Receiver {
        Receiver::start_on(0).await
    }

    async fn start_on(port: u16) -> Receiver {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("receiver binds");
        let addr = listener.local_addr().unwrap();
        let inbox = Arc::new(Mutex::new(Inbox::default()));
        let router = axum::Router::new()
            .fallback(receive)
            .with_state(Arc::clone(&inbox));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Receiver {
            url: format!("http://{addr}/hooks"),
            inbox,
            task,
        }
    }

    /// A port nothing listens on (bound, then let go): a receiver that is down.
    fn free_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    fn expect_secrets(&self, secrets: &[&str]) {
        self.inbox.lock().unwrap().secrets = secrets.iter().map(|s| (*s).to_owned()).collect();
    }

    fn script(&self, answers: &[Answer]) {
        self.inbox.lock().unwrap().script = answers.iter().copied().collect();
    }

    fn always(&self, answer: Answer) {
        self.inbox.lock().unwrap().otherwise = Some(answer);
    }

    fn receipts(&self) -> Vec<Receipt> {
        self.inbox.lock().unwrap().receipts.clone()
    }

    fn ids(&self) -> Vec<String> {
        self.receipts().into_iter().map(|r| r.id).collect()
    }

    /// Waits (bounded) until `done` holds for the receipts so far.
    async fn wait_until(&self, within: Duration, done: impl Fn(&[Receipt]) -> bool) {
        let deadline = Instant::now() + within;
        loop {
            let receipts = self.receipts();
            if done(&receipts) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the receiver did not get what was expected within {within:?}; it got {:?}",
                receipts.iter().map(|r| &r.id).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn receive(
    State(inbox): State<Arc<Mutex<Inbox>>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let at = Instant::now();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let answer = {
        let mut inbox = inbox.lock().unwrap();
        let verified = check_signatures(&inbox.secrets, &headers, &body);
        let otherwise = inbox.otherwise.unwrap_or(Answer::Status(200));
        let id = header("webhook-id");
        let answer = match inbox.script.pop_front().unwrap_or(otherwise) {
            Answer::Flaky {
                percent,
                max_per_event,
            } => {
                let failures = inbox.failures.entry(id.clone()).or_default();
                if *failures < max_per_event && rand::random_range(0..100) < percent {
                    *failures += 1;
                    Answer::Status(500)
                } else {
                    Answer::Status(200)
                }
            }
            answer => answer,
        };
        let status = match answer {
            Answer::Status(code) | Answer::RetryAfter(code, _) => code,
            Answer::Slow(_) | Answer::Flaky { .. } => 200,
        };
        inbox.receipts.push(Receipt {
            id,
            timestamp: header("webhook-timestamp").parse().unwrap_or(0),
            signature: header("webhook-signature"),
            content_type: header("content-type"),
            user_agent: header("user-agent"),
            body: body.to_vec(),
            at,
            verified,
            status,
        });
        answer
    };
    match answer {
        Answer::Status(code) => StatusCode::from_u16(code).unwrap().into_response(),
        Answer::RetryAfter(code, seconds) => (
            StatusCode::from_u16(code).unwrap(),
            [("retry-after", seconds.to_string())],
        )
            .into_response(),
        Answer::Slow(pause) => {
            tokio::time::sleep(pause).await;
            StatusCode::OK.into_response()
        }
        Answer::Flaky { .. } => StatusCode::OK.into_response(),
    }
}

/// One `v1,` signature per expected secret, and `standardwebhooks` accepts each secret.
fn check_signatures(secrets: &[String], headers: &HeaderMap, body: &[u8]) -> Result<(), String> {
    if secrets.is_empty() {
        return Err("the receiver was told no secret".into());
    }
    let signature = headers
        .get(standardwebhooks::HEADER_WEBHOOK_SIGNATURE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let entries: Vec<&str> = signature.split(' ').collect();
    if entries.len() != secrets.len() || !entries.iter().all(|e| e.starts_with("v1,")) {
        return Err(format!(
            "expected {} `v1,` signature(s), got {signature:?}",
            secrets.len()
        ));
    }
    for (i, secret) in secrets.iter().enumerate() {
        standardwebhooks::Webhook::new(secret)
            .map_err(|e| format!("secret {i}: {e}"))?
            .verify(body, headers)
            .map_err(|e| format!("secret {i}: {e}"))?;
    }
    Ok(())
}

#[track_caller]
fn assert_verified(receipts: &[Receipt]) {
    for r in receipts {
        assert_eq!(
            r.verified,
            Ok(()),
            "signature of {}: {:?}",
            r.id,
            r.signature
        );
        assert_eq!(r.content_type, "application/json", "{}", r.id);
        assert!(
            r.user_agent.starts_with("holdfast-webhooks/"),
            "{}",
            r.user_agent
        );
        assert_eq!(r.json()["id"], r.id.as_str(), "webhook-id is the event id");
    }
}

/// What `standardwebhooks` signs for this receipt with `secret`.
fn sign(secret: &str, r: &Receipt) -> String {
    standardwebhooks::Webhook::new(secret)
        .unwrap()
        .sign(&r.id, r.timestamp, &r.body)
        .unwrap()
}

// ---- Helpers -----------------------------------------------------------------------------------

/// Sets the manual clock to the wall clock (receivers check timestamps against it); returns it.
fn use_wall_clock(app: &TestApp) -> i64 {
    let now = holdfast_service::SystemClock.now();
    app.clock.set(now);
    now.seconds()
}

/// One delivery pass, as the worker runs it; how many deliveries it attempted.
async fn pass(app: &TestApp) -> usize {
    holdfast::webhooks::deliver_once(&app.app, &holdfast::webhooks::client(), 100)
        .await
        .expect("delivery pass")
}

/// Passes until nothing is due; how many attempts were made in all.
async fn drain(app: &TestApp) -> usize {
    let mut total = 0;
    for _ in 0..20 {
        match pass(app).await {
            0 => return total,
            n => total += n,
        }
    }
    panic!("deliveries kept falling due");
}

/// Creates an endpoint in test mode; its id and secret.
async fn create_endpoint(app: &TestApp, url: &str, events: &[&str]) -> (String, String) {
    let res = app
        .post(
            "/v1/webhook-endpoints",
            json!({"url": url, "enabled_events": events}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let data = &res.json["data"];
    (
        data["webhook_endpoint_id"].as_str().unwrap().to_owned(),
        data["secret"].as_str().unwrap().to_owned(),
    )
}

async fn endpoint(app: &TestApp, id: &str) -> Value {
    let res = app.get(&format!("/v1/webhook-endpoints/{id}")).await;
    assert_eq!(res.status, 200, "{}", res.text);
    res.json["data"].clone()
}

/// `whsec_` and standard base64 of exactly 32 bytes (43 characters and one `=`).
#[track_caller]
fn assert_secret_shape(secret: &str) {
    let encoded = secret.strip_prefix("whsec_").expect("whsec_ prefix");
    assert_eq!(encoded.len(), 44, "{secret}");
    let (chars, padding) = encoded.split_at(43);
    assert_eq!(
        padding, "=",
        "32 bytes encode to 43 characters and one `=`: {secret}"
    );
    assert!(
        chars
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '/'),
        "{secret}"
    );
    assert!(standardwebhooks::Webhook::new(secret).is_ok());
}

/// Every event of the test mode, oldest first (all pages).
async fn all_events(app: &TestApp) -> Vec<Value> {
    all_events_at(&app.remote()).await
}

async fn all_events_at(api: &Remote) -> Vec<Value> {
    let mut events = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/events?limit=100&cursor={c}"),
            None => "/v1/events?limit=100".to_owned(),
        };
        let res = api.get(&path).await;
        assert_eq!(res.status, 200, "{}", res.text);
        events.extend(res.json["data"].as_array().unwrap().iter().cloned());
        if res.json["has_more"] == false {
            break;
        }
        cursor = Some(res.json["next_cursor"].as_str().unwrap().to_owned());
    }
    events.reverse();
    events
}

fn ids_of(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn deliveries(app: &TestApp, event_id: &str) -> Vec<Value> {
    let res = app.get(&format!("/v1/events/{event_id}/deliveries")).await;
    assert_eq!(res.status, 200, "{}", res.text);
    res.json["data"].as_array().unwrap().clone()
}

/// The one delivery of an event to an endpoint.
#[track_caller]
fn delivery_to(list: &[Value], endpoint_id: &str) -> Value {
    let found: Vec<&Value> = list
        .iter()
        .filter(|d| d["webhook_endpoint_id"] == endpoint_id)
        .collect();
    assert_eq!(found.len(), 1, "one delivery to {endpoint_id}: {list:?}");
    found[0].clone()
}

/// A delivery's attempts with `latency_ms` checked (a non-negative integer) and taken out.
#[track_caller]
fn attempts_without_latency(delivery: &Value) -> Vec<Value> {
    delivery["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let latency = a["latency_ms"].as_i64().expect("latency_ms");
            assert!(latency >= 0, "{a}");
            let mut a = a.clone();
            a.as_object_mut().unwrap().remove("latency_ms");
            a
        })
        .collect()
}

fn intent_id_of(res: &Res) -> String {
    res.json["data"]["payment_intent"]["payment_intent_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Creates an intent and returns the id of its `payment_intent.created` event.
async fn new_event(app: &TestApp) -> String {
    let id = app.create_manual(1000).await;
    let events = app.events_of(&id).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["type"], "payment_intent.created");
    events[0]["id"].as_str().unwrap().to_owned()
}

async fn rotate(app: &TestApp, id: &str) -> Res {
    app.request(
        Method::POST,
        &format!("/v1/webhook-endpoints/{id}/rotate-secret"),
    )
    .send()
    .await
}

/// A server with workers off whose failed deliveries are retried after 1 s, then 1 s, then given
/// up: three attempts in all.
async fn spawn_with_short_schedule(backend: Backend) -> Option<TestApp> {
    TestApp::spawn_with(
        backend,
        holdfast::Options {
            settings: holdfast_service::Settings {
                webhook_retry_schedule: vec![1, 1],
                ..Default::default()
            },
            without_workers: true,
            ..holdfast::Options::default()
        },
    )
    .await
}

/// The independent Python verifier, when it can run. Under `CI=true` a missing python
/// `standardwebhooks` module fails the test; elsewhere that part is skipped with a note.
async fn python_verifier() -> bool {
    let checked = tokio::process::Command::new("python3")
        .arg(PYTHON_VERIFIER)
        .arg("--check")
        .output()
        .await;
    let ci = std::env::var("CI").as_deref() == Ok("true");
    match checked {
        Ok(out) if out.status.success() => true,
        other => {
            let why = match other {
                Ok(out) => String::from_utf8_lossy(&out.stderr).trim().to_owned(),
                Err(e) => format!("python3 did not run: {e}"),
            };
            assert!(
                !ci,
                "CI=true but the Python standardwebhooks verifier cannot run: {why}"
            );
            eprintln!(
                "SKIPPED: the independent Python verifier ({why}); `pip install standardwebhooks` to run it"
            );
            false
        }
    }
}

/// Runs a verifier program with `args`, the receipt's headers as `--header "name: value"` and the
/// body on stdin; its exit code and stdout.
async fn run_verifier(program: &str, args: &[&str], r: &Receipt, body: &[u8]) -> (i32, String) {
    let mut command = tokio::process::Command::new(program);
    command.args(args);
    for (name, value) in r.headers() {
        command.arg("--header").arg(format!("{name}: {value}"));
    }
    let mut child = command
        .env("HOLDFAST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the verifier starts");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(body).await.unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

// ---- Endpoints ---------------------------------------------------------------------------------

async fn endpoints_are_created_read_updated_rotated_and_deleted(app: &TestApp) {
    let res = app
        .post(
            "/v1/webhook-endpoints",
            json!({"url": "http://127.0.0.1:9/hooks", "enabled_events": ["*"], "description": "orders service"}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let created = res.json["data"].clone();
    let id = created["webhook_endpoint_id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("we_"), "{id}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert_secret_shape(&secret);
    let mut shown = json!({
        "webhook_endpoint_id": id,
        "url": "http://127.0.0.1:9/hooks",
        "enabled_events": ["*"],
        "description": "orders service",
        "disabled": false,
        "livemode": false,
        "created_at": T0_RFC3339,
        "updated_at": T0_RFC3339,
    });
    let mut with_secret = shown.clone();
    with_secret["secret"] = json!(secret);
    assert_eq!(created, with_secret);

    // The secret is shown only in that answer.
    let res = app.get(&format!("/v1/webhook-endpoints/{id}")).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json["data"], shown);
    assert!(!res.text.contains(&secret));

    let (second, second_secret) = create_endpoint(
        app,
        "https://hooks.example.com/holdfast",
        &["payment_intent.succeeded", "refund.succeeded"],
    )
    .await;
    assert_ne!(second_secret, secret);
    let res = app.get("/v1/webhook-endpoints").await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json["has_more"], false);
    let listed = res.json["data"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{}", res.text);
    assert_eq!(listed[0]["webhook_endpoint_id"], second, "newest first");
    assert_eq!(listed[0]["description"], Value::Null);
    assert_eq!(
        listed[0]["enabled_events"],
        json!(["payment_intent.succeeded", "refund.succeeded"])
    );
    assert_eq!(listed[1], shown);
    assert!(listed.iter().all(|e| e.get("secret").is_none()));
    assert!(!res.text.contains("whsec_"));
    let res = app.get("/v1/webhook-endpoints?limit=1").await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json["has_more"], true);
    let cursor = res.json["next_cursor"].as_str().unwrap();
    let res = app
        .get(&format!("/v1/webhook-endpoints?limit=1&cursor={cursor}"))
        .await;
    assert_eq!(res.json["data"][0]["webhook_endpoint_id"], id.as_str());
    assert_eq!(res.json["has_more"], false);

    // PATCH each field; what is not sent stays.
    app.clock.advance(60);
    let res = app
        .patch(
            &format!("/v1/webhook-endpoints/{id}"),
            json!({"url": "https://example.com/hooks", "enabled_events": ["payment_intent.succeeded", "refund.created"], "description": null, "disabled": true}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    shown["url"] = json!("https://example.com/hooks");
    shown["enabled_events"] = json!(["payment_intent.succeeded", "refund.created"]);
    shown["description"] = Value::Null;
    shown["disabled"] = json!(true);
    shown["updated_at"] = json!(rfc3339(T0 + 60));
    assert_eq!(res.json["data"], shown, "no secret in a PATCH answer");
    assert_eq!(endpoint(app, &id).await, shown);
    let res = app
        .patch(
            &format!("/v1/webhook-endpoints/{id}"),
            json!({"description": "back again", "disabled": false}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    shown["description"] = json!("back again");
    shown["disabled"] = json!(false);
    assert_eq!(res.json["data"], shown);
    assert_eq!(endpoint(app, &id).await, shown);

    // Rotation: a new secret, shown once.
    app.clock.advance(60);
    let res = rotate(app, &id).await;
    assert_eq!(res.status, 200, "{}", res.text);
    let rotated = res.json["data"]["secret"].as_str().unwrap().to_owned();
    assert_secret_shape(&rotated);
    assert_ne!(rotated, secret);
    shown["updated_at"] = json!(rfc3339(T0 + 120));
    let mut with_secret = shown.clone();
    with_secret["secret"] = json!(rotated);
    assert_eq!(res.json["data"], with_secret);
    let res = app.get(&format!("/v1/webhook-endpoints/{id}")).await;
    assert_eq!(res.json["data"], shown);
    assert!(!res.text.contains(&rotated) && !res.text.contains(&secret));

    // DELETE: gone for every verb, and from the list.
    let res = app.delete(&format!("/v1/webhook-endpoints/{id}")).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(
        res.json,
        json!({"data": {"webhook_endpoint_id": id, "deleted": true}})
    );
    let path = format!("/v1/webhook-endpoints/{id}");
    app.get(&path)
        .await
        .assert_error(404, "WEBHOOK_ENDPOINT_NOT_FOUND", None);
    app.delete(&path)
        .await
        .assert_error(404, "WEBHOOK_ENDPOINT_NOT_FOUND", None);
    app.patch(&path, json!({"disabled": true}))
        .await
        .assert_error(404, "WEBHOOK_ENDPOINT_NOT_FOUND", None);
    rotate(app, &id)
        .await
        .assert_error(404, "WEBHOOK_ENDPOINT_NOT_FOUND", None);
    let res = app.get("/v1/webhook-endpoints").await;
    let listed = res.json["data"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["webhook_endpoint_id"], second);
}

async fn endpoint_validation_and_tenancy(app: &TestApp) {
    let create = |body: Value| async move { app.post("/v1/webhook-endpoints", body).await };
    let url = "http://127.0.0.1:9/hooks";
    create(json!({"url": url, "enabled_events": ["payment_intent.teleported"]}))
        .await
        .assert_error(400, "INVALID_EVENT_TYPE", Some("enabled_events[0]"));
    create(json!({"url": url, "enabled_events": ["payment_intent.succeeded", "nope"]}))
        .await
        .assert_error(400, "INVALID_EVENT_TYPE", Some("enabled_events[1]"));
    create(json!({"url": url, "enabled_events": []}))
        .await
        .assert_error(400, "INVALID_PARAMETER", Some("enabled_events"));
    create(json!({"url": "ftp://example.com/hooks", "enabled_events": ["*"]}))
        .await
        .assert_error(400, "INVALID_PARAMETER", Some("url"));
    create(json!({"url": "example.com/hooks", "enabled_events": ["*"]}))
        .await
        .assert_error(400, "INVALID_PARAMETER", Some("url"));
    create(json!({"url": "https:///hooks", "enabled_events": ["*"]}))
        .await
        .assert_error(400, "INVALID_PARAMETER", Some("url"));
    create(json!({"url": url, "enabled_events": ["*"], "description": "x".repeat(501)}))
        .await
        .assert_error(400, "INVALID_PARAMETER", Some("description"));
    // Test mode takes http, loopback included.
    let (id, _) = create_endpoint(app, url, &["payment_intent.created"]).await;
    let path = format!("/v1/webhook-endpoints/{id}");
    app.patch(&path, json!({"enabled_events": ["*", "refund.teleported"]}))
        .await
        .assert_error(400, "INVALID_EVENT_TYPE", Some("enabled_events[1]"));
    app.patch(&path, json!({"url": "gopher://example.com"}))
        .await
        .assert_error(400, "INVALID_PARAMETER", Some("url"));
    assert_eq!(
        endpoint(app, &id).await["enabled_events"],
        json!(["payment_intent.created"]),
        "a refused PATCH changes nothing"
    );

    // Live mode: https only.
    let live = |method: Method, path: &str, body: Option<Value>| {
        let mut req = app.request(method, path).key(&app.live_key);
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send()
    };
    for http_url in ["http://example.com/hooks", "http://127.0.0.1:9/hooks"] {
        live(
            Method::POST,
            "/v1/webhook-endpoints",
            Some(json!({"url": http_url, "enabled_events": ["*"]})),
        )
        .await
        .assert_error(400, "INVALID_PARAMETER", Some("url"));
    }
    let res = live(
        Method::POST,
        "/v1/webhook-endpoints",
        Some(json!({"url": "https://example.com/hooks", "enabled_events": ["*"]})),
    )
    .await;
    assert_eq!(res.status, 201, "{}", res.text);
    assert_eq!(res.json["data"]["livemode"], true);
    let live_id = res.json["data"]["webhook_endpoint_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let live_path = format!("/v1/webhook-endpoints/{live_id}");
    live(
        Method::PATCH,
        &live_path,
        Some(json!({"url": "http://example.com/hooks"})),
    )
    .await
    .assert_error(400, "INVALID_PARAMETER", Some("url"));

    // Each mode sees only its own endpoints.
    let res = live(Method::GET, "/v1/webhook-endpoints", None).await;
    let listed = res.json["data"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["webhook_endpoint_id"], live_id.as_str());
    let res = app.get("/v1/webhook-endpoints").await;
    let listed = res.json["data"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["webhook_endpoint_id"], id.as_str());
    for (method, body) in [
        (Method::GET, None),
        (Method::PATCH, Some(json!({"disabled": true}))),
        (Method::DELETE, None),
    ] {
        live(method.clone(), &path, body.clone())
            .await
            .assert_error(404, "WEBHOOK_ENDPOINT_NOT_FOUND", None);
        let mut req = app.request(method, &live_path);
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send()
            .await
            .assert_error(404, "WEBHOOK_ENDPOINT_NOT_FOUND", None);
    }
    live(Method::POST, &format!("{path}/rotate-secret"), None)
        .await
        .assert_error(404, "WEBHOOK_ENDPOINT_NOT_FOUND", None);

    // Another merchant sees neither.
    let other = app.app.create_merchant("other").await.unwrap();
    for key in [&other.test_key, &other.live_key] {
        for target in [&path, &live_path] {
            let as_other = |method: Method| app.request(method, target).key(key);
            as_other(Method::GET).send().await.assert_error(
                404,
                "WEBHOOK_ENDPOINT_NOT_FOUND",
                None,
            );
            as_other(Method::PATCH)
                .json(&json!({"disabled": true}))
                .send()
                .await
                .assert_error(404, "WEBHOOK_ENDPOINT_NOT_FOUND", None);
            as_other(Method::DELETE).send().await.assert_error(
                404,
                "WEBHOOK_ENDPOINT_NOT_FOUND",
                None,
            );
            app.request(Method::POST, &format!("{target}/rotate-secret"))
                .key(key)
                .send()
                .await
                .assert_error(404, "WEBHOOK_ENDPOINT_NOT_FOUND", None);
        }
        let res = app
            .request(Method::GET, "/v1/webhook-endpoints")
            .key(key)
            .send()
            .await;
        assert_eq!(res.status, 200, "{}", res.text);
        assert_eq!(res.json["data"], json!([]));
    }
    // Untouched by all of that.
    assert_eq!(endpoint(app, &id).await["disabled"], false);
    let res = live(Method::GET, &live_path, None).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json["data"]["disabled"], false);
}

async fn rotation_signs_with_both_secrets_for_24_hours(app: &TestApp) {
    let now = use_wall_clock(app);
    let rx = Receiver::start().await;
    let (id, old) = create_endpoint(app, &rx.url, &["*"]).await;
    rx.expect_secrets(&[&old]);
    new_event(app).await;
    assert_eq!(pass(app).await, 1);

    // Rotated a day less two minutes ago, so every timestamp below stays within the receivers'
    // tolerance of the wall clock. A second before the 24 h are up, both secrets sign.
    let rotated_at = now - 86_400 + 120;
    app.clock.set(Timestamp(rotated_at));
    let res = rotate(app, &id).await;
    assert_eq!(res.status, 200, "{}", res.text);
    let new = res.json["data"]["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    app.clock.set(Timestamp(rotated_at + 86_399));
    rx.expect_secrets(&[&old, &new]);
    new_event(app).await;
    assert_eq!(pass(app).await, 1);

    // 24 h and a second after the rotation: the new secret alone.
    app.clock.set(Timestamp(rotated_at + 86_400 + 1));
    rx.expect_secrets(&[&new]);
    new_event(app).await;
    assert_eq!(pass(app).await, 1);

    let got = rx.receipts();
    assert_eq!(got.len(), 3);
    assert_verified(&got);
    assert_eq!(
        got.iter().map(|r| r.timestamp).collect::<Vec<_>>(),
        [now, rotated_at + 86_399, rotated_at + 86_400 + 1],
        "webhook-timestamp is the server's time of the attempt"
    );
    assert_eq!(got[0].signature, sign(&old, &got[0]));
    let both: BTreeSet<&str> = got[1].signature.split(' ').collect();
    let expected: BTreeSet<String> = [sign(&old, &got[1]), sign(&new, &got[1])].into();
    assert_eq!(
        both,
        expected.iter().map(String::as_str).collect::<BTreeSet<_>>(),
        "two v1 entries within the overlap"
    );
    assert_eq!(got[2].signature, sign(&new, &got[2]));
    let mut headers = HeaderMap::new();
    for (name, value) in got[2].headers() {
        headers.insert(name, value.parse().unwrap());
    }
    assert!(
        standardwebhooks::Webhook::new(&old)
            .unwrap()
            .verify(&got[2].body, &headers)
            .is_err(),
        "after 24 h the old secret no longer signs"
    );
    // The independent verifier takes either secret of the two-signature delivery.
    if python_verifier().await {
        for secret in [&old, &new] {
            let (code, stdout) = run_verifier(
                "python3",
                &[PYTHON_VERIFIER, "--secret", secret],
                &got[1],
                &got[1].body,
            )
            .await;
            assert_eq!((code, stdout.as_str()), (0, "valid\n"));
        }
    }
}

/// Secrets are sealed at rest; a client that sends `Idempotency-Key` (as a careful one does)
/// must not leave a clear copy in the database either.
async fn signing_secrets_are_never_stored_in_clear(app: &TestApp) {
    let res = app
        .request(Method::POST, "/v1/webhook-endpoints")
        .idem("create-endpoint-1")
        .json(&json!({"url": "https://example.com/hooks", "enabled_events": ["*"]}))
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let id = res.json["data"]["webhook_endpoint_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let created = res.json["data"]["secret"].as_str().unwrap().to_owned();
    let res = app
        .request(
            Method::POST,
            &format!("/v1/webhook-endpoints/{id}/rotate-secret"),
        )
        .idem("rotate-endpoint-1")
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let rotated = res.json["data"]["secret"].as_str().unwrap().to_owned();
    for secret in [&created, &rotated] {
        // The base64 part: what any copy of the secret contains.
        let needle = secret.strip_prefix("whsec_").unwrap();
        let places = places_holding(&app.db, app.backend, needle).await;
        assert!(
            places.is_empty(),
            "a signing secret is stored in clear in: {places:?}"
        );
    }
}

/// Where in the database `needle` appears: PostgreSQL tables, or SQLite files (WAL included).
async fn places_holding(db: &Database, backend: Backend, needle: &str) -> Vec<String> {
    match backend {
        Backend::Sqlite => {
            let file = PathBuf::from(db.url.strip_prefix("sqlite://").unwrap());
            let dir = file.parent().unwrap().to_owned();
            let mut places = Vec::new();
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                let bytes = std::fs::read(&path).unwrap_or_default();
                if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                    places.push(path.display().to_string());
                }
            }
            places
        }
        Backend::Postgres => {
            let (client, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(connection);
            let mut places = Vec::new();
            for (table, column) in [
                ("idempotency_keys", "convert_from(body, 'UTF8')"),
                ("webhook_endpoints", "doc"),
                ("events", "doc"),
            ] {
                let sql = format!("SELECT count(*) FROM {table} WHERE strpos({column}, $1) > 0");
                let n: i64 = client.query_one(&sql, &[&needle]).await.unwrap().get(0);
                if n > 0 {
                    places.push(format!("{table} ({n} rows)"));
                }
            }
            places
        }
    }
}

// ---- Delivery ----------------------------------------------------------------------------------

async fn a_full_flow_arrives_signed_once_each_in_event_order(app: &TestApp) {
    let now = use_wall_clock(app);
    let everything = Receiver::start().await;
    let succeeded = Receiver::start().await;
    let (all_id, all_secret) = create_endpoint(app, &everything.url, &["*"]).await;
    let (succeeded_id, succeeded_secret) =
        create_endpoint(app, &succeeded.url, &["payment_intent.succeeded"]).await;
    everything.expect_secrets(&[&all_secret]);
    succeeded.expect_secrets(&[&succeeded_secret]);

    let pi = app.create_manual(12900).await;
    let res = app
        .post(
            &format!("/v1/payment-intents/{pi}/confirm"),
            json!({"payment_source_token": "pm_card_visa"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let res = app
        .post(
            &format!("/v1/payment-intents/{pi}/capture"),
            json!({"amount_money": usd(9800)}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let res = app
        .post(
            "/v1/refunds",
            json!({"payment_intent_id": pi, "amount_money": usd(1000)}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);

    let events = all_events(app).await;
    let ids = ids_of(&events);
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "payment_intent.created",
            "payment_intent.requires_capture",
            "payment_intent.succeeded",
            "refund.created",
            "refund.succeeded"
        ]
    );
    let succeeded_events: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "payment_intent.succeeded")
        .collect();
    assert_eq!(succeeded_events.len(), 1, "{types:?}");
    let succeeded_event = succeeded_events[0]["id"].as_str().unwrap().to_owned();

    assert_eq!(drain(app).await, events.len() + 1);
    let got = everything.receipts();
    assert_eq!(
        got.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        ids,
        "every event once, in the order the events were created ({types:?})"
    );
    assert_verified(&got);
    for (r, event) in got.iter().zip(&events) {
        assert_eq!(
            &r.json(),
            event,
            "the body is the event as the API shows it"
        );
        assert_eq!(r.timestamp, now);
    }
    let only = succeeded.receipts();
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].id, succeeded_event);
    assert_verified(&only);

    // Delivered, once: nothing falls due again.
    for event in &ids {
        let list = deliveries(app, event).await;
        let wanted = if *event == succeeded_event { 2 } else { 1 };
        assert_eq!(list.len(), wanted, "{list:?}");
        let d = delivery_to(&list, &all_id);
        assert_eq!(d["status"], "delivered", "{d}");
        assert_eq!(d["attempts_count"], 1);
        assert_eq!(d["next_attempt_at"], Value::Null);
        assert_eq!(
            attempts_without_latency(&d),
            [
                json!({"attempt": 1, "attempted_at": rfc3339(now), "status_code": 200, "error": null, "next_attempt_at": null})
            ]
        );
    }
    assert_eq!(
        delivery_to(&deliveries(app, &succeeded_event).await, &succeeded_id)["status"],
        "delivered"
    );
    app.clock.advance(3 * 86_400);
    assert_eq!(pass(app).await, 0);
    app.clock.set(Timestamp(now));
    assert_eq!(everything.receipts().len(), ids.len());
    assert_eq!(succeeded.receipts().len(), 1);

    // `holdfast webhooks verify` on a real delivery.
    let first = &got[0];
    let (code, stdout) = run_verifier(
        BIN,
        &["webhooks", "verify", "--secret", &all_secret],
        first,
        &first.body,
    )
    .await;
    assert_eq!((code, stdout.as_str()), (0, "valid\n"));
    let (code, stdout) = run_verifier(
        BIN,
        &["webhooks", "verify", "--secret", &succeeded_secret],
        first,
        &first.body,
    )
    .await;
    assert_eq!(code, 1, "a wrong secret");
    assert!(stdout.is_empty(), "{stdout}");
    let mut tampered = first.body.clone();
    tampered.extend_from_slice(b" ");
    let (code, _) = run_verifier(
        BIN,
        &["webhooks", "verify", "--secret", &all_secret],
        first,
        &tampered,
    )
    .await;
    assert_eq!(code, 1, "a changed body");

    // The independent verifier agrees on every delivery (and refuses a tampered one).
    if python_verifier().await {
        let checks = got
            .iter()
            .map(|r| (r, &all_secret))
            .chain(only.iter().map(|r| (r, &succeeded_secret)));
        for (r, secret) in checks {
            let (code, stdout) = run_verifier(
                "python3",
                &[PYTHON_VERIFIER, "--secret", secret],
                r,
                &r.body,
            )
            .await;
            assert_eq!((code, stdout.as_str()), (0, "valid\n"), "{}", r.id);
        }
        let (code, _) = run_verifier(
            "python3",
            &[PYTHON_VERIFIER, "--secret", &all_secret],
            first,
            &tampered,
        )
        .await;
        assert_eq!(code, 1, "python: a changed body");
        let (code, _) = run_verifier(
            "python3",
            &[PYTHON_VERIFIER, "--secret", &succeeded_secret],
            first,
            &first.body,
        )
        .await;
        assert_eq!(code, 1, "python: a wrong secret");
    }
}

async fn five_hundred_twice_then_ok_is_three_attempts(backend: Backend) {
    let Some(app) = spawn_with_short_schedule(backend).await else {
        return;
    };
    let now = use_wall_clock(&app);
    let rx = Receiver::start().await;
    rx.script(&[Answer::Status(500), Answer::Status(500)]);
    let (endpoint_id, secret) = create_endpoint(&app, &rx.url, &["*"]).await;
    rx.expect_secrets(&[&secret]);
    let event = new_event(&app).await;

    assert_eq!(pass(&app).await, 1);
    assert_eq!(pass(&app).await, 0, "not due again until a second later");
    let d = delivery_to(&deliveries(&app, &event).await, &endpoint_id);
    assert_eq!(d["status"], "pending");
    assert_eq!(d["attempts_count"], 1);
    assert_eq!(d["next_attempt_at"], rfc3339(now + 1));
    app.clock.advance(1);
    assert_eq!(pass(&app).await, 1);
    app.clock.advance(1);
    assert_eq!(pass(&app).await, 1);
    app.clock.advance(3600);
    assert_eq!(pass(&app).await, 0);

    let got = rx.receipts();
    assert_eq!(got.len(), 3, "exactly three attempts");
    assert!(got.iter().all(|r| r.id == event));
    assert_verified(&got);
    let d = delivery_to(&deliveries(&app, &event).await, &endpoint_id);
    assert_eq!(d["status"], "delivered", "{d}");
    assert_eq!(d["attempts_count"], 3);
    assert_eq!(d["next_attempt_at"], Value::Null);
    assert_eq!(
        attempts_without_latency(&d),
        [
            json!({"attempt": 1, "attempted_at": rfc3339(now), "status_code": 500, "error": "HTTP 500", "next_attempt_at": rfc3339(now + 1)}),
            json!({"attempt": 2, "attempted_at": rfc3339(now + 1), "status_code": 500, "error": "HTTP 500", "next_attempt_at": rfc3339(now + 2)}),
            json!({"attempt": 3, "attempted_at": rfc3339(now + 2), "status_code": 200, "error": null, "next_attempt_at": null}),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_twice_then_ok_is_three_attempts_sqlite() {
    five_hundred_twice_then_ok_is_three_attempts(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_twice_then_ok_is_three_attempts_postgres() {
    five_hundred_twice_then_ok_is_three_attempts(Backend::Postgres).await;
}

async fn the_delivery_fails_after_the_last_scheduled_attempt(backend: Backend) {
    let Some(app) = spawn_with_short_schedule(backend).await else {
        return;
    };
    let now = use_wall_clock(&app);
    let rx = Receiver::start().await;
    rx.always(Answer::Status(500));
    let (broken, secret) = create_endpoint(&app, &rx.url, &["*"]).await;
    rx.expect_secrets(&[&secret]);
    let down_url = format!("http://127.0.0.1:{}/hooks", Receiver::free_port());
    let (down, _) = create_endpoint(&app, &down_url, &["*"]).await;
    let event = new_event(&app).await;

    for step in 0..3 {
        assert_eq!(pass(&app).await, 2, "attempt {}", step + 1);
        app.clock.advance(1);
    }
    app.clock.advance(7 * 86_400);
    assert_eq!(pass(&app).await, 0, "nothing after the last attempt");
    assert_eq!(rx.receipts().len(), 3);
    assert_verified(&rx.receipts());

    let list = deliveries(&app, &event).await;
    for (endpoint_id, status_code, error) in [
        (&broken, json!(500), json!("HTTP 500")),
        (
            &down,
            Value::Null,
            json!("connection refused or unreachable"),
        ),
    ] {
        let d = delivery_to(&list, endpoint_id);
        assert_eq!(d["status"], "failed", "{d}");
        assert_eq!(d["attempts_count"], 3);
        assert_eq!(d["next_attempt_at"], Value::Null);
        let expected: Vec<Value> = (0..3)
            .map(|i| {
                json!({
                    "attempt": i + 1,
                    "attempted_at": rfc3339(now + i),
                    "status_code": status_code,
                    "error": error,
                    "next_attempt_at": if i < 2 { json!(rfc3339(now + i + 1)) } else { Value::Null },
                })
            })
            .collect();
        assert_eq!(attempts_without_latency(&d), expected);
    }
    // The endpoints stay enabled: only 410 disables.
    assert_eq!(endpoint(&app, &broken).await["disabled"], false);
    assert_eq!(endpoint(&app, &down).await["disabled"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delivery_fails_after_the_last_scheduled_attempt_sqlite() {
    the_delivery_fails_after_the_last_scheduled_attempt(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delivery_fails_after_the_last_scheduled_attempt_postgres() {
    the_delivery_fails_after_the_last_scheduled_attempt(Backend::Postgres).await;
}

async fn gone_disables_the_endpoint(app: &TestApp) {
    let now = use_wall_clock(app);
    let gone = Receiver::start().await;
    gone.always(Answer::Status(410));
    let fine = Receiver::start().await;
    let (gone_id, gone_secret) = create_endpoint(app, &gone.url, &["*"]).await;
    let (fine_id, fine_secret) = create_endpoint(app, &fine.url, &["*"]).await;
    gone.expect_secrets(&[&gone_secret]);
    fine.expect_secrets(&[&fine_secret]);
    let first = new_event(app).await;
    let second = new_event(app).await;

    drain(app).await;
    assert_eq!(gone.ids(), [first.as_str()], "nothing after the 410");
    assert_eq!(fine.ids(), [first.clone(), second.clone()]);
    assert_verified(&gone.receipts());
    assert_eq!(endpoint(app, &gone_id).await["disabled"], true);
    assert_eq!(endpoint(app, &fine_id).await["disabled"], false);
    let d = delivery_to(&deliveries(app, &first).await, &gone_id);
    assert_eq!(d["status"], "failed", "{d}");
    assert_eq!(
        attempts_without_latency(&d),
        [
            json!({"attempt": 1, "attempted_at": rfc3339(now), "status_code": 410, "error": "HTTP 410", "next_attempt_at": null})
        ]
    );
    // What was queued for it is never sent (and, checked last, canceled).
    let queued = delivery_to(&deliveries(app, &second).await, &gone_id);

    // Later events are not queued there at all.
    let later = new_event(app).await;
    let list = deliveries(app, &later).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["webhook_endpoint_id"], fine_id.as_str());
    drain(app).await;
    assert_eq!(gone.receipts().len(), 1);
    assert_eq!(fine.receipts().len(), 3);

    // Enabled again, it gets what comes next.
    gone.always(Answer::Status(200));
    let res = app
        .patch(
            &format!("/v1/webhook-endpoints/{gone_id}"),
            json!({"disabled": false}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let after = new_event(app).await;
    drain(app).await;
    assert_eq!(gone.ids(), [first, after]);
    assert_verified(&gone.receipts());

    assert_eq!(
        queued["status"], "canceled",
        "a delivery queued for an endpoint that a 410 disabled: {queued}"
    );
}

async fn retry_after_sets_the_next_attempt(app: &TestApp) {
    let now = use_wall_clock(app);
    let throttled = Receiver::start().await;
    throttled.script(&[Answer::RetryAfter(429, 7)]);
    let unavailable = Receiver::start().await;
    unavailable.script(&[Answer::RetryAfter(503, 30)]);
    let (throttled_id, s1) = create_endpoint(app, &throttled.url, &["*"]).await;
    let (unavailable_id, s2) = create_endpoint(app, &unavailable.url, &["*"]).await;
    throttled.expect_secrets(&[&s1]);
    unavailable.expect_secrets(&[&s2]);
    let event = new_event(app).await;

    assert_eq!(pass(app).await, 2);
    let list = deliveries(app, &event).await;
    for (id, code, wait) in [(&throttled_id, 429, 7), (&unavailable_id, 503, 30)] {
        let d = delivery_to(&list, id);
        assert_eq!(d["status"], "pending");
        assert_eq!(d["next_attempt_at"], rfc3339(now + wait), "{d}");
        assert_eq!(
            attempts_without_latency(&d),
            [
                json!({"attempt": 1, "attempted_at": rfc3339(now), "status_code": code, "error": format!("HTTP {code}"), "next_attempt_at": rfc3339(now + wait)})
            ]
        );
    }
    app.clock.advance(6);
    assert_eq!(pass(app).await, 0, "not before Retry-After");
    app.clock.advance(1);
    assert_eq!(pass(app).await, 1, "the 429 one, at attempt time + 7");
    app.clock.advance(22);
    assert_eq!(pass(app).await, 0);
    app.clock.advance(1);
    assert_eq!(pass(app).await, 1, "the 503 one, at attempt time + 30");
    assert_eq!(throttled.ids(), [event.clone(), event.clone()]);
    assert_eq!(unavailable.ids(), [event.clone(), event.clone()]);
    assert_verified(&throttled.receipts());
    assert_verified(&unavailable.receipts());
    let list = deliveries(app, &event).await;
    for (id, at) in [(&throttled_id, now + 7), (&unavailable_id, now + 30)] {
        let d = delivery_to(&list, id);
        assert_eq!(d["status"], "delivered", "{d}");
        assert_eq!(d["attempts"][1]["attempted_at"], rfc3339(at));
    }
}

async fn resend_requeues_to_every_matching_endpoint(app: &TestApp) {
    use_wall_clock(app);
    let early = Receiver::start().await;
    let (early_id, early_secret) = create_endpoint(app, &early.url, &["*"]).await;
    early.expect_secrets(&[&early_secret]);
    let event = new_event(app).await;
    assert_eq!(drain(app).await, 1);

    // Endpoints created after the event: one that wants it, one that does not, one disabled.
    let late = Receiver::start().await;
    let (late_id, late_secret) = create_endpoint(app, &late.url, &["payment_intent.created"]).await;
    late.expect_secrets(&[&late_secret]);
    let other = Receiver::start().await;
    create_endpoint(app, &other.url, &["payment_intent.succeeded"]).await;
    let off = Receiver::start().await;
    let (off_id, _) = create_endpoint(app, &off.url, &["*"]).await;
    let res = app
        .patch(
            &format!("/v1/webhook-endpoints/{off_id}"),
            json!({"disabled": true}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);

    let res = app
        .request(Method::POST, &format!("/v1/events/{event}/resend"))
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(
        res.json,
        json!({"data": {"id": event, "queued_deliveries": 2}})
    );
    assert_eq!(drain(app).await, 2);
    assert_eq!(early.ids(), [event.clone(), event.clone()], "again");
    assert_eq!(late.ids(), [event.as_str()]);
    assert!(other.receipts().is_empty());
    assert!(off.receipts().is_empty());
    assert_verified(&early.receipts());
    assert_verified(&late.receipts());
    let list = deliveries(app, &event).await;
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(delivery_to(&list, &early_id)["status"], "delivered");
    assert_eq!(delivery_to(&list, &late_id)["status"], "delivered");

    // Unknown, or another merchant's: 404.
    app.request(Method::POST, "/v1/events/evt_doesnotexist/resend")
        .send()
        .await
        .assert_error(404, "EVENT_NOT_FOUND", None);
    let stranger = app.app.create_merchant("stranger").await.unwrap();
    for path in [
        format!("/v1/events/{event}/resend"),
        format!("/v1/events/{event}/deliveries"),
    ] {
        let method = if path.ends_with("resend") {
            Method::POST
        } else {
            Method::GET
        };
        app.request(method.clone(), &path)
            .key(&stranger.test_key)
            .send()
            .await
            .assert_error(404, "EVENT_NOT_FOUND", None);
        app.request(method, &path)
            .key(&app.live_key)
            .send()
            .await
            .assert_error(404, "EVENT_NOT_FOUND", None);
    }
    assert_eq!(
        pass(app).await,
        0,
        "nothing was queued by the refused calls"
    );
}

/// Deliveries queued for an endpoint that is then deleted, or disabled with PATCH, are canceled
/// (`DeliveryOut`: "canceled (the endpoint was deleted or disabled)") and never sent.
async fn deleting_or_disabling_cancels_what_was_queued(app: &TestApp) {
    use_wall_clock(app);
    let deleted_rx = Receiver::start().await;
    let disabled_rx = Receiver::start().await;
    let kept_rx = Receiver::start().await;
    let (deleted, _) = create_endpoint(app, &deleted_rx.url, &["*"]).await;
    let (disabled, _) = create_endpoint(app, &disabled_rx.url, &["*"]).await;
    let (kept, kept_secret) = create_endpoint(app, &kept_rx.url, &["*"]).await;
    kept_rx.expect_secrets(&[&kept_secret]);
    let event = new_event(app).await;
    let list = deliveries(app, &event).await;
    assert_eq!(list.len(), 3, "{list:?}");
    assert!(list.iter().all(|d| d["status"] == "pending"), "{list:?}");

    let res = app
        .delete(&format!("/v1/webhook-endpoints/{deleted}"))
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let res = app
        .patch(
            &format!("/v1/webhook-endpoints/{disabled}"),
            json!({"disabled": true}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    drain(app).await;
    assert!(deleted_rx.receipts().is_empty());
    assert!(disabled_rx.receipts().is_empty());
    assert_eq!(kept_rx.ids(), [event.as_str()]);
    assert_verified(&kept_rx.receipts());
    let list = deliveries(app, &event).await;
    assert_eq!(delivery_to(&list, &kept)["status"], "delivered");
    assert_eq!(
        delivery_to(&list, &deleted)["status"],
        "canceled",
        "queued for a deleted endpoint: {list:?}"
    );
    assert_eq!(
        delivery_to(&list, &disabled)["status"],
        "canceled",
        "queued for an endpoint disabled with PATCH: {list:?}"
    );
}

async fn every_event_has_its_deliveries_in_the_outbox(app: &TestApp) {
    let url = "http://127.0.0.1:9/hooks";
    let (all, _) = create_endpoint(app, url, &["*"]).await;
    let wanted = ["payment_intent.succeeded", "refund.succeeded"];
    let (some, _) = create_endpoint(app, url, &wanted).await;
    let (disabled, _) = create_endpoint(app, url, &["*"]).await;
    let res = app
        .patch(
            &format!("/v1/webhook-endpoints/{disabled}"),
            json!({"disabled": true}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let (deleted, _) = create_endpoint(app, url, &["*"]).await;
    let res = app
        .delete(&format!("/v1/webhook-endpoints/{deleted}"))
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let res = app
        .request(Method::POST, "/v1/webhook-endpoints")
        .key(&app.live_key)
        .json(&json!({"url": "https://example.com/hooks", "enabled_events": ["*"]}))
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let live = res.json["data"]["webhook_endpoint_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Six flows side by side: confirm and capture (and refund some), or cancel.
    let mut flows = tokio::task::JoinSet::new();
    for n in 0..6_i64 {
        let api = app.remote();
        flows.spawn(async move {
            let body = json!({"amount_money": usd(1000 + n), "capture_method": "manual"});
            let res = api.post("/v1/payment-intents", None, Some(&body)).await;
            assert_eq!(res.status, 201, "{}", res.text);
            let pi = intent_id_of(&res);
            let confirm = json!({"payment_source_token": "pm_card_visa"});
            let res = api
                .post(
                    &format!("/v1/payment-intents/{pi}/confirm"),
                    None,
                    Some(&confirm),
                )
                .await;
            assert_eq!(res.status, 200, "{}", res.text);
            if n % 3 == 2 {
                let res = api
                    .post(&format!("/v1/payment-intents/{pi}/cancel"), None, None)
                    .await;
                assert_eq!(res.status, 200, "{}", res.text);
                // Refused: no event, no delivery.
                let res = api
                    .post(&format!("/v1/payment-intents/{pi}/capture"), None, None)
                    .await;
                assert!(res.status >= 400, "{}", res.text);
                return;
            }
            let res = api
                .post(&format!("/v1/payment-intents/{pi}/capture"), None, None)
                .await;
            assert_eq!(res.status, 200, "{}", res.text);
            if n % 3 == 1 {
                let refund = json!({"payment_intent_id": pi, "amount_money": usd(500)});
                let res = api.post("/v1/refunds", None, Some(&refund)).await;
                assert_eq!(res.status, 201, "{}", res.text);
            }
        });
    }
    while let Some(done) = flows.join_next().await {
        done.expect("flow");
    }
    // A live-mode change goes to the live endpoint only.
    let res = app
        .request(Method::POST, "/v1/payment-intents")
        .key(&app.live_key)
        .json(&json!({"amount_money": usd(700), "capture_method": "manual"}))
        .send()
        .await;
    assert_eq!(res.status, 201, "{}", res.text);

    let events = all_events(app).await;
    assert!(events.len() >= 6 * 3, "{}", events.len());
    let mut some_count = 0;
    for event in &events {
        let id = event["id"].as_str().unwrap();
        let list = deliveries(app, id).await;
        let kind = event["type"].as_str().unwrap();
        let mut expected = vec![all.as_str()];
        if wanted.contains(&kind) {
            expected.push(some.as_str());
            some_count += 1;
        }
        let mut endpoints: Vec<&str> = list
            .iter()
            .map(|d| d["webhook_endpoint_id"].as_str().unwrap())
            .collect();
        endpoints.sort_unstable();
        expected.sort_unstable();
        assert_eq!(endpoints, expected, "{kind} {id}: {list:?}");
        for d in &list {
            assert_eq!(d["status"], "pending", "{d}");
            assert_eq!(d["attempts_count"], 0);
            assert_eq!(d["attempts"], json!([]));
        }
    }
    assert!(some_count >= 4, "succeeded and refund events: {some_count}");
    // The live event: exactly one delivery, to the live endpoint.
    let res = app
        .request(Method::GET, "/v1/events?limit=100")
        .key(&app.live_key)
        .send()
        .await;
    let live_events = res.json["data"].as_array().unwrap().clone();
    assert_eq!(live_events.len(), 1, "{}", res.text);
    let res = app
        .request(
            Method::GET,
            &format!(
                "/v1/events/{}/deliveries",
                live_events[0]["id"].as_str().unwrap()
            ),
        )
        .key(&app.live_key)
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let list = res.json["data"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{}", res.text);
    assert_eq!(list[0]["webhook_endpoint_id"], live.as_str());
}

async fn a_slow_endpoint_does_not_delay_another(app: &TestApp) {
    use_wall_clock(app);
    let slow = Receiver::start().await;
    slow.always(Answer::Slow(Duration::from_secs(3)));
    let fast = Receiver::start().await;
    let (slow_id, slow_secret) = create_endpoint(app, &slow.url, &["*"]).await;
    let (fast_id, fast_secret) = create_endpoint(app, &fast.url, &["*"]).await;
    slow.expect_secrets(&[&slow_secret]);
    fast.expect_secrets(&[&fast_secret]);
    let event = new_event(app).await;

    let started = Instant::now();
    assert_eq!(pass(app).await, 2);
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(3), "the slow one took {took:?}");
    let got = fast.receipts();
    assert_eq!(got.len(), 1);
    let fast_at = got[0].at.duration_since(started);
    assert!(
        fast_at < Duration::from_secs(1),
        "the fast endpoint got the event {fast_at:?} into a pass that took {took:?}"
    );
    assert_eq!(fast.ids(), [event.as_str()]);
    assert_eq!(slow.ids(), [event.as_str()]);
    assert_verified(&got);
    assert_verified(&slow.receipts());
    let list = deliveries(app, &event).await;
    let f = delivery_to(&list, &fast_id);
    assert_eq!(f["status"], "delivered");
    assert!(
        f["attempts"][0]["latency_ms"].as_i64().unwrap() < 1000,
        "{f}"
    );
    let s = delivery_to(&list, &slow_id);
    assert_eq!(s["status"], "delivered");
    assert!(
        s["attempts"][0]["latency_ms"].as_i64().unwrap() >= 3000,
        "{s}"
    );
}

// ---- The real binary ---------------------------------------------------------------------------

/// A `holdfast` process, killed (SIGKILL) when dropped.
struct Process {
    child: std::process::Child,
    log: PathBuf,
}

impl Process {
    fn spawn(args: &[&str], db: &Database) -> Process {
        let log = std::env::temp_dir().join(format!(
            "holdfast-webhooks-{}.log",
            holdfast_service::ids::random_base62(10)
        ));
        let child = std::process::Command::new(BIN)
            .args(args)
            .arg("--database-url")
            .arg(&db.url)
            .env("HOLDFAST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("spawn holdfast");
        Process { child, log }
    }

    /// `holdfast serve` on 127.0.0.1:0; the process, its base URL and what it printed.
    async fn serve(extra: &[&str], db: &Database) -> (Process, String, Vec<String>) {
        let mut args = vec!["serve", "--listen", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let mut process = Process::spawn(&args, db);
        let stdout = process.child.stdout.take().unwrap();
        let log = process.log.clone();
        let (base, lines) = tokio::task::spawn_blocking(move || {
            use std::io::BufRead;
            let mut lines = Vec::new();
            for line in std::io::BufReader::new(stdout).lines() {
                let line = line.expect("line");
                lines.push(line.clone());
                if let Some(addr) = line.strip_prefix("holdfast listening on ") {
                    return (addr.to_owned(), lines);
                }
            }
            panic!(
                "the server exited before listening: {lines:?}\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        })
        .await
        .unwrap();
        (process, base, lines)
    }

    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        let status = self.child.wait().unwrap();
        assert!(!status.success(), "killed: {status:?}");
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "holdfast log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

fn test_key_of(printed: &[String]) -> String {
    printed
        .iter()
        .flat_map(|l| l.split_whitespace())
        .find(|w| w.starts_with("sk_test_"))
        .expect("a fresh database prints the test key")
        .to_owned()
}

/// Waits (bounded) until every event of the API has a delivered delivery.
async fn wait_all_delivered(api: &Remote, events: &[String], within: Duration) {
    let deadline = Instant::now() + within;
    for event in events {
        loop {
            let res = api.get(&format!("/v1/events/{event}/deliveries")).await;
            assert_eq!(res.status, 200, "{}", res.text);
            if res.json["data"]
                .as_array()
                .unwrap()
                .iter()
                .all(|d| d["status"] == "delivered")
            {
                break;
            }
            assert!(Instant::now() < deadline, "not delivered: {}", res.text);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The receiver is down while `holdfast serve` is killed with SIGKILL mid-flow and started again
/// on the same database; once it comes up it gets every event, signed, exactly once (no attempt
/// reached it before, so there is nothing to repeat).
async fn deliveries_survive_sigkill(backend: Backend) {
    let Some(db) = Database::for_backend(backend).await else {
        return;
    };
    let key = holdfast_service::webhooks::SecretsKey::random().to_base64();
    let schedule = "1s,1s,1s,1s,1s,1s,1s,1s,1s";
    let flags = [
        "--secrets-key",
        key.as_str(),
        "--webhook-retry-schedule",
        schedule,
    ];
    let port = Receiver::free_port();
    let (server, base, printed) = Process::serve(&flags, &db).await;
    let mut api = Remote {
        client: reqwest::Client::new(),
        base,
        key: test_key_of(&printed),
    };
    let endpoint =
        json!({"url": format!("http://127.0.0.1:{port}/hooks"), "enabled_events": ["*"]});
    let res = api
        .post("/v1/webhook-endpoints", None, Some(&endpoint))
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let secret = res.json["data"]["secret"].as_str().unwrap().to_owned();

    let body = json!({"amount_money": usd(12900), "capture_method": "manual"});
    let res = api.post("/v1/payment-intents", None, Some(&body)).await;
    assert_eq!(res.status, 201, "{}", res.text);
    let pi = intent_id_of(&res);
    let confirm = json!({"payment_source_token": "pm_card_visa"});
    let res = api
        .post(
            &format!("/v1/payment-intents/{pi}/confirm"),
            None,
            Some(&confirm),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    // Mid-flow: every event so far has had a failed attempt and waits for its retry.
    let before = ids_of(&all_events_at(&api).await);
    let deadline = Instant::now() + Duration::from_secs(10);
    for event in &before {
        loop {
            let res = api.get(&format!("/v1/events/{event}/deliveries")).await;
            let d = &res.json["data"][0];
            if d["attempts_count"].as_u64().unwrap_or(0) >= 1 {
                assert_eq!(d["status"], "pending", "{d}");
                assert_eq!(
                    d["attempts"][0]["error"],
                    "connection refused or unreachable"
                );
                break;
            }
            assert!(Instant::now() < deadline, "no attempt: {}", res.text);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    server.kill();

    let (server, base, _) = Process::serve(&flags, &db).await;
    api.base = base;
    let res = api
        .post(
            &format!("/v1/payment-intents/{pi}/capture"),
            None,
            Some(&json!({"amount_money": usd(9800)})),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let refund = json!({"payment_intent_id": pi, "amount_money": usd(1000)});
    let res = api.post("/v1/refunds", None, Some(&refund)).await;
    assert_eq!(res.status, 201, "{}", res.text);
    let events = ids_of(&all_events_at(&api).await);
    assert!(events.len() > before.len() && events.starts_with(&before));

    let rx = Receiver::start_on(port).await;
    rx.expect_secrets(&[&secret]);
    let wanted: BTreeSet<String> = events.iter().cloned().collect();
    rx.wait_until(Duration::from_secs(20), |got| {
        wanted.iter().all(|id| got.iter().any(|r| &r.id == id))
    })
    .await;
    wait_all_delivered(&api, &events, Duration::from_secs(10)).await;
    let got = rx.receipts();
    assert_verified(&got);
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &got {
        *counts.entry(r.id.as_str()).or_default() += 1;
    }
    assert_eq!(counts.len(), events.len(), "{counts:?}");
    assert!(counts.values().all(|n| *n == 1), "{counts:?}");
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_survive_sigkill_sqlite() {
    deliveries_survive_sigkill(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_survive_sigkill_postgres() {
    deliveries_survive_sigkill(Backend::Postgres).await;
}

/// Events arrive out of order and the versions put each object's snapshots back in order. Two
/// endpoints, one answering 500 to about 30 % of attempts and one healthy, retries after 1 s, 36
/// hold-capture-refund flows and two orders (192 events), and `holdfast serve` killed with SIGKILL
/// half-way and started again: every event reaches both endpoints with a 2xx, every signature
/// verifies, each object's events carry strictly increasing versions (the events of one change
/// share its version and its snapshot), and a receiver that keeps, per object, the snapshot with
/// the highest version, whatever order deliveries came in, ends with each object's last snapshot.
async fn a_flaky_receiver_and_a_sigkill_lose_nothing_and_versions_order_each_object(
    backend: Backend,
) {
    let Some(db) = Database::for_backend(backend).await else {
        return;
    };
    let key = holdfast_service::webhooks::SecretsKey::random().to_base64();
    let flags = [
        "--secrets-key",
        key.as_str(),
        "--webhook-retry-schedule",
        "1s,1s,1s,1s,1s,1s,1s,1s,1s",
        "--rate-limit",
        "0",
        "--capture-rate-limit",
        "0",
    ];
    let flaky = Receiver::start().await;
    flaky.always(Answer::Flaky {
        percent: 30,
        max_per_event: 3,
    });
    let healthy = Receiver::start().await;
    let (server, base, printed) = Process::serve(&flags, &db).await;
    let mut api = Remote {
        client: reqwest::Client::new(),
        base,
        key: test_key_of(&printed),
    };
    for rx in [&flaky, &healthy] {
        let endpoint = json!({"url": rx.url, "enabled_events": ["*"]});
        let res = api
            .post("/v1/webhook-endpoints", None, Some(&endpoint))
            .await;
        assert_eq!(res.status, 201, "{}", res.text);
        rx.expect_secrets(&[res.json["data"]["secret"].as_str().unwrap()]);
    }

    for flow in 0..18 {
        hold_capture_refund(&api, flow).await;
    }
    hold_and_capture_an_order(&api).await;
    server.kill();
    let (server, base, _) = Process::serve(&flags, &db).await;
    api.base = base;
    for flow in 18..36 {
        hold_capture_refund(&api, flow).await;
    }
    hold_and_capture_an_order(&api).await;

    let events = all_events_at(&api).await;
    assert_eq!(events.len(), 36 * 5 + 2 * 6, "{:?}", ids_of(&events));
    let ids = ids_of(&events);
    // A delivery the kill cut short waits for its lease (60 s) before it is made again.
    wait_all_delivered(&api, &ids, Duration::from_secs(150)).await;

    // Each object's events, in the order they were created.
    let mut by_object: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for event in &events {
        let object = &event["data"]["object"];
        assert_eq!(event["created_at"], object["updated_at"], "{event}");
        by_object.entry(object_id(object)).or_default().push(event);
    }
    for (id, list) in &by_object {
        for pair in list.windows(2) {
            let (a, b) = (&pair[0]["data"]["object"], &pair[1]["data"]["object"]);
            let (va, vb) = (
                a["version"].as_u64().unwrap(),
                b["version"].as_u64().unwrap(),
            );
            if id.starts_with("ord_") && va == vb {
                // An order's capture reports the payment captured and the order paid: one change.
                assert_eq!(a, b, "one change, one snapshot");
                assert_eq!(pair[0]["request_id"], pair[1]["request_id"]);
            } else {
                assert!(vb > va, "{id}: version {va} then {vb}");
            }
        }
    }
    let last: BTreeMap<&String, &Value> = by_object
        .iter()
        .map(|(id, list)| (id, &list[list.len() - 1]["data"]["object"]))
        .collect();

    let wanted: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
    for (name, rx) in [("flaky", &flaky), ("healthy", &healthy)] {
        let got = rx.receipts();
        assert_verified(&got);
        let accepted: Vec<&Receipt> = got.iter().filter(|r| r.status == 200).collect();
        assert_eq!(
            accepted
                .iter()
                .map(|r| r.id.as_str())
                .collect::<BTreeSet<_>>(),
            wanted,
            "{name}: every event accepted"
        );
        // The receiver's rule: apply a snapshot only if its version is higher than the one held.
        let mut held: BTreeMap<String, Value> = BTreeMap::new();
        let mut stale = 0;
        for r in &accepted {
            let object = r.json()["data"]["object"].clone();
            let id = object_id(&object);
            match held.get(&id) {
                Some(h) if h["version"].as_u64() >= object["version"].as_u64() => stale += 1,
                _ => {
                    held.insert(id, object);
                }
            }
        }
        assert_eq!(
            held.iter().collect::<BTreeMap<_, _>>(),
            last,
            "{name}: the highest version is the last snapshot"
        );
        let failed = got.iter().filter(|r| r.status == 500).count();
        eprintln!(
            "{name}: {} attempts, {failed} answered 500, {stale} deliveries older than what was held",
            got.len()
        );
    }
    drop(server);
}

/// The id of an event's object: a refund, an intent or an order.
fn object_id(object: &Value) -> String {
    ["refund_id", "payment_intent_id", "order_id"]
        .iter()
        .find_map(|field| object[field].as_str())
        .expect("an object id")
        .to_owned()
}

/// A hold, a partial capture and a refund: five events.
async fn hold_capture_refund(api: &Remote, flow: i64) {
    let body = json!({"amount_money": usd(10_000 + flow), "capture_method": "manual"});
    let res = api.post("/v1/payment-intents", None, Some(&body)).await;
    assert_eq!(res.status, 201, "{}", res.text);
    let pi = intent_id_of(&res);
    let steps = [
        (
            format!("/v1/payment-intents/{pi}/confirm"),
            json!({"payment_source_token": "pm_card_visa"}),
            200,
        ),
        (
            format!("/v1/payment-intents/{pi}/capture"),
            json!({"amount_money": usd(7000)}),
            200,
        ),
        (
            "/v1/refunds".to_owned(),
            json!({"payment_intent_id": pi, "amount_money": usd(1000)}),
            201,
        ),
    ];
    for (path, body, status) in steps {
        let res = api.post(&path, None, Some(&body)).await;
        assert_eq!(res.status, status, "{path}: {}", res.text);
    }
}

/// An order paid with one hold, then captured through the order: six events, the last two of
/// one change (the payment captured and the order paid).
async fn hold_and_capture_an_order(api: &Remote) {
    let body = json!({"currency": "USD", "line_items": [{"name": "Tent", "quantity": 1, "unit_price_money": usd(8000)}]});
    let res = api.post("/v1/orders", None, Some(&body)).await;
    assert_eq!(res.status, 201, "{}", res.text);
    let order = res.json["data"]["order_id"].as_str().unwrap().to_owned();
    let body = json!({"order_id": order, "capture_method": "manual"});
    let res = api.post("/v1/payment-intents", None, Some(&body)).await;
    assert_eq!(res.status, 201, "{}", res.text);
    let pi = intent_id_of(&res);
    let pay = json!({
        "payment_intent_ids": [pi],
        "payment_source_tokens": serde_json::Map::from_iter([(pi.clone(), json!("pm_card_visa"))]),
        "expected_amount_money": usd(8000),
    });
    let res = api
        .post(&format!("/v1/orders/{order}/pay"), None, Some(&pay))
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let res = api
        .post(
            &format!("/v1/orders/{order}/payment-intents/{pi}/capture"),
            None,
            Some(&json!({})),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flaky_receiver_and_a_sigkill_lose_nothing_and_versions_order_each_object_sqlite() {
    a_flaky_receiver_and_a_sigkill_lose_nothing_and_versions_order_each_object(Backend::Sqlite)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flaky_receiver_and_a_sigkill_lose_nothing_and_versions_order_each_object_postgres() {
    a_flaky_receiver_and_a_sigkill_lose_nothing_and_versions_order_each_object(Backend::Postgres)
        .await;
}

/// `holdfast serve --no-workers` beside a `holdfast worker`, both given the same secrets key:
/// the worker signs with the endpoint's secret.
async fn a_separate_worker_signs_with_the_shared_key(backend: Backend) {
    let Some(db) = Database::for_backend(backend).await else {
        return;
    };
    let key = holdfast_service::webhooks::SecretsKey::random().to_base64();
    let (_server, base, printed) =
        Process::serve(&["--no-workers", "--secrets-key", &key], &db).await;
    let api = Remote {
        client: reqwest::Client::new(),
        base,
        key: test_key_of(&printed),
    };
    let rx = Receiver::start().await;
    let endpoint = json!({"url": rx.url, "enabled_events": ["*"]});
    let res = api
        .post("/v1/webhook-endpoints", None, Some(&endpoint))
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    rx.expect_secrets(&[res.json["data"]["secret"].as_str().unwrap()]);
    let _worker = Process::spawn(&["worker", "--secrets-key", &key], &db);
    let body = json!({"amount_money": usd(500), "capture_method": "manual"});
    let res = api.post("/v1/payment-intents", None, Some(&body)).await;
    assert_eq!(res.status, 201, "{}", res.text);
    rx.wait_until(Duration::from_secs(10), |got| !got.is_empty())
        .await;
    let got = rx.receipts();
    assert_eq!(
        got[0].verified,
        Ok(()),
        "the worker's signature: {:?}",
        got[0].signature
    );
    assert_verified(&got);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_separate_worker_signs_with_the_shared_key_sqlite() {
    a_separate_worker_signs_with_the_shared_key(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_separate_worker_signs_with_the_shared_key_postgres() {
    a_separate_worker_signs_with_the_shared_key(Backend::Postgres).await;
}

// ---- Two workers, one PostgreSQL database ------------------------------------------------------

/// Two applications on one database run delivery passes at once over 1,000 due deliveries: each
/// event reaches the receiver exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_on_one_postgres_deliver_each_event_once() {
    let Some(app) = TestApp::spawn_postgres().await else {
        return;
    };
    use_wall_clock(&app);
    let rx = Receiver::start().await;
    let (_, secret) = create_endpoint(&app, &rx.url, &["*"]).await;
    rx.expect_secrets(&[&secret]);

    // 1,000 events: 1,000 intents created, 20 requests at a time.
    let mut created = tokio::task::JoinSet::new();
    for lane in 0..20 {
        let api = app.remote();
        created.spawn(async move {
            for _ in 0..50 {
                let body = json!({"amount_money": usd(100 + lane), "capture_method": "manual"});
                let res = api.post("/v1/payment-intents", None, Some(&body)).await;
                assert_eq!(res.status, 201, "{}", res.text);
            }
        });
    }
    while let Some(done) = created.join_next().await {
        done.expect("creating intents");
    }
    let events = ids_of(&all_events(&app).await);
    assert_eq!(events.len(), 1000);

    let other = holdfast::build(&app.db.url, app.clock.clone(), app.app.settings.clone())
        .await
        .expect("a second application on the database");
    let work = |node: Arc<holdfast_service::Holdfast>| async move {
        let client = holdfast::webhooks::client();
        let mut attempted = 0;
        loop {
            match holdfast::webhooks::deliver_once(&node, &client, 25).await {
                Ok(0) => return attempted,
                Ok(n) => attempted += n,
                Err(e) => panic!("delivery pass: {e}"),
            }
        }
    };
    let started = Instant::now();
    let (one, two) = tokio::join!(
        tokio::spawn(work(Arc::clone(&app.app))),
        tokio::spawn(work(other))
    );
    let (one, two) = (one.unwrap(), two.unwrap());
    assert_eq!(one + two, 1000, "attempts: {one} + {two}");
    assert!(one > 0 && two > 0, "both worked: {one} + {two}");
    assert!(started.elapsed() < Duration::from_secs(30));

    let got = rx.receipts();
    assert_eq!(got.len(), 1000);
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &got {
        *counts.entry(r.id.as_str()).or_default() += 1;
    }
    assert!(
        counts.values().all(|n| *n == 1),
        "delivered twice: {:?}",
        counts.iter().filter(|(_, n)| **n > 1).collect::<Vec<_>>()
    );
    assert_eq!(
        counts
            .keys()
            .map(|k| (*k).to_owned())
            .collect::<BTreeSet<_>>(),
        events.into_iter().collect::<BTreeSet<_>>()
    );
    assert_verified(&got);

    let (client, connection) = tokio_postgres::connect(&app.db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let rows = client
        .query(
            "SELECT status, count(*) FROM webhook_deliveries GROUP BY status",
            &[],
        )
        .await
        .unwrap();
    let statuses: Vec<(String, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(statuses, [("delivered".to_owned(), 1000)]);
    let attempts: i64 = client
        .query_one("SELECT count(*) FROM webhook_attempts", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(attempts, 1000, "one recorded attempt per delivery");
}
