//! The test harness: a real `holdfast` server on 127.0.0.1:0 against a fresh database, spoken to
//! over real HTTP. Every test runs once per backend: SQLite in a temporary directory, PostgreSQL in
//! a database created for the test and dropped after it.

use std::path::PathBuf;
use std::sync::Arc;

use holdfast_domain::Timestamp;
use holdfast_service::{Holdfast, ManualClock};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tokio::sync::{Barrier, oneshot};

/// The harness clock starts here: the contract's own example time.
pub const T0: i64 = 1_783_047_440; // 2026-07-03T02:57:20Z
pub const T0_RFC3339: &str = "2026-07-03T02:57:20Z";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each named test body against both backends: `mod name { fn sqlite(); fn postgres(); }`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = $crate::helpers::TestApp::spawn($crate::helpers::Backend::Sqlite).await;
                super::$name(&app).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(app) = $crate::helpers::TestApp::spawn_postgres().await else { return };
                super::$name(&app).await;
            }
        }
    )*};
}

/// Where a test's database lives, removed when the test ends (even if it panicked).
#[derive(Debug)]
pub struct Database {
    pub url: String,
    dir: Option<PathBuf>,
    pg_name: Option<String>,
}

pub fn postgres_admin_url() -> String {
    std::env::var("HOLDFAST_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn random_suffix() -> String {
    holdfast_service::ids::random_base62(12).to_lowercase()
}

impl Database {
    pub fn sqlite() -> Database {
        let dir = std::env::temp_dir().join(format!("holdfast-test-{}", random_suffix()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Database {
            url: format!("sqlite://{}", dir.join("holdfast.db").display()),
            dir: Some(dir),
            pg_name: None,
        }
    }

    /// A fresh PostgreSQL database, or `None` (with a note) when PostgreSQL is not reachable and
    /// this is not CI. Under `CI=true` an unreachable PostgreSQL fails the test.
    pub async fn postgres() -> Option<Database> {
        let admin = postgres_admin_url();
        let client = match tokio_postgres::connect(&admin, tokio_postgres::NoTls).await {
            Ok((client, connection)) => {
                tokio::spawn(connection);
                client
            }
            Err(e) => {
                if std::env::var("CI").as_deref() == Ok("true") {
                    panic!("CI=true but PostgreSQL is not reachable at {admin}: {e}");
                }
                eprintln!(
                    "SKIPPED: PostgreSQL not reachable at {admin} ({e}); set CI=true to fail instead"
                );
                return None;
            }
        };
        let name = format!("holdfast_test_{}", random_suffix());
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        let base = admin
            .rsplit_once('/')
            .map_or(admin.as_str(), |(b, _)| b)
            .to_owned();
        Some(Database {
            url: format!("{base}/{name}"),
            dir: None,
            pg_name: Some(name),
        })
    }

    pub async fn for_backend(backend: Backend) -> Option<Database> {
        match backend {
            Backend::Sqlite => Some(Database::sqlite()),
            Backend::Postgres => Database::postgres().await,
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some(name) = self.pg_name.take() {
            // Drop runs outside any async context we may block, so use a thread with its own runtime.
            let admin = postgres_admin_url();
            let _ = std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async move {
                    if let Ok((client, connection)) =
                        tokio_postgres::connect(&admin, tokio_postgres::NoTls).await
                    {
                        tokio::spawn(connection);
                        let _ = client
                            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .await;
                    }
                });
            })
            .join();
        }
    }
}

/// A running server and what a test needs to talk to it.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub app: Arc<Holdfast>,
    pub clock: Arc<ManualClock>,
    pub merchant_id: String,
    pub test_key: String,
    pub live_key: String,
    pub backend: Backend,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    // Declared last so the server stops before its database is dropped.
    pub db: Database,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        match backend {
            Backend::Sqlite => TestApp::start(backend, Database::sqlite()).await,
            Backend::Postgres => TestApp::spawn_postgres().await.expect("PostgreSQL"),
        }
    }

    pub async fn spawn_postgres() -> Option<TestApp> {
        let db = Database::postgres().await?;
        Some(TestApp::start(Backend::Postgres, db).await)
    }

    /// A server on a fresh database of `backend` started with `options`; `None` (with a note)
    /// when PostgreSQL is not reachable outside CI.
    pub async fn spawn_with(backend: Backend, options: holdfast::Options) -> Option<TestApp> {
        let db = Database::for_backend(backend).await?;
        Some(TestApp::start_with(backend, db, options).await)
    }

    /// Starts a server with its background workers off, so a test decides when due work runs
    /// (`app.app.run_due_once`); [`TestApp::start_with`] turns them on.
    pub async fn start(backend: Backend, db: Database) -> TestApp {
        let options = holdfast::Options {
            without_workers: true,
            ..holdfast::Options::default()
        };
        TestApp::start_with(backend, db, options).await
    }

    pub async fn start_with(
        backend: Backend,
        db: Database,
        mut options: holdfast::Options,
    ) -> TestApp {
        // Every server of a test shares one secrets key, as every node of a cluster must.
        options.settings.secrets_key = test_secrets_key();
        let clock = Arc::new(ManualClock::new(Timestamp(T0)));
        let (tx, rx) = oneshot::channel::<()>();
        let running = holdfast::start(
            "127.0.0.1:0".parse().expect("addr"),
            &db.url,
            clock.clone(),
            options,
            async {
                let _ = rx.await;
            },
        )
        .await
        .expect("server starts");
        // A fresh database bootstraps the default merchant; a used one gets a merchant of its own.
        let created = match running.bootstrapped.clone() {
            Some(created) => created,
            None => running.app.create_merchant("test").await.expect("merchant"),
        };
        TestApp {
            base: format!("http://{}", running.addr),
            client: reqwest::Client::new(),
            app: running.app,
            clock,
            merchant_id: created.merchant.id,
            test_key: created.test_key,
            live_key: created.live_key,
            backend,
            shutdown: Some(tx),
            task: Some(running.task),
            db,
        }
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) -> Database {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server ran");
        }
        std::mem::replace(
            &mut self.db,
            Database {
                url: String::new(),
                dir: None,
                pg_name: None,
            },
        )
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> Req<'_> {
        Req {
            app: self,
            builder: self.client.request(method, format!("{}{path}", self.base)),
            key: Some(self.test_key.clone()),
        }
    }

    /// GET with the test key.
    pub async fn get(&self, path: &str) -> Res {
        self.request(reqwest::Method::GET, path).send().await
    }

    /// DELETE with the test key.
    pub async fn delete(&self, path: &str) -> Res {
        self.request(reqwest::Method::DELETE, path).send().await
    }

    /// POST a JSON body with the test key.
    pub async fn post(&self, path: &str, body: Value) -> Res {
        self.request(reqwest::Method::POST, path)
            .json(&body)
            .send()
            .await
    }

    /// PATCH a JSON body with the test key.
    pub async fn patch(&self, path: &str, body: Value) -> Res {
        self.request(reqwest::Method::PATCH, path)
            .json(&body)
            .send()
            .await
    }

    /// The order as `GET /v1/orders/{id}` shows it.
    pub async fn order(&self, id: &str) -> Value {
        let res = self.get(&format!("/v1/orders/{id}")).await;
        assert_eq!(res.status, 200, "{}", res.text);
        res.json["data"].clone()
    }

    /// Every event of one type, oldest first.
    pub async fn events_of_type(&self, kind: &str) -> Vec<Value> {
        let res = self.get(&format!("/v1/events?type={kind}&limit=100")).await;
        assert_eq!(res.status, 200, "{}", res.text);
        assert_eq!(res.json["has_more"], false);
        let mut events = res.json["data"].as_array().expect("events").clone();
        events.reverse();
        events
    }

    /// Creates a manual-capture intent for `amount` USD cents; returns its id.
    pub async fn create_manual(&self, amount: i64) -> String {
        let res = self
            .post(
                "/v1/payment-intents",
                json!({"amount_money": {"amount": amount, "currency": "USD"}, "capture_method": "manual"}),
            )
            .await;
        assert_eq!(res.status, 201, "{}", res.text);
        res.json["data"]["payment_intent"]["payment_intent_id"]
            .as_str()
            .expect("id")
            .to_owned()
    }

    /// Places a hold of `amount` USD cents with `pm_card_visa`; returns the intent id.
    pub async fn hold(&self, amount: i64) -> String {
        self.hold_with(amount, "pm_card_visa").await
    }

    pub async fn hold_with(&self, amount: i64, token: &str) -> String {
        let id = self.create_manual(amount).await;
        let res = self
            .post(
                &format!("/v1/payment-intents/{id}/confirm"),
                json!({"payment_source_token": token}),
            )
            .await;
        assert_eq!(res.status, 200, "{}", res.text);
        assert_eq!(res.json["data"]["status"], "requires_capture");
        id
    }
}

