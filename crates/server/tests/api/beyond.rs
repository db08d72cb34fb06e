//! Beyond one hold (issue 16), end to end on both backends: multicapture (split shipments) and
//! incremental authorization (tabs that grow).
//! Each capability is opt-in, so every test also checks that the contract's one-shot hold is
//! untouched without the opt-in.

use holdfast_domain::Timestamp;
use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{T0, TestApp, assert_money, fire, usd};

both_backends!(
    multicapture_captures_in_parts_then_the_final_capture_releases_the_rest,
    multicapture_refusals_and_the_one_shot_rule_without_the_opt_in,
    multicapture_keyed_retries_replay_each_capture,
    concurrent_non_final_captures_never_exceed_the_authorization,
    multicapture_void_and_expiry_after_a_capture_end_succeeded,
    multicapture_refunds_apply_to_the_total_captured,
    multicapture_on_an_order_moves_paid_with_each_capture,
    increment_grows_the_hold_and_keeps_the_deadline,
    increment_refusals_in_order_and_a_decline_leaves_the_hold,
);

/// The sandbox hold: seven days less one second.
const HOLD_SECONDS: i64 = 7 * 86_400 - 1;

fn pi_path(id: &str, action: &str) -> String {
    format!("/v1/payment-intents/{id}/{action}")
}

