//! Idempotency keys: validation, scope (merchant + mode + key), byte-for-byte replay of 2xx and 4xx
//! answers whatever happened since, 422 for a different request, and 5xx answers never stored.

use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Res, TestApp, assert_money, usd};

both_backends!(
    replay_is_byte_for_byte_with_the_replayed_header,
    whitespace_and_key_order_are_the_same_request,
    a_different_request_with_the_same_key_is_422,
    a_capture_retried_after_success_replays_the_success,
    a_replay_ignores_what_happened_since,
    four_xx_answers_are_stored_and_replayed,
    a_decline_is_stored_and_replayed,
    five_xx_answers_are_not_stored,
    invalid_idempotency_keys_are_400,
    keys_are_scoped_to_merchant_and_mode,
    every_post_route_honours_the_key,
);

fn pi_path(id: &str, action: &str) -> String {
    format!("/v1/payment-intents/{id}/{action}")
}

async fn post_idem(app: &TestApp, path: &str, key: &str, body: &Value) -> Res {
    app.request(Method::POST, path)
        .idem(key)
        .json(body)
        .send()
        .await
}

#[track_caller]
fn assert_replay_of(replay: &Res, original: &Res) {
    assert_eq!(replay.status, original.status, "{}", replay.text);
    assert_eq!(replay.text, original.text, "byte for byte");
    assert_eq!(
        replay.header("idempotent-replayed"),
        Some("true"),
        "{}",
        replay.text
    );
    assert_eq!(
        replay.header("content-type"),
        original.header("content-type")
    );
}

#[track_caller]
fn assert_fresh(res: &Res) {
    assert_eq!(
        res.header("idempotent-replayed"),
        None,
        "a first answer is not a replay: {}",
        res.text
    );
}

async fn intent_count(app: &TestApp) -> usize {
    app.get("/v1/payment-intents?limit=100").await.json["data"]
        .as_array()
        .unwrap()
        .len()
}

async fn replay_is_byte_for_byte_with_the_replayed_header(app: &TestApp) {
    let body = json!({"amount_money": usd(12900), "capture_method": "manual"});
    let first = post_idem(app, "/v1/payment-intents", "hold-camera-rental-001", &body).await;
    assert_eq!(first.status, 201, "{}", first.text);
    assert_fresh(&first);
    app.clock.advance(30);
    let second = post_idem(app, "/v1/payment-intents", "hold-camera-rental-001", &body).await;
    assert_replay_of(&second, &first);
    // The replay is its own request, with its own id.
    assert_ne!(second.header("x-request-id"), first.header("x-request-id"));
    // One intent, one event.
    assert_eq!(intent_count(app).await, 1);
    let id = first.json["data"]["payment_intent"]["payment_intent_id"]
        .as_str()
        .unwrap();
    assert_eq!(app.event_types_of(id).await, vec!["payment_intent.created"]);
    // The replayed client secret still works, as it is the same one.
    let secret = second.json["data"]["client_confirmation"]["client_secret"]
        .as_str()
        .unwrap();
    let res = app
        .request(Method::GET, &format!("/v1/payment-intents/{id}"))
        .key(secret)
        .send()
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    // A request without a key is never a replay.
    let a = app.post("/v1/payment-intents", body.clone()).await;
    let b = app.post("/v1/payment-intents", body).await;
    assert_fresh(&a);
    assert_fresh(&b);
    assert_ne!(a.text, b.text);
    assert_eq!(intent_count(app).await, 3);
}