impl TestApp {
    /// Places a hold of `amount` USD cents with `token` and captures `capture` of it; returns the
    /// intent id.
    pub async fn captured_with(&self, amount: i64, capture: i64, token: &str) -> String {
        let id = self.hold_with(amount, token).await;
        let res = self
            .post(
                &format!("/v1/payment-intents/{id}/capture"),
                json!({"amount_money": usd(capture)}),
            )
            .await;
        assert_eq!(res.status, 200, "{}", res.text);
        assert_eq!(res.json["data"]["status"], "succeeded");
        id
    }

    /// `POST /v1/refunds` with the test key and no `Idempotency-Key`.
    pub async fn refund(&self, body: Value) -> Res {
        self.post("/v1/refunds", body).await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

pub struct Req<'a> {
    app: &'a TestApp,
    builder: reqwest::RequestBuilder,
    key: Option<String>,
}

impl Req<'_> {
    pub fn key(mut self, key: &str) -> Self {
        self.key = Some(key.to_owned());
        self
    }

    pub fn no_key(mut self) -> Self {
        self.key = None;
        self
    }

    pub fn idem(mut self, key: &str) -> Self {
        self.builder = self.builder.header("Idempotency-Key", key);
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.builder = self.builder.header(name, value);
        self
    }

    pub fn json(mut self, body: &Value) -> Self {
        self.builder = self
            .builder
            .header("Content-Type", "application/json")
            .body(serde_json::to_vec(body).expect("json"));
        self
    }

