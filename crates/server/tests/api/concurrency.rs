//! Races, on both backends: many requests released together against one intent or one key.
//! Exactly one effect, every loser answered with the right refusal, the money invariant intact.

use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Res, TestApp, assert_money, fire, fire_on, usd};

both_backends!(
    fifty_concurrent_captures_of_one_hold,
    fifty_concurrent_captures_and_cancels_of_one_hold,
    concurrent_confirms_place_one_hold,
    sixty_four_identical_creates_with_one_key,
    sixty_four_identical_captures_with_one_key,
);

fn capture_path(id: &str) -> String {
    format!("/v1/payment-intents/{id}/capture")
}

fn cancel_path(id: &str) -> String {
    format!("/v1/payment-intents/{id}/cancel")
}

fn code(res: &Res) -> &str {
    res.json["error"]["code"].as_str().unwrap_or("")
}

/// Every intent of the merchant keeps `captured + released + capturable = authorized`.
async fn assert_invariant_everywhere(app: &TestApp) {
    let res = app.get("/v1/payment-intents?limit=100").await;
    for pi in res.json["data"].as_array().unwrap() {
        let amount = |field: &str| pi[field]["amount"].as_i64().unwrap();
        let parts = [
            amount("captured_amount_money"),
            amount("released_amount_money"),
            amount("capturable_amount_money"),
        ];
        assert!(parts.iter().all(|p| *p >= 0), "{pi}");
        assert_eq!(
            parts.iter().sum::<i64>(),
            amount("authorized_amount_money"),
            "{pi}"
        );
    }
}

async fn fifty_concurrent_captures_of_one_hold(app: &TestApp) {
    let id = app.hold(10_000).await;
    let calls = (0..50)
        .map(|i| {
            (
                capture_path(&id),
                Some(format!("capture-{i}")),
                Some(json!({"amount_money": usd(1000 + i * 100)})),
            )
        })
        .collect();
    let answers = fire(app, calls).await;
    let winners: Vec<_> = answers.iter().filter(|r| r.status == 200).collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one capture wins: {:?}",
        answers
            .iter()
            .map(|r| (r.status, code(r)))
            .collect::<Vec<_>>()
    );
    for res in answers.iter().filter(|r| r.status != 200) {
        res.assert_error(400, "INVALID_STATUS_FOR_CAPTURE", None);
    }
    let winner = winners[0].intent();
    let taken = winner["captured_amount_money"]["amount"].as_i64().unwrap();
    assert_money(winner, 10_000, 0, taken, 10_000 - taken);
    assert_eq!(winner["amount_money"], usd(taken));
    assert_eq!(app.intent(&id).await, *winner);
    let captures: Vec<_> = app
        .actions_of(&id)
        .await
        .into_iter()
        .filter(|a| a["type"] == "capture")
        .collect();
    assert_eq!(captures.len(), 1, "{captures:?}");
    assert_eq!(captures[0]["amount_money"], usd(taken));
    assert_eq!(
        app.event_types_of(&id).await,
        vec![
            "payment_intent.created",
            "payment_intent.requires_capture",
            "payment_intent.succeeded"
        ]
    );
    // Each loser's key holds its refusal; the winner's key its success.
    for (i, res) in answers.iter().enumerate() {
        let body = json!({"amount_money": usd(1000 + i as i64 * 100)});
        let again = app
            .request(reqwest::Method::POST, &capture_path(&id))
            .idem(&format!("capture-{i}"))
            .json(&body)
            .send()
            .await;
        assert_eq!(again.status, res.status);
        assert_eq!(again.text, res.text);
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
    }
    assert_invariant_everywhere(app).await;
}

