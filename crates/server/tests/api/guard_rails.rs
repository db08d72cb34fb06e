//! The guard rails from outside: per-credential rate limits and the capture bucket, shedding when
//! too many requests are in flight, the request timeout, and the health checks that stay open
//! through all of it. Then two sweeps over the whole API: every route that takes an id answers
//! for another merchant's object, or the other mode's, exactly as for a missing one; and the real
//! binary, logging at debug, writes no secret through a workload that handles every kind.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use holdfast::Options;
use holdfast_http::{Limits, Rate};
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::both_backends;
use crate::helpers::{Backend, Database, Res, T0, TestApp, rfc3339, usd};

/// Runs `name(backend)` once per backend, for tests that start a server with guard rails of
/// their own.
macro_rules! each_backend {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name($crate::helpers::Backend::Postgres).await;
            }
        }
    )*};
}

each_backend!(
    over_the_rate_answers_429_with_the_envelope_and_headers,
    capture_routes_have_a_bucket_of_their_own,
    zero_turns_each_limit_off,
    each_credential_has_its_own_bucket,
    too_many_requests_in_flight_are_shed_with_overloaded,
    a_request_past_its_deadline_answers_request_timeout,
);

both_backends!(every_route_with_an_id_answers_for_a_foreign_id_as_for_a_missing_one);

// ---- Helpers ----------------------------------------------------------------------------------

/// A server with these guard rails and no background workers; `None` without PostgreSQL.
async fn serve_with(backend: Backend, limits: Limits) -> Option<TestApp> {
    let options = Options {
        without_workers: true,
        limits,
        ..Options::default()
    };
    TestApp::spawn_with(backend, options).await
}

fn rate(per_second: u32, burst: u32) -> Rate {
    Rate { per_second, burst }
}

/// `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset`, as sent.
fn quota(res: &Res) -> [Option<&str>; 3] {
    [
        res.header("ratelimit-limit"),
        res.header("ratelimit-remaining"),
        res.header("ratelimit-reset"),
    ]
}

#[track_caller]
fn assert_quota(res: &Res, limit: u32, remaining: u32, reset: u64) {
    let (limit, remaining, reset) = (limit.to_string(), remaining.to_string(), reset.to_string());
    assert_eq!(
        quota(res),
        [Some(&*limit), Some(&*remaining), Some(&*reset)],
        "RateLimit-Limit, -Remaining, -Reset; body: {}",
        res.text
    );
}

#[track_caller]
fn assert_no_quota(res: &Res) {
    assert_eq!(quota(res), [None, None, None], "no RateLimit-* headers");
}

/// Asserts the 429 exactly: status, envelope (code, message, request id, nothing else) and
/// headers.
#[track_caller]
fn assert_rate_limited(res: &Res, message: &str, limit: u32, reset: u64) {
    res.assert_error(429, "RATE_LIMITED", None);
    let error = res.json["error"].as_object().unwrap();
    let mut fields: Vec<&str> = error.keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["code", "message", "request_id"], "{}", res.text);
    assert_eq!(error["message"], message);
    assert_eq!(res.header("retry-after"), Some("1"));
    assert_quota(res, limit, 0, reset);
}

