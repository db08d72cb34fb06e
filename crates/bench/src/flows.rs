//! The flows themselves: each step a POST, each request with a fresh `Idempotency-Key`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::bail;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::client::{Answer, Client, Stats};
use crate::{Flow, Target};

fn usd(amount: i64) -> Value {
    json!({"amount": amount, "currency": "USD"})
}

/// Runs one flow; true when every step answered 2xx.
pub(crate) async fn run_flow(client: &Client, stats: &Mutex<Stats>, flow: Flow, n: u64) -> bool {
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
pub(crate) async fn preload(
    client: &Arc<Client>,
    count: u64,
    concurrency: usize,
) -> anyhow::Result<()> {
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
