//! Several nodes on one PostgreSQL database: the real `holdfast serve` three times, with
//! requests for the same objects spread across them, and their workers competing.
//!
//! Exactly one effect per object (captures, capture/cancel races, refunds, order captures), every
//! webhook delivered once though three delivery workers run, and 1,000 due holds expired once
//! by three deadline workers.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use serde_json::{Value, json};

use crate::helpers::Database;

const BIN: &str = env!("CARGO_BIN_EXE_holdfast");

struct Node {
    child: Child,
    base: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn node(db: &Database, secrets_key: &str) -> (Node, Option<String>) {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &db.url,
        ])
        .args(["--secrets-key", secrets_key])
        .args(["--webhook-retry-schedule", "1s,1s,1s,1s,1s"])
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
        let line = lines.next().expect("address line").expect("line");
        if let Some(k) = line.split_whitespace().find(|w| w.starts_with("sk_test_")) {
            key = Some(k.to_owned());
        }
        if let Some(addr) = line.strip_prefix("holdfast listening on ") {
            break addr.to_owned();
        }
    };
    (Node { child, base }, key)
}

#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    key: String,
}

impl Api {
    async fn post(&self, base: &str, path: &str, idem: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{base}{path}"))
            .bearer_auth(&self.key)
            .header("Idempotency-Key", idem)
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, base: &str, path: &str) -> Value {
        self.http
            .get(format!("{base}{path}"))
            .bearer_auth(&self.key)
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json")
    }