/// A manual intent created with the given options and confirmed with `token`; returns its id.
async fn held_with(app: &TestApp, amount: i64, options: Value, token: &str) -> String {
    let mut body = json!({"amount_money": usd(amount), "capture_method": "manual"});
    for (k, v) in options.as_object().expect("options") {
        body[k] = v.clone();
    }
    let res = app.post("/v1/payment-intents", body).await;
    assert_eq!(res.status, 201, "{}", res.text);
    let id = res.json["data"]["payment_intent"]["payment_intent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .post(
            &pi_path(&id, "confirm"),
            json!({"payment_source_token": token}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json["data"]["status"], "requires_capture");
    id
}

async fn multicapture_hold(app: &TestApp, amount: i64) -> String {
    held_with(app, amount, json!({"multicapture": true}), "pm_card_visa").await
}

/// A non-final capture of `amount`.
fn part(amount: i64) -> Value {
    json!({"amount_money": usd(amount), "final_capture": false})
}

async fn multicapture_captures_in_parts_then_the_final_capture_releases_the_rest(app: &TestApp) {
    let id = multicapture_hold(app, 10_000).await;
    assert_eq!(app.intent(&id).await["multicapture"], true);

    // First shipment: settled, the rest stays capturable and the intent keeps waiting.
    let mut first = part(4_000);
    first["reference"] = json!("shipment-1");
    first["metadata"] = json!({"box": "1"});
    let res = app.post(&pi_path(&id, "capture"), first).await;
    assert_eq!(res.status, 200, "{}", res.text);
    let pi = res.intent();
    assert_eq!(pi["status"], "requires_capture");
    assert_money(pi, 10_000, 6_000, 4_000, 0);
    assert_eq!(pi["amount_money"], usd(10_000));
    assert_eq!(pi["captured_at"], crate::helpers::T0_RFC3339);

    // Second shipment, a minute later.
    app.clock.advance(60);
    let res = app
        .post(
            &pi_path(&id, "capture"),
            json!({"amount_money": usd(2_500), "final_capture": false, "reference": "shipment-2"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_money(res.intent(), 10_000, 3_500, 6_500, 0);
    assert_eq!(res.intent()["status"], "requires_capture");

    // The final capture settles 1_000 and releases the other 2_500.
    let res = app
        .post(
            &pi_path(&id, "capture"),
            json!({"amount_money": usd(1_000), "reference": "shipment-3"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let pi = res.intent();
    assert_eq!(pi["status"], "succeeded");
    assert_money(pi, 10_000, 0, 7_500, 2_500);
    assert_eq!(pi["amount_money"], usd(7_500));

    // Each capture is its own action with its own reference and metadata.
    let captures: Vec<(Value, Value, Value)> = app
        .actions_of(&id)
        .await
        .iter()
        .filter(|a| a["type"] == "capture")
        .map(|a| {
            (
                a["amount_money"]["amount"].clone(),
                a["reference"].clone(),
                a["metadata"].clone(),
            )
        })
        .collect();
    assert_eq!(
        captures,
        [
            (json!(4_000), json!("shipment-1"), json!({"box": "1"})),
            (json!(2_500), json!("shipment-2"), json!({})),
            (json!(1_000), json!("shipment-3"), json!({})),
        ]
    );
    // One amount_capturable_updated per non-final capture, one succeeded at the end, and still
    // no payment_intent.captured.
    assert_eq!(
        app.event_types_of(&id).await,
        [
            "payment_intent.created",
            "payment_intent.requires_capture",
            "payment_intent.amount_capturable_updated",
            "payment_intent.amount_capturable_updated",
            "payment_intent.succeeded",
        ]
    );
    let updated = app
        .events_of_type("payment_intent.amount_capturable_updated")
        .await;
    assert_eq!(
        updated[0]["data"]["object"]["capturable_amount_money"],
        usd(6_000)
    );

    // A non-final capture of everything still capturable also ends the hold.
    let id = multicapture_hold(app, 5_000).await;
    let res = app.post(&pi_path(&id, "capture"), part(2_000)).await;
    assert_eq!(res.status, 200, "{}", res.text);
    let res = app.post(&pi_path(&id, "capture"), part(3_000)).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.intent()["status"], "succeeded");
    assert_money(res.intent(), 5_000, 0, 5_000, 0);
    // And an empty body after a part captures everything still capturable.
    let id = multicapture_hold(app, 5_000).await;
    app.post(&pi_path(&id, "capture"), part(1_200)).await;
    let res = app
        .request(Method::POST, &pi_path(&id, "capture"))
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_money(res.intent(), 5_000, 0, 5_000, 0);
}

async fn multicapture_refusals_and_the_one_shot_rule_without_the_opt_in(app: &TestApp) {
    // Multicapture needs manual capture.
    for capture_method in [json!("automatic"), Value::Null] {
        let mut body = json!({"amount_money": usd(1_000), "multicapture": true});
        if !capture_method.is_null() {
            body["capture_method"] = capture_method;
        }
        app.post("/v1/payment-intents", body).await.assert_error(
            400,
            "INVALID_PARAMETER",
            Some("multicapture"),
        );
    }
    app.post(
        "/v1/payment-intents",
        json!({"amount_money": usd(1_000), "capture_method": "manual", "multicapture": "yes"}),
    )
    .await
    .assert_error(400, "INVALID_PARAMETER", Some("multicapture"));

    // Without the opt-in: final_capture false is refused, the intent untouched.
    let one_shot = app.hold(10_000).await;
    assert_eq!(app.intent(&one_shot).await["multicapture"], false);
    let before = app.intent(&one_shot).await;
    app.post(&pi_path(&one_shot, "capture"), part(4_000))
        .await
        .assert_error(400, "MULTICAPTURE_NOT_ENABLED", Some("final_capture"));
    // The opt-in is checked before the amount.
    app.post(&pi_path(&one_shot, "capture"), part(0))
        .await
        .assert_error(400, "MULTICAPTURE_NOT_ENABLED", Some("final_capture"));
    assert_eq!(app.intent(&one_shot).await, before);
    // final_capture true is the contract's capture, once.
    let res = app
        .post(
            &pi_path(&one_shot, "capture"),
            json!({"amount_money": usd(4_000), "final_capture": true}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_money(res.intent(), 10_000, 0, 4_000, 6_000);
    app.post(&pi_path(&one_shot, "capture"), json!({}))
        .await
        .assert_error(400, "INVALID_STATUS_FOR_CAPTURE", None);
    // The status comes first, as in the contract.
    app.post(&pi_path(&one_shot, "capture"), part(1_000))
        .await
        .assert_error(400, "INVALID_STATUS_FOR_CAPTURE", None);

    // With the opt-in, the amount checks run against what is still capturable.
    let id = multicapture_hold(app, 10_000).await;
    app.post(&pi_path(&id, "capture"), part(7_000)).await;
    app.post(&pi_path(&id, "capture"), part(3_001))
        .await
        .assert_error(
            400,
            "CAPTURE_AMOUNT_EXCEEDS_AUTHORIZED",
            Some("amount_money.amount"),
        );
    app.post(&pi_path(&id, "capture"), part(0))
        .await
        .assert_error(400, "INVALID_CAPTURE_AMOUNT", Some("amount_money.amount"));
    app.post(
        &pi_path(&id, "capture"),
        json!({"amount_money": {"amount": 100, "currency": "EUR"}, "final_capture": false}),
    )
    .await
    .assert_error(
        400,
        "CAPTURE_CURRENCY_MISMATCH",
        Some("amount_money.currency"),
    );
    app.post(
        &pi_path(&id, "capture"),
        json!({"amount_money": usd(100), "final_capture": "no"}),
    )
    .await
    .assert_error(400, "INVALID_PARAMETER", Some("final_capture"));
    assert_money(&app.intent(&id).await, 10_000, 3_000, 7_000, 0);
}

async fn multicapture_keyed_retries_replay_each_capture(app: &TestApp) {
    let id = multicapture_hold(app, 10_000).await;
    let send = |key: &'static str, body: Value| {
        let path = pi_path(&id, "capture");
        async move {
            app.request(Method::POST, &path)
                .idem(key)
                .json(&body)
                .send()
                .await
        }
    };
    let first = send("ship-1", part(3_000)).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let again = send("ship-1", part(3_000)).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.text, first.text);
    // The same key with another body is a different request.
    send("ship-1", part(2_000))
        .await
        .assert_error(422, "IDEMPOTENCY_KEY_REUSED", None);
    // A second key is a second capture.
    let second = send("ship-2", part(3_000)).await;
    assert_eq!(second.status, 200, "{}", second.text);
    assert_money(second.intent(), 10_000, 4_000, 6_000, 0);
    let replayed = send("ship-2", part(3_000)).await;
    assert_eq!(replayed.text, second.text);
    assert_money(&app.intent(&id).await, 10_000, 4_000, 6_000, 0);
    let captures = app
        .actions_of(&id)
        .await
        .iter()
        .filter(|a| a["type"] == "capture")
        .count();
    assert_eq!(captures, 2);
}

async fn concurrent_non_final_captures_never_exceed_the_authorization(app: &TestApp) {
    // Eight captures of 3_000 race for a 10_000 hold: at most three fit.
    let id = multicapture_hold(app, 10_000).await;
    let calls = (0..8)
        .map(|i| {
            (
                pi_path(&id, "capture"),
                Some(format!("race-{i}")),
                Some(part(3_000)),
            )
        })
        .collect();
    let answers = fire(app, calls).await;
    let won = answers.iter().filter(|r| r.status == 200).count();
    for res in answers.iter().filter(|r| r.status != 200) {
        // A loser either finds too little left, or (having lost every retry) says to retry.
        assert!(
            matches!(
                res.json["error"]["code"].as_str(),
                Some("CAPTURE_AMOUNT_EXCEEDS_AUTHORIZED" | "SERVICE_UNAVAILABLE")
            ),
            "{}",
            res.text
        );
    }
    let pi = app.intent(&id).await;
    let captured = pi["captured_amount_money"]["amount"].as_i64().unwrap();
    assert_eq!(captured, 3_000 * won as i64);
    assert!(won <= 3, "{won} captures of 3_000 on a 10_000 hold");
    assert!(won >= 1);
    assert_money(&pi, 10_000, 10_000 - captured, captured, 0);
    let actions = app.actions_of(&id).await;
    let recorded = actions.iter().filter(|a| a["type"] == "capture").count();
    assert_eq!(recorded, won);
}

async fn multicapture_void_and_expiry_after_a_capture_end_succeeded(app: &TestApp) {
    // Void after a capture: the rest is released, the captured part stays; succeeded.
    let id = multicapture_hold(app, 10_000).await;
    app.post(&pi_path(&id, "capture"), part(4_000)).await;
    let res = app
        .post(
            &pi_path(&id, "cancel"),
            json!({"cancellation_reason": "requested_by_customer"}),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let pi = res.intent();
    assert_eq!(pi["status"], "succeeded");
    assert_money(pi, 10_000, 0, 4_000, 6_000);
    assert_eq!(pi["amount_money"], usd(4_000));
    assert_eq!(pi["cancellation_reason"], Value::Null);
    assert_eq!(pi["canceled_at"], Value::Null);
    let last = app.actions_of(&id).await.pop().unwrap();
    assert_eq!(
        (&last["type"], &last["amount_money"]),
        (&json!("void"), &usd(6_000))
    );
    assert_eq!(
        app.event_types_of(&id).await.last().map(String::as_str),
        Some("payment_intent.succeeded")
    );
    app.post(&pi_path(&id, "cancel"), json!({}))
        .await
        .assert_error(400, "CANNOT_CANCEL_SUCCEEDED_PAYMENT", None);
    app.post(&pi_path(&id, "capture"), part(100))
        .await
        .assert_error(400, "INVALID_STATUS_FOR_CAPTURE", None);

    // A void with nothing captured cancels, as today.
    let id = multicapture_hold(app, 10_000).await;
    let res = app.post(&pi_path(&id, "cancel"), json!({})).await;
    assert_eq!(res.intent()["status"], "canceled");
    assert_money(res.intent(), 10_000, 0, 0, 10_000);

    // Expiry after a capture: the rest lapses, the captured part stays; succeeded.
    let id = multicapture_hold(app, 10_000).await;
    let untouched = multicapture_hold(app, 10_000).await;
    app.post(&pi_path(&id, "capture"), part(2_500)).await;
    let deadline = T0 + HOLD_SECONDS;
    app.clock.set(Timestamp(deadline + 1));
    // Read before the worker records it, the intent already shows the outcome...
    let view = app.intent(&id).await;
    assert_eq!(view["status"], "succeeded");
    assert_money(&view, 10_000, 0, 2_500, 7_500);
    app.post(&pi_path(&id, "capture"), part(100))
        .await
        .assert_error(400, "PAYMENT_AUTHORIZATION_EXPIRED", None);
    app.post(&pi_path(&id, "cancel"), json!({}))
        .await
        .assert_error(400, "CANNOT_CANCEL_SUCCEEDED_PAYMENT", None);
    // ...and the worker records it so.
    app.app.run_due_once(100).await.expect("worker pass");
    let pi = app.intent(&id).await;
    let mut expected = view.clone();
    // The recorded expiry is a new version of the intent, at the worker's time.
    expected["updated_at"] = pi["updated_at"].clone();
    assert_eq!(pi["version"], view["version"].as_u64().unwrap() + 1);
    expected["version"] = pi["version"].clone();
    assert_eq!(pi, expected, "the worker records what the view showed");
    assert_eq!(pi["cancellation_reason"], Value::Null);
    let last = app.actions_of(&id).await.pop().unwrap();
    assert_eq!(
        (&last["type"], &last["amount_money"]),
        (&json!("expiry"), &usd(7_500))
    );
    assert_eq!(
        app.event_types_of(&id).await.last().map(String::as_str),
        Some("payment_intent.succeeded")
    );
    // After the worker, a capture still says the hold lapsed.
    app.post(&pi_path(&id, "capture"), part(100))
        .await
        .assert_error(400, "PAYMENT_AUTHORIZATION_EXPIRED", None);
    // A multicapture hold with nothing captured expires as today.
    let pi = app.intent(&untouched).await;
    assert_eq!(pi["status"], "expired");
    assert_eq!(pi["cancellation_reason"], "authorization_expired");
    assert_money(&pi, 10_000, 0, 0, 10_000);
}

async fn multicapture_refunds_apply_to_the_total_captured(app: &TestApp) {
    let id = multicapture_hold(app, 10_000).await;
    // Nothing captured yet: nothing to refund.
    app.refund(json!({"payment_intent_id": id}))
        .await
        .assert_error(
            400,
            "PAYMENT_INTENT_NOT_REFUNDABLE",
            Some("payment_intent_id"),
        );
    app.post(&pi_path(&id, "capture"), part(3_000)).await;
    // A refund while the rest is still held: up to what was captured.
    app.refund(json!({"payment_intent_id": id, "amount_money": usd(3_001)}))
        .await
        .assert_error(
            400,
            "REFUND_AMOUNT_EXCEEDS_CAPTURED",
            Some("amount_money.amount"),
        );
    let res = app
        .refund(json!({"payment_intent_id": id, "amount_money": usd(1_000)}))
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    assert_eq!(res.json["data"]["status"], "succeeded");
    app.post(&pi_path(&id, "capture"), part(2_000)).await;
    let pi = app.intent(&id).await;
    assert_eq!(pi["status"], "requires_capture");
    assert_eq!(pi["refunded_amount_money"], usd(1_000));
    assert_money(&pi, 10_000, 5_000, 5_000, 0);
    // The rest of what was captured, across both captures.
    let res = app.refund(json!({"payment_intent_id": id})).await;
    assert_eq!(res.status, 201, "{}", res.text);
    assert_eq!(res.json["data"]["amount_money"], usd(4_000));
    let pi = app.intent(&id).await;
    assert_eq!(pi["refunded_amount_money"], usd(5_000));
    // The hold is still there to capture.
    let res = app.post(&pi_path(&id, "capture"), json!({})).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_money(res.intent(), 10_000, 0, 10_000, 0);
}

async fn multicapture_on_an_order_moves_paid_with_each_capture(app: &TestApp) {
    let res = app
        .post(
            "/v1/orders",
            json!({"currency": "USD", "line_items": [
                {"name": "Chair", "quantity": 2, "unit_price_money": usd(3_000)},
                {"name": "Table", "quantity": 1, "unit_price_money": usd(4_000)},
            ]}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let oid = res.json["data"]["order_id"].as_str().unwrap().to_owned();
    let res = app
        .post(
            "/v1/payment-intents",
            json!({"order_id": oid, "capture_method": "manual", "multicapture": true}),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let pid = res.json["data"]["payment_intent"]["payment_intent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = app
        .post(
            &format!("/v1/orders/{oid}/pay"),
            json!({
                "payment_intent_ids": [pid],
                "payment_source_tokens": {pid.clone(): "pm_card_visa"},
                "expected_amount_money": usd(10_000),
            }),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let capture = format!("/v1/orders/{oid}/payment-intents/{pid}/capture");

    // The chairs ship first.
    let res = app.post(&capture, part(6_000)).await;
    assert_eq!(res.status, 200, "{}", res.text);
    let order = &res.json["data"];
    assert_eq!(order["status"], "open");
    assert_eq!(order["settlement_amounts"]["paid_money"], usd(6_000));
    assert_eq!(order["settlement_amounts"]["amount_due_money"], usd(4_000));
    assert_eq!(
        order["authorization_amounts"]["capturable_money"],
        usd(4_000)
    );
    // The order stays locked while the rest is held.
    app.patch(&format!("/v1/orders/{oid}"), json!({"tip_money": usd(500)}))
        .await
        .assert_error(409, "PAYMENT_ATTEMPT_IN_PROGRESS", None);
    let pi = app.intent(&pid).await;
    assert_eq!(pi["status"], "requires_capture");
    assert_money(&pi, 10_000, 4_000, 6_000, 0);
    let captured = app.events_of_type("order.payment_captured").await;
    assert_eq!(captured.len(), 1);
    assert_eq!(captured[0]["data"]["captured_money"], usd(6_000));

    // The table ships: the final capture pays the order.
    let res = app.post(&capture, json!({})).await;
    assert_eq!(res.status, 200, "{}", res.text);
    let order = &res.json["data"];
    assert_eq!(order["status"], "paid");
    assert_eq!(order["settlement_amounts"]["paid_money"], usd(10_000));
    assert_eq!(order["settlement_amounts"]["amount_due_money"], usd(0));
    assert_eq!(order["authorization_amounts"]["capturable_money"], usd(0));
    assert_money(&app.intent(&pid).await, 10_000, 0, 10_000, 0);
    let captured = app.events_of_type("order.payment_captured").await;
    assert_eq!(captured.len(), 2);
    assert_eq!(captured[1]["data"]["captured_money"], usd(4_000));
    assert_eq!(app.events_of_type("order.payment_succeeded").await.len(), 1);
}

async fn increment_grows_the_hold_and_keeps_the_deadline(app: &TestApp) {
    let id = held_with(
        app,
        10_000,
        json!({"incremental_authorization": true}),
        "pm_card_visa",
    )
    .await;
    let before = app.intent(&id).await;
    assert_eq!(before["incremental_authorization"], true);
    app.clock.advance(3_600);
    let path = pi_path(&id, "increment-authorization");
    let res = app
        .request(Method::POST, &path)
        .idem("tab-1")
        .json(&json!({"amount_money": usd(14_500)}))
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let pi = res.intent();
    assert_eq!(pi["status"], "requires_capture");
    assert_money(pi, 14_500, 14_500, 0, 0);
    assert_eq!(pi["amount_money"], usd(14_500));
    assert_eq!(
        pi["authorization_expires_at"],
        before["authorization_expires_at"]
    );
    assert_eq!(pi["authorized_at"], before["authorized_at"]);
    // A keyed retry replays; it does not grow the hold again.
    let again = app
        .request(Method::POST, &path)
        .idem("tab-1")
        .json(&json!({"amount_money": usd(14_500)}))
        .send()
        .await;
    assert_eq!(again.text, res.text);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    // The same total again is no increment.
    app.post(&path, json!({"amount_money": usd(14_500)}))
        .await
        .assert_error(400, "INVALID_INCREMENT_AMOUNT", Some("amount_money.amount"));
    let last = app.actions_of(&id).await.pop().unwrap();
    assert_eq!(
        (&last["type"], &last["status"], &last["amount_money"]),
        (&json!("increment"), &json!("succeeded"), &usd(4_500))
    );
    assert_eq!(
        app.event_types_of(&id).await,
        [
            "payment_intent.created",
            "payment_intent.requires_capture",
            "payment_intent.amount_capturable_updated",
        ]
    );
    // The grown hold captures in full.
    let res = app.post(&pi_path(&id, "capture"), json!({})).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_money(res.intent(), 14_500, 0, 14_500, 0);
    // After capture there is no hold to grow.
    app.post(&path, json!({"amount_money": usd(20_000)}))
        .await
        .assert_error(400, "INVALID_STATUS_FOR_CAPTURE", None);
}

async fn increment_refusals_in_order_and_a_decline_leaves_the_hold(app: &TestApp) {
    // Manual capture only.
    app.post(
        "/v1/payment-intents",
        json!({"amount_money": usd(1_000), "capture_method": "automatic", "incremental_authorization": true}),
    )
    .await
    .assert_error(400, "INVALID_PARAMETER", Some("incremental_authorization"));
    // Without the opt-in.
    let one_shot = app.hold(10_000).await;
    assert_eq!(
        app.intent(&one_shot).await["incremental_authorization"],
        false
    );
    app.post(
        &pi_path(&one_shot, "increment-authorization"),
        json!({"amount_money": usd(12_000)}),
    )
    .await
    .assert_error(400, "INCREMENTAL_AUTHORIZATION_NOT_ENABLED", None);

    let id = held_with(
        app,
        10_000,
        json!({"incremental_authorization": true}),
        "pm_card_visa",
    )
    .await;
    let path = pi_path(&id, "increment-authorization");
    app.post(&path, json!({}))
        .await
        .assert_error(400, "MISSING_PARAMETER", Some("amount_money"));
    for (body, code, param) in [
        (
            usd(9_000),
            "INVALID_INCREMENT_AMOUNT",
            "amount_money.amount",
        ),
        (usd(0), "INVALID_INCREMENT_AMOUNT", "amount_money.amount"),
        (
            json!({"amount": 12_000, "currency": "EUR"}),
            "INVALID_INCREMENT_AMOUNT",
            "amount_money.currency",
        ),
    ] {
        app.post(&path, json!({"amount_money": body}))
            .await
            .assert_error(400, code, Some(param));
    }
    app.post(&path, json!({"amount_money": usd(12_000), "extra": 1}))
        .await
        .assert_error(400, "UNKNOWN_PARAMETER", Some("extra"));
    assert_money(&app.intent(&id).await, 10_000, 10_000, 0, 0);
    // Past the deadline the hold lapsed.
    let lapsing = held_with(
        app,
        10_000,
        json!({"incremental_authorization": true}),
        "pm_card_visa",
    )
    .await;
    // The decline card: 402, the hold unchanged, the attempt recorded.
    let declining = held_with(
        app,
        10_000,
        json!({"incremental_authorization": true}),
        "pm_card_incrementDeclined",
    )
    .await;
    let before = app.intent(&declining).await;
    let res = app
        .post(
            &pi_path(&declining, "increment-authorization"),
            json!({"amount_money": usd(15_000)}),
        )
        .await;
    res.assert_error(402, "CARD_DECLINED", None);
    assert_eq!(res.json["error"]["decline_code"], "generic_decline");
    assert_eq!(res.json["error"]["payment_intent_id"], declining.as_str());
    let after = app.intent(&declining).await;
    assert_money(&after, 10_000, 10_000, 0, 0);
    for field in [
        "status",
        "amount_money",
        "authorization_expires_at",
        "last_payment_error",
    ] {
        assert_eq!(after[field], before[field], "{field}");
    }
    let last = app.actions_of(&declining).await.pop().unwrap();
    assert_eq!(
        (&last["type"], &last["status"], &last["amount_money"]),
        (&json!("increment"), &json!("failed"), &usd(5_000))
    );
    // The hold is still there to capture.
    let res = app.post(&pi_path(&declining, "capture"), json!({})).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_money(res.intent(), 10_000, 0, 10_000, 0);

    app.clock.set(Timestamp(T0 + HOLD_SECONDS + 1));
    app.post(
        &pi_path(&lapsing, "increment-authorization"),
        json!({"amount_money": usd(12_000)}),
    )
    .await
    .assert_error(400, "PAYMENT_AUTHORIZATION_EXPIRED", None);
}