async fn fifty_concurrent_captures_and_cancels_of_one_hold(app: &TestApp) {
    let mut outcomes = Vec::new();
    for round in 0..3 {
        let id = app.hold(10_000).await;
        let calls = (0..50)
            .map(|i| {
                if i % 2 == 0 {
                    (
                        capture_path(&id),
                        Some(format!("r{round}-capture-{i}")),
                        Some(json!({})),
                    )
                } else {
                    (
                        cancel_path(&id),
                        Some(format!("r{round}-cancel-{i}")),
                        Some(json!({"cancellation_reason": "abandoned"})),
                    )
                }
            })
            .collect();
        let answers = fire(app, calls).await;
        let winners: Vec<_> = answers
            .iter()
            .enumerate()
            .filter(|(_, r)| r.status == 200)
            .collect();
        assert_eq!(
            winners.len(),
            1,
            "exactly one wins: {:?}",
            answers
                .iter()
                .map(|r| (r.status, code(r)))
                .collect::<Vec<_>>()
        );
        let (winner_index, winner) = winners[0];
        let capture_won = winner_index % 2 == 0;
        let final_state = app.intent(&id).await;
        assert_eq!(final_state, *winner.intent());
        let (status, last_event, last_action) = if capture_won {
            assert_money(&final_state, 10_000, 0, 10_000, 0);
            ("succeeded", "payment_intent.succeeded", "capture")
        } else {
            assert_money(&final_state, 10_000, 0, 0, 10_000);
            assert_eq!(final_state["cancellation_reason"], "abandoned");
            ("canceled", "payment_intent.canceled", "void")
        };
        assert_eq!(final_state["status"], status);
        for (i, res) in answers.iter().enumerate() {
            if i == winner_index {
                continue;
            }
            let expected = match (capture_won, i % 2 == 0) {
                (_, true) => "INVALID_STATUS_FOR_CAPTURE",
                (true, false) => "CANNOT_CANCEL_SUCCEEDED_PAYMENT",
                (false, false) => "PAYMENT_ALREADY_CANCELED",
            };
            res.assert_error(400, expected, None);
        }
        // Exactly one state change beyond requires_capture, and one money movement.
        assert_eq!(
            app.event_types_of(&id).await,
            vec![
                "payment_intent.created",
                "payment_intent.requires_capture",
                last_event
            ]
        );
        let kinds: Vec<_> = app
            .actions_of(&id)
            .await
            .iter()
            .map(|a| a["type"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(kinds, vec!["authorization", last_action]);
        outcomes.push(status);
    }
    eprintln!("capture/cancel race winners: {outcomes:?}");
    assert_invariant_everywhere(app).await;
}

async fn concurrent_confirms_place_one_hold(app: &TestApp) {
    let id = app.create_manual(12_900).await;
    let tokens = ["pm_card_visa", "pm_card_mastercard", "pm_card_amex"];
    let calls = (0..30)
        .map(|i| {
            (
                format!("/v1/payment-intents/{id}/confirm"),
                Some(format!("confirm-{i}")),
                Some(json!({"payment_source_token": tokens[i % 3]})),
            )
        })
        .collect();
    let answers = fire(app, calls).await;
    let winners: Vec<_> = answers.iter().filter(|r| r.status == 200).collect();
    assert_eq!(
        winners.len(),
        1,
        "{:?}",
        answers
            .iter()
            .map(|r| (r.status, code(r)))
            .collect::<Vec<_>>()
    );
    for res in answers.iter().filter(|r| r.status != 200) {
        res.assert_error(400, "INVALID_STATUS_FOR_CONFIRM", None);
    }
    assert_eq!(app.intent(&id).await, *winners[0].intent());
    assert_money(winners[0].intent(), 12_900, 12_900, 0, 0);
    assert_eq!(app.actions_of(&id).await.len(), 1);
    assert_eq!(
        app.event_types_of(&id).await,
        vec!["payment_intent.created", "payment_intent.requires_capture"]
    );
}

/// Checks 64 answers to one request under one key: every answer is the one 2xx body or a 409
/// `IDEMPOTENCY_KEY_IN_USE`. Returns the 2xx body and the 409s (checked for `Retry-After` last, so
/// the effect checks run first).
fn one_answer_or_in_use(answers: &[Res], success: u16) -> (String, Vec<&Res>) {
    let successes: Vec<_> = answers.iter().filter(|r| r.status == success).collect();
    assert!(
        !successes.is_empty(),
        "{:?}",
        answers
            .iter()
            .map(|r| (r.status, code(r)))
            .collect::<Vec<_>>()
    );
    let body = successes[0].text.clone();
    for res in &successes {
        assert_eq!(res.text, body, "every success is the same answer");
    }
    let in_use: Vec<_> = answers.iter().filter(|r| r.status != success).collect();
    for res in &in_use {
        res.assert_error(409, "IDEMPOTENCY_KEY_IN_USE", None);
    }
    // All but the one that ran are replays or refusals.
    let fresh = successes
        .iter()
        .filter(|r| r.header("idempotent-replayed").is_none())
        .count();
    assert_eq!(fresh, 1, "exactly one answer is not a replay");
    eprintln!(
        "64 identical requests: {} answered, {} in use",
        successes.len(),
        in_use.len()
    );
    (body, in_use)
}

#[track_caller]
fn assert_retry_after(in_use: &[&Res]) {
    for res in in_use {
        let retry_after = res.header("retry-after");
        assert!(
            retry_after.is_some_and(|v| v.parse::<u64>().is_ok()),
            "409 IDEMPOTENCY_KEY_IN_USE must say when to retry with Retry-After (delay-seconds); got {retry_after:?}"
        );
    }
}

async fn sixty_four_identical_creates_with_one_key(app: &TestApp) {
    let body = json!({"amount_money": usd(4200), "auto_confirm": true,
                      "payment_source_token": "pm_card_visa", "reference": "cart-64"});
    let calls = (0..64)
        .map(|_| {
            (
                "/v1/payment-intents".to_owned(),
                Some("create-64".to_owned()),
                Some(body.clone()),
            )
        })
        .collect();
    let answers = fire(app, calls).await;
    let (text, in_use) = one_answer_or_in_use(&answers, 201);

    // Exactly one effect: one intent, one created event, one succeeded event, one charge.
    let list = app.get("/v1/payment-intents?limit=100").await;
    let intents = list.json["data"].as_array().unwrap();
    assert_eq!(intents.len(), 1, "{}", list.text);
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(intents[0], answer["data"]["payment_intent"]);
    let id = intents[0]["payment_intent_id"].as_str().unwrap();
    assert_eq!(
        app.event_types_of(id).await,
        vec!["payment_intent.created", "payment_intent.succeeded"]
    );
    for kind in ["payment_intent.created", "payment_intent.succeeded"] {
        let events = app.get(&format!("/v1/events?type={kind}")).await;
        assert_eq!(events.json["data"].as_array().unwrap().len(), 1, "{kind}");
    }
    let kinds: Vec<_> = app
        .actions_of(id)
        .await
        .iter()
        .map(|a| a["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, vec!["authorization", "capture"]);
    assert_money(&intents[0], 4200, 0, 4200, 0);
    // Afterwards the key replays that answer.
    let again = app
        .remote()
        .post("/v1/payment-intents", Some("create-64"), Some(&body))
        .await;
    assert_eq!(again.status, 201);
    assert_eq!(again.text, text);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_invariant_everywhere(app).await;
    assert_retry_after(&in_use);
}

async fn sixty_four_identical_captures_with_one_key(app: &TestApp) {
    let id = app.hold(10_000).await;
    let body = json!({"amount_money": usd(7000)});
    let calls = (0..64)
        .map(|_| {
            (
                capture_path(&id),
                Some("capture-64".to_owned()),
                Some(body.clone()),
            )
        })
        .collect();
    let answers = fire(app, calls).await;
    let (text, in_use) = one_answer_or_in_use(&answers, 200);

    let answer: Value = serde_json::from_str(&text).unwrap();
    let pi = app.intent(&id).await;
    assert_eq!(pi, answer["data"]);
    assert_eq!(pi["status"], "succeeded");
    assert_money(&pi, 10_000, 0, 7000, 3000);
    let captures = app
        .actions_of(&id)
        .await
        .into_iter()
        .filter(|a| a["type"] == "capture")
        .count();
    assert_eq!(captures, 1);
    assert_eq!(
        app.event_types_of(&id).await,
        vec![
            "payment_intent.created",
            "payment_intent.requires_capture",
            "payment_intent.succeeded"
        ]
    );
    let again = app
        .remote()
        .post(&capture_path(&id), Some("capture-64"), Some(&body))
        .await;
    assert_eq!(again.status, 200);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.text, text);
    assert_invariant_everywhere(app).await;
    assert_retry_after(&in_use);
}

// ---- Two servers, one PostgreSQL database ------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_postgres_one_key_one_effect() {
    let Some(app) = TestApp::spawn_postgres().await else {
        return;
    };
    let (other, task) = app.second_server().await;
    let body = json!({"amount_money": usd(4200), "capture_method": "manual"});
    let calls = (0..64)
        .map(|i| {
            let remote = if i % 2 == 0 {
                app.remote()
            } else {
                other.clone()
            };
            (
                remote,
                (
                    "/v1/payment-intents".to_owned(),
                    Some("create-two-servers".to_owned()),
                    Some(body.clone()),
                ),
            )
        })
        .collect();
    let answers = fire_on(calls).await;
    let (text, _in_use) = one_answer_or_in_use(&answers, 201);
    let list = app.get("/v1/payment-intents?limit=100").await;
    let intents = list.json["data"].as_array().unwrap();
    assert_eq!(intents.len(), 1, "{}", list.text);
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(intents[0], answer["data"]["payment_intent"]);
    let events = app.get("/v1/events?limit=100").await;
    assert_eq!(events.json["data"].as_array().unwrap().len(), 1);
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_postgres_one_capture_wins() {
    let Some(app) = TestApp::spawn_postgres().await else {
        return;
    };
    let (other, task) = app.second_server().await;
    let id = app.hold(10_000).await;
    let calls = (0..50)
        .map(|i| {
            let remote = if i % 2 == 0 {
                app.remote()
            } else {
                other.clone()
            };
            let call = if i % 3 == 0 {
                (
                    cancel_path(&id),
                    Some(format!("cancel-{i}")),
                    Some(json!({"cancellation_reason": "duplicate"})),
                )
            } else {
                (
                    capture_path(&id),
                    Some(format!("capture-{i}")),
                    Some(json!({"amount_money": usd(5000 + i)})),
                )
            };
            (remote, call)
        })
        .collect();
    let answers = fire_on(calls).await;
    let winners: Vec<_> = answers.iter().filter(|r| r.status == 200).collect();
    assert_eq!(
        winners.len(),
        1,
        "{:?}",
        answers
            .iter()
            .map(|r| (r.status, code(r)))
            .collect::<Vec<_>>()
    );
    let pi = app.intent(&id).await;
    assert_eq!(pi, *winners[0].intent());
    let status = pi["status"].as_str().unwrap().to_owned();
    assert!(status == "succeeded" || status == "canceled", "{status}");
    for res in answers.iter().filter(|r| r.status != 200) {
        assert_eq!(res.status, 400, "{}", res.text);
        assert!(
            [
                "INVALID_STATUS_FOR_CAPTURE",
                "CANNOT_CANCEL_SUCCEEDED_PAYMENT",
                "PAYMENT_ALREADY_CANCELED"
            ]
            .contains(&code(res)),
            "{}",
            res.text
        );
    }
    let types = app.event_types_of(&id).await;
    assert_eq!(types.len(), 3, "{types:?}");
    assert_eq!(types[2], format!("payment_intent.{status}"));
    assert_eq!(app.actions_of(&id).await.len(), 2);
    assert_invariant_everywhere(&app).await;
    task.abort();
}