    pub fn raw(mut self, content_type: Option<&str>, body: impl Into<reqwest::Body>) -> Self {
        if let Some(ct) = content_type {
            self.builder = self.builder.header("Content-Type", ct);
        }
        self.builder = self.builder.body(body);
        self
    }

    pub async fn send(self) -> Res {
        let _ = self.app;
        let mut builder = self.builder;
        if let Some(key) = &self.key {
            builder = builder.bearer_auth(key);
        }
        let response = builder.send().await.expect("request reaches the server");
        Res::read(response).await
    }

    /// A header whose value need not be visible ASCII (a non-ASCII `Idempotency-Key`, say).
    pub fn header_bytes(mut self, name: &str, value: &[u8]) -> Self {
        let value = reqwest::header::HeaderValue::from_bytes(value).expect("header value");
        self.builder = self.builder.header(name, value);
        self
    }
}

/// An owned handle on the server, for requests sent from spawned tasks.
#[derive(Debug, Clone)]
pub struct Remote {
    pub client: reqwest::Client,
    pub base: String,
    pub key: String,
}

impl TestApp {
    /// A handle a `tokio::spawn`ed task can own, speaking with the test key.
    pub fn remote(&self) -> Remote {
        Remote {
            client: self.client.clone(),
            base: self.base.clone(),
            key: self.test_key.clone(),
        }
    }

    /// The events of one intent, oldest first.
    pub async fn events_of(&self, id: &str) -> Vec<Value> {
        let res = self
            .get(&format!("/v1/events?payment_intent_id={id}&limit=100"))
            .await;
        assert_eq!(res.status, 200, "{}", res.text);
        assert_eq!(res.json["has_more"], false);
        let mut events = res.json["data"].as_array().expect("events").clone();
        events.reverse();
        events
    }

    /// The event types of one intent, oldest first.
    pub async fn event_types_of(&self, id: &str) -> Vec<String> {
        self.events_of(id)
            .await
            .iter()
            .map(|e| e["type"].as_str().expect("type").to_owned())
            .collect()
    }

    /// The actions (money movements) of one intent, in order.
    pub async fn actions_of(&self, id: &str) -> Vec<Value> {
        let res = self.get(&format!("/v1/payment-intents/{id}/actions")).await;
        assert_eq!(res.status, 200, "{}", res.text);
        res.json["data"].as_array().expect("actions").clone()
    }

    /// The intent as `GET /v1/payment-intents/{id}` shows it.
    pub async fn intent(&self, id: &str) -> Value {
        let res = self.get(&format!("/v1/payment-intents/{id}")).await;
        assert_eq!(res.status, 200, "{}", res.text);
        res.json["data"].clone()
    }
}

impl Remote {
    /// GET with this handle's key.
    pub async fn get(&self, path: &str) -> Res {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.key)
            .send()
            .await
            .expect("request reaches the server");
        Res::read(response).await
    }

    /// POSTs `body` (none: an empty body) with an optional `Idempotency-Key`.
    pub async fn post(&self, path: &str, idem: Option<&str>, body: Option<&Value>) -> Res {
        self.send(reqwest::Method::POST, path, idem, body).await
    }

    /// Any method, with an optional `Idempotency-Key` and an optional JSON body.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        idem: Option<&str>,
        body: Option<&Value>,
    ) -> Res {
        let mut builder = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(idem) = idem {
            builder = builder.header("Idempotency-Key", idem);
        }
        if let Some(body) = body {
            builder = builder
                .header("Content-Type", "application/json")
                .body(serde_json::to_vec(body).expect("json"));
        }
        Res::read(builder.send().await.expect("request reaches the server")).await
    }
}