async fn whitespace_and_key_order_are_the_same_request(app: &TestApp) {
    let compact = r#"{"amount_money":{"amount":500,"currency":"USD"},"capture_method":"manual","metadata":{"a":"1","b":"2"}}"#;
    let spaced = "{\n  \"metadata\" : {\"b\": \"2\", \"a\": \"1\"},\n\t\"capture_method\": \"manual\",\n  \"amount_money\": {\"currency\": \"USD\", \"amount\": 500}\n}\n";
    let first = app
        .request(Method::POST, "/v1/payment-intents")
        .idem("canonical-1")
        .raw(Some("application/json"), compact)
        .send()
        .await;
    assert_eq!(first.status, 201, "{}", first.text);
    let second = app
        .request(Method::POST, "/v1/payment-intents")
        .idem("canonical-1")
        .raw(Some("application/json; charset=utf-8"), spaced)
        .send()
        .await;
    assert_replay_of(&second, &first);
    assert_eq!(intent_count(app).await, 1);

    // An empty capture body and `{}` are the same request too.
    let id = app.hold(1000).await;
    let first = app
        .request(Method::POST, &pi_path(&id, "capture"))
        .idem("capture-empty")
        .send()
        .await;
    assert_eq!(first.status, 200, "{}", first.text);
    let second = post_idem(app, &pi_path(&id, "capture"), "capture-empty", &json!({})).await;
    assert_replay_of(&second, &first);
}