    async fn hold(&self, base: &str, amount: i64, tag: &str) -> String {
        let (s, v) = self
            .post(
                base,
                "/v1/payment-intents",
                &format!("{tag}-create"),
                json!({"amount_money": {"amount": amount, "currency": "USD"}, "capture_method": "manual"}),
            )
            .await;
        assert_eq!(s, 201, "{v}");
        let id = v["data"]["payment_intent"]["payment_intent_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let (s, v) = self
            .post(
                base,
                &format!("/v1/payment-intents/{id}/confirm"),
                &format!("{tag}-confirm"),
                json!({"payment_source_token": "pm_card_visa"}),
            )
            .await;
        assert_eq!(s, 200, "{v}");
        id
    }
}

/// Sends all the calls at once; answers in order.
async fn all_at_once(api: &Api, calls: Vec<(String, String, String, Value)>) -> Vec<(u16, Value)> {
    let barrier = Arc::new(tokio::sync::Barrier::new(calls.len()));
    let tasks: Vec<_> = calls
        .into_iter()
        .map(|(base, path, idem, body)| {
            let (api, barrier) = (api.clone(), Arc::clone(&barrier));
            tokio::spawn(async move {
                barrier.wait().await;
                api.post(&base, &path, &idem, body).await
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("task"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_on_one_postgres_one_effect_each() {
    let Some(db) = Database::postgres().await else {
        return;
    };
    let secrets_key = holdfast_service::webhooks::SecretsKey::random().to_base64();
    let (first, key) = node(&db, &secrets_key);
    let (second, none2) = node(&db, &secrets_key);
    let (third, none3) = node(&db, &secrets_key);
    assert!(
        none2.is_none() && none3.is_none(),
        "only the first start bootstraps"
    );
    let nodes = [first.base.clone(), second.base.clone(), third.base.clone()];
    let api = Api {
        http: reqwest::Client::new(),
        key: key.expect("bootstrap key"),
    };

    // A receiver that counts deliveries per event id.
    let received: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    let sink = Arc::clone(&received);
    let app = Router::new().route(
        "/hook",
        post(move |headers: axum::http::HeaderMap| {
            let sink = Arc::clone(&sink);
            async move {
                let id = headers
                    .get("webhook-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                *sink.lock().unwrap().entry(id).or_default() += 1;
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    let receiver = tokio::spawn(async move { axum::serve(listener, app).await });
    let (s, v) = api
        .post(
            &nodes[0],
            "/v1/webhook-endpoints",
            "endpoint",
            json!({"url": hook, "enabled_events": ["*"]}),
        )
        .await;
    assert_eq!(s, 201, "{v}");

    // Captures of one hold from all three nodes: one wins.
    for n in 0..8 {
        let id = api.hold(&nodes[n % 3], 9_000, &format!("cap{n}")).await;
        let calls = (0..9)
            .map(|i| {
                (
                    nodes[i % 3].clone(),
                    format!("/v1/payment-intents/{id}/capture"),
                    format!("cap{n}-{i}"),
                    json!({}),
                )
            })
            .collect();
        let answers = all_at_once(&api, calls).await;
        let won: Vec<_> = answers.iter().filter(|(s, _)| *s == 200).collect();
        assert_eq!(won.len(), 1, "{answers:?}");
        for (s, v) in &answers {
            if *s != 200 {
                assert_eq!(
                    (*s, v["error"]["code"].as_str()),
                    (400, Some("INVALID_STATUS_FOR_CAPTURE"))
                );
            }
        }
    }

    // Captures racing cancels across nodes: exactly one of them.
    for n in 0..8 {
        let id = api.hold(&nodes[n % 3], 9_000, &format!("mix{n}")).await;
        let calls = (0..6)
            .map(|i| {
                let (path, body) = if i % 2 == 0 {
                    (format!("/v1/payment-intents/{id}/capture"), json!({}))
                } else {
                    (
                        format!("/v1/payment-intents/{id}/cancel"),
                        json!({"cancellation_reason": "abandoned"}),
                    )
                };
                (nodes[i % 3].clone(), path, format!("mix{n}-{i}"), body)
            })
            .collect();
        let answers = all_at_once(&api, calls).await;
        assert_eq!(
            answers.iter().filter(|(s, _)| *s == 200).count(),
            1,
            "{answers:?}"
        );
        let intent = api
            .get(&nodes[0], &format!("/v1/payment-intents/{id}"))
            .await;
        let status = intent["data"]["status"].as_str().unwrap();
        assert!(status == "succeeded" || status == "canceled", "{intent}");
    }

    // Refunds across nodes never exceed the capture: 9800 captured, 30 × 500 asked.
    let id = api.hold(&nodes[0], 12_900, "refund").await;
    let (s, _) = api
        .post(
            &nodes[1],
            &format!("/v1/payment-intents/{id}/capture"),
            "refund-capture",
            json!({"amount_money": {"amount": 9_800, "currency": "USD"}}),
        )
        .await;
    assert_eq!(s, 200);
    let calls = (0..30)
        .map(|i| {
            (
                nodes[i % 3].clone(),
                "/v1/refunds".to_owned(),
                format!("refund-{i}"),
                json!({"payment_intent_id": id, "amount_money": {"amount": 500, "currency": "USD"}}),
            )
        })
        .collect();
    let answers = all_at_once(&api, calls).await;
    let refunded = answers.iter().filter(|(s, _)| *s == 201).count();
    assert_eq!(refunded, 19, "9800 / 500: {answers:?}");
    for (s, v) in &answers {
        if *s != 201 {
            assert_eq!(
                (*s, v["error"]["code"].as_str()),
                (400, Some("REFUND_AMOUNT_EXCEEDS_CAPTURED"))
            );
        }
    }
    let intent = api
        .get(&nodes[2], &format!("/v1/payment-intents/{id}"))
        .await;
    assert_eq!(intent["data"]["refunded_amount_money"]["amount"], 9_500);

    // Order captures across nodes: one effect per order.
    for n in 0..4 {
        let (s, order) = api
            .post(
                &nodes[n % 3],
                "/v1/orders",
                &format!("ord{n}"),
                json!({"currency": "USD", "line_items": [{"name": "Tent", "quantity": 1, "unit_price_money": {"amount": 18_500, "currency": "USD"}}]}),
            )
            .await;
        assert_eq!(s, 201, "{order}");
        let oid = order["data"]["order_id"].as_str().unwrap().to_owned();
        let (s, pi) = api
            .post(
                &nodes[0],
                "/v1/payment-intents",
                &format!("ord{n}-pi"),
                json!({"order_id": oid, "capture_method": "manual"}),
            )
            .await;
        assert_eq!(s, 201, "{pi}");
        let pid = pi["data"]["payment_intent"]["payment_intent_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let (s, paid) = api
            .post(
                &nodes[1],
                &format!("/v1/orders/{oid}/pay"),
                &format!("ord{n}-pay"),
                json!({"payment_intent_ids": [pid], "payment_source_tokens": {pid.clone(): "pm_card_visa"},
                       "expected_amount_money": {"amount": 18_500, "currency": "USD"}}),
            )
            .await;
        assert_eq!(s, 200, "{paid}");
        let calls = (0..6)
            .map(|i| {
                (
                    nodes[i % 3].clone(),
                    format!("/v1/orders/{oid}/payment-intents/{pid}/capture"),
                    format!("ord{n}-cap{i}"),
                    json!({}),
                )
            })
            .collect();
        let answers = all_at_once(&api, calls).await;
        assert!(
            answers.iter().all(|(s, _)| *s == 200),
            "capture or replay: {answers:?}"
        );
        let order = api.get(&nodes[2], &format!("/v1/orders/{oid}")).await;
        assert_eq!(order["data"]["status"], "paid");
        assert_eq!(
            order["data"]["settlement_amounts"]["paid_money"]["amount"],
            18_500
        );
        let events = api
            .get(
                &nodes[0],
                &format!("/v1/events?type=order.payment_captured&payment_intent_id={pid}"),
            )
            .await;
        assert_eq!(
            events["data"].as_array().unwrap().len(),
            1,
            "one capture event"
        );
    }

    // Every event of the merchant reaches the receiver exactly once, whichever node delivers it.
    let mut all_events = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/events?limit=100&cursor={c}"),
            None => "/v1/events?limit=100".to_owned(),
        };
        let page = api.get(&nodes[0], &path).await;
        all_events.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = received.lock().unwrap().len();
        if got >= all_events.len() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let received = received.lock().unwrap().clone();
    for id in &all_events {
        assert_eq!(received.get(id), Some(&1), "{id} delivered exactly once");
    }
    assert_eq!(received.len(), all_events.len());
    receiver.abort();
    drop((first, second, third));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_deadline_workers_expire_a_thousand_holds_once() {
    let Some(db) = Database::postgres().await else {
        return;
    };
    let t0 = holdfast_domain::Timestamp(crate::helpers::T0);
    let clock = Arc::new(holdfast_service::ManualClock::new(t0));
    let mut apps = Vec::new();
    for _ in 0..3 {
        apps.push(
            holdfast::build(
                &db.url,
                clock.clone(),
                holdfast_service::Settings::default(),
            )
            .await
            .expect("node"),
        );
    }
    let merchant = apps[0].create_merchant("three nodes").await.unwrap();
    let scope = holdfast_domain::Scope {
        merchant_id: merchant.merchant.id.clone(),
        livemode: false,
    };
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..1_000 {
        let (app, scope) = (Arc::clone(&apps[i % 3]), scope.clone());
        tasks.spawn(async move {
            let ctx = holdfast_service::RequestCtx {
                scope,
                request_id: None,
                idempotency: None,
                actor: None,
            };
            let created = app
                .create_intent(
                    &ctx,
                    holdfast_service::CreateIntentCommand {
                        request: holdfast_domain::intent::CreateRequest {
                            amount: Some(holdfast_domain::intent::RawMoney {
                                amount: 1_000,
                                currency: "USD".into(),
                            }),
                            capture_method: Some("manual".into()),
                            ..Default::default()
                        },
                        payment_source_token: None,
                    },
                )
                .await
                .unwrap();
            let id = created.unit.intents[0].id.clone();
            app.store.commit(created.unit).await.unwrap();
            let confirm = holdfast_service::ConfirmCommand {
                payment_source_token: Some("pm_card_visa".into()),
                ..Default::default()
            };
            let confirmed = app.confirm_intent(&ctx, &id, confirm).await.unwrap();
            app.store.commit(confirmed.unit).await.unwrap();
        });
        while tasks.len() >= 32 {
            tasks.join_next().await;
        }
    }
    while tasks.join_next().await.is_some() {}
    clock.advance(8 * 86_400);
    let workers: Vec<_> = apps
        .iter()
        .map(|app| {
            let app = Arc::clone(app);
            tokio::spawn(async move {
                let mut claimed = 0;
                loop {
                    match app.run_due_once(50).await.unwrap() {
                        holdfast_service::Outcome::Worked(n) => claimed += n,
                        holdfast_service::Outcome::Idle => return claimed,
                    }
                }
            })
        })
        .collect();
    let mut total = 0;
    for w in workers {
        total += w.await.unwrap();
    }
    assert_eq!(
        total, 1_000,
        "each hold claimed once across the three workers"
    );
    let (client, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let row = client
        .query_one(
            "SELECT COUNT(*), COUNT(DISTINCT payment_intent_id) FROM events WHERE type = 'payment_intent.canceled'",
            &[],
        )
        .await
        .unwrap();
    let (events, intents): (i64, i64) = (row.get(0), row.get(1));
    assert_eq!(
        (events, intents),
        (1_000, 1_000),
        "one expiry event per hold"
    );
    let expired = client
        .query_one(
            "SELECT COUNT(*) FROM payment_intents WHERE status = 'expired'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(expired.get::<_, i64>(0), 1_000);
}