/// One POST to fire in a race: path, `Idempotency-Key`, body (none: empty).
pub type Call = (String, Option<String>, Option<Value>);

/// Sends every call at once (they wait on a barrier); answers in the calls' order.
pub async fn fire(app: &TestApp, calls: Vec<Call>) -> Vec<Res> {
    let remote = app.remote();
    fire_on(calls.into_iter().map(|c| (remote.clone(), c)).collect()).await
}

/// Like [`fire`], each call to the server its `Remote` names.
pub async fn fire_on(calls: Vec<(Remote, Call)>) -> Vec<Res> {
    let barrier = Arc::new(Barrier::new(calls.len()));
    let handles: Vec<_> = calls
        .into_iter()
        .map(|(remote, (path, idem, body))| {
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                remote.post(&path, idem.as_deref(), body.as_ref()).await
            })
        })
        .collect();
    let mut answers = Vec::with_capacity(handles.len());
    for handle in handles {
        answers.push(handle.await.expect("request task"));
    }
    answers
}

#[derive(Debug)]
pub struct Res {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Res {
    pub async fn read(response: reqwest::Response) -> Res {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Res {
            status,
            headers,
            text,
            json,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The intent in a `{"data": intent}` answer.
    pub fn intent(&self) -> &Value {
        &self.json["data"]
    }

    /// Asserts the error envelope: exact status, code and `param`, and a request id that matches
    /// the `X-Request-Id` header.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str, param: Option<&str>) {
        assert_eq!(self.status, status, "status; body: {}", self.text);
        let error = &self.json["error"];
        assert_eq!(error["code"], code, "code; body: {}", self.text);
        match param {
            Some(p) => assert_eq!(error["param"], p, "param; body: {}", self.text),
            None => assert!(
                error.get("param").is_none(),
                "no param expected: {}",
                self.text
            ),
        }
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "message"
        );
        let request_id = error["request_id"]
            .as_str()
            .expect("request_id in the body");
        assert!(request_id.starts_with("req_"), "{request_id}");
        assert_eq!(
            self.header("x-request-id"),
            Some(request_id),
            "header matches body"
        );
    }
}

/// A Unix time as the API writes it: RFC 3339, UTC, whole seconds (`rfc3339(T0) == T0_RFC3339`).
pub fn rfc3339(seconds: i64) -> String {
    holdfast_http::dto::rfc3339(Timestamp(seconds))
}

/// `{"amount": n, "currency": "USD"}`.
pub fn usd(amount: i64) -> Value {
    json!({"amount": amount, "currency": "USD"})
}

/// Asserts the four money fields of an intent, in order: authorized, capturable, captured, released.
#[track_caller]
pub fn assert_money(
    intent: &Value,
    authorized: i64,
    capturable: i64,
    captured: i64,
    released: i64,
) {
    assert_eq!(
        intent["authorized_amount_money"],
        usd(authorized),
        "authorized: {intent}"
    );
    assert_eq!(
        intent["capturable_amount_money"],
        usd(capturable),
        "capturable: {intent}"
    );
    assert_eq!(
        intent["captured_amount_money"],
        usd(captured),
        "captured: {intent}"
    );
    assert_eq!(
        intent["released_amount_money"],
        usd(released),
        "released: {intent}"
    );
    assert_eq!(captured + released + capturable, authorized, "invariant");
}

impl TestApp {
    /// A second `holdfast` server on this test's database, as a second process would be (no
    /// background workers), and its task.
    pub async fn second_server(&self) -> (Remote, tokio::task::JoinHandle<std::io::Result<()>>) {
        let clock = Arc::new(ManualClock::new(Timestamp(T0)));
        let running = holdfast::start(
            "127.0.0.1:0".parse().expect("addr"),
            &self.db.url,
            clock,
            holdfast::Options {
                without_workers: true,
                settings: holdfast_service::Settings {
                    secrets_key: test_secrets_key(),
                    ..holdfast_service::Settings::default()
                },
                ..holdfast::Options::default()
            },
            std::future::pending(),
        )
        .await
        .expect("second server starts");
        assert!(running.bootstrapped.is_none());
        let remote = Remote {
            client: reqwest::Client::new(),
            base: format!("http://{}", running.addr),
            key: self.test_key.clone(),
        };
        (remote, running.task)
    }
}

/// The secrets key every server of the test suite uses (base64 of bytes 0..32).
pub const TEST_SECRETS_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

pub fn test_secrets_key() -> holdfast_service::webhooks::SecretsKey {
    holdfast_service::webhooks::SecretsKey::from_base64(TEST_SECRETS_KEY).expect("test key")
}