async fn a_different_request_with_the_same_key_is_422(app: &TestApp) {
    let body = json!({"amount_money": usd(500), "capture_method": "manual"});
    let first = post_idem(app, "/v1/payment-intents", "key-1", &body).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let id = first.json["data"]["payment_intent"]["payment_intent_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A different body.
    for other in [
        json!({"amount_money": usd(501), "capture_method": "manual"}),
        json!({"amount_money": usd(500)}),
        json!({"amount_money": usd(500), "capture_method": "manual", "description": "x"}),
    ] {
        let res = post_idem(app, "/v1/payment-intents", "key-1", &other).await;
        res.assert_error(422, "IDEMPOTENCY_KEY_REUSED", None);
        assert_fresh(&res);
    }
    // A different route.
    assert_eq!(
        app.post(
            &pi_path(&id, "confirm"),
            json!({"payment_source_token": "pm_card_visa"})
        )
        .await
        .status,
        200
    );
    let res = post_idem(app, &pi_path(&id, "capture"), "key-1", &json!({})).await;
    res.assert_error(422, "IDEMPOTENCY_KEY_REUSED", None);
    let res = post_idem(app, &pi_path(&id, "cancel"), "key-1", &json!({})).await;
    res.assert_error(422, "IDEMPOTENCY_KEY_REUSED", None);
    // None of them did anything.
    assert_eq!(intent_count(app).await, 1);
    let pi = app.intent(&id).await;
    assert_eq!(pi["status"], "requires_capture");
    assert_money(&pi, 500, 500, 0, 0);
    // The 422s did not replace the stored answer.
    let again = post_idem(app, "/v1/payment-intents", "key-1", &body).await;
    assert_replay_of(&again, &first);
    // Keys are case-sensitive: KEY-1 is another key.
    let res = post_idem(app, "/v1/payment-intents", "KEY-1", &body).await;
    assert_eq!(res.status, 201, "{}", res.text);
    assert_fresh(&res);
}

async fn a_capture_retried_after_success_replays_the_success(app: &TestApp) {
    let id = app.hold(12900).await;
    let body = json!({"amount_money": usd(9800)});
    let first = post_idem(
        app,
        &pi_path(&id, "capture"),
        "capture-camera-rental-001",
        &body,
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_fresh(&first);
    assert_money(first.intent(), 12900, 0, 9800, 3100);
    app.clock.advance(3600);
    for _ in 0..3 {
        let retry = post_idem(
            app,
            &pi_path(&id, "capture"),
            "capture-camera-rental-001",
            &body,
        )
        .await;
        assert_replay_of(&retry, &first);
    }
    // Without the key, the same capture is the second bite it is.
    let res = post_idem(app, &pi_path(&id, "capture"), "capture-other-key", &body).await;
    res.assert_error(400, "INVALID_STATUS_FOR_CAPTURE", None);
    let res = app.post(&pi_path(&id, "capture"), body.clone()).await;
    res.assert_error(400, "INVALID_STATUS_FOR_CAPTURE", None);
    // One capture, one succeeded event.
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
    // The replay still answers after the original request's key was reused and refused.
    let retry = post_idem(
        app,
        &pi_path(&id, "capture"),
        "capture-camera-rental-001",
        &body,
    )
    .await;
    assert_replay_of(&retry, &first);
}

async fn a_replay_ignores_what_happened_since(app: &TestApp) {
    let id = app.create_manual(12900).await;
    let confirm_body = json!({"payment_source_token": "pm_card_visa"});
    let confirmed = post_idem(app, &pi_path(&id, "confirm"), "confirm-1", &confirm_body).await;
    assert_eq!(confirmed.status, 200, "{}", confirmed.text);
    let canceled = post_idem(
        app,
        &pi_path(&id, "cancel"),
        "void-1",
        &json!({"cancellation_reason": "requested_by_customer"}),
    )
    .await;
    assert_eq!(canceled.status, 200, "{}", canceled.text);
    // The confirm replays requires_capture, though the intent is canceled now.
    let retry = post_idem(app, &pi_path(&id, "confirm"), "confirm-1", &confirm_body).await;
    assert_replay_of(&retry, &confirmed);
    assert_eq!(retry.intent()["status"], "requires_capture");
    assert_eq!(app.intent(&id).await["status"], "canceled");
    // The cancel replays its success instead of PAYMENT_ALREADY_CANCELED.
    let retry = post_idem(
        app,
        &pi_path(&id, "cancel"),
        "void-1",
        &json!({"cancellation_reason": "requested_by_customer"}),
    )
    .await;
    assert_replay_of(&retry, &canceled);
    // Even past the hold's deadline.
    app.clock.advance(30 * 86_400);
    let retry = post_idem(app, &pi_path(&id, "confirm"), "confirm-1", &confirm_body).await;
    assert_replay_of(&retry, &confirmed);
    assert_eq!(
        app.event_types_of(&id).await,
        vec![
            "payment_intent.created",
            "payment_intent.requires_capture",
            "payment_intent.canceled"
        ]
    );
}

async fn four_xx_answers_are_stored_and_replayed(app: &TestApp) {
    // A capture refused because the intent was not yet confirmed...
    let id = app.create_manual(12900).await;
    let refused = post_idem(app, &pi_path(&id, "capture"), "early-capture", &json!({})).await;
    refused.assert_error(400, "INVALID_STATUS_FOR_CAPTURE", None);
    assert_fresh(&refused);
    // ...stays refused under its key once the hold is placed.
    let res = app
        .post(
            &pi_path(&id, "confirm"),
            json!({"payment_source_token": "pm_card_visa"}),
        )
        .await;
    assert_eq!(res.status, 200);
    let retry = post_idem(app, &pi_path(&id, "capture"), "early-capture", &json!({})).await;
    assert_replay_of(&retry, &refused);
    let pi = app.intent(&id).await;
    assert_eq!(pi["status"], "requires_capture");
    assert_money(&pi, 12900, 12900, 0, 0);

    // Amount checks are stored too.
    let too_much = json!({"amount_money": usd(13000)});
    let refused = post_idem(app, &pi_path(&id, "capture"), "too-much", &too_much).await;
    refused.assert_error(
        400,
        "CAPTURE_AMOUNT_EXCEEDS_AUTHORIZED",
        Some("amount_money.amount"),
    );
    let retry = post_idem(app, &pi_path(&id, "capture"), "too-much", &too_much).await;
    assert_replay_of(&retry, &refused);

    // And a bad cancellation reason, and a creation refused by the rules.
    let bad_reason = json!({"cancellation_reason": "bored"});
    let refused = post_idem(app, &pi_path(&id, "cancel"), "bad-reason", &bad_reason).await;
    refused.assert_error(
        400,
        "INVALID_CANCELLATION_REASON",
        Some("cancellation_reason"),
    );
    let retry = post_idem(app, &pi_path(&id, "cancel"), "bad-reason", &bad_reason).await;
    assert_replay_of(&retry, &refused);
    let manual_auto =
        json!({"amount_money": usd(100), "capture_method": "manual", "auto_confirm": true});
    let refused = post_idem(app, "/v1/payment-intents", "manual-auto", &manual_auto).await;
    refused.assert_error(
        400,
        "MANUAL_CAPTURE_NOT_ALLOWED_WITH_AUTO_CONFIRM",
        Some("auto_confirm"),
    );
    let retry = post_idem(app, "/v1/payment-intents", "manual-auto", &manual_auto).await;
    assert_replay_of(&retry, &refused);

    // A 404 as well.
    let missing = pi_path("pi_000000000000000000000000", "capture");
    let refused = post_idem(app, &missing, "missing", &json!({})).await;
    refused.assert_error(404, "PAYMENT_INTENT_NOT_FOUND", None);
    let retry = post_idem(app, &missing, "missing", &json!({})).await;
    assert_replay_of(&retry, &refused);

    // The intent is untouched by all of it and captures under a new key.
    let res = post_idem(app, &pi_path(&id, "capture"), "capture-ok", &json!({})).await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_money(res.intent(), 12900, 0, 12900, 0);
}

async fn a_decline_is_stored_and_replayed(app: &TestApp) {
    let id = app.create_manual(12900).await;
    let body = json!({"payment_source_token": "pm_card_chargeDeclined"});
    let declined = post_idem(app, &pi_path(&id, "confirm"), "confirm-declined", &body).await;
    declined.assert_error(402, "CARD_DECLINED", None);
    assert_eq!(declined.json["error"]["decline_code"], "generic_decline");
    let retry = post_idem(app, &pi_path(&id, "confirm"), "confirm-declined", &body).await;
    assert_replay_of(&retry, &declined);
    // The decline happened once.
    assert_eq!(
        app.event_types_of(&id).await,
        vec!["payment_intent.created", "payment_intent.payment_failed"]
    );
    assert_eq!(app.actions_of(&id).await.len(), 1);
    // Another card, another key: the hold is placed; the old key still replays the decline.
    let res = post_idem(
        app,
        &pi_path(&id, "confirm"),
        "confirm-visa",
        &json!({"payment_source_token": "pm_card_visa"}),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text);
    let retry = post_idem(app, &pi_path(&id, "confirm"), "confirm-declined", &body).await;
    assert_replay_of(&retry, &declined);
    assert_eq!(app.intent(&id).await["status"], "requires_capture");
}

async fn five_xx_answers_are_not_stored(app: &TestApp) {
    let id = app.hold_with(12900, "pm_card_captureTimeoutOnce").await;
    let before = app.intent(&id).await;
    assert_eq!(before["payment_method_brand"], "visa");
    assert_money(&before, 12900, 12900, 0, 0);
    app.clock.advance(20);

    let failed = post_idem(app, &pi_path(&id, "capture"), "capture-timeout", &json!({})).await;
    failed.assert_error(502, "PROCESSOR_UNAVAILABLE", None);
    assert_fresh(&failed);
    // Exactly as it was: same status, same money, no capture, no event.
    assert_eq!(app.intent(&id).await, before);
    assert_eq!(app.actions_of(&id).await.len(), 1);
    assert_eq!(
        app.event_types_of(&id).await,
        vec!["payment_intent.created", "payment_intent.requires_capture"]
    );

    // The retry with the same key runs again (the 502 was not stored) and succeeds.
    let retried = post_idem(app, &pi_path(&id, "capture"), "capture-timeout", &json!({})).await;
    assert_eq!(retried.status, 200, "{}", retried.text);
    assert_fresh(&retried);
    let pi = retried.intent();
    assert_eq!(pi["status"], "succeeded");
    assert_eq!(pi["captured_at"], "2026-07-03T02:57:40Z");
    assert_money(pi, 12900, 0, 12900, 0);
    let actions = app.actions_of(&id).await;
    assert_eq!(actions.len(), 2);
    assert_eq!(actions[1]["type"], "capture");
    assert_eq!(
        actions[1]["request_id"],
        retried.header("x-request-id").unwrap()
    );
    // Now the success is stored and replayed.
    let third = post_idem(app, &pi_path(&id, "capture"), "capture-timeout", &json!({})).await;
    assert_replay_of(&third, &retried);
    assert_eq!(
        app.event_types_of(&id).await,
        vec![
            "payment_intent.created",
            "payment_intent.requires_capture",
            "payment_intent.succeeded"
        ]
    );

    // A partial capture after a timeout: the retry takes the same amount, once.
    let other = app.hold_with(5000, "pm_card_captureTimeoutOnce").await;
    let body = json!({"amount_money": usd(4000), "reference": "late-return"});
    let failed = post_idem(app, &pi_path(&other, "capture"), "partial-timeout", &body).await;
    failed.assert_error(502, "PROCESSOR_UNAVAILABLE", None);
    let pi = app.intent(&other).await;
    assert_eq!(pi["status"], "requires_capture");
    assert_money(&pi, 5000, 5000, 0, 0);
    let retried = post_idem(app, &pi_path(&other, "capture"), "partial-timeout", &body).await;
    assert_eq!(retried.status, 200, "{}", retried.text);
    assert_money(retried.intent(), 5000, 0, 4000, 1000);
}

async fn invalid_idempotency_keys_are_400(app: &TestApp) {
    let body = json!({"amount_money": usd(100), "capture_method": "manual"});
    let too_long = "k".repeat(256);
    for key in ["", too_long.as_str(), "tab\there"] {
        let res = app
            .request(Method::POST, "/v1/payment-intents")
            .header_bytes("Idempotency-Key", key.as_bytes())
            .json(&body)
            .send()
            .await;
        res.assert_error(400, "INVALID_IDEMPOTENCY_KEY", Some("Idempotency-Key"));
    }
    for key in ["ключ-1".as_bytes(), &b"caf\xe9"[..]] {
        let res = app
            .request(Method::POST, "/v1/payment-intents")
            .header_bytes("Idempotency-Key", key)
            .json(&body)
            .send()
            .await;
        res.assert_error(400, "INVALID_IDEMPOTENCY_KEY", Some("Idempotency-Key"));
    }
    assert_eq!(
        intent_count(app).await,
        0,
        "refused requests created nothing"
    );

    // The limits themselves: 1 and 255 characters, any printable ASCII including spaces.
    let longest = "k".repeat(255);
    for key in [
        "1",
        longest.as_str(),
        "order 42 / capture #1 ~!@$%^&*()_+{}|:\"<>?`-=[]\\;',.",
    ] {
        let res = post_idem(app, "/v1/payment-intents", key, &body).await;
        assert_eq!(res.status, 201, "{key}: {}", res.text);
        let again = post_idem(app, "/v1/payment-intents", key, &body).await;
        assert_replay_of(&again, &res);
    }
    assert_eq!(intent_count(app).await, 3);

    // Every POST route checks it, before doing anything.
    let id = app.hold(1000).await;
    for (path, body) in [
        (
            pi_path(&id, "confirm"),
            json!({"payment_source_token": "pm_card_visa"}),
        ),
        (pi_path(&id, "capture"), json!({})),
        (pi_path(&id, "cancel"), json!({})),
        ("/v1/customers".to_owned(), json!({})),
    ] {
        let res = app
            .request(Method::POST, &path)
            .header_bytes("Idempotency-Key", too_long.as_bytes())
            .json(&body)
            .send()
            .await;
        res.assert_error(400, "INVALID_IDEMPOTENCY_KEY", Some("Idempotency-Key"));
    }
    assert_eq!(app.intent(&id).await["status"], "requires_capture");
}

async fn keys_are_scoped_to_merchant_and_mode(app: &TestApp) {
    let other = app.app.create_merchant("Other Shop").await.unwrap();
    let key = "shared-key-001";
    let ours = post_idem(
        app,
        "/v1/payment-intents",
        key,
        &json!({"amount_money": usd(1000), "capture_method": "manual"}),
    )
    .await;
    assert_eq!(ours.status, 201, "{}", ours.text);
    // Another merchant, a different request, the same key: independent.
    let body = json!({"amount_money": usd(2000)});
    let theirs = app
        .request(Method::POST, "/v1/payment-intents")
        .key(&other.test_key)
        .idem(key)
        .json(&body)
        .send()
        .await;
    assert_eq!(theirs.status, 201, "{}", theirs.text);
    assert_fresh(&theirs);
    assert_eq!(
        theirs.json["data"]["payment_intent"]["amount_money"],
        usd(2000)
    );
    // Our own live mode: independent too, even with exactly our test-mode request.
    let live = app
        .request(Method::POST, "/v1/payment-intents")
        .key(&app.live_key)
        .idem(key)
        .json(&json!({"amount_money": usd(1000), "capture_method": "manual"}))
        .send()
        .await;
    assert_eq!(live.status, 201, "{}", live.text);
    assert_fresh(&live);
    assert_eq!(live.json["data"]["payment_intent"]["livemode"], true);
    assert_ne!(
        live.json["data"]["payment_intent"]["payment_intent_id"],
        ours.json["data"]["payment_intent"]["payment_intent_id"]
    );
    // Each scope replays its own answer.
    let again = post_idem(
        app,
        "/v1/payment-intents",
        key,
        &json!({"amount_money": usd(1000), "capture_method": "manual"}),
    )
    .await;
    assert_replay_of(&again, &ours);
    let again = app
        .request(Method::POST, "/v1/payment-intents")
        .key(&other.test_key)
        .idem(key)
        .json(&body)
        .send()
        .await;
    assert_replay_of(&again, &theirs);
    let again = app
        .request(Method::POST, "/v1/payment-intents")
        .key(&app.live_key)
        .idem(key)
        .json(&json!({"amount_money": usd(1000), "capture_method": "manual"}))
        .send()
        .await;
    assert_replay_of(&again, &live);
    // The other merchant's request under our scope is a different request.
    let res = post_idem(app, "/v1/payment-intents", key, &body).await;
    res.assert_error(422, "IDEMPOTENCY_KEY_REUSED", None);
    assert_eq!(intent_count(app).await, 1);
}

async fn every_post_route_honours_the_key(app: &TestApp) {
    // Customers and saved cards.
    let body = json!({"email": "ada@example.com"});
    let first = post_idem(app, "/v1/customers", "cus-1", &body).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let again = post_idem(app, "/v1/customers", "cus-1", &body).await;
    assert_replay_of(&again, &first);
    let customer = first.json["data"]["customer_id"].as_str().unwrap();
    let path = format!("/v1/customers/{customer}/payment-methods");
    let body = json!({"payment_source_token": "pm_card_visa"});
    let first = post_idem(app, &path, "pm-1", &body).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let again = post_idem(app, &path, "pm-1", &body).await;
    assert_replay_of(&again, &first);

    // The 3D Secure test helper.
    let id = app.create_manual(700).await;
    let res = app
        .post(
            &pi_path(&id, "confirm"),
            json!({"payment_source_token": "pm_card_threeDSecure2Required"}),
        )
        .await;
    assert_eq!(res.intent()["status"], "requires_action");
    let path = format!("/v1/test-helpers/payment-intents/{id}/authenticate");
    let body = json!({"result": "success"});
    let first = post_idem(app, &path, "3ds-1", &body).await;
    assert_eq!(first.status, 200, "{}", first.text);
    let again = post_idem(app, &path, "3ds-1", &body).await;
    assert_replay_of(&again, &first);
    assert_eq!(
        app.event_types_of(&id).await,
        vec![
            "payment_intent.created",
            "payment_intent.requires_action",
            "payment_intent.requires_capture"
        ]
    );

    // Auto-confirmed creation: one intent, one charge.
    let body = json!({"amount_money": usd(900), "auto_confirm": true, "payment_source_token": "pm_card_visa"});
    let first = post_idem(app, "/v1/payment-intents", "auto-1", &body).await;
    assert_eq!(first.status, 201, "{}", first.text);
    let again = post_idem(app, "/v1/payment-intents", "auto-1", &body).await;
    assert_replay_of(&again, &first);
    let id = first.json["data"]["payment_intent"]["payment_intent_id"]
        .as_str()
        .unwrap();
    assert_eq!(app.actions_of(id).await.len(), 2);
}