/// Repeats `GET path` until it answers 200, for at most ten seconds; returns the last answer.
async fn until_ok(app: &TestApp, path: &str) -> Res {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let res = app.get(path).await;
        if res.status == 200 || Instant::now() > deadline {
            return res;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A request whose body never finishes arriving. The server has routed it, and its handler waits
/// for the rest of the body, holding a place among the requests in flight until the server gives
/// up on it or the connection closes (when this is dropped).
struct Stalled {
    stream: TcpStream,
}

impl Stalled {
    async fn open(app: &TestApp) -> Stalled {
        let host = app.base.trim_start_matches("http://");
        let mut stream = TcpStream::connect(host).await.expect("connect");
        let head = format!(
            "POST /v1/customers HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{",
            app.test_key
        );
        stream.write_all(head.as_bytes()).await.expect("write");
        Stalled { stream }
    }

    /// The server's answer, read off the socket; panics if none comes within ten seconds.
    async fn answer(&mut self) -> Res {
        tokio::time::timeout(Duration::from_secs(10), self.read_answer())
            .await
            .expect("an answer within ten seconds")
    }

    async fn read_answer(&mut self) -> Res {
        let mut buf = Vec::new();
        let head_end = loop {
            if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            self.read_more(&mut buf).await;
        };
        let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let mut headers = HeaderMap::new();
        for line in lines.filter(|l| !l.is_empty()) {
            let (name, value) = line.split_once(':').unwrap();
            headers.append(
                HeaderName::from_bytes(name.trim().as_bytes()).unwrap(),
                HeaderValue::from_str(value.trim()).unwrap(),
            );
        }
        let length: usize = headers["content-length"].to_str().unwrap().parse().unwrap();
        while buf.len() < head_end + length {
            self.read_more(&mut buf).await;
        }
        let text = String::from_utf8(buf[head_end..head_end + length].to_vec()).unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Res {
            status,
            headers,
            text,
            json,
        }
    }

    async fn read_more(&mut self, buf: &mut Vec<u8>) {
        let mut chunk = [0u8; 4096];
        let n = self.stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "the connection closed without an answer");
        buf.extend_from_slice(&chunk[..n]);
    }
}

// ---- Rate limits ------------------------------------------------------------------------------

async fn over_the_rate_answers_429_with_the_envelope_and_headers(backend: Backend) {
    let limits = Limits {
        rate: rate(1, 3),
        ..Limits::OFF
    };
    let Some(app) = serve_with(backend, limits).await else {
        return;
    };
    // A burst of three at one a second: each answer says what is left and when the bucket is
    // full again (each request adds a second to that).
    for (remaining, reset) in [(2, 1), (1, 2), (0, 3)] {
        let res = app.get("/v1/payment-intents").await;
        assert_eq!(res.status, 200, "{}", res.text);
        assert_quota(&res, 3, remaining, reset);
        assert_eq!(res.header("retry-after"), None);
    }
    // The fourth is refused, on any route: the bucket is the key's, not the route's.
    let refused = app.post("/v1/customers", json!({})).await;
    assert_rate_limited(
        &refused,
        "too many requests with this credential: 1 a second, in bursts of up to 3; retry in 1 s",
        3,
        3,
    );
    let refused = app.get("/v1/payment-intents").await;
    assert_rate_limited(
        &refused,
        "too many requests with this credential: 1 a second, in bursts of up to 3; retry in 1 s",
        3,
        3,
    );
    // The health checks are never limited, and an unknown route is not a limited route.
    for path in ["/healthz", "/readyz"] {
        let res = app.get(path).await;
        assert_eq!(res.status, 200, "{path}: {}", res.text);
        assert_no_quota(&res);
    }
    let res = app.get("/v1/nowhere").await;
    res.assert_error(404, "NOT_FOUND", None);
    assert_no_quota(&res);
    // Refusals took nothing: a second later exactly one token is back.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let res = app.get("/v1/payment-intents").await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(quota(&res)[..2], [Some("3"), Some("0")]);
    assert_eq!(app.get("/v1/payment-intents").await.status, 429);
}

async fn capture_routes_have_a_bucket_of_their_own(backend: Backend) {
    let limits = Limits {
        rate: rate(1_000, 2_000),
        capture_rate: rate(1, 2),
        ..Limits::OFF
    };
    let Some(app) = serve_with(backend, limits).await else {
        return;
    };
    let id = app.hold(5_000).await;
    let missing_order = "ord_000000000000000000000000";
    let missing_intent = "pi_000000000000000000000000";
    let order_capture =
        format!("/v1/orders/{missing_order}/payment-intents/{missing_intent}/capture");
    let intent_capture = format!("/v1/payment-intents/{id}/capture");

    // Other routes show the general bucket.
    let res = app.get(&format!("/v1/payment-intents/{id}")).await;
    assert_eq!(res.status, 200);
    assert_eq!(quota(&res)[0], Some("2000"));

    // Captures show the capture bucket, the tighter of the two, on both capture routes.
    let res = app
        .post(&intent_capture, json!({"amount_money": usd(1_000)}))
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_quota(&res, 2, 1, 1);
    let res = app.post(&order_capture, json!({})).await;
    assert_eq!(res.json["error"]["code"], "ORDER_NOT_FOUND", "{}", res.text);
    assert_quota(&res, 2, 0, 2);
    let message =
        "too many captures with this credential: 1 a second, in bursts of up to 2; retry in 1 s";
    assert_rate_limited(&app.post(&intent_capture, json!({})).await, message, 2, 2);
    assert_rate_limited(&app.post(&order_capture, json!({})).await, message, 2, 2);

    // The general bucket is not spent: reads, voids and cancels go on.
    let res = app.get(&format!("/v1/payment-intents/{id}")).await;
    assert_eq!(res.status, 200);
    assert_eq!(quota(&res)[0], Some("2000"));
    let res = app
        .post(
            &format!("/v1/orders/{missing_order}/payment-intents/{missing_intent}/void"),
            json!({}),
        )
        .await;
    res.assert_error(404, "ORDER_NOT_FOUND", None);
    let other = app.hold(3_000).await;
    let res = app
        .post(&format!("/v1/payment-intents/{other}/cancel"), json!({}))
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    // Another key's captures have their own capture bucket.
    let res = app
        .request(Method::POST, &intent_capture)
        .key(&app.live_key)
        .json(&json!({}))
        .send()
        .await;
    res.assert_error(404, "PAYMENT_INTENT_NOT_FOUND", None);
    assert_quota(&res, 2, 1, 1);
    // The refused captures changed nothing: 1000 of 5000 captured, once.
    let intent = app.intent(&id).await;
    assert_eq!(intent["captured_amount_money"], usd(1_000));
}

async fn zero_turns_each_limit_off(backend: Backend) {
    // Everything off: no headers, no refusals, no cap and no timeout.
    let Some(app) = serve_with(backend, Limits::OFF).await else {
        return;
    };
    let id = app.hold(5_000).await;
    let mut stalled = Stalled::open(&app).await;
    for _ in 0..30 {
        let res = app.get("/v1/payment-intents").await;
        assert_eq!(res.status, 200, "{}", res.text);
        assert_no_quota(&res);
    }
    for _ in 0..5 {
        let res = app
            .post(&format!("/v1/payment-intents/{id}/capture"), json!({}))
            .await;
        assert_ne!(res.status, 429, "{}", res.text);
        assert_no_quota(&res);
    }
    // With no timeout the stalled request is still waiting for its body.
    let waited = tokio::time::timeout(Duration::from_millis(500), stalled.read_answer()).await;
    assert!(waited.is_err(), "no answer without a timeout");
    drop(stalled);
    drop(app);

    // A zero rate turns the general limit off whatever the burst; captures are still limited.
    let limits = Limits {
        rate: rate(0, 5),
        capture_rate: rate(1, 1),
        ..Limits::OFF
    };
    let Some(app) = serve_with(backend, limits).await else {
        return;
    };
    for _ in 0..10 {
        let res = app.get("/v1/payment-intents").await;
        assert_eq!(res.status, 200);
        assert_no_quota(&res);
    }
    let capture = "/v1/payment-intents/pi_000000000000000000000000/capture";
    let res = app.post(capture, json!({})).await;
    res.assert_error(404, "PAYMENT_INTENT_NOT_FOUND", None);
    assert_quota(&res, 1, 0, 1);
    assert_eq!(app.post(capture, json!({})).await.status, 429);
    drop(app);

    // With the capture limit off, captures count against the general bucket only.
    let limits = Limits {
        rate: rate(1, 2),
        capture_rate: rate(0, 0),
        ..Limits::OFF
    };
    let Some(app) = serve_with(backend, limits).await else {
        return;
    };
    let res = app.post(capture, json!({})).await;
    res.assert_error(404, "PAYMENT_INTENT_NOT_FOUND", None);
    assert_quota(&res, 2, 1, 1);
}

async fn each_credential_has_its_own_bucket(backend: Backend) {
    let limits = Limits {
        rate: rate(1, 2),
        ..Limits::OFF
    };
    let Some(app) = serve_with(backend, limits).await else {
        return;
    };
    let other = app.app.create_merchant("Other Shop").await.unwrap();
    // An intent of the other merchant, made with its live key, gives a client secret.
    let created = app
        .request(Method::POST, "/v1/payment-intents")
        .key(&other.live_key)
        .json(&json!({"amount_money": usd(1_000), "capture_method": "manual"}))
        .send()
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let intent_id = created.json["data"]["payment_intent"]["payment_intent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let client_secret = created.json["data"]["client_confirmation"]["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();

    for _ in 0..2 {
        assert_eq!(app.get("/v1/payment-intents").await.status, 200);
    }
    let refused = app.get("/v1/payment-intents").await;
    assert_eq!(refused.status, 429, "{}", refused.text);

    // The same merchant's live key, another merchant's key and a client secret each start full.
    for key in [&app.live_key, &other.test_key] {
        let res = app
            .request(Method::GET, "/v1/payment-intents")
            .key(key)
            .send()
            .await;
        assert_eq!(res.status, 200, "{}", res.text);
        assert_quota(&res, 2, 1, 1);
    }
    let res = app
        .request(Method::GET, &format!("/v1/payment-intents/{intent_id}"))
        .key(&client_secret)
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_quota(&res, 2, 1, 1);
    // A key that shares the spent key's display prefix is another credential: it is judged on
    // its own (unknown, 401), not refused with the spent key's bucket.
    let lookalike = format!("{}{}", &app.test_key[..16], "x".repeat(24));
    let res = app
        .request(Method::GET, "/v1/payment-intents")
        .key(&lookalike)
        .send()
        .await;
    res.assert_error(401, "INVALID_API_KEY", None);
    // And the spent key is still refused.
    assert_eq!(app.get("/v1/payment-intents").await.status, 429);
}

// ---- Shedding and timeouts ----------------------------------------------------------------------

async fn too_many_requests_in_flight_are_shed_with_overloaded(backend: Backend) {
    let limits = Limits {
        concurrent_requests_max: 1,
        ..Limits::OFF
    };
    let Some(app) = serve_with(backend, limits).await else {
        return;
    };
    // Two requests that never finish: whichever the server reads first takes the only place, and
    // the other is refused at once.
    let mut stalled = [Stalled::open(&app).await, Stalled::open(&app).await];
    let refused = {
        let [a, b] = &mut stalled;
        tokio::time::timeout(Duration::from_secs(10), async {
            tokio::select! {
                res = a.read_answer() => res,
                res = b.read_answer() => res,
            }
        })
        .await
        .expect("one of two requests is refused at once")
    };
    refused.assert_error(503, "OVERLOADED", None);
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_eq!(
        refused.json["error"]["message"],
        "the server is handling as many requests as it can; retry shortly"
    );

    // The place stays taken, so every other API request is refused too, with a key or without.
    let res = app.get("/v1/payment-intents").await;
    res.assert_error(503, "OVERLOADED", None);
    assert_eq!(res.header("retry-after"), Some("1"));
    let res = app
        .request(Method::GET, "/v1/payment-intents")
        .no_key()
        .send()
        .await;
    res.assert_error(503, "OVERLOADED", None);
    // The health checks are not behind the cap.
    for path in ["/healthz", "/readyz"] {
        let res = app.request(Method::GET, path).no_key().send().await;
        assert_eq!(res.status, 200, "{path}: {}", res.text);
    }

    // Once the held request ends (its client hangs up), its place is free again.
    drop(stalled);
    let res = until_ok(&app, "/v1/payment-intents").await;
    assert_eq!(res.status, 200, "{}", res.text);
}

async fn a_request_past_its_deadline_answers_request_timeout(backend: Backend) {
    let limits = Limits {
        concurrent_requests_max: 1,
        request_timeout: Duration::from_millis(300),
        ..Limits::OFF
    };
    let Some(app) = serve_with(backend, limits).await else {
        return;
    };
    assert_eq!(app.get("/v1/payment-intents").await.status, 200);
    let started = Instant::now();
    let mut stalled = Stalled::open(&app).await;
    let res = stalled.answer().await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    res.assert_error(503, "REQUEST_TIMEOUT", None);
    assert_eq!(
        res.json["error"]["message"],
        "the request took longer than 300ms and was stopped; retry with the same Idempotency-Key"
    );
    assert_eq!(res.header("retry-after"), None);
    // Stopping it gave its place back, though its client is still connected.
    let res = app.get("/v1/payment-intents").await;
    assert_eq!(res.status, 200, "{}", res.text);
    drop(stalled);
}

// ---- Tenancy ----------------------------------------------------------------------------------

/// One object of each kind, owned by the test key's merchant in test mode.
struct Owned {
    endpoint: String,
    intent: String,
    intent_3ds: String,
    order: String,
    order_intent: String,
    captured: String,
    refund: String,
    event: String,
    customer: String,
    payment_method: String,
    test_clock: String,
}

impl Owned {
    async fn create(app: &TestApp) -> Owned {
        let data = |res: Res, status: u16, field: &str| {
            assert_eq!(res.status, status, "{}", res.text);
            res.json["data"][field].as_str().unwrap().to_owned()
        };
        // The endpoint first, so that the events below have deliveries.
        let endpoint = data(
            app.post(
                "/v1/webhook-endpoints",
                json!({"url": "http://127.0.0.1:9/hooks", "enabled_events": ["*"]}),
            )
            .await,
            201,
            "webhook_endpoint_id",
        );
        let intent = app.hold(5_000).await;
        let intent_3ds = app.create_manual(3_000).await;
        let res = app
            .post(
                &format!("/v1/payment-intents/{intent_3ds}/confirm"),
                json!({"payment_source_token": "pm_card_threeDSecure2Required"}),
            )
            .await;
        assert_eq!(
            res.json["data"]["status"], "requires_action",
            "{}",
            res.text
        );
        let order = data(app.post("/v1/orders", order_body()).await, 201, "order_id");
        let res = app
            .post(
                "/v1/payment-intents",
                json!({"order_id": order, "capture_method": "manual"}),
            )
            .await;
        assert_eq!(res.status, 201, "{}", res.text);
        let order_intent = res.json["data"]["payment_intent"]["payment_intent_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let res = app
            .post(&format!("/v1/orders/{order}/pay"), pay_body(&order_intent))
            .await;
        assert_eq!(res.status, 200, "{}", res.text);
        let captured = app.captured_with(8_000, 8_000, "pm_card_visa").await;
        let refund = data(
            app.refund(json!({"payment_intent_id": captured, "amount_money": usd(1_000)}))
                .await,
            201,
            "refund_id",
        );
        let events = app.get("/v1/events?limit=1").await;
        let event = events.json["data"][0]["id"].as_str().unwrap().to_owned();
        let customer = data(
            app.post("/v1/customers", json!({"name": "Ada"})).await,
            201,
            "customer_id",
        );
        let payment_method = data(
            app.post(
                &format!("/v1/customers/{customer}/payment-methods"),
                json!({"payment_source_token": "pm_card_visa"}),
            )
            .await,
            201,
            "payment_method_id",
        );
        let test_clock = data(
            app.post("/v1/test-clocks", json!({"frozen_time": rfc3339(T0)}))
                .await,
            201,
            "test_clock_id",
        );
        Owned {
            endpoint,
            intent,
            intent_3ds,
            order,
            order_intent,
            captured,
            refund,
            event,
            customer,
            payment_method,
            test_clock,
        }
    }

    fn ids(&self) -> [&String; 11] {
        [
            &self.endpoint,
            &self.intent,
            &self.intent_3ds,
            &self.order,
            &self.order_intent,
            &self.captured,
            &self.refund,
            &self.event,
            &self.customer,
            &self.payment_method,
            &self.test_clock,
        ]
    }

    /// What the owner sees: every object, and every list, which must not change.
    async fn view(&self, app: &TestApp) -> Vec<Value> {
        let paths = [
            format!("/v1/payment-intents/{}", self.intent),
            format!("/v1/payment-intents/{}/actions", self.intent),
            format!("/v1/payment-intents/{}", self.intent_3ds),
            format!("/v1/payment-intents/{}", self.order_intent),
            format!("/v1/payment-intents/{}", self.captured),
            format!("/v1/orders/{}", self.order),
            format!("/v1/refunds/{}", self.refund),
            format!("/v1/events/{}", self.event),
            format!("/v1/events/{}/deliveries", self.event),
            format!("/v1/customers/{}", self.customer),
            format!("/v1/test-clocks/{}", self.test_clock),
            format!("/v1/webhook-endpoints/{}", self.endpoint),
            "/v1/payment-intents?limit=100".to_owned(),
            "/v1/orders?limit=100".to_owned(),
            "/v1/refunds?limit=100".to_owned(),
            "/v1/events?limit=100".to_owned(),
            "/v1/test-clocks?limit=100".to_owned(),
            "/v1/webhook-endpoints?limit=100".to_owned(),
        ];
        let mut seen = Vec::new();
        for path in paths {
            let res = app.get(&path).await;
            assert_eq!(res.status, 200, "{path}: {}", res.text);
            seen.push(res.json);
        }
        seen
    }
}

fn order_body() -> Value {
    json!({"currency": "USD", "line_items": [{"name": "Lens", "quantity": 1, "unit_price_money": usd(4_000)}]})
}

fn pay_body(intent: &str) -> Value {
    json!({
        "payment_intent_ids": [intent],
        "payment_source_tokens": {intent: "pm_card_visa"},
        "expected_amount_money": usd(4_000),
    })
}

/// The id of nothing, shaped like `id`: its prefix and as many zeros.
fn missing_twin(id: &str) -> String {
    let (prefix, random) = id.rsplit_once('_').unwrap();
    format!("{prefix}_{}", "0".repeat(random.len()))
}

/// One request, with the owner's ids in its path and body, and the answer a missing id gets.
struct Call {
    method: Method,
    path: String,
    body: Option<Value>,
    /// What a missing id gets from another merchant's test key.
    missing: Outcome,
    /// The same from the owner's own live key, where it differs.
    missing_live: Option<Outcome>,
}

/// Status, error code and `param`.
type Outcome = (u16, &'static str, Option<&'static str>);

fn call(method: Method, path: String, body: Option<Value>, missing: Outcome) -> Call {
    Call {
        method,
        path,
        body,
        missing,
        missing_live: None,
    }
}

impl Call {
    fn live(mut self, missing_live: Outcome) -> Call {
        self.missing_live = Some(missing_live);
        self
    }

    /// A missing id in the body is named by this field.
    fn param(mut self, param: &'static str) -> Call {
        self.missing.2 = Some(param);
        self
    }

    /// The same request with every owned id replaced by its missing twin.
    fn with_missing(&self, ids: &[&String]) -> Call {
        let swap = |text: &str| {
            ids.iter().fold(text.to_owned(), |text, id| {
                text.replace(*id, &missing_twin(id))
            })
        };
        Call {
            method: self.method.clone(),
            path: swap(&self.path),
            body: self
                .body
                .as_ref()
                .map(|b| serde_json::from_str(&swap(&b.to_string())).unwrap()),
            missing: self.missing,
            missing_live: self.missing_live,
        }
    }

    async fn send(&self, app: &TestApp, key: &str) -> Res {
        let mut req = app.request(self.method.clone(), &self.path).key(key);
        if let Some(body) = &self.body {
            req = req.json(body);
        }
        req.send().await
    }
}

const PI_404: Outcome = (404, "PAYMENT_INTENT_NOT_FOUND", None);
const ORDER_404: Outcome = (404, "ORDER_NOT_FOUND", None);
const CLOCK_404: Outcome = (404, "TEST_CLOCK_NOT_FOUND", None);
/// Test clocks refuse a live key before looking anything up.
const CLOCK_LIVE: Outcome = (
    400,
    "TEST_CLOCK_NOT_ALLOWED_IN_LIVE_MODE",
    Some("test_clock"),
);
const ENDPOINT_404: Outcome = (404, "WEBHOOK_ENDPOINT_NOT_FOUND", None);
const EVENT_404: Outcome = (404, "EVENT_NOT_FOUND", None);
const CUSTOMER_404: Outcome = (404, "CUSTOMER_NOT_FOUND", None);
const OK: Outcome = (200, "", None);

/// Every route under `crates/http/src/routes/` with an id in its path.
fn path_id_calls(o: &Owned) -> Vec<Call> {
    use Method as M;
    let pi = |rest: &str| format!("/v1/payment-intents/{}{rest}", o.intent);
    let order = |rest: &str| format!("/v1/orders/{}{rest}", o.order);
    let clock = |rest: &str| format!("/v1/test-clocks/{}{rest}", o.test_clock);
    let endpoint = |rest: &str| format!("/v1/webhook-endpoints/{}{rest}", o.endpoint);
    let event = |rest: &str| format!("/v1/events/{}{rest}", o.event);
    let empty = || Some(json!({}));
    vec![
        // payment_intents.rs
        call(M::GET, pi(""), None, PI_404),
        call(
            M::POST,
            pi("/confirm"),
            Some(json!({"payment_source_token": "pm_card_visa"})),
            PI_404,
        ),
        call(M::POST, pi("/capture"), empty(), PI_404),
        call(M::POST, pi("/cancel"), empty(), PI_404),
        call(M::GET, pi("/actions"), None, PI_404),
        call(
            M::POST,
            pi("/scheduled-action"),
            Some(json!({"type": "void", "at": rfc3339(T0 + 3_600)})),
            PI_404,
        ),
        call(M::DELETE, pi("/scheduled-action"), None, PI_404),
        // orders.rs
        call(M::GET, order(""), None, ORDER_404),
        call(
            M::PATCH,
            order(""),
            Some(json!({"reference": "x"})),
            ORDER_404,
        ),
        call(M::POST, order("/cancel"), empty(), ORDER_404),
        call(
            M::POST,
            order("/pay"),
            Some(pay_body(&o.order_intent)),
            ORDER_404,
        ),
        call(
            M::POST,
            order(&format!("/payment-intents/{}/capture", o.order_intent)),
            empty(),
            ORDER_404,
        ),
        call(
            M::POST,
            order(&format!("/payment-intents/{}/void", o.order_intent)),
            empty(),
            ORDER_404,
        ),
        // refunds.rs
        call(
            M::GET,
            format!("/v1/refunds/{}", o.refund),
            None,
            (404, "REFUND_NOT_FOUND", None),
        ),
        // events.rs
        call(M::GET, event(""), None, EVENT_404),
        call(M::GET, event("/deliveries"), None, EVENT_404),
        call(M::POST, event("/resend"), empty(), EVENT_404),
        // customers.rs
        call(
            M::GET,
            format!("/v1/customers/{}", o.customer),
            None,
            CUSTOMER_404,
        ),
        call(
            M::POST,
            format!("/v1/customers/{}/payment-methods", o.customer),
            Some(json!({"payment_source_token": "pm_card_visa"})),
            CUSTOMER_404,
        ),
        // test_clocks.rs: a live key is refused before any lookup.
        call(M::GET, clock(""), None, CLOCK_404).live(CLOCK_LIVE),
        call(M::DELETE, clock(""), None, CLOCK_404).live(CLOCK_LIVE),
        call(
            M::POST,
            clock("/advance"),
            Some(json!({"frozen_time": rfc3339(T0 + 60)})),
            CLOCK_404,
        )
        .live(CLOCK_LIVE),
        // webhook_endpoints.rs
        call(M::GET, endpoint(""), None, ENDPOINT_404),
        call(
            M::PATCH,
            endpoint(""),
            Some(json!({"description": "x"})),
            ENDPOINT_404,
        ),
        call(M::DELETE, endpoint(""), None, ENDPOINT_404),
        call(M::POST, endpoint("/rotate-secret"), empty(), ENDPOINT_404),
        // test_helpers.rs: test mode only, so a live key finds no such route.
        call(
            M::POST,
            format!(
                "/v1/test-helpers/payment-intents/{}/authenticate",
                o.intent_3ds
            ),
            Some(json!({"result": "success"})),
            PI_404,
        )
        .live((404, "NOT_FOUND", None)),
    ]
}

/// Requests that name the owner's ids beside the caller's own objects: in a body, a query, or
/// the second id of a path.
fn mixed_calls(o: &Owned, own_order: &str, own_intent: &str) -> Vec<Call> {
    use Method as M;
    let create = |extra: Value| {
        let mut body = json!({"amount_money": usd(1_000), "capture_method": "manual"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        Some(body)
    };
    vec![
        call(
            M::POST,
            "/v1/payment-intents".into(),
            create(json!({"customer_id": o.customer})),
            CUSTOMER_404,
        )
        .param("customer_id"),
        call(
            M::POST,
            "/v1/payment-intents".into(),
            Some(json!({"capture_method": "manual", "order_id": o.order})),
            ORDER_404,
        )
        .param("order_id"),
        call(
            M::POST,
            "/v1/payment-intents".into(),
            create(json!({"test_clock": o.test_clock})),
            CLOCK_404,
        )
        .param("test_clock")
        .live(CLOCK_LIVE),
        call(
            M::POST,
            format!("/v1/payment-intents/{own_intent}/confirm"),
            Some(json!({"payment_method_id": o.payment_method})),
            (404, "PAYMENT_METHOD_NOT_FOUND", Some("payment_method_id")),
        ),
        call(
            M::POST,
            "/v1/refunds".into(),
            Some(json!({"payment_intent_id": o.captured})),
            PI_404,
        )
        .param("payment_intent_id"),
        call(
            M::POST,
            format!("/v1/orders/{own_order}/pay"),
            Some(pay_body(&o.order_intent)),
            PI_404,
        )
        .param("payment_intent_ids"),
        call(
            M::POST,
            format!(
                "/v1/orders/{own_order}/payment-intents/{}/capture",
                o.order_intent
            ),
            Some(json!({})),
            PI_404,
        ),
        call(
            M::POST,
            format!(
                "/v1/orders/{own_order}/payment-intents/{}/void",
                o.order_intent
            ),
            Some(json!({})),
            PI_404,
        ),
        call(
            M::GET,
            format!("/v1/events?payment_intent_id={}", o.intent),
            None,
            OK,
        ),
        call(
            M::GET,
            format!("/v1/refunds?payment_intent_id={}", o.captured),
            None,
            OK,
        ),
    ]
}

/// Status, error code and `param` of an answer.
fn outcome(res: &Res) -> (u16, Option<&str>, Option<&str>) {
    let error = &res.json["error"];
    (res.status, error["code"].as_str(), error["param"].as_str())
}

/// The answer without its request id, which differs on every request.
fn comparable(res: &Res) -> (u16, Value) {
    let mut json = res.json.clone();
    if let Some(error) = json.get_mut("error").and_then(Value::as_object_mut) {
        error.remove("request_id");
    }
    (res.status, json)
}

async fn every_route_with_an_id_answers_for_a_foreign_id_as_for_a_missing_one(app: &TestApp) {
    let owned = Owned::create(app).await;
    let before = owned.view(app).await;
    let other = app.app.create_merchant("Other Shop").await.unwrap();
    let ids = owned.ids();
    let callers = [
        ("another merchant", other.test_key.as_str(), false),
        ("the other mode", app.live_key.as_str(), true),
    ];
    let mut checked = 0;
    let mut problems = Vec::new();
    for (who, key, live) in callers {
        // The caller's own order and intent, for the requests that mix theirs and ours.
        let res = app
            .request(Method::POST, "/v1/orders")
            .key(key)
            .json(&order_body())
            .send()
            .await;
        assert_eq!(res.status, 201, "{}", res.text);
        let own_order = res.json["data"]["order_id"].as_str().unwrap().to_owned();
        let res = app
            .request(Method::POST, "/v1/payment-intents")
            .key(key)
            .json(&json!({"amount_money": usd(1_000), "capture_method": "manual"}))
            .send()
            .await;
        assert_eq!(res.status, 201, "{}", res.text);
        let own_intent = res.json["data"]["payment_intent"]["payment_intent_id"]
            .as_str()
            .unwrap()
            .to_owned();

        let calls =
            path_id_calls(&owned)
                .into_iter()
                .chain(mixed_calls(&owned, &own_order, &own_intent));
        for foreign in calls {
            let missing = foreign.with_missing(&ids);
            let what = format!("{who}: {} {}", foreign.method, foreign.path);
            let foreign_res = foreign.send(app, key).await;
            let missing_res = missing.send(app, key).await;
            let expected = match foreign.missing_live {
                Some(expected) if live => expected,
                _ => foreign.missing,
            };
            let expected = match expected {
                (200, _, _) => (200, None, None),
                (status, code, param) => (status, Some(code), param),
            };
            let (got_missing, got_foreign) = (outcome(&missing_res), outcome(&foreign_res));
            if got_missing != expected {
                problems.push(format!(
                    "{what}: a missing id answers {got_missing:?}, not {expected:?}"
                ));
            }
            if comparable(&foreign_res) != comparable(&missing_res) {
                problems.push(format!(
                    "{what}: a foreign id answers {got_foreign:?} ({}), a missing one {got_missing:?} ({})",
                    foreign_res.text, missing_res.text
                ));
            }
            checked += 1;
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(checked, 2 * (27 + 10));
    // And none of it changed anything the owner sees.
    assert_eq!(owned.view(app).await, before);
}

// ---- Secrets in logs --------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_hold_no_secrets_sqlite() {
    logs_hold_no_secrets(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_hold_no_secrets_postgres() {
    logs_hold_no_secrets(Backend::Postgres).await;
}

const BIN: &str = env!("CARGO_BIN_EXE_holdfast");

/// `holdfast serve` at debug, its stderr read on a thread of its own so a chatty log never
/// blocks it.
struct Served {
    child: std::process::Child,
    base: String,
    key: String,
    stdout: Vec<String>,
    stdout_rest: std::thread::JoinHandle<Vec<String>>,
    stderr: std::thread::JoinHandle<String>,
}

impl Served {
    fn start(db: &Database, key_file: &std::path::Path, extra: &[&str]) -> Served {
        use std::io::{BufRead, BufReader, Read};
        use std::process::{Command, Stdio};
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
            .args(extra)
            .env("HOLDFAST_LOG", "debug")
            .env_remove("HOLDFAST_SECRETS_KEY")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn holdfast serve");
        let mut stderr = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut stdout = Vec::new();
        let base = loop {
            let line = lines.next().expect("the address is printed").unwrap();
            stdout.push(line.clone());
            if let Some(addr) = line.strip_prefix("holdfast listening on ") {
                break addr.to_owned();
            }
        };
        let key = stdout
            .iter()
            .flat_map(|l| l.split_whitespace())
            .find(|w| w.starts_with("sk_test_"))
            .expect("the bootstrap key is printed")
            .to_owned();
        // Anything printed later is read too, so that it is seen rather than blocked on.
        let stdout_rest = std::thread::spawn(move || lines.map_while(Result::ok).collect());
        Served {
            child,
            base,
            key,
            stdout,
            stdout_rest,
            stderr,
        }
    }

    /// SIGTERM; then all of stdout and stderr once the process has exited.
    fn stop(mut self) -> (Vec<String>, String) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        assert!(self.child.wait().expect("exits").success());
        let mut stdout = self.stdout;
        stdout.extend(self.stdout_rest.join().expect("stdout reader"));
        (stdout, self.stderr.join().expect("stderr reader"))
    }
}

/// A webhook receiver: refuses the first delivery (500) to exercise the retry path, then
/// accepts. Counts what reaches it.
async fn webhook_receiver() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&hits);
    let router = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move || {
            let n = counted.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    axum::http::StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, hits)
}

/// Creates a manual-capture intent (for `customer`, if given) through `send`; returns its id.
async fn create_manual<F, Fut>(send: &F, key: &str, customer: Option<&str>) -> String
where
    F: Fn(Method, &str, &str, Option<Value>) -> Fut,
    Fut: std::future::Future<Output = Res>,
{
    let mut body = json!({"amount_money": usd(5_000), "capture_method": "manual"});
    if let Some(customer) = customer {
        body["customer_id"] = json!(customer);
    }
    let res = send(Method::POST, "/v1/payment-intents", key, Some(body)).await;
    assert_eq!(res.status, 201, "{}", res.text);
    res.json["data"]["payment_intent"]["payment_intent_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// `text`, followed by every run of byte values in it (`[123, 34, …]`, how `Debug` prints a
/// `Vec<u8>`) read as text: a secret in a logged byte string is still a logged secret.
fn with_byte_strings_read(text: &str) -> String {
    let mut out = text.to_owned();
    for (start, _) in text.match_indices('[') {
        let Some(len) = text[start + 1..].find(']') else {
            continue;
        };
        let bytes: Option<Vec<u8>> = text[start + 1..start + 1 + len]
            .split(", ")
            .map(|n| n.parse().ok())
            .collect();
        if let Some(bytes) = bytes.filter(|b| b.len() >= 8) {
            out.push('\n');
            out.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    out
}

/// Every `pi_…_secret_…` in `text`: a client secret.
fn client_secrets_in(text: &str) -> Vec<&str> {
    let base62 = |c: char| c.is_ascii_alphanumeric();
    text.match_indices("_secret_")
        .filter_map(|(at, _)| {
            let before = &text[..at];
            let id_start = before.rfind(|c: char| !base62(c)).map_or(0, |i| i + 1);
            let prefix_ok = before[..id_start].ends_with("pi_");
            let tail = text[at + 8..].chars().take_while(|c| base62(*c)).count();
            (prefix_ok && tail > 0).then(|| &text[id_start - 3..at + 8 + tail])
        })
        .collect()
}

/// Every `sk_test_…` or `sk_live_…` in `text` with more after it than the display prefix's eight
/// characters: a whole key.
fn whole_keys_in(text: &str) -> Vec<&str> {
    ["sk_test_", "sk_live_"]
        .iter()
        .flat_map(|prefix| text.match_indices(prefix))
        .filter_map(|(at, prefix)| {
            let tail = text[at + prefix.len()..]
                .chars()
                .take_while(char::is_ascii_alphanumeric)
                .count();
            (tail > 8).then(|| &text[at..at + prefix.len() + tail])
        })
        .collect()
}

async fn logs_hold_no_secrets(backend: Backend) {
    let Some(db) = Database::for_backend(backend).await else {
        return;
    };
    let dir = std::env::temp_dir().join(format!(
        "holdfast-logs-{}",
        holdfast_service::ids::random_base62(12).to_lowercase()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let (hook_url, hits) = webhook_receiver().await;
    // The limits are flags here: the capture bucket is tiny, so the workload reaches it.
    let served = Served::start(
        &db,
        &dir.join("holdfast.key"),
        &["--capture-rate-limit", "1", "--capture-rate-burst", "2"],
    );
    // Another merchant, made by the CLI (at debug too), whose keys are in the workload.
    let created = std::process::Command::new(BIN)
        .args([
            "merchants",
            "create",
            "--name",
            "Other Shop",
            "--database-url",
            &db.url,
        ])
        .env("HOLDFAST_LOG", "debug")
        .output()
        .expect("holdfast merchants create");
    assert!(created.status.success());
    let other: Value = serde_json::from_slice(&created.stdout).unwrap();
    let other_test = other["api_keys"]["test"].as_str().unwrap().to_owned();
    let other_live = other["api_keys"]["live"].as_str().unwrap().to_owned();
    let cli_stderr = String::from_utf8_lossy(&created.stderr).into_owned();
    let client = reqwest::Client::new();
    let key = served.key.clone();
    let send = |method: Method, path: &str, bearer: &str, body: Option<Value>| {
        let mut req = client
            .request(method, format!("{}{path}", served.base))
            .bearer_auth(bearer);
        if let Some(body) = body {
            req = req.json(&body);
        }
        async move { Res::read(req.send().await.expect("request")).await }
    };
    let idem = |path: &str, idem_key: &str, body: Value| {
        let req = client
            .post(format!("{}{path}", served.base))
            .bearer_auth(&key)
            .header("Idempotency-Key", idem_key)
            .json(&body);
        async move { Res::read(req.send().await.expect("request")).await }
    };
    let mut secrets = vec![key.clone(), other_test.clone(), other_live.clone()];

    // A webhook endpoint (its secret answered once, then replayed), and a rotation.
    let endpoint_body = json!({"url": hook_url, "enabled_events": ["*"]});
    let res = idem("/v1/webhook-endpoints", "we-1", endpoint_body.clone()).await;
    assert_eq!(res.status, 201, "{}", res.text);
    let endpoint = res.json["data"]["webhook_endpoint_id"]
        .as_str()
        .unwrap()
        .to_owned();
    secrets.push(res.json["data"]["secret"].as_str().unwrap().to_owned());
    let replay = idem("/v1/webhook-endpoints", "we-1", endpoint_body).await;
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    let res = send(
        Method::POST,
        &format!("/v1/webhook-endpoints/{endpoint}/rotate-secret"),
        &key,
        Some(json!({})),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text);
    secrets.push(res.json["data"]["secret"].as_str().unwrap().to_owned());

    // An intent confirmed by the browser with its client secret, captured, refunded.
    let res = idem(
        "/v1/payment-intents",
        "pi-1",
        json!({"amount_money": usd(12_900), "capture_method": "manual"}),
    )
    .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let pi = res.json["data"]["payment_intent"]["payment_intent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let client_secret = res.json["data"]["client_confirmation"]["client_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    secrets.push(client_secret.clone());
    let res = send(
        Method::POST,
        &format!("/v1/payment-intents/{pi}/confirm"),
        &client_secret,
        Some(json!({"payment_source_token": "pm_card_visa"})),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let res = send(
        Method::POST,
        &format!("/v1/payment-intents/{pi}/capture"),
        &key,
        Some(json!({"amount_money": usd(9_800)})),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let res = send(
        Method::POST,
        "/v1/refunds",
        &key,
        Some(json!({"payment_intent_id": pi, "amount_money": usd(1_000)})),
    )
    .await;
    assert_eq!(res.status, 201, "{}", res.text);

    // A processor timeout (logged with its cause), then the capture limit from the flags.
    let flaky = create_manual(&send, &key, None).await;
    let res = send(
        Method::POST,
        &format!("/v1/payment-intents/{flaky}/confirm"),
        &key,
        Some(json!({"payment_source_token": "pm_card_captureTimeoutOnce"})),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let capture = format!("/v1/payment-intents/{flaky}/capture");
    let res = send(Method::POST, &capture, &key, Some(json!({}))).await;
    res.assert_error(502, "PROCESSOR_UNAVAILABLE", None);
    let res = send(Method::POST, &capture, &key, Some(json!({}))).await;
    res.assert_error(429, "RATE_LIMITED", None);

    // A saved card, declines, 3D Secure, a token that is no card.
    let res = send(
        Method::POST,
        "/v1/customers",
        &key,
        Some(json!({"name": "Ada"})),
    )
    .await;
    let customer = res.json["data"]["customer_id"].as_str().unwrap().to_owned();
    let res = send(
        Method::POST,
        &format!("/v1/customers/{customer}/payment-methods"),
        &key,
        Some(json!({"payment_source_token": "pm_card_mastercard"})),
    )
    .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let method = res.json["data"]["payment_method_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let saved = create_manual(&send, &key, Some(&customer)).await;
    let res = send(
        Method::POST,
        &format!("/v1/payment-intents/{saved}/confirm"),
        &key,
        Some(json!({"payment_method_id": method})),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text);
    for (token, status) in [
        ("pm_card_chargeDeclined", 402),
        ("pm_card_chargeDeclinedInsufficientFunds", 402),
        ("pm_card_threeDSecure2Required", 201),
        ("pm_card_notACardAtAll", 400),
    ] {
        let res = send(
            Method::POST,
            "/v1/payment-intents",
            &key,
            Some(
                json!({"amount_money": usd(2_000), "capture_method": "automatic",
                        "auto_confirm": true, "payment_source_token": token}),
            ),
        )
        .await;
        assert_eq!(res.status, status, "{token}: {}", res.text);
        if status == 201 {
            let id = res.json["data"]["payment_intent"]["payment_intent_id"]
                .as_str()
                .unwrap();
            let res = send(
                Method::POST,
                &format!("/v1/test-helpers/payment-intents/{id}/authenticate"),
                &key,
                Some(json!({"result": "success"})),
            )
            .await;
            assert_eq!(res.status, 200, "{}", res.text);
        }
    }

    // Credentials that are wrong, or right for another merchant and mode.
    let unknown = format!("sk_test_{}", "Z".repeat(32));
    let wrong_secret = format!("{pi}_secret_{}", "Q".repeat(24));
    secrets.push(unknown.clone());
    secrets.push(wrong_secret.clone());
    for bearer in [&unknown, &wrong_secret] {
        let res = send(Method::GET, "/v1/payment-intents", bearer, None).await;
        res.assert_error(401, "INVALID_API_KEY", None);
    }
    for bearer in [&other_test, &other_live] {
        let res = send(Method::GET, "/v1/payment-intents", bearer, None).await;
        assert_eq!(res.status, 200, "{}", res.text);
    }

    // The deliveries go out signed with the secrets: one refused, the rest accepted.
    let deadline = Instant::now() + Duration::from_secs(30);
    while hits.load(Ordering::SeqCst) < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(hits.load(Ordering::SeqCst) >= 3, "webhooks were delivered");

    let (printed, stderr) = served.stop();
    let _ = std::fs::remove_dir_all(&dir);

    // Debug logging was on, and the requests were logged.
    assert!(stderr.contains("DEBUG"), "debug lines: {stderr}");
    assert!(stderr.contains("request_id=req_"));
    for (name, log) in [("serve", &stderr), ("merchants create", &cli_stderr)] {
        let log = &with_byte_strings_read(log);
        for secret in &secrets {
            assert!(!log.contains(secret.as_str()), "{name} logged {secret}");
        }
        assert_eq!(
            whole_keys_in(log),
            Vec::<&str>::new(),
            "{name}: whole API keys"
        );
        assert_eq!(
            client_secrets_in(log),
            Vec::<&str>::new(),
            "{name}: client secrets"
        );
        assert!(!log.contains("whsec_"), "{name} logged a webhook secret");
        assert!(
            !log.contains("pm_card_"),
            "{name} logged a card token: {}",
            log.lines()
                .filter(|l| l.contains("pm_card_"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    // Stdout has only the documented lines: the bootstrap key is printed there, once.
    assert_eq!(printed.len(), 3, "{printed:?}");
    assert!(printed[0].starts_with("Created merchant \"default\""));
    assert!(printed[1].starts_with("Test secret key (shown once, keep it): sk_test_"));
    assert!(printed[2].starts_with("holdfast listening on http://"));
}

#[test]
fn the_secret_finders_find_secrets() {
    let key = format!("sk_live_{}", "a1".repeat(16));
    let secret = format!("pi_{}_secret_{}", "B".repeat(24), "c".repeat(24));
    let text = format!("x {key} y sk_test_12345678 z {secret}. client_secret_hash=abc");
    assert_eq!(whole_keys_in(&text), [key.as_str()]);
    assert_eq!(client_secrets_in(&text), [secret.as_str()]);
    let logged = format!("{:?} and [1, 2]", b"whsec_abc".to_vec());
    assert!(with_byte_strings_read(&logged).contains("whsec_abc"));
}
